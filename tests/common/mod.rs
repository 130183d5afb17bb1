//! Shared by the integration tests: the sites they build, and running
//! external checkers honestly (run, or say why not; never skip under CI).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use clawbake::config::SiteInput;
use clawbake::pipeline::{self, Built};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example site as a file: what the host tests act on (a command
/// that acts on a server never takes the built-in example), found through
/// `CLAWBAKE_SITE`. It builds the same bundle as the built-in one.
pub fn example_site() -> PathBuf {
    root().join("sites/example/site.toml")
}

/// The example site and the test variants, by name.
pub fn sites() -> Vec<(&'static str, SiteInput)> {
    vec![
        ("example", SiteInput::Example),
        (
            "tunnel",
            SiteInput::File(root().join("tests/sites/tunnel/site.toml")),
        ),
        (
            "growth",
            SiteInput::File(root().join("tests/sites/growth/site.toml")),
        ),
        (
            "current",
            SiteInput::File(root().join("tests/sites/current/site.toml")),
        ),
    ]
}

pub fn build(input: &SiteInput) -> Built {
    match pipeline::build(input) {
        Ok(b) => b,
        Err(e) => panic!("building {input:?} failed:\n{}", e.render(false)),
    }
}

/// Build a site and write its dist/ into a fresh temp dir.
pub fn build_to_dir(input: &SiteInput) -> (tempfile::TempDir, PathBuf, Built) {
    let dir = tempfile::tempdir().expect("temp dir");
    let dist = dir.path().join("dist");
    let built = build(input);
    built.bundle.write(&dist).expect("writing dist");
    (dir, dist, built)
}

/// The path of an external tool, or `None` after saying it was skipped.
/// Under `CI=true` a missing tool fails the test instead.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`{name}` is required under CI=true (.ci/run installs it)"
        );
        eprintln!("SKIPPED: `{name}` is not installed; install it to run this check");
    }
    found
}

/// A tool `.ci/run` provides by path in the environment variable `var`
/// (from a Debian 13 root, where Debian 12's is missing or too old), else
/// `fallback` on the PATH, as [`tool`] finds it.
pub fn tool_at(var: &str, fallback: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) => Some(PathBuf::from(path)),
        None => tool(fallback),
    }
}

/// Run a command and fail the test with its output if it fails.
pub fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
pub mod fakehost;
pub mod registry;
pub mod stub;

/// stderr without the line naming the site that a host command starts
/// with (tests/cli.rs checks that line for every command), so a test
/// compares the rest exactly.
pub fn without_site_line(stderr: String) -> String {
    match stderr.split_once('\n') {
        Some((first, rest)) if first.starts_with("clawbake ") && first.contains(": site ") => {
            rest.to_owned()
        }
        _ => stderr,
    }
}
