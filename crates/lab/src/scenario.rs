//! The scenario language: one step per line, `ACTOR OP ARGS`.
//!
//! ```text
//! # comment
//! name server-closes-early
//! description The server closes right after reading; the client keeps writing.
//! settle 50ms
//!
//! client connect
//! server accept
//! client send 5
//! client send "GET / HTTP/1.0\r\n\r\n"
//! server recv
//! server close
//! sleep 50ms
//! ```
//!
//! Parsing is pure; errors name the line and column.

use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// Who performs a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    Client,
    Server,
}

impl Actor {
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
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// shutdown(2)'s `how`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    Rd,
    Wr,
    Rdwr,
}

/// An operation an actor performs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
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
        data: Vec<u8>,
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
    /// SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL (seconds) and TCP_KEEPCNT.
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

/// A host of the sandbox, for host-level steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Host {
    Client,
    Router,
    Server,
}

/// Which packets a router fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    ClientToServer,
    ServerToClient,
    Both,
}

/// A fault on the path, in the router's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

impl Op {
    /// The op as written in a scenario (`send 5`, `recv`, `shutdown wr`).
    pub fn text(&self) -> String {
        match self {
            Op::Listen { backlog } => format!("listen {backlog}"),
            Op::Connect { port: None } => "connect".into(),
            Op::Connect { port: Some(p) } => format!("connect {p}"),
            Op::Accept => "accept".into(),
            Op::Send { data } => format!("send {}", data.len()),
            Op::Recv { max } if *max == DEFAULT_RECV => "recv".into(),
            Op::Recv { max } => format!("recv {max}"),
            Op::Close => "close".into(),
            Op::Shutdown { how } => format!(
                "shutdown {}",
                match how {
                    How::Rd => "rd",
                    How::Wr => "wr",
                    How::Rdwr => "rdwr",
                }
            ),
            Op::Linger { seconds: None } => "linger off".into(),
            Op::Linger { seconds: Some(s) } => format!("linger {s}"),
            Op::Kill => "kill".into(),
            Op::UserTimeout { ms } => format!("user-timeout {ms}ms"),
            Op::Keepalive {
                idle,
                interval,
                count,
            } => format!("keepalive {idle} {interval} {count}"),
            Op::Nodelay => "nodelay".into(),
            Op::Rcvbuf { bytes } => format!("rcvbuf {bytes}"),
            Op::Sndbuf { bytes } => format!("sndbuf {bytes}"),
            Op::Abort => "abort".into(),
        }
    }
}

pub const DEFAULT_RECV: usize = 65536;

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StepKind {
    Call {
        actor: Actor,
        #[serde(flatten)]
        op: Op,
    },
    Sleep {
        #[serde(serialize_with = "ser_ms")]
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
    /// The host forgets every connection without sending anything (its sockets are destroyed
    /// while the router drops what they send), as after a reboot.
    Reboot { host: Actor },
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// 1-based line in the scenario file.
    pub line: usize,
    /// The line as written, without comment.
    pub text: String,
    #[serde(flatten)]
    pub kind: StepKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Quiet time (no packet, no state change) that ends each step.
    #[serde(serialize_with = "ser_ms")]
    pub settle: Duration,
    /// How long a call may wait before it is reported as `blocked`.
    #[serde(serialize_with = "ser_ms")]
    pub blocked_after: Duration,
    pub steps: Vec<Step>,
    /// `expect` lines, each checking the step before it.
    pub expectations: Vec<crate::expect::Expectation>,
    /// Run over IPv6 (`ipv6` at the top) instead of IPv4.
    pub ipv6: bool,
}

impl Scenario {
    /// Whether the scenario sets up its own listener (no implicit `listen 128`).
    pub fn listens_itself(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s.kind,
                StepKind::Call {
                    actor: Actor::Server,
                    op: Op::Listen { .. }
                }
            )
        })
    }
}

/// A syntax error, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The default settle time: longer than Linux's delayed-ACK timer (TCP_DELACK_MIN, 40 ms).
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(50);
pub const DEFAULT_BLOCKED_AFTER: Duration = Duration::from_millis(100);

const OPS: &[&str] = &[
    "listen",
    "connect",
    "accept",
    "send",
    "recv",
    "close",
    "shutdown",
    "linger",
    "kill",
    "user-timeout",
    "keepalive",
    "nodelay",
    "rcvbuf",
    "sndbuf",
    "abort",
];

