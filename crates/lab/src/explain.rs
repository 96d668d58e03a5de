//! "What happened": the plain-language end of a timeline, built from typed facts. Each
//! [`Fact`] is derived from the record and points at its evidence (packets, kernel events,
//! calls, counters, states, by index); its sentence says nothing its fields do not hold.
//! [`audit`] checks every fact against the record independently of how it was derived, so a
//! test can assert, for any record, that no sentence claims a FIN, a RST, a state or a result
//! the record does not show.

use crate::counters;
use crate::record::{CallRecord, Outcome, Proto, Record};
use crate::scenario::{Actor, Host, StepKind};
use serde::{Deserialize, Serialize};
use tcpmortem_core::{Basis, Os, TcpState};
use tcpmortem_wire::Flags;

/// One end of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    pub actor: Actor,
    pub conn: u32,
}

/// What the application read after an error was stored on its socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Then {
    /// Recvs that returned data queued before the error: tcp_recvmsg() delivers it first.
    #[serde(default)]
    pub data_first: Vec<usize>,
    /// The first call on that socket to return something other than data after the error
    /// was stored: an error, EOF, or (a send) bytes.
    pub first: Option<usize>,
    /// That call is a recv that returned EOF because the peer's FIN (this packet) had
    /// arrived before the error: tcp_recvmsg() checks SOCK_DONE before sk_err.
    pub fin_first: Option<usize>,
    /// The first call returned the error; this later recv read EOF, as a socket whose error
    /// has been reported does (the error is reported once, then RCV_SHUTDOWN reads as EOF).
    pub eof_after: Option<usize>,
}

/// One thing the record shows, with the indices of its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fact", rename_all = "kebab-case")]
pub enum Fact {
    /// The run was cut short by a signal.
    Interrupted { step: usize },
    /// Both ends of a connection sent a FIN; `first` sent it first.
    BothClosed {
        first: End,
        first_fin: usize,
        second: End,
        second_fin: usize,
    },
    /// One end sent a FIN; the record holds no FIN from the other.
    OneClosed { end: End, fin: usize },
    /// An actor's process was killed; its kernel closed its sockets, sending these packets
    /// (FIN or RST) during the step.
    Killed {
        actor: Actor,
        step: usize,
        packets: Vec<usize>,
        /// Bytes the killed side had left unread, per packet's connection (its Recv-Q before
        /// the step), where the record has that end.
        #[serde(default)]
        unread: Vec<Option<u32>>,
    },
    /// A host "rebooted": its sockets were destroyed while the router dropped what they sent
    /// (these RSTs, seen on its link and never forwarded).
    Rebooted {
        host: Actor,
        step: usize,
        dropped: Vec<usize>,
    },
    /// The router forged a RST with an end's address.
    ForgedReset { packet: usize },
    /// A host's kernel sent a RST: the packet on the wire, its tracepoint, or both.
    ResetSent {
        end: End,
        packet: Option<usize>,
        event: Option<usize>,
    },
    /// ICMP errors of one kind, to one end, in one step, and the segments they quote
    /// (those found in the record).
    Icmp {
        packets: Vec<usize>,
        quotes: Vec<usize>,
    },
    /// A connect that gave up after these SYNs.
    SynRetries { call: usize, syns: Vec<usize> },
    /// An actor's calls that ended in EOF, an error, a wait, or a send accepted after the
    /// peer had closed.
    Saw { actor: Actor, calls: Vec<usize> },
    /// An error stored on a socket (inet_sk_error_report), and what the application read.
    Stored { event: usize, then: Then },
    /// Counters that tell how a connection died, moved during a step in a host.
    Counted {
        host: Host,
        step: usize,
        counters: Vec<(String, i64)>,
    },
    /// What Windows would have returned for a call (the step's note).
    Windows { step: usize, note: usize },
}

/// Counters worth a sentence, and what each means. The packets and events say the rest.
const MEANING: &[(&str, &str)] = &[
    (
        "ListenOverflows",
        "a SYN or a handshake's last ACK found the accept queue full",
    ),
    (
        "ListenDrops",
        "the listener dropped a SYN or a handshake's last ACK",
    ),
    (
        "SyncookiesSent",
        "a SYN was answered with a SYN cookie instead of a request socket",
    ),
    (
        "SyncookiesRecv",
        "a handshake completed through a SYN cookie",
    ),
    (
        "SyncookiesFailed",
        "an ACK carried a SYN cookie that did not check",
    ),
    (
        "TCPReqQFullDrop",
        "a SYN was dropped: the SYN queue was full and cookies were off",
    ),
    (
        "TCPReqQFullDoCookies",
        "the SYN queue was full, so a SYN cookie was sent",
    ),
    (
        "EmbryonicRsts",
        "a connection still in its handshake was reset (tcp_check_req)",
    ),
    (
        "TCPAbortOnData",
        "a socket that was closed (or closed with SO_LINGER {1,0}) was reset: data arrived or was unread",
    ),
    (
        "TCPAbortOnClose",
        "close() found unread data and reset the connection",
    ),
    (
        "TCPAbortOnTimeout",
        "retransmissions or keepalive probes gave up",
    ),
    ("TCPAbortOnLinger", "an orphaned FIN_WAIT2 socket was reset"),
    (
        "TCPAbortOnMemory",
        "too many orphaned sockets: one was reset",
    ),
    ("TCPAbortFailed", "a RST could not be sent"),
    (
        "LockDroppedIcmps",
        "an ICMP error arrived while a call held the socket: tcp_v4_err() kept it only as a soft error and the socket went on retrying",
    ),
    (
        "OutOfWindowIcmps",
        "an ICMP error quoted a sequence number outside the window and was ignored",
    ),
    (
        "TCPTimeWaitOverflow",
        "a TIME_WAIT socket could not be made",
    ),
    (
        "TCPChallengeACK",
        "a suspicious RST or SYN was answered with a challenge ACK",
    ),
];

