//! The commands that talk to a server: `provision`, `plan`, `verify`,
//! `rollback`, `secrets`, `backup`, `restore` and `migrate`. Each builds the site locally first, so a bad
//! site fails before any connection, then runs on one SSH connection.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::shared::{Output, SiteArg, runtime, site_for_host};
use crate::error::{Error, code};
use crate::host::apply::{self, Log, Settings};
use crate::host::remote::{Access, Host};
use crate::host::transport::ssh::Options;
use crate::host::transport::target::Target;
use crate::host::{backup, migrate, restore, secrets, verify};
use crate::pipeline::{self, Built};
use crate::ui;

/// How to reach and trust the server.
#[derive(Debug, Args)]
pub struct HostArgs {
    /// The server, as `[user@]host[:port]`: `root@203.0.113.7`, `admin@[2001:db8::7]:9922`
    /// [default: the site's `deploy.host`]
    #[arg(long, value_name = "[USER@]HOST[:PORT]")]
    pub host: Option<String>,
    /// The private key to log in with; the SSH agent's keys when omitted
    #[arg(long, short = 'i', value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// The `known_hosts` file that the host key is checked against
    #[arg(long, value_name = "FILE", default_value_os_t = default_known_hosts())]
    pub known_hosts: PathBuf,
    /// Trust a host key not yet in `known_hosts`, after checking it on the
    /// provider's console, and record it there
    #[arg(long, value_name = "SHA256:...")]
    pub accept_host_key: Option<String>,
    /// Seconds to wait for the connection and the SSH handshake
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub connect_timeout: u64,
    /// Seconds a command on the host may go without output before the run
    /// gives up on it
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub command_timeout: u64,
}

fn default_known_hosts() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
        .join(".ssh/known_hosts")
}

impl HostArgs {
    /// How to reach the site's server: `--host`, else the site's
    /// `deploy.host` (without a port there: the site's SSH port if the
    /// server answers on it, else 22).
    fn access(&self, site: &crate::model::Site) -> Result<Access, Error> {
        let target = match (&self.host, &site.deploy.host) {
            (Some(host), _) => Target::parse(host).map_err(|why| Error::Usage {
                message: format!("`--host {host}`: {why}"),
                help: Some(
                    "write it as `user@host`, `user@host:port` or `user@[ipv6]:port`".into(),
                ),
            })?,
            (None, Some(host)) => deploy_target(host, site.firewall.ssh_port.0)?,
            (None, None) => {
                return Err(Error::Usage {
                    message: "no server given: this command acts on one".into(),
                    help: Some(
                        "pass `--host root@SERVER`, or write it into the site once: `[deploy]` then `host = \"root@SERVER\"`"
                            .into(),
                    ),
                });
            }
        };
        if let Some(key) = &self.identity {
            check_identity(key)?;
        }
        Ok(Access {
            target,
            options: Options {
                identity: self.identity.clone(),
                known_hosts: self.known_hosts.clone(),
                accept_host_key: self.accept_host_key.clone(),
                connect_timeout: Duration::from_secs(self.connect_timeout),
                command_timeout: Duration::from_secs(self.command_timeout),
            },
        })
    }
}

/// The site's `deploy.host` as a target: a port written there is used as
/// it is; without one, the site's SSH port when something answers there
/// (the server was provisioned and sshd moved), else 22.
fn deploy_target(host: &str, ssh_port: u16) -> Result<Target, Error> {
    let target = Target::parse(host).map_err(|why| Error::Usage {
        message: format!("the site's `deploy.host`: {why}"),
        help: Some("write it as `root@SERVER` or `root@SERVER:PORT` under `[deploy]`".into()),
    })?;
    let bare = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let explicit_port = if bare.starts_with('[') {
        bare.contains("]:")
    } else {
        bare.matches(':').count() == 1
    };
    if explicit_port {
        return Ok(target);
    }
    let admin = target.with_port(ssh_port);
    let answers = std::net::ToSocketAddrs::to_socket_addrs(&(admin.host.as_str(), ssh_port))
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok()
        });
    Ok(if answers { admin } else { target })
}

