//! Lines in a structured format (JSON, logfmt, auto) or container records
//! (CRI, docker) around them: each line is classified by its level field,
//! not by words anywhere in it. Only logs configured with a format come
//! here; plain logs keep the block scan of [`super::matcher`].

use std::borrow::Cow;

use memchr::memchr;

use super::checkpoint::{Pending, PendingStart};
use super::matcher::{LevelCounts, LevelMatcher, LinePattern};
use super::LogObserver;
use crate::config::log_format::{Container, LineFormat};
use crate::config::logs::Pattern;
use crate::logformat::{
    self, detect, parse_cri, DockerParser, FieldSet, Format, Joiner, Level, Malformed, Outcome,
    Stream,
};

/// What a log's format asks of each line; shared by the log's files.
pub(crate) struct Structured {
    container: Option<Container>,
    docker: DockerParser,
    message: Format,
    levels: FieldSet,
    /// Per pattern in config order: the field its regex runs on, if any.
    fields: Vec<Option<FieldSet>>,
    /// Whether any pattern targets a field (else lines skip the pattern loop).
    field_patterns: bool,
    max_line_bytes: usize,
}

/// Container records of one file not joined into a message yet. Where
/// each message starts is saved with the file's position, so that a
/// restart reads its records again ([`Structured::rejoin`]).
#[derive(Debug)]
pub(crate) struct Partial {
    joiner: Joiner,
    /// Per stream: a record of the message being joined was itself cut at
    /// `max_line_bytes` (already counted as a long line).
    cut: [bool; 2],
    /// Per stream: the file offset of the first record of that message.
    start: [Option<u64>; 2],
}

impl Partial {
    /// The messages being joined, for the checkpoint.
    pub(crate) fn pending(&self) -> Pending {
        [0, 1].map(|i| {
            self.start[i].map(|offset| PendingStart {
                offset,
                cut: self.cut[i],
            })
        })
    }

    /// The messages being joined in a file rotated away, for the file that
    /// replaces it at its path: the runtime goes on writing them there. Their
    /// offsets were in the old file: the new file's checkpoint records a
    /// message from its first record there, and a restart before that loses
    /// the head.
    pub(crate) fn carried(self) -> Option<Self> {
        let joining = self.start.iter().any(Option::is_some);
        joining.then_some(Partial {
            start: [None; 2],
            ..self
        })
    }

    /// Bytes held for messages being joined, or kept for the next.
    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        self.joiner.held_bytes()
    }
}

/// The matchers a line goes through, borrowed from the scanner.
pub(crate) struct Sinks<'a, O> {
    pub(crate) observer: &'a mut O,
    pub(crate) levels: &'a mut LevelMatcher,
    pub(crate) patterns: &'a mut [LinePattern],
}

/// What one block of lines came to.
#[derive(Default)]
struct Tally {
    counts: LevelCounts,
    parse_errors: u64,
}

impl Tally {
    fn add(&mut self, level: Level) {
        self.counts.lines += 1;
        match level {
            Level::Error => self.counts.error += 1,
            Level::Warning => self.counts.warning += 1,
            Level::Other => {}
        }
    }
}

impl Structured {
    /// `None` for `format: plain`, which the block scan handles.
    pub(crate) fn new(
        format: &LineFormat,
        patterns: &[Pattern],
        max_line_bytes: usize,
    ) -> Option<Self> {
        if format.is_plain() {
            return None;
        }
        let fields: Vec<_> = patterns
            .iter()
            .map(|p| {
                // Validation allows one dotted name; a FieldSet of one path cannot be too big.
                p.field.as_ref().and_then(|f| FieldSet::new(&[f]).ok())
            })
            .collect();
        Some(Structured {
            container: format.container,
            docker: DockerParser::default(),
            message: format.message,
            levels: format.level_fields.clone(),
            field_patterns: fields.iter().any(Option::is_some),
            fields,
            max_line_bytes,
        })
    }

    /// Counts `b` (read at file offset `at`): complete lines each ending
    /// with `\n` (the last may lack it), or one line `cut` at `max_line_bytes`.
    pub(crate) fn scan<O: LogObserver>(
        &self,
        b: &[u8],
        at: u64,
        cut: bool,
        partial: &mut Option<Partial>,
        mut s: Sinks<'_, O>,
    ) -> LevelCounts {
        let mut tally = Tally::default();
        let mut rest = b;
        while !rest.is_empty() {
            let line_at = at + (b.len() - rest.len()) as u64;
            let (line, next) = match memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            rest = next;
            match self.container {
                None => {
                    let level = self.level(line, cut, s.levels, &mut tally);
                    tally.add(level);
                    if self.field_patterns {
                        self.patterns(line, false, &mut s);
                    }
                }
                Some(_) => self.record(line, line_at, cut, partial, &mut tally, &mut s),
            }
        }
        if self.container.is_none() {
            // Patterns on the whole line run over the block, as for plain logs.
            for (i, p) in s.patterns.iter_mut().enumerate() {
                if self.fields[i].is_none() {
                    p.for_each_matching_line(b, |values| s.observer.matched(i, values));
                }
            }
        }
        s.observer.lines(tally.counts);
        if tally.parse_errors > 0 {
            s.observer.parse_errors(tally.parse_errors);
        }
        tally.counts
    }

