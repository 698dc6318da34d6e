//! The open connections, bounded: a new connection takes the place of an
//! idle one, so clients that connect and wait cannot keep a scrape out.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{HEADER_READ_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS};
use crate::metrics::Metrics;

/// The open connections.
pub(super) struct Slots {
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    metrics: Arc<Metrics>,
}

impl Slots {
    pub(super) fn new(metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Slots {
            open: Mutex::default(),
            next_id: AtomicU64::new(0),
            metrics,
        })
    }

    /// A slot for a new connection, evicting one without a request in
    /// flight when all are taken: first those that never sent a request,
    /// then the one idle the longest (a scrape whose answer was just handed
    /// over goes last); `None` when every connection has a request in
    /// flight.
    pub(super) fn take(self: &Arc<Self>) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() >= MAX_CONNECTIONS {
            let victim = open
                .values()
                .filter(|c| c.in_flight.load(Ordering::Acquire) == 0)
                .min_by_key(|c| (c.requested.load(Ordering::Acquire), c.last_active()))
                .map(|c| c.id)?;
            if let Some(c) = open.remove(&victim) {
                c.evicted.notify_one();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            in_flight: AtomicUsize::new(0),
            requested: AtomicBool::new(false),
            last_active: Mutex::new(Instant::now()),
            evicted: Notify::new(),
        });
        open.insert(id, conn.clone());
        self.metrics.web_connections(1);
        Some(Slot {
            slots: self.clone(),
            conn,
        })
    }
}

/// A connection's place in [`Slots`], given back on drop.
pub(super) struct Slot {
    slots: Arc<Slots>,
    pub(super) conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(&self.conn.id);
        self.slots.metrics.web_connections(-1);
    }
}

/// What the slot keeper knows of one connection.
pub(super) struct Conn {
    id: u64,
    in_flight: AtomicUsize,
    requested: AtomicBool,
    /// Accept, or the start or end of the latest request.
    last_active: Mutex<Instant>,
    pub(super) evicted: Notify,
}

impl Conn {
    fn last_active(&self) -> Instant {
        *self.last_active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the connection has sent a request yet.
    pub(super) fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    fn touch(&self) {
        *self.last_active.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Marks a request in flight until the guard drops.
    pub(super) fn busy(self: &Arc<Self>) -> Busy {
        self.requested.store(true, Ordering::Release);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        Busy(self.clone())
    }

    /// Completes once the connection has had no request in flight for too
    /// long: [`HEADER_READ_TIMEOUT`] before its first request (a client
    /// that connects, or finishes a TLS handshake, or sends the HTTP/2
    /// preface, and then waits), [`IDLE_TIMEOUT`] after.
    pub(super) async fn expired(&self) {
        loop {
            let limit = if self.requested.load(Ordering::Acquire) {
                IDLE_TIMEOUT
            } else {
                HEADER_READ_TIMEOUT
            };
            let deadline = self.last_active() + limit;
            if self.in_flight.load(Ordering::Acquire) == 0 && Instant::now() >= deadline {
                return;
            }
            // In flight: look again later; the write deadline bounds a
            // response nobody reads.
            tokio::time::sleep_until(deadline.max(Instant::now() + Duration::from_secs(1)).into())
                .await;
        }
    }
}

/// A request in flight on a [`Conn`].
pub(super) struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
