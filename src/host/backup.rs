//! Backups: restic on the host (the repository at
//! `/var/backups/clawbake/restic`, encrypted and authenticated with
//! `BACKUP_KEY`), taken by the host's own `clawbake-backup`, which the
//! nightly cron job also runs. From here: take one now with progress,
//! list them, have restic read every byte back, and pull the repository
//! off the host, each file checked against its name on the way (restic
//! names every file but `config` by the sha256 of its bytes).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use super::remote::Host;
use crate::error::{Error, code};

/// The repository on the host.
pub const REPOSITORY: &str = "/var/backups/clawbake/restic";
const PASSWORD_FILE: &str = "/opt/clawbake/secrets/BACKUP_KEY";

/// What a backup run reports as it goes.
pub trait Progress: Send + Sync {
    /// restic's estimate: bytes read of the total it has found so far.
    fn reading(&self, done: u64, total: u64);
    /// Bytes of the repository received, of `total`.
    fn pulling(&self, done: u64, total: u64);
    /// Bytes of a copy sent to the host for a restore, of `total`.
    fn uploading(&self, done: u64, total: u64);
}

/// A finished backup, as `clawbake-backup --json` reports it.
#[derive(Debug, Default)]
pub struct Taken {
    pub snapshot: String,
    pub bytes_read: u64,
    pub bytes_added: u64,
    pub paused_ms: u64,
    pub release: String,
    /// Each offsite repository's copy, in the order the release names them.
    pub offsite: Vec<OffsiteCopy>,
}

/// One offsite repository's copy of the new snapshot.
#[derive(Debug, Default)]
pub struct OffsiteCopy {
    pub name: String,
    /// Why it failed (restic's last line, which never holds a credential:
    /// none is in the location); `None` when copied.
    pub error: Option<String>,
    pub seconds: u64,
}

/// `clawbake-backup`'s exit when the snapshot is on the host and an
/// offsite copy failed.
const OFFSITE_FAILED: i32 = 3;

/// A restic command as root on the host, with the repository and key.
fn restic(args: &str) -> String {
    format!("RESTIC_REPOSITORY={REPOSITORY} RESTIC_PASSWORD_FILE={PASSWORD_FILE} restic {args}")
}

fn no_backups() -> Error {
    Error::Host {
        code: code::FAILED,
        message: "the host has no backup repository yet".into(),
        detail: String::new(),
        help: Some("take the first one: clawbake backup --host HOST".into()),
    }
}

/// Run the host's `clawbake-backup --json`, reporting restic's progress;
/// with `offsite` false, the copies to the offsite repositories are left to
/// the nightly run (a migration's last backup goes through this machine).
pub async fn take(host: &Host, progress: &dyn Progress, offsite: bool) -> Result<Taken, Error> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let command = host.as_root(if offsite {
        "/usr/local/sbin/clawbake-backup --json 2>&1"
    } else {
        "/usr/local/sbin/clawbake-backup --json --no-offsite 2>&1"
    });
    let run = host.remote.stream(command, tx);
    let mut taken = Taken::default();
    let mut other = Vec::new();
    let mut pending = Vec::new();
    let read = async {
        while let Some(chunk) = rx.recv().await {
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line).trim().to_owned();
                if !read_line(&line, &mut taken, progress) && !line.is_empty() {
                    other.push(line);
                }
            }
        }
    };
    let (code, ()) = tokio::join!(run, read);
    let code = code?;
    let offsite_only = code == OFFSITE_FAILED && taken.offsite.iter().any(|o| o.error.is_some());
    if (code != 0 && !offsite_only) || taken.snapshot.is_empty() {
        let tail: Vec<&String> = other.iter().rev().take(8).collect();
        let detail: Vec<&str> = tail.into_iter().rev().map(String::as_str).collect();
        return Err(Error::Host {
            code: code::FAILED,
            message: format!("the backup on the host failed (exit {code})"),
            detail: detail.join("\n"),
            help: Some("nothing was removed; `clawbake backup list` shows what exists".into()),
        });
    }
    Ok(taken)
}

/// One line of `clawbake-backup --json`; false if it is not one we read.
fn read_line(line: &str, taken: &mut Taken, progress: &dyn Progress) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return false;
    };
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    match v["message_type"].as_str() {
        Some("status") => progress.reading(n("bytes_done"), n("total_bytes")),
        Some("summary") => {
            v["snapshot_id"]
                .as_str()
                .unwrap_or_default()
                .clone_into(&mut taken.snapshot);
            taken.bytes_read = n("total_bytes_processed");
            taken.bytes_added = n("data_added");
        }
        Some("clawbake_offsite") => {
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            taken.offsite.push(OffsiteCopy {
                name: text("name"),
                error: (!v["ok"].as_bool().unwrap_or(false)).then(|| text("error")),
                seconds: n("seconds"),
            });
        }
        Some("clawbake_backup") => {
            taken.paused_ms = n("paused_ms");
            v["release"]
                .as_str()
                .unwrap_or_default()
                .clone_into(&mut taken.release);
        }
        _ => return false,
    }
    true
}

/// A snapshot as `backup list` shows it.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    pub time: String,
    pub release: String,
}

