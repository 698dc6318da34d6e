//! Path globs with named captures (`/var/log/pods/{namespace}_{pod}_{uid}/…`):
//! the plain glob that finds the files, and the values a concrete path gives.
//!
//! A capture `{name}` stands for one or more characters other than `/`. When
//! captures and literal text alternate in one component, each capture takes
//! the longest value that lets the rest of the path match, left to right:
//! `{a}-{b}` splits `x-y-z` into `a = x-y`, `b = z`. Names come first and
//! IDs last in the layouts this is for: `/var/log/containers` has
//! `<pod>_<namespace>_<container>-<id>.log` where the container name may
//! have dashes (`istio-proxy`) and the hex ID has none, and in
//! `/var/log/pods/<namespace>_<pod>_<uid>` no part has a `_`.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Why a pattern with captures cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum CaptureError {
    #[error("capture {{{0}}} appears twice")]
    Twice(String),
    #[error("unclosed `{{`")]
    Unclosed,
    #[error("invalid glob: {0}")]
    Glob(globset::ErrorKind),
}

/// A glob compiled with its captures.
#[derive(Debug, Clone)]
pub(crate) struct CaptureGlob {
    /// The glob for expansion: every capture replaced by `?*`.
    pub(crate) glob: String,
    /// Capture names, in the order they appear.
    pub(crate) names: Vec<String>,
    /// The whole path, anchored; one group per capture, in `names` order.
    regex: regex::bytes::Regex,
}

/// Whether `s` is a capture name (the inside of `{name}`); anything else
/// between braces (`{a,b}`) is glob alternation.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl CaptureGlob {
    /// Compiles `pattern` (a glob that `globset` accepts once its captures
    /// are replaced).
    pub(crate) fn new(pattern: &str) -> Result<Self, CaptureError> {
        let mut glob = String::with_capacity(pattern.len());
        let mut re = String::from("(?s-u)^");
        let mut names: Vec<String> = Vec::new();
        let mut rest = pattern;
        while let Some(c) = rest.chars().next() {
            let len = c.len_utf8();
            match c {
                '{' => {
                    let end = rest.find('}').ok_or(CaptureError::Unclosed)?;
                    let inner = &rest[1..end];
                    if is_name(inner) {
                        if names.iter().any(|n| n == inner) {
                            return Err(CaptureError::Twice(inner.to_string()));
                        }
                        names.push(inner.to_string());
                        glob.push_str("?*");
                        re.push_str("([^/]+)");
                    } else {
                        glob.push_str(&rest[..=end]);
                        let alts: Vec<String> = inner.split(',').map(glob_to_regex).collect();
                        re.push_str(&format!("(?:{})", alts.join("|")));
                    }
                    rest = &rest[end + 1..];
                    continue;
                }
                '[' => {
                    // A class runs to the first `]` after its first character.
                    let end = rest
                        .char_indices()
                        .skip(2)
                        .find(|&(_, c)| c == ']')
                        .map_or(rest.len(), |(i, _)| i + 1);
                    glob.push_str(&rest[..end]);
                    re.push_str(&glob_to_regex(&rest[..end]));
                    rest = &rest[end..];
                    continue;
                }
                _ => {
                    glob.push(c);
                    re.push_str(&glob_to_regex(&rest[..len]));
                }
            }
            rest = &rest[len..];
        }
        re.push('$');
        globset::Glob::new(&glob).map_err(|e| CaptureError::Glob(e.kind().clone()))?;
        // Escaped text and fixed fragments, and classes globset accepted.
        let regex = regex::bytes::Regex::new(&re)
            .map_err(|_| CaptureError::Glob(globset::ErrorKind::UnclosedClass))?;
        Ok(CaptureGlob { glob, names, regex })
    }

    /// The captured values of `path`, in `names` order; `None` when the
    /// path does not match.
    pub(crate) fn captures<'p>(&self, path: &'p Path) -> Option<Vec<&'p [u8]>> {
        let caps = self.regex.captures(path.as_os_str().as_bytes())?;
        Some(
            (1..=self.names.len())
                .map(|i| caps.get(i).map_or(&b""[..], |m| m.as_bytes()))
                .collect(),
        )
    }
}

