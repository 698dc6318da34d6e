//! The configuration file: raw serde structs, validated once into typed values.
//!
//! [`load`] reads `exporter.yaml`, deserializes it into the `Raw*` structs
//! (every one `deny_unknown_fields`) and then validates every field, collecting
//! *all* problems at once. Each [`Problem`] names the file, line, column and
//! field, so an operator fixes a broken file in one pass. The rest of the
//! program only sees [`Config`]: durations, compiled regexes, parsed URIs and
//! secrets already read from their files.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::Uri;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::hash::Fingerprint;
use crate::logs::config::{validate_logs, LogSource, RawLog};
use crate::net::policy::{AllowedTargets, TargetPolicy};
use crate::net::tls;

/// Default probe interval when neither the service nor `defaults:` sets one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// Default probe timeout when neither the service nor `defaults:` sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on the bytes of an HTTP body the prober reads.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1 << 20;
/// Largest `max_body_bytes` accepted: a probe with body regexes buffers up to
/// this, so memory is bounded by in-flight probes times this.
pub const MAX_BODY_BYTES_LIMIT: u64 = 16 << 20;

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    /// Services probed on a schedule, in file order, names unique.
    pub services: Vec<Service>,
    /// Log files followed and counted.
    pub logs: Vec<LogSource>,
    /// `/probe` modules, by name.
    pub modules: Vec<Module>,
    /// Sources of discovered services.
    pub service_files: Vec<ServiceFiles>,
}

/// A `/probe` module: how to probe a target given in the request.
#[derive(Debug, Clone)]
pub struct Module {
    /// The `module=` parameter.
    pub name: String,
    /// Upper bound on a probe (a shorter scrape timeout wins).
    pub timeout: Duration,
    /// Probe settings (with the allowlist); the URL or address comes from `target=`.
    pub probe: ProbeSpec,
}

impl Module {
    /// The module's probe aimed at `target` (a URL, `host:port` for TCP, or
    /// for HTTP a bare `host:port` taken as `http://host:port`); the error
    /// says why the target does not fit.
    pub fn aim(&self, target: &str) -> Result<ProbeSpec, &'static str> {
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

/// A `service_files:` entry: Prometheus file_sd lists whose targets become
/// scheduled services, probed with a module's settings.
#[derive(Debug, Clone)]
pub struct ServiceFiles {
    /// Absolute globs of JSON or YAML file_sd files.
    pub paths: Vec<String>,
    /// How to probe each target.
    pub module: Module,
    /// Time between probes.
    pub interval: Duration,
}

/// One scheduled service.
#[derive(Debug, Clone)]
pub struct Service {
    /// Unique name; the value of the `microservice` label.
    pub name: String,
    /// Time between the starts of two probes.
    pub interval: Duration,
    /// Upper bound on one whole probe; always below `interval`.
    pub timeout: Duration,
    /// What to probe and how.
    pub probe: ProbeSpec,
    /// [`service_fingerprint`]: a reload restarts the service only when it changed.
    pub fingerprint: u64,
}

/// The kind of probe and its settings.
#[derive(Debug, Clone)]
pub enum ProbeSpec {
    /// An HTTP(S) request.
    Http(Box<HttpSpec>),
    /// A TCP connect, optionally with a TLS handshake.
    Tcp(TcpSpec),
}

impl ProbeSpec {
    /// `http` or `tcp`, as shown on the status page.
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeSpec::Http(_) => "http",
            ProbeSpec::Tcp(_) => "tcp",
        }
    }

    /// The URL or address probed, for humans (never carries credentials).
    pub fn target(&self) -> String {
        match self {
            ProbeSpec::Http(h) => h.url.to_string(),
            ProbeSpec::Tcp(t) => format!("{}:{}", t.host, t.port),
        }
    }

    /// Identifies every validated setting, including the secrets and the
    /// bytes of every file they were read from: a reload restarts what runs
    /// with this spec exactly when it would probe differently.
    pub fn fingerprint(&self) -> u64 {
        let mut fp = Fingerprint::default();
        match self {
            ProbeSpec::Http(h) => {
                fp.add("http").add(h.url.to_string()).add(h.method.as_str());
                fp.add(h.headers.len().to_le_bytes());
                for (name, value) in &h.headers {
                    fp.add(name.as_str()).add(value.expose());
                }
                fp.option(h.body.as_deref());
                fp.add(h.valid_status_codes.len().to_le_bytes());
                for c in &h.valid_status_codes {
                    fp.add(c.to_le_bytes());
                }
                for list in [&h.fail_if_body_matches, &h.fail_if_body_not_matches] {
                    fp.add(list.len().to_le_bytes());
                    for r in list {
                        fp.add(r.as_str());
                    }
                }
                fp.add([u8::from(h.follow_redirects)])
                    .add(h.tls.fingerprint.to_le_bytes());
                fp.option(h.server_name.as_deref());
                fp.option(h.authorization.as_ref().map(Secret::expose));
                fp.add(h.max_body_bytes.to_le_bytes());
                allowed_fingerprint(&mut fp, h.policy.as_deref());
            }
            ProbeSpec::Tcp(t) => {
                fp.add("tcp").add(&t.host).add(t.port.to_le_bytes());
                fp.option(t.tls.as_ref().map(|t| t.fingerprint.to_le_bytes()));
                fp.option(t.server_name.as_deref());
                allowed_fingerprint(&mut fp, t.policy.as_deref());
            }
        }
        fp.finish()
    }
}

