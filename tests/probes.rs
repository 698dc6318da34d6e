//! The real binary probing real local servers; exact values from real scrapes.

mod common;

use std::time::Duration;

use common::*;

/// One HTTP service probed once (the interval is far longer than the test).
fn one_http(name: &str, http: &str) -> String {
    format!("services:\n  - name: {name}\n    interval: 1h\n    timeout: 2s\n    http:\n{http}")
}

fn failures(e: &Exporter, name: &str) -> Vec<(String, f64)> {
    [
        "dns", "connect", "tls", "timeout", "status", "body", "other",
    ]
    .iter()
    .map(|r| {
        let v = e
            .value(&format!(
                "vitals_probe_failures_total{{microservice=\"{name}\",reason=\"{r}\"}}"
            ))
            .unwrap_or(-1.0);
        (r.to_string(), v)
    })
    .collect()
}

/// Asserts that exactly one failure happened, with `reason`.
fn assert_one_failure(e: &Exporter, name: &str, reason: &str) {
    e.wait_value(
        &format!("vitals_probes_total{{microservice=\"{name}\"}}"),
        1.0,
    );
    let got = failures(e, name);
    for (r, v) in &got {
        let want = if r == reason { 1.0 } else { 0.0 };
        assert_eq!(*v, want, "failures by reason: {got:?}\nlog:\n{}", e.log());
    }
    assert_eq!(
        e.value(&format!("vitals_up{{microservice=\"{name}\"}}")),
        Some(0.0)
    );
}

#[test]
fn http_200_is_up() {
    let srv = TestServer::http(|_| Reply::new(200, "all good"));
    let e = Exporter::start(&one_http(
        "web",
        &format!("      url: {}\n", srv.url("/health")),
    ));
    e.wait_value("vitals_probes_total{microservice=\"web\"}", 1.0);
    assert_eq!(e.value("vitals_up{microservice=\"web\"}"), Some(1.0));
    assert_eq!(
        e.value("vitals_probe_http_status_code{microservice=\"web\"}"),
        Some(200.0)
    );
    assert!(failures(&e, "web").iter().all(|(_, v)| *v == 0.0));
    assert_eq!(
        e.value("vitals_probe_duration_seconds_count{microservice=\"web\"}"),
        Some(1.0)
    );
    let seen = srv.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/health");
    assert_eq!(seen[0].header("host"), Some(srv.addr.to_string().as_str()));
    // Plain HTTP has no TLS phase and no certificate.
    assert_eq!(
        e.value("vitals_probe_phase_duration_seconds{microservice=\"web\",phase=\"tls\"}"),
        Some(0.0)
    );
    assert_eq!(
        e.value("vitals_probe_tls_earliest_cert_expiry_timestamp_seconds{microservice=\"web\"}"),
        None
    );
}

#[test]
fn http_500_fails_with_status() {
    let srv = TestServer::http(|_| Reply::new(500, "boom"));
    let e = Exporter::start(&one_http("api", &format!("      url: {}\n", srv.url("/"))));
    assert_one_failure(&e, "api", "status");
    assert_eq!(
        e.value("vitals_probe_http_status_code{microservice=\"api\"}"),
        Some(500.0)
    );
    assert!(e
        .log()
        .contains("msg=\"service is down\" microservice=api reason=status"));
}

#[test]
fn valid_status_codes_accept_listed_codes_only() {
    let srv = TestServer::http(|_| Reply::new(404, ""));
    let cfg = format!(
        "services:\n  - name: a\n    interval: 1h\n    http:\n      url: {u}\n      valid_status_codes: [404]\n  - name: b\n    interval: 1h\n    http:\n      url: {u}\n",
        u = srv.url("/")
    );
    let e = Exporter::start(&cfg);
    e.wait_value("vitals_probes_total{microservice=\"a\"}", 1.0);
    e.wait_value("vitals_probes_total{microservice=\"b\"}", 1.0);
    assert_eq!(e.value("vitals_up{microservice=\"a\"}"), Some(1.0));
    assert_eq!(e.value("vitals_up{microservice=\"b\"}"), Some(0.0));
}

