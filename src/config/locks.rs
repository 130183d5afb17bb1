//! The two lock files a build reads: Cloudflare's ranges and the site's
//! image digests. Both are parsed like layers, so their errors point at a
//! line too. Nothing here touches the network; `clawbake pin` writes them.

use std::path::Path;

use serde::Deserialize;

use crate::config::de::ValueDe;
use crate::config::layers;
use crate::config::tree;
use crate::diagnostic::Diagnostic;
use crate::diagnostic::source::{Source, SourceKind, Sources};
use crate::model::{Cidr, ImageRef};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudflareLock {
    pub source: String,
    /// The day the ranges were fetched.
    pub as_of: String,
    pub ipv4: Vec<Cidr>,
    pub ipv6: Vec<Cidr>,
}

impl CloudflareLock {
    pub fn all(&self) -> impl Iterator<Item = &Cidr> {
        self.ipv4.iter().chain(&self.ipv6)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesLock {
    #[serde(default)]
    pub images: Vec<LockedImage>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedImage {
    /// `name:tag` as the site writes it.
    pub image: String,
    /// The linux/amd64 manifest digest, `sha256:...`.
    pub digest: String,
    pub resolved_at: String,
}

impl ImagesLock {
    /// The image with its digest, if the lock has one for its tag.
    pub fn pin(&self, image: &ImageRef) -> Option<ImageRef> {
        if image.digest.is_some() {
            return Some(image.clone());
        }
        let tagged = image.tagged();
        self.images
            .iter()
            .find(|l| l.image == tagged)
            .map(|l| ImageRef {
                digest: Some(l.digest.clone()),
                ..image.clone()
            })
    }
}

/// Read a lock: the site's own copy if it has one, else the built-in text.
fn read<T: for<'de> Deserialize<'de>>(
    sources: &mut Sources,
    site_dir: Option<&Path>,
    file: &str,
    builtin: Option<&layers::Builtin>,
) -> Result<Option<T>, Diagnostic> {
    let on_disk = site_dir.map(|d| d.join(file)).filter(|p| p.exists());
    let source = match (on_disk, builtin) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Diagnostic::new(format!("could not read `{}`: {e}", path.display()))
            })?;
            Source {
                name: path.display().to_string(),
                path: Some(path),
                text,
                kind: SourceKind::User,
            }
        }
        (None, Some(b)) => Source {
            name: b.name.to_owned(),
            path: None,
            text: b.text.to_owned(),
            kind: SourceKind::Builtin,
        },
        (None, None) => return Ok(None),
    };
    let name = source.name.clone();
    let id = sources.add(source);
    let value = tree::parse(sources, id)?;
    T::deserialize(ValueDe::new(&value)).map(Some).map_err(|e| {
        let mut d = Diagnostic::new(format!("invalid lock file `{name}`"));
        if let Some(origin) = e.origin.clone() {
            d = d.primary(origin, e.to_string());
        }
        d.help("rewrite it with `clawbake pin`, or restore it from version control")
    })
}

pub fn cloudflare(
    sources: &mut Sources,
    site_dir: Option<&Path>,
) -> Result<CloudflareLock, Diagnostic> {
    read(
        sources,
        site_dir,
        "cloudflare.lock",
        Some(&layers::CLOUDFLARE_LOCK),
    )?
    .ok_or_else(|| Diagnostic::new("internal error: no built-in cloudflare.lock"))
}

pub fn images(sources: &mut Sources, site_dir: Option<&Path>) -> Result<ImagesLock, Diagnostic> {
    let builtin = site_dir.is_none().then_some(&layers::EXAMPLE_IMAGES_LOCK);
    Ok(read(sources, site_dir, "images.lock", builtin)?.unwrap_or_default())
}
