//! Verify: the guide's Step 10 as named checks, each pass, warn or fail,
//! run on the host over one connection and compared with what the site
//! builds. A warning (a user secret not set yet) does not fail the run.

use serde::Serialize;

use super::remote::{self, Host};
use crate::bundle::Bundle;
use crate::error::Error;
use crate::host::plan::{self, Decision};
use crate::host::secrets;
use crate::model::Site;
use crate::render;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

fn check(name: &str, ok: bool, detail: impl Into<String>) -> Check {
    Check {
        name: name.to_owned(),
        status: if ok { Status::Pass } else { Status::Fail },
        detail: detail.into(),
    }
}

/// A domain no site allows, for the egress check.
fn denied_domain(site: &Site) -> &'static str {
    let allowed = render::stack::egress_domains(site);
    ["example.com", "example.org", "example.net"]
        .into_iter()
        .find(|d| !allowed.iter().any(|a| a.trim_start_matches('.') == *d))
        .unwrap_or("clawbake-verify.invalid")
}

/// Probes run by the gateway's own Node (every OpenClaw image has it), so
/// they see exactly the network the gateway sees. Each prints one line.
pub const CONNECT_PROBE: &str = "const [h, p, t] = process.argv.slice(1); \
const s = require(\"net\").connect(+p, h, () => s.write(`CONNECT ${t} HTTP/1.1\\r\\nHost: ${t}\\r\\n\\r\\n`)); \
s.setTimeout(20000, () => { console.log(\"timeout\"); process.exit(0); }); \
s.on(\"data\", (d) => { console.log(d.toString().split(\"\\r\\n\")[0]); process.exit(0); }); \
s.on(\"error\", (e) => { console.log(\"error \" + e.code); process.exit(0); });";

pub const DIRECT_PROBE: &str = "const s = require(\"net\").connect(80, \"1.1.1.1\", () => { console.log(\"connected\"); process.exit(0); }); \
s.setTimeout(8000, () => { console.log(\"timeout\"); process.exit(0); }); \
s.on(\"error\", (e) => { console.log(\"error \" + e.code); process.exit(0); });";

pub const AUTH_PROBE: &str = "fetch(process.argv[1], { method: \"POST\", headers: { \"content-type\": \"application/json\" }, body: \"{}\" }) \
.then((r) => console.log(\"HTTP \" + r.status), (e) => console.log(\"error \" + ((e.cause && e.cause.code) || e.message)));";

/// A request to the Docker API at the gateway's own `DOCKER_HOST`, as its
/// docker CLI reaches it: `HTTP <status> <the first line of the answer>`.
/// Node's core `http`, loaded with Node itself: `fetch` loads its client on
/// first use, which under emulation alone can outlast a timeout.
pub const DOCKER_PROBE: &str = "const [m, p, b] = process.argv.slice(1); \
const [h, port] = (process.env.DOCKER_HOST || \"\").replace(\"tcp://\", \"\").split(\":\"); \
const r = require(\"http\").request({ host: h, port: +port, method: m, path: p, timeout: 60000, \
headers: b ? { \"content-type\": \"application/json\", \"content-length\": Buffer.byteLength(b) } : {} }, (res) => { \
let t = \"\"; res.on(\"data\", (d) => { t += d; }); res.on(\"end\", () => console.log(\"HTTP \" + res.statusCode + \" \" + t.split(\"\\n\")[0])); }); \
r.on(\"timeout\", () => { console.log(\"timeout\"); r.destroy(); }); \
r.on(\"error\", (e) => console.log(\"error \" + (e.code || e.message))); \
if (b) r.write(b); r.end();";

/// A create that is a sandbox's in every way but `Privileged`, from the
/// release's own policy settings: only the privilege can refuse it. Its
/// command is `false` and nothing starts it, should a broken boundary let
/// it through.
pub fn privileged_create(bundle: &Bundle) -> Option<(String, String)> {
    let file = bundle.tree.get("stack/docker-proxy/policy.json")?;
    let policy: serde_json::Value = serde_json::from_slice(&file.content).ok()?;
    let slug = policy["slugs"][0].as_str()?;
    let name = format!("{}{slug}", policy["name_prefix"].as_str()?);
    let body = serde_json::json!({
        "Image": policy["images"][0], "User": policy["user"], "Cmd": ["false"],
        "Labels": { "openclaw.sandbox": "1" },
        "HostConfig": {
            "Privileged": true, "NetworkMode": "none", "ReadonlyRootfs": true,
            "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"],
            "Memory": policy["memory_bytes"], "MemorySwap": policy["memory_bytes"],
            "NanoCpus": policy["nano_cpus"],
            "PidsLimit": policy["pids_limit"],
        },
    });
    Some((
        format!("/v1.41/containers/create?name={name}"),
        body.to_string(),
    ))
}

