//! What a scenario reports: named checks, each PASS or FAIL with a detail,
//! and the timings table printed at its end. While scenario lanes run at
//! once, each lane's report is kept and printed whole when the lane ends,
//! so that two lanes' lines do not interleave; progress (`say!`) goes to
//! stderr at once, marked with the lane.

use std::cell::RefCell;
use std::time::Duration;

use crate::error::Result;

thread_local! {
    /// This thread's lane: its name, and its report while it is kept.
    static LANE: RefCell<Option<(String, Option<String>)>> = const { RefCell::new(None) };
}

/// From now on this thread runs the lane `name`; with `keep`, its report
/// is kept for [`lane_end`] instead of printed.
pub fn lane_begin(name: &str, keep: bool) {
    LANE.with(|l| *l.borrow_mut() = Some((name.to_owned(), keep.then(String::new))));
}

/// The lane's kept report, and the thread runs no lane any more.
pub fn lane_end() -> String {
    LANE.with(|l| l.borrow_mut().take().and_then(|(_, kept)| kept))
        .unwrap_or_default()
}

/// ` [name]` while this thread runs a lane, for progress lines.
pub fn lane_mark() -> String {
    LANE.with(|l| {
        l.borrow()
            .as_ref()
            .map(|(name, _)| format!(" [{name}]"))
            .unwrap_or_default()
    })
}

/// One line of the report: kept for the lane, or printed now.
pub fn out(line: &str) {
    let kept = LANE.with(|l| {
        if let Some((_, Some(text))) = l.borrow_mut().as_mut() {
            text.push_str(line);
            text.push('\n');
            true
        } else {
            false
        }
    });
    if !kept {
        println!("{line}");
    }
}

#[derive(Default)]
pub struct Checks {
    results: Vec<(String, std::result::Result<String, String>)>,
}

impl Checks {
    /// Run one check and print its line. `f` returns the detail of a pass,
    /// or the reason for a failure.
    pub fn check(&mut self, name: &str, f: impl FnOnce() -> Result<String>) {
        let result = f().map_err(|e| e.0);
        match &result {
            Ok(detail) if detail.is_empty() => out(&format!("  PASS  {name}")),
            Ok(detail) => out(&format!("  PASS  {name}: {detail}")),
            Err(why) => out(&format!("  FAIL  {name}: {why}")),
        }
        self.results.push((name.to_owned(), result));
    }

    pub fn failures(&self) -> Vec<(&str, &str)> {
        self.results
            .iter()
            .filter_map(|(n, r)| r.as_ref().err().map(|e| (n.as_str(), e.as_str())))
            .collect()
    }

    pub fn count(&self) -> usize {
        self.results.len()
    }
}

#[derive(Default)]
pub struct Timings {
    rows: Vec<(String, Duration)>,
}

impl Timings {
    pub fn record(&mut self, what: &str, took: Duration) {
        self.rows.push((what.to_owned(), took));
    }

    pub fn rows(&self) -> &[(String, Duration)] {
        &self.rows
    }

    pub fn print(&self, title: &str) {
        out(&format!("\n  timings: {title}"));
        out(&format!("  | {:<44} | {:>9} |", "step", "time"));
        out(&format!("  | {:-<44} | {:->9} |", "", ""));
        for (what, took) in &self.rows {
            out(&format!("  | {what:<44} | {:>8.1}s |", took.as_secs_f64()));
        }
    }
}
