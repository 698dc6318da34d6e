//! Finding the files of the log (globs, inotify watches, opening new
//! files at their start position) and saving their positions.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use super::file::{unlinked, LineState, Tracked};
use super::Follower;
use crate::config::logs::StartAt;
use crate::logs::checkpoint::{self, FileId, Fingerprint, Saved};
use crate::logs::open::open_regular;
use crate::logs::structured::Partial;
use crate::logs::{LogObserver, PathSeries};

/// Listings again after new directory watches, per rescan.
const RELIST_MAX: usize = 8;

impl<O: LogObserver> Follower<O> {
    pub(super) fn load_checkpoint(&mut self) {
        let Some(path) = &self.checkpoint else { return };
        match checkpoint::load(path) {
            Ok(saved) => {
                // We ran before: files without a position appeared while we
                // were down, and their lines count.
                self.resumed = path.exists();
                self.saved = saved;
            }
            Err(e) => {
                tracing::warn!(log = %self.source.name, error = %e, "ignoring unusable positions file");
                self.scanner.observer.checkpoint_failed();
                self.damaged = matches!(e, checkpoint::CheckpointError::Damaged { .. });
            }
        }
    }

    pub(super) fn save(&mut self) {
        if !self.dirty {
            return;
        }
        let Some(path) = &self.checkpoint else { return };
        let entries: Vec<(FileId, Saved)> = self
            .files
            .iter()
            // A deleted file can never be found again, and its inode may be
            // given to a new file (a copy made while we are down), which
            // would then inherit the dead file's position.
            .filter(|t| t.detached.is_none() || !unlinked(&t.file))
            .map(|t| {
                (
                    t.id,
                    Saved {
                        offset: t.line_start,
                        fingerprint: t.fingerprint,
                        tail: t.tail,
                        copy: t.copy,
                        path: t.path.clone(),
                        pending: t.partial.as_ref().map(Partial::pending).unwrap_or_default(),
                    },
                )
            })
            .collect();
        match checkpoint::save(path, entries.iter().map(|(id, s)| (*id, s))) {
            Ok(()) => self.dirty = false,
            Err(e) => {
                tracing::warn!(log = %self.source.name, error = %e, "cannot save positions; will retry");
                self.scanner.observer.checkpoint_failed();
            }
        }
    }

