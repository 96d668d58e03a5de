//! A TCP segment's header facts, sliced from an Ethernet frame or a raw IP packet.

use etherparse::{IpNumber, LaxNetSlice, LaxSlicedPacket};
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
        Self::from_ip(crate::link::ip_packet(linktype, frame).ok()?)
    }

    /// Slices a raw IPv4 or IPv6 packet. Captures cut short by a snap length still give the
    /// segment as long as the fixed 20 bytes of its TCP header are there (options may be cut
    /// off): the payload length comes from the IP header, as Zeek counts it, not from the
    /// bytes captured. IP fragments give `None`.
    pub fn from_ip(packet: &[u8]) -> Option<TcpSegment> {
        if let Some(s) = Self::plain_ipv4(packet) {
            return Some(s);
        }
        Self::sliced(packet)
    }

    /// The common case without etherparse's general slicer, which is most of the cost of a
    /// packet: IPv4 without options or fragmentation. Anything else returns `None` and goes
    /// the general way; a test checks that both ways agree on every packet of the Zeek
    /// corpus and every prefix of it.
    fn plain_ipv4(p: &[u8]) -> Option<TcpSegment> {
        if p.len() < 40 || p[0] != 0x45 || p[9] != 6 {
            return None;
        }
        let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
        let frag = u16::from_be_bytes([p[6], p[7]]);
        let doff = usize::from(p[32] >> 4) * 4;
        // MF set or a fragment offset: a fragment. An IP length shorter than the TCP header
        // (0 from segmentation offload): leave it to the general slicer.
        if frag & 0x3FFF != 0 || total < 20 + doff {
            return None;
        }
        let b4 = |o: usize| [p[o], p[o + 1], p[o + 2], p[o + 3]];
        Self::from_tcp(
            (IpAddr::from(b4(12)), IpAddr::from(b4(16))),
            p[8],
            Some(u16::from_be_bytes([p[4], p[5]])),
            total as u32,
            total - 20,
            &p[20..p.len().min(total)],
        )
    }

    /// Any IP packet, through etherparse.
    fn sliced(packet: &[u8]) -> Option<TcpSegment> {
        let p = LaxSlicedPacket::from_ip(packet).ok()?;
        let payload = p.ip_payload()?.clone();
        if payload.ip_number != IpNumber::TCP || payload.fragmented {
            return None;
        }
        let (addrs, ttl, ip_id, ip_len, claimed): ((IpAddr, IpAddr), u8, Option<u16>, u32, usize) =
            match p.net? {
                LaxNetSlice::Ipv4(v4) => {
                    let h = v4.header();
                    let claimed = usize::from(h.total_len())
                        .saturating_sub(h.slice().len() + v4.extensions().to_header().header_len());
                    (
                        (h.source_addr().into(), h.destination_addr().into()),
                        h.ttl(),
                        Some(h.identification()),
                        u32::from(h.total_len()),
                        claimed,
                    )
                }
                LaxNetSlice::Ipv6(v6) => {
                    let h = v6.header();
                    let claimed = usize::from(h.payload_length())
                        .saturating_sub(v6.extensions().slice().len());
                    (
                        (h.source_addr().into(), h.destination_addr().into()),
                        h.hop_limit(),
                        None,
                        40 + u32::from(h.payload_length()),
                        claimed,
                    )
                }
                LaxNetSlice::Arp(_) => return None,
            };
        Self::from_tcp(addrs, ttl, ip_id, ip_len, claimed, payload.payload)
    }

    /// The segment from its IP facts and the TCP bytes captured (`t`, no further than the IP
    /// length). The fixed 20 bytes of the header are enough: flags, sequence and
    /// acknowledgment numbers and the window are there, and options cut off by a snap length
    /// are not needed. The payload length comes from the IP length (`claimed`: the IP
    /// payload as the IP header counts it), as Zeek takes it.
    fn from_tcp(
        (src, dst): (IpAddr, IpAddr),
        ttl: u8,
        ip_id: Option<u16>,
        ip_len: u32,
        claimed: usize,
        t: &[u8],
    ) -> Option<TcpSegment> {
        if t.len() < 20 {
            return None;
        }
        let doff = usize::from(t[12] >> 4) * 4;
        if doff < 20 {
            return None;
        }
        Some(TcpSegment {
            src: SocketAddr::new(src, u16::from_be_bytes([t[0], t[1]])),
            dst: SocketAddr::new(dst, u16::from_be_bytes([t[2], t[3]])),
            flags: Flags(t[13] & 0x3F),
            seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
            ack: u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
            window: u16::from_be_bytes([t[14], t[15]]),
            payload_len: claimed.saturating_sub(doff) as u32,
            captured: t.len().saturating_sub(doff) as u32,
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
                    let Ok(ip) = crate::link::ip_packet(p.linktype, p.data) else {
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
            TcpSegment::from_ethernet(&frame[..53]),
            None,
            "the fixed TCP header cut"
        );
    }

    /// A snap length that cuts into the TCP options still gives the segment (`editcap -s
    /// 54/66/68` of a capture with timestamps), over IPv4 and IPv6.
    #[test]
    fn options_cut_off_by_the_snap_length_are_not_needed() {
        let opts = [
            etherparse::TcpOptionElement::MaximumSegmentSize(1460),
            etherparse::TcpOptionElement::SelectiveAcknowledgementPermitted,
            etherparse::TcpOptionElement::Timestamp(1, 2),
            etherparse::TcpOptionElement::WindowScale(7),
        ];
        let v4 = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1, 2, 100, 512)
            .syn()
            .options(&opts)
            .unwrap();
        let v6 = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv6([0x20; 16], [0x21; 16], 64)
            .tcp(1, 2, 100, 512)
            .syn()
            .options(&opts)
            .unwrap();
        for (b, ip) in [(v4, 20), (v6, 40)] {
            let mut frame = Vec::new();
            b.write(&mut frame, &[]).unwrap();
            let whole = TcpSegment::from_ethernet(&frame).unwrap();
            for cut in 14 + ip + 20..frame.len() {
                let s = TcpSegment::from_ethernet(&frame[..cut]).unwrap();
                assert_eq!(s, whole, "cut at {cut}");
            }
            assert_eq!(TcpSegment::from_ethernet(&frame[..14 + ip + 19]), None);
        }
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
