//! The built-in layers and example site, compiled into the binary so that
//! `clawbake` works from any directory and a release binary needs no data
//! files beside it.

/// A built-in file: the name errors show, and its text.
pub struct Builtin {
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! builtin {
    ($path:literal) => {
        Builtin {
            name: $path,
            text: include_str!(concat!("../../", $path)),
        }
    };
}

pub const BASE: Builtin = builtin!("layers/base.toml");

/// Layers picked by `[site]` selectors: (selector, value, layer).
pub const SELECTED: &[(&str, &str, Builtin)] = &[
    ("docker", "docker-ce", builtin!("layers/docker-ce.toml")),
    ("docker", "distro", builtin!("layers/docker-distro.toml")),
    ("tier", "starter", builtin!("layers/tier-starter.toml")),
    ("tier", "growth", builtin!("layers/tier-growth.toml")),
    (
        "tier",
        "production",
        builtin!("layers/tier-production.toml"),
    ),
    ("ingress", "caddy", builtin!("layers/ingress-caddy.toml")),
    ("ingress", "tunnel", builtin!("layers/ingress-tunnel.toml")),
];

/// The order selectors apply in: the machine, then its size, then the edge.
pub const SELECTORS: &[&str] = &["docker", "tier", "ingress"];

pub const EXAMPLE_SITE: Builtin = builtin!("sites/example/site.toml");
pub const INIT_SITE: Builtin = builtin!("sites/init/site.toml");
pub const EXAMPLE_IMAGES_LOCK: Builtin = builtin!("sites/example/images.lock");
pub const CLOUDFLARE_LOCK: Builtin = builtin!("layers/cloudflare.lock");

/// Every built-in layer, for `clawbake layers` and the tests.
pub fn all() -> impl Iterator<Item = &'static Builtin> {
    std::iter::once(&BASE).chain(SELECTED.iter().map(|(_, _, b)| b))
}
