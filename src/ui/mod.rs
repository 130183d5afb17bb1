//! The terminal: the one module that prints. Library code returns values
//! and errors; this turns them into what a person reads: summaries and
//! tables here, progress bars in [`progress`].

pub mod progress;

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::Path;

use crate::config::budget;
use crate::pipeline::Built;

/// User-data limits of providers' boxes, in bytes, smallest first; each
/// from the provider's own documentation (the README's table says how
/// each is measured).
pub const PASTE_LIMITS: &[(&str, usize)] = &[
    ("AWS EC2", 16 * 1024),
    ("Linode", 16_384),
    ("Hetzner Cloud", 32 * 1024),
    ("DigitalOcean", 64 * 1024),
    ("Azure", 64 * 1024),
    ("OpenStack", 65_535),
    ("GCP", 256 * 1024),
];

pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// How the user-data size compares with the providers' limits.
pub fn paste_fit(size: usize) -> String {
    let names = |fit: bool| -> Vec<&str> {
        PASTE_LIMITS
            .iter()
            .filter(|(_, limit)| (size <= *limit) == fit)
            .map(|(name, _)| *name)
            .collect()
    };
    let (fits, too_big) = (names(true), names(false));
    // User-data is kilobytes; f64 is exact far beyond that.
    #[allow(clippy::cast_precision_loss)]
    let kib = format!("{:.1} KiB", size as f64 / 1024.0);
    match (fits.is_empty(), too_big.is_empty()) {
        (false, true) => format!("{kib}: fits every provider's box ({})", fits.join(", ")),
        (false, false) => format!(
            "{kib}: fits {}; too large for {}: deliver there with `clawbake provision --host`",
            fits.join(", "),
            too_big.join(", ")
        ),
        _ => format!(
            "{kib}: too large for every provider's box; deliver it with `clawbake provision --host`"
        ),
    }
}

/// How many of the bundle's files land on the host, and in the stack.
fn file_counts(b: &crate::bundle::Bundle) -> (usize, usize) {
    b.tree
        .files()
        .fold((0, 0), |(h, st), (_, f)| match f.scope {
            crate::bundle::Scope::Host => (h + 1, st),
            crate::bundle::Scope::Stack => (h, st + 1),
        })
}

/// The layers merged, in order, by the names their files have.
fn layer_names(built: &Built) -> Vec<&str> {
    built
        .merged
        .layers
        .iter()
        .map(|id| built.merged.sources.get(*id).name.as_str())
        .collect()
}

/// The summary `build` prints.
pub fn build_summary(built: &Built, out: &Path) -> String {
    let b = &built.bundle;
    let site = &built.site;
    let mut s = String::new();
    let (host, stack) = file_counts(b);
    let layers = layer_names(built);
    let _ = writeln!(
        s,
        "built {} ({}) into {}",
        site.site.name,
        site.site.domain,
        out.display()
    );
    match built.merged.site_file() {
        Some(name) => {
            let _ = writeln!(s, "  site       {name}");
        }
        // Said loudly: nothing of it is meant for a server.
        None => {
            let _ = writeln!(
                s,
                "  site       THE BUILT-IN EXAMPLE (no site.toml here: `clawbake init DIR` makes one)"
            );
        }
    }
    let _ = writeln!(s, "  build id   {}", b.manifest.build_id);
    let _ = writeln!(s, "  layers     {}", layers.join(" -> "));
    let _ = writeln!(
        s,
        "  files      {} ({host} host, {stack} stack)",
        host + stack
    );
    let _ = writeln!(s, "  user-data  {}", paste_fit(b.user_data.len()));
    let _ = writeln!(s, "memory budget ({} tier):", site.site.tier.as_str());
    let _ = writeln!(s, "{}", budget::compute(site).table());
    s
}

