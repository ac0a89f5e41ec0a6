//! The crate's boundaries, held by reading its source: every `crate::`, `super::` and `self::`
//! path of every file under `src/` (in `use` lines and in code, test modules left out) is an
//! arrow from the file's module to the module it names. An arrow a rule forbids fails here,
//! and so does any circle of arrows between files. The pure core is also held to no I/O, no
//! runtime and no clock by the names of the crates it may not use.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Which modules a module may reach: `(from, allowed)` where `from` and every allowed entry
/// are module path prefixes; a path it names outside `allowed` is a forbidden arrow.
const ONLY: &[(&str, &[&str], &str)] = &[
    (
        "domain",
        &["domain", "market", "text_enum"],
        "the pure core reaches only the vocabulary",
    ),
    (
        "market",
        &["market", "text_enum"],
        "the vocabulary is the ground floor",
    ),
    (
        "sim",
        &["sim", "market", "exchange::wire"],
        "the simulator speaks only the vocabulary and the wire",
    ),
];

/// Arrows forbidden outright: `(from, to, why)`, both module path prefixes.
const NEVER: &[(&str, &str, &str)] = &[
    (
        "exchange",
        "vault",
        "the exchange client does not know the vault",
    ),
    (
        "exchange",
        "store",
        "the exchange client does not know the store",
    ),
    (
        "exchange",
        "actors",
        "the exchange client is below the actors",
    ),
    (
        "config",
        "store",
        "the configuration is read before any store exists",
    ),
    (
        "api",
        "exchange",
        "the API asks the actors, never the exchange",
    ),
    ("api", "vault", "the API asks the actors, never the vault"),
];

/// Names the pure core may not use, with why: crates of I/O and the runtime, and clocks.
const CORE_NEVER_NAMES: &[(&str, &str)] = &[
    ("actix", "the actor runtime"),
    ("actix_web", "the HTTP server"),
    ("tokio", "the async runtime"),
    ("diesel", "the database"),
    ("redis", "the cache"),
    ("awc", "the HTTP client"),
    ("tungstenite", "the WebSocket client"),
    ("slog", "the logger"),
    ("Instant::now", "a clock (time is passed in)"),
    ("SystemTime", "a clock (time is passed in)"),
    ("Utc::now", "a clock (time is passed in)"),
    ("std::fs", "files"),
    ("std::net", "the network"),
];

