//! Constant-time comparison of every secret (issue 8, security pass): reads every file under
//! `src/` and fails when `==`, `!=`, `.eq(` or `.ne(` is applied to an expression whose names
//! mark secret material (secret, token, password, digest, signature, verifier, csrf, mac, hash…),
//! or when a type so named derives `PartialEq`, outside the explicit allow-list below, each entry
//! with its reason. Secrets are compared with `Secret::ct_eq`, `SecretDigest::matches`,
//! `pkce::verify_s256`, `webhook_signature::verify`, `csrf::verify` or an HMAC's `verify_slice`.
//! Comments and literals are blanked first (`layers::code_only`), `#[cfg(test)]` modules are
//! skipped, and lengths (`.len()`) are not secret.
//!
//! What is not a comparison here and is fine: a lookup by the SHA-256 of a high-entropy token
//! used as a database or map key (sessions, codes, refresh tokens, claim links, warm cache
//! entries). Finding the row reveals nothing an attacker can steer: they would have to choose
//! inputs by their hash prefix, which is a preimage search on SHA-256.
//!
//! The audit this guards (site → how it is compared):
//! - client secrets (`storage/central/companies.rs::authenticate_client`) → `SecretDigest::matches`
//!   on the current and every rotated-out digest, no early exit;
//! - sidecar secrets (`central/sidecar_auth.rs`) → `SecretDigest::matches`, a dummy digest for an
//!   unknown id;
//! - session tokens, authorization codes, refresh tokens, claim links → looked up by SHA-256 (hex)
//!   as the table key;
//! - PKCE (`domain/pkce.rs::verify_s256`) → `subtle::ConstantTimeEq` on the S256 challenge;
//! - webhook signatures (`domain/webhook_signature.rs::verify`) → `ct_eq` on every candidate;
//! - top-up callback signatures (`central/providers/test_provider.rs`) → `Hmac::verify_slice`;
//! - CSRF tokens (`central/web/csrf.rs::verify`) → `Hmac::verify_slice`;
//! - passwords → argon2's `verify_password` (constant-time on the hash), a dummy hash for unknown
//!   emails;
//! - access tokens → Ed25519 `verify_strict`; the verified-token cache finds an entry by one
//!   keyed 64-bit SipHash of the token and confirms it by a second (`entry.confirm == confirm`):
//!   an integer compare of PRF outputs under a random per-process key, not of the token;
//! - the admin socket → no secret: it is owner-only (mode 0600 in an owner-only data dir);
//! - the demo partner (`demo/partner.rs`): its OAuth `state` is compared with `subtle`'s `ct_eq`
//!   against the browser's cookie, and its sessions are found by id in a `HashMap` (SipHash
//!   with a random key chooses the bucket, so timing says nothing about an unknown id).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::layers::{code_only, rust_files};

/// Words that mark secret material in an identifier (split on `_` and case changes).
const SECRET_WORDS: &[&str] = &[
    "secret",
    "token",
    "password",
    "passwd",
    "digest",
    "signature",
    "sig",
    "verifier",
    "csrf",
    "mac",
    "hmac",
    "hash",
    "challenge",
    "nonce",
    "credential",
];

/// Comparisons that look like secret material and are not: (file, the comparison as the
/// scanner prints it, why it is safe).
const ALLOWED: &[(&str, &str, &str)] = &[(
    "src/domain/webhook_signature.rs",
    "*version == SIGNATURE_VERSION",
    "the signature's version label (`v1`), public, not the signature",
)];

/// Types whose names mark secret material but that are labels, errors or public data, so
/// deriving `PartialEq` is fine: (file, type, why).
const ALLOWED_DERIVES: &[(&str, &str, &str)] = &[
    ("src/storage/central/companies.rs", "SecretKind", "which secret to rotate: a label"),
    ("src/wire/company.rs", "SecretKindWire", "which secret to rotate: a label"),
    ("src/wire/sync.rs", "RevokedToken", "a revoked token's jti and expiry: public ids, not the token"),
    ("src/domain/webhook_signature.rs", "SignatureError", "an error kind"),
    ("src/domain/token/jwt.rs", "TokenError", "an error kind"),
];

/// One comparison or derive the guard refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    file: String,
    line: usize,
    text: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: `{}`", self.file, self.line, self.text)
    }
}

