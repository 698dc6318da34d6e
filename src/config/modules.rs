//! The `modules:` section: how `/probe` probes the target of a request.

use std::sync::Arc;
use std::time::Duration;

use hyper::Uri;

use super::probe::split_host_port;
use super::raw::RawModule;
use super::validate::Validator;
use super::{ProbeSpec, DEFAULT_TIMEOUT};
use crate::net::policy::{AllowedTargets, TargetPolicy};

/// A `/probe` module: how to probe a target given in the request.
#[derive(Debug, Clone)]
pub struct Module {
    /// The `module=` parameter.
    pub(crate) name: String,
    /// Upper bound on a probe (a shorter scrape timeout wins).
    pub(crate) timeout: Duration,
    /// Probe settings (with the allowlist); the URL or address comes from `target=`.
    pub(crate) probe: ProbeSpec,
}

impl Module {
    /// The module's probe aimed at `target` (a URL, `host:port` for TCP, or
    /// for HTTP a bare `host:port` taken as `http://host:port`); the error
    /// says why the target does not fit.
    pub(crate) fn aim(&self, target: &str) -> Result<ProbeSpec, &'static str> {
        let mut spec = self.probe.clone();
        match &mut spec {
            ProbeSpec::Http(h) => {
                let url = if target.contains("://") {
                    target.to_string()
                } else {
                    format!("http://{target}")
                };
                match url.parse::<Uri>() {
                    Ok(u)
                        if matches!(u.scheme_str(), Some("http") | Some("https"))
                            && u.host().is_some() =>
                    {
                        // As for services: credentials come from the module,
                        // never from a URL that ends up in logs and labels.
                        if u.authority().is_some_and(|a| a.as_str().contains('@')) {
                            return Err("Target must not carry credentials (user:password@)");
                        }
                        h.url = u
                    }
                    _ => return Err("Target is not an http(s) URL"),
                }
            }
            ProbeSpec::Tcp(t) => {
                let (host, port) = split_host_port(target).ok_or("Target is not host:port")?;
                t.host = host;
                t.port = port;
            }
        }
        Ok(spec)
    }
}

impl Validator<'_> {
    pub(super) fn module(&mut self, m: RawModule, field: &str) -> Option<Module> {
        let timeout = match &m.timeout {
            Some(s) => self.positive(s, &format!("{field}.timeout")),
            None => Some(DEFAULT_TIMEOUT),
        };
        let mut ok = true;
        for (i, e) in m.allowed_targets.iter().enumerate() {
            let one = AllowedTargets {
                entries: vec![e.value.clone()],
                allow_link_local: false,
            };
            if let Err(err) = TargetPolicy::new(&one) {
                self.problem(e, &format!("{field}.allowed_targets[{i}]"), err.to_string());
                ok = false;
            }
        }
        let allowed = AllowedTargets {
            entries: m.allowed_targets.iter().map(|e| e.value.clone()).collect(),
            allow_link_local: m.allow_link_local,
        };
        // Checked whole too: the probe compiles the list as one set.
        ok &= TargetPolicy::new(&allowed).is_ok();
        let policy = Arc::new(allowed);
        let probe = match (m.http, m.tcp) {
            (Some(h), None) => self.http(h, &format!("{field}.http"), true).map(|mut h| {
                h.policy = Some(policy);
                ProbeSpec::Http(Box::new(h))
            }),
            (None, Some(t)) => self.tcp(t, &format!("{field}.tcp"), true).map(|mut t| {
                t.policy = Some(policy);
                ProbeSpec::Tcp(t)
            }),
            _ => {
                self.problem(&m.name, field, "needs exactly one of `http` or `tcp`");
                None
            }
        };
        if !ok {
            return None;
        }
        Some(Module {
            name: m.name.value,
            timeout: timeout?,
            probe: probe?,
        })
    }
}
