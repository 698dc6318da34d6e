//! `--web.config.file`: the Prometheus exporter-toolkit format, so a
//! `web-config.yml` written for node_exporter or blackbox_exporter works
//! unchanged. TLS is served with rustls; basic auth takes bcrypt hashes.
//!
//! The file (and the certificate files it names) are checked for changes
//! every second by content, not only mtime: `cp -p`, `rsync -t` and Nix
//! store files keep an old mtime. Certificates rotate without a restart. A
//! reload never silently weakens the listener: a new version is applied
//! only once it has been seen unchanged on two checks (a file caught
//! mid-write is not applied), and an invalid or empty file, or one that
//! would switch TLS on or off, is logged and the previous one keeps serving.

mod files;
mod source;
#[cfg(test)]
mod tests;
mod tls;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use rustls::ServerConfig;
use serde::Deserialize;

use files::Reader;
pub(crate) use source::{WebConfigSource, CHECK_EVERY};
use tls::server_config;

/// Security headers the toolkit allows in `http_server_config.headers`.
const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// A validated web configuration.
#[derive(Debug, Default)]
pub(crate) struct WebConfig {
    /// TLS settings, when `tls_server_config` is set.
    pub(crate) tls: Option<Arc<ServerConfig>>,
    /// Serve HTTP/2 too (default true).
    pub(crate) http2: bool,
    /// Extra response headers.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// User name → bcrypt hash; empty means no authentication.
    pub(crate) users: BTreeMap<String, String>,
}

/// Why a web configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct WebConfigError {
    path: String,
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: String,
    key_file: String,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    #[serde(default)]
    cipher_suites: Vec<String>,
    #[serde(default)]
    curve_preferences: Vec<String>,
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// Loads and validates the file at `path`, recording the files read.
/// Blocking: async callers run it on the blocking pool.
fn load(path: &Path, files: &mut Reader) -> Result<WebConfig, WebConfigError> {
    let err = |message: String| WebConfigError {
        path: path.display().to_string(),
        message,
    };
    let text = files
        .read(path, crate::fsread::DOCUMENT_MAX_BYTES)
        .map_err(|e| err(e.to_string()))?;
    let text = String::from_utf8(text).map_err(|_| err("not valid UTF-8".into()))?;
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        // A truncate-then-write caught in between must not turn TLS and
        // authentication off.
        return Err(err("the file is empty; an empty web configuration is refused (omit --web.config.file for plain HTTP)".into()));
    }
    let raw: RawWebConfig = serde_saphyr::from_str(&text).map_err(|e| {
        let loc = e
            .location()
            .map(|l| format!("{}:{}: ", l.line(), l.column()))
            .unwrap_or_default();
        err(format!(
            "{loc}{}",
            e.to_string().lines().next().unwrap_or("")
        ))
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let mut headers = Vec::new();
    let http2 = raw
        .http_server_config
        .as_ref()
        .and_then(|h| h.http2)
        .unwrap_or(true);
    let tls = match raw.tls_server_config {
        Some(t) => {
            let cert = resolve(&t.cert_file);
            let key = resolve(&t.key_file);
            let ca = t.client_ca_file.as_deref().map(resolve);
            let mut config = server_config(&t, &cert, &key, ca.as_deref(), files).map_err(err)?;
            // Offering h2 to a server that will not speak it breaks every
            // HTTP/2-capable client.
            config.alpn_protocols = if http2 {
                vec![b"h2".to_vec(), b"http/1.1".to_vec()]
            } else {
                vec![b"http/1.1".to_vec()]
            };
            Some(Arc::new(config))
        }
        None => None,
    };
    if let Some(h) = raw.http_server_config {
        for (k, v) in h.headers {
            if !ALLOWED_HEADERS.iter().any(|a| a.eq_ignore_ascii_case(&k)) {
                return Err(err(format!(
                    "http_server_config.headers: {k:?} is not one of {}",
                    ALLOWED_HEADERS.join(", ")
                )));
            }
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| err(e.to_string()))?;
            let value = HeaderValue::from_str(&v)
                .map_err(|_| err(format!("http_server_config.headers.{k}: invalid value")))?;
            headers.push((name, value));
        }
    }
    for (user, hash) in &raw.basic_auth_users {
        if hash.parse::<bcrypt::HashParts>().is_err() {
            // Never echo the hash: it is a secret too.
            return Err(err(format!("basic_auth_users.{user}: not a bcrypt hash")));
        }
    }
    Ok(WebConfig {
        tls,
        http2,
        headers,
        users: raw.basic_auth_users,
    })
}
