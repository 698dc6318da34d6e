//! vitals_exporter: a Prometheus exporter for the vital signs of microservices.
//!
//! # Layout
//! - [`config`]: the YAML file, validated once into typed values.
//! - [`probe`]: the probe engine: one prober per kind (HTTP, TCP), the
//!   schedule (one task per service), discovery from file_sd files; it
//!   reports through [`probe::ProbeObserver`].
//! - [`fsglob`]: path globs to files, and the directories to watch for them.
//! - [`fsread`]: bounded, non-blocking reads of files the configuration names.
//! - [`fdlimit`]: the open-file limit, raised at start and shared by followed files.
//! - [`logs`]: following log files, counting levels and patterns.
//! - [`status`]: the latest state of each service, for the status page.
//! - [`metrics`]: every series, behind methods named for what happened.
//! - [`lifecycle`]: reload requests and `/probe` modules, shared by web and supervisor.
//! - [`web`]: the HTTP server, its endpoints and pages.
//! - [`supervisor`]: what runs for the current configuration, and reloading it.
//! - [`logging`]: logfmt/JSON output of `tracing`.
#![deny(unsafe_code)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod config;
pub mod fdlimit;
pub(crate) mod fsglob;
pub(crate) mod fsread;
mod hash;
pub(crate) mod lifecycle;
pub mod logging;
// Wired into the follower by issue 12 part 2; until then only its unit tests use it.
#[allow(dead_code, unused_imports)]
pub(crate) mod logformat;
pub(crate) mod logs;
pub(crate) mod metrics;
mod net;
pub(crate) mod probe;
pub(crate) mod status;
pub mod supervisor;
pub mod web;