#[test]
fn slow_target_times_out() {
    let srv = TestServer::http(|_| Reply::new(200, "late").delay(Duration::from_secs(3)));
    let cfg = format!(
        "services:\n  - name: slow\n    interval: 1h\n    timeout: 300ms\n    http:\n      url: {}\n",
        srv.url("/")
    );
    let e = Exporter::start(&cfg);
    assert_one_failure(&e, "slow", "timeout");
    // The probe gave up at its timeout, not when the server answered.
    let d = e
        .value("vitals_probe_last_duration_seconds{microservice=\"slow\"}")
        .unwrap();
    assert!((0.3..1.5).contains(&d), "duration {d}");
}

#[test]
fn slow_target_does_not_delay_others() {
    let slow = TestServer::http(|_| Reply::new(200, "late").delay(Duration::from_secs(5)));
    let fast = TestServer::http(|_| Reply::new(200, "ok"));
    let cfg = format!(
        "services:\n  - name: slow\n    interval: 10s\n    timeout: 4s\n    http:\n      url: {}\n  - name: fast\n    interval: 100ms\n    timeout: 50ms\n    http:\n      url: {}\n",
        slow.url("/"),
        fast.url("/")
    );
    let e = Exporter::start(&cfg);
    // While the slow probe hangs for 4 s, the fast one keeps its 100 ms pace.
    wait_for("10 fast probes", Duration::from_secs(3), || {
        e.value("vitals_probes_total{microservice=\"fast\"}")
            .unwrap_or(0.0)
            >= 10.0
    });
    assert_eq!(
        e.value("vitals_probes_total{microservice=\"slow\"}"),
        Some(0.0)
    );
    assert_eq!(e.value("vitals_up{microservice=\"fast\"}"), Some(1.0));
}

#[test]
fn connection_refused_is_connect_failure() {
    let port = closed_port();
    let e = Exporter::start(&one_http(
        "gone",
        &format!("      url: http://127.0.0.1:{port}/\n"),
    ));
    assert_one_failure(&e, "gone", "connect");
    assert_eq!(
        e.value("vitals_probe_http_status_code{microservice=\"gone\"}"),
        Some(0.0)
    );
}

#[test]
fn unresolvable_host_is_dns_failure() {
    // A 64-byte label is not a valid DNS name: the resolver refuses it
    // without sending a query, so the test stays off the network.
    let host = format!("{}.invalid", "a".repeat(64));
    let e = Exporter::start(&one_http(
        "nxdomain",
        &format!("      url: http://{host}/\n"),
    ));
    assert_one_failure(&e, "nxdomain", "dns");
}

#[test]
fn body_regexes() {
    let srv = TestServer::http(|_| Reply::new(200, "status: degraded"));
    let cfg = format!(
        "services:\n  - name: must-match\n    interval: 1h\n    http:\n      url: {u}\n      fail_if_body_not_matches: ['status: ok']\n  - name: must-not-match\n    interval: 1h\n    http:\n      url: {u}\n      fail_if_body_matches: ['degraded']\n  - name: fine\n    interval: 1h\n    http:\n      url: {u}\n      fail_if_body_matches: ['down']\n      fail_if_body_not_matches: ['status']\n",
        u = srv.url("/")
    );
    let e = Exporter::start(&cfg);
    assert_one_failure(&e, "must-match", "body");
    assert_one_failure(&e, "must-not-match", "body");
    e.wait_value("vitals_probes_total{microservice=\"fine\"}", 1.0);
    assert_eq!(e.value("vitals_up{microservice=\"fine\"}"), Some(1.0));
}

