//! The NoCloud seed: an image labelled `cidata` holding user-data and
//! meta-data, written by `cloud-localds` (cloud-image-utils).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bail;
use crate::error::{Context, Result};

pub fn write(dir: &Path, user_data: &Path, meta_data: &Path) -> Result<PathBuf> {
    let out = dir.join("seed.img");
    let status = Command::new("cloud-localds")
        .arg(&out)
        .arg(user_data)
        .arg(meta_data)
        .status()
        .context("running cloud-localds (install cloud-image-utils)")?;
    if !status.success() {
        bail!("cloud-localds failed ({status})");
    }
    Ok(out)
}
