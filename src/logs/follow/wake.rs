//! When the follower wakes up and what it looks at: inotify events, the
//! poll that backs them up, and fast polling while a writer is busy.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// While data keeps arriving, read cycles start at most this often: a
/// writer doing one write(2) per line then costs one cycle per batch of
/// lines, not one per line. An idle follower still reads a new line at once.
const BUSY_CYCLE: Duration = Duration::from_millis(1);
/// Data arriving in every cycle for this long switches to fast polling.
const FAST_AFTER: Duration = Duration::from_millis(50);
/// No data for this long switches back to inotify.
const FAST_IDLE: Duration = Duration::from_millis(250);
/// Rescan period while fast polling (rotations are found within it).
const FAST_RESCAN: Duration = Duration::from_millis(100);
/// Fast polling reads every file each cycle: only for a few live files.
const FAST_MAX_FILES: usize = 16;
/// Changed paths kept for one wake-up; past that, every file is read.
const TOUCHED_MAX: usize = 64;
/// Wake-up reason bits set by the watcher (a data event sets none: it
/// names its path in `touched`).
const WAKE_RESCAN: u8 = 1;
const WAKE_ALL: u8 = 2;

/// What woke the follower.
pub(super) struct Woke {
    /// Files may have appeared, moved or vanished (or events were lost).
    pub(super) rescan: bool,
    /// Too many files changed to name them: read every one.
    pub(super) all: bool,
    /// The paths inotify said were written to.
    pub(super) touched: Vec<PathBuf>,
}

/// The wake policy of one follower.
pub(super) struct Wake {
    flags: Arc<AtomicU8>,
    touched: Arc<Mutex<Vec<PathBuf>>>,
    poll_interval: Duration,
    /// When the next full pass is due.
    pub(super) next_poll: Instant,
    /// Start of the previous cycle, when it read data (for coalescing).
    coalesce_from: Option<Instant>,
    /// Since when every cycle has read data.
    streak: Option<Instant>,
    /// When data last came.
    last_data: Instant,
    /// While a writer is busy, polling every BUSY_CYCLE replaces inotify:
    /// inotify would cost the writer an event per write(2) and us a
    /// wake-up per event.
    pub(super) fast: bool,
}

impl Wake {
    pub(super) fn new(poll_interval: Duration) -> Self {
        let now = Instant::now();
        Wake {
            flags: Arc::new(AtomicU8::new(0)),
            touched: Arc::new(Mutex::new(Vec::new())),
            poll_interval,
            next_poll: now + poll_interval,
            coalesce_from: None,
            streak: None,
            last_data: now,
            fast: false,
        }
    }

    /// How long to wait for a wake-up; `more`: data was left behind a read
    /// budget, so only look for wake-ups.
    pub(super) fn wait(&self, more: bool, now: Instant, next_save: Instant) -> Duration {
        if more {
            Duration::ZERO
        } else if self.fast {
            BUSY_CYCLE
        } else {
            self.next_poll.min(next_save).saturating_duration_since(now)
        }
    }

    /// Lets a busy writer's lines gather for the rest of a cycle. A new or
    /// renamed file is looked at now: it may be rotated away before the
    /// next cycle.
    pub(super) fn coalesce(&self) {
        if let Some(t) = self
            .coalesce_from
            .filter(|_| self.flags.load(Ordering::Acquire) & WAKE_RESCAN == 0)
        {
            let left = BUSY_CYCLE.saturating_sub(t.elapsed());
            if !left.is_zero() {
                std::thread::sleep(left);
            }
        }
    }

    /// Takes what the watcher reported since the last call.
    pub(super) fn take(&self) -> Woke {
        let bits = self.flags.swap(0, Ordering::AcqRel);
        let touched = std::mem::take(&mut *self.touched.lock().unwrap_or_else(|e| e.into_inner()));
        Woke {
            rescan: bits & WAKE_RESCAN != 0,
            all: bits & WAKE_ALL != 0,
            touched,
        }
    }

    /// Time to the next full pass (rescan and read of every file) that
    /// started at `began`. With inotify on every directory the pass is only
    /// a safety net: it is spaced to cost at most 0.5 % of a core, however
    /// many files there are.
    pub(super) fn poll_period(&self, began: Instant, inotify_everywhere: bool) -> Duration {
        if self.fast {
            return FAST_RESCAN;
        }
        if !inotify_everywhere {
            return self.poll_interval;
        }
        self.poll_interval.max(began.elapsed() * 200)
    }

    /// A cycle that started at `now` is over; `got`: it read data.
    pub(super) fn cycle_done(&mut self, now: Instant, got: bool) {
        self.coalesce_from = got.then_some(now);
        if got {
            self.last_data = now;
            self.streak.get_or_insert(now);
        } else {
            self.streak = None;
        }
    }

    /// Whether to switch to fast polling now: data came in every cycle for
    /// a while, to few enough live files.
    pub(super) fn go_fast(&mut self, now: Instant, live_files: impl FnOnce() -> usize) -> bool {
        if self.fast
            || live_files() > FAST_MAX_FILES
            || self
                .streak
                .is_none_or(|s| now.duration_since(s) < FAST_AFTER)
        {
            return false;
        }
        self.fast = true;
        self.next_poll = now + FAST_RESCAN;
        true
    }

    /// Whether to switch back to inotify now: the writer went quiet.
    pub(super) fn go_idle(&mut self, now: Instant) -> bool {
        if !self.fast || now.duration_since(self.last_data) < FAST_IDLE {
            return false;
        }
        self.fast = false;
        self.next_poll = now + self.poll_interval;
        true
    }

    /// An inotify watcher that reports to this policy and pokes the thread.
    pub(super) fn watcher(
        &self,
        log: &str,
        wake: SyncSender<()>,
    ) -> Option<notify::RecommendedWatcher> {
        use notify::event::{AccessKind, EventKind, ModifyKind};
        let (flags, touched) = (self.flags.clone(), self.touched.clone());
        let handler = move |res: notify::Result<notify::Event>| {
            let bit = match &res {
                // Overflow: the event has no paths; everything must be re-checked.
                Ok(ev) if ev.need_rescan() => WAKE_RESCAN,
                Ok(ev) => match ev.kind {
                    EventKind::Access(AccessKind::Open(_)) => return,
                    EventKind::Modify(ModifyKind::Data(_)) | EventKind::Access(_) => {
                        let mut t = touched.lock().unwrap_or_else(|e| e.into_inner());
                        for p in &ev.paths {
                            if !t.contains(p) {
                                t.push(p.clone());
                            }
                        }
                        if t.len() > TOUCHED_MAX {
                            t.clear();
                            flags.fetch_or(WAKE_ALL, Ordering::AcqRel);
                        }
                        0
                    }
                    _ => WAKE_RESCAN,
                },
                Err(_) => WAKE_RESCAN,
            };
            flags.fetch_or(bit, Ordering::AcqRel);
            let _ = wake.try_send(());
        };
        match notify::recommended_watcher(handler) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(log = %log, error = %e, "inotify unavailable; polling only");
                None
            }
        }
    }
}
