//! Why the Linux kernel sent a RST: `enum sk_rst_reason` (`include/net/rstreason.h`, Linux ≥ 6.10).
//!
//! Names and numbers are those the `tcp:tcp_send_reset` tracepoint prints; the table below was
//! read from `/sys/kernel/tracing/events/tcp/tcp_send_reset/format` on Linux 6.18. Older kernels
//! (Debian 12's 6.1) have no reason field at all.

use serde::{Serialize, Serializer};
use std::fmt;

/// A RST reason. Values the kernel adds later parse as [`RstReason::Other`], never a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RstReason {
    /// Known reason, by index into [`RstReason::KNOWN`].
    Known(u8),
    /// A number this build does not know (a newer kernel).
    Other(u32),
}

/// One known reason: the tracepoint's symbol and a plain-language description.
#[derive(Debug, Clone, Copy)]
pub struct RstReasonInfo {
    pub number: u32,
    pub name: &'static str,
    /// What the kernel was doing, with the function that sends it.
    pub meaning: &'static str,
}

macro_rules! reasons {
    ($( $n:literal $name:literal $meaning:literal ),* $(,)?) => {
        &[ $( RstReasonInfo { number: $n, name: $name, meaning: $meaning } ),* ]
    };
}

impl RstReason {
    /// Every reason Linux 6.18 prints, in `enum sk_rst_reason` order.
    pub const KNOWN: &'static [RstReasonInfo] = reasons![
        0 "NOT_SPECIFIED" "no reason given by the caller",
        1 "NO_SOCKET" "a segment arrived for a 4-tuple with no socket (tcp_v4_rcv → tcp_v4_send_reset): closed port, or a peer that forgot the connection",
        2 "TCP_INVALID_ACK_SEQUENCE" "an ACK outside the acceptable range during the handshake (tcp_rcv_synsent_state_process / tcp_check_req)",
        3 "TCP_RFC7323_PAWS" "a segment failed the PAWS timestamp check (RFC 7323 §5)",
        4 "TCP_TOO_OLD_ACK" "an ACK for data older than the window (tcp_ack)",
        5 "TCP_ACK_UNSENT_DATA" "an ACK for data never sent (tcp_ack)",
        6 "TCP_FLAGS" "a segment with invalid flags for the state, e.g. SYN in an established connection (tcp_validate_incoming)",
        7 "TCP_OLD_ACK" "an old ACK on a request socket (tcp_check_req)",
        8 "TCP_ABORT_ON_DATA" "data arrived after the application closed the socket (tcp_rcv_state_process in FIN_WAIT1/2)",
        9 "TCP_TIMEWAIT_SOCKET" "data or an unacceptable segment reached a TIME_WAIT mini-socket (tcp_timewait_state_process)",
        10 "INVALID_SYN" "a SYN that cannot be accepted, or the accept queue overflowed with tcp_abort_on_overflow=1 (tcp_check_req)",
        11 "TCP_ABORT_ON_CLOSE" "close() with unread data in the receive queue (__tcp_close, RFC 2525 §2.17)",
        12 "TCP_ABORT_ON_LINGER" "the FIN_WAIT2 linger timer expired with tcp_fin_timeout < 0 (__tcp_close)",
        13 "TCP_ABORT_ON_MEMORY" "an orphaned socket was killed under memory pressure or the orphan limit (tcp_out_of_resources)",
        14 "TCP_STATE" "the socket was torn down abortively: SO_LINGER {1,0} close, SOCK_DESTROY, or a listener closed with connections queued (tcp_disconnect)",
        15 "TCP_KEEPALIVE_TIMEOUT" "keepalive probes went unanswered (tcp_keepalive_timer)",
        16 "TCP_DISCONNECT_WITH_DATA" "disconnect with unread data (tcp_disconnect)",
        17 "MPTCP_RST_EUNSPEC" "MPTCP: unspecified error",
        18 "MPTCP_RST_EMPTCP" "MPTCP: MPTCP-specific error",
        19 "MPTCP_RST_ERESOURCE" "MPTCP: lack of resources",
        20 "MPTCP_RST_EPROHIBIT" "MPTCP: administratively prohibited",
        21 "MPTCP_RST_EWQ2BIG" "MPTCP: too much outstanding data",
        22 "MPTCP_RST_EBADPERF" "MPTCP: unacceptable performance",
        23 "MPTCP_RST_EMIDDLEBOX" "MPTCP: middlebox interference",
        24 "ERROR" "an error path without a more specific reason",
    ];

    pub fn from_number(n: u32) -> RstReason {
        match Self::KNOWN.iter().position(|r| r.number == n) {
            Some(i) => RstReason::Known(i as u8),
            None => RstReason::Other(n),
        }
    }

    /// Parses the tracepoint's symbol (any case, `SK_RST_REASON_` prefix allowed).
    pub fn parse(s: &str) -> Option<RstReason> {
        // Fast path, without allocating: the tracepoint's own spelling.
        if let Some(i) = Self::KNOWN.iter().position(|r| r.name == s) {
            return Some(RstReason::Known(i as u8));
        }
        let up = s.trim().to_ascii_uppercase();
        let up = up.strip_prefix("SK_RST_REASON_").unwrap_or(&up);
        Self::KNOWN
            .iter()
            .position(|r| r.name == up)
            .map(|i| RstReason::Known(i as u8))
    }

    pub fn info(self) -> Option<&'static RstReasonInfo> {
        match self {
            RstReason::Known(i) => Self::KNOWN.get(usize::from(i)),
            RstReason::Other(_) => None,
        }
    }

    pub fn number(self) -> u32 {
        match self {
            RstReason::Known(i) => Self::KNOWN[usize::from(i)].number,
            RstReason::Other(n) => n,
        }
    }

    pub fn name(self) -> String {
        match self.info() {
            Some(info) => info.name.to_string(),
            None => format!("UNKNOWN_{}", self.number()),
        }
    }
}

impl fmt::Display for RstReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for RstReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_tracepoint() {
        assert_eq!(RstReason::from_number(9).name(), "TCP_TIMEWAIT_SOCKET");
        assert_eq!(RstReason::from_number(11).name(), "TCP_ABORT_ON_CLOSE");
        assert_eq!(RstReason::from_number(14).name(), "TCP_STATE");
        assert_eq!(RstReason::from_number(99), RstReason::Other(99));
        assert_eq!(RstReason::from_number(99).name(), "UNKNOWN_99");
        for (i, r) in RstReason::KNOWN.iter().enumerate() {
            assert_eq!(r.number as usize, i, "KNOWN must stay in enum order");
        }
    }

    #[test]
    fn parses_symbols() {
        assert_eq!(RstReason::parse("no_socket").map(|r| r.number()), Some(1));
        assert_eq!(
            RstReason::parse("SK_RST_REASON_TCP_STATE").map(|r| r.number()),
            Some(14)
        );
        assert_eq!(RstReason::parse("bogus"), None);
    }
}
