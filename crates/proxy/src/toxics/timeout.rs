//! `timeout`: all data is dropped; after `timeout` ms the connection is closed (0: never).
//! Removing the toxic closes the connection too, as Toxiproxy's cleanup does.

use super::{Action, Emit, Stage, ms, parse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attributes {
    pub timeout: i64,
}

pub struct State {
    a: Attributes,
    since: Instant,
    dropped: u64,
    closed: bool,
}

impl State {
    pub fn new(a: Attributes, now: Instant) -> State {
        State {
            a,
            since: now,
            dropped: 0,
            closed: false,
        }
    }
}

impl Stage for State {
    fn data(&mut self, _: Instant, data: Vec<u8>, _: &mut Vec<Emit>) {
        self.dropped += data.len() as u64;
    }
    fn eof(&mut self, _: Instant, out: &mut Vec<Emit>) {
        out.push(Emit::Action(Action::Close));
        self.closed = true;
    }
    fn poll(&mut self, now: Instant, out: &mut Vec<Emit>) {
        if let Some(t) = self.deadline()
            && t <= now
        {
            self.closed = true;
            out.push(Emit::Action(Action::Close));
        }
    }
    fn deadline(&self) -> Option<Instant> {
        (self.a.timeout > 0 && !self.closed).then(|| self.since + ms(self.a.timeout))
    }
    fn update(&mut self, v: &Value) -> Result<(), String> {
        self.a = parse(v)?;
        Ok(())
    }
    fn remove(&mut self, out: &mut Vec<Emit>) {
        if !self.closed {
            self.closed = true;
            out.push(Emit::Action(Action::Close));
        }
    }
    fn acted(&self) -> Option<String> {
        Some(match (self.closed, self.a.timeout) {
            (true, t) if t > 0 => format!("dropped {} bytes, closed after {t} ms", self.dropped),
            (true, _) => format!("dropped {} bytes, then closed", self.dropped),
            (false, _) => format!("dropped {} bytes", self.dropped),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::testing::run;

    #[test]
    fn drops_then_closes() {
        let t0 = Instant::now();
        let mut s = State::new(Attributes { timeout: 5 }, t0);
        let out = run(&mut s, t0, &[(1, Some(b"lost"))], 10);
        assert_eq!(out, vec![(5, Emit::Action(Action::Close))]);
        assert_eq!(
            s.acted().as_deref(),
            Some("dropped 4 bytes, closed after 5 ms")
        );
        let mut s = State::new(Attributes { timeout: 0 }, t0);
        assert!(run(&mut s, t0, &[(1, Some(b"lost"))], 100).is_empty());
    }
}
