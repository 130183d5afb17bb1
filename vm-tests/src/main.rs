//! `vm-test`: prove clawbake's build and delivery on a local QEMU VM of
//! the size clawbake targets (4 vCPU, 8 GiB, 4 GiB swap).
//!
//! ```text
//! vm-test                     every scenario, each in a fresh VM (rebuild
//!                             continues on provision's VM when both run,
//!                             migrate on rebuild's, moving it to
//!                             cloud-init's, kept paused for it)
//! vm-test cloud-init          one scenario
//! CLAWBAKE_VM_KEEP=1 vm-test  keep a failed VM and print how to SSH in
//! ```
//!
//! Environment: `CLAWBAKE_VM_CACHE` (base images and stand-in archives),
//! `CLAWBAKE_VM_BASE=offline|ubuntu`, `CLAWBAKE_UBUNTU_IMAGE_SHA256`,
//! `CLAWBAKE_VM_ACCEL=kvm|tcg`, `CLAWBAKE_BIN` (the clawbake under test),
//! `CLAWBAKE_VM_PARALLEL=1` (the lanes' VMs at once, for more cores).

mod accel;
mod base;
mod cache;
mod context;
mod error;
mod prepared;
mod registry;
mod report;
mod scenarios;
mod seed;
mod site;
mod standins;
mod ubuntu;
mod vm;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crate::context::Context;
use crate::error::{Context as _, Result};
use crate::report::{Checks, Timings};
use crate::scenarios::Scenario;

/// Progress, on stderr, so stdout holds the checks and timings.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        eprintln!("vm-test{}: {}", $crate::report::lane_mark(), format!($($arg)*))
    };
}

/// A line of a scenario's report (see [`report::out`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::report::out(&format!($($arg)*))
    };
}

fn main() -> ExitCode {
    if let Err(e) = ctrlc::set_handler(|| {
        say!("interrupted: stopping every VM this run started");
        vm::stop_all();
        std::process::exit(130);
    }) {
        say!("error: installing the Ctrl-C handler: {e}");
        return ExitCode::from(2);
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            say!("error: {e}");
            vm::stop_all();
            ExitCode::from(2)
        }
    }
}

fn usage(all: &[Scenario]) -> String {
    let mut s = String::from("usage: vm-test [SCENARIO...]\n\nscenarios:\n");
    for sc in all {
        writeln!(s, "  {:<12} {}", sc.name, sc.about).expect("writing to a String");
    }
    s
}

/// The scenarios `args` names (every one when none), in the suite's
/// order, with the ones whose VM a chosen scenario borrows.
fn choose<'a>(all: &'a [Scenario], args: &[String]) -> Result<Vec<&'a Scenario>> {
    for a in args {
        if !all.iter().any(|s| s.name == a) {
            eprint!("{}", usage(all));
            bail!("no scenario `{a}`");
        }
    }
    let mut wanted: Vec<&str> = args.iter().map(String::as_str).collect();
    for s in all {
        if let Some(lender) = s.borrows {
            if wanted.contains(&s.name) && !wanted.contains(&lender) {
                say!(
                    "`{}` borrows the VM of `{lender}`: running that too",
                    s.name
                );
                wanted.push(lender);
            }
        }
    }
    Ok(all
        .iter()
        .filter(|s| args.is_empty() || wanted.contains(&s.name))
        .collect())
}

fn run() -> Result<bool> {
    let all = scenarios::all();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{}", usage(&all));
        return Ok(true);
    }
    let chosen = choose(&all, &args)?;
    let lent: Vec<&'static str> = chosen.iter().filter_map(|s| s.borrows).collect();

    let suite = Instant::now();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("vm-tests sits in the repository")
        .to_owned();
    // The clawbake that cargo built beside this harness, in the same profile.
    let clawbake = match std::env::var_os("CLAWBAKE_BIN") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .context("finding the harness's own path")?
            .with_file_name("clawbake"),
    };
    if !clawbake.is_file() {
        bail!(
            "{} is missing: run `cargo build --workspace` (or `just vm-test`, which does)",
            clawbake.display()
        );
    }
    let cache = cache::Cache::from_env()?;
    say!("cache: {}", cache.dir().display());

    let prep = Instant::now();
    let preload = standins::archive(&cache, &repo)?;
    let base = match std::env::var("CLAWBAKE_VM_BASE").as_deref() {
        Ok("ubuntu") => ubuntu::provider_image(&cache, &preload)?,
        Ok("offline") | Err(_) => base::debian(&cache, &repo, &preload)?,
        Ok(other) => bail!("CLAWBAKE_VM_BASE is `{other}`; use `offline` or `ubuntu`"),
    };
    let prep_time = prep.elapsed();
    say!("base: {}", base.describe());
    let accel = accel::choose(&base)?;

    let work = tempfile::Builder::new()
        .prefix("clawbake-vm-test-")
        .tempdir()
        .context("creating the work directory")?;
    let key = site::keygen(work.path())?;
    let ctx = Context::new(
        repo,
        clawbake,
        base,
        accel,
        work.path().to_owned(),
        key,
        lent,
    );
    let keep = std::env::var("CLAWBAKE_VM_KEEP").is_ok_and(|v| v == "1");

    let results = run_lanes(&lanes_of(chosen), &ctx, keep);

    let mut summary = Vec::new();
    let mut ok = true;
    let mut errors = Vec::new();
    let mut kept = false;
    for lane in results {
        print!("{}", lane.report);
        ok &= lane.error.is_none() && lane.summary.iter().all(|(_, passed, _, _)| *passed);
        kept |= lane.kept;
        errors.extend(lane.error);
        summary.extend(lane.summary);
    }
    if kept {
        // The kept VM holds the work directory; leave it too.
        let _ = work.keep();
    }

    println!(
        "\nvm-test summary ({}; {})",
        ctx.base.describe(),
        ctx.accel.name()
    );
    println!(
        "  images (stand-ins and base, built or cached): {:.1}s",
        prep_time.as_secs_f64()
    );
    for (name, passed, took, timings) in &summary {
        println!(
            "  {} {name}: {:.1}s",
            if *passed { "PASS" } else { "FAIL" },
            took.as_secs_f64()
        );
        for (what, t) in timings.rows() {
            println!("      {what:<40} {:>7.1}s", t.as_secs_f64());
        }
    }
    println!("  whole suite: {:.1}s", suite.elapsed().as_secs_f64());
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(ok)
}

