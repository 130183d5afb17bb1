//! migrate: the rebuild as one command, between two VMs that other
//! scenarios booted. The old server is the provision lane's VM (handed on
//! by rebuild, on the test site); the new one is the cloud-init scenario's
//! VM, built by cloud-init from the same site with a host-scope change and
//! kept paused for this. A marker in OpenClaw's state and a user secret
//! must arrive, the new server must pass verify, a tampered copy must be
//! refused with nothing changed, and `--abort` must bring the old server
//! back healthy. Reports the migration's time, the gateway's downtime and
//! its ratio to a bare backup + restore of the same state (the provision
//! scenario's, on the old VM).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clawbake::host::transport::ssh::Connection;

use super::checks::{self, clawbake_secrets};
use super::provision;
use super::scenario::{Prepared, Scenario};
use crate::context::Context;
use crate::error::{Context as _, Error, Result};
use crate::report::{Checks, Timings};
use crate::vm::Vm;
use crate::{bail, out, say};

/// `clawbake restore`'s exit code for a damaged or tampered backup.
const BACKUP_DAMAGED: i32 = 13;
/// A user secret the site names (LiteLLM's provider key).
const USER_SECRET: &str = "/opt/clawbake/secrets/ANTHROPIC_API_KEY";

pub fn scenario() -> Scenario {
    Scenario {
        name: "migrate",
        about: "`clawbake migrate` to the cloud-init VM (a host-scope change): state and secrets arrive, verified; a tampered copy refused; --abort goes back",
        continues: Some("rebuild"),
        borrows: Some("cloud-init"),
        prepare: |ctx, dir| {
            let mut prep = (provision::scenario().prepare)(ctx, dir)?;
            prep.same_admin_port = true;
            Ok(prep)
        },
        run,
    }
}

fn expect(conn: &Connection, cmd: &str) -> Result<String> {
    conn.output(cmd).map_err(|e| Error(e.to_string()))
}

/// `clawbake migrate NEW_SITE --from OLD --to NEW ...`, with one key and
/// one `known_hosts` holding both VMs' host keys.
fn migrate(
    ctx: &Context,
    (old, new): (&Vm, &Vm),
    site: &Path,
    known_hosts: &Path,
    extra: &[&str],
) -> Result<(i32, String, Duration)> {
    let mut cmd = Command::new(&ctx.clawbake);
    cmd.arg("migrate")
        .arg(site)
        .arg("--from")
        .arg(format!("root@127.0.0.1:{}", old.admin_port))
        .arg("--to")
        .arg(format!("root@127.0.0.1:{}", new.admin_port))
        .arg("--identity")
        .arg(&ctx.key)
        .arg("--known-hosts")
        .arg(known_hosts)
        .args(["--allow-unpinned", "--guard", "600"])
        .arg("--log")
        .arg(ctx.work.join("migrate").join("clawbake-migrate.log"))
        .args(extra);
    let started = Instant::now();
    let output = cmd.output().context("running clawbake migrate")?;
    let took = started.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for line in text.lines() {
        out!("    | {line}");
    }
    Ok((output.status.code().unwrap_or(-1), text, took))
}

/// Both VMs' `known_hosts` in one file, as a user's holds both servers.
fn both_known_hosts(dir: &Path, old: &Vm, new: &Vm) -> Result<PathBuf> {
    let mut text = String::new();
    for vm in [old, new] {
        text.push_str(&fs::read_to_string(vm.known_hosts()).unwrap_or_default());
    }
    let path = dir.join("known_hosts");
    fs::write(&path, text).context("writing the joined known_hosts")?;
    Ok(path)
}

