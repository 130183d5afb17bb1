//! `pin images`, `pin cloudflare`, `images save` and `build --locked`,
//! run as the binary against a real registry (Debian's `docker-registry`,
//! started per test on 127.0.0.1 and filled with images the test builds)
//! and against a stand-in server on 127.0.0.1 for the answers a real one
//! will not give on demand: 500, 404, silence, a lying digest, a token
//! challenge, Cloudflare's JSON. Every failure asserts the exact message,
//! the exit code, and that the lock files are byte for byte as they were.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::registry::{self, Pushed, Registry, noise, sha256};
use common::stub::{Reply, Request, Stub};

const STALE: i32 = 9;
const NETWORK: i32 = 10;
const BAD_INPUT: i32 = 3;

const SITE: &str = r#"[site]
domain = "agent.openclaw-host.net"

[ssh]
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL457cmlFdEw20vdsCn2uQjzu7M60nY1L275JJONFUyD a@b"]

[firewall]
admin_cidrs = ["203.0.113.7"]
"#;

/// The images the site above runs (the built-in defaults), with the
/// repository each lives in on a registry.
const IMAGES: &[(&str, &str, &str)] = &[
    ("caddy:2.11.4-alpine", "library/caddy", "2.11.4-alpine"),
    ("debian:bookworm-slim", "library/debian", "bookworm-slim"),
    ("docker:29.8.2-cli", "library/docker", "29.8.2-cli"),
    (
        "ghcr.io/berriai/litellm:v1.108.12",
        "berriai/litellm",
        "v1.108.12",
    ),
    (
        "ghcr.io/openclaw/openclaw:2026.2.15",
        "openclaw/openclaw",
        "2026.2.15",
    ),
    ("haproxy:3.0.26-alpine", "library/haproxy", "3.0.26-alpine"),
    (
        "ubuntu/squid:6.6-24.04_beta",
        "ubuntu/squid",
        "6.6-24.04_beta",
    ),
];

const HELP_NET: &str = "  = help: check the network, the name and the URL, then run the command again; no lock file was changed\n";
const HELP_DOWNLOAD: &str = "  = help: run the command again when the registry answers: verified blobs are cached and a cut download resumes where it stopped; no lock file was changed\n";

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Run {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("s")).unwrap();
        std::fs::write(dir.path().join("s/site.toml"), SITE).unwrap();
        Run { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_default()
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).unwrap();
    }

    fn clawbake_at(&self, now: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_clawbake"))
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("CLAWBAKE_NOW", now)
            .env("CLAWBAKE_CACHE_DIR", self.path("cache"))
            .env_remove("CLAWBAKE_REGISTRY_MIRRORS")
            .env_remove("CLAWBAKE_CLOUDFLARE_URL")
            .env_remove("CLAWBAKE_TIMEOUT")
            .output()
            .unwrap()
    }

    fn clawbake(&self, args: &[&str]) -> Output {
        self.clawbake_at("2026-11-25", args)
    }

    /// With the overrides in the environment instead of flags.
    fn clawbake_env(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawbake"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("CLAWBAKE_NOW", "2026-11-25")
            .env("CLAWBAKE_CACHE_DIR", self.path("cache"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

/// The mirror flags that send Docker Hub and ghcr.io to `url`.
fn mirrors(url: &str) -> Vec<String> {
    vec![
        "--registry-mirror".into(),
        format!("docker.io={url}"),
        "--registry-mirror".into(),
        format!("ghcr.io={url}"),
    ]
}

fn args<'a>(fixed: &[&'a str], extra: &'a [String]) -> Vec<&'a str> {
    fixed
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32, expected_stderr: &str) {
    assert_eq!(stderr(out), expected_stderr, "stdout: {}", stdout(out));
    assert_eq!(out.status.code(), Some(code));
}

#[track_caller]
fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

/// Push every image the site runs; `caddy` as a two-platform index.
fn push_site_images(reg: &Registry) -> BTreeMap<&'static str, Pushed> {
    IMAGES
        .iter()
        .zip(1u64..)
        .map(|((image, repo, tag), seed)| {
            let pushed = if *image == "caddy:2.11.4-alpine" {
                reg.push_multi_arch(repo, tag, seed)
            } else {
                reg.push_small(repo, Some(tag), "amd64", seed)
            };
            (*image, pushed)
        })
        .collect()
}

/// The lock `pin images` must write: sorted, with a header.
fn expected_lock(entries: &[(&str, &str, &str)]) -> String {
    let mut s = String::from(
        "# Image digests for this site, written by `clawbake pin images`: each tag\n\
         # pinned to its linux/amd64 manifest. `clawbake pin images --check` says\n\
         # whether the registries still agree; do not edit by hand.\n",
    );
    for (image, digest, at) in entries {
        let _ = write!(
            s,
            "\n[[images]]\nimage = \"{image}\"\ndigest = \"{digest}\"\nresolved_at = \"{at}\"\n"
        );
    }
    s
}

#[test]
fn pin_images_writes_each_tags_amd64_digest_and_check_follows_the_registry() {
    let Some(reg) = Registry::start() else { return };
    let pushed = push_site_images(&reg);
    let run = Run::new();
    let m = mirrors(&reg.url());

    let out = run.clawbake(&args(&["pin", "images", "s/site.toml"], &m));
    assert_ok(&out);
    let mut expected_out =
        String::from("pinned 7 images in s/images.lock (7 changed, 0 unchanged)\n");
    for (image, _, _) in IMAGES {
        let _ = writeln!(expected_out, "  + {image}  {}", pushed[image].digest);
    }
    assert_eq!(stdout(&out), expected_out);
    let entries: Vec<(&str, &str, &str)> = IMAGES
        .iter()
        .map(|(image, _, _)| (*image, pushed[image].digest.as_str(), "2026-11-25"))
        .collect();
    let lock = expected_lock(&entries);
    assert_eq!(String::from_utf8(run.read("s/images.lock")).unwrap(), lock);

    // Unchanged: the same bytes, and --check agrees.
    let out = run.clawbake_at("2026-11-30", &args(&["pin", "images", "s"], &m));
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "s/images.lock is up to date: 7 images at their registries\n"
    );
    assert_eq!(String::from_utf8(run.read("s/images.lock")).unwrap(), lock);
    let out = run.clawbake(&args(&["pin", "images", "s/site.toml", "--check"], &m));
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "s/images.lock matches 7 images at their registries\n"
    );

    // The tag moves: --check fails and leaves the lock alone.
    let moved = reg.push_multi_arch("library/caddy", "2.11.4-alpine", 99);
    let out = run.clawbake(&args(&["pin", "images", "s/site.toml", "--check"], &m));
    assert_exit(
        &out,
        STALE,
        &format!(
            "error: `s/images.lock` is stale; `pin images` would change:\n  ~ caddy:2.11.4-alpine  {} -> {}\n  = help: run `clawbake pin images s/site.toml` and review the change\n",
            pushed["caddy:2.11.4-alpine"].digest, moved.digest
        ),
    );
    assert_eq!(String::from_utf8(run.read("s/images.lock")).unwrap(), lock);

    // Pinning again moves that entry only; the others keep their date.
    let out = run.clawbake_at("2026-12-01", &args(&["pin", "images", "s/site.toml"], &m));
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "pinned 7 images in s/images.lock (1 changed, 6 unchanged)\n  ~ caddy:2.11.4-alpine  {} -> {}\n",
            pushed["caddy:2.11.4-alpine"].digest, moved.digest
        )
    );
    let entries: Vec<(&str, &str, &str)> = IMAGES
        .iter()
        .map(|(image, _, _)| {
            if *image == "caddy:2.11.4-alpine" {
                (*image, moved.digest.as_str(), "2026-12-01")
            } else {
                (*image, pushed[image].digest.as_str(), "2026-11-25")
            }
        })
        .collect();
    assert_eq!(
        String::from_utf8(run.read("s/images.lock")).unwrap(),
        expected_lock(&entries)
    );

    // And the bundle uses the pins.
    let out = run.clawbake(&["build", "s/site.toml", "--locked"]);
    assert_ok(&out);
    assert_eq!(stderr(&out), "");
    let compose = String::from_utf8(run.read("dist/release/stack/compose.yaml")).unwrap();
    assert!(
        compose.contains(&format!("caddy:2.11.4-alpine@{}", moved.digest)),
        "{compose}"
    );
}

