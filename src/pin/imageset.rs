//! Image-set archives: container images in the tar format that `docker load`
//! reads, so a host can get its images without reaching a registry.
//!
//! The archive holds each blob once under `blobs/sha256/<hex>` and a
//! `manifest.json` naming, per image, its config blob, its layer blobs in
//! order and its tags. Layers may be stored as pulled (gzip) or as plain
//! tars: `docker load` decompresses what it finds and checks the result
//! against the config's `rootfs.diff_ids`. The writer is deterministic: the
//! same images give the same bytes.
//!
//! Images pulled from a registry also keep their manifest: the archive is
//! then an OCI image layout as well (`oci-layout`, `index.json` naming each
//! manifest digest), as `docker save` writes since Docker 25, so a daemon
//! with the containerd image store knows the image by the digest that
//! `compose.yaml` pins, and `build` can check the archive holds exactly the
//! pinned digests.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Where a blob's bytes are.
#[derive(Clone, Debug)]
pub enum BlobSource {
    File(PathBuf),
    Bytes(Vec<u8>),
}

/// One content-addressed blob: a config or a layer.
#[derive(Clone, Debug)]
pub struct Blob {
    /// `sha256:<hex>` of the bytes as stored.
    pub digest: String,
    pub source: BlobSource,
}

impl Blob {
    pub fn from_bytes(bytes: Vec<u8>) -> Blob {
        Blob {
            digest: sha256_of(&bytes),
            source: BlobSource::Bytes(bytes),
        }
    }

    /// A blob from a file, hashed now.
    pub fn from_file(path: &Path) -> io::Result<Blob> {
        Ok(Blob {
            digest: sha256_file(path)?,
            source: BlobSource::File(path.to_owned()),
        })
    }

    fn hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }

    fn len(&self) -> io::Result<u64> {
        self.source.len()
    }
}

impl BlobSource {
    fn len(&self) -> io::Result<u64> {
        match self {
            BlobSource::File(p) => Ok(std::fs::metadata(p)?.len()),
            BlobSource::Bytes(b) => Ok(b.len() as u64),
        }
    }
}

/// An image to put in the archive.
#[derive(Clone, Debug)]
pub struct Image {
    /// `name:tag` references that `docker load` gives the image.
    pub repo_tags: Vec<String>,
    pub config: Blob,
    pub layers: Vec<Blob>,
    /// The registry manifest that names `config` and `layers`, if the image
    /// came from a registry.
    pub manifest: Option<ImageManifest>,
}

/// A registry manifest kept in the archive's OCI index.
#[derive(Clone, Debug)]
pub struct ImageManifest {
    /// Its media type, as the registry served it.
    pub media_type: String,
    pub blob: Blob,
    /// The full reference, e.g. `docker.io/library/caddy:2.11.4-alpine`.
    pub name: String,
    /// The tag alone, the OCI layout's own name for the entry.
    pub tag: String,
}

/// What an archive's `index.json` says it holds: `(name, manifest digest)`.
pub fn read_index(path: &Path) -> io::Result<Vec<(String, String)>> {
    let mut archive = tar::Archive::new(File::open(path)?);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.path()?.as_os_str() != "index.json" {
            continue;
        }
        let mut text = Vec::new();
        entry.read_to_end(&mut text)?;
        let index: serde_json::Value = serde_json::from_slice(&text).map_err(io::Error::other)?;
        let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        return Ok(manifests
            .iter()
            .map(|m| {
                let name = m["annotations"][ANNOTATION_IMAGE_NAME]
                    .as_str()
                    .unwrap_or_default();
                let digest = m["digest"].as_str().unwrap_or_default();
                (name.to_owned(), digest.to_owned())
            })
            .collect());
    }
    Ok(Vec::new())
}

/// containerd's annotation for the name an index entry loads under.
const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI image layout's annotation for an entry's tag.
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The runtime part of an image config, for images made from a root
/// filesystem tar (the VM tests' stand-ins).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
}

