//! Backups against the throwaway test host (`tests/common/fakehost.rs`)
//! running the release's own `clawbake-backup` with real restic (Debian
//! 13's, the version the test guests run), a recording stand-in for
//! `docker`, and the example's release in place. What comes off the host
//! is then read with restic here, without the host.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use clawbake::config::SiteInput;
use common::fakehost::FakeHost;
use common::tool_at;

const UBUNTU: (&str, &str, &str) = ("ubuntu", "24.04", "Ubuntu 24.04.3 LTS");
const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn clawbake(host: &FakeHost, words: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawbake"));
    cmd.args(words)
        .arg("--host")
        .arg(host.host_arg("root"))
        .args(host.ssh_args());
    run(&mut cmd)
}

/// Run clawbake without an agent or stdin; the password never in its output.
fn run(cmd: &mut Command) -> Run {
    let out = cmd
        .env_remove("SSH_AUTH_SOCK")
        .env("CLAWBAKE_SITE", common::example_site())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: common::without_site_line(String::from_utf8_lossy(&out.stderr).into_owned()),
    };
    assert!(
        !run.stdout.contains(KEY) && !run.stderr.contains(KEY),
        "the repository password was printed"
    );
    run
}

/// restic here, on a copy pulled off the host.
fn restic(bin: &Path, repo: &Path, password: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin)
        .arg("-r")
        .arg(repo)
        .arg("--password-file")
        .arg(password)
        .arg("--no-cache")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A host with the example's release, restic, OpenClaw's state and the
/// secrets a first provision leaves.
fn host_with_state(restic: &Path) -> FakeHost {
    let host = FakeHost::start(UBUNTU).expect("sshd and unshare are installed");
    host.install_release(&common::build(&SiteInput::Example));
    tools_and_state(&host, restic);
    host
}

fn tools_and_state(host: &FakeHost, restic: &Path) {
    let bin = host.on_host("/usr/bin/restic");
    std::fs::copy(restic, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    // docker: records each call; the gateway runs until stopped.
    std::fs::create_dir_all(host.on_host("/var/log")).unwrap();
    std::fs::write(
        host.on_host("/usr/bin/docker"),
        r#"#!/bin/bash
echo "$*" >> /var/log/docker-calls
case "$*" in
  'container inspect openclaw')
    s=running; [ -e /run/gateway-stopped ] && s=exited
    echo "[{\"State\":{\"Status\":\"$s\"}}]";;
  'stop openclaw') : > /run/gateway-stopped;;
  'start openclaw') rm -f /run/gateway-stopped;;
  'inspect -f '*) echo healthy;;
  # With /run/slow, the compose stop and up take a while (a cut test).
  *' stop openclaw'|*' up -d '*) if [ -e /run/slow ]; then sleep 2; fi;;
