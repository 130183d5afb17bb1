//! rebuild: after a first provision, a stack change that also upgrades
//! OpenClaw (2026.2.15 to 2026.9.6, each release's bundle on its stand-in
//! gateway) is a new release that backs up and keeps the OpenClaw data
//! volume, `rollback` returns to the first release and OpenClaw's,
//! a host change is refused as rebuild-required, and provisioning what the
//! host already runs is a no-op; `clawbake status` and `clawbake logs`
//! then read the host as it runs. Times how long the gateway was
//! unreachable while the stack change was applied.

use std::path::Path;
use std::time::Duration;

use clawbake::host::transport::ssh::Connection;

use super::checks::{self, clawbake};
use super::provision;
use super::scenario::{Prepared, Scenario};
use crate::context::Context;
use crate::error::{Context as _, Error, Result};
use crate::report::{Checks, Timings};
use crate::vm::Vm;
use crate::{bail, site};

/// `clawbake provision`'s exit code when host files would change.
const REBUILD_REQUIRED: i32 = 7;
const MARKER: &str = "/var/lib/openclaw/vm-test-marker";

/// The stack change: OpenClaw's newer release on its stand-in, and one
/// value of the site's own (memory search off, below).
const UPGRADE: &str = "[openclaw]\nversion = \"2026.9.6\"\nmax_tokens = 4096\n\n[stack.services.gateway]\nimage = \"clawbake-test/gateway:2\"\n";

