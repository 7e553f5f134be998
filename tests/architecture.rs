//! The module structure reads top-down: no module imports one that imports it back, at any
//! level (top-level modules of each crate, files of one folder). Imports are read from the
//! source text: `crate::a::b` paths and `super::` paths, resolved to the files they name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module: its path below the crate root (`["server", "auth"]`).
type Module = Vec<String>;

/// Every module of the crate whose sources are in `src`, with its file.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, prefix: &Module, out: &mut BTreeMap<Module, PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut module = prefix.clone();
                module.push(name);
                if path.join("mod.rs").exists() {
                    out.insert(module.clone(), path.join("mod.rs"));
                }
                walk(&path, &module, out);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                if ["mod", "lib", "main"].contains(&stem) {
                    continue;
                }
                let mut module = prefix.clone();
                module.push(stem.to_string());
                out.insert(module, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &vec![], &mut out);
    out
}

/// The longest known module that `path` starts with.
fn resolve(path: &[String], known: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| known.contains_key(m))
}

/// The path segments after each `crate::` and `super::` in `text`, made absolute from
/// `module` (the file's own module). Brace groups (`use super::{a, b::C}`) give each entry.
fn references(text: &str, module: &Module) -> Vec<Module> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    for (start, root) in [("crate::", None), ("super::", Some(()))] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(start) {
            let before = rest[..at].chars().last();
            rest = &rest[at + start.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let base: Module = match root {
                None => vec![],
                // `super` of a file `a/b.rs` is `a`; of `a/b/mod.rs` (module a::b) also `a`.
                Some(()) => module[..module.len().saturating_sub(1)].to_vec(),
            };
            let groups: Vec<String> = if let Some(inner) = rest.strip_prefix('{') {
                let end = inner.find('}').unwrap_or(inner.len());
                inner[..end]
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect()
            } else {
                vec![rest.to_string()]
            };
            for group in groups {
                let segments: Vec<String> = group
                    .split("::")
                    .map(|s| {
                        s.chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect::<String>()
                    })
                    .take_while(|s| !s.is_empty() && s != "self" && s != "super")
                    .collect();
                let mut path = base.clone();
                path.extend(segments);
                found.push(path);
            }
        }
    }
    found
}

/// The import cycles among sibling modules of the crate in `src`, as readable lines.
fn cycles(src: &Path) -> Vec<String> {
    let known = modules(src);
    // Edges between siblings: each import lifted to the children of the common parent.
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, file) in &known {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for reference in references(&text, module) {
            let Some(target) = resolve(&reference, &known) else {
                continue;
            };
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            // An ancestor or descendant: containment, not an import between siblings.
            if common == module.len() || common == target.len() {
                continue;
            }
            let from = module[..=common].to_vec();
            let to = target[..=common].to_vec();
            edges.entry(from).or_default().insert(to);
        }
    }
    // Depth-first search for a path back to the start.
    let mut found = Vec::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    // Each cycle once: from its smallest module.
                    if path.iter().min() != Some(start) {
                        continue;
                    }
                    let names: Vec<String> =
                        path.iter().chain([start]).map(|m| m.join("::")).collect();
                    found.push(names.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    found
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for src in ["src", "udfs/src", "wire/src"] {
        let dir = root.join(src);
        assert!(
            modules(&dir).len() > 3,
            "{src}: too few modules read, the walk is broken"
        );
        all.extend(cycles(&dir).into_iter().map(|c| format!("{src}: {c}")));
    }
    assert!(all.is_empty(), "import cycles:\n{}", all.join("\n"));
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).expect("mkdir");
    std::fs::write(src.join("a/mod.rs"), "mod x;\nmod y;\n").expect("write");
    std::fs::write(src.join("a/x.rs"), "use super::y::Thing;\n").expect("write");
    std::fs::write(src.join("a/y.rs"), "use super::{x, z};\n").expect("write");
    std::fs::write(src.join("b.rs"), "use crate::c::Other;\n").expect("write");
    std::fs::write(src.join("c.rs"), "fn f() { crate::b::g() }\n").expect("write");
    std::fs::write(src.join("d.rs"), "use crate::a::x::Thing; // crate::b\n").expect("write");
    let found = cycles(src);
    assert!(
        found.contains(&"a::x -> a::y -> a::x".to_string()),
        "{found:?}"
    );
    assert!(found.contains(&"b -> c -> b".to_string()), "{found:?}");
    assert!(!found.iter().any(|c| c.contains('d')), "{found:?}");
}
