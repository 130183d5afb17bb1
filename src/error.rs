//! The errors a command can end with, and the exit code of each.
//!
//! Codes are part of the interface: scripts and the VM tests tell "your
//! site is wrong" from "the disk is full" without reading the message.

use std::fmt::Write as _;

use crate::config::source::Sources;
use crate::diagnostic::{self, Diagnostic};

/// Exit codes. 2 is clap's, for a command line it cannot parse.
pub mod code {
    /// Something failed while doing the work (I/O, a tool).
    pub const FAILED: i32 = 1;
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
    /// Talking to the host failed.
    Ssh(crate::transport::ssh::SshError),
    /// The host refused, or is not in the state the command needs:
    /// `detail` lists what (files, checks, output lines).
    Host {
        code: i32,
        message: String,
        detail: String,
        help: Option<String>,
    },
}

impl Error {
    pub fn code(&self) -> i32 {
        match self {
            Error::Input { .. } | Error::Message { .. } => code::BAD_INPUT,
            Error::Io { .. } => code::FAILED,
            Error::Ssh(e) => e.code(),
            Error::Host { code, .. } => *code,
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
            Error::Message { message, help } => {
                with_help(format!("error: {message}\n"), help.as_deref())
            }
            Error::Ssh(e) => with_help(format!("error: {e}\n"), e.help().as_deref()),
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
        }
    }
}

fn with_help(mut out: String, help: Option<&str>) -> String {
    if let Some(h) = help {
        let _ = writeln!(out, "  = help: {h}");
    }
    out
}

impl From<crate::transport::ssh::SshError> for Error {
    fn from(e: crate::transport::ssh::SshError) -> Error {
        Error::Ssh(e)
    }
}

impl From<crate::bundle::WriteError> for Error {
    fn from(e: crate::bundle::WriteError) -> Error {
        Error::Io {
            action: e.action,
            source: e.source,
        }
    }
}
