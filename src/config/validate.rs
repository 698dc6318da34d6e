//! The validator: collects every problem while turning the raw structs
//! into typed values, so an operator fixes a broken file in one pass.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::duration::{format_duration, parse_duration};
use super::errors::{one_line, ConfigError, Problem};
use super::logs::validate_logs;
use super::raw::RawConfig;
use super::{Config, ServiceFiles, DEFAULT_INTERVAL, DEFAULT_TIMEOUT};

/// Collects problems while turning raw structs into typed values.
pub(super) struct Validator<'a> {
    file: String,
    base: &'a Path,
    problems: Vec<Problem>,
}

impl<'a> Validator<'a> {
    /// `file` names the file in problems; relative paths resolve against `base`.
    pub(super) fn new(file: String, base: &'a Path) -> Self {
        Validator {
            file,
            base,
            problems: Vec::new(),
        }
    }

    /// `value` when no problem was found, else every problem in file order.
    pub(super) fn finish<T>(mut self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            self.problems.sort_by_key(|p| (p.line, p.column));
            Err(ConfigError::Invalid {
                problems: self.problems,
            })
        }
    }

    /// Records a problem at the location of `at`.
    pub(super) fn problem<T>(&mut self, at: &Spanned<T>, field: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.clone(),
            line: at.referenced.line(),
            column: at.referenced.column(),
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// Checks that the name at `at` is not empty and not already in
    /// `names` (then adds it); `what` names the kind in the message.
    pub(super) fn unique_name(
        &mut self,
        names: &mut HashSet<String>,
        at: &Spanned<String>,
        field: &str,
        what: &str,
    ) -> bool {
        let field = format!("{field}.name");
        if at.value.is_empty() {
            self.problem(at, &field, "must not be empty");
            false
        } else if !names.insert(at.value.clone()) {
            self.problem(at, &field, format!("duplicate {what} name {:?}", at.value));
            false
        } else {
            true
        }
    }

    /// One of `options` (value, result) for the keyword at `at`; the first
    /// option when the key is absent, `None` (a problem) when unknown.
    pub(super) fn choice<T: Copy>(
        &mut self,
        at: Option<&Spanned<String>>,
        field: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let Some(at) = at else {
            return Some(options[0].1);
        };
        if let Some((_, t)) = options.iter().find(|(k, _)| *k == at.value) {
            return Some(*t);
        }
        let names: Vec<String> = options.iter().map(|(k, _)| format!("`{k}`")).collect();
        let msg = format!("must be {}, not {:?}", names.join(" or "), at.value);
        self.problem(at, field, msg);
        None
    }

    /// Resolves a path from the config relative to the config's directory.
    pub(super) fn resolve_path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// Parses a duration at `at`, recording a problem when invalid.
    pub(super) fn duration(&mut self, at: &Spanned<String>, field: &str) -> Option<Duration> {
        match parse_duration(&at.value) {
            Ok(d) => Some(d),
            Err(msg) => {
                self.problem(at, field, msg);
                None
            }
        }
    }

    pub(super) fn bytes_regex(
        &mut self,
        at: &Spanned<String>,
        field: &str,
    ) -> Option<regex::bytes::Regex> {
        match regex::bytes::Regex::new(&at.value) {
            Ok(r) => Some(r),
            Err(e) => {
                self.problem(
                    at,
                    field,
                    format!("invalid regex: {}", one_line(&e.to_string())),
                );
                None
            }
        }
    }

    pub(super) fn positive(&mut self, at: &Spanned<String>, field: &str) -> Option<Duration> {
        let d = self.duration(at, field)?;
        if d.is_zero() {
            self.problem(at, field, "must be greater than 0s");
            return None;
        }
        Some(d)
    }

    pub(super) fn config(&mut self, raw: RawConfig) -> Config {
        let default_interval = match &raw.defaults.interval {
            Some(s) => self
                .positive(s, "defaults.interval")
                .unwrap_or(DEFAULT_INTERVAL),
            None => DEFAULT_INTERVAL,
        };
        let default_timeout = match &raw.defaults.timeout {
            Some(s) => self
                .positive(s, "defaults.timeout")
                .unwrap_or(DEFAULT_TIMEOUT),
            None => DEFAULT_TIMEOUT,
        };
        let mut seen = HashSet::new();
        let mut services = Vec::with_capacity(raw.services.len());
        for (i, rs) in raw.services.into_iter().enumerate() {
            let field = format!("services[{i}]");
            self.unique_name(&mut seen, &rs.name, &field, "service");
            if let Some(s) = self.service(rs, &field, default_interval, default_timeout) {
                services.push(s);
            }
        }
        let logs = validate_logs(self, raw.logs, &seen);
        let mut module_names = HashSet::new();
        let mut modules = Vec::new();
        for (i, rm) in raw.modules.into_iter().enumerate() {
            let field = format!("modules[{i}]");
            self.unique_name(&mut module_names, &rm.name, &field, "module");
            if let Some(m) = self.module(rm, &field) {
                modules.push(m);
            }
        }
        let mut service_files = Vec::new();
        for (i, rf) in raw.service_files.into_iter().enumerate() {
            let field = format!("service_files[{i}]");
            let Some(module) = modules.iter().find(|m| m.name == rf.module.value).cloned() else {
                let msg = format!("no module named {:?} in `modules:`", rf.module.value);
                self.problem(&rf.module, &format!("{field}.module"), msg);
                continue;
            };
            if rf.files.value.is_empty() {
                self.problem(
                    &rf.files,
                    &format!("{field}.files"),
                    "needs at least one path",
                );
            }
            let interval = match &rf.interval {
                Some(s) => self.positive(s, &format!("{field}.interval")),
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
                self.problem(&rf.module, &format!("{field}.module"), msg);
                continue;
            }
            let paths = rf
                .files
                .value
                .iter()
                .map(|p| self.resolve_path(&p.value).to_string_lossy().into_owned())
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
}
