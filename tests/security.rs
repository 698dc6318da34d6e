//! `--web.config.file` (exporter-toolkit format): basic auth with bcrypt,
//! TLS and mutual TLS with rcgen-made certificates, certificate rotation on
//! disk, a real Prometheus scraping over TLS with basic auth, slow clients,
//! and a canary secret that must never leak.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;

const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";

fn hash(p: &str) -> String {
    bcrypt::hash(p, 4).unwrap()
}

const SERVICES: &str =
    "services:\n  - name: self\n    interval: 1h\n    tcp:\n      address: 127.0.0.1:9\n";

#[test]
fn basic_auth_protects_every_endpoint_but_health() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "web.yml",
        &format!("basic_auth_users:\n  {USER}: {}\n", hash(PASSWORD)),
    );
    let e = Exporter::start_with(
        SERVICES,
        &[
            "--web.config.file",
            dir.path().join("web.yml").to_str().unwrap(),
        ],
        dir,
    );
    wait_for("ready", Duration::from_secs(10), || {
        e.get("/-/ready").0 == 200
    });
    for path in ["/metrics", "/", "/nope"] {
        let (status, head, _) = http_get_head(e.addr, path, &[]);
        assert_eq!(status, 401, "{path} without credentials");
        assert!(
            head.contains("www-authenticate: Basic realm=\"vitals_exporter\""),
            "{head}"
        );
        let wrong = basic(USER, "wrong");
        assert_eq!(
            http_get_head(e.addr, path, &[("Authorization", &wrong)]).0,
            401,
            "{path} wrong password"
        );
        let unknown = basic("nobody", PASSWORD);
        assert_eq!(
            http_get_head(e.addr, path, &[("Authorization", &unknown)]).0,
            401,
            "{path} unknown user"
        );
    }
    let right = basic(USER, PASSWORD);
    for _ in 0..20 {
        let (status, _, body) = http_get_head(e.addr, "/metrics", &[("Authorization", &right)]);
        assert_eq!(status, 200);
        assert!(body.contains("vitals_up{microservice=\"self\"}"));
    }
    assert_eq!(
        http_get_head(e.addr, "/", &[("Authorization", &right)]).0,
        200
    );
    assert_eq!(e.get("/-/healthy").0, 200, "health stays open");
}

/// A web config serving `server` certificates, optionally requiring client certificates.
fn tls_setup(pki: &Pki, dir: &std::path::Path, mtls: bool, extra: &str) -> std::path::PathBuf {
    let (cert, key) = pki.leaf(&["localhost", "127.0.0.1"], false);
    write_file(dir, "server.pem", &cert);
    write_file(dir, "server.key", &key);
    write_file(dir, "ca.pem", &pki.ca_pem);
    let client = if mtls {
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"
    } else {
        ""
    };
    write_file(
        dir,
        "web.yml",
        &format!("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS12\n{client}{extra}"),
    )
}

fn wait_tls_ready(e: &Exporter, cfg: &std::sync::Arc<rustls::ClientConfig>) {
    wait_for("ready over TLS", Duration::from_secs(10), || {
        https_get(e.addr, cfg, "/-/ready", &[]).is_ok_and(|r| r.0 == 200)
    });
}

#[test]
fn tls_serves_https_only() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let web = tls_setup(
        &pki,
        dir.path(),
        false,
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
    );
    let e = Exporter::start_with(SERVICES, &["--web.config.file", web.to_str().unwrap()], dir);
    let cfg = tls_client(&pki.ca_pem, None);
    wait_tls_ready(&e, &cfg);
    let (status, head, body, _) = https_get(e.addr, &cfg, "/metrics", &[]).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("vitals_build_info"));
    assert!(
        head.to_ascii_lowercase().contains("x-frame-options: deny"),
        "{head}"
    );
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut s = TcpStream::connect(e.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut buf);
    assert!(
        !buf.starts_with(b"HTTP/1.1 200"),
        "plain HTTP must not be served"
    );
    // A client that does not trust our CA fails the handshake.
    let other = Pki::new();
    assert!(https_get(e.addr, &tls_client(&other.ca_pem, None), "/metrics", &[]).is_err());
}

