//! What identifies a log across reloads and restarts: the fingerprint a
//! reload compares, and the file its positions are saved in.

use std::path::PathBuf;

use super::log_values;
use super::logs::LogSource;
use crate::hash::{fnv1a, Fingerprint};

impl LogSource {
    /// Identifies every validated setting, so a reload restarts the follower
    /// exactly when it would follow or count differently: moving the entry to
    /// other lines or spelling a value differently (`1s` or `1000ms`, a
    /// default written out) changes nothing.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut fp = Fingerprint::default();
        fp.add(&self.name);
        for list in [&self.paths, &self.exclude_src] {
            fp.add(list.len().to_le_bytes());
            for p in list {
                fp.add(p);
            }
        }
        fp.add([self.start_at as u8, self.watch as u8])
            .add(self.max_line_bytes.to_le_bytes())
            .duration(self.poll_interval)
            .option(self.service.as_deref());
        for list in [&self.levels.error, &self.levels.warning] {
            fp.add(list.len().to_le_bytes());
            for t in list {
                fp.add(t);
            }
        }
        fp.add([u8::from(self.levels.case_insensitive)]);
        if let Some(p) = &self.path_labels {
            p.fingerprint(&mut fp);
        }
        self.format.fingerprint(&mut fp);
        fp.add(self.patterns.len().to_le_bytes());
        for p in &self.patterns {
            fp.add(&p.name)
                .add(p.regex.as_str())
                .add(p.max_series.to_le_bytes())
                .add(p.labels.len().to_le_bytes());
            for l in &p.labels {
                fp.add(l);
            }
            fp.option(p.field.as_deref());
            log_values::fingerprint([&p.value, &p.sum], &mut fp);
        }
        fp.finish()
    }

    /// The file that keeps this log's positions inside the storage directory.
    pub(crate) fn checkpoint_path(&self, storage: &std::path::Path) -> PathBuf {
        let safe: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // The hash keeps names that sanitize alike ("a b" and "a_b") apart.
        storage.join(format!(
            "{safe}-{:08x}.positions",
            fnv1a(self.name.as_bytes()) as u32
        ))
    }
}
