//! Labels from the path (`path_labels`, `service_from`): the real binary
//! following real directories laid out as the kubelet lays out
//! `/var/log/pods`, with exact per-label counts.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

/// A log `pods` over `root` in the kubelet layout, plus `extra` YAML.
fn config(root: &Path, extra: &str) -> String {
    format!(
        "logs:\n  - name: pods\n    paths: ['{}/{{namespace}}_{{pod}}_{{uid}}/{{container}}/*.log']\n    start_at: beginning\n    poll_interval: 100ms\n{extra}",
        root.display()
    )
}

#[test]
fn two_pods_two_containers_exact_counts_and_series_go_with_their_files() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let cfg = config(r, "    path_labels: [namespace, container]\n");
    let shop_app = pod_log(r, b"shop", "cart-1", "app");
    let shop_side = pod_log(r, b"shop", "cart-1", "sidecar");
    let pay_app = pod_log(r, b"pay", "api-1", "app");
    let pay_side = pod_log(r, b"pay", "api-1", "sidecar");
    let e = Exporter::start(&cfg);
    append(&shop_app, b"ERROR a\nERROR b\nWARNING c\nfine\n");
    append(&shop_side, b"WARNING d\n");
    append(&pay_app, b"ERROR e\nok\nok\n");
    append(&pay_side, b"fine\n");
    // A second pod of the same namespace and container: the same series.
    let shop_app2 = pod_log(r, b"shop", "cart-2", "app");
    append(&shop_app2, b"ERROR f\n");
    wait_path_levels(
        &e,
        "pods",
        "namespace=\"shop\",container=\"app\"",
        (3, 1, 1),
    );
    wait_path_levels(
        &e,
        "pods",
        "namespace=\"shop\",container=\"sidecar\"",
        (0, 1, 0),
    );
    wait_path_levels(&e, "pods", "namespace=\"pay\",container=\"app\"", (1, 0, 2));
    wait_path_levels(
        &e,
        "pods",
        "namespace=\"pay\",container=\"sidecar\"",
        (0, 0, 1),
    );
    e.wait_value("vitals_log_lines_total{log=\"pods\",level=\"error\"}", 4.0);
    assert_eq!(path_samples(&e).len(), 12, "{:#?}", path_samples(&e));
    assert_eq!(
        promtool_check_metrics(&e.metrics()),
        "",
        "promtool findings"
    );

    // cart-1 goes: its sidecar series with it; shop/app lives on in cart-2.
    append(&shop_app, b"ERROR last words\n");
    std::fs::remove_dir_all(shop_app.parent().unwrap().parent().unwrap()).unwrap();
    let sidecar = path_series(
        "pods",
        "namespace=\"shop\",container=\"sidecar\"",
        "warning",
    );
    wait_for("shop/sidecar removed", Duration::from_secs(30), || {
        e.value(&sidecar).is_none()
    });
    assert_eq!(path_samples(&e).len(), 9, "{:#?}", path_samples(&e));
    wait_path_levels(
        &e,
        "pods",
        "namespace=\"shop\",container=\"app\"",
        (4, 1, 1),
    );
    append(&shop_app2, b"WARNING g\n");
    wait_path_levels(
        &e,
        "pods",
        "namespace=\"shop\",container=\"app\"",
        (4, 2, 1),
    );

    std::fs::remove_dir_all(shop_app2.parent().unwrap().parent().unwrap()).unwrap();
    let app = path_series("pods", "namespace=\"shop\",container=\"app\"", "error");
    wait_for("shop/app removed", Duration::from_secs(30), || {
        e.value(&app).is_none()
    });
    assert_eq!(path_samples(&e).len(), 6, "{:#?}", path_samples(&e));
    // The per-log series count every line, whatever came and went.
    e.wait_value("vitals_log_lines_total{log=\"pods\",level=\"error\"}", 5.0);
    e.wait_value(
        "vitals_log_lines_total{log=\"pods\",level=\"warning\"}",
        3.0,
    );
    e.wait_value("vitals_log_lines_total{log=\"pods\",level=\"other\"}", 4.0);
}

#[test]
fn pods_past_max_series_go_to_overflow_exactly() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // Present at start-up: the first scan opens them in path order.
    for (i, pod) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
        let log = pod_log(r, b"ns", pod, "app");
        append(&log, "ERROR x\n".repeat(i + 1).as_bytes());
    }
    let e = Exporter::start(&config(r, "    path_labels: [pod]\n    max_series: 2\n"));
    wait_path_levels(&e, "pods", "pod=\"a\"", (1, 0, 0));
    wait_path_levels(&e, "pods", "pod=\"b\"", (2, 0, 0));
    wait_path_levels(&e, "pods", "pod=\"__overflow__\"", (3 + 4 + 5, 0, 0));
    assert_eq!(path_samples(&e).len(), 9, "{:#?}", path_samples(&e));
    // A pod with its own series gone frees a place: the first file waiting
    // in the overflow (in path order) takes it, not the next new pod (else
    // the waiting ones could stay in the overflow for their whole life).
    std::fs::remove_dir_all(r.join("ns_a_uid-a")).unwrap();
    let a = path_series("pods", "pod=\"a\"", "error");
    wait_for("pod a removed", Duration::from_secs(30), || {
        e.value(&a).is_none()
    });
    wait_path_levels(&e, "pods", "pod=\"c\"", (0, 0, 0));
    let f = pod_log(r, b"ns", "f", "app");
    append(&f, b"WARNING y\n");
    wait_path_levels(&e, "pods", "pod=\"__overflow__\"", (12, 1, 0));
    assert_eq!(path_samples(&e).len(), 9, "{:#?}", path_samples(&e));
}

