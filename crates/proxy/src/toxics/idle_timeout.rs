//! `idle_timeout`: after `idle` ms without traffic in either direction, the connection is
//! forgotten the way a NAT or load balancer drops an idle flow. The client is told nothing;
//! its next data meets a RST, or with `silent: true` nothing at all: its segments vanish
//! until its retransmissions give up (ETIMEDOUT).

use super::{Action, Emit, Stage, ms, parse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default)]
pub struct Attributes {
    pub idle: i64,
    pub silent: bool,
}

impl Default for Attributes {
    fn default() -> Attributes {
        Attributes {
            idle: 1000,
            silent: false,
        }
    }
}

pub struct State {
    a: Attributes,
    last: Instant,
    done: bool,
}

impl State {
    pub fn new(a: Attributes, now: Instant) -> State {
        State {
            a,
            last: now,
            done: false,
        }
    }
}

impl Stage for State {
    fn data(&mut self, now: Instant, data: Vec<u8>, out: &mut Vec<Emit>) {
        self.poll(now, out);
        if !self.done {
            self.last = now;
            out.push(Emit::Data(data));
        }
    }
    fn poll(&mut self, now: Instant, out: &mut Vec<Emit>) {
        if !self.done && self.last + ms(self.a.idle) <= now {
            self.done = true;
            out.push(Emit::Action(if self.a.silent {
                Action::BlackHole
            } else {
                Action::ForgetOrResetOnData
            }));
        }
    }
    fn activity(&mut self, now: Instant) {
        if !self.done {
            self.last = self.last.max(now);
        }
    }
    fn deadline(&self) -> Option<Instant> {
        (!self.done).then(|| self.last + ms(self.a.idle))
    }
    fn update(&mut self, v: &Value) -> Result<(), String> {
        self.a = parse(v)?;
        Ok(())
    }
    fn remove(&mut self, _: &mut Vec<Emit>) {}
    fn acted(&self) -> Option<String> {
        self.done.then(|| {
            format!(
                "forgot the connection after {} ms idle{}",
                self.a.idle,
                if self.a.silent {
                    ", silently (the client's segments are dropped)"
                } else {
                    ""
                }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::testing::{data, run};
    use std::time::Duration;

    #[test]
    fn traffic_keeps_it_alive_then_silence_forgets() {
        let t0 = Instant::now();
        let mut s = State::new(
            Attributes {
                idle: 5,
                silent: false,
            },
            t0,
        );
        s.activity(t0 + Duration::from_millis(3));
        let out = run(&mut s, t0, &[(6, Some(b"x"))], 20);
        assert_eq!(
            out,
            vec![
                (6, data(b"x")),
                (11, Emit::Action(Action::ForgetOrResetOnData))
            ]
        );
    }

    #[test]
    fn silent_black_holes() {
        let t0 = Instant::now();
        let mut s = State::new(
            Attributes {
                idle: 2,
                silent: true,
            },
            t0,
        );
        assert_eq!(
            run(&mut s, t0, &[], 5),
            vec![(2, Emit::Action(Action::BlackHole))]
        );
    }
}
