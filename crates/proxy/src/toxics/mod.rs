//! Toxics as pure state machines over bytes and time, one file each as Toxiproxy keeps
//! `toxics/*.go`. A toxic never touches a socket or reads a clock: the proxy's I/O edge feeds
//! it data, end of stream and the current time, and carries out what it emits (data to
//! forward, a FIN, or an action on the whole connection such as a RST).
//!
//! Toxiproxy's own toxics keep its attributes and behaviour; the TCP deaths it lacks
//! (`half_open`, `syn_drop`, `reset`, `close_early`, `idle_timeout`, `stall`) act on the whole
//! connection whatever their stream, which only selects the bytes they count.

pub mod bandwidth;
pub mod close_early;
pub mod half_open;
pub mod idle_timeout;
pub mod latency;
pub mod limit_data;
pub mod reset;
pub mod reset_peer;
pub mod slicer;
pub mod slow_close;
pub mod stall;
pub mod syn_drop;
pub mod timeout;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The direction a toxic acts on: `upstream` is client → server, `downstream` server → client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Upstream,
    Downstream,
}

impl Stream {
    pub fn parse(s: &str) -> Option<Stream> {
        match s {
            "upstream" => Some(Stream::Upstream),
            "downstream" => Some(Stream::Downstream),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

/// What a toxic needs beyond an ordinary process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    /// CAP_NET_ADMIN, for TCP_REPAIR.
    NetAdmin,
}

macro_rules! types {
    ($($variant:ident $name:literal $module:ident $needs:expr, $help:literal;)*) => {
        /// A toxic's type, by its Toxiproxy name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Type { $($variant),* }

        impl Type {
            pub const ALL: &[Type] = &[$(Type::$variant),*];
            pub fn name(self) -> &'static str {
                match self { $(Type::$variant => $name),* }
            }
            pub fn parse(s: &str) -> Option<Type> {
                match s { $($name => Some(Type::$variant),)* _ => None }
            }
            pub fn needs(self) -> Needs {
                match self { $(Type::$variant => $needs),* }
            }
            /// The attributes' names in Toxiproxy's order.
            pub fn attribute_names(self) -> &'static [&'static str] {
                match self {
                    Type::Latency => &["latency", "jitter"],
                    Type::Bandwidth => &["rate"],
                    Type::SlowClose => &["delay"],
                    Type::Timeout => &["timeout"],
                    Type::ResetPeer => &["timeout"],
                    Type::Slicer => &["average_size", "size_variation", "delay"],
                    Type::LimitData => &["bytes"],
                    Type::HalfOpen => &["delay"],
                    Type::SynDrop => &[],
                    Type::Reset => &["delay", "after_bytes"],
                    Type::CloseEarly => &["delay"],
                    Type::IdleTimeout => &["idle", "silent"],
                    Type::Stall => &[],
                }
            }
            /// One line for `--help` and the README.
            pub fn help(self) -> &'static str {
                match self { $(Type::$variant => $help),* }
            }
            /// The attributes with their defaults, in the order Toxiproxy prints them.
            pub fn default_attributes(self) -> Value {
                match self {
                    $(Type::$variant => serde_json::to_value($module::Attributes::default())
                        .unwrap_or(Value::Null)),*
                }
            }
            fn stage(self, attrs: &Value, now: Instant) -> Result<Box<dyn Stage>, String> {
                match self {
                    $(Type::$variant => {
                        let a: $module::Attributes = serde_json::from_value(attrs.clone())
                            .map_err(|e| e.to_string())?;
                        Ok(Box::new($module::State::new(a, now)))
                    }),*
                }
            }
            fn check(self, attrs: &Value) -> Result<Value, String> {
                match self {
                    $(Type::$variant => {
                        let a: $module::Attributes = serde_json::from_value(attrs.clone())
                            .map_err(|e| e.to_string())?;
                        serde_json::to_value(a).map_err(|e| e.to_string())
                    }),*
                }
            }
        }
    };
}

