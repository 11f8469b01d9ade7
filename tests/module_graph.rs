//! The shape of the source: the modules of the library and of the CLI import each other
//! without cycles, and no source file grows past about 500 lines unless its header says why.
//!
//! Modules are found from the file tree (`src/a.rs` or `src/a/mod.rs` is `a`, `src/a/b.rs` is
//! `a::b`) and dependencies from the paths written in each file (`crate::a::b::Item`,
//! `super::b`). A module and its own submodules are one unit, so a child using its parent's
//! items is not a cycle; two siblings (or two top-level modules) that reach each other are.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files with more lines of code than this (unit tests at their end not counted) say in their
/// header (first comment block) why, with the words "Over 500 lines".
const LONG_FILE_LINES: usize = 520;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, as (module path, text). `skip` names subdirectories to leave
/// out (another crate root).
fn modules(dir: &Path, skip: &[&str]) -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, prefix: &[String], skip: &[&str], out: &mut BTreeMap<Vec<String>, String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if path.is_dir() {
                if !skip.contains(&name.as_str()) {
                    let mut inner = prefix.to_vec();
                    inner.push(name);
                    walk(&path, &inner, skip, out);
                }
                continue;
            }
            let Some(stem) = name.strip_suffix(".rs") else {
                continue;
            };
            let mut module = prefix.to_vec();
            if !matches!(stem, "mod" | "lib" | "main") {
                module.push(stem.to_owned());
            }
            out.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &[], skip, &mut out);
    out
}

/// The modules each module's text names: `crate::a::b`, `crate::{a::B, c}` (groups expanded,
/// across lines too) and `super::…` paths, resolved to the longest known module; an item the
/// crate root re-exports (`crate::Embedder`) counts as the module it comes from.
fn dependencies(
    all: &BTreeMap<Vec<String>, String>,
) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let reexports = root_reexports(all);
    let mut graph = BTreeMap::new();
    for (module, text) in all {
        let code = without_comments(text);
        let mut targets = BTreeSet::new();
        for (anchor, base) in [("crate::", Vec::new()), ("super::", parent(module))] {
            for (at, _) in code.match_indices(anchor) {
                if at > 0 && is_ident_char(code.as_bytes()[at - 1]) {
                    continue;
                }
                let mut paths = Vec::new();
                use_tree(&code[at + anchor.len()..], base.clone(), &mut paths);
                for path in paths {
                    let mut best = None;
                    for len in 1..=path.len() {
                        if all.contains_key(&path[..len]) {
                            best = Some(path[..len].to_vec());
                        }
                    }
                    let root_item = (path.len() == 1).then(|| reexports.get(&path[0])).flatten();
                    if let Some(target) = best.or_else(|| root_item.cloned()) {
                        targets.insert(target);
                    }
                }
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

/// The text with `//` comments removed (a `//` inside a string literal cuts the line short,
/// which only loses paths after it on that line).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a use tree (or plain path) starting at `text` names, each beginning with
/// `prefix`: `a::b::C` gives one, `a::{b, c::D}` two; `super` steps up, `self` and `*` end a
/// path. Returns how many bytes it read.
fn use_tree(text: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let bytes = text.as_bytes();
    let mut path = prefix;
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            i += 1;
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    return i + 1;
                }
                let read = use_tree(&text[i..], path.clone(), out);
                if read == 0 {
                    return i;
                }
                i += read;
            }
        }
        let start = i;
        while i < bytes.len() && is_ident_char(bytes[i]) {
            i += 1;
        }
        match &text[start..i] {
            "" | "self" => break,
            "super" => {
                path.pop();
            }
            segment => path.push(segment.to_owned()),
        }
        if text[i..].starts_with("::") {
            i += 2;
        } else {
            break;
        }
    }
    out.push(path);
    i
}

