//! The counts must not depend on how the bytes were split into reads:
//! the same input fed at every split point and every read size (after
//! ripgrep's `SearcherTester`) must give what a line-by-line model gives.

use std::cell::Cell;

use super::*;
use crate::logs::checkpoint::{Fingerprint, Pending};
use crate::logs::matcher::trim_eol;
use crate::logs::structured::Partial;
use crate::logs::{LabelValues, LevelCounts};

const MAX_LINE: usize = 16;

fn source() -> LogSource {
    let yaml = format!(
        r#"logs:
  - name: app
    paths: ['/nonexistent/app.log']
    max_line_bytes: {MAX_LINE}
    levels: {{error: [ERROR], warning: [WARN]}}
    patterns:
      - {{name: empty, regex: '^$'}}
      - {{name: end, regex: '$'}}
      - {{name: word_boundary, regex: '\b'}}
      - {{name: not_word_boundary, regex: '\B'}}
      - {{name: star, regex: 'x*'}}
      - {{name: text_start, regex: '\Ax'}}
      - {{name: text_end, regex: 'y\z'}}
      - {{name: nonmulti_end, regex: '(?-m)x$'}}
      - {{name: spanning, regex: 'x\s+y'}}
      - {{name: dot_all, regex: '(?s)E.*N'}}
      - {{name: cr, regex: 'x\r'}}
      - {{name: invalid_utf8, regex: '(?-u)\xff'}}
"#
    );
    let mut cfg = crate::config::parse(&yaml, Path::new("t.yaml")).unwrap();
    cfg.logs.remove(0)
}

/// What the follower reports of the lines; comparable with [`model`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Counts {
    error: u64,
    warning: u64,
    other: u64,
    long: u64,
    /// Matches per pattern, in config order.
    matches: Vec<u64>,
}

/// Records what the scanner reports (`&self` calls, hence the cells).
/// Shared with `edge_tests`.
#[derive(Default)]
pub(super) struct Recorder {
    pub(super) levels: Cell<(u64, u64, u64)>,
    long: Cell<u64>,
    pub(super) parse_errors: Cell<u64>,
    matches: Vec<u64>,
}

impl LogObserver for Recorder {
    fn lines(&self, c: LevelCounts) {
        let (e, w, o) = self.levels.get();
        self.levels.set((e + c.error, w + c.warning, o + c.other()));
    }
    fn matched(&mut self, pattern: usize, _: LabelValues<'_>) {
        self.matches[pattern] += 1;
    }
    fn long_line(&self) {
        self.long.set(self.long.get() + 1);
    }
    fn read(&self, _: u64) {}
    fn parse_errors(&self, n: u64) {
        self.parse_errors.set(self.parse_errors.get() + n);
    }
    fn files_followed(&self, _: usize) {}
    fn rotated(&self) {}
    fn truncated(&self) {}
    fn read_failed(&self) {}
    fn lag(&self, _: u64) {}
    fn checkpoint_failed(&self) {}
    fn discovery_failed(&self) {}
    fn files_skipped(&self, _: usize) {}
    fn watch_failed(&self) {}
    fn unwatched(&self, _: usize) {}
}

/// The counts the follower reports for `input` fed in `chunks`.
fn fed(source: &LogSource, chunks: &[&[u8]]) -> Counts {
    let recorder = Recorder {
        matches: vec![0; source.patterns.len()],
        ..Recorder::default()
    };
    let mut f = Follower::new(source.clone(), recorder, None);
    let file = tempfile::tempfile().unwrap();
    let mut t = Tracked::new(
        FileId { dev: 0, ino: 0 },
        PathBuf::new(),
        file,
        Fingerprint::default(),
        None,
    );
    for c in chunks {
        f.scanner.feed(&mut t, c);
    }
    // What truncation checks and checkpoints compare with the file.
    let input = chunks.concat();
    let k = Fingerprint::MAX_LEN as usize;
    assert_eq!(t.recent, input[input.len().saturating_sub(k)..]);
    let upto = &input[..t.line_start as usize];
    assert_eq!(
        t.tail,
        Fingerprint::of(&upto[upto.len().saturating_sub(k)..])
    );
    f.scanner.finish_line(&mut t);
    let r = f.scanner.observer;
    let (error, warning, other) = r.levels.get();
    Counts {
        error,
        warning,
        other,
        long: r.long.get(),
        matches: r.matches,
    }
}

