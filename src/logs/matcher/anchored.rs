//! Finding a pattern's matches in one pass when every match begins with one
//! of a few literals (`" 200 ...`, `level=error ...`).
//!
//! The general search runs three automata per match: a forward DFA to the
//! match end, a reverse DFA back to its start, then a capture engine over
//! the match. When the literals that begin every match are known, their
//! SIMD prefilter yields each possible start and a one-pass DFA anchored
//! there finds the match and its groups at once. Leftmost-first semantics
//! make the first candidate that matches the very match the general search
//! finds, so results do not change.

use regex_automata::dfa::onepass;
use regex_automata::nfa::thompson;
use regex_automata::util::prefilter::Prefilter;
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::{Anchored, Input, MatchKind, Span};
use regex_syntax::hir::Hir;

use super::sequence::Sequence;

/// Candidates that fail (a `"` that does not begin the match) are common
/// and cheap, but a hostile line could make each one scan to the line end:
/// once failed scans add up to more than this many times the bytes passed
/// (plus [`SLACK`]), the general search takes over, keeping the cost linear.
const FAILED_PER_BYTE: usize = 4;
const SLACK: usize = 1 << 16;

/// What [`PrefixSearch::find`] found.
pub(super) enum Found {
    /// A match; its group spans are in [`PrefixSearch::span`].
    Match,
    /// No match anywhere from the given offset.
    None,
    /// Too many failed candidates: search from this offset another way.
    GiveUp(usize),
}

/// The prefilter and one-pass DFA of a pattern, with their scratch space.
#[derive(Debug, Clone)]
pub(super) struct PrefixSearch {
    prefilter: Prefilter,
    /// See [`full_prefixes`]; empty means every candidate is tried.
    starts: Vec<Start>,
    onepass: onepass::DFA,
    /// The pattern as a plain sequence, when it is one: matched without
    /// the one-pass DFA, several times faster.
    sequence: Option<Sequence>,
    cache: onepass::Cache,
    slots: Vec<Option<NonMaxUsize>>,
    /// Bytes failed candidates may have scanned in this block.
    failed: usize,
}

