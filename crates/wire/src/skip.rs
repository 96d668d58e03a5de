//! Why a frame gave no TCP segment. A decoder that skips a frame names the reason, so a
//! capture whose TCP sits somewhere the decoder does not look (a tunnel, a link type it does
//! not know) is reported as such, never as a capture without TCP.
//!
//! Each reason is "not decoded here", not a verdict on the frame: decoding more (a new link
//! type, a tunnel) makes a reason stop being produced; nothing else has to change.

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
    /// An IPv4 header whose checksum is wrong: Zeek's IP layer drops the packet
    /// (`bad_IP_checksum`) before TCP sees it; `-C` keeps it.
    IpChecksum,
    /// A tunnel's UDP datagram whose checksum is wrong: Zeek does not open it; `-C` does.
    UdpChecksum(Encap),
    /// A tunnel's own message, carrying no packet: an AYIYA heartbeat, GTP signalling or echo,
    /// a VXLAN or Geneve header alone.
    NoPacket(Encap),
    /// An IPv4 header whose total length is zero, as TCP segmentation offload leaves it on
    /// the sending host. Zeek drops such a packet without `-C` (`ip_hdr_len_zero`: its
    /// checksum is wrong too) and reads its captured bytes with it; `auto` reads it when its
    /// header checksum was left to the NIC as well.
    IpLengthZero,
    /// A tunnel inside more tunnels than Zeek opens (`Tunnel::max_depth`, 2).
    TunnelDepth(Encap),
    /// An IP fragment, held until its datagram is whole: not a loss (the datagram comes out
    /// with its last fragment).
    Fragment,
}

/// Tunnels and encapsulations, named when one of their packets is not opened: Zeek refuses
/// its payload (a violation, after which that UDP flow is given up), it carries what Zeek
/// does not decode there, or it is nested too deep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Encap {
    /// An MPLS payload that is not IP (an Ethernet pseudowire).
    MplsPseudowire,
    /// Protected (encrypted) 802.11 data.
    Protected80211,
    /// GRE (IP protocol 47, or UDP port 4754), ERSPAN included.
    Gre,
    /// IP in IP (IP protocols 4 and 41: IPv4 or IPv6 inside).
    IpInIp,
    /// VXLAN (UDP port 4789).
    Vxlan,
    /// Geneve (UDP port 6081).
    Geneve,
    /// Teredo (UDP port 3544, or found by its protocol detection).
    Teredo,
    /// GTPv1 (UDP ports 2152 and 2123).
    Gtp,
    /// AYIYA (UDP port 5072, or found by its protocol detection).
    Ayiya,
}

impl Encap {
    pub fn name(self) -> &'static str {
        match self {
            Encap::MplsPseudowire => "an MPLS pseudowire",
            Encap::Protected80211 => "protected 802.11",
            Encap::Gre => "GRE",
            Encap::IpInIp => "IP in IP",
            Encap::Vxlan => "VXLAN",
            Encap::Geneve => "Geneve",
            Encap::Teredo => "Teredo",
            Encap::Gtp => "GTPv1",
            Encap::Ayiya => "AYIYA",
        }
    }
}

impl Skip {
    /// Whether frames skipped for this reason may hold TCP that the capture's report would
    /// otherwise leave out: a link type or an encapsulation not decoded. Frames that are not
    /// IP, not TCP, or broken hold none.
    pub fn may_hide_tcp(self) -> bool {
        matches!(
            self,
            Skip::LinkType(_)
                | Skip::Encapsulation(_)
                | Skip::IpChecksum
                | Skip::IpLengthZero
                | Skip::UdpChecksum(_)
                | Skip::TunnelDepth(_)
        )
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
            Skip::IpChecksum => f.write_str("bad IPv4 header checksum (dropped, as Zeek does)"),
            Skip::UdpChecksum(e) => {
                write!(
                    f,
                    "inside {} with a bad UDP checksum (not opened)",
                    e.name()
                )
            }
            Skip::NoPacket(e) => write!(
                f,
                "{} messages without a packet (heartbeat, signalling)",
                e.name()
            ),
            Skip::IpLengthZero => f.write_str(
                "IPv4 length zero (segmentation offload; dropped, as Zeek does without -C)",
            ),
            Skip::TunnelDepth(e) => write!(f, "inside {} deeper than 2 tunnels", e.name()),
            Skip::Fragment => f.write_str("an IP fragment (reassembled with the others)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_undecoded_links_and_tunnels_may_hide_tcp() {
        assert!(Skip::LinkType(147).may_hide_tcp());
        assert!(Skip::Encapsulation(Encap::Gre).may_hide_tcp());
        assert!(Skip::IpChecksum.may_hide_tcp() && Skip::TunnelDepth(Encap::Vxlan).may_hide_tcp());
        assert!(!Skip::NotTcp.may_hide_tcp() && !Skip::TooShort.may_hide_tcp());
        assert!(!Skip::NoPacket(Encap::Ayiya).may_hide_tcp() && Skip::IpLengthZero.may_hide_tcp());
    }
}
