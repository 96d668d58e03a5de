//! The records of `watch`'s BPF programs (`crates/kernel/bpf/watch.h`, `struct tm_event`),
//! decoded from the ring buffer's bytes, and what their counters mean.
//!
//! The kernel's counters count sequence space, not bytes: `tcp_sock.bytes_acked` includes the
//! SYN (for the side that connected) and the FIN once acknowledged, `bytes_received` the peer's
//! FIN, `rcv_nxt - copied_seq` an unread FIN, `write_seq - snd_una` an unacknowledged SYN or
//! FIN. [`SockEnd`] takes them out, so that a client that sent 1,000 bytes reads 1,000.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tcpmortem_core::ending::Role;
use tcpmortem_core::errno::{Numbering, name_in};
use tcpmortem_core::{RstReason, TcpState};

/// `sizeof(struct tm_event)`.
pub const RECORD_SIZE: usize = 160;

/// Field offsets in `struct tm_event`; `tests/bpf_layout.rs` checks them against the
/// `_Static_assert`s of `watch.h`.
pub mod off {
    pub const TS_NS: usize = 0;
    pub const COOKIE: usize = 8;
    pub const START_NS: usize = 16;
    pub const BYTES_ACKED: usize = 24;
    pub const BYTES_RECEIVED: usize = 32;
    pub const BYTES_SENT: usize = 40;
    pub const BYTES_RETRANS: usize = 48;
    pub const NETNS: usize = 56;
    pub const PID: usize = 60;
    pub const REASON: usize = 64;
    pub const SK_ERR: usize = 68;
    pub const SK_ERR_SOFT: usize = 72;
    pub const TOTAL_RETRANS: usize = 76;
    pub const SRTT_US: usize = 80;
    pub const RCV_UNREAD: usize = 84;
    pub const SEND_Q: usize = 88;
    pub const IN_FLIGHT: usize = 92;
    pub const SPORT: usize = 96;
    pub const DPORT: usize = 98;
    pub const KIND: usize = 100;
    pub const FAMILY: usize = 101;
    pub const STATE: usize = 102;
    pub const FLAGS: usize = 103;
    pub const TCP_FLAGS: usize = 104;
    pub const NEW_STATE: usize = 105;
    pub const SADDR: usize = 108;
    pub const DADDR: usize = 124;
    pub const COMM: usize = 140;
}

const TM_END: u8 = 1;
const TM_RST: u8 = 2;
const TM_DROP: u8 = 3;
const TM_STATE: u8 = 4;
const TM_RST_IN: u8 = 5;
const TM_ERROR: u8 = 6;
const TM_LAB_RST: u8 = 7;

const F_RST_RECEIVED: u8 = 0x01;
const F_ORPHAN: u8 = 0x02;
const F_CLIENT: u8 = 0x04;
const F_SERVER: u8 = 0x08;
const F_OWNER: u8 = 0x10;
const F_FIN_RECEIVED: u8 = 0x40;
const F_SHUT_BOTH: u8 = 0x80;

/// TCP header flag bits.
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// The process that connected or accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub comm: String,
}

/// The kernel's counters on a socket when it reached TCP_CLOSE.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub bytes_retrans: u64,
    pub total_retrans: u32,
    pub srtt_us: u32,
    pub rcv_unread: u32,
    pub send_q: u32,
    pub in_flight: u32,
}

/// A socket that reached TCP_CLOSE from a connected state (`sock:inet_sock_set_state`).
#[derive(Debug, Clone, PartialEq)]
pub struct SockEnd {
    pub ts_ns: u64,
    pub cookie: u64,
    /// When watch saw it connect or be created by a listener; None if it existed before.
    pub started_ns: Option<u64>,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub netns: u32,
    pub owner: Option<Owner>,
    pub state_before: Option<TcpState>,
    /// Which side opened it, when watch saw the opening.
    pub role: Option<Role>,
    /// `tcp:tcp_receive_reset` fired on it (also fired by TCP_ABORT_ON_DATA's `tcp_reset()`).
    pub rst_received: bool,
    /// SOCK_DEAD: the application had closed it (or died) before the end.
    pub orphan: bool,
    /// SOCK_DONE: the peer's FIN had arrived.
    pub fin_received: bool,
    /// Both directions shut (`sk_shutdown == SHUTDOWN_MASK`): `__tcp_close()` sets it first
    /// thing, so an end inside close() has it (as has one after shutdown(SHUT_RDWR)).
    pub shut_both: bool,
    /// `sk_err` (what the next call returns unless the application had closed the socket).
    pub sk_err: i32,
    pub sk_err_soft: i32,
    pub counters: Counters,
}

