//! The memory budget: what the stack may use at most, against what the
//! tier's server has.
//!
//! The guide adds its limits up twice and gets two answers (5.25G and 5.8G),
//! and neither counts the OS. Here the sum is computed from the very limits
//! that go into the compose file, so the check and the deployment cannot
//! disagree.

use crate::model::{Ingress, Site};

/// One line of the budget table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub what: String,
    /// The key the number comes from, for errors.
    pub key: String,
    pub mib: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    pub lines: Vec<Line>,
    pub total_mib: u32,
    pub ram_mib: u32,
}

impl Budget {
    pub fn fits(&self) -> bool {
        self.total_mib <= self.ram_mib
    }

    /// The table `build` prints and errors quote.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for line in &self.lines {
            let _ = writeln!(out, "  {:<34} {:>6} MiB", line.what, line.mib);
        }
        let _ = writeln!(out, "  {:<34} {:>6} MiB", "total", self.total_mib);
        let verdict = if self.fits() {
            format!("{} MiB to spare", self.ram_mib - self.total_mib)
        } else {
            format!("over by {} MiB", self.total_mib - self.ram_mib)
        };
        let _ = write!(
            out,
            "  {:<34} {:>6} MiB ({verdict})",
            "server memory", self.ram_mib
        );
        out
    }
}

pub fn compute(site: &Site) -> Budget {
    let s = &site.stack.services;
    let mut lines = vec![
        line(
            "openclaw gateway",
            "stack.services.gateway.memory_mib",
            s.gateway.memory_mib,
        ),
        line(
            "litellm",
            "stack.services.litellm.memory_mib",
            s.litellm.memory_mib,
        ),
        line(
            "socket proxy",
            "stack.services.socket_proxy.memory_mib",
            s.socket_proxy.memory_mib,
        ),
        line(
            "squid egress",
            "stack.services.egress.memory_mib",
            s.egress.memory_mib,
        ),
    ];
    lines.push(match site.site.ingress {
        Ingress::Caddy => line(
            "caddy",
            "stack.services.caddy.memory_mib",
            s.caddy.memory_mib,
        ),
        Ingress::Tunnel => line(
            "cloudflared",
            "stack.services.tunnel.memory_mib",
            s.tunnel.memory_mib,
        ),
    });
    lines.push(Line {
        what: format!(
            "sandboxes ({} x {} MiB)",
            site.stack.max_sandboxes, site.stack.sandbox.memory_mib
        ),
        key: "stack.max_sandboxes".to_owned(),
        mib: site
            .stack
            .max_sandboxes
            .saturating_mul(site.stack.sandbox.memory_mib),
    });
    lines.push(line(
        "os, sshd and dockerd reserve",
        "host.os_reserve_mib",
        site.host.os_reserve_mib,
    ));
    let total_mib = lines.iter().fold(0u32, |sum, l| sum.saturating_add(l.mib));
    Budget {
        lines,
        total_mib,
        ram_mib: site.host.ram_mib,
    }
}

fn line(what: &str, key: &str, mib: u32) -> Line {
    Line {
        what: what.to_owned(),
        key: key.to_owned(),
        mib,
    }
}
