//! The lock-out guard, run as provision runs it: the commands it sends,
//! in the throwaway host's chroot, with `systemctl`, `systemd-run` and
//! `ufw` replaced by stand-ins that keep their state in files. The
//! guard's timer is fired by hand, in the middle of a step.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use clawbake::host::apply;
use common::fakehost::FakeHost;

const UBUNTU: (&str, &str, &str) = ("ubuntu", "24.04", "Ubuntu 24.04.1 LTS");
const RELEASE: &str = "/opt/clawbake/releases/0123456789abcdef";
const SSHD_DROP_IN: &str = "/etc/ssh/sshd_config.d/10-clawbake.conf";

/// Stand-ins for what a VPS has and the chroot lacks. `systemd-run`
/// keeps the command its timer would run; `ufw` keeps its rules and
/// whether it is on in /etc/ufw, as ufw does; every call is logged.
const STUBS: &[(&str, &str)] = &[
    (
        "systemd-run",
        "while [ \"${1#--}\" != \"$1\" ]; do shift; done\nprintf '%q ' \"$@\" > /stub/timer\n",
    ),
    (
        "systemctl",
        "echo \"systemctl $*\" >> /stub/calls\n[ \"$1\" != is-enabled ]\n",
    ),
    ("logger", "echo \"logger $*\" >> /stub/calls\n"),
    (
        "ufw",
        r#"echo "ufw $*" >> /stub/calls
mkdir -p /etc/ufw
[ -e /etc/ufw/ufw.conf ] || echo ENABLED=no > /etc/ufw/ufw.conf
case "$*" in
  "--force enable") echo ENABLED=yes > /etc/ufw/ufw.conf ;;
  "--force disable") echo ENABLED=no > /etc/ufw/ufw.conf ;;
  status*) grep -q ENABLED=yes /etc/ufw/ufw.conf && echo "Status: active" || echo "Status: inactive" ;;
  allow*|limit*) echo "$*" >> /etc/ufw/user.rules ;;
esac
"#,
    ),
];

/// A guarded step that takes its time: a rule, then ufw on, as
/// 50-firewall does, with a mark when it has begun.
const SLOW_FIREWALL: &str = "#!/bin/bash\nset -euo pipefail\nufw allow proto tcp from 10.0.0.0/8 to any port 9922\n: > /stub/step-started\nsleep 2\nufw --force enable\n";