/// The image set holds each pushed image: docker's manifest.json with its
/// config and layers, every blob named by its sha256, layers that ungzip
/// to their diff ids, and an OCI index naming the pinned manifests.
/// Provision to a throwaway host streams the shipped archive there once.
fn provision_ships_the_archive(run: &Run, sha: &str, archive: &[u8]) {
    let ubuntu = ("ubuntu", "24.04", "Ubuntu 24.04.3 LTS");
    let Some(host) = common::fakehost::FakeHost::start(ubuntu) else {
        return;
    };
    let target = host.host_arg("root");
    let mut line = vec![
        "provision",
        "s/site.toml",
        "--host",
        &target,
        "--log",
        "run.log",
    ];
    let ssh = host.ssh_args();
    line.extend(ssh.iter().map(String::as_str));
    let out = run.clawbake(&line);
    // The fake host has no apt: the first step fails, after the upload.
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("uploading the image set (")
            && stderr(&out).contains(" MiB, 7 images)\n"),
        "{}",
        stderr(&out)
    );
    let on_host = host.on_host(&format!("/var/lib/clawbake/images/{sha}.tar"));
    assert_eq!(std::fs::read(on_host).unwrap(), archive);
    // A second run finds it there and does not send it again.
    let again = run.clawbake(&line);
    assert_eq!(again.status.code(), Some(6), "{}", stderr(&again));
    assert!(
        !stderr(&again).contains("uploading the image set"),
        "{}",
        stderr(&again)
    );
}

