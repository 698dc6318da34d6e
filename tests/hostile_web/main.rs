//! The web server and web config under attack, as a hostile client or a
//! careless operator would try them (issue 9): idle, preface-only,
//! handshake-then-quiet and never-reading connections, abandoned logins,
//! revoked passwords on open connections, web config files rewritten
//! non-atomically or swapped with an old mtime, ALPN, cipher suites,
//! telemetry paths, gzip.
//!
//! One test binary (link time); the themes are its modules.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod connections;
mod exposition;
mod tls;
mod webconfig;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::*;

const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";
const SERVICES: &str =
    "services:\n  - name: self\n    interval: 1h\n    tcp:\n      address: 127.0.0.1:9\n";
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Enough descriptors for thousands of sockets here and in the exporter
/// (which inherits the limit).
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let (cur, max) = (
        lim.current.unwrap_or(u64::MAX),
        lim.maximum.unwrap_or(u64::MAX),
    );
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(max.min(20_000).max(cur)),
            maximum: lim.maximum,
        },
    );
}

/// A TLS web config with a fresh certificate; returns (web.yml, CA PEM).
fn tls_web_config(dir: &Path, extra: &str) -> (PathBuf, String) {
    let pki = Pki::new();
    let (cert, key) = pki.leaf(&["localhost", "127.0.0.1"], false);
    write_file(dir, "server.pem", &cert);
    write_file(dir, "server.key", &key);
    let web = write_file(
        dir,
        "web.yml",
        &format!("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n{extra}"),
    );
    (web, pki.ca_pem)
}

fn start_with_web(dir: tempfile::TempDir, web: &Path) -> Exporter {
    Exporter::start_with(SERVICES, &["--web.config.file", web.to_str().unwrap()], dir)
}

/// A web config's `basic_auth_users` with [`USER`] and a bcrypt hash of
/// `password` at `cost`.
fn users_yaml(password: &str, cost: u32) -> String {
    format!(
        "basic_auth_users:\n  {USER}: {}\n",
        bcrypt::hash(password, cost).unwrap()
    )
}

/// The exporter behind a plain-HTTP web config with one user, once ready.
fn start_with_user(password: &str, cost: u32) -> Exporter {
    let dir = tempfile::tempdir().unwrap();
    let web = write_file(dir.path(), "web.yml", &users_yaml(password, cost));
    let e = start_with_web(dir, &web);
    wait_for("ready", Duration::from_secs(20), || {
        e.get("/-/ready").0 == 200
    });
    e
}

fn wait_tls_ready(e: &Exporter, cfg: &Arc<rustls::ClientConfig>) {
    wait_for("ready over TLS", Duration::from_secs(20), || {
        https_get(e.addr, cfg, "/-/ready", &[]).is_ok_and(|r| r.0 == 200)
    });
}

/// A TLS client that completes the handshake (offering `alpn`) and then
/// keeps the connection.
fn tls_handshake(
    addr: SocketAddr,
    cfg: &Arc<rustls::ClientConfig>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut conn =
        rustls::ClientConnection::new(cfg.clone(), "localhost".try_into().unwrap()).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).unwrap();
    }
    rustls::StreamOwned::new(conn, tcp)
}

fn with_alpn(cfg: &Arc<rustls::ClientConfig>, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut c = (**cfg).clone();
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(c)
}

fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
