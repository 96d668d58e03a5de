//! What a run observed: the one model every renderer (terminal timeline, JSON, pcapng) reads.
//! Times are nanoseconds since the run's start on CLOCK_MONOTONIC, the clock of the tracefs
//! instance; packet timestamps (CLOCK_REALTIME) are converted to it.

use crate::scenario::{Actor, Scenario};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tcpmortem_core::TcpState;
use tcpmortem_trace::TcpEvent;
use tcpmortem_wire::Flags;

#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub scenario: Scenario,
    pub environment: Environment,
    pub addresses: Addresses,
    pub steps: Vec<StepRecord>,
    pub packets: Vec<PacketRecord>,
    pub events: Vec<KernelEvent>,
    /// Calls reported `blocked` that completed later.
    pub completions: Vec<Completion>,
    /// Anything the reader should know: missing kernel view, a step that never settled.
    pub notes: Vec<String>,
    /// The scenario's `expect` lines, checked against what was observed.
    pub expectations: Vec<crate::expect::Verdict>,
    /// Wall time of the whole run, sandbox set-up and teardown included.
    pub wall_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub kernel: String,
    /// The congestion control the lab set in every namespace.
    pub congestion_control: String,
    /// What the namespaces would have inherited from the host.
    pub host_congestion_control: String,
    /// Namespaced sysctls that change how connections die, as they were in the hosts.
    pub sysctls: BTreeMap<String, String>,
    pub settle_ms: f64,
    pub blocked_after_ms: f64,
    /// Whether kernel events (tracefs) were recorded.
    pub tracefs: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Addresses {
    pub client: std::net::IpAddr,
    pub server: std::net::IpAddr,
    pub router_client_side: std::net::IpAddr,
    pub router_server_side: std::net::IpAddr,
    pub server_port: u16,
}

/// How a call returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// Still waiting after the scenario's `blocked-after`; may complete later.
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
        }
    }
}

/// One end of the connection as sock_diag saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EndState {
    pub host: Actor,
    /// None: the kernel has no socket for this end (closed, or never existed).
    pub state: Option<TcpState>,
    pub recv_q: u32,
    pub send_q: u32,
    pub unacked: u32,
    pub retransmits: u32,
    pub total_retrans: u32,
}

impl EndState {
    /// One end from what the kernel reports of it (sock_diag or TCP_INFO); None: no socket.
    pub fn from_kernel(host: Actor, k: Option<&tcpmortem_kernel::diag::DiagState>) -> EndState {
        let info = k.and_then(|k| k.info);
        EndState {
            host,
            state: k.and_then(|k| TcpState::from_number(k.state)),
            recv_q: k.map_or(0, |k| k.recv_q),
            send_q: k.map_or(0, |k| k.send_q),
            unacked: info.map_or(0, |i| i.unacked),
            retransmits: info.map_or(0, |i| u32::from(i.retransmits)),
            total_retrans: info.map_or(0, |i| i.total_retrans),
        }
    }

    pub fn state_name(&self) -> &'static str {
        self.state.map(|s| s.name()).unwrap_or("-")
    }
}

/// What another system would have returned for this call, from the catalog.
#[derive(Debug, Clone, Serialize)]
pub struct OtherOs {
    pub os: tcpmortem_core::Os,
    pub result: String,
    pub basis: tcpmortem_core::Basis,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub index: usize,
    pub line: usize,
    pub text: String,
    pub actor: Option<Actor>,
    pub start_ns: u64,
    pub returned_ns: u64,
    pub settled_ns: u64,
    pub outcome: Option<Outcome>,
    /// The send raised SIGPIPE (a C program without a handler would have died).
    pub sigpipe: bool,
    pub before: Vec<EndState>,
    pub after: Vec<EndState>,
    pub other_os: Vec<OtherOs>,
}

/// Which router link a packet was seen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Link {
    /// Client ↔ router.
    ClientSide,
    /// Router ↔ server.
    ServerSide,
}

#[derive(Debug, Clone, Serialize)]
pub struct PacketRecord {
    /// First sighting, on the sender's link.
    pub t_ns: u64,
    /// The step during which it was sent (index into `steps`).
    pub step: usize,
    pub from: Actor,
    pub flags: Flags,
    /// Sequence and acknowledgment numbers relative to each side's initial sequence number.
    pub seq: u32,
    pub ack: u32,
    pub len: u32,
    pub window: u16,
    pub ttl: u8,
    pub ip_id: Option<u16>,
    /// It reached the far link (the router forwarded it).
    pub crossed: bool,
    /// The router made it (a firewall's forged RST): seen only leaving the router, with the
    /// peer's address as its source. Its TTL and IP ID are the router's, not the peer's.
    pub forged: bool,
    /// Index of the frame in the pcapng (sender's link).
    #[serde(skip)]
    pub frame: usize,
}

/// A tracepoint event of this run (filtered to the run's addresses).
#[derive(Debug, Clone, Serialize)]
pub struct KernelEvent {
    pub t_ns: u64,
    /// Time used for ordering: moved across the packet it belongs to when clocks on veth
    /// put the receiver's event before the sender's.
    #[serde(skip)]
    pub order_ns: u64,
    /// Whose kernel: the host that owns the socket's local address.
    pub host: Option<Actor>,
    /// The event as parsed; `error` is inet_sk_error_report's, stored on the socket and not
    /// necessarily what the application reads next.
    #[serde(flatten)]
    pub tcp: TcpEvent,
}

#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    pub t_ns: u64,
    /// The step whose call had been reported `blocked`.
    pub step: usize,
    pub actor: Actor,
    pub outcome: Outcome,
}
