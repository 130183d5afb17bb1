//! What the gateway can reach of the Docker API, tried from its seat: the
//! rendered socket-proxy config and Docker policy, run on `HAProxy` (Debian's
//! package; the host runs the official image of the same program), in front
//! of a stand-in Docker socket that records every request it is sent.
//!
//! Each attack must come back 403 from the policy and must never reach the
//! socket; the sandbox lifecycle must pass, first as raw requests, then as
//! the real `docker` CLI sends it (create, start, exec with its upgraded
//! stream, logs, inspect, rm).

mod common;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clawbake::config::SiteInput;
use common::{build_to_dir, tool};

/// The sandbox container OpenClaw 2026.2.15 names for scope `agent`, agent
/// `main`: the prefix, the slug, the first 8 hex digits of the key's sha256.
const SANDBOX: &str = "openclaw-sbx-agent-main-f331f052";
const EXEC_ID: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// A Docker API stand-in on a Unix socket: answers what the CLI needs for
/// the sandbox lifecycle, and 200 with `{}` to anything else, so that a
/// request the policy let through would succeed. Records every request.
struct Socket {
    seen: Arc<Mutex<Vec<String>>>,
}

fn reply(stream: &mut UnixStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nApi-Version: 1.47\r\nOstype: linux\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn frame(stream: u8, text: &str) -> Vec<u8> {
    let mut out = vec![stream, 0, 0, 0];
    out.extend_from_slice(&u32::try_from(text.len()).expect("short").to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

fn serve(mut stream: UnixStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let mut length = 0;
        let mut upgrade = false;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("upgrade:") {
                upgrade = true;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        seen.lock()
            .expect("lock")
            .push(format!("{method} {target}"));
        let path = target.split('?').next().unwrap_or_default();
        let path = path
            .strip_prefix("/v1.")
            .and_then(|p| p.split_once('/').map(|(_, rest)| format!("/{rest}")))
            .unwrap_or_else(|| path.to_owned());
        let inspect = format!(
            r#"{{"Id":"{EXEC_ID}","Name":"/{SANDBOX}","State":{{"Running":true,"Status":"running"}},"Config":{{"Tty":false,"Labels":{{"openclaw.sandbox":"1"}}}},"HostConfig":{{"LogConfig":{{"Type":"json-file"}}}}}}"#
        );
        match (method.as_str(), path.as_str()) {
            ("HEAD" | "GET", "/_ping") => reply(
                &mut stream,
                "200 OK",
                if method == "GET" { "OK" } else { "" },
            )?,
            ("POST", "/containers/create") => reply(
                &mut stream,
                "201 Created",
                &format!(r#"{{"Id":"{EXEC_ID}","Warnings":[]}}"#),
            )?,
            ("POST", p) if p.ends_with("/exec") => reply(
                &mut stream,
                "201 Created",
                &format!(r#"{{"Id":"{EXEC_ID}"}}"#),
            )?,
            ("POST", p) if p.starts_with("/exec/") && p.ends_with("/start") && upgrade => {
                write!(
                    stream,
                    "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
                )?;
                stream.write_all(&frame(1, "hello from the sandbox\n"))?;
                stream.shutdown(Shutdown::Write)?;
                // Whatever the client sends up until it closes.
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest);
                return Ok(());
            }
            ("GET", p) if p.starts_with("/exec/") => {
                reply(&mut stream, "200 OK", r#"{"ExitCode":0,"Running":false}"#)?;
            }
            ("GET", p) if p.ends_with("/logs") => {
                let logs = frame(1, "sandbox log line\n");
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nContent-Length: {}\r\n\r\n",
                    logs.len()
                )?;
                stream.write_all(&logs)?;
            }
            ("GET", p) if p.starts_with("/containers/") => {
                reply(&mut stream, "200 OK", &inspect)?;
            }
            ("GET", p) if p.starts_with("/images/") => {
                reply(&mut stream, "200 OK", r#"{"Id":"sha256:00","RepoTags":[]}"#)?;
            }
            ("POST", p) if p.ends_with("/start") => reply(&mut stream, "204 No Content", "")?,
            ("DELETE", _) => reply(&mut stream, "204 No Content", "")?,
            _ => reply(&mut stream, "200 OK", "{}")?,
        }
    }
}

impl Socket {
    fn start(dir: &Path) -> Socket {
        let path = dir.join("docker.sock");
        let listener = UnixListener::bind(&path).expect("binding the stand-in socket");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    let _ = serve(stream, &log);
                });
            }
        });
        Socket { seen }
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
}

/// `HAProxy` running the example site's rendered socket-proxy config, with
/// the container's paths pointed at a temp dir; killed on drop.
struct Proxy {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replace `from` by `to` in `text`, where it must occur exactly once: a
/// rendered file that no longer has this shape must fail the test, not run
/// a different config.
fn swap(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "`{from}` once in:\n{text}");
    text.replace(from, to)
}

/// `HAProxy` 3.0, the branch the host's image and the VM guests run.
/// Debian 12's 2.6 drops `Upgrade:` from a request with a body, which
/// breaks `docker exec -i`; `.ci/run` builds a Debian 13 root with 3.0 and
/// names its launcher in `CLAWBAKE_HAPROXY`.
fn haproxy() -> Option<PathBuf> {
    if std::env::var_os("CLAWBAKE_HAPROXY").is_some() {
        return common::tool_at("CLAWBAKE_HAPROXY", "haproxy");
    }
    let found = tool("haproxy")?;
    let out = Command::new(&found).arg("-v").output().expect("haproxy -v");
    let version = String::from_utf8_lossy(&out.stdout).into_owned();
    let v3 = version
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.split('.').next()?.parse::<u32>().ok())
        .is_some_and(|major| major >= 3);
    if v3 {
        return Some(found);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "HAProxy 3.0 is required under CI=true (.ci/run sets CLAWBAKE_HAPROXY); found {version}"
    );
    eprintln!(
        "SKIPPED: the installed HAProxy is not 3.x ({}); set CLAWBAKE_HAPROXY",
        version.lines().next().unwrap_or_default()
    );
    None
}

