//! OpenClaw's own config file (`openclaw.json`, JSON5, strictly validated:
//! an unknown key stops the gateway). JSON is valid JSON5, so it is written
//! with a JSON serializer. Secrets are `${VAR}` references that OpenClaw
//! resolves from the container's environment, never literal values.
//!
//! Key names follow OpenClaw's configuration reference for the pinned
//! version, not the guide (which uses names OpenClaw does not accept).

use serde_json::{Value, json};

use super::host::pretty;
use super::stack::LITELLM_PORT;
use crate::model::{MemoryProvider, Site};

/// The state directory inside the container: the image runs as `node`
/// (uid 1000) with its home at `/home/node`.
pub const HOME_STATE: &str = "/home/node/.openclaw";

/// The gateway's container healthcheck.
pub const HEALTHCHECK: [&str; 2] = [
    "CMD-SHELL",
    "node -e \"fetch('http://127.0.0.1:18789/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))\"",
];

pub fn config(site: &Site) -> String {
    let sandbox = &site.stack.sandbox;
    let models: Vec<Value> = site
        .models
        .keys()
        .map(|name| json!({ "id": name, "name": name }))
        .collect();
    let mut config = json!({
        "gateway": {
            "mode": "local",
            "port": site.openclaw.port.0,
            // Listen on the container's interfaces: the ingress reaches the
            // gateway over proxy-net. The token protects every request.
            "bind": "lan",
            "auth": {
                "mode": "token",
                "token": "${OPENCLAW_GATEWAY_TOKEN}",
                "allowTailscale": false,
            },
            // Only the ingress on proxy-net may set forwarded headers.
            "trustedProxies": [site.stack.networks.proxy.to_string()],
            "controlUi": {
                "allowInsecureAuth": false,
                "dangerouslyDisableDeviceAuth": false,
            },
        },
        "discovery": { "mdns": { "mode": "off" } },
        "browser": { "enabled": false },
        "logging": {
            "redactSensitive": "tools",
            "file": format!("{HOME_STATE}/logs/openclaw.log"),
        },
        "session": { "dmScope": "per-channel-peer" },
        "plugins": { "allow": [] },
        "models": {
            "providers": {
                "litellm": {
                    "baseUrl": format!("http://litellm:{LITELLM_PORT}/v1"),
                    "apiKey": "${LITELLM_MASTER_KEY}",
                    "api": "openai-completions",
                    "models": models,
                },
            },
        },
        "agents": {
            "defaults": {
                "model": { "primary": format!("litellm/{}", site.openclaw.default_model) },
                "sandbox": {
                    "mode": "all",
                    "scope": "agent",
                    "workspaceAccess": "none",
                    "docker": {
                        "network": "none",
                        "capDrop": ["ALL"],
                        "memory": format!("{}m", sandbox.memory_mib),
                        "cpus": sandbox.cpus,
                        "pidsLimit": sandbox.pids,
                    },
                },
            },
        },
        "tools": { "deny": site.openclaw.tools_deny },
    });
    let mut channels = serde_json::Map::new();
    if site.channels.telegram.enabled {
        let t = &site.channels.telegram;
        channels.insert(
            "telegram".into(),
            json!({
                "enabled": true,
                "botToken": "${TELEGRAM_BOT_TOKEN}",
                "dmPolicy": t.dm_policy.as_str(),
                "groups": { "*": { "requireMention": t.require_mention } },
            }),
        );
    }
    if !channels.is_empty() {
        config["channels"] = Value::Object(channels);
    }
    if site.memory.provider == MemoryProvider::Voyage {
        config["agents"]["defaults"]["memorySearch"] = json!({
            "provider": "voyage",
            "model": site.memory.model,
        });
    }
    pretty(&config)
}
