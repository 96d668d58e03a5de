//! A one-line progress bar on stderr, drawn only when stderr is a terminal and the input is
//! big enough to wait for.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const MIN_SIZE: u64 = 64 << 20;
const EVERY: Duration = Duration::from_millis(100);

pub struct Progress {
    name: String,
    size: Option<u64>,
    start: Instant,
    last: Option<Instant>,
    on: bool,
}

impl Progress {
    /// `size`: the file's length; `None` for a pipe, which gets a byte count instead.
    pub fn new(name: &str, size: Option<u64>) -> Progress {
        Progress {
            name: name.to_string(),
            size,
            start: Instant::now(),
            last: None,
            on: std::io::stderr().is_terminal() && size.is_none_or(|s| s >= MIN_SIZE),
        }
    }

    pub fn update(&mut self, offset: u64, live: usize) {
        if !self.on || self.last.is_some_and(|l| l.elapsed() < EVERY) {
            return;
        }
        if self.last.is_none() && self.start.elapsed() < Duration::from_millis(300) {
            return;
        }
        self.last = Some(Instant::now());
        let mb = offset as f64 / 1e6;
        let rate = mb / self.start.elapsed().as_secs_f64().max(1e-3);
        let line = match self.size {
            Some(size) => {
                let frac = (offset as f64 / size.max(1) as f64).min(1.0);
                let filled = (frac * 30.0) as usize;
                format!(
                    "{} [{}{}] {:>3.0}% {mb:.0}/{:.0} MB · {rate:.0} MB/s · {live} live connections",
                    self.name,
                    "█".repeat(filled),
                    "·".repeat(30 - filled),
                    frac * 100.0,
                    size as f64 / 1e6
                )
            }
            None => format!(
                "{} {mb:.0} MB · {rate:.0} MB/s · {live} live connections",
                self.name
            ),
        };
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[2K{line}");
        let _ = e.flush();
    }

    pub fn done(&mut self) {
        if self.on && self.last.is_some() {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}