/// A word of a line and the column (1-based, in characters) where it starts.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    column: usize,
    quoted: bool,
}

fn err(line: usize, column: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        column,
        message: message.into(),
    }
}

/// Splits a line into words; `"..."` is one word with C escapes; `#` outside quotes starts a
/// comment.
fn split(line: &str, lineno: usize) -> Result<Vec<Word>, ParseError> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            break;
        }
        let start = i + 1;
        if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                let Some(&c) = chars.get(i) else {
                    return Err(err(lineno, start, "unterminated string"));
                };
                i += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        let Some(&e) = chars.get(i) else {
                            return Err(err(lineno, i, "unterminated escape"));
                        };
                        i += 1;
                        match e {
                            'n' => s.push('\n'),
                            'r' => s.push('\r'),
                            't' => s.push('\t'),
                            '0' => s.push('\0'),
                            '\\' => s.push('\\'),
                            '"' => s.push('"'),
                            'x' => {
                                let hex: String = chars.iter().skip(i).take(2).collect();
                                let v = u8::from_str_radix(&hex, 16)
                                    .map_err(|_| err(lineno, i, "\\x needs two hex digits"))?;
                                s.push(char::from(v));
                                i += 2;
                            }
                            other => {
                                return Err(err(lineno, i, format!("unknown escape \\{other}")));
                            }
                        }
                    }
                    c => s.push(c),
                }
            }
            words.push(Word {
                text: s,
                column: start,
                quoted: true,
            });
        } else {
            let mut s = String::new();
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '#' {
                s.push(chars[i]);
                i += 1;
            }
            words.push(Word {
                text: s,
                column: start,
                quoted: false,
            });
        }
    }
    Ok(words)
}

/// Parses `50ms`, `1s`, `1.5s`, `200us`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let v: f64 = num
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
    let secs = match unit {
        "us" => v / 1e6,
        "ms" => v / 1e3,
        "s" => v,
        _ => return None,
    };
    (secs <= 3600.0).then(|| Duration::from_secs_f64(secs))
}

