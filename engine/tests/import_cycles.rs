//! No file of `engine/src` imports another in a cycle.
//!
//! Builds the graph "file A refers to an item of file B" from the sources
//! (`use` trees, and `crate::`/`super::`/`self::`/child-module paths in
//! code; comments and literals are skipped), resolving each path to the
//! file that defines the module it ends in, and through `use` re-exports
//! to the file that defines the item (so `crate::Error` leads to
//! `error.rs`, not to `lib.rs`). A parent that re-exports a child counts
//! as importing it, so a child must not reach back into its parent file:
//! what both need lives in a third file. Any strongly connected component
//! of more than one file fails the test, listed with the edges inside it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's file.
#[derive(Debug, Clone)]
struct Module {
    file: PathBuf,
}

/// `engine/src`, or the tree named by `PCMRING_CYCLES_SRC` (to check
/// another checkout by hand).
fn src_dir() -> PathBuf {
    match std::env::var_os("PCMRING_CYCLES_SRC") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    }
}

/// Every module file under `src`, keyed by its module path.
fn modules(src: &Path) -> BTreeMap<Vec<String>, Module> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src dir") {
            let p = entry.expect("dir entry").path();
            if p.is_dir() {
                // Binaries are crate roots of their own.
                if p.file_name().is_some_and(|n| n != "bin") {
                    stack.push(p);
                }
                continue;
            }
            if p.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = p.strip_prefix(src).expect("under src");
            let mut path: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
                .collect();
            if path.last().is_some_and(|l| l == "mod" || l == "lib") {
                path.pop();
            }
            out.insert(path, Module { file: p });
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Colons,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other,
}

/// Tokens of `src`, without comments, string and char literals.
fn tokens(src: &str) -> Vec<Tok> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#')) {
            // Raw string r"..." / r#"..."#, or an identifier starting with r.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) == Some(&b'"') {
                j += 1;
                'raw: while j < b.len() {
                    if b[j] == b'"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&b'#')) {
                        j += 1 + hashes;
                        break 'raw;
                    }
                    j += 1;
                }
                i = j;
            } else {
                i = ident(b, i, &mut out);
            }
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime.
            if b.get(i + 1) == Some(&b'\\') {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            } else if b.get(i + 2) == Some(&b'\'') {
                i += 3;
            } else {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            i = ident(b, i, &mut out);
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b':' && b.get(i + 1) == Some(&b':') {
            out.push(Tok::Colons);
            i += 2;
        } else {
            out.push(match c {
                b'{' => Tok::Open,
                b'}' => Tok::Close,
                b',' => Tok::Comma,
                b';' => Tok::Semi,
                b'*' => Tok::Star,
                _ => Tok::Other,
            });
            i += 1;
        }
    }
    out
}

fn ident(b: &[u8], mut i: usize, out: &mut Vec<Tok>) -> usize {
    let start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
    }
    out.push(Tok::Ident(
        String::from_utf8_lossy(&b[start..i]).into_owned(),
    ));
    i
}

/// One imported path: its segments and the name it is visible under.
#[derive(Debug, Clone)]
struct UsePath {
    segs: Vec<String>,
    /// The name it is visible under (`None` for a glob).
    name: Option<String>,
    /// How many inline modules (`mod tests { .. }`) deep it is written.
    inline: usize,
}

/// Parses a use tree starting at `toks[*i]`, with `prefix` before it.
fn use_tree(toks: &[Tok], i: &mut usize, prefix: Vec<String>, out: &mut Vec<UsePath>) {
    let mut segs = prefix;
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(s)) if s == "as" => {
                *i += 1;
                let name = match toks.get(*i) {
                    Some(Tok::Ident(n)) => Some(n.clone()),
                    _ => None,
                };
                *i += 1;
                out.push(UsePath {
                    segs,
                    name,
                    inline: 0,
                });
                return;
            }
            Some(Tok::Ident(s)) => {
                segs.push(s.clone());
                *i += 1;
            }
            Some(Tok::Colons) => *i += 1,
            Some(Tok::Star) => {
                *i += 1;
                out.push(UsePath {
                    segs,
                    name: None,
                    inline: 0,
                });
                return;
            }
            Some(Tok::Open) => {
                *i += 1;
                loop {
                    match toks.get(*i) {
                        Some(Tok::Close) => {
                            *i += 1;
                            return;
                        }
                        Some(Tok::Comma) => *i += 1,
                        None => return,
                        _ => use_tree(toks, i, segs.clone(), out),
                    }
                }
            }
            _ => {
                let name = segs.last().cloned().filter(|n| n != "self");
                let name = name.or_else(|| {
                    // `a::b::{self}`: visible as `b`.
                    segs.iter().rev().nth(1).cloned()
                });
                if segs.last().is_some_and(|s| s == "self") {
                    segs.pop();
                }
                out.push(UsePath {
                    segs,
                    name,
                    inline: 0,
                });
                return;
            }
        }
    }
}