/// The OpenClaw release the running gateway stand-in started as, and the
/// path its healthcheck asks for.
fn gateway_release(conn: &Connection) -> Result<String> {
    let out = conn
        .output(
            "docker exec openclaw sh -c 'cut -d\" \" -f2 \"$OPENCLAW_STATE_DIR\"/standin-gateway.started' && \
             docker inspect openclaw --format '{{json .Config.Healthcheck.Test}}' | grep -o \"127.0.0.1:[0-9]*/[a-z]*\"",
        )
        .map_err(|e| Error(format!("reading the gateway's release: {e}")))?;
    Ok(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

pub fn scenario() -> Scenario {
    Scenario {
        name: "rebuild",
        about: "stack change keeps the data volume; rollback; host change refused; no-op provision",
        continues: Some("provision"),
        borrows: None,
        prepare: |ctx, dir| {
            let mut prep = provision_prepare(ctx, dir)?;
            prep.same_admin_port = true;
            Ok(prep)
        },
        run,
    }
}

fn provision_prepare(ctx: &Context, dir: &Path) -> Result<Prepared> {
    (provision::scenario().prepare)(ctx, dir)
}

fn build_id(conn: &Connection) -> Result<String> {
    let state = conn
        .output("cat /var/lib/clawbake/state.json")
        .map_err(|e| Error(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&state).context("reading state.json")?;
    Ok(v["build_id"].as_str().unwrap_or_default().to_owned())
}

/// The test site with `extra` appended, in its own directory.
fn variant(ctx: &Context, prep: &Prepared, name: &str, extra: &str) -> Result<std::path::PathBuf> {
    let dir = prep.dist.parent().unwrap_or(Path::new(".")).join(name);
    site::write(&ctx.repo, &dir, &prep.key, |t| format!("{t}\n{extra}"))
}

fn run(
    vm: &Vm,
    ctx: &Context,
    prep: &Prepared,
    checks: &mut Checks,
    timings: &mut Timings,
) -> Result<()> {
    // Handed on by the provision scenario, the VM already runs the site.
    if !prep.provisioned {
        provision::provision_fresh(vm, ctx, prep, checks, timings)?;
    }
    let conn = vm
        .connect(vm.admin_port, Duration::from_secs(20))
        .map_err(|e| Error(format!("logging in on the admin port: {e}")))?;
    let first = build_id(&conn)?;
    conn.output(&format!(
        "docker exec openclaw sh -c 'echo vm-test > \"$OPENCLAW_STATE_DIR\"/vm-test-marker' && test -s {MARKER}"
    ))
    .map_err(|e| Error(format!("writing the marker: {e}")))?;

    // The gateway through the ingress, twice a second, while the stack changes.
    let poller = conn
        .output(
            "nohup sh -c 'while :; do echo \"$(date +%s.%N) $(curl -s -o /dev/null -w %{http_code} --max-time 2 http://127.0.0.1:80/)\"; sleep 0.5; done' \
             > /root/gateway-poll.log 2>&1 & echo $!",
        )
        .map_err(|e| Error(e.to_string()))?;
    let before = gateway_release(&conn)?;
    // 2026.9.6 has no Voyage of its own: the site turns memory search off.
    let dir = prep
        .dist
        .parent()
        .unwrap_or(Path::new("."))
        .join("stack-change");
    let stack_site = site::write(&ctx.repo, &dir, &prep.key, |t| {
        let t = t.replace("provider = \"voyage\"", "provider = \"none\"");
        format!("{t}\n{UPGRADE}")
    })?;
    let (code, out, took) = clawbake(ctx, vm, prep, "provision", prep.admin_port, &stack_site)?;
    timings.record("stack-change provision", took);
    let _ = conn.output(&format!("kill {}", poller.trim()));
    let second = build_id(&conn)?;
    checks.check("a stack change provisions a new release", || {
        if code == 0 && second != first {
            Ok(format!(
                "{} -> {}",
                &first[..12.min(first.len())],
                &second[..12.min(second.len())]
            ))
        } else {
            bail!(
                "exit code {code}, build {second}: {}",
                out.lines().last().unwrap_or_default()
            )
        }
    });
    upgraded(&conn, &before, &out, checks)?;
    let poll = conn
        .output("cat /root/gateway-poll.log")
        .map_err(|e| Error(e.to_string()))?;
    let down = unreachable_for(&poll);
    timings.record("gateway unreachable during the stack change", down);
    checks.check("the marker in the OpenClaw data volume survives", || {
        let got = conn
            .output("docker exec openclaw sh -c 'cat \"$OPENCLAW_STATE_DIR\"/vm-test-marker'")
            .map_err(|e| Error(e.to_string()))?;
        if got.trim() == "vm-test" {
            Ok(String::new())
        } else {
            bail!("marker reads {got:?}")
        }
    });

    let (code, out, _) = clawbake(ctx, vm, prep, "rollback", prep.admin_port, &stack_site)?;
    rolled_back(&conn, &first, &before, code, &out, checks)?;

    let host_site = variant(ctx, prep, "host-change", site::HOST_CHANGE)?;
    let (code, _, _) = clawbake(ctx, vm, prep, "provision", prep.admin_port, &host_site)?;
    checks.check("a host change is refused: rebuild required", || {
        if code == REBUILD_REQUIRED {
            Ok(format!("exit code {code}"))
        } else {
            bail!("exit code {code}, want {REBUILD_REQUIRED}")
        }
    });

    let (code, _, took) = clawbake(ctx, vm, prep, "provision", prep.admin_port, &prep.site)?;
    timings.record("no-op provision", took);
    let after = build_id(&conn)?;
    checks.check("provisioning what the host runs is a no-op", || {
        if code == 0 && after == first {
            Ok(format!("{:.1}s", took.as_secs_f64()))
        } else {
            bail!("exit code {code}, build {after}")
        }
    });
    // Back on the first release: the stack as verified, by clawbake's own
    // checks (the provision scenario ran the harness's on this release).
    let healthy = checks::wait_healthy(&conn, Duration::from_secs(300));
    checks.check("every service of the stack is healthy", || healthy);
    status_and_logs(vm, ctx, prep, &first, checks)?;
    checks::clawbake_verify(vm, ctx, prep, checks)
}

/// After the upgrade: the backup line, doctor's run on the state, and the
/// gateway on 2026.9.6's stand-in with that release's healthcheck.
fn upgraded(conn: &Connection, before: &str, out: &str, checks: &mut Checks) -> Result<()> {
    let after = gateway_release(conn)?;
    let doctor = conn
        .output("docker exec openclaw sh -c 'cat \"$OPENCLAW_STATE_DIR\"/standin-doctor' || true")
        .map_err(|e| Error(e.to_string()))?;
    checks.check(
        "the upgrade backs up, migrates the state with doctor, runs 2026.9.6's bundle",
        || {
            let backup = out.lines().find(|l| l.trim_start().starts_with("backup:"));
            if before.starts_with("2026.2.15 ")
                && before.ends_with(":18789/")
                && after.starts_with("2026.9.6 ")
                && after.ends_with(":18789/healthz")
                && doctor.trim().ends_with(" 2026.9.6")
                && let Some(line) = backup
            {
                Ok(format!("{before} -> {after}; {}", line.trim()))
            } else {
                bail!("gateway {before:?} -> {after:?}, doctor {doctor:?}, backup line {backup:?}")
            }
        },
    );
    Ok(())
}

/// After the rollback: the first release, and OpenClaw's with it, named.
fn rolled_back(
    conn: &Connection,
    first: &str,
    before: &str,
    code: i32,
    out: &str,
    checks: &mut Checks,
) -> Result<()> {
    let back = build_id(conn)?;
    let release = gateway_release(conn)?;
    checks.check(
        "rollback returns to the first release and OpenClaw 2026.2.15",
        || {
            let noted = out.contains("OpenClaw goes back from 2026.9.6 to 2026.2.15");
            if code == 0 && back == first && release == before && noted {
                Ok(release.clone())
            } else {
                bail!(
                    "exit code {code}, build {back}, gateway {release:?}, downgrade noted: {noted}"
                )
            }
        },
    );

    Ok(())
}

/// The day-2 commands on the host as it runs: `status --json` names the
/// release and every service running and healthy with nothing pending,
/// and `logs openclaw --tail 20` prints the gateway's last lines.
fn status_and_logs(
    vm: &Vm,
    ctx: &Context,
    prep: &Prepared,
    release: &str,
    checks: &mut Checks,
) -> Result<()> {
    let site = prep.site.as_os_str();
    let (code, out) =
        checks::clawbake_stdout(ctx, vm, prep, &["status".as_ref(), "--json".as_ref(), site])?;
    checks.check(
        "clawbake status: the release, every service healthy, nothing pending",
        || {
            if code != 0 {
                bail!("exit code {code}");
            }
            let v: serde_json::Value =
                serde_json::from_str(&out).context("reading status --json")?;
            let services = v["services"].as_array().cloned().unwrap_or_default();
            let unwell: Vec<String> = services
                .iter()
                .filter(|s| {
                    s["state"] != "running"
                        || !s["status"].as_str().unwrap_or("").contains("(healthy)")
                })
                .map(|s| format!("{} {} {}", s["name"], s["state"], s["status"]))
                .collect();
            if v["release"] != release
                || v["pending"] != "no-change"
                || services.len() < 5
                || !unwell.is_empty()
            {
                bail!(
                    "release {} pending {} services {} unwell {unwell:?}",
                    v["release"],
                    v["pending"],
                    services.len()
                );
            }
            Ok(format!("{} services healthy", services.len()))
        },
    );
    let words = ["logs", "openclaw", "--tail", "20", "--site"];
    let mut words: Vec<&std::ffi::OsStr> = words.iter().map(std::convert::AsRef::as_ref).collect();
    words.push(site);
    let (code, out) = checks::clawbake_stdout(ctx, vm, prep, &words)?;
    checks.check("clawbake logs: the gateway's last lines", || {
        let lines = out.lines().count();
        if code == 0 && (1..=20).contains(&lines) {
            Ok(format!("{lines} lines"))
        } else {
            bail!("exit code {code}, {lines} lines")
        }
    });
    Ok(())
}

/// The longest stretch between a failed poll and the next success.
fn unreachable_for(poll: &str) -> Duration {
    let mut longest = 0.0_f64;
    let mut down_since: Option<f64> = None;
    for line in poll.lines() {
        let mut parts = line.split_whitespace();
        let (Some(t), Some(code)) = (
            parts.next().and_then(|t| t.parse::<f64>().ok()),
            parts.next(),
        ) else {
            continue;
        };
        if code == "200" {
            if let Some(since) = down_since.take() {
                longest = longest.max(t - since);
            }
        } else if down_since.is_none() {
            down_since = Some(t);
        }
    }
    Duration::from_secs_f64(longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_time_is_the_longest_gap_of_failures() {
        let poll = "10.0 200\n10.5 502\n11.0 000\n11.5 200\n12.0 502\n12.5 200\n";
        assert!((unreachable_for(poll).as_secs_f64() - 1.0).abs() < 1e-9);
        assert_eq!(unreachable_for("1.0 200\n"), Duration::ZERO);
    }
}
