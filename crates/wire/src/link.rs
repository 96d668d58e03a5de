//! From a captured frame to the IP packets in it, layer by layer as Zeek's packet analysis
//! does (`src/packet_analysis/protocol/*` and the dispatch tables of
//! `scripts/base/packet-protocols/*/main.zeek`): Ethernet (Cisco FabricPath, 802.2 LLC/SNAP,
//! 802.1Q/QinQ, MPLS, PBB, VN-Tag, PPPoE), FDDI, PPP, PPP serial, NFLOG, 802.11 (and
//! radiotap), Linux cooked v1 and v2, raw IPv4/IPv6 and BSD loopback. Each layer accepts only
//! the next protocols Zeek's table for that layer names, so an inner type Zeek does not decode
//! is not decoded here either. Pure slicing; tunnels above IP are `crate::dissect`'s. A frame
//! that gives no IP packet says why ([`Skip`]).

use crate::skip::{Encap, Skip};

/// LINKTYPE_* values (tcpdump.org/linktypes.html).
pub mod linktype {
    pub const NULL: u16 = 0;
    pub const ETHERNET: u16 = 1;
    pub const PPP: u16 = 9;
    pub const FDDI: u16 = 10;
    pub const PPP_SERIAL: u16 = 50;
    pub const RAW: u16 = 101;
    pub const IEEE802_11: u16 = 105;
    pub const LOOP: u16 = 108;
    pub const LINUX_SLL: u16 = 113;
    pub const IEEE802_11_RADIOTAP: u16 = 127;
    pub const IPV4: u16 = 228;
    pub const IPV6: u16 = 229;
    pub const NFLOG: u16 = 239;
    pub const LINUX_SLL2: u16 = 276;
    /// DLT_RAW as some systems number it in pcap files.
    pub const RAW_ALT: [u16; 2] = [12, 14];
}

/// Whether a link type is one this module understands.
pub fn supported(lt: u16) -> bool {
    use linktype::*;
    matches!(
        lt,
        NULL | ETHERNET
            | PPP
            | FDDI
            | PPP_SERIAL
            | RAW
            | IEEE802_11
            | LOOP
            | LINUX_SLL
            | IEEE802_11_RADIOTAP
            | IPV4
            | IPV6
            | NFLOG
            | LINUX_SLL2
    ) || RAW_ALT.contains(&lt)
}

/// Where the next header is looked up: each of Zeek's analyzers has its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Ethernet,
    Vlan,
    Snap,
    VnTag,
    PppOE,
    Ppp,
    Wlan,
    Sll,
}

/// The IP packet inside a frame of link type `lt` (the first, for an 802.11 A-MSDU), or why
/// there is none.
pub fn ip_packet(lt: u16, frame: &[u8]) -> Result<&[u8], Skip> {
    let mut first = None;
    ip_packets(lt, frame, &mut |ip| {
        first.get_or_insert(ip);
    })?;
    first.ok_or(Skip::TooShort)
}

/// Calls `out` with each IP packet inside a frame of link type `lt` (several only for an
/// 802.11 A-MSDU). The slices point into `frame`, so their offset in it is the bytes of link
/// headers before them. `Err` when there was none, and why.
pub fn ip_packets<'a>(lt: u16, frame: &'a [u8], out: &mut dyn FnMut(&'a [u8])) -> Result<(), Skip> {
    let mut s = Sink { out, hops: 0 };
    link(lt, frame, &mut s)
}

/// Layers met so far: a hostile frame of nested tags ends here, not in a stack overflow.
struct Sink<'s, 'a> {
    out: &'s mut dyn FnMut(&'a [u8]),
    hops: u8,
}

