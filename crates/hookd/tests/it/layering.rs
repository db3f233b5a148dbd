//! The layering rule and the file-size rule of `crates/hookd/src`, checked by reading the source.
//!
//! Layers, lowest first: a module may use its own layer's module and the layers below it, never a
//! sibling or a layer above. Every `crate::` path (grouped `use crate::{a, b}` included) and every
//! `super::` path that climbs out of its top-level module counts, in code as well as in `use`
//! lines; comments and string literals do not. Today's exceptions are listed, each with the change
//! of issue 10 that removes it, so the test passes now and fails on any new one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may use the modules of any earlier row and itself.
const LAYERS: &[&[&str]] = &[
    &["policy"],
    &["domain"],
    &["clock", "telemetry"],
    &["store"],
    &["engine", "background", "retention"],
    &["ops"],
    &["api", "web"],
    &[
        "http_server",
        "config",
        "app",
        "cli",
        "operator_cli",
        "listen_cli",
        "environment_cli",
        "rotate_key_cli",
        "main",
        "lib",
    ],
];

/// The rows of the last layer may use anything, each other included.
const TOP_LAYER_USES_ANYTHING: bool = true;

/// Dependencies that break the rule today: (from, to, the issue-10 change that removes it).
/// Every issue-10 change that removed one has landed; keep it empty.
const KNOWN_VIOLATIONS: &[(&str, &str, &str)] = &[];

#[test]
fn no_module_imports_a_layer_above_it() {
    let found = dependencies_of_the_crate();
    let mut new_violations = Vec::new();
    let mut seen_known = BTreeSet::new();
    for dependency in &found {
        if dependency.from == dependency.to || is_allowed(&dependency.from, &dependency.to) {
            continue;
        }
        match KNOWN_VIOLATIONS
            .iter()
            .find(|(from, to, _)| *from == dependency.from && *to == dependency.to)
        {
            Some(_) => {
                seen_known.insert((dependency.from.clone(), dependency.to.clone()));
            }
            None => new_violations.push(format!(
                "{} ({}) uses {} ({}): `{}`",
                dependency.from,
                layer_name(&dependency.from),
                dependency.to,
                layer_name(&dependency.to),
                dependency.file_and_path
            )),
        }
    }
    assert!(
        new_violations.is_empty(),
        "modules that import a layer above or beside them:\n{}",
        new_violations.join("\n")
    );
    let stale: Vec<_> = KNOWN_VIOLATIONS
        .iter()
        .filter(|(from, to, _)| !seen_known.contains(&(from.to_string(), to.to_string())))
        .map(|(from, to, _)| format!("{from} -> {to}"))
        .collect();
    assert!(
        stale.is_empty(),
        "KNOWN_VIOLATIONS lists dependencies that no longer exist; delete them: {stale:?}"
    );
}

/// Production files over this many lines carry a `//! Size:` reason in their first lines. A
/// file's production lines are those before its first `#[cfg(test)]`: inline unit tests do not
/// count.
const MAX_LINES: usize = 400;

/// Files over the limit today that should be split rather than excused: (file, how).
const KNOWN_OVERSIZED: &[(&str, &str)] = &[];

#[test]
fn no_production_file_is_over_400_lines_without_a_reason() {
    let mut unexplained = Vec::new();
    let mut seen_known = BTreeSet::new();
    for file in rust_files(&source_root()) {
        let relative = relative_name(&file);
        if is_test_file(&relative) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text
            .lines()
            .take_while(|line| line.trim() != "#[cfg(test)]")
            .count();
        if lines <= MAX_LINES {
            continue;
        }
        if KNOWN_OVERSIZED.iter().any(|(name, _)| *name == relative) {
            seen_known.insert(relative);
            continue;
        }
        if !states_a_size_reason(&text) {
            unexplained.push(format!("{relative}: {lines} production lines"));
        }
    }
    assert!(
        unexplained.is_empty(),
        "files over {MAX_LINES} lines without a `//! Size:` reason at the top (split them, or \
         say why not):\n{}",
        unexplained.join("\n")
    );
    let stale: Vec<_> = KNOWN_OVERSIZED
        .iter()
        .filter(|(name, _)| !seen_known.contains(*name))
        .map(|(name, _)| *name)
        .collect();
    assert!(
        stale.is_empty(),
        "KNOWN_OVERSIZED lists files that are now within the limit or explained; delete them: {stale:?}"
    );
}

