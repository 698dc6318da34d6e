//! What the status page shows: the latest state of every service.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::config::Service;
use crate::probe::ProbeReport;

/// Up, down, or not probed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No probe has finished yet.
    Unknown,
    /// The last probe succeeded.
    Up,
    /// The last probe failed.
    Down,
}

impl State {
    /// Lower-case name for logs and the page.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Down => "down",
        }
    }
}

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

/// A state change, returned by [`Board::record`] so the caller can log it.
#[derive(Debug, Clone, Copy)]
pub struct Change {
    /// The state before.
    pub from: State,
    /// The state now.
    pub to: State,
    /// How long the previous state lasted.
    pub lasted: Duration,
}

/// The latest status of every service, by name.
#[derive(Debug, Default)]
pub struct Board {
    services: Mutex<BTreeMap<String, ServiceStatus>>,
}

impl Board {
    /// Adds `service` as unknown (keeps its state when already present).
    pub fn add(&self, service: &Service) {
        let mut map = self.lock();
        map.entry(service.name.clone())
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
    pub fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Records a probe; returns the change when the state flipped.
    pub fn record(&self, name: &str, report: &ProbeReport, now: SystemTime) -> Option<Change> {
        let mut map = self.lock();
        let s = map.get_mut(name)?;
        s.last_status = report.http_status;
        s.last_duration = Some(report.duration);
        if let Some(f) = &report.failure {
            s.last_error = Some(format!("{}: {}", f.reason.as_str(), f.message));
        }
        let to = if report.success() {
            State::Up
        } else {
            State::Down
        };
        if to == s.state {
            return None;
        }
        let change = Change {
            from: s.state,
            to,
            lasted: now.duration_since(s.since).unwrap_or_default(),
        };
        s.state = to;
        s.since = now;
        Some(change)
    }

    /// A copy of every status, sorted by name.
    pub fn snapshot(&self) -> Vec<(String, ServiceStatus)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ServiceStatus>> {
        // A panic while holding the lock leaves plain data, still usable.
        self.services.lock().unwrap_or_else(|e| e.into_inner())
    }
}
