//! TLS client settings shared by the HTTP and TCP probers, and CA bundles
//! (also for the web server's client certificates).

use std::path::Path;
use std::sync::{Arc, LazyLock, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Why a CA file could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CaError {
    /// The file could not be read or holds no PEM certificate.
    #[error("cannot read CA certificates from {path}: {reason}")]
    Read {
        /// The CA file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Parses PEM certificates read from `path` (named in errors) into a root store.
pub(crate) fn parse_ca(path: &Path, pem: &[u8]) -> Result<RootCertStore, CaError> {
    let err = |reason: String| CaError::Read {
        path: path.display().to_string(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate found".into()));
    }
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots.add(c).map_err(|e| err(e.to_string()))?;
    }
    Ok(roots)
}

/// The client config trusting `ca` (or the Mozilla roots when `None`);
/// with `insecure` any certificate is accepted but still recorded. Built
/// once per CA bundle while it lives, and once for all without one: a copy
/// of the root store per service would cost kilobytes each for thousands of
/// services, and a config per probe would lose its TLS session cache.
pub(crate) fn client_config(ca: Option<&Arc<RootCertStore>>, insecure: bool) -> Arc<ClientConfig> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    static INSECURE: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    static WITH_CA: LazyLock<super::BuiltFrom<RootCertStore, Arc<ClientConfig>>> =
        LazyLock::new(super::BuiltFrom::new);
    match (ca, insecure) {
        (None, false) => DEFAULT.get_or_init(|| build(None, false)).clone(),
        (_, true) => INSECURE.get_or_init(|| build(None, true)).clone(),
        (Some(ca), false) => WITH_CA.get(ca, |ca| build(Some(ca.clone()), false)),
    }
}

fn build(ca: Option<RootCertStore>, insecure: bool) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth()
    } else {
        let roots = ca.unwrap_or_else(|| RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The earliest `notAfter` in the chain the server presented, as Unix seconds.
pub(crate) fn earliest_expiry(certs: &[CertificateDer<'_>]) -> Option<i64> {
    certs
        .iter()
        .filter_map(|c| x509_parser::parse_x509_certificate(c.as_ref()).ok())
        .map(|(_, cert)| cert.validity().not_after.timestamp())
        .min()
}

/// A verifier for `insecure_skip_verify`: checks signatures, not the chain.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
