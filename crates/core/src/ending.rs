//! How a connection ended, as one vocabulary for every source of evidence (a capture, the
//! kernel's tracepoints, a proxy's sockets): the kinds of ending, the side, and what each
//! application most likely saw on Linux, Windows and macOS, named by error-catalog ids
//! ([`crate::catalog`]); renderers look the names up there.

use crate::TcpState;
use serde::Serialize;

/// Which application a statement is about. The client is Zeek's originator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Server,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
    pub fn peer(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Both sides sent FIN (RFC 9293 §3.6): an orderly close; `by` closed first.
    GracefulClose,
    /// `by` sent FIN and no FIN of the peer was captured before the capture ended:
    /// half-closed and never finished (or still draining; in a capture of one direction only,
    /// whether the peer closed is unknown).
    HalfClosed,
    /// `by` sent FIN in a capture that holds only `by`'s packets: whether the peer closed
    /// too is not in the capture, so nothing abnormal is claimed.
    ClosedPeerUnseen,
    /// `by` reset a connection its socket still held and had not closed: `close()` with
    /// unread data (`tcp_close()`, TCP_ABORT_ON_CLOSE), SO_LINGER 0, SOCK_DESTROY, or a
    /// process that died with unread data.
    AbortiveClose,
    /// The seed's 10053 pattern: `by` sent FIN, the peer's data reached it afterwards (sent
    /// after the FIN, or crossing it: sent before and not acknowledged by it), and `by`'s
    /// kernel answered it with RST because nobody would read it (TCP_ABORT_ON_DATA, or
    /// TCP_TIMEWAIT_SOCKET/NO_SOCKET once the socket is gone).
    DataAfterClose,
    /// A bare RST answered a segment for a connection `by`'s host had no socket for
    /// (`tcp_v4_send_reset()`, NO_SOCKET): it rebooted, crashed, or lost NAT/conntrack state,
    /// or its SYN came from a raw socket (a SYN scan).
    HalfOpen,
    /// A RST that `by` did not send: forged by a firewall or middlebox on the path. Told by a
    /// TTL that differs from `by`'s other packets, `by` carrying on after it, or an IP ID jump.
    MiddleboxReset,
    /// A RST from `by` that fits none of the patterns above: one the capture shows nothing
    /// for, or a SYN_SENT side rejecting an ACK that does not acknowledge its SYN
    /// (RFC 9293 §3.10.7.3).
    Reset,
    /// The SYN was answered by RST: nothing listened on the port (or a firewall rejected it).
    Refused,
    /// An ICMP destination-unreachable answered the connection's packets.
    Unreachable,
    /// The SYN (and its retries) got no answer at all, or the connecting side gave up with a
    /// RST of its own before any came.
    SynUnanswered,
    /// `by` retransmitted unacknowledged data with backoff and the peer never acknowledged
    /// it: the retransmission timer gives up with ETIMEDOUT (`tcp_write_timeout()`), with no RST.
    RetransmissionTimeout,
    /// `by`'s keepalive probes went unanswered (`tcp_keepalive_timer()`): ETIMEDOUT, and Linux
    /// sends RST (TCP_KEEPALIVE_TIMEOUT).
    KeepaliveTimeout,
    /// Neither side closed or reset before the capture ended.
    StillOpen,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::GracefulClose,
        Kind::HalfClosed,
        Kind::ClosedPeerUnseen,
        Kind::AbortiveClose,
        Kind::DataAfterClose,
        Kind::HalfOpen,
        Kind::MiddleboxReset,
        Kind::Reset,
        Kind::Refused,
        Kind::Unreachable,
        Kind::SynUnanswered,
        Kind::RetransmissionTimeout,
        Kind::KeepaliveTimeout,
        Kind::StillOpen,
    ];

    /// The machine-readable name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::GracefulClose => "graceful-close",
            Kind::HalfClosed => "half-closed",
            Kind::ClosedPeerUnseen => "closed-peer-unseen",
            Kind::AbortiveClose => "abortive-close",
            Kind::DataAfterClose => "data-after-close",
            Kind::HalfOpen => "half-open",
            Kind::MiddleboxReset => "middlebox-reset",
            Kind::Reset => "reset",
            Kind::Refused => "refused",
            Kind::Unreachable => "unreachable",
            Kind::SynUnanswered => "syn-unanswered",
            Kind::RetransmissionTimeout => "retransmission-timeout",
            Kind::KeepaliveTimeout => "keepalive-timeout",
            Kind::StillOpen => "still-open",
        }
    }

    /// Whether the connection died of something other than an orderly close.
    pub fn abnormal(self) -> bool {
        !matches!(
            self,
            Kind::GracefulClose | Kind::StillOpen | Kind::ClosedPeerUnseen
        )
    }

    /// The error-catalog entries characteristic of this ending, on any system: what
    /// `explain` points to. [`Kind::may_report`] adds what a RST does to a side in an
    /// unusual state.
    pub fn errors(self) -> &'static [&'static str] {
        match self {
            Kind::GracefulClose | Kind::HalfClosed | Kind::ClosedPeerUnseen => &["peer-eof"],
            Kind::AbortiveClose | Kind::HalfOpen | Kind::Reset => &["econnreset"],
            Kind::DataAfterClose => &["econnaborted", "epipe", "econnreset"],
            Kind::MiddleboxReset => &["econnreset"],
            Kind::Refused => &["econnrefused"],
            Kind::Unreachable => &["ehostunreach", "enetunreach", "econnrefused"],
            Kind::SynUnanswered | Kind::RetransmissionTimeout => &["etimedout"],
            Kind::KeepaliveTimeout => &["etimedout"],
            Kind::StillOpen => &[],
        }
    }

    /// Whether a classifier may put catalog entry `id` in a [`Saw`] for this ending
    /// (checked in debug builds): its own errors, or for an ending that a RST can bring,
    /// whatever `tcp_reset()` reports by the receiver's state.
    pub fn may_report(self, id: &str) -> bool {
        const BY_RST: [&str; 4] = ["econnreset", "econnrefused", "epipe", "econnaborted"];
        let rst_borne = !matches!(
            self,
            Kind::StillOpen | Kind::HalfClosed | Kind::ClosedPeerUnseen | Kind::Unreachable
        );
        self.errors().contains(&id) || (rst_borne && BY_RST.contains(&id))
    }

    /// The kernel RST reasons (`tcp:tcp_send_reset`) that produce this ending on Linux.
    pub fn rst_reasons(self) -> &'static [&'static str] {
        match self {
            Kind::AbortiveClose => &["TCP_ABORT_ON_CLOSE", "TCP_ABORT_ON_LINGER", "TCP_STATE"],
            Kind::DataAfterClose => &["TCP_ABORT_ON_DATA", "TCP_TIMEWAIT_SOCKET", "NO_SOCKET"],
            Kind::HalfOpen | Kind::Refused => &["NO_SOCKET"],
            Kind::KeepaliveTimeout => &["TCP_KEEPALIVE_TIMEOUT"],
            _ => &[],
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::GracefulClose => "closed gracefully",
            Kind::HalfClosed => "half-closed, never finished",
            Kind::ClosedPeerUnseen => "closed; the peer's side was not captured",
            Kind::AbortiveClose => "reset: abortive close",
            Kind::DataAfterClose => "reset: data sent after the peer closed",
            Kind::HalfOpen => "reset: half-open connection",
            Kind::MiddleboxReset => "reset by a middlebox",
            Kind::Reset => "reset",
            Kind::Refused => "refused",
            Kind::Unreachable => "ICMP unreachable",
            Kind::SynUnanswered => "SYN never answered",
            Kind::RetransmissionTimeout => "retransmission timeout",
            Kind::KeepaliveTimeout => "keepalive timeout",
            Kind::StillOpen => "still open",
        })
    }
}

