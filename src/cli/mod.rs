//! The command line: what the user typed, parsed by clap, then dispatched.

mod host;
mod shared;

pub use shared::Output;
use shared::{SiteArg, find_site, runtime};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use clap::{Parser, Subcommand};

use crate::config::SiteInput;
use crate::config::explain;
use crate::config::layers;
use crate::error::Error;
use crate::pin::{self, registry};
use crate::{pipeline, ui};

#[derive(Debug, Parser)]
#[command(
    name = "clawbake",
    version,
    about = "Bake a hardened single-server OpenClaw deployment from layered TOML",
    long_about = "Bake a hardened single-server OpenClaw deployment from layered TOML.\n\n\
        `clawbake build` turns the built-in layers plus your site file into dist/: \
        cloud-init user-data to paste into a VPS provider's panel, and the release tree \
        it installs. The site is the file (or directory) you name, else $CLAWBAKE_SITE, else \
        ./site.toml (this directory only, never a parent's). With none of them, `build` and \
        `explain` use the built-in example, and every command that acts on a server refuses.",
    after_help = "Start with `clawbake init mysite && cd mysite`, edit site.toml, then `clawbake build` and \
        `clawbake provision --host root@SERVER`."
)]
pub struct Cli {
    /// None: the short help and the first commands to type (exit 0).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the bundle (user-data, meta-data, release tree, manifest) into dist/
    #[command(
        after_help = "Exit codes: 0 built, 1 could not write, 3 the site or a lock file is wrong, \
        9 an image is unpinned or a lock is stale (--locked), or the image set does not match the pins.\n\
        Paste dist/user-data into the provider's \"user data\" box when creating the server."
    )]
    Build {
        /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml, else
        /// the built-in example]
        site: Option<PathBuf>,
        /// Where to write the bundle; replaced atomically
        #[arg(long, default_value = "dist")]
        out: PathBuf,
        /// Refuse to build if an image is unpinned or images.lock names an
        /// image the site no longer runs (exit 9); no network is used
        #[arg(long)]
        locked: bool,
        /// Every warning is an error (exit 3): unpinned images, a reserved
        /// domain such as the template's, the built-in example
        #[arg(long)]
        strict: bool,
        /// The summary as JSON on stdout (warnings in it too, and on stderr)
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script: `clawbake completions bash > /etc/bash_completion.d/clawbake`
    #[command(
        after_help = "Example: `clawbake completions zsh > ~/.zfunc/_clawbake` (with `fpath+=~/.zfunc` in ~/.zshrc), \
        `clawbake completions fish > ~/.config/fish/completions/clawbake.fish`."
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `just man` writes it to target/man/clawbake.1
    #[command(hide = true)]
    Man,
    /// Validate and render the site, as `build` does, and write nothing
    #[command(
        after_help = "Exit codes: 0 the site builds, 3 it does not (or, with --strict, it warns).\n\
        Example: `clawbake check --strict` before a commit, in CI."
    )]
    Check {
        /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml, else
        /// the built-in example]
        site: Option<PathBuf>,
        /// Every warning is an error (exit 3), as `build --strict`
        #[arg(long)]
        strict: bool,
    },
    /// Write a lock file from the network: image digests or Cloudflare's ranges
    #[command(subcommand)]
    Pin(Pin),
    /// Work with the site's image set, the images shipped in the bundle
    #[command(subcommand)]
    Images(Images),
    /// Create a site directory with a commented site.toml to edit
    Init {
        /// The directory to create (it must not already hold a site.toml)
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Show a merged value and the layers that set it, e.g. `firewall.ssh_port`
    Explain {
        /// A dotted key such as `firewall.ssh_port`, or a table such as `stack.services`
        key: String,
        /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml, else
        /// the built-in example]
        site: Option<PathBuf>,
        /// As JSON: `{"key", "layers", "values": [{"key", "value", "set_in", "overrides"}]}`
        #[arg(long)]
        json: bool,
    },
    /// Deliver the bundle to a server over SSH: every step on a fresh
    /// server, a new stack release when only stack files changed
    #[command(
        after_help = "Exit codes: 0 done or nothing to do, 3 the site is wrong, 4 unreachable or \
        login refused, 5 host key unknown or changed, 6 a step failed, 7 rebuild required (host files \
        changed), 8 the host drifted, 11 the host is not suitable, 12 verify failed.\n\
        Example: clawbake provision --host root@203.0.113.7 mysite/site.toml"
    )]
    Provision {
        #[command(flatten)]
        site: SiteArg,
        #[command(flatten)]
        host: host::HostArgs,
        /// Where to append everything the host prints [default: clawbake-HOST.log]
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
        /// Seconds after which the host undoes an SSH port or firewall change
        /// unless a new connection on the new port proved it works (60 to 86400;
        /// the host also undoes them if it restarts before that)
        #[arg(long, value_name = "SECONDS", default_value_t = 180,
            value_parser = clap::value_parser!(u64).range(crate::host::apply::GUARD_MIN_SECS..=86_400))]
        guard: u64,
        /// Where the site's SSH port is reached from here once sshd moves,
        /// when it is not the same host on that port (a port forward, a NAT)
        #[arg(long, value_name = "HOST:PORT")]
        admin_endpoint: Option<String>,
        /// Deliver images that are not pinned to a digest (pulled by tag,
        /// which can move); without it, provision refuses them
        #[arg(long)]
        allow_unpinned: bool,
    },
    /// The running server at a glance: release, uptime, services and their
    /// memory, disk, the last backup, and what a provision would do
    Status {
        #[command(flatten)]
        site: SiteArg,
        #[command(flatten)]
        host: host::HostArgs,
        /// As JSON: `{"release", "applied_at", "uptime_secs", "services": [{"name",
        /// "state", "status", "memory"}], "disk_free_bytes", "disk_size_bytes",
        /// "last_backup", "pending"}`
        #[arg(long)]
        json: bool,
    },
    /// A service's log (every service when none is named), or the host's
    /// apply log with `--step`; streamed, `--follow` to keep it open
    Logs {
        /// A service of the site's stack: `openclaw`, `litellm`, `egress`, ...
        service: Option<String>,
        #[command(flatten)]
        host: host::HostArgs,
        /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml]
        #[arg(long)]
        site: Option<PathBuf>,
        /// Keep the log open and print new lines as they come (Ctrl-C ends)
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only lines since then: `10m`, `2h`, or a time like `2026-12-07T01:00:00Z`
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// How many of the last lines
        #[arg(long, default_value_t = 200)]
        tail: u32,
        /// The apply log of the steps (`/var/log/clawbake/apply.log`) instead
        #[arg(long, conflicts_with_all = ["service", "since"])]
        step: bool,
    },
    /// An interactive shell on the server, on its admin port, with the host
    /// key clawbake pinned; or one command, after `--`
    Ssh {
        /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml]
        #[arg(long)]
        site: Option<PathBuf>,
        #[command(flatten)]
        host: host::HostArgs,
        /// A command to run instead of a shell
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Show what `provision` would do, without changing anything
    #[command(
        after_help = "Exits 7 when a rebuild is required and 8 when the host drifted, as \
        provision would; 0 otherwise."
    )]
    Plan {
        #[command(flatten)]
        site: SiteArg,
        #[command(flatten)]
        host: host::HostArgs,
        /// The decision as JSON: `decision`, `target`, `release`, `changes`, `drift`
        #[arg(long)]
        json: bool,
        /// Exit 2 when provision would change something (a first provision or
        /// a stack release), 0 when nothing, as terraform does
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Check the running server: containers, egress whitelist, auth, firewall, config
    #[command(
        after_help = "Exits 12 when any check fails; WARN lines (a secret not set yet) do not fail."
    )]
    Verify {
        #[command(flatten)]
        site: SiteArg,
        #[command(flatten)]
        host: host::HostArgs,
        /// Print the checks as JSON
        #[arg(long)]
        json: bool,
    },
    /// Go back to the release before the current one (run again to return)
    Rollback {
        #[command(flatten)]
        site: SiteArg,
        #[command(flatten)]
        host: host::HostArgs,
        /// Where to append everything the host prints [default: clawbake-HOST.log]
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
    },
    /// Set, list or remove user secrets (provider API keys, bot tokens) on the server
    #[command(subcommand)]
    Secrets(host::SecretsCommand),
    /// Back up the server now (restic: encrypted, checked), and pull the
    /// backups off it
    Backup(host::BackupArgs),
    /// Put a backup copied off a server (`backup --to`) onto a server of
    /// the same site, then verify it
    Restore(host::RestoreArgs),
    /// Move the site to a fresh server: provision it, stop the old
    /// gateway, back up, restore, verify (`--abort` goes back)
    Migrate(host::MigrateArgs),
}

