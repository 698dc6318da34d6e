//! Renames inside the watched directories, from an inotify instance of our
//! own that asks for nothing else (no `IN_MODIFY`: a busy writer costs it
//! nothing, so it stays on while the follower polls).
//!
//! Events queue in the kernel while the follower is busy, so a file renamed
//! away from a followed path before any poll saw it (a rename storm, or the
//! follower paused by an fsync) is still found by its new name.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Cookies of `IN_MOVED_FROM` events waiting for their `IN_MOVED_TO`.
const PENDING_MAX: usize = 4096;

/// A non-blocking inotify instance watching directories for renames.
#[derive(Debug)]
pub struct Renames {
    fd: OwnedFd,
    dirs: HashMap<i32, PathBuf>,
    watched: HashSet<PathBuf>,
    /// `IN_MOVED_FROM` paths by cookie.
    from: HashMap<u32, PathBuf>,
}

impl Renames {
    /// A new instance, watching nothing yet.
    pub fn new() -> std::io::Result<Self> {
        // SAFETY: plain syscall; the descriptor is owned below.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Renames {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            dirs: HashMap::new(),
            watched: HashSet::new(),
            from: HashMap::new(),
        })
    }

    /// Watches `dir` for renames, unless it is watched already.
    pub fn watch(&mut self, dir: &Path) -> std::io::Result<()> {
        if self.watched.contains(dir) {
            return Ok(());
        }
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: `c` is a valid C string for the duration of the call.
        let wd = unsafe {
            libc::inotify_add_watch(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                libc::IN_MOVED_FROM | libc::IN_MOVED_TO | libc::IN_ONLYDIR,
            )
        };
        if wd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        self.dirs.insert(wd, dir.to_path_buf());
        self.watched.insert(dir.to_path_buf());
        Ok(())
    }

    /// Appends the (from, to) renames queued since the last call.
    pub fn drain(&mut self, out: &mut Vec<(PathBuf, PathBuf)>) {
        const HEAD: usize = std::mem::size_of::<libc::inotify_event>();
        let mut buf = [0u8; 16 * 1024];
        loop {
            // SAFETY: reads into a buffer we own, within its length.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            let Ok(n) = usize::try_from(n) else { return };
            if n == 0 {
                return;
            }
            let mut at = 0;
            while at + HEAD <= n {
                let field = |i: usize| {
                    let mut b = [0u8; 4];
                    b.copy_from_slice(&buf[at + i..at + i + 4]);
                    b
                };
                let wd = i32::from_ne_bytes(field(0));
                let mask = u32::from_ne_bytes(field(4));
                let cookie = u32::from_ne_bytes(field(8));
                let len = u32::from_ne_bytes(field(12)) as usize;
                let end = (at + HEAD + len).min(n);
                let raw = &buf[at + HEAD..end];
                let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
                at = end;
                // The directory is gone: watch it again when it is back.
                if mask & libc::IN_IGNORED != 0 {
                    if let Some(d) = self.dirs.remove(&wd) {
                        self.watched.remove(&d);
                    }
                    continue;
                }
                let Some(dir) = self.dirs.get(&wd) else {
                    continue;
                };
                let path = dir.join(OsStr::from_bytes(name));
                if mask & libc::IN_MOVED_FROM != 0 {
                    if self.from.len() >= PENDING_MAX {
                        self.from.clear();
                    }
                    self.from.insert(cookie, path);
                } else if mask & libc::IN_MOVED_TO != 0 {
                    if let Some(from) = self.from.remove(&cookie) {
                        out.push((from, path));
                    }
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
