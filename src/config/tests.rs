use super::*;

#[test]
fn syntax_errors_after_non_ascii_text_name_their_field() {
    let err = |text: &str| match parse(text, Path::new("x.yaml")) {
        Err(ConfigError::Syntax {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("{other:?}"),
    };
    let (line, column, message) = err("services:\n  - name: \"ééé\"\n    bogus: 1\n");
    assert_eq!((line, column), (3, 5));
    assert!(
        message.starts_with("bogus: unknown field `bogus`"),
        "{message}"
    );
    let (_, _, message) = err("services:\n  - name: ééé\n    →timeout: 1\n");
    assert!(!message.is_empty());
    // The key sits after two-byte characters on its own line.
    let (line, column, message) = err("services: [{name: \"ééé\", bogus: 1}]\n");
    assert_eq!((line, column), (1, 26));
    assert!(
        message.starts_with("bogus: unknown field `bogus`"),
        "{message}"
    );
    let (_, _, message) = err("défauts: 1\n");
    assert!(message.starts_with("défauts: unknown field"), "{message}");
}

/// A service whose password and CA file are `pw` and `ca.pem` in `dir`,
/// after `blank` empty lines.
fn fingerprint_of(dir: &Path, blank: usize) -> u64 {
    let text = format!(
        "{}services:\n  - name: s\n    http:\n      url: https://127.0.0.1/\n      basic_auth: {{username: u, password_file: pw}}\n      tls: {{ca_file: ca.pem}}\n",
        "\n".repeat(blank)
    );
    let c = parse(&text, &dir.join("exporter.yaml")).unwrap();
    c.services[0].fingerprint
}

#[test]
fn fingerprints_follow_file_contents_not_locations() {
    let dir = tempfile::tempdir().unwrap();
    let ca = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        cert.pem()
    };
    std::fs::write(dir.path().join("pw"), "one\n").unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca("a")).unwrap();
    let first = fingerprint_of(dir.path(), 0);
    assert_eq!(fingerprint_of(dir.path(), 3), first, "moved, not changed");
    std::fs::write(dir.path().join("pw"), "two\n").unwrap();
    let second = fingerprint_of(dir.path(), 0);
    assert_ne!(second, first, "password changed");
    std::fs::write(dir.path().join("ca.pem"), ca("b")).unwrap();
    assert_ne!(fingerprint_of(dir.path(), 0), second, "CA bundle changed");
}

mod prop {
    use super::super::duration::parse_duration;
    use super::super::parse;
    use proptest::prelude::*;
    use std::path::Path;

    /// Pieces of the schema and of YAML syntax, so that random
    /// documents reach validation, not only the tokenizer.
    const TOKENS: &[&str] = &[
        "services:",
        "modules:",
        "service_files:",
        "logs:",
        "defaults:",
        "\n",
        "  ",
        "    ",
        "- ",
        "name: ",
        "x",
        "y",
        "http:",
        "tcp:",
        "url: ",
        "http://127.0.0.1/",
        "https://[::1]:1/",
        "address: ",
        "127.0.0.1:80",
        "interval: ",
        "timeout: ",
        "15s",
        "1m",
        "0s",
        "99999999999d",
        "method: ",
        "headers: ",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "'",
        "&a ",
        "*a",
        "<<: ",
        "!!str ",
        "? ",
        "|",
        ">",
        "#",
        "\t",
        "é",
        "~",
        "valid_status_codes: ",
        "-1",
        "1e309",
        "allowed_targets: ",
        "10.0.0.0/99",
        "*.x",
        "files: ",
        "module: ",
        "paths: ",
        "${",
        "}",
        "max_body_bytes: ",
        "0",
        "fail_if_body_matches: ",
        "(",
        "basic_auth: ",
        "tls: ",
        "insecure_skip_verify: ",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&String::from_utf8_lossy(&bytes), Path::new("/nonexistent/x.yaml"));
        }

        #[test]
        fn any_token_soup_never_panics(tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..96)) {
            let _ = parse(&tokens.concat(), Path::new("/nonexistent/x.yaml"));
        }

        #[test]
        fn durations_never_panic(s in proptest::collection::vec(proptest::sample::select(&["1", "0", "99999999999", "ms", "s", "m", "h", "d", "x", ""][..]), 0..12)) {
            let _ = parse_duration(&s.concat());
        }
    }
}

/// Every line of the error `parse` gives for `text`, read as `dir/x.yaml`.
fn errors_in(dir: &Path, text: &str) -> Vec<String> {
    match parse(text, &dir.join("x.yaml")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    }
}

#[test]
fn a_good_config_validates_into_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    let text = r#"
defaults:
  interval: 30s
services:
  - name: web
    http:
      url: https://127.0.0.1:8443/health
      method: post
      valid_status_codes: [200, 204]
      bearer_token_file: token
      tls: {insecure_skip_verify: true, server_name: api.local}
  - name: db
    interval: 1m
    timeout: 1500ms
    tcp:
      address: "[::1]:5432"
