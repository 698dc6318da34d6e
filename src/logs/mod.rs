//! Following log files and counting their lines: the article's
//! `analyze_logs()`, made continuous and exact.
//!
//! - [`config`]: the `logs:` section.
//! - [`follow`]: one thread per log; rotation, truncation, checkpoints.
//! - [`matcher`]: level classification and patterns over blocks of lines.
//! - [`checkpoint`]: positions saved atomically, keyed by file identity.
//! - [`open`]: opening followed files without blocking; regular files only.
//! - [`renames`]: renames in the watched directories, to find files rotated away unseen.

pub mod checkpoint;
pub mod config;
pub mod follow;
pub mod matcher;
pub mod open;
pub mod renames;

use std::path::Path;

use crate::metrics::Metrics;
use crate::status::Board;
use config::LogSource;

/// Starts one follower per log; links logs that name a service to the
/// status board.
pub fn start(
    sources: &[LogSource],
    metrics: &Metrics,
    board: &Board,
    storage: Option<&Path>,
) -> Vec<(String, follow::Handle)> {
    let mut handles = Vec::with_capacity(sources.len());
    for source in sources {
        let m = metrics.log(source);
        board.watch_log(&source.name, m.unwatched_gauge());
        if let Some(service) = &source.service {
            let (error, warning) = m.level_counters();
            board.link_log(&source.name, service, error, warning);
        }
        match follow::spawn(source.clone(), m, storage) {
            Ok(h) => handles.push((source.name.clone(), h)),
            Err(e) => {
                tracing::error!(log = %source.name, error = %e, "cannot start follower thread")
            }
        }
    }
    handles
}
