//! The build pipeline in one call: load, merge, validate, read locks,
//! render. Commands call this instead of chaining the stages themselves.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::bundle::{Bundle, ManifestImageSet};
use crate::config::locks::{self, CloudflareLock, ImagesLock};
use crate::config::{self, Merged, SiteInput};
use crate::diagnostic::source::Sources;
use crate::error::Error;
use crate::model::Site;
use crate::render;

/// A validated site with its locks, ready to render.
pub struct Built {
    pub merged: Merged,
    pub site: Site,
    pub cloudflare: CloudflareLock,
    pub images: ImagesLock,
    pub bundle: Bundle,
}

fn input_error(sources: Sources, diagnostics: Vec<crate::diagnostic::Diagnostic>) -> Error {
    Error::Input {
        sources: Box::new(sources),
        diagnostics,
    }
}

pub fn merge(input: &SiteInput) -> Result<Merged, Error> {
    config::load(input).map_err(|f| input_error(f.sources, f.diagnostics))
}

/// A validated site and its locks, before rendering: what `pin` needs.
pub struct Prepared {
    pub merged: Merged,
    pub site: Site,
    pub cloudflare: CloudflareLock,
    pub images: ImagesLock,
}

pub fn prepare(input: &SiteInput) -> Result<Prepared, Error> {
    let mut merged = merge(input)?;
    let secrets = config::validate::refuse_secrets(&mut merged);
    if !secrets.is_empty() {
        return Err(input_error(merged.sources, secrets));
    }
    let site = match config::validate(&merged) {
        Ok(site) => site,
        Err(diagnostics) => return Err(input_error(merged.sources, diagnostics)),
    };
    let dir = merged.site_dir.clone();
    let cloudflare = match locks::cloudflare(&mut merged.sources, dir.as_deref()) {
        Ok(l) => l,
        Err(d) => return Err(input_error(merged.sources, vec![d])),
    };
    let images = match locks::images(&mut merged.sources, dir.as_deref()) {
        Ok(l) => l,
        Err(d) => return Err(input_error(merged.sources, vec![d])),
    };
    Ok(Prepared {
        merged,
        site,
        cloudflare,
        images,
    })
}

pub fn build(input: &SiteInput) -> Result<Built, Error> {
    let Prepared {
        merged,
        site,
        cloudflare,
        images,
    } = prepare(input)?;
    let image_set = if site.images.ship {
        Some(image_set(&site, &images, merged.site_dir.as_deref())?)
    } else {
        None
    };
    let bundle = render::render(&site, &cloudflare, &images, image_set);
    Ok(Built {
        merged,
        site,
        cloudflare,
        images,
        bundle,
    })
}

/// The site's image set, checked to hold exactly the pinned images, for a
/// site with `images.ship = true`.
fn image_set(
    site: &Site,
    lock: &ImagesLock,
    site_dir: Option<&Path>,
) -> Result<(PathBuf, ManifestImageSet), Error> {
    let Some(dir) = site_dir else {
        return Err(Error::Message {
            message: "the built-in example site cannot ship images".to_owned(),
            help: Some("run `clawbake init DIR` and build that site".to_owned()),
        });
    };
    let pinned = crate::pin::pinned_images(site, lock)?;
    let archive = dir.join(crate::pin::IMAGE_SET);
    let save = format!(
        "run `clawbake images save {}`, or set `images.ship = false`",
        dir.join("site.toml").display()
    );
    if !archive.exists() {
        return Err(Error::Stale {
            message: format!(
                "`images.ship` is true but there is no image set at `{}`",
                archive.display()
            ),
            help: save,
        });
    }
    let io = |source| Error::Io {
        action: format!("reading `{}`", archive.display()),
        source,
    };
    let held: std::collections::BTreeSet<(String, String)> =
        crate::pin::imageset::read_index(&archive)
            .map_err(io)?
            .into_iter()
            .collect();
    let mirrors = std::collections::BTreeMap::new();
    let wanted: std::collections::BTreeSet<(String, String)> = pinned
        .iter()
        .map(|i| {
            let tag = i.tag.as_deref().unwrap_or("latest");
            let name = crate::pin::registry::locate(i, &mirrors).full_name(tag);
            (name, i.digest.clone().unwrap_or_default())
        })
        .collect();
    if held != wanted {
        let mut lines = String::new();
        for (name, digest) in wanted.difference(&held) {
            let _ = write!(lines, "\n  missing  {name}@{digest}");
        }
        for (name, digest) in held.difference(&wanted) {
            let _ = write!(lines, "\n  extra    {name}@{digest}");
        }
        return Err(Error::Stale {
            message: format!(
                "`{}` does not hold exactly the pinned images:{lines}",
                archive.display()
            ),
            help: save,
        });
    }
    let sha256 = crate::pin::imageset::sha256_file(&archive).map_err(io)?;
    let bytes = std::fs::metadata(&archive).map_err(io)?.len();
    let set = ManifestImageSet {
        file: crate::pin::IMAGE_SET.to_owned(),
        sha256: sha256.trim_start_matches("sha256:").to_owned(),
        size: bytes,
        images: pinned.iter().map(ToString::to_string).collect(),
    };
    Ok((archive, set))
}
