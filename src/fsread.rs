//! Reading a whole file that configuration names (secrets, CA bundles, web
//! config, file_sd targets) without letting the name hurt the process.
//!
//! An operator can name `/dev/zero`, a FIFO, a directory or a 2 GB file by
//! mistake. So the path must name a regular file before it is opened
//! (opening a device can act), the file is opened with `O_NONBLOCK` (a FIFO
//! swapped in cannot block the open), checked again on the open descriptor
//! (no stat/open race), and read up to a cap: one byte more than the cap
//! proves the file is too big without reading the rest.
//!
//! This is blocking I/O: async callers run it on the blocking pool.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Cap for secrets (passwords, bearer tokens).
pub(crate) const SECRET_MAX_BYTES: u64 = 64 * 1024;
/// Cap for PEM bundles (certificates, keys, CA files).
pub(crate) const PEM_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// Cap for configuration documents (the config file, web config, file_sd).
pub(crate) const DOCUMENT_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Why a named file could not be read. The message never repeats the path:
/// callers put it in front, with the config location that named it.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// `open` or `read` failed.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// A directory, FIFO, socket or device.
    #[error("not a regular file ({0})")]
    NotRegular(&'static str),
    /// Larger than the cap for its kind.
    #[error("larger than {max} bytes")]
    TooLarge {
        /// The cap that was exceeded.
        max: u64,
    },
    /// Text was expected.
    #[error("not valid UTF-8")]
    NotUtf8,
}

/// Reads a regular file of at most `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    // Opening some devices acts (a watchdog arms, a tape rewinds, a serial
    // line raises DTR): refuse by `stat` before opening; the `fstat` below
    // still decides, for a file swapped in between.
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(kind_name(&kind)));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(kind_name(&kind)));
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge { max });
    }
    read_capped(file, max)
}

/// Reads a regular UTF-8 file of at most `max` bytes.
pub(crate) fn read_bounded_string(path: &Path, max: u64) -> Result<String, ReadError> {
    String::from_utf8(read_bounded(path, max)?).map_err(|_| ReadError::NotUtf8)
}

/// The size in `fstat` can lie (a file growing while read), so the read
/// itself is capped too.
fn read_capped(file: File, max: u64) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    file.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(ReadError::TooLarge { max });
    }
    Ok(out)
}

/// What a non-regular file is, for error messages.
pub(crate) fn kind_name(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        std::fs::write(&p, b"hunter2\n").unwrap();
        assert_eq!(read_bounded(&p, 8).unwrap(), b"hunter2\n");
        assert_eq!(read_bounded_string(&p, 8).unwrap(), "hunter2\n");
        assert!(matches!(
            read_bounded(&p, 7),
            Err(ReadError::TooLarge { max: 7 })
        ));
        std::fs::write(&p, b"\xff\xfe").unwrap();
        assert!(matches!(
            read_bounded_string(&p, 8),
            Err(ReadError::NotUtf8)
        ));
    }

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_bounded(dir.path(), 8).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file (a directory)");
        let err = read_bounded(Path::new("/dev/zero"), 8).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file (a character device)");
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from(0o600)).unwrap();
        // Must return at once although no writer exists.
        let err = read_bounded(&fifo, 8).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file (a FIFO)");
        let err = read_bounded(&dir.path().join("missing"), 8).unwrap_err();
        assert!(matches!(err, ReadError::Io(ref e) if e.kind() == std::io::ErrorKind::NotFound));
    }
}
