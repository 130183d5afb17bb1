//! Stack-scope files: the Compose project and every service's config. A
//! change here is a new release on the same server: containers are
//! recreated, named volumes kept.
//!
//! Bind-mounted config files are reached through `/opt/clawbake/current`,
//! and each service carries a `clawbake.config` label with the hash of its
//! files, so Compose recreates exactly the services whose config changed.

use serde_json::{Map, Value, json};
use tera::Context;

use super::openclaw;
use super::shared::{
    CONFIG_PATH, CONTAINER, CURRENT, ENV_DIR, FILES_DIR, GATEWAY_DEPENDS_ON, LITELLM_PORT,
    SANDBOX_DIR, SECRETS_MOUNT, SOCKET_PROXY_PORT, SQUID_PORT, STATE_DIR, pretty, proxy_url,
    without_comments,
};
use super::templates::render;
use crate::bundle::{Scope, Tree, sha256_hex};
use crate::config::locks::CloudflareLock;
use crate::model::{Ingress, MemoryProvider, Service, Site};

/// An image as the compose file names it: with its digest when pinned.
pub struct Images {
    pub gateway: String,
    pub docker_cli: String,
    pub litellm: String,
    pub socket_proxy: String,
    pub egress: String,
    pub ingress: String,
    pub sandbox: String,
}

pub fn render_into(tree: &mut Tree, site: &Site, cloudflare: &CloudflareLock, images: &Images) {
    let squid = squid_conf(site);
    let litellm = litellm_config(site);
    let openclaw_json = openclaw::config(site, &images.sandbox);
    let soul = site.openclaw.soul.clone();
    let caddyfile = caddyfile(site, cloudflare);

    for (service, delivery, names) in &secret_lists(site) {
        let mut text = names.join("\n");
        text.push('\n');
        tree.add(
            &format!("{}/{service}.list", delivery.list_dir()),
            0o644,
            Scope::Stack,
            text,
        );
    }

    offsite(tree, site);

    let (proxy_cfg, policy_json) = (docker_proxy_cfg(), docker_policy(site, images));
    let (policy_lua, auth_py) = (docker_policy_lua(), litellm_auth());

    let dockerfile = gateway_dockerfile(images);
    let compose = compose(
        site,
        images,
        &Hashes {
            squid: sha256_hex(squid.as_bytes()),
            litellm: sha256_hex(format!("{litellm}{auth_py}").as_bytes()),
            openclaw: sha256_hex(format!("{openclaw_json}{soul}").as_bytes()),
            gateway_image: sha256_hex(dockerfile.as_bytes()),
            docker_proxy: sha256_hex(format!("{proxy_cfg}{policy_lua}{policy_json}").as_bytes()),
            caddy: sha256_hex(caddyfile.as_bytes()),
        },
    );
    tree.add("stack/compose.yaml", 0o644, Scope::Stack, compose);
    tree.add("stack/gateway.Dockerfile", 0o644, Scope::Stack, dockerfile);
    tree.add("stack/squid.conf", 0o644, Scope::Stack, squid);
    tree.add(
        "stack/images.list",
        0o644,
        Scope::Stack,
        format!("{}\n", images.sandbox),
    );
    tree.add(
        "stack/docker-proxy/haproxy.cfg",
        0o644,
        Scope::Stack,
        proxy_cfg,
    );
    tree.add(
        "stack/docker-proxy/docker-policy.lua",
        0o644,
        Scope::Stack,
        policy_lua,
    );
    tree.add(
        "stack/docker-proxy/policy.json",
        0o644,
        Scope::Stack,
        policy_json,
    );
    tree.add("stack/litellm.yaml", 0o644, Scope::Stack, litellm);
    tree.add("stack/litellm_auth.py", 0o644, Scope::Stack, auth_py);
    tree.add(
        "stack/openclaw/openclaw.json",
        0o644,
        Scope::Stack,
        openclaw_json,
    );
    tree.add("stack/openclaw/SOUL.md", 0o644, Scope::Stack, soul);
    if site.site.ingress == Ingress::Caddy {
        tree.add("stack/Caddyfile", 0o644, Scope::Stack, caddyfile);
    }
}

