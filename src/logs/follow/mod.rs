//! Following the files of one log: discovery, reading, rotation, truncation
//! and checkpoints. One thread per log; inotify only wakes it up.
//!
//! Files are tracked by identity (device + inode), not by name: a file
//! renamed away keeps being read to its end, a new file at the old name is
//! read from its start, and a rotated name that still matches the glob is
//! not read twice. A hash of each file's first bytes catches a file
//! truncated or rewritten in place (copytruncate), and inode reuse across
//! restarts. Lines are counted only once their `\n` arrives.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::checkpoint::{FileId, Saved};
use super::matcher::{LevelMatcher, LinePattern};
use super::renames::Renames;
use super::structured::{self, Structured};
use super::{LogObserver, PathSeries};
use crate::config::logs::{LogSource, WatchMode};
use file::Tracked;
use read::Pass;
use scanner::Scanner;
use wake::Wake;

#[cfg(test)]
mod edge_tests;
mod file;
mod read;
mod replay;
mod rescan;
mod rotation;
mod scanner;
#[cfg(test)]
mod tests;
mod wake;

/// Bytes asked of one `read`.
const READ_SIZE: usize = 64 * 1024;
/// Bytes read from one file before the others get their turn.
pub(super) const READ_BUDGET: u64 = 32 << 20;
/// Rotated-away identities remembered (cleared when full: they matter only
/// until the file's first read).
pub(super) const ROTATED_AWAY_MAX: usize = 4096;
/// Longest time between two saves of the positions.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// A handle to stop a follower thread.
#[derive(Debug)]
pub(crate) struct Handle {
    stop: Arc<AtomicBool>,
    wake: SyncSender<()>,
    started: Receiver<()>,
    thread: Option<std::thread::JoinHandle<Vec<Arc<dyn PathSeries>>>>,
}

impl Handle {
    /// Waits until the first scan has placed every file at its start
    /// position (or the thread ended, or `timeout` passed).
    pub(crate) fn wait_started(&self, timeout: Duration) {
        let _ = self.started.recv_timeout(timeout);
    }

    /// Asks the follower to read what is left, save its positions and end;
    /// waits for it.
    pub(crate) fn stop(self) {
        drop(self.stop_holding());
    }

