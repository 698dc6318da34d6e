//! A pattern's `value:` (a histogram) and `sum:` (a summed counter): which
//! capture group carries the number, its unit and scale, and the buckets.

use std::collections::HashSet;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::validate::Validator;
use crate::hash::Fingerprint;

/// `value:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawValue {
    pub(super) group: Spanned<String>,
    pub(super) unit: Option<Spanned<String>>,
    pub(super) scale: Option<Spanned<f64>>,
    pub(super) buckets: Option<Spanned<Vec<f64>>>,
}

/// `sum:` as written: buckets make no sense for a sum, so the key is refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSum {
    pub(super) group: Spanned<String>,
    pub(super) unit: Option<Spanned<String>>,
    pub(super) scale: Option<Spanned<f64>>,
}

/// The base unit of a value, which names its metric family: the Prometheus
/// naming guide wants base units, so milliseconds are `seconds` with
/// `scale: 0.001`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// Durations.
    Seconds,
    /// Sizes.
    Bytes,
    /// Fractions (0 to 1).
    Ratio,
    /// A plain count or anything unitless.
    None,
}

impl Unit {
    /// The metric name suffix (before `_total` for sums), empty for `none`.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Unit::Seconds => "_seconds",
            Unit::Bytes => "_bytes",
            Unit::Ratio => "_ratio",
            Unit::None => "",
        }
    }

    /// Every unit, in the order their families are exposed.
    pub(crate) const ALL: [Unit; 4] = [Unit::Seconds, Unit::Bytes, Unit::Ratio, Unit::None];

    fn default_buckets(self) -> Vec<f64> {
        match self {
            // Prometheus client libraries' defaults: request latencies.
            Unit::Seconds => vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
            Unit::Bytes => vec![100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9],
            Unit::Ratio => (1..=10).map(|i| f64::from(i) / 10.0).collect(),
            Unit::None => vec![1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6],
        }
    }
}

/// A validated `value:` or `sum:`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueSpec {
    /// The capture group whose text is the number.
    pub(crate) group: String,
    /// Names the metric family.
    pub(crate) unit: Unit,
    /// Multiplies the parsed number (0.001 turns milliseconds into seconds).
    pub(crate) scale: f64,
    /// Upper bounds, strictly increasing and finite; empty for a sum.
    pub(crate) buckets: Vec<f64>,
}

/// Adds a pattern's `value:` and `sum:` to its log's fingerprint.
pub(super) fn fingerprint(specs: [&Option<ValueSpec>; 2], fp: &mut Fingerprint) {
    for spec in specs {
        let Some(s) = spec else {
            fp.add([0u8]);
            continue;
        };
        fp.add([1u8, s.unit as u8])
            .add(&s.group)
            .add(s.scale.to_le_bytes())
            .add(s.buckets.len().to_le_bytes());
        for b in &s.buckets {
            fp.add(b.to_le_bytes());
        }
    }
}

/// Buckets a histogram may have: each is one more series per label set,
/// and Prometheus' own defaults have 11.
const MAX_BUCKETS: usize = 64;

/// Series the `value:` and `sum:` of one log's patterns may create in all,
/// counting every label set up to `max_series` (and `__overflow__`): a
/// scrape of this many series takes tens of milliseconds, and a typo such
/// as 10 000 buckets × 10 000 label sets would be 100 million.
const MAX_SERIES_PER_LOG: usize = 100_000;

/// What a pattern's numbers may cost: the label sets it may create (with
/// `__overflow__`), its `max_series` as written (where an error points),
/// and the series of the numbers of the log's patterns before it.
pub(super) struct Budget<'a> {
    pub(super) sets: usize,
    pub(super) max_series: Option<&'a Spanned<u64>>,
    pub(super) used: &'a mut usize,
}