fn allowed_fingerprint(fp: &mut Fingerprint, allowed: Option<&AllowedTargets>) {
    let Some(a) = allowed else {
        fp.add([0]);
        return;
    };
    fp.add([1, u8::from(a.allow_link_local)])
        .add(a.entries.len().to_le_bytes());
    for e in &a.entries {
        fp.add(e);
    }
}

/// The fingerprint of a scheduled service (static or from file_sd): what a
/// reload compares to decide whether to restart it.
pub fn service_fingerprint(interval: Duration, timeout: Duration, probe: &ProbeSpec) -> u64 {
    let mut fp = Fingerprint::default();
    fp.duration(interval)
        .duration(timeout)
        .add(probe.fingerprint().to_le_bytes());
    fp.finish()
}

/// A secret value read from a file or the environment. Its `Debug` and
/// `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself; call only where it is put on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// Validated HTTP probe settings.
#[derive(Debug, Clone)]
pub struct HttpSpec {
    /// Absolute `http` or `https` URI.
    pub url: Uri,
    /// Request method.
    pub method: hyper::Method,
    /// Extra request headers; values may come from `${ENV}` and are secret.
    pub headers: Vec<(hyper::header::HeaderName, Secret)>,
    /// Request body.
    pub body: Option<String>,
    /// Accepted status codes; empty means any 2xx.
    pub valid_status_codes: Vec<u16>,
    /// The probe fails if the body matches any of these.
    pub fail_if_body_matches: Vec<regex::bytes::Regex>,
    /// The probe fails if the body does not match each of these.
    pub fail_if_body_not_matches: Vec<regex::bytes::Regex>,
    /// Follow 3xx answers with a `Location` (at most 10 hops).
    pub follow_redirects: bool,
    /// TLS client settings for https.
    pub tls: TlsSpec,
    /// Server name for SNI and verification, when not the URL's host.
    pub server_name: Option<String>,
    /// Value of the `Authorization` header, from basic auth or a bearer token.
    pub authorization: Option<Secret>,
    /// Bytes of body read at most; more is a `body` failure.
    pub max_body_bytes: u64,
    /// For `/probe`: which resolved addresses may be contacted (every hop).
    pub(crate) policy: Option<Arc<AllowedTargets>>,
}

/// Validated TCP probe settings.
#[derive(Debug, Clone)]
pub struct TcpSpec {
    /// Host name or IP literal.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS handshake after connecting, when set.
    pub tls: Option<TlsSpec>,
    /// Server name for SNI and verification, when not `host`.
    pub server_name: Option<String>,
    /// For `/probe`: which resolved addresses may be contacted.
    pub(crate) policy: Option<Arc<AllowedTargets>>,
}

/// Validated TLS client settings; the prober builds its client config
/// from them.
#[derive(Debug, Clone)]
pub struct TlsSpec {
    /// Roots from `ca_file`; `None` trusts the Mozilla roots.
    pub ca: Option<Arc<rustls::RootCertStore>>,
    /// Accept any certificate (still recorded for expiry).
    pub insecure_skip_verify: bool,
    /// Identifies these settings: the CA file's bytes and `insecure_skip_verify`.
    pub fingerprint: u64,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (or is not a regular file, or too big).
    #[error("{path}: {source}")]
    Read {
        /// The config file.
        path: String,
        /// Why.
        source: crate::fsread::ReadError,
    },
    /// The file is not valid YAML or does not fit the schema.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The config file.
        path: String,
        /// 1-based line, 0 when unknown.
        line: u64,
        /// 1-based column, 0 when unknown.
        column: u64,
        /// The parser's message.
        message: String,
    },
    /// The file parsed but some values are invalid; one entry per problem.
    #[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

