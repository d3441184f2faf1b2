//! The shape of host/src (issue 12, "Done when"): no import cycle between
//! its top-level modules, and no file over 500 lines.
//!
//! The graph is read from the source text, not from rustc: module `a`
//! depends on `b` when a file under `a` names a path `crate::b` (also
//! `$crate::b`, or `b` inside `crate::{...}`), or reaches `b` through enough
//! `super::` to climb to the crate root. Lines that start with `//` (comments,
//! doc comments and their intra-doc links) are not read: they are not
//! imports. `#[cfg(test)]` code is read like the rest, so a test module
//! cannot bring a cycle back either.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a file under host/src may be (STYLE.md: split past ~500).
const MAX_LINES: usize = 500;

fn host_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/src")
}

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read host/src") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The top-level modules: `x.rs` and `x/` beside lib.rs (lib.rs and main.rs
/// are the crate roots, not modules).
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .expect("read host/src")
        .map(|e| e.expect("dir entry").path())
        .filter_map(|p| match p.is_dir() {
            true => Some(p.file_name()?.to_str()?.to_string()),
            false => Some(p.file_stem()?.to_str()?.to_string())
                .filter(|_| p.extension().is_some_and(|x| x == "rs")),
        })
        .filter(|m| m != "lib" && m != "main")
        .collect()
}

/// Which top-level module `rel` (a path below host/src) belongs to, and how
/// many `super::` climb from its file to the crate root.
fn owner(rel: &Path) -> (String, usize) {
    let parts: Vec<&str> = rel.iter().filter_map(|s| s.to_str()).collect();
    let top = parts[0].trim_end_matches(".rs").to_string();
    let depth = match parts.last() {
        Some(&"mod.rs") => parts.len() - 1,
        _ => parts.len(),
    };
    (top, depth)
}

/// The module names a file's code refers to through the crate root, each
/// with the line it first does so on.
fn references(text: &str, depth: usize) -> Vec<(String, usize)> {
    let code: String = text
        .lines()
        .map(|l| match l.trim_start().starts_with("//") {
            true => "\n".to_string(),
            false => format!("{l}\n"),
        })
        .collect();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let ident_at = |at: usize| -> String {
        code[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let word_start =
        |at: usize| at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
    for (at, _) in code.match_indices("crate::") {
        if !word_start(at) {
            continue;
        }
        let after = at + "crate::".len();
        if code[after..].starts_with('{') {
            // `crate::{a::X, b}`: the first name of every item at the top
            // level of the braces.
            let mut level = 0;
            let mut item_start = true;
            for (i, c) in code[after..].char_indices() {
                match c {
                    '{' => {
                        level += 1;
                        item_start = level == 1;
                    }
                    '}' => {
                        level -= 1;
                        if level == 0 {
                            break;
                        }
                    }
                    ',' if level == 1 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && level == 1 => {
                        out.push((ident_at(after + i), line_of(after + i)));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.push((ident_at(after), line_of(at)));
        }
    }
    // `super::super::b` from a file `depth` levels down names crate::b.
    let climb = "super::".repeat(depth);
    for (at, _) in code.match_indices(&climb) {
        if word_start(at) && (at < 7 || &bytes[at - 7..at] != b"super::") {
            let after = at + climb.len();
            let mut name = ident_at(after);
            // More `super::` than the file's depth: inside an inline module
            // (`mod tests`), still at or above the root.
            let mut rest = after;
            while name == "super" {
                rest += "super::".len();
                name = ident_at(rest);
            }
            out.push((name, line_of(at)));
        }
    }
    out
}

/// Edges `a -> b` of the top-level module graph, each with where it is
/// first seen (`file:line`).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let modules = top_level_modules(src);
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in rust_files(src) {
        let rel = file
            .strip_prefix(src)
            .expect("below host/src")
            .to_path_buf();
        let (top, depth) = owner(&rel);
        if !modules.contains(&top) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        for (to, line) in references(&text, depth) {
            if to != top && modules.contains(&to) {
                graph
                    .entry(top.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| format!("{}:{line}", rel.display()));
            }
        }
    }
    graph
}

/// The strongly connected components with more than one module (Tarjan):
/// each is one or more cycles.
fn cycles(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            for w in self.graph.get(v).into_iter().flat_map(|e| e.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.stack.contains(&w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = self.stack.pop() {
                    scc.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    self.found.push(scc);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn host_src_modules_import_each_other_without_cycles() {
    let graph = module_graph(&host_src());
    // The reader must see the graph at all: the proxy uses the config.
    assert!(
        graph.get("proxy").is_some_and(|e| e.contains_key("config")),
        "module graph not read: {graph:?}"
    );
    let found = cycles(&graph);
    let mut report = String::new();
    for scc in &found {
        report.push_str(&format!("cycle among {scc:?}:\n"));
        for a in scc {
            for (b, at) in &graph[a] {
                if scc.contains(b) {
                    report.push_str(&format!("  {a} -> {b}  ({at})\n"));
                }
            }
        }
    }
    assert!(found.is_empty(), "import cycles in host/src:\n{report}");
}

#[test]
fn no_file_under_host_src_is_over_500_lines() {
    let src = host_src();
    let long: Vec<String> = rust_files(&src)
        .into_iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(&f)
                .expect("read source")
                .lines()
                .count();
            let rel = f
                .strip_prefix(&src)
                .expect("below host/src")
                .display()
                .to_string();
            (n > MAX_LINES).then(|| format!("{rel}: {n} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_reader_sees_every_way_a_path_names_a_module() {
    let text = "use crate::a::X;\n\
                // use crate::commented;\n\
                /// [`crate::doc_link`]\n\
                fn f() { crate::b::g(); $crate::c::h(); notcrate::d::i(); }\n\
                use crate::{e::Y, f,\n    g::{Z, W}};\n\
                use super::super::h::V;\n\
                mod tests { use super::super::super::k; use super::local; }\n";
    let names: Vec<(String, usize)> = references(text, 2);
    let names: Vec<(&str, usize)> = names.iter().map(|(n, l)| (n.as_str(), *l)).collect();
    assert_eq!(
        names,
        [
            ("a", 1),
            ("b", 4),
            ("c", 4),
            ("e", 5),
            ("f", 5),
            ("g", 6),
            ("h", 7),
            ("k", 8),
        ]
    );
    assert_eq!(owner(Path::new("server.rs")), ("server".to_string(), 1));
    assert_eq!(owner(Path::new("admin/mod.rs")), ("admin".to_string(), 1));
    assert_eq!(
        owner(Path::new("proxy/route/paths.rs")),
        ("proxy".to_string(), 3)
    );
}
