//! `tracing` output in logfmt (the Prometheus ecosystem's default) or JSON.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Output format of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `ts=… level=info msg="…" key=value`.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber writing to stderr.
pub fn init(level: tracing::Level, format: Format) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    let _ = match format {
        Format::Json => builder.json().flatten_event(true).try_init(),
        Format::Logfmt => builder.event_format(Logfmt).try_init(),
    };
}

/// A logfmt event formatter.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        write!(
            w,
            "ts={ts} level={}",
            meta.level().as_str().to_ascii_lowercase()
        )?;
        let mut v = Visitor {
            w: &mut w,
            result: Ok(()),
        };
        event.record(&mut v);
        v.result?;
        writeln!(w)
    }
}

struct Visitor<'a, 'b> {
    w: &'a mut Writer<'b>,
    result: fmt::Result,
}

impl Visit for Visitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, &format!("{value:?}"));
    }
}

impl Visitor<'_, '_> {
    fn write(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        let key = match field.name() {
            "message" => "msg",
            k => k,
        };
        let plain = !value.is_empty()
            && value
                .chars()
                .all(|c| !c.is_whitespace() && c != '"' && c != '=' && !c.is_control());
        self.result = if plain {
            write!(self.w, " {key}={value}")
        } else {
            write!(self.w, " {key}={value:?}")
        };
    }
}
