//! Provision, plan, rollback and secrets against a throwaway host: a real
//! sshd on 127.0.0.1 chrooted into a directory (see common/fakehost.rs).
//! Every failure a user can cause has a test here asserting its message
//! and exit code; the full provision of a real server is the VM tests' job.

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use clawbake::config::SiteInput;
use common::fakehost::FakeHost;

const UBUNTU: (&str, &str, &str) = ("ubuntu", "24.04", "Ubuntu 24.04.3 LTS");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn clawbake(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clawbake"))
        .args(args)
        .env_remove("SSH_AUTH_SOCK")
        .env("CLAWBAKE_SITE", common::example_site())
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = common::without_site_line(String::from_utf8_lossy(&out.stderr).into_owned());
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    }
}

/// Durations vary from run to run: `12.3s` becomes `N.Ns`.
fn normalize(text: &str, host: &FakeHost, dir: &Path) -> String {
    let text = text
        .replace(&dir.display().to_string(), "TMP")
        .replace(&host.port.to_string(), "PORT");
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if i > start && i + 2 < chars.len() + 1 && chars.get(i) == Some(&'.') {
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j > i + 1 && chars.get(j) == Some(&'s') {
                out.push_str("N.Ns");
                i = j + 1;
                continue;
            }
        }
        if i > start {
            out.extend(&chars[start..i]);
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The example site with extra TOML appended, in its own directory.
fn variant(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let site_dir = dir.join(name);
    std::fs::create_dir_all(&site_dir).unwrap();
    let example = std::fs::read_to_string(common::root().join("sites/example/site.toml")).unwrap();
    let path = site_dir.join("site.toml");
    std::fs::write(&path, format!("{example}\n{extra}\n")).unwrap();
    path
}

/// The command line, then the options that reach and trust the host.
/// The command line: `first`, then the SSH options. The sites here pin
/// nothing (no registry is reachable), so `provision` is told to deliver
/// them by tag; its refusal without that has a test of its own.
fn args<'a>(ssh: &'a [String], first: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = first.to_vec();
    if first.first() == Some(&"provision") {
        v.push("--allow-unpinned");
    }
    v.extend(ssh.iter().map(String::as_str));
    v
}

/// A `docker` for the fake host that records its arguments and succeeds,
/// standing in where the real one would start containers.
fn fake_docker(host: &FakeHost) {
    docker_says(host, "exit 0\n");
}

/// A `docker` on the host that records each call in
/// /var/log/docker-calls, then runs `body` (sh).
fn docker_says(host: &FakeHost, body: &str) {
    std::fs::create_dir_all(host.on_host("/var/log")).unwrap();
    let path = host.on_host("/usr/bin/docker");
    std::fs::write(
        &path,
        format!("#!/bin/bash\necho \"$*\" >> /var/log/docker-calls\n{body}"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn first_provision_uploads_the_release_and_stops_at_the_step_that_fails() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log");
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let log_s = log.display().to_string();
    let run = clawbake(
        &args(&ssh, &["provision", "--host", &target, "--log", &log_s]),
        None,
    );
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert_eq!(
        normalize(&run.stderr, &host, dir.path()),
        "connecting to root@127.0.0.1:PORT\n\
         checking the host\n\
         uploading the release\n\
         [1/7] 10-base: running\n  \
         FAILED  10-base (exit code 127, after N.Ns)\n\
         error: step `10-base` failed on the host with exit code 127\n  \
         | /opt/clawbake/releases/RELEASE/steps/10-base.sh: line 5: apt-get: command not found\n  \
         = help: the whole output is in TMP/run.log; fix the cause and run the same command again: steps are safe to re-run\n"
            .replace("RELEASE", &release_of(&SiteInput::Example))
    );
    // The release arrived whole, beside its manifest, and nothing switched.
    let built = common::build(&SiteInput::Example);
    let release = host.on_host(&format!(
        "/opt/clawbake/releases/{}",
        release_of(&SiteInput::Example)
    ));
    for (path, file) in built.bundle.tree.files() {
        assert_eq!(
            std::fs::read(release.join(path)).unwrap(),
            file.content,
            "{path}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(release.join("manifest.json")).unwrap(),
        built.bundle.manifest.to_json()
    );
    assert_eq!(host.current(), "");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("clawbake: step 10-base: start"), "{log}");
    assert!(log.contains("apt-get: command not found"), "{log}");
}

fn release_of(site: &SiteInput) -> String {
    common::build(site).bundle.manifest.build_id[..16].to_owned()
}

#[test]
fn a_host_that_is_not_ubuntu_is_refused_before_anything_changes() {
    let Some(host) = FakeHost::start(("debian", "12", "Debian GNU/Linux 12 (bookworm)")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let log = dir.path().join("run.log").display().to_string();
    let run = clawbake(
        &args(&ssh, &["provision", "--host", &target, "--log", &log]),
        None,
    );
    assert_eq!(run.code, 11, "{}", run.stderr);
    assert_eq!(
        normalize(&run.stderr, &host, dir.path()),
        "connecting to root@127.0.0.1:PORT\n\
         checking the host\n\
         error: root@127.0.0.1:PORT is not ready for clawbake: nothing was changed\n  \
         | this host runs Debian GNU/Linux 12 (bookworm); clawbake targets Ubuntu 24.04\n  \
         |   help: create the server from the Ubuntu 24.04 image (Debian 13 is accepted for test guests)\n"
    );
    assert!(!host.on_host("/opt/clawbake").exists());
}

#[test]
fn a_user_without_sudo_is_refused() {
    let user = "clawbake-nosudo";
    let exists = Command::new("id")
        .arg(user)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        common::run_ok(
            Command::new("useradd").args(["--system", "--shell", "/bin/bash", user]),
            "useradd",
        );
    }
    // Not locked (sshd refuses locked accounts), but no password either.
    common::run_ok(Command::new("usermod").args(["-p", "*", user]), "usermod");
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ssh = host.ssh_args();
    let target = host.host_arg(user);
    let log = dir.path().join("run.log").display().to_string();
    let run = clawbake(
        &args(&ssh, &["provision", "--host", &target, "--log", &log]),
        None,
    );
    assert_eq!(run.code, 11, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "| the SSH user is not root and has no passwordless sudo\n  \
             |   help: connect as root (`--host root@...`), or give the user `NOPASSWD` in sudoers\n"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unreachable_host_says_which_port_a_provisioned_host_uses() {
    let port = common::fakehost::free_port();
    let target = format!("root@127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log").display().to_string();
    let run = clawbake(
        &[
            "provision",
            "--host",
            &target,
            "--log",
            &log,
            "--known-hosts",
            "/dev/null",
            "--allow-unpinned",
        ],
        None,
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(
        run.stderr.replace(&port.to_string(), "PORT"),
        "connecting to root@127.0.0.1:PORT\n\
         error: connecting to root@127.0.0.1:PORT: Connection refused (os error 111)\n  \
         = help: a provisioned host listens for SSH on port 9922: `--host root@127.0.0.1:9922`\n"
    );
}

#[test]
fn a_user_the_host_does_not_know_is_refused() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ssh = host.ssh_args();
    let target = host.host_arg("nosuchuser");
    let run = clawbake(&args(&ssh, &["plan", "--host", &target]), None);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(
        normalize(&run.stderr, &host, dir.path()),
        format!(
            "error: nosuchuser@127.0.0.1:PORT refused the key {} for user `nosuchuser`\n  \
             = help: give the key with `--identity FILE`, or load it into your SSH agent\n",
            host.path("client_key").display()
        )
    );
}

#[test]
fn a_changed_host_key_is_refused_with_its_own_exit_code() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other");
    common::fakehost::keygen(&other);
    let key = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let mut parts = key.split_whitespace();
    let known = dir.path().join("known_hosts");
    std::fs::write(
        &known,
        format!(
            "[127.0.0.1]:{} {} {}\n",
            host.port,
            parts.next().unwrap(),
            parts.next().unwrap()
        ),
    )
    .unwrap();
    let target = host.host_arg("root");
    let identity = host.path("client_key").display().to_string();
    let known_s = known.display().to_string();
    let run = clawbake(
        &[
            "plan",
            "--host",
            &target,
            "--identity",
            &identity,
            "--known-hosts",
            &known_s,
        ],
        None,
    );
    assert_eq!(run.code, 5, "{}", run.stderr);
    let stderr = normalize(&run.stderr, &host, dir.path());
    assert!(
        stderr.starts_with(
            "error: the host key of root@127.0.0.1:PORT has CHANGED: it is now SHA256:"
        ),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(
            "not the key in TMP/known_hosts\n  \
             = help: if the server was rebuilt, remove its old key: `ssh-keygen -R '[127.0.0.1]:PORT' -f TMP/known_hosts`; otherwise do not connect\n"
        ),
        "{stderr}"
    );
}

#[test]
fn a_host_change_is_refused_as_a_rebuild_and_plan_says_the_same() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    host.install_release(&common::build(&SiteInput::Example));
    let dir = tempfile::tempdir().unwrap();
    let site = variant(dir.path(), "swap", "[host]\nswap_mib = 2048");
    let site = site.display().to_string();
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let log = dir.path().join("run.log").display().to_string();
    let expected = "error: rebuild required: this change touches the host itself, not just the stack\n  \
        | modified host  steps/10-base.sh\n  \
        = help: move to a fresh server with `clawbake migrate SITE --from THIS-SERVER --to NEW-SERVER`; to keep this address, `clawbake backup --to DIR --password-file FILE`, re-image it with the new `dist/user-data`, then `clawbake restore DIR --password-file FILE`\n";
    let run = clawbake(
        &args(
            &ssh,
            &["provision", &site, "--host", &target, "--log", &log],
        ),
        None,
    );
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert!(
        normalize(&run.stderr, &host, dir.path()).ends_with(expected),
        "{}",
        run.stderr
    );
    let plan = clawbake(&args(&ssh, &["plan", &site, "--host", &target]), None);
    assert_eq!(plan.code, 7, "{}", plan.stderr);
    assert_eq!(normalize(&plan.stderr, &host, dir.path()), expected);
    assert_eq!(
        normalize(&plan.stdout, &host, dir.path()),
        "rebuild required for root@127.0.0.1:PORT: host files change\n  \
         modified host  steps/10-base.sh\n"
    );
}

#[test]
fn a_host_edited_by_hand_is_refused_as_drift() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    host.install_release(&common::build(&SiteInput::Example));
    std::fs::write(
        host.on_host("/etc/sysctl.d/99-clawbake.conf"),
        "vm.swappiness = 60\n",
    )
    .unwrap();
    std::fs::remove_file(host.on_host("/usr/local/sbin/clawbake-backup")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let log = dir.path().join("run.log").display().to_string();
    let run = clawbake(
        &args(&ssh, &["provision", "--host", &target, "--log", &log]),
        None,
    );
    assert_eq!(run.code, 8, "{}", run.stderr);
    assert!(
        normalize(&run.stderr, &host, dir.path()).ends_with(
            "error: the host has drifted: files no longer match the release they came from\n  \
             | changed  /etc/sysctl.d/99-clawbake.conf\n  \
             | missing  /usr/local/sbin/clawbake-backup\n  \
             = help: someone edited the server; put the change in the site file and rebuild the server instead of editing it\n"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn provisioning_the_release_the_host_runs_is_a_fast_no_op() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    host.install_release(&common::build(&SiteInput::Example));
    let dir = tempfile::tempdir().unwrap();
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let log = dir.path().join("run.log").display().to_string();
    let started = Instant::now();
    let run = clawbake(
        &args(&ssh, &["provision", "--host", &target, "--log", &log]),
        None,
    );
    let took = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        normalize(&run.stdout, &host, dir.path()),
        "root@127.0.0.1:PORT already runs this release: nothing to do (N.Ns)\n"
    );
    eprintln!("no-op provision against the local sshd: {took:?} (whole command)");
    let plan = clawbake(&args(&ssh, &["plan", "--host", &target]), None);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert_eq!(
        normalize(&plan.stdout, &host, dir.path()),
        format!(
            "root@127.0.0.1:PORT already runs release {}: nothing to do\n",
            release_of(&SiteInput::Example)
        )
    );
}

#[test]
fn a_stack_change_makes_a_new_release_and_rollback_returns() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    fake_docker(&host);
    let example = common::build(&SiteInput::Example);
    host.install_release(&example);
    let old = release_of(&SiteInput::Example);
    let dir = tempfile::tempdir().unwrap();
    let site = variant(dir.path(), "sandboxes", "[stack]\nmax_sandboxes = 2");
    let new = release_of(&SiteInput::File(site.clone()));
    let site = site.display().to_string();
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let log = dir.path().join("run.log").display().to_string();

    let plan = clawbake(&args(&ssh, &["plan", &site, "--host", &target]), None);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert_eq!(
        normalize(&plan.stdout, &host, dir.path()),
        format!(
            "stack release {new} for root@127.0.0.1:PORT: containers are recreated, volumes kept\n  \
             modified stack stack/compose.yaml\n  \
             modified stack stack/openclaw/openclaw.json\n"
        )
    );

    let run = clawbake(
        &args(
            &ssh,
            &["provision", &site, "--host", &target, "--log", &log],
        ),
        None,
    );
    // Only the stack step runs; the verify after it finds no firewall
    // on this host, which proves it ran.
    assert_eq!(run.code, 12, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("[1/1] 90-stack: running\n  done    90-stack"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("PASS  release "), "{}", run.stdout);
    assert!(run.stdout.contains("FAIL  ufw "), "{}", run.stdout);
    assert_eq!(host.current(), format!("/opt/clawbake/releases/{new}"));
    // Checked, pulled and built from the new release's directory while
    // the old one serves; then the gateway's dependencies, then the rest.
    let calls = host.compose_calls();
    let stack = format!("/opt/clawbake/releases/{new}/stack/compose.yaml");
    let up = "compose -f /opt/clawbake/current/stack/compose.yaml up -d --no-build --remove-orphans --wait --wait-timeout 300";
    let expected = [
        "compose version --short".to_owned(),
        format!("compose -f {stack} config --quiet"),
        "image inspect debian:bookworm-slim".to_owned(),
        format!("compose -f {stack} config --format json"),
        "image inspect ".to_owned(),
        format!("{up} docker-proxy egress litellm"),
        up.to_owned(),
    ];
    // (verify's calls follow)
    let stack_calls: Vec<&str> = calls.lines().take(expected.len()).collect();
    assert_eq!(stack_calls, expected, "{calls}");
    let state = std::fs::read_to_string(host.on_host("/var/lib/clawbake/state.json")).unwrap();
    assert!(
        state.contains(&format!("\"build_id\": \"{new}\"")),
        "{state}"
    );
    assert!(
        state.contains(&format!("\"previous\": \"{old}\"")),
        "{state}"
    );
    // The old release is kept for rollback.
    assert!(
        host.on_host(&format!("/opt/clawbake/releases/{old}/manifest.json"))
            .exists()
    );

    let back = clawbake(
        &args(&ssh, &["rollback", &site, "--host", &target, "--log", &log]),
        None,
    );
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(
        normalize(&back.stdout, &host, dir.path()),
        format!("root@127.0.0.1:PORT rolled back to /opt/clawbake/releases/{old} (N.Ns)\n")
    );
    assert_eq!(host.current(), format!("/opt/clawbake/releases/{old}"));
}

/// Moving to another OpenClaw release backs the data up first; when that
/// fails (this test host cannot take one), nothing on the host changes.
#[test]
fn an_openclaw_upgrade_stops_when_its_backup_fails() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    fake_docker(&host);
    host.install_release(&common::build(&SiteInput::Example));
    let old = release_of(&SiteInput::Example);
    let site = common::root()
        .join("tests/sites/current/site.toml")
        .display()
        .to_string();
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let plan = clawbake(&args(&ssh, &["plan", &site, "--host", &target]), None);
    assert!(
        plan.stdout
            .contains("OpenClaw 2026.2.15 -> 2026.9.6: provision backs up the data volume first"),
        "{}{}",
        plan.stdout,
        plan.stderr
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log").display().to_string();
    let run = clawbake(
        &args(
            &ssh,
            &["provision", &site, "--host", &target, "--log", &log],
        ),
        None,
    );
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "the backup before moving OpenClaw from 2026.2.15 to 2026.9.6 failed: the host still runs the release it ran"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("90-stack"), "{}", run.stderr);
    assert_eq!(host.current(), format!("/opt/clawbake/releases/{old}"));
    let calls = std::fs::read_to_string(host.on_host("/var/log/docker-calls")).unwrap_or_default();
    assert!(!calls.contains("compose"), "{calls}");
}

#[test]
fn a_stack_that_does_not_come_up_switches_back() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    // `compose up` fails like an unhealthy stack; every check before the
    // switch passes.
    docker_says(&host, "case \"$*\" in *' up '*) exit 1 ;; esac\n");
    host.install_release(&common::build(&SiteInput::Example));
    let old = release_of(&SiteInput::Example);
    let dir = tempfile::tempdir().unwrap();
    let site = variant(dir.path(), "sandboxes", "[stack]\nmax_sandboxes = 2");
    let new = release_of(&SiteInput::File(site.clone()));
    let site = site.display().to_string();
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let log = dir.path().join("run.log").display().to_string();
    let run = clawbake(
        &args(
            &ssh,
            &["provision", &site, "--host", &target, "--log", &log],
        ),
        None,
    );
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "clawbake: the stack of {new} is not healthy; switching back to {old}"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(host.current(), format!("/opt/clawbake/releases/{old}"));

    // A release Compose refuses (here: no docker at all) fails before the
    // switch: the old release never stopped serving.
    std::fs::remove_file(host.on_host("/usr/bin/docker")).unwrap();
    let run = clawbake(
        &args(
            &ssh,
            &["provision", &site, "--host", &target, "--log", &log],
        ),
        None,
    );
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(!run.stderr.contains("switching back"), "{}", run.stderr);
    assert_eq!(host.current(), format!("/opt/clawbake/releases/{old}"));
}

#[test]
fn secrets_travel_from_stdin_to_a_0600_file_and_are_never_printed() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    fake_docker(&host);
    host.install_release(&common::build(&SiteInput::Example));
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let value = "sk-ant-test-0123456789abcdef";
    // What an older release left: an env file and a service no list names.
    let secrets = host.on_host("/opt/clawbake/secrets");
    std::fs::create_dir_all(secrets.join("env")).unwrap();
    std::fs::create_dir_all(secrets.join("files/gone")).unwrap();
    std::fs::write(
        secrets.join("env/litellm.env"),
        "LITELLM_MASTER_KEY=sk-old\n",
    )
    .unwrap();
    std::fs::write(secrets.join("files/gone/X"), "old").unwrap();
    let set = clawbake(
        &args(
            &ssh,
            &["secrets", "set", "ANTHROPIC_API_KEY", "--host", &target],
        ),
        Some(&format!("{value}\n")),
    );
    assert_eq!(set.code, 0, "{}", set.stderr);
    // LiteLLM reads it as a file: recreated; every other service is left
    // to what diverged.
    let calls = host.compose_calls();
    assert!(calls.contains(" --force-recreate litellm\n"), "{calls}");
    let list = clawbake(
        &args(&ssh, &["secrets", "list", "--json", "--host", &target]),
        None,
    );
    assert_eq!(list.code, 0, "{}", list.stderr);
    let listed: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let entry = |name: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {listed}"))
            .clone()
    };
    assert_eq!(entry("ANTHROPIC_API_KEY")["set"], true);
    assert_eq!(
        entry("ANTHROPIC_API_KEY")["used_by"],
        serde_json::json!(["litellm"])
    );
    assert_eq!(entry("TELEGRAM_BOT_TOKEN")["set"], false);
    assert!(!list.stdout.contains(value));
    assert!(!set.stdout.contains(value) && !set.stderr.contains(value));
    let file = host.on_host("/opt/clawbake/secrets/ANTHROPIC_API_KEY");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), value);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The service that uses it gets it as a file of its own, readable in
    // its container, and never through an env file.
    let file = host.on_host("/opt/clawbake/secrets/files/litellm/ANTHROPIC_API_KEY");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), value);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o444
    );
    let env = std::fs::read_to_string(host.on_host("/opt/clawbake/secrets/env/openclaw.env"))
        .unwrap_or_default();
    assert!(!env.contains(value));
    assert!(!secrets.join("env/litellm.env").exists());
    assert!(!secrets.join("files/gone").exists());
    // A key not set yet is an empty file: LiteLLM stops on a missing one.
    let unset = std::fs::metadata(secrets.join("files/litellm/LITELLM_MASTER_KEY")).unwrap();
    assert_eq!(unset.len(), 0);
    // No temporary copy is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(host.on_host("/tmp")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let list = clawbake(&args(&ssh, &["secrets", "list", "--host", &target]), None);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert_eq!(
        list.stdout,
        "ANTHROPIC_API_KEY   set    used by litellm\n\
         TELEGRAM_BOT_TOKEN  unset  used by openclaw\n\
         VOYAGE_API_KEY      unset  used by openclaw\n"
    );
    let rm = clawbake(
        &args(
            &ssh,
            &["secrets", "rm", "ANTHROPIC_API_KEY", "--host", &target],
        ),
        None,
    );
    assert_eq!(rm.code, 0, "{}", rm.stderr);
    assert!(
        !host
            .on_host("/opt/clawbake/secrets/ANTHROPIC_API_KEY")
            .exists()
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
}

