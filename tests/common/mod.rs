//! Helpers shared by the black-box tests: the real binary, real HTTP(S)
//! servers on 127.0.0.1, scrapes, and polling with a deadline.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

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

/// Standard padded base64, as in a basic-auth header.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::Engine::encode(&base64::prelude::BASE64_STANDARD, bytes)
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

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
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

/// A minimal HTTP/1.1 GET with `Connection: close`: (status, content type, body).
pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let (status, head, body) = http_get_head(addr, path, headers);
    let ct = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, ct, body)
}

/// (status, head, body) of a raw response; a chunked body is joined.
fn parse_response(raw: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("response head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, head.to_string(), body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// The value of `series` (`name` or `name{a="b",…}`, labels in any order)
/// in Prometheus text; `None` when absent.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    let (name, want) = split_series(series);
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (s, v) = l.rsplit_once(' ')?;
        let (n, labels) = split_series(s);
        (n == name && labels == want).then(|| v.parse().ok())?
    })
}

fn split_series(s: &str) -> (&str, Vec<String>) {
    match s.split_once('{') {
        Some((n, rest)) => {
            let mut labels: Vec<String> = rest
                .trim_end_matches('}')
                .split("\",")
                .filter(|l| !l.is_empty())
                .map(|l| l.trim_end_matches('"').to_string())
                .collect();
            labels.sort();
            (n, labels)
        }
        None => (s, Vec::new()),
    }
}

/// What a test server answers.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

/// A request as the test server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// A real HTTP (or HTTPS) server on 127.0.0.1, one thread per connection.
pub struct TestServer {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestServer {
    pub fn http(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> TestServer {
        Self::start("127.0.0.1", Arc::new(handler), None)
    }

    /// An HTTP server on another loopback address (e.g. `127.0.0.2`): another host.
    pub fn http_at(
        ip: &str,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        Self::start(ip, Arc::new(handler), None)
    }

    pub fn https(
        tls: Arc<rustls::ServerConfig>,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        Self::start("127.0.0.1", Arc::new(handler), Some(tls))
    }

    fn start(ip: &str, handler: Handler, tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
        let listener = TcpListener::bind((ip, 0)).expect("bind");
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (h2, s2) = (hits.clone(), seen.clone());
        thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (handler, hits, seen, tls) =
                    (handler.clone(), h2.clone(), s2.clone(), tls.clone());
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    match tls {
                        Some(cfg) => {
                            let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            let mut s = rustls::StreamOwned::new(conn, stream);
                            serve_one(&mut s, &handler, &hits, &seen);
                        }
                        None => {
                            let mut s = stream;
                            serve_one(&mut s, &handler, &hits, &seen);
                        }
                    }
                });
            }
        });
        TestServer { addr, hits, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn serve_one(
    s: &mut (impl Read + Write),
    handler: &Handler,
    hits: &AtomicUsize,
    seen: &Mutex<Vec<Seen>>,
) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let req = Seen {
        method: first.next().unwrap_or("").to_string(),
        path: first.next().unwrap_or("").to_string(),
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    };
    hits.fetch_add(1, Ordering::SeqCst);
    seen.lock().unwrap().push(req.clone());
    let reply = handler(&req);
    thread::sleep(reply.delay);
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&reply.body);
    let _ = s.write_all(out.as_bytes());
    let _ = s.flush();
}

/// A self-signed certificate for 127.0.0.1/localhost expiring at `not_after`
/// (Unix seconds); returns the server config and the PEM of the certificate.
pub fn self_signed(not_after: (i32, u8, u8)) -> (Arc<rustls::ServerConfig>, String, i64) {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let expiry = params.not_after.unix_timestamp();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let pem = cert.pem();
    let der = cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der], key_der)
    .unwrap();
    (Arc::new(cfg), pem, expiry)
}

/// A port on 127.0.0.1 where nothing listens.
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Runs an instant query; returns the result vector.
pub fn query(prom: std::net::SocketAddr, q: &str) -> Vec<serde_json::Value> {
    let (status, _, body) = http_get(prom, &format!("/api/v1/query?query={}", urlencode(q)), &[]);
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(status, 200, "query {q}: {body}");
    assert_eq!(v["status"], "success", "query {q}: {body}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

pub fn wait_query(
    prom: std::net::SocketAddr,
    q: &str,
    timeout: Duration,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let r = query(prom, q);
        if !r.is_empty() {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no data for {q} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A test certificate authority issuing server and client certificates.
pub struct Pki {
    pub ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    pub fn new() -> Pki {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "vitals test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            issuer: rcgen::Issuer::new(p, key),
        }
    }

    /// (certificate PEM, key PEM) for `names`, for a server or a client.
    pub fn leaf(&self, names: &[&str], client: bool) -> (String, String) {
        let mut p =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        p.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A rustls client trusting `ca_pem`, optionally presenting a client certificate.
pub fn tls_client(ca_pem: &str, client: Option<&(String, String)>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let cfg = match client {
        Some((cert, key)) => b
            .with_client_auth_cert(
                rustls::pki_types::CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(|c| c.unwrap())
                    .collect(),
                rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    Arc::new(cfg)
}

/// GET over TLS (server name `localhost`): (status, full response head, body,
/// DER of the server certificate), or the error text.
pub fn https_get(
    addr: SocketAddr,
    cfg: &Arc<rustls::ClientConfig>,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String, String, Vec<u8>), String> {
    let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let conn = rustls::ClientConnection::new(cfg.clone(), "localhost".try_into().unwrap())
        .map_err(|e| e.to_string())?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    match s.read_to_end(&mut raw) {
        Ok(_) => {}
        // Some servers close without close_notify after Connection: close.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let cert = s
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    if !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(format!("no response: {:?}", String::from_utf8_lossy(&raw)));
    }
    let (status, head, body) = parse_response(&raw);
    Ok((status, head, body, cert))
}

/// Plain GET returning (status, full head, body).
pub fn http_get_head(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    parse_response(&raw)
}

/// POST with an empty body: (status, body).
pub fn http_post(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let (status, _, body) = parse_response(&raw);
    (status, body)
}

/// Sends `sig` to the exporter.
pub fn signal(e: &Exporter, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(e.child.id() as i32, sig) };
}

/// Starts Debian's Prometheus on a free port with `config` written to
/// `dir/prometheus.yml` (relative `rule_files` resolve in `dir`); returns
/// once it is ready.
pub fn start_prometheus(dir: &Path, config: &str) -> (Proc, SocketAddr) {
    let cfg = write_file(dir, "prometheus.yml", config);
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let proc = spawn(
        "prometheus",
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            format!("--web.listen-address={addr}"),
        ],
        &dir.join("prometheus.log"),
    );
    wait_for("prometheus ready", Duration::from_secs(30), || {
        TcpStream::connect(addr).is_ok() && http_get(addr, "/-/ready", &[]).0 == 200
    });
    (proc, addr)
}

/// Starts the command with `RLIMIT_NOFILE` = `nofile` (soft and hard).
pub fn limit_nofile(cmd: &mut Command, nofile: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: nofile,
                rlim_max: nofile,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
