//! The binary under test and other child processes: spawning, waiting
//! for readiness, signals, limits, scrapes.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, setrlimit, Pid, Resource, Rlimit, Signal};

use super::{http_get, sample};

/// Path of the binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_vitals_exporter");

/// Polls `cond` every 10 ms until it holds or `timeout` passes; panics with `what`.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// A running exporter; killed on drop.
pub struct Exporter {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    log: Arc<Mutex<String>>,
}

impl Exporter {
    /// Writes `yaml` to a temp config and starts the exporter on 127.0.0.1:0.
    pub fn start(yaml: &str) -> Exporter {
        Self::start_with(yaml, &[], tempfile::tempdir().expect("tempdir"))
    }

    /// Like [`Exporter::start`], with extra flags and a chosen directory.
    pub fn start_with(yaml: &str, args: &[&str], dir: tempfile::TempDir) -> Exporter {
        Self::launch(yaml, args, dir, |_| {})
    }

    /// Like [`Exporter::start`], with soft and hard `RLIMIT_NOFILE` at `nofile`.
    pub fn start_nofile(yaml: &str, nofile: u64) -> Exporter {
        Self::launch(yaml, &[], tempfile::tempdir().expect("tempdir"), |cmd| {
            limit_nofile(cmd, nofile)
        })
    }

    /// Like [`Exporter::start_with`]; `setup` adjusts the command first.
    pub fn launch(
        yaml: &str,
        args: &[&str],
        dir: tempfile::TempDir,
        setup: impl FnOnce(&mut Command),
    ) -> Exporter {
        Self::launch_bin(Path::new(BIN), yaml, args, dir, setup)
    }

    /// Like [`Exporter::launch`], running the binary at `bin`.
    pub fn launch_bin(
        bin: &Path,
        yaml: &str,
        args: &[&str],
        dir: tempfile::TempDir,
        setup: impl FnOnce(&mut Command),
    ) -> Exporter {
        let config = dir.path().join("exporter.yaml");
        let default_storage = dir.path().join("data");
        let storage: &[&std::ffi::OsStr] = if args.contains(&"--storage.path") {
            &[]
        } else {
            &["--storage.path".as_ref(), default_storage.as_os_str()]
        };
        std::fs::write(&config, yaml).expect("write config");
        let mut cmd = Command::new(bin);
        cmd.arg("--config.file")
            .arg(&config)
            .args(["--web.listen-address", "127.0.0.1:0"])
            .args(args)
            .args(storage)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        setup(&mut cmd);
        // A binary copied just before may still be open for writing in a
        // child another test thread forked meanwhile (ETXTBSY): retry.
        let mut tries = 0;
        let mut child = loop {
            match cmd.spawn() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                r => break r.expect("start exporter"),
            }
        };
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // logfmt: `msg=listening address=…`; JSON: `"address":"…"`.
                if let Some(rest) = line.split("msg=listening address=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                } else if line.contains("\"message\":\"listening\"") {
                    if let Some(rest) = line.split("\"address\":\"").nth(1) {
                        let _ = tx.send(rest.split('"').next().unwrap_or("").to_string());
                    }
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                panic!("exporter did not start; log:\n{}", log.lock().unwrap());
            }
        };
        let e = Exporter {
            child,
            addr,
            dir,
            config,
            log,
        };
        // With TLS the test waits itself, with its own client.
        if !args.contains(&"--web.config.file") {
            wait_for("/-/ready", Duration::from_secs(30), || {
                e.get("/-/ready").0 == 200
            });
        }
        e
    }

    /// Everything the exporter logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// GET `path`; returns (status, content type, body).
    pub fn get(&self, path: &str) -> (u16, String, String) {
        http_get(self.addr, path, &[])
    }

    /// The `/metrics` body.
    pub fn metrics(&self) -> String {
        let (status, _, body) = self.get("/metrics");
        assert_eq!(status, 200, "metrics status");
        body
    }

    /// Value of one sample, `None` when absent.
    pub fn value(&self, series: &str) -> Option<f64> {
        sample(&self.metrics(), series)
    }

    /// Waits until `series` equals `want`.
    pub fn wait_value(&self, series: &str, want: f64) {
        let mut last = None;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            last = self.value(series);
            if last == Some(want) {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "{series} is {last:?}, want {want}\nmetrics:\n{}\nlog:\n{}",
            self.metrics(),
            self.log()
        );
    }

    /// Writes `yaml` as the configuration, sends SIGHUP and waits until the
    /// exporter logs that it reloaded.
    pub fn reload_with(&self, yaml: &str) {
        let before = self.log().matches("msg=\"configuration reloaded\"").count();
        std::fs::write(&self.config, yaml).unwrap();
        signal(self, libc::SIGHUP);
        wait_for("reload logged", Duration::from_secs(30), || {
            self.log().matches("msg=\"configuration reloaded\"").count() > before
        });
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        signal(self, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "exporter did not stop on SIGTERM"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with `args` to completion: (exit code, stdout, stderr).
pub fn run_bin(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `content` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// A child process killed (and reaped) on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn(cmd: &str, args: &[String], log: &Path) -> Proc {
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(cmd)
        .args(args)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (scripts/install-test-deps.sh installs it)"));
    Proc(child)
}

/// Sends `sig` (e.g. `libc::SIGHUP`) to the exporter.
pub fn signal(e: &Exporter, sig: i32) {
    let sig = Signal::from_named_raw(sig).expect("a named signal");
    let _ = kill_process(Pid::from_child(&e.child), sig);
}

/// Starts the command with `RLIMIT_NOFILE` = `nofile` (soft and hard).
pub fn limit_nofile(cmd: &mut Command, nofile: u64) {
    use std::os::unix::process::CommandExt;
    let lim = Rlimit {
        current: Some(nofile),
        maximum: Some(nofile),
    };
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(move || Ok(setrlimit(Resource::Nofile, lim)?));
    }
}

/// Runs the binary with `args`, killed when it has not finished after 20 s
/// (a hang on a FIFO or a slow peer is the bug these callers look for):
/// (exit code, stdout, stderr).
pub fn run_bin_within(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run binary");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{args:?} still running after 20 s; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Makes a FIFO at `path`.
pub fn mkfifo(path: &Path) {
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}
