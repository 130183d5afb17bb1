//! `[user@]host[:port]`, as `--host` takes it.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub user: String,
    pub host: String,
    pub port: u16,
}

impl Target {
    /// Parse `root@203.0.113.7`, `admin@example.com:9922` or `[2001:db8::1]:22`.
    /// The user defaults to `root` and the port to 22.
    pub fn parse(s: &str) -> Result<Target, String> {
        let bad = |why: &str| {
            Err(format!(
                "`{s}` is not a host: {why}; write `root@203.0.113.7` or `root@203.0.113.7:9922`"
            ))
        };
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) => (u, r),
            None => ("root", s),
        };
        if user.is_empty()
            || !user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return bad("the user name is empty or has odd characters");
        }
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let Some((addr, after)) = inner.split_once(']') else {
                return bad("an IPv6 address in brackets lacks its `]`");
            };
            match after.strip_prefix(':') {
                Some(p) => (addr, Some(p)),
                None if after.is_empty() => (addr, None),
                None => return bad("unexpected text after `]`"),
            }
        } else if rest.matches(':').count() > 1 {
            // A bare IPv6 address; anything else with two `:` is a typo.
            if rest.parse::<std::net::Ipv6Addr>().is_err() {
                return bad(
                    "more than one `:`; an IPv6 address with a port goes in brackets, `[2001:db8::1]:9922`",
                );
            }
            (rest, None)
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return bad("the host is empty");
        }
        let port = match port {
            None => 22,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return bad("the port is not a number from 1 to 65535"),
            },
        };
        Ok(Target {
            user: user.to_owned(),
            host: host.to_owned(),
            port,
        })
    }

    /// The host as it goes before `:port`: IPv6 addresses in brackets.
    pub fn bracketed_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The same host and user on another port.
    #[must_use]
    pub fn with_port(&self, port: u16) -> Target {
        Target {
            port,
            ..self.clone()
        }
    }

    /// The host as `known_hosts` names it: `host`, or `[host]:port`.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.bracketed_host(), self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let t = |s: &str| Target::parse(s).map(|t| (t.user, t.host, t.port));
        assert_eq!(
            t("root@203.0.113.7"),
            Ok(("root".into(), "203.0.113.7".into(), 22))
        );
        assert_eq!(
            t("203.0.113.7:9922"),
            Ok(("root".into(), "203.0.113.7".into(), 9922))
        );
        assert_eq!(
            t("admin@example.com:2222"),
            Ok(("admin".into(), "example.com".into(), 2222))
        );
        assert_eq!(
            t("[2001:db8::1]:22"),
            Ok(("root".into(), "2001:db8::1".into(), 22))
        );
        assert_eq!(
            t("2001:db8::1"),
            Ok(("root".into(), "2001:db8::1".into(), 22))
        );
        for bad in [
            "",
            "root@",
            "@host",
            "host:0",
            "host:70000",
            "host:x",
            "[::1",
            "a b@host",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(
            Target::parse("h:2222").unwrap().known_hosts_name(),
            "[h]:2222"
        );
    }
}
