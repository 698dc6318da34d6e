use super::*;
use proptest::prelude::*;

fn levels() -> FieldSet {
    FieldSet::default_levels()
}

#[test]
fn json_levels_table() {
    use Level::{Error as E, Other as O, Warning as W};
    use Outcome::{Level as L, Malformed as M, NoField as N};
    let table: &[(&str, Outcome)] = &[
        (r#"{"level":"error","msg":"x"}"#, L(E)),
        (r#"{"level":"info","msg":"ERROR budget ok"}"#, L(O)),
        (r#"{"time": "t", "level": "WARNING", "message": "m"}"#, L(W)),
        (
            r#"{"msg":"echo {\"level\":\"error\"}","level":"err"}"#,
            L(E),
        ),
        (
            r#"{"msg":"echo {\"level\":\"error\"}","level":"info"}"#,
            L(O),
        ),
        (r#"{"level":"\u0065rror"}"#, L(E)),
        (r#"{"\u006cevel":"warn"}"#, L(W)),
        (r#"{"level":"FATAL"}"#, L(E)),
        (r#"{"level":"Critical"}"#, L(E)),
        (r#"{"level":"debug"}"#, L(O)),
        (r#"{"lvl":"crit"}"#, L(E)),
        (r#"{"severity":"WARNING"}"#, L(W)),
        (r#"{"log":{"level":"error"},"msg":"x"}"#, L(E)),
        (r#"{"log":{"origin":{"file":"a"},"level":"warn"}}"#, L(W)),
        (r#"{"log.level":"error"}"#, L(E)),
        (r#"{"log":"error"}"#, N),
        (r#"{"log":{"lvl":"error"}}"#, N),
        (r#"{"msg":"no level here, ERROR"}"#, N),
        (r#"{}"#, N),
        (r#"{"data":{"level":"error"}}"#, N),
        (r#"{"data":[{"level":"error"}],"level":"info"}"#, L(O)),
        (r#"{"level":50}"#, L(E)),
        (r#"{"level":40,"msg":"x"}"#, L(W)),
        (r#"{"level":30}"#, L(O)),
        (r#"{"level":3}"#, L(E)),
        (r#"{"level":"4"}"#, L(W)),
        (r#"{"level":6}"#, L(O)),
        (r#"{"level":null}"#, L(O)),
        (r#"{"level":true}"#, L(O)),
        (r#"{"level":{"name":"error"}}"#, L(O)),
        // First listed field wins over key order; a repeated key keeps its first value.
        (r#"{"severity":"error","level":"info"}"#, L(O)),
        (r#"{"level":"warn","level":"error"}"#, L(W)),
        (
            r#"{"lvl":"error","log":{"level":"warn"},"severity":"info"}"#,
            L(E),
        ),
        ("  {\t\"level\" :\r\n \"error\" }  ", L(E)),
        (r#"{"Level":"error"}"#, N),
        (r#"{"level":"error""#, M),
        (r#"{"level":"error"} trailing"#, M),
        (r#"{"level":"error",}"#, M),
        (r#"{"level" "error"}"#, M),
        (r#"{"level":"err\or"}"#, M),
        (r#"{"level":"\u00"}"#, M),
        (r#"{"level":"error","a":[1,2}"#, M),
        (r#"{"level":"error","a":nope}"#, M),
        (r#"{level:"error"}"#, M),
        (r#"["level","error"]"#, M),
        ("", M),
        ("plain ERROR line", M),
    ];
    for (line, want) in table {
        assert_eq!(
            level(line.as_bytes(), Format::Json, &levels()),
            *want,
            "{line}"
        );
    }
}

#[test]
fn logfmt_levels_table() {
    use Level::{Error as E, Other as O, Warning as W};
    use Outcome::{Level as L, Malformed as M, NoField as N};
    let table: &[(&str, Outcome)] = &[
        ("level=error msg=x", L(E)),
        ("ts=1 level=info msg=\"ERROR budget ok\"", L(O)),
        ("msg=\"level=error\" level=warn", L(W)),
        ("msg=\"say \\\"level=error\\\"\" lvl=info", L(O)),
        ("level=\"WARNING\"", L(W)),
        ("level=\"\\u0065rr\"", L(E)),
        ("log.level=error", L(E)),
        ("severity=error level=info", L(O)),
        ("level=warn level=error", L(W)),
        ("level", L(O)),
        ("level= msg=x", L(O)),
        ("msg=x", N),
        ("", N),
        ("a=1 =2 level=error", M),
        ("level=error msg=\"open", M),
        ("msg=\"x\"y level=error", M),
    ];
    for (line, want) in table {
        assert_eq!(
            level(line.as_bytes(), Format::Logfmt, &levels()),
            *want,
            "{line}"
        );
    }
}

#[test]
fn auto_detects_per_line() {
    let table = [
        ("{\"level\":\"error\"}", Format::Json),
        ("  {", Format::Json),
        ("level=error msg=x", Format::Logfmt),
        ("ts=2024-01-01T00:00:00Z level=info", Format::Logfmt),
        ("2024-01-01 ERROR x=1", Format::Plain),
        ("=x", Format::Plain),
        ("ERROR: disk full", Format::Plain),
        ("", Format::Plain),
        ("   ", Format::Plain),
    ];
    for (line, want) in table {
        assert_eq!(detect(line.as_bytes()), want, "{line}");
    }
    let f = levels();
    assert_eq!(level(b"ERROR: disk", Format::Auto, &f), Outcome::NoField);
    assert_eq!(
        level(b"level=error", Format::Auto, &f),
        Outcome::Level(Level::Error)
    );
    assert_eq!(
        level(b"{\"level\":\"warn\"}", Format::Auto, &f),
        Outcome::Level(Level::Warning)
    );
    assert_eq!(level(b"{\"level\":", Format::Auto, &f), Outcome::Malformed);
    assert_eq!(level(b"level=error", Format::Plain, &f), Outcome::NoField);
}

#[test]
fn field_values_borrow_unless_escaped() {
    let msg = FieldSet::new(&["msg"]).unwrap();
    let dur = FieldSet::new(&["duration_ms"]).unwrap();
    let line = br#"{"msg":"plain","duration_ms":12.5}"#;
    let (idx, v) = lookup(line, Format::Json, &msg).unwrap().unwrap();
    assert_eq!((idx, &*v), (0, &b"plain"[..]));
    assert!(matches!(v, Cow::Borrowed(_)));
    let (_, v) = lookup(line, Format::Json, &dur).unwrap().unwrap();
    assert_eq!(parse_number(&v), Some(12.5));
    let line = br#"{"msg":"tab\there \"q\" \u00e9 \ud83d\ude00 \ud800x"}"#;
    let (_, v) = lookup(line, Format::Json, &msg).unwrap().unwrap();
    assert_eq!(&*v, "tab\there \"q\" é 😀 \u{fffd}x".as_bytes());
    let (_, v) = lookup(b"duration_ms=\"7\" msg=hi", Format::Logfmt, &dur)
        .unwrap()
        .unwrap();
    assert_eq!(parse_number(&v), Some(7.0));
    assert!(FieldSet::new(&vec!["a"; 65]).is_err());
    assert!(FieldSet::new(&vec!["a"; 64]).is_ok());
}

/// A JSON string literal for `s` with every character escaped at random, as `\uXXXX` or (where
/// one exists) its short escape.
fn json_str(s: &str, escape: &[bool]) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        let esc = escape
            .get(i % escape.len().max(1))
            .copied()
            .unwrap_or(false);
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if esc || (c as u32) < 0x20 => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn level_name() -> impl Strategy<Value = (String, Level)> {
    prop_oneof![
        prop::sample::select(vec!["error", "ERROR", "err", "Fatal", "crit", "panic"])
            .prop_map(|s| (s.to_string(), Level::Error)),
        prop::sample::select(vec!["warn", "WARNING", "Warn"])
            .prop_map(|s| (s.to_string(), Level::Warning)),
        prop::sample::select(vec!["info", "INFO", "debug", "trace", "notice"])
            .prop_map(|s| (s.to_string(), Level::Other)),
    ]
}

fn decoy_message() -> impl Strategy<Value = String> {
    let words = prop::sample::select(vec![
        "ERROR",
        "WARNING",
        "level",
        "\"level\":\"error\"",
        "level=error",
        "{",
        "}",
        "[",
        "\\",
        "\"",
        "é",
        "😀",
        "ok",
        " ",
        "\n",
        ",",
        ":",
    ]);
    prop::collection::vec(words, 0..12).prop_map(|w| w.concat())
}

fn blank() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "", " ", "\t", " \r\n "]).prop_map(str::to_string)
}

proptest! {
    #[test]
    fn json_level_comes_from_the_field_only(
        (name, want) in level_name(),
        msg in decoy_message(),
        escapes in prop::collection::vec(any::<bool>(), 1..8),
        order in Just(vec![0usize, 1, 2, 3]).prop_shuffle(),
        ws in prop::collection::vec(blank(), 24),
        key in prop::sample::select(vec!["level", "lvl", "severity", "log.level", "log"]),
    ) {
        let level_value = if key == "log" {
            format!("{{{}\"level\"{}:{}{}}}", ws[20], ws[21], ws[22], json_str(&name, &escapes))
        } else {
            json_str(&name, &escapes)
        };
        let members = [
            (json_str(key, &escapes), level_value),
            (json_str("msg", &escapes), json_str(&msg, &escapes)),
            (json_str("ts", &[false]), "1700000000.5".to_string()),
            (json_str("ctx", &[false]), format!("{{\"level\":\"error\",\"a\":[1,{}]}}", json_str(&msg, &escapes))),
        ];
        let mut line = format!("{}{{", ws[0]);
        for (n, &m) in order.iter().enumerate() {
            if n > 0 {
                line.push(',');
            }
            let (k, v) = &members[m];
            line.push_str(&format!("{}{k}{}:{}{v}{}", ws[1 + 4 * n], ws[2 + 4 * n], ws[3 + 4 * n], ws[4 + 4 * n]));
        }
        line.push_str(&format!("}}{}", ws[23]));
        prop_assert_eq!(level(line.as_bytes(), Format::Json, &levels()), Outcome::Level(want), "{}", line);
        prop_assert_eq!(level(line.as_bytes(), Format::Auto, &levels()), Outcome::Level(want));
        // Cut anywhere inside, the object is unclosed: malformed, never a level.
        let cut = line.trim_end().len() - 1;
        prop_assert_eq!(level(&line.as_bytes()[..cut], Format::Json, &levels()), Outcome::Malformed);
    }

    #[test]
    fn logfmt_level_comes_from_the_field_only(
        (name, want) in level_name(),
        msg in decoy_message(),
        order in Just(vec![0usize, 1, 2]).prop_shuffle(),
    ) {
        let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"));
        let members = [format!("level={name}"), format!("msg={}", quote(&msg)), "ts=12".to_string()];
        let line = order.iter().map(|&i| members[i].as_str()).collect::<Vec<_>>().join(" ");
        prop_assert_eq!(level(line.as_bytes(), Format::Logfmt, &levels()), Outcome::Level(want), "{}", line);
        let (_, got) = lookup(line.as_bytes(), Format::Logfmt, &FieldSet::new(&["msg"]).unwrap()).unwrap().unwrap();
        prop_assert_eq!(&*got, msg.as_bytes());
    }

    #[test]
    fn json_string_values_decode_to_what_was_encoded(s in "\\PC*", escapes in prop::collection::vec(any::<bool>(), 1..8)) {
        let line = format!("{{\"msg\":{}}}", json_str(&s, &escapes));
        let (_, got) = lookup(line.as_bytes(), Format::Json, &FieldSet::new(&["msg"]).unwrap()).unwrap().unwrap();
        prop_assert_eq!(&*got, s.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let f = levels();
        for format in [Format::Plain, Format::Json, Format::Logfmt, Format::Auto] {
            let _ = level(&bytes, format, &f);
        }
        let _ = parse_cri(&bytes);
        let _ = DockerParser::default().parse(&bytes);
    }

    #[test]
    fn json_like_bytes_never_panic(parts in prop::collection::vec(prop::sample::select(vec![
        "{", "}", "[", "]", "\"", "\\", "\\u", "\\ud83d", "d", ":", ",", " ", "level", "log", "1", "e", "null", "error",
    ]), 0..40)) {
        let line = parts.concat();
        let _ = level(line.as_bytes(), Format::Json, &levels());
        let _ = level(line.as_bytes(), Format::Logfmt, &levels());
        let _ = DockerParser::default().parse(line.as_bytes());
    }
}

#[test]
fn deep_nesting_is_malformed_not_a_stack_overflow() {
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        level(deep.as_bytes(), Format::Json, &levels()),
        Outcome::Malformed
    );
    let ok = format!(
        "{{\"a\":{}{},\"level\":\"err\"}}",
        "[".repeat(128),
        "]".repeat(128)
    );
    assert_eq!(
        level(ok.as_bytes(), Format::Json, &levels()),
        Outcome::Level(Level::Error)
    );
    // Only the `log` object on the `log.level` path is descended into (recursion as deep as the
    // path); below it, skipping counts brackets up to the limit.
    let nested = format!("{}1{}", "{\"log\":".repeat(10_000), "}".repeat(10_000));
    assert_eq!(
        level(nested.as_bytes(), Format::Json, &levels()),
        Outcome::Malformed
    );
}
