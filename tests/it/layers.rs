//! Layering: reads every `.rs` file under `src/` and fails when a file imports from a higher
//! layer, when `central` and `sidecar` name each other, when a file outside `src/storage/` names
//! `redb`, or when a top-level module is missing from the layer table (STYLE.md, "Shape of the
//! house"). Comments and literals are blanked before scanning, so prose cannot trip it.

use std::fmt;
use std::fs;
use std::path::Path;

/// The layers of STYLE.md, lowest first; a file may import its own layer or lower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Vocabulary = 1,
    Domain = 2,
    Adapters = 3,
    Roles = 4,
    Process = 5,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Layer::Vocabulary => "vocabulary",
            Layer::Domain => "domain",
            Layer::Adapters => "adapters",
            Layer::Roles => "roles",
            Layer::Process => "process",
        };
        write!(f, "{name} (layer {})", *self as u8)
    }
}

/// Every top-level module of `src/` (a directory `src/x/` or a file `src/x.rs`) and its layer.
/// A new top-level module fails the test until it is added here.
const LAYER_TABLE: &[(&str, Layer)] = &[
    ("vocab", Layer::Vocabulary),
    ("domain", Layer::Domain),
    ("storage", Layer::Adapters),
    ("http", Layer::Adapters),
    ("wire", Layer::Adapters),
    ("central", Layer::Roles),
    ("sidecar", Layer::Roles),
    ("lib", Layer::Process),
    ("main", Layer::Process),
    ("cli", Layer::Process),
    ("config", Layer::Process),
    ("telemetry", Layer::Process),
    ("shutdown", Layer::Process),
    ("demo", Layer::Process),
];

/// Siblings of one layer that must never name each other, in either direction.
const KEPT_APART: &[(&str, &str)] = &[("central", "sidecar")];

/// The only top-level module allowed to name the `redb` crate.
const REDB_HOME: &str = "storage";

/// Path roots that name this crate: `crate` (also as `$crate`) and, from the binary, `protus`.
const CRATE_ROOTS: &[&str] = &["crate", "protus"];

/// One broken rule, at a file and line, with the path that broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    path: String,
    why: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: `{}`: {}", self.file, self.line, self.path, self.why)
    }
}

#[test]
fn src_respects_the_layer_table() {
    // Proves src/ imports only downward, keeps central and sidecar apart, names redb in storage only.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (files_scanned, violations) = check_tree(manifest_dir);
    assert!(files_scanned > 0, "no .rs files found under {}/src", manifest_dir.display());
    let report: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(
        report.is_empty(),
        "{} layering violation(s) in src/ (layers and rules: tests/it/layers.rs, STYLE.md):\n  {}",
        report.len(),
        report.join("\n  ")
    );
}

