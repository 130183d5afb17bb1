//! What every scenario checks once a host is up, whichever way it was
//! delivered: the hardened host, the system settings, the stack and its
//! network from the gateway's seat (one Node run of `guest/probe.js`), and
//! `clawbake verify` run against it. The scenarios decide when; this module
//! only checks.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use clawbake::host::transport::ssh::{Connection, shell_quote};

use super::scenario::Prepared;
use crate::bail;
use crate::context::Context;
use crate::error::{Context as _, Error, Result};
use crate::report::Checks;
use crate::vm::Vm;

const PROBE_JS: &str = include_str!("../../guest/probe.js");

/// The stack's containers, by `container_name` in the compose file.
const CONTAINERS: [&str; 5] = [
    "openclaw",
    "openclaw-litellm",
    "openclaw-egress",
    "openclaw-docker-proxy",
    "openclaw-caddy",
];

/// The admin port, as the release's sshd drop-in sets it.
pub fn admin_port(dist: &Path) -> Result<u16> {
    let conf = fs::read_to_string(dist.join("release/host/etc/ssh/sshd_config.d/10-clawbake.conf"))
        .context("reading the release's sshd drop-in")?;
    conf.lines()
        .find_map(|l| l.strip_prefix("Port "))
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| Error("the release's sshd drop-in sets no Port".into()))
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

/// Every probe, run at once by one probe.js inside the gateway container:
/// each result by its id. One Node start under emulation costs seconds.
fn probe_all(conn: &Connection, probes: &serde_json::Value) -> Result<BTreeMap<String, String>> {
    let cmd = format!(
        "docker exec -i -e {} openclaw node - < /root/clawbake-vm-test/probe.js",
        shell_quote(&format!("PROBES={probes}"))
    );
    let out = expect(conn, &cmd)?;
    let line = out.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| Error(format!("probe.js printed {out:?}: {e}")))
}

/// What the gateway sees of its networks: Squid both ways, no direct route,
/// its own token auth, the socket proxy's rules, LiteLLM's key; and what
/// Squid's own leg and the host see.
pub fn stack_checks(conn: &Connection, prep: &Prepared, checks: &mut Checks) -> Result<()> {
    conn.output("install -d -m 0700 /root/clawbake-vm-test")
        .context("creating the probe's directory")?;
    conn.upload(
        "/root/clawbake-vm-test/probe.js",
        PROBE_JS.as_bytes(),
        0o600,
        &mut |_| {},
    )
    .context("uploading probe.js")?;
    // The one outside address this machine reaches, by name.
    let ip = expect(
        conn,
        "getent ahostsv4 deb.debian.org | awk 'NR==1 {print $1}'",
    )?;
    let ip = ip.trim().to_owned();
    let squid = |id: &str, target: &str| {
        serde_json::json!({
            "id": id, "kind": "connect", "proxy_host": "egress", "proxy_port": 3128, "target": target,
        })
    };
    let http = |id: &str, url: &str, method: &str, bearer_from: Option<&str>| {
        serde_json::json!({
            "id": id, "kind": "http", "url": url, "method": method, "bearer_from": bearer_from,
        })
    };
    let gateway = "http://127.0.0.1:18789/api/status";
    let (name, create) = sandbox_create(&prep.dist)?;
    let mut probes = serde_json::json!([
        squid("denied", "example.com:443"),
        squid("allowed", "api.anthropic.com:443"),
        {"id": "direct", "kind": "tcp", "host": ip, "port": 80},
        http("gateway-without", gateway, "GET", None),
        http("gateway-with", gateway, "GET", Some("OPENCLAW_GATEWAY_TOKEN")),
        http("litellm", "http://litellm:4000/v1/models", "GET", Some("LITELLM_GATEWAY_KEY")),
        http("litellm-admin", "http://litellm:4000/model/info", "GET", Some("LITELLM_GATEWAY_KEY")),
        squid("raw-ip", &format!("{ip}:443")),
        {"id": "lifecycle", "kind": "lifecycle", "name": name, "create": create},
    ]);
    for (id, method, path, body) in docker_attacks(&name, &create) {
        probes
            .as_array_mut()
            .expect("a list")
            .push(serde_json::json!({
                "id": id, "kind": "docker", "method": method, "path": path, "body": body,
            }));
    }
    let got = probe_all(conn, &probes)?;
    network_checks(conn, &got, &ip, checks);
    service_checks(conn, &got, checks);
    docker_checks(&got, &name, &create, checks);
    Ok(())
}

