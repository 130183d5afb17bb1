//! What a scenario reports: named checks, each PASS or FAIL with a detail,
//! and the timings table printed at its end.

use std::time::Duration;

use crate::error::Result;

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
            Ok(detail) if detail.is_empty() => println!("  PASS  {name}"),
            Ok(detail) => println!("  PASS  {name}: {detail}"),
            Err(why) => println!("  FAIL  {name}: {why}"),
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
        println!("\n  timings: {title}");
        println!("  | {:<44} | {:>9} |", "step", "time");
        println!("  | {:-<44} | {:->9} |", "", "");
        for (what, took) in &self.rows {
            println!("  | {what:<44} | {:>8.1}s |", took.as_secs_f64());
        }
    }
}
