//! The `logs:` section: its validation into [`LogSource`]s (the serde
//! structs are in `raw`).

use std::collections::HashSet;

use std::time::Duration;

use serde_saphyr::Spanned;

use super::errors::one_line;
use super::log_format::{line_format, pattern_field, LineFormat};
use super::log_paths::{PathLabels, RawPathKeys};
use super::log_values::{self, ValueSpec};
use super::raw::{RawLog, RawPattern};
use super::validate::Validator;

/// Default cap on the bytes of one line used for matching.
pub(crate) const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
/// Default cap on distinct label sets per pattern.
pub(crate) const DEFAULT_MAX_SERIES: usize = 1000;
/// Label names our own series use; a pattern label may not take them. `le`
/// is a histogram's bucket bound: a second `le` on a `value:` series would
/// make Prometheus reject the whole scrape.
const RESERVED_LABELS: [&str; 5] = ["log", "level", "pattern", "microservice", "le"];

/// Where to start reading a file seen for the first time at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// Only lines written from now on (files that appear later are read whole).
    End,
    /// Every line already in the file.
    Beginning,
}

/// How changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// inotify wakes the follower; a periodic stat poll backs it up.
    Inotify,
    /// Only the periodic poll (NFS, FUSE, filesystems without inotify).
    Poll,
}

/// One validated `logs:` entry.
#[derive(Debug, Clone)]
pub struct LogSource {
    /// Unique name; the value of the `log` label.
    pub(crate) name: String,
    /// Absolute glob patterns of the files to follow.
    pub(crate) paths: Vec<String>,
    /// Files matching any of these are skipped.
    pub(crate) exclude: globset::GlobSet,
    /// Exclude patterns as written, to compare configs on reload.
    pub(crate) exclude_src: Vec<String>,
    /// Start position for files present at start-up without a checkpoint.
    pub(crate) start_at: StartAt,
    /// Bytes of a line that matching sees; longer lines are counted apart.
    pub(crate) max_line_bytes: usize,
    /// Level classification.
    pub(crate) levels: Levels,
    /// User patterns, each a counter.
    pub(crate) patterns: Vec<Pattern>,
    /// The probed service these logs belong to.
    pub(crate) service: Option<String>,
    /// inotify or poll only.
    pub(crate) watch: WatchMode,
    /// Period of the stat poll (the only wake-up in poll mode).
    pub(crate) poll_interval: Duration,
    /// Labels from the paths' captures (`path_labels`, `service_from`).
    pub(crate) path_labels: Option<PathLabels>,
    /// Plain lines, JSON/logfmt, or container records around them.
    pub(crate) format: LineFormat,
}

/// Tokens that classify a line: error if it contains any error token, else
/// warning if it contains any warning token, else other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Levels {
    /// Error tokens (default `ERROR`).
    pub(crate) error: Vec<String>,
    /// Warning tokens (default `WARNING`).
    pub(crate) warning: Vec<String>,
    /// Match tokens ignoring ASCII case.
    pub(crate) case_insensitive: bool,
}

/// A user regex counted per line, with opt-in capture labels.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// Unique within its log; the value of the `pattern` label.
    pub(crate) name: String,
    /// Compiled with multi-line and CRLF modes, over bytes.
    pub(crate) regex: regex::bytes::Regex,
    /// Capture group names exported as labels, in order.
    pub(crate) labels: Vec<String>,
    /// Distinct label sets kept before matches go to the overflow series.
    pub(crate) max_series: usize,
    /// The decoded field the regex runs on, instead of the whole line.
    pub(crate) field: Option<String>,
    /// A number observed into a histogram per matching line.
    pub(crate) value: Option<ValueSpec>,
    /// A number added to a counter per matching line.
    pub(crate) sum: Option<ValueSpec>,
}

