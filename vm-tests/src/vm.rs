//! One QEMU VM: 4 vCPU, 8 GiB, a qcow2 overlay on the base, the NoCloud
//! seed as a second virtio disk, user-mode networking with SSH (port 22 and
//! the admin port) forwarded to free ports on 127.0.0.1, the serial console
//! in a file and a QMP socket to power it off (or pause it).
//!
//! Every VM is listed in a registry while it runs, so the Ctrl-C handler
//! can stop it; dropping a [`Vm`] (also while a panic unwinds) stops it and
//! deletes its directory, unless it was asked to stay for debugging.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clawbake::host::transport::ssh::{Connection, Options, SshError};
use clawbake::host::transport::target::Target;

use crate::accel::Accel;
use crate::base::Base;
use crate::error::{Context, Error, Result};
use crate::{bail, say};

pub const VCPUS: u32 = 4;
pub const MEMORY: &str = "8G";
/// The overlay's size: room for Docker, the images and a 4 GiB swap file.
pub const DISK: &str = "20G";

/// The Debian guest's kernel command line. No speculative-execution
/// mitigations: the guest is a throwaway test machine, and under TCG their
/// barriers and flushes are emulated instruction by instruction.
const KERNEL_ARGS: &str = "root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 mitigations=off";

/// A running QEMU, as the registry keeps it.
struct Running {
    id: u64,
    child: Child,
    dir: PathBuf,
    qmp: PathBuf,
}

static REGISTRY: Mutex<Vec<Running>> = Mutex::new(Vec::new());

pub struct Vm {
    id: u64,
    pub dir: PathBuf,
    pub serial: PathBuf,
    pub ssh_port: u16,
    pub admin_port: u16,
    pub key: PathBuf,
    known_hosts: PathBuf,
    host_key: Mutex<Option<String>>,
    pub started: Instant,
    keep: bool,
}

/// What a VM boots with.
pub struct Spec<'a> {
    pub base: &'a Base,
    pub accel: Accel,
    pub seed: &'a Path,
    /// The guest's admin SSH port, forwarded beside 22.
    pub admin_port: u16,
    /// The private key the seed authorizes.
    pub key: &'a Path,
    /// Forward the admin port from the same port on 127.0.0.1, for
    /// `clawbake provision`, which reconnects on the site's port itself.
    pub same_admin_port: bool,
    /// Extra raw disks (virtio, read-only), by serial.
    pub extra_disks: Vec<(&'a str, &'a Path)>,
}

