//! The user-data as a first boot reads it: cloud-init's own `write_files`
//! module (its Python, this machine's cloud-init) decodes the release
//! archive into the throwaway host, and the one `runcmd` the user-data
//! carries runs there over SSH, as root. The tree it unpacks is compared
//! with the build byte for byte; a changed or cut archive is refused
//! before the apply script runs a step.

mod common;

use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use common::fakehost::FakeHost;

const UBUNTU: (&str, &str, &str) = ("ubuntu", "24.04", "Ubuntu 24.04.1 LTS");
const APPLY_LOG: &str = "/var/log/clawbake/apply.log";

/// The interpreter cloud-init runs on, from its launcher's `#!` line, so
/// its own modules are importable.
fn cloud_init_python() -> Option<String> {
    let launcher = common::tool("cloud-init")?;
    let text = std::fs::read_to_string(launcher).unwrap();
    let first = text.lines().next().unwrap_or_default();
    Some(first.trim_start_matches("#!").trim().to_owned())
}

/// Write one `write_files` entry with cloud-init's module, at `dest`.
fn cloud_init_write(python: &str, entry: &serde_json::Value, dest: &Path) -> Output {
    let mut entry = entry.clone();
    entry["path"] = dest.display().to_string().into();
    let mut child = Command::new(python)
        .args([
            "-c",
            "import json, sys\nfrom cloudinit.config import cc_write_files as w\n\
             w.write_files('write_files', [json.load(sys.stdin)], 'root:root')",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &entry).unwrap();
    child.wait_with_output().unwrap()
}

/// The user-data's `runcmd` as cloud-init's runcmd module writes it (its
/// own `shellify`), at `/var/lib/cloud/runcmd` in the host.
fn write_runcmd(python: &str, host: &FakeHost, runcmd: &serde_json::Value) -> String {
    let mut child = Command::new(python)
        .args([
            "-c",
            "import json, sys\nfrom cloudinit import util\n\
             sys.stdout.write(util.shellify(json.load(sys.stdin)))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), runcmd).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "shellify: {out:?}");
    let script = String::from_utf8(out.stdout).unwrap();
    let path = host.on_host("/var/lib/cloud/runcmd");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &script).unwrap();
    script
}

/// That script run as cloud-init's final stage runs it: by `sh`, as root,
/// in the host (over SSH, so /proc is there).
fn run_first_boot(host: &FakeHost) -> Output {
    Command::new("ssh")
        .args(["-p", &host.port.to_string(), "-i"])
        .arg(host.path("client_key"))
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "root@127.0.0.1",
            "--",
            "sh /var/lib/cloud/runcmd",
        ])
        .output()
        .unwrap()
}

fn read(host: &FakeHost, path: &str) -> String {
    std::fs::read_to_string(host.on_host(path)).unwrap_or_default()
}

