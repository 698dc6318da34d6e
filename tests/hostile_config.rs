//! Configuration files as a careless operator writes them: FIFOs, devices,
//! directories and huge files named as secrets, CA bundles, the config
//! itself or file_sd targets. Each is refused at once with its location;
//! nothing blocks, nothing grows without bound, a running exporter stays
//! up on its old configuration. And a reload notices a changed secret.
//!
//! This file is long (one case per kind of bad file): a suite is one test
//! binary, and each binary links the whole exporter, so suites are split by
//! subject, not by size.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const DIR: &str = "tests/fixtures/config";

fn mkfifo(path: &Path) -> PathBuf {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
    path.to_path_buf()
}

/// Runs the binary with `args`, killed when it has not finished after 20 s
/// (the old build hung forever on a FIFO): (exit code, stdout, stderr).
fn run_bin_bounded(args: &[&str]) -> (i32, String, String) {
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
            let _ = child.wait();
            panic!("{args:?} still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn devices_and_directories_as_secret_and_ca_files_are_refused() {
    let file = format!("{DIR}/hostile-files.yaml");
    let want = std::fs::read_to_string(format!("{DIR}/hostile-files.err")).unwrap();
    let (code, out, err) = run_bin_bounded(&["--config.check", "--config.file", &file]);
    assert_eq!((code, out.as_str(), err.as_str()), (1, "", want.as_str()));
}

#[test]
fn fifo_and_oversized_secret_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = mkfifo(&dir.path().join("password.fifo"));
    let big = dir.path().join("big.token");
    std::fs::write(&big, vec![b'x'; 64 * 1024 + 1]).unwrap();
    let at_cap = dir.path().join("cap.token");
    std::fs::write(&at_cap, vec![b'x'; 64 * 1024]).unwrap();
    let cfg = write_file(
        dir.path(),
        "exporter.yaml",
        &format!(
            "services:
  - name: fifo
    http:
      url: http://127.0.0.1/
      basic_auth:
        username: u
        password_file: {}
  - name: big
    http:
      url: http://127.0.0.1/
      bearer_token_file: big.token
  - name: at-cap
    http:
      url: http://127.0.0.1/
      bearer_token_file: cap.token
",
            fifo.display()
        ),
    );
    let cfg = cfg.to_str().unwrap();
    let (code, out, err) = run_bin_bounded(&["--config.check", "--config.file", cfg]);
    let base = dir.path().display();
    assert_eq!(
        (code, out.as_str(), err),
        (
            1,
            "",
            format!(
                "{cfg}:7:24: services[0].http.basic_auth.password_file: {}: not a regular file (a FIFO)\n\
                 {cfg}:11:26: services[1].http.bearer_token_file: {base}/big.token: larger than 65536 bytes\n",
                fifo.display()
            )
        )
    );
}

#[test]
fn config_file_that_is_not_a_regular_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = mkfifo(&dir.path().join("exporter.yaml"));
    let fifo = fifo.to_str().unwrap();
    let d = dir.path().to_str().unwrap();
    // Sparse: 16 MiB + 1 byte that cost no disk.
    let huge = dir.path().join("huge.yaml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(16 * 1024 * 1024 + 1)
        .unwrap();
    let huge = huge.to_str().unwrap();
    for (path, why) in [
        (fifo, "not a regular file (a FIFO)"),
        (d, "not a regular file (a directory)"),
        ("/dev/zero", "not a regular file (a character device)"),
        (huge, "larger than 16777216 bytes"),
    ] {
        let (code, out, err) = run_bin_bounded(&["--config.check", "--config.file", path]);
        assert_eq!(
            (code, out.as_str(), err),
            (1, "", format!("{path}: {why}\n")),
            "{path}"
        );
    }
}