pub async fn list(host: &Host) -> Result<Vec<Snapshot>, Error> {
    let out = host
        .root_output(&format!(
            "if [ -e {REPOSITORY}/config ]; then {}; else echo none; fi",
            restic("snapshots --json --host clawbake --tag clawbake")
        ))
        .await?;
    if out.trim() == "none" {
        return Err(no_backups());
    }
    parse_snapshots(&out)
}

fn parse_snapshots(json: &str) -> Result<Vec<Snapshot>, Error> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).map_err(|e| Error::Message {
        message: format!("restic's snapshot list is not JSON: {e}"),
        help: None,
    })?;
    let mut out: Vec<Snapshot> = v
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| Snapshot {
            id: s["id"].as_str().unwrap_or_default().to_owned(),
            // RFC 3339 to the second, in UTC as restic wrote it.
            time: s["time"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(19)
                .collect(),
            release: s["tags"]
                .as_array()
                .and_then(|t| t.iter().find_map(|t| t.as_str()?.strip_prefix("release=")))
                .unwrap_or_default()
                .to_owned(),
        })
        .collect();
    out.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(out)
}

/// restic reads every pack back and checks it against its hash.
pub async fn check(host: &Host) -> Result<String, Error> {
    let out = host
        .root_output(&format!(
            "if [ -e {REPOSITORY}/config ]; then {} 2>&1 || {{ echo \"@@restic check failed: exit $?\"; }}; else echo none; fi",
            restic("check --read-data")
        ))
        .await?;
    if out.trim() == "none" {
        return Err(no_backups());
    }
    if let Some(at) = out.find("@@restic check failed") {
        return Err(Error::Host {
            code: code::FAILED,
            message: "restic found the repository on the host damaged".into(),
            detail: out[..at].trim().to_owned(),
            help: Some(
                "a copy pulled with `backup --to` is checked against its names; restore from one that is whole"
                    .into(),
            ),
        });
    }
    Ok(out)
}

/// What `pull` brought.
#[derive(Debug, Default)]
pub struct Pulled {
    pub files: usize,
    pub new_files: usize,
    pub bytes: u64,
    pub removed: usize,
}

/// Copy the host's repository into `dir` (a restic repository of its own
/// afterwards, usable with `restic -r dir`): every file streamed in one
/// `tar` under the backup lock, each checked against its name before it
/// is kept, files already here skipped, files the host pruned removed.
/// The files that name others (config, keys, index, snapshots) are written
/// only once the whole stream has arrived and checked out, so a copy cut
/// short or refused is the copy it was, plus some unnamed packs.
pub async fn pull(host: &Host, dir: &Path, progress: &dyn Progress) -> Result<Pulled, Error> {
    let total = host
        .root_output(&format!(
            "if [ -e {REPOSITORY}/config ]; then du -sb --exclude=locks {REPOSITORY} | cut -f1; else echo none; fi"
        ))
        .await?;
    let total: u64 = match total.trim() {
        "none" => return Err(no_backups()),
        t => t.parse().unwrap_or(0),
    };
    std::fs::create_dir_all(dir).map_err(|e| local_error(dir, &e))?;
    // stderr goes nowhere: it would be merged into the archive.
    let command = host.as_root(&format!(
        "cd {REPOSITORY} && flock /run/clawbake-backup.lock tar -cf - --exclude=./locks config keys snapshots index data 2>/dev/null"
    ));
    let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let target = dir.to_path_buf();
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<u64>();
    let unpack = tokio::task::spawn_blocking(move || {
        let reader = ChannelReader {
            rx,
            buf: Vec::new(),
            at: 0,
            seen: seen_tx,
        };
        unpack(reader, &target)
    });
    let run = host.remote.stream(command, tx);
    let watch = async {
        let mut done = 0;
        while let Some(n) = seen_rx.recv().await {
            done += n;
            progress.pulling(done, total);
        }
    };
    let (code, (), unpacked) = tokio::join!(run, watch, unpack);
    let code = code?;
    let (mut pulled, kept) = unpacked.map_err(|e| Error::Message {
        message: format!("reading the repository stream: {e}"),
        help: None,
    })??;
    if code != 0 {
        return Err(Error::Host {
            code: code::FAILED,
            message: format!("reading the repository on the host failed (tar exit {code})"),
            detail: String::new(),
            help: None,
        });
    }
    pulled.removed = prune_local(dir, &kept)?;
    Ok(pulled)
}

fn local_error(path: &Path, e: &std::io::Error) -> Error {
    Error::Message {
        message: format!("writing {}: {e}", path.display()),
        help: None,
    }
}

/// A blocking reader over the chunks the SSH thread sends.
struct ChannelReader {
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    buf: Vec<u8>,
    at: usize,
    seen: mpsc::UnboundedSender<u64>,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buf.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    let _ = self.seen.send(chunk.len() as u64);
                    self.buf = chunk;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Whether `path` is a file a restic repository holds, and whether its
/// name is the sha256 of its bytes.
pub fn repository_file(path: &str) -> Option<bool> {
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["config"] => Some(false),
        ["keys" | "snapshots" | "index", name] if hex(name, 64) => Some(true),
        ["data", dir, name] if hex(dir, 2) && hex(name, 64) && name.starts_with(dir) => Some(true),
        _ => None,
    }
}

