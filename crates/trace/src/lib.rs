//! tcpmortem's kernel events, with no I/O, for the lab, `watch` and the proxy:
//!
//! - this module: `trace_pipe` text lines of the socket and TCP tracepoints parsed into typed
//!   events (the lab, and `watch`'s tracefs fallback);
//! - [`bpf`]: the records of `watch`'s BPF programs, and what their counters mean;
//! - [`btf`]: enum names (drop and RST reasons) from the running kernel's BTF.
//!
//! The text formats are the `print fmt` lines of each event's `format` file on Linux 6.18:
//!
//! ```text
//! <idle>-0 [001] ..s2. 1234.567890: tcp_send_reset: skbaddr=.. skaddr=.. src=198.18.0.6:8080 dest=198.18.0.1:40000 state=TCP_TIME_WAIT reason=TCP_TIMEWAIT_SOCKET
//! ```

pub mod bpf;
pub mod btf;
pub mod syscall;

use std::net::{IpAddr, SocketAddr};
use tcpmortem_core::errno::{Numbering, name_in};
use tcpmortem_core::{RstReason, TcpState};

/// The tracepoints the lab enables.
pub const EVENTS: &[&str] = &[
    "tcp/tcp_send_reset",
    "tcp/tcp_receive_reset",
    "sock/inet_sock_set_state",
    "sock/inet_sk_error_report",
];

/// `watch` adds retransmissions, to tell a timeout's story.
pub const WATCH_EVENTS: &[&str] = &[
    "tcp/tcp_send_reset",
    "tcp/tcp_receive_reset",
    "sock/inet_sock_set_state",
    "sock/inet_sk_error_report",
    "tcp/tcp_retransmit_skb",
];

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceLine<'a> {
    /// The instance clock (mono) in nanoseconds.
    pub ts_ns: u64,
    /// The pid of whatever ran on the CPU: meaningful only in process context.
    pub pid: Option<i32>,
    pub comm: &'a str,
    /// The event fired in process context (the flags column shows neither hard nor soft
    /// interrupt), so `pid` is the process that made the call.
    pub process_context: bool,
    pub event: &'a str,
    /// `key=value` pairs in the order the format prints them, borrowed from the line: no
    /// allocation per event on `watch`'s hot path.
    pub fields: Vec<(&'a str, &'a str)>,
}

impl<'a> TraceLine<'a> {
    pub fn field(&self, key: &str) -> Option<&'a str> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// A TCP tracepoint event with its addresses from the socket's point of view. Serialized as
/// the lab's record shows it: the clock and the process are given by the record instead.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TcpEvent {
    #[serde(skip)]
    pub ts_ns: u64,
    /// The pid of the process that caused the event; None in interrupt context, where the
    /// line carries whatever process happened to run.
    #[serde(skip)]
    pub pid: Option<i32>,
    #[serde(skip)]
    pub comm: String,
    pub event: String,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub state: Option<TcpState>,
    pub old_state: Option<TcpState>,
    pub new_state: Option<TcpState>,
    pub reason: Option<RstReason>,
    /// inet_sk_error_report's error as a Linux errno name.
    pub error: Option<String>,
    #[serde(skip)]
    pub error_number: Option<i32>,
}

impl TcpEvent {
    /// An event with nothing but its time and name.
    pub fn new(ts_ns: u64, event: &str) -> TcpEvent {
        TcpEvent {
            ts_ns,
            pid: None,
            comm: String::new(),
            event: event.to_string(),
            local: None,
            remote: None,
            state: None,
            old_state: None,
            new_state: None,
            reason: None,
            error: None,
            error_number: None,
        }
    }
}

/// Parses one `trace_pipe` line; `None` for anything else (headers, lost-event notes).
pub fn parse_line(line: &str) -> Option<TraceLine<'_>> {
    // Find "TS: EVENT: " where TS is seconds.micro; the comm before it may contain spaces.
    let (head, rest) = split_event(line)?;
    let (event, body) = rest
        .split_once(": ")
        .unwrap_or((rest.trim_end_matches(':'), ""));
    let ts_text = head.trim_end().trim_end_matches(':').rsplit(' ').next()?;
    let ts_ns = parse_ts(ts_text)?;
    let task = head.split(" [").next().unwrap_or("").trim();
    let (comm, pid) = match task.rsplit_once('-') {
        Some((c, p)) => (c, p.parse().ok()),
        None => (task, None),
    };
    // "[001] ..s2." : the third flag is h (hardirq), s (softirq), H (both) or '.'.
    let flags = head
        .split("] ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("");
    let process_context = flags.len() >= 3 && flags.as_bytes()[2] == b'.';
    let fields = body
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    Some(TraceLine {
        ts_ns,
        pid,
        comm,
        process_context,
        event,
        fields,
    })
}

