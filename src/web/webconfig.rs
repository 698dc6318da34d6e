//! `--web.config.file`: the Prometheus exporter-toolkit format, so a
//! `web-config.yml` written for node_exporter or blackbox_exporter works
//! unchanged. TLS is served with rustls; basic auth takes bcrypt hashes.
//!
//! The file (and the certificate files it names) are checked for changes on
//! every new connection, as the toolkit does: certificates rotate without a
//! restart, and an invalid new file keeps the previous one (and is logged).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use hyper::header::{HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;

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
pub struct WebConfig {
    /// TLS settings, when `tls_server_config` is set.
    pub tls: Option<Arc<ServerConfig>>,
    /// Serve HTTP/2 too (default true).
    pub http2: bool,
    /// Extra response headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User name → bcrypt hash; empty means no authentication.
    pub users: BTreeMap<String, String>,
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

/// Files whose change triggers a reload, with their modification times.
type Stamps = Vec<(PathBuf, Option<SystemTime>)>;

fn stamps(paths: &[PathBuf]) -> Stamps {
    paths
        .iter()
        .map(|p| {
            (
                p.clone(),
                std::fs::metadata(p).and_then(|m| m.modified()).ok(),
            )
        })
        .collect()
}

/// Loads and validates the file at `path`; returns the config and the files it depends on.
pub fn load(path: &Path) -> Result<(WebConfig, Vec<PathBuf>), WebConfigError> {
    let err = |message: String| WebConfigError {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
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
    let mut deps = vec![path.to_path_buf()];
    let tls = match raw.tls_server_config {
        Some(t) => {
            let cert = resolve(&t.cert_file);
            let key = resolve(&t.key_file);
            let ca = t.client_ca_file.as_deref().map(resolve);
            deps.extend([cert.clone(), key.clone()]);
            deps.extend(ca.clone());
            Some(Arc::new(
                server_config(&t, &cert, &key, ca.as_deref()).map_err(err)?,
            ))
        }
        None => None,
    };
    let mut headers = Vec::new();
    let mut http2 = true;
    if let Some(h) = raw.http_server_config {
        http2 = h.http2.unwrap_or(true);
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
    Ok((
        WebConfig {
            tls,
            http2,
            headers,
            users: raw.basic_auth_users,
        },
        deps,
    ))
}

fn server_config(
    t: &RawTls,
    cert: &Path,
    key: &Path,
    ca: Option<&Path>,
) -> Result<ServerConfig, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("tls_server_config.cert_file {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config.cert_file {}: no certificate",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("tls_server_config.key_file {}: {e}", key.display()))?;

    let mut provider = rustls::crypto::ring::default_provider();
    if !t.cipher_suites.is_empty() {
        // Like Go, the list configures TLS 1.2 suites; TLS 1.3 suites stay on.
        for name in &t.cipher_suites {
            if !provider
                .cipher_suites
                .iter()
                .any(|s| format!("{:?}", s.suite()) == *name)
            {
                return Err(format!(
                    "tls_server_config.cipher_suites: {name:?} is not supported"
                ));
            }
        }
        provider.cipher_suites.retain(|s| {
            s.version() == &rustls::version::TLS13
                || t.cipher_suites
                    .iter()
                    .any(|n| *n == format!("{:?}", s.suite()))
        });
    }
    if !t.curve_preferences.is_empty() {
        let want: Vec<&str> = t
            .curve_preferences
            .iter()
            .map(|c| match c.as_str() {
                "X25519" => Ok("X25519"),
                "CurveP256" => Ok("secp256r1"),
                "CurveP384" => Ok("secp384r1"),
                other => Err(format!(
                    "tls_server_config.curve_preferences: {other:?} is not supported"
                )),
            })
            .collect::<Result<_, _>>()?;
        provider.kx_groups.retain(|g| {
            want.iter()
                .any(|w| format!("{:?}", g.name()).eq_ignore_ascii_case(w))
        });
    }
    let version = |v: &Option<String>, default: u8| match v.as_deref() {
        None => Ok(default),
        Some("TLS12") => Ok(12),
        Some("TLS13") => Ok(13),
        Some(other) => Err(format!(
            "TLS version {other:?} is not supported (TLS12 or TLS13)"
        )),
    };
    let (min, max) = (version(&t.min_version, 12)?, version(&t.max_version, 13)?);
    if min > max {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, p)| p)
            .collect();
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let roots = |ca: Option<&Path>| -> Result<Arc<RootCertStore>, String> {
        let ca = ca.ok_or("tls_server_config: client_auth_type needs client_ca_file")?;
        crate::probe::tls::load_ca(ca)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    };
    let verifier = match t.client_auth_type.as_deref().unwrap_or("NoClientCert") {
        "NoClientCert" => None,
        "RequireAndVerifyClientCert" => Some(
            WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider)
                .build()
                .map_err(|e| e.to_string())?,
        ),
        "VerifyClientCertIfGiven" | "RequestClientCert" => Some(
            WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| e.to_string())?,
        ),
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type {other:?} is not supported (NoClientCert, RequestClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
            ))
        }
    };
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    Ok(config)
}

/// The current web configuration, reloaded when its files change.
#[derive(Debug)]
pub struct WebConfigSource {
    path: Option<PathBuf>,
    current: RwLock<Arc<WebConfig>>,
    stamps: Mutex<Stamps>,
}

impl WebConfigSource {
    /// No `--web.config.file`: plain HTTP, no authentication.
    pub fn none() -> Self {
        WebConfigSource {
            path: None,
            current: RwLock::new(Arc::new(WebConfig {
                http2: true,
                ..WebConfig::default()
            })),
            stamps: Mutex::new(Vec::new()),
        }
    }

    /// Loads `path`; an invalid file at start-up is an error.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let (config, deps) = load(path)?;
        Ok(WebConfigSource {
            path: Some(path.to_path_buf()),
            current: RwLock::new(Arc::new(config)),
            stamps: Mutex::new(stamps(&deps)),
        })
    }

    /// The configuration for a new connection, reloaded first when any of
    /// its files changed; an invalid new version keeps the old one.
    pub fn current(&self) -> Arc<WebConfig> {
        if let Some(path) = &self.path {
            let mut st = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
            let paths: Vec<PathBuf> = st.iter().map(|(p, _)| p.clone()).collect();
            let now = stamps(&paths);
            if now != *st {
                match load(path) {
                    Ok((config, deps)) => {
                        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
                        *st = stamps(&deps);
                        tracing::info!(path = %path.display(), "web configuration reloaded");
                    }
                    Err(e) => {
                        // Keep serving with the old one; log once per change.
                        *st = now;
                        tracing::error!(error = %e, "invalid web configuration; keeping the previous one");
                    }
                }
            }
        }
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod prop_tests {
    use super::load;
    use proptest::prelude::*;

    const TOKENS: &[&str] = &[
        "tls_server_config:",
        "basic_auth_users:",
        "http_server_config:",
        "headers:",
        "\n",
        "  ",
        "cert_file: ",
        "key_file: ",
        "client_ca_file: ",
        "client_auth_type: ",
        "RequireAndVerifyClientCert",
        "min_version: ",
        "TLS13",
        "cipher_suites: ",
        "http2: ",
        "false",
        "u: ",
        "$2y$10$abc",
        "[",
        "]",
        "{",
        "}",
        ":",
        "- ",
        "&a ",
        "*a",
        "\"",
        "é",
        "#",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_web_config_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..48),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("web.yml");
            for text in [bytes, tokens.concat().into_bytes()] {
                std::fs::write(&path, &text).unwrap();
                let _ = load(&path);
            }
        }
    }
}