#[test]
fn rotate_makes_a_new_key_on_the_host_recreates_its_readers_and_puts_the_old_back_on_failure() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    fake_docker(&host);
    host.install_release(&common::build(&SiteInput::Example));
    let secret = |name: &str| {
        std::fs::read_to_string(host.on_host(&format!("/opt/clawbake/secrets/{name}"))).unwrap()
    };
    std::fs::create_dir_all(host.on_host("/opt/clawbake/secrets")).unwrap();
    for name in [
        "OPENCLAW_GATEWAY_TOKEN",
        "LITELLM_MASTER_KEY",
        "LITELLM_GATEWAY_KEY",
    ] {
        std::fs::write(
            host.on_host(&format!("/opt/clawbake/secrets/{name}")),
            format!("sk-old-{name}"),
        )
        .unwrap();
    }
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let rotate = |name: &str| {
        clawbake(
            &args(&ssh, &["secrets", "rotate", name, "--host", &target]),
            None,
        )
    };

    let run = rotate("LITELLM_GATEWAY_KEY");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let new = secret("LITELLM_GATEWAY_KEY");
    assert!(new.starts_with("sk-") && new.len() == 67, "{}", new.len());
    assert!(!run.stdout.contains(&new) && !run.stderr.contains(&new));
    assert_eq!(
        run.stdout,
        format!("LITELLM_GATEWAY_KEY rotated on {target}; recreated: litellm, openclaw\n")
    );
    // Both readers have the new value, each the way it reads it.
    let file = std::fs::read_to_string(
        host.on_host("/opt/clawbake/secrets/files/litellm/LITELLM_GATEWAY_KEY"),
    )
    .unwrap();
    assert_eq!(file, new);
    let env =
        std::fs::read_to_string(host.on_host("/opt/clawbake/secrets/env/openclaw.env")).unwrap();
    assert!(env.contains(&format!("LITELLM_GATEWAY_KEY={new}\n")));
    let calls = host.compose_calls();
    assert!(
        calls.contains("--force-recreate litellm openclaw"),
        "{calls}"
    );
    assert!(
        !host
            .on_host("/opt/clawbake/secrets/LITELLM_GATEWAY_KEY.old")
            .exists()
    );
    // The other keys are untouched.
    assert_eq!(secret("LITELLM_MASTER_KEY"), "sk-old-LITELLM_MASTER_KEY");

    // Services that do not come back healthy: the old value returns.
    std::fs::write(
        host.on_host("/usr/bin/docker"),
        "#!/bin/bash\necho \"$*\" >> /var/log/docker-calls\ncase \"$*\" in *--force-recreate*) exit 1;; esac\n",
    )
    .unwrap();
    let run = rotate("LITELLM_MASTER_KEY");
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("the old one is back"), "{}", run.stderr);
    assert_eq!(secret("LITELLM_MASTER_KEY"), "sk-old-LITELLM_MASTER_KEY");
    let file = std::fs::read_to_string(
        host.on_host("/opt/clawbake/secrets/files/litellm/LITELLM_MASTER_KEY"),
    )
    .unwrap();
    assert_eq!(file, "sk-old-LITELLM_MASTER_KEY");

    // What it will not rotate, and why.
    let run = rotate("ANTHROPIC_API_KEY");
    assert_eq!(
        run.stderr,
        "error: `ANTHROPIC_API_KEY` is a key you give, not one the host makes\n  \
         = help: rotate it with its provider, then: clawbake secrets set --host HOST ANTHROPIC_API_KEY < new-value\n"
    );
    let run = rotate("LITELLM_GATEWAY_KY");
    assert_eq!(
        run.stderr,
        "error: the host makes no secret named `LITELLM_GATEWAY_KY`\n  = help: did you mean `LITELLM_GATEWAY_KEY`?\n"
    );
}

