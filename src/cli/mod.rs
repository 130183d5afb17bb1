//! The command line: what the user typed, parsed by clap, then dispatched.

mod host;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::SiteInput;
use crate::config::layers;
use crate::error::Error;
use crate::{explain, pipeline, ui};

#[derive(Debug, Parser)]
#[command(
    name = "clawbake",
    version,
    about = "Bake a hardened single-server OpenClaw deployment from layered TOML",
    long_about = "Bake a hardened single-server OpenClaw deployment from layered TOML.\n\n\
        `clawbake build` turns the built-in layers plus your site file into dist/: \
        cloud-init user-data to paste into a VPS provider's panel, and the release tree \
        it installs. With no site file it builds the built-in example site.",
    after_help = "Start with `clawbake init mysite`, edit mysite/site.toml, then `clawbake build mysite/site.toml`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the bundle (user-data, meta-data, release tree, manifest) into dist/
    #[command(
        after_help = "Exit codes: 0 built, 1 could not write, 3 the site or a lock file is wrong.\n\
        Paste dist/user-data into the provider's \"user data\" box when creating the server."
    )]
    Build {
        /// The site file; the built-in example site when omitted
        site: Option<PathBuf>,
        /// Where to write the bundle; replaced atomically
        #[arg(long, default_value = "dist")]
        out: PathBuf,
    },
    /// Create a site directory with a commented site.toml to edit
    Init {
        /// The directory to create (it must not already hold a site.toml)
        dir: PathBuf,
    },
    /// Show a merged value and the layers that set it, e.g. `firewall.ssh_port`
    Explain {
        /// A dotted key such as `firewall.ssh_port`, or a table such as `stack.services`
        key: String,
        /// The site file; the built-in example site when omitted
        site: Option<PathBuf>,
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
        /// The site file; the built-in example site when omitted
        site: Option<PathBuf>,
        #[command(flatten)]
        host: host::HostArgs,
        /// Where to append everything the host prints [default: clawbake-HOST.log]
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
        /// Seconds after which the host undoes an SSH port or firewall change
        /// unless a new connection on the new port proved it works
        #[arg(long, value_name = "SECONDS", default_value_t = 180)]
        guard: u64,
    },
    /// Show what `provision` would do, without changing anything
    #[command(
        after_help = "Exits 7 when a rebuild is required and 8 when the host drifted, as \
        provision would; 0 otherwise."
    )]
    Plan {
        /// The site file; the built-in example site when omitted
        site: Option<PathBuf>,
        #[command(flatten)]
        host: host::HostArgs,
    },
    /// Check the running server: containers, egress whitelist, auth, firewall, config
    #[command(
        after_help = "Exits 12 when any check fails; WARN lines (a secret not set yet) do not fail."
    )]
    Verify {
        /// The site file; the built-in example site when omitted
        site: Option<PathBuf>,
        #[command(flatten)]
        host: host::HostArgs,
        /// Print the checks as JSON
        #[arg(long)]
        json: bool,
    },
    /// Go back to the release before the current one (run again to return)
    Rollback {
        /// The site file; the built-in example site when omitted
        site: Option<PathBuf>,
        #[command(flatten)]
        host: host::HostArgs,
        /// Where to append everything the host prints [default: clawbake-HOST.log]
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
    },
    /// Set, list or remove user secrets (provider API keys, bot tokens) on the server
    #[command(subcommand)]
    Secrets(host::SecretsCommand),
}

fn site_input(site: Option<PathBuf>) -> SiteInput {
    site.map_or(SiteInput::Example, SiteInput::File)
}

/// Run a parsed command; returns what to print on stdout and stderr.
pub fn run(cli: Cli) -> Result<Output, Error> {
    match cli.command {
        Command::Build { site, out } => {
            let built = pipeline::build(&site_input(site))?;
            built.bundle.write(&out)?;
            Ok(Output {
                stdout: ui::build_summary(&built, &out),
                stderr: ui::unpinned_warning(&built),
            })
        }
        Command::Init { dir } => init(&dir),
        Command::Provision {
            site,
            host,
            log,
            guard,
        } => host::provision(site, &host, log, guard),
        Command::Plan { site, host } => host::plan(site, &host),
        Command::Verify { site, host, json } => host::verify(site, &host, json),
        Command::Rollback { site, host, log } => host::rollback(site, &host, log),
        Command::Secrets(command) => host::secrets(command),
        Command::Explain { key, site } => {
            let merged = pipeline::merge(&site_input(site))?;
            Ok(Output {
                stdout: explain::explain(&merged, &key)?,
                stderr: String::new(),
            })
        }
    }
}

pub struct Output {
    pub stdout: String,
    pub stderr: String,
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
