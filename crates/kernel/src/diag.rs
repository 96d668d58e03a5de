//! TCP sockets as `ss -tani` sees them, through sock_diag (`NETLINK_SOCK_DIAG`).
//!
//! Unlike TCP_INFO on a descriptor, a dump also shows sockets the application has already
//! closed or lost in a crash: FIN_WAIT2, TIME_WAIT and LAST_ACK live on in the kernel only.
//! Layouts: `include/uapi/linux/inet_diag.h` and `tcp.h` (`struct tcp_info`).

use crate::netlink::{Msg, NlSocket, attrs};
use crate::{Error, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const SOCK_DESTROY: u16 = 21;
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_SKMEMINFO: u16 = 7;
/// `SK_MEMINFO_WMEM_QUEUED` in the `sk_meminfo` array (include/uapi/linux/sock_diag.h).
pub const SK_MEMINFO_WMEM_QUEUED: usize = 5;
const INET_DIAG_NOCOOKIE: u32 = !0;

/// One TCP socket of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagSocket {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub inode: u32,
    pub cookie: u64,
    pub status: DiagState,
}

/// A socket's state and queues, from sock_diag or from TCP_INFO on its descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagState {
    /// Kernel state number (`TCP_ESTABLISHED` = 1 ...).
    pub state: u8,
    /// Bytes received but not read (netstat's Recv-Q); for a listener, the accept queue.
    pub recv_q: u32,
    /// Bytes sent but not acknowledged (netstat's Send-Q); for a listener, the backlog.
    pub send_q: u32,
    /// From `struct tcp_info`, when the kernel attached it (not for TIME_WAIT and request
    /// sockets).
    pub info: Option<TcpInfo>,
    /// `sk_wmem_queued`: bytes the send and retransmit queues really hold (with skb
    /// overhead). Send-Q is sequence arithmetic (`write_seq - snd_una`) and keeps its value
    /// after tcp_reset() or tcp_done() purged the queue; this does not. None for TIME_WAIT and
    /// request sockets.
    pub wmem_queued: Option<u32>,
}

/// The parts of `struct tcp_info` the lab shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// Consecutive retransmissions of the current segment (`tcpi_retransmits`).
    pub retransmits: u8,
    pub backoff: u8,
    pub rto_us: u32,
    /// Segments sent and not acknowledged (`tcpi_unacked`).
    pub unacked: u32,
    /// All retransmissions over the connection's life (`tcpi_total_retrans`).
    pub total_retrans: u32,
}

fn req(family: u8, states: u32, id: Option<(&SocketAddr, &SocketAddr, u64)>) -> Vec<u8> {
    let mut b = vec![0u8; 56];
    b[0] = family;
    b[1] = libc::IPPROTO_TCP as u8;
    b[2] = (1 << (INET_DIAG_INFO - 1)) | (1 << (INET_DIAG_SKMEMINFO - 1));
    b[4..8].copy_from_slice(&states.to_ne_bytes());
    let id_off = 8;
    match id {
        Some((local, remote, cookie)) => {
            b[id_off..id_off + 2].copy_from_slice(&local.port().to_be_bytes());
            b[id_off + 2..id_off + 4].copy_from_slice(&remote.port().to_be_bytes());
            put_addr(&mut b[id_off + 4..id_off + 20], local.ip());
            put_addr(&mut b[id_off + 20..id_off + 36], remote.ip());
            b[id_off + 40..id_off + 44].copy_from_slice(&(cookie as u32).to_ne_bytes());
            b[id_off + 44..id_off + 48].copy_from_slice(&((cookie >> 32) as u32).to_ne_bytes());
        }
        None => {
            b[id_off + 40..id_off + 44].copy_from_slice(&INET_DIAG_NOCOOKIE.to_ne_bytes());
            b[id_off + 44..id_off + 48].copy_from_slice(&INET_DIAG_NOCOOKIE.to_ne_bytes());
        }
    }
    b
}

fn put_addr(dst: &mut [u8], ip: IpAddr) {
    match ip {
        IpAddr::V4(v) => dst[..4].copy_from_slice(&v.octets()),
        IpAddr::V6(v) => dst.copy_from_slice(&v.octets()),
    }
}

fn addr(family: u8, b: &[u8], port: u16) -> SocketAddr {
    let ip = if family == libc::AF_INET as u8 {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    } else {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[..16]);
        IpAddr::V6(Ipv6Addr::from(o))
    };
    SocketAddr::new(ip, port)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

