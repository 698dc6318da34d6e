//! Following the files of one log: discovery, reading, rotation, truncation
//! and checkpoints. One thread per log; inotify only wakes it up.
//!
//! Files are tracked by identity (device + inode), not by name: a file
//! renamed away keeps being read to its end, a new file at the old name is
//! read from its start, and a rotated name that still matches the glob is
//! not read twice. A hash of each file's first bytes catches a file
//! truncated or rewritten in place (copytruncate), and inode reuse across
//! restarts. Lines are counted only once their `\n` arrives.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memchr::{memchr, memchr_iter, memrchr};

use super::checkpoint::{self, read_exact_at, read_head, FileId, Fingerprint, Saved};
use super::config::{LogSource, StartAt, WatchMode};
use super::matcher::{LevelMatcher, LinePattern};
use super::open::open_regular;
use crate::metrics::logs::LogMetrics;

/// Bytes asked of one `read`.
const READ_SIZE: usize = 64 * 1024;
/// Bytes read from one file before the others get their turn.
const READ_BUDGET: u64 = 32 << 20;
/// Whether the file has no name left (deleted while open); an error
/// proves nothing, so the file is taken as still there.
fn unlinked(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    file.metadata().is_ok_and(|m| m.nlink() == 0)
}

/// Rotated-away identities remembered (cleared when full: they matter only
/// until the file's first read).
const ROTATED_AWAY_MAX: usize = 4096;
/// How long a file renamed away or deleted is still read (writers that
/// have not reopened yet), once it has no new data.
pub const ROTATE_WAIT: Duration = Duration::from_secs(5);
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
/// Longest time between two saves of the positions.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Fast polling reads every file each cycle: only for a few live files.
const FAST_MAX_FILES: usize = 16;
/// Changed paths kept for one wake-up; past that, every file is read.
const TOUCHED_MAX: usize = 64;

/// A detached file is read at every cycle this long after it was rotated
/// (writers that have not reopened yet), then only at full passes: a
/// rename storm leaves hundreds of them.
const DETACHED_HOT: Duration = Duration::from_millis(50);

/// Which files a read cycle reads.
#[derive(Clone, Copy)]
enum Pass<'a> {
    /// Every file (a poll, or no idea what changed).
    All,
    /// Live files and recently detached ones.
    Live,
    /// These live paths (inotify named them) and recently detached files.
    /// A short list compared as bytes: hashing every followed path per
    /// wake-up cost milliseconds at 10 000 files.
    Changed(&'a [PathBuf]),
}

/// Wake-up reason bits set by the watcher.
const WAKE_DATA: u8 = 1;
const WAKE_RESCAN: u8 = 2;
const WAKE_ALL: u8 = 4;

/// What the current line is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// Collecting bytes into `pending`.
    Normal,
    /// Past `max_line_bytes`: `pending` keeps the head, the rest is dropped.
    Overlong,
    /// Dropping the tail of a line that was already there when we started.
    Skip,
}

/// One followed file.
#[derive(Debug)]
struct Tracked {
    id: FileId,
    path: PathBuf,
    file: File,
    /// Bytes read from the file so far.
    pos: u64,
    /// Where the current incomplete line starts: the checkpointed offset.
    line_start: u64,
    /// Bytes of the current incomplete line (at most `max_line_bytes`).
    pending: Vec<u8>,
    state: LineState,
    /// The file head.
    fingerprint: Fingerprint,
    /// The last bytes read (at most [`Fingerprint::MAX_LEN`], ending at
    /// `pos`): a file truncated and rewritten past `pos` no longer has
    /// them there, even when its head never changes (a banner).
    recent: Vec<u8>,
    /// Fingerprint of the bytes ending at `line_start`: saved with it, it
    /// tells at restart whether the file still has the bytes we read.
    tail: Fingerprint,
    /// A copy made by copytruncate, found and read through the file it was
    /// copied from: never read on its own (its bytes were counted there).
    copy: bool,
    /// Modification time at the last read (seconds, nanoseconds): a file
    /// rewritten to exactly the size we read differs only there.
    mtime: (i64, i64),
    /// Since when the path no longer leads to this file.
    detached: Option<Instant>,
    /// Its share of the open-file budget (`None`: a copy read past it).
    _fd: Option<crate::fdlimit::Permit>,
}

impl Tracked {
    /// A file read from its start.
    fn new(
        id: FileId,
        path: PathBuf,
        file: File,
        fingerprint: Fingerprint,
        fd: Option<crate::fdlimit::Permit>,
    ) -> Self {
        Tracked {
            id,
            path,
            file,
            pos: 0,
            line_start: 0,
            pending: Vec::new(),
            state: LineState::Normal,
            fingerprint,
            recent: Vec::with_capacity(Fingerprint::MAX_LEN as usize),
            tail: Fingerprint::of(&[]),
            copy: false,
            mtime: (0, 0),
            detached: None,
            _fd: fd,
        }
    }

    /// Continues at `offset`, the start of a line.
    fn resume_at(&mut self, offset: u64) {
        self.pos = offset;
        self.line_start = offset;
        let k = offset.min(Fingerprint::MAX_LEN) as usize;
        self.recent.resize(k, 0);
        let n = read_exact_at(&self.file, &mut self.recent, offset - k as u64).unwrap_or(0);
        self.recent.truncate(n);
        self.tail = Fingerprint::of(&self.recent);
    }

    /// Remembers the last bytes of `data` (just read at the old `pos`), and
    /// the tail when a line ends at `data[line_end]`.
    fn remember(&mut self, data: &[u8], line_end: Option<usize>) {
        const K: usize = Fingerprint::MAX_LEN as usize;
        if let Some(j) = line_end {
            let upto = &data[..=j];
            self.tail = if upto.len() >= K {
                Fingerprint::of(&upto[upto.len() - K..])
            } else {
                let mut w = [0u8; K];
                let from = (K - upto.len()).min(self.recent.len());
                w[..from].copy_from_slice(&self.recent[self.recent.len() - from..]);
                w[from..from + upto.len()].copy_from_slice(upto);
                Fingerprint::of(&w[..from + upto.len()])
            };
        }
        if data.len() >= K {
            self.recent.clear();
            self.recent.extend_from_slice(&data[data.len() - K..]);
        } else {
            let drop = (self.recent.len() + data.len()).saturating_sub(K);
            self.recent.drain(..drop);
            self.recent.extend_from_slice(data);
        }
    }