/// A RST this host sent (`tcp:tcp_send_reset`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResetSent {
    pub ts_ns: u64,
    /// The socket's cookie; None when there was no socket (NO_SOCKET).
    pub cookie: Option<u64>,
    /// This host's end and the peer, from the socket, or from the segment being answered when
    /// there was no socket or only a listener.
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub netns: u32,
    /// The socket's state; None without a socket.
    pub state: Option<TcpState>,
    pub reason: u32,
    /// The flags of the segment the RST answers, when there is one.
    pub answered_flags: Option<u8>,
}

/// A TCP segment the kernel dropped (`skb:kfree_skb`), in the direction it travelled.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropped {
    pub ts_ns: u64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub netns: u32,
    pub reason: u32,
    pub tcp_flags: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    End(SockEnd),
    Reset(ResetSent),
    Drop(Dropped),
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default())
}

fn ip(family: u8, b: &[u8]) -> Option<IpAddr> {
    match family {
        2 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        10 => {
            let o: [u8; 16] = b[..16].try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => None,
    }
}

/// Decodes one ring-buffer record; None for a short record or an unknown kind.
pub fn decode(b: &[u8]) -> Option<Record> {
    if b.len() < RECORD_SIZE {
        return None;
    }
    let family = b[off::FAMILY];
    let saddr = ip(family, &b[off::SADDR..off::SADDR + 16]);
    let daddr = ip(family, &b[off::DADDR..off::DADDR + 16]);
    let sport = u16_at(b, off::SPORT);
    let dport = u16_at(b, off::DPORT);
    let src = saddr.map(|a| SocketAddr::new(a, sport));
    let dst = daddr.map(|a| SocketAddr::new(a, dport));
    let flags = b[off::FLAGS];
    let ts_ns = u64_at(b, off::TS_NS);
    let netns = u32_at(b, off::NETNS);
    let state = TcpState::from_number(b[off::STATE]);
    match b[off::KIND] {
        TM_END => {
            let comm = &b[off::COMM..off::COMM + 16];
            let comm = &comm[..comm.iter().position(|&c| c == 0).unwrap_or(16)];
            let started = u64_at(b, off::START_NS);
            Some(Record::End(SockEnd {
                ts_ns,
                cookie: u64_at(b, off::COOKIE),
                started_ns: (started != 0).then_some(started),
                local: src?,
                remote: dst?,
                netns,
                owner: (flags & F_OWNER != 0).then(|| Owner {
                    pid: u32_at(b, off::PID),
                    comm: String::from_utf8_lossy(comm).into_owned(),
                }),
                state_before: state,
                role: if flags & F_CLIENT != 0 {
                    Some(Role::Client)
                } else if flags & F_SERVER != 0 {
                    Some(Role::Server)
                } else {
                    None
                },
                rst_received: flags & F_RST_RECEIVED != 0,
                orphan: flags & F_ORPHAN != 0,
                fin_received: flags & F_FIN_RECEIVED != 0,
                shut_both: flags & F_SHUT_BOTH != 0,
                sk_err: u32_at(b, off::SK_ERR) as i32,
                sk_err_soft: u32_at(b, off::SK_ERR_SOFT) as i32,
                counters: Counters {
                    bytes_acked: u64_at(b, off::BYTES_ACKED),
                    bytes_received: u64_at(b, off::BYTES_RECEIVED),
                    bytes_sent: u64_at(b, off::BYTES_SENT),
                    bytes_retrans: u64_at(b, off::BYTES_RETRANS),
                    total_retrans: u32_at(b, off::TOTAL_RETRANS),
                    srtt_us: u32_at(b, off::SRTT_US),
                    rcv_unread: u32_at(b, off::RCV_UNREAD),
                    send_q: u32_at(b, off::SEND_Q),
                    in_flight: u32_at(b, off::IN_FLIGHT),
                },
            }))
        }
        TM_RST => {
            let cookie = u64_at(b, off::COOKIE);
            let tcp_flags = b[off::TCP_FLAGS];
            Some(Record::Reset(ResetSent {
                ts_ns,
                cookie: (cookie != 0).then_some(cookie),
                local: src,
                remote: dst,
                netns,
                state,
                reason: u32_at(b, off::REASON),
                answered_flags: (tcp_flags != 0).then_some(tcp_flags),
            }))
        }
        TM_DROP => Some(Record::Drop(Dropped {
            ts_ns,
            src: src?,
            dst: dst?,
            netns,
            reason: u32_at(b, off::REASON),
            tcp_flags: b[off::TCP_FLAGS],
        })),
        _ => None,
    }
}

/// Decodes one record of the lab's programs (`lab_*` in watch.bpf.c) into the event its
/// tracefs line would have given (crate::tcp_event()); None for watch's records and for what
/// tcp_event() leaves out. pid and comm stay empty: the lab does not use them.
pub fn lab_event(b: &[u8], names: &Names) -> Option<crate::TcpEvent> {
    if b.len() < RECORD_SIZE {
        return None;
    }
    let family = b[off::FAMILY];
    let addr = |o: usize, port: usize| {
        ip(family, &b[o..o + 16]).map(|a| SocketAddr::new(a, u16_at(b, port)))
    };
    let mut ev = crate::TcpEvent::new(u64_at(b, off::TS_NS), "");
    ev.local = addr(off::SADDR, off::SPORT);
    ev.remote = addr(off::DADDR, off::DPORT);
    let state = TcpState::from_number(b[off::STATE]);
    match b[off::KIND] {
        TM_STATE => {
            ev.event = "inet_sock_set_state".into();
            ev.old_state = state;
            ev.new_state = TcpState::from_number(b[off::NEW_STATE]);
        }
        TM_RST_IN => ev.event = "tcp_receive_reset".into(),
        TM_ERROR => {
            ev.event = "inet_sk_error_report".into();
            crate::error_report(&mut ev, u32_at(b, off::SK_ERR) as i32)?;
        }
        TM_LAB_RST => {
            ev.event = "tcp_send_reset".into();
            ev.state = state;
            ev.reason = Some(names.rst_reason(u32_at(b, off::REASON)));
        }
        _ => return None,
    }
    Some(ev)
}

/// Whether this host had queued its FIN: the states after close() or shutdown(SHUT_WR)
/// (`tcp_close_state()`); states only move forward, so the state before CLOSE tells.
fn fin_queued(s: Option<TcpState>) -> bool {
    matches!(
        s,
        Some(
            TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::Closing
                | TcpState::LastAck
                | TcpState::TimeWait
        )
    )
}

impl SockEnd {
    /// Our FIN, queued and not yet acknowledged (it is the last byte of sequence space, so
    /// anything unacknowledged includes it).
    fn fin_unacked(&self) -> bool {
        fin_queued(self.state_before) && self.counters.send_q > 0
    }

    /// The SYN of a connect() that never got its SYN-ACK.
    fn syn_unacked(&self) -> bool {
        self.state_before == Some(TcpState::SynSent)
    }

    /// Payload bytes the peer acknowledged (tcplife's TX, without the SYN and FIN).
    pub fn bytes_sent(&self) -> u64 {
        let c = &self.counters;
        let fin_acked = fin_queued(self.state_before) && c.send_q == 0;
        match self.role {
            // `tcp_rcv_synsent_state_process()` acknowledges the SYN through tcp_ack(); a
            // child socket starts at snt_isn + 1 (`tcp_create_openreq_child()`).
            Some(role) => {
                let syn = role == Role::Client && !self.syn_unacked();
                c.bytes_acked
                    .saturating_sub(u64::from(syn) + u64::from(fin_acked))
            }
            // Opened before watch: payload sent once (bytes_sent counts retransmissions
            // again) less the payload still in flight.
            None => {
                let fin_in_flight = self.fin_unacked() && c.send_q == c.in_flight;
                let syn_in_flight = self.syn_unacked() && c.in_flight > 0;
                let payload_in_flight = c
                    .in_flight
                    .saturating_sub(u32::from(fin_in_flight) + u32::from(syn_in_flight));
                c.bytes_sent
                    .saturating_sub(c.bytes_retrans)
                    .saturating_sub(u64::from(payload_in_flight))
            }
        }
    }

    /// Payload bytes received (tcplife's RX, without the FIN).
    pub fn bytes_received(&self) -> u64 {
        self.counters
            .bytes_received
            .saturating_sub(u64::from(self.fin_received))
    }

    /// Bytes received and never read (netstat's Recv-Q), without an unread FIN. At a
    /// TCP_ABORT_ON_CLOSE it is the data `__tcp_close()` threw away.
    pub fn unread(&self) -> u32 {
        let n = self.counters.rcv_unread;
        n.saturating_sub(u32::from(self.fin_received && n > 0))
    }

    /// Payload bytes written and not acknowledged (netstat's Send-Q), without SYN or FIN.
    pub fn unacked(&self) -> u32 {
        self.counters
            .send_q
            .saturating_sub(u32::from(self.fin_unacked()) + u32::from(self.syn_unacked()))
    }

    /// The smoothed RTT, when there was a sample.
    pub fn rtt_us(&self) -> Option<u32> {
        (self.counters.srtt_us != 0).then_some(self.counters.srtt_us)
    }

    /// `sk_err` by its Linux name.
    pub fn errno(&self) -> Option<Cow<'static, str>> {
        errno_name(self.sk_err)
    }
}