#[derive(Debug, Subcommand)]
pub enum Pin {
    /// Resolve every image tag of the site to its linux/amd64 digest, into images.lock
    #[command(
        after_help = "Exit codes: 0 pinned (or up to date), 3 bad input, 9 the lock is stale (--check), \
        10 a registry failed. No lock file changes unless every image resolved."
    )]
    Images {
        /// The site file (or its directory); images.lock is written beside it
        site: Option<PathBuf>,
        /// Do not write: exit 9 if images.lock differs from what the registries say now
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Refresh cloudflare.lock from Cloudflare's API, showing what changed
    #[command(
        after_help = "Exit codes: 0 written, 3 bad input, 10 the API failed or its answer was refused \
        (empty, a default route, a private range). The lock changes only after a good answer."
    )]
    Cloudflare {
        /// The site file (or its directory); cloudflare.lock is written beside it
        site: Option<PathBuf>,
        /// Cloudflare's IP ranges API; also `CLAWBAKE_CLOUDFLARE_URL`
        #[arg(long, value_name = "URL")]
        cloudflare_url: Option<String>,
        /// Seconds to wait to connect and for each read; also `CLAWBAKE_TIMEOUT` [default: 30]
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Images {
    /// Download the pinned images into images.tar beside the site, for `images.ship = true`
    #[command(
        after_help = "Blobs are cached (and partial downloads resumed) in $CLAWBAKE_CACHE_DIR, \
        else $XDG_CACHE_HOME/clawbake/blobs, else ~/.cache/clawbake/blobs; each is checked against its sha256.\n\
        Exit codes: 0 saved, 1 could not write, 9 an image is unpinned, 10 a registry failed."
    )]
    Save {
        /// The site file (or its directory); images.tar is written beside it
        site: Option<PathBuf>,
        /// Blobs downloaded at once
        #[arg(long, default_value_t = 4)]
        parallel: usize,
        #[command(flatten)]
        net: NetArgs,
    },
}