/// A capture-free piece of glob as a regex over bytes (no `/` crossing).
fn glob_to_regex(g: &str) -> String {
    let mut out = String::new();
    let mut chars = g.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => {
                out.push('[');
                if matches!(chars.peek(), Some('!' | '^')) {
                    chars.next();
                    out.push('^');
                }
                for c in chars.by_ref() {
                    if c == ']' && !out.ends_with('[') && !out.ends_with("[^") {
                        break;
                    }
                    if c == '\\' || c == '[' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push(']');
            }
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn caps(g: &CaptureGlob, p: &str) -> Option<Vec<String>> {
        g.captures(Path::new(p)).map(|v| {
            v.into_iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect()
        })
    }

    #[test]
    fn kubernetes_pod_paths() {
        let g =
            CaptureGlob::new("/var/log/pods/{namespace}_{pod}_{uid}/{container}/*.log").unwrap();
        assert_eq!(g.glob, "/var/log/pods/?*_?*_?*/?*/*.log");
        assert_eq!(g.names, ["namespace", "pod", "uid", "container"]);
        assert_eq!(
            caps(&g, "/var/log/pods/shop_cart-7d9f_0a1b-2c3d/app/0.log").unwrap(),
            ["shop", "cart-7d9f", "0a1b-2c3d", "app"]
        );
        // Longest first, left to right: the last capture takes what is left.
        assert_eq!(
            caps(&g, "/var/log/pods/x_y_z_w/c/1.log").unwrap(),
            ["x_y", "z", "w", "c"]
        );
        let containers =
            CaptureGlob::new("/var/log/containers/{pod}_{namespace}_{container}-{id}.log").unwrap();
        assert_eq!(
            caps(
                &containers,
                "/var/log/containers/cart-7d9f-x2_shop_istio-proxy-0af3.log"
            )
            .unwrap(),
            ["cart-7d9f-x2", "shop", "istio-proxy", "0af3"]
        );
        assert_eq!(caps(&g, "/var/log/pods/x_y/c/1.log"), None);
        assert_eq!(
            caps(&g, "/var/log/pods/__z/c/1.log"),
            None,
            "captures are never empty"
        );
        assert_eq!(caps(&g, "/var/log/pods/x_y_z/c/d/1.log"), None);
        assert_eq!(caps(&g, "/var/log/pods/x_y_z/c/1.txt"), None);
    }

    #[test]
    fn glob_syntax_around_captures() {
        let g = CaptureGlob::new("/l/{a}.{log,txt}/[!x]?/{b}-*").unwrap();
        assert_eq!(g.glob, "/l/?*.{log,txt}/[!x]?/?*-*");
        assert_eq!(caps(&g, "/l/p.q.txt/yz/s-t-u").unwrap(), ["p.q", "s-t"]);
        assert_eq!(caps(&g, "/l/p.csv/yz/s-t"), None);
        assert_eq!(caps(&g, "/l/p.log/xz/s-t"), None);
        let plain = CaptureGlob::new("/a+b/(c)/$*.log").unwrap();
        assert!(plain.names.is_empty());
        assert_eq!(
            caps(&plain, "/a+b/(c)/$x.log").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(caps(&plain, "/aab/(c)/$x.log"), None);
    }

    #[test]
    fn bad_patterns() {
        assert_eq!(
            CaptureGlob::new("/x/{a}/{a}").unwrap_err(),
            CaptureError::Twice("a".into())
        );
        assert_eq!(
            CaptureGlob::new("/x/{a").unwrap_err(),
            CaptureError::Unclosed
        );
    }

    #[test]
    fn any_bytes_but_slash_are_captured() {
        let g = CaptureGlob::new("/p/{ns}_{pod}/*.log").unwrap();
        let p = std::ffi::OsStr::from_bytes(b"/p/a\"b\n\xff_c/0.log");
        assert_eq!(
            g.captures(Path::new(p)).unwrap(),
            [&b"a\"b\n\xff"[..], &b"c"[..]]
        );
    }

    proptest! {
        /// Names without the separator round-trip through a path, and the
        /// expansion glob matches that path too.
        #[test]
        fn round_trip(
            ns in "[a-z0-9.-]{1,12}",
            pod in "[a-z0-9.-]{1,12}",
            uid in "[a-z0-9-]{1,12}",
            container in "[^/\u{0}]{1,12}",
        ) {
            let g = CaptureGlob::new("/var/log/pods/{namespace}_{pod}_{uid}/{container}/*.log")
                .unwrap();
            let path = format!("/var/log/pods/{ns}_{pod}_{uid}/{container}/0.log");
            prop_assert_eq!(caps(&g, &path).unwrap(), vec![ns, pod, uid, container]);
            let glob = globset::GlobBuilder::new(&g.glob).literal_separator(true).build().unwrap();
            prop_assert!(glob.compile_matcher().is_match(&path));
        }
    }
}