/// The reason must sit in the module's opening doc comment (its first 15 lines).
fn states_a_size_reason(text: &str) -> bool {
    text.lines()
        .take(15)
        .any(|line| line.trim_start().starts_with("//! Size:"))
}

/// Unit-test files (`tests.rs`, `*/tests/*`) are not production code.
fn is_test_file(relative: &str) -> bool {
    relative.ends_with("/tests.rs") || relative.contains("/tests/")
}

/// The API reaches the store only through operations: no handler, extractor or middleware
/// reads `ops.store` (or any other `.store`), so every store call has one use case above it.
#[test]
fn the_api_never_touches_the_store() {
    let root = source_root();
    let files = rust_files(&root.join("api"));
    assert!(files.len() > 10, "the API's files were not found");
    // The dashboard is another client of the operations, under the same rule.
    let web = rust_files(&root.join("web"));
    assert!(web.len() > 5, "the dashboard's files were not found");
    let files: Vec<_> = files.into_iter().chain(web).collect();
    let offenders: Vec<String> = files
        .into_iter()
        .filter(|file| {
            let source = std::fs::read_to_string(file).expect("read a source file");
            mentions_store_field(&source)
        })
        .map(|file| relative_name(&file))
        .collect();
    assert!(
        offenders.is_empty(),
        "API files that call the store instead of an operation: {offenders:?}"
    );
}

/// Whether code (not comments or strings) accesses a `.store` field.
fn mentions_store_field(source: &str) -> bool {
    tokenize(source)
        .windows(2)
        .any(|pair| pair[0] == "." && pair[1] == "store")
}

// ---- the checker's own tests: each rule of the reader, as data ----

#[test]
fn the_reader_finds_every_kind_of_crate_path() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("store/mod.rs", "use crate::domain::Id;", &["domain"]),
        (
            "store/mod.rs",
            "use crate::{domain::{Id, Name}, policy::retry};",
            &["domain", "policy"],
        ),
        (
            "store/mod.rs",
            "let x = crate::engine::wake();",
            &["engine"],
        ),
        (
            "store/sqlite/catalog.rs",
            "use super::super::paging;",
            &["store"],
        ),
        (
            "store/sqlite/catalog.rs",
            "use super::super::super::api::X;",
            &["api"],
        ),
        (
            "store/logs.rs",
            "use super::{super::engine::X, paging};",
            &["engine", "store"],
        ),
        ("clock.rs", "use super::telemetry;", &["telemetry"]),
        ("clock.rs", "mod tests { use super::*; }", &["clock"]),
        ("clock.rs", "mod tests { use super::super::api; }", &["api"]),
        ("store/mod.rs", "// use crate::api::X;", &[]),
        (
            "store/mod.rs",
            "/* crate::api */ let s = \"crate::api\";",
            &[],
        ),
        ("store/mod.rs", "let s = r#\"crate::api\"#;", &[]),
        ("store/mod.rs", "fn f<'a>(x: &'a str) -> char { '\"' }", &[]),
        (
            "store/mod.rs",
            "macro_rules! m { () => { $crate::x } }",
            &[],
        ),
        ("store/mod.rs", "use hookd_crate::api;", &[]),
        ("api/mod.rs", "pub use self::error::X;", &[]),
    ];
    for (file, source, expected) in cases {
        let module = module_path_of(Path::new(file));
        let found: BTreeSet<String> = top_level_modules_used(&module, source)
            .into_iter()
            .collect();
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(found, expected, "{file}: {source}");
    }
}