/// Where the registry commands fetch from, and how long they wait.
#[derive(Debug, clap::Args)]
pub struct NetArgs {
    /// Fetch REGISTRY's images from URL instead, e.g. `docker.io=https://mirror.example.com`;
    /// repeatable; also `CLAWBAKE_REGISTRY_MIRRORS` (comma-separated). Plain http:// only to loopback
    #[arg(long = "registry-mirror", value_name = "REGISTRY=URL")]
    registry_mirror: Vec<String>,
    /// Seconds to wait to connect and for each read; also `CLAWBAKE_TIMEOUT` [default: 30]
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
}

/// `--timeout`, else `CLAWBAKE_TIMEOUT`, else 30 seconds.
fn timeout(flag: Option<f64>) -> Result<Duration, Error> {
    let text = match (flag, std::env::var("CLAWBAKE_TIMEOUT")) {
        (Some(t), _) => t.to_string(),
        (None, Ok(t)) => t,
        (None, Err(_)) => "30".to_owned(),
    };
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|t| *t > 0.0 && *t <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| Error::Message {
            message: format!("the timeout `{text}` is not a number of seconds above 0"),
            help: Some("write e.g. `--timeout 30`".to_owned()),
        })
}

/// `--cloudflare-url`, else `CLAWBAKE_CLOUDFLARE_URL`, else Cloudflare's.
fn cloudflare_url(flag: Option<String>) -> Result<Url, Error> {
    let url = flag
        .or_else(|| std::env::var("CLAWBAKE_CLOUDFLARE_URL").ok())
        .unwrap_or_else(|| pin::CLOUDFLARE_URL.to_owned());
    registry::checked_url(&url).map_err(|why| Error::Message {
        message: format!("invalid Cloudflare API URL: {why}"),
        help: Some(format!("leave it unset for `{}`", pin::CLOUDFLARE_URL)),
    })
}

