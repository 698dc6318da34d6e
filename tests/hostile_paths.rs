//! Hostile operators of `path_labels`: directories renamed under a followed
//! file, the Kubernetes `/var/log/containers` symlink layout. Real binary,
//! real directories, exact per-label counts.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

fn log_config(name: &str, glob: &Path, extra: &str) -> String {
    format!(
        "logs:\n  - name: {name}\n    paths: ['{}']\n    start_at: beginning\n    poll_interval: 100ms\n{extra}",
        glob.display()
    )
}

/// An operator renames a pod directory (or moves a file to another pod's
/// directory): the file keeps its identity, so it is not reread, but its
/// lines from then on belong to the labels of the path it is now at, and
/// the old labels' series go, as no file holds them any more.
#[test]
fn renamed_pod_dir_moves_the_file_to_its_new_labels() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let old = r.join("shop_cart-1_u1/app");
    std::fs::create_dir_all(&old).unwrap();
    append(&old.join("0.log"), b"ERROR a\nWARNING b\n");
    let glob = r.join("{namespace}_{pod}_{uid}/{container}/*.log");
    let e = Exporter::start(&log_config(
        "pods",
        &glob,
        "    path_labels: [namespace, container]\n",
    ));
    wait_path_levels(
        &e,
        "pods",
        "namespace=\"shop\",container=\"app\"",
        (1, 1, 0),
    );

    std::fs::rename(r.join("shop_cart-1_u1"), r.join("pay_cart-1_u1")).unwrap();
    let moved = r.join("pay_cart-1_u1/app/0.log");
    // Until a rescan sees the new name, a line may still go to the old
    // labels: wait for the old series to go before writing.
    let gone = "vitals_log_path_lines_total{log=\"pods\",level=\"error\",namespace=\"shop\",container=\"app\"}";
    wait_for(
        "old labels' series removed",
        Duration::from_secs(30),
        || e.value(gone).is_none(),
    );
    append(&moved, b"ERROR c\nERROR d\nfine\n");
    wait_path_levels(&e, "pods", "namespace=\"pay\",container=\"app\"", (2, 0, 1));
    assert_eq!(path_samples(&e).len(), 3, "{:#?}", path_samples(&e));
    // Not reread: the per-log family counts every line once.
    wait_levels(&e, "pods", (3, 1, 1));
}

/// `/var/log/containers/<pod>_<namespace>_<container>-<id>.log` are symlinks
/// into `/var/log/pods`. Container names are DNS labels with dashes
/// (`istio-proxy`); the container ID (64 hex digits) has none.
#[test]
fn var_log_containers_symlinks_label_dashed_container_names() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let pods = r.join("pods");
    let containers = r.join("containers");
    std::fs::create_dir_all(&containers).unwrap();
    let id = "0123456789abcdef".repeat(4);
    let mut targets = Vec::new();
    for (pod, ns, container) in [
        ("cart-7d9f-x2", "shop", "istio-proxy"),
        ("cart-7d9f-x2", "shop", "app"),
        ("kube-proxy-abcde", "kube-system", "kube-proxy"),
    ] {
        let dir = pods.join(format!("{ns}_{pod}_uid-{pod}/{container}"));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("0.log");
        append(&target, b"");
        std::os::unix::fs::symlink(
            &target,
            containers.join(format!("{pod}_{ns}_{container}-{id}.log")),
        )
        .unwrap();
        targets.push(target);
    }
    let glob = containers.join("{pod}_{namespace}_{container}-{id}.log");
    let e = Exporter::start(&log_config(
        "containers",
        &glob,
        "    path_labels: [namespace, container]\n",
    ));
    append(&targets[0], b"ERROR a\nWARNING b\n");
    append(&targets[1], b"ERROR c\n");
    append(&targets[2], b"fine\nfine\n");
    wait_path_levels(
        &e,
        "containers",
        "namespace=\"shop\",container=\"istio-proxy\"",
        (1, 1, 0),
    );
    wait_path_levels(
        &e,
        "containers",
        "namespace=\"shop\",container=\"app\"",
        (1, 0, 0),
    );
    wait_path_levels(
        &e,
        "containers",
        "namespace=\"kube-system\",container=\"kube-proxy\"",
        (0, 0, 2),
    );
    assert_eq!(path_samples(&e).len(), 9, "{:#?}", path_samples(&e));
    wait_levels(&e, "containers", (2, 1, 2));
}

