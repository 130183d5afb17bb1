//! Secrets: the values a site needs but must never carry. Internal ones
//! (gateway token, LiteLLM's master key and the gateway's key to it, backup
//! key) are generated on the host by a step; user ones (provider API keys,
//! the Telegram token) arrive here, read from stdin or an environment
//! variable, and travel over SFTP into 0600 files under
//! `/opt/clawbake/secrets`. Services see them as `clawbake-env` hands them
//! out from those, per the release's lists: the gateway through an env file,
//! LiteLLM and the tunnel as files mounted at `/run/secrets`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::remote::{CURRENT, Host};
use crate::bundle::Bundle;
use crate::error::{Error, code};
use crate::host::transport::ssh::shell_quote;
use crate::render::shared::compose_up;
use crate::render::stack::Delivery;

pub const DIR: &str = "/opt/clawbake/secrets";
/// Held by every rotation, `clawbake secrets rotate` and the host's own
/// monthly `clawbake-rotate-token` alike.
const ROTATE_LOCK: &str = "/opt/clawbake/secrets/.rotate.lock";

/// Generated on the host by `60-secrets`; never set by hand.
pub const INTERNAL: &[&str] = &[
    "OPENCLAW_GATEWAY_TOKEN",
    "LITELLM_MASTER_KEY",
    "LITELLM_GATEWAY_KEY",
    "BACKUP_KEY",
];

/// A secret's value: kept out of `Debug` so it cannot reach a log by
/// accident.
pub struct Value(String);

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Value(<redacted>)")
    }
}

impl Value {
    /// Check a value read from stdin or the environment. One trailing
    /// newline (from `echo` or an editor) is dropped.
    pub fn new(mut raw: String, from: &str) -> Result<Value, Error> {
        if raw.ends_with('\n') {
            raw.pop();
            if raw.ends_with('\r') {
                raw.pop();
            }
        }
        let bad = |what: &str| Error::Message {
            message: format!("the value from {from} {what}"),
            help: Some("give the value alone, on one line".into()),
        };
        if raw.is_empty() {
            return Err(bad("is empty"));
        }
        if raw.contains(['\n', '\r', '\0']) {
            return Err(bad("has more than one line"));
        }
        Ok(Value(raw))
    }

    fn into_bytes(self) -> Vec<u8> {
        self.0.into_bytes()
    }
}

/// Which services see which user secrets, from the bundle's lists.
pub fn users(bundle: &Bundle) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, service, _) in readers(bundle) {
        if !INTERNAL.contains(&name.as_str()) {
            out.entry(name).or_default().push(service);
        }
    }
    out
}

/// Every (secret, service, delivery) the bundle's lists name.
fn readers(bundle: &Bundle) -> Vec<(String, String, Delivery)> {
    let mut out = Vec::new();
    for (path, file) in bundle.tree.files() {
        for delivery in [Delivery::Env, Delivery::Files, Delivery::HostJob] {
            let Some(service) = path
                .strip_prefix(delivery.list_dir())
                .and_then(|p| p.strip_prefix('/'))
                .and_then(|p| p.strip_suffix(".list"))
            else {
                continue;
            };
            for name in String::from_utf8_lossy(&file.content).lines() {
                if !name.is_empty() {
                    out.push((name.to_owned(), service.to_owned(), delivery));
                }
            }
        }
    }
    out
}

/// Every service that reads a secret at all (as a file or from its
/// environment): the ones a restore, which puts every secret back,
/// recreates.
pub fn all_readers(bundle: &Bundle) -> Vec<String> {
    let mut services: Vec<String> = readers(bundle)
        .into_iter()
        .filter(|(_, _, d)| *d != Delivery::HostJob)
        .map(|(_, service, _)| service)
        .collect();
    services.sort();
    services.dedup();
    services
}

/// The services that read `name` as a file: they read it when they start,
/// and Compose sees no change in their config, so they are recreated.
pub fn file_readers(bundle: &Bundle, name: &str) -> Vec<String> {
    readers(bundle)
        .into_iter()
        .filter(|(n, _, d)| n == name && *d == Delivery::Files)
        .map(|(_, service, _)| service)
        .collect()
}

