//! What a run observed: the one model every renderer (terminal timeline, JSON, pcapng, SVG)
//! and every explanation reads. Times are nanoseconds since the first step on
//! CLOCK_MONOTONIC, the clock of the tracefs instance; packet timestamps (CLOCK_REALTIME) are
//! converted to it.
//!
//! A run may hold several connections. Each is known by its 4-tuple and numbered in the order
//! it appeared (`#1`, `#2`); both ends' states after every step, every packet, every kernel
//! event and every call that concerns a connection carry its number. Calls are a list of their
//! own, tied to the step that made them and to the connection they acted on, so that calls
//! made by other programs (traced system calls) can join the same record.

use crate::scenario::{Actor, Host, Scenario};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use tcpmortem_core::{Basis, Os, RstReason, TcpState};
use tcpmortem_wire::Flags;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub scenario: Scenario,
    pub environment: Environment,
    pub addresses: Addresses,
    /// Every connection of the run, by 4-tuple, in the order it appeared.
    pub connections: Vec<Connection>,
    pub steps: Vec<StepRecord>,
    /// Every socket call, in the order made.
    pub calls: Vec<CallRecord>,
    /// TCP segments and ICMP errors seen on the router's links.
    pub packets: Vec<PacketRecord>,
    pub events: Vec<KernelEvent>,
    /// Anything the reader should know: missing kernel view, a step that never settled.
    pub notes: Vec<String>,
    /// The run was cut short by a signal: nothing after it is recorded.
    pub interrupted: Option<Interruption>,
    /// The scenario's `expect` lines, checked against what was observed.
    pub expectations: Vec<Verdict>,
    /// Wall time of the whole run, sandbox set-up and teardown included.
    pub wall_ms: f64,
    /// The user's programs (`client exec ...`), with how they ended and what they printed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<ProgramRecord>,
    /// The programs' own socket calls on the run's connections, from the kernel's
    /// system-call tracepoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub program_calls: Vec<ProgramCall>,
}

/// A program of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProgramRecord {
    pub host: Actor,
    /// The command line, placeholders replaced.
    pub argv: Vec<String>,
    /// Its name as the record shows it: `curl`.
    pub name: String,
    pub pid: i32,
    /// The step that started it.
    pub step: usize,
    pub started_ns: u64,
    /// When it exited (None: still running when the run ended, and killed then).
    pub ended_ns: Option<u64>,
    /// How it ended by itself or by a scenario's signal; None: still running at the end.
    pub exit: Option<crate::program::Exit>,
    /// The lab killed it at its time limit (`program-timeout`).
    pub timed_out: bool,
    /// The first 16 KiB of its stdout and stderr, as text (invalid UTF-8 replaced).
    pub stdout: String,
    pub stderr: String,
    /// Their full lengths.
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
}

/// One socket call of a program, as the syscall tracepoints saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProgramCall {
    /// The step during which it was made (when it started).
    pub step: usize,
    pub host: Actor,
    /// The program's name (`curl`), as the timeline marks its calls.
    pub program: String,
    pub pid: i32,
    pub tid: i32,
    /// The thread's name, as the kernel knows it.
    pub comm: String,
    /// The system call: `connect`, `recvfrom`, `sendto`, `close`...
    pub call: String,
    pub fd: i32,
    /// For accept: the descriptor it returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_fd: Option<i32>,
    pub conn: Option<u32>,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub start_ns: u64,
    /// None: still waiting when the run ended.
    pub returned_ns: Option<u64>,
    pub outcome: Option<Outcome>,
    /// Identical calls in a row (EAGAIN polled again and again) shown once: how many.
    pub repeat: u32,
    /// What Windows and macOS would have returned in its place, where known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_os: Vec<OtherOs>,
}

impl ProgramCall {
    /// `recvfrom fd 5 → ECONNRESET (104)`, `read → EAGAIN (11) ×37`.
    pub fn text(&self) -> String {
        let result = self
            .outcome
            .as_ref()
            .map_or("(still waiting)".into(), Outcome::text);
        let times = if self.repeat > 1 {
            format!(" ×{}", self.repeat)
        } else {
            String::new()
        };
        format!("{} fd {} → {result}{times}", self.call, self.fd)
    }

