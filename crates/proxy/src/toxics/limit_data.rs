//! `limit_data`: after `bytes` bytes on its stream the connection is closed; the chunk that
//! crosses the limit is cut at it.

use super::{Action, Emit, Stage, parse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attributes {
    pub bytes: i64,
}

pub struct State {
    a: Attributes,
    passed: u64,
    closed: bool,
}

impl State {
    pub fn new(a: Attributes, _now: Instant) -> State {
        State {
            a,
            passed: 0,
            closed: false,
        }
    }
}

impl Stage for State {
    fn data(&mut self, _: Instant, mut data: Vec<u8>, out: &mut Vec<Emit>) {
        if self.closed {
            return;
        }
        let left = (self.a.bytes.max(0) as u64).saturating_sub(self.passed);
        data.truncate(left.min(data.len() as u64) as usize);
        self.passed += data.len() as u64;
        if !data.is_empty() {
            out.push(Emit::Data(data));
        }
        if self.passed >= self.a.bytes.max(0) as u64 {
            self.closed = true;
            out.push(Emit::Action(Action::Close));
        }
    }
    fn update(&mut self, v: &Value) -> Result<(), String> {
        self.a = parse(v)?;
        Ok(())
    }
    fn remove(&mut self, _: &mut Vec<Emit>) {}
    fn acted(&self) -> Option<String> {
        self.closed
            .then(|| format!("closed after {} bytes", self.passed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::testing::{data, run};

    #[test]
    fn cuts_at_the_limit_and_closes() {
        let t0 = Instant::now();
        let mut s = State::new(Attributes { bytes: 5 }, t0);
        let out = run(&mut s, t0, &[(0, Some(b"abc")), (1, Some(b"defg"))], 3);
        assert_eq!(
            out,
            vec![
                (0, data(b"abc")),
                (1, data(b"de")),
                (1, Emit::Action(Action::Close))
            ]
        );
    }
}
