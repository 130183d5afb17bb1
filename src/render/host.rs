//! Host-scope files: what changes the machine itself. A change here needs
//! a fresh server (see "Rebuild, don't mutate").

use std::fmt::Write as _;

use serde_json::json;
use tera::Context;

use super::openclaw;
use super::shared::{
    CONTAINER, GATEWAY_DEPENDS_ON, SANDBOX_DIR, STATE_DIR, UID, compose_up, pretty,
};
use super::templates::render;
use crate::bundle::{Scope, Tree};
use crate::config::locks::CloudflareLock;
use crate::model::Site;

/// The apt configuration that turns on unattended security updates.
pub const UPGRADES_CONF: &str = "host/etc/apt/apt.conf.d/52clawbake-upgrades";

pub fn render_into(tree: &mut Tree, site: &Site, cloudflare: &CloudflareLock) {
    let port = site.firewall.ssh_port.0;
    let public_ports: Vec<String> = site
        .firewall
        .public_ports
        .iter()
        .map(ToString::to_string)
        .collect();

    let mut sysctl = String::from("# clawbake: kernel settings for the OpenClaw host.\n");
    for (key, value) in &site.host.sysctl {
        let _ = writeln!(sysctl, "{key} = {value}");
    }
    tree.add(
        "host/etc/sysctl.d/99-clawbake.conf",
        0o644,
        Scope::Host,
        sysctl,
    );

    let d = &site.docker.daemon;
    let mut daemon = json!({
        "log-driver": "json-file",
        "log-opts": { "max-size": d.log_max_size, "max-file": d.log_max_files.to_string() },
        "live-restore": d.live_restore,
        "no-new-privileges": d.no_new_privileges,
        "default-ulimits": { "nofile": { "Name": "nofile", "Soft": d.nofile, "Hard": d.nofile } },
    });
    if site.images.ship {
        // Compose names shipped images by digest. Only the containerd image
        // store keeps the digest that `docker load` reads from the archive's
        // OCI index; the classic store (distro docker.io's default) drops it
        // and Compose would go to the registry after all.
        daemon["features"] = json!({ "containerd-snapshotter": true });
    }
    tree.add(
        "host/etc/docker/daemon.json",
        0o644,
        Scope::Host,
        pretty(&daemon),
    );

    let mut ctx = Context::new();
    ctx.insert("port", &port);
    ctx.insert("max_auth_tries", &site.ssh.max_auth_tries);
    tree.add(
        "host/etc/ssh/sshd_config.d/10-clawbake.conf",
        0o644,
        Scope::Host,
        render("host/sshd.conf", &ctx),
    );
    tree.add(
        "host/etc/systemd/system/ssh.socket.d/10-clawbake.conf",
        0o644,
        Scope::Host,
        render("host/ssh.socket.conf", &ctx),
    );

    let mut ctx = Context::new();
    ctx.insert(
        "public_ports",
        &site
            .firewall
            .public_ports
            .iter()
            .map(|p| p.0)
            .collect::<Vec<_>>(),
    );
    ctx.insert(
        "public_ports_text",
        &if public_ports.is_empty() {
            "no port".to_owned()
        } else {
            public_ports.join(", ")
        },
    );
    let cf4: Vec<String> = cloudflare.ipv4.iter().map(ToString::to_string).collect();
    let cf6: Vec<String> = cloudflare.ipv6.iter().map(ToString::to_string).collect();
    ctx.insert("ipv4", &cf4);
    ctx.insert("ipv6", &cf6);
    tree.add(
        "host/usr/local/sbin/clawbake-docker-user",
        0o755,
        Scope::Host,
        render("host/clawbake-docker-user", &ctx),
    );
    tree.add(
        "host/etc/systemd/system/clawbake-docker-user.service",
        0o644,
        Scope::Host,
        render("host/clawbake-docker-user.service", &Context::new()),
    );

    tools(tree, site);
    steps(tree, site, cloudflare, &public_ports);
}

/// The host's own tools: secrets into env files, backups, token rotation.
fn tools(tree: &mut Tree, site: &Site) {
    tree.add(
        "host/usr/local/sbin/clawbake-env",
        0o755,
        Scope::Host,
        render("host/clawbake-env", &Context::new()),
    );
    let mut ctx = Context::new();
    ctx.insert("state_dir", STATE_DIR);
    ctx.insert("container", CONTAINER);
    ctx.insert("keep_days", &site.backup.keep_days);
    tree.add(
        "host/usr/local/sbin/clawbake-backup",
        0o755,
        Scope::Host,
        render("host/clawbake-backup", &ctx),
    );
    tree.add(
        "host/usr/local/sbin/clawbake-rotate-token",
        0o755,
        Scope::Host,
        render("host/clawbake-rotate-token", &{
            let mut ctx = Context::new();
            ctx.insert(
                "recreate_gateway",
                &compose_up(
                    &[CONTAINER.to_owned()],
                    Some(u64::from(site.stack.health_timeout_secs)),
                ),
            );
            ctx
        }),
    );
    let mut ctx = Context::new();
    ctx.insert("backup_schedule", site.backup.schedule.as_str());
    ctx.insert(
        "rotate_schedule",
        site.backup.rotate_token_schedule.as_str(),
    );
    tree.add(
        "host/etc/cron.d/clawbake",
        0o644,
        Scope::Host,
        render("host/cron", &ctx),
    );
    tree.add(
        UPGRADES_CONF,
        0o644,
        Scope::Host,
        render("host/apt-upgrades", &Context::new()),
    );
}

