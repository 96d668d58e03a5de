//! The default report: counts by ending, then each abnormal connection explained in one
//! paragraph with what each application saw; with `--conn`, the chosen connections in full
//! with their packet ladder.

use super::{Rung, Sink, Totals, os_name};
use crate::ladder;
use anstyle::{AnsiColor, Style};
use std::collections::HashMap;
use std::io::{self, Write};
use tcpmortem_analyze::Connection;
use tcpmortem_analyze::ending::{Ending, Kind, Role, Saw};
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

/// The one-paragraph explanation.
pub fn paragraph(c: &Connection) -> String {
    let e = &c.ending;
    let x = e.by.map_or("?", Role::name);
    let y = e.by.map_or("?", |r| r.peer().name());
    let f = |i: usize| e.frames.get(i).map_or_else(|| "?".into(), u64::to_string);
    let last = e.frames.last().map_or_else(|| "?".into(), u64::to_string);
    let x_state = match e.by {
        Some(Role::Client) => state_of(e.client_state),
        Some(Role::Server) => state_of(e.server_state),
        None => "?".into(),
    };
    let clues = if e.clues.is_empty() {
        String::new()
    } else {
        format!(" Evidence: {}.", e.clues.join("; "))
    };
    match e.kind {
        Kind::GracefulClose => format!(
            "The {x} closed first (FIN, frame {}), then the {y} (frame {}). Both applications read EOF.{clues}",
            f(0),
            f(1)
        ),
        Kind::HalfClosed => format!(
            "The {x} sent FIN (frame {}) and the {y} never closed its side before the capture ended: its application read EOF and kept going, or stopped reading without closing.",
            f(0)
        ),
        Kind::AbortiveClose => format!(
            "The {x} reset the connection (RST, frame {last}) in {x_state} without closing it with a FIN first. Its application closed the socket with unread data in the receive queue (Linux RST reason TCP_ABORT_ON_CLOSE), closed with SO_LINGER 0, or the socket was destroyed (ss -K); a process that dies with unread data does the same. Data still in flight is lost.{clues}"
        ),
        Kind::DataAfterClose => format!(
            "The {x} closed first (FIN, frame {}), but the {y} kept sending (data, frame {}). Nobody would read it on the {x}, so its kernel answered with RST (frame {}): TCP_ABORT_ON_DATA while the socket lingers, TCP_TIMEWAIT_SOCKET or NO_SOCKET once it is gone. This is the seed's WSAECONNABORTED 10053 pattern: an application protocol where the {y} did not expect the {x} to close.",
            f(0),
            f(1),
            f(2)
        ),
        Kind::HalfOpen => format!(
            "The {y} sent to a connection the {x}'s host no longer had: the {x} answered with a bare RST (frame {last}), as a kernel does for a segment no socket owns (NO_SOCKET). The {x} rebooted or lost the connection silently, or a NAT or conntrack entry on the path expired.{clues}"
        ),
        Kind::MiddleboxReset => format!(
            "A RST claiming to come from the {x} (frame {last}) was not sent by the {x}.{clues} A firewall, IPS, load balancer or NAT on the path forged it; the {x} itself may still think the connection is open."
        ),
        Kind::Reset => {
            format!("The {x} reset the connection (RST, frame {last}) in {x_state}.{clues}")
        }
        Kind::Refused => format!(
            "The client's SYN (frame {}) was answered by RST (frame {last}): nothing listened on {}, or a firewall rejected the connection.",
            f(0),
            c.zeek.resp
        ),
        Kind::Unreachable => format!(
            "An ICMP destination-unreachable (frame {}) answered the {x}'s packets: a router or the destination host says it cannot deliver them.",
            f(0)
        ),
        Kind::SynUnanswered => format!(
            "The client's SYN got no answer ({}): the server is down or unreachable, or a firewall drops the SYN silently.{clues}",
            frames(&e.frames)
        ),
        Kind::RetransmissionTimeout => format!(
            "The {x} retransmitted data the {y} never acknowledged ({}): the path or the {y} went silent. The {x}'s kernel gives up with ETIMEDOUT after tcp_retries2 (~15 min) or TCP_USER_TIMEOUT, without a RST.{clues}",
            frames(&e.frames)
        ),
        Kind::KeepaliveTimeout => format!(
            "The {x}'s keepalive probes (from frame {}) went unanswered: the {y} or the path is gone. After tcp_keepalive_probes the {x}'s kernel gives up with ETIMEDOUT; Linux sends a RST (TCP_KEEPALIVE_TIMEOUT).{clues}",
            f(0)
        ),
        Kind::StillOpen => "Neither side closed or reset before the capture ended.".into(),
    }
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
    if k.abnormal() { RED } else { GREEN }
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
            if e.kind.abnormal() { "✗" } else { "✓" },
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
        for (role, state, saw) in [
            ("client", e.client_state, &e.client_saw),
            ("server", e.server_state, &e.server_saw),
        ] {
            writeln!(
                self.out,
                "    {MAGENTA}{role}{MAGENTA:#} ({}) saw: {}",
                state_of(state),
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
