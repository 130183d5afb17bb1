//! The HTTP side every fetch shares: one client (rustls, bounded waits),
//! errors in plain words with the registry's own error code, and the
//! bearer-token challenge read from `WWW-Authenticate`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::error::Error;

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

pub(super) fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

pub(super) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The parameters of a `Bearer` challenge, or `None` for another scheme.
pub(super) fn bearer_params(challenge: &str) -> Option<HashMap<String, String>> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
