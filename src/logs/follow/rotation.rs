//! Files that move under the follower: renamed away (seen or unseen),
//! rotated while the exporter was stopped, truncated or rewritten in place,
//! and the copies copytruncate leaves.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::file::Tracked;
use super::{Follower, ROTATED_AWAY_MAX};
use crate::logs::checkpoint::{read_exact_at, read_head, FileId, Fingerprint};
use crate::logs::open::open_regular;
use crate::logs::structured::Partial;
use crate::logs::LogObserver;

impl<O: LogObserver> Follower<O> {
    /// Follows files renamed away from a path of the globs that were never
    /// seen there (created and rotated away between two looks) under their
    /// new name, from their start. Returns whether a followed path changed.
    pub(super) fn renamed_away(&mut self) -> bool {
        let Some(r) = &mut self.renames else {
            return false;
        };
        let mut renamed = Vec::new();
        r.drain(&mut renamed);
        let mut any = false;
        for (from, to) in renamed {
            if !self.globbed.contains(&from) {
                continue;
            }
            any = true;
            let Ok(meta) = std::fs::metadata(&to) else {
                continue;
            };
            let id = FileId::of(&meta);
            self.rotated_away(id);
            if self.globbed.contains(&to) {
                continue;
            }
            if !meta.is_file() || self.files.iter().any(|t| t.id == id) {
                continue;
            }
            if self.open(&to) != Some(id) {
                continue;
            }
            if let Some(t) = self.files.iter_mut().find(|t| t.id == id) {
                t.detached = Some(Instant::now());
                self.scanner.observer.rotated();
                tracing::info!(log = %self.source.name, from = %from.display(), path = %to.display(), "file rotated away before it was seen; reading it from its new name");
            }
        }
        any
    }

    /// Whether a followed path now leads to another file, or to none; or
    /// the old path of a rotated file leads to a file not followed yet (the
    /// new file of a rename + create: found now, not at the next rescan,
    /// when it may already be rotated away itself).
    pub(super) fn paths_moved(&self) -> bool {
        let live: HashSet<&Path> = self
            .files
            .iter()
            .filter(|t| t.detached.is_none())
            .map(|t| t.path.as_path())
            .collect();
        let mut old = HashSet::new();
        self.files.iter().any(|t| {
            if t.detached.is_none() {
                return std::fs::metadata(&t.path).map_or(true, |m| FileId::of(&m) != t.id);
            }
            if live.contains(t.path.as_path()) || !old.insert(t.path.as_path()) {
                return false;
            }
            std::fs::metadata(&t.path)
                .is_ok_and(|m| m.is_file() && !self.files.iter().any(|f| f.id == FileId::of(&m)))
        })
    }

    /// Remembers that file `id` left a followed path by a rename (while we
    /// ran or were stopped): a rotated generation, never a copy.
    pub(super) fn rotated_away(&mut self, id: FileId) {
        if self.rotated_away.len() >= ROTATED_AWAY_MAX {
            self.rotated_away.clear();
        }
        self.rotated_away.insert(id);
    }

