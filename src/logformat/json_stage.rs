//! The fast JSON walk, simdjson style. Stage 1 turns each 64-byte chunk of the line into
//! bitmasks at once (quotes not escaped, bytes inside strings, structural characters outside
//! strings); stage 2 steps from one such token to the next (`trailing_zeros`) instead of byte by
//! byte, checking the grammar of [`super::json`] and comparing only keys on wanted paths. Bare
//! values and the blanks between tokens are read where the grammar expects them (they are short).
//! Chunks are classified as the walk reaches them.
//!
//! This walk only answers when it is sure to agree with the byte walk in `json`, which stays the
//! reference: a line it cannot vouch for (malformed, an escaped key or level, a `\` outside a
//! string) is left undecided, and the byte walk decides it.
//!
//! Long (over 400 lines): the two stages share the token state and make sense only together.

use std::borrow::Cow;

use memchr::memchr;

use super::{FieldSet, Found};

/// Nesting deeper than this is malformed (skipping keeps one bit per level).
pub(super) const MAX_DEPTH: u32 = 128;

/// The line is left to the byte walk.
pub(super) struct Undecided;

/// The first of `fields` present, as [`super::json::lookup`] finds it, if the line is one this
/// walk can vouch for.
pub(super) fn lookup<'a>(line: &'a [u8], fields: &FieldSet) -> Option<Found<'a>> {
    let mut w = Walk {
        b: line,
        t: Tokens::new(line),
    };
    let first = w.t.next().ok()?;
    if line[first] != b'{' || !blank(&line[..first]) {
        return None;
    }
    let mut best = None;
    let close = w.object(fields, first, 0, fields.all(), &mut best).ok()?;
    (w.t.finished().ok()? && blank(&line[close + 1..])).then_some(best)
}

/// Only JSON whitespace (usually nothing: most gaps between tokens are empty).
#[inline]
fn blank(gap: &[u8]) -> bool {
    gap.iter()
        .all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
}

/// A number-like token (sign, digits, `.`, exponent in any order after a leading `-` or digit),
/// `true`, `false` or `null` at the start of `rest`: its length.
pub(super) fn scalar_len(rest: &[u8]) -> Option<usize> {
    match rest.first() {
        Some(b'-' | b'0'..=b'9') => {
            let mut len = 0;
            loop {
                len += digits_len(&rest[len..]);
                match rest.get(len) {
                    Some(b'-' | b'+' | b'.' | b'e' | b'E') => len += 1,
                    _ => return Some(len),
                }
            }
        }
        _ if rest.starts_with(b"true") || rest.starts_with(b"null") => Some(4),
        _ if rest.starts_with(b"false") => Some(5),
        _ => None,
    }
}

/// How many ASCII digits `s` starts with, 8 at a time: XOR with `0x30` maps digits to 0–9, and
/// a byte is not a digit when that or that plus 6 reaches its high nibble (a carry out of a byte
/// only comes from one already flagged, so the lowest flag is exact). Timestamps and durations
/// make numbers a large part of a line.
#[inline]
pub(super) fn digits_len(s: &[u8]) -> usize {
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
pub(super) fn escape_len(rest: &[u8]) -> Option<usize> {
    match rest.first() {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Some(1),
        Some(b'u') if rest.len() >= 5 && rest[1..5].iter().all(u8::is_ascii_hexdigit) => Some(5),
        _ => None,
    }
}

struct Walk<'a> {
    b: &'a [u8],
    t: Tokens<'a>,
}

impl<'a> Walk<'a> {
    /// After the `{` token at `open`: walks its members, returning the position of its `}`.
    /// `active` has a bit for each path whose first `depth` segments led here.
    fn object(
        &mut self,
        fields: &FieldSet,
        open: usize,
        depth: usize,
        mut active: u64,
        best: &mut Found<'a>,
    ) -> Result<usize, Undecided> {
        let mut t = self.token_after(open)?;
        if self.b[t] == b'}' {
            return Ok(t);
        }
        loop {
            if self.b[t] != b'"' {
                return Err(Undecided);
            }
            // Inside a string there are no tokens but its closing quote.
            let close = self.t.next()?;
            let key = &self.b[t + 1..close];
            let colon = self.token_after(close)?;
            if self.b[colon] != b':' {
                return Err(Undecided);
            }
            // Paths listed after the best one found can no longer win.
            if let Some((idx, _)) = best {
                active &= (1u64 << *idx) - 1;
            }
            let (leaf, inner) = if active == 0 {
                (None, 0)
            } else {
                self.unescaped(key)?;
                fields.match_key(key, depth, active)
            };
            let v = colon + 1 + blank_len(&self.b[colon + 1..]);
            let end = match self.b.get(v) {
                Some(b'"' | b'{' | b'[') => {
                    // Only blanks since the colon: the value's first byte is the next token.
                    if self.t.next()? != v {
                        return Err(Undecided);
                    }
                    match self.b[v] {
                        b'"' => {
                            let close = self.t.next()?;
                            if let Some(idx) = leaf {
                                let raw = &self.b[v + 1..close];
                                self.unescaped(raw)?;
                                *best = Some((idx, Cow::Borrowed(raw)));
                            }
                            close
                        }
                        b'{' if inner != 0 => {
                            let close = self.object(fields, v, depth + 1, inner, best)?;
                            self.record_bare(leaf, v, close + 1, best);
                            close
                        }
                        _ => {
                            let close = self.skip(v)?;
                            self.record_bare(leaf, v, close + 1, best);
                            close
                        }
                    }
                }
                _ => {
                    let end = v + scalar_len(&self.b[v..]).ok_or(Undecided)?;
                    self.record_bare(leaf, v, end, best);
                    end - 1
                }
            };
            let sep = self.token_after(end)?;
            match self.b[sep] {
                b',' => t = self.token_after(sep)?,
                b'}' => return Ok(sep),
                _ => return Err(Undecided),
            }
        }
    }

