//! clawbake: layered TOML in, a hardened single-server OpenClaw deployment out.
//!
//! The modules follow the pipeline (see DESIGN.md), in the order data flows:
//!
//! - [`cli`]: the command line, parsed and dispatched;
//! - [`config`]: load layers and the site file, merge with provenance, validate;
//! - [`model`]: the typed site that validation produces;
//! - [`budget`]: the memory budget computed from the model;
//! - [`locks`]: Cloudflare's ranges and the site's image digests;
//! - [`render`]: host files, stack files and the cloud-config user-data;
//! - [`bundle`]: the release tree, its manifest, and writing `dist/`;
//! - [`imageset`]: image archives that `docker load` reads, for hosts without a registry;
//! - [`pipeline`]: all of the above in one call;
//! - [`plan`]: what a provision would do to a host, from manifests alone;
//! - [`preflight`]: what the host is, checked against what the site needs;
//! - [`transport`]: SSH to the host: connect, run, upload, host keys;
//! - [`provision`]: deliver a release, run its steps, switch, roll back;
//! - [`secrets`]: user secrets moved to the host, never printed;
//! - [`verify`]: the guide's Step 10 as named pass/fail checks;
//! - [`explain`]: where a merged value came from;
//! - [`diagnostic`], [`error`]: errors that point at a line and say what to type;
//! - [`ui`]: the only module that formats for the terminal.

pub mod budget;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod error;
pub mod explain;
pub mod imageset;
pub mod locks;
pub mod model;
pub mod pipeline;
pub mod plan;
pub mod preflight;
pub mod provision;
pub mod render;
pub mod secrets;
pub mod transport;
pub mod ui;
pub mod verify;
