//! The validator: collects every problem while turning the raw structs
//! into typed values, so an operator fixes a broken file in one pass.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::duration::parse_duration;
use super::errors::{one_line, ConfigError, Problem};

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
}
