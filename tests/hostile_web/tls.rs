//! TLS: ALPN, and cipher suites the key can or cannot use.

use super::*;

/// Item 8: with `http2: false`, ALPN offers only http/1.1, so an
/// HTTP/2-capable client speaks HTTP/1.1 and gets its answer.
#[test]
fn http2_off_is_not_offered_in_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let (web, ca) = tls_web_config(dir.path(), "http_server_config:\n  http2: false\n");
    let e = start_with_web(dir, &web);
    let cfg = tls_client(&ca, None);
    wait_tls_ready(&e, &cfg);
    let mut s = tls_handshake(e.addr, &with_alpn(&cfg, &[b"h2", b"http/1.1"]));
    assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    s.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nHealthy\n"), "{text}");
}

/// Item 9: Go's TLS 1.3 suite names are accepted (and TLS 1.3 stays on).
#[test]
fn tls13_suite_names_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (web, ca) = tls_web_config(
        dir.path(),
        "  cipher_suites: [TLS_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n",
    );
    let e = start_with_web(dir, &web);
    let cfg = tls_client(&ca, None);
    wait_tls_ready(&e, &cfg);
    let s = tls_handshake(e.addr, &cfg);
    assert_eq!(
        s.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

/// Item 9: TLS 1.2 only, with RSA suites only, and an ECDSA key: every
/// handshake would fail, so the exporter refuses to start.
#[test]
fn tls12_suites_that_cannot_use_the_key_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (web, _) = tls_web_config(
        dir.path(),
        "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n",
    );
    let config = write_file(dir.path(), "exporter.yaml", SERVICES);
    let (code, _, stderr) = run_bin_within(&[
        "--config.file",
        config.to_str().unwrap(),
        "--web.config.file",
        web.to_str().unwrap(),
        "--web.listen-address",
        "127.0.0.1:0",
        "--storage.path",
        dir.path().join("data").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr.lines().last().unwrap(),
        format!(
            "{}: tls_server_config.cipher_suites: no TLS 1.2 suite listed can be used with the ECDSA key in key_file, and max_version: TLS12 rules out TLS 1.3: every handshake would fail",
            web.display()
        )
    );
}