impl NetArgs {
    fn mirrors(&self) -> Result<BTreeMap<String, Url>, Error> {
        let env = std::env::var("CLAWBAKE_REGISTRY_MIRRORS").unwrap_or_default();
        let from_env = env.split(',').map(str::trim).filter(|m| !m.is_empty());
        // Flags after the environment, so a flag wins for the same registry.
        from_env
            .chain(self.registry_mirror.iter().map(String::as_str))
            .map(registry::parse_mirror)
            .collect()
    }

    fn client(&self) -> Result<registry::Client, Error> {
        registry::Client::new(registry::Options {
            mirrors: self.mirrors()?,
            timeout: timeout(self.timeout)?,
            cache_dir: cache_dir()?,
        })
    }
}

/// Where downloaded blobs are kept between runs.
fn cache_dir() -> Result<PathBuf, Error> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("CLAWBAKE_CACHE_DIR") {
        return Ok(dir);
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Ok(dir.join("clawbake/blobs"));
    }
    var("HOME")
        .map(|h| h.join(".cache/clawbake/blobs"))
        .ok_or_else(|| Error::Message {
            message: "there is no cache directory for downloaded images".to_owned(),
            help: Some("set `CLAWBAKE_CACHE_DIR` (or `XDG_CACHE_HOME` or `HOME`)".to_owned()),
        })
}

/// The site a lock-writing command works on: a site file, or a directory
/// holding one. The built-in example has no directory to write into.
fn own_site(site: Option<PathBuf>, command: &str) -> Result<(SiteInput, PathBuf), Error> {
    let SiteInput::File(file) = find_site(site) else {
        return Err(Error::Message {
            message: format!(
                "`clawbake {command}` writes beside a site file, and there is no site here (the built-in example has no directory)"
            ),
            help: Some(format!(
                "run `clawbake init DIR` first, then `clawbake {command}` in DIR (or pass DIR/site.toml)"
            )),
        });
    };
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((SiteInput::File(file), dir))
}