#[test]
fn service_from_joins_the_probe_on_the_status_page() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let checkout = pod_log(r, b"shop", "checkout-7d9", "checkout");
    let other = pod_log(r, b"shop", "cart-1", "cart");
    let srv = TestServer::http(|_| Reply::new(200, "ok"));
    let cfg = format!(
        "services:\n  - name: checkout\n    interval: 1h\n    http:\n      url: {}\n{}",
        srv.url("/"),
        config(
            r,
            "    path_labels: [namespace]\n    service_from: container\n"
        )
    );
    let e = Exporter::start(&cfg);
    append(&checkout, b"ERROR a\nERROR b\nWARNING c\n");
    append(&other, b"ERROR not checkout\n");
    wait_path_levels(
        &e,
        "pods",
        "namespace=\"shop\",microservice=\"checkout\"",
        (2, 1, 0),
    );
    wait_path_levels(
        &e,
        "pods",
        "namespace=\"shop\",microservice=\"cart\"",
        (1, 0, 0),
    );
    e.wait_value("vitals_up{microservice=\"checkout\"}", 1.0);
    let (_, _, page) = e.get("/");
    assert!(
        page.contains("<td>checkout</td><td class=\"up\">up</td>")
            && page.contains("<td>2</td><td>1</td></tr>"),
        "{page}"
    );
}