/// The sandbox OpenClaw would create, as the release's Docker policy
/// describes it: its name and the create body the docker CLI sends.
fn sandbox_create(dist: &Path) -> Result<(String, serde_json::Value)> {
    let path = dist.join("release/stack/docker-proxy/policy.json");
    let text = fs::read_to_string(&path).context(format_args!("reading {}", path.display()))?;
    let p: serde_json::Value = serde_json::from_str(&text).context("parsing policy.json")?;
    let slug = p["slugs"][0].as_str().unwrap_or_default();
    let name = format!("{}{slug}", p["name_prefix"].as_str().unwrap_or_default());
    let bind = format!(
        "{}/{slug}:{}",
        p["sandbox_dir"].as_str().unwrap_or_default(),
        p["workdir"].as_str().unwrap_or_default()
    );
    let create = serde_json::json!({
        "User": p["user"], "Image": p["images"][0], "Cmd": ["sleep", "3600"],
        "WorkingDir": p["workdir"], "Env": ["LANG=C.UTF-8"],
        "Labels": { "openclaw.sandbox": "1", "openclaw.sessionKey": "agent:main" },
        "HostConfig": {
            "Binds": [bind], "NetworkMode": "none", "ReadonlyRootfs": true,
            "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"],
            "Tmpfs": { "/tmp": "", "/var/tmp": "", "/run": "" },
            "Memory": p["memory_bytes"], "MemorySwap": p["memory_bytes"],
            "NanoCpus": p["nano_cpus"], "PidsLimit": p["pids_limit"],
        },
    });
    Ok((name, create))
}