/// An image with one layer: the given root filesystem tar, uncompressed.
pub fn image_from_rootfs(
    repo_tag: &str,
    rootfs_tar: &Path,
    runtime: &RuntimeConfig,
) -> io::Result<Image> {
    let layer = Blob::from_file(rootfs_tar)?;
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": runtime,
        "rootfs": { "type": "layers", "diff_ids": [layer.digest] },
    });
    let config = serde_json::to_vec(&config).map_err(io::Error::other)?;
    Ok(Image {
        repo_tags: vec![repo_tag.to_owned()],
        config: Blob::from_bytes(config),
        layers: vec![layer],
        manifest: None,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry<'a> {
    config: String,
    repo_tags: &'a [String],
    layers: Vec<String>,
}

fn blob_path(blob: &Blob) -> String {
    format!("blobs/sha256/{}", blob.hex())
}

/// Write the archive to `path` atomically: a temporary file beside it,
/// renamed into place once complete, so a failed or interrupted write
/// leaves what was there before. Not fsynced, as `docker save` and the
/// blob cache are not: the archive is derived (written again from the
/// cache in a fraction of a second), and what reads it checks it (`build`
/// its index, `docker load` every blob's digest), so a write a crash cut
/// short fails loudly. The fsync was about a quarter of a cold save of
/// 100 MB (`just bench-images`: ratio to curl 0.48-0.62 with it,
/// 0.72-0.81 without).
pub fn write_archive(path: &Path, images: &[Image]) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))?;
    write_to(tmp.as_file(), images)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The archive as a ustar stream, the bytes the `tar` crate's `Builder`
/// writes for the same entries (a test holds them equal). Written here
/// because `Builder` copies an entry's data through `&mut dyn Write`, in
/// user space: a blob from a file goes from the page cache to the archive
/// in the kernel instead (`io::copy` from a `File` to a `BufWriter` of
/// one is `copy_file_range`), and headers and small entries go out in
/// 1 MiB writes.
fn write_to(file: &File, images: &[Image]) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, file);
    for dir in ["blobs/", "blobs/sha256/"] {
        entry(
            &mut out,
            dir,
            tar::EntryType::Directory,
            &BlobSource::Bytes(Vec::new()),
        )?;
    }
    let mut written = BTreeSet::new();
    let blobs = images.iter().flat_map(|i| {
        i.manifest
            .iter()
            .map(|m| &m.blob)
            .chain(std::iter::once(&i.config))
            .chain(&i.layers)
    });
    for blob in blobs {
        if written.insert(blob.digest.clone()) {
            entry(
                &mut out,
                &blob_path(blob),
                tar::EntryType::Regular,
                &blob.source,
            )?;
        }
    }
    let manifest: Vec<ManifestEntry> = images
        .iter()
        .map(|i| ManifestEntry {
            config: blob_path(&i.config),
            repo_tags: &i.repo_tags,
            layers: i.layers.iter().map(blob_path).collect(),
        })
        .collect();
    let manifest = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    let regular = |out: &mut BufWriter<&File>, name: &str, bytes: Vec<u8>| {
        entry(
            out,
            name,
            tar::EntryType::Regular,
            &BlobSource::Bytes(bytes),
        )
    };
    regular(&mut out, "manifest.json", manifest)?;
    let oci: Vec<serde_json::Value> = images
        .iter()
        .filter_map(|i| i.manifest.as_ref())
        .map(|m| {
            Ok(json!({
                "mediaType": m.media_type,
                "digest": m.blob.digest,
                "size": m.blob.len()?,
                "annotations": {
                    ANNOTATION_IMAGE_NAME: m.name,
                    ANNOTATION_REF_NAME: m.tag,
                },
            }))
        })
        .collect::<io::Result<_>>()?;
    if !oci.is_empty() {
        regular(
            &mut out,
            "oci-layout",
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        )?;
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": oci,
        });
        regular(
            &mut out,
            "index.json",
            serde_json::to_vec(&index).map_err(io::Error::other)?,
        )?;
    }
    // The end of the archive: two zero blocks.
    out.write_all(&[0; 1024])?;
    out.flush()
}

/// One entry: its ustar header (no owner, mtime 0, mode 0755 for a
/// directory and 0644 for a file), its data, zeros to the next 512 bytes.
fn entry(
    out: &mut BufWriter<&File>,
    name: &str,
    kind: tar::EntryType,
    data: &BlobSource,
) -> io::Result<()> {
    let len = data.len()?;
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_size(len);
    header.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    header.set_mtime(0);
    header.set_path(name)?;
    header.set_cksum();
    out.write_all(header.as_bytes())?;
    let copied = match data {
        BlobSource::File(p) => io::copy(&mut File::open(p)?, out)?,
        BlobSource::Bytes(b) => {
            out.write_all(b)?;
            len
        }
    };
    if copied != len {
        return Err(io::Error::other(format!(
            "{name} changed while it was written: {copied} bytes, not {len}"
        )));
    }
    let pad = (512 - len % 512) % 512;
    out.write_all(&[0; 512][..usize::try_from(pad).unwrap_or(0)])
}

