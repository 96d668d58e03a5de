//! `--format zeek`: a conn.log as Zeek writes it (ASCII writer, TSV): the header lines, the
//! `#fields` and `#types` of Zeek's conn.log, `-` for unset fields. tcpmortem's ending is one
//! extra column at the end, which Zeek log readers take like any other field.

use super::{Rung, Sink, Totals};
use std::io::{self, Write};
use tcpmortem_analyze::Connection;

const FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("local_orig", "bool"),
    ("local_resp", "bool"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
    ("ip_proto", "count"),
    ("tcpmortem_ending", "string"),
];

pub struct Zeek<W> {
    out: W,
    /// The header is written with the first row or at the end, so that a run that fails
    /// before any result prints nothing.
    header: bool,
}

/// Zeek's `#open`/`#close` stamp: wall-clock time, `%Y-%m-%d-%H-%M-%S` (UTC here).
fn stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    // 2026-11-23T20:12:01.123456Z → 2026-11-23-20-12-01
    tcpmortem_core::time::rfc3339(now)[..19].replace(['T', ':'], "-")
}

impl<W: Write> Zeek<W> {
    pub fn new(out: W) -> Zeek<W> {
        Zeek { out, header: false }
    }

    fn header(&mut self) -> io::Result<()> {
        if std::mem::replace(&mut self.header, true) {
            return Ok(());
        }
        let names: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
        let types: Vec<&str> = FIELDS.iter().map(|f| f.1).collect();
        write!(
            self.out,
            "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t{}\n#fields\t{}\n#types\t{}\n",
            stamp(),
            names.join("\t"),
            types.join("\t")
        )
    }
}

/// Zeek prints times and intervals rounded to six decimals; integer arithmetic keeps epoch
/// times exact (an f64 has too few digits for them).
fn six(ns: i128) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let us = (ns.unsigned_abs() + 500) / 1000;
    format!("{sign}{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn count(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

impl<W: Write> Sink for Zeek<W> {
    fn connection(&mut self, c: &Connection, uid: &str) -> io::Result<()> {
        self.header()?;
        let z = &c.zeek;
        // Zeek leaves duration and sizes unset for a connection of one instant.
        let duration = if z.duration_ns > 0 {
            six(z.duration_ns)
        } else {
            "-".into()
        };
        writeln!(
            self.out,
            "{}\t{uid}\t{}\t{}\t{}\t{}\ttcp\t-\t{duration}\t{}\t{}\t{}\t-\t-\t{}\t{}\t{}\t{}\t{}\t{}\t-\t6\t{}",
            six(z.ts_ns),
            z.orig.ip(),
            z.orig.port(),
            z.resp.ip(),
            z.resp.port(),
            count(z.orig_bytes),
            count(z.resp_bytes),
            z.conn_state,
            z.missed_bytes,
            if z.history.is_empty() {
                "-"
            } else {
                &z.history
            },
            z.orig_pkts,
            z.orig_ip_bytes,
            z.resp_pkts,
            z.resp_ip_bytes,
            c.ending.kind.name(),
        )
    }

    fn finish(&mut self, _: &Totals, _: &[Rung]) -> io::Result<()> {
        self.header()?;
        writeln!(self.out, "#close\t{}", stamp())?;
        self.out.flush()
    }
}
