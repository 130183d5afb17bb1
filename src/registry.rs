//! A client for the registry HTTP API v2 (Docker Hub, ghcr.io, any
//! distribution registry): a tag resolved to its linux/amd64 manifest
//! digest, manifests and blobs fetched and each checked against its digest.
//!
//! Authentication is the anonymous bearer-token flow: a registry that
//! answers 401 names, in `WWW-Authenticate: Bearer realm=..,service=..,
//! scope=..`, where to get a pull token; nothing here knows any registry's
//! token server by name. Async on reqwest (rustls); nothing here prints,
//! progress goes through [`Progress`].

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, RANGE, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};
use sha2::{Digest as _, Sha256};

use crate::error::Error;
use crate::model::ImageRef;

/// Media types of image indexes (multi-platform) and of image manifests.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// How to reach registries: overrides per registry, and patience.
#[derive(Clone, Debug)]
pub struct Options {
    /// Registry (`docker.io`, `ghcr.io`) -> base URL used instead of it.
    pub mirrors: BTreeMap<String, Url>,
    /// For connecting, and for each read; a stalled server fails after it.
    pub timeout: Duration,
    /// Where verified blobs and `<hex>.partial` downloads are kept.
    pub cache_dir: PathBuf,
}

/// Told how many bytes there are to fetch, and as they arrive.
pub trait Progress: Send + Sync {
    fn add_total(&self, bytes: u64);
    fn advance(&self, bytes: u64);
}

/// Progress nobody watches.
pub struct NoProgress;

impl Progress for NoProgress {
    fn add_total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// The registry name a site uses for Docker Hub, whatever its spelling.
const DOCKER_HUB: &str = "docker.io";

/// Parse `REGISTRY=URL`, as `--registry-mirror` and
/// `CLAWBAKE_REGISTRY_MIRRORS` (comma-separated) take it.
pub fn parse_mirror(s: &str) -> Result<(String, Url), Error> {
    let bad = |why: String| Error::Message {
        message: format!("invalid registry mirror `{s}`: {why}"),
        help: Some("write `REGISTRY=URL`, e.g. `docker.io=https://mirror.example.com`".to_owned()),
    };
    let Some((registry, url)) = s.split_once('=') else {
        return Err(bad("there is no `=`".to_owned()));
    };
    let url = checked_url(url).map_err(bad)?;
    Ok((canonical_registry(registry.trim()), url))
}

/// A URL clawbake may fetch from: https, or plain http to this machine only.
pub fn checked_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("`{s}` is not a URL ({e})"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(format!(
            "plain `http://` is only allowed for loopback addresses; use `https://` for `{}`",
            url.host_str().unwrap_or("")
        )),
        other => Err(format!("`{other}` URLs are not supported; use `https://`")),
    }
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn canonical_registry(r: &str) -> String {
    match r {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
        other => other.to_owned(),
    }
}

/// Where an image lives: its registry, its repository there, and the URL
/// requests go to.
#[derive(Clone, Debug)]
pub struct Location {
    /// `docker.io`, `ghcr.io`, `registry.example.com:5000`.
    pub registry: String,
    /// `library/caddy`, `openclaw/openclaw`.
    pub repository: String,
    pub base: Url,
}

impl Location {
    /// The host (and port) requests go to, for messages.
    pub fn host(&self) -> String {
        let host = self.base.host_str().unwrap_or("");
        match self.base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        }
    }

    /// The full reference `docker load` names the image by.
    pub fn full_name(&self, tag: &str) -> String {
        format!("{}/{}:{tag}", self.registry, self.repository)
    }

    fn url(&self, kind: &str, reference: &str) -> String {
        let base = self.base.as_str().trim_end_matches('/');
        format!("{base}/v2/{}/{kind}/{reference}", self.repository)
    }
}