/// Validates every `logs:` entry; `services` are the configured service names.
pub(super) fn validate_logs(
    v: &mut Validator<'_>,
    raw: Vec<RawLog>,
    services: &HashSet<String>,
) -> Vec<LogSource> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let field = format!("logs[{i}]");
        v.unique_name(&mut names, &r.name, &field, "log");
        if let Some(s) = log(v, r, &field, services) {
            out.push(s);
        }
    }
    out
}

fn log(
    v: &mut Validator<'_>,
    r: RawLog,
    field: &str,
    services: &HashSet<String>,
) -> Option<LogSource> {
    let mut ok = true;
    if r.paths.value.is_empty() {
        v.problem(
            &r.paths,
            &format!("{field}.paths"),
            "needs at least one path",
        );
        ok = false;
    }
    let (paths, captures) = super::log_paths::paths(v, &r.paths.value, field, &mut ok);
    let keys = RawPathKeys {
        field,
        log: &r,
        reserved: &RESERVED_LABELS,
        default_max_series: DEFAULT_MAX_SERIES,
    };
    let path_labels = super::log_paths::validate(v, keys, captures, &mut ok);
    let mut exclude = globset::GlobSetBuilder::new();
    let mut exclude_src = Vec::new();
    for (j, p) in r.exclude.iter().enumerate() {
        let abs = v.resolve_path(&p.value).to_string_lossy().into_owned();
        match globset::Glob::new(&abs) {
            Ok(g) => {
                exclude.add(g);
                exclude_src.push(abs);
            }
            Err(e) => {
                v.problem(
                    p,
                    &format!("{field}.exclude[{j}]"),
                    format!("invalid glob: {}", e.kind()),
                );
                ok = false;
            }
        }
    }
    let exclude = exclude
        .build()
        .unwrap_or_else(|_| globset::GlobSet::empty());
    let start_at = v.choice(
        r.start_at.as_ref(),
        &format!("{field}.start_at"),
        &[("end", StartAt::End), ("beginning", StartAt::Beginning)],
    );
    let watch = v.choice(
        r.watch.as_ref(),
        &format!("{field}.watch"),
        &[("inotify", WatchMode::Inotify), ("poll", WatchMode::Poll)],
    );
    ok &= start_at.is_some() && watch.is_some();
    let (start_at, watch) = (
        start_at.unwrap_or(StartAt::End),
        watch.unwrap_or(WatchMode::Inotify),
    );
    let poll_interval = match &r.poll_interval {
        Some(s) => match v.duration(s, &format!("{field}.poll_interval")) {
            Some(d) if d >= Duration::from_millis(10) => d,
            Some(_) => {
                v.problem(
                    s,
                    &format!("{field}.poll_interval"),
                    "must be at least 10ms",
                );
                ok = false;
                Duration::from_secs(1)
            }
            None => {
                ok = false;
                Duration::from_secs(1)
            }
        },
        None if watch == WatchMode::Poll => Duration::from_millis(250),
        None => Duration::from_secs(1),
    };
    let max_line_bytes = match &r.max_line_bytes {
        Some(m) if m.value < 16 => {
            v.problem(m, &format!("{field}.max_line_bytes"), "must be at least 16");
            ok = false;
            DEFAULT_MAX_LINE_BYTES
        }
        Some(m) => usize::try_from(m.value).unwrap_or(usize::MAX),
        None => DEFAULT_MAX_LINE_BYTES,
    };
    let format = line_format(v, field, &r);
    ok &= format.is_some();
    let levels = match r.levels {
        None => Levels::default(),
        Some(l) => {
            let mut tokens =
                |list: Option<Spanned<Vec<String>>>, name: &str, default: &str| match list {
                    None => vec![default.to_string()],
                    Some(s) if s.value.is_empty() || s.value.iter().any(String::is_empty) => {
                        let msg = "needs at least one token, none empty";
                        v.problem(&s, &format!("{field}.levels.{name}"), msg);
                        ok = false;
                        vec![default.to_string()]
                    }
                    Some(s) => s.value,
                };
            Levels {
                error: tokens(l.error, "error", "ERROR"),
                warning: tokens(l.warning, "warning", "WARNING"),
                case_insensitive: l.case_insensitive,
            }
        }
    };
    let mut patterns = Vec::new();
    let mut pattern_names = HashSet::new();
    let mut value_series = 0;
    for (j, p) in r.patterns.into_iter().enumerate() {
        let pf = format!("{field}.patterns[{j}]");
        if !v.unique_name(&mut pattern_names, &p.name, &pf, "pattern") {
            ok = false;
        }
        let target = pattern_field(v, &pf, p.field.as_ref(), format.as_ref());
        match (pattern(v, p, &pf, &mut value_series), target) {
            (Some(p), Ok(field)) => patterns.push(Pattern { field, ..p }),
            _ => ok = false,
        }
    }
    let service = match r.service {
        Some(s) if !services.contains(&s.value) => {
            let msg = format!("no service named {:?} in `services:`", s.value);
            v.problem(&s, &format!("{field}.service"), msg);
            ok = false;
            None
        }
        Some(s) => Some(s.value),
        None => None,
    };
    ok.then(|| LogSource {
        name: r.name.value,
        paths,
        exclude,
        exclude_src,
        start_at,
        max_line_bytes,
        levels,
        patterns,
        service,
        watch,
        poll_interval,
        path_labels,
        format: format.unwrap_or_default(),
    })
}