    /// Matches the globs against the filesystem: new files are opened,
    /// files no longer reachable by any path are marked detached.
    pub(super) fn rescan(&mut self, watcher: Option<&mut notify::RecommendedWatcher>) {
        let mut found = crate::fsglob::expand(&self.source.paths, &self.source.exclude);
        // inotify drops the watch of a deleted directory: forget it, so it
        // is watched again when it comes back.
        let name = &self.source.name;
        self.watched.retain(|d| {
            let there = d.is_dir();
            if !there {
                if found.literal_dirs.contains(d) {
                    tracing::warn!(log = %name, dir = %d.display(), "log directory vanished; waiting for it to come back");
                } else {
                    // A directory a wildcard found (a deleted pod's) going
                    // is normal life: at warn level, pod churn floods the log.
                    tracing::debug!(log = %name, dir = %d.display(), "log directory vanished; waiting for it to come back");
                }
            }
            there
        });
        if let Some(w) = watcher {
            // What a directory gained between its listing and its new watch
            // raised no event: list again (a new pod's directories appear
            // one after the other, its log file last). Each round reaches
            // one level deeper; a tree growing faster than we list is left
            // to the events of the watches already added.
            let mut rounds = 0;
            while self.watch_new(w, &found.dirs) && rounds < RELIST_MAX {
                rounds += 1;
                found = crate::fsglob::expand(&self.source.paths, &self.source.exclude);
            }
            self.unwatchable.retain(|d| found.dirs.contains(d));
            self.scanner.observer.unwatched(self.unwatchable.len());
        }
        if let Some(r) = &mut self.renames {
            for dir in &found.dirs {
                // Best effort: the inotify watch above is what is reported.
                let _ = r.watch(dir);
            }
        }
        for (dir, e) in &found.failed {
            self.scanner.observer.discovery_failed();
            if self.unlistable.insert(dir.clone()) {
                tracing::warn!(log = %self.source.name, dir = %dir.display(), error = %e, "cannot list log directory; keeping its files and retrying");
            }
        }
        let name = &self.source.name;
        self.unlistable.retain(|d| {
            let failing = found.failed.iter().any(|(f, _)| f == d);
            if !failing {
                tracing::info!(log = %name, dir = %d.display(), "log directory listable again");
            }
            failing
        });
        self.skipped = 0;
        // By identity: a linear search per path made a rescan O(files²).
        let index: HashMap<FileId, usize> = self
            .files
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id, i))
            .collect();
        let mut seen = HashSet::new();
        // Paths whose stat failed: what they lead to is unknown, not gone.
        let mut unknown = HashSet::new();
        let mut missing = HashSet::new();
        for path in &found.files {
            let meta = match std::fs::metadata(path) {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    missing.insert(path);
                    continue;
                }
                Err(e) => {
                    self.unreadable(path, &e);
                    unknown.insert(path);
                    continue;
                }
            };
            let id = FileId::of(&meta);
            if let Some(&i) = index.get(&id) {
                // A file two globs reach keeps the path it has: switching
                // would flip its label series (and their counts) every scan.
                if self.files[i].path != *path && !found.files.contains(&self.files[i].path) {
                    // Moved to another directory (a pod dir renamed): its
                    // lines from now on are the new path's labels'.
                    let series = self.path_series(path);
                    let t = &mut self.files[i];
                    t.path = path.clone();
                    t.series = series;
                    self.dirty = true;
                }
                // Series of files that have gone since may have left room.
                if self.files[i].series.as_ref().is_some_and(|s| s.overflow()) {
                    let path = self.files[i].path.clone();
                    self.files[i].series = self.path_series(&path);
                }
                let t = &mut self.files[i];
                t.detached = None;
                seen.insert(id);
                continue;
            }
            if let Some(id) = self.open(path) {
                seen.insert(id);
            }
        }
        for t in &mut self.files {
            if t.detached.is_none()
                && !seen.contains(&t.id)
                && !unknown.contains(&t.path)
                && !found.unknown(&t.path)
            {
                t.detached = Some(Instant::now());
                self.scanner.observer.rotated();
                tracing::info!(log = %self.source.name, path = %t.path.display(), "file rotated or removed; reading it to its end");
            }
        }
        // Paths of deleted pods would stay reported forever: under churn
        // the sets grow without bound. A path that comes back is news again.
        let present = |p: &std::path::PathBuf| {
            (found.files.contains(p) && !missing.contains(p)) || found.unknown(p)
        };
        self.unreadable.retain(present);
        self.limited.retain(present);
        self.scanner.observer.files_followed(self.files.len());
        self.scanner.observer.files_skipped(self.skipped);
        self.globbed = found.files;
    }

    /// Watches the directories of `dirs` not watched yet; whether any new
    /// watch was added.
    fn watch_new(
        &mut self,
        w: &mut notify::RecommendedWatcher,
        dirs: &std::collections::BTreeSet<std::path::PathBuf>,
    ) -> bool {
        use notify::Watcher;
        let mut added = false;
        for dir in dirs {
            if self.watched.contains(dir) {
                continue;
            }
            match w.watch(dir, notify::RecursiveMode::NonRecursive) {
                Ok(()) => {
                    added = true;
                    self.watched.insert(dir.clone());
                    if self.unwatchable.remove(dir) {
                        tracing::info!(log = %self.source.name, dir = %dir.display(), "watching log directory with inotify again");
                    }
                }
                // Not there (yet): nothing to watch, nothing failed.
                Err(_) if !dir.is_dir() => {}
                Err(e) => {
                    if self.unwatchable.insert(dir.clone()) {
                        self.scanner.observer.watch_failed();
                        tracing::warn!(log = %self.source.name, dir = %dir.display(), error = %e, poll_interval = ?self.source.poll_interval, "cannot watch log directory with inotify (fs.inotify.max_user_watches?); polling it instead");
                    }
                }
            }
        }
        added
    }

    /// The series of the labels `path` gives (`path_labels`), resolved once
    /// per file open: lines then cost no lookup.
    pub(super) fn path_series(&mut self, path: &Path) -> Option<std::sync::Arc<dyn PathSeries>> {
        let values = self.source.path_labels.as_ref()?.values(path)?;
        self.scanner.observer.path_series(values)
    }

    /// A matching file not followed for lack of descriptors: said once per
    /// path, counted in a gauge until it is followed.
    pub(super) fn skip(&mut self, path: &Path, why: &str) {
        self.skipped += 1;
        if self.limited.insert(path.to_path_buf()) {
            tracing::warn!(log = %self.source.name, path = %path.display(), reason = why, limit = crate::fdlimit::files_budget(), "not following file: open-file limit reached; raise LimitNOFILE");
        }
    }

    pub(super) fn unreadable(&mut self, path: &Path, e: &std::io::Error) {
        self.scanner.observer.read_failed();
        if self.unreadable.insert(path.to_path_buf()) {
            tracing::warn!(log = %self.source.name, path = %path.display(), error = %e, "cannot open log file; will retry");
        }
    }

    /// Starts following the file at `path`; returns its identity.
    pub(super) fn open(&mut self, path: &Path) -> Option<FileId> {
        let Some(fd) = crate::fdlimit::Permit::acquire() else {
            self.skip(path, "open-file budget used up");
            return None;
        };
        let (file, meta) = match open_regular(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                    self.skip(path, "too many open files");
                }
                self.unreadable(path, &e);
                return None;
            }
        };
        if self.unreadable.remove(path) | self.limited.remove(path) {
            tracing::info!(log = %self.source.name, path = %path.display(), "log file readable again");
        }
        let id = FileId::of(&meta);
        if self.files.iter().any(|t| t.id == id) {
            return Some(id);
        }
        let size = meta.len();
        let head = Fingerprint::read(&file, Fingerprint::MAX_LEN).ok()?;
        let mut t = Tracked::new(id, path.to_path_buf(), file, head, Some(fd));
        t.series = self.path_series(path);
        if let Some(s) = self.saved.remove(&id) {
            let same = Fingerprint::read(&t.file, s.fingerprint.len).ok() == Some(s.fingerprint);
            if s.copy {
                // Rewritten or not, its bytes are the original's.
                t.copy = true;
                t.resume_at(size);
            } else if same && size >= s.offset && s.tail.ends_at(&t.file, s.offset) {
                t.resume_at(s.offset);
                self.replay(&mut t, &s.pending);
                // Followed before the stop: maybe renamed since, never a copy
                // (identical lines make it look like one of the live file).
                self.rotated_away(id);
            } else {
                self.scanner.observer.truncated();
                tracing::info!(log = %self.source.name, path = %path.display(), "file truncated or replaced while stopped; reading from its start");
                // copytruncate while stopped: the rest may be in the copy.
                if let Some((copy_path, file, copy_id)) =
                    self.find_copy(path, s.fingerprint, s.offset, s.tail)
                {
                    let mut c = Tracked::new(
                        copy_id,
                        copy_path,
                        file,
                        s.fingerprint,
                        crate::fdlimit::Permit::acquire(),
                    );
                    c.resume_at(s.offset);
                    // The copy holds the bytes the position was saved on.
                    self.replay(&mut c, &s.pending);
                    // A message unfinished there goes on in the truncated file.
                    t.partial = self.read_copy(c).and_then(Partial::carried);
                }
            }
        } else if !self.started && !self.resumed && self.source.start_at == StartAt::End && size > 0
        {
            t.resume_at(size);
            let mut last = [0u8; 1];
            if t.file.read_at(&mut last, size - 1).ok() == Some(1) && last[0] != b'\n' {
                t.state = LineState::Skip;
            }
        }
        if self.damaged && !self.started {
            tracing::warn!(log = %self.source.name, path = %path.display(), start_at = ?self.source.start_at, "position lost with the damaged positions file; start_at applies");
        }
        if self.started && t.pos == 0 && !t.copy {
            t.partial = self.carry_partial(path);
        }
        tracing::debug!(log = %self.source.name, path = %path.display(), offset = t.pos, "following file");
        self.files.push(t);
        self.dirty = true;
        Some(id)
    }

    /// A container message whose first records are in the file that held
    /// `path` until now (rotated away: kubelet renames the log, then the
    /// runtime reopens it mid-message): read that file to its end, then
    /// hand its message over to the new file, where the rest will come.
    fn carry_partial(&mut self, path: &Path) -> Option<Partial> {
        // The predecessor is marked rotated, or still seems live if this is
        // the rescan that finds both: paths are compared only then (10 000
        // new pods' files would each compare 10 000 paths).
        let followed_here = self.globbed.contains(path);
        // Its records may not have been read yet: it is read first.
        let old = (self.files.iter().enumerate())
            .filter(|(_, t)| {
                (t.detached.is_some() || followed_here) && t.path.as_os_str() == path.as_os_str()
            })
            // The file rotated last (or not marked rotated yet).
            .max_by_key(|(_, t)| t.detached.map_or((1, None), |d| (0, Some(d))))
            .map(|(i, _)| i)?;
        self.read_one(old);
        let carried = self.files[old].partial.take()?.carried();
        if carried.is_some() {
            tracing::debug!(log = %self.source.name, path = %path.display(), "a container message goes on in the file that replaced its first one");
        }
        carried
    }
}
