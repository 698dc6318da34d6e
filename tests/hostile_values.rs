//! Hostile numbers for patterns' `value:` and `sum:`: magnitudes that are
//! finite alone but whose sum is not. A histogram's `_sum` and a summed
//! counter stay finite (promtool-clean, usable by `rate()`), whatever the
//! log writes.

mod common;

use common::*;

#[test]
fn huge_numbers_never_make_an_infinite_sum() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, b"");
    let e = Exporter::start(&format!(
        "logs:\n  - name: app\n    paths: ['{}']\n    patterns:\n      - name: rt\n        regex: 'rt=(?P<v>\\S+)'\n        value: {{group: v, unit: none, buckets: [1]}}\n        sum: {{group: v, unit: none}}\n",
        log.display()
    ));
    let errors = "vitals_log_pattern_value_parse_errors_total{log=\"app\",pattern=\"rt\"}";
    e.wait_value(errors, 0.0);
    // Each is a finite f64; two of them added are not. `-0`, `.5` and `5.`
    // are ordinary numbers.
    append(
        &log,
        b"rt=1e308\nrt=1.7e308\nrt=-1e308\nrt=1e400\nrt=-0\nrt=.5\nrt=5.\nrt=1e308\n",
    );
    // 1e308 (twice), 1.7e308, -1e308 and 1e400 are each refused by both
    // the histogram and the sum: 10 errors.
    e.wait_value(errors, 10.0);
    let m = e.metrics();
    let get = |s: &str| sample(&m, s);
    let labels = "{log=\"app\",pattern=\"rt\"}";
    assert_eq!(
        get(&format!("vitals_log_pattern_value_count{labels}")),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        get(&format!("vitals_log_pattern_value_sum{labels}")),
        Some(5.5),
        "{m}"
    );
    assert_eq!(
        get(&format!("vitals_log_pattern_sum_total{labels}")),
        Some(5.5),
        "{m}"
    );
    assert_eq!(promtool_check_metrics(&m), "");
}

#[test]
fn a_label_named_le_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A second `le` on histogram series: Prometheus would fail the scrape.
    let cfg = format!(
        "logs:\n  - name: app\n    paths: ['{}/*.log']\n    patterns:\n      - name: rt\n        regex: 'rt=(?P<v>\\S+) (?P<le>\\S+)'\n        labels: [le]\n        value: {{group: v}}\n",
        dir.path().display()
    );
    let path = write_file(dir.path(), "c.yaml", &cfg);
    let (code, _, err) = run_bin(&["--config.check", "--config.file", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let want = format!(
        "{}:7:18: logs[0].patterns[0].labels[0]: \"le\" is reserved; rename the capture group",
        path.display()
    );
    assert!(err.contains(&want), "want {want}\n{err}");
}

/// `max_series` of a pattern with capture labels lowered by a reload: the
/// label sets past the new cap (the newest) are frozen, keeping what they
/// counted (a histogram cannot be folded into another), and their further
/// matches count in `__overflow__`. Before, a set once created took
/// matches whatever the cap.
#[test]
fn reload_lowering_max_series_freezes_the_newest_label_sets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, b"");
    let config = |max: usize| {
        format!(
            "logs:\n  - name: app\n    paths: ['{}']\n    patterns:\n      - name: rt\n        regex: 'rt=(?P<v>\\S+) k=(?P<k>\\S+)'\n        labels: [k]\n        max_series: {max}\n        value: {{group: v, unit: none, buckets: [1]}}\n        sum: {{group: v, unit: none}}\n",
            log.display()
        )
    };
    let e = Exporter::start(&config(5));
    let series = |name: &str, k: &str| format!("{name}{{log=\"app\",pattern=\"rt\",k=\"{k}\"}}");
    let matches = |k: &str| series("vitals_log_pattern_matches_total", k);
    append(&log, b"rt=0.5 k=a\nrt=0.5 k=b\nrt=0.5 k=c\n");
    e.wait_value(&matches("c"), 1.0);
    e.reload_with(&config(1));
    append(&log, b"rt=2 k=a\nrt=2 k=b\nrt=2 k=c\nrt=2 k=d\n");
    e.wait_value(&matches("__overflow__"), 3.0);
    let m = e.metrics();
    let get = |s: &str| sample(&m, s);
    for (k, n, sum) in [
        ("a", 2.0, 2.5),
        ("b", 1.0, 0.5),
        ("c", 1.0, 0.5),
        ("__overflow__", 3.0, 6.0),
    ] {
        assert_eq!(get(&matches(k)), Some(n), "{k}\n{m}");
        let count = series("vitals_log_pattern_value_count", k);
        assert_eq!(get(&count), Some(n), "{k}\n{m}");
        let total = series("vitals_log_pattern_sum_total", k);
        assert_eq!(get(&total), Some(sum), "{k}\n{m}");
    }
    let overflow = "vitals_log_pattern_overflow_matches_total{log=\"app\",pattern=\"rt\"}";
    assert_eq!(get(overflow), Some(3.0), "{m}");
    assert_eq!(promtool_check_metrics(&m), "");
}