/// `--identity FILE`: a private key that is there, before any connection
/// (libssh2 says only that the key was refused).
fn check_identity(key: &Path) -> Result<(), Error> {
    let text = match std::fs::read(key) {
        Ok(bytes) => bytes,
        Err(e) => {
            return Err(Error::Usage {
                message: format!("`--identity {}`: {e}", key.display()),
                help: Some("give the private key file, e.g. `--identity ~/.ssh/id_ed25519`".into()),
            });
        }
    };
    let head = String::from_utf8_lossy(&text[..text.len().min(64)]).into_owned();
    if !head.contains("PRIVATE KEY") {
        let public =
            head.starts_with("ssh-") || head.starts_with("ecdsa-") || head.starts_with("sk-");
        return Err(Error::Usage {
            message: format!(
                "`--identity {}` is {}",
                key.display(),
                if public {
                    "a public key"
                } else {
                    "not a private key"
                }
            ),
            help: Some(match key.to_string_lossy().strip_suffix(".pub") {
                Some(private) if public => {
                    format!("give the private key beside it: `--identity {private}`")
                }
                _ => "give the private key file, e.g. `--identity ~/.ssh/id_ed25519`".into(),
            }),
        });
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Set a user secret from stdin (or `--from-env VAR`); services that
    /// use it are recreated
    #[command(
        after_help = "Examples:\n  clawbake secrets set --host root@203.0.113.7 ANTHROPIC_API_KEY < key.txt\n  \
        clawbake secrets set --host root@203.0.113.7 TELEGRAM_BOT_TOKEN --from-env TELEGRAM_BOT_TOKEN\n\
        The value is never taken from the command line, never printed and never logged."
    )]
    Set {
        /// The secret's name, as the site's lists give it (`clawbake secrets list`)
        name: String,
        /// Read the value from this environment variable instead of stdin
        #[arg(long, value_name = "VAR")]
        from_env: Option<String>,
        #[command(flatten)]
        host: HostArgs,
        /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml]
        #[arg(long)]
        site: Option<PathBuf>,
    },
    /// List the site's user secrets and whether each is set (never values)
    List {
        #[command(flatten)]
        host: HostArgs,
        /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml]
        #[arg(long)]
        site: Option<PathBuf>,
        /// As JSON: `[{"name", "set", "used_by"}]`
        #[arg(long)]
        json: bool,
    },
    /// Replace a secret the host generated with a fresh one; the services
    /// that read it are recreated with it
    #[command(
        after_help = "Examples:\n  clawbake secrets rotate --host root@203.0.113.7 LITELLM_GATEWAY_KEY\n  \
        clawbake secrets rotate --host root@203.0.113.7 LITELLM_MASTER_KEY\n\
        Rotatable: OPENCLAW_GATEWAY_TOKEN, LITELLM_MASTER_KEY, LITELLM_GATEWAY_KEY, BACKUP_KEY\n\
        (restic changes the repository's key; every backup stays readable with the new one). A key you\n\
        got from a provider is rotated there, then given with `clawbake secrets set`.\n\
        The new value is made on the host and never leaves it. If the services do not come\n\
        back healthy with it, the old value is put back."
    )]
    Rotate {
        /// The generated secret to replace
        name: String,
        #[command(flatten)]
        host: HostArgs,
        /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml]
        #[arg(long)]
        site: Option<PathBuf>,
    },
    /// Remove a user secret; services that used it are recreated
    Rm {
        name: String,
        #[command(flatten)]
        host: HostArgs,
        /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml]
        #[arg(long)]
        site: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  clawbake backup --host root@203.0.113.7:9922\n  \
    clawbake backup --host root@203.0.113.7:9922 --to backups/ --password-file backups/password\n  \
    clawbake backup list --host root@203.0.113.7:9922\n  \
    clawbake backup check --host root@203.0.113.7:9922\n\
    A backup holds OpenClaw's state (read with the gateway paused, so it is consistent), the\n\
    host's secrets and the release it was taken under; not the release itself, which is\n\
    rebuilt from the site. `--to DIR` copies the whole repository into DIR/restic, each file\n\
    checked against its name; `restic -r DIR/restic --password-file FILE snapshots` reads it\n\
    without the host."
)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub action: Option<BackupAction>,
    /// Also copy the host's backup repository into DIR/restic
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Write the repository's password to FILE (0600), for restores without this host
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    #[command(flatten)]
    pub host: Option<HostArgs>,
    /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml]
    #[arg(long)]
    pub site: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// The backups on the host, oldest first
    List {
        #[command(flatten)]
        host: HostArgs,
        /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml]
        #[arg(long)]
        site: Option<PathBuf>,
    },
    /// Have restic read every byte of the host's backups back and check it
    Check {
        #[command(flatten)]
        host: HostArgs,
        /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml]
        #[arg(long)]
        site: Option<PathBuf>,
    },
}

