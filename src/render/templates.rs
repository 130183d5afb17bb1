//! The tera templates: shell scripts and config files that are neither YAML
//! nor JSON. They live under `cloud-init/` and are compiled into the binary.

use std::fmt::Write as _;
use std::sync::OnceLock;

use tera::{Context, Tera};

macro_rules! templates {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../cloud-init/", $path)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "apply.sh",
    "guard.sh",
    "steps/10-base.sh",
    "steps/20-files.sh",
    "steps/30-docker.sh",
    "steps/40-ssh.sh",
    "steps/50-firewall.sh",
    "steps/60-secrets.sh",
    "steps/90-stack.sh",
    "host/clawbake-env",
    "host/clawbake-docker-user",
    "host/clawbake-docker-user.service",
    "host/clawbake-backup",
    "host/clawbake-rotate-token",
    "host/cron",
    "host/apt-upgrades",
    "host/sshd.conf",
    "host/ssh.socket.conf",
    "stack/squid.conf",
    "stack/Caddyfile",
    "stack/docker-proxy.cfg",
];

/// Every template name, for the tests that render each one.
pub fn names() -> impl Iterator<Item = &'static str> {
    TEMPLATES.iter().map(|(name, _)| *name)
}

fn tera() -> &'static Tera {
    static TERA: OnceLock<Tera> = OnceLock::new();
    TERA.get_or_init(|| {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        tera.add_raw_templates(TEMPLATES.iter().copied())
            .expect("built-in templates parse");
        tera
    })
}

/// Render a built-in template, its comment lines left in the source. A
/// failure is a bug in clawbake: the templates and their contexts ship
/// together.
pub fn render(name: &str, context: &Context) -> String {
    match tera().render(name, context) {
        Ok(text) => super::shared::without_comments(&text, "#"),
        Err(e) => {
            let mut msg = format!("internal error: template `{name}` failed: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                let _ = write!(msg, ": {s}");
                source = s.source();
            }
            panic!("{msg}")
        }
    }
}
