//! One step from the merged tree to a typed [`Site`]: deserialize, then the
//! checks that span several keys (clashes, references, the memory budget).
//! Every problem becomes a [`Diagnostic`] that points at the value's origin.

use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use super::de::{DeError, DeErrorKind, ValueDe, one_of};
use super::load::Merged;
use super::secret_shape::looks_secret;
use super::tree::Value;
use crate::config::budget;
use crate::diagnostic::source::{Origin, SourceKind, Sources};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::model::{Ingress, Site};

/// Deserialize and check. All cross-key problems are reported at once.
pub fn validate(merged: &Merged) -> Result<Site, Vec<Diagnostic>> {
    let site = Site::deserialize(ValueDe::new(&merged.tree))
        .map_err(|e| vec![de_diagnostic(&e, merged)])?;
    let checks = Checks {
        merged,
        out: Vec::new(),
    };
    let problems = checks.run(&site);
    if problems.is_empty() {
        Ok(site)
    } else {
        Err(problems)
    }
}

/// Refuse secrets written into a user's file, before anything can quote
/// them: the value is masked in the source, and the error says where
/// secrets go instead.
pub fn refuse_secrets(merged: &mut Merged) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    secret_values(&merged.tree, "", &mut found);
    let mut out = Vec::new();
    for (path, origin) in found {
        if merged.sources.get(origin.source).kind != SourceKind::User {
            continue;
        }
        merged.sources.redact(&origin);
        out.push(
            Diagnostic::new(format!("`{path}` looks like a secret"))
                .primary(origin, "a secret in a site file would travel in user-data")
                .help("remove it, and send it to the server with `clawbake secrets set --host HOST NAME`"),
        );
    }
    out
}