/// `build --json`: the summary for scripts. `site` is null for the
/// built-in example; sizes in bytes, memory in MiB.
pub fn build_json(built: &Built, out: &Path, warnings: &str) -> String {
    let b = &built.bundle;
    let (host, stack) = file_counts(b);
    let layers = layer_names(built);

    let budget = budget::compute(&built.site);
    let value = serde_json::json!({
        "site": built.merged.site_file(),
        "name": built.site.site.name.as_str(),
        "domain": built.site.site.domain.as_str(),
        "out": out.display().to_string(),
        "build_id": b.manifest.build_id,
        "layers": layers,
        "files": { "host": host, "stack": stack },
        "user_data_bytes": b.user_data.len(),
        "user_data_fits": PASTE_LIMITS
            .iter()
            .filter(|(_, limit)| b.user_data.len() <= *limit)
            .map(|(name, _)| *name)
            .collect::<Vec<_>>(),
        "budget": {
            "tier": built.site.site.tier.as_str(),
            "lines": budget.lines.iter().map(|l| serde_json::json!({ "what": l.what, "key": l.key, "mib": l.mib })).collect::<Vec<_>>(),
            "total_mib": budget.total_mib,
            "ram_mib": budget.ram_mib,
            "fits": budget.fits(),
        },
        "unpinned_images": b.manifest.unpinned_images,
        "warnings": warnings
            .lines()
            .filter_map(|l| l.strip_prefix("warning: "))
            .collect::<Vec<_>>(),
    });
    crate::render::shared::pretty(&value)
}

/// `secrets list --json`: each user secret, whether it is set, and who
/// reads it; never a value.
pub fn secrets_json(
    users: &std::collections::BTreeMap<String, Vec<String>>,
    set: &[String],
) -> String {
    let list: Vec<serde_json::Value> = users
        .iter()
        .map(|(name, services)| {
            serde_json::json!({ "name": name, "set": set.contains(name), "used_by": services })
        })
        .collect();
    crate::render::shared::pretty(&serde_json::Value::Array(list))
}

/// `clawbake check`: that the site builds, and what it would hold.
pub fn check_summary(built: &Built) -> String {
    let files = built.bundle.tree.files().count();
    let site = built.merged.site_file().unwrap_or("the built-in example");
    format!(
        "{site} builds: {} ({}), {files} files, build id {}; nothing written\n",
        built.site.site.name,
        built.site.site.domain,
        crate::render::shared::release_name(&built.bundle.manifest.build_id)
    )
}

/// Warnings about the site itself: a user's site served under a name
/// reserved for documentation or tests (RFC 2606, RFC 6761), as the init
/// template's `openclaw.example.com` is. Empty for the example site.
pub fn site_warnings(built: &Built) -> String {
    if built.merged.site_dir.is_none() {
        return String::new();
    }
    let domain = built.site.site.domain.as_str();
    let reserved = ["example.com", "example.net", "example.org"]
        .iter()
        .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
        || ["test", "example", "invalid", "localhost"]
            .iter()
            .any(|tld| domain.ends_with(&format!(".{tld}")));
    if !reserved {
        return String::new();
    }
    format!(
        "warning: `site.domain` is `{domain}`, a name reserved for documentation and tests: no certificate or Cloudflare zone will ever serve it\n  \
         = help: set the name OpenClaw is served under in the site file (`clawbake explain site.domain` says where it is set)\n"
    )
}

/// The loud part: images that are not pinned. Empty when all are.
pub fn unpinned_warning(built: &Built) -> String {
    let unpinned = &built.bundle.manifest.unpinned_images;
    if unpinned.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "warning: {} of {} images are not pinned to a digest and will be pulled by tag:\n",
        unpinned.len(),
        built.bundle.manifest.images.len()
    );
    for image in unpinned {
        let _ = writeln!(s, "  {image}");
    }
    let _ = writeln!(
        s,
        "  = note: a tag can move; the manifest records these as unpinned"
    );
    let _ = writeln!(
        s,
        "  = help: run `clawbake pin images` where a registry is reachable, to write images.lock"
    );
    s
}