fn link<'a>(lt: u16, frame: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    use linktype::*;
    match lt {
        ETHERNET => ethernet(frame, out),
        // FDDI.cc: the 13-byte FDDI header and an 8-byte LLC/SNAP header are skipped, and
        // what follows is taken for IP.
        FDDI => {
            if frame.len() <= 21 {
                return Err(Skip::TooShort);
            }
            raw_ip(&frame[21..], out)
        }
        // PPP.cc: HDLC-like framing (ff 03) before the protocol, or none.
        PPP => {
            if frame.len() <= 2 {
                return Err(Skip::TooShort);
            }
            if frame[..2] == [0xff, 0x03] {
                if frame.len() <= 4 {
                    return Err(Skip::TooShort);
                }
                next(Table::Ppp, be16(frame, 2), &frame[4..], out)
            } else {
                next(Table::Ppp, be16(frame, 0), &frame[2..], out)
            }
        }
        // PPPSerial.cc: address, control, then the protocol.
        PPP_SERIAL => {
            if frame.len() <= 4 {
                return Err(Skip::TooShort);
            }
            next(Table::Ppp, be16(frame, 2), &frame[4..], out)
        }
        NFLOG => nflog(frame, out),
        IEEE802_11 => wlan(frame, out),
        // IEEE802_11_Radio.cc: the radiotap header's length is little-endian at offset 2.
        IEEE802_11_RADIOTAP => {
            if frame.len() <= 3 {
                return Err(Skip::TooShort);
            }
            let n = usize::from(u16::from_le_bytes([frame[2], frame[3]]));
            if n >= frame.len() {
                return Err(Skip::TooShort);
            }
            wlan(&frame[n..], out)
        }
        LINUX_SLL => {
            let rest = frame.get(16..).ok_or(Skip::TooShort)?;
            next(Table::Sll, be16(frame, 14), rest, out)
        }
        LINUX_SLL2 => {
            let rest = frame.get(20..).ok_or(Skip::TooShort)?;
            next(Table::Sll, be16(frame, 0), rest, out)
        }
        NULL | LOOP => {
            let fam = frame.get(0..4).ok_or(Skip::TooShort)?;
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
                2 | 10 | 24 | 28 | 30 => raw_ip(&frame[4..], out),
                _ => Err(Skip::NotIp),
            }
        }
        RAW | IPV4 | IPV6 => raw_ip(frame, out),
        x if RAW_ALT.contains(&x) => raw_ip(frame, out),
        _ => Err(Skip::LinkType(lt)),
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Zeek's IP analyzer takes what it is given; its version check is `crate::dissect`'s.
fn raw_ip<'a>(p: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    if p.is_empty() {
        return Err(Skip::TooShort);
    }
    (out.out)(p);
    Ok(())
}

/// An Ethernet frame (Ethernet.cc), also as VXLAN, Geneve, GRE, ERSPAN and PBB carry it.
fn ethernet<'a>(frame: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    if frame.len() <= 16 {
        return Err(Skip::TooShort);
    }
    let mut f = frame;
    // Cisco FabricPath: its 16-byte header stands before the inner Ethernet header.
    if be16(f, 12) == 0x8903 {
        if f.len() <= 30 {
            return Err(Skip::TooShort);
        }
        f = &f[16..];
    }
    let ty = be16(f, 12);
    if ty >= 1536 {
        return next(Table::Ethernet, ty, &f[14..], out);
    }
    if ty <= 1500 {
        // An 802.3 length, then 802.2 LLC (with SNAP, or Novell's raw 802.3).
        let rest = &f[14..];
        if rest.len() < usize::from(ty) {
            return Err(Skip::TooShort);
        }
        return llc(rest, out);
    }
    // Neither a type nor a length (Zeek's undefined_ether_type).
    Err(Skip::Malformed)
}

/// After an 802.3 length field: SNAP, Novell raw 802.3 or plain LLC (Ethernet.cc, VLAN.cc).
fn llc<'a>(rest: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    match rest {
        [0xAA, 0xAA, ..] => snap(rest, out),
        // Novell raw 802.3 is IPX; plain LLC dispatches on the DSAP, and Zeek's LLC table
        // (llc/main.zeek) is empty.
        _ if rest.len() >= 2 => Err(Skip::NotIp),
        _ => Err(Skip::TooShort),
    }
}

/// SNAP.cc: an LLC header (3 bytes, 4 when the control field is not an unnumbered PDU),
/// then OUI and type; only OUI 0 carries an ethertype.
fn snap<'a>(rest: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    if rest.len() < 3 {
        return Err(Skip::TooShort);
    }
    let llc_len = if rest[2] & 0x03 == 0x03 { 3 } else { 4 };
    if rest.len() < llc_len + 5 {
        return Err(Skip::TooShort);
    }
    let s = &rest[llc_len..];
    if s[..3] != [0, 0, 0] {
        return Err(Skip::NotIp);
    }
    next(Table::Snap, be16(s, 3), &s[5..], out)
}

