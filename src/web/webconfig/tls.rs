//! The rustls server configuration a `tls_server_config` describes.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::files::Reader;
use super::RawTls;

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

pub(super) fn server_config(
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
