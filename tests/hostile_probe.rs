//! `/probe` and the prober under a hostile caller or target: scrape-timeout
//! headers that overflow, credentials in target URLs, metadata addresses
//! hidden in IPv6, more concurrent probes than memory allows, and
//! redirects that try to collect the probe's credentials.
//!
//! This file is long (one case per attack): a suite is one test binary, and
//! each binary links the whole exporter, so suites are split by subject, not
//! by size.

mod common;

use std::time::Duration;

use common::*;

fn probe(e: &Exporter, module: &str, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let path = format!("/probe?module={module}&target={}", urlencode(target));
    let (status, _, body) = http_get(e.addr, &path, headers);
    (status, body)
}

#[test]
fn scrape_timeout_header_never_panics() {
    let srv = TestServer::http(|_| Reply::new(200, "ok"));
    let e = Exporter::start(
        "modules:\n  - name: web\n    timeout: 2s\n    http: {}\n    allowed_targets: ['127.0.0.1']\n",
    );
    let target = srv.url("/");
    let debug = |header: &str| {
        let path = format!("/probe?module=web&debug=true&target={}", urlencode(&target));
        http_get(
            e.addr,
            &path,
            &[("X-Prometheus-Scrape-Timeout-Seconds", header)],
        )
    };
    // Out of range, not finite, negative: the module's timeout, as blackbox.
    for header in [
        "2e19", "1e30", "1e308", "NaN", "nan", "-1", "inf", "-inf", "Infinity", "0", "0.5",
    ] {
        let (status, _, body) = debug(header);
        assert_eq!(status, 200, "{header}: {body}");
        assert!(
            body.contains("\nmodule=web target=") && body.contains(" timeout=2s\n"),
            "{header}: {body}"
        );
        assert_eq!(sample(&body, "probe_success"), Some(1.0), "{header}");
    }
    // A shorter scrape timeout wins, less blackbox's 0.5 s offset.
    let (status, _, body) = debug("1.5");
    assert_eq!(status, 200);
    assert!(body.contains(" timeout=1s\n"), "{body}");
    // Not a number: blackbox's 500 and message.
    for (header, why) in [
        ("ten", "invalid float literal"),
        ("1s", "invalid float literal"),
    ] {
        let (status, _, body) = debug(header);
        assert_eq!(
            (status, body),
            (
                500,
                format!("Failed to parse timeout from Prometheus header: {why}\n")
            ),
            "{header}"
        );
    }
    assert_eq!(e.get("/-/healthy").0, 200);
    e.metrics();
}

#[test]
fn credentials_in_the_target_url_are_refused() {
    let srv = TestServer::http(|_| Reply::new(200, "ok"));
    let e = Exporter::start(
        "modules:\n  - name: web\n    timeout: 2s\n    http: {}\n    allowed_targets: ['127.0.0.1']\n",
    );
    for target in [
        format!("http://user:pw@{}/", srv.addr),
        format!("http://user@{}/", srv.addr),
        format!("user:pw@{}", srv.addr),
    ] {
        assert_eq!(
            probe(&e, "web", &target, &[]),
            (
                400,
                "Target must not carry credentials (user:password@)\n".to_string()
            ),
            "{target}"
        );
    }
    assert_eq!(srv.hits(), 0);
    // The same URL without credentials is probed.
    let (status, body) = probe(&e, "web", &srv.url("/"), &[]);
    assert_eq!((status, sample(&body, "probe_success")), (200, Some(1.0)));
}

#[test]
fn metadata_addresses_embedded_in_ipv6_are_refused() {
    let e = Exporter::start(
        "modules:\n  - name: web\n    timeout: 2s\n    http: {}\n  - name: tcp\n    timeout: 2s\n    tcp: {}\n",
    );
    let cases = [
        ("64:ff9b::a9fe:a9fe", "64:ff9b::a9fe:a9fe"),
        ("64:ff9b::169.254.169.254", "64:ff9b::a9fe:a9fe"),
        ("2002:a9fe:a9fe::", "2002:a9fe:a9fe::"),
        ("::169.254.169.254", "::a9fe:a9fe"),
        ("64:ff9b::6464:64c8", "64:ff9b::6464:64c8"),
    ];
    for (literal, shown) in cases {
        let carried = if literal.ends_with("64c8") {
            "100.100.100.200"
        } else {
            "169.254.169.254"
        };
        let want = format!(
            "target refused: {literal} resolves to {shown} (carrying {carried}), a link-local or metadata address\n"
        );
        assert_eq!(
            probe(&e, "web", &format!("http://[{literal}]:80/"), &[]),
            (403, want.clone()),
            "{literal}"
        );
        assert_eq!(
            probe(&e, "tcp", &format!("[{literal}]:443"), &[]),
            (403, want),
            "{literal}"
        );
    }
    e.wait_value("vitals_probe_refused_total{module=\"web\"}", 5.0);
    e.wait_value("vitals_probe_refused_total{module=\"tcp\"}", 5.0);
}

