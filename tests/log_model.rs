//! Randomized model test and stress test for the log follower: random
//! sequences of writes, rotations (rename, copytruncate into a new or an
//! existing copy, delete), FIFOs swapped onto the name, banners, and
//! restarts around each rotation style, against a model that knows how many
//! lines of each level were written.
//!
//! This file is long because the generator, the model and the driver are
//! one idea: an operation added to one must be added to the other two.

mod common;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

/// xorshift64*: deterministic, seeds printed on failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Lines written, by level, since the current exporter process started
/// counting.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Model {
    error: u64,
    warning: u64,
    other: u64,
}

/// The file under test and its writer (an `O_APPEND` descriptor kept open
/// across copytruncate, reopened after rename rotations like a real service).
struct Subject {
    dir: PathBuf,
    log: PathBuf,
    writer: File,
    rotations: u32,
    model: Model,
    /// Bytes written, in all files.
    written: u64,
    /// `written` when the current file was created.
    generation_start: u64,
    /// Every generation of the file starts with the same long header line.
    banner: bool,
    /// Every line is the same (a health check): every generation looks
    /// like a copy of every other.
    identical: bool,
}

/// A header longer than the 256 bytes of a head fingerprint.
const BANNER: &str = "# app 1.0 started; columns: ts level seq text; ts level seq text; ts level seq text; ts level seq text; ts level seq text; ts level seq text; ts level seq text; ts level seq text; ts level seq text; ts level seq text; ts level seq text; ts level seq text\n";

impl Subject {
    fn new(dir: &Path, banner: bool, identical: bool) -> Subject {
        let log = dir.join("app.log");
        let mut s = Subject {
            writer: open_append(&log),
            dir: dir.to_path_buf(),
            log,
            rotations: 0,
            model: Model::default(),
            written: 0,
            generation_start: 0,
            banner,
            identical,
        };
        // Present before the first start: not counted (`start_at: end`).
        if banner {
            s.writer.write_all(BANNER.as_bytes()).unwrap();
            s.written += BANNER.len() as u64;
        }
        s
    }

    /// A new generation of the file starts with the banner, a line of its
    /// own, then a line naming the generation: a file of nothing but the
    /// banner is byte for byte a prefix of every other generation, which
    /// the follower takes for a copy of the live file (see the README).
    fn start_generation(&mut self) {
        if self.banner {
            let head = format!("{BANNER}ts INFO generation {}\n", self.written);
            self.writer.write_all(head.as_bytes()).unwrap();
            self.written += head.len() as u64;
            self.model.other += 2;
        }
    }

    fn write(&mut self, rng: &mut Rng, n: u64) {
        let mut buf = Vec::new();
        for i in 0..n {
            if self.identical {
                self.model.other += 1;
                buf.extend_from_slice(b"GET /health 200\n");
                continue;
            }
            let pad = "x".repeat(rng.below(120) as usize);
            match rng.below(10) {
                0 => {
                    self.model.error += 1;
                    writeln!(buf, "ts ERROR seq={i} {pad}").unwrap();
                }
                1 | 2 => {
                    self.model.warning += 1;
                    writeln!(buf, "ts WARNING seq={i} {pad}").unwrap();
                }
                _ => {
                    self.model.other += 1;
                    writeln!(buf, "ts INFO seq={i} \u{1F600} {pad}").unwrap();
                }
            }
        }
        // Several writes: the follower may see any prefix of the batch.
        for chunk in buf.chunks(1 + rng.below(4096) as usize) {
            self.writer.write_all(chunk).unwrap();
        }
        self.written += buf.len() as u64;
    }

    /// logrotate `create`: rename away, new file, writer reopens.
    fn rename_rotate(&mut self) {
        self.rotations += 1;
        std::fs::rename(
            &self.log,
            self.dir.join(format!("app.log.{}", self.rotations)),
        )
        .unwrap();
        self.writer = open_append(&self.log);
        self.generation_start = self.written;
        self.start_generation();
    }

    /// Whether the current file got lines the follower may not have seen
    /// any byte of yet. Copytruncate then loses them by nature: the live
    /// file never showed them, and nothing ties the copy to it.
    fn unseen_generation(&self) -> bool {
        self.written > self.generation_start
    }

    /// logrotate `copytruncate`: copy (to a new file, or with `cp` into
    /// the same existing one, which keeps its inode), then truncate under
    /// the writer, which goes on writing.
    fn copytruncate(&mut self, into_existing: bool) {
        self.rotations += 1;
        let copy = if into_existing {
            self.dir.join("app.log.cp")
        } else {
            self.dir.join(format!("app.log.{}", self.rotations))
        };
        copytruncate(&self.log, &copy);
        self.start_generation();
    }

    /// Delete and recreate (the writer's old descriptor is dropped).
    fn delete_recreate(&mut self) {
        std::fs::remove_file(&self.log).unwrap();
        self.writer = open_append(&self.log);
        self.generation_start = self.written;
        self.start_generation();
    }

