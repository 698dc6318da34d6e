//! The probe engine: one prober per kind, all reporting a [`ProbeReport`];
//! [`schedule`] runs each service on its interval and tells a
//! [`ProbeObserver`] what happened; [`discovery`] lists services from file_sd
//! files. The engine knows neither metrics nor the status page.
//!
//! A probe never panics on what a target sends and is always bounded by its
//! timeout: [`run`] wraps the prober in `tokio::time::timeout` and keeps the
//! phases measured before the deadline.

pub(crate) mod discovery;
pub mod http;
mod observe;
pub(crate) mod schedule;
pub mod tcp;

pub use observe::State;
pub(crate) use observe::{Change, Health, ProbeObserver};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::config::{ProbeSpec, TlsSpec};
use crate::net::{policy, tls};

/// Why a probe failed. The set is closed so that label cardinality is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The host name did not resolve.
    Dns,
    /// The TCP connection was refused or unreachable.
    Connect,
    /// The TLS handshake failed (including certificate verification).
    Tls,
    /// The probe did not finish within its timeout.
    Timeout,
    /// The HTTP status was not accepted.
    Status,
    /// The body was too large or failed a regex check.
    Body,
    /// Anything else (protocol errors, bad redirects).
    Other,
}

impl FailureReason {
    /// Every reason, in label order; used to create series at start-up.
    pub const ALL: [FailureReason; 7] = [
        FailureReason::Dns,
        FailureReason::Connect,
        FailureReason::Tls,
        FailureReason::Timeout,
        FailureReason::Status,
        FailureReason::Body,
        FailureReason::Other,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Dns => "dns",
            FailureReason::Connect => "connect",
            FailureReason::Tls => "tls",
            FailureReason::Timeout => "timeout",
            FailureReason::Status => "status",
            FailureReason::Body => "body",
            FailureReason::Other => "other",
        }
    }
}

/// The phases of a probe, as blackbox_exporter names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Name resolution.
    Resolve,
    /// TCP connect.
    Connect,
    /// TLS handshake.
    Tls,
    /// Request sent until response headers arrived.
    Processing,
    /// Reading the body.
    Transfer,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 5] = [
        Phase::Resolve,
        Phase::Connect,
        Phase::Tls,
        Phase::Processing,
        Phase::Transfer,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Processing => "processing",
            Phase::Transfer => "transfer",
        }
    }
}

/// A failed probe: the class and a human message (never carries secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The class, a metric label.
    pub reason: FailureReason,
    /// What happened, for logs and the status page.
    pub message: String,
}

/// Longest failure message kept, in bytes. Messages quote what a target
/// sent (a redirect's `Location` may be hundreds of KiB) and go to the log
/// at every state change, the status page and `/probe?debug=true`.
pub const MAX_MESSAGE_BYTES: usize = 512;

impl Failure {
    /// A failure of class `reason`; the message is cut to
    /// [`MAX_MESSAGE_BYTES`] (on a character boundary, marked with `…`).
    pub fn new(reason: FailureReason, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE_BYTES {
            message.truncate(clipped(&message).len());
            message.push('…');
        }
        Failure { reason, message }
    }
}

/// The first [`MAX_MESSAGE_BYTES`] of `s`, cut on a character boundary:
/// for logging what a client or target sent.
pub fn clipped(s: &str) -> &str {
    let cut = (0..=MAX_MESSAGE_BYTES.min(s.len()))
        .rev()
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0);
    &s[..cut]
}

/// Everything one probe measured.
#[derive(Debug, Clone, Default)]
pub struct ProbeReport {
    /// `None` when the probe succeeded.
    pub failure: Option<Failure>,
    /// Wall time of the whole probe.
    pub duration: Duration,
    /// Time spent in each phase (summed over redirects), indexed like [`Phase::ALL`].
    pub phases: [Duration; 5],
    /// Status code of the last HTTP response, when one arrived.
    pub http_status: Option<u16>,
    /// Earliest certificate `notAfter` seen, Unix seconds.
    pub cert_expiry: Option<i64>,
    /// Redirects followed.
    pub redirects: u32,
    /// Body bytes read from the last response.
    pub body_bytes: u64,
    /// The address the last connection went (or tried to go) to.
    pub peer: Option<SocketAddr>,
    /// `Content-Length` of the last response, -1 when absent.
    pub content_length: i64,
    /// Whether a `fail_if_body_*` regex failed the probe.
    pub regex_failed: bool,
    /// Whether the last request went over TLS.
    pub tls: bool,
    /// Whether a module's allowlist refused an address (of any hop).
    pub refused: bool,
}

