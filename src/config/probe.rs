//! What a probe does, as validated data: the prober builds its clients
//! and allowlists from these.

use std::sync::Arc;

use hyper::Uri;

use super::Secret;
use crate::hash::Fingerprint;
use crate::net::policy::AllowedTargets;

/// The kind of probe and its settings.
#[derive(Debug, Clone)]
pub enum ProbeSpec {
    /// An HTTP(S) request.
    Http(Box<HttpSpec>),
    /// A TCP connect, optionally with a TLS handshake.
    Tcp(TcpSpec),
}

impl ProbeSpec {
    /// `http` or `tcp`, as shown on the status page.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ProbeSpec::Http(_) => "http",
            ProbeSpec::Tcp(_) => "tcp",
        }
    }

    /// The URL or address probed, for humans (never carries credentials).
    pub(crate) fn target(&self) -> String {
        match self {
            ProbeSpec::Http(h) => h.url.to_string(),
            ProbeSpec::Tcp(t) => format!("{}:{}", t.host, t.port),
        }
    }

    /// Identifies every validated setting, including the secrets and the
    /// bytes of every file they were read from: a reload restarts what runs
    /// with this spec exactly when it would probe differently.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut fp = Fingerprint::default();
        match self {
            ProbeSpec::Http(h) => {
                fp.add("http").add(h.url.to_string()).add(h.method.as_str());
                fp.add(h.headers.len().to_le_bytes());
                for (name, value) in &h.headers {
                    fp.add(name.as_str()).add(value.expose());
                }
                fp.option(h.body.as_deref());
                fp.add(h.valid_status_codes.len().to_le_bytes());
                for c in &h.valid_status_codes {
                    fp.add(c.to_le_bytes());
                }
                for list in [&h.fail_if_body_matches, &h.fail_if_body_not_matches] {
                    fp.add(list.len().to_le_bytes());
                    for r in list {
                        fp.add(r.as_str());
                    }
                }
                fp.add([u8::from(h.follow_redirects)])
                    .add(h.tls.fingerprint.to_le_bytes());
                fp.option(h.server_name.as_deref());
                fp.option(h.authorization.as_ref().map(Secret::expose));
                fp.add(h.max_body_bytes.to_le_bytes());
                allowed_fingerprint(&mut fp, h.policy.as_deref());
            }
            ProbeSpec::Tcp(t) => {
                fp.add("tcp").add(&t.host).add(t.port.to_le_bytes());
                fp.option(t.tls.as_ref().map(|t| t.fingerprint.to_le_bytes()));
                fp.option(t.server_name.as_deref());
                allowed_fingerprint(&mut fp, t.policy.as_deref());
            }
        }
        fp.finish()
    }
}

fn allowed_fingerprint(fp: &mut Fingerprint, allowed: Option<&AllowedTargets>) {
    let Some(a) = allowed else {
        fp.add([0]);
        return;
    };
    fp.add([1, u8::from(a.allow_link_local)])
        .add(a.entries.len().to_le_bytes());
    for e in &a.entries {
        fp.add(e);
    }
}

/// Validated HTTP probe settings.
#[derive(Debug, Clone)]
pub struct HttpSpec {
    /// Absolute `http` or `https` URI.
    pub(crate) url: Uri,
    /// Request method.
    pub(crate) method: hyper::Method,
    /// Extra request headers; values may come from `${ENV}` and are secret.
    pub(crate) headers: Vec<(hyper::header::HeaderName, Secret)>,
    /// Request body.
    pub(crate) body: Option<String>,
    /// Accepted status codes; empty means any 2xx.
    pub(crate) valid_status_codes: Vec<u16>,
    /// The probe fails if the body matches any of these.
    pub(crate) fail_if_body_matches: Vec<regex::bytes::Regex>,
    /// The probe fails if the body does not match each of these.
    pub(crate) fail_if_body_not_matches: Vec<regex::bytes::Regex>,
    /// Follow 3xx answers with a `Location` (at most 10 hops).
    pub(crate) follow_redirects: bool,
    /// TLS client settings for https.
    pub(crate) tls: TlsSpec,
    /// Server name for SNI and verification, when not the URL's host.
    pub(crate) server_name: Option<String>,
    /// Value of the `Authorization` header, from basic auth or a bearer token.
    pub(crate) authorization: Option<Secret>,
    /// Bytes of body read at most; more is a `body` failure.
    pub(crate) max_body_bytes: u64,
    /// For `/probe`: which resolved addresses may be contacted (every hop).
    pub(crate) policy: Option<Arc<AllowedTargets>>,
}

/// Validated TCP probe settings.
#[derive(Debug, Clone)]
pub struct TcpSpec {
    /// Host name or IP literal.
    pub(crate) host: String,
    /// Port.
    pub(crate) port: u16,
    /// TLS handshake after connecting, when set.
    pub(crate) tls: Option<TlsSpec>,
    /// Server name for SNI and verification, when not `host`.
    pub(crate) server_name: Option<String>,
    /// For `/probe`: which resolved addresses may be contacted.
    pub(crate) policy: Option<Arc<AllowedTargets>>,
}

/// Validated TLS client settings; the prober builds its client config
/// from them.
#[derive(Debug, Clone)]
pub struct TlsSpec {
    /// Roots from `ca_file`; `None` trusts the Mozilla roots.
    pub(crate) ca: Option<Arc<rustls::RootCertStore>>,
    /// Accept any certificate (still recorded for expiry).
    pub(crate) insecure_skip_verify: bool,
    /// Identifies these settings: the CA file's bytes and `insecure_skip_verify`.
    pub(crate) fingerprint: u64,
}

/// Splits `host:port` or `[v6]:port`.
pub(crate) fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    // No host name or address holds these; `user:pw@host` would be
    // quoted as the host in every error and as the service name.
    if host.is_empty()
        || port == 0
        || host.contains(['@', '/', '?', '#'])
        || host.contains(char::is_whitespace)
    {
        return None;
    }
    Some((host.to_string(), port))
}

/// `s` with the userinfo of its authority (`user:password@`) replaced by
/// `<redacted>@`: URLs and targets are quoted in errors and logs, and a
/// URL refused for carrying credentials must not print them.
pub(crate) fn redact_userinfo(s: &str) -> String {
    let start = s.find("://").map_or(0, |i| i + 3);
    let end = s[start..]
        .find(['/', '?', '#'])
        .map_or(s.len(), |i| start + i);
    match s[start..end].rfind('@') {
        Some(at) => format!("{}<redacted>{}", &s[..start], &s[start + at..]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted() {
        for (s, want) in [
            ("http://u:pw@h:1/p?q@x", "http://<redacted>@h:1/p?q@x"),
            ("ftp://u:p@w@h/", "ftp://<redacted>@h/"),
            ("u:pw@h:80", "<redacted>@h:80"),
            ("http://h/a@b", "http://h/a@b"),
            ("h:80", "h:80"),
            ("", ""),
            ("://@", "://<redacted>@"),
        ] {
            assert_eq!(redact_userinfo(s), want, "{s}");
        }
    }

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("127.0.0.1:80"),
            Some(("127.0.0.1".into(), 80))
        );
        assert_eq!(split_host_port("[::1]:443"), Some(("::1".into(), 443)));
        assert_eq!(split_host_port("nohost"), None);
        assert_eq!(split_host_port(":80"), None);
        for bad in ["u:pw@h:80", "h/x:80", "h x:80", "h?:80", "h#:80", "\th:80"] {
            assert_eq!(split_host_port(bad), None, "{bad}");
        }
    }
}
