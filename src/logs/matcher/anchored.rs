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

/// Candidates that fail (a literal not followed by the rest of the pattern)
/// each cost a one-pass scan that may run to the block end, so after this
/// many in one block the general search takes over: linear however hostile
/// the lines.
const MAX_FAILED: u32 = 16;

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
    onepass: onepass::DFA,
    cache: onepass::Cache,
    slots: Vec<Option<NonMaxUsize>>,
    failed: u32,
}

impl PrefixSearch {
    /// `None` unless `hir` (parsed as the pattern's regex is compiled) has
    /// a fast prefix prefilter and is one-pass.
    pub(super) fn new(hir: &Hir) -> Option<Self> {
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
        Some(PrefixSearch {
            cache: onepass.create_cache(),
            slots: vec![None; onepass.get_nfa().group_info().slot_len()],
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
            let input = Input::new(block)
                .span(c.start..block.len())
                .anchored(Anchored::Yes);
            // An anchored one-pass search cannot fail: it needs no
            // quit bytes or look-around it does not support.
            if let Ok(Some(_)) =
                self.onepass
                    .try_search_slots(&mut self.cache, &input, &mut self.slots)
            {
                return Found::Match;
            }
            self.failed += 1;
            from = c.start + 1;
            if self.failed >= MAX_FAILED {
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

    /// Groups in the pattern, the whole match included.
    pub(super) fn groups(&self) -> usize {
        self.slots.len() / 2
    }
}