    /// A FIFO renamed onto the followed name (the old file is gone), then
    /// a new regular file, which the writer reopens.
    fn fifo_swap(&mut self) {
        let fifo = self.dir.join("fifo.tmp");
        use rustix::fs::{mknodat, FileType, Mode, CWD};
        mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).expect("mkfifo");
        std::fs::rename(&fifo, &self.log).unwrap();
        let fresh = self.dir.join("fresh.tmp");
        std::fs::write(&fresh, "").unwrap();
        std::fs::rename(&fresh, &self.log).unwrap();
        self.writer = open_append(&self.log);
        self.generation_start = self.written;
        self.start_generation();
    }

    /// Bytes in the live file beyond its banner: a file truncated and
    /// given the same banner again, with nothing after it, is the same
    /// bytes as before (no tailer can tell).
    fn live_lines_len(&self) -> u64 {
        let banner = if self.banner { BANNER.len() as u64 } else { 0 };
        std::fs::metadata(&self.log)
            .unwrap()
            .len()
            .saturating_sub(banner)
    }
}

fn open_append(p: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap()
}

fn counts(e: &Exporter) -> Model {
    let m = e.metrics();
    let v = |l: &str| {
        sample(
            &m,
            &format!("vitals_log_lines_total{{log=\"app\",level=\"{l}\"}}"),
        )
        .unwrap_or(-1.0) as u64
    };
    Model {
        error: v("error"),
        warning: v("warning"),
        other: v("other"),
    }
}

fn truncations(e: &Exporter) -> f64 {
    e.value("vitals_log_truncations_total{log=\"app\"}")
        .unwrap_or(0.0)
}

fn wait_model(e: &Exporter, want: Model, seed: u64, ops: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = counts(e);
    while Instant::now() < deadline {
        if got == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
        got = counts(e);
    }
    panic!(
        "seed {seed}: got {got:?}, want {want:?}\nops: {ops:?}\nlog:\n{}",
        e.log()
    );
}

/// The exporter's open-file limit in the fd-pressure runs: room for the
/// few files of the model, and few enough for a client to take the rest.
const NOFILE: u64 = 128;

fn start(logs: &Path, storage: &Path, glob: &str, nofile: Option<u64>) -> Exporter {
    let cfg = format!(
        "logs:\n  - name: app\n    paths: ['{}']\n",
        logs.join(glob).display()
    );
    Exporter::launch(
        &cfg,
        &["--storage.path", storage.to_str().unwrap()],
        tempfile::tempdir().unwrap(),
        |cmd| {
            if let Some(n) = nofile {
                limit_nofile(cmd, n);
            }
        },
    )
}

#[test]
fn random_operations_match_the_model() {
    // Seeds cycle through the globs (live name only, or the copies too)
    // and files with and without a banner.
    for seed in 1..=16u64 {
        model_run(seed, false, false);
    }
}

#[test]
fn identical_lines_match_the_model() {
    for seed in 1..=8u64 {
        model_run(seed, true, false);
    }
}

/// Rotations and writes while a client holds every descriptor the
/// exporter has left: files that cannot be opened are retried, never taken
/// for vanished or re-read.
#[test]
fn fd_pressure_matches_the_model() {
    let pressured = (1..=6u64)
        .filter(|&seed| {
            model_run(seed, false, true)
                .iter()
                .any(|op| op.contains("pressure("))
        })
        .count();
    // Else this test would not test what it says.
    assert!(
        pressured >= 3,
        "only {pressured} of 6 seeds put fds under pressure"
    );
}