fn secret_values(value: &Value, path: &str, out: &mut Vec<(String, Origin)>) {
    match &value.node {
        super::tree::Node::Table(t) => {
            for (k, v) in t {
                let child = super::merge::join(path, k);
                if let Some(s) = v.as_str() {
                    if looks_secret(k, s) {
                        out.push((child.clone(), v.origin.clone()));
                    }
                }
                secret_values(v, &child, out);
            }
        }
        super::tree::Node::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let key = path.rsplit('.').next().unwrap_or(path);
                if let Some(s) = v.as_str() {
                    if looks_secret(key, s) {
                        out.push((format!("{path}[{i}]"), v.origin.clone()));
                    }
                }
                secret_values(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Sample values for keys a site must set, used in `help:` lines.
const REQUIRED_EXAMPLES: &[(&str, &str)] = &[
    ("site.domain", "domain = \"openclaw.example.com\""),
    ("site.name", "name = \"openclaw\""),
];

fn de_diagnostic(err: &DeError, merged: &Merged) -> Diagnostic {
    let path = err.path.clone().unwrap_or_default();
    let site_name = site_file_name(&merged.sources);
    match &err.kind {
        DeErrorKind::MissingField { field } => {
            let full = super::merge::join(&path, field);
            let example = REQUIRED_EXAMPLES
                .iter()
                .find(|(k, _)| *k == full)
                .map_or_else(|| format!("{field} = ..."), |(_, e)| (*e).to_owned());
            let table = if path.is_empty() {
                String::new()
            } else {
                format!("under `[{path}]` ")
            };
            Diagnostic::new(format!("missing required value `{full}`"))
                .note("no layer sets it, and it has no default")
                .help(format!("add `{example}` {table}in {site_name}"))
        }
        DeErrorKind::UnknownField { field, expected } => {
            let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
            let mut d = Diagnostic::new(format!("unknown key `{path}`"));
            let where_ = if parent.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in `[{parent}]`")
            };
            if let Some(origin) = &err.origin {
                d = d.primary(origin.clone(), format!("not a key {where_}"));
            }
            match did_you_mean(field, expected) {
                Some(best) => d.help(format!("did you mean `{best}`?")),
                None => d.help(format!("the keys {where_} are {}", one_of(expected))),
            }
        }
        DeErrorKind::UnknownVariant { variant, expected } => {
            let mut d = Diagnostic::new(format!("invalid value for `{path}`"));
            if let Some(origin) = &err.origin {
                d = d.primary(origin.clone(), format!("expected {}", one_of(expected)));
            }
            match did_you_mean(variant, expected) {
                Some(best) => d.help(format!("did you mean `\"{best}\"`?")),
                None => d,
            }
        }
        DeErrorKind::InvalidType { .. }
        | DeErrorKind::InvalidValue { .. }
        | DeErrorKind::Custom(_) => {
            let mut d = Diagnostic::new(format!("invalid value for `{path}`"));
            if let Some(origin) = &err.origin {
                d = d.primary(origin.clone(), err.to_string());
            }
            if let Some(value) = merged.tree.get(&path) {
                d = with_layers(d, value, &merged.sources);
            }
            // A message that says what to write is its own help.
            if err.to_string().contains("write `") {
                d
            } else {
                d.help(value_help(&path))
            }
        }
    }
}

/// What to type for a value its type refused, by the key it is under.
fn value_help(path: &str) -> String {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    let leaf = leaf.split('[').next().unwrap_or(leaf);
    match leaf {
        "schedule" | "rotate_token_schedule" => format!(
            "write five fields, minute hour day month weekday: e.g. `{leaf} = \"0 3 * * *\"`"
        ),
        "authorized_keys" => {
            "paste the whole line of your public key file, e.g. the output of `cat ~/.ssh/id_ed25519.pub`".into()
        }
        "admin_cidrs" => "write the address you administer from, e.g. `admin_cidrs = [\"203.0.113.7\"]`".into(),
        "api_key_secret" => "name it after what it holds, e.g. `api_key_secret = \"ANTHROPIC_API_KEY\"`".into(),
        _ => format!("`clawbake explain {path}` shows the value the layers give it and where"),
    }
}

fn site_file_name(sources: &Sources) -> String {
    sources
        .iter()
        .filter(|(_, s)| s.kind == SourceKind::User || s.name.starts_with("sites/"))
        .last()
        .map_or_else(|| "site.toml".to_owned(), |(_, s)| format!("`{}`", s.name))
}

/// Add the chain of layers that wrote a value, when more than one did.
fn with_layers(d: Diagnostic, value: &Value, sources: &Sources) -> Diagnostic {
    if value.overridden.is_empty() {
        return d;
    }
    let chain: Vec<&str> = value
        .overridden
        .iter()
        .chain(std::iter::once(&value.origin))
        .map(|o| sources.get(o.source).name.as_str())
        .collect();
    d.note(format!("set by {}", chain.join(" -> ")))
}

struct Checks<'a> {
    merged: &'a Merged,
    out: Vec<Diagnostic>,
}

impl Checks<'_> {
    fn origin(&self, path: &str) -> Option<Origin> {
        self.merged.tree.get(path).map(|v| v.origin.clone())
    }

    fn error(&mut self, path: &str, message: &str, label: &str, help: Option<String>) {
        let mut d = Diagnostic::new(message.to_owned());
        if let Some(origin) = self.origin(path) {
            d = d.primary(origin, label.to_owned());
        } else {
            d = d.note(label.to_owned());
        }
        if let Some(h) = help {
            d = d.help(h);
        }
        self.out.push(d);
    }

    fn run(mut self, site: &Site) -> Vec<Diagnostic> {
        self.access(site);
        self.networks(site);
        self.references(site);
        self.limits(site);
        self.formats(site);
        self.offsite(site);
        self.budget(site);
        self.out
    }

    fn access(&mut self, site: &Site) {
        if site.ssh.authorized_keys.is_empty() {
            self.error(
                "ssh.authorized_keys",
                "no SSH key: nobody could log in to the server",
                "this list is empty",
                Some("add your public key: `authorized_keys = [\"ssh-ed25519 AAAA... you@laptop\"]` under `[ssh]`".into()),
            );
        }
        if site.firewall.admin_cidrs.is_empty() {
            self.error(
                "firewall.admin_cidrs",
                "no admin address: the firewall would let nobody reach SSH",
                "this list is empty",
                Some("add the address you administer from: `admin_cidrs = [\"203.0.113.7\"]` under `[firewall]`".into()),
            );
        }
        for (i, cidr) in site.firewall.admin_cidrs.iter().enumerate() {
            if let Some(what) = never_a_client(cidr.0) {
                self.error(
                    &format!("firewall.admin_cidrs[{i}]"),
                    &format!("`{cidr}` can never reach the server's SSH"),
                    &format!("{what}: no packet from there arrives over the internet"),
                    Some(
                        "list the public address you administer from (`curl -4 ifconfig.co` on your machine tells it)"
                            .into(),
                    ),
                );
            }
        }
        if site.firewall.admin_cidrs.len() > 1 {
            // The whole internet in pieces (`0.0.0.0/1` and `128.0.0.0/1`)
            // is the whole internet.
            let nets: Vec<IpNet> = site.firewall.admin_cidrs.iter().map(|c| c.0).collect();
            let whole = IpNet::aggregate(&nets).iter().any(|n| n.prefix_len() == 0);
            if whole {
                self.error(
                    "firewall.admin_cidrs",
                    "SSH would be open to the whole internet",
                    "together these ranges match every address",
                    Some(
                        "list the addresses you administer from; a VPN's exit address works too"
                            .into(),
                    ),
                );
            }
        }
        for (i, cidr) in site.firewall.admin_cidrs.iter().enumerate() {
            if cidr.0.prefix_len() == 0 {
                self.error(
                    &format!("firewall.admin_cidrs[{i}]"),
                    "SSH would be open to the whole internet",
                    &format!("`{cidr}` matches every address"),
                    Some(
                        "list the addresses you administer from; a VPN's exit address works too"
                            .into(),
                    ),
                );
            }
        }
        let port = site.firewall.ssh_port;
        if site.firewall.public_ports.contains(&port) {
            let mut d = Diagnostic::new(format!("port {port} is used twice"));
            if let Some(o) = self.origin("firewall.ssh_port") {
                d = d.primary(o, format!("SSH listens on {port}"));
            }
            if let Some(o) = self.origin("firewall.public_ports") {
                d = d.secondary(o, format!("the ingress publishes {port} too"));
            }
            self.out
                .push(d.help("pick another port for SSH, such as `ssh_port = 9922`"));
        }
        if site.site.ingress == Ingress::Tunnel && !site.firewall.public_ports.is_empty() {
            self.error(
                "firewall.public_ports",
                "a tunnel publishes no port",
                "with `ingress = \"tunnel\"` nothing listens on these ports",
                Some("remove `public_ports` from the site, or choose `ingress = \"caddy\"`".into()),
            );
        }
    }

    fn networks(&mut self, site: &Site) {
        let n = &site.stack.networks;
        let nets = [
            ("stack.networks.internal", n.internal.0),
            ("stack.networks.proxy", n.proxy.0),
            ("stack.networks.egress", n.egress.0),
            ("stack.networks.edge", n.edge.0),
        ];
        let docker0: IpNet = "172.17.0.0/16".parse().expect("constant CIDR");
        for (i, (key, net)) in nets.iter().enumerate() {
            let private = match net.addr() {
                IpAddr::V4(a) => a.is_private(),
                IpAddr::V6(_) => false,
            };
            if !private || !(16..=28).contains(&net.prefix_len()) {
                self.error(
                    key,
                    &format!("`{key}` is not a usable Docker subnet"),
                    &format!("`{net}` must be a private IPv4 range from /16 to /28"),
                    Some("use a range such as `172.30.0.0/24`".into()),
                );
            }
            if net.contains(&docker0.network()) || docker0.contains(&net.network()) {
                self.error(
                    key,
                    &format!("`{key}` overlaps Docker's default bridge"),
                    &format!("`{net}` overlaps docker0's 172.17.0.0/16"),
                    Some("use a range such as `172.30.0.0/24`".into()),
                );
            }
            for (other_key, other) in &nets[i + 1..] {
                if net.contains(&other.network()) || other.contains(&net.network()) {
                    let mut d = Diagnostic::new(format!("`{key}` and `{other_key}` overlap"));
                    if let Some(o) = self.origin(other_key) {
                        d = d.primary(o, format!("`{other}` overlaps `{net}`"));
                    }
                    if let Some(o) = self.origin(key) {
                        d = d.secondary(o, "the other network");
                    }
                    self.out.push(d.help("give each network its own range"));
                }
            }
        }
    }

    fn references(&mut self, site: &Site) {
        let providers: Vec<&str> = site.providers.keys().map(String::as_str).collect();
        for (name, model) in &site.models {
            if !site.providers.contains_key(&model.provider) {
                let key = format!("models.{name}.provider");
                let help = did_you_mean(&model.provider, &providers).map_or_else(
                    || {
                        format!(
                            "the providers are {}; add one under `[providers.{}]`",
                            one_of(&providers),
                            model.provider
                        )
                    },
                    |b| format!("did you mean `\"{b}\"`?"),
                );
                self.error(
                    &key,
                    &format!("unknown provider `{}`", model.provider),
                    "no such `[providers]` entry",
                    Some(help),
                );
            }
        }
        if site.memory.provider == crate::model::MemoryProvider::Voyage
            && site.openclaw.version == crate::model::OpenClawVersion::V2026_9_6
        {
            self.error(
                "memory.provider",
                "OpenClaw 2026.9.6 has no Voyage embeddings of its own",
                "Voyage is the plugin `@openclaw/voyage-provider` there, which is not on npm",
                Some("set `provider = \"none\"` here, or keep `openclaw.version = \"2026.2.15\"`, whose gateway has Voyage built in".into()),
            );
        }
        let models: Vec<&str> = site.models.keys().map(String::as_str).collect();
        if !site.models.contains_key(&site.openclaw.default_model) {
            let help = did_you_mean(&site.openclaw.default_model, &models).map_or_else(
                || format!("the models are {}", one_of(&models)),
                |b| format!("did you mean `\"{b}\"`?"),
            );
            self.error(
                "openclaw.default_model",
                &format!("unknown model `{}`", site.openclaw.default_model),
                "not a key of `[models]`",
                Some(help),
            );
        }
    }

    fn limits(&mut self, site: &Site) {
        let vcpus = f64::from(site.host.vcpus);
        let s = &site.stack.services;
        for (name, svc) in [
            ("gateway", &s.gateway),
            ("litellm", &s.litellm),
            ("socket_proxy", &s.socket_proxy),
            ("egress", &s.egress),
            ("caddy", &s.caddy),
            ("tunnel", &s.tunnel),
        ] {
            let key = format!("stack.services.{name}.cpus");
            if !(svc.cpus > 0.0 && svc.cpus <= vcpus) {
                self.error(
                    &key,
                    &format!("invalid value for `{key}`"),
                    &format!(
                        "expected more than 0 and at most the tier's {vcpus} vCPUs, found `{}`",
                        svc.cpus
                    ),
                    Some("write e.g. `cpus = 0.5`".into()),
                );
            }
            if svc.memory_mib < 16 {
                let key = format!("stack.services.{name}.memory_mib");
                self.error(
                    &key,
                    &format!("invalid value for `{key}`"),
                    "a container needs at least 16 MiB",
                    None,
                );
            }
            if svc.pids < 16 {
                let key = format!("stack.services.{name}.pids");
                self.error(
                    &key,
                    &format!("invalid value for `{key}`"),
                    &format!(
                        "a container needs at least 16 processes, found `{}`",
                        svc.pids
                    ),
                    None,
                );
            }
            if svc.reservation_mib > svc.memory_mib {
                let key = format!("stack.services.{name}.reservation_mib");
                self.error(
                    &key,
                    &format!("invalid value for `{key}`"),
                    &format!(
                        "the reservation ({} MiB) is above the limit ({} MiB)",
                        svc.reservation_mib, svc.memory_mib
                    ),
                    None,
                );
            }
        }
        if !(site.stack.sandbox.cpus > 0.0 && site.stack.sandbox.cpus <= vcpus) {
            self.error(
                "stack.sandbox.cpus",
                "invalid value for `stack.sandbox.cpus`",
                &format!("expected more than 0 and at most {vcpus}"),
                Some("write e.g. `cpus = 1.0`".into()),
            );
        }
        let user = &site.stack.sandbox.user;
        let ids: Vec<Option<u32>> = user.split(':').map(|id| id.parse().ok()).collect();
        if ids.len() != 2 || ids.iter().any(|id| id.is_none_or(|id| id == 0)) {
            self.error(
                "stack.sandbox.user",
                "invalid value for `stack.sandbox.user`",
                "expected `UID:GID`, both numbers above 0: sandboxes never run as root",
                Some("write `user = \"1000:1000\"`".to_owned()),
            );
        }
        self.ranges(site);
        if site.firewall.admin_cidrs.len() > 64 {
            self.error(
                "firewall.admin_cidrs",
                "too many admin addresses",
                "at most 64",
                None,
            );
        }
    }

    /// Whole numbers whose 0 (or a huge value) their consumer takes for
    /// something else than the user meant: Docker's `pids-limit 0` is no
    /// limit, a healthcheck timeout of 0 is Docker's default 30 s, sshd's
    /// `MaxAuthTries 0` locks everyone out, restic's `--keep-daily 0` keeps
    /// every backup forever.
    fn ranges(&mut self, site: &Site) {
        let rows: [(&str, u64, u64, u64, &str); 11] = [
            ("host.vcpus", u64::from(site.host.vcpus), 1, 512, "vCPUs"),
            (
                "host.ram_mib",
                u64::from(site.host.ram_mib),
                1024,
                4_194_304,
                "MiB of server memory",
            ),
            (
                "host.swap_mib",
                u64::from(site.host.swap_mib),
                0,
                65_536,
                "MiB of swap file (0 for none; more fills the disk)",
            ),
            (
                "stack.sandbox.memory_mib",
                u64::from(site.stack.sandbox.memory_mib),
                16,
                65_536,
                "MiB per sandbox (Docker takes 0 for no limit)",
            ),
            (
                "stack.sandbox.pids",
                u64::from(site.stack.sandbox.pids),
                16,
                65_536,
                "processes per sandbox (Docker takes 0 for no limit)",
            ),
            (
                "stack.max_sandboxes",
                u64::from(site.stack.max_sandboxes),
                1,
                64,
                "sandboxes at once",
            ),
            (
                "stack.health_timeout_secs",
                u64::from(site.stack.health_timeout_secs),
                10,
                3600,
                "seconds to wait for a healthy stack",
            ),
            (
                "stack.healthcheck_timeout_secs",
                u64::from(site.stack.healthcheck_timeout_secs),
                1,
                300,
                "seconds per healthcheck (Docker takes 0 for its 30 s default)",
            ),
            (
                "ssh.max_auth_tries",
                u64::from(site.ssh.max_auth_tries),
                1,
                10,
                "tries per connection (sshd takes 0 as none, which locks everyone out)",
            ),
            (
                "openclaw.max_tokens",
                u64::from(site.openclaw.max_tokens),
                1,
                1_000_000,
                "tokens per reply",
            ),
            (
                "backup.keep_days",
                u64::from(site.backup.keep_days),
                1,
                3650,
                "daily backups kept (restic keeps every one with 0)",
            ),
        ];
        for (key, value, low, high, what) in rows {
            if !(low..=high).contains(&value) {
                let leaf = key.rsplit('.').next().unwrap_or(key);
                self.error(
                    key,
                    &format!("invalid value for `{key}`"),
                    &format!("expected {low} to {high} {what}, found {value}"),
                    Some(format!("write e.g. `{leaf} = {}`", value.clamp(low, high))),
                );
            }
        }
    }

    fn formats(&mut self, site: &Site) {
        for (key, value) in &site.host.sysctl {
            let ok_key = !key.is_empty()
                && key.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'
                });
            let ok_value = !value.to_string().contains(['\n', '=']);
            if !ok_key || !ok_value {
                self.error(
                    &format!("host.sysctl.{key}"),
                    &format!("invalid sysctl `{key}`"),
                    "expected a key like `vm.swappiness` and a one-line value",
                    None,
                );
            }
        }
        let package_ok = |p: &str| {
            let (name, version) = p.split_once('=').unwrap_or((p, "x"));
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b))
                && !version.is_empty()
                && version
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+.-~:".contains(&b))
        };
        for (list, key) in [
            (&site.host.packages, "host.packages"),
            (&site.docker.packages, "docker.packages"),
        ] {
            for (i, p) in list.iter().enumerate() {
                if !package_ok(p) {
                    self.error(
                        &format!("{key}[{i}]"),
                        &format!("invalid package `{p}`"),
                        "expected a Debian package name, optionally `=version`",
                        None,
                    );
                }
            }
        }
        if let Some(apt) = &site.docker.apt {
            let fp: String = apt
                .key_fingerprint
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if fp.len() != 40 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                self.error(
                    "docker.apt.key_fingerprint",
                    "invalid value for `docker.apt.key_fingerprint`",
                    "expected the key's 40 hex digit fingerprint",
                    None,
                );
            }
        }
        self.daemon(site);
        let tz_ok = !site.host.timezone.is_empty()
            && site
                .host
                .timezone
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
        if !tz_ok {
            self.error(
                "host.timezone",
                "invalid value for `host.timezone`",
                "expected a zone like `UTC` or `Europe/Berlin`",
                None,
            );
        }
        self.models(site);
        self.strings(site);
        for (i, tool) in site.openclaw.tools_deny.iter().enumerate() {
            if tool.is_empty()
                || !tool
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_:-*".contains(&b))
            {
                self.error(
                    &format!("openclaw.tools_deny[{i}]"),
                    "invalid tool name",
                    "expected a tool or group name like `exec` or `group:runtime`",
                    None,
                );
            }
        }
    }

    /// daemon.json's values, each as dockerd reads it: a bad one and
    /// dockerd does not start, or every container fails to.
    fn daemon(&mut self, site: &Site) {
        let d = &site.docker.daemon;
        if !docker_size(&d.log_max_size).is_some_and(|n| n > 0.0) {
            self.error(
                "docker.daemon.log_max_size",
                "invalid value for `docker.daemon.log_max_size`",
                &format!(
                    "Docker reads a size above 0 like `10m`, `512k` or `1g`, found `{}`",
                    d.log_max_size
                ),
                Some("write e.g. `log_max_size = \"10m\"`".into()),
            );
        }
        if d.log_max_files == 0 {
            self.error(
                "docker.daemon.log_max_files",
                "invalid value for `docker.daemon.log_max_files`",
                "Docker refuses fewer than 1 log file (its `max-file`)",
                Some("write e.g. `log_max_files = 3`".into()),
            );
        }
        if !(1024..=1_048_576).contains(&d.nofile) {
            self.error(
                "docker.daemon.nofile",
                "invalid value for `docker.daemon.nofile`",
                &format!(
                    "expected 1024 to 1048576 open files per container (the kernel's `fs.nr_open`), found {}",
                    d.nofile
                ),
                Some("write e.g. `nofile = 65536`".into()),
            );
        }
    }

    /// `[backup.offsite.NAME]`: a name the secrets can carry, and a
    /// repository location restic reads, of a kind whose credentials come
    /// from secrets (never from the location itself).
    fn offsite(&mut self, site: &Site) {
        for (name, offsite) in &site.backup.offsite {
            let key = format!("backup.offsite.{name}");
            let name_ok = name.len() <= 24
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !name_ok {
                self.error(
                    &format!("{key}.repository"),
                    &format!("invalid offsite name `{name}`"),
                    "the secrets for its credentials are named after it",
                    Some(
                        "use a short lower-case name like `[backup.offsite.b2]` (letters, digits, `-`, at most 24)"
                            .into(),
                    ),
                );
            }
            let repo = offsite.repository.as_str();
            let field = format!("{key}.repository");
            if let Some(why) = offsite_location_problem(repo) {
                self.error(
                    &field,
                    &format!("invalid offsite repository for `{name}`"),
                    why.0,
                    why.1,
                );
            }
        }
    }

    /// Strings written into a shell step or a line-based file without
    /// quotes (the apt source, `curl`'s URL), or read by a consumer with
    /// its own grammar (LiteLLM's `provider/id`, Voyage's model name):
    /// each to what that consumer reads, so nothing in them is syntax.
    fn strings(&mut self, site: &Site) {
        const URL: &str = "an https:// URL of letters, digits and `-._~/:%+` (it goes into a shell step and an apt source line as it is)";
        const MODEL: &str = "a model id of letters, digits and `-._:/@`";
        let mut rows: Vec<(String, &str, StringRule, &str)> = Vec::new();
        if let Some(apt) = &site.docker.apt {
            rows.push(("docker.apt.url".into(), &apt.url, plain_https_url, URL));
            rows.push((
                "docker.apt.key_url".into(),
                &apt.key_url,
                plain_https_url,
                URL,
            ));
            rows.push((
                "docker.apt.suite".into(),
                &apt.suite,
                |v| {
                    !v.is_empty()
                        && v.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b)
                        })
                },
                "a suite name like `noble` (lower-case letters, digits, `-`, `.`)",
            ));
        }
        for (name, model) in &site.models {
            rows.push((format!("models.{name}.id"), &model.id, model_id, MODEL));
        }
        rows.push(("memory.model".into(), &site.memory.model, model_id, MODEL));
        if let Some(host) = &site.deploy.host {
            rows.push((
                "deploy.host".into(),
                host,
                |v| {
                    let bare = v.rsplit_once('@').map_or(v, |(_, h)| h);
                    !bare.is_empty()
                        && !bare.starts_with(':')
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"@.:[]_-".contains(&b))
                },
                "a server as `root@203.0.113.7` or `root@host.example.net:9922`",
            ));
        }
        for (key, value, ok, expected) in rows {
            if !ok(value) {
                let leaf = key.rsplit('.').next().unwrap_or(&key);
                let example = match leaf {
                    "url" => "url = \"https://download.docker.com/linux/ubuntu\"",
                    "key_url" => "key_url = \"https://download.docker.com/linux/ubuntu/gpg\"",
                    "suite" => "suite = \"noble\"",
                    "host" => "host = \"root@203.0.113.7\"",
                    "model" => "model = \"voyage-3-large\"",
                    _ => "id = \"claude-sonnet-4-5\"",
                };
                self.error(
                    &key,
                    &format!("invalid value for `{key}`"),
                    &format!("expected {expected}, found `{value}`"),
                    Some(format!("write e.g. `{example}`")),
                );
            }
        }
        // Squid's cache is only part of what it holds in memory.
        let egress = site.stack.services.egress.memory_mib;
        if site.egress.cache_mem_mib > egress / 2 {
            self.error(
                "egress.cache_mem_mib",
                "invalid value for `egress.cache_mem_mib`",
                &format!(
                    "expected at most half the egress container's {egress} MiB (Squid needs the rest for itself), found {}",
                    site.egress.cache_mem_mib
                ),
                Some(format!(
                    "lower it, or raise `stack.services.egress.memory_mib` to {} or more",
                    site.egress.cache_mem_mib.saturating_mul(2)
                )),
            );
        }
    }

    fn models(&mut self, site: &Site) {
        for (name, model) in &site.models {
            let p = &model.budget_period;
            let digits = p.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            let unit = &p[digits.len()..];
            if digits.is_empty()
                || !digits.bytes().all(|b| b.is_ascii_digit())
                || !["s", "m", "h", "d", "mo"].contains(&unit)
            {
                let key = format!("models.{name}.budget_period");
                self.error(&key, &format!("invalid value for `{key}`"), &format!("expected a number and a unit (s, m, h, d, mo) like `30d` or `1mo`, found `{p}`"), None);
            }
            if !(1..=100_000).contains(&model.rpm) {
                let key = format!("models.{name}.rpm");
                self.error(
                    &key,
                    &format!("invalid value for `{key}`"),
                    &format!(
                        "expected 1 to 100000 requests per minute (LiteLLM routes nothing to a model with 0), found {}",
                        model.rpm
                    ),
                    Some("write e.g. `rpm = 60`".into()),
                );
            }
            if !(model.budget_usd >= 0.0 && model.budget_usd.is_finite()) {
                let key = format!("models.{name}.budget_usd");
                self.error(
                    &key,
                    &format!("invalid value for `{key}`"),
                    "expected 0 (no cap) or a finite amount above it",
                    Some("write e.g. `budget_usd = 50.0`, or `0.0` for no cap".into()),
                );
            }
        }
    }

    fn budget(&mut self, site: &Site) {
        let budget = budget::compute(site);
        if budget.fits() {
            return;
        }
        // Point at the contributor a layer set last: most likely the change
        // that tipped the sum over.
        let culprit = budget
            .lines
            .iter()
            .filter_map(|l| self.merged.tree.get(&l.key).map(|v| (l, v)))
            .max_by_key(|(_, v)| {
                self.merged
                    .layers
                    .iter()
                    .position(|id| *id == v.origin.source)
            });
        let mut d = Diagnostic::new(format!(
            "the stack needs {} MiB but the {} tier's server has {} MiB",
            budget.total_mib,
            site.site.tier.as_str(),
            budget.ram_mib
        ));
        if let Some((line, value)) = culprit {
            d = d.primary(
                value.origin.clone(),
                format!("{} MiB for {}", line.mib, line.what),
            );
        }
        let mut table = String::from("memory budget:\n");
        let _ = write!(table, "{}", budget.table());
        self.out.push(
            d.note(table)
                .help("lower a `memory_mib`, `stack.max_sandboxes` or `stack.sandbox.memory_mib`, or choose a larger `site.tier`"),
        );
    }
}

