//! What every command's dispatcher shares: the site a command is given,
//! the one async runtime, and the output it hands back to `main`.

use std::path::{Path, PathBuf};

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

/// The site a command works on: the argument (a site file, or a
/// directory holding `site.toml`), else `CLAWBAKE_SITE`, else
/// `./site.toml`; the built-in example only when none of them is there.
///
/// The current directory only, never a parent: cargo walks up because a
/// crate is a tree, but a site acts on a server, and a `site.toml` found
/// two directories up (another project's, an old copy) delivered to a host
/// by accident is worse than "no site here".
pub fn find_site(arg: Option<PathBuf>) -> SiteInput {
    let given = arg.or_else(|| {
        std::env::var_os("CLAWBAKE_SITE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    match given {
        Some(path) if path.is_dir() => SiteInput::File(path.join("site.toml")),
        Some(path) => SiteInput::File(path),
        None if Path::new("site.toml").exists() => SiteInput::File(PathBuf::from("site.toml")),
        None => SiteInput::Example,
    }
}

/// [`find_site`] for a command that acts on a server: never the example,
/// whose key and addresses are placeholders.
pub fn site_for_host(arg: Option<PathBuf>, command: &str) -> Result<SiteInput, Error> {
    match find_site(arg) {
        SiteInput::Example => Err(Error::Message {
            message: format!(
                "`clawbake {command}` acts on a server, and there is no site here: the built-in example is for exploring, never for a server"
            ),
            help: Some(format!(
                "`clawbake init mysite`, fill in `mysite/site.toml`, then run `clawbake {command}` in `mysite/` (or pass the site file, or set `CLAWBAKE_SITE`)"
            )),
        }),
        site @ SiteInput::File(_) => Ok(site),
    }
}

/// The site of a command that acts on a server, by position or, as the
/// server commands whose position holds something else (`logs SERVICE`,
/// `restore COPY`) take it, by `--site`: either works, not both.
#[derive(Clone, Debug, clap::Args)]
pub struct SiteArg {
    /// The site file or its directory [default: `CLAWBAKE_SITE`, else ./site.toml]
    #[arg(value_name = "SITE")]
    site: Option<PathBuf>,
    /// The same, as an option
    #[arg(long = "site", value_name = "SITE", conflicts_with = "site")]
    site_option: Option<PathBuf>,
}

impl SiteArg {
    pub fn get(self) -> Option<PathBuf> {
        self.site.or(self.site_option)
    }
}
