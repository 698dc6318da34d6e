//! Log-follower metrics: per-log counters and per-pattern label sets with a
//! cardinality cap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::config::logs::LogSource;
use paths::{PathMetrics, PathSets};
use pattern::{Created, PatternMetrics, OVERFLOW_VALUE};
use values::{PatternValues, ValueFamilies};

mod observer;
mod paths;
mod pattern;
mod values;

/// Label sets vary per log (optional `microservice`, pattern captures).
type Labels = Vec<(String, String)>;

/// A pattern's series labels (with `pattern`) and its capture label names.
type PatternKey = (Labels, Vec<String>);

/// The log families, registered once.
#[derive(Debug, Clone, Default)]
pub(super) struct LogFamilies {
    lines: Family<Labels, Counter>,
    matches: Family<Labels, Counter>,
    overflow: Family<Labels, Counter>,
    bytes: Family<Labels, Counter>,
    files: Family<Labels, Gauge>,
    rotations: Family<Labels, Counter>,
    truncations: Family<Labels, Counter>,
    read_errors: Family<Labels, Counter>,
    long_lines: Family<Labels, Counter>,
    parse_errors: Family<Labels, Counter>,
    lag: Family<Labels, Gauge>,
    checkpoint_errors: Family<Labels, Counter>,
    discovery_errors: Family<Labels, Counter>,
    skipped: Family<Labels, Gauge>,
    watch_errors: Family<Labels, Counter>,
    unwatched: Family<Labels, Gauge>,
    created: Arc<Mutex<HashMap<PatternKey, Arc<Mutex<Created>>>>>,
    path_lines: Family<Labels, Counter>,
    path_sets: PathSets,
    /// Not exported: lines per (log, service named by `service_from`),
    /// for the status page; bounded by the configured services.
    service_lines: Family<Labels, Counter>,
    values: ValueFamilies,
}

impl LogFamilies {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "vitals_log_lines",
            "Lines read, by level: error (an error token), else warning (a warning token), else other",
            self.lines.clone(),
        );
        r.register(
            "vitals_log_path_lines",
            "Lines read, by level as in vitals_log_lines_total, per set of values of the log's path_labels (only logs with path_labels or service_from); a series goes when the last file giving its values is gone",
            self.path_lines.clone(),
        );
        r.register(
            "vitals_log_pattern_matches",
            "Lines matching a configured pattern, with its opted-in capture labels",
            self.matches.clone(),
        );
        r.register(
            "vitals_log_pattern_overflow_matches",
            "Matches counted in the __overflow__ series because the pattern reached max_series label sets",
            self.overflow.clone(),
        );
        r.register(
            "vitals_log_read_bytes",
            "Bytes read from the log's files",
            self.bytes.clone(),
        );
        r.register(
            "vitals_log_files_followed",
            "Files currently followed",
            self.files.clone(),
        );
        r.register(
            "vitals_log_rotations",
            "Files that were renamed away, deleted or replaced while followed",
            self.rotations.clone(),
        );
        r.register(
            "vitals_log_truncations",
            "Files found truncated or rewritten (copytruncate, or while the exporter was stopped)",
            self.truncations.clone(),
        );
        r.register(
            "vitals_log_read_errors",
            "Failures to open or read a file (permissions, I/O errors)",
            self.read_errors.clone(),
        );
        r.register(
            "vitals_log_long_lines",
            "Lines longer than max_line_bytes; matching saw their first max_line_bytes bytes",
            self.long_lines.clone(),
        );
        r.register(
            "vitals_log_parse_errors",
            "Lines not well-formed in the log's format (JSON, logfmt, container records); counted as level other",
            self.parse_errors.clone(),
        );
        r.register(
            "vitals_log_lag_bytes",
            "Bytes written to the followed files but not read yet",
            self.lag.clone(),
        );
        r.register(
            "vitals_log_checkpoint_errors",
            "Failures to load or save the log's positions file",
            self.checkpoint_errors.clone(),
        );
        r.register(
            "vitals_log_discovery_errors",
            "Failures to list a directory of the log's globs (its files are kept, the listing retried)",
            self.discovery_errors.clone(),
        );
        r.register(
            "vitals_log_files_skipped",
            "Files matching the globs but not followed because the open-file limit is reached",
            self.skipped.clone(),
        );
        r.register(
            "vitals_log_watch_errors",
            "Directories that could not be watched with inotify (e.g. fs.inotify.max_user_watches reached), once per failure until watched again",
            self.watch_errors.clone(),
        );
        r.register(
            "vitals_log_unwatched_directories",
            "Directories of the log without an inotify watch: changes there are seen only by the poll",
            self.unwatched.clone(),
        );
        self.values.register(r);
    }

    /// Drops every series of a removed log, captured-label ones included.
    pub(super) fn remove(&self, source: &LogSource) {
        let base = base_labels(source);
        let with = |k: &str, v: &str| {
            let mut l = base.clone();
            l.push((k.to_string(), v.to_string()));
            l
        };
        for level in ["error", "warning", "other"] {
            self.lines.remove(&with("level", level));
        }
        for p in &source.patterns {
            let l = with("pattern", &p.name);
            self.matches.remove(&l);
            self.overflow.remove(&l);
        }
        self.drop_patterns(&base, &[]);
        for f in [
            &self.bytes,
            &self.rotations,
            &self.truncations,
            &self.read_errors,
            &self.long_lines,
            &self.parse_errors,
            &self.checkpoint_errors,
            &self.discovery_errors,
            &self.watch_errors,
        ] {
            f.remove(&base);
        }
        for g in [&self.files, &self.lag, &self.skipped, &self.unwatched] {
            g.remove(&base);
        }
    }

    /// Removes the captured-label series of the patterns of the log with
    /// `base` labels that are not in `keep`.
    fn drop_patterns(&self, base: &Labels, keep: &[PatternKey]) {
        let mut created = lock(&self.created);
        created.retain(|key, c| {
            if !key.0.starts_with(&base[..1]) || keep.contains(key) {
                return true;
            }
            let mut c = lock(c);
            for (_, labels) in c.sets.values() {
                self.matches.remove(labels);
                self.values.remove(labels);
            }
            let mut overflow = key.0.clone();
            overflow.extend(key.1.iter().map(|n| (n.clone(), OVERFLOW_VALUE.into())));
            self.matches.remove(&overflow);
            self.values.remove(&overflow);
            self.values.remove(&key.0);
            c.sets.clear();
            c.closed = true;
            false
        });
    }

    /// Creates every known series of `source` at 0 and returns its handle.
    pub(super) fn log(&self, source: &LogSource) -> LogMetrics {
        let base = base_labels(source);
        let with = |k: &str, v: &str| {
            let mut l = base.clone();
            l.push((k.to_string(), v.to_string()));
            l
        };
        let keys: Vec<PatternKey> = source
            .patterns
            .iter()
            .map(|p| (with("pattern", &p.name), p.labels.clone()))
            .collect();
        self.drop_patterns(&base, &keys);
        let patterns = source
            .patterns
            .iter()
            .zip(keys)
            .map(|(p, key)| {
                let created = lock(&self.created).entry(key.clone()).or_default().clone();
                self.values.keep_only(&key.0, p);
                PatternMetrics::new(
                    p,
                    self.matches.clone(),
                    key.0.clone(),
                    self.overflow.get_or_create_owned(&key.0),
                    created,
                    PatternValues::new(&self.values, p, &key.0),
                )
            })
            .collect();
        LogMetrics {
            error: self.lines.get_or_create_owned(&with("level", "error")),
            warning: self.lines.get_or_create_owned(&with("level", "warning")),
            other: self.lines.get_or_create_owned(&with("level", "other")),
            bytes: self.bytes.get_or_create_owned(&base),
            files: self.files.get_or_create_owned(&base),
            rotations: self.rotations.get_or_create_owned(&base),
            truncations: self.truncations.get_or_create_owned(&base),
            read_errors: self.read_errors.get_or_create_owned(&base),
            long_lines: self.long_lines.get_or_create_owned(&base),
            parse_errors: self.parse_errors.get_or_create_owned(&base),
            lag: self.lag.get_or_create_owned(&base),
            checkpoint_errors: self.checkpoint_errors.get_or_create_owned(&base),
            discovery_errors: self.discovery_errors.get_or_create_owned(&base),
            skipped: self.skipped.get_or_create_owned(&base),
            watch_errors: self.watch_errors.get_or_create_owned(&base),
            unwatched: self.unwatched.get_or_create_owned(&base),
            patterns,
            service_lines: self.service_lines.clone(),
            paths: source.path_labels.as_ref().map(|p| {
                PathMetrics::new(
                    &source.name,
                    p,
                    self.path_lines.clone(),
                    self.path_sets.clone(),
                )
            }),
        }
    }
}

