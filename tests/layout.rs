//! The source tree reads as the pipeline (DESIGN.md), and stays that way:
//! every module says what it owns, no two modules import each other through
//! any chain, a lower stage never imports a higher one, and only the command
//! line reaches the terminal module.
//!
//! The graph is read from the source itself: `use` trees and `crate::`,
//! `super::` and `self::` paths, each resolved to the deepest module it
//! names. Unit-test modules (`#[cfg(test)]`) are left out: a test may build
//! values from any stage.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules from the lowest stage to the highest. A module may
/// import only those before it (and its own children).
const STAGES: &[&str] = &[
    "clock",
    "diagnostic",
    "error",
    "model",
    "config",
    "bundle",
    "render",
    "pin",
    "pipeline",
    "host",
    "ui",
    "cli",
];

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading src/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/host/transport/ssh.rs` -> `host::transport::ssh`; `mod.rs` names its
/// folder; `lib.rs` and `main.rs` are the root, "".
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file
        .strip_prefix(src)
        .expect("under src/")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts.join("::")
}

/// The code with comments, string and char literals blanked, and the unit
/// tests cut off.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'r' if matches!(b.get(i + 1), Some(b'#' | b'"'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let mut j = i + 1;
                while b.get(j) == Some(&b'#') {
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                let hashes = j - i - 1;
                let close: String = std::iter::once('"')
                    .chain("#".repeat(hashes).chars())
                    .collect();
                let rest = &text[j + 1..];
                i = j + 1 + rest.find(&close).expect("a closed raw string") + close.len();
                out.push_str("\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            // A char literal ('x', '\n', '"'); a lifetime has no closing quote.
            b'\'' if b.get(i + 2) == Some(&b'\'') => i += 3,
            b'\'' if b.get(i + 1) == Some(&b'\\') => {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            c => {
                out.push(char::from(c));
                i += 1;
            }
        }
    }
    match out.find("#[cfg(test)]") {
        Some(at) => out[..at].to_owned(),
        None => out,
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path a `use` tree names: `a::{b, c::{d, self}}` gives `a::b`, `a::c::d`, `a::c`.
fn expand_use(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let mut tree = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    for sep in ["::", "{", "}", ","] {
        tree = tree
            .replace(&format!(" {sep}"), sep)
            .replace(&format!("{sep} "), sep);
    }
    let tree = tree.trim();
    let join = |p: &str, rest: &str| {
        if p.is_empty() {
            rest.to_owned()
        } else if rest.is_empty() {
            p.to_owned()
        } else {
            format!("{p}::{rest}")
        }
    };
    let Some(open) = tree.find('{') else {
        let item = tree.split(" as ").next().unwrap_or_default().trim();
        let item = item.strip_suffix("::self").unwrap_or(item);
        let item = if item == "self" { "" } else { item };
        out.push(join(prefix, item));
        return;
    };
    let head = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').expect("a closed use tree")];
    let prefix = join(prefix, head);
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand_use(&inner[start..i], &prefix, out);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner[start..].is_empty() {
        expand_use(&inner[start..], &prefix, out);
    }
}

/// `crate::a::b`, `super::a`, `self::a` and child-module paths made absolute.
fn absolute(path: &str, module: &str, modules: &BTreeSet<String>) -> Option<Vec<String>> {
    let here: Vec<&str> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    let mut parts = path.split("::").filter(|p| !p.is_empty()).peekable();
    let mut base: Vec<&str> = match parts.peek() {
        Some(&"crate") => {
            parts.next();
            Vec::new()
        }
        Some(&"self") => {
            parts.next();
            here.clone()
        }
        Some(&"super") => {
            let mut b = here.clone();
            while parts.peek() == Some(&"super") {
                parts.next();
                b.pop();
            }
            b
        }
        Some(first) => {
            let child = if module.is_empty() {
                (*first).to_owned()
            } else {
                format!("{module}::{first}")
            };
            if !modules.contains(&child) {
                return None;
            }
            here.clone()
        }
        None => return None,
    };
    base.extend(parts);
    Some(base.into_iter().map(str::to_owned).collect())
}

/// The deepest module that `path` lies in.
fn resolve(path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
}

/// The import graph of the crate whose sources are in `dir` (relative to
/// the repository), and each module's text. A library's `main.rs` is only
/// its binary's entry point and is left out.
fn graph_of(dir: &str) -> (Graph, BTreeMap<String, String>) {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let library = src.join("lib.rs").is_file();
    let texts: BTreeMap<String, String> = files
        .iter()
        .filter(|f| !(library && f.ends_with("main.rs")))
        .map(|f| {
            (
                module_of(&src, f),
                std::fs::read_to_string(f).expect("reading a source file"),
            )
        })
        .collect();
    let modules: BTreeSet<String> = texts.keys().cloned().collect();
    let mut graph = Graph::new();
    for (module, text) in &texts {
        let code = code_only(text);
        let mut paths = Vec::new();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("use ") {
            let before_ok = at == 0 || !is_ident(rest[..at].chars().next_back().unwrap_or(' '));
            let end = rest[at..].find(';').map_or(rest.len(), |e| at + e);
            if before_ok {
                expand_use(&rest[at + 4..end], "", &mut paths);
            }
            rest = &rest[(at + 4).min(end)..];
        }
        // Paths in expressions and types: an identifier followed by `::`.
        let chars: Vec<char> = code.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
                let start = i;
                while i < chars.len() && (is_ident(chars[i]) || chars[i] == ':') {
                    i += 1;
                }
                let token: String = chars[start..i].iter().collect();
                if token.contains("::") {
                    paths.push(token.trim_end_matches(':').to_owned());
                }
            } else {
                i += 1;
            }
        }
        let edges = graph.entry(module.clone()).or_default();
        for p in paths {
            if let Some(abs) = absolute(&p, module, &modules)
                && let Some(target) = resolve(&abs, &modules)
                && &target != module
                && !target.is_empty()
            {
                edges.insert(target);
            }
        }
    }
    (graph, texts)
}

fn graph() -> (Graph, BTreeMap<String, String>) {
    graph_of("src")
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// A cycle through `start`, if the graph has one.
fn cycle_from(graph: &Graph, start: &str) -> Option<Vec<String>> {
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
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

#[test]
fn no_module_imports_itself_through_others() {
    // The library, the VM harness, and the crate both test crates share.
    for (dir, at_least) in [("src", 100), ("vm-tests/src", 40), ("tests/support/src", 0)] {
        let (graph, texts) = graph_of(dir);
        let cycles: Vec<String> = graph
            .keys()
            .filter_map(|m| cycle_from(&graph, m))
            .map(|c| c.join(" -> "))
            .collect();
        assert!(
            cycles.is_empty(),
            "import circles in {dir}:\n{}",
            cycles.join("\n")
        );
        // The reader must have seen the edges: fewer means it broke.
        let edges: usize = graph.values().map(BTreeSet::len).sum();
        assert!(edges >= at_least, "only {edges} edges read from {dir}");
        let silent: Vec<&String> = texts
            .iter()
            .filter(|(_, text)| !text.trim_start().starts_with("//!"))
            .map(|(m, _)| m)
            .collect();
        assert!(
            silent.is_empty(),
            "modules in {dir} without a `//!` doc: {silent:?}"
        );
    }
}

