//! `clawbake status`: what a running host is doing, read in one round
//! trip: the release and when it was applied, uptime, each service's state
//! and memory against its limit, disk, the last backup, and what a
//! provision of this site would do. Never a secret.

use serde::Serialize;

use crate::bundle::Bundle;
use crate::error::Error;
use crate::host::apply;
use crate::host::backup;
use crate::host::plan::Decision;
use crate::host::remote::{Host, STATE};
use crate::host::verify::{END_OF_OUTPUT, concurrently};
use crate::model::Site;

#[derive(Debug, Serialize)]
pub struct Status {
    /// The release the host runs, and when it was applied (UTC).
    pub release: Option<String>,
    pub applied_at: Option<String>,
    pub uptime_secs: u64,
    pub services: Vec<Service>,
    pub disk_free_bytes: u64,
    pub disk_size_bytes: u64,
    /// The newest snapshot, `None` before the first backup.
    pub last_backup: Option<Backup>,
    /// What `provision` of this site would do: `no-change`,
    /// `stack-release`, `rebuild-required`, `drift`, `first-provision`.
    pub pending: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Service {
    pub name: String,
    /// Docker's state (`running`, `exited`, ...), or `missing`.
    pub state: String,
    /// Docker's status line: uptime and health.
    pub status: String,
    /// `used / limit`, as `docker stats` prints it; empty when stopped.
    pub memory: String,
}

#[derive(Debug, Serialize)]
pub struct Backup {
    pub id: String,
    pub time: String,
    pub release: String,
}

pub async fn gather(host: &Host, site: &Site, bundle: &Bundle) -> Result<Status, Error> {
    let project = site.site.name.as_str();
    let commands = [
        format!("cat {STATE} 2>/dev/null || true"),
        "cut -d' ' -f1 /proc/uptime".to_owned(),
        format!(
            "docker ps -a --filter label=com.docker.compose.project={project} \
             --format '{{{{.Label \"com.docker.compose.service\"}}}}\t{{{{.Names}}}}\t{{{{.State}}}}\t{{{{.Status}}}}' 2>/dev/null || true"
        ),
        "docker stats --no-stream --format '{{.Name}}\t{{.MemUsage}}' 2>/dev/null || true"
            .to_owned(),
        "df -B1 --output=size,avail / | tail -n 1".to_owned(),
    ];
    let all = host.root_output(&concurrently(&commands)).await?;
    let end = format!("{END_OF_OUTPUT}\n");
    let mut parts = all.split(end.as_str());
    let mut next = || parts.next().unwrap_or_default().to_owned();
    let (state, uptime, ps, mem_usage, df) = (next(), next(), next(), next(), next());

    let state: serde_json::Value = serde_json::from_str(&state).unwrap_or_default();
    let field = |k: &str| {
        state[k]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let memory_of = |container: &str| {
        mem_usage
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(name, _)| *name == container)
            .map(|(_, mem)| mem.trim().to_owned())
            .unwrap_or_default()
    };
    let services = crate::render::stack::service_limits(site)
        .iter()
        .map(|limit| {
            let found = ps.lines().find_map(|l| {
                let cols: Vec<&str> = l.split('\t').collect();
                (cols.len() == 4 && cols[0] == limit.service).then(|| cols[1..].to_vec())
            });
            match found {
                Some(cols) => Service {
                    name: limit.service.to_owned(),
                    state: cols[1].to_owned(),
                    status: cols[2].to_owned(),
                    memory: memory_of(cols[0]),
                },
                None => Service {
                    name: limit.service.to_owned(),
                    state: "missing".into(),
                    status: String::new(),
                    memory: String::new(),
                },
            }
        })
        .collect();
    let mut df = df.split_whitespace().map(|n| n.parse::<u64>().unwrap_or(0));
    let (disk_size_bytes, disk_free_bytes) = (df.next().unwrap_or(0), df.next().unwrap_or(0));
    // No repository yet is an answer here, not an error.
    let last_backup = backup::list(host)
        .await
        .ok()
        .and_then(|mut s| s.pop())
        .map(|s| Backup {
            id: s.id,
            time: s.time,
            release: s.release,
        });
    let pending = match apply::plan(host, bundle).await? {
        Decision::FirstProvision => "first-provision",
        Decision::NoChange => "no-change",
        Decision::StackRelease { .. } => "stack-release",
        Decision::RebuildRequired { .. } => "rebuild-required",
        Decision::Drift { .. } => "drift",
    };
    Ok(Status {
        release: field("build_id"),
        applied_at: field("applied_at"),
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        uptime_secs: uptime.trim().parse::<f64>().map_or(0, |s| s as u64),
        services,
        disk_free_bytes,
        disk_size_bytes,
        last_backup,
        pending,
    })
}
