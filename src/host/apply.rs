//! Provision: deliver a built bundle to a host over SSH and apply it, under
//! the release model of DESIGN.md. Plan first (from the host's manifest and
//! the new one), then act: upload the release, run its steps one at a time,
//! guard against locking ourselves out, switch and start the stack, verify.
//!
//! Nothing here prints; progress goes to a [`Progress`] and every byte the
//! host sends back goes to the run's [`Log`].

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::plan::{self, Decision, HostState};
use super::preflight;
use super::remote::{Access, Host, STATE, host_state, on_host};
use super::transport::ssh::shell_quote;
use super::transport::target::Target;
use crate::bundle::{Bundle, Manifest};
use crate::error::{Error, code};
use crate::render::shared::RELEASES;

/// How many releases to keep on the host, the current one included.
pub const KEEP_RELEASES: usize = 5;
/// Steps that make up a stack release; all others touch the host.
const STACK_STEPS: &[&str] = &["90-stack"];
/// The steps that can cut off SSH: after them, a fresh connection must work.
const GUARDED_STEPS: &[&str] = &["40-ssh", "50-firewall"];

/// What a run reports as it goes. The terminal UI implements it; tests may
/// record it.
pub trait Progress: Send + Sync {
    /// A phase with no steps: connecting, preflight, uploading.
    fn phase(&self, what: &str);
    fn step_started(&self, index: usize, total: usize, name: &str);
    fn step_finished(&self, name: &str, elapsed: Duration, exit_code: i32);
    /// A line worth the user's attention, such as the lock-out guard.
    fn note(&self, line: &str);
}

/// The local log of a run: every command sent and every byte returned.
pub struct Log {
    file: Option<File>,
    pub path: PathBuf,
}

impl Log {
    pub fn open(path: PathBuf) -> Result<Log, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Io {
                action: format!("opening the log {}", path.display()),
                source,
            })?;
        Ok(Log {
            file: Some(file),
            path,
        })
    }

    /// A log that keeps nothing, for commands that change nothing.
    pub fn none() -> Log {
        Log {
            file: None,
            path: PathBuf::new(),
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        if let Some(f) = &mut self.file {
            // A full disk must not stop a provision half-way; the terminal
            // still shows the failing step's output.
            let _ = f.write_all(bytes);
        }
    }

    pub fn line(&mut self, line: &str) {
        self.write(format!("clawbake: {line}\n").as_bytes());
    }
}

/// The release tree and its manifest as one gzipped tar, for one upload:
/// the tar the user-data carries, gzipped as `user-data.gz` is.
pub fn release_archive(bundle: &Bundle) -> Vec<u8> {
    use crate::bundle::archive;
    archive::gzip(&archive::release_tar(
        &bundle.tree,
        &bundle.manifest.to_json(),
    ))
}

pub fn release_dir(manifest: &Manifest) -> String {
    format!(
        "{RELEASES}/{}",
        crate::render::shared::release_name(&manifest.build_id)
    )
}

/// Check every file of a release directory against the manifest; quiet
/// but for the files that differ.
pub fn release_check_command(bundle: &Bundle, dir: &str) -> String {
    let manifest_sum = crate::bundle::sha256_hex(bundle.manifest.to_json().as_bytes());
    let sums: Vec<String> = bundle
        .manifest
        .files
        .iter()
        .map(|f| (f.sha256.as_str(), f.path.as_str()))
        .chain(std::iter::once((manifest_sum.as_str(), "manifest.json")))
        .map(|(sum, path)| shell_quote(&format!("{sum}  {path}")))
        .collect();
    format!(
        "cd {dir} && printf '%s\\n' {} | sha256sum --check --quiet --strict -",
        sums.join(" ")
    )
}

