//! Writing the lock files from the network: `pin images`, `pin cloudflare`,
//! and the image set that `images save` downloads from the pins.
//!
//! Every fetch happens first; a lock is written only once all of them
//! succeeded, atomically (a temporary file beside it, renamed over it), so
//! a failure leaves every lock file exactly as it was. The functions return
//! what changed; `ui` says it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use reqwest::Url;

use crate::config::tree::toml_string;
use crate::error::Error;
use crate::imageset;
use crate::locks::{CloudflareLock, ImagesLock, LockedImage};
use crate::model::{ImageRef, Site};
use crate::registry::{self, Client, Progress};
use crate::render::images_of;

/// Cloudflare's published ranges.
pub const CLOUDFLARE_URL: &str = "https://api.cloudflare.com/client/v4/ips";

/// The file names beside `site.toml`.
pub const IMAGES_LOCK: &str = "images.lock";
pub const CLOUDFLARE_LOCK: &str = "cloudflare.lock";
pub const IMAGE_SET: &str = "images.tar";

/// Today as `YYYY-MM-DD`: `CLAWBAKE_NOW` if set (a date), else
/// `SOURCE_DATE_EPOCH`, else the clock. Tests fix it for stable output.
pub fn today() -> Result<String, Error> {
    if let Ok(now) = std::env::var("CLAWBAKE_NOW") {
        let ok = now.len() == 10
            && now.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !ok {
            return Err(Error::Message {
                message: format!("`CLAWBAKE_NOW` is `{now}`, not a date"),
                help: Some("write it as `YYYY-MM-DD`, or unset it".to_owned()),
            });
        }
        return Ok(now);
    }
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => s.trim().parse::<u64>().map_err(|_| Error::Message {
            message: format!("`SOURCE_DATE_EPOCH` is `{s}`, not a number of seconds"),
            help: Some("set it to seconds since 1970, or unset it".to_owned()),
        })?,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    Ok(civil_date(secs / 86_400))
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_date(days: u64) -> String {
    // Days since 0000-03-01, in 400-year eras of 146097 days; March-based
    // years put the leap day last.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io {
        action: format!("writing `{}`", path.display()),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".clawbake-")
        .tempfile_in(dir)
        .map_err(io)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// images.lock

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

// ---------------------------------------------------------------------------
// cloudflare.lock

/// What `pin cloudflare` did.
#[derive(Debug)]
pub struct PinnedCloudflare {
    pub lock: PathBuf,
    pub added: Vec<IpNet>,
    pub removed: Vec<IpNet>,
    pub count: usize,
    pub as_of: String,
}

#[derive(serde::Deserialize)]
struct IpsAnswer {
    success: bool,
    result: Option<IpsResult>,
}

#[derive(serde::Deserialize)]
struct IpsResult {
    #[serde(default)]
    ipv4_cidrs: Vec<String>,
    #[serde(default)]
    ipv6_cidrs: Vec<String>,
}

/// Fetch Cloudflare's ranges and refuse an answer that would open the
/// firewall wider than Cloudflare: empty, broad, private or malformed.
pub async fn fetch_cloudflare(
    url: &Url,
    timeout: Duration,
) -> Result<(Vec<Ipv4Net>, Vec<Ipv6Net>), Error> {
    let action = || format!("fetching Cloudflare's ranges from {url}");
    let http = registry::http_client(timeout)?;
    let response = http
        .get(url.clone())
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| registry::network(action(), registry::describe(&e, url.as_str(), timeout)))?;
    let response = registry::check_status(response, url.as_str())
        .await
        .map_err(|d| registry::network(action(), d))?;
    let body = response
        .bytes()
        .await
        .map_err(|e| registry::network(action(), registry::describe(&e, url.as_str(), timeout)))?;
    let refuse = |why: String| Error::Network {
        action: action(),
        detail: why,
        help: Some("the lock was left as it was; check the URL, or try again later".to_owned()),
    };
    let answer: IpsAnswer = serde_json::from_slice(&body)
        .map_err(|e| refuse(format!("the answer is not the API's JSON ({e})")))?;
    let result = match answer.result {
        Some(r) if answer.success => r,
        _ => return Err(refuse("the API answered `success: false`".to_owned())),
    };
    let v4 = parse_ranges::<Ipv4Net>(&result.ipv4_cidrs, "IPv4").map_err(refuse)?;
    let v6 = parse_ranges::<Ipv6Net>(&result.ipv6_cidrs, "IPv6").map_err(refuse)?;
    Ok((v4, v6))
}

