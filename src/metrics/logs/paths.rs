//! The level counters of one log per set of path label values
//! (`path_labels`), with the `max_series` cap. A series lives while a
//! followed file holds it: the last file with its values gone (read to its
//! end), the series is removed.
//!
//! A reload lowering `max_series` while more sets are live demotes the
//! newest past the new cap: their files count in `__overflow__` from then
//! on, and when the old config's follower lets go of a demoted set its
//! counts move to `__overflow__`, so `sum by (log)` never drops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::pattern::OVERFLOW_VALUE;
use super::{lock, Labels};
use crate::config::log_paths::PathLabels;
use crate::logs::{LevelCounts, PathSeries};

/// The live series of every log, by log and label names (see
/// [`PathMetrics::key`]), then by series labels (without `level`). Shared
/// by a log's old and new followers over a reload, so a series both follow
/// keeps its counts.
pub(super) type PathSets = Arc<Mutex<HashMap<String, Sets>>>;

/// The label sets of one log and label names.
#[derive(Debug, Default)]
pub(super) struct Sets {
    /// Within the cap (and `__overflow__`).
    live: HashMap<Labels, Weak<Entry>>,
    /// Past a cap lowered by a reload, until the old follower lets go: new
    /// files with these values count in `__overflow__`.
    demoted: HashMap<Labels, Weak<Entry>>,
    /// Sets created so far: orders them, newest demoted first.
    created: u64,
}

/// One set of label values: its counters, removed when dropped.
#[derive(Debug)]
pub(super) struct Entry {
    key: String,
    labels: Labels,
    /// Creation order within its [`Sets`].
    seq: u64,
    /// Set when demoted: the overflow set its counts move to when it goes.
    demoted: OnceLock<Arc<Entry>>,
    /// error, warning, other.
    counters: [Counter; 3],
    family: Family<Labels, Counter>,
    sets: PathSets,
    overflow: bool,
}

const LEVELS: [&str; 3] = ["error", "warning", "other"];

/// The labels of one level's series.
fn with_level(labels: &Labels, level: &str) -> Labels {
    let mut l = labels.clone();
    l.insert(1, ("level".into(), level.into()));
    l
}

/// What one file's lines count into: its set (or `__overflow__`), and the
/// status page's counters of the configured service its `service_from`
/// value names. Those are per file, not per set: a service's lines count on
/// its row whether or not its set fits under `max_series`.
#[derive(Debug)]
struct FileSeries {
    set: Arc<Entry>,
    /// error, warning.
    service: Option<[Counter; 2]>,
}

impl PathSeries for FileSeries {
    fn lines(&self, c: LevelCounts) {
        for (counter, n) in self
            .set
            .counters
            .iter()
            .zip([c.error, c.warning, c.other()])
        {
            if n > 0 {
                counter.inc_by(n);
            }
        }
        if let Some([error, warning]) = &self.service {
            error.inc_by(c.error);
            warning.inc_by(c.warning);
        }
    }

    fn overflow(&self) -> bool {
        self.set.overflow
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut all = lock(&self.sets);
        let Some(sets) = all.get_mut(&self.key) else {
            return;
        };
        if let Some(overflow) = self.demoted.get() {
            // While listed as demoted, no live set takes these values.
            sets.demoted.remove(&self.labels);
            for (to, from) in overflow.counters.iter().zip(&self.counters) {
                to.inc_by(from.get());
            }
        } else if sets
            .live
            .get(&self.labels)
            .is_some_and(|w| w.strong_count() > 0)
        {
            // Another file brought the values back since the last holder
            // let go: the series are its own.
            return;
        } else {
            sets.live.remove(&self.labels);
        }
        if sets.live.is_empty() && sets.demoted.is_empty() {
            all.remove(&self.key);
        }
        for level in LEVELS {
            self.family.remove(&with_level(&self.labels, level));
        }
    }
}

/// Hands out the series of one log's files.
#[derive(Debug)]
pub(super) struct PathMetrics {
    family: Family<Labels, Counter>,
    sets: PathSets,
    /// `log`, the first label of every series.
    log: (String, String),
    /// The log and the label names: over a reload that changes
    /// `path_labels`, the old config's series, held until the new follower
    /// holds its own, must not count toward the new config's `max_series`.
    key: String,
    names: Vec<String>,
    service: bool,
    max: usize,
    /// Files past the cap: one series every such file holds.
    overflow: Labels,
    /// Error and warning counters of the configured services the status
    /// page links this log to, by name (`service_from`).
    pub(super) services: HashMap<String, [Counter; 2]>,
}