/// Put the release on the host: one archive, unpacked beside its final
/// place, every file checked against the manifest, then renamed in. A
/// release already there is checked and kept.
pub async fn upload_release(host: &Host, bundle: &Bundle, log: &mut Log) -> Result<String, Error> {
    let dir = release_dir(&bundle.manifest);
    let check = |d: &str| release_check_command(bundle, d);
    let existing = host
        .root_output(&format!(
            "if [ -d {dir} ]; then ( {} ) >/dev/null 2>&1 && echo ok || echo bad; fi",
            check(&dir)
        ))
        .await?;
    match existing.trim() {
        "ok" => {
            log.line(&format!("release {dir} is already on the host and intact"));
            return Ok(dir);
        }
        "bad" => {
            log.line(&format!(
                "release {dir} on the host is damaged; replacing it"
            ));
        }
        _ => {}
    }
    let archive = release_archive(bundle);
    let tmp = format!("{dir}.upload.tar.gz");
    log.line(&format!("uploading {} bytes to {tmp}", archive.len()));
    host.root_output(&format!("install -d -m 0755 {RELEASES}"))
        .await?;
    host.install(&tmp, archive, 0o600).await?;
    let unpack = format!(
        "rm -rf {dir}.new && install -d -m 0755 {dir}.new && tar -xzf {tmp} -C {dir}.new && rm -f {tmp} && \
         ( {} ) && rm -rf {dir} && mv {dir}.new {dir}",
        check(&format!("{dir}.new"))
    );
    host.root_output(&unpack).await?;
    Ok(dir)
}

/// Where image-set archives wait on the host; `90-stack` loads them.
pub const IMAGES_DIR: &str = "/var/lib/clawbake/images";

/// Ship the site's image set, when it has one: uploaded (streamed, checked
/// by sha256) unless the host holds it already, and the only archive left
/// in the directory, since the images it replaces are loaded already.
pub async fn ship_images(
    host: &Host,
    bundle: &Bundle,
    progress: &dyn Progress,
    log: &mut Log,
) -> Result<(), Error> {
    let (Some(local), Some(set)) = (&bundle.image_set, &bundle.manifest.image_set) else {
        return Ok(());
    };
    let name = format!("{}.tar", set.sha256);
    let dest = format!("{IMAGES_DIR}/{name}");
    let have = host
        .root_output(&format!(
            "{} 2>/dev/null || true",
            super::transport::ssh::sha256_command(&dest)
        ))
        .await?;
    if have.split_whitespace().next() == Some(set.sha256.as_str()) {
        log.line(&format!("image set {dest} is on the host already"));
        return Ok(());
    }
    #[allow(clippy::cast_precision_loss)]
    let mib = set.size as f64 / 1_048_576.0;
    progress.phase(&format!(
        "uploading the image set ({mib:.0} MiB, {} images)",
        set.images.len()
    ));
    log.line(&format!("uploading {} to {dest}", local.display()));
    host.root_output(&format!("install -d -m 0700 {IMAGES_DIR}"))
        .await?;
    if host.facts.root {
        host.remote
            .upload_file(dest.clone(), local.clone(), 0o600)
            .await?;
    } else {
        // Into a private directory, then moved into place as root.
        let dir = host.private_tmp().await?;
        let tmp = format!("{dir}/{name}");
        host.remote
            .upload_file(tmp.clone(), local.clone(), 0o600)
            .await?;
        host.root_output(&format!(
            "mv {tmp} {dest} && chown root:root {dest} && rm -rf {dir}"
        ))
        .await?;
    }
    host.root_output(&format!(
        "find {IMAGES_DIR} -maxdepth 1 -name '*.tar' ! -name {name} -delete"
    ))
    .await?;
    Ok(())
}

/// A step's failure: its name, code and last lines.
fn step_failed(name: &str, exit: i32, tail: &[String], log: &Log) -> Error {
    Error::Host {
        code: code::STEP_FAILED,
        message: format!("step `{name}` failed on the host with exit code {exit}"),
        detail: tail.join("\n"),
        help: Some(format!(
            "the whole output is in {}; fix the cause and run the same command again: steps are safe to re-run",
            log.path.display()
        )),
    }
}

/// The last lines of a step's output, for the error.
#[derive(Default)]
struct Tail {
    partial: Vec<u8>,
    lines: std::collections::VecDeque<String>,
}

