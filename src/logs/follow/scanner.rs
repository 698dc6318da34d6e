//! Line assembly: bytes read from a file become blocks of complete lines
//! (and cut long lines) for the matchers, whatever the read boundaries.

use std::os::unix::fs::FileExt;

use memchr::{memchr, memchr_iter, memrchr};

use super::file::{LineState, Tracked};
use super::READ_BUDGET;
use crate::logs::matcher::{LevelMatcher, LinePattern};
use crate::logs::structured::{Partial, Sinks, Structured};
use crate::logs::{LogObserver, PathSeries};

/// Counting state shared by every file of the log.
pub(super) struct Scanner<O> {
    pub(super) observer: O,
    /// Set when the log has a format other than plain.
    pub(super) structured: Option<Structured>,
    pub(super) levels: LevelMatcher,
    pub(super) patterns: Vec<LinePattern>,
    pub(super) max_line_bytes: usize,
    pub(super) buf: Vec<u8>,
    /// Bytes read since start (to tell a busy cycle from an idle one).
    pub(super) bytes_read: u64,
}

impl<O: LogObserver> Scanner<O> {
    /// Counts a block of complete lines (each ends with `\n`), read at
    /// file offset `at`.
    fn block(
        &mut self,
        b: &[u8],
        at: u64,
        partial: &mut Option<Partial>,
        series: Option<&dyn PathSeries>,
    ) {
        if b.len() <= self.max_line_bytes + 1 {
            self.scan(b, at, false, partial, series);
            return;
        }
        // A line may be too long: cut such lines, keep the rest in runs.
        let (mut run, mut start) = (0, 0);
        for nl in memchr_iter(b'\n', b) {
            if nl - start > self.max_line_bytes {
                self.scan(&b[run..start], at + run as u64, false, partial, series);
                self.scan(
                    &b[start..start + self.max_line_bytes],
                    at + start as u64,
                    true,
                    partial,
                    series,
                );
                self.observer.long_line();
                run = nl + 1;
            }
            start = nl + 1;
        }
        self.scan(&b[run..], at + run as u64, false, partial, series);
    }

    /// Classifies and matches `b` (read at file offset `at`): complete
    /// lines, or one `cut` line.
    fn scan(
        &mut self,
        b: &[u8],
        at: u64,
        cut: bool,
        partial: &mut Option<Partial>,
        series: Option<&dyn PathSeries>,
    ) {
        if b.is_empty() {
            return;
        }
        let counts = match &self.structured {
            Some(s) => {
                let sinks = Sinks {
                    observer: &mut self.observer,
                    levels: &mut self.levels,
                    patterns: &mut self.patterns,
                };
                s.scan(b, at, cut, partial, sinks)
            }
            None => {
                let counts = self.levels.scan(b);
                self.observer.lines(counts);
                counts
            }
        };
        if let Some(s) = series {
            s.lines(counts);
        }
        if self.structured.is_some() {
            return;
        }
        let observer = &mut self.observer;
        for (i, p) in self.patterns.iter_mut().enumerate() {
            p.for_each_matching_line(b, |values| observer.matched(i, values));
        }
    }

    /// Feeds bytes read at the end of `t`.
    pub(super) fn feed(&mut self, t: &mut Tracked, data: &[u8]) {
        let line_end = memrchr(b'\n', data);
        let base = t.pos;
        t.remember(data, line_end);
        t.pos += data.len() as u64;
        let mut rest = data;
        if !t.pending.is_empty() || t.state != LineState::Normal {
            let Some(i) = memchr(b'\n', rest) else {
                self.append(t, rest);
                return;
            };
            self.append(t, &rest[..i]);
            // `line_start` is still where this line starts.
            self.finish_line(t);
            rest = &rest[i + 1..];
        }
        if let Some(j) = line_end {
            t.line_start = base + j as u64 + 1;
        }
        match memrchr(b'\n', rest) {
            Some(j) => {
                let at = base + (data.len() - rest.len()) as u64;
                self.block(&rest[..=j], at, &mut t.partial, t.series.as_deref());
                self.append(t, &rest[j + 1..]);
            }
            None => self.append(t, rest),
        }
    }

    /// Adds bytes of the current line, within `max_line_bytes`.
    fn append(&mut self, t: &mut Tracked, bytes: &[u8]) {
        if t.state != LineState::Normal || bytes.is_empty() {
            return;
        }
        let room = self.max_line_bytes - t.pending.len();
        if bytes.len() > room {
            t.pending.extend_from_slice(&bytes[..room]);
            t.state = LineState::Overlong;
        } else {
            t.pending.extend_from_slice(bytes);
        }
    }

    /// Counts the current line (its `\n` arrived, or the file is let go).
    pub(super) fn finish_line(&mut self, t: &mut Tracked) {
        match t.state {
            LineState::Skip => {}
            LineState::Overlong => {
                let line = std::mem::take(&mut t.pending);
                self.scan(
                    &line,
                    t.line_start,
                    true,
                    &mut t.partial,
                    t.series.as_deref(),
                );
                self.observer.long_line();
                t.pending = line;
            }
            LineState::Normal if !t.pending.is_empty() => {
                let line = std::mem::take(&mut t.pending);
                self.scan(
                    &line,
                    t.line_start,
                    false,
                    &mut t.partial,
                    t.series.as_deref(),
                );
                t.pending = line;
            }
            LineState::Normal => {}
        }
        t.pending.clear();
        t.state = LineState::Normal;
    }

    /// Reads `t` from its position to EOF (within the budget); returns the
    /// bytes read.
    pub(super) fn drain(&mut self, t: &mut Tracked) -> std::io::Result<u64> {
        let mut total = 0;
        if t.pos == 0 {
            match skip_bom(t)? {
                Some(n) => {
                    total = n;
                    self.bytes_read += n;
                    self.observer.read(n);
                }
                // The writer may be halfway through a BOM: wait for its end.
                None => return Ok(0),
            }
        }
        let mut buf = std::mem::take(&mut self.buf);
        let result = loop {
            if total >= READ_BUDGET {
                break Ok(total);
            }
            match t.file.read_at(&mut buf, t.pos) {
                Ok(0) => break Ok(total),
                // Truncated and rewritten while we read (copytruncate under a
                // busy writer): these bytes may be the new content. Drop
                // them; the truncation check reads the old ones from the copy.
                Ok(_) if !t.intact() => break Ok(total),
                Ok(n) => {
                    total += n as u64;
                    self.bytes_read += n as u64;
                    self.observer.read(n as u64);
                    self.feed(t, &buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.buf = buf;
        result
    }
}

/// A UTF-8 byte order mark (some Windows and .NET loggers start a file with
/// one): not part of the first line, which would then not parse as JSON or
/// logfmt nor match `^` patterns.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Moves a file read from its start past a BOM there; returns the bytes
/// skipped, or `None` while the file holds only a beginning of a BOM.
/// Only offset 0 counts: a file resumed elsewhere never starts with one.
fn skip_bom(t: &mut Tracked) -> std::io::Result<Option<u64>> {
    let mut head = [0u8; BOM.len()];
    let n = crate::logs::checkpoint::read_exact_at(&t.file, &mut head, 0)?;
    if head[..n] != BOM[..n] {
        return Ok(Some(0));
    }
    if n < BOM.len() {
        return Ok(None);
    }
    t.remember(BOM, None);
    t.pos = BOM.len() as u64;
    Ok(Some(t.pos))
}