#[test]
fn reload_onto_a_fifo_or_device_keeps_the_running_config() {
    let srv = TestServer::http(|_| Reply::new(200, "ok"));
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "pw", "secret\n");
    let fifo = mkfifo(&dir.path().join("pw.fifo"));
    let cfg = |password_file: &str, ca_file: &str| {
        format!(
            "services:
  - name: web
    interval: 100ms
    timeout: 50ms
    http:
      url: {}
      basic_auth:
        username: u
        password_file: {password_file}
  - name: tls
    interval: 100ms
    timeout: 50ms
    tcp:
      address: {}
      tls:
        ca_file: {ca_file}
",
            srv.url("/"),
            srv.addr
        )
    };
    let (_, ca_pem, _) = self_signed((2040, 1, 1));
    write_file(dir.path(), "ca.pem", &ca_pem);
    let e = Exporter::start_with(&cfg("pw", "ca.pem"), &["--web.enable-lifecycle"], dir);
    e.wait_value("vitals_up{microservice=\"web\"}", 1.0);
    let config = e.config.display().to_string();
    let fifo = fifo.display().to_string();
    for (yaml, want) in [
        (
            cfg(&fifo, "ca.pem"),
            format!("{config}:9:24: services[0].http.basic_auth.password_file: {fifo}: not a regular file (a FIFO)"),
        ),
        (
            cfg("/dev/zero", "ca.pem"),
            format!("{config}:9:24: services[0].http.basic_auth.password_file: /dev/zero: not a regular file (a character device)"),
        ),
        (
            cfg("pw", "/dev/zero"),
            format!("{config}:16:18: services[1].tcp.tls.ca_file: /dev/zero: not a regular file (a character device)"),
        ),
    ] {
        std::fs::write(&e.config, &yaml).unwrap();
        let (status, body) = http_post(e.addr, "/-/reload");
        assert_eq!(
            (status, body),
            (500, format!("failed to reload config: {want}\n"))
        );
        e.wait_value("vitals_config_last_reload_successful", 0.0);
        // Still up, still probing with the old configuration.
        assert_eq!(e.get("/-/healthy").0, 200);
        let n = e
            .value("vitals_probes_total{microservice=\"web\"}")
            .unwrap();
        wait_for("probes continue", Duration::from_secs(10), || {
            e.value("vitals_probes_total{microservice=\"web\"}").unwrap() > n
        });
        assert_eq!(e.value("vitals_up{microservice=\"web\"}"), Some(1.0));
    }
}

