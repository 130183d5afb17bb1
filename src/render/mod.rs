//! Render: the typed site and the locks in, the bundle out. Nothing here
//! reads files or the network, so the same inputs always give the same bytes.

pub mod cloud_config;
pub mod host;
pub mod openclaw;
pub mod shared;
pub mod stack;
pub mod templates;

use shared::{RELEASES, release_name};

use crate::bundle::{Bundle, Manifest, ManifestImage, Tree};
use crate::config::locks::{CloudflareLock, ImagesLock};
use crate::model::{ImageRef, Ingress, Site};

/// Every image the site runs, by the name the manifest gives it.
pub fn images_of(site: &Site) -> Vec<(&'static str, &ImageRef)> {
    let s = &site.stack.services;
    let ingress = match site.site.ingress {
        Ingress::Caddy => ("caddy", &s.caddy.image),
        Ingress::Tunnel => ("cloudflared", &s.tunnel.image),
    };
    vec![
        ("openclaw", &s.gateway.image),
        ("litellm", &s.litellm.image),
        ("docker-proxy", &s.socket_proxy.image),
        ("egress", &s.egress.image),
        ingress,
        ("docker-cli", &site.stack.sandbox.docker_cli_image),
        ("sandbox", &site.stack.sandbox.image),
    ]
}

/// Render the bundle. `image_set` is the archive to ship and its manifest
/// entry, when the site ships its images.
pub fn render(
    site: &Site,
    cloudflare: &CloudflareLock,
    lock: &ImagesLock,
    image_set: Option<(std::path::PathBuf, crate::bundle::ManifestImageSet)>,
) -> Bundle {
    let pinned: Vec<(&str, ImageRef, bool)> = images_of(site)
        .into_iter()
        .map(|(service, image)| match lock.pin(image) {
            Some(p) => (service, p, true),
            None => (service, image.clone(), false),
        })
        .collect();
    let named = |service: &str| {
        pinned
            .iter()
            .find(|(s, _, _)| *s == service)
            .map(|(_, i, _)| i.to_string())
            .unwrap_or_default()
    };
    let ingress_service = match site.site.ingress {
        Ingress::Caddy => "caddy",
        Ingress::Tunnel => "cloudflared",
    };
    let images = stack::Images {
        gateway: named("openclaw"),
        docker_cli: named("docker-cli"),
        litellm: named("litellm"),
        socket_proxy: named("docker-proxy"),
        egress: named("egress"),
        ingress: named(ingress_service),
        sandbox: named("sandbox"),
    };

    let mut tree = Tree::default();
    host::render_into(&mut tree, site, cloudflare);
    stack::render_into(&mut tree, site, cloudflare, &images);

    let build_id = tree.build_id();
    let manifest = Manifest {
        format: 1,
        build_id: build_id.clone(),
        site: site.site.name.to_string(),
        files: Manifest::files_of(&tree),
        images: pinned
            .iter()
            .map(|(service, image, _)| ManifestImage {
                service: (*service).to_owned(),
                image: image.tagged(),
                digest: image.digest.clone(),
            })
            .collect(),
        unpinned_images: pinned
            .iter()
            .filter(|(_, _, ok)| !ok)
            .map(|(_, image, _)| image.tagged())
            .collect(),
        cloudflare_ranges_as_of: cloudflare.as_of.clone(),
        openclaw_version: site.openclaw.version.as_str().to_owned(),
        image_set: image_set.as_ref().map(|(_, set)| set.clone()),
    };
    let release_dir = format!("{RELEASES}/{}", release_name(&build_id));
    let manifest_json = manifest.to_json();
    let user_data = cloud_config::render(site, &tree, &release_dir, &manifest_json, &build_id);
    let meta_data = cloud_config::meta_data(site, &build_id);
    Bundle {
        tree,
        manifest,
        user_data,
        meta_data,
        image_set: image_set.map(|(path, _)| path),
    }
}
