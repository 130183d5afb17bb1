//! The errors a command can end with, and the exit code of each.
//!
//! Codes are part of the interface: scripts and the VM tests tell "your
//! site is wrong" from "the disk is full" without reading the message.

use std::fmt::Write as _;

use crate::diagnostic::source::Sources;
use crate::diagnostic::{self, Diagnostic};

/// Exit codes. 2 is clap's, for a command line it cannot parse.
pub mod code {
    /// Something failed while doing the work (I/O, a tool).
    pub const FAILED: i32 = 1;
    /// The command line is wrong: clap's own code, and ours for a value
    /// clap takes as text (`--host`, `--identity`).
    pub const USAGE: i32 = 2;
    /// The site, a layer or a lock file is wrong.
    pub const BAD_INPUT: i32 = 3;
    /// The host cannot be reached, or refused the user or key.
    pub const UNREACHABLE: i32 = 4;
    /// The host's key is unknown or has changed.
    pub const HOST_KEY: i32 = 5;
    /// A step failed on the host (its output is in the log).
    pub const STEP_FAILED: i32 = 6;
    /// Host-scope files changed: provision a fresh server instead.
    pub const REBUILD_REQUIRED: i32 = 7;
    /// Files on the host no longer match their release.
    pub const DRIFT: i32 = 8;
    /// The host is not one clawbake can provision (OS, sudo, disk, memory).
    pub const HOST_UNSUITABLE: i32 = 11;
    /// `verify` (or the verify after a provision) found a failing check.
    pub const VERIFY_FAILED: i32 = 12;
    /// A lock is stale or an image is unpinned (`pin images --check`,
    /// `build --locked`): the input is fine, but not yet pinned.
    pub const STALE: i32 = 9;
    /// A registry or Cloudflare's API failed: unreachable, a 4xx/5xx, a
    /// timeout, or content that does not match its digest.
    pub const NETWORK: i32 = 10;
    /// A backup that does not check out: a file changed, the password
    /// does not open it, or restic cannot read it back.
    pub const BACKUP_DAMAGED: i32 = 13;
    /// A backup of another site than the host runs.
    pub const BACKUP_OTHER_SITE: i32 = 14;
    /// The host runs no clawbake release to restore into.
    pub const NOT_CLAWBAKE_HOST: i32 = 15;
}

#[derive(Debug)]
pub enum Error {
    /// Problems with the input, each pointing into `sources`.
    Input {
        sources: Box<Sources>,
        diagnostics: Vec<Diagnostic>,
    },
    /// An operation failed; `action` says what was being done, as a gerund.
    Io {
        action: String,
        source: std::io::Error,
    },
    /// A problem with no file to point at, and what to do about it.
    Message {
        message: String,
        help: Option<String>,
    },
    /// A command-line value that cannot be used (exit 2, as clap's).
    Usage {
        message: String,
        help: Option<String>,
    },
    /// Talking to the host failed: `message` says what was being done, to
    /// whom; `code` tells an unreachable host from an unknown host key.
    Ssh {
        code: i32,
        message: String,
        help: Option<String>,
    },
    /// The host refused, or is not in the state the command needs:
    /// `detail` lists what (files, checks, output lines).
    Host {
        code: i32,
        message: String,
        detail: String,
        help: Option<String>,
    },
    /// A lock that would change, or an image without a digest.
    Stale { message: String, help: String },
    /// Nothing went wrong, and the exit code says something: `plan
    /// --detailed-exitcode` exits 2 when a release is pending. Prints nothing.
    Exit { code: i32 },
    /// A registry or Cloudflare's API failed. `action` says what was being
    /// done and to which image or URL, as a gerund; `detail` what happened.
    Network {
        action: String,
        detail: String,
        help: Option<String>,
    },
}

impl Error {
    pub fn code(&self) -> i32 {
        match self {
            Error::Input { .. } | Error::Message { .. } => code::BAD_INPUT,
            Error::Io { .. } => code::FAILED,
            Error::Usage { .. } => code::USAGE,
            Error::Ssh { code, .. } | Error::Host { code, .. } | Error::Exit { code } => *code,
            Error::Stale { .. } => code::STALE,
            Error::Network { .. } => code::NETWORK,
        }
    }

    /// The message for stderr.
    pub fn render(&self, color: bool) -> String {
        match self {
            Error::Input {
                sources,
                diagnostics,
            } => diagnostic::render_all(diagnostics, sources, color),
            Error::Io { action, source } => format!("error: {action}: {source}\n"),
            Error::Exit { .. } => String::new(),
            Error::Message { message, help }
            | Error::Usage { message, help }
            | Error::Ssh { message, help, .. } => {
                with_help(format!("error: {message}\n"), help.as_deref())
            }
            Error::Host {
                message,
                detail,
                help,
                ..
            } => {
                let mut out = format!("error: {message}\n");
                for line in detail.lines() {
                    let _ = writeln!(out, "  | {line}");
                }
                with_help(out, help.as_deref())
            }
            Error::Stale { message, help } => with_help(format!("error: {message}\n"), Some(help)),
            Error::Network {
                action,
                detail,
                help,
            } => with_help(format!("error: {action}: {detail}\n"), help.as_deref()),
        }
    }
}

fn with_help(mut out: String, help: Option<&str>) -> String {
    if let Some(h) = help {
        let _ = writeln!(out, "  = help: {h}");
    }
    out
}
