//! The test site: `vm-tests/sites/offline/site.toml` with the key this run
//! generated in place of its placeholder, built by the real `clawbake`
//! binary into a dist/ like a user's.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bail;
use crate::error::{Context, Result};

/// The key the checked-in site carries until the harness replaces it.
const PLACEHOLDER_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL457cmlFdEw20vdsCn2uQjzu7M60nY1L275JJONFUyD replace-me@example";

/// A host-scope change to the test site: what `provision` refuses as
/// "rebuild required" and `migrate` moves to. The cloud-init scenario's VM
/// is built with it, so that it is the fresh server a migration goes to.
pub const HOST_CHANGE: &str = "[host.sysctl]\n\"vm.swappiness\" = 20\n";

/// The test site with [`HOST_CHANGE`] appended.
pub fn with_host_change(mut text: String) -> String {
    text.push('\n');
    text.push_str(HOST_CHANGE);
    text
}

/// A key pair for this run.
pub fn keygen(dir: &Path) -> Result<PathBuf> {
    let key = dir.join("id_ed25519");
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "clawbake-vm-test",
            "-f",
        ])
        .arg(&key)
        .status()
        .context("running ssh-keygen")?;
    if !status.success() {
        bail!("ssh-keygen failed ({status})");
    }
    Ok(key)
}

/// The site file for this run, in `dir`, authorizing `key`.
pub fn write(
    repo: &Path,
    dir: &Path,
    key: &Path,
    edit: impl FnOnce(String) -> String,
) -> Result<PathBuf> {
    let checked_in = repo.join("vm-tests/sites/offline");
    let text = fs::read_to_string(checked_in.join("site.toml"))
        .context("reading vm-tests/sites/offline/site.toml")?;
    let public = fs::read_to_string(key.with_extension("pub")).context("reading the public key")?;
    if !text.contains(PLACEHOLDER_KEY) {
        bail!("vm-tests/sites/offline/site.toml lost its placeholder key; the harness replaces it");
    }
    let layers = repo.join("vm-tests/layers/standins.toml");
    let text = text.replace(PLACEHOLDER_KEY, public.trim()).replace(
        "\"../../layers/standins.toml\"",
        &format!("{:?}", layers.display().to_string()),
    );
    let site_dir = dir.join("site");
    fs::create_dir_all(&site_dir).context("creating the site directory")?;
    let path = site_dir.join("site.toml");
    fs::write(&path, edit(text)).context("writing the test site")?;
    Ok(path)
}

/// `clawbake build SITE --out OUT`.
pub fn build(clawbake: &Path, site: &Path, out: &Path) -> Result<()> {
    let output = Command::new(clawbake)
        .arg("build")
        .arg(site)
        .arg("--out")
        .arg(out)
        .output()
        .context(format_args!("running {}", clawbake.display()))?;
    if !output.status.success() {
        bail!(
            "clawbake build failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
