//! `/proc/net/tcp` and `tcp6` as text: the socket table `netstat` reads, parsed without I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `0100007F:1F90` (IPv4, the address as the kernel's 32-bit word in host byte order, in
/// hex) or the IPv6 form with four such words.
fn addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip, 16).ok()?.to_le_bytes(),
        )),
        32 => {
            let mut b = [0u8; 16];
            for w in 0..4 {
                let word = u32::from_str_radix(&ip[w * 8..w * 8 + 8], 16).ok()?;
                b[w * 4..w * 4 + 4].copy_from_slice(&word.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The (local, remote) addresses of the socket with this inode (column 10 of each line).
pub fn find_inode(text: &str, inode: u64) -> Option<(SocketAddr, SocketAddr)> {
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.get(9)?.parse::<u64>().ok()? != inode {
            return None;
        }
        Some((addr(f.get(1)?)?, addr(f.get(2)?)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_socket_by_inode() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 060012C6:1F90 010012C6:A2F4 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1\n";
        let (l, r) = find_inode(text, 4242).unwrap();
        assert_eq!(l.to_string(), "198.18.0.6:8080");
        assert_eq!(r.to_string(), "198.18.0.1:41716");
        assert!(find_inode(text, 1).is_none());
        let v6 = "h\n 0: 02000120000000000000000006000000:1F90 02000120000000000000000001000000:A2F4 01 0:0 0:0 0 0 0 77 1\n";
        let (l, _) = find_inode(v6, 77).unwrap();
        assert_eq!(l.to_string(), "[2001:2::6]:8080");
    }
}