/// `docker exec` a probe in the gateway container.
fn in_gateway(script: &str, args: &[&str]) -> String {
    let q = crate::host::transport::ssh::shell_quote;
    let args: Vec<String> = args.iter().map(|a| q(a)).collect();
    format!(
        "docker exec {} node -e {} {} 2>&1 || true",
        render::shared::CONTAINER,
        q(script),
        args.join(" ")
    )
}

pub async fn run(host: &Host, site: &Site, bundle: &Bundle) -> Result<Vec<Check>, Error> {
    let mut out = Vec::new();
    release(host, bundle, &mut out).await?;
    containers(host, site, &mut out).await?;
    probes(host, site, bundle, &mut out).await?;
    firewall(host, site, &mut out).await?;
    config(host, site, bundle, &mut out).await?;
    updates(host, &mut out).await?;
    user_secrets(host, bundle, &mut out).await?;
    Ok(out)
}

/// The release the host runs, and whether its files are still its own.
async fn release(host: &Host, bundle: &Bundle, out: &mut Vec<Check>) -> Result<(), Error> {
    let state = remote::host_state(host).await?;
    let release = match &state.current {
        None => check("release", false, "no clawbake release on the host"),
        Some(m) => check(
            "release",
            m.build_id == bundle.manifest.build_id,
            if m.build_id == bundle.manifest.build_id {
                format!("runs {}", render::shared::release_name(&m.build_id))
            } else {
                format!(
                    "runs {}, the site builds {}",
                    render::shared::release_name(&m.build_id),
                    render::shared::release_name(&bundle.manifest.build_id)
                )
            },
        ),
    };
    out.push(release);
    if let Some(current) = &state.current {
        let drift = match plan::decide(current, &state) {
            Decision::Drift { drift } => drift
                .iter()
                .map(|d| remote::on_host(&d.path))
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        };
        out.push(check(
            "files match the release",
            drift.is_empty(),
            if drift.is_empty() {
                format!("{} files", current.files.len())
            } else {
                format!("changed or missing: {drift}")
            },
        ));
    }

    Ok(())
}

/// Containers: running and healthy, with their memory limits.
async fn containers(host: &Host, site: &Site, out: &mut Vec<Check>) -> Result<(), Error> {
    let project = site.site.name.as_str();
    let ps = host
        .root_output(&format!(
            "docker ps -a --filter label=com.docker.compose.project={project} \
             --format '{{{{.Label \"com.docker.compose.service\"}}}} {{{{.State}}}} {{{{.Status}}}}' 2>&1 || true"
        ))
        .await?;
    let services = render::stack::service_limits(site);
    let mut unhealthy = Vec::new();
    for l in &services {
        let line = ps
            .lines()
            .find(|line| line.split_whitespace().next() == Some(l.service));
        match line {
            Some(l)
                if l.contains(" running ")
                    && !l.contains("unhealthy")
                    && !l.contains("health: starting") => {}
            Some(l) => unhealthy.push(l.to_owned()),
            None => unhealthy.push(format!("{} missing", l.service)),
        }
    }
    out.push(check(
        "containers healthy",
        unhealthy.is_empty(),
        if unhealthy.is_empty() {
            format!("{} services", services.len())
        } else {
            unhealthy.join("; ")
        },
    ));
    // Env variable names only, never their values.
    let inspect = host
        .root_output(&format!(
            "docker ps -q --filter label=com.docker.compose.project={project} | xargs -r docker inspect \
             --format '{{{{index .Config.Labels \"com.docker.compose.service\"}}}}|{{{{.HostConfig.Memory}}}}|\
             {{{{.HostConfig.PidsLimit}}}}|{{{{join .HostConfig.CapDrop \",\"}}}}|{{{{join .HostConfig.CapAdd \",\"}}}}|\
             {{{{.HostConfig.Privileged}}}}|{{{{join .HostConfig.SecurityOpt \",\"}}}}|\
             {{{{range .Config.Env}}}}{{{{index (split . \"=\") 0}}}},{{{{end}}}}' 2>&1 || true"
        ))
        .await?;
    let found: Vec<Inspected> = inspect.lines().filter_map(Inspected::parse).collect();
    let (limits, hardening, secrets) = judge(&services, &found, &render::stack::secret_lists(site));
    for (name, wrong, fine) in [
        (
            "limits",
            limits,
            "memory and processes as the site sets them",
        ),
        (
            "hardening",
            hardening,
            "every service: no new privileges, capabilities dropped",
        ),
        (
            "secrets in env",
            secrets,
            "no service holds a key in its environment it gets as a file or not at all",
        ),
    ] {
        out.push(check(
            name,
            wrong.is_empty(),
            if wrong.is_empty() {
                fine.to_owned()
            } else {
                wrong.join("; ")
            },
        ));
    }

    Ok(())
}

