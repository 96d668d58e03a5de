//! The scenario language as data: steps, the calls they make, faults on the path, and the
//! `expect` lines that check a run. [`crate::parse`] turns text into these; the runner, the
//! record and the renderers read them. Nothing here does I/O or knows about a run, so the
//! language sits below everything that uses it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use tcpmortem_core::TcpState;

/// Who performs a call: the lab's process on the client host or on the server host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    Client,
    Server,
}

impl Actor {
    pub const BOTH: [Actor; 2] = [Actor::Client, Actor::Server];

    pub fn name(self) -> &'static str {
        match self {
            Actor::Client => "client",
            Actor::Server => "server",
        }
    }

    pub fn peer(self) -> Actor {
        match self {
            Actor::Client => Actor::Server,
            Actor::Server => Actor::Client,
        }
    }

    /// `client`, or `client#2` for the client's end of connection 2.
    pub fn label(self, conn: Option<u32>) -> String {
        match conn {
            Some(n) => format!("{}#{n}", self.name()),
            None => self.name().to_string(),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// shutdown(2)'s `how`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    Rd,
    Wr,
    Rdwr,
}

impl How {
    pub fn name(self) -> &'static str {
        match self {
            How::Rd => "rd",
            How::Wr => "wr",
            How::Rdwr => "rdwr",
        }
    }
}

/// The bytes a `send` writes: a count of the recognisable pattern "abcd...", or a quoted
/// string. Serialized by length and content in hex, so that a 16 MiB send stays small in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Payload {
    /// `send 5`: "abcde".
    Pattern(usize),
    /// `send "GET /\r\n"`, as hex.
    Hex(String),
}

impl Payload {
    pub fn from_bytes(b: &[u8]) -> Payload {
        Payload::Hex(to_hex(b))
    }

    pub fn len(&self) -> usize {
        match self {
            Payload::Pattern(n) => *n,
            Payload::Hex(h) => h.len() / 2,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes themselves.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Payload::Pattern(n) => (0..*n).map(|i| b'a' + (i % 26) as u8).collect(),
            Payload::Hex(h) => from_hex(h).unwrap_or_default(),
        }
    }
}

/// Lower-case hex, two digits a byte. By table: a 16 MiB send is encoded in milliseconds,
/// not in the seconds a `format!` per byte takes in a debug build.
pub fn to_hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 15)]));
    }
    s
}

/// The bytes of a hex string; `None` unless it is whole bytes of hex digits. A plain loop:
/// iterator adapters cost seconds on 32 MiB of hex in a debug build.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 2);
    let mut i = 0;
    while i < s.len() {
        out.push((digit(s[i])? << 4) | digit(s[i + 1])?);
        i += 2;
    }
    Some(out)
}

/// An operation an actor performs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// listen(2) with a backlog; the server listens with 128 before the first step unless
    /// the scenario has its own `server listen`.
    Listen {
        backlog: i32,
    },
    /// connect(2) to the server, or to another port of the server host.
    Connect {
        port: Option<u16>,
    },
    Accept,
    Send {
        data: Payload,
    },
    Recv {
        max: usize,
    },
    Close,
    Shutdown {
        how: How,
    },
    /// SO_LINGER: `linger 0` is {1, 0} (abortive close), `linger off` clears it.
    Linger {
        seconds: Option<i32>,
    },
    /// SIGKILL of the actor's process: the kernel closes its sockets as after a crash.
    Kill,
    /// TCP_USER_TIMEOUT: how long sent data may stay unacknowledged before ETIMEDOUT.
    UserTimeout {
        ms: u32,
    },
    /// SO_KEEPALIVE first, as applications set it, then TCP_KEEPINTVL, TCP_KEEPCNT and
    /// TCP_KEEPIDLE (seconds, seconds, probes; idle last, so that a first probe it sends at
    /// once is followed by the next at the new interval).
    Keepalive {
        idle: u32,
        interval: u32,
        count: u32,
    },
    /// TCP_NODELAY.
    Nodelay,
    /// SO_RCVBUF / SO_SNDBUF in bytes.
    Rcvbuf {
        bytes: u32,
    },
    Sndbuf {
        bytes: u32,
    },
    /// SOCK_DESTROY of the actor's own connection, as `ss -K` does: ECONNABORTED locally.
    Abort,
}

