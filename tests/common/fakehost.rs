//! A throwaway "server" for provision tests: a real OpenSSH server on
//! 127.0.0.1 whose sessions are chrooted into a directory the test owns.
//! The directory holds a shell and the core utilities (copied from this
//! machine with their libraries), an `/etc/os-release` of the test's
//! choosing, and nothing else: no apt, no Docker, no sudo. Provision runs
//! there for real, up to the first step that needs what a VPS has, so its
//! decisions, uploads and failures are tested without touching this
//! machine. sshd runs in its own mount namespace, so the `/proc` and `/dev`
//! it gives the chroot vanish with it.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clawbake::pipeline::Built;

/// What the chroot's tools are: enough for clawbake's own commands and
/// the first lines of each step.
const TOOLS: &[&str] = &[
    "bash",
    "sh",
    "cat",
    "sha256sum",
    "tar",
    "gzip",
    "mkdir",
    "install",
    "rm",
    "mv",
    "ln",
    "sed",
    "awk",
    "df",
    "uname",
    "id",
    "sort",
    "find",
    "stat",
    "date",
    "tee",
    "head",
    "tail",
    "mktemp",
    "ls",
    "grep",
    "xargs",
    "true",
    "sleep",
    "basename",
    "dirname",
    "env",
    "chmod",
    "readlink",
    "seq",
    "wc",
    "cut",
    "tr",
    "printf",
    "cp",
    "openssl",
    "flock",
    "du",
    "jq",
    "timeout",
];

