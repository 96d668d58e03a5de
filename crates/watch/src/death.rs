//! One socket's end, whatever source told it (BPF records or tracefs lines), and how it is
//! classified: watch's per-socket kind (what this socket did or received) and the shared
//! ending vocabulary of `tcpmortem_core::ending` (what happened to the connection).

use serde::Serialize;
use std::borrow::Cow;
use std::net::SocketAddr;
use tcpmortem_core::ending::{self, Role};
use tcpmortem_core::{RstReason, TcpState};

/// What this socket did or received at its end, in the one spelling of machine-readable
/// output. It says which side of the RST this socket was on, which the shared
/// [`ending::Kind`] (about the connection) leaves to `ended_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// This host's kernel sent a RST.
    RstSent,
    /// A RST arrived and killed the socket.
    RstReceived,
    /// Retransmissions, TCP_USER_TIMEOUT, SYN retries or keepalive ran out: ETIMEDOUT.
    Timeout,
    /// A connection attempt was answered with a RST (or ICMP): ECONNREFUSED.
    Refused,
    /// Another error reported to the application.
    Error,
    /// An orderly end (shown with `--all`).
    Closed,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::RstSent,
        Kind::RstReceived,
        Kind::Timeout,
        Kind::Refused,
        Kind::Error,
        Kind::Closed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::RstSent => "rst-sent",
            Kind::RstReceived => "rst-received",
            Kind::Timeout => "timeout",
            Kind::Refused => "refused",
            Kind::Error => "error",
            Kind::Closed => "closed",
        }
    }

    pub fn abnormal(self) -> bool {
        self != Kind::Closed
    }
}

/// Who brought the end about, from this socket's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// This host: its application or its kernel.
    Local,
    /// The peer (or something on the path speaking for it).
    Peer,
}

impl By {
    pub fn name(self) -> &'static str {
        match self {
            By::Local => "local",
            By::Peer => "peer",
        }
    }
}

/// Segments of this connection that the kernel dropped while watch ran, by reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DropCount {
    /// `enum skb_drop_reason` as this kernel names it (`NETFILTER_DROP`).
    pub reason: Cow<'static, str>,
    /// Sent by the peer (dropped on the way in), or by this host (on the way out).
    pub from_peer: bool,
    pub count: u32,
    /// The network namespace it was dropped in (a router's or the host's, for a container).
    pub netns: u64,
    /// The last one, trace clock.
    #[serde(skip)]
    pub last_ns: u64,
}

/// One connection end on this host.
#[derive(Debug, Clone, PartialEq)]
pub struct Death {
    /// Trace clock (CLOCK_MONOTONIC) of the last event.
    pub ts_ns: u64,
    /// The socket cookie (as `ss -e` shows it), with BPF.
    pub cookie: Option<u64>,
    pub local: SocketAddr,
    /// None when no evidence names the peer (a listener's RST read from tracefs).
    pub remote: Option<SocketAddr>,
    pub kind: Kind,
    pub reason: Option<RstReason>,
    /// The error the kernel stored on the socket, by its Linux name.
    pub errno: Option<Cow<'static, str>>,
    pub state_before: Option<TcpState>,
    /// A RST was received on this socket.
    pub reset_received: bool,
    /// This host sent a RST for it.
    pub reset_sent: bool,
    /// The application had closed the socket (or died) before the end: it saw nothing.
    pub app_closed: Option<bool>,
    /// The peer's FIN had arrived (BPF: SOCK_DONE).
    pub fin_received: Option<bool>,
    /// Both directions were shut when it ended (BPF): inside close(), or after
    /// shutdown(SHUT_RDWR).
    pub shut_both: bool,
    /// The flags of the segment a RST without a socket answered (a SYN: refused).
    pub answered_flags: Option<u8>,
    pub pid: Option<i32>,
    pub comm: Option<String>,
    pub netns: Option<u64>,
    pub role: Option<Role>,
    /// From the opening watch saw to the end; None when it began before watch.
    pub duration_ms: Option<f64>,
    pub retransmits: Option<u32>,
    pub bytes_sent: Option<u64>,
    pub bytes_received: Option<u64>,
    pub rtt_us: Option<u32>,
    /// Received and never read (Recv-Q) at the end.
    pub recv_q: Option<u32>,
    /// Written and not acknowledged (Send-Q) at the end.
    pub send_q: Option<u32>,
    pub drops: Vec<DropCount>,
}

impl Death {
    /// An end with nothing known but its addresses; the sources fill in what they saw.
    pub fn new(ts_ns: u64, local: SocketAddr, remote: Option<SocketAddr>) -> Death {
        Death {
            ts_ns,
            cookie: None,
            local,
            remote,
            kind: Kind::Closed,
            reason: None,
            errno: None,
            state_before: None,
            reset_received: false,
            reset_sent: false,
            app_closed: None,
            fin_received: None,
            shut_both: false,
            answered_flags: None,
            pid: None,
            comm: None,
            netns: None,
            role: None,
            duration_ms: None,
            retransmits: None,
            bytes_sent: None,
            bytes_received: None,
            rtt_us: None,
            recv_q: None,
            send_q: None,
            drops: Vec::new(),
        }
    }

