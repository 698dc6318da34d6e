//! Renames inside the watched directories, from an inotify instance of our
//! own that asks for nothing else (no `IN_MODIFY`: a busy writer costs it
//! nothing, so it stays on while the follower polls).
//!
//! Events queue in the kernel while the follower is busy, so a file renamed
//! away from a followed path before any poll saw it (a rename storm, or the
//! follower paused by an fsync) is still found by its new name.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};

/// Cookies of `IN_MOVED_FROM` events waiting for their `IN_MOVED_TO`.
const PENDING_MAX: usize = 4096;

/// A non-blocking inotify instance watching directories for renames.
#[derive(Debug)]
pub(crate) struct Renames {
    fd: OwnedFd,
    dirs: HashMap<i32, PathBuf>,
    watched: HashSet<PathBuf>,
    /// `IN_MOVED_FROM` paths by cookie.
    from: HashMap<u32, PathBuf>,
}

impl Renames {
    /// A new instance, watching nothing yet.
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Renames {
            fd: inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?,
            dirs: HashMap::new(),
            watched: HashSet::new(),
            from: HashMap::new(),
        })
    }

    /// Watches `dir` for renames, unless it is watched already.
    pub(crate) fn watch(&mut self, dir: &Path) -> std::io::Result<()> {
        if self.watched.contains(dir) {
            return Ok(());
        }
        let wd = inotify::add_watch(
            &self.fd,
            dir,
            WatchFlags::MOVED_FROM | WatchFlags::MOVED_TO | WatchFlags::ONLYDIR,
        )?;
        self.dirs.insert(wd, dir.to_path_buf());
        self.watched.insert(dir.to_path_buf());
        Ok(())
    }

    /// Appends the (from, to) renames queued since the last call.
    pub(crate) fn drain(&mut self, out: &mut Vec<(PathBuf, PathBuf)>) {
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut events = inotify::Reader::new(&self.fd, &mut buf);
        // Ends at EAGAIN: the queue is empty.
        while let Ok(ev) = events.next() {
            let mask = ev.events();
            // The directory is gone: watch it again when it is back.
            if mask.contains(ReadFlags::IGNORED) {
                if let Some(d) = self.dirs.remove(&ev.wd()) {
                    self.watched.remove(&d);
                }
                continue;
            }
            let Some(dir) = self.dirs.get(&ev.wd()) else {
                continue;
            };
            let name = ev.file_name().map_or(&[][..], |n| n.to_bytes());
            let path = dir.join(OsStr::from_bytes(name));
            if mask.contains(ReadFlags::MOVED_FROM) {
                if self.from.len() >= PENDING_MAX {
                    self.from.clear();
                }
                self.from.insert(ev.cookie(), path);
            } else if mask.contains(ReadFlags::MOVED_TO) {
                if let Some(from) = self.from.remove(&ev.cookie()) {
                    out.push((from, path));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_renames_with_both_names() {
        let d = tempfile::tempdir().unwrap();
        let mut r = Renames::new().unwrap();
        r.watch(d.path()).unwrap();
        let (a, b, c) = (d.path().join("a"), d.path().join("b"), d.path().join("c"));
        std::fs::write(&a, "x").unwrap();
        std::fs::rename(&a, &b).unwrap();
        std::fs::rename(&b, &c).unwrap();
        std::fs::write(&a, "modify and create are not asked for").unwrap();
        let mut out = Vec::new();
        r.drain(&mut out);
        assert_eq!(out, [(a, b.clone()), (b, c)]);
        out.clear();
        r.drain(&mut out);
        assert!(out.is_empty());
    }
}
