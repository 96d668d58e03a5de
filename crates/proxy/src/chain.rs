//! One direction of a connection: its toxics in order, each fed what the previous one emits.
//! Pure: the edge feeds it data, EOF and time, and carries out what comes out.

use crate::toxics::{Action, Emit, Stage, Stream, Toxic};
use std::time::Instant;

/// What leaves the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Data(Vec<u8>),
    Eof,
    /// An action on the whole connection, with the name of the toxic that took it.
    Action(Action, String),
}

struct Entry {
    toxic: Toxic,
    stage: Box<dyn Stage>,
}

/// A toxic that did something to this connection, for the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Acted {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub stream: &'static str,
    pub what: String,
}

pub struct Chain {
    stream: Stream,
    entries: Vec<Entry>,
    /// What toxics removed while the connection lived had done.
    gone: Vec<Acted>,
}

impl Chain {
    pub fn new(stream: Stream) -> Chain {
        Chain {
            stream,
            entries: Vec::new(),
            gone: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Brings the chain to the proxy's current toxics (those of this stream, in order):
    /// removed ones hand on what they hold, changed ones keep their state, new ones go last.
    /// `roll` gives each new toxic its toxicity draw in [0, 1).
    pub fn sync(
        &mut self,
        toxics: &[Toxic],
        now: Instant,
        roll: &mut dyn FnMut() -> f32,
        out: &mut Vec<Out>,
    ) {
        let wanted: Vec<&Toxic> = toxics.iter().filter(|t| t.stream == self.stream).collect();
        let mut i = 0;
        while i < self.entries.len() {
            let name = &self.entries[i].toxic.name;
            match wanted.iter().find(|t| &t.name == name) {
                Some(t) if t.kind == self.entries[i].toxic.kind => {
                    let t = (*t).clone();
                    let e = &mut self.entries[i];
                    if t.toxicity != e.toxic.toxicity {
                        // A new toxicity is a new draw, as Toxiproxy restarts the toxic.
                        let mut o = Vec::new();
                        e.stage.remove(&mut o);
                        self.remember(i);
                        self.entries[i].stage = t.stage(now, roll());
                        self.entries[i].toxic = t;
                        self.feed(i + 1, now, o, i, out);
                    } else if t != e.toxic {
                        let _ = e.stage.update(&t.attributes);
                        e.toxic = t;
                    }
                    i += 1;
                }
                _ => {
                    let mut o = Vec::new();
                    self.entries[i].stage.remove(&mut o);
                    self.remember(i);
                    let removed = self.entries.remove(i);
                    self.feed_tagged(i, now, o, &removed.toxic.name, out);
                }
            }
        }
        for t in wanted {
            if !self.entries.iter().any(|e| e.toxic.name == t.name) {
                self.entries.push(Entry {
                    toxic: t.clone(),
                    stage: t.stage(now, roll()),
                });
                // A toxic may act the moment it meets the connection (reset, half_open).
                let last = self.entries.len() - 1;
                let mut o = Vec::new();
                self.entries[last].stage.poll(now, &mut o);
                self.feed(last + 1, now, o, last, out);
            }
        }
    }

    fn remember(&mut self, i: usize) {
        let e = &self.entries[i];
        if let Some(what) = e.stage.acted() {
            self.gone.push(Acted {
                name: e.toxic.name.clone(),
                kind: e.toxic.kind.name(),
                stream: e.toxic.stream.name(),
                what,
            });
        }
    }

    pub fn data(&mut self, now: Instant, data: Vec<u8>, out: &mut Vec<Out>) {
        self.feed_one(0, now, Emit::Data(data), "", out);
    }

    pub fn eof(&mut self, now: Instant, out: &mut Vec<Out>) {
        self.feed_one(0, now, Emit::Eof, "", out);
    }

    pub fn poll(&mut self, now: Instant, out: &mut Vec<Out>) {
        for i in 0..self.entries.len() {
            if self.entries[i].stage.deadline().is_some_and(|d| d <= now) {
                let mut o = Vec::new();
                self.entries[i].stage.poll(now, &mut o);
                self.feed(i + 1, now, o, i, out);
            }
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.entries.iter().filter_map(|e| e.stage.deadline()).min()
    }

    pub fn held(&self) -> usize {
        self.entries.iter().map(|e| e.stage.held()).sum()
    }

    pub fn blocks_reading(&self) -> bool {
        self.entries.iter().any(|e| e.stage.blocks_reading())
    }

    pub fn activity(&mut self, now: Instant) {
        for e in &mut self.entries {
            e.stage.activity(now);
        }
    }

    /// What the toxics did to this connection so far, removed ones included.
    pub fn acted(&self) -> Vec<Acted> {
        let mut v = self.gone.clone();
        for e in &self.entries {
            if let Some(what) = e.stage.acted() {
                v.push(Acted {
                    name: e.toxic.name.clone(),
                    kind: e.toxic.kind.name(),
                    stream: e.toxic.stream.name(),
                    what,
                });
            }
        }
        v
    }

    fn feed(&mut self, from: usize, now: Instant, items: Vec<Emit>, by: usize, out: &mut Vec<Out>) {
        let name = self
            .entries
            .get(by)
            .map(|e| e.toxic.name.clone())
            .unwrap_or_default();
        self.feed_tagged(from, now, items, &name, out);
    }

    fn feed_tagged(
        &mut self,
        from: usize,
        now: Instant,
        items: Vec<Emit>,
        by: &str,
        out: &mut Vec<Out>,
    ) {
        for item in items {
            self.feed_one(from, now, item, by, out);
        }
    }

    fn feed_one(&mut self, i: usize, now: Instant, item: Emit, by: &str, out: &mut Vec<Out>) {
        match item {
            Emit::Action(a) => out.push(Out::Action(a, by.to_string())),
            Emit::Data(d) if i >= self.entries.len() => out.push(Out::Data(d)),
            Emit::Eof if i >= self.entries.len() => out.push(Out::Eof),
            item => {
                let mut o = Vec::new();
                match item {
                    Emit::Data(d) => self.entries[i].stage.data(now, d, &mut o),
                    _ => self.entries[i].stage.eof(now, &mut o),
                }
                self.feed(i + 1, now, o, i, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn toxic(body: serde_json::Value) -> Toxic {
        Toxic::from_json(&body).unwrap()
    }

    #[test]
    fn toxics_chain_in_order_and_removal_releases_held_data() {
        let t0 = Instant::now();
        let mut c = Chain::new(Stream::Downstream);
        let lat = toxic(json!({"type": "latency", "attributes": {"latency": 10}}));
        let lim = toxic(json!({"type": "limit_data", "attributes": {"bytes": 3}}));
        let mut out = Vec::new();
        c.sync(&[lat.clone(), lim.clone()], t0, &mut || 0.0, &mut out);
        c.data(t0, b"hello".to_vec(), &mut out);
        assert!(out.is_empty(), "latency holds it");
        assert_eq!(c.deadline(), Some(t0 + Duration::from_millis(10)));
        c.poll(t0 + Duration::from_millis(10), &mut out);
        assert_eq!(
            out,
            vec![
                Out::Data(b"hel".to_vec()),
                Out::Action(Action::Close, "limit_data_downstream".into())
            ]
        );
        // Removing latency while it holds data hands the data on, nothing lost.
        let mut c = Chain::new(Stream::Downstream);
        let mut out = Vec::new();
        c.sync(std::slice::from_ref(&lat), t0, &mut || 0.0, &mut out);
        c.data(t0, b"x".to_vec(), &mut out);
        c.sync(&[], t0, &mut || 0.0, &mut out);
        assert_eq!(out, vec![Out::Data(b"x".to_vec())]);
        assert_eq!(c.acted()[0].name, "latency_downstream");
    }

    #[test]
    fn toxicity_spares_a_link_and_other_streams_are_ignored() {
        let t0 = Instant::now();
        let mut c = Chain::new(Stream::Downstream);
        let t = toxic(json!({"type": "timeout", "toxicity": 0.5}));
        let up = toxic(json!({"type": "timeout", "stream": "upstream"}));
        let mut out = Vec::new();
        c.sync(&[t, up], t0, &mut || 0.7, &mut out);
        c.data(t0, b"a".to_vec(), &mut out);
        assert_eq!(out, vec![Out::Data(b"a".to_vec())]);
    }
}