#[test]
fn mutual_tls_requires_a_valid_client_certificate() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let web = tls_setup(&pki, dir.path(), true, "");
    let e = Exporter::start_with(SERVICES, &["--web.config.file", web.to_str().unwrap()], dir);
    let client = pki.leaf(&["scraper"], true);
    let with_cert = tls_client(&pki.ca_pem, Some(&client));
    wait_tls_ready(&e, &with_cert);
    assert_eq!(
        https_get(e.addr, &with_cert, "/metrics", &[]).unwrap().0,
        200
    );
    let without = tls_client(&pki.ca_pem, None);
    assert!(
        https_get(e.addr, &without, "/metrics", &[]).is_err(),
        "no client certificate"
    );
    let stranger = Pki::new().leaf(&["scraper"], true);
    let foreign = tls_client(&pki.ca_pem, Some(&stranger));
    assert!(
        https_get(e.addr, &foreign, "/metrics", &[]).is_err(),
        "certificate from another CA"
    );
}

#[test]
fn certificate_swapped_on_disk_is_served_without_restart() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let web = tls_setup(&pki, dir.path(), false, "");
    let d = dir.path().to_path_buf();
    let e = Exporter::start_with(SERVICES, &["--web.config.file", web.to_str().unwrap()], dir);
    let cfg = tls_client(&pki.ca_pem, None);
    wait_tls_ready(&e, &cfg);
    let first = https_get(e.addr, &cfg, "/-/healthy", &[]).unwrap().3;
    let (cert, key) = pki.leaf(&["localhost"], false);
    write_file(&d, "server.key", &key);
    write_file(&d, "server.pem", &cert);
    wait_for("new certificate served", Duration::from_secs(10), || {
        https_get(e.addr, &cfg, "/-/healthy", &[]).is_ok_and(|r| r.3 != first)
    });
    // A broken file keeps the last good configuration.
    write_file(&d, "web.yml", "tls_server_config: [not, a, map]\n");
    let (status, _, _, served) = https_get(e.addr, &cfg, "/metrics", &[]).unwrap();
    assert_eq!(status, 200);
    assert_ne!(served, first);
    wait_for("error logged", Duration::from_secs(5), || {
        e.log()
            .contains("invalid web configuration; keeping the previous one")
    });
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let web = tls_setup(
        &pki,
        &d,
        false,
        &format!("basic_auth_users:\n  {USER}: {}\n", hash(PASSWORD)),
    );
    write_file(&d, "scrape.pw", PASSWORD);
    let e = Exporter::start_with(SERVICES, &["--web.config.file", web.to_str().unwrap()], dir);
    let cfg = tls_client(&pki.ca_pem, None);
    wait_tls_ready(&e, &cfg);
    let (_prom, prom) = start_prometheus(
        &d,
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: vitals_exporter\n    scheme: https\n    tls_config:\n      ca_file: {ca}\n      server_name: localhost\n    basic_auth:\n      username: {USER}\n      password_file: {pw}\n    static_configs:\n      - targets: ['{addr}']\n",
            ca = d.join("ca.pem").display(),
            pw = d.join("scrape.pw").display(),
            addr = e.addr
        ),
    );
    let up = wait_query(
        prom,
        "up{job=\"vitals_exporter\"} == 1",
        Duration::from_secs(30),
    );
    assert_eq!(up[0]["value"][1], "1");
    let ours = wait_query(prom, "vitals_build_info", Duration::from_secs(30));
    assert_eq!(ours.len(), 1);
}

#[test]
fn slow_clients_do_not_stall_a_scrape() {
    let e = Exporter::start(SERVICES);
    // 300 connections that send half a request head and then nothing.
    let slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(e.addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    for _ in 0..10 {
        let (status, _, body) = e.get("/metrics");
        assert_eq!(status, 200);
        assert!(body.contains("vitals_build_info"));
    }
    // A head larger than the limit is refused, not buffered.
    let big = "x".repeat(100 * 1024);
    let mut s = TcpStream::connect(e.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ =
        s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes());
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut buf);
    assert!(
        !buf.starts_with(b"HTTP/1.1 200"),
        "oversized head must not be served"
    );
    drop(slow);
}