/// Where `image` is fetched from, given the mirrors.
pub fn locate(image: &ImageRef, mirrors: &BTreeMap<String, Url>) -> Location {
    let (registry, mut repository) = match image.name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (canonical_registry(first), rest.to_owned())
        }
        _ => (DOCKER_HUB.to_owned(), image.name.clone()),
    };
    if registry == DOCKER_HUB && !repository.contains('/') {
        repository = format!("library/{repository}");
    }
    let base = mirrors.get(&registry).cloned().unwrap_or_else(|| {
        let host = if registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &registry
        };
        Url::parse(&format!("https://{host}")).expect("a registry name makes a URL")
    });
    Location {
        registry,
        repository,
        base,
    }
}

/// A manifest as the registry served it, checked against its digest.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// An image manifest's blobs: its config, then its layers in order.
#[derive(Clone, Debug)]
pub struct Descriptor {
    pub digest: String,
    pub size: u64,
}

impl Manifest {
    fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.bytes).map_err(|e| format!("the manifest is not JSON ({e})"))
    }

    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }

    /// The config and the layers of an image manifest.
    pub fn blobs(&self) -> Result<(Descriptor, Vec<Descriptor>), String> {
        let json = self.json()?;
        let desc = |v: &serde_json::Value| -> Result<Descriptor, String> {
            let digest = v["digest"].as_str().filter(|d| is_digest(d));
            match (digest, v["size"].as_u64()) {
                (Some(d), Some(size)) => Ok(Descriptor {
                    digest: d.to_owned(),
                    size,
                }),
                _ => {
                    Err("the manifest has a descriptor without a sha256 digest and size".to_owned())
                }
            }
        };
        let config = desc(&json["config"])?;
        let layers = json["layers"]
            .as_array()
            .ok_or("the manifest lists no layers")?
            .iter()
            .map(desc)
            .collect::<Result<_, _>>()?;
        Ok((config, layers))
    }
}

fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The registry client. Cheap to clone; clones share tokens.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    options: Arc<Options>,
    /// Bearer tokens by base URL and repository.
    tokens: Arc<Mutex<HashMap<String, String>>>,
}

impl Client {
    pub fn new(options: Options) -> Result<Client, Error> {
        let http = http_client(options.timeout)?;
        Ok(Client {
            http,
            options: Arc::new(options),
            tokens: Arc::default(),
        })
    }

    pub fn locate(&self, image: &ImageRef) -> Location {
        locate(image, &self.options.mirrors)
    }

    /// The linux/amd64 manifest digest that `image`'s tag names now.
    pub async fn resolve(&self, image: &ImageRef) -> Result<String, Error> {
        let loc = self.locate(image);
        let action = || format!("resolving `{}` at {}", image.tagged(), loc.host());
        let tag = image.tag.as_deref().unwrap_or("latest");
        let top = self
            .manifest(&loc, tag, None)
            .await
            .map_err(|d| network(action(), d))?;
        let wrong_platform = |detail: String| Error::Message {
            message: format!("{}: {detail}", action()),
            help: Some("choose a tag that is published for linux/amd64".to_owned()),
        };
        if !top.is_index() {
            // A single image: its config says which platform it is for.
            let (os, arch) = self
                .platform(&loc, &top)
                .await
                .map_err(|d| network(action(), d))?;
            if (os.as_str(), arch.as_str()) != ("linux", "amd64") {
                return Err(wrong_platform(format!(
                    "the tag names a single {os}/{arch} image, not linux/amd64"
                )));
            }
            return Ok(top.digest);
        }
        let digest = amd64_of(&top).map_err(wrong_platform)?;
        let manifest = self
            .manifest(&loc, &digest, Some(&digest))
            .await
            .map_err(|d| network(action(), d))?;
        if manifest.is_index() {
            return Err(network(
                action(),
                format!("the linux/amd64 entry `{digest}` is an index, not an image manifest"),
            ));
        }
        Ok(digest)
    }

