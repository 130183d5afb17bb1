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

/// Layers picked by selectors: (selector key, value, layer).
pub const SELECTED: &[(&str, &str, Builtin)] = &[
    (
        "site.docker",
        "docker-ce",
        builtin!("layers/docker-ce.toml"),
    ),
    (
        "site.docker",
        "distro",
        builtin!("layers/docker-distro.toml"),
    ),
    ("site.tier", "starter", builtin!("layers/tier-starter.toml")),
    ("site.tier", "growth", builtin!("layers/tier-growth.toml")),
    (
        "site.tier",
        "production",
        builtin!("layers/tier-production.toml"),
    ),
    (
        "site.ingress",
        "caddy",
        builtin!("layers/ingress-caddy.toml"),
    ),
    (
        "site.ingress",
        "tunnel",
        builtin!("layers/ingress-tunnel.toml"),
    ),
    (
        "openclaw.version",
        "2026.2.15",
        builtin!("layers/openclaw-2026.2.15.toml"),
    ),
    (
        "openclaw.version",
        "2026.9.6",
        builtin!("layers/openclaw-2026.9.6.toml"),
    ),
];

/// The order selectors apply in: the machine, then its size, then the
/// edge, then the gateway's release.
pub const SELECTORS: &[&str] = &[
    "site.docker",
    "site.tier",
    "site.ingress",
    "openclaw.version",
];

pub const EXAMPLE_SITE: Builtin = builtin!("sites/example/site.toml");
pub const INIT_SITE: Builtin = builtin!("sites/init/site.toml");
pub const EXAMPLE_IMAGES_LOCK: Builtin = builtin!("sites/example/images.lock");
pub const CLOUDFLARE_LOCK: Builtin = builtin!("layers/cloudflare.lock");

/// Every built-in layer, for `clawbake layers` and the tests.
pub fn all() -> impl Iterator<Item = &'static Builtin> {
    std::iter::once(&BASE).chain(SELECTED.iter().map(|(_, _, b)| b))
}