pub fn backup(args: BackupArgs) -> Result<Output, Error> {
    match args.action {
        Some(BackupAction::List { host, site }) => {
            let built = built(site, "backup list")?;
            let access = host.access(&built.site)?;
            let snapshots = runtime()?.block_on(async {
                let host = Host::connect(&access, built.site.firewall.ssh_port.0).await?;
                backup::list(&host).await
            })?;
            Ok(Output {
                stdout: ui::backups(&snapshots),
                stderr: String::new(),
            })
        }
        Some(BackupAction::Check { host, site }) => {
            let built = built(site, "backup check")?;
            let access = host.access(&built.site)?;
            let out = runtime()?.block_on(async {
                let host = Host::connect(&access, built.site.firewall.ssh_port.0).await?;
                backup::check(&host).await
            })?;
            Ok(Output {
                stdout: out,
                stderr: String::new(),
            })
        }
        None => {
            let Some(host) = args.host else {
                return Err(Error::Message {
                    message: "`backup` needs the server".into(),
                    help: Some("clawbake backup --host root@SERVER:PORT".into()),
                });
            };
            let built = built(args.site, "backup")?;
            let access = host.access(&built.site)?;
            if let Some(file) = &args.password_file {
                refuse_overwrite(file)?;
            }
            let bar = ui::progress::BackupBar::new();
            let (taken, pulled) = runtime()?.block_on(async {
                let host = Host::connect(&access, built.site.firewall.ssh_port.0).await?;
                let taken = backup::take(&host, &bar, true).await?;
                bar.finish();
                let pulled = match &args.to {
                    Some(dir) => Some(backup::pull(&host, &dir.join("restic"), &bar).await?),
                    None => None,
                };
                bar.finish();
                if let Some(file) = &args.password_file {
                    let password = backup::password(&host).await?;
                    write_private(file, &password)?;
                }
                Ok::<_, Error>((taken, pulled))
            })?;
            let stdout = ui::backup_taken(
                &taken,
                pulled.as_ref().zip(args.to.as_deref()),
                args.password_file.as_deref(),
            );
            let failed: Vec<&str> = taken
                .offsite
                .iter()
                .filter(|o| o.error.is_some())
                .map(|o| o.name.as_str())
                .collect();
            if !failed.is_empty() {
                print!("{stdout}");
                return Err(Error::Host {
                    code: code::FAILED,
                    message: format!(
                        "the backup is on the host, but its copy to {} failed",
                        failed.join(", ")
                    ),
                    detail: String::new(),
                    help: Some(
                        "the reason is above; check the offsite secrets (`clawbake secrets list`) and the repository; the nightly run copies what is missing".into(),
                    ),
                });
            }
            Ok(Output {
                stdout,
                stderr: String::new(),
            })
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  clawbake restore --host root@198.51.100.4:9922 backups/ --password-file pw.txt\n  \
    clawbake restore --host root@198.51.100.4:9922 backups/ --password-file pw.txt --snapshot 4f1a9c2e\n\
    Every check that can refuse runs before the host changes: the copy against its names here\n\
    (exit 13), the password and restic's own check on the host (13), the backup's site against\n\
    the host's (14), a host with no clawbake release (15). Then the gateway stops, the state and\n\
    secrets are swapped in (the host keeps its own BACKUP_KEY), every service is recreated, and\n\
    `verify` runs. The state from before is kept beside it; if the stack does not come up healthy,\n\
    it goes back."
)]
pub struct RestoreArgs {
    /// The directory `clawbake backup --to` wrote
    pub backup: PathBuf,
    /// The repository's password (`backup --password-file`)
    #[arg(long, value_name = "FILE")]
    pub password_file: PathBuf,
    /// The snapshot to restore (`backup list`); the newest when omitted
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    #[command(flatten)]
    pub host: HostArgs,
    /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml]
    #[arg(long)]
    pub site: Option<PathBuf>,
}

pub fn restore(args: RestoreArgs) -> Result<Output, Error> {
    let RestoreArgs {
        backup: dir,
        password_file,
        snapshot,
        host,
        site,
    } = args;
    let built = built(site, "restore")?;
    let copy = restore::check_copy(&dir)?;
    let password = std::fs::read(&password_file).map_err(|e| Error::Message {
        message: format!("reading {}: {e}", password_file.display()),
        help: Some("give the file `clawbake backup --password-file` wrote".into()),
    })?;
    let access = host.access(&built.site)?;
    let timeout = health_timeout(&built);
    let (restored, checks) = runtime()?.block_on(async {
        let host = Host::connect(&access, built.site.firewall.ssh_port.0).await?;
        let bar = ui::progress::BackupBar::new();
        let restored = restore::restore(
            &host,
            &copy,
            &password,
            snapshot.as_deref(),
            timeout,
            &secrets::all_readers(&built.bundle),
            &bar,
        )
        .await;
        bar.finish();
        let restored = restored?;
        let checks = named_site(
            verify::run(&host, &built.site, &built.bundle).await?,
            &built,
        );
        Ok::<_, Error>((restored, checks))
    })?;
    let mut stdout = format!(
        "restored snapshot {} (taken {} under release {}) onto {}\n\
         the state from before is kept on the host at {}\n",
        short(&restored.snapshot),
        restored.taken_at,
        restored.release,
        access.target,
        restored.kept
    );
    if built.site.channels.telegram.enabled {
        stdout.push_str(
            "if the host this came from still runs, stop its gateway: a Telegram bot must not be polled by two\n",
        );
    }
    stdout.push_str(&ui::checks(&checks));
    checked(stdout, &checks)
}

/// A password file is the user's only copy once the host is gone: never
/// written over.
fn refuse_overwrite(file: &Path) -> Result<(), Error> {
    if file.exists() {
        return Err(Error::Message {
            message: format!("{} exists; it is not written over", file.display()),
            help: Some("name a new file, or leave out --password-file".into()),
        });
    }
    Ok(())
}

fn write_private(file: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| Error::Message {
            message: format!("writing {}: {e}", file.display()),
            help: None,
        })?;
    f.write_all(bytes).map_err(|e| Error::Message {
        message: format!("writing {}: {e}", file.display()),
        help: None,
    })
}

/// The site file as a pasted command names it (shell-quoted), or `None`
/// when it is the `./site.toml` such a command finds by itself.
fn site_to_paste(built: &Built) -> Option<String> {
    built
        .merged
        .site_file()
        .filter(|file| *file != "site.toml")
        .map(crate::host::transport::ssh::shell_quote)
}

/// Verify's hints, made to work when pasted: `secrets set` names the site
/// unless a pasted command finds it by itself.
fn named_site(mut checks: Vec<verify::Check>, built: &Built) -> Vec<verify::Check> {
    let Some(site) = site_to_paste(built) else {
        return checks;
    };
    let with_site = format!("clawbake secrets set --site {site} --host ");
    for check in &mut checks {
        check.detail = check.detail.replace(secrets::SET_HINT, &with_site);
    }
    checks
}

