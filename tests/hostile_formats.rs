//! Hostile input to the structured and container formats: garbage bytes,
//! nesting past any sane depth, a partial record that never ends, a byte
//! order mark. The follower counts each line once, never stops, and keeps
//! its memory bounded.
//!
//! This file is long (one case per attack): a suite is one test binary, and
//! each binary links the whole exporter, so suites are split by subject, not
//! by size.

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

/// Appends `text` in pieces cut every `step` bytes, letting the follower
/// read each piece (`vitals_log_read_bytes_total` of `log`) before the next.
fn write_in_steps(e: &Exporter, log_name: &str, path: &Path, text: &[u8], step: usize) {
    let series = format!("vitals_log_read_bytes_total{{log=\"{log_name}\"}}");
    let mut read = e.value(&series).unwrap_or(0.0);
    for piece in text.chunks(step) {
        append(path, piece);
        read += piece.len() as f64;
        e.wait_value(&series, read);
    }
}

/// Tricky lines for `format: auto`, each with its level (0 error, 1
/// warning, 2 other) and whether it is a parse error.
const EDGE_LINES: &[(&[u8], usize, bool)] = &[
    // JSON: escaped key and value, `\\` right before a closing quote, CRLF,
    // NUL and invalid UTF-8 inside a string, a level given twice.
    (br#"{"l\u0065vel":"\u0045RROR"}"#, 0, false),
    (br#"{"msg":"x\\","level":"warn"}"#, 1, false),
    (b"{\"level\":\"error\"}\r", 0, false),
    (b"{\"level\":\"warn\",\"msg\":\"a\x00b\xff\xfe\"}", 1, false),
    (br#"{"level":"info","level":"error"}"#, 2, false),
    (br#"{"level":"err\u006fr","msg":"a\u2028b"}"#, 0, false),
    // A level key nested in an object other than `log` is not the field;
    // the token rule then finds no token.
    (
        br#"{"a":{"level":"error"},"b":[{"level":"error"}]}"#,
        2,
        false,
    ),
    (br#"{"log":{"level":"warn"},"level":"error"}"#, 0, false),
    (br#"{"log":{"level":"warn"}}"#, 1, false),
    (br#"{"log.level":"warn"}"#, 1, false),
    // Numbers: out of range, negative zero, fractions, strings.
    (br#"{"level":1e400}"#, 2, false),
    (br#"{"level":-0}"#, 2, false),
    (br#"{"level":3}"#, 0, false),
    (br#"{"level":"4"}"#, 1, false),
    (br#"{"level":50.5}"#, 2, false),
    (br#"{"level":"\ud800"}"#, 2, false),
    // Malformed: text after, trailing comma, bad escapes, short literal.
    (br#"{"level":"error"} x"#, 2, true),
    (br#"{"level":"error",}"#, 2, true),
    (br#"{"level":"error","a":"\x"}"#, 2, true),
    (br#"{"level":"error","a":"\u12"}"#, 2, true),
    (br#"{"level":tru}"#, 2, true),
    (br#"{"level":"error","a":[}"#, 2, true),
    // logfmt: empty value, first wins, escaped quotes, CRLF, unicode.
    (b"level= msg=ERROR", 2, false),
    (b"level=error level=info", 0, false),
    (br#"level="warn" msg="a \" ERROR b""#, 1, false),
    (b"level=ERROR\r", 0, false),
    (br#"level="err\u006fr""#, 0, false),
    (br#"msg="x\\" level=warn"#, 1, false),
    (br#"level=warn key="unterminated"#, 2, true),
    (br#"level="warn"x"#, 2, true),
    // Not logfmt under auto (no key before `=`): the token rule.
    (b"=", 2, false),
    (b"= ERROR", 0, false),
    (b"ERROR plain", 0, false),
];

#[test]
fn edge_lines_in_any_pieces_count_by_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    append(&log, b"");
    let e = Exporter::start(&format!(
        "logs:\n  - name: auto\n    paths: ['{}']\n    format: auto\n",
        log.display()
    ));
    e.wait_value("vitals_log_files_followed{log=\"auto\"}", 1.0);
    let mut want = [0i64; 3];
    let mut errors = 0.0;
    let mut text = Vec::new();
    for (line, level, malformed) in EDGE_LINES {
        text.extend_from_slice(line);
        text.push(b'\n');
        want[*level] += 1;
        errors += f64::from(u8::from(*malformed));
    }
    // Whole, then cut every 4 bytes: mid-escape, mid-key, between `\r` and `\n`.
    for step in [text.len(), 4] {
        write_in_steps(&e, "auto", &log, &text, step);
    }
    // A 5000-byte key holding a decoy value.
    let long = format!(
        "{{\"{}\":\"error\",\"level\":\"info\"}}\n",
        "k".repeat(5000)
    );
    write_in_steps(&e, "auto", &log, long.as_bytes(), 1000);
    wait_levels(&e, "auto", (want[0] * 2, want[1] * 2, want[2] * 2 + 1));
    assert_eq!(parse_errors(&e, "auto"), Some(errors * 2.0));
}

#[test]
fn a_docker_record_whose_log_is_not_a_string_is_malformed_not_partial() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d.log");
    append(&d, b"");
    let e = Exporter::start(&format!(
        "logs:\n  - name: docker\n    paths: ['{}']\n    format: docker+json\n",
        d.display()
    ));
    e.wait_value("vitals_log_files_followed{log=\"docker\"}", 1.0);
    append(
        &d,
        concat!(
            r#"{"log":5,"stream":"stdout"}"#,
            "\n",
            r#"{"log":{"level":"warn"},"stream":"stdout"}"#,
            "\n",
            r#"{"log":null,"stream":"stdout"}"#,
            "\n",
            r#"{"log":"{\"level\":\"error\",\"msg\":\"a\u2028b\"}\n","stream":"stdout"}"#,
            "\n",
        )
        .as_bytes(),
    );
    wait_levels(&e, "docker", (1, 0, 3));
    assert_eq!(parse_errors(&e, "docker"), Some(3.0));
}

#[test]
fn a_reload_that_changes_the_format_keeps_positions_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("j.log");
    append(&j, b"");
    let cfg = |format: &str| {
        format!(
            "logs:\n  - name: json\n    paths: ['{}']\n    format: {format}\n",
            j.display()
        )
    };
    let e = Exporter::start(&cfg("plain"));
    e.wait_value("vitals_log_files_followed{log=\"json\"}", 1.0);
    append(&j, b"{\"level\":\"info\",\"msg\":\"ERROR budget\"}\n");
    wait_levels(&e, "json", (1, 0, 0));
    let reloads = |want: f64| {
        e.wait_value("vitals_config_last_reload_successful", 1.0);
        wait_for("reloaded", std::time::Duration::from_secs(30), || {
            e.log().matches("msg=\"configuration reloaded\"").count() as f64 >= want
        });
    };
    std::fs::write(&e.config, cfg("json")).unwrap();
    signal(&e, libc::SIGHUP);
    reloads(1.0);
    // Read once more under JSON it would be other; it is not read again.
    append(&j, b"{\"level\":\"warn\",\"msg\":\"ERROR\"}\n{\"level\":\n");
    wait_levels(&e, "json", (1, 1, 1));
    assert_eq!(parse_errors(&e, "json"), Some(1.0));
    std::fs::write(&e.config, cfg("cri+json")).unwrap();
    signal(&e, libc::SIGHUP);
    reloads(2.0);
    append(&j, b"2026-11-29T10:00:00Z stdout F {\"level\":\"fatal\"}\n");
    wait_levels(&e, "json", (2, 1, 1));
    assert_eq!(parse_errors(&e, "json"), Some(1.0));
}

/// A JSON message at level `l` (0 error, 1 warning, 2 other) whose text
/// claims another level.
fn message(rng: &mut Rng, l: usize) -> String {
    let names = [
        ["error", "FATAL", "\\u0045RROR", "50"],
        ["warn", "WARNING", "w\\u0061rn", "40"],
        ["info", "debug", "\\u0049NFO", "30"],
    ];
    let decoys = [
        "ERROR budget ok",
        "\\\"level\\\":\\\"error\\\"",
        "WARNING \\\\",
        "x",
    ];
    let name = names[l][rng.below(4)];
    let decoy = decoys[rng.below(decoys.len())];
    let pad = "p".repeat(rng.below(300));
    match rng.below(3) {
        0 => format!(r#"{{"msg":"{decoy}","level":"{name}","pad":"{pad}"}}"#),
        1 => format!(r#"{{"log":{{"level":"{name}"}},"msg":"{decoy}{pad}"}}"#),
        _ => format!(r#"{{"l\u0065vel":"{name}","a":[{{"level":"error"}}],"msg":"{decoy}{pad}"}}"#),
    }
}

/// Each message split at random points into partial records, the two
/// streams interleaved, then the bytes written in random pieces: per-level
/// counts equal the model's (the level each message was made with).
#[test]
fn split_container_records_in_random_pieces_match_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let (c, d) = (dir.path().join("c.log"), dir.path().join("d.log"));
    append(&c, b"");
    append(&d, b"");
    let e = Exporter::start(&format!(
        "logs:\n  - name: cri\n    paths: ['{c}']\n    format: cri+json\n  - name: docker\n    paths: ['{d}']\n    format: docker+json\n",
        c = c.display(),
        d = d.display()
    ));
    e.wait_value("vitals_log_files_followed{log=\"docker\"}", 1.0);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut want = [0i64; 3];
    // Per stream, the records of the messages in order.
    let (mut cri_recs, mut docker_recs) = ([vec![], vec![]], [vec![], vec![]]);
    for _ in 0..400 {
        let l = rng.below(3);
        want[l] += 1;
        let m = message(&mut rng, l);
        let stream = rng.below(2);
        let name = ["stdout", "stderr"][stream];
        let mut cuts: Vec<usize> = (0..rng.below(4)).map(|_| rng.below(m.len())).collect();
        cuts.sort_unstable();
        cuts.push(m.len());
        let mut from = 0;
        for (k, &to) in cuts.iter().enumerate() {
            let last = k + 1 == cuts.len();
            let part = &m[from..to];
            from = to;
            let tag = if last { "F" } else { "P" };
            cri_recs[stream].push(format!("2026-11-29T10:00:00.000Z {name} {tag} {part}\n"));
            let escaped = part.replace('\\', "\\\\").replace('"', "\\\"");
            let nl = if last { "\\n" } else { "" };
            docker_recs[stream].push(format!(
                "{{\"log\":\"{escaped}{nl}\",\"stream\":\"{name}\",\"time\":\"2026-11-29T10:00:00Z\"}}\n"
            ));
        }
    }
    for (recs, path, log) in [(cri_recs, &c, "cri"), (docker_recs, &d, "docker")] {
        // Interleave the streams at random, keeping each stream's order.
        let [mut out, mut err] = recs.map(|v| v.into_iter().peekable());
        let mut text = String::new();
        while out.peek().is_some() || err.peek().is_some() {
            let next = match (out.peek().is_some(), err.peek().is_some()) {
                (true, true) if rng.below(2) == 0 => err.next(),
                (true, _) => out.next(),
                _ => err.next(),
            };
            text.push_str(&next.unwrap());
        }
        let series = format!("vitals_log_read_bytes_total{{log=\"{log}\"}}");
        let bytes = text.as_bytes();
        let mut from = 0;
        while from < bytes.len() {
            let to = (from + 1 + rng.below(3000)).min(bytes.len());
            append(path, &bytes[from..to]);
            from = to;
            e.wait_value(&series, from as f64);
        }
        wait_levels(&e, log, (want[0], want[1], want[2]));
        assert_eq!(parse_errors(&e, log), Some(0.0));
    }
}

/// A file that starts with a UTF-8 byte order mark (Windows and .NET
/// loggers write one): the BOM is not part of the first line, so a JSON
/// first line is not a parse error, nor a logfmt one plain text under
/// `auto`. Whether the file was there at start or the BOM is written a
/// byte at a time after; a BOM anywhere else is not skipped.
#[test]
fn a_byte_order_mark_at_the_start_of_a_file_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (j, a) = (dir.path().join("j.log"), dir.path().join("a.log"));
    append(&j, b"\xEF\xBB\xBF{\"level\":\"error\",\"msg\":\"x\"}\n");
    append(&a, b"");
    let e = Exporter::start(&format!(
        "logs:\n  - name: json\n    paths: ['{}']\n    format: json\n    start_at: beginning\n  - name: auto\n    paths: ['{}']\n    format: auto\n    patterns:\n      - {{name: first, regex: '^level=warn'}}\n",
        j.display(),
        a.display()
    ));
    wait_levels(&e, "json", (1, 0, 0));
    e.wait_value("vitals_log_files_followed{log=\"auto\"}", 1.0);
    for b in b"\xEF\xBB\xBF" {
        append(&a, &[*b]);
        // Gives the follower a chance to see each piece; any timing must count the same.
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    append(&a, b"level=warn msg=\"an ERROR\"\n");
    wait_levels(&e, "auto", (0, 1, 0));
    e.wait_value(
        "vitals_log_pattern_matches_total{log=\"auto\",pattern=\"first\"}",
        1.0,
    );
    // Later lines keep their bytes: a BOM there is malformed JSON.
    append(&j, b"\xEF\xBB\xBF{\"level\":\"error\"}\n");
    wait_levels(&e, "json", (1, 0, 1));
    assert_eq!(parse_errors(&e, "json"), Some(1.0));
    assert_eq!(parse_errors(&e, "auto"), Some(0.0));
    assert_eq!(
        e.value("vitals_log_read_bytes_total{log=\"json\"}"),
        Some(52.0)
    );
}