fn meaning(name: &str) -> Option<&'static str> {
    MEANING.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

/// The facts of a run, in the order they are told.
pub fn facts(r: &Record) -> Vec<Fact> {
    let mut out = Vec::new();
    if let Some(i) = &r.interrupted {
        out.push(Fact::Interrupted { step: i.step });
    }
    // Who closed: per connection.
    for c in &r.connections {
        let fin = |a: Actor| {
            r.packets
                .iter()
                .position(|p| p.from == Host::from(a) && p.conn == Some(c.id) && p.has(Flags::FIN))
        };
        let end = |actor| End { actor, conn: c.id };
        match (fin(Actor::Client), fin(Actor::Server)) {
            (Some(a), Some(b)) => {
                let ((fa, ia), (fb, ib)) = if r.packets[a].t_ns <= r.packets[b].t_ns {
                    ((Actor::Client, a), (Actor::Server, b))
                } else {
                    ((Actor::Server, b), (Actor::Client, a))
                };
                out.push(Fact::BothClosed {
                    first: end(fa),
                    first_fin: ia,
                    second: end(fb),
                    second_fin: ib,
                });
            }
            (Some(p), None) => out.push(Fact::OneClosed {
                end: end(Actor::Client),
                fin: p,
            }),
            (None, Some(p)) => out.push(Fact::OneClosed {
                end: end(Actor::Server),
                fin: p,
            }),
            (None, None) => {}
        }
    }
    for s in &r.steps {
        if let Some(StepKind::Call { actor, .. }) = r.scenario.steps.get(s.index).map(|x| &x.kind)
            && s.outcome == Some(Outcome::Killed)
        {
            let packets = r
                .packets
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    p.step == s.index
                        && p.from == Host::from(*actor)
                        && (p.has(Flags::FIN) || p.has(Flags::RST))
                })
                .map(|(i, _)| i)
                .collect::<Vec<usize>>();
            let unread = packets
                .iter()
                .map(|&i| {
                    let conn = r.packets[i].conn?;
                    Some(s.end_before(*actor, conn)?.recv_q)
                })
                .collect();
            out.push(Fact::Killed {
                actor: *actor,
                step: s.index,
                packets,
                unread,
            });
        }
        if let Some(StepKind::Reboot { host }) = r.scenario.steps.get(s.index).map(|x| &x.kind) {
            let dropped = r
                .packets
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    p.step == s.index && p.from == Host::from(*host) && !p.crossed && !p.forged
                })
                .map(|(i, _)| i)
                .collect();
            out.push(Fact::Rebooted {
                host: *host,
                step: s.index,
                dropped,
            });
        }
    }
    for (i, p) in r.packets.iter().enumerate() {
        if p.forged && p.has(Flags::RST) {
            out.push(Fact::ForgedReset { packet: i });
        }
    }
    // RSTs a kernel sent: each packet with its tracepoint, then tracepoints with no packet.
    // Those a reboot's fact already tells are not told twice.
    let told: Vec<usize> = out
        .iter()
        .flat_map(|f| match f {
            Fact::Rebooted { dropped, .. } => dropped.clone(),
            _ => Vec::new(),
        })
        .collect();
    let mut used = vec![false; r.events.len()];
    for (i, p) in r.packets.iter().enumerate() {
        let Some(actor) = p.sender() else { continue };
        if p.forged || !p.has(Flags::RST) {
            continue;
        }
        let ev = r
            .events
            .iter()
            .enumerate()
            .filter(|(k, e)| {
                !used[*k]
                    && e.event == "tcp_send_reset"
                    && e.host == actor
                    && (e.conn.is_none() || e.conn == p.conn)
                    && e.t_ns.abs_diff(p.t_ns) < 5_000_000
            })
            .min_by_key(|(_, e)| e.t_ns.abs_diff(p.t_ns))
            .map(|(k, _)| k);
        if let Some(k) = ev {
            used[k] = true;
        }
        if told.contains(&i) {
            continue;
        }
        if let Some(conn) = p.conn {
            out.push(Fact::ResetSent {
                end: End { actor, conn },
                packet: Some(i),
                event: ev,
            });
        }
    }
    for (k, e) in r.events.iter().enumerate() {
        if !used[k]
            && e.event == "tcp_send_reset"
            && let Some(conn) = e.conn
        {
            out.push(Fact::ResetSent {
                end: End {
                    actor: e.host,
                    conn,
                },
                packet: None,
                event: Some(k),
            });
        }
    }
    let mut icmp: Vec<(usize, Vec<usize>, Vec<usize>)> = Vec::new();
    for (i, p) in r.packets.iter().enumerate() {
        let Proto::Icmp {
            to,
            quoted_seq,
            message,
            ..
        } = &p.proto
        else {
            continue;
        };
        let quote = r
            .packets
            .iter()
            .enumerate()
            .filter(|(_, q)| {
                q.from == Host::from(*to)
                    && q.conn == p.conn
                    && q.t_ns <= p.t_ns
                    && matches!(q.proto, Proto::Tcp { seq, .. } if Some(seq) == *quoted_seq)
            })
            .map(|(k, _)| k)
            .next_back();
        let same = |j: usize| {
            let q = &r.packets[j];
            q.step == p.step
                && q.conn == p.conn
                && q.from == p.from
                && matches!(&q.proto, Proto::Icmp { to: t, message: m, .. } if t == to && m == message)
        };
        match icmp.iter_mut().find(|(first, _, _)| same(*first)) {
            Some((_, packets, quotes)) => {
                packets.push(i);
                quotes.extend(quote);
            }
            None => icmp.push((i, vec![i], quote.into_iter().collect())),
        }
    }
    for (_, packets, quotes) in icmp {
        out.push(Fact::Icmp { packets, quotes });
    }
    for (i, c) in r.calls.iter().enumerate() {
        if c.call.starts_with("connect")
            && c.outcome.as_ref().and_then(|o| o.errno()) == Some("ETIMEDOUT")
            && let Some(conn) = c.conn
        {
            let syns: Vec<usize> = r
                .packets
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    p.conn == Some(conn)
                        && p.from == Host::Client
                        && p.flags()
                            .is_some_and(|f| f.has(Flags::SYN) && !f.has(Flags::ACK))
                })
                .map(|(k, _)| k)
                .collect();
            if !syns.is_empty() {
                out.push(Fact::SynRetries { call: i, syns });
            }
        }
    }
    for actor in Actor::BOTH {
        let calls: Vec<usize> = r
            .calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.host == actor && interesting(r, c))
            .map(|(i, _)| i)
            .collect();
        if !calls.is_empty() {
            out.push(Fact::Saw { actor, calls });
        }
    }
    for (k, e) in r.events.iter().enumerate() {
        if e.event != "inet_sk_error_report" || e.conn.is_none() || e.error.is_none() {
            continue;
        }
        out.push(Fact::Stored {
            event: k,
            then: then(r, k),
        });
    }
    for s in &r.steps {
        for host in [Host::Client, Host::Router, Host::Server] {
            let counters: Vec<(String, i64)> = s
                .counters
                .iter()
                .filter(|d| d.host == host && meaning(&d.name).is_some())
                .filter(|d| counters::telling(&d.group, &d.name))
                .map(|d| (d.name.clone(), d.delta))
                .collect();
            if !counters.is_empty() {
                out.push(Fact::Counted {
                    host,
                    step: s.index,
                    counters,
                });
            }
        }
    }
    for s in &r.steps {
        for (n, o) in s.other_os.iter().enumerate() {
            if o.os == Os::Windows && o.basis != Basis::Here {
                out.push(Fact::Windows {
                    step: s.index,
                    note: n,
                });
            }
        }
    }
    out
}

