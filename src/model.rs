//! The typed site: what the merged layers mean once validated.
//!
//! Every field here is required; defaults live in `layers/base.toml`, not in
//! code, so `clawbake explain` can always name the layer behind a value.
//! Types that can be wrong in a way TOML cannot express (an address, an
//! image reference, a port) parse themselves here and say what was expected.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, de};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub site: SiteMeta,
    pub host: Host,
    pub ssh: Ssh,
    pub firewall: Firewall,
    pub docker: Docker,
    pub stack: Stack,
    pub openclaw: OpenClaw,
    pub providers: BTreeMap<String, Provider>,
    pub models: BTreeMap<String, Model>,
    pub channels: Channels,
    pub memory: Memory,
    pub egress: Egress,
    pub backup: Backup,
    pub images: Images,
    /// Where the server is, so host commands need no `--host`.
    #[serde(default)]
    pub deploy: Deploy,
}

/// `[deploy]`: the site's server. `--host` still wins.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// `[user@]host[:port]`. Without a port: the site's SSH port where the
    /// server answers on it (it was provisioned), else 22.
    #[serde(default)]
    pub host: Option<String>,
}

/// The `[site]` table: names, and the selectors that pick built-in layers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteMeta {
    /// A DNS label: the host name and the Compose project name.
    pub name: Label,
    /// The public name OpenClaw is served under.
    pub domain: Domain,
    pub tier: Tier,
    pub ingress: Ingress,
    pub docker: DockerSource,
    /// Extra layer files, relative to the site file, applied before it.
    pub include: Vec<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Starter,
    Growth,
    Production,
}

/// The OpenClaw releases clawbake renders for: each has a layer
/// (`layers/openclaw-VERSION.toml`) and its own config shape.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpenClawVersion {
    /// The guide's pin.
    #[serde(rename = "2026.2.15")]
    V2026_2_15,
    /// The newest release on npm when this was written.
    #[serde(rename = "2026.9.6")]
    V2026_9_6,
}

impl OpenClawVersion {
    pub const ALL: &[OpenClawVersion] = &[OpenClawVersion::V2026_2_15, OpenClawVersion::V2026_9_6];

