//! Runs every service's probe on its own interval, each in its own task.
//!
//! Probes of one service never overlap (timeout < interval) and never wait
//! for another service. Start times are spread by a stable hash of the name,
//! so a thousand services do not fire in the same millisecond and keep their
//! phase across restarts.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::observe::{Health, ProbeObserver, State};
use crate::config::Service;
use crate::hash::fnv1a;

/// The first probe of a service runs within this long of start-up.
const FIRST_ROUND: Duration = Duration::from_secs(1);

/// Starts the probe loop of `service`, reporting to `observer`; abort the
/// handle to stop it.
pub(crate) fn spawn(
    service: Service,
    health: Arc<Health>,
    observer: impl ProbeObserver,
) -> JoinHandle<()> {
    tokio::spawn(run(service, health, observer))
}

async fn run(service: Service, health: Arc<Health>, observer: impl ProbeObserver) {
    let start = Instant::now();
    let seed = fnv1a(service.name.as_bytes());
    let first = spread(seed, service.interval.min(FIRST_ROUND));
    let mut phase = spread(seed, service.interval);
    if phase <= first {
        phase += service.interval;
    }
    tokio::time::sleep_until(start + first).await;
    probe_once(&service, &health, &observer).await;
    let mut ticker = tokio::time::interval_at(start + phase, service.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let planned = ticker.tick().await;
        observer.probe_started(planned.elapsed());
        probe_once(&service, &health, &observer).await;
    }
}

async fn probe_once(service: &Service, health: &Health, observer: &impl ProbeObserver) {
    let report = super::run(&service.probe, service.timeout).await;
    let change = health.record(report.success(), SystemTime::now());
    observer.probe_finished(&report, change.as_ref());
    let Some(change) = change else {
        return;
    };
    let lasted = change.lasted.as_secs_f64();
    match (&report.failure, change.from) {
        (Some(f), _) => tracing::warn!(
            microservice = %service.name,
            reason = f.reason.as_str(),
            error = %f.message,
            previous_state = change.from.as_str(),
            previous_state_seconds = lasted,
            "service is down"
        ),
        (None, State::Unknown) => tracing::info!(
            microservice = %service.name,
            duration_seconds = report.duration.as_secs_f64(),
            "service is up"
        ),
        (None, _) => tracing::info!(
            microservice = %service.name,
            previous_state = change.from.as_str(),
            previous_state_seconds = lasted,
            "service recovered"
        ),
    }
}

/// A stable offset in `[0, period)` derived from `seed`.
fn spread(seed: u64, period: Duration) -> Duration {
    let nanos = period.as_nanos().max(1) as u64;
    Duration::from_nanos(seed % nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_within_period_and_stable() {
        let p = Duration::from_secs(15);
        for name in ["a", "b", "checkout", "payments"] {
            let d = spread(fnv1a(name.as_bytes()), p);
            assert!(d < p);
            assert_eq!(d, spread(fnv1a(name.as_bytes()), p));
        }
        assert_ne!(
            spread(fnv1a(b"a"), p),
            spread(fnv1a(b"b"), p),
            "different names get different phases"
        );
    }
}
