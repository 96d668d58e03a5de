//! ICMP errors that quote a TCP segment (RFC 792 destination unreachable, RFC 4443 §3.1):
//! which connection they are about, and what they say.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A destination-unreachable message, as the quoted segment's sender receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedTcp {
    /// The quoted segment's source and destination.
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub code: UnreachCode,
    /// Who sent the ICMP message (a router, or the destination host).
    pub from: IpAddr,
    /// The message's type and code numbers (ICMP 3/1 is host unreachable, ICMPv6 1/3 address
    /// unreachable).
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// The quoted segment's sequence number, when the quote is long enough (RFC 792 quotes
    /// the IP header and 8 bytes: ports and sequence number).
    pub seq: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreachCode {
    Net,
    Host,
    Port,
    /// Administratively prohibited and the rest.
    Other,
}

fn seq(tcp: &[u8]) -> Option<u32> {
    let s = tcp.get(4..8)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn ports(tcp: &[u8]) -> Option<(u16, u16)> {
    let p = tcp.get(..4)?;
    Some((
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

/// Parses a raw IP packet carrying an ICMP or ICMPv6 destination unreachable that quotes a
/// TCP segment; `None` for anything else. Only the quoted header and 8 bytes are needed.
pub fn unreachable(ip: &[u8]) -> Option<QuotedTcp> {
    match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0x0F) * 4;
            if ip.len() < ihl + 8 || ip.get(9) != Some(&1) || ihl < 20 {
                return None;
            }
            let icmp = &ip[ihl..];
            if icmp[0] != 3 {
                return None;
            }
            let code = match icmp[1] {
                0 | 6 | 9 => UnreachCode::Net,
                1 | 7 | 10 => UnreachCode::Host,
                3 => UnreachCode::Port,
                _ => UnreachCode::Other,
            };
            let q = &icmp[8..];
            let qihl = usize::from(*q.first()? & 0x0F) * 4;
            if q[0] >> 4 != 4 || qihl < 20 || q.len() < qihl + 4 || q[9] != 6 {
                return None;
            }
            let a =
                |b: &[u8], o: usize| IpAddr::V4(Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]));
            let (sp, dp) = ports(&q[qihl..])?;
            Some(QuotedTcp {
                src: SocketAddr::new(a(q, 12), sp),
                dst: SocketAddr::new(a(q, 16), dp),
                code,
                from: a(ip, 12),
                icmp_type: icmp[0],
                icmp_code: icmp[1],
                seq: seq(&q[qihl..]),
            })
        }
        6 => {
            // ICMPv6 straight after the fixed header; extension headers are rare here.
            if ip.len() < 48 || ip[6] != 58 {
                return None;
            }
            let icmp = &ip[40..];
            if icmp[0] != 1 {
                return None;
            }
            let code = match icmp[1] {
                0 => UnreachCode::Net,
                3 => UnreachCode::Host,
                4 => UnreachCode::Port,
                _ => UnreachCode::Other,
            };
            let q = &icmp[8..];
            if q.len() < 44 || q[0] >> 4 != 6 || q[6] != 6 {
                return None;
            }
            let a = |p: &[u8], o: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&p[o..o + 16]);
                IpAddr::V6(Ipv6Addr::from(b))
            };
            let (sp, dp) = ports(&q[40..])?;
            Some(QuotedTcp {
                src: SocketAddr::new(a(q, 8), sp),
                dst: SocketAddr::new(a(q, 24), dp),
                code,
                from: a(ip, 8),
                icmp_type: icmp[0],
                icmp_code: icmp[1],
                seq: seq(&q[40..]),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_quoted_tuple_and_refuses_garbage() {
        let mut p = vec![
            0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ];
        p.extend([3, 1, 0, 0, 0, 0, 0, 0]);
        p.extend([
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 2, 198, 18, 0, 9,
        ]);
        p.extend([0x9c, 0x40, 0, 80, 0, 0, 0, 1]);
        let q = unreachable(&p).unwrap();
        assert_eq!(q.src.to_string(), "198.18.0.2:40000");
        assert_eq!(q.dst.to_string(), "198.18.0.9:80");
        assert_eq!(q.code, UnreachCode::Host);
        assert_eq!(q.from.to_string(), "198.18.0.1");
        assert_eq!((q.icmp_type, q.icmp_code, q.seq), (3, 1, Some(1)));
        for n in 0..52 {
            assert_eq!(unreachable(&p[..n]), None);
        }
        p[37] = 17;
        assert_eq!(unreachable(&p), None);
    }
}
