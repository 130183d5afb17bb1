//! The cache of expensive inputs (base images, stand-in archives):
//! `$CLAWBAKE_VM_CACHE`, else `~/.cache/clawbake/vm`. Every entry is a
//! directory named after what built it and a hash of those inputs, built
//! beside its final name and renamed into place, then never written again:
//! a change to a script or a package list makes a new entry, and an empty
//! cache only costs time.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Context, Result};

pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn from_env() -> Result<Cache> {
        let dir = if let Some(d) = std::env::var_os("CLAWBAKE_VM_CACHE") {
            PathBuf::from(d)
        } else {
            let home =
                std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
            home.join(".cache/clawbake/vm")
        };
        fs::create_dir_all(&dir).context(format_args!("creating the cache {}", dir.display()))?;
        Ok(Cache { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry `name-<key>`, built by `build` into an empty directory if
    /// it is not there yet. Returns the entry and whether it was built now.
    pub fn entry(
        &self,
        name: &str,
        key: &str,
        build: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<(PathBuf, bool)> {
        let path = self.dir.join(format!("{name}-{}", &key[..16]));
        if path.is_dir() {
            return Ok((path, false));
        }
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}-"))
            .tempdir_in(&self.dir)
            .context(format_args!(
                "creating a build directory in {}",
                self.dir.display()
            ))?;
        build(tmp.path())?;
        let tmp = tmp.keep();
        fs::rename(&tmp, &path).context(format_args!("moving {} into place", path.display()))?;
        Ok((path, true))
    }
}

/// A hash over named inputs: file contents and literal strings.
#[derive(Default)]
pub struct Key(Sha256);

impl Key {
    pub fn file(mut self, path: &Path) -> Result<Key> {
        let bytes = fs::read(path).context(format_args!("reading {}", path.display()))?;
        self.0
            .update(path.file_name().unwrap_or_default().as_encoded_bytes());
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(&bytes);
        Ok(self)
    }

    /// Every file under `dir`, in name order.
    pub fn tree(mut self, dir: &Path) -> Result<Key> {
        let mut files = Vec::new();
        walk(dir, &mut files).context(format_args!("listing {}", dir.display()))?;
        files.sort();
        for f in files {
            self.0.update(
                f.strip_prefix(dir)
                    .unwrap_or(&f)
                    .as_os_str()
                    .as_encoded_bytes(),
            );
            self = self.file(&f)?;
        }
        Ok(self)
    }

    pub fn text(mut self, s: &str) -> Key {
        self.0.update((s.len() as u64).to_le_bytes());
        self.0.update(s.as_bytes());
        self
    }

    pub fn hex(self) -> String {
        format!("{:x}", self.0.finalize())
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_changes_with_any_input_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.sh");
        fs::write(&a, "one").unwrap();
        let key = || Key::default().file(&a).unwrap().text("x").hex();
        let first = key();
        assert_eq!(first, key());
        fs::write(&a, "two").unwrap();
        assert_ne!(first, key());
    }

    #[test]
    fn an_entry_is_built_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache {
            dir: dir.path().to_owned(),
        };
        let key = Key::default().text("k").hex();
        let (path, built) = cache
            .entry("thing", &key, |d| {
                fs::write(d.join("f"), "1").context("writing")
            })
            .unwrap();
        assert!(built);
        assert_eq!(fs::read_to_string(path.join("f")).unwrap(), "1");
        let (again, built) = cache
            .entry("thing", &key, |_| panic!("must not rebuild"))
            .unwrap();
        assert!(!built);
        assert_eq!(path, again);
    }
}