/// The release's socket-proxy files copied into `dir`, the config's
/// container paths pointed there, listening on 127.0.0.1:`port`.
fn local_config(release: &Path, dir: &Path, port: u16) -> PathBuf {
    for file in ["docker-policy.lua", "policy.json"] {
        std::fs::copy(release.join(file), dir.join(file)).expect("copying the policy");
    }
    let cfg = std::fs::read_to_string(release.join("haproxy.cfg")).expect("the rendered config");
    let here = dir.display().to_string();
    let cfg = swap(
        &cfg,
        "/usr/local/etc/haproxy/docker-policy.lua",
        &format!("{here}/docker-policy.lua"),
    );
    let cfg = swap(
        &cfg,
        "/usr/local/etc/haproxy/policy.json",
        &format!("{here}/policy.json"),
    );
    let cfg = swap(&cfg, "bind :2375", &format!("bind 127.0.0.1:{port}"));
    let cfg = swap(
        &cfg,
        "server dockerd /var/run/docker.sock",
        &format!("server dockerd {here}/docker.sock"),
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).expect("writing the config");
    path
}

fn start() -> Option<(Proxy, Socket)> {
    let haproxy = haproxy()?;
    let (_tmp, dist, _) = build_to_dir(&SiteInput::Example);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = clawbake_test_support::free_port().expect("a free port");
    let cfg = local_config(&dist.join("release/stack/docker-proxy"), dir.path(), port);
    let socket = Socket::start(dir.path());
    let child = Command::new(haproxy)
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting haproxy");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "haproxy did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((
        Proxy {
            child,
            port,
            _dir: dir,
        },
        socket,
    ))
}