    /// Decodes one container record (at file offset `at`) and, once its
    /// message is whole, classifies and matches the message.
    fn record<O: LogObserver>(
        &self,
        line: &[u8],
        at: u64,
        cut: bool,
        partial: &mut Option<Partial>,
        tally: &mut Tally,
        s: &mut Sinks<'_, O>,
    ) {
        let Ok((stream, is_partial, fragment)) = self.decode(line) else {
            // A record cut short is not malformed, only long (counted as such).
            tally.parse_errors += u64::from(!cut);
            tally.add(Level::Other);
            return;
        };
        let p = self.partial(partial);
        let i = stream_index(stream);
        let was_cut = std::mem::replace(&mut p.cut[i], false) || cut;
        p.start[i].get_or_insert(at);
        let Some(joined) = p.joiner.push(stream, is_partial, &fragment) else {
            p.cut[i] = was_cut;
            return;
        };
        p.start[i] = None;
        // One long line per message, however many of its records were cut.
        if joined.truncated && !was_cut {
            s.observer.long_line();
        }
        let cut = was_cut || joined.truncated;
        let level = self.level(joined.message, cut, s.levels, tally);
        tally.add(level);
        self.patterns(joined.message, true, s);
        p.joiner.release(stream);
    }

    /// Feeds one record read again at start-up, at file offset `at`, to the
    /// joiner, counting nothing: it was counted before the restart, or is
    /// part of a message still being joined. Only the records of the
    /// messages `from` (saved with the position) are fed, from the first
    /// record of each on; any other record was part of a message whole
    /// before the stop.
    pub(crate) fn rejoin(
        &self,
        line: &[u8],
        at: u64,
        partial: &mut Option<Partial>,
        from: &Pending,
    ) {
        let Ok((stream, is_partial, fragment)) = self.decode(line) else {
            return;
        };
        let i = stream_index(stream);
        let Some(first) = from[i] else { return };
        let p = self.partial(partial);
        if p.start[i].is_none() {
            if at != first.offset {
                return;
            }
            p.start[i] = Some(at);
            // Whether its long line was counted, even if `max_line_bytes`
            // changed since.
            p.cut[i] = first.cut;
        }
        if p.joiner.push(stream, is_partial, &fragment).is_some() {
            // Whole before the saved offset: the file is not what was saved.
            p.start[i] = None;
        }
    }

    /// Decodes one container record: its stream, whether it is partial,
    /// and its piece of the message.
    fn decode<'l>(&self, line: &'l [u8]) -> Result<(Stream, bool, Cow<'l, [u8]>), Malformed> {
        match self.container {
            Some(Container::Docker) => self
                .docker
                .parse(line)
                .map(|r| (r.stream, r.partial, r.message)),
            Some(Container::Cri) => {
                parse_cri(line).map(|r| (r.stream, r.partial, Cow::Borrowed(r.message)))
            }
            // Records saved by a container log reloaded as another format.
            None => Err(Malformed),
        }
    }

    fn partial<'p>(&self, partial: &'p mut Option<Partial>) -> &'p mut Partial {
        partial.get_or_insert_with(|| Partial {
            joiner: Joiner::new(self.max_line_bytes),
            cut: [false; 2],
            start: [None; 2],
        })
    }

    /// The level of one line or message: its level field; the token rule
    /// when it has none (or is plain); `other` when malformed.
    fn level(&self, text: &[u8], cut: bool, levels: &mut LevelMatcher, tally: &mut Tally) -> Level {
        match logformat::level(text, self.message, &self.levels) {
            Outcome::Level(l) => l,
            // A cut line may have lost its level field; only a plain one is judged by tokens.
            Outcome::NoField if !cut || self.plain(text) => tokens(levels, text),
            Outcome::NoField => Level::Other,
            // Cut short, or a blank line: nothing to parse, not an error.
            Outcome::Malformed if cut || text.iter().all(u8::is_ascii_whitespace) => Level::Other,
            Outcome::Malformed => {
                tally.parse_errors += 1;
                Level::Other
            }
        }
    }

    fn plain(&self, text: &[u8]) -> bool {
        match self.message {
            Format::Auto => detect(text) == Format::Plain,
            f => f == Format::Plain,
        }
    }

    /// Runs the patterns that target a field (and, for a container message,
    /// the others on the whole message), each at most once.
    fn patterns<O: LogObserver>(&self, text: &[u8], whole_too: bool, s: &mut Sinks<'_, O>) {
        for (i, p) in s.patterns.iter_mut().enumerate() {
            let target = match &self.fields[i] {
                None if whole_too => Cow::Borrowed(text),
                None => continue,
                Some(f) => match logformat::lookup(text, self.message, f) {
                    Ok(Some((_, v))) => v,
                    _ => continue,
                },
            };
            if target.is_empty() {
                continue;
            }
            // A decoded value may hold `\n`: still one line, counted once.
            let mut first = true;
            p.for_each_matching_line(&target, |values| {
                if std::mem::take(&mut first) {
                    s.observer.matched(i, values);
                }
            });
        }
    }
}

/// The longest line the follower reads whole: `max_line_bytes`, but a
/// docker record whole up to the longest the daemon writes, as cut it is
/// not JSON and its tail says whether the message goes on (the message
/// joined from such records is still cut at `max_line_bytes`).
pub(crate) fn line_cap(format: &LineFormat, max_line_bytes: usize) -> usize {
    match format.container {
        Some(Container::Docker) => max_line_bytes.max(logformat::DOCKER_MAX_RECORD_BYTES),
        _ => max_line_bytes,
    }
}

fn stream_index(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

/// The plain-text rule for one line: error if it holds an error token,
/// else warning if a warning token, else other.
fn tokens(levels: &mut LevelMatcher, text: &[u8]) -> Level {
    let c = levels.scan(text);
    if c.error > 0 {
        Level::Error
    } else if c.warning > 0 {
        Level::Warning
    } else {
        Level::Other
    }
}