/// From the gateway's seat, what must be refused: each a way to host root,
/// another container's secrets, or an endpoint outside the lifecycle.
fn docker_attacks(
    name: &str,
    create: &serde_json::Value,
) -> Vec<(String, &'static str, String, Option<String>)> {
    let with = |key: &str, value: serde_json::Value| {
        let mut body = create.clone();
        body["HostConfig"][key] = value;
        Some(body.to_string())
    };
    let create_path = format!("/v1.41/containers/create?name={name}");
    let litellm = "/v1.41/containers/openclaw-litellm";
    vec![
        (
            "privileged",
            "POST",
            create_path.clone(),
            with("Privileged", serde_json::json!(true)),
        ),
        (
            "host-root-bind",
            "POST",
            create_path.clone(),
            with("Binds", serde_json::json!(["/:/host"])),
        ),
        (
            "host-pid",
            "POST",
            create_path.clone(),
            with("PidMode", serde_json::json!("host")),
        ),
        (
            "host-network",
            "POST",
            create_path,
            with("NetworkMode", serde_json::json!("host")),
        ),
        ("inspect-litellm", "GET", format!("{litellm}/json"), None),
        (
            "exec-litellm",
            "POST",
            format!("{litellm}/exec"),
            Some(r#"{"Cmd":["env"],"AttachStdout":true}"#.into()),
        ),
        (
            "exec-proxy",
            "POST",
            "/v1.41/containers/openclaw-docker-proxy/exec".into(),
            Some(r#"{"Cmd":["sh"]}"#.into()),
        ),
        ("export-litellm", "GET", format!("{litellm}/export"), None),
        (
            "pull",
            "POST",
            "/v1.41/images/create?fromImage=alpine&tag=3".into(),
            None,
        ),
        ("list", "GET", "/v1.41/containers/json?all=1".into(), None),
        ("info", "GET", "/info".into(), None),
        ("volumes", "GET", "/volumes".into(), None),
        (
            "networks",
            "POST",
            "/networks/create".into(),
            Some(r#"{"Name":"x"}"#.into()),
        ),
    ]
    .into_iter()
    .map(|(id, method, path, body): (&str, _, String, _)| {
        (format!("attack-{id}"), method, path, body)
    })
    .collect()
}

/// The Docker policy, on the guest's real daemon: every attack refused by
/// the policy, and the sandbox lifecycle through to the exec's output.
fn docker_checks(
    got: &BTreeMap<String, String>,
    name: &str,
    create: &serde_json::Value,
    checks: &mut Checks,
) {
    checks.check(
        "the Docker policy refuses every escape the gateway tries",
        || {
            let attacks = docker_attacks(name, create);
            let tried = attacks.len();
            let through: Vec<String> = attacks
                .into_iter()
                .map(|(id, ..)| (result(got, &id).to_owned(), id))
                .filter(|(answer, _)| !answer.starts_with("403 clawbake docker policy"))
                .map(|(answer, id)| format!("{id}: {answer}"))
                .collect();
            if through.is_empty() {
                Ok(format!("{tried} of {tried} refused"))
            } else {
                bail!("{}", through.join("; "))
            }
        },
    );
    checks.check(
        "a sandbox's lifecycle passes the Docker policy (real daemon)",
        || {
            let answer = result(got, "lifecycle");
            if answer.starts_with("ok exit 0")
                && answer.contains("sandbox says hi")
                && answer.contains("wrote")
            {
                Ok(answer.to_owned())
            } else {
                bail!("{answer}")
            }
        },
    );
    checks.check(
        "Squid refuses a raw IP (from the gateway)",
        || match result(got, "raw-ip") {
            "403" => Ok("CONNECT to an address -> 403".into()),
            code => bail!("CONNECT to an address -> {code}"),
        },
    );
}

/// The probe `id`'s result.
fn result<'a>(got: &'a BTreeMap<String, String>, id: &str) -> &'a str {
    got.get(id).map_or("(no result)", String::as_str)
}

/// Egress: Squid's whitelist both ways, its own way out, and none for the
/// gateway but through it. `ip` is an outside address this machine reaches.
fn network_checks(
    conn: &Connection,
    got: &BTreeMap<String, String>,
    ip: &str,
    checks: &mut Checks,
) {
    let result = |id: &str| result(got, id);

    checks.check(
        "Squid refuses a domain off the whitelist (403, from the gateway)",
        || match result("denied") {
            "403" => Ok("CONNECT example.com:443 -> 403".into()),
            code => bail!("CONNECT example.com:443 -> {code}"),
        },
    );
    checks.check(
        "Squid passes a whitelisted domain (not 403, from the gateway)",
        || {
            let code = result("allowed");
            // Only deb.debian.org is reachable from here, so Squid's answer is
            // an upstream error (503) or 200: anything but its 403.
            if code == "403" || code.starts_with("error") || code == "timeout" {
                bail!("CONNECT api.anthropic.com:443 -> {code}")
            }
            Ok(format!("CONNECT api.anthropic.com:443 -> {code}"))
        },
    );
    checks.check("Squid's own leg reaches out (egress-net, DOCKER-USER lets it)", || {
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
        let host = expect(
            conn,
            &format!("curl -s -o /dev/null -w '%{{http_code}}' --max-time 15 http://{ip}/ || true"),
        )?;
        let direct = result("direct");
        if direct == "connected" {
            bail!("the gateway connected to {ip}:80 directly");
        }
        Ok(format!(
            "no default route; {ip}:80 from the host: HTTP {}, from the gateway: {direct}",
            host.trim()
        ))
    });
}

/// The services, as the gateway reaches them.
fn service_checks(conn: &Connection, got: &BTreeMap<String, String>, checks: &mut Checks) {
    let result = |id: &str| result(got, id);
    checks.check(
        "the gateway's token auth: 401 without, 200 with",
        || match (result("gateway-without"), result("gateway-with")) {
            ("401", "200") => Ok(String::new()),
            (without, with) => bail!("without: {without}, with: {with}"),
        },
    );
    checks.check(
        "LiteLLM answers the gateway's own key on a model route, not on an admin route",
        || match (result("litellm"), result("litellm-admin")) {
            ("200", "403") => Ok(String::new()),
            (models, admin) => bail!("GET /v1/models -> {models}, GET /model/info -> {admin}"),
        },
    );
    checks.check(
        "no container holds a key in its environment that it should not: the gateway no master key, LiteLLM none at all",
        || {
            let out = expect(
                conn,
                "docker inspect --format '{{.Name}} {{json .Config.Env}}' openclaw openclaw-litellm",
            )?;
            for (line, forbidden) in out.lines().zip([
                &["LITELLM_MASTER_KEY"][..],
                &["LITELLM_MASTER_KEY", "LITELLM_GATEWAY_KEY", "_API_KEY"][..],
            ]) {
                if let Some(name) = forbidden.iter().find(|f| line.contains(*f)) {
                    bail!("{name} in {}", line.split(' ').next().unwrap_or_default());
                }
            }
            if out.lines().count() != 2 || !out.contains("LITELLM_GATEWAY_KEY=") {
                // Names only: the values are secrets.
                let names: Vec<&str> = out
                    .split('"')
                    .filter_map(|v| v.split_once('=').map(|(n, _)| n))
                    .collect();
                bail!("{} containers; variables: {names:?}", out.lines().count());
            }
            Ok(String::new())
        },
    );
    checks.check(
        "the gateway's docker CLI reaches the Docker policy, which refuses a listing",
        || {
            let out = expect(conn, "docker exec openclaw docker ps 2>&1 || true")?;
            if out.contains("clawbake docker policy") {
                Ok(out.trim().to_owned())
            } else {
                bail!("{out}")
            }
        },
    );
}

/// `clawbake COMMAND --host root@127.0.0.1:PORT SITE`, with the VM's key
/// and `known_hosts`; its exit code and output (also echoed, indented).
pub fn clawbake(
    ctx: &Context,
    vm: &Vm,
    prep: &Prepared,
    command: &str,
    port: u16,
    site: &Path,
) -> Result<(i32, String, Duration)> {
    let mut cmd = Command::new(&ctx.clawbake);
    cmd.arg(command);
    run_clawbake(cmd, vm, prep, command, port, Some(site))
}

/// `clawbake secrets WORDS.. --host .. --site SITE`, with `env` set: a
/// value goes by `--from-env`, never on the command line.
pub fn clawbake_secrets(
    ctx: &Context,
    vm: &Vm,
    prep: &Prepared,
    words: &[&str],
    env: &[(&str, &str)],
) -> Result<(i32, String, Duration)> {
    let mut cmd = Command::new(&ctx.clawbake);
    cmd.arg("secrets").args(words).envs(env.iter().copied());
    cmd.arg("--site").arg(&prep.site);
    run_clawbake(cmd, vm, prep, "secrets", vm.admin_port, None)
}

/// `clawbake WORDS.. --host ..` on the admin port, the site among the
/// words as the command takes it (`status SITE`, `logs --site SITE`): the
/// exit code and stdout alone (what `--json` prints), stderr shown in the
/// report.
pub fn clawbake_stdout(
    ctx: &Context,
    vm: &Vm,
    prep: &Prepared,
    words: &[&std::ffi::OsStr],
) -> Result<(i32, String)> {
    let mut cmd = Command::new(&ctx.clawbake);
    cmd.args(words);
    let command = words[0].to_string_lossy().into_owned();
    let (out, _) = run_clawbake_output(cmd, vm, prep, &command, vm.admin_port, None)?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

fn run_clawbake(
    cmd: Command,
    vm: &Vm,
    prep: &Prepared,
    command: &str,
    port: u16,
    site: Option<&Path>,
) -> Result<(i32, String, Duration)> {
    let (out, took) = run_clawbake_output(cmd, vm, prep, command, port, site)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.code().unwrap_or(-1), text, took))
}

