//! Saved read positions, keyed by file identity.
//!
//! One small text file per log in the storage directory, replaced atomically
//! (temp file, fsync, rename, fsync of the directory), so a crash leaves
//! either the old or the new positions, never a torn file.
//!
//! ```text
//! # vitals_exporter positions v2
//! <dev> <inode> <offset> <head-length> <head-hash> <tail-length> <tail-hash> <copy> <path>
//! # end <entries> <FNV-1a of every byte before this line, hex>
//! ```
//!
//! The end line catches a file cut at a line boundary (a copy, a restore,
//! a filesystem that lost the tail), which would otherwise read as fewer
//! files. A v1 file (no tail, copy flag or end line) is still read: its
//! positions are checked by head only.
//!
//! v3 adds, before the path, the container messages being joined at the
//! offset: `<stdout>,<stderr>`, each `-` or the offset of the message's
//! first record, `c` appended when a record of it was cut (counted as a
//! long line already). It is written only when some file has such a
//! message, so that plain logs keep v2 files an older exporter still reads.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::hash::fnv1a;
pub(crate) use pending::{Pending, PendingStart};

mod pending;

const HEADER: &str = "# vitals_exporter positions v2";
/// v2 plus messages being joined (see the module documentation).
const HEADER_V3: &str = "# vitals_exporter positions v3";
/// The first format: the same entries, without an end line.
const HEADER_V1: &str = "# vitals_exporter positions v1";
const END: &str = "# end ";

/// Device and inode: what a file is, whatever its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    /// `st_dev`.
    pub(crate) dev: u64,
    /// `st_ino`.
    pub(crate) ino: u64,
}

impl FileId {
    /// The identity in `meta`.
    pub(crate) fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A hash of some bytes of a file: its first bytes (the head), or the bytes
/// just before a read position (the tail). The head catches inode reuse
/// and a file rewritten from its start; the tail catches the same for a
/// file whose first bytes never change (a banner, a CSV header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fingerprint {
    /// Bytes hashed (at most [`Fingerprint::MAX_LEN`]; fewer for a short file).
    pub(crate) len: u64,
    /// FNV-1a of those bytes.
    pub(crate) hash: u64,
}

impl Fingerprint {
    /// Bytes of the file head that identify it.
    pub(crate) const MAX_LEN: u64 = 256;

    /// Fingerprint of `head` (the first bytes of a file).
    pub(crate) fn of(head: &[u8]) -> Self {
        Fingerprint {
            len: head.len() as u64,
            hash: fnv1a(head),
        }
    }

    /// Reads the first `len` bytes of `file` (fewer if it is shorter).
    pub(crate) fn read(file: &File, len: u64) -> std::io::Result<Self> {
        let mut buf = [0u8; Self::MAX_LEN as usize];
        let want = len.min(Self::MAX_LEN) as usize;
        let n = read_head(file, &mut buf[..want])?;
        Ok(Self::of(&buf[..n]))
    }

    /// Whether the `self.len` bytes of `file` that end at `end` hash to
    /// `self` (a tail fingerprint taken at `end`).
    pub(crate) fn ends_at(&self, file: &File, end: u64) -> bool {
        if self.len == 0 {
            // Nothing was read before `end` (or a v1 file had no tail).
            return true;
        }
        let mut buf = [0u8; Self::MAX_LEN as usize];
        let want = self.len.min(Self::MAX_LEN).min(end) as usize;
        if want as u64 != self.len {
            return false;
        }
        read_exact_at(file, &mut buf[..want], end - want as u64).is_ok_and(|n| n == want)
            && Self::of(&buf[..want]) == *self
    }
}

/// Fills `buf` from the start of `file`; returns the bytes read (fewer
/// than `buf.len()` only at EOF).
pub(crate) fn read_head(file: &File, buf: &mut [u8]) -> std::io::Result<usize> {
    read_exact_at(file, buf, 0)
}

/// Fills `buf` from offset `at` of `file`; returns the bytes read (fewer
/// than `buf.len()` only at EOF).
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], at + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// One saved position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Saved {
    /// Offset just past the last line counted.
    pub(crate) offset: u64,
    /// The file head when it was saved.
    pub(crate) fingerprint: Fingerprint,
    /// The bytes just before `offset` (empty from a v1 file).
    pub(crate) tail: Fingerprint,
    /// A copy made by copytruncate, whose bytes were read through the file
    /// it was copied from.
    pub(crate) copy: bool,
    /// Where the file was (to find it if it was rotated while we were down).
    pub(crate) path: PathBuf,
    /// Container messages being joined at `offset`, by stream.
    pub(crate) pending: Pending,
}

/// Why the checkpoint file could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckpointError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The checkpoint file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The content is not a positions file.
    #[error("{path}:{line}: corrupt positions file: {reason}")]
    Corrupt {
        /// The checkpoint file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The end line is missing or does not match: entries may be missing.
    #[error("{path}: positions file cut or damaged ({reason}); ignoring its {} entries", lost.len())]
    Damaged {
        /// The checkpoint file.
        path: String,
        /// What does not match.
        reason: String,
        /// The paths of the entries that could be read, all ignored.
        lost: Vec<PathBuf>,
    },
}

