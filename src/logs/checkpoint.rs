//! Saved read positions, keyed by file identity.
//!
//! One small text file per log in the storage directory, replaced atomically
//! (temp file, fsync, rename, fsync of the directory), so a crash leaves
//! either the old or the new positions, never a torn file.
//!
//! ```text
//! # vitals_exporter positions v1
//! <dev> <inode> <offset> <fingerprint-length> <fingerprint-hash> <path>
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

const HEADER: &str = "# vitals_exporter positions v1";

/// Device and inode: what a file is, whatever its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl FileId {
    /// The identity in `meta`.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A hash of a file's first bytes: catches inode reuse and a file
/// truncated and rewritten while we were not looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fingerprint {
    /// Bytes hashed (at most [`Fingerprint::MAX_LEN`]; fewer for a short file).
    pub len: u64,
    /// FNV-1a of those bytes.
    pub hash: u64,
}

impl Fingerprint {
    /// Bytes of the file head that identify it.
    pub const MAX_LEN: u64 = 256;

    /// Fingerprint of `head` (the first bytes of a file).
    pub fn of(head: &[u8]) -> Self {
        Fingerprint {
            len: head.len() as u64,
            hash: crate::fnv1a(head),
        }
    }

    /// Reads the first `len` bytes of `file` (fewer if it is shorter).
    pub fn read(file: &File, len: u64) -> std::io::Result<Self> {
        let mut buf = [0u8; Self::MAX_LEN as usize];
        let want = len.min(Self::MAX_LEN) as usize;
        let n = read_head(file, &mut buf[..want])?;
        Ok(Self::of(&buf[..n]))
    }
}

/// Fills `buf` from the start of `file`; returns the bytes read (fewer
/// than `buf.len()` only at EOF).
pub fn read_head(file: &File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64) {
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
pub struct Saved {
    /// Offset just past the last line counted.
    pub offset: u64,
    /// The file head when it was saved.
    pub fingerprint: Fingerprint,
    /// Where the file was (to find it if it was rotated while we were down).
    pub path: PathBuf,
}

/// Why the checkpoint file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
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
}

/// Loads saved positions; a missing file is an empty map.
pub fn load(path: &Path) -> Result<HashMap<FileId, Saved>, CheckpointError> {
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
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(corrupt(1, "missing header"));
    }
    let mut out = HashMap::new();
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        let mut f = line.splitn(6, ' ');
        let mut num = |radix: u32| {
            f.next()
                .and_then(|v| u64::from_str_radix(v, radix).ok())
                .ok_or_else(|| corrupt(n, "bad number"))
        };
        let (dev, ino, offset, len, hash) = (num(10)?, num(10)?, num(10)?, num(10)?, num(16)?);
        let path = f.next().ok_or_else(|| corrupt(n, "missing path"))?;
        out.insert(
            FileId { dev, ino },
            Saved {
                offset,
                fingerprint: Fingerprint { len, hash },
                path: PathBuf::from(unescape(path)),
            },
        );
    }
    Ok(out)
}

/// Atomically replaces the positions file with `entries`.
pub fn save<'a>(
    path: &Path,
    entries: impl Iterator<Item = (FileId, &'a Saved)>,
) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut text = String::with_capacity(256);
    text.push_str(HEADER);
    text.push('\n');
    for (id, s) in entries {
        use std::fmt::Write as _;
        let _ = writeln!(
            text,
            "{} {} {} {} {:x} {}",
            id.dev,
            id.ino,
            s.offset,
            s.fingerprint.len,
            s.fingerprint.hash,
            escape(&s.path.to_string_lossy())
        );
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
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.positions");
        let a = Saved {
            offset: 42,
            fingerprint: Fingerprint::of(b"hello"),
            path: PathBuf::from("/var/log/odd name\nwith newline\\.log"),
        };
        let id = FileId { dev: 1, ino: 2 };
        save(&p, [(id, &a)].into_iter()).unwrap();
        let got = load(&p).unwrap();
        assert_eq!(got.get(&id), Some(&a));
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn missing_is_empty_and_corrupt_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.positions");
        assert!(load(&p).unwrap().is_empty());
        std::fs::write(&p, "garbage\n").unwrap();
        assert_eq!(
            load(&p).unwrap_err().to_string(),
            format!("{}:1: corrupt positions file: missing header", p.display())
        );
        std::fs::write(&p, format!("{HEADER}\n1 2 x 3 4 /a\n")).unwrap();
        assert_eq!(
            load(&p).unwrap_err().to_string(),
            format!("{}:2: corrupt positions file: bad number", p.display())
        );
    }
}