/// A call worth telling: EOF, an error, a wait, or data accepted after the peer closed.
fn interesting(r: &Record, c: &CallRecord) -> bool {
    c.blocked
        || late_send(r, c)
        || matches!(
            c.outcome,
            Some(Outcome::Eof | Outcome::Error { .. } | Outcome::Blocked)
        )
}

/// The state of the call's end of its connection before its step.
fn state_before(r: &Record, c: &CallRecord) -> Option<TcpState> {
    let conn = c.conn?;
    r.steps.get(c.step)?.end_before(c.host, conn)?.state
}

/// A send the kernel accepted although the peer had already closed: the first sign of
/// trouble in the seed's case.
fn late_send(r: &Record, c: &CallRecord) -> bool {
    c.call.starts_with("send")
        && matches!(c.outcome, Some(Outcome::Bytes { .. }))
        && state_before(r, c) == Some(TcpState::CloseWait)
        && peer_reset_after(r, c).is_some()
}

/// The first RST from the peer on the call's connection after the call started.
fn peer_reset_after(r: &Record, c: &CallRecord) -> Option<usize> {
    r.packets.iter().position(|p| {
        p.from == Host::from(c.host.peer())
            && c.conn.is_some()
            && p.conn == c.conn
            && p.has(Flags::RST)
            && p.t_ns >= c.start_ns
    })
}

/// Whether a call is one that could read an error stored at event `e`: a later call on that
/// socket, or one in flight then that returned an error or EOF. (On veth a send's own segment
/// can meet its RST before the send returns: such a send did not read the error.)
fn reads_after(c: &CallRecord, e: &crate::record::KernelEvent) -> bool {
    c.host == e.host
        && c.conn == e.conn
        && c.returned_ns.is_some_and(|t| t >= e.t_ns)
        && (c.start_ns >= e.t_ns || matches!(c.outcome, Some(Outcome::Error { .. } | Outcome::Eof)))
}