/// A reload that changes `path_labels` while `max_series` is reached: the
/// old labels' series, held until the new follower holds its own, are not
/// the new config's, so they must not fill its cap (else every file goes
/// to `__overflow__` for as long as it is followed).
#[test]
fn reload_to_other_path_labels_at_the_cap_does_not_overflow() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let glob = r.join("{namespace}_{pod}_{uid}/{container}/*.log");
    let mut logs = Vec::new();
    for (ns, pod) in [("shop", "a"), ("pay", "b")] {
        let log = pod_log(r, ns.as_bytes(), pod, "app");
        append(&log, b"ERROR x\n");
        logs.push(log);
    }
    let e = Exporter::start(&log_config(
        "pods",
        &glob,
        "    path_labels: [pod]\n    max_series: 2\n",
    ));
    wait_path_levels(&e, "pods", "pod=\"a\"", (1, 0, 0));
    wait_path_levels(&e, "pods", "pod=\"b\"", (1, 0, 0));
    e.reload_with(&log_config(
        "pods",
        &glob,
        "    path_labels: [namespace]\n    max_series: 2\n",
    ));
    append(&logs[0], b"WARNING y\n");
    append(&logs[1], b"fine\n");
    // New labels count the lines after the reload, not the file again.
    wait_path_levels(&e, "pods", "namespace=\"shop\"", (0, 1, 0));
    wait_path_levels(&e, "pods", "namespace=\"pay\"", (0, 0, 1));
    assert_eq!(path_samples(&e).len(), 6, "{:#?}", path_samples(&e));
    wait_levels(&e, "pods", (2, 1, 1));
}

