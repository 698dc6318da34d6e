//! The container log layout (`/var/log/pods/{namespace}_{pod}_{uid}/{container}/*.log`)
//! under attack: whatever a pod's owner can put there (FIFOs, symlinks to
//! devices and procfs, directories named like logs, hostile names), pods
//! churning by the thousand, too few descriptors, garbage records. Real
//! binary, real directories, exact counts and labels.
//!
//! This file is long (one case per attack on the container layout): a suite
//! is one test binary linking the whole exporter, so cases sharing a theme
//! share a binary.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const GLOB: &str = "{namespace}_{pod}_{uid}/{container}/*.log";

fn pods_config(root: &Path, labels: &str, extra: &str) -> String {
    format!(
        "logs:\n  - name: pods\n    paths: ['{}/{GLOB}']\n    format: cri+json\n    start_at: beginning\n    poll_interval: 100ms\n    path_labels: [{labels}]\n{extra}",
        root.display()
    )
}

/// One CRI record, final.
fn cri(stream: &str, msg: &str) -> String {
    container_record("cri", stream, "F", msg)
}

fn num(e: &Exporter, series: &str) -> f64 {
    e.value(series).unwrap_or(-1.0)
}

/// Everything an unprivileged pod owner (or a careless operator) can leave
/// in the directories the glob lists: nothing blocks the follower, only the
/// regular files count, and label values taken from hostile directory
/// names come out escaped in the exposition, each exactly once.
#[test]
fn hostile_entries_in_pod_dirs_never_block_and_only_regular_files_count() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let app = r.join("shop_cart-1_u1/app");
    std::fs::create_dir_all(&app).unwrap();
    // Hostile names: quotes, backslashes, newlines, braces and invalid
    // UTF-8 in what becomes a label value.
    let weird_ns = std::ffi::OsStr::from_bytes(b"a\"b\\c\nd{e}_p-2_u2");
    let weird = r.join(weird_ns).join("c{x}");
    std::fs::create_dir_all(&weird).unwrap();
    let bad_utf8 = r
        .join(std::ffi::OsStr::from_bytes(b"x\xff\xfey_p-3_u3"))
        .join("app");
    std::fs::create_dir_all(&bad_utf8).unwrap();
    append(
        &app.join("0.log"),
        cri("stderr", r#"{"level":"error"}"#).as_bytes(),
    );
    append(
        &weird.join("0.log"),
        cri("stdout", r#"{"level":"warn"}"#).as_bytes(),
    );
    append(
        &bad_utf8.join("0.log"),
        cri("stdout", r#"{"level":"fatal"}"#).as_bytes(),
    );
    // Traps next to the real files.
    mkfifo(&app.join("fifo.log"));
    let link = |target: &str, name: &str| {
        std::os::unix::fs::symlink(target, app.join(name)).unwrap();
    };
    link("/dev/zero", "zero.log");
    link("/dev/urandom", "random.log");
    link("/proc/self/status", "status.log");
    link("/proc/self/mem", "mem.log");
    link("/sys/kernel/mm/transparent_hugepage/enabled", "thp.log");
    link("loop.log", "loop.log");
    link("/nonexistent/0.log", "dangling.log");
    std::fs::create_dir_all(app.join("dir.log")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(app.join("sock.log")).unwrap();
    // A pod dir that is a FIFO and one that is a symlink to /dev/zero: the
    // container level is listed in them.
    mkfifo(&r.join("fifo_p-4_u4"));
    std::os::unix::fs::symlink("/dev/zero", r.join("zero_p-5_u5")).unwrap();

    let e = Exporter::start(&pods_config(r, "namespace, container", ""));
    wait_path_levels(&e, "pods", r#"namespace="shop",container="app""#, (1, 0, 0));
    wait_path_levels(
        &e,
        "pods",
        r#"namespace="a\"b\\c\nd{e}",container="c{x}""#,
        (0, 1, 0),
    );
    wait_path_levels(
        &e,
        "pods",
        "namespace=\"x\u{fffd}\u{fffd}y\",container=\"app\"",
        (1, 0, 0),
    );
    wait_levels(&e, "pods", (2, 1, 0));
    assert_eq!(num(&e, "vitals_log_files_followed{log=\"pods\"}"), 3.0);
    // Many rescans later, still responsive, still exact.
    for i in 1..=5 {
        append(
            &app.join("0.log"),
            cri("stdout", r#"{"level":"info"}"#).as_bytes(),
        );
        wait_path_levels(&e, "pods", r#"namespace="shop",container="app""#, (1, 0, i));
        std::thread::sleep(Duration::from_millis(150));
    }
    wait_levels(&e, "pods", (2, 1, 5));
    assert_eq!(num(&e, "vitals_log_files_followed{log=\"pods\"}"), 3.0);
    assert_eq!(num(&e, "vitals_log_parse_errors_total{log=\"pods\"}"), 0.0);
    assert_eq!(path_samples(&e).len(), 9, "{:#?}", path_samples(&e));
    let m = e.metrics();
    assert_eq!(promtool_check_metrics(&m), "", "{m}");
}

/// Waits until `f` returns `want`.
fn wait_eq<T: PartialEq + std::fmt::Debug>(what: &str, want: T, mut f: impl FnMut() -> T) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = f();
    while last != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        last = f();
    }
    assert_eq!(last, want, "{what}");
}

/// The `process_open_fds` the exporter reports.
fn open_fds(e: &Exporter) -> f64 {
    num(e, "process_open_fds")
}

/// Label sets (without `level`) of the live path series, `__overflow__`
/// apart: (distinct pods, whether the overflow series is there).
fn pod_sets(e: &Exporter) -> (usize, bool) {
    let samples = path_samples(e);
    let overflow = samples.iter().any(|l| l.contains("__overflow__"));
    let pods: std::collections::HashSet<&str> = samples
        .iter()
        .filter(|l| !l.contains("__overflow__"))
        .filter_map(|l| l.split("pod=\"").nth(1)?.split('"').next())
        .collect();
    (pods.len(), overflow)
}

/// Pods come and go by the thousand (200 live at a time, each writing
/// then removed): every line counts once, the series of a removed pod go
/// with its file, and the descriptors come back.
#[test]
fn pod_churn_leaks_no_series_and_no_descriptors() {
    const LIVE: usize = 200;
    const ROUNDS: usize = 10;
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // Room for every pod ever: no file waits in `__overflow__` (tested
    // apart), so each pod's counts are exact.
    let e = Exporter::start(&pods_config(r, "namespace, pod", "    max_series: 5000\n"));
    let baseline = open_fds(&e);
    let dir = |i: usize| r.join(format!("ns{}_pod-{i}_uid-{i}", i % 7));
    let mut written = (0, 0);
    for round in 0..ROUNDS {
        for i in round * LIVE..(round + 1) * LIVE {
            let c = dir(i).join("app");
            std::fs::create_dir_all(&c).unwrap();
            let mut text = cri("stdout", r#"{"level":"error","msg":"boom"}"#);
            // Every third pod's message comes in two partial records.
            if i % 3 == 0 {
                text.push_str("2026-11-29T10:00:00Z stderr P {\"level\":\"in");
                text.push_str("fo\"}\n2026-11-29T10:00:00Z stderr F \n");
            } else {
                text.push_str(&cri("stderr", r#"{"level":"info"}"#));
            }
            append(&c.join("0.log"), text.as_bytes());
            written.0 += 1;
            written.1 += 1;
        }
        wait_levels(&e, "pods", (written.0, 0, written.1));
        if round > 0 {
            for i in (round - 1) * LIVE..round * LIVE {
                std::fs::remove_dir_all(dir(i)).unwrap();
            }
        }
    }
    // The live set: the last round's pods, each with its own series.
    let (_, live) = (0, || pod_sets(&e));
    let deadline = Instant::now() + Duration::from_secs(60);
    while live() != (LIVE, false) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        live(),
        (LIVE, false),
        "{:#?}",
        &path_samples(&e)[..12.min(path_samples(&e).len())]
    );
    for i in (ROUNDS - 1) * LIVE..ROUNDS * LIVE {
        let labels = format!("namespace=\"ns{}\",pod=\"pod-{i}\"", i % 7);
        assert_eq!(
            num(&e, &path_series("pods", &labels, "error")),
            1.0,
            "{labels}"
        );
    }
    assert_eq!(path_samples(&e).len(), LIVE * 3);
    assert_eq!(
        num(&e, "vitals_log_files_followed{log=\"pods\"}"),
        LIVE as f64
    );
    for i in (ROUNDS - 1) * LIVE..ROUNDS * LIVE {
        std::fs::remove_dir_all(dir(i)).unwrap();
    }
    wait_eq("no path series", 0, || path_samples(&e).len());
    wait_eq("descriptors back", baseline, || open_fds(&e));
    wait_levels(&e, "pods", (written.0, 0, written.1));
    assert_eq!(num(&e, "vitals_log_parse_errors_total{log=\"pods\"}"), 0.0);
}

/// A pod past `max_series` goes to `__overflow__`; once another pod is gone
/// (and its series with it) the overflowed pod's new lines are its own, as
/// after a reload raising the cap. Else, under churn, every pod that came
/// during a spike would stay in `__overflow__` for its whole life.
#[test]
fn a_pod_in_overflow_gets_its_own_series_when_room_frees() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let dir = |pod: &str| r.join(format!("ns_{pod}_u-{pod}"));
    for pod in ["a", "b", "c"] {
        let c = dir(pod).join("app");
        std::fs::create_dir_all(&c).unwrap();
        append(
            &c.join("0.log"),
            cri("stdout", r#"{"level":"error"}"#).as_bytes(),
        );
    }
    let e = Exporter::start(&pods_config(r, "pod", "    max_series: 2\n"));
    // Opened in path order: `c` is the one past the cap.
    wait_path_levels(&e, "pods", r#"pod="a""#, (1, 0, 0));
    wait_path_levels(&e, "pods", r#"pod="b""#, (1, 0, 0));
    wait_path_levels(&e, "pods", r#"pod="__overflow__""#, (1, 0, 0));
    std::fs::remove_dir_all(dir("a")).unwrap();
    let gone = path_series("pods", r#"pod="a""#, "error");
    wait_for("pod a's series removed", Duration::from_secs(30), || {
        e.value(&gone).is_none()
    });
    // The cap has room again: `c` takes it at the next scan.
    let overflow = path_series("pods", r#"pod="__overflow__""#, "error");
    wait_for("overflow series removed", Duration::from_secs(30), || {
        e.value(&overflow).is_none()
    });
    append(
        &dir("c").join("app/0.log"),
        cri("stdout", r#"{"level":"warn"}"#).as_bytes(),
    );
    wait_path_levels(&e, "pods", r#"pod="c""#, (0, 1, 0));
    wait_levels(&e, "pods", (3, 1, 0));
    assert_eq!(path_samples(&e).len(), 6, "{:#?}", path_samples(&e));
}

/// With a soft and hard limit of 256 descriptors, followed files may use
/// 256 - (64 + 256/4) = 128 of them.
const NOFILE: u64 = 256;
const BUDGET: usize = 128;

/// More pods than descriptors: the files past the budget are skipped
/// (counted and named once, not silently), and when pods go and their
/// descriptors come back, the skipped files are read from their start,
/// their partial records joined: every message counts exactly once.
#[test]
fn pods_past_the_descriptor_budget_count_exactly_once_descriptors_come_back() {
    const PODS: usize = 180;
    const GONE: usize = 100;
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let dir = |i: usize| r.join(format!("ns_p{i:03}_u{i}"));
    for i in 0..PODS {
        let c = dir(i).join("app");
        std::fs::create_dir_all(&c).unwrap();
        let mut text = cri("stdout", r#"{"level":"error"}"#);
        text.push_str("2026-11-29T10:00:00Z stderr P {\"level\":\"wa");
        text.push('\n');
        append(&c.join("0.log"), text.as_bytes());
    }
    let e = Exporter::start_nofile(&pods_config(r, "pod", ""), NOFILE);
    wait_levels(&e, "pods", (BUDGET as i64, 0, 0));
    let followed = "vitals_log_files_followed{log=\"pods\"}";
    let skipped = "vitals_log_files_skipped{log=\"pods\"}";
    assert_eq!(num(&e, followed), BUDGET as f64);
    e.wait_value(skipped, (PODS - BUDGET) as f64);
    for i in 0..PODS {
        let end = "2026-11-29T10:00:00Z stderr F rn\"}\n";
        append(&dir(i).join("app/0.log"), end.as_bytes());
    }
    wait_levels(&e, "pods", (BUDGET as i64, BUDGET as i64, 0));
    // Pods go: their files are read to their end and closed, and the
    // skipped ones are followed in their place.
    for i in 0..GONE {
        std::fs::remove_dir_all(dir(i)).unwrap();
    }
    wait_levels(&e, "pods", (PODS as i64, PODS as i64, 0));
    e.wait_value(followed, (PODS - GONE) as f64);
    e.wait_value(skipped, 0.0);
    for i in GONE..PODS {
        wait_path_levels(&e, "pods", &format!("pod=\"p{i:03}\""), (1, 1, 0));
    }
    assert_eq!(path_samples(&e).len(), (PODS - GONE) * 3);
    assert_eq!(
        e.log().matches("not following file").count(),
        PODS - BUDGET,
        "{}",
        e.log()
    );
    assert_eq!(num(&e, "vitals_log_parse_errors_total{log=\"pods\"}"), 0.0);
}

/// CRI lines a runtime never writes but a disk, a bug or an attacker with
/// write access can: NUL bytes, bad times, streams and tags. Each counts
/// once, as `other` and a parse error; records around them, and a message
/// joined across them, count by their level.
#[test]
fn garbage_cri_records_count_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.log");
    append(&c, b"");
    let e = Exporter::start(&format!(
        "logs:\n  - name: cri\n    paths: ['{}']\n    format: cri+json\n",
        c.display()
    ));
    e.wait_value("vitals_log_files_followed{log=\"cri\"}", 1.0);
    let t = "2026-11-29T10:00:00.123456789+01:00";
    let lines: Vec<Vec<u8>> = vec![
        // (error) NUL and U+FFFD inside the message.
        format!("{t} stdout F {{\"level\":\"error\",\"msg\":\"a\0b\u{fffd}\"}}").into_bytes(),
        b"\0\0\0\0".to_vec(),
        b"\x00026 stdout F {\"level\":\"error\"}".to_vec(),
        b"not-a-time stdout F {\"level\":\"error\"}".to_vec(),
        format!("{t} stdin F {{\"level\":\"error\"}}").into_bytes(),
        format!("{t} STDOUT F {{\"level\":\"error\"}}").into_bytes(),
        format!("{t}  stdout F {{\"level\":\"error\"}}").into_bytes(),
        format!("{t} stdout X {{\"level\":\"error\"}}").into_bytes(),
        format!("{t} stdout p {{\"level\":\"error\"}}").into_bytes(),
        format!("{t} stdout").into_bytes(),
        format!("{t}\tstdout\tF\t{{\"level\":\"error\"}}").into_bytes(),
        // (warning) A message joined across the garbage above and below.
        format!("{t} stderr P:x {{\"lev").into_bytes(),
        b"\xff\xfe\xfd".to_vec(),
        format!("{t} stderr F el\":\"warn\"}}").into_bytes(),
        // (error) The time only has to start with a digit; more tags.
        b"9 stdout F:more:tags {\"level\":\"fatal\"}".to_vec(),
        // (other) An empty final message is a blank line, not an error.
        format!("{t} stdout F").into_bytes(),
        format!("{t} stdout F ").into_bytes(),
    ];
    let mut text = Vec::new();
    for l in &lines {
        text.extend_from_slice(l);
        text.push(b'\n');
    }
    append(&c, &text);
    e.wait_value(
        "vitals_log_read_bytes_total{log=\"cri\"}",
        text.len() as f64,
    );
    wait_levels(&e, "cri", (2, 1, 13));
    assert_eq!(
        e.value("vitals_log_parse_errors_total{log=\"cri\"}"),
        Some(11.0)
    );
}

/// Docker records whose `log` is all escapes: a record the daemon split at
/// 16 KiB of text can hold 6 times that in `\u0000` escapes, longer than a
/// small `max_line_bytes`. Cut there, a record was not JSON (`other`) and
/// the rest of its message counted again as a line of its own.
#[test]
fn docker_records_of_escapes_longer_than_max_line_bytes_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d.log");
    append(&d, b"");
    let e = Exporter::start(&format!(
        "logs:\n  - name: docker\n    paths: ['{}']\n    format: docker\n    max_line_bytes: 4096\n",
        d.display()
    ));
    e.wait_value("vitals_log_files_followed{log=\"docker\"}", 1.0);
    let record = |log: &str| {
        format!("{{\"log\":\"{log}\",\"stream\":\"stderr\",\"time\":\"2026-11-29T10:00:00Z\"}}\n")
    };
    let escapes = "\\u0000".repeat(3000);
    let mut text = String::new();
    // A record longer than max_line_bytes whose message is not.
    text.push_str(&record(&format!("\\u0045RROR {escapes}\\n")));
    // Longer than any the daemon writes: cut, a long line of no level.
    text.push_str(&record(&format!("{}\\n", "\\u0041".repeat(100_000))));
    // One message in three records longer than max_line_bytes: joined,
    // then cut (a long line).
    text.push_str(&record(&format!("WARNING {escapes}")));
    text.push_str(&record(&escapes));
    text.push_str(&record("end\\n"));
    text.push_str(&record("ERROR after\\n"));
    append(&d, text.as_bytes());
    e.wait_value(
        "vitals_log_read_bytes_total{log=\"docker\"}",
        text.len() as f64,
    );
    wait_levels(&e, "docker", (2, 1, 1));
    assert_eq!(
        e.value("vitals_log_long_lines_total{log=\"docker\"}"),
        Some(2.0)
    );
    assert_eq!(
        e.value("vitals_log_parse_errors_total{log=\"docker\"}"),
        Some(0.0)
    );
}

/// A new pod's directories appear under the pods root, its log file last.
/// With inotify on every directory, the full pass is only a safety net
/// spaced at 200 times its own cost (seconds with 10 000 pods), so a new
/// pod must be found by an event: a pod that lives less than that spacing
/// (a Job) would otherwise be created, log and be deleted unseen. The
/// spacing is made one hour here, so only events can find the pods.
#[test]
fn new_pod_directories_are_found_by_inotify_not_by_the_next_pass() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let first = r.join("ns_first_u0/app");
    std::fs::create_dir_all(&first).unwrap();
    append(
        &first.join("0.log"),
        cri("stdout", r#"{"level":"error"}"#).as_bytes(),
    );
    let yaml = pods_config(r, "pod", "").replace("poll_interval: 100ms", "poll_interval: 1h");
    let e = Exporter::start(&yaml);
    wait_levels(&e, "pods", (1, 0, 0));
    for i in 1..=5 {
        // Directory by directory, then the file, as the kubelet and the
        // runtime do; the file is written before it is found.
        let pod = r.join(format!("ns_job-{i}_u{i}"));
        std::fs::create_dir(&pod).unwrap();
        std::fs::create_dir(pod.join("app")).unwrap();
        append(
            &pod.join("app/0.log"),
            cri("stdout", r#"{"level":"warn"}"#).as_bytes(),
        );
        wait_path_levels(&e, "pods", &format!("pod=\"job-{i}\""), (0, 1, 0));
    }
    wait_levels(&e, "pods", (1, 5, 0));
    assert_eq!(num(&e, "vitals_log_files_followed{log=\"pods\"}"), 6.0);
}

/// Pods deleted under the `{pod}` glob are normal life, not news: at warn
/// level, each one logged its pod and container directories vanishing, a
/// flood under churn. The configured root vanishing is news: said once.
#[test]
fn deleted_pod_directories_are_not_warned_the_configured_root_is() {
    const PODS: usize = 20;
    let parent = tempfile::tempdir().unwrap();
    let r = parent.path().join("pods");
    let dir = |i: usize| r.join(format!("ns_p{i}_u{i}"));
    for i in 0..PODS {
        let c = dir(i).join("app");
        std::fs::create_dir_all(&c).unwrap();
        append(
            &c.join("0.log"),
            cri("stdout", r#"{"level":"error"}"#).as_bytes(),
        );
    }
    let e = Exporter::start(&pods_config(&r, "pod", ""));
    wait_levels(&e, "pods", (PODS as i64, 0, 0));
    let followed = "vitals_log_files_followed{log=\"pods\"}";
    assert_eq!(num(&e, followed), PODS as f64);
    for i in 0..PODS {
        std::fs::remove_dir_all(dir(i)).unwrap();
    }
    e.wait_value(followed, 0.0);
    wait_eq("no path series", 0, || path_samples(&e).len());
    // Every pod directory is seen gone at the latest in the rescan that
    // sees the root gone.
    std::fs::remove_dir(&r).unwrap();
    let root = format!("dir={}", r.display());
    wait_for("root vanished reported", Duration::from_secs(30), || {
        e.log().lines().any(|l| {
            l.contains("level=warn")
                && l.contains("log directory vanished")
                && l.split_whitespace().any(|field| field == root)
        })
    });
    assert_eq!(
        e.log().matches("log directory vanished").count(),
        1,
        "{}",
        e.log()
    );
    wait_levels(&e, "pods", (PODS as i64, 0, 0));
}

/// Files skipped for lack of descriptors are named once each; a pod
/// deleted while skipped was remembered forever (a set growing without
/// bound under churn), so a new pod at its path was never named.
#[test]
fn a_skipped_pod_deleted_and_recreated_is_named_again() {
    const PODS: usize = 180;
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let dir = |i: usize| r.join(format!("ns_p{i:03}_u{i}"));
    let create = |i: usize| {
        let c = dir(i).join("app");
        std::fs::create_dir_all(&c).unwrap();
        append(
            &c.join("0.log"),
            cri("stdout", r#"{"level":"error"}"#).as_bytes(),
        );
    };
    (0..PODS).for_each(create);
    let e = Exporter::start_nofile(&pods_config(r, "pod", ""), NOFILE);
    wait_levels(&e, "pods", (BUDGET as i64, 0, 0));
    let skipped = "vitals_log_files_skipped{log=\"pods\"}";
    e.wait_value(skipped, (PODS - BUDGET) as f64);
    let named = || e.log().matches("not following file").count();
    wait_eq("skipped files named", PODS - BUDGET, named);
    // Opened in path order: the last pods are the skipped ones.
    for i in BUDGET..PODS {
        std::fs::remove_dir_all(dir(i)).unwrap();
    }
    e.wait_value(skipped, 0.0);
    (BUDGET..PODS).for_each(create);
    e.wait_value(skipped, (PODS - BUDGET) as f64);
    wait_eq("new pods named", 2 * (PODS - BUDGET), named);
    assert_eq!(
        num(&e, "vitals_log_files_followed{log=\"pods\"}"),
        BUDGET as f64
    );
    wait_levels(&e, "pods", (BUDGET as i64, 0, 0));
    assert_eq!(named(), 2 * (PODS - BUDGET), "{}", e.log());
}
