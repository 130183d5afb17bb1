//! `clawbake init`: a site that names what is left to do, takes the user's
//! own key when there is one, and never overwrites a site.

mod common;

use std::process::Command;

fn clawbake(dir: &std::path::Path, home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_clawbake"))
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// What a `--json` command prints, run in `dir` with no site but its own.
fn json_in(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_clawbake"))
        .args(args)
        .current_dir(dir)
        .env_remove("CLAWBAKE_SITE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A site that builds: `domain`, a key, an admin address, and `firewall`
/// lines after it.
fn site(domain: &str, firewall: &str) -> String {
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL457cmlFdEw20vdsCn2uQjzu7M60nY1L275JJONFUyD me@laptop";
    format!(
        "[site]\ndomain = \"{domain}\"\n[ssh]\nauthorized_keys = [\"{key}\"]\n[firewall]\nadmin_cidrs = [\"198.51.100.7\"]\n{firewall}"
    )
}

#[test]
fn init_then_build_asks_only_for_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL457cmlFdEw20vdsCn2uQjzu7M60nY1L275JJONFUyD me@laptop";
    std::fs::write(home.join(".ssh/id_ed25519.pub"), format!("{key}\n")).unwrap();

    let out = clawbake(dir.path(), &home, &["init", "mysite"]);
    assert!(out.status.success());
    let site = std::fs::read_to_string(dir.path().join("mysite/site.toml")).unwrap();
    assert!(site.contains(key), "the user's key was not put in:\n{site}");

    // Unedited, the build refuses: nobody could reach SSH.
    let out = clawbake(dir.path(), &home, &["build", "mysite/site.toml"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: no admin address: the firewall would let nobody reach SSH\n"),
        "{err}"
    );
    assert!(!err.contains("no SSH key"), "{err}");

    std::fs::write(
        dir.path().join("mysite/site.toml"),
        site.replace("admin_cidrs = []", "admin_cidrs = [\"203.0.113.7\"]"),
    )
    .unwrap();
    let out = clawbake(dir.path(), &home, &["build", "mysite/site.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = clawbake(dir.path(), &home, &["init", "mysite"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: `mysite/site.toml` already exists\n  = help: edit it, or choose another directory than `mysite`\n"
    );
}

/// Where a command finds its site: the argument (file or directory), else
/// `CLAWBAKE_SITE`, else `./site.toml` (this directory, not a parent's),
/// else the built-in example, said loudly in the summary.
#[test]
fn the_site_is_found_where_the_user_stands() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    for (name, domain) in [("here", "here.example.net"), ("there", "there.example.net")] {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("site.toml"), site(domain, "")).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("here/sub")).unwrap();
    let build = |cwd: &str, args: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawbake"));
        cmd.arg("build")
            .args(args)
            .args(["--out", dir.path().join("dist").to_str().unwrap()])
            .current_dir(dir.path().join(cwd))
            .env("HOME", &home)
            .env("NO_COLOR", "1")
            .env_remove("CLAWBAKE_SITE");
        if let Some(env) = env {
            cmd.env("CLAWBAKE_SITE", dir.path().join(env));
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let first_lines = |out: &str| out.lines().take(2).collect::<Vec<_>>().join("\n");
    // The current directory's site.toml.
    let out = build("here", &[], None);
    assert!(
        out.starts_with("built openclaw (here.example.net)"),
        "{out}"
    );
    assert!(
        out.contains("\n  site       site.toml\n"),
        "{}",
        first_lines(&out)
    );
    // An argument wins over it, a file or a directory.
    let out = build("here", &["../there/site.toml"], Some("here"));
    assert!(
        out.starts_with("built openclaw (there.example.net)"),
        "{out}"
    );
    let out = build("here", &["../there"], None);
    assert!(
        out.starts_with("built openclaw (there.example.net)"),
        "{out}"
    );
    // A site file of another name is named as it is.
    std::fs::copy(
        dir.path().join("there/site.toml"),
        dir.path().join("here/prod.toml"),
    )
    .unwrap();
    let out = build("here", &["prod.toml"], None);
    assert!(
        out.contains("\n  site       prod.toml\n"),
        "{}",
        first_lines(&out)
    );
    // CLAWBAKE_SITE wins over the current directory.
    let out = build("here", &[], Some("there/site.toml"));
    assert!(
        out.starts_with("built openclaw (there.example.net)"),
        "{out}"
    );
    // A parent's site.toml is not this directory's: the example, loudly.
    let out = build("here/sub", &[], None);
    assert!(
        out.contains(
            "\n  site       THE BUILT-IN EXAMPLE (no site.toml here: `clawbake init DIR` makes one)\n"
        ),
        "{}",
        first_lines(&out)
    );
}

/// Every command that acts on a server, with `HOST` (and `HOST2` for
/// migrate's new server) to fill in.
const HOST_COMMANDS: &[&[&str]] = &[
    &["provision", "--host", "HOST"],
    &["plan", "--host", "HOST"],
    &["verify", "--host", "HOST"],
    &["status", "--host", "HOST"],
    &["logs", "--host", "HOST"],
    &["ssh", "--host", "HOST"],
    &["rollback", "--host", "HOST"],
    &["secrets", "set", "ANTHROPIC_API_KEY", "--host", "HOST"],
    &["secrets", "rotate", "BACKUP_KEY", "--host", "HOST"],
    &["secrets", "rm", "ANTHROPIC_API_KEY", "--host", "HOST"],
    &["secrets", "list", "--host", "HOST"],
    &["backup", "--host", "HOST"],
    &["backup", "list", "--host", "HOST"],
    &["backup", "check", "--host", "HOST"],
    &["restore", "copy", "--password-file", "pw", "--host", "HOST"],
    &["migrate", "--from", "HOST", "--to", "HOST2"],
];

fn fill(args: &[&str], host: &str, host2: &str) -> Vec<String> {
    args.iter()
        .map(|a| match *a {
            "HOST" => host.to_owned(),
            "HOST2" => host2.to_owned(),
            a => a.to_owned(),
        })
        .collect()
}

/// `clawbake ARGS` in `dir`, no site from the environment, no stdin.
fn run_in(dir: &std::path::Path, args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_clawbake"))
        .args(args)
        .current_dir(dir)
        .env_remove("CLAWBAKE_SITE")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// The command's name as its messages say it: `secrets set`, `backup list`.
fn command_name(first: &str, second: &str) -> String {
    if first == "secrets" || (first == "backup" && !second.starts_with('-')) {
        format!("{first} {second}")
    } else {
        first.to_owned()
    }
}

/// Every command that acts on a server refuses the built-in example
/// (exit 3, before any connection), with what to type instead.
#[test]
fn every_host_command_refuses_the_example() {
    let dir = tempfile::tempdir().unwrap();
    for args in HOST_COMMANDS {
        let args = fill(args, "root@192.0.2.1", "root@192.0.2.2");
        let name = command_name(&args[0], &args[1]);
        let out = run_in(dir.path(), &args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {out:?}");
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            format!(
                "error: `clawbake {name}` acts on a server, and there is no site here: the built-in example is for exploring, never for a server\n  \
                 = help: `clawbake init mysite`, fill in `mysite/site.toml`, then run `clawbake {name}` in `mysite/` (or pass the site file, or set `CLAWBAKE_SITE`)\n"
            ),
            "{args:?}"
        );
    }
}

/// Every command that acts on a server names the site file it read before
/// it connects (here to a port nothing listens on).
#[test]
fn every_host_command_names_its_site() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.toml"), site("claw.example.com", "")).unwrap();
    for args in HOST_COMMANDS {
        let args = fill(args, "root@127.0.0.1:1", "root@127.0.0.2:1");
        let name = command_name(&args[0], &args[1]);
        let out = run_in(dir.path(), &args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_ne!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("clawbake {name}: site site.toml\n")),
            "{args:?}: {stderr}"
        );
    }
}

/// The server commands that take the site by position take `--site` too,
/// as `logs`, `ssh`, `secrets`, `backup` and `restore` do; not both.
#[test]
fn server_commands_take_the_site_by_position_or_by_option() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("prod")).unwrap();
    std::fs::write(
        dir.path().join("prod/site.toml"),
        site("claw.example.com", ""),
    )
    .unwrap();
    for command in [
        "provision",
        "plan",
        "verify",
        "status",
        "rollback",
        "migrate",
    ] {
        let host: Vec<String> = if command == "migrate" {
            ["--from", "root@127.0.0.1:1", "--to", "root@127.0.0.2:1"]
                .map(str::to_owned)
                .to_vec()
        } else {
            ["--host", "root@127.0.0.1:1"].map(str::to_owned).to_vec()
        };
        for site in [
            vec!["prod".to_owned()],
            vec!["--site".to_owned(), "prod".to_owned()],
        ] {
            let args: Vec<String> = std::iter::once(command.to_owned())
                .chain(site.clone())
                .chain(host.clone())
                .collect();
            let out = run_in(dir.path(), &args);
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert!(
                stderr.starts_with(&format!("clawbake {command}: site prod/site.toml\n")),
                "{args:?}: {stderr}"
            );
        }
        let both: Vec<String> = [command, "prod", "--site", "prod"]
            .map(str::to_owned)
            .into_iter()
            .chain(host)
            .collect();
        let out = run_in(dir.path(), &both);
        assert_eq!(out.status.code(), Some(2), "{both:?}: {out:?}");
    }
}

