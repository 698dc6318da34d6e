//! A log's line format (`format`, `inner_format`, `level_field`) and the
//! `field` a pattern may target, validated from the raw `logs:` entry.

use serde_saphyr::Spanned;

use super::raw::{OneOrMany, RawLog};
use super::validate::Validator;
use crate::hash::Fingerprint;
use crate::logformat::{FieldSet, Format};

/// The container log format wrapped around the lines, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// containerd / CRI-O: `<time> <stream> <P|F> <message>`.
    Cri,
    /// docker json-file: `{"log":"…\n","stream":…,"time":…}`.
    Docker,
}

/// How a log's lines are read.
#[derive(Debug, Clone)]
pub struct LineFormat {
    /// Records to decode and join before the message is classified.
    pub(crate) container: Option<Container>,
    /// The format of each line (or of each container message).
    pub(crate) message: Format,
    /// Fields holding the level, in order of preference, as written.
    pub(crate) level_names: Vec<String>,
    /// The same, compiled.
    pub(crate) level_fields: FieldSet,
}

impl LineFormat {
    /// `format: plain`: the token rule over blocks of lines, as before formats existed.
    pub(crate) fn is_plain(&self) -> bool {
        self.container.is_none() && self.message == Format::Plain
    }

    pub(crate) fn fingerprint(&self, fp: &mut Fingerprint) {
        let container = match self.container {
            None => 0u8,
            Some(Container::Cri) => 1,
            Some(Container::Docker) => 2,
        };
        fp.add([container, self.message as u8])
            .add(self.level_names.len().to_le_bytes());
        for n in &self.level_names {
            fp.add(n);
        }
    }
}

impl Default for LineFormat {
    fn default() -> Self {
        LineFormat {
            container: None,
            message: Format::Plain,
            level_names: DEFAULT_LEVEL_FIELDS.map(String::from).to_vec(),
            level_fields: FieldSet::default_levels(),
        }
    }
}

/// What [`FieldSet::default_levels`] holds, for the fingerprint.
const DEFAULT_LEVEL_FIELDS: [&str; 4] = ["level", "lvl", "severity", "log.level"];

const MESSAGE_FORMATS: [(&str, Format); 4] = [
    ("plain", Format::Plain),
    ("json", Format::Json),
    ("logfmt", Format::Logfmt),
    ("auto", Format::Auto),
];

/// Validates `format`, `inner_format` and `level_field` of the entry `field`.
/// `None` after a problem was recorded.
pub(super) fn line_format(v: &mut Validator<'_>, field: &str, r: &RawLog) -> Option<LineFormat> {
    let (format, inner) = (r.format.as_ref(), r.inner_format.as_ref());
    let level_field = r.level_field.as_ref();
    let mut out = LineFormat::default();
    let mut ok = true;
    if let Some(f) = format {
        let (outer, short_inner) = match f.value.split_once('+') {
            Some((o, i)) => (o, Some(i)),
            None => (f.value.as_str(), None),
        };
        let container = match outer {
            "cri" => Some(Container::Cri),
            "docker" => Some(Container::Docker),
            _ => None,
        };
        let message = match (container, short_inner) {
            (Some(_), Some(i)) => lookup(i),
            (Some(_), None) => Some(Format::Plain),
            (None, None) => lookup(outer),
            (None, Some(_)) => None,
        };
        match message {
            Some(m) => {
                out.container = container;
                out.message = m;
            }
            None => {
                let msg = format!(
                    "must be `plain`, `json`, `logfmt`, `auto`, `cri` or `docker` (`cri+json`, `docker+logfmt`, … name the inner format), not {:?}",
                    f.value
                );
                v.problem(f, &format!("{field}.format"), msg);
                ok = false;
            }
        }
        if let (Some(i), true) = (inner, short_inner.is_some()) {
            let msg = format!("`format: {}` already names the inner format", f.value);
            v.problem(i, &format!("{field}.inner_format"), msg);
            ok = false;
        }
    }
    if let Some(i) = inner {
        match lookup(&i.value) {
            _ if !ok => {}
            _ if out.container.is_none() => {
                v.problem(
                    i,
                    &format!("{field}.inner_format"),
                    "only for `format: cri` or `format: docker`",
                );
                ok = false;
            }
            Some(m) => out.message = m,
            None => {
                let msg = format!(
                    "must be `plain`, `json`, `logfmt` or `auto`, not {:?}",
                    i.value
                );
                v.problem(i, &format!("{field}.inner_format"), msg);
                ok = false;
            }
        }
    }
    if let Some(l) = level_field {
        let names = match &l.value {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(list) => list.clone(),
        };
        let lf = format!("{field}.level_field");
        if ok && out.message == Format::Plain {
            v.problem(l, &lf, "needs a structured format (`json`, `logfmt` or `auto`, alone or inside `cri`/`docker`)");
            ok = false;
        } else if names.is_empty()
            || names
                .iter()
                .any(|n| n.is_empty() || n.split('.').any(str::is_empty))
        {
            v.problem(
                l,
                &lf,
                "needs at least one field name, none empty (nor an empty part between dots)",
            );
            ok = false;
        } else {
            match FieldSet::new(&names) {
                Ok(fields) => {
                    out.level_fields = fields;
                    out.level_names = names;
                }
                Err(e) => {
                    v.problem(l, &lf, e.to_string());
                    ok = false;
                }
            }
        }
    }
    ok.then_some(out)
}

fn lookup(name: &str) -> Option<Format> {
    MESSAGE_FORMATS
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, f)| *f)
}

/// Validates a pattern's `field` against the log's format.
pub(super) fn pattern_field(
    v: &mut Validator<'_>,
    pf: &str,
    at: Option<&Spanned<String>>,
    format: Option<&LineFormat>,
) -> Result<Option<String>, ()> {
    let Some(at) = at else { return Ok(None) };
    let field = format!("{pf}.field");
    if at.value.is_empty() || at.value.split('.').any(str::is_empty) {
        v.problem(
            at,
            &field,
            "must be a field name (no empty part between dots)",
        );
        return Err(());
    }
    // An invalid format was reported already; the field is not judged against it.
    if format.is_some_and(|f| f.message == Format::Plain) {
        v.problem(
            at,
            &field,
            "needs a structured format (`json`, `logfmt` or `auto`, alone or inside `cri`/`docker`)",
        );
        return Err(());
    }
    Ok(Some(at.value.clone()))
}

#[cfg(test)]
#[path = "log_format_tests.rs"]
mod tests;
