//! The web config rewritten, swapped or named wrong: refused or picked
//! up by content, never half-applied.

use super::*;

/// Item 6: an empty web config (a truncate caught before the write) and
/// one without TLS are refused; TLS and auth keep serving.
#[test]
fn empty_or_tls_dropping_web_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let users = users_yaml(PASSWORD, 4);
    let (web, ca) = tls_web_config(&d, &users);
    let e = start_with_web(dir, &web);
    let cfg = tls_client(&ca, None);
    wait_tls_ready(&e, &cfg);
    let right = basic(USER, PASSWORD);
    let check = || {
        assert_eq!(https_get(e.addr, &cfg, "/metrics", &[]).unwrap().0, 401);
        let (status, _, body, _) =
            https_get(e.addr, &cfg, "/metrics", &[("Authorization", &right)]).unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("vitals_build_info"));
        let mut plain = TcpStream::connect(e.addr).unwrap();
        plain
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        plain
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        let _ = plain.read_to_end(&mut buf);
        assert!(
            !buf.starts_with(b"HTTP/1.1 200"),
            "plain HTTP must not be served"
        );
    };
    std::fs::write(&web, "").unwrap();
    wait_for("empty file refused", Duration::from_secs(10), || {
        e.log()
            .contains("the file is empty; an empty web configuration is refused")
    });
    check();
    write_file(&d, "web.yml", &users);
    wait_for("TLS switch refused", Duration::from_secs(10), || {
        e.log().contains("the new web configuration switches TLS on or off, which needs a restart; keeping the previous one")
    });
    check();
    assert!(
        !e.log().contains("web configuration reloaded"),
        "{}",
        e.log()
    );
}

/// Sets the mtime of `path`, as `cp -p` or `rsync -t` would.
fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Item 7: changes are seen by content: a web config rewritten in place with
/// the same size and mtime, and certificate files swapped in with an old
/// mtime.
#[test]
fn web_config_changes_with_an_old_mtime_are_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let users = |pw: &str| users_yaml(pw, 4);
    let (web, ca) = tls_web_config(&d, &users(PASSWORD));
    let e = start_with_web(dir, &web);
    let cfg = tls_client(&ca, None);
    wait_tls_ready(&e, &cfg);
    let before = std::fs::metadata(&web).unwrap();
    let text = std::fs::read_to_string(&web).unwrap();
    // Same user, same hash length: same size; then the old mtime back.
    let new_text = format!(
        "{}{}",
        &text[..text.find("basic_auth_users").unwrap()],
        users("rotated password")
    );
    assert_eq!(new_text.len(), text.len());
    std::fs::write(&web, &new_text).unwrap();
    set_mtime(&web, before.modified().unwrap());
    let rotated = basic(USER, "rotated password");
    wait_for("new password accepted", Duration::from_secs(10), || {
        https_get(e.addr, &cfg, "/metrics", &[("Authorization", &rotated)])
            .is_ok_and(|r| r.0 == 200)
    });
    let old = basic(USER, PASSWORD);
    assert_eq!(
        https_get(e.addr, &cfg, "/metrics", &[("Authorization", &old)])
            .unwrap()
            .0,
        401
    );

    // A new certificate from a new CA, moved into place with an mtime of 2001.
    let first = https_get(e.addr, &cfg, "/-/healthy", &[]).unwrap().3;
    let pki = Pki::new();
    let (cert, key) = pki.leaf(&["localhost"], false);
    let old_time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    for (name, pem) in [("server.key", key), ("server.pem", cert)] {
        let tmp = write_file(&d, &format!("{name}.new"), &pem);
        set_mtime(&tmp, old_time);
        std::fs::rename(&tmp, d.join(name)).unwrap();
    }
    let cfg2 = tls_client(&pki.ca_pem, None);
    wait_for("new certificate served", Duration::from_secs(10), || {
        https_get(e.addr, &cfg2, "/-/healthy", &[]).is_ok_and(|r| r.0 == 200 && r.3 != first)
    });
}

/// Item 10: a telemetry path on another endpoint (a public one would serve
/// every metric without credentials) is refused at start.
#[test]
fn telemetry_path_colliding_with_an_endpoint_is_refused() {
    for path in ["/-/ready", "/-/healthy", "/", "/probe", "/-/reload"] {
        let (code, stdout, stderr) = run_bin_within(&["--web.telemetry-path", path]);
        assert_eq!(code, 1, "{path}");
        assert_eq!(stdout, "");
        assert_eq!(
            stderr,
            format!("--web.telemetry-path \"{path}\": already served by another endpoint (/, /-/healthy, /-/ready, /-/reload, /probe); choose another path\n")
        );
    }
}

/// Every file the web config involves is read bounded, regular files only,
/// without blocking: a FIFO as the web config and `/dev/zero` as a
/// certificate are refused at start with the field that named them.
#[test]
fn web_config_files_that_are_not_regular_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "exporter.yaml", SERVICES);
    let storage = dir.path().join("data");
    let start = |web: &Path| {
        run_bin_within(&[
            "--config.file",
            config.to_str().unwrap(),
            "--web.config.file",
            web.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
            "--storage.path",
            storage.to_str().unwrap(),
        ])
    };
    let fifo = dir.path().join("web-fifo.yml");
    mkfifo(&fifo);
    let (code, _, stderr) = start(&fifo);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr.lines().last().unwrap(),
        format!("{}: not a regular file (a FIFO)", fifo.display())
    );
    let (web, _) = tls_web_config(dir.path(), "");
    let text = std::fs::read_to_string(&web)
        .unwrap()
        .replace("cert_file: server.pem", "cert_file: /dev/zero");
    std::fs::write(&web, text).unwrap();
    let (code, _, stderr) = start(&web);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr.lines().last().unwrap(),
        format!(
            "{}: tls_server_config.cert_file /dev/zero: not a regular file (a character device)",
            web.display()
        )
    );
}
