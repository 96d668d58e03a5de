//! A TCP segment's header facts, sliced from an Ethernet frame or a raw IP packet.

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use serde::{Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// TCP flags (RFC 9293 §3.1), with tcpdump's letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;

    pub fn has(self, f: u8) -> bool {
        self.0 & f != 0
    }

    /// tcpdump's spelling: `S`, `S.`, `P.`, `F.`, `R`, `R.` (`.` is ACK).
    pub fn tcpdump(self) -> String {
        let mut s = String::new();
        for (bit, c) in [
            (Self::SYN, 'S'),
            (Self::FIN, 'F'),
            (Self::PSH, 'P'),
            (Self::RST, 'R'),
            (Self::URG, 'U'),
        ] {
            if self.has(bit) {
                s.push(c);
            }
        }
        if self.has(Self::ACK) {
            s.push('.');
        }
        if s.is_empty() {
            s.push_str("none");
        }
        s
    }

    /// Parses tcpdump letters as written in a scenario (`R`, `S.`, `F.`, `P.`).
    pub fn parse(s: &str) -> Option<Flags> {
        let mut f = 0;
        for c in s.chars() {
            f |= match c {
                'S' => Self::SYN,
                'F' => Self::FIN,
                'P' => Self::PSH,
                'R' => Self::RST,
                'U' => Self::URG,
                '.' => Self::ACK,
                _ => return None,
            };
        }
        (f != 0).then_some(Flags(f))
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tcpdump())
    }
}

impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.tcpdump())
    }
}

/// The header facts of one TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: Flags,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub payload_len: u32,
    /// Payload bytes actually captured: fewer than `payload_len` under a snap length.
    pub captured: u32,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification; None for IPv6.
    pub ip_id: Option<u16>,
    /// The IP packet's length as its header claims (IPv4 total length, IPv6 40 + payload
    /// length), whatever was captured: what Zeek counts as `ip_bytes`.
    pub ip_len: u32,
}

impl TcpSegment {
    /// Slices an Ethernet frame (VLAN and MPLS tags allowed). `None` if it is not TCP over IP.
    pub fn from_ethernet(frame: &[u8]) -> Option<TcpSegment> {
        Self::from_link(crate::link::linktype::ETHERNET, frame)
    }

    /// Slices a frame of any link type [`crate::link`] knows.
    pub fn from_link(linktype: u16, frame: &[u8]) -> Option<TcpSegment> {
        Self::from_ip(crate::link::ip_packet(linktype, frame)?)
    }

    /// Slices a raw IPv4 or IPv6 packet. Captures cut short by a snap length still give the
    /// segment as long as its TCP header is there: the payload length comes from the IP
    /// header, as Zeek counts it, not from the bytes captured. IP fragments give `None`.
    pub fn from_ip(packet: &[u8]) -> Option<TcpSegment> {
        if let Some(s) = Self::plain_ipv4(packet) {
            return Some(s);
        }
        Self::sliced(packet)
    }

    /// The common case without etherparse's general slicer, which is most of the cost of a
    /// packet: IPv4 without options or fragmentation, a whole TCP header, and an IP length
    /// that covers it. Anything else returns `None` and goes the general way; a test checks
    /// that both ways agree on every packet of the Zeek corpus.
    fn plain_ipv4(p: &[u8]) -> Option<TcpSegment> {
        if p.len() < 40 || p[0] != 0x45 || p[9] != 6 {
            return None;
        }
        let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
        let frag = u16::from_be_bytes([p[6], p[7]]);
        let doff = usize::from(p[32] >> 4) * 4;
        // MF set or a fragment offset: a fragment. A TCP header longer than what was
        // captured or than the IP length claims: leave it to the general slicer.
        if frag & 0x3FFF != 0 || doff < 20 || p.len() < 20 + doff || total < 20 + doff {
            return None;
        }
        let t = &p[20..];
        let b4 = |o: usize| [p[o], p[o + 1], p[o + 2], p[o + 3]];
        Some(TcpSegment {
            src: SocketAddr::new(IpAddr::from(b4(12)), u16::from_be_bytes([t[0], t[1]])),
            dst: SocketAddr::new(IpAddr::from(b4(16)), u16::from_be_bytes([t[2], t[3]])),
            flags: Flags(t[13] & 0x3F),
            seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
            ack: u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
            window: u16::from_be_bytes([t[14], t[15]]),
            payload_len: (total - 20 - doff) as u32,
            captured: (p.len().min(total) - 20 - doff) as u32,
            ttl: p[8],
            ip_id: Some(u16::from_be_bytes([p[4], p[5]])),
            ip_len: total as u32,
        })
    }

