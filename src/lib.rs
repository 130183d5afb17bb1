//! clawbake: layered TOML in, a hardened single-server OpenClaw deployment out.
//!
//! The modules follow the pipeline (see DESIGN.md), in the order data flows.
//! Each imports only the ones listed before it, so the list is also the
//! dependency order (`tests/layout.rs` keeps it so):
//!
//! - [`clock`], [`diagnostic`], [`error`]: dates, errors that point at a line
//!   and say what to type, and the exit code of each failure;
//! - [`model`]: the typed site, what validation produces;
//! - [`config`]: layers, the site file and the locks loaded, merged with
//!   provenance, validated; the memory budget; `explain`;
//! - [`bundle`]: the release tree, its manifest, and writing `dist/`;
//! - [`render`]: host files, stack files, `openclaw.json` and the user-data;
//! - [`pin`]: the registry client, image sets, and the lock files written
//!   from the network;
//! - [`pipeline`]: the build stage end to end, in one call;
//! - [`host`]: delivery: SSH, preflight, plan, apply, verify, secrets;
//! - [`ui`]: the only module that formats for the terminal;
//! - [`cli`]: the command line, parsed and dispatched.

pub mod clock;
pub mod diagnostic;
pub mod error;

pub mod model;

pub mod config;

pub mod bundle;
pub mod render;

pub mod pin;
pub mod pipeline;

pub mod host;

pub mod ui;

pub mod cli;