    /// The RST reason's name, without allocating for the ones this build knows.
    pub fn reason_name(&self) -> Option<Cow<'static, str>> {
        self.reason.map(|r| match r.info() {
            Some(i) => Cow::Borrowed(i.name),
            None => Cow::Owned(r.name()),
        })
    }

    /// Decides [`Death::kind`] from the evidence; the sources call it once everything is in.
    pub fn classify(&mut self) {
        let reason = self.reason_name();
        // `tcp_rcv_state_process()` answers data after close() (TCP_ABORT_ON_DATA) by calling
        // `tcp_reset()` itself, which fires tcp_receive_reset with no RST received.
        if reason.as_deref() == Some("TCP_ABORT_ON_DATA") {
            self.reset_received = false;
        }
        // The RSTs of close() itself: `__tcp_close()` sends TCP_ABORT_ON_CLOSE for unread
        // data, and `tcp_disconnect()` TCP_STATE for an SO_LINGER 0 close (both directions
        // already shut, no error stored). Its application was closing it, whatever SOCK_DEAD
        // says yet (`sock_orphan()` comes after).
        let own_close = match reason.as_deref() {
            Some("TCP_ABORT_ON_CLOSE") => true,
            Some("TCP_STATE") => self.shut_both && self.errno.is_none(),
            _ => false,
        };
        if own_close {
            self.app_closed = Some(true);
        }
        let errno = self.errno.as_deref();
        self.kind = if errno == Some("ECONNREFUSED")
            || (self.reset_received && self.state_before == Some(TcpState::SynSent))
        {
            Kind::Refused
        } else if errno == Some("ETIMEDOUT") {
            Kind::Timeout
        } else if self.reset_received {
            Kind::RstReceived
        } else if self.reset_sent {
            Kind::RstSent
        } else if errno.is_some() {
            Kind::Error
        } else {
            Kind::Closed
        };
    }

    /// The connection's ending in the shared vocabulary, and who brought it about; None
    /// where the evidence does not tell (an orderly close read from tracefs).
    pub fn ending(&self) -> Option<(ending::Kind, By)> {
        use ending::Kind as E;
        let reason = self.reason_name().unwrap_or_default();
        let errno = self.errno.as_deref().unwrap_or("");
        Some(match self.kind {
            Kind::RstSent => match reason.as_ref() {
                "TCP_ABORT_ON_CLOSE"
                | "TCP_ABORT_ON_LINGER"
                | "TCP_STATE"
                | "TCP_DISCONNECT_WITH_DATA"
                | "TCP_ABORT_ON_MEMORY" => (E::AbortiveClose, By::Local),
                "TCP_ABORT_ON_DATA" | "TCP_TIMEWAIT_SOCKET" => (E::DataAfterClose, By::Local),
                "TCP_KEEPALIVE_TIMEOUT" => (E::KeepaliveTimeout, By::Local),
                "NO_SOCKET" => match self.answered_flags {
                    Some(f) if f & SYN != 0 && f & ACK == 0 => (E::Refused, By::Local),
                    Some(_) => (E::HalfOpen, By::Local),
                    None => (E::Reset, By::Local),
                },
                _ => (E::Reset, By::Local),
            },
            Kind::RstReceived => (E::Reset, By::Peer),
            Kind::Refused => (E::Refused, By::Peer),
            Kind::Timeout => match (self.state_before, reason.as_ref()) {
                (_, "TCP_KEEPALIVE_TIMEOUT") => (E::KeepaliveTimeout, By::Local),
                (Some(TcpState::SynSent), _) => (E::SynUnanswered, By::Local),
                _ => (E::RetransmissionTimeout, By::Local),
            },
            Kind::Error => match errno {
                "EHOSTUNREACH" | "ENETUNREACH" => (E::Unreachable, By::Peer),
                "ECONNABORTED" => (E::AbortiveClose, By::Local),
                _ => return None,
            },
            // Whether the peer's FIN came is known from BPF (SOCK_DONE), or from the state.
            Kind::Closed => match (self.state_before, self.fin_received) {
                (Some(TcpState::LastAck), _) => (E::GracefulClose, By::Peer),
                (Some(TcpState::Closing | TcpState::TimeWait), _) => (E::GracefulClose, By::Local),
                (Some(TcpState::FinWait1 | TcpState::FinWait2), Some(true)) => {
                    (E::GracefulClose, By::Local)
                }
                (Some(TcpState::FinWait1 | TcpState::FinWait2), Some(false)) => {
                    (E::HalfClosed, By::Local)
                }
                _ => return None,
            },
        })
    }
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