    pub fn as_str(self) -> &'static str {
        match self {
            OpenClawVersion::V2026_2_15 => "2026.2.15",
            OpenClawVersion::V2026_9_6 => "2026.9.6",
        }
    }

    pub fn parse(s: &str) -> Option<OpenClawVersion> {
        OpenClawVersion::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == s)
    }

    /// The gateway serves `/healthz` and `/readyz` (2026.3.1 and later).
    pub fn has_health_endpoints(self) -> bool {
        self >= OpenClawVersion::V2026_9_6
    }

    /// State an older release left must go through `openclaw doctor --fix`
    /// before the gateway starts on it: 2026.9.6 refuses to start on a
    /// 2026.2 state directory's credential store until it has.
    pub fn migrates_with_doctor(self) -> bool {
        self >= OpenClawVersion::V2026_9_6
    }

    /// Outbound fetches honour `HTTP(S)_PROXY` (so Telegram needs no proxy
    /// key of its own).
    pub fn honours_proxy_env(self) -> bool {
        self >= OpenClawVersion::V2026_9_6
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Ingress {
    /// Caddy publishes 80/443, reachable only from Cloudflare.
    Caddy,
    /// A Cloudflare tunnel dials out; nothing is published.
    Tunnel,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DockerSource {
    /// Docker's own apt repository, key pinned by fingerprint.
    DockerCe,
    /// The distribution's docker.io and Compose v2 packages.
    Distro,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Starter => "starter",
            Tier::Growth => "growth",
            Tier::Production => "production",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Memory the tier's server has, for the budget check.
    pub ram_mib: u32,
    pub vcpus: u32,
    /// Memory kept for the kernel, page cache, sshd and dockerd.
    pub os_reserve_mib: u32,
    pub swap_mib: u32,
    pub timezone: String,
    pub packages: Vec<String>,
    /// Written to `/etc/sysctl.d/99-clawbake.conf` in key order.
    pub sysctl: BTreeMap<String, SysctlValue>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum SysctlValue {
    Int(i64),
    Text(String),
}

impl fmt::Display for SysctlValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysctlValue::Int(i) => write!(f, "{i}"),
            SysctlValue::Text(s) => f.write_str(s),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ssh {
    /// Public keys allowed to log in as root (and only keys).
    pub authorized_keys: Vec<SshKey>,
    pub max_auth_tries: u8,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// The port sshd listens on (via `ssh.socket` where sshd is socket-activated).
    pub ssh_port: Port,
    /// Addresses allowed to reach SSH; everything else is dropped.
    pub admin_cidrs: Vec<Cidr>,
    /// `ufw limit` (6 new connections in 30 s) rather than `ufw allow`.
    pub ssh_rate_limit: bool,
    /// Ports the ingress publishes, open only to Cloudflare's ranges.
    pub public_ports: Vec<Port>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Docker {
    /// Packages to install, with versions pinned where the source allows it.
    pub packages: Vec<String>,
    /// Docker's apt repository; absent for the distribution's packages.
    pub apt: Option<DockerApt>,
    pub daemon: Daemon,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerApt {
    pub url: String,
    pub suite: String,
    pub key_url: String,
    /// The key is refused unless its fingerprint is exactly this.
    pub key_fingerprint: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Daemon {
    pub log_max_size: String,
    pub log_max_files: u32,
    pub live_restore: bool,
    pub no_new_privileges: bool,
    pub nofile: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    pub networks: Networks,
    pub services: Services,
    /// Sandboxes OpenClaw may run at once; each gets `sandbox` limits.
    pub max_sandboxes: u32,
    pub sandbox: SandboxLimits,
    /// How long provisioning waits for every service to report healthy.
    pub health_timeout_secs: u32,
    /// How long one healthcheck command may take before it counts as failed.
    pub healthcheck_timeout_secs: u32,
}

/// Fixed subnets, so that Squid's `localnet` ACL and OpenClaw's trusted
/// proxies are exact at build time.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Networks {
    pub internal: Cidr,
    pub proxy: Cidr,
    pub egress: Cidr,
    pub edge: Cidr,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Services {
    pub gateway: Service,
    pub litellm: Service,
    pub socket_proxy: Service,
    pub egress: Service,
    pub caddy: Service,
    pub tunnel: Service,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub image: ImageRef,
    pub cpus: f64,
    pub memory_mib: u32,
    #[serde(default)]
    pub reservation_mib: u32,
    /// The most processes and threads the container may run: a fork bomb
    /// in one service stops at its own limit.
    pub pids: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxLimits {
    /// Docker's CLI image; its static `docker` binary is copied into the
    /// gateway image, whose sandboxes run `docker` and which lacks it.
    pub docker_cli_image: ImageRef,
    /// The image every sandbox runs (OpenClaw's `docker.image`), pinned
    /// like the stack's; the only image the Docker policy lets the gateway
    /// use.
    pub image: ImageRef,
    /// The user sandboxes run as (`uid:gid`, never root); the gateway's own
    /// uid owns their workspaces.
    pub user: String,
    pub memory_mib: u32,
    pub cpus: f64,
    pub pids: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// The secret that holds this provider's key (`clawbake secrets set NAME`).
    pub api_key_secret: EnvName,
    /// Domains the egress proxy lets LiteLLM reach for this provider.
    pub domains: Vec<EgressDomain>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub provider: String,
    /// The provider's own model id.
    pub id: String,
    pub rpm: u32,
    /// Spend cap in USD for each budget period; 0 means none.
    pub budget_usd: f64,
    pub budget_period: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    pub telegram: Telegram,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telegram {
    pub enabled: bool,
    /// The Bot API's domain, reachable through Squid when enabled.
    pub domains: Vec<EgressDomain>,
    pub dm_policy: DmPolicy,
    pub require_mention: bool,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DmPolicy {
    Pairing,
    Allowlist,
    Disabled,
}

impl DmPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DmPolicy::Pairing => "pairing",
            DmPolicy::Allowlist => "allowlist",
            DmPolicy::Disabled => "disabled",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    pub provider: MemoryProvider,
    pub model: String,
    pub api_key_secret: EnvName,
    pub domains: Vec<EgressDomain>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryProvider {
    None,
    Voyage,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Egress {
    /// Domains reachable through Squid beyond the providers' own.
    pub allow_domains: Vec<EgressDomain>,
    pub cache_mem_mib: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    /// cron schedule of the daily backup.
    pub schedule: CronSchedule,
    pub keep_days: u32,
    /// cron schedule of the gateway token rotation.
    pub rotate_token_schedule: CronSchedule,
    /// Offsite restic repositories each nightly backup is copied into, by
    /// a short name that the secrets holding their credentials carry.
    #[serde(default)]
    pub offsite: BTreeMap<String, Offsite>,
}

/// `[backup.offsite.NAME]`: one restic repository off the host.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offsite {
    /// restic's repository location: `s3:...`, `b2:...` or `rest:...`.
    pub repository: String,
    /// Whether the nightly job applies `keep_days` there too (`forget
    /// --prune`); false for a REST server run with `--append-only`, which
    /// refuses deletes and keeps its own retention.
    #[serde(default = "yes")]
    pub prune: bool,
}

fn yes() -> bool {
    true
}

/// The kinds of offsite repository, by restic's location prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsiteKind {
    /// S3 and S3-compatible storage (AWS, Backblaze B2's S3 API, Wasabi,
    /// Cloudflare R2, `MinIO`).
    S3,
    /// Backblaze B2's own API.
    B2,
    /// restic's REST server (`rest-server`, e.g. with `--append-only`).
    Rest,
}

impl OffsiteKind {
    pub fn of(repository: &str) -> Option<OffsiteKind> {
        let (scheme, _) = repository.split_once(':')?;
        match scheme {
            "s3" => Some(OffsiteKind::S3),
            "b2" => Some(OffsiteKind::B2),
            "rest" => Some(OffsiteKind::Rest),
            _ => None,
        }
    }

    /// The environment variables restic reads this kind's credentials
    /// from (restic 0.16's `ApplyEnvironment` of each backend).
    pub fn credentials(self) -> [&'static str; 2] {
        match self {
            OffsiteKind::S3 => ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
            OffsiteKind::B2 => ["B2_ACCOUNT_ID", "B2_ACCOUNT_KEY"],
            OffsiteKind::Rest => ["RESTIC_REST_USERNAME", "RESTIC_REST_PASSWORD"],
        }
    }
}

impl Offsite {
    /// (environment variable, secret name) for each credential: the
    /// secret `OFFSITE_<NAME>_<VARIABLE>` on the host, set with `clawbake
    /// secrets set`.
    pub fn secrets(&self, name: &str) -> Vec<(&'static str, String)> {
        let Some(kind) = OffsiteKind::of(&self.repository) else {
            return Vec::new();
        };
        let prefix = name.to_ascii_uppercase().replace('-', "_");
        kind.credentials()
            .into_iter()
            .map(|var| (var, format!("OFFSITE_{prefix}_{var}")))
            .collect()
    }
}

/// The `[images]` table: how the host gets its images.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Images {
    /// Ship the pinned images in the bundle (`images.tar`, written by
    /// `clawbake images save`) instead of pulling them on the host.
    pub ship: bool,
}

/// The OpenClaw gateway's settings that clawbake needs to know about; the
/// rest of its config is fixed hardening (see `render::openclaw`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenClaw {
    /// Which release the gateway runs; its layer pins the image.
    pub version: OpenClawVersion,
    pub port: Port,
    /// Key of `[models]` used by default.
    pub default_model: String,
    pub max_tokens: u32,
    pub tools_deny: Vec<String>,
    pub soul: String,
}

// ---------------------------------------------------------------------------
// Values that check themselves.

macro_rules! parsed_string {
    ($(#[$doc:meta])* $name:ident, $parse:path) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<$name, String> {
                $parse(s).map(|()| $name(s.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(de::Error::custom)
            }
        }
    };
}

parsed_string!(
    /// A DNS name with at least two labels, like `openclaw.example.com`.
    Domain,
    check_domain
);
parsed_string!(
    /// One DNS label, like `openclaw`.
    Label,
    check_label
);
parsed_string!(
    /// A Squid `dstdomain`: a domain, or `.domain` for it and its subdomains.
    EgressDomain,
    check_egress_domain
);
parsed_string!(
    /// An environment variable name in capitals, like `ANTHROPIC_API_KEY`.
    EnvName,
    check_env_name
);
parsed_string!(
    /// Five cron fields, like `0 3 * * *`.
    CronSchedule,
    check_cron
);
parsed_string!(
    /// An OpenSSH public key line: type, base64 body, optional comment.
    SshKey,
    check_ssh_key
);

fn check_label(s: &str) -> Result<(), String> {
    let ok = (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected a DNS label (lowercase letters, digits and `-`, at most 63), found `{s}`"
        ))
    }
}

fn check_domain(s: &str) -> Result<(), String> {
    let labels: Vec<&str> = s.split('.').collect();
    let ok = s.len() <= 253 && labels.len() >= 2 && labels.iter().all(|l| check_label(l).is_ok());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected a domain name like `openclaw.example.com` (lowercase), found `{s}`"
        ))
    }
}

fn check_egress_domain(s: &str) -> Result<(), String> {
    let bare = s.strip_prefix('.').unwrap_or(s);
    check_domain(bare).map_err(|_| {
        format!("expected a domain like `api.example.com`, or `.example.com` for it and every subdomain, found `{s}`")
    })
}

/// Environment variables a secret name must not replace.
const PROCESS_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PWD",
    "TERM",
    "LANG",
    "TZ",
    "HOSTNAME",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "NODE_OPTIONS",
    "NODE_PATH",
    "NODE_EXTRA_CA_CERTS",
    "PYTHONPATH",
    "PYTHONHOME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "DOCKER_HOST",
];

fn check_env_name(s: &str) -> Result<(), String> {
    let ok = s.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(format!(
            "expected a name in capitals like `ANTHROPIC_API_KEY`, found `{s}`"
        ));
    }
    let clawbake = [
        "OPENCLAW_GATEWAY_TOKEN",
        "LITELLM_MASTER_KEY",
        "LITELLM_GATEWAY_KEY",
        "BACKUP_KEY",
    ];
    // The name becomes an environment variable of a service (the gateway's
    // env file) and a file among the host's secrets: it must not replace
    // one that a process or clawbake itself relies on.
    if PROCESS_ENV.contains(&s) || s.starts_with("LD_") {
        return Err(format!(
            "`{s}` is an environment variable programs rely on; name the secret after what it holds, like `ANTHROPIC_API_KEY`"
        ));
    }
    if clawbake.contains(&s)
        || s.starts_with("OFFSITE_")
        || s.starts_with("OPENCLAW_")
        || s.starts_with("RESTIC_")
    {
        return Err(format!(
            "`{s}` is a name clawbake keeps for its own secrets; name the secret after what it holds, like `ANTHROPIC_API_KEY`"
        ));
    }
    Ok(())
}