impl ProbeReport {
    /// True when the probe succeeded.
    pub fn success(&self) -> bool {
        self.failure.is_none()
    }

    /// Adds `d` to `phase`.
    pub(crate) fn add_phase(&mut self, phase: Phase, d: Duration) {
        self.phases[phase as usize] += d;
    }

    /// Time spent in `phase`.
    pub fn phase(&self, phase: Phase) -> Duration {
        self.phases[phase as usize]
    }
}

/// Runs one probe of `spec`, bounded by `timeout`.
pub async fn run(spec: &ProbeSpec, timeout: Duration) -> ProbeReport {
    let start = Instant::now();
    let mut report = ProbeReport::default();
    let outcome = {
        let fut = async {
            match spec {
                ProbeSpec::Http(h) => http::probe(h, &mut report).await,
                ProbeSpec::Tcp(t) => tcp::probe(t, &mut report).await,
            }
        };
        tokio::time::timeout(timeout, fut).await
    };
    report.failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(f)) => Some(f),
        Err(_) => Some(Failure::new(
            FailureReason::Timeout,
            format!(
                "no answer within {}",
                crate::config::format_duration(timeout)
            ),
        )),
    };
    report.duration = start.elapsed();
    report
}

/// Resolves `host:port`, timing the resolve phase.
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    allowed: Option<&std::sync::Arc<policy::AllowedTargets>>,
    report: &mut ProbeReport,
) -> Result<Vec<SocketAddr>, Failure> {
    let t = Instant::now();
    // IP literals (also bracketed v6 from a URI) never touch the resolver.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let result = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(vec![SocketAddr::new(ip, port)]),
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map(|a| a.collect::<Vec<_>>())
            .map_err(|e| Failure::new(FailureReason::Dns, format!("resolving {bare}: {e}"))),
    };
    report.add_phase(Phase::Resolve, t.elapsed());
    let addrs = result?;
    if addrs.is_empty() {
        return Err(Failure::new(
            FailureReason::Dns,
            format!("resolving {bare}: no addresses"),
        ));
    }
    // Checked on what we are about to connect to: no second lookup follows,
    // so DNS rebinding cannot slip a different address past the check.
    if let Some(allowed) = allowed {
        if let Err(why) = policy::check(allowed, bare, &addrs) {
            report.refused = true;
            return Err(Failure::new(
                FailureReason::Other,
                format!("target refused: {why}"),
            ));
        }
    }
    Ok(addrs)
}

/// Connects to the first address that accepts, timing the connect phase.
pub(crate) async fn connect(
    addrs: &[SocketAddr],
    report: &mut ProbeReport,
) -> Result<tokio::net::TcpStream, Failure> {
    let t = Instant::now();
    let mut last = None;
    for addr in addrs {
        // Recorded before connecting: a refused address is still the one tried.
        report.peer = Some(*addr);
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => {
                report.add_phase(Phase::Connect, t.elapsed());
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(format!("connecting to {addr}: {e}")),
        }
    }
    report.add_phase(Phase::Connect, t.elapsed());
    Err(Failure::new(
        FailureReason::Connect,
        last.unwrap_or_else(|| "no address to connect to".into()),
    ))
}

/// Performs a TLS handshake, timing the tls phase and recording the expiry.
pub(crate) async fn handshake(
    stream: tokio::net::TcpStream,
    spec: &TlsSpec,
    server_name: &str,
    report: &mut ProbeReport,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, Failure> {
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).map_err(|e| {
        Failure::new(
            FailureReason::Tls,
            format!("invalid server name {server_name:?}: {e}"),
        )
    })?;
    let t = Instant::now();
    let config = tls::client_config(spec.ca.as_ref(), spec.insecure_skip_verify);
    let connector = tokio_rustls::TlsConnector::from(config);
    let result = connector.connect(name, stream).await;
    report.add_phase(Phase::Tls, t.elapsed());
    let tls =
        result.map_err(|e| Failure::new(FailureReason::Tls, format!("TLS handshake: {e}")))?;
    if let Some(certs) = tls.get_ref().1.peer_certificates() {
        let expiry = tls::earliest_expiry(certs);
        report.cert_expiry = match (report.cert_expiry, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::{Failure, FailureReason, MAX_MESSAGE_BYTES};

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let short = "x".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(
            Failure::new(FailureReason::Other, short.clone()).message,
            short
        );
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let cut = Failure::new(FailureReason::Other, format!("a{long}")).message;
        assert_eq!(
            cut,
            format!("a{}…", "é".repeat((MAX_MESSAGE_BYTES - 1) / 2))
        );
    }
}
