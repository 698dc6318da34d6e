//! Expanding path globs into files, and the directories to watch for them:
//! for followed logs and for file_sd service files alike.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

mod captures;
pub(crate) use captures::CaptureGlob;

/// True when a path component contains glob syntax.
fn has_magic(component: &str) -> bool {
    component.contains(['*', '?', '[', '{'])
}

/// What a set of globs currently matches.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Matching paths (not yet checked to be regular files).
    pub(crate) files: BTreeSet<PathBuf>,
    /// Directories listed for a wildcard component, and those in which the
    /// last component was looked up: watching them shows the files and the
    /// directories on the way to them that appear, move or vanish (a new
    /// pod's directory under `/var/log/pods/{pod}/…`, found otherwise only
    /// by the next full pass).
    pub(crate) dirs: BTreeSet<PathBuf>,
    /// Those of `dirs` a pattern names without a wildcard: the configured
    /// roots, whose vanishing is news (a pod directory's is not).
    pub(crate) literal_dirs: BTreeSet<PathBuf>,
    /// Directories that exist but could not be listed (e.g. `EMFILE`):
    /// what they hold is unknown, not gone.
    pub(crate) failed: Vec<(PathBuf, std::io::Error)>,
}

impl Found {
    /// Whether `path` may be missing from `files` only because a listing failed.
    pub(crate) fn unknown(&self, path: &Path) -> bool {
        self.failed.iter().any(|(d, _)| path.starts_with(d))
    }
}

/// Expands absolute glob `patterns` one path component at a time, skipping
/// paths that match `exclude`.
pub(crate) fn expand(patterns: &[String], exclude: &globset::GlobSet) -> Found {
    let mut found = Found::default();
    for pattern in patterns {
        expand_one(pattern, exclude, &mut found);
    }
    found
}

/// Errors that mean the directory is not there (as opposed to unlistable).
fn gone(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

fn expand_one(pattern: &str, exclude: &globset::GlobSet, found: &mut Found) {
    let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let mut current = vec![PathBuf::from("/")];
    let mut literal = true;
    for (i, comp) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        if last || has_magic(comp) {
            found.dirs.extend(current.iter().cloned());
            if literal {
                found.literal_dirs.extend(current.iter().cloned());
            }
        }
        literal &= !has_magic(comp);
        let mut next = Vec::new();
        if has_magic(comp) {
            let Ok(glob) = globset::GlobBuilder::new(comp)
                .literal_separator(true)
                .build()
            else {
                return;
            };
            let m = glob.compile_matcher();
            for dir in &current {
                let entries = match std::fs::read_dir(dir) {
                    Ok(entries) => entries,
                    Err(e) if gone(&e) => continue,
                    Err(e) => {
                        found.failed.push((dir.clone(), e));
                        continue;
                    }
                };
                for e in entries {
                    let e = match e {
                        Ok(e) => e,
                        Err(e) => {
                            found.failed.push((dir.clone(), e));
                            break;
                        }
                    };
                    let name = e.file_name();
                    // Hidden files only match patterns that name the dot.
                    if name.to_string_lossy().starts_with('.') && !comp.starts_with('.') {
                        continue;
                    }
                    if m.is_match(Path::new(&name)) {
                        next.push(dir.join(&name));
                    }
                }
            }
        } else {
            next.extend(current.iter().map(|d| d.join(comp)));
        }
        current = next;
        if current.is_empty() {
            return;
        }
    }
    for p in current {
        if !exclude.is_match(&p) {
            found.files.insert(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_components_and_excludes() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/x")).unwrap();
        std::fs::create_dir_all(root.join("b/x")).unwrap();
        for f in [
            "a/x/1.log",
            "a/x/2.log",
            "b/x/3.log",
            "b/x/3.log.gz",
            "a/x/.hidden.log",
            "a/x/n.txt",
        ] {
            std::fs::write(root.join(f), "").unwrap();
        }
        let mut ex = globset::GlobSetBuilder::new();
        ex.add(globset::Glob::new(&format!("{}/b/**/*.gz", root.display())).unwrap());
        let ex = ex.build().unwrap();
        let pat = format!("{}/*/x/*.log*", root.display());
        let found = expand(&[pat], &ex);
        let names: Vec<String> = found
            .files
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a/x/1.log", "a/x/2.log", "b/x/3.log"]);
        assert_eq!(
            found.dirs,
            [root.to_path_buf(), root.join("a/x"), root.join("b/x")]
                .into_iter()
                .collect()
        );
        assert_eq!(
            found.literal_dirs,
            [root.to_path_buf()].into_iter().collect()
        );
    }

    #[test]
    fn literal_paths_are_kept_for_watching_even_when_missing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.log");
        let found = expand(&[p.display().to_string()], &globset::GlobSet::empty());
        assert_eq!(found.files.len(), 1, "existence is checked by the caller");
        assert_eq!(found.dirs, [d.path().to_path_buf()].into_iter().collect());
        assert_eq!(found.literal_dirs, found.dirs);
    }
}