fn change_lines(changes: &[crate::host::plan::Change]) -> String {
    let mut out = String::new();
    for c in changes {
        let _ = writeln!(
            out,
            "  {:<8} {:<5} {}",
            format!("{:?}", c.kind).to_lowercase(),
            c.scope.name(),
            c.path
        );
    }
    out
}

/// The line a plan gives a change of OpenClaw release.
fn upgrade_line(u: &crate::host::plan::Upgrade) -> String {
    format!(
        "  OpenClaw {} -> {}: provision backs up the data volume first; the gateway migrates its state as it starts\n",
        u.from, u.to
    )
}

/// What `plan` prints for a decision.
pub fn plan_summary(decision: &crate::host::plan::Decision, target: &str, release: &str) -> String {
    use crate::host::plan::Decision;
    match decision {
        Decision::FirstProvision => format!(
            "{target} has no clawbake release: provision would apply every step of release {release}\n"
        ),
        Decision::NoChange => format!("{target} already runs release {release}: nothing to do\n"),
        Decision::StackRelease { changes, openclaw } => format!(
            "stack release {release} for {target}: containers are recreated, volumes kept\n{}{}",
            openclaw.as_ref().map(upgrade_line).unwrap_or_default(),
            change_lines(changes)
        ),
        Decision::RebuildRequired { changes } => format!(
            "rebuild required for {target}: host files change\n{}",
            change_lines(changes)
        ),
        Decision::Drift { drift } => {
            let mut out = format!("{target} has drifted from its release:\n");
            for d in drift {
                let _ = writeln!(
                    out,
                    "  {}  {}",
                    if d.observed.is_some() {
                        "changed"
                    } else {
                        "missing"
                    },
                    crate::host::remote::on_host(&d.path)
                );
            }
            out
        }
    }
}

/// `plan --json`: the decision for scripts. `decision` is one of
/// `first-provision`, `no-change`, `stack-release`, `rebuild-required`,
/// `drift`; `changes` and `drift` name files where they are on the host.
pub fn plan_json(decision: &crate::host::plan::Decision, target: &str, release: &str) -> String {
    use crate::host::plan::{ChangeKind, Decision};
    let listed = |changes: &[crate::host::plan::Change]| -> Vec<serde_json::Value> {
        changes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "path": crate::host::remote::on_host(&c.path),
                    "scope": match c.scope {
                        crate::bundle::Scope::Host => "host",
                        crate::bundle::Scope::Stack => "stack",
                    },
                    "kind": match c.kind {
                        ChangeKind::Added => "added",
                        ChangeKind::Modified => "modified",
                        ChangeKind::Removed => "removed",
                    },
                })
            })
            .collect()
    };
    let (name, changes, drifted) = match decision {
        Decision::FirstProvision => ("first-provision", Vec::new(), Vec::new()),
        Decision::NoChange => ("no-change", Vec::new(), Vec::new()),
        Decision::StackRelease { changes, .. } => ("stack-release", listed(changes), Vec::new()),
        Decision::RebuildRequired { changes } => ("rebuild-required", listed(changes), Vec::new()),
        Decision::Drift { drift } => (
            "drift",
            Vec::new(),
            drift
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "path": crate::host::remote::on_host(&d.path),
                        "state": if d.observed.is_some() { "changed" } else { "missing" },
                    })
                })
                .collect(),
        ),
    };
    let openclaw = match decision {
        Decision::StackRelease {
            openclaw: Some(u), ..
        } => serde_json::json!({ "from": u.from, "to": u.to }),
        _ => serde_json::Value::Null,
    };
    let value = serde_json::json!({
        "target": target,
        "release": release,
        "decision": name,
        "changes": changes,
        "drift": drifted,
        "openclaw": openclaw,
    });
    crate::render::shared::pretty(&value)
}

