//! `bandwidth`: at most `rate` KB/s (1 KB = 1000 bytes, as Toxiproxy counts), sent in pieces
//! of at most 100 ms worth.

use super::{Emit, Stage, Timed, parse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attributes {
    pub rate: i64,
}

pub struct State {
    a: Attributes,
    q: Timed,
    /// When the link is free to send again.
    free_at: Option<Instant>,
    limited: u64,
}

impl State {
    pub fn new(a: Attributes, _now: Instant) -> State {
        State {
            a,
            q: Timed::default(),
            free_at: None,
            limited: 0,
        }
    }
}

impl Stage for State {
    fn data(&mut self, now: Instant, data: Vec<u8>, out: &mut Vec<Emit>) {
        if self.a.rate <= 0 {
            self.q.push(now, Some(data));
            self.q.release(now, out);
            return;
        }
        self.limited += data.len() as u64;
        let rate = self.a.rate as u64; // bytes per millisecond
        let piece = (rate * 100).max(1) as usize;
        let mut start = self.free_at.map_or(now, |f| f.max(now));
        for chunk in data.chunks(piece) {
            let cost = Duration::from_micros(chunk.len() as u64 * 1000 / rate);
            start += cost;
            self.q.push(start, Some(chunk.to_vec()));
        }
        self.free_at = Some(start);
        self.q.release(now, out);
    }
    fn eof(&mut self, now: Instant, out: &mut Vec<Emit>) {
        self.q.push(self.q.last().unwrap_or(now), None);
        self.q.release(now, out);
    }
    fn poll(&mut self, now: Instant, out: &mut Vec<Emit>) {
        self.q.release(now, out);
    }
    fn deadline(&self) -> Option<Instant> {
        self.q.next()
    }
    fn held(&self) -> usize {
        self.q.held()
    }
    fn update(&mut self, v: &Value) -> Result<(), String> {
        self.a = parse(v)?;
        Ok(())
    }
    fn remove(&mut self, out: &mut Vec<Emit>) {
        self.q.flush(out);
    }
    fn acted(&self) -> Option<String> {
        (self.limited > 0).then(|| format!("paced {} bytes at {} KB/s", self.limited, self.a.rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::testing::run;

    #[test]
    fn one_kb_per_second_paces_pieces_of_100_bytes() {
        let t0 = Instant::now();
        let mut s = State::new(Attributes { rate: 1 }, t0);
        let out = run(&mut s, t0, &[(0, Some(&[7u8; 250]))], 300);
        let times: Vec<u64> = out.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, vec![100, 200, 250]);
    }
}
