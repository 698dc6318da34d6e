//! Container messages split across a restart: the records of a message
//! read before the stop lie before the saved position, and are read again
//! (counting nothing) so that the records written after the restart join
//! them, as they would have without the restart.

use memchr::memchr;

use super::file::Tracked;
use super::scanner::Scanner;
use super::{Follower, READ_BUDGET};
use crate::logs::checkpoint::{read_exact_at, Pending};
use crate::logs::LogObserver;

impl<O: LogObserver> Follower<O> {
    /// Joins again the messages `pending` of `t`, a file resumed at its
    /// saved position (same file: the caller checked head and tail). Reads
    /// from the first record of the earliest of them to the position, at
    /// most what the joiner holds plus a read budget of records of the
    /// other stream or cut away; a message further back, or an offset the
    /// file cannot have, is left out (its tail then counts alone, as a
    /// message without its head).
    pub(super) fn replay(&mut self, t: &mut Tracked, pending: &Pending) {
        let Scanner {
            structured: Some(structured),
            buf,
            max_line_bytes: max,
            ..
        } = &mut self.scanner
        else {
            return;
        };
        let end = t.pos;
        let reach = 2 * *max as u64 + READ_BUDGET;
        // A record starts a line.
        let line_start = |at: u64| {
            let mut b = [0u8];
            at == 0 || read_exact_at(&t.file, &mut b, at - 1).is_ok_and(|n| n == 1 && b[0] == b'\n')
        };
        let from = pending.map(|p| {
            p.filter(|p| p.offset < end && end - p.offset <= reach && line_start(p.offset))
        });
        if from != *pending {
            tracing::info!(log = %self.source.name, path = %t.path.display(), "a container message split across the restart starts too far back (or where no record starts); counting its records from the position on");
        }
        let Some(mut at) = from.iter().flatten().map(|p| p.offset).min() else {
            return;
        };
        // The line being read and where it starts; past `max_line_bytes`
        // the rest is dropped, as when it was first read.
        let mut line = Vec::new();
        let mut line_at = at;
        while at < end {
            let want = buf.len().min((end - at) as usize);
            let n = match read_exact_at(&t.file, &mut buf[..want], at) {
                Ok(n) if n > 0 => n,
                _ => break,
            };
            let mut chunk = &buf[..n];
            while let Some(i) = memchr(b'\n', chunk) {
                keep(&mut line, &chunk[..i], *max);
                structured.rejoin(&line, line_at, &mut t.partial, &from);
                line.clear();
                line_at = at + (n - chunk.len() + i + 1) as u64;
                chunk = &chunk[i + 1..];
            }
            keep(&mut line, chunk, *max);
            at += n as u64;
        }
    }
}

/// Adds `bytes` to `line`, up to `max` bytes in all.
fn keep(line: &mut Vec<u8>, bytes: &[u8], max: usize) {
    let room = max - line.len().min(max);
    line.extend_from_slice(&bytes[..bytes.len().min(room)]);
}
