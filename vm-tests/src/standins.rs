//! Stand-in container images: the guest reaches no registry, so every image
//! the stack names is replaced (by `vm-tests/layers/standins.toml`) with one
//! built here from Debian 13 packages. They are real servers where the
//! tests depend on them (Squid runs the generated `squid.conf`, `HAProxy`
//! runs the release's Docker policy) and small scripts where
//! only a health endpoint and token auth matter (gateway, LiteLLM, Caddy).
//!
//! All share one root filesystem, so the archive holds one layer and the
//! guest unpacks it once; each image differs only in its config.

use std::path::{Path, PathBuf};
use std::process::Command;

use clawbake::pin::imageset::{self, RuntimeConfig};

use crate::cache::{Cache, Key};
use crate::error::{Context, Result};
use crate::{bail, say};

/// Where the stand-ins' build script and programs are.
pub fn sources(repo: &Path) -> PathBuf {
    repo.join("vm-tests/images")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Each stand-in: its tag and how it runs, matching how the compose file
/// uses the image it replaces (ports, paths, command, user).
pub fn images() -> Vec<(&'static str, RuntimeConfig)> {
    let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned();
    let plain = |cmd: &[&str]| RuntimeConfig {
        cmd: strings(cmd),
        env: vec![path.clone()],
        ..RuntimeConfig::default()
    };
    vec![
        (
            "clawbake-test/squid:6",
            plain(&["/usr/local/bin/standin-squid"]),
        ),
        (
            // Debian's HAProxy 3.0 with Lua: the compose file gives the
            // entrypoint, and the release's config and Docker policy, as
            // it does for the official image on a real host.
            "clawbake-test/socket-proxy:1",
            plain(&["haproxy", "-v"]),
        ),
        (
            // OpenClaw's image runs as `node` (uid 1000) with its home at
            // /home/node.
            "clawbake-test/gateway:1",
            RuntimeConfig {
                cmd: strings(&["node", "/usr/local/bin/standin-gateway"]),
                env: vec![path.clone(), "HOME=/home/node".to_owned()],
                user: "1000:1000".to_owned(),
                working_dir: "/home/node".to_owned(),
                ..RuntimeConfig::default()
            },
        ),
        (
            // The same gateway as a newer OpenClaw release: it answers
            // `/healthz` and `/readyz` without auth, as 2026.9.6 does, and
            // the one above does not. The rebuild scenario upgrades to it.
            "clawbake-test/gateway:2",
            RuntimeConfig {
                cmd: strings(&["node", "/usr/local/bin/standin-gateway"]),
                env: vec![
                    path.clone(),
                    "HOME=/home/node".to_owned(),
                    "STANDIN_OPENCLAW_RELEASE=2026.9.6".to_owned(),
                ],
                user: "1000:1000".to_owned(),
                working_dir: "/home/node".to_owned(),
                ..RuntimeConfig::default()
            },
        ),
        (
            // Compose passes LiteLLM's arguments as the command.
            "clawbake-test/litellm:1",
            RuntimeConfig {
                entrypoint: strings(&["/usr/local/bin/standin-litellm"]),
                cmd: strings(&["--port", "4000"]),
                env: vec![path.clone()],
                ..RuntimeConfig::default()
            },
        ),
        (
            "clawbake-test/caddy:2",
            plain(&["/usr/local/bin/standin-caddy"]),
        ),
        (
            // A sandbox: what the harness's lifecycle probe creates, as
            // OpenClaw's user, through the Docker policy.
            "clawbake-test/sandbox:1",
            RuntimeConfig {
                cmd: strings(&["sleep", "infinity"]),
                env: vec![path.clone()],
                user: "1000:1000".to_owned(),
                ..RuntimeConfig::default()
            },
        ),
        (
            "clawbake-test/docker-cli:1",
            plain(&["/usr/local/bin/docker", "version"]),
        ),
    ]
}

/// The stand-in archive, from the cache or built now.
pub fn archive(cache: &Cache, repo: &Path) -> Result<PathBuf> {
    let src = sources(repo);
    let mut key = Key::default()
        .file(&src.join("standins-rootfs.sh"))?
        .tree(&src.join("standins"))?;
    for (tag, config) in images() {
        key = key.text(tag).text(&format!("{config:?}"));
    }
    let (dir, built) = cache.entry("standins", &key.hex(), |dir| {
        say!("building the stand-in images (mmdebstrap, Debian 13)");
        let rootfs = dir.join("rootfs.tar");
        let status = Command::new("bash")
            .arg(src.join("standins-rootfs.sh"))
            .arg(&rootfs)
            .status()
            .context("running vm-tests/images/standins-rootfs.sh")?;
        if !status.success() {
            bail!("vm-tests/images/standins-rootfs.sh failed ({status})");
        }
        let images = images()
            .iter()
            .map(|(tag, config)| imageset::image_from_rootfs(tag, &rootfs, config))
            .collect::<std::io::Result<Vec<_>>>()
            .context("reading the stand-in root filesystem")?;
        imageset::write_archive(&dir.join("standins.tar"), &images)
            .context("writing the stand-in image archive")?;
        std::fs::remove_file(&rootfs).context("removing the stand-in root filesystem")?;
        Ok(())
    })?;
    if !built {
        say!("stand-in images: cached ({})", dir.display());
    }
    Ok(dir.join("standins.tar"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every image the test layer names is one the archive holds.
    #[test]
    fn the_test_layer_names_only_stand_ins_that_exist() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let layer = std::fs::read_to_string(repo.join("vm-tests/layers/standins.toml")).unwrap();
        let tags: Vec<&str> = images().iter().map(|(t, _)| *t).collect();
        let named: Vec<&str> = layer
            .lines()
            .filter_map(|l| l.split_once(" = "))
            .filter(|(k, _)| k.ends_with("image"))
            .map(|(_, v)| v.trim_matches('"'))
            .collect();
        assert_eq!(named.len(), 7, "{named:?}");
        for image in named {
            assert!(tags.contains(&image), "{image} has no stand-in");
        }
    }
}