#[test]
fn config_errors_name_the_key() {
    let root = tempfile::tempdir().unwrap();
    let cfg = format!(
        "logs:\n  - name: pods\n    paths: ['{}/{{namespace}}/*.log', '{}/x/*.log']\n    path_labels: [namespace, level]\n    service_from: container\n",
        root.path().display(),
        root.path().display()
    );
    let path = write_file(root.path(), "c.yaml", &cfg);
    let (code, _, err) = run_bin(&["--config.check", "--config.file", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let file = path.display();
    for want in [
        format!("{file}:4:19: logs[0].path_labels[0]: \"namespace\" is not a capture {{namespace}} of paths[1]"),
        format!("{file}:4:30: logs[0].path_labels[1]: \"level\" is reserved; rename the capture"),
        format!("{file}:5:19: logs[0].service_from: \"container\" is not a capture {{container}} of paths[0]"),
    ] {
        assert!(err.contains(&want), "want {want}\n{err}");
    }
}

#[test]
fn hostile_directory_names_are_escaped_label_values() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // A quote, a newline, a backslash and bytes that are not UTF-8.
    let log = pod_log(r, b"a\"b\nc\\d\xff\xfe", "p", "app");
    let e = Exporter::start(&config(r, "    path_labels: [namespace]\n"));
    append(&log, b"ERROR x\n");
    e.wait_value(
        &path_series(
            "pods",
            "namespace=\"a\\\"b\\nc\\\\d\u{fffd}\u{fffd}\"",
            "error",
        ),
        1.0,
    );
    let text = e.metrics();
    let want = "vitals_log_path_lines_total{log=\"pods\",level=\"error\",namespace=\"a\\\"b\\nc\\\\d\u{fffd}\u{fffd}\"} 1";
    assert!(text.lines().any(|l| l == want), "{text}");
}

#[test]
fn hostile_ten_thousand_pods_keep_series_bounded() {
    const PODS: usize = 10_000;
    const MAX: usize = 50;
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for i in 0..PODS {
        let log = pod_log(r, b"ns", &format!("p{i:05}"), "app");
        append(&log, b"ERROR x\n");
    }
    let e = Exporter::start(&config(
        r,
        &format!("    path_labels: [pod]\n    max_series: {MAX}\n"),
    ));
    // Files beyond the open-file budget are skipped, not lost: count those followed.
    let followed = || {
        let t = e.metrics();
        let f = sample(&t, "vitals_log_files_followed{log=\"pods\"}").unwrap_or(0.0);
        let s = sample(&t, "vitals_log_files_skipped{log=\"pods\"}").unwrap_or(0.0);
        let err = sample(&t, "vitals_log_lines_total{log=\"pods\",level=\"error\"}");
        (f as usize + s as usize == PODS && err == Some(f)).then_some(f as usize)
    };
    wait_for("every pod seen", Duration::from_secs(300), || {
        followed().is_some()
    });
    let n = followed().unwrap();
    assert!(n > MAX, "only {n} files followed");
    let samples = path_samples(&e);
    assert_eq!(samples.len(), 3 * (MAX + 1), "{samples:#?}");
    e.wait_value(
        &path_series("pods", "pod=\"__overflow__\"", "error"),
        (n - MAX) as f64,
    );
    let own: f64 = samples
        .iter()
        .filter(|l| l.contains("level=\"error\"") && !l.contains("__overflow__"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(own, MAX as f64);
}

#[test]
fn shipped_daemonset_config_is_valid() {
    let body = daemonset_config();
    assert!(
        body.contains("path_labels: [namespace, container]"),
        "{body}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "exporter.yaml", &body);
    let (code, out, err) =
        run_bin_within(&["--config.check", "--config.file", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
}

/// The shipped DaemonSet's `exporter.yaml`, unindented from its ConfigMap.
fn daemonset_config() -> String {
    let text = std::fs::read_to_string("deploy/kubernetes/daemonset.yaml").unwrap();
    text.lines()
        .skip_while(|l| !l.contains("exporter.yaml: |"))
        .skip(1)
        .take_while(|l| *l != "---")
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect()
}

/// What the DaemonSet is for: pods writing CRI records whose messages are
/// JSON, logfmt or text, counted per namespace and container by level, with
/// decoy words in messages and a record split into partials.
#[test]
fn the_shipped_daemonset_counts_container_logs_by_namespace_and_container() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let cfg = daemonset_config().replace("/var/log/pods", r.to_str().unwrap());
    let shop = pod_log(r, b"shop", "cart-1", "app");
    let pay = pod_log(r, b"pay", "api-1", "web");
    let e = Exporter::start(&cfg);
    let ts = "2026-11-29T10:00:00.000000001Z";
    append(
        &shop,
        format!(
            "{ts} stdout F {{\"level\":\"error\",\"msg\":\"db down\"}}\n\
             {ts} stdout F {{\"level\":\"info\",\"msg\":\"ERROR budget ok\"}}\n\
             {ts} stderr F level=warn msg=\"slow ERROR path\"\n\
             {ts} stdout P {{\"level\":\"err\",\n"
        )
        .as_bytes(),
    );
    append(
        &shop,
        format!("{ts} stdout F \"msg\":\"split\"}}\n").as_bytes(),
    );
    append(
        &pay,
        format!("{ts} stdout F plain ERROR text\n{ts} stdout F {{\"severity\":\"WARNING\"}}\n")
            .as_bytes(),
    );
    let count = |ns: &str, container: &str, level: &str| -> Option<f64> {
        let want = [
            format!("namespace=\"{ns}\""),
            format!("container=\"{container}\""),
            format!("level=\"{level}\""),
        ];
        e.metrics()
            .lines()
            .filter(|l| l.starts_with("vitals_log_path_lines_total{"))
            .find(|l| want.iter().all(|w| l.contains(w.as_str())))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    let want = [
        ("shop", "app", "error", 2.0),
        ("shop", "app", "warning", 1.0),
        ("shop", "app", "other", 1.0),
        ("pay", "web", "error", 1.0),
        ("pay", "web", "warning", 1.0),
        ("pay", "web", "other", 0.0),
    ];
    wait_for("the per-container counts", Duration::from_secs(60), || {
        want.iter()
            .all(|(ns, c, level, n)| count(ns, c, level) == Some(*n))
    });
    let (e_err, e_warn, e_other) = levels_of(&e, "pods");
    assert_eq!((e_err, e_warn, e_other), (3, 2, 1));
    assert_eq!(
        e.value("vitals_log_parse_errors_total{log=\"pods\"}"),
        Some(0.0)
    );
}

#[test]
fn reload_keeps_the_series_both_configs_give_and_drops_the_others() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let shop = pod_log(r, b"shop", "cart-1", "app");
    let pay = pod_log(r, b"pay", "api-1", "web");
    let e = Exporter::start(&config(r, "    path_labels: [namespace]\n"));
    append(&shop, b"ERROR a\nERROR b\n");
    append(&pay, b"WARNING c\n");
    wait_path_levels(&e, "pods", "namespace=\"shop\"", (2, 0, 0));
    wait_path_levels(&e, "pods", "namespace=\"pay\"", (0, 1, 0));
    let reload = |yaml: String| e.reload_with(&yaml);
    // A changed setting restarts the follower: the same values keep counting
    // from where they were, not from 0.
    reload(config(
        r,
        "    path_labels: [namespace]\n    max_series: 10\n",
    ));
    append(&shop, b"ERROR d\n");
    wait_path_levels(&e, "pods", "namespace=\"shop\"", (3, 0, 0));
    wait_path_levels(&e, "pods", "namespace=\"pay\"", (0, 1, 0));
    // Other labels: the old series go at once, the new ones count new lines.
    reload(config(r, "    path_labels: [container]\n"));
    append(&pay, b"ERROR e\n");
    wait_path_levels(&e, "pods", "container=\"web\"", (1, 0, 0));
    wait_path_levels(&e, "pods", "container=\"app\"", (0, 0, 0));
    assert_eq!(path_samples(&e).len(), 6, "{:#?}", path_samples(&e));
}