/// One example per command, ending its `--help` (and its section of the
/// man page): the command path, then a line that works when pasted in a
/// site's directory.
const EXAMPLES: &[(&[&str], &str)] = &[
    (
        &["build"],
        "clawbake build --strict            # in the site's directory: ./site.toml -> dist/",
    ),
    (
        &["check"],
        "clawbake check --strict            # before a commit, in CI",
    ),
    (
        &["init"],
        "clawbake init mysite && cd mysite  # then edit site.toml",
    ),
    (
        &["explain"],
        "clawbake explain firewall.ssh_port   # the value and the layers that set it",
    ),
    (
        &["plan"],
        "clawbake plan --host root@203.0.113.7:9922 --detailed-exitcode",
    ),
    (
        &["logs"],
        "clawbake logs openclaw --since 10m --follow   # or `--step` for the apply log",
    ),
    (
        &["ssh"],
        "clawbake ssh --host root@203.0.113.7:9922   # or `-- docker ps` for one command",
    ),
    (
        &["status"],
        "clawbake status --host root@203.0.113.7:9922 --json",
    ),
    (
        &["verify"],
        "clawbake verify --host root@203.0.113.7:9922 --json",
    ),
    (
        &["rollback"],
        "clawbake rollback --host root@203.0.113.7:9922",
    ),
    (
        &["secrets", "set"],
        "clawbake secrets set ANTHROPIC_API_KEY --host root@203.0.113.7:9922   # asks, without echo",
    ),
    (
        &["secrets", "list"],
        "clawbake secrets list --host root@203.0.113.7:9922",
    ),
    (
        &["secrets", "rotate"],
        "clawbake secrets rotate LITELLM_GATEWAY_KEY --host root@203.0.113.7:9922",
    ),
    (
        &["secrets", "rm"],
        "clawbake secrets rm VOYAGE_API_KEY --host root@203.0.113.7:9922",
    ),
    (
        &["backup"],
        "clawbake backup --host root@203.0.113.7:9922 --to backups/ --password-file backup.pw",
    ),
    (
        &["backup", "list"],
        "clawbake backup list --host root@203.0.113.7:9922",
    ),
    (
        &["backup", "check"],
        "clawbake backup check --host root@203.0.113.7:9922",
    ),
    (
        &["restore"],
        "clawbake restore backups/ --password-file backup.pw --host root@198.51.100.9:9922",
    ),
    (
        &["migrate"],
        "clawbake migrate --from root@203.0.113.7:9922 --to root@198.51.100.9",
    ),
    (
        &["pin", "images"],
        "clawbake pin images    # where a registry is reachable; review images.lock",
    ),
    (
        &["pin", "cloudflare"],
        "clawbake pin cloudflare   # Cloudflare's current ranges into the lock",
    ),
    (
        &["images", "save"],
        "clawbake images save   # images.tar beside site.toml, for images.ship = true",
    ),
    (
        &["completions"],
        "clawbake completions bash > /etc/bash_completion.d/clawbake",
    ),
];

/// The command line, with each command's example after its help.
pub fn command() -> clap::Command {
    use clap::CommandFactory as _;
    let mut cli = Cli::command();
    for (path, example) in EXAMPLES {
        cli = with_example(cli, path, example);
    }
    cli
}

fn with_example(cmd: clap::Command, path: &[&str], example: &str) -> clap::Command {
    match path {
        [] => {
            let before = cmd
                .get_after_help()
                .map(|h| format!("{h}\n\n"))
                .unwrap_or_default();
            cmd.after_help(format!("{before}Example:\n  {example}"))
        }
        [first, rest @ ..] => cmd.mut_subcommand(*first, |sub| with_example(sub, rest, example)),
    }
}

/// Parse the command line (clap's errors and `--help` exit from here).
pub fn parse() -> Cli {
    use clap::FromArgMatches as _;
    Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
}

/// `clawbake completions SHELL`: the script, from clap's definitions.
fn completions(shell: clap_complete::Shell) -> Output {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command(), "clawbake", &mut out);
    Output {
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::new(),
    }
}

/// `clawbake man`: the man page (roff), from the same definitions.
fn man() -> Result<Output, Error> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command())
        .render(&mut out)
        .map_err(|source| Error::Io {
            action: "rendering the man page".into(),
            source,
        })?;
    Ok(Output {
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::new(),
    })
}

/// `clawbake` alone: the short help, which ends with the first commands.
fn short_help() -> Output {
    Output {
        stdout: command().render_help().to_string(),
        stderr: String::new(),
    }
}

/// `clawbake build`: the bundle into `out`, its summary, its warnings.
fn build(
    site: Option<PathBuf>,
    out: &Path,
    locked: bool,
    strict: bool,
    json: bool,
) -> Result<Output, Error> {
    let built = pipeline::build(&find_site(site))?;
    if locked {
        pin::check_locked(&built.site, &built.images, built.merged.site_dir.as_deref())?;
    }
    let warnings = warnings(&built, strict)?;
    built.bundle.write(out)?;
    Ok(Output {
        stdout: if json {
            ui::build_json(&built, out, &warnings)
        } else {
            ui::build_summary(&built, out)
        },
        stderr: warnings,
    })
}