/// What a call needs to exist before it can be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    /// A listening socket (the server's).
    Listener,
    /// A connection of this actor.
    Connection,
    /// A connection, or else the listener (options that accepted sockets inherit, close).
    ConnectionOrListener,
}

impl Op {
    /// The op's word: `send`, `user-timeout`.
    pub fn word(&self) -> &'static str {
        match self {
            Op::Listen { .. } => "listen",
            Op::Connect { .. } => "connect",
            Op::Accept => "accept",
            Op::Send { .. } => "send",
            Op::Recv { .. } => "recv",
            Op::Close => "close",
            Op::Shutdown { .. } => "shutdown",
            Op::Linger { .. } => "linger",
            Op::Kill => "kill",
            Op::UserTimeout { .. } => "user-timeout",
            Op::Keepalive { .. } => "keepalive",
            Op::Nodelay => "nodelay",
            Op::Rcvbuf { .. } => "rcvbuf",
            Op::Sndbuf { .. } => "sndbuf",
            Op::Abort => "abort",
        }
    }

    /// The op as written in a scenario (`send 5`, `recv`, `shutdown wr`).
    pub fn text(&self) -> String {
        match self {
            Op::Listen { backlog } => format!("listen {backlog}"),
            Op::Connect { port: None } => "connect".into(),
            Op::Connect { port: Some(p) } => format!("connect {p}"),
            Op::Send { data } => format!("send {}", data.len()),
            Op::Recv { max } if *max == DEFAULT_RECV => "recv".into(),
            Op::Recv { max } => format!("recv {max}"),
            Op::Shutdown { how } => format!("shutdown {}", how.name()),
            Op::Linger { seconds: None } => "linger off".into(),
            Op::Linger { seconds: Some(s) } => format!("linger {s}"),
            Op::UserTimeout { ms } => format!("user-timeout {ms}ms"),
            Op::Keepalive {
                idle,
                interval,
                count,
            } => format!("keepalive {idle} {interval} {count}"),
            Op::Rcvbuf { bytes } => format!("rcvbuf {bytes}"),
            Op::Sndbuf { bytes } => format!("sndbuf {bytes}"),
            other => other.word().into(),
        }
    }

    /// Whether the call can wait (and so be reported `blocked`).
    pub fn may_block(&self) -> bool {
        matches!(
            self,
            Op::Connect { .. } | Op::Accept | Op::Send { .. } | Op::Recv { .. }
        )
    }

    /// What the actor must hold for the call to be possible.
    pub fn needs(&self) -> Needs {
        match self {
            Op::Listen { .. } | Op::Connect { .. } | Op::Kill => Needs::Nothing,
            Op::Accept => Needs::Listener,
            Op::Send { .. }
            | Op::Recv { .. }
            | Op::Shutdown { .. }
            | Op::UserTimeout { .. }
            | Op::Abort => Needs::Connection,
            Op::Close
            | Op::Linger { .. }
            | Op::Keepalive { .. }
            | Op::Nodelay
            | Op::Rcvbuf { .. }
            | Op::Sndbuf { .. } => Needs::ConnectionOrListener,
        }
    }
}

pub const DEFAULT_RECV: usize = 65536;

/// A host of the sandbox, for host-level steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Host {
    Client,
    Router,
    Server,
}

impl Host {
    pub fn name(self) -> &'static str {
        match self {
            Host::Client => "client",
            Host::Router => "router",
            Host::Server => "server",
        }
    }
}

