//! What the status page shows: the latest state of every service.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::config::Service;
pub use crate::probe::State;
use crate::probe::{Change, ProbeObserver, ProbeReport};

/// The latest known facts about one service.
#[derive(Debug, Clone)]
pub struct ServiceStatus {
    /// `http` or `tcp`.
    pub kind: &'static str,
    /// URL or address, without credentials.
    pub target: String,
    /// Current state.
    pub state: State,
    /// Since when the state holds.
    pub since: SystemTime,
    /// Status code of the last HTTP answer.
    pub last_status: Option<u16>,
    /// Duration of the last probe.
    pub last_duration: Option<Duration>,
    /// Message of the last failure, kept after recovery.
    pub last_error: Option<String>,
}

/// How far back the page's error and warning counts look.
pub(crate) const RECENT_WINDOW: Duration = Duration::from_secs(300);
/// How often the log counters are sampled for that window.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// A log that names the service it belongs to.
#[derive(Debug)]
struct LogLink {
    log: String,
    service: String,
    error: Counter,
    warning: Counter,
    /// (when, error total, warning total), oldest first, within the window.
    samples: VecDeque<(Instant, u64, u64)>,
}

/// The latest status of every service, by name, and the logs linked to them.
#[derive(Debug, Default)]
pub struct Board {
    services: Mutex<BTreeMap<String, ServiceStatus>>,
    logs: Mutex<Vec<LogLink>>,
    /// Each log's gauge of directories without an inotify watch.
    unwatched: Mutex<Vec<(String, Gauge)>>,
}

impl Board {
    /// Adds `service` as unknown (keeps its state when already present).
    pub(crate) fn add(&self, service: &Service) {
        let mut map = self.lock();
        map.entry(service.name.clone())
            .and_modify(|s| {
                s.kind = service.probe.kind();
                s.target = service.probe.target();
            })
            .or_insert_with(|| ServiceStatus {
                kind: service.probe.kind(),
                target: service.probe.target(),
                state: State::Unknown,
                since: SystemTime::now(),
                last_status: None,
                last_duration: None,
                last_error: None,
            });
    }

    /// Forgets a service.
    pub(crate) fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Records a probe of `name` and the state change it made.
    fn record(&self, name: &str, report: &ProbeReport, change: Option<&Change>) {
        let mut map = self.lock();
        let Some(s) = map.get_mut(name) else {
            return;
        };
        s.last_status = report.http_status;
        s.last_duration = Some(report.duration);
        if let Some(f) = &report.failure {
            s.last_error = Some(format!("{}: {}", f.reason.as_str(), f.message));
        }
        if let Some(c) = change {
            s.state = c.to;
            s.since = c.at;
        }
    }

    /// A copy of every status, sorted by name.
    pub(crate) fn snapshot(&self) -> Vec<(String, ServiceStatus)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Links the level counters of log `log` to `service` for the page
    /// (replacing the earlier links of the same log).
    pub(crate) fn link_log(&self, log: &str, service: &str, error: Counter, warning: Counter) {
        self.link_log_services(log, vec![(service.to_string(), error, warning)]);
    }

    /// Links log `log` to several services, each with its own level
    /// counters (`service_from`), replacing the earlier links of the log.
    pub(crate) fn link_log_services(&self, log: &str, links: Vec<(String, Counter, Counter)>) {
        let now = Instant::now();
        let mut logs = lock(&self.logs);
        logs.retain(|l| l.log != log);
        for (service, error, warning) in links {
            let first = (now, error.get(), warning.get());
            logs.push(LogLink {
                log: log.to_string(),
                service,
                error,
                warning,
                samples: VecDeque::from([first]),
            });
        }
    }

    /// The names of the services on the page.
    pub(crate) fn service_names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Forgets the link of a removed log.
    pub(crate) fn unlink_log(&self, log: &str) {
        lock(&self.logs).retain(|l| l.log != log);
        lock(&self.unwatched).retain(|(l, _)| l != log);
    }

    /// Shows on the page when log `log` has directories inotify cannot
    /// watch (replacing an earlier gauge of the same log).
    pub(crate) fn watch_log(&self, log: &str, unwatched: Gauge) {
        let mut all = lock(&self.unwatched);
        all.retain(|(l, _)| l != log);
        all.push((log.to_string(), unwatched));
    }

    /// Logs with directories only polled, and how many, sorted by log.
    pub(crate) fn unwatched_logs(&self) -> Vec<(String, i64)> {
        let mut out: Vec<(String, i64)> = lock(&self.unwatched)
            .iter()
            .map(|(l, g)| (l.clone(), g.get()))
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort();
        out
    }

    /// Records the log counters; call every [`SAMPLE_EVERY`].
    pub(crate) fn sample_logs(&self) {
        let now = Instant::now();
        for l in lock(&self.logs).iter_mut() {
            l.samples.push_back((now, l.error.get(), l.warning.get()));
            while l.samples.len() > 1 && now.duration_since(l.samples[0].0) > RECENT_WINDOW {
                l.samples.pop_front();
            }
        }
    }

    /// Error and warning lines of the logs linked to `service` within the
    /// recent window; `None` when no log names it.
    pub(crate) fn recent_log_lines(&self, service: &str) -> Option<(u64, u64)> {
        let logs = lock(&self.logs);
        let mut linked = logs.iter().filter(|l| l.service == service).peekable();
        linked.peek()?;
        Some(linked.fold((0, 0), |(e, w), l| {
            let (e0, w0) = l.samples.front().map_or((0, 0), |s| (s.1, s.2));
            (e + l.error.get() - e0, w + l.warning.get() - w0)
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ServiceStatus>> {
        lock(&self.services)
    }
}

/// Shows what the schedule of one service reports.
pub(crate) struct ServiceEntry {
    pub(crate) board: Arc<Board>,
    pub(crate) name: String,
}

impl ProbeObserver for ServiceEntry {
    fn probe_started(&self, _late: Duration) {}

    fn probe_finished(&self, report: &ProbeReport, change: Option<&Change>) {
        self.board.record(&self.name, report, change);
    }
}

/// A panic while holding the lock leaves plain data, still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
