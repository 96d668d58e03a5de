//! `--pcap FILE`: the run's frames as pcapng, one interface per router link, each packet
//! commented with the step that caused it.

use crate::observe::Captured;
use crate::record::{Link, Record};
use crate::sandbox::{ROUTER_CLIENT_IF, ROUTER_SERVER_IF};
use std::io::{self, Write};
use tcpmortem_wire::pcapng::{Direction, LINKTYPE_ETHERNET, Writer};

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
    for f in frames {
        let step = record.steps.iter().rposition(|s| s.start_ns <= f.t_ns);
        let comment = step.map(|i| {
            let s = &record.steps[i];
            format!("tcpmortem step {} (line {}): {}", i + 1, s.line, s.text)
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