impl PrefixSearch {
    /// `None` unless `hir` (parsed as the pattern's regex is compiled) has
    /// a fast prefix prefilter, is one-pass and never matches a `\n` (so a
    /// failed candidate scans at most to its line end).
    pub(super) fn new(hir: &Hir) -> Option<Self> {
        if may_match_newline(hir) {
            return None;
        }
        let prefilter = Prefilter::from_hir_prefix(MatchKind::LeftmostFirst, hir)?;
        if !prefilter.is_fast() {
            return None;
        }
        // `regex::bytes` does not split empty matches at UTF-8 boundaries.
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().utf8(false))
            .build_from_hir(hir)
            .ok()?;
        let onepass = onepass::DFA::new_from_nfa(nfa).ok()?;
        let slots = onepass.get_nfa().group_info().slot_len();
        Some(PrefixSearch {
            cache: onepass.create_cache(),
            sequence: Sequence::new(hir, slots),
            slots: vec![None; slots],
            starts: full_prefixes(hir),
            prefilter,
            onepass,
            failed: 0,
        })
    }

    /// Starts a block: failures are counted per block.
    pub(super) fn reset(&mut self) {
        self.failed = 0;
    }

    /// The leftmost-first match in `block` starting at or after `from`.
    pub(super) fn find(&mut self, block: &[u8], mut from: usize) -> Found {
        while let Some(c) = self.prefilter.find(block, Span::from(from..block.len())) {
            let head = first_word(&block[c.start..]);
            if !self.starts.is_empty() && !self.starts.iter().any(|s| head & s.mask == s.bits) {
                from = c.start + 1;
                continue;
            }
            let matched = match &self.sequence {
                Some(s) => s.matches_at(block, c.start, &mut self.slots),
                None => {
                    let input = Input::new(block)
                        .span(c.start..block.len())
                        .anchored(Anchored::Yes);
                    // An anchored one-pass search cannot fail: it needs no
                    // quit bytes or look-around it does not support.
                    let found =
                        self.onepass
                            .try_search_slots(&mut self.cache, &input, &mut self.slots);
                    matches!(found, Ok(Some(_)))
                }
            };
            if matched {
                return Found::Match;
            }
            from = c.start + 1;
            self.failed +=
                memchr::memchr(b'\n', &block[c.start..]).unwrap_or(block.len() - c.start);
            if self.failed > FAILED_PER_BYTE * from + SLACK {
                return Found::GiveUp(from);
            }
        }
        Found::None
    }

    /// The span of group `g` in the last match.
    pub(super) fn span(&self, g: usize) -> Option<(usize, usize)> {
        match (self.slots.get(2 * g)?, self.slots.get(2 * g + 1)?) {
            (Some(s), Some(e)) => Some((s.get(), e.get())),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(super) fn is_sequence(&self) -> bool {
        self.sequence.is_some()
    }

    #[cfg(test)]
    pub(super) fn starts(&self) -> Vec<Vec<u8>> {
        let bytes = |s: &Start| s.bits.to_le_bytes()[..s.mask.count_ones() as usize / 8].to_vec();
        self.starts.iter().map(bytes).collect()
    }

    /// Groups in the pattern, the whole match included.
    pub(super) fn groups(&self) -> usize {
        self.slots.len() / 2
    }
}

/// The literals every match begins with, as extracted: `from_hir_prefix`
/// trims them for a fast scan (`" 1`..`" 5` becomes `"`, two hits before
/// an nginx line's match), and comparing a candidate's first bytes with
/// them is far cheaper than a one-pass search that fails. Empty when there
/// are too many to compare or a match may begin with anything.
fn full_prefixes(hir: &Hir) -> Vec<Start> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let seq = Extractor::new()
        .kind(ExtractKind::Prefix)
        .limit_total(MAX_PREFIXES)
        .limit_literal_len(MAX_PREFIX_LEN)
        .extract(hir);
    match seq.literals() {
        Some(ls) if ls.iter().all(|l| !l.is_empty()) => {
            ls.iter().map(|l| Start::new(l.as_bytes())).collect()
        }
        _ => Vec::new(),
    }
}

/// A literal of at most 8 bytes, compared as one masked word: a `memcmp`
/// call per literal cost more than the one-pass searches it saved.
#[derive(Debug, Clone)]
struct Start {
    bits: u64,
    mask: u64,
}

impl Start {
    fn new(literal: &[u8]) -> Self {
        let len = literal.len().min(MAX_PREFIX_LEN);
        Start {
            bits: first_word(&literal[..len]),
            // An empty literal (never kept) would mask nothing: any candidate.
            mask: u64::MAX
                .checked_shr(8 * (MAX_PREFIX_LEN - len) as u32)
                .unwrap_or(0),
        }
    }
}

/// The first 8 bytes of `bytes`, zero-padded: past the haystack's end a
/// literal may seem to match, which only costs the one-pass search that
/// then fails.
fn first_word(bytes: &[u8]) -> u64 {
    match bytes.first_chunk::<8>() {
        Some(w) => u64::from_le_bytes(*w),
        None => {
            let mut w = [0u8; 8];
            w[..bytes.len()].copy_from_slice(bytes);
            u64::from_le_bytes(w)
        }
    }
}

/// Past this many literals a candidate is cheaper to try than to compare;
/// longer literals are cut (still prefixes), which keeps a failed
/// comparison's cost fixed whatever the pattern.
const MAX_PREFIXES: usize = 16;
const MAX_PREFIX_LEN: usize = 8;

/// Whether any match of `hir` could contain a `\n`.
fn may_match_newline(hir: &Hir) -> bool {
    use regex_syntax::hir::{Class, HirKind};
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(l) => l.0.contains(&b'\n'),
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= '\n' && '\n' <= r.end()),
        HirKind::Class(Class::Bytes(c)) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= b'\n' && b'\n' <= r.end()),
        HirKind::Repetition(r) => may_match_newline(&r.sub),
        HirKind::Capture(c) => may_match_newline(&c.sub),
        HirKind::Concat(hs) | HirKind::Alternation(hs) => hs.iter().any(may_match_newline),
    }
}
