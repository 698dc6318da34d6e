//! Edges of a file's bytes that depend on where they sit in the file (a
//! byte order mark at its start) or on what came before (the buffer a long
//! split container line left behind): fed through `drain`, as a real file.
//! And what the follower remembers of paths, under pod churn.

use std::io::Write;

use super::tests::Recorder;
use super::*;
use crate::logs::checkpoint::Fingerprint;

fn follower(format: &str, max_line_bytes: usize) -> Follower<Recorder> {
    let yaml = format!(
        "logs:\n  - name: app\n    paths: ['/nonexistent/app.log']\n    format: {format}\n    max_line_bytes: {max_line_bytes}\n"
    );
    let mut cfg = crate::config::parse(&yaml, Path::new("t.yaml")).unwrap();
    Follower::new(cfg.logs.remove(0), Recorder::default(), None)
}

fn tracked(file: &std::fs::File) -> Tracked {
    Tracked::new(
        FileId { dev: 0, ino: 0 },
        PathBuf::new(),
        file.try_clone().unwrap(),
        Fingerprint::default(),
        None,
    )
}

/// (error, warning, other, parse errors) so far.
fn counts(f: &Follower<Recorder>) -> (u64, u64, u64, u64) {
    let r = &f.scanner.observer;
    let (e, w, o) = r.levels.get();
    (e, w, o, r.parse_errors.get())
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[test]
fn a_bom_at_the_start_of_a_file_is_not_part_of_its_first_line() {
    for format in ["json", "logfmt", "auto"] {
        let first: &[u8] = match format {
            "logfmt" => b"level=error msg=a\n",
            _ => b"{\"level\":\"error\",\"msg\":\"a\"}\n",
        };
        let mut f = follower(format, 1024);
        let mut file = tempfile::tempfile().unwrap();
        let mut t = tracked(&file);
        // Written byte by byte: a BOM half written is not read yet.
        for (&b, read) in BOM.iter().zip([0, 0, 3]) {
            file.write_all(&[b]).unwrap();
            assert_eq!(f.scanner.drain(&mut t).unwrap(), read, "{format}");
        }
        assert_eq!(counts(&f), (0, 0, 0, 0), "{format}");
        file.write_all(first).unwrap();
        f.scanner.drain(&mut t).unwrap();
        assert_eq!(counts(&f), (1, 0, 0, 0), "{format}");
        assert_eq!(t.pos, (BOM.len() + first.len()) as u64, "{format}");
        // Only the file's first bytes: a BOM starting a later line stays.
        file.write_all(BOM).unwrap();
        file.write_all(first).unwrap();
        f.scanner.drain(&mut t).unwrap();
        let later = match format {
            // Not `key=` first: plain, by the token rule (no ERROR token).
            "auto" => (1, 0, 1, 0),
            "logfmt" => (1, 0, 1, 0),
            _ => (1, 0, 1, 1),
        };
        assert_eq!(counts(&f), later, "{format}");
    }
}

#[test]
fn a_file_resumed_past_its_start_is_read_from_there() {
    let mut f = follower("json", 1024);
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(BOM).unwrap();
    file.write_all(b"{\"level\":\"error\"}\n{\"level\":\"warn\"}\n")
        .unwrap();
    let mut t = tracked(&file);
    t.resume_at(3 + 18);
    f.scanner.drain(&mut t).unwrap();
    assert_eq!(counts(&f), (0, 1, 0, 0));
    // A file that does not start with a BOM loses nothing of its first line.
    let mut f = follower("json", 1024);
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(b"\xEF{\"level\":\"error\"}\n").unwrap();
    let mut t = tracked(&file);
    f.scanner.drain(&mut t).unwrap();
    assert_eq!(counts(&f), (0, 0, 1, 1));
    assert_eq!(t.pos, 19);
}

#[test]
fn a_long_split_container_line_leaves_no_buffer_behind() {
    const MAX: usize = 4 << 20;
    let mut f = follower("cri+json", MAX);
    let mut file = tempfile::tempfile().unwrap();
    let mut t = tracked(&file);
    // A 1 MiB error message in 64 KiB partial records.
    let msg = format!(
        "{{\"level\":\"error\",\"msg\":\"{}\"}}",
        "x".repeat(1 << 20)
    );
    let chunks: Vec<&[u8]> = msg.as_bytes().chunks(64 << 10).collect();
    for (i, c) in chunks.iter().enumerate() {
        let tag = if i + 1 == chunks.len() { "F" } else { "P" };
        file.write_all(format!("2024-01-02T03:04:05Z stdout {tag} ").as_bytes())
            .unwrap();
        file.write_all(c).unwrap();
        file.write_all(b"\n").unwrap();
    }
    while f.scanner.drain(&mut t).unwrap() > 0 {}
    assert_eq!(counts(&f), (1, 0, 0, 0));
    assert_eq!(t.partial.as_ref().map(|p| p.held_bytes()), Some(0));
}

/// The paths reported unreadable or skipped for lack of descriptors are
/// remembered so each is said once; a deleted pod's stayed there forever,
/// so under churn the sets grew without bound. Those still there stay.
#[test]
fn paths_of_deleted_pods_are_forgotten_at_the_next_rescan() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for pod in ["gone", "kept"] {
        std::fs::create_dir(r.join(pod)).unwrap();
        // A symlink loop: its stat fails with ELOOP.
        std::os::unix::fs::symlink("loop.log", r.join(pod).join("loop.log")).unwrap();
    }
    std::fs::create_dir(r.join("short")).unwrap();
    let skipped = r.join("short/0.log");
    std::fs::write(&skipped, "").unwrap();
    let yaml = format!(
        "logs:\n  - name: app\n    paths: ['{}/*/*.log']\n",
        r.display()
    );
    let mut cfg = crate::config::parse(&yaml, Path::new("t.yaml")).unwrap();
    let mut f = Follower::new(cfg.logs.remove(0), Recorder::default(), None);
    f.rescan(None);
    // As `open` does when out of descriptors; the pod goes before one frees.
    f.skip(&skipped, "open-file budget used up");
    let set = |paths: &[&str]| -> HashSet<PathBuf> { paths.iter().map(|p| r.join(p)).collect() };
    assert_eq!(f.unreadable, set(&["gone/loop.log", "kept/loop.log"]));
    assert_eq!(f.limited, set(&["short/0.log"]));
    std::fs::remove_dir_all(r.join("gone")).unwrap();
    std::fs::remove_dir_all(r.join("short")).unwrap();
    f.rescan(None);
    assert_eq!(f.unreadable, set(&["kept/loop.log"]));
    assert_eq!(f.limited, set(&[]));
}
