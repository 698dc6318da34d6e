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

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

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

/// How often the files are checked for changes.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What identifies one version of a file: metadata alone misses a swap
/// that keeps size and mtime, so the bytes are hashed too.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime: Option<SystemTime>,
    dev: u64,
    ino: u64,
    sha256: [u8; 32],
}

/// Every file a configuration was built from, with its size cap and the
/// version read (`None`: unreadable).
type Fingerprint = Vec<(PathBuf, u64, Option<Stamp>)>;

/// Reads the files a configuration names, bounded, recording what was read.
#[derive(Default)]
struct Reader {
    seen: Fingerprint,
}

impl Reader {
    fn read(&mut self, path: &Path, max: u64) -> Result<Vec<u8>, crate::fsread::ReadError> {
        let bytes = crate::fsread::read_bounded(path, max);
        let stamp = bytes.as_ref().ok().map(|b| stamp(path, b));
        self.seen.push((path.to_path_buf(), max, stamp));
        bytes
    }
}

fn stamp(path: &Path, bytes: &[u8]) -> Stamp {
    let meta = std::fs::metadata(path).ok();
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    Stamp {
        len: bytes.len() as u64,
        mtime: meta.as_ref().and_then(|m| m.modified().ok()),
        dev: meta.as_ref().map_or(0, |m| m.dev()),
        ino: meta.as_ref().map_or(0, |m| m.ino()),
        sha256,
    }
}

/// Reads the files of `old` again.
fn fingerprint(old: &Fingerprint) -> Fingerprint {
    let mut r = Reader::default();
    for (path, max, _) in old {
        let _ = r.read(path, *max);
    }
    r.seen
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

/// Go's names of the TLS 1.3 suites: accepted in `cipher_suites` as the
/// toolkit does, and, as in Go, always on whatever the list says.
const TLS13_SUITE_NAMES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// The PEM certificates in the file `field` names.
fn read_certs(
    files: &mut Reader,
    field: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let err =
        |e: &dyn std::fmt::Display| format!("tls_server_config.{field} {}: {e}", path.display());
    let pem = files
        .read(path, crate::fsread::PEM_MAX_BYTES)
        .map_err(|e| err(&e))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| err(&e))?;
    if certs.is_empty() {
        return Err(err(&"no PEM certificate"));
    }
    Ok(certs)
}

fn server_config(
    t: &RawTls,
    cert: &Path,
    key_path: &Path,
    ca: Option<&Path>,
    files: &mut Reader,
) -> Result<ServerConfig, String> {
    let certs = read_certs(files, "cert_file", cert)?;
    let key_err = |e: &dyn std::fmt::Display| {
        format!("tls_server_config.key_file {}: {e}", key_path.display())
    };
    let key_pem = files
        .read(key_path, crate::fsread::PEM_MAX_BYTES)
        .map_err(|e| key_err(&e))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| key_err(&e))?;

    let mut provider = rustls::crypto::ring::default_provider();
    if !t.cipher_suites.is_empty() {
        // Like Go, the list configures TLS 1.2 suites; TLS 1.3 suites stay on.
        for name in &t.cipher_suites {
            if !TLS13_SUITE_NAMES.contains(&name.as_str())
                && !provider
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
    if max < 13 {
        // rustls would start and then fail every handshake.
        let algorithm = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| key_err(&e))?
            .algorithm();
        if !provider.cipher_suites.iter().any(|s| {
            s.version() == &rustls::version::TLS12 && s.usable_for_signature_algorithm(algorithm)
        }) {
            return Err(format!(
                "tls_server_config.cipher_suites: no TLS 1.2 suite listed can be used with the {algorithm:?} key in key_file, and max_version: TLS12 rules out TLS 1.3: every handshake would fail"
            ));
        }
    }
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let mut roots = |ca: Option<&Path>| -> Result<Arc<RootCertStore>, String> {
        let ca = ca.ok_or("tls_server_config: client_auth_type needs client_ca_file")?;
        // Read through `files` (change detection hashes what was read),
        // parsed as the probers parse their CA files.
        let pem = files
            .read(ca, crate::fsread::PEM_MAX_BYTES)
            .map_err(|e| format!("tls_server_config.client_ca_file {}: {e}", ca.display()))?;
        crate::net::tls::parse_ca(ca, &pem)
            .map(Arc::new)
            .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))
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
    config.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    Ok(config)
}

/// The current web configuration, reloaded when its files change.
#[derive(Debug)]
pub struct WebConfigSource {
    path: Option<PathBuf>,
    current: RwLock<Arc<WebConfig>>,
    check: Mutex<Check>,
}

/// What the change check remembers between two runs.
#[derive(Debug, Default)]
struct Check {
    /// The files as read for the configuration in use.
    applied: Fingerprint,
    /// A changed version seen on the last check, applied if the next check
    /// sees it again.
    pending: Option<Fingerprint>,
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
            check: Mutex::new(Check::default()),
        }
    }

    /// Loads `path` off the async threads; an invalid file at start-up is an error.
    pub async fn load(path: &Path) -> Result<Self, WebConfigError> {
        let path = path.to_path_buf();
        let p = path.clone();
        let (config, files) = tokio::task::spawn_blocking(move || {
            let mut files = Reader::default();
            load(&p, &mut files).map(|c| (c, files.seen))
        })
        .await
        .map_err(|e| WebConfigError {
            path: path.display().to_string(),
            message: e.to_string(),
        })??;
        Ok(WebConfigSource {
            path: Some(path),
            current: RwLock::new(Arc::new(config)),
            check: Mutex::new(Check {
                applied: files,
                pending: None,
            }),
        })
    }

    /// The configuration in use now.
    pub fn current(&self) -> Arc<WebConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the files again and applies a changed version once it is seen
    /// twice in a row. Blocking: run it on the blocking pool, every
    /// [`CHECK_EVERY`].
    pub fn refresh(&self) {
        let Some(path) = &self.path else { return };
        let mut check = self.check.lock().unwrap_or_else(|e| e.into_inner());
        let now = fingerprint(&check.applied);
        if now == check.applied {
            check.pending = None;
            return;
        }
        if check.pending.as_ref() != Some(&now) {
            check.pending = Some(now);
            return;
        }
        let mut files = Reader::default();
        let loaded = load(path, &mut files);
        // Whatever the outcome, this version is handled: an invalid file is
        // logged once, not every second.
        check.applied = files.seen;
        check.pending = None;
        let old = self.current();
        match loaded {
            Ok(config) if config.tls.is_some() != old.tls.is_some() => {
                tracing::error!(
                    path = %path.display(),
                    tls = old.tls.is_some(),
                    "the new web configuration switches TLS on or off, which needs a restart; keeping the previous one"
                );
            }
            Ok(config) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
                tracing::info!(path = %path.display(), "web configuration reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "invalid web configuration; keeping the previous one");
            }
        }
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
                let _ = load(&path, &mut super::Reader::default());
            }
        }
    }
}
