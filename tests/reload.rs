//! Hot reload (SIGHUP and POST /-/reload): invalid configs are refused and
//! the running one kept; unchanged services and logs keep their state,
//! schedule, positions and counters; removed ones disappear.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;

fn append(path: &std::path::Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn sighup_applies_changes_and_keeps_the_rest() {
    let srv = TestServer::http(|_| Reply::new(200, "ok"));
    let logs = tempfile::tempdir().unwrap();
    let (a, b) = (logs.path().join("a.log"), logs.path().join("b.log"));
    std::fs::write(&a, "").unwrap();
    std::fs::write(&b, "").unwrap();
    let services = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("  - name: {n}\n    interval: 100ms\n    timeout: 50ms\n    http:\n      url: {}\n", srv.url("/")))
            .collect::<String>()
    };
    let log = |name: &str, path: &std::path::Path, extra: &str| {
        format!(
            "  - name: {name}\n    paths: ['{}']\n{extra}",
            path.display()
        )
    };
    let before = format!(
        "services:\n{}logs:\n{}{}",
        services(&["kept", "dropped"]),
        log("steady", &a, ""),
        log("changed", &b, "")
    );
    let e = Exporter::start(&before);
    append(&a, b"ERROR a1\n");
    append(&b, b"ERROR b1\n");
    e.wait_value(
        "vitals_log_lines_total{log=\"steady\",level=\"error\"}",
        1.0,
    );
    e.wait_value(
        "vitals_log_lines_total{log=\"changed\",level=\"error\"}",
        1.0,
    );
    wait_for("some probes", Duration::from_secs(5), || {
        e.value("vitals_probes_total{microservice=\"kept\"}")
            .unwrap_or(0.0)
            >= 3.0
    });

    let after = format!(
        "services:\n{}logs:\n{}{}",
        services(&["kept", "added"]),
        log("steady", &a, ""),
        log("changed", &b, "    levels:\n      error: [ERROR, FATAL]\n")
    );
    std::fs::write(&e.config, after).unwrap();
    let kept_before = e
        .value("vitals_probes_total{microservice=\"kept\"}")
        .unwrap();
    signal(&e, libc::SIGHUP);
    wait_for("reload logged", Duration::from_secs(10), || {
        e.log().contains("msg=\"configuration reloaded\"")
    });
    e.wait_value("vitals_config_last_reload_successful", 1.0);
    // Lines written around the reload are counted exactly once.
    append(&a, b"ERROR a2\n");
    append(&b, b"FATAL b2\n");
    e.wait_value(
        "vitals_log_lines_total{log=\"steady\",level=\"error\"}",
        2.0,
    );
    e.wait_value(
        "vitals_log_lines_total{log=\"changed\",level=\"error\"}",
        2.0,
    );
    let m = e.metrics();
    assert_eq!(
        sample(&m, "vitals_up{microservice=\"dropped\"}"),
        None,
        "removed service's series are gone"
    );
    assert!(sample(&m, "vitals_up{microservice=\"added\"}").is_some());
    let kept_after = sample(&m, "vitals_probes_total{microservice=\"kept\"}").unwrap();
    assert!(
        kept_after >= kept_before,
        "unchanged service keeps its counter: {kept_before} -> {kept_after}"
    );
    let (_, _, page) = e.get("/");
    assert!(
        !page.contains("<td>dropped</td>") && page.contains("<td>added</td>"),
        "{page}"
    );
}

#[test]
fn invalid_reload_keeps_the_running_config() {
    let srv = TestServer::http(|_| Reply::new(200, "ok"));
    let cfg = format!("services:\n  - name: web\n    interval: 100ms\n    timeout: 50ms\n    http:\n      url: {}\n", srv.url("/"));
    let e = Exporter::start_with(
        &cfg,
        &["--web.enable-lifecycle"],
        tempfile::tempdir().unwrap(),
    );
    e.wait_value("vitals_up{microservice=\"web\"}", 1.0);
    std::fs::write(&e.config, format!("{cfg}    bogus: 1\n")).unwrap();
    let (status, body) = http_post(e.addr, "/-/reload");
    assert_eq!(status, 500);
    assert!(
        body.contains(&format!(
            "{}:7:5: bogus: unknown field `bogus`",
            e.config.display()
        )),
        "{body}"
    );
    e.wait_value("vitals_config_last_reload_successful", 0.0);
    // stderr is read by another thread: the line may trail the answer.
    wait_for("refusal logged", Duration::from_secs(10), || {
        e.log()
            .contains("invalid configuration; keeping the running one")
    });
    let n = e
        .value("vitals_probes_total{microservice=\"web\"}")
        .unwrap();
    wait_for("probes continue", Duration::from_secs(5), || {
        e.value("vitals_probes_total{microservice=\"web\"}")
            .unwrap()
            > n
    });
    std::fs::write(&e.config, &cfg).unwrap();
    assert_eq!(
        http_post(e.addr, "/-/reload"),
        (200, "Reloaded\n".to_string())
    );
    e.wait_value("vitals_config_last_reload_successful", 1.0);
    assert_eq!(e.get("/-/reload").0, 405);
}

