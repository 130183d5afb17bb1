//! cloud-init: clawbake's user-data, exactly as built, as the only seed.
//! The guest boots, cloud-init applies the release, and the host ends up
//! hardened with a healthy stack. Checked over SSH on the admin port. The
//! site carries a host-scope change ([`site::HOST_CHANGE`]) against the
//! provision lane's, so that this VM, kept paused, is the fresh server the
//! migrate scenario moves that lane's host to.

use std::path::Path;
use std::time::Duration;

use clawbake::host::transport::ssh::Connection;

use super::checks::{self, admin_port, host_checks, stack_checks, system_checks, wait_healthy};
use super::scenario::{Prepared, Scenario};
use crate::context::Context;
use crate::error::{Context as _, Error, Result};
use crate::report::{Checks, Timings};
use crate::vm::Vm;
use crate::{bail, say, seed, site};

pub fn scenario() -> Scenario {
    Scenario {
        name: "cloud-init",
        about: "build, seed, boot: cloud-init alone reaches a hardened host with a healthy stack",
        continues: None,
        borrows: None,
        prepare,
        run,
    }
}

fn prepare(ctx: &Context, dir: &Path) -> Result<Prepared> {
    let key = ctx.key.clone();
    let site_file = site::write(&ctx.repo, dir, &key, site::with_host_change)?;
    let dist = dir.join("dist");
    site::build(&ctx.clawbake, &site_file, &dist)?;
    let seed = seed::write(dir, &dist.join("user-data"), &dist.join("meta-data"))?;
    Ok(Prepared {
        seed,
        key,
        admin_port: admin_port(&dist)?,
        dist,
        site: site_file,
        same_admin_port: false,
        provisioned: false,
    })
}

fn run(
    vm: &Vm,
    ctx: &Context,
    prep: &Prepared,
    checks: &mut Checks,
    timings: &mut Timings,
) -> Result<()> {
    let (first, port) = vm.wait_for_ssh(Duration::from_secs(900))?;
    timings.record("boot to SSH", vm.started.elapsed());
    say!(
        "SSH login after {:.0}s (port {}); waiting for cloud-init",
        vm.started.elapsed().as_secs_f64(),
        if port == vm.ssh_port {
            22
        } else {
            prep.admin_port
        }
    );

    let mut out = Vec::new();
    let code = first
        .run("cloud-init status --wait --long", &mut |b| {
            out.extend_from_slice(b);
        })
        .context("waiting for cloud-init")?;
    timings.record("cloud-init done", vm.started.elapsed());
    drop(first);
    let status = String::from_utf8_lossy(&out).replace('.', "");
    checks.check("cloud-init status --wait succeeds", || {
        if code == 0 {
            Ok(String::new())
        } else {
            bail!("exit code {code}: {}", status.trim())
        }
    });

    let conn = match vm.connect(vm.admin_port, Duration::from_secs(20)) {
        Ok(c) => c,
        Err(e) => {
            checks.check("root logs in by key on the admin port", || {
                Err(Error(e.to_string()))
            });
            bail!("cannot log in on the admin port {}", prep.admin_port);
        }
    };
    checks.check("root logs in by key on the admin port", || {
        Ok(format!("port {}", prep.admin_port))
    });

    step_times(&conn, timings);
    let healthy = wait_healthy(&conn, Duration::from_secs(300));
    timings.record("stack healthy", vm.started.elapsed());
    checks.check("every service of the stack is healthy", || healthy);

    host_checks(vm, &conn, prep, checks);
    system_checks(&conn, prep, checks);
    stack_checks(&conn, prep, checks)?;

    // The same state, as `clawbake verify` sees it from here.
    checks::clawbake_verify(vm, ctx, prep, &prep.site, checks)
}

/// Each step's time, as the apply script logged it on the host.
fn step_times(conn: &Connection, timings: &mut Timings) {
    let log = conn
        .output("grep -h '^clawbake: step .*: done in' /var/log/clawbake/apply.log || true")
        .unwrap_or_default();
    for line in log.lines() {
        let Some((name, secs)) = line
            .strip_prefix("clawbake: step ")
            .and_then(|l| l.split_once(": done in "))
        else {
            continue;
        };
        if let Ok(secs) = secs.trim_end_matches('s').parse::<u64>() {
            timings.record(&format!("  step {name}"), Duration::from_secs(secs));
        }
    }
}
