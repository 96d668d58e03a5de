//! TCP connection states, numbered and spelled as the Linux kernel does.
//!
//! Numbers are `enum { TCP_ESTABLISHED = 1, ... }` from `include/net/tcp_states.h`; the
//! machine-readable spelling is the kernel's without the `TCP_` prefix (`CLOSE_WAIT`), and
//! [`TcpState::rfc_name`] gives RFC 9293 §3.3.2's (`CLOSE-WAIT`) for human output.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A TCP state as the Linux kernel numbers it (`include/net/tcp_states.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
    /// A request socket (a SYN was answered, the final ACK is awaited); `inet_reqsk_alloc()`.
    NewSynRecv,
    /// Bound but neither listening nor connected (Linux 6.8+, `inet_bind_hash`).
    BoundInactive,
}

impl TcpState {
    pub const ALL: [TcpState; 13] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
        TcpState::NewSynRecv,
        TcpState::BoundInactive,
    ];

    /// The kernel's number (`TCP_ESTABLISHED` = 1 ...), as in `/proc/net/tcp` and sock_diag.
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    pub fn from_number(n: u8) -> Option<TcpState> {
        Self::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// The kernel's name without `TCP_`: the one spelling of machine-readable output.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
            TcpState::NewSynRecv => "NEW_SYN_RECV",
            TcpState::BoundInactive => "BOUND_INACTIVE",
        }
    }

    /// RFC 9293 §3.3.2's spelling, for human output. States the RFC does not have keep the
    /// kernel's name.
    pub fn rfc_name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynRecv | TcpState::NewSynRecv => "SYN-RECEIVED",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::TimeWait => "TIME-WAIT",
            TcpState::Close => "CLOSED",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::LastAck => "LAST-ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
            TcpState::BoundInactive => "BOUND_INACTIVE",
        }
    }

    /// Parses the kernel spelling, with or without `TCP_`, or the RFC spelling; any case.
    pub fn parse(s: &str) -> Option<TcpState> {
        // Fast path, without allocating: the tracepoints' own `TCP_ESTABLISHED` spelling.
        if let Some(st) = s
            .strip_prefix("TCP_")
            .and_then(|n| Self::ALL.into_iter().find(|st| st.name() == n))
        {
            return Some(st);
        }
        let s = s.trim().to_ascii_uppercase().replace('-', "_");
        let s = s.strip_prefix("TCP_").unwrap_or(&s);
        Self::ALL.into_iter().find(|st| {
            st.name() == s
                || st.rfc_name().replace('-', "_") == s
                || st.name().replace('_', "") == s.replace('_', "")
        })
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for TcpState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TcpState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TcpState, D::Error> {
        let s = String::deserialize(d)?;
        TcpState::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown TCP state {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for st in TcpState::ALL {
            assert_eq!(TcpState::from_number(st.number()), Some(st));
        }
        assert_eq!(TcpState::Established.number(), 1);
        assert_eq!(TcpState::CloseWait.number(), 8);
        assert_eq!(TcpState::NewSynRecv.number(), 12);
        assert_eq!(TcpState::from_number(0), None);
        assert_eq!(TcpState::from_number(14), None);
    }

    #[test]
    fn serde_round_trip() {
        let j = serde_json::to_string(&TcpState::CloseWait).unwrap();
        assert_eq!(j, "\"CLOSE_WAIT\"");
        assert_eq!(
            serde_json::from_str::<TcpState>(&j).unwrap(),
            TcpState::CloseWait
        );
        assert!(serde_json::from_str::<TcpState>("\"NOPE\"").is_err());
    }

    #[test]
    fn parses_every_spelling() {
        assert_eq!(TcpState::parse("CLOSE_WAIT"), Some(TcpState::CloseWait));
        assert_eq!(TcpState::parse("TCP_CLOSE_WAIT"), Some(TcpState::CloseWait));
        assert_eq!(TcpState::parse("close-wait"), Some(TcpState::CloseWait));
        assert_eq!(TcpState::parse("FIN-WAIT-2"), Some(TcpState::FinWait2));
        assert_eq!(TcpState::parse("fin_wait2"), Some(TcpState::FinWait2));
        assert_eq!(TcpState::parse("CLOSED"), Some(TcpState::Close));
        assert_eq!(TcpState::parse("nonsense"), None);
    }
}
