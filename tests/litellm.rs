//! Who may call LiteLLM, tried against the real proxy: LiteLLM from `PyPI` at
//! the image's version, running the release's `litellm.yaml` and
//! `litellm_auth.py` byte for byte, with its keys as files in
//! `/run/secrets` (a private mount namespace, as the container sees its
//! mount), and a stand-in for Anthropic's API on 127.0.0.1 that records the
//! key LiteLLM sends it.
//!
//! The gateway's key must open the model routes and nothing else, the
//! master key everything, any other key nothing, and no answer may carry a
//! key.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clawbake::config::SiteInput;
use clawbake::pipeline::Built;
use common::stub::{Reply, Stub};
use common::{build_to_dir, tool_at};

const MASTER: &str = "sk-master-0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const GATEWAY: &str = "sk-gateway-a1b2c3d4e5f60718293a4b5c6d7e8f9";
const PROVIDER: &str = "sk-ant-provider-99887766554433221100";

/// LiteLLM, stopped when dropped.
struct Proxy {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request, the answer's status and body.
fn call(port: u16, method: &str, path: &str, key: Option<&str>, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting to LiteLLM");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let auth = key.map_or(String::new(), |k| format!("authorization: Bearer {k}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: litellm:4000\r\n{auth}content-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn start(litellm: &Path, dir: &Path, secrets: &Path, anthropic: &str) -> Proxy {
    let port = clawbake_test_support::free_port().unwrap();
    let log = dir.join("litellm.log");
    // A private mount namespace: /run/secrets is this test's directory for
    // LiteLLM alone, at the path the release's config names.
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(
            "mount -t tmpfs tmpfs /run && mkdir /run/secrets && \
             mount --bind \"$0\" /run/secrets && exec \"$@\"",
        )
        .arg(secrets)
        .arg(litellm)
        .args(["--config", &dir.join("config.yaml").to_string_lossy()])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env("ANTHROPIC_API_BASE", anthropic)
        .env("HOME", dir)
        // Read the model cost map from the package, not from the internet.
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("NO_PROXY", "*")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
        ))
        .spawn()
        .expect("starting LiteLLM");
    let mut proxy = Proxy { child, port, log };
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = proxy.child.try_wait() {
            panic!(
                "LiteLLM exited ({status}):\n{}",
                std::fs::read_to_string(&proxy.log).unwrap_or_default()
            );
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && call(port, "GET", "/health/liveliness", None, "").0 == 200
        {
            eprintln!("LiteLLM up in {:.1} s", start.elapsed().as_secs_f64());
            return proxy;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "LiteLLM did not come up in 180 s:\n{}",
            std::fs::read_to_string(&proxy.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
        let _ = &mut proxy;
    }
}

/// The example's release laid out as LiteLLM's container sees it: the
/// config with the module beside it (`app/`), and the secrets the
/// release's list gives LiteLLM as `clawbake-env` writes them (`secrets/`):
/// one file per name, no trailing newline, a provider key not set yet as
/// an empty file.
fn release(provider: &str) -> (tempfile::TempDir, PathBuf, PathBuf, Built) {
    let (tmp, dist, built) = build_to_dir(&SiteInput::Example);
    let dir = tmp.path().join("app");
    let secrets = tmp.path().join("secrets");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&secrets).unwrap();
    for (from, to) in [
        ("litellm.yaml", "config.yaml"),
        ("litellm_auth.py", "litellm_auth.py"),
    ] {
        std::fs::copy(dist.join("release/stack").join(from), dir.join(to)).unwrap();
    }
    let list = std::fs::read_to_string(dist.join("release/stack/files/litellm.list")).unwrap();
    assert!(list.contains("ANTHROPIC_API_KEY"), "{list}");
    for name in list.lines() {
        let value = match name {
            "LITELLM_MASTER_KEY" => MASTER,
            "LITELLM_GATEWAY_KEY" => GATEWAY,
            _ => provider,
        };
        std::fs::write(secrets.join(name), value).unwrap();
    }
    (tmp, dir, secrets, built)
}

/// Provision first, keys later: with no provider key set yet, LiteLLM
/// still starts (so the gateway does) and answers the gateway's key.
#[test]
fn litellm_starts_before_a_provider_key_is_set() {
    let Some(litellm) = tool_at("CLAWBAKE_LITELLM", "litellm") else {
        return;
    };
    let Some(_) = common::tool("unshare") else {
        return;
    };
    let (_tmp, dir, secrets, built) = release("");
    let proxy = start(&litellm, &dir, &secrets, "http://127.0.0.1:9");
    let (status, text) = call(proxy.port, "GET", "/v1/models", Some(GATEWAY), "");
    assert_eq!(status, 200, "{text}");
    for m in built.site.models.keys() {
        assert!(text.contains(&format!("\"{m}\"")), "{m} missing: {text}");
    }
}

/// An answer in Anthropic's Messages format.
const MESSAGE: &str = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}"#;

