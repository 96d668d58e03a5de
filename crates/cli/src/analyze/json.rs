//! `--format json`: JSON lines, one object per connection, in the order connections finish.

use super::{Rung, Sink, Totals, os_name};
use serde::Serialize;
use std::io::{self, Write};
use tcpmortem_analyze::Connection;
use tcpmortem_analyze::ending::Saw;
use tcpmortem_core::Os;

pub struct Json<W> {
    out: W,
}

impl<W: Write> Json<W> {
    pub fn new(out: W) -> Json<W> {
        Json { out }
    }
}

#[derive(Serialize)]
struct SawJson {
    linux: Option<String>,
    windows: Option<String>,
    macos: Option<String>,
    note: &'static str,
}

fn saw(s: &Saw) -> SawJson {
    let name = |id: Option<&str>, os| id.map(|id| os_name(id, os));
    SawJson {
        linux: name(s.linux, Os::Linux),
        windows: name(s.windows, Os::Windows),
        macos: name(s.macos, Os::Macos),
        note: s.note,
    }
}

#[derive(Serialize)]
struct EndingJson<'a> {
    kind: &'static str,
    text: String,
    abnormal: bool,
    by: Option<&'static str>,
    frames: &'a [u64],
    story: &'a [tcpmortem_analyze::ending::Statement],
    one_way: Option<&'static str>,
    client_state: Option<&'static str>,
    server_state: Option<&'static str>,
    client_saw: SawJson,
    server_saw: SawJson,
    rst_reasons: &'static [&'static str],
    clues: &'a [String],
}

#[derive(Serialize)]
struct ConnJson<'a> {
    uid: &'a str,
    ts: f64,
    client: String,
    server: String,
    duration: f64,
    first_frame: u64,
    last_frame: u64,
    ending: EndingJson<'a>,
    conn_state: &'static str,
    history: &'a str,
    orig_bytes: Option<u64>,
    resp_bytes: Option<u64>,
    missed_bytes: u64,
    orig_pkts: u64,
    orig_ip_bytes: u64,
    resp_pkts: u64,
    resp_ip_bytes: u64,
    client_stats: tcpmortem_analyze::Direction,
    server_stats: tcpmortem_analyze::Direction,
}

pub fn secs(ns: i128) -> f64 {
    ns as f64 / 1e9
}

impl<W: Write> Sink for Json<W> {
    fn connection(&mut self, c: &Connection, uid: &str) -> io::Result<()> {
        let z = &c.zeek;
        let e = &c.ending;
        let j = ConnJson {
            uid,
            ts: secs(z.ts_ns),
            client: z.orig.to_string(),
            server: z.resp.to_string(),
            duration: secs(z.duration_ns),
            first_frame: c.first_frame,
            last_frame: c.last_frame,
            ending: EndingJson {
                kind: e.kind.name(),
                text: e.kind.to_string(),
                abnormal: e.kind.abnormal(),
                by: e.by.map(|r| r.name()),
                frames: &e.frames,
                story: &e.story,
                one_way: e.one_way.map(|r| r.name()),
                client_state: e.client_state.map(|s| s.name()),
                server_state: e.server_state.map(|s| s.name()),
                client_saw: saw(&e.client_saw),
                server_saw: saw(&e.server_saw),
                rst_reasons: e.kind.rst_reasons(),
                clues: &e.clues,
            },
            conn_state: z.conn_state,
            history: &z.history,
            orig_bytes: z.orig_bytes,
            resp_bytes: z.resp_bytes,
            missed_bytes: z.missed_bytes,
            orig_pkts: z.orig_pkts,
            orig_ip_bytes: z.orig_ip_bytes,
            resp_pkts: z.resp_pkts,
            resp_ip_bytes: z.resp_ip_bytes,
            client_stats: c.client,
            server_stats: c.server,
        };
        serde_json::to_writer(&mut self.out, &j)?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self, _: &Totals, _: &[Rung]) -> io::Result<()> {
        self.out.flush()
    }
}
