//! Scenarios. Each prepares the seed its VM boots with, then runs against
//! the booted VM: a fresh VM per scenario, run one after another. A
//! scenario that needs a provisioned host (rebuild) continues on the VM of
//! the one that provisioned it when that one ran just before and passed,
//! rather than boot and provision the same host a second time; run alone,
//! it provisions its own.

use std::path::PathBuf;

use crate::context::Context;
use crate::error::Result;
use crate::report::{Checks, Timings};
use crate::vm::Vm;

pub mod cloud_init;
pub mod provision;
pub mod rebuild;

/// What a scenario's VM boots with.
pub struct Prepared {
    pub seed: PathBuf,
    pub key: PathBuf,
    /// The admin SSH port the hardened guest will listen on.
    pub admin_port: u16,
    /// The site's dist/ directory, as `clawbake build` wrote it.
    pub dist: PathBuf,
    /// The site file.
    pub site: PathBuf,
    /// Whether the guest's admin port is forwarded from the same port.
    pub same_admin_port: bool,
    /// Whether the VM already runs this site, provisioned by the scenario
    /// this one continues.
    pub provisioned: bool,
}

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    /// The scenario whose VM, once it has passed, this one may continue.
    pub continues: Option<&'static str>,
    pub prepare: fn(&Context, &std::path::Path) -> Result<Prepared>,
    pub run: fn(&Vm, &Context, &Prepared, &mut Checks, &mut Timings) -> Result<()>,
}

pub fn all() -> Vec<Scenario> {
    vec![
        cloud_init::scenario(),
        provision::scenario(),
        rebuild::scenario(),
    ]
}