struct Hashes {
    gateway_image: String,
    docker_proxy: String,
    squid: String,
    litellm: String,
    openclaw: String,
    caddy: String,
}

/// How a service receives its secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// An env file: the gateway's own secrets, which it holds anyway.
    Env,
    /// Files in a directory mounted at `/run/secrets`: keys that must not
    /// show in `docker inspect` (`Config.Env`) of the service that reads
    /// them.
    Files,
    /// Read from `/opt/clawbake/secrets` by a job of the host itself, no
    /// container: the nightly backup's offsite credentials.
    HostJob,
}

impl Delivery {
    /// The release's list directory for this delivery.
    pub fn list_dir(self) -> &'static str {
        match self {
            Delivery::Env => "stack/env",
            Delivery::Files => "stack/files",
            Delivery::HostJob => "backup",
        }
    }
}

/// The offsite repositories as the host's `clawbake-backup` reads them
/// (`backup/offsite.json`, in the release, so that adding one is a stack
/// release, not a rebuild), and the secrets they need
/// (`backup/offsite.list`).
fn offsite(tree: &mut Tree, site: &Site) {
    let mut repos = Vec::new();
    let mut secrets = String::new();
    for (name, o) in &site.backup.offsite {
        let env: Map<String, Value> = o
            .secrets(name)
            .into_iter()
            .map(|(var, secret)| {
                secrets.push_str(&secret);
                secrets.push('\n');
                (var.to_owned(), Value::String(secret))
            })
            .collect();
        repos.push(json!({
            "name": name, "repository": o.repository, "prune": o.prune,
            "keep_days": site.backup.keep_days, "env": env,
        }));
    }
    tree.add(
        "backup/offsite.json",
        0o644,
        Scope::Stack,
        pretty(&Value::Array(repos)),
    );
    if !secrets.is_empty() {
        tree.add(
            &format!("{}/offsite.list", Delivery::HostJob.list_dir()),
            0o644,
            Scope::Stack,
            secrets,
        );
    }
}

/// Which secrets each service may read, and how: the least each needs.
pub fn secret_lists(site: &Site) -> Vec<(&'static str, Delivery, Vec<String>)> {
    let mut litellm = vec![
        "LITELLM_MASTER_KEY".to_owned(),
        "LITELLM_GATEWAY_KEY".to_owned(),
    ];
    let mut providers: Vec<String> = site
        .models
        .values()
        .filter_map(|m| site.providers.get(&m.provider))
        .map(|p| p.api_key_secret.to_string())
        .collect();
    providers.sort();
    providers.dedup();
    litellm.extend(providers);

    // The gateway calls LiteLLM with a key of its own, which opens the
    // model routes only; the master key stays with LiteLLM.
    let mut gateway = vec![
        "OPENCLAW_GATEWAY_TOKEN".to_owned(),
        "LITELLM_GATEWAY_KEY".to_owned(),
    ];
    if site.channels.telegram.enabled {
        gateway.push("TELEGRAM_BOT_TOKEN".to_owned());
    }
    if site.memory.provider == MemoryProvider::Voyage {
        gateway.push(site.memory.api_key_secret.to_string());
    }
    let mut lists = vec![
        ("litellm", Delivery::Files, litellm),
        ("openclaw", Delivery::Env, gateway),
    ];
    if site.site.ingress == Ingress::Tunnel {
        lists.push((
            "cloudflared",
            Delivery::Files,
            vec!["TUNNEL_TOKEN".to_owned()],
        ));
    }
    lists
}

