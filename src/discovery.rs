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
pub struct Discovered {
    /// One service per target, names unique.
    pub services: Vec<Service>,
    /// Files that could not be read or parsed (logged and skipped).
    pub errors: u64,
}

/// The services listed now; `taken` are names already used by static
/// services (they win). Unreadable or invalid files are logged, counted and
/// skipped. Blocking file I/O: async callers run it on the blocking pool.
pub fn discover(sources: &[ServiceFiles], taken: &HashSet<String>) -> Discovered {
    let mut out = Vec::new();
    let mut errors = 0;
    let mut seen = taken.clone();
    for sf in sources {
        let found = crate::logs::discover::expand(&sf.paths, &globset::GlobSet::empty());
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
            // JSON is YAML: one parser reads both file_sd formats.
            let groups: Vec<TargetGroup> = match serde_saphyr::from_str(&text) {
                Ok(g) => g,
                Err(e) => {
                    errors += 1;
                    let msg = e.to_string();
                    let msg = msg.lines().next().unwrap_or("");
                    tracing::warn!(file = %file.display(), error = %msg, "invalid service file; skipped");
                    continue;
                }
            };
            for g in groups {
                for target in g.targets {
                    let name = g
                        .labels
                        .get("microservice")
                        .cloned()
                        .unwrap_or_else(|| target.clone());
                    if !seen.insert(name.clone()) {
                        tracing::warn!(file = %file.display(), microservice = %name, "duplicate service name; skipped");
                        continue;
                    }
                    let probe = match sf.module.aim(&target) {
                        Ok(p) => p,
                        Err(why) => {
                            tracing::warn!(file = %file.display(), target = %target, error = why, "target does not fit the module; skipped");
                            continue;
                        }
                    };
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

/// Directories holding the service files (watched for changes).
pub fn dirs(sources: &[ServiceFiles]) -> BTreeSet<PathBuf> {
    sources
        .iter()
        .flat_map(|sf| crate::logs::discover::expand(&sf.paths, &globset::GlobSet::empty()).dirs)
        .collect()
}
