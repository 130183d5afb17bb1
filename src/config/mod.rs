//! Loading configuration: built-in layers plus the user's site file, merged
//! with provenance and validated into a typed [`Site`](crate::model::Site).

pub mod de;
pub mod layers;
pub mod load;
pub mod merge;
pub mod source;
pub mod tree;
pub mod validate;

pub use load::{Failure, Merged, SiteInput, load};
pub use validate::validate;