    /// The call's family, as `expect ACTOR call OP` names it: `recv` for read, readv,
    /// recvfrom, recvmsg; `send` for write, writev, sendto, sendmsg, sendfile.
    pub fn family(&self) -> &'static str {
        match self.call.as_str() {
            "read" | "readv" | "recvfrom" | "recvmsg" => "recv",
            "write" | "writev" | "sendto" | "sendmsg" | "sendfile64" => "send",
            "accept" | "accept4" => "accept",
            "connect" => "connect",
            "shutdown" => "shutdown",
            "close" => "close",
            _ => "other",
        }
    }

    /// Whether `expect ... call OP` means this call: a family or the call's own name.
    pub fn is(&self, op: &str) -> bool {
        op == self.family() || op == self.call || (op == "sendfile" && self.call == "sendfile64")
    }
}

impl Record {
    /// Whether the run had more than one connection: then every label names its connection.
    pub fn several(&self) -> bool {
        self.connections.len() > 1
    }

    /// `client`, or `client#2` when the run had several connections.
    pub fn label(&self, actor: Actor, conn: Option<u32>) -> String {
        actor.label(conn.filter(|_| self.several()))
    }

    /// The connection with these two ends, in either order.
    pub fn conn_of(&self, a: SocketAddr, b: SocketAddr) -> Option<u32> {
        self.connections
            .iter()
            .find(|c| (c.client, c.server) == (a, b) || (c.client, c.server) == (b, a))
            .map(|c| c.id)
    }

    /// "step 3 `client send 5`".
    pub fn step_ref(&self, step: usize) -> String {
        match self.step_text(step) {
            Some(t) => format!("step {} {t}", step + 1),
            None => format!("step {}", step + 1),
        }
    }

    /// A step's line in backquotes and, with several connections, the connection its call
    /// acted on when the line does not name it (`client connect` (connection #2)).
    pub fn step_text(&self, step: usize) -> Option<String> {
        let s = self.steps.get(step)?;
        Some(match s.conn {
            Some(c) if self.several() && !s.text.contains('#') => {
                format!("`{}` (connection #{c})", s.text)
            }
            _ => format!("`{}`", s.text),
        })
    }

    /// The value of a sysctl in a host's namespace while step `step` ran: as the run began,
    /// or as the last `sysctl` step before it set it.
    pub fn sysctl(&self, host: Host, key: &str, step: usize) -> Option<&str> {
        let set = self.scenario.steps[..step.min(self.scenario.steps.len())]
            .iter()
            .rev()
            .find_map(|s| match &s.kind {
                crate::scenario::StepKind::Sysctl {
                    host: h,
                    key: k,
                    value,
                } if *h == host && k == key => Some(value.as_str()),
                _ => None,
            });
        set.or_else(|| {
            self.environment
                .sysctls
                .get(&host)
                .and_then(|m| m.get(key))
                .map(String::as_str)
        })
    }

