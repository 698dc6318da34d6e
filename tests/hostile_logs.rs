//! The follower against a hostile filesystem: FIFOs, pseudo files, banners,
//! copies into existing files. The real binary, real files, real inotify;
//! exact counts.
//!
//! This file is long (one case per hostile file kind): a suite is one test
//! binary, and each binary links the whole exporter, so suites are split by
//! subject, not by size.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::*;

fn mkfifo(path: &Path) {
    use rustix::fs::{mknodat, FileType, Mode, CWD};
    mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(0o600), 0).expect("mkfifo");
}

fn series(level: &str) -> String {
    format!("vitals_log_lines_total{{log=\"app\",level=\"{level}\"}}")
}

/// Waits until the error/warning/other counts of log `app` are exactly `want`.
fn wait_levels(e: &Exporter, want: (u64, u64, u64)) {
    let get = || {
        let m = e.metrics();
        let v = |l: &str| sample(&m, &series(l)).unwrap_or(-1.0) as u64;
        (v("error"), v("warning"), v("other"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if get() == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("levels {:?}, want {want:?}\nlog:\n{}", get(), e.log());
}

#[test]
fn fifo_swapped_onto_a_followed_name_never_blocks_the_follower() {
    let d = tempfile::tempdir().unwrap();
    let other = d.path().join("other.log");
    let app = d.path().join("app.log");
    std::fs::write(&other, "").unwrap();
    std::fs::write(&app, "").unwrap();
    let mut e = Exporter::start(&format!(
        "logs:\n  - name: app\n    paths: ['{}/*.log']\n",
        d.path().display()
    ));
    append(&other, b"ERROR 1\nERROR 2\n");
    wait_levels(&e, (2, 0, 0));
    // Swap a fresh regular file and a FIFO onto the followed name as fast
    // as possible: a rescan that stats the regular file then opens the
    // FIFO blocked the thread in open(2) for good.
    let (reg, fifo) = (d.path().join("r.tmp"), d.path().join("f.tmp"));
    for _ in 0..2000 {
        std::fs::write(&reg, "").unwrap();
        std::fs::rename(&reg, &app).unwrap();
        mkfifo(&fifo);
        std::fs::rename(&fifo, &app).unwrap();
    }
    append(&other, b"ERROR 3\nWARNING 4\nINFO 5\n");
    wait_levels(&e, (3, 1, 1));
    assert!(e.stop().success());
}

#[test]
fn proc_and_sys_files_are_refused_not_reread() {
    let d = tempfile::tempdir().unwrap();
    let app = d.path().join("app.log");
    std::fs::write(&app, "").unwrap();
    let e = Exporter::start(&format!(
        "logs:\n  - name: app\n    paths: ['/proc/self/status', '{}']\n    poll_interval: 100ms\n",
        app.display()
    ));
    append(&app, b"INFO x\n");
    wait_levels(&e, (0, 0, 1));
    // Each poll retries the open and counts the refusal: three polls after
    // the line above, nothing of /proc/self/status was counted.
    wait_for("three refused opens", Duration::from_secs(20), || {
        e.value("vitals_log_read_errors_total{log=\"app\"}")
            .is_some_and(|v| v >= 3.0)
    });
    wait_levels(&e, (0, 0, 1));
    assert_eq!(
        e.value("vitals_log_read_bytes_total{log=\"app\"}"),
        Some(7.0)
    );
    assert_eq!(e.value("vitals_log_files_followed{log=\"app\"}"), Some(1.0));
    assert_eq!(
        e.log()
            .matches("a pseudo file on procfs: its size does not describe its content")
            .count(),
        1,
        "{}",
        e.log()
    );
}

#[test]
fn empty_line_pattern_counts_lines_not_reads() {
    let d = tempfile::tempdir().unwrap();
    let app = d.path().join("app.log");
    std::fs::write(&app, "").unwrap();
    let e = Exporter::start(&format!(
        "logs:\n  - name: app\n    paths: ['{}']\n    patterns:\n      - {{name: empty, regex: '^$'}}\n      - {{name: end, regex: '$'}}\n",
        app.display()
    ));
    let mut f = OpenOptions::new().append(true).open(&app).unwrap();
    // One write(2) per line, then per byte, then all at once: each read
    // the follower makes ends after a `\n`, where `^$` used to match.
    for i in 0..300 {
        f.write_all(format!("line {i}\n").as_bytes()).unwrap();
    }
    for b in b"a\r\n\nb\r\n\r\n" {
        f.write_all(&[*b]).unwrap();
    }
    f.write_all("x\n".repeat(500).as_bytes()).unwrap();
    f.write_all(b"\n\nlast\n").unwrap();
    wait_levels(&e, (0, 0, 300 + 4 + 500 + 3));
    let m = e.metrics();
    let v = |p: &str| {
        sample(
            &m,
            &format!("vitals_log_pattern_matches_total{{log=\"app\",pattern=\"{p}\"}}"),
        )
    };
    // `\r\n` ends a line too: "\r\n" is an empty line.
    assert_eq!(v("empty"), Some(4.0));
    assert_eq!(v("end"), Some(807.0));
}

/// A fixed head longer than the 256 bytes once fingerprinted: every
/// generation of the file starts with the same bytes.
fn banner() -> String {
    format!(
        "# app v1.2.3 started; columns: {}\n",
        "ts level msg ".repeat(30)
    )
}

fn error_lines(from: u64, n: u64) -> String {
    (from..from + n)
        .map(|i| format!("ERROR line {i}\n"))
        .collect()
}

fn open_append(path: &Path) -> std::fs::File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

#[test]
fn copytruncate_of_a_file_with_a_banner_while_running() {
    for watch in ["poll", "inotify"] {
        let d = tempfile::tempdir().unwrap();
        let app = d.path().join("app.log");
        let mut w = open_append(&app);
        w.write_all(banner().as_bytes()).unwrap();
        let e = Exporter::start(&format!(
            "logs:\n  - name: app\n    paths: ['{}']\n    watch: {watch}\n    poll_interval: 500ms\n",
            app.display()
        ));
        w.write_all(error_lines(0, 50).as_bytes()).unwrap();
        wait_levels(&e, (50, 0, 0));
        // Written after the last read: only the copy will have them. The
        // writer then starts the file over with its banner and outgrows
        // the old size before the next poll: same head, same or more bytes.
        w.write_all(error_lines(50, 20).as_bytes()).unwrap();
        copytruncate(&app, &d.path().join("app.log.1"));
        w.write_all(banner().as_bytes()).unwrap();
        w.write_all(error_lines(70, 60).as_bytes()).unwrap();
        wait_levels(&e, (130, 0, 1));
        assert_eq!(
            e.value("vitals_log_truncations_total{log=\"app\"}"),
            Some(1.0),
            "{watch}"
        );
    }
}

#[test]
fn copytruncate_while_stopped_resumes_from_the_copy() {
    for banner_head in [false, true] {
        for glob in ["app.log", "app.log*"] {
            let d = tempfile::tempdir().unwrap();
            let storage = tempfile::tempdir().unwrap();
            let app = d.path().join("app.log");
            let head = if banner_head { banner() } else { String::new() };
            let mut w = open_append(&app);
            w.write_all(head.as_bytes()).unwrap();
            let cfg = format!(
                "logs:\n  - name: app\n    paths: ['{}/{glob}']\n",
                d.path().display()
            );
            let args = ["--storage.path", storage.path().to_str().unwrap()];
            let mut e = Exporter::start_with(&cfg, &args, tempfile::tempdir().unwrap());
            w.write_all(error_lines(0, 50).as_bytes()).unwrap();
            wait_levels(&e, (50, 0, 0));
            assert!(e.stop().success());
            // While stopped: more lines, copytruncate, a new generation.
            w.write_all(error_lines(50, 30).as_bytes()).unwrap();
            copytruncate(&app, &d.path().join("app.log.1"));
            w.write_all(head.as_bytes()).unwrap();
            w.write_all(error_lines(80, 40).as_bytes()).unwrap();
            let e = Exporter::start_with(&cfg, &args, tempfile::tempdir().unwrap());
            let what = format!("banner {banner_head}, glob {glob}");
            wait_levels(&e, (70, 0, u64::from(banner_head)));
            assert_eq!(
                e.value("vitals_log_truncations_total{log=\"app\"}"),
                Some(1.0),
                "{what}"
            );
            // Nothing more arrives later (e.g. the copy read again).
            w.write_all(b"WARNING sync\n").unwrap();
            wait_levels(&e, (70, 1, u64::from(banner_head)));
        }
    }
}

#[test]
fn copy_into_an_existing_file_then_truncate() {
    for glob in ["app.log", "app.log*"] {
        let d = tempfile::tempdir().unwrap();
        let app = d.path().join("app.log");
        let copy = d.path().join("app.log.1");
        let mut w = open_append(&app);
        let e = Exporter::start(&format!(
            "logs:\n  - name: app\n    paths: ['{}/{glob}']\n",
            d.path().display()
        ));
        let mut written = 0;
        for round in 0..20 {
            w.write_all(error_lines(written, 100).as_bytes()).unwrap();
            written += 100;
            // The follower must have seen the generation (see README).
            wait_levels(&e, (written, 0, 0));
            w.write_all(error_lines(written, 10).as_bytes()).unwrap();
            written += 10;
            // `cp` over the copy of the previous round: same inode.
            let before = std::fs::metadata(&copy).ok().map(|m| {
                use std::os::unix::fs::MetadataExt;
                m.ino()
            });
            copytruncate(&app, &copy);
            if round > 0 {
                use std::os::unix::fs::MetadataExt;
                assert_eq!(before, Some(std::fs::metadata(&copy).unwrap().ino()));
            }
        }
        e.wait_value("vitals_log_truncations_total{log=\"app\"}", 20.0);
        wait_levels(&e, (written, 0, 0));
    }
}

#[test]
fn devices_fifos_directories_and_nul_bytes_at_followed_names() {
    let d = tempfile::tempdir().unwrap();
    let app = d.path().join("app.log");
    std::fs::write(&app, "").unwrap();
    let e = Exporter::start(&format!(
        "logs:\n  - name: app\n    paths: ['{}/*.log']\n    poll_interval: 100ms\n",
        d.path().display()
    ));
    // Appearing after the start, so read from their first byte if followed.
    std::os::unix::fs::symlink("/dev/zero", d.path().join("zero.log")).unwrap();
    mkfifo(&d.path().join("fifo.target"));
    std::os::unix::fs::symlink(d.path().join("fifo.target"), d.path().join("fifo.log")).unwrap();
    std::fs::create_dir(d.path().join("dir.log")).unwrap();
    std::os::unix::fs::symlink("/proc/self/status", d.path().join("proc.log")).unwrap();
    append(&app, b"ERROR \0nul\0\n\0\0\0\nWARNING \xff\xfe\n");
    wait_levels(&e, (1, 1, 1));
    wait_for("three polls", Duration::from_secs(20), || {
        e.value("vitals_log_read_errors_total{log=\"app\"}")
            .is_some_and(|v| v >= 3.0)
    });
    wait_levels(&e, (1, 1, 1));
    assert_eq!(e.value("vitals_log_files_followed{log=\"app\"}"), Some(1.0));
    assert_eq!(
        e.value("vitals_log_read_bytes_total{log=\"app\"}"),
        Some(27.0)
    );
}

#[test]
fn a_file_cut_at_a_line_end_is_read_on_from_there() {
    let d = tempfile::tempdir().unwrap();
    let app = d.path().join("app.log");
    std::fs::write(&app, "").unwrap();
    let e = Exporter::start(&format!(
        "logs:\n  - name: app\n    paths: ['{}']\n    watch: poll\n    poll_interval: 100ms\n",
        app.display()
    ));
    let mut w = open_append(&app);
    w.write_all(error_lines(0, 30).as_bytes()).unwrap();
    wait_levels(&e, (30, 0, 0));
    // The last two lines cut off, one new line: shorter than what was read.
    let cut = error_lines(0, 28).len() as u64;
    OpenOptions::new()
        .write(true)
        .open(&app)
        .unwrap()
        .set_len(cut)
        .unwrap();
    w.write_all(b"WARNING new\n").unwrap();
    wait_levels(&e, (30, 1, 0));
    e.wait_value("vitals_log_truncations_total{log=\"app\"}", 1.0);
    w.write_all(b"INFO sync\n").unwrap();
    wait_levels(&e, (30, 1, 1));
}

/// Starts an exporter polling `app` every 100 ms, writes `n` error lines
/// and waits until they are counted.
fn follow_errors(app: &Path, n: u64) -> (Exporter, std::fs::File) {
    std::fs::write(app, "").unwrap();
    let e = Exporter::start(&format!(
        "logs:\n  - name: app\n    paths: ['{}']\n    watch: poll\n    poll_interval: 100ms\n",
        app.display()
    ));
    let mut w = open_append(app);
    w.write_all(error_lines(0, n).as_bytes()).unwrap();
    wait_levels(&e, (n, 0, 0));
    (e, w)
}

fn cut(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn a_file_cut_mid_line_counts_only_what_is_written_after_the_cut() {
    let d = tempfile::tempdir().unwrap();
    let app = d.path().join("app.log");
    let (e, mut w) = follow_errors(&app, 30);
    // Line 28 cut after "ERROR": that line was counted whole already.
    cut(&app, error_lines(0, 28).len() as u64 + 5);
    e.wait_value("vitals_log_truncations_total{log=\"app\"}", 1.0);
    w.write_all(b"WARNING new\n").unwrap();
    wait_levels(&e, (30, 1, 0));
    w.write_all(b"INFO sync\n").unwrap();
    wait_levels(&e, (30, 1, 1));
}

#[test]
fn a_file_cut_far_behind_the_bytes_remembered_is_not_counted_again() {
    let d = tempfile::tempdir().unwrap();
    let app = d.path().join("app.log");
    let (e, mut w) = follow_errors(&app, 300);
    let all = error_lines(0, 300).len() as u64;
    // The last KiB cut at a line end, then mid-line: head unchanged.
    let at = error_lines(0, 300)[..(all - 1024) as usize]
        .rfind('\n')
        .unwrap() as u64
        + 1;
    cut(&app, at);
    e.wait_value("vitals_log_truncations_total{log=\"app\"}", 1.0);
    w.write_all(b"WARNING new\n").unwrap();
    wait_levels(&e, (300, 1, 0));
    cut(&app, at - 1024 - 3);
    e.wait_value("vitals_log_truncations_total{log=\"app\"}", 2.0);
    w.write_all(b"WARNING again\n").unwrap();
    wait_levels(&e, (300, 2, 0));
    w.write_all(b"INFO sync\n").unwrap();
    wait_levels(&e, (300, 2, 1));
}

#[test]
fn a_file_cut_to_zero_then_rewritten_is_read_from_its_start() {
    let d = tempfile::tempdir().unwrap();
    let app = d.path().join("app.log");
    let (e, _w) = follow_errors(&app, 30);
    // A new head: a new generation, every line of it new.
    cut(&app, 0);
    std::fs::write(&app, "WARNING a\nWARNING b\nINFO c\n").unwrap();
    wait_levels(&e, (30, 2, 1));
    e.wait_value("vitals_log_truncations_total{log=\"app\"}", 1.0);
}

/// A file rotated away and deleted while still read (detached) must not
/// leave its position behind at a stop: its inode is free for the next new
/// file, which would inherit the position (seen as hundreds of lines lost or
/// counted twice after a restart, depending on how inodes were reused).
#[test]
fn a_deleted_file_leaves_no_position_behind() {
    use std::os::unix::fs::MetadataExt;
    let d = tempfile::tempdir().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let app = d.path().join("app.log");
    let old = d.path().join("app.log.1");
    append(&app, b"");
    let cfg = format!("logs:\n  - name: app\n    paths: ['{}']\n", app.display());
    let args = ["--storage.path", storage.path().to_str().unwrap()];
    let mut e = Exporter::start_with(&cfg, &args, tempfile::tempdir().unwrap());
    append(&app, error_lines(0, 10).as_bytes());
    wait_levels(&e, (10, 0, 0));
    let dead = std::fs::metadata(&app).unwrap().ino();
    std::fs::rename(&app, &old).unwrap();
    append(&app, error_lines(10, 5).as_bytes());
    wait_levels(&e, (15, 0, 0));
    std::fs::remove_file(&old).unwrap();
    // Within the 5 s a rotated file is still read.
    assert!(e.stop().success());
    let live = std::fs::metadata(&app).unwrap().ino();
    let mut inodes = Vec::new();
    for f in std::fs::read_dir(storage.path()).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            inodes.push(line.split(' ').nth(1).unwrap().parse::<u64>().unwrap());
        }
    }
    assert!(
        !inodes.contains(&dead),
        "{inodes:?} holds the deleted {dead}"
    );
    assert_eq!(inodes, [live]);
}