/// `check` builds in memory and writes nothing; `--strict` (on `check` and
/// `build`) makes every warning an error, and `build` then writes nothing.
#[test]
fn check_writes_nothing_and_strict_makes_warnings_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.toml"), site("claw.example.com", "")).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_clawbake"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("CLAWBAKE_SITE")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let out = run(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("site.toml builds: openclaw (claw.example.com), ")
            && stdout.ends_with("; nothing written\n"),
        "{stdout}"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("warning: `site.domain` is `claw.example.com`"),
        "{stderr}"
    );
    assert!(!dir.path().join("dist").exists(), "check wrote dist/");

    for args in [&["check", "--strict"][..], &["build", "--strict"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {out:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.starts_with(
                "error: 2 warnings and `--strict` makes each an error; nothing was written:\nwarning: `site.domain` is `claw.example.com`"
            ) && stderr.ends_with("  = help: fix what each warning names, or drop `--strict`\n"),
            "{args:?}: {stderr}"
        );
        assert!(!dir.path().join("dist").exists(), "{args:?} wrote dist/");
    }
    // The domain fixed, one warning is left: images not pinned.
    std::fs::write(
        dir.path().join("site.toml"),
        std::fs::read_to_string(dir.path().join("site.toml"))
            .unwrap()
            .replace("claw.example.com", "claw.mydomain.net"),
    )
    .unwrap();
    let out = run(&["check", "--strict"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.starts_with("error: 1 warning and `--strict` makes it an error"),
        "{stderr}"
    );
}

/// Completion scripts for three shells, each read by that shell, and the
/// man page by mandoc's linter; each names the commands.
#[test]
fn completions_and_the_man_page_are_what_their_readers_accept() {
    let dir = tempfile::tempdir().unwrap();
    let out = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_clawbake"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        for command in ["provision", "migrate", "check", "completions"] {
            assert!(text.contains(command), "{args:?} lacks `{command}`");
        }
        text
    };
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    if let Some(bash) = common::tool("bash") {
        let file = write("clawbake.bash", &out(&["completions", "bash"]));
        let spec = common::run_ok(
            Command::new(bash)
                .arg("-c")
                .arg(format!("source {} && complete -p clawbake", file.display())),
            "bash sourcing the completions",
        );
        assert!(spec.contains("-F _clawbake clawbake"), "{spec}");
    }
    if let Some(zsh) = common::tool("zsh") {
        let file = write("_clawbake", &out(&["completions", "zsh"]));
        common::run_ok(Command::new(zsh).arg("-n").arg(&file), "zsh -n");
    }
    if let Some(fish) = common::tool("fish") {
        let file = write("clawbake.fish", &out(&["completions", "fish"]));
        common::run_ok(
            Command::new(fish).arg("--no-execute").arg(&file),
            "fish --no-execute",
        );
    }
    if let Some(mandoc) = common::tool("mandoc") {
        let file = write("clawbake.1", &out(&["man"]));
        common::run_ok(
            Command::new(mandoc)
                .args(["-T", "lint", "-W", "error"])
                .arg(&file),
            "mandoc -T lint",
        );
    }
}

