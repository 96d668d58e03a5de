//! A one-line progress report on stderr for long lab runs, drawn only when stderr is a
//! terminal and the run has lasted a second: a scenario of thousands of steps, or the whole
//! catalog.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const AFTER: Duration = Duration::from_secs(1);
const EVERY: Duration = Duration::from_millis(100);

pub struct Progress {
    what: String,
    start: Instant,
    last: Mutex<Option<Instant>>,
    on: bool,
}

impl Progress {
    pub fn new(what: &str) -> Progress {
        Progress {
            what: what.to_string(),
            start: Instant::now(),
            last: Mutex::new(None),
            on: std::io::stderr().is_terminal(),
        }
    }

    /// `done` of `total` (steps or scenarios), with a word for the unit.
    pub fn update(&self, done: usize, total: usize, unit: &str) {
        if !self.on || self.start.elapsed() < AFTER {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if last.is_some_and(|l| l.elapsed() < EVERY) && done < total {
            return;
        }
        *last = Some(Instant::now());
        let frac = done as f64 / total.max(1) as f64;
        let filled = (frac * 30.0) as usize;
        let mut e = std::io::stderr().lock();
        let _ = write!(
            e,
            "\r\x1b[2K{} [{}{}] {done}/{total} {unit} · {:.0} s",
            self.what,
            "█".repeat(filled),
            "·".repeat(30 - filled.min(30)),
            self.start.elapsed().as_secs_f64()
        );
        let _ = e.flush();
    }

    /// Clears the line, if one was drawn.
    pub fn done(&self) {
        if self.on && self.last.lock().is_ok_and(|l| l.is_some()) {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}