pub fn parse(src: &str) -> Result<Scenario, ParseError> {
    let mut sc = Scenario {
        name: String::new(),
        description: String::new(),
        settle: DEFAULT_SETTLE,
        blocked_after: DEFAULT_BLOCKED_AFTER,
        steps: Vec::new(),
        expectations: Vec::new(),
        ipv6: false,
    };
    for (idx, raw) in src.lines().enumerate() {
        let lineno = idx + 1;
        let words = split(raw, lineno)?;
        let Some(first) = words.first() else { continue };
        let rest_text = |from: usize| -> String {
            words[from..]
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let duration_arg = |what: &str| -> Result<Duration, ParseError> {
            let w = words.get(1).ok_or_else(|| {
                err(
                    lineno,
                    first.column + first.text.len() + 1,
                    format!("{what} needs a duration, e.g. 50ms"),
                )
            })?;
            parse_duration(&w.text).ok_or_else(|| {
                err(
                    lineno,
                    w.column,
                    format!("bad duration {:?}: use e.g. 50ms, 1s, 200us", w.text),
                )
            })
        };
        match first.text.as_str() {
            "name" => sc.name = rest_text(1),
            "ipv6" if words.len() == 1 => {
                if !sc.steps.is_empty() {
                    return Err(err(
                        lineno,
                        first.column,
                        "ipv6 goes at the top, before the steps",
                    ));
                }
                sc.ipv6 = true;
            }
            "description" => sc.description = rest_text(1),
            "settle" => sc.settle = duration_arg("settle")?,
            "blocked-after" => sc.blocked_after = duration_arg("blocked-after")?,
            "sleep" => {
                let duration = duration_arg("sleep")?;
                sc.steps.push(Step {
                    line: lineno,
                    text: raw.split('#').next().unwrap_or("").trim().to_string(),
                    kind: StepKind::Sleep { duration },
                });
            }
            "expect" => {
                let rest: Vec<&str> = words[1..].iter().map(|w| w.text.as_str()).collect();
                let (check, scope) = crate::expect::parse(&rest).map_err(|(i, m)| {
                    let col = words.get(i + 1).map_or(first.column, |w| w.column);
                    err(lineno, col, m)
                })?;
                let step = sc.steps.len().checked_sub(1).ok_or_else(|| {
                    err(
                        lineno,
                        first.column,
                        "expect checks the step before it; there is none",
                    )
                })?;
                sc.expectations.push(crate::expect::Expectation {
                    line: lineno,
                    text: raw.split('#').next().unwrap_or("").trim().to_string(),
                    step,
                    check,
                    scope,
                });
            }
            "sysctl" => {
                let host = match words.get(1).map(|w| w.text.as_str()) {
                    Some("client") => Host::Client,
                    Some("server") => Host::Server,
                    Some("router") => Host::Router,
                    _ => {
                        let col = words.get(1).map_or(first.column + 7, |w| w.column);
                        return Err(err(
                            lineno,
                            col,
                            "sysctl needs a host: client, server or router",
                        ));
                    }
                };
                let kv = words
                    .get(2)
                    .filter(|_| words.len() == 3)
                    .ok_or_else(|| err(lineno, first.column, "sysctl HOST KEY=VALUE"))?;
                let (key, value) = kv
                    .text
                    .split_once('=')
                    .filter(|(k, v)| k.starts_with("net.") && !v.is_empty())
                    .ok_or_else(|| {
                        err(
                            lineno,
                            kv.column,
                            "only network sysctls, as net.ipv4.KEY=VALUE, are per namespace",
                        )
                    })?;
                sc.steps.push(Step {
                    line: lineno,
                    text: raw.split('#').next().unwrap_or("").trim().to_string(),
                    kind: StepKind::Sysctl {
                        host,
                        key: key.into(),
                        value: value.into(),
                    },
                });
            }
            "host" => {
                let host = match (
                    words.get(1).map(|w| w.text.as_str()),
                    words.get(2).map(|w| w.text.as_str()),
                ) {
                    (Some("reboot"), Some("server")) => Actor::Server,
                    (Some("reboot"), Some("client")) => Actor::Client,
                    _ => return Err(err(lineno, first.column, "host reboot client|server")),
                };
                if let Some(x) = words.get(3) {
                    return Err(err(lineno, x.column, format!("unexpected {:?}", x.text)));
                }
                sc.steps.push(Step {
                    line: lineno,
                    text: raw.split('#').next().unwrap_or("").trim().to_string(),
                    kind: StepKind::Reboot { host },
                });
            }
            "net" => {
                let op = parse_net(&words, lineno)?;
                sc.steps.push(Step {
                    line: lineno,
                    text: raw.split('#').next().unwrap_or("").trim().to_string(),
                    kind: StepKind::Net { op },
                });
            }
            "client" | "server" => {
                let actor = if first.text == "client" {
                    Actor::Client
                } else {
                    Actor::Server
                };
                let op = parse_op(actor, &words, lineno)?;
                sc.steps.push(Step {
                    line: lineno,
                    text: raw.split('#').next().unwrap_or("").trim().to_string(),
                    kind: StepKind::Call { actor, op },
                });
            }
            other => {
                return Err(err(
                    lineno,
                    first.column,
                    format!(
                        "unknown word {other:?}: a line starts with client, server, net, sysctl, host, sleep, expect, ipv6, name, description, settle or blocked-after"
                    ),
                ));
            }
        }
    }
    if sc.steps.is_empty() {
        return Err(err(1, 1, "the scenario has no steps"));
    }
    Ok(sc)
}

fn parse_op(actor: Actor, words: &[Word], lineno: usize) -> Result<Op, ParseError> {
    let Some(opw) = words.get(1) else {
        let w = &words[0];
        return Err(err(
            lineno,
            w.column + w.text.len() + 1,
            format!("{} needs an operation: {}", actor, OPS.join(", ")),
        ));
    };
    let arg = words.get(2);
    let nargs = match opw.text.as_str() {
        "accept" | "close" | "kill" | "nodelay" | "abort" => 0,
        "keepalive" => 3,
        _ => 1,
    };
    let extra = words.get(2 + nargs);
    if let Some(x) = extra {
        return Err(err(
            lineno,
            x.column,
            format!("unexpected {:?} after {}", x.text, opw.text),
        ));
    }
    let num = |w: &Word, what: &str| -> Result<u64, ParseError> {
        w.text.parse::<u64>().map_err(|_| {
            err(
                lineno,
                w.column,
                format!("{what} must be a number, not {:?}", w.text),
            )
        })
    };
    let op = match opw.text.as_str() {
        "listen" => Op::Listen {
            backlog: match arg {
                Some(w) => i32::try_from(num(w, "backlog")?)
                    .map_err(|_| err(lineno, w.column, "backlog too large"))?,
                None => 128,
            },
        },
        "connect" => Op::Connect {
            port: match arg {
                Some(w) => Some(
                    u16::try_from(num(w, "port")?)
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| err(lineno, w.column, "port must be 1-65535"))?,
                ),
                None => None,
            },
        },
        "accept" => Op::Accept,
        "close" => Op::Close,
        "kill" => Op::Kill,
        "send" => {
            let w = arg.ok_or_else(|| {
                err(
                    lineno,
                    opw.column + 5,
                    "send needs a byte count or a \"quoted string\"",
                )
            })?;
            let data = if w.quoted {
                w.text.chars().map(|c| c as u32 as u8).collect()
            } else {
                let n = num(w, "send's byte count")?;
                if n == 0 || n > 16 << 20 {
                    return Err(err(lineno, w.column, "send sends 1 byte to 16 MiB"));
                }
                pattern(n as usize)
            };
            Op::Send { data }
        }
        "recv" => Op::Recv {
            max: match arg {
                Some(w) => {
                    let n = num(w, "recv's size")?;
                    if n == 0 || n > 16 << 20 {
                        return Err(err(lineno, w.column, "recv reads 1 byte to 16 MiB"));
                    }
                    n as usize
                }
                None => DEFAULT_RECV,
            },
        },
        "shutdown" => {
            let w =
                arg.ok_or_else(|| err(lineno, opw.column + 9, "shutdown needs rd, wr or rdwr"))?;
            Op::Shutdown {
                how: match w.text.as_str() {
                    "rd" => How::Rd,
                    "wr" => How::Wr,
                    "rdwr" => How::Rdwr,
                    _ => return Err(err(lineno, w.column, "shutdown takes rd, wr or rdwr")),
                },
            }
        }
        "linger" => {
            let w =
                arg.ok_or_else(|| err(lineno, opw.column + 7, "linger needs seconds or off"))?;
            Op::Linger {
                seconds: match w.text.as_str() {
                    "off" => None,
                    _ => Some(
                        i32::try_from(num(w, "linger's seconds")?)
                            .map_err(|_| err(lineno, w.column, "linger too large"))?,
                    ),
                },
            }
        }
        "nodelay" => Op::Nodelay,
        "abort" => Op::Abort,
        "rcvbuf" | "sndbuf" => {
            let w = arg.ok_or_else(|| {
                err(
                    lineno,
                    opw.column + 7,
                    format!("{} needs a size in bytes", opw.text),
                )
            })?;
            let bytes = u32::try_from(num(w, "size")?)
                .map_err(|_| err(lineno, w.column, "size too large"))?;
            if opw.text == "rcvbuf" {
                Op::Rcvbuf { bytes }
            } else {
                Op::Sndbuf { bytes }
            }
        }
        "keepalive" => {
            let mut v = [0u32; 3];
            for (k, slot) in v.iter_mut().enumerate() {
                let w = words.get(2 + k).ok_or_else(|| {
                    err(
                        lineno,
                        opw.column + 10,
                        "keepalive needs IDLE INTERVAL COUNT (seconds, seconds, probes)",
                    )
                })?;
                *slot = u32::try_from(num(w, "keepalive value")?)
                    .ok()
                    .filter(|x| *x >= 1)
                    .ok_or_else(|| err(lineno, w.column, "keepalive values are 1 or more"))?;
            }
            Op::Keepalive {
                idle: v[0],
                interval: v[1],
                count: v[2],
            }
        }
        "user-timeout" => {
            let w = arg.ok_or_else(|| {
                err(
                    lineno,
                    opw.column + 13,
                    "user-timeout needs a duration, e.g. 1s",
                )
            })?;
            let d = parse_duration(&w.text)
                .filter(|d| d.as_millis() >= 1 && d.as_millis() <= u128::from(u32::MAX))
                .ok_or_else(|| {
                    err(
                        lineno,
                        w.column,
                        format!("bad duration {:?}: use e.g. 500ms, 1s", w.text),
                    )
                })?;
            Op::UserTimeout {
                ms: d.as_millis() as u32,
            }
        }
        other => {
            let hint = OPS
                .iter()
                .find(|o| close_to(other, o))
                .map(|o| format!("; did you mean {o}?"))
                .unwrap_or_default();
            return Err(err(
                lineno,
                opw.column,
                format!(
                    "unknown operation {other:?}{hint} (known: {})",
                    OPS.join(", ")
                ),
            ));
        }
    };
    if matches!(op, Op::Listen { .. } | Op::Accept) && actor == Actor::Client {
        return Err(err(
            lineno,
            opw.column,
            format!("{} is a server operation", opw.text),
        ));
    }
    if matches!(op, Op::Connect { .. }) && actor == Actor::Server {
        return Err(err(lineno, opw.column, "connect is a client operation"));
    }
    Ok(op)
}

