//! The names more than one rendered file must agree on: where things live
//! on the host and in the containers, the ports services reach each other
//! on, the gateway's uid, and the one JSON form every JSON file is written
//! in. Kept apart so that the host, stack and OpenClaw renderers each
//! depend on this module and never on one another's internals.

/// Where releases live on the host.
pub const RELEASES: &str = "/opt/clawbake/releases";
/// Where the current release's stack files are on the host.
pub const CURRENT: &str = "/opt/clawbake/current/stack";
/// Where `clawbake-env` writes each service's secrets.
pub const ENV_DIR: &str = "/opt/clawbake/secrets/env";
/// Where `clawbake-env` puts each service's secret files, one directory per
/// service (`FILES_DIR/SERVICE/NAME`).
pub const FILES_DIR: &str = "/opt/clawbake/secrets/files";
/// Where a service finds its secret files.
pub const SECRETS_MOUNT: &str = "/run/secrets";

/// OpenClaw's state directory, on the host and in the container alike.
pub const STATE_DIR: &str = "/var/lib/openclaw";
/// Where the release's config is mounted read-only in the container.
pub const CONFIG_PATH: &str = "/etc/openclaw/openclaw.json";
/// Where sandbox workspaces live, on the host and in the gateway alike.
/// Root owns it and the gateway only the directory of each of its
/// sandboxes: were it the gateway's, it could swap a workspace for a
/// symlink to `/` between the policy's check of a bind and the daemon's
/// mount.
pub const SANDBOX_DIR: &str = "/var/lib/openclaw-sandboxes";
/// The image runs as `node`, uid and gid 1000.
pub const UID: u32 = 1000;
/// The gateway's container name; `verify` probes from its network.
pub const CONTAINER: &str = "openclaw";
/// The services the gateway waits for (`depends_on`, healthy): a stack
/// release brings these up first, while the old gateway still serves.
pub const GATEWAY_DEPENDS_ON: &[&str] = &["docker-proxy", "egress", "litellm"];

/// `docker compose up` on the running release, as every command that
/// changes a service after provisioning runs it (`secrets set` and
/// `rotate`, `restore`, the monthly token rotation): `services`
/// force-recreated, or with none, only what diverged; waiting until
/// healthy, within `wait_timeout` seconds when given. Give one wherever
/// nobody watches: Compose's `--wait` alone has no deadline, and a
/// container that keeps restarting within its healthcheck's start period
/// reads as "starting" forever.
///
/// Never `--no-deps`: Compose before 2.30 (Debian 13 ships 2.26) hashes a
/// service's `depends_on` into the label it compares, and `--no-deps`
/// drops the services not named from it, so the next stack release would
/// recreate a gateway whose config did not change. The services named
/// depend on are started if stopped and otherwise left alone.
/// Always `--no-build`: the stack step builds the gateway's image, and its
/// `pull_policy: build` would otherwise rebuild it on every `up`.
pub fn compose_up(services: &[String], wait_timeout: Option<u64>) -> String {
    let mut cmd = format!("docker compose -f {CURRENT}/compose.yaml up -d --no-build --wait");
    if let Some(secs) = wait_timeout {
        cmd.push_str(" --wait-timeout ");
        cmd.push_str(&secs.to_string());
    }
    if !services.is_empty() {
        cmd.push_str(" --force-recreate");
    }
    for s in services {
        // Compose service names, ours: nothing a shell would read.
        debug_assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        cmd.push(' ');
        cmd.push_str(s);
    }
    cmd
}

pub const SQUID_PORT: u16 = 3128;
pub const LITELLM_PORT: u16 = 4000;
pub const SOCKET_PROXY_PORT: u16 = 2375;

/// Squid on openclaw-net, as containers there reach it.
pub fn proxy_url() -> String {
    format!("http://egress:{SQUID_PORT}")
}

/// The release directory's name: the build id's first 16 hex digits.
pub fn release_name(build_id: &str) -> &str {
    &build_id[..16]
}

/// Pretty JSON with a final newline.
pub fn pretty(value: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("JSON value serializes");
    s.push('\n');
    s
}

/// A source file as the release carries it: every line that is only a
/// comment (`marker` after blanks: `#`, or `--` for Lua) is dropped. The
/// source under `cloud-init/` keeps its comments for whoever reads or
/// reviews it; the host gets the code, and the user-data fits a paste box.
/// Kept: a `#!` first line, shellcheck directives and apt's `#include` and
/// `#clear`, which are not comments to the program that reads them.
pub fn without_comments(text: &str, marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let code = line.trim_start();
        let directive = (i == 0 && code.starts_with("#!"))
            || code.starts_with("# shellcheck ")
            || code.starts_with("#include")
            || code.starts_with("#clear");
        if directive || !code.starts_with(marker) {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::without_comments;

    #[test]
    fn comment_lines_go_and_code_stays() {
        let sh = "#!/bin/bash\n# what it does\nset -eu\n  # indented\necho '#not a comment' # trailing\n# shellcheck disable=SC1091\n. /etc/x\n";
        assert_eq!(
            without_comments(sh, "#"),
            "#!/bin/bash\nset -eu\necho '#not a comment' # trailing\n# shellcheck disable=SC1091\n. /etc/x\n"
        );
        let lua = "-- header\nlocal x = 1 -- kept\n  --[ gone\nreturn x";
        assert_eq!(without_comments(lua, "--"), "local x = 1 -- kept\nreturn x");
        // Only the first line can be a `#!` line.
        assert_eq!(without_comments("\n#!/bin/sh\n", "#"), "\n");
    }
}