/// A schedule as Debian's and Ubuntu's cron (Vixie cron 3.0) reads a line
/// of `/etc/cron.d`: five fields of lists of `*`, `N` or `N-M` (names for
/// months and weekdays), a `/STEP` after `*` or a range, each number in its
/// field's range; or one of cron's `@` shorthands.
fn check_cron(s: &str) -> Result<(), String> {
    const MACROS: &[&str] = &[
        "@reboot",
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ];
    const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
        ("minute", 0, 59, &[]),
        ("hour", 0, 23, &[]),
        ("day of month", 1, 31, &[]),
        (
            "month",
            1,
            12,
            &[
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ],
        ),
        (
            "weekday",
            0,
            7,
            &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
        ),
    ];
    let shape = || {
        format!(
            "expected five cron fields (minute hour day month weekday) like `0 3 * * *`, found `{s}`"
        )
    };
    if s.starts_with('@') {
        return if MACROS.contains(&s) {
            Ok(())
        } else {
            Err(format!(
                "expected one of cron's {}, found `{s}`",
                MACROS.join(", ")
            ))
        };
    }
    let fields: Vec<&str> = s.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
    if fields.len() != 5 || s.contains(['\n', '\r']) {
        return Err(shape());
    }
    for (field, (what, low, high, names)) in fields.iter().zip(FIELDS) {
        cron_field(field, what, (low, high), names)?;
    }
    Ok(())
}

