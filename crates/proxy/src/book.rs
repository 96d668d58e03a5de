//! The record of a proxy's client connections: live ones with their counters, and the most
//! recent ended ones, for `/proxies/{name}/connections`; ended reports also go to the
//! process's report sink (stdout).

use crate::report::Report;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How many ended connections each proxy keeps for the API.
pub const KEEP_ENDED: usize = 1000;

/// A live connection's counters, updated by its task, read by the API.
#[derive(Debug)]
pub struct Live {
    pub id: u64,
    pub started: std::time::Instant,
    pub report: Mutex<Report>,
    pub from_client: AtomicU64,
    pub to_client: AtomicU64,
}

impl Live {
    pub fn snapshot(&self) -> Report {
        let mut r = match self.report.lock() {
            Ok(r) => r.clone(),
            Err(e) => e.into_inner().clone(),
        };
        r.bytes_from_client = self.from_client.load(Ordering::Relaxed);
        r.bytes_to_client = self.to_client.load(Ordering::Relaxed);
        r.duration_ms = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1000.0;
        r
    }
}

/// Where ended reports go besides the book (the CLI prints them).
pub type Sink = Arc<dyn Fn(&Report) + Send + Sync>;

#[derive(Default)]
pub struct Book {
    next: AtomicU64,
    live: Mutex<Vec<Arc<Live>>>,
    ended: Mutex<VecDeque<Report>>,
}

impl Book {
    pub fn open(&self, report: Report) -> Arc<Live> {
        let l = Arc::new(Live {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            started: std::time::Instant::now(),
            report: Mutex::new(report),
            from_client: AtomicU64::new(0),
            to_client: AtomicU64::new(0),
        });
        if let Ok(mut v) = self.live.lock() {
            v.push(l.clone());
        }
        l
    }

    pub fn close(&self, id: u64, report: Report) {
        if let Ok(mut v) = self.live.lock()
            && let Some(i) = v.iter().position(|l| l.id == id)
        {
            v.swap_remove(i);
        }
        if let Ok(mut e) = self.ended.lock() {
            if e.len() == KEEP_ENDED {
                e.pop_front();
            }
            e.push_back(report);
        }
    }

    /// How many connections are live.
    pub fn live(&self) -> usize {
        self.live.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Live connections first (with their current counters), then the ended ones, oldest
    /// first.
    pub fn list(&self) -> Vec<Report> {
        let mut out: Vec<Report> = self
            .live
            .lock()
            .map(|v| v.iter().map(|l| l.snapshot()).collect())
            .unwrap_or_default();
        if let Ok(e) = self.ended.lock() {
            out.extend(e.iter().cloned());
        }
        out
    }
}
