//! Structured and container log formats through the real binary: lines
//! written in pieces, levels from fields (never from message words),
//! malformed lines, joined container records, rotation and restart.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// One log `app` following `dir/*.log` with `extra` keys.
fn config(dir: &Path, extra: &str) -> String {
    format!(
        "logs:\n  - name: app\n    paths: ['{}/*.log']\n{extra}",
        dir.display()
    )
}

fn series(name: &str) -> String {
    format!("vitals_log_{name}_total{{log=\"app\"}}")
}

/// An exporter following an empty `app.log` in a fresh directory.
fn follow(extra: &str) -> (Exporter, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, b"");
    let e = Exporter::start(&config(dir.path(), extra));
    e.wait_value("vitals_log_files_followed{log=\"app\"}", 1.0);
    (e, dir, log)
}

/// Writes `text` in pieces cut at every offset of `cuts`, letting the
/// follower read each piece before the next.
fn write_in_pieces(e: &Exporter, log: &Path, text: &[u8], cuts: &[usize]) {
    let mut from = 0;
    let mut read = e.value(&series("read_bytes")).unwrap_or(0.0);
    for &at in cuts.iter().chain([&text.len()]) {
        append(log, &text[from..at]);
        read += (at - from) as f64;
        e.wait_value(&series("read_bytes"), read);
        from = at;
    }
}

#[test]
fn json_levels_come_from_the_field_whatever_the_pieces() {
    let (e, _dir, log) = follow("    format: json\n");
    let text = concat!(
        r#"{"level":"info","msg":"ERROR budget ok"}"#,
        "\n",
        r#"{"level":"error","msg":"disk full"}"#,
        "\n",
        r#"{"msg":"retrying after WARNING", "level": "WARN"}"#,
        "\n",
        r#"{"lvl":50,"msg":"bunyan error"}"#,
        "\n",
        r#"{"severity":"4"}"#,
        "\n",
        r#"{"log":{"level":"crit"},"level_x":"info"}"#,
        "\n",
        r#"{"level":"\u0045RROR","msg":"escaped"}"#,
        "\n",
        r#"{"msg":"no level field, ERROR token"}"#,
        "\n",
        r#"{"msg":"no level field, quiet"}"#,
        "\n",
        r#"{"level":"debug","nested":{"level":"error"},"list":[{"level":"error"}]}"#,
        "\n",
        r#"{"level":"error","msg":"unterminated}"#,
        "\n",
        "not json at all ERROR\n",
    );
    // Cut mid-key, mid-value, mid-escape and just before a newline.
    write_in_pieces(
        &e,
        &log,
        text.as_bytes(),
        &[3, 12, 50, 61, 200, 243, 244, 300],
    );
    // error: disk full, lvl 50, log.level crit, \u0045RROR, the ERROR token
    // fallback; warning: WARN, severity 4; other: the rest, 2 malformed.
    wait_levels(&e, "app", (5, 2, 5));
    assert_eq!(e.value(&series("parse_errors")), Some(2.0));
    assert_eq!(e.value(&series("long_lines")), Some(0.0));
}

#[test]
fn logfmt_with_quoted_values_and_escaped_quotes() {
    let (e, _dir, log) = follow(
        "    format: logfmt\n    patterns:\n      - {name: budget, regex: 'ERROR budget', field: msg}\n      - {name: anywhere, regex: 'ERROR budget'}\n",
    );
    let text = concat!(
        "ts=1 level=info msg=\"ERROR budget ok\"\n",
        "ts=2 level=error msg=\"said \\\"level=info\\\" here\"\n",
        "ts=3 msg=\"level=error in the message\" lvl=\"warning\"\n",
        "ts=4 level=\"\\u0065rror\"\n",
        "ts=5 level=info note=\"ERROR budget\" msg=fine\n",
        "ts=6 level=\"unclosed\n",
        "ts=7 msg=plain WARNING\n",
    );
    write_in_pieces(&e, &log, text.as_bytes(), &[5, 30, 52, 53, 120]);
    // error: ts=2, ts=4; warning: ts=3, ts=7 (no level field: token rule);
    // other: ts=1, ts=5, ts=6 (malformed).
    wait_levels(&e, "app", (2, 2, 3));
    assert_eq!(e.value(&series("parse_errors")), Some(1.0));
    let m = e.metrics();
    let matches = |p: &str| {
        sample(
            &m,
            &format!("vitals_log_pattern_matches_total{{log=\"app\",pattern=\"{p}\"}}"),
        )
    };
    assert_eq!(matches("budget"), Some(1.0));
    assert_eq!(matches("anywhere"), Some(2.0));
}

