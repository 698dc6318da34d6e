//! What runs for the current configuration, and applying a new one.
//!
//! Each service and each log is compared by its fingerprint: unchanged
//! ones keep running untouched (schedule, state, read positions), changed
//! ones are restarted (a follower saves its positions first, so no line is
//! lost or counted twice), removed ones are stopped and their series
//! dropped. Counters of kept names continue: the metric families return the
//! existing series.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::config::{self, Config, ProbeSpec};
use crate::lifecycle::Modules;
use crate::logs;
use crate::metrics::Metrics;
use crate::probe::{discovery, schedule, Health};
use crate::status::{Board, ServiceEntry};

/// The running services and followers.
pub(crate) struct Running {
    /// The configuration last applied, rediscovered from when files change.
    base: Option<Config>,
    /// Watches the service files' directories; pokes `discovered`.
    watcher: Option<notify::RecommendedWatcher>,
    discovered: tokio::sync::mpsc::Sender<()>,
    modules: Arc<Modules>,
    metrics: Arc<Metrics>,
    board: Arc<Board>,
    storage: Option<PathBuf>,
    /// By name: fingerprint, state (kept when a change restarts the task), task.
    services: HashMap<String, (u64, Arc<Health>, JoinHandle<()>)>,
    logs: HashMap<String, (u64, crate::config::logs::LogSource, logs::follow::Handle)>,
}

impl Running {
    /// Nothing running yet.
    pub(crate) fn new(
        modules: Arc<Modules>,
        metrics: Arc<Metrics>,
        board: Arc<Board>,
        storage: Option<PathBuf>,
        discovered: tokio::sync::mpsc::Sender<()>,
    ) -> Self {
        Running {
            base: None,
            watcher: None,
            discovered,
            modules,
            metrics,
            board,
            storage,
            services: HashMap::new(),
            logs: HashMap::new(),
        }
    }

    /// Services running.
    pub(crate) fn services(&self) -> usize {
        self.services.len()
    }

    /// Logs followed.
    pub(crate) fn logs(&self) -> usize {
        self.logs.len()
    }

    /// Loads `path` and applies it; an invalid file changes nothing.
    pub(crate) async fn reload(&mut self, path: &Path) -> Result<(), String> {
        let loaded = {
            let path = path.to_path_buf();
            tokio::task::spawn_blocking(move || config::load(&path))
                .await
                .map_err(|e| e.to_string())?
        };
        match loaded {
            Ok(config) => {
                self.apply(config).await;
                self.metrics.config_loaded(true);
                tracing::info!(
                    config = %path.display(),
                    services = self.services.len(),
                    logs = self.logs.len(),
                    "configuration reloaded"
                );
                Ok(())
            }
            Err(e) => {
                self.metrics.config_loaded(false);
                let msg = e.to_string();
                tracing::error!(config = %path.display(), error = %msg, "invalid configuration; keeping the running one");
                Err(msg)
            }
        }
    }