#[test]
fn scanner_flags_a_lower_layer_importing_a_higher_one() {
    // Proves an upward `use` is caught with its file, line and path.
    let found = check_file("src/domain/ledger.rs", "//! ledger\n\nuse crate::central::Thing;\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].line, 3);
    assert_eq!(found[0].path, "crate::central::Thing");
    assert!(found[0].to_string().starts_with("src/domain/ledger.rs:3: "), "{}", found[0]);
}

#[test]
fn scanner_passes_imports_that_point_down_or_sideways() {
    // Proves a file that imports only its own layer or lower is clean.
    let source = "use crate::vocab::money::Amount;\nuse crate::domain::ledger;\n\
                  use crate::http::Problem;\nuse redb::ReadableTable;\n\
                  pub(crate) fn f() { crate::storage::codec::decode(); }\n";
    assert_eq!(check_file("src/storage/central/ledger.rs", source), Vec::new());
    let main = "use protus::central;\nuse protus::sidecar::{self, run};\nfn main() {}\n";
    assert_eq!(check_file("src/main.rs", main), Vec::new());
}

#[test]
fn scanner_flags_a_higher_module_inside_a_grouped_use() {
    // Proves each item of a grouped `use crate::{..}` counts, on its own line, nested or not.
    let source = "use crate::{\n    vocab::ids::CustomerId,\n    http::{Problem, client},\n    \
                  domain::{self, ledger::{plan_hold, plan_charge}},\n    central,\n};\n";
    let found = check_file("src/domain/x.rs", source);
    let at: Vec<(usize, &str)> = found.iter().map(|v| (v.line, v.path.as_str())).collect();
    assert_eq!(at, vec![(3, "crate::http::{..}"), (5, "crate::central")]);
}

#[test]
fn scanner_flags_central_and_sidecar_naming_each_other() {
    // Proves the two roles may not reference each other, in a `use` or in an expression path.
    let found = check_file("src/central/mod.rs", "fn f() { crate::sidecar::run(); }\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "crate::sidecar::run");
    let found = check_file("src/sidecar/sync.rs", "use crate::{central::api, vocab};\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "crate::central::api");
}

#[test]
fn scanner_ignores_comments_and_literals_but_not_the_code_after_them() {
    // Proves prose and strings never count, and a tricky literal does not hide the code after it.
    let prose = "//! see crate::central\n/// crate::sidecar::x\n// use crate::central;\n\
                 /* crate::central /* nested */ crate::sidecar */\n\
                 const A: &str = \"crate::central \\\" redb::x\";\n\
                 const B: &str = r#\"crate::sidecar \" redb::y\"#;\nconst C: char = '\"';\n\
                 fn f<'a>(x: &'a str) -> &'a str { x }\n";
    assert_eq!(check_file("src/domain/x.rs", prose), Vec::new());
    let hidden = "const C: char = '\"'; use crate::central::X;\n\
                  const D: &str = \"//\"; use redb::Y;\n";
    let found = check_file("src/domain/x.rs", hidden);
    let at: Vec<(usize, &str)> = found.iter().map(|v| (v.line, v.path.as_str())).collect();
    assert_eq!(at, vec![(1, "crate::central::X"), (2, "redb::Y")]);
}

#[test]
fn scanner_flags_redb_outside_storage() {
    // Proves only src/storage/ may name redb.
    let found = check_file("src/central/admin.rs", "use redb::Database;\nfn f(_: redb::Error) {}\n");
    let lines: Vec<usize> = found.iter().map(|v| v.line).collect();
    assert_eq!(lines, vec![1, 2], "{found:?}");
    assert_eq!(check_file("src/storage/store.rs", "use redb::Database;\n"), Vec::new());
}

#[test]
fn scanner_flags_modules_missing_from_the_layer_table() {
    // Proves an unknown top-level file or referenced module fails with a pointer to the table.
    let found = check_file("src/billing/mod.rs", "//! billing\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].why.contains("LAYER_TABLE"), "{}", found[0]);
    let found = check_file("src/domain/x.rs", "use crate::Amount;\nuse crate::*;\n");
    assert_eq!(found.len(), 2, "{found:?}");
}

/// Scans every `.rs` file under `<manifest_dir>/src`; returns how many were read and what broke.
fn check_tree(manifest_dir: &Path) -> (usize, Vec<Violation>) {
    let mut files = Vec::new();
    rust_files(&manifest_dir.join("src"), &mut files);
    files.sort();
    let mut violations = Vec::new();
    for path in &files {
        let source = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let relative = path.strip_prefix(manifest_dir).expect("every file found is under src/");
        let name: Vec<String> = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        violations.extend(check_file(&name.join("/"), &source));
    }
    (files.len(), violations)
}

pub(crate) fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())).path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Checks one file, named relative to the crate root with `/` separators (`src/domain/x.rs`).
fn check_file(file: &str, source: &str) -> Vec<Violation> {
    let top = top_module(file);
    let violation = |line, path: String, why: String| Violation { file: file.to_owned(), line, path, why };
    let Some(layer) = layer_of(top) else {
        let why = format!(
            "top-level module `{top}` is not in the layer table: add it to LAYER_TABLE in \
             tests/it/layers.rs with its layer (STYLE.md, \"Shape of the house\")"
        );
        return vec![violation(1, top.to_owned(), why)];
    };
    let tokens = tokenize(&code_only(source));
    let mut found = Vec::new();
    if layer < Layer::Process {
        for r in module_refs(&tokens) {
            if let Some(why) = broken_rule(top, layer, &r.top) {
                found.push(violation(r.line, r.path, why));
            }
        }
    }
    if top != REDB_HOME {
        for (i, t) in tokens.iter().enumerate().filter(|(_, t)| t.text == "redb") {
            let why = format!("only src/{REDB_HOME}/ may name redb; go through the store interface");
            found.push(violation(t.line, path_from(&tokens, i), why));
        }
    }
    found.sort_by_key(|v| v.line);
    found
}

/// `src/x/...` and `src/x.rs` both belong to top-level module `x`.
fn top_module(file: &str) -> &str {
    let rest = file.strip_prefix("src/").unwrap_or(file);
    match rest.split_once('/') {
        Some((dir, _)) => dir,
        None => rest.strip_suffix(".rs").unwrap_or(rest),
    }
}

fn layer_of(module: &str) -> Option<Layer> {
    LAYER_TABLE.iter().find(|(name, _)| *name == module).map(|&(_, layer)| layer)
}

/// Why `from` (in `from_layer`) may not name top-level module `to`, if it may not.
fn broken_rule(from: &str, from_layer: Layer, to: &str) -> Option<String> {
    if to == "*" {
        return Some("a glob import of the crate root hides which layers this file uses".into());
    }
    let Some(to_layer) = layer_of(to) else {
        return Some(format!(
            "`{to}` is not a module in the layer table: import the item from the module that \
             defines it, or add the module to LAYER_TABLE in tests/it/layers.rs"
        ));
    };
    if to_layer > from_layer {
        return Some(format!("`{from}` is {from_layer} and may not import `{to}`, which is {to_layer}"));
    }
    let apart = KEPT_APART.iter().any(|&(a, b)| (a, b) == (from, to) || (b, a) == (from, to));
    apart.then(|| format!("`{from}` and `{to}` are siblings that never import each other"))
}

/// One token of blanked source: an identifier or number, `::`, or a single other character.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    text: String,
    line: usize,
}

/// A path naming a top-level module of this crate (`crate::x`, `$crate::x`, `protus::x`).
#[derive(Debug)]
struct ModuleRef {
    line: usize,
    top: String,
    path: String,
}

fn module_refs(tokens: &[Token]) -> Vec<ModuleRef> {
    let mut refs = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let is_root = CRATE_ROOTS.contains(&token.text.as_str());
        if !is_root || tokens.get(i + 1).is_none_or(|t| t.text != "::") {
            continue;
        }
        match tokens.get(i + 2) {
            Some(t) if t.text == "{" => grouped_refs(tokens, i + 2, &token.text, &mut refs),
            Some(t) if is_macro_call(tokens, i + 2) || t.text == "self" => {}
            Some(t) => refs.push(ModuleRef { line: t.line, top: t.text.clone(), path: path_from(tokens, i) }),
            None => {}
        }
    }
    refs
}

