//! Restore: a backup copied off a host (`clawbake backup --to DIR`) put
//! back onto a host that runs a release of the same site, the same one or
//! a fresh one built from any bundle of it. Each check that can refuse
//! comes before anything on the host changes: the copy against its names
//! here, then on the host (in a staging directory) the password, restic's
//! own check, the site the backup was taken of, and a full restore to the
//! side. Only then is the gateway stopped and the state swapped in; if the
//! stack does not come up healthy with it, the state from before goes back.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::backup::{self, Progress};
use super::remote::{CURRENT, Host};
use crate::error::{Error, code};
use crate::host::transport::ssh::shell_quote;
use crate::render::shared::{CONTAINER, STATE_DIR, compose_up};

const STAGING: &str = "/var/lib/clawbake/restore";

/// A copy pulled off a host: its repository, checked file by file.
#[derive(Debug)]
pub struct Copy {
    pub repository: PathBuf,
    pub files: Vec<(String, PathBuf)>,
    pub bytes: u64,
}

fn damaged(message: String, help: &str) -> Error {
    Error::Host {
        code: code::BACKUP_DAMAGED,
        message,
        detail: String::new(),
        help: Some(help.to_owned()),
    }
}

/// Read the copy at `dir` (the `--to` directory, or its `restic/`) and
/// check every file against its name, before anything connects.
pub fn check_copy(dir: &Path) -> Result<Copy, Error> {
    let repository = if dir.join("restic/config").is_file() {
        dir.join("restic")
    } else {
        dir.to_path_buf()
    };
    if !repository.join("config").is_file() {
        return Err(Error::Message {
            message: format!("{} holds no backup copy", dir.display()),
            help: Some(
                "give the directory `clawbake backup --to DIR` wrote (it holds `restic/config`)"
                    .into(),
            ),
        });
    }
    let mut files = Vec::new();
    let mut bytes = 0;
    let mut stack = vec![repository.clone()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::Message {
            message: format!("reading {}: {e}", d.display()),
            help: None,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&repository)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            if rel.starts_with("locks/")
                || rel.rsplit('/').next().is_some_and(|n| n.starts_with('.'))
            {
                continue;
            }
            let content = std::fs::read(&path).map_err(|e| Error::Message {
                message: format!("reading {}: {e}", path.display()),
                help: None,
            })?;
            match backup::repository_file(&rel) {
                Some(true) => {
                    let sum = format!("{:x}", Sha256::digest(&content));
                    if rel.rsplit('/').next() != Some(sum.as_str()) {
                        return Err(damaged(
                            format!(
                                "`{rel}` in the backup does not match its name: the copy was changed or damaged"
                            ),
                            "nothing on the host was changed; restore from another copy, or pull a fresh one with `clawbake backup --to`",
                        ));
                    }
                }
                Some(false) => {}
                None => {
                    return Err(damaged(
                        format!("the backup holds `{rel}`, which no restic repository has"),
                        "nothing on the host was changed; give the directory `clawbake backup --to` wrote",
                    ));
                }
            }
            bytes += content.len() as u64;
            files.push((rel, path));
        }
    }
    files.sort();
    Ok(Copy {
        repository,
        files,
        bytes,
    })
}

/// What a restore did.
#[derive(Debug, Default)]
pub struct Restored {
    pub snapshot: String,
    pub release: String,
    pub taken_at: String,
    pub kept: String,
}

/// The copy as one tar, for one checked upload.
fn archive(copy: &Copy) -> Result<tempfile::NamedTempFile, Error> {
    let io = |e: std::io::Error| Error::Message {
        message: format!("packing the backup for upload: {e}"),
        help: None,
    };
    let file = tempfile::NamedTempFile::new().map_err(io)?;
    let mut tar = tar::Builder::new(file.reopen().map_err(io)?);
    for (rel, path) in &copy.files {
        tar.append_path_with_name(path, rel).map_err(io)?;
    }
    tar.into_inner().map_err(io)?;
    Ok(file)
}

/// The copy as one tar to `upload` on the host, with a byte bar, and the
/// password to `key`, both 0600 in a private directory.
async fn send(
    host: &Host,
    copy: &Copy,
    (upload, key): (&str, &str),
    password: &[u8],
    progress: &dyn Progress,
) -> Result<(), Error> {
    let tar = archive(copy)?;
    let total = tar.as_file().metadata().map_or(0, |m| m.len());
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let sending =
        host.remote
            .upload_file_seen(upload.to_owned(), tar.path().to_path_buf(), 0o600, seen_tx);
    let watch = async {
        let mut done = 0;
        while let Some(n) = seen_rx.recv().await {
            done += n;
            progress.uploading(done, total);
        }
    };
    let (sent, ()) = tokio::join!(sending, watch);
    sent?;
    host.remote
        .upload(key.to_owned(), password.to_vec(), 0o600)
        .await?;
    Ok(())
}

