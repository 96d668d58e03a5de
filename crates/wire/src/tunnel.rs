//! Tunnel headers, parsed as Zeek's packet analyzers parse them
//! (`src/packet_analysis/protocol/{vxlan,geneve,gre,gtpv1,teredo,ayiya}`): what each accepts,
//! where its inner packet starts and what layer that packet begins with, and when Zeek calls
//! a payload a violation (after which it decapsulates nothing more on that UDP flow). Pure
//! functions over byte slices; the flows, depth and checksums are `crate::dissect`'s.

/// The packet a tunnel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inner<'a> {
    Ip(&'a [u8]),
    Ethernet(&'a [u8]),
    /// An 802.11 frame (Aruba's GRE).
    Wlan(&'a [u8]),
}

/// What a tunnel analyzer makes of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a> {
    Inner(Inner<'a>),
    /// A message that carries no packet (a heartbeat, signalling, a header alone): nothing to
    /// decapsulate, nothing held against the flow.
    Empty,
    /// A payload this analyzer does not decode (as Zeek does not), nothing held against the
    /// flow.
    Skip,
    /// Zeek's `AnalyzerViolation`: the analyzer decapsulates nothing more on this flow.
    Violation,
}

/// UDP ports the tunnel analyzers register (`register_for_ports` in
/// `scripts/base/packet-protocols/*/main.zeek`), and which analyzer each names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpTunnel {
    Vxlan,
    Geneve,
    Teredo,
    Ayiya,
    Gtpv1,
    Gre,
}

impl UdpTunnel {
    pub fn by_port(port: u16) -> Option<UdpTunnel> {
        Some(match port {
            4789 => UdpTunnel::Vxlan,
            6081 => UdpTunnel::Geneve,
            3544 => UdpTunnel::Teredo,
            5072 => UdpTunnel::Ayiya,
            2152 | 2123 => UdpTunnel::Gtpv1,
            4754 => UdpTunnel::Gre,
            _ => return None,
        })
    }

    /// Zeek's `likely_server_ports` gets these UDP ports from the same scripts (they are
    /// loaded even in bare mode), so a flow whose first packet comes from one is flipped.
    pub fn likely_server_port(port: u16) -> bool {
        UdpTunnel::by_port(port).is_some()
    }

    /// Bit for the flow's violation set.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Its name among the reasons a frame is skipped.
    pub fn encap(self) -> crate::skip::Encap {
        use crate::skip::Encap;
        match self {
            UdpTunnel::Vxlan => Encap::Vxlan,
            UdpTunnel::Geneve => Encap::Geneve,
            UdpTunnel::Teredo => Encap::Teredo,
            UdpTunnel::Ayiya => Encap::Ayiya,
            UdpTunnel::Gtpv1 => Encap::Gtp,
            UdpTunnel::Gre => Encap::Gre,
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// VXLAN.cc: 8 bytes with the I flag, then Ethernet (vxlan/main.zeek's default analyzer).
pub fn vxlan(p: &[u8]) -> Verdict<'_> {
    if p.len() < 8 || p[0] & 0x08 == 0 {
        return Verdict::Violation;
    }
    if p.len() == 8 {
        return Verdict::Empty;
    }
    Verdict::Inner(Inner::Ethernet(&p[8..]))
}

/// Geneve.cc: version 0, 8 bytes and the options, then the protocol its type names in
/// geneve/main.zeek's table. That table lists IPv6 as 0x08DD, so IPv6 (0x86DD) in Geneve is
/// not decoded, as in Zeek.
pub fn geneve(p: &[u8]) -> Verdict<'_> {
    if p.len() < 8 {
        return Verdict::Violation;
    }
    if p[0] >> 6 != 0 {
        return Verdict::Skip;
    }
    let hdr = 8 + usize::from(p[0] & 0x3F) * 4;
    if hdr > p.len() {
        return Verdict::Violation;
    }
    let rest = &p[hdr..];
    if rest.is_empty() {
        return Verdict::Empty;
    }
    match be16(p, 2) {
        0x6558 => Verdict::Inner(Inner::Ethernet(rest)),
        0x0800 | 0x08DD => Verdict::Inner(Inner::Ip(rest)),
        _ => Verdict::Skip,
    }
}

/// AYIYA.cc: identity and signature lengths from the first two bytes; only the "forward"
/// opcode carries a packet, IPv4 or IPv6 by its next header (ayiya/main.zeek). Heartbeats
/// (opcode 0, next header 59) carry none.
pub fn ayiya(p: &[u8]) -> Verdict<'_> {
    if p.len() < 8 {
        return Verdict::Violation;
    }
    let hdr = 8 + (1usize << (p[0] >> 4)) + usize::from(p[1] >> 4) * 4;
    if hdr > p.len() {
        return Verdict::Violation;
    }
    if p[2] & 0x0F != 1 || hdr == p.len() || p[3] == 59 {
        return Verdict::Empty;
    }
    match p[3] {
        4 | 41 => Verdict::Inner(Inner::Ip(&p[hdr..])),
        _ => Verdict::Skip,
    }
}

/// AYIYA's protocol detection (`AYIYAAnalyzer::DetectProtocol`).
pub fn ayiya_detect(p: &[u8]) -> bool {
    p.len() >= 3 && p[1] == 0x52 && p[2] == 0x11
}

/// Teredo.cc: origin indication and authentication headers in either order Zeek accepts,
/// then an IPv6 packet whose length must be the payload's, except for a bubble (no next
/// header, no payload) with bytes after it.
pub fn teredo(p: &[u8]) -> Verdict<'_> {
    let (mut rest, mut origin, mut auth) = (p, false, false);
    loop {
        if rest.len() < 2 {
            return Verdict::Violation;
        }
        let tag = be16(rest, 0);
        if tag == 0 {
            if origin || rest.len() < 8 {
                return Verdict::Violation;
            }
            origin = true;
            rest = &rest[8..];
        } else if tag == 1 {
            if origin || auth || rest.len() < 4 {
                return Verdict::Violation;
            }
            let n = 4 + usize::from(rest[2]) + usize::from(rest[3]) + 8 + 1;
            if rest.len() < n {
                return Verdict::Violation;
            }
            auth = true;
            rest = &rest[n..];
        } else if tag >> 12 == 6 {
            if rest.len() < 40 {
                return Verdict::Violation;
            }
            break;
        } else {
            return Verdict::Violation;
        }
    }
    match exact_ip(rest, 41) {
        Exact::Ok => Verdict::Inner(Inner::Ip(rest)),
        // A bubble with payload is only weird.
        Exact::TooLarge if rest[6] == 59 && be16(rest, 4) == 0 => Verdict::Inner(Inner::Ip(rest)),
        _ => Verdict::Violation,
    }
}

