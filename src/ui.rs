//! The terminal: the one module that prints. Library code returns values
//! and errors; this turns them into what a person reads.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::Path;

use crate::budget;
use crate::pipeline::Built;

/// User-data limits of providers' paste boxes, in bytes of raw text.
pub const PASTE_LIMITS: &[(&str, usize)] = &[("AWS EC2", 16 * 1024), ("Hetzner Cloud", 32 * 1024)];

pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// How the user-data size compares with the providers' limits.
pub fn paste_fit(size: usize) -> String {
    let fits: Vec<String> = PASTE_LIMITS
        .iter()
        .filter(|(_, limit)| size <= *limit)
        .map(|(name, limit)| format!("{name} ({} KiB)", limit / 1024))
        .collect();
    let too_big: Vec<String> = PASTE_LIMITS
        .iter()
        .filter(|(_, limit)| size > *limit)
        .map(|(name, limit)| format!("{name} ({} KiB)", limit / 1024))
        .collect();
    // User-data is kilobytes; f64 is exact far beyond that.
    #[allow(clippy::cast_precision_loss)]
    let kib = format!("{:.1} KiB", size as f64 / 1024.0);
    match (fits.is_empty(), too_big.is_empty()) {
        (false, true) => format!("{kib}: fits {}", fits.join(" and ")),
        (false, false) => format!(
            "{kib}: fits {}; too large for {}",
            fits.join(" and "),
            too_big.join(" and ")
        ),
        _ => format!(
            "{kib}: too large for {}; deliver it with `clawbake provision --host`",
            too_big.join(" and ")
        ),
    }
}

/// The summary `build` prints.
pub fn build_summary(built: &Built, out: &Path) -> String {
    let b = &built.bundle;
    let site = &built.site;
    let mut s = String::new();
    let (host, stack) = b
        .tree
        .files()
        .fold((0, 0), |(h, st), (_, f)| match f.scope {
            crate::bundle::Scope::Host => (h + 1, st),
            crate::bundle::Scope::Stack => (h, st + 1),
        });
    let layers: Vec<&str> = built
        .merged
        .layers
        .iter()
        .map(|id| built.merged.sources.get(*id).name.as_str())
        .collect();
    let _ = writeln!(
        s,
        "built {} ({}) into {}",
        site.site.name,
        site.site.domain,
        out.display()
    );
    let _ = writeln!(s, "  build id   {}", b.manifest.build_id);
    let _ = writeln!(s, "  layers     {}", layers.join(" -> "));
    let _ = writeln!(
        s,
        "  files      {} ({host} host, {stack} stack)",
        host + stack
    );
    let _ = writeln!(s, "  user-data  {}", paste_fit(b.user_data.len()));
    let _ = writeln!(s, "memory budget ({} tier):", site.site.tier.as_str());
    let _ = writeln!(s, "{}", budget::compute(site).table());
    s
}

/// The loud part: images that are not pinned. Empty when all are.
pub fn unpinned_warning(built: &Built) -> String {
    let unpinned = &built.bundle.manifest.unpinned_images;
    if unpinned.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "warning: {} of {} images are not pinned to a digest and will be pulled by tag:\n",
        unpinned.len(),
        built.bundle.manifest.images.len()
    );
    for image in unpinned {
        let _ = writeln!(s, "  {image}");
    }
    let _ = writeln!(
        s,
        "  = note: a tag can move; the manifest records these as unpinned"
    );
    let _ = writeln!(
        s,
        "  = help: run `clawbake pin images` where a registry is reachable, to write images.lock"
    );
    s
}
