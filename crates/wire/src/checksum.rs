//! TCP checksum verification (RFC 793 §3.1, RFC 8200 §8.1 for the IPv6 pseudo-header).

/// One's-complement sum of big-endian 16-bit words, odd byte padded with zero (RFC 1071),
/// added to `acc`.
///
/// Fast on whole packets: it adds 32-bit words into 64 bits and folds at the end (RFC 1071
/// §2(C), the sum does not depend on word size), and reads them little-endian and swaps the
/// folded result (§2(B), byte-order independence), so the loop needs no byte swaps and the
/// compiler can vectorise it.
fn sum16(data: &[u8], acc: u64) -> u64 {
    let mut le = 0u64;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        le += u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 2 {
        le += u64::from(u16::from_le_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let [last] = rest {
        le += u64::from(*last);
    }
    acc + u64::from(fold(le).swap_bytes())
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// Whether the TCP checksum of a raw IP packet is right. `None` when it cannot be told: the
/// packet was cut short by the snap length (Zeek checks only whole packets), it is not
/// IPv4/IPv6, or IPv6 extension headers sit before TCP.
pub fn tcp_ok(ip: &[u8]) -> Option<bool> {
    tcp_check(ip).map(|c| c == Check::Good)
}

/// A TCP checksum as found in a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Good,
    /// Wrong, and holding what a sender that leaves the checksum to its NIC puts there: the
    /// pseudo-header's sum, not inverted (Linux's CHECKSUM_PARTIAL, `tcp_v4_send_check()`
    /// and `__tcp_v6_send_check()`), its complement, or zero. A capture taken on the sending
    /// host (or on loopback) sees the packet before the NIC fills the field in.
    Offloaded,
    /// Wrong, with any other value: corrupted, or an offloading sender that leaves garbage.
    Bad,
}

/// The TCP checksum of a raw IP packet, told apart as [`Check`]; `None` when it cannot be
/// checked (as [`tcp_ok`]).
pub fn tcp_check(ip: &[u8]) -> Option<Check> {
    let (pseudo, tcp) = match ip.first()? >> 4 {
        4 => {
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let ihl = usize::from(ip[0] & 0x0F) * 4;
            (total > ihl && ip.len() >= total).then_some(())?;
            (&ip[12..20], &ip[ihl..total])
        }
        6 => {
            let total = 40 + usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            (ip.len() >= total && ip[6] == 6).then_some(())?;
            (&ip[8..40], &ip[40..total])
        }
        _ => return None,
    };
    transport_check(pseudo, 6, tcp, 16)
}

/// A TCP or UDP checksum (`proto`, its field at `field` in `seg`) over `seg` and the
/// pseudo-header's addresses.
fn transport_check(pseudo: &[u8], proto: u8, seg: &[u8], field: usize) -> Option<Check> {
    let acc = sum16(pseudo, u64::from(proto) + seg.len() as u64);
    if fold(sum16(seg, acc)) == 0xFFFF {
        return Some(Check::Good);
    }
    let field = u16::from_be_bytes([*seg.get(field)?, *seg.get(field + 1)?]);
    let partial = fold(acc);
    Some(if field == 0 || field == partial || field == !partial {
        Check::Offloaded
    } else {
        Check::Bad
    })
}

/// Whether an IPv4 header's checksum is right (RFC 791 §3.1).
pub fn ipv4_header_ok(header: &[u8]) -> bool {
    match <&[u8; 20]>::try_from(header) {
        Ok(h) => ipv4_header20_ok(h),
        Err(_) => fold(sum16(header, 0)) == 0xFFFF,
    }
}

/// The usual header, without options: two 64-bit words and a 32-bit one, no loop, summed in
/// the host's order (RFC 1071 §2(B): all ones is all ones either way).
#[inline]
pub fn ipv4_header20_ok(h: &[u8; 20]) -> bool {
    let (a, rest) = h.split_first_chunk::<8>().unwrap_or((&[0; 8], &[]));
    let (b, c) = rest.split_first_chunk::<8>().unwrap_or((&[0; 8], &[]));
    let c: [u8; 4] = c.try_into().unwrap_or([0; 4]);
    let (a, b, c) = (
        u64::from_ne_bytes(*a),
        u64::from_ne_bytes(*b),
        u64::from(u32::from_ne_bytes(c)),
    );
    let s = (a & 0xFFFF_FFFF) + (a >> 32) + (b & 0xFFFF_FFFF) + (b >> 32) + c;
    let s = (s & 0xFFFF_FFFF) + (s >> 32);
    let s = (s & 0xFFFF) + (s >> 16);
    let s = (s & 0xFFFF) + (s >> 16);
    s == 0xFFFF
}

/// Writes an IPv4 header's checksum (RFC 791 §3.1) into its bytes 10-11.
pub fn ipv4_header_fill(header: &mut [u8]) {
    header[10..12].copy_from_slice(&[0, 0]);
    let c = !fold(sum16(header, 0));
    header[10..12].copy_from_slice(&c.to_be_bytes());
}

/// A UDP datagram's checksum (RFC 768, RFC 8200 §8.1), told apart as [`Check`], `ip` being
/// the packet it came in (for the pseudo-header's addresses) and `udp` its header and data.
pub fn udp_check(ip: &[u8], udp: &[u8]) -> Check {
    let pseudo = match ip.first().map(|b| b >> 4) {
        Some(4) if ip.len() >= 20 => &ip[12..20],
        Some(6) if ip.len() >= 40 => &ip[8..40],
        _ => return Check::Bad,
    };
    transport_check(pseudo, 17, udp, 6).unwrap_or(Check::Bad)
}

/// Whether a UDP datagram's checksum is right (see [`udp_check`]).
pub fn udp_ok(ip: &[u8], udp: &[u8]) -> bool {
    udp_check(ip, udp) == Check::Good
}

/// An IPv4 header's checksum, told apart as [`Check`]: a sender that leaves it to its NIC
/// leaves zero.
pub fn ipv4_header_check(header: &[u8]) -> Check {
    if ipv4_header_ok(header) {
        Check::Good
    } else if header.get(10..12) == Some(&[0, 0]) {
        Check::Offloaded
    } else {
        Check::Bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_ipv4_and_ipv6_and_refuses_truncated() {
        // 198.18.0.1:1 -> 198.18.0.2:2, SYN, checksum filled in below.
        let mut v4 = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, //
            0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ];
        let c = !fold(sum16(&v4[20..], sum16(&v4[12..20], 6 + 20)));
        v4[36..38].copy_from_slice(&c.to_be_bytes());
        assert_eq!(tcp_ok(&v4), Some(true));
        v4[39] ^= 1;
        assert_eq!(tcp_ok(&v4), Some(false));
        assert_eq!(tcp_ok(&v4[..30]), None);
        let mut h = v4[..20].to_vec();
        ipv4_header_fill(&mut h);
        assert!(ipv4_header_ok(&h));
        let mut with_options = h.clone();
        with_options[0] = 0x46;
        with_options.extend([1, 1, 1, 0]);
        ipv4_header_fill(&mut with_options);
        assert!(ipv4_header_ok(&with_options));
        h[8] ^= 1;
        assert!(!ipv4_header_ok(&h));

        let mut v6 = vec![0u8; 60];
        v6[0] = 0x60;
        v6[5] = 20;
        v6[6] = 6;
        v6[8..10].copy_from_slice(&[0x20, 0x01]);
        v6[24..26].copy_from_slice(&[0x20, 0x01]);
        v6[39] = 1;
        v6[40 + 12] = 0x50;
        let c = !fold(sum16(&v6[40..], sum16(&v6[8..40], 6 + 20)));
        v6[56..58].copy_from_slice(&c.to_be_bytes());
        assert_eq!(tcp_ok(&v6), Some(true));
        v6[59] = 1;
        assert_eq!(tcp_ok(&v6), Some(false));
    }

    #[test]
    fn an_offloaded_checksum_is_told_from_a_corrupt_one() {
        let mut v4 = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, //
            0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ];
        // What Linux leaves for the NIC: the folded pseudo-header sum (tcp_v4_send_check()).
        let partial = fold(sum16(&v4[12..20], 6 + 20));
        v4[36..38].copy_from_slice(&partial.to_be_bytes());
        assert_eq!(tcp_check(&v4), Some(Check::Offloaded));
        v4[36..38].copy_from_slice(&[0, 0]);
        assert_eq!(tcp_check(&v4), Some(Check::Offloaded));
        v4[36..38].copy_from_slice(&[0x12, 0x34]);
        assert_eq!(tcp_check(&v4), Some(Check::Bad));
        let good = !fold(sum16(&v4[20..36], sum16(&v4[12..20], 6 + 20)));
        v4[36..38].copy_from_slice(&good.to_be_bytes());
        assert_eq!(tcp_check(&v4), Some(Check::Good));
    }
}
