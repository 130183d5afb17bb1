//! cloud-init: clawbake's user-data, exactly as built, as the only seed.
//! The guest boots, cloud-init applies the release, and the host ends up
//! hardened with a healthy stack. Checked over SSH on the admin port.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use clawbake::transport::ssh::{Connection, shell_quote};

use super::{Prepared, Scenario};
use crate::context::Context;
use crate::error::{Context as _, Error, Result};
use crate::report::{Checks, Timings};
use crate::vm::Vm;
use crate::{bail, say, seed, site};

const PROBE_JS: &str = include_str!("../../guest/probe.js");
/// The stack's containers, by `container_name` in the compose file.
const CONTAINERS: [&str; 5] = [
    "openclaw",
    "openclaw-litellm",
    "openclaw-egress",
    "openclaw-docker-proxy",
    "openclaw-caddy",
];

pub fn scenario() -> Scenario {
    Scenario {
        name: "cloud-init",
        about: "build, seed, boot: cloud-init alone reaches a hardened host with a healthy stack",
        prepare,
        run,
    }
}

fn prepare(ctx: &Context, dir: &Path) -> Result<Prepared> {
    let key = site::keygen(dir)?;
    let site_file = site::write(&ctx.repo, dir, &key, |t| t)?;
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
    })
}

/// The admin port, as the release's sshd drop-in sets it.
pub fn admin_port(dist: &Path) -> Result<u16> {
    let conf = fs::read_to_string(dist.join("release/host/etc/ssh/sshd_config.d/10-clawbake.conf"))
        .context("reading the release's sshd drop-in")?;
    conf.lines()
        .find_map(|l| l.strip_prefix("Port "))
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| Error("the release's sshd drop-in sets no Port".into()))
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

    let healthy = wait_healthy(&conn, Duration::from_secs(300));
    timings.record("stack healthy", vm.started.elapsed());
    checks.check("every service of the stack is healthy", || healthy);

    host_checks(vm, &conn, prep, checks);
    system_checks(&conn, prep, checks);
    stack_checks(&conn, checks)?;
    service_checks(&conn, checks);

    // The same state, as `clawbake verify` sees it from here.
    super::provision::clawbake_verify(vm, ctx, prep, checks)
}

/// Poll until every container reports healthy.
pub fn wait_healthy(conn: &Connection, limit: Duration) -> Result<String> {
    let deadline = Instant::now() + limit;
    let cmd = format!(
        "docker inspect --format '{{{{.Name}}}} {{{{.State.Health.Status}}}}' {}",
        CONTAINERS.join(" ")
    );
    let mut last = String::new();
    while Instant::now() < deadline {
        let mut out = Vec::new();
        let code = conn
            .run(&cmd, &mut |b| out.extend_from_slice(b))
            .context("inspecting the containers")?;
        String::from_utf8_lossy(&out).trim().clone_into(&mut last);
        if code == 0
            && last.lines().count() == CONTAINERS.len()
            && last.lines().all(|l| l.ends_with(" healthy"))
        {
            return Ok(format!("{} containers", CONTAINERS.len()));
        }
        std::thread::sleep(Duration::from_secs(5));
    }
    bail!("not all healthy after {}s:\n{last}", limit.as_secs())
}

fn expect(conn: &Connection, cmd: &str) -> Result<String> {
    conn.output(cmd).map_err(|e| Error(e.to_string()))
}

pub fn host_checks(vm: &Vm, conn: &Connection, prep: &Prepared, checks: &mut Checks) {
    let port = prep.admin_port;
    checks.check(&format!("sshd listens on {port} and not on 22"), || {
        let listening = expect(conn, "ss -Hltn")?;
        let on = |p: u16| {
            listening.lines().any(|l| {
                l.split_whitespace()
                    .nth(3)
                    .is_some_and(|a| a.ends_with(&format!(":{p}")))
            })
        };
        match (on(port), on(22)) {
            (true, false) => Ok(String::new()),
            _ => bail!("listening sockets:\n{listening}"),
        }
    });
    checks.check("sshd takes keys only", || {
        let t = expect(conn, "sshd -T")?;
        for want in [
            "passwordauthentication no",
            "kbdinteractiveauthentication no",
            "permitrootlogin without-password",
        ] {
            if !t.lines().any(|l| l == want) {
                bail!("`sshd -T` lacks `{want}`");
            }
        }
        Ok(String::new())
    });
    checks.check("port 22 is closed from outside", || {
        match vm.connect(vm.ssh_port, Duration::from_secs(10)) {
            Ok(_) => bail!("a login on port 22 succeeded"),
            Err(e) => Ok(format!("{e}").lines().next().unwrap_or_default().to_owned()),
        }
    });
    checks.check("ufw is active, default deny incoming", || {
        let s = expect(conn, "ufw status verbose")?;
        if s.contains("Status: active")
            && s.contains("deny (incoming)")
            && s.contains(&format!("{port}/tcp"))
        {
            Ok(String::new())
        } else {
            bail!("`ufw status verbose`:\n{s}")
        }
    });
}

