//! `images.lock`: every image tag of the site resolved to its linux/amd64
//! digest, compared with the lock (an entry keeps its date while its digest
//! stays), written only when every tag resolved; and `build --locked`, which
//! checks the lock without the network.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::files::{IMAGES_LOCK, today, write_atomic};
use super::registry::Client;
use crate::config::locks::{ImagesLock, LockedImage};
use crate::config::tree::toml_string;
use crate::error::Error;
use crate::model::{ImageRef, Site};
use crate::render::images_of;

/// The images of a site that need a lock entry: those without a digest in
/// the site itself, each tag once, sorted.
pub fn wanted_images(site: &Site) -> Vec<ImageRef> {
    let set: BTreeSet<ImageRef> = images_of(site)
        .into_iter()
        .filter(|(_, i)| i.digest.is_none())
        .map(|(_, i)| i.clone())
        .collect();
    set.into_iter().collect()
}

/// One line of what `pin images` changed or would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageChange {
    pub image: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// What `pin images` did.
#[derive(Debug)]
pub struct PinnedImages {
    pub lock: PathBuf,
    pub changes: Vec<ImageChange>,
    pub unchanged: usize,
}

/// The lock's text: sorted by image, a header, one table per image.
pub fn render_images_lock(images: &[LockedImage]) -> String {
    let mut sorted: Vec<&LockedImage> = images.iter().collect();
    sorted.sort_by(|a, b| a.image.cmp(&b.image));
    let mut s = String::from(
        "# Image digests for this site, written by `clawbake pin images`: each tag\n\
         # pinned to its linux/amd64 manifest. `clawbake pin images --check` says\n\
         # whether the registries still agree; do not edit by hand.\n",
    );
    for i in sorted {
        let _ = write!(
            s,
            "\n[[images]]\nimage = {}\ndigest = {}\nresolved_at = {}\n",
            toml_string(&i.image),
            toml_string(&i.digest),
            toml_string(&i.resolved_at)
        );
    }
    s
}

/// Compare the lock with fresh digests: the new entries and the changes.
/// An entry keeps its date when its digest did not move.
pub fn diff_images(
    old: &ImagesLock,
    fresh: &[(ImageRef, String)],
    today: &str,
) -> (Vec<LockedImage>, Vec<ImageChange>, usize) {
    let old_by: BTreeMap<&str, &LockedImage> =
        old.images.iter().map(|l| (l.image.as_str(), l)).collect();
    let mut entries = Vec::new();
    let mut changes = Vec::new();
    let mut unchanged = 0;
    let mut seen = BTreeSet::new();
    for (image, digest) in fresh {
        let key = image.tagged();
        seen.insert(key.clone());
        let previous = old_by.get(key.as_str());
        let resolved_at = match previous {
            Some(p) if p.digest == *digest => {
                unchanged += 1;
                p.resolved_at.clone()
            }
            _ => {
                changes.push(ImageChange {
                    image: key.clone(),
                    old: previous.map(|p| p.digest.clone()),
                    new: Some(digest.clone()),
                });
                today.to_owned()
            }
        };
        entries.push(LockedImage {
            image: key,
            digest: digest.clone(),
            resolved_at,
        });
    }
    for l in &old.images {
        if !seen.contains(&l.image) {
            changes.push(ImageChange {
                image: l.image.clone(),
                old: Some(l.digest.clone()),
                new: None,
            });
        }
    }
    changes.sort_by(|a, b| a.image.cmp(&b.image));
    (entries, changes, unchanged)
}

/// Resolve every image of the site; all of them, or the first failure in
/// the site's order.
pub async fn resolve_all(
    client: &Client,
    images: &[ImageRef],
) -> Result<Vec<(ImageRef, String)>, Error> {
    let mut tasks = tokio::task::JoinSet::new();
    for (n, image) in images.iter().enumerate() {
        let client = client.clone();
        let image = image.clone();
        tasks.spawn(async move { (n, client.resolve(&image).await.map(|d| (image, d))) });
    }
    let mut results: Vec<_> = tasks.join_all().await.into_iter().collect::<Vec<_>>();
    results.sort_by_key(|(n, _)| *n);
    results.into_iter().map(|(_, r)| r).collect()
}

/// `pin images`: resolve, compare, and write the lock (or, with `check`,
/// refuse a stale one).
pub async fn pin_images(
    client: &Client,
    site: &Site,
    site_dir: &Path,
    old: &ImagesLock,
    check: bool,
) -> Result<PinnedImages, Error> {
    let lock = site_dir.join(IMAGES_LOCK);
    let today = today()?;
    let fresh = resolve_all(client, &wanted_images(site)).await?;
    let (entries, changes, unchanged) = diff_images(old, &fresh, &today);
    if check {
        if !changes.is_empty() {
            return Err(stale_images(&lock, &changes));
        }
    } else {
        let text = render_images_lock(&entries);
        let current = std::fs::read_to_string(&lock).ok();
        if current.as_deref() != Some(text.as_str()) {
            write_atomic(&lock, text.as_bytes())?;
        }
    }
    Ok(PinnedImages {
        lock,
        changes,
        unchanged,
    })
}

