//! What a provision would do to a host, decided from manifests alone:
//! the release model of DESIGN.md ("Rebuild, don't mutate") as one pure
//! function, so every transport and `clawbake plan` agree.

use std::collections::BTreeMap;

use crate::bundle::{Manifest, ManifestFile, Scope};

/// What the host reports about itself.
#[derive(Clone, Debug, Default)]
pub struct HostState {
    /// The manifest of the release `/opt/clawbake/current` points to.
    pub current: Option<Manifest>,
    /// sha256 of each file of that manifest as it is on the host now, by
    /// manifest path; a missing file is absent from the map.
    pub observed: BTreeMap<String, String>,
}

/// One file that differs between two manifests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub scope: Scope,
    pub kind: ChangeKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
}

/// A file on the host that no longer matches its own release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    pub path: String,
    /// `None` when the file is gone.
    pub observed: Option<String>,
}

/// The gateway's OpenClaw release, before and after a stack release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upgrade {
    pub from: String,
    pub to: String,
}

impl Upgrade {
    /// `None` when both name the same release.
    pub fn between(old: &Manifest, new: &Manifest) -> Option<Upgrade> {
        (old.openclaw_version != new.openclaw_version).then(|| Upgrade {
            from: old.openclaw_version.clone(),
            to: new.openclaw_version.clone(),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No clawbake release on the host yet: apply every step.
    FirstProvision,
    /// The host runs this very build.
    NoChange,
    /// Only stack files differ: a new release, an atomic switch, containers
    /// recreated, volumes kept.
    StackRelease {
        changes: Vec<Change>,
        /// The gateway moves to another OpenClaw release.
        openclaw: Option<Upgrade>,
    },
    /// A host-scope file differs: refuse; provision a fresh server.
    RebuildRequired { changes: Vec<Change> },
    /// Someone edited the host: refuse and show what.
    Drift { drift: Vec<Drift> },
}

pub fn decide(new: &Manifest, host: &HostState) -> Decision {
    let Some(current) = &host.current else {
        return Decision::FirstProvision;
    };
    let drift: Vec<Drift> = current
        .files
        .iter()
        .filter(|f| host.observed.get(&f.path) != Some(&f.sha256))
        .map(|f| Drift {
            path: f.path.clone(),
            observed: host.observed.get(&f.path).cloned(),
        })
        .collect();
    if !drift.is_empty() {
        return Decision::Drift { drift };
    }
    if current.build_id == new.build_id {
        return Decision::NoChange;
    }
    let changes = diff(&current.files, &new.files);
    if changes.iter().any(|c| c.scope == Scope::Host) {
        Decision::RebuildRequired { changes }
    } else {
        Decision::StackRelease {
            changes,
            openclaw: Upgrade::between(current, new),
        }
    }
}

/// Files added, removed or modified from `old` to `new`, in path order. A
/// file whose scope changed counts with the wider scope (host).
pub fn diff(old: &[ManifestFile], new: &[ManifestFile]) -> Vec<Change> {
    let old: BTreeMap<&str, &ManifestFile> = old.iter().map(|f| (f.path.as_str(), f)).collect();
    let new: BTreeMap<&str, &ManifestFile> = new.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut paths: Vec<&str> = old.keys().chain(new.keys()).copied().collect();
    paths.sort_unstable();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| {
            let (kind, scope) = match (old.get(path), new.get(path)) {
                (None, Some(n)) => (ChangeKind::Added, n.scope),
                (Some(o), None) => (ChangeKind::Removed, o.scope),
                (Some(o), Some(n))
                    if o.sha256 != n.sha256 || o.mode != n.mode || o.scope != n.scope =>
                {
                    (ChangeKind::Modified, o.scope.min(n.scope))
                }
                _ => return None,
            };
            Some(Change {
                path: path.to_owned(),
                scope,
                kind,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, scope: Scope, sha: &str) -> ManifestFile {
        ManifestFile {
            path: path.to_owned(),
            sha256: sha.to_owned(),
            mode: "0644".to_owned(),
            scope,
            size: 1,
        }
    }

    fn manifest(id: &str, files: &[ManifestFile]) -> Manifest {
        Manifest {
            format: 1,
            build_id: id.to_owned(),
            site: "t".to_owned(),
            files: files.to_vec(),
            images: Vec::new(),
            unpinned_images: Vec::new(),
            cloudflare_ranges_as_of: "2026-11-25".to_owned(),
            openclaw_version: "2026.2.15".to_owned(),
            image_set: None,
        }
    }

    fn observed(m: &Manifest) -> BTreeMap<String, String> {
        m.files
            .iter()
            .map(|f| (f.path.clone(), f.sha256.clone()))
            .collect()
    }

    #[test]
    #[allow(clippy::too_many_lines)] // a table reads best whole
    fn decisions() {
        let sshd = file(
            "host/etc/ssh/sshd_config.d/10-clawbake.conf",
            Scope::Host,
            "a",
        );
        let compose = file("stack/compose.yaml", Scope::Stack, "b");
        let v1 = manifest("1", &[sshd.clone(), compose.clone()]);
        let stack_changed = manifest(
            "2",
            &[sshd.clone(), file("stack/compose.yaml", Scope::Stack, "c")],
        );
        let host_changed = manifest(
            "3",
            &[
                file(
                    "host/etc/ssh/sshd_config.d/10-clawbake.conf",
                    Scope::Host,
                    "d",
                ),
                compose.clone(),
            ],
        );
        let stack_added = manifest(
            "4",
            &[
                sshd.clone(),
                compose.clone(),
                file("stack/Caddyfile", Scope::Stack, "e"),
            ],
        );
        let host_removed = manifest("5", std::slice::from_ref(&compose));
        let mut upgraded = stack_changed.clone();
        upgraded.build_id = "6".to_owned();
        upgraded.openclaw_version = "2026.9.6".to_owned();
        let mut edited = observed(&v1);
        edited.insert(sshd.path.clone(), "edited".to_owned());
        let mut deleted = observed(&v1);
        deleted.remove(&compose.path);

        let on = |current: &Manifest, seen: BTreeMap<String, String>| HostState {
            current: Some(current.clone()),
            observed: seen,
        };
        let change = |path: &str, scope, kind| Change {
            path: path.to_owned(),
            scope,
            kind,
        };
        // (what the host has, the new build, the decision)
        let table: Vec<(HostState, &Manifest, Decision)> = vec![
            (HostState::default(), &v1, Decision::FirstProvision),
            (on(&v1, observed(&v1)), &v1, Decision::NoChange),
            (
                on(&v1, observed(&v1)),
                &stack_changed,
                Decision::StackRelease {
                    changes: vec![change(
                        "stack/compose.yaml",
                        Scope::Stack,
                        ChangeKind::Modified,
                    )],
                    openclaw: None,
                },
            ),
            (
                on(&v1, observed(&v1)),
                &upgraded,
                Decision::StackRelease {
                    changes: vec![change(
                        "stack/compose.yaml",
                        Scope::Stack,
                        ChangeKind::Modified,
                    )],
                    openclaw: Some(Upgrade {
                        from: "2026.2.15".to_owned(),
                        to: "2026.9.6".to_owned(),
                    }),
                },
            ),
            (
                on(&v1, observed(&v1)),
                &stack_added,
                Decision::StackRelease {
                    changes: vec![change("stack/Caddyfile", Scope::Stack, ChangeKind::Added)],
                    openclaw: None,
                },
            ),
            (
                on(&v1, observed(&v1)),
                &host_changed,
                Decision::RebuildRequired {
                    changes: vec![change(&sshd.path, Scope::Host, ChangeKind::Modified)],
                },
            ),
            (
                on(&v1, observed(&v1)),
                &host_removed,
                Decision::RebuildRequired {
                    changes: vec![change(&sshd.path, Scope::Host, ChangeKind::Removed)],
                },
            ),
            (
                on(&v1, edited),
                &v1,
                Decision::Drift {
                    drift: vec![Drift {
                        path: sshd.path.clone(),
                        observed: Some("edited".to_owned()),
                    }],
                },
            ),
            (
                on(&v1, deleted),
                &stack_changed,
                Decision::Drift {
                    drift: vec![Drift {
                        path: compose.path.clone(),
                        observed: None,
                    }],
                },
            ),
        ];
        for (i, (host, new, expected)) in table.into_iter().enumerate() {
            assert_eq!(decide(new, &host), expected, "row {i}");
        }
    }
}
