//! What a scenario is: a name, the seed its VM boots with, and what it
//! runs against the booted VM. Kept apart from the list of scenarios, which
//! imports every one of them, so that each scenario can name these types
//! without importing the list.

use std::path::PathBuf;

use crate::context::Context;
use crate::error::Result;
use crate::report::{Checks, Timings};
use crate::vm::Vm;

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
    /// The scenario whose VM, once it has passed, this one uses as a
    /// second host beside its own (that one is kept for it, paused).
    pub borrows: Option<&'static str>,
    pub prepare: fn(&Context, &std::path::Path) -> Result<Prepared>,
    pub run: fn(&Vm, &Context, &Prepared, &mut Checks, &mut Timings) -> Result<()>,
}
