//! provision: a fresh VM whose seed only authorizes the test's key for
//! root; `clawbake provision --host` delivers the same bundle over SSH and
//! must reach the state the cloud-init scenario checks, with `clawbake
//! verify` passing on the hardened host.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use clawbake::host::transport::ssh::Connection;

use super::checks::{self, clawbake};
use super::scenario::{Prepared, Scenario};
use crate::context::Context;
use crate::error::{Context as _, Error, Result};
use crate::report::{Checks, Timings};
use crate::vm::Vm;
use crate::{bail, registry, say, seed, site};

pub fn scenario() -> Scenario {
    Scenario {
        name: "provision",
        about: "a fresh VM with only an SSH key: `clawbake provision --host` reaches the same verified state",
        continues: None,
        borrows: None,
        prepare,
        run,
    }
}

/// A seed that only lets the test's key in as root.
pub fn key_only_seed(dir: &Path, key: &Path) -> Result<std::path::PathBuf> {
    let public = fs::read_to_string(key.with_extension("pub")).context("reading the public key")?;
    let user_data = dir.join("user-data");
    fs::write(
        &user_data,
        format!(
            "#cloud-config\n# vm-test: only the key; clawbake provisions over SSH.\ndisable_root: false\nssh_authorized_keys:\n  - {}\n",
            public.trim()
        ),
    )
    .context("writing the seed's user-data")?;
    let meta_data = dir.join("meta-data");
    fs::write(
        &meta_data,
        "instance-id: clawbake-vm-test-provision\nlocal-hostname: fresh\n",
    )
    .context("writing the seed's meta-data")?;
    seed::write(dir, &user_data, &meta_data)
}

fn prepare(ctx: &Context, dir: &Path) -> Result<Prepared> {
    let key = ctx.key.clone();
    let site_file = site::write(&ctx.repo, dir, &key, |t| t)?;
    let dist = dir.join("dist");
    site::build(&ctx.clawbake, &site_file, &dist)?;
    let seed = key_only_seed(dir, &key)?;
    Ok(Prepared {
        seed,
        key,
        admin_port: checks::admin_port(&dist)?,
        dist,
        site: site_file,
        same_admin_port: true,
        provisioned: false,
    })
}

/// Boot, wait for the key-only cloud-init, then `clawbake provision`.
pub fn provision_fresh(
    vm: &Vm,
    ctx: &Context,
    prep: &Prepared,
    checks: &mut Checks,
    timings: &mut Timings,
) -> Result<()> {
    let (first, _) = vm.wait_for_first_ssh(Duration::from_secs(300), Duration::from_secs(900))?;
    timings.record("boot to SSH", vm.started.elapsed());
    let mut out = Vec::new();
    let code = first
        .run("cloud-init status --wait", &mut |b| {
            out.extend_from_slice(b);
        })
        .context("waiting for cloud-init")?;
    drop(first);
    timings.record("cloud-init done (key only)", vm.started.elapsed());
    if code != 0 {
        bail!(
            "the key-only seed's cloud-init ended with {code}: {}",
            String::from_utf8_lossy(&out).trim()
        );
    }
    say!("provisioning over SSH (port 22 -> {})", prep.admin_port);
    let (code, text, took) = clawbake(ctx, vm, prep, "provision", vm.ssh_port, &prep.site)?;
    timings.record("clawbake provision (first)", took);
    // Each step's time, from provision's own progress lines:
    // `  done    10-base (43.8s)`.
    for line in text.lines() {
        let Some((name, secs)) = line
            .trim()
            .strip_prefix("done")
            .and_then(|l| l.trim().strip_suffix("s)"))
            .and_then(|l| l.split_once(" ("))
        else {
            continue;
        };
        if let Ok(secs) = secs.parse::<f64>() {
            timings.record(&format!("  step {name}"), Duration::from_secs_f64(secs));
        }
    }
    checks.check(
        "clawbake provision succeeds (and its verify passes)",
        || {
            if code == 0 {
                Ok(format!("{:.0}s", took.as_secs_f64()))
            } else {
                bail!("exit code {code}")
            }
        },
    );
    if code != 0 {
        bail!("clawbake provision failed");
    }
    Ok(())
}

/// The harness's own checks, on the admin port. (`clawbake verify` has
/// run already: `provision` ends with it and fails when a check fails.)
pub fn harness_checks(
    vm: &Vm,
    conn: &Connection,
    prep: &Prepared,
    checks: &mut Checks,
) -> Result<()> {
    let healthy = checks::wait_healthy(conn, Duration::from_secs(300));
    checks.check("every service of the stack is healthy", || healthy);
    checks::host_checks(vm, conn, prep, checks);
    checks::system_checks(conn, prep, checks);
    checks::stack_checks(conn, prep, checks)
}

fn run(
    vm: &Vm,
    ctx: &Context,
    prep: &Prepared,
    checks: &mut Checks,
    timings: &mut Timings,
) -> Result<()> {
    provision_fresh(vm, ctx, prep, checks, timings)?;
    let conn = vm
        .connect(vm.admin_port, Duration::from_secs(20))
        .map_err(|e| Error(format!("logging in on the admin port: {e}")))?;
    harness_checks(vm, &conn, prep, checks)?;
    checks::secret_checks(vm, ctx, prep, &conn, checks, timings)?;
    checks::backup_checks(vm, ctx, prep, &conn, checks, timings)?;
    checks::converged_check(&conn, checks);
    let started = Instant::now();
    checks.check(
        "an archive from `clawbake images save` (local registry) loads in the guest",
        || {
            let dir = prep
                .dist
                .parent()
                .unwrap_or(Path::new("."))
                .join("registry");
            registry::load_in_guest(&ctx.clawbake, &ctx.repo, &dir, &prep.key, &conn)
        },
    );
    timings.record("registry: pin, save, docker load", started.elapsed());
    Ok(())
}
