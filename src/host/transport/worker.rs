//! The one place blocking SSH meets the async runtime. A thread of its own
//! owns the [`Connection`]; async callers send it jobs and await the
//! answers, so no ssh2 call ever blocks a runtime thread, and a command's
//! output arrives on a channel while the caller keeps ticking progress,
//! watching for Ctrl-C or a deadline.

use std::sync::mpsc;
use std::thread;

use tokio::sync::{mpsc as amc, oneshot};

use super::ssh::{Connection, Options, SshError};
use super::target::Target;

type Job = Box<dyn FnOnce(&Connection) + Send>;

/// A connection living on its own thread.
pub struct Remote {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
    target: Target,
}

impl Remote {
    /// Connect on a new thread; the connection stays there until dropped.
    pub async fn open(target: &Target, options: &Options) -> Result<Remote, SshError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, opened) = oneshot::channel();
        let (t, o) = (target.clone(), options.clone());
        let thread = thread::Builder::new()
            .name(format!("ssh {target}"))
            .spawn(move || match Connection::open(&t, &o) {
                Ok(conn) => {
                    let _ = ready.send(Ok(()));
                    for job in queue {
                        job(&conn);
                    }
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            })
            .map_err(|e| SshError::Unreachable {
                target: target.clone(),
                detail: format!("starting the SSH thread: {e}"),
            })?;
        let remote = Remote {
            jobs: Some(jobs),
            thread: Some(thread),
            target: target.clone(),
        };
        match opened.await {
            Ok(Ok(())) => Ok(remote),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(remote.gone()),
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    fn gone(&self) -> SshError {
        SshError::Dropped {
            target: self.target.clone(),
            action: "talking to the SSH thread".into(),
            detail: "it stopped".into(),
        }
    }

    /// Run `f` with the connection, on its thread.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, SshError> + Send + 'static,
    ) -> Result<R, SshError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        let sent = self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok());
        if !sent {
            return Err(self.gone());
        }
        rx.await.unwrap_or_else(|_| Err(self.gone()))
    }

    /// Run a command, collecting its output; fails unless it exits 0.
    pub async fn output(&self, command: String) -> Result<String, SshError> {
        self.call(move |c| c.output(&command)).await
    }

    /// Run a command whose output arrives in chunks on `out` while it
    /// runs. Returns its exit code.
    pub async fn stream(
        &self,
        command: String,
        out: amc::UnboundedSender<Vec<u8>>,
    ) -> Result<i32, SshError> {
        self.call(move |c| c.run(&command, &mut |b| drop(out.send(b.to_vec()))))
            .await
    }

    /// Upload bytes to `path` with `mode`, checked by sha256 on the host.
    pub async fn upload(&self, path: String, bytes: Vec<u8>, mode: u32) -> Result<(), SshError> {
        self.call(move |c| c.upload(&path, &bytes, mode, &mut |_| {}))
            .await
    }
}

impl Remote {
    /// [`Remote::upload_file`], with the size of each chunk sent on `seen`
    /// as it goes, for a progress bar.
    pub async fn upload_file_seen(
        &self,
        path: String,
        local: std::path::PathBuf,
        mode: u32,
        seen: tokio::sync::mpsc::UnboundedSender<u64>,
    ) -> Result<(), SshError> {
        self.call(move |c| {
            c.upload_file(&path, &local, mode, &mut |n| {
                let _ = seen.send(n as u64);
            })
        })
        .await
    }

    /// Upload a local file, streamed, checked by sha256 on the host.
    pub async fn upload_file(
        &self,
        path: String,
        local: std::path::PathBuf,
        mode: u32,
    ) -> Result<(), SshError> {
        self.call(move |c| c.upload_file(&path, &local, mode, &mut |_| {}))
            .await
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Closing the queue ends the thread, which drops the connection.
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