impl From<Actor> for Host {
    fn from(a: Actor) -> Host {
        match a {
            Actor::Client => Host::Client,
            Actor::Server => Host::Server,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which packets a router fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    ClientToServer,
    ServerToClient,
    Both,
}

/// A fault on the path, in the router's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum NetOp {
    /// Silently drop the packets, from this step on (nftables `drop`); with `flags`, only
    /// segments whose flags are exactly these (`.` = a pure ACK, as a handshake's last one);
    /// with `after`, only once that many more bytes (IP packets, headers included) have passed
    /// (nftables `quota over`).
    Drop {
        direction: Direction,
        flags: Option<String>,
        after: Option<u64>,
    },
    /// Answer the packets with a forged TCP RST, as a firewall does (`reject with tcp reset`).
    Reset { direction: Direction },
    /// Answer the packets with ICMP host-unreachable, or port-unreachable with `port`.
    Unreachable { direction: Direction, port: bool },
    /// Remove every fault.
    Restore,
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StepKind {
    /// A call by an actor, on its newest connection, or on connection `conn` (`client#2`).
    Call {
        actor: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn: Option<u32>,
        #[serde(flatten)]
        op: Op,
    },
    Sleep {
        #[serde(with = "ms")]
        duration: Duration,
    },
    Net {
        #[serde(flatten)]
        op: NetOp,
    },
    /// A namespaced sysctl, written inside that host's namespace only.
    Sysctl {
        host: Host,
        key: String,
        value: String,
    },
    /// The host forgets every connection, as after a reboot: its sockets are destroyed while
    /// the router drops what they send (the RSTs tcp_abort() emits never arrive).
    Reboot { host: Actor },
    /// `client exec curl -sS http://{server}/`: starts the user's program in that host's
    /// namespace without waiting for it. Placeholders are replaced when the run knows the
    /// addresses.
    Exec { actor: Actor, argv: Vec<String> },
    /// `wait client [TIMEOUT]`: until that side's program exits (None: its time limit).
    Wait {
        actor: Actor,
        #[serde(default, with = "opt_ms", skip_serializing_if = "Option::is_none")]
        timeout: Option<Duration>,
    },
    /// `wait server listening [TIMEOUT]`: until the server host listens on the scenario's port.
    WaitListening {
        #[serde(default, with = "opt_ms", skip_serializing_if = "Option::is_none")]
        timeout: Option<Duration>,
    },
    /// A signal to that side's program and its process group: `server kill` (KILL),
    /// `server stop`, `server cont`, `client signal TERM`.
    Signal { actor: Actor, signal: Signal },
}

/// The signals a scenario may send to a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Signal {
    Kill,
    Term,
    Int,
    Hup,
    Stop,
    Cont,
    Usr1,
    Usr2,
    Quit,
}

impl Signal {
    pub const ALL: [Signal; 9] = [
        Signal::Kill,
        Signal::Term,
        Signal::Int,
        Signal::Hup,
        Signal::Stop,
        Signal::Cont,
        Signal::Usr1,
        Signal::Usr2,
        Signal::Quit,
    ];

    /// `KILL`, as `kill -s` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Kill => "KILL",
            Signal::Term => "TERM",
            Signal::Int => "INT",
            Signal::Hup => "HUP",
            Signal::Stop => "STOP",
            Signal::Cont => "CONT",
            Signal::Usr1 => "USR1",
            Signal::Usr2 => "USR2",
            Signal::Quit => "QUIT",
        }
    }

    pub fn number(self) -> i32 {
        match self {
            Signal::Kill => libc::SIGKILL,
            Signal::Term => libc::SIGTERM,
            Signal::Int => libc::SIGINT,
            Signal::Hup => libc::SIGHUP,
            Signal::Stop => libc::SIGSTOP,
            Signal::Cont => libc::SIGCONT,
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Usr2 => libc::SIGUSR2,
            Signal::Quit => libc::SIGQUIT,
        }
    }

    /// `TERM`, `SIGTERM` or `term`.
    pub fn parse(s: &str) -> Option<Signal> {
        let u = s.to_ascii_uppercase();
        let u = u.strip_prefix("SIG").unwrap_or(&u);
        Signal::ALL.into_iter().find(|x| x.name() == u)
    }

    /// `SIGTERM` for a signal number, or `signal N`.
    pub fn name_of(n: i32) -> String {
        Signal::ALL
            .into_iter()
            .find(|x| x.number() == n)
            .map(|x| format!("SIG{}", x.name()))
            .or_else(|| {
                [
                    (libc::SIGSEGV, "SIGSEGV"),
                    (libc::SIGABRT, "SIGABRT"),
                    (libc::SIGPIPE, "SIGPIPE"),
                    (libc::SIGBUS, "SIGBUS"),
                    (libc::SIGFPE, "SIGFPE"),
                    (libc::SIGILL, "SIGILL"),
                    (libc::SIGALRM, "SIGALRM"),
                ]
                .into_iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
            })
            .unwrap_or_else(|| format!("signal {n}"))
    }
}