    /// The step whose span holds time `t`.
    pub fn step_at(&self, t: u64) -> usize {
        self.steps
            .iter()
            .rposition(|s| s.start_ns <= t)
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    pub kernel: String,
    /// The congestion control the lab set on every socket.
    pub congestion_control: String,
    /// What the namespaces would have inherited from the host.
    pub host_congestion_control: String,
    /// Namespaced sysctls that change how connections die, per host, as they were when the
    /// run began (a `sysctl` step changes one later).
    pub sysctls: BTreeMap<Host, BTreeMap<String, String>>,
    pub settle_ms: f64,
    pub blocked_after_ms: f64,
    /// Whether kernel events were recorded (the name is from before they could come from
    /// eBPF).
    pub tracefs: bool,
    /// How: "ebpf" (the lab's BPF programs) or "tracefs" (a tracefs instance, where BPF could
    /// not be loaded).
    #[serde(default)]
    pub kernel_events: Option<String>,
    /// Events the trace ring buffer dropped before they were read: when not 0, the kernel
    /// view is incomplete.
    #[serde(default)]
    pub events_lost: u64,
    /// Whether the programs' socket calls were traced (syscall tracepoints).
    #[serde(default)]
    pub call_tracing: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Addresses {
    pub client: IpAddr,
    pub server: IpAddr,
    pub router_client_side: IpAddr,
    pub router_server_side: IpAddr,
    pub server_port: u16,
}

impl Addresses {
    /// Which host an address belongs to.
    pub fn host_of(&self, ip: IpAddr) -> Option<Host> {
        if ip == self.client {
            Some(Host::Client)
        } else if ip == self.server {
            Some(Host::Server)
        } else if ip == self.router_client_side || ip == self.router_server_side {
            Some(Host::Router)
        } else {
            None
        }
    }

    pub fn of(&self, a: Actor) -> IpAddr {
        match a {
            Actor::Client => self.client,
            Actor::Server => self.server,
        }
    }
}

/// One connection: its client end (on the client host) and its server end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// 1, 2, ...: the order in which it appeared.
    pub id: u32,
    pub client: SocketAddr,
    pub server: SocketAddr,
}

impl Connection {
    pub fn end(&self, a: Actor) -> SocketAddr {
        match a {
            Actor::Client => self.client,
            Actor::Server => self.server,
        }
    }
}

/// How a call returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Outcome {
    /// Success without a byte count (close, shutdown, setsockopt, listen).
    Ok,
    /// send/recv moved this many bytes.
    Bytes {
        bytes: usize,
    },
    /// recv returned 0.
    Eof,
    /// Still waiting after the scenario's `blocked-after`; what it returned later is in
    /// the call's record.
    Blocked,
    Error {
        errno: String,
        number: i32,
    },
    Connected {
        local: SocketAddr,
    },
    Accepted {
        peer: SocketAddr,
    },
    Killed,
    /// `exec`: the program started with this pid.
    Started {
        pid: i32,
    },
    /// `wait`: the program exited with this status.
    Exited {
        code: i32,
    },
    /// `wait`: the program was killed by this signal.
    Signaled {
        signal: String,
    },
}

impl Outcome {
    pub fn error(errno: i32) -> Outcome {
        Outcome::Error {
            errno: tcpmortem_core::errno::name_in(
                tcpmortem_core::errno::Numbering::LinuxErrno,
                errno.into(),
            )
            .map(str::to_string)
            .unwrap_or_else(|| format!("E{errno}")),
            number: errno,
        }
    }

    /// Short text: `5 bytes`, `EOF`, `EPIPE (32)`.
    pub fn text(&self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Bytes { bytes: 1 } => "1 byte".into(),
            Outcome::Bytes { bytes } => format!("{bytes} bytes"),
            Outcome::Eof => "0 (EOF)".into(),
            Outcome::Blocked => "blocked".into(),
            Outcome::Error { errno, number } => format!("{errno} ({number})"),
            Outcome::Connected { local } => format!("connected from {local}"),
            Outcome::Accepted { peer } => format!("accepted {peer}"),
            Outcome::Killed => "killed (SIGKILL)".into(),
            Outcome::Started { pid } => format!("started, pid {pid}"),
            Outcome::Exited { code } => format!("exited {code}"),
            Outcome::Signaled { signal } => format!("killed by {signal}"),
        }
    }

    pub fn errno(&self) -> Option<&str> {
        match self {
            Outcome::Error { errno, .. } => Some(errno),
            _ => None,
        }
    }
}

/// Who made a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Caller {
    /// The lab's own actor process on the host, running the scenario's steps.
    Lab,
}

/// One socket call: what was called, on which connection, when it returned and with what.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallRecord {
    /// The step that made it.
    pub step: usize,
    pub host: Actor,
    pub by: Caller,
    /// The call as an application writes it: `connect`, `send 5`,
    /// `setsockopt SO_KEEPALIVE 1`.
    pub call: String,
    /// The connection it acted on (none for a listener, or before one existed).
    pub conn: Option<u32>,
    pub start_ns: u64,
    /// When it returned; None if it was still waiting when the run ended.
    pub returned_ns: Option<u64>,
    /// It was still waiting at the step's `blocked-after`, and was reported `blocked`.
    pub blocked: bool,
    /// What it returned; None if it never did.
    pub outcome: Option<Outcome>,
    /// The call raised SIGPIPE (a C program without a handler would have died).
    pub sigpipe: bool,
}

/// Where an end's state was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A sock_diag dump of the host, as `ss` reads it.
    SockDiag,
    /// TCP_INFO on the descriptor its application holds: a socket in CLOSE is no longer
    /// listed by sock_diag.
    TcpInfo,
    /// Neither knows the socket.
    None,
}