/// Every domain Squid lets through, sorted and without repeats.
pub fn egress_domains(site: &Site) -> Vec<String> {
    let mut domains: Vec<String> = site
        .models
        .values()
        .filter_map(|m| site.providers.get(&m.provider))
        .flat_map(|p| p.domains.iter().map(ToString::to_string))
        .collect();
    if site.channels.telegram.enabled {
        domains.extend(
            site.channels
                .telegram
                .domains
                .iter()
                .map(ToString::to_string),
        );
    }
    if site.memory.provider != MemoryProvider::None {
        domains.extend(site.memory.domains.iter().map(ToString::to_string));
    }
    domains.extend(site.egress.allow_domains.iter().map(ToString::to_string));
    domains.sort();
    domains.dedup();
    // Squid refuses `api.x.com` beside `.x.com` (the second already covers
    // the first), so keep only the widest entry.
    let wide: Vec<String> = domains
        .iter()
        .filter(|d| d.starts_with('.'))
        .cloned()
        .collect();
    domains.retain(|d| {
        d.starts_with('.')
            || !wide
                .iter()
                .any(|w| d.ends_with(w.as_str()) || format!(".{d}") == *w)
    });
    domains
}

/// The Docker policy program: the same for every site, so not a template.
const DOCKER_POLICY_SOURCE: &str = include_str!("../../cloud-init/stack/docker-policy.lua");

/// The Docker policy as the release carries it.
fn docker_policy_lua() -> String {
    without_comments(DOCKER_POLICY_SOURCE, "--")
}
/// Where the socket proxy's container finds its config and policy.
const PROXY_DIR: &str = "/usr/local/etc/haproxy";

fn docker_proxy_cfg() -> String {
    let mut ctx = Context::new();
    ctx.insert("policy_lua", &format!("{PROXY_DIR}/docker-policy.lua"));
    ctx.insert("policy_json", &format!("{PROXY_DIR}/policy.json"));
    ctx.insert("bind", &format!(":{SOCKET_PROXY_PORT}"));
    ctx.insert("socket", "/var/run/docker.sock");
    render("stack/docker-proxy.cfg", &ctx)
}

/// What the policy allows, from the site: the sandbox image, user and
/// limits that `openclaw.json` gives OpenClaw, and where workspaces live.
fn docker_policy(site: &Site, images: &Images) -> String {
    let sandbox = &site.stack.sandbox;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let nano_cpus = (sandbox.cpus * 1e9).round() as u64;
    pretty(&json!({
        "name_prefix": openclaw::SANDBOX_PREFIX,
        "sandbox_dir": SANDBOX_DIR,
        "slugs": openclaw::sandbox_slugs(site.openclaw.version),
        "workdir": openclaw::SANDBOX_WORKDIR,
        "images": [images.sandbox],
        "user": sandbox.user,
        "memory_bytes": u64::from(sandbox.memory_mib) * 1024 * 1024,
        "nano_cpus": nano_cpus,
        "pids_limit": sandbox.pids,
    }))
}

fn squid_conf(site: &Site) -> String {
    let mut ctx = Context::new();
    ctx.insert("port", &SQUID_PORT);
    ctx.insert("internal_subnet", &site.stack.networks.internal.to_string());
    ctx.insert("domains", &egress_domains(site));
    ctx.insert("cache_mem_mib", &site.egress.cache_mem_mib);
    render("stack/squid.conf", &ctx)
}

fn caddyfile(site: &Site, cloudflare: &CloudflareLock) -> String {
    let mut ctx = Context::new();
    ctx.insert("domain", site.site.domain.as_str());
    ctx.insert("upstream", &format!("openclaw:{}", site.openclaw.port));
    let ranges: Vec<String> = cloudflare.all().map(ToString::to_string).collect();
    ctx.insert("cloudflare", &ranges.join(" "));
    render("stack/Caddyfile", &ctx)
}

/// A key LiteLLM reads from its file in `/run/secrets` when it starts
/// (LiteLLM's `oidc/file/` secret source, which reads the file as it is:
/// secret files carry no trailing newline).
fn secret_file(name: &str) -> String {
    format!("os.environ/oidc/file/{SECRETS_MOUNT}/{name}")
}