fn steps(tree: &mut Tree, site: &Site, cloudflare: &CloudflareLock, public_ports: &[String]) {
    let mut ctx = Context::new();
    ctx.insert("site_name", site.site.name.as_str());
    tree.add("apply.sh", 0o755, Scope::Host, render("apply.sh", &ctx));
    // Provision's lock-out guard; cloud-init has no session to lose.
    tree.add(
        "guard.sh",
        0o755,
        Scope::Host,
        render("guard.sh", &Context::new()),
    );

    let mut ctx = Context::new();
    ctx.insert("packages", &site.host.packages.join(" "));
    ctx.insert("timezone", &site.host.timezone);
    ctx.insert("swap_mib", &site.host.swap_mib);
    tree.add(
        "steps/10-base.sh",
        0o755,
        Scope::Host,
        render("steps/10-base.sh", &ctx),
    );

    tree.add(
        "steps/20-files.sh",
        0o755,
        Scope::Host,
        render("steps/20-files.sh", &Context::new()),
    );

    let mut ctx = Context::new();
    ctx.insert(
        "apt",
        &site.docker.apt.as_ref().map(|a| {
            json!({
                "url": a.url, "suite": a.suite, "key_url": a.key_url,
                "key_fingerprint": a.key_fingerprint.replace(' ', "").to_uppercase(),
            })
        }),
    );
    ctx.insert("packages", &site.docker.packages.join(" "));
    let held: Vec<&str> = site
        .docker
        .packages
        .iter()
        .filter(|p| p.contains('='))
        .map(|p| p.split('=').next().unwrap_or(p))
        .collect();
    ctx.insert("hold", &held.join(" "));
    tree.add(
        "steps/30-docker.sh",
        0o755,
        Scope::Host,
        render("steps/30-docker.sh", &ctx),
    );

    let mut ctx = Context::new();
    ctx.insert("port", &site.firewall.ssh_port.0);
    tree.add(
        "steps/40-ssh.sh",
        0o755,
        Scope::Host,
        render("steps/40-ssh.sh", &ctx),
    );

    let mut ctx = Context::new();
    ctx.insert("port", &site.firewall.ssh_port.0);
    ctx.insert(
        "ssh_verb",
        if site.firewall.ssh_rate_limit {
            "limit"
        } else {
            "allow"
        },
    );
    ctx.insert(
        "admin_cidrs",
        &site
            .firewall
            .admin_cidrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
    );
    let cf: Vec<String> = if public_ports.is_empty() {
        Vec::new()
    } else {
        cloudflare.all().map(ToString::to_string).collect()
    };
    ctx.insert("cloudflare", &cf);
    ctx.insert("public_ports", &public_ports.join(","));
    tree.add(
        "steps/50-firewall.sh",
        0o755,
        Scope::Host,
        render("steps/50-firewall.sh", &ctx),
    );

    tree.add(
        "steps/60-secrets.sh",
        0o755,
        Scope::Host,
        render("steps/60-secrets.sh", &Context::new()),
    );

    stack_step(tree, site);
}

/// `90-stack`, a stack step: it brings up each release's Compose project.
fn stack_step(tree: &mut Tree, site: &Site) {
    let mut ctx = Context::new();
    ctx.insert("health_timeout", &site.stack.health_timeout_secs);
    ctx.insert("state_dir", STATE_DIR);
    ctx.insert("state_uid", &UID);
    ctx.insert("sandbox_dir", SANDBOX_DIR);
    ctx.insert(
        "sandbox_slugs",
        &openclaw::sandbox_slugs(site.openclaw.version),
    );
    ctx.insert("openclaw_version", site.openclaw.version.as_str());
    ctx.insert("gateway_depends_on", &GATEWAY_DEPENDS_ON.join(" "));
    ctx.insert(
        "openclaw_doctor",
        &site.openclaw.version.migrates_with_doctor(),
    );
    tree.add(
        "steps/90-stack.sh",
        0o755,
        Scope::Stack,
        render("steps/90-stack.sh", &ctx),
    );
}
