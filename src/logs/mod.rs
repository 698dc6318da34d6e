//! Following log files and counting their lines: the article's
//! `analyze_logs()`, made continuous and exact.
//!
//! - [`config`]: the `logs:` section.
//! - [`follow`]: one thread per log; rotation, truncation, checkpoints.
//! - [`matcher`]: level classification and patterns over blocks of lines.
//! - [`checkpoint`]: positions saved atomically, keyed by file identity.
//! - [`open`]: opening followed files without blocking; regular files only.
//! - [`renames`]: renames in the watched directories, to find files rotated away unseen.
//!
//! The engine knows nothing of metrics or the status page: a follower
//! reports what it does through a [`LogObserver`].

pub(crate) mod checkpoint;
pub(crate) mod follow;
pub(crate) mod matcher;
pub(crate) mod open;
pub(crate) mod renames;
pub(crate) mod structured;

pub(crate) use follow::{spawn, Handle};
pub(crate) use matcher::{LabelValues, LevelCounts, Number, NumberKind};

/// The level counts of the files whose paths gave one set of label values
/// (`path_labels`). Held by each such file while it is followed: when the
/// last holder lets go, the series go with it.
pub(crate) trait PathSeries: Send + Sync + std::fmt::Debug {
    /// A block of lines of one such file was classified.
    fn lines(&self, c: LevelCounts);
    /// This is the series of the files past `max_series`: a file holding it
    /// asks again for its own when the cap may have room.
    fn overflow(&self) -> bool;
}

/// What a follower reports, from its own thread. Lines are reported per
/// block, never per line, so a call costs nothing next to the scan.
pub(crate) trait LogObserver: Send + 'static {
    /// A block of lines was classified.
    fn lines(&self, c: LevelCounts);
    /// Pattern number `pattern` (in config order) matched, with its label
    /// values and its numbers (`values.number`).
    fn matched(&mut self, pattern: usize, values: LabelValues<'_>);
    /// `n` bytes were read.
    fn read(&self, n: u64);
    /// The number of followed files is now `n`.
    fn files_followed(&self, n: usize);
    /// A followed file was renamed away, deleted or replaced.
    fn rotated(&self);
    /// A followed file was truncated or rewritten.
    fn truncated(&self);
    /// Opening or reading a file failed.
    fn read_failed(&self);
    /// A line exceeded `max_line_bytes`.
    fn long_line(&self);
    /// `n` lines were not well-formed in the log's format (counted as `other`).
    fn parse_errors(&self, n: u64);
    /// Bytes not read yet, summed over the files.
    fn lag(&self, bytes: u64);
    /// Loading or saving positions failed.
    fn checkpoint_failed(&self);
    /// Listing a directory failed.
    fn discovery_failed(&self);
    /// `n` matching files are not followed for lack of descriptors.
    fn files_skipped(&self, n: usize);
    /// Adding an inotify watch failed.
    fn watch_failed(&self);
    /// `n` directories are polled without an inotify watch.
    fn unwatched(&self, n: usize);
    /// A file whose path gave these label values (see
    /// `PathLabels::values`) is followed from now on; called once per file
    /// open, so that a block costs one call more, not a lookup.
    fn path_series(&mut self, values: Vec<String>) -> Option<std::sync::Arc<dyn PathSeries>> {
        let _ = values;
        None
    }
}