/// Write `request` to the proxy; the status code of the answer and its body.
fn exchange(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting to the proxy");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("sending");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// One request, with a Content-Length body.
fn send(port: u16, method: &str, target: &str, body: &str) -> (u16, String) {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
    if !body.is_empty() || method == "POST" {
        let _ = write!(
            req,
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    req.push_str("\r\n");
    req.push_str(body);
    exchange(port, &req)
}

/// The create body the docker CLI sends for OpenClaw's sandbox, with
/// `host` merged into its `HostConfig` and `config` into the top level.
fn create_body(config: &str, host: &str) -> String {
    let base = serde_json::json!({
        "Hostname": "", "User": "1000:1000", "AttachStdout": true, "AttachStderr": true,
        "Env": ["LANG=C.UTF-8"], "Cmd": ["sleep", "infinity"], "Image": "debian:bookworm-slim",
        "Volumes": {}, "WorkingDir": "/workspace", "Entrypoint": null,
        "Labels": {"openclaw.sandbox": "1", "openclaw.sessionKey": "agent:main"},
        "HostConfig": {
            "Binds": [format!("/var/lib/openclaw-sandboxes/{}:/workspace", &SANDBOX["openclaw-sbx-".len()..])],
            "NetworkMode": "none", "ReadonlyRootfs": true, "CapAdd": null, "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"], "Privileged": false,
            "Tmpfs": {"/tmp": "", "/var/tmp": "", "/run": ""},
            "Memory": 536_870_912, "MemorySwap": 536_870_912, "NanoCpus": 500_000_000,
            "PidsLimit": 256, "MemorySwappiness": -1, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "LogConfig": {"Type": "", "Config": {}}, "MaskedPaths": null, "ReadonlyPaths": null,
            "PortBindings": {}, "Dns": [], "ConsoleSize": [0, 0]
        },
        "NetworkingConfig": {"EndpointsConfig": {}}
    });
    let mut text = serde_json::to_string(&base).expect("json");
    if !host.is_empty() {
        text = text.replacen("\"HostConfig\":{", &format!("\"HostConfig\":{{{host},"), 1);
    }
    if !config.is_empty() {
        text = text.replacen('{', &format!("{{{config},"), 1);
    }
    text
}

const CREATE: &str = "/v1.47/containers/create?name=openclaw-sbx-agent-main-f331f052";

#[test]
#[allow(clippy::too_many_lines)] // a table of attacks
fn every_escape_is_refused_before_the_socket() {
    let Some((proxy, socket)) = start() else {
        return;
    };
    // The baseline must pass, or every refusal below proves nothing.
    let (code, body) = send(proxy.port, "POST", CREATE, &create_body("", ""));
    assert_eq!(code, 201, "the sandbox-shaped create: {body}");
    let sandbox = format!("/v1.47/containers/{SANDBOX}");
    for (method, target, body) in [
        ("POST", format!("{sandbox}/start"), ""),
        ("GET", format!("{sandbox}/json"), ""),
        (
            "GET",
            format!("{sandbox}/logs?stdout=1&stderr=1&tail=all"),
            "",
        ),
        (
            "POST",
            format!("{sandbox}/exec"),
            r#"{"AttachStdout":true,"Cmd":["sh","-lc","true"],"Env":["HOME=/workspace"],"WorkingDir":"/workspace","User":"","Privileged":false}"#,
        ),
        ("GET", format!("/v1.47/exec/{EXEC_ID}/json"), ""),
        (
            "GET",
            "/v1.47/images/debian:bookworm-slim/json".to_owned(),
            "",
        ),
        ("DELETE", format!("{sandbox}?force=1"), ""),
        ("HEAD", "/_ping".to_owned(), ""),
    ] {
        let (code, answer) = send(proxy.port, method, &target, body);
        assert!(
            code != 403 && code != 0,
            "{method} {target}: {code} {answer}"
        );
    }
    assert_eq!(
        socket.take().len(),
        9,
        "each lifecycle request reached the socket once"
    );

    let litellm = "/v1.47/containers/openclaw-litellm";
    let bind = format!(
        r#""Binds":["/var/lib/openclaw-sandboxes/{}:/workspace"]"#,
        &SANDBOX[13..]
    );
    // A sandbox's create with one host setting added, or one part swapped.
    let added =
        |what: &'static str, host: &str| (what, "POST", CREATE.to_owned(), create_body("", host));
    let swapped = |what: &'static str, from: &str, to: &str| {
        let body = create_body("", "");
        assert!(body.contains(from), "`{from}` in the baseline create");
        (what, "POST", CREATE.to_owned(), body.replacen(from, to, 1))
    };
    let plain = |what: &'static str, method: &'static str, target: String, body: &str| {
        (what, method, target, body.to_owned())
    };
    let attacks: Vec<(&str, &str, String, String)> = vec![
        // A map's keys are exact to Go: `None` is a network of that name,
        // and its NetworkID would put the sandbox on the bridge.
        swapped(
            "the bridge, as a network named None",
            r#""EndpointsConfig":{}"#,
            r#""EndpointsConfig":{"None":{"NetworkID":"bridge"}}"#,
        ),
        swapped(
            "the bridge, through none's settings",
            r#""EndpointsConfig":{}"#,
            r#""EndpointsConfig":{"none":{"NetworkID":"bridge"}}"#,
        ),
        swapped("no user: the image's root", r#""User":"1000:1000","#, ""),
        swapped(
            "an empty user: the image's root",
            r#""User":"1000:1000""#,
            r#""User":"""#,
        ),
        swapped(
            "a Compose label",
            r#""openclaw.sandbox":"1","#,
            r#""openclaw.sandbox":"1","com.docker.compose.project":"openclaw","#,
        ),
        swapped("a tmpfs over /etc", r#""/tmp":"""#, r#""/etc":"""#),
        swapped(
            "tmpfs options",
            r#""/tmp":"""#,
            r#""/tmp":"exec,size=100g""#,
        ),
        swapped(
            "swap beyond the memory",
            r#""MemorySwap":536870912"#,
            r#""MemorySwap":0"#,
        ),
        plain(
            "a trailing slash",
            "GET",
            format!("/v1.47/containers/{SANDBOX}/json/"),
            "",
        ),
        // 1. creates that escape: privileges, namespaces, mounts, networks, images
        added("privileged", r#""Privileged":true"#),
        added("privileged, lower case", r#""privileged":true"#),
        added("privileged, unicode escape", r#""Privil\u0065ged":true"#),
        added(
            "privileged, a duplicate key",
            r#""Privileged":false,"Privileged":true"#,
        ),
        added(
            "privileged, a key Go folds from U+212A",
            "\"\u{212a}ernelMemory\":1,\"Privileged\":true",
        ),
        added("a capability", r#""CapAdd":["SYS_ADMIN"]"#),
        added(
            "a device",
            r#""Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]"#,
        ),
        added("the host's pid namespace", r#""PidMode":"host""#),
        added("the host's ipc namespace", r#""IpcMode":"host""#),
        added("the host's user namespace", r#""UsernsMode":"host""#),
        added("the host's cgroup namespace", r#""CgroupnsMode":"host""#),
        added("the host's uts namespace", r#""UTSMode":"host""#),
        added("a sysctl", r#""Sysctls":{"kernel.core_pattern":"|/x"}"#),
        added("a runtime", r#""Runtime":"runc-debug""#),
        added("a cgroup parent", r#""CgroupParent":"/""#),
        added(
            "a mount",
            r#""Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]"#,
        ),
        added(
            "volumes from LiteLLM",
            r#""VolumesFrom":["openclaw-litellm"]"#,
        ),
        swapped(
            "another container's network",
            r#""NetworkMode":"none""#,
            r#""NetworkMode":"container:openclaw-litellm""#,
        ),
        swapped(
            "the host network",
            r#""NetworkMode":"none""#,
            r#""NetworkMode":"host""#,
        ),
        swapped(
            "the stack's network",
            r#""NetworkMode":"none""#,
            r#""NetworkMode":"openclaw-net""#,
        ),
        swapped(
            "seccomp off",
            r#""SecurityOpt":["no-new-privileges"]"#,
            r#""SecurityOpt":["seccomp=unconfined"]"#,
        ),
        swapped(
            "apparmor off",
            r#""SecurityOpt":["no-new-privileges"]"#,
            r#""SecurityOpt":["no-new-privileges","apparmor=unconfined"]"#,
        ),
        swapped("the host's root as a bind", &bind, r#""Binds":["/:/host"]"#),
        swapped(
            "the Docker socket as a bind",
            &bind,
            r#""Binds":["/var/run/docker.sock:/var/run/docker.sock"]"#,
        ),
        swapped(
            "another sandbox's directory",
            &bind,
            r#""Binds":["/var/lib/openclaw-sandboxes/other-00000000:/workspace"]"#,
        ),
        swapped(
            "a walk out of the sandbox directory",
            &bind,
            &bind.replace(":/workspace", "/../..:/workspace"),
        ),
        swapped(
            "the gateway's state as a bind",
            &bind,
            r#""Binds":["/var/lib/openclaw:/workspace"]"#,
        ),
        swapped(
            "unmasked /proc",
            r#""MaskedPaths":null"#,
            r#""MaskedPaths":[]"#,
        ),
        swapped(
            "a published port",
            r#""PortBindings":{}"#,
            r#""PortBindings":{"22/tcp":[{"HostPort":"2222"}]}"#,
        ),
        swapped(
            "another network in NetworkingConfig",
            r#""EndpointsConfig":{}"#,
            r#""EndpointsConfig":{"openclaw-net":{}}"#,
        ),
        swapped("another image", "debian:bookworm-slim", "alpine:3.23"),
        swapped(
            "root in the sandbox",
            r#""User":"1000:1000""#,
            r#""User":"0:0""#,
        ),
        swapped(
            "a writable root",
            r#""ReadonlyRootfs":true"#,
            r#""ReadonlyRootfs":false"#,
        ),
        swapped(
            "more memory than the site gives",
            r#""Memory":536870912"#,
            r#""Memory":8589934592"#,
        ),
        swapped("no label", r#""openclaw.sandbox":"1","#, ""),
        plain(
            "a name that is not a sandbox",
            "POST",
            "/v1.47/containers/create?name=openclaw-litellm".into(),
            &create_body("", ""),
        ),
        plain(
            "another sandbox's name",
            "POST",
            "/v1.47/containers/create?name=openclaw-sbx-other-00000000".into(),
            &create_body("", ""),
        ),
        plain(
            "two names",
            "POST",
            format!("{CREATE}&name=evil"),
            &create_body("", ""),
        ),
        plain("a chunked body", "POST", CREATE.into(), ""),
        // 2. other containers: inspect, archive, export, attach, exec, update, rename, kill, rm
        plain("inspect LiteLLM", "GET", format!("{litellm}/json"), ""),
        plain(
            "inspect LiteLLM, unversioned",
            "GET",
            "/containers/openclaw-litellm/json".into(),
            "",
        ),
        plain(
            "inspect LiteLLM, percent-encoded",
            "GET",
            "/v1.47/containers/openclaw%2Dlitellm/json".into(),
            "",
        ),
        plain(
            "inspect LiteLLM, a double slash",
            "GET",
            "/v1.47//containers/openclaw-litellm/json".into(),
            "",
        ),
        plain(
            "inspect LiteLLM, a dot walk",
            "GET",
            format!("/v1.47/containers/{SANDBOX}/../openclaw-litellm/json"),
            "",
        ),
        plain(
            "inspect LiteLLM, upper case",
            "GET",
            "/v1.47/CONTAINERS/openclaw-litellm/json".into(),
            "",
        ),
        plain(
            "inspect LiteLLM by an id prefix",
            "GET",
            "/v1.47/containers/0a1b/json".into(),
            "",
        ),
        plain("export", "GET", format!("{litellm}/export"), ""),
        plain("archive", "GET", format!("{litellm}/archive?path=/"), ""),
        plain(
            "put an archive",
            "PUT",
            format!("{litellm}/archive?path=/"),
            "x",
        ),
        plain(
            "attach",
            "POST",
            format!("{litellm}/attach?stream=1&stdout=1"),
            "",
        ),
        plain(
            "exec into LiteLLM",
            "POST",
            format!("{litellm}/exec"),
            r#"{"Cmd":["sh"],"AttachStdout":true}"#,
        ),
        plain(
            "exec into the proxy",
            "POST",
            "/v1.47/containers/openclaw-docker-proxy/exec".into(),
            r#"{"Cmd":["sh"]}"#,
        ),
        plain(
            "update",
            "POST",
            format!("{litellm}/update"),
            r#"{"Memory":0}"#,
        ),
        plain(
            "rename",
            "POST",
            format!("{litellm}/rename?name=openclaw-sbx-x"),
            "",
        ),
        plain("kill", "POST", format!("{litellm}/kill"), ""),
        plain("remove", "DELETE", format!("{litellm}?force=1"), ""),
        plain(
            "a privileged exec in a sandbox",
            "POST",
            format!("/v1.47/containers/{SANDBOX}/exec"),
            r#"{"Cmd":["sh"],"Privileged":true}"#,
        ),
        plain(
            "a root exec in a sandbox",
            "POST",
            format!("/v1.47/containers/{SANDBOX}/exec"),
            r#"{"Cmd":["sh"],"User":"root"}"#,
        ),
        plain(
            "archive a sandbox",
            "GET",
            format!("/v1.47/containers/{SANDBOX}/archive?path=/"),
            "",
        ),
        plain(
            "list containers",
            "GET",
            "/v1.47/containers/json?all=1".into(),
            "",
        ),
        // 3. everything outside the lifecycle
        plain(
            "pull any image",
            "POST",
            "/v1.47/images/create?fromImage=evil.example%2Froot&tag=1".into(),
            "",
        ),
        plain(
            "push",
            "POST",
            "/v1.47/images/debian:bookworm-slim/push".into(),
            "",
        ),
        plain("load", "POST", "/v1.47/images/load".into(), "x"),
        plain("build", "POST", "/v1.47/build".into(), "x"),
        plain(
            "inspect another image",
            "GET",
            "/v1.47/images/alpine:3.23/json".into(),
            "",
        ),
        plain("volumes", "GET", "/v1.47/volumes".into(), ""),
        plain(
            "create a volume",
            "POST",
            "/v1.47/volumes/create".into(),
            r#"{"Name":"x"}"#,
        ),
        plain("networks", "GET", "/v1.47/networks".into(), ""),
        plain(
            "connect a network",
            "POST",
            "/v1.47/networks/openclaw-net/connect".into(),
            r#"{"Container":"x"}"#,
        ),
        plain("info", "GET", "/v1.47/info".into(), ""),
        plain("version", "GET", "/v1.47/version".into(), ""),
        plain("events", "GET", "/v1.47/events".into(), ""),
        plain("system df", "GET", "/v1.47/system/df".into(), ""),
        plain("swarm", "POST", "/v1.47/swarm/init".into(), "{}"),
        plain(
            "plugins",
            "POST",
            "/v1.47/plugins/pull?remote=evil".into(),
            "[]",
        ),
        plain("secrets", "GET", "/v1.47/secrets".into(), ""),
        plain("configs", "GET", "/v1.47/configs".into(), ""),
        plain("session", "POST", "/v1.47/session".into(), ""),
        plain("auth", "POST", "/v1.47/auth".into(), "{}"),
        plain("a ping by another method", "POST", "/_ping".into(), ""),
    ];
    let mut passed = Vec::new();
    for (what, method, target, body) in &attacks {
        let (code, answer) = if *what == "a chunked body" {
            send_chunked(proxy.port, target)
        } else {
            send(proxy.port, method, target, body)
        };
        let reached = socket.take();
        if code != 403 || !reached.is_empty() || !answer.starts_with("clawbake docker policy: ") {
            passed.push(format!(
                "{what}: {code} {answer:?}, the socket saw {reached:?}"
            ));
        }
    }
    assert!(
        passed.is_empty(),
        "attacks the policy let through:\n{}",
        passed.join("\n")
    );
}

fn send_chunked(port: u16, target: &str) -> (u16, String) {
    let body = create_body("", "");
    exchange(
        port,
        &format!(
            "POST {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        ),
    )
}

#[test]
#[allow(clippy::too_many_lines)] // OpenClaw's create, flag for flag
fn the_sandbox_lifecycle_passes_as_the_docker_cli_sends_it() {
    let Some(docker) = tool("docker") else { return };
    let Some((proxy, socket)) = start() else {
        return;
    };
    let config = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str]| {
        let out = Command::new(&docker)
            .args(args)
            .env("DOCKER_HOST", format!("tcp://127.0.0.1:{}", proxy.port))
            .env("DOCKER_CONFIG", config.path())
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null())
            .output()
            .expect("running docker");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "docker {}: {text}", args.join(" "));
        text
    };
    let bind = format!("/var/lib/openclaw-sandboxes/{}:/workspace", &SANDBOX[13..]);
    // OpenClaw's create, flag for flag (src/agents/sandbox/docker.ts at
    // 2026.2.15, with clawbake's openclaw.json).
    run(&["image", "inspect", "debian:bookworm-slim"]);
    let created = run(&[
        "create",
        "--name",
        SANDBOX,
        "--label",
        "openclaw.sandbox=1",
        "--label",
        "openclaw.sessionKey=agent:main",
        "--label",
        "openclaw.createdAtMs=1767225600000",
        "--label",
        "openclaw.configHash=00",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/var/tmp",
        "--tmpfs",
        "/run",
        "--network",
        "none",
        "--user",
        "1000:1000",
        "--env",
        "LANG=C.UTF-8",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--pids-limit",
        "256",
        "--memory",
        "512m",
        "--memory-swap",
        "512m",
        "--cpus",
        "0.5",
        "--workdir",
        "/workspace",
        "-v",
        &bind,
        "debian:bookworm-slim",
        "sleep",
        "infinity",
    ]);
    assert!(created.contains(EXEC_ID), "{created}");
    run(&["start", SANDBOX]);
    let said = run(&[
        "exec",
        "-i",
        "-w",
        "/workspace",
        "-e",
        "HOME=/workspace",
        SANDBOX,
        "sh",
        "-lc",
        "echo hello",
    ]);
    assert!(
        said.contains("hello from the sandbox"),
        "the exec's stream: {said}"
    );
    run(&["inspect", "-f", "{{.State.Running}}", SANDBOX]);
    run(&["rm", "-f", SANDBOX]);
    let seen = socket.take();
    for wanted in [
        "POST /v1.",
        "/containers/create?name=",
        "/exec/",
        "/start",
        "DELETE /v1.",
    ] {
        assert!(
            seen.iter().any(|s| s.contains(wanted)),
            "no `{wanted}` reached the socket: {seen:?}"
        );
    }
    // `docker logs` asks by the container's id, which the policy cannot
    // tell from LiteLLM's: refused (a sandbox's logs are read by name).
    let out = Command::new(&docker)
        .args(["logs", SANDBOX])
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{}", proxy.port))
        .env("DOCKER_CONFIG", config.path())
        .stdin(Stdio::null())
        .output()
        .expect("running docker");
    assert!(!out.status.success(), "docker logs by id passed");
    assert!(
        !socket.take().iter().any(|s| s.contains("/logs")),
        "a logs request by id reached the socket"
    );
    // And the same CLI, asked for more, is refused by the policy.
    let out = Command::new(&docker)
        .args([
            "run",
            "--rm",
            "--privileged",
            "debian:bookworm-slim",
            "true",
        ])
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{}", proxy.port))
        .env("DOCKER_CONFIG", config.path())
        .stdin(Stdio::null())
        .output()
        .expect("running docker");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("clawbake docker policy"),
        "{text}"
    );
    assert!(
        !socket.take().iter().any(|s| s.contains("create")),
        "a privileged create reached the socket"
    );
}

/// `clawbake verify`'s own Docker probes, run by Node as in the gateway,
/// against the real policy: the privileged create it sends is refused for
/// its privilege alone (without it, the same request passes), and so is an
/// inspect of LiteLLM.
#[test]
fn verify_probes_are_refused_for_the_right_reason() {
    let Some(node) = tool("node") else { return };
    let Some((proxy, socket)) = start() else {
        return;
    };
    let built = common::build(&SiteInput::Example);
    let (path, body) =
        clawbake::host::verify::privileged_create(&built.bundle).expect("a policy in the bundle");
    let probe = |args: &[&str]| {
        let out = Command::new(&node)
            .arg("-e")
            .arg(clawbake::host::verify::DOCKER_PROBE)
            .args(args)
            .env("DOCKER_HOST", format!("tcp://127.0.0.1:{}", proxy.port))
            .output()
            .expect("node");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let refused = probe(&["POST", &path, &body]);
    assert!(
        refused.starts_with("HTTP 403 clawbake docker policy: the host setting `privileged`"),
        "{refused}"
    );
    let unprivileged = body.replace("\"Privileged\":true", "\"Privileged\":false");
    assert_ne!(unprivileged, body);
    let passed = probe(&["POST", &path, &unprivileged]);
    assert!(
        passed.starts_with("HTTP 201"),
        "the same create without the privilege: {passed}"
    );
    let inspect = probe(&["GET", "/v1.41/containers/openclaw-litellm/json"]);
    assert!(
        inspect.starts_with("HTTP 403 clawbake docker policy"),
        "{inspect}"
    );
    assert_eq!(
        socket.take().len(),
        1,
        "only the unprivileged create reached the socket"
    );
}

/// Every site's socket-proxy config, checked by `HAProxy` itself (`-c` loads
/// the Lua policy, which reads its settings): the same files a host runs.
#[test]
fn haproxy_accepts_every_sites_config() {
    let Some(haproxy) = haproxy() else { return };
    for (name, input) in common::sites() {
        let (_tmp, dist, _) = build_to_dir(&input);
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = local_config(&dist.join("release/stack/docker-proxy"), dir.path(), 2375);
        common::run_ok(
            Command::new(&haproxy).arg("-c").arg("-f").arg(&cfg),
            &format!("haproxy -c on {name}"),
        );
    }
}

/// The VM tests' `probe.js` (run by Node inside the gateway container
/// there), here against the real policy and the stand-in socket: its
/// Docker requests, with and without a body, come back as the policy
/// answers them, and its lifecycle probe reads the exec's upgraded stream.
#[test]
fn the_vm_probes_speak_the_policys_language() {
    let Some(node) = tool("node") else { return };
    let Some((proxy, socket)) = start() else {
        return;
    };
    let create: serde_json::Value =
        serde_json::from_str(&create_body("", "")).expect("the baseline create");
    let probes = serde_json::json!([
        {"id": "list", "kind": "docker", "method": "GET", "path": "/v1.41/containers/json", "body": null},
        {"id": "privileged", "kind": "docker", "method": "POST", "path": CREATE,
         "body": create_body("", r#""Privileged":true"#)},
        {"id": "lifecycle", "kind": "lifecycle", "name": SANDBOX, "create": create},
    ]);
    let out = Command::new(&node)
        .arg(common::root().join("vm-tests/guest/probe.js"))
        .env("PROBES", probes.to_string())
        .env("DOCKER_PROXY", format!("127.0.0.1:{}", proxy.port))
        .output()
        .expect("node");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_str(text.trim()).expect("probe.js's JSON");
    for id in ["list", "privileged"] {
        let answer = got[id].as_str().unwrap_or_default();
        assert!(
            answer.starts_with("403 clawbake docker policy"),
            "{id}: {answer}"
        );
    }
    let lifecycle = got["lifecycle"].as_str().unwrap_or_default();
    assert!(
        lifecycle.starts_with("ok exit 0") && lifecycle.contains("hello from the sandbox"),
        "{lifecycle}"
    );
    let seen = socket.take();
    assert!(
        !seen.iter().any(|s| s.contains("containers/json")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.contains("/exec/") && s.ends_with("/start")),
        "{seen:?}"
    );
}
