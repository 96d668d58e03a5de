//! Ends and drops as terminal lines or JSON lines.

use serde::Serialize;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::SocketAddr;
use tcpmortem_trace::bpf::Dropped;
use tcpmortem_watch::time::{realtime_offset_ns, rfc3339};
use tcpmortem_watch::verdict::Verdict;
use tcpmortem_watch::{Death, DropCount, Kind};

/// The width of `255.255.255.255:65535`.
const IPV4_WIDTH: usize = 21;

pub struct Render {
    json: bool,
    color: bool,
    offset: i128,
    /// The address columns' width: wide enough for IPv4, widened for good by the first
    /// longer (IPv6) address, so the columns after it stay aligned.
    width: usize,
    /// The last time formatted, and its second.
    stamp: String,
    second: Option<i128>,
}

/// A value serialized through its Display, without an intermediate String.
struct Shown<T>(T);

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[derive(Serialize)]
struct EndJson<'a> {
    time: &'a str,
    #[serde(rename = "type")]
    ty: &'static str,
    local: Shown<SocketAddr>,
    remote: Option<Shown<SocketAddr>>,
    kind: &'static str,
    ending: Option<&'static str>,
    ended_by: Option<&'static str>,
    reason: Option<std::borrow::Cow<'static, str>>,
    errno: Option<&'a str>,
    state_before: Option<&'static str>,
    app_closed: Option<bool>,
    pid: Option<i32>,
    comm: Option<&'a str>,
    netns: Option<u64>,
    cookie: Option<u64>,
    duration_ms: Option<f64>,
    bytes_sent: Option<u64>,
    bytes_received: Option<u64>,
    retransmits: Option<u32>,
    rtt_ms: Option<f64>,
    recv_q: Option<u32>,
    send_q: Option<u32>,
    drops: &'a [DropCount],
    verdict: Shown<Verdict<'a>>,
}

#[derive(Serialize)]
struct DropJson<'a> {
    time: &'a str,
    #[serde(rename = "type")]
    ty: &'static str,
    src: Shown<SocketAddr>,
    dst: Shown<SocketAddr>,
    reason: &'a str,
    netns: u32,
    tcp_flags: String,
}

/// "[S.]" as tcpdump writes TCP flags.
fn tcp_flags(f: u8) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (0x02, 'S'),
        (0x01, 'F'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x20, 'U'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    if f & 0x10 != 0 {
        s.push('.');
    }
    s
}

fn addr(a: SocketAddr) -> String {
    a.to_string() // [ADDR]:PORT for IPv6, as the vocabulary wants
}

impl Render {
    pub fn new(json: bool, color: bool) -> Render {
        Render {
            json,
            color,
            offset: realtime_offset_ns(),
            width: IPV4_WIDTH,
            stamp: String::new(),
            second: None,
        }
    }

    /// The wall-clock time of a trace-clock time, RFC 3339 in microseconds; the date and
    /// second are formatted once per second, not once per end.
    fn time(&mut self, ts_ns: u64) -> String {
        let mut stamp = std::mem::take(&mut self.stamp);
        let ns = ts_ns as i128 + self.offset;
        let sec = ns.div_euclid(1_000_000_000);
        if self.second != Some(sec) {
            self.second = Some(sec);
            stamp = rfc3339(sec * 1_000_000_000);
        }
        // "YYYY-MM-DDTHH:MM:SS.000000Z": keep up to the dot.
        stamp.truncate(20);
        let micros = ns.rem_euclid(1_000_000_000) / 1000;
        let _ = write!(stamp, "{micros:06}Z");
        stamp
    }

    fn widen(&mut self, addrs: &[&str]) -> usize {
        self.width = addrs.iter().map(|a| a.len()).fold(self.width, usize::max);
        self.width
    }

    pub fn end(&mut self, out: &mut impl Write, d: &Death) -> io::Result<()> {
        let time = self.time(d.ts_ns);
        let r = self.write_end(out, d, &time);
        self.stamp = time;
        r
    }

