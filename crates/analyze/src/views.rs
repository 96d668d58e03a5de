//! One packet seen on several interfaces of one capture (a router's two links, as the lab
//! records them; a bond and its ports; a bridge and a veth) counts once.
//!
//! Each connection is read as seen on one interface, its view: the interface its first
//! packet was seen on (for the lab's captures, the client's link `to-client`: the client's
//! SYN reaches it first). Its packets seen on other interfaces are left out: the same packet
//! seen again one hop on, or a packet that never crossed to the view (dropped, or forged, in
//! between), which the view's endpoint never saw either. Connections never seen on another
//! interface's view keep their own, so unrelated traffic on two links is read whole.
//!
//! For the report, a sighting left out is a duplicate when the view saw the same packet
//! within [`WINDOW_NS`]: the same addresses, ports, IPv4 identification, sequence and
//! acknowledgment numbers, flags, window and length (a router changes none of these but the
//! TTL); otherwise it was seen only elsewhere.

use crate::Decoded;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// How far apart two sightings of one packet may be: a router or a bridge forwards within
/// microseconds; a retransmission comes at least a retransmission timeout (200 ms) later and
/// carries a new IPv4 identification.
pub const WINDOW_NS: i128 = 10_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: SocketAddr,
    dst: SocketAddr,
    ip_id: Option<u16>,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    len: u32,
}

/// A connection, whichever way its packets go.
fn conn(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

/// What the views of a capture gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewReport {
    /// The interfaces connections were read on, with how many connections each (most first);
    /// empty when TCP was seen on one interface only.
    pub views: Vec<(u32, u64)>,
    /// The other interfaces that carried TCP.
    pub others: Vec<u32>,
    /// Packets left out because their view saw them too.
    pub duplicates: u64,
    /// Packets left out that their connection's view never saw.
    pub elsewhere_only: u64,
}

/// Sightings of one key, with their times, expiring after [`WINDOW_NS`].
#[derive(Default)]
struct Recent {
    times: HashMap<Key, VecDeque<i128>>,
    order: VecDeque<(i128, Key)>,
}

impl Recent {
    fn add(&mut self, k: Key, ts: i128) {
        self.times.entry(k).or_default().push_back(ts);
        self.order.push_back((ts, k));
    }

    /// Takes one sighting of `k` within the window of `ts`, if there is one.
    fn take(&mut self, k: &Key, ts: i128) -> bool {
        let Some(list) = self.times.get_mut(k) else {
            return false;
        };
        let Some(i) = list.iter().position(|t| (ts - t).abs() <= WINDOW_NS) else {
            return false;
        };
        list.remove(i);
        if list.is_empty() {
            self.times.remove(k);
        }
        true
    }

    /// Forgets the sightings older than `until`; returns how many were still there.
    fn expire(&mut self, until: i128) -> u64 {
        let mut n = 0;
        while let Some(&(ts, k)) = self.order.front() {
            if ts > until {
                break;
            }
            self.order.pop_front();
            if let Some(list) = self.times.get_mut(&k)
                && list.front() == Some(&ts)
            {
                list.pop_front();
                n += 1;
                if list.is_empty() {
                    self.times.remove(&k);
                }
            }
        }
        n
    }
}

/// Sightings in, packets out (see the module's documentation).
#[derive(Default)]
pub struct Views {
    /// Interfaces that carried TCP, in order of their first.
    ifaces: Vec<u32>,
    view_of: HashMap<(SocketAddr, SocketAddr), u32>,
    per_view: HashMap<u32, u64>,
    /// The views' sightings, to match those left out that come after them.
    on_view: Recent,
    /// Sightings left out, waiting for their view's.
    left_out: Recent,
    report: ViewReport,
}

impl Views {
    pub fn new() -> Views {
        Views::default()
    }

