use super::*;

#[test]
fn round_trip() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.positions");
    let a = Saved {
        offset: 42,
        fingerprint: Fingerprint::of(b"hello"),
        tail: Fingerprint::of(b"lo"),
        copy: true,
        path: PathBuf::from("/var/log/odd name\nwith newline\\.log"),
        pending: Pending::default(),
    };
    let id = FileId { dev: 1, ino: 2 };
    save(&p, [(id, &a)].into_iter()).unwrap();
    let got = load(&p).unwrap();
    assert_eq!(got.get(&id), Some(&a));
    assert_eq!(got.len(), 1);
}

#[test]
fn pending_messages_round_trip_in_v3_and_plain_logs_stay_v2() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.positions");
    let plain = Saved {
        offset: 7,
        fingerprint: Fingerprint::of(b"a"),
        tail: Fingerprint::of(b"b"),
        copy: false,
        path: PathBuf::from("/l/a b.log"),
        pending: Pending::default(),
    };
    let ids = [FileId { dev: 1, ino: 1 }, FileId { dev: 1, ino: 2 }];
    save(&p, [(ids[0], &plain)].into_iter()).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.starts_with(&format!("{HEADER}\n")), "{text}");
    let joining = Saved {
        pending: [
            Some(PendingStart {
                offset: 3,
                cut: true,
            }),
            None,
        ],
        ..plain.clone()
    };
    save(&p, [(ids[0], &plain), (ids[1], &joining)].into_iter()).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.starts_with(&format!("{HEADER_V3}\n")), "{text}");
    assert!(text.contains(" 3c,- /l/a b.log\n"), "{text}");
    let got = load(&p).unwrap();
    assert_eq!(got.get(&ids[0]), Some(&plain));
    assert_eq!(got.get(&ids[1]), Some(&joining));
    // Cut there, the entries are named with their whole path.
    std::fs::write(&p, text.lines().take(3).collect::<Vec<_>>().join("\n")).unwrap();
    match load(&p) {
        Err(CheckpointError::Damaged { lost, .. }) => {
            assert_eq!(lost, [plain.path.clone(), plain.path.clone()]);
        }
        other => panic!("{other:?}"),
    }
    let entries = format!("{HEADER_V3}\n1 2 3 4 5 6 7 0 3x,- /a\n");
    let end = format!("{END}1 {:016x}\n", fnv1a(entries.as_bytes()));
    std::fs::write(&p, entries + &end).unwrap();
    assert_eq!(
        load(&p).unwrap_err().to_string(),
        format!(
            "{}:2: corrupt positions file: bad pending messages",
            p.display()
        )
    );
}

#[test]
fn v1_files_load_without_tails() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.positions");
    std::fs::write(&p, format!("{HEADER_V1}\n1 2 42 5 ff /var/log/a b.log\n")).unwrap();
    let got = load(&p).unwrap();
    assert_eq!(
        got.get(&FileId { dev: 1, ino: 2 }),
        Some(&Saved {
            offset: 42,
            fingerprint: Fingerprint { len: 5, hash: 0xff },
            tail: Fingerprint::default(),
            copy: false,
            path: PathBuf::from("/var/log/a b.log"),
            pending: Pending::default(),
        })
    );
}

#[test]
fn tails_are_checked_before_an_offset() {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(b"banner\nline 1\nline 2\n").unwrap();
    assert!(Fingerprint::of(b"line 1\n").ends_at(&f, 14));
    assert!(!Fingerprint::of(b"line 2\n").ends_at(&f, 14));
    assert!(Fingerprint::default().ends_at(&f, 0));
    assert!(
        !Fingerprint::of(b"xbanner\n").ends_at(&f, 7),
        "before the start"
    );
    assert!(
        !Fingerprint::of(b"line 2\nmore").ends_at(&f, 25),
        "past the end"
    );
}

#[test]
fn a_file_cut_at_a_line_boundary_is_reported_with_its_entries() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.positions");
    let saved = |n: u64| Saved {
        offset: n,
        fingerprint: Fingerprint::of(b"x"),
        tail: Fingerprint::of(b"y"),
        copy: n == 2,
        path: PathBuf::from(format!("/l/{n}.log")),
        pending: Pending::default(),
    };
    let (a, b) = (saved(1), saved(2));
    let ids = [FileId { dev: 1, ino: 1 }, FileId { dev: 1, ino: 2 }];
    save(&p, [(ids[0], &a), (ids[1], &b)].into_iter()).unwrap();
    assert_eq!(load(&p).unwrap().len(), 2);
    let text = std::fs::read_to_string(&p).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[3].starts_with("# end 2 "), "{text}");
    for keep in 1..4 {
        let cut = lines[..keep].join("\n") + "\n";
        std::fs::write(&p, &cut).unwrap();
        match load(&p) {
            Err(CheckpointError::Damaged { lost, .. }) => {
                let want: Vec<PathBuf> = [&a, &b][..keep - 1]
                    .iter()
                    .map(|s| s.path.clone())
                    .collect();
                assert_eq!(lost, want, "{cut}");
            }
            other => panic!("{cut}: {other:?}"),
        }
    }
    // An entry changed in place fails the checksum too.
    std::fs::write(&p, text.replacen(" 2 1 ", " 2 7 ", 1)).unwrap();
    assert!(matches!(load(&p), Err(CheckpointError::Damaged { .. })));
}

#[test]
fn missing_is_empty_and_corrupt_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.positions");
    assert!(load(&p).unwrap().is_empty());
    std::fs::write(&p, "garbage\n").unwrap();
    assert_eq!(
        load(&p).unwrap_err().to_string(),
        format!("{}:1: corrupt positions file: missing header", p.display())
    );
    std::fs::write(&p, format!("{HEADER_V1}\n1 2 x 3 4 /a\n")).unwrap();
    assert_eq!(
        load(&p).unwrap_err().to_string(),
        format!("{}:2: corrupt positions file: bad number", p.display())
    );
}
