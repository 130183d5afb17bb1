//! `user-data`: a `#cloud-config` document serialized from a typed value.
//!
//! It carries the release as one archive in `write_files`: the tar that
//! `provision` uploads (the tree and its manifest, modes and owners in its
//! headers), gzipped by Zopfli, which cloud-init's own `gz+b64` decoding
//! reads, so the host needs no unpacker but `tar`. One `runcmd` checks the
//! tar against the sha256 it was built with, unpacks it and runs the apply
//! script; a cut or changed archive stops there, before any step. No
//! secret is in it: providers keep user-data in their panel and serve it
//! to the VM's metadata service.

use std::num::NonZeroU64;

use base64::Engine as _;
use serde::Serialize;

use crate::bundle::{Tree, archive, sha256_hex};
use crate::model::{Site, SshKey};

#[derive(Serialize)]
struct CloudConfig<'a> {
    hostname: &'a str,
    /// Keys go to root: provisioning and `clawbake` itself log in as root,
    /// by key only (sshd refuses passwords and keyboard-interactive).
    disable_root: bool,
    ssh_pwauth: bool,
    ssh_authorized_keys: Vec<&'a str>,
    /// Before the archive in the text, so that a paste box that cut the
    /// archive short still runs it, and its refusal reaches the log.
    runcmd: Vec<Vec<String>>,
    write_files: Vec<WriteFile>,
}

#[derive(Serialize)]
struct WriteFile {
    path: String,
    owner: &'static str,
    permissions: &'static str,
    encoding: &'static str,
    content: String,
}

/// The first boot's one command, run by `sh` with the release directory
/// as `$1` and the tar's sha256 as `$2`: check, unpack beside, rename in
/// (over a release directory already there, as provision does), apply.
/// The archive stays until the apply succeeds, so a second run applies
/// again rather than calling it missing. Every refusal goes to the apply
/// log, where a user looks.
const UNPACK: &str = "set -eu; d=$1; log=/var/log/clawbake/apply.log; install -d -m 0700 /var/log/clawbake; \
fail() { echo \"clawbake: $*; nothing was applied\" | tee -a \"$log\" >&2; exit 1; }; \
[ -e \"$d.tar\" ] || fail \"$d.tar is missing: cloud-init could not decode it (a paste cut short?), or it was applied and removed\"; \
printf '%s  %s\\n' \"$2\" \"$d.tar\" | sha256sum --check --status || fail \"$d.tar is not the release this user-data was built with (cut or changed?)\"; \
{ rm -rf \"$d.new\" && install -d -m 0755 \"$d.new\" && tar -xf \"$d.tar\" -C \"$d.new\" && rm -rf \"$d\" && mv \"$d.new\" \"$d\"; } || fail \"unpacking $d.tar failed\"; \
\"$d/apply.sh\" && rm -f \"$d.tar\"";

/// The user-data text for a release directory on the host.
pub fn render(
    site: &Site,
    tree: &Tree,
    release_dir: &str,
    manifest_json: &str,
    build_id: &str,
) -> String {
    let tar = archive::release_tar(tree, manifest_json);
    let sum = sha256_hex(&tar);
    let config = CloudConfig {
        hostname: site.site.name.as_str(),
        disable_root: false,
        ssh_pwauth: false,
        ssh_authorized_keys: site
            .ssh
            .authorized_keys
            .iter()
            .map(SshKey::as_str)
            .collect(),
        write_files: vec![WriteFile {
            path: format!("{release_dir}.tar"),
            owner: "root:root",
            permissions: "0600",
            encoding: "gz+b64",
            content: base64::engine::general_purpose::STANDARD.encode(zopfli_gzip(&tar)),
        }],
        runcmd: vec![vec![
            "sh".to_owned(),
            "-c".to_owned(),
            UNPACK.to_owned(),
            "clawbake-unpack".to_owned(),
            release_dir.to_owned(),
            sum,
        ]],
    };
    let yaml = serde_norway::to_string(&config).expect("cloud-config serializes");
    format!(
        "#cloud-config\n# clawbake build {build_id} for {}: paste as the server's user data.\n# Applies on first boot; the log is /var/log/clawbake/apply.log.\n# The release is one tar (gzip, base64), checked by its sha256 before it runs.\n{yaml}",
        site.site.domain
    )
}

/// gzip as Zopfli writes it: what `gzip -d` and cloud-init read, about a
/// tenth smaller than zlib's best. Deterministic: no name, mtime 0.
fn zopfli_gzip(data: &[u8]) -> Vec<u8> {
    let options = zopfli::Options {
        iteration_count: NonZeroU64::new(ZOPFLI_ITERATIONS).expect("not zero"),
        ..zopfli::Options::default()
    };
    let mut out = Vec::new();
    zopfli::compress(options, zopfli::Format::Gzip, data, &mut out).expect("writing to memory");
    out
}

/// Zopfli's passes: past a few, a pass saves bytes, not tens of them.
const ZOPFLI_ITERATIONS: u64 = 1;

/// `meta-data` for a NoCloud seed; providers ignore it.
pub fn meta_data(site: &Site, build_id: &str) -> String {
    format!(
        "instance-id: clawbake-{}\nlocal-hostname: {}\n",
        &build_id[..16],
        site.site.name
    )
}