/// Every command's `--help` ends with an example, from the binary's own
/// help (each command walked from the top-level list).
#[test]
fn every_command_help_has_an_example() {
    let help = |path: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_clawbake"))
            .args(path)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{path:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    // The commands a help lists, without `help` itself.
    let commands = |text: &str| -> Vec<String> {
        text.lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .filter(|c| c != "help")
            .collect()
    };
    let mut checked = 0;
    for top in commands(&help(&[])) {
        let text = help(&[&top]);
        let subs = commands(&text);
        if subs.is_empty() || top == "backup" {
            assert!(
                text.contains("Example"),
                "`clawbake {top} --help` has no example"
            );
            checked += 1;
        }
        for sub in subs {
            let text = help(&[&top, &sub]);
            assert!(
                text.contains("Example"),
                "`clawbake {top} {sub} --help` has no example"
            );
            checked += 1;
        }
    }
    assert!(checked >= 18, "{checked} commands checked");
}

/// `build --json`: the summary a script reads, parsed here key by key.
#[test]
fn build_json_is_the_summary_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let json = json_in(dir.path(), &["build", "--json", "--out", "dist"]);
    assert_eq!(
        json["site"],
        serde_json::Value::Null,
        "the built-in example"
    );
    assert_eq!(json["name"], "openclaw");
    assert_eq!(json["build_id"].as_str().unwrap().len(), 64);
    assert_eq!(json["layers"][0], "layers/base.toml");
    let (host, stack) = (
        json["files"]["host"].as_u64().unwrap(),
        json["files"]["stack"].as_u64().unwrap(),
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("dist/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        usize::try_from(host + stack).unwrap(),
        manifest["files"].as_array().unwrap().len()
    );
    assert_eq!(
        json["user_data_bytes"].as_u64().unwrap(),
        std::fs::metadata(dir.path().join("dist/user-data"))
            .unwrap()
            .len()
    );
    // The providers whose box takes it: Hetzner's 32 KiB, not AWS's 16.
    let fits = json["user_data_fits"].as_array().unwrap();
    assert!(fits.contains(&"Hetzner Cloud".into()), "{fits:?}");
    assert!(!fits.contains(&"AWS EC2".into()), "{fits:?}");
    let budget = &json["budget"];
    let sum: u64 = budget["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mib"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, budget["total_mib"].as_u64().unwrap());
    assert_eq!(budget["fits"], true);
    assert!(!json["unpinned_images"].as_array().unwrap().is_empty());
    assert!(
        json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("built-in example")),
        "{json}"
    );
}

/// `explain --json`: each value under the key, where it was set and what
/// it overrode, parsed here.
#[test]
fn explain_json_names_each_value_and_its_layers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.toml"),
        site("claw.mydomain.net", "ssh_port = 2222\n"),
    )
    .unwrap();
    let json = json_in(dir.path(), &["explain", "firewall", "--json"]);
    assert_eq!(json["key"], "firewall");
    assert_eq!(json["layers"][0], "layers/base.toml");
    assert_eq!(
        json["layers"].as_array().unwrap().last().unwrap(),
        "site.toml"
    );
    let port = json["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == "firewall.ssh_port")
        .expect("ssh_port is under firewall");
    assert_eq!(port["value"], "2222");
    assert_eq!(port["set_in"], "site.toml:7:12");
    assert_eq!(port["overrides"][0]["was"], "9922");
    assert!(
        port["overrides"][0]["in"]
            .as_str()
            .unwrap()
            .starts_with("layers/base.toml:")
    );
}
