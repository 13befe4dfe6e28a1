//! The crate's floors, kept by a test.
//!
//! Each top-level module of `shared/src` (a file or folder directly under it) stands on one
//! floor of [`FLOORS`] and may import only from its own floor and those below. The test reads
//! every `.rs` file under `shared/src`, collects the `crate::` paths each one names (in `use`
//! items, in expressions, and in attributes such as `#[serde(with = "crate::...")]`), and fails
//! on an import that runs up the floors or a cycle between modules of one floor, printing the
//! file and the path. Imports that ran up when the test was written are listed in
//! [`KNOWN_UPWARD`]; an entry that no longer holds fails the test too, so the list only
//! shrinks.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// The floors, bottom first. A module may import from its own floor and any floor below.
const FLOORS: &[&[&str]] = &[
    // Leaves: the one error type, timestamps in JSON, a secret string that never prints,
    // tracing and request ids.
    &["error", "rfc3339", "secret", "telemetry"],
    // Typed configuration, read once from the environment.
    &["config"],
    // Newtypes and aggregates, parsed at the door.
    &["domain"],
    // Passwords, tokens, and the caller row-level security sees.
    &["auth"],
    // Types that cross the store boundary: what queries return.
    &["model"],
    // Clients of outside services: the AWS SDK's configuration, S3, question generation.
    &["aws", "storage", "ai"],
    // Every query.
    &["db"],
    // Helpers every use case needs.
    &["idempotency", "outbox"],
    // What every use case is handed.
    &["state"],
    // Use cases.
    &["services"],
    // Use cases that may call `services`, never the reverse.
    &["messaging", "sync"],
    // The web layer: the error's rendering, extractors, OpenAPI, the request-id layer.
    &["http"],
];

/// Imports that run up the floors today, as (file under `shared/src`, module it imports from).
/// Each is a debt: move the type it names down to the floor it belongs on and strike the entry.
const KNOWN_UPWARD: &[(&str, &str)] = &[
    ("config.rs", "ai"),
    ("domain/staff.rs", "auth"),
    ("idempotency.rs", "http"),
    ("model/sync/wire.rs", "http"),
    ("state.rs", "messaging"),
    ("state.rs", "sync"),
];

/// One `crate::` path found in a file: the module it reaches and the path as written.
struct Import {
    file: String,
    target: String,
    path: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules: every `.rs` file and every folder directly under `src`, but `lib.rs`
/// and this test.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    fs::read_dir(src)
        .expect("reading shared/src")
        .map(|entry| entry.expect("a directory entry").path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            if path.is_dir() {
                Some(name)
            } else {
                let stem = name.strip_suffix(".rs")?;
                (stem != "lib" && stem != "layers").then(|| stem.to_owned())
            }
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("reading a source folder") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The names `lib.rs` re-exports at the crate root (`pub use http::{Error, Result};`), mapped
/// to the module they come from, so that `crate::Error` counts as an import of that module.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim_end_matches(';');
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.split(" as ").last().unwrap_or(item).trim();
            if !name.is_empty() {
                names.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    names
}

/// The source without its line comments (doc comments included), so that prose naming a path
/// is not taken for an import. `//` inside a string literal is kept.
fn without_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let mut in_string = false;
        let mut previous = '\0';
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            if c == '"' && previous != '\\' && previous != '\'' {
                in_string = !in_string;
            }
            if !in_string && c == '/' && previous == '/' {
                cut = i - 1;
                break;
            }
            previous = c;
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// The first segment of each path a `crate::` reaches: `crate::db::x` gives `db`,
/// `crate::{db, error::{Error, Result}}` gives `db` and `http`. Also returns the text as written.
fn first_segments(after: &str) -> (Vec<String>, String) {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    if !after.starts_with('{') {
        let name = ident(after);
        let path_len = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(after.len());
        let mut shown = after[..path_len].to_owned();
        if shown.ends_with("::") {
            // `crate::error::{Error, Result}`: show the group too.
            shown.push_str(&first_segments(&after[path_len..]).1);
        }
        return (vec![name], shown);
    }
    let mut depth = 0;
    let mut segments = Vec::new();
    let mut item_start = 1;
    let mut end = after.len();
    for (i, c) in after.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    segments.push(ident(&after[item_start..i]));
                    end = i + 1;
                    break;
                }
            }
            ',' if depth == 1 => {
                segments.push(ident(&after[item_start..i]));
                item_start = i + 1;
            }
            _ => {}
        }
    }
    segments.retain(|s| !s.is_empty());
    let shown = after[..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (segments, shown)
}

