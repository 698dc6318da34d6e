//! The files a web configuration was built from, read bounded and
//! stamped, so a change is seen by content and not only by mtime.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What identifies one version of a file: metadata alone misses a swap
/// that keeps size and mtime, so the bytes are hashed too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp {
    len: u64,
    mtime: Option<SystemTime>,
    dev: u64,
    ino: u64,
    sha256: [u8; 32],
}

/// Every file a configuration was built from, with its size cap and the
/// version read (`None`: unreadable).
pub(super) type Fingerprint = Vec<(PathBuf, u64, Option<Stamp>)>;

/// Reads the files a configuration names, bounded, recording what was read.
#[derive(Default)]
pub(super) struct Reader {
    pub(super) seen: Fingerprint,
}

impl Reader {
    pub(super) fn read(
        &mut self,
        path: &Path,
        max: u64,
    ) -> Result<Vec<u8>, crate::fsread::ReadError> {
        let bytes = crate::fsread::read_bounded(path, max);
        let stamp = bytes.as_ref().ok().map(|b| stamp(path, b));
        self.seen.push((path.to_path_buf(), max, stamp));
        bytes
    }
}

fn stamp(path: &Path, bytes: &[u8]) -> Stamp {
    let meta = std::fs::metadata(path).ok();
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    Stamp {
        len: bytes.len() as u64,
        mtime: meta.as_ref().and_then(|m| m.modified().ok()),
        dev: meta.as_ref().map_or(0, |m| m.dev()),
        ino: meta.as_ref().map_or(0, |m| m.ino()),
        sha256,
    }
}

/// Reads the files of `old` again.
pub(super) fn fingerprint(old: &Fingerprint) -> Fingerprint {
    let mut r = Reader::default();
    for (path, max, _) in old {
        let _ = r.read(path, *max);
    }
    r.seen
}