#[test]
fn fifo_among_service_files_is_skipped_and_counted() {
    let a = TestServer::http(|_| Reply::new(200, "a"));
    let b = TestServer::http(|_| Reply::new(200, "b"));
    let sd = tempfile::tempdir().unwrap();
    write_file(
        sd.path(),
        "a.json",
        &format!(
            r#"[{{"targets": ["{}"], "labels": {{"microservice": "alpha"}}}}]"#,
            a.addr
        ),
    );
    // Present at start-up: the old build blocked an async thread on it for good.
    mkfifo(&sd.path().join("stuck.json"));
    std::os::unix::fs::symlink("loop.json", sd.path().join("loop.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", sd.path().join("zero.json")).unwrap();
    let cfg = format!(
        "modules:\n  - name: http_2xx\n    timeout: 50ms\n    http: {{}}\n    allowed_targets: ['127.0.0.0/8']\nservice_files:\n  - files: ['{}/*.json']\n    module: http_2xx\n    interval: 100ms\n",
        sd.path().display()
    );
    let e = Exporter::start(&cfg);
    e.wait_value("vitals_up{microservice=\"alpha\"}", 1.0);
    // The FIFO, the symlink loop and the device, once each.
    assert_eq!(e.value("vitals_service_file_read_errors_total"), Some(3.0));
    let stuck = sd.path().join("stuck.json");
    // stderr is read by another thread: the lines may trail the metrics.
    wait_for("refusals logged", Duration::from_secs(10), || {
        e.log().matches("cannot read service file; skipped").count() == 3
    });
    let log = e.log();
    assert!(
        log.lines().any(|l| l.contains(&stuck.display().to_string())
            && l.contains("error=\"not a regular file (a FIFO)\"")
            && l.contains("cannot read service file; skipped")),
        "{log}"
    );
    for (name, error) in [
        (
            "loop.json",
            "cannot read: Too many levels of symbolic links (os error 40)",
        ),
        ("zero.json", "not a regular file (a character device)"),
    ] {
        let path = sd.path().join(name).display().to_string();
        assert!(
            log.lines()
                .any(|l| l.contains(&path) && l.contains(&format!("error=\"{error}\""))),
            "{name}: {log}"
        );
    }

    // Files written later are still read, with the FIFO still there.
    write_file(
        sd.path(),
        "b.json",
        &format!(
            r#"[{{"targets": ["{}"], "labels": {{"microservice": "beta"}}}}]"#,
            b.addr
        ),
    );
    e.wait_value("vitals_up{microservice=\"beta\"}", 1.0);
    for path in ["/-/healthy", "/metrics"] {
        assert_eq!(e.get(path).0, 200, "{path}");
    }
}

#[test]
fn a_changed_password_file_reaches_every_service_after_a_reload() {
    let srv = TestServer::http(|_| Reply::new(200, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let pw = write_file(dir.path(), "pw", "old\n");
    let sd = write_file(
        dir.path(),
        "targets.json",
        &format!(
            r#"[{{"targets": ["{}"], "labels": {{"microservice": "discovered"}}}}]"#,
            srv.url("/sd")
        ),
    );
    let cfg = format!(
        "services:
  - name: static
    interval: 100ms
    timeout: 50ms
    http:
      url: {}
      basic_auth: {{username: u, password_file: pw}}
modules:
  - name: authed
    timeout: 50ms
    http:
      basic_auth: {{username: u, password_file: pw}}
    allowed_targets: ['127.0.0.0/8']
service_files:
  - files: ['{}']
    module: authed
    interval: 100ms
",
        srv.url("/static"),
        sd.display()
    );
    let basic = |p: &str| format!("Basic {}", common::b64(format!("u:{p}").as_bytes()));
    let seen_with = |path: &str, auth: &str| {
        srv.seen
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.path == path && s.header("authorization") == Some(auth))
    };
    let e = Exporter::start_with(&cfg, &[], dir);
    for path in ["/static", "/sd"] {
        wait_for(path, Duration::from_secs(10), || {
            seen_with(path, &basic("old"))
        });
    }
    std::fs::write(&pw, "new\n").unwrap();
    signal(&e, libc::SIGHUP);
    for path in ["/static", "/sd"] {
        wait_for(
            &format!("{path} with the new password"),
            Duration::from_secs(10),
            || seen_with(path, &basic("new")),
        );
    }
    e.wait_value("vitals_config_last_reload_successful", 1.0);
}

/// A password pasted into a URL is refused, and the refusal must not quote
/// it: not in `--config.check`, not in the log of a discovered target.
#[test]
fn credentials_in_refused_urls_are_not_quoted() {
    const CANARY: &str = "CANARY-91d2-url-password";
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "exporter.yaml",
        &format!(
            "services:\n  - name: a\n    http:\n      url: ftp://probe:{CANARY}@127.0.0.1/\n  - name: b\n    http:\n      url: http://probe:{CANARY}@exa mple/\n  - name: c\n    tcp:\n      address: probe:{CANARY}@127.0.0.1:5432\n"
        ),
    );
    let (code, out, err) =
        run_bin_bounded(&["--config.check", "--config.file", cfg.to_str().unwrap()]);
    let file = cfg.display();
    assert_eq!(code, 1);
    assert_eq!(
        format!("{out}{err}"),
        format!(
            "{file}:4:12: services[0].http.url: \"ftp://<redacted>@127.0.0.1/\" is not an absolute http:// or https:// URL\n\
             {file}:7:12: services[1].http.url: invalid URL \"http://<redacted>@exa mple/\": invalid uri character\n\
             {file}:10:16: services[2].tcp.address: \"<redacted>@127.0.0.1:5432\" is not host:port\n"
        )
    );

    let srv = TestServer::http(|_| Reply::new(200, "ok"));
    let sd = tempfile::tempdir().unwrap();
    write_file(
        sd.path(),
        "t.json",
        &format!(
            r#"[{{"targets": ["probe:{CANARY}@{a}", "{a}"], "labels": {{"microservice": "same"}}}}]"#,
            a = srv.addr
        ),
    );
    let e = Exporter::start(&format!(
        "modules:\n  - name: web\n    timeout: 500ms\n    http: {{}}\n  - name: tcp\n    tcp: {{}}\nservice_files:\n  - files: ['{}/*.json']\n    module: web\n    interval: 1s\n",
        sd.path().display()
    ));
    // The refused target does not take the name: the good one is probed.
    e.wait_value("vitals_up{microservice=\"same\"}", 1.0);
    wait_for("the refusal logged", Duration::from_secs(10), || {
        e.log().contains("target does not fit the module; skipped")
    });
    let log = e.log();
    assert!(!log.contains(CANARY), "{log}");
    assert!(
        log.contains(&format!("target=<redacted>@{} ", srv.addr)),
        "{log}"
    );
    assert!(!log.contains("duplicate service name"), "{log}");
    // `/probe` refuses such a TCP target as it refuses such a URL.
    let path = format!(
        "/probe?module=tcp&target={}",
        urlencode(&format!("probe:{CANARY}@{}", srv.addr))
    );
    let (status, _, body) = http_get(e.addr, &path, &[]);
    assert_eq!((status, body.as_str()), (400, "Target is not host:port\n"));
}

/// A large fleet in one file: saphyr's default node budget (250 000)
/// refused anything past some 27 000 services with "budget breached:
/// Nodes { nodes: 250001 }".
#[test]
fn a_config_of_100_000_services_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("services:\n");
    for i in 0..100_000 {
        yaml.push_str(&format!(
            "  - name: s{i}\n    interval: 1h\n    tcp:\n      address: 127.0.0.1:9\n"
        ));
    }
    let cfg = write_file(dir.path(), "exporter.yaml", &yaml);
    let (code, out, err) =
        run_bin_bounded(&["--config.check", "--config.file", cfg.to_str().unwrap()]);
    assert_eq!(
        (code, format!("{out}{err}")),
        (
            0,
            format!("{}: OK (100000 services, 0 logs)\n", cfg.display())
        )
    );
}
