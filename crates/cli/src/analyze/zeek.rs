//! `--format zeek`: a conn.log as Zeek writes it (ASCII writer, TSV): the header lines, the
//! `#fields` and `#types` of Zeek's conn.log, `-` for unset fields. tcpmortem's ending is one
//! extra column at the end, which Zeek log readers take like any other field.

use super::{Rung, Sink, Totals, push_ip};
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
    /// One row, reused.
    line: Vec<u8>,
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
        Zeek {
            out,
            header: false,
            line: Vec::with_capacity(256),
        }
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
fn six(out: &mut Vec<u8>, ns: i128) {
    if ns < 0 {
        out.push(b'-');
    }
    let us = (ns.unsigned_abs() + 500) / 1000;
    out.extend_from_slice(itoa::Buffer::new().format(us / 1_000_000).as_bytes());
    let frac = (us % 1_000_000) as u32;
    out.push(b'.');
    let digits = itoa::Buffer::new().format(frac).len();
    out.extend(std::iter::repeat_n(b'0', 6 - digits));
    out.extend_from_slice(itoa::Buffer::new().format(frac).as_bytes());
}

fn count(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
        None => out.push(b'-'),
    }
}

impl<W: Write> Sink for Zeek<W> {
    fn connection(&mut self, c: &Connection, uid: &str) -> io::Result<()> {
        self.header()?;
        let z = &c.zeek;
        let o = &mut self.line;
        o.clear();
        let tab = |o: &mut Vec<u8>| o.push(b'\t');
        six(o, z.ts_ns);
        tab(o);
        o.extend_from_slice(uid.as_bytes());
        tab(o);
        push_ip(o, z.orig.ip());
        tab(o);
        count(o, Some(u64::from(z.orig.port())));
        tab(o);
        push_ip(o, z.resp.ip());
        tab(o);
        count(o, Some(u64::from(z.resp.port())));
        o.extend_from_slice(b"\ttcp\t-\t");
        // Zeek leaves duration and sizes unset for a connection of one instant.
        if z.duration_ns > 0 {
            six(o, z.duration_ns);
        } else {
            o.push(b'-');
        }
        tab(o);
        count(o, z.orig_bytes);
        tab(o);
        count(o, z.resp_bytes);
        tab(o);
        o.extend_from_slice(z.conn_state.as_bytes());
        o.extend_from_slice(b"\t-\t-\t");
        count(o, Some(z.missed_bytes));
        tab(o);
        if z.history.is_empty() {
            o.push(b'-');
        } else {
            o.extend_from_slice(z.history.as_bytes());
        }
        for n in [z.orig_pkts, z.orig_ip_bytes, z.resp_pkts, z.resp_ip_bytes] {
            tab(o);
            count(o, Some(n));
        }
        o.extend_from_slice(b"\t-\t6\t");
        o.extend_from_slice(c.ending.kind.name().as_bytes());
        o.push(b'\n');
        self.out.write_all(o)
    }

    fn finish(&mut self, _: &Totals, _: &[Rung]) -> io::Result<()> {
        self.header()?;
        writeln!(self.out, "#close\t{}", stamp())?;
        self.out.flush()
    }
}