    /// Positions whose file left the globs while we were stopped (rotated):
    /// find it by identity next to its old path and read what is left.
    pub(super) fn recover_rotated_while_down(&mut self) {
        for (id, s) in std::mem::take(&mut self.saved) {
            // A copy left alone is found again by the copytruncate it serves.
            if s.copy {
                continue;
            }
            let Some(dir) = s.path.parent() else { continue };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(meta) = e.metadata() else { continue };
                if !meta.is_file() || FileId::of(&meta) != id {
                    continue;
                }
                let Some(fd) = crate::fdlimit::Permit::acquire() else {
                    break;
                };
                let Ok((file, meta)) = open_regular(&e.path()) else {
                    break;
                };
                if FileId::of(&meta) != id
                    || Fingerprint::read(&file, s.fingerprint.len).ok() != Some(s.fingerprint)
                    || meta.len() < s.offset
                    || !s.tail.ends_at(&file, s.offset)
                {
                    break;
                }
                tracing::info!(log = %self.source.name, path = %e.path().display(), "reading the rest of a file rotated while stopped");
                let mut t = Tracked::new(id, e.path(), file, s.fingerprint, Some(fd));
                // Rotated away: the saved path, not the new name, gave its labels.
                t.series = self.path_series(&s.path);
                t.resume_at(s.offset);
                self.replay(&mut t, &s.pending);
                t.detached = Some(Instant::now());
                self.rotated_away(id);
                self.files.push(t);
                break;
            }
        }
    }

    /// Whether file `i` shrank below what we read, or its head changed.
    /// Refreshes the fingerprint of a file that grew past a short head.
    pub(super) fn truncated(&mut self, i: usize, size: u64) -> bool {
        let t = &mut self.files[i];
        if size < t.pos {
            return true;
        }
        let mut buf = [0u8; Fingerprint::MAX_LEN as usize];
        let Ok(n) = read_head(&t.file, &mut buf) else {
            return false;
        };
        let head = &buf[..n];
        let old_len = t.fingerprint.len as usize;
        if head.len() < old_len || Fingerprint::of(&head[..old_len]) != t.fingerprint || !t.intact()
        {
            return true;
        }
        if head.len() > old_len {
            t.fingerprint = Fingerprint::of(head);
        }
        false
    }

    /// copytruncate: lines written after our last read may survive in the
    /// copy; read them there, then restart the file from its beginning.
    pub(super) fn handle_truncation(&mut self, i: usize) {
        self.scanner.observer.truncated();
        let t = &self.files[i];
        let copy = self.find_copy(&t.path, t.fingerprint, t.line_start, t.tail);
        tracing::info!(log = %self.source.name, path = %t.path.display(), copy = ?copy.as_ref().map(|c| c.0.display().to_string()), "file truncated; reading from its start");
        let copied = copy.is_some();
        let mut head = None;
        if let Some((copy_path, file, id)) = copy {
            // The copy holds the same bytes we read, then the rest.
            let t = &mut self.files[i];
            let mut c = Tracked::new(
                id,
                copy_path,
                file,
                t.fingerprint,
                crate::fdlimit::Permit::acquire(),
            );
            c.pos = t.pos;
            c.line_start = t.line_start;
            c.pending = std::mem::take(&mut t.pending);
            c.state = t.state;
            c.partial = t.partial.take();
            c.recent.clone_from(&t.recent);
            c.tail = t.tail;
            c.series.clone_from(&t.series);
            head = self.read_copy(c);
        }
        let t = &mut self.files[i];
        self.scanner.finish_line(t);
        let kept = if copied { None } else { t.kept_prefix() };
        if let Some(at) = kept {
            tracing::info!(log = %self.source.name, path = %t.path.display(), offset = at, "file cut; reading on from there");
        }
        t.resume_at(kept.unwrap_or(0));
        t.fingerprint = Fingerprint::read(&t.file, Fingerprint::MAX_LEN).unwrap_or_default();
        self.dirty = true;
        // A container message whose head was read up to the copy's end
        // goes on in the truncated file, from its start.
        self.files[i].partial = head.and_then(Partial::carried);
    }

    /// Reads copy `c` from its position to its end, then keeps it known at
    /// its end: a glob that matches it must not read it again. Returns the
    /// container records still being joined at its end.
    pub(super) fn read_copy(&mut self, mut c: Tracked) -> Option<Partial> {
        if let Err(e) = self.scanner.drain(&mut c) {
            tracing::warn!(log = %self.source.name, path = %c.path.display(), error = %e, "reading the copy failed");
        }
        self.scanner.finish_line(&mut c);
        let partial = c.partial.take();
        if let Ok(m) = c.file.metadata() {
            c.resume_at(m.len());
        }
        c.fingerprint = Fingerprint::read(&c.file, Fingerprint::MAX_LEN).unwrap_or_default();
        c.copy = true;
        self.saved.remove(&c.id);
        self.dirty = true;
        match self.files.iter_mut().find(|f| f.id == c.id) {
            Some(known) => {
                c.path = std::mem::take(&mut known.path);
                c.detached = known.detached;
                *known = c;
            }
            None => {
                c.detached = Some(Instant::now());
                self.files.push(c);
            }
        }
        partial
    }

    /// Whether new file `c` (of `size` bytes) is a copy of a followed file:
    /// named like it plus a suffix, with its head, and with the bytes we
    /// read last from it (or, shorter, with the same bytes as it so far).
    pub(super) fn is_copy(&self, c: &Tracked, size: u64) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let (Some(dir), Some(name)) = (c.path.parent(), c.path.file_name()) else {
            return false;
        };
        let name = name.as_bytes();
        self.files.iter().any(|live| {
            let live_name = live.path.file_name().map_or(&[][..], |n| n.as_bytes());
            !live.copy
                && live.pos > 0
                && name.len() > live_name.len()
                && name.starts_with(live_name)
                && live.path.parent() == Some(dir)
                && Fingerprint::read(&c.file, live.fingerprint.len).ok() == Some(live.fingerprint)
                && if size >= live.pos {
                    Fingerprint::of(&live.recent).ends_at(&c.file, live.pos)
                } else {
                    let mut buf = [0u8; Fingerprint::MAX_LEN as usize];
                    let k = size.min(Fingerprint::MAX_LEN) as usize;
                    read_exact_at(&live.file, &mut buf[..k], size - k as u64).ok() == Some(k)
                        && Fingerprint::of(&buf[..k]).ends_at(&c.file, size)
                }
        })
    }

    /// A sibling named like `path` plus a suffix (`app.log.1`,
    /// `app.log-20260101`) with the same `head` and, ending at offset `end`,
    /// the same `tail` bytes: the copy that copytruncate made of the file
    /// we read up to `end`. A known copy may have been copied into again
    /// (`cp` over an existing file keeps its inode), and a file found by a
    /// glob but not read yet may be the copy.
    pub(super) fn find_copy(
        &self,
        path: &Path,
        head: Fingerprint,
        end: u64,
        tail: Fingerprint,
    ) -> Option<(PathBuf, File, FileId)> {
        let dir = path.parent()?;
        let name = path.file_name()?.to_string_lossy().into_owned();
        let mut best: Option<(std::time::SystemTime, PathBuf, File, FileId)> = None;
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let fname = e.file_name().to_string_lossy().into_owned();
            if fname == name || !fname.starts_with(&name) {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            let id = FileId::of(&meta);
            if !meta.is_file()
                || meta.len() < end
                || self
                    .files
                    .iter()
                    .any(|f| f.id == id && !f.copy && f.pos > 0)
                // A generation of its own (identical lines look alike).
                || self.rotated_away.contains(&id)
                || self.saved.get(&id).is_some_and(|s| !s.copy)
            {
                continue;
            }
            let Ok((file, meta)) = open_regular(&e.path()) else {
                continue;
            };
            if FileId::of(&meta) != id
                || Fingerprint::read(&file, head.len).ok() != Some(head)
                || !tail.ends_at(&file, end)
            {
                continue;
            }
            let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|b| mtime > b.0) {
                best = Some((mtime, e.path(), file, id));
            }
        }
        best.map(|(_, p, f, id)| (p, f, id))
    }
}
