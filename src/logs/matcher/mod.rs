//! Classifying and matching lines, a buffer at a time.
//!
//! The scanners run over a block of complete lines rather than line by line:
//! tokens are found with aho-corasick (SIMD prefilters) across the whole
//! block, and only the lines that contain a hit are located. A block of
//! lines without any token costs one newline count.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use memchr::{memchr, memrchr};

use crate::config::logs::{Levels, Pattern};
use anchored::{Found, PrefixSearch};
use numbers::NumberGroup;
pub(crate) use numbers::{Number, NumberKind};

mod anchored;
mod numbers;
mod sequence;

/// Where each capture group of a match lies in its haystack, by group index.
type Spans = [Option<(usize, usize)>];

/// Lines counted per level in one block.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LevelCounts {
    /// Lines in the block.
    pub(crate) lines: u64,
    /// Lines with an error token.
    pub(crate) error: u64,
    /// Lines with a warning token and no error token.
    pub(crate) warning: u64,
}

impl LevelCounts {
    /// Lines with neither token.
    pub(crate) fn other(&self) -> u64 {
        self.lines - self.error - self.warning
    }
}

/// Finds the level of lines: error, else warning, else other.
#[derive(Debug, Clone)]
pub(crate) struct LevelMatcher {
    error: AhoCorasick,
    warning: AhoCorasick,
    /// Start offsets of error lines in the current block (reused buffer).
    error_starts: Vec<usize>,
}

impl LevelMatcher {
    /// Builds the token automatons.
    pub(crate) fn new(levels: &Levels) -> Self {
        let build = |tokens: &[String]| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(levels.case_insensitive)
                .match_kind(MatchKind::LeftmostFirst)
                .build(tokens)
                // Tokens are short validated literals; the builder only fails
                // past size limits far beyond any sane config.
                .unwrap_or_else(|_| AhoCorasick::new(["\u{0}never"]).expect("literal automaton"))
        };
        LevelMatcher {
            error: build(&levels.error),
            warning: build(&levels.warning),
            error_starts: Vec::new(),
        }
    }

    /// Counts the lines of `block` by level. Every `\n` ends a line; bytes
    /// after the last `\n` count as one more line (a cut long line).
    pub(crate) fn scan(&mut self, block: &[u8]) -> LevelCounts {
        let mut counts = LevelCounts {
            lines: count_lines(block),
            ..LevelCounts::default()
        };
        self.error_starts.clear();
        let mut pos = 0;
        while let Some(m) = self
            .error
            .find(aho_corasick::Input::new(block).span(pos..block.len()))
        {
            let (start, end) = line_around(block, m.start());
            self.error_starts.push(start);
            counts.error += 1;
            pos = end;
            if pos >= block.len() {
                break;
            }
        }
        let mut pos = 0;
        let mut errs = self.error_starts.iter().peekable();
        while let Some(m) = self
            .warning
            .find(aho_corasick::Input::new(block).span(pos..block.len()))
        {
            let (start, end) = line_around(block, m.start());
            while errs.next_if(|&&s| s < start).is_some() {}
            if errs.peek() != Some(&&start) {
                counts.warning += 1;
            }
            pos = end;
            if pos >= block.len() {
                break;
            }
        }
        counts
    }
}

/// Counts `\n` in `block`, plus one for a final unterminated fragment.
/// memchr's iterator count is a SIMD population count, not a loop of finds.
pub(crate) fn count_lines(block: &[u8]) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', block).count() as u64;
    newlines + u64::from(!block.is_empty() && block[block.len() - 1] != b'\n')
}

/// The line containing offset `at`: (start, end) where `end` is just past
/// its `\n` (or the block end).
pub(crate) fn line_around(block: &[u8], at: usize) -> (usize, usize) {
    let start = memrchr(b'\n', &block[..at]).map_or(0, |i| i + 1);
    let end = memchr(b'\n', &block[at..]).map_or(block.len(), |i| at + i + 1);
    (start, end)
}

/// Strips a trailing `\n` and `\r`.
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The values of a pattern's labels in one matching line, in the order of
/// its `labels`: borrowed from the line, nothing copied.
#[derive(Clone, Copy)]
pub(crate) struct LabelValues<'a> {
    hay: &'a [u8],
    spans: &'a Spans,
    groups: &'a [usize],
    numbers: &'a [Option<NumberGroup>; 2],
}

impl<'a> LabelValues<'a> {
    /// Each label's value; empty for a group that took no part in the match.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (hay, spans) = (self.hay, self.spans);
        self.groups.iter().map(move |&g| {
            spans
                .get(g)
                .copied()
                .flatten()
                .map_or(&[][..], |(s, e)| &hay[s..e])
        })
    }

    /// The pattern's `value:` or `sum:` number in this line, parsed on demand.
    pub(crate) fn number(&self, kind: NumberKind) -> Number {
        self.numbers[kind as usize]
            .as_ref()
            .map_or(Number::Absent, |n| n.read(self.hay, self.spans))
    }
}

/// A configured pattern, matched once per line whatever the blocks the
/// lines arrive in.
#[derive(Debug, Clone)]
pub(crate) struct LinePattern {
    regex: regex::bytes::Regex,
    locs: regex::bytes::CaptureLocations,
    /// The groups of the current match, from `locs` or `prefix`.
    spans: Vec<Option<(usize, usize)>>,
    /// The one-pass search, for a pattern it fits.
    prefix: Option<PrefixSearch>,
    /// Capture group index of each label, in the order of `labels`.
    groups: Vec<usize>,
    /// The `value:` and `sum:` groups, indexed by [`NumberKind`].
    numbers: [Option<NumberGroup>; 2],
    /// Text anchors (`\A`, `\z`, `(?-m)^`, `(?-m)$`) mean the start or end
    /// of whatever haystack they are given: over a block they would see only
    /// its first or last line, so such a pattern sees each line alone.
    lines_alone: bool,
}