/// Lanes: a scenario that continues the one before it runs in that one's
/// lane; every other scenario starts a lane of its own.
fn lanes_of(chosen: Vec<&Scenario>) -> Vec<Vec<&Scenario>> {
    let mut lanes: Vec<Vec<&Scenario>> = Vec::new();
    for scenario in chosen {
        match lanes.last_mut() {
            Some(lane)
                if lane
                    .last()
                    .is_some_and(|p| scenario.continues == Some(p.name)) =>
            {
                lane.push(scenario);
            }
            _ => lanes.push(vec![scenario]),
        }
    }
    lanes
}

/// Run the lanes, one after another, or at once with
/// `CLAWBAKE_VM_PARALLEL=1`, for machines with cores to spare: on two cores
/// the guests' multi-threaded phases (boot, `docker load`, the stack coming
/// up) took each guest 1.6 to 2.4 times as long beside another.
fn run_lanes(lanes: &[Vec<&Scenario>], ctx: &Context, keep: bool) -> Vec<Lane> {
    let sequential =
        lanes.len() < 2 || !std::env::var("CLAWBAKE_VM_PARALLEL").is_ok_and(|v| v == "1");
    if sequential {
        let mut done = Vec::new();
        for lane in lanes {
            let lane = run_lane(lane, ctx, keep, false);
            // A kept VM is left for debugging: start no other beside it.
            let stop = lane.kept;
            done.push(lane);
            if stop {
                break;
            }
        }
        return done;
    }
    say!(
        "{} lanes at once (CLAWBAKE_VM_PARALLEL=1): {}",
        lanes.len(),
        lanes
            .iter()
            .map(|l| l.iter().map(|s| s.name).collect::<Vec<_>>().join(" -> "))
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .iter()
            .map(|lane| scope.spawn(|| run_lane(lane, ctx, keep, true)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Lane {
                    error: Some("a scenario lane panicked".into()),
                    ..Lane::default()
                })
            })
            .collect()
    })
}