#[test]
fn the_store_field_check_sees_code_only() {
    let cases = [
        ("ctx.ops.store.claim_idempotency_key(&key).await?;", true),
        ("let store = &state\n    .ctx\n    .ops\n    .store;", true),
        ("self.store.get(id)", true),
        ("use crate::store::{Order, Page};", false),
        ("// ops.store is for operations only", false),
        ("let s = \"ops.store\";", false),
        ("let store_error = restore(x);", false),
        ("ops::idempotency::claim(ops, request, window)", false),
    ];
    for (source, expected) in cases {
        assert_eq!(mentions_store_field(source), expected, "{source}");
    }
}

#[test]
fn the_table_allows_down_and_forbids_up_and_sideways() {
    let cases = [
        ("policy", "policy", true),
        ("policy", "domain", false),
        ("domain", "policy", true),
        ("store", "domain", true),
        ("store", "telemetry", true),
        ("store", "engine", false),
        ("clock", "telemetry", false),
        ("engine", "store", true),
        ("engine", "retention", false),
        ("engine", "ops", false),
        ("engine", "api", false),
        ("ops", "engine", true),
        ("api", "ops", true),
        ("app", "api", true),
        ("cli", "app", true),
        ("operational", "policy", false),
        ("store", "operational", false),
    ];
    for (from, to, allowed) in cases {
        assert_eq!(is_allowed(from, to), allowed, "{from} -> {to}");
    }
}

// ---- the checker ----

struct Dependency {
    from: String,
    to: String,
    file_and_path: String,
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|row| row.contains(&module))
}

fn layer_name(module: &str) -> String {
    match layer_of(module) {
        Some(layer) => format!("layer {layer}"),
        None => "in no layer".to_string(),
    }
}

/// A module not in the table (a new one, or one being moved away) may use nothing and be used
/// by nothing below the top layer: put it in the table.
fn is_allowed(from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    let top = LAYERS.len() - 1;
    match (layer_of(from), layer_of(to)) {
        (Some(from_layer), _) if from_layer == top && TOP_LAYER_USES_ANYTHING => true,
        (Some(from_layer), Some(to_layer)) => to_layer < from_layer,
        _ => false,
    }
}

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

fn relative_name(file: &Path) -> String {
    file.strip_prefix(source_root())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

fn dependencies_of_the_crate() -> Vec<Dependency> {
    let files = rust_files(&source_root());
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut dependencies = Vec::new();
    for file in files {
        let relative = relative_name(&file);
        let module = module_path_of(Path::new(&relative));
        let from = module[0].clone();
        let source = std::fs::read_to_string(&file).unwrap();
        for to in top_level_modules_used(&module, &source) {
            dependencies.push(Dependency {
                from: from.clone(),
                to: to.clone(),
                file_and_path: format!("{relative} uses crate::{to}"),
            });
        }
    }
    dependencies
}

/// `store/sqlite/mod.rs` is `["store", "sqlite"]`; `lib.rs` and `main.rs` are crate roots, named
/// `lib` and `main` so the table can place them.
fn module_path_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// The top-level modules of the crate that `source`, the text of the module at `module`, uses.
fn top_level_modules_used(module: &[String], source: &str) -> BTreeSet<String> {
    let tokens = tokenize(source);
    let is_crate_root = module.len() == 1 && (module[0] == "lib" || module[0] == "main");
    let mut used = BTreeSet::new();
    // Inline `mod name { ... }` blocks nest the module path: (name, brace depth inside it).
    let mut inline_modules: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut index = 0;
    while index < tokens.len() {
        let token = tokens[index].as_str();
        match token {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline_modules
                    .last()
                    .is_some_and(|(_, inner)| *inner > depth)
                {
                    inline_modules.pop();
                }
            }
            "mod" if tokens.get(index + 2).is_some_and(|next| next == "{") => {
                inline_modules.push((tokens[index + 1].clone(), depth + 1));
            }
            "crate" if tokens.get(index + 1).is_some_and(|next| next == "::") => {
                if index > 0 && tokens[index - 1] == "$" {
                    index += 1;
                    continue;
                }
                let mut here = Vec::new();
                let end = collect_path_tails(&tokens, index + 2, &[], &mut here);
                used.extend(here.into_iter().filter_map(|path| path.into_iter().next()));
                index = end;
                continue;
            }
            "super"
                if tokens.get(index + 1).is_some_and(|next| next == "::")
                    && (index < 2 || tokens[index - 1] != "::") =>
            {
                let mut current: Vec<String> = if is_crate_root {
                    Vec::new()
                } else {
                    module.to_vec()
                };
                current.extend(inline_modules.iter().map(|(name, _)| name.clone()));
                let mut cursor = index;
                while tokens.get(cursor).is_some_and(|t| t == "super")
                    && tokens.get(cursor + 1).is_some_and(|t| t == "::")
                {
                    current.pop();
                    cursor += 2;
                }
                let mut here = Vec::new();
                let end = collect_path_tails(&tokens, cursor, &current, &mut here);
                used.extend(here.into_iter().filter_map(|path| path.into_iter().next()));
                index = end;
                continue;
            }
            _ => {}
        }
        index += 1;
    }
    used.remove("self");
    used.remove("*");
    used
}