impl LinePattern {
    /// Wraps `pattern`'s regex (compiled in multi-line and CRLF modes).
    pub(crate) fn new(pattern: &Pattern) -> Self {
        use regex_syntax::hir::Look;
        let regex = &pattern.regex;
        // Validation made every label a named group; a missing one would
        // read as an empty value, keeping one value per label.
        let groups = pattern
            .labels
            .iter()
            .map(|l| {
                regex
                    .capture_names()
                    .position(|n| n == Some(l.as_str()))
                    .unwrap_or(usize::MAX)
            })
            .collect();
        // Parsed with the options `config::logs` compiles patterns with.
        let hir = regex_syntax::ParserBuilder::new()
            .multi_line(true)
            .crlf(true)
            .utf8(false)
            .build()
            .parse(regex.as_str());
        let lines_alone = match &hir {
            Ok(hir) => {
                let looks = hir.properties().look_set();
                looks.contains(Look::Start) || looks.contains(Look::End)
            }
            // The regex crate parsed it; if this parser cannot, be safe.
            Err(_) => true,
        };
        let locs = regex.capture_locations();
        LinePattern {
            regex: regex.clone(),
            spans: vec![None; locs.len()],
            prefix: hir
                .ok()
                .filter(|_| !lines_alone)
                .and_then(|h| PrefixSearch::new(&h))
                .filter(|p| p.groups() == locs.len()),
            locs,
            groups,
            numbers: [
                (pattern.value.as_ref())
                    .and_then(|v| NumberGroup::new(regex, v, NumberKind::Value)),
                (pattern.sum.as_ref()).and_then(|v| NumberGroup::new(regex, v, NumberKind::Sum)),
            ],
            lines_alone,
        }
    }

    /// Calls `hit` once for each line of `block` that the pattern matches,
    /// with the label values of the first match in that line. `block` is
    /// complete lines, each ending with `\n`, or one line without it.
    pub(crate) fn for_each_matching_line(
        &mut self,
        block: &[u8],
        mut hit: impl FnMut(LabelValues<'_>),
    ) {
        let (regex, locs, groups) = (&self.regex, &mut self.locs, &self.groups[..]);
        let (numbers, spans) = (&self.numbers, &mut self.spans);
        let mut hit = |hay: &[u8], spans: &Spans| {
            hit(LabelValues {
                hay,
                spans,
                groups,
                numbers,
            })
        };
        let from_locs = |spans: &mut Vec<_>, locs: &regex::bytes::CaptureLocations| {
            for (g, s) in spans.iter_mut().enumerate() {
                *s = locs.get(g);
            }
        };
        if self.lines_alone {
            for line in block.split_inclusive(|&b| b == b'\n') {
                let line = trim_eol(line);
                if regex.captures_read(locs, line).is_some() {
                    from_locs(spans, locs);
                    hit(line, spans);
                }
            }
            return;
        }
        let mut prefix = self.prefix.as_mut();
        if let Some(p) = &mut prefix {
            p.reset();
        }
        // After a final `\n` there is no line: an empty match there (`^$`)
        // would count one phantom line per block.
        let end = block.len() - usize::from(block.last() == Some(&b'\n'));
        let mut pos = 0;
        while pos < block.len() {
            let found = match prefix.as_mut().map(|p| p.find(block, pos)) {
                Some(Found::Match) => true,
                Some(Found::None) => return,
                Some(Found::GiveUp(at)) => {
                    prefix = None;
                    pos = at;
                    false
                }
                None => false,
            };
            if found {
                if let Some(p) = &prefix {
                    for (g, s) in spans.iter_mut().enumerate() {
                        *s = p.span(g);
                    }
                }
            } else if regex.captures_read_at(locs, block, pos).is_some() {
                from_locs(spans, locs);
            } else {
                return;
            }
            let Some((m_start, m_end)) = spans[0] else {
                return;
            };
            if m_start > end {
                return;
            }
            // The line's start is looked for only when needed: a backward
            // scan per matching line is a measurable share of a pattern's cost.
            let stop = memchr(b'\n', &block[m_start..]).map_or(block.len(), |i| m_start + i + 1);
            let mut line_end = stop - usize::from(block[..stop].ends_with(b"\n"));
            // As `trim_eol`: a `\r` before the `\n` is no part of the line
            // (it may lie before `m_start`, still in this line).
            line_end -= usize::from(block[..line_end].ends_with(b"\r"));
            if m_end <= line_end {
                // The match lies inside one line: its offsets are block offsets.
                hit(block, spans);
            } else {
                // A match that reached into the line end (`\s+` eating `\n`,
                // `\B` between `\r` and `\n`, `^$` after a final `\r`):
                // match the line on its own instead.
                let start = memrchr(b'\n', &block[..m_start]).map_or(0, |i| i + 1);
                let line = &block[start..line_end];
                if regex.captures_read(locs, line).is_some() {
                    from_locs(spans, locs);
                    hit(line, spans);
                }
            }
            pos = stop;
        }
    }
}

#[cfg(test)]
mod tests;
