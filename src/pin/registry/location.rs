//! Where an image is fetched from: its registry and repository, Docker
//! Hub's spellings made one, and the mirrors a user may put in front of a
//! registry (https, or plain http to this machine only).

use std::collections::BTreeMap;

use reqwest::Url;

use crate::error::Error;
use crate::model::ImageRef;

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

    pub(super) fn url(&self, kind: &str, reference: &str) -> String {
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
}
