//! Speed of structured level extraction (issue 12): generates ~200 MB of JSON lines in the three
//! logger styles of the bench's `gen_json_log.py` (decoy words inside 4 % of info messages, 0.5 %
//! with a long stack field), then times `logformat::level` and a numeric field lookup over them.
//! Reports MB per CPU-second of this thread (splitting the buffer into lines included) and checks the counts are exact.
//!
//! `cargo run --release --example logformat_speed [MB]`

// `cargo test --all-targets` builds examples as tests too: without this the logformat unit tests
// (compiled in through the module below) ran a second time there.
#![cfg(not(test))]

// The module is crate-private and a leaf (no `crate::` imports), so the example compiles its
// source directly rather than widening the library's API for a measurement.
#[allow(dead_code, unused_imports)]
#[path = "../src/logformat/mod.rs"]
mod logformat;

use logformat::{level, lookup, parse_number, FieldSet, Format, Level, Outcome};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// Newline-terminated lines in one buffer (as the follower reads them), and the expected error
/// and warning counts.
fn generate(target_bytes: usize) -> (Vec<u8>, usize, usize) {
    let svcs = [
        "api-gateway",
        "auth",
        "billing",
        "catalog",
        "checkout",
        "inventory",
        "search",
    ];
    let paths = [
        "/v1/orders",
        "/v1/users/me",
        "/v1/cart",
        "/healthz",
        "/v1/search",
        "/login",
    ];
    let decoys = [
        "upstream said ERROR budget ok",
        "WARNING banner from client ignored",
        r#"echo body {\"level\":\"error\",\"x\":1}"#,
        "parsed field level=error from replay",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut buf, mut errors, mut warnings) = (Vec::with_capacity(target_bytes + 4096), 0, 0);
    let mut k = 0u64;
    while buf.len() < target_bytes {
        k += 1;
        let r = rng.below(100);
        let lvl = match r {
            0..=2 => {
                errors += 1;
                "error"
            }
            3..=10 => {
                warnings += 1;
                "warning"
            }
            _ if rng.below(10) < 9 => "info",
            _ => "debug",
        };
        let mut msg = format!(
            "request done path={} dur_ms={}",
            rng.pick(&paths),
            1 + rng.below(2000)
        );
        if r > 10 && rng.below(1000) < 45 {
            msg = format!("{} {msg}", rng.pick(&decoys));
        }
        let style = rng.below(10);
        let mut line = match style {
            0..=6 => format!(
                r#"{{"ts":{}.{},"level":"{}","logger":"{}","msg":"{msg}","trace_id":"{:016x}","dur_ms":{}}}"#,
                1_700_000_000 + k / 2000,
                k % 2000,
                if lvl == "warning" { "warn" } else { lvl },
                rng.pick(&svcs),
                rng.next(),
                1 + rng.below(2000)
            ),
            7 | 8 => format!(
                r#"{{"time": "2023-11-14T22:13:{:06.3}Z", "level": "{}", "name": "{}", "message": "{msg}", "pid": {}}}"#,
                (k % 60000) as f64 / 1000.0,
                lvl.to_uppercase(),
                rng.pick(&svcs),
                100 + rng.below(32000)
            ),
            _ => format!(
                r#"{{"msg":"{msg}","level":"{}","svc":"{}","bytes":{}}}"#,
                match lvl {
                    "error" => "err",
                    "warning" => "warn",
                    l => l,
                },
                rng.pick(&svcs),
                100 + rng.below(90000)
            ),
        };
        if rng.below(1000) < 5 {
            line.pop();
            let frames: Vec<String> = (0..10 + rng.below(20))
                .map(|j| {
                    format!(
                        "at com.example.Handler{j}.m(Handler.java:{})",
                        10 + rng.below(890)
                    )
                })
                .collect();
            line.push_str(&format!(r#","stack":"{}"}}"#, frames.join("\\n")));
        }
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
    }
    (buf, errors, warnings)
}

/// The lines of `buf`, without their newlines.
fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', buf).map(move |end| {
        let line = &buf[start..end];
        start = end + 1;
        line
    })
}

/// CPU time of this thread, in seconds.
fn cpu_seconds() -> f64 {
    // The first field of schedstat is the time spent on a CPU, in nanoseconds.
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    s.split_whitespace()
        .next()
        .and_then(|ns| ns.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}

fn main() {
    let mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let (buf, want_errors, want_warnings) = generate(mb * 1_000_000);
    let bytes = buf.len();
    println!(
        "{} lines, {:.1} MB",
        lines(&buf).count(),
        bytes as f64 / 1e6
    );

    let fields = FieldSet::default_levels();
    for _ in 0..3 {
        let t0 = cpu_seconds();
        let (mut errors, mut warnings, mut bad) = (0, 0, 0);
        for line in lines(&buf) {
            match level(line, Format::Json, &fields) {
                Outcome::Level(Level::Error) => errors += 1,
                Outcome::Level(Level::Warning) => warnings += 1,
                Outcome::Level(Level::Other) => {}
                Outcome::NoField | Outcome::Malformed => bad += 1,
            }
        }
        let cpu = cpu_seconds() - t0;
        let ok = errors == want_errors && warnings == want_warnings && bad == 0;
        println!(
            "levels: {:.0} MB per CPU-second ({cpu:.3} s); error={errors} warning={warnings} counts_ok={ok}",
            bytes as f64 / 1e6 / cpu
        );
        assert!(
            ok,
            "expected error={want_errors} warning={want_warnings}, no parse errors; got {bad}"
        );
    }

    let dur = FieldSet::new(&["dur_ms"]).expect("one field");
    let t0 = cpu_seconds();
    let (mut sum, mut n) = (0.0, 0u64);
    for line in lines(&buf) {
        if let Ok(Some((_, v))) = lookup(line, Format::Json, &dur) {
            if let Some(x) = parse_number(&v) {
                sum += x;
                n += 1;
            }
        }
    }
    let cpu = cpu_seconds() - t0;
    println!(
        "dur_ms values: {:.0} MB per CPU-second ({cpu:.3} s); {n} values, mean {:.1}",
        bytes as f64 / 1e6 / cpu,
        sum / n as f64
    );
}
