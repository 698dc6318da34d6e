//! Matching a pattern that is a plain sequence (literals, classes repeated,
//! groups, line anchors) without an automaton: each repeated class is
//! consumed greedily, a negated one (`[^"\n]*`) by a SIMD search for the
//! bytes that end it. The nginx access-log pattern spends most of its ~95
//! bytes in two `[^"\n]*`, where a one-pass DFA pays a dependent table
//! load per byte.
//!
//! Consuming greedily and never giving back is exact only when giving back
//! could not let the rest match: [`Sequence::new`] accepts a variable
//! repetition only when what follows it cannot begin with a byte the
//! repetition could have taken (a literal's first byte, a class, `$`'s
//! `\r`/`\n`). Anything else (alternations, lazy repetitions, nested
//! repetitions, word boundaries, classes holding only part of non-ASCII
//! Unicode) is left to the one-pass DFA.

use regex_automata::util::primitives::NonMaxUsize;
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A compiled sequence; see the module comment.
#[derive(Debug, Clone)]
pub(super) struct Sequence {
    items: Vec<Item>,
}

#[derive(Debug, Clone)]
enum Item {
    Literal(Box<[u8]>),
    Repeat(Repeat),
    /// Records the current offset in this capture slot.
    Save(usize),
    Look(Look),
}

#[derive(Debug, Clone)]
struct Repeat {
    set: ByteSet,
    min: u32,
    max: Option<u32>,
    /// Bytes of a negated class that end it, for a memchr search: the
    /// class takes every other byte (a Unicode one every other valid
    /// UTF-8 character).
    stops: Option<Stops>,
}

/// Which single bytes a class matches (a bit each); `utf8`: also every
/// valid UTF-8 encoded character from U+0080 up (a Unicode class holding
/// all of them).
#[derive(Debug, Clone)]
struct ByteSet {
    bits: [u64; 4],
    utf8: bool,
}

#[derive(Debug, Clone, Copy)]
enum Stops {
    One(u8),
    Two(u8, u8),
    Three(u8, u8, u8),
}

impl Sequence {
    /// `None` unless `hir` is a sequence matched exactly by greedy
    /// consumption and its groups fit in `slots` slots (group 0 included).
    pub(super) fn new(hir: &Hir, slots: usize) -> Option<Self> {
        let mut items = vec![Item::Save(0)];
        compile(hir, &mut items)?;
        items.push(Item::Save(1));
        let fits = items.iter().all(|i| match i {
            Item::Save(s) => *s < slots,
            _ => true,
        });
        (fits && greedy_is_exact(&items)).then_some(Sequence { items })
    }

    /// Whether the pattern matches `hay` starting at `at`, as an anchored
    /// leftmost-first search would; on a match the slots hold its groups.
    pub(super) fn matches_at(
        &self,
        hay: &[u8],
        at: usize,
        slots: &mut [Option<NonMaxUsize>],
    ) -> bool {
        let mut p = at;
        for item in &self.items {
            match item {
                Item::Literal(l) => {
                    if !hay[p..].starts_with(l) {
                        return false;
                    }
                    p += l.len();
                }
                Item::Save(s) => slots[*s] = NonMaxUsize::new(p),
                Item::Look(look) => {
                    if !holds(*look, hay, p) {
                        return false;
                    }
                }
                Item::Repeat(r) => match r.consume(hay, p) {
                    Some(end) => p = end,
                    None => return false,
                },
            }
        }
        true
    }
}

impl Repeat {
    fn new(set: ByteSet, min: u32, max: Option<u32>) -> Self {
        let stops = set.stops();
        Repeat {
            set,
            min,
            max,
            stops,
        }
    }

    /// Where the greedy repetition starting at `p` ends, or `None` if it
    /// takes fewer than `min` characters.
    #[inline]
    fn consume(&self, hay: &[u8], p: usize) -> Option<usize> {
        let rest = &hay[p..];
        if let (Some(stops), None) = (self.stops, self.max) {
            let hit = match stops {
                Stops::One(a) => memchr::memchr(a, rest),
                Stops::Two(a, b) => memchr::memchr2(a, b, rest),
                Stops::Three(a, b, c) => memchr::memchr3(a, b, c, rest),
            }
            .unwrap_or(rest.len());
            let span = &rest[..hit];
            if !self.set.utf8 || span.is_ascii() {
                return (hit >= self.min as usize).then_some(p + hit);
            }
            // Characters of the class up to the first invalid byte.
            let valid = match std::str::from_utf8(span) {
                Ok(s) => s,
                Err(e) => std::str::from_utf8(&span[..e.valid_up_to()]).unwrap_or_default(),
            };
            return (valid.chars().count() >= self.min as usize).then_some(p + valid.len());
        }
        let mut i = 0;
        let mut n = 0u32;
        while self.max.is_none_or(|m| n < m) {
            let Some(&b) = rest.get(i) else { break };
            let len = if self.set.has(b) {
                1
            } else if self.set.utf8 && b >= 0x80 {
                match utf8_char_len(&rest[i..]) {
                    Some(len) => len,
                    None => break,
                }
            } else {
                break;
            };
            i += len;
            n += 1;
        }
        (n >= self.min).then_some(p + i)
    }
}