logs:
  - name: app
    paths: [logs/*.log]
    service: web
    patterns:
      - name: user
        regex: 'user=(?P<user>\w+)'
        labels: [user]
modules:
  - name: http_2xx
    http: {}
    allowed_targets: [10.0.0.0/8, "*.internal"]
service_files:
  - files: [sd/*.json]
    module: http_2xx
"#;
    let c = parse(text, &dir.path().join("x.yaml")).unwrap();
    let base = dir.path().display();

    let web = &c.services[0];
    assert_eq!(
        (web.name.as_str(), web.interval, web.timeout),
        ("web", Duration::from_secs(30), Duration::from_secs(5))
    );
    let ProbeSpec::Http(h) = &web.probe else {
        panic!("{:?}", web.probe)
    };
    assert_eq!(h.url.to_string(), "https://127.0.0.1:8443/health");
    assert_eq!(h.method, hyper::Method::POST);
    assert_eq!(h.valid_status_codes, [200, 204]);
    assert_eq!(
        h.authorization.as_ref().map(Secret::expose),
        Some("Bearer t0ken")
    );
    assert_eq!(
        (h.tls.ca.is_none(), h.tls.insecure_skip_verify),
        (true, true)
    );
    assert_eq!(h.server_name.as_deref(), Some("api.local"));
    assert_eq!((h.max_body_bytes, h.follow_redirects), (1 << 20, true));
    assert!(h.policy.is_none(), "only modules have an allowlist");

    let db = &c.services[1];
    assert_eq!(
        (db.name.as_str(), db.interval, db.timeout),
        ("db", Duration::from_secs(60), Duration::from_millis(1500))
    );
    let ProbeSpec::Tcp(t) = &db.probe else {
        panic!("{:?}", db.probe)
    };
    assert_eq!(
        (t.host.as_str(), t.port, t.tls.is_none()),
        ("::1", 5432, true)
    );

    let app = &c.logs[0];
    assert_eq!(app.name, "app");
    assert_eq!(app.paths, [format!("{base}/logs/*.log")]);
    assert_eq!(app.service.as_deref(), Some("web"));
    assert_eq!(
        (
            app.start_at,
            app.watch,
            app.poll_interval,
            app.max_line_bytes
        ),
        (
            logs::StartAt::End,
            logs::WatchMode::Inotify,
            Duration::from_secs(1),
            1 << 20
        )
    );
    assert_eq!(app.levels, logs::Levels::default());
    let p = &app.patterns[0];
    assert_eq!(
        (
            p.name.as_str(),
            p.regex.as_str(),
            p.labels.as_slice(),
            p.max_series
        ),
        (
            "user",
            r"user=(?P<user>\w+)",
            &["user".to_string()][..],
            1000
        )
    );

    let m = &c.modules[0];
    assert_eq!(
        (m.name.as_str(), m.timeout),
        ("http_2xx", Duration::from_secs(5))
    );
    let ProbeSpec::Http(mh) = &m.probe else {
        panic!("{:?}", m.probe)
    };
    assert_eq!(
        mh.policy.as_deref(),
        Some(&crate::net::policy::AllowedTargets {
            entries: vec!["10.0.0.0/8".into(), "*.internal".into()],
            allow_link_local: false,
        })
    );

    let sf = &c.service_files[0];
    assert_eq!(sf.paths, [format!("{base}/sd/*.json")]);
    assert_eq!(
        (sf.module.name.as_str(), sf.interval),
        ("http_2xx", Duration::from_secs(30))
    );
}

#[test]
fn an_unknown_field_names_its_key_and_the_expected_ones() {
    let dir = Path::new("/etc/vitals");
    assert_eq!(
        errors_in(dir, "services:\n  - name: web\n    htp:\n      url: http://h/\n"),
        ["/etc/vitals/x.yaml:3:5: htp: unknown field `htp`, expected one of name, interval, timeout, http, tcp"]
    );
}

#[test]
fn bad_durations_and_timeouts_not_below_their_interval_are_refused() {
    let dir = Path::new("/etc/vitals");
    let text = "\
defaults:
  interval: 15
  timeout: 0s
services:
  - name: a
    interval: 10s
    timeout: 10s
    tcp: {address: '127.0.0.1:1'}
modules:
  - name: m
    timeout: 1m
    tcp: {}
service_files:
  - files: [/sd/*.json]
    module: m
    interval: 1m
";
    assert_eq!(
        errors_in(dir, text),
        [
            r#"/etc/vitals/x.yaml:2:13: defaults.interval: invalid duration "15" (use e.g. 500ms, 15s, 1m30s)"#,
            "/etc/vitals/x.yaml:3:12: defaults.timeout: must be greater than 0s",
            "/etc/vitals/x.yaml:7:14: services[0].timeout: timeout 10s must be below interval 10s",
            r#"/etc/vitals/x.yaml:15:13: service_files[0].module: module "m" has timeout 60s, not below the interval 60s"#,
        ]
    );
}

#[test]
fn a_bad_regex_in_logs_is_quoted_on_one_line() {
    let dir = Path::new("/etc/vitals");
    let text = "\
logs:
  - name: app
    paths: [/var/log/app.log]
    patterns:
      - name: p
        regex: '(unclosed'
";
    assert_eq!(
        errors_in(dir, text),
        ["/etc/vitals/x.yaml:6:16: logs[0].patterns[0].regex: invalid regex: regex parse error: (unclosed ^ error: unclosed group"]
    );
}

#[test]
fn missing_secret_and_ca_files_are_named_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("not-a-ca.pem"), "hello\n").unwrap();
    let text = "\
services:
  - name: s
    http:
      url: https://127.0.0.1/
      basic_auth: {username: u, password_file: missing.pw}
      tls: {ca_file: not-a-ca.pem}
";
    let d = dir.path().display();
    assert_eq!(
        errors_in(dir.path(), text),
        [
            format!("{d}/x.yaml:5:48: services[0].http.basic_auth.password_file: {d}/missing.pw: cannot read: No such file or directory (os error 2)"),
            format!("{d}/x.yaml:6:22: services[0].http.tls.ca_file: cannot read CA certificates from {d}/not-a-ca.pem: no PEM certificate found"),
        ]
    );
}