    /// The next token, which must follow the byte at `at` with only blanks between.
    #[inline]
    fn token_after(&mut self, at: usize) -> Result<usize, Undecided> {
        let t = self.t.next()?;
        if self.b.get(at + 1..t).is_some_and(blank) {
            Ok(t)
        } else {
            Err(Undecided)
        }
    }

    fn record_bare(&self, leaf: Option<usize>, start: usize, end: usize, best: &mut Found<'a>) {
        if let Some(idx) = leaf {
            // A nested object may itself have set a better (earlier) path.
            if best.as_ref().is_none_or(|(b, _)| idx < *b) {
                *best = Some((idx, Cow::Borrowed(&self.b[start..end])));
            }
        }
    }

    /// Text that would have to be unescaped is left to the byte walk (rare in keys and levels).
    fn unescaped(&self, raw: &[u8]) -> Result<(), Undecided> {
        if self.t.backslash_seen && memchr(b'\\', raw).is_some() {
            return Err(Undecided);
        }
        Ok(())
    }

    /// At the `{` or `[` token at `open`: the position of the matching close, keeping one bit
    /// per open bracket (1 = object) so that `{]` is caught. Bare values, `:` and `,` inside are
    /// not checked, as in the byte walk.
    fn skip(&mut self, open: usize) -> Result<usize, Undecided> {
        let mut stack = u128::from(self.b[open] == b'{');
        let mut depth = 1u32;
        loop {
            let t = self.t.next()?;
            match self.b[t] {
                b'"' => {
                    self.t.next()?;
                }
                c @ (b'{' | b'[') => {
                    if depth == MAX_DEPTH {
                        return Err(Undecided);
                    }
                    stack = (stack << 1) | u128::from(c == b'{');
                    depth += 1;
                }
                c @ (b'}' | b']') => {
                    if (stack & 1 == 1) != (c == b'}') {
                        return Err(Undecided);
                    }
                    stack >>= 1;
                    depth -= 1;
                    if depth == 0 {
                        return Ok(t);
                    }
                }
                _ => {}
            }
        }
    }
}

fn blank_len(s: &[u8]) -> usize {
    s.iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .count()
}

/// Stage 1, chunk by chunk as the walk asks for tokens.
struct Tokens<'a> {
    b: &'a [u8],
    /// Start of the chunk `bits` belong to, and of the next chunk.
    base: usize,
    next_base: usize,
    /// Token positions left in the current chunk.
    bits: u64,
    /// Carried to the next chunk: all ones if a string is open; bit 0 if its first byte is
    /// escaped.
    in_string: u64,
    escaped: u64,
    /// Whether any `\` was seen so far (strings without one need no unescaping check).
    backslash_seen: bool,
}

impl<'a> Tokens<'a> {
    fn new(b: &'a [u8]) -> Self {
        Tokens {
            b,
            base: 0,
            next_base: 0,
            bits: 0,
            in_string: 0,
            escaped: 0,
            backslash_seen: false,
        }
    }

    /// The position of the next token; the end of the line is undecided (a token was due).
    #[inline]
    fn next(&mut self) -> Result<usize, Undecided> {
        if self.bits == 0 && !self.refill()? {
            return Err(Undecided);
        }
        let i = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Ok(self.base + i)
    }

    /// Whether the line has no token left (every chunk classified).
    fn finished(&mut self) -> Result<bool, Undecided> {
        Ok(self.bits == 0 && !self.refill()?)
    }

