use super::*;

fn levels(error: &[&str], warning: &[&str], ci: bool) -> LevelMatcher {
    LevelMatcher::new(&Levels {
        error: error.iter().map(|s| s.to_string()).collect(),
        warning: warning.iter().map(|s| s.to_string()).collect(),
        case_insensitive: ci,
    })
}

/// The article's loop, line by line: the model the scanner must equal.
fn model(text: &[u8], m: &Levels) -> LevelCounts {
    let mut c = LevelCounts::default();
    let has = |line: &[u8], toks: &[String]| {
        toks.iter().any(|t| {
            let (l, t) = if m.case_insensitive {
                (
                    line.to_ascii_lowercase(),
                    t.to_ascii_lowercase().into_bytes(),
                )
            } else {
                (line.to_vec(), t.as_bytes().to_vec())
            };
            l.windows(t.len()).any(|w| w == t.as_slice())
        })
    };
    for line in text.split_inclusive(|&b| b == b'\n') {
        c.lines += 1;
        if has(line, &m.error) {
            c.error += 1;
        } else if has(line, &m.warning) {
            c.warning += 1;
        }
    }
    c
}

#[test]
fn article_semantics() {
    let mut m = levels(&["ERROR"], &["WARNING"], false);
    let text = b"ok\nERROR x\nWARNING y\nERROR and WARNING\nWARNING then ERROR\nerror lower\n";
    let c = m.scan(text);
    assert_eq!(
        c,
        LevelCounts {
            lines: 6,
            error: 3,
            warning: 1
        }
    );
    assert_eq!(c.other(), 2);
}

#[test]
fn several_tokens_and_case() {
    let mut m = levels(&["ERROR", "FATAL"], &["WARN"], true);
    let c = m.scan(b"fatal: x\nWarn y\nWARNING z\nerror\nnothing\n");
    assert_eq!(
        c,
        LevelCounts {
            lines: 5,
            error: 2,
            warning: 2
        }
    );
}

#[test]
fn many_hits_on_one_line_count_once() {
    let mut m = levels(&["ERROR"], &["WARNING"], false);
    let c = m.scan(b"ERROR ERROR ERROR WARNING WARNING\nWARNING WARNING\n");
    assert_eq!(
        c,
        LevelCounts {
            lines: 2,
            error: 1,
            warning: 1
        }
    );
}

#[test]
fn unterminated_fragment_is_one_line() {
    let mut m = levels(&["ERROR"], &["WARNING"], false);
    assert_eq!(
        m.scan(b"x ERROR"),
        LevelCounts {
            lines: 1,
            error: 1,
            warning: 0
        }
    );
    assert_eq!(m.scan(b""), LevelCounts::default());
}

#[test]
fn randomized_against_model() {
    // xorshift: deterministic, no extra crate.
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let words: [&[u8]; 9] = [
        b"ERROR", b"WARNING", b"error", b"ERR", b"WARN", b"x", b" ", b"\n", b"\r\n",
    ];
    for ci in [false, true] {
        let cfg = Levels {
            error: vec!["ERROR".into(), "FATAL".into()],
            warning: vec!["WARNING".into()],
            case_insensitive: ci,
        };
        let mut m = LevelMatcher::new(&cfg);
        for _ in 0..500 {
            let mut text = Vec::new();
            for _ in 0..(next() % 60) {
                text.extend_from_slice(words[(next() % words.len() as u64) as usize]);
            }
            text.push(b'\n');
            assert_eq!(
                m.scan(&text),
                model(&text, &cfg),
                "{:?}",
                String::from_utf8_lossy(&text)
            );
        }
    }
}