    /// Where a file that was cut (`truncate -s`, then maybe written on)
    /// still holds what we read, head unchanged: lines before that point
    /// were counted, bytes after it are new. A cut that nothing was written
    /// after yet is read on from the cut itself, even mid-line (the line it
    /// cuts was counted whole), and also when it lies before the bytes we
    /// remember: the head is then the only evidence, but reading from the
    /// start would count again every line up to the cut. A file rewritten
    /// past the cut is read on from the last line end it shares with what we
    /// read. `None`: a new generation, read from its start.
    fn kept_prefix(&self) -> Option<u64> {
        let size = self.file.metadata().ok()?.len();
        let start = self.pos - self.recent.len() as u64;
        let end = size.min(self.pos);
        let head_kept = |at: u64| {
            start == 0
                || (at >= self.fingerprint.len
                    && Fingerprint::read(&self.file, self.fingerprint.len).ok()
                        == Some(self.fingerprint))
        };
        if end <= start {
            return (size < self.pos && size > 0 && start > 0 && head_kept(size)).then_some(size);
        }
        let mut buf = [0u8; Fingerprint::MAX_LEN as usize];
        let n = read_exact_at(&self.file, &mut buf[..(end - start) as usize], start).ok()?;
        let same = buf[..n]
            .iter()
            .zip(&self.recent)
            .take_while(|(a, b)| a == b)
            .count();
        let at = if size < self.pos && same as u64 == end - start {
            end
        } else {
            start + memrchr(b'\n', &self.recent[..same])? as u64 + 1
        };
        head_kept(at).then_some(at)
    }

    /// Whether the file still holds the bytes we read last, before `pos`
    /// (a failed read proves nothing: then it is taken as intact).
    fn intact(&self) -> bool {
        let mut buf = [0u8; Fingerprint::MAX_LEN as usize];
        let k = self.recent.len();
        read_exact_at(&self.file, &mut buf[..k], self.pos - k as u64)
            .map_or(true, |n| buf[..n] == self.recent[..])
    }
}

/// Counting state shared by every file of the log.
struct Scanner {
    metrics: LogMetrics,
    levels: LevelMatcher,
    patterns: Vec<LinePattern>,
    max_line_bytes: usize,
    buf: Vec<u8>,
    /// Bytes read since start (to tell a busy cycle from an idle one).
    bytes_read: u64,
}

impl Scanner {
    /// Counts a block of complete lines (each ends with `\n`).
    fn block(&mut self, b: &[u8]) {
        if b.len() <= self.max_line_bytes + 1 {
            self.scan(b);
            return;
        }
        // A line may be too long: cut such lines, keep the rest in runs.
        let (mut run, mut start) = (0, 0);
        for nl in memchr_iter(b'\n', b) {
            if nl - start > self.max_line_bytes {
                self.scan(&b[run..start]);
                self.scan(&b[start..start + self.max_line_bytes]);
                self.metrics.long_line();
                run = nl + 1;
            }
            start = nl + 1;
        }
        self.scan(&b[run..]);
    }

    /// Classifies and matches `b`: complete lines, or one cut line.
    fn scan(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        self.metrics.lines(self.levels.scan(b));
        for (p, pm) in self
            .patterns
            .iter_mut()
            .zip(self.metrics.patterns.iter_mut())
        {
            p.for_each_matching_line(b, |hay, l| pm.matched(hay, l));
        }
    }

    /// Feeds bytes read at the end of `t`.
    fn feed(&mut self, t: &mut Tracked, data: &[u8]) {
        let line_end = memrchr(b'\n', data);
        if let Some(j) = line_end {
            t.line_start = t.pos + j as u64 + 1;
        }
        t.remember(data, line_end);
        t.pos += data.len() as u64;
        let mut rest = data;
        if !t.pending.is_empty() || t.state != LineState::Normal {
            let Some(i) = memchr(b'\n', rest) else {
                self.append(t, rest);
                return;
            };
            self.append(t, &rest[..i]);
            self.finish_line(t);
            rest = &rest[i + 1..];
        }
        match memrchr(b'\n', rest) {
            Some(j) => {
                self.block(&rest[..=j]);
                self.append(t, &rest[j + 1..]);
            }
            None => self.append(t, rest),
        }
    }

    /// Adds bytes of the current line, within `max_line_bytes`.
    fn append(&mut self, t: &mut Tracked, bytes: &[u8]) {
        if t.state != LineState::Normal || bytes.is_empty() {
            return;
        }
        let room = self.max_line_bytes - t.pending.len();
        if bytes.len() > room {
            t.pending.extend_from_slice(&bytes[..room]);
            t.state = LineState::Overlong;
        } else {
            t.pending.extend_from_slice(bytes);
        }
    }

    /// Counts the current line (its `\n` arrived, or the file is let go).
    fn finish_line(&mut self, t: &mut Tracked) {
        match t.state {
            LineState::Skip => {}
            LineState::Overlong => {
                let line = std::mem::take(&mut t.pending);
                self.scan(&line);
                self.metrics.long_line();
                t.pending = line;
            }
            LineState::Normal if !t.pending.is_empty() => {
                let line = std::mem::take(&mut t.pending);
                self.scan(&line);
                t.pending = line;
            }
            LineState::Normal => {}
        }
        t.pending.clear();
        t.state = LineState::Normal;
    }

