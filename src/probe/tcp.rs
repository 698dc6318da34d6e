//! The TCP prober: resolve, connect, and optionally complete a TLS handshake.

use super::{connect, handshake, resolve, Failure, ProbeReport};
use crate::config::TcpSpec;

/// Probes `spec`, filling `report`'s phases as it goes.
pub async fn probe(spec: &TcpSpec, report: &mut ProbeReport) -> Result<(), Failure> {
    let addrs = resolve(&spec.host, spec.port, spec.policy.as_ref(), report).await?;
    let stream = connect(&addrs, report).await?;
    if let Some(tls) = &spec.tls {
        let name = spec.server_name.as_deref().unwrap_or(&spec.host);
        handshake(stream, tls, name, report).await?;
        report.tls = true;
    }
    Ok(())
}
