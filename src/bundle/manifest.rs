//! `manifest.json`: what a release holds, file by file with its hash, mode
//! and scope, and the images it runs. Plans, drift checks and `verify`
//! compare manifests, never the files themselves.

use serde::{Deserialize, Serialize};

use super::tree::{Scope, Tree, sha256_hex};

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
    /// The OpenClaw release the gateway runs. Manifests written before a
    /// site could choose one lack it: those ran the guide's 2026.2.15.
    #[serde(default = "guide_openclaw")]
    pub openclaw_version: String,
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

fn guide_openclaw() -> String {
    crate::model::OpenClawVersion::V2026_2_15
        .as_str()
        .to_owned()
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
