//! The records of the lab's BPF call tracer (`crates/kernel/bpf/calls.h`, `struct tc_call`):
//! one per call, written when it returned (or read from the tracer's pending map when it was
//! still blocked at the end), with the socket's ends read from the caller's descriptor table.

use super::{SOCKET_CALLS, SysCall};
use crate::bpf::{u16_at, u32_at, u64_at};
use std::net::{IpAddr, SocketAddr};

/// `sizeof(struct tc_call)`.
pub const RECORD_SIZE: usize = 104;

/// Field offsets in `struct tc_call`; `tests/bpf_layout.rs` checks them against the
/// `_Static_assert`s of `calls.h`.
pub mod off {
    pub const START_NS: usize = 0;
    pub const END_NS: usize = 8;
    pub const RET: usize = 16;
    pub const SIZE: usize = 24;
    pub const PID: usize = 32;
    pub const TID: usize = 36;
    pub const FD: usize = 40;
    pub const SPORT: usize = 44;
    pub const DPORT: usize = 46;
    pub const CALL: usize = 48;
    pub const FAMILY: usize = 49;
    pub const FLAGS: usize = 50;
    pub const SADDR: usize = 52;
    pub const DADDR: usize = 68;
    pub const COMM: usize = 84;
}

/// The call of a record: `TC_*` in `calls.h` is the call's index in [`SOCKET_CALLS`] (from 1:
/// `socket`, index 0, is not traced, the socket being read from the descriptor table).
pub fn call_name(tc: u8) -> Option<&'static str> {
    (tc >= 1)
        .then(|| SOCKET_CALLS.get(tc as usize))
        .flatten()
        .copied()
}

const F_SIZE: u8 = 0x01;
const F_ENDS: u8 = 0x02;
const F_RETURNED: u8 = 0x04;

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfCall {
    pub call: SysCall,
    /// The process (thread group).
    pub pid: i32,
    /// The socket's (local, remote) ends as the program saw them, v4-mapped IPv6 addresses as
    /// IPv4 (for accept: the accepted socket's). None for a connect that failed before the
    /// socket was bound, or a failed accept.
    pub ends: Option<(SocketAddr, SocketAddr)>,
}

/// An address of the record, v4-mapped IPv6 as IPv4.
fn addr(family: u8, b: &[u8]) -> Option<IpAddr> {
    crate::bpf::ip(family, b).map(|a| a.to_canonical())
}