/// One invalid value: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The config file.
    pub file: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// Dotted path of the field, e.g. `services[1].http.url`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.field, self.message
        )
    }
}

// === raw serde structs ===

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    services: Vec<RawService>,
    #[serde(default)]
    logs: Vec<RawLog>,
    #[serde(default)]
    modules: Vec<RawModule>,
    #[serde(default)]
    service_files: Vec<RawServiceFiles>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServiceFiles {
    files: Spanned<Vec<Spanned<String>>>,
    module: Spanned<String>,
    interval: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    name: Spanned<String>,
    timeout: Option<Spanned<String>>,
    http: Option<RawHttp>,
    tcp: Option<RawTcp>,
    #[serde(default)]
    allowed_targets: Vec<Spanned<String>>,
    #[serde(default)]
    allow_link_local: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    http: Option<RawHttp>,
    tcp: Option<RawTcp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    url: Option<Spanned<String>>,
    method: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    body: Option<String>,
    #[serde(default)]
    valid_status_codes: Vec<Spanned<u16>>,
    #[serde(default)]
    fail_if_body_matches: Vec<Spanned<String>>,
    #[serde(default)]
    fail_if_body_not_matches: Vec<Spanned<String>>,
    follow_redirects: Option<bool>,
    tls: Option<RawTls>,
    basic_auth: Option<RawBasicAuth>,
    bearer_token_file: Option<Spanned<String>>,
    max_body_bytes: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTcp {
    address: Option<Spanned<String>>,
    tls: Option<RawTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca_file: Option<Spanned<String>>,
    #[serde(default)]
    insecure_skip_verify: bool,
    server_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasicAuth {
    username: Spanned<String>,
    password_file: Spanned<String>,
}

// === loading ===

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
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
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
    let base = path.parent().unwrap_or(Path::new("."));
    let mut v = Validator {
        file: shown,
        base,
        problems: Vec::new(),
    };
    let config = v.config(raw, path);
    if v.problems.is_empty() {
        Ok(config)
    } else {
        v.problems.sort_by_key(|p| (p.line, p.column));
        Err(ConfigError::Invalid {
            problems: v.problems,
        })
    }
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

/// saphyr's message repeats the location and appends a source snippet; we
/// print our own location, so keep only the message itself.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message);
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((_, rest)) => rest,
        None => line,
    }
    .trim_end_matches(", set DuplicateKeyPolicy in Options if acceptable")
    .to_string()
}

