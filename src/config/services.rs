//! The `services:` section: services probed on a schedule.

use std::time::Duration;

use super::duration::format_duration;
use super::raw::RawService;
use super::validate::Validator;
use super::{Module, ProbeSpec};
use crate::hash::Fingerprint;

/// A `service_files:` entry: Prometheus file_sd lists whose targets become
/// scheduled services, probed with a module's settings.
#[derive(Debug, Clone)]
pub struct ServiceFiles {
    /// Absolute globs of JSON or YAML file_sd files.
    pub(crate) paths: Vec<String>,
    /// How to probe each target.
    pub(crate) module: Module,
    /// Time between probes.
    pub(crate) interval: Duration,
}

/// One scheduled service.
#[derive(Debug, Clone)]
pub struct Service {
    /// Unique name; the value of the `microservice` label.
    pub(crate) name: String,
    /// Time between the starts of two probes.
    pub(crate) interval: Duration,
    /// Upper bound on one whole probe; always below `interval`.
    pub(crate) timeout: Duration,
    /// What to probe and how.
    pub(crate) probe: ProbeSpec,
    /// [`service_fingerprint`]: a reload restarts the service only when it changed.
    pub(crate) fingerprint: u64,
}

/// The fingerprint of a scheduled service (static or from file_sd): what a
/// reload compares to decide whether to restart it.
pub(crate) fn service_fingerprint(interval: Duration, timeout: Duration, probe: &ProbeSpec) -> u64 {
    let mut fp = Fingerprint::default();
    fp.duration(interval)
        .duration(timeout)
        .add(probe.fingerprint().to_le_bytes());
    fp.finish()
}

impl Validator<'_> {
    pub(super) fn service(
        &mut self,
        rs: RawService,
        field: &str,
        default_interval: Duration,
        default_timeout: Duration,
    ) -> Option<Service> {
        let interval = match &rs.interval {
            Some(s) => self.positive(s, &format!("{field}.interval")),
            None => Some(default_interval),
        };
        let timeout = match &rs.timeout {
            Some(s) => self.positive(s, &format!("{field}.timeout")),
            None => Some(default_timeout.min(interval.unwrap_or(default_interval))),
        };
        if let (Some(i), Some(t), Some(at)) = (interval, timeout, rs.timeout.as_ref()) {
            if t >= i {
                let msg = format!(
                    "timeout {} must be below interval {}",
                    format_duration(t),
                    format_duration(i)
                );
                self.problem(at, &format!("{field}.timeout"), msg);
            }
        }
        let probe = match (rs.http, rs.tcp) {
            (Some(h), None) => {
                if h.url.is_none() {
                    self.problem(
                        &rs.name,
                        &format!("{field}.http.url"),
                        "missing field `url`",
                    );
                }
                self.http(h, &format!("{field}.http"), false)
                    .map(|h| ProbeSpec::Http(Box::new(h)))
            }
            (None, Some(t)) => {
                if t.address.is_none() {
                    self.problem(
                        &rs.name,
                        &format!("{field}.tcp.address"),
                        "missing field `address`",
                    );
                }
                self.tcp(t, &format!("{field}.tcp"), false)
                    .map(ProbeSpec::Tcp)
            }
            (Some(_), Some(_)) => {
                self.problem(&rs.name, field, "set either `http` or `tcp`, not both");
                None
            }
            (None, None) => {
                self.problem(&rs.name, field, "needs an `http` or a `tcp` probe");
                None
            }
        };
        let probe = probe?;
        let (interval, timeout) = (interval?, timeout?);
        let fingerprint = service_fingerprint(interval, timeout, &probe);
        Some(Service {
            name: rs.name.value,
            interval,
            timeout,
            probe,
            fingerprint,
        })
    }
}