/// Put `snapshot` (the newest when `None`) of `copy` onto `host`.
pub async fn restore(
    host: &Host,
    copy: &Copy,
    password: &[u8],
    snapshot: Option<&str>,
    health_timeout: u64,
    services: &[String],
    progress: &dyn Progress,
) -> Result<Restored, Error> {
    let state = super::remote::host_state(host).await?;
    let Some(current) = state.current else {
        return Err(Error::Host {
            code: code::NOT_CLAWBAKE_HOST,
            message: "the host runs no clawbake release to restore into".into(),
            detail: String::new(),
            help: Some(
                "provision it first (`clawbake provision`, or the site's `dist/user-data`), then restore".into(),
            ),
        });
    };

    let dir = host.private_tmp().await?;
    let upload = format!("{dir}/backup.tar");
    let key = format!("{dir}/password");
    let staged = match send(host, copy, (&upload, &key), password, progress).await {
        Ok(()) => {
            host.root_output(&stage_command(&upload, &key, snapshot))
                .await
        }
        Err(e) => Err(e),
    };
    // Sent or cut short, the upload's private directory goes.
    let _ = host
        .remote
        .output(format!("rm -rf -- {}", shell_quote(&dir)))
        .await;
    let staged = staged?;
    let field = |name: &str| {
        staged
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_default()
            .to_owned()
    };
    match field("refused").as_str() {
        "" => {}
        "site" => {
            return Err(Error::Host {
                code: code::BACKUP_OTHER_SITE,
                message: format!(
                    "the backup is of site `{}`; the host runs `{}`",
                    field("site"),
                    current.site
                ),
                detail: String::new(),
                help: Some(
                    "nothing on the host was changed; restore it onto a host of its own site"
                        .into(),
                ),
            });
        }
        "password" => {
            return Err(damaged(
                "the password does not open this backup".into(),
                "nothing on the host was changed; give the password file saved with this copy (`backup --password-file`)",
            ));
        }
        "snapshot" => {
            return Err(Error::Message {
                message: format!(
                    "the backup has no snapshot `{}`",
                    snapshot.unwrap_or("latest")
                ),
                help: Some("`restic -r DIR/restic snapshots` lists them".into()),
            });
        }
        why => {
            return Err(damaged(
                format!("restic could not read the backup back ({why})"),
                "nothing on the host was changed; restore from another copy",
            ));
        }
    }
    let swapped = host
        .root_output(&swap_command(health_timeout, services))
        .await
        .map_err(|e| swap_cut(e, &host.access.target.to_string()))?;
    let kept = swapped
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("kept="))
        .unwrap_or_default()
        .to_owned();
    if let Some(why) = swapped.lines().find_map(|l| l.strip_prefix("unhealthy=")) {
        return Err(Error::Host {
            code: code::FAILED,
            message: "the stack did not come up healthy with the restored state; the state from before is back".into(),
            detail: why.to_owned(),
            help: Some("the restored state is kept beside it for a look".into()),
        });
    }
    Ok(Restored {
        snapshot: field("snapshot"),
        release: field("release"),
        taken_at: field("taken_at"),
        kept,
    })
}

/// The swap's connection broke: the host finishes it on its own.
fn swap_cut(e: Error, target: &str) -> Error {
    match e {
        Error::Ssh { code, message, .. } => Error::Ssh {
            code,
            message: format!("{message} (while the state was being swapped in)"),
            help: Some(format!(
                "the host finishes the swap on its own, restored and started or put back as it was; \
                 `clawbake verify --host {target}` in a minute says which (the log: /var/log/clawbake/restore.log)"
            )),
        },
        other => other,
    }
}