/// `clawbake check`: everything `build` checks, nothing written.
fn check(site: Option<PathBuf>, strict: bool) -> Result<Output, Error> {
    let built = pipeline::build(&find_site(site))?;
    let warnings = warnings(&built, strict)?;
    Ok(Output {
        stdout: ui::check_summary(&built),
        stderr: warnings,
    })
}

/// A build's warnings; with `strict`, an error when there is any.
fn warnings(built: &crate::pipeline::Built, strict: bool) -> Result<String, Error> {
    let mut text = format!(
        "{}{}",
        ui::site_warnings(built),
        ui::unpinned_warning(built)
    );
    if built.merged.site_dir.is_none() {
        text.push_str("warning: this is the built-in example site, for exploring: its key and addresses are placeholders\n");
    }
    if !strict || text.is_empty() {
        return Ok(text);
    }
    let count = text.lines().filter(|l| l.starts_with("warning: ")).count();
    Err(Error::Message {
        message: format!(
            "{count} warning{} and `--strict` makes {} an error; nothing was written:\n{}",
            if count == 1 { "" } else { "s" },
            if count == 1 { "it" } else { "each" },
            text.trim_end()
        ),
        help: Some("fix what each warning names, or drop `--strict`".into()),
    })
}

/// The runtime for the commands that fetch or talk to a host; the others
/// never start one.
/// Run a parsed command; returns what to print on stdout and stderr.
pub fn run(cli: Cli) -> Result<Output, Error> {
    let Some(command) = cli.command else {
        return Ok(short_help());
    };
    match command {
        Command::Build {
            site,
            out,
            locked,
            strict,
            json,
        } => build(site, &out, locked, strict, json),
        Command::Check { site, strict } => check(site, strict),
        Command::Completions { shell } => Ok(completions(shell)),
        Command::Man => man(),
        Command::Init { dir } => init(&dir),
        Command::Provision {
            site,
            host,
            log,
            guard,
            admin_endpoint,
            allow_unpinned,
        } => host::provision(
            site.get(),
            &host,
            log,
            guard,
            admin_endpoint.as_deref(),
            allow_unpinned,
        ),
        Command::Plan {
            site,
            host,
            json,
            detailed_exitcode,
        } => host::plan(site.get(), &host, json, detailed_exitcode),
        Command::Verify { site, host, json } => host::verify(site.get(), &host, json),
        Command::Status { site, host, json } => host::status(site.get(), &host, json),
        Command::Logs {
            service,
            host,
            site,
            follow,
            since,
            tail,
            step,
        } => host::logs(
            site,
            &host,
            &crate::host::logs::Request {
                service: service.as_deref(),
                step_log: step,
                follow,
                since: since.as_deref(),
                tail,
            },
        ),
        Command::Ssh {
            site,
            host,
            command,
        } => host::ssh(site, &host, &command),
        Command::Rollback { site, host, log } => host::rollback(site.get(), &host, log),
        Command::Secrets(command) => host::secrets(command),
        Command::Backup(args) => host::backup(args),
        Command::Restore(args) => host::restore(args),
        Command::Migrate(args) => host::migrate(&args),
        Command::Pin(pin) => pin_lock(pin),
        Command::Images(Images::Save {
            site,
            parallel,
            net,
        }) => images_save(site, parallel, &net),
        Command::Explain { key, site, json } => explain_key(site, &key, json),
    }
}