pub fn system_checks(conn: &Connection, prep: &Prepared, checks: &mut Checks) {
    checks.check("sysctl values are the release's", || {
        let file = fs::read_to_string(prep.dist.join("release/host/etc/sysctl.d/99-clawbake.conf"))
            .context("reading the release's sysctl file")?;
        let mut n = 0;
        for (key, want) in file
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
        {
            let (key, want) = (key.trim(), want.trim());
            let got = expect(conn, &format!("sysctl -n {}", shell_quote(key)))?;
            if got.trim() != want {
                bail!("{key} is {}, the release sets {want}", got.trim());
            }
            n += 1;
        }
        Ok(format!("{n} values"))
    });
    checks.check("daemon.json is the release's and in effect", || {
        let want = clawbake::bundle::sha256_hex(
            &fs::read(prep.dist.join("release/host/etc/docker/daemon.json"))
                .context("reading daemon.json")?,
        );
        let got = expect(conn, "sha256sum /etc/docker/daemon.json")?;
        if !got.starts_with(&want) {
            bail!("/etc/docker/daemon.json differs from the release's");
        }
        let info = expect(
            conn,
            "docker info --format '{{.LiveRestoreEnabled}} {{.LoggingDriver}}'",
        )?;
        if info.trim() == "true json-file" {
            Ok("live-restore on, json-file logs".into())
        } else {
            bail!("docker info: {}", info.trim())
        }
    });
    checks.check("swap file is on", || {
        let steps = fs::read_to_string(prep.dist.join("release/steps/10-base.sh"))
            .context("reading 10-base.sh")?;
        let mib: u64 = steps
            .lines()
            .find_map(|l| l.strip_prefix("swap_mib="))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error("10-base.sh sets no swap_mib".into()))?;
        let s = expect(conn, "swapon --show=NAME,SIZE --bytes --noheadings")?;
        let size = s
            .lines()
            .find_map(|l| l.strip_prefix("/swapfile"))
            .and_then(|v| v.trim().parse::<u64>().ok());
        match size {
            // swapon counts the file less its one-page header.
            Some(b) if b <= mib << 20 && b + (64 << 10) >= mib << 20 => {
                Ok(format!("/swapfile, {mib} MiB"))
            }
            _ => bail!("swapon shows:\n{s}"),
        }
    });
    checks.check(
        "DOCKER-USER sends new published-port traffic to the Cloudflare filter",
        || {
            let user = expect(conn, "iptables -S DOCKER-USER")?;
            let chain = expect(conn, "iptables -S CLAWBAKE-INGRESS")?;
            let jump = user.lines().any(|l| {
                l.contains("--ctstate NEW ")
                    && l.contains("--ctstate DNAT ")
                    && l.ends_with("-j CLAWBAKE-INGRESS")
            });
            let ports = ["80", "443"]
                .iter()
                .all(|p| chain.contains(&format!("--ctorigdstport {p} -j RETURN")));
            let drop = chain.lines().last().is_some_and(|l| l.ends_with("-j DROP"));
            if jump && ports && drop {
                Ok(format!("{} rules", chain.lines().count().saturating_sub(1)))
            } else {
                bail!("DOCKER-USER:\n{user}\nCLAWBAKE-INGRESS:\n{chain}")
            }
        },
    );
    checks.check("no secret in /var/lib/cloud/instance/user-data.txt", || {
        let out = expect(
            conn,
            "n=0; for f in /opt/clawbake/secrets/*; do [ -f \"$f\" ] && [ -s \"$f\" ] || continue; n=$((n+1)); \
             if grep -qF -- \"$(cat \"$f\")\" /var/lib/cloud/instance/user-data.txt; then echo \"LEAK $f\"; fi; done; echo \"checked $n\"",
        )?;
        if out.contains("LEAK") || out.contains("checked 0") {
            bail!("{}", out.trim())
        }
        Ok(format!("{} secrets", out.trim().trim_start_matches("checked ")))
    });
}

/// Run probe.js inside the gateway container with the given environment.
fn probe(conn: &Connection, env: &[(&str, &str)]) -> Result<String> {
    let mut cmd = String::from("docker exec -i");
    for (k, v) in env {
        cmd.push_str(" -e ");
        cmd.push_str(&shell_quote(&format!("{k}={v}")));
    }
    cmd.push_str(" openclaw node - < /root/clawbake-vm-test/probe.js");
    Ok(expect(conn, &cmd)?.trim().to_owned())
}