    /// The image manifest at `digest`, checked.
    pub async fn manifest_at(&self, image: &ImageRef, digest: &str) -> Result<Manifest, Error> {
        let loc = self.locate(image);
        let action = || format!("fetching `{}@{digest}` from {}", image.tagged(), loc.host());
        let m = self
            .manifest(&loc, digest, Some(digest))
            .await
            .map_err(|d| network(action(), d))?;
        if m.is_index() {
            return Err(network(
                action(),
                "it is an index, not an image manifest; run `clawbake pin images` to pin the linux/amd64 manifest".to_owned(),
            ));
        }
        Ok(m)
    }

    /// The `(os, architecture)` an image manifest's config names.
    async fn platform(
        &self,
        loc: &Location,
        manifest: &Manifest,
    ) -> Result<(String, String), String> {
        let (config, _) = manifest.blobs()?;
        let url = loc.url("blobs", &config.digest);
        let response = self.get(loc, &url, |r| r).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| describe(&e, &url, self.options.timeout))?;
        let digest = sha256_digest(&bytes);
        if digest != config.digest {
            return Err(format!(
                "the config from {url} does not match its digest: its content hashes to `{digest}`"
            ));
        }
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("the config from {url} is not JSON ({e})"))?;
        let field = |k: &str| json[k].as_str().unwrap_or("?").to_owned();
        Ok((field("os"), field("architecture")))
    }

    /// GET a manifest by tag or digest; `expect` is the digest it must have.
    async fn manifest(
        &self,
        loc: &Location,
        reference: &str,
        expect: Option<&str>,
    ) -> Result<Manifest, String> {
        let url = loc.url("manifests", reference);
        let accept = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(", ");
        let response = self
            .get(loc, &url, |r| r.header(ACCEPT, accept.as_str()))
            .await?;
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| describe(&e, &url, self.options.timeout))?
            .to_vec();
        let digest = sha256_digest(&bytes);
        let claimed = header(&headers, "docker-content-digest");
        for expected in [expect, claimed.as_deref()].into_iter().flatten() {
            if expected != digest {
                return Err(format!(
                    "the manifest from {url} does not match its digest: expected `{expected}`, its content hashes to `{digest}`"
                ));
            }
        }
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("the manifest from {url} is not JSON ({e})"))?;
        // OCI makes `mediaType` optional; then the header, then the shape.
        let media_type = json["mediaType"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| header(&headers, CONTENT_TYPE.as_str()))
            .filter(|t| {
                [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].contains(&t.as_str())
            })
            .unwrap_or_else(|| {
                if json["manifests"].is_array() {
                    OCI_INDEX.to_owned()
                } else {
                    OCI_MANIFEST.to_owned()
                }
            });
        Ok(Manifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// Download a blob into the cache, resuming a partial download, and
    /// return the path of the verified file.
    pub async fn blob(
        &self,
        image: &ImageRef,
        blob: &Descriptor,
        progress: &dyn Progress,
    ) -> Result<PathBuf, Error> {
        let loc = self.locate(image);
        let action = || {
            format!(
                "downloading `{}` of `{}` from {}",
                blob.digest,
                image.tagged(),
                loc.host()
            )
        };
        let io = |what: &str, path: &Path| {
            let what = what.to_owned();
            let path = path.to_owned();
            move |source| Error::Io {
                action: format!("{what} `{}`", path.display()),
                source,
            }
        };
        let dir = &self.options.cache_dir;
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let hex = blob.digest.trim_start_matches("sha256:");
        let done = dir.join(hex);
        if done.exists() {
            if crate::imageset::sha256_file(&done).map_err(io("reading", &done))? == blob.digest {
                progress.advance(blob.size);
                return Ok(done);
            }
            std::fs::remove_file(&done).map_err(io("removing", &done))?;
        }
        let partial = dir.join(format!("{hex}.partial"));
        match self.download(&loc, blob, &partial, progress).await {
            Ok(()) => {}
            Err(Failed::Io(e)) => return Err(e),
            Err(Failed::Net(detail)) => {
                return Err(Error::Network {
                    action: action(),
                    detail,
                    help: Some(DOWNLOAD_HELP.to_owned()),
                });
            }
        }
        std::fs::rename(&partial, &done).map_err(io("moving into place", &done))?;
        Ok(done)
    }

    async fn download(
        &self,
        loc: &Location,
        blob: &Descriptor,
        partial: &Path,
        progress: &dyn Progress,
    ) -> Result<(), Failed> {
        let io_err = |what: &'static str| {
            let path = partial.to_owned();
            move |source| {
                Failed::Io(Error::Io {
                    action: format!("{what} `{}`", path.display()),
                    source,
                })
            }
        };
        let url = loc.url("blobs", &blob.digest);
        // What a previous, interrupted run left: hash it, then ask for the rest.
        let mut hasher = Sha256::new();
        let mut have = 0u64;
        if let Ok(mut file) = std::fs::File::open(partial) {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = file.read(&mut buf).map_err(io_err("reading"))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                have += n as u64;
            }
        }
        if have >= blob.size {
            // Longer than the blob, or complete but unverified: start over.
            have = 0;
            hasher = Sha256::new();
        }
        let mut response = self
            .get(loc, &url, |r| {
                if have > 0 {
                    r.header(RANGE, format!("bytes={have}-"))
                } else {
                    r
                }
            })
            .await
            .map_err(Failed::Net)?;
        let append = have > 0 && response.status() == StatusCode::PARTIAL_CONTENT;
        if !append {
            have = 0;
            hasher = Sha256::new();
        }
        progress.advance(have);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(partial)
            .map_err(io_err("writing"))?;
        // Plain writes into the page cache: they do not stall the runtime
        // long enough to be worth a blocking thread per chunk.
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failed::Net(describe(&e, &url, self.options.timeout)))?
        {
            have += chunk.len() as u64;
            if have > blob.size {
                drop(out);
                let _ = std::fs::remove_file(partial);
                return Err(Failed::Net(format!(
                    "{url} sent more than the {} bytes the manifest declares",
                    blob.size
                )));
            }
            out.write_all(&chunk).map_err(io_err("writing"))?;
            hasher.update(&chunk);
            progress.advance(chunk.len() as u64);
        }
        out.flush().map_err(io_err("writing"))?;
        drop(out);
        let digest = format!("sha256:{:x}", hasher.finalize());
        if digest != blob.digest {
            let _ = std::fs::remove_file(partial);
            return Err(Failed::Net(format!(
                "the blob from {url} does not match its digest: its {have} bytes hash to `{digest}`"
            )));
        }
        Ok(())
    }

    /// GET with the repository's pull token, fetching one when challenged.
    async fn get(
        &self,
        loc: &Location,
        url: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, String> {
        let key = format!("{}|{}", loc.base, loc.repository);
        let mut fetched = false;
        loop {
            let token = self.tokens.lock().expect("token cache").get(&key).cloned();
            let mut request = build(self.http.get(url));
            if let Some(t) = &token {
                request = request.header(AUTHORIZATION, format!("Bearer {t}"));
            }
            let response = request
                .send()
                .await
                .map_err(|e| describe(&e, url, self.options.timeout))?;
            if response.status() == StatusCode::UNAUTHORIZED && !fetched {
                let challenge = header(response.headers(), WWW_AUTHENTICATE.as_str());
                let token = self.token(loc, url, challenge.as_deref()).await?;
                self.tokens
                    .lock()
                    .expect("token cache")
                    .insert(key.clone(), token);
                fetched = true;
                continue;
            }
            return check_status(response, url).await;
        }
    }

    /// An anonymous pull token from the realm the challenge names.
    async fn token(
        &self,
        loc: &Location,
        url: &str,
        challenge: Option<&str>,
    ) -> Result<String, String> {
        let params = challenge.and_then(bearer_params).ok_or_else(|| {
            format!(
                "{url} asks for credentials{}; clawbake pulls anonymously",
                challenge.map(|c| format!(" (`{c}`)")).unwrap_or_default()
            )
        })?;
        let realm = params
            .get("realm")
            .ok_or_else(|| format!("{url} asks for a token but names no realm"))?;
        let mut realm = checked_url(realm).map_err(|e| format!("the token realm of {url}: {e}"))?;
        {
            let mut query = realm.query_pairs_mut();
            if let Some(service) = params.get("service") {
                query.append_pair("service", service);
            }
            let scope = params
                .get("scope")
                .cloned()
                .unwrap_or_else(|| format!("repository:{}:pull", loc.repository));
            query.append_pair("scope", &scope);
        }
        let realm = realm.to_string();
        let response = self
            .http
            .get(&realm)
            .send()
            .await
            .map_err(|e| describe(&e, &realm, self.options.timeout))?;
        let response = check_status(response, &realm).await?;
        let json: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("the token from {realm} is not JSON ({e})"))?;
        json["token"]
            .as_str()
            .or_else(|| json["access_token"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("{realm} answered without a token"))
    }
}