/// On a terminal, `secrets set` asks for the value and does not show it
/// as it is typed (a pty from util-linux's `script`; the typing comes once
/// the prompt is up, as a person's would).
#[test]
fn secrets_set_on_a_terminal_asks_without_echo() {
    let Some(script) = common::tool("script") else {
        return;
    };
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    fake_docker(&host);
    host.install_release(&common::build(&SiteInput::Example));
    let value = "sk-ant-typed-0123456789abcdef";
    let mut line = vec![env!("CARGO_BIN_EXE_clawbake").to_owned()];
    line.extend(
        [
            "secrets",
            "set",
            "ANTHROPIC_API_KEY",
            "--host",
            &host.host_arg("root"),
        ]
        .map(str::to_owned),
    );
    line.extend(host.ssh_args());
    let line: Vec<String> = line
        .iter()
        .map(|w| clawbake::host::transport::ssh::shell_quote(w))
        .collect();
    let typed = format!(
        "(sleep 3; printf '%s\\n' {value}) | {} -q -e -c {} /dev/null",
        script.display(),
        clawbake::host::transport::ssh::shell_quote(&line.join(" "))
    );
    let out = Command::new("sh")
        .args(["-c", &typed])
        .env_remove("SSH_AUTH_SOCK")
        .env("CLAWBAKE_SITE", common::example_site())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("ANTHROPIC_API_KEY (typing is not shown): "),
        "{screen}"
    );
    assert!(!screen.contains(value), "the value was shown:\n{screen}");
    assert_eq!(
        std::fs::read_to_string(host.on_host("/opt/clawbake/secrets/ANTHROPIC_API_KEY")).unwrap(),
        value
    );
}

