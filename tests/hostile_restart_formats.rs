//! Container messages split into partial records across an exporter
//! restart: the head read before the stop is joined again with the tail
//! written after it, counted once, and never from another file. And across
//! a rotation while running or a copytruncate, where the tail is in the
//! file that replaces the head's, or at the start of the truncated one.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn series(name: &str) -> String {
    format!("vitals_log_{name}_total{{log=\"app\"}}")
}

/// A log `app` following `dir/*.log` with positions kept in `storage`.
struct Restarts {
    dir: tempfile::TempDir,
    storage: tempfile::TempDir,
    log: PathBuf,
    extra: String,
}

impl Restarts {
    fn new(extra: &str) -> Restarts {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, b"");
        Restarts {
            dir,
            storage: tempfile::tempdir().unwrap(),
            log,
            extra: extra.to_string(),
        }
    }

    fn yaml(&self, more: &str) -> String {
        format!(
            "logs:\n  - name: app\n    paths: ['{}/*.log']\n{}{more}",
            self.dir.path().display(),
            self.extra
        )
    }

    fn start(&self) -> Exporter {
        let e = Exporter::start_with(
            &self.yaml(""),
            &["--storage.path", self.storage.path().to_str().unwrap()],
            tempfile::tempdir().unwrap(),
        );
        e.wait_value("vitals_log_files_followed{log=\"app\"}", 1.0);
        e
    }

    /// Appends `records` one write each; waits until `e` has read them all.
    fn write(&self, e: &Exporter, records: &[String]) {
        for r in records {
            append(&self.log, r.as_bytes());
        }
        let size = std::fs::metadata(&self.log).unwrap().len();
        e.wait_value(&series("read_bytes"), size as f64);
    }
}

fn write_all(path: &Path, records: &[String]) {
    for r in records {
        append(path, r.as_bytes());
    }
}