/// What is wrong with an offsite repository location, as (label, help).
/// Whether a string is one its consumer reads as plain data.
type StringRule = fn(&str) -> bool;

/// An https URL with nothing a shell or an apt source line would read as
/// syntax: no spaces, quotes, `$`, `;`, `&`, brackets or control characters.
fn plain_https_url(url: &str) -> bool {
    url.strip_prefix("https://").is_some_and(|rest| {
        !rest.is_empty()
            && !rest.starts_with('/')
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~/:%+".contains(&b))
    })
}

/// A model id as LiteLLM and Voyage take it, with nothing YAML or JSON
/// would need to escape.
fn model_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:/@".contains(&b))
}

fn offsite_location_problem(repo: &str) -> Option<(&'static str, Option<String>)> {
    use crate::model::OffsiteKind;
    if repo.is_empty()
        || repo
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"'`$\\".contains(c))
    {
        return Some((
            "a restic location has no spaces, quotes or control characters",
            None,
        ));
    }
    let (scheme, rest) = repo.split_once(':').unwrap_or(("", repo));
    let Some(kind) = OffsiteKind::of(repo) else {
        return Some(match scheme {
            "sftp" => (
                "SFTP repositories are not supported",
                Some(
                    "run restic's REST server on that machine (`rest-server --append-only`) and use `rest:https://HOST:8000/REPO`"
                        .into(),
                ),
            ),
            _ => (
                "expected `s3:`, `b2:` or `rest:` (restic's location syntax)",
                Some(
                    "e.g. `s3:https://s3.eu-central-003.backblazeb2.com/BUCKET/openclaw`, `b2:BUCKET:openclaw`, `rest:https://backup.example.net:8000/openclaw`"
                        .into(),
                ),
            ),
        });
    };
    let in_url = || {
        Some((
            "credentials in the location would travel in user-data",
            Some("leave them out: the secrets `OFFSITE_<NAME>_...` hold them (`clawbake secrets list`)".into()),
        ))
    };
    match kind {
        OffsiteKind::Rest => {
            let Some(url) = rest
                .strip_prefix("https://")
                .or_else(|| rest.strip_prefix("http://"))
            else {
                return Some(("expected `rest:https://HOST[:PORT]/PATH`", None));
            };
            let authority = url.split('/').next().unwrap_or_default();
            if authority.contains('@') {
                return in_url();
            }
            if authority.is_empty() {
                return Some(("the location names no server", None));
            }
        }
        OffsiteKind::S3 => {
            let path = rest
                .strip_prefix("https://")
                .or_else(|| rest.strip_prefix("http://"))
                .unwrap_or(rest);
            if path.split('/').next().unwrap_or_default().contains('@') {
                return in_url();
            }
            let mut parts = path.splitn(3, '/');
            let (host, bucket) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            if host.is_empty() || bucket.is_empty() {
                return Some(("expected `s3:https://ENDPOINT/BUCKET[/PATH]`", None));
            }
        }
        OffsiteKind::B2 => {
            if rest.split(':').next().unwrap_or_default().is_empty() {
                return Some(("expected `b2:BUCKET[:PATH]`", None));
            }
        }
    }
    None
}

