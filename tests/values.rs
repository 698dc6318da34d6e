//! Patterns' numbers (`value:` histograms, `sum:` counters) from real files
//! followed by the real binary: exact buckets, sums and counts, numbers
//! that do not parse, captured labels, and the shipped examples.

mod common;

use std::path::Path;

use common::*;

/// `{log="app",pattern="rt"<extra>}` series of `name`.
fn series(name: &str, extra: &str) -> String {
    format!("{name}{{log=\"app\",pattern=\"rt\"{extra}}}")
}

/// Waits for the histogram's count, then checks every bucket and the sum.
fn assert_histogram(e: &Exporter, name: &str, labels: &str, buckets: &[(&str, f64)], sum: f64) {
    let count = buckets.last().unwrap().1;
    e.wait_value(&series(&format!("{name}_count"), labels), count);
    let m = e.metrics();
    for (le, want) in buckets {
        let s = series(&format!("{name}_bucket"), &format!("{labels},le=\"{le}\""));
        assert_eq!(sample(&m, &s), Some(*want), "{s}\n{m}");
    }
    let s = series(&format!("{name}_sum"), labels);
    assert_eq!(sample(&m, &s), Some(sum), "{s}\n{m}");
}

#[test]
fn histogram_and_sum_exact_with_scale_and_parse_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, b"");
    let e = Exporter::start(&format!(
        "logs:\n  - name: app\n    paths: ['{}']\n    patterns:\n      - name: rt\n        regex: 'rt=(?P<ms>\\S+) bytes=(?P<b>\\S+)'\n        value: {{group: ms, unit: seconds, scale: 0.001, buckets: [0.1, 0.5, 1]}}\n        sum: {{group: b, unit: bytes}}\n",
        log.display()
    ));
    // Every series exists from the start, at 0.
    let errors = series("vitals_log_pattern_value_parse_errors_total", "");
    e.wait_value(&errors, 0.0);
    assert_histogram(
        &e,
        "vitals_log_pattern_value_seconds",
        "",
        &[("0.1", 0.0), ("0.5", 0.0), ("1", 0.0), ("+Inf", 0.0)],
        0.0,
    );
    assert_eq!(
        e.value(&series("vitals_log_pattern_sum_bytes_total", "")),
        Some(0.0)
    );
    // Written in pieces, one line cut mid-number.
    append(&log, b"GET / rt=50 bytes=100\nGET /a rt=30");
    append(&log, b"0 bytes=2000\nrt=- bytes=-\nrt=2000 bytes=0\n");
    append(
        &log,
        b"rt=1,5 bytes=-7\nrt=1e2 bytes=1e3\nno numbers here\n",
    );
    let ms = [50.0, 300.0, 2000.0, 100.0];
    let sum = ms.iter().fold(0.0, |s, v| s + v * 0.001);
    assert_histogram(
        &e,
        "vitals_log_pattern_value_seconds",
        "",
        &[("0.1", 2.0), ("0.5", 3.0), ("1", 3.0), ("+Inf", 4.0)],
        sum,
    );
    assert_eq!(
        e.value(&series("vitals_log_pattern_sum_bytes_total", "")),
        Some(3100.0)
    );
    // `-` twice, `1,5`, and the negative byte count (a counter never falls).
    assert_eq!(e.value(&errors), Some(4.0));
    assert_eq!(
        e.value(&series("vitals_log_pattern_matches_total", "")),
        Some(6.0)
    );
}

