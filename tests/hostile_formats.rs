//! Hostile input to the structured and container formats: garbage bytes,
//! nesting past any sane depth, a partial record that never ends. The
//! follower counts each line once, never stops, and keeps its memory bounded.

mod common;

use std::path::Path;

use common::*;

fn two_logs(dir: &Path) -> String {
    format!(
        "logs:\n  - name: json\n    paths: ['{d}/j.log']\n    format: json\n  - name: cri\n    paths: ['{d}/c.log']\n    format: cri+json\n",
        d = dir.display()
    )
}

fn parse_errors(e: &Exporter, log: &str) -> Option<f64> {
    e.value(&format!("vitals_log_parse_errors_total{{log=\"{log}\"}}"))
}

/// Lines of seeded random bytes (no ASCII letters, so no level and no
/// token), each starting with 0xFF so that it is neither blank nor JSON.
fn garbage(lines: usize) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut out = Vec::new();
    for _ in 0..lines {
        out.push(0xFF);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for _ in 0..(x % 300) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = (x >> 32) as u8;
            if b != b'\n' && !b.is_ascii_alphabetic() {
                out.push(b);
            }
        }
        out.push(b'\n');
    }
    out
}

#[test]
fn garbage_bytes_are_other_and_parse_errors_and_following_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (j, c) = (dir.path().join("j.log"), dir.path().join("c.log"));
    append(&j, b"");
    append(&c, b"");
    let e = Exporter::start(&two_logs(dir.path()));
    e.wait_value("vitals_log_files_followed{log=\"cri\"}", 1.0);
    let g = garbage(2000);
    for log in [&j, &c] {
        for piece in g.chunks(777) {
            append(log, piece);
        }
    }
    append(&j, b"{\"level\":\"error\"}\n");
    append(&c, b"2026-11-29T10:00:00Z stderr F {\"level\":\"warn\"}\n");
    wait_levels(&e, "json", (1, 0, 2000));
    wait_levels(&e, "cri", (0, 1, 2000));
    assert_eq!(parse_errors(&e, "json"), Some(2000.0));
    assert_eq!(parse_errors(&e, "cri"), Some(2000.0));
}

#[test]
fn deep_nesting_is_malformed_not_a_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("j.log");
    append(&j, b"");
    let e = Exporter::start(&two_logs(dir.path()));
    e.wait_value("vitals_log_files_followed{log=\"json\"}", 1.0);
    let deep = |open: &str, close: &str, n: usize| {
        format!(
            "{{\"level\":\"error\",\"a\":{}1{}}}\n",
            open.repeat(n),
            close.repeat(n)
        )
    };
    // 100 levels are fine; 200 and 100 000 are past the parser's depth.
    append(&j, deep("[", "]", 100).as_bytes());
    append(&j, deep("[", "]", 200).as_bytes());
    append(&j, deep("{\"b\":", "}", 100_000).as_bytes());
    append(&j, "{\"log\":".repeat(100_000).as_bytes());
    append(&j, b"\n{\"level\":\"warn\"}\n");
    wait_levels(&e, "json", (1, 1, 3));
    assert_eq!(parse_errors(&e, "json"), Some(3.0));
}

fn peak_rss_kb(e: &Exporter) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", e.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_partial_record_that_never_ends_stays_within_max_line_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.log");
    append(&c, b"");
    let yaml = format!(
        "logs:\n  - name: cri\n    paths: ['{}/c.log']\n    format: cri\n    max_line_bytes: 1024\n",
        dir.path().display()
    );
    let e = Exporter::start(&yaml);
    e.wait_value("vitals_log_files_followed{log=\"cri\"}", 1.0);
    let before = peak_rss_kb(&e);
    let record = |tag: &str, msg: &str| format!("2026-11-29T10:00:00Z stdout {tag} {msg}\n");
    let first = record("P", "ERROR at the head ");
    append(&c, first.as_bytes());
    let body = record("P", &"x".repeat(400));
    let mut chunk = String::new();
    for _ in 0..1000 {
        chunk.push_str(&body);
    }
    // 64 MB of one message's records.
    let mut written = first.len();
    for _ in 0..150 {
        append(&c, chunk.as_bytes());
        written += chunk.len();
    }
    e.wait_value("vitals_log_read_bytes_total{log=\"cri\"}", written as f64);
    wait_levels(&e, "cri", (0, 0, 0));
    let grown = peak_rss_kb(&e).saturating_sub(before);
    assert!(grown < 16 * 1024, "peak RSS grew by {grown} kB");
    append(&c, record("F", "end").as_bytes());
    wait_levels(&e, "cri", (1, 0, 0));
    assert_eq!(
        e.value("vitals_log_long_lines_total{log=\"cri\"}"),
        Some(1.0)
    );
    assert_eq!(parse_errors(&e, "cri"), Some(0.0));
}