pub struct FakeHost {
    /// Keys, config and logs; outside the chroot.
    dir: tempfile::TempDir,
    /// The chroot: the host's `/`.
    pub root: PathBuf,
    pub port: u16,
    child: Child,
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The chroot is root-owned and outside the temp dir (sshd refuses
        // a chroot under a world-writable directory such as /tmp).
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn keygen(path: &Path) {
    let keygen = super::tool("ssh-keygen").expect("ssh-keygen");
    super::run_ok(
        Command::new(keygen)
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
            .arg(path),
        "ssh-keygen",
    );
}

/// Wait until an SSH server answers on `port` with its banner (a port
/// that accepts is not enough); panic with its log if it never does.
pub fn wait_for_banner(port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let mut banner = [0u8; 7];
            if s.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0" {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    panic!("sshd did not come up on port {port}:\n{log}");
}

/// The `known_hosts` line that trusts the key in `host_key_pub` on
/// 127.0.0.1:`port`.
pub fn known_hosts_line(port: u16, host_key_pub: &Path) -> String {
    let key = std::fs::read_to_string(host_key_pub).unwrap();
    let mut parts = key.split_whitespace();
    format!(
        "[127.0.0.1]:{port} {} {}\n",
        parts.next().unwrap(),
        parts.next().unwrap()
    )
}

fn which(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|p| p.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on this machine"))
}

/// Copy a file into the chroot at the same path, making parents.
fn copy_in(root: &Path, path: &Path) {
    let dest = root.join(path.strip_prefix("/").unwrap());
    if dest.exists() {
        return;
    }
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(path, &dest).unwrap_or_else(|e| panic!("copying {}: {e}", path.display()));
}

/// The shared libraries a binary loads, by `ldd`.
fn libraries(binary: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(binary).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => l.split_whitespace().next(),
            }?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Where the chroots go: under cargo's temp dir, unless a directory above
/// it is writable by others (a checkout under /tmp), which sshd refuses in
/// a chroot's path; then under /run, which is root's alone.
fn chroot_base() -> PathBuf {
    use std::os::unix::fs::MetadataExt as _;
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let safe = target
        .ancestors()
        .skip(1)
        .all(|dir| std::fs::metadata(dir).map_or(true, |m| m.uid() == 0 && m.mode() & 0o022 == 0));
    if safe {
        target.join("fakehosts")
    } else {
        PathBuf::from("/run/clawbake-test-fakehosts")
    }
}

impl FakeHost {
    /// `None` (after saying why) when sshd or unshare is not installed
    /// outside CI. `os` is `(ID, VERSION_ID, PRETTY_NAME)`.
    pub fn start(os: (&str, &str, &str)) -> Option<FakeHost> {
        let sshd = super::tool("sshd")?;
        super::tool("ssh-keygen")?;
        let unshare = super::tool("unshare")?;
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        keygen(&p("host_key"));
        keygen(&p("client_key"));
        std::fs::copy(p("client_key.pub"), p("authorized_keys")).unwrap();

        let base = chroot_base();
        std::fs::create_dir_all(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = tempfile::Builder::new()
            .prefix("host-")
            .tempdir_in(&base)
            .unwrap()
            .keep();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        build_root(&root, os);

        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nChrootDirectory {}\n\
             Subsystem sftp internal-sftp\nLogLevel ERROR\n",
            p("host_key").display(),
            p("sshd.pid").display(),
            p("authorized_keys").display(),
            root.display(),
        );
        std::fs::write(p("sshd_config"), config).unwrap();
        let _ = std::fs::create_dir_all("/run/sshd");
        let script = format!(
            "mount --bind {r} {r} && mount -t proc proc {r}/proc && exec {sshd} -D -e -f {cfg}",
            r = root.display(),
            sshd = sshd.display(),
            cfg = p("sshd_config").display()
        );
        let child = Command::new(unshare)
            .args([
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                &script,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p("sshd.log")).unwrap())
            .spawn()
            .expect("starting sshd");
        let host = FakeHost {
            dir,
            root,
            port,
            child,
        };
        host.wait_for_banner();
        Some(host)
    }

    fn wait_for_banner(&self) {
        wait_for_banner(self.port, &self.dir.path().join("sshd.log"));
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A path inside the host.
    pub fn on_host(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// The `--host` value for `user`.
    pub fn host_arg(&self, user: &str) -> String {
        format!("{user}@127.0.0.1:{}", self.port)
    }

    /// `--identity` and `--known-hosts` that trust this host.
    pub fn ssh_args(&self) -> Vec<String> {
        let known = self.path("known_hosts");
        if !known.exists() {
            let line = known_hosts_line(self.port, &self.path("host_key.pub"));
            std::fs::write(&known, line).unwrap();
        }
        vec![
            "--identity".into(),
            self.path("client_key").display().to_string(),
            "--known-hosts".into(),
            known.display().to_string(),
        ]
    }

    /// Put a built release on the host as if it had been applied: the
    /// release directory, `current`, the host files in place, and
    /// `state.json`.
    pub fn install_release(&self, built: &Built) {
        let id = &built.bundle.manifest.build_id[..16];
        let dir = self.on_host(&format!("/opt/clawbake/releases/{id}"));
        for (path, file) in built.bundle.tree.files() {
            let dest = dir.join(path);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::write(&dest, &file.content).unwrap();
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(file.mode)).unwrap();
            if let Some(installed) = path.strip_prefix("host/") {
                let dest = self.on_host(installed);
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::write(&dest, &file.content).unwrap();
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(file.mode))
                    .unwrap();
            }
        }
        std::fs::write(dir.join("manifest.json"), built.bundle.manifest.to_json()).unwrap();
        let current = self.on_host("/opt/clawbake/current");
        let _ = std::fs::remove_file(&current);
        symlink(format!("/opt/clawbake/releases/{id}"), current).unwrap();
        let state = self.on_host("/var/lib/clawbake/state.json");
        std::fs::create_dir_all(state.parent().unwrap()).unwrap();
        let previous = std::fs::read_to_string(&state)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["build_id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        std::fs::write(
            state,
            format!(
                "{{\"build_id\": \"{id}\", \"applied_at\": \"2026-11-25T00:00:00Z\", \"previous\": \"{previous}\"}}\n"
            ),
        )
        .unwrap();
    }

    /// Where `current` points, as the host sees it.
    pub fn current(&self) -> String {
        std::fs::read_link(self.on_host("/opt/clawbake/current"))
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }

    /// The `docker` calls a fake docker recorded in /var/log/docker-calls,
    /// after checking that each `compose up` among them leaves the services
    /// it does not change alone: `--no-build` (the gateway's image has
    /// `pull_policy: build`), and no `--no-deps` (Compose before 2.30 hashes
    /// `depends_on`, which it prunes, so the next release would recreate),
    /// and no `--wait` without a deadline (a container that keeps
    /// restarting reads as starting for ever).
    pub fn compose_calls(&self) -> String {
        let calls = std::fs::read_to_string(self.on_host("/var/log/docker-calls")).unwrap();
        let ups: Vec<&str> = calls.lines().filter(|l| l.contains(" up ")).collect();
        assert!(!ups.is_empty(), "no compose up in {calls}");
        for up in ups {
            assert!(
                up.contains(" --no-build")
                    && !up.contains("--no-deps")
                    && (!up.contains("--wait") || up.contains("--wait-timeout ")),
                "{up}"
            );
        }
        calls
    }
}

fn build_root(root: &Path, os: (&str, &str, &str)) {
    let mut libs = BTreeSet::new();
    for tool in TOOLS {
        let path = which(tool);
        let real = std::fs::canonicalize(&path).unwrap();
        for lib in libraries(&real) {
            libs.insert(lib);
        }
        copy_in(root, &real);
        if real != path {
            let link = root.join(path.strip_prefix("/").unwrap());
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            if !link.exists() {
                symlink(&real, link).unwrap();
            }
        }
    }
    for lib in libs {
        copy_in(root, &std::fs::canonicalize(&lib).unwrap());
        let link = root.join(lib.strip_prefix("/").unwrap());
        if !link.exists() {
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            symlink(std::fs::canonicalize(&lib).unwrap(), link).unwrap();
        }
    }
    // Debian and Ubuntu merge /bin into /usr/bin.
    for dir in ["bin", "sbin", "lib", "lib64"] {
        let target = format!("usr/{dir}");
        std::fs::create_dir_all(root.join(&target)).unwrap();
        if !root.join(dir).exists() {
            symlink(target, root.join(dir)).unwrap();
        }
    }
    for dir in ["proc", "etc", "opt", "var/lib", "usr/local/sbin", "root"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let dev = root.join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    super::run_ok(
        Command::new("mknod")
            .args(["-m", "666"])
            .arg(dev.join("null"))
            .args(["c", "1", "3"]),
        "mknod /dev/null",
    );
    let etc = root.join("etc");
    std::fs::write(
        etc.join("os-release"),
        format!(
            "ID={}\nVERSION_ID=\"{}\"\nPRETTY_NAME=\"{}\"\n",
            os.0, os.1, os.2
        ),
    )
    .unwrap();
    std::fs::copy("/etc/passwd", etc.join("passwd")).unwrap();
    std::fs::copy("/etc/group", etc.join("group")).unwrap();
}
