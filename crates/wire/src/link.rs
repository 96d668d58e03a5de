//! From a captured frame to its IP packet, for the link types captures carry: Ethernet (with
//! stacked 802.1Q/QinQ tags and MPLS labels), Linux cooked v1 and v2, raw IPv4/IPv6, and BSD
//! loopback (null and loop). Pure slicing; anything else gives the reason it was skipped
//! ([`Skip`]).

use crate::skip::{Encap, Skip};

/// LINKTYPE_* values (tcpdump.org/linktypes.html).
pub mod linktype {
    pub const NULL: u16 = 0;
    pub const ETHERNET: u16 = 1;
    pub const RAW: u16 = 101;
    pub const LOOP: u16 = 108;
    pub const LINUX_SLL: u16 = 113;
    pub const IPV4: u16 = 228;
    pub const IPV6: u16 = 229;
    pub const LINUX_SLL2: u16 = 276;
    /// DLT_RAW as some systems number it in pcap files.
    pub const RAW_ALT: [u16; 2] = [12, 14];
}

/// Whether a link type is one this module understands.
pub fn supported(lt: u16) -> bool {
    use linktype::*;
    matches!(
        lt,
        NULL | ETHERNET | RAW | LOOP | LINUX_SLL | IPV4 | IPV6 | LINUX_SLL2
    ) || RAW_ALT.contains(&lt)
}

/// The IP packet inside a frame of link type `lt`, or why there is none.
pub fn ip_packet(lt: u16, frame: &[u8]) -> Result<&[u8], Skip> {
    use linktype::*;
    let short = Skip::TooShort;
    match lt {
        ETHERNET => {
            let ethertype =
                u16::from_be_bytes([*frame.get(12).ok_or(short)?, *frame.get(13).ok_or(short)?]);
            after_ethertype(ethertype, frame.get(14..).ok_or(short)?)
        }
        LINUX_SLL => {
            let proto =
                u16::from_be_bytes([*frame.get(14).ok_or(short)?, *frame.get(15).ok_or(short)?]);
            after_ethertype(proto, frame.get(16..).ok_or(short)?)
        }
        LINUX_SLL2 => {
            let proto =
                u16::from_be_bytes([*frame.first().ok_or(short)?, *frame.get(1).ok_or(short)?]);
            after_ethertype(proto, frame.get(20..).ok_or(short)?)
        }
        NULL | LOOP => {
            let fam = frame.get(0..4).ok_or(short)?;
            let (le, be) = (
                u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]),
                u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]),
            );
            // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD/OpenBSD), 28
            // (FreeBSD), 30 (macOS). The null header is in the capturing host's byte order.
            let v = if lt == LOOP {
                be
            } else if le < 256 {
                le
            } else {
                be
            };
            match v {
                2 | 10 | 24 | 28 | 30 => raw_ip(frame.get(4..).ok_or(short)?),
                _ => Err(Skip::NotIp),
            }
        }
        RAW | IPV4 | IPV6 => raw_ip(frame),
        x if RAW_ALT.contains(&x) => raw_ip(frame),
        _ => Err(Skip::LinkType(lt)),
    }
}

fn raw_ip(p: &[u8]) -> Result<&[u8], Skip> {
    match p.first().map(|b| b >> 4) {
        Some(4 | 6) => Ok(p),
        Some(_) => Err(Skip::Malformed),
        None => Err(Skip::TooShort),
    }
}