/// One cron field: a list of `*`, `N`, `N-M`, with `/STEP` after `*` or a
/// range, numbers (or `names`) from `low` to `high`.
fn cron_field(
    field: &str,
    what: &str,
    (low, high): (u32, u32),
    names: &[&str],
) -> Result<(), String> {
    let number = |text: &str| -> Result<u32, String> {
        let by_name = names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(text))
            .map(|i| u32::try_from(i).unwrap_or(0) + low);
        let value = match by_name {
            Some(v) => v,
            None if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse().unwrap_or(u32::MAX)
            }
            None => return Err(format!("`{text}` is not a {what}")),
        };
        if (low..=high).contains(&value) {
            Ok(value)
        } else {
            Err(format!("{what} `{text}` is outside {low} to {high}"))
        }
    };
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, st)) => (r, Some(st)),
            None => (item, None),
        };
        if range != "*" {
            match range.split_once('-') {
                Some((a, b)) => {
                    if number(a)? > number(b)? {
                        return Err(format!("the {what} range `{range}` runs backwards"));
                    }
                }
                None if step.is_some() => {
                    return Err(format!(
                        "cron takes a `/STEP` only after `*` or a range, found `{item}`"
                    ));
                }
                None => {
                    number(range)?;
                }
            }
        }
        if let Some(step) = step {
            if !step.bytes().all(|b| b.is_ascii_digit())
                || step.parse::<u32>().map_or(true, |n| n == 0 || n > high)
            {
                return Err(format!(
                    "the {what} step `/{step}` is not a number from 1 to {high}"
                ));
            }
        }
    }
    Ok(())
}