/// `clawbake pin images|cloudflare`: a lock file from the network.
fn pin_lock(command: Pin) -> Result<Output, Error> {
    match command {
        Pin::Images { site, check, net } => {
            let (input, dir) = own_site(site, "pin images")?;
            let prepared = pipeline::prepare(&input)?;
            let client = net.client()?;
            let pinned = runtime()?.block_on(pin::pin_images(
                &client,
                &prepared.site,
                &dir,
                &prepared.images,
                check,
            ))?;
            Ok(Output {
                stdout: ui::pinned_images(&pinned, check),
                stderr: String::new(),
            })
        }
        Pin::Cloudflare {
            site,
            cloudflare_url: url,
            timeout: wait,
        } => {
            let (input, dir) = own_site(site, "pin cloudflare")?;
            let prepared = pipeline::prepare(&input)?;
            let url = cloudflare_url(url)?;
            let timeout = timeout(wait)?;
            let pinned = runtime()?.block_on(pin::pin_cloudflare(
                &url,
                timeout,
                &prepared.cloudflare,
                &dir,
            ))?;
            Ok(Output {
                stdout: ui::pinned_cloudflare(&pinned),
                stderr: String::new(),
            })
        }
    }
}

/// `clawbake images save`: the pinned images into images.tar, with a bar.
fn images_save(site: Option<PathBuf>, parallel: usize, net: &NetArgs) -> Result<Output, Error> {
    let (input, dir) = own_site(site, "images save")?;
    let prepared = pipeline::prepare(&input)?;
    let images = pin::pinned_images(&prepared.site, &prepared.images)?;
    let client = net.client()?;
    let bar = ui::progress::DownloadBar::new();
    let progress: std::sync::Arc<dyn registry::Progress> = std::sync::Arc::new(bar.clone());
    let archive = dir.join(pin::IMAGE_SET);
    let saved = runtime()?.block_on(pin::save_images(
        &client, &images, &archive, progress, parallel,
    ));
    bar.finish();
    Ok(Output {
        stdout: ui::saved_images(&saved?),
        stderr: String::new(),
    })
}

/// `clawbake explain KEY`: the merged value and the layers that set it.
fn explain_key(site: Option<PathBuf>, key: &str, json: bool) -> Result<Output, Error> {
    let merged = pipeline::merge(&find_site(site))?;
    Ok(Output {
        stdout: if json {
            explain::explain_json(&merged, key)?
        } else {
            explain::explain(&merged, key)?
        },
        stderr: String::new(),
    })
}

fn init(dir: &std::path::Path) -> Result<Output, Error> {
    let site = dir.join("site.toml");
    if site.exists() {
        return Err(Error::Message {
            message: format!("`{}` already exists", site.display()),
            help: Some(format!(
                "edit it, or choose another directory than `{}`",
                dir.display()
            )),
        });
    }
    let io = |action: String| move |source| Error::Io { action, source };
    std::fs::create_dir_all(dir).map_err(io(format!("creating `{}`", dir.display())))?;
    let (keys, found) = local_public_key();
    let text = layers::INIT_SITE.text.replace("[KEYS]", &keys);
    std::fs::write(&site, text).map_err(io(format!("writing `{}`", site.display())))?;
    let lock = dir.join("images.lock");
    if !lock.exists() {
        std::fs::write(&lock, layers::EXAMPLE_IMAGES_LOCK.text)
            .map_err(io(format!("writing `{}`", lock.display())))?;
    }
    let key_line = match found {
        Some(path) => format!("  (your SSH key from {path} is already in)\n"),
        None => String::new(),
    };
    Ok(Output {
        stdout: format!(
            "created {site}\n{key_line}next:\n  1. set `domain`, your SSH key and your admin address (the TODOs) in {site}\n  2. clawbake build {site}\n  3. paste dist/user-data into your provider's \"user data\" box\n",
            site = site.display()
        ),
        stderr: String::new(),
    })
}

/// The first public key in `~/.ssh`, as a TOML list, and where it came from.
fn local_public_key() -> (String, Option<String>) {
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
        return ("[]".to_owned(), None);
    };
    for name in ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"] {
        let path = home.join(".ssh").join(name);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let line = text.lines().next().unwrap_or("").trim();
            if crate::model::SshKey::parse(line).is_ok() {
                let key = crate::config::tree::toml_string(line);
                return (format!("[\n  {key},\n]"), Some(path.display().to_string()));
            }
        }
    }
    ("[]".to_owned(), None)
}
