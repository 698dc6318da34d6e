//! `/metrics` as served: gzip, and abandoned scrapes sharing one encode.

use super::*;

/// A GET with `Connection: close` returning the head and the raw body bytes.
fn get_raw(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    assert!(
        header_value(&head, "transfer-encoding").is_none(),
        "expected a Content-Length body: {head}"
    );
    (head, raw[end + 4..].to_vec())
}

/// `/metrics` is gzipped when the client accepts it (Prometheus always
/// does), and the decoded body is the identity body.
#[test]
fn metrics_are_gzipped_when_accepted() {
    let e = Exporter::start(SERVICES);
    let mut sizes = (0, 0);
    wait_for(
        "gzip body equals identity body",
        Duration::from_secs(20),
        || {
            let (head, gz) = get_raw(e.addr, "/metrics", &[("Accept-Encoding", "gzip")]);
            let (plain_head, plain) = get_raw(e.addr, "/metrics", &[]);
            assert_eq!(header_value(&head, "content-encoding"), Some("gzip"));
            assert_eq!(header_value(&head, "vary"), Some("Accept-Encoding"));
            assert_eq!(header_value(&plain_head, "content-encoding"), None);
            assert_eq!(header_value(&plain_head, "vary"), Some("Accept-Encoding"));
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut decoded)
                .unwrap();
            sizes = (gz.len(), plain.len());
            // Process metrics may tick between the two scrapes: look again.
            decoded == plain
        },
    );
    eprintln!("/metrics: {} bytes gzipped, {} identity", sizes.0, sizes.1);
    let (head, _) = get_raw(e.addr, "/metrics", &[("Accept-Encoding", "gzip;q=0")]);
    assert_eq!(header_value(&head, "content-encoding"), None);
}

/// Threads of the exporter.
fn threads(e: &Exporter) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", e.child.id()))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Scrapes abandoned at once (a client that sends `GET /metrics` and
/// hangs up, as a reset HTTP/2 stream does) share the encode running:
/// before, each queued its own full encode on the blocking pool, and 300 of
/// them grew the exporter by ~300 threads (idle blocking threads linger
/// 10 s, so the count right after the flood shows how many ran).
#[test]
fn abandoned_scrapes_share_one_encode() {
    raise_fd_limit();
    // A large exposition, so an encode takes long enough for requests to
    // pile up behind it.
    let mut services = String::from("services:\n");
    for i in 0..2000 {
        services.push_str(&format!(
            "  - name: s{i}\n    interval: 1h\n    tcp:\n      address: 127.0.0.1:9\n"
        ));
    }
    let e = Exporter::start(&services);
    let full = e.metrics();
    assert!(full.len() > 1_000_000, "{}", full.len());
    let before = threads(&e);
    let flood: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(e.addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    // Hyper reads a request as soon as its connection is accepted; the
    // scrape reading the gauge is one more connection.
    wait_for("flood accepted", Duration::from_secs(30), || {
        e.value("vitals_web_connections") == Some(301.0)
    });
    drop(flood);
    let after = threads(&e);
    eprintln!("threads before the flood: {before}, after: {after}");
    assert!(after <= before + 2, "threads {before} -> {after}");
    let (status, _, body) = e.get("/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("vitals_build_info"));
}