/// Items the crate root re-exports (`pub use module::{A, B}`), by name, with their module.
fn root_reexports(all: &BTreeMap<Vec<String>, String>) -> BTreeMap<String, Vec<String>> {
    let mut map = BTreeMap::new();
    let Some(root) = all.get(&Vec::new()) else {
        return map;
    };
    let code = without_comments(root);
    for (at, _) in code.match_indices("pub use ") {
        let mut paths = Vec::new();
        use_tree(&code[at + "pub use ".len()..], Vec::new(), &mut paths);
        for path in paths {
            if let (Some(item), Some(module)) = (path.last(), path.first()) {
                if all.contains_key(&vec![module.clone()]) {
                    map.insert(item.clone(), vec![module.clone()]);
                }
            }
        }
    }
    map
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The module `super::` names from `module`'s file: its parent (a directory's `mod.rs` is the
/// directory's module, so this holds for it too).
fn parent(module: &[String]) -> Vec<String> {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// `from -> to` as an edge between siblings: both cut to one level below their common prefix;
/// `None` when one contains the other.
fn sibling_edge(from: &[String], to: &[String]) -> Option<(Vec<String>, Vec<String>)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common >= from.len() || common >= to.len() {
        return None;
    }
    Some((from[..=common].to_vec(), to[..=common].to_vec()))
}

/// A cycle of the sibling graph, if there is one, as the modules along it.
fn find_cycle(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        marks: &mut BTreeMap<Vec<String>, Mark>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|m| m.join("::")).collect();
                cycle.push(node.join("::"));
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, edges, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

fn check_no_cycles(dir: &str, skip: &[&str]) -> usize {
    let all = modules(&root().join(dir), skip);
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut count = 0;
    for (from, targets) in dependencies(&all) {
        for to in targets {
            if let Some((a, b)) = sibling_edge(&from, &to) {
                count += 1;
                edges.entry(a).or_default().insert(b);
            }
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "{dir}: modules import each other in a cycle: {}",
            cycle.join(" -> ")
        );
    }
    count
}

#[test]
fn library_modules_have_no_cycles() {
    let edges = check_no_cycles("src", &["bin"]);
    // The walk found the library's imports (it is not vacuous).
    assert!(edges > 20, "only {edges} dependencies found");
}

#[test]
fn cli_modules_have_no_cycles() {
    let edges = check_no_cycles("src/bin/minilm", &[]);
    assert!(edges > 5, "only {edges} dependencies found");
}

#[test]
fn use_trees_are_expanded() {
    let mut paths = Vec::new();
    let read = use_tree(
        "{embedder::Embedder, long_text::{\n LongText, windows}, Error};",
        Vec::new(),
        &mut paths,
    );
    assert_eq!(read, 61); // up to and including the closing brace
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "embedder::Embedder",
            "long_text::LongText",
            "long_text::windows",
            "Error"
        ]
    );
    let mut paths = Vec::new();
    use_tree(
        "super::names::Dense;",
        vec!["model".into(), "bert".into()],
        &mut paths,
    );
    assert_eq!(
        paths,
        [vec!["model".to_string(), "names".into(), "Dense".into()]]
    );
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let m = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
    let mut edges = BTreeMap::new();
    edges.insert(m("a"), BTreeSet::from([m("b")]));
    edges.insert(m("b"), BTreeSet::from([m("c")]));
    edges.insert(m("c"), BTreeSet::from([m("a")]));
    assert_eq!(find_cycle(&edges).unwrap(), ["a", "b", "c", "a"]);
    edges.insert(m("c"), BTreeSet::new());
    assert_eq!(find_cycle(&edges), None);
    // A child reaching its parent is not an edge; two children are siblings.
    assert_eq!(sibling_edge(&m("server::api"), &m("server")), None);
    assert_eq!(
        sibling_edge(&m("server::api"), &m("server::batcher")),
        Some((m("server::api"), m("server::batcher")))
    );
    assert_eq!(
        sibling_edge(&m("server::api"), &m("embedder")),
        Some((m("server"), m("embedder")))
    );
}

#[test]
fn long_source_files_say_why() {
    let mut long = Vec::new();
    for dir in ["src", "src/bin/minilm", "kernels/src"] {
        for (module, text) in modules(&root().join(dir), &["bin"]) {
            // Unit tests at the end of a file (`#[cfg(test)] mod tests`) do not count.
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or(&text);
            let lines = code.lines().count();
            let header: String = text
                .lines()
                .take_while(|l| l.starts_with("//") || l.starts_with("#!") || l.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            if lines > LONG_FILE_LINES && !header.contains("Over 500 lines") {
                long.push(format!("{dir}: {} ({lines} lines)", module.join("::")));
            }
        }
    }
    assert!(
        long.is_empty(),
        "long files without a reason in their header: {long:?}"
    );
}
