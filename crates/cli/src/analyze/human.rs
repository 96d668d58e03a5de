//! The default report: counts by ending, then each abnormal connection explained in one
//! paragraph with what each application saw; with `--conn`, the chosen connections in full
//! with their packet ladder.

use super::{Rung, Sink, Totals, os_name};
use crate::ladder;
use anstyle::{AnsiColor, Style};
use std::collections::HashMap;
use std::io::{self, Write};
use tcpmortem_analyze::Connection;
use tcpmortem_analyze::ending::{Ending, Fact, Kind, Role, Saw, Statement};
use tcpmortem_core::{Os, TcpState};
use tcpmortem_wire::Flags;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const RED: Style = AnsiColor::Red.on_default().bold();
const GREEN: Style = AnsiColor::Green.on_default();
const MAGENTA: Style = AnsiColor::Magenta.on_default();

/// Paragraphs printed before the rest is only counted (`--format json` lists everything).
const MAX_ABNORMAL: usize = 200;
const MAX_NORMAL: usize = 30;

pub struct Human<W> {
    out: W,
    only_abnormal: bool,
    full: bool,
    counts: HashMap<Kind, u64>,
    abnormal: Vec<(Connection, String)>,
    normal: Vec<(Connection, String)>,
    abnormal_total: u64,
    normal_total: u64,
    /// Connections whose capture holds one direction only, by the side that was captured.
    one_way: [u64; 2],
}

impl<W: Write> Human<W> {
    pub fn new(out: W, only_abnormal: bool, full: bool) -> Human<W> {
        Human {
            out,
            only_abnormal,
            full,
            counts: HashMap::new(),
            abnormal: Vec::new(),
            normal: Vec::new(),
            abnormal_total: 0,
            normal_total: 0,
            one_way: [0; 2],
        }
    }
}

