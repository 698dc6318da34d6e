//! What is wrong with a configuration, and where.

use std::fmt;

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
    pub(crate) file: String,
    /// 1-based line.
    pub(crate) line: u64,
    /// 1-based column.
    pub(crate) column: u64,
    /// Dotted path of the field, e.g. `services[1].http.url`.
    pub(crate) field: String,
    /// What is wrong.
    pub(crate) message: String,
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

/// saphyr's message repeats the location and appends a source snippet; we
/// print our own location, so keep only the message itself.
pub(super) fn first_line(message: &str) -> String {
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
pub(super) fn field_at(text: &str, line: u64, column: u64) -> Option<String> {
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

/// `s` on one line, for messages (regex errors span several).
pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
