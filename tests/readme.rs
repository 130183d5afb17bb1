//! The README's worked example is a real site: it must build, and the
//! `explain` output the README shows must be what clawbake prints.

mod common;

use std::process::Command;

/// The fenced block that follows `marker` in the README.
fn block_after(readme: &str, marker: &str, fence: &str) -> String {
    let start = readme
        .find(marker)
        .unwrap_or_else(|| panic!("README lacks `{marker}`"));
    let rest = &readme[start..];
    let open = rest.find(fence).expect("a fenced block") + fence.len();
    let body = &rest[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..=body.find("\n```").unwrap()].to_owned()
}

#[test]
fn the_worked_example_builds_and_explains_as_documented() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let site = block_after(&readme, "A worked example", "```toml");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mysite")).unwrap();
    std::fs::write(dir.path().join("mysite/site.toml"), &site).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_clawbake"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&["build", "mysite/site.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let expected = block_after(&readme, "then says:", "```");
    let out = run(&[
        "explain",
        "stack.services.gateway.memory_mib",
        "mysite/site.toml",
    ]);
    let got = String::from_utf8(out.stdout).unwrap();
    // The README leaves out the trailing `layers:` line.
    let got: String =
        got.lines()
            .filter(|l| !l.starts_with("layers:"))
            .fold(String::new(), |mut acc, l| {
                acc.push_str(l);
                acc.push('\n');
                acc
            });
    assert_eq!(got, expected);
}
