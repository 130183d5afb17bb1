//! What a scenario prepared for its VM: kept apart from the scenarios so
//! that the context, which keeps a lent VM with its preparation, imports
//! nothing that imports it.

use std::path::PathBuf;

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