fn run_clawbake_output(
    mut cmd: Command,
    vm: &Vm,
    prep: &Prepared,
    command: &str,
    port: u16,
    site: Option<&Path>,
) -> Result<(std::process::Output, Duration)> {
    cmd.arg("--host")
        .arg(format!("root@127.0.0.1:{port}"))
        .arg("--identity")
        .arg(&prep.key)
        .arg("--known-hosts")
        .arg(vm.known_hosts());
    if let Some(site) = site {
        cmd.arg(site);
    }
    if let Some(fp) = vm.host_key() {
        cmd.arg("--accept-host-key").arg(fp);
    }
    if command == "provision" {
        // Emulated, ufw alone can take over a minute: more time before the
        // lock-out guard reverts the SSH port.
        cmd.arg("--guard").arg("600");
        // The stand-ins are built here, so no registry pins them.
        cmd.arg("--allow-unpinned");
    }
    if command == "provision" || command == "rollback" {
        cmd.arg("--log")
            .arg(vm.dir.join(format!("clawbake-{command}.log")));
    }
    let started = Instant::now();
    let out = cmd
        .output()
        .context(format_args!("running clawbake {command}"))?;
    let took = started.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for line in text.lines() {
        crate::report::out(&format!("    | {line}"));
    }
    Ok((out, took))
}

