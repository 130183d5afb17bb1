//! Scenarios. Each prepares the seed its VM boots with, then runs against
//! the booted VM: a fresh VM per scenario, run one after another. A
//! scenario that needs a provisioned host (rebuild) continues on the VM of
//! the one that provisioned it when that one ran just before and passed,
//! rather than boot and provision the same host a second time; run alone,
//! it provisions its own. A scenario that needs a second host (migrate)
//! borrows the VM of one that ran before (cloud-init), kept paused for it,
//! rather than boot another.

pub mod checks;
pub mod cloud_init;
pub mod migrate;
pub mod provision;
pub mod rebuild;
pub mod scenario;

pub use scenario::{Prepared, Scenario};

pub fn all() -> Vec<Scenario> {
    vec![
        cloud_init::scenario(),
        provision::scenario(),
        rebuild::scenario(),
        migrate::scenario(),
    ]
}
