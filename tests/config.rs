//! `--config.check` on the fixtures: the good one passes, each bad one fails
//! with exactly the messages in its `.err` file (file, line, column, field).

mod common;

use common::run_bin;

const DIR: &str = "tests/fixtures/config";

#[test]
fn good_config_passes() {
    let (code, out, err) = run_bin(&[
        "--config.check",
        "--config.file",
        &format!("{DIR}/good.yaml"),
    ]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, format!("{DIR}/good.yaml: OK (3 services, 1 logs)\n"));
}

#[test]
fn shipped_config_passes() {
    let (code, out, err) = run_bin(&["--config.check", "--config.file", "exporter.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("exporter.yaml: OK"), "{out}");
}

#[test]
fn bad_configs_fail_with_exact_messages() {
    let mut checked = 0;
    for entry in std::fs::read_dir(DIR).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("bad-") && name.ends_with(".yaml")) {
            continue;
        }
        let file = format!("{DIR}/{name}");
        let want = std::fs::read_to_string(path.with_extension("err")).unwrap();
        let (code, out, err) = run_bin(&["--config.check", "--config.file", &file]);
        assert_eq!(code, 1, "{file}");
        assert_eq!(out, "", "{file}");
        assert_eq!(err, want, "{file}");
        checked += 1;
    }
    assert_eq!(checked, 8, "every bad fixture was checked");
}

#[test]
fn bad_config_refuses_to_start() {
    let (code, _, err) = run_bin(&["--config.file", &format!("{DIR}/bad-type.yaml")]);
    assert_eq!(code, 1);
    assert_eq!(
        err.lines().last().unwrap(),
        format!("{DIR}/bad-type.yaml:5:23: max_body_bytes: invalid u64")
    );
}

#[test]
fn missing_config_names_the_file() {
    let (code, _, err) = run_bin(&[
        "--config.check",
        "--config.file",
        "/nonexistent/vitals.yaml",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "/nonexistent/vitals.yaml: cannot read: No such file or directory (os error 2)\n"
    );
}
