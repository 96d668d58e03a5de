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
    let acc = sum16(pseudo, 6 + tcp.len() as u64);
    if fold(sum16(tcp, acc)) == 0xFFFF {
        return Some(Check::Good);
    }
    let field = u16::from_be_bytes([*tcp.get(16)?, *tcp.get(17)?]);
    let partial = fold(acc);
    Some(if field == 0 || field == partial || field == !partial {
        Check::Offloaded
    } else {
        Check::Bad
    })
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