#[test]
fn secrets_are_compared_only_in_constant_time() {
    // Proves no `==`/`!=`/`.eq`/`.ne` touches secret-named expressions in src/, and no secret-named type derives PartialEq, outside the allow-list.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    assert!(files.len() > 50, "scanned only {} files", files.len());
    let mut findings = Vec::new();
    let mut used = BTreeSet::new();
    for path in &files {
        let source = fs::read_to_string(path).expect("source");
        let name = path.strip_prefix(root).expect("under the crate").to_string_lossy().replace('\\', "/");
        for finding in scan(&name, &source) {
            let allowed = ALLOWED.iter().chain(ALLOWED_DERIVES).position(|(f, t, _)| *f == name && *t == finding.text);
            match allowed {
                Some(i) => {
                    used.insert(i);
                }
                None => findings.push(finding.to_string()),
            }
        }
    }
    assert!(
        findings.is_empty(),
        "secret material compared with ==/!= (use Secret::ct_eq, SecretDigest::matches or an HMAC's \
         verify_slice), or allow it with a reason in tests/it/security_secrets.rs:\n  {}",
        findings.join("\n  ")
    );
    let entries: Vec<_> = ALLOWED.iter().chain(ALLOWED_DERIVES).collect();
    let stale: Vec<String> = (0..entries.len())
        .filter(|i| !used.contains(i))
        .map(|i| format!("{}: {}", entries[i].0, entries[i].1))
        .collect();
    assert!(stale.is_empty(), "allow-list entries that match nothing any more: {stale:?}");
}

#[test]
fn the_scanner_flags_secret_comparisons_and_spares_the_rest() {
    // Proves the scanner catches ==, != and .eq on secret names (fields, calls, CamelCase types), reports the line, and ignores lengths, comments, strings, other names and test modules.
    let source = "fn f(a: &Secret, stored: &str) -> bool {\n\
                  \x20   let ok = a.expose() == stored && token_hash != other;\n\
                  \x20   if record.client_secret == given { return true; }\n\
                  \x20   let n = token.len() == 43; // token == x\n\
                  \x20   let s = \"secret == plain\";\n\
                  \x20   if status == 404 || kind != Kind::Secret { }\n\
                  \x20   presented.eq(&expected_signature)\n\
                  }\n\
                  #[derive(Debug, PartialEq)]\npub struct SessionToken(String);\n\
                  #[cfg(test)]\nmod tests {\n    fn t() { assert!(token == other_token); }\n}\n\
                  #[cfg(test)]\n#[path = \"t.rs\"]\nmod more;\nfn g() -> bool { secret_a == b }\n";
    let found: Vec<(usize, String)> = scan("src/x.rs", source).into_iter().map(|f| (f.line, f.text)).collect();
    assert_eq!(
        found,
        vec![
            (2, "token_hash != other".to_owned()),
            (3, "record.client_secret == given".to_owned()),
            (6, "kind != Kind::Secret".to_owned()),
            (7, "presented.eq(&expected_signature)".to_owned()),
            (10, "SessionToken".to_owned()),
            (18, "secret_a == b".to_owned()),
        ]
    );
    // `a.expose() == stored` names no secret word: the guard is by name, so a `Secret` is kept
    // behind `ct_eq` by its own API (no `PartialEq`), not by this scan.
}

/// Every suspicious comparison and derive of one file.
fn scan(file: &str, source: &str) -> Vec<Finding> {
    let code = without_test_modules(&code_only(source));
    let tokens = lex(&code);
    let mut found = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let (left, right) = match token.text.as_str() {
            "==" | "!=" => (operand_back(&tokens, i), operand_forward(&tokens, i + 1)),
            "eq" | "ne" if is_method_call(&tokens, i) => {
                let close = matching_close(&tokens, i + 1).min(tokens.len() - 1);
                (operand_back(&tokens, i - 1), &tokens[i + 1..=close])
            }
            _ => continue,
        };
        let is_len = |side: &[Tok]| side.last().is_some_and(|t| t.text == ")") && side.iter().any(|t| t.text == "len");
        if is_len(left) || is_len(right) {
            continue;
        }
        if left.iter().chain(right).any(|t| is_secret_name(&t.text)) {
            let text = match token.text.as_str() {
                "eq" | "ne" => format!("{}.{}{}", join(left), token.text, join(right)),
                op => format!("{} {op} {}", join(left), join(right)),
            };
            found.push(Finding { file: file.to_owned(), line: token.line, text });
        }
    }
    found.extend(secret_derives(file, &tokens));
    found.sort_by_key(|f| f.line);
    found
}

/// `#[derive(.. PartialEq ..)]` on a struct or enum whose name marks secret material.
fn secret_derives(file: &str, tokens: &[Tok]) -> Vec<Finding> {
    let mut found = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if token.text != "derive" || tokens.get(i + 1).is_none_or(|t| t.text != "(") {
            continue;
        }
        let close = (i..tokens.len()).find(|&k| tokens[k].text == ")").unwrap_or(tokens.len());
        if !tokens[i..close].iter().any(|t| t.text == "PartialEq") {
            continue;
        }
        let item = tokens[close..].iter().position(|t| t.text == "struct" || t.text == "enum").map(|p| close + p + 1);
        if let Some(name) = item.and_then(|k| tokens.get(k)).filter(|t| is_secret_name(&t.text)) {
            found.push(Finding { file: file.to_owned(), line: name.line, text: name.text.clone() });
        }
    }
    found
}