/// What an application saw, per system, as error-catalog ids (`None`: nothing yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Saw {
    pub linux: Option<&'static str>,
    pub windows: Option<&'static str>,
    pub macos: Option<&'static str>,
    /// When and how it shows up.
    pub note: &'static str,
}

impl Saw {
    /// The side whose retransmissions gave up (`tcp_write_timeout()`).
    pub const RTO: Saw = Saw::same(
        "etimedout",
        "the next call fails when the retransmissions give up (tcp_retries2 or TCP_USER_TIMEOUT)",
    );
    /// The side whose keepalive probes went unanswered (`tcp_keepalive_timer()`).
    pub const KEEPALIVE: Saw = Saw::same("etimedout", "the next call fails after the last probe");
    /// A side that read the peer's FIN.
    pub const EOF: Saw = Saw::same("peer-eof", "recv returns 0 (EOF)");

    pub const fn same(id: &'static str, note: &'static str) -> Saw {
        Saw {
            linux: Some(id),
            windows: Some(id),
            macos: Some(id),
            note,
        }
    }
    pub fn nothing(note: &'static str) -> Saw {
        Saw {
            linux: None,
            windows: None,
            macos: None,
            note,
        }
    }
}

/// What the application on a side that received a RST saw, by its state (`tcp_reset()`).
pub fn saw_reset(state: TcpState) -> Saw {
    match state {
        TcpState::SynSent => Saw::same(
            "econnrefused",
            "connect() fails; Windows retries the SYN for ~2 s first",
        ),
        TcpState::CloseWait => Saw {
            linux: Some("epipe"),
            windows: Some("econnaborted"),
            macos: Some("econnreset"),
            note: "the peer had closed first: Linux returns EOF on recv and EPIPE on the next send; Windows fails the recv with 10053 (the seed's case); XNU reports ECONNRESET",
        },
        TcpState::TimeWait | TcpState::Close | TcpState::LastAck => {
            Saw::nothing("its socket was already closed; the RST only removes it")
        }
        // A connection still in SYN_RECV has not been accepted: no application holds it
        // (the RST removes the request sock, tcp_check_req()).
        TcpState::SynRecv => {
            Saw::nothing("not accepted yet (SYN_RECV): no application saw the connection")
        }
        _ => Saw::same(
            "econnreset",
            "the next recv or send fails; data already queued may be lost",
        ),
    }
}

/// An error-catalog id as `os` names it: `EPIPE 32`, `WSAECONNABORTED 10053`, `EOF` for the
/// peer's FIN; the id itself when the catalog has no name for it on that system.
pub fn error_name(id: &str, os: crate::Os) -> String {
    use crate::{Entry, Kind, Os};
    let Some(e) = Entry::by_id(id) else {
        return id.to_string();
    };
    if e.kind == Kind::PeerEof {
        return "EOF".into();
    }
    let name = match os {
        Os::Linux => e.linux.map(|p| format!("{} {}", p.name, p.number)),
        Os::Windows => e.windows.map(|w| format!("{} {}", w.name, w.code)),
        Os::Macos => e.bsd.map(|p| format!("{} {}", p.name, p.number)),
    };
    name.unwrap_or_else(|| id.to_string())
}