/// How long the site gives a recreated service to turn healthy.
fn health_timeout(built: &Built) -> u64 {
    u64::from(built.site.stack.health_timeout_secs)
}

/// The site a host command acts on, built; the file it read is named on
/// stderr first, so a run against the wrong site shows before it connects.
fn built(site: Option<PathBuf>, command: &str) -> Result<Built, Error> {
    let built = pipeline::build(&site_for_host(site, command)?)?;
    if let Some(file) = built.merged.site_file() {
        eprintln!("clawbake {command}: site {file}");
    }
    Ok(built)
}

/// The log for a run against `target`, unless the user chose one.
fn log_path(log: Option<PathBuf>, target: &Target) -> PathBuf {
    log.unwrap_or_else(|| {
        let host: String = target
            .host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        PathBuf::from(format!("clawbake-{host}.log"))
    })
}

pub fn provision(
    site: Option<PathBuf>,
    host: &HostArgs,
    log: Option<PathBuf>,
    guard: u64,
    admin_endpoint: Option<&str>,
    allow_unpinned: bool,
) -> Result<Output, Error> {
    let built = built(site, "provision")?;
    refuse_unpinned(&built, allow_unpinned)?;
    let access = host.access(&built.site)?;
    let rt = runtime()?;
    let progress = ui::progress::StepProgress::new();
    let (mut stdout, host, decision) =
        provision_on(&rt, &built, &access, log, guard, admin_endpoint, &progress)?;
    if decision != crate::host::plan::Decision::NoChange {
        // On the run's own connection: after a first provision, the one
        // on the site's SSH port that the lock-out guard confirmed.
        progress_phase(&progress, "verifying");
        let checks = named_site(
            rt.block_on(verify::run(&host, &built.site, &built.bundle))?,
            &built,
        );
        drop(progress);
        stdout.push_str(&ui::checks(&checks));
        return checked(stdout, &checks);
    }
    Ok(Output {
        stdout,
        stderr: String::new(),
    })
}

fn refuse_unpinned(built: &Built, allow_unpinned: bool) -> Result<(), Error> {
    let unpinned = &built.bundle.manifest.unpinned_images;
    if unpinned.is_empty() || allow_unpinned {
        return Ok(());
    }
    Err(Error::Stale {
        message: format!(
            "{} of the site's images are not pinned to a digest, and provision delivers a host only pinned images:\n  {}",
            unpinned.len(),
            unpinned.join("\n  ")
        ),
        // A host command never builds the example: there is a site file.
        help: format!(
            "run `clawbake pin images {}` where a registry is reachable, review images.lock, then provision again; or pass `--allow-unpinned` to deliver them by tag (a tag can move)",
            built.merged.site_file().unwrap_or("site.toml")
        ),
    })
}

/// Plan, upload and apply the release on `access`: the summary, the
/// connection it ended on (the site's SSH port after a first provision),
/// and what the plan decided.
fn provision_on(
    rt: &tokio::runtime::Runtime,
    built: &Built,
    access: &Access,
    log: Option<PathBuf>,
    guard: u64,
    admin_endpoint: Option<&str>,
    progress: &ui::progress::StepProgress,
) -> Result<(String, Host, crate::host::plan::Decision), Error> {
    let admin_endpoint = admin_endpoint
        .map(|e| {
            Target::parse(&format!("{}@{e}", access.target.user))
                .map(|t| (t.host, t.port))
                .map_err(|why| Error::Message {
                    message: format!("`--admin-endpoint {e}`: {why}"),
                    help: Some("write it as `host:port`, e.g. `127.0.0.1:2222`".into()),
                })
        })
        .transpose()?;
    let mut log = Log::open(log_path(log, &access.target))?;
    let settings = Settings {
        guard: Duration::from_secs(guard),
        admin_endpoint,
    };
    let report = rt.block_on(apply::provision(
        access,
        &built.site,
        &built.bundle,
        &settings,
        progress,
        &mut log,
    ));
    let (report, host) =
        report.inspect_err(|e| log.line(&format!("failed: {}", e.render(false).trim())))?;
    let mut stdout = ui::provision_summary(&report, &access.target.to_string(), &log.path);
    if report.target != access.target {
        let _ = writeln!(
            stdout,
            "  ssh:     now on port {}: use `--host {}` from here on",
            report.target.port, report.target
        );
    }
    Ok((stdout, host, report.decision))
}

fn progress_phase(progress: &ui::progress::StepProgress, what: &str) {
    use crate::host::apply::Progress as _;
    progress.phase(what);
}

/// The output, or, when a check failed, the output printed now (the
/// error goes to stderr) and exit 12.
fn checked(stdout: String, checks: &[verify::Check]) -> Result<Output, Error> {
    if verify::failed(checks) == 0 {
        return Ok(Output {
            stdout,
            stderr: String::new(),
        });
    }
    print!("{stdout}");
    Err(Error::Host {
        code: code::VERIFY_FAILED,
        message: format!(
            "{} of {} checks failed",
            verify::failed(checks),
            checks.len()
        ),
        detail: String::new(),
        help: Some(
            "the failing checks are listed above; `clawbake verify --host ...` runs them again"
                .into(),
        ),
    })
}