#[test]
fn cri_partial_records_are_joined_across_writes_and_streams() {
    let (e, _dir, log) = follow("    format: cri+json\n    max_line_bytes: 100\n");
    let text = concat!(
        "2026-11-29T10:00:00.000000001Z stdout P {\"level\":\"err\n",
        "2026-11-29T10:00:00.000000002Z stderr F {\"level\":\"warn\",\"msg\":\"between\"}\n",
        "2026-11-29T10:00:00.000000003Z stdout P or\",\"msg\":\"ERROR\n",
        "2026-11-29T10:00:00.000000004Z stdout F  joined\"}\n",
        "2026-11-29T10:00:00.000000005Z stdout F {\"level\":\"info\",\"msg\":\"ERROR budget ok\"}\n",
        "2026-11-29T10:00:00.000000006Z stdout F \n",
        "garbage record\n",
        "2026-11-29T10:00:00.000000007Z stdout P {\"level\":\"info\",\"msg\":\"",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
        "2026-11-29T10:00:00.000000008Z stdout F aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n",
    );
    write_in_pieces(&e, &log, text.as_bytes(), &[20, 60, 100, 150, 151, 400]);
    // error: the joined stdout line; warning: stderr's line between its
    // parts; other: the info decoy, the empty message (blank: not a parse error),
    // the garbage record (a parse error) and the joined line cut at 100 bytes
    // (101 bytes: a long line, not a parse error).
    wait_levels(&e, "app", (1, 1, 4));
    assert_eq!(e.value(&series("parse_errors")), Some(1.0));
    assert_eq!(e.value(&series("long_lines")), Some(1.0));
}

#[test]
fn docker_records_are_decoded_and_joined() {
    let (e, _dir, log) = follow("    format: docker\n");
    let text = concat!(
        r#"{"log":"ERROR part one, ","stream":"stderr","time":"2026-11-29T10:00:00Z"}"#,
        "\n",
        r#"{"log":"INFO between\n","stream":"stdout","time":"2026-11-29T10:00:00Z"}"#,
        "\n",
        r#"{"log":"part two\n","stream":"stderr","time":"2026-11-29T10:00:01Z"}"#,
        "\n",
        r#"{"log":"\u0057ARNING escaped\n","stream":"stdout","time":"2026-11-29T10:00:02Z"}"#,
        "\n",
        r#"{"log":"no stream\n","time":"2026-11-29T10:00:02Z"}"#,
        "\n",
    );
    write_in_pieces(&e, &log, text.as_bytes(), &[10, 90, 91, 200]);
    wait_levels(&e, "app", (1, 1, 2));
    assert_eq!(e.value(&series("parse_errors")), Some(1.0));
}

