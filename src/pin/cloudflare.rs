//! `cloudflare.lock`: Cloudflare's published ranges, fetched and refused
//! when they would open the firewall wider than Cloudflare (empty, broad,
//! private, malformed), then written with the day they were fetched.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use reqwest::Url;

use super::files::{CLOUDFLARE_LOCK, today, write_atomic};
use super::registry;
use crate::config::locks::CloudflareLock;
use crate::config::tree::toml_string;
use crate::error::Error;

/// Cloudflare's published ranges.
pub const CLOUDFLARE_URL: &str = "https://api.cloudflare.com/client/v4/ips";

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

#[cfg(test)]
mod tests {
    use super::*;
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