/// Every import of one top-level module by another, file by file.
fn imports() -> Vec<Import> {
    let src = src_dir();
    let modules = top_level_modules(&src);
    let reexports = root_reexports(&fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for path in files {
        let file = path
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let owner = file.split('/').next().unwrap_or_default();
        let owner = owner.strip_suffix(".rs").unwrap_or(owner).to_owned();
        if owner == "lib" || owner == "layers" {
            continue;
        }
        let source = without_comments(&fs::read_to_string(&path).expect("a source file"));
        for (at, _) in source.match_indices("crate::") {
            let before = source[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let (segments, shown) = first_segments(&source[at + "crate::".len()..]);
            for segment in segments {
                let target = if modules.contains(&segment) {
                    segment
                } else if let Some(module) = reexports.get(&segment) {
                    module.clone()
                } else {
                    continue;
                };
                if target != owner {
                    found.push(Import {
                        file: file.clone(),
                        target,
                        path: format!("crate::{shown}"),
                    });
                }
            }
        }
    }
    found
}

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|floor| floor.contains(&module))
}

fn owner_of(file: &str) -> &str {
    let first = file.split('/').next().unwrap_or_default();
    first.strip_suffix(".rs").unwrap_or(first)
}

#[test]
fn every_top_level_module_stands_on_exactly_one_floor() {
    let modules = top_level_modules(&src_dir());
    let mut problems = Vec::new();
    for module in &modules {
        let floors = FLOORS
            .iter()
            .filter(|f| f.contains(&module.as_str()))
            .count();
        if floors != 1 {
            problems.push(format!(
                "`{module}` is on {floors} floors of FLOORS (it needs one)"
            ));
        }
    }
    for name in FLOORS.iter().flat_map(|floor| floor.iter()) {
        if !modules.contains(*name) {
            problems.push(format!(
                "FLOORS names `{name}`, which is not a module under src"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_import_runs_up_the_floors() {
    let mut upward = Vec::new();
    let mut seen = BTreeSet::new();
    for import in imports() {
        let (Some(from), Some(to)) = (floor_of(owner_of(&import.file)), floor_of(&import.target))
        else {
            continue; // reported by the test above
        };
        if to <= from {
            continue;
        }
        seen.insert((import.file.clone(), import.target.clone()));
        if !KNOWN_UPWARD.contains(&(import.file.as_str(), import.target.as_str())) {
            upward.push(format!(
                "{}: `{}` imports `{}`, a floor above",
                import.file, import.path, import.target
            ));
        }
    }
    let stale: Vec<String> = KNOWN_UPWARD
        .iter()
        .filter(|(file, target)| !seen.contains(&(file.to_string(), target.to_string())))
        .map(|(file, target)| format!("KNOWN_UPWARD lists {file} -> {target}, which is gone"))
        .collect();
    let mut problems = upward;
    problems.extend(stale);
    assert!(
        problems.is_empty(),
        "imports that run up the floors (move the type down, or strike a stale entry):\n{}",
        problems.join("\n")
    );
}

#[test]
fn modules_on_one_floor_import_each_other_without_a_cycle() {
    // Across floors a cycle needs an upward import, which the test above reports; within one
    // floor, look for a loop.
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for import in imports() {
        let owner = owner_of(&import.file).to_owned();
        if floor_of(&owner).is_some() && floor_of(&owner) == floor_of(&import.target) {
            edges
                .entry(owner)
                .or_default()
                .entry(import.target.clone())
                .or_insert(format!("{}: `{}`", import.file, import.path));
        }
    }
    fn visit(
        module: &str,
        edges: &BTreeMap<String, BTreeMap<String, String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if !done.insert(module.to_owned()) {
            return None;
        }
        path.push(module.to_owned());
        for next in edges.get(module).into_iter().flat_map(|e| e.keys()) {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        if let Some(cycle) = visit(module, &edges, &mut Vec::new(), &mut done) {
            let imports: Vec<&str> = cycle
                .windows(2)
                .map(|pair| edges[&pair[0]][&pair[1]].as_str())
                .collect();
            panic!(
                "a cycle on one floor: {}\n{}",
                cycle.join(" -> "),
                imports.join("\n")
            );
        }
    }
}