#[test]
fn concurrent_probes_are_bounded() {
    let slow = TestServer::http(|_| Reply::new(200, "slow").delay(Duration::from_secs(3)));
    let e = Exporter::start_with(
        "modules:\n  - name: web\n    timeout: 10s\n    http: {}\n    allowed_targets: ['127.0.0.1']\n",
        &["--probe.max-concurrent", "2"],
        tempfile::tempdir().unwrap(),
    );
    let target = slow.url("/");
    let running: Vec<_> = (0..2)
        .map(|_| {
            let (addr, path) = (
                e.addr,
                format!("/probe?module=web&target={}", urlencode(&target)),
            );
            std::thread::spawn(move || http_get(addr, &path, &[]))
        })
        .collect();
    wait_for("two probes in flight", Duration::from_secs(10), || {
        slow.hits() == 2
    });
    assert_eq!(
        probe(&e, "web", &target, &[]),
        (
            503,
            "Too many probes in flight (--probe.max-concurrent)\n".to_string()
        )
    );
    assert_eq!(e.value("vitals_probe_requests_rejected_total"), Some(1.0));
    assert_eq!(e.get("/-/healthy").0, 200);
    for r in running {
        let (status, _, body) = r.join().unwrap();
        assert_eq!((status, sample(&body, "probe_success")), (200, Some(1.0)));
    }
    // The permits came back.
    let (status, body) = probe(&e, "web", &target, &[]);
    assert_eq!((status, sample(&body, "probe_success")), (200, Some(1.0)));
    assert_eq!(slow.hits(), 3);
}

#[test]
fn credentials_stay_with_the_origin_on_redirects() {
    let other_host = TestServer::http_at("127.0.0.2", |_| Reply::new(200, "elsewhere"));
    let other_port = TestServer::http(|_| Reply::new(200, "elsewhere"));
    let (to_host, to_port) = (other_host.url("/landing"), other_port.url("/landing"));
    let with_userinfo = format!("http://mallory:x@{}/userinfo-landing", other_host.addr);
    let scheme_relative = format!("//{}/relative-landing", other_host.addr);
    let home = TestServer::http(move |s| match s.path.as_str() {
        "/cross-host" => Reply::new(302, "").header("Location", &to_host),
        "/cross-port" => Reply::new(307, "").header("Location", &to_port),
        "/same" => Reply::new(301, "").header("Location", "/landing"),
        "/userinfo" => Reply::new(302, "").header("Location", &with_userinfo),
        "/scheme-relative" => Reply::new(302, "").header("Location", &scheme_relative),
        _ => Reply::new(200, "home"),
    });
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "pw", "hunter2\n");
    let e = Exporter::start_with(
        "modules:
  - name: authed
    timeout: 5s
    http:
      basic_auth: {username: u, password_file: pw}
      headers: {X-Token: t0ken}
    allowed_targets: ['127.0.0.0/8']
",
        &[],
        dir,
    );
    let auth = format!("Basic {}", common::b64(b"u:hunter2"));
    for path in [
        "/cross-host",
        "/cross-port",
        "/same",
        "/userinfo",
        "/scheme-relative",
    ] {
        let (status, body) = probe(&e, "authed", &home.url(path), &[]);
        assert_eq!(
            (
                status,
                sample(&body, "probe_success"),
                sample(&body, "probe_http_redirects")
            ),
            (200, Some(1.0), Some(1.0)),
            "{path}: {body}"
        );
    }
    let creds = |srv: &TestServer| {
        srv.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s.path.clone(),
                    s.header("authorization").map(str::to_string),
                    s.header("x-token").map(str::to_string),
                )
            })
            .collect::<Vec<_>>()
    };
    let with = |p: &str| (p.to_string(), Some(auth.clone()), Some("t0ken".to_string()));
    let without = |p: &str| (p.to_string(), None, None);
    assert_eq!(
        creds(&home),
        vec![
            with("/cross-host"),
            with("/cross-port"),
            with("/same"),
            with("/landing"),
            with("/userinfo"),
            with("/scheme-relative"),
        ]
    );
    // `//host/path` names another host: it gets the request, not the secrets.
    assert_eq!(
        creds(&other_host),
        vec![
            without("/landing"),
            without("/userinfo-landing"),
            without("/relative-landing"),
        ]
    );
    // The redirect's userinfo is not put into `Host` either.
    let hosts: Vec<String> = other_host
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.header("host").unwrap_or_default().to_string())
        .collect();
    assert_eq!(hosts, vec![other_host.addr.to_string(); 3]);
    assert_eq!(creds(&other_port), vec![without("/landing")]);
}

