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

/// What `pin images` did, or what `--check` found.
pub fn pinned_images(p: &crate::pin::PinnedImages, check: bool) -> String {
    let total = p.unchanged + p.changes.iter().filter(|c| c.new.is_some()).count();
    if p.changes.is_empty() {
        let verb = if check { "matches" } else { "is up to date:" };
        return format!(
            "{} {verb} {total} images at their registries\n",
            p.lock.display()
        );
    }
    format!(
        "pinned {total} images in {} ({} changed, {} unchanged)\n{}",
        p.lock.display(),
        p.changes.len(),
        p.unchanged,
        crate::pin::change_lines(&p.changes)
    )
}

/// What `pin cloudflare` wrote and what changed.
pub fn pinned_cloudflare(p: &crate::pin::PinnedCloudflare) -> String {
    let mut s = format!(
        "wrote {}: {} ranges as of {}\n",
        p.lock.display(),
        p.count,
        p.as_of
    );
    if p.added.is_empty() && p.removed.is_empty() {
        s.push_str("  no range added or removed\n");
    }
    for n in &p.added {
        let _ = writeln!(s, "  + {n}");
    }
    for n in &p.removed {
        let _ = writeln!(s, "  - {n}");
    }
    s
}

/// What `images save` wrote.
pub fn saved_images(saved: &crate::pin::SavedImages) -> String {
    // Sizes are far below f64's exact range.
    #[allow(clippy::cast_precision_loss)]
    let mib = saved.bytes as f64 / (1024.0 * 1024.0);
    format!(
        "saved {} images ({} blobs, {mib:.1} MiB) into {}\n  set `images.ship = true` in the site to ship it with the bundle\n",
        saved.images,
        saved.blobs,
        saved.archive.display()
    )
}

/// A byte progress bar on stderr for downloads; invisible when stderr is
/// not a terminal, so scripts and tests see only the result.
#[derive(Clone)]
pub struct DownloadBar(indicatif::ProgressBar);

impl DownloadBar {
    pub fn new() -> DownloadBar {
        if !std::io::stderr().is_terminal() {
            return DownloadBar(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} downloading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        DownloadBar(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Default for DownloadBar {
    fn default() -> DownloadBar {
        DownloadBar::new()
    }
}

impl crate::registry::Progress for DownloadBar {
    fn add_total(&self, bytes: u64) {
        self.0.inc_length(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}
