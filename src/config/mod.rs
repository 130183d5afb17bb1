//! The input stage: built-in layers plus the user's site file (and the lock
//! files beside it), loaded with spans, merged with provenance and validated
//! into a typed [`Site`](crate::model::Site). Everything a site can get wrong
//! is found here, before anything is rendered.
//!
//! In the order data flows: [`layers`] and [`tree`] (TOML with spans),
//! [`load`] and [`merge`] (later layer wins per key, origins kept), [`de`] and
//! [`validate`] (the typed site), [`budget`] (the memory the site commits),
//! [`locks`] (`cloudflare.lock` and `images.lock`, inputs like the layers);
//! [`secret_shape`] tells what looks like a secret, for both ends;
//! [`explain`] answers "where did this value come from".

pub mod budget;
pub mod de;
pub mod explain;
pub mod layers;
pub mod load;
pub mod locks;
pub mod merge;
pub mod secret_shape;
pub mod tree;
pub mod validate;

pub use load::{Failure, Merged, SiteInput, load};
pub use validate::validate;
