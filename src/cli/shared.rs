//! What every command's dispatcher shares: the site a command is given,
//! the one async runtime, and the output it hands back to `main`.

use std::path::PathBuf;

use crate::config::SiteInput;
use crate::error::Error;

/// What a command prints: `main` writes it once the command succeeded.
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            action: "starting the async runtime".to_owned(),
            source,
        })
}

pub fn site_input(site: Option<PathBuf>) -> SiteInput {
    site.map_or(SiteInput::Example, SiteInput::File)
}
