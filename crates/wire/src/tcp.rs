//! A TCP segment's header facts, sliced from an Ethernet frame or a raw IP packet.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSegment {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: Flags,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub payload_len: u32,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification; None for IPv6.
    pub ip_id: Option<u16>,
}

impl TcpSegment {
    /// Slices an Ethernet frame (VLAN tags allowed). `None` if it is not TCP over IP.
    pub fn from_ethernet(frame: &[u8]) -> Option<TcpSegment> {
        Self::from_sliced(SlicedPacket::from_ethernet(frame).ok()?)
    }

    /// Slices a raw IPv4 or IPv6 packet.
    pub fn from_ip(packet: &[u8]) -> Option<TcpSegment> {
        Self::from_sliced(SlicedPacket::from_ip(packet).ok()?)
    }

    fn from_sliced(p: SlicedPacket<'_>) -> Option<TcpSegment> {
        let Some(TransportSlice::Tcp(tcp)) = p.transport else {
            return None;
        };
        let (src_ip, dst_ip, ttl, ip_id): (IpAddr, IpAddr, u8, Option<u16>) = match p.net? {
            NetSlice::Ipv4(v4) => {
                let h = v4.header();
                (
                    h.source_addr().into(),
                    h.destination_addr().into(),
                    h.ttl(),
                    Some(h.identification()),
                )
            }
            NetSlice::Ipv6(v6) => {
                let h = v6.header();
                (
                    h.source_addr().into(),
                    h.destination_addr().into(),
                    h.hop_limit(),
                    None,
                )
            }
            _ => return None,
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
            payload_len: tcp.payload().len() as u32,
            ttl,
            ip_id,
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
    fn garbage_is_not_tcp() {
        assert_eq!(TcpSegment::from_ethernet(&[]), None);
        assert_eq!(TcpSegment::from_ethernet(&[0xff; 13]), None);
        assert_eq!(TcpSegment::from_ip(&[0x45; 30]), None);
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