fn check_archive(archive: &std::path::Path, pushed: &BTreeMap<&'static str, Pushed>) {
    let entries: BTreeMap<String, Vec<u8>> = registry::tar_entries(archive).into_iter().collect();
    // Every blob is named by the sha256 of its bytes.
    for (name, data) in &entries {
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            assert_eq!(sha256(data), format!("sha256:{hex}"), "{name}");
        }
    }
    // docker's manifest.json: each image by its tag, its config and layers as pushed.
    let manifest: serde_json::Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
    let manifest = manifest.as_array().unwrap();
    assert_eq!(manifest.len(), 7);
    for (image, _, _) in IMAGES {
        let entry = manifest
            .iter()
            .find(|e| e["RepoTags"][0] == *image)
            .unwrap_or_else(|| panic!("{image} is not in manifest.json"));
        let p = &pushed[image];
        let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
        assert_eq!(entry["Config"], blob(&p.config));
        let layers: Vec<String> = p.layers.iter().map(|l| blob(l)).collect();
        assert_eq!(entry["Layers"], serde_json::json!(layers));
        // What docker load checks: each layer, ungzipped, hashes to its diff id.
        let config: serde_json::Value = serde_json::from_slice(&entries[&blob(&p.config)]).unwrap();
        for (n, layer) in layers.iter().enumerate() {
            let mut tar = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(entries[layer].as_slice()),
                &mut tar,
            )
            .unwrap();
            assert_eq!(config["rootfs"]["diff_ids"][n], sha256(&tar));
        }
        assert_eq!(
            entries[&blob(&p.digest)],
            p.manifest,
            "the manifest blob of {image}"
        );
    }
    // The OCI index names each image by the digest the lock pins.
    let index: serde_json::Value = serde_json::from_slice(&entries["index.json"]).unwrap();
    let held: BTreeMap<String, String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["annotations"]["io.containerd.image.name"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                m["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        held["docker.io/library/caddy:2.11.4-alpine"],
        pushed["caddy:2.11.4-alpine"].digest
    );
    assert_eq!(
        held["ghcr.io/openclaw/openclaw:2026.2.15"],
        pushed["ghcr.io/openclaw/openclaw:2026.2.15"].digest
    );
    assert_eq!(held.len(), 7);
    assert_eq!(entries["oci-layout"], br#"{"imageLayoutVersion":"1.0.0"}"#);
}

/// A second reader of the format, containers/image (`skopeo`), through
/// both doors: docker's `manifest.json` (copying verifies every blob and
/// diff id), and the OCI index, which must give back the pushed manifest.
fn read_with_skopeo(run: &Run, pushed: &BTreeMap<&'static str, Pushed>) {
    let Some(skopeo) = common::tool("skopeo") else {
        return;
    };
    let archive = run.path("s/images.tar");
    for (n, (image, _, tag)) in IMAGES.iter().enumerate() {
        let dest = run.path(&format!("skopeo-{n}"));
        common::run_ok(
            Command::new(&skopeo).args([
                "--insecure-policy",
                "copy",
                "--quiet",
                &format!("docker-archive:{}:{image}", archive.display()),
                &format!("dir:{}", dest.display()),
            ]),
            &format!("skopeo copy of {image}"),
        );
        let raw = common::run_ok(
            Command::new(&skopeo).args([
                "inspect",
                "--raw",
                &format!("oci-archive:{}:{tag}", archive.display()),
            ]),
            &format!("skopeo inspect of {image}"),
        );
        assert_eq!(raw.as_bytes(), pushed[image].manifest.as_slice(), "{image}");
    }
}

#[test]
fn images_save_writes_the_pinned_blobs_verified_and_build_ships_them() {
    let Some(reg) = Registry::start() else { return };
    let pushed = push_site_images(&reg);
    let run = Run::new();
    let m = mirrors(&reg.url());
    assert_ok(&run.clawbake(&args(&["pin", "images", "s/site.toml"], &m)));

    let out = run.clawbake(&args(&["images", "save", "s/site.toml"], &m));
    assert_ok(&out);
    let first_line = stdout(&out).lines().next().unwrap_or("").to_owned();
    assert!(
        first_line.starts_with("saved 7 images (14 blobs, ")
            && first_line.ends_with(" into s/images.tar"),
        "{first_line}"
    );

    check_archive(&run.path("s/images.tar"), &pushed);
    read_with_skopeo(&run, &pushed);

    // Saving again reuses the cache and gives the same bytes.
    let archive = run.read("s/images.tar");
    assert_ok(&run.clawbake(&args(&["images", "save", "s"], &m)));
    assert_eq!(run.read("s/images.tar"), archive);

    // Not shipped: the bundle has no image set.
    assert_ok(&run.clawbake(&["build", "s/site.toml"]));
    assert!(!run.path("dist/images.tar").exists());
    assert!(
        !String::from_utf8(run.read("dist/manifest.json"))
            .unwrap()
            .contains("image_set")
    );

    // Shipped: dist/images.tar is the archive, and the manifest names it.
    run.write("s/site.toml", &format!("{SITE}\n[images]\nship = true\n"));
    assert_ok(&run.clawbake(&["build", "s/site.toml", "--locked"]));
    assert_eq!(run.read("dist/images.tar"), archive);
    let manifest: serde_json::Value =
        serde_json::from_slice(&run.read("dist/manifest.json")).unwrap();
    let set = &manifest["image_set"];
    assert_eq!(set["file"], "images.tar");
    assert_eq!(
        format!("sha256:{}", set["sha256"].as_str().unwrap()),
        sha256(&archive)
    );
    assert_eq!(set["size"], archive.len());
    assert_eq!(set["images"].as_array().unwrap().len(), 7);
    assert!(
        set["images"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(format!(
                "caddy:2.11.4-alpine@{}",
                pushed["caddy:2.11.4-alpine"].digest
            )))
    );

    // Provision ships it: streamed to the host before the steps, and the
    // daemon set to the image store that keeps shipped digests.
    let daemon: serde_json::Value =
        serde_json::from_slice(&run.read("dist/release/host/etc/docker/daemon.json")).unwrap();
    assert_eq!(daemon["features"]["containerd-snapshotter"], true);
    provision_ships_the_archive(&run, set["sha256"].as_str().unwrap(), &archive);

    // The archive no longer matches the lock: build refuses.
    let moved = reg.push_small("library/debian", Some("bookworm-slim"), "amd64", 77);
    assert_ok(&run.clawbake(&args(&["pin", "images", "s/site.toml"], &m)));
    let dist_manifest = run.read("dist/manifest.json");
    let out = run.clawbake(&["build", "s/site.toml"]);
    assert_exit(
        &out,
        STALE,
        &format!(
            "error: `s/images.tar` does not hold exactly the pinned images:\n  missing  docker.io/library/debian:bookworm-slim@{}\n  extra    docker.io/library/debian:bookworm-slim@{}\n  = help: run `clawbake images save s/site.toml`, or set `images.ship = false`\n",
            moved.digest, pushed["debian:bookworm-slim"].digest
        ),
    );
    assert_eq!(
        run.read("dist/manifest.json"),
        dist_manifest,
        "dist/ changed"
    );

    // No archive at all.
    std::fs::remove_file(run.path("s/images.tar")).unwrap();
    let out = run.clawbake(&["build", "s/site.toml"]);
    assert_exit(
        &out,
        STALE,
        "error: `images.ship` is true but there is no image set at `s/images.tar`\n  = help: run `clawbake images save s/site.toml`, or set `images.ship = false`\n",
    );
}

#[test]
fn a_tag_without_a_linux_amd64_image_is_refused() {
    let Some(reg) = Registry::start() else { return };
    push_site_images(&reg);
    // debian's tag now names a single arm64 image.
    reg.push_small("library/debian", Some("bookworm-slim"), "arm64", 50);
    let run = Run::new();
    let m = mirrors(&reg.url());
    let out = run.clawbake(&args(&["pin", "images", "s/site.toml"], &m));
    assert_exit(
        &out,
        BAD_INPUT,
        &format!(
            "error: resolving `debian:bookworm-slim` at 127.0.0.1:{}: the tag names a single linux/arm64 image, not linux/amd64\n  = help: choose a tag that is published for linux/amd64\n",
            reg.port
        ),
    );
    assert!(!run.path("s/images.lock").exists());
}

#[test]
fn build_locked_refuses_unpinned_images_and_unused_pins() {
    let run = Run::new();
    let out = run.clawbake(&["build", "s/site.toml", "--locked"]);
    let mut expected = String::from(
        "error: 7 of the site's images are not pinned, and `--locked` does not build by tag",
    );
    for (image, _, _) in IMAGES {
        let _ = write!(expected, "\n  unpinned  {image}");
    }
    expected.push_str(
        "\n  = help: run `clawbake pin images s/site.toml`, review the change, then build again\n",
    );
    assert_exit(&out, STALE, &expected);
    assert!(!run.path("dist").exists(), "dist/ was written");

    // Every image pinned, plus one the site no longer runs.
    let digest = |n: u8| format!("sha256:{}", format!("{n:x}").repeat(64));
    let mut entries: Vec<(&str, String, &str)> = IMAGES
        .iter()
        .zip(1u8..)
        .map(|((image, _, _), n)| (*image, digest(n), "2026-11-25"))
        .collect();
    entries.insert(0, ("ancient:1", digest(9), "2026-01-01"));
    let lock: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|(i, d, a)| (*i, d.as_str(), *a))
        .collect();
    run.write("s/images.lock", &expected_lock(&lock));
    let out = run.clawbake(&["build", "s/site.toml", "--locked"]);
    assert_exit(
        &out,
        STALE,
        &format!(
            "error: `s/images.lock` is stale: it pins images the site no longer runs\n  unused    ancient:1  {}\n  = help: run `clawbake pin images s/site.toml`, review the change, then build again\n",
            digest(9)
        ),
    );
    // Without --locked the same site builds (and pins what it can).
    assert_ok(&run.clawbake(&["build", "s/site.toml"]));
}