/// What a lane of scenarios did.
#[derive(Default)]
struct Lane {
    summary: Vec<(&'static str, bool, std::time::Duration, Timings)>,
    /// Its report, when it was kept while lanes ran at once.
    report: String,
    /// A harness error that stopped the lane.
    error: Option<String>,
    /// Whether a failed VM was kept (`CLAWBAKE_VM_KEEP=1`).
    kept: bool,
}

/// Run a lane's scenarios in order, each handing its VM to the next when
/// that one continues it. With `at_once`, the report is kept for the end.
fn run_lane(lane: &[&Scenario], ctx: &Context, keep: bool, at_once: bool) -> Lane {
    report::lane_begin(lane.first().map_or("", |s| s.name), at_once);
    let mut done = Lane::default();
    let mut carried: Option<Carried> = None;
    for (i, scenario) in lane.iter().enumerate() {
        let started = Instant::now();
        let hand_on = lane.get(i + 1).is_some();
        match run_scenario(scenario, ctx, keep, carried.take(), hand_on) {
            Ok((passed, timings, vm)) => {
                done.summary
                    .push((scenario.name, passed, started.elapsed(), timings));
                carried = vm;
                if !passed {
                    done.kept = keep;
                    break;
                }
            }
            Err(e) => {
                done.error = Some(format!("{}: {e}", scenario.name));
                break;
            }
        }
    }
    drop(carried);
    for scenario in lane {
        if ctx.lent.contains(&scenario.name) {
            ctx.lane_done(scenario.name);
        }
    }
    done.report = report::lane_end();
    done
}

/// A passed scenario's VM and preparation, handed to the one that continues it.
type Carried = (vm::Vm, scenarios::Prepared);

/// Run one scenario in a fresh VM, or on `handed`, the VM and preparation
/// of the scenario it continues. Returns whether it passed, its timings,
/// and its VM when it passed and the next scenario continues it.
fn run_scenario(
    scenario: &Scenario,
    ctx: &Context,
    keep: bool,
    handed: Option<Carried>,
    hand_on: bool,
) -> Result<(bool, Timings, Option<Carried>)> {
    out!("\n== scenario {}: {}", scenario.name, scenario.about);
    let started = Instant::now();
    let (mut vm, prepared) = if let Some((vm, mut prepared)) = handed {
        say!(
            "continuing on the VM of `{}`, which passed",
            scenario.continues.unwrap_or_default()
        );
        prepared.provisioned = true;
        (vm, prepared)
    } else {
        let dir = ctx.work.join(scenario.name);
        std::fs::create_dir_all(&dir).context("creating the scenario's directory")?;
        let prepared = (scenario.prepare)(ctx, &dir)?;
        let vm = vm::Vm::start(
            &dir,
            &vm::Spec {
                base: &ctx.base,
                accel: ctx.accel,
                seed: &prepared.seed,
                admin_port: prepared.admin_port,
                key: &prepared.key,
                same_admin_port: prepared.same_admin_port,
                extra_disks: Vec::new(),
            },
        )?;
        say!(
            "VM started: {} vCPU, {} RAM, {}, {}",
            vm::VCPUS,
            vm::MEMORY,
            ctx.accel.name(),
            ctx.base.describe()
        );
        (vm, prepared)
    };
    let mut checks = Checks::default();
    let mut timings = Timings::default();
    let result = (scenario.run)(&vm, ctx, &prepared, &mut checks, &mut timings);
    timings.record(
        &format!("scenario {} (all)", scenario.name),
        started.elapsed(),
    );
    let failures = checks.failures();
    let passed = result.is_ok() && failures.is_empty() && checks.count() > 0;
    if !passed {
        if let Err(e) = &result {
            out!("  ERROR {e}");
        }
        for (name, why) in &failures {
            out!(
                "  failed: {name}: {}",
                why.lines().next().unwrap_or_default()
            );
        }
        diagnose(&vm, &prepared);
        if keep {
            vm.keep();
        }
    }
    timings.print(scenario.name);
    if passed && hand_on {
        return Ok((passed, timings, Some((vm, prepared))));
    }
    if passed && ctx.lent.contains(&scenario.name) {
        say!("keeping the VM, paused, for the scenario that borrows it");
        ctx.park(scenario.name, Some((vm, prepared)));
        return Ok((passed, timings, None));
    }
    drop(vm);
    Ok((passed, timings, None))
}

/// After a failure: the serial console's tail and cloud-init's log.
fn diagnose(vm: &vm::Vm, prepared: &scenarios::Prepared) {
    out!(
        "\n--- serial console (last 40 lines): {}",
        vm.serial.display()
    );
    out!("{}", vm.serial_tail(40));
    let log = [vm.admin_port, vm.ssh_port].iter().find_map(|p| {
        let conn = vm.connect(*p, std::time::Duration::from_secs(10)).ok()?;
        conn.output("tail -n 60 /var/log/cloud-init-output.log")
            .ok()
    });
    out!(
        "--- /var/log/cloud-init-output.log (last 60 lines, admin port {}):",
        prepared.admin_port
    );
    out!(
        "{}",
        log.as_deref().unwrap_or("(could not log in to read it)")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(lanes: &[Vec<&Scenario>]) -> Vec<Vec<&'static str>> {
        lanes
            .iter()
            .map(|l| l.iter().map(|s| s.name).collect())
            .collect()
    }

    #[test]
    fn a_scenario_joins_the_lane_of_the_one_it_continues() {
        let all = scenarios::all();
        assert_eq!(
            names(&lanes_of(all.iter().collect())),
            [vec!["cloud-init"], vec!["provision", "rebuild", "migrate"]]
        );
        // Without the one it continues, it starts a lane of its own.
        let chosen = all.iter().filter(|s| s.name != "provision").collect();
        assert_eq!(
            names(&lanes_of(chosen)),
            [vec!["cloud-init"], vec!["rebuild", "migrate"]]
        );
    }

    #[test]
    fn a_scenario_brings_the_one_whose_vm_it_borrows() {
        let all = scenarios::all();
        let chosen = choose(&all, &["migrate".to_owned()]).unwrap();
        assert_eq!(
            names(&lanes_of(chosen)),
            [vec!["cloud-init"], vec!["migrate"]]
        );
        assert!(choose(&all, &["nope".to_owned()]).is_err());
    }
}