/// Looks `ty` up in the table of the layer it came from and decodes what it names.
fn next<'a>(table: Table, ty: u16, rest: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    use Table::*;
    out.hops += 1;
    if out.hops > 32 {
        return Err(Skip::Malformed);
    }
    let ip = matches!(ty, 0x0800 | 0x86DD);
    let arp = matches!(ty, 0x0806 | 0x8035);
    match table {
        // ethernet/main.zeek
        Ethernet => match ty {
            _ if ip => raw_ip(rest, out),
            0x8847 => mpls(rest, out),
            0x88E7 => pbb(rest, out),
            0x8100 | 0x88A8 | 0x9100 => vlan(rest, out),
            0x8864 => pppoe(rest, out),
            0x8926 => vntag(rest, out),
            _ if arp => Err(Skip::NotIp),
            _ => Err(Skip::NotIp),
        },
        // vlan/main.zeek: inside a tag, only 0x8100 is another tag.
        Vlan => match ty {
            _ if ip => raw_ip(rest, out),
            0x8847 => mpls(rest, out),
            0x88E7 => pbb(rest, out),
            0x8100 => vlan(rest, out),
            0x8864 => pppoe(rest, out),
            _ if arp => Err(Skip::NotIp),
            _ => Err(Skip::NotIp),
        },
        // snap/main.zeek, ieee802_11/main.zeek, linux_sll/main.zeek
        Snap | Wlan | Sll => match ty {
            _ if ip => raw_ip(rest, out),
            _ if arp => Err(Skip::NotIp),
            _ => Err(Skip::NotIp),
        },
        // vntag/main.zeek: only VLAN tags follow a VN-Tag.
        VnTag => match ty {
            0x8100 | 0x88A8 | 0x9100 => vlan(rest, out),
            _ => Err(Skip::NotIp),
        },
        // pppoe/main.zeek: PPP's IPv4 and IPv6 protocol numbers.
        PppOE => match ty {
            0x0021 | 0x0057 => raw_ip(rest, out),
            _ => Err(Skip::NotIp),
        },
        // ppp/main.zeek, ppp_serial/main.zeek
        Ppp => match ty {
            0x0021 | 0x0057 => raw_ip(rest, out),
            0x0281 => mpls(rest, out),
            _ => Err(Skip::NotIp),
        },
    }
}

/// VLAN.cc: a 4-byte tag whose last 2 bytes are the next type, or an 802.3 length.
fn vlan<'a>(rest: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    if rest.len() <= 4 {
        return Err(Skip::TooShort);
    }
    let ty = be16(rest, 2);
    if ty >= 1536 {
        return next(Table::Vlan, ty, &rest[4..], out);
    }
    if ty <= 1500 {
        let r = &rest[4..];
        // The 802.3 length trims trailing bytes.
        let r = &r[..r.len().min(usize::from(ty))];
        return llc(r, out);
    }
    Err(Skip::Malformed)
}

/// MPLS.cc: labels until the bottom of the stack, then IP (RFC 3032 does not say which).
fn mpls<'a>(mut rest: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    loop {
        if rest.len() <= 4 {
            return Err(Skip::TooShort);
        }
        let bottom = rest[2] & 1 == 1;
        rest = &rest[4..];
        if bottom {
            // IP by its version (RFC 3032 does not say); an Ethernet pseudowire is not
            // decoded, by Zeek either.
            return match rest[0] >> 4 {
                4 | 6 => raw_ip(rest, out),
                _ => Err(Skip::Encapsulation(Encap::MplsPseudowire)),
            };
        }
    }
}

/// PBB.cc: the 4-byte I-TAG, then the customer's Ethernet frame.
fn pbb<'a>(rest: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    if rest.len() <= 18 {
        return Err(Skip::TooShort);
    }
    ethernet(&rest[4..], out)
}

/// PPPoE.cc: the 6-byte session header and PPP's 2-byte protocol.
fn pppoe<'a>(rest: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    if rest.len() <= 8 {
        return Err(Skip::TooShort);
    }
    next(Table::PppOE, be16(rest, 6), &rest[8..], out)
}

/// VNTag.cc: 6 bytes whose last 2 are the next type.
fn vntag<'a>(rest: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    if rest.len() <= 6 {
        return Err(Skip::TooShort);
    }
    next(Table::VnTag, be16(rest, 4), &rest[6..], out)
}

/// NFLog.cc (LINKTYPE_NFLOG): family, version 0, resource id, then TLVs until the packet
/// payload (type 9). TLV lengths and types are in the capturing host's byte order, which
/// libpcap makes the reader's; little-endian hosts write nearly all such files.
fn nflog<'a>(frame: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    if frame.len() <= 4 {
        return Err(Skip::TooShort);
    }
    let family = frame[0];
    if frame[1] != 0 {
        return Err(Skip::NotIp);
    }
    let mut rest = &frame[4..];
    loop {
        if rest.len() <= 4 {
            return Err(Skip::TooShort);
        }
        let tlv_len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let tlv_type = u16::from_le_bytes([rest[2], rest[3]]);
        if tlv_type == 9 {
            rest = &rest[4..];
            break;
        }
        if tlv_len < 4 {
            return Err(Skip::TooShort);
        }
        // TLVs are padded to 32 bits; the padding may not be in the length.
        let padded = (tlv_len + 3) & !3;
        rest = rest.get(padded..).ok_or(Skip::TooShort)?;
    }
    // nflog/main.zeek: AF_INET and AF_INET6.
    match family {
        2 | 10 => raw_ip(rest, out),
        _ => Err(Skip::NotIp),
    }
}

