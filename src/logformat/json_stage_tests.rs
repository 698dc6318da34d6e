use super::super::json::walk;
use super::*;
use proptest::prelude::*;

fn fields() -> Vec<FieldSet> {
    vec![
        FieldSet::default_levels(),
        FieldSet::new(&["msg"]).expect("one path"),
        FieldSet::new(&["a.b", "a", "x"]).expect("three paths"),
    ]
}

/// Whatever the token walk decides, the byte walk decides the same (same value, borrowed from the
/// same bytes); and it decides the plain lines it was built for.
fn agrees(line: &[u8]) -> Result<bool, TestCaseError> {
    let mut decided = true;
    for f in fields() {
        let reference = walk(line, &f);
        match lookup(line, &f) {
            Some(found) => {
                let r = reference.map_err(|_| {
                    TestCaseError::fail(format!(
                        "decided a malformed line: {:?}",
                        String::from_utf8_lossy(line)
                    ))
                })?;
                prop_assert_eq!(
                    found.as_ref().map(|(i, v)| (*i, v.as_ptr(), v.len())),
                    r.as_ref().map(|(i, v)| (*i, v.as_ptr(), v.len())),
                    "line {:?}",
                    String::from_utf8_lossy(line)
                );
            }
            None => decided = false,
        }
    }
    Ok(decided)
}

/// JSON-ish pieces, with escapes and backslash runs, that land anywhere in the 64-byte chunks.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        "\"",
        "\\",
        "\\\\",
        "\\\"",
        "\\\\\"",
        "\\u00e9",
        "\\u12",
        "\\x",
        ":",
        ",",
        " ",
        "\t",
        "\r",
        "\x01",
        "level",
        "lvl",
        "log",
        "a",
        "b",
        "x",
        "msg",
        "1",
        "-2.5e3",
        "true",
        "null",
        "fals",
        "error",
        "\"level\"",
        "\"log\"",
        "\"a\"",
        "\"b\"",
        "\"x\"",
        "\"msg\"",
        "\"error\"",
        "\"warn\"",
        "é",
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
    ])
}

/// A valid value: strings with escapes (a `\\` run may end right before the closing quote),
/// scalars, and nesting on and off the wanted paths.
fn value() -> impl Strategy<Value = String> {
    let string = prop::collection::vec(
        prop::sample::select(vec![
            "a",
            "level",
            "error",
            " ",
            "\\\\",
            "\\\"",
            "\\n",
            "\\u0041",
            "é",
            "{",
            "}",
            ":",
            ",",
            "0123456789abcdef0123456789abcdef",
        ]),
        0..12,
    )
    .prop_map(|p| format!("\"{}\"", p.concat()));
    let leaf = prop_oneof![
        string,
        prop::sample::select(vec![
            "1",
            "-0.5e+7",
            "true",
            "false",
            "null",
            "1700000000.123"
        ])
        .prop_map(str::to_string),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let key = prop::sample::select(vec![
            "\"level\"",
            "\"lvl\"",
            "\"log\"",
            "\"a\"",
            "\"b\"",
            "\"x\"",
            "\"msg\"",
            "\"l\\u0065vel\"",
            "\"k\"",
        ]);
        let gap = prop::sample::select(vec!["", "", " ", "\t", "  \r"]);
        prop_oneof![
            prop::collection::vec((gap.clone(), key, gap.clone(), inner.clone()), 0..6).prop_map(
                |m| {
                    let members: Vec<String> = m
                        .into_iter()
                        .map(|(g, k, h, v)| format!("{g}{k}{h}:{g}{v}{h}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }
            ),
            prop::collection::vec(inner, 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        ]
    })
}

proptest! {
    #[test]
    fn sse2_classifies_like_the_byte_loop(
        b in prop::collection::vec(prop::sample::select(b"\"\\{}[]:,x \xfb\xdd\x1a\x3a".to_vec()), 1..200),
        base in any::<prop::sample::Index>(),
    ) {
        let base = base.index(b.len());
        prop_assert_eq!(classify(&b, base), classify_bytes(&b, base));
    }

    #[test]
    fn agrees_on_arbitrary_bytes(line in prop::collection::vec(any::<u8>(), 0..300)) {
        agrees(&line)?;
    }

    #[test]
    fn agrees_on_json_like_pieces(parts in prop::collection::vec(piece(), 0..80)) {
        agrees(parts.concat().as_bytes())?;
    }

    #[test]
    fn agrees_on_valid_and_nearly_valid_objects(
        v in value(),
        pad in 0usize..70,
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        damage in 0u8..3,
    ) {
        // Padding shifts the line against the chunk borders.
        let line = format!("{{\"p\":\"{}\",\"v\":{v}}}", "p".repeat(pad));
        let b = line.as_bytes();
        match damage {
            0 => {
                agrees(b)?;
            }
            1 => {
                agrees(&b[..cut.index(b.len())])?;
            }
            _ => {
                let mut d = b.to_vec();
                let at = flip.index(d.len());
                d[at] = b"\"\\{}[]:, x1"[at % 11];
                agrees(&d)?;
            }
        }
    }
}

#[test]
fn decides_the_common_lines() {
    let lines = [
        r#"{"ts":1700000000.5,"level":"info","logger":"auth","msg":"request done path=/v1/cart dur_ms=12","trace_id":"00ff00ff00ff00ff","dur_ms":12}"#,
        r#"{"time": "2023-11-14T22:13:01.500Z", "level": "WARNING", "name": "auth", "message": "echo body {\"level\":\"error\",\"x\":1} \\\\", "pid": 123}"#,
        "{\"msg\":\"ok\",\"level\":\"err\",\"svc\":\"x\",\"stack\":\"at a\\nat b\"}\r",
        r#"	{"log":{"level":"warn"},"a":[1,{"b":[]},"]"]}  "#,
    ];
    for line in lines {
        let padded = format!("{:>1$}", line, line.len() + 37);
        for l in [line, padded.as_str()] {
            assert!(agrees(l.as_bytes()).expect("agrees"), "undecided: {l}");
        }
    }
}