fn parse_ranges<N>(list: &[String], family: &str) -> Result<Vec<N>, String>
where
    N: std::str::FromStr + Into<IpNet> + Copy + Ord,
{
    if list.is_empty() {
        return Err(format!(
            "the answer lists no {family} ranges; refusing an empty firewall allow-list"
        ));
    }
    let mut out = BTreeSet::new();
    for s in list {
        let net: N = s
            .parse()
            .map_err(|_| format!("`{s}` is not an {family} range"))?;
        let ip: IpNet = net.into();
        if ip.trunc() != ip {
            return Err(format!(
                "`{s}` has host bits set, which Cloudflare never publishes"
            ));
        }
        let (broadest, special) = match ip {
            IpNet::V4(n) => (
                8,
                n.addr().is_private()
                    || n.addr().is_loopback()
                    || n.addr().is_link_local()
                    || n.addr().is_unspecified(),
            ),
            IpNet::V6(n) => (
                12,
                n.addr().is_loopback()
                    || n.addr().is_unspecified()
                    || (n.addr().segments()[0] & 0xfe00) == 0xfc00,
            ),
        };
        if ip.prefix_len() < broadest {
            return Err(format!(
                "`{s}` is broader than /{broadest}; refusing a range that would open the firewall to much of the internet"
            ));
        }
        if special {
            return Err(format!("`{s}` is not a public range"));
        }
        out.insert(net);
    }
    Ok(out.into_iter().collect())
}

/// The lock's text, ranges sorted.
pub fn render_cloudflare_lock(lock: &CloudflareLock) -> String {
    let mut v4: Vec<IpNet> = lock.ipv4.iter().map(|c| c.0).collect();
    let mut v6: Vec<IpNet> = lock.ipv6.iter().map(|c| c.0).collect();
    v4.sort();
    v6.sort();
    let list = |nets: &[IpNet]| {
        let mut s = String::from("[\n");
        for n in nets {
            let _ = writeln!(s, "  {},", toml_string(&n.to_string()));
        }
        s.push(']');
        s
    };
    format!(
        "# Cloudflare's published IP ranges: the only sources allowed to reach the\n\
         # ports the ingress publishes. Written by `clawbake pin cloudflare`, which\n\
         # shows what changed; do not edit by hand.\n\
         source = {}\nas_of = {}\nipv4 = {}\nipv6 = {}\n",
        toml_string(&lock.source),
        toml_string(&lock.as_of),
        list(&v4),
        list(&v6)
    )
}

/// `pin cloudflare`: fetch, compare with the current lock, write the site's.
pub async fn pin_cloudflare(
    url: &Url,
    timeout: Duration,
    old: &CloudflareLock,
    site_dir: &Path,
) -> Result<PinnedCloudflare, Error> {
    let lock = site_dir.join(CLOUDFLARE_LOCK);
    let as_of = today()?;
    let (v4, v6) = fetch_cloudflare(url, timeout).await?;
    let fresh: BTreeSet<IpNet> = v4
        .iter()
        .map(|&n| IpNet::V4(n))
        .chain(v6.iter().map(|&n| IpNet::V6(n)))
        .collect();
    let before: BTreeSet<IpNet> = old.all().map(|c| c.0).collect();
    let added: Vec<IpNet> = fresh.difference(&before).copied().collect();
    let removed: Vec<IpNet> = before.difference(&fresh).copied().collect();
    let new = CloudflareLock {
        source: url.to_string(),
        as_of: as_of.clone(),
        ipv4: v4
            .into_iter()
            .map(|n| crate::model::Cidr(IpNet::V4(n)))
            .collect(),
        ipv6: v6
            .into_iter()
            .map(|n| crate::model::Cidr(IpNet::V6(n)))
            .collect(),
    };
    write_atomic(&lock, render_cloudflare_lock(&new).as_bytes())?;
    Ok(PinnedCloudflare {
        lock,
        added,
        removed,
        count: fresh.len(),
        as_of,
    })
}

// ---------------------------------------------------------------------------
// The image set

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_782), "2026-11-25");
        assert_eq!(civil_date(19_782), "2024-02-29");
    }

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

    #[test]
    fn suspicious_ranges_are_refused() {
        let v4 = |s: &[&str]| {
            parse_ranges::<Ipv4Net>(
                &s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
                "IPv4",
            )
        };
        assert!(v4(&["173.245.48.0/20"]).is_ok());
        assert_eq!(
            v4(&[]).unwrap_err(),
            "the answer lists no IPv4 ranges; refusing an empty firewall allow-list"
        );
        assert_eq!(
            v4(&["0.0.0.0/0"]).unwrap_err(),
            "`0.0.0.0/0` is broader than /8; refusing a range that would open the firewall to much of the internet"
        );
        assert_eq!(
            v4(&["10.0.0.0/8"]).unwrap_err(),
            "`10.0.0.0/8` is not a public range"
        );
        assert_eq!(
            v4(&["173.245.48.1/20"]).unwrap_err(),
            "`173.245.48.1/20` has host bits set, which Cloudflare never publishes"
        );
        assert_eq!(v4(&["nope"]).unwrap_err(), "`nope` is not an IPv4 range");
    }
}