/// Collects the first segment of every item of the group `{..}` opened at `open`.
fn grouped_refs(tokens: &[Token], open: usize, root: &str, refs: &mut Vec<ModuleRef>) {
    let mut depth = 0usize;
    let mut item_starts = false;
    for (k, token) in tokens.iter().enumerate().skip(open) {
        match token.text.as_str() {
            "{" => {
                depth += 1;
                item_starts = depth == 1;
            }
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
            "," => item_starts = depth == 1,
            text => {
                if item_starts && text != "self" && !is_macro_call(tokens, k) {
                    let path = format!("{root}::{}", path_from(tokens, k));
                    refs.push(ModuleRef { line: token.line, top: text.to_owned(), path });
                }
                item_starts = false;
            }
        }
    }
}

/// A `#[macro_export]` macro sits at the crate root whatever file defines it, so `crate::m!`
/// shows no layer; such calls are not judged.
fn is_macro_call(tokens: &[Token], name: usize) -> bool {
    tokens.get(name + 1).is_some_and(|t| t.text == "!")
}

/// The path starting at token `start`: `a::b::c`, and `a::{..}` when a group follows.
fn path_from(tokens: &[Token], start: usize) -> String {
    let mut path = tokens[start].text.clone();
    let mut k = start + 1;
    while tokens.get(k).is_some_and(|t| t.text == "::") {
        match tokens.get(k + 1) {
            Some(t) if t.text == "{" => return path + "::{..}",
            Some(t) if is_word(&t.text) || t.text == "*" => path = format!("{path}::{}", t.text),
            _ => break,
        }
        k += 2;
    }
    path
}