#[test]
fn secrets_refuse_names_the_site_does_not_use_or_an_empty_value() {
    // Refused before any connection: no host needed.
    let typo = clawbake(
        &[
            "secrets",
            "set",
            "ANTHROPIC_KEY",
            "--host",
            "root@192.0.2.1",
        ],
        Some("x"),
    );
    assert_eq!(typo.code, 3);
    assert_eq!(
        typo.stderr,
        "error: the site uses no secret named `ANTHROPIC_KEY`\n  = help: did you mean `ANTHROPIC_API_KEY`?\n"
    );
    let internal = clawbake(
        &[
            "secrets",
            "set",
            "OPENCLAW_GATEWAY_TOKEN",
            "--host",
            "root@192.0.2.1",
        ],
        Some("x"),
    );
    assert_eq!(internal.code, 3);
    assert_eq!(
        internal.stderr,
        "error: `OPENCLAW_GATEWAY_TOKEN` is generated on the host and cannot be set\n  \
         = help: to replace it: clawbake secrets rotate --host HOST OPENCLAW_GATEWAY_TOKEN\n"
    );
    let empty = clawbake(
        &[
            "secrets",
            "set",
            "ANTHROPIC_API_KEY",
            "--host",
            "root@192.0.2.1",
        ],
        Some("\n"),
    );
    assert_eq!(empty.code, 3);
    assert_eq!(
        empty.stderr,
        "error: the value from stdin is empty\n  = help: give the value alone, on one line\n"
    );
}