/// Line by line, each line alone: what the counts mean.
fn model(source: &LogSource, input: &[u8]) -> Counts {
    let mut c = Counts {
        matches: vec![0; source.patterns.len()],
        ..Counts::default()
    };
    for line in input.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let seen = if content.len() > MAX_LINE {
            c.long += 1;
            &content[..MAX_LINE]
        } else {
            content
        };
        let has = |tok: &[u8]| seen.windows(tok.len()).any(|w| w == tok);
        if has(b"ERROR") {
            c.error += 1;
        } else if has(b"WARN") {
            c.warning += 1;
        } else {
            c.other += 1;
        }
        for (p, n) in source.patterns.iter().zip(&mut c.matches) {
            *n += u64::from(p.regex.is_match(trim_eol(seen)));
        }
    }
    c
}

/// Every way of splitting `input` in two, and every read size.
fn check_every_split(source: &LogSource, input: &[u8]) {
    let want = model(source, input);
    let show = String::from_utf8_lossy(input);
    for k in 0..=input.len() {
        let got = fed(source, &[&input[..k], &input[k..]]);
        assert_eq!(got, want, "input {show:?} split at {k}");
    }
    for size in 1..=input.len().max(1) {
        let chunks: Vec<&[u8]> = input.chunks(size).collect();
        let got = fed(source, &chunks);
        assert_eq!(got, want, "input {show:?} read {size} bytes at a time");
    }
}

const PIECES: [&[u8]; 14] = [
    b"ERROR",
    b"WARN",
    b"x",
    b"y",
    b" ",
    b"\n",
    b"\n",
    b"\r\n",
    b"\r",
    b"E",
    b"N",
    b"\xff",
    b"\xc3\xa9",
    b"0123456789",
];