/// A pattern's (`value:`, `sum:`), `None` after a problem; `pf` names the pattern.
pub(super) fn numbers(
    v: &mut Validator<'_>,
    (value, sum): (Option<RawValue>, Option<RawSum>),
    groups: &HashSet<&str>,
    pf: &str,
    budget: Budget<'_>,
) -> Option<(Option<ValueSpec>, Option<ValueSpec>)> {
    let group_at = value
        .as_ref()
        .map(|r| (r.group.clone(), "value.group"))
        .or_else(|| sum.as_ref().map(|r| (r.group.clone(), "sum.group")));
    let value = value.map(|r| self::value(v, r, groups, &format!("{pf}.value")));
    let sum = sum.map(|r| self::sum(v, r, groups, &format!("{pf}.sum")));
    let (value, sum) = match (value, sum) {
        (Some(None), _) | (_, Some(None)) => return None,
        (value, sum) => (value.flatten(), sum.flatten()),
    };
    // A histogram: its buckets, +Inf, `_sum` and `_count`; a sum: one counter.
    let per_set = value.as_ref().map_or(0, |s| s.buckets.len() + 3) + usize::from(sum.is_some());
    let need = budget.sets.saturating_mul(per_set);
    let total = budget.used.saturating_add(need);
    if total > MAX_SERIES_PER_LOG {
        let msg = format!(
            "with value:/sum: up to {} label sets (with __overflow__) of {per_set} series each = {need} series{}, over the limit of {MAX_SERIES_PER_LOG} per log; lower max_series or use fewer buckets",
            budget.sets,
            match *budget.used {
                0 => String::new(),
                _ => format!(" ({total} with the log's patterns before it)"),
            },
        );
        match (budget.max_series, group_at) {
            (Some(m), _) => v.problem(m, &format!("{pf}.max_series"), msg),
            (None, Some((g, f))) => v.problem(&g, &format!("{pf}.{f}"), msg),
            (None, None) => {}
        }
        return None;
    }
    *budget.used = total;
    Some((value, sum))
}

/// Validates a `value:`; `groups` are the regex's named capture groups.
fn value(
    v: &mut Validator<'_>,
    r: RawValue,
    groups: &HashSet<&str>,
    field: &str,
) -> Option<ValueSpec> {
    let mut spec = common(v, r.group, r.unit, r.scale, groups, field);
    let buckets = match r.buckets {
        None => spec.as_ref().map(|s| s.unit.default_buckets()),
        Some(b) if b.value.is_empty() => {
            v.problem(&b, &format!("{field}.buckets"), "needs at least one bucket");
            None
        }
        Some(b) if b.value.iter().any(|x| !x.is_finite()) => {
            v.problem(&b, &format!("{field}.buckets"), "must be finite numbers");
            None
        }
        Some(b) if b.value.len() > MAX_BUCKETS => {
            let msg = format!(
                "{} buckets; at most {MAX_BUCKETS} (each is one more series per label set)",
                b.value.len()
            );
            v.problem(&b, &format!("{field}.buckets"), msg);
            None
        }
        Some(b) if b.value.windows(2).any(|w| w[0] >= w[1]) => {
            let msg = "must be strictly increasing";
            v.problem(&b, &format!("{field}.buckets"), msg);
            None
        }
        Some(b) => Some(b.value),
    };
    match (&mut spec, buckets) {
        (Some(s), Some(b)) => s.buckets = b,
        _ => return None,
    }
    spec
}

/// Validates a `sum:`.
fn sum(v: &mut Validator<'_>, r: RawSum, groups: &HashSet<&str>, field: &str) -> Option<ValueSpec> {
    common(v, r.group, r.unit, r.scale, groups, field)
}

fn common(
    v: &mut Validator<'_>,
    group: Spanned<String>,
    unit: Option<Spanned<String>>,
    scale: Option<Spanned<f64>>,
    groups: &HashSet<&str>,
    field: &str,
) -> Option<ValueSpec> {
    let mut ok = true;
    if !groups.contains(group.value.as_str()) {
        let msg = format!(
            "{:?} is not a named capture group of the regex",
            group.value
        );
        v.problem(&group, &format!("{field}.group"), msg);
        ok = false;
    }
    let unit = match &unit {
        Some(u)
            if matches!(
                u.value.as_str(),
                "milliseconds" | "ms" | "microseconds" | "us"
            ) =>
        {
            let msg = "use base units: `unit: seconds` with `scale: 0.001` (ms) or `0.000001` (us)";
            v.problem(u, &format!("{field}.unit"), msg);
            None
        }
        u => v.choice(
            u.as_ref(),
            &format!("{field}.unit"),
            &[
                ("seconds", Unit::Seconds),
                ("bytes", Unit::Bytes),
                ("ratio", Unit::Ratio),
                ("none", Unit::None),
            ],
        ),
    };
    let scale = match scale {
        None => Some(1.0),
        Some(s) if s.value.is_finite() && s.value > 0.0 => Some(s.value),
        Some(s) => {
            v.problem(
                &s,
                &format!("{field}.scale"),
                "must be a finite number above 0",
            );
            None
        }
    };
    match (ok, unit, scale) {
        (true, Some(unit), Some(scale)) => Some(ValueSpec {
            group: group.value,
            unit,
            scale,
            buckets: Vec::new(),
        }),
        _ => None,
    }
}