#[test]
fn pin_needs_a_site_of_its_own_and_plain_http_only_to_loopback() {
    let run = Run::new();
    let out = run.clawbake(&["pin", "images"]);
    assert_exit(
        &out,
        BAD_INPUT,
        "error: `clawbake pin images` writes beside a site file, and there is no site here (the built-in example has no directory)\n  = help: run `clawbake init DIR` first, then `clawbake pin images` in DIR (or pass DIR/site.toml)\n",
    );
    let out = run.clawbake(&[
        "pin",
        "images",
        "s",
        "--registry-mirror",
        "docker.io=http://10.0.0.1:5000",
    ]);
    assert_exit(
        &out,
        BAD_INPUT,
        "error: invalid registry mirror `docker.io=http://10.0.0.1:5000`: plain `http://` is only allowed for loopback addresses; use `https://` for `10.0.0.1`\n  = help: write `REGISTRY=URL`, e.g. `docker.io=https://mirror.example.com`\n",
    );
    let out = run.clawbake(&[
        "pin",
        "cloudflare",
        "s",
        "--cloudflare-url",
        "http://api.example.com/ips",
    ]);
    assert_exit(
        &out,
        BAD_INPUT,
        "error: invalid Cloudflare API URL: plain `http://` is only allowed for loopback addresses; use `https://` for `api.example.com`\n  = help: leave it unset for `https://api.cloudflare.com/client/v4/ips`\n",
    );
    assert!(!run.path("s/images.lock").exists());
    assert!(!run.path("s/cloudflare.lock").exists());
}

// ---------------------------------------------------------------------------
// A registry that misbehaves on demand.

/// The config every stand-in image has.
const STUB_CONFIG: &[u8] =
    br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;

/// A small valid image manifest and its digest.
fn stub_manifest() -> (Vec<u8>, String) {
    let config = sha256(STUB_CONFIG);
    let layer = format!("sha256:{}", "d".repeat(64));
    let m = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": registry::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": STUB_CONFIG.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": 3}],
    }))
    .unwrap();
    let d = sha256(&m);
    (m, d)
}

fn manifest_reply(bytes: &[u8], media_type: &str) -> Reply {
    let digest = sha256(bytes);
    Reply::with(
        200,
        &[
            ("content-type", media_type),
            ("docker-content-digest", &digest),
        ],
        bytes.to_vec(),
    )
}

/// Serve a good manifest for every tag, except where `special` answers.
fn registry_stub(special: impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static) -> Stub {
    let (manifest, _) = stub_manifest();
    Stub::start(move |req| {
        if let Some(reply) = special(req) {
            return reply;
        }
        if req.path.contains("/manifests/") {
            manifest_reply(&manifest, registry::OCI_MANIFEST)
        } else if req.path.ends_with(&sha256(STUB_CONFIG)) {
            Reply::with(200, &[], STUB_CONFIG.to_vec())
        } else {
            Reply::status(404, "{}")
        }
    })
}

/// A run with an images.lock already in place, to prove failures keep it.
fn run_with_lock() -> (Run, Vec<u8>) {
    let run = Run::new();
    let lock = expected_lock(&[(
        "caddy:2.11.4-alpine",
        &format!("sha256:{}", "e".repeat(64)),
        "2026-01-01",
    )]);
    run.write("s/images.lock", &lock);
    (run, lock.into_bytes())
}

