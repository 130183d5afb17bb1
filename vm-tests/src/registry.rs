//! The image path from a registry into the guest's Docker. The stand-ins
//! are preloaded into the base image, so this proves the other way in: a
//! real registry (Debian's `docker-registry` on 127.0.0.1) holds a small
//! image the harness made, `clawbake pin images` and `clawbake images save`
//! fetch it through the registry API into an image-set archive, and the
//! guest's `docker load` must take that archive and know the image by its
//! config digest.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use clawbake::host::transport::ssh::Connection;
use clawbake::pin::imageset::{self, RuntimeConfig};
use clawbake_test_support::Registry;

use crate::error::{Context, Error, Result};
use crate::{bail, site};

/// The image's name in the site; the registry stands in for docker.io.
pub const IMAGE: &str = "clawbake-test/registry-probe:1";

/// Every image reference the test site names, pointed at [`IMAGE`], so that
/// `pin images` and `images save` need nothing but the local registry.
const SITE_IMAGES: &str = "
[stack.sandbox]
docker_cli_image = \"clawbake-test/registry-probe:1\"
image = \"clawbake-test/registry-probe:1\"
[stack.services.gateway]
image = \"clawbake-test/registry-probe:1\"
[stack.services.litellm]
image = \"clawbake-test/registry-probe:1\"
[stack.services.socket_proxy]
image = \"clawbake-test/registry-probe:1\"
[stack.services.egress]
image = \"clawbake-test/registry-probe:1\"
[stack.services.caddy]
image = \"clawbake-test/registry-probe:1\"
";

fn tool(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error(format!(
                "`{name}` is not installed: `apt-get install docker-registry skopeo` (the registry check needs both)"
            ))
        })
}

fn start_registry(dir: &Path) -> Result<Registry> {
    let bin = tool("docker-registry")?;
    Registry::start(&bin, dir).context("starting docker-registry")
}

fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().context(format_args!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A one-file image, pushed to the registry with skopeo (a client that is
/// not clawbake). Returns its config digest.
fn push(dir: &Path, registry: &Registry) -> Result<String> {
    let root = dir.join("rootfs");
    fs::create_dir_all(&root).context("creating the probe image's root")?;
    fs::write(root.join("registry-probe"), "clawbake vm-test\n")
        .context("writing the probe image's file")?;
    let rootfs = dir.join("rootfs.tar");
    run(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&rootfs)
            .arg("."),
        "tar",
    )?;
    let image = imageset::image_from_rootfs(IMAGE, &rootfs, &RuntimeConfig::default())
        .context("making the probe image")?;
    let archive = dir.join("pushed.tar");
    imageset::write_archive(&archive, std::slice::from_ref(&image))
        .context("writing the probe image")?;
    run(
        Command::new(tool("skopeo")?)
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://127.0.0.1:{}/{IMAGE}", registry.port)),
        "skopeo copy to the local registry",
    )?;
    Ok(image.config.digest)
}

/// Push, pin and save on this machine, then load in the guest over `conn`.
/// Returns what the guest's Docker calls the image, checked against its
/// config digest.
pub fn load_in_guest(
    clawbake: &Path,
    repo: &Path,
    dir: &Path,
    key: &Path,
    conn: &Connection,
) -> Result<String> {
    fs::create_dir_all(dir).context("creating the registry check's directory")?;
    let registry = start_registry(dir)?;
    let config = push(dir, &registry)?;
    let site = site::write(repo, dir, key, |t| format!("{t}\n{SITE_IMAGES}"))?;
    let mirror = format!("docker.io=http://127.0.0.1:{}", registry.port);
    for command in [["pin", "images"], ["images", "save"]] {
        run(
            Command::new(clawbake)
                .args(command)
                .arg("--registry-mirror")
                .arg(&mirror)
                .arg(&site)
                .env("CLAWBAKE_CACHE_DIR", dir.join("blobs")),
            &format!("clawbake {}", command.join(" ")),
        )?;
    }
    drop(registry);
    let saved = site.with_file_name("images.tar");
    let bytes = fs::read(&saved).context(format_args!("reading {}", saved.display()))?;
    let remote = "/root/clawbake-vm-test/registry-probe.tar";
    conn.output("install -d -m 0700 /root/clawbake-vm-test")
        .context("creating the archive's directory")?;
    conn.upload(remote, &bytes, 0o600, &mut |_| {})
        .context("uploading the saved archive")?;
    let loaded = conn
        .output(&format!(
            "docker load --input {remote} && docker image inspect --format '{{{{.Id}}}}' {IMAGE}"
        ))
        .map_err(|e| Error(format!("docker load in the guest: {e}")))?;
    let _ = conn.output(&format!("docker image rm {IMAGE}; rm -f {remote}"));
    let id = loaded.lines().last().unwrap_or_default().trim().to_owned();
    // Docker's own image store names an image by its config digest; the
    // containerd store by its manifest's, which `pin images` wrote.
    let lock =
        fs::read_to_string(site.with_file_name("images.lock")).context("reading images.lock")?;
    if id == config || (!id.is_empty() && lock.contains(&id)) {
        Ok(format!("{} bytes, loaded as {id}", bytes.len()))
    } else {
        bail!(
            "docker load printed:\n{loaded}\nwant the image {config} (or its manifest, in images.lock)"
        )
    }
}