types! {
    Latency "latency" latency Needs::Nothing, "latency, jitter (ms): delay each chunk";
    Bandwidth "bandwidth" bandwidth Needs::Nothing, "rate (KB/s): limit throughput";
    SlowClose "slow_close" slow_close Needs::Nothing, "delay (ms): hold the FIN back";
    Timeout "timeout" timeout Needs::Nothing, "timeout (ms): drop all data, then close (0: never)";
    ResetPeer "reset_peer" reset_peer Needs::Nothing, "timeout (ms): RST both sides that long after the first data";
    Slicer "slicer" slicer Needs::Nothing, "average_size, size_variation (bytes), delay (µs): slice data into small writes";
    LimitData "limit_data" limit_data Needs::Nothing, "bytes: close after that many bytes";
    HalfOpen "half_open" half_open Needs::NetAdmin, "delay (ms): forget the client's connection without a FIN or RST (TCP_REPAIR close); its next segment meets RST";
    SynDrop "syn_drop" syn_drop Needs::Nothing, "new connections are neither accepted nor refused: the accept queue is kept full, SYNs are dropped and connect() times out";
    Reset "reset" reset Needs::Nothing, "delay (ms), after_bytes: RST the client (SO_LINGER 0), before any data if need be";
    CloseEarly "close_early" close_early Needs::Nothing, "delay (ms): after the client's first request, FIN toward it; its further data meets RST (the seed's 10053)";
    IdleTimeout "idle_timeout" idle_timeout Needs::Nothing, "idle (ms), silent: after idle without traffic forget the connection like a NAT or load balancer: the next data meets RST, or with silent:true nothing at all";
    Stall "stall" stall Needs::Nothing, "stop reading and forwarding: the sender's window fills and its sends block";
}

/// What a toxic does to the whole connection. The edge carries it out and reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Close both sockets with a FIN, as Toxiproxy does when a toxic closes its link.
    Close,
    /// RST both sides (SO_LINGER 0, then close).
    ResetBoth,
    /// RST the client only.
    ResetClient,
    /// Destroy the client's socket without sending anything (TCP_REPAIR, then close).
    Forget,
    /// Forget the client like a middlebox that lost its state: with TCP_REPAIR where
    /// permitted, else RST the client when its next data arrives.
    ForgetOrResetOnData,
    /// Drop everything the client sends from now on, silently (a socket filter), and send
    /// it nothing.
    BlackHole,
    /// FIN toward the client and close its socket: its later data meets RST.
    CloseClient,
}

/// One thing a stage emits, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Emit {
    Data(Vec<u8>),
    /// The stream ended: the next stage (or the destination) sees EOF.
    Eof,
    Action(Action),
}

/// A toxic's per-link state machine.
pub trait Stage: Send {
    /// Data arrived.
    fn data(&mut self, now: Instant, data: Vec<u8>, out: &mut Vec<Emit>);
    /// The source ended (FIN).
    fn eof(&mut self, now: Instant, out: &mut Vec<Emit>) {
        let _ = now;
        out.push(Emit::Eof);
    }
    /// The time came (see [`Stage::deadline`]).
    fn poll(&mut self, now: Instant, out: &mut Vec<Emit>) {
        let _ = (now, out);
    }
    /// The earliest time this stage wants [`Stage::poll`].
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// Bytes held back: the edge stops reading the source while the chain holds too much.
    fn held(&self) -> usize {
        0
    }
    /// Whether the source must not be read at all (stall).
    fn blocks_reading(&self) -> bool {
        false
    }
    /// Traffic in either direction of the connection.
    fn activity(&mut self, now: Instant) {
        let _ = now;
    }
    /// New attributes (a PATCH), keeping the state.
    fn update(&mut self, attrs: &Value) -> Result<(), String>;
    /// The toxic is removed: pass on what it holds (Toxiproxy drops no data on removal).
    fn remove(&mut self, out: &mut Vec<Emit>);
    /// What it did so far, for the report; None if nothing.
    fn acted(&self) -> Option<String>;
}

/// A toxic as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Toxic {
    pub name: String,
    pub kind: Type,
    pub stream: Stream,
    pub toxicity: f32,
    /// Every attribute of the type, with defaults filled in.
    pub attributes: Value,
}