/// One log whose two globs reach the same file (the `/var/log/containers`
/// symlink and the `/var/log/pods` file it points to) with different labels:
/// the file is followed once, under one label set that stays put (a rescan
/// alternating between the two paths would reset the series every scan).
#[test]
fn a_file_two_globs_reach_keeps_one_series() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let dir = r.join("pods/shop_cart-1_u1/app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(r.join("containers")).unwrap();
    let target = dir.join("0.log");
    append(&target, b"ERROR a\n");
    std::os::unix::fs::symlink(&target, r.join("containers/cart-x_shop_app-0af3.log")).unwrap();
    let yaml = format!(
        "logs:\n  - name: both\n    paths: ['{}/containers/{{pod}}_{{namespace}}_{{container}}-{{id}}.log', '{}/pods/{{namespace}}_{{pod}}_{{uid}}/{{container}}/*.log']\n    start_at: beginning\n    poll_interval: 50ms\n    path_labels: [namespace, container, pod]\n",
        r.display(),
        r.display()
    );
    let e = Exporter::start(&yaml);
    wait_levels(&e, "both", (1, 0, 0));
    assert_eq!(path_samples(&e).len(), 3, "{:#?}", path_samples(&e));
    // Many rescans, a line between each pair: every one lands in the series.
    for i in 1..=20u64 {
        append(&target, b"ERROR b\n");
        wait_levels(&e, "both", (1 + i as i64, 0, 0));
        std::thread::sleep(Duration::from_millis(60));
    }
    let errors: Vec<f64> = path_samples(&e)
        .iter()
        .filter(|l| l.contains("level=\"error\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(errors, [21.0], "{:#?}", path_samples(&e));
}

/// The kubelet rotates `0.log` to `0.log.<timestamp>`, starts a new `0.log`,
/// and later compresses the rotated file (a new `.gz`, the plain one
/// removed). Every line counts once, under the same labels; the series stays.
#[test]
fn kubelet_rotation_in_a_pod_dir_counts_every_line_once() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let dir = r.join("shop_cart-1_u1/app");
    std::fs::create_dir_all(&dir).unwrap();
    let live = dir.join("0.log");
    append(&live, b"ERROR a\n");
    let glob = r.join("{namespace}_{pod}_{uid}/{container}/*.log*");
    let e = Exporter::start(&log_config(
        "pods",
        &glob,
        &format!(
            "    path_labels: [namespace, container]\n    exclude: ['{}/*/*/*.gz']\n",
            r.display()
        ),
    ));
    let labels = "namespace=\"shop\",container=\"app\"";
    wait_path_levels(&e, "pods", labels, (1, 0, 0));
    for round in 1..=3u64 {
        append(&live, b"WARNING before rotation\n");
        let rotated = dir.join(format!("0.log.20261129-23440{round}"));
        std::fs::rename(&live, &rotated).unwrap();
        append(&live, b"ERROR after rotation\n");
        wait_path_levels(&e, "pods", labels, (1 + round, round, 0));
        let gz = dir.join(format!("0.log.20261129-23440{round}.gz"));
        std::fs::write(&gz, b"\x1f\x8b\x08\x00 not read").unwrap();
        std::fs::remove_file(&rotated).unwrap();
    }
    append(&live, b"fine\n");
    wait_path_levels(&e, "pods", labels, (4, 3, 1));
    wait_levels(&e, "pods", (4, 3, 1));
    assert_eq!(path_samples(&e).len(), 3, "{:#?}", path_samples(&e));
}

/// Stopped, then restarted on its positions: the lines written while down
/// count once each, under the labels of where each file is now; a file
/// rotated away while down keeps its pod's labels; a renamed pod dir's old
/// labels do not come back.
#[test]
fn restart_on_positions_counts_lines_written_while_down_under_current_labels() {
    let root = tempfile::tempdir().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let r = root.path();
    let glob = r.join("{namespace}_{pod}_{uid}/{container}/*.log");
    let yaml = log_config("pods", &glob, "    path_labels: [namespace]\n");
    let start = || {
        Exporter::start_with(
            &yaml,
            &["--storage.path", storage.path().to_str().unwrap()],
            tempfile::tempdir().unwrap(),
        )
    };
    let a = r.join("shop_a_u1/app");
    let b = r.join("pay_b_u2/app");
    for d in [&a, &b] {
        std::fs::create_dir_all(d).unwrap();
        append(&d.join("0.log"), b"ERROR x\n");
    }
    let mut e = start();
    wait_path_levels(&e, "pods", "namespace=\"shop\"", (1, 0, 0));
    wait_path_levels(&e, "pods", "namespace=\"pay\"", (1, 0, 0));
    assert!(e.stop().success());

    append(&a.join("0.log"), b"WARNING while down\n");
    std::fs::rename(a.join("0.log"), a.join("0.log.20261129-2350")).unwrap();
    append(&a.join("0.log"), b"ERROR new file\n");
    append(&b.join("0.log"), b"fine\nfine\n");
    std::fs::rename(r.join("pay_b_u2"), r.join("ops_b_u2")).unwrap();

    let e = start();
    wait_path_levels(&e, "pods", "namespace=\"shop\"", (1, 1, 0));
    wait_path_levels(&e, "pods", "namespace=\"ops\"", (0, 0, 2));
    wait_levels(&e, "pods", (1, 1, 2));
    assert_eq!(path_samples(&e).len(), 6, "{:#?}", path_samples(&e));
}

/// `max_series` raised by a reload: the files that were in `__overflow__`
/// get their own series, and the overflow series goes with its last file.
#[test]
fn reload_raising_max_series_drains_the_overflow() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let glob = r.join("{namespace}_{pod}_{uid}/{container}/*.log");
    let mut logs = Vec::new();
    for pod in ["a", "b", "c"] {
        let log = pod_log(r, b"ns", pod, "app");
        append(&log, b"ERROR x\n");
        logs.push(log);
    }
    let e = Exporter::start(&log_config(
        "pods",
        &glob,
        "    path_labels: [pod]\n    max_series: 1\n",
    ));
    wait_path_levels(&e, "pods", "pod=\"a\"", (1, 0, 0));
    wait_path_levels(&e, "pods", "pod=\"__overflow__\"", (2, 0, 0));
    e.reload_with(&log_config(
        "pods",
        &glob,
        "    path_labels: [pod]\n    max_series: 5\n",
    ));
    for log in &logs {
        append(log, b"WARNING y\n");
    }
    wait_path_levels(&e, "pods", "pod=\"a\"", (1, 1, 0));
    wait_path_levels(&e, "pods", "pod=\"b\"", (0, 1, 0));
    wait_path_levels(&e, "pods", "pod=\"c\"", (0, 1, 0));
    let overflow = "vitals_log_path_lines_total{log=\"pods\",level=\"error\",pod=\"__overflow__\"}";
    wait_for("overflow series removed", Duration::from_secs(30), || {
        e.value(overflow).is_none()
    });
    assert_eq!(path_samples(&e).len(), 9, "{:#?}", path_samples(&e));
    wait_levels(&e, "pods", (3, 3, 0));
}

/// `max_series` lowered by a reload while more label sets are live: the
/// newest sets past the new cap go, their counts move to `__overflow__`
/// (so `sum by (log)` never drops), and their files' lines count there
/// from then on. Before, a set a file already held was handed back before
/// the cap was checked: the cap did nothing until the files went.
#[test]
fn reload_lowering_max_series_folds_the_newest_sets_into_the_overflow() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let glob = r.join("{namespace}_{pod}_{uid}/{container}/*.log");
    let config = |max: usize| {
        log_config(
            "pods",
            &glob,
            &format!("    path_labels: [pod]\n    max_series: {max}\n"),
        )
    };
    let e = Exporter::start(&config(5));
    // One at a time, so that a is the oldest set and c the newest.
    let mut logs = Vec::new();
    for pod in ["a", "b", "c"] {
        let log = pod_log(r, b"ns", pod, "app");
        append(&log, b"ERROR x\n");
        wait_path_levels(&e, "pods", &format!("pod=\"{pod}\""), (1, 0, 0));
        logs.push(log);
    }
    append(&logs[2], b"fine\n");
    wait_path_levels(&e, "pods", "pod=\"c\"", (1, 0, 1));
    e.reload_with(&config(1));
    for log in &logs {
        append(log, b"WARNING y\n");
    }
    wait_path_levels(&e, "pods", "pod=\"a\"", (1, 1, 0));
    wait_path_levels(&e, "pods", "pod=\"__overflow__\"", (2, 2, 1));
    assert_eq!(path_samples(&e).len(), 6, "{:#?}", path_samples(&e));
    wait_levels(&e, "pods", (3, 3, 1));
}

