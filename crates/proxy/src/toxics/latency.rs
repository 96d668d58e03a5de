//! `latency`: each chunk leaves `latency` ± `jitter` ms after it arrived, in order.

use super::{Emit, Stage, Timed, ms, parse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attributes {
    pub latency: i64,
    pub jitter: i64,
}

pub struct State {
    a: Attributes,
    q: Timed,
    delayed: u64,
}

impl State {
    pub fn new(a: Attributes, _now: Instant) -> State {
        State {
            a,
            q: Timed::default(),
            delayed: 0,
        }
    }
    fn delay(&self) -> std::time::Duration {
        let j = self.a.jitter.clamp(0, i64::MAX / 4);
        let jitter = if j > 0 { fastrand::i64(-j..j) } else { 0 };
        ms(self.a.latency.clamp(-(i64::MAX / 4), i64::MAX / 4) + jitter)
    }
}

impl Stage for State {
    fn data(&mut self, now: Instant, data: Vec<u8>, out: &mut Vec<Emit>) {
        self.delayed += 1;
        let at = now + self.delay();
        self.q.push(at, Some(data));
        self.q.release(now, out);
    }
    fn eof(&mut self, now: Instant, out: &mut Vec<Emit>) {
        // The FIN follows the data it came after, undelayed itself.
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
        (self.delayed > 0).then(|| {
            format!(
                "delayed {} chunk(s) by {} ms ± {}",
                self.delayed, self.a.latency, self.a.jitter
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::testing::{data, run};

    #[test]
    fn each_chunk_waits_its_latency_and_order_is_kept() {
        let t0 = Instant::now();
        let mut s = State::new(
            Attributes {
                latency: 10,
                jitter: 0,
            },
            t0,
        );
        let out = run(
            &mut s,
            t0,
            &[(0, Some(b"a")), (3, Some(b"b")), (4, None)],
            30,
        );
        assert_eq!(
            out,
            vec![(10, data(b"a")), (13, data(b"b")), (13, Emit::Eof)]
        );
        assert!(s.acted().unwrap().contains("2 chunk"));
    }
}