/// Who may call LiteLLM: the same for every site, so not a template.
const LITELLM_AUTH_SOURCE: &str = include_str!("../../cloud-init/stack/litellm_auth.py");

/// LiteLLM's auth hook as the release carries it.
fn litellm_auth() -> String {
    without_comments(LITELLM_AUTH_SOURCE, "#")
}

fn litellm_config(site: &Site) -> String {
    let models: Vec<Value> = site
        .models
        .iter()
        .map(|(name, m)| {
            let key = site
                .providers
                .get(&m.provider)
                .map(|p| p.api_key_secret.to_string())
                .unwrap_or_default();
            let mut params = json!({
                "model": format!("{}/{}", m.provider, m.id),
                "api_key": secret_file(&key),
                "rpm": m.rpm,
            });
            if m.budget_usd > 0.0 {
                params["max_budget"] = json!(m.budget_usd);
                params["budget_duration"] = json!(m.budget_period);
            }
            json!({ "model_name": name, "litellm_params": params })
        })
        .collect();
    let config = json!({
        "model_list": models,
        "general_settings": {
            "master_key": secret_file("LITELLM_MASTER_KEY"),
            // Beside this file in the container; decides every request.
            "custom_auth": "litellm_auth.user_api_key_auth",
        },
        "litellm_settings": {
            "drop_params": true,
        },
    });
    let yaml = serde_norway::to_string(&config).expect("LiteLLM config serializes");
    format!(
        "# clawbake: LiteLLM proxy config. Keys are files in /run/secrets, never in this file\n\
         # or in the container's environment; litellm_auth.py decides who may call what.\n{yaml}"
    )
}

const NO_NEW_PRIVILEGES: &str = "no-new-privileges:true";

fn limits(svc: &Service) -> Value {
    // Compose takes a process limit here or as `pids_limit`, never both.
    let mut resources = json!({
        "limits": {
            "cpus": format!("{}", svc.cpus),
            "memory": format!("{}M", svc.memory_mib),
            "pids": svc.pids,
        },
    });
    if svc.reservation_mib > 0 {
        resources["reservations"] = json!({ "memory": format!("{}M", svc.reservation_mib) });
    }
    json!({ "resources": resources })
}

fn healthcheck<S: serde::Serialize>(site: &Site, test: &[S]) -> Value {
    json!({
        "test": test,
        "interval": "30s",
        "timeout": format!("{}s", site.stack.healthcheck_timeout_secs),
        "retries": 3,
        "start_period": "60s",
        "start_interval": "5s",
    })
}

fn compose(site: &Site, images: &Images, hashes: &Hashes) -> String {
    let mut services = Map::new();
    services.insert("docker-proxy".into(), socket_proxy(site, images, hashes));
    services.insert("openclaw".into(), gateway(site, hashes));
    services.insert("litellm".into(), litellm(site, images, hashes));
    services.insert("egress".into(), egress(site, images, hashes));
    // A named volume (so backups and `docker volume` see it) whose data
    // sits at the same absolute path on the host as in the container:
    // OpenClaw hands its own paths to the host's Docker daemon.
    let mut volumes = json!({
        "openclaw-data": {
            "driver": "local",
            "driver_opts": { "type": "none", "o": "bind", "device": STATE_DIR },
        },
    });
    match site.site.ingress {
        Ingress::Caddy => {
            services.insert("caddy".into(), caddy(site, images, hashes));
            volumes["caddy-data"] = json!({});
            volumes["caddy-config"] = json!({});
        }
        Ingress::Tunnel => {
            services.insert("cloudflared".into(), cloudflared(site, images));
        }
    }
    let n = &site.stack.networks;
    let net = |subnet: String, internal: bool| {
        let mut v = json!({ "driver": "bridge", "ipam": { "config": [{ "subnet": subnet }] } });
        if internal {
            v["internal"] = json!(true);
        }
        v
    };
    let doc = json!({
        "name": site.site.name.as_str(),
        "services": services,
        "networks": {
            "openclaw-net": net(n.internal.to_string(), true),
            // Internal too: the gateway has a leg here, and a network
            // with a route out would give it a default route around Squid.
            "proxy-net": net(n.proxy.to_string(), true),
            "egress-net": net(n.egress.to_string(), false),
            // The ingress's way in (published ports) and out (ACME,
            // Cloudflare's edge); no other service joins it.
            "edge-net": net(n.edge.to_string(), false),
        },
        "volumes": volumes,
    });
    let yaml = serde_norway::to_string(&doc).expect("compose file serializes");
    format!("# clawbake: the OpenClaw stack. Generated; a change is a new release.\n{yaml}")
}

