//! rebuild: after a first provision, three stack releases keep the
//! OpenClaw data volume: one that changes only LiteLLM's config leaves the
//! gateway's container alone; one that changes the gateway's is timed
//! against a plain `docker restart` of the gateway (the floor); one that
//! also upgrades OpenClaw (2026.2.15 to 2026.9.6, each release's bundle on
//! its stand-in gateway) backs the data up and migrates it first.
//! `rollback` returns to the release before, and OpenClaw's; a host change
//! is refused as rebuild-required, and provisioning what the host already
//! runs is a no-op; `clawbake status` and `clawbake logs` then read the
//! host as it runs.

use std::path::{Path, PathBuf};
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

/// A change to LiteLLM's config alone (`litellm.yaml`).
const LITELLM_ONLY: &str = "[models.claude-opus-4-6]\nrpm = 30\n";
/// A change to the gateway's config (`openclaw.json`), on top of it.
const GATEWAY: &str = "[openclaw]\nmax_tokens = 4096\n";
/// OpenClaw's newer release on its stand-in, on top of both (and memory
/// search off: 2026.9.6 has no Voyage of its own).
const UPGRADE: &str =
    "version = \"2026.9.6\"\n\n[stack.services.gateway]\nimage = \"clawbake-test/gateway:2\"\n";

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
        about: "stack releases keep the data volume (LiteLLM only, gateway timed, OpenClaw upgrade); rollback; host change refused; no-op provision",
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
fn variant(ctx: &Context, prep: &Prepared, name: &str, extra: &str) -> Result<PathBuf> {
    let dir = prep.dist.parent().unwrap_or(Path::new(".")).join(name);
    site::write(&ctx.repo, &dir, &prep.key, |t| {
        let t = if extra.contains(UPGRADE) {
            t.replace("provider = \"voyage\"", "provider = \"none\"")
        } else {
            t
        };
        format!("{t}\n{extra}")
    })
}

/// The ids of the gateway's and LiteLLM's containers.
fn container_ids(conn: &Connection) -> Result<(String, String)> {
    let out = conn
        .output("docker inspect --format '{{.Id}}' openclaw openclaw-litellm")
        .map_err(|e| Error(format!("reading the container ids: {e}")))?;
    let mut ids = out.split_whitespace().map(str::to_owned);
    Ok((
        ids.next().unwrap_or_default(),
        ids.next().unwrap_or_default(),
    ))
}

/// Poll the gateway through the ingress twice a second, in the background,
/// into `log`; the poller's pid.
fn start_polling(conn: &Connection, log: &str) -> Result<String> {
    conn.output(&format!(
        "nohup sh -c 'while :; do echo \"$(date +%s.%N) $(curl -s -o /dev/null -w %{{http_code}} --max-time 2 http://127.0.0.1:80/)\"; sleep 0.5; done' \
         > {log} 2>&1 & echo $!"
    ))
    .map_err(|e| Error(e.to_string()))
}

/// Stop the poller; the longest time the gateway was unreachable.
fn stop_polling(conn: &Connection, pid: &str, log: &str) -> Result<Duration> {
    let _ = conn.output(&format!("kill {}", pid.trim()));
    let poll = conn
        .output(&format!("cat {log}"))
        .map_err(|e| Error(e.to_string()))?;
    Ok(unreachable_for(&poll))
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

    litellm_only(vm, ctx, prep, &conn, checks, timings)?;
    let (gateway_site, second) = gateway_change(vm, ctx, prep, &conn, &first, checks, timings)?;

    let before = gateway_release(&conn)?;
    let upgrade_site = variant(
        ctx,
        prep,
        "upgrade",
        &format!("{LITELLM_ONLY}\n{GATEWAY}{UPGRADE}"),
    )?;
    let (code, out, took) = clawbake(ctx, vm, prep, "provision", prep.admin_port, &upgrade_site)?;
    timings.record("OpenClaw upgrade provision", took);
    let third = build_id(&conn)?;
    checks.check("the OpenClaw upgrade provisions a new release", || {
        if code == 0 && third != second {
            Ok(String::new())
        } else {
            bail!(
                "exit code {code}, build {third}: {}",
                out.lines().last().unwrap_or_default()
            )
        }
    });
    upgraded(&conn, &before, &out, checks)?;
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

    let (code, out, _) = clawbake(ctx, vm, prep, "rollback", prep.admin_port, &upgrade_site)?;
    rolled_back(&conn, &second, &before, code, &out, checks)?;

    let host_site = variant(ctx, prep, "host-change", site::HOST_CHANGE)?;
    let (code, _, _) = clawbake(ctx, vm, prep, "provision", prep.admin_port, &host_site)?;
    checks.check("a host change is refused: rebuild required", || {
        if code == REBUILD_REQUIRED {
            Ok(format!("exit code {code}"))
        } else {
            bail!("exit code {code}, want {REBUILD_REQUIRED}")
        }
    });

    let (code, _, took) = clawbake(ctx, vm, prep, "provision", prep.admin_port, &gateway_site)?;
    timings.record("no-op provision", took);
    let after = build_id(&conn)?;
    checks.check("provisioning what the host runs is a no-op", || {
        if code == 0 && after == second {
            Ok(format!("{:.1}s", took.as_secs_f64()))
        } else {
            bail!("exit code {code}, build {after}")
        }
    });
    // Back on the release before the upgrade: the stack as verified, by
    // clawbake's own checks.
    let healthy = checks::wait_healthy(&conn, Duration::from_secs(300));
    checks.check("every service of the stack is healthy", || healthy);
    status_and_logs(vm, ctx, prep, &gateway_site, &second, checks)?;
    checks::clawbake_verify(vm, ctx, prep, &gateway_site, checks)
}