/// `service_from` values are whatever the directories are named: one that
/// names no configured service is a `microservice` label like any other
/// (bounded by `max_series`, not on the status page), and a configured
/// service whose files are past `max_series` still has its lines on its
/// status page row. Before, the row's counters hung on the label set, so
/// a service's pods in `__overflow__` showed no error lines at all.
#[test]
fn service_from_counts_a_service_past_the_cap_on_its_status_row() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let glob = r.join("{namespace}_{pod}_{uid}/{container}/*.log");
    let srv = TestServer::http(|_| Reply::new(200, "ok"));
    let e = Exporter::start(&format!(
        "services:\n  - name: api\n    interval: 1h\n    http:\n      url: {}\n{}",
        srv.url("/"),
        log_config(
            "pods",
            &glob,
            "    service_from: container\n    max_series: 1\n"
        )
    ));
    let pod = |name: &str, container: &str, text: &[u8]| {
        append(&pod_log(r, b"ns", name, container), text);
    };
    pod("g", "ghost", b"ERROR g\n");
    wait_path_levels(&e, "pods", "microservice=\"ghost\"", (1, 0, 0));
    pod("a", "api", b"ERROR a\nWARNING b\nERROR c\n");
    pod("h", "ghost2", b"WARNING h\n");
    wait_path_levels(&e, "pods", "microservice=\"__overflow__\"", (2, 2, 0));
    assert_eq!(path_samples(&e).len(), 6, "{:#?}", path_samples(&e));
    e.wait_value("vitals_up{microservice=\"api\"}", 1.0);
    let (_, _, page) = e.get("/");
    assert!(
        page.contains("<td>api</td><td class=\"up\">up</td>")
            && page.contains("<td>2</td><td>1</td></tr>"),
        "{page}"
    );
    assert!(!page.contains("ghost"), "{page}");
}