pub(crate) fn split_event(line: &str) -> Option<(&str, &str)> {
    // The timestamp is the first "digits.digits:" token followed by a space.
    let bytes = line.as_bytes();
    let mut i = 0;
    while let Some(pos) = line[i..].find(": ") {
        let end = i + pos;
        let start = line[..end].rfind(' ').map(|s| s + 1).unwrap_or(0);
        let tok = &line[start..end];
        if tok.contains('.') && tok.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Some((&line[..end + 1], &line[end + 2..]));
        }
        i = end + 2;
        if i >= bytes.len() {
            break;
        }
    }
    None
}

pub(crate) fn parse_ts(s: &str) -> Option<u64> {
    let (sec, frac) = s.split_once('.')?;
    let sec: u64 = sec.parse().ok()?;
    let digits = frac.len().min(9);
    let frac_v: u64 = frac[..digits].parse().ok()?;
    Some(sec * 1_000_000_000 + frac_v * 10u64.pow(9 - digits as u32))
}

fn state(v: Option<&str>) -> Option<TcpState> {
    TcpState::parse(v?)
}

fn sockaddr(ip: Option<&str>, port: Option<&str>) -> Option<SocketAddr> {
    let ip: IpAddr = ip?.parse().ok()?;
    Some(SocketAddr::new(ip, port?.parse().ok()?))
}

