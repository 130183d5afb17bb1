//! What both of clawbake's test crates need from outside clawbake: a real
//! registry to pull from. The integration tests (`tests/`) push images they
//! build through its API; the VM tests (`vm-tests/`) push one with skopeo and
//! load it in the guest. One launcher, so both start it the same way.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `docker-registry` may take to listen, emulated or not.
const START_LIMIT: Duration = Duration::from_secs(30);

/// Debian's `docker-registry` (the CNCF distribution registry) serving on
/// 127.0.0.1, its storage in a directory the caller owns; killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1 (free when asked; the server binds it next).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Registry {
    /// Start `bin serve` with its config and data under `dir`; returns once
    /// it accepts connections.
    pub fn start(bin: &Path, dir: &Path) -> io::Result<Registry> {
        let port = free_port()?;
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.join("registry-data").display()
            ),
        )?;
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut registry = Registry { child, port };
        let deadline = Instant::now() + START_LIMIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = registry.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "docker-registry exited ({status}) before listening on 127.0.0.1:{port}"
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "docker-registry did not listen on 127.0.0.1:{port} within {}s",
                        START_LIMIT.as_secs()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(registry)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_exits_is_reported_not_waited_for() {
        let dir = tempdir();
        let err = Registry::start(Path::new("/bin/false"), &dir)
            .err()
            .expect("`false` never listens");
        assert!(err.to_string().contains("exited"), "{err}");
        std::fs::remove_dir_all(&dir).expect("removing the temp dir");
    }

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("clawbake-support-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating a temp dir");
        dir
    }
}
