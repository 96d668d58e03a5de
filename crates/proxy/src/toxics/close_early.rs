//! `close_early`: after the client's first request (the first data on its stream), and
//! `delay` ms more, the proxy closes toward the client with a FIN. The client's socket moves
//! to CLOSE_WAIT; whatever it sends next reaches a closed socket and is answered with RST
//! (TCP_ABORT_ON_DATA, or TCP_TIMEWAIT_SOCKET once only the timewait socket is left): the
//! seed's WSAECONNABORTED 10053. The request itself is forwarded.

use super::{Action, Emit, OneShot, Stage, ms, parse};
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
    fn data(&mut self, now: Instant, data: Vec<u8>, out: &mut Vec<Emit>) {
        if self.shot.fired() {
            return;
        }
        out.push(Emit::Data(data));
        self.shot.arm(now + ms(self.a.delay));
        self.poll(now, out);
    }
    fn poll(&mut self, now: Instant, out: &mut Vec<Emit>) {
        if self.shot.fire(now) {
            out.push(Emit::Action(Action::CloseClient));
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
                "closed toward the client (FIN) {} ms after its first request",
                self.a.delay
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::testing::{data, run};

    #[test]
    fn forwards_the_request_then_closes() {
        let t0 = Instant::now();
        let mut s = State::new(Attributes { delay: 0 }, t0);
        let out = run(&mut s, t0, &[(3, Some(b"GET /")), (4, Some(b"more"))], 6);
        assert_eq!(
            out,
            vec![(3, data(b"GET /")), (3, Emit::Action(Action::CloseClient))]
        );
    }
}
