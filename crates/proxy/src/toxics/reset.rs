//! `reset`: a RST to the client (SO_LINGER 0, then close), `delay` ms after `after_bytes`
//! bytes passed on its stream; with `after_bytes` 0 the delay runs from the toxic meeting the
//! connection, so the RST can come before any data. The upstream side is reset too.

use super::{Action, Emit, OneShot, Stage, ms, parse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attributes {
    pub delay: i64,
    pub after_bytes: i64,
}

pub struct State {
    a: Attributes,
    passed: u64,
    shot: OneShot,
}

impl State {
    pub fn new(a: Attributes, now: Instant) -> State {
        let mut s = State {
            a,
            passed: 0,
            shot: OneShot::default(),
        };
        s.arm(now);
        s
    }
    fn arm(&mut self, now: Instant) {
        if self.passed >= self.a.after_bytes.max(0) as u64 {
            self.shot.arm(now + ms(self.a.delay));
        }
    }
}

impl Stage for State {
    fn data(&mut self, now: Instant, mut data: Vec<u8>, out: &mut Vec<Emit>) {
        if self.shot.fired() {
            return;
        }
        // Pass bytes up to the threshold; what lies beyond it waits for the RST.
        let left = (self.a.after_bytes.max(0) as u64).saturating_sub(self.passed);
        if !self.shot.armed() && (data.len() as u64) > left {
            data.truncate(left as usize);
        }
        if !self.shot.armed() {
            self.passed += data.len() as u64;
            if !data.is_empty() {
                out.push(Emit::Data(data));
            }
        }
        self.arm(now);
        self.poll(now, out);
    }
    fn poll(&mut self, now: Instant, out: &mut Vec<Emit>) {
        if self.shot.fire(now) {
            out.push(Emit::Action(Action::ResetClient));
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
                "reset the client (SO_LINGER 0) {} ms after {} bytes",
                self.a.delay, self.passed
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::testing::{data, run};

    #[test]
    fn before_any_data() {
        let t0 = Instant::now();
        let mut s = State::new(Attributes::default(), t0);
        assert_eq!(
            run(&mut s, t0, &[], 2),
            vec![(0, Emit::Action(Action::ResetClient))]
        );
    }

    #[test]
    fn after_bytes_then_delay() {
        let t0 = Instant::now();
        let mut s = State::new(
            Attributes {
                delay: 2,
                after_bytes: 3,
            },
            t0,
        );
        let out = run(&mut s, t0, &[(1, Some(b"ab")), (5, Some(b"cdef"))], 10);
        assert_eq!(
            out,
            vec![
                (1, data(b"ab")),
                (5, data(b"c")),
                (7, Emit::Action(Action::ResetClient))
            ]
        );
    }
}