/// `clawbake verify` through the admin port's forward, as one check.
pub fn clawbake_verify(
    vm: &Vm,
    ctx: &Context,
    prep: &Prepared,
    site: &Path,
    checks: &mut Checks,
) -> Result<()> {
    let (code, _, _) = clawbake(ctx, vm, prep, "verify", vm.admin_port, site)?;
    checks.check("clawbake verify passes", || {
        if code == 0 {
            Ok(String::new())
        } else {
            bail!("exit code {code}")
        }
    });
    Ok(())
}

/// Secrets as a user moves them, on a running stack: a provider key set
/// reaches LiteLLM as a file (recreated with it, nothing in its
/// environment), and a rotated gateway key reaches both its readers, so
/// the gateway's next call to LiteLLM works with it. Values are compared
/// by digest on the guest, never printed.
pub fn secret_checks(
    vm: &Vm,
    ctx: &Context,
    prep: &Prepared,
    conn: &Connection,
    checks: &mut Checks,
    timings: &mut crate::report::Timings,
) -> Result<()> {
    use sha2::Digest as _;
    let value = format!("sk-ant-vmtest-{}", std::process::id());
    let digest = format!("{:x}", sha2::Sha256::digest(value.as_bytes()));
    let before = expect(conn, "docker inspect --format '{{.Id}}' openclaw-litellm")?;
    let started = Instant::now();
    let (code, _, _) = clawbake_secrets(
        ctx,
        vm,
        prep,
        &["set", "ANTHROPIC_API_KEY", "--from-env", "VMTEST_KEY"],
        &[("VMTEST_KEY", &value)],
    )?;
    timings.record(
        "clawbake secrets set (LiteLLM recreated)",
        started.elapsed(),
    );
    checks.check(
        "a provider key set with `clawbake secrets set` is a file in LiteLLM's /run/secrets, not in its environment",
        || {
            if code != 0 {
                bail!("clawbake secrets set: exit code {code}");
            }
            let after = expect(conn, "docker inspect --format '{{.Id}}' openclaw-litellm")?;
            if after == before {
                bail!("LiteLLM was not recreated");
            }
            let inside = expect(
                conn,
                "docker exec openclaw-litellm cat /run/secrets/ANTHROPIC_API_KEY | sha256sum",
            )?;
            if inside.split_whitespace().next() != Some(digest.as_str()) {
                bail!("/run/secrets/ANTHROPIC_API_KEY in LiteLLM is not the value set");
            }
            let env = expect(
                conn,
                "docker inspect --format '{{range .Config.Env}}{{index (split . \"=\") 0}} {{end}}' openclaw-litellm",
            )?;
            if env.contains("ANTHROPIC_API_KEY") {
                bail!("ANTHROPIC_API_KEY is in LiteLLM's environment");
            }
            Ok(String::new())
        },
    );

    let key = "sha256sum < /opt/clawbake/secrets/LITELLM_GATEWAY_KEY";
    let old = expect(conn, key)?;
    let started = Instant::now();
    let (code, _, _) = clawbake_secrets(ctx, vm, prep, &["rotate", "LITELLM_GATEWAY_KEY"], &[])?;
    timings.record(
        "clawbake secrets rotate LITELLM_GATEWAY_KEY",
        started.elapsed(),
    );
    checks.check(
        "`clawbake secrets rotate LITELLM_GATEWAY_KEY`: a new key, and the gateway reaches LiteLLM with it",
        || {
            if code != 0 {
                bail!("clawbake secrets rotate: exit code {code}");
            }
            if expect(conn, key)? == old {
                bail!("the key did not change");
            }
            let status = expect(
                conn,
                "docker exec openclaw node -e \"fetch('http://litellm:4000/v1/models', \
                 {headers: {authorization: 'Bearer ' + process.env.LITELLM_GATEWAY_KEY}}) \
                 .then((r) => console.log(r.status), (e) => console.log(String(e)))\"",
            )?;
            match status.trim() {
                "200" => Ok(String::new()),
                other => bail!("GET /v1/models with the rotated key: {other}"),
            }
        },
    );
    Ok(())
}

