//! `/probe` against Debian's prometheus-blackbox-exporter on the same local
//! targets: the same metric names, labels and values (durations aside), plus
//! the allowlist that blackbox lacks.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

/// name{labels} → value, for every sample.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn is_duration(name: &str) -> bool {
    name.contains("_seconds")
}

#[test]
fn same_names_labels_and_values_as_blackbox_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::http(|r| match r.path.as_str() {
        "/ok" => Reply::new(200, "hello world"),
        "/missing" => Reply::new(404, "nope"),
        "/moved" => Reply::new(301, "").header("Location", "/ok"),
        _ => Reply::new(500, "error"),
    });
    write_file(
        dir.path(),
        "blackbox.yml",
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n  tcp_connect:\n    prober: tcp\n    timeout: 5s\n    tcp:\n      preferred_ip_protocol: ip4\n",
    );
    let bb_port = free_port();
    let bb: std::net::SocketAddr = format!("127.0.0.1:{bb_port}").parse().unwrap();
    let _bb = spawn(
        "prometheus-blackbox-exporter",
        &[
            format!(
                "--config.file={}",
                dir.path().join("blackbox.yml").display()
            ),
            format!("--web.listen-address={bb}"),
        ],
        &dir.path().join("blackbox.log"),
    );
    wait_for("blackbox up", Duration::from_secs(20), || {
        std::net::TcpStream::connect(bb).is_ok()
    });
    let ours = Exporter::start(
        "modules:\n  - name: http_2xx\n    http: {}\n    allowed_targets: ['127.0.0.0/8']\n  - name: tcp_connect\n    tcp: {}\n    allowed_targets: ['127.0.0.0/8']\n",
    );
    let closed = closed_port();
    let cases = [
        ("http_2xx", srv.url("/ok")),
        ("http_2xx", srv.url("/missing")),
        ("http_2xx", srv.url("/moved")),
        ("http_2xx", format!("http://127.0.0.1:{closed}/")),
        ("tcp_connect", srv.addr.to_string()),
        ("tcp_connect", format!("127.0.0.1:{closed}")),
    ];
    for (module, target) in cases {
        let path = format!("/probe?module={module}&target={}", urlencode(&target));
        let (s1, _, theirs) = http_get(bb, &path, &[]);
        let (s2, _, mine) = http_get(ours.addr, &path, &[]);
        assert_eq!((s1, s2), (200, 200), "{module} {target}");
        let (theirs, mine) = (samples(&theirs), samples(&mine));
        let names = |m: &BTreeMap<String, f64>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(&mine),
            names(&theirs),
            "{module} {target}: series differ"
        );
        for (k, v) in &theirs {
            if !is_duration(k) {
                assert_eq!(mine[k], *v, "{module} {target}: {k}");
            }
        }
    }
}

#[test]
fn probe_refuses_targets_outside_the_allowlist() {
    let srv = TestServer::http(|_| Reply::new(200, "ok"));
    let e = Exporter::start(
        "modules:\n  - name: local\n    http: {}\n    allowed_targets: ['127.0.0.2/32']\n  - name: open\n    http: {}\n",
    );
    let url = urlencode(&srv.url("/"));
    let (status, _, body) = http_get(e.addr, &format!("/probe?module=local&target={url}"), &[]);
    assert_eq!(status, 403);
    assert_eq!(
        body,
        "target refused: 127.0.0.1 (127.0.0.1) is not in the module's allowed_targets\n"
    );
    assert_eq!(
        e.value("vitals_probe_refused_total{module=\"local\"}"),
        Some(1.0)
    );
    // The metadata address is refused even by an open module.
    let (status, _, _) = http_get(
        e.addr,
        "/probe?module=open&target=http%3A%2F%2F169.254.169.254%2F",
        &[],
    );
    assert_eq!(status, 403);
    let (status, _, body) = http_get(e.addr, &format!("/probe?module=open&target={url}"), &[]);
    assert_eq!(status, 200);
    assert_eq!(sample(&body, "probe_success"), Some(1.0));
    let (status, _, _) = http_get(e.addr, "/probe?module=nope&target=x", &[]);
    assert_eq!(status, 400);
    assert_eq!(e.value("vitals_probe_unknown_module_total"), Some(1.0));
    assert_eq!(http_get(e.addr, "/probe?module=open", &[]).0, 400);
    // A scrape timeout below the module's bounds the probe.
    let slow = TestServer::http(|_| Reply::new(200, "late").delay(Duration::from_secs(3)));
    let (_, _, body) = http_get(
        e.addr,
        &format!("/probe?module=open&target={}", urlencode(&slow.url("/"))),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1")],
    );
    assert_eq!(sample(&body, "probe_success"), Some(0.0));
    let took = sample(&body, "probe_duration_seconds").unwrap();
    assert!(
        (0.4..1.0).contains(&took),
        "probe took {took}s with a 1s scrape timeout"
    );
}
