//! A real registry for the tests: Debian's `docker-registry` (the CNCF
//! distribution registry) on 127.0.0.1 with its storage in a temp dir,
//! and images the tests build themselves pushed through its API.

use std::io::Write as _;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::json;
use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A free port on 127.0.0.1 (free when asked; the server binds it next).
pub fn free_port() -> u16 {
    clawbake_test_support::free_port().expect("a free port")
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Deterministic bytes that do not compress: xorshift from `seed`.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A layer: a tar holding one file, gzipped. Returns (gzip, diff id).
pub fn layer(name: &str, content: &[u8], level: Compression) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    tar.append_data(&mut h, name, content).expect("tar");
    let tar = tar.into_inner().expect("tar");
    let diff_id = sha256(&tar);
    let mut gz = GzEncoder::new(Vec::new(), level);
    gz.write_all(&tar).expect("gzip");
    (gz.finish().expect("gzip"), diff_id)
}

/// An image pushed to the registry.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// The image manifest's digest (what `pin` must write for amd64).
    pub digest: String,
    pub manifest: Vec<u8>,
    pub config: String,
    pub layers: Vec<String>,
}

pub struct Registry {
    server: clawbake_test_support::Registry,
    pub port: u16,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Registry {
    /// Start `docker-registry`, or `None` after saying why not (a failure
    /// under CI, see [`super::tool`]).
    pub fn start() -> Option<Registry> {
        let bin = super::tool("docker-registry")?;
        let dir = tempfile::tempdir().expect("temp dir");
        let server = clawbake_test_support::Registry::start(&bin, dir.path())
            .unwrap_or_else(|e| panic!("starting docker-registry: {e}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Some(Registry {
            port: server.port,
            server,
            _dir: dir,
            http: reqwest::Client::new(),
            rt,
        })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Upload a blob: POST starts an upload, PUT with the digest ends it.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        self.rt.block_on(async {
            let start = self
                .http
                .post(format!("{}/v2/{repo}/blobs/uploads/", self.url()))
                .send()
                .await
                .expect("starting an upload");
            assert_eq!(start.status().as_u16(), 202, "starting an upload");
            let location = start.headers()["location"].to_str().unwrap().to_owned();
            let location = if location.starts_with("http") {
                location
            } else {
                format!("{}{location}", self.url())
            };
            let sep = if location.contains('?') { '&' } else { '?' };
            let put = self
                .http
                .put(format!("{location}{sep}digest={digest}"))
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec())
                .send()
                .await
                .expect("uploading a blob");
            assert_eq!(put.status().as_u16(), 201, "uploading {digest}");
        });
        digest
    }

    pub fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        self.rt.block_on(async {
            let put = self
                .http
                .put(format!("{}/v2/{repo}/manifests/{reference}", self.url()))
                .header("content-type", media_type)
                .body(bytes.to_vec())
                .send()
                .await
                .expect("pushing a manifest");
            let status = put.status().as_u16();
            let body = put.text().await.unwrap_or_default();
            assert_eq!(status, 201, "pushing {repo}:{reference}: {body}");
        });
    }

    /// Build and push an image of `layers` (gzip blobs with their diff
    /// ids) for `arch`, tagged `tag` (or by digest only when `None`).
    pub fn push_image(
        &self,
        repo: &str,
        tag: Option<&str>,
        arch: &str,
        layers: &[(Vec<u8>, String)],
    ) -> Pushed {
        let diff_ids: Vec<&str> = layers.iter().map(|(_, d)| d.as_str()).collect();
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": { "Cmd": ["/bin/true"] },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        }))
        .unwrap();
        let config_digest = self.push_blob(repo, &config);
        let mut layer_digests = Vec::new();
        let mut descriptors = Vec::new();
        for (gz, _) in layers {
            let d = self.push_blob(repo, gz);
            descriptors.push(json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": d,
                "size": gz.len(),
            }));
            layer_digests.push(d);
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": descriptors,
        }))
        .unwrap();
        let digest = sha256(&manifest);
        self.push_manifest(repo, tag.unwrap_or(&digest), OCI_MANIFEST, &manifest);
        Pushed {
            digest,
            manifest,
            config: config_digest,
            layers: layer_digests,
        }
    }

    /// A small one-layer image, different for each `seed`.
    pub fn push_small(&self, repo: &str, tag: Option<&str>, arch: &str, seed: u64) -> Pushed {
        let l = layer("data.bin", &noise(seed, 4096), Compression::fast());
        self.push_image(repo, tag, arch, &[l])
    }

    /// A multi-platform index: an amd64 and an arm64 image under one tag.
    /// Returns the amd64 image.
    pub fn push_multi_arch(&self, repo: &str, tag: &str, seed: u64) -> Pushed {
        let arm = self.push_small(repo, None, "arm64", seed + 1000);
        let amd = self.push_small(repo, None, "amd64", seed);
        let entry = |p: &Pushed, arch: &str| {
            json!({
                "mediaType": OCI_MANIFEST,
                "digest": p.digest,
                "size": p.manifest.len(),
                "platform": { "os": "linux", "architecture": arch },
            })
        };
        // arm64 first, so that taking the first entry would be wrong.
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [entry(&arm, "arm64"), entry(&amd, "amd64")],
        }))
        .unwrap();
        self.push_manifest(repo, tag, OCI_INDEX, &index);
        amd
    }
}

/// Read every regular entry of a tar into memory.
pub fn tar_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read as _;
    let mut archive = tar::Archive::new(std::fs::File::open(path).expect("archive"));
    archive
        .entries()
        .expect("entries")
        .filter_map(|e| {
            let mut e = e.expect("entry");
            if e.header().entry_type() != tar::EntryType::Regular {
                return None;
            }
            let name = e.path().unwrap().display().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            Some((name, data))
        })
        .collect()
}