enum Failed {
    Io(Error),
    Net(String),
}

/// The HTTP client every fetch uses: rustls, bounded waits, no cookies.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .user_agent(concat!("clawbake/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Network {
            action: "setting up the HTTP client".to_owned(),
            detail: e.to_string(),
            help: None,
        })
}

/// The help of a failed blob download: what arrived is kept for next time.
pub const DOWNLOAD_HELP: &str = "run the command again when the registry answers: verified blobs are cached and a cut download resumes where it stopped; no lock file was changed";

/// A network failure, with the help every one of them shares.
pub fn network(action: String, detail: String) -> Error {
    Error::Network {
        action,
        detail,
        help: Some(
            "check the network, the name and the URL, then run the command again; no lock file was changed"
                .to_owned(),
        ),
    }
}

/// An error status as a message, with the registry's own error code if it
/// sent one (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":..}]}`).
pub async fn check_status(
    response: reqwest::Response,
    url: &str,
) -> Result<reqwest::Response, String> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let mut detail = format!("{url} answered {status}");
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(&body) {
        if let Some(first) = json["errors"].as_array().and_then(|e| e.first()) {
            let code = first["code"].as_str().unwrap_or("");
            let message = first["message"].as_str().unwrap_or("");
            let _ = write!(detail, " ({code}: {message})");
        }
    }
    Err(detail)
}