/// What the application read after error event `k` was stored on its socket.
fn then(r: &Record, k: usize) -> Then {
    let e = &r.events[k];
    let mut later: Vec<(usize, &CallRecord)> = r
        .calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.outcome.is_some() && reads_after(c, e))
        .collect();
    later.sort_by_key(|(_, c)| c.returned_ns);
    let mut t = Then {
        data_first: Vec::new(),
        first: None,
        fin_first: None,
        eof_after: None,
    };
    // Data queued before the RST is read first (since 6.10 tcp_reset() purges only the
    // send queue).
    while let Some(&(i, c)) = later.first()
        && c.call.starts_with("recv")
        && matches!(c.outcome, Some(Outcome::Bytes { .. }))
    {
        t.data_first.push(i);
        later.remove(0);
    }
    let Some(&(fi, first)) = later.first() else {
        return t;
    };
    t.first = Some(fi);
    let returned_it = first.outcome.as_ref().and_then(|o| o.errno()) == e.error.as_deref();
    if returned_it {
        t.eof_after = later
            .iter()
            .skip(1)
            .find(|(_, c)| c.call.starts_with("recv") && c.outcome == Some(Outcome::Eof))
            .map(|(i, _)| *i);
    } else if first.call.starts_with("recv") && first.outcome == Some(Outcome::Eof) {
        t.fin_first = r.packets.iter().position(|p| {
            p.from == Host::from(e.host.peer())
                && p.conn == e.conn
                && p.has(Flags::FIN)
                && p.t_ns < e.t_ns
        });
    }
    t
}

fn call_ref(r: &Record, c: &CallRecord) -> String {
    let s = r.step_ref(c.step);
    if r.steps.get(c.step).is_some_and(|s| s.calls.len() > 1) {
        format!("`{}` of {s}", c.call)
    } else {
        s
    }
}

fn outcome_text(c: &CallRecord) -> String {
    outcome_in(c, "")
}

/// The call's result, `in` the state it was called in (a blocked call's state is the one it
/// blocked in: by the time it returns, the socket may be another).
fn outcome_in(c: &CallRecord, state: &str) -> String {
    let o = match &c.outcome {
        Some(o) => o.text(),
        None => "no return before the run ended".into(),
    };
    let sig = if c.sigpipe { " with SIGPIPE" } else { "" };
    let took = c.returned_ns.map(|t| t.saturating_sub(c.start_ns));
    if !c.blocked && took.is_some_and(|t| t >= 10_000_000) {
        return format!(
            "{o}{sig} after {:.3} s{state}",
            took.unwrap_or(0) as f64 / 1e9
        );
    }
    if c.blocked {
        match c.returned_ns {
            Some(t) => format!(
                "blocked{state}, then {o}{sig} after {:.3} s",
                t.saturating_sub(c.start_ns) as f64 / 1e9
            ),
            None => format!("blocked{state}, and had not returned when the run ended"),
        }
    } else {
        format!("{o}{sig}{state}")
    }
}

fn whose(r: &Record, actor: Actor, conn: Option<u32>) -> String {
    format!("the {}", r.label(actor, conn))
}

fn on_conn(r: &Record, conn: Option<u32>) -> String {
    match conn {
        Some(c) if r.several() => format!(" of connection #{c}"),
        _ => String::new(),
    }
}

