//! What looks like a secret in a site file: the key names and value
//! shapes that mark one, used to refuse a secret in a site and to mask
//! one in the snippet of a line that does not parse.

use crate::diagnostic::source::{Origin, SourceKind, Sources};

/// Key names and value shapes that mark a secret.
pub fn looks_secret(key: &str, value: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let secret_key = [
        "token",
        "secret",
        "password",
        "passwd",
        "api_key",
        "apikey",
        "private_key",
    ]
    .iter()
    .any(|k| key.contains(k));
    let secret_shape = ["sk-", "xoxb-", "ghp_", "github_pat_", "pa-", "AKIA"]
        .iter()
        .any(|p| value.starts_with(p) && value.len() >= 20)
        || value.contains("PRIVATE KEY")
        // A URL with a password in it (`https://user:password@host/`).
        || value.split_once("://").is_some_and(|(_, rest)| {
            rest.split('/')
                .next()
                .and_then(|authority| authority.rsplit_once('@'))
                .is_some_and(|(userinfo, _)| userinfo.contains(':'))
        })
        // Telegram bot tokens: digits, a colon, 35 characters.
        || value.split_once(':').is_some_and(|(id, rest)| {
            id.len() >= 6 && id.bytes().all(|b| b.is_ascii_digit()) && rest.len() >= 30
        });
    // `*_secret` keys name a secret (api_key_secret = "ANTHROPIC_API_KEY");
    // only a value that is not such a name can be the secret itself.
    let names_a_secret = key.ends_with("_secret")
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    // `rotate_token_schedule` is when the token rotates, not a token.
    let names_a_schedule = key.ends_with("_schedule");
    (secret_key && !names_a_secret && !names_a_schedule && !value.is_empty()) || secret_shape
}

/// Mask what looks like a secret in the user's files, line by line, for
/// when they do not parse as TOML: a snippet of the broken line must not
/// show the key on it (an unterminated string runs to the line's end).
pub fn redact_secret_lines(sources: &mut Sources) {
    let mut found = Vec::new();
    for (id, source) in sources.iter() {
        if source.kind != SourceKind::User {
            continue;
        }
        let mut at = 0;
        for line in source.text.split_inclusive('\n') {
            if let Some(span) = secret_on_line(line) {
                found.push(Origin {
                    source: id,
                    span: at + span.start..at + span.end,
                });
            }
            at += line.len();
        }
    }
    for origin in found {
        sources.redact(&origin);
    }
}

/// The span of the value on a `key = value` line, when it looks secret.
fn secret_on_line(line: &str) -> Option<std::ops::Range<usize>> {
    let eq = line.find('=')?;
    let key = line[..eq].trim().trim_matches(['"', '\'']);
    let key = key.rsplit('.').next().unwrap_or(key);
    let rest = &line[eq + 1..];
    let start = eq + 1 + (rest.len() - rest.trim_start().len());
    let value = line[start..].trim_end_matches(['\n', '\r']);
    let (span, text) = if let Some(q @ ('"' | '\'')) = value.chars().next() {
        let inner = &value[1..];
        let end = inner.find(q).unwrap_or(inner.len());
        (start + 1..start + 1 + end, &inner[..end])
    } else {
        let end = value.find(['#', ' ', '\t']).unwrap_or(value.len());
        (start..start + end, &value[..end])
    };
    (!text.is_empty() && looks_secret(key, text)).then_some(span)
}
