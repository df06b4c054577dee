//! Keeps data flowing one way inside every crate: no top-level module may use another that
//! (directly or through others) uses it back. A cycle means two modules are one concern split
//! in two, or a type lives in the wrong one; move it to the module lower in the flow.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// The crates of the workspace whose `src/` is checked.
fn crate_sources(root: &Path) -> Vec<PathBuf> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("the repository root is readable")
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("src"))
        .filter(|src| src.is_dir() && src.parent().is_some_and(|c| c.join("Cargo.toml").is_file()))
        .collect();
    sources.sort();
    sources
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("source directory is readable")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/a.rs`, `src/a/mod.rs`, `src/a/b.rs` are `a`);
/// `None` for the crate root and binaries, which may use everything.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let mut parts = relative.components();
    let first = parts.next()?.as_os_str().to_str()?.to_owned();
    if parts.next().is_some() {
        return (first != "bin").then_some(first);
    }
    let name = first.strip_suffix(".rs")?;
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// The code of a file without its inline unit tests, which may reach anywhere.
fn without_tests(source: &str) -> &str {
    source
        .find("#[cfg(test)]\nmod tests")
        .map_or(source, |at| &source[..at])
}

/// `code` without its comments, where a doc link to another module is not a use of it.
fn without_comments(code: &str) -> String {
    code.lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Files of modules declared `#[cfg(test)] mod name;`: test code, which may reach anywhere.
fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut test_only = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(file).expect("source file is readable");
        // `a/mod.rs`, `lib.rs` and `main.rs` declare children beside them; `a.rs` under `a/`.
        let children = match file.file_stem().and_then(|s| s.to_str()) {
            Some("mod" | "lib" | "main") | None => file.with_file_name(""),
            Some(stem) => file.with_file_name(stem),
        };
        let mut rest = source.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            rest = &rest[at + "#[cfg(test)]".len()..];
            let declaration = rest.trim_start();
            if let Some(name) = declaration
                .strip_prefix("mod ")
                .and_then(|d| d.split_once(';'))
                .map(|(name, _)| name.trim())
                .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                test_only.insert(children.join(format!("{name}.rs")));
                test_only.insert(children.join(name).join("mod.rs"));
            }
        }
    }
    test_only
}

/// `code` with the `super::` paths that leave the top-level module written as `crate::`: in
/// `src/a/b.rs`, `super::super::c` is `crate::c`.
fn with_crate_paths(src: &Path, file: &Path, code: &str) -> String {
    let directories = file
        .strip_prefix(src)
        .map(|relative| relative.components().count() - 1)
        .unwrap_or_default();
    let is_mod_file = file.file_name().is_some_and(|name| name == "mod.rs");
    let depth = if is_mod_file {
        directories
    } else {
        directories + 1
    };
    code.replace(&"super::".repeat(depth), "crate::")
}

/// Top-level modules named as `crate::name` in `code`, including inside `use crate::{a, b}`.
fn used_modules(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let identifier = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name = identifier(item.trim());
                if !name.is_empty() {
                    used.insert(name);
                }
            }
        } else {
            let name = identifier(rest);
            if !name.is_empty() {
                used.insert(name);
            }
        }
    }
    used
}

/// One cycle through `start`, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_owned());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let test_only = test_only_files(&files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = top_module(src, &file) else {
            continue;
        };
        if test_only.contains(&file) {
            continue;
        }
        let source = std::fs::read_to_string(&file).expect("source file is readable");
        let code = with_crate_paths(src, &file, &without_comments(without_tests(&source)));
        let uses = graph.entry(module.clone()).or_default();
        uses.extend(used_modules(&code));
        uses.remove(&module);
    }
    graph
}

#[test]
fn no_module_uses_a_module_that_uses_it_back() {
    let root = repository_root();
    let mut cycles = Vec::new();
    let sources = crate_sources(&root);
    assert!(
        sources.iter().any(|src| src.ends_with("svc-core/src")),
        "the crates were not found: {sources:?}"
    );
    for src in sources {
        let graph = module_graph(&src);
        let mut reported = BTreeSet::new();
        for module in graph.keys() {
            if let Some(cycle) = cycle_through(&graph, module) {
                let members: BTreeSet<String> = cycle.iter().cloned().collect();
                if reported.insert(members) {
                    let crate_name = src.parent().and_then(Path::file_name);
                    cycles.push(format!("{crate_name:?}: {}", cycle.join(" -> ")));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_uses_and_cycles() {
    let code =
        "use crate::{a, b::C};\nfn f() { crate::c::d(); } // [`crate::e`]\nuse foo_crate::x;\n";
    let code = without_comments(code);
    assert_eq!(
        used_modules(&code),
        BTreeSet::from(["a".to_owned(), "b".to_owned(), "c".to_owned()])
    );
    let graph = BTreeMap::from([
        ("x".to_owned(), BTreeSet::from(["y".to_owned()])),
        ("y".to_owned(), BTreeSet::from(["z".to_owned()])),
        ("z".to_owned(), BTreeSet::from(["x".to_owned()])),
        ("w".to_owned(), BTreeSet::from(["x".to_owned()])),
    ]);
    assert_eq!(
        cycle_through(&graph, "x"),
        Some(vec!["x".into(), "y".into(), "z".into(), "x".into()])
    );
    assert_eq!(cycle_through(&graph, "w"), None);
}