/// Teredo's protocol detection (`TeredoAnalyzer::DetectProtocol`): the old DPD signature
/// (an IPv6 header with a Teredo 2001:0::/32 source or destination, matched as a prefix),
/// else an authentication and/or origin indication header before an IPv6 version nibble.
pub fn teredo_detect(p: &[u8]) -> bool {
    if p.len() < 40 || (p[0] >> 4 != 6 && (p[0] != 0 || (p[1] != 0 && p[1] != 1))) {
        return false;
    }
    const TEREDO: [u8; 4] = [0x20, 0x01, 0x00, 0x00];
    if (0x60..=0x6f).contains(&p[0]) && (p[8..12] == TEREDO || p[24..28] == TEREDO) {
        return true;
    }
    let mut d = p;
    let mut val = u16::from(d[1]);
    if val == 1 {
        let n = 13 + usize::from(d[2]) + usize::from(d[3]);
        if d.len() < n {
            return false;
        }
        d = &d[n..];
        if d.len() < 40 {
            return false;
        }
        val = be16(d, 0);
    }
    if val == 0 {
        d = &d[8..];
        return d.len() >= 40 && d[0] >> 4 == 6;
    }
    false
}

/// How an inner IP packet's length compares with the bytes there are
/// (`packet_analysis::IP::ParsePacket`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exact {
    Ok,
    TooSmall,
    TooLarge,
    BadVersion,
}

