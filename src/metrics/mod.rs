//! Every metric the exporter serves, behind methods named for what happened.
//!
//! Probes and the log follower never touch `prometheus-client` types or
//! exposition text: they call [`ServiceMetrics::probe_finished`] and friends.
//! Per-service handles are cloned out of the families once, so recording a
//! probe is a handful of atomic operations.

pub mod blackbox;
pub mod logs;
mod process;

use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::probe::{Change, FailureReason, Phase, ProbeObserver, ProbeReport};

/// The label that names a service on every per-service series. Not
/// `service`: kube-prometheus attaches `service` (and `job`, `instance`,
/// `pod`, `namespace`, `container`, `endpoint`) as target labels, and a clash
/// would rename ours to `exported_service`.
pub const SERVICE_LABEL: &str = "microservice";

/// Buckets of the probe duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of the schedule delay histogram, in seconds.
const DELAY_BUCKETS: [f64; 11] = [
    0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

type GaugeF = Gauge<f64, AtomicU64>;

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModuleLabels {
    module: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    reason: &'static str,
}

/// Why the web server closed a connection itself (clients that hang up
/// are not counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Every slot had a request in flight: closed at accept.
    Rejected,
    /// Made room for a new connection.
    Evicted,
    /// No first request within the deadline (TLS and HTTP/2 preface included).
    HeadTimeout,
    /// No request for too long after the last one.
    IdleTimeout,
    /// The client did not read what was written to it.
    WriteTimeout,
}

impl CloseReason {
    const ALL: [CloseReason; 5] = [
        CloseReason::Rejected,
        CloseReason::Evicted,
        CloseReason::HeadTimeout,
        CloseReason::IdleTimeout,
        CloseReason::WriteTimeout,
    ];