/// Unpack the upload into the staging directory and read it back, or say
/// why not (`refused=...`); nothing outside staging changes.
fn stage_command(upload: &str, key: &str, snapshot: Option<&str>) -> String {
    let snap = shell_quote(snapshot.unwrap_or("latest"));
    let (upload, key) = (shell_quote(upload), shell_quote(key));
    format!(
        "set -eu; umask 077; exec 9>/run/clawbake-restore.lock; flock -n 9 || {{ echo 'another restore is running' >&2; exit 4; }}; \
         rm -rf {STAGING}; install -d -m 0700 {STAGING} {STAGING}/repo; \
         tar -xf {upload} -C {STAGING}/repo; install -m 0600 {key} {STAGING}/password; \
         export RESTIC_REPOSITORY={STAGING}/repo RESTIC_PASSWORD_FILE={STAGING}/password; \
         refuse() {{ echo \"refused=$1\"; rm -rf {STAGING}; exit 0; }}; \
         restic --no-cache cat config >/dev/null 2>&1 || refuse password; \
         restic --no-cache check >/dev/null 2>&1 || refuse check; \
         id=$(restic --no-cache snapshots --json {snap} 2>/dev/null | jq -r '.[0].id // empty') || true; \
         [ -n \"$id\" ] || refuse snapshot; \
         restic --no-cache dump \"$id\" /var/lib/clawbake/backup/backup.json > {STAGING}/backup.json 2>/dev/null || refuse manifest; \
         site=$(jq -r .site {STAGING}/backup.json); \
         if [ \"$site\" != \"$(jq -r .site {CURRENT}/manifest.json)\" ]; then echo \"site=$site\"; refuse site; fi; \
         restic --no-cache restore \"$id\" --target {STAGING}/tree >/dev/null 2>&1 || refuse restore; \
         [ -d {STAGING}/tree{STATE_DIR} ] || refuse state; \
         echo \"snapshot=$id\"; echo \"release=$(jq -r .release {STAGING}/backup.json)\"; \
         echo \"taken_at=$(jq -r .taken_at {STAGING}/backup.json)\""
    )
}

/// Stop the gateway (the one service that holds the state), swap the state
/// and the secrets in (keeping the host's own backup key and what came
/// before), and recreate the gateway and every service that reads a
/// secret (`services`), so each starts with the restored ones; the others
/// (Squid, Caddy, the socket proxy) hold neither and keep running. If they
/// are not healthy, put back what came before.
/// A cut connection changes nothing: hangups and broken pipes are ignored
/// and a line that cannot be written back is dropped, so the swap always
/// runs to its end, restored and started or put back.
fn swap_command(health_timeout: u64, services: &[String]) -> String {
    let compose = format!("docker compose -f {CURRENT}/stack/compose.yaml");
    let mut recreate: Vec<String> = vec![CONTAINER.to_owned()];
    recreate.extend(services.iter().cloned());
    recreate.sort();
    recreate.dedup();
    let up = compose_up(&recreate, Some(health_timeout));
    let secrets = super::secrets::DIR;
    format!(
        "set -eu; umask 077; trap '' HUP PIPE; say() {{ printf '%s\\n' \"$1\" 2>/dev/null || true; }}; \
         exec 9>/run/clawbake-restore.lock; flock -n 9; \
         exec 8>/run/clawbake-backup.lock; flock 8; \
         log=/var/log/clawbake/restore.log; mkdir -p /var/log/clawbake; \
         kept={STATE_DIR}.before-restore-$(date -u +%Y%m%dT%H%M%SZ); \
         cp -a {secrets} \"$kept.secrets\"; \
         {compose} stop {CONTAINER} >>\"$log\" 2>&1; \
         mv {STATE_DIR} \"$kept\"; mv {STAGING}/tree{STATE_DIR} {STATE_DIR}; \
         for f in {STAGING}/tree{secrets}/*; do n=$(basename \"$f\"); \
           if [ -f \"$f\" ] && [ \"$n\" != BACKUP_KEY ]; then install -m 0600 \"$f\" {secrets}/\"$n\"; fi; done; \
         say \"kept=$kept\"; \
         if /usr/local/sbin/clawbake-env {CURRENT} >>\"$log\" 2>&1 && {up} >>\"$log\" 2>&1; then \
           rm -rf {STAGING}; \
         else \
           {compose} stop {CONTAINER} >>\"$log\" 2>&1 || true; \
           mv {STATE_DIR} \"$kept.restored\"; mv \"$kept\" {STATE_DIR}; \
           rm -rf {secrets}; mv \"$kept.secrets\" {secrets}; \
           /usr/local/sbin/clawbake-env {CURRENT} >>\"$log\" 2>&1 || true; \
           {up} >>\"$log\" 2>&1 || true; rm -rf {STAGING}; \
           say \"unhealthy=$(tail -n 5 \"$log\" | tr '\\n' ' ')\"; say \"kept=$kept.restored\"; \
         fi"
    )
}