/// `proto` 4 wants IPv4, 41 IPv6; the bytes must be exactly the packet's total length.
pub fn exact_ip(p: &[u8], proto: u8) -> Exact {
    let total = match proto {
        41 => {
            if p.len() < 40 {
                return Exact::TooSmall;
            }
            if p[0] & 0xF0 != 0x60 {
                return Exact::BadVersion;
            }
            40 + usize::from(be16(p, 4))
        }
        _ => {
            if p.len() < 20 {
                return Exact::BadVersion;
            }
            if p[0] >> 4 != 4 {
                return Exact::BadVersion;
            }
            usize::from(be16(p, 2))
        }
    };
    match p.len().cmp(&total) {
        std::cmp::Ordering::Equal => Exact::Ok,
        std::cmp::Ordering::Less => Exact::TooSmall,
        std::cmp::Ordering::Greater => Exact::TooLarge,
    }
}

/// GTPv1-U as Zeek's binpac grammar reads it (`gtpv1-protocol.pac`, `gtpv1-analyzer.pac`,
/// GTPv1.cc): version 1 with the PT flag; the optional 4-byte sequence/N-PDU/next-type
/// field when any of E, S, PN is set; extension headers (4-byte units) while E is set, until
/// one's next type is 0; a G-PDU (type 255) carries an IPv4 or IPv6 packet that must fill
/// the rest exactly. `inside_gtp`: GTP is never carried in GTP.
pub fn gtpv1(p: &[u8], inside_gtp: bool) -> Verdict<'_> {
    if p.len() < 8 || inside_gtp {
        return Verdict::Violation;
    }
    let flags = p[0];
    if flags >> 5 != 1 {
        return Verdict::Violation;
    }
    if flags & 0x10 == 0 {
        return Verdict::Skip;
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        at += 4;
        if p.len() < at {
            return Verdict::Violation;
        }
    }
    if flags & 0x04 != 0 {
        loop {
            let Some(&units) = p.get(at) else {
                return Verdict::Violation;
            };
            // A zero length makes the grammar's content length negative.
            if units == 0 {
                return Verdict::Violation;
            }
            at += usize::from(units) * 4;
            let Some(&next) = p.get(at - 1) else {
                return Verdict::Violation;
            };
            if next == 0 {
                break;
            }
        }
    }
    // Echo, error indication, end marker and GTP-C messages carry no user packet.
    if p[1] != 255 {
        return Verdict::Empty;
    }
    let inner = &p[at..];
    if inner.len() < 20 {
        return Verdict::Violation;
    }
    let proto = match inner[0] >> 4 {
        4 => 4,
        6 => 41,
        _ => return Verdict::Violation,
    };
    match exact_ip(inner, proto) {
        Exact::Ok => Verdict::Inner(Inner::Ip(inner)),
        _ => Verdict::Violation,
    }
}

