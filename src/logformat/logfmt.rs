//! logfmt lines: `key=value key="quoted \" value" flag`. A key runs to `=` or a blank; a value is
//! either quoted (closed by an unescaped `"`, followed by a blank or the end) or runs to the next
//! blank; a key without `=` has an empty value. Malformed: an empty key (`=x`), an unclosed
//! quote, or text glued to a closing quote. Dotted paths match the literal key (`log.level`).

use std::borrow::Cow;

use memchr::memchr2;

use super::{FieldSet, Found, Malformed};

/// Among `fields`, the present one listed first, with its decoded value; a key present twice
/// keeps its first occurrence. The whole line is checked, as for JSON.
pub(crate) fn lookup<'a>(line: &'a [u8], fields: &FieldSet) -> Result<Found<'a>, Malformed> {
    let blank = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let mut best: Found<'a> = None;
    let mut i = 0;
    loop {
        while line.get(i).is_some_and(|&c| blank(c)) {
            i += 1;
        }
        if i == line.len() {
            return Ok(best);
        }
        let key_start = i;
        while line.get(i).is_some_and(|&c| !blank(c) && c != b'=') {
            i += 1;
        }
        let key = &line[key_start..i];
        if key.is_empty() {
            return Err(Malformed);
        }
        let value = if line.get(i) == Some(&b'=') {
            i += 1;
            if line.get(i) == Some(&b'"') {
                let (raw, escaped, end) = quoted(line, i + 1)?;
                i = end;
                if line.get(i).is_some_and(|&c| !blank(c)) {
                    return Err(Malformed);
                }
                if escaped {
                    Cow::Owned(unescape(raw))
                } else {
                    Cow::Borrowed(raw)
                }
            } else {
                let start = i;
                while line.get(i).is_some_and(|&c| !blank(c)) {
                    i += 1;
                }
                Cow::Borrowed(&line[start..i])
            }
        } else {
            Cow::Borrowed(&line[i..i])
        };
        let limit = best.as_ref().map_or(fields.len(), |(b, _)| *b);
        if let Some(idx) = (0..limit).find(|&idx| fields.dotted(idx) == key) {
            best = Some((idx, value));
        }
    }
}

/// From just after an opening quote: the raw inner bytes, whether they hold a `\`, and the
/// index after the closing quote.
fn quoted(line: &[u8], start: usize) -> Result<(&[u8], bool, usize), Malformed> {
    let mut j = start;
    let mut escaped = false;
    loop {
        let k = j + memchr2(b'"', b'\\', line.get(j..).ok_or(Malformed)?).ok_or(Malformed)?;
        if line[k] == b'"' {
            return Ok((&line[start..k], escaped, k + 1));
        }
        escaped = true;
        j = k + 2;
    }
}

/// Decodes `\"`, `\\`, `\n`, `\t`, `\r` and `\uXXXX` (as Go's `strconv.Quote` writes them);
/// any other escape is kept as written.
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        let next = raw.get(i + 1).copied();
        let decoded = match (c, next) {
            (b'\\', Some(b'"')) => Some(b'"'),
            (b'\\', Some(b'\\')) => Some(b'\\'),
            (b'\\', Some(b'n')) => Some(b'\n'),
            (b'\\', Some(b't')) => Some(b'\t'),
            (b'\\', Some(b'r')) => Some(b'\r'),
            _ => None,
        };
        if let Some(d) = decoded {
            out.push(d);
            i += 2;
            continue;
        }
        if c == b'\\' && next == Some(b'u') {
            let code = raw
                .get(i + 2..i + 6)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u32::from_str_radix(h, 16).ok());
            if let Some(code) = code {
                let ch = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                i += 6;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}
