//! End to end, all on 127.0.0.1: a demo service and a log, the exporter,
//! a real Prometheus loading deploy/alerts.yml, a real Alertmanager loading
//! deploy/alertmanager.yml, and an SMTP sink receiving its e-mails.
//! Intervals and `for:` durations are shortened; nothing else is changed.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// A minimal SMTP server that accepts everything and keeps each message.
fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let m = mails.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let m = m.clone();
            std::thread::spawn(move || {
                let _ = smtp_session(stream, &m);
            });
        }
    });
    (port, mails)
}

fn smtp_session(stream: TcpStream, mails: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    w.write_all(b"220 sink ESMTP\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        if cmd.starts_with("EHLO") {
            w.write_all(b"250-sink\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")?;
        } else if cmd.starts_with("AUTH LOGIN") {
            for _ in 0..2 {
                w.write_all(b"334 \r\n")?;
                line.clear();
                r.read_line(&mut line)?;
            }
            w.write_all(b"235 ok\r\n")?;
        } else if cmd.starts_with("AUTH") {
            w.write_all(b"235 ok\r\n")?;
        } else if cmd == "DATA" {
            w.write_all(b"354 go on\r\n")?;
            let mut msg = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 || line == ".\r\n" {
                    break;
                }
                msg.push_str(&line);
            }
            mails.lock().unwrap().push(msg);
            w.write_all(b"250 queued\r\n")?;
        } else if cmd == "QUIT" {
            w.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"250 ok\r\n")?;
        }
    }
}