#[test]
fn a_registry_answering_500_fails_pin_with_the_url_and_keeps_the_lock() {
    let stub = registry_stub(|_| Some(Reply::status(500, "oops")));
    let (run, lock) = run_with_lock();
    // The mirrors from the environment this time.
    let env = format!("docker.io={url}, ghcr.io={url}", url = stub.url());
    let out = run.clawbake_env(
        &[("CLAWBAKE_REGISTRY_MIRRORS", &env)],
        &["pin", "images", "s/site.toml"],
    );
    let url = stub.url();
    assert_exit(
        &out,
        NETWORK,
        &format!(
            "error: resolving `caddy:2.11.4-alpine` at 127.0.0.1:{port}: {url}/v2/library/caddy/manifests/2.11.4-alpine answered 500 Internal Server Error\n{HELP_NET}",
            port = stub.port
        ),
    );
    assert_eq!(run.read("s/images.lock"), lock);
}

#[test]
fn an_unknown_tag_fails_pin_with_the_registrys_own_error() {
    let stub = registry_stub(|req| {
        req.path.contains("/library/caddy/").then(|| {
            Reply::status(
                404,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"2.11.4-alpine"}}]}"#,
            )
        })
    });
    let (run, lock) = run_with_lock();
    let out = run.clawbake(&args(
        &["pin", "images", "s/site.toml", "--check"],
        &mirrors(&stub.url()),
    ));
    assert_exit(
        &out,
        NETWORK,
        &format!(
            "error: resolving `caddy:2.11.4-alpine` at 127.0.0.1:{}: {}/v2/library/caddy/manifests/2.11.4-alpine answered 404 Not Found (MANIFEST_UNKNOWN: manifest unknown)\n{HELP_NET}",
            stub.port,
            stub.url()
        ),
    );
    assert_eq!(run.read("s/images.lock"), lock);
}

#[test]
fn a_silent_registry_times_out() {
    let stub = registry_stub(|_| Some(Reply::Hang(Duration::from_secs(5))));
    let (run, lock) = run_with_lock();
    let m = mirrors(&stub.url());
    let started = std::time::Instant::now();
    let out = run.clawbake_env(
        &[("CLAWBAKE_TIMEOUT", "0.5")],
        &args(&["pin", "images", "s/site.toml"], &m),
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_exit(
        &out,
        NETWORK,
        &format!(
            "error: resolving `caddy:2.11.4-alpine` at 127.0.0.1:{}: {}/v2/library/caddy/manifests/2.11.4-alpine did not answer within 500 ms\n{HELP_NET}",
            stub.port,
            stub.url()
        ),
    );
    assert_eq!(run.read("s/images.lock"), lock);
}

#[test]
fn a_manifest_whose_bytes_do_not_match_its_digest_is_refused() {
    // The index names an amd64 manifest by digest; the registry serves
    // other bytes under that digest.
    let (good, good_digest) = stub_manifest();
    let mut forged = good.clone();
    forged.extend_from_slice(b"\n");
    let forged_digest = sha256(&forged);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": registry::OCI_INDEX,
        "manifests": [{"mediaType": registry::OCI_MANIFEST, "digest": good_digest, "size": good.len(),
                       "platform": {"os": "linux", "architecture": "amd64"}}],
    }))
    .unwrap();
    let served = good_digest.clone();
    let stub = registry_stub(move |req| {
        if req.path.ends_with("/library/caddy/manifests/2.11.4-alpine") {
            return Some(manifest_reply(&index, registry::OCI_INDEX));
        }
        req.path
            .ends_with(&format!("/library/caddy/manifests/{served}"))
            .then(|| {
                Reply::with(
                    200,
                    &[("content-type", registry::OCI_MANIFEST)],
                    forged.clone(),
                )
            })
    });
    let (run, lock) = run_with_lock();
    let out = run.clawbake(&args(
        &["pin", "images", "s/site.toml"],
        &mirrors(&stub.url()),
    ));
    assert_exit(
        &out,
        NETWORK,
        &format!(
            "error: resolving `caddy:2.11.4-alpine` at 127.0.0.1:{port}: the manifest from {url}/v2/library/caddy/manifests/{good_digest} does not match its digest: expected `{good_digest}`, its content hashes to `{forged_digest}`\n{HELP_NET}",
            port = stub.port,
            url = stub.url()
        ),
    );
    assert_eq!(run.read("s/images.lock"), lock);
}

#[test]
fn a_bearer_challenge_is_answered_with_a_token_from_its_realm() {
    let (manifest, digest) = stub_manifest();
    let stub = {
        // The realm is the stub itself, named by the Host it was asked on.
        Stub::start(move |req| {
            if req.path.starts_with("/token?") {
                return Reply::json(r#"{"token":"t0k3n","expires_in":300}"#);
            }
            if req.header("authorization") != Some("Bearer t0k3n") {
                let host = req.header("host").unwrap_or("");
                let repo = req
                    .path
                    .trim_start_matches("/v2/")
                    .split("/manifests/")
                    .next()
                    .and_then(|r| r.split("/blobs/").next())
                    .unwrap_or("");
                let challenge = format!(
                    r#"Bearer realm="http://{host}/token",service="stub.test",scope="repository:{repo}:pull""#
                );
                return Reply::with(401, &[("www-authenticate", &challenge)], b"{}".to_vec());
            }
            if req.path.contains("/blobs/") {
                return Reply::with(200, &[], STUB_CONFIG.to_vec());
            }
            manifest_reply(&manifest, registry::OCI_MANIFEST)
        })
    };
    let run = Run::new();
    let out = run.clawbake(&args(
        &["pin", "images", "s/site.toml"],
        &mirrors(&stub.url()),
    ));
    assert_ok(&out);
    let lock = String::from_utf8(run.read("s/images.lock")).unwrap();
    assert_eq!(lock.matches(&digest).count(), 7, "{lock}");
    let requests = stub.requests();
    let tokens: Vec<&Request> = requests
        .iter()
        .filter(|r| r.path.starts_with("/token?"))
        .collect();
    assert!(
        tokens.iter().any(|r| r.path == "/token?service=stub.test&scope=repository%3Alibrary%2Fcaddy%3Apull"),
        "{tokens:?}"
    );
    // Each repository asked for its token once, and used it.
    assert_eq!(tokens.len(), 7);
    assert!(
        requests
            .iter()
            .filter(|r| r.path.contains("/manifests/"))
            .any(|r| r.header("authorization") == Some("Bearer t0k3n"))
    );
}

// ---------------------------------------------------------------------------
// images save against a stand-in: resuming, and a blob that lies.

/// A site whose seven images all pin one stub image.
fn save_stub(layer_bytes: Vec<u8>, config_bytes: Vec<u8>) -> (Stub, String, String) {
    let config = sha256(&config_bytes);
    let layer = sha256(&layer_bytes);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": registry::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_bytes.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_bytes.len()}],
    }))
    .unwrap();
    let digest = sha256(&manifest);
    let (c, l) = (config.clone(), layer.clone());
    let stub = Stub::start(move |req| {
        if req.path.contains("/manifests/") {
            return manifest_reply(&manifest, registry::OCI_MANIFEST);
        }
        let body = if req.path.ends_with(&c) {
            config_bytes.clone()
        } else if req.path.ends_with(&l) {
            layer_bytes.clone()
        } else {
            return Reply::status(404, "{}");
        };
        match req.header("range").and_then(|r| r.strip_prefix("bytes=")) {
            Some(range) => {
                let from: usize = range.trim_end_matches('-').parse().unwrap();
                let range = format!("bytes {from}-{}/{}", body.len() - 1, body.len());
                Reply::with(206, &[("content-range", &range)], body[from..].to_vec())
            }
            None => Reply::with(200, &[], body),
        }
    });
    (stub, digest, layer)
}