/// What `provision` and `rollback` print when they are done.
pub fn provision_summary(report: &crate::host::apply::Report, target: &str, log: &Path) -> String {
    use crate::host::plan::Decision;
    let secs = report.elapsed.as_secs_f64();
    let what = match &report.decision {
        Decision::NoChange => format!("{target} already runs this release: nothing to do"),
        Decision::FirstProvision => format!("{target} provisioned"),
        Decision::StackRelease { .. } => {
            format!("{target}: new stack release, previous kept for rollback")
        }
        _ => format!("{target}: done"),
    };
    let mut out = format!("{what} ({secs:.1}s)\n");
    if let Some(r) = &report.release {
        let _ = writeln!(out, "  release: {r}");
    }
    if !log.as_os_str().is_empty() && !report.steps.is_empty() {
        let _ = writeln!(out, "  log:     {}", log.display());
    }
    for note in &report.notes {
        let _ = writeln!(out, "  {note}");
    }
    out
}

/// Checks as aligned `PASS`/`WARN`/`FAIL` lines.
pub fn checks(checks: &[crate::host::verify::Check]) -> String {
    use crate::host::verify::Status;
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let status = match c.status {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        };
        let _ = writeln!(out, "{status}  {:<width$}  {}", c.name, c.detail);
    }
    out
}

/// `clawbake status`: the host at a glance.
pub fn status(st: &crate::host::status::Status, target: &str) -> String {
    let mut out = String::new();
    let days = st.uptime_secs / 86_400;
    let hours = st.uptime_secs % 86_400 / 3600;
    let _ = writeln!(
        out,
        "{target}: release {} (applied {}), up {days}d {hours}h",
        st.release
            .as_deref()
            .map_or("none", crate::render::shared::release_name),
        st.applied_at.as_deref().unwrap_or("never"),
    );
    let healthy = st
        .services
        .iter()
        .filter(|s| {
            s.state == "running"
                && !s.status.contains("unhealthy")
                && !s.status.contains("starting")
        })
        .count();
    let _ = writeln!(
        out,
        "  services   {healthy} of {} running and healthy",
        st.services.len()
    );
    let width = st.services.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in &st.services {
        let _ = writeln!(
            out,
            "    {:<width$}  {:<8}  {:<28}  {}",
            s.name, s.state, s.status, s.memory
        );
    }
    let _ = writeln!(
        out,
        "  disk       {} free of {}",
        bytes(st.disk_free_bytes),
        bytes(st.disk_size_bytes)
    );
    let _ = match &st.last_backup {
        Some(b) => writeln!(
            out,
            "  backup     last {} UTC ({}, release {})",
            b.time,
            &b.id[..b.id.len().min(8)],
            if b.release.is_empty() {
                "-"
            } else {
                &b.release
            }
        ),
        None => writeln!(out, "  backup     none yet: clawbake backup"),
    };
    let pending = match st.pending {
        "no-change" => "nothing: the host runs this site's build",
        "stack-release" => "a stack release: `clawbake provision`",
        "rebuild-required" => "a rebuild: host files change (`clawbake migrate`)",
        "drift" => "none possible: the host drifted from its release (`clawbake plan` lists what)",
        _ => "a first provision: `clawbake provision`",
    };
    let _ = writeln!(out, "  pending    {pending}");
    out
}

/// `secrets list`: names, set or not, and who uses them. Never values.
pub fn secrets_list(
    users: &std::collections::BTreeMap<String, Vec<String>>,
    set: &[String],
) -> String {
    if users.is_empty() {
        return "this site uses no user secrets\n".to_owned();
    }
    let width = users.keys().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for (name, services) in users {
        let state = if set.contains(name) { "set  " } else { "unset" };
        let _ = writeln!(
            out,
            "{name:<width$}  {state}  used by {}",
            services.join(", ")
        );
    }
    out
}

/// What `pin images` did, or what `--check` found.
pub fn pinned_images(p: &crate::pin::PinnedImages, check: bool) -> String {
    let total = p.unchanged + p.changes.iter().filter(|c| c.new.is_some()).count();
    if p.changes.is_empty() {
        let verb = if check { "matches" } else { "is up to date:" };
        return format!(
            "{} {verb} {total} images at their registries\n",
            p.lock.display()
        );
    }
    format!(
        "pinned {total} images in {} ({} changed, {} unchanged)\n{}",
        p.lock.display(),
        p.changes.len(),
        p.unchanged,
        crate::pin::change_lines(&p.changes)
    )
}