#[test]
fn hash_password_command_makes_a_bcrypt_hash() {
    let mut child = std::process::Command::new(BIN)
        .args(["hash-password", "--cost", "4"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let h = String::from_utf8(out.stdout).unwrap();
    assert!(h.starts_with("$2"), "{h}");
    assert!(bcrypt::verify(PASSWORD, h.trim()).unwrap());
    assert!(!bcrypt::verify("other", h.trim()).unwrap());
}

#[test]
fn canary_secret_never_leaks() {
    const CANARY: &str = "CANARY-7f3a9c-never-print-me";
    let srv = TestServer::http(|r| {
        if r.header("authorization")
            .is_some_and(|a| a.contains("Bearer CANARY"))
        {
            Reply::new(500, "fails so the error path runs too")
        } else {
            Reply::new(401, "")
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    write_file(&d, "pw", CANARY);
    write_file(&d, "token", CANARY);
    write_file(
        &d,
        "web.yml",
        &format!("basic_auth_users:\n  {USER}: {}\n", hash(CANARY)),
    );
    let cfg = format!(
        "services:\n  - name: basic\n    interval: 1h\n    http:\n      url: {u}\n      basic_auth:\n        username: probe\n        password_file: pw\n  - name: bearer\n    interval: 1h\n    http:\n      url: {u}\n      bearer_token_file: token\n  - name: header\n    interval: 1h\n    http:\n      url: {u}\n      headers:\n        X-Api-Key: ${{VITALS_CANARY}}\n",
        u = srv.url("/")
    );
    std::env::set_var("VITALS_CANARY", CANARY);
    let web = d.join("web.yml");
    let e = Exporter::start_with(
        &cfg,
        &[
            "--web.config.file",
            web.to_str().unwrap(),
            "--log.level",
            "debug",
        ],
        dir,
    );
    wait_for("ready", Duration::from_secs(10), || {
        e.get("/-/ready").0 == 200
    });
    let auth = basic(USER, CANARY);
    let scrape = |p: &str| http_get_head(e.addr, p, &[("Authorization", &auth)]);
    wait_for("three probes", Duration::from_secs(10), || {
        let (_, _, m) = scrape("/metrics");
        ["basic", "bearer", "header"].iter().all(|s| {
            sample(&m, &format!("vitals_probes_total{{microservice=\"{s}\"}}")) == Some(1.0)
        })
    });
    let (_, _, metrics) = scrape("/metrics");
    let (_, _, page) = scrape("/");
    let check = run_bin(&[
        "--config.check",
        "--config.file",
        e.config.to_str().unwrap(),
    ]);
    // A bad config next to the secrets: its error must not print them either.
    let bad = write_file(
        &d,
        "bad.yml",
        &cfg.replace("interval: 1h", "interval: 1h\n    timeout: 2h"),
    );
    let bad_check = run_bin(&["--config.check", "--config.file", bad.to_str().unwrap()]);
    assert_eq!(bad_check.0, 1);
    let encoded = common::b64(format!("probe:{CANARY}").as_bytes());
    for (what, text) in [
        ("metrics", metrics),
        ("status page", page),
        ("log", e.log()),
        ("config check", format!("{}{}", check.1, check.2)),
        ("config error", format!("{}{}", bad_check.1, bad_check.2)),
    ] {
        assert!(!text.contains(CANARY), "canary leaked in {what}:\n{text}");
        assert!(!text.contains(&encoded), "encoded canary leaked in {what}");
    }
    // The probes did send it (so the canary was really in use).
    let seen = srv.seen.lock().unwrap();
    assert!(seen.iter().any(|r| r.header("x-api-key") == Some(CANARY)));
    assert!(seen
        .iter()
        .any(|r| r.header("authorization") == Some(format!("Bearer {CANARY}").as_str())));
}