fn pin_all_to(run: &Run, digest: &str) {
    let entries: Vec<(&str, &str, &str)> = IMAGES
        .iter()
        .map(|(i, _, _)| (*i, digest, "2026-11-25"))
        .collect();
    run.write("s/images.lock", &expected_lock(&entries));
}

#[test]
fn images_save_resumes_a_partial_download_with_a_range_request() {
    let layer_bytes = noise(5, 256 * 1024);
    let (stub, digest, layer) = save_stub(layer_bytes.clone(), b"{}".to_vec());
    let run = Run::new();
    pin_all_to(&run, &digest);
    // What an interrupted run left behind: the first 100 000 bytes.
    let hex = layer.trim_start_matches("sha256:");
    std::fs::create_dir_all(run.path("cache")).unwrap();
    std::fs::write(
        run.path(&format!("cache/{hex}.partial")),
        &layer_bytes[..100_000],
    )
    .unwrap();

    let out = run.clawbake(&args(
        &["images", "save", "s/site.toml"],
        &mirrors(&stub.url()),
    ));
    assert_ok(&out);
    let ranged: Vec<Request> = stub
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(&layer))
        .collect();
    assert_eq!(ranged.len(), 1, "{ranged:?}");
    assert_eq!(ranged[0].header("range"), Some("bytes=100000-"));
    assert_eq!(
        std::fs::read(run.path(&format!("cache/{hex}"))).unwrap(),
        layer_bytes
    );
    assert!(!run.path(&format!("cache/{hex}.partial")).exists());
    let entries: BTreeMap<String, Vec<u8>> = registry::tar_entries(&run.path("s/images.tar"))
        .into_iter()
        .collect();
    assert_eq!(entries[&format!("blobs/sha256/{hex}")], layer_bytes);
}

#[test]
fn a_download_cut_short_is_kept_and_resumed_by_the_next_run() {
    let layer_bytes = noise(7, 300_000);
    let layer = sha256(&layer_bytes);
    let (manifest, _) = stub_manifest();
    // The manifest names this layer.
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let mut manifest = manifest;
    manifest["layers"][0]["digest"] = serde_json::json!(layer);
    manifest["layers"][0]["size"] = serde_json::json!(layer_bytes.len());
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let digest = sha256(&manifest);
    let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let stub = {
        let (layer, layer_bytes, cut) = (layer.clone(), layer_bytes.clone(), cut.clone());
        Stub::start(move |req| {
            if req.path.contains("/manifests/") {
                return manifest_reply(&manifest, registry::OCI_MANIFEST);
            }
            if !req.path.ends_with(&layer) {
                return Reply::with(200, &[], STUB_CONFIG.to_vec());
            }
            if cut.load(std::sync::atomic::Ordering::SeqCst) {
                return Reply::Cut {
                    length: layer_bytes.len(),
                    body: layer_bytes[..120_000].to_vec(),
                };
            }
            let from: usize = req
                .header("range")
                .and_then(|r| r.strip_prefix("bytes="))
                .map_or(0, |r| r.trim_end_matches('-').parse().unwrap());
            let range = format!(
                "bytes {from}-{}/{}",
                layer_bytes.len() - 1,
                layer_bytes.len()
            );
            Reply::with(
                206,
                &[("content-range", &range)],
                layer_bytes[from..].to_vec(),
            )
        })
    };
    let run = Run::new();
    pin_all_to(&run, &digest);
    let m = mirrors(&stub.url());
    let out = run.clawbake(&args(&["images", "save", "s/site.toml"], &m));
    let prefix = format!(
        "error: downloading `{layer}` of `caddy:2.11.4-alpine` from 127.0.0.1:{}: fetching {}/v2/library/caddy/blobs/{layer} failed (",
        stub.port,
        stub.url()
    );
    assert!(stderr(&out).starts_with(&prefix), "{}", stderr(&out));
    assert!(stderr(&out).ends_with(HELP_DOWNLOAD), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(NETWORK));
    assert!(!run.path("s/images.tar").exists());
    let hex = layer.trim_start_matches("sha256:");
    let partial = run.path(&format!("cache/{hex}.partial"));
    assert_eq!(std::fs::read(&partial).unwrap(), &layer_bytes[..120_000]);

    cut.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_ok(&run.clawbake(&args(&["images", "save", "s/site.toml"], &m)));
    let last = stub
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with(&layer))
        .unwrap();
    assert_eq!(last.header("range"), Some("bytes=120000-"));
    assert!(!partial.exists());
    assert_eq!(
        std::fs::read(run.path(&format!("cache/{hex}"))).unwrap(),
        layer_bytes
    );
}

