//! Progress while something slow runs: a spinner per provisioning step
//! with its elapsed time, and a byte bar for downloads. On a terminal they
//! redraw in place; otherwise steps are plain lines and downloads are
//! silent, so logs and scripts see only what happened.

use std::io::IsTerminal as _;

/// Progress on stderr: a spinner per step with its elapsed time on a
/// terminal, plain lines otherwise (logs, CI).
pub struct StepProgress {
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
    tty: bool,
}

impl StepProgress {
    pub fn new() -> StepProgress {
        StepProgress {
            bar: std::sync::Mutex::new(None),
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn finish_bar(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }

    fn spinner(&self, message: String) {
        self.finish_bar();
        if !self.tty {
            return;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .expect("a valid template"),
        );
        bar.set_message(message);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        *self.bar.lock().expect("progress lock") = Some(bar);
    }
}

impl Default for StepProgress {
    fn default() -> Self {
        StepProgress::new()
    }
}

impl crate::host::apply::Progress for StepProgress {
    fn phase(&self, what: &str) {
        if self.tty {
            self.spinner(what.to_owned());
        } else {
            eprintln!("{what}");
        }
    }

    fn step_started(&self, index: usize, total: usize, name: &str) {
        let message = format!("[{index}/{total}] {name}");
        if self.tty {
            self.spinner(message);
        } else {
            eprintln!("{message}: running");
        }
    }

    fn step_finished(&self, name: &str, elapsed: std::time::Duration, exit_code: i32) {
        self.finish_bar();
        let secs = elapsed.as_secs_f64();
        if exit_code == 0 {
            eprintln!("  done    {name} ({secs:.1}s)");
        } else {
            eprintln!("  FAILED  {name} (exit code {exit_code}, after {secs:.1}s)");
        }
    }

    fn note(&self, line: &str) {
        let bar = self.bar.lock().expect("progress lock");
        match bar.as_ref() {
            Some(b) => b.println(format!("  note: {line}")),
            None => eprintln!("  note: {line}"),
        }
    }
}

impl Drop for StepProgress {
    fn drop(&mut self) {
        self.finish_bar();
    }
}

/// A byte progress bar on stderr for downloads; invisible when stderr is
/// not a terminal, so scripts and tests see only the result.
#[derive(Clone)]
pub struct DownloadBar(indicatif::ProgressBar);

impl DownloadBar {
    pub fn new() -> DownloadBar {
        if !std::io::stderr().is_terminal() {
            return DownloadBar(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} downloading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        DownloadBar(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Default for DownloadBar {
    fn default() -> DownloadBar {
        DownloadBar::new()
    }
}

impl crate::pin::registry::Progress for DownloadBar {
    fn add_total(&self, bytes: u64) {
        self.0.inc_length(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

/// A backup's progress: restic reading the state, then the repository
/// coming off the host (or a copy going onto one, for a restore), each a
/// byte bar with its rate. Hidden when stderr
/// is not a terminal.
pub struct BackupBar(std::sync::Mutex<Option<(indicatif::ProgressBar, &'static str)>>);

impl BackupBar {
    pub fn new() -> BackupBar {
        BackupBar(std::sync::Mutex::new(None))
    }

    fn update(&self, phase: &'static str, done: u64, total: u64) {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let mut slot = self.0.lock().expect("progress lock");
        if slot.as_ref().is_none_or(|(_, p)| *p != phase) {
            if let Some((bar, _)) = slot.take() {
                bar.finish_and_clear();
            }
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{{spinner}} {phase} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}}"
                ))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            *slot = Some((bar, phase));
        }
        if let Some((bar, _)) = slot.as_ref() {
            bar.set_length(total.max(done));
            bar.set_position(done);
        }
    }

    pub fn finish(&self) {
        if let Some((bar, _)) = self.0.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}

impl Default for BackupBar {
    fn default() -> BackupBar {
        BackupBar::new()
    }
}

impl crate::host::backup::Progress for BackupBar {
    fn reading(&self, done: u64, total: u64) {
        self.update("backing up", done, total);
    }
    fn pulling(&self, done: u64, total: u64) {
        self.update("copying off", done, total);
    }
    fn uploading(&self, done: u64, total: u64) {
        self.update("uploading", done, total);
    }
}