/// The capabilities Squid keeps: it starts as root and drops to `proxy`.
const SQUID_CAPS: &[&str] = &["SETUID", "SETGID"];
/// The capability Caddy keeps: its binary carries it as a file capability.
const CADDY_CAPS: &[&str] = &["NET_BIND_SERVICE"];

/// A service's limits and privileges as `verify` expects to find them.
pub struct Limits {
    pub service: &'static str,
    pub memory_mib: u64,
    pub pids: u32,
    /// What it keeps of the capabilities it drops (all of them).
    pub cap_add: &'static [&'static str],
}

/// Each Compose service the site runs, with its limits.
pub fn service_limits(site: &Site) -> Vec<Limits> {
    let s = &site.stack.services;
    let mut out = vec![
        ("docker-proxy", &s.socket_proxy),
        ("openclaw", &s.gateway),
        ("litellm", &s.litellm),
        ("egress", &s.egress),
    ];
    match site.site.ingress {
        Ingress::Caddy => out.push(("caddy", &s.caddy)),
        Ingress::Tunnel => out.push(("cloudflared", &s.tunnel)),
    }
    out.into_iter()
        .map(|(service, svc)| Limits {
            service,
            memory_mib: u64::from(svc.memory_mib),
            pids: svc.pids,
            cap_add: match service {
                "egress" => SQUID_CAPS,
                "caddy" => CADDY_CAPS,
                _ => &[],
            },
        })
        .collect()
}

fn socket_proxy(site: &Site, images: &Images, hashes: &Hashes) -> Value {
    json!({
        "image": images.socket_proxy,
        "container_name": "openclaw-docker-proxy",
        // HAProxy, as the official image and Debian's package both run it;
        // the config and the policy come from this release.
        "entrypoint": ["haproxy", "-W", "-db"],
        "command": ["-f", format!("{PROXY_DIR}/haproxy.cfg")],
        // Root for the socket (root:docker 0660), with no capability.
        "user": "0:0",
        "volumes": [
            format!("{CURRENT}/docker-proxy:{PROXY_DIR}:ro"),
            "/var/run/docker.sock:/var/run/docker.sock:ro",
        ],
        "networks": ["openclaw-net"],
        "labels": { "clawbake.config": hashes.docker_proxy },
        "healthcheck": healthcheck(site, &["CMD-SHELL", &format!("wget -qO- http://127.0.0.1:{SOCKET_PROXY_PORT}/_ping >/dev/null || exit 1")]),
        "read_only": true,
        "cap_drop": ["ALL"],
        "security_opt": [NO_NEW_PRIVILEGES],
        "deploy": limits(&site.stack.services.socket_proxy),
        "restart": "unless-stopped",
    })
}

/// The gateway image with Docker's static CLI copied in: two pinned images,
/// no package manager at build time.
fn gateway_dockerfile(images: &Images) -> String {
    format!(
        "# clawbake: OpenClaw's image with the docker CLI its sandboxes run.\n\
         FROM {cli} AS docker-cli\n\
         FROM {gateway}\n\
         COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker\n",
        cli = images.docker_cli,
        gateway = images.gateway,
    )
}

