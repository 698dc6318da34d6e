//! Validation of the `http:` and `tcp:` probe settings, shared by
//! services and modules (a module takes its URL or address from `target=`).

use std::sync::Arc;

use hyper::Uri;
use serde_saphyr::Spanned;

use super::probe::{redact_userinfo, split_host_port};
use super::raw::{RawHttp, RawTcp, RawTls};
use super::secret::Secret;
use super::validate::Validator;
use super::{HttpSpec, TcpSpec, TlsSpec};
use crate::hash::Fingerprint;
use crate::net::tls;

/// Default cap on the bytes of an HTTP body the prober reads.
const DEFAULT_MAX_BODY_BYTES: u64 = 1 << 20;
/// Largest `max_body_bytes` accepted: a probe with body regexes buffers up to
/// this, so memory is bounded by in-flight probes times this.
const MAX_BODY_BYTES_LIMIT: u64 = 16 << 20;

impl Validator<'_> {
    pub(super) fn url(&mut self, at: &Spanned<String>, field: &str) -> Option<Uri> {
        match at.value.parse::<Uri>() {
            Ok(u)
                if matches!(u.scheme_str(), Some("http") | Some("https")) && u.host().is_some() =>
            {
                if u.authority().is_some_and(|a| a.as_str().contains('@')) {
                    let msg =
                        "credentials in the URL are not allowed; use basic_auth.password_file";
                    self.problem(at, &format!("{field}.url"), msg);
                    None
                } else {
                    Some(u)
                }
            }
            Ok(_) => {
                let msg = format!(
                    "{:?} is not an absolute http:// or https:// URL",
                    redact_userinfo(&at.value)
                );
                self.problem(at, &format!("{field}.url"), msg);
                None
            }
            Err(e) => {
                let msg = format!("invalid URL {:?}: {e}", redact_userinfo(&at.value));
                self.problem(at, &format!("{field}.url"), msg);
                None
            }
        }
    }

    /// The TLS client settings, their fingerprint including the CA bytes.
    pub(super) fn tls(&mut self, raw: Option<&RawTls>, field: &str) -> Option<TlsSpec> {
        let default = RawTls::default();
        let raw = raw.unwrap_or(&default);
        let mut fp = Fingerprint::default();
        fp.add([u8::from(raw.insecure_skip_verify)]);
        let ca = match &raw.ca_file {
            Some(at) => {
                let path = self.resolve_path(&at.value);
                let loaded = crate::fsread::read_bounded(&path, crate::fsread::PEM_MAX_BYTES)
                    .map_err(|e| format!("{}: {e}", path.display()))
                    .and_then(|pem| {
                        fp.add(&pem);
                        tls::parse_ca(&path, &pem).map_err(|e| e.to_string())
                    });
                match loaded {
                    Ok(ca) => Some(Arc::new(ca)),
                    Err(msg) => {
                        self.problem(at, &format!("{field}.ca_file"), msg);
                        return None;
                    }
                }
            }
            None => None,
        };
        Some(TlsSpec {
            ca,
            insecure_skip_verify: raw.insecure_skip_verify,
            fingerprint: fp.finish(),
        })
    }

    pub(super) fn http(&mut self, h: RawHttp, field: &str, module: bool) -> Option<HttpSpec> {
        let url = match (&h.url, module) {
            (Some(at), true) => {
                self.problem(
                    at,
                    &format!("{field}.url"),
                    "a module takes its URL from `target=`; remove `url`",
                );
                None
            }
            // Replaced by the target of each /probe request.
            (None, true) => Some(Uri::from_static("http://target.invalid/")),
            (None, false) => None,
            (Some(at), false) => self.url(at, field),
        };
        let method = match &h.method {
            Some(m) => match hyper::Method::from_bytes(m.value.to_ascii_uppercase().as_bytes()) {
                Ok(m) => Some(m),
                Err(_) => {
                    self.problem(
                        m,
                        &format!("{field}.method"),
                        format!("invalid method {:?}", m.value),
                    );
                    None
                }
            },
            None => Some(hyper::Method::GET),
        };
        let mut headers = Vec::new();
        for (name, value) in &h.headers {
            let f = format!("{field}.headers.{name}");
            let Ok(hn) = hyper::header::HeaderName::from_bytes(name.as_bytes()) else {
                self.problem(value, &f, format!("invalid header name {name:?}"));
                continue;
            };
            if let Some(v) = self.expand_env(value, &f) {
                if hyper::header::HeaderValue::from_str(v.expose()).is_err() {
                    self.problem(value, &f, "header value contains invalid characters");
                } else {
                    headers.push((hn, v));
                }
            }
        }
        let mut valid_status_codes = Vec::new();
        for (i, c) in h.valid_status_codes.iter().enumerate() {
            if !(100..=599).contains(&c.value) {
                let msg = format!("{} is not an HTTP status code (100-599)", c.value);
                self.problem(c, &format!("{field}.valid_status_codes[{i}]"), msg);
            } else {
                valid_status_codes.push(c.value);
            }
        }
        let mut fail_if_body_matches = Vec::new();
        for (i, r) in h.fail_if_body_matches.iter().enumerate() {
            if let Some(r) = self.bytes_regex(r, &format!("{field}.fail_if_body_matches[{i}]")) {
                fail_if_body_matches.push(r);
            }
        }
        let mut fail_if_body_not_matches = Vec::new();
        for (i, r) in h.fail_if_body_not_matches.iter().enumerate() {
            if let Some(r) = self.bytes_regex(r, &format!("{field}.fail_if_body_not_matches[{i}]"))
            {
                fail_if_body_not_matches.push(r);
            }
        }
        let authorization = match (&h.basic_auth, &h.bearer_token_file) {
            (Some(_), Some(at)) => {
                let msg = "set either basic_auth or bearer_token_file, not both";
                self.problem(at, &format!("{field}.bearer_token_file"), msg);
                None
            }
            (Some(ba), None) => {
                let user = self.expand_env(&ba.username, &format!("{field}.basic_auth.username"));
                let pass = self.secret_file(
                    &ba.password_file,
                    &format!("{field}.basic_auth.password_file"),
                );
                match (user, pass) {
                    (Some(u), Some(p)) => Some(Secret(format!(
                        "Basic {}",
                        base64::Engine::encode(
                            &base64::prelude::BASE64_STANDARD,
                            format!("{}:{}", u.expose(), p.expose()).as_bytes(),
                        )
                    ))),
                    _ => None,
                }
            }
            (None, Some(at)) => self
                .secret_file(at, &format!("{field}.bearer_token_file"))
                .map(|t| Secret(format!("Bearer {}", t.expose()))),
            (None, None) => None,
        };
        let max_body_bytes = match &h.max_body_bytes {
            Some(m) if !(1..=MAX_BODY_BYTES_LIMIT).contains(&m.value) => {
                self.problem(
                    m,
                    &format!("{field}.max_body_bytes"),
                    format!("must be between 1 and {MAX_BODY_BYTES_LIMIT} (16 MiB)"),
                );
                DEFAULT_MAX_BODY_BYTES
            }
            Some(m) => m.value,
            None => DEFAULT_MAX_BODY_BYTES,
        };
        let server_name = h.tls.as_ref().and_then(|t| t.server_name.clone());
        let tls = self.tls(h.tls.as_ref(), &format!("{field}.tls"));
        Some(HttpSpec {
            url: url?,
            method: method?,
            headers,
            body: h.body,
            valid_status_codes,
            fail_if_body_matches,
            fail_if_body_not_matches,
            follow_redirects: h.follow_redirects.unwrap_or(true),
            tls: tls?,
            server_name,
            authorization,
            max_body_bytes,
            policy: None,
        })
    }

    pub(super) fn tcp(&mut self, t: RawTcp, field: &str, module: bool) -> Option<TcpSpec> {
        let addr = match (&t.address, module) {
            (Some(at), true) => {
                let msg = "a module takes its address from `target=`; remove `address`";
                self.problem(at, &format!("{field}.address"), msg);
                None
            }
            (None, true) => Some(("target.invalid".to_string(), 1)),
            (None, false) => None,
            (Some(at), false) => match split_host_port(&at.value) {
                Some(hp) => Some(hp),
                None => {
                    let msg = format!("{:?} is not host:port", redact_userinfo(&at.value));
                    self.problem(at, &format!("{field}.address"), msg);
                    None
                }
            },
        };
        let tls = match &t.tls {
            Some(raw) => Some(self.tls(Some(raw), &format!("{field}.tls"))?),
            None => None,
        };
        let (host, port) = addr?;
        Some(TcpSpec {
            host,
            port,
            tls,
            server_name: t.tls.and_then(|t| t.server_name),
            policy: None,
        })
    }
}
