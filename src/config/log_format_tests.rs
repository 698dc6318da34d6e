use std::path::Path;

use super::*;
use crate::config::parse;

fn log_entry(keys: &str) -> String {
    format!("logs:\n  - name: app\n    paths: [/var/log/app.log]\n{keys}")
}

fn errors(keys: &str) -> Vec<String> {
    match parse(&log_entry(keys), Path::new("/etc/vitals/x.yaml")) {
        Ok(_) => panic!("accepted:\n{keys}"),
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    }
}

fn format_of(keys: &str) -> LineFormat {
    let c = parse(&log_entry(keys), Path::new("/etc/vitals/x.yaml")).unwrap();
    c.logs[0].format.clone()
}

#[test]
fn formats_parse_into_container_and_message() {
    let table: &[(&str, Option<Container>, Format)] = &[
        ("", None, Format::Plain),
        ("    format: plain\n", None, Format::Plain),
        ("    format: json\n", None, Format::Json),
        ("    format: logfmt\n", None, Format::Logfmt),
        ("    format: auto\n", None, Format::Auto),
        ("    format: cri\n", Some(Container::Cri), Format::Plain),
        (
            "    format: docker\n",
            Some(Container::Docker),
            Format::Plain,
        ),
        ("    format: cri+json\n", Some(Container::Cri), Format::Json),
        (
            "    format: docker+auto\n",
            Some(Container::Docker),
            Format::Auto,
        ),
        (
            "    format: cri\n    inner_format: logfmt\n",
            Some(Container::Cri),
            Format::Logfmt,
        ),
    ];
    for (keys, container, message) in table {
        let f = format_of(keys);
        assert_eq!((f.container, f.message), (*container, *message), "{keys}");
        assert_eq!(f.level_names, ["level", "lvl", "severity", "log.level"]);
    }
}

#[test]
fn level_field_takes_a_name_or_a_list() {
    let f = format_of("    format: json\n    level_field: sev\n");
    assert_eq!(f.level_names, ["sev"]);
    let f = format_of("    format: logfmt\n    level_field: [a, b.c]\n");
    assert_eq!(f.level_names, ["a", "b.c"]);
}

#[test]
fn format_changes_change_the_fingerprint() {
    let fp = |keys: &str| {
        parse(&log_entry(keys), Path::new("/etc/vitals/x.yaml"))
            .unwrap()
            .logs[0]
            .fingerprint()
    };
    let plain = fp("");
    assert_eq!(fp("    format: plain\n"), plain);
    assert_ne!(fp("    format: json\n"), plain);
    assert_eq!(
        fp("    format: cri+json\n"),
        fp("    format: cri\n    inner_format: json\n")
    );
    assert_ne!(
        fp("    format: json\n    level_field: sev\n"),
        fp("    format: json\n")
    );
}

#[test]
fn bad_formats_are_named_with_their_location() {
    let table: &[(&str, &str)] = &[
        (
            "    format: xml\n",
            "/etc/vitals/x.yaml:4:13: logs[0].format: must be `plain`, `json`, `logfmt`, `auto`, `cri` or `docker` (`cri+json`, `docker+logfmt`, … name the inner format), not \"xml\"",
        ),
        (
            "    format: json+cri\n",
            "/etc/vitals/x.yaml:4:13: logs[0].format: must be `plain`, `json`, `logfmt`, `auto`, `cri` or `docker` (`cri+json`, `docker+logfmt`, … name the inner format), not \"json+cri\"",
        ),
        (
            "    format: cri+xml\n",
            "/etc/vitals/x.yaml:4:13: logs[0].format: must be `plain`, `json`, `logfmt`, `auto`, `cri` or `docker` (`cri+json`, `docker+logfmt`, … name the inner format), not \"cri+xml\"",
        ),
        (
            "    format: json\n    inner_format: json\n",
            "/etc/vitals/x.yaml:5:19: logs[0].inner_format: only for `format: cri` or `format: docker`",
        ),
        (
            "    format: cri+json\n    inner_format: json\n",
            "/etc/vitals/x.yaml:5:19: logs[0].inner_format: `format: cri+json` already names the inner format",
        ),
        (
            "    format: docker\n    inner_format: yaml\n",
            "/etc/vitals/x.yaml:5:19: logs[0].inner_format: must be `plain`, `json`, `logfmt` or `auto`, not \"yaml\"",
        ),
        (
            "    level_field: level\n",
            "/etc/vitals/x.yaml:4:18: logs[0].level_field: needs a structured format (`json`, `logfmt` or `auto`, alone or inside `cri`/`docker`)",
        ),
        (
            "    format: json\n    level_field: []\n",
            "/etc/vitals/x.yaml:5:18: logs[0].level_field: needs at least one field name, none empty (nor an empty part between dots)",
        ),
        (
            "    format: json\n    level_field: [a, 'b..c']\n",
            "/etc/vitals/x.yaml:5:18: logs[0].level_field: needs at least one field name, none empty (nor an empty part between dots)",
        ),
        (
            "    patterns:\n      - {name: p, regex: x, field: msg}\n",
            "/etc/vitals/x.yaml:5:36: logs[0].patterns[0].field: needs a structured format (`json`, `logfmt` or `auto`, alone or inside `cri`/`docker`)",
        ),
        (
            "    format: cri\n    patterns:\n      - {name: p, regex: x, field: msg}\n",
            "/etc/vitals/x.yaml:6:36: logs[0].patterns[0].field: needs a structured format (`json`, `logfmt` or `auto`, alone or inside `cri`/`docker`)",
        ),
        (
            "    format: json\n    patterns:\n      - {name: p, regex: x, field: ''}\n",
            "/etc/vitals/x.yaml:6:36: logs[0].patterns[0].field: must be a field name (no empty part between dots)",
        ),
    ];
    for (keys, want) in table {
        assert_eq!(errors(keys), [*want], "{keys}");
    }
    let many: Vec<String> = (0..65).map(|i| format!("f{i}")).collect();
    assert_eq!(
        errors(&format!(
            "    format: json\n    level_field: [{}]\n",
            many.join(", ")
        )),
        ["/etc/vitals/x.yaml:5:18: logs[0].level_field: at most 64 level fields may be listed"]
    );
}

#[test]
fn a_pattern_field_is_kept_for_structured_formats() {
    let c = parse(
        &log_entry(
            "    format: cri+json\n    patterns:\n      - {name: p, regex: x, field: msg}\n",
        ),
        Path::new("/etc/vitals/x.yaml"),
    )
    .unwrap();
    assert_eq!(c.logs[0].patterns[0].field.as_deref(), Some("msg"));
}