#[test]
fn a_stage_imports_only_the_stages_below_it() {
    let (graph, _) = graph();
    let rank = |m: &str| STAGES.iter().position(|s| *s == top(m));
    let mut wrong = Vec::new();
    for (from, tos) in &graph {
        if from.is_empty() {
            continue;
        }
        let Some(r) = rank(from) else {
            wrong.push(format!("`{from}` is in no stage: add it to STAGES"));
            continue;
        };
        for to in tos {
            if top(to) != top(from) && rank(to).is_none_or(|t| t > r) {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the flow:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn only_the_command_line_reaches_the_terminal() {
    let (graph, _) = graph();
    let reaching: Vec<&String> = graph
        .iter()
        .filter(|(from, tos)| {
            top(from) != "ui" && top(from) != "cli" && tos.iter().any(|t| top(t) == "ui")
        })
        .map(|(from, _)| from)
        .collect();
    assert!(reaching.is_empty(), "modules importing `ui`: {reaching:?}");
}

#[test]
fn the_reader_sees_a_circle_when_there_is_one() {
    let modules: BTreeSet<String> = ["render", "render::host", "render::stack"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut paths = Vec::new();
    expand_use(
        "super::{stack::{self, X}, host::pretty as p}",
        "",
        &mut paths,
    );
    let targets: BTreeSet<String> = paths
        .iter()
        .filter_map(|p| absolute(p, "render::host", &modules))
        .filter_map(|a| resolve(&a, &modules))
        .collect();
    assert_eq!(
        targets,
        BTreeSet::from(["render::stack".to_owned(), "render::host".to_owned()])
    );
    let mut graph = Graph::new();
    graph
        .entry("render::host".into())
        .or_default()
        .insert("render::stack".into());
    graph
        .entry("render::stack".into())
        .or_default()
        .insert("render::host".into());
    assert_eq!(
        cycle_from(&graph, "render::host").map(|c| c.join(" -> ")),
        Some("render::host -> render::stack -> render::host".to_owned())
    );
    let code = code_only(
        "let s = \"crate::ui::x\"; // crate::ui\nuse crate::model;\n#[cfg(test)]\nuse crate::ui;",
    );
    assert!(!code.contains("ui"), "{code}");
}