/// Decodes one record; None when it is too short or names no known call.
pub fn decode(b: &[u8]) -> Option<BpfCall> {
    if b.len() < RECORD_SIZE {
        return None;
    }
    let call = call_name(b[off::CALL])?;
    let flags = b[off::FLAGS];
    let returned = flags & F_RETURNED != 0;
    let comm = &b[off::COMM..off::COMM + 16];
    let comm = String::from_utf8_lossy(&comm[..comm.iter().position(|&c| c == 0).unwrap_or(16)])
        .into_owned();
    let family = b[off::FAMILY];
    let ends = (flags & F_ENDS != 0)
        .then(|| {
            let l = addr(family, &b[off::SADDR..off::SADDR + 16])?;
            let r = addr(family, &b[off::DADDR..off::DADDR + 16])?;
            let (sport, dport) = (u16_at(b, off::SPORT), u16_at(b, off::DPORT));
            // An unbound socket (a connect refused at once) names no connection.
            (sport != 0 && dport != 0 && !r.is_unspecified())
                .then_some((SocketAddr::new(l, sport), SocketAddr::new(r, dport)))
        })
        .flatten();
    let tid = u32_at(b, off::TID) as i32;
    Some(BpfCall {
        call: SysCall {
            tid,
            comm,
            call: call.to_string(),
            fd: u32_at(b, off::FD) as i32,
            size: (flags & F_SIZE != 0).then(|| u64_at(b, off::SIZE)),
            tcp: false,
            start_ns: u64_at(b, off::START_NS),
            end_ns: returned.then(|| u64_at(b, off::END_NS)),
            ret: returned.then(|| u64_at(b, off::RET) as i64),
        },
        pid: u32_at(b, off::PID) as i32,
        ends,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(call: u8, flags: u8, family: u8, s: &[u8], d: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; RECORD_SIZE];
        b[off::START_NS..off::START_NS + 8].copy_from_slice(&5_000u64.to_ne_bytes());
        b[off::END_NS..off::END_NS + 8].copy_from_slice(&5_104u64.to_ne_bytes());
        b[off::RET..off::RET + 8].copy_from_slice(&(-104i64).to_ne_bytes());
        b[off::SIZE..off::SIZE + 8].copy_from_slice(&0x19000u64.to_ne_bytes());
        b[off::PID..off::PID + 4].copy_from_slice(&4242u32.to_ne_bytes());
        b[off::TID..off::TID + 4].copy_from_slice(&4243u32.to_ne_bytes());
        b[off::FD..off::FD + 4].copy_from_slice(&5i32.to_ne_bytes());
        b[off::SPORT..off::SPORT + 2].copy_from_slice(&40000u16.to_ne_bytes());
        b[off::DPORT..off::DPORT + 2].copy_from_slice(&8080u16.to_ne_bytes());
        b[off::CALL] = call;
        b[off::FAMILY] = family;
        b[off::FLAGS] = flags;
        b[off::SADDR..off::SADDR + s.len()].copy_from_slice(s);
        b[off::DADDR..off::DADDR + d.len()].copy_from_slice(d);
        b[off::COMM..off::COMM + 4].copy_from_slice(b"curl");
        b
    }

    #[test]
    fn a_returned_recv_on_an_ipv4_socket() {
        let c = decode(&record(5, 0x07, 2, &[198, 18, 0, 1], &[198, 18, 0, 6])).unwrap();
        assert_eq!(c.pid, 4242);
        assert_eq!(
            (
                c.call.call.as_str(),
                c.call.tid,
                c.call.fd,
                c.call.comm.as_str()
            ),
            ("recvfrom", 4243, 5, "curl")
        );
        assert_eq!(
            (c.call.size, c.call.start_ns, c.call.end_ns, c.call.ret),
            (Some(0x19000), 5_000, Some(5_104), Some(-104))
        );
        assert_eq!(
            c.ends,
            Some((
                "198.18.0.1:40000".parse().unwrap(),
                "198.18.0.6:8080".parse().unwrap()
            ))
        );
    }

    #[test]
    fn a_blocked_call_has_no_result_and_v4_mapped_addresses_read_as_ipv4() {
        let mapped = |a: [u8; 4]| {
            let mut v = [0u8; 16];
            v[10] = 0xff;
            v[11] = 0xff;
            v[12..].copy_from_slice(&a);
            v
        };
        let c = decode(&record(
            4,
            0x03,
            10,
            &mapped([198, 18, 0, 1]),
            &mapped([198, 18, 0, 6]),
        ))
        .unwrap();
        assert_eq!(
            (c.call.call.as_str(), c.call.ret, c.call.end_ns),
            ("read", None, None)
        );
        assert_eq!(c.ends.unwrap().0, "198.18.0.1:40000".parse().unwrap());
        let v6 = decode(&record(1, 0x06, 10, &[0xfd; 16], &[0xfe; 16])).unwrap();
        assert_eq!(v6.call.size, None);
        assert!(v6.ends.unwrap().1.is_ipv6());
    }

    #[test]
    fn unbound_sockets_name_no_ends_and_bad_records_are_refused() {
        let c = decode(&record(1, 0x06, 2, &[0, 0, 0, 0], &[0, 0, 0, 0])).unwrap();
        assert_eq!(c.ends, None, "daddr 0.0.0.0");
        assert!(decode(&record(0, 0x06, 2, &[], &[])).is_none(), "call 0");
        assert!(decode(&record(15, 0x06, 2, &[], &[])).is_none(), "call 15");
        assert!(decode(&[0u8; 50]).is_none());
        assert_eq!(call_name(12), Some("sendfile64"));
        assert_eq!(call_name(14), Some("close"));
    }
}
