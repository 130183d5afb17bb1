//! A client for the registry HTTP API v2 (Docker Hub, ghcr.io, any
//! distribution registry): a tag resolved to its linux/amd64 manifest
//! digest, manifests and blobs fetched and each checked against its digest.
//!
//! Authentication is the anonymous bearer-token flow: a registry that
//! answers 401 names, in `WWW-Authenticate: Bearer realm=..,service=..,
//! scope=..`, where to get a pull token; nothing here knows any registry's
//! token server by name. Async on reqwest (rustls); nothing here prints,
//! progress goes through [`Progress`].
//!
//! [`location`] says where an image lives, [`manifest`] what a manifest
//! holds, [`http`] how every request is made and its failures told.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RANGE, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};
use sha2::{Digest as _, Sha256};

use crate::error::Error;
use crate::model::ImageRef;

pub mod http;
pub mod location;
pub mod manifest;

pub use http::{DOWNLOAD_HELP, check_status, describe, http_client, network};
use http::{bearer_params, header};
pub use location::{Location, checked_url, locate, parse_mirror};
use manifest::amd64_of;
pub use manifest::{
    DOCKER_LIST, DOCKER_MANIFEST, Descriptor, Manifest, OCI_INDEX, OCI_MANIFEST, sha256_digest,
};

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
            if crate::pin::imageset::sha256_file(&done).map_err(io("reading", &done))?
                == blob.digest
            {
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
