//! The HTML status page: the article's "see it at a glance", one row per service.

use std::fmt::Write;
use std::time::SystemTime;

use super::App;
use crate::status::State;

/// Escapes text for HTML element and attribute content.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Formats a span of seconds as `3d 4h`, `5m 2s`, `12s`.
fn ago(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// Renders `/`.
pub(crate) fn status_page(app: &App) -> String {
    let services = app.board.snapshot();
    let now = SystemTime::now();
    let up = services
        .iter()
        .filter(|(_, s)| s.state == State::Up)
        .count();
    let down = services
        .iter()
        .filter(|(_, s)| s.state == State::Down)
        .count();
    let mut h = String::with_capacity(2048 + services.len() * 256);
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>vitals_exporter</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse}}td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}}
.up{{color:#1a7f37;font-weight:bold}}.down{{color:#cf222e;font-weight:bold}}.unknown{{color:#888}}
</style></head><body>
<h1>vitals_exporter</h1>
<p>Version {version} (revision {revision}). <a href="{metrics}">Metrics</a> · <a href="/-/healthy">Health</a> · <a href="/-/ready">Readiness</a></p>
<h2>Services</h2>
<p>{up} up, {down} down, {total} in all.</p>
<table><thead><tr><th>Service</th><th>State</th><th>Since</th><th>Kind</th><th>Target</th><th>Status code</th><th>Latency</th><th>Last error</th><th>Error lines (5m)</th><th>Warning lines (5m)</th></tr></thead><tbody>
"#,
        version = env!("CARGO_PKG_VERSION"),
        revision = env!("VITALS_REVISION"),
        metrics = escape(&app.telemetry_path),
        total = services.len(),
    );
    for (name, s) in &services {
        let since = now.duration_since(s.since).unwrap_or_default().as_secs();
        let recent = app.board.recent_log_lines(name);
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"{state}\">{state}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{errors}</td><td>{warnings}</td></tr>",
            escape(name),
            ago(since),
            s.kind,
            escape(&s.target),
            s.last_status.map(|c| c.to_string()).unwrap_or_default(),
            s.last_duration
                .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1000.0))
                .unwrap_or_default(),
            escape(s.last_error.as_deref().unwrap_or("")),
            state = s.state.as_str(),
            errors = recent.map(|r| r.0.to_string()).unwrap_or_default(),
            warnings = recent.map(|r| r.1.to_string()).unwrap_or_default(),
        );
    }
    h.push_str("</tbody></table>\n");
    let unwatched = app.board.unwatched_logs();
    if !unwatched.is_empty() {
        h.push_str("<h2>Logs without inotify</h2>\n<ul>\n");
        for (log, n) in &unwatched {
            let _ = writeln!(
                h,
                "<li>{}: {n} director{} not watched (inotify watch failed; fs.inotify.max_user_watches?), polled every poll_interval</li>",
                escape(log),
                if *n == 1 { "y" } else { "ies" },
            );
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn ago_formats() {
        assert_eq!(ago(5), "5s");
        assert_eq!(ago(65), "1m 5s");
        assert_eq!(ago(3700), "1h 1m");
        assert_eq!(ago(90000), "1d 1h");
    }
}
