//! The web server's own series: connections, and `/probe` requests refused
//! or rejected.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

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

/// The web families, registered once.
#[derive(Debug, Default)]
pub(super) struct WebFamilies {
    probe_refused: Family<ModuleLabels, Counter>,
    unknown_module: Counter,
    probe_rejected: Counter,
    connections: Gauge,
    closed: Family<CloseLabels, Counter>,
}

impl WebFamilies {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "vitals_probe_refused",
            "/probe requests refused because the target is not in the module's allowed_targets (or is link-local)",
            self.probe_refused.clone(),
        );
        r.register(
            "vitals_probe_unknown_module",
            "/probe requests naming a module that is not configured",
            self.unknown_module.clone(),
        );
        r.register(
            "vitals_probe_requests_rejected",
            "/probe requests answered 503 because --probe.max-concurrent probes were already running",
            self.probe_rejected.clone(),
        );
        r.register(
            "vitals_web_connections",
            "HTTP connections open now",
            self.connections.clone(),
        );
        for reason in CloseReason::ALL {
            let _ = self.closed.get_or_create(&CloseLabels {
                reason: reason.label(),
            });
        }
        r.register(
            "vitals_web_connections_closed",
            "HTTP connections the exporter closed itself, by reason (rejected: every slot busy; evicted: made room for a new one; head_timeout: no first request in time; idle_timeout: keep-alive too long idle; write_timeout: the client did not read)",
            self.closed.clone(),
        );
    }

    pub(super) fn probe_refused(&self, module: &str) {
        self.probe_refused
            .get_or_create(&ModuleLabels {
                module: module.to_string(),
            })
            .inc();
    }

    pub(super) fn probe_unknown_module(&self) {
        self.unknown_module.inc();
    }

    pub(super) fn probe_rejected(&self) {
        self.probe_rejected.inc();
    }

    pub(super) fn connections(&self, delta: i64) {
        self.connections.inc_by(delta);
    }

    pub(super) fn connection_closed(&self, reason: CloseReason) {
        self.closed
            .get_or_create(&CloseLabels {
                reason: reason.label(),
            })
            .inc();
    }
}