/// Refuse a name the site does not use, or one the host generates.
pub fn check_name(name: &str, known: &BTreeMap<String, Vec<String>>) -> Result<(), Error> {
    if INTERNAL.contains(&name) {
        return Err(Error::Message {
            message: format!("`{name}` is generated on the host and cannot be set"),
            help: Some(format!(
                "to replace it: clawbake secrets rotate --host HOST {name}"
            )),
        });
    }
    if known.contains_key(name) {
        return Ok(());
    }
    let names: Vec<&str> = known.keys().map(String::as_str).collect();
    let closest = crate::diagnostic::did_you_mean(name, &names);
    Err(Error::Message {
        message: format!("the site uses no secret named `{name}`"),
        help: Some(match closest {
            Some(k) => format!("did you mean `{k}`?"),
            None if names.is_empty() => "this site needs no user secrets".into(),
            None => format!("the site's secrets are: {}", names.join(", ")),
        }),
    })
}

/// After a secret changes: hand the secrets out again, let Compose recreate
/// the services whose environment changed, and recreate those that read
/// it as a file, each healthy within `timeout` seconds (the site's health
/// timeout). Nothing to do before the first provision.
fn apply_command(recreate: &[String], timeout: u64) -> String {
    let mut cmd = format!(
        "if [ -e {CURRENT}/stack/compose.yaml ]; then /usr/local/sbin/clawbake-env {CURRENT} && \
         {} 2>&1",
        compose_up(&[], Some(timeout))
    );
    if !recreate.is_empty() {
        let _ = write!(cmd, " && {} 2>&1", compose_up(recreate, Some(timeout)));
    }
    cmd.push_str("; fi");
    cmd
}

/// Install `name` on the host; recreate what reads it, healthy within
/// `timeout` seconds.
pub async fn set(
    host: &Host,
    name: &str,
    value: Value,
    recreate: &[String],
    timeout: u64,
) -> Result<(), Error> {
    host.root_output(&format!("install -d -m 0700 {DIR}"))
        .await?;
    host.install(&format!("{DIR}/{name}"), value.into_bytes(), 0o600)
        .await?;
    host.root_output(&apply_command(recreate, timeout))
        .await
        .map(drop)
}

pub async fn remove(
    host: &Host,
    name: &str,
    recreate: &[String],
    timeout: u64,
) -> Result<bool, Error> {
    let path = shell_quote(&format!("{DIR}/{name}"));
    let out = host
        .root_output(&format!(
            "if [ -e {path} ]; then rm -f -- {path} && echo removed; fi"
        ))
        .await?;
    if out.trim() != "removed" {
        return Ok(false);
    }
    host.root_output(&apply_command(recreate, timeout)).await?;
    Ok(true)
}

/// A generated secret to replace, and the services that read it.
#[derive(Debug)]
pub struct Rotation {
    pub name: &'static str,
    prefix: &'static str,
    pub services: Vec<String>,
}

/// The rotation for `name`, or why there is none.
pub fn rotation(name: &str, bundle: &Bundle) -> Result<Rotation, Error> {
    let prefix = match name {
        // The backup key: restic's own key change; the repository stays,
        // its new key opens every backup in it.
        "OPENCLAW_GATEWAY_TOKEN" | "BACKUP_KEY" => "",
        // LiteLLM refuses a key that does not start with `sk-`.
        "LITELLM_MASTER_KEY" | "LITELLM_GATEWAY_KEY" => "sk-",
        _ if users(bundle).contains_key(name) => {
            return Err(Error::Message {
                message: format!("`{name}` is a key you give, not one the host makes"),
                help: Some(format!(
                    "rotate it with its provider, then: clawbake secrets set --host HOST {name} < new-value"
                )),
            });
        }
        _ => {
            let names = [
                "OPENCLAW_GATEWAY_TOKEN",
                "LITELLM_MASTER_KEY",
                "LITELLM_GATEWAY_KEY",
            ];
            return Err(Error::Message {
                message: format!("the host makes no secret named `{name}`"),
                help: Some(match crate::diagnostic::did_you_mean(name, &names) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("rotatable: {}", names.join(", ")),
                }),
            });
        }
    };
    let name = INTERNAL
        .iter()
        .find(|n| **n == name)
        .expect("every rotatable name is internal");
    let mut services: Vec<String> = readers(bundle)
        .into_iter()
        .filter(|(n, _, _)| n == name)
        .map(|(_, service, _)| service)
        .collect();
    services.sort();
    services.dedup();
    Ok(Rotation {
        name,
        prefix,
        services,
    })
}