/// One end of one connection, as the kernel reported it after a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndState {
    pub host: Actor,
    pub conn: u32,
    /// None: the kernel has no socket for this end (closed, or never existed).
    pub state: Option<TcpState>,
    /// Bytes received and not read, as netstat shows them.
    pub recv_q: u32,
    /// Bytes sent and not acknowledged that the socket still holds: netstat's figure
    /// (`write_seq - snd_una`), except when the send queue is empty (`wmem_queued` 0, after
    /// tcp_reset() or tcp_done() purged it), where nothing is queued whatever the sequence
    /// numbers say.
    pub send_q: u32,
    /// `sk_wmem_queued`: what the send and retransmit queues hold, in bytes of memory.
    pub wmem_queued: Option<u32>,
    pub unacked: u32,
    pub retransmits: u32,
    pub total_retrans: u32,
    pub source: Source,
}

impl EndState {
    /// One end from what the kernel reports of it (sock_diag or TCP_INFO); None: no socket.
    pub fn from_kernel(
        host: Actor,
        conn: u32,
        k: Option<&tcpmortem_kernel::diag::DiagState>,
        source: Source,
    ) -> EndState {
        let info = k.and_then(|k| k.info);
        let wmem_queued = k.and_then(|k| k.wmem_queued);
        EndState {
            host,
            conn,
            state: k.and_then(|k| TcpState::from_number(k.state)),
            recv_q: k.map_or(0, |k| k.recv_q),
            send_q: match (k, wmem_queued) {
                (_, Some(0)) | (None, _) => 0,
                (Some(k), _) => k.send_q,
            },
            wmem_queued,
            unacked: info.map_or(0, |i| i.unacked),
            retransmits: info.map_or(0, |i| u32::from(i.retransmits)),
            total_retrans: info.map_or(0, |i| i.total_retrans),
            source: if k.is_some() { source } else { Source::None },
        }
    }

    pub fn state_name(&self) -> &'static str {
        self.state.map(|s| s.name()).unwrap_or("-")
    }
}

/// A listening socket after a step: its accept queue and backlog, as `ss -l` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerState {
    pub host: Actor,
    pub local: SocketAddr,
    /// Connections completed and not yet accepted (Recv-Q of a listener).
    pub accept_queue: u32,
    /// The backlog listen() was given, as the kernel caps it (Send-Q of a listener).
    pub backlog: u32,
}

/// A kernel counter (`/proc/net/netstat`, `/proc/net/snmp`, `/proc/net/snmp6`) that moved
/// during a step, in one host's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterDelta {
    pub host: Host,
    /// `TcpExt`, `Tcp`, `Icmp`, `Icmp6`...
    pub group: String,
    /// As the kernel names it: `ListenOverflows`.
    pub name: String,
    pub delta: i64,
}

/// What another system would have returned for this call, from the catalog.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtherOs {
    #[serde(with = "crate::serde_ext::os")]
    pub os: Os,
    pub result: String,
    #[serde(with = "crate::serde_ext::basis")]
    pub basis: Basis,
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub index: usize,
    pub line: usize,
    pub text: String,
    pub actor: Option<Actor>,
    /// The connection the step's call acted on.
    pub conn: Option<u32>,
    pub start_ns: u64,
    pub returned_ns: u64,
    pub settled_ns: u64,
    /// What the step's call returned within `blocked-after` (`blocked` if it had not).
    pub outcome: Option<Outcome>,
    /// The send raised SIGPIPE (a C program without a handler would have died).
    pub sigpipe: bool,
    /// The calls the step made (indices into the record's calls).
    pub calls: Vec<usize>,
    /// Every connection's two ends before the step and after it settled.
    pub before: Vec<EndState>,
    pub after: Vec<EndState>,
    /// Listening sockets after the step.
    pub listeners: Vec<ListenerState>,
    /// Kernel counters that moved during the step, per host.
    pub counters: Vec<CounterDelta>,
    pub other_os: Vec<OtherOs>,
}

impl StepRecord {
    /// An end's state after the step.
    pub fn end_after(&self, actor: Actor, conn: u32) -> Option<&EndState> {
        self.after
            .iter()
            .find(|e| e.host == actor && e.conn == conn)
    }

    pub fn end_before(&self, actor: Actor, conn: u32) -> Option<&EndState> {
        self.before
            .iter()
            .find(|e| e.host == actor && e.conn == conn)
    }
}