/// What one file defines and refers to: the item names it defines, its
/// `use` paths and the paths in its code (with their inline-module depth).
#[derive(Debug, Default)]
struct Refs {
    defs: BTreeSet<String>,
    uses: Vec<UsePath>,
    paths: Vec<(Vec<String>, usize)>,
}

const ITEM_KEYWORDS: [&str; 9] = [
    "fn",
    "struct",
    "enum",
    "const",
    "static",
    "trait",
    "type",
    "union",
    "macro_rules",
];

fn refs(toks: &[Tok]) -> Refs {
    let mut r = Refs::default();
    let mut i = 0;
    // Brace depths at which inline modules opened.
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    while i < toks.len() {
        match &toks[i] {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
            }
            Tok::Ident(k) if k == "mod" => {
                if let (Some(Tok::Ident(_)), Some(Tok::Open)) = (toks.get(i + 1), toks.get(i + 2)) {
                    inline.push(depth);
                }
            }
            Tok::Ident(k) if ITEM_KEYWORDS.contains(&k.as_str()) => {
                let mut j = i + 1;
                if toks.get(j) == Some(&Tok::Other) {
                    j += 1; // macro_rules!
                }
                if let Some(Tok::Ident(n)) = toks.get(j) {
                    if inline.is_empty() {
                        r.defs.insert(n.clone());
                    }
                }
            }
            _ => {}
        }
        if toks[i] == Tok::Ident("use".into())
            && !matches!(i.checked_sub(1).map(|p| &toks[p]), Some(Tok::Colons))
        {
            i += 1;
            let from = r.uses.len();
            use_tree(toks, &mut i, Vec::new(), &mut r.uses);
            for u in &mut r.uses[from..] {
                u.inline = inline.len();
            }
            continue;
        }
        if let Tok::Ident(first) = &toks[i] {
            let preceded = matches!(i.checked_sub(1).map(|p| &toks[p]), Some(Tok::Colons));
            if !preceded && toks.get(i + 1) == Some(&Tok::Colons) {
                let mut segs = vec![first.clone()];
                let mut j = i + 1;
                while toks.get(j) == Some(&Tok::Colons) {
                    match toks.get(j + 1) {
                        Some(Tok::Ident(s)) => {
                            segs.push(s.clone());
                            j += 2;
                        }
                        _ => break,
                    }
                }
                r.paths.push((segs, inline.len()));
                i = j;
                continue;
            }
        }
        i += 1;
    }
    r
}

struct Graph {
    modules: BTreeMap<Vec<String>, Module>,
    refs: BTreeMap<Vec<String>, Refs>,
}

