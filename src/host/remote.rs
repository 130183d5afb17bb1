//! The host as every command on it sees it: how to reach it, one
//! connection that knows whether to use `sudo`, where clawbake keeps its
//! releases and state there, and what the current release looks like now.
//! `apply`, `verify` and `secrets` all work through a [`Host`].

use std::collections::BTreeMap;

use super::plan::HostState;
use super::preflight::Facts;
use super::transport::ssh::{Options, SshError, shell_quote};
use super::transport::target::Target;
use super::transport::worker::Remote;
use crate::bundle::Manifest;
use crate::error::{Error, code};

/// How to reach the host.
#[derive(Clone, Debug)]
pub struct Access {
    pub target: Target,
    pub options: Options,
}

/// A connection plus what every command on it needs: `sudo` or not.
pub struct Host {
    pub remote: Remote,
    pub access: Access,
    pub facts: Facts,
}

/// The release `current` points to.
pub const CURRENT: &str = "/opt/clawbake/current";
/// What the host applied last, and when: written at the end of every run.
pub const STATE: &str = "/var/lib/clawbake/state.json";

impl Host {
    pub async fn connect(access: &Access, ssh_port: u16) -> Result<Host, Error> {
        let remote = Remote::open(&access.target, &access.options)
            .await
            .map_err(|e| hint_port(e, &access.target, ssh_port))?;
        let facts = remote.call(Facts::gather).await.map_err(Error::from)?;
        Ok(Host {
            remote,
            access: access.clone(),
            facts,
        })
    }

    /// `command` as root: through `sudo -n` when the user is not root.
    pub fn as_root(&self, command: &str) -> String {
        if self.facts.root {
            command.to_owned()
        } else {
            format!("sudo -n sh -c {}", shell_quote(command))
        }
    }

    pub async fn root_output(&self, command: &str) -> Result<String, Error> {
        self.remote
            .output(self.as_root(command))
            .await
            .map_err(Error::from)
    }

    /// A directory only the login user can read, for uploads on their way
    /// to a root-owned place (SFTP writes as the login user).
    pub async fn private_tmp(&self) -> Result<String, Error> {
        let dir = self
            .remote
            .output("umask 077 && mktemp -d /tmp/clawbake.XXXXXXXX".into())
            .await?;
        Ok(dir.trim().to_owned())
    }

    /// Write `bytes` to `path` as root with `mode`: uploaded into a private
    /// temporary directory, checked, then installed in place.
    pub async fn install(&self, path: &str, bytes: Vec<u8>, mode: u32) -> Result<(), Error> {
        let dir = self.private_tmp().await?;
        let tmp = format!("{dir}/upload");
        let uploaded = self.remote.upload(tmp.clone(), bytes, 0o600).await;
        let installed = match uploaded {
            Ok(()) => {
                self.root_output(&format!(
                    "install -D -m {mode:o} -o root -g root {} {}",
                    shell_quote(&tmp),
                    shell_quote(path)
                ))
                .await
            }
            Err(e) => Err(Error::from(e)),
        };
        let _ = self
            .remote
            .output(format!("rm -rf -- {}", shell_quote(&dir)))
            .await;
        installed.map(drop)
    }
}

/// When the host is not answering on the port given but the site moves
/// sshd elsewhere, say which port to try.
fn hint_port(e: SshError, target: &Target, ssh_port: u16) -> Error {
    match &e {
        SshError::Unreachable { .. } | SshError::Timeout { .. } if target.port != ssh_port => {
            Error::Host {
                code: e.code(),
                message: e.to_string(),
                detail: String::new(),
                help: Some(format!(
                    "a provisioned host listens for SSH on port {ssh_port}: `--host {}@{}:{ssh_port}`",
                    target.user,
                    target.bracketed_host()
                )),
            }
        }
        _ => Error::from(e),
    }
}

/// The host's side of the plan: the current release's manifest and what
/// each of its files hashes to on the host now.
const NO_SHA256SUM: &str = "clawbake: no sha256sum";

pub async fn host_state(host: &Host) -> Result<HostState, Error> {
    let text = host
        .root_output(&format!(
            "if [ -f {CURRENT}/manifest.json ]; then cat {CURRENT}/manifest.json; fi"
        ))
        .await?;
    if text.trim().is_empty() {
        return Ok(HostState::default());
    }
    let current: Manifest = serde_json::from_str(&text).map_err(|e| Error::Host {
        code: code::DRIFT,
        message: format!("the host's {CURRENT}/manifest.json is not a clawbake manifest: {e}"),
        detail: String::new(),
        help: Some("the host was changed by hand; provision a fresh server".into()),
    })?;
    let paths: Vec<String> = current.files.iter().map(|f| on_host(&f.path)).collect();
    let quoted: Vec<String> = paths.iter().map(|p| shell_quote(p)).collect();
    // Missing files make sha256sum exit 1; the ones it could read are
    // still printed, and a missing one is drift like any other.
    let sums = host
        .root_output(&format!(
            "if command -v sha256sum >/dev/null; then sha256sum -- {} 2>/dev/null; true; else echo {NO_SHA256SUM}; fi",
            quoted.join(" ")
        ))
        .await?;
    // A probe that cannot run proves nothing: without it every file would
    // read as missing, which is drift the host does not have.
    if sums.trim() == NO_SHA256SUM {
        return Err(Error::Host {
            code: code::HOST_UNSUITABLE,
            message: format!(
                "{} cannot hash its files: `sha256sum` is missing, so whether they match the release is unknown",
                host.access.target
            ),
            detail: String::new(),
            help: Some("install coreutils on the host (`apt-get install coreutils`), then run the same command again".into()),
        });
    }
    let by_path: BTreeMap<&str, &str> = sums
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(sum, path)| (path, sum))
        .collect();
    let observed = current
        .files
        .iter()
        .zip(&paths)
        .filter_map(|(f, p)| {
            by_path
                .get(p.as_str())
                .map(|s| (f.path.clone(), (*s).to_owned()))
        })
        .collect();
    Ok(HostState {
        current: Some(current),
        observed,
    })
}

/// Where a release file lives on the host: host files at their installed
/// path, everything else in the current release.
pub fn on_host(path: &str) -> String {
    match path.strip_prefix("host/") {
        Some(rest) => format!("/{rest}"),
        None => format!("{CURRENT}/{path}"),
    }
}