impl PathMetrics {
    pub(super) fn new(
        log: &str,
        p: &PathLabels,
        family: Family<Labels, Counter>,
        sets: PathSets,
    ) -> Self {
        let log = ("log".to_string(), log.to_string());
        let mut names = p.labels.clone();
        if p.service_from.is_some() {
            names.push(crate::metrics::SERVICE_LABEL.into());
        }
        let key = std::iter::once(log.1.as_str())
            .chain(names.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("\0");
        let overflow = std::iter::once(log.clone())
            .chain(names.iter().map(|n| (n.clone(), OVERFLOW_VALUE.into())))
            .collect();
        let m = PathMetrics {
            family,
            sets,
            log,
            key,
            names,
            service: p.service_from.is_some(),
            max: p.max_series,
            overflow,
            services: HashMap::new(),
        };
        m.demote_past_cap();
        m
    }

    /// Demotes the newest live sets past `max` (see the module comment).
    fn demote_past_cap(&self) {
        let mut all = lock(&self.sets);
        let Some(sets) = all.get_mut(&self.key) else {
            return;
        };
        let mut live: Vec<Arc<Entry>> = sets
            .live
            .iter()
            .filter(|(labels, _)| **labels != self.overflow)
            .filter_map(|(_, w)| w.upgrade())
            .collect();
        let mut overflow = None;
        if live.len() > self.max {
            live.sort_unstable_by_key(|e| e.seq);
            let to = self.overflow_entry(sets);
            for e in &live[self.max..] {
                sets.live.remove(&e.labels);
                sets.demoted.insert(e.labels.clone(), Arc::downgrade(e));
                // Set once: the entry has left `live`, where this finds them.
                let _ = e.demoted.set(to.clone());
            }
            overflow = Some(to);
        }
        // The handles may be the last of an entry, whose drop takes the lock.
        drop(all);
        drop((live, overflow));
    }

    /// The live overflow set, created if none.
    fn overflow_entry(&self, sets: &mut Sets) -> Arc<Entry> {
        match sets.live.get(&self.overflow).and_then(Weak::upgrade) {
            Some(e) => e,
            None => self.create(sets, self.overflow.clone()),
        }
    }

    /// Whether the log has `service_from`.
    pub(super) fn service(&self) -> bool {
        self.service
    }

    /// The value of the `log` label.
    pub(super) fn log_name(&self) -> &str {
        &self.log.1
    }

    /// The series of a file with these label values (labels in config
    /// order, then the service), or the overflow series past the cap.
    pub(super) fn series(&self, values: Vec<String>) -> Arc<dyn PathSeries> {
        debug_assert_eq!(values.len(), self.names.len());
        let service = self
            .service
            .then(|| values.last().and_then(|v| self.services.get(v)).cloned())
            .flatten();
        let set = self.set(values);
        Arc::new(FileSeries { set, service })
    }

    fn set(&self, values: Vec<String>) -> Arc<Entry> {
        let labels: Labels = std::iter::once(self.log.clone())
            .chain(self.names.iter().cloned().zip(values))
            .collect();
        let mut all = lock(&self.sets);
        let sets = all.entry(self.key.clone()).or_default();
        if let Some(e) = sets.live.get(&labels).and_then(Weak::upgrade) {
            return e;
        }
        let ours = sets.live.len() - usize::from(sets.live.contains_key(&self.overflow));
        if ours >= self.max || sets.demoted.contains_key(&labels) {
            return self.overflow_entry(sets);
        }
        self.create(sets, labels)
    }

    /// A new set with these labels, its series at 0.
    fn create(&self, sets: &mut Sets, labels: Labels) -> Arc<Entry> {
        let counters = LEVELS.map(|l| self.family.get_or_create_owned(&with_level(&labels, l)));
        sets.created += 1;
        let e = Arc::new(Entry {
            key: self.key.clone(),
            labels: labels.clone(),
            seq: sets.created,
            demoted: OnceLock::new(),
            counters,
            family: self.family.clone(),
            sets: self.sets.clone(),
            overflow: labels == self.overflow,
        });
        sets.live.insert(labels, Arc::downgrade(&e));
        e
    }
}