/// A size as Docker's json-file driver reads `max-size` (go-units'
/// `FromHumanSize`): digits with an optional fraction, an optional space,
/// then an optional `k`, `m`, `g`, `t` or `p` (powers of 1000), `i`, `b`.
fn docker_size(text: &str) -> Option<f64> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    if number.is_empty()
        || number.starts_with('.')
        || number.ends_with('.')
        || number.matches('.').count() > 1
    {
        return None;
    }
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let mut chars = unit.chars().peekable();
    let scale = match chars.peek() {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            let s = match c {
                'k' => 1e3,
                'm' => 1e6,
                'g' => 1e9,
                't' => 1e12,
                _ => 1e15,
            };
            chars.next();
            s
        }
        _ => 1.0,
    };
    if chars.peek() == Some(&'i') {
        chars.next();
    }
    if chars.peek() == Some(&'b') {
        chars.next();
    }
    if chars.next().is_some() {
        return None;
    }
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// Why `net` can never be where an administrator connects from over the
/// internet: loopback, link-local, multicast, unspecified or broadcast.
fn never_a_client(net: IpNet) -> Option<&'static str> {
    match net.addr() {
        IpAddr::V4(a) if a.is_loopback() => Some("a loopback address"),
        IpAddr::V4(a) if a.is_link_local() => Some("a link-local address"),
        IpAddr::V4(a) if a.is_multicast() => Some("a multicast address"),
        IpAddr::V4(a) if a.is_broadcast() => Some("the broadcast address"),
        IpAddr::V4(a) if a.is_unspecified() && net.prefix_len() > 0 => {
            Some("the unspecified address")
        }
        IpAddr::V6(a) if a.is_loopback() => Some("a loopback address"),
        IpAddr::V6(a) if a.is_multicast() => Some("a multicast address"),
        IpAddr::V6(a) if a.is_unspecified() && net.prefix_len() > 0 => {
            Some("the unspecified address")
        }
        IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80 => Some("a link-local address"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::docker_size;

    #[test]
    fn sizes_read_as_docker_reads_them() {
        for (text, bytes) in [
            ("10m", 1e7),
            ("512k", 512e3),
            ("1g", 1e9),
            ("2 MB", 2e6),
            ("1.5GiB", 1.5e9),
            ("100", 100.0),
        ] {
            assert_eq!(docker_size(text), Some(bytes), "{text}");
        }
        for bad in [
            "lots", "", "m", "10x", "1..5m", "-1m", "10mm", ".5m", "10 m b",
        ] {
            assert_eq!(docker_size(bad), None, "{bad}");
        }
        assert_eq!(docker_size("0"), Some(0.0));
    }
}
