//! The delivery stage: everything that talks to a server. A built bundle
//! comes in; nothing here renders or reads the site's TOML.
//!
//! - [`transport`]: SSH (connect, run, upload, host keys), the only way in;
//! - [`remote`]: a [`Host`](remote::Host) connection and where clawbake keeps
//!   its releases and state on it; every module below works through it;
//! - [`preflight`]: what the host is, checked against what the site needs;
//! - [`plan`]: what a provision would change, from manifests alone;
//! - [`apply`]: upload a release, run its steps, switch, roll back;
//! - [`verify`]: the guide's Step 10 as named pass/fail checks;
//! - [`secrets`]: user secrets moved to the host, never printed;
//! - [`backup`]: restic backups taken, listed, checked and pulled off;
//! - [`restore`]: a copy pulled off put back onto a host of its site;
//! - [`migrate`]: the old server's gateway stopped and started for a move.
//!
//! - [`status`]: what a running host is doing, in one round trip;
//! - [`logs`]: a service's log or the apply log, streamed.

pub mod apply;
pub mod backup;
pub mod logs;
pub mod migrate;
pub mod plan;
pub mod preflight;
pub mod remote;
pub mod restore;
pub mod secrets;
pub mod status;
pub mod transport;
pub mod verify;
