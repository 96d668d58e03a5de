//! An end in one plain sentence, with the errno's names on the other systems from the catalog.
//! Written straight into the output ([`Verdict`] is `Display`): a busy host has hundreds of
//! thousands of them a second.

use crate::death::{Death, Kind};
use std::collections::HashMap;
use std::fmt::{self, Write};
use std::sync::Mutex;
use tcpmortem_core::TcpState;
use tcpmortem_core::catalog::Entry;
use tcpmortem_core::count::count;

/// "ECONNRESET (Windows WSAECONNRESET 10054, macOS ECONNRESET 54)". Remembered (at most a
/// few hundred names, from the errno table): the same few come back thousands of times.
pub fn errno_everywhere(errno: &str) -> &'static str {
    static SEEN: Mutex<Option<HashMap<String, &'static str>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let seen = seen.get_or_insert_with(HashMap::new);
    if let Some(s) = seen.get(errno) {
        return s;
    }
    let s: &'static str = Box::leak(describe(errno).into_boxed_str());
    if seen.len() < 512 {
        seen.insert(errno.to_string(), s);
    }
    s
}

fn describe(errno: &str) -> String {
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

/// The verdict on an end, as `Display`.
pub struct Verdict<'a>(pub &'a Death);

/// The verdict as a String.
pub fn verdict(d: &Death) -> String {
    Verdict(d).to_string()
}

impl fmt::Display for Verdict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        sentence(self.0, f)?;
        drops(self.0, f)
    }
}

/// " in STATE", or nothing.
struct In(Option<TcpState>);

impl fmt::Display for In {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, " in {s}"),
            None => Ok(()),
        }
    }
}

fn sentence(d: &Death, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let state = In(d.state_before);
    let reason = d.reason_name().unwrap_or("no reason given".into());
    let errno = d.errno.as_deref().map(errno_everywhere);
    let closed = d.app_closed == Some(true);
    let refused_syn = matches!(d.answered_flags, Some(fl) if fl & SYN != 0 && fl & ACK == 0);
    match d.kind {
        Kind::RstSent => {
            match reason.as_ref() {
                "TCP_ABORT_ON_CLOSE" => match d.recv_q {
                    Some(n) if n > 0 => {
                        write!(f, "closed by this host with {} unread", count(n, "byte", "bytes"))
                    }
                    _ => f.write_str("closed by this host with data unread"),
                },
                "TCP_STATE" => f.write_str(
                    "aborted by this host (SO_LINGER 0 close, SOCK_DESTROY or a closed listener)",
                ),
                "TCP_ABORT_ON_DATA" | "TCP_TIMEWAIT_SOCKET" => {
                    f.write_str("data arrived after this host had closed")
                }
                "NO_SOCKET" if refused_syn => {
                    f.write_str("a SYN arrived for a port nothing listens on")
                }
                "NO_SOCKET" if d.answered_flags.is_some() => f.write_str(
                    "a segment arrived for a connection this host no longer has (half-open)",
                ),
                "NO_SOCKET" => f.write_str(
                    "a segment arrived for a port or connection this host does not have",
                ),
                "INVALID_SYN" if d.state_before == Some(TcpState::Listen) => f.write_str(
                    "the listener could not accept a handshake (accept queue full with tcp_abort_on_overflow)",
                ),
                "INVALID_SYN" => f.write_str(
                    "a handshake could not be accepted (accept queue full with tcp_abort_on_overflow)",
                ),
                _ => write!(f, "reset by this host{state}"),
            }?;
            let peer = match reason.as_ref() {
                "NO_SOCKET" if refused_syn => "the peer's connect() fails with ECONNREFUSED",
                "NO_SOCKET" if d.answered_flags.is_some() => "the peer sees ECONNRESET",
                "NO_SOCKET" => "a connecting peer sees ECONNREFUSED, an established one ECONNRESET",
                "TCP_ABORT_ON_DATA" | "TCP_TIMEWAIT_SOCKET" => {
                    "the peer sees EPIPE on Linux (EOF first), WSAECONNABORTED 10053 on Windows"
                }
                _ => "the peer will see ECONNRESET",
            };
            write!(f, ": RST ({reason}); {peer}")
        }
        Kind::RstReceived if closed => {
            write!(
                f,
                "reset by the peer{state} after the application had closed its socket: no application was handed an error"
            )?;
            match d.errno.as_deref() {
                Some(e) => write!(f, " (the kernel stored {e} on the orphaned socket)"),
                None => Ok(()),
            }
        }
        Kind::RstReceived if d.errno.as_deref() == Some("EPIPE") => write!(
            f,
            "reset by the peer after its FIN{state}: the kernel stored {}; recv returns EOF first, the next send fails with EPIPE (Windows: WSAECONNABORTED 10053)",
            errno.unwrap_or_default()
        ),
        Kind::RstReceived => write!(
            f,
            "reset by the peer{state}: the application is handed {}",
            errno.unwrap_or_else(|| errno_everywhere("ECONNRESET"))
        ),
        Kind::Refused => write!(
            f,
            "connection refused: {}",
            errno.unwrap_or_else(|| errno_everywhere("ECONNREFUSED"))
        ),
        Kind::Timeout => {
            match (reason.as_ref(), d.retransmits) {
                ("TCP_KEEPALIVE_TIMEOUT", _) => f.write_str(
                    "keepalive probes went unanswered; RST (TCP_KEEPALIVE_TIMEOUT) sent",
                ),
                (_, Some(0) | None) => write!(f, "gave up{state}, no RST sent"),
                (_, Some(n)) => {
                    write!(
                        f,
                        "gave up{state} after {}, no RST sent",
                        count(n, "retransmission", "retransmissions")
                    )
                }
            }?;
            if closed {
                f.write_str(
                    ": the application had already closed its socket, so no one saw ETIMEDOUT",
                )
            } else {
                write!(
                    f,
                    ": {}",
                    errno.unwrap_or_else(|| errno_everywhere("ETIMEDOUT"))
                )
            }
        }
        Kind::Error if closed => write!(
            f,
            "error{state} after the application had closed its socket: {}",
            d.errno.as_deref().unwrap_or_default()
        ),
        Kind::Error => write!(f, "error{state}: {}", errno.unwrap_or_default()),
        Kind::Closed => write!(f, "closed normally{state}"),
    }
}

