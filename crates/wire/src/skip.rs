//! Why a frame gave no TCP segment. A decoder that skips a frame names the reason, so a
//! capture whose TCP sits somewhere the decoder does not look (a tunnel, a link type it does
//! not know) is reported as such, never as a capture without TCP.
//!
//! Each reason is "not decoded here", not a verdict on the frame: decoding more (a new link
//! type, a tunnel) makes a reason stop being produced; nothing else has to change.

use etherparse::{IpNumber, LaxSlicedPacket, TransportSlice};
use std::fmt;

/// Why a frame was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Skip {
    /// A link type the link layer does not decode (its LINKTYPE_ number).
    LinkType(u16),
    /// Inside a tunnel or encapsulation that is not opened.
    Encapsulation(Encap),
    /// The link layer carries something other than IP (ARP, LLDP, spanning tree...).
    NotIp,
    /// IP carrying something other than TCP (UDP, ICMP other than an error about TCP...).
    NotTcp,
    /// Cut before the end of the fixed headers (link, IP, and the 20 bytes of TCP's), by the
    /// snap length or a short frame.
    TooShort,
    /// Headers that contradict themselves: an IP version other than 4 or 6, an IP header
    /// length under 20, a TCP data offset under 20 or beyond the IP length.
    Malformed,
}

/// Tunnels and encapsulations recognised but not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Encap {
    /// PPP over Ethernet (ethertypes 0x8863/0x8864).
    Pppoe,
    /// Provider backbone bridging, MAC-in-MAC (IEEE 802.1ah, ethertype 0x88E7).
    Pbb,
    /// An MPLS payload that is not IP (an Ethernet pseudowire).
    MplsPseudowire,
    /// GRE (IP protocol 47), ERSPAN included.
    Gre,
    /// IP in IP (IP protocols 4 and 41: IPv4 or IPv6 inside).
    IpInIp,
    /// VXLAN (UDP port 4789).
    Vxlan,
    /// Geneve (UDP port 6081).
    Geneve,
    /// Teredo (UDP port 3544).
    Teredo,
    /// GTP-U (UDP port 2152).
    Gtp,
    /// AYIYA (UDP port 5072).
    Ayiya,
}

impl Encap {
    pub fn name(self) -> &'static str {
        match self {
            Encap::Pppoe => "PPPoE",
            Encap::Pbb => "802.1ah MAC-in-MAC",
            Encap::MplsPseudowire => "an MPLS pseudowire",
            Encap::Gre => "GRE",
            Encap::IpInIp => "IP in IP",
            Encap::Vxlan => "VXLAN",
            Encap::Geneve => "Geneve",
            Encap::Teredo => "Teredo",
            Encap::Gtp => "GTP-U",
            Encap::Ayiya => "AYIYA",
        }
    }
}

impl Skip {
    /// Whether frames skipped for this reason may hold TCP that the capture's report would
    /// otherwise leave out: a link type or an encapsulation not decoded. Frames that are not
    /// IP, not TCP, or broken hold none.
    pub fn may_hide_tcp(self) -> bool {
        matches!(self, Skip::LinkType(_) | Skip::Encapsulation(_))
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::LinkType(lt) => write!(f, "link type {lt} not decoded"),
            Skip::Encapsulation(e) => write!(f, "inside {} (not decoded)", e.name()),
            Skip::NotIp => f.write_str("not IP"),
            Skip::NotTcp => f.write_str("not TCP"),
            Skip::TooShort => f.write_str("cut before the end of the TCP header"),
            Skip::Malformed => f.write_str("malformed headers"),
        }
    }
}

/// Why a raw IP packet that gave neither a TCP segment, nor an ICMP error about one, nor a
/// fragment was skipped.
pub fn of_ip(ip: &[u8]) -> Skip {
    match ip.first().map(|b| b >> 4) {
        None => return Skip::TooShort,
        Some(4 | 6) => {}
        Some(_) => return Skip::Malformed,
    }
    let p = match LaxSlicedPacket::from_ip(ip) {
        Ok(p) => p,
        Err(etherparse::err::ip::LaxHeaderSliceError::Len(_)) => return Skip::TooShort,
        Err(_) => return Skip::Malformed,
    };
    let Some(payload) = p.ip_payload() else {
        return Skip::TooShort;
    };
    match payload.ip_number {
        IpNumber::TCP if payload.payload.len() < 20 => Skip::TooShort,
        IpNumber::TCP => Skip::Malformed,
        IpNumber::IPV4 | IpNumber::IPV6 => Skip::Encapsulation(Encap::IpInIp),
        IpNumber::GRE => Skip::Encapsulation(Encap::Gre),
        IpNumber::UDP => match p.transport {
            Some(TransportSlice::Udp(u)) => {
                let port = |p: u16| u.source_port() == p || u.destination_port() == p;
                let tunnel = [
                    (4789, Encap::Vxlan),
                    (6081, Encap::Geneve),
                    (3544, Encap::Teredo),
                    (2152, Encap::Gtp),
                    (5072, Encap::Ayiya),
                ]
                .into_iter()
                .find(|(p, _)| port(*p));
                tunnel.map_or(Skip::NotTcp, |(_, e)| Skip::Encapsulation(e))
            }
            _ => Skip::NotTcp,
        },
        _ => Skip::NotTcp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(payload);
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p
    }

    fn udp(dport: u16) -> Vec<u8> {
        let mut u = vec![0x30, 0x39];
        u.extend(dport.to_be_bytes());
        u.extend([0, 8, 0, 0]);
        u
    }

    #[test]
    fn ip_packets_are_skipped_for_what_they_carry() {
        assert_eq!(of_ip(&[]), Skip::TooShort);
        assert_eq!(of_ip(&[0x25; 40]), Skip::Malformed);
        assert_eq!(of_ip(&ipv4(17, &udp(53))), Skip::NotTcp);
        assert_eq!(of_ip(&ipv4(1, &[8, 0, 0, 0])), Skip::NotTcp);
        assert_eq!(
            of_ip(&ipv4(17, &udp(4789))),
            Skip::Encapsulation(Encap::Vxlan)
        );
        assert_eq!(
            of_ip(&ipv4(17, &udp(2152))),
            Skip::Encapsulation(Encap::Gtp)
        );
        assert_eq!(of_ip(&ipv4(47, &[0; 8])), Skip::Encapsulation(Encap::Gre));
        assert_eq!(
            of_ip(&ipv4(41, &[0x60; 40])),
            Skip::Encapsulation(Encap::IpInIp)
        );
        // TCP with 12 bytes of header: cut.
        assert_eq!(of_ip(&ipv4(6, &[0; 12])), Skip::TooShort);
        assert_eq!(of_ip(&ipv4(6, &[0; 12])[..25]), Skip::TooShort);
    }

    #[test]
    fn only_undecoded_links_and_tunnels_may_hide_tcp() {
        assert!(Skip::LinkType(147).may_hide_tcp());
        assert!(Skip::Encapsulation(Encap::Gre).may_hide_tcp());
        assert!(!Skip::NotTcp.may_hide_tcp() && !Skip::TooShort.may_hide_tcp());
    }
}
