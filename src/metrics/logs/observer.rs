//! The log engine's reports, turned into series.

use std::sync::Arc;

use super::{count, LogMetrics};
use crate::logs::{LabelValues, LevelCounts, LogObserver, PathSeries};

impl LogObserver for LogMetrics {
    fn lines(&self, c: LevelCounts) {
        if c.error > 0 {
            self.error.inc_by(c.error);
        }
        if c.warning > 0 {
            self.warning.inc_by(c.warning);
        }
        let other = c.other();
        if other > 0 {
            self.other.inc_by(other);
        }
    }

    fn matched(&mut self, pattern: usize, values: LabelValues<'_>) {
        if let Some(p) = self.patterns.get_mut(pattern) {
            p.matched(values);
        }
    }

    fn read(&self, n: u64) {
        self.bytes.inc_by(n);
    }

    fn files_followed(&self, n: usize) {
        self.files.set(count(n));
    }

    fn rotated(&self) {
        self.rotations.inc();
    }

    fn truncated(&self) {
        self.truncations.inc();
    }

    fn read_failed(&self) {
        self.read_errors.inc();
    }

    fn long_line(&self) {
        self.long_lines.inc();
    }

    fn parse_errors(&self, n: u64) {
        self.parse_errors.inc_by(n);
    }

    fn lag(&self, bytes: u64) {
        self.lag.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    fn checkpoint_failed(&self) {
        self.checkpoint_errors.inc();
    }

    fn discovery_failed(&self) {
        self.discovery_errors.inc();
    }

    fn files_skipped(&self, n: usize) {
        self.skipped.set(count(n));
    }

    fn watch_failed(&self) {
        self.watch_errors.inc();
    }

    fn unwatched(&self, n: usize) {
        self.unwatched.set(count(n));
    }

    fn path_series(&mut self, values: Vec<String>) -> Option<Arc<dyn PathSeries>> {
        let s: Arc<dyn PathSeries> = self.paths.as_ref()?.series(values);
        Some(s)
    }
}
