//! Secrets: values read from files or the environment, never shown.

use std::fmt;

use serde_saphyr::Spanned;

use super::validate::Validator;

/// A secret value read from a file or the environment. Its `Debug` and
/// `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(super) String);

impl Secret {
    /// The secret itself; call only where it is put on the wire.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// Replaces each `${VAR}` with the environment variable's value.
pub(super) fn expand_env(s: &str) -> Result<String, String> {
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

impl Validator<'_> {
    /// Reads a secret file at `at`; the message names the file, never its content.
    pub(super) fn secret_file(&mut self, at: &Spanned<String>, field: &str) -> Option<Secret> {
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
    pub(super) fn expand_env(&mut self, at: &Spanned<String>, field: &str) -> Option<Secret> {
        match expand_env(&at.value) {
            Ok(s) => Some(Secret(s)),
            Err(msg) => {
                self.problem(at, field, msg);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret("hunter2".into())), "<secret>");
    }
}
