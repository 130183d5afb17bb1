//! Preflight: what the host is, checked against what the site needs, before
//! anything on it is touched. One command gathers the facts; the checks are
//! pure, so each refusal is tested without a host.

use crate::config::budget;
use crate::host::transport::ssh::{Connection, SshError};
use crate::model::{DockerSource, Site};

/// The one command that gathers every fact, as `key=value` lines.
pub const GATHER: &str = r#". /etc/os-release 2>/dev/null
echo "id=${ID:-unknown}"
echo "version=${VERSION_ID:-unknown}"
echo "name=${PRETTY_NAME:-unknown}"
echo "arch=$(uname -m)"
echo "uid=$(id -u)"
if sudo -n true 2>/dev/null; then echo "sudo=yes"; else echo "sudo=no"; fi
echo "disk_mib=$(df -Pm / | awk 'NR == 2 { print $4 }')"
echo "mem_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)""#;

/// What the host reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub os_id: String,
    pub os_version: String,
    pub os_name: String,
    pub arch: String,
    pub root: bool,
    pub sudo: bool,
    pub free_disk_mib: u64,
    pub mem_mib: u64,
}

impl Facts {
    pub fn parse(text: &str) -> Facts {
        let mut f = Facts::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key {
                "id" => value.clone_into(&mut f.os_id),
                "version" => value.clone_into(&mut f.os_version),
                "name" => value.clone_into(&mut f.os_name),
                "arch" => value.clone_into(&mut f.arch),
                "uid" => f.root = value == "0",
                "sudo" => f.sudo = value == "yes",
                "disk_mib" => f.free_disk_mib = value.parse().unwrap_or(0),
                "mem_mib" => f.mem_mib = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        f
    }

    pub fn gather(conn: &Connection) -> Result<Facts, SshError> {
        conn.output(GATHER).map(|text| Facts::parse(&text))
    }

    fn is(&self, id: &str, version: &str) -> bool {
        self.os_id == id && self.os_version == version
    }
}

/// One reason not to proceed, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub what: String,
    pub help: String,
}

/// Free disk the stack needs: images, volumes, logs, backups.
pub const MIN_FREE_DISK_MIB: u64 = 10 * 1024;

pub fn check(facts: &Facts, site: &Site) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut problem = |what: String, help: &str| {
        out.push(Problem {
            what,
            help: help.to_owned(),
        });
    };
    let ubuntu = facts.is("ubuntu", "24.04");
    // The offline test guest: the Debian closest to Ubuntu 24.04.
    let debian = facts.is("debian", "13");
    if !ubuntu && !debian {
        problem(
            format!(
                "this host runs {}; clawbake targets Ubuntu 24.04",
                facts.os_name
            ),
            "create the server from the Ubuntu 24.04 image (Debian 13 is accepted for test guests)",
        );
    } else if site.site.docker == DockerSource::DockerCe && !ubuntu {
        problem(
            format!(
                "the docker-ce layer pins packages for Ubuntu 24.04, but this host runs {}",
                facts.os_name
            ),
            "set `docker = \"distro\"` under `[site]` to use the distribution's docker.io",
        );
    }
    if facts.arch != "x86_64" {
        problem(
            format!(
                "this host is {}; the pinned images are for x86_64 (linux/amd64)",
                facts.arch
            ),
            "use an x86_64 server",
        );
    }
    if !facts.root && !facts.sudo {
        problem(
            "the SSH user is not root and has no passwordless sudo".to_owned(),
            "connect as root (`--host root@...`), or give the user `NOPASSWD` in sudoers",
        );
    }
    if facts.free_disk_mib < MIN_FREE_DISK_MIB {
        problem(
            format!(
                "only {} MiB free on / (at least {MIN_FREE_DISK_MIB} MiB needed)",
                facts.free_disk_mib
            ),
            "free some space or use a larger disk",
        );
    }
    let budget = budget::compute(site);
    if facts.mem_mib < u64::from(budget.total_mib) {
        problem(
            format!(
                "the host has {} MiB of memory; the {} tier's budget needs {} MiB",
                facts.mem_mib,
                site.site.tier.as_str(),
                budget.total_mib
            ),
            "choose a smaller `site.tier` or a larger server",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SiteInput;

    fn ubuntu() -> Facts {
        Facts::parse(
            "id=ubuntu\nversion=24.04\nname=Ubuntu 24.04.3 LTS\narch=x86_64\nuid=0\nsudo=no\ndisk_mib=140000\nmem_mib=7940\n",
        )
    }

    #[test]
    fn checks() {
        let site = crate::pipeline::build(&SiteInput::Example)
            .unwrap_or_else(|e| panic!("{}", e.render(false)))
            .site;
        let mut distro_site = site.clone();
        distro_site.site.docker = DockerSource::Distro;
        let with = |change: &dyn Fn(&mut Facts)| {
            let mut f = ubuntu();
            change(&mut f);
            f
        };
        // (facts, site, the problems' first words)
        let table: Vec<(Facts, &Site, Vec<&str>)> = vec![
            (ubuntu(), &site, vec![]),
            (
                with(&|f| {
                    f.os_id = "debian".into();
                    f.os_version = "13".into();
                    f.os_name = "Debian GNU/Linux 13 (trixie)".into();
                }),
                &distro_site,
                vec![],
            ),
            (
                with(&|f| {
                    f.os_id = "debian".into();
                    f.os_version = "13".into();
                    f.os_name = "Debian GNU/Linux 13 (trixie)".into();
                }),
                &site,
                vec!["the docker-ce layer pins"],
            ),
            (
                with(&|f| {
                    f.os_version = "22.04".into();
                    f.os_name = "Ubuntu 22.04.5 LTS".into();
                }),
                &site,
                vec!["this host runs Ubuntu 22.04.5 LTS"],
            ),
            (
                with(&|f| f.arch = "aarch64".into()),
                &site,
                vec!["this host is aarch64"],
            ),
            (
                with(&|f| f.root = false),
                &site,
                vec!["the SSH user is not root"],
            ),
            (
                with(&|f| {
                    f.root = false;
                    f.sudo = true;
                }),
                &site,
                vec![],
            ),
            (
                with(&|f| f.free_disk_mib = 2048),
                &site,
                vec!["only 2048 MiB free"],
            ),
            (
                with(&|f| f.mem_mib = 3900),
                &site,
                vec!["the host has 3900 MiB"],
            ),
        ];
        for (i, (facts, site, expected)) in table.into_iter().enumerate() {
            let got: Vec<String> = check(&facts, site).into_iter().map(|p| p.what).collect();
            assert_eq!(got.len(), expected.len(), "row {i}: {got:?}");
            for (g, e) in got.iter().zip(&expected) {
                assert!(g.starts_with(e), "row {i}: `{g}` should start with `{e}`");
            }
        }
    }

    #[test]
    fn parse_ignores_noise() {
        let f = Facts::parse("warning: something\nid=ubuntu\nuid=1000\nsudo=yes\ndisk_mib=x\n");
        assert_eq!(f.os_id, "ubuntu");
        assert!(!f.root && f.sudo);
        assert_eq!(f.free_disk_mib, 0);
    }
}