/// Compiled like a configured pattern.
fn pattern(p: &str, labels: &[&str]) -> Pattern {
    Pattern {
        name: "p".into(),
        regex: regex::bytes::RegexBuilder::new(p)
            .multi_line(true)
            .crlf(true)
            .build()
            .unwrap(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        max_series: 10,
        field: None,
        value: None,
        sum: None,
    }
}

#[test]
fn matching_lines_once_each_with_captures() {
    let mut p = LinePattern::new(&pattern(r"(?P<x>x)?user=(?P<user>\w+)", &["user", "x"]));
    let mut got = Vec::new();
    let block = b"user=a user=b\nnothing\nuser=c\r\nuser=\nxuser=d";
    p.for_each_matching_line(block, |v| {
        let v: Vec<String> = v
            .iter()
            .map(|b| String::from_utf8_lossy(b).into())
            .collect();
        got.push(v.join(","));
    });
    assert_eq!(got, ["a,", "c,", "d,x"]);
}

#[test]
fn matches_never_span_lines() {
    let mut p = LinePattern::new(&pattern(r"a\s+b", &[]));
    let mut n = 0;
    p.for_each_matching_line(b"a\nb\na  b\n", |_| n += 1);
    assert_eq!(n, 1);
}

#[test]
fn anchors_are_per_line() {
    let mut p = LinePattern::new(&pattern(r"^ERROR$", &[]));
    let mut n = 0;
    p.for_each_matching_line(b"x\nERROR\r\nERROR x\nERROR\n", |_| n += 1);
    assert_eq!(n, 2);
}

#[test]
fn numbers_are_scaled_and_bad_ones_reported_not_panicking() {
    use crate::config::log_values::{Unit, ValueSpec};
    let spec = |group: &str, scale: f64| ValueSpec {
        group: group.into(),
        unit: Unit::Seconds,
        scale,
        buckets: vec![1.0],
    };
    let mut pattern = pattern(r"rt=(?P<rt>\S*)(?: b=(?P<b>\S+))?", &[]);
    pattern.value = Some(spec("rt", 0.001));
    pattern.sum = Some(spec("b", 1.0));
    let mut p = LinePattern::new(&pattern);
    let mut got = Vec::new();
    let block = b"rt=250 b=7\nrt=- b=-3\nrt=\nrt=1e400 b=1e3\nrt=2E1 b=0.5\r\n";
    p.for_each_matching_line(block, |v| {
        got.push((v.number(NumberKind::Value), v.number(NumberKind::Sum)))
    });
    use Number::{Absent, Unparsable, Value};
    assert_eq!(
        got,
        [
            (Value(250.0 * 0.001), Value(7.0)),
            // A sum never goes down: negative is refused.
            (Unparsable, Unparsable),
            (Unparsable, Absent),
            (Unparsable, Value(1000.0)),
            (Value(20.0 * 0.001), Value(0.5)),
        ]
    );
}

/// Each hit's label values, as the observer sees them.
fn hits(p: &mut LinePattern, block: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut got = Vec::new();
    p.for_each_matching_line(block, |v| got.push(v.iter().map(<[u8]>::to_vec).collect()));
    got
}

proptest::proptest! {
    /// The one-pass search from literal candidates finds exactly what the
    /// general search finds, candidates that fail and give-ups included.
    #[test]
    fn prefix_search_equals_the_general_search(
        which in 0usize..7,
        text in proptest::collection::vec(
            // Bytes that are not UTF-8 end a Unicode class such as `[^"\n]`.
            proptest::sample::select(b"ab\" =2x\r\n\n\xc3\xa9\xff".to_vec()), 0..200),
    ) {
        let cases: [(&str, &[&str]); 7] = [
            (r#"" (?P<s>[1-5][0-9]) (?P<n>[0-9]+) "[^"\n]*" (?P<t>[0-9.]+)$"#, &["s", "n"]),
            (r"a=(?P<v>[0-9]*)(?P<x>x)?", &["v", "x"]),
            (r"ab[ \r]*(?P<r>b*)", &["r"]),
            (r#""(?P<q>[^"\n]*)""#, &["q"]),
            // Fails at most candidates after a scan to the line end.
            (r"a[^=\n]*=(?P<e>2)", &["e"]),
            // Several literals to compare a candidate with.
            (r#"(?:"a|"=|" 2)(?P<v>[ax]*)"#, &["v"]),
            (r#"(?:2"|2=|2 x)(?P<w>[2x]+)"#, &["w"]),
        ];
        let (regex, labels) = cases[which];
        let mut fast = LinePattern::new(&pattern(regex, labels));
        proptest::prop_assert!(fast.prefix.is_some(), "{regex} has no prefix search");
        let mut general = fast.clone();
        general.prefix = None;
        proptest::prop_assert_eq!(hits(&mut fast, &text), hits(&mut general, &text));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

    /// Random patterns that begin with a literal (so that they may take the
    /// prefix search, and often a sequence), under each inline flag: the
    /// same hits as the regex crate's own search, over bytes that are not
    /// UTF-8 too (`k` and the Kelvin sign for case folding).
    #[test]
    fn random_patterns_find_what_the_general_search_finds(
        flags in proptest::sample::select(vec!["", "", "(?i)", "(?U)", "(?-u)", "(?x)", "(?-R)", "(?s)", "(?iU-u)"]),
        first in proptest::sample::select(vec!["a", "\"", "=", "\" "]),
        pieces in proptest::collection::vec(
            (0..super::sequence::tests::ATOMS.len(), 0..super::sequence::tests::REPEATS.len(), proptest::bool::ANY),
            0..8,
        ),
        text in proptest::collection::vec(
            proptest::sample::select(b"a\" =09zk\r\n\xc3\xa9\xff\x80\xe2\x84\xaa".to_vec()), 0..120),
    ) {
        use super::sequence::tests::{ATOMS, REPEATS};
        let mut regex = format!("{flags}{}", regex_syntax::escape(first));
        let mut labels = Vec::new();
        for (k, (atom, rep, group)) in pieces.iter().enumerate() {
            let piece = format!("{}{}", ATOMS[*atom], REPEATS[*rep]);
            if *group {
                labels.push(format!("g{k}"));
                regex += &format!("(?P<g{k}>{piece})");
            } else {
                regex += &piece;
            }
        }
        if regex::bytes::Regex::new(&regex).is_err() {
            return Ok(());
        }
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let mut fast = LinePattern::new(&pattern(&regex, &labels));
        if fast.prefix.is_none() {
            return Ok(());
        }
        let mut general = fast.clone();
        general.prefix = None;
        proptest::prop_assert_eq!(hits(&mut fast, &text), hits(&mut general, &text), "{}", regex);
    }
}

#[test]
fn the_nginx_example_takes_the_prefix_search() {
    let p = LinePattern::new(&pattern(
        r#"" (?P<status>[1-5][0-9][0-9]) (?P<body_bytes>[0-9]+) "[^"\n]*" "[^"\n]*" (?P<request_time>[0-9.]+)$"#,
        &["status"],
    ));
    let prefix = p.prefix.as_ref().expect("prefix search");
    // `"GET` is refused by its second byte, without a one-pass search.
    let want: Vec<Vec<u8>> = (b'1'..=b'5').map(|d| vec![b'"', b' ', d]).collect();
    assert_eq!(prefix.starts(), want);
    // And it is matched as a plain sequence, without the one-pass DFA.
    assert!(prefix.is_sequence());
}

#[test]
fn failed_candidates_past_the_byte_budget_hand_over_to_the_general_search() {
    // 100 000 candidates that each scan to the line end: without the
    // budget, 5e9 bytes of one-pass steps.
    let mut block = vec![b'a'; 100_000];
    block.extend_from_slice(b"\nxa=2\n");
    let mut fast = LinePattern::new(&pattern(r"a[^=\n]*=(?P<e>2)", &["e"]));
    assert!(fast.prefix.is_some());
    let mut general = fast.clone();
    general.prefix = None;
    // The budget is what bounds the cost (0.07 s with it, 17 s without it
    // in a debug build): the first failed candidate already spends it.
    let p = fast.prefix.as_mut().expect("prefix search");
    p.reset();
    assert!(matches!(
        p.find(&block, 0),
        super::anchored::Found::GiveUp(1)
    ));
    assert_eq!(hits(&mut fast, &block), [vec![b"2".to_vec()]]);
    assert_eq!(hits(&mut general, &block), [vec![b"2".to_vec()]]);
}

/// Constructs the random generators reach rarely (large counts, non-ASCII
/// ranges, class intersections, lazy and swapped greed, `\r` before an
/// anchor, empty groups), over lines cut at every length: the same hits
/// as the regex crate's search, whether or not they take a sequence.
#[test]
fn odd_patterns_on_cut_lines_find_what_the_general_search_finds() {
    let patterns = [
        r#""[a-z]{300}"#,
        r#""[^"\n]{2,}""#,
        r#""(?P<a>)(?P<b>[0-9]*)(?:(c))?"#,
        r#""[^"\n\r]*$"#,
        r#"(?-R)"[^"\n\r]*$"#,
        r#""[^"\n]*?""#,
        r#"(?U)"[0-9]*?x"#,
        r#"(?i)"[a-z]+="#,
        r#""\r$"#,
        r#"(?-R)"\r^"#,
        r#""\r^x"#,
        r#""(?-u:[\x80-\xff])+""#,
        r#""\x{80}*""#,
        r#""[\x{80}-\x{10FFFF}]*""#,
        r#""[^\x00-\x7f]+=""#,
        r#""[^"\n\x{80}]*""#,
        r#""[\t-\r&&[^\n]]*x"#,
        r#""[[:alpha:]]+="#,
    ];
    let mut long = b"\"".to_vec();
    long.extend([b'a'; 400]);
    long.extend_from_slice(b"x\"\xc3\xa9=\"");
    let lines: [&[u8]; 13] = [
        b"\"abc\r\n\"x\"\n",
        b"x\"\xc3\xa9\"",
        b"\"\xc3\"\"\xe2\x84\xaa\"",
        b"\"\xe2\x84\"=",
        b"\"\xf0\x9f\x98\x80\"=x",
        b"\"\x80\xff=\"",
        b"\"\r\rx\"\rx",
        b"\"12c\"\n\"",
        b"\"\t\x0b\x0c\rx",
        b"\"K=\"\xc5\xbf=",
        b"\"\r",
        b"\"",
        &long,
    ];
    for regex in patterns {
        let mut fast =
            LinePattern::new(&pattern(regex, &["a", "b"][..regex.matches("?P<").count()]));
        assert!(fast.prefix.is_some(), "{regex} has no prefix search");
        let mut general = fast.clone();
        general.prefix = None;
        for line in lines {
            for cut in 0..=line.len() {
                let text = &line[..cut];
                assert_eq!(
                    hits(&mut fast, text),
                    hits(&mut general, text),
                    "{regex} {text:?}"
                );
            }
        }
    }
}
