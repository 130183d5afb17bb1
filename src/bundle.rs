//! The bundle: every file that lands on the host, with its mode and scope,
//! and the manifest that names it.
//!
//! The release tree (`dist/release/`) is what `/opt/clawbake/releases/<id>/`
//! holds on the host, for either transport. The build id is the hash of that
//! tree, so identical inputs give the same id and the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Whether a change to a file needs a new server (host) or only a new
/// release of the stack (stack). See "Rebuild, don't mutate" in DESIGN.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Host,
    Stack,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub mode: u32,
    pub scope: Scope,
    pub content: Vec<u8>,
}

/// The release tree, keyed by path relative to the release directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    files: BTreeMap<String, File>,
}

impl Tree {
    /// Add a file. Two renderers claiming one path is a bug in clawbake.
    pub fn add(&mut self, path: &str, mode: u32, scope: Scope, content: impl Into<Vec<u8>>) {
        let previous = self.files.insert(
            path.to_owned(),
            File {
                mode,
                scope,
                content: content.into(),
            },
        );
        assert!(
            previous.is_none(),
            "internal error: `{path}` rendered twice"
        );
    }

    pub fn files(&self) -> impl Iterator<Item = (&str, &File)> {
        self.files.iter().map(|(p, f)| (p.as_str(), f))
    }

    pub fn get(&self, path: &str) -> Option<&File> {
        self.files.get(path)
    }

    /// sha256 over every path, mode, scope and content hash, in path order.
    pub fn build_id(&self) -> String {
        let mut listing = String::new();
        for (path, file) in &self.files {
            let _ = writeln!(
                listing,
                "{path}\0{:o}\0{:?}\0{}",
                file.mode,
                file.scope,
                sha256_hex(&file.content)
            );
        }
        sha256_hex(listing.as_bytes())
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `manifest.json`: what a release contains, for drift checks and plans.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub build_id: String,
    pub site: String,
    pub files: Vec<ManifestFile>,
    pub images: Vec<ManifestImage>,
    /// Images without a digest: pulled by tag, so not reproducible.
    pub unpinned_images: Vec<String>,
    pub cloudflare_ranges_as_of: String,
    /// The image-set archive shipped beside the release, when the site
    /// asks for it (`images.ship`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_set: Option<ManifestImageSet>,
}

/// `dist/images.tar`: what provision uploads to `/var/lib/clawbake/images/`
/// and `docker load`s before `compose up`, instead of pulling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestImageSet {
    /// Relative to `dist/`.
    pub file: String,
    /// sha256 of the archive, hex.
    pub sha256: String,
    pub size: u64,
    /// The pinned references it holds, `name:tag@sha256:...`, sorted.
    pub images: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    pub sha256: String,
    pub mode: String,
    pub scope: Scope,
    pub size: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestImage {
    pub service: String,
    pub image: String,
    pub digest: Option<String>,
}

impl Manifest {
    pub fn files_of(tree: &Tree) -> Vec<ManifestFile> {
        tree.files()
            .map(|(path, f)| ManifestFile {
                path: path.to_owned(),
                sha256: sha256_hex(&f.content),
                mode: format!("{:04o}", f.mode),
                scope: f.scope,
                size: f.content.len(),
            })
            .collect()
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serializes");
        s.push('\n');
        s
    }
}

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
        if dist.exists() && !dist.join("manifest.json").exists() {
            return Err(WriteError {
                action: format!("replacing `{}`", dist.display()),
                source: io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "it exists and was not written by clawbake (no manifest.json); choose another `--out`",
                ),
            });
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

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_depends_on_every_attribute() {
        let mut a = Tree::default();
        a.add("stack/x", 0o644, Scope::Stack, "x");
        let id = a.build_id();
        let mut b = Tree::default();
        b.add("stack/x", 0o600, Scope::Stack, "x");
        let mut c = Tree::default();
        c.add("stack/x", 0o644, Scope::Host, "x");
        let mut d = Tree::default();
        d.add("stack/x", 0o644, Scope::Stack, "y");
        for other in [b, c, d] {
            assert_ne!(id, other.build_id());
        }
        assert_eq!(id, a.clone().build_id());
    }
}
