//! `service_files:`: Prometheus file_sd lists watched with inotify; targets
//! added, changed and removed take effect within a second, removed
//! services' series disappear, unchanged ones keep their state.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn file_sd_targets_follow_the_files() {
    let a = TestServer::http(|_| Reply::new(200, "a"));
    let b = TestServer::http(|_| Reply::new(200, "b"));
    let sd = tempfile::tempdir().unwrap();
    let json = sd.path().join("web.json");
    std::fs::write(
        &json,
        format!(
            r#"[{{"targets": ["{}"], "labels": {{"microservice": "alpha"}}}}]"#,
            a.addr
        ),
    )
    .unwrap();
    let cfg = format!(
        "modules:\n  - name: http_2xx\n    timeout: 50ms\n    http: {{}}\n    allowed_targets: ['127.0.0.0/8']\nservice_files:\n  - files: ['{}/*.json', '{}/*.yml']\n    module: http_2xx\n    interval: 100ms\n",
        sd.path().display(),
        sd.path().display()
    );
    let e = Exporter::start(&cfg);
    e.wait_value("vitals_up{microservice=\"alpha\"}", 1.0);

    // A YAML file appears with a second target, named by its address.
    std::fs::write(
        sd.path().join("more.yml"),
        format!("- targets: ['{}']\n", b.addr),
    )
    .unwrap();
    let b_name = b.addr.to_string();
    e.wait_value(&format!("vitals_up{{microservice=\"{b_name}\"}}"), 1.0);
    let alpha = e
        .value("vitals_probes_total{microservice=\"alpha\"}")
        .unwrap();

    // The JSON file is rewritten without alpha: its series go away, b stays.
    std::fs::write(&json, "[]").unwrap();
    wait_for("alpha removed", Duration::from_secs(5), || {
        e.value("vitals_up{microservice=\"alpha\"}").is_none()
    });
    assert!(alpha >= 1.0);
    let before = e
        .value(&format!("vitals_probes_total{{microservice=\"{b_name}\"}}"))
        .unwrap();
    wait_for("b keeps probing", Duration::from_secs(5), || {
        e.value(&format!("vitals_probes_total{{microservice=\"{b_name}\"}}"))
            .unwrap_or(0.0)
            > before
    });

    // An invalid file is logged and skipped; the rest keeps running.
    std::fs::write(sd.path().join("broken.json"), "[{\"targets\": 5}]").unwrap();
    wait_for("warning logged", Duration::from_secs(5), || {
        e.log().contains("invalid service file; skipped")
    });
    assert_eq!(
        e.value(&format!("vitals_up{{microservice=\"{b_name}\"}}")),
        Some(1.0)
    );
}
