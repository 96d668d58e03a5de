//! `slow_close`: the FIN waits `delay` ms; data passes at once.

use super::{Emit, Stage, ms, parse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attributes {
    pub delay: i64,
}

pub struct State {
    a: Attributes,
    fin_at: Option<Instant>,
    held_fin: bool,
}

impl State {
    pub fn new(a: Attributes, _now: Instant) -> State {
        State {
            a,
            fin_at: None,
            held_fin: false,
        }
    }
}

impl Stage for State {
    fn data(&mut self, _: Instant, data: Vec<u8>, out: &mut Vec<Emit>) {
        out.push(Emit::Data(data));
    }
    fn eof(&mut self, now: Instant, out: &mut Vec<Emit>) {
        self.held_fin = true;
        self.fin_at = Some(now + ms(self.a.delay));
        self.poll(now, out);
    }
    fn poll(&mut self, now: Instant, out: &mut Vec<Emit>) {
        if self.fin_at.is_some_and(|t| t <= now) {
            self.fin_at = None;
            out.push(Emit::Eof);
        }
    }
    fn deadline(&self) -> Option<Instant> {
        self.fin_at
    }
    fn update(&mut self, v: &Value) -> Result<(), String> {
        self.a = parse(v)?;
        Ok(())
    }
    fn remove(&mut self, out: &mut Vec<Emit>) {
        if self.fin_at.take().is_some() {
            out.push(Emit::Eof);
        }
    }
    fn acted(&self) -> Option<String> {
        self.held_fin
            .then(|| format!("held the FIN back {} ms", self.a.delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::testing::{data, run};

    #[test]
    fn the_fin_waits() {
        let t0 = Instant::now();
        let mut s = State::new(Attributes { delay: 5 }, t0);
        let out = run(&mut s, t0, &[(1, Some(b"x")), (2, None)], 10);
        assert_eq!(out, vec![(1, data(b"x")), (7, Emit::Eof)]);
    }
}
