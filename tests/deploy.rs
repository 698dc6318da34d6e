//! The shipped monitoring files: alert rules (promtool check + unit tests),
//! Alertmanager config (amtool), Prometheus config, the PrometheusRule
//! generated from the rules, and a lint of the Grafana dashboard.

use std::process::Command;

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (scripts/install-test-deps.sh installs it)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd} {args:?} failed:\n{text}");
    text
}

#[test]
fn alert_rules_are_valid_and_lint_clean() {
    let out = run(
        "promtool",
        &[
            "check",
            "rules",
            "--lint=all",
            "--lint-fatal",
            "deploy/alerts.yml",
        ],
    );
    assert!(out.contains("SUCCESS: 17 rules found"), "{out}");
}

#[test]
fn alert_rules_unit_tests_pass() {
    let out = run("promtool", &["test", "rules", "deploy/alerts.test.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn every_alert_has_a_test_and_a_runbook_section() {
    let rules = std::fs::read_to_string("deploy/alerts.yml").unwrap();
    let tests = std::fs::read_to_string("deploy/alerts.test.yml").unwrap();
    let runbook = std::fs::read_to_string("deploy/RUNBOOK.md").unwrap();
    let names: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(names.len(), 17);
    for name in names {
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "{name} has no test"
        );
        let anchor = name.trim_end_matches("Critical").to_lowercase();
        assert!(
            rules.contains(&format!("RUNBOOK.md#{anchor}\n")),
            "{name} has no runbook_url #{anchor}"
        );
        assert!(
            runbook.contains(&format!("## {}\n", name.trim_end_matches("Critical"))),
            "RUNBOOK.md has no section for {name}"
        );
        assert!(name.starts_with("Vitals"), "{name}: one prefix");
    }
}

#[test]
fn alertmanager_config_is_valid_and_routes_by_severity() {
    let out = run("amtool", &["check-config", "deploy/alertmanager.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
    for (severity, receiver) in [
        ("critical", "oncall-mail"),
        ("warning", "ops-mail"),
        ("info", "ops-mail"),
    ] {
        let out = run(
            "amtool",
            &[
                "config",
                "routes",
                "test",
                "--config.file=deploy/alertmanager.yml",
                &format!("severity={severity}"),
            ],
        );
        // amtool adds a warning about --alertmanager.url on stderr.
        assert_eq!(out.lines().next(), Some(receiver), "severity={severity}");
    }
}

#[test]
fn prometheus_config_is_valid() {
    let out = run("promtool", &["check", "config", "deploy/prometheus.yml"]);
    assert!(out.contains("SUCCESS: 17 rules found"), "{out}");
}

#[test]
fn probe_scrape_examples_are_valid() {
    let out = run(
        "promtool",
        &["check", "config", "deploy/prometheus-probe-file-sd.yml"],
    );
    assert!(out.contains("SUCCESS"), "{out}");
    // Debian's promtool is built without Kubernetes discovery, so the
    // Kubernetes example is only checked to be one scrape config of YAML.
    #[derive(serde::Deserialize)]
    struct Prom {
        scrape_configs: Vec<serde::de::IgnoredAny>,
    }
    let text = std::fs::read_to_string("deploy/prometheus-probe-kubernetes.yml").unwrap();
    let p: Prom =
        serde_saphyr::from_str(&text.replace("global:\n  scrape_interval: 30s\n", "")).unwrap();
    assert_eq!(p.scrape_configs.len(), 1);
    assert!(text.contains("kubernetes_sd_configs") && text.contains("action: hashmod"));
}

#[test]
fn prometheusrule_is_generated_from_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kubernetes");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy("deploy/alerts.yml", dir.path().join("alerts.yml")).unwrap();
    std::fs::copy(
        "deploy/kubernetes/build-prometheusrule.sh",
        copy.join("build-prometheusrule.sh"),
    )
    .unwrap();
    run(
        "bash",
        &[copy.join("build-prometheusrule.sh").to_str().unwrap()],
    );
    let fresh = std::fs::read_to_string(copy.join("prometheusrule.yaml")).unwrap();
    let shipped = std::fs::read_to_string("deploy/kubernetes/prometheusrule.yaml").unwrap();
    assert_eq!(
        fresh, shipped,
        "run deploy/kubernetes/build-prometheusrule.sh"
    );
    // Its groups are valid rules for promtool too.
    let groups: String = fresh
        .split_once("spec:\n")
        .unwrap()
        .1
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, groups).unwrap();
    let out = run("promtool", &["check", "rules", rules.to_str().unwrap()]);
    assert!(out.contains("SUCCESS: 17 rules found"), "{out}");
}

/// Every query of the dashboard, with the panel title.
pub fn dashboard_queries(dash: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                p["title"].as_str().unwrap_or("").to_string(),
                t["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

#[test]
fn dashboard_lint() {
    let text = std::fs::read_to_string("grafana/vitals_exporter.json").unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let vars = dash["templating"]["list"].as_array().unwrap();
    let ds = vars
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    for name in ["job", "instance", "service"] {
        let v = vars
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{name} variable"));
        assert_eq!(v["datasource"]["uid"], "${datasource}", "{name}");
        assert_eq!(v["multi"], true, "{name}");
        assert_eq!(v["allValue"], ".+", "{name}");
    }
    assert_eq!(
        dash["__inputs"],
        serde_json::json!([]),
        "no hard-coded data source import"
    );
    assert!(!text.contains("DS_PROMETHEUS"));
    let mut panels = 0;
    for p in dash["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap_or("");
        assert!(!title.is_empty(), "panel without title: {p}");
        if p["type"] == "row" {
            continue;
        }
        panels += 1;
        assert!(
            !p["description"].as_str().unwrap_or("").is_empty(),
            "{title}: description"
        );
        assert!(
            !p["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or("")
                .is_empty(),
            "{title}: unit"
        );
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
        }
    }
    assert!(panels >= 15, "{panels} panels");
    let queries = dashboard_queries(&dash);
    for (title, q) in &queries {
        assert!(
            q.contains("job=~\"$job\",instance=~\"$instance\""),
            "{title}: {q} lacks job/instance"
        );
        for f in ["rate(", "increase("] {
            for (i, _) in q.match_indices(f) {
                let rest = &q[i..];
                let end = rest.find(')').unwrap();
                assert!(rest[..end].ends_with("[$__rate_interval]"), "{title}: {q}");
            }
        }
        // Counters only inside rate()/increase().
        for (i, _) in q.match_indices("_total{") {
            let before = &q[..i];
            assert!(
                before
                    .rfind("rate(")
                    .is_some_and(|r| !before[r..].contains(')')),
                "{title}: {q}"
            );
        }
    }
    // The article's pie chart: healthy vs unhealthy.
    let pie = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "piechart")
        .unwrap();
    assert_eq!(pie["targets"].as_array().unwrap().len(), 2);
}