#[test]
fn images_save_refuses_a_blob_that_does_not_match_its_digest() {
    let layer_bytes = noise(6, 10_000);
    // The manifest names the real layer; the server sends other bytes.
    let mut other = layer_bytes.clone();
    other[0] ^= 1;
    let (stub, digest, layer) = save_stub_with(&layer_bytes, other.clone());
    let run = Run::new();
    pin_all_to(&run, &digest);
    run.write("s/images.tar", "the previous archive");
    let out = run.clawbake(&args(
        &["images", "save", "s/site.toml"],
        &mirrors(&stub.url()),
    ));
    assert_exit(
        &out,
        NETWORK,
        &format!(
            "error: downloading `{layer}` of `caddy:2.11.4-alpine` from 127.0.0.1:{}: the blob from {}/v2/library/caddy/blobs/{layer} does not match its digest: its 10000 bytes hash to `{}`\n{HELP_DOWNLOAD}",
            stub.port,
            stub.url(),
            sha256(&other)
        ),
    );
    assert_eq!(run.read("s/images.tar"), b"the previous archive");
    let hex = layer.trim_start_matches("sha256:");
    assert!(!run.path(&format!("cache/{hex}")).exists());
    assert!(!run.path(&format!("cache/{hex}.partial")).exists());
}

#[test]
fn images_save_stops_a_blob_longer_than_its_manifest_says() {
    let layer_bytes = noise(8, 10_000);
    let mut longer = layer_bytes.clone();
    longer.extend_from_slice(&noise(9, 5_000));
    let (stub, digest, layer) = save_stub_with(&layer_bytes, longer);
    let run = Run::new();
    pin_all_to(&run, &digest);
    let out = run.clawbake(&args(
        &["images", "save", "s/site.toml"],
        &mirrors(&stub.url()),
    ));
    assert_exit(
        &out,
        NETWORK,
        &format!(
            "error: downloading `{layer}` of `caddy:2.11.4-alpine` from 127.0.0.1:{}: {}/v2/library/caddy/blobs/{layer} sent more than the 10000 bytes the manifest declares\n{HELP_DOWNLOAD}",
            stub.port,
            stub.url(),
        ),
    );
    let hex = layer.trim_start_matches("sha256:");
    assert!(!run.path(&format!("cache/{hex}.partial")).exists());
    assert!(!run.path("s/images.tar").exists());
}

/// Like [`save_stub`], but the layer served is `served`, not `named`.
fn save_stub_with(named: &[u8], served: Vec<u8>) -> (Stub, String, String) {
    let layer = sha256(named);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": registry::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(b"{}"), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": named.len()}],
    }))
    .unwrap();
    let digest = sha256(&manifest);
    let l = layer.clone();
    let stub = Stub::start(move |req| {
        if req.path.contains("/manifests/") {
            manifest_reply(&manifest, registry::OCI_MANIFEST)
        } else if req.path.ends_with(&l) {
            Reply::with(200, &[], served.clone())
        } else {
            Reply::with(200, &[], b"{}".to_vec())
        }
    });
    (stub, digest, layer)
}

// ---------------------------------------------------------------------------
// Cloudflare's API.

const CF_OK: &str = r#"{"result":{"ipv4_cidrs":["173.245.48.0/20","103.21.244.0/22","198.51.100.0/24"],"ipv6_cidrs":["2400:cb00::/32","2606:4700::/32"],"etag":"abc"},"success":true,"errors":[],"messages":[]}"#;

fn cloudflare_stub(reply: impl Fn() -> Reply + Send + Sync + 'static) -> Stub {
    Stub::start(move |req| {
        if req.path == "/client/v4/ips" {
            reply()
        } else {
            Reply::status(404, "{}")
        }
    })
}

#[test]
fn pin_cloudflare_writes_sorted_ranges_and_shows_what_changed() {
    let stub = cloudflare_stub(|| Reply::json(CF_OK));
    let run = Run::new();
    let url = format!("{}/client/v4/ips", stub.url());
    let out = run.clawbake(&["pin", "cloudflare", "s/site.toml", "--cloudflare-url", &url]);
    assert_ok(&out);
    // Compared with the built-in lock: one range added, many removed.
    let out_text = stdout(&out);
    assert!(out_text.starts_with("wrote s/cloudflare.lock: 5 ranges as of 2026-11-25\n  + 198.51.100.0/24\n  - 103.22.200.0/22\n"), "{out_text}");
    assert!(out_text.contains("  - 2a06:98c0::/29\n"), "{out_text}");
    assert!(!out_text.contains("173.245.48.0/20"), "{out_text}");
    let lock = String::from_utf8(run.read("s/cloudflare.lock")).unwrap();
    assert_eq!(
        lock,
        format!(
            "# Cloudflare's published IP ranges: the only sources allowed to reach the\n\
             # ports the ingress publishes. Written by `clawbake pin cloudflare`, which\n\
             # shows what changed; do not edit by hand.\n\
             source = \"{url}\"\nas_of = \"2026-11-25\"\n\
             ipv4 = [\n  \"103.21.244.0/22\",\n  \"173.245.48.0/20\",\n  \"198.51.100.0/24\",\n]\n\
             ipv6 = [\n  \"2400:cb00::/32\",\n  \"2606:4700::/32\",\n]\n"
        )
    );
    // The build reads the site's own copy.
    assert_ok(&run.clawbake(&["build", "s/site.toml"]));
    let manifest = String::from_utf8(run.read("dist/manifest.json")).unwrap();
    assert!(
        manifest.contains("\"cloudflare_ranges_as_of\": \"2026-11-25\""),
        "{manifest}"
    );

    // Again, the same answer (the URL from the environment): nothing added or removed.
    let out = run.clawbake_env(
        &[
            ("CLAWBAKE_CLOUDFLARE_URL", &url),
            ("CLAWBAKE_NOW", "2026-11-26"),
        ],
        &["pin", "cloudflare", "s"],
    );
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "wrote s/cloudflare.lock: 5 ranges as of 2026-11-26\n  no range added or removed\n"
    );
}