    /// Makes what runs match `config`.
    pub(crate) async fn apply(&mut self, config: Config) {
        self.base = Some(config.clone());
        // Listing and reading the service files is blocking I/O on names an
        // operator chose: keep it off the async threads.
        let (dirs, discovered) = {
            let sources = config.service_files.clone();
            let taken: std::collections::HashSet<String> =
                config.services.iter().map(|s| s.name.clone()).collect();
            tokio::task::spawn_blocking(move || {
                let dirs = discovery::dirs(&sources);
                (dirs, discovery::discover(&sources, &taken))
            })
            .await
            .unwrap_or_default()
        };
        self.metrics.service_file_errors(discovered.errors);
        self.watch(&dirs);
        self.modules.set(config.modules);
        // Services: the static ones, then those the service files list.
        let mut wanted: HashMap<String, config::Service> = config
            .services
            .into_iter()
            .chain(discovered.services)
            .map(|s| (s.name.clone(), s))
            .collect();
        let mut kept = HashMap::new();
        self.services
            .retain(|name, (fp, health, task)| match wanted.get(name) {
                Some(s) if s.fingerprint == *fp => {
                    wanted.remove(name);
                    true
                }
                other => {
                    task.abort();
                    match other {
                        Some(_) => {
                            kept.insert(name.clone(), health.clone());
                        }
                        None => {
                            self.metrics.remove_service(name);
                            self.board.remove(name);
                        }
                    }
                    false
                }
            });
        for (name, service) in wanted {
            self.board.add(&service);
            let metrics = self
                .metrics
                .service(&name, matches!(service.probe, ProbeSpec::Http(_)));
            let entry = ServiceEntry {
                board: self.board.clone(),
                name: name.clone(),
            };
            let health = kept.remove(&name).unwrap_or_default();
            let fp = service.fingerprint;
            let task = schedule::spawn(service, health.clone(), (metrics, entry));
            self.services.insert(name, (fp, health, task));
        }

        // Logs: stop the changed and removed ones first, so a restarted
        // follower resumes from the positions its predecessor saved.
        let mut wanted: HashMap<String, crate::config::logs::LogSource> = config
            .logs
            .into_iter()
            .map(|l| (l.name.clone(), l))
            .collect();
        let mut stopping = Vec::new();
        let names: Vec<String> = self.logs.keys().cloned().collect();
        for name in names {
            let unchanged = wanted.get(&name).is_some_and(|l| {
                self.logs
                    .get(&name)
                    .is_some_and(|(fp, _, _)| *fp == l.fingerprint())
            });
            if unchanged {
                wanted.remove(&name);
                continue;
            }
            if let Some((_, source, handle)) = self.logs.remove(&name) {
                if !wanted.contains_key(&name) {
                    self.metrics.remove_log(&source);
                    self.board.unlink_log(&name);
                }
                stopping.push(handle);
            }
        }
        // The path series of the stopped followers live on until their
        // successors hold theirs: a restart does not reset them.
        let held = if stopping.is_empty() {
            Vec::new()
        } else {
            tokio::task::spawn_blocking(move || {
                stopping
                    .into_iter()
                    .flat_map(logs::follow::Handle::stop_holding)
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default()
        };
        let sources: Vec<crate::config::logs::LogSource> = wanted.into_values().collect();
        let started = start_logs(
            &sources,
            &self.metrics,
            &self.board,
            self.storage.as_deref(),
        );
        // Ready (and a reload) means every new file has its start position.
        let started = tokio::task::spawn_blocking(move || {
            for (_, h) in &started {
                h.wait_started(Duration::from_secs(30));
            }
            started
        })
        .await
        .unwrap_or_default();
        drop(held);
        let mut sources: HashMap<String, crate::config::logs::LogSource> =
            sources.into_iter().map(|s| (s.name.clone(), s)).collect();
        for (name, handle) in started {
            if let Some(source) = sources.remove(&name) {
                self.logs
                    .insert(name, (source.fingerprint(), source, handle));
            }
        }
    }

    /// Re-reads the service files and applies what changed.
    pub(crate) async fn rediscover(&mut self) {
        if let Some(config) = self.base.clone() {
            self.apply(config).await;
        }
    }

    /// Watches the directories of the service files (replacing the old watch).
    fn watch(&mut self, dirs: &std::collections::BTreeSet<PathBuf>) {
        use notify::Watcher;
        self.watcher = None;
        if dirs.is_empty() {
            return;
        }
        let tx = self.discovered.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            let open = matches!(&res, Ok(e) if matches!(e.kind, notify::EventKind::Access(notify::event::AccessKind::Open(_))));
            if !open {
                let _ = tx.try_send(());
            }
        };
        match notify::recommended_watcher(handler) {
            Ok(mut w) => {
                for dir in dirs {
                    if let Err(e) = w.watch(dir, notify::RecursiveMode::NonRecursive) {
                        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch service files");
                    }
                }
                self.watcher = Some(w);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch service files; they are read on reload only")
            }
        }
    }

    /// Stops everything; followers save their positions.
    pub(crate) async fn stop(self) {
        for (_, _, task) in self.services.values() {
            task.abort();
        }
        let handles: Vec<logs::follow::Handle> =
            self.logs.into_values().map(|(_, _, h)| h).collect();
        let _ = tokio::task::spawn_blocking(move || {
            handles.into_iter().for_each(logs::follow::Handle::stop)
        })
        .await;
    }
}
/// Starts one follower per log, reporting to its series; links logs that
/// name a service to the status board.
fn start_logs(
    sources: &[crate::config::logs::LogSource],
    metrics: &Metrics,
    board: &Board,
    storage: Option<&Path>,
) -> Vec<(String, logs::Handle)> {
    let mut handles = Vec::with_capacity(sources.len());
    for source in sources {
        let mut m = metrics.log(source);
        board.watch_log(&source.name, m.unwatched_gauge());
        if let Some(service) = &source.service {
            let (error, warning) = m.level_counters();
            board.link_log(&source.name, service, error, warning);
        } else if source
            .path_labels
            .as_ref()
            .is_some_and(|p| p.service_from.is_some())
        {
            // Services known now; one added later links at the log's next start.
            let links = board
                .service_names()
                .into_iter()
                .filter_map(|s| m.service_counters(&s).map(|(e, w)| (s, e, w)))
                .collect();
            board.link_log_services(&source.name, links);
        }
        match logs::spawn(source.clone(), m, storage) {
            Ok(h) => handles.push((source.name.clone(), h)),
            Err(e) => {
                tracing::error!(log = %source.name, error = %e, "cannot start follower thread")
            }
        }
    }
    handles
}