impl Graph {
    /// Absolute segments of `segs` written in module `at`, or `None` for
    /// paths outside the crate (std, other crates, locals).
    fn absolute(&self, at: &[String], segs: &[String], inline: usize) -> Option<Vec<String>> {
        let mut base: Vec<String> = at.to_vec();
        let mut rest = segs;
        let mut inline = inline;
        match rest.first().map(String::as_str) {
            Some("crate") => {
                base.clear();
                rest = &rest[1..];
            }
            Some("self") => rest = &rest[1..],
            Some("super") => {
                while rest.first().is_some_and(|s| s == "super") {
                    // Out of an inline module first: still this file.
                    if inline > 0 {
                        inline -= 1;
                    } else {
                        base.pop()?;
                    }
                    rest = &rest[1..];
                }
            }
            Some(first) => {
                // A child module of `at`, or a name `at` imports.
                let mut child = at.to_vec();
                child.push(first.to_owned());
                if !self.modules.contains_key(&child) {
                    let u = self.refs.get(at)?.uses.iter().find(|u| {
                        u.name.as_deref() == Some(first)
                            && u.segs.first().is_some_and(|s| s != first)
                    })?;
                    let mut full = self.absolute(at, &u.segs, u.inline)?;
                    full.extend(rest[1..].iter().cloned());
                    return Some(full);
                }
            }
            None => return None,
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file an absolute path leads to: the deepest module file on
    /// it, followed through that module's `use` of the next segment.
    fn target(&self, abs: &[String], depth: usize) -> Option<Vec<String>> {
        let mut m: Vec<String> = Vec::new();
        let mut k = 0;
        while k < abs.len() {
            let mut next = m.clone();
            next.push(abs[k].clone());
            if !self.modules.contains_key(&next) {
                break;
            }
            m = next;
            k += 1;
        }
        let r = self.refs.get(&m)?;
        if k < abs.len() && depth < 8 && !r.defs.contains(&abs[k]) {
            // `m::Name...`: Name imported (re-exported) by m, by name or
            // through a glob whose module has it?
            let name = abs[k].as_str();
            let named = r.uses.iter().filter(|u| u.name.as_deref() == Some(name));
            let globs = r.uses.iter().filter(|u| u.name.is_none());
            for u in named.chain(globs) {
                let Some(mut full) = self.absolute(&m, &u.segs, u.inline) else {
                    continue;
                };
                if u.name.is_none() {
                    full.push(name.to_owned());
                }
                full.extend(abs[k + 1..].iter().cloned());
                let Some(t) = self.target(&full, depth + 1) else {
                    continue;
                };
                let found = u.name.is_some()
                    || self.refs.get(&t).is_some_and(|tr| {
                        tr.defs.contains(name)
                            || tr.uses.iter().any(|x| x.name.as_deref() == Some(name))
                    });
                if found {
                    return Some(t);
                }
            }
        }
        Some(m)
    }

    fn edges(&self) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
        let mut out: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (at, r) in &self.refs {
            let e = out.entry(at.clone()).or_default();
            let all = r
                .uses
                .iter()
                .map(|u| (u.segs.clone(), u.inline))
                .chain(r.paths.iter().cloned());
            for (segs, inline) in all {
                let Some(abs) = self.absolute(at, &segs, inline) else {
                    continue;
                };
                if let Some(t) = self.target(&abs, 0) {
                    if &t != at {
                        e.insert(t);
                    }
                }
            }
        }
        out
    }
}

/// Strongly connected components of more than one node (Tarjan).
fn cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct St<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        on: BTreeSet<&'a Vec<String>>,
        stack: Vec<&'a Vec<String>>,
        next: usize,
        out: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(s: &mut St<'a>, v: &'a Vec<String>) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on.insert(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = St {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn graph(src: &Path) -> Graph {
    let modules = modules(src);
    let refs = modules
        .iter()
        .map(|(p, m)| {
            let text = std::fs::read_to_string(&m.file).expect("read source");
            (p.clone(), refs(&tokens(&text)))
        })
        .collect();
    Graph { modules, refs }
}

fn name(m: &[String], g: &Graph, src: &Path) -> String {
    g.modules.get(m).map_or_else(
        || m.join("::"),
        |m| {
            m.file
                .strip_prefix(src)
                .unwrap_or(&m.file)
                .display()
                .to_string()
        },
    )
}

fn check(src: &Path, min_files: usize) {
    let g = graph(src);
    assert!(
        g.modules.len() >= min_files,
        "found {} files",
        g.modules.len()
    );
    let edges = g.edges();
    let found = cycles(&edges);
    let mut report = String::new();
    for comp in &found {
        report.push_str("cycle between:\n");
        for v in comp {
            for w in edges.get(v).into_iter().flatten() {
                if comp.contains(w) {
                    report.push_str(&format!("  {} -> {}\n", name(v, &g, src), name(w, &g, src)));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "{} import cycle(s) in {}:\n{report}",
        found.len(),
        src.display()
    );
}

#[test]
fn no_import_cycles_between_engine_files() {
    check(&src_dir(), 20);
}

/// The examples package's library (`src/`, the examples' logic) too.
#[test]
fn no_import_cycles_between_example_files() {
    check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../src"), 8);
}

/// The checker itself: it must see a cycle, follow re-exports, and ignore
/// comments, strings and paths outside the crate.
#[test]
fn the_checker_finds_cycles_and_follows_re_exports() {
    let dir = std::env::temp_dir().join(format!("pcmring-cycles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("m")).unwrap();
    let write = |p: &str, s: &str| std::fs::write(dir.join(p), s).unwrap();
    write(
        "lib.rs",
        "mod a; mod b; mod m;\npub use a::A;\npub use m::Inner;\n",
    );
    write("a.rs", "use crate::m::Inner;\npub struct A;\n");
    write("m/mod.rs", "mod inner;\npub use inner::Inner;\n");
    // Refers to the crate root's re-export of A: an edge to a.rs only.
    write(
        "m/inner.rs",
        "// use crate::b::B;\nconst S: &str = \"crate::b::B\";\npub struct Inner(crate::A, std::fmt::Error);\n",
    );
    write("b.rs", "pub struct B;\n");
    let g = graph(&dir);
    let edges = g.edges();
    let key = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(
        edges[&key(&["m", "inner"])].contains(&key(&["a"])),
        "{edges:?}"
    );
    assert!(
        !edges[&key(&["m", "inner"])].contains(&key(&["b"])),
        "{edges:?}"
    );
    assert!(
        !edges[&key(&["m", "inner"])].contains(&key(&[])),
        "{edges:?}"
    );
    let found = cycles(&edges);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0], vec![key(&["a"]), key(&["m", "inner"])]);
    let _ = std::fs::remove_dir_all(&dir);
}
