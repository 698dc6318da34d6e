//! Opening a file named by a glob for following.
//!
//! Anything can appear at a followed name: a FIFO (whose `open` or `read`
//! would block the follower thread for good), a device, a directory, or a
//! pseudo file of procfs or sysfs whose size says nothing of its content
//! (`/proc/self/status` is 0 bytes long yet yields text, so every read
//! would look like a file truncated and rewritten). Only regular files on
//! filesystems whose sizes describe their content are followed.

use std::fs::{File, Metadata};
use std::io::{Error, ErrorKind};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::OFlags;

/// Filesystems whose file sizes do not describe the bytes a read yields
/// (`statfs(2)` magic numbers, from `linux/magic.h`).
const PSEUDO_FILESYSTEMS: [(u32, &str); 11] = [
    (0x9fa0, "procfs"),
    (0x6265_6572, "sysfs"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0x6265_6570, "configfs"),
    (0x0027_e0eb, "cgroupfs"),
    (0x6367_7270, "cgroup2fs"),
    (0xcafe_4a11, "bpffs"),
    (0x6165_676c, "pstorefs"),
    (0xde5e_81e4, "efivarfs"),
];

/// Opens `path` for reading without ever blocking, and keeps it only if it
/// is a regular file whose size describes its content. The descriptor is
/// returned in blocking mode with its `fstat`.
pub(crate) fn open_regular(path: &Path) -> std::io::Result<(File, Metadata)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "not a regular file ({})",
                crate::fsread::kind_name(&meta.file_type())
            ),
        ));
    }
    if let Some(fs) = pseudo_filesystem(&file)? {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("a pseudo file on {fs}: its size does not describe its content"),
        ));
    }
    // A pseudo file on a filesystem not listed above: empty by its size,
    // yet it yields bytes. A writer appending between the two `fstat`s
    // makes the second one non-zero, so a real log is never refused here.
    if meta.len() == 0 && file.read_at(&mut [0u8], 0)? == 1 && file.metadata()?.len() == 0 {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "a pseudo file: 0 bytes long by its size, yet it yields bytes",
        ));
    }
    set_blocking(&file)?;
    Ok((file, meta))
}

fn pseudo_filesystem(file: &File) -> std::io::Result<Option<&'static str>> {
    let st = rustix::fs::fstatfs(file)?;
    // f_type is signed and of varying width across targets; magics are 32-bit.
    let magic = st.f_type as u32;
    Ok(PSEUDO_FILESYSTEMS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name))
}

/// Clears `O_NONBLOCK`, which was only there to keep `open` from blocking.
fn set_blocking(file: &File) -> std::io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    rustix::fs::fcntl_setfl(file, flags - OFlags::NONBLOCK)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_open_blocking_and_the_rest_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("app.log");
        std::fs::write(&log, "x\n").unwrap();
        let (f, meta) = open_regular(&log).unwrap();
        assert_eq!(meta.len(), 2);
        let flags = rustix::fs::fcntl_getfl(&f).unwrap();
        assert!(!flags.contains(OFlags::NONBLOCK));

        let fifo = d.path().join("fifo.log");
        use rustix::fs::{mknodat, FileType, Mode, CWD};
        mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        let e = open_regular(&fifo).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file (a FIFO)");

        let e = open_regular(d.path()).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file (a directory)");
        let e = open_regular(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file (a character device)");
        let e = open_regular(Path::new("/proc/self/status")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a pseudo file on procfs: its size does not describe its content"
        );
    }
}