#[test]
fn captured_labels_apply_to_values_within_max_series() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, b"");
    let e = Exporter::start(&format!(
        "logs:\n  - name: app\n    paths: ['{}']\n    patterns:\n      - name: rt\n        regex: 'status=(?P<status>\\d+) rt=(?P<rt>[0-9.]+)'\n        labels: [status]\n        max_series: 2\n        value: {{group: rt, buckets: [0.5, 1]}}\n        sum: {{group: rt, unit: none}}\n",
        log.display()
    ));
    append(
        &log,
        b"status=200 rt=0.25\nstatus=200 rt=0.5\nstatus=500 rt=0.75\nstatus=503 rt=4\nstatus=504 rt=2\nstatus=200 rt=1\n",
    );
    let name = "vitals_log_pattern_value_seconds";
    assert_histogram(
        &e,
        name,
        ",status=\"200\"",
        &[("0.5", 2.0), ("1", 3.0), ("+Inf", 3.0)],
        1.75,
    );
    assert_histogram(
        &e,
        name,
        ",status=\"500\"",
        &[("0.5", 0.0), ("1", 1.0), ("+Inf", 1.0)],
        0.75,
    );
    // Past max_series, values go to the overflow series like matches do.
    assert_histogram(
        &e,
        name,
        ",status=\"__overflow__\"",
        &[("0.5", 0.0), ("1", 0.0), ("+Inf", 2.0)],
        6.0,
    );
    let m = e.metrics();
    for (status, want) in [("200", 1.75), ("500", 0.75), ("__overflow__", 6.0)] {
        let s = series(
            "vitals_log_pattern_sum_total",
            &format!(",status=\"{status}\""),
        );
        assert_eq!(sample(&m, &s), Some(want), "{s}\n{m}");
    }
    assert!(!m.contains("status=\"503\""), "{m}");
}

/// `deploy/examples/<name>` with its paths pointed at `log`.
fn example(name: &str, log: &Path) -> String {
    let text = std::fs::read_to_string(format!("deploy/examples/{name}")).unwrap();
    let paths: Vec<&str> = text.lines().filter(|l| l.contains("paths:")).collect();
    assert_eq!(paths.len(), 1, "{name}: one log");
    text.replace(paths[0], &format!("    paths: ['{}']", log.display()))
}

#[test]
fn shipped_examples_pass_config_check() {
    for name in ["nginx.yaml", "json-duration.yaml"] {
        let file = format!("deploy/examples/{name}");
        let (code, out, err) = run_bin(&["--config.check", "--config.file", &file]);
        assert_eq!((code, err.as_str()), (0, ""), "{file}");
        assert_eq!(out, format!("{file}: OK (0 services, 1 logs)\n"));
    }
}

#[test]
fn nginx_example_latency_by_status_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, b"");
    let e = Exporter::start(&example("nginx.yaml", &log));
    append(
        &log,
        concat!(
            "10.0.0.1 - - [29/Nov/2026:22:00:00 +0000] \"GET /api HTTP/1.1\" 200 512 \"-\" \"curl/8.5.0\" 0.004\n",
            "10.0.0.2 - alice [29/Nov/2026:22:00:01 +0000] \"POST /api/x HTTP/2.0\" 200 1024 \"https://a.example/\" \"Mozilla/5.0 (X11; \\x22quoted\\x22)\" 0.030\n",
            "10.0.0.3 - - [29/Nov/2026:22:00:02 +0000] \"GET /slow HTTP/1.1\" 504 0 \"-\" \"-\" 12.000\n",
            "10.0.0.3 - - [29/Nov/2026:22:00:03 +0000] \"\\x16\\x03\\x01\" 400 150 \"-\" \"-\" 0.000\n",
        )
        .as_bytes(),
    );
    let name = "vitals_log_pattern_value_seconds";
    let labels = |status: &str| format!("{{log=\"nginx\",pattern=\"requests\",status=\"{status}\"");
    e.wait_value(&format!("{name}_count{}}}", labels("200")), 2.0);
    let m = e.metrics();
    let want = [
        (
            format!("{name}_bucket{},le=\"0.005\"}}", labels("200")),
            1.0,
        ),
        (
            format!("{name}_bucket{},le=\"0.025\"}}", labels("200")),
            1.0,
        ),
        (format!("{name}_bucket{},le=\"0.05\"}}", labels("200")), 2.0),
        (format!("{name}_sum{}}}", labels("200")), 0.004 + 0.030),
        (format!("{name}_bucket{},le=\"10\"}}", labels("504")), 0.0),
        (format!("{name}_bucket{},le=\"+Inf\"}}", labels("504")), 1.0),
        (
            format!("{name}_bucket{},le=\"0.005\"}}", labels("400")),
            1.0,
        ),
        (
            format!("vitals_log_pattern_sum_bytes_total{}}}", labels("200")),
            1536.0,
        ),
        (
            format!("vitals_log_pattern_sum_bytes_total{}}}", labels("400")),
            150.0,
        ),
        (
            "vitals_log_pattern_value_parse_errors_total{log=\"nginx\",pattern=\"requests\"}"
                .to_string(),
            0.0,
        ),
    ];
    for (s, v) in want {
        assert_eq!(sample(&m, &s), Some(v), "{s}\n{m}");
    }
}