impl Tail {
    const KEEP: usize = 15;

    fn push(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            self.lines
                .push_back(String::from_utf8_lossy(&line).trim_end().to_owned());
            if self.lines.len() > Self::KEEP {
                self.lines.pop_front();
            }
        }
    }

    fn finish(mut self) -> Vec<String> {
        if !self.partial.is_empty() {
            self.lines
                .push_back(String::from_utf8_lossy(&self.partial).trim_end().to_owned());
        }
        self.lines.into_iter().collect()
    }
}

/// A step as the host runs it: output to its own apply log as well, and
/// the step's exit code as the last line (the pipe would hide it).
pub fn step_command(dir: &str, name: &str, guarded: bool) -> String {
    let run = if guarded {
        format!("{GUARD} run ")
    } else {
        String::new()
    };
    format!(
        "install -d -m 0700 /var/log/clawbake && \
         {{ RELEASE_DIR={dir} {run}{dir}/steps/{name}.sh 2>&1; echo \"clawbake-exit=$?\"; }} | tee -a /var/log/clawbake/apply.log"
    )
}

/// Run one step of the release in `dir`, streaming its output to the log
/// and to the host's own apply log. Ctrl-C stops waiting and says where
/// the host was left.
pub async fn run_step(
    host: &Host,
    dir: &str,
    name: &str,
    guarded: bool,
    log: &mut Log,
) -> Result<(i32, Duration, Vec<String>), Error> {
    let command = step_command(dir, name, guarded);
    log.line(&format!("step {name}: start"));
    let started = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let run = host.remote.stream(host.as_root(&command), tx);
    tokio::pin!(run);
    let mut tail = Tail::default();
    let result = loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(bytes) => { log.write(&bytes); tail.push(&bytes); }
                None => break (&mut run).await,
            },
            r = &mut run => {
                while let Ok(bytes) = rx.try_recv() { log.write(&bytes); tail.push(&bytes); }
                break r;
            }
            _ = tokio::signal::ctrl_c() => {
                log.line(&format!("step {name}: interrupted by Ctrl-C"));
                return Err(Error::Host {
                    code: code::STEP_FAILED,
                    message: format!("interrupted during step `{name}`"),
                    detail: String::new(),
                    help: Some("the step may still be running on the host; run the same command again once it is done: steps are safe to re-run".into()),
                });
            }
        }
    };
    result.map_err(Error::from)?;
    let mut lines = tail.finish();
    // The step's own status, printed last by the wrapper above.
    let exit = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("clawbake-exit="))
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(-1);
    lines.retain(|l| !l.starts_with("clawbake-exit="));
    let elapsed = started.elapsed();
    log.line(&format!(
        "step {name}: exit {exit} after {:.1}s",
        elapsed.as_secs_f64()
    ));
    Ok((exit, elapsed, lines))
}

/// What a provision did.
#[derive(Debug)]
pub struct Report {
    pub decision: Decision,
    pub release: Option<String>,
    pub steps: Vec<(String, Duration)>,
    pub elapsed: Duration,
    /// How the host is reached now: on the site's SSH port after a first
    /// provision.
    pub target: Target,
    /// Lines for the summary: the backup taken before an OpenClaw upgrade,
    /// what a rollback across releases leaves behind.
    pub notes: Vec<String>,
}