/// Optional durations as milliseconds (f64) in JSON.
pub mod opt_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64() * 1000.0),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let v = Option::<f64>::deserialize(d)?;
        v.map(|v| Duration::try_from_secs_f64(v / 1000.0).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Durations as milliseconds (f64) in JSON.
pub mod ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v / 1000.0).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// 1-based line in the scenario file.
    pub line: usize,
    /// The line as written, without comment.
    pub text: String,
    #[serde(flatten)]
    pub kind: StepKind,
}

/// What an `expect` line checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "kebab-case")]
pub enum Check {
    /// The most recent call of this op by this actor (on connection `conn`, if given)
    /// returned this (`ECONNRESET`, `EOF`, `5`, `SIGPIPE`). A call reported `blocked` is
    /// judged by what it finally returned, when it did.
    Call {
        actor: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn: Option<u32>,
        op: String,
        result: String,
    },
    /// The actor's end (of its newest connection, or of `conn`) after the step (None: no
    /// socket).
    State {
        actor: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn: Option<u32>,
        state: Option<TcpState>,
    },
    /// A packet from `from` with at least these flags during the step.
    Packet { from: Actor, flags: String },
    /// The kernel sent a RST with this reason during the step.
    ResetReason { reason: String },
    /// `expect client exit = 56` / `= SIGKILL`: how that side's program ended, by the end of
    /// the step.
    Exit { actor: Actor, status: String },
    /// `expect client call recv = ECONNRESET`: some traced call of that side's program on a
    /// connection of the scenario, of this family (`recv` = read, readv, recvfrom, recvmsg;
    /// `send` = write, writev, sendto, sendmsg, sendfile), returned this by the end of the
    /// step.
    ProgramCall {
        actor: Actor,
        op: String,
        result: String,
    },
}

/// `on kernel >= 6.10` / `on kernel < 6.10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub at_least: bool,
    pub major: u32,
    pub minor: u32,
}

impl Scope {
    /// Whether a kernel release is in scope; None when it cannot be read.
    pub fn contains(&self, kernel: &str) -> Option<bool> {
        let mut it = kernel.split(|c: char| !c.is_ascii_digit());
        let major: u32 = it.next()?.parse().ok()?;
        let minor: u32 = it.next()?.parse().ok()?;
        let ge = (major, minor) >= (self.major, self.minor);
        Some(ge == self.at_least)
    }
}

/// An `expect` line: a check of the step just before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation {
    pub line: usize,
    pub text: String,
    /// Index of the step it follows.
    pub step: usize,
    #[serde(flatten)]
    pub check: Check,
    pub scope: Option<Scope>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Quiet time (no packet, no state change) that ends each step.
    #[serde(with = "ms")]
    pub settle: Duration,
    /// How long a call may wait before it is reported as `blocked`.
    #[serde(with = "ms")]
    pub blocked_after: Duration,
    pub steps: Vec<Step>,
    /// `expect` lines, each checking the step before it.
    pub expectations: Vec<Expectation>,
    /// Run over IPv6 (`ipv6` at the top) instead of IPv4.
    pub ipv6: bool,
    /// How long a program (`exec`) may run before the lab kills it (`program-timeout 30s`).
    #[serde(default = "default_program_timeout", with = "ms")]
    pub program_timeout: Duration,
}

fn default_program_timeout() -> Duration {
    DEFAULT_PROGRAM_TIMEOUT
}

/// A program's time limit unless the scenario sets `program-timeout`.
pub const DEFAULT_PROGRAM_TIMEOUT: Duration = Duration::from_secs(30);

impl Scenario {
    /// Whether the scenario sets up its own listener (no implicit `listen 128`).
    pub fn listens_itself(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s.kind,
                StepKind::Call {
                    actor: Actor::Server,
                    op: Op::Listen { .. },
                    ..
                } | StepKind::Exec {
                    actor: Actor::Server,
                    ..
                }
            )
        })
    }

    /// Whether one side runs a program of the user's (`exec`).
    pub fn runs_programs(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.kind, StepKind::Exec { .. }))
    }
}

/// The default settle time: longer than Linux's delayed-ACK timer (TCP_DELACK_MIN, 40 ms).
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(50);
pub const DEFAULT_BLOCKED_AFTER: Duration = Duration::from_millis(100);
/// The most steps a scenario may have: at the default settle time a step takes about 60 ms,
/// so this is a run of about ten minutes.
pub const MAX_STEPS: usize = 10_000;