/// What `pin cloudflare` wrote and what changed.
pub fn pinned_cloudflare(p: &crate::pin::PinnedCloudflare) -> String {
    let mut s = format!(
        "wrote {}: {} ranges as of {}\n",
        p.lock.display(),
        p.count,
        p.as_of
    );
    if p.added.is_empty() && p.removed.is_empty() {
        s.push_str("  no range added or removed\n");
    }
    for n in &p.added {
        let _ = writeln!(s, "  + {n}");
    }
    for n in &p.removed {
        let _ = writeln!(s, "  - {n}");
    }
    s
}

/// What `images save` wrote.
pub fn saved_images(saved: &crate::pin::SavedImages) -> String {
    // Sizes are far below f64's exact range.
    #[allow(clippy::cast_precision_loss)]
    let mib = saved.bytes as f64 / (1024.0 * 1024.0);
    format!(
        "saved {} images ({} blobs, {mib:.1} MiB) into {}\n  set `images.ship = true` in the site to ship it with the bundle\n",
        saved.images,
        saved.blobs,
        saved.archive.display()
    )
}

/// Bytes as people read them: `512 B`, `3.4 MiB`.
fn bytes(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", f / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", f / 1_048_576.0),
        _ => format!("{:.1} GiB", f / 1_073_741_824.0),
    }
}

pub fn backup_taken(
    taken: &crate::host::backup::Taken,
    pulled: Option<(&crate::host::backup::Pulled, &Path)>,
    password_file: Option<&Path>,
) -> String {
    let mut out = format!(
        "backup {} of release {}: {} read, {} new in the repository\n\
         the gateway was paused for {} ms while its state was read\n",
        &taken.snapshot[..taken.snapshot.len().min(8)],
        taken.release,
        bytes(taken.bytes_read),
        bytes(taken.bytes_added),
        taken.paused_ms,
    );
    for o in &taken.offsite {
        let _ = match &o.error {
            None => writeln!(out, "offsite {}: copied in {}s", o.name, o.seconds),
            Some(why) => writeln!(out, "offsite {}: FAILED: {}", o.name, printable(why)),
        };
    }
    if let Some((p, dir)) = pulled {
        let _ = writeln!(
            out,
            "copied to {}: {} files, {} ({} new, {} removed), each checked against its name",
            dir.join("restic").display(),
            p.files,
            bytes(p.bytes),
            p.new_files,
            p.removed,
        );
    }
    if let Some(file) = password_file {
        let _ = writeln!(
            out,
            "the repository's password is in {} (0600): keep it apart from the backups",
            file.display()
        );
    }
    out
}

pub fn backups(snapshots: &[crate::host::backup::Snapshot]) -> String {
    if snapshots.is_empty() {
        return "no backups yet\n".to_owned();
    }
    let mut out = String::from("ID        TAKEN (UTC)          RELEASE\n");
    for s in snapshots {
        let _ = writeln!(
            out,
            "{:<8}  {:<19}  {}",
            &s.id[..s.id.len().min(8)],
            s.time,
            if s.release.is_empty() {
                "-"
            } else {
                &s.release
            }
        );
    }
    out
}

/// A line from a host for a terminal: control characters and bidi
/// overrides escaped (a host's output must not move the cursor or fake a
/// line of ours), at most 300 characters.
pub fn printable(text: &str) -> String {
    crate::diagnostic::terminal_safe(text, 300)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn a_hosts_line_cannot_move_the_cursor_or_reorder_text() {
        assert_eq!(
            printable("ok\u{1b}[2J\rbuilt\u{202e}x"),
            "ok\\u{1b}[2J\\u{d}built\\u{202e}x"
        );
        let long = "a".repeat(400);
        assert_eq!(printable(&long).chars().count(), 301);
        assert_eq!(
            printable("plain: 401 Unauthorized"),
            "plain: 401 Unauthorized"
        );
    }
}