    fn write_end(&mut self, out: &mut impl Write, d: &Death, time: &str) -> io::Result<()> {
        let ending = d.ending();
        if self.json {
            let j = EndJson {
                time,
                ty: "end",
                local: Shown(d.local),
                remote: d.remote.map(Shown),
                kind: d.kind.name(),
                ending: ending.map(|e| e.0.name()),
                ended_by: ending.map(|e| e.1.name()),
                reason: d.reason_name(),
                errno: d.errno.as_deref(),
                state_before: d.state_before.map(|s| s.name()),
                app_closed: d.app_closed,
                pid: d.pid,
                comm: d.comm.as_deref(),
                netns: d.netns,
                cookie: d.cookie,
                duration_ms: d.duration_ms,
                bytes_sent: d.bytes_sent,
                bytes_received: d.bytes_received,
                retransmits: d.retransmits,
                rtt_ms: d.rtt_us.map(|u| f64::from(u) / 1000.0),
                recv_q: d.recv_q,
                send_q: d.send_q,
                drops: &d.drops,
                verdict: Shown(Verdict(d)),
            };
            serde_json::to_writer(&mut *out, &j)?;
            return writeln!(out);
        }
        let style = match d.kind {
            _ if !self.color => anstyle::Style::new(),
            Kind::Closed => anstyle::Style::new().dimmed(),
            Kind::Timeout => anstyle::AnsiColor::Yellow.on_default(),
            _ => anstyle::AnsiColor::Red.on_default(),
        };
        let who = match (d.pid, &d.comm) {
            (Some(p), Some(c)) => format!("{p}/{c}"),
            (Some(p), None) => format!("{p}/-"),
            _ => "-".into(),
        };
        let why = match (d.reason_name(), &d.errno) {
            (Some(r), _) => r,
            (None, Some(e)) => e.clone(),
            _ => "-".into(),
        };
        let bytes = match (d.bytes_sent, d.bytes_received) {
            (Some(s), Some(r)) => format!("{s}/{r}"),
            _ => "-".into(),
        };
        let (local, remote) = (addr(d.local), d.remote.map(addr).unwrap_or("?".into()));
        let w = self.widen(&[&local, &remote]);
        writeln!(
            out,
            "{} {local:<w$} → {remote:<w$} {style}{:<12}{style:#} {:<11} {:<16} {:<19} {:>9} {:>13}  {}",
            &time[11..26],
            d.kind.name(),
            d.state_before.map(|s| s.name()).unwrap_or("-"),
            who,
            why,
            d.duration_ms
                .map(|m| format!("{m:.1}ms"))
                .unwrap_or_else(|| "-".into()),
            bytes,
            Verdict(d)
        )
    }

    pub fn drop(&mut self, out: &mut impl Write, d: &Dropped, reason: &str) -> io::Result<()> {
        let time = self.time(d.ts_ns);
        let r = self.write_drop(out, d, reason, &time);
        self.stamp = time;
        r
    }

    fn write_drop(
        &mut self,
        out: &mut impl Write,
        d: &Dropped,
        reason: &str,
        time: &str,
    ) -> io::Result<()> {
        if self.json {
            let j = DropJson {
                time,
                ty: "drop",
                src: Shown(d.src),
                dst: Shown(d.dst),
                reason,
                netns: d.netns,
                tcp_flags: tcp_flags(d.tcp_flags),
            };
            serde_json::to_writer(&mut *out, &j)?;
            return writeln!(out);
        }
        let (src, dst) = (addr(d.src), addr(d.dst));
        let w = self.widen(&[&src, &dst]);
        let style = if self.color {
            anstyle::AnsiColor::Magenta.on_default()
        } else {
            anstyle::Style::new()
        };
        writeln!(
            out,
            "{} {src:<w$} → {dst:<w$} {style}{:<12}{style:#} [{}] {reason} (netns {})",
            &time[11..26],
            "drop",
            tcp_flags(d.tcp_flags),
            d.netns
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpmortem_core::TcpState;

    fn end(local: &str, remote: &str) -> Death {
        let mut d = Death::new(
            1_000_000_000,
            local.parse().unwrap(),
            Some(remote.parse().unwrap()),
        );
        d.errno = Some("ECONNRESET".into());
        d.reset_received = true;
        d.state_before = Some(TcpState::Established);
        d.classify();
        d
    }

    #[test]
    fn ipv6_addresses_widen_the_columns_and_keep_them_aligned() {
        let mut r = Render::new(false, false);
        let mut out = Vec::new();
        r.end(&mut out, &end("10.0.0.1:80", "10.0.0.2:40000"))
            .unwrap();
        r.end(
            &mut out,
            &end(
                "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:443",
                "[2001:db8:1111:2222:3333:4444:5555:6666]:40000",
            ),
        )
        .unwrap();
        r.end(&mut out, &end("10.0.0.1:80", "10.0.0.2:40001"))
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // In characters: the arrow is one column and three bytes.
        let col = |l: &str| l[..l.find("rst-received").unwrap()].chars().count();
        assert_eq!(col(lines[1]), col(lines[2]), "\n{text}");
        // The first line, before any IPv6 address, is aligned for IPv4.
        assert_eq!(
            col(lines[0]),
            16 + IPV4_WIDTH + 3 + IPV4_WIDTH + 1,
            "\n{text}"
        );
    }

    #[test]
    fn flags_as_tcpdump_writes_them() {
        assert_eq!(tcp_flags(0x02), "S");
        assert_eq!(tcp_flags(0x12), "S.");
        assert_eq!(tcp_flags(0x18), "P.");
        assert_eq!(tcp_flags(0x14), "R.");
    }
}
