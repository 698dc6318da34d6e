//! vitals_exporter: a Prometheus exporter for the vital signs of microservices.
//!
//! # Layout
//! - [`config`]: the YAML file, validated once into typed values.
//! - [`probe`]: one prober per kind (HTTP, TCP) reporting a [`probe::ProbeReport`].
//! - [`discovery`]: services from Prometheus file_sd files.
//! - [`fsread`]: bounded, non-blocking reads of files the configuration names.
//! - [`fdlimit`]: the open-file limit, raised at start and shared by followed files.
//! - [`logs`]: following log files, counting levels and patterns.
//! - [`reload`]: what runs for the current configuration, and reloading it.
//! - [`schedule`]: one task per service, probing on its own interval.
//! - [`status`]: the latest state of each service, for the status page.
//! - [`metrics`]: every series, behind methods named for what happened.
//! - [`web`]: the HTTP server, its endpoints and pages.
//! - [`logging`]: logfmt/JSON output of `tracing`.
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod base64;
pub mod config;
pub mod discovery;
pub mod fdlimit;
pub mod fsread;
pub mod logging;
// Wired into the follower by issue 12 part 2; until then only its unit tests use it.
#[allow(dead_code, unused_imports)]
pub(crate) mod logformat;
pub mod logs;
pub mod metrics;
pub mod probe;
pub mod reload;
pub mod schedule;
pub mod status;
pub mod web;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use metrics::Metrics;
use status::Board;
use web::App;

/// What the command line decides.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration file.
    pub config_file: PathBuf,
    /// Where to listen, e.g. `:10115` or `127.0.0.1:0`.
    pub listen_address: String,
    /// Path that serves metrics.
    pub telemetry_path: String,
    /// Directory for log positions; `None` disables checkpoints.
    pub storage_path: Option<PathBuf>,
    /// exporter-toolkit web configuration (TLS, basic auth, headers).
    pub web_config_file: Option<PathBuf>,
    /// Serve `POST /-/reload`.
    pub enable_lifecycle: bool,
    /// `/probe` requests probing at once; more are answered 503.
    pub probe_max_concurrent: usize,
}

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The listen address could not be bound.
    #[error(transparent)]
    Bind(#[from] web::server::BindError),
    /// The web configuration is invalid.
    #[error(transparent)]
    WebConfig(#[from] web::webconfig::WebConfigError),
}

/// Loads the configuration, starts probing and serves HTTP until `shutdown`.
/// SIGHUP (and `POST /-/reload` with `--web.enable-lifecycle`) reloads the
/// configuration: an invalid file is refused and the running one kept;
/// unchanged services and logs keep their schedule, state and positions.
pub async fn run(opts: Options, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let config = config::load(&opts.config_file)?;
    let web = match &opts.web_config_file {
        Some(path) => web::webconfig::WebConfigSource::load(path).await?,
        None => web::webconfig::WebConfigSource::none(),
    };
    let metrics = Metrics::new();
    metrics.config_loaded(true);
    let metrics = Arc::new(metrics);
    let board = Arc::new(Board::default());

    let listener = web::server::bind(&opts.listen_address).await?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(address = %addr, telemetry_path = %opts.telemetry_path, "listening");
    }
    let (reload_tx, mut reload_rx) = tokio::sync::mpsc::channel::<reload::Request>(4);
    let modules = Arc::new(reload::Modules::default());
    let app = Arc::new(App {
        metrics: metrics.clone(),
        exposition: web::exposition::Exposition::new(metrics.clone()),
        board: board.clone(),
        ready: AtomicBool::new(false),
        telemetry_path: opts.telemetry_path.clone(),
        web,
        auth: web::auth::Authenticator::default(),
        reload: opts.enable_lifecycle.then_some(reload_tx),
        modules: modules.clone(),
        probe_slots: tokio::sync::Semaphore::new(opts.probe_max_concurrent),
    });

    let storage = opts.storage_path.clone().filter(|dir| {
        std::fs::create_dir_all(dir)
            .map_err(|e| {
                tracing::warn!(path = %dir.display(), error = %e, "cannot create the storage directory; log positions will not be saved");
            })
            .is_ok()
    });
    let (discovered_tx, mut discovered_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut running = reload::Running::new(
        modules,
        metrics.clone(),
        board.clone(),
        storage,
        discovered_tx,
    );
    running.apply(config).await;
    let sampler = {
        let board = board.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(status::SAMPLE_EVERY);
            loop {
                tick.tick().await;
                board.sample_logs();
            }
        })
    };
    app.ready.store(true, Ordering::Release);
    tracing::info!(
        config = %opts.config_file.display(),
        services = running.services(),
        logs = running.logs(),
        "started"
    );

    // Reloads run here, one at a time, whoever asked.
    let config_file = opts.config_file.clone();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let reloader = tokio::spawn(async move {
        let mut hup = reload::sighup();
        loop {
            let reply = tokio::select! {
                _ = &mut stop_rx => break,
                Some(req) = reload_rx.recv() => Some(req),
                Some(()) = reload::next(&mut hup) => None,
                Some(()) = discovered_rx.recv() => {
                    // Let a burst of file events settle, then read once.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    while discovered_rx.try_recv().is_ok() {}
                    running.rediscover().await;
                    continue;
                }
            };
            let result = running.reload(&config_file).await;
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
        running
    });

    web::server::serve(listener, app, shutdown).await;
    sampler.abort();
    let _ = stop_tx.send(());
    // Followers read what is left and save their positions before we exit.
    if let Ok(running) = reloader.await {
        running.stop().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// FNV-1a: tiny and stable across builds and platforms (unlike
/// `DefaultHasher`), for schedule phases, fingerprints and file names.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
