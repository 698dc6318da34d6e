//! Patterns' numbers: a histogram per label set for `value:`, a summed
//! counter for `sum:`, and the count of numbers that did not parse.
//!
//! The families are fixed, one per unit (`vitals_log_pattern_value_seconds`,
//! `vitals_log_pattern_sum_bytes_total`, ...), told apart by the `pattern`
//! label. Each pattern has its own buckets, which a `Family` (one
//! constructor for all its series) cannot give, so the series live in a map
//! encoded by a collector; a family with no series is not exposed.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{lock, Labels};
use crate::config::log_values::{Unit, ValueSpec};
use crate::config::logs::Pattern;
use crate::logs::{LabelValues, Number, NumberKind};

type Sum = Counter<f64, AtomicU64>;

#[derive(Debug, Default)]
struct Series {
    /// With the spec each series was made with: a reload that changes it
    /// (buckets, scale, group) starts the series afresh.
    histograms: BTreeMap<(Unit, Labels), (ValueSpec, Histogram)>,
    sums: BTreeMap<(Unit, Labels), (ValueSpec, Sum)>,
}

/// Every pattern's value series, registered once.
#[derive(Debug, Clone, Default)]
pub(super) struct ValueFamilies {
    series: Arc<Mutex<Series>>,
    parse_errors: Family<Labels, Counter>,
}

impl ValueFamilies {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "vitals_log_pattern_value_parse_errors",
            "Numbers captured by a pattern's value or sum group that were not decimal numbers (or were negative for a sum); they were not recorded",
            self.parse_errors.clone(),
        );
        r.register_collector(Box::new(self.clone()));
    }

    /// Drops the value series with these labels (a pattern's unlabelled or
    /// captured-label series) and, for a pattern's own labels, its errors.
    pub(super) fn remove(&self, labels: &Labels) {
        let mut s = lock(&self.series);
        for unit in Unit::ALL {
            let key = (unit, labels.clone());
            s.histograms.remove(&key);
            s.sums.remove(&key);
        }
        drop(s);
        self.parse_errors.remove(labels);
    }
}

impl ValueFamilies {
    /// Drops the series of the pattern with labels `pattern` (captured
    /// label sets included) that its new config no longer makes: another
    /// unit, other buckets, `value:` or `sum:` removed. A reload restarts
    /// the follower but keeps a pattern's label sets when its labels stay.
    pub(super) fn keep_only(&self, pattern: &Labels, p: &Pattern) {
        let ours = |labels: &Labels| labels.starts_with(pattern);
        let mut s = lock(&self.series);
        s.histograms
            .retain(|(_, labels), (spec, _)| !ours(labels) || p.value.as_ref() == Some(spec));
        s.sums
            .retain(|(_, labels), (spec, _)| !ours(labels) || p.sum.as_ref() == Some(spec));
        drop(s);
        if p.value.is_none() && p.sum.is_none() {
            self.parse_errors.remove(pattern);
        }
    }
}

impl Collector for ValueFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = lock(&self.series);
        for unit in Unit::ALL {
            let mut series = s.histograms.range((unit, Vec::new())..).peekable();
            let name = format!("vitals_log_pattern_value{}", unit.suffix());
            if series.peek().is_some_and(|((u, _), _)| *u == unit) {
                let mut m = encoder.encode_descriptor(
                    &name,
                    "Values captured by a pattern's `value:` group, scaled to the unit",
                    None,
                    MetricType::Histogram,
                )?;
                for ((_, labels), (_, h)) in series.take_while(|((u, _), _)| *u == unit) {
                    h.encode(m.encode_family(labels)?)?;
                }
            }
            let mut series = s.sums.range((unit, Vec::new())..).peekable();
            let name = format!("vitals_log_pattern_sum{}", unit.suffix());
            if series.peek().is_some_and(|((u, _), _)| *u == unit) {
                let mut m = encoder.encode_descriptor(
                    &name,
                    "Sum of the values captured by a pattern's `sum:` group, scaled to the unit",
                    None,
                    MetricType::Counter,
                )?;
                for ((_, labels), (_, c)) in series.take_while(|((u, _), _)| *u == unit) {
                    c.encode(m.encode_family(labels)?)?;
                }
            }
        }
        Ok(())
    }
}

/// The numbers of one pattern that has a `value:` or a `sum:`.
#[derive(Debug)]
pub(super) struct PatternValues {
    families: ValueFamilies,
    value: Option<ValueSpec>,
    sum: Option<ValueSpec>,
    errors: Counter,
}

impl PatternValues {
    /// `None` for a pattern without numbers; `labels` are the pattern's own
    /// (log, pattern), whose error counter starts at 0.
    pub(super) fn new(families: &ValueFamilies, p: &Pattern, labels: &Labels) -> Option<Self> {
        if p.value.is_none() && p.sum.is_none() {
            return None;
        }
        Some(PatternValues {
            families: families.clone(),
            value: p.value.clone(),
            sum: p.sum.clone(),
            errors: families.parse_errors.get_or_create_owned(labels),
        })
    }

    /// The series of one label set, created at 0.
    pub(super) fn series(&self, labels: &Labels) -> ValueSeries {
        let mut s = lock(&self.families.series);
        let histogram = self.value.as_ref().map(|spec| {
            let key = (spec.unit, labels.clone());
            let (_, h) = s.histograms.entry(key).or_insert_with(|| {
                let h = Histogram::new(spec.buckets.iter().copied());
                (spec.clone(), h)
            });
            h.clone()
        });
        let sum = self.sum.as_ref().map(|spec| {
            let key = (spec.unit, labels.clone());
            let (_, c) = s
                .sums
                .entry(key)
                .or_insert_with(|| (spec.clone(), Sum::default()));
            c.clone()
        });
        ValueSeries {
            histogram,
            sum,
            errors: self.errors.clone(),
        }
    }
}

/// Handles on the value series of one label set.
#[derive(Debug)]
pub(super) struct ValueSeries {
    histogram: Option<Histogram>,
    sum: Option<Sum>,
    errors: Counter,
}

impl ValueSeries {
    /// Records the numbers of one matching line.
    pub(super) fn observe(&self, values: LabelValues<'_>) {
        if let Some(h) = &self.histogram {
            match values.number(NumberKind::Value) {
                Number::Value(v) => h.observe(v),
                Number::Unparsable => {
                    self.errors.inc();
                }
                Number::Absent => {}
            }
        }
        if let Some(c) = &self.sum {
            match values.number(NumberKind::Sum) {
                Number::Value(v) => {
                    c.inc_by(v);
                }
                Number::Unparsable => {
                    self.errors.inc();
                }
                Number::Absent => {}
            }
        }
    }
}
