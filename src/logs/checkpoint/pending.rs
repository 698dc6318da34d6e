//! The container messages being joined at a saved position (v3 entries).

/// Per stream (stdout, stderr): the start of the container message being
/// joined from records before the saved offset, if any.
pub(crate) type Pending = [Option<PendingStart>; 2];

/// Where a container message being joined starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingStart {
    /// Offset of its first record.
    pub(crate) offset: u64,
    /// A record of it was cut at `max_line_bytes`: its long line is counted.
    pub(crate) cut: bool,
}

/// Parses `<stdout>,<stderr>`: each `-`, or an offset with `c` appended
/// when cut.
pub(super) fn parse(s: &str) -> Option<Pending> {
    let one = |s: &str| -> Option<Option<PendingStart>> {
        if s == "-" {
            return Some(None);
        }
        let (digits, cut) = match s.strip_suffix('c') {
            Some(d) => (d, true),
            None => (s, false),
        };
        let offset = digits.parse().ok()?;
        Some(Some(PendingStart { offset, cut }))
    };
    let (out, err) = s.split_once(',')?;
    Some([one(out)?, one(err)?])
}

/// Appends `p` as [`parse`] reads it, then a space.
pub(super) fn write(text: &mut String, p: &Pending) {
    use std::fmt::Write as _;
    for (i, p) in p.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        match p {
            None => text.push('-'),
            Some(p) => {
                let _ = write!(text, "{}", p.offset);
                if p.cut {
                    text.push('c');
                }
            }
        }
    }
    text.push(' ');
}