#[test]
fn counts_do_not_depend_on_read_boundaries() {
    let source = source();
    for fixed in [
        &b""[..],
        b"\n",
        b"\n\n\n",
        b"a\nb\nc\n",
        b"x\ny\n",
        b"ERROR x\r\nWARN y\n\nx \n y\n",
        b"a line much longer than sixteen bytes ERROR\nshort\n",
        "a line longer than the 256 bytes remembered "
            .repeat(7)
            .as_bytes(),
        b"unterminated x",
    ] {
        check_every_split(&source, fixed);
    }
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..40 {
        let mut input = Vec::new();
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        for i in 0..(s % 24) {
            input.extend_from_slice(PIECES[((s >> (i % 50)) as usize) % PIECES.len()]);
        }
        check_every_split(&source, &input);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    #[test]
    fn counts_do_not_depend_on_read_sizes(
        pieces in proptest::collection::vec(0..PIECES.len(), 0..40),
        cuts in proptest::collection::vec(0usize..64, 0..12),
    ) {
        let source = source();
        let input: Vec<u8> = pieces.iter().flat_map(|&i| PIECES[i].to_vec()).collect();
        let want = model(&source, &input);
        let mut chunks = Vec::new();
        let mut rest = &input[..];
        for c in cuts {
            let (a, b) = rest.split_at(c.min(rest.len()));
            chunks.push(a);
            rest = b;
        }
        chunks.push(rest);
        proptest::prop_assert_eq!(fed(&source, &chunks), want);
    }
}

/// CRI records of JSON messages: two streams interleaved, partial records,
/// a record cut at `max_line_bytes`, a message too long once joined, and
/// records that are not CRI or not JSON.
const CRI: &[&str] = &[
    r#"1 stdout P {"level":"error","msg":"a"#,
    r#"1 stderr F {"level":"warn"}"#,
    "1 stdout P bc",
    "garbage",
    r#"1 stderr P {"msg":"x"#,
    r#"1 stdout F d"}"#,
    "1 stdout P WARN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    r#"1 stderr F y","level":"error"}"#,
    "1 stdout P zzz",
    "1 stdout F end",
    "1 stderr F not json",
    r#"1 stdout F {"lvl":"warn"}"#,
    r#"1 stderr P {"level":"er"#,
    r#"1 stdout P {"level":"info","#,
    r#"1 stderr P ror"}"#,
    "1 stderr F ",
    r#"1 stdout P "msg":"aaaaaaaaaaaaaaaaaaaa"#,
    r#"1 stdout F "}"#,
];

/// Follows the file holding `input` as a restart at `start` does, with
/// the messages `pending` saved there, up to the line end `stop`. Returns
/// error, warning, other, long lines and parse errors counted, and the
/// messages being joined at `stop`.
fn follow_span(
    file: &std::fs::File,
    input: &[u8],
    start: usize,
    pending: &Pending,
    stop: usize,
) -> ([u64; 5], Pending) {
    let yaml = "logs:\n  - name: app\n    paths: ['/nonexistent/app.log']\n    format: cri\n    inner_format: json\n    max_line_bytes: 40\n";
    let mut cfg = crate::config::parse(yaml, Path::new("t.yaml")).unwrap();
    let mut f = Follower::new(cfg.logs.remove(0), Recorder::default(), None);
    let mut t = Tracked::new(
        FileId { dev: 0, ino: 0 },
        PathBuf::new(),
        file.try_clone().unwrap(),
        Fingerprint::default(),
        None,
    );
    t.resume_at(start as u64);
    f.replay(&mut t, pending);
    f.scanner.feed(&mut t, &input[start..stop]);
    assert_eq!(t.line_start, stop as u64);
    let r = &f.scanner.observer;
    let (e, w, o) = r.levels.get();
    let pending = t.partial.as_ref().map(Partial::pending).unwrap_or_default();
    ([e, w, o, r.long.get(), r.parse_errors.get()], pending)
}

#[test]
fn restarts_at_any_line_ends_count_container_messages_as_none() {
    use std::io::Write;
    let input = CRI.join("\n") + "\n";
    let input = input.as_bytes();
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(input).unwrap();
    let none = Pending::default();
    let (whole, left) = follow_span(&file, input, 0, &none, input.len());
    assert_eq!(whole, [3, 2, 4, 2, 2]);
    assert_eq!(left, none);
    let ends: Vec<usize> = std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', input).map(|i| i + 1))
        .collect();
    let add = |a: [u64; 5], b: [u64; 5]| std::array::from_fn(|i| a[i] + b[i]);
    for (i, &k1) in ends.iter().enumerate() {
        for &k2 in &ends[i..] {
            let (a, p1) = follow_span(&file, input, 0, &none, k1);
            let (b, p2) = follow_span(&file, input, k1, &p1, k2);
            let (c, _) = follow_span(&file, input, k2, &p2, input.len());
            assert_eq!(add(add(a, b), c), whole, "restarts at {k1} and {k2}");
        }
    }
}

#[test]
fn saved_messages_the_file_cannot_have_are_not_joined() {
    use crate::logs::checkpoint::PendingStart;
    use std::io::Write;
    let input = CRI.join("\n") + "\n";
    let input = input.as_bytes();
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(input).unwrap();
    let ends: Vec<usize> = memchr::memchr_iter(b'\n', input).map(|i| i + 1).collect();
    // Stopped after "1 stdout P bc": stdout's message starts at 0.
    let k = ends[2];
    let none = Pending::default();
    let (saved, pending) = follow_span(&file, input, 0, &none, k);
    let stdout = |offset| [Some(PendingStart { offset, cut: false }), None];
    assert_eq!(pending, stdout(0));
    let (joined, _) = follow_span(&file, input, k, &pending, input.len());
    let (alone, _) = follow_span(&file, input, k, &none, input.len());
    assert_eq!(saved, [0, 1, 0, 0, 0]);
    assert_eq!(joined, [3, 1, 4, 2, 2]);
    // Its tail `d"}` alone: not an error but other, and malformed.
    assert_eq!(alone, [2, 1, 5, 2, 3]);
    // At the position or past it, mid-record, or a record of the other
    // stream: nothing joined, the tail counts alone (a parse error here).
    for forged in [k, k + 5, 1_000_000, 3, ends[0]] {
        let (got, _) = follow_span(&file, input, k, &stdout(forged as u64), input.len());
        assert_eq!(got, alone, "pending stdout message at {forged}");
    }
}
