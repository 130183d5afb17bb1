//! The Ubuntu 24.04 base for machines with internet: the official cloud
//! image (checked against the pinned SHA256), plus the stand-in archive in
//! `/var/lib/clawbake/images/`, put there by one preparation boot whose
//! seed copies it from a raw disk and then resets cloud-init, so the
//! scenarios' first boot is a first boot. The result is cached like the
//! offline image; the downloaded file is never written.
//!
//! Not exercised on machines without internet (the default here), where the
//! offline Debian 13 guest stands in.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::accel;
use crate::base::{self, Base};
use crate::cache::{Cache, Key};
use crate::error::{Context, Result};
use crate::{bail, say, seed, site, vm};

const PREPARE: &str = "#cloud-config
# clawbake vm-tests: make this image a provider image with the stand-ins.
runcmd:
  - [sh, -c, 'install -d -m 0700 /var/lib/clawbake/images && cp /dev/disk/by-id/virtio-standins /var/lib/clawbake/images/standins.part && mv /var/lib/clawbake/images/standins.part /var/lib/clawbake/images/standins.tar']
  - [cloud-init, clean, --logs, --machine-id, --seed]
  - [poweroff]
";

pub fn provider_image(cache: &Cache, preload: &Path) -> Result<Base> {
    let image = base::ubuntu_download(cache)?;
    let digest =
        clawbake::pin::imageset::sha256_file(preload).context("hashing the stand-in archive")?;
    let key = Key::default()
        .text(&image.display().to_string())
        .text(&digest)
        .text(PREPARE)
        .hex();
    let (dir, _) = cache.entry("ubuntu2404-standins", &key, |dir| {
        say!("preparing the Ubuntu image: copying the stand-in archive in (one boot)");
        let work = tempfile::tempdir().context("creating a preparation directory")?;
        fs::write(work.path().join("user-data"), PREPARE)
            .context("writing the preparation seed")?;
        fs::write(
            work.path().join("meta-data"),
            "instance-id: clawbake-vm-prepare\n",
        )
        .context("writing the preparation seed")?;
        let seed = seed::write(
            work.path(),
            &work.path().join("user-data"),
            &work.path().join("meta-data"),
        )?;
        let key = site::keygen(work.path())?;
        let downloaded = Base::Ubuntu {
            image: image.clone(),
        };
        let accel = accel::choose(&downloaded)?;
        let vm = vm::Vm::start(
            work.path(),
            &vm::Spec {
                base: &downloaded,
                accel,
                seed: &seed,
                admin_port: 22,
                key: &key,
                same_admin_port: false,
                extra_disks: vec![("standins", preload)],
            },
        )?;
        let started = Instant::now();
        while vm.check_alive().is_ok() {
            if started.elapsed() > Duration::from_secs(1800) {
                bail!(
                    "the preparation boot did not power off in 30 minutes:\n{}",
                    vm.serial_tail(30)
                );
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        let overlay = vm.dir.join("overlay.qcow2");
        let out = dir.join("image.qcow2");
        let status = Command::new("qemu-img")
            .args(["convert", "-O", "qcow2"])
            .arg(&overlay)
            .arg(&out)
            .status()
            .context("running qemu-img convert")?;
        if !status.success() {
            bail!("qemu-img convert failed ({status})");
        }
        drop(vm);
        base::set_read_only(&out)
    })?;
    Ok(Base::Ubuntu {
        image: dir.join("image.qcow2"),
    })
}
