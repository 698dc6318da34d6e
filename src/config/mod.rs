//! The configuration file: raw serde structs, validated once into typed values.
//!
//! [`load`] reads `exporter.yaml`, deserializes it into the `Raw*` structs
//! (every one `deny_unknown_fields`) and then validates every field, collecting
//! *all* problems at once. Each [`Problem`] names the file, line, column and
//! field, so an operator fixes a broken file in one pass. The rest of the
//! program only sees [`Config`]: plain data (durations, compiled regexes,
//! parsed URIs, CA roots, allowlist entries, secrets already read from their
//! files); the engines build clients and policies from it.
//!
//! One file per concern: `raw` (the serde structs), `validate` (the
//! validator and the top level), one per section (`services`, `modules`,
//! [`logs`], with a pattern's numbers in `log_values`), the probe settings (`probe`, `probe_fields`), and the value
//! kinds (`duration`, `secret`, `errors`). Only leaves are imported
//! (`hash`, `net`, `fsread`), never an engine.

mod duration;
mod errors;
pub(crate) mod log_format;
mod log_identity;
pub(crate) mod log_paths;
pub(crate) mod log_values;
pub mod logs;
mod modules;
mod probe;
mod probe_fields;
mod raw;
mod secret;
mod services;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

pub(crate) use duration::format_duration;
use errors::{field_at, first_line};
pub use errors::{ConfigError, Problem};
use logs::{validate_logs, LogSource};
pub use modules::Module;
pub(crate) use probe::redact_userinfo;
pub use probe::{HttpSpec, ProbeSpec, TcpSpec, TlsSpec};
use raw::RawConfig;
pub use secret::Secret;
pub(crate) use services::service_fingerprint;
pub use services::{Service, ServiceFiles};
use validate::Validator;

/// Default probe interval when neither the service nor `defaults:` sets one.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// Default probe timeout when neither the service nor `defaults:` sets one.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Services probed on a schedule, in file order, names unique.
    pub services: Vec<Service>,
    /// Log files followed and counted.
    pub logs: Vec<LogSource>,
    /// `/probe` modules, by name.
    pub(crate) modules: Vec<Module>,
    /// Sources of discovered services.
    pub(crate) service_files: Vec<ServiceFiles>,
}

/// Reads and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let text = crate::fsread::read_bounded_string(path, crate::fsread::DOCUMENT_MAX_BYTES)
        .map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
    parse(&text, path)
}

/// Validates configuration text; `path` names the file in messages and
/// anchors relative `*_file` paths.
pub(crate) fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let raw: RawConfig =
        serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            let message = first_line(&e.to_string());
            let message = match field_at(text, line, column) {
                Some(field) => format!("{field}: {message}"),
                None => message,
            };
            ConfigError::Syntax {
                path: shown.clone(),
                line,
                column,
                message,
            }
        })?;
    let mut v = Validator::new(shown, path.parent().unwrap_or(Path::new(".")));
    let config = validated(&mut v, raw);
    v.finish(config)
}

/// YAML nodes a configuration may hold. saphyr's default (250 000) refused
/// a file of some 27 000 services with "budget breached: Nodes { nodes:
/// 250001 }"; the file is read whole up to 16 MiB anyway, and these bounds
/// keep parsing such a file to a second and a few hundred MiB.
const MAX_YAML_NODES: usize = 4_000_000;

fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = MAX_YAML_NODES;
    budget.max_events = 2 * MAX_YAML_NODES;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// Every section, validated in the order of the file; each section's
/// rules live in its own file, this only joins them.
fn validated(v: &mut Validator<'_>, raw: RawConfig) -> Config {
    let default_interval = match &raw.defaults.interval {
        Some(s) => v
            .positive(s, "defaults.interval")
            .unwrap_or(DEFAULT_INTERVAL),
        None => DEFAULT_INTERVAL,
    };
    let default_timeout = match &raw.defaults.timeout {
        Some(s) => v.positive(s, "defaults.timeout").unwrap_or(DEFAULT_TIMEOUT),
        None => DEFAULT_TIMEOUT,
    };
    let mut seen = HashSet::new();
    let mut services = Vec::with_capacity(raw.services.len());
    for (i, rs) in raw.services.into_iter().enumerate() {
        let field = format!("services[{i}]");
        v.unique_name(&mut seen, &rs.name, &field, "service");
        if let Some(s) = v.service(rs, &field, default_interval, default_timeout) {
            services.push(s);
        }
    }
    let logs = validate_logs(v, raw.logs, &seen);
    let mut module_names = HashSet::new();
    let mut modules = Vec::new();
    for (i, rm) in raw.modules.into_iter().enumerate() {
        let field = format!("modules[{i}]");
        v.unique_name(&mut module_names, &rm.name, &field, "module");
        if let Some(m) = v.module(rm, &field) {
            modules.push(m);
        }
    }
    let mut service_files = Vec::new();
    for (i, rf) in raw.service_files.into_iter().enumerate() {
        let field = format!("service_files[{i}]");
        let Some(module) = modules.iter().find(|m| m.name == rf.module.value).cloned() else {
            let msg = format!("no module named {:?} in `modules:`", rf.module.value);
            v.problem(&rf.module, &format!("{field}.module"), msg);
            continue;
        };
        if rf.files.value.is_empty() {
            v.problem(
                &rf.files,
                &format!("{field}.files"),
                "needs at least one path",
            );
        }
        let interval = match &rf.interval {
            Some(s) => v.positive(s, &format!("{field}.interval")),
            None => Some(default_interval),
        };
        let Some(interval) = interval else { continue };
        if module.timeout >= interval {
            let msg = format!(
                "module {:?} has timeout {}, not below the interval {}",
                module.name,
                format_duration(module.timeout),
                format_duration(interval)
            );
            v.problem(&rf.module, &format!("{field}.module"), msg);
            continue;
        }
        let paths = rf
            .files
            .value
            .iter()
            .map(|p| v.resolve_path(&p.value).to_string_lossy().into_owned())
            .collect();
        service_files.push(ServiceFiles {
            paths,
            module,
            interval,
        });
    }
    Config {
        services,
        logs,
        modules,
        service_files,
    }
}
