//! CRI log records (containerd, CRI-O): `<rfc3339 time> <stdout|stderr> <tag> <message>`, where
//! the tag is `P` (partial: the line continues in the next record) or `F` (full), possibly
//! followed by further `:`-separated tags.

use super::{Malformed, Stream};

/// One CRI record, its message borrowed from the line (without the line's newline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) stream: Stream,
    pub(crate) partial: bool,
    pub(crate) message: &'a [u8],
}

/// Parses one record. The time is not interpreted (the follower counts lines as they arrive);
/// it only has to start with a digit. A record ending right after its tag has an empty message.
pub(crate) fn parse(line: &[u8]) -> Result<Record<'_>, Malformed> {
    let mut fields = line.splitn(4, |&c| c == b' ');
    let time = fields.next().ok_or(Malformed)?;
    if !time.first().is_some_and(u8::is_ascii_digit) {
        return Err(Malformed);
    }
    let stream = Stream::parse(fields.next().ok_or(Malformed)?).ok_or(Malformed)?;
    let tags = fields.next().ok_or(Malformed)?;
    let partial = match tags.split(|&c| c == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return Err(Malformed),
    };
    Ok(Record {
        stream,
        partial,
        message: fields.next().unwrap_or_default(),
    })
}
