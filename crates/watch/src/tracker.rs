//! The tracefs fallback: joining `trace_pipe` events into connection ends.
//!
//! One end is a socket's last moments, as the kernel reports them in a burst of events on
//! one call path: `tcp_reset()` fires `tcp_receive_reset`, then `inet_sock_set_state` (→ CLOSE),
//! then `inet_sk_error_report`; `__tcp_close()` with unread data fires the state change, then
//! `tcp_send_reset`. Events of one socket (same local and remote address) that arrive within
//! [`WINDOW_NS`] of each other belong to the same end. Resets sent without a full socket
//! (NO_SOCKET, a TIME_WAIT mini-socket, a listener) are ends of their own.

use crate::death::Death;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use tcpmortem_core::{RstReason, TcpState};
use tcpmortem_trace::TcpEvent;

/// How long after a socket's last event its end is considered complete.
pub const WINDOW_NS: u64 = 10_000_000;

#[derive(Debug, Default, Clone)]
struct Conn {
    started_ns: Option<u64>,
    retransmits: u32,
    pid: Option<(i32, String)>,
}

#[derive(Debug, Clone)]
struct Pending {
    last_ns: u64,
    closed_from: Option<TcpState>,
    reset_sent: Option<(Option<RstReason>, Option<TcpState>)>,
    reset_received: bool,
    errno: Option<String>,
    conn: Conn,
}

/// Feeds on tracepoint events; yields ends once their burst is over.
#[derive(Debug, Default)]
pub struct Tracker {
    conns: HashMap<(SocketAddr, SocketAddr), Conn>,
    pending: HashMap<(SocketAddr, SocketAddr), Pending>,
    /// Open connections forgotten to stay within [`Tracker::CAPACITY`]: when events are lost,
    /// some connections never show their end, and would be kept forever.
    pub forgotten: u64,
}

/// A tracepoint's remote address, or None where it names no peer (a listener's `0.0.0.0:0`).
fn peer(a: SocketAddr) -> Option<SocketAddr> {
    (a.port() != 0 || !a.ip().is_unspecified()).then_some(a)
}

impl Tracker {
    /// Open connections remembered at most (their start and owner).
    pub const CAPACITY: usize = 262_144;

    pub fn new() -> Tracker {
        Tracker::default()
    }

    fn conn(&mut self, key: (SocketAddr, SocketAddr)) -> &mut Conn {
        if self.conns.len() >= Self::CAPACITY && !self.conns.contains_key(&key) {
            // Forget half, whichever: their ends will show without start or owner.
            let mut n = 0;
            self.conns.retain(|_, _| {
                n += 1;
                n % 2 == 0
            });
            self.forgotten += (Self::CAPACITY - self.conns.len()) as u64;
        }
        self.conns.entry(key).or_default()
    }

    /// Connections currently tracked (memory is bounded by live connections).
    pub fn live(&self) -> usize {
        self.conns.len() + self.pending.len()
    }

    pub fn feed(&mut self, ev: &TcpEvent) -> Vec<Death> {
        let mut out = self.flush(ev.ts_ns);
        let (Some(local), Some(remote)) = (ev.local, ev.remote) else {
            return out;
        };
        let key = (local, remote);
        let pid = ev.pid.map(|p| (p, ev.comm.clone()));
        match ev.event.as_str() {
            "inet_sock_set_state" => {
                let (Some(old), Some(new)) = (ev.old_state, ev.new_state) else {
                    return out;
                };
                if new == TcpState::Close {
                    // A listener closing, or a socket that never left CLOSE, is no connection.
                    if matches!(old, TcpState::Listen | TcpState::Close) {
                        self.conns.remove(&key);
                        return out;
                    }
                    let conn = self.conns.remove(&key).unwrap_or_default();
                    let p = self.pending_for(key, ev.ts_ns, conn);
                    p.closed_from = Some(old);
                    if p.conn.pid.is_none() {
                        p.conn.pid = pid;
                    }
                } else {
                    let c = self.conn(key);
                    if c.started_ns.is_none()
                        && matches!(
                            new,
                            TcpState::SynSent | TcpState::SynRecv | TcpState::Established
                        )
                    {
                        c.started_ns = Some(ev.ts_ns);
                    }
                    // In process context, the caller is a process holding the socket.
                    if pid.is_some() {
                        c.pid = pid;
                    }
                }
            }
            "tcp_send_reset" => {
                let conn = self.conns.get(&key).cloned().unwrap_or_default();
                let p = self.pending_for(key, ev.ts_ns, conn);
                p.reset_sent = Some((ev.reason, ev.state));
                if p.conn.pid.is_none() {
                    p.conn.pid = pid;
                }
            }
            "tcp_receive_reset" => {
                let conn = self.conns.get(&key).cloned().unwrap_or_default();
                self.pending_for(key, ev.ts_ns, conn).reset_received = true;
            }
            "inet_sk_error_report" => {
                let conn = self.conns.get(&key).cloned().unwrap_or_default();
                let p = self.pending_for(key, ev.ts_ns, conn);
                p.errno = ev.error.clone();
                if p.conn.pid.is_none() {
                    p.conn.pid = pid;
                }
            }
            "tcp_retransmit_skb" => {
                self.conn(key).retransmits += 1;
            }
            _ => {}
        }
        out.extend(self.flush(ev.ts_ns));
        out
    }

