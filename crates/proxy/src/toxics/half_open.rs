//! `half_open`: `delay` ms after the toxic meets a connection (its accept, or the toxic's
//! arrival), the proxy forgets the client's connection without sending anything: its socket
//! is closed in TCP_REPAIR mode. The client believes it is still connected; its next segment
//! meets a RST from a host that has no such connection, as after the peer rebooted.

use super::{Action, Emit, Stage, ms, parse};
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
    since: Instant,
    done: bool,
}

impl State {
    pub fn new(a: Attributes, now: Instant) -> State {
        State {
            a,
            since: now,
            done: false,
        }
    }
}

impl Stage for State {
    fn data(&mut self, now: Instant, data: Vec<u8>, out: &mut Vec<Emit>) {
        self.poll(now, out);
        if !self.done {
            out.push(Emit::Data(data));
        }
    }
    fn poll(&mut self, now: Instant, out: &mut Vec<Emit>) {
        if !self.done && self.since + ms(self.a.delay) <= now {
            self.done = true;
            out.push(Emit::Action(Action::Forget));
        }
    }
    fn deadline(&self) -> Option<Instant> {
        (!self.done).then(|| self.since + ms(self.a.delay))
    }
    fn update(&mut self, v: &Value) -> Result<(), String> {
        self.a = parse(v)?;
        Ok(())
    }
    fn remove(&mut self, _: &mut Vec<Emit>) {}
    fn acted(&self) -> Option<String> {
        self.done.then(|| {
            format!(
                "forgot the client's connection after {} ms (TCP_REPAIR close: no FIN, no RST)",
                self.a.delay
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::testing::run;

    #[test]
    fn forgets_after_the_delay_even_without_data() {
        let t0 = Instant::now();
        let mut s = State::new(Attributes { delay: 4 }, t0);
        assert_eq!(
            run(&mut s, t0, &[], 10),
            vec![(4, Emit::Action(Action::Forget))]
        );
    }
}
