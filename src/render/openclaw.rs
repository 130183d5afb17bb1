//! OpenClaw's own config file (JSON5, strictly validated: an unknown key
//! stops the gateway). JSON is valid JSON5, so a JSON serializer writes it.
//!
//! Key names come from OpenClaw's zod schema at the release the site runs
//! (`openclaw.version`), not from the guide: several of the guide's keys do
//! not exist (`agents.defaults.tools`, `docker.memoryLimit`,
//! `logging.format`) and would stop the gateway. What differs between the
//! releases is written from each one's own schema and code (2026.9.6: its
//! npm package's `dist/`), and a key a release lacks is never written to it.
//!
//! Layout in the container, chosen for two reasons:
//! - the config is release-owned and read-only (`OPENCLAW_CONFIG_PATH`
//!   points at a bind mount of this release's file); a change is a new
//!   release, never an edit;
//! - the state directory has the same absolute path on the host and in the
//!   container. OpenClaw starts sandboxes by running `docker create -v
//!   <its own path>:...` against the host's daemon, which resolves the path
//!   on the host; any other layout mounts the wrong directory.

use serde_json::{Map, Value, json};

use super::shared::{LITELLM_PORT, SANDBOX_DIR, STATE_DIR, pretty, proxy_url};
use crate::model::{MemoryProvider, OpenClawVersion, Site};

/// The gateway's healthcheck, with the image's Node. 2026.2.15 has no
/// health endpoint: the Control UI answers `GET /` without auth, so a
/// status below 500 proves the HTTP server is up. 2026.9.6 answers
/// `GET /healthz` without auth, 200 once it is live; `/readyz` would turn
/// 503 whenever a channel is down (a Telegram outage is not a reason to
/// restart or roll back the gateway).
pub fn healthcheck(version: OpenClawVersion, port: u16) -> Vec<String> {
    let probe = if version.has_health_endpoints() {
        format!(
            "fetch('http://127.0.0.1:{port}/healthz').then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))"
        )
    } else {
        format!(
            "fetch('http://127.0.0.1:{port}/').then(r=>process.exit(r.status<500?0:1),()=>process.exit(1))"
        )
    };
    vec!["CMD".to_owned(), "node".to_owned(), "-e".to_owned(), probe]
}

/// OpenClaw's defaults for sandbox container names and their workdir, which
/// the Docker policy holds it to.
pub const SANDBOX_PREFIX: &str = "openclaw-sbx-";
pub const SANDBOX_WORKDIR: &str = "/workspace";

/// The agent's workspace in the container.
fn workspace() -> String {
    format!("{STATE_DIR}/workspace")
}

/// The slugs of the site's sandboxes: `scope = "agent"` with the one
/// default agent. The container is `SANDBOX_PREFIX` + slug, its workspace
/// `SANDBOX_DIR/slug`.
pub fn sandbox_slugs(version: OpenClawVersion) -> Vec<String> {
    match version {
        OpenClawVersion::V2026_2_15 => vec![sandbox_slug("agent:main")],
        // 2026.9.6 ties the scope key to the agent's workspace
        // (`resolveSandboxScopeKey`): `agent:ID:workspace:` and the first
        // 32 hex digits of the workspace path's sha256; such a key's slug
        // is `workspace-` and the first 32 of its own sha256
        // (`slugifySessionKey`).
        OpenClawVersion::V2026_9_6 => {
            let dir = crate::bundle::sha256_hex(workspace().as_bytes());
            let key = format!("agent:main:workspace:{}", &dir[..32]);
            vec![format!(
                "workspace-{}",
                &crate::bundle::sha256_hex(key.as_bytes())[..32]
            )]
        }
    }
}

/// A sandbox's slug, as OpenClaw 2026.2.15 forms it from its scope key:
/// lower case, each run outside `[a-z0-9._-]` made one `-`, `-` trimmed,
/// cut to 32, then `-` and the first 8 hex digits of the key's sha256.
fn sandbox_slug(key: &str) -> String {
    let mut slug = String::new();
    for c in key.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(32).collect();
    format!("{slug}-{}", &crate::bundle::sha256_hex(key.as_bytes())[..8])
}

