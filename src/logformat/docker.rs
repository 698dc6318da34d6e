//! Docker json-file records: `{"log":"text\n","stream":"stdout","time":"…"}`. The daemon splits
//! a line longer than 16 KiB into records whose `log` lacks the final `\n`.

use std::borrow::Cow;

use super::{json, FieldSet, Malformed, Stream};

/// The longest record the daemon writes: it splits lines at 16 KiB of text, and an escape takes
/// up to 6 bytes per byte of text (`\u0000`, `\ufffd` for invalid UTF-8, `\u003c` for `<`: Go
/// escapes HTML); `stream` and `time` take the rest.
pub(crate) const MAX_RECORD_BYTES: usize = 16 * 1024 * 6 + 1024;

/// One docker record, its message JSON-decoded, without the trailing newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) stream: Stream,
    pub(crate) partial: bool,
    pub(crate) message: Cow<'a, [u8]>,
}

/// Field sets built once per parser: `log` and `stream`.
#[derive(Debug, Clone)]
pub(crate) struct Parser {
    log: FieldSet,
    stream: FieldSet,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            log: FieldSet::from_paths(&["log"]),
            stream: FieldSet::from_paths(&["stream"]),
        }
    }
}

impl Parser {
    /// Parses one record; a record without a string `log` or with a `stream` other than
    /// `stdout`/`stderr` is malformed.
    pub(crate) fn parse<'a>(&self, line: &'a [u8]) -> Result<Record<'a>, Malformed> {
        // `log` is first in what the daemon writes; a second pass for `stream` is cheap since
        // the record's only long value is `log`, and strings are skipped with memchr.
        let (_, log) = json::lookup(line, &self.log)?.ok_or(Malformed)?;
        // An owned value is a string that held escapes; a borrowed one must
        // be a string too: taken for a record without its final `\n`,
        // `"log":5` would be glued to the head of the next message.
        if matches!(log, Cow::Borrowed(raw) if !follows_quote(line, raw)) {
            return Err(Malformed);
        }
        let (_, stream) = json::lookup(line, &self.stream)?.ok_or(Malformed)?;
        let stream = Stream::parse(&stream).ok_or(Malformed)?;
        let partial = !log.ends_with(b"\n");
        let message = match log {
            Cow::Borrowed(b) => Cow::Borrowed(b.strip_suffix(b"\n").unwrap_or(b)),
            Cow::Owned(mut v) => {
                if !partial {
                    v.pop();
                }
                Cow::Owned(v)
            }
        };
        Ok(Record {
            stream,
            partial,
            message,
        })
    }
}

/// Whether `raw`, borrowed from `line` by [`json::lookup`], was a JSON
/// string: a string's raw bytes follow its opening quote, while a bare value
/// (`5`, `null`, `{…}`) is borrowed from its first byte, after `:` or a blank.
fn follows_quote(line: &[u8], raw: &[u8]) -> bool {
    let at = (raw.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
    at.checked_sub(1).and_then(|i| line.get(i)) == Some(&b'"')
}
