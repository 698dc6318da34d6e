//! The follower against a hostile environment: too few descriptors, clients
//! holding connections, rename storms, cut positions files. Exact counts.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

fn config(dir: &Path, extra: &str) -> String {
    format!(
        "logs:\n  - name: app\n    paths: ['{}/*.log']\n    start_at: beginning\n{extra}",
        dir.display()
    )
}

fn num(e: &Exporter, series: &str) -> u64 {
    e.value(series).unwrap_or(-1.0) as u64
}

const ERRORS: &str = "vitals_log_lines_total{log=\"app\",level=\"error\"}";
const FOLLOWED: &str = "vitals_log_files_followed{log=\"app\"}";
const SKIPPED: &str = "vitals_log_files_skipped{log=\"app\"}";

/// Watches `for_` long that the error count stays `want` (a phantom
/// re-read would raise it), scraping all along.
fn stays(e: &Exporter, want: u64, for_: Duration) {
    let end = Instant::now() + for_;
    while Instant::now() < end {
        assert_eq!(num(e, ERRORS), want, "log:\n{}", e.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// With a soft and hard limit of 256 descriptors, followed files may use
/// 256 - (64 + 256/4) = 128 of them.
const NOFILE: u64 = 256;
const BUDGET: u64 = 128;

#[test]
fn more_files_than_descriptors_follows_fewer_and_counts_exactly() {
    let logs = tempfile::tempdir().unwrap();
    let n = 300;
    for i in 0..n {
        append(&logs.path().join(format!("f{i:03}.log")), b"ERROR one\n");
    }
    let extra = "    poll_interval: 100ms\n";
    let e = Exporter::start_nofile(&config(logs.path(), extra), NOFILE);
    e.wait_value(ERRORS, BUDGET as f64);
    assert_eq!(num(&e, FOLLOWED), BUDGET);
    assert_eq!(num(&e, SKIPPED), n - BUDGET);
    // Many rescans: nothing looks rotated, nothing is read twice.
    stays(&e, BUDGET, Duration::from_secs(3));
    assert_eq!(num(&e, "vitals_log_rotations_total{log=\"app\"}"), 0);
    assert_eq!(num(&e, FOLLOWED), BUDGET);
    // Each skipped file is named once.
    assert_eq!(
        e.log().matches("not following file").count() as u64,
        n - BUDGET,
        "{}",
        e.log()
    );
    // The followed files keep counting, the others stay unread.
    for i in 0..n {
        append(&logs.path().join(format!("f{i:03}.log")), b"ERROR two\n");
    }
    e.wait_value(ERRORS, (2 * BUDGET) as f64);
    stays(&e, 2 * BUDGET, Duration::from_secs(1));
}

#[test]
fn idle_connections_holding_descriptors_do_not_inflate_counts() {
    let logs = tempfile::tempdir().unwrap();
    let n = 100;
    for i in 0..n {
        append(&logs.path().join(format!("f{i:03}.log")), b"ERROR one\n");
    }
    let extra = "    poll_interval: 100ms\n";
    let e = Exporter::start_nofile(&config(logs.path(), extra), NOFILE);
    e.wait_value(ERRORS, n as f64);
    assert_eq!(num(&e, FOLLOWED), n);
    // A remote client takes every descriptor left (the server closes idle
    // connections after 10 s; we hold them for 7, beyond the 5 s a
    // detached file is kept).
    let conns: Vec<TcpStream> = (0..NOFILE)
        .map(|_| TcpStream::connect(e.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..n {
        append(&logs.path().join(format!("f{i:03}.log")), b"ERROR two\n");
    }
    std::thread::sleep(Duration::from_secs(7));
    drop(conns);
    e.wait_value(ERRORS, (2 * n) as f64);
    stays(&e, 2 * n, Duration::from_secs(2));
    assert_eq!(num(&e, FOLLOWED), n);
    assert_eq!(num(&e, "vitals_log_rotations_total{log=\"app\"}"), 0);
    assert!(
        num(&e, "vitals_log_discovery_errors_total{log=\"app\"}") > 0,
        "the listings must have failed for this test to mean anything\n{}",
        e.metrics()
    );
}

/// A writer rotating by rename + create every `period`, writing all along;
/// returns the lines written.
fn rename_storm(dir: &Path, period: Duration, rotations: usize, first: usize) -> u64 {
    let live = dir.join("app.log");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&live)
        .unwrap();
    let mut written = 0u64;
    let mut last = Instant::now();
    let mut done = 0;
    while done < rotations {
        for _ in 0..10 {
            f.write_all(b"ERROR x\n").unwrap();
            written += 1;
        }
        if last.elapsed() >= period {
            std::fs::rename(&live, dir.join(format!("app.log.{}", first + done))).unwrap();
            // A last line to the renamed file, as a writer that has not
            // reopened yet would.
            f.write_all(b"ERROR late\n").unwrap();
            written += 1;
            f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&live)
                .unwrap();
            done += 1;
            last = Instant::now();
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    written
}

#[test]
fn rename_storms_lose_nothing_in_fast_poll_mode() {
    let logs = tempfile::tempdir().unwrap();
    let yaml = format!(
        "logs:\n  - name: app\n    paths: ['{}/app.log']\n",
        logs.path().display()
    );
    append(&logs.path().join("app.log"), b"");
    let e = Exporter::start(&yaml);
    let (mut total, mut first) = (0, 0);
    // A writer busy for 50 ms switches the follower to polling; the
    // shortest periods rotate files faster than it looks at them.
    for (period_ms, rotations) in [(50, 20), (8, 60), (2, 200), (1, 500)] {
        total += rename_storm(
            logs.path(),
            Duration::from_millis(period_ms),
            rotations,
            first,
        );
        first += rotations;
        e.wait_value(ERRORS, total as f64);
        e.wait_value("vitals_log_rotations_total{log=\"app\"}", first as f64);
    }
}