#[test]
fn json_duration_example_scales_milliseconds_to_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("orders.log");
    append(&log, b"");
    let e = Exporter::start(&example("json-duration.yaml", &log));
    append(
        &log,
        b"{\"level\":\"info\",\"msg\":\"GET /api/orders\",\"status\":200,\"duration_ms\":12.5}\n{\"level\":\"info\",\"duration_ms\": 250}\n{\"level\":\"error\",\"duration_ms\":\"n/a\"}\n{\"level\":\"info\",\"msg\":\"no duration\"}\n",
    );
    let labels = "{log=\"orders\",pattern=\"requests\"";
    let name = "vitals_log_pattern_value_seconds";
    e.wait_value(&format!("{name}_count{labels}}}"), 2.0);
    let m = e.metrics();
    for (s, v) in [
        (format!("{name}_bucket{labels},le=\"0.01\"}}"), 0.0),
        (format!("{name}_bucket{labels},le=\"0.025\"}}"), 1.0),
        (format!("{name}_bucket{labels},le=\"0.25\"}}"), 2.0),
        (
            format!("{name}_sum{labels}}}"),
            12.5 * 0.001 + 250.0 * 0.001,
        ),
        (
            format!("vitals_log_pattern_value_parse_errors_total{labels}}}"),
            0.0,
        ),
    ] {
        assert_eq!(sample(&m, &s), Some(v), "{s}\n{m}");
    }
}

#[test]
fn reload_restarts_changed_histograms_and_drops_removed_values() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, b"");
    let entry = |numbers: &str| {
        format!(
            "logs:\n  - name: app\n    paths: ['{}']\n    patterns:\n      - name: rt\n        regex: 'status=(?P<status>\\d+) rt=(?P<rt>[0-9.]+)'\n        labels: [status]\n{numbers}",
            log.display()
        )
    };
    let e = Exporter::start(&entry(
        "        value: {group: rt, buckets: [1]}\n        sum: {group: rt}\n",
    ));
    let reload = |yaml: String| e.reload_with(&yaml);
    let name = "vitals_log_pattern_value_seconds";
    let labels = ",status=\"200\"";
    append(&log, b"status=200 rt=0.5\n");
    assert_histogram(&e, name, labels, &[("1", 1.0), ("+Inf", 1.0)], 0.5);

    // New buckets: the series starts afresh with them; the sum is kept.
    reload(entry(
        "        value: {group: rt, buckets: [0.25, 1]}\n        sum: {group: rt}\n",
    ));
    append(&log, b"status=200 rt=0.75\n");
    assert_histogram(
        &e,
        name,
        labels,
        &[("0.25", 0.0), ("1", 1.0), ("+Inf", 1.0)],
        0.75,
    );
    let sum = series("vitals_log_pattern_sum_seconds_total", labels);
    assert_eq!(e.value(&sum), Some(1.25));

    // value: and sum: removed: their series and the error counter go.
    reload(entry(""));
    append(&log, b"status=200 rt=1\n");
    e.wait_value(&series("vitals_log_pattern_matches_total", labels), 3.0);
    let m = e.metrics();
    for gone in [
        "vitals_log_pattern_value_seconds",
        "vitals_log_pattern_sum_seconds_total",
        "vitals_log_pattern_value_parse_errors_total{",
    ] {
        assert!(!m.contains(gone), "{gone} still exposed:\n{m}");
    }
}