/// `log` and, for a log tied to a service, `microservice`.
fn base_labels(source: &LogSource) -> Labels {
    let mut base: Labels = vec![("log".into(), source.name.clone())];
    if let Some(s) = &source.service {
        base.push((crate::metrics::SERVICE_LABEL.into(), s.clone()));
    }
    base
}

/// Handles on one log's series; owned by its follower thread. `pub` only
/// because `Metrics::log` is.
#[derive(Debug)]
pub struct LogMetrics {
    error: Counter,
    warning: Counter,
    other: Counter,
    bytes: Counter,
    files: Gauge,
    rotations: Counter,
    truncations: Counter,
    read_errors: Counter,
    long_lines: Counter,
    parse_errors: Counter,
    lag: Gauge,
    checkpoint_errors: Counter,
    discovery_errors: Counter,
    skipped: Gauge,
    watch_errors: Counter,
    unwatched: Gauge,
    /// One per configured pattern, in config order.
    patterns: Vec<PatternMetrics>,
    /// Series per set of path label values, for logs with `path_labels`.
    paths: Option<PathMetrics>,
    service_lines: Family<Labels, Counter>,
}

impl LogMetrics {
    /// The error and warning counters, for the status page's recent window.
    pub(crate) fn level_counters(&self) -> (Counter, Counter) {
        (self.error.clone(), self.warning.clone())
    }

    /// The error and warning counters of the lines of files whose
    /// `service_from` capture names `service`, for the status page; `None`
    /// when the log has no `service_from`. Files opened from now on count.
    pub(crate) fn service_counters(&mut self, service: &str) -> Option<(Counter, Counter)> {
        let p = self.paths.as_mut().filter(|p| p.service())?;
        let [error, warning] = ["error", "warning"].map(|level| {
            self.service_lines.get_or_create_owned(&vec![
                ("log".into(), p.log_name().into()),
                (crate::metrics::SERVICE_LABEL.into(), service.into()),
                ("level".into(), level.into()),
            ])
        });
        p.services
            .insert(service.to_string(), [error.clone(), warning.clone()]);
        Some((error, warning))
    }

    /// The gauge of unwatched directories, for the status page.
    pub(crate) fn unwatched_gauge(&self) -> Gauge {
        self.unwatched.clone()
    }
}

/// Gauges hold counts as `i64`; no count comes near its end.
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A panic while holding the lock leaves plain data, still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