esac
"#,
    )
    .unwrap();
    std::fs::set_permissions(
        host.on_host("/usr/bin/docker"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::create_dir_all(host.on_host("/run")).unwrap();
    let state = host.on_host("/var/lib/openclaw");
    std::fs::create_dir_all(state.join("agents/main")).unwrap();
    std::fs::write(state.join("marker"), "written before the backup\n").unwrap();
    std::fs::write(state.join("agents/main/session.jsonl"), "x".repeat(300_000)).unwrap();
    let secrets = host.on_host("/opt/clawbake/secrets");
    std::fs::create_dir_all(secrets.join("env")).unwrap();
    std::fs::write(secrets.join("BACKUP_KEY"), KEY).unwrap();
    std::fs::write(secrets.join("ANTHROPIC_API_KEY"), "sk-ant-user").unwrap();
    std::fs::write(secrets.join("env/openclaw.env"), "X=derived\n").unwrap();
}

#[test]
#[allow(clippy::too_many_lines)]
fn a_backup_pauses_the_gateway_and_comes_off_the_host_readable_without_it() {
    let Some(restic_bin) = tool_at("CLAWBAKE_RESTIC", "restic") else {
        return;
    };
    if common::tool("sshd").is_none() || common::tool("unshare").is_none() {
        return;
    }
    let host = host_with_state(&restic_bin);
    let local = tempfile::tempdir().unwrap();
    let to = local.path().join("backups");
    let password = local.path().join("password");
    let to_s = to.display().to_string();
    let password_s = password.display().to_string();

    let run = clawbake(
        &host,
        &["backup", "--to", &to_s, "--password-file", &password_s],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("the gateway was paused for "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("each checked against its name"),
        "{}",
        run.stdout
    );
    let calls = std::fs::read_to_string(host.on_host("/var/log/docker-calls")).unwrap();
    let pause = calls
        .find("pause openclaw")
        .expect("the gateway was paused");
    let resume = calls.find("unpause openclaw").expect("and resumed");
    assert!(pause < resume, "{calls}");
    // The user's copy of the password: 0600, the host's key.
    assert_eq!(std::fs::read_to_string(&password).unwrap(), KEY);
    assert_eq!(
        std::fs::metadata(&password).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Read here, without the host: the state, the secrets, the manifest,
    // and not what the host derives from them.
    let repo = to.join("restic");
    let (ok, out) = restic(&restic_bin, &repo, &password, &["check", "--read-data"]);
    assert!(ok, "{out}");
    let dump = |path: &str| restic(&restic_bin, &repo, &password, &["dump", "latest", path]);
    let (ok, marker) = dump("/var/lib/openclaw/marker");
    assert!(ok && marker == "written before the backup\n", "{marker}");
    let (ok, key) = dump("/opt/clawbake/secrets/ANTHROPIC_API_KEY");
    assert!(ok && key == "sk-ant-user", "{key}");
    let (ok, _) = dump("/opt/clawbake/secrets/env/openclaw.env");
    assert!(!ok, "the derived env file was backed up");
    let (ok, manifest) = dump("/var/lib/clawbake/backup/backup.json");
    assert!(ok, "{manifest}");
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(m["site"], "openclaw");
    assert_eq!(m["release"].as_str().unwrap().len(), 16);

    // A second backup: only what changed travels.
    std::fs::write(
        host.on_host("/var/lib/openclaw/marker"),
        "written between backups\n",
    )
    .unwrap();
    let run = clawbake(&host, &["backup", "--to", &to_s]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let list = clawbake(&host, &["backup", "list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", list.stdout);
    assert!(lines[0].starts_with("ID "), "{}", list.stdout);
    // Oldest first: the times, column two.
    assert!(lines[1][10..29] <= lines[2][10..29], "{}", list.stdout);
    let (ok, snapshots) = restic(&restic_bin, &repo, &password, &["snapshots", "--json"]);
    assert!(ok);
    let snapshots: serde_json::Value = serde_json::from_str(&snapshots).unwrap();
    assert_eq!(snapshots.as_array().unwrap().len(), 2);
    let check = clawbake(&host, &["backup", "check"]);
    assert_eq!(check.code, 0, "{}", check.stderr);

    // A pack changed on the host: restic on the host says so, and the copy
    // refuses it and keeps what it had.
    let data = host.on_host("/var/backups/clawbake/restic/data");
    let pack = walk(&data)
        .into_iter()
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&pack, bytes).unwrap();
    let check = clawbake(&host, &["backup", "check"]);
    assert_eq!(check.code, 1, "{}", check.stdout);
    assert!(check.stderr.contains("damaged"), "{}", check.stderr);
    let before = walk(&repo).len();
    let fresh = local.path().join("fresh");
    let run = clawbake(&host, &["backup", "--to", &fresh.display().to_string()]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("does not match its name"),
        "{}",
        run.stderr
    );
    assert!(
        !fresh.join("restic/config").exists(),
        "a refused copy holds a config"
    );
    assert_eq!(walk(&repo).len(), before);
    let (ok, out) = restic(&restic_bin, &repo, &password, &["check", "--read-data"]);
    assert!(ok, "the earlier copy was damaged: {out}");
}

#[test]
fn a_password_file_is_never_written_over_and_no_repository_is_an_error_that_says_what_to_do() {
    let Some(restic_bin) = tool_at("CLAWBAKE_RESTIC", "restic") else {
        return;
    };
    if common::tool("sshd").is_none() || common::tool("unshare").is_none() {
        return;
    }
    let host = host_with_state(&restic_bin);
    let local = tempfile::tempdir().unwrap();
    let password = local.path().join("password");
    std::fs::write(&password, "mine").unwrap();
    let run = clawbake(
        &host,
        &["backup", "--password-file", &password.display().to_string()],
    );
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        format!(
            "error: {} exists; it is not written over\n  = help: name a new file, or leave out --password-file\n",
            password.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&password).unwrap(), "mine");
    assert!(!host.on_host("/var/backups/clawbake/restic").exists());
    let list = clawbake(&host, &["backup", "list"]);
    assert_eq!(list.code, 1);
    assert!(
        list.stderr
            .contains("the host has no backup repository yet"),
        "{}",
        list.stderr
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// `secrets rotate BACKUP_KEY`: restic changes the repository's key, so
/// every backup opens with the new key and none with the old; a copy
/// pulled before still opens with the password saved then.
#[test]
fn the_backup_key_rotates_with_every_backup_still_readable() {
    let Some(restic_bin) = tool_at("CLAWBAKE_RESTIC", "restic") else {
        return;
    };
    if common::tool("sshd").is_none() || common::tool("unshare").is_none() {
        return;
    }
    let host = host_with_state(&restic_bin);
    let local = tempfile::tempdir().unwrap();
    let (before, old_pw) = (local.path().join("before"), local.path().join("old"));
    let run = clawbake(
        &host,
        &[
            "backup",
            "--to",
            &before.display().to_string(),
            "--password-file",
            &old_pw.display().to_string(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    let run = clawbake(&host, &["secrets", "rotate", "BACKUP_KEY"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("is stale"), "{}", run.stdout);
    let new_key =
        std::fs::read_to_string(host.on_host("/opt/clawbake/secrets/BACKUP_KEY")).unwrap();
    assert!(new_key.len() == 64 && new_key != KEY, "{}", new_key.len());
    assert!(!run.stdout.contains(&new_key) && !run.stderr.contains(&new_key));

    // The host's backups: listed (restic opens them with the new key).
    let list = clawbake(&host, &["backup", "list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert_eq!(list.stdout.lines().count(), 2, "{}", list.stdout);
    // A fresh copy: the new password opens it, the old one does not.
    let (after, new_pw) = (local.path().join("after"), local.path().join("new"));
    let run = clawbake(
        &host,
        &[
            "backup",
            "--to",
            &after.display().to_string(),
            "--password-file",
            &new_pw.display().to_string(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let snapshots =
        |repo: &Path, pw: &Path| restic(&restic_bin, repo, pw, &["snapshots", "--json"]);
    let (ok, out) = snapshots(&after.join("restic"), &new_pw);
    assert!(ok, "{out}");
    let n: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        n.as_array().unwrap().len(),
        2,
        "both backups, the one before too"
    );
    let (ok, _) = snapshots(&after.join("restic"), &old_pw);
    assert!(!ok, "the old key still opens the repository");
    // The copy pulled before the rotation is unchanged, and its own.
    let (ok, out) = snapshots(&before.join("restic"), &old_pw);
    assert!(ok, "{out}");
}

/// A copy put back onto another host of the site; and every refusal
/// first, each before the host changes.
#[test]
#[allow(clippy::too_many_lines)]
fn restore_puts_a_copy_onto_a_host_of_its_site_and_refuses_everything_else_unchanged() {
    let Some(restic_bin) = tool_at("CLAWBAKE_RESTIC", "restic") else {
        return;
    };
    if common::tool("sshd").is_none() || common::tool("unshare").is_none() {
        return;
    }
    let old = host_with_state(&restic_bin);
    let local = tempfile::tempdir().unwrap();
    let (copy, password) = (local.path().join("copy"), local.path().join("pw"));
    let (copy_s, password_s) = (copy.display().to_string(), password.display().to_string());
    let run = clawbake(
        &old,
        &["backup", "--to", &copy_s, "--password-file", &password_s],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // The new host: a release of its own site, its own state and key.
    let new = FakeHost::start(UBUNTU).unwrap();
    new.install_release(&common::build(&SiteInput::File(
        common::root().join("tests/sites/tunnel/site.toml"),
    )));
    tools_and_state(&new, &restic_bin);
    let state = new.on_host("/var/lib/openclaw/marker");
    std::fs::write(&state, "the new host's own\n").unwrap();
    let secrets = new.on_host("/opt/clawbake/secrets");
    std::fs::write(secrets.join("BACKUP_KEY"), "b".repeat(64)).unwrap();
    std::fs::remove_file(secrets.join("ANTHROPIC_API_KEY")).unwrap();
    let unchanged = |new: &FakeHost| {
        assert_eq!(
            std::fs::read_to_string(&state).unwrap(),
            "the new host's own\n"
        );
        assert!(!secrets.join("ANTHROPIC_API_KEY").exists());
        assert!(!new.on_host("/var/lib/clawbake/restore").exists());
        let calls =
            std::fs::read_to_string(new.on_host("/var/log/docker-calls")).unwrap_or_default();
        assert!(!calls.contains(" stop"), "{calls}");
    };
    let restore = |host: &FakeHost, from: &str, pw: &str| {
        clawbake(host, &["restore", from, "--password-file", pw])
    };

    // Another site's host.
    let run = restore(&new, &copy_s, &password_s);
    assert_eq!(run.code, 14, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .starts_with("error: the backup is of site `openclaw`; the host runs `clawtunnel`\n"),
        "{}",
        run.stderr
    );
    unchanged(&new);
    new.install_release(&common::build(&SiteInput::Example));

    // The wrong password.
    let wrong = local.path().join("wrong");
    std::fs::write(&wrong, "c".repeat(64)).unwrap();
    let run = restore(&new, &copy_s, &wrong.display().to_string());
    assert_eq!(run.code, 13, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("the password does not open this backup"),
        "{}",
        run.stderr
    );
    unchanged(&new);

    // A changed copy: refused here, before any connection.
    let tampered = local.path().join("tampered");
    Command::new("cp")
        .arg("-a")
        .arg(&copy)
        .arg(&tampered)
        .status()
        .unwrap();
    let pack = walk(&tampered.join("restic/data")).pop().unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[0] ^= 0x80;
    std::fs::write(&pack, bytes).unwrap();
    let run = restore(&new, &tampered.display().to_string(), &password_s);
    assert_eq!(run.code, 13, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("does not match its name"),
        "{}",
        run.stderr
    );
    unchanged(&new);

    // A host with no clawbake release.
    let bare = FakeHost::start(UBUNTU).unwrap();
    let run = restore(&bare, &copy_s, &password_s);
    assert_eq!(run.code, 15, "{}{}", run.stdout, run.stderr);

    // The restore: the old host's state and user secrets, the new host's
    // backup key, the stack stopped and started; what was there is kept.
    let run = restore(&new, &copy_s, &password_s);
    assert!(
        run.stdout.contains("restored snapshot "),
        "{}{}",
        run.stdout,
        run.stderr
    );
    // verify runs last; this host has no Docker, so it fails there.
    assert_eq!(run.code, 12, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "written before the backup\n"
    );
    assert_eq!(
        std::fs::read_to_string(secrets.join("ANTHROPIC_API_KEY")).unwrap(),
        "sk-ant-user"
    );
    assert_eq!(
        std::fs::read_to_string(secrets.join("BACKUP_KEY")).unwrap(),
        "b".repeat(64)
    );
    let calls = new.compose_calls();
    let stop = calls
        .find("stack/compose.yaml stop openclaw")
        .expect("the gateway was stopped");
    let up = calls[stop..]
        .find("up -d --no-build --wait --wait-timeout 300 --force-recreate litellm openclaw\n")
        .expect("and the services that read state or secrets recreated, no other");
    assert!(up > 0);
    let kept = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("the state from before is kept on the host at "))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(new.on_host(kept).join("marker")).unwrap(),
        "the new host's own\n"
    );
    assert!(!new.on_host("/var/lib/clawbake/restore").exists());
}

/// `clawbake migrate` between two throwaway hosts of the example site. They
/// have no Docker, so the new host fails verify after the restore: the
/// state has moved, the new gateway is stopped and the old one started
/// again. Then `--abort`, and the refusals.
#[test]
#[allow(clippy::too_many_lines)]
fn migrate_moves_the_state_and_puts_the_old_gateway_back_when_the_new_host_fails() {
    let Some(restic_bin) = tool_at("CLAWBAKE_RESTIC", "restic") else {
        return;
    };
    if common::tool("sshd").is_none() || common::tool("unshare").is_none() {
        return;
    }
    let old = host_with_state(&restic_bin);
    let new = FakeHost::start(UBUNTU).unwrap();
    new.install_release(&common::build(&SiteInput::Example));
    tools_and_state(&new, &restic_bin);
    std::fs::write(
        new.on_host("/var/lib/openclaw/marker"),
        "the new host's own\n",
    )
    .unwrap();
    // One key and one known_hosts for both, as a user has.
    std::fs::copy(old.path("client_key.pub"), new.path("authorized_keys")).unwrap();
    let (old_ssh, new_ssh) = (old.ssh_args(), new.ssh_args());
    let local = tempfile::tempdir().unwrap();
    let known = local.path().join("known_hosts");
    std::fs::write(
        &known,
        std::fs::read_to_string(&old_ssh[3]).unwrap()
            + &std::fs::read_to_string(&new_ssh[3]).unwrap(),
    )
    .unwrap();
    let copy = local.path().join("copy");
    let migrate = |from: &FakeHost, to: &FakeHost, extra: &[&str]| {
        run(Command::new(env!("CARGO_BIN_EXE_clawbake"))
            .arg("migrate")
            .arg("--from")
            .arg(from.host_arg("root"))
            .arg("--to")
            .arg(to.host_arg("root"))
            .arg("--identity")
            .arg(&old_ssh[1])
            .arg("--known-hosts")
            .arg(&known)
            .arg("--copy")
            .arg(&copy)
            .arg("--log")
            .arg(local.path().join("run.log"))
            .arg("--allow-unpinned")
            .args(extra))
    };
    let calls = |host: &FakeHost| {
        std::fs::read_to_string(host.on_host("/var/log/docker-calls")).unwrap_or_default()
    };

    // The same server on both sides.
    let run = migrate(&old, &old, &[]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("are the same server"), "{}", run.stderr);
    // From a server that runs no release: nothing anywhere changes.
    let bare = FakeHost::start(UBUNTU).unwrap();
    std::fs::copy(old.path("client_key.pub"), bare.path("authorized_keys")).unwrap();
    let bare_ssh = bare.ssh_args();
    let mut both = std::fs::read_to_string(&known).unwrap();
    both.push_str(&std::fs::read_to_string(&bare_ssh[3]).unwrap());
    std::fs::write(&known, both).unwrap();
    let run = migrate(&bare, &new, &[]);
    assert_eq!(run.code, 15, "{}{}", run.stdout, run.stderr);
    assert!(calls(&new).is_empty(), "{}", calls(&new));
    assert!(!copy.exists());

    // The move. Provision is a no-op (the new host runs the release
    // already); the old gateway stops before the backup; the new host gets
    // the old state; verify fails there (no Docker), so it goes back.
    let run = migrate(&old, &new, &[]);
    assert_eq!(run.code, 12, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("already runs this release"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "migrate: the new server's gateway is stopped, and the old server {} serves again (healthy)",
            old.host_arg("root")
        )),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_to_string(new.on_host("/var/lib/openclaw/marker")).unwrap(),
        "written before the backup\n"
    );
    let old_calls = calls(&old);
    let stop = old_calls
        .find("stop openclaw")
        .expect("the old gateway stopped");
    let backup = old_calls.find("pause openclaw");
    assert!(
        backup.is_none(),
        "a stopped gateway is not paused: {old_calls}"
    );
    let start = old_calls.find("start openclaw").expect("and started again");
    assert!(stop < start, "{old_calls}");
    let new_calls = new.compose_calls();
    let up = new_calls
        .find("up -d --no-build --wait")
        .expect("the restore started the stack");
    assert!(new_calls[up..].contains("stop openclaw"), "{new_calls}");
    let mode = std::fs::metadata(copy.join("password"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(copy.join("restic/config").is_file());

    // A second move refuses to write over the copy's password.
    let run = migrate(&old, &new, &[]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("is not written over"), "{}", run.stderr);

    // --abort: the new gateway stops, then the old one starts.
    std::fs::write(old.on_host("/var/log/docker-calls"), "").unwrap();
    std::fs::write(new.on_host("/var/log/docker-calls"), "").unwrap();
    let run = migrate(&old, &new, &["--abort"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "{}: gateway stopped\n{}: gateway started, healthy\n",
            new.host_arg("root"),
            old.host_arg("root")
        )
    );
    assert!(calls(&new).contains("stop openclaw"));
    assert!(calls(&old).contains("start openclaw"));
}

/// A restore whose connection is cut while the state is swapped in: the
/// host runs the swap to its end on its own (the gateway was stopped when
/// the client died, and every service is recreated after it).
#[test]
fn a_restore_cut_off_during_the_swap_finishes_on_the_host() {
    let Some(restic_bin) = tool_at("CLAWBAKE_RESTIC", "restic") else {
        return;
    };
    if common::tool("sshd").is_none() || common::tool("unshare").is_none() {
        return;
    }
    let old = host_with_state(&restic_bin);
    let local = tempfile::tempdir().unwrap();
    let (copy, password) = (local.path().join("copy"), local.path().join("pw"));
    let (copy_s, password_s) = (copy.display().to_string(), password.display().to_string());
    let run = clawbake(
        &old,
        &["backup", "--to", &copy_s, "--password-file", &password_s],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    let new = host_with_state(&restic_bin);
    let state = new.on_host("/var/lib/openclaw/marker");
    std::fs::write(&state, "the new host's own\n").unwrap();
    std::fs::write(new.on_host("/run/slow"), "").unwrap();
    let calls = new.on_host("/var/log/docker-calls");
    let _ = std::fs::remove_file(&calls);
    let mut child = Command::new(env!("CARGO_BIN_EXE_clawbake"))
        .args(["restore", &copy_s, "--password-file", &password_s])
        .arg("--host")
        .arg(new.host_arg("root"))
        .args(new.ssh_args())
        .env_remove("SSH_AUTH_SOCK")
        .env("CLAWBAKE_SITE", common::example_site())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = |what: &str| {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .contains(what)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !seen("compose.yaml stop openclaw") {
        assert!(std::time::Instant::now() < deadline, "no swap began");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The client dies while the gateway stops: its connection with it.
    child.kill().unwrap();
    child.wait().unwrap();
    let staging = new.on_host("/var/lib/clawbake/restore");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while staging.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the swap did not finish: {}",
            std::fs::read_to_string(&calls).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        seen("up -d --no-build --wait --wait-timeout 300 --force-recreate litellm openclaw"),
        "every service recreated after the cut: {}",
        std::fs::read_to_string(&calls).unwrap_or_default()
    );
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "written before the backup\n"
    );
    let kept: Vec<_> = std::fs::read_dir(new.on_host("/var/lib"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("openclaw.before-restore-")
                && !e.file_name().to_string_lossy().ends_with(".secrets")
        })
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        std::fs::read_to_string(kept[0].path().join("marker")).unwrap(),
        "the new host's own\n"
    );
}

/// On a terminal (a pty from util-linux's `script`), the copy coming off
/// the host and a copy going onto one each show a byte bar.
#[test]
fn transfers_show_byte_bars_on_a_terminal() {
    let Some(restic_bin) = tool_at("CLAWBAKE_RESTIC", "restic") else {
        return;
    };
    let Some(script) = common::tool("script") else {
        return;
    };
    if common::tool("sshd").is_none() || common::tool("unshare").is_none() {
        return;
    }
    let host = host_with_state(&restic_bin);
    let local = tempfile::tempdir().unwrap();
    let copy = local.path().join("copy").display().to_string();
    let password = local.path().join("pw").display().to_string();
    let on_a_terminal = |words: &[&str]| {
        let mut line = vec![env!("CARGO_BIN_EXE_clawbake").to_owned()];
        line.extend(words.iter().map(|w| (*w).to_owned()));
        line.extend(["--host".to_owned(), host.host_arg("root")]);
        line.extend(host.ssh_args());
        let line: Vec<String> = line
            .iter()
            .map(|w| clawbake::host::transport::ssh::shell_quote(w))
            .collect();
        let out = Command::new(&script)
            .args(["-q", "-e", "-c", &line.join(" "), "/dev/null"])
            .env_remove("SSH_AUTH_SOCK")
            .env("CLAWBAKE_SITE", common::example_site())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = on_a_terminal(&["backup", "--to", &copy, "--password-file", &password]);
    assert!(out.contains("copying off ["), "{out}");
    assert!(!out.contains(KEY));
    let out = on_a_terminal(&["restore", &copy, "--password-file", &password]);
    assert!(out.contains("uploading ["), "{out}");
    assert!(out.contains("restored snapshot "), "{out}");
    assert!(!out.contains(KEY));
}

/// restic's REST server on 127.0.0.1, append-only, with one user whose
/// password is in its htpasswd file as `{SHA}` (one of the forms it reads).
struct RestServer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for RestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rest_server(bin: &Path, user: &str, password: &str) -> RestServer {
    use sha1_smol_like::sha1_base64;
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(
        &htpasswd,
        format!("{user}:{{SHA}}{}\n", sha1_base64(password)),
    )
    .unwrap();
    let port = common::fakehost::free_port();
    let child = Command::new(bin)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--path")
        .arg(dir.path().join("data"))
        .arg("--htpasswd-file")
        .arg(&htpasswd)
        .arg("--append-only")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "rest-server did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    RestServer {
        child,
        port,
        _dir: dir,
    }
}

/// `{SHA}`'s digest, by `openssl` (the test names no SHA-1 crate).
mod sha1_smol_like {
    pub fn sha1_base64(text: &str) -> String {
        use std::io::Write as _;
        let mut child = std::process::Command::new("openssl")
            .args(["dgst", "-sha1", "-binary"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let digest = child.wait_with_output().unwrap().stdout;
        let mut b64 = std::process::Command::new("openssl")
            .args(["base64", "-A"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        b64.stdin.take().unwrap().write_all(&digest).unwrap();
        String::from_utf8(b64.wait_with_output().unwrap().stdout).unwrap()
    }
}

/// The site's offsite repository: each backup is copied there by the
/// host's own job, and opens from this machine with the password file and
/// the server's credentials, without the host. A wrong credential fails
/// the copy (exit 3 on the host, the local snapshot kept), and says so
/// without the credential. `secrets rotate BACKUP_KEY` rekeys it too.
#[test]
#[allow(clippy::too_many_lines)] // one story, told in order
fn backups_are_copied_offsite_and_open_there_without_the_host() {
    let Some(restic_bin) = tool_at("CLAWBAKE_RESTIC", "restic") else {
        return;
    };
    let Some(server_bin) = tool_at("CLAWBAKE_REST_SERVER", "rest-server") else {
        return;
    };
    if common::tool("sshd").is_none() || common::tool("unshare").is_none() {
        return;
    }
    let user_password = "rest-pass-0123456789";
    let server = rest_server(&server_bin, "clawbake", user_password);
    let repo = format!("rest:http://127.0.0.1:{}/openclaw", server.port);
    let local = tempfile::tempdir().unwrap();
    let site = local.path().join("site.toml");
    std::fs::write(
        &site,
        format!(
            "{}\n[backup.offsite.home]\nrepository = \"{repo}\"\nprune = false\n",
            std::fs::read_to_string(common::root().join("tests/sites/tunnel/site.toml")).unwrap()
        ),
    )
    .unwrap();
    let host = FakeHost::start(UBUNTU).unwrap();
    host.install_release(&common::build(&SiteInput::File(site.clone())));
    tools_and_state(&host, &restic_bin);
    let secrets = host.on_host("/opt/clawbake/secrets");
    let (user_secret, pass_secret) = (
        secrets.join("OFFSITE_HOME_RESTIC_REST_USERNAME"),
        secrets.join("OFFSITE_HOME_RESTIC_REST_PASSWORD"),
    );
    std::fs::write(&user_secret, "clawbake").unwrap();
    std::fs::write(&pass_secret, user_password).unwrap();
    let site_s = site.display().to_string();
    let password = local.path().join("pw");
    let password_s = password.display().to_string();

    let run = clawbake(
        &host,
        &["backup", "--site", &site_s, "--password-file", &password_s],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("offsite home: copied in "),
        "{}",
        run.stdout
    );

    // From here: restic, the password file and the server's credentials.
    let offsite = |password: &Path, args: &[&str]| {
        let out = Command::new(&restic_bin)
            .args(["-r", &repo, "--no-cache", "--password-file"])
            .arg(password)
            .args(args)
            .env("RESTIC_REST_USERNAME", "clawbake")
            .env("RESTIC_REST_PASSWORD", user_password)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let count = |password: &Path| {
        let (ok, out) = offsite(password, &["snapshots", "--json"]);
        assert!(ok, "{out}");
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&password), 1);
    let (ok, marker) = offsite(&password, &["dump", "latest", "/var/lib/openclaw/marker"]);
    assert!(ok && marker == "written before the backup\n", "{marker}");

    // A second backup adds to the append-only repository.
    let run = clawbake(&host, &["backup", "--site", &site_s]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(count(&password), 2);

    // A wrong credential: the snapshot stays on the host (the host's job
    // exits 3 for that), the copy fails loudly, and neither credential is
    // printed.
    let set_password = |value: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawbake"));
        cmd.args([
            "secrets",
            "set",
            "OFFSITE_HOME_RESTIC_REST_PASSWORD",
            "--from-env",
            "NEW_VALUE",
            "--site",
            &site_s,
        ])
        .env("NEW_VALUE", value)
        .arg("--host")
        .arg(host.host_arg("root"))
        .args(host.ssh_args());
        let done = self::run(&mut cmd);
        assert_eq!(done.code, 0, "{}{}", done.stdout, done.stderr);
    };
    let listed = clawbake(&host, &["secrets", "list", "--site", &site_s]);
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.contains("OFFSITE_HOME_RESTIC_REST_PASSWORD") && l.contains("offsite")),
        "{}",
        listed.stdout
    );
    set_password("wrong-pass-9876543210");
    let run = clawbake(&host, &["backup", "--site", &site_s]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("offsite home: FAILED: "),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("the backup is on the host, but its copy to home failed"),
        "{}",
        run.stderr
    );
    for said in [&run.stdout, &run.stderr] {
        assert!(!said.contains("wrong-pass") && !said.contains(user_password));
    }
    assert_eq!(count(&password), 2);
    set_password(user_password);

    // The backup key rotates here and there: the new password opens the
    // offsite repository, and the next copy goes through with it.
    let run = clawbake(
        &host,
        &["secrets", "rotate", "BACKUP_KEY", "--site", &site_s],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // An append-only server refuses to delete the old key: said, not hidden.
    assert!(
        run.stdout
            .contains("offsite home: rekeyed (the new key opens it; the old one may too"),
        "{}",
        run.stdout
    );
    let new_password = local.path().join("pw2");
    let run = clawbake(
        &host,
        &[
            "backup",
            "--site",
            &site_s,
            "--password-file",
            &new_password.display().to_string(),
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_ne!(
        std::fs::read(&password).unwrap(),
        std::fs::read(&new_password).unwrap()
    );
    // Three: the host keeps one snapshot a day (`keep_days`), so the one
    // the failed copy missed was gone before this copy ran.
    assert_eq!(count(&new_password), 3);
    assert!(
        !host
            .on_host("/opt/clawbake/secrets/.offsite-old-key/home")
            .exists()
    );

    // Disaster recovery from the offsite repository alone: restic copies
    // it into a directory here, which `clawbake restore` takes.
    let copy = local.path().join("from-offsite");
    let restic_here = |args: &[&str]| {
        let out = Command::new(&restic_bin)
            .arg("-r")
            .arg(copy.join("restic"))
            .arg("--password-file")
            .arg(&new_password)
            .args(["--no-cache", "--from-repo", &repo, "--from-password-file"])
            .arg(&new_password)
            .args(args)
            .env("RESTIC_REST_USERNAME", "clawbake")
            .env("RESTIC_REST_PASSWORD", user_password)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    restic_here(&["init", "--copy-chunker-params"]);
    restic_here(&["copy"]);
    std::fs::write(host.on_host("/var/lib/openclaw/marker"), "changed since\n").unwrap();
    let run = clawbake(
        &host,
        &[
            "restore",
            &copy.display().to_string(),
            "--password-file",
            &new_password.display().to_string(),
            "--site",
            &site_s,
        ],
    );
    // verify runs last; this host has no Docker, so it fails there.
    assert!(
        run.stdout.contains("restored snapshot "),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.code, 12, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        std::fs::read_to_string(host.on_host("/var/lib/openclaw/marker")).unwrap(),
        "written before the backup\n"
    );
}

/// An S3 offsite repository, on moto's S3 server (127.0.0.1): the host's
/// job copies into it with the credentials from `OFFSITE_<NAME>_AWS_*`,
/// restic here reads the marker from it without the host, and `prune`
/// (the default) applies the retention there.
#[test]
fn backups_are_copied_to_an_s3_offsite() {
    let Some(restic_bin) = tool_at("CLAWBAKE_RESTIC", "restic") else {
        return;
    };
    let Some(moto) = tool_at("CLAWBAKE_MOTO_SERVER", "moto_server") else {
        return;
    };
    if common::tool("sshd").is_none() || common::tool("unshare").is_none() {
        return;
    }
    let port = common::fakehost::free_port();
    let mut server = Command::new(&moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "moto_server did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The bucket exists, as the user makes it with their provider.
    {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "PUT /clawbake-test HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let repo = format!("s3:http://127.0.0.1:{port}/clawbake-test/openclaw");
    let local = tempfile::tempdir().unwrap();
    let site = local.path().join("site.toml");
    std::fs::write(
        &site,
        format!(
            "{}\n[backup.offsite.s3]\nrepository = \"{repo}\"\n",
            std::fs::read_to_string(common::root().join("tests/sites/tunnel/site.toml")).unwrap()
        ),
    )
    .unwrap();
    let host = FakeHost::start(UBUNTU).unwrap();
    host.install_release(&common::build(&SiteInput::File(site.clone())));
    tools_and_state(&host, &restic_bin);
    let secrets = host.on_host("/opt/clawbake/secrets");
    std::fs::write(secrets.join("OFFSITE_S3_AWS_ACCESS_KEY_ID"), "AKIAMOTOTEST").unwrap();
    std::fs::write(
        secrets.join("OFFSITE_S3_AWS_SECRET_ACCESS_KEY"),
        "moto-secret-0123456789",
    )
    .unwrap();
    let site_s = site.display().to_string();
    let password = local.path().join("pw");
    let run = clawbake(
        &host,
        &[
            "backup",
            "--site",
            &site_s,
            "--password-file",
            &password.display().to_string(),
        ],
    );
    let read_back = Command::new(&restic_bin)
        .args(["-r", &repo, "--no-cache", "--password-file"])
        .arg(&password)
        .args(["dump", "latest", "/var/lib/openclaw/marker"])
        .env("AWS_ACCESS_KEY_ID", "AKIAMOTOTEST")
        .env("AWS_SECRET_ACCESS_KEY", "moto-secret-0123456789")
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("offsite s3: copied in "),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("moto-secret") && !run.stderr.contains("moto-secret"));
    assert_eq!(
        String::from_utf8_lossy(&read_back.stdout),
        "written before the backup\n",
        "{}",
        String::from_utf8_lossy(&read_back.stderr)
    );
}