fn tokenize(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if is_word_char(c) {
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            i += 1;
            line += usize::from(c == '\n');
            if c.is_whitespace() {
                continue;
            }
        }
        tokens.push(Token { text: chars[start..i].iter().collect(), line });
    }
    tokens
}

/// The source with every comment, string, raw string and char literal replaced by spaces,
/// newlines kept so line numbers stay true. Lifetimes and labels are left alone.
pub(crate) fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        match blanked_end(&chars, i) {
            Some(end) => {
                out.extend(chars[i..end].iter().map(|&c| if c == '\n' { '\n' } else { ' ' }));
                i = end;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

/// If a comment or literal starts at `i`, the index just past its end.
fn blanked_end(c: &[char], i: usize) -> Option<usize> {
    let next = c.get(i + 1).copied();
    match c[i] {
        '/' if next == Some('/') => Some((i..c.len()).find(|&k| c[k] == '\n').unwrap_or(c.len())),
        '/' if next == Some('*') => Some(block_comment_end(c, i)),
        '"' => Some(quoted_end(c, i + 1, '"')),
        '\'' if next == Some('\\') => Some(quoted_end(c, i + 1, '\'')),
        '\'' if c.get(i + 2) == Some(&'\'') => Some(i + 3),
        'r' | 'b' | 'c' if i == 0 || !is_word_char(c[i - 1]) => raw_string_end(c, i),
        _ => None,
    }
}

fn block_comment_end(c: &[char], start: usize) -> usize {
    let (mut depth, mut k) = (0usize, start);
    while k < c.len() {
        match (c[k], c.get(k + 1).copied()) {
            ('/', Some('*')) => (depth, k) = (depth + 1, k + 2),
            ('*', Some('/')) => {
                (depth, k) = (depth - 1, k + 2);
                if depth == 0 {
                    return k;
                }
            }
            _ => k += 1,
        }
    }
    c.len()
}

/// The index past the closing `quote`, scanning from `from` and skipping backslash escapes.
fn quoted_end(c: &[char], from: usize, quote: char) -> usize {
    let mut k = from;
    while k < c.len() {
        match c[k] {
            '\\' => k += 2,
            q if q == quote => return k + 1,
            _ => k += 1,
        }
    }
    c.len()
}

/// `r"..."`, `r#"..."#`, `br"..."`, `cr"..."`: the index past the end, or `None` when the
/// characters at `start` are an identifier such as `r#type` or `bytes`.
fn raw_string_end(c: &[char], start: usize) -> Option<usize> {
    let mut k = start + usize::from(c[start] != 'r');
    if c.get(k) != Some(&'r') {
        return None;
    }
    k += 1;
    let hashes = c[k..].iter().take_while(|&&h| h == '#').count();
    k += hashes;
    if c.get(k) != Some(&'"') {
        return None;
    }
    for end in k + 1..c.len() {
        let closes = c.get(end + 1..end + 1 + hashes).is_some_and(|s| s.iter().all(|&h| h == '#'));
        if c[end] == '"' && closes {
            return Some(end + 1 + hashes);
        }
    }
    Some(c.len())
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_word(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}