pub fn config(site: &Site, sandbox_image: &str) -> String {
    let sandbox = &site.stack.sandbox;
    let models: Vec<Value> = site
        .models
        .keys()
        .map(|name| json!({ "id": name, "name": name, "maxTokens": site.openclaw.max_tokens }))
        .collect();

    // Plugins are an allowlist: only what this site uses. Telegram is a
    // bundled plugin that is off by default; the gateway would enable it by
    // writing the (read-only) config, so it is enabled here.
    let mut allow = vec!["memory-core"];
    let mut entries = Map::new();
    if site.channels.telegram.enabled {
        allow.push("telegram");
        entries.insert("telegram".into(), json!({ "enabled": true }));
    }

    let version = site.openclaw.version;
    let mut defaults = json!({
        "workspace": workspace(),
        "model": { "primary": format!("litellm/{}", site.openclaw.default_model) },
        "maxConcurrent": site.stack.max_sandboxes,
        "sandbox": {
            // Every session, DMs included, runs tools in a sandbox.
            "mode": "all",
            "scope": "agent",
            "workspaceAccess": "none",
            "workspaceRoot": SANDBOX_DIR,
            "docker": {
                "image": sandbox_image,
                "user": sandbox.user,
                "containerPrefix": SANDBOX_PREFIX,
                "workdir": SANDBOX_WORKDIR,
                "network": "none",
                "readOnlyRoot": true,
                "capDrop": ["ALL"],
                "memory": format!("{}m", sandbox.memory_mib),
                "memorySwap": format!("{}m", sandbox.memory_mib),
                "cpus": sandbox.cpus,
                "pidsLimit": sandbox.pids,
            },
        },
    });
    if site.memory.provider == MemoryProvider::Voyage && version == OpenClawVersion::V2026_2_15 {
        defaults["memorySearch"] = json!({ "provider": "voyage", "model": site.memory.model });
    }

    let mut config = json!({
        "gateway": {
            "mode": "local",
            "port": site.openclaw.port.0,
            // All interfaces of the container: the ingress reaches the
            // gateway over proxy-net. The token (OPENCLAW_GATEWAY_TOKEN, from
            // the env file) guards every request; without one the gateway
            // refuses to bind beyond loopback.
            "bind": "lan",
            "auth": {
                "mode": "token",
                "allowTailscale": false,
                // Slow down token guessing through the public ingress.
                "rateLimit": { "maxAttempts": 10, "windowMs": 60_000, "lockoutMs": 300_000 },
            },
            // Only the ingress on proxy-net may set forwarded headers.
            "trustedProxies": [site.stack.networks.proxy.to_string()],
            "controlUi": control_ui(site),
            "nodes": { "browser": { "mode": "off" } },
            "tools": { "deny": site.openclaw.tools_deny },
        },
        "discovery": { "mdns": { "mode": "off" } },
        "browser": { "enabled": false },
        "logging": logging(version),
        "session": { "dmScope": "per-channel-peer" },
        "plugins": { "allow": allow, "entries": entries },
        "models": {
            "providers": {
                "litellm": {
                    "baseUrl": format!("http://litellm:{LITELLM_PORT}/v1"),
                    "apiKey": "${LITELLM_GATEWAY_KEY}",
                    "api": "openai-completions",
                    "models": models,
                },
            },
        },
        "agents": { "defaults": defaults },
        "tools": {
            "deny": site.openclaw.tools_deny,
            "elevated": { "enabled": false },
            "fs": { "workspaceOnly": true },
        },
    });
    // 2026.9.6 moved memory search to `memory.search`, and with no provider
    // named it would ask OpenAI for embeddings: off, unless a provider is
    // chosen. Voyage is a plugin there that clawbake cannot install, which
    // validation refuses before this.
    if version == OpenClawVersion::V2026_9_6 {
        config["memory"] = match site.memory.provider {
            MemoryProvider::Voyage => {
                json!({ "search": { "provider": "voyage", "model": site.memory.model } })
            }
            MemoryProvider::None => json!({ "search": { "enabled": false } }),
        };
    }
    if site.channels.telegram.enabled {
        let t = &site.channels.telegram;
        // No botToken here: OpenClaw falls back to TELEGRAM_BOT_TOKEN from
        // the env file, so the gateway starts before the secret is set.
        let mut telegram = json!({
            "enabled": true,
            "dmPolicy": t.dm_policy.as_str(),
            "groups": { "*": { "requireMention": t.require_mention } },
            "configWrites": false,
        });
        // 2026.2.15 ignores HTTP(S)_PROXY, so Telegram gets Squid through
        // its own key; 2026.9.6 takes the environment's, as every other
        // client of it does.
        if !version.honours_proxy_env() {
            telegram["proxy"] = json!(proxy_url());
        }
        config["channels"] = json!({ "telegram": telegram });
    }
    pretty(&config)
}

/// The Control UI's settings.
fn control_ui(site: &Site) -> Value {
    match site.openclaw.version {
        // Both keys were spelled out at their safe values; 2026.9.6 retired
        // them (an unknown key there), keeping the same behaviour.
        OpenClawVersion::V2026_2_15 => {
            json!({ "allowInsecureAuth": false, "dangerouslyDisableDeviceAuth": false })
        }
        // Bound beyond loopback with no allowlist, 2026.9.6 lets only
        // localhost origins open the UI: the site's own name is the one a
        // browser comes from, through the ingress.
        OpenClawVersion::V2026_9_6 => {
            json!({ "allowedOrigins": [format!("https://{}", site.site.domain)] })
        }
    }
}

/// Logging: JSON lines on the console, a file in the state volume.
fn logging(version: OpenClawVersion) -> Value {
    let mut logging = Map::new();
    // 2026.9.6 always redacts tool output ("tools") and has no key for it.
    if version == OpenClawVersion::V2026_2_15 {
        logging.insert("redactSensitive".into(), json!("tools"));
    }
    logging.insert(
        "file".into(),
        json!(format!("{STATE_DIR}/logs/openclaw.log")),
    );
    logging.insert("consoleStyle".into(), json!("json"));
    Value::Object(logging)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_openclaws() {
        // The names each release gives the default agent's sandbox (for
        // 2026.9.6, computed by its own `resolveSandboxScopeKey` and
        // `slugifySessionKey` from the npm package).
        assert_eq!(
            sandbox_slugs(OpenClawVersion::V2026_2_15),
            ["agent-main-f331f052"]
        );
        assert_eq!(
            sandbox_slugs(OpenClawVersion::V2026_9_6),
            ["workspace-cf61f7c517dc1cd33b93b14bf1c17c63"]
        );
        assert!(
            sandbox_slug("Agent::A Very Long Name That Goes On And On")
                .starts_with("agent-a-very-long-name-that-goes-")
        );
    }
}