/// Reads the path that starts at `tokens[start]` (after a `crate::` or the last `super::`) and
/// pushes every absolute module path it names, resolving `super::` inside groups, relative to
/// `base` (the module the path is in). A group `{a::b, super::c}` yields one path per item.
/// Returns the index of the first token after the path.
fn collect_path_tails(
    tokens: &[String],
    start: usize,
    base: &[String],
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut path = base.to_vec();
    let mut index = start;
    loop {
        match tokens.get(index).map(String::as_str) {
            Some("{") => {
                let mut item_start = index + 1;
                let mut depth = 0;
                let mut cursor = index + 1;
                while let Some(token) = tokens.get(cursor) {
                    match token.as_str() {
                        "{" => depth += 1,
                        "}" if depth == 0 => break,
                        "}" => depth -= 1,
                        "," if depth == 0 => {
                            collect_group_item(tokens, item_start, &path, out);
                            item_start = cursor + 1;
                        }
                        _ => {}
                    }
                    cursor += 1;
                }
                collect_group_item(tokens, item_start, &path, out);
                return cursor + 1;
            }
            Some(word) if is_identifier(word) || word == "*" => {
                path.push(word.to_string());
                if tokens.get(index + 1).is_some_and(|t| t == "::") {
                    index += 2;
                } else {
                    out.push(path);
                    return index + 1;
                }
            }
            _ => {
                out.push(path);
                return index;
            }
        }
    }
}

fn collect_group_item(
    tokens: &[String],
    start: usize,
    base: &[String],
    out: &mut Vec<Vec<String>>,
) {
    let mut current = base.to_vec();
    let mut cursor = start;
    while tokens.get(cursor).is_some_and(|t| t == "super")
        && tokens.get(cursor + 1).is_some_and(|t| t == "::")
    {
        current.pop();
        cursor += 2;
    }
    match tokens.get(cursor).map(String::as_str) {
        Some("}") | Some(",") | None => {}
        Some("self") => out.push(current),
        _ => {
            collect_path_tails(tokens, cursor, &current, out);
        }
    }
}

fn is_identifier(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Splits Rust source into identifiers, `::` and single punctuation, dropping comments, string
/// and character literals (so a path named in a doc comment or an SQL string does not count).
fn tokenize(source: &str) -> Vec<String> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\'') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let raw_string = match word.as_str() {
                "r" | "br" | "cr" => raw_string_end(&chars, i - 1),
                _ => None,
            };
            match raw_string {
                Some(end) => i = end,
                None => tokens.push(word),
            }
        } else if c == ':' && next == Some(':') {
            tokens.push("::".to_string());
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

/// `r"..."`, `r#"..."#`: the index after the closing quote and hashes, if `start` opens one.
fn raw_string_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    let mut hashes = 0;
    while chars.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    if chars.get(i) != Some(&'"') {
        return None;
    }
    i += 1;
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return Some(i + 1 + hashes);
        }
        i += 1;
    }
    Some(chars.len())
}
