//! The layering of the crate, checked against its `use` lines (the README's
//! "Design" section draws the same table). A module may use only modules of a
//! lower layer; a folder's files may not form import cycles among themselves
//! (a child naming its parent, `super::`, is how Rust nests and is allowed);
//! a file over 400 lines says why in its first comment.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Top-level modules of the library by layer, lowest first.
const LAYERS: &[(&str, u8)] = &[
    ("hash", 0),
    ("fsread", 0),
    ("fsglob", 0),
    ("fdlimit", 0),
    ("logging", 0),
    ("logformat", 0),
    ("net", 1),
    ("config", 2),
    ("probe", 3),
    ("logs", 3),
    ("metrics", 4),
    ("status", 4),
    ("lifecycle", 4),
    ("web", 5),
    ("supervisor", 6),
];

const LONG_FILE_LINES: usize = 400;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
}

/// Source without comments and string literals, so that paths named in
/// documentation or messages are not taken for imports.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'"' && !(i > 0 && (b[i - 1] == b'\'' || b[i - 1] == b'#')) {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'r' && b[i..].starts_with(b"r#\"") {
            let end = src[i + 3..].find("\"#").map_or(b.len(), |e| i + 3 + e + 2);
            i = end;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first path segments named after `prefix::` (`crate::` or `super::`),
/// with `prefix::{a, b::c}` groups expanded.
fn named_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before_ok = at == 0 || {
            let c = rest.as_bytes()[at - 1];
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        };
        rest = &rest[at + prefix.len()..];
        if !before_ok {
            continue;
        }
        let after = rest.trim_start();
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && depth == 0 && !c.is_whitespace() => {
                        item_start = false;
                        let id = ident_at(&group[i..]);
                        if !id.is_empty() {
                            names.insert(id.to_string());
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let id = ident_at(after);
            if !id.is_empty() {
                names.insert(id.to_string());
            }
        }
    }
    names
}

struct Crate {
    root: PathBuf,
    files: Vec<PathBuf>,
}

impl Crate {
    fn load() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&root, &mut files);
        Crate { root, files }
    }

    /// `src/logs/follow/wake.rs` → ["logs", "follow", "wake"]; `mod.rs` names its folder.
    fn module_path(&self, file: &Path) -> Vec<String> {
        let rel = file.strip_prefix(&self.root).expect("under src");
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        parts
    }
}

fn layer_of(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

#[test]
fn every_module_uses_only_lower_layers() {
    let krate = Crate::load();
    let mut wrong = Vec::new();
    for file in &krate.files {
        let path = krate.module_path(file);
        let Some(top) = path.first() else { continue };
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(own) = layer_of(top) else {
            wrong.push(format!(
                "{top}: not in LAYERS (add it, and to the README's Design)"
            ));
            continue;
        };
        let code = code_only(&fs::read_to_string(file).expect("read"));
        for used in named_after(&code, "crate::") {
            if &used == top {
                continue;
            }
            match layer_of(&used) {
                Some(l) if l < own => {}
                Some(l) => wrong.push(format!(
                    "{} (layer {own}) uses crate::{used} (layer {l})",
                    file.display()
                )),
                None => wrong.push(format!(
                    "{} uses crate::{used}: not a module in LAYERS",
                    file.display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_import_cycles_between_sibling_files() {
    let krate = Crate::load();
    // edges between files of the same folder, by module path
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let known: BTreeSet<Vec<String>> = krate.files.iter().map(|f| krate.module_path(f)).collect();
    for file in &krate.files {
        let me = krate.module_path(file);
        if me.len() < 2 {
            continue;
        }
        let is_folder = file.ends_with("mod.rs");
        let parent: Vec<String> = me[..me.len() - 1].to_vec();
        let code = code_only(&fs::read_to_string(file).expect("read"));
        let mut targets = BTreeSet::new();
        // `super::x` from a leaf file names a sibling x; from a mod.rs it names the grandparent's.
        if !is_folder {
            for name in named_after(&code, "super::") {
                let mut t = parent.clone();
                t.push(name);
                targets.insert(t);
            }
        }
        // `crate::a::b::c`: the longest known module prefix
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let mut segs = Vec::new();
            let mut s = rest;
            loop {
                let id = ident_at(s);
                if id.is_empty() {
                    break;
                }
                segs.push(id.to_string());
                s = &s[id.len()..];
                match s.strip_prefix("::") {
                    Some(r) => s = r,
                    None => break,
                }
            }
            while !segs.is_empty() && !known.contains(&segs) {
                segs.pop();
            }
            if segs.len() == me.len() && segs[..segs.len() - 1] == parent[..] {
                targets.insert(segs);
            }
        }
        targets.retain(|t| t != &me && known.contains(t));
        edges.entry(me).or_default().extend(targets);
    }
    // depth-first search for a cycle
    fn visit(
        n: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            return Some(stack[i..].to_vec());
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.clone());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.clone());
        None
    }
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        if let Some(cycle) = visit(n, &edges, &mut Vec::new(), &mut done) {
            let names: Vec<String> = cycle.iter().map(|p| p.join("::")).collect();
            panic!("import cycle: {}", names.join(" -> "));
        }
    }
}

#[test]
fn long_files_say_why() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&here.join("src"), &mut files);
    let mut tests = Vec::new();
    rust_files(&here.join("tests"), &mut tests);
    files.extend(tests);
    let mut long = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).expect("read");
        let lines = text.lines().count();
        if lines <= LONG_FILE_LINES {
            continue;
        }
        let head: String = text
            .lines()
            .take_while(|l| l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        if !head.to_lowercase().contains("long") {
            long.push(format!("{} ({lines} lines)", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files over {LONG_FILE_LINES} lines whose first comment does not say why they are long:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_grouped_and_nested_imports() {
    let code = code_only(
        "use crate::{config::{self, X}, logs};\n// crate::web in a comment\nlet s = \"crate::status\";\nfn f() { crate::metrics::m(); super::wake::W }",
    );
    let got: Vec<String> = named_after(&code, "crate::").into_iter().collect();
    assert_eq!(got, ["config", "logs", "metrics"]);
    let sup: Vec<String> = named_after(&code, "super::").into_iter().collect();
    assert_eq!(sup, ["wake"]);
}