/// `just bench-noop`: the time of a no-op provision against the local
/// sshd, the whole command from start to exit, over 20 runs.
#[test]
#[ignore = "a measurement; run with `just bench-noop`"]
fn no_op_provision_time() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    host.install_release(&common::build(&SiteInput::Example));
    let dir = tempfile::tempdir().unwrap();
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let log = dir.path().join("run.log").display().to_string();
    let mut times: Vec<f64> = (0..20)
        .map(|_| {
            let started = Instant::now();
            let run = clawbake(
                &args(&ssh, &["provision", "--host", &target, "--log", &log]),
                None,
            );
            assert_eq!(run.code, 0, "{}", run.stderr);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    eprintln!(
        "no-op provision, 20 runs: median {:.1} ms, min {:.1} ms, max {:.1} ms",
        times[10], times[0], times[19]
    );
}

#[test]
fn provision_refuses_unpinned_images_before_it_connects() {
    // Port 1 of 127.0.0.1: nothing listens, so a connection attempt would
    // show as an unreachable host (exit 4) instead of this refusal.
    let run = clawbake(&["provision", "--host", "root@127.0.0.1:1"], None);
    assert_eq!(run.code, 9, "{}", run.stderr);
    let built = common::build(&SiteInput::Example);
    let unpinned = &built.bundle.manifest.unpinned_images;
    assert!(!unpinned.is_empty());
    let mut expected = format!(
        "error: {} of the site's images are not pinned to a digest, and provision delivers a host only pinned images:\n",
        unpinned.len()
    );
    expected.extend(unpinned.iter().map(|image| format!("  {image}\n")));
    expected.push_str("  = help: run `clawbake pin images SITE` where a registry is reachable, review images.lock, then provision again; or pass `--allow-unpinned` to deliver them by tag (a tag can move)\n");
    assert_eq!(
        run.stderr
            .replace(&common::example_site().display().to_string(), "SITE"),
        expected
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

/// A probe that cannot run proves nothing: `verify` against a host where
/// `docker` is missing, then one where it only prints noise on stderr,
/// fails the isolation checks instead of passing them.
#[test]
fn verify_fails_a_probe_that_could_not_run() {
    let Some(host) = FakeHost::start(("ubuntu", "24.04", "Ubuntu 24.04.3 LTS")) else {
        return;
    };
    host.install_release(&common::build(&SiteInput::Example));
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let verify = || {
        let run = clawbake(&args(&ssh, &["verify", "--json", "--host", &target]), None);
        assert_eq!(run.code, 12, "{}\n{}", run.stdout, run.stderr);
        let checks: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let status = |name: &str| {
            let check = checks
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .unwrap_or_else(|| panic!("no check `{name}` in {checks}"));
            (
                check["status"].as_str().unwrap().to_owned(),
                check["detail"].to_string(),
            )
        };
        for name in [
            "gateway has no direct route out",
            "gateway refuses unauthenticated requests",
            "egress proxy refuses a raw IP",
            "Docker policy refuses the gateway a privileged container",
        ] {
            let (status, detail) = status(name);
            assert_eq!(status, "fail", "{name}: {detail}");
        }
        status("gateway has no direct route out").1
    };
    // The hint to set a missing secret names the site: pasted anywhere,
    // it acts on the same one.
    let run = clawbake(&args(&ssh, &["verify", "--host", &target]), None);
    assert!(
        run.stdout.contains(&format!(
            "not set: clawbake secrets set --site {} --host {target} ANTHROPIC_API_KEY < file-with-the-value",
            clawbake::host::transport::ssh::shell_quote(&common::example_site().display().to_string())
        )),
        "{}",
        run.stdout
    );
    // No docker at all.
    let detail = verify();
    assert!(detail.contains("docker"), "{detail}");
    // A docker that says nothing on stdout, only noise on stderr.
    std::fs::write(
        host.on_host("/usr/bin/docker"),
        "#!/bin/sh\necho 'WARNING: noise' >&2\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(
        host.on_host("/usr/bin/docker"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    verify();
}

/// The host's shell says something on stderr before every command (a
/// locale warning, as a server with an unset locale does): `plan` reads
/// the answer, not the noise. A release, no release and a garbled manifest
/// each get their own answer.
#[test]
fn plan_reads_the_host_answer_not_the_noise_on_stderr() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    let bash = host.on_host("/usr/bin/bash");
    std::fs::rename(&bash, host.on_host("/usr/bin/bash.real")).unwrap();
    std::fs::write(
        &bash,
        "#!/usr/bin/bash.real\necho 'bash: warning: setlocale: LC_ALL: cannot change locale (xx_XX.UTF-8)' >&2\nexec /usr/bin/bash.real \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&bash, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let dir = tempfile::tempdir().unwrap();
    let plan = || clawbake(&args(&ssh, &["plan", "--host", &target]), None);

    let run = plan();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        normalize(&run.stdout, &host, dir.path()),
        format!(
            "root@127.0.0.1:PORT has no clawbake release: provision would apply every step of release {}\n",
            release_of(&SiteInput::Example)
        )
    );

    host.install_release(&common::build(&SiteInput::Example));
    let run = plan();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        normalize(&run.stdout, &host, dir.path()),
        format!(
            "root@127.0.0.1:PORT already runs release {}: nothing to do\n",
            release_of(&SiteInput::Example)
        )
    );

    let manifest = host.on_host(&format!("{}/manifest.json", host.current()));
    std::fs::write(&manifest, "not json\n").unwrap();
    let run = plan();
    assert_eq!(run.code, 8, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("/opt/clawbake/current/manifest.json is not a clawbake manifest"),
        "{}",
        run.stderr
    );
}

/// `plan --json` for scripts, and `--detailed-exitcode` as terraform's:
/// 0 nothing to do, 2 a release is pending; refusals keep their codes.
#[test]
fn plan_speaks_json_and_a_detailed_exit_code() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let dir = tempfile::tempdir().unwrap();
    let plan = |site: Option<&str>| {
        let mut words = vec!["plan"];
        words.extend(site);
        words.extend(["--json", "--detailed-exitcode", "--host", &target]);
        let run = clawbake(&args(&ssh, &words), None);
        let json: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
        assert_eq!(json["target"], target.as_str());
        (run.code, json)
    };
    let (code, json) = plan(None);
    assert_eq!(
        (code, json["decision"].as_str()),
        (2, Some("first-provision"))
    );
    assert_eq!(json["release"], release_of(&SiteInput::Example).as_str());

    host.install_release(&common::build(&SiteInput::Example));
    let (code, json) = plan(None);
    assert_eq!((code, json["decision"].as_str()), (0, Some("no-change")));

    let stack = variant(dir.path(), "tokens", "[openclaw]\nmax_tokens = 4096");
    let (code, json) = plan(Some(stack.to_str().unwrap()));
    assert_eq!(
        (code, json["decision"].as_str()),
        (2, Some("stack-release")),
        "{json}"
    );
    assert!(
        json["changes"].as_array().unwrap().iter().any(|c| c["path"]
            == "/opt/clawbake/current/stack/openclaw/openclaw.json"
            && c["scope"] == "stack"
            && c["kind"] == "modified"),
        "{json}"
    );

    let rebuild = variant(dir.path(), "swap", "[host]\nswap_mib = 2048");
    let (code, json) = plan(Some(rebuild.to_str().unwrap()));
    assert_eq!(
        (code, json["decision"].as_str()),
        (7, Some("rebuild-required")),
        "{json}"
    );
}

/// The server in the site: `[deploy] host` stands in for `--host`, which
/// still wins; without a port there, the site's SSH port where the server
/// answers on it. With neither, the command says what to type (exit 2).
#[test]
fn the_site_can_name_its_server() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    let ssh = host.ssh_args();
    let dir = tempfile::tempdir().unwrap();
    let plan = |site: &Path, extra: &[&str]| {
        let mut words = vec!["plan", site.to_str().unwrap()];
        words.extend(extra);
        clawbake(&args(&ssh, &words), None)
    };
    let first = "has no clawbake release: provision would apply every step";
    let with_port = variant(
        dir.path(),
        "with-port",
        &format!("[deploy]\nhost = \"root@127.0.0.1:{}\"", host.port),
    );
    let run = plan(&with_port, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(first), "{}", run.stdout);
    // --host wins over the site's.
    let run = plan(&with_port, &["--host", "root@127.0.0.1:1"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    // No port: the site's SSH port answers, so that is the one.
    let no_port = variant(dir.path(), "no-port", "[deploy]\nhost = \"root@127.0.0.1\"");
    let text = std::fs::read_to_string(&no_port).unwrap();
    std::fs::write(
        &no_port,
        text.replace(
            "[firewall]\n",
            &format!("[firewall]\nssh_port = {}\n", host.port),
        ),
    )
    .unwrap();
    let run = plan(&no_port, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with(&format!("root@127.0.0.1:{} {first}", host.port)),
        "{}",
        run.stdout
    );
    // Neither: what to type.
    let none = variant(dir.path(), "none", "");
    let run = plan(&none, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "error: no server given: this command acts on one\n  = help: pass `--host root@SERVER`, or write it into the site once: `[deploy]` then `host = \"root@SERVER\"`\n"
    );
}

/// `status`: the release and when, uptime, each service with its state
/// and memory (a missing one said so), disk, no backup yet, and nothing
/// pending; the same as JSON.
#[test]
fn status_shows_the_host_at_a_glance() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    host.install_release(&common::build(&SiteInput::Example));
    docker_says(
        &host,
        "case \"$1\" in\n  ps) printf 'openclaw\\topenclaw\\trunning\\tUp 2 hours (healthy)\\nlitellm\\topenclaw-litellm\\trunning\\tUp 2 hours (unhealthy)\\n' ;;\n  stats) printf 'openclaw\\t812MiB / 3.5GiB\\nopenclaw-litellm\\t300MiB / 1GiB\\n' ;;\nesac\n",
    );
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let run = clawbake(&args(&ssh, &["status", "--json", "--host", &target]), None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["release"], release_of(&SiteInput::Example).as_str());
    assert_eq!(json["applied_at"], "2026-11-25T00:00:00Z");
    assert!(json["uptime_secs"].as_u64().unwrap() > 0, "{json}");
    assert!(json["disk_size_bytes"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(json["last_backup"], serde_json::Value::Null);
    assert_eq!(json["pending"], "no-change");
    let service = |name: &str| {
        json["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {json}"))
            .clone()
    };
    assert_eq!(service("openclaw")["memory"], "812MiB / 3.5GiB");
    assert_eq!(service("litellm")["status"], "Up 2 hours (unhealthy)");
    assert_eq!(service("caddy")["state"], "missing");

    let run = clawbake(&args(&ssh, &["status", "--host", &target]), None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "  services   1 of 5 running and healthy\n",
        "  backup     none yet: clawbake backup\n",
        "  pending    nothing: the host runs this site's build\n",
    ] {
        assert!(run.stdout.contains(line), "`{line}` in:\n{}", run.stdout);
    }
}

/// `logs`: a service's log through Compose with the options given, the
/// apply log with `--step`; a service the site does not run, or a
/// `--since` docker would not read, refused before any connection.
#[test]
fn logs_stream_a_service_or_the_apply_log() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    host.install_release(&common::build(&SiteInput::Example));
    docker_says(&host, "echo 'openclaw  | the gateway says hi'\n");
    std::fs::create_dir_all(host.on_host("/var/log/clawbake")).unwrap();
    std::fs::write(
        host.on_host("/var/log/clawbake/apply.log"),
        "step 10-base\nclawbake-exit=0\n",
    )
    .unwrap();
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let logs = |words: &[&str]| {
        let mut all = vec!["logs"];
        all.extend(words);
        all.extend(["--host", &target]);
        clawbake(&args(&ssh, &all), None)
    };
    let run = logs(&["openclaw", "--since", "10m", "--tail", "50"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "openclaw  | the gateway says hi\n");
    assert_eq!(
        std::fs::read_to_string(host.on_host("/var/log/docker-calls")).unwrap(),
        "compose -f /opt/clawbake/current/stack/compose.yaml logs --no-color --tail 50 --since 10m openclaw\n"
    );
    let run = logs(&["--step"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "step 10-base\nclawbake-exit=0\n");

    let run = logs(&["gateway"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.starts_with(
            "error: the site runs no service named `gateway`\n  = help: the services are "
        ),
        "{}",
        run.stderr
    );
    let run = logs(&["openclaw", "--since", "10m; reboot"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("is not a time docker reads"),
        "{}",
        run.stderr
    );
}

/// `ssh`: OpenSSH's client on the same port and key, checking the host
/// key clawbake pinned; one command after `--`.
#[test]
fn ssh_runs_a_command_with_the_pinned_key() {
    if common::tool("ssh").is_none() {
        return;
    }
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    // The command goes last, after the SSH options.
    let with_command = |ssh: &[String], command: &[&str]| {
        let mut words: Vec<String> = args(ssh, &["ssh", "--host", &target])
            .into_iter()
            .map(str::to_owned)
            .collect();
        words.push("--".into());
        words.extend(command.iter().map(|w| (*w).to_owned()));
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        clawbake(&words, None)
    };
    let run = with_command(&ssh, &["cat", "/etc/os-release"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Ubuntu 24.04"), "{}", run.stdout);
    // A known_hosts whose path has a blank, a quote and a `%` reaches
    // OpenSSH whole (its `-o` line is split into words, `%` is a token).
    let spaced = tempfile::tempdir().unwrap();
    let odd = spaced.path().join("my \"hosts\" 100% file");
    std::fs::copy(&ssh[3], &odd).unwrap();
    let mut quoted = ssh.clone();
    quoted[3] = odd.display().to_string();
    let run = with_command(&quoted, &["true"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // A known_hosts that does not know the host: refused, not trusted.
    let empty = tempfile::tempdir().unwrap();
    let known = empty.path().join("known_hosts");
    std::fs::write(&known, "").unwrap();
    let mut other = ssh.clone();
    other[3] = known.display().to_string();
    let run = with_command(&other, &["true"]);
    assert_ne!(run.code, 0, "an unknown host key was accepted");
    assert!(
        run.stderr.contains("Host key verification failed"),
        "{}",
        run.stderr
    );
}

/// A host that cannot hash its files (no `sha256sum`) is not one whose
/// files all vanished: `plan` says what is missing (exit 11), not drift.
#[test]
fn plan_says_when_the_host_cannot_hash_its_files() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    host.install_release(&common::build(&SiteInput::Example));
    std::fs::remove_file(host.on_host("/usr/bin/sha256sum")).unwrap();
    let ssh = host.ssh_args();
    let target = host.host_arg("root");
    let dir = tempfile::tempdir().unwrap();
    let run = clawbake(&args(&ssh, &["plan", "--host", &target]), None);
    assert_eq!(run.code, 11, "{}", run.stderr);
    assert_eq!(
        normalize(&run.stderr, &host, dir.path()),
        "error: root@127.0.0.1:PORT cannot hash its files: `sha256sum` is missing, so whether they match the release is unknown\n  \
         = help: install coreutils on the host (`apt-get install coreutils`), then run the same command again\n"
    );
}

/// What is wrong with a host argument is said before any connection, in
/// its own words and with the command line's exit code (2); a fingerprint
/// the host's key does not match is never passed over.
#[test]
fn host_arguments_are_checked_for_what_they_are() {
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = host.path("client_key").display().to_string();
    let known = host.ssh_args()[3].clone();
    let target = host.host_arg("root");
    let plan = |extra: &[&str]| {
        let mut words = vec!["plan", "--host", &target, "--known-hosts", &known];
        words.extend_from_slice(extra);
        clawbake(&words, None)
    };

    let run = plan(&["--identity", "/nonexistent/key"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("error: `--identity /nonexistent/key`: No such file or directory"),
        "{}",
        run.stderr
    );
    let public = format!("{key}.pub");
    let run = plan(&["--identity", &public]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        format!(
            "error: `--identity {public}` is a public key\n  = help: give the private key beside it: `--identity {key}`\n"
        )
    );

    let run = clawbake(&["plan", "--host", "root@127.0.0.1:1:2"], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("more than one `:`; an IPv6 address with a port goes in brackets"),
        "{}",
        run.stderr
    );

    // The host's key is known, and `--accept-host-key` names another.
    let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let run = plan(&["--identity", &key, "--accept-host-key", wrong]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stderr.contains("is SHA256:")
            && run
                .stderr
                .contains(&format!("not {wrong} as `--accept-host-key` says")),
        "{}",
        run.stderr
    );

    // A `--known-hosts` in a directory that does not exist is not made.
    let missing = dir.path().join("no/such/dir/known_hosts");
    let run = clawbake(
        &[
            "plan",
            "--host",
            &target,
            "--identity",
            &key,
            "--known-hosts",
            missing.to_str().unwrap(),
            "--accept-host-key",
            &fingerprint_of(&host),
        ],
        None,
    );
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    assert!(!dir.path().join("no").exists());
}

/// The SHA256 fingerprint of the fake host's key, as ssh-keygen prints it.
fn fingerprint_of(host: &FakeHost) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(host.path("host_key.pub"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}
