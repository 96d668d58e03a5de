//! From a captured frame to its IP packet, for the link types captures carry: Ethernet (with
//! stacked 802.1Q/QinQ tags and MPLS labels), Linux cooked v1 and v2, raw IPv4/IPv6, and BSD
//! loopback (null and loop). Pure slicing; anything unknown gives `None`.

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

/// The IP packet inside a frame of link type `lt`.
pub fn ip_packet(lt: u16, frame: &[u8]) -> Option<&[u8]> {
    use linktype::*;
    match lt {
        ETHERNET => {
            let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
            after_ethertype(ethertype, frame.get(14..)?)
        }
        LINUX_SLL => {
            let proto = u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]);
            after_ethertype(proto, frame.get(16..)?)
        }
        LINUX_SLL2 => {
            let proto = u16::from_be_bytes([*frame.first()?, *frame.get(1)?]);
            after_ethertype(proto, frame.get(20..)?)
        }
        NULL | LOOP => {
            let fam = frame.get(0..4)?;
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
                2 | 10 | 24 | 28 | 30 => raw_ip(frame.get(4..)?),
                _ => None,
            }
        }
        RAW | IPV4 | IPV6 => raw_ip(frame),
        x if RAW_ALT.contains(&x) => raw_ip(frame),
        _ => None,
    }
}

fn raw_ip(p: &[u8]) -> Option<&[u8]> {
    matches!(p.first()? >> 4, 4 | 6).then_some(p)
}

fn after_ethertype(mut ethertype: u16, mut rest: &[u8]) -> Option<&[u8]> {
    // At most a few tags: more is a loop in a hostile frame.
    for _ in 0..8 {
        match ethertype {
            0x0800 | 0x86DD => return raw_ip(rest),
            // 802.1Q, 802.1ad (QinQ) and the old 0x9100: 2 bytes of tag, then the next type.
            0x8100 | 0x88A8 | 0x9100 => {
                ethertype = u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]);
                rest = rest.get(4..)?;
            }
            // MPLS: 4-byte labels until the bottom-of-stack bit; IP guessed from the version.
            0x8847 | 0x8848 => {
                loop {
                    let bottom = rest.get(2)? & 1 == 1;
                    rest = rest.get(4..)?;
                    if bottom {
                        break;
                    }
                }
                return raw_ip(rest);
            }
            _ => return None,
        }
    }
    None
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
        assert_eq!(ip_packet(ETHERNET, &eth(0x0800, &IP)), Some(&IP[..]));
        // QinQ: two tags.
        let mut tags = vec![0, 10, 0x81, 0x00, 0, 20, 0x08, 0x00];
        tags.extend(IP);
        assert_eq!(ip_packet(ETHERNET, &eth(0x88A8, &tags)), Some(&IP[..]));
        // MPLS: two labels, the second at the bottom of the stack.
        let mut mpls = vec![0, 0, 0x10, 64, 0, 0, 0x21, 64];
        mpls.extend(IP);
        assert_eq!(ip_packet(ETHERNET, &eth(0x8847, &mpls)), Some(&IP[..]));
        let mut sll = vec![0u8; 14];
        sll.extend([0x08, 0x00]);
        sll.extend(IP);
        assert_eq!(ip_packet(LINUX_SLL, &sll), Some(&IP[..]));
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend([0u8; 18]);
        sll2.extend(IP);
        assert_eq!(ip_packet(LINUX_SLL2, &sll2), Some(&IP[..]));
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend(IP);
        assert_eq!(ip_packet(NULL, &null), Some(&IP[..]));
        let mut lo = 30u32.to_be_bytes().to_vec();
        lo.extend([0x60, 0, 0, 0]);
        assert_eq!(ip_packet(LOOP, &lo).map(|p| p[0]), Some(0x60));
        assert_eq!(ip_packet(RAW, &IP), Some(&IP[..]));
        assert_eq!(ip_packet(12, &IP), Some(&IP[..]));
    }

    #[test]
    fn junk_gives_none() {
        assert_eq!(ip_packet(linktype::ETHERNET, &[]), None);
        assert_eq!(
            ip_packet(linktype::ETHERNET, &eth(0x0806, &IP)),
            None,
            "ARP"
        );
        assert_eq!(
            ip_packet(linktype::ETHERNET, &eth(0x8847, &[0, 0, 0, 64])),
            None
        );
        // A frame of nothing but VLAN tags ends, it does not loop.
        let tags: Vec<u8> = std::iter::repeat_n([0, 1, 0x81, 0x00], 100)
            .flatten()
            .collect();
        assert_eq!(ip_packet(linktype::ETHERNET, &eth(0x8100, &tags)), None);
        assert_eq!(ip_packet(999, &IP), None);
        assert!(!supported(999) && supported(linktype::LINUX_SLL2));
    }
}
