//! `GET /probe?target=…&module=…[&debug=true]`: a blackbox-compatible
//! multi-target probe, run fresh per request with the module's settings and
//! its target allowlist.

use std::time::Duration;

use hyper::{Request, Response, StatusCode};

use super::{respond, text, App, Body, TEXT_FORMAT};
use crate::config::ProbeSpec;

/// Subtracted from Prometheus' scrape timeout so the answer arrives in time
/// (blackbox's `--timeout-offset`).
const TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

fn param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Answers `/probe`.
pub async fn probe<B>(app: &App, req: &Request<B>) -> Response<Body> {
    let query = req.uri().query().unwrap_or("");
    let Some(target) = param(query, "target").filter(|t| !t.is_empty()) else {
        return text(StatusCode::BAD_REQUEST, "Target parameter is missing\n");
    };
    let module_name = param(query, "module").unwrap_or_else(|| "http_2xx".into());
    let debug = param(query, "debug").is_some_and(|d| d == "true");
    let Some(module) = app.modules.get(&module_name) else {
        app.metrics.probe_unknown_module();
        return respond(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            format!("Unknown module {module_name:?}\n").into(),
        );
    };
    let Some(spec) = module.aim(&target) else {
        let want = match module.probe {
            ProbeSpec::Http(_) => "an http(s) URL",
            ProbeSpec::Tcp(_) => "host:port",
        };
        return respond(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            format!("Target is not {want}\n").into(),
        );
    };
    let scrape_timeout = req
        .headers()
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .and_then(|v| v.to_str().ok()?.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| {
            Duration::from_secs_f64(s)
                .saturating_sub(TIMEOUT_OFFSET)
                .max(Duration::from_millis(100))
        });
    let timeout = scrape_timeout.map_or(module.timeout, |t| t.min(module.timeout));
    let report = crate::probe::run(&spec, timeout).await;
    // A refusal of the target itself (not of a redirect hop) is the caller's error.
    if let Some(f) = &report.failure {
        if report.refused && report.redirects == 0 {
            app.metrics.probe_refused(&module_name);
            tracing::warn!(module = %module_name, target = %target, reason = %f.message, "probe refused");
            return respond(
                StatusCode::FORBIDDEN,
                "text/plain; charset=utf-8",
                format!("{}\n", f.message).into(),
            );
        }
    }
    let body = crate::metrics::blackbox::encode(&report, matches!(spec, ProbeSpec::Http(_)));
    if !debug {
        return respond(StatusCode::OK, TEXT_FORMAT, body.into());
    }
    let mut log = format!(
        "Logs for the probe:\nmodule={module_name} target={target} timeout={:?}\n",
        timeout
    );
    if let Some(p) = report.peer {
        log.push_str(&format!("connected to {p}\n"));
    }
    match &report.failure {
        Some(f) => log.push_str(&format!(
            "probe failed: {}: {}\n",
            f.reason.as_str(),
            f.message
        )),
        None => log.push_str("probe succeeded\n"),
    }
    log.push_str(&format!(
        "\n\n\nMetrics that would have been returned:\n{body}"
    ));
    respond(StatusCode::OK, "text/plain; charset=utf-8", log.into())
}

#[cfg(test)]
mod tests {
    use super::{param, percent_decode};

    #[test]
    fn query_parsing() {
        assert_eq!(percent_decode("http%3A%2F%2Fa%3A1%2F"), "http://a:1/");
        assert_eq!(percent_decode("a+b%zz%4"), "a b%zz%4");
        assert_eq!(
            param("module=tcp&target=x%3A1", "target").as_deref(),
            Some("x:1")
        );
        assert_eq!(param("module=tcp", "target"), None);
    }
}