fn refused(what: String) -> Error {
    Error::Host {
        code: code::FAILED,
        message: what,
        detail: String::new(),
        help: Some(
            "nothing received was kept; `clawbake backup check` has restic read the host's copy"
                .into(),
        ),
    }
}

/// Unpack the stream into `dir`, checking every file; the names kept.
fn unpack(reader: impl Read, dir: &Path) -> Result<(Pulled, BTreeSet<String>), Error> {
    let mut archive = tar::Archive::new(reader);
    let mut pulled = Pulled::default();
    let mut kept = BTreeSet::new();
    let mut deferred = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| refused(format!("the repository stream is not an archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| refused(format!("the repository stream broke off: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| refused(format!("a name in the stream is not a path: {e}")))?
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_owned();
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let Some(named_by_hash) = repository_file(&path) else {
            return Err(refused(format!(
                "the host's repository holds `{path}`, which no restic repository has"
            )));
        };
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| refused(format!("the repository stream broke off in {path}: {e}")))?;
        if named_by_hash {
            let name = path.rsplit('/').next().unwrap_or_default();
            let sum = format!("{:x}", Sha256::digest(&bytes));
            if sum != name {
                return Err(refused(format!(
                    "`{path}` from the host does not match its name (sha256 {sum}): the repository there is damaged or was changed"
                )));
            }
        }
        pulled.files += 1;
        pulled.bytes += bytes.len() as u64;
        kept.insert(path.clone());
        if path.starts_with("data/") {
            // A pack no index names yet is harmless: written as it comes.
            pulled.new_files += usize::from(keep(dir, &path, &bytes)?);
        } else {
            deferred.push((path, bytes));
        }
    }
    if !kept.contains("config") {
        return Err(refused("the host's repository has no `config`".into()));
    }
    // Only now the files that name packs: a copy cut short never holds a
    // snapshot or an index whose data it lacks.
    for (path, bytes) in &deferred {
        pulled.new_files += usize::from(keep(dir, path, bytes)?);
    }
    Ok((pulled, kept))
}

/// Keep a checked file under `dir`, unless it is there already; whether
/// it was new.
fn keep(dir: &Path, path: &str, bytes: &[u8]) -> Result<bool, Error> {
    let local = dir.join(path);
    if std::fs::read(&local).is_ok_and(|b| b == bytes) {
        return Ok(false);
    }
    write_new(&local, bytes)?;
    Ok(true)
}

/// Write `bytes` to `path` whole, by rename.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| local_error(parent, &e))?;
    let tmp: PathBuf = parent.join(format!(
        ".{}.partial",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| local_error(&tmp, &e))?;
    std::fs::rename(&tmp, path).map_err(|e| local_error(path, &e))
}

/// Remove what the host no longer has (packs a prune replaced).
fn prune_local(dir: &Path, kept: &BTreeSet<String>) -> Result<usize, Error> {
    let mut removed = 0;
    for sub in ["keys", "snapshots", "index", "data"] {
        let mut stack = vec![dir.join(sub)];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let rel = p
                    .strip_prefix(dir)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned();
                if !kept.contains(&rel) {
                    std::fs::remove_file(&p).map_err(|e| local_error(&p, &e))?;
                    removed += 1;
                }
            }
        }
    }
    Ok(removed)
}

/// The host's repository password, for the user's own copy.
pub async fn password(host: &Host) -> Result<Vec<u8>, Error> {
    let out = host.root_output(&format!("cat {PASSWORD_FILE}")).await?;
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_repositorys_files_and_each_where_it_belongs() {
        let id = "a".repeat(64);
        assert_eq!(repository_file("config"), Some(false));
        assert_eq!(repository_file(&format!("keys/{id}")), Some(true));
        assert_eq!(repository_file(&format!("data/aa/{id}")), Some(true));
        assert_eq!(repository_file(&format!("data/ab/{id}")), None);
        assert_eq!(repository_file(&format!("data/aa/../{id}")), None);
        assert_eq!(repository_file("locks/x"), None);
        assert_eq!(repository_file(&format!("../{id}")), None);
        assert_eq!(repository_file(&format!("index/{}", "g".repeat(64))), None);
    }

    #[test]
    fn snapshots_read_from_restics_json_oldest_first() {
        let json = r#"[
          {"time":"2026-12-06T03:00:01.123+00:00","id":"bbbb","tags":["clawbake","release=0123456789abcdef"]},
          {"time":"2026-12-05T03:00:01.5+00:00","id":"aaaa","tags":["clawbake"]}
        ]"#;
        let got = parse_snapshots(json).unwrap();
        assert_eq!(
            got,
            [
                Snapshot {
                    id: "aaaa".into(),
                    time: "2026-12-05T03:00:01".into(),
                    release: String::new(),
                },
                Snapshot {
                    id: "bbbb".into(),
                    time: "2026-12-06T03:00:01".into(),
                    release: "0123456789abcdef".into(),
                },
            ]
        );
    }
}