fn gateway(site: &Site, hashes: &Hashes) -> Value {
    json!({
        // Tagged by the Dockerfile's hash: a change builds a new image.
        // The context is the compose file's own directory, so the stack
        // step builds a release's image before `current` points at it.
        "image": format!("clawbake/openclaw-gateway:{}", &hashes.gateway_image[..16]),
        "build": { "context": ".", "dockerfile": "gateway.Dockerfile" },
        "pull_policy": "build",
        "container_name": CONTAINER,
        "environment": {
            "HOME": "/home/node",
            "OPENCLAW_STATE_DIR": STATE_DIR,
            "OPENCLAW_CONFIG_PATH": CONFIG_PATH,
            "OPENCLAW_DISABLE_BONJOUR": "1",
            "OPENCLAW_SKIP_BROWSER_CONTROL_SERVER": "1",
            "OPENCLAW_SKIP_CANVAS_HOST": "1",
            "DOCKER_HOST": format!("tcp://docker-proxy:{SOCKET_PROXY_PORT}"),
            // openclaw-net has no route out. OpenClaw 2026.2.15 reads these
            // only for Telegram (configured in openclaw.json); later
            // versions use them for model and web traffic too.
            "HTTP_PROXY": proxy_url(),
            "HTTPS_PROXY": proxy_url(),
            "NO_PROXY": "docker-proxy,litellm,localhost,127.0.0.1",
        },
        "env_file": [format!("{ENV_DIR}/openclaw.env")],
        "volumes": [
            format!("openclaw-data:{}", STATE_DIR),
            format!("{SANDBOX_DIR}:{SANDBOX_DIR}"),
            format!("{CURRENT}/openclaw/openclaw.json:{}:ro", CONFIG_PATH),
            format!("{CURRENT}/openclaw/SOUL.md:{}/workspace/SOUL.md:ro", STATE_DIR),
        ],
        "networks": ["openclaw-net", "proxy-net"],
        "depends_on": GATEWAY_DEPENDS_ON
            .iter()
            .map(|s| ((*s).to_owned(), json!({ "condition": "service_healthy" })))
            .collect::<serde_json::Map<_, _>>(),
        "labels": { "clawbake.config": hashes.openclaw },
        "healthcheck": healthcheck(site, &openclaw::healthcheck(site.openclaw.version, site.openclaw.port.0)),
        // Not read-only: OpenClaw writes under its home as well as its
        // state directory, and only the real image could prove which paths.
        "cap_drop": ["ALL"],
        "security_opt": [NO_NEW_PRIVILEGES],
        "deploy": limits(&site.stack.services.gateway),
        "restart": "unless-stopped",
    })
}

fn litellm(site: &Site, images: &Images, hashes: &Hashes) -> Value {
    json!({
        "image": images.litellm,
        "container_name": "openclaw-litellm",
        "command": ["--config", "/app/config.yaml", "--port", LITELLM_PORT.to_string()],
        "environment": {
            "HTTP_PROXY": proxy_url(),
            "HTTPS_PROXY": proxy_url(),
            "NO_PROXY": "localhost,127.0.0.1",
        },
        "volumes": [
            format!("{CURRENT}/litellm.yaml:/app/config.yaml:ro"),
            format!("{CURRENT}/litellm_auth.py:/app/litellm_auth.py:ro"),
            format!("{FILES_DIR}/litellm:{SECRETS_MOUNT}:ro"),
        ],
        "networks": ["openclaw-net"],
        "depends_on": { "egress": { "condition": "service_healthy" } },
        "labels": { "clawbake.config": hashes.litellm },
        "healthcheck": healthcheck(site, &["CMD-SHELL", &format!(
            "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{LITELLM_PORT}/health/liveliness', timeout=5)\" || exit 1"
        )]),
        // Not read-only: the image's start-up may lay out its UI files,
        // which only the real image could prove it skips.
        "cap_drop": ["ALL"],
        "security_opt": [NO_NEW_PRIVILEGES],
        "deploy": limits(&site.stack.services.litellm),
        "restart": "unless-stopped",
    })
}