/// One container as `docker inspect` describes it in [`containers`].
#[derive(Debug, PartialEq)]
struct Inspected {
    service: String,
    memory: Option<u64>,
    pids: Option<u64>,
    cap_drop: Vec<String>,
    cap_add: Vec<String>,
    privileged: bool,
    security_opt: Vec<String>,
    env_names: Vec<String>,
}

impl Inspected {
    fn parse(line: &str) -> Option<Inspected> {
        let mut f = line.split('|');
        let list = |v: Option<&str>| -> Vec<String> {
            v.unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Some(Inspected {
            service: f.next()?.trim().to_owned(),
            memory: f.next()?.trim().parse().ok(),
            pids: f.next()?.trim().parse().ok(),
            cap_drop: list(f.next()),
            cap_add: list(f.next()),
            privileged: f.next()?.trim() != "false",
            security_opt: list(f.next()),
            env_names: list(f.next()),
        })
    }
}

/// What is wrong with each service's limits, hardening and environment.
fn judge(
    services: &[render::stack::Limits],
    found: &[Inspected],
    lists: &[(&str, render::stack::Delivery, Vec<String>)],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut limits, mut hardening, mut secrets) = (Vec::new(), Vec::new(), Vec::new());
    let every_secret: Vec<&str> = lists
        .iter()
        .flat_map(|(_, _, names)| names.iter().map(String::as_str))
        .chain(crate::host::secrets::INTERNAL.iter().copied())
        .collect();
    for want in services {
        let Some(got) = found.iter().find(|f| f.service == want.service) else {
            limits.push(format!("{}: not running", want.service));
            continue;
        };
        let mib = want.memory_mib;
        if got.memory != Some(mib * 1024 * 1024) {
            limits.push(format!(
                "{}: memory {} (want {mib} MiB)",
                want.service,
                got.memory
                    .map_or("none".into(), |g| format!("{} MiB", g / 1024 / 1024))
            ));
        }
        if got.pids != Some(u64::from(want.pids)) {
            limits.push(format!(
                "{}: process limit {} (want {})",
                want.service,
                got.pids.map_or("none".into(), |p| p.to_string()),
                want.pids
            ));
        }
        if !got.cap_drop.iter().any(|c| c == "ALL") {
            hardening.push(format!("{}: capabilities not dropped", want.service));
        }
        let extra: Vec<&String> = got
            .cap_add
            .iter()
            .filter(|c| !want.cap_add.contains(&c.trim_start_matches("CAP_")))
            .collect();
        if !extra.is_empty() {
            hardening.push(format!("{}: capabilities added: {extra:?}", want.service));
        }
        if got.privileged {
            hardening.push(format!("{}: privileged", want.service));
        }
        let no_new = [
            "no-new-privileges",
            "no-new-privileges:true",
            "no-new-privileges=true",
        ];
        if !got
            .security_opt
            .iter()
            .any(|o| no_new.contains(&o.as_str()))
        {
            hardening.push(format!("{}: no-new-privileges not set", want.service));
        }
        let allowed: Vec<&String> = lists
            .iter()
            .filter(|(s, d, _)| *s == want.service && *d == render::stack::Delivery::Env)
            .flat_map(|(_, _, names)| names)
            .collect();
        for name in &got.env_names {
            if every_secret.contains(&name.as_str()) && !allowed.contains(&name) {
                secrets.push(format!("{}: {name}", want.service));
            }
        }
    }
    (limits, hardening, secrets)
}

