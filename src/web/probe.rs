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

/// The first value of `key`, form-decoded: `+` is a space and a malformed
/// escape stays as written (where Go would drop the pair).
fn param(query: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Prometheus' scrape timeout absent or 0: blackbox's default.
const DEFAULT_SCRAPE_TIMEOUT_SECONDS: f64 = 120.0;

/// The probe's timeout from `X-Prometheus-Scrape-Timeout-Seconds`, as
/// blackbox's `getTimeout` computes it: a header that is not a number is an
/// error (blackbox answers 500); absent or 0 means 120 s; the offset is
/// subtracted and the module's timeout wins when it is shorter. Where Go
/// would turn a negative, infinite, NaN or out-of-range value into a
/// garbage duration, the module's timeout is used: a header never panics.
fn probe_timeout(header: Option<&[u8]>, module: Duration) -> Result<Duration, String> {
    let seconds = match header {
        None | Some(b"") => 0.0,
        Some(v) => std::str::from_utf8(v)
            .map_err(|_| "not UTF-8".to_string())?
            .parse::<f64>()
            .map_err(|e| format!("{e}"))?,
    };
    let seconds = if seconds == 0.0 {
        DEFAULT_SCRAPE_TIMEOUT_SECONDS
    } else {
        seconds
    };
    match Duration::try_from_secs_f64(seconds - TIMEOUT_OFFSET.as_secs_f64()) {
        Ok(max) if !max.is_zero() && max < module => Ok(max),
        _ => Ok(module),
    }
}

/// Answers `/probe`.
pub(crate) async fn probe<B>(app: &App, req: &Request<B>) -> Response<Body> {
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
    let spec = match module.aim(&target) {
        Ok(spec) => spec,
        Err(why) => {
            return respond(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                format!("{why}\n").into(),
            )
        }
    };
    // Bounds the memory of probes (each may buffer max_body_bytes) whatever
    // Prometheus asks; the permit is released when the request ends or is
    // dropped.
    let Ok(_slot) = app.probe_slots.try_acquire() else {
        app.metrics.probe_rejected();
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many probes in flight (--probe.max-concurrent)\n",
        );
    };
    let header = req.headers().get("X-Prometheus-Scrape-Timeout-Seconds");
    let timeout = match probe_timeout(header.map(|v| v.as_bytes()), module.timeout) {
        Ok(t) => t,
        Err(why) => {
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                format!("Failed to parse timeout from Prometheus header: {why}\n").into(),
            )
        }
    };
    let report = crate::probe::run(&spec, timeout).await;
    // A refusal of the target itself (not of a redirect hop) is the caller's error.
    if let Some(f) = &report.failure {
        if report.refused && report.redirects == 0 {
            app.metrics.probe_refused(&module_name);
            // Anyone who can reach /probe chooses the target: log a bounded part.
            tracing::warn!(module = %crate::probe::clipped(&module_name), target = %crate::probe::clipped(&target), target_bytes = target.len(), reason = %f.message, "probe refused");
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
    use super::{param, probe_timeout};
    use std::time::Duration;

    #[test]
    fn scrape_timeout_header() {
        let module = Duration::from_secs(5);
        let t = |h: &str| probe_timeout(Some(h.as_bytes()), module);
        assert_eq!(probe_timeout(None, module), Ok(module));
        assert_eq!(t(""), Ok(module));
        assert_eq!(t("0"), Ok(module));
        assert_eq!(t("3"), Ok(Duration::from_millis(2500)));
        assert_eq!(t("0.75"), Ok(Duration::from_millis(250)));
        assert_eq!(t("10"), Ok(module));
        for hostile in [
            "2e19", "1e30", "1e308", "NaN", "-1", "inf", "-inf", "0.5", "0.1",
        ] {
            assert_eq!(t(hostile), Ok(module), "{hostile}");
        }
        assert_eq!(t("ten"), Err("invalid float literal".to_string()));
        assert_eq!(
            probe_timeout(Some(b"\xff"), module),
            Err("not UTF-8".to_string())
        );
    }

    mod prop {
        use super::super::{param, probe_timeout};
        use proptest::prelude::*;
        use std::path::Path;
        use std::time::Duration;

        const QUERY: &[&str] = &[
            "target=",
            "module=",
            "debug=true",
            "&",
            "=",
            "%",
            "%3A",
            "%2F",
            "%40",
            "%zz",
            "%e9",
            "%ff",
            "+",
            "http://",
            "https://",
            "user:pw@",
            "[",
            "]",
            "::1",
            "127.0.0.1",
            ":80",
            ":0",
            ":99999",
            "/",
            "?",
            "#",
            "a",
            "%00",
            "64:ff9b::a9fe:a9fe",
        ];

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn query_strings_never_panic(tokens in proptest::collection::vec(proptest::sample::select(QUERY), 0..24)) {
                let config = crate::config::parse(
                    "modules:\n  - name: h\n    http: {}\n  - name: t\n    tcp: {}\n",
                    Path::new("x.yaml"),
                ).unwrap();
                let query = tokens.concat();
                if let Some(target) = param(&query, "target") {
                    for m in &config.modules {
                        let _ = m.aim(&target);
                    }
                }
                let _ = param(&query, "module");
            }

            #[test]
            fn scrape_timeout_never_panics_nor_exceeds_the_module(bytes in proptest::collection::vec(any::<u8>(), 0..24), f in any::<f64>()) {
                let module = Duration::from_secs(5);
                for header in [bytes, f.to_string().into_bytes(), format!("{f:e}").into_bytes()] {
                    if let Ok(t) = probe_timeout(Some(&header), module) {
                        prop_assert!(t <= module && !t.is_zero());
                    }
                }
            }
        }
    }

    #[test]
    fn query_parsing() {
        assert_eq!(
            param("target=http%3A%2F%2Fa%3A1%2F", "target").as_deref(),
            Some("http://a:1/")
        );
        assert_eq!(
            param("target=a+b%zz%4", "target").as_deref(),
            Some("a b%zz%4")
        );
        assert_eq!(param("targe%74=x&target=y", "target").as_deref(), Some("x"));
        assert_eq!(
            param("module=tcp&target=x%3A1", "target").as_deref(),
            Some("x:1")
        );
        assert_eq!(param("module=tcp", "target"), None);
    }
}
