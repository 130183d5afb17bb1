//! KVM or TCG. `/dev/kvm` existing proves little: on some machines it is
//! an emulating module under which a guest hangs in early boot. So KVM is
//! used only when a short probe boot prints the kernel banner on the serial
//! console; otherwise multi-threaded TCG. `CLAWBAKE_VM_ACCEL=kvm|tcg`
//! skips the probe.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::base::Base;
use crate::error::{Context, Result};
use crate::say;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn args(self) -> Vec<&'static str> {
        match self {
            Accel::Kvm => vec!["-accel", "kvm", "-cpu", "host"],
            Accel::Tcg => vec!["-accel", "tcg,thread=multi,tb-size=512", "-cpu", "max"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "KVM",
            Accel::Tcg => "TCG (multi-threaded)",
        }
    }
}

const PROBE: Duration = Duration::from_secs(12);

pub fn choose(base: &Base) -> Result<Accel> {
    match std::env::var("CLAWBAKE_VM_ACCEL").as_deref() {
        Ok("kvm") => return Ok(Accel::Kvm),
        Ok("tcg") => return Ok(Accel::Tcg),
        _ => {}
    }
    if fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        say!("accelerator: TCG (multi-threaded): /dev/kvm is absent or not usable");
        return Ok(Accel::Tcg);
    }
    if probe(base)? {
        say!("accelerator: KVM (a probe boot reached the kernel banner)");
        Ok(Accel::Kvm)
    } else {
        say!(
            "accelerator: TCG (multi-threaded): /dev/kvm opens, but a probe boot printed no kernel banner in {}s",
            PROBE.as_secs()
        );
        Ok(Accel::Tcg)
    }
}

/// Boot the base under KVM, read-only and without a network, and watch the
/// serial console for `Linux version`.
fn probe(base: &Base) -> Result<bool> {
    let dir = tempfile::tempdir().context("creating the probe's directory")?;
    let serial = dir.path().join("serial.log");
    let (disk, format) = base.disk();
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-machine", "q35"])
        .args(Accel::Kvm.args())
        .args(["-smp", "1", "-m", "1G", "-display", "none", "-vga", "none"])
        .args(["-monitor", "none", "-nic", "none", "-snapshot"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-drive")
        .arg(format!(
            "file={},if=virtio,format={format},readonly=on",
            disk.display()
        ));
    if let Base::Debian { kernel, initrd, .. } = base {
        cmd.arg("-kernel")
            .arg(kernel)
            .arg("-initrd")
            .arg(initrd)
            .args(["-append", "console=ttyS0,115200 panic=-1"]);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the KVM probe")?;
    let started = Instant::now();
    let mut ok = false;
    while started.elapsed() < PROBE {
        if fs::read_to_string(&serial).is_ok_and(|s| s.contains("Linux version")) {
            ok = true;
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(ok)
}
