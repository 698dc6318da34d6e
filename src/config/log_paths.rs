//! The keys of a `logs:` entry that take labels from the file paths:
//! `path_labels`, `service_from` and their `max_series`.

use serde_saphyr::Spanned;

use super::raw::RawLog;
use super::validate::Validator;
use crate::fsglob::CaptureGlob;

/// Labels taken from the captures of a log's path globs.
#[derive(Debug, Clone)]
pub struct PathLabels {
    /// One per entry of `paths`, in order.
    pub(crate) captures: Vec<CaptureGlob>,
    /// Label names, in order; each a capture of every path.
    pub(crate) labels: Vec<String>,
    /// The capture whose value is the `microservice` label.
    pub(crate) service_from: Option<String>,
    /// Distinct value sets kept before files go to the overflow series.
    pub(crate) max_series: usize,
    /// Per path, the capture index of each label then of `service_from`.
    picks: Vec<Vec<usize>>,
}

/// The log entry whose `path_labels`, `service_from` and `max_series` keys
/// are validated.
pub(super) struct RawPathKeys<'a> {
    pub(super) field: &'a str,
    pub(super) log: &'a RawLog,
    /// Label names our own series use.
    pub(super) reserved: &'a [&'a str],
    /// `max_series` when not given.
    pub(super) default_max_series: usize,
}

/// Validates the keys against the compiled `captures` of the paths; `None`
/// with no problem when the log takes no labels from its paths.
pub(super) fn validate(
    v: &mut Validator<'_>,
    raw: RawPathKeys<'_>,
    captures: Vec<CaptureGlob>,
    ok: &mut bool,
) -> Option<PathLabels> {
    let field = raw.field;
    let r = raw.log;
    if r.path_labels.is_empty() && r.service_from.is_none() {
        if let Some(m) = &r.max_series {
            let msg = "applies only with path_labels or service_from";
            v.problem(m, &format!("{field}.max_series"), msg);
            *ok = false;
        }
        return None;
    }
    let mut fine = true;
    let in_every_path = |v: &mut Validator<'_>, name: &Spanned<String>, lf: &str| match captures
        .iter()
        .position(|c| !c.names.contains(&name.value))
    {
        Some(j) => {
            let msg = format!(
                "{:?} is not a capture {{{}}} of paths[{j}]",
                name.value, name.value
            );
            v.problem(name, lf, msg);
            false
        }
        None => true,
    };
    let mut labels: Vec<String> = Vec::new();
    for (k, l) in r.path_labels.iter().enumerate() {
        let lf = format!("{field}.path_labels[{k}]");
        if raw.reserved.contains(&l.value.as_str()) || l.value.starts_with("__") {
            let msg = format!("{:?} is reserved; rename the capture", l.value);
            v.problem(l, &lf, msg);
            fine = false;
        } else if labels.contains(&l.value) {
            v.problem(l, &lf, format!("{:?} is listed twice", l.value));
            fine = false;
        } else if in_every_path(v, l, &lf) {
            labels.push(l.value.clone());
        } else {
            fine = false;
        }
    }
    let service_from = match (&r.service_from, &r.service) {
        (Some(s), Some(_)) => {
            let msg = "conflicts with `service`: a log names its service one way";
            v.problem(s, &format!("{field}.service_from"), msg);
            fine = false;
            None
        }
        (Some(s), None) => {
            fine &= in_every_path(v, s, &format!("{field}.service_from"));
            Some(s.value.clone())
        }
        (None, _) => None,
    };
    let max_series = match &r.max_series {
        Some(m) if m.value == 0 => {
            v.problem(m, &format!("{field}.max_series"), "must be at least 1");
            fine = false;
            raw.default_max_series
        }
        Some(m) => usize::try_from(m.value).unwrap_or(usize::MAX),
        None => raw.default_max_series,
    };
    *ok &= fine;
    if !fine {
        return None;
    }
    let picks = captures
        .iter()
        .map(|c| {
            labels
                .iter()
                .chain(&service_from)
                .filter_map(|l| c.names.iter().position(|n| n == l))
                .collect()
        })
        .collect();
    Some(PathLabels {
        captures,
        labels,
        service_from,
        max_series,
        picks,
    })
}

/// Resolves and compiles the `paths` of a log: the globs to expand (every
/// capture a `?*`), and the captures of each.
pub(super) fn paths(
    v: &mut Validator<'_>,
    raw: &[Spanned<String>],
    field: &str,
    ok: &mut bool,
) -> (Vec<String>, Vec<CaptureGlob>) {
    let mut paths = Vec::new();
    let mut captures = Vec::new();
    for (j, p) in raw.iter().enumerate() {
        let abs = v.resolve_path(&p.value);
        let abs = abs.to_string_lossy().into_owned();
        if abs.contains("**") {
            let msg = "`**` is not supported; use one `*` per directory level";
            v.problem(p, &format!("{field}.paths[{j}]"), msg);
            *ok = false;
            continue;
        }
        match crate::fsglob::CaptureGlob::new(&abs) {
            Ok(c) => {
                paths.push(c.glob.clone());
                captures.push(c);
            }
            Err(e) => {
                v.problem(p, &format!("{field}.paths[{j}]"), e.to_string());
                *ok = false;
            }
        }
    }
    (paths, captures)
}

impl PathLabels {
    /// The label values of `path` (the labels, then the service), `None`
    /// when no path glob matches it. Values are made valid UTF-8 with
    /// replacement characters: label values are text.
    pub(crate) fn values(&self, path: &std::path::Path) -> Option<Vec<String>> {
        self.captures
            .iter()
            .zip(&self.picks)
            .find_map(|(c, picks)| {
                let caps = c.captures(path)?;
                Some(
                    picks
                        .iter()
                        .map(|&i| String::from_utf8_lossy(caps[i]).into_owned())
                        .collect(),
                )
            })
    }

    /// Feeds every setting to a fingerprint, for reload comparison.
    pub(crate) fn fingerprint(&self, fp: &mut crate::hash::Fingerprint) {
        for c in &self.captures {
            fp.add(c.names.len().to_le_bytes());
            for n in &c.names {
                fp.add(n);
            }
        }
        fp.add(self.labels.len().to_le_bytes());
        for l in &self.labels {
            fp.add(l);
        }
        fp.option(self.service_from.as_deref())
            .add(self.max_series.to_le_bytes());
    }
}