pub fn plan(
    site: Option<PathBuf>,
    host: &HostArgs,
    json: bool,
    detailed_exitcode: bool,
) -> Result<Output, Error> {
    let built = built(site, "plan")?;
    let access = host.access(&built.site)?;
    let ssh_port = built.site.firewall.ssh_port.0;
    let decision = runtime()?.block_on(async {
        let host = Host::connect(&access, ssh_port).await?;
        apply::plan(&host, &built.bundle).await
    })?;
    let release = crate::render::shared::release_name(&built.bundle.manifest.build_id);
    let target = access.target.to_string();
    let stdout = if json {
        ui::plan_json(&decision, &target, release)
    } else {
        ui::plan_summary(&decision, &target, release)
    };
    // The same refusals as provision, with the same exit codes, so a
    // script can ask `plan` first.
    if let Some(e) = apply::refusal(&decision) {
        print!("{stdout}");
        return Err(e);
    }
    let pending = !matches!(decision, crate::host::plan::Decision::NoChange);
    if detailed_exitcode && pending {
        print!("{stdout}");
        return Err(Error::Exit { code: 2 });
    }
    Ok(Output {
        stdout,
        stderr: String::new(),
    })
}

pub fn status(site: Option<PathBuf>, host: &HostArgs, json: bool) -> Result<Output, Error> {
    let built = built(site, "status")?;
    let access = host.access(&built.site)?;
    let status = runtime()?.block_on(async {
        let host = Host::connect(&access, built.site.firewall.ssh_port.0).await?;
        crate::host::status::gather(&host, &built.site, &built.bundle).await
    })?;
    let stdout = if json {
        crate::render::shared::pretty(&serde_json::to_value(&status).expect("a status serializes"))
    } else {
        ui::status(&status, &access.target.to_string())
    };
    Ok(Output {
        stdout,
        stderr: String::new(),
    })
}

pub fn logs(
    site: Option<PathBuf>,
    host: &HostArgs,
    req: &crate::host::logs::Request,
) -> Result<Output, Error> {
    let built = built(site, "logs")?;
    if let Some(service) = req.service {
        let names: Vec<&str> = crate::render::stack::service_limits(&built.site)
            .iter()
            .map(|l| l.service)
            .collect();
        if !names.contains(&service) {
            return Err(Error::Message {
                message: format!("the site runs no service named `{service}`"),
                help: Some(format!("the services are {}", names.join(", "))),
            });
        }
    }
    if let Some(since) = req.since
        && !crate::host::logs::since_ok(since)
    {
        return Err(Error::Usage {
            message: format!("`--since {since}` is not a time docker reads"),
            help: Some(
                "write a duration such as `10m` or `2h`, or a time such as `2026-12-07T01:00:00Z`"
                    .into(),
            ),
        });
    }
    let access = host.access(&built.site)?;
    let code = runtime()?.block_on(async {
        let host = Host::connect(&access, built.site.firewall.ssh_port.0).await?;
        crate::host::logs::stream(&host, req).await
    })?;
    if code != 0 {
        return Err(Error::Exit { code: code::FAILED });
    }
    Ok(Output {
        stdout: String::new(),
        stderr: String::new(),
    })
}

/// `clawbake ssh`: the system's OpenSSH client, told the same port, key
/// and `known_hosts` clawbake uses, with strict host key checking: the
/// key clawbake pinned is the only one it accepts.
pub fn ssh(site: Option<PathBuf>, host: &HostArgs, command: &[String]) -> Result<Output, Error> {
    let built = built(site, "ssh")?;
    let access = host.access(&built.site)?;
    let t = &access.target;
    let mut cmd = std::process::Command::new("ssh");
    cmd.arg("-p")
        .arg(t.port.to_string())
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            ssh_option_word(&access.options.known_hosts.display().to_string())
        ))
        .args(["-o", "StrictHostKeyChecking=yes"]);
    if let Some(identity) = &access.options.identity {
        cmd.arg("-i")
            .arg(identity)
            .args(["-o", "IdentitiesOnly=yes"]);
    }
    cmd.arg(format!("{}@{}", t.user, t.host));
    if !command.is_empty() {
        cmd.arg("--").args(command);
    }
    let status = cmd.status().map_err(|source| Error::Io {
        action: "running the OpenSSH client `ssh` (install openssh-client)".into(),
        source,
    })?;
    match status.code() {
        Some(0) => Ok(Output {
            stdout: String::new(),
            stderr: String::new(),
        }),
        Some(code) => Err(Error::Exit { code }),
        None => Err(Error::Exit { code: code::FAILED }),
    }
}

/// A path as OpenSSH's `-o UserKnownHostsFile=` reads it: the option line
/// is split into words, so it goes in double quotes, with `"` and `\`
/// escaped by a backslash, and `%`, which starts a token there, doubled.
fn ssh_option_word(value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%");
    format!("\"{escaped}\"")
}

pub fn verify(site: Option<PathBuf>, host: &HostArgs, json: bool) -> Result<Output, Error> {
    let built = built(site, "verify")?;
    let access = host.access(&built.site)?;
    let ssh_port = built.site.firewall.ssh_port.0;
    let checks = runtime()?.block_on(async {
        let host = Host::connect(&access, ssh_port).await?;
        verify::run(&host, &built.site, &built.bundle)
            .await
            .map(|checks| named_site(checks, &built))
    })?;
    let stdout = if json {
        let mut s = serde_json::to_string_pretty(&checks).expect("checks serialize");
        s.push('\n');
        s
    } else {
        ui::checks(&checks)
    };
    checked(stdout, &checks)
}