#[test]
fn reload_endpoint_needs_the_lifecycle_flag() {
    let e = Exporter::start("services: []\n");
    assert_eq!(http_post(e.addr, "/-/reload").0, 403);
}

#[test]
fn reload_restarts_a_log_only_when_its_settings_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, "").unwrap();
    let entry = |settings: &str| {
        format!(
            "logs:\n  - name: app\n    paths: ['{}']\n{settings}",
            path.display()
        )
    };
    let e = Exporter::start_with(
        &entry("    poll_interval: 1s\n"),
        &["--log.level", "debug"],
        tempfile::tempdir().unwrap(),
    );
    // Each follower start logs the files it takes up.
    let starts = || e.log().matches("msg=\"following file\"").count();
    let reloads = || e.log().matches("msg=\"configuration reloaded\"").count();
    let reload = |yaml: String| {
        let before = reloads();
        std::fs::write(&e.config, yaml).unwrap();
        signal(&e, libc::SIGHUP);
        wait_for("reload logged", Duration::from_secs(10), || {
            reloads() > before
        });
        e.wait_value("vitals_config_last_reload_successful", 1.0);
    };
    wait_for("follower started", Duration::from_secs(10), || {
        starts() == 1
    });

    // Same settings on other lines, a default written out, a duration
    // spelled differently: the follower keeps running.
    reload(format!(
        "# moved down\n\n{}",
        entry("    start_at: end\n    poll_interval: 1000ms\n")
    ));
    append(&path, b"ERROR one\n");
    e.wait_value("vitals_log_lines_total{log=\"app\",level=\"error\"}", 1.0);
    assert_eq!(starts(), 1, "{}", e.log());

    // A real change restarts it, and it counts with the new settings.
    reload(entry(
        "    poll_interval: 1s\n    levels:\n      error: [ERROR, FATAL]\n",
    ));
    assert_eq!(starts(), 2, "{}", e.log());
    append(&path, b"FATAL two\n");
    e.wait_value("vitals_log_lines_total{log=\"app\",level=\"error\"}", 2.0);
}

#[test]
fn a_service_restarted_by_a_reload_keeps_its_state() {
    let srv = TestServer::http(|_| Reply::new(200, "ok"));
    let cfg = |timeout: &str| {
        format!(
            "services:\n  - name: web\n    interval: 100ms\n    timeout: {timeout}\n    http:\n      url: {}\n",
            srv.url("/")
        )
    };
    let e = Exporter::start(&cfg("50ms"));
    e.wait_value("vitals_up{microservice=\"web\"}", 1.0);
    let changed = "vitals_state_change_timestamp_seconds{microservice=\"web\"}";
    let since = e.value(changed).unwrap();
    let ups = || {
        e.log()
            .matches("msg=\"service is up\" microservice=web")
            .count()
    };
    wait_for("up logged", Duration::from_secs(10), || ups() == 1);

    // A new timeout changes the fingerprint: the task restarts, the state
    // stays up, so its first probe is no change.
    std::fs::write(&e.config, cfg("60ms")).unwrap();
    signal(&e, libc::SIGHUP);
    wait_for("reload logged", Duration::from_secs(10), || {
        e.log().contains("msg=\"configuration reloaded\"")
    });
    let probes = e
        .value("vitals_probes_total{microservice=\"web\"}")
        .unwrap();
    wait_for("probes after the restart", Duration::from_secs(10), || {
        e.value("vitals_probes_total{microservice=\"web\"}")
            .unwrap()
            >= probes + 3.0
    });
    assert_eq!(e.value("vitals_up{microservice=\"web\"}"), Some(1.0));
    assert_eq!(e.value(changed), Some(since));
    assert_eq!(ups(), 1, "{}", e.log());
}
