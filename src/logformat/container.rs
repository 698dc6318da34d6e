//! Joining the partial records container runtimes split long lines into, so that a long line is
//! matched (and counted) once.

/// Which output of the container a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub(crate) fn parse(name: &[u8]) -> Option<Stream> {
        match name {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One whole message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Joined<'a> {
    pub(crate) stream: Stream,
    pub(crate) message: &'a [u8],
    /// The message was longer than the cap and is cut to its first `max_line_bytes` bytes.
    pub(crate) truncated: bool,
}

/// Concatenates partial records per stream (the runtime interleaves stdout's and stderr's
/// records in one file) up to `max_line_bytes`; past the cap the rest of the message is dropped,
/// as the plain follower does with a long line.
#[derive(Debug)]
pub(crate) struct Joiner {
    max_line_bytes: usize,
    /// Indexed by `Stream as usize`.
    pending: [Pending; 2],
}

/// Capacity a stream's buffer keeps between messages: enough for ordinary
/// split lines without reallocating, while one long line (up to
/// `max_line_bytes`, possibly megabytes) is not held per stream per file
/// for the rest of the file's life.
const RETAIN_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Pending {
    buf: Vec<u8>,
    truncated: bool,
    /// `buf` holds a message already returned (it borrowed the buffer): cleared on next push.
    emitted: bool,
}

impl Joiner {
    pub(crate) fn new(max_line_bytes: usize) -> Self {
        Joiner {
            max_line_bytes,
            pending: Default::default(),
        }
    }

    /// Adds one record's fragment. Returns the message when the record is final. A final record
    /// with nothing pending is returned without copying.
    pub(crate) fn push<'s>(
        &'s mut self,
        stream: Stream,
        partial: bool,
        fragment: &'s [u8],
    ) -> Option<Joined<'s>> {
        let max = self.max_line_bytes;
        let p = &mut self.pending[stream as usize];
        if p.emitted {
            p.buf.clear();
            p.truncated = false;
            p.emitted = false;
        }
        if !partial && p.buf.is_empty() && !p.truncated {
            return Some(Joined {
                stream,
                message: &fragment[..fragment.len().min(max)],
                truncated: fragment.len() > max,
            });
        }
        let room = max - p.buf.len();
        p.truncated |= fragment.len() > room;
        p.buf
            .extend_from_slice(&fragment[..fragment.len().min(room)]);
        if partial {
            return None;
        }
        p.emitted = true;
        Some(Joined {
            stream,
            message: &p.buf,
            truncated: p.truncated,
        })
    }

    /// Called once the caller is done with the message `push` returned:
    /// frees a buffer that grew past [`RETAIN_BYTES`] for it.
    pub(crate) fn release(&mut self, stream: Stream) {
        let p = &mut self.pending[stream as usize];
        if p.emitted && p.buf.capacity() > RETAIN_BYTES {
            p.buf = Vec::new();
        }
    }

    /// Bytes allocated for messages being joined, or kept for the next.
    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        self.pending.iter().map(|p| p.buf.capacity()).sum()
    }
}

#[cfg(test)]
#[path = "container_tests.rs"]
mod tests;