    /// One sighting on interface `iface`; what goes on is appended to `out`.
    pub fn push(&mut self, iface: u32, d: Decoded, out: &mut Vec<Decoded>) {
        let p = match &d {
            Decoded::Tcp(p) => p,
            Decoded::Icmp { quoted, .. } => {
                // An ICMP error about a connection goes with that connection's view.
                if self
                    .view_of
                    .get(&conn(quoted.src, quoted.dst))
                    .is_none_or(|v| *v == iface)
                {
                    out.push(d);
                }
                return;
            }
            Decoded::Fragment | Decoded::Skipped(_) => {
                out.push(d);
                return;
            }
        };
        if !self.ifaces.contains(&iface) {
            self.ifaces.push(iface);
        }
        let s = &p.seg;
        let key = Key {
            src: s.src,
            dst: s.dst,
            ip_id: s.ip_id,
            seq: s.seq,
            ack: s.ack,
            flags: s.flags.0,
            window: s.window,
            len: s.payload_len,
        };
        let ts = p.ts_ns;
        let view = *self.view_of.entry(conn(s.src, s.dst)).or_insert_with(|| {
            *self.per_view.entry(iface).or_default() += 1;
            iface
        });
        self.report.elsewhere_only += self.left_out.expire(ts - WINDOW_NS);
        self.on_view.expire(ts - WINDOW_NS);
        if view == iface {
            if self.left_out.take(&key, ts) {
                self.report.duplicates += 1;
            } else {
                self.on_view.add(key, ts);
            }
            out.push(d);
        } else if self.on_view.take(&key, ts) {
            self.report.duplicates += 1;
        } else {
            self.left_out.add(key, ts);
        }
    }

    /// The end of a capture file. Interfaces of the next file are other interfaces.
    pub fn flush(&mut self) {
        self.report.elsewhere_only += self.left_out.expire(i128::MAX);
        self.on_view.expire(i128::MAX);
        if self.ifaces.len() > 1 {
            let mut views: Vec<(u32, u64)> = self.per_view.drain().collect();
            views.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            for i in &self.ifaces {
                if !views.iter().any(|v| v.0 == *i) && !self.report.others.contains(i) {
                    self.report.others.push(*i);
                }
            }
            self.report.views.extend(views);
        }
        self.per_view.clear();
        self.view_of.clear();
        self.ifaces.clear();
    }

    /// What the views gave; complete after [`Views::flush`].
    pub fn report(&self) -> &ViewReport {
        &self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zeek::Pkt;
    use tcpmortem_wire::{Flags, TcpSegment};

    fn pkt(frame: u64, ts_us: i128, from_client: bool, ttl: u8, id: u16) -> Decoded {
        let (c, s): (SocketAddr, SocketAddr) = (
            "198.18.0.1:40000".parse().unwrap(),
            "198.18.0.6:80".parse().unwrap(),
        );
        let (src, dst) = if from_client { (c, s) } else { (s, c) };
        Decoded::Tcp(Pkt {
            frame,
            ts_ns: ts_us * 1000,
            seg: TcpSegment {
                src,
                dst,
                flags: Flags(Flags::ACK),
                seq: 1,
                ack: 1,
                window: 100,
                payload_len: 0,
                captured: 0,
                ttl,
                ip_id: Some(id),
                ip_len: 40,
            },
            checksum_ok: None,
        })
    }

    fn frames(out: &[Decoded]) -> Vec<u64> {
        out.iter()
            .filter_map(|d| match d {
                Decoded::Tcp(p) => Some(p.frame),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_connection_is_read_as_its_first_interface_saw_it() {
        let mut v = Views::new();
        let mut out = Vec::new();
        // The client's packet: first on its link (0), then on the other.
        v.push(0, pkt(1, 0, true, 64, 1), &mut out);
        v.push(1, pkt(2, 20, true, 63, 1), &mut out);
        // The server's: first on the other link, then on the view.
        v.push(1, pkt(3, 1000, false, 64, 9), &mut out);
        v.push(0, pkt(4, 1020, false, 63, 9), &mut out);
        // Only on the other link: the router dropped it.
        v.push(1, pkt(5, 2000, false, 64, 10), &mut out);
        v.flush();
        assert_eq!(frames(&out), [1, 4]);
        let r = v.report();
        assert_eq!(
            (r.views.as_slice(), r.others.as_slice()),
            (&[(0, 1)][..], &[1][..])
        );
        assert_eq!((r.duplicates, r.elsewhere_only), (2, 1));
    }

    #[test]
    fn the_same_segment_again_later_is_another_packet() {
        let mut v = Views::new();
        let mut out = Vec::new();
        v.push(0, pkt(1, 0, true, 64, 1), &mut out);
        // A retransmission on the same link, and one 300 ms later elsewhere.
        v.push(0, pkt(2, 10, true, 64, 1), &mut out);
        v.push(1, pkt(3, 300_000, true, 63, 1), &mut out);
        v.flush();
        assert_eq!(frames(&out), [1, 2]);
        assert_eq!((v.report().duplicates, v.report().elsewhere_only), (0, 1));
    }
}
