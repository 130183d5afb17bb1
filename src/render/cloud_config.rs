//! `user-data`: a `#cloud-config` document serialized from a typed value.
//!
//! It carries the release tree in `write_files` (gzip+base64 where that is
//! smaller) and runs one strict apply script. No secret is in it: providers
//! keep user-data in their panel and serve it to the VM's metadata service.

use std::io::Write as _;

use base64::Engine as _;
use flate2::{Compression, GzBuilder};
use serde::Serialize;

use crate::bundle::Tree;
use crate::model::{Site, SshKey};

#[derive(Serialize)]
struct CloudConfig<'a> {
    hostname: &'a str,
    /// Keys go to root: provisioning and `clawbake` itself log in as root,
    /// by key only (sshd refuses passwords and keyboard-interactive).
    disable_root: bool,
    ssh_pwauth: bool,
    ssh_authorized_keys: Vec<&'a str>,
    write_files: Vec<WriteFile>,
    runcmd: Vec<Vec<String>>,
}

#[derive(Serialize)]
struct WriteFile {
    path: String,
    owner: &'static str,
    permissions: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    content: String,
}

/// The user-data text for a release directory on the host.
pub fn render(
    site: &Site,
    tree: &Tree,
    release_dir: &str,
    manifest_json: &str,
    build_id: &str,
) -> String {
    let mut write_files: Vec<WriteFile> = tree
        .files()
        .map(|(path, file)| write_file(format!("{release_dir}/{path}"), file.mode, &file.content))
        .collect();
    write_files.push(write_file(
        format!("{release_dir}/manifest.json"),
        0o644,
        manifest_json.as_bytes(),
    ));
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
        write_files,
        runcmd: vec![vec![format!("{release_dir}/apply.sh")]],
    };
    let yaml = serde_norway::to_string(&config).expect("cloud-config serializes");
    format!(
        "#cloud-config\n# clawbake build {build_id} for {}: paste as the server's user data.\n# Applies on first boot; the log is /var/log/clawbake/apply.log.\n{yaml}",
        site.site.domain
    )
}

fn write_file(path: String, mode: u32, content: &[u8]) -> WriteFile {
    let gz = gzip(content);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&gz);
    let text = std::str::from_utf8(content).ok();
    let (encoding, content) = match text {
        Some(t) if t.len() <= b64.len() => (None, t.to_owned()),
        _ => (Some("gz+b64"), b64),
    };
    WriteFile {
        path,
        owner: "root:root",
        permissions: format!("{mode:04o}"),
        encoding,
        content,
    }
}

/// gzip with no timestamp or name, so the same input gives the same bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    encoder
        .write_all(data)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// `meta-data` for a NoCloud seed; providers ignore it.
pub fn meta_data(site: &Site, build_id: &str) -> String {
    format!(
        "instance-id: clawbake-{}\nlocal-hostname: {}\n",
        &build_id[..16],
        site.site.name
    )
}
