//! The release as one tar: the tree and its `manifest.json`, in path
//! order, owned by root, mtime 0. `provision` uploads it gzipped and the
//! user-data carries it gzipped harder; both unpack the same bytes, so a
//! host gets the same release tree by either road.

use std::io::Write as _;

use flate2::{Compression, GzBuilder};

use super::tree::Tree;

/// The release tar, uncompressed. Identical inputs give identical bytes.
pub fn release_tar(tree: &Tree, manifest_json: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let files = tree
        .files()
        .map(|(p, f)| (p, f.mode, f.content.as_slice()))
        .chain(std::iter::once((
            "manifest.json",
            0o644,
            manifest_json.as_bytes(),
        )));
    for (path, mode, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, path, content)
            .expect("writing to memory");
    }
    tar.into_inner().expect("writing to memory")
}

/// gzip with no timestamp or name, so the same input gives the same bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    encoder.write_all(data).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}
