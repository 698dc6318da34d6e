//! Writing followed log files and waiting for the follower's counts.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
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