/// The YAML key at or just before `line:column`, to name the field of a
/// syntax error (saphyr reports positions, not paths).
fn field_at(text: &str, line: u64, column: u64) -> Option<String> {
    let src = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    // saphyr counts columns in characters; slicing needs a byte offset.
    let chars = usize::try_from(column).ok()?.saturating_sub(1);
    let col = src.char_indices().nth(chars).map_or(src.len(), |(i, _)| i);
    let is_key = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    // A key starting at the column, e.g. an unknown or duplicate key.
    let at = &src[col..];
    let key_len = at.find(|c: char| !is_key(c)).unwrap_or(at.len());
    if key_len > 0 && at[key_len..].starts_with(':') {
        return Some(at[..key_len].to_string());
    }
    // Otherwise the key whose value sits at the column.
    let before = src[..col].trim_end().strip_suffix(':')?;
    let start = before
        .char_indices()
        .rev()
        .find(|&(_, c)| !is_key(c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    (start < before.len()).then(|| before[start..].to_string())
}

/// Collects problems while turning raw structs into typed values.
pub(crate) struct Validator<'a> {
    file: String,
    base: &'a Path,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    /// Records a problem at the location of `at`.
    pub(crate) fn problem<T>(&mut self, at: &Spanned<T>, field: &str, message: impl Into<String>) {
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
    pub(crate) fn unique_name(
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
    pub(crate) fn choice<T: Copy>(
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
    pub(crate) fn resolve_path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// Parses a duration at `at`, recording a problem when invalid.
    pub(crate) fn duration(&mut self, at: &Spanned<String>, field: &str) -> Option<Duration> {
        match parse_duration(&at.value) {
            Ok(d) => Some(d),
            Err(msg) => {
                self.problem(at, field, msg);
                None
            }
        }
    }

    fn bytes_regex(&mut self, at: &Spanned<String>, field: &str) -> Option<regex::bytes::Regex> {
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

    /// Reads a secret file at `at`; the message names the file, never its content.
    fn secret_file(&mut self, at: &Spanned<String>, field: &str) -> Option<Secret> {
        let path = self.resolve_path(&at.value);
        match crate::fsread::read_bounded_string(&path, crate::fsread::SECRET_MAX_BYTES) {
            Ok(s) => Some(Secret(s.trim_end_matches(['\n', '\r']).to_string())),
            Err(e) => {
                self.problem(at, field, format!("{}: {e}", path.display()));
                None
            }
        }
    }

    /// Expands `${VAR}` references from the environment.
    fn expand_env(&mut self, at: &Spanned<String>, field: &str) -> Option<Secret> {
        match expand_env(&at.value) {
            Ok(s) => Some(Secret(s)),
            Err(msg) => {
                self.problem(at, field, msg);
                None
            }
        }
    }

    fn config(&mut self, raw: RawConfig, path: &Path) -> Config {
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
            path: path.to_path_buf(),
            services,
            logs,
            modules,
            service_files,
        }
    }

    fn positive(&mut self, at: &Spanned<String>, field: &str) -> Option<Duration> {
        let d = self.duration(at, field)?;
        if d.is_zero() {
            self.problem(at, field, "must be greater than 0s");
            return None;
        }
        Some(d)
    }

    fn service(
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

    fn url(&mut self, at: &Spanned<String>, field: &str) -> Option<Uri> {
        match at.value.parse::<Uri>() {
            Ok(u)
                if matches!(u.scheme_str(), Some("http") | Some("https")) && u.host().is_some() =>
            {
                if u.authority().is_some_and(|a| a.as_str().contains('@')) {
                    let msg =
                        "credentials in the URL are not allowed; use basic_auth.password_file";
                    self.problem(at, &format!("{field}.url"), msg);
                    None
                } else {
                    Some(u)
                }
            }
            Ok(_) => {
                let msg = format!(
                    "{:?} is not an absolute http:// or https:// URL",
                    redact_userinfo(&at.value)
                );
                self.problem(at, &format!("{field}.url"), msg);
                None
            }
            Err(e) => {
                let msg = format!("invalid URL {:?}: {e}", redact_userinfo(&at.value));
                self.problem(at, &format!("{field}.url"), msg);
                None
            }
        }
    }

    /// The TLS client settings, their fingerprint including the CA bytes.
    fn tls(&mut self, raw: Option<&RawTls>, field: &str) -> Option<TlsSpec> {
        let default = RawTls::default();
        let raw = raw.unwrap_or(&default);
        let mut fp = Fingerprint::default();
        fp.add([u8::from(raw.insecure_skip_verify)]);
        let ca = match &raw.ca_file {
            Some(at) => {
                let path = self.resolve_path(&at.value);
                let loaded = crate::fsread::read_bounded(&path, crate::fsread::PEM_MAX_BYTES)
                    .map_err(|e| format!("{}: {e}", path.display()))
                    .and_then(|pem| {
                        fp.add(&pem);
                        tls::parse_ca(&path, &pem).map_err(|e| e.to_string())
                    });
                match loaded {
                    Ok(ca) => Some(Arc::new(ca)),
                    Err(msg) => {
                        self.problem(at, &format!("{field}.ca_file"), msg);
                        return None;
                    }
                }
            }
            None => None,
        };
        Some(TlsSpec {
            ca,
            insecure_skip_verify: raw.insecure_skip_verify,
            fingerprint: fp.finish(),
        })
    }

    fn http(&mut self, h: RawHttp, field: &str, module: bool) -> Option<HttpSpec> {
        let url = match (&h.url, module) {
            (Some(at), true) => {
                self.problem(
                    at,
                    &format!("{field}.url"),
                    "a module takes its URL from `target=`; remove `url`",
                );
                None
            }
            // Replaced by the target of each /probe request.
            (None, true) => Some(Uri::from_static("http://target.invalid/")),
            (None, false) => None,
            (Some(at), false) => self.url(at, field),
        };
        let method = match &h.method {
            Some(m) => match hyper::Method::from_bytes(m.value.to_ascii_uppercase().as_bytes()) {
                Ok(m) => Some(m),
                Err(_) => {
                    self.problem(
                        m,
                        &format!("{field}.method"),
                        format!("invalid method {:?}", m.value),
                    );
                    None
                }
            },
            None => Some(hyper::Method::GET),
        };
        let mut headers = Vec::new();
        for (name, value) in &h.headers {
            let f = format!("{field}.headers.{name}");
            let Ok(hn) = hyper::header::HeaderName::from_bytes(name.as_bytes()) else {
                self.problem(value, &f, format!("invalid header name {name:?}"));
                continue;
            };
            if let Some(v) = self.expand_env(value, &f) {
                if hyper::header::HeaderValue::from_str(v.expose()).is_err() {
                    self.problem(value, &f, "header value contains invalid characters");
                } else {
                    headers.push((hn, v));
                }
            }
        }
        let mut valid_status_codes = Vec::new();
        for (i, c) in h.valid_status_codes.iter().enumerate() {
            if !(100..=599).contains(&c.value) {
                let msg = format!("{} is not an HTTP status code (100-599)", c.value);
                self.problem(c, &format!("{field}.valid_status_codes[{i}]"), msg);
            } else {
                valid_status_codes.push(c.value);
            }
        }
        let mut fail_if_body_matches = Vec::new();
        for (i, r) in h.fail_if_body_matches.iter().enumerate() {
            if let Some(r) = self.bytes_regex(r, &format!("{field}.fail_if_body_matches[{i}]")) {
                fail_if_body_matches.push(r);
            }
        }
        let mut fail_if_body_not_matches = Vec::new();
        for (i, r) in h.fail_if_body_not_matches.iter().enumerate() {
            if let Some(r) = self.bytes_regex(r, &format!("{field}.fail_if_body_not_matches[{i}]"))
            {
                fail_if_body_not_matches.push(r);
            }
        }
        let authorization = match (&h.basic_auth, &h.bearer_token_file) {
            (Some(_), Some(at)) => {
                let msg = "set either basic_auth or bearer_token_file, not both";
                self.problem(at, &format!("{field}.bearer_token_file"), msg);
                None
            }
            (Some(ba), None) => {
                let user = self.expand_env(&ba.username, &format!("{field}.basic_auth.username"));
                let pass = self.secret_file(
                    &ba.password_file,
                    &format!("{field}.basic_auth.password_file"),
                );
                match (user, pass) {
                    (Some(u), Some(p)) => Some(Secret(format!(
                        "Basic {}",
                        crate::base64::encode(format!("{}:{}", u.expose(), p.expose()).as_bytes())
                    ))),
                    _ => None,
                }
            }
            (None, Some(at)) => self
                .secret_file(at, &format!("{field}.bearer_token_file"))
                .map(|t| Secret(format!("Bearer {}", t.expose()))),
            (None, None) => None,
        };
        let max_body_bytes = match &h.max_body_bytes {
            Some(m) if !(1..=MAX_BODY_BYTES_LIMIT).contains(&m.value) => {
                self.problem(
                    m,
                    &format!("{field}.max_body_bytes"),
                    format!("must be between 1 and {MAX_BODY_BYTES_LIMIT} (16 MiB)"),
                );
                DEFAULT_MAX_BODY_BYTES
            }
            Some(m) => m.value,
            None => DEFAULT_MAX_BODY_BYTES,
        };
        let server_name = h.tls.as_ref().and_then(|t| t.server_name.clone());
        let tls = self.tls(h.tls.as_ref(), &format!("{field}.tls"));
        Some(HttpSpec {
            url: url?,
            method: method?,
            headers,
            body: h.body,
            valid_status_codes,
            fail_if_body_matches,
            fail_if_body_not_matches,
            follow_redirects: h.follow_redirects.unwrap_or(true),
            tls: tls?,
            server_name,
            authorization,
            max_body_bytes,
            policy: None,
        })
    }

    fn tcp(&mut self, t: RawTcp, field: &str, module: bool) -> Option<TcpSpec> {
        let addr = match (&t.address, module) {
            (Some(at), true) => {
                let msg = "a module takes its address from `target=`; remove `address`";
                self.problem(at, &format!("{field}.address"), msg);
                None
            }
            (None, true) => Some(("target.invalid".to_string(), 1)),
            (None, false) => None,
            (Some(at), false) => match split_host_port(&at.value) {
                Some(hp) => Some(hp),
                None => {
                    let msg = format!("{:?} is not host:port", redact_userinfo(&at.value));
                    self.problem(at, &format!("{field}.address"), msg);
                    None
                }
            },
        };
        let tls = match &t.tls {
            Some(raw) => Some(self.tls(Some(raw), &format!("{field}.tls"))?),
            None => None,
        };
        let (host, port) = addr?;
        Some(TcpSpec {
            host,
            port,
            tls,
            server_name: t.tls.and_then(|t| t.server_name),
            policy: None,
        })
    }

    fn module(&mut self, m: RawModule, field: &str) -> Option<Module> {
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
        let policy = Some(Arc::new(allowed));
        let probe = match (m.http, m.tcp) {
            (Some(h), None) => self.http(h, &format!("{field}.http"), true).map(|mut h| {
                h.policy = policy.clone();
                ProbeSpec::Http(Box::new(h))
            }),
            (None, Some(t)) => self.tcp(t, &format!("{field}.tcp"), true).map(|mut t| {
                t.policy = policy.clone();
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

/// Splits `host:port` or `[v6]:port`.
pub(crate) fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    // No host name or address holds these; `user:pw@host` would be
    // quoted as the host in every error and as the service name.
    if host.is_empty()
        || port == 0
        || host.contains(['@', '/', '?', '#'])
        || host.contains(char::is_whitespace)
    {
        return None;
    }
    Some((host.to_string(), port))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses a Prometheus-style duration: `500ms`, `15s`, `1m30s`, `2h`, `1d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?} (use e.g. 500ms, 15s, 1m30s)");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86400),
            _ => return Err(bad()),
        };
        total = u32::try_from(n)
            .ok()
            .and_then(|n| unit.checked_mul(n))
            .and_then(|d| total.checked_add(d))
            .ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Formats a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 {
        format!("{ms}ms")
    } else {
        format!("{}s", ms / 1000)
    }
}

/// `s` with the userinfo of its authority (`user:password@`) replaced by
/// `<redacted>@`: URLs and targets are quoted in errors and logs, and a
/// URL refused for carrying credentials must not print them.
pub(crate) fn redact_userinfo(s: &str) -> String {
    let start = s.find("://").map_or(0, |i| i + 3);
    let end = s[start..]
        .find(['/', '?', '#'])
        .map_or(s.len(), |i| start + i);
    match s[start..end].rfind('@') {
        Some(at) => format!("{}<redacted>{}", &s[..start], &s[start + at..]),
        None => s.to_string(),
    }
}

/// Replaces each `${VAR}` with the environment variable's value.
fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unterminated ${ reference".to_string())?;
        let name = &after[..end];
        match std::env::var(name) {
            Ok(v) => out.push_str(&v),
            Err(_) => return Err(format!("environment variable {name:?} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted() {
        for (s, want) in [
            ("http://u:pw@h:1/p?q@x", "http://<redacted>@h:1/p?q@x"),
            ("ftp://u:p@w@h/", "ftp://<redacted>@h/"),
            ("u:pw@h:80", "<redacted>@h:80"),
            ("http://h/a@b", "http://h/a@b"),
            ("h:80", "h:80"),
            ("", ""),
            ("://@", "://<redacted>@"),
        ] {
            assert_eq!(redact_userinfo(s), want, "{s}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
    }

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("127.0.0.1:80"),
            Some(("127.0.0.1".into(), 80))
        );
        assert_eq!(split_host_port("[::1]:443"), Some(("::1".into(), 443)));
        assert_eq!(split_host_port("nohost"), None);
        assert_eq!(split_host_port(":80"), None);
        for bad in ["u:pw@h:80", "h/x:80", "h x:80", "h?:80", "h#:80", "\th:80"] {
            assert_eq!(split_host_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn env_expansion() {
        std::env::set_var("VITALS_TEST_TOKEN", "abc");
        assert_eq!(
            expand_env("Bearer ${VITALS_TEST_TOKEN}!"),
            Ok("Bearer abc!".into())
        );
        assert!(expand_env("${VITALS_TEST_UNSET_VAR}").is_err());
        assert!(expand_env("${OPEN").is_err());
    }

    #[test]
    fn syntax_errors_after_non_ascii_text_name_their_field() {
        let err = |text: &str| match parse(text, Path::new("x.yaml")) {
            Err(ConfigError::Syntax {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("{other:?}"),
        };
        let (line, column, message) = err("services:\n  - name: \"ééé\"\n    bogus: 1\n");
        assert_eq!((line, column), (3, 5));
        assert!(
            message.starts_with("bogus: unknown field `bogus`"),
            "{message}"
        );
        let (_, _, message) = err("services:\n  - name: ééé\n    →timeout: 1\n");
        assert!(!message.is_empty());
        // The key sits after two-byte characters on its own line.
        let (line, column, message) = err("services: [{name: \"ééé\", bogus: 1}]\n");
        assert_eq!((line, column), (1, 26));
        assert!(
            message.starts_with("bogus: unknown field `bogus`"),
            "{message}"
        );
        let (_, _, message) = err("défauts: 1\n");
        assert!(message.starts_with("défauts: unknown field"), "{message}");
    }

    /// A service whose password and CA file are `pw` and `ca.pem` in `dir`,
    /// after `blank` empty lines.
    fn fingerprint_of(dir: &Path, blank: usize) -> u64 {
        let text = format!(
            "{}services:\n  - name: s\n    http:\n      url: https://127.0.0.1/\n      basic_auth: {{username: u, password_file: pw}}\n      tls: {{ca_file: ca.pem}}\n",
            "\n".repeat(blank)
        );
        let c = parse(&text, &dir.join("exporter.yaml")).unwrap();
        c.services[0].fingerprint
    }

    #[test]
    fn fingerprints_follow_file_contents_not_locations() {
        let dir = tempfile::tempdir().unwrap();
        let ca = |name: &str| {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec![name.to_string()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            cert.pem()
        };
        std::fs::write(dir.path().join("pw"), "one\n").unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca("a")).unwrap();
        let first = fingerprint_of(dir.path(), 0);
        assert_eq!(fingerprint_of(dir.path(), 3), first, "moved, not changed");
        std::fs::write(dir.path().join("pw"), "two\n").unwrap();
        let second = fingerprint_of(dir.path(), 0);
        assert_ne!(second, first, "password changed");
        std::fs::write(dir.path().join("ca.pem"), ca("b")).unwrap();
        assert_ne!(fingerprint_of(dir.path(), 0), second, "CA bundle changed");
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret("hunter2".into())), "<secret>");
    }

    mod prop {
        use super::super::{parse, parse_duration};
        use proptest::prelude::*;
        use std::path::Path;

        /// Pieces of the schema and of YAML syntax, so that random
        /// documents reach validation, not only the tokenizer.
        const TOKENS: &[&str] = &[
            "services:",
            "modules:",
            "service_files:",
            "logs:",
            "defaults:",
            "\n",
            "  ",
            "    ",
            "- ",
            "name: ",
            "x",
            "y",
            "http:",
            "tcp:",
            "url: ",
            "http://127.0.0.1/",
            "https://[::1]:1/",
            "address: ",
            "127.0.0.1:80",
            "interval: ",
            "timeout: ",
            "15s",
            "1m",
            "0s",
            "99999999999d",
            "method: ",
            "headers: ",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "'",
            "&a ",
            "*a",
            "<<: ",
            "!!str ",
            "? ",
            "|",
            ">",
            "#",
            "\t",
            "é",
            "~",
            "valid_status_codes: ",
            "-1",
            "1e309",
            "allowed_targets: ",
            "10.0.0.0/99",
            "*.x",
            "files: ",
            "module: ",
            "paths: ",
            "${",
            "}",
            "max_body_bytes: ",
            "0",
            "fail_if_body_matches: ",
            "(",
            "basic_auth: ",
            "tls: ",
            "insecure_skip_verify: ",
        ];

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = parse(&String::from_utf8_lossy(&bytes), Path::new("/nonexistent/x.yaml"));
            }

            #[test]
            fn any_token_soup_never_panics(tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..96)) {
                let _ = parse(&tokens.concat(), Path::new("/nonexistent/x.yaml"));
            }

            #[test]
            fn durations_never_panic(s in proptest::collection::vec(proptest::sample::select(&["1", "0", "99999999999", "ms", "s", "m", "h", "d", "x", ""][..]), 0..12)) {
                let _ = parse_duration(&s.concat());
            }
        }
    }
}