/// IEEE802_11.cc: data frames only, the 4th address when both DS bits are set, the QoS
/// field, A-MSDU subframes; each payload must be LLC/SNAP with OUI 0 (`HandleInnerPacket`).
fn wlan<'a>(f: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    let mut hdr = 24;
    if hdr >= f.len() {
        return Err(Skip::TooShort);
    }
    let fc = f[0];
    // Not a data frame, or a data subtype without data (null function).
    if (fc >> 2) & 0x02 == 0 || (fc >> 4) & 0x04 != 0 {
        return Err(Skip::NotIp);
    }
    if f[1] & 0x03 == 0x03 {
        hdr += 6;
    }
    if hdr >= f.len() {
        return Err(Skip::TooShort);
    }
    let mut amsdu = false;
    if (fc >> 4) & 0x08 != 0 {
        amsdu = f[hdr] & 0x80 == 0x80;
        if f[1] & 0x40 != 0 {
            return Err(Skip::Encapsulation(Encap::Protected80211));
        }
        hdr += 2;
    }
    if hdr >= f.len() {
        return Err(Skip::TooShort);
    }
    let mut rest = &f[hdr..];
    if !amsdu {
        return wlan_llc(rest, out);
    }
    let mut any = false;
    while !rest.is_empty() {
        if rest.len() < 14 {
            break;
        }
        let n = usize::from(be16(rest, 12));
        if rest.len() < n + 14 {
            break;
        }
        if wlan_llc(&rest[14..14 + n], out).is_err() {
            break;
        }
        any = true;
        rest = &rest[14 + n..];
        // Subframes but the last are padded to 4 bytes, not counted in their length.
        let pad = n % 4;
        if rest.len() >= pad {
            rest = &rest[pad..];
        }
    }
    if any { Ok(()) } else { Err(Skip::TooShort) }
}

fn wlan_llc<'a>(p: &'a [u8], out: &mut Sink<'_, 'a>) -> Result<(), Skip> {
    if p.len() < 8 {
        return Err(Skip::TooShort);
    }
    if p[..6] != [0xAA, 0xAA, 0x03, 0, 0, 0] {
        return Err(Skip::NotIp);
    }
    next(Table::Wlan, be16(p, 6), &p[8..], out)
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
        use linktype::ETHERNET;
        assert_eq!(ip_packet(ETHERNET, &[]), Err(Skip::TooShort));
        assert_eq!(
            ip_packet(ETHERNET, &eth(0x0806, &IP)),
            Err(Skip::NotIp),
            "ARP"
        );
        assert_eq!(
            ip_packet(ETHERNET, &eth(0x8847, &[0, 0, 0, 64])),
            Err(Skip::TooShort)
        );
        // An Ethernet pseudowire: the MPLS payload is an Ethernet frame.
        assert_eq!(
            ip_packet(ETHERNET, &eth(0x8847, &[0, 0, 1, 64, 0, 1, 2, 3])),
            Err(Skip::Encapsulation(Encap::MplsPseudowire))
        );
        // PPPoE discovery, and a session carrying LCP: not IP.
        assert_eq!(ip_packet(ETHERNET, &eth(0x8863, &IP)), Err(Skip::NotIp));
        let mut lcp = vec![0x11, 0, 0, 1, 0, 20, 0xc0, 0x21];
        lcp.extend(IP);
        assert_eq!(ip_packet(ETHERNET, &eth(0x8864, &lcp)), Err(Skip::NotIp));
        // A frame of nothing but VLAN tags ends, it does not loop.
        let tags: Vec<u8> = std::iter::repeat_n([0, 1, 0x81, 0x00], 100)
            .flatten()
            .collect();
        assert!(ip_packet(ETHERNET, &eth(0x8100, &tags)).is_err());
        assert_eq!(ip_packet(999, &IP), Err(Skip::LinkType(999)));
        assert!(!supported(999) && supported(linktype::LINUX_SLL2));
    }
}
