//! Manifests as a registry serves them: image indexes (one entry per
//! platform) and image manifests (a config and layers), each checked
//! against the digest it was asked for.

use sha2::{Digest as _, Sha256};

/// Media types of image indexes (multi-platform) and of image manifests.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A manifest as the registry served it, checked against its digest.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// An image manifest's blobs: its config, then its layers in order.
#[derive(Clone, Debug)]
pub struct Descriptor {
    pub digest: String,
    pub size: u64,
}

impl Manifest {
    fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.bytes).map_err(|e| format!("the manifest is not JSON ({e})"))
    }

    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }

    /// The config and the layers of an image manifest.
    pub fn blobs(&self) -> Result<(Descriptor, Vec<Descriptor>), String> {
        let json = self.json()?;
        let desc = |v: &serde_json::Value| -> Result<Descriptor, String> {
            let digest = v["digest"].as_str().filter(|d| is_digest(d));
            match (digest, v["size"].as_u64()) {
                (Some(d), Some(size)) => Ok(Descriptor {
                    digest: d.to_owned(),
                    size,
                }),
                _ => {
                    Err("the manifest has a descriptor without a sha256 digest and size".to_owned())
                }
            }
        };
        let config = desc(&json["config"])?;
        let layers = json["layers"]
            .as_array()
            .ok_or("the manifest lists no layers")?
            .iter()
            .map(desc)
            .collect::<Result<_, _>>()?;
        Ok((config, layers))
    }
}

pub(super) fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The digest of the linux/amd64 entry of an index.
pub(super) fn amd64_of(index: &Manifest) -> Result<String, String> {
    let json = index.json()?;
    let entries = json["manifests"].as_array().cloned().unwrap_or_default();
    let mut platforms = Vec::new();
    for entry in &entries {
        let os = entry["platform"]["os"].as_str().unwrap_or("?");
        let arch = entry["platform"]["architecture"].as_str().unwrap_or("?");
        if os == "linux" && arch == "amd64" {
            if let Some(d) = entry["digest"].as_str().filter(|d| is_digest(d)) {
                return Ok(d.to_owned());
            }
        }
        platforms.push(format!("{os}/{arch}"));
    }
    Err(format!(
        "the index has no linux/amd64 image (it has: {})",
        if platforms.is_empty() {
            "nothing".to_owned()
        } else {
            platforms.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_resolves_to_amd64() {
        let amd = format!("sha256:{}", "a".repeat(64));
        let arm = format!("sha256:{}", "b".repeat(64));
        let json = serde_json::json!({"mediaType": OCI_INDEX, "manifests": [
            {"digest": arm, "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": amd, "platform": {"os": "linux", "architecture": "amd64"}},
        ]});
        let m = Manifest {
            digest: String::new(),
            media_type: OCI_INDEX.into(),
            bytes: serde_json::to_vec(&json).unwrap(),
        };
        assert_eq!(amd64_of(&m).unwrap(), amd);
        let json = serde_json::json!({"manifests": [{"digest": arm, "platform": {"os": "linux", "architecture": "arm64"}}]});
        let m = Manifest {
            digest: String::new(),
            media_type: OCI_INDEX.into(),
            bytes: serde_json::to_vec(&json).unwrap(),
        };
        assert_eq!(
            amd64_of(&m).unwrap_err(),
            "the index has no linux/amd64 image (it has: linux/arm64)"
        );
    }
}
