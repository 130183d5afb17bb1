//! `clawbake init`: a site that names what is left to do, takes the user's
//! own key when there is one, and never overwrites a site.

use std::process::Command;

fn clawbake(dir: &std::path::Path, home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_clawbake"))
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn init_then_build_asks_only_for_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL457cmlFdEw20vdsCn2uQjzu7M60nY1L275JJONFUyD me@laptop";
    std::fs::write(home.join(".ssh/id_ed25519.pub"), format!("{key}\n")).unwrap();

    let out = clawbake(dir.path(), &home, &["init", "mysite"]);
    assert!(out.status.success());
    let site = std::fs::read_to_string(dir.path().join("mysite/site.toml")).unwrap();
    assert!(site.contains(key), "the user's key was not put in:\n{site}");

    // Unedited, the build refuses: nobody could reach SSH.
    let out = clawbake(dir.path(), &home, &["build", "mysite/site.toml"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: no admin address: the firewall would let nobody reach SSH\n"),
        "{err}"
    );
    assert!(!err.contains("no SSH key"), "{err}");

    std::fs::write(
        dir.path().join("mysite/site.toml"),
        site.replace("admin_cidrs = []", "admin_cidrs = [\"203.0.113.7\"]"),
    )
    .unwrap();
    let out = clawbake(dir.path(), &home, &["build", "mysite/site.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = clawbake(dir.path(), &home, &["init", "mysite"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: `mysite/site.toml` already exists\n  = help: edit it, or choose another directory than `mysite`\n"
    );
}