#[test]
fn near_miss_floods_and_long_numbers_keep_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, b"");
    // Begins like the nginx example: every `"` is a prefilter candidate,
    // refused by its first bytes or by the one-pass search.
    let e = Exporter::start(&format!(
        "logs:\n  - name: web\n    paths: ['{}']\n    patterns:\n      - name: req\n        regex: '\" (?P<s>[1-5][0-9][0-9]) (?P<rt>[0-9.]+)$'\n        labels: [s]\n        value: {{group: rt, unit: seconds, buckets: [1]}}\n",
        log.display()
    ));
    let mut text = b"\" 1".repeat(200_000);
    text.extend_from_slice(b"\n");
    text.extend_from_slice(&b"\"\"\" 20".repeat(100_000));
    text.extend_from_slice(b"\n");
    // The exact decimal path, then past it: 2^53 + 1 (rounds to even) and
    // 21 digits, which `str::parse` reads.
    text.extend_from_slice(
        b"a\" 200 0.1\na\" 200 0.2\nb\" 404 9007199254740993\nc\" 200 000000000000000000000.5\n",
    );
    append(&log, &text);
    let count = |s: &str| {
        format!("vitals_log_pattern_value_seconds_count{{log=\"web\",pattern=\"req\",s=\"{s}\"}}")
    };
    e.wait_value(&count("200"), 3.0);
    e.wait_value(&count("404"), 1.0);
    let m = e.metrics();
    let sum = |s: &str| {
        sample(
            &m,
            &format!(
                "vitals_log_pattern_value_seconds_sum{{log=\"web\",pattern=\"req\",s=\"{s}\"}}"
            ),
        )
    };
    assert_eq!(sum("200"), Some(0.1 + 0.2 + 0.5), "{m}");
    assert_eq!(sum("404"), Some(9_007_199_254_740_992.0), "{m}");
    assert_eq!(
        sample(
            &m,
            "vitals_log_pattern_matches_total{log=\"web\",pattern=\"req\",s=\"200\"}"
        ),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "vitals_log_lines_total{log=\"web\",level=\"other\"}"),
        Some(6.0),
        "{m}"
    );
}

/// The shipped nginx pattern is matched without an automaton (a plain
/// sequence, `logs/matcher/sequence.rs`): what the regex crate decides for
/// odd bytes must still hold, line by line.
#[test]
fn the_nginx_example_keeps_regex_semantics_on_odd_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, b"");
    let nginx = std::fs::read_to_string("deploy/examples/nginx.yaml")
        .unwrap()
        .replace("/var/log/nginx/access.log", log.to_str().unwrap());
    let e = Exporter::start(&nginx);
    let head = b"::1 - - [30/Nov/2026:03:00:00 +0000] \"GET / HTTP/1.1\" ";
    let line = |tail: &[u8]| [&head[..], tail, b"\n"].concat();
    let mut text = Vec::new();
    // Counted: UTF-8 in the user agent, nginx's `\x22` for a quote, CRLF.
    text.extend(line("200 10 \"-\" \"caf\u{e9} agent\" 0.5".as_bytes()));
    text.extend(line(br#"200 20 "-" "say \x22hi\x22" 0.25"#));
    let mut crlf = line(br#"404 30 "-" "curl" 2"#);
    crlf.insert(crlf.len() - 1, b'\r');
    text.extend(crlf);
    // Not counted: a byte that is not UTF-8 (`[^"\n]` is a Unicode class),
    // a four-digit status, a value followed by more text, a user agent
    // left open for 1 MiB (then a counted line: no state carried over).
    text.extend(line(b"200 40 \"-\" \"bad \xff byte\" 0.5"));
    text.extend(line(br#"2000 50 "-" "curl" 0.5"#));
    text.extend(line(br#"200 60 "-" "curl" 0.5 extra"#));
    let mut open = line(br#"200 70 "-" ""#);
    open.splice(open.len() - 1.., vec![b'a'; 1 << 20]);
    open.push(b'\n');
    text.extend(open);
    text.extend(line(br#"500 80 "-" "curl" 1"#));
    append(&log, &text);
    let series = |name: &str, status: &str| {
        format!(
            "vitals_log_pattern_{name}{{log=\"nginx\",pattern=\"requests\",status=\"{status}\"}}"
        )
    };
    e.wait_value(&series("value_seconds_count", "500"), 1.0);
    let m = e.metrics();
    let get = |s: String| sample(&m, &s);
    assert_eq!(get(series("value_seconds_count", "200")), Some(2.0), "{m}");
    assert_eq!(get(series("value_seconds_sum", "200")), Some(0.75), "{m}");
    assert_eq!(get(series("sum_bytes_total", "200")), Some(30.0), "{m}");
    assert_eq!(get(series("value_seconds_sum", "404")), Some(2.0), "{m}");
    assert_eq!(get(series("sum_bytes_total", "500")), Some(80.0), "{m}");
    assert_eq!(
        sample(&m, "vitals_log_lines_total{log=\"nginx\",level=\"other\"}"),
        Some(8.0),
        "{m}"
    );
}
