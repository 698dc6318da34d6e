//! The Prometheus text exposition, and a real Prometheus to query.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{free_port, http_get, spawn, urlencode, wait_for, write_file, Proc};

/// The value of `series` (`name` or `name{a="b",…}`, labels in any order,
/// values escaped as in the exposition) in Prometheus or OpenMetrics text;
/// `None` when absent.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    let (name, want, _) = parse_series(series)?;
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, labels, rest) = parse_series(l)?;
        if n != name || labels != want {
            return None;
        }
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Label names and values, sorted.
type Labels = Vec<(String, String)>;

/// `name{a="b",…} rest` → (name, labels sorted with unescaped values, rest);
/// `None` when malformed.
fn parse_series(s: &str) -> Option<(&str, Labels, &str)> {
    let end = s
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(s.len());
    let (name, mut rest) = s.split_at(end);
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start_matches([',', ' ']);
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let (key, r) = rest.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = r.char_indices();
            let close = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((key.trim().to_string(), value));
            rest = &r[close + 1..];
        }
    }
    labels.sort();
    Some((name, labels, rest))
}

#[test]
fn sample_reads_escaped_labels_timestamps_and_exemplars() {
    let text = concat!(
        "# HELP m A metric.\n",
        "m{path=\"a\\\"},b=\\\"c\",x=\"y\"} 1\n",
        "m{path=\"back\\\\slash\",x=\"line\\nbreak\"} 2\n",
        "m{x=\"y\"} 3\n",
        "with_timestamp{x=\"y\"} 4 1700000000000\n",
        "with_exemplar_total 5 # {trace_id=\"a b\"} 1.0\n",
        "# EOF\n",
    );
    assert_eq!(sample(text, r#"m{x="y",path="a\"},b=\"c"}"#), Some(1.0));
    assert_eq!(
        sample(text, r#"m{path="back\\slash",x="line\nbreak"}"#),
        Some(2.0)
    );
    assert_eq!(sample(text, r#"m{x="y"}"#), Some(3.0));
    assert_eq!(sample(text, r#"with_timestamp{x="y"}"#), Some(4.0));
    assert_eq!(sample(text, "with_exemplar_total"), Some(5.0));
    assert_eq!(sample(text, "m"), None);
}

/// What `promtool check metrics` says of `body` (empty when clean); panics
/// when promtool fails.
pub fn promtool_check_metrics(body: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed by scripts/install-test-deps.sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {report}\n{body}");
    report
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
