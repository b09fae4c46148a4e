//! The reader behind the module-ladder tests of `schema` and `gateway` (docs/architecture.md,
//! "Crates (a one-way ladder)"): no top-level module of a crate reaches, through `crate::…`
//! paths, back to itself. Shared by `#[path]`, so both crates are read the same way.
//!
//! An oracle of its own: it reads the source text of `src/` (comments and string literals left
//! out), not the compiled crate, and takes every `crate::m` (also inside `use crate::{m, …}`)
//! and, in a crate's top-level files, `super::m` naming a top-level module `m` as an edge, and
//! `crate::X` for a name lib.rs re-exports from `m` (`pub use m::X`) too. A module that is a
//! directory (`m/mod.rs`, `m/x.rs`, …) is one node: all its files' references are its own.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Module name → (module it names → line of the first mention).
type Graph = BTreeMap<String, BTreeMap<String, usize>>;

/// The source with comments and the contents of string and char literals blanked (newlines
/// kept, so line numbers hold).
pub fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && matches!(next, Some('"') | Some('#'))
            && (i == 0
                || !is_ident(chars[i - 1])
                || (chars[i - 1] == 'b' && (i == 1 || !is_ident(chars[i - 2]))))
            && {
                let mut j = i + 1;
                while chars.get(j) == Some(&'#') {
                    j += 1;
                }
                chars.get(j) == Some(&'"')
            }
        {
            // A raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while chars[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &chars[i..j.min(chars.len())] {
                out.push(blank(ch));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\''), or else a lifetime ('a), left as it is.
            let literal_end = if next == Some('\\') {
                (i + 2..chars.len().min(i + 12)).find(|&j| chars[j] == '\'' && j > i + 2)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match literal_end {
                Some(end) => {
                    for _ in i..=end {
                        out.push(' ');
                    }
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The top-level modules `code` names, each with the line it is first named on. `names` maps
/// what may follow `crate::` to its module: a module's own name, or a name lib.rs re-exports.
pub fn references(
    code: &str,
    names: &BTreeMap<String, String>,
    prefixes: &[&str],
) -> BTreeMap<String, usize> {
    let chars: Vec<char> = code.chars().collect();
    let line_of = |at: usize| chars[..at].iter().filter(|c| **c == '\n').count() + 1;
    let ident_at = |mut j: usize| {
        let start = j;
        while j < chars.len() && is_ident(chars[j]) {
            j += 1;
        }
        (chars[start..j].iter().collect::<String>(), j)
    };
    let skip_space = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    let mut note = |name: String, at: usize| {
        if let Some(module) = names.get(&name) {
            found.entry(module.clone()).or_insert_with(|| line_of(at));
        }
    };
    for prefix in prefixes {
        let pattern: Vec<char> = format!("{prefix}::").chars().collect();
        let mut i = 0;
        while i + pattern.len() <= chars.len() {
            let preceded = i > 0 && (is_ident(chars[i - 1]) || chars[i - 1] == '$');
            if preceded || chars[i..i + pattern.len()] != pattern[..] {
                i += 1;
                continue;
            }
            let j = skip_space(i + pattern.len());
            if chars.get(j) == Some(&'{') {
                // `crate::{a, b::c, d::{e, f}}`: the first segment of each path at depth 1.
                let mut depth = 0;
                let mut k = j;
                let mut expect_segment = false;
                while k < chars.len() {
                    match chars[k] {
                        '{' => {
                            depth += 1;
                            expect_segment = depth == 1;
                            k += 1;
                        }
                        '}' => {
                            depth -= 1;
                            k += 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        ',' => {
                            expect_segment = depth == 1;
                            k += 1;
                        }
                        c if is_ident(c) => {
                            let (name, end) = ident_at(k);
                            if expect_segment {
                                note(name, k);
                                expect_segment = false;
                            }
                            k = end;
                        }
                        _ => k += 1,
                    }
                }
                i = k;
            } else {
                let (name, end) = ident_at(j);
                note(name, j);
                i = end.max(i + 1);
            }
        }
    }
    found
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Module → the top-level modules it names, for the crate whose sources are `src`
/// (`lib.rs` and `main.rs` are not modules).
pub fn module_graph(src: &Path) -> Graph {
    // Top-level module → its files (a directory module has several), nested or not.
    let mut files: BTreeMap<String, Vec<(bool, String)>> = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("src") {
        let path = entry.expect("an entry").path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut nested = Vec::new();
            rust_files(&path, &mut nested);
            for file in nested {
                let text = std::fs::read_to_string(&file).expect("readable");
                files.entry(name.clone()).or_default().push((true, text));
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("readable");
            files.entry(name).or_default().push((false, text));
        }
    }
    files.remove("main");
    let lib = files
        .remove("lib")
        .and_then(|mut f| f.pop())
        .expect("src/lib.rs")
        .1;
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    // Every file or folder is a module of the crate, and every module is one here.
    let declared: BTreeSet<String> = code_only(&lib)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))?;
            Some(rest.trim_end_matches(';').trim().to_owned())
        })
        .collect();
    assert_eq!(
        declared, modules,
        "lib.rs declares exactly the files and folders of src/"
    );
    // `crate::Engine` names the module `engine` through lib.rs' `pub use engine::Engine`.
    let mut names: BTreeMap<String, String> =
        modules.iter().map(|m| (m.clone(), m.clone())).collect();
    for line in code_only(&lib).lines() {
        let Some(path) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        // `pub use other_crate as name;` names no module of this crate.
        let Some((module, items)) = path.split_once("::") else {
            continue;
        };
        if !modules.contains(module.trim()) {
            continue;
        }
        for item in items
            .trim_end_matches(';')
            .trim_matches(['{', '}'])
            .split(',')
        {
            let item = item.split(" as ").last().unwrap_or(item).trim();
            if !item.is_empty() {
                names.insert(item.to_owned(), module.trim().to_owned());
            }
        }
    }
    files
        .iter()
        .map(|(name, texts)| {
            let mut refs: BTreeMap<String, usize> = BTreeMap::new();
            for (nested, text) in texts {
                // In a nested file `super::` is its own module's part, not the crate root.
                let prefixes: &[&str] = if *nested {
                    &["crate"]
                } else {
                    &["crate", "super"]
                };
                for (module, line) in references(&code_only(text), &names, prefixes) {
                    refs.entry(module).or_insert(line);
                }
            }
            refs.remove(name);
            (name.clone(), refs)
        })
        .collect()
}

/// Strongly connected components of more than one module (Tarjan).
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph[v].keys() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().expect("on the stack");
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

/// A shortest cycle through `start` inside `component`, as "a.rs:12 → b.rs:3 → a".
pub fn cycle_through(graph: &Graph, component: &[String], start: &str) -> String {
    let inside: BTreeSet<&str> = component.iter().map(String::as_str).collect();
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for w in graph[v].keys().map(String::as_str) {
            if !inside.contains(w) || came_from.contains_key(w) {
                continue;
            }
            came_from.insert(w, v);
            if w == start {
                let mut path = vec![start];
                let mut at = v;
                while at != start {
                    path.push(at);
                    at = came_from[at];
                }
                path.push(start);
                path.reverse();
                return path
                    .windows(2)
                    .map(|p| format!("{}.rs:{} uses crate::{}", p[0], graph[p[0]][p[1]], p[1]))
                    .collect::<Vec<_>>()
                    .join(" → ");
            }
            queue.push_back(w);
        }
    }
    unreachable!("a strongly connected component has a cycle through each member")
}

/// Fails, naming a path around each cycle, if the modules of the crate at `src` do not form a
/// ladder; `seen` are edges that certainly exist (the reader's own check) and `at_least` the
/// number of modules it must find.
pub fn assert_ladder(src: &Path, seen: &[(&str, &str)], at_least: usize) {
    let graph = module_graph(src);
    assert!(graph.len() >= at_least, "{:?}", graph.keys());
    for (from, to) in seen {
        assert!(
            graph.get(*from).is_some_and(|refs| refs.contains_key(*to)),
            "{from} → {to} not seen: {:?}",
            graph.get(*from)
        );
    }
    let described: Vec<String> = cycles(&graph)
        .iter()
        .map(|c| {
            format!(
                "modules {} reach each other, e.g. {}",
                c.join(", "),
                cycle_through(&graph, c, &c[0])
            )
        })
        .collect();
    assert!(
        described.is_empty(),
        "import cycles in {}:\n{}",
        src.display(),
        described.join("\n")
    );
}
