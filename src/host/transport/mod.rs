//! Delivering a bundle to a host. The one transport so far is SSH.

pub mod ssh;
pub mod target;
pub mod worker;
