//! The numbers a pattern carries (`value:`, `sum:`): the captured text,
//! parsed and scaled only for lines the pattern matched, so a log without
//! them pays nothing.

use crate::config::log_values::ValueSpec;
use crate::logformat::parse_number;

/// Which of a pattern's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberKind {
    /// `value:`, observed into a histogram.
    Value = 0,
    /// `sum:`, added to a counter.
    Sum = 1,
}

/// What a number group held in one matching line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    /// The pattern has no such number, or its group took no part in the match.
    Absent,
    /// The parsed text times the scale.
    Value(f64),
    /// Not a decimal number (`-`, `1,5`, empty), beyond [`MAX_MAGNITUDE`]
    /// once scaled, or negative for a sum (a counter never goes down).
    Unparsable,
}

/// The largest magnitude recorded: 2^64 of them (more observations than a
/// series' u64 count holds) still add up to a finite sum, so a histogram's
/// `_sum` and a summed counter never become `+Inf` (or `NaN`, from `+Inf`
/// plus `-Inf`), which no later line could undo.
const MAX_MAGNITUDE: f64 = f64::MAX / 18_446_744_073_709_551_616.0;

/// Where a pattern's number is and how to read it.
#[derive(Debug, Clone)]
pub(crate) struct NumberGroup {
    group: usize,
    scale: f64,
    nonnegative: bool,
}

impl NumberGroup {
    /// Locates `spec`'s group in `regex`; validation made it a named group.
    pub(crate) fn new(
        regex: &regex::bytes::Regex,
        spec: &ValueSpec,
        kind: NumberKind,
    ) -> Option<Self> {
        let group = regex
            .capture_names()
            .position(|n| n == Some(spec.group.as_str()))?;
        Some(NumberGroup {
            group,
            scale: spec.scale,
            nonnegative: kind == NumberKind::Sum,
        })
    }

    /// The number in the match `spans` over `hay`.
    pub(crate) fn read(&self, hay: &[u8], spans: &super::Spans) -> Number {
        let Some((s, e)) = spans.get(self.group).copied().flatten() else {
            return Number::Absent;
        };
        match parse_number(&hay[s..e]).map(|v| v * self.scale) {
            Some(v) if v.abs() <= MAX_MAGNITUDE && !(self.nonnegative && v < 0.0) => {
                Number::Value(v)
            }
            _ => Number::Unparsable,
        }
    }
}
