//! What every scenario gets: where things are and how VMs run here.

use std::path::PathBuf;

use crate::accel::Accel;
use crate::base::Base;

pub struct Context {
    /// The clawbake checkout.
    pub repo: PathBuf,
    /// The `clawbake` binary under test (a release build).
    pub clawbake: PathBuf,
    pub base: Base,
    pub accel: Accel,
    /// Scratch space for this run: sites, dists, keys, VM directories.
    pub work: PathBuf,
}