    /// Reads `t` from its position to EOF (within the budget); returns the
    /// bytes read.
    fn drain(&mut self, t: &mut Tracked) -> std::io::Result<u64> {
        let mut total = 0;
        let mut buf = std::mem::take(&mut self.buf);
        let result = loop {
            if total >= READ_BUDGET {
                break Ok(total);
            }
            match t.file.read_at(&mut buf, t.pos) {
                Ok(0) => break Ok(total),
                // Truncated and rewritten while we read (copytruncate under a
                // busy writer): these bytes may be the new content. Drop
                // them; the truncation check reads the old ones from the copy.
                Ok(_) if !t.intact() => break Ok(total),
                Ok(n) => {
                    total += n as u64;
                    self.bytes_read += n as u64;
                    self.metrics.read(n as u64);
                    self.feed(t, &buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.buf = buf;
        result
    }
}

/// A handle to stop a follower thread.
#[derive(Debug)]
pub struct Handle {
    stop: Arc<AtomicBool>,
    wake: SyncSender<()>,
    started: Receiver<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Handle {
    /// Waits until the first scan has placed every file at its start
    /// position (or the thread ended, or `timeout` passed).
    pub fn wait_started(&self, timeout: Duration) {
        let _ = self.started.recv_timeout(timeout);
    }

    /// Asks the follower to read what is left, save its positions and end;
    /// waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.wake.try_send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts following `source` on its own thread.
pub fn spawn(
    source: LogSource,
    metrics: LogMetrics,
    storage: Option<&Path>,
) -> std::io::Result<Handle> {
    let (wake, rx) = std::sync::mpsc::sync_channel(1);
    let stop = Arc::new(AtomicBool::new(false));
    let checkpoint = storage.map(|s| source.checkpoint_path(s));
    let follower = Follower::new(source, metrics, checkpoint);
    let (stop2, wake2) = (stop.clone(), wake.clone());
    let (started_tx, started) = std::sync::mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name(format!("follow-{}", follower.source.name))
        .spawn(move || follower.run(rx, wake2, stop2, started_tx))?;
    Ok(Handle {
        stop,
        wake,
        started,
        thread: Some(thread),
    })
}

/// The state of one log's follower thread.
struct Follower {
    source: LogSource,
    scanner: Scanner,
    files: Vec<Tracked>,
    /// Positions loaded at start-up and not yet matched to a file.
    saved: HashMap<FileId, Saved>,
    checkpoint: Option<PathBuf>,
    /// Whether the first scan is done: later files are read from their start.
    started: bool,
    /// Whether positions from an earlier run were loaded: then `start_at`
    /// does not apply, every file without a position is new.
    resumed: bool,
    /// Whether the positions file was cut or damaged: every file's start
    /// is then named in the log.
    damaged: bool,
    /// Paths already reported as unreadable (reported again once fixed).
    unreadable: HashSet<PathBuf>,
    /// Paths already reported as not followed for lack of descriptors.
    limited: HashSet<PathBuf>,
    /// Matching files not followed for lack of descriptors, at the last rescan.
    skipped: usize,
    /// Directories already reported as unlistable.
    unlistable: HashSet<PathBuf>,
    /// Directories whose inotify watch failed: polled every `poll_interval`.
    unwatchable: HashSet<PathBuf>,
    /// Renames in the watched directories (with inotify on).
    renames: Option<super::renames::Renames>,
    /// Files renamed away from a followed path: rotated generations, never
    /// copies, however alike their bytes (a log of repeated lines makes
    /// every generation look like a copy of the live file).
    rotated_away: HashSet<FileId>,
    /// What the globs matched at the last rescan (literal paths even when missing).
    globbed: BTreeSet<PathBuf>,
    watched: HashSet<PathBuf>,
    dirty: bool,
}

impl Follower {
    fn new(source: LogSource, metrics: LogMetrics, checkpoint: Option<PathBuf>) -> Self {
        let patterns = source
            .patterns
            .iter()
            .map(|p| LinePattern::new(&p.regex))
            .collect();
        let scanner = Scanner {
            levels: LevelMatcher::new(&source.levels),
            patterns,
            max_line_bytes: source.max_line_bytes,
            buf: vec![0; READ_SIZE],
            bytes_read: 0,
            metrics,
        };
        Follower {
            source,
            scanner,
            files: Vec::new(),
            saved: HashMap::new(),
            checkpoint,
            started: false,
            resumed: false,
            damaged: false,
            unreadable: HashSet::new(),
            limited: HashSet::new(),
            skipped: 0,
            unlistable: HashSet::new(),
            unwatchable: HashSet::new(),
            renames: None,
            rotated_away: HashSet::new(),
            globbed: BTreeSet::new(),
            watched: HashSet::new(),
            dirty: false,
        }
    }

    fn run(
        mut self,
        rx: Receiver<()>,
        wake: SyncSender<()>,
        stop: Arc<AtomicBool>,
        started: SyncSender<()>,
    ) {
        let flags = Arc::new(AtomicU8::new(0));
        let touched = Arc::new(Mutex::new(Vec::new()));
        let mut watcher = match self.source.watch {
            WatchMode::Inotify => self.watcher(flags.clone(), touched.clone(), wake),
            WatchMode::Poll => None,
        };
        if watcher.is_some() {
            self.renames = super::renames::Renames::new()
                .map_err(|e| tracing::warn!(log = %self.source.name, error = %e, "cannot watch renames; a file rotated away before a poll saw it is lost"))
                .ok();
        }
        self.load_checkpoint();
        self.rescan(watcher.as_mut());
        self.recover_rotated_while_down();
        self.started = true;
        let mut more = self.read_all(Pass::All);
        let _ = started.send(());
        let mut next_poll = Instant::now() + self.source.poll_interval;
        let mut next_save = Instant::now();
        // Start of the previous cycle, when it read data (for coalescing).
        let mut coalesce_from: Option<Instant> = None;
        // Since when every cycle has read data, and when data last came.
        let mut streak: Option<Instant> = None;
        let mut last_data = Instant::now();
        // While a writer is busy, polling every BUSY_CYCLE replaces inotify:
        // inotify would cost the writer an event per write(2) and us a
        // wake-up per event.
        let mut fast = false;
        while !stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= next_save {
                self.save();
                next_save = now + CHECKPOINT_INTERVAL;
            }
            // With data left behind a read budget, only look for wake-ups.
            let wait = if more {
                Duration::ZERO
            } else if fast {
                BUSY_CYCLE
            } else {
                next_poll.min(next_save).saturating_duration_since(now)
            };
            match rx.recv_timeout(wait) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // A new or renamed file is looked at now: it may be rotated
            // away before the next cycle.
            if let Some(t) =
                coalesce_from.filter(|_| flags.load(Ordering::Acquire) & WAKE_RESCAN == 0)
            {
                let left = BUSY_CYCLE.saturating_sub(t.elapsed());
                if !left.is_zero() {
                    std::thread::sleep(left);
                }
            }
            let woke = flags.swap(0, Ordering::AcqRel);
            let touched = std::mem::take(&mut *touched.lock().unwrap_or_else(|e| e.into_inner()));
            let now = Instant::now();
            let sweep = now >= next_poll;
            // Without inotify, a renamed or replaced file is noticed by a
            // stat of each followed path every cycle (the new file must be
            // read before anything else happens to it, e.g. copytruncate).
            let rescan = woke & WAKE_RESCAN != 0
                || sweep
                || self.renamed_away()
                || (fast && self.paths_moved());
            if rescan {
                self.rescan(if fast { None } else { watcher.as_mut() });
            }
            let before = self.scanner.bytes_read;
            // inotify said which files changed: read those alone, so a line
            // costs the same with 10 000 idle files as with one. A name we
            // do not follow by (a symlink's target, another file of the
            // directory) reads every live file.
            let known = || {
                touched.iter().all(|p| {
                    self.files
                        .iter()
                        .any(|t| t.path.as_os_str() == p.as_os_str())
                })
            };
            let pass = if sweep || more || watcher.is_none() || woke & WAKE_ALL != 0 {
                Pass::All
            } else if fast || rescan || !known() {
                Pass::Live
            } else {
                Pass::Changed(&touched)
            };
            more = self.read_all(pass);
            if sweep {
                next_poll = Instant::now() + self.poll_period(now, fast, watcher.is_some());
            }
            let got = self.scanner.bytes_read > before;
            coalesce_from = got.then_some(now);
            if got {
                last_data = now;
                streak.get_or_insert(now);
            } else {
                streak = None;
            }
            let Some(w) = watcher.as_mut() else { continue };
            if !fast
                && self.files.iter().filter(|t| t.detached.is_none()).count() <= FAST_MAX_FILES
                && streak.is_some_and(|s| now.duration_since(s) >= FAST_AFTER)
            {
                use notify::Watcher;
                for dir in self.watched.drain() {
                    let _ = w.unwatch(&dir);
                }
                fast = true;
                next_poll = now + FAST_RESCAN;
                tracing::debug!(log = %self.source.name, "busy writer: polling instead of inotify");
            } else if fast && now.duration_since(last_data) >= FAST_IDLE {
                fast = false;
                self.rescan(Some(w));
                next_poll = now + self.source.poll_interval;
                tracing::debug!(log = %self.source.name, "writer idle: back to inotify");
            }
        }
        self.read_all(Pass::All);
        self.dirty = true;
        self.save();
    }

    /// Time to the next full pass (rescan and read of every file) that
    /// started at `began`. With inotify on every directory the pass is only
    /// a safety net: it is spaced to cost at most 0.5 % of a core, however
    /// many files there are.
    fn poll_period(&self, began: Instant, fast: bool, inotify: bool) -> Duration {
        if fast {
            return FAST_RESCAN;
        }
        let period = self.source.poll_interval;
        if !inotify || !self.unwatchable.is_empty() {
            return period;
        }
        period.max(began.elapsed() * 200)
    }

    /// An inotify watcher that sets `flags` and pokes the thread.
    fn watcher(
        &self,
        flags: Arc<AtomicU8>,
        touched: Arc<Mutex<Vec<PathBuf>>>,
        wake: SyncSender<()>,
    ) -> Option<notify::RecommendedWatcher> {
        use notify::event::{AccessKind, EventKind, ModifyKind};
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
                        WAKE_DATA
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
                tracing::warn!(log = %self.source.name, error = %e, "inotify unavailable; polling only");
                None
            }
        }
    }

    fn load_checkpoint(&mut self) {
        let Some(path) = &self.checkpoint else { return };
        match checkpoint::load(path) {
            Ok(saved) => {
                // We ran before: files without a position appeared while we
                // were down, and their lines count.
                self.resumed = path.exists();
                self.saved = saved;
            }
            Err(e) => {
                tracing::warn!(log = %self.source.name, error = %e, "ignoring unusable positions file");
                self.scanner.metrics.checkpoint_failed();
                self.damaged = matches!(e, checkpoint::CheckpointError::Damaged { .. });
            }
        }
    }

    fn save(&mut self) {
        if !self.dirty {
            return;
        }
        let Some(path) = &self.checkpoint else { return };
        let entries: Vec<(FileId, Saved)> = self
            .files
            .iter()
            // A deleted file can never be found again, and its inode may be
            // given to a new file (a copy made while we are down), which
            // would then inherit the dead file's position.
            .filter(|t| t.detached.is_none() || !unlinked(&t.file))
            .map(|t| {
                (
                    t.id,
                    Saved {
                        offset: t.line_start,
                        fingerprint: t.fingerprint,
                        tail: t.tail,
                        copy: t.copy,
                        path: t.path.clone(),
                    },
                )
            })
            .collect();
        match checkpoint::save(path, entries.iter().map(|(id, s)| (*id, s))) {
            Ok(()) => self.dirty = false,
            Err(e) => {
                tracing::warn!(log = %self.source.name, error = %e, "cannot save positions; will retry");
                self.scanner.metrics.checkpoint_failed();
            }
        }
    }

    /// Matches the globs against the filesystem: new files are opened,
    /// files no longer reachable by any path are marked detached.
    fn rescan(&mut self, watcher: Option<&mut notify::RecommendedWatcher>) {
        let found = crate::fsglob::expand(&self.source.paths, &self.source.exclude);
        // inotify drops the watch of a deleted directory: forget it, so it
        // is watched again when it comes back.
        let name = &self.source.name;
        self.watched.retain(|d| {
            let there = d.is_dir();
            if !there {
                tracing::warn!(log = %name, dir = %d.display(), "log directory vanished; waiting for it to come back");
            }
            there
        });
        if let Some(w) = watcher {
            use notify::Watcher;
            for dir in &found.dirs {
                if self.watched.contains(dir) {
                    continue;
                }
                match w.watch(dir, notify::RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        self.watched.insert(dir.clone());
                        if self.unwatchable.remove(dir) {
                            tracing::info!(log = %self.source.name, dir = %dir.display(), "watching log directory with inotify again");
                        }
                    }
                    // Not there (yet): nothing to watch, nothing failed.
                    Err(_) if !dir.is_dir() => {}
                    Err(e) => {
                        if self.unwatchable.insert(dir.clone()) {
                            self.scanner.metrics.watch_failed();
                            tracing::warn!(log = %self.source.name, dir = %dir.display(), error = %e, poll_interval = ?self.source.poll_interval, "cannot watch log directory with inotify (fs.inotify.max_user_watches?); polling it instead");
                        }
                    }
                }
            }
            self.unwatchable.retain(|d| found.dirs.contains(d));
            self.scanner.metrics.unwatched(self.unwatchable.len());
        }
        if let Some(r) = &mut self.renames {
            for dir in &found.dirs {
                // Best effort: the inotify watch above is what is reported.
                let _ = r.watch(dir);
            }
        }
        for (dir, e) in &found.failed {
            self.scanner.metrics.discovery_failed();
            if self.unlistable.insert(dir.clone()) {
                tracing::warn!(log = %self.source.name, dir = %dir.display(), error = %e, "cannot list log directory; keeping its files and retrying");
            }
        }
        self.unlistable.retain(|d| {
            let failing = found.failed.iter().any(|(f, _)| f == d);
            if !failing {
                tracing::info!(log = %name, dir = %d.display(), "log directory listable again");
            }
            failing
        });
        self.skipped = 0;
        // By identity: a linear search per path made a rescan O(files²).
        let index: HashMap<FileId, usize> = self
            .files
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id, i))
            .collect();
        let mut seen = HashSet::new();
        // Paths whose stat failed: what they lead to is unknown, not gone.
        let mut unknown = HashSet::new();
        for path in &found.files {
            let meta = match std::fs::metadata(path) {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    self.unreadable(path, &e);
                    unknown.insert(path);
                    continue;
                }
            };
            let id = FileId::of(&meta);
            if let Some(&i) = index.get(&id) {
                let t = &mut self.files[i];
                if t.path != *path {
                    t.path = path.clone();
                    self.dirty = true;
                }
                t.detached = None;
                seen.insert(id);
                continue;
            }
            if let Some(id) = self.open(path) {
                seen.insert(id);
            }
        }
        for t in &mut self.files {
            if t.detached.is_none()
                && !seen.contains(&t.id)
                && !unknown.contains(&t.path)
                && !found.unknown(&t.path)
            {
                t.detached = Some(Instant::now());
                self.scanner.metrics.rotated();
                tracing::info!(log = %self.source.name, path = %t.path.display(), "file rotated or removed; reading it to its end");
            }
        }
        self.scanner.metrics.files_followed(self.files.len());
        self.scanner.metrics.files_skipped(self.skipped);
        self.globbed = found.files;
    }

    /// Follows files renamed away from a path of the globs that were never
    /// seen there (created and rotated away between two looks) under their
    /// new name, from their start. Returns whether a followed path changed.
    fn renamed_away(&mut self) -> bool {
        let Some(r) = &mut self.renames else {
            return false;
        };
        let mut renamed = Vec::new();
        r.drain(&mut renamed);
        let mut any = false;
        for (from, to) in renamed {
            if !self.globbed.contains(&from) {
                continue;
            }
            any = true;
            let Ok(meta) = std::fs::metadata(&to) else {
                continue;
            };
            let id = FileId::of(&meta);
            self.rotated_away(id);
            if self.globbed.contains(&to) {
                continue;
            }
            if !meta.is_file() || self.files.iter().any(|t| t.id == id) {
                continue;
            }
            if self.open(&to) != Some(id) {
                continue;
            }
            if let Some(t) = self.files.iter_mut().find(|t| t.id == id) {
                t.detached = Some(Instant::now());
                self.scanner.metrics.rotated();
                tracing::info!(log = %self.source.name, from = %from.display(), path = %to.display(), "file rotated away before it was seen; reading it from its new name");
            }
        }
        any
    }

    /// Whether a followed path now leads to another file, or to none; or
    /// the old path of a rotated file leads to a file not followed yet (the
    /// new file of a rename + create: found now, not at the next rescan,
    /// when it may already be rotated away itself).
    fn paths_moved(&self) -> bool {
        let live: HashSet<&Path> = self
            .files
            .iter()
            .filter(|t| t.detached.is_none())
            .map(|t| t.path.as_path())
            .collect();
        let mut old = HashSet::new();
        self.files.iter().any(|t| {
            if t.detached.is_none() {
                return std::fs::metadata(&t.path).map_or(true, |m| FileId::of(&m) != t.id);
            }
            if live.contains(t.path.as_path()) || !old.insert(t.path.as_path()) {
                return false;
            }
            std::fs::metadata(&t.path)
                .is_ok_and(|m| m.is_file() && !self.files.iter().any(|f| f.id == FileId::of(&m)))
        })
    }

    /// A matching file not followed for lack of descriptors: said once per
    /// path, counted in a gauge until it is followed.
    fn skip(&mut self, path: &Path, why: &str) {
        self.skipped += 1;
        if self.limited.insert(path.to_path_buf()) {
            tracing::warn!(log = %self.source.name, path = %path.display(), reason = why, limit = crate::fdlimit::files_budget(), "not following file: open-file limit reached; raise LimitNOFILE");
        }
    }

    fn unreadable(&mut self, path: &Path, e: &std::io::Error) {
        self.scanner.metrics.read_failed();
        if self.unreadable.insert(path.to_path_buf()) {
            tracing::warn!(log = %self.source.name, path = %path.display(), error = %e, "cannot open log file; will retry");
        }
    }

    /// Starts following the file at `path`; returns its identity.
    fn open(&mut self, path: &Path) -> Option<FileId> {
        let Some(fd) = crate::fdlimit::Permit::acquire() else {
            self.skip(path, "open-file budget used up");
            return None;
        };
        let (file, meta) = match open_regular(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                    self.skip(path, "too many open files");
                }
                self.unreadable(path, &e);
                return None;
            }
        };
        if self.unreadable.remove(path) | self.limited.remove(path) {
            tracing::info!(log = %self.source.name, path = %path.display(), "log file readable again");
        }
        let id = FileId::of(&meta);
        if self.files.iter().any(|t| t.id == id) {
            return Some(id);
        }
        let size = meta.len();
        let head = Fingerprint::read(&file, Fingerprint::MAX_LEN).ok()?;
        let mut t = Tracked::new(id, path.to_path_buf(), file, head, Some(fd));
        if let Some(s) = self.saved.remove(&id) {
            let same = Fingerprint::read(&t.file, s.fingerprint.len).ok() == Some(s.fingerprint);
            if s.copy {
                // Rewritten or not, its bytes are the original's.
                t.copy = true;
                t.resume_at(size);
            } else if same && size >= s.offset && s.tail.ends_at(&t.file, s.offset) {
                t.resume_at(s.offset);
                // Followed before the stop: maybe renamed since, never a copy
                // (identical lines make it look like one of the live file).
                self.rotated_away(id);
            } else {
                self.scanner.metrics.truncated();
                tracing::info!(log = %self.source.name, path = %path.display(), "file truncated or replaced while stopped; reading from its start");
                // copytruncate while stopped: the rest may be in the copy.
                if let Some((copy_path, file, copy_id)) =
                    self.find_copy(path, s.fingerprint, s.offset, s.tail)
                {
                    let mut c = Tracked::new(
                        copy_id,
                        copy_path,
                        file,
                        s.fingerprint,
                        crate::fdlimit::Permit::acquire(),
                    );
                    c.resume_at(s.offset);
                    self.read_copy(c);
                }
            }
        } else if !self.started && !self.resumed && self.source.start_at == StartAt::End && size > 0
        {
            t.resume_at(size);
            let mut last = [0u8; 1];
            if t.file.read_at(&mut last, size - 1).ok() == Some(1) && last[0] != b'\n' {
                t.state = LineState::Skip;
            }
        }
        if self.damaged && !self.started {
            tracing::warn!(log = %self.source.name, path = %path.display(), start_at = ?self.source.start_at, "position lost with the damaged positions file; start_at applies");
        }
        tracing::debug!(log = %self.source.name, path = %path.display(), offset = t.pos, "following file");
        self.files.push(t);
        self.dirty = true;
        Some(id)
    }

    /// Remembers that file `id` left a followed path by a rename (while we
    /// ran or were stopped): a rotated generation, never a copy.
    fn rotated_away(&mut self, id: FileId) {
        if self.rotated_away.len() >= ROTATED_AWAY_MAX {
            self.rotated_away.clear();
        }
        self.rotated_away.insert(id);
    }

    /// Positions whose file left the globs while we were stopped (rotated):
    /// find it by identity next to its old path and read what is left.
    fn recover_rotated_while_down(&mut self) {
        for (id, s) in std::mem::take(&mut self.saved) {
            // A copy left alone is found again by the copytruncate it serves.
            if s.copy {
                continue;
            }
            let Some(dir) = s.path.parent() else { continue };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(meta) = e.metadata() else { continue };
                if !meta.is_file() || FileId::of(&meta) != id {
                    continue;
                }
                let Some(fd) = crate::fdlimit::Permit::acquire() else {
                    break;
                };
                let Ok((file, meta)) = open_regular(&e.path()) else {
                    break;
                };
                if FileId::of(&meta) != id
                    || Fingerprint::read(&file, s.fingerprint.len).ok() != Some(s.fingerprint)
                    || meta.len() < s.offset
                    || !s.tail.ends_at(&file, s.offset)
                {
                    break;
                }
                tracing::info!(log = %self.source.name, path = %e.path().display(), "reading the rest of a file rotated while stopped");
                let mut t = Tracked::new(id, e.path(), file, s.fingerprint, Some(fd));
                t.resume_at(s.offset);
                t.detached = Some(Instant::now());
                self.rotated_away(id);
                self.files.push(t);
                break;
            }
        }
    }

    /// Reads the files of `pass`; lets go of detached files that are done.
    /// Returns true when a file stopped at its read budget with more to read.
    fn read_all(&mut self, pass: Pass) -> bool {
        let mut more = false;
        let mut lag = 0u64;
        let mut i = 0;
        while i < self.files.len() {
            let t = &self.files[i];
            let cold = t.detached.is_some_and(|d| d.elapsed() > DETACHED_HOT);
            let skip = match pass {
                Pass::All => false,
                Pass::Live => cold,
                Pass::Changed(paths) => match t.detached {
                    None => !paths.iter().any(|p| p.as_os_str() == t.path.as_os_str()),
                    Some(_) => cold,
                },
            };
            if skip {
                i += 1;
                continue;
            }
            let (read, size) = self.read_one(i);
            let t = &mut self.files[i];
            lag += size.saturating_sub(t.pos);
            if read > 0 {
                self.dirty = true;
            }
            more |= read >= READ_BUDGET;
            let done = t.detached.is_some_and(|d| d.elapsed() >= ROTATE_WAIT) && read == 0;
            if done {
                let mut t = self.files.swap_remove(i);
                self.scanner.finish_line(&mut t);
                self.dirty = true;
                tracing::debug!(log = %self.source.name, path = %t.path.display(), "stopped following rotated file");
                continue;
            }
            i += 1;
        }
        self.scanner.metrics.files_followed(self.files.len());
        // The lag of a partial pass would leave out the files not read.
        if matches!(pass, Pass::All) {
            self.scanner.metrics.lag(lag);
        }
        more
    }

    /// Reads file `i` to EOF, handling truncation first; returns (bytes read, size).
    fn read_one(&mut self, i: usize) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let t = &mut self.files[i];
        let (size, mtime) = match t.file.metadata() {
            Ok(m) => (m.len(), (m.mtime(), m.mtime_nsec())),
            Err(e) => {
                tracing::warn!(log = %self.source.name, path = %t.path.display(), error = %e, "stat failed");
                self.scanner.metrics.read_failed();
                return (0, 0);
            }
        };
        if t.pos == 0
            && size > 0
            && !t.copy
            && !self.rotated_away.contains(&t.id)
            && self.is_copy(&self.files[i], size)
        {
            // Seen before the truncation of its original (maybe while `cp`
            // still wrote it): its bytes are counted there, and the rest
            // read from here when the original truncates.
            let t = &mut self.files[i];
            tracing::info!(log = %self.source.name, path = %t.path.display(), "a copy of a followed file (copytruncate); not read on its own");
            t.copy = true;
        }
        let t = &mut self.files[i];
        if t.copy {
            // Rewritten in place by the next `cp` (same inode): its bytes
            // are those of the live file, read there or when it truncates.
            if size != t.pos {
                t.resume_at(size);
                self.dirty = true;
            }
            return (0, size);
        }
        let changed = size != t.pos || mtime != t.mtime;
        t.mtime = mtime;
        // Nothing new: a full pass over 10 000 idle files costs one fstat
        // each, not an fstat and a read.
        if !changed {
            return (0, size);
        }
        if self.truncated(i, size) {
            self.handle_truncation(i);
        }
        let t = &mut self.files[i];
        match self.scanner.drain(t) {
            Ok(n) => (n, size.max(t.pos)),
            Err(e) => {
                tracing::warn!(log = %self.source.name, path = %t.path.display(), error = %e, "read failed; will retry");
                self.scanner.metrics.read_failed();
                (0, size)
            }
        }
    }

    /// Whether file `i` shrank below what we read, or its head changed.
    /// Refreshes the fingerprint of a file that grew past a short head.
    fn truncated(&mut self, i: usize, size: u64) -> bool {
        let t = &mut self.files[i];
        if size < t.pos {
            return true;
        }
        let mut buf = [0u8; Fingerprint::MAX_LEN as usize];
        let Ok(n) = read_head(&t.file, &mut buf) else {
            return false;
        };
        let head = &buf[..n];
        let old_len = t.fingerprint.len as usize;
        if head.len() < old_len || Fingerprint::of(&head[..old_len]) != t.fingerprint || !t.intact()
        {
            return true;
        }
        if head.len() > old_len {
            t.fingerprint = Fingerprint::of(head);
        }
        false
    }

    /// copytruncate: lines written after our last read may survive in the
    /// copy; read them there, then restart the file from its beginning.
    fn handle_truncation(&mut self, i: usize) {
        self.scanner.metrics.truncated();
        let t = &self.files[i];
        let copy = self.find_copy(&t.path, t.fingerprint, t.line_start, t.tail);
        tracing::info!(log = %self.source.name, path = %t.path.display(), copy = ?copy.as_ref().map(|c| c.0.display().to_string()), "file truncated; reading from its start");
        let copied = copy.is_some();
        if let Some((copy_path, file, id)) = copy {
            // The copy holds the same bytes we read, then the rest.
            let t = &mut self.files[i];
            let mut c = Tracked::new(
                id,
                copy_path,
                file,
                t.fingerprint,
                crate::fdlimit::Permit::acquire(),
            );
            c.pos = t.pos;
            c.line_start = t.line_start;
            c.pending = std::mem::take(&mut t.pending);
            c.state = t.state;
            c.recent.clone_from(&t.recent);
            c.tail = t.tail;
            self.read_copy(c);
        }
        let t = &mut self.files[i];
        self.scanner.finish_line(t);
        let kept = if copied { None } else { t.kept_prefix() };
        if let Some(at) = kept {
            tracing::info!(log = %self.source.name, path = %t.path.display(), offset = at, "file cut; reading on from there");
        }
        t.resume_at(kept.unwrap_or(0));
        t.fingerprint = Fingerprint::read(&t.file, Fingerprint::MAX_LEN).unwrap_or_default();
        self.dirty = true;
    }

    /// Reads copy `c` from its position to its end, then keeps it known at
    /// its end: a glob that matches it must not read it again.
    fn read_copy(&mut self, mut c: Tracked) {
        if let Err(e) = self.scanner.drain(&mut c) {
            tracing::warn!(log = %self.source.name, path = %c.path.display(), error = %e, "reading the copy failed");
        }
        self.scanner.finish_line(&mut c);
        if let Ok(m) = c.file.metadata() {
            c.resume_at(m.len());
        }
        c.fingerprint = Fingerprint::read(&c.file, Fingerprint::MAX_LEN).unwrap_or_default();
        c.copy = true;
        self.saved.remove(&c.id);
        self.dirty = true;
        match self.files.iter_mut().find(|f| f.id == c.id) {
            Some(known) => {
                c.path = std::mem::take(&mut known.path);
                c.detached = known.detached;
                *known = c;
            }
            None => {
                c.detached = Some(Instant::now());
                self.files.push(c);
            }
        }
    }

    /// Whether new file `c` (of `size` bytes) is a copy of a followed file:
    /// named like it plus a suffix, with its head, and with the bytes we
    /// read last from it (or, shorter, with the same bytes as it so far).
    fn is_copy(&self, c: &Tracked, size: u64) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let (Some(dir), Some(name)) = (c.path.parent(), c.path.file_name()) else {
            return false;
        };
        let name = name.as_bytes();
        self.files.iter().any(|live| {
            let live_name = live.path.file_name().map_or(&[][..], |n| n.as_bytes());
            !live.copy
                && live.pos > 0
                && name.len() > live_name.len()
                && name.starts_with(live_name)
                && live.path.parent() == Some(dir)
                && Fingerprint::read(&c.file, live.fingerprint.len).ok() == Some(live.fingerprint)
                && if size >= live.pos {
                    Fingerprint::of(&live.recent).ends_at(&c.file, live.pos)
                } else {
                    let mut buf = [0u8; Fingerprint::MAX_LEN as usize];
                    let k = size.min(Fingerprint::MAX_LEN) as usize;
                    read_exact_at(&live.file, &mut buf[..k], size - k as u64).ok() == Some(k)
                        && Fingerprint::of(&buf[..k]).ends_at(&c.file, size)
                }
        })
    }

    /// A sibling named like `path` plus a suffix (`app.log.1`,
    /// `app.log-20260101`) with the same `head` and, ending at offset `end`,
    /// the same `tail` bytes: the copy that copytruncate made of the file
    /// we read up to `end`. A known copy may have been copied into again
    /// (`cp` over an existing file keeps its inode), and a file found by a
    /// glob but not read yet may be the copy.
    fn find_copy(
        &self,
        path: &Path,
        head: Fingerprint,
        end: u64,
        tail: Fingerprint,
    ) -> Option<(PathBuf, File, FileId)> {
        let dir = path.parent()?;
        let name = path.file_name()?.to_string_lossy().into_owned();
        let mut best: Option<(std::time::SystemTime, PathBuf, File, FileId)> = None;
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let fname = e.file_name().to_string_lossy().into_owned();
            if fname == name || !fname.starts_with(&name) {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            let id = FileId::of(&meta);
            if !meta.is_file()
                || meta.len() < end
                || self
                    .files
                    .iter()
                    .any(|f| f.id == id && !f.copy && f.pos > 0)
                // A generation of its own (identical lines look alike).
                || self.rotated_away.contains(&id)
                || self.saved.get(&id).is_some_and(|s| !s.copy)
            {
                continue;
            }
            let Ok((file, meta)) = open_regular(&e.path()) else {
                continue;
            };
            if FileId::of(&meta) != id
                || Fingerprint::read(&file, head.len).ok() != Some(head)
                || !tail.ends_at(&file, end)
            {
                continue;
            }
            let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|b| mtime > b.0) {
                best = Some((mtime, e.path(), file, id));
            }
        }
        best.map(|(_, p, f, id)| (p, f, id))
    }
}