/// The count of a `CPU:N [LOST M EVENTS]` line, which trace_pipe prints when the ring buffer
/// overwrote events before they were read.
pub fn lost_events(line: &str) -> Option<u64> {
    let rest = line.split("[LOST ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// inet_sk_error_report's error into the event; None for a report that is no connection's
/// end.
pub(crate) fn error_report(ev: &mut TcpEvent, n: i32) -> Option<()> {
    let n = n.abs();
    // A report on a socket with no peer is no connection's end: tcp_disconnect()
    // (SO_LINGER 0 close, connect(AF_UNSPEC)) clears the remote port before it
    // reports, and a destroyed listener has none.
    let no_port = |a: Option<SocketAddr>| a.is_none_or(|a| a.port() == 0);
    if n == 0 || no_port(ev.local) || no_port(ev.remote) {
        return None;
    }
    ev.error_number = Some(n);
    ev.error = Some(
        name_in(Numbering::LinuxErrno, n.into())
            .map(str::to_string)
            .unwrap_or_else(|| format!("E{n}")),
    );
    Some(())
}

/// Turns a parsed line into a [`TcpEvent`]; `None` for other events or self-reports that are
/// not deaths (inet_sk_error_report with error 0 or port 0, which tcp_disconnect emits).
pub fn tcp_event(l: &TraceLine) -> Option<TcpEvent> {
    let f = |k: &str| l.field(k);
    let v6 = f("family").is_some_and(|x| x == "AF_INET6");
    let (sa, da) = if v6 {
        (f("saddrv6"), f("daddrv6"))
    } else {
        (f("saddr"), f("daddr"))
    };
    let mut ev = TcpEvent::new(l.ts_ns, l.event);
    ev.pid = l.pid.filter(|_| l.process_context);
    // The command name only means something with a pid from process context; `<...>` is
    // tracefs's placeholder when its pid→comm cache missed (left for the reader).
    if l.process_context && l.comm != "<...>" {
        ev.comm = l.comm.to_string();
    }
    match l.event {
        "tcp_send_reset" => {
            // src/dest are the RST's: src is this host's end.
            ev.local = f("src").and_then(|s| s.parse().ok());
            ev.remote = f("dest").and_then(|s| s.parse().ok());
            ev.state = state(f("state"));
            ev.reason = f("reason").and_then(RstReason::parse);
        }
        "tcp_retransmit_skb" => {
            ev.local = sockaddr(sa, f("sport"));
            ev.remote = sockaddr(da, f("dport"));
            ev.state = state(f("state"));
        }
        "tcp_receive_reset" => {
            ev.local = sockaddr(sa, f("sport"));
            ev.remote = sockaddr(da, f("dport"));
        }
        "inet_sock_set_state" => {
            if f("protocol").is_some_and(|p| p != "IPPROTO_TCP") {
                return None;
            }
            ev.local = sockaddr(sa, f("sport"));
            ev.remote = sockaddr(da, f("dport"));
            ev.old_state = state(f("oldstate"));
            ev.new_state = state(f("newstate"));
        }
        "inet_sk_error_report" => {
            if f("protocol").is_some_and(|p| p != "IPPROTO_TCP") {
                return None;
            }
            ev.local = sockaddr(sa, f("sport"));
            ev.remote = sockaddr(da, f("dport"));
            crate::error_report(&mut ev, f("error")?.parse().ok()?)?;
        }
        _ => return None,
    }
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_reset() {
        let l = parse_line("          <idle>-0       [001] ..s2.  1234.567890: tcp_send_reset: skbaddr=00000000a1b2c3d4 skaddr=0000000000000000 src=198.18.0.6:8080 dest=198.18.0.1:40000 state=TCP_TIME_WAIT reason=TCP_TIMEWAIT_SOCKET").unwrap();
        assert_eq!(l.ts_ns, 1_234_567_890_000);
        assert_eq!(l.pid, Some(0));
        assert_eq!(l.comm, "<idle>");
        let e = tcp_event(&l).unwrap();
        assert_eq!(e.local.unwrap().to_string(), "198.18.0.6:8080");
        assert_eq!(e.state, Some(TcpState::TimeWait));
        assert_eq!(e.reason.unwrap().name(), "TCP_TIMEWAIT_SOCKET");
    }

    #[test]
    fn state_change_and_error_report() {
        let l = parse_line("tcpmortem actor-4242 [000] ..... 99.000001: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=40000 dport=8080 saddr=198.18.0.1 daddr=198.18.0.6 saddrv6=::ffff:198.18.0.1 daddrv6=::ffff:198.18.0.6 oldstate=TCP_ESTABLISHED newstate=TCP_CLOSE_WAIT").unwrap();
        assert_eq!(l.comm, "tcpmortem actor");
        assert_eq!(l.pid, Some(4242));
        let e = tcp_event(&l).unwrap();
        assert_eq!(e.old_state, Some(TcpState::Established));
        assert_eq!(e.new_state, Some(TcpState::CloseWait));
        let l = parse_line("x-1 [000] ..s.. 99.5: inet_sk_error_report: family=AF_INET protocol=IPPROTO_TCP sport=40000 dport=8080 saddr=198.18.0.1 daddr=198.18.0.6 saddrv6=:: daddrv6=:: error=32").unwrap();
        assert_eq!(tcp_event(&l).unwrap().error.as_deref(), Some("EPIPE"));
        let l = parse_line("x-1 [000] ..s.. 99.5: inet_sk_error_report: family=AF_INET protocol=IPPROTO_TCP sport=0 dport=8080 saddr=198.18.0.1 daddr=198.18.0.6 saddrv6=:: daddrv6=:: error=104").unwrap();
        assert!(
            tcp_event(&l).is_none(),
            "port 0 self-reports are not deaths"
        );
        for l in [
            // tcp_disconnect() after an SO_LINGER 0 close: the remote port is already 0.
            "x-1 [000] ..... 99.5: inet_sk_error_report: family=AF_INET protocol=IPPROTO_TCP sport=47002 dport=0 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=:: daddrv6=:: error=104",
            // SOCK_DESTROY of a listener.
            "x-1 [000] ..... 99.5: inet_sk_error_report: family=AF_INET protocol=IPPROTO_TCP sport=8080 dport=0 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=:: daddrv6=:: error=103",
        ] {
            assert!(tcp_event(&parse_line(l).unwrap()).is_none(), "{l}");
        }
        let l = parse_line("<...>-4242 [000] ..... 99.0: tcp_send_reset: skbaddr=0 skaddr=0 src=10.0.0.1:1 dest=10.0.0.2:2 state=TCP_ESTABLISHED reason=TCP_ABORT_ON_CLOSE").unwrap();
        let e = tcp_event(&l).unwrap();
        assert_eq!(
            (e.pid, e.comm.as_str()),
            (Some(4242), ""),
            "<...> is no name"
        );
    }

    #[test]
    fn process_context_and_lost_events() {
        let l = parse_line("curl-77 [001] ..s2. 5.0: tcp_receive_reset: family=AF_INET sport=1 dport=2 saddr=10.0.0.1 daddr=10.0.0.2 saddrv6=:: daddrv6=:: sock_cookie=1").unwrap();
        assert!(!l.process_context);
        assert_eq!(
            tcp_event(&l).unwrap().pid,
            None,
            "softirq: the pid is not the owner"
        );
        let l = parse_line("curl-77 [001] ..... 5.0: tcp_send_reset: skbaddr=0 skaddr=0 src=10.0.0.1:1 dest=10.0.0.2:2 state=TCP_ESTABLISHED reason=TCP_ABORT_ON_CLOSE").unwrap();
        assert!(l.process_context);
        assert_eq!(tcp_event(&l).unwrap().pid, Some(77));
        assert_eq!(lost_events("CPU:1 [LOST 12 EVENTS]"), Some(12));
        assert_eq!(lost_events("nothing"), None);
    }

    #[test]
    fn garbage_is_ignored() {
        assert!(parse_line("").is_none());
        assert!(parse_line("CPU:1 [LOST 12 EVENTS]").is_none());
        assert!(parse_line("a: b: c").is_none());
    }
}