fn parse_net(words: &[Word], lineno: usize) -> Result<NetOp, ParseError> {
    let usage = "net drop DIR [flags F] [after BYTES] | net reset DIR | net unreachable DIR [host|port] | net restore (DIR: client->server, server->client, both)";
    let Some(action) = words.get(1) else {
        return Err(err(lineno, words[0].column + 4, usage));
    };
    if action.text == "restore" {
        return match words.get(2) {
            Some(x) => Err(err(lineno, x.column, format!("unexpected {:?}", x.text))),
            None => Ok(NetOp::Restore),
        };
    }
    let w = words
        .get(2)
        .ok_or_else(|| err(lineno, action.column + action.text.len() + 1, usage))?;
    let direction = match w.text.as_str() {
        "client->server" => Direction::ClientToServer,
        "server->client" => Direction::ServerToClient,
        "both" => Direction::Both,
        _ => {
            return Err(err(
                lineno,
                w.column,
                "the direction is client->server, server->client or both",
            ));
        }
    };
    let rest: Vec<&Word> = words[3..].iter().collect();
    let op = match (action.text.as_str(), rest.as_slice()) {
        ("drop", filters) => {
            let (mut flags, mut after) = (None, None);
            let mut it = filters.iter();
            while let Some(k) = it.next() {
                let v = it
                    .next()
                    .ok_or_else(|| err(lineno, k.column, format!("{} needs a value", k.text)))?;
                match k.text.as_str() {
                    "flags" if flags.is_none() => {
                        tcpmortem_wire::Flags::parse(&v.text).ok_or_else(|| {
                            err(lineno, v.column, "flags are letters S F P R U and . (ACK)")
                        })?;
                        flags = Some(v.text.clone());
                    }
                    "after" if after.is_none() => {
                        after =
                            Some(v.text.parse::<u64>().map_err(|_| {
                                err(lineno, v.column, "after takes a number of bytes")
                            })?);
                    }
                    _ => {
                        return Err(err(
                            lineno,
                            k.column,
                            format!("unexpected {:?}: {usage}", k.text),
                        ));
                    }
                }
            }
            NetOp::Drop {
                direction,
                flags,
                after,
            }
        }
        ("reset", []) => NetOp::Reset { direction },
        ("unreachable", []) => NetOp::Unreachable {
            direction,
            port: false,
        },
        ("unreachable", [k]) if k.text == "host" || k.text == "port" => NetOp::Unreachable {
            direction,
            port: k.text == "port",
        },
        ("reset" | "unreachable", [x, ..]) => {
            return Err(err(
                lineno,
                x.column,
                format!("unexpected {:?}: {usage}", x.text),
            ));
        }
        (other, _) => {
            return Err(err(
                lineno,
                action.column,
                format!("unknown net action {other:?}: {usage}"),
            ));
        }
    };
    Ok(op)
}