fn egress(site: &Site, images: &Images, hashes: &Hashes) -> Value {
    json!({
        "image": images.egress,
        "container_name": "openclaw-egress",
        "volumes": [format!("{CURRENT}/squid.conf:/etc/squid/squid.conf:ro")],
        "networks": ["openclaw-net", "egress-net"],
        "labels": { "clawbake.config": hashes.squid },
        "healthcheck": healthcheck(site, &["CMD", "squid", "-k", "check"]),
        // Squid starts as root and drops to `proxy`. Not DAC_READ_SEARCH,
        // which the image's entrypoint would want to tail the logs `proxy`
        // writes: with it, Docker's seccomp profile allows
        // `open_by_handle_at`, a way to the host's files. Not read-only:
        // the entrypoint writes at start.
        "cap_drop": ["ALL"],
        "cap_add": SQUID_CAPS,
        "security_opt": [NO_NEW_PRIVILEGES],
        "deploy": limits(&site.stack.services.egress),
        "restart": "unless-stopped",
    })
}

fn caddy(site: &Site, images: &Images, hashes: &Hashes) -> Value {
    let ports: Vec<String> = site
        .firewall
        .public_ports
        .iter()
        .map(|p| format!("{p}:{p}"))
        .collect();
    json!({
        "image": images.ingress,
        "container_name": "openclaw-caddy",
        "ports": ports,
        "volumes": [
            format!("{CURRENT}/Caddyfile:/etc/caddy/Caddyfile:ro"),
            "caddy-data:/data",
            "caddy-config:/config",
        ],
        "networks": ["proxy-net", "edge-net"],
        // No `depends_on` the gateway: Compose recreates a service whose
        // dependency it recreated, so every gateway release took the
        // ingress down with it (the VM tests measured it). The ingress
        // finds the gateway by name at each request.
        "labels": { "clawbake.config": hashes.caddy },
        "healthcheck": healthcheck(site, &["CMD", "wget", "-qO-", "http://127.0.0.1:2019/config/"]),
        // Writes only its volumes (certificates, autosave) and /tmp.
        "read_only": true,
        "tmpfs": ["/tmp"],
        // The image's binary carries the bind capability as a file
        // capability: without it in the set, exec fails.
        "cap_drop": ["ALL"],
        "cap_add": CADDY_CAPS,
        "security_opt": [NO_NEW_PRIVILEGES],
        "deploy": limits(&site.stack.services.caddy),
        "restart": "unless-stopped",
    })
}

fn cloudflared(site: &Site, images: &Images) -> Value {
    json!({
        "image": images.ingress,
        "container_name": "openclaw-tunnel",
        // The image's entrypoint is `cloudflared --no-autoupdate`. The token
        // is a file (cloudflared 2025.4.0 and later), not `TUNNEL_TOKEN`.
        "command": [
            "tunnel", "--metrics", "127.0.0.1:20241", "run",
            "--token-file", format!("{SECRETS_MOUNT}/TUNNEL_TOKEN"),
        ],
        "volumes": [format!("{FILES_DIR}/cloudflared:{SECRETS_MOUNT}:ro")],
        "networks": ["proxy-net", "edge-net"],
        // No `depends_on` the gateway (see Caddy's).
        "healthcheck": healthcheck(site, &["CMD", "cloudflared", "tunnel", "--metrics", "127.0.0.1:20241", "ready"]),
        // A tunnel run from a token writes nothing to disk.
        "read_only": true,
        "cap_drop": ["ALL"],
        "security_opt": [NO_NEW_PRIVILEGES],
        "deploy": limits(&site.stack.services.tunnel),
        "restart": "unless-stopped",
    })
}
