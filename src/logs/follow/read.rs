//! A read cycle: which files it reads, and reading one of them.

use std::path::PathBuf;
use std::time::Duration;

use super::{Follower, READ_BUDGET};
use crate::logs::LogObserver;

/// How long a file renamed away or deleted is still read (writers that
/// have not reopened yet), once it has no new data.
const ROTATE_WAIT: Duration = Duration::from_secs(5);

/// A detached file is read at every cycle this long after it was rotated
/// (writers that have not reopened yet), then only at full passes (a
/// rename storm leaves hundreds of them) until `ROTATE_WAIT` has passed,
/// when the next cycle reads it a last time and lets it go: full passes
/// are spaced by their cost, tens of seconds at 10 000 files, and a
/// deleted pod's file held that long keeps its descriptor and its series
/// (filling `max_series` under churn).
const DETACHED_HOT: Duration = Duration::from_millis(50);

/// Which files a read cycle reads.
#[derive(Clone, Copy)]
pub(super) enum Pass<'a> {
    /// Every file (a poll, or no idea what changed).
    All,
    /// Live files and recently detached ones.
    Live,
    /// These live paths (inotify named them) and recently detached files.
    /// A short list compared as bytes: hashing every followed path per
    /// wake-up cost milliseconds at 10 000 files.
    Changed(&'a [PathBuf]),
}

impl<O: LogObserver> Follower<O> {
    /// Reads the files of `pass`; lets go of detached files that are done.
    /// Returns true when a file stopped at its read budget with more to read.
    pub(super) fn read_all(&mut self, pass: Pass) -> bool {
        let mut more = false;
        let mut lag = 0u64;
        let mut i = 0;
        while i < self.files.len() {
            let t = &self.files[i];
            let cold = t
                .detached
                .is_some_and(|d| (DETACHED_HOT..ROTATE_WAIT).contains(&d.elapsed()));
            let skip = match pass {
                Pass::All => false,
                Pass::Live => cold,
                Pass::Changed(paths) => match t.detached {
                    None => !paths.iter().any(|p| p.as_os_str() == t.path.as_os_str()),
                    Some(_) => cold,
                },
            };
            if skip {
                i += 1;
                continue;
            }
            let (read, size) = self.read_one(i);
            let t = &mut self.files[i];
            lag += size.saturating_sub(t.pos);
            if read > 0 {
                self.dirty = true;
            }
            more |= read >= READ_BUDGET;
            let done = t.detached.is_some_and(|d| d.elapsed() >= ROTATE_WAIT) && read == 0;
            if done {
                let mut t = self.files.swap_remove(i);
                self.freed |= self.skipped > 0 || t.series.is_some();
                self.scanner.finish_line(&mut t);
                self.dirty = true;
                tracing::debug!(log = %self.source.name, path = %t.path.display(), "stopped following rotated file");
                continue;
            }
            i += 1;
        }
        self.scanner.observer.files_followed(self.files.len());
        // The lag of a partial pass would leave out the files not read.
        if matches!(pass, Pass::All) {
            self.scanner.observer.lag(lag);
        }
        more
    }

    /// Reads file `i` to EOF, handling truncation first; returns (bytes read, size).
    pub(super) fn read_one(&mut self, i: usize) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let t = &mut self.files[i];
        let (size, mtime) = match t.file.metadata() {
            Ok(m) => (m.len(), (m.mtime(), m.mtime_nsec())),
            Err(e) => {
                tracing::warn!(log = %self.source.name, path = %t.path.display(), error = %e, "stat failed");
                self.scanner.observer.read_failed();
                return (0, 0);
            }
        };
        if t.pos == 0
            && size > 0
            && !t.copy
            && !self.rotated_away.contains(&t.id)
            && self.is_copy(&self.files[i], size)
        {
            // Seen before the truncation of its original (maybe while `cp`
            // still wrote it): its bytes are counted there, and the rest
            // read from here when the original truncates.
            let t = &mut self.files[i];
            tracing::info!(log = %self.source.name, path = %t.path.display(), "a copy of a followed file (copytruncate); not read on its own");
            t.copy = true;
        }
        let t = &mut self.files[i];
        if t.copy {
            // Rewritten in place by the next `cp` (same inode): its bytes
            // are those of the live file, read there or when it truncates.
            if size != t.pos {
                t.resume_at(size);
                self.dirty = true;
            }
            return (0, size);
        }
        let changed = size != t.pos || mtime != t.mtime;
        t.mtime = mtime;
        // Nothing new: a full pass over 10 000 idle files costs one fstat
        // each, not an fstat and a read.
        if !changed {
            return (0, size);
        }
        if self.truncated(i, size) {
            self.handle_truncation(i);
        }
        let t = &mut self.files[i];
        match self.scanner.drain(t) {
            Ok(n) => (n, size.max(t.pos)),
            Err(e) => {
                tracing::warn!(log = %self.source.name, path = %t.path.display(), error = %e, "read failed; will retry");
                self.scanner.observer.read_failed();
                (0, size)
            }
        }
    }
}