pub fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The sha256 of a file's contents, read in chunks.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs(dir: &Path, content: &[u8]) -> PathBuf {
        let path = dir.join("rootfs.tar");
        let mut tar = tar::Builder::new(File::create(&path).unwrap());
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(0o755);
        tar.append_data(&mut h, "bin/hello", content).unwrap();
        tar.finish().unwrap();
        path
    }

    fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(File::open(path).unwrap());
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().display().to_string();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, data)
            })
            .collect()
    }

    #[test]
    fn archive_names_every_blob_by_its_digest_and_lists_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let layer = rootfs(dir.path(), b"#!/bin/sh\necho hi\n");
        let runtime = RuntimeConfig {
            cmd: vec!["/bin/hello".into()],
            ..RuntimeConfig::default()
        };
        let a = image_from_rootfs("test/a:1", &layer, &runtime).unwrap();
        let mut b = a.clone();
        b.repo_tags = vec!["test/b:1".into()];
        let out = dir.path().join("set.tar");
        write_archive(&out, &[a.clone(), b]).unwrap();

        let entries = entries(&out);
        for (name, data) in &entries {
            if let Some(hex) = name.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
                assert_eq!(sha256_of(data), format!("sha256:{hex}"), "{name}");
            }
        }
        // The shared layer and config are stored once.
        let blobs = entries
            .iter()
            .filter(|(n, d)| n.starts_with("blobs/sha256/") && !d.is_empty());
        assert_eq!(blobs.count(), 2);

        let (_, manifest) = entries.iter().find(|(n, _)| n == "manifest.json").unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
        assert_eq!(manifest[1]["RepoTags"][0], "test/b:1");
        assert_eq!(manifest[0]["Layers"][0], blob_path(&a.layers[0]));
        let (_, config) = entries
            .iter()
            .find(|(n, _)| *n == blob_path(&a.config))
            .unwrap();
        let config: serde_json::Value = serde_json::from_slice(config).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], a.layers[0].digest);
        assert_eq!(config["config"]["Cmd"][0], "/bin/hello");
    }

    /// The writer's bytes are the `tar` crate's: every entry read back and
    /// written again through `Builder`, with the header this module always
    /// wrote, gives the same archive.
    #[test]
    fn archive_is_the_bytes_tar_builder_writes() {
        let dir = tempfile::tempdir().unwrap();
        // A layer from a file of 3 blocks and a bit, so the padding after
        // a copied file shows (a tar from `rootfs` is whole blocks).
        let raw = dir.path().join("layer.bin");
        std::fs::write(&raw, vec![7u8; 1536 + 100]).unwrap();
        let layer = rootfs(dir.path(), b"x");
        let mut image = image_from_rootfs("t:1", &layer, &RuntimeConfig::default()).unwrap();
        image.layers.push(Blob::from_file(&raw).unwrap());
        image.manifest = Some(ImageManifest {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            blob: Blob::from_bytes(b"{}".to_vec()),
            name: "docker.io/library/t:1".into(),
            tag: "1".into(),
        });
        let mut other = image.clone();
        other.repo_tags = vec!["u:2".into()];
        let out = dir.path().join("set.tar");
        write_archive(&out, &[image, other]).unwrap();

        let mut builder = tar::Builder::new(Vec::new());
        let mut archive = tar::Archive::new(File::open(&out).unwrap());
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let kind = e.header().entry_type();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(kind);
            header.set_size(data.len() as u64);
            header.set_mode(if kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            });
            header.set_mtime(0);
            let name = if kind == tar::EntryType::Directory {
                format!("{name}/")
            } else {
                name
            };
            builder
                .append_data(&mut header, name, data.as_slice())
                .unwrap();
        }
        let reference = builder.into_inner().unwrap();
        let ours = std::fs::read(&out).unwrap();
        assert_eq!(ours.len(), reference.len());
        assert!(ours == reference, "the archives differ");
        assert!(entries(&out).iter().any(|(n, _)| n == "index.json"));
    }

    #[test]
    fn same_images_give_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let layer = rootfs(dir.path(), b"x");
        let image = image_from_rootfs("t:1", &layer, &RuntimeConfig::default()).unwrap();
        let one = dir.path().join("1.tar");
        let two = dir.path().join("2.tar");
        write_archive(&one, std::slice::from_ref(&image)).unwrap();
        write_archive(&two, &[image]).unwrap();
        assert_eq!(std::fs::read(one).unwrap(), std::fs::read(two).unwrap());
    }
}
