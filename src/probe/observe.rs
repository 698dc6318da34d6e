//! How the schedule reports: each service's up/down state and the observer
//! that hears about every probe.
//!
//! The engine owns the state transitions (not the status page) because it
//! is the one that logs them and because every consumer must agree on when
//! a flip happened: metrics stamp the change time, the page shows "since",
//! and both read the same [`Change`].

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::ProbeReport;

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

/// A flip between states.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Change {
    pub(crate) from: State,
    pub(crate) to: State,
    /// How long the previous state lasted.
    pub(crate) lasted: Duration,
    pub(crate) at: SystemTime,
}

/// The state of one service. Shared, not owned by its task: a service
/// restarted by a reload keeps its state, so the first probe of the new
/// task is not taken for a change.
#[derive(Debug)]
pub(crate) struct Health(Mutex<(State, SystemTime)>);

impl Default for Health {
    fn default() -> Self {
        Health(Mutex::new((State::Unknown, SystemTime::now())))
    }
}

impl Health {
    /// Records the outcome of a probe; the change when the state flipped.
    pub(crate) fn record(&self, success: bool, now: SystemTime) -> Option<Change> {
        let to = if success { State::Up } else { State::Down };
        // A panic while holding the lock leaves plain data, still usable.
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (from, since) = *guard;
        if to == from {
            return None;
        }
        *guard = (to, now);
        Some(Change {
            from,
            to,
            lasted: now.duration_since(since).unwrap_or_default(),
            at: now,
        })
    }
}

/// Hears what the schedule of one service does.
pub(crate) trait ProbeObserver: Send + Sync + 'static {
    /// A scheduled probe started `late` after its planned time.
    fn probe_started(&self, late: Duration);
    /// A probe finished; `change` when the state flipped with it.
    fn probe_finished(&self, report: &ProbeReport, change: Option<&Change>);
}

/// Both hear everything, `A` first.
impl<A: ProbeObserver, B: ProbeObserver> ProbeObserver for (A, B) {
    fn probe_started(&self, late: Duration) {
        self.0.probe_started(late);
        self.1.probe_started(late);
    }

    fn probe_finished(&self, report: &ProbeReport, change: Option<&Change>) {
        self.0.probe_finished(report, change);
        self.1.probe_finished(report, change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_flips_are_changes() {
        let h = Health::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let c = h.record(true, t0).expect("unknown to up");
        assert_eq!((c.from, c.to, c.at), (State::Unknown, State::Up, t0));
        assert!(h.record(true, t0 + Duration::from_secs(1)).is_none());
        let c = h
            .record(false, t0 + Duration::from_secs(7))
            .expect("up to down");
        assert_eq!((c.from, c.to), (State::Up, State::Down));
        assert_eq!(c.lasted, Duration::from_secs(7));
    }
}