const SSH_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

fn check_ssh_key(s: &str) -> Result<(), String> {
    if s.contains("PRIVATE KEY") {
        return Err(
            "this is a private key; give the public key (the `.pub` file) instead".to_owned(),
        );
    }
    let mut parts = s.split_whitespace();
    let kind = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("");
    if !SSH_KEY_TYPES.contains(&kind) {
        return Err(format!(
            "expected an OpenSSH public key starting with `ssh-ed25519` (or another key type), found `{}`",
            kind.chars().take(24).collect::<String>()
        ));
    }
    if s.contains(['\n', '\r']) {
        return Err("a key is one line; give one key per list item".to_owned());
    }
    let damaged = |why: &str| {
        Err(format!(
            "the key's base64 part is damaged: {why} (`ssh-keygen -l -f` on the `.pub` file says whether OpenSSH reads it)"
        ))
    };
    let Ok(blob) = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body) else {
        return damaged("not base64, or cut short");
    };
    match ssh_key_blob(&blob) {
        Ok(inner) if inner == kind => Ok(()),
        Ok(inner) => Err(format!(
            "the key is labelled `{kind}` but holds a `{}` key; copy the whole line from the `.pub` file",
            inner.chars().take(40).collect::<String>()
        )),
        Err(why) => damaged(why),
    }
}

