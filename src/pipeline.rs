//! The build pipeline in one call: load, merge, validate, read locks,
//! render. Commands call this instead of chaining the stages themselves.

use crate::bundle::Bundle;
use crate::config::source::Sources;
use crate::config::{self, Merged, SiteInput};
use crate::error::Error;
use crate::locks::{self, CloudflareLock, ImagesLock};
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

pub fn build(input: &SiteInput) -> Result<Built, Error> {
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
    let bundle = render::render(&site, &cloudflare, &images);
    Ok(Built {
        merged,
        site,
        cloudflare,
        images,
        bundle,
    })
}
