//! What every scenario gets: where things are and how VMs run here, and
//! the VMs one lane lends to another.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::accel::Accel;
use crate::base::Base;
use crate::error::Result;
use crate::prepared::Prepared;
use crate::vm::Vm;
use crate::{bail, say};

pub struct Context {
    /// The clawbake checkout.
    pub repo: PathBuf,
    /// The `clawbake` binary under test (a release build).
    pub clawbake: PathBuf,
    pub base: Base,
    pub accel: Accel,
    /// Scratch space for this run: sites, dists, keys, VM directories.
    pub work: PathBuf,
    /// The run's one SSH key: every site authorizes it, so a command that
    /// logs in to two VMs (`clawbake migrate`) needs one `--identity`.
    pub key: PathBuf,
    /// The scenarios whose VM, once passed, a later scenario borrows.
    pub lent: Vec<&'static str>,
    /// Their VMs, parked (paused) once they passed; `None` for one that
    /// did not pass.
    parked: Mutex<BTreeMap<&'static str, Option<(Vm, Prepared)>>>,
    parked_changed: Condvar,
    /// A backup and a restore of OpenClaw's state on a provisioned VM, as
    /// the provision scenario timed them: the floor a migration's downtime
    /// is measured against.
    pub bare_backup_restore: Mutex<Option<Duration>>,
}

impl Context {
    pub fn new(
        repo: PathBuf,
        clawbake: PathBuf,
        base: Base,
        accel: Accel,
        work: PathBuf,
        key: PathBuf,
        lent: Vec<&'static str>,
    ) -> Context {
        Context {
            repo,
            clawbake,
            base,
            accel,
            work,
            key,
            lent,
            parked: Mutex::new(BTreeMap::new()),
            parked_changed: Condvar::new(),
            bare_backup_restore: Mutex::new(None),
        }
    }

    /// Keep `name`'s VM (paused) for the scenario that borrows it, or
    /// record that there is none to lend.
    pub fn park(&self, name: &'static str, vm: Option<(Vm, Prepared)>) {
        let vm = vm.and_then(|(vm, prep)| match vm.pause() {
            Ok(()) => Some((vm, prep)),
            Err(e) => {
                say!("cannot park the VM of `{name}`: {e}");
                None
            }
        });
        let mut parked = self
            .parked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        parked.insert(name, vm);
        self.parked_changed.notify_all();
    }

    /// After `name`'s lane ended: if it parked nothing, there is nothing
    /// to wait for.
    pub fn lane_done(&self, name: &'static str) {
        let mut parked = self
            .parked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        parked.entry(name).or_insert(None);
        self.parked_changed.notify_all();
    }

    /// The VM `name` parked, resumed; waits while `name`'s lane still runs.
    pub fn borrow(&self, name: &str) -> Result<(Vm, Prepared)> {
        let mut parked = self
            .parked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(entry) = parked.get_mut(name) {
                let Some((vm, prep)) = entry.take() else {
                    bail!("the VM of `{name}` is not there to borrow: `{name}` did not pass");
                };
                drop(parked);
                vm.resume()?;
                return Ok((vm, prep));
            }
            let (guard, timeout) = self
                .parked_changed
                .wait_timeout(parked, Duration::from_secs(3 * 3600))
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if timeout.timed_out() {
                bail!("waited 3 hours for the VM of `{name}`");
            }
            parked = guard;
        }
    }
}
