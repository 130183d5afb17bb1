//! The release tree: every file that lands on the host, keyed by its path
//! in the release, with its mode and its scope (host or stack). The build
//! id is the hash of the whole tree, every attribute included.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Whether a change to a file needs a new server (host) or only a new
/// release of the stack (stack). See "Rebuild, don't mutate" in DESIGN.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Host,
    Stack,
}

impl Scope {
    /// The scope as plans and refusals print it.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Host => "host",
            Scope::Stack => "stack",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub mode: u32,
    pub scope: Scope,
    pub content: Vec<u8>,
}

/// The release tree, keyed by path relative to the release directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    files: BTreeMap<String, File>,
}

impl Tree {
    /// Add a file. Two renderers claiming one path is a bug in clawbake.
    pub fn add(&mut self, path: &str, mode: u32, scope: Scope, content: impl Into<Vec<u8>>) {
        let previous = self.files.insert(
            path.to_owned(),
            File {
                mode,
                scope,
                content: content.into(),
            },
        );
        assert!(
            previous.is_none(),
            "internal error: `{path}` rendered twice"
        );
    }

    pub fn files(&self) -> impl Iterator<Item = (&str, &File)> {
        self.files.iter().map(|(p, f)| (p.as_str(), f))
    }

    pub fn get(&self, path: &str) -> Option<&File> {
        self.files.get(path)
    }

    /// sha256 over every path, mode, scope and content hash, in path order.
    pub fn build_id(&self) -> String {
        let mut listing = String::new();
        for (path, file) in &self.files {
            let _ = writeln!(
                listing,
                "{path}\0{:o}\0{:?}\0{}",
                file.mode,
                file.scope,
                sha256_hex(&file.content)
            );
        }
        sha256_hex(listing.as_bytes())
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_depends_on_every_attribute() {
        let mut a = Tree::default();
        a.add("stack/x", 0o644, Scope::Stack, "x");
        let id = a.build_id();
        let mut b = Tree::default();
        b.add("stack/x", 0o600, Scope::Stack, "x");
        let mut c = Tree::default();
        c.add("stack/x", 0o644, Scope::Host, "x");
        let mut d = Tree::default();
        d.add("stack/x", 0o644, Scope::Stack, "y");
        for other in [b, c, d] {
            assert_ne!(id, other.build_id());
        }
        assert_eq!(id, a.clone().build_id());
    }
}