/// A Linux errno number by name ("ECONNRESET"); None for 0.
pub fn errno_name(n: i32) -> Option<Cow<'static, str>> {
    let n = n.unsigned_abs();
    (n != 0).then(|| match name_in(Numbering::LinuxErrno, n.into()) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(format!("E{n}")),
    })
}

/// The running kernel's names for the numbers the programs record.
#[derive(Debug, Clone, Default)]
pub struct Names {
    rst: HashMap<u64, String>,
    /// Leaked once, a few hundred at most: every drop names one, so no copy per drop.
    drop: HashMap<u64, &'static str>,
}

impl Names {
    /// From the kernel's BTF (`/sys/kernel/btf/vmlinux` bytes).
    pub fn from_btf(btf: &[u8]) -> Names {
        Names {
            rst: crate::btf::enum_names(btf, "sk_rst_reason", "SK_RST_REASON_").unwrap_or_default(),
            drop: crate::btf::enum_names(btf, "skb_drop_reason", "SKB_DROP_REASON_")
                .unwrap_or_default()
                .into_iter()
                .take(4096)
                .map(|(n, name)| (n, &*Box::leak(name.into_boxed_str())))
                .collect(),
        }
    }

    /// A RST reason number as this kernel names it; the table of Linux 6.18 without BTF.
    pub fn rst_reason(&self, n: u32) -> RstReason {
        match self.rst.get(&u64::from(n)) {
            Some(name) => RstReason::parse(name).unwrap_or(RstReason::Other(n)),
            None => RstReason::from_number(n),
        }
    }