/// GRE.cc (RFC 2784/2890, and version 1 for PPTP): flags and the optional fields they
/// announce; transparent Ethernet bridging (0x6558), ERSPAN type I/II (0x88BE, the 8-byte
/// type II header when the sequence bit is set) and type III (0x22EB, 12 bytes and an
/// optional 8-byte subheader), Aruba's 802.11 (0x8200-0x82F0 and 0x8300-0x8370 in steps of
/// 16, 0x9000), and anything else taken for IP as Zeek's IP tunnel analyzer takes it. PPTP's
/// PPP must carry IPv4 or IPv6 and fill the rest exactly. Routing (deprecated) and the
/// reserved flags make Zeek drop the packet.
pub fn gre(p: &[u8]) -> Option<Inner<'_>> {
    if p.len() < 4 {
        return None;
    }
    let flags = be16(p, 0);
    let proto = be16(p, 2);
    let version = flags & 0x7;
    let mut hdr = 4;
    for bit in [0x8000, 0x2000, 0x1000, 0x0080] {
        if flags & bit != 0 {
            hdr += 4;
        }
    }
    if version > 1 || flags & 0x4000 != 0 || flags & 0x0078 != 0 {
        return None;
    }
    if version == 1 {
        if proto != 0x880B || p.len() < hdr + 4 {
            return None;
        }
        let ip_proto = match be16(p, hdr + 2) {
            0x0021 => 4,
            0x0057 => 41,
            _ => return None,
        };
        let inner = &p[hdr + 4..];
        return (exact_ip(inner, ip_proto) == Exact::Ok).then_some(Inner::Ip(inner));
    }
    let aruba = (proto & 0x8200 == 0x8200 && proto & 0x0F == 0)
        || (proto & 0x8300 == 0x8300 && proto & 0x0F == 0 && proto <= 0x8370)
        || proto == 0x9000;
    match proto {
        0x6558 => (p.len() > hdr + 14).then(|| Inner::Ethernet(&p[hdr..])),
        0x88BE => {
            if p.len() <= hdr + 14 {
                return None;
            }
            let erspan = if flags & 0x1000 != 0 { 8 } else { 0 };
            (p.len() >= hdr + 14 + erspan).then(|| Inner::Ethernet(&p[hdr + erspan..]))
        }
        0x22EB => {
            if p.len() <= hdr + 14 + 12 {
                return None;
            }
            let mut erspan = 12;
            if p[hdr + 11] & 0x01 != 0 {
                if p.len() <= hdr + erspan + 8 + 14 {
                    return None;
                }
                erspan += 8;
            }
            Some(Inner::Ethernet(&p[hdr + erspan..]))
        }
        _ if aruba => (p.len() > hdr).then(|| Inner::Wlan(&p[hdr..])),
        _ => (p.len() >= hdr).then(|| Inner::Ip(&p[hdr..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtp_extension_headers_are_skipped() {
        // Version 1, PT, E: seq/N-PDU/next type 0x32, one 4-byte extension header.
        let mut p = vec![0x34, 255, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x32];
        p.extend([1, 0xAA, 0xBB, 0]);
        let mut ip = vec![
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
        ];
        p.extend(&ip);
        assert_eq!(gtpv1(&p, false), Verdict::Inner(Inner::Ip(&ip[..])));
        assert_eq!(gtpv1(&p, true), Verdict::Violation);
        // A length that does not fill the payload exactly.
        p.push(0);
        assert_eq!(gtpv1(&p, false), Verdict::Violation);
        ip[0] = 0x55;
        assert_eq!(exact_ip(&ip, 4), Exact::BadVersion);
    }

    #[test]
    fn teredo_bubbles_and_headers() {
        let mut bubble = vec![0x60, 0, 0, 0, 0, 0, 59, 255];
        bubble.extend([0x20, 0x01, 0, 0]);
        bubble.extend([0u8; 28]);
        assert!(teredo_detect(&bubble));
        assert_eq!(teredo(&bubble), Verdict::Inner(Inner::Ip(&bubble[..])));
        let mut with_payload = bubble.clone();
        with_payload.extend([1, 2, 3]);
        assert!(matches!(teredo(&with_payload), Verdict::Inner(_)));
        let mut origin = vec![0, 0, 0xf1, 0x2a, 0xb9, 0xc8, 0x28, 0x15];
        origin.extend(&bubble);
        assert!(teredo_detect(&origin));
        assert!(matches!(teredo(&origin), Verdict::Inner(_)));
        assert_eq!(teredo(&[0x45; 60]), Verdict::Violation);
    }

    #[test]
    fn gre_variants() {
        let ip = [
            0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
        ];
        let mut plain = vec![0, 0, 0x08, 0x00];
        plain.extend(ip);
        assert_eq!(gre(&plain), Some(Inner::Ip(&ip[..])));
        // Key and sequence number present.
        let mut keyed = vec![0x30, 0, 0x08, 0x00, 0, 0, 0, 7, 0, 0, 0, 1];
        keyed.extend(ip);
        assert_eq!(gre(&keyed), Some(Inner::Ip(&ip[..])));
        // Routing present: dropped.
        assert_eq!(gre(&[0x40, 0, 0x08, 0, 0, 0, 0, 0]), None);
        // ERSPAN type II: sequence bit, 8-byte ERSPAN header, then Ethernet.
        let mut erspan = vec![0x10, 0, 0x88, 0xBE, 0, 0, 0, 1];
        erspan.extend([0x10, 0, 0, 0, 0, 0, 0, 0]);
        let eth = [0u8; 30];
        erspan.extend(eth);
        assert_eq!(gre(&erspan), Some(Inner::Ethernet(&eth[..])));
    }
}