fn parse(msg: &[u8]) -> Option<DiagSocket> {
    // struct inet_diag_msg: family, state, timer, retrans, id (48), expires, rqueue, wqueue,
    // uid, inode = 72 bytes.
    if msg.len() < 72 {
        return None;
    }
    let family = msg[0];
    let sport = u16::from_be_bytes([msg[4], msg[5]]);
    let dport = u16::from_be_bytes([msg[6], msg[7]]);
    let cookie = u64::from(u32_at(msg, 44)) | (u64::from(u32_at(msg, 48)) << 32);
    let info = attrs(&msg[72..])
        .find(|(ty, _)| *ty == INET_DIAG_INFO)
        .and_then(|(_, d)| {
            (d.len() >= 104).then(|| TcpInfo {
                retransmits: d[2],
                backoff: d[4],
                rto_us: u32_at(d, 8),
                unacked: u32_at(d, 24),
                total_retrans: u32_at(d, 100),
            })
        });
    let wmem_queued = attrs(&msg[72..])
        .find(|(ty, _)| *ty == INET_DIAG_SKMEMINFO)
        .and_then(|(_, d)| {
            let o = SK_MEMINFO_WMEM_QUEUED * 4;
            (d.len() >= o + 4).then(|| u32_at(d, o))
        });
    Some(DiagSocket {
        local: addr(family, &msg[8..24], sport),
        remote: addr(family, &msg[24..40], dport),
        inode: u32_at(msg, 68),
        cookie,
        status: DiagState {
            state: msg[1],
            recv_q: u32_at(msg, 56),
            send_q: u32_at(msg, 60),
            info,
            wmem_queued,
        },
    })
}

/// A sock_diag socket of the calling thread's namespace.
pub struct Diag(NlSocket);

impl Diag {
    pub fn open() -> Result<Diag> {
        Ok(Diag(NlSocket::open(libc::NETLINK_SOCK_DIAG)?))
    }

    /// Every TCP socket of the namespace, IPv4 and IPv6, in every state.
    pub fn tcp_sockets(&mut self) -> Result<Vec<DiagSocket>> {
        self.tcp_sockets_in(!0)
    }

    /// The TCP sockets of the namespace that are connecting, connected or closing: neither
    /// listening nor bound-inactive. Far cheaper to dump: listeners are looked for in the
    /// listening hash and bound-inactive sockets in the bind hash (inet_diag's
    /// TCPF_BOUND_INACTIVE walk, Linux 6.8+), both shared by every namespace and walked bucket
    /// by bucket, while connections are in a table that can be the namespace's own
    /// (NetNs::new_with_own_tables).
    pub fn tcp_connections(&mut self) -> Result<Vec<DiagSocket>> {
        // include/net/tcp_states.h: TCP_LISTEN 10, TCP_BOUND_INACTIVE 13; a bit per state.
        self.tcp_sockets_in(!(1 << 10 | 1 << 13))
    }

    /// The listening TCP sockets of the namespace (the listening hash only).
    pub fn tcp_listeners(&mut self) -> Result<Vec<DiagSocket>> {
        self.tcp_sockets_in(1 << 10)
    }

    fn tcp_sockets_in(&mut self, states: u32) -> Result<Vec<DiagSocket>> {
        let mut out = Vec::new();
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            let mut m = Msg::new(SOCK_DIAG_BY_FAMILY, libc::NLM_F_DUMP as u16);
            m.bytes(&req(family, states, None));
            for payload in self.0.dump(m, "sock_diag dump")? {
                out.extend(parse(&payload));
            }
        }
        Ok(out)
    }

    /// The TCP socket with exactly this local and remote address, if the namespace has one
    /// (a socket in CLOSE is unhashed and not found; TIME_WAIT and FIN_WAIT2 orphans are).
    pub fn find(&mut self, local: &SocketAddr, remote: &SocketAddr) -> Result<Option<DiagSocket>> {
        let family = if local.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        } as u8;
        let mut m = Msg::new(SOCK_DIAG_BY_FAMILY, 0);
        m.bytes(&req(
            family,
            !0,
            Some((
                local,
                remote,
                u64::from(INET_DIAG_NOCOOKIE) << 32 | u64::from(INET_DIAG_NOCOOKIE),
            )),
        ));
        match self.0.get(m, "sock_diag lookup") {
            Ok(msg) => Ok(parse(&msg)),
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Destroys a socket as `ss -K` does (SOCK_DESTROY): the kernel calls tcp_abort(), which
    /// sends a RST and reports ECONNABORTED to the socket's owner.
    pub fn destroy(&mut self, s: &DiagSocket) -> Result<()> {
        let family = if s.local.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        } as u8;
        let mut m = Msg::new(SOCK_DESTROY, libc::NLM_F_ACK as u16);
        m.bytes(&req(family, !0, Some((&s.local, &s.remote, s.cookie))));
        self.0
            .request(m, &format!("SOCK_DESTROY {} -> {}", s.local, s.remote))
            .map_err(|e| match e.errno() {
                Some(libc::EOPNOTSUPP) => Error::new(
                    e.op,
                    std::io::Error::other("SOCK_DESTROY needs CONFIG_INET_DIAG_DESTROY"),
                ),
                _ => e,
            })
    }
}