    /// A drop reason number as this kernel names it (`NETFILTER_DROP`).
    pub fn drop_reason(&self, n: u32) -> Cow<'static, str> {
        match self.drop.get(&u64::from(n)) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(format!("DROP_REASON_{n}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the program writes it.
    pub(crate) fn record(kind: u8, f: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let mut b = vec![0u8; RECORD_SIZE];
        b[off::KIND] = kind;
        b[off::FAMILY] = 2;
        b[off::SADDR..off::SADDR + 4].copy_from_slice(&[198, 18, 0, 1]);
        b[off::DADDR..off::DADDR + 4].copy_from_slice(&[198, 18, 0, 2]);
        b[off::SPORT..off::SPORT + 2].copy_from_slice(&40000u16.to_le_bytes());
        b[off::DPORT..off::DPORT + 2].copy_from_slice(&8080u16.to_le_bytes());
        f(&mut b);
        b
    }

    fn put32(b: &mut [u8], o: usize, v: u32) {
        b[o..o + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn put64(b: &mut [u8], o: usize, v: u64) {
        b[o..o + 8].copy_from_slice(&v.to_le_bytes());
    }

    fn end(f: impl FnOnce(&mut [u8])) -> SockEnd {
        match decode(&record(TM_END, f)) {
            Some(Record::End(e)) => e,
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn a_client_that_sent_1000_bytes_reads_1000() {
        // Client, FIN_WAIT2 → CLOSE: SYN + 1000 + FIN acknowledged; 50 + FIN received.
        let e = end(|b| {
            b[off::STATE] = TcpState::FinWait2.number();
            b[off::FLAGS] = F_CLIENT | F_OWNER | F_FIN_RECEIVED;
            put64(b, off::BYTES_ACKED, 1002);
            put64(b, off::BYTES_RECEIVED, 51);
            put64(b, off::BYTES_SENT, 1000);
            put32(b, off::RCV_UNREAD, 1);
            put32(b, off::PID, 77);
            b[off::COMM..off::COMM + 4].copy_from_slice(b"curl");
        });
        assert_eq!(
            (e.bytes_sent(), e.bytes_received(), e.unread()),
            (1000, 50, 0)
        );
        assert_eq!(
            e.owner,
            Some(Owner {
                pid: 77,
                comm: "curl".into()
            })
        );
        assert_eq!(e.local.to_string(), "198.18.0.1:40000");
        // The same socket as if watch had started after its connect().
        let mut old = e.clone();
        old.role = None;
        assert_eq!(old.bytes_sent(), 1000);
    }

    #[test]
    fn a_server_closing_with_1234_bytes_unread() {
        let e = end(|b| {
            b[off::STATE] = TcpState::Established.number();
            b[off::FLAGS] = F_SERVER | F_OWNER;
            put64(b, off::BYTES_RECEIVED, 1234);
            put32(b, off::RCV_UNREAD, 1234);
        });
        assert_eq!(
            (e.unread(), e.bytes_received(), e.bytes_sent()),
            (1234, 1234, 0)
        );
    }

    #[test]
    fn refused_connect_and_unacked_fin() {
        let e = end(|b| {
            b[off::STATE] = TcpState::SynSent.number();
            b[off::FLAGS] = F_CLIENT | F_RST_RECEIVED;
            put32(b, off::SEND_Q, 1);
            put32(b, off::IN_FLIGHT, 1);
            put32(b, off::SK_ERR, 111);
        });
        assert_eq!((e.unacked(), e.bytes_sent()), (0, 0));
        assert_eq!(e.errno().as_deref(), Some("ECONNREFUSED"));
        // FIN_WAIT1 with 10 bytes and the FIN unacknowledged, reset by the peer.
        let e = end(|b| {
            b[off::STATE] = TcpState::FinWait1.number();
            b[off::FLAGS] = F_CLIENT | F_ORPHAN | F_RST_RECEIVED;
            put64(b, off::BYTES_ACKED, 1 + 90);
            put64(b, off::BYTES_SENT, 100);
            put32(b, off::SEND_Q, 11);
            put32(b, off::IN_FLIGHT, 11);
        });
        assert_eq!((e.unacked(), e.bytes_sent()), (10, 90));
        assert!(e.orphan);
        let mut old = e.clone();
        old.role = None;
        assert_eq!(old.bytes_sent(), 90);
    }

    #[test]
    fn resets_and_drops() {
        let r = decode(&record(TM_RST, |b| {
            put32(b, off::REASON, 1);
            b[off::TCP_FLAGS] = TCP_SYN;
        }));
        let Some(Record::Reset(r)) = r else { panic!() };
        assert_eq!(
            (r.cookie, r.state, r.answered_flags),
            (None, None, Some(TCP_SYN))
        );
        assert_eq!(Names::default().rst_reason(r.reason).name(), "NO_SOCKET");
        let d = decode(&record(TM_DROP, |b| put32(b, off::REASON, 12)));
        let Some(Record::Drop(d)) = d else { panic!() };
        assert_eq!(d.dst.to_string(), "198.18.0.2:8080");
        assert_eq!(Names::default().drop_reason(d.reason), "DROP_REASON_12");
    }

    #[test]
    fn short_or_unknown_records_are_refused() {
        assert!(decode(&[0u8; 10]).is_none());
        assert!(decode(&record(9, |_| {})).is_none());
        assert!(decode(&record(TM_END, |b| b[off::FAMILY] = 99)).is_none());
    }
}
