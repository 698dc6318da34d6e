use super::super::{parse_cri, DockerParser, Malformed};
use super::*;
use proptest::prelude::*;

#[test]
fn cri_records() {
    let ok = |line: &str| {
        parse_cri(line.as_bytes()).map(|r| {
            (
                r.stream,
                r.partial,
                String::from_utf8_lossy(r.message).into_owned(),
            )
        })
    };
    let s = |m: &str| m.to_string();
    assert_eq!(
        ok("2024-01-02T03:04:05.123456789Z stdout F hello world"),
        Ok((Stream::Stdout, false, s("hello world")))
    );
    assert_eq!(
        ok("2024-01-02T03:04:05Z stderr P part "),
        Ok((Stream::Stderr, true, s("part ")))
    );
    assert_eq!(
        ok("2024-01-02T03:04:05Z stdout F"),
        Ok((Stream::Stdout, false, s("")))
    );
    assert_eq!(
        ok("2024-01-02T03:04:05Z stdout F "),
        Ok((Stream::Stdout, false, s("")))
    );
    assert_eq!(
        ok("2024-01-02T03:04:05Z stdout F:x  two  spaces"),
        Ok((Stream::Stdout, false, s(" two  spaces")))
    );
    assert_eq!(
        ok("2024-01-02T03:04:05Z stdout P:x {\"level\":\"error\"}"),
        Ok((Stream::Stdout, true, s("{\"level\":\"error\"}")))
    );
    for bad in [
        "",
        "x stdout F m",
        "2024 stdin F m",
        "2024 stdout X m",
        "2024 stdout",
        "2024  stdout F m",
        "2024 stdout f m",
    ] {
        assert_eq!(ok(bad), Err(Malformed), "{bad}");
    }
}