/// The line that ends each command's output in [`concurrently`].
/// What ends each command's output in [`concurrently`]'s answer.
pub const END_OF_OUTPUT: &str = "@@clawbake-end-of-output@@";

/// A shell command that runs `commands` at once and prints their outputs
/// in order, each ended by [`END_OF_OUTPUT`]: one Node start per probe
/// costs most of a probe, and they do not wait on each other.
pub fn concurrently(commands: &[String]) -> String {
    use std::fmt::Write as _;
    let mut script = String::from("d=$(mktemp -d) && {");
    for (i, c) in commands.iter().enumerate() {
        write!(script, " ( {c} ) > \"$d/{i}\" 2>&1 &").expect("writing to a String");
    }
    script.push_str(" wait; for i in");
    for i in 0..commands.len() {
        write!(script, " {i}").expect("writing to a String");
    }
    write!(
        script,
        "; do cat \"$d/$i\"; echo {END_OF_OUTPUT}; done; rm -rf \"$d\"; }}"
    )
    .expect("writing to a String");
    script
}

/// Egress and auth, probed from inside the gateway's network, all at once.
async fn probes(
    host: &Host,
    site: &Site,
    bundle: &Bundle,
    out: &mut Vec<Check>,
) -> Result<(), Error> {
    let proxy = format!("{}", render::shared::SQUID_PORT);
    // CONNECT, as HTTPS clients do: squid.conf refuses every other port
    // whatever the whitelist says, so only CONNECT tests the whitelist.
    let connect = |domain: &str| {
        let target = format!("{domain}:443");
        in_gateway(CONNECT_PROBE, &["egress", &proxy, &target])
    };
    let denied = denied_domain(site);
    let allowed = render::stack::egress_domains(site)
        .first()
        .map(|a| a.trim_start_matches('.').to_owned());
    let url = format!("http://127.0.0.1:{}/tools/invoke", site.openclaw.port);
    let (create_path, create_body) = privileged_create(bundle).unwrap_or_default();
    let litellm = "/v1.41/containers/openclaw-litellm/json";
    let mut commands = vec![
        connect(denied),
        in_gateway(DIRECT_PROBE, &[]),
        in_gateway(AUTH_PROBE, &[&url]),
        // A raw IP, which a reverse lookup could have named after an
        // allowed domain; 192.0.2.1 is documentation space, never reached.
        connect("192.0.2.1"),
        in_gateway(DOCKER_PROBE, &["POST", &create_path, &create_body]),
        in_gateway(DOCKER_PROBE, &["GET", litellm]),
    ];
    if let Some(allowed) = &allowed {
        commands.push(connect(allowed));
    }
    let all = host.root_output(&concurrently(&commands)).await?;
    let end = format!("{END_OF_OUTPUT}\n");
    let mut outputs = all.split(end.as_str());
    let mut next = || outputs.next().unwrap_or_default().to_owned();
    let (refused, direct, auth) = (next(), next(), next());
    let (raw_ip, privileged, inspect, passed) = (next(), next(), next(), next());

    out.push(check(
        &format!("egress proxy refuses {denied}"),
        refused.contains(" 403 "),
        first_line(&refused),
    ));
    if let Some(allowed) = allowed {
        // Squid lets it through: 200 where the internet is reachable, a
        // 5xx of its own where it is not; never its 403.
        out.push(check(
            &format!("egress proxy passes {allowed}"),
            passed.starts_with("HTTP/") && !passed.contains(" 403 "),
            first_line(&passed),
        ));
    }
    out.push(check(
        "gateway has no direct route out",
        no_route(&direct),
        first_line(&direct),
    ));
    out.push(check(
        "gateway refuses unauthenticated requests",
        auth.trim() == "HTTP 401",
        first_line(&auth),
    ));
    out.push(check(
        "egress proxy refuses a raw IP",
        raw_ip.contains(" 403 "),
        first_line(&raw_ip),
    ));
    out.push(check(
        "Docker policy refuses the gateway a privileged container",
        privileged.starts_with("HTTP 403 clawbake docker policy")
            && privileged.contains("privileged"),
        first_line(&privileged),
    ));
    out.push(check(
        "Docker policy refuses the gateway LiteLLM's settings",
        inspect.starts_with("HTTP 403 clawbake docker policy"),
        first_line(&inspect),
    ));
    Ok(())
}