/// One line per change, for messages.
pub fn change_lines(changes: &[ImageChange]) -> String {
    let mut s = String::new();
    for c in changes {
        let _ = match (&c.old, &c.new) {
            (None, Some(new)) => writeln!(s, "  + {}  {new}", c.image),
            (Some(old), None) => writeln!(s, "  - {}  {old}", c.image),
            (Some(old), Some(new)) => writeln!(s, "  ~ {}  {old} -> {new}", c.image),
            (None, None) => Ok(()),
        };
    }
    s
}

fn stale_images(lock: &Path, changes: &[ImageChange]) -> Error {
    Error::Stale {
        message: format!(
            "`{}` is stale; `pin images` would change:\n{}",
            lock.display(),
            change_lines(changes).trim_end()
        ),
        help: format!(
            "run `clawbake pin images {}` and review the change",
            site_arg(lock)
        ),
    }
}

/// The site argument to repeat in a help line: the directory of `lock`.
fn site_arg(lock: &Path) -> String {
    lock.parent()
        .map(|d| d.join("site.toml").display().to_string())
        .unwrap_or_default()
}

/// What `build --locked` refuses, without the network: an image with no
/// digest, and a lock entry for an image the site no longer runs.
pub fn check_locked(site: &Site, lock: &ImagesLock, site_dir: Option<&Path>) -> Result<(), Error> {
    let lock_path = site_dir.map_or_else(
        || PathBuf::from("sites/example/images.lock"),
        |d| d.join(IMAGES_LOCK),
    );
    let wanted: BTreeSet<String> = wanted_images(site).iter().map(ImageRef::tagged).collect();
    let unpinned: Vec<&String> = wanted
        .iter()
        .filter(|w| !lock.images.iter().any(|l| l.image == **w))
        .collect();
    let mut unused: Vec<&LockedImage> = lock
        .images
        .iter()
        .filter(|l| !wanted.contains(&l.image))
        .collect();
    unused.sort_by(|a, b| a.image.cmp(&b.image));
    if unpinned.is_empty() && unused.is_empty() {
        return Ok(());
    }
    let mut message = if unpinned.is_empty() {
        format!(
            "`{}` is stale: it pins images the site no longer runs",
            lock_path.display()
        )
    } else {
        format!(
            "{} of the site's images are not pinned, and `--locked` does not build by tag",
            unpinned.len()
        )
    };
    for image in unpinned {
        let _ = write!(message, "\n  unpinned  {image}");
    }
    for l in unused {
        let _ = write!(message, "\n  unused    {}  {}", l.image, l.digest);
    }
    let help = match site_dir {
        Some(_) => format!(
            "run `clawbake pin images {}`, review the change, then build again",
            site_arg(&lock_path)
        ),
        None => "the built-in example site is not pinned; run `clawbake init DIR`, then `clawbake pin images DIR/site.toml`".to_owned(),
    };
    Err(Error::Stale { message, help })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(image: &str, digest: &str, at: &str) -> LockedImage {
        LockedImage {
            image: image.into(),
            digest: digest.into(),
            resolved_at: at.into(),
        }
    }

    #[test]
    fn a_digest_that_did_not_move_keeps_its_date() {
        let old = ImagesLock {
            images: vec![
                locked("a:1", "sha256:1", "2026-01-01"),
                locked("b:1", "sha256:2", "2026-01-01"),
                locked("gone:1", "sha256:3", "2026-01-01"),
            ],
        };
        let fresh = vec![
            (ImageRef::parse("a:1").unwrap(), "sha256:1".to_owned()),
            (ImageRef::parse("b:1").unwrap(), "sha256:9".to_owned()),
            (ImageRef::parse("c:1").unwrap(), "sha256:4".to_owned()),
        ];
        let (entries, changes, unchanged) = diff_images(&old, &fresh, "2026-11-25");
        assert_eq!(unchanged, 1);
        assert_eq!(entries[0].resolved_at, "2026-01-01");
        assert_eq!(entries[1].resolved_at, "2026-11-25");
        assert_eq!(
            change_lines(&changes),
            "  ~ b:1  sha256:2 -> sha256:9\n  + c:1  sha256:4\n  - gone:1  sha256:3\n"
        );
        let text = render_images_lock(&entries);
        assert!(text.contains(
            "[[images]]\nimage = \"a:1\"\ndigest = \"sha256:1\"\nresolved_at = \"2026-01-01\"\n"
        ));
    }
}