/// A reqwest error in a few plain words.
pub fn describe(e: &reqwest::Error, url: &str, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("{url} did not answer within {}", seconds(timeout));
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_connect() {
        return format!("could not connect to {url} ({cause})");
    }
    format!("fetching {url} failed ({cause})")
}

fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The parameters of a `Bearer` challenge, or `None` for another scheme.
fn bearer_params(challenge: &str) -> Option<HashMap<String, String>> {
    let rest = challenge.trim();
    let (scheme, rest) = rest.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            match after.find(',') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            }
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_owned());
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Some(params)
}

/// The digest of the linux/amd64 entry of an index.
fn amd64_of(index: &Manifest) -> Result<String, String> {
    let json = index.json()?;
    let entries = json["manifests"].as_array().cloned().unwrap_or_default();
    let mut platforms = Vec::new();
    for entry in &entries {
        let os = entry["platform"]["os"].as_str().unwrap_or("?");
        let arch = entry["platform"]["architecture"].as_str().unwrap_or("?");
        if os == "linux" && arch == "amd64" {
            if let Some(d) = entry["digest"].as_str().filter(|d| is_digest(d)) {
                return Ok(d.to_owned());
            }
        }
        platforms.push(format!("{os}/{arch}"));
    }
    Err(format!(
        "the index has no linux/amd64 image (it has: {})",
        if platforms.is_empty() {
            "nothing".to_owned()
        } else {
            platforms.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn names_map_to_registries_and_repositories() {
        let none = BTreeMap::new();
        let cases = [
            (
                "caddy:2",
                "docker.io",
                "library/caddy",
                "https://registry-1.docker.io/",
            ),
            (
                "tecnativa/docker-socket-proxy:0.4.1",
                "docker.io",
                "tecnativa/docker-socket-proxy",
                "https://registry-1.docker.io/",
            ),
            (
                "docker.io/library/alpine:3",
                "docker.io",
                "library/alpine",
                "https://registry-1.docker.io/",
            ),
            (
                "ghcr.io/openclaw/openclaw:1",
                "ghcr.io",
                "openclaw/openclaw",
                "https://ghcr.io/",
            ),
            (
                "localhost:5000/a/b:1",
                "localhost:5000",
                "a/b",
                "https://localhost:5000/",
            ),
        ];
        for (name, registry, repository, base) in cases {
            let loc = locate(&image(name), &none);
            assert_eq!(
                (
                    loc.registry.as_str(),
                    loc.repository.as_str(),
                    loc.base.as_str()
                ),
                (registry, repository, base),
                "{name}"
            );
        }
        let mirrors =
            BTreeMap::from([parse_mirror("registry-1.docker.io=http://127.0.0.1:5000").unwrap()]);
        let loc = locate(&image("caddy:2"), &mirrors);
        assert_eq!(
            loc.url("manifests", "2"),
            "http://127.0.0.1:5000/v2/library/caddy/manifests/2"
        );
        assert_eq!(loc.full_name("2"), "docker.io/library/caddy:2");
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        assert!(checked_url("http://127.0.0.1:1/").is_ok());
        assert!(checked_url("http://[::1]:1/").is_ok());
        assert!(checked_url("http://localhost/").is_ok());
        assert!(checked_url("https://mirror.example.com/").is_ok());
        assert_eq!(
            checked_url("http://10.0.0.1:5000").unwrap_err(),
            "plain `http://` is only allowed for loopback addresses; use `https://` for `10.0.0.1`"
        );
        assert!(checked_url("ftp://x/").is_err());
    }

    #[test]
    fn bearer_challenges_parse() {
        let p = bearer_params(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:library/caddy:pull""#,
        )
        .unwrap();
        assert_eq!(p["realm"], "https://auth.example.com/token");
        assert_eq!(p["service"], "registry.example.com");
        assert_eq!(p["scope"], "repository:library/caddy:pull");
        assert!(bearer_params(r#"Basic realm="x""#).is_none());
        let p = bearer_params("Bearer realm=https://a/t, service=s").unwrap();
        assert_eq!(p["service"], "s");
    }

    #[test]
    fn index_resolves_to_amd64() {
        let amd = format!("sha256:{}", "a".repeat(64));
        let arm = format!("sha256:{}", "b".repeat(64));
        let json = serde_json::json!({"mediaType": OCI_INDEX, "manifests": [
            {"digest": arm, "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": amd, "platform": {"os": "linux", "architecture": "amd64"}},
        ]});
        let m = Manifest {
            digest: String::new(),
            media_type: OCI_INDEX.into(),
            bytes: serde_json::to_vec(&json).unwrap(),
        };
        assert_eq!(amd64_of(&m).unwrap(), amd);
        let json = serde_json::json!({"manifests": [{"digest": arm, "platform": {"os": "linux", "architecture": "arm64"}}]});
        let m = Manifest {
            digest: String::new(),
            media_type: OCI_INDEX.into(),
            bytes: serde_json::to_vec(&json).unwrap(),
        };
        assert_eq!(
            amd64_of(&m).unwrap_err(),
            "the index has no linux/amd64 image (it has: linux/arm64)"
        );
    }
}
