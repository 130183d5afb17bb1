//! A bounded fuzz of the site loader: `init`'s site.toml, filled in so it
//! builds, then mutated (bytes cut, tokens that TOML, numbers and
//! terminals trip on put in, lines doubled). Whatever the mutation, a
//! build ends in a site (exit 0) or in diagnostics (exit 3): never a panic,
//! never another exit code, and never a touched `dist/` after a failure.
//! The case counts bound the time: about 15 s in a debug build.

use std::path::Path;
use std::process::Command;

use clawbake::config::SiteInput;
use proptest::prelude::*;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL457cmlFdEw20vdsCn2uQjzu7M60nY1L275JJONFUyD fuzz@test";

/// `clawbake init`'s site.toml with its TODOs answered.
fn seed() -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_clawbake"))
        .arg("init")
        .arg(dir.path().join("site"))
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {out:?}");
    let text = std::fs::read_to_string(dir.path().join("site/site.toml")).unwrap();
    let filled = text
        .replace(
            "authorized_keys = []",
            &format!("authorized_keys = [\"{KEY}\"]"),
        )
        .replace("admin_cidrs = []", "admin_cidrs = [\"198.51.100.7\"]")
        .replace("openclaw.example.com", "claw.example.net");
    assert_ne!(
        text, filled,
        "init's template changed: update the fuzz seed"
    );
    filled
}

/// Pieces that each consumer of a site value could misread.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "=",
    "[",
    "]",
    "[[",
    "{",
    "}",
    ",",
    ".",
    "#",
    "\n",
    "\\",
    "-1",
    "0",
    "22.0",
    "1e309",
    "inf",
    "nan",
    "99999999999999999999",
    "-9223372036854775809",
    "true",
    "\"\"",
    "\u{1b}[2J",
    "\u{202e}",
    "\u{0}",
    "${HOME}",
    "$(id)",
    "`id`",
    "; rm -rf /",
    "\r\n",
    "include = [\"/dev/zero\"]",
    "include = [\"site.toml\"]",
    "[site]",
    "[stack]",
    "ssh_port = 0",
    "tier = \"huge\"",
    "admin_cidrs = [\"0.0.0.0/0\"]",
    "a.b.c = 1",
    "\"\"\"",
    "'''",
    " = ",
    "0x10",
    "1_000",
    "2026-12-07T00:00:00Z",
    "[[models]]",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Cut `len` bytes at a position (a fraction of the text).
    Cut(f64, usize),
    /// Put a token in at a position.
    Insert(f64, usize),
    /// Repeat the line at a position.
    Double(f64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0.0..1.0f64, 1..40usize).prop_map(|(at, len)| Mutation::Cut(at, len)),
        (0.0..1.0f64, 0..TOKENS.len()).prop_map(|(at, t)| Mutation::Insert(at, t)),
        (0.0..1.0f64).prop_map(Mutation::Double),
    ]
}

fn boundary(text: &str, at: f64) -> usize {
    // The fraction picks a byte, rounded down to a character boundary.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let mut i = ((text.len() as f64) * at) as usize;
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut text = text.to_owned();
    for m in mutations {
        match *m {
            Mutation::Cut(at, len) => {
                let start = boundary(&text, at);
                let mut end = (start + len).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(start..end, "");
            }
            Mutation::Insert(at, t) => {
                let i = boundary(&text, at);
                text.insert_str(i, TOKENS[t]);
            }
            Mutation::Double(at) => {
                let i = boundary(&text, at);
                let start = text[..i].rfind('\n').map_or(0, |n| n + 1);
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n + 1);
                let line = text[start..end].to_owned();
                text.insert_str(end, &line);
            }
        }
    }
    text
}

/// Every file under `dir` with its bytes, to tell whether it changed.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// In process, many cases: no panic, and a failure is the input's
    /// (exit 3), never an internal error.
    #[test]
    fn a_mutated_site_builds_or_is_refused_with_diagnostics(
        mutations in prop::collection::vec(mutation(), 1..6)
    ) {
        let text = apply(&seed_text(), &mutations);
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site.toml");
        std::fs::write(&site, &text).unwrap();
        let built = std::panic::catch_unwind(|| clawbake::pipeline::build(&SiteInput::File(site.clone())));
        let Ok(result) = built else {
            panic!("the build panicked on:\n{text}");
        };
        if let Err(e) = result {
            prop_assert_eq!(e.code(), 3, "{}\n---\n{}", e.render(false), text);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    /// The binary, fewer cases: exit 0 or 3, and a `dist/` from an earlier
    /// good build is left as it was when the build fails.
    #[test]
    fn the_binary_exits_0_or_3_and_keeps_dist_on_failure(
        mutations in prop::collection::vec(mutation(), 1..6)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site.toml");
        let dist = dir.path().join("dist");
        std::fs::write(&site, seed_text()).unwrap();
        let good = Command::new(env!("CARGO_BIN_EXE_clawbake"))
            .arg("build").arg(&site).arg("--out").arg(&dist)
            .output().unwrap();
        prop_assert!(good.status.success(), "the seed builds: {:?}", good);
        let before = snapshot(&dist);

        let text = apply(&seed_text(), &mutations);
        std::fs::write(&site, &text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_clawbake"))
            .arg("build").arg(&site).arg("--out").arg(&dist)
            .env("NO_COLOR", "1")
            .output().unwrap();
        let code = out.status.code();
        let stderr = String::from_utf8_lossy(&out.stderr);
        prop_assert!(code == Some(0) || code == Some(3), "exit {:?}: {}\n---\n{}", code, stderr, text);
        prop_assert!(!stderr.contains("panicked"), "{}", stderr);
        if code == Some(3) {
            prop_assert!(snapshot(&dist) == before, "dist/ changed after a failed build:\n{}", stderr);
        }
    }
}

/// The seed, made once for all cases.
fn seed_text() -> String {
    static SEED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SEED.get_or_init(seed).clone()
}