    /// Any IP packet, through etherparse.
    fn sliced(packet: &[u8]) -> Option<TcpSegment> {
        let p = LaxSlicedPacket::from_ip(packet).ok()?;
        let Some(TransportSlice::Tcp(tcp)) = p.transport else {
            return None;
        };
        let (src_ip, dst_ip, ttl, ip_id, ip_len, ip_payload): (
            IpAddr,
            IpAddr,
            u8,
            Option<u16>,
            u32,
            usize,
        ) = match p.net? {
            LaxNetSlice::Ipv4(v4) => {
                if v4.is_payload_fragmented() {
                    return None;
                }
                let h = v4.header();
                let claimed = if h.total_len() == 0 {
                    // Zeroed by segmentation offload: Zeek takes the bytes captured
                    // (TCPAnalyzer::DeliverPacket) and counts 0 IP bytes.
                    v4.payload().payload.len()
                } else {
                    usize::from(h.total_len())
                        .saturating_sub(h.slice().len() + v4.extensions().to_header().header_len())
                };
                (
                    h.source_addr().into(),
                    h.destination_addr().into(),
                    h.ttl(),
                    Some(h.identification()),
                    u32::from(h.total_len()),
                    claimed,
                )
            }
            LaxNetSlice::Ipv6(v6) => {
                if v6.is_payload_fragmented() {
                    return None;
                }
                let h = v6.header();
                let claimed =
                    usize::from(h.payload_length()).saturating_sub(v6.extensions().slice().len());
                (
                    h.source_addr().into(),
                    h.destination_addr().into(),
                    h.hop_limit(),
                    None,
                    40 + u32::from(h.payload_length()),
                    claimed,
                )
            }
            LaxNetSlice::Arp(_) => return None,
        };
        let mut flags = 0;
        for (on, bit) in [
            (tcp.fin(), Flags::FIN),
            (tcp.syn(), Flags::SYN),
            (tcp.rst(), Flags::RST),
            (tcp.psh(), Flags::PSH),
            (tcp.ack(), Flags::ACK),
            (tcp.urg(), Flags::URG),
        ] {
            if on {
                flags |= bit;
            }
        }
        Some(TcpSegment {
            src: SocketAddr::new(src_ip, tcp.source_port()),
            dst: SocketAddr::new(dst_ip, tcp.destination_port()),
            flags: Flags(flags),
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            window: tcp.window_size(),
            payload_len: ip_payload.saturating_sub(tcp.header_len()) as u32,
            captured: tcp.payload().len() as u32,
            ttl,
            ip_id,
            ip_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_spell_like_tcpdump() {
        assert_eq!(Flags(Flags::SYN).tcpdump(), "S");
        assert_eq!(Flags(Flags::SYN | Flags::ACK).tcpdump(), "S.");
        assert_eq!(Flags(Flags::FIN | Flags::ACK).tcpdump(), "F.");
        assert_eq!(Flags(Flags::PSH | Flags::ACK).tcpdump(), "P.");
        assert_eq!(Flags(Flags::RST).tcpdump(), "R");
        assert_eq!(Flags::parse("R."), Some(Flags(Flags::RST | Flags::ACK)));
        assert_eq!(Flags::parse("X"), None);
    }

    #[test]
    fn the_fast_path_agrees_with_etherparse_on_every_corpus_packet() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/zeek/Traces");
        let mut stack = vec![dir];
        let mut fast = 0;
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Ok(mut r) = crate::capture::Reader::new(std::fs::File::open(&path).unwrap())
                else {
                    continue;
                };
                while let Ok(Some(p)) = r.next_packet() {
                    let Some(ip) = crate::link::ip_packet(p.linktype, p.data) else {
                        continue;
                    };
                    if let Some(f) = TcpSegment::plain_ipv4(ip) {
                        fast += 1;
                        assert_eq!(Some(f), TcpSegment::sliced(ip), "{}", path.display());
                    }
                    // Every prefix, as a snap length would cut it.
                    for n in 0..ip.len().min(80) {
                        if let Some(f) = TcpSegment::plain_ipv4(&ip[..n]) {
                            assert_eq!(Some(f), TcpSegment::sliced(&ip[..n]));
                        }
                    }
                }
            }
        }
        assert!(fast > 1000, "{fast} packets took the fast path");
    }

    #[test]
    fn garbage_is_not_tcp() {
        assert_eq!(TcpSegment::from_ethernet(&[]), None);
        assert_eq!(TcpSegment::from_ethernet(&[0xff; 13]), None);
        assert_eq!(TcpSegment::from_ip(&[0x45; 30]), None);
    }

    #[test]
    fn a_snapped_capture_keeps_the_ip_payload_length() {
        let b = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1, 2, 100, 512);
        let mut frame = Vec::new();
        b.write(&mut frame, &[7u8; 1000]).unwrap();
        // tcpdump -s 54: headers only.
        let s = TcpSegment::from_ethernet(&frame[..54]).unwrap();
        assert_eq!(s.payload_len, 1000);
        assert_eq!(s.captured, 0);
        assert_eq!(TcpSegment::from_ethernet(&frame).unwrap().captured, 1000);
        assert_eq!(
            TcpSegment::from_ethernet(&frame[..40]),
            None,
            "TCP header cut"
        );
    }

    #[test]
    fn slices_a_built_segment() {
        let b = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([198, 18, 0, 1], [198, 18, 0, 6], 64)
            .tcp(40000, 8080, 1000, 512)
            .rst();
        let mut frame = Vec::new();
        b.write(&mut frame, &[]).unwrap();
        let s = TcpSegment::from_ethernet(&frame).unwrap();
        assert_eq!(s.src.to_string(), "198.18.0.1:40000");
        assert_eq!(s.dst.port(), 8080);
        assert_eq!(s.seq, 1000);
        assert!(s.flags.has(Flags::RST));
        assert_eq!(s.ttl, 64);
    }
}
