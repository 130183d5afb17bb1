//! The bundle: every file that lands on the host, with its mode and scope,
//! and the manifest that names it.
//!
//! The release tree (`dist/release/`) is what `/opt/clawbake/releases/<id>/`
//! holds on the host, for either transport. The build id is the hash of that
//! tree, so identical inputs give the same id and the same bytes.
//!
//! [`tree`] holds the files, [`manifest`] names them, [`archive`] packs
//! both into the one tar either transport unpacks; this module writes
//! both, with the user-data, into `dist/` atomically.

pub mod archive;
pub mod manifest;
pub mod tree;

use std::io;
use std::path::{Path, PathBuf};

pub use manifest::{Manifest, ManifestFile, ManifestImage, ManifestImageSet};
pub use tree::{File, Scope, Tree, sha256_hex};

/// Everything `build` writes into `dist/`.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub tree: Tree,
    pub manifest: Manifest,
    pub user_data: String,
    pub meta_data: String,
    /// The archive to copy into `dist/` as `manifest.image_set.file`.
    pub image_set: Option<PathBuf>,
}

impl Bundle {
    /// The files of `dist/`, relative to it, in a stable order.
    pub fn outputs(&self) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = vec![
            (
                "user-data".to_owned(),
                0o600,
                self.user_data.clone().into_bytes(),
            ),
            // For the APIs that take user-data as base64 of binary
            // (AWS, Linode, Azure, GCP): cloud-init gunzips it itself.
            (
                "user-data.gz".to_owned(),
                0o600,
                archive::gzip(self.user_data.as_bytes()),
            ),
            (
                "meta-data".to_owned(),
                0o644,
                self.meta_data.clone().into_bytes(),
            ),
            (
                "manifest.json".to_owned(),
                0o644,
                self.manifest.to_json().into_bytes(),
            ),
        ];
        for (path, file) in self.tree.files() {
            out.push((format!("release/{path}"), file.mode, file.content.clone()));
        }
        out
    }

    /// Write `dist/` atomically: into a new directory beside it, then
    /// swapped in with renames. A failure leaves the old `dist/` as it was.
    pub fn write(&self, dist: &Path) -> Result<(), WriteError> {
        let err = |action: String| move |source| WriteError { action, source };
        if dist.exists() {
            if let Err(why) = written_by_clawbake(dist) {
                return Err(WriteError {
                    action: format!("replacing `{}`", dist.display()),
                    source: io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "{why}; nothing was changed: choose another `--out`, or move it away"
                        ),
                    ),
                });
            }
        }
        let parent = match dist.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)
            .map_err(err(format!("creating `{}`", parent.display())))?;
        let staging = tempfile::Builder::new()
            .prefix(".clawbake-dist-")
            .tempdir_in(&parent)
            .map_err(err(format!(
                "creating a staging directory in `{}`",
                parent.display()
            )))?;
        for (rel, mode, content) in self.outputs() {
            let path = staging.path().join(&rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(err(format!("creating `{}`", dir.display())))?;
            }
            std::fs::write(&path, &content).map_err(err(format!("writing `{rel}`")))?;
            set_mode(&path, mode).map_err(err(format!("setting the mode of `{rel}`")))?;
        }
        if let (Some(src), Some(set)) = (&self.image_set, &self.manifest.image_set) {
            let copy = staging.path().join(&set.file);
            std::fs::copy(src, &copy)
                .map_err(err(format!("copying `{}` into the bundle", src.display())))?;
        }
        let staged = staging.keep();
        let old = parent.join(format!(".clawbake-dist-old-{}", std::process::id()));
        if dist.exists() {
            std::fs::rename(dist, &old)
                .map_err(err(format!("moving the old `{}` aside", dist.display())))?;
        }
        if let Err(e) = std::fs::rename(&staged, dist) {
            // Put the old one back before reporting.
            let _ = std::fs::rename(&old, dist);
            let _ = std::fs::remove_dir_all(&staged);
            return Err(WriteError {
                action: format!("moving the new bundle into `{}`", dist.display()),
                source: e,
            });
        }
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(err(format!("removing `{}`", old.display())))?;
        }
        Ok(())
    }
}

/// Whether `dist` is a bundle clawbake wrote, and so may be replaced
/// whole: a directory whose `manifest.json` has clawbake's shape (another
/// program's `manifest.json`, a browser extension's, is not enough).
fn written_by_clawbake(dist: &Path) -> Result<(), String> {
    if !dist.is_dir() {
        return Err("it is not a directory".into());
    }
    let manifest = std::fs::read_to_string(dist.join("manifest.json"))
        .map_err(|_| "it exists and was not written by clawbake (no manifest.json)".to_owned())?;
    serde_json::from_str::<Manifest>(&manifest)
        .map(drop)
        .map_err(|_| "its manifest.json is not one clawbake writes".to_owned())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Writing `dist/` failed: what was being done, and why.
#[derive(Debug)]
pub struct WriteError {
    pub action: String,
    pub source: io::Error,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.action, self.source)
    }
}

impl From<WriteError> for crate::error::Error {
    fn from(e: WriteError) -> crate::error::Error {
        crate::error::Error::Io {
            action: e.action,
            source: e.source,
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