/// After `secrets set`, `secrets rotate` and `restore` each recreated
/// services on their own: a plain `compose up` of the whole stack, as the
/// next release's, finds nothing to recreate. (Compose before 2.30 hashes
/// `depends_on`, so an `up --no-deps` would leave containers the next
/// `up` recreates: the gateway went down for a LiteLLM-only release.)
pub fn converged_check(conn: &Connection, checks: &mut Checks) {
    checks.check(
        "after secrets and restore recreated services, a full `compose up` recreates none",
        || {
            let ids = "docker ps -q --no-trunc --filter label=com.docker.compose.project | sort";
            let before = expect(conn, ids)?;
            let up = expect(
                conn,
                "docker compose -f /opt/clawbake/current/stack/compose.yaml up -d --no-build --wait 2>&1",
            )?;
            let after = expect(conn, ids)?;
            if before == after && !before.trim().is_empty() {
                Ok(format!("{} containers kept", before.lines().count()))
            } else {
                let recreated: Vec<&str> = up
                    .lines()
                    .filter(|l| l.contains("Recreate"))
                    .map(str::trim)
                    .collect();
                bail!("recreated: {}", recreated.join("; "))
            }
        },
    );
}

/// `clawbake backup --to` on the running stack: a marker written into
/// OpenClaw's state comes off the host in the copy, read here by restic
/// without the host; the gateway's pause is reported. Then `restore` of
/// that copy onto the same host (one story, so one function).
#[allow(clippy::too_many_lines)]
pub fn backup_checks(
    vm: &Vm,
    ctx: &Context,
    prep: &Prepared,
    conn: &Connection,
    checks: &mut Checks,
    timings: &mut crate::report::Timings,
) -> Result<()> {
    let marker = format!("backup-marker-{}", std::process::id());
    expect(
        conn,
        &format!(
            "echo {marker} > /var/lib/openclaw/{marker} && chown 1000:1000 /var/lib/openclaw/{marker}"
        ),
    )?;
    let to = vm.dir.join("backups");
    let password = vm.dir.join("backup-password");
    let _ = fs::remove_file(&password);
    let mut cmd = Command::new(&ctx.clawbake);
    cmd.arg("backup")
        .arg("--to")
        .arg(&to)
        .arg("--password-file")
        .arg(&password)
        .arg("--site")
        .arg(&prep.site);
    let started = Instant::now();
    let (code, text, _) = run_clawbake(cmd, vm, prep, "backup", vm.admin_port, None)?;
    let backup_took = started.elapsed();
    timings.record("clawbake backup --to (take and copy off)", backup_took);
    let paused = text
        .lines()
        .find_map(|l| l.split("paused for ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|ms| ms.parse::<u64>().ok());
    if let Some(ms) = paused {
        timings.record(
            "  the gateway paused for the snapshot",
            Duration::from_millis(ms),
        );
    }
    checks.check(
        "`clawbake backup --to` takes a backup with the gateway paused and copies it off the host",
        || {
            if code != 0 {
                bail!("exit code {code}");
            }
            let Some(ms) = paused else {
                bail!("no pause reported");
            };
            Ok(format!("paused {ms} ms"))
        },
    );
    checks.check(
        "the copy is a restic repository readable without the host, holding the marker",
        || {
            let restic = std::env::var_os("CLAWBAKE_RESTIC").unwrap_or_else(|| "restic".into());
            let out = Command::new(restic)
                .arg("-r")
                .arg(to.join("restic"))
                .arg("--password-file")
                .arg(&password)
                .args(["--no-cache", "dump", "latest"])
                .arg(format!("/var/lib/openclaw/{marker}"))
                .output()
                .context("running restic")?;
            let got = String::from_utf8_lossy(&out.stdout);
            if out.status.success() && got.trim() == marker {
                Ok(String::new())
            } else {
                bail!(
                    "restic dump: {}{}",
                    got.trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            }
        },
    );

    // The state changes after the backup; `restore` puts the backup's back
    // with the stack stopped, starts it, and verify passes.
    expect(
        conn,
        &format!("echo changed-after > /var/lib/openclaw/{marker}"),
    )?;
    let mut cmd = Command::new(&ctx.clawbake);
    cmd.arg("restore")
        .arg(&to)
        .arg("--password-file")
        .arg(&password)
        .arg("--site")
        .arg(&prep.site);
    let (code, text, took) = run_clawbake(cmd, vm, prep, "restore", vm.admin_port, None)?;
    timings.record("clawbake restore (upload, check, swap, verify)", took);
    if code == 0 {
        *ctx.bare_backup_restore
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(backup_took + took);
    }
    checks.check(
        "`clawbake restore` puts the copy's state back (as the gateway reads it), the stack healthy and verified",
        || {
            if code != 0 {
                bail!("exit code {code}: {}", text.trim());
            }
            // Read by the gateway itself: its volume binds the path, so a
            // mount left on the old directory would show the changed marker.
            let got = expect(
                conn,
                &format!("docker exec openclaw cat /var/lib/openclaw/{marker}"),
            )?;
            if got.trim() != marker {
                bail!("the gateway reads the marker as {:?}", got.trim());
            }
            let kept = text
                .lines()
                .find_map(|l| l.strip_prefix("the state from before is kept on the host at "))
                .ok_or_else(|| Error("no kept state named".into()))?;
            let before = expect(conn, &format!("cat {kept}/{marker}"))?;
            if before.trim() != "changed-after" {
                bail!("the kept state's marker reads {:?}", before.trim());
            }
            Ok(String::new())
        },
    );
    Ok(())
}