/// The length of the valid UTF-8 character `s` starts with.
fn utf8_char_len(s: &[u8]) -> Option<usize> {
    let len = match s.first()? {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    std::str::from_utf8(s.get(..len)?).ok().map(str::len)
}

/// The line anchors as the regex crate evaluates them (multi-line, CRLF
/// mode or not).
fn holds(look: Look, hay: &[u8], at: usize) -> bool {
    let before = at.checked_sub(1).map(|i| hay[i]);
    let next = hay.get(at).copied();
    match look {
        Look::StartLF => before.is_none_or(|b| b == b'\n'),
        Look::EndLF => next.is_none_or(|b| b == b'\n'),
        Look::StartCRLF => match before {
            None | Some(b'\n') => true,
            Some(b'\r') => next != Some(b'\n'),
            Some(_) => false,
        },
        Look::EndCRLF => match next {
            None | Some(b'\r') => true,
            Some(b'\n') => before != Some(b'\r'),
            Some(_) => false,
        },
        // Refused by `compile`.
        _ => false,
    }
}

fn compile(hir: &Hir, items: &mut Vec<Item>) -> Option<()> {
    match hir.kind() {
        HirKind::Empty => {}
        HirKind::Literal(l) => match items.last_mut() {
            Some(Item::Literal(prev)) => *prev = [&prev[..], &l.0[..]].concat().into(),
            _ => items.push(Item::Literal(l.0.clone())),
        },
        HirKind::Class(c) => {
            items.push(Item::Repeat(Repeat::new(ByteSet::of_class(c)?, 1, Some(1))))
        }
        HirKind::Look(look @ (Look::StartLF | Look::EndLF | Look::StartCRLF | Look::EndCRLF)) => {
            items.push(Item::Look(*look))
        }
        HirKind::Repetition(r) if r.greedy => {
            let set = match r.sub.kind() {
                HirKind::Class(c) => ByteSet::of_class(c)?,
                HirKind::Literal(l) if l.0.len() == 1 => ByteSet::of_byte(l.0[0]),
                _ => return None,
            };
            items.push(Item::Repeat(Repeat::new(set, r.min, r.max)));
        }
        HirKind::Capture(c) => {
            let slot = 2 * usize::try_from(c.index).ok()?;
            items.push(Item::Save(slot));
            compile(&c.sub, items)?;
            items.push(Item::Save(slot + 1));
        }
        HirKind::Concat(hs) => {
            for h in hs {
                compile(h, items)?;
            }
        }
        _ => return None,
    }
    Some(())
}

/// Whether no variable repetition could give back a character and let the
/// rest match (see the module comment).
fn greedy_is_exact(items: &[Item]) -> bool {
    items.iter().enumerate().all(|(i, item)| {
        let Item::Repeat(r) = item else { return true };
        if r.max == Some(r.min) {
            return true;
        }
        let may_take = |b: u8| r.set.may_start(b);
        let next = items[i + 1..].iter().find(|i| !matches!(i, Item::Save(_)));
        match next {
            None => true,
            Some(Item::Literal(l)) => !may_take(l[0]),
            Some(Item::Repeat(n)) => {
                n.min > 0 && (0..=255u8).all(|b| !(may_take(b) && n.set.may_start(b)))
            }
            Some(Item::Look(Look::EndCRLF)) => !may_take(b'\r') && !may_take(b'\n'),
            Some(Item::Look(Look::EndLF)) => !may_take(b'\n'),
            Some(Item::Look(_)) | Some(Item::Save(_)) => false,
        }
    })
}

impl ByteSet {
    fn of_byte(b: u8) -> Self {
        let mut set = ByteSet {
            bits: [0; 4],
            utf8: false,
        };
        set.add(b..=b);
        set
    }

    fn add(&mut self, bytes: std::ops::RangeInclusive<u8>) {
        for b in bytes {
            self.bits[usize::from(b >> 6)] |= 1 << (b & 63);
        }
    }

    /// Whether the class matches the single byte `b`.
    #[inline(always)]
    fn has(&self, b: u8) -> bool {
        self.bits[usize::from(b >> 6)] >> (b & 63) & 1 == 1
    }

    /// `None` for a Unicode class holding some but not all non-ASCII
    /// characters.
    fn of_class(c: &Class) -> Option<Self> {
        let mut set = ByteSet {
            bits: [0; 4],
            utf8: false,
        };
        match c {
            Class::Bytes(c) => {
                for r in c.ranges() {
                    set.add(r.start()..=r.end());
                }
            }
            Class::Unicode(c) => {
                for r in c.ranges() {
                    let (start, end) = (u32::from(r.start()), u32::from(r.end()));
                    if end >= 0x80 {
                        // Ranges are merged: all of U+0080.. is one range.
                        if start > 0x80 || end != 0x10FFFF {
                            return None;
                        }
                        set.utf8 = true;
                    }
                    if start < 0x80 {
                        set.add(start as u8..=end.min(0x7F) as u8);
                    }
                }
            }
        }
        Some(set)
    }

    /// Whether a character of the class may begin with byte `b`.
    fn may_start(&self, b: u8) -> bool {
        self.has(b) || (self.utf8 && b >= 0x80)
    }

    /// The bytes outside the class when they are at most three, all ASCII
    /// for a Unicode class (which takes every valid non-ASCII character).
    fn stops(&self) -> Option<Stops> {
        let out: Vec<u8> = (0..=255u8).filter(|&b| !self.may_start(b)).collect();
        match out[..] {
            [a] => Some(Stops::One(a)),
            [a, b] => Some(Stops::Two(a, b)),
            [a, b, c] => Some(Stops::Three(a, b, c)),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "sequence_tests.rs"]
pub(super) mod tests;
