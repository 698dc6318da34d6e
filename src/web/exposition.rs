//! `/metrics` bodies, encoded once for every request that waits on them.
//!
//! An encode runs on the blocking pool and cannot be cancelled: without
//! sharing, every request (even one reset at once, as thousands of HTTP/2
//! streams can be) queued a full encode, and a flood grew the blocking
//! pool to hundreds of threads. Here a request that arrives while an encode
//! of its variant runs waits for that one and gets the same bytes, so at
//! most one encode per variant is ever running or queued.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Text or OpenMetrics, identity or gzip.
const VARIANTS: usize = 4;

type Pending = watch::Receiver<Option<Bytes>>;

/// The encodes running now, one slot per variant.
#[derive(Debug)]
pub(crate) struct Exposition {
    metrics: Arc<Metrics>,
    running: Mutex<[Option<Pending>; VARIANTS]>,
}

impl Exposition {
    /// Encodes `metrics`.
    pub(crate) fn new(metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Exposition {
            metrics,
            running: Mutex::new(Default::default()),
        })
    }

    /// The exposition as of an encode that started at most one encode
    /// time ago; empty if the encode panicked.
    pub(crate) async fn body(self: &Arc<Self>, openmetrics: bool, gzip: bool) -> Bytes {
        let variant = usize::from(openmetrics) * 2 + usize::from(gzip);
        let mut pending = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            match &running[variant] {
                Some(pending) => pending.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    running[variant] = Some(rx.clone());
                    let done = Done {
                        exposition: self.clone(),
                        variant,
                    };
                    let metrics = self.metrics.clone();
                    tokio::task::spawn_blocking(move || {
                        let text = metrics.encode(openmetrics);
                        let body = if gzip {
                            gzipped(text.as_bytes())
                        } else {
                            text.into()
                        };
                        // A request arriving from here on starts a fresh
                        // encode rather than taking these bytes.
                        drop(done);
                        tx.send_replace(Some(body));
                    });
                    rx
                }
            }
        };
        let body = match pending.wait_for(Option::is_some).await {
            Ok(body) => body.clone().unwrap_or_default(),
            Err(_) => Bytes::new(),
        };
        body
    }
}

/// Frees the variant's slot when its encode ends, panics included (a slot
/// left taken would answer every later request with an empty body).
struct Done {
    exposition: Arc<Exposition>,
    variant: usize,
}

impl Drop for Done {
    fn drop(&mut self) {
        let mut running = self
            .exposition
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        running[self.variant] = None;
    }
}

/// As client_golang: Prometheus always asks for gzip, and the text format
/// shrinks 4 (one service) to 14 (2 000 services) times.
fn gzipped(text: &[u8]) -> Bytes {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(text);
    enc.finish().unwrap_or_default().into()
}
