//! `images save`: the pinned image of each service downloaded (in parallel,
//! resumable, every blob verified) into the image-set archive that
//! `provision` ships and the host `docker load`s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::imageset;
use super::registry::{self, Client, Progress};
use crate::config::locks::ImagesLock;
use crate::error::Error;
use crate::model::{ImageRef, Site};
use crate::render::images_of;

/// The pinned image of each service, each digest once: what `images save`
/// downloads and what `build` expects an image set to hold.
pub fn pinned_images(site: &Site, lock: &ImagesLock) -> Result<Vec<ImageRef>, Error> {
    let mut pinned = BTreeSet::new();
    let mut unpinned = Vec::new();
    for (_, image) in images_of(site) {
        match lock.pin(image) {
            Some(p) => {
                pinned.insert(p);
            }
            None => unpinned.push(image.tagged()),
        }
    }
    if !unpinned.is_empty() {
        unpinned.sort();
        unpinned.dedup();
        return Err(Error::Stale {
            message: format!(
                "an image set holds pinned images only, and these are not pinned: {}",
                unpinned
                    .iter()
                    .map(|i| format!("`{i}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            help: "run `clawbake pin images` first".to_owned(),
        });
    }
    Ok(pinned.into_iter().collect())
}

/// What `images save` wrote.
#[derive(Debug)]
pub struct SavedImages {
    pub archive: PathBuf,
    pub images: usize,
    pub blobs: usize,
    pub bytes: u64,
}

/// Download every pinned image's blobs (in parallel, resumable, each
/// verified) and write the image-set archive.
pub async fn save_images(
    client: &Client,
    images: &[ImageRef],
    archive: &Path,
    progress: Arc<dyn Progress>,
    parallel: usize,
) -> Result<SavedImages, Error> {
    // The manifests first: they say which blobs there are and how big.
    // Fetched together; the first failure in image order is the one told.
    let mut tasks = tokio::task::JoinSet::new();
    for (n, image) in images.iter().enumerate() {
        let (client, image) = (client.clone(), image.clone());
        tasks.spawn(async move {
            let digest = image.digest.clone().unwrap_or_default();
            let manifest = client.manifest_at(&image, &digest).await;
            (n, image, manifest)
        });
    }
    let mut fetched = tasks.join_all().await;
    fetched.sort_by_key(|(n, _, _)| *n);
    let mut manifests = Vec::new();
    for (_, image, manifest) in fetched {
        let manifest = manifest?;
        let (config, layers) = manifest
            .blobs()
            .map_err(|d| registry::network(format!("reading the manifest of `{image}`"), d))?;
        manifests.push((image, manifest, config, layers));
    }
    let mut unique: BTreeMap<String, (ImageRef, registry::Descriptor)> = BTreeMap::new();
    for (image, _, config, layers) in &manifests {
        for d in std::iter::once(config).chain(layers) {
            unique
                .entry(d.digest.clone())
                .or_insert_with(|| (image.clone(), d.clone()));
        }
    }
    let total: u64 = unique.values().map(|(_, d)| d.size).sum();
    progress.add_total(total);
    let limit = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, (digest, (image, desc))) in unique.iter().enumerate() {
        let client = client.clone();
        let (image, desc, digest) = (image.clone(), desc.clone(), digest.clone());
        let limit = limit.clone();
        let progress = progress.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let path = client.blob(&image, &desc, progress.as_ref()).await;
            (n, digest, path)
        });
    }
    let mut results: Vec<_> = tasks.join_all().await;
    results.sort_by_key(|(n, _, _)| *n);
    let mut paths = BTreeMap::new();
    for (_, digest, path) in results {
        paths.insert(digest, path?);
    }
    let blob = |d: &registry::Descriptor| imageset::Blob {
        digest: d.digest.clone(),
        source: imageset::BlobSource::File(paths[&d.digest].clone()),
    };
    let set: Vec<imageset::Image> = manifests
        .iter()
        .map(|(image, manifest, config, layers)| {
            let loc = client.locate(image);
            let tag = image.tag.clone().unwrap_or_else(|| "latest".to_owned());
            imageset::Image {
                repo_tags: vec![image.tagged()],
                config: blob(config),
                layers: layers.iter().map(blob).collect(),
                manifest: Some(imageset::ImageManifest {
                    media_type: manifest.media_type.clone(),
                    blob: imageset::Blob::from_bytes(manifest.bytes.clone()),
                    name: loc.full_name(&tag),
                    tag,
                }),
            }
        })
        .collect();
    imageset::write_archive(archive, &set).map_err(|source| Error::Io {
        action: format!("writing `{}`", archive.display()),
        source,
    })?;
    Ok(SavedImages {
        archive: archive.to_owned(),
        images: set.len(),
        blobs: unique.len(),
        bytes: total,
    })
}
