//! The `/probe` response: blackbox_exporter's metric names and meanings,
//! in a fresh registry per request, so existing blackbox dashboards, alert
//! rules and relabel configs work against us.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::probe::{Phase, ProbeReport};

type GaugeF = Gauge<f64, AtomicU64>;

fn gauge(r: &mut Registry, name: &str, help: &str, v: f64) {
    let g = GaugeF::default();
    g.set(v);
    r.register(name, help, g);
}

/// FNV-1a 32 of the address bytes (4 for IPv4, 16 for IPv6), as blackbox
/// computes `probe_ip_addr_hash`.
fn ip_hash(ip: std::net::IpAddr) -> f64 {
    let bytes = match ip {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let h = bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    });
    f64::from(h)
}

/// Encodes `report` in Prometheus text 0.0.4; `http` selects the HTTP set.
pub(crate) fn encode(report: &ProbeReport, http: bool) -> String {
    let mut r = Registry::default();
    let secs = |d: std::time::Duration| d.as_secs_f64();
    gauge(
        &mut r,
        "probe_success",
        "Displays whether or not the probe was a success",
        f64::from(u8::from(report.success())),
    );
    gauge(
        &mut r,
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
        secs(report.duration),
    );
    gauge(
        &mut r,
        "probe_dns_lookup_time_seconds",
        "Returns the time taken for probe dns lookup in seconds",
        secs(report.phase(Phase::Resolve)),
    );
    let (proto, hash) = match report.peer {
        Some(p) => (if p.is_ipv4() { 4.0 } else { 6.0 }, ip_hash(p.ip())),
        None => (0.0, 0.0),
    };
    gauge(
        &mut r,
        "probe_ip_protocol",
        "Specifies whether probe ip protocol is IP4 or IP6",
        proto,
    );
    gauge(
        &mut r,
        "probe_ip_addr_hash",
        "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
        hash,
    );
    // The tcp prober reports it too (for query_response expectations).
    gauge(
        &mut r,
        "probe_failed_due_to_regex",
        "Indicates if probe failed due to regex",
        f64::from(u8::from(report.regex_failed)),
    );
    if http {
        let phases: Family<Vec<(String, String)>, GaugeF> = Family::default();
        for p in Phase::ALL {
            phases
                .get_or_create(&vec![("phase".to_string(), p.as_str().to_string())])
                .set(secs(report.phase(p)));
        }
        r.register(
            "probe_http_duration_seconds",
            "Duration of http request by phase, summed over all redirects",
            phases,
        );
        gauge(
            &mut r,
            "probe_http_status_code",
            "Response HTTP status code",
            f64::from(report.http_status.unwrap_or(0)),
        );
        gauge(
            &mut r,
            "probe_http_content_length",
            "Length of http content response",
            report.content_length as f64,
        );
        gauge(
            &mut r,
            "probe_http_uncompressed_body_length",
            "Length of uncompressed response body",
            report.body_bytes as f64,
        );
        gauge(
            &mut r,
            "probe_http_redirects",
            "The number of redirects",
            f64::from(report.redirects),
        );
        gauge(
            &mut r,
            "probe_http_ssl",
            "Indicates if SSL was used for the final redirect",
            f64::from(u8::from(report.tls)),
        );
        gauge(
            &mut r,
            "probe_http_version",
            "Returns the version of HTTP of the probe response",
            if report.http_status.is_some() {
                1.1
            } else {
                0.0
            },
        );
    }
    if let Some(expiry) = report.cert_expiry {
        gauge(
            &mut r,
            "probe_ssl_earliest_cert_expiry",
            "Returns last SSL chain expiry in unixtime",
            expiry as f64,
        );
    }
    let mut out = String::with_capacity(2048);
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &r) {
        tracing::error!(error = %e, "encoding probe metrics failed");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ip_hash;

    #[test]
    fn ip_hash_matches_blackbox() {
        // What blackbox_exporter 0.23 reports for 127.0.0.1 (see tests/probe_compat.rs).
        assert_eq!(ip_hash("127.0.0.1".parse().unwrap()), 3_668_918_509.0);
    }
}
