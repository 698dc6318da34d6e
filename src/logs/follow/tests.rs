//! The counts must not depend on how the bytes were split into reads:
//! the same input fed at every split point and every read size (after
//! ripgrep's `SearcherTester`) must give what a line-by-line model gives.

use std::cell::Cell;

use super::*;
use crate::logs::checkpoint::Fingerprint;
use crate::logs::matcher::trim_eol;
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
#[derive(Default)]
struct Recorder {
    levels: Cell<(u64, u64, u64)>,
    long: Cell<u64>,
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
    fn parse_errors(&self, _: u64) {}
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
