//! Every metric the exporter serves, behind methods named for what happened.
//!
//! Probes and the log follower never touch `prometheus-client` types or
//! exposition text: a service's schedule reports to its [`ServiceMetrics`]
//! (a [`crate::probe::ProbeObserver`]), the web server calls the methods
//! below. Per-service handles are cloned out of the families once, so
//! recording a probe is a handful of atomic operations.

pub mod blackbox;
pub mod logs;
mod process;
mod services;
mod web;

use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use services::ServiceMetrics;
pub use web::CloseReason;

/// The label that names a service on every per-service series. Not
/// `service`: kube-prometheus attaches `service` (and `job`, `instance`,
/// `pod`, `namespace`, `container`, `endpoint`) as target labels, and a clash
/// would rename ours to `exported_service`.
pub(crate) const SERVICE_LABEL: &str = "microservice";

type GaugeF = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
    rustc_version: &'static str,
}

/// The exporter's registry and metric families.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    services: services::ServiceFamilies,
    reload_ok: Gauge,
    reload_time: GaugeF,
    service_file_errors: Counter,
    web: web::WebFamilies,
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
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            services: services::ServiceFamilies::default(),
            reload_ok: Gauge::default(),
            reload_time: GaugeF::default(),
            service_file_errors: Counter::default(),
            web: web::WebFamilies::default(),
            logs: logs::LogFamilies::default(),
            last_size: AtomicUsize::new(16 * 1024),
            registry: Registry::default(),
        };
        let r = &mut registry;
        m.services.register(r);
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
            "vitals_service_file_read_errors",
            "service_files entries that could not be read or parsed (not a regular file, too large, invalid)",
            m.service_file_errors.clone(),
        );
        m.web.register(r);
        m.logs.register(r);
        r.register_collector(Box::new(process::ProcessCollector::new()));
        Metrics { registry, ..m }
    }

    /// Creates every series of one service at 0 and returns its handle.
    pub(crate) fn service(&self, name: &str, http: bool) -> ServiceMetrics {
        self.services.service(name, http)
    }

    /// Drops every series of a service that is no longer configured.
    pub(crate) fn remove_service(&self, name: &str) {
        self.services.remove(name);
    }

    /// Creates every known series of a log at 0 and returns its handle.
    pub(crate) fn log(&self, source: &crate::config::logs::LogSource) -> logs::LogMetrics {
        self.logs.log(source)
    }

    /// Drops the series of a log that is no longer configured.
    pub(crate) fn remove_log(&self, source: &crate::config::logs::LogSource) {
        self.logs.remove(source);
    }

    /// A `/probe` target was refused by module `module`'s allowlist.
    pub(crate) fn probe_refused(&self, module: &str) {
        self.web.probe_refused(module);
    }

    /// A `/probe` request named an unknown module.
    pub(crate) fn probe_unknown_module(&self) {
        self.web.probe_unknown_module();
    }

    /// `n` service files could not be read or parsed.
    pub(crate) fn service_file_errors(&self, n: u64) {
        self.service_file_errors.inc_by(n);
    }

    /// A web connection opened (`+1`) or closed (`-1`).
    pub(crate) fn web_connections(&self, delta: i64) {
        self.web.connections(delta);
    }

    /// The web server closed a connection for `reason`.
    pub(crate) fn web_connection_closed(&self, reason: CloseReason) {
        self.web.connection_closed(reason);
    }

    /// A `/probe` request was rejected: too many probes in flight.
    pub(crate) fn probe_rejected(&self) {
        self.web.probe_rejected();
    }

    /// Records the outcome of loading the configuration.
    pub(crate) fn config_loaded(&self, ok: bool) {
        self.reload_ok.set(i64::from(ok));
        if ok {
            self.reload_time.set(unix_now());
        }
    }

    /// Renders the exposition: OpenMetrics when `openmetrics`, else text 0.0.4.
    pub(crate) fn encode(&self, openmetrics: bool) -> String {
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

/// Seconds since the Unix epoch, as a float.
fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn unix_now() -> f64 {
    unix_seconds(SystemTime::now())
}