#[cfg(test)]
mod tests {
    //! The counts must not depend on how the bytes were split into reads:
    //! the same input fed at every split point and every read size (after
    //! ripgrep's `SearcherTester`) must give what a line-by-line model gives.

    use super::*;
    use crate::logs::matcher::trim_eol;

    const MAX_LINE: usize = 16;

    fn source() -> LogSource {
        let yaml = format!(
            r#"logs:
  - name: app
    paths: ['/nonexistent/app.log']
    max_line_bytes: {MAX_LINE}
    levels: {{error: [ERROR], warning: [WARN]}}
    patterns:
      - {{name: empty, regex: '^$'}}
      - {{name: end, regex: '$'}}
      - {{name: word_boundary, regex: '\b'}}
      - {{name: not_word_boundary, regex: '\B'}}
      - {{name: star, regex: 'x*'}}
      - {{name: text_start, regex: '\Ax'}}
      - {{name: text_end, regex: 'y\z'}}
      - {{name: nonmulti_end, regex: '(?-m)x$'}}
      - {{name: spanning, regex: 'x\s+y'}}
      - {{name: dot_all, regex: '(?s)E.*N'}}
      - {{name: cr, regex: 'x\r'}}
      - {{name: invalid_utf8, regex: '(?-u)\xff'}}
"#
        );
        let mut cfg = crate::config::parse(&yaml, Path::new("t.yaml")).unwrap();
        cfg.logs.remove(0)
    }