impl Vm {
    /// Start a VM in a fresh directory under `parent`.
    pub fn start(parent: &Path, spec: &Spec) -> Result<Vm> {
        static NEXT: Mutex<u64> = Mutex::new(0);
        let id = {
            let mut n = NEXT
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *n += 1;
            *n
        };
        let dir = tempfile::Builder::new()
            .prefix("vm-")
            .tempdir_in(parent)
            .context("creating the VM's directory")?
            .keep();
        let overlay = dir.join("overlay.qcow2");
        let (disk, format) = spec.base.disk();
        let status = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-b"])
            .arg(disk)
            .args(["-F", format])
            .arg(&overlay)
            .arg(DISK)
            .status()
            .context("running qemu-img")?;
        if !status.success() {
            bail!("qemu-img could not create an overlay on {}", disk.display());
        }
        let ssh_port = free_port()?;
        let admin_port = admin_host_port(spec)?;
        let serial = dir.join("serial.log");
        let qmp = dir.join("qmp.sock");
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-machine", "q35"])
            .args(spec.accel.args())
            .args(["-smp", &VCPUS.to_string(), "-m", MEMORY])
            .args(["-display", "none", "-vga", "none", "-monitor", "none"])
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp.display()))
            .arg("-drive")
            // The overlay dies with the VM, so the guest's flushes need not
            // reach the host's disk: dpkg and Docker flush often, and under
            // emulation every flush costs.
            .arg(format!(
                "file={},if=virtio,format=qcow2,cache=unsafe",
                overlay.display()
            ))
            .arg("-drive")
            .arg(format!(
                "file={},if=virtio,format=raw,readonly=on",
                spec.seed.display()
            ))
            .args(["-netdev"])
            .arg(format!(
                "user,id=n0,hostfwd=tcp:127.0.0.1:{ssh_port}-:22,hostfwd=tcp:127.0.0.1:{admin_port}-:{}",
                spec.admin_port
            ))
            .args(["-device", "virtio-net-pci,netdev=n0"]);
        for (i, (serial, path)) in spec.extra_disks.iter().enumerate() {
            cmd.arg("-drive").arg(format!(
                "file={},if=none,id=extra{i},format=raw,readonly=on",
                path.display()
            ));
            cmd.arg("-device")
                .arg(format!("virtio-blk-pci,drive=extra{i},serial={serial}"));
        }
        if let Base::Debian { kernel, initrd, .. } = spec.base {
            cmd.arg("-kernel")
                .arg(kernel)
                .arg("-initrd")
                .arg(initrd)
                .args(["-append", KERNEL_ARGS]);
        }
        let log = fs::File::create(dir.join("qemu.log")).context("creating qemu.log")?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("opening qemu.log")?)
            .stderr(log)
            .spawn()
            .context("starting qemu-system-x86_64")?;
        let started = Instant::now();
        REGISTRY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Running {
                id,
                child,
                dir: dir.clone(),
                qmp,
            });
        Ok(Vm {
            id,
            known_hosts: dir.join("known_hosts"),
            dir,
            serial,
            ssh_port,
            admin_port,
            key: spec.key.to_owned(),
            host_key: Mutex::new(None),
            started,
            keep: false,
        })
    }

    /// The host key's fingerprint, once a login has seen it.
    pub fn host_key(&self) -> Option<String> {
        self.host_key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// Leave this VM running when it is dropped (`CLAWBAKE_VM_KEEP=1` after a
    /// failure).
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Whether QEMU is still running; its log if it is not.
    pub fn check_alive(&self) -> Result<()> {
        let mut reg = REGISTRY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = reg.iter_mut().find(|r| r.id == self.id) {
            if let Ok(Some(status)) = r.child.try_wait() {
                let log = fs::read_to_string(r.dir.join("qemu.log")).unwrap_or_default();
                bail!("QEMU exited ({status}): {}", log.trim());
            }
        }
        Ok(())
    }

    /// Log in as root on the forwarded `port`: the host key seen first is
    /// trusted for the rest of the VM's life, on either port.
    pub fn connect(
        &self,
        port: u16,
        timeout: Duration,
    ) -> std::result::Result<Connection, SshError> {
        let target = Target {
            user: "root".into(),
            host: "127.0.0.1".into(),
            port,
        };
        let mut options = Options {
            identity: Some(self.key.clone()),
            known_hosts: self.known_hosts.clone(),
            accept_host_key: self
                .host_key
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            connect_timeout: timeout,
            command_timeout: Duration::from_secs(1800),
        };
        match Connection::open(&target, &options) {
            Err(SshError::HostKeyUnknown { fingerprint, .. })
                if options.accept_host_key.is_none() =>
            {
                *self
                    .host_key
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fingerprint.clone());
                options.accept_host_key = Some(fingerprint);
                Connection::open(&target, &options)
            }
            other => other,
        }
    }

    /// Wait for a real SSH login on port 22 or the admin port (QEMU accepts
    /// TCP on a forward before sshd listens, so an open port proves nothing).
    pub fn wait_for_ssh(&self, limit: Duration) -> Result<(Connection, u16)> {
        let deadline = Instant::now() + limit;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            self.check_alive()?;
            for port in [self.ssh_port, self.admin_port] {
                match self.connect(port, Duration::from_secs(10)) {
                    Ok(c) => return Ok((c, port)),
                    Err(e) => last = e.to_string(),
                }
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        bail!("no SSH login within {}s: {last}", limit.as_secs())
    }

    /// The first login of a guest whose boot does nothing but start sshd
    /// (a key-only seed), within `limit`: when none comes within `window`,
    /// the guest is taken to be stuck in early boot, as TCG guests now and
    /// then are (a CI run's guest stalled in RCU before userspace, where a
    /// login normally comes within 50 s), and is reset once (QMP
    /// `system_reset`) and given the rest of `limit`. No login came before
    /// the reset, so no host key seen then is trusted after it.
    pub fn wait_for_first_ssh(
        &self,
        window: Duration,
        limit: Duration,
    ) -> Result<(Connection, u16)> {
        match self.wait_for_ssh(window) {
            Ok(c) => Ok(c),
            Err(first) => {
                self.check_alive()?;
                say!(
                    "no SSH login within {}s ({}); the serial console ends:\n{}\nresetting the guest once",
                    window.as_secs(),
                    first.0,
                    self.serial_tail(5)
                );
                qmp(&self.qmp_socket(), "system_reset").context("resetting the VM")?;
                *self
                    .host_key
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                let _ = fs::remove_file(&self.known_hosts);
                self.wait_for_ssh(limit.saturating_sub(window).max(window))
                    .map_err(|e| Error(format!("{} (and before the reset: {})", e.0, first.0)))
            }
        }
    }

    /// The last `n` lines of the serial console.
    pub fn serial_tail(&self, n: usize) -> String {
        tail(&self.serial, n)
    }

    /// How to reach a kept VM.
    pub fn ssh_command(&self, port: u16) -> String {
        format!(
            "ssh -p {port} -i {} -o UserKnownHostsFile={} root@127.0.0.1",
            self.key.display(),
            self.known_hosts.display()
        )
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if self.keep {
            say!(
                "keeping the VM (QEMU pid {}): {}",
                self.pid().unwrap_or_default(),
                self.dir.display()
            );
            say!("  ssh (admin port): {}", self.ssh_command(self.admin_port));
            say!(
                "  ssh (port 22, before hardening): {}",
                self.ssh_command(self.ssh_port)
            );
            let mut reg = REGISTRY
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            reg.retain(|r| r.id != self.id);
            return;
        }
        let running = {
            let mut reg = REGISTRY
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let pos = reg.iter().position(|r| r.id == self.id);
            pos.map(|p| reg.remove(p))
        };
        if let Some(r) = running {
            stop(r);
        }
    }
}