/// The rotation as one root command: the new value is made on the host,
/// the old one kept until the services it reaches are healthy with the
/// new one, and put back (and the services recreated again) if not.
fn rotate_command(r: &Rotation, timeout: u64) -> String {
    let file = format!("{DIR}/{}", r.name);
    let up = compose_up(&r.services, Some(timeout));
    // A dropped connection must not stop it half way (HUP, PIPE); Compose
    // writes to a log on the host, shown when the services fail.
    format!(
        "set -eu; umask 077; trap '' HUP PIPE; \
         [ -e {CURRENT}/stack/compose.yaml ] || {{ echo 'no release on this host yet' >&2; exit 3; }}; \
         exec 9>{ROTATE_LOCK}; flock -n 9 || {{ echo 'another rotation is running' >&2; exit 4; }}; \
         log=/var/log/clawbake/rotate.log; mkdir -p /var/log/clawbake; \
         v=$(openssl rand -hex 32); [ ${{#v}} -eq 64 ] || {{ echo 'openssl made no new value' >&2; exit 6; }}; \
         cp -p {file} {file}.old; \
         printf '%s%s' {prefix} \"$v\" > {file}.new; mv {file}.new {file}; \
         recreate() {{ /usr/local/sbin/clawbake-env {CURRENT} && \
           {up} >>\"$log\" 2>&1; }}; \
         if recreate; then rm -f {file}.old; else mv {file}.old {file}; recreate || true; tail -n 20 \"$log\" >&2; \
           echo 'the services did not come back healthy with the new value; the old one is back' >&2; exit 5; fi",
        prefix = shell_quote(r.prefix),
    )
}

/// The backup key: restic adds the new key to the repository and removes
/// the old one (`key passwd`), then the file changes; if restic refuses,
/// the old key stays. Each offsite repository keeps the old key beside it
/// (`.offsite-old-key/NAME`) until `clawbake-backup --rekey-offsite`, run
/// at once and again by every nightly run, has changed it there too.
fn rotate_backup_key_command() -> String {
    let file = format!("{DIR}/BACKUP_KEY");
    let repo = crate::host::backup::REPOSITORY;
    let offsite = format!("{CURRENT}/backup/offsite.json");
    let pending = format!("{DIR}/.offsite-old-key");
    format!(
        "set -eu; umask 077; trap '' HUP PIPE; \
         exec 9>{ROTATE_LOCK}; flock -n 9 || {{ echo 'another rotation is running' >&2; exit 4; }}; \
         exec 8>/run/clawbake-backup.lock; flock -n 8 || {{ echo 'a backup is running; rotate when it is done' >&2; exit 4; }}; \
         v=$(openssl rand -hex 32); [ ${{#v}} -eq 64 ] || {{ echo 'openssl made no new value' >&2; exit 6; }}; \
         printf '%s' \"$v\" > {file}.new; \
         if [ -e {repo}/config ]; then \
           RESTIC_REPOSITORY={repo} RESTIC_PASSWORD_FILE={file} restic key passwd --new-password-file {file}.new >/dev/null 2>&1 \
           || {{ rm -f {file}.new; echo 'restic refused the new key; the old one stays' >&2; exit 5; }}; \
         fi; \
         if [ -s {offsite} ]; then install -d -m 0700 {pending}; \
           for n in $(jq -r '.[].name' {offsite}); do [ -s {pending}/\"$n\" ] || cp -p {file} {pending}/\"$n\"; done; fi; \
         mv {file}.new {file}; \
         exec 8>&-; /usr/local/sbin/clawbake-backup --rekey-offsite"
    )
}

/// Rotate; what the host said of each offsite repository (backup key).
pub async fn rotate(host: &Host, r: &Rotation, timeout: u64) -> Result<String, Error> {
    let command = if r.name == "BACKUP_KEY" {
        rotate_backup_key_command()
    } else {
        rotate_command(r, timeout)
    };
    host.root_output(&command).await
}

/// Which of `names` are set on the host (a file that is not empty).
pub async fn which_set(host: &Host, names: &[&str]) -> Result<Vec<String>, Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let tests: Vec<String> = names
        .iter()
        .map(|n| format!("[ -s {DIR}/{n} ] && echo {n}"))
        .collect();
    let out = host
        .root_output(&format!("{{ {}; }} || true", tests.join("; ")))
        .await?;
    Ok(out.lines().map(str::to_owned).collect())
}

/// A missing secret is worth a warning, not a failure: the stack runs and
/// the feature that needs it does not.
pub fn missing_help(name: &str, target: &str) -> String {
    format!("{SET_HINT}{target} {name} < file-with-the-value")
}

/// How [`missing_help`]'s command begins, for the CLI to name the site in
/// it when the site is not the one a pasted command would find.
pub const SET_HINT: &str = "clawbake secrets set --host ";

pub fn not_found(name: &str) -> Error {
    Error::Host {
        code: code::FAILED,
        message: format!("`{name}` is not set on the host"),
        detail: String::new(),
        help: None,
    }
}
