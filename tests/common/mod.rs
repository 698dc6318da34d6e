//! Helpers shared by the black-box tests: the real binary, real HTTP(S)
//! servers on 127.0.0.1, scrapes, and polling with a deadline.
// Each test binary uses a different part of these.
#![allow(dead_code, unused_imports)]

mod exporter;
mod http;
mod logfile;
mod prom;
mod rng;
mod tls;

pub use exporter::*;
pub use http::*;
pub use logfile::*;
pub use prom::*;
pub use rng::*;
pub use tls::*;
