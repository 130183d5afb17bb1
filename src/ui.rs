//! The terminal: the one module that prints. Library code returns values
//! and errors; this turns them into what a person reads.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::Path;

use crate::budget;
use crate::pipeline::Built;

/// User-data limits of providers' paste boxes, in bytes of raw text.
pub const PASTE_LIMITS: &[(&str, usize)] = &[("AWS EC2", 16 * 1024), ("Hetzner Cloud", 32 * 1024)];

pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// How the user-data size compares with the providers' limits.
pub fn paste_fit(size: usize) -> String {
    let fits: Vec<String> = PASTE_LIMITS
        .iter()
        .filter(|(_, limit)| size <= *limit)
        .map(|(name, limit)| format!("{name} ({} KiB)", limit / 1024))
        .collect();
    let too_big: Vec<String> = PASTE_LIMITS
        .iter()
        .filter(|(_, limit)| size > *limit)
        .map(|(name, limit)| format!("{name} ({} KiB)", limit / 1024))
        .collect();
    // User-data is kilobytes; f64 is exact far beyond that.
    #[allow(clippy::cast_precision_loss)]
    let kib = format!("{:.1} KiB", size as f64 / 1024.0);
    match (fits.is_empty(), too_big.is_empty()) {
        (false, true) => format!("{kib}: fits {}", fits.join(" and ")),
        (false, false) => format!(
            "{kib}: fits {}; too large for {}",
            fits.join(" and "),
            too_big.join(" and ")
        ),
        _ => format!(
            "{kib}: too large for {}; deliver it with `clawbake provision --host`",
            too_big.join(" and ")
        ),
    }
}

/// The summary `build` prints.
pub fn build_summary(built: &Built, out: &Path) -> String {
    let b = &built.bundle;
    let site = &built.site;
    let mut s = String::new();
    let (host, stack) = b
        .tree
        .files()
        .fold((0, 0), |(h, st), (_, f)| match f.scope {
            crate::bundle::Scope::Host => (h + 1, st),
            crate::bundle::Scope::Stack => (h, st + 1),
        });
    let layers: Vec<&str> = built
        .merged
        .layers
        .iter()
        .map(|id| built.merged.sources.get(*id).name.as_str())
        .collect();
    let _ = writeln!(
        s,
        "built {} ({}) into {}",
        site.site.name,
        site.site.domain,
        out.display()
    );
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

/// The time now as `YYYY-MM-DDTHH:MM:SSZ`, for logs.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Progress on stderr: a spinner per step with its elapsed time on a
/// terminal, plain lines otherwise (logs, CI).
pub struct StepProgress {
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
    tty: bool,
}

impl StepProgress {
    pub fn new() -> StepProgress {
        StepProgress {
            bar: std::sync::Mutex::new(None),
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn finish_bar(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }

    fn spinner(&self, message: String) {
        self.finish_bar();
        if !self.tty {
            return;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .expect("a valid template"),
        );
        bar.set_message(message);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        *self.bar.lock().expect("progress lock") = Some(bar);
    }
}

impl Default for StepProgress {
    fn default() -> Self {
        StepProgress::new()
    }
}

impl crate::provision::Progress for StepProgress {
    fn phase(&self, what: &str) {
        if self.tty {
            self.spinner(what.to_owned());
        } else {
            eprintln!("{what}");
        }
    }

    fn step_started(&self, index: usize, total: usize, name: &str) {
        let message = format!("[{index}/{total}] {name}");
        if self.tty {
            self.spinner(message);
        } else {
            eprintln!("{message}: running");
        }
    }

    fn step_finished(&self, name: &str, elapsed: std::time::Duration, exit_code: i32) {
        self.finish_bar();
        let secs = elapsed.as_secs_f64();
        if exit_code == 0 {
            eprintln!("  done    {name} ({secs:.1}s)");
        } else {
            eprintln!("  FAILED  {name} (exit code {exit_code}, after {secs:.1}s)");
        }
    }

    fn note(&self, line: &str) {
        let bar = self.bar.lock().expect("progress lock");
        match bar.as_ref() {
            Some(b) => b.println(format!("  note: {line}")),
            None => eprintln!("  note: {line}"),
        }
    }
}

impl Drop for StepProgress {
    fn drop(&mut self) {
        self.finish_bar();
    }
}

fn change_lines(changes: &[crate::plan::Change]) -> String {
    let mut out = String::new();
    for c in changes {
        let _ = writeln!(
            out,
            "  {:<8} {:<5} {}",
            format!("{:?}", c.kind).to_lowercase(),
            crate::provision::scope_name(c.scope),
            c.path
        );
    }
    out
}

/// What `plan` prints for a decision.
pub fn plan_summary(decision: &crate::plan::Decision, target: &str, release: &str) -> String {
    use crate::plan::Decision;
    match decision {
        Decision::FirstProvision => format!(
            "{target} has no clawbake release: provision would apply every step of release {release}\n"
        ),
        Decision::NoChange => format!("{target} already runs release {release}: nothing to do\n"),
        Decision::StackRelease { changes } => format!(
            "stack release {release} for {target}: containers are recreated, volumes kept\n{}",
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
                    crate::provision::on_host(&d.path)
                );
            }
            out
        }
    }
}

/// What `provision` and `rollback` print when they are done.
pub fn provision_summary(report: &crate::provision::Report, target: &str, log: &Path) -> String {
    use crate::plan::Decision;
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
    out
}

/// Checks as aligned `PASS`/`WARN`/`FAIL` lines.
pub fn checks(checks: &[crate::verify::Check]) -> String {
    use crate::verify::Status;
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