#[test]
fn docker_records() {
    let p = DockerParser::default();
    let ok = |line: &str| {
        p.parse(line.as_bytes()).map(|r| {
            (
                r.stream,
                r.partial,
                String::from_utf8_lossy(&r.message).into_owned(),
            )
        })
    };
    let s = |m: &str| m.to_string();
    assert_eq!(
        ok(
            r#"{"log":"{\"level\":\"error\",\"msg\":\"a\\\"b\"}\n","stream":"stderr","time":"2024-01-02T03:04:05.1Z"}"#
        ),
        Ok((
            Stream::Stderr,
            false,
            s(r#"{"level":"error","msg":"a\"b"}"#)
        ))
    );
    assert_eq!(
        ok(r#"{"log":"part","stream":"stdout","time":"t"}"#),
        Ok((Stream::Stdout, true, s("part")))
    );
    assert_eq!(
        ok(r#"{"stream":"stdout","log":"caf\u00e9\n"}"#),
        Ok((Stream::Stdout, false, s("café")))
    );
    assert_eq!(
        ok(r#"{"log":"","stream":"stdout"}"#),
        Ok((Stream::Stdout, true, s("")))
    );
    assert_eq!(
        ok(r#"{"log":"\n","stream":"stdout"}"#),
        Ok((Stream::Stdout, false, s("")))
    );
    for bad in [
        r#"{"stream":"stdout"}"#,
        r#"{"log":"x\n"}"#,
        r#"{"log":"x\n","stream":"stdin"}"#,
        r#"{"log":"x\n","stream":"stdout""#,
        "log",
        r#"{"log":5,"stream":"stdout"}"#,
        r#"{"log": null,"stream":"stdout"}"#,
        r#"{"log":{"a":"x\n"},"stream":"stdout"}"#,
        r#"{"log":["x\n"],"stream":"stdout"}"#,
    ] {
        assert_eq!(ok(bad), Err(Malformed), "{bad}");
    }
}

#[test]
fn joiner_joins_per_stream_and_cuts_at_the_cap() {
    let mut j = Joiner::new(10);
    let owned = |x: Option<Joined<'_>>| x.map(|j| (j.stream, j.message.to_vec(), j.truncated));
    assert_eq!(owned(j.push(Stream::Stdout, true, b"abc")), None);
    assert_eq!(
        owned(j.push(Stream::Stderr, false, b"err")),
        Some((Stream::Stderr, b"err".to_vec(), false))
    );
    assert_eq!(owned(j.push(Stream::Stderr, true, b"e1")), None);
    assert_eq!(
        owned(j.push(Stream::Stdout, false, b"def")),
        Some((Stream::Stdout, b"abcdef".to_vec(), false))
    );
    assert_eq!(
        owned(j.push(Stream::Stderr, false, b"e2")),
        Some((Stream::Stderr, b"e1e2".to_vec(), false))
    );
    // A long line: counted once, its head kept, flagged.
    assert_eq!(owned(j.push(Stream::Stdout, true, b"0123456")), None);
    assert_eq!(owned(j.push(Stream::Stdout, true, b"789abc")), None);
    assert_eq!(owned(j.push(Stream::Stdout, true, b"def")), None);
    assert_eq!(
        owned(j.push(Stream::Stdout, false, b"g")),
        Some((Stream::Stdout, b"0123456789".to_vec(), true))
    );
    assert_eq!(
        owned(j.push(Stream::Stdout, false, b"0123456789X")),
        Some((Stream::Stdout, b"0123456789".to_vec(), true))
    );
    assert_eq!(
        owned(j.push(Stream::Stdout, false, b"0123456789")),
        Some((Stream::Stdout, b"0123456789".to_vec(), false))
    );
    assert_eq!(owned(j.push(Stream::Stdout, true, b"0123456789")), None);
    assert_eq!(
        owned(j.push(Stream::Stdout, false, b"")),
        Some((Stream::Stdout, b"0123456789".to_vec(), false))
    );
    assert_eq!(
        owned(j.push(Stream::Stdout, false, b"")),
        Some((Stream::Stdout, b"".to_vec(), false))
    );
}

/// Messages with their stream, each split into fragments at the given cut points.
fn split_messages() -> impl Strategy<Value = Vec<(bool, String, Vec<usize>)>> {
    let msg = "[a-zA-Z0-9 \"\\\\{}é😀\t]{0,40}";
    prop::collection::vec(
        (any::<bool>(), msg, prop::collection::vec(0usize..60, 0..5)),
        0..8,
    )
}

fn fragments(msg: &str, cuts: &[usize]) -> Vec<String> {
    let mut cuts: Vec<usize> = cuts
        .iter()
        .map(|&c| c.min(msg.len()))
        .filter(|&c| msg.is_char_boundary(c))
        .collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for c in cuts {
        out.push(msg[start..c].to_string());
        start = c;
    }
    out.push(msg[start..].to_string());
    out
}

fn stream_of(stderr: bool) -> Stream {
    if stderr {
        Stream::Stderr
    } else {
        Stream::Stdout
    }
}

proptest! {
    #[test]
    fn cri_split_anywhere_joins_to_the_same_messages(msgs in split_messages(), cap in 1usize..50) {
        let mut j = Joiner::new(cap);
        let mut got = Vec::new();
        for (stderr, msg, cuts) in &msgs {
            let frags = fragments(msg, cuts);
            for (n, f) in frags.iter().enumerate() {
                let tag = if n + 1 == frags.len() { "F" } else { "P" };
                let line = format!("2024-01-02T03:04:05.000000001Z {} {tag} {f}", stream_of(*stderr).as_str());
                let r = parse_cri(line.as_bytes()).unwrap();
                if let Some(m) = j.push(r.stream, r.partial, r.message) {
                    got.push((m.stream, m.message.to_vec(), m.truncated));
                }
            }
        }
        let want: Vec<_> = msgs.iter().map(|(e, m, _)| (stream_of(*e), m.as_bytes()[..m.len().min(cap)].to_vec(), m.len() > cap)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn docker_split_anywhere_joins_to_the_same_messages(msgs in split_messages(), cap in 1usize..50) {
        let p = DockerParser::default();
        let mut j = Joiner::new(cap);
        let mut got = Vec::new();
        for (stderr, msg, cuts) in &msgs {
            let frags = fragments(msg, cuts);
            for (n, f) in frags.iter().enumerate() {
                let log = if n + 1 == frags.len() { format!("{f}\n") } else { f.clone() };
                let line = serde_json::json!({"log": log, "stream": stream_of(*stderr).as_str(), "time": "2024-01-02T03:04:05Z"}).to_string();
                let r = p.parse(line.as_bytes()).unwrap();
                if let Some(m) = j.push(r.stream, r.partial, &r.message) {
                    got.push((m.stream, m.message.to_vec(), m.truncated));
                }
            }
        }
        let want: Vec<_> = msgs.iter().map(|(e, m, _)| (stream_of(*e), m.as_bytes()[..m.len().min(cap)].to_vec(), m.len() > cap)).collect();
        prop_assert_eq!(got, want);
    }
}