impl Serialize for Toxic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        // Toxiproxy's field order: attributes, name, type, stream, toxicity.
        let mut st = s.serialize_struct("Toxic", 5)?;
        st.serialize_field("attributes", &Ordered(self.kind, &self.attributes))?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("type", self.kind.name())?;
        st.serialize_field("stream", self.stream.name())?;
        st.serialize_field("toxicity", &self.toxicity)?;
        st.end()
    }
}

/// Why a toxic could not be made from a request body; each maps to Toxiproxy's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToxicError {
    #[error("bad request body: {0}")]
    BadBody(String),
    #[error("stream was invalid, can be either upstream or downstream")]
    InvalidStream,
    #[error("invalid toxic type")]
    InvalidType,
}

impl Toxic {
    /// A new toxic from a POST body, with Toxiproxy's defaults: stream downstream, toxicity
    /// 1, name `TYPE_STREAM`.
    pub fn from_json(body: &Value) -> Result<Toxic, ToxicError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ToxicError::BadBody("json: cannot unmarshal into a toxic".into()))?;
        let text = |k: &str| -> Result<Option<String>, ToxicError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(ToxicError::BadBody(format!(
                    "json: cannot unmarshal {} into field {k} of type string",
                    json_kind(v)
                ))),
            }
        };
        let stream_name = text("stream")?.unwrap_or_else(|| "downstream".into());
        let kind_name = text("type")?.unwrap_or_default();
        let toxicity = toxicity(obj.get("toxicity"), 1.0)?;
        let stream = Stream::parse(&stream_name).ok_or(ToxicError::InvalidStream)?;
        let name = text("name")?
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("{kind_name}_{stream_name}"));
        let kind = Type::parse(&kind_name).ok_or(ToxicError::InvalidType)?;
        let attributes = merge(&kind.default_attributes(), obj.get("attributes"))
            .and_then(|a| kind.check(&a))
            .map_err(ToxicError::BadBody)?;
        Ok(Toxic {
            name,
            kind,
            stream,
            toxicity,
            attributes,
        })
    }

    /// This toxic changed by a PATCH body: attributes given replace those they name, the
    /// rest stay; toxicity likewise. Name, type and stream do not change.
    pub fn patched(&self, body: &Value) -> Result<Toxic, ToxicError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ToxicError::BadBody("json: cannot unmarshal into a toxic".into()))?;
        let attributes = merge(&self.attributes, obj.get("attributes"))
            .and_then(|a| self.kind.check(&a))
            .map_err(ToxicError::BadBody)?;
        Ok(Toxic {
            toxicity: toxicity(obj.get("toxicity"), self.toxicity)?,
            attributes,
            ..self.clone()
        })
    }

    /// The per-link state machine, or a pass-through when the toxicity roll (`roll` in
    /// [0, 1)) says this link is spared, as Toxiproxy decides per link.
    pub fn stage(&self, now: Instant, roll: f32) -> Box<dyn Stage> {
        if roll >= self.toxicity {
            return Box::new(Spared);
        }
        self.kind
            .stage(&self.attributes, now)
            .unwrap_or_else(|_| Box::new(Spared))
    }
}

/// Attributes in the order Toxiproxy prints them (its struct's field order).
struct Ordered<'a>(Type, &'a Value);

impl Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let keys = self.0.attribute_names();
        let mut m = s.serialize_map(Some(keys.len()))?;
        for k in keys {
            if let Some(v) = self.1.get(*k) {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn toxicity(v: Option<&Value>, default: f32) -> Result<f32, ToxicError> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(1.0) as f32),
        Some(v) => Err(ToxicError::BadBody(format!(
            "json: cannot unmarshal {} into field toxicity of type float32",
            json_kind(v)
        ))),
    }
}

