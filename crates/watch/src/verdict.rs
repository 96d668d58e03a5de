//! A death in one plain sentence, with the errno's names on the other systems from the catalog.

use crate::tracker::{Death, Kind};
use tcpmortem_core::catalog::Entry;

/// "ECONNRESET (Windows WSAECONNRESET 10054, macOS ECONNRESET 54)".
pub fn errno_everywhere(errno: &str) -> String {
    match Entry::by_posix_name(errno) {
        Some(e) => {
            let mut other = Vec::new();
            match e.windows {
                Some(w) => other.push(format!("Windows {} {}", w.name, w.code)),
                None => other.push("Windows has none".into()),
            }
            if let Some(b) = e.bsd {
                other.push(format!("macOS {} {}", b.name, b.number));
            }
            format!("{errno} ({})", other.join(", "))
        }
        None => errno.to_string(),
    }
}

pub fn verdict(d: &Death) -> String {
    let state = d
        .state_before
        .map(|s| format!(" in {s}"))
        .unwrap_or_default();
    let reason = d
        .reason
        .map(|r| r.name())
        .unwrap_or_else(|| "no reason given".into());
    let errno = d.errno.as_deref().map(errno_everywhere);
    match d.kind {
        Kind::RstSent => {
            let what = match reason.as_str() {
                "TCP_ABORT_ON_CLOSE" => "closed by this host with data unread".into(),
                "TCP_STATE" => "aborted by this host (SO_LINGER 0 close, SOCK_DESTROY or a closed listener)".into(),
                "TCP_ABORT_ON_DATA" | "TCP_TIMEWAIT_SOCKET" => {
                    "data arrived after this host had closed".to_string()
                }
                "NO_SOCKET" => "a segment arrived for a port or connection this host does not have".into(),
                "INVALID_SYN" => "a handshake could not be accepted (accept queue full with tcp_abort_on_overflow)".into(),
                _ => format!("reset by this host{state}"),
            };
            let peer = match reason.as_str() {
                "NO_SOCKET" => "a connecting peer sees ECONNREFUSED, an established one ECONNRESET",
                "TCP_ABORT_ON_DATA" | "TCP_TIMEWAIT_SOCKET" => {
                    "the peer sees EPIPE on Linux (EOF first), WSAECONNABORTED 10053 on Windows"
                }
                _ => "the peer will see ECONNRESET",
            };
            format!("{what}: RST ({reason}); {peer}")
        }
        Kind::RstReceived if d.errno.as_deref() == Some("EPIPE") => format!(
            "reset by the peer after its FIN{state}: the kernel stored {}; recv returns EOF first, the next send fails with EPIPE (Windows: WSAECONNABORTED 10053)",
            errno.unwrap_or_default()
        ),
        Kind::RstReceived => format!(
            "reset by the peer{state}: the application is handed {}",
            errno.unwrap_or_else(|| "ECONNRESET".into())
        ),
        Kind::Refused => format!(
            "connection refused: {}",
            errno.unwrap_or_else(|| errno_everywhere("ECONNREFUSED"))
        ),
        Kind::Timeout => {
            let why = match (reason.as_str(), d.retransmits) {
                ("TCP_KEEPALIVE_TIMEOUT", _) => {
                    "keepalive probes went unanswered; RST (TCP_KEEPALIVE_TIMEOUT) sent".to_string()
                }
                (_, 0) => format!("gave up{state}, no RST sent"),
                (_, n) => format!("gave up{state} after {n} retransmissions, no RST sent"),
            };
            format!(
                "{why}: {}",
                errno.unwrap_or_else(|| errno_everywhere("ETIMEDOUT"))
            )
        }
        Kind::Error => format!("error{state}: {}", errno.unwrap_or_default()),
        Kind::Closed => format!("closed normally{state}"),
    }
}