pub fn rollback(
    site: Option<PathBuf>,
    host: &HostArgs,
    log: Option<PathBuf>,
) -> Result<Output, Error> {
    let built = built(site, "rollback")?;
    let access = host.access(&built.site)?;
    let mut log = Log::open(log_path(log, &access.target))?;
    let progress = ui::progress::StepProgress::new();
    let report = runtime()?
        .block_on(apply::rollback(&access, &built.site, &progress, &mut log))
        .inspect_err(|e| log.line(&format!("rollback failed: {}", e.render(false).trim())))?;
    drop(progress);
    let mut stdout = format!(
        "{} rolled back to {} ({:.1}s)\n",
        access.target,
        report.release.as_deref().unwrap_or_default(),
        report.elapsed.as_secs_f64()
    );
    for note in &report.notes {
        let _ = writeln!(stdout, "  {note}");
    }
    Ok(Output {
        stdout,
        stderr: String::new(),
    })
}

/// A secret's value from the environment, stdin, or typed at a prompt
/// that does not echo (stdin a terminal); never from argv.
fn read_value(name: &str, from_env: Option<&str>) -> Result<secrets::Value, Error> {
    if let Some(var) = from_env {
        let raw = std::env::var(var).map_err(|_| Error::Message {
            message: format!("the environment variable `{var}` is not set"),
            help: Some(format!(
                "export {var}=... first, or pipe the value in on stdin"
            )),
        })?;
        return secrets::Value::new(raw, &format!("`{var}`"));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        // As `gh secret set` does: asked for, and not shown while typed.
        let raw = rpassword::prompt_password(format!("{name} (typing is not shown): ")).map_err(
            |source| Error::Io {
                action: "reading the value from the terminal".into(),
                source,
            },
        )?;
        return secrets::Value::new(raw, "the terminal");
    }
    let mut raw = String::new();
    stdin
        .lock()
        .read_to_string(&mut raw)
        .map_err(|source| Error::Io {
            action: "reading the value from stdin".into(),
            source,
        })?;
    secrets::Value::new(raw, "stdin")
}

pub fn secrets(command: SecretsCommand) -> Result<Output, Error> {
    match command {
        SecretsCommand::Set {
            name,
            from_env,
            host,
            site,
        } => {
            let built = built(site, "secrets set")?;
            secrets::check_name(&name, &secrets::users(&built.bundle))?;
            let value = read_value(&name, from_env.as_deref())?;
            let recreate = secrets::file_readers(&built.bundle, &name);
            let access = host.access(&built.site)?;
            runtime()?.block_on(async {
                let host = Host::connect(&access, built.site.firewall.ssh_port.0).await?;
                secrets::set(&host, &name, value, &recreate, health_timeout(&built)).await
            })?;
            Ok(Output {
                stdout: format!("{name} set on {}\n", access.target),
                stderr: String::new(),
            })
        }
        SecretsCommand::Rotate { name, host, site } => {
            let built = built(site, "secrets rotate")?;
            let rotation = secrets::rotation(&name, &built.bundle)?;
            let access = host.access(&built.site)?;
            let said = runtime()?.block_on(async {
                let host = Host::connect(&access, built.site.firewall.ssh_port.0).await?;
                secrets::rotate(&host, &rotation, health_timeout(&built)).await
            })?;
            let after = if rotation.name == "BACKUP_KEY" {
                let mut offsite = String::new();
                for line in said.lines().filter(|l| l.starts_with("offsite ")) {
                    offsite.push_str("\n  ");
                    offsite.push_str(&ui::printable(line));
                }
                format!(
                    "restic's repository now opens with the new key only; a password file you saved \
                     is stale: save the new one with `clawbake backup --password-file FILE`{offsite}"
                )
            } else {
                format!("recreated: {}", rotation.services.join(", "))
            };
            Ok(Output {
                stdout: format!("{name} rotated on {}; {after}\n", access.target),
                stderr: String::new(),
            })
        }
        SecretsCommand::Rm { name, host, site } => {
            let built = built(site, "secrets rm")?;
            secrets::check_name(&name, &secrets::users(&built.bundle))?;
            let recreate = secrets::file_readers(&built.bundle, &name);
            let access = host.access(&built.site)?;
            let removed = runtime()?.block_on(async {
                let host = Host::connect(&access, built.site.firewall.ssh_port.0).await?;
                secrets::remove(&host, &name, &recreate, health_timeout(&built)).await
            })?;
            if !removed {
                return Err(secrets::not_found(&name));
            }
            Ok(Output {
                stdout: format!("{name} removed from {}\n", access.target),
                stderr: String::new(),
            })
        }
        SecretsCommand::List { host, site, json } => {
            let built = built(site, "secrets list")?;
            let users = secrets::users(&built.bundle);
            let access = host.access(&built.site)?;
            let names: Vec<&str> = users.keys().map(String::as_str).collect();
            let set = runtime()?.block_on(async {
                let host = Host::connect(&access, built.site.firewall.ssh_port.0).await?;
                secrets::which_set(&host, &names).await
            })?;
            Ok(Output {
                stdout: if json {
                    ui::secrets_json(&users, &set)
                } else {
                    ui::secrets_list(&users, &set)
                },
                stderr: String::new(),
            })
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  clawbake migrate mysite/site.toml --from root@203.0.113.7:9922 --to root@198.51.100.4\n  \
    clawbake migrate mysite/site.toml --from root@203.0.113.7:9922 --to root@198.51.100.4:9922 --abort\n\
    The rebuild, for a change `provision` refuses as \"rebuild required\": the new server (fresh, from\n\
    your provider) is provisioned from the site while the old one still serves. Then the old gateway\n\
    stops, a last backup is taken and copied to --copy DIR (with its password, 0600), restored onto\n\
    the new server and verified there; the time from the stop to the verified new server is printed.\n\
    If any of that fails, the new gateway stops and the old one starts again. The old server is left\n\
    with its gateway stopped and its data intact: retire it once you are satisfied, or run the same\n\
    command with --abort to go back to it (what the new server wrote since is not moved back)."
)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub site: SiteArg,
    /// The server that runs the site now, on its admin port
    #[arg(long, value_name = "[USER@]HOST[:PORT]")]
    pub from: String,
    /// The fresh server to move to (provisioned first, as `provision` does)
    #[arg(long, value_name = "[USER@]HOST[:PORT]")]
    pub to: String,
    /// Go back: stop the new server's gateway and start the old one's again
    #[arg(long)]
    pub abort: bool,
    /// Where the copy of the data and its password go [default: clawbake-migrate-TIME]
    #[arg(long, value_name = "DIR")]
    pub copy: Option<PathBuf>,
    /// The private key to log in to both servers with; the SSH agent's keys when omitted
    #[arg(long, short = 'i', value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// The `known_hosts` file that both host keys are checked against
    #[arg(long, value_name = "FILE", default_value_os_t = default_known_hosts())]
    pub known_hosts: PathBuf,
    /// Trust the new server's host key, after checking it on the provider's console
    #[arg(long, value_name = "SHA256:...")]
    pub accept_host_key: Option<String>,
    /// Seconds to wait for a connection and the SSH handshake
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub connect_timeout: u64,
    /// Seconds a command on a host may go without output before the run gives up on it
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub command_timeout: u64,
    /// Where to append everything the new server prints [default: clawbake-HOST.log]
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Seconds after which the new server undoes an SSH port or firewall change
    /// unless a new connection on the new port proved it works (60 to 86400;
    /// the new server also undoes them if it restarts before that)
    #[arg(long, value_name = "SECONDS", default_value_t = 180,
            value_parser = clap::value_parser!(u64).range(crate::host::apply::GUARD_MIN_SECS..=86_400))]
    pub guard: u64,
    /// Where the new server's SSH port is reached from here once sshd moves
    #[arg(long, value_name = "HOST:PORT")]
    pub admin_endpoint: Option<String>,
    /// Deliver images that are not pinned to a digest
    #[arg(long)]
    pub allow_unpinned: bool,
}