/// Printable, recognisable payload bytes: "abcdefghij..." repeating.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// One edit apart (a typo).
fn close_to(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()] <= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_scenario() {
        let sc = parse(
            "# the seed\nname x\ndescription the seed's case\nsettle 60ms\n\nclient connect\nserver accept\nclient send 5\nclient send \"GET /\\r\\n\"\nserver recv 100\nserver close # comment\nsleep 1.5s\nserver linger 0\nclient shutdown wr\n",
        )
        .unwrap();
        assert_eq!(sc.name, "x");
        assert_eq!(sc.settle, Duration::from_millis(60));
        assert_eq!(sc.steps.len(), 9);
        assert_eq!(sc.steps[0].line, 6);
        assert_eq!(
            sc.steps[3].kind,
            StepKind::Call {
                actor: Actor::Client,
                op: Op::Send {
                    data: b"GET /\r\n".to_vec()
                }
            }
        );
        assert_eq!(
            sc.steps[2].kind,
            StepKind::Call {
                actor: Actor::Client,
                op: Op::Send {
                    data: b"abcde".to_vec()
                }
            }
        );
        assert_eq!(sc.steps[5].text, "server close");
        assert_eq!(
            sc.steps[6].kind,
            StepKind::Sleep {
                duration: Duration::from_millis(1500)
            }
        );
        assert!(!sc.listens_itself());
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let e = parse("client connect\nserver acept\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 8));
        assert!(e.message.contains("did you mean accept"), "{}", e.message);
        let e = parse("client send \"abc\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 13));
        let e = parse("  sleep 5 parsecs").unwrap_err();
        assert_eq!((e.line, e.column), (1, 9));
        let e = parse("client accept").unwrap_err();
        assert!(e.message.contains("server operation"));
        let e = parse("bogus line").unwrap_err();
        assert_eq!((e.line, e.column), (1, 1));
        let e = parse("server close now").unwrap_err();
        assert_eq!((e.line, e.column), (1, 14));
        assert!(parse("# nothing\n").is_err());
    }

    #[test]
    fn faults_and_user_timeout() {
        let sc =
            parse("client connect\nclient user-timeout 1s\nnet drop client->server\nnet restore\n")
                .unwrap();
        assert_eq!(
            sc.steps[1].kind,
            StepKind::Call {
                actor: Actor::Client,
                op: Op::UserTimeout { ms: 1000 }
            }
        );
        assert_eq!(
            sc.steps[2].kind,
            StepKind::Net {
                op: NetOp::Drop {
                    direction: Direction::ClientToServer,
                    flags: None,
                    after: None
                }
            }
        );
        assert_eq!(sc.steps[3].kind, StepKind::Net { op: NetOp::Restore });
        let e = parse("net drop sideways").unwrap_err();
        assert_eq!((e.line, e.column), (1, 10));
        let sc = parse("client connect\nnet drop client->server flags .\nnet reset both\nnet unreachable client->server port\nsysctl server net.ipv4.tcp_abort_on_overflow=1\nhost reboot server\nclient keepalive 1 1 2\nclient abort\n").unwrap();
        assert_eq!(
            sc.steps[1].kind,
            StepKind::Net {
                op: NetOp::Drop {
                    direction: Direction::ClientToServer,
                    flags: Some(".".into()),
                    after: None
                }
            }
        );
        assert_eq!(
            sc.steps[3].kind,
            StepKind::Net {
                op: NetOp::Unreachable {
                    direction: Direction::ClientToServer,
                    port: true
                }
            }
        );
        assert!(matches!(
            sc.steps[4].kind,
            StepKind::Sysctl {
                host: Host::Server,
                ..
            }
        ));
        assert_eq!(
            sc.steps[5].kind,
            StepKind::Reboot {
                host: Actor::Server
            }
        );
        assert_eq!(
            sc.steps[6].kind,
            StepKind::Call {
                actor: Actor::Client,
                op: Op::Keepalive {
                    idle: 1,
                    interval: 1,
                    count: 2
                }
            }
        );
        let sc = parse("net drop both after 1000 flags P.\n").unwrap();
        assert_eq!(
            sc.steps[0].kind,
            StepKind::Net {
                op: NetOp::Drop {
                    direction: Direction::Both,
                    flags: Some("P.".into()),
                    after: Some(1000)
                }
            }
        );
        assert!(parse("net drop both after lots\n").is_err());
        let e = parse("sysctl server kernel.panic=1\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 15));
        let e = parse("client keepalive 1 1\n").unwrap_err();
        assert!(e.message.contains("IDLE INTERVAL COUNT"), "{}", e.message);
    }

    #[test]
    fn expectations_refer_to_the_step_before() {
        let sc = parse("client connect\nexpect client state = ESTABLISHED\nserver accept\nexpect packet client->server S.\n").unwrap();
        assert_eq!(sc.expectations.len(), 2);
        assert_eq!((sc.expectations[0].step, sc.expectations[1].step), (0, 1));
        let e = parse("expect client state = CLOSE_WAIT\n").unwrap_err();
        assert!(e.message.contains("there is none"));
        let e = parse("client connect\nexpect client state = CLOSED_WAIT\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 23));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("50ms"), Some(Duration::from_millis(50)));
        assert_eq!(parse_duration("200us"), Some(Duration::from_micros(200)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("1h"), None);
    }
}