    /// As [`Handle::stop`], returning the path series its files held: a
    /// caller that restarts the log drops them once the new follower holds
    /// its own, so the series of files both follow keep their counts.
    pub(crate) fn stop_holding(mut self) -> Vec<Arc<dyn PathSeries>> {
        self.stop.store(true, Ordering::Release);
        let _ = self.wake.try_send(());
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

/// Starts following `source` on its own thread, reporting to `observer`.
pub(crate) fn spawn<O: LogObserver>(
    source: LogSource,
    observer: O,
    storage: Option<&Path>,
) -> std::io::Result<Handle> {
    let (wake, rx) = std::sync::mpsc::sync_channel(1);
    let stop = Arc::new(AtomicBool::new(false));
    let checkpoint = storage.map(|s| source.checkpoint_path(s));
    let follower = Follower::new(source, observer, checkpoint);
    let (stop2, wake2) = (stop.clone(), wake.clone());
    let (started_tx, started) = std::sync::mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name(format!("follow-{}", follower.source.name))
        .spawn(move || follower.run(rx, wake2, stop2, started_tx))?;
    Ok(Handle {
        stop,
        wake,
        started,
        thread: Some(thread),
    })
}

/// The state of one log's follower thread.
struct Follower<O> {
    source: LogSource,
    scanner: Scanner<O>,
    files: Vec<Tracked>,
    /// Positions loaded at start-up and not yet matched to a file.
    saved: HashMap<FileId, Saved>,
    checkpoint: Option<PathBuf>,
    /// Whether the first scan is done: later files are read from their start.
    started: bool,
    /// Whether positions from an earlier run were loaded: then `start_at`
    /// does not apply, every file without a position is new.
    resumed: bool,
    /// Whether the positions file was cut or damaged: every file's start
    /// is then named in the log.
    damaged: bool,
    /// Paths already reported as unreadable (reported again once fixed,
    /// or gone and back).
    unreadable: HashSet<PathBuf>,
    /// Paths already reported as not followed for lack of descriptors
    /// (reported again once followed, or gone and back).
    limited: HashSet<PathBuf>,
    /// Matching files not followed for lack of descriptors, at the last rescan.
    skipped: usize,
    /// A file was let go while files wait for its descriptor or its path
    /// series' room under `max_series`: rescan at the next cycle, not at
    /// the next full pass (tens of seconds away at 10 000 files).
    freed: bool,
    /// Directories already reported as unlistable.
    unlistable: HashSet<PathBuf>,
    /// Directories whose inotify watch failed: polled every `poll_interval`.
    unwatchable: HashSet<PathBuf>,
    /// Renames in the watched directories (with inotify on).
    renames: Option<Renames>,
    /// Files renamed away from a followed path: rotated generations, never
    /// copies, however alike their bytes (a log of repeated lines makes
    /// every generation look like a copy of the live file).
    rotated_away: HashSet<FileId>,
    /// What the globs matched at the last rescan (literal paths even when missing).
    globbed: BTreeSet<PathBuf>,
    watched: HashSet<PathBuf>,
    dirty: bool,
}

impl<O: LogObserver> Follower<O> {
    fn new(source: LogSource, observer: O, checkpoint: Option<PathBuf>) -> Self {
        let patterns = source.patterns.iter().map(LinePattern::new).collect();
        let scanner = Scanner {
            structured: Structured::new(&source.format, &source.patterns, source.max_line_bytes),
            levels: LevelMatcher::new(&source.levels),
            patterns,
            max_line_bytes: structured::line_cap(&source.format, source.max_line_bytes),
            buf: vec![0; READ_SIZE],
            bytes_read: 0,
            observer,
        };
        Follower {
            source,
            scanner,
            files: Vec::new(),
            saved: HashMap::new(),
            checkpoint,
            started: false,
            resumed: false,
            damaged: false,
            unreadable: HashSet::new(),
            limited: HashSet::new(),
            skipped: 0,
            freed: false,
            unlistable: HashSet::new(),
            unwatchable: HashSet::new(),
            renames: None,
            rotated_away: HashSet::new(),
            globbed: BTreeSet::new(),
            watched: HashSet::new(),
            dirty: false,
        }
    }

    fn run(
        mut self,
        rx: Receiver<()>,
        wake_tx: SyncSender<()>,
        stop: Arc<AtomicBool>,
        started: SyncSender<()>,
    ) -> Vec<Arc<dyn PathSeries>> {
        let mut wake = Wake::new(self.source.poll_interval);
        let mut watcher = match self.source.watch {
            WatchMode::Inotify => wake.watcher(&self.source.name, wake_tx),
            WatchMode::Poll => None,
        };
        if watcher.is_some() {
            self.renames = Renames::new()
                .map_err(|e| tracing::warn!(log = %self.source.name, error = %e, "cannot watch renames; a file rotated away before a poll saw it is lost"))
                .ok();
        }
        self.load_checkpoint();
        self.rescan(watcher.as_mut());
        self.recover_rotated_while_down();
        self.started = true;
        let mut more = self.read_all(Pass::All);
        let _ = started.send(());
        wake.next_poll = Instant::now() + self.source.poll_interval;
        let mut next_save = Instant::now();
        while !stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= next_save {
                self.save();
                next_save = now + CHECKPOINT_INTERVAL;
            }
            match rx.recv_timeout(wake.wait(more, now, next_save)) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            wake.coalesce();
            let woke = wake.take();
            let now = Instant::now();
            let sweep = now >= wake.next_poll;
            // Without inotify, a renamed or replaced file is noticed by a
            // stat of each followed path every cycle (the new file must be
            // read before anything else happens to it, e.g. copytruncate).
            let rescan = std::mem::take(&mut self.freed)
                || woke.rescan
                || sweep
                || self.renamed_away()
                || (wake.fast && self.paths_moved());
            if rescan {
                self.rescan(if wake.fast { None } else { watcher.as_mut() });
            }
            let before = self.scanner.bytes_read;
            // inotify said which files changed: read those alone, so a line
            // costs the same with 10 000 idle files as with one. A name we
            // do not follow by (a symlink's target, another file of the
            // directory) reads every live file.
            let known = || {
                woke.touched.iter().all(|p| {
                    self.files
                        .iter()
                        .any(|t| t.path.as_os_str() == p.as_os_str())
                })
            };
            let pass = if sweep || more || watcher.is_none() || woke.all {
                Pass::All
            } else if wake.fast || rescan || !known() {
                Pass::Live
            } else {
                Pass::Changed(&woke.touched)
            };
            more = self.read_all(pass);
            if sweep {
                let everywhere = watcher.is_some() && self.unwatchable.is_empty();
                wake.next_poll = Instant::now() + wake.poll_period(now, everywhere);
            }
            wake.cycle_done(now, self.scanner.bytes_read > before);
            let Some(w) = watcher.as_mut() else { continue };
            if wake.go_fast(now, || {
                self.files.iter().filter(|t| t.detached.is_none()).count()
            }) {
                use notify::Watcher;
                for dir in self.watched.drain() {
                    let _ = w.unwatch(&dir);
                }
                tracing::debug!(log = %self.source.name, "busy writer: polling instead of inotify");
            } else if wake.go_idle(now) {
                self.rescan(Some(w));
                tracing::debug!(log = %self.source.name, "writer idle: back to inotify");
            }
        }
        self.read_all(Pass::All);
        self.dirty = true;
        self.save();
        self.files.drain(..).filter_map(|t| t.series).collect()
    }
}