    /// Classifies chunks until one has a token; false at the end of the line.
    fn refill(&mut self) -> Result<bool, Undecided> {
        while self.bits == 0 {
            let base = self.next_base;
            if base >= self.b.len() {
                return Ok(false);
            }
            self.bits = self.tokens(base, classify(self.b, base))?;
            self.base = base;
            self.next_base = base + 64;
        }
        Ok(true)
    }

    /// The token bits of the chunk at `base`, carrying string and escape state on.
    #[inline(always)]
    fn tokens(&mut self, base: usize, m: Masks) -> Result<u64, Undecided> {
        let mut escaped = self.escaped;
        self.escaped = 0;
        if m.backslash != 0 {
            self.backslash_seen = true;
            let mut bits = m.backslash;
            while bits != 0 {
                let i = bits.trailing_zeros();
                bits &= bits - 1;
                if escaped >> i & 1 == 0 {
                    // A `\` starting an escape (one outside a string makes the line undecided
                    // below; checking it too does no harm).
                    escape_len(self.b.get(base + i as usize + 1..).unwrap_or_default())
                        .ok_or(Undecided)?;
                    match i {
                        63 => self.escaped = 1,
                        _ => escaped |= 1 << (i + 1),
                    }
                }
            }
        }
        let quote = m.quote & !escaped;
        let in_string = prefix_xor(quote) ^ self.in_string;
        self.in_string = ((in_string as i64) >> 63) as u64;
        if m.backslash & !in_string != 0 {
            return Err(Undecided);
        }
        // A closing quote is not in the string mask, an opening one is.
        Ok((m.structural & !in_string & !quote) | quote)
    }
}

/// Bit `i` set where the bytes up to `i` hold an odd number of quotes: from an opening quote up
/// to, not including, its closing quote.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// One bit per byte of a chunk (none past the end of the line).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Masks {
    quote: u64,
    backslash: u64,
    /// `{ } [ ] : ,`
    structural: u64,
}

/// The chunk of `b` at `base`, 16 bytes at a time with SSE2 (part of x86_64; `safe_arch` wraps
/// its intrinsics without `unsafe` here). The line's last bytes are loaded as the 16 that end it
/// and shifted, not copied out.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify(b: &[u8], base: usize) -> Masks {
    let mut m = Masks::default();
    for k in 0..4 {
        let at = base + 16 * k;
        let (block, drop) = match b.get(at..at + 16) {
            Some(block) => (block, 0),
            None if at >= b.len() => break,
            None => match b.len().checked_sub(16) {
                Some(start) => (&b[start..], at - start),
                // A line under 16 bytes: rare enough for the byte loop.
                None => return classify_bytes(b, base),
            },
        };
        let (quote, backslash, structural) = classify16(block);
        let shift = 16 * k;
        m.quote |= (quote >> drop) << shift;
        m.backslash |= (backslash >> drop) << shift;
        m.structural |= (structural >> drop) << shift;
    }
    m
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify16(block: &[u8]) -> (u64, u64, u64) {
    use safe_arch::{
        bitor_m128i as or, cmp_eq_mask_i8_m128i as cmp_eq, load_unaligned_m128i,
        move_mask_i8_m128i, set_splat_i8_m128i as splat,
    };
    let mut bytes = [0; 16];
    bytes.copy_from_slice(block);
    let v = load_unaligned_m128i(&bytes);
    let bits = |v| u64::from(move_mask_i8_m128i(v) as u16);
    let eq = |x: u8| cmp_eq(v, splat(x as i8));
    // `| 0x20` folds `[` onto `{` and `]` onto `}`.
    let folded = or(v, splat(0x20));
    let fold_eq = |x: u8| cmp_eq(folded, splat(x as i8));
    let structural = or(or(fold_eq(b'{'), fold_eq(b'}')), or(eq(b':'), eq(b',')));
    (bits(eq(b'"')), bits(eq(b'\\')), bits(structural))
}

#[cfg(not(target_arch = "x86_64"))]
fn classify(b: &[u8], base: usize) -> Masks {
    classify_bytes(b, base)
}

/// Byte by byte: the portable classifier, and the reference the SSE2 one is tested against.
fn classify_bytes(b: &[u8], base: usize) -> Masks {
    let mut m = Masks::default();
    for (i, &x) in b[base..].iter().take(64).enumerate() {
        let bit = 1u64 << i;
        let set = |mask: &mut u64, yes: bool| *mask |= if yes { bit } else { 0 };
        set(&mut m.quote, x == b'"');
        set(&mut m.backslash, x == b'\\');
        set(
            &mut m.structural,
            matches!(x, b'{' | b'}' | b'[' | b']' | b':' | b','),
        );
    }
    m
}

#[cfg(test)]
#[path = "json_stage_tests.rs"]
mod tests;