impl Fact {
    /// The fact as a sentence, from its fields and the record entries they point at.
    pub fn sentence(&self, r: &Record) -> String {
        match self {
            Fact::Interrupted { step } => {
                let i = r.interrupted.as_ref();
                format!(
                    "The run was interrupted by {} during {}; nothing after it was recorded.",
                    i.map_or("a signal", |i| i.name.as_str()),
                    r.step_ref(*step)
                )
            }
            Fact::BothClosed {
                first,
                first_fin,
                second,
                second_fin,
            } => format!(
                "{} closed first (FIN at {}); {} closed later (FIN at {}).",
                cap(&whose(r, first.actor, Some(first.conn))),
                r.step_ref(r.packets[*first_fin].step),
                whose(r, second.actor, Some(second.conn)),
                r.step_ref(r.packets[*second_fin].step)
            ),
            Fact::OneClosed { end, fin } => format!(
                "{} closed its side (FIN at {}); {} never sent its own FIN.",
                cap(&whose(r, end.actor, Some(end.conn))),
                r.step_ref(r.packets[*fin].step),
                whose(r, end.actor.peer(), Some(end.conn))
            ),
            Fact::Killed {
                actor,
                step,
                packets,
                unread,
            } => {
                let sent: Vec<String> = packets
                    .iter()
                    .zip(unread.iter().chain(std::iter::repeat(&None)))
                    .map(|(&i, left)| {
                        let on = on_conn(r, r.packets[i].conn);
                        match (r.packets[i].has(Flags::RST), left) {
                            (true, Some(n)) if *n > 0 => {
                                format!("a RST{on}, as close() does with {n} bytes unread")
                            }
                            (true, _) => format!("a RST{on}"),
                            (false, _) => format!("a FIN{on}, as close() does"),
                        }
                    })
                    .collect();
                let what = if sent.is_empty() {
                    "nothing".to_string()
                } else {
                    sent.join(" and ")
                };
                format!(
                    "At {} the {actor}'s process was killed (SIGKILL); its kernel closed its sockets and sent {what}: Linux does not reset a dead process's connections for dying.",
                    r.step_ref(*step)
                )
            }
            Fact::Rebooted {
                host,
                step,
                dropped,
            } => {
                let resets: Vec<String> = dropped
                    .iter()
                    .filter(|&&i| r.packets[i].has(Flags::RST))
                    .map(|&i| {
                        let why = r
                            .events
                            .iter()
                            .filter(|e| {
                                e.event == "tcp_send_reset"
                                    && e.host == *host
                                    && e.t_ns.abs_diff(r.packets[i].t_ns) < 5_000_000
                            })
                            .find_map(|e| e.reason)
                            .map(|x| format!(" ({x})"))
                            .unwrap_or_default();
                        format!("a RST{why}")
                    })
                    .collect();
                if resets.is_empty() {
                    format!(
                        "At {} the {host}'s sockets were destroyed, as a reboot loses them; nothing they sent reached the {}.",
                        r.step_ref(*step),
                        host.peer()
                    )
                } else {
                    format!(
                        "At {} the {host}'s sockets were destroyed, as a reboot loses them; its kernel sent {} for them, which the router dropped, so the {} was never told.",
                        r.step_ref(*step),
                        resets.join(" and "),
                        host.peer()
                    )
                }
            }
            Fact::ForgedReset { packet } => {
                let p = &r.packets[*packet];
                let claimed = p.sender().unwrap_or(Actor::Server);
                format!(
                    "The router forged a RST toward {} at {}, with the {claimed}'s address as its source, as a firewall's `reject with tcp reset` does; the {claimed} itself never sent it.",
                    whose(r, claimed.peer(), p.conn),
                    r.step_ref(p.step)
                )
            }
            Fact::ResetSent { end, packet, event } => {
                let p = packet.map(|i| &r.packets[i]);
                let e = event.map(|i| &r.events[i]);
                let step = p
                    .map(|p| p.step)
                    .unwrap_or_else(|| e.map_or(0, |e| r.step_at(e.order_ns)));
                let why = match e.and_then(|e| e.reason.map(|x| (x, e.state))) {
                    Some((reason, state)) => format!(
                        ", reason {reason}{}: {}",
                        state.map(|s| format!(" in {s}")).unwrap_or_default(),
                        reason.info().map(|i| i.meaning).unwrap_or("")
                    ),
                    None if r.environment.events_lost > 0 => {
                        " (kernel reason unknown: the trace lost events)".into()
                    }
                    None if r.environment.tracefs => String::new(),
                    None => " (kernel reason unknown: no tracefs)".into(),
                };
                let fate = match p {
                    Some(p) if !p.crossed => format!(
                        "; the router did not forward it, so the {} never saw it",
                        end.actor.peer()
                    ),
                    Some(_) => String::new(),
                    None => "; it was not seen on the router's links".into(),
                };
                format!(
                    "The {}'s kernel sent a RST{} at {}{why}{fate}.",
                    end.actor,
                    on_conn(r, Some(end.conn)),
                    r.step_ref(step)
                )
            }
            Fact::Icmp { packets, quotes } => {
                let p = &r.packets[packets[0]];
                let Proto::Icmp {
                    to, message, v6, ..
                } = &p.proto
                else {
                    return String::new();
                };
                let kind = if *v6 { "ICMPv6" } else { "ICMP" };
                let from = match p.from {
                    Host::Router => "The router".to_string(),
                    h => format!("The {h}"),
                };
                let times = |list: &[usize]| -> String {
                    let t: Vec<String> = list
                        .iter()
                        .map(|&i| format!("{:.1} ms", r.packets[i].t_ns as f64 / 1e6))
                        .collect();
                    t.join(", ")
                };
                let n = packets.len();
                if quotes.is_empty() {
                    return format!(
                        "{from} sent {n} {kind} {message} to {} at {} ({}).",
                        whose(r, *to, p.conn),
                        r.step_ref(p.step),
                        times(packets)
                    );
                }
                let segs: Vec<String> = quotes.iter().map(|&i| segment(&r.packets[i])).collect();
                let forwarded = quotes.iter().filter(|&&i| r.packets[i].crossed).count();
                let whose = format!("the {}'s", r.label(*to, p.conn));
                let what = if segs.iter().all(|x| *x == segs[0]) {
                    match segs.len() {
                        1 => format!("{whose} {}", segs[0]),
                        n => {
                            let (kind, rest) = segs[0].split_once(' ').unwrap_or((&segs[0], ""));
                            let kinds = match kind {
                                "data" => "data segments".to_string(),
                                k => format!("{k}s"),
                            };
                            format!("each of {whose} {n} {kinds} {rest}")
                        }
                    }
                } else {
                    format!("{whose} {}", segs.join(", "))
                };
                format!(
                    "{from} answered {what} at {} with {kind} {message} (at {}){}.",
                    r.step_ref(p.step),
                    times(packets).replacen(", ", " and ", usize::from(packets.len() == 2)),
                    match forwarded {
                        0 if quotes.len() == 1 => "; the segment was not forwarded".to_string(),
                        0 => "; none was forwarded".to_string(),
                        k => format!("; {k} of them were forwarded"),
                    }
                )
            }
            Fact::SynRetries { call, syns } => {
                let c = &r.calls[*call];
                let retries = r.sysctl(Host::Client, "net.ipv4.tcp_syn_retries", c.step);
                let linear = r
                    .sysctl(Host::Client, "net.ipv4.tcp_syn_linear_timeouts", c.step)
                    .and_then(|v| v.parse::<u32>().ok());
                let mut s = format!(
                    "{} sent {} SYN{} and returned {}",
                    cap(&call_ref(r, c)),
                    syns.len(),
                    if syns.len() == 1 { "" } else { "s" },
                    outcome_text(c)
                );
                if let Some(n) = retries.and_then(|v| v.parse::<u32>().ok()) {
                    let bound = (2u64 << n.min(20)) - 1;
                    s.push_str(&format!(
                        ": tcp_syn_retries={n} bounds the time, as if each retransmission doubled the initial 1 s timeout ({bound} s)"
                    ));
                    match linear {
                        Some(l) if l > 0 && syns.len() as u32 > n + 1 => s.push_str(&format!(
                            ", not the count: with tcp_syn_linear_timeouts={l} the first {l} retransmissions come 1 s apart, so {} SYNs fit in that time",
                            syns.len()
                        )),
                        _ => {}
                    }
                }
                s.push('.');
                s
            }
            Fact::Saw { actor, calls } => {
                let parts: Vec<String> = calls
                    .iter()
                    .map(|&i| {
                        let c = &r.calls[i];
                        let state = state_before(r, c);
                        format!(
                            "{} → {}{}",
                            r.step_text(c.step)
                                .unwrap_or_else(|| format!("`{}`", c.call)),
                            outcome_in(
                                c,
                                &state.map(|st| format!(" in {st}")).unwrap_or_default()
                            ),
                            if late_send(r, c) {
                                " (accepted locally, though the peer had closed: it answered with a RST)"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect();
                format!("The {actor} saw: {}.", parts.join("; "))
            }
            Fact::Stored { event, then } => {
                let e = &r.events[*event];
                let error = e.error.as_deref().unwrap_or("an error");
                let mut s = format!(
                    "The {}'s kernel stored {error} on its socket{} at {} (inet_sk_error_report)",
                    e.host,
                    on_conn(r, e.conn),
                    r.step_ref(r.step_at(e.order_ns))
                );
                if !then.data_first.is_empty() {
                    let reads: Vec<String> = then
                        .data_first
                        .iter()
                        .map(|&i| {
                            format!(
                                "{} returned {}",
                                call_ref(r, &r.calls[i]),
                                outcome_text(&r.calls[i])
                            )
                        })
                        .collect();
                    s.push_str(&format!(
                        "; the data queued before it was read first ({})",
                        reads.join(", ")
                    ));
                }
                // A program's own calls on that socket, after the event.
                let program_next = r.program_calls.iter().find(|c| {
                    c.host == e.host
                        && c.conn.is_some()
                        && c.conn == e.conn
                        && c.returned_ns.is_some_and(|t| t >= e.t_ns)
                        && c.outcome.is_some()
                });
                match then.first.map(|i| (i, &r.calls[i])) {
                    None if program_next.is_some() => {
                        let c = program_next.expect("checked");
                        let o = c.outcome.as_ref().expect("checked");
                        if o.errno() == Some(error) {
                            s.push_str(&format!(
                                "; {}'s {} (fd {}) returned it",
                                c.program, c.call, c.fd
                            ));
                        } else {
                            s.push_str(&format!(
                                "; {}'s next call on it, {} (fd {}), returned {}",
                                c.program,
                                c.call,
                                c.fd,
                                o.text()
                            ));
                        }
                    }
                    None if r.programs.iter().any(|p| p.host == e.host) => {
                        s.push_str("; no later call of the program on it was traced")
                    }
                    None => s.push_str("; no later call read it"),
                    Some((_, c)) if c.outcome.as_ref().and_then(|o| o.errno()) == Some(error) => {
                        s.push_str(&format!("; {} returned it", call_ref(r, c)));
                        if let Some(l) = then.eof_after {
                            s.push_str(&format!(
                                ". An error is reported once: after it, {} read EOF, as a reset socket does",
                                call_ref(r, &r.calls[l])
                            ));
                        }
                    }
                    Some((_, c)) => {
                        s.push_str(&format!(
                            "; the next call to read it, {}, returned {}",
                            call_ref(r, c),
                            outcome_text(c)
                        ));
                        if let Some(f) = then.fin_first {
                            s.push_str(&format!(
                                ": recv reports the peer's FIN (received at {}) before a pending error",
                                r.step_ref(r.packets[f].step)
                            ));
                        }
                    }
                }
                s.push('.');
                s
            }
            Fact::Counted {
                host,
                step,
                counters,
            } => {
                let parts: Vec<String> = counters
                    .iter()
                    .map(|(n, d)| format!("{n} {d:+} ({})", meaning(n).unwrap_or("")))
                    .collect();
                format!(
                    "During {} the {host}'s kernel counted {}.",
                    r.step_ref(*step),
                    parts.join(", ")
                )
            }
            Fact::Windows { step, note } => {
                let o = &r.steps[*step].other_os[*note];
                format!(
                    "Windows, {}: {} [{}].",
                    r.step_ref(*step),
                    o.result,
                    o.basis.tag()
                )
            }
        }
    }
}

/// `SYN (seq 0)`, `data (seq 1:6)`.
fn segment(p: &crate::record::PacketRecord) -> String {
    match &p.proto {
        Proto::Tcp {
            flags, seq, len, ..
        } => {
            let kind = if flags.has(Flags::SYN) {
                "SYN"
            } else if flags.has(Flags::FIN) {
                "FIN"
            } else if *len > 0 {
                "data"
            } else {
                "segment"
            };
            if *len > 0 {
                format!("{kind} (seq {seq}:{})", seq.wrapping_add(*len))
            } else {
                format!("{kind} (seq {seq})")
            }
        }
        Proto::Icmp { .. } => "ICMP message".into(),
    }
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Sentences that explain the run, in order.
pub fn explain(r: &Record) -> Vec<String> {
    facts(r).iter().map(|f| f.sentence(r)).collect()
}

/// Checks facts against the record, independently of how they were derived: every FIN,
/// RST, ICMP message, state, result, counter and note a fact names must be in the record,
/// where the fact says. Returns what does not hold.
pub fn audit(r: &Record, facts: &[Fact]) -> Vec<String> {
    let mut bad = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            bad.push(what);
        }
    };
    let tcp = |i: usize, flag: u8, from: Actor, conn: Option<u32>| {
        r.packets.get(i).is_some_and(|p| {
            p.has(flag) && p.from == Host::from(from) && (conn.is_none() || p.conn == conn)
        })
    };
    for f in facts {
        let what = format!("{f:?}");
        match f {
            Fact::Interrupted { step } => check(
                r.interrupted.as_ref().is_some_and(|i| i.step == *step),
                what,
            ),
            Fact::BothClosed {
                first,
                first_fin,
                second,
                second_fin,
            } => {
                check(
                    tcp(*first_fin, Flags::FIN, first.actor, Some(first.conn))
                        && tcp(*second_fin, Flags::FIN, second.actor, Some(second.conn))
                        && first.conn == second.conn
                        && first.actor != second.actor
                        && r.packets[*first_fin].t_ns <= r.packets[*second_fin].t_ns,
                    what,
                );
            }
            Fact::OneClosed { end, fin } => {
                let peer_fin = r.packets.iter().any(|p| {
                    p.from == Host::from(end.actor.peer())
                        && p.conn == Some(end.conn)
                        && p.has(Flags::FIN)
                });
                check(
                    tcp(*fin, Flags::FIN, end.actor, Some(end.conn)) && !peer_fin,
                    what,
                );
            }
            Fact::Killed {
                actor,
                step,
                packets,
                unread,
            } => check(
                r.steps
                    .get(*step)
                    .is_some_and(|s| s.outcome == Some(Outcome::Killed) && s.actor == Some(*actor))
                    && packets.iter().all(|&i| {
                        r.packets.get(i).is_some_and(|p| {
                            p.step == *step
                                && p.from == Host::from(*actor)
                                && (p.has(Flags::FIN) || p.has(Flags::RST))
                        })
                    })
                    // Bytes named unread are that end's Recv-Q before the step.
                    && packets.iter().zip(unread).all(|(&i, left)| match left {
                        None => true,
                        Some(n) => r.packets[i].conn.is_some_and(|c| {
                            r.steps[*step].end_before(*actor, c).is_some_and(|e| e.recv_q == *n)
                        }),
                    }),
                what,
            ),
            Fact::Rebooted {
                host,
                step,
                dropped,
            } => check(
                matches!(
                    r.scenario.steps.get(*step).map(|s| &s.kind),
                    Some(StepKind::Reboot { host: h }) if h == host
                ) && dropped.iter().all(|&i| {
                    r.packets.get(i).is_some_and(|p| {
                        p.step == *step && p.from == Host::from(*host) && !p.crossed
                    })
                }),
                what,
            ),
            Fact::ForgedReset { packet } => check(
                r.packets
                    .get(*packet)
                    .is_some_and(|p| p.forged && p.has(Flags::RST)),
                what,
            ),
            Fact::ResetSent { end, packet, event } => {
                // "sent by the kernel": a send_reset event or a RST packet from that end.
                let p_ok = packet.is_none_or(|i| {
                    tcp(i, Flags::RST, end.actor, Some(end.conn)) && !r.packets[i].forged
                });
                let e_ok = event.is_none_or(|k| {
                    r.events.get(k).is_some_and(|e| {
                        e.event == "tcp_send_reset"
                            && e.host == end.actor
                            && (e.conn.is_none() || e.conn == Some(end.conn))
                    })
                });
                check((packet.is_some() || event.is_some()) && p_ok && e_ok, what);
            }
            Fact::Icmp { packets, quotes } => {
                let icmp: Vec<_> = packets.iter().filter_map(|&i| r.packets.get(i)).collect();
                let ok = !icmp.is_empty()
                    && icmp.len() == packets.len()
                    && icmp.iter().all(|p| p.is_icmp())
                    && quotes.iter().all(|&q| {
                        let Some(q) = r.packets.get(q) else {
                            return false;
                        };
                        // Each quoted segment is one an ICMP message of the fact names.
                        icmp.iter().any(|p| {
                            matches!(&p.proto, Proto::Icmp { to, quoted_seq, .. }
                                if q.from == Host::from(*to)
                                    && q.conn == p.conn
                                    && matches!(q.proto, Proto::Tcp { seq, .. } if Some(seq) == *quoted_seq))
                        })
                    });
                check(ok, what);
            }
            Fact::SynRetries { call, syns } => {
                let c = r.calls.get(*call);
                let all: Vec<usize> = r
                    .packets
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| {
                        c.is_some_and(|c| p.conn == c.conn)
                            && p.from == Host::Client
                            && p.flags()
                                .is_some_and(|f| f.has(Flags::SYN) && !f.has(Flags::ACK))
                    })
                    .map(|(i, _)| i)
                    .collect();
                check(
                    c.is_some_and(|c| {
                        c.host == Actor::Client
                            && c.call.starts_with("connect")
                            && c.outcome.as_ref().and_then(|o| o.errno()) == Some("ETIMEDOUT")
                    }) && *syns == all,
                    what,
                );
            }
            Fact::Saw { actor, calls } => {
                for &i in calls {
                    let Some(c) = r.calls.get(i) else {
                        check(false, what.clone());
                        continue;
                    };
                    check(c.host == *actor && interesting(r, c), what.clone());
                    // "the peer answered with a RST": a RST from the peer after the call.
                    if late_send(r, c) {
                        check(
                            r.packets.iter().any(|p| {
                                p.from == Host::from(c.host.peer())
                                    && p.conn == c.conn
                                    && p.has(Flags::RST)
                                    && p.t_ns >= c.start_ns
                            }),
                            what.clone(),
                        );
                    }
                    // A state named is a state observed: the end's state before the step.
                    if let Some(st) = state_before(r, c) {
                        let seen = r.steps[c.step].before.iter().any(|e| {
                            e.host == c.host && Some(e.conn) == c.conn && e.state == Some(st)
                        });
                        check(seen, what.clone());
                    }
                }
            }
            Fact::Stored { event, then } => {
                let Some(e) = r.events.get(*event) else {
                    check(false, what);
                    continue;
                };
                check(
                    e.event == "inet_sk_error_report" && e.error.is_some(),
                    what.clone(),
                );
                // Data read first: recvs that returned bytes, after the error was stored.
                for &i in &then.data_first {
                    check(
                        r.calls.get(i).is_some_and(|c| {
                            c.call.starts_with("recv")
                                && matches!(c.outcome, Some(Outcome::Bytes { .. }))
                                && reads_after(c, e)
                        }),
                        what.clone(),
                    );
                }
                if let Some(fi) = then.first {
                    let ok = r
                        .calls
                        .get(fi)
                        .is_some_and(|c| c.outcome.is_some() && reads_after(c, e));
                    // No call on that socket read it before the first, but the data read first.
                    let earlier = r.calls.iter().enumerate().any(|(k, c)| {
                        k != fi
                            && !then.data_first.contains(&k)
                            && c.outcome.is_some()
                            && reads_after(c, e)
                            && c.returned_ns < r.calls[fi].returned_ns
                    });
                    check(ok && !earlier, what.clone());
                }
                if let Some(fin) = then.fin_first {
                    // A FIN mentioned is a FIN from that side, before the error.
                    check(
                        tcp(fin, Flags::FIN, e.host.peer(), e.conn)
                            && r.packets[fin].t_ns < e.t_ns
                            && then.first.is_some_and(|fi| {
                                r.calls[fi].call.starts_with("recv")
                                    && r.calls[fi].outcome == Some(Outcome::Eof)
                            }),
                        what.clone(),
                    );
                }
                if let Some(l) = then.eof_after {
                    check(
                        r.calls.get(l).is_some_and(|c| {
                            c.outcome == Some(Outcome::Eof)
                                && then.first.is_some_and(|fi| {
                                    r.calls[fi].outcome.as_ref().and_then(|o| o.errno())
                                        == e.error.as_deref()
                                })
                        }),
                        what.clone(),
                    );
                }
            }
            Fact::Counted {
                host,
                step,
                counters,
            } => check(
                counters.iter().all(|(n, d)| {
                    r.steps.get(*step).is_some_and(|s| {
                        s.counters
                            .iter()
                            .any(|c| c.host == *host && &c.name == n && c.delta == *d)
                    })
                }),
                what,
            ),
            Fact::Windows { step, note } => check(
                r.steps
                    .get(*step)
                    .and_then(|s| s.other_os.get(*note))
                    .is_some_and(|o| o.os == Os::Windows),
                what,
            ),
        }
    }
    bad
}