/// Read a public key blob as OpenSSH does (RFC 4253 6.6, RFC 5656 3.1,
/// OpenSSH's PROTOCOL.u2f): its type, then each field of that type, and
/// nothing after. Returns the type named inside.
fn ssh_key_blob(blob: &[u8]) -> Result<String, &'static str> {
    let mut rest = blob;
    let mut field = || -> Result<&[u8], &'static str> {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or("cut short")?;
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return Err("cut short");
        }
        let (value, tail) = tail.split_at(len);
        rest = tail;
        Ok(value)
    };
    let kind = String::from_utf8(field()?.to_vec()).map_err(|_| "no key type inside")?;
    let ec_point = |curve: &[u8], point: &[u8]| -> Result<(), &'static str> {
        let want = match curve {
            b"nistp256" => 65,
            b"nistp384" => 97,
            b"nistp521" => 133,
            _ => return Err("an unknown curve"),
        };
        if point.len() == want && point[0] == 4 {
            Ok(())
        } else {
            Err("not a point on its curve")
        }
    };
    match kind.as_str() {
        "ssh-ed25519" => {
            if field()?.len() != 32 {
                return Err("an Ed25519 key is 32 bytes");
            }
        }
        "sk-ssh-ed25519@openssh.com" => {
            if field()?.len() != 32 {
                return Err("an Ed25519 key is 32 bytes");
            }
            field()?; // the application, `ssh:` by default
        }
        "ssh-rsa" => {
            let _e = field()?;
            let n = field()?;
            let n = n.iter().skip_while(|b| **b == 0).count();
            // OpenSSH refuses RSA keys under 1024 bits.
            if n < 128 {
                return Err("an RSA key under 1024 bits, which OpenSSH refuses");
            }
        }
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            let curve = field()?.to_vec();
            if kind.strip_prefix("ecdsa-sha2-").map(str::as_bytes) != Some(curve.as_slice()) {
                return Err("the curve inside does not match the key type");
            }
            ec_point(&curve, field()?)?;
        }
        "sk-ecdsa-sha2-nistp256@openssh.com" => {
            let curve = field()?.to_vec();
            if curve != b"nistp256" {
                return Err("the curve inside does not match the key type");
            }
            ec_point(&curve, field()?)?;
            field()?;
        }
        _ => return Ok(kind),
    }
    if rest.is_empty() {
        Ok(kind)
    } else {
        Err("bytes after the key")
    }
}