fn join(tokens: &[Tok]) -> String {
    let mut out = String::new();
    for t in tokens {
        let glue = out.is_empty()
            || matches!(t.text.as_str(), "." | "(" | ")" | "[" | "]" | "::" | "?" | ",")
            || out.ends_with(['.', '(', '[', '&', '*', '!'])
            || out.ends_with("::");
        if !glue {
            out.push(' ');
        }
        out.push_str(&t.text);
        if t.text == "," {
            out.push(' ');
        }
    }
    out
}

fn is_method_call(tokens: &[Tok], i: usize) -> bool {
    i > 0 && tokens[i - 1].text == "." && tokens.get(i + 1).is_some_and(|t| t.text == "(")
}

/// Tokens that end an operand when met at depth 0.
const BOUNDARY: &[&str] = &[
    ",", ";", "&&", "||", "=", "=>", "==", "!=", "|", "+=", "-=", "|=", "&=", "^=", "return", "if", "while", "let",
    "match", "in", "else", "{", "}", "assert", "<", ">", "<=", ">=",
];

/// The operand ending just before `end` (exclusive).
fn operand_back(tokens: &[Tok], end: usize) -> &[Tok] {
    let mut depth = 0usize;
    let mut k = end;
    while k > 0 {
        let t = tokens[k - 1].text.as_str();
        match t {
            ")" | "]" => depth += 1,
            "(" | "[" if depth == 0 => break,
            "(" | "[" => depth -= 1,
            _ if depth == 0 && BOUNDARY.contains(&t) => break,
            _ => {}
        }
        k -= 1;
    }
    &tokens[k..end]
}

/// The operand starting at `start`.
fn operand_forward(tokens: &[Tok], start: usize) -> &[Tok] {
    let mut depth = 0usize;
    let mut k = start;
    while k < tokens.len() {
        let t = tokens[k].text.as_str();
        match t {
            "(" | "[" => depth += 1,
            ")" | "]" if depth == 0 => break,
            ")" | "]" => depth -= 1,
            _ if depth == 0 && BOUNDARY.contains(&t) => break,
            _ => {}
        }
        k += 1;
    }
    &tokens[start..k]
}

fn matching_close(tokens: &[Tok], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in tokens.iter().enumerate().skip(open) {
        match t.text.as_str() {
            "(" | "[" => depth += 1,
            ")" | "]" => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// Whether an identifier contains a secret word (split on `_` and on lower→upper case changes).
fn is_secret_name(ident: &str) -> bool {
    if !ident.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        return false;
    }
    let mut words = Vec::new();
    for part in ident.split('_') {
        let mut word = String::new();
        let mut previous_lower = false;
        for c in part.chars() {
            if c.is_uppercase() && previous_lower {
                words.push(std::mem::take(&mut word));
            }
            previous_lower = c.is_lowercase() || c.is_ascii_digit();
            word.extend(c.to_lowercase());
        }
        words.push(word);
    }
    words.iter().any(|w| {
        SECRET_WORDS.iter().any(|s| w == s || w.strip_suffix('s') == Some(s) || w.strip_suffix("es") == Some(s))
    })
}

/// Blanks every `#[cfg(test)]` item (a test module or function), keeping newlines.
fn without_test_modules(code: &str) -> String {
    let mut out = code.to_owned();
    let mut from = 0;
    while let Some(at) = out[from..].find("#[cfg(test)]").map(|p| p + from) {
        let Some(open) = out[at..].find(['{', ';']).map(|p| p + at) else { break };
        let mut depth = 0usize;
        let mut end = out.len();
        if out[open..].starts_with(';') {
            // `#[cfg(test)] #[path = ".."] mod tests;`: the item ends here.
            end = open + 1;
        }
        for (k, c) in out[open..end].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let blank: String = out[at..end].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
        out.replace_range(at..end, &blank);
        from = end;
    }
    out
}

/// One token: an identifier or number, a two-character operator, or one other character.
#[derive(Debug, Clone)]
struct Tok {
    text: String,
    line: usize,
}

const TWO_CHAR: &[&str] =
    &["==", "!=", "&&", "||", "=>", "::", "->", "<=", ">=", "+=", "-=", "|=", "&=", "^=", "*=", "/="];

fn lex(code: &str) -> Vec<Tok> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Tok { text: chars[start..i].iter().collect(), line });
        } else {
            let pair: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let len = if TWO_CHAR.contains(&pair.as_str()) { 2 } else { 1 };
            tokens.push(Tok { text: chars[i..i + len].iter().collect(), line });
            i += len;
        }
    }
    tokens
}
