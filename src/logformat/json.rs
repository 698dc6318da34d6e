//! JSON lines, read in one pass without building a document: strings are skipped by a bit mask
//! of the `"`/`\` positions in the next 64 bytes (kept for the strings that follow), only keys of the wanted paths are compared, and only objects on a wanted path are
//! descended into (any other nesting is skipped by depth). The whole line is walked even after
//! the level is found, so a truncated or garbled line is reported as malformed rather than
//! counted by whatever prefix happened to parse.
//!
//! Checked: the line is one object; keys are strings followed by `:`; members are separated by
//! `,`; brackets balance and match (up to [`MAX_DEPTH`]); strings are closed and their escapes
//! valid; a bare value is a number-like token or `true`/`false`/`null`; only whitespace follows.
//! Not checked (to stay fast, and because no count depends on them): raw control bytes and
//! invalid UTF-8 inside strings, number syntax beyond its alphabet, separators inside skipped
//! nested values.

use std::borrow::Cow;

use super::{FieldSet, Found, Malformed};

/// Nesting deeper than this is malformed (skipping keeps one bit per level).
pub(crate) const MAX_DEPTH: u32 = 128;

/// Among `fields`, the present one listed first, with its decoded value. A path present twice
/// keeps its first occurrence. Strings are unescaped; other values are returned as written
/// (`50`, `true`, `{"a":1}`).
pub(crate) fn lookup<'a>(line: &'a [u8], fields: &FieldSet) -> Result<Found<'a>, Malformed> {
    let mut s = Scan {
        b: line,
        i: 0,
        window: 0,
        specials: specials(line, 0),
    };
    s.ws();
    if s.peek() != Some(b'{') {
        return Err(Malformed);
    }
    let mut best = None;
    s.object(fields, 0, fields.all(), &mut best)?;
    s.ws();
    if s.i != line.len() {
        return Err(Malformed);
    }
    Ok(best)
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    /// Bit `k` of `specials`: the byte at `window + k` is `"` or `\`.
    window: usize,
    specials: u64,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    /// At `{`: walks the object's members. `active` has a bit for each path whose first `depth`
    /// segments led here.
    fn object(
        &mut self,
        fields: &FieldSet,
        depth: usize,
        mut active: u64,
        best: &mut Found<'a>,
    ) -> Result<(), Malformed> {
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(Malformed);
            }
            let (key, key_escaped) = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(Malformed);
            }
            self.i += 1;
            self.ws();
            // Paths listed after the best one found can no longer win.
            if let Some((idx, _)) = best {
                active &= (1u64 << *idx) - 1;
            }
            let (leaf, inner) = if active == 0 {
                (None, 0)
            } else {
                let key = if key_escaped {
                    Cow::Owned(unescape(key))
                } else {
                    Cow::Borrowed(key)
                };
                fields.match_key(&key, depth, active)
            };
            let start = self.i;
            match self.peek() {
                Some(b'"') => {
                    let (raw, escaped) = self.string()?;
                    if let Some(idx) = leaf {
                        let text = if escaped {
                            Cow::Owned(unescape(raw))
                        } else {
                            Cow::Borrowed(raw)
                        };
                        *best = Some((idx, text));
                    }
                }
                Some(b'{') if inner != 0 => {
                    self.object(fields, depth + 1, inner, best)?;
                    self.record_bare(leaf, start, best);
                }
                Some(b'{' | b'[') => {
                    self.skip_nested()?;
                    self.record_bare(leaf, start, best);
                }
                _ => {
                    self.scalar()?;
                    self.record_bare(leaf, start, best);
                }
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(Malformed),
            }
        }
    }

    fn record_bare(&self, leaf: Option<usize>, start: usize, best: &mut Found<'a>) {
        if let Some(idx) = leaf {
            // A nested object may itself have set a better (earlier) path.
            if best.as_ref().is_none_or(|(b, _)| idx < *b) {
                *best = Some((idx, Cow::Borrowed(&self.b[start..self.i])));
            }
        }
    }

    /// At `"`: the raw bytes between the quotes, and whether they hold an escape.
    #[inline(always)]
    fn string(&mut self) -> Result<(&'a [u8], bool), Malformed> {
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            let k = self.next_special(j).ok_or(Malformed)?;
            if self.b[k] == b'"' {
                self.i = k + 1;
                return Ok((&self.b[start..k], escaped));
            }
            escaped = true;
            j = k + 1 + escape_len(&self.b[k + 1..])?;
        }
    }

    /// The first `"` or `\` at or after `j` (which never goes back). One 64-byte mask serves the
    /// several short strings of a typical line, where a search per string paid its setup each time.
    #[inline(always)]
    fn next_special(&mut self, mut j: usize) -> Option<usize> {
        loop {
            if j - self.window >= 64 {
                if j >= self.b.len() {
                    return None;
                }
                self.window = j;
                self.specials = specials(self.b, j);
            }
            let ahead = self.specials >> (j - self.window);
            if ahead != 0 {
                return Some(j + ahead.trailing_zeros() as usize);
            }
            j = self.window + 64;
        }
    }

    /// A number, `true`, `false` or `null`. What follows is checked by the caller (a separator
    /// or the end), so `1x` and `nullx` are still malformed.
    fn scalar(&mut self) -> Result<(), Malformed> {
        let rest = &self.b[self.i..];
        match rest.first() {
            Some(b'-' | b'0'..=b'9') => {
                let mut len = 0;
                loop {
                    len += digits_len(&rest[len..]);
                    match rest.get(len) {
                        Some(b'-' | b'+' | b'.' | b'e' | b'E') => len += 1,
                        _ => break,
                    }
                }
                self.i += len;
                Ok(())
            }
            _ if rest.starts_with(b"true") || rest.starts_with(b"null") => {
                self.i += 4;
                Ok(())
            }
            _ if rest.starts_with(b"false") => {
                self.i += 5;
                Ok(())
            }
            _ => Err(Malformed),
        }
    }

    /// At `{` or `[`: skips to after the matching close, keeping one bit per open bracket
    /// (1 = object) so that `{]` is caught.
    fn skip_nested(&mut self) -> Result<(), Malformed> {
        let mut stack: u128 = 0;
        let mut depth = 0u32;
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => {
                    if depth == MAX_DEPTH {
                        return Err(Malformed);
                    }
                    stack = (stack << 1) | u128::from(c == b'{');
                    depth += 1;
                }
                b'}' | b']' => {
                    if (stack & 1 == 1) != (c == b'}') {
                        return Err(Malformed);
                    }
                    stack >>= 1;
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        Err(Malformed)
    }
}

