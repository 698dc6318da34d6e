//! The level counters of one log per set of path label values
//! (`path_labels`), with the `max_series` cap. A series lives while a
//! followed file holds it: the last file with its values gone (read to its
//! end), the series is removed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

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
pub(super) type PathSets = Arc<Mutex<HashMap<String, HashMap<Labels, Weak<Entry>>>>>;

/// One set of label values: its counters, removed when dropped.
#[derive(Debug)]
pub(super) struct Entry {
    key: String,
    labels: Labels,
    /// error, warning, other.
    counters: [Counter; 3],
    /// error, warning of the status page's link to the service it names.
    service: Option<[Counter; 2]>,
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

impl PathSeries for Entry {
    fn lines(&self, c: LevelCounts) {
        for (counter, n) in self.counters.iter().zip([c.error, c.warning, c.other()]) {
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
        self.overflow
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut all = lock(&self.sets);
        let Some(sets) = all.get_mut(&self.key) else {
            return;
        };
        // Another file may have brought the values back since the last
        // holder let go: then the series are its own.
        if sets.get(&self.labels).is_some_and(|w| w.strong_count() > 0) {
            return;
        }
        sets.remove(&self.labels);
        if sets.is_empty() {
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
        PathMetrics {
            family,
            sets,
            log,
            key,
            names,
            service: p.service_from.is_some(),
            max: p.max_series,
            overflow,
            services: HashMap::new(),
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
    pub(super) fn series(&self, values: Vec<String>) -> Arc<Entry> {
        debug_assert_eq!(values.len(), self.names.len());
        let labels: Labels = std::iter::once(self.log.clone())
            .chain(self.names.iter().cloned().zip(values))
            .collect();
        let mut all = lock(&self.sets);
        let sets = all.entry(self.key.clone()).or_default();
        if let Some(e) = sets.get(&labels).and_then(Weak::upgrade) {
            return e;
        }
        let ours = sets.len() - usize::from(sets.contains_key(&self.overflow));
        let labels = if ours >= self.max {
            if let Some(e) = sets.get(&self.overflow).and_then(Weak::upgrade) {
                return e;
            }
            self.overflow.clone()
        } else {
            labels
        };
        let counters = LEVELS.map(|l| self.family.get_or_create_owned(&with_level(&labels, l)));
        let service = self
            .service
            .then(|| {
                labels
                    .last()
                    .and_then(|(_, v)| self.services.get(v))
                    .cloned()
            })
            .flatten();
        let e = Arc::new(Entry {
            service,
            key: self.key.clone(),
            labels: labels.clone(),
            counters,
            family: self.family.clone(),
            sets: self.sets.clone(),
            overflow: labels == self.overflow,
        });
        sets.insert(labels, Arc::downgrade(&e));
        e
    }
}
