//! `syn_drop`: while it is on, new connections are neither accepted nor refused. The proxy
//! fills its listener's accept queue (backlog 0 and one connection of its own it never
//! accepts), so the kernel drops every SYN (tcp_conn_request(), `ListenOverflows`) and the
//! client's connect() times out. Existing connections are untouched: the toxic lives at the
//! listener, and its stage here passes data through.

use super::{Emit, Stage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attributes {}

pub struct State;

impl State {
    pub fn new(_: Attributes, _: Instant) -> State {
        State
    }
}

impl Stage for State {
    fn data(&mut self, _: Instant, data: Vec<u8>, out: &mut Vec<Emit>) {
        out.push(Emit::Data(data));
    }
    fn update(&mut self, _: &Value) -> Result<(), String> {
        Ok(())
    }
    fn remove(&mut self, _: &mut Vec<Emit>) {}
    fn acted(&self) -> Option<String> {
        None
    }
}