#[test]
fn a_5_mb_json_line_counts_once() {
    let big = |level: &str| {
        let mut line = format!(r#"{{"level":"{level}","msg":""#).into_bytes();
        line.resize(5 << 20, b'x');
        line.extend_from_slice(b"\"}\n");
        line
    };
    let (e, _dir, log) = follow("    format: json\n    max_line_bytes: 8388608\n");
    let line = big("error");
    write_in_pieces(&e, &log, &line, &[1 << 20, 3 << 20]);
    wait_levels(&e, "app", (1, 0, 0));
    assert_eq!(e.value(&series("long_lines")), Some(0.0));

    // Past the default 1 MiB cap: one long line, other, not a parse error.
    let (e, _dir, log) = follow("    format: json\n");
    write_in_pieces(&e, &log, &big("error"), &[3 << 20]);
    append(&log, b"{\"level\":\"warn\"}\n");
    wait_levels(&e, "app", (0, 1, 1));
    assert_eq!(e.value(&series("long_lines")), Some(1.0));
    assert_eq!(e.value(&series("parse_errors")), Some(0.0));
}

fn cri(stream: &str, tag: &str, msg: &str) -> String {
    container_record("cri", stream, tag, msg)
}

#[test]
fn cri_rotation_and_restart_keep_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, b"");
    let start = || {
        Exporter::start_with(
            &config(dir.path(), "    format: cri+json\n"),
            &["--storage.path", storage.path().to_str().unwrap()],
            tempfile::tempdir().unwrap(),
        )
    };
    let mut e = start();
    e.wait_value("vitals_log_files_followed{log=\"app\"}", 1.0);
    append(&log, cri("stdout", "F", r#"{"level":"error"}"#).as_bytes());
    append(&log, cri("stdout", "P", r#"{"level":"#).as_bytes());
    // Rotated while a message is partial: the old file is read to its end,
    // and the message goes on in the new file (the runtime's next record
    // of that stream), joined whole.
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, cri("stdout", "F", r#""warn"}"#).as_bytes());
    wait_levels(&e, "app", (1, 1, 0));
    let head = cri("stdout", "P", r#"{"level":"info","msg":""#);
    append(&log, head.as_bytes());
    let written = [r#"{"level":"error"}"#, r#"{"level":"#, r#""warn"}"#]
        .iter()
        .map(|m| cri("stdout", "F", m).len())
        .sum::<usize>()
        + head.len();
    e.wait_value(&series("read_bytes"), written as f64);
    e.stop();
    // A message spanning the restart: its head, read before the stop, is
    // read again and joined to its tail (tests/hostile_restart_formats.rs).
    append(&log, cri("stdout", "F", r#"x"}"#).as_bytes());
    append(&log, cri("stderr", "F", r#"{"level":"fatal"}"#).as_bytes());
    let e = start();
    wait_levels(&e, "app", (1, 0, 1));
    assert_eq!(e.value(&series("parse_errors")), Some(0.0));
}

/// A line at level `l` (0 error, 1 warning, 2 other) in a random style,
/// with message words that claim another level.
fn random_line(rng: &mut Rng, l: usize) -> String {
    let names = [
        ["error", "ERR", "fatal", "Critical", "50", "3"],
        ["warn", "WARNING", "Warn", "40", "4", "warning"],
        ["info", "debug", "INFO", "30", "6", "trace"],
    ];
    let decoys = [
        "ERROR budget ok",
        "WARNING: none",
        "level=error",
        "{\\\"level\\\":\\\"error\\\"}",
        "all fine",
        "retrying after error",
    ];
    let name = names[l][rng.below(6)];
    let decoy = decoys[rng.below(decoys.len())];
    let numeric = name.bytes().all(|b| b.is_ascii_digit());
    match rng.below(4) {
        0 if numeric => format!(
            r#"{{"ts":{},"level":{name},"msg":"{decoy}"}}"#,
            rng.next_u64() % 1000
        ),
        0 | 1 => format!(r#"{{"msg":"{decoy}","level": "{name}","n":[1,{{"a":null}}]}}"#),
        2 => format!(r#"{{"log":{{"level":"{name}"}},"msg":"{decoy}"}}"#),
        _ => format!(
            r#"ts=1 msg="{}" level={name} x="y z""#,
            decoy.replace("\\\"", "")
        ),
    }
}

#[test]
fn random_lines_in_random_pieces_count_exactly() {
    let (e, _dir, log) = follow("    format: auto\n");
    let mut want = [0i64; 3];
    let mut text = Vec::new();
    for seed in 1..=4u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for _ in 0..500 {
            let l = rng.below(3);
            want[l] += 1;
            text.extend_from_slice(random_line(&mut rng, l).as_bytes());
            text.push(b'\n');
        }
    }
    let mut rng = Rng(42);
    let mut cuts: Vec<usize> = (0..60).map(|_| 1 + rng.below(text.len() - 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    write_in_pieces(&e, &log, &text, &cuts);
    wait_levels(&e, "app", (want[0], want[1], want[2]));
    assert_eq!(e.value(&series("parse_errors")), Some(0.0));
}

#[test]
fn a_message_with_a_cut_record_is_one_long_line() {
    let (e, _dir, log) = follow("    format: cri\n    max_line_bytes: 100\n");
    // A record past max_line_bytes (cut: a long line), then enough to pass
    // the cap again when joined: still the same one long line.
    let text = [
        cri("stdout", "P", &format!("WARNING {}", "x".repeat(150))),
        cri("stdout", "P", &"y".repeat(50)),
        cri("stdout", "F", "end"),
        cri("stdout", "F", &"z".repeat(120)),
    ]
    .concat();
    write_in_pieces(&e, &log, text.as_bytes(), &[70]);
    wait_levels(&e, "app", (0, 1, 1));
    assert_eq!(e.value(&series("long_lines")), Some(2.0));
    assert_eq!(e.value(&series("parse_errors")), Some(0.0));
}
