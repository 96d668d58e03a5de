//! `reset_peer`: `timeout` ms after the first data on its stream, both sides are reset
//! (SO_LINGER 0 and close), and that data is dropped. Toxiproxy acts only once data flows;
//! `reset` acts before any.

use super::{Action, Emit, OneShot, Stage, ms, parse};
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
    shot: OneShot,
}

impl State {
    pub fn new(a: Attributes, _now: Instant) -> State {
        State {
            a,
            shot: OneShot::default(),
        }
    }
}

impl Stage for State {
    fn data(&mut self, now: Instant, _: Vec<u8>, out: &mut Vec<Emit>) {
        self.shot.arm(now + ms(self.a.timeout));
        self.poll(now, out);
    }
    fn poll(&mut self, now: Instant, out: &mut Vec<Emit>) {
        if self.shot.fire(now) {
            out.push(Emit::Action(Action::ResetBoth));
        }
    }
    fn deadline(&self) -> Option<Instant> {
        self.shot.deadline()
    }
    fn update(&mut self, v: &Value) -> Result<(), String> {
        self.a = parse(v)?;
        Ok(())
    }
    fn remove(&mut self, _: &mut Vec<Emit>) {}
    fn acted(&self) -> Option<String> {
        self.shot.fired().then(|| {
            format!(
                "reset both sides {} ms after the first data",
                self.a.timeout
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::testing::run;

    #[test]
    fn waits_for_data_then_resets() {
        let t0 = Instant::now();
        let mut s = State::new(Attributes { timeout: 3 }, t0);
        let out = run(&mut s, t0, &[(10, Some(b"x"))], 20);
        assert_eq!(out, vec![(13, Emit::Action(Action::ResetBoth))]);
    }
}