#[test]
fn first_boot_unpacks_the_release_byte_for_byte_and_refuses_a_changed_one() {
    let Some(python) = cloud_init_python() else {
        return;
    };
    let Some(host) = FakeHost::start(UBUNTU) else {
        return;
    };
    let built = common::build(&clawbake::config::SiteInput::Example);
    let doc: serde_json::Value = serde_norway::from_str(&built.bundle.user_data).unwrap();
    let files = doc["write_files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "the release is one entry");
    let entry = &files[0];
    let runcmd: Vec<String> = serde_json::from_value(doc["runcmd"][0].clone()).unwrap();
    let release = runcmd[4].clone();
    assert_eq!(
        release,
        clawbake::host::apply::release_dir(&built.bundle.manifest)
    );
    let archive = entry["path"].as_str().unwrap();
    assert_eq!(archive, format!("{release}.tar"));
    std::fs::create_dir_all(host.on_host(&release).parent().unwrap()).unwrap();
    // The apply script's log tee is a process substitution: bash wants
    // /dev/fd, which a VPS has and the chroot lacks.
    std::fs::create_dir_all(host.on_host("/dev")).unwrap();
    if !host.on_host("/dev/fd").exists() {
        std::os::unix::fs::symlink("/proc/self/fd", host.on_host("/dev/fd")).unwrap();
    }
    shellcheck_unpack(&runcmd[2]);

    // A paste box that cut the text in half: the YAML still reads, the
    // runcmd (before the archive) is whole, the archive is not; cloud-init
    // writes nothing, and the first boot says so in the log.
    let text = &built.bundle.user_data;
    let cut: serde_json::Value = serde_norway::from_str(&text[..text.len() / 2]).unwrap();
    assert_eq!(cut["runcmd"], doc["runcmd"]);
    let out = cloud_init_write(&python, &cut["write_files"][0], &host.on_host(archive));
    assert!(!out.status.success(), "cloud-init decoded a cut archive");
    assert!(!host.on_host(archive).exists());
    write_runcmd(&python, &host, &cut["runcmd"]);
    let out = run_first_boot(&host);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        read(&host, APPLY_LOG).contains("tar is missing: cloud-init could not decode it"),
        "{}",
        read(&host, APPLY_LOG)
    );

    // A well-formed archive with one byte of one script changed: refused
    // by its sha256 before anything is unpacked or run.
    let tar = gunzip_b64(entry["content"].as_str().unwrap());
    let at = tar
        .windows(9)
        .position(|w| w == b"ufw allow")
        .expect("the firewall step allows a port");
    let mut changed = tar.clone();
    changed[at] = b'#';
    std::fs::write(host.on_host(archive), &changed).unwrap();
    write_runcmd(&python, &host, &doc["runcmd"]);
    let out = run_first_boot(&host);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let log = read(&host, APPLY_LOG);
    assert!(
        log.contains("is not the release this user-data was built with"),
        "{log}"
    );
    assert!(!log.contains("step "), "a step ran: {log}");
    assert!(!host.on_host(&release).exists());
    assert!(!host.on_host(&format!("{release}.new")).exists());

    // A release directory already there (a server made from a snapshot,
    // `cloud-init clean`), damaged: replaced whole, as provision does.
    std::fs::create_dir_all(host.on_host(&release)).unwrap();
    std::fs::write(host.on_host(&format!("{release}/stray")), "x").unwrap();
    std::fs::write(
        host.on_host(&format!("{release}/apply.sh")),
        "#!/bin/sh\nexit 0\n",
    )
    .unwrap();

    // The archive as built: cloud-init writes it (root, 0600), the first
    // boot unpacks it and hands over to the apply script, whose first step
    // then stops where the chroot lacks apt-get.
    let out = cloud_init_write(&python, entry, &host.on_host(archive));
    assert!(out.status.success(), "cloud-init: {out:?}");
    let meta = std::fs::metadata(host.on_host(archive)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(std::fs::read(host.on_host(archive)).unwrap(), tar);
    let applying = format!(
        "clawbake: applying release {}",
        release.rsplit('/').next().unwrap()
    );
    let out = run_first_boot(&host);
    let log = read(&host, APPLY_LOG);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(
        log.contains(&applying) && log.contains("clawbake: step 10-base: start"),
        "{out:?}\n{log}"
    );
    assert_tree_is_the_build(&host, &built, &release);
    // The apply failed, so the archive stays: run again, it applies again.
    assert!(
        host.on_host(archive).exists(),
        "the archive of a failed apply is kept"
    );
    let out = run_first_boot(&host);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(read(&host, APPLY_LOG).matches(&applying).count(), 2);
    assert_tree_is_the_build(&host, &built, &release);
}

fn gunzip_b64(content: &str) -> Vec<u8> {
    let gz = base64::engine::general_purpose::STANDARD
        .decode(content)
        .unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut tar)
        .unwrap();
    tar
}

/// The first boot's script is shell in a string, which no checker of the
/// release's files reads: shellcheck reads it as `sh`.
fn shellcheck_unpack(script: &str) {
    let Some(shellcheck) = common::tool("shellcheck") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unpack.sh");
    std::fs::write(&file, format!("#!/bin/sh\n{script}\n")).unwrap();
    common::run_ok(
        Command::new(shellcheck).arg(&file),
        "shellcheck of the first boot's script",
    );
}

/// The tree on the host is the build's: every file of the manifest and
/// the manifest itself, same bytes, same mode, owned by root, no other.
fn assert_tree_is_the_build(host: &FakeHost, built: &clawbake::pipeline::Built, release: &str) {
    let mut expected: Vec<(String, u32, Vec<u8>)> = built
        .bundle
        .tree
        .files()
        .map(|(p, f)| (p.to_owned(), f.mode, f.content.clone()))
        .collect();
    expected.push((
        "manifest.json".into(),
        0o644,
        built.bundle.manifest.to_json().into_bytes(),
    ));
    for (path, mode, content) in &expected {
        let on_host = host.on_host(&format!("{release}/{path}"));
        let meta = std::fs::metadata(&on_host).unwrap();
        assert_eq!(&std::fs::read(&on_host).unwrap(), content, "{path}");
        assert_eq!(meta.permissions().mode() & 0o7777, *mode, "{path}");
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{path}");
    }
    let on_disk = common::files_under(&host.on_host(release));
    assert_eq!(on_disk.len(), expected.len(), "{on_disk:?}");
    for m in &built.bundle.manifest.files {
        let (_, mode, content) = expected.iter().find(|(p, _, _)| *p == m.path).unwrap();
        assert_eq!(
            m.sha256,
            clawbake::bundle::sha256_hex(content),
            "{}",
            m.path
        );
        assert_eq!(m.mode, format!("{mode:04o}"), "{}", m.path);
    }
}
