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

/// The README's exit-code table: every code `src/error.rs` defines has a
/// row, no row names a code that does not exist, and what the binary does
/// matches what the rows say for the cases the table names.
#[test]
fn the_exit_code_table_is_the_one_the_binary_uses() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let table = &readme[readme.find("## Exit codes").expect("an exit-code table")..];
    let rows: std::collections::BTreeMap<i32, String> = table
        .lines()
        .skip_while(|l| !l.starts_with("| 0 "))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let mut cells = l.split('|').map(str::trim).skip(1);
            Some((cells.next()?.parse().ok()?, cells.next()?.to_owned()))
        })
        .collect();
    let source = std::fs::read_to_string(common::root().join("src/error.rs")).unwrap();
    let mut defined: Vec<i32> = source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| l.split_once(": i32 = "))
        .map(|(_, n)| n.trim_end_matches(';').parse().unwrap())
        .collect();
    defined.push(0);
    defined.sort_unstable();
    let documented: Vec<i32> = rows.keys().copied().collect();
    assert_eq!(documented, defined, "README rows vs src/error.rs codes");

    let code = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_clawbake"))
            .args(args)
            .env("CLAWBAKE_SITE", common::example_site())
            .output()
            .unwrap()
            .status
            .code()
            .unwrap()
    };
    let missing = code(&["build", "/nonexistent/site.toml"]);
    assert!(
        rows[&missing].contains("site file"),
        "{missing}: {}",
        rows[&missing]
    );
    let bad_host = code(&["plan", "--host", "root@203.0.113.7:1:2"]);
    assert!(
        rows[&bad_host].contains("`--host`"),
        "{bad_host}: {}",
        rows[&bad_host]
    );
    let unparsed = code(&["build", "--no-such-flag"]);
    assert!(
        rows[&unparsed].contains("could not be parsed"),
        "{unparsed}"
    );
}