    /// The counts the follower exports for `input` fed in `chunks`.
    fn fed(source: &LogSource, chunks: &[&[u8]]) -> String {
        let metrics = crate::metrics::Metrics::new();
        let mut f = Follower::new(source.clone(), metrics.log(source), None);
        let file = tempfile::tempfile().unwrap();
        let mut t = Tracked::new(
            FileId { dev: 0, ino: 0 },
            PathBuf::new(),
            file,
            Fingerprint::default(),
            None,
        );
        for c in chunks {
            f.scanner.feed(&mut t, c);
        }
        // What truncation checks and checkpoints compare with the file.
        let input = chunks.concat();
        let k = Fingerprint::MAX_LEN as usize;
        assert_eq!(t.recent, input[input.len().saturating_sub(k)..]);
        let upto = &input[..t.line_start as usize];
        assert_eq!(
            t.tail,
            Fingerprint::of(&upto[upto.len().saturating_sub(k)..])
        );
        f.scanner.finish_line(&mut t);
        counts(&metrics.encode(false))
    }

    fn counts(text: &str) -> String {
        text.lines()
            .filter(|l| {
                l.starts_with("vitals_log_lines_total")
                    || l.starts_with("vitals_log_pattern_matches_total")
                    || l.starts_with("vitals_log_long_lines_total")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Line by line, each line alone: what the counts mean.
    fn model(source: &LogSource, input: &[u8]) -> Vec<String> {
        let (mut error, mut warning, mut other, mut long) = (0, 0, 0, 0);
        let mut matches = vec![0u64; source.patterns.len()];
        for line in input.split_inclusive(|&b| b == b'\n') {
            let content = line.strip_suffix(b"\n").unwrap_or(line);
            let seen = if content.len() > MAX_LINE {
                long += 1;
                &content[..MAX_LINE]
            } else {
                content
            };
            let has = |tok: &[u8]| seen.windows(tok.len()).any(|w| w == tok);
            if has(b"ERROR") {
                error += 1;
            } else if has(b"WARN") {
                warning += 1;
            } else {
                other += 1;
            }
            for (p, n) in source.patterns.iter().zip(&mut matches) {
                *n += u64::from(p.regex.is_match(trim_eol(seen)));
            }
        }
        let mut want = vec![
            format!("vitals_log_lines_total{{log=\"app\",level=\"error\"}} {error}"),
            format!("vitals_log_lines_total{{log=\"app\",level=\"warning\"}} {warning}"),
            format!("vitals_log_lines_total{{log=\"app\",level=\"other\"}} {other}"),
            format!("vitals_log_long_lines_total{{log=\"app\"}} {long}"),
        ];
        for (p, n) in source.patterns.iter().zip(matches) {
            want.push(format!(
                "vitals_log_pattern_matches_total{{log=\"app\",pattern=\"{}\"}} {n}",
                p.name
            ));
        }
        want
    }

    fn sorted(text: String) -> Vec<String> {
        let mut v: Vec<String> = text.lines().map(str::to_string).collect();
        v.sort();
        v
    }

    /// Every way of splitting `input` in two, and every read size.
    fn check_every_split(source: &LogSource, input: &[u8]) {
        let mut want = model(source, input);
        want.sort();
        let show = String::from_utf8_lossy(input);
        for k in 0..=input.len() {
            let got = sorted(fed(source, &[&input[..k], &input[k..]]));
            assert_eq!(got, want, "input {show:?} split at {k}");
        }
        for size in 1..=input.len().max(1) {
            let chunks: Vec<&[u8]> = input.chunks(size).collect();
            let got = sorted(fed(source, &chunks));
            assert_eq!(got, want, "input {show:?} read {size} bytes at a time");
        }
    }

    const PIECES: [&[u8]; 14] = [
        b"ERROR",
        b"WARN",
        b"x",
        b"y",
        b" ",
        b"\n",
        b"\n",
        b"\r\n",
        b"\r",
        b"E",
        b"N",
        b"\xff",
        b"\xc3\xa9",
        b"0123456789",
    ];

    #[test]
    fn counts_do_not_depend_on_read_boundaries() {
        let source = source();
        for fixed in [
            &b""[..],
            b"\n",
            b"\n\n\n",
            b"a\nb\nc\n",
            b"x\ny\n",
            b"ERROR x\r\nWARN y\n\nx \n y\n",
            b"a line much longer than sixteen bytes ERROR\nshort\n",
            "a line longer than the 256 bytes remembered "
                .repeat(7)
                .as_bytes(),
            b"unterminated x",
        ] {
            check_every_split(&source, fixed);
        }
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..40 {
            let mut input = Vec::new();
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            for i in 0..(s % 24) {
                input.extend_from_slice(PIECES[((s >> (i % 50)) as usize) % PIECES.len()]);
            }
            check_every_split(&source, &input);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn counts_do_not_depend_on_read_sizes(
            pieces in proptest::collection::vec(0..PIECES.len(), 0..40),
            cuts in proptest::collection::vec(0usize..64, 0..12),
        ) {
            let source = source();
            let input: Vec<u8> = pieces.iter().flat_map(|&i| PIECES[i].to_vec()).collect();
            let mut want = model(&source, &input);
            want.sort();
            let mut chunks = Vec::new();
            let mut rest = &input[..];
            for c in cuts {
                let (a, b) = rest.split_at(c.min(rest.len()));
                chunks.push(a);
                rest = b;
            }
            chunks.push(rest);
            proptest::prop_assert_eq!(sorted(fed(&source, &chunks)), want);
        }
    }
}