/// "; 4 of the peer's segments were dropped here by netfilter (NETFILTER_DROP), ...".
fn drops(d: &Death, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, c) in d.drops.iter().enumerate() {
        f.write_str(if i == 0 { "; " } else { ", " })?;
        let whose = if c.from_peer { "the peer's" } else { "its own" };
        if c.count == 1 {
            write!(f, "1 of {whose} segments was")?;
        } else {
            write!(f, "{} of {whose} segments were", c.count)?;
        }
        f.write_str(" dropped ")?;
        if d.netns.is_none_or(|ns| ns == c.netns) {
            f.write_str("here")?;
        } else {
            write!(f, "in network namespace {}", c.netns)?;
        }
        let ago = d.ts_ns.saturating_sub(c.last_ns) as f64 / 1e6;
        f.write_char(' ')?;
        write!(
            f,
            "{}({}), the last {ago:.1} ms before the end",
            dropped_by(&c.reason),
            c.reason
        )?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::death::DropCount;
    use tcpmortem_core::RstReason;

    /// Every sentence a count can reach, with each count at 1: "1 bytes" or "1
    /// retransmissions" anywhere is a bug of the whole class.
    #[test]
    fn a_count_of_one_is_singular_in_every_verdict() {
        let reasons = [
            None,
            Some("TCP_ABORT_ON_CLOSE"),
            Some("TCP_STATE"),
            Some("TCP_ABORT_ON_DATA"),
            Some("NO_SOCKET"),
            Some("INVALID_SYN"),
            Some("TCP_KEEPALIVE_TIMEOUT"),
        ];
        let errnos = [
            None,
            Some("ECONNRESET"),
            Some("EPIPE"),
            Some("ETIMEDOUT"),
            Some("ECONNREFUSED"),
            Some("ECONNABORTED"),
        ];
        let states = [None, Some(TcpState::Established), Some(TcpState::Listen)];
        let mut seen = 0;
        for reason in reasons {
            for errno in errnos {
                for state in states {
                    for (received, sent, closed) in [(true, false, false), (false, true, true)] {
                        let mut d = Death::new(
                            2_000_000,
                            "10.0.0.1:80".parse().unwrap(),
                            Some("10.0.0.2:40000".parse().unwrap()),
                        );
                        d.reason = reason.and_then(RstReason::parse);
                        d.errno = errno.map(Into::into);
                        d.state_before = state;
                        d.reset_received = received;
                        d.reset_sent = sent;
                        d.app_closed = Some(closed);
                        d.recv_q = Some(1);
                        d.retransmits = Some(1);
                        d.drops = vec![DropCount {
                            reason: "NETFILTER_DROP".into(),
                            from_peer: true,
                            count: 1,
                            netns: 0,
                            last_ns: 1_000_000,
                        }];
                        d.classify();
                        let v = verdict(&d);
                        let words: Vec<&str> = v.split([' ', '(', ',']).collect();
                        for w in words.windows(2) {
                            assert!(!(w[0] == "1" && w[1].ends_with('s')), "plural after 1: {v}");
                        }
                        seen += usize::from(v.contains("1 byte unread"))
                            + usize::from(v.contains("1 retransmission,"));
                    }
                }
            }
        }
        // Both counted phrases were reached.
        assert!(seen >= 2, "{seen}");
    }
}