    fn label(self) -> &'static str {
        match self {
            CloseReason::Rejected => "rejected",
            CloseReason::Evicted => "evicted",
            CloseReason::HeadTimeout => "head_timeout",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::WriteTimeout => "write_timeout",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
    rustc_version: &'static str,
}

fn histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The exporter's registry and metric families.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    up: Family<ServiceLabels, Gauge>,
    probes: Family<ServiceLabels, Counter>,
    failures: Family<ReasonLabels, Counter>,
    last_duration: Family<ServiceLabels, GaugeF>,
    durations: Family<ServiceLabels, Histogram, fn() -> Histogram>,
    phases: Family<PhaseLabels, GaugeF>,
    http_status: Family<ServiceLabels, Gauge>,
    cert_expiry: Family<ServiceLabels, Gauge>,
    state_change: Family<ServiceLabels, GaugeF>,
    reload_ok: Gauge,
    reload_time: GaugeF,
    probe_refused: Family<ModuleLabels, Counter>,
    unknown_module: Counter,
    service_file_errors: Counter,
    probe_rejected: Counter,
    web_connections: Gauge,
    web_closed: Family<CloseLabels, Counter>,
    schedule_delay: Histogram,
    logs: logs::LogFamilies,
    /// Size of the last exposition, to allocate the next one in one go.
    last_size: AtomicUsize,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every family; per-service series appear through [`Metrics::service`].
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            up: Family::default(),
            probes: Family::default(),
            failures: Family::default(),
            last_duration: Family::default(),
            durations: Family::new_with_constructor(histogram),
            phases: Family::default(),
            http_status: Family::default(),
            cert_expiry: Family::default(),
            state_change: Family::default(),
            reload_ok: Gauge::default(),
            reload_time: GaugeF::default(),
            probe_refused: Family::default(),
            unknown_module: Counter::default(),
            service_file_errors: Counter::default(),
            probe_rejected: Counter::default(),
            web_connections: Gauge::default(),
            web_closed: Family::default(),
            schedule_delay: Histogram::new(DELAY_BUCKETS),
            logs: logs::LogFamilies::default(),
            last_size: AtomicUsize::new(16 * 1024),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "vitals_up",
            "Whether the last probe of the service succeeded (1) or failed (0)",
            m.up.clone(),
        );
        r.register(
            "vitals_probes",
            "Probes run, successful or not",
            m.probes.clone(),
        );
        r.register(
            "vitals_probe_failures",
            "Failed probes by reason (dns, connect, tls, timeout, status, body, other)",
            m.failures.clone(),
        );
        r.register(
            "vitals_probe_last_duration_seconds",
            "Wall time of the last probe",
            m.last_duration.clone(),
        );
        r.register(
            "vitals_probe_duration_seconds",
            "Wall time of probes",
            m.durations.clone(),
        );
        r.register(
            "vitals_probe_phase_duration_seconds",
            "Time spent in each phase of the last probe (resolve, connect, tls, processing, transfer)",
            m.phases.clone(),
        );
        r.register(
            "vitals_probe_http_status_code",
            "Status code of the last HTTP response, 0 when none arrived",
            m.http_status.clone(),
        );
        r.register(
            "vitals_probe_tls_earliest_cert_expiry_timestamp_seconds",
            "Earliest notAfter in the certificate chain of the last TLS handshake",
            m.cert_expiry.clone(),
        );
        r.register(
            "vitals_state_change_timestamp_seconds",
            "When the service last changed between up and down (exporter start until the first probe)",
            m.state_change.clone(),
        );
        r.register(
            "vitals_config_last_reload_successful",
            "Whether the last configuration load succeeded",
            m.reload_ok.clone(),
        );
        r.register(
            "vitals_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully",
            m.reload_time.clone(),
        );
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                revision: env!("VITALS_REVISION"),
                rustc_version: env!("VITALS_RUSTC_VERSION"),
            })
            .set(1);
        r.register(
            "vitals_build_info",
            "Build information; the value is always 1",
            build,
        );
        r.register(
            "vitals_probe_refused",
            "/probe requests refused because the target is not in the module's allowed_targets (or is link-local)",
            m.probe_refused.clone(),
        );
        r.register(
            "vitals_probe_unknown_module",
            "/probe requests naming a module that is not configured",
            m.unknown_module.clone(),
        );
        r.register(
            "vitals_service_file_read_errors",
            "service_files entries that could not be read or parsed (not a regular file, too large, invalid)",
            m.service_file_errors.clone(),
        );
        r.register(
            "vitals_probe_requests_rejected",
            "/probe requests answered 503 because --probe.max-concurrent probes were already running",
            m.probe_rejected.clone(),
        );
        r.register(
            "vitals_web_connections",
            "HTTP connections open now",
            m.web_connections.clone(),
        );
        for reason in CloseReason::ALL {
            let _ = m.web_closed.get_or_create(&CloseLabels {
                reason: reason.label(),
            });
        }
        r.register(
            "vitals_web_connections_closed",
            "HTTP connections the exporter closed itself, by reason (rejected: every slot busy; evicted: made room for a new one; head_timeout: no first request in time; idle_timeout: keep-alive too long idle; write_timeout: the client did not read)",
            m.web_closed.clone(),
        );
        r.register(
            "vitals_probe_schedule_delay_seconds",
            "How late scheduled probes started after their planned time",
            m.schedule_delay.clone(),
        );
        m.logs.register(r);
        r.register_collector(Box::new(process::ProcessCollector::new()));
        Metrics { registry, ..m }
    }

    /// Creates every series of one service at 0 and returns its handle.
    pub fn service(&self, name: &str, http: bool) -> ServiceMetrics {
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
    pub fn remove_service(&self, name: &str) {
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

    /// Creates every known series of a log at 0 and returns its handle.
    pub fn log(&self, source: &crate::logs::config::LogSource) -> logs::LogMetrics {
        self.logs.log(source)
    }

    /// Drops the series of a log that is no longer configured.
    pub fn remove_log(&self, source: &crate::logs::config::LogSource) {
        self.logs.remove(source);
    }

    /// A `/probe` target was refused by module `module`'s allowlist.
    pub fn probe_refused(&self, module: &str) {
        self.probe_refused
            .get_or_create(&ModuleLabels {
                module: module.to_string(),
            })
            .inc();
    }

    /// A `/probe` request named an unknown module.
    pub fn probe_unknown_module(&self) {
        self.unknown_module.inc();
    }

    /// `n` service files could not be read or parsed.
    pub fn service_file_errors(&self, n: u64) {
        self.service_file_errors.inc_by(n);
    }

    /// A web connection opened (`+1`) or closed (`-1`).
    pub fn web_connections(&self, delta: i64) {
        self.web_connections.inc_by(delta);
    }

    /// The web server closed a connection for `reason`.
    pub fn web_connection_closed(&self, reason: CloseReason) {
        self.web_closed
            .get_or_create(&CloseLabels {
                reason: reason.label(),
            })
            .inc();
    }

    /// A `/probe` request was rejected: too many probes in flight.
    pub fn probe_rejected(&self) {
        self.probe_rejected.inc();
    }

    /// Records the outcome of loading the configuration.
    pub fn config_loaded(&self, ok: bool) {
        self.reload_ok.set(i64::from(ok));
        if ok {
            self.reload_time.set(unix_now());
        }
    }

    /// Renders the exposition: OpenMetrics when `openmetrics`, else text 0.0.4.
    pub fn encode(&self, openmetrics: bool) -> String {
        let mut buf = String::with_capacity(self.last_size.load(Ordering::Relaxed) + 1024);
        let result = if openmetrics {
            prometheus_client::encoding::text::encode(&mut buf, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut buf, &self.registry)
        };
        // Writing to a String cannot fail; a collector error leaves a partial
        // body that Prometheus rejects loudly rather than silently.
        if let Err(e) = result {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        self.last_size.store(buf.len(), Ordering::Relaxed);
        buf
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

/// Seconds since the Unix epoch, as a float.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn unix_now() -> f64 {
    unix_seconds(SystemTime::now())
}