/// A release that changes only LiteLLM's config: LiteLLM is recreated, the
/// gateway's container is the one that ran before.
fn litellm_only(
    vm: &Vm,
    ctx: &Context,
    prep: &Prepared,
    conn: &Connection,
    checks: &mut Checks,
    timings: &mut Timings,
) -> Result<()> {
    let site = variant(ctx, prep, "litellm-change", LITELLM_ONLY)?;
    let (gateway, litellm) = container_ids(conn)?;
    let (code, out, took) = clawbake(ctx, vm, prep, "provision", prep.admin_port, &site)?;
    timings.record("LiteLLM-only provision", took);
    let (gateway_after, litellm_after) = container_ids(conn)?;
    checks.check(
        "a release that changes only LiteLLM's config leaves the gateway's container alone",
        || {
            if code == 0 && gateway_after == gateway && litellm_after != litellm {
                Ok(format!("gateway {}", &gateway[..12.min(gateway.len())]))
            } else {
                bail!(
                    "exit code {code}, gateway {gateway} -> {gateway_after}, litellm {litellm} -> {litellm_after}: {}",
                    out.lines().last().unwrap_or_default()
                )
            }
        },
    );
    Ok(())
}

/// A release that changes the gateway's config, with the gateway polled
/// through the ingress; then one `docker restart` of the gateway, polled
/// the same way: the floor the release's downtime is held to. The site
/// and the build it made.
fn gateway_change(
    vm: &Vm,
    ctx: &Context,
    prep: &Prepared,
    conn: &Connection,
    first: &str,
    checks: &mut Checks,
    timings: &mut Timings,
) -> Result<(PathBuf, String)> {
    let site = variant(
        ctx,
        prep,
        "gateway-change",
        &format!("{LITELLM_ONLY}\n{GATEWAY}"),
    )?;
    let poller = start_polling(conn, "/root/gateway-poll.log")?;
    let (code, out, took) = clawbake(ctx, vm, prep, "provision", prep.admin_port, &site)?;
    timings.record("stack-change provision", took);
    let down = stop_polling(conn, &poller, "/root/gateway-poll.log")?;
    timings.record("gateway unreachable during the stack change", down);
    let build = build_id(conn)?;
    checks.check("a stack change provisions a new release", || {
        if code == 0 && build != first {
            Ok(format!(
                "{} -> {}",
                &first[..12.min(first.len())],
                &build[..12.min(build.len())]
            ))
        } else {
            bail!(
                "exit code {code}, build {build}: {}",
                out.lines().last().unwrap_or_default()
            )
        }
    });

    let poller = start_polling(conn, "/root/gateway-restart.log")?;
    conn.output("docker restart openclaw >/dev/null")
        .map_err(|e| Error(format!("restarting the gateway: {e}")))?;
    let healthy = checks::wait_healthy(conn, Duration::from_secs(300));
    // A few more polls once healthy, so the last gap has its end.
    std::thread::sleep(Duration::from_secs(2));
    let floor = stop_polling(conn, &poller, "/root/gateway-restart.log")?;
    timings.record("gateway unreachable during one docker restart", floor);
    let ratio = down.as_secs_f64() / floor.as_secs_f64().max(0.5);
    checks.check(
        "the stack change's gateway downtime against one docker restart",
        || {
            if let Err(e) = &healthy {
                bail!("the gateway after its restart: {}", e.0);
            }
            // The goal is 1.2; the check holds a bound emulation's noise
            // cannot reach, and the ratio is reported either way.
            if ratio <= 2.0 {
                Ok(format!(
                    "{:.1}s against {:.1}s: {ratio:.2}x",
                    down.as_secs_f64(),
                    floor.as_secs_f64()
                ))
            } else {
                bail!(
                    "{:.1}s against {:.1}s: {ratio:.2}x",
                    down.as_secs_f64(),
                    floor.as_secs_f64()
                )
            }
        },
    );
    Ok((site, build))
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

/// After the rollback: the release before, and OpenClaw's with it, named.
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
        "rollback returns to the release before and OpenClaw 2026.2.15",
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
    site: &Path,
    release: &str,
    checks: &mut Checks,
) -> Result<()> {
    let site = site.as_os_str();
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