#[test]
fn body_over_limit_is_body_failure() {
    let big = "x".repeat(10_000);
    let srv = TestServer::http(move |_| Reply::new(200, &big));
    let e = Exporter::start(&one_http(
        "big",
        &format!("      url: {}\n      max_body_bytes: 1000\n", srv.url("/")),
    ));
    assert_one_failure(&e, "big", "body");
}

#[test]
fn redirects_are_followed_or_not() {
    let srv = TestServer::http(|r| {
        if r.path == "/old" {
            Reply::new(302, "").header("Location", "/new")
        } else {
            Reply::new(200, "new place")
        }
    });
    let cfg = format!(
        "services:\n  - name: follow\n    interval: 1h\n    http:\n      url: {u}\n  - name: nofollow\n    interval: 1h\n    http:\n      url: {u}\n      follow_redirects: false\n",
        u = srv.url("/old")
    );
    let e = Exporter::start(&cfg);
    e.wait_value("vitals_probes_total{microservice=\"follow\"}", 1.0);
    e.wait_value("vitals_probes_total{microservice=\"nofollow\"}", 1.0);
    assert_eq!(e.value("vitals_up{microservice=\"follow\"}"), Some(1.0));
    assert_eq!(
        e.value("vitals_probe_http_status_code{microservice=\"follow\"}"),
        Some(200.0)
    );
    assert_eq!(e.value("vitals_up{microservice=\"nofollow\"}"), Some(0.0));
    assert_eq!(
        e.value("vitals_probe_http_status_code{microservice=\"nofollow\"}"),
        Some(302.0)
    );
    let paths: Vec<String> = srv
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(paths.iter().filter(|p| *p == "/old").count(), 2);
    assert_eq!(paths.iter().filter(|p| *p == "/new").count(), 1);
}

#[test]
fn self_signed_tls() {
    let (tls, pem, expiry) = self_signed((2031, 3, 4));
    let srv = TestServer::https(tls, |_| Reply::new(200, "secure"));
    let dir = tempfile::tempdir().unwrap();
    let ca = write_file(dir.path(), "ca.pem", &pem);
    let url = format!("https://127.0.0.1:{}/", srv.addr.port());
    let cfg = format!(
        "services:\n  - name: trusted\n    interval: 1h\n    http:\n      url: {url}\n      tls:\n        ca_file: {ca}\n  - name: untrusted\n    interval: 1h\n    http:\n      url: {url}\n  - name: insecure\n    interval: 1h\n    http:\n      url: {url}\n      tls:\n        insecure_skip_verify: true\n  - name: tcp-tls\n    interval: 1h\n    tcp:\n      address: 127.0.0.1:{port}\n      tls:\n        ca_file: {ca}\n",
        ca = ca.display(),
        port = srv.addr.port()
    );
    let e = Exporter::start(&cfg);
    for name in ["trusted", "insecure", "tcp-tls"] {
        e.wait_value(
            &format!("vitals_probes_total{{microservice=\"{name}\"}}"),
            1.0,
        );
        assert_eq!(
            e.value(&format!("vitals_up{{microservice=\"{name}\"}}")),
            Some(1.0),
            "{name}"
        );
        assert_eq!(
            e.value(&format!(
                "vitals_probe_tls_earliest_cert_expiry_timestamp_seconds{{microservice=\"{name}\"}}"
            )),
            Some(expiry as f64),
            "{name}"
        );
    }
    assert_eq!(expiry, 1_930_348_800, "2031-03-04T00:00:00Z");
    assert_one_failure(&e, "untrusted", "tls");
    let tls_phase = e
        .value("vitals_probe_phase_duration_seconds{microservice=\"trusted\",phase=\"tls\"}")
        .unwrap();
    assert!(tls_phase > 0.0);
}