/// Whether [`DIRECT_PROBE`] ran and did not connect: a network error
/// (`error ENETUNREACH`) or its own timeout. A probe that could not run at
/// all (`docker: command not found`, a stopped container) proves nothing,
/// so it fails.
pub fn no_route(answer: &str) -> bool {
    let answer = answer.trim();
    answer == "timeout"
        || answer.strip_prefix("error E").is_some_and(|code| {
            !code.is_empty()
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
}

async fn firewall(host: &Host, site: &Site, out: &mut Vec<Check>) -> Result<(), Error> {
    let ssh_port = site.firewall.ssh_port.0;
    let ufw = host.root_output("ufw status verbose 2>&1 || true").await?;
    let ufw_ok = ufw.contains("Status: active")
        && ufw.contains("deny (incoming)")
        && ufw
            .lines()
            .any(|l| l.starts_with(&format!("{ssh_port}/tcp")));
    out.push(check(
        "ufw",
        ufw_ok,
        if ufw_ok {
            format!("active, default deny, SSH on {ssh_port} from the admin addresses")
        } else {
            ufw.lines().take(3).collect::<Vec<_>>().join("; ")
        },
    ));
    let rules = host
        .root_output("iptables -S DOCKER-USER 2>&1; iptables -S CLAWBAKE-INGRESS 2>&1; true")
        .await?;
    let docker_user = rules.contains("-A DOCKER-USER")
        && rules.contains("-j CLAWBAKE-INGRESS")
        && rules.contains("-A CLAWBAKE-INGRESS -j DROP");
    out.push(check(
        "DOCKER-USER allows only Cloudflare",
        docker_user,
        if docker_user {
            format!(
                "{} Cloudflare ranges",
                rules.lines().filter(|l| l.ends_with("-j RETURN")).count() / 2
            )
        } else {
            "the CLAWBAKE-INGRESS jump or its final DROP is missing".to_owned()
        },
    ));

    Ok(())
}

/// Spot checks of the configuration the host runs with.
async fn config(
    host: &Host,
    site: &Site,
    bundle: &Bundle,
    out: &mut Vec<Check>,
) -> Result<(), Error> {
    let ssh_port = site.firewall.ssh_port.0;
    let sshd = host.root_output("sshd -T 2>&1 || true").await?;
    let sshd_ok = sshd.lines().any(|l| l == format!("port {ssh_port}"))
        && sshd.lines().any(|l| l == "passwordauthentication no");
    out.push(check(
        "sshd",
        sshd_ok,
        if sshd_ok {
            format!("port {ssh_port}, keys only")
        } else {
            "not on the site's port, or passwords allowed".to_owned()
        },
    ));
    let sysctl_file = bundle
        .tree
        .get("host/etc/sysctl.d/99-clawbake.conf")
        .map(|f| String::from_utf8_lossy(&f.content).into_owned())
        .unwrap_or_default();
    let wanted: Vec<(&str, &str)> = sysctl_file
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let keys: Vec<&str> = wanted.iter().map(|(k, _)| *k).collect();
    let got = host
        .root_output(&format!("sysctl {} 2>&1 || true", keys.join(" ")))
        .await?;
    let off: Vec<String> = wanted
        .iter()
        .filter(|(k, v)| !got.lines().any(|l| l == format!("{k} = {v}")))
        .map(|(k, v)| format!("{k} != {v}"))
        .collect();
    out.push(check(
        "sysctl",
        off.is_empty(),
        if off.is_empty() {
            format!("{} values", wanted.len())
        } else {
            off.join("; ")
        },
    ));

    Ok(())
}

/// What `security updates` asks the host: the package, its timer, and the
/// configuration as apt itself reads it.
pub const UPDATES_PROBE: &str = "dpkg-query -W -f='${Status}\\n' unattended-upgrades 2>&1; \
systemctl is-enabled apt-daily-upgrade.timer 2>&1; \
apt-config dump APT::Periodic::Unattended-Upgrade Unattended-Upgrade::Package-Blacklist 2>&1; true";

/// The packages a new bundle moves, which unattended-upgrades must leave.
const HELD_BACK: [&str; 3] = ["docker", "containerd", "runc$"];

/// Security updates between rebuilds: unattended-upgrades on, with Docker's
/// packages left to a new bundle and `migrate`.
async fn updates(host: &Host, out: &mut Vec<Check>) -> Result<(), Error> {
    let got = host.root_output(UPDATES_PROBE).await?;
    let (ok, detail) = judge_updates(&got);
    out.push(check("security updates", ok, detail));
    Ok(())
}

/// Judge [`UPDATES_PROBE`]'s answer: what is missing, or what runs.
pub fn judge_updates(got: &str) -> (bool, String) {
    let mut lacks = Vec::new();
    if !got.lines().any(|l| l.trim() == "install ok installed") {
        lacks.push("unattended-upgrades is not installed".to_owned());
    }
    if !got.lines().any(|l| l.trim() == "enabled") {
        lacks.push("apt-daily-upgrade.timer is not enabled".to_owned());
    }
    let periodic = got
        .lines()
        .find_map(|l| l.strip_prefix("APT::Periodic::Unattended-Upgrade "))
        .map(|v| v.trim().trim_end_matches(';').trim_matches('"'));
    if periodic.is_none_or(|v| v.is_empty() || v == "0") {
        lacks.push("APT::Periodic::Unattended-Upgrade is off".to_owned());
    }
    let listed: Vec<&str> = got
        .lines()
        .filter_map(|l| l.strip_prefix("Unattended-Upgrade::Package-Blacklist:: "))
        .map(|v| v.trim().trim_end_matches(';').trim_matches('"'))
        .collect();
    let free: Vec<&str> = HELD_BACK
        .iter()
        .filter(|p| !listed.contains(p))
        .map(|p| p.trim_end_matches('$'))
        .collect();
    if !free.is_empty() {
        lacks.push(format!(
            "unattended-upgrades would upgrade {} (a new bundle moves them)",
            free.join(", ")
        ));
    }
    if lacks.is_empty() {
        (
            true,
            "unattended-upgrades daily; Docker, containerd and runc wait for a new bundle".into(),
        )
    } else {
        (false, lacks.join("; "))
    }
}

/// User secrets: missing ones are warnings.
async fn user_secrets(host: &Host, bundle: &Bundle, out: &mut Vec<Check>) -> Result<(), Error> {
    let target = host.access.target.to_string();
    let users = secrets::users(bundle);
    let names: Vec<&str> = users.keys().map(String::as_str).collect();
    let set = secrets::which_set(host, &names).await?;
    for name in names {
        let is_set = set.iter().any(|s| s == name);
        out.push(Check {
            name: format!("secret {name}"),
            status: if is_set { Status::Pass } else { Status::Warn },
            detail: if is_set {
                format!("set, for {}", users[name].join(", "))
            } else {
                format!("not set: {}", secrets::missing_help(name, &target))
            },
        });
    }
    Ok(())
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with("exit="))
        .unwrap_or("")
        .trim()
        .to_owned()
}

pub fn failed(checks: &[Check]) -> usize {
    checks.iter().filter(|c| c.status == Status::Fail).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_outputs_come_back_in_the_order_asked() {
        // The first command finishes last, and one fails: neither changes
        // the order nor loses an output.
        let commands = [
            "sleep 0.3; echo slow".to_owned(),
            "echo fast; echo two lines".to_owned(),
            "echo failed; false".to_owned(),
        ];
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(concurrently(&commands))
            .output()
            .expect("running sh");
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let parts: Vec<&str> = text.split(&format!("{END_OF_OUTPUT}\n")).collect();
        assert_eq!(parts, ["slow\n", "fast\ntwo lines\n", "failed\n", ""]);
    }

    /// The inspect line as Docker prints it, read back; and each thing
    /// `judge` is there to catch, caught.
    #[test]
    fn a_probe_that_could_not_run_proves_no_isolation() {
        assert!(no_route("error ENETUNREACH\n"));
        assert!(no_route("error ETIMEDOUT"));
        assert!(no_route("timeout"));
        for noise in [
            "connected",
            "",
            "bash: line 1: docker: command not found",
            "Error response from daemon: container 0123 is not running",
            "error: something else",
            "error ENETUNREACH and more",
        ] {
            assert!(!no_route(noise), "{noise}");
        }
    }

    #[test]
    fn updates_pass_only_with_the_package_its_timer_and_docker_held_back() {
        let good = "install ok installed\nenabled\nAPT::Periodic::Unattended-Upgrade \"1\";\n\
            Unattended-Upgrade::Package-Blacklist \"\";\n\
            Unattended-Upgrade::Package-Blacklist:: \"docker\";\n\
            Unattended-Upgrade::Package-Blacklist:: \"containerd\";\n\
            Unattended-Upgrade::Package-Blacklist:: \"runc$\";\n";
        assert!(judge_updates(good).0, "{}", judge_updates(good).1);
        let (ok, why) = judge_updates(
            "dpkg-query: no packages found matching unattended-upgrades\ndisabled\n\
             APT::Periodic::Unattended-Upgrade \"0\";\n\
             Unattended-Upgrade::Package-Blacklist:: \"docker\";\n",
        );
        assert!(!ok);
        assert_eq!(
            why,
            "unattended-upgrades is not installed; apt-daily-upgrade.timer is not enabled; \
             APT::Periodic::Unattended-Upgrade is off; \
             unattended-upgrades would upgrade containerd, runc (a new bundle moves them)"
        );
        // No answer at all is a failure, never a pass.
        assert!(!judge_updates("").0);
    }

    #[test]
    fn judge_names_what_each_container_lacks_and_never_a_value() {
        use render::stack::{Delivery, Limits};
        let services = [
            Limits {
                service: "openclaw",
                memory_mib: 64,
                pids: 512,
                cap_add: &[],
            },
            Limits {
                service: "litellm",
                memory_mib: 32,
                pids: 256,
                cap_add: &[],
            },
            Limits {
                service: "egress",
                memory_mib: 16,
                pids: 128,
                cap_add: &["SETUID"],
            },
        ];
        let lists = [
            (
                "litellm",
                Delivery::Files,
                vec![
                    "LITELLM_MASTER_KEY".to_owned(),
                    "ANTHROPIC_API_KEY".to_owned(),
                ],
            ),
            (
                "openclaw",
                Delivery::Env,
                vec!["LITELLM_GATEWAY_KEY".to_owned()],
            ),
        ];
        let good = [
            "openclaw|67108864|512|ALL||false|no-new-privileges:true|PATH,LITELLM_GATEWAY_KEY,HOME,",
            "litellm|33554432|256|ALL||false|no-new-privileges:true|PATH,",
            "egress|16777216|128|ALL|CAP_SETUID|false|no-new-privileges|PATH,",
        ];
        let found: Vec<Inspected> = good.iter().filter_map(|l| Inspected::parse(l)).collect();
        assert_eq!(found.len(), 3);
        let (l, h, s) = judge(&services, &found, &lists);
        assert!(
            l.is_empty() && h.is_empty() && s.is_empty(),
            "{l:?} {h:?} {s:?}"
        );

        let bad = [
            "openclaw|67108864|0|ALL|SYS_ADMIN|true|no-new-privileges:false|LITELLM_GATEWAY_KEY,BACKUP_KEY,",
            "litellm|33554432|256|||false||PATH,ANTHROPIC_API_KEY,",
        ];
        let found: Vec<Inspected> = bad.iter().filter_map(|l| Inspected::parse(l)).collect();
        let (l, h, s) = judge(&services, &found, &lists);
        assert_eq!(
            l,
            [
                "openclaw: process limit 0 (want 512)",
                "egress: not running"
            ]
        );
        assert_eq!(
            h,
            [
                "openclaw: capabilities added: [\"SYS_ADMIN\"]",
                "openclaw: privileged",
                "openclaw: no-new-privileges not set",
                "litellm: capabilities not dropped",
                "litellm: no-new-privileges not set",
            ]
        );
        assert_eq!(s, ["openclaw: BACKUP_KEY", "litellm: ANTHROPIC_API_KEY"]);
    }
}