fn setup() -> Option<FakeHost> {
    let host = FakeHost::start(UBUNTU)?;
    let write = |path: &str, text: &str, mode: u32| {
        use std::os::unix::fs::PermissionsExt as _;
        let p = host.on_host(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    std::fs::create_dir_all(host.on_host("/stub")).unwrap();
    for (name, body) in STUBS {
        write(
            &format!("/usr/local/bin/{name}"),
            &format!("#!/bin/bash\n{body}"),
            0o755,
        );
    }
    // The release's own guard, as provision uploads it.
    let built = common::build(&clawbake::config::SiteInput::Example);
    let (_, guard) = built
        .bundle
        .tree
        .files()
        .find(|(path, _)| *path == "guard.sh")
        .expect("the release has guard.sh");
    write(
        &format!("{RELEASE}/guard.sh"),
        std::str::from_utf8(&guard.content).unwrap(),
        guard.mode,
    );
    write(
        &format!("{RELEASE}/steps/50-firewall.sh"),
        SLOW_FIREWALL,
        0o755,
    );
    // The host before clawbake: ufw on, with the provider's SSH rule.
    write("/etc/ufw/ufw.conf", "ENABLED=yes\n", 0o644);
    write("/etc/ufw/user.rules", "allow 22/tcp\n", 0o644);
    std::fs::create_dir_all(host.on_host("/etc/ssh/sshd_config.d")).unwrap();
    std::fs::create_dir_all(host.on_host("/etc/systemd/system")).unwrap();
    Some(host)
}

/// What provision does before the guarded steps: save, 20-files (the new
/// sshd drop-in), arm.
fn arm(host: &FakeHost) {
    let save = run(host, &apply::guard_save_command(RELEASE));
    assert!(save.status.success(), "save: {save:?}");
    std::fs::write(host.on_host(SSHD_DROP_IN), "Port 9922\n").unwrap();
    let out = run(host, &apply::guard_arm_command(180));
    assert!(out.status.success(), "arm: {out:?}");
    assert_eq!(
        read(host, "/stub/timer").trim(),
        apply::guard_revert_command(),
        "the timer runs the guard's revert"
    );
}

/// Run `command` as root on the host, as provision's SSH session does.
fn on_host(host: &FakeHost, command: &str) -> Command {
    let mut c = Command::new("chroot");
    c.arg(&host.root)
        .args(["/bin/bash", "-c", command])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
    c
}

fn run(host: &FakeHost, command: &str) -> Output {
    on_host(host, command).output().unwrap()
}

fn read(host: &FakeHost, path: &str) -> String {
    std::fs::read_to_string(host.on_host(path)).unwrap_or_default()
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(host: &FakeHost, command: &str) -> Child {
    on_host(host, command)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The timer fires while the firewall step runs: the host must end as it
/// was before provision (ufw on, with only its old rule; no sshd drop-in),
/// not half-reverted with the step's firewall turned on after it.
#[test]
fn a_revert_that_fires_mid_step_waits_for_it_and_leaves_the_host_as_it_was() {
    let Some(host) = setup() else {
        return;
    };
    arm(&host);
    let step = spawn(&host, &apply::step_command(RELEASE, "50-firewall", true));
    wait_for(&host.on_host("/stub/step-started"));
    let timer = read(&host, "/stub/timer");
    let revert = run(&host, &timer);
    assert!(revert.status.success(), "revert: {revert:?}");
    let step = step.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&step.stdout);

    let calls = read(&host, "/stub/calls");
    assert_eq!(
        read(&host, "/etc/ufw/ufw.conf"),
        "ENABLED=yes\n",
        "ufw is on, as it was; calls:\n{calls}\nstep:\n{stdout}"
    );
    assert_eq!(
        read(&host, "/etc/ufw/user.rules"),
        "allow 22/tcp\n",
        "only the old rule; calls:\n{calls}"
    );
    assert!(
        !host.on_host(SSHD_DROP_IN).exists(),
        "sshd's drop-in is gone, as before provision"
    );
    // The revert began after the step ended, not inside it.
    let step_end = calls.find("ufw --force enable").expect("the step ran");
    let revert_start = calls.find("logger -t clawbake").expect("the revert ran");
    assert!(step_end < revert_start, "calls:\n{calls}");
}

/// The guard reverted (its time ran out between steps): a guarded step
/// after it does not run, and says why.
#[test]
fn no_guarded_step_runs_after_a_revert() {
    let Some(host) = setup() else {
        return;
    };
    arm(&host);
    let revert = run(&host, &apply::guard_revert_command());
    assert!(revert.status.success(), "revert: {revert:?}");
    let out = run(&host, &apply::step_command(RELEASE, "50-firewall", true));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("clawbake-exit={}", apply::GUARD_REVERTED)),
        "{stdout}"
    );
    assert!(
        stdout.contains("the lock-out guard put SSH and the firewall back at")
            && stdout.contains("50-firewall did not run"),
        "{stdout}"
    );
    assert!(
        !host.on_host("/stub/step-started").exists(),
        "the step never began"
    );
    assert_eq!(read(&host, "/etc/ufw/user.rules"), "allow 22/tcp\n");
    // A second revert (the boot unit after the timer) changes nothing.
    let calls = read(&host, "/stub/calls");
    let again = run(&host, &apply::guard_revert_command());
    assert!(again.status.success());
    assert_eq!(read(&host, "/stub/calls"), calls);
}

/// Armed, the host also reverts at its next boot: a unit, enabled, that
/// runs only while the guard is armed; disarming removes it and keeps the
/// new sshd and firewall.
#[test]
fn the_guard_survives_a_reboot_and_disarming_keeps_the_changes() {
    let Some(host) = setup() else {
        return;
    };
    arm(&host);
    let unit_path = "/etc/systemd/system/clawbake-guard-boot.service";
    let unit = read(&host, unit_path);
    assert!(
        unit.contains(&format!("ExecStart={}", apply::guard_revert_command()))
            && unit.contains("ConditionPathExists=/var/lib/clawbake/guard/armed")
            && unit.contains("WantedBy=multi-user.target"),
        "{unit}"
    );
    assert!(
        read(&host, "/stub/calls").contains("systemctl enable --quiet clawbake-guard-boot.service"),
        "the boot unit is enabled"
    );
    if let Some(analyze) = common::tool("systemd-analyze") {
        // systemd's own reading of the unit, with the guard in place.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clawbake-guard-boot.service");
        std::fs::write(&file, unit.replace(apply::GUARD, "/bin/true")).unwrap();
        let out = Command::new(analyze)
            .args(["verify", "--man=no"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !stderr.contains("clawbake-guard-boot"),
            "systemd-analyze verify: {stderr}"
        );
    }

    let step = run(&host, &apply::step_command(RELEASE, "50-firewall", true));
    assert!(String::from_utf8_lossy(&step.stdout).contains("clawbake-exit=0"));
    let disarm = run(&host, &apply::guard_disarm_command());
    assert!(disarm.status.success(), "disarm: {disarm:?}");
    assert!(!host.on_host(unit_path).exists(), "the boot unit is gone");
    // The timer firing late changes nothing now.
    let revert = run(&host, &apply::guard_revert_command());
    assert!(revert.status.success());
    assert!(read(&host, "/etc/ufw/user.rules").contains("port 9922"));
    assert_eq!(read(&host, SSHD_DROP_IN), "Port 9922\n");
}
