//! An end in one plain sentence, with the errno's names on the other systems from the catalog.

use crate::death::{Death, Kind};
use tcpmortem_core::TcpState;
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

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

pub fn verdict(d: &Death) -> String {
    let mut v = sentence(d);
    if let Some(s) = drops(d) {
        v.push_str("; ");
        v.push_str(&s);
    }
    v
}

fn sentence(d: &Death) -> String {
    let state = d
        .state_before
        .map(|s| format!(" in {s}"))
        .unwrap_or_default();
    let reason = d
        .reason
        .map(|r| r.name())
        .unwrap_or_else(|| "no reason given".into());
    let errno = d.errno.as_deref().map(errno_everywhere);
    let closed = d.app_closed == Some(true);
    match d.kind {
        Kind::RstSent => {
            let what = match reason.as_str() {
                "TCP_ABORT_ON_CLOSE" => match d.recv_q {
                    Some(n) if n > 0 => {
                        format!("closed by this host with {n} bytes unread")
                    }
                    _ => "closed by this host with data unread".into(),
                },
                "TCP_STATE" => "aborted by this host (SO_LINGER 0 close, SOCK_DESTROY or a closed listener)".into(),
                "TCP_ABORT_ON_DATA" | "TCP_TIMEWAIT_SOCKET" => {
                    "data arrived after this host had closed".to_string()
                }
                "NO_SOCKET" => match d.answered_flags {
                    Some(f) if f & SYN != 0 && f & ACK == 0 => {
                        "a SYN arrived for a port nothing listens on".into()
                    }
                    Some(_) => "a segment arrived for a connection this host no longer has (half-open)".into(),
                    None => "a segment arrived for a port or connection this host does not have".into(),
                },
                "INVALID_SYN" if d.state_before == Some(TcpState::Listen) => {
                    "the listener could not accept a handshake (accept queue full with tcp_abort_on_overflow)".into()
                }
                "INVALID_SYN" => "a handshake could not be accepted (accept queue full with tcp_abort_on_overflow)".into(),
                _ => format!("reset by this host{state}"),
            };
            let peer = match (reason.as_str(), d.answered_flags) {
                ("NO_SOCKET", Some(f)) if f & SYN != 0 && f & ACK == 0 => {
                    "the peer's connect() fails with ECONNREFUSED"
                }
                ("NO_SOCKET", Some(_)) => "the peer sees ECONNRESET",
                ("NO_SOCKET", None) => {
                    "a connecting peer sees ECONNREFUSED, an established one ECONNRESET"
                }
                ("TCP_ABORT_ON_DATA" | "TCP_TIMEWAIT_SOCKET", _) => {
                    "the peer sees EPIPE on Linux (EOF first), WSAECONNABORTED 10053 on Windows"
                }
                _ => "the peer will see ECONNRESET",
            };
            format!("{what}: RST ({reason}); {peer}")
        }
        Kind::RstReceived if closed => format!(
            "reset by the peer{state} after the application had closed its socket: no application was handed an error{}",
            d.errno
                .as_deref()
                .map(|e| format!(" (the kernel stored {e} on the orphaned socket)"))
                .unwrap_or_default()
        ),
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
                (_, Some(0)) | (_, None) => format!("gave up{state}, no RST sent"),
                (_, Some(n)) => format!("gave up{state} after {n} retransmissions, no RST sent"),
            };
            if closed {
                format!(
                    "{why}: the application had already closed its socket, so no one saw ETIMEDOUT"
                )
            } else {
                format!(
                    "{why}: {}",
                    errno.unwrap_or_else(|| errno_everywhere("ETIMEDOUT"))
                )
            }
        }
        Kind::Error if closed => format!(
            "error{state} after the application had closed its socket: {}",
            d.errno.as_deref().unwrap_or_default()
        ),
        Kind::Error => format!("error{state}: {}", errno.unwrap_or_default()),
        Kind::Closed => format!("closed normally{state}"),
    }
}

/// "4 of the peer's segments were dropped here (NETFILTER_DROP)".
fn drops(d: &Death) -> Option<String> {
    if d.drops.is_empty() {
        return None;
    }
    let parts: Vec<String> = d
        .drops
        .iter()
        .map(|c| {
            let whose = if c.from_peer { "the peer's" } else { "its own" };
            let n = if c.count == 1 {
                format!("1 of {whose} segments was")
            } else {
                format!("{} of {whose} segments were", c.count)
            };
            let ago = d.ts_ns.saturating_sub(c.last_ns) as f64 / 1e6;
            let place = if d.netns.is_none_or(|ns| ns == c.netns) {
                "here".to_string()
            } else {
                format!("in network namespace {}", c.netns)
            };
            format!(
                "{n} dropped {place} {}({}), the last {ago:.1} ms before the end",
                dropped_by(&c.reason),
                c.reason
            )
        })
        .collect();
    Some(parts.join(", "))
}

/// Who drops for this `enum skb_drop_reason`, when its name says.
fn dropped_by(reason: &str) -> &'static str {
    match reason {
        "NETFILTER_DROP" => "by netfilter ",
        "XDP" => "by an XDP program ",
        "BPF_CGROUP_EGRESS" => "by a cgroup BPF program ",
        r if r.starts_with("TC_") => "by tc ",
        r if r.starts_with("QDISC_") => "by the queueing discipline ",
        r if r.starts_with("TCP_") => "by TCP ",
        _ => "",
    }
}