pub fn stack_checks(conn: &Connection, checks: &mut Checks) -> Result<()> {
    conn.output("install -d -m 0700 /root/clawbake-vm-test")
        .context("creating the probe's directory")?;
    conn.upload(
        "/root/clawbake-vm-test/probe.js",
        PROBE_JS.as_bytes(),
        0o600,
        &mut |_| {},
    )
    .context("uploading probe.js")?;

    let squid = |target: &str| {
        probe(
            conn,
            &[
                ("PROBE", "connect"),
                ("PROXY_HOST", "egress"),
                ("PROXY_PORT", "3128"),
                ("TARGET", target),
            ],
        )
    };
    checks.check(
        "Squid refuses a domain off the whitelist (403, from the gateway)",
        || {
            let code = squid("example.com:443")?;
            if code == "403" {
                Ok("CONNECT example.com:443 -> 403".into())
            } else {
                bail!("CONNECT example.com:443 -> {code}")
            }
        },
    );
    checks.check(
        "Squid passes a whitelisted domain (not 403, from the gateway)",
        || {
            let code = squid("api.anthropic.com:443")?;
            // Only deb.debian.org is reachable from here, so Squid's answer is
            // an upstream error (503) or 200: anything but its 403.
            if code == "403" || code.starts_with("error") || code == "timeout" {
                bail!("CONNECT api.anthropic.com:443 -> {code}")
            }
            Ok(format!("CONNECT api.anthropic.com:443 -> {code}"))
        },
    );
    checks.check("Squid's own leg reaches out (egress-net, DOCKER-USER lets it)", || {
        let ip = expect(conn, "getent ahostsv4 deb.debian.org | awk 'NR==1 {print $1}'")?;
        let ip = ip.trim();
        let out = expect(
            conn,
            &format!("docker exec openclaw-egress timeout 15 bash -c 'exec 3<>/dev/tcp/{ip}/80' && echo connected || echo refused"),
        )?;
        if out.trim() == "connected" {
            Ok(format!("{ip}:80 from the Squid container"))
        } else {
            bail!("the Squid container cannot reach {ip}:80: {}", out.trim())
        }
    });
    checks.check("the gateway has no route out except through Squid", || {
        let routes = expect(conn, "docker exec openclaw cat /proc/net/route")?;
        let default = routes
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some("00000000"));
        if default {
            bail!("the gateway container has a default route:\n{routes}");
        }
        let ip = expect(
            conn,
            "getent ahostsv4 deb.debian.org | awk 'NR==1 {print $1}'",
        )?;
        let ip = ip.trim();
        let host = expect(
            conn,
            &format!("curl -s -o /dev/null -w '%{{http_code}}' --max-time 15 http://{ip}/ || true"),
        )?;
        let direct = probe(conn, &[("PROBE", "tcp"), ("HOST", ip), ("PORT", "80")])?;
        if direct == "connected" {
            bail!("the gateway connected to {ip}:80 directly");
        }
        Ok(format!(
            "no default route; {ip}:80 from the host: HTTP {}, from the gateway: {direct}",
            host.trim()
        ))
    });
    Ok(())
}

pub fn service_checks(conn: &Connection, checks: &mut Checks) {
    checks.check("the gateway's token auth: 401 without, 200 with", || {
        let url = "http://127.0.0.1:18789/api/status";
        let without = probe(conn, &[("PROBE", "http"), ("URL", url)])?;
        let with = probe(
            conn,
            &[
                ("PROBE", "http"),
                ("URL", url),
                ("BEARER_FROM", "OPENCLAW_GATEWAY_TOKEN"),
            ],
        )?;
        if without == "401" && with == "200" {
            Ok(String::new())
        } else {
            bail!("without: {without}, with: {with}")
        }
    });
    checks.check(
        "the socket proxy allows containers, denies info, volumes, networks",
        || {
            let get = |path: &str, method: &str| {
                probe(
                    conn,
                    &[
                        ("PROBE", "http"),
                        ("URL", &format!("http://docker-proxy:2375{path}")),
                        ("METHOD", method),
                    ],
                )
            };
            let results = [
                (
                    "GET /v1.45/containers/json",
                    get("/v1.45/containers/json", "GET")?,
                    "200",
                ),
                ("GET /info", get("/info", "GET")?, "403"),
                ("GET /volumes", get("/volumes", "GET")?, "403"),
                (
                    "POST /networks/create",
                    get("/networks/create", "POST")?,
                    "403",
                ),
            ];
            let wrong: Vec<String> = results
                .iter()
                .filter(|(_, got, want)| got != want)
                .map(|(r, got, want)| format!("{r}: {got}, want {want}"))
                .collect();
            if wrong.is_empty() {
                Ok(String::new())
            } else {
                bail!("{}", wrong.join("; "))
            }
        },
    );
    checks.check("LiteLLM answers the gateway with the master key", || {
        let code = probe(
            conn,
            &[
                ("PROBE", "http"),
                ("URL", "http://litellm:4000/v1/models"),
                ("BEARER_FROM", "LITELLM_MASTER_KEY"),
            ],
        )?;
        if code == "200" {
            Ok(String::new())
        } else {
            bail!("GET /v1/models -> {code}")
        }
    });
    checks.check(
        "the gateway image has the docker CLI, through the proxy",
        || {
            let out = expect(conn, "docker exec openclaw docker ps")?;
            if out.contains("\"Id\"") {
                Ok(String::new())
            } else {
                bail!("{out}")
            }
        },
    );
}