#[test]
#[allow(clippy::too_many_lines)]
fn the_gateways_key_opens_the_model_routes_only_and_no_answer_carries_a_key() {
    let Some(litellm) = tool_at("CLAWBAKE_LITELLM", "litellm") else {
        return;
    };
    let Some(_) = common::tool("unshare") else {
        return;
    };
    let (tmp, dir, secrets, built) = release(PROVIDER);

    let anthropic = Stub::start(|r| {
        if r.method == "POST" && r.path == "/v1/messages" {
            Reply::json(MESSAGE)
        } else {
            Reply::status(404, "{}")
        }
    });
    let proxy = start(&litellm, &dir, &secrets, &anthropic.url());
    let _ = tmp;
    let port = proxy.port;
    let models: Vec<&String> = built.site.models.keys().collect();
    let mut answers = Vec::new();
    let mut expect = |method: &str, path: &str, key: Option<&str>, body: &str, want: &[u16]| {
        let (status, text) = call(port, method, path, key, body);
        let who = match key {
            Some(MASTER) => "master key",
            Some(GATEWAY) => "gateway key",
            Some(_) => "unknown key",
            None => "no key",
        };
        assert!(
            want.contains(&status),
            "{method} {path} with the {who}: {status}, expected {want:?}\n{text}"
        );
        answers.push(text.clone());
        text
    };

    // Unauthenticated: the healthcheck, and nothing else.
    expect("GET", "/health/liveliness", None, "", &[200]);
    expect("GET", "/v1/models", None, "", &[401]);
    expect("GET", "/v1/models", Some("sk-guess"), "", &[401]);
    expect("GET", "/model/info", Some("sk-guess"), "", &[401]);

    // The gateway's key: the model routes.
    let listed = expect("GET", "/v1/models", Some(GATEWAY), "", &[200]);
    for m in &models {
        assert!(
            listed.contains(&format!("\"{m}\"")),
            "{m} missing: {listed}"
        );
    }
    let chat = format!(
        r#"{{"model":"{}","messages":[{{"role":"user","content":"hi"}}],"max_tokens":5}}"#,
        models[0]
    );
    expect("POST", "/v1/chat/completions", Some(GATEWAY), &chat, &[200]);
    let sent: Vec<String> = anthropic
        .requests()
        .iter()
        .filter_map(|r| r.header("x-api-key").map(str::to_owned))
        .collect();
    assert_eq!(
        sent,
        [PROVIDER],
        "the provider key LiteLLM read from its file"
    );

    // A body that names its own endpoint: refused before the provider key
    // could be sent anywhere but the site's provider. (A body's own
    // `api_key` is not refused: it goes only to the site's provider.)
    let thief = Stub::start(|_| Reply::json(MESSAGE));
    let mut refused = Vec::new();
    for (field, value) in [("api_base", thief.url()), ("base_url", thief.url())] {
        let body = format!(
            r#"{{"model":"{}","messages":[{{"role":"user","content":"hi"}}],"max_tokens":5,"{field}":"{value}"}}"#,
            models[0]
        );
        let (status, text) = call(port, "POST", "/v1/chat/completions", Some(GATEWAY), &body);
        assert!(
            (400..500).contains(&status),
            "a chat naming its own {field}: {status}\n{text}"
        );
        refused.push(text);
    }
    assert!(
        thief.requests().is_empty(),
        "LiteLLM called the body's endpoint"
    );
    assert_eq!(
        anthropic.requests().len(),
        1,
        "a refused chat reached the provider"
    );

    // The gateway's key on everything else: refused by the module (403),
    // however the path is spelled; a spelling no route matches is a 404,
    // a trailing slash a redirect (307) to the spelling that is refused.
    let admin: &[(&str, &str, &str)] = &[
        ("GET", "/model/info", ""),
        ("GET", "/v1/model/info", ""),
        ("GET", "/v2/model/info", ""),
        (
            "POST",
            "/model/new",
            r#"{"model_name":"x","litellm_params":{"model":"openai/x"}}"#,
        ),
        ("POST", "/model/update", "{}"),
        ("POST", "/model/delete", r#"{"id":"x"}"#),
        ("POST", "/key/generate", "{}"),
        ("GET", "/key/info", ""),
        ("POST", "/user/new", "{}"),
        ("POST", "/team/new", "{}"),
        ("POST", "/config/update", "{}"),
        ("GET", "/config/yaml", ""),
        ("GET", "/get/config/callbacks", ""),
        ("GET", "/spend/logs", ""),
        ("GET", "/global/spend", ""),
        ("GET", "/health", ""),
        ("GET", "/routes", ""),
        ("GET", "/cache/ping", ""),
        ("GET", "/settings", ""),
        ("POST", "/v1/messages", "{}"),
        ("POST", "/v1/responses", "{}"),
        ("POST", "/v1/files", "{}"),
        ("GET", "/v1/models/x", ""),
    ];
    for (method, path, body) in admin {
        expect(method, path, Some(GATEWAY), body, &[403]);
    }
    for path in [
        "//model/info",
        "/model/info/",
        "/MODEL/INFO",
        "/model%2Finfo",
        "/v1/models/../../model/info",
        "/v1//model/info",
    ] {
        let text = expect("GET", path, Some(GATEWAY), "", &[307, 401, 403, 404]);
        assert!(!text.contains("litellm_params"), "{path}: {text}");
    }

    // The master key: the admin routes, whose answers hold no key either.
    let info = expect("GET", "/model/info", Some(MASTER), "", &[200]);
    assert!(info.contains("litellm_params"), "{info}");
    expect("POST", "/v1/chat/completions", Some(MASTER), &chat, &[200]);

    for text in answers.iter().chain(&refused) {
        for key in [MASTER, GATEWAY, PROVIDER] {
            assert!(!text.contains(key), "an answer carries a key:\n{text}");
        }
    }
    let log = std::fs::read_to_string(&proxy.log).unwrap_or_default();
    for key in [MASTER, GATEWAY, PROVIDER] {
        assert!(!log.contains(key), "LiteLLM's log carries a key");
    }
}

/// The proxy these tests run is the one the image runs: `PyPI`'s release of
/// the image's tag.
#[test]
fn the_tested_litellm_is_the_images_version() {
    let (_tmp, _dist, built) = build_to_dir(&SiteInput::Example);
    let image = &built.site.stack.services.litellm.image;
    let tag = image.tag.as_deref().unwrap_or_default();
    let version = tag.trim_start_matches('v');
    let reqs =
        std::fs::read_to_string(common::root().join("tests/litellm/requirements.txt")).unwrap();
    assert!(
        reqs.lines().any(|l| l == format!("litellm=={version}")),
        "tests/litellm/requirements.txt does not pin litellm=={version} ({image})"
    );
}