fn frames(f: &[u64]) -> String {
    match f {
        [] => String::new(),
        [one] => format!("frame {one}"),
        many => format!(
            "frames {}",
            many.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `3.7 kB`, `537.0 MB`, `2.1 GB` (SI units, as capinfos prints them).
fn size(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000_000 => format!("{:.1} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}

fn state_of(s: Option<TcpState>) -> String {
    s.map_or_else(|| "no socket".into(), |s| s.name().to_string())
}

/// "frame 5", "frames 5, 9".
fn fr(st: Option<&Statement>) -> String {
    st.map_or_else(|| "frame ?".into(), |s| frames(&s.frames))
}

/// The one-paragraph explanation, sentence by sentence from the ending's statements: each
/// sentence names the frames it rests on.
pub fn paragraph(c: &Connection) -> String {
    let e = &c.ending;
    let x = e.by.map_or("?", Role::name);
    let y = e.by.map_or("?", |r| r.peer().name());
    let st = |fact: Fact| e.story.iter().find(|s| s.fact == fact);
    let nth = |fact: Fact, n: usize| e.story.iter().filter(|s| s.fact == fact).nth(n);
    let rst = || st(Fact::RstAck).or_else(|| st(Fact::BareRst));
    let rst_kind = |s: Option<&Statement>| match s.map(|s| s.fact) {
        Some(Fact::RstAck) => "RST|ACK",
        Some(Fact::BareRst) => "a bare RST",
        _ => "RST",
    };
    let detail = |s: Option<&Statement>| {
        s.and_then(|s| s.detail.clone())
            .map_or_else(String::new, |d| format!("; {d}"))
    };
    let clues = if e.clues.is_empty() {
        String::new()
    } else {
        format!(" (evidence: {})", e.clues.join("; "))
    };
    let mut out: Vec<String> = Vec::new();
    if e.story.is_empty() {
        return format!(
            "None of its packets (frames {}–{}) passed the checksum check, so none tells how it ended; --checksums ignore reads them.",
            c.first_frame, c.last_frame
        );
    }
    if let Some(ow) = e.one_way
        && let Some(s) = st(Fact::AcksUnseenPeer)
    {
        out.push(format!(
            "Only the {}'s packets were captured: its ACKs ({}) acknowledge what the {} sent, so the {} answered on a path the capture did not see, and nothing here tells what else the {} did.",
            ow.name(),
            fr(Some(s)),
            ow.peer().name(),
            ow.peer().name(),
            ow.peer().name()
        ));
    }
    let by_state = e.by.map_or_else(|| "?".into(), |r| state_of(e.state(r)));
    out.push(match e.kind {
        Kind::GracefulClose => {
            let mut t = format!(
                "The {x} closed first (FIN, {}), then the {y} (FIN, {}): both applications read EOF.",
                fr(nth(Fact::Fin, 0)),
                fr(nth(Fact::Fin, 1))
            );
            if let Some(r) = rst() {
                t.push_str(&format!(
                    " The RST ({}) came after both FINs and only removed a socket already closed.",
                    fr(Some(r))
                ));
            }
            t
        }
        Kind::ClosedPeerUnseen => format!(
            "The {x} sent FIN ({}); whether the {y} closed too the capture cannot tell, as none of its packets were captured.",
            fr(st(Fact::Fin))
        ),
        Kind::HalfClosed => format!(
            "The {x} sent FIN ({}) and no FIN of the {y} was captured before the capture ended: its application read EOF and kept going, or stopped reading without closing.",
            fr(st(Fact::Fin))
        ),
        Kind::AbortiveClose => format!(
            "The {x} reset the connection (RST|ACK, {}) in {by_state} without closing it with a FIN first: its application closed the socket with unread data in the receive queue (Linux RST reason TCP_ABORT_ON_CLOSE), closed with SO_LINGER 0, or the socket was destroyed (ss -K); a process that dies with unread data does the same, and data still in flight is lost.",
            fr(rst())
        ),
        Kind::DataAfterClose => {
            let first = match st(Fact::DataUnacked) {
                Some(d) => format!(
                    "The {x} closed (FIN, {}) while the {y}'s data ({}) was on its way: the FIN does not acknowledge it.",
                    fr(st(Fact::Fin)),
                    fr(Some(d))
                ),
                None => format!(
                    "The {x} closed first (FIN, {}), but the {y} kept sending (data, {}).",
                    fr(st(Fact::Fin)),
                    fr(st(Fact::DataAfterFin))
                ),
            };
            format!(
                "{first} Nobody would read it on the {x}, so its kernel answered with {} ({}): TCP_ABORT_ON_DATA while the socket lingers, TCP_TIMEWAIT_SOCKET or NO_SOCKET once it is gone; this is the seed's WSAECONNABORTED 10053 pattern, an application protocol where the {y} did not expect the {x} to close.",
                rst_kind(rst()),
                fr(rst())
            )
        }
        Kind::HalfOpen => {
            let answered = match st(Fact::Sent) {
                Some(s) => format!("answered the {y}'s segment ({}) with", fr(Some(s))),
                None => "sent".into(),
            };
            format!(
                "The {x} {answered} a bare RST ({}), as a kernel does for a segment no socket owns (NO_SOCKET): the {x}'s host had no socket for the connection; it rebooted or lost it silently, or a NAT or conntrack entry on the path expired{clues}.",
                fr(rst())
            )
        }
        Kind::MiddleboxReset => {
            let mut why = Vec::new();
            if let Some(s) = st(Fact::TtlDiffers) {
                why.push(format!(
                    "its TTL differs from every other packet of the {x} ({})",
                    fr(Some(s))
                ));
            }
            if let Some(s) = st(Fact::OutsideWindow) {
                why.push(format!(
                    "its sequence number is outside the receiver's window, which the {x}'s own stack would not do (RFC 5961, {})",
                    fr(Some(s))
                ));
            }
            if let Some(s) = st(Fact::SentAfterRst) {
                why.push(format!("the {x} went on sending after it ({})", fr(Some(s))));
            }
            format!(
                "A RST claiming to come from the {x} ({}) was not sent by the {x}: {}; a firewall, IPS, load balancer or NAT on the path forged it, and the {x} itself may still think the connection is open.",
                fr(rst()),
                why.join("; ")
            )
        }
        Kind::Reset if st(Fact::UnacceptableAck).is_some() => format!(
            "The {x} sent its SYN ({}); the {y} answered with an ACK that does not acknowledge it ({}), no answer a TCP socket gives to a SYN, and the {x}'s kernel rejected it with a bare RST ({}), as RFC 9293 §3.10.7.3 asks in SYN_SENT: the attempt goes on waiting for a SYN-ACK.",
            fr(st(Fact::Syn)),
            fr(st(Fact::UnacceptableAck)),
            fr(rst())
        ),
        Kind::Reset => match st(Fact::Sent) {
            Some(s) => format!(
                "The {x} sent {} ({}) in {by_state} after the {y}'s segment ({}); nothing in the capture says what it ended{clues}.",
                rst_kind(rst()),
                fr(rst()),
                fr(Some(s))
            ),
            None => {
                // Zeek's history marks the peer's packets that failed the checksum check.
                let bad = if e.by == Some(Role::Client) { 'c' } else { 'C' };
                let nothing = if c.zeek.history.contains(bad) {
                    "nothing the {y} sent before it passed the checksum check"
                } else {
                    "nothing the {y} sent was captured before it"
                }
                .replace("{y}", y);
                format!(
                    "The {x} sent {} ({}), and {nothing}: not what it answered, nor what it ended{clues}.",
                    rst_kind(rst()),
                    fr(rst())
                )
            }
        },
        Kind::Refused => format!(
            "The client's SYN ({}) was answered by RST ({}): nothing listened on {}, or a firewall rejected the connection.",
            fr(st(Fact::Syn)),
            fr(rst()),
            c.zeek.resp
        ),
        Kind::Unreachable => {
            let sent = st(Fact::Syn).or_else(|| st(Fact::Sent));
            let of = sent.map_or_else(String::new, |s| format!(" ({})", fr(Some(s))));
            format!(
                "An ICMP destination-unreachable ({}) answered the {x}'s packets{of}: a router or the destination host says it cannot deliver them.",
                fr(st(Fact::Unreachable))
            )
        }
        Kind::SynUnanswered if rst().is_some() => format!(
            "The client reset its own attempt ({}, {}{}) before any answer to its SYN ({}{}) was captured: its own connect timeout, a cancelled connect(), or a port scanner's probe.",
            rst_kind(rst()),
            fr(rst()),
            detail(rst()),
            fr(st(Fact::Syn)),
            detail(st(Fact::Syn))
        ),
        Kind::SynUnanswered => format!(
            "The client's SYN got no answer ({}{}): the server is down or unreachable, a firewall drops the SYN silently, or the answer took a path the capture did not see.",
            fr(st(Fact::Syn)),
            detail(st(Fact::Syn))
        ),
        Kind::RetransmissionTimeout => {
            let then = rst().map_or_else(String::new, |r| {
                format!("; then it reset the connection ({}, {})", rst_kind(Some(r)), fr(Some(r)))
            });
            format!(
                "The {x} retransmitted data the {y} never acknowledged ({}{}){then}: the path or the {y} went silent, and the {x}'s kernel gives up with ETIMEDOUT after tcp_retries2 (~15 min) or TCP_USER_TIMEOUT.",
                fr(st(Fact::Retransmissions)),
                detail(st(Fact::Retransmissions))
            )
        }
        Kind::KeepaliveTimeout => {
            let then = rst().map_or_else(String::new, |r| {
                format!(", as it does here ({}, {})", rst_kind(Some(r)), fr(Some(r)))
            });
            format!(
                "The {x}'s keepalive probes ({}{}) went unanswered: the {y} or the path is gone; after tcp_keepalive_probes the {x}'s kernel gives up with ETIMEDOUT, and Linux sends a RST (TCP_KEEPALIVE_TIMEOUT){then}.",
                fr(st(Fact::Probes)),
                detail(st(Fact::Probes))
            )
        }
        Kind::StillOpen => format!(
            "Neither side closed or reset the connection before the capture ended (its last packet: {}).",
            fr(st(Fact::Sent))
        ),
    });
    out.join(" ")
}

fn saw_line(s: &Saw) -> String {
    match (s.linux, s.windows, s.macos) {
        (None, None, None) => format!("nothing — {}", s.note),
        _ => {
            let name =
                |id: Option<&str>, os| id.map_or_else(|| "nothing".into(), |id| os_name(id, os));
            format!(
                "Linux {} · Windows {} · macOS {} — {}",
                name(s.linux, Os::Linux),
                name(s.windows, Os::Windows),
                name(s.macos, Os::Macos),
                s.note
            )
        }
    }
}

fn kind_style(k: Kind) -> Style {
    match k {
        Kind::ClosedPeerUnseen => DIM,
        k if k.abnormal() => RED,
        _ => GREEN,
    }
}

/// ✗ abnormal, ✓ normal, ? where the capture cannot tell.
fn kind_mark(k: Kind) -> &'static str {
    match k {
        Kind::ClosedPeerUnseen => "?",
        k if k.abnormal() => "✗",
        _ => "✓",
    }
}

impl<W: Write> Human<W> {
    fn headline(&mut self, c: &Connection, uid: &str) -> io::Result<()> {
        let e = &c.ending;
        let st = kind_style(e.kind);
        let by = match (e.kind, e.by) {
            (_, None) => String::new(),
            (Kind::GracefulClose, Some(r)) => format!(", the {} first", r.name()),
            (Kind::MiddleboxReset, Some(r)) => format!(" in the {}'s name", r.name()),
            (Kind::Unreachable, Some(r)) => format!(" for the {}", r.name()),
            (_, Some(r)) => format!(" by the {}", r.name()),
        };
        writeln!(
            self.out,
            "{st}{}{st:#} {BOLD}{} → {}{BOLD:#}  {st}{}{by}{st:#}  {DIM}{} · frames {}–{}{DIM:#}",
            kind_mark(e.kind),
            c.zeek.orig,
            c.zeek.resp,
            e.kind.name(),
            uid,
            c.first_frame,
            c.last_frame
        )
    }

    fn explain(&mut self, c: &Connection, uid: &str) -> io::Result<()> {
        self.headline(c, uid)?;
        let e: &Ending = &c.ending;
        writeln!(self.out, "    {}", paragraph(c))?;
        for (role, state, saw, pkts) in [
            ("client", e.client_state, &e.client_saw, c.zeek.orig_pkts),
            ("server", e.server_state, &e.server_saw, c.zeek.resp_pkts),
        ] {
            let state = match state {
                None if pkts == 0 => "not captured".to_string(),
                s => state_of(s),
            };
            writeln!(
                self.out,
                "    {MAGENTA}{role}{MAGENTA:#} ({state}) saw: {}",
                saw_line(saw)
            )?;
        }
        let z = &c.zeek;
        writeln!(
            self.out,
            "    {DIM}zeek {} {} · client/server: {}/{} packets, {}/{} payload bytes, retransmits {}/{}, zero windows {}/{}, gaps {}/{} · {:.3} s{DIM:#}",
            z.conn_state,
            if z.history.is_empty() {
                "-"
            } else {
                &z.history
            },
            z.orig_pkts,
            z.resp_pkts,
            c.client.payload_bytes,
            c.server.payload_bytes,
            c.client.retransmits,
            c.server.retransmits,
            c.client.zero_windows,
            c.server.zero_windows,
            c.client.gaps,
            c.server.gaps,
            z.duration_ns as f64 / 1e9
        )
    }

    fn ladder(&mut self, c: &Connection, rungs: &[Rung]) -> io::Result<()> {
        let (o, r) = (c.zeek.orig, c.zeek.resp);
        let mine: Vec<&Rung> = rungs
            .iter()
            .filter(|g| g.frame >= c.first_frame && g.frame <= c.last_frame)
            .filter(|g| (g.seg.src == o && g.seg.dst == r) || (g.seg.src == r && g.seg.dst == o))
            .collect();
        let Some(t0) = mine.first().map(|g| g.ts_ns) else {
            return Ok(());
        };
        // Relative sequence numbers, as tcpdump prints them: from each side's SYN, or its
        // first segment.
        let base = |from: std::net::SocketAddr| {
            mine.iter()
                .find(|g| g.seg.src == from && g.seg.flags.has(Flags::SYN))
                .or_else(|| mine.iter().find(|g| g.seg.src == from))
                .map_or(0, |g| g.seg.seq)
        };
        let (bo, br) = (base(o), base(r));
        writeln!(
            self.out,
            "{DIM}{:>9}  client {o}{}server {r}{DIM:#}",
            "ms",
            " ".repeat(ladder::WIDTH.saturating_sub(o.to_string().len() + 3))
        )?;
        for g in mine {
            let from_client = g.seg.src == o;
            let (mine_base, peer_base) = if from_client { (bo, br) } else { (br, bo) };
            let label = ladder::label(
                g.seg.flags,
                g.seg.seq.wrapping_sub(mine_base),
                g.seg.ack.wrapping_sub(peer_base),
                g.seg.payload_len,
            );
            let note = format!("  #{} ttl {}", g.frame, g.seg.ttl);
            ladder::rung(
                &mut self.out,
                (g.ts_ns - t0) as f64 / 1e6,
                from_client,
                g.seg.flags,
                &label,
                &note,
            )?;
        }
        writeln!(self.out)
    }
}

impl<W: Write> Sink for Human<W> {
    fn connection(&mut self, c: &Connection, uid: &str) -> io::Result<()> {
        *self.counts.entry(c.ending.kind).or_default() += 1;
        if let Some(r) = c.ending.one_way {
            self.one_way[usize::from(r == Role::Server)] += 1;
        }
        if c.ending.kind.abnormal() || self.full {
            self.abnormal_total += 1;
            if self.abnormal.len() < MAX_ABNORMAL || self.full {
                self.abnormal.push((c.clone(), uid.to_string()));
            }
        } else {
            self.normal_total += 1;
            if self.normal.len() < MAX_NORMAL {
                self.normal.push((c.clone(), uid.to_string()));
            }
        }
        Ok(())
    }

    fn finish(&mut self, t: &Totals, rungs: &[Rung]) -> io::Result<()> {
        writeln!(
            self.out,
            "{BOLD}{}{BOLD:#}: {}, {} frames ({} TCP), {} connection{}, {} abnormal",
            t.files.join(", "),
            size(t.bytes),
            t.frames,
            t.tcp_frames,
            t.connections,
            if t.connections == 1 { "" } else { "s" },
            self.counts
                .iter()
                .filter(|(k, _)| k.abnormal())
                .map(|(_, n)| n)
                .sum::<u64>()
        )?;
        for v in &t.views {
            writeln!(self.out, "{DIM}{v}{DIM:#}")?;
        }
        for (n, side) in self.one_way.iter().zip(["client", "server"]) {
            if *n > 0 {
                writeln!(
                    self.out,
                    "one direction only: {n} {} only the {side}'s packets; what the other side sent is not in the capture",
                    if *n == 1 {
                        "connection holds"
                    } else {
                        "connections hold"
                    }
                )?;
            }
        }
        if t.skipped.total() > 0 {
            writeln!(
                self.out,
                "{DIM}skipped {} frames: {}{DIM:#}",
                t.skipped.total(),
                t.skipped
            )?;
        }
        if t.connections == 0 {
            if t.skipped.hiding_tcp() > 0 {
                writeln!(
                    self.out,
                    "no TCP connection decoded: the frames skipped above may hold some"
                )?;
            } else {
                writeln!(self.out, "no TCP connections in the capture")?;
            }
            return self.out.flush();
        }
        writeln!(self.out)?;
        writeln!(self.out, "{BOLD}Endings{BOLD:#}")?;
        for k in Kind::ALL {
            if let Some(n) = self.counts.get(&k) {
                let st = kind_style(k);
                writeln!(
                    self.out,
                    "  {st}{:<24}{st:#} {n:>8}  {DIM}{k}{DIM:#}",
                    k.name()
                )?;
            }
        }
        writeln!(self.out)?;
        let mut shown = std::mem::take(&mut self.abnormal);
        shown.sort_by_key(|(c, _)| (c.zeek.ts_ns, c.first_frame));
        if self.full {
            for (c, uid) in &shown {
                self.explain(c, uid)?;
                self.ladder(c, rungs)?;
            }
            return self.out.flush();
        }
        if !shown.is_empty() {
            writeln!(self.out, "{BOLD}Abnormal connections{BOLD:#}")?;
        }
        for (c, uid) in &shown {
            self.explain(c, uid)?;
            writeln!(self.out)?;
        }
        if self.abnormal_total > shown.len() as u64 {
            writeln!(
                self.out,
                "… and {} more abnormal connections (--format json lists them all)\n",
                self.abnormal_total - shown.len() as u64
            )?;
        }
        if !self.only_abnormal && self.normal_total > 0 {
            writeln!(self.out, "{BOLD}Other connections{BOLD:#}")?;
            let normal = std::mem::take(&mut self.normal);
            for (c, uid) in &normal {
                self.headline(c, uid)?;
            }
            if self.normal_total > normal.len() as u64 {
                writeln!(
                    self.out,
                    "… and {} more (--only abnormal hides them; --format json lists them all)",
                    self.normal_total - normal.len() as u64
                )?;
            }
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpmortem_analyze::{Checksums, Options, Tracker};
    use tcpmortem_wire::capture::Reader;

    /// Every sentence of every verdict on the corpus names the frames it rests on.
    #[test]
    fn every_sentence_of_a_verdict_names_its_frames() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut stack = vec![
            root.join("tests/data/zeek/Traces"),
            root.join("crates/cli/tests/data"),
        ];
        let mut sentences = 0;
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Ok(mut r) = Reader::new(std::fs::File::open(&path).unwrap()) else {
                    continue;
                };
                for checksums in [Checksums::Auto, Checksums::Verify] {
                    let mut t = Tracker::new(Options {
                        checksums,
                        ..Options::default()
                    });
                    while let Ok(Some(p)) = r.next_packet() {
                        t.frame(p.frame, p.ts_ns, p.linktype, p.data);
                    }
                    for c in t.finish() {
                        let text = paragraph(&c);
                        // Sentences end with a full stop before a capital letter.
                        let mut start = 0;
                        let b = text.as_bytes();
                        for i in 0..b.len() {
                            let end = i + 1 == b.len()
                                || (b[i] == b'.'
                                    && b.get(i + 1) == Some(&b' ')
                                    && b.get(i + 2).is_some_and(u8::is_ascii_uppercase));
                            if end {
                                let s = &text[start..=i];
                                assert!(
                                    s.contains("frame") && !s.contains("frame ?"),
                                    "{}: {s:?} in {text:?}",
                                    path.display()
                                );
                                sentences += 1;
                                start = i + 2;
                            }
                        }
                    }
                    r = Reader::new(std::fs::File::open(&path).unwrap()).unwrap();
                }
            }
        }
        assert!(sentences > 300, "{sentences} sentences");
    }
}
