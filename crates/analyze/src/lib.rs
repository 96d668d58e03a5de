//! Connection analysis of captures, sans-IO: frames in, Zeek-compatible connection records
//! out. [`zeek`] holds one connection's state machine; [`Tracker`] is the connection table.

pub mod zeek;

use std::collections::HashMap;
use std::net::SocketAddr;
use tcpmortem_wire::{TcpSegment, checksum};
use zeek::{ConnRecord, Pkt, TcpConn};

/// Ports whose traffic makes Zeek take the sender as the responder when a connection starts
/// without a SYN (`likely_server_ports`, from the ports its default analyzers register).
pub const LIKELY_SERVER_PORTS: &[u16] = &[
    21, 22, 23, 25, 53, 80, 88, 110, 111, 135, 137, 138, 139, 143, 161, 389, 443, 445, 465, 502,
    514, 587, 636, 993, 995, 1080, 1194, 1723, 1812, 3128, 3306, 3389, 5060, 5222, 5432, 5900,
    6379, 6667, 8000, 8080, 8443, 8888,
];

/// Options that mirror Zeek's.
#[derive(Debug, Clone)]
pub struct Options {
    /// Zeek's `-C`: do not verify TCP checksums.
    pub ignore_checksums: bool,
    pub likely_server_ports: Vec<u16>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            ignore_checksums: false,
            likely_server_ports: LIKELY_SERVER_PORTS.to_vec(),
        }
    }
}

/// The connection table.
pub struct Tracker {
    opts: Options,
    live: HashMap<(SocketAddr, SocketAddr), TcpConn>,
    done: Vec<ConnRecord>,
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

impl Tracker {
    pub fn new(opts: Options) -> Tracker {
        Tracker {
            opts,
            live: HashMap::new(),
            done: Vec::new(),
        }
    }

    /// Feeds one captured frame.
    pub fn frame(&mut self, ts_ns: i128, linktype: u16, frame: &[u8]) {
        let Some(ip) = tcpmortem_wire::link::ip_packet(linktype, frame) else {
            return;
        };
        let Some(seg) = TcpSegment::from_ip(ip) else {
            return;
        };
        // Zeek's -C; otherwise only whole packets are checked.
        let checksum_ok = if self.opts.ignore_checksums {
            None
        } else {
            checksum::tcp_ok(ip)
        };
        self.packet(&Pkt {
            ts_ns,
            seg,
            checksum_ok,
        });
    }

    pub fn packet(&mut self, p: &Pkt) {
        let k = key(p.seg.src, p.seg.dst);
        let reuse = self
            .live
            .get_mut(&k)
            .is_some_and(|c| c.is_reuse(p) || c.expired(p.ts_ns));
        if reuse && let Some(old) = self.live.remove(&k) {
            self.done.push(old.record());
        }
        let ports = &self.opts.likely_server_ports;
        let likely = |port: u16| ports.contains(&port);
        let conn = self
            .live
            .entry(k)
            .or_insert_with(|| TcpConn::new(p, &likely));
        conn.process(p);
    }

    /// Every connection, in order of their first packet.
    pub fn finish(mut self) -> Vec<ConnRecord> {
        self.done.extend(self.live.drain().map(|(_, c)| c.record()));
        self.done.sort_by_key(|r| r.ts_ns);
        self.done
    }
}