/// One source file: its module path (`actors::account::fills`) and its code without comments
/// and without its inline test module.
struct Source {
    module: String,
    file: String,
    code: String,
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The code of a file as the boundary sees it: comments dropped, an inline `#[cfg(test)]`
/// module dropped (tests may reach anything).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod ") && n.contains('{'))
        {
            break;
        }
        out.push_str(line.split("//").next().unwrap_or(""));
        out.push('\n');
    }
    out
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            let module = match parts.as_slice() {
                [only] if only == "lib" || only == "main" => String::new(),
                _ => parts.join("::"),
            };
            let text = std::fs::read_to_string(&path).unwrap();
            out.push(Source {
                module,
                file: format!("src/{}", path.strip_prefix(&root).unwrap().display()),
                code: code_of(&text),
            });
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// Every path a text names from `crate`, `super` or `self`, with use groups spread out
/// (`use crate::a::{b, c::{d}}` names `a::b` and `a::c::d`), made absolute for `module`.
fn named_paths(module: &str, code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .find(|p| chars[i..].iter().take(p.len()).copied().eq(p.chars()));
        let boundary =
            i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == '$' || chars[i - 1] == ':');
        match starts {
            Some(_) if boundary => {
                let mut found = Vec::new();
                i = tree(&chars, i, Vec::new(), &mut found);
                for raw in found {
                    if let Some(abs) = absolute(module, &raw) {
                        out.push(abs);
                    }
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// Reads a path, and a `{..}` group after it, from `at`; pushes each full path.
fn tree(chars: &[char], mut at: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix;
    loop {
        while at < chars.len() && chars[at].is_whitespace() {
            at += 1;
        }
        if at < chars.len() && chars[at] == '{' {
            at += 1;
            loop {
                while at < chars.len() && (chars[at].is_whitespace() || chars[at] == ',') {
                    at += 1;
                }
                if at >= chars.len() || chars[at] == '}' {
                    return at + 1;
                }
                let before = at;
                at = tree(chars, at, path.clone(), out);
                // Skip an `as` rename and anything else up to the next item.
                while at < chars.len() && chars[at] != ',' && chars[at] != '}' {
                    at += 1;
                }
                if at == before {
                    at += 1;
                }
            }
        }
        let start = at;
        while at < chars.len() && (is_ident(chars[at]) || chars[at] == '*') {
            at += 1;
        }
        if start == at {
            out.push(path);
            return at;
        }
        let seg: String = chars[start..at].iter().collect();
        if seg != "self" || path.is_empty() {
            path.push(seg);
        }
        if chars[at..].starts_with(&[':', ':']) {
            at += 2;
        } else {
            out.push(path);
            return at;
        }
    }
}

/// A raw path (`super::x`, `crate::a::b`, `self::c`) made absolute for `module`.
fn absolute(module: &str, raw: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    };
    let mut rest = raw;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The longest module among `modules` that `path` lies in.
fn module_of(path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
}

/// `module` is `prefix` or lies inside it.
fn within(module: &str, prefix: &str) -> bool {
    module == prefix || module.starts_with(&format!("{prefix}::"))
}

/// The forbidden arrow from `from` to `to`, if it is one, with why.
fn forbidden(from: &str, to: &str) -> Option<&'static str> {
    for (src, allowed, why) in ONLY {
        if within(from, src) && !allowed.iter().any(|a| within(to, a)) {
            return Some(why);
        }
    }
    NEVER
        .iter()
        .find(|(src, dst, _)| within(from, src) && within(to, dst))
        .map(|(_, _, why)| *why)
}

/// The file-to-module arrows of the crate.
fn arrows(sources: &[Source]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = sources.iter().map(|s| s.module.clone()).collect();
    let mut out = BTreeMap::new();
    for s in sources {
        let to: BTreeSet<String> = named_paths(&s.module, &s.code)
            .iter()
            .filter_map(|p| module_of(p, &modules))
            .filter(|m| *m != s.module)
            .collect();
        out.insert(s.module.clone(), to);
    }
    out
}

/// A circle through `arrows`, as the modules it passes, if there is one.
fn circle(arrows: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        at: &str,
        arrows: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == at) {
            let mut c = path[i..].to_vec();
            c.push(at.to_owned());
            return Some(c);
        }
        if done.contains(at) {
            return None;
        }
        path.push(at.to_owned());
        for next in arrows.get(at).into_iter().flatten() {
            if let Some(c) = visit(next, arrows, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(at.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    arrows
        .keys()
        .find_map(|m| visit(m, arrows, &mut Vec::new(), &mut done))
}

/// The `CORE_NEVER_NAMES` a text uses, as whole path segments.
fn core_offences(code: &str) -> Vec<&'static str> {
    CORE_NEVER_NAMES
        .iter()
        .filter(|(name, _)| {
            code.match_indices(name).any(|(at, _)| {
                let before = code[..at].chars().next_back();
                let after = code[at + name.len()..].chars().next();
                let ident = |c: Option<char>| c.is_some_and(is_ident);
                !ident(before) && !ident(after)
            })
        })
        .map(|(name, _)| *name)
        .collect()
}

#[test]
fn no_file_names_a_module_its_boundary_forbids() {
    let sources = sources();
    assert!(sources.len() > 100, "only {} files read", sources.len());
    let arrows = arrows(&sources);
    let mut found = Vec::new();
    for s in &sources {
        for to in &arrows[&s.module] {
            if let Some(why) = forbidden(&s.module, to) {
                found.push(format!("{}: {} -> {to} ({why})", s.file, s.module));
            }
        }
    }
    assert_eq!(found, Vec::<String>::new());
    // The rules are read against a graph that has the arrows it should.
    assert!(arrows["actors::account"].contains("domain::cycle"));
    assert!(arrows["store::orders"].contains("market"));
}

#[test]
fn no_circle_runs_between_files() {
    assert_eq!(circle(&arrows(&sources())), None);
}

#[test]
fn the_core_uses_no_io_no_runtime_and_no_clock() {
    let mut found = Vec::new();
    let sources = sources();
    let core: Vec<&Source> = sources
        .iter()
        .filter(|s| within(&s.module, "domain"))
        .collect();
    assert!(core.len() >= 10, "only {} core files read", core.len());
    for s in core {
        for name in core_offences(&s.code) {
            found.push(format!("{}: {name}", s.file));
        }
    }
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn the_reader_sees_each_kind_of_arrow_and_the_rules_catch_it() {
    let paths = |module: &str, code: &str| -> Vec<String> {
        named_paths(module, &code_of(code))
            .iter()
            .map(|p| p.join("::"))
            .collect()
    };
    assert_eq!(
        paths(
            "exchange::rest",
            "use crate::vault::{self, Vault as V, KeyRing};"
        ),
        vec!["vault", "vault::Vault", "vault::KeyRing"]
    );
    assert_eq!(
        paths(
            "actors::account::fills",
            "use super::super::store::{a::{B, c}, D};"
        ),
        vec![
            "actors::store::a::B",
            "actors::store::a::c",
            "actors::store::D"
        ]
    );
    assert_eq!(
        paths(
            "api::accounts",
            "let r = crate::exchange::rest::RestClient::new(u);"
        ),
        vec!["exchange::rest::RestClient::new"]
    );
    assert!(paths("domain::cycle", "// use crate::store::x;\nlet a = 1;").is_empty());
    assert!(
        paths(
            "domain::cycle",
            "fn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::store::x;\n}\n"
        )
        .is_empty()
    );
    assert_eq!(
        forbidden("exchange::rest", "vault"),
        Some("the exchange client does not know the vault")
    );
    assert!(forbidden("domain::cycle", "store::orders").is_some());
    assert!(forbidden("domain::cycle", "market").is_none());
    assert!(forbidden("sim::server", "exchange::stream").is_some());
    assert!(forbidden("sim::server", "exchange::wire::stream").is_none());
    assert!(forbidden("config::database", "store").is_some());
    assert!(forbidden("api::accounts", "actors::credentials").is_none());
    let two: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), ["b".to_owned()].into()),
        ("b".to_owned(), ["a".to_owned()].into()),
    ]
    .into();
    assert_eq!(circle(&two), Some(vec!["a".into(), "b".into(), "a".into()]));
    assert_eq!(core_offences("use tokio::sync::mpsc;"), vec!["tokio"]);
    assert!(core_offences("let tokio_like = 1; let my_awc2 = 2;").is_empty());
}

/// The public types each source declares (`pub struct`, `pub enum`, `pub trait`, `pub type`).
fn declared_types(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in code.lines() {
        let t = line.trim_start();
        for kw in ["pub struct ", "pub enum ", "pub trait ", "pub type "] {
            if let Some(rest) = t.strip_prefix(kw) {
                let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// The renamed types of a text's `use` statements (`use a::B as C;`): a type imported under
/// another name to dodge a clash. Module aliases (`dsl as o`) and `as _` are not renames of a
/// type.
fn renamed_imports(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let starts_item = at == 0 || !is_ident(rest[..at].chars().next_back().unwrap_or(' '));
        let end = rest[at..].find(';').map_or(rest.len(), |e| at + e);
        if starts_item {
            let stmt = &rest[at..end];
            let words: Vec<&str> = stmt
                .split(|c: char| !is_ident(c))
                .filter(|w| !w.is_empty())
                .collect();
            for pair in words.windows(2) {
                if pair[0] == "as" && pair[1].starts_with(|c: char| c.is_ascii_uppercase()) {
                    out.push(stmt.split_whitespace().collect::<Vec<_>>().join(" "));
                }
            }
        }
        rest = &rest[end.min(rest.len())..];
        if rest.is_empty() {
            break;
        }
        rest = &rest[1..];
    }
    out
}

#[test]
fn no_type_name_stands_in_two_modules_and_no_import_is_renamed() {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut renamed = Vec::new();
    for s in sources() {
        for name in declared_types(&s.code) {
            seen.entry(name).or_default().push(s.file.clone());
        }
        for r in renamed_imports(&s.code) {
            renamed.push(format!("{}: {r}", s.file));
        }
    }
    let twice: Vec<String> = seen
        .iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(name, files)| format!("{name}: {}", files.join(", ")))
        .collect();
    assert!(seen.len() > 200, "only {} types read", seen.len());
    assert_eq!(twice, Vec::<String>::new());
    assert_eq!(renamed, Vec::<String>::new());
    assert_eq!(
        renamed_imports("use a::{B as C, D};\nuse e::F as _;\nuse s::dsl as o;\nfn reuse() {}"),
        vec!["use a::{B as C, D}"]
    );
    assert_eq!(
        declared_types("pub struct A {}\n    pub enum B { X }"),
        vec!["A", "B"]
    );
}