#[test]
fn basic_auth_and_secret_never_shown() {
    const SECRET: &str = "s3cr3t-canary-4242";
    let srv = TestServer::http(|r| {
        // "probe:s3cr3t-canary-4242"
        if r.header("authorization") == Some("Basic cHJvYmU6czNjcjN0LWNhbmFyeS00MjQy") {
            Reply::new(200, "hello probe")
        } else {
            Reply::new(401, "who are you")
        }
    });
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "good.pw", &format!("{SECRET}\n"));
    write_file(dir.path(), "bad.pw", "wrong\n");
    let cfg = format!(
        "services:\n  - name: good\n    interval: 1h\n    http:\n      url: {u}\n      basic_auth:\n        username: probe\n        password_file: good.pw\n  - name: bad\n    interval: 1h\n    http:\n      url: {u}\n      basic_auth:\n        username: probe\n        password_file: bad.pw\n",
        u = srv.url("/")
    );
    let e = Exporter::start_with(&cfg, &["--log.level", "debug"], dir);
    e.wait_value("vitals_probes_total{microservice=\"good\"}", 1.0);
    assert_eq!(e.value("vitals_up{microservice=\"good\"}"), Some(1.0));
    assert_one_failure(&e, "bad", "status");
    assert_eq!(
        e.value("vitals_probe_http_status_code{microservice=\"bad\"}"),
        Some(401.0)
    );
    let (_, _, page) = e.get("/");
    for (what, text) in [
        ("metrics", e.metrics()),
        ("status page", page),
        ("log", e.log()),
    ] {
        assert!(!text.contains(SECRET), "secret leaked in {what}");
        assert!(
            !text.contains("czNjcjN0"),
            "encoded secret leaked in {what}"
        );
    }
}

#[test]
fn tcp_probe() {
    let srv = TestServer::http(|_| Reply::new(200, ""));
    let cfg = format!(
        "services:\n  - name: open\n    interval: 1h\n    tcp:\n      address: {}\n  - name: closed\n    interval: 1h\n    tcp:\n      address: 127.0.0.1:{}\n",
        srv.addr,
        closed_port()
    );
    let e = Exporter::start(&cfg);
    e.wait_value("vitals_probes_total{microservice=\"open\"}", 1.0);
    assert_eq!(e.value("vitals_up{microservice=\"open\"}"), Some(1.0));
    assert_one_failure(&e, "closed", "connect");
    // TCP services have no HTTP status series.
    assert_eq!(
        e.value("vitals_probe_http_status_code{microservice=\"open\"}"),
        None
    );
}

#[test]
fn state_changes_are_logged_and_timestamped() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let healthy = Arc::new(AtomicBool::new(true));
    let h = healthy.clone();
    let srv = TestServer::http(move |_| {
        if h.load(Ordering::SeqCst) {
            Reply::new(200, "ok")
        } else {
            Reply::new(503, "down")
        }
    });
    let cfg = format!(
        "services:\n  - name: flappy\n    interval: 100ms\n    timeout: 50ms\n    http:\n      url: {}\n",
        srv.url("/")
    );
    let e = Exporter::start(&cfg);
    e.wait_value("vitals_up{microservice=\"flappy\"}", 1.0);
    let first = e
        .value("vitals_state_change_timestamp_seconds{microservice=\"flappy\"}")
        .unwrap();
    healthy.store(false, Ordering::SeqCst);
    e.wait_value("vitals_up{microservice=\"flappy\"}", 0.0);
    let second = e
        .value("vitals_state_change_timestamp_seconds{microservice=\"flappy\"}")
        .unwrap();
    assert!(second > first, "{second} > {first}");
    healthy.store(true, Ordering::SeqCst);
    e.wait_value("vitals_up{microservice=\"flappy\"}", 1.0);
    wait_for("recovery log line", Duration::from_secs(5), || {
        e.log()
            .contains("msg=\"service recovered\" microservice=flappy previous_state=down")
    });
    let log = e.log();
    assert_eq!(
        log.matches("msg=\"service is down\" microservice=flappy")
            .count(),
        1
    );
    assert_eq!(
        log.matches("msg=\"service is up\" microservice=flappy")
            .count(),
        1
    );
}