fn after_ethertype(mut ethertype: u16, mut rest: &[u8]) -> Result<&[u8], Skip> {
    let short = Skip::TooShort;
    // At most a few tags: more is a loop in a hostile frame.
    for _ in 0..8 {
        match ethertype {
            0x0800 | 0x86DD => return raw_ip(rest),
            // 802.1Q, 802.1ad (QinQ) and the old 0x9100: 2 bytes of tag, then the next type.
            0x8100 | 0x88A8 | 0x9100 => {
                ethertype =
                    u16::from_be_bytes([*rest.get(2).ok_or(short)?, *rest.get(3).ok_or(short)?]);
                rest = rest.get(4..).ok_or(short)?;
            }
            // MPLS: 4-byte labels until the bottom-of-stack bit; IP guessed from the version.
            0x8847 | 0x8848 => {
                loop {
                    let bottom = rest.get(2).ok_or(short)? & 1 == 1;
                    rest = rest.get(4..).ok_or(short)?;
                    if bottom {
                        break;
                    }
                }
                return match rest.first().map(|b| b >> 4) {
                    Some(4 | 6) => Ok(rest),
                    Some(_) => Err(Skip::Encapsulation(Encap::MplsPseudowire)),
                    None => Err(short),
                };
            }
            0x8863 | 0x8864 => return Err(Skip::Encapsulation(Encap::Pppoe)),
            0x88E7 => return Err(Skip::Encapsulation(Encap::Pbb)),
            _ => return Err(Skip::NotIp),
        }
    }
    Err(Skip::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: [u8; 20] = [
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend(ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn every_link_type_reaches_the_ip_header() {
        use linktype::*;
        assert_eq!(ip_packet(ETHERNET, &eth(0x0800, &IP)), Ok(&IP[..]));
        // QinQ: two tags.
        let mut tags = vec![0, 10, 0x81, 0x00, 0, 20, 0x08, 0x00];
        tags.extend(IP);
        assert_eq!(ip_packet(ETHERNET, &eth(0x88A8, &tags)), Ok(&IP[..]));
        // MPLS: two labels, the second at the bottom of the stack.
        let mut mpls = vec![0, 0, 0x10, 64, 0, 0, 0x21, 64];
        mpls.extend(IP);
        assert_eq!(ip_packet(ETHERNET, &eth(0x8847, &mpls)), Ok(&IP[..]));
        let mut sll = vec![0u8; 14];
        sll.extend([0x08, 0x00]);
        sll.extend(IP);
        assert_eq!(ip_packet(LINUX_SLL, &sll), Ok(&IP[..]));
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend([0u8; 18]);
        sll2.extend(IP);
        assert_eq!(ip_packet(LINUX_SLL2, &sll2), Ok(&IP[..]));
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend(IP);
        assert_eq!(ip_packet(NULL, &null), Ok(&IP[..]));
        let mut lo = 30u32.to_be_bytes().to_vec();
        lo.extend([0x60, 0, 0, 0]);
        assert_eq!(ip_packet(LOOP, &lo).map(|p| p[0]), Ok(0x60));
        assert_eq!(ip_packet(RAW, &IP), Ok(&IP[..]));
        assert_eq!(ip_packet(12, &IP), Ok(&IP[..]));
    }

    #[test]
    fn junk_gives_the_reason_it_was_skipped() {
        assert_eq!(ip_packet(linktype::ETHERNET, &[]), Err(Skip::TooShort));
        assert_eq!(
            ip_packet(linktype::ETHERNET, &eth(0x0806, &IP)),
            Err(Skip::NotIp),
            "ARP"
        );
        assert_eq!(
            ip_packet(linktype::ETHERNET, &eth(0x8847, &[0, 0, 0, 64])),
            Err(Skip::TooShort)
        );
        // An Ethernet pseudowire: the MPLS payload is an Ethernet frame.
        assert_eq!(
            ip_packet(linktype::ETHERNET, &eth(0x8847, &[0, 0, 1, 64, 0, 1, 2, 3])),
            Err(Skip::Encapsulation(Encap::MplsPseudowire))
        );
        assert_eq!(
            ip_packet(linktype::ETHERNET, &eth(0x8864, &IP)),
            Err(Skip::Encapsulation(Encap::Pppoe))
        );
        assert_eq!(ip_packet(linktype::RAW, &[0x25; 20]), Err(Skip::Malformed));
        // A frame of nothing but VLAN tags ends, it does not loop.
        let tags: Vec<u8> = std::iter::repeat_n([0, 1, 0x81, 0x00], 100)
            .flatten()
            .collect();
        assert_eq!(
            ip_packet(linktype::ETHERNET, &eth(0x8100, &tags)),
            Err(Skip::Malformed)
        );
        assert_eq!(ip_packet(999, &IP), Err(Skip::LinkType(999)));
        assert!(!supported(999) && supported(linktype::LINUX_SLL2));
    }
}