/// A TCP port other than 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// One message for every wrong port: 0, -1, 65536, 22.0, "22".
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Port;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port from 1 to 65535")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Port, E> {
                match u16::try_from(n) {
                    Ok(p) if p != 0 => Ok(Port(p)),
                    _ => Err(E::invalid_value(de::Unexpected::Signed(n), &self)),
                }
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Port, E> {
                match u16::try_from(n) {
                    Ok(p) if p != 0 => Ok(Port(p)),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(n), &self)),
                }
            }
        }
        d.deserialize_u16(Visitor)
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An address range. A bare address means just that address (`/32`, `/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr(pub IpNet);

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Cidr(IpNet::from(ip)));
        }
        let net: IpNet = s.parse().map_err(|_| {
            format!("expected an IP address or range like `203.0.113.7` or `203.0.113.0/24`, found `{s}`")
        })?;
        if net.trunc() != net {
            return Err(format!(
                "`{s}` has host bits set: write `{}` for the range, or `{}` for the one address",
                net.trunc(),
                net.addr()
            ));
        }
        Ok(Cidr(net))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Cidr::parse(&s).map_err(de::Error::custom)
    }
}

/// A container image reference: `[registry/]path[:tag][@sha256:hex]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    /// Registry and path, e.g. `ghcr.io/berriai/litellm`.
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef, String> {
        let bad = |why: &str| Err(format!("`{s}` is not an image reference: {why}"));
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (s, None),
        };
        if let Some(d) = digest {
            let hex = d.strip_prefix("sha256:").unwrap_or("");
            if hex.len() != 64
                || !hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return bad("a digest is `sha256:` and 64 lowercase hex digits");
            }
        }
        // A `:` after the last `/` starts the tag; one before it is a registry port.
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].find(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            let ok = (1..=128).contains(&t.len())
                && t.bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !ok {
                return bad("a tag is letters, digits, `_`, `.` and `-`, at most 128");
            }
        }
        if tag.is_none() && digest.is_none() {
            return bad(
                "give a tag (`:1.2.3`) so the image can be pinned; `latest` is implied otherwise",
            );
        }
        let mut components = name.split('/').collect::<Vec<_>>();
        let first = components[0];
        if components.len() > 1
            && (first.contains('.') || first.contains(':') || first == "localhost")
        {
            components.remove(0);
        }
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        };
        if !components.iter().all(|c| component_ok(c)) {
            return bad(
                "the name is lowercase letters, digits and separators, like `ghcr.io/owner/name`",
            );
        }
        Ok(ImageRef {
            name: name.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// `name:tag`, the key in `images.lock`.
    pub fn tagged(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}:{t}", self.name),
            None => self.name.clone(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tagged())?;
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ImageRef::parse(&s).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsite_secrets_are_named_after_the_repository_and_its_kind() {
        let o = Offsite {
            repository: "s3:https://s3.example.net/bucket/openclaw".into(),
            prune: true,
        };
        assert_eq!(
            o.secrets("off-site"),
            [
                (
                    "AWS_ACCESS_KEY_ID",
                    "OFFSITE_OFF_SITE_AWS_ACCESS_KEY_ID".to_owned()
                ),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    "OFFSITE_OFF_SITE_AWS_SECRET_ACCESS_KEY".to_owned()
                ),
            ]
        );
        assert_eq!(OffsiteKind::of("b2:bucket:path"), Some(OffsiteKind::B2));
        assert_eq!(OffsiteKind::of("sftp:host:/x"), None);
        assert!(
            Offsite {
                repository: "gs:x".into(),
                prune: true
            }
            .secrets("x")
            .is_empty()
        );
    }

    use super::*;

    #[test]
    fn image_refs() {
        let r = ImageRef::parse("ghcr.io/berriai/litellm:main-v1.2.3-stable").unwrap();
        assert_eq!(r.name, "ghcr.io/berriai/litellm");
        assert_eq!(r.tag.as_deref(), Some("main-v1.2.3-stable"));
        let r = ImageRef::parse("localhost:5000/squid:6.13").unwrap();
        assert_eq!(r.name, "localhost:5000/squid");
        let d = format!("caddy:2.8@sha256:{}", "a".repeat(64));
        assert_eq!(ImageRef::parse(&d).unwrap().to_string(), d);
        for bad in ["Caddy:2", "caddy", "caddy:", "caddy:2@sha256:xyz", "a//b:1"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn cidrs() {
        assert_eq!(
            Cidr::parse("203.0.113.7").unwrap().to_string(),
            "203.0.113.7/32"
        );
        assert_eq!(
            Cidr::parse("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(
            Cidr::parse("198.51.100.7/24").unwrap_err(),
            "`198.51.100.7/24` has host bits set: write `198.51.100.0/24` for the range, or `198.51.100.7` for the one address"
        );
        assert!(Cidr::parse("300.1.1.1").is_err());
    }

    #[test]
    fn names() {
        assert!(Domain::parse("openclaw.example.com").is_ok());
        assert!(Domain::parse("localhost").is_err());
        assert!(Domain::parse("Open.example.com").is_err());
        assert!(EgressDomain::parse(".anthropic.com").is_ok());
        for good in [
            "0 3 * * *",
            "*/15 0-6,22-23 * * 1-5",
            "30 4 1 jan,jul sun",
            "0 0 * * 7",
            "0 12 1-31/2 * mon-fri",
            "@daily",
        ] {
            assert!(CronSchedule::parse(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("daily", "expected five cron fields"),
            ("61 25 * * *", "minute `61` is outside 0 to 59"),
            ("0 24 * * *", "hour `24` is outside 0 to 23"),
            ("0 3 0 * *", "day of month `0` is outside 1 to 31"),
            ("0 3 * 13 *", "month `13` is outside 1 to 12"),
            ("0 3 * * 8", "weekday `8` is outside 0 to 7"),
            ("0 3 * * xyz", "`xyz` is not a weekday"),
            ("5-1 3 * * *", "the minute range `5-1` runs backwards"),
            (
                "*/0 3 * * *",
                "the minute step `/0` is not a number from 1 to 59",
            ),
            ("5/10 3 * * *", "only after `*` or a range"),
            ("0 3 * * * root", "expected five cron fields"),
            ("@sometimes", "expected one of cron's"),
            ("0 3 ,, * *", "`` is not a day of month"),
        ] {
            let err = CronSchedule::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(SshKey::parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL457cmlFdEw20vdsCn2uQjzu7M60nY1L275JJONFUyD you@host").is_ok());
        // Cut short: OpenSSH cannot read it, and nobody could log in.
        let cut = SshKey::parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIabc you@host").unwrap_err();
        assert!(cut.contains("damaged"), "{cut}");
        assert!(SshKey::parse("-----BEGIN OPENSSH PRIVATE KEY-----").is_err());
    }
}
