//! Base images, the disks every VM starts from through a qcow2 overlay
//! (the base itself is never written):
//!
//! - offline (the default): a Debian 13 guest built here by mmdebstrap,
//!   booted directly with its kernel; it needs only Debian's mirror;
//! - ubuntu (`CLAWBAKE_VM_BASE=ubuntu`): the official Ubuntu 24.04 cloud
//!   image, downloaded once and checked against a SHA256 the user pins in
//!   `CLAWBAKE_UBUNTU_IMAGE_SHA256`, booted by its own bootloader. A cached
//!   copy gets the stand-in archive in `/var/lib/clawbake/images/` by one
//!   preparation boot, the same place the offline image has it.
//!
//! Both play a provider's image that ships the stack's images; the user-data
//! the scenarios boot with is exactly clawbake's.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cache::{Cache, Key};
use crate::error::{Context, Result};
use crate::{bail, say};

/// Ubuntu 24.04's cloud image. The file under `release/` moves with each
/// refresh, so its checksum is the user's to pin.
pub const UBUNTU_URL: &str =
    "https://cloud-images.ubuntu.com/releases/24.04/release/ubuntu-24.04-server-cloudimg-amd64.img";

pub enum Base {
    Debian {
        rootfs: PathBuf,
        kernel: PathBuf,
        initrd: PathBuf,
    },
    Ubuntu {
        image: PathBuf,
    },
}

impl Base {
    pub fn describe(&self) -> &'static str {
        match self {
            Base::Debian { .. } => "offline Debian 13 guest (mmdebstrap, direct kernel boot)",
            Base::Ubuntu { .. } => "Ubuntu 24.04 cloud image (own bootloader)",
        }
    }

    /// The disk an overlay is made on, and its format.
    pub fn disk(&self) -> (&Path, &'static str) {
        match self {
            Base::Debian { rootfs, .. } => (rootfs, "raw"),
            Base::Ubuntu { image } => (image, "qcow2"),
        }
    }
}

/// The offline guest, from the cache or built now.
pub fn debian(cache: &Cache, repo: &Path, preload: &Path) -> Result<Base> {
    let script = repo.join("vm-tests/images/base-debian.sh");
    let preload_digest = clawbake::pin::imageset::sha256_file(preload)
        .context(format_args!("hashing {}", preload.display()))?;
    let key = Key::default().file(&script)?.text(&preload_digest).hex();
    let (dir, built) = cache.entry("debian13", &key, |dir| {
        say!("building the offline Debian 13 guest (mmdebstrap)");
        let status = Command::new("bash")
            .arg(&script)
            .arg(dir)
            .arg(preload)
            .status()
            .context("running vm-tests/images/base-debian.sh")?;
        if !status.success() {
            bail!("vm-tests/images/base-debian.sh failed ({status})");
        }
        // Read-only, so nothing can write the base by mistake.
        set_read_only(&dir.join("rootfs.raw"))
    })?;
    if !built {
        say!("base image: cached ({})", dir.display());
    }
    Ok(Base::Debian {
        rootfs: dir.join("rootfs.raw"),
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.img"),
    })
}

/// The Ubuntu cloud image as downloaded, checked against the pinned SHA256.
pub fn ubuntu_download(cache: &Cache) -> Result<PathBuf> {
    let Ok(pinned) = std::env::var("CLAWBAKE_UBUNTU_IMAGE_SHA256") else {
        bail!(
            "the Ubuntu base needs its checksum pinned: set CLAWBAKE_UBUNTU_IMAGE_SHA256 to the \
             sha256 of ubuntu-24.04-server-cloudimg-amd64.img from \
             https://cloud-images.ubuntu.com/releases/24.04/release/SHA256SUMS"
        );
    };
    let pinned = pinned.trim().to_ascii_lowercase();
    let key = Key::default().text(UBUNTU_URL).text(&pinned).hex();
    let (dir, _) = cache.entry("ubuntu2404", &key, |dir| {
        let out = dir.join("image.img");
        say!("downloading {UBUNTU_URL}");
        let status = Command::new("curl")
            .args(["-fL", "--retry", "3", "-o"])
            .arg(&out)
            .arg(UBUNTU_URL)
            .status()
            .context("running curl")?;
        if !status.success() {
            bail!("downloading {UBUNTU_URL} failed ({status})");
        }
        let got = clawbake::pin::imageset::sha256_file(&out).context("hashing the download")?;
        if got != format!("sha256:{pinned}") {
            bail!("{UBUNTU_URL} has {got}, but CLAWBAKE_UBUNTU_IMAGE_SHA256 pins sha256:{pinned}");
        }
        set_read_only(&out)
    })?;
    Ok(dir.join("image.img"))
}

pub fn set_read_only(path: &Path) -> Result<()> {
    let mut perms = std::fs::metadata(path)
        .context(format_args!("reading {}", path.display()))?
        .permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(path, perms).context(format_args!("protecting {}", path.display()))
}
