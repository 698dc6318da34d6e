//! One followed file: its identity, position, the line being assembled,
//! and what we remember of its bytes to tell a truncated or rewritten file.

use std::fs::File;
use std::path::PathBuf;
use std::time::Instant;

use memchr::memrchr;

use crate::logs::checkpoint::{read_exact_at, FileId, Fingerprint};
use crate::logs::structured::Partial;

/// Whether the file has no name left (deleted while open); an error
/// proves nothing, so the file is taken as still there.
pub(super) fn unlinked(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    file.metadata().is_ok_and(|m| m.nlink() == 0)
}

/// What the current line is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineState {
    /// Collecting bytes into `pending`.
    Normal,
    /// Past `max_line_bytes`: `pending` keeps the head, the rest is dropped.
    Overlong,
    /// Dropping the tail of a line that was already there when we started.
    Skip,
}

/// One followed file.
#[derive(Debug)]
pub(super) struct Tracked {
    pub(super) id: FileId,
    pub(super) path: PathBuf,
    pub(super) file: File,
    /// Bytes read from the file so far.
    pub(super) pos: u64,
    /// Where the current incomplete line starts: the checkpointed offset.
    pub(super) line_start: u64,
    /// Bytes of the current incomplete line (at most `max_line_bytes`).
    pub(super) pending: Vec<u8>,
    pub(super) state: LineState,
    /// Container records not joined into a message yet (container formats).
    pub(super) partial: Option<Partial>,
    /// The file head.
    pub(super) fingerprint: Fingerprint,
    /// The last bytes read (at most [`Fingerprint::MAX_LEN`], ending at
    /// `pos`): a file truncated and rewritten past `pos` no longer has
    /// them there, even when its head never changes (a banner).
    pub(super) recent: Vec<u8>,
    /// Fingerprint of the bytes ending at `line_start`: saved with it, it
    /// tells at restart whether the file still has the bytes we read.
    pub(super) tail: Fingerprint,
    /// A copy made by copytruncate, found and read through the file it was
    /// copied from: never read on its own (its bytes were counted there).
    pub(super) copy: bool,
    /// Modification time at the last read (seconds, nanoseconds): a file
    /// rewritten to exactly the size we read differs only there.
    pub(super) mtime: (i64, i64),
    /// Since when the path no longer leads to this file.
    pub(super) detached: Option<Instant>,
    /// The series of its path labels (`path_labels`), if any.
    pub(super) series: Option<std::sync::Arc<dyn crate::logs::PathSeries>>,
    /// Its share of the open-file budget (`None`: a copy read past it).
    _fd: Option<crate::fdlimit::Permit>,
}

impl Tracked {
    /// A file read from its start.
    pub(super) fn new(
        id: FileId,
        path: PathBuf,
        file: File,
        fingerprint: Fingerprint,
        fd: Option<crate::fdlimit::Permit>,
    ) -> Self {
        Tracked {
            id,
            path,
            file,
            pos: 0,
            line_start: 0,
            pending: Vec::new(),
            state: LineState::Normal,
            partial: None,
            fingerprint,
            recent: Vec::with_capacity(Fingerprint::MAX_LEN as usize),
            tail: Fingerprint::of(&[]),
            copy: false,
            mtime: (0, 0),
            detached: None,
            series: None,
            _fd: fd,
        }
    }

    /// Continues at `offset`, the start of a line.
    pub(super) fn resume_at(&mut self, offset: u64) {
        self.pos = offset;
        self.line_start = offset;
        // Records before `offset` are joined again only by a replay (a restart).
        self.partial = None;
        let k = offset.min(Fingerprint::MAX_LEN) as usize;
        self.recent.resize(k, 0);
        let n = read_exact_at(&self.file, &mut self.recent, offset - k as u64).unwrap_or(0);
        self.recent.truncate(n);
        self.tail = Fingerprint::of(&self.recent);
    }

    /// Remembers the last bytes of `data` (just read at the old `pos`), and
    /// the tail when a line ends at `data[line_end]`.
    pub(super) fn remember(&mut self, data: &[u8], line_end: Option<usize>) {
        const K: usize = Fingerprint::MAX_LEN as usize;
        if let Some(j) = line_end {
            let upto = &data[..=j];
            self.tail = if upto.len() >= K {
                Fingerprint::of(&upto[upto.len() - K..])
            } else {
                let mut w = [0u8; K];
                let from = (K - upto.len()).min(self.recent.len());
                w[..from].copy_from_slice(&self.recent[self.recent.len() - from..]);
                w[from..from + upto.len()].copy_from_slice(upto);
                Fingerprint::of(&w[..from + upto.len()])
            };
        }
        if data.len() >= K {
            self.recent.clear();
            self.recent.extend_from_slice(&data[data.len() - K..]);
        } else {
            let drop = (self.recent.len() + data.len()).saturating_sub(K);
            self.recent.drain(..drop);
            self.recent.extend_from_slice(data);
        }
    }

    /// Where a file that was cut (`truncate -s`, then maybe written on)
    /// still holds what we read, head unchanged: lines before that point
    /// were counted, bytes after it are new. A cut that nothing was written
    /// after yet is read on from the cut itself, even mid-line (the line it
    /// cuts was counted whole), and also when it lies before the bytes we
    /// remember: the head is then the only evidence, but reading from the
    /// start would count again every line up to the cut. A file rewritten
    /// past the cut is read on from the last line end it shares with what we
    /// read. `None`: a new generation, read from its start.
    pub(super) fn kept_prefix(&self) -> Option<u64> {
        let size = self.file.metadata().ok()?.len();
        let start = self.pos - self.recent.len() as u64;
        let end = size.min(self.pos);
        let head_kept = |at: u64| {
            start == 0
                || (at >= self.fingerprint.len
                    && Fingerprint::read(&self.file, self.fingerprint.len).ok()
                        == Some(self.fingerprint))
        };
        if end <= start {
            return (size < self.pos && size > 0 && start > 0 && head_kept(size)).then_some(size);
        }
        let mut buf = [0u8; Fingerprint::MAX_LEN as usize];
        let n = read_exact_at(&self.file, &mut buf[..(end - start) as usize], start).ok()?;
        let same = buf[..n]
            .iter()
            .zip(&self.recent)
            .take_while(|(a, b)| a == b)
            .count();
        let at = if size < self.pos && same as u64 == end - start {
            end
        } else {
            start + memrchr(b'\n', &self.recent[..same])? as u64 + 1
        };
        head_kept(at).then_some(at)
    }

    /// Whether the file still holds the bytes we read last, before `pos`
    /// (a failed read proves nothing: then it is taken as intact).
    pub(super) fn intact(&self) -> bool {
        let mut buf = [0u8; Fingerprint::MAX_LEN as usize];
        let k = self.recent.len();
        read_exact_at(&self.file, &mut buf[..k], self.pos - k as u64)
            .map_or(true, |n| buf[..n] == self.recent[..])
    }
}
