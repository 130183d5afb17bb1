//! OpenClaw's own config file (JSON5, strictly validated: an unknown key
//! stops the gateway). JSON is valid JSON5, so a JSON serializer writes it.
//!
//! Key names come from OpenClaw's zod schema at the 2026.2.15 release
//! commit, not from the guide: several of the guide's keys do not exist
//! (`agents.defaults.tools`, `docker.memoryLimit`, `logging.format`) and
//! would stop the gateway.
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
use crate::model::{MemoryProvider, Site};

/// The gateway's healthcheck. 2026.2.15 has no health endpoint (it came in
/// 2026.3.1); the Control UI answers `GET /` without auth, so a status
/// below 500 proves the HTTP server is up. Node is in the image.
pub fn healthcheck(port: u16) -> Vec<String> {
    vec![
        "CMD".to_owned(),
        "node".to_owned(),
        "-e".to_owned(),
        format!(
            "fetch('http://127.0.0.1:{port}/').then(r=>process.exit(r.status<500?0:1),()=>process.exit(1))"
        ),
    ]
}

/// OpenClaw's defaults for sandbox container names and their workdir, which
/// the Docker policy holds it to.
pub const SANDBOX_PREFIX: &str = "openclaw-sbx-";
pub const SANDBOX_WORKDIR: &str = "/workspace";

/// The scope keys OpenClaw gives sandboxes: `scope = "agent"` with the one
/// default agent.
pub const SANDBOX_KEYS: &[&str] = &["agent:main"];

/// A sandbox's slug, as OpenClaw 2026.2.15 forms it from its scope key:
/// lower case, each run outside `[a-z0-9._-]` made one `-`, `-` trimmed,
/// cut to 32, then `-` and the first 8 hex digits of the key's sha256. The
/// container is `SANDBOX_PREFIX` + slug, its workspace `SANDBOX_DIR/slug`.
pub fn sandbox_slug(key: &str) -> String {
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

    let mut defaults = json!({
        "workspace": format!("{STATE_DIR}/workspace"),
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
    if site.memory.provider == MemoryProvider::Voyage {
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
            "controlUi": { "allowInsecureAuth": false, "dangerouslyDisableDeviceAuth": false },
            "nodes": { "browser": { "mode": "off" } },
            "tools": { "deny": site.openclaw.tools_deny },
        },
        "discovery": { "mdns": { "mode": "off" } },
        "browser": { "enabled": false },
        "logging": {
            "redactSensitive": "tools",
            "file": format!("{STATE_DIR}/logs/openclaw.log"),
            "consoleStyle": "json",
        },
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
    if site.channels.telegram.enabled {
        let t = &site.channels.telegram;
        // No botToken here: OpenClaw falls back to TELEGRAM_BOT_TOKEN from
        // the env file, so the gateway starts before the secret is set.
        // 2026.2.15 ignores HTTP(S)_PROXY; Telegram has its own proxy key.
        config["channels"] = json!({
            "telegram": {
                "enabled": true,
                "dmPolicy": t.dm_policy.as_str(),
                "groups": { "*": { "requireMention": t.require_mention } },
                "configWrites": false,
                "proxy": proxy_url(),
            },
        });
    }
    pretty(&config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_openclaws() {
        // The name OpenClaw 2026.2.15 gives the default agent's sandbox.
        assert_eq!(sandbox_slug("agent:main"), "agent-main-f331f052");
        assert!(
            sandbox_slug("Agent::A Very Long Name That Goes On And On")
                .starts_with("agent-a-very-long-name-that-goes-")
        );
    }
}