/// `pin cloudflare` against `reply`: the exact error, exit 10, lock kept.
fn cloudflare_refused(reply: impl Fn() -> Reply + Send + Sync + 'static, detail: &str, help: &str) {
    let stub = cloudflare_stub(reply);
    let run = Run::new();
    let kept = "source = \"x\"\nas_of = \"2026-01-01\"\nipv4 = [\"173.245.48.0/20\"]\nipv6 = [\"2400:cb00::/32\"]\n";
    run.write("s/cloudflare.lock", kept);
    let url = format!("{}/client/v4/ips", stub.url());
    let out = run.clawbake(&[
        "pin",
        "cloudflare",
        "s/site.toml",
        "--cloudflare-url",
        &url,
        "--timeout",
        "0.5",
    ]);
    let detail = detail.replace("URL", &url);
    assert_exit(
        &out,
        NETWORK,
        &format!("error: fetching Cloudflare's ranges from {url}: {detail}\n  = help: {help}\n"),
    );
    assert_eq!(
        String::from_utf8(run.read("s/cloudflare.lock")).unwrap(),
        kept
    );
}

const CF_HELP: &str = "the lock was left as it was; check the URL, or try again later";
const NET_HELP: &str =
    "check the network, the name and the URL, then run the command again; no lock file was changed";

#[test]
fn pin_cloudflare_refuses_failures_and_suspicious_answers() {
    cloudflare_refused(
        || Reply::status(500, "{}"),
        "URL answered 500 Internal Server Error",
        NET_HELP,
    );
    cloudflare_refused(
        || Reply::Hang(Duration::from_secs(5)),
        "URL did not answer within 500 ms",
        NET_HELP,
    );
    cloudflare_refused(
        || {
            Reply::json(
                r#"{"result":{"ipv4_cidrs":[],"ipv6_cidrs":["2400:cb00::/32"]},"success":true,"errors":[],"messages":[]}"#,
            )
        },
        "the answer lists no IPv4 ranges; refusing an empty firewall allow-list",
        CF_HELP,
    );
    cloudflare_refused(
        || {
            Reply::json(
                r#"{"result":{"ipv4_cidrs":["173.245.48.0/20","0.0.0.0/0"],"ipv6_cidrs":["2400:cb00::/32"]},"success":true,"errors":[],"messages":[]}"#,
            )
        },
        "`0.0.0.0/0` is broader than /8; refusing a range that would open the firewall to much of the internet",
        CF_HELP,
    );
    cloudflare_refused(
        || {
            Reply::json(
                r#"{"result":null,"success":false,"errors":[{"code":10000,"message":"no"}],"messages":[]}"#,
            )
        },
        "the API answered `success: false`",
        CF_HELP,
    );
}

// ---------------------------------------------------------------------------
// Throughput, for the README: `just bench-images`.

#[test]
#[ignore = "a measurement, not a check: just bench-images"]
fn images_save_throughput() {
    let Some(reg) = Registry::start() else { return };
    let Some(curl) = common::tool("curl") else {
        return;
    };
    // 100 MB in four layers of random bytes, gzip-framed but stored, so the
    // bytes on the wire are the bytes of the image.
    let layers: Vec<_> = (0..4)
        .map(|n| {
            registry::layer(
                "data.bin",
                &noise(100 + n, 25_000_000),
                flate2::Compression::none(),
            )
        })
        .collect();
    let big = reg.push_image("library/caddy", Some("2.11.4-alpine"), "amd64", &layers);
    for (image, repo, tag) in IMAGES.iter().skip(1) {
        let _ = image;
        reg.push_small(repo, Some(tag), "amd64", 1);
    }
    let run = Run::new();
    let m = mirrors(&reg.url());
    assert_ok(&run.clawbake(&args(&["pin", "images", "s/site.toml"], &m)));
    let bytes: u64 = layers.iter().map(|(gz, _)| gz.len() as u64).sum();
    #[allow(clippy::cast_precision_loss)]
    let mb = bytes as f64 / 1e6;

    let started = std::time::Instant::now();
    assert_ok(&run.clawbake(&args(&["images", "save", "s/site.toml"], &m)));
    let save = started.elapsed().as_secs_f64();

    let started = std::time::Instant::now();
    assert_ok(&run.clawbake(&args(&["images", "save", "s/site.toml"], &m)));
    let warm = started.elapsed().as_secs_f64();

    let out = run.path("curl");
    std::fs::create_dir_all(&out).unwrap();
    let mut cmd = Command::new(curl);
    cmd.args(["-sS", "--fail", "--parallel", "--parallel-max", "4"]);
    for digest in &big.layers {
        cmd.arg("-o")
            .arg(out.join(digest.trim_start_matches("sha256:")))
            .arg(format!("{}/v2/library/caddy/blobs/{digest}", reg.url()));
    }
    let started = std::time::Instant::now();
    common::run_ok(&mut cmd, "curl");
    let plain = started.elapsed().as_secs_f64();

    println!("image: {mb:.1} MB in {} layers", big.layers.len());
    println!(
        "clawbake images save (cold cache): {save:.2} s, {:.0} MB/s (download, verify, write the archive)",
        mb / save
    );
    println!(
        "clawbake images save (warm cache): {warm:.2} s, {:.0} MB/s (verify, write the archive)",
        mb / warm
    );
    println!(
        "curl, 4 parallel, to files:        {plain:.2} s, {:.0} MB/s",
        mb / plain
    );
    println!(
        "ratio to curl (goal >= 0.80): cold {:.2}, warm {:.2}",
        plain / save,
        plain / warm
    );
}