/// Loads saved positions; a missing file is an empty map.
pub(crate) fn load(path: &Path) -> Result<HashMap<FileId, Saved>, CheckpointError> {
    let shown = || path.display().to_string();
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(source) => {
            return Err(CheckpointError::Io {
                path: shown(),
                source,
            })
        }
    };
    let corrupt = |line, reason| CheckpointError::Corrupt {
        path: shown(),
        line,
        reason,
    };
    let text = String::from_utf8(text).map_err(|_| corrupt(1, "not UTF-8"))?;
    let (first, _) = text.split_once('\n').unwrap_or((&text, ""));
    let v1 = first == HEADER_V1;
    let v3 = first == HEADER_V3;
    // Fields of an entry; the last one, the path, may hold spaces.
    let fields = if v1 {
        6
    } else if v3 {
        10
    } else {
        9
    };
    let body = match first {
        HEADER_V1 => text.as_str(),
        HEADER | HEADER_V3 => {
            let body = text.strip_suffix('\n').unwrap_or(&text);
            match body.rsplit_once('\n') {
                Some((entries, end)) if end.starts_with(END) => {
                    let entries = &text[..=entries.len()];
                    let want = format!(
                        "{END}{} {:016x}",
                        entries.lines().count() - 1,
                        fnv1a(entries.as_bytes())
                    );
                    if end != want {
                        return Err(damaged(
                            path,
                            entries,
                            fields,
                            format!("end line {end:?}, content gives {want:?}"),
                        ));
                    }
                    entries
                }
                _ => return Err(damaged(path, body, fields, "no end line".into())),
            }
        }
        _ => return Err(corrupt(1, "missing header")),
    };
    let mut out = HashMap::new();
    for (i, line) in body.lines().skip(1).enumerate() {
        let n = i + 2;
        let mut f = line.splitn(fields, ' ');
        let mut num = |radix: u32| {
            f.next()
                .and_then(|v| u64::from_str_radix(v, radix).ok())
                .ok_or_else(|| corrupt(n, "bad number"))
        };
        let (dev, ino, offset, len, hash) = (num(10)?, num(10)?, num(10)?, num(10)?, num(16)?);
        let (tail, copy) = if v1 {
            (Fingerprint::default(), false)
        } else {
            let tail = Fingerprint {
                len: num(10)?,
                hash: num(16)?,
            };
            (tail, num(10)? == 1)
        };
        let pending = if v3 {
            f.next()
                .and_then(pending::parse)
                .ok_or_else(|| corrupt(n, "bad pending messages"))?
        } else {
            Pending::default()
        };
        let path = f.next().ok_or_else(|| corrupt(n, "missing path"))?;
        out.insert(
            FileId { dev, ino },
            Saved {
                offset,
                fingerprint: Fingerprint { len, hash },
                tail,
                copy,
                path: PathBuf::from(unescape(path)),
                pending,
            },
        );
    }
    Ok(out)
}

/// The error for a v2/v3 file whose end line is missing or wrong; names the
/// entries that can still be read (all ignored: any of them may be damaged).
fn damaged(path: &Path, text: &str, fields: usize, reason: String) -> CheckpointError {
    let lost = text
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.splitn(fields, ' ').nth(fields - 1))
        .map(|p| PathBuf::from(unescape(p)))
        .collect();
    CheckpointError::Damaged {
        path: path.display().to_string(),
        reason,
        lost,
    }
}

/// Atomically replaces the positions file with `entries`.
pub(crate) fn save<'a>(
    path: &Path,
    entries: impl Iterator<Item = (FileId, &'a Saved)>,
) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    };
    let entries: Vec<_> = entries.collect();
    let v3 = entries
        .iter()
        .any(|(_, s)| s.pending.iter().any(Option::is_some));
    let mut text = String::with_capacity(256);
    text.push_str(if v3 { HEADER_V3 } else { HEADER });
    text.push('\n');
    let count = entries.len();
    for (id, s) in entries {
        use std::fmt::Write as _;
        let _ = write!(
            text,
            "{} {} {} {} {:x} {} {:x} {} ",
            id.dev,
            id.ino,
            s.offset,
            s.fingerprint.len,
            s.fingerprint.hash,
            s.tail.len,
            s.tail.hash,
            u8::from(s.copy),
        );
        if v3 {
            pending::write(&mut text, &s.pending);
        }
        let _ = writeln!(text, "{}", escape(&s.path.to_string_lossy()));
    }
    let sum = fnv1a(text.as_bytes());
    {
        use std::fmt::Write as _;
        let _ = writeln!(text, "{END}{count} {sum:016x}");
    }
    let tmp = path.with_extension("positions.tmp");
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

/// Paths may hold newlines; keep one entry per line.
fn escape(p: &str) -> String {
    p.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unescape(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests;
