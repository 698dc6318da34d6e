//! The web configuration in use, and its reload when the files change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::files::{fingerprint, Fingerprint, Reader};
use super::{load, WebConfig, WebConfigError};

/// How often the files are checked for changes.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The current web configuration, reloaded when its files change.
#[derive(Debug)]
pub(crate) struct WebConfigSource {
    path: Option<PathBuf>,
    current: RwLock<Arc<WebConfig>>,
    check: Mutex<Check>,
}

/// What the change check remembers between two runs.
#[derive(Debug, Default)]
struct Check {
    /// The files as read for the configuration in use.
    applied: Fingerprint,
    /// A changed version seen on the last check, applied if the next check
    /// sees it again.
    pending: Option<Fingerprint>,
}

impl WebConfigSource {
    /// No `--web.config.file`: plain HTTP, no authentication.
    pub(crate) fn none() -> Self {
        WebConfigSource {
            path: None,
            current: RwLock::new(Arc::new(WebConfig {
                http2: true,
                ..WebConfig::default()
            })),
            check: Mutex::new(Check::default()),
        }
    }

    /// Loads `path` off the async threads; an invalid file at start-up is an error.
    pub(crate) async fn load(path: &Path) -> Result<Self, WebConfigError> {
        let path = path.to_path_buf();
        let p = path.clone();
        let (config, files) = tokio::task::spawn_blocking(move || {
            let mut files = Reader::default();
            load(&p, &mut files).map(|c| (c, files.seen))
        })
        .await
        .map_err(|e| WebConfigError {
            path: path.display().to_string(),
            message: e.to_string(),
        })??;
        Ok(WebConfigSource {
            path: Some(path),
            current: RwLock::new(Arc::new(config)),
            check: Mutex::new(Check {
                applied: files,
                pending: None,
            }),
        })
    }

    /// The configuration in use now.
    pub(crate) fn current(&self) -> Arc<WebConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the files again and applies a changed version once it is seen
    /// twice in a row. Blocking: run it on the blocking pool, every
    /// [`CHECK_EVERY`].
    pub(crate) fn refresh(&self) {
        let Some(path) = &self.path else { return };
        let mut check = self.check.lock().unwrap_or_else(|e| e.into_inner());
        let now = fingerprint(&check.applied);
        if now == check.applied {
            check.pending = None;
            return;
        }
        if check.pending.as_ref() != Some(&now) {
            check.pending = Some(now);
            return;
        }
        let mut files = Reader::default();
        let loaded = load(path, &mut files);
        // Whatever the outcome, this version is handled: an invalid file is
        // logged once, not every second.
        check.applied = files.seen;
        check.pending = None;
        let old = self.current();
        match loaded {
            Ok(config) if config.tls.is_some() != old.tls.is_some() => {
                tracing::error!(
                    path = %path.display(),
                    tls = old.tls.is_some(),
                    "the new web configuration switches TLS on or off, which needs a restart; keeping the previous one"
                );
            }
            Ok(config) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
                tracing::info!(path = %path.display(), "web configuration reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "invalid web configuration; keeping the previous one");
            }
        }
    }
}