/// Refuse a decision that provision must not act on.
pub fn refusal(decision: &Decision) -> Option<Error> {
    match decision {
        Decision::RebuildRequired { changes } => Some(Error::Host {
            code: code::REBUILD_REQUIRED,
            message: "rebuild required: this change touches the host itself, not just the stack"
                .into(),
            detail: changes
                .iter()
                .map(|c| format!("{:<8} {:<5} {}", format!("{:?}", c.kind).to_lowercase(), c.scope.name(), c.path))
                .collect::<Vec<_>>()
                .join("\n"),
            help: Some(
                "move to a fresh server with `clawbake migrate SITE --from THIS-SERVER --to NEW-SERVER`; to keep this address, `clawbake backup --to DIR --password-file FILE`, re-image it with the new `dist/user-data`, then `clawbake restore DIR --password-file FILE`"
                    .into(),
            ),
        }),
        Decision::Drift { drift } => Some(Error::Host {
            code: code::DRIFT,
            message: "the host has drifted: files no longer match the release they came from"
                .into(),
            detail: drift
                .iter()
                .map(|d| match &d.observed {
                    Some(_) => format!("changed  {}", on_host(&d.path)),
                    None => format!("missing  {}", on_host(&d.path)),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            help: Some(
                "someone edited the server; put the change in the site file and rebuild the server instead of editing it"
                    .into(),
            ),
        }),
        _ => None,
    }
}

/// Turn preflight problems into the refusal.
pub fn preflight_error(host: &Host, site: &crate::model::Site) -> Option<Error> {
    let problems = preflight::check(&host.facts, site);
    if problems.is_empty() {
        return None;
    }
    Some(Error::Host {
        code: code::HOST_UNSUITABLE,
        message: format!(
            "{} is not ready for clawbake: nothing was changed",
            host.access.target
        ),
        detail: problems
            .iter()
            .map(|p| format!("{}\n  help: {}", p.what, p.help))
            .collect::<Vec<_>>()
            .join("\n"),
        help: None,
    })
}

/// The lock-out guard on the host (`guard.sh` of the release, copied there
/// by its `save`): one lock orders its revert and the steps it guards.
pub const GUARD: &str = "/var/lib/clawbake/guard/clawbake-guard";

/// Record how sshd and ufw are before the first step changes them: what a
/// revert puts back.
pub fn guard_save_command(dir: &str) -> String {
    format!("{dir}/guard.sh save")
}

/// Arm the guard: unless disarmed in time, the host puts SSH and the
/// firewall back as they were saved, after `seconds` or at the next boot.
pub fn guard_arm_command(seconds: u64) -> String {
    format!("{GUARD} arm {seconds}")
}

/// What the guard's timer (and its boot unit) runs.
pub fn guard_revert_command() -> String {
    format!("{GUARD} revert")
}

pub fn guard_disarm_command() -> String {
    format!("{GUARD} disarm")
}

/// The exit status of a guarded step the guard refused to run: it had
/// already reverted.
pub const GUARD_REVERTED: i32 = 75;

/// The fewest seconds `--guard` takes: the SSH and firewall steps and a
/// new login must fit in it, on a slow server too.
pub const GUARD_MIN_SECS: u64 = 60;

/// Whether this run would move sshd or turn the firewall on.
pub async fn needs_guard(host: &Host, ssh_port: u16) -> Result<bool, Error> {
    if host.access.target.port != ssh_port {
        return Ok(true);
    }
    let ufw = host
        .root_output("ufw status 2>/dev/null | head -n1 || true")
        .await?;
    Ok(!ufw.contains("Status: active"))
}

/// Every step of a release, in order, from its manifest.
pub fn steps_of(manifest: &Manifest) -> Vec<String> {
    let mut steps: Vec<String> = manifest
        .files
        .iter()
        .filter_map(|f| f.path.strip_prefix("steps/"))
        .filter_map(|p| p.strip_suffix(".sh"))
        .map(str::to_owned)
        .collect();
    steps.sort();
    steps
}

pub fn is_stack_step(name: &str) -> bool {
    STACK_STEPS.contains(&name)
}

pub fn is_guarded_step(name: &str) -> bool {
    GUARDED_STEPS.contains(&name)
}

/// Releases to delete: all but the newest `KEEP_RELEASES` and the current.
pub fn prune_command(current: &str) -> String {
    format!(
        "find {RELEASES} -mindepth 1 -maxdepth 1 -type d ! -name '*.new' ! -name {} -printf '%T@ %p\\n' \
         | sort -rn | tail -n +{KEEP_RELEASES} | cut -d' ' -f2- | while IFS= read -r r; do rm -rf -- \"$r\"; done",
        shell_quote(current),
    )
}

/// A report with only the decision, for runs that stop before acting.
pub fn decided(decision: Decision, started: Instant, target: &Target) -> Report {
    Report {
        decision,
        release: None,
        steps: Vec::new(),
        elapsed: started.elapsed(),
        target: target.clone(),
        notes: Vec::new(),
    }
}

/// `plan::decide`, from the host.
pub async fn plan(host: &Host, bundle: &Bundle) -> Result<Decision, Error> {
    let state = host_state(host).await?;
    Ok(plan::decide(&bundle.manifest, &state))
}

/// Settings of a provision run beyond the host and the bundle.
pub struct Settings {
    /// How long the lock-out guard waits before it reverts.
    pub guard: Duration,
    /// Where the site's SSH port is reached from here, when that is not the
    /// same host on that port (a port forward, a NAT): `host:port`.
    pub admin_endpoint: Option<(String, u16)>,
}

/// Provision `bundle` onto the host: the whole release model in one call.
/// Returns the connection too, for the verify that follows.
pub async fn provision(
    access: &Access,
    site: &crate::model::Site,
    bundle: &Bundle,
    settings: &Settings,
    progress: &dyn Progress,
    log: &mut Log,
) -> Result<(Report, Host), Error> {
    let started = Instant::now();
    let ssh_port = site.firewall.ssh_port.0;
    progress.phase(&format!("connecting to {}", access.target));
    log.line(&format!(
        "provision of build {} to {} at {}",
        bundle.manifest.build_id,
        access.target,
        crate::clock::now_utc()
    ));
    let mut host = Host::connect(access, ssh_port).await?;
    progress.phase("checking the host");
    if let Some(e) = preflight_error(&host, site) {
        return Err(e);
    }
    let decision = plan(&host, bundle).await?;
    log.line(&format!("decision: {decision:?}"));
    if let Some(e) = refusal(&decision) {
        return Err(e);
    }
    if decision == Decision::NoChange {
        return Ok((decided(decision, started, &access.target), host));
    }
    let first = decision == Decision::FirstProvision;

    progress.phase("uploading the release");
    let dir = upload_release(&host, bundle, log).await?;
    ship_images(&host, bundle, progress, log).await?;
    let mut notes = Vec::new();
    if let Decision::StackRelease {
        openclaw: Some(upgrade),
        ..
    } = &decision
    {
        notes.push(backup_before(&host, upgrade, progress, log).await?);
    }
    let steps: Vec<String> = steps_of(&bundle.manifest)
        .into_iter()
        .filter(|s| first || is_stack_step(s))
        .collect();
    let guard = first && needs_guard(&host, ssh_port).await?;
    if guard {
        // Before 20-files writes the new sshd drop-ins: the state to go
        // back to is the host's own.
        host.root_output(&guard_save_command(&dir)).await?;
    }
    let mut done = Vec::new();
    let mut armed = false;
    for (i, name) in steps.iter().enumerate() {
        if guard && !armed && is_guarded_step(name) {
            host.root_output(&guard_arm_command(settings.guard.as_secs()))
                .await?;
            armed = true;
            let line = format!(
                "lock-out guard armed: the host undoes the SSH port and firewall changes in {}s unless a new connection on port {ssh_port} works",
                settings.guard.as_secs()
            );
            log.line(&line);
            progress.note(&line);
        }
        progress.step_started(i + 1, steps.len(), name);
        let guarded = armed && is_guarded_step(name);
        let (exit, elapsed, tail) = run_step(&host, &dir, name, guarded, log).await?;
        progress.step_finished(name, elapsed, exit);
        if guarded && exit == GUARD_REVERTED {
            return Err(guard_fired(name, settings.guard.as_secs(), log));
        }
        if exit != 0 {
            let mut e = step_failed(name, exit, &tail, log);
            if armed && let Error::Host { help, .. } = &mut e {
                *help = Some(format!(
                    "{} The lock-out guard reverts the SSH port and firewall within {}s.",
                    help.take().unwrap_or_default(),
                    settings.guard.as_secs()
                ));
            }
            return Err(e);
        }
        done.push((name.clone(), elapsed));
        let last_guarded = steps[i + 1..].iter().all(|s| !is_guarded_step(s));
        if armed && last_guarded {
            host = confirm_access(host, ssh_port, settings, progress, log).await?;
            armed = false;
        }
    }
    progress.phase("pruning old releases");
    host.root_output(&prune_command(crate::render::shared::release_name(
        &bundle.manifest.build_id,
    )))
    .await?;
    let report = Report {
        decision,
        release: Some(dir),
        steps: done,
        elapsed: started.elapsed(),
        target: host.access.target.clone(),
        notes,
    };
    Ok((report, host))
}

/// The backup's progress is the phase line's spinner.
struct Quiet;

impl super::backup::Progress for Quiet {
    fn reading(&self, _: u64, _: u64) {}
    fn pulling(&self, _: u64, _: u64) {}
    fn uploading(&self, _: u64, _: u64) {}
}

/// A snapshot of the data volume before the gateway moves to another
/// OpenClaw release, whose migration of the state is one-way: the way back
/// for what a rollback cannot undo. Taken while the old release still
/// runs; a failure stops the run with the host unchanged.
async fn backup_before(
    host: &Host,
    upgrade: &plan::Upgrade,
    progress: &dyn Progress,
    log: &mut Log,
) -> Result<String, Error> {
    let plan::Upgrade { from, to } = upgrade;
    progress.phase(&format!(
        "backing up the OpenClaw data before {from} -> {to}"
    ));
    let taken = super::backup::take(host, &Quiet, false)
        .await
        .map_err(|e| {
            log.line(&format!("backup before the upgrade failed: {}", e.render(false).trim()));
            Error::Host {
                code: code::FAILED,
                message: format!(
                    "the backup before moving OpenClaw from {from} to {to} failed: the host still runs the release it ran"
                ),
                detail: e.render(false).trim().to_owned(),
                help: Some(
                    "`clawbake backup` takes one on its own and says why it fails; provision again once it works".into(),
                ),
            }
        })?;
    let id = &taken.snapshot[..8.min(taken.snapshot.len())];
    let line = format!(
        "backup:  snapshot {id} holds the data as OpenClaw {from} left it, before {to} migrates it"
    );
    log.line(&line);
    progress.note(&line);
    Ok(line)
}

/// What a rollback across OpenClaw releases cannot undo.
fn downgrade_note(upgrade: &plan::Upgrade) -> String {
    let plan::Upgrade { from, to } = upgrade;
    format!(
        "note:    OpenClaw goes back from {from} to {to}; what {from} wrote to the data volume stays. The snapshot taken before the upgrade (`clawbake backup list`) holds the data as {to} left it: `clawbake backup --to DIR --password-file FILE`, then `clawbake restore DIR --password-file FILE --snapshot ID` bring it back"
    )
}

/// The guard's time ran out before a guarded step: the host is back as it
/// was, and nothing guarded runs after that.
fn guard_fired(name: &str, seconds: u64, log: &mut Log) -> Error {
    log.line(&format!(
        "step {name}: refused: the lock-out guard had reverted"
    ));
    Error::Host {
        code: code::STEP_FAILED,
        message: format!(
            "the lock-out guard's {seconds}s ran out before step `{name}`: the host put sshd and ufw back as they were before this run"
        ),
        detail: String::new(),
        help: Some(format!(
            "run the same command again on the port you used, with a longer guard, e.g. `--guard {}`",
            seconds.saturating_mul(2).max(GUARD_MIN_SECS)
        )),
    }
}

/// After the guarded steps: a fresh connection on the new port proves we
/// can still get in; then the guard is disarmed and the run goes on over
/// the new connection. If it fails, the guard reverts on its own.
async fn confirm_access(
    old: Host,
    ssh_port: u16,
    settings: &Settings,
    progress: &dyn Progress,
    log: &mut Log,
) -> Result<Host, Error> {
    progress.phase(&format!("confirming SSH on port {ssh_port}"));
    let fingerprint = old
        .remote
        .call(|c| Ok(c.host_key_fingerprint()))
        .await
        .map_err(Error::from)?;
    let mut access = old.access.clone();
    access.target = match &settings.admin_endpoint {
        Some((host, port)) => Target {
            host: host.clone(),
            port: *port,
            ..access.target.clone()
        },
        None => access.target.with_port(ssh_port),
    };
    // The same server on a new port: trust the key it just showed us.
    access.options.accept_host_key = Some(fingerprint);
    match Host::connect(&access, ssh_port).await {
        Ok(new) => {
            new.root_output(&guard_disarm_command()).await?;
            let line = format!("lock-out guard disarmed: SSH works on port {ssh_port}");
            log.line(&line);
            progress.note(&line);
            Ok(new)
        }
        Err(e) => {
            log.line(&format!(
                "a new connection on port {ssh_port} failed: {}",
                e.render(false).trim()
            ));
            Err(Error::Host {
                code: code::STEP_FAILED,
                message: format!(
                    "after the SSH and firewall steps, a new connection to {} failed",
                    access.target
                ),
                detail: e.render(false).trim_end().to_owned(),
                help: Some(format!(
                    "the host undoes those changes within {}s (the lock-out guard); then fix `firewall.admin_cidrs` or the port and run the same command again on the old port",
                    settings.guard.as_secs()
                )),
            })
        }
    }
}

/// Go back to the release before the current one. Refused when the two
/// differ in host files, as any host change is.
pub async fn rollback(
    access: &Access,
    site: &crate::model::Site,
    progress: &dyn Progress,
    log: &mut Log,
) -> Result<Report, Error> {
    let started = Instant::now();
    let ssh_port = site.firewall.ssh_port.0;
    progress.phase(&format!("connecting to {}", access.target));
    let host = Host::connect(access, ssh_port).await?;
    let state = host_state(&host).await?;
    let Some(current) = state.current.clone() else {
        return Err(nothing_to_roll_back("the host has no clawbake release"));
    };
    if let Some(e) = refusal(&plan::decide(&current, &state)) {
        return Err(e);
    }
    let text = host
        .root_output(&format!("cat {STATE} 2>/dev/null || true"))
        .await?;
    let previous = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["previous"].as_str().map(str::to_owned))
        .filter(|p| !p.is_empty());
    let Some(previous) = previous else {
        return Err(nothing_to_roll_back(
            "the host has applied only one release",
        ));
    };
    let dir = format!(
        "{RELEASES}/{}",
        crate::render::shared::release_name(&previous)
    );
    let text = host
        .root_output(&format!("cat {dir}/manifest.json 2>/dev/null || true"))
        .await?;
    let Ok(old) = serde_json::from_str::<Manifest>(&text) else {
        return Err(nothing_to_roll_back(&format!(
            "the previous release {dir} is gone from the host"
        )));
    };
    let decision = plan::decide(
        &old,
        &HostState {
            observed: state.observed.clone(),
            current: Some(current),
        },
    );
    if let Some(e) = refusal(&decision) {
        return Err(e);
    }
    let mut steps = Vec::new();
    for name in steps_of(&old).iter().filter(|s| is_stack_step(s)) {
        progress.step_started(1, 1, name);
        let (exit, elapsed, tail) = run_step(&host, &dir, name, false, log).await?;
        progress.step_finished(name, elapsed, exit);
        if exit != 0 {
            return Err(step_failed(name, exit, &tail, log));
        }
        steps.push((name.clone(), elapsed));
    }
    let notes = match &decision {
        Decision::StackRelease {
            openclaw: Some(upgrade),
            ..
        } => vec![downgrade_note(upgrade)],
        _ => Vec::new(),
    };
    Ok(Report {
        decision,
        release: Some(dir),
        steps,
        elapsed: started.elapsed(),
        target: access.target.clone(),
        notes,
    })
}

fn nothing_to_roll_back(why: &str) -> Error {
    Error::Host {
        code: code::FAILED,
        message: format!("nothing to roll back to: {why}"),
        detail: String::new(),
        help: None,
    }
}