/// Which router link a packet was seen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Link {
    /// Client ↔ router.
    ClientSide,
    /// Router ↔ server.
    ServerSide,
}

/// What a packet is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "proto", rename_all = "lowercase")]
pub enum Proto {
    Tcp {
        #[serde(with = "crate::serde_ext::flags")]
        flags: Flags,
        /// Sequence and acknowledgment numbers relative to each side's initial sequence
        /// number.
        seq: u32,
        ack: u32,
        len: u32,
        window: u16,
    },
    /// An ICMP or ICMPv6 error about a TCP segment of the run.
    Icmp {
        /// To whom: the host that sent the quoted segment.
        to: Actor,
        /// `host-unreachable`, `port-unreachable`, `address-unreachable`...
        message: String,
        icmp_type: u8,
        code: u8,
        v6: bool,
        /// The quoted segment's sequence number, relative as in its own TCP records.
        quoted_seq: Option<u32>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PacketRecord {
    /// First sighting, on the sender's link.
    pub t_ns: u64,
    /// The step during which it was sent (index into `steps`).
    pub step: usize,
    /// The connection it belongs to (an ICMP error: the connection of the segment it quotes).
    pub conn: Option<u32>,
    /// Who sent it: a host, or the router (an ICMP error). For a forged RST, the end whose
    /// address it carries.
    pub from: Host,
    /// The link where it was first seen.
    pub link: Link,
    pub ttl: u8,
    pub ip_id: Option<u16>,
    /// It reached the far link (the router forwarded it). ICMP errors from the router and
    /// forged RSTs are made on the far side and count as crossed.
    pub crossed: bool,
    /// The router made it (a firewall's forged RST): seen only leaving the router, with the
    /// peer's address as its source. Its TTL and IP ID are the router's, not the peer's.
    pub forged: bool,
    #[serde(flatten)]
    pub proto: Proto,
    /// Index of the frame in the pcapng (first sighting).
    #[serde(skip)]
    pub frame: usize,
}

impl PacketRecord {
    /// The TCP flags, for a TCP segment.
    pub fn flags(&self) -> Option<Flags> {
        match &self.proto {
            Proto::Tcp { flags, .. } => Some(*flags),
            Proto::Icmp { .. } => None,
        }
    }

    /// A TCP segment with (at least) this flag.
    pub fn has(&self, flag: u8) -> bool {
        self.flags().is_some_and(|f| f.has(flag))
    }

    /// The end that sent a TCP segment (None for ICMP from the router).
    pub fn sender(&self) -> Option<Actor> {
        match self.from {
            Host::Client => Some(Actor::Client),
            Host::Server => Some(Actor::Server),
            Host::Router => None,
        }
    }

    pub fn is_icmp(&self) -> bool {
        matches!(self.proto, Proto::Icmp { .. })
    }
}

/// A tracepoint event of this run (filtered to the run's addresses).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KernelEvent {
    pub t_ns: u64,
    /// Time used for ordering: moved across the packet it belongs to when clocks on veth
    /// put the receiver's event before the sender's.
    pub order_ns: u64,
    /// Whose kernel: the host that owns the socket's local address.
    pub host: Actor,
    /// The connection of the socket (none for a listener).
    pub conn: Option<u32>,
    /// The tracepoint: `tcp_send_reset`, `tcp_receive_reset`, `inet_sock_set_state`,
    /// `inet_sk_error_report`.
    pub event: String,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub state: Option<TcpState>,
    pub old_state: Option<TcpState>,
    pub new_state: Option<TcpState>,
    #[serde(with = "crate::serde_ext::rst_reason", default)]
    pub reason: Option<RstReason>,
    /// inet_sk_error_report's error as a Linux errno name: stored on the socket, and not
    /// necessarily what the application reads next.
    pub error: Option<String>,
}

/// A run cut short by a signal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interruption {
    pub signal: i32,
    /// `SIGINT`, `SIGTERM`, `SIGHUP`.
    pub name: String,
    /// When it arrived, on the record's clock.
    pub at_ns: u64,
    /// The step it cut short.
    pub step: usize,
}

/// How an `expect` line fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Passed,
    Failed,
    NotChecked,
}

/// An `expect` line checked against the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub line: usize,
    pub text: String,
    pub step: usize,
    pub status: Status,
    /// What was seen instead (or why it was not checked).
    pub observed: String,
}