/// Bit `k` set where `b[at + k]` is `"` or `\\`, for the (up to) 64 bytes from `at`. SSE2 is part
/// of x86_64 (`safe_arch` calls it without `unsafe`); the line's last bytes are loaded as the 16
/// that end it and shifted, not copied out.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn specials(b: &[u8], at: usize) -> u64 {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let mut mask = 0;
    for k in 0..4 {
        let from = at + 16 * k;
        let (block, skip) = match b.get(from..from + 16) {
            Some(block) => (block, 0),
            None if from >= b.len() => break,
            None => match b.len().checked_sub(16) {
                Some(start) => (&b[start..], from - start),
                None => return specials_bytes(b, at), // a line under 16 bytes
            },
        };
        let mut bytes = [0; 16];
        bytes.copy_from_slice(block);
        let v = load_unaligned_m128i(&bytes);
        let hit = bitor_m128i(
            cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'"' as i8)),
            cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'\\' as i8)),
        );
        mask |= (u64::from(move_mask_i8_m128i(hit) as u16) >> skip) << (16 * k);
    }
    mask
}

#[cfg(not(target_arch = "x86_64"))]
fn specials(b: &[u8], at: usize) -> u64 {
    specials_bytes(b, at)
}

/// [`specials`] byte by byte: the portable version, and the reference for the SSE2 one.
fn specials_bytes(b: &[u8], at: usize) -> u64 {
    let bytes = b.get(at..).unwrap_or_default().iter().take(64);
    (bytes.enumerate()).fold(0, |m, (k, &c)| m | u64::from(c == b'"' || c == b'\\') << k)
}

/// How many ASCII digits `s` starts with, 8 at a time: XOR with `0x30` maps digits to 0–9, and
/// a byte is not a digit when that or that plus 6 reaches its high nibble (a carry out of a byte
/// only comes from one already flagged, so the lowest flag is exact). Timestamps and durations
/// make numbers a large part of a line.
#[inline]
fn digits_len(s: &[u8]) -> usize {
    const LO: u64 = u64::from_le_bytes([1; 8]);
    let mut i = 0;
    while let Some(Ok(word)) = s.get(i..i + 8).map(<[u8; 8]>::try_from) {
        let t = u64::from_le_bytes(word) ^ (LO * 0x30);
        let bad = (t | t.wrapping_add(LO * 6)) & (LO * 0xF0);
        if bad != 0 {
            return i + (bad.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + s[i..].iter().take_while(|c| c.is_ascii_digit()).count()
}

/// Bytes after a `\` that belong to its escape, if it is a valid one.
fn escape_len(rest: &[u8]) -> Result<usize, Malformed> {
    match rest.first() {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(1),
        Some(b'u') if rest.len() >= 5 && rest[1..5].iter().all(u8::is_ascii_hexdigit) => Ok(5),
        _ => Err(Malformed),
    }
}

fn hex4(h: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(h.get(..4)?).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// Decodes a JSON string's raw bytes. A lone surrogate becomes U+FFFD; an invalid escape (never
/// seen after [`lookup`] validated the line) is kept as written.
pub(crate) fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'\\', &raw[i..]) {
        out.extend_from_slice(&raw[i..i + k]);
        i += k;
        let simple = match raw.get(i + 1) {
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            Some(b'/') => Some(b'/'),
            Some(b'b') => Some(8),
            Some(b'f') => Some(12),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
            continue;
        }
        let Some(hi) = (raw.get(i + 1) == Some(&b'u'))
            .then(|| hex4(&raw[i + 2..]))
            .flatten()
        else {
            out.push(b'\\');
            i += 1;
            continue;
        };
        i += 6;
        let mut code = hi;
        if (0xD800..0xDC00).contains(&hi) && raw.get(i..i + 2) == Some(b"\\u") {
            if let Some(lo @ 0xDC00..0xE000) = hex4(&raw[i + 2..]) {
                code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
        }
        let ch = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
        out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
    }
    out.extend_from_slice(&raw[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn word_searches_agree_with_byte_loops(s in prop::collection::vec(prop::sample::select(b"09/:\"\\\\a.\xff\x06".to_vec()), 0..200), gaps in prop::collection::vec(0usize..90, 1..8)) {
            // As strings are scanned: each search starts after the last one found.
            let mut scan = Scan { b: &s, i: 0, window: 0, specials: specials(&s, 0) };
            let mut from = 0;
            for gap in gaps {
                let j = from + gap;
                prop_assert_eq!(specials(&s, j), specials_bytes(&s, j));
                let want = s.get(j..).and_then(|r| r.iter().position(|&c| c == b'"' || c == b'\\')).map(|p| p + j);
                prop_assert_eq!(scan.next_special(j), want);
                let Some(k) = want else { break };
                from = k + 1;
            }
            prop_assert_eq!(digits_len(&s), s.iter().take_while(|c| c.is_ascii_digit()).count());
        }
    }
}
