//! The per-service probe series, and the handle a service's schedule
//! reports through.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{unix_now, unix_seconds, GaugeF};
use crate::probe::{Change, FailureReason, Phase, ProbeObserver, ProbeReport};

/// Buckets of the probe duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of the schedule delay histogram, in seconds.
const DELAY_BUCKETS: [f64; 11] = [
    0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    microservice: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    microservice: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    microservice: String,
    phase: &'static str,
}

fn histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The per-service families, registered once.
#[derive(Debug)]
pub(super) struct ServiceFamilies {
    up: Family<ServiceLabels, Gauge>,
    probes: Family<ServiceLabels, Counter>,
    failures: Family<ReasonLabels, Counter>,
    last_duration: Family<ServiceLabels, GaugeF>,
    durations: Family<ServiceLabels, Histogram, fn() -> Histogram>,
    phases: Family<PhaseLabels, GaugeF>,
    http_status: Family<ServiceLabels, Gauge>,
    cert_expiry: Family<ServiceLabels, Gauge>,
    state_change: Family<ServiceLabels, GaugeF>,
    schedule_delay: Histogram,
}

impl Default for ServiceFamilies {
    fn default() -> Self {
        ServiceFamilies {
            up: Family::default(),
            probes: Family::default(),
            failures: Family::default(),
            last_duration: Family::default(),
            durations: Family::new_with_constructor(histogram),
            phases: Family::default(),
            http_status: Family::default(),
            cert_expiry: Family::default(),
            state_change: Family::default(),
            schedule_delay: Histogram::new(DELAY_BUCKETS),
        }
    }
}

impl ServiceFamilies {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "vitals_up",
            "Whether the last probe of the service succeeded (1) or failed (0)",
            self.up.clone(),
        );
        r.register(
            "vitals_probes",
            "Probes run, successful or not",
            self.probes.clone(),
        );
        r.register(
            "vitals_probe_failures",
            "Failed probes by reason (dns, connect, tls, timeout, status, body, other)",
            self.failures.clone(),
        );
        r.register(
            "vitals_probe_last_duration_seconds",
            "Wall time of the last probe",
            self.last_duration.clone(),
        );
        r.register(
            "vitals_probe_duration_seconds",
            "Wall time of probes",
            self.durations.clone(),
        );
        r.register(
            "vitals_probe_phase_duration_seconds",
            "Time spent in each phase of the last probe (resolve, connect, tls, processing, transfer)",
            self.phases.clone(),
        );
        r.register(
            "vitals_probe_http_status_code",
            "Status code of the last HTTP response, 0 when none arrived",
            self.http_status.clone(),
        );
        r.register(
            "vitals_probe_tls_earliest_cert_expiry_timestamp_seconds",
            "Earliest notAfter in the certificate chain of the last TLS handshake",
            self.cert_expiry.clone(),
        );
        r.register(
            "vitals_state_change_timestamp_seconds",
            "When the service last changed between up and down (exporter start until the first probe)",
            self.state_change.clone(),
        );
        r.register(
            "vitals_probe_schedule_delay_seconds",
            "How late scheduled probes started after their planned time",
            self.schedule_delay.clone(),
        );
    }

    /// Creates every series of one service at 0 and returns its handle.
    pub(super) fn service(&self, name: &str, http: bool) -> ServiceMetrics {
        let l = ServiceLabels {
            microservice: name.to_string(),
        };
        let failures = FailureReason::ALL.map(|reason| {
            self.failures.get_or_create_owned(&ReasonLabels {
                microservice: name.to_string(),
                reason: reason.as_str(),
            })
        });
        let phases = Phase::ALL.map(|phase| {
            self.phases.get_or_create_owned(&PhaseLabels {
                microservice: name.to_string(),
                phase: phase.as_str(),
            })
        });
        let state_change = self.state_change.get_or_create_owned(&l);
        // A service restarted by a reload keeps its last change time.
        if state_change.get() == 0.0 {
            state_change.set(unix_now());
        }
        ServiceMetrics {
            up: self.up.get_or_create_owned(&l),
            probes: self.probes.get_or_create_owned(&l),
            failures,
            last_duration: self.last_duration.get_or_create_owned(&l),
            duration: self.durations.get_or_create_owned(&l),
            phases,
            http_status: http.then(|| self.http_status.get_or_create_owned(&l)),
            cert_expiry: self.cert_expiry.clone(),
            schedule_delay: self.schedule_delay.clone(),
            state_change,
            labels: l,
        }
    }

    /// Drops every series of a service that is no longer configured.
    pub(super) fn remove(&self, name: &str) {
        let l = ServiceLabels {
            microservice: name.to_string(),
        };
        self.up.remove(&l);
        self.probes.remove(&l);
        self.last_duration.remove(&l);
        self.durations.remove(&l);
        self.http_status.remove(&l);
        self.cert_expiry.remove(&l);
        self.state_change.remove(&l);
        for reason in FailureReason::ALL {
            self.failures.remove(&ReasonLabels {
                microservice: name.to_string(),
                reason: reason.as_str(),
            });
        }
        for phase in Phase::ALL {
            self.phases.remove(&PhaseLabels {
                microservice: name.to_string(),
                phase: phase.as_str(),
            });
        }
    }
}

/// Handles on one service's series.
#[derive(Debug, Clone)]
pub struct ServiceMetrics {
    labels: ServiceLabels,
    up: Gauge,
    probes: Counter,
    failures: [Counter; 7],
    last_duration: GaugeF,
    duration: Histogram,
    phases: [GaugeF; 5],
    http_status: Option<Gauge>,
    cert_expiry: Family<ServiceLabels, Gauge>,
    schedule_delay: Histogram,
    state_change: GaugeF,
}

impl ProbeObserver for ServiceMetrics {
    fn probe_finished(&self, report: &ProbeReport, change: Option<&Change>) {
        let secs = report.duration.as_secs_f64();
        self.probes.inc();
        self.up.set(i64::from(report.success()));
        if let Some(f) = &report.failure {
            self.failures[f.reason as usize].inc();
        }
        self.last_duration.set(secs);
        self.duration.observe(secs);
        for (gauge, d) in self.phases.iter().zip(report.phases) {
            gauge.set(d.as_secs_f64());
        }
        if let Some(g) = &self.http_status {
            g.set(i64::from(report.http_status.unwrap_or(0)));
        }
        // The expiry series appears with the first handshake: a 0 before it
        // would read as "expired" to every alert.
        if let Some(t) = report.cert_expiry {
            self.cert_expiry.get_or_create(&self.labels).set(t);
        }
        if let Some(c) = change {
            self.state_change.set(unix_seconds(c.at));
        }
    }

    fn probe_started(&self, late: std::time::Duration) {
        self.schedule_delay.observe(late.as_secs_f64());
    }
}