    fn pending_for(&mut self, key: (SocketAddr, SocketAddr), ts: u64, conn: Conn) -> &mut Pending {
        let p = self.pending.entry(key).or_insert_with(|| Pending {
            last_ns: ts,
            closed_from: None,
            reset_sent: None,
            reset_received: false,
            errno: None,
            conn,
        });
        p.last_ns = p.last_ns.max(ts);
        p
    }

    /// Ends whose burst ended more than [`WINDOW_NS`] before `now_ns` (trace clock).
    pub fn flush(&mut self, now_ns: u64) -> Vec<Death> {
        let done: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, p)| now_ns.saturating_sub(p.last_ns) > WINDOW_NS)
            .map(|(k, _)| *k)
            .collect();
        let mut out: Vec<Death> = done
            .into_iter()
            .filter_map(|k| self.pending.remove(&k).map(|p| death(k, p)))
            .collect();
        out.sort_by_key(|d| d.ts_ns);
        out
    }

    /// Everything still pending (at exit).
    pub fn finish(&mut self) -> Vec<Death> {
        self.flush(u64::MAX)
    }
}

fn death((local, remote): (SocketAddr, SocketAddr), p: Pending) -> Death {
    let mut d = Death::new(p.last_ns, local, peer(remote));
    d.state_before = p.closed_from.or(p.reset_sent.and_then(|r| r.1));
    d.reset_sent = p.reset_sent.is_some();
    d.reason = p.reset_sent.and_then(|r| r.0);
    d.reset_received = p.reset_received;
    // `tcp_done_with_error()` reports the error only while the application holds the socket
    // (not SOCK_DEAD): a reset or timeout without a report ended an orphan.
    if p.reset_received && p.closed_from.is_some() {
        d.app_closed = Some(p.errno.is_none());
    }
    d.errno = p.errno.map(Cow::Owned);
    (d.pid, d.comm) = match p.conn.pid {
        Some((pid, comm)) => (Some(pid), Some(comm).filter(|c| !c.is_empty())),
        None => (None, None),
    };
    d.duration_ms = p
        .conn
        .started_ns
        .map(|s| p.last_ns.saturating_sub(s) as f64 / 1e6);
    // Retransmissions are counted from events: complete only for a life watch saw whole.
    d.retransmits = p.conn.started_ns.map(|_| p.conn.retransmits);
    d.classify();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_connections_are_bounded_when_their_ends_are_lost() {
        let mut t = Tracker::new();
        for i in 0..(Tracker::CAPACITY as u32 + 5) {
            let l = format!(
                "a-1 [0] ..... 1.0: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport={} dport=80 saddr=10.{}.{}.1 daddr=10.0.0.2 saddrv6=:: daddrv6=:: oldstate=TCP_CLOSE newstate=TCP_SYN_SENT",
                1 + i % 60000,
                (i / 60000) % 250,
                (i / 15_000_000) % 250
            );
            t.feed(&tcp_event(&parse_line(&l).unwrap()).unwrap());
        }
        assert!(t.live() <= Tracker::CAPACITY, "{}", t.live());
        assert!(t.forgotten > 0);
    }
    use crate::death::Kind;
    use tcpmortem_trace::{parse_line, tcp_event};

    fn feed_all(lines: &[&str]) -> Vec<Death> {
        let mut t = Tracker::new();
        let mut out = Vec::new();
        for l in lines {
            out.extend(t.feed(&tcp_event(&parse_line(l).unwrap()).unwrap()));
        }
        out.extend(t.finish());
        out
    }

    const C: &str = "sport=40000 dport=8080 saddr=10.0.0.1 daddr=10.0.0.2 saddrv6=:: daddrv6=::";

    #[test]
    fn received_reset_in_established_is_econnreset() {
        let d = feed_all(&[
            &format!(
                "app-9 [0] ..... 1.000000: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP {C} oldstate=TCP_SYN_SENT newstate=TCP_ESTABLISHED"
            ),
            &format!(
                "<idle>-0 [0] ..s.. 2.000000: tcp_receive_reset: family=AF_INET {C} sock_cookie=1"
            ),
            &format!(
                "<idle>-0 [0] ..s.. 2.000001: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP {C} oldstate=TCP_ESTABLISHED newstate=TCP_CLOSE"
            ),
            &format!(
                "<idle>-0 [0] ..s.. 2.000002: inet_sk_error_report: family=AF_INET protocol=IPPROTO_TCP {C} error=104"
            ),
        ]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, Kind::RstReceived);
        assert_eq!(d[0].errno.as_deref(), Some("ECONNRESET"));
        assert_eq!(d[0].state_before, Some(TcpState::Established));
        assert_eq!(
            d[0].pid,
            Some(9),
            "the pid from the process-context event, not <idle>"
        );
        assert!((d[0].duration_ms.unwrap() - 1000.002).abs() < 0.01);
    }

    #[test]
    fn close_with_unread_data_and_standalone_resets() {
        let d = feed_all(&[
            "srv-5 [0] ..... 1.0: tcp_send_reset: skbaddr=0 skaddr=0 src=10.0.0.2:8080 dest=10.0.0.1:40000 state=TCP_ESTABLISHED reason=TCP_ABORT_ON_CLOSE",
            "srv-5 [0] ..... 1.000001: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=8080 dport=40000 saddr=10.0.0.2 daddr=10.0.0.1 saddrv6=:: daddrv6=:: oldstate=TCP_ESTABLISHED newstate=TCP_CLOSE",
            "<idle>-0 [0] ..s.. 5.0: tcp_send_reset: skbaddr=0 skaddr=0 src=10.0.0.2:9 dest=10.0.0.1:40001 state=UNKNOWN reason=NO_SOCKET",
        ]);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].kind, d[0].reason.unwrap().name()),
            (Kind::RstSent, "TCP_ABORT_ON_CLOSE".into())
        );
        assert_eq!(d[0].pid, Some(5));
        assert_eq!(d[1].reason.unwrap().name(), "NO_SOCKET");
        assert_eq!(d[1].state_before, None);
    }

    #[test]
    fn refused_timeout_and_graceful() {
        let d = feed_all(&[
            &format!(
                "a-1 [0] ..... 1.0: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP {C} oldstate=TCP_CLOSE newstate=TCP_SYN_SENT"
            ),
            &format!("<idle>-0 [0] ..s.. 1.1: tcp_receive_reset: family=AF_INET {C} sock_cookie=1"),
            &format!(
                "<idle>-0 [0] ..s.. 1.1: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP {C} oldstate=TCP_SYN_SENT newstate=TCP_CLOSE"
            ),
            &format!(
                "<idle>-0 [0] ..s.. 1.1: inet_sk_error_report: family=AF_INET protocol=IPPROTO_TCP {C} error=111"
            ),
            "x-2 [0] ..s.. 3.0: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=1 dport=2 saddr=10.0.0.1 daddr=10.0.0.3 saddrv6=:: daddrv6=:: oldstate=TCP_ESTABLISHED newstate=TCP_CLOSE",
            "x-2 [0] ..s.. 3.0: inet_sk_error_report: family=AF_INET protocol=IPPROTO_TCP sport=1 dport=2 saddr=10.0.0.1 daddr=10.0.0.3 saddrv6=:: daddrv6=:: error=110",
            "y-3 [0] ..... 4.0: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=3 dport=4 saddr=10.0.0.1 daddr=10.0.0.3 saddrv6=:: daddrv6=:: oldstate=TCP_LAST_ACK newstate=TCP_CLOSE",
            "y-3 [0] ..... 4.0: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=9 dport=0 saddr=10.0.0.1 daddr=0.0.0.0 saddrv6=:: daddrv6=:: oldstate=TCP_LISTEN newstate=TCP_CLOSE",
        ]);
        let kinds: Vec<Kind> = d.iter().map(|d| d.kind).collect();
        assert_eq!(kinds, [Kind::Refused, Kind::Timeout, Kind::Closed]);
        assert_eq!(d[0].errno.as_deref(), Some("ECONNREFUSED"));
    }
}