impl MigrateArgs {
    fn host_args(&self, host: &str, accept_host_key: Option<String>) -> HostArgs {
        HostArgs {
            host: Some(host.to_owned()),
            identity: self.identity.clone(),
            known_hosts: self.known_hosts.clone(),
            accept_host_key,
            connect_timeout: self.connect_timeout,
            command_timeout: self.command_timeout,
        }
    }
}

pub fn migrate(args: &MigrateArgs) -> Result<Output, Error> {
    let built = built(args.site.clone().get(), "migrate")?;
    let old_access = args.host_args(&args.from, None).access(&built.site)?;
    let new_access = args
        .host_args(&args.to, args.accept_host_key.clone())
        .access(&built.site)?;
    refuse_same_server(&old_access, &new_access)?;
    let port = built.site.firewall.ssh_port.0;
    let timeout = health_timeout(&built);
    let rt = runtime()?;
    if args.abort {
        return migrate_abort(&rt, &built, &old_access, &new_access, timeout);
    }
    refuse_unpinned(&built, args.allow_unpinned)?;
    let dir = args.copy.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "clawbake-migrate-{}",
            crate::clock::now_utc().replace([':', '-'], "")
        ))
    });
    refuse_overwrite(&dir.join("password"))?;

    // The old server runs this site, before anything changes anywhere.
    let old = rt.block_on(async {
        let old = Host::connect(&old_access, port).await?;
        migrate::runs_site(&old, &built.bundle.manifest.site).await?;
        Ok::<_, Error>(old)
    })?;
    let progress = ui::progress::StepProgress::new();
    let (provisioned, new, _) = provision_on(
        &rt,
        &built,
        &new_access,
        args.log.clone(),
        args.guard,
        args.admin_endpoint.as_deref(),
        &progress,
    )
    .inspect_err(|_| {
        eprintln!(
            "migrate: the old server {} was not touched",
            old_access.target
        );
    })?;
    drop(progress);
    print!("{provisioned}");

    // The cut-over: from here a failure puts the old gateway back.
    let stopped = std::time::Instant::now();
    let moved = rt.block_on(cut_over(&old, &new, &built, &dir, timeout));
    if !matches!(&moved, Ok((_, checks)) if verify::failed(checks) == 0) {
        let said = put_back(&rt, &old, &new, timeout);
        let (taken, checks) = moved.inspect_err(|_| eprintln!("{said}"))?;
        let mut stdout = format!(
            "restored snapshot {} onto {}\n",
            short(&taken.snapshot),
            new_access.target
        );
        stdout.push_str(&ui::checks(&checks));
        stdout.push_str(&said);
        stdout.push('\n');
        return checked(stdout, &checks);
    }
    let (taken, checks) = moved.expect("checked above");
    // The suggestion works when pasted here: the site as it was found.
    let site = site_to_paste(&built)
        .map(|site| format!(" {site}"))
        .unwrap_or_default();
    let mut stdout = format!(
        "migrated {} -> {}: snapshot {} (release {}) restored and verified\n  \
         gateway down: {:.1}s (the old one stopped -> the new one verified)\n  \
         copy:    {} (restic repository and its password, 0600)\n  \
         old:     its gateway is stopped and its data kept; retire the server once satisfied, or\n           \
         `clawbake migrate{site} --abort --from {} --to {}` to go back\n",
        old_access.target,
        new_access.target,
        short(&taken.snapshot),
        taken.release,
        stopped.elapsed().as_secs_f64(),
        dir.display(),
        old_access.target,
        new_access.target,
    );
    stdout.push_str(&ui::checks(&checks));
    Ok(Output {
        stdout,
        stderr: String::new(),
    })
}

