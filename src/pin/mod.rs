//! Writing the lock files from the network: `pin images`, `pin cloudflare`,
//! and the image set that `images save` downloads from the pins.
//!
//! Every fetch happens first; a lock is written only once all of them
//! succeeded, atomically (a temporary file beside it, renamed over it), so
//! a failure leaves every lock file exactly as it was. The functions return
//! what changed; `ui` says it.
//!
//! [`registry`] is the registry HTTP API v2 client, [`imageset`] the
//! archives `docker load` reads; this module decides what to fetch and
//! writes the locks (`images.lock`, `cloudflare.lock`) whose format
//! [`config::locks`](crate::config::locks) reads.

pub mod cloudflare;
pub mod files;
pub mod images;
pub mod imageset;
pub mod registry;
pub mod save;

pub use cloudflare::{CLOUDFLARE_URL, PinnedCloudflare, pin_cloudflare};
pub use files::{CLOUDFLARE_LOCK, IMAGE_SET, IMAGES_LOCK, today, write_atomic};
pub use images::{ImageChange, PinnedImages, change_lines, check_locked, pin_images};
pub use save::{SavedImages, pinned_images, save_images};
