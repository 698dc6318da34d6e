//! Services from Prometheus file_sd files (`service_files:`): each target
//! becomes a scheduled service probed with a module's settings. The files
//! are watched with inotify and re-read within a second of a change.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{Service, ServiceFiles};

/// One file_sd target group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetGroup {
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The services listed now; `taken` are names already used by static
/// services (they win). Unreadable or invalid files are logged and skipped.
pub fn discover(sources: &[ServiceFiles], taken: &HashSet<String>) -> Vec<Service> {
    let mut out = Vec::new();
    let mut seen = taken.clone();
    for sf in sources {
        let found = crate::logs::discover::expand(&sf.paths, &globset::GlobSet::empty());
        for file in &found.files {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "cannot read service file");
                    continue;
                }
            };
            // JSON is YAML: one parser reads both file_sd formats.
            let groups: Vec<TargetGroup> = match serde_saphyr::from_str(&text) {
                Ok(g) => g,
                Err(e) => {
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
                    let Some(probe) = sf.module.aim(&target) else {
                        tracing::warn!(file = %file.display(), target = %target, "target does not fit the module; skipped");
                        continue;
                    };
                    let fingerprint = crate::fnv1a(
                        format!(
                            "{name}\0{target}\0{}\0{:?}",
                            sf.module.fingerprint, sf.interval
                        )
                        .as_bytes(),
                    );
                    out.push(Service {
                        name,
                        interval: sf.interval,
                        timeout: sf.module.timeout,
                        probe,
                        fingerprint,
                    });
                }
            }
        }
    }
    out
}

/// Directories holding the service files (watched for changes).
pub fn dirs(sources: &[ServiceFiles]) -> BTreeSet<PathBuf> {
    sources
        .iter()
        .flat_map(|sf| crate::logs::discover::expand(&sf.paths, &globset::GlobSet::empty()).dirs)
        .collect()
}