/// Two streams interleaved: stdout's message is split across the stop
/// with its level in the head; stderr completes two messages before the
/// stop (their records lie between stdout's head and the stop, and are not
/// joined again) and starts a third whose level is in the tail.
fn split_across_a_restart(format: &str) {
    let r = Restarts::new(&format!("    format: {format}\n    inner_format: json\n"));
    let rec = |stream, tag, msg| container_record(format, stream, tag, msg);
    let mut e = r.start();
    r.write(
        &e,
        &[
            rec("stdout", "P", r#"{"level":"error","msg":"disk "#),
            rec("stderr", "F", r#"{"level":"warn","msg":"slow"}"#),
            rec("stderr", "P", r#"{"level":"info","msg":"ERR"#),
            rec("stdout", "P", "almost "),
            rec("stderr", "F", r#"OR budget ok"}"#),
            rec("stderr", "P", r#"{"msg":"retry "#),
        ],
    );
    wait_levels(&e, "app", (0, 1, 1));
    e.stop();
    write_all(
        &r.log,
        &[
            rec("stdout", "F", r#"full"}"#),
            rec("stderr", "F", r#"later","level":"warning"}"#),
            rec("stdout", "F", r#"{"level":"info"}"#),
        ],
    );
    let e = r.start();
    wait_levels(&e, "app", (1, 1, 1));
    assert_eq!(e.value(&series("parse_errors")), Some(0.0), "{}", e.log());
    assert_eq!(e.value(&series("long_lines")), Some(0.0));
}

#[test]
fn cri_message_split_across_a_restart_is_joined_whole() {
    split_across_a_restart("cri");
}

#[test]
fn docker_message_split_across_a_restart_is_joined_whole() {
    split_across_a_restart("docker");
}

/// A message already counted as a long line (a record of it was cut)
/// before the stop is not counted again after it; one that only becomes
/// too long with the records written after the restart is counted once.
#[test]
fn a_long_message_across_a_restart_is_one_long_line() {
    let r = Restarts::new("    format: cri\n    max_line_bytes: 100\n");
    let mut e = r.start();
    r.write(
        &e,
        &[
            container_record(
                "cri",
                "stdout",
                "P",
                &format!("WARNING {}", "x".repeat(150)),
            ),
            container_record("cri", "stderr", "P", &format!("ERROR {}", "e".repeat(60))),
        ],
    );
    e.wait_value(&series("long_lines"), 1.0);
    e.stop();
    write_all(
        &r.log,
        &[
            container_record("cri", "stdout", "P", &"y".repeat(50)),
            container_record("cri", "stderr", "P", &"f".repeat(60)),
            container_record("cri", "stdout", "F", "end"),
            container_record("cri", "stderr", "F", "end"),
        ],
    );
    let e = r.start();
    wait_levels(&e, "app", (1, 1, 0));
    assert_eq!(e.value(&series("long_lines")), Some(1.0));
    assert_eq!(e.value(&series("parse_errors")), Some(0.0));
}

/// Another file at the path after the restart: nothing of the old one's
/// pending message is joined to its records.
#[test]
fn a_replaced_file_is_not_joined_to_the_old_head() {
    let r = Restarts::new("    format: cri\n    inner_format: json\n");
    let mut e = r.start();
    r.write(
        &e,
        &[
            container_record("cri", "stderr", "F", r#"{"level":"info"}"#),
            container_record("cri", "stdout", "P", r#"{"level":"error","msg":"a"#),
        ],
    );
    wait_levels(&e, "app", (0, 0, 1));
    e.stop();
    let new = r.dir.path().join("new.tmp");
    write_all(
        &new,
        &[
            container_record("cri", "stderr", "F", r#"{"level":"info","msg":"replaced"}"#),
            container_record("cri", "stdout", "F", r#"{"level":"warn"}"#),
            container_record("cri", "stdout", "F", r#"b"}"#),
        ],
    );
    std::fs::rename(&new, &r.log).unwrap();
    let e = r.start();
    wait_levels(&e, "app", (0, 1, 2));
    assert_eq!(e.value(&series("parse_errors")), Some(1.0));
}

/// Rotated while stopped, with the tail written to the rotated file: the
/// existing recovery reads it by identity, joined with its head.
#[test]
fn a_message_split_across_a_restart_and_a_rotation_is_joined_whole() {
    let r = Restarts::new("    format: cri\n    inner_format: json\n");
    let mut e = r.start();
    r.write(
        &e,
        &[
            container_record("cri", "stdout", "P", r#"{"level":"error","msg":"a"#),
            container_record("cri", "stderr", "F", r#"{"level":"info"}"#),
        ],
    );
    wait_levels(&e, "app", (0, 0, 1));
    e.stop();
    append(
        &r.log,
        container_record("cri", "stdout", "F", r#"b"}"#).as_bytes(),
    );
    std::fs::rename(&r.log, r.dir.path().join("app.log.1")).unwrap();
    append(
        &r.log,
        container_record("cri", "stdout", "F", r#"{"level":"warn"}"#).as_bytes(),
    );
    let e = r.start();
    wait_levels(&e, "app", (1, 1, 0));
    assert_eq!(e.value(&series("parse_errors")), Some(0.0));
}

/// A reload that changes the log restarts its follower through the saved
/// positions: a message split across it is joined whole too.
#[test]
fn a_message_split_across_a_reload_is_joined_whole() {
    let r = Restarts::new("    format: cri\n    inner_format: json\n");
    let e = r.start();
    r.write(
        &e,
        &[container_record(
            "cri",
            "stdout",
            "P",
            r#"{"level":"error","msg":"a"#,
        )],
    );
    e.reload_with(&r.yaml("    max_line_bytes: 4096\n"));
    append(
        &r.log,
        container_record("cri", "stdout", "F", r#"b"}"#).as_bytes(),
    );
    wait_levels(&e, "app", (1, 0, 0));
    assert_eq!(e.value(&series("parse_errors")), Some(0.0));
}

/// kubelet rotates a container's log between two records of one long line
/// (renamed away, the runtime reopens a new file): the head, in the file
/// renamed away, is joined with the tail written to the new file and
/// counted once, by the level the head holds.
#[test]
fn a_message_split_across_a_rotation_while_running_is_joined_whole() {
    for format in ["cri", "docker"] {
        let r = Restarts::new(&format!("    format: {format}\n    inner_format: json\n"));
        let rec = |tag, msg| container_record(format, "stdout", tag, msg);
        let e = r.start();
        r.write(
            &e,
            &[
                rec("F", r#"{"level":"info"}"#),
                rec("P", r#"{"level":"err"#),
            ],
        );
        let rotated = r.dir.path().join("app.log.20261130-040000");
        std::fs::rename(&r.log, &rotated).unwrap();
        append(
            &r.log,
            rec("F", r#"or","msg":"cut by the rotation"}"#).as_bytes(),
        );
        append(&r.log, rec("F", r#"{"level":"warn"}"#).as_bytes());
        // Before: the head was dropped with the rotated file and the tail
        // alone counted as a malformed `other` line: (0, 1, 2), 1 error.
        wait_levels(&e, "app", (1, 1, 1));
        assert_eq!(
            e.value(&series("parse_errors")),
            Some(0.0),
            "{format}\n{}",
            e.log()
        );

        // The rotation seen before the new file exists (the runtime reopens
        // it a moment later), and the new file rotated in turn before the
        // message ends: three files, one message. Each record is read
        // before the next rename (a file renamed away before it is ever
        // seen is followed under its new name, outside this chain).
        let mut read = e.value(&series("read_bytes")).unwrap_or(0.0);
        let mut write = |record: String| {
            append(&r.log, record.as_bytes());
            read += record.len() as f64;
            e.wait_value(&series("read_bytes"), read);
        };
        write(rec("P", r#"{"msg":"a","#));
        for (k, piece) in [r#""level":"#, r#""warning"}"#].iter().enumerate() {
            let rotations = e.value(&series("rotations")).unwrap_or(0.0);
            std::fs::rename(&r.log, r.dir.path().join(format!("app.log.{k}"))).unwrap();
            e.wait_value(&series("rotations"), rotations + 1.0);
            write(rec(if k == 0 { "P" } else { "F" }, piece));
        }
        wait_levels(&e, "app", (1, 2, 1));
        assert_eq!(e.value(&series("parse_errors")), Some(0.0), "{format}");
    }
}

/// logrotate's copytruncate on a docker json-file log between two records
/// of one long line: the head is read from the copy, the tail is written
/// to the truncated file from its start, and the message is counted once.
#[test]
fn a_message_split_across_a_copytruncate_is_joined_whole() {
    for format in ["cri", "docker"] {
        let r = Restarts::new(&format!("    format: {format}\n    inner_format: json\n"));
        let rec = |tag, msg| container_record(format, "stdout", tag, msg);
        let mut e = r.start();
        r.write(
            &e,
            &[
                rec("F", r#"{"level":"info"}"#),
                rec("P", r#"{"level":"err"#),
            ],
        );
        // The last record reaches only the copy: read there, not lost.
        append(&r.log, rec("P", r#"or","#).as_bytes());
        copytruncate(&r.log, &r.dir.path().join("app.log.1"));
        append(
            &r.log,
            rec("F", r#""msg":"cut by copytruncate"}"#).as_bytes(),
        );
        append(&r.log, rec("F", r#"{"level":"warn"}"#).as_bytes());
        // Before: the head was left in the copy and the tail alone counted
        // as a malformed `other` line: (0, 1, 2), 1 error.
        wait_levels(&e, "app", (1, 1, 1));
        assert_eq!(e.value(&series("parse_errors")), Some(0.0), "{format}");
        e.wait_value(&series("truncations"), 1.0);

        // The same while the exporter is stopped: the head read before the
        // stop is joined again in the copy, the tail read after the start.
        let read = e.value(&series("read_bytes")).unwrap_or(0.0);
        let head = rec("P", r#"{"level":"warn"#);
        append(&r.log, head.as_bytes());
        e.wait_value(&series("read_bytes"), read + head.len() as f64);
        e.stop();
        append(&r.log, rec("P", r#"ing","#).as_bytes());
        copytruncate(&r.log, &r.dir.path().join("app.log.2"));
        append(&r.log, rec("F", r#""msg":"cut while stopped"}"#).as_bytes());
        // A new process counts from zero: the one joined message only
        // (before: its tail alone, malformed, (0, 0, 1)).
        let e = r.start();
        wait_levels(&e, "app", (0, 1, 0));
        assert_eq!(e.value(&series("parse_errors")), Some(0.0), "{format}");
    }
}