#[allow(clippy::too_many_lines)] // one story, checked step by step
fn run(
    vm: &Vm,
    ctx: &Context,
    prep: &Prepared,
    checks: &mut Checks,
    timings: &mut Timings,
) -> Result<()> {
    if !prep.provisioned {
        provision::provision_fresh(vm, ctx, prep, checks, timings)?;
    }
    let old = vm
        .connect(vm.admin_port, Duration::from_secs(20))
        .map_err(|e| Error(format!("logging in to the old server: {e}")))?;
    // A user secret to move: the provision scenario set one; alone, set it.
    if expect(&old, &format!("test -s {USER_SECRET} && echo set || true"))?.trim() != "set" {
        let value = format!("sk-ant-vmtest-migrate-{}", std::process::id());
        let (code, _, _) = clawbake_secrets(
            ctx,
            vm,
            prep,
            &["set", "ANTHROPIC_API_KEY", "--from-env", "VMTEST_KEY"],
            &[("VMTEST_KEY", &value)],
        )?;
        if code != 0 {
            bail!("setting a user secret on the old server: exit code {code}");
        }
    }
    let secret = expect(&old, &format!("sha256sum < {USER_SECRET}"))?;
    let marker = format!("migrate-{}", std::process::id());
    expect(
        &old,
        &format!(
            "docker exec openclaw sh -c 'echo {marker} > \"$OPENCLAW_STATE_DIR\"/migrate-marker'"
        ),
    )?;

    let started = Instant::now();
    let (new_vm, new_prep) = ctx.borrow("cloud-init")?;
    say!(
        "the cloud-init VM resumed after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let new = new_vm
        .connect(new_vm.admin_port, Duration::from_secs(20))
        .map_err(|e| Error(format!("logging in to the new server: {e}")))?;
    let dir = ctx.work.join("migrate");
    fs::create_dir_all(&dir).context("creating the migration's directory")?;
    let known_hosts = both_known_hosts(&dir, vm, &new_vm)?;
    let copy = dir.join("copy");
    let copy_arg = copy.display().to_string();
    let pair = (vm, &new_vm);

    let (code, text, took) = migrate(
        ctx,
        pair,
        &new_prep.site,
        &known_hosts,
        &["--copy", &copy_arg],
    )?;
    timings.record("clawbake migrate (all)", took);
    let down = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("gateway down: "))
        .and_then(|l| l.split('s').next())
        .and_then(|s| s.parse::<f64>().ok())
        .map(Duration::from_secs_f64);
    if let Some(down) = down {
        timings.record("  the gateway down (old stopped -> new verified)", down);
    }
    let bare = *ctx
        .bare_backup_restore
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(bare) = bare {
        timings.record("  floor: a bare backup --to + restore", bare);
    }
    checks.check(
        "`clawbake migrate` moves the site to a server built with a host-scope change, verified there",
        || {
            if code != 0 {
                bail!(
                    "exit code {code}: {}",
                    text.lines().last().unwrap_or_default()
                );
            }
            let Some(down) = down else {
                bail!("no downtime reported");
            };
            Ok(match bare {
                Some(bare) => format!(
                    "{:.0}s in all; gateway down {:.1}s = {:.2} x a bare backup + restore ({:.1}s)",
                    took.as_secs_f64(),
                    down.as_secs_f64(),
                    down.as_secs_f64() / bare.as_secs_f64(),
                    bare.as_secs_f64()
                ),
                None => format!(
                    "{:.0}s in all; gateway down {:.1}s (no bare backup + restore timed in this run)",
                    took.as_secs_f64(),
                    down.as_secs_f64()
                ),
            })
        },
    );
    if code != 0 {
        bail!("clawbake migrate failed");
    }
    checks.check(
        "the new server runs the host-scope change (vm.swappiness 20)",
        || match expect(&new, "sysctl -n vm.swappiness")?.trim() {
            "20" => Ok(String::new()),
            other => bail!("vm.swappiness is {other}"),
        },
    );
    let read_marker = "docker exec openclaw sh -c 'cat \"$OPENCLAW_STATE_DIR\"/migrate-marker'";
    checks.check(
        "the marker in OpenClaw's state arrived (read by the new gateway)",
        || {
            let got = expect(&new, read_marker)?;
            if got.trim() == marker {
                Ok(String::new())
            } else {
                bail!("the new gateway reads {:?}", got.trim())
            }
        },
    );
    checks.check(
        "the user secret arrived, and LiteLLM on the new server reads it",
        || {
            if expect(&new, &format!("sha256sum < {USER_SECRET}"))? != secret {
                bail!("the new server's file differs from the old one's");
            }
            let inside = expect(
                &new,
                "docker exec openclaw-litellm cat /run/secrets/ANTHROPIC_API_KEY | sha256sum",
            )?;
            if inside != secret {
                bail!("LiteLLM's /run/secrets/ANTHROPIC_API_KEY is not the value moved");
            }
            Ok(String::new())
        },
    );
    let running = "docker inspect --format '{{.State.Running}} {{.State.Health.Status}}' openclaw";
    checks.check(
        "the old server's gateway is left stopped",
        || match expect(&old, running)?.split_whitespace().next() {
            Some("false") => Ok(String::new()),
            other => bail!("running: {other:?}"),
        },
    );

    // A copy with one byte changed: refused before the new server changes.
    let id_before = expect(&new, "docker inspect --format '{{.Id}}' openclaw")?;
    let tampered = tamper(&copy)?;
    let mut cmd = Command::new(&ctx.clawbake);
    cmd.arg("restore")
        .arg(&copy)
        .arg("--password-file")
        .arg(copy.join("password"))
        .arg("--site")
        .arg(&new_prep.site)
        .arg("--host")
        .arg(format!("root@127.0.0.1:{}", new_vm.admin_port))
        .arg("--identity")
        .arg(&ctx.key)
        .arg("--known-hosts")
        .arg(&known_hosts);
    let output = cmd.output().context("running clawbake restore")?;
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    checks.check(
        "a tampered copy is refused (exit 13) and the new server is left as it was",
        || {
            let code = output.status.code().unwrap_or(-1);
            if code != BACKUP_DAMAGED {
                bail!("exit code {code}, want {BACKUP_DAMAGED}: {}", said.trim());
            }
            if expect(&new, "docker inspect --format '{{.Id}}' openclaw")? != id_before {
                bail!("the new gateway was recreated");
            }
            if expect(&new, read_marker)?.trim() != marker {
                bail!("the new server's state changed");
            }
            Ok(format!(
                "{tampered}: {}",
                said.lines().next().unwrap_or_default()
            ))
        },
    );

    let (code, text, took) = migrate(ctx, pair, &new_prep.site, &known_hosts, &["--abort"])?;
    timings.record("clawbake migrate --abort", took);
    checks.check(
        "`clawbake migrate --abort`: the new gateway stops, the old one serves again, healthy",
        || {
            if code != 0 {
                bail!(
                    "exit code {code}: {}",
                    text.lines().last().unwrap_or_default()
                );
            }
            let new_state = expect(&new, running)?;
            if !new_state.starts_with("false") {
                bail!("the new gateway: {}", new_state.trim());
            }
            let old_state = expect(&old, running)?;
            if old_state.trim() != "true healthy" {
                bail!("the old gateway: {}", old_state.trim());
            }
            if expect(&old, read_marker)?.trim() != marker {
                bail!("the old server's state lost the marker");
            }
            Ok(format!("{:.0}s", took.as_secs_f64()))
        },
    );
    drop(new);
    drop(new_vm);
    checks::wait_healthy(&old, Duration::from_secs(300)).map(|_| ())
}

/// Change one byte of a data file in the copy; which one, for the report.
fn tamper(copy: &Path) -> Result<String> {
    let data = copy.join("restic/data");
    let mut files: Vec<PathBuf> = fs::read_dir(&data)
        .context("reading the copy's data directory")?
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter_map(|d| fs::read_dir(d).ok())
        .flatten()
        .filter_map(|f| f.ok().map(|f| f.path()))
        .collect();
    files.sort();
    let Some(file) = files.first() else {
        bail!("the copy holds no data file");
    };
    let mut bytes = fs::read(file).context("reading a data file")?;
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    fs::write(file, bytes).context("writing the tampered file")?;
    Ok(format!(
        "data/{}",
        file.file_name().unwrap_or_default().to_string_lossy()
    ))
}
