//! Services from Prometheus file_sd files (`service_files:`): each target
//! becomes a scheduled service probed with a module's settings. The files
//! are watched with inotify and re-read within a second of a change.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{service_fingerprint, Service, ServiceFiles};
use crate::fsread::{read_bounded_string, ReadError, DOCUMENT_MAX_BYTES};

/// One file_sd target group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetGroup {
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// What the service files list now.
#[derive(Debug, Default)]
pub(crate) struct Discovered {
    /// One service per target, names unique.
    pub(crate) services: Vec<Service>,
    /// Files that could not be read or parsed (logged and skipped).
    pub(crate) errors: u64,
}

/// The services listed now; `taken` are names already used by static
/// services (they win). Unreadable or invalid files are logged, counted and
/// skipped. Blocking file I/O: async callers run it on the blocking pool.
pub(crate) fn discover(sources: &[ServiceFiles], taken: &HashSet<String>) -> Discovered {
    let mut out = Vec::new();
    let mut errors = 0;
    let mut seen = taken.clone();
    for sf in sources {
        let found = crate::fsglob::expand(&sf.paths, &globset::GlobSet::empty());
        for file in &found.files {
            // A FIFO, device or huge file among the targets is refused,
            // never waited on.
            let text = match read_bounded_string(file, DOCUMENT_MAX_BYTES) {
                Ok(t) => t,
                // Removed between listing and reading: the next event rereads.
                Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    errors += 1;
                    tracing::warn!(file = %file.display(), error = %e, "cannot read service file; skipped");
                    continue;
                }
            };
            let groups = match parse(&text) {
                Ok(g) => g,
                Err(msg) => {
                    errors += 1;
                    tracing::warn!(file = %file.display(), error = %msg, "invalid service file; skipped");
                    continue;
                }
            };
            for g in groups {
                for target in g.targets {
                    // An empty label is no label, as in Prometheus.
                    let name = g
                        .labels
                        .get("microservice")
                        .filter(|n| !n.is_empty())
                        .cloned()
                        .unwrap_or_else(|| target.clone());
                    // Checked first: a refused target (one with credentials)
                    // is never quoted whole, even as a duplicate name.
                    let probe = match sf.module.aim(&target) {
                        Ok(p) => p,
                        Err(why) => {
                            tracing::warn!(file = %file.display(), target = %crate::config::redact_userinfo(&target), error = why, "target does not fit the module; skipped");
                            continue;
                        }
                    };
                    if !seen.insert(name.clone()) {
                        tracing::warn!(file = %file.display(), microservice = %name, "duplicate service name; skipped");
                        continue;
                    }
                    out.push(Service {
                        name,
                        interval: sf.interval,
                        timeout: sf.module.timeout,
                        fingerprint: service_fingerprint(sf.interval, sf.module.timeout, &probe),
                        probe,
                    });
                }
            }
        }
    }
    Discovered {
        services: out,
        errors,
    }
}

/// The target groups of a file_sd file; the error is the parser's first line.
fn parse(text: &str) -> Result<Vec<TargetGroup>, String> {
    // JSON is YAML: one parser reads both file_sd formats.
    serde_saphyr::from_str(text).map_err(|e| e.to_string().lines().next().unwrap_or("").to_string())
}

/// Directories holding the service files (watched for changes).
pub(crate) fn dirs(sources: &[ServiceFiles]) -> BTreeSet<PathBuf> {
    sources
        .iter()
        .flat_map(|sf| crate::fsglob::expand(&sf.paths, &globset::GlobSet::empty()).dirs)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{discover, parse};
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn names_come_from_the_label_else_the_target() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sd.json"),
            r#"[{"targets": ["127.0.0.1:1"], "labels": {"microservice": "named"}},
                {"targets": ["127.0.0.1:2"], "labels": {"microservice": ""}},
                {"targets": ["127.0.0.1:3", "", "user:pw@127.0.0.1:4"]}]"#,
        )
        .unwrap();
        let config = crate::config::parse(
            "modules: [{name: m, http: {}}]\nservice_files: [{files: [sd.json], module: m}]\n",
            &dir.path().join("exporter.yaml"),
        )
        .unwrap();
        let found = discover(&config.service_files, &HashSet::new());
        let names: Vec<&str> = found.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["named", "127.0.0.1:2", "127.0.0.1:3"]);
        assert_eq!(found.errors, 0);
    }

    #[test]
    fn json_and_yaml_file_sd() {
        let g = parse(r#"[{"targets": ["a:1", "b:2"], "labels": {"microservice": "x"}}]"#).unwrap();
        assert_eq!(g[0].targets, ["a:1", "b:2"]);
        assert_eq!(g[0].labels["microservice"], "x");
        assert_eq!(parse("- targets: ['c:3']\n").unwrap()[0].targets, ["c:3"]);
        assert!(parse(r#"[{"targets": 5}]"#).is_err());
    }

    const TOKENS: &[&str] = &[
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "\"",
        "'",
        "\n",
        "  ",
        "- ",
        "targets",
        "labels",
        "\"targets\": ",
        "\"labels\": ",
        "microservice",
        "\"a:1\"",
        "&x ",
        "*x",
        "!!map ",
        "<<: ",
        "null",
        "~",
        "1e999",
        "-",
        "\\u0000",
        "é",
        "\t",
        "#",
        "? ",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn any_token_soup_never_panics(tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..64)) {
            let _ = parse(&tokens.concat());
        }
    }
}
