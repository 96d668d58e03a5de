//! `--pcap FILE`: the run's frames as pcapng, one interface per router link, each packet
//! commented with the step that caused it and the connection it belongs to
//! (`client#1 → server#1`; an ICMP error names the connection of the segment it quotes).

use crate::observe::Captured;
use crate::record::{Link, Record};
use crate::sandbox::{ROUTER_CLIENT_IF, ROUTER_SERVER_IF};
use crate::scenario::{Actor, Host};
use std::io::{self, Write};
use tcpmortem_wire::TcpSegment;
use tcpmortem_wire::pcapng::{Direction, LINKTYPE_ETHERNET, Writer};

/// `client#1 → server#1`, `router → client#1 (ICMP about client#1 → server#1)`.
fn connection(record: &Record, f: &Captured) -> Option<String> {
    let a = &record.addresses;
    let end = |ip, conn| match a.host_of(ip) {
        Some(Host::Client) => Actor::Client.label(Some(conn)),
        Some(Host::Server) => Actor::Server.label(Some(conn)),
        _ => "router".to_string(),
    };
    if let Some(seg) = TcpSegment::from_ethernet(&f.data) {
        let conn = record.conn_of(seg.src, seg.dst)?;
        return Some(format!(
            "{} → {}",
            end(seg.src.ip(), conn),
            end(seg.dst.ip(), conn)
        ));
    }
    let ip = tcpmortem_wire::link::ip_packet(LINKTYPE_ETHERNET, &f.data).ok()?;
    let q = tcpmortem_wire::icmp::unreachable(ip)?;
    let conn = record.conn_of(q.src, q.dst)?;
    Some(format!(
        "{} → {} (ICMP about {} → {})",
        end(q.from, conn),
        end(q.src.ip(), conn),
        end(q.src.ip(), conn),
        end(q.dst.ip(), conn)
    ))
}

pub fn write(out: impl Write, record: &Record, frames: &[Captured]) -> io::Result<()> {
    let mut w = Writer::new(out, concat!("tcpmortem ", env!("CARGO_PKG_VERSION")))?;
    let a = &record.addresses;
    let client_if = w.interface(
        LINKTYPE_ETHERNET,
        ROUTER_CLIENT_IF,
        &format!("router link to the client {}", a.client),
    )?;
    let server_if = w.interface(
        LINKTYPE_ETHERNET,
        ROUTER_SERVER_IF,
        &format!("router link to the server {}", a.server),
    )?;
    let mut prev_t = None;
    let last = frames.len().saturating_sub(1);
    for (n, f) in frames.iter().enumerate() {
        let step = record.steps.iter().rposition(|s| s.start_ns <= f.t_ns);
        // The programs' calls that returned since the previous frame: what the application
        // did just before this packet.
        let calls: Vec<String> = record
            .program_calls
            .iter()
            .filter(|c| {
                let t = c.returned_ns.unwrap_or(c.start_ns);
                t <= f.t_ns && prev_t.is_none_or(|p| t > p)
            })
            .map(|c| format!("{}[{}] {} {}", c.program, c.pid, c.host, c.text()))
            .collect();
        prev_t = Some(f.t_ns);
        // Those after the last packet go on the last packet.
        let after: Vec<String> = if n == last {
            record
                .program_calls
                .iter()
                .filter(|c| c.returned_ns.unwrap_or(c.start_ns) > f.t_ns)
                .map(|c| format!("{}[{}] {} {}", c.program, c.pid, c.host, c.text()))
                .collect()
        } else {
            Vec::new()
        };
        let comment = step.map(|i| {
            let s = &record.steps[i];
            let mut c = format!("tcpmortem step {} (line {}): {}", i + 1, s.line, s.text);
            if let Some(conn) = connection(record, f) {
                c.push_str(" · ");
                c.push_str(&conn);
            }
            if !calls.is_empty() {
                c.push_str(" · program calls before it: ");
                c.push_str(&calls.join("; "));
            }
            if !after.is_empty() {
                c.push_str(" · program calls after it: ");
                c.push_str(&after.join("; "));
            }
            c
        });
        let iface = match f.link {
            Link::ClientSide => client_if,
            Link::ServerSide => server_if,
        };
        let dir = if f.outgoing {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        w.packet(
            iface,
            f.realtime_ns,
            &f.data,
            f.wire_len,
            Some(dir),
            comment.as_deref(),
        )?;
    }
    w.into_inner().flush()
}
