//! The HTTP endpoints of the real binary, and `promtool check metrics` on
//! its real output.

mod common;

use common::*;

fn config_with_one_service() -> (TestServer, String) {
    let srv = TestServer::http(|_| Reply::new(200, "ok"));
    let cfg = format!(
        "services:\n  - name: web\n    interval: 1h\n    http:\n      url: {}\n  - name: db\n    interval: 1h\n    tcp:\n      address: 127.0.0.1:{}\n",
        srv.url("/"),
        closed_port()
    );
    (srv, cfg)
}

#[test]
fn promtool_check_metrics_is_clean() {
    let (_srv, cfg) = config_with_one_service();
    // The shipped nginx example brings value histograms and byte sums.
    let logs = tempfile::tempdir().unwrap();
    let log = write_file(logs.path(), "access.log", "");
    let nginx = std::fs::read_to_string("deploy/examples/nginx.yaml")
        .unwrap()
        .replace("/var/log/nginx/access.log", log.to_str().unwrap());
    let e = Exporter::start(&format!("{cfg}{nginx}"));
    e.wait_value("vitals_probes_total{microservice=\"web\"}", 1.0);
    e.wait_value("vitals_probes_total{microservice=\"db\"}", 1.0);
    std::fs::write(
        &log,
        "::1 - - [29/Nov/2026:22:00:00 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"curl\" 0.002\n",
    )
    .unwrap();
    e.wait_value(
        "vitals_log_pattern_value_seconds_count{log=\"nginx\",pattern=\"requests\",status=\"200\"}",
        1.0,
    );
    let body = e.metrics();
    let report = promtool_check_metrics(&body);
    assert_eq!(report, "", "promtool findings");
}

#[test]
fn text_and_openmetrics_formats() {
    let (_srv, cfg) = config_with_one_service();
    let e = Exporter::start(&cfg);
    e.wait_value("vitals_probes_total{microservice=\"web\"}", 1.0);
    let (status, ct, body) = e.get("/metrics");
    assert_eq!(status, 200);
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!body.contains("# EOF"));
    assert_eq!(
        sample(&body, "vitals_config_last_reload_successful"),
        Some(1.0)
    );
    assert!(
        body.contains("\nvitals_build_info{version=\"0.1.0\",revision=\""),
        "{body}"
    );
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(sample(&body, name).is_some(), "{name} missing");
    }
    let (status, ct, body) = http_get(
        e.addr,
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0;q=0.6,text/plain;version=0.0.4;q=0.3",
        )],
    );
    assert_eq!(status, 200);
    assert_eq!(
        ct,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
}

#[test]
fn every_series_exists_from_start() {
    // Before any probe finished (interval far away, first round pending or
    // done), every failure reason is already exported at 0 or more.
    let (_srv, cfg) = config_with_one_service();
    let e = Exporter::start(&cfg);
    let body = e.metrics();
    for reason in [
        "dns", "connect", "tls", "timeout", "status", "body", "other",
    ] {
        for svc in ["web", "db"] {
            let s = format!(
                "vitals_probe_failures_total{{microservice=\"{svc}\",reason=\"{reason}\"}}"
            );
            assert!(sample(&body, &s).is_some(), "{s} missing");
        }
    }
}

#[test]
fn health_ready_status_page_and_404() {
    let (_srv, cfg) = config_with_one_service();
    let e = Exporter::start(&cfg);
    assert_eq!(e.get("/-/healthy").0, 200);
    wait_for("ready", std::time::Duration::from_secs(5), || {
        e.get("/-/ready").0 == 200
    });
    e.wait_value("vitals_probes_total{microservice=\"db\"}", 1.0);
    e.wait_value("vitals_probes_total{microservice=\"web\"}", 1.0);
    let (status, ct, page) = e.get("/");
    assert_eq!(status, 200);
    assert_eq!(ct, "text/html; charset=utf-8");
    assert!(page.contains("<p>1 up, 1 down, 2 in all.</p>"), "{page}");
    assert!(
        page.contains("<td>web</td><td class=\"up\">up</td>"),
        "{page}"
    );
    assert!(
        page.contains("<td>db</td><td class=\"down\">down</td>"),
        "{page}"
    );
    assert!(page.contains("connect: connecting to 127.0.0.1:"), "{page}");
    assert_eq!(e.get("/nope").0, 404);
}

#[test]
fn custom_telemetry_path_and_graceful_stop() {
    let (_srv, cfg) = config_with_one_service();
    let mut e = Exporter::start_with(
        &cfg,
        &["--web.telemetry-path", "/custom"],
        tempfile::tempdir().unwrap(),
    );
    assert_eq!(e.get("/custom").0, 200);
    assert_eq!(e.get("/metrics").0, 404);
    let status = e.stop();
    assert!(status.success(), "{status:?}");
    assert!(e.log().contains("msg=\"received SIGTERM\""));
}

#[test]
fn json_logs() {
    let (_srv, cfg) = config_with_one_service();
    let e = Exporter::start_with(
        &cfg,
        &["--log.format", "json"],
        tempfile::tempdir().unwrap(),
    );
    wait_for(
        "state change logged",
        std::time::Duration::from_secs(5),
        || e.log().contains("\"message\":\"service is down\""),
    );
    let log = e.log();
    for line in log.lines() {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not JSON: {line}"
        );
    }
    assert!(log.contains("\"level\":\"WARN\""), "{log}");
    assert!(log.contains("\"microservice\":\"db\""), "{log}");
}

#[test]
fn logfmt_lines_start_with_an_rfc3339_timestamp() {
    let floor_ms =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let before = floor_ms(std::time::SystemTime::now());
    let e = Exporter::start("services: []\n");
    let after = floor_ms(std::time::SystemTime::now());
    let line = e.log().lines().next().unwrap().to_string();
    let re = regex::Regex::new(
        r"^ts=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) level=info msg=listening ",
    )
    .unwrap();
    let ts = &re.captures(&line).unwrap_or_else(|| panic!("{line}"))[1];
    let at = floor_ms(humantime::parse_rfc3339(ts).unwrap());
    assert!(
        (before..=after).contains(&at),
        "{before} <= {at} <= {after}"
    );
}

#[test]
fn unbindable_address_is_an_error() {
    let (code, _, err) = run_bin(&[
        "--config.file",
        "tests/fixtures/config/good.yaml",
        "--web.listen-address",
        "127.0.0.1:99999",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.ends_with("cannot listen on 127.0.0.1:99999: invalid port value\n"),
        "{err}"
    );
}
