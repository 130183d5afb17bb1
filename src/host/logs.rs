//! `clawbake logs`: a service's log (Compose's, all services when none is
//! named) or the host's apply log, streamed as the host prints it.

use tokio::sync::mpsc;

use crate::error::Error;
use crate::host::remote::{CURRENT, Host};
use crate::host::transport::ssh::shell_quote;

/// What to show.
pub struct Request<'a> {
    /// A service of the site's stack; every service when `None`.
    pub service: Option<&'a str>,
    /// The apply log (`/var/log/clawbake/apply.log`) instead of a service's.
    pub step_log: bool,
    pub follow: bool,
    /// `docker logs --since`: `10m`, `2h`, or a timestamp.
    pub since: Option<&'a str>,
    /// The last lines only.
    pub tail: u32,
}

/// The command that prints the log on the host.
pub fn command(req: &Request) -> String {
    if req.step_log {
        let follow = if req.follow { " -F" } else { "" };
        return format!(
            "if [ -e /var/log/clawbake/apply.log ]; then tail -n {}{follow} /var/log/clawbake/apply.log; \
             else echo 'no apply log on this host yet' >&2; exit 3; fi",
            req.tail
        );
    }
    let mut cmd = format!(
        "docker compose -f {CURRENT}/stack/compose.yaml logs --no-color --tail {}",
        req.tail
    );
    if req.follow {
        cmd.push_str(" --follow");
    }
    if let Some(since) = req.since {
        cmd.push_str(" --since ");
        cmd.push_str(&shell_quote(since));
    }
    if let Some(service) = req.service {
        cmd.push(' ');
        cmd.push_str(&shell_quote(service));
    }
    cmd.push_str(" 2>&1");
    cmd
}

/// Stream the log to stdout as it arrives; its exit code.
pub async fn stream(host: &Host, req: &Request<'_>) -> Result<i32, Error> {
    use std::io::Write as _;
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let run = host.remote.stream(host.as_root(&command(req)), tx);
    tokio::pin!(run);
    let mut stdout = std::io::stdout();
    loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(bytes) => { let _ = stdout.write_all(&bytes); let _ = stdout.flush(); }
                None => break,
            },
            code = &mut run => {
                while let Ok(bytes) = rx.try_recv() { let _ = stdout.write_all(&bytes); }
                let _ = stdout.flush();
                return code.map_err(Error::from);
            }
        }
    }
    run.await.map_err(Error::from)
}

/// A `--since` docker reads: a duration (`10m`, `2h`, `90s`) or an RFC
/// 3339 time; nothing a shell would read as more.
pub fn since_ok(since: &str) -> bool {
    !since.is_empty()
        && since.len() <= 40
        && since
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-:.+".contains(&b))
}
