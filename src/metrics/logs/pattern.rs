//! One pattern's series, keyed by the captured label values, with the
//! cap on how many label sets it may create.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::values::{PatternValues, ValueSeries};
use super::{lock, Labels};
use crate::config::logs::Pattern;
use crate::logs::LabelValues;

/// Label value of the series that takes matches past a pattern's cap.
pub(super) const OVERFLOW_VALUE: &str = "__overflow__";

/// Bytes of the length before each label value in a series key.
const LEN_BYTES: usize = std::mem::size_of::<usize>();

/// The label sets one pattern created, kept across follower restarts: the
/// cap then holds over reloads, and the series go when the log or the
/// pattern does.
#[derive(Debug, Default)]
pub(super) struct Created {
    /// Series key (see [`PatternMetrics::matched`]) to the set's rank (how
    /// many were created before it) and labels. A reload lowering
    /// `max_series` freezes the sets ranked past it: they keep what they
    /// counted (a histogram cannot be folded into `__overflow__`) and their
    /// further matches count there.
    pub(super) sets: HashMap<Vec<u8>, (usize, Labels)>,
    /// The pattern was removed: no new series.
    pub(super) closed: bool,
}

/// Counters of one pattern, keyed by the captured label values.
#[derive(Debug)]
pub(super) struct PatternMetrics {
    family: Family<Labels, Counter>,
    base: Labels,
    /// The label names, in the order the matcher gives their values.
    names: Vec<String>,
    max: usize,
    /// Label values, each prefixed by its length: any byte may occur in a
    /// value (`(?-u)` patterns), so no separator is safe. A cache of
    /// `created`, which holds the cap. With the series of its numbers, for
    /// a pattern with `value:` or `sum:`: one lookup per line, so hashed
    /// with foldhash, not SipHash (4 % of an nginx histogram's CPU). Still
    /// seeded per process, and `max` bounds the keys a log can add.
    series: HashMap<Vec<u8>, (Counter, Option<ValueSeries>), foldhash::fast::RandomState>,
    created: Arc<Mutex<Created>>,
    key: Vec<u8>,
    unlabelled: Option<Counter>,
    overflow: Counter,
    overflow_series: Option<Counter>,
    /// For a pattern with `value:` or `sum:`: makes the series of its numbers.
    values: Option<PatternValues>,
    unlabelled_values: Option<ValueSeries>,
    overflow_values: Option<ValueSeries>,
}

impl PatternMetrics {
    pub(super) fn new(
        p: &Pattern,
        family: Family<Labels, Counter>,
        base: Labels,
        overflow: Counter,
        created: Arc<Mutex<Created>>,
        values: Option<PatternValues>,
    ) -> Self {
        // Without labels the one series exists from the start.
        let unlabelled = p
            .labels
            .is_empty()
            .then(|| family.get_or_create_owned(&base));
        let unlabelled_values = values
            .as_ref()
            .filter(|_| unlabelled.is_some())
            .map(|v| v.series(&base));
        PatternMetrics {
            family,
            base,
            names: p.labels.clone(),
            max: p.max_series,
            series: HashMap::default(),
            created,
            key: Vec::with_capacity(64),
            unlabelled,
            overflow,
            overflow_series: None,
            values,
            unlabelled_values,
            overflow_values: None,
        }
    }

    /// A line matched, with these label values.
    pub(super) fn matched(&mut self, values: LabelValues<'_>) {
        if let Some(c) = &self.unlabelled {
            c.inc();
            if let Some(v) = &self.unlabelled_values {
                v.observe(values);
            }
            return;
        }
        self.key.clear();
        for value in values.iter() {
            self.key.extend_from_slice(&value.len().to_le_bytes());
            self.key.extend_from_slice(value);
        }
        if let Some((c, v)) = self.series.get(self.key.as_slice()) {
            c.inc();
            if let Some(v) = v {
                v.observe(values);
            }
            return;
        }
        let mut created = lock(&self.created);
        if created.closed {
            return;
        }
        let labels = match created.sets.get(self.key.as_slice()) {
            Some((rank, l)) if *rank < self.max => l.clone(),
            None if created.sets.len() < self.max => {
                let l = self.labels();
                let rank = created.sets.len();
                created.sets.insert(self.key.clone(), (rank, l.clone()));
                l
            }
            _ => {
                drop(created);
                self.overflowed(values);
                return;
            }
        };
        drop(created);
        let c = self.family.get_or_create_owned(&labels);
        c.inc();
        let v = self.values.as_ref().map(|v| v.series(&labels));
        if let Some(v) = &v {
            v.observe(values);
        }
        self.series.insert(self.key.clone(), (c, v));
    }

    /// A match past the cap.
    fn overflowed(&mut self, values: LabelValues<'_>) {
        self.overflow.inc();
        let labels = || {
            let mut l = self.base.clone();
            l.extend(
                self.names
                    .iter()
                    .map(|n| (n.clone(), OVERFLOW_VALUE.to_string())),
            );
            l
        };
        if self.overflow_series.is_none() {
            let l = labels();
            self.overflow_values = self.values.as_ref().map(|v| v.series(&l));
            self.overflow_series = Some(self.family.get_or_create_owned(&l));
        }
        if let Some(c) = &self.overflow_series {
            c.inc();
        }
        if let Some(v) = &self.overflow_values {
            v.observe(values);
        }
    }

    /// The labels of the series of `self.key`.
    fn labels(&self) -> Labels {
        let mut labels = self.base.clone();
        let mut rest = self.key.as_slice();
        for name in &self.names {
            let (len, tail) = rest.split_at(LEN_BYTES);
            let mut n = [0u8; LEN_BYTES];
            n.copy_from_slice(len);
            let (value, tail) = tail.split_at(usize::from_le_bytes(n));
            labels.push((name.clone(), String::from_utf8_lossy(value).into_owned()));
            rest = tail;
        }
        labels
    }
}
