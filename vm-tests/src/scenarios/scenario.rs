//! What a scenario is: a name, the seed its VM boots with, and what it
//! runs against the booted VM. Kept apart from the list of scenarios, which
//! imports every one of them, so that each scenario can name these types
//! without importing the list.

use crate::context::Context;
use crate::error::Result;
pub use crate::prepared::Prepared;
use crate::report::{Checks, Timings};
use crate::vm::Vm;

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
