//! `stall`: the proxy stops reading its stream's source and forwarding. The source's data
//! piles up in the proxy's receive buffer until the window closes; then the sender's own send
//! buffer fills and its sends block (or fail with EAGAIN when non-blocking). Removing the
//! toxic lets everything flow again, nothing lost.

use super::{Emit, Stage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attributes {}

pub struct State {
    held: Vec<Vec<u8>>,
    eof: bool,
}

impl State {
    pub fn new(_: Attributes, _: Instant) -> State {
        State {
            held: Vec::new(),
            eof: false,
        }
    }
}

impl Stage for State {
    fn data(&mut self, _: Instant, data: Vec<u8>, _: &mut Vec<Emit>) {
        // Only what was already read when the stall began.
        self.held.push(data);
    }
    fn eof(&mut self, _: Instant, _: &mut Vec<Emit>) {
        self.eof = true;
    }
    fn held(&self) -> usize {
        self.held.iter().map(Vec::len).sum()
    }
    fn blocks_reading(&self) -> bool {
        true
    }
    fn update(&mut self, _: &Value) -> Result<(), String> {
        Ok(())
    }
    fn remove(&mut self, out: &mut Vec<Emit>) {
        out.extend(self.held.drain(..).map(Emit::Data));
        if self.eof {
            out.push(Emit::Eof);
        }
    }
    fn acted(&self) -> Option<String> {
        Some("stopped reading and forwarding".into())
    }
}
