//! Log line formats: levels and fields from JSON and logfmt lines, container log records (CRI,
//! docker json-file) and the numbers fields carry. A leaf module: bytes in, values out, no I/O
//! and no other module of the crate.

mod container;
mod cri;
mod docker;
mod json;
mod level;
mod logfmt;
mod number;

use std::borrow::Cow;

pub(crate) use container::{Joined, Joiner, Stream};
pub(crate) use cri::{parse as parse_cri, Record as CriRecord};
pub(crate) use docker::{
    Parser as DockerParser, Record as DockerRecord, MAX_RECORD_BYTES as DOCKER_MAX_RECORD_BYTES,
};
pub(crate) use level::{Level, Outcome};
pub(crate) use number::parse_number;

/// A field found in a line: its index in the [`FieldSet`] and its decoded value.
pub(crate) type Found<'a> = Option<(usize, Cow<'a, [u8]>)>;

/// A line that is not well-formed in its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed line")]
pub(crate) struct Malformed;

/// How a log's lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Plain,
    Json,
    Logfmt,
    /// Decided per line by [`detect`].
    Auto,
}

/// `{` as the first non-blank byte: JSON. A first word of the form `key=…` (the key made of
/// letters, digits and `_ . - @ /`): logfmt. Anything else: plain.
pub(crate) fn detect(line: &[u8]) -> Format {
    let start = line
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'));
    let Some(rest) = start.map(|s| &line[s..]) else {
        return Format::Plain;
    };
    if rest[0] == b'{' {
        return Format::Json;
    }
    let key_len = rest
        .iter()
        .position(|c| !matches!(c, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'@' | b'/'))
        .unwrap_or(rest.len());
    if key_len > 0 && rest.get(key_len) == Some(&b'=') {
        Format::Logfmt
    } else {
        Format::Plain
    }
}

/// Too many field paths for one [`FieldSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at most {} level fields may be listed", FieldSet::MAX)]
pub(crate) struct TooManyFields;

/// Field paths in order of preference, e.g. `level`, `lvl`, `severity`, `log.level`. A dotted
/// path matches both the nested JSON `{"log":{"level":…}}` and the flat key `"log.level"` (as
/// ECS loggers write it); in logfmt only the literal key `log.level`. Keys compare exactly
/// (JSON keys are case-sensitive).
#[derive(Debug, Clone)]
pub(crate) struct FieldSet {
    paths: Vec<FieldPath>,
}

#[derive(Debug, Clone)]
struct FieldPath {
    /// The dot-separated parts.
    segments: Vec<Box<[u8]>>,
    /// `suffixes[d]` is `segments[d..]` joined by dots: a key at depth `d` equal to it ends the
    /// path there.
    suffixes: Vec<Box<[u8]>>,
}

impl FieldSet {
    /// Paths are tracked in a 64-bit mask.
    pub(crate) const MAX: usize = 64;

    pub(crate) fn new<S: AsRef<str>>(paths: &[S]) -> Result<Self, TooManyFields> {
        if paths.len() > Self::MAX {
            return Err(TooManyFields);
        }
        Ok(Self::from_paths(paths))
    }

    fn from_paths<S: AsRef<str>>(paths: &[S]) -> Self {
        let paths = paths
            .iter()
            .map(|p| {
                let segments: Vec<&str> = p.as_ref().split('.').collect();
                FieldPath {
                    suffixes: (0..segments.len())
                        .map(|d| segments[d..].join(".").into_bytes().into())
                        .collect(),
                    segments: segments.iter().map(|s| s.as_bytes().into()).collect(),
                }
            })
            .collect();
        FieldSet { paths }
    }

    /// The default level fields: `level`, `lvl`, `severity`, `log.level`.
    pub(crate) fn default_levels() -> Self {
        Self::from_paths(&["level", "lvl", "severity", "log.level"])
    }

    fn all(&self) -> u64 {
        // At most 64 paths (checked in `new`); none gives a shift by 64, hence checked_shr.
        u64::MAX
            .checked_shr(64 - self.paths.len() as u32)
            .unwrap_or(0)
    }

    /// For a key at `depth` among the `active` paths: the first path it ends, and the paths it
    /// leads into (key equal to their segment at `depth`, with segments left after it).
    fn match_key(&self, key: &[u8], depth: usize, active: u64) -> (Option<usize>, u64) {
        let mut leaf = None;
        let mut inner = 0;
        let mut bits = active;
        while bits != 0 {
            let idx = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let Some(p) = self.paths.get(idx) else { break };
            if p.suffixes.get(depth).is_some_and(|s| same(s, key)) {
                if leaf.is_none() {
                    leaf = Some(idx);
                }
            } else if depth + 1 < p.segments.len() && same(&p.segments[depth], key) {
                inner |= 1 << idx;
            }
        }
        (leaf, inner)
    }

    /// The dotted name of each path, for logfmt's flat keys.
    fn dotted(&self, idx: usize) -> &[u8] {
        &self.paths[idx].suffixes[0]
    }

    fn len(&self) -> usize {
        self.paths.len()
    }
}

/// `a == b`, deciding most unequal keys of a line (`msg` against `lvl`) by the first byte instead
/// of a `memcmp` call.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.first() == b.first() && a == b
}

/// The level of a structured line, from the first of `fields` present. Words elsewhere in the
/// line never decide. Plain lines (and auto-detected ones) have no field: [`Outcome::NoField`].
pub(crate) fn level(line: &[u8], format: Format, fields: &FieldSet) -> Outcome {
    match lookup(line, format, fields) {
        Ok(Some((_, value))) => Outcome::Level(level::from_text(&value)),
        Ok(None) => Outcome::NoField,
        Err(Malformed) => Outcome::Malformed,
    }
}

/// The decoded value of the first of `fields` present, with its index in `fields`. Borrowed
/// from `line` unless it had to be unescaped. Plain lines have no fields.
pub(crate) fn lookup<'a>(
    line: &'a [u8],
    format: Format,
    fields: &FieldSet,
) -> Result<Found<'a>, Malformed> {
    match format {
        Format::Plain => Ok(None),
        Format::Json => json::lookup(line, fields),
        Format::Logfmt => logfmt::lookup(line, fields),
        Format::Auto => match detect(line) {
            Format::Json => json::lookup(line, fields),
            Format::Logfmt => logfmt::lookup(line, fields),
            _ => Ok(None),
        },
    }
}

#[cfg(test)]
mod tests;