impl Vm {
    /// Stop the guest's CPUs (QMP `stop`): a VM kept for a later scenario
    /// costs the host nothing while it waits. Its clock stands still too,
    /// so [`Vm::resume`] sets it again.
    pub fn pause(&self) -> Result<()> {
        qmp(&self.qmp_socket(), "stop").context("pausing the VM")
    }

    /// Run the guest's CPUs again (QMP `cont`) and set its clock to this
    /// machine's, which ran on while it stood.
    pub fn resume(&self) -> Result<()> {
        qmp(&self.qmp_socket(), "cont").context("resuming the VM")?;
        let conn = self
            .connect(self.admin_port, Duration::from_secs(60))
            .context("logging in after resuming")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        conn.output(&format!("date -u -s @{now} >/dev/null"))
            .map_err(|e| crate::error::Error(format!("setting the resumed guest's clock: {e}")))?;
        Ok(())
    }

    fn qmp_socket(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }

    fn pid(&self) -> Option<u32> {
        let reg = REGISTRY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reg.iter().find(|r| r.id == self.id).map(|r| r.child.id())
    }
}

/// Stop every VM still running: the Ctrl-C handler's job.
pub fn stop_all() {
    let all: Vec<Running> = {
        let mut reg = REGISTRY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reg.drain(..).collect()
    };
    for r in all {
        stop(r);
    }
}

/// `system_powerdown` over QMP, a few seconds to obey, then kill; then
/// delete the VM's directory (its overlay with it).
fn stop(mut r: Running) {
    if matches!(r.child.try_wait(), Ok(None)) {
        let _ = powerdown(&r.qmp);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(r.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = r.child.kill();
        let _ = r.child.wait();
    }
    let _ = fs::remove_dir_all(&r.dir);
}

fn powerdown(qmp_socket: &Path) -> std::io::Result<()> {
    qmp(qmp_socket, "system_powerdown")
}

/// One QMP command without arguments, its answer read and dropped.
fn qmp(socket: &Path, command: &str) -> std::io::Result<()> {
    let mut sock = UnixStream::connect(socket)?;
    sock.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut reader = BufReader::new(sock.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?; // the greeting
    sock.write_all(b"{\"execute\":\"qmp_capabilities\"}\n")?;
    line.clear();
    reader.read_line(&mut line)?;
    sock.write_all(format!("{{\"execute\":\"{command}\"}}\n").as_bytes())?;
    line.clear();
    reader.read_line(&mut line)?;
    if line.contains("\"error\"") {
        return Err(std::io::Error::other(format!(
            "QMP {command}: {}",
            line.trim()
        )));
    }
    Ok(())
}

/// Where the guest's admin port is forwarded from: the same port for
/// `clawbake provision`, which reconnects on the site's port; any free one
/// otherwise.
fn admin_host_port(spec: &Spec) -> Result<u16> {
    if !spec.same_admin_port {
        return free_port();
    }
    if TcpListener::bind(("127.0.0.1", spec.admin_port)).is_err() {
        bail!(
            "port {} on 127.0.0.1 is taken; this scenario forwards the guest's admin port from the same port",
            spec.admin_port
        );
    }
    Ok(spec.admin_port)
}

/// A port on 127.0.0.1 that nothing listens on now. A VM still shutting
/// down holds its forwards, so every VM gets its own.
fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr().context("finding a free port")?.port())
}

pub fn tail(path: &Path, n: usize) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
