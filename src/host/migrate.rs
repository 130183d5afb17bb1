//! Migrate: the rebuild as one command. The new server is provisioned
//! from the site while the old one still serves; then the old gateway
//! stops (a Telegram bot is polled by one gateway only), a last backup is
//! taken and copied off, restored onto the new server and verified there.
//! If any of that fails, the new gateway is stopped and the old one started
//! again. This module holds the host-side pieces; `cli::host::migrate`
//! runs them in order with `apply`, `backup` and `restore`.

use super::remote::{Host, host_state};
use crate::error::{Error, code};
use crate::render::shared::CONTAINER;

/// The host runs a release of `site`; its release name. The old server of
/// a migration must, or the copy would not restore onto the new one.
pub async fn runs_site(host: &Host, site: &str) -> Result<String, Error> {
    let state = host_state(host).await?;
    let Some(current) = state.current else {
        return Err(Error::Host {
            code: code::NOT_CLAWBAKE_HOST,
            message: format!(
                "{} runs no clawbake release: there is nothing to migrate from it",
                host.access.target
            ),
            detail: String::new(),
            help: Some("`--from` names the server that runs the site now".into()),
        });
    };
    if current.site != site {
        return Err(Error::Host {
            code: code::BACKUP_OTHER_SITE,
            message: format!(
                "{} runs site `{}`, not `{site}`",
                host.access.target, current.site
            ),
            detail: String::new(),
            help: Some("give the site file that server was built from".into()),
        });
    }
    Ok(crate::render::shared::release_name(&current.build_id).to_owned())
}

/// Stop the gateway container. `docker stop` marks it stopped, so its
/// `unless-stopped` policy keeps it down across a reboot too.
pub async fn stop_gateway(host: &Host) -> Result<(), Error> {
    host.root_output(&format!(
        "if docker container inspect {CONTAINER} >/dev/null 2>&1; then docker stop {CONTAINER} >/dev/null; fi"
    ))
    .await
    .map(drop)
}

/// Start the gateway container again and wait until Docker calls it
/// healthy, at most `timeout` seconds. Returns the last health status seen
/// when it did not get there.
pub async fn start_gateway(host: &Host, timeout: u64) -> Result<Option<String>, Error> {
    let out = host
        .root_output(&format!(
            "docker start {CONTAINER} >/dev/null; s=unknown; i=0; \
             while [ \"$i\" -lt {timeout} ]; do \
               s=$(docker inspect -f '{{{{.State.Health.Status}}}}' {CONTAINER} 2>/dev/null) || s=missing; \
               if [ \"$s\" = healthy ]; then echo health=healthy; exit 0; fi; \
               sleep 1; i=$((i + 1)); \
             done; echo \"health=$s\""
        ))
        .await?;
    let status = out
        .lines()
        .find_map(|l| l.strip_prefix("health="))
        .unwrap_or("unknown");
    Ok((status != "healthy").then(|| status.to_owned()))
}
