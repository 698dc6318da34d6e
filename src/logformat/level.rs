//! Level names and numbers as structured loggers write them, mapped onto the three levels the
//! follower counts.

use super::number::parse_number;

/// The level a line is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Error,
    Warning,
    Other,
}

/// What a structured line says about its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Level(Level),
    /// None of the level fields is present: the caller applies the plain-text token rule.
    NoField,
    /// The line is not well-formed in its format: counted as `other` and as a parse error.
    Malformed,
}

/// Maps a level field's decoded text, ASCII case-insensitively. Text that is an integer maps as
/// [`from_number`] does, since journald's JSON export writes `"PRIORITY":"3"` as a string.
pub(crate) fn from_text(text: &[u8]) -> Level {
    // Names are compared as (length, zero-padded word) pairs: a few integer compares per line
    // instead of a `memcmp` call per same-length name.
    const fn word(name: &[u8]) -> (usize, u64) {
        let mut w = [0u8; 8];
        let mut i = 0;
        while i < name.len() {
            w[i] = name[i];
            i += 1;
        }
        (name.len(), u64::from_le_bytes(w))
    }
    const ERROR: [(usize, u64); 8] = [
        word(b"error"),
        word(b"err"),
        word(b"fatal"),
        word(b"crit"),
        word(b"critical"),
        word(b"alert"),
        word(b"emerg"),
        word(b"panic"),
    ];
    const WARNING: [(usize, u64); 2] = [word(b"warn"), word(b"warning")];
    // No name is longer than 8 bytes; longer text cannot match.
    if text.len() <= 8 {
        let key = (text.len(), lower_word(text));
        if ERROR.contains(&key) {
            return Level::Error;
        }
        if WARNING.contains(&key) {
            return Level::Warning;
        }
    }
    match text.first() {
        Some(b'0'..=b'9') => parse_number(text).map_or(Level::Other, from_number),
        _ => Level::Other,
    }
}

/// `text` (at most 8 bytes) as a little-endian word, zero-padded, ASCII letters lowercased. Built
/// from two overlapping 4-byte loads and SWAR arithmetic: copying the text into a stack buffer
/// and loading that back stalled on store forwarding (a quarter of this function's profile).
fn lower_word(text: &[u8]) -> u64 {
    const LO: u64 = u64::from_le_bytes([1; 8]);
    let n = text.len();
    let w = match (text.get(..4), n.checked_sub(4).and_then(|s| text.get(s..))) {
        (Some(head), Some(tail)) => {
            let head = u64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]]));
            let tail = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
            // The overlap holds the same bytes in both.
            head | tail << (8 * (n - 4))
        }
        _ => (text.iter().rev()).fold(0, |w, &c| w << 8 | u64::from(c)),
    };
    // Per byte, without carries between bytes (7-bit values plus at most 0x3F): a high bit where
    // the byte is at least `A`, and where it is past `Z`; non-ASCII bytes are left alone.
    let low7 = w & (LO * 0x7F);
    let from_a = low7 + LO * (0x80 - u64::from(b'A'));
    let past_z = low7 + LO * (0x80 - u64::from(b'Z') - 1);
    let upper = from_a & !past_z & !w & (LO * 0x80);
    w | upper >> 2
}

/// Maps a numeric level. Two schemes are in use and their ranges do not overlap, so the value
/// tells them apart: 0–7 are syslog/journald priorities (0 emerg … 3 err → error, 4 warning),
/// 10 and up are bunyan/pino levels (10 trace … 40 warn, 50 error, 60 fatal; anything ≥ 50 is an
/// error, 40–49 a warning). A fraction, a negative value, 8 and 9 are neither: other.
pub(crate) fn from_number(v: f64) -> Level {
    if v.fract() != 0.0 || v < 0.0 {
        return Level::Other;
    }
    match v {
        v if v <= 3.0 => Level::Error,
        4.0 => Level::Warning,
        v if v < 10.0 => Level::Other,
        v if v >= 50.0 => Level::Error,
        v if v >= 40.0 => Level::Warning,
        _ => Level::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn lower_word_is_the_lowercased_bytes(text in prop::collection::vec(any::<u8>(), 0..=8)) {
            let mut want = [0u8; 8];
            want[..text.len()].copy_from_slice(&text);
            want.make_ascii_lowercase();
            prop_assert_eq!(lower_word(&text), u64::from_le_bytes(want));
        }
    }

    #[test]
    fn names_map_case_insensitively() {
        let table: &[(&[u8], Level)] = &[
            (b"error", Level::Error),
            (b"ERROR", Level::Error),
            (b"Err", Level::Error),
            (b"fatal", Level::Error),
            (b"CRIT", Level::Error),
            (b"critical", Level::Error),
            (b"alert", Level::Error),
            (b"emerg", Level::Error),
            (b"PANIC", Level::Error),
            (b"warn", Level::Warning),
            (b"Warning", Level::Warning),
            (b"info", Level::Other),
            (b"debug", Level::Other),
            (b"errors", Level::Other),
            (b" error", Level::Other),
            (b"", Level::Other),
            (b"criticality", Level::Other),
            (b"\xff\xfe", Level::Other),
            (b"3", Level::Error),
            (b"4", Level::Warning),
            (b"6", Level::Other),
            (b"50", Level::Error),
            (b"40", Level::Warning),
            (b"30", Level::Other),
        ];
        for (text, want) in table {
            assert_eq!(
                from_text(text),
                *want,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn numbers_follow_syslog_below_8_and_bunyan_from_10() {
        let table = [
            (0.0, Level::Error),
            (3.0, Level::Error),
            (4.0, Level::Warning),
            (5.0, Level::Other),
            (7.0, Level::Other),
            (8.0, Level::Other),
            (9.0, Level::Other),
            (10.0, Level::Other),
            (30.0, Level::Other),
            (39.0, Level::Other),
            (40.0, Level::Warning),
            (49.0, Level::Warning),
            (50.0, Level::Error),
            (60.0, Level::Error),
            (1e9, Level::Error),
            (3.5, Level::Other),
            (-1.0, Level::Other),
        ];
        for (v, want) in table {
            assert_eq!(from_number(v), want, "{v}");
        }
    }
}
