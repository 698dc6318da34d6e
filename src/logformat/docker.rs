//! Docker json-file records: `{"log":"text\n","stream":"stdout","time":"…"}`. The daemon splits
//! a line longer than 16 KiB into records whose `log` lacks the final `\n`.

use std::borrow::Cow;

use super::{json, FieldSet, Malformed, Stream};

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