/// `value_series`: the series the numbers of the log's patterns so far may
/// create (see [`log_values::Budget`]).
fn pattern(
    v: &mut Validator<'_>,
    p: RawPattern,
    pf: &str,
    value_series: &mut usize,
) -> Option<Pattern> {
    let regex = regex::bytes::RegexBuilder::new(&p.regex.value)
        .multi_line(true)
        .crlf(true)
        .build();
    let regex = match regex {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("invalid regex: {}", one_line(&e.to_string()));
            v.problem(&p.regex, &format!("{pf}.regex"), msg);
            return None;
        }
    };
    let groups: HashSet<&str> = regex.capture_names().flatten().collect();
    let mut labels = Vec::new();
    let mut ok = true;
    for (k, l) in p.labels.iter().enumerate() {
        let lf = format!("{pf}.labels[{k}]");
        if !groups.contains(l.value.as_str()) {
            let msg = format!("{:?} is not a named capture group of the regex", l.value);
            v.problem(l, &lf, msg);
            ok = false;
        } else if RESERVED_LABELS.contains(&l.value.as_str()) || l.value.starts_with("__") {
            let msg = format!("{:?} is reserved; rename the capture group", l.value);
            v.problem(l, &lf, msg);
            ok = false;
        } else if labels.contains(&l.value) {
            v.problem(l, &lf, format!("{:?} is listed twice", l.value));
            ok = false;
        } else {
            labels.push(l.value.clone());
        }
    }
    let max_series = match &p.max_series {
        Some(m) if m.value == 0 => {
            v.problem(m, &format!("{pf}.max_series"), "must be at least 1");
            return None;
        }
        Some(m) => usize::try_from(m.value).unwrap_or(usize::MAX),
        None => DEFAULT_MAX_SERIES,
    };
    let budget = log_values::Budget {
        sets: if labels.is_empty() {
            1
        } else {
            max_series.saturating_add(1)
        },
        max_series: p.max_series.as_ref(),
        used: value_series,
    };
    let numbers = log_values::numbers(v, (p.value, p.sum), &groups, pf, budget);
    let (value, sum) = numbers.filter(|_| ok)?;
    Some(Pattern {
        name: p.name.value,
        regex,
        labels,
        max_series,
        field: None,
        value,
        sum,
    })
}

impl Default for Levels {
    fn default() -> Self {
        Levels {
            error: vec!["ERROR".into()],
            warning: vec!["WARNING".into()],
            case_insensitive: false,
        }
    }
}