/// Overlays the given attributes on `base`; unknown keys are ignored, as Go's decoder does.
fn merge(base: &Value, given: Option<&Value>) -> Result<Value, String> {
    let mut out = base.clone();
    match given {
        None | Some(Value::Null) => {}
        Some(Value::Object(g)) => {
            if let Value::Object(o) = &mut out {
                for (k, v) in g {
                    if o.contains_key(k) {
                        o.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        Some(v) => {
            return Err(format!(
                "json: cannot unmarshal {} into field attributes",
                json_kind(v)
            ));
        }
    }
    Ok(out)
}

/// Reads attributes into a type (for `update`).
pub(crate) fn parse<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| e.to_string())
}

/// A link the toxicity roll spared: data passes untouched.
pub struct Spared;

impl Stage for Spared {
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

/// The longest wait an attribute can ask for: a century, so that `Instant + wait` never
/// overflows whatever a client sends.
const MAX_WAIT_MS: i64 = 100 * 365 * 86_400_000;

/// Milliseconds from an attribute, negative as zero, at most a century.
pub(crate) fn ms(v: i64) -> Duration {
    Duration::from_millis(v.clamp(0, MAX_WAIT_MS) as u64)
}

/// Microseconds from an attribute, likewise bounded.
pub(crate) fn us(v: i64) -> Duration {
    Duration::from_micros(v.clamp(0, MAX_WAIT_MS) as u64)
}

/// An action that happens once, at a time set once: what close_early, reset_peer and reset
/// wait for.
#[derive(Debug, Default)]
pub(crate) struct OneShot {
    at: Option<Instant>,
    done: bool,
}

impl OneShot {
    /// Sets the time, unless it is set already.
    pub fn arm(&mut self, at: Instant) {
        self.at.get_or_insert(at);
    }
    pub fn armed(&self) -> bool {
        self.at.is_some()
    }
    /// True once, at the first call at or after the time.
    pub fn fire(&mut self, now: Instant) -> bool {
        let due = !self.done && self.at.is_some_and(|t| t <= now);
        self.done |= due;
        due
    }
    pub fn deadline(&self) -> Option<Instant> {
        self.at.filter(|_| !self.done)
    }
    pub fn fired(&self) -> bool {
        self.done
    }
}

/// A queue of data released at given times, in order: what latency, bandwidth and slicer
/// hold.
#[derive(Debug, Default)]
pub(crate) struct Timed {
    q: std::collections::VecDeque<(Instant, Option<Vec<u8>>)>,
    bytes: usize,
}

impl Timed {
    pub fn push(&mut self, at: Instant, data: Option<Vec<u8>>) {
        // Never release before what is already queued: order is kept.
        let at = self.q.back().map_or(at, |(last, _)| at.max(*last));
        self.bytes += data.as_ref().map_or(0, Vec::len);
        self.q.push_back((at, data));
    }
    pub fn release(&mut self, now: Instant, out: &mut Vec<Emit>) {
        while self.q.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, d)) = self.q.pop_front() {
                self.emit(d, out);
            }
        }
    }
    pub fn flush(&mut self, out: &mut Vec<Emit>) {
        while let Some((_, d)) = self.q.pop_front() {
            self.emit(d, out);
        }
    }
    fn emit(&mut self, d: Option<Vec<u8>>, out: &mut Vec<Emit>) {
        match d {
            Some(d) => {
                self.bytes -= d.len();
                out.push(Emit::Data(d));
            }
            None => out.push(Emit::Eof),
        }
    }
    pub fn next(&self) -> Option<Instant> {
        self.q.front().map(|(at, _)| *at)
    }
    pub fn held(&self) -> usize {
        self.bytes
    }
    pub fn last(&self) -> Option<Instant> {
        self.q.back().map(|(at, _)| *at)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Runs a stage over (time offset ms, input) events and returns (time offset ms, output).
    pub fn run(
        stage: &mut dyn Stage,
        t0: Instant,
        inputs: &[(u64, Option<&[u8]>)],
        until_ms: u64,
    ) -> Vec<(u64, Emit)> {
        let mut out = Vec::new();
        let mut i = 0;
        let mut t = 0u64;
        while t <= until_ms {
            let now = t0 + Duration::from_millis(t);
            let mut o = Vec::new();
            stage.poll(now, &mut o);
            while i < inputs.len() && inputs[i].0 == t {
                match inputs[i].1 {
                    Some(d) => stage.data(now, d.to_vec(), &mut o),
                    None => stage.eof(now, &mut o),
                }
                i += 1;
            }
            out.extend(o.into_iter().map(|e| (t, e)));
            t += 1;
        }
        out
    }

    pub fn data(b: &[u8]) -> Emit {
        Emit::Data(b.to_vec())
    }
}
