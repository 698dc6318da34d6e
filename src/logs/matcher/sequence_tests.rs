//! A sequence against the one-pass DFA it stands in for.

use super::*;
use proptest::prelude::*;
use regex_automata::dfa::onepass;
use regex_automata::nfa::thompson;
use regex_automata::{Anchored, Input};

/// Pieces of patterns: some are refused (`\d`, `*?`, `\b`, `(?i:k)` for
/// its Kelvin sign), some accepted only where what follows cannot begin
/// with their bytes; `{0}` and `()` leave groups that match nothing.
pub(in crate::logs::matcher) const ATOMS: &[&str] = &[
    "a",
    "\"",
    " ",
    "=",
    "é",
    r"\r",
    "[0-9]",
    r#"[^"\n]"#,
    "[^ ]",
    "[a-z]",
    "[^a]",
    r#"(?-u:[^"\n])"#,
    r"(?-u:[\x80-\xff])",
    ".",
    r"\d",
    "(?i:e)",
    "^",
    "$",
    "(?i:k)",
    "(?i:s)",
    "()",
    "(a)",
    r"\b",
    "(?-R:$)",
    "(?-R:^)",
    r#"[^"]"#,
    r"[^a\n]",
    r#"[^a"\n]"#,
    r#"[^a"=\n]"#,
    r"(?-u:[\x00-\xff])",
    r"(?-u:\xff)",
    r"[\x00-\x7f]",
    "(?U:a*)",
    "[éa]",
    "(?s:.)",
    r"\x22",
    "(?:a=)",
];
pub(in crate::logs::matcher) const REPEATS: &[&str] = &[
    "", "", "*", "+", "?", "{2}", "{1,3}", "*?", "{0}", "{0,0}", "{1,}", "{0,2}", "+?",
];

fn parse(pattern: &str) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .multi_line(true)
        .crlf(true)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()
}

proptest! {
    // Most random patterns are refused or not one-pass: many cases for
    // a few hundred sequences of several pieces.
    #![proptest_config(ProptestConfig::with_cases(6000))]

    /// Anchored at every offset, a sequence finds what the one-pass
    /// DFA finds, groups included.
    #[test]
    fn sequence_equals_the_one_pass_dfa(
        pieces in prop::collection::vec((0..ATOMS.len(), 0..REPEATS.len(), any::<bool>()), 1..7),
        hay in prop::collection::vec(prop::sample::select(b"a\" =09zk\r\n\xc3\xa9\xff\x80\xe2\x84\xaa".to_vec()), 0..40),
    ) {
        let mut pattern = String::new();
        for (k, (atom, rep, group)) in pieces.iter().enumerate() {
            let piece = format!("{}{}", ATOMS[*atom], REPEATS[*rep]);
            pattern += &if *group { format!("(?P<g{k}>{piece})") } else { piece };
        }
        let Some(hir) = parse(&pattern) else { return Ok(()) };
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().utf8(false))
            .build_from_hir(&hir)
            .expect("compiles");
        // Only one-pass patterns reach a sequence (PrefixSearch::new).
        let Ok(dfa) = onepass::DFA::new_from_nfa(nfa) else { return Ok(()) };
        let len = dfa.get_nfa().group_info().slot_len();
        let Some(seq) = Sequence::new(&hir, len) else { return Ok(()) };
        let mut cache = dfa.create_cache();
        for at in 0..=hay.len() {
            let mut want = vec![None; len];
            let input = Input::new(&hay).span(at..hay.len()).anchored(Anchored::Yes);
            let found = dfa.try_search_slots(&mut cache, &input, &mut want).expect("anchored");
            let mut got = vec![None; len];
            let matched = seq.matches_at(&hay, at, &mut got);
            prop_assert_eq!(matched, found.is_some(), "{} at {}", pattern, at);
            if matched {
                prop_assert_eq!(&got, &want, "{} at {}", pattern, at);
            }
        }
    }
}

#[test]
fn the_nginx_example_is_a_sequence_and_partial_classes_are_not() {
    let nginx = r#"" (?P<status>[1-5][0-9][0-9]) (?P<body_bytes>[0-9]+) "[^"\n]*" "[^"\n]*" (?P<request_time>[0-9.]+)$"#;
    let accepted = |p: &str| Sequence::new(&parse(p).expect("parses"), 16).is_some();
    assert!(accepted(nginx));
    // `\d` holds non-ASCII digits; `[a-z]*z` would have to give back.
    for refused in [r"a\d+", "x[a-z]*z", "a(?:bc|d)", "a[0-9]*?", "a[0-9]*^"] {
        assert!(!accepted(refused), "{refused}");
    }
}
