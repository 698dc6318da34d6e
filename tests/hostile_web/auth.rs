//! Basic auth under attack: abandoned logins, revoked passwords on open
//! connections, odd `Authorization` spellings, timing of unknown users.

use super::*;

/// One HTTP/1.1 keep-alive connection, for requests one after another.
struct KeepAlive(TcpStream);

impl KeepAlive {
    fn new(addr: SocketAddr) -> KeepAlive {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        KeepAlive(s)
    }

    /// GET `path`: (status, body). The body is read by Content-Length.
    fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.0.write_all(req.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(self.0.read(&mut byte).unwrap(), 1, "connection closed");
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let len: usize = header_value(&head, "content-length")
            .map(|v| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        self.0.read_exact(&mut body).unwrap();
        (status, body)
    }
}

/// Item 3: abandoned wrong-password requests must leave the bcrypt queue;
/// an uncached right password then gets in.
#[test]
fn abandoned_logins_do_not_lock_out_the_next_one() {
    // Cost 10, as the toolkit's examples: slow enough for a queue to form.
    let e = start_with_user(PASSWORD, 10);
    let wrong = basic(USER, "wrong");
    // In rounds: each round fills the queue, and its clients give up.
    for _ in 0..4 {
        let clients: Vec<_> = (0..30)
            .map(|_| {
                let (addr, wrong) = (e.addr, wrong.clone());
                thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
                    let req = format!(
                        "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: {wrong}\r\n\r\n"
                    );
                    s.write_all(req.as_bytes()).unwrap();
                    let _ = s.read(&mut [0u8; 64]);
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
    }
    let right = basic(USER, PASSWORD);
    let mut last = 0;
    wait_for("uncached login accepted", Duration::from_secs(20), || {
        last = http_get_head(e.addr, "/metrics", &[("Authorization", &right)]).0;
        last == 200
    });
    assert_eq!(
        http_get_head(e.addr, "/metrics", &[("Authorization", &wrong)]).0,
        401
    );
}

/// Item 5: a password revoked in the web config stops working on a
/// keep-alive connection opened before.
#[test]
fn revoked_password_stops_working_on_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let web = write_file(&d, "web.yml", &users_yaml(PASSWORD, 4));
    let e = start_with_web(dir, &web);
    wait_for("ready", Duration::from_secs(20), || {
        e.get("/-/ready").0 == 200
    });
    let old = basic(USER, PASSWORD);
    let mut conn = KeepAlive::new(e.addr);
    assert_eq!(conn.get("/metrics", &[("Authorization", &old)]).0, 200);
    write_file(&d, "web.yml", &users_yaml("new password", 4));
    wait_for("old password refused", Duration::from_secs(8), || {
        conn.get("/metrics", &[("Authorization", &old)]).0 == 401
    });
    let new = basic(USER, "new password");
    assert_eq!(conn.get("/metrics", &[("Authorization", &new)]).0, 200);
    assert_eq!(
        http_get_head(e.addr, "/metrics", &[("Authorization", &old)]).0,
        401
    );
}

/// One raw request with arbitrary header bytes; returns the status.
fn status_with_raw_header(addr: SocketAddr, header: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_vec();
    req.extend_from_slice(header);
    req.extend_from_slice(b"\r\n\r\n");
    s.write_all(&req).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    String::from_utf8_lossy(&raw[..12.min(raw.len())])[9..]
        .parse()
        .unwrap()
}

/// Spellings of `Authorization` a client may send: the scheme in any case,
/// extra spaces, a colon in the password are accepted; an empty user,
/// missing parts, a huge or non-UTF-8 value are refused, never a 500.
#[test]
fn authorization_header_variants() {
    let pass = "a:b c:";
    let e = start_with_user(pass, 4);
    let b64 = |s: &str| common::b64(s.as_bytes());
    let creds = b64(&format!("{USER}:{pass}"));
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (format!("Authorization: Basic {creds}").into(), 200),
        (format!("Authorization: basic {creds}").into(), 200),
        (format!("Authorization: BASIC   {creds}  ").into(), 200),
        (format!("authorization:Basic {creds}").into(), 200),
        (
            format!("Authorization: Basic {}", b64(&format!("{USER}:a"))).into(),
            401,
        ),
        (
            format!("Authorization: Basic {}", b64(&format!(":{pass}"))).into(),
            401,
        ),
        (format!("Authorization: Basic {}", b64(USER)).into(), 401),
        (format!("Authorization: Basic{creds}").into(), 401),
        (format!("Authorization: Bearer {creds}").into(), 401),
        (b"Authorization: Basic".to_vec(), 401),
        (b"Authorization: Basic !!!!".to_vec(), 401),
        (
            format!("Authorization: Basic {}", "QUFB".repeat(2_000)).into(),
            401,
        ),
        (b"Authorization: Basic \xff\xfe\x80".to_vec(), 401),
        (
            format!("Authorization: Basic {}", b64("\u{0}:\u{0}")).into(),
            401,
        ),
        (
            [
                b"Authorization: Basic ".as_slice(),
                common::b64(b"\xff:\xff").as_bytes(),
            ]
            .concat(),
            401,
        ),
    ];
    for (header, want) in cases {
        assert_eq!(
            status_with_raw_header(e.addr, &header),
            want,
            "{}",
            String::from_utf8_lossy(&header)
        );
    }
    assert_eq!(e.get("/-/healthy").0, 200);
}

/// Wrong passwords of an unknown user take as long as those of a known
/// one, also when the configured hash is slower than cost 10: a fixed
/// cost-10 dummy hash answered unknown users 4 times faster, naming the
/// users that exist.
#[test]
fn unknown_users_take_as_long_as_known_ones() {
    let e = start_with_user(PASSWORD, 12);
    // The fastest of a few tries, known and unknown taking turns: the
    // machine's load (other tests of this binary flood connections) only
    // adds time, and falls on both alike.
    let try_once = |user: &str| {
        let header = basic(user, "wrong");
        let t = Instant::now();
        let status = http_get_head(e.addr, "/metrics", &[("Authorization", &header)]).0;
        assert_eq!(status, 401);
        t.elapsed()
    };
    let (mut known, mut unknown) = (Duration::MAX, Duration::MAX);
    for _ in 0..4 {
        known = known.min(try_once(USER));
        unknown = unknown.min(try_once("nobody"));
    }
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.6..1.7).contains(&ratio),
        "unknown user {unknown:?}, known user {known:?}"
    );
}
