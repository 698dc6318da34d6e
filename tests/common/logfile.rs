//! Writing followed log files and waiting for the follower's counts.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Exporter;

/// Appends `bytes` in one write (creating the file).
pub fn append(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// logrotate's copytruncate: copy (into a new or an existing file, as `cp`
/// does), then truncate the live file under its writer.
pub fn copytruncate(log: &Path, copy: &Path) {
    std::fs::copy(log, copy).unwrap();
    OpenOptions::new()
        .write(true)
        .open(log)
        .unwrap()
        .set_len(0)
        .unwrap();
}

/// Error, warning and other lines of `log` (-1 when absent).
pub fn levels_of(e: &Exporter, log: &str) -> (i64, i64, i64) {
    let m = e.metrics();
    let get = |level: &str| {
        super::sample(
            &m,
            &format!("vitals_log_lines_total{{log=\"{log}\",level=\"{level}\"}}"),
        )
        .map_or(-1, |v| v as i64)
    };
    (get("error"), get("warning"), get("other"))
}

/// Waits (generously: the machine may be loaded) until error/warning/other
/// of `log` are exactly `want`.
pub fn wait_levels(e: &Exporter, log: &str, want: (i64, i64, i64)) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if levels_of(e, log) == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "levels {:?}, want {want:?}\n{}\nlog:\n{}",
        levels_of(e, log),
        e.metrics(),
        e.log()
    );
}

/// The `vitals_log_path_lines_total` samples of the exposition, sorted.
pub fn path_samples(e: &Exporter) -> Vec<String> {
    let mut v: Vec<String> = e
        .metrics()
        .lines()
        .filter(|l| l.starts_with("vitals_log_path_lines_total{"))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// The path series of log `log` at `level` for the label set `labels`.
pub fn path_series(log: &str, labels: &str, level: &str) -> String {
    format!("vitals_log_path_lines_total{{log=\"{log}\",level=\"{level}\",{labels}}}")
}

/// Waits until error, warning and other of one label set of `log` are `want`.
pub fn wait_path_levels(e: &Exporter, log: &str, labels: &str, want: (u64, u64, u64)) {
    for (level, n) in [("error", want.0), ("warning", want.1), ("other", want.2)] {
        e.wait_value(&path_series(log, labels, level), n as f64);
    }
}

/// One container record in `format` (`cri` or `docker`): `tag` `P` for a
/// partial record, `F` for the last one of a message.
pub fn container_record(format: &str, stream: &str, tag: &str, msg: &str) -> String {
    if format == "cri" {
        return format!("2026-11-29T10:00:00Z {stream} {tag} {msg}\n");
    }
    let log = if tag == "F" {
        format!("{msg}\n")
    } else {
        msg.to_string()
    };
    let r = serde_json::json!({"log": log, "stream": stream, "time": "2026-11-29T10:00:00Z"});
    format!("{r}\n")
}

/// `root/<ns>_<pod>_uid-<pod>/<container>/0.log`, created empty.
pub fn pod_log(root: &Path, ns: &[u8], pod: &str, container: &str) -> PathBuf {
    let mut dir = root.as_os_str().as_bytes().to_vec();
    dir.push(b'/');
    dir.extend_from_slice(ns);
    dir.extend_from_slice(format!("_{pod}_uid-{pod}/{container}").as_bytes());
    let dir = PathBuf::from(std::ffi::OsStr::from_bytes(&dir));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("0.log");
    append(&log, b"");
    log
}