fn wait_mail(mails: &Mutex<Vec<String>>, subject: &str, body: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(m) = mails.lock().unwrap().iter().find(|m| {
            m.lines()
                .any(|l| l.starts_with("Subject:") && l.contains(subject))
                && m.contains(body)
        }) {
            return m.clone();
        }
        let got: Vec<String> = mails
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| {
                m.lines()
                    .find(|l| l.starts_with("Subject:"))
                    .map(str::to_string)
            })
            .collect();
        assert!(
            Instant::now() < deadline,
            "no mail {subject:?} within {timeout:?}; got {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Rewrites `key: value` lines (any indentation) to `key: new`.
fn set_key(text: &str, key: &str, new: &str) -> String {
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with(&format!("{key}:")) {
                format!("{}{key}: {new}\n", &l[..l.len() - t.len()])
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

#[test]
fn service_down_sends_mail_and_dashboard_queries_return_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    // The demo service, healthy until told otherwise, and a TLS one.
    let healthy = Arc::new(AtomicBool::new(true));
    let h = healthy.clone();
    let demo = TestServer::http(move |_| {
        if h.load(Ordering::SeqCst) {
            Reply::new(200, "ok")
        } else {
            Reply::new(503, "down for maintenance")
        }
    });
    let (tls, _, _) = self_signed((2031, 3, 4));
    let demo_tls = TestServer::https(tls, |_| Reply::new(200, "secure"));
    let app_log = dir.join("app.log");
    std::fs::write(&app_log, "").unwrap();
    // A pod log in the kubelet layout, for the namespace/container row.
    let pod_dir = dir.join("pods/shop_cart-1_uid-1/cart");
    std::fs::create_dir_all(&pod_dir).unwrap();
    std::fs::write(pod_dir.join("0.log"), "").unwrap();

    // The shipped nginx example follows a second log, for the value panels.
    let access_log = dir.join("access.log");
    std::fs::write(&access_log, "").unwrap();
    let nginx = std::fs::read_to_string("deploy/examples/nginx.yaml")
        .unwrap()
        .replace("/var/log/nginx/access.log", access_log.to_str().unwrap())
        .replace("logs:\n", "");

    let exporter = Exporter::start(&format!(
        "services:\n  - name: demo\n    interval: 1s\n    timeout: 500ms\n    http:\n      url: {}\n  - name: demo-tls\n    interval: 1s\n    timeout: 500ms\n    http:\n      url: https://127.0.0.1:{}/\n      tls:\n        insecure_skip_verify: true\nlogs:\n  - name: app\n    service: demo\n    paths: ['{}']\n    patterns:\n      - name: status\n        regex: 'status=(?P<code>\\d+)'\n        labels: [code]\n  - name: pods\n    paths: ['{}/pods/{{namespace}}_{{pod}}_{{uid}}/{{container}}/*.log']\n    path_labels: [namespace, container]\n{nginx}",
        demo.url("/health"),
        demo_tls.addr.port(),
        app_log.display(),
        dir.display()
    ));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&app_log)
        .unwrap()
        .write_all(b"INFO status=200\nWARNING slow status=200\n")
        .unwrap();
    // Two request times in (0.025, 0.05], two in (0.05, 0.1]: the median
    // interpolates to exactly the 0.05 bound.
    let mut access = String::new();
    for (status, rt) in [
        (200, "0.030"),
        (500, "0.060"),
        (200, "0.040"),
        (200, "0.070"),
    ] {
        access.push_str(&format!(
            "127.0.0.1 - - [29/Nov/2026:22:00:00 +0000] \"GET / HTTP/1.1\" {status} 612 \"-\" \"curl/8.5.0\" {rt}\n"
        ));
    }
    std::fs::write(&access_log, access).unwrap();

    // Alertmanager with the shipped config, pointed at the sink.
    let (smtp_port, mails) = smtp_sink();
    let pw = dir.join("smtp.password");
    std::fs::write(&pw, "sink-password\n").unwrap();
    let mut am_cfg = std::fs::read_to_string("deploy/alertmanager.yml").unwrap();
    am_cfg = set_key(
        &am_cfg,
        "smtp_smarthost",
        &format!("'127.0.0.1:{smtp_port}'"),
    );
    am_cfg = set_key(&am_cfg, "smtp_require_tls", "false");
    am_cfg = set_key(
        &am_cfg,
        "smtp_auth_password_file",
        &format!("'{}'", pw.display()),
    );
    am_cfg = set_key(&am_cfg, "group_wait", "1s");
    am_cfg = set_key(&am_cfg, "group_interval", "2s");
    std::fs::write(dir.join("alertmanager.yml"), am_cfg).unwrap();
    let am_port = free_port();
    let _am = spawn(
        "prometheus-alertmanager",
        &[
            format!("--config.file={}", dir.join("alertmanager.yml").display()),
            format!("--storage.path={}", dir.join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".into(),
        ],
        &dir.join("alertmanager.log"),
    );

    // Prometheus with the shipped rules, every `for: Nm` shortened to 3N
    // seconds (their order, which inhibition relies on, is kept).
    let rules: String = std::fs::read_to_string("deploy/alerts.yml")
        .unwrap()
        .lines()
        .map(|l| {
            let t = l.trim_start();
            match t
                .strip_prefix("for: ")
                .and_then(|d| d.strip_suffix('m'))
                .and_then(|m| m.parse::<u32>().ok())
            {
                Some(m) => format!("{}for: {}s\n", &l[..l.len() - t.len()], 3 * m),
                None => format!("{l}\n"),
            }
        })
        .collect();
    std::fs::write(dir.join("alerts.yml"), rules).unwrap();
    let (_prom, prom_addr) = start_prometheus(
        dir,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [alerts.yml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\nscrape_configs:\n  - job_name: vitals_exporter\n    static_configs:\n      - targets: ['{}']\n",
            exporter.addr
        ),
    );

    // 1. Prometheus scrapes the exporter.
    let up = wait_query(
        prom_addr,
        "up{job=\"vitals_exporter\"} == 1",
        Duration::from_secs(30),
    );
    assert_eq!(up[0]["value"][1], "1");

    // 2. Every dashboard query, variables substituted, returns data.
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("grafana/vitals_exporter.json").unwrap())
            .unwrap();
    let mut checked = 0;
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let q = t["expr"]
                .as_str()
                .unwrap()
                .replace("$job", "vitals_exporter")
                .replace("$instance", ".+")
                .replace("$service", ".+")
                .replace("$__rate_interval", "15s");
            wait_query(prom_addr, &q, Duration::from_secs(60));
            checked += 1;
        }
    }
    assert_eq!(checked, 30, "every query of the dashboard was run");

    // 2b. The latency histogram from the nginx example has the known median.
    let median = wait_query(
        prom_addr,
        "histogram_quantile(0.5, sum by (le) (vitals_log_pattern_value_seconds_bucket{log=\"nginx\",pattern=\"requests\"}))",
        Duration::from_secs(30),
    );
    assert_eq!(median[0]["value"][1], "0.05", "{median:?}");

    // 3. Error lines in the followed log fire VitalsLogErrors.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&app_log)
        .unwrap()
        .write_all(b"ERROR payment failed status=500\n")
        .unwrap();
    let fired = wait_query(
        prom_addr,
        "ALERTS{alertname=\"VitalsLogErrors\",alertstate=\"firing\",log=\"app\",microservice=\"demo\"}",
        Duration::from_secs(30),
    );
    assert_eq!(fired[0]["metric"]["severity"], "warning");

    // 4. The demo service goes down: VitalsServiceDown fires and mails.
    healthy.store(false, Ordering::SeqCst);
    let mail = wait_mail(
        &mails,
        "[FIRING:1] VitalsServiceDown",
        "demo",
        Duration::from_secs(60),
    );
    assert!(mail.contains("To: oncall@example.org"), "{mail}");
    assert!(mail.contains("A service fails its probes."), "{mail}");

    // 5. It comes back: a resolved mail follows.
    healthy.store(true, Ordering::SeqCst);
    let mail = wait_mail(
        &mails,
        "[RESOLVED] VitalsServiceDown",
        "demo",
        Duration::from_secs(60),
    );
    assert!(mail.contains("To: oncall@example.org"), "{mail}");
    // While the service was down, its HTTP-status warning was inhibited.
    assert!(
        !mails
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.contains("Subject: [FIRING:1] VitalsHttpStatusBad")),
        "critical inhibits warning for the same service"
    );
}