#[test]
fn redirects_change_the_method_as_go_does() {
    let srv = TestServer::http(|s| match s.path.as_str() {
        "/see-other" => Reply::new(303, "").header("Location", "/after-303"),
        "/found" => Reply::new(302, "").header("Location", "/after-302"),
        "/temporary" => Reply::new(307, "").header("Location", "/after-307"),
        "/permanent" => Reply::new(308, "").header("Location", "/after-308"),
        _ => Reply::new(200, "done"),
    });
    let e = Exporter::start(
        "modules:
  - name: post
    timeout: 5s
    http:
      method: POST
      body: payload
    allowed_targets: ['127.0.0.1']
",
    );
    for path in ["/see-other", "/found", "/temporary", "/permanent"] {
        let (status, body) = probe(&e, "post", &srv.url(path), &[]);
        assert_eq!(
            (status, sample(&body, "probe_success")),
            (200, Some(1.0)),
            "{path}: {body}"
        );
    }
    let seen: Vec<(String, String, Option<String>)> = srv
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s.method.clone(),
                s.path.clone(),
                s.header("content-length").map(str::to_string),
            )
        })
        .collect();
    let req = |m: &str, p: &str, len: Option<&str>| {
        (m.to_string(), p.to_string(), len.map(str::to_string))
    };
    assert_eq!(
        seen,
        vec![
            req("POST", "/see-other", Some("7")),
            req("GET", "/after-303", None),
            req("POST", "/found", Some("7")),
            req("GET", "/after-302", None),
            req("POST", "/temporary", Some("7")),
            req("POST", "/after-307", Some("7")),
            req("POST", "/permanent", Some("7")),
            req("POST", "/after-308", Some("7")),
        ]
    );
}

/// A target controls what failure messages quote (here a 60 000-byte
/// `Location`): they are cut to 512 bytes before they reach the log, the
/// status page and `/probe?debug=true`.
#[test]
fn huge_redirect_locations_do_not_bloat_messages() {
    let location = format!("ftp://{}", "x".repeat(60_000));
    let loc = location.clone();
    let srv = TestServer::http(move |_| Reply::new(302, "").header("Location", &loc));
    let e = Exporter::start(&format!(
        "modules:\n  - name: web\n    timeout: 2s\n    http: {{}}\n    allowed_targets: ['127.0.0.1']\n\
         services:\n  - name: redir\n    interval: 2s\n    timeout: 1s\n    http:\n      url: {}\n",
        srv.url("/")
    ));
    let full = format!("bad redirect location {location:?}");
    let want = format!("{}…", &full[..512]);

    let path = format!(
        "/probe?module=web&debug=true&target={}",
        urlencode(&srv.url("/"))
    );
    let (status, _, body) = http_get(e.addr, &path, &[]);
    assert_eq!(status, 200);
    let line = body
        .lines()
        .find(|l| l.starts_with("probe failed: "))
        .unwrap_or_else(|| panic!("no failure line in {body}"));
    assert_eq!(line, format!("probe failed: other: {want}"));

    e.wait_value("vitals_up{microservice=\"redir\"}", 0.0);
    let page = |e: &Exporter| e.get("/").2;
    wait_for(
        "the failure on the status page",
        Duration::from_secs(10),
        || page(&e).contains("<td>other: bad redirect location"),
    );
    let shown = format!("<td>other: {}</td>", want.replace('"', "&quot;"));
    let page = page(&e);
    assert!(page.contains(&shown), "{page}");
    assert!(page.len() < 8_000, "status page is {} bytes", page.len());
    wait_for(
        "the state change in the log",
        Duration::from_secs(10),
        || {
            e.log()
                .contains("msg=\"service is down\" microservice=redir")
        },
    );
    let log = e.log();
    assert!(
        !log.contains(&"x".repeat(1_000)),
        "{} bytes of log",
        log.len()
    );
}

#[test]
fn refused_probes_log_a_bounded_target() {
    let e = Exporter::start(
        "modules:\n  - name: web\n    timeout: 2s\n    http: {}\n    allowed_targets: ['10.0.0.0/8']\n",
    );
    let target = format!("http://127.0.0.1/{}", "a".repeat(60_000));
    let path = format!("/probe?module=web&target={}", urlencode(&target));
    let (status, _, body) = http_get(e.addr, &path, &[]);
    assert_eq!(status, 403, "{body}");
    assert!(body.len() < 1_024, "403 body is {} bytes", body.len());
    wait_for("the refusal in the log", Duration::from_secs(10), || {
        e.log().contains("msg=\"probe refused\"")
    });
    let log = e.log();
    let line = log
        .lines()
        .find(|l| l.contains("msg=\"probe refused\""))
        .unwrap_or_default();
    assert!(line.contains("target_bytes=60017"), "{line}");
    assert!(line.len() < 2_048, "refusal line is {} bytes", line.len());
}

#[test]
fn echoed_request_text_is_never_sniffed_as_html() {
    let e = Exporter::start(
        "modules:\n  - name: web\n    timeout: 2s\n    http: {}\n    allowed_targets: ['127.0.0.1']\n",
    );
    let path = format!(
        "/probe?module={}&target=x",
        urlencode("<script>alert(1)</script>")
    );
    let (status, head, body) = http_get_head(e.addr, &path, &[]);
    assert_eq!(status, 400, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{head}"
    );
    assert!(head.contains("text/plain; charset=utf-8"), "{head}");
}