/// Stop the old gateway, back up and copy into `dir` (the password beside
/// it), restore onto the new server and verify it.
async fn cut_over(
    old: &Host,
    new: &Host,
    built: &Built,
    dir: &Path,
    timeout: u64,
) -> Result<(backup::Taken, Vec<verify::Check>), Error> {
    migrate::stop_gateway(old).await?;
    let bar = ui::progress::BackupBar::new();
    let taken = backup::take(old, &bar, false).await?;
    bar.finish();
    backup::pull(old, &dir.join("restic"), &bar).await?;
    bar.finish();
    let password = backup::password(old).await?;
    write_private(&dir.join("password"), &password)?;
    let copy = restore::check_copy(dir)?;
    restore::restore(
        new,
        &copy,
        &password,
        Some(&taken.snapshot),
        timeout,
        &secrets::all_readers(&built.bundle),
        &bar,
    )
    .await?;
    bar.finish();
    let checks = named_site(verify::run(new, &built.site, &built.bundle).await?, built);
    Ok((taken, checks))
}

/// After a failed cut-over: the new gateway stops, the old one starts;
/// what happened, for the user.
fn put_back(rt: &tokio::runtime::Runtime, old: &Host, new: &Host, timeout: u64) -> String {
    let back = rt.block_on(async {
        let _ = migrate::stop_gateway(new).await;
        migrate::start_gateway(old, timeout).await
    });
    let target = &old.access.target;
    match back {
        Ok(None) => format!(
            "migrate: the new server's gateway is stopped, and the old server {target} serves again (healthy)"
        ),
        Ok(Some(status)) => format!(
            "migrate: the new server's gateway is stopped, and the old server's was started but is {status}: `clawbake verify --host {target}`"
        ),
        Err(e) => format!(
            "migrate: starting the old server's gateway again failed ({}): run the same command with `--abort`",
            e.render(false).trim()
        ),
    }
}

/// One address is one server, except on loopback, where port forwards
/// (local VMs, the tests) put several behind one address.
fn refuse_same_server(old_access: &Access, new_access: &Access) -> Result<(), Error> {
    let loopback = old_access
        .target
        .host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    if old_access.target == new_access.target
        || (old_access.target.host == new_access.target.host && !loopback)
    {
        return Err(Error::Message {
            message: format!(
                "`--from` and `--to` are the same server ({})",
                old_access.target.host
            ),
            help: Some(
                "a server re-imaged in place keeps its address: `clawbake backup --to DIR --password-file FILE` before, `clawbake restore DIR --password-file FILE` after (README: Same address, new server)"
                    .into(),
            ),
        });
    }
    Ok(())
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// Back to the old server: the new gateway stops first (one poller per
/// Telegram bot), then the old one starts and must come up healthy.
fn migrate_abort(
    rt: &tokio::runtime::Runtime,
    built: &Built,
    old_access: &Access,
    new_access: &Access,
    timeout: u64,
) -> Result<Output, Error> {
    let port = built.site.firewall.ssh_port.0;
    let mut stdout = String::new();
    rt.block_on(async {
        match Host::connect(new_access, port).await {
            Ok(new) => {
                migrate::stop_gateway(&new).await?;
                let _ = writeln!(stdout, "{}: gateway stopped", new_access.target);
            }
            Err(e) => {
                let _ = writeln!(
                    stdout,
                    "{}: not reachable ({}); if it still runs, stop its gateway (`docker stop openclaw`) before the old one polls Telegram",
                    new_access.target,
                    e.render(false).trim()
                );
            }
        }
        let old = Host::connect(old_access, port).await?;
        migrate::runs_site(&old, &built.bundle.manifest.site).await?;
        match migrate::start_gateway(&old, timeout).await? {
            None => {
                let _ = writeln!(stdout, "{}: gateway started, healthy", old_access.target);
                Ok(())
            }
            Some(status) => Err(Error::Host {
                code: code::FAILED,
                message: format!(
                    "the old server's gateway was started but is {status} after {timeout}s"
                ),
                detail: stdout.clone(),
                help: Some(format!("`clawbake verify --host {}` says what is wrong", old_access.target)),
            }),
        }
    })?;
    Ok(Output {
        stdout,
        stderr: String::new(),
    })
}