/// Runs one seed; returns the operations done.
fn model_run(seed: u64, identical: bool, fd_pressure: bool) -> Vec<String> {
    let nofile = fd_pressure.then_some(NOFILE);
    {
        let glob = if seed % 2 == 0 { "app.log*" } else { "app.log" };
        let banner = seed % 4 >= 2;
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let logs = tempfile::tempdir().unwrap();
        let storage = tempfile::tempdir().unwrap();
        let mut s = Subject::new(logs.path(), banner, identical);
        let mut e = start(logs.path(), storage.path(), glob, nofile);
        let mut ops = vec![format!(
            "glob {glob}, banner {banner}, identical {identical}, fd pressure {fd_pressure}"
        )];
        let mut copied = false;
        for _ in 0..14 {
            let op = rng.below(if fd_pressure { 14 } else { 13 });
            match op {
                13 => {
                    // A client takes every descriptor left while the log is
                    // written and rotated; the new file cannot be opened
                    // until it lets go.
                    ops.push("settle+pressure(write, rename, write)".into());
                    wait_model(&e, s.model, seed, &ops);
                    s.generation_start = s.written;
                    let conns: Vec<std::net::TcpStream> = (0..NOFILE)
                        .filter_map(|_| std::net::TcpStream::connect(e.addr).ok())
                        .collect();
                    std::thread::sleep(Duration::from_millis(200));
                    let n = 1 + rng.below(200);
                    s.write(&mut rng, n);
                    s.rename_rotate();
                    let n = 1 + rng.below(200);
                    s.write(&mut rng, n);
                    std::thread::sleep(Duration::from_millis(500));
                    drop(conns);
                }
                0..=4 => {
                    let n = 1 + rng.below(400);
                    ops.push(format!("write {n}"));
                    s.write(&mut rng, n);
                }
                5 => {
                    // A file renamed out of the glob before the follower
                    // saw it is out of reach.
                    // And a truncation noticed only after the rename has its
                    // copy looked for next to the new name: let the follower
                    // see the truncation first (logrotate never does both).
                    if (glob == "app.log" && s.unseen_generation()) || copied {
                        ops.push("settle".into());
                        wait_model(&e, s.model, seed, &ops);
                        s.generation_start = s.written;
                    }
                    copied = false;
                    ops.push("rename".into());
                    s.rename_rotate();
                }
                6 | 7 if s.live_lines_len() == 0 => ops.push("(nothing to copytruncate)".into()),
                6 | 7 => {
                    if s.unseen_generation() {
                        ops.push("settle".into());
                        wait_model(&e, s.model, seed, &ops);
                        s.generation_start = s.written;
                    }
                    let existing = op == 7;
                    ops.push(format!("copytruncate (into existing {existing})"));
                    let seen = truncations(&e);
                    s.copytruncate(existing);
                    copied = true;
                    if s.identical {
                        // Written past the position read before the follower
                        // looks, the truncated file is byte for byte the one
                        // it read: only noticing the cut in time tells.
                        ops.push("wait for the truncation".into());
                        e.wait_value("vitals_log_truncations_total{log=\"app\"}", seen + 1.0);
                    }
                }
                8 => {
                    // Deleting a file nobody has opened loses its lines by
                    // nature; let the follower catch up first.
                    ops.push("settle+delete".into());
                    wait_model(&e, s.model, seed, &ops);
                    s.delete_recreate();
                }
                9 => {
                    // Likewise for the file the FIFO replaces.
                    ops.push("settle+fifo-swap".into());
                    wait_model(&e, s.model, seed, &ops);
                    s.fifo_swap();
                }
                _ => {
                    // Graceful restart; while down: writes and at most one
                    // rotation of any style, which the checkpoint must
                    // recover exactly.
                    ops.push("restart".into());
                    wait_model(&e, s.model, seed, &ops);
                    let status = e.stop();
                    assert!(status.success(), "seed {seed}: {status:?}\n{}", e.log());
                    s.model = Model::default();
                    let saved_bytes = s.live_lines_len();
                    let n = 1 + rng.below(200);
                    s.write(&mut rng, n);
                    match rng.below(5) {
                        0 => {
                            ops.push("rename-while-down".into());
                            s.rename_rotate();
                        }
                        // The copy is tied to the saved position by the
                        // bytes before it: a file empty at the stop has none.
                        // Identical lines: the truncated file, written past
                        // the saved position while down, is byte for byte
                        // the file we stopped in; no content tells them apart.
                        k @ (1 | 2) if saved_bytes > 0 && !s.identical => {
                            ops.push(format!(
                                "copytruncate-while-down (into existing {})",
                                k == 2
                            ));
                            s.copytruncate(k == 2);
                        }
                        3 => {
                            // Unread lines of a deleted file are lost by nature.
                            ops.push("delete-while-down".into());
                            s.model = Model::default();
                            s.delete_recreate();
                        }
                        _ => {}
                    }
                    s.generation_start = s.written;
                    let n = 1 + rng.below(200);
                    s.write(&mut rng, n);
                    e = start(logs.path(), storage.path(), glob, nofile);
                }
            }
        }
        wait_model(&e, s.model, seed, &ops);
        ops
    }
}

#[test]
fn stress_full_speed_writer_with_rotations() {
    let logs = tempfile::tempdir().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let mut s = Subject::new(logs.path(), false, false);
    let e = start(logs.path(), storage.path(), "app.log", None);
    let mut rng = Rng(0xdead_beef);
    let end = Instant::now() + Duration::from_secs(4);
    let mut batches = 0u64;
    let read = |e: &Exporter| {
        e.value("vitals_log_read_bytes_total{log=\"app\"}")
            .unwrap_or(0.0) as u64
    };
    while Instant::now() < end {
        s.write(&mut rng, 3000);
        batches += 1;
        match batches % 3 {
            0 => s.rename_rotate(),
            1 => {
                // See `unseen_generation`: the follower must have read a
                // byte of this file before it is copied and truncated.
                let deadline = Instant::now() + Duration::from_secs(20);
                while read(&e) <= s.generation_start {
                    assert!(
                        Instant::now() < deadline,
                        "no byte of the new file read: read {} written {} generation starts at {}; counts {:?} model {:?}\nlog:\n{}",
                        read(&e),
                        s.written,
                        s.generation_start,
                        counts(&e),
                        s.model,
                        e.log()
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                s.copytruncate(false);
            }
            _ => {}
        }
    }
    assert!(batches >= 10, "the writer managed only {batches} batches");
    wait_model(
        &e,
        s.model,
        0,
        &[format!("{batches} batches of 3000 lines")],
    );
    let total = s.model.error + s.model.warning + s.model.other;
    assert_eq!(total, batches * 3000);
}
