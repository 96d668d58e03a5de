//! Text to [`Scenario`]: one step per line, `ACTOR OP ARGS`.
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
//! client#1 recv          # a call on the client's first connection
//! sleep 50ms
//! expect client recv = EOF
//! ```
//!
//! Parsing is pure. Errors name the line and column, and so do steps that cannot work (a send
//! before any connection, a call by a killed actor, a check of a call that never happened):
//! they are refused here rather than halfway through a run.

use crate::scenario::{
    Actor, Check, DEFAULT_BLOCKED_AFTER, DEFAULT_PROGRAM_TIMEOUT, DEFAULT_RECV, DEFAULT_SETTLE,
    Direction, Expectation, Host, How, MAX_STEPS, Needs, NetOp, Op, Payload, Scenario, Scope,
    Signal, Step, StepKind,
};
use std::time::Duration;
use tcpmortem_core::{RstReason, TcpState};

/// A syntax error, or a step that cannot work, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

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
    /// A quoted word's bytes (escapes resolved, other characters as UTF-8).
    bytes: Vec<u8>,
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

/// Splits a line into words; `"..."` is one word with C escapes; `#` at the start of a word
/// (outside quotes) starts a comment, so that `client#2` is one word.
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
            let mut b: Vec<u8> = Vec::new();
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
                            'n' => b.push(b'\n'),
                            'r' => b.push(b'\r'),
                            't' => b.push(b'\t'),
                            '0' => b.push(0),
                            '\\' => b.push(b'\\'),
                            '"' => b.push(b'"'),
                            'x' => {
                                let hex: String = chars.iter().skip(i).take(2).collect();
                                let v = u8::from_str_radix(&hex, 16)
                                    .ok()
                                    .filter(|_| hex.len() == 2)
                                    .ok_or_else(|| err(lineno, i, "\\x needs two hex digits"))?;
                                b.push(v);
                                i += 2;
                            }
                            other => {
                                return Err(err(lineno, i, format!("unknown escape \\{other}")));
                            }
                        }
                    }
                    c => {
                        let mut buf = [0u8; 4];
                        b.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            words.push(Word {
                text: String::from_utf8_lossy(&b).into_owned(),
                bytes: b,
                column: start,
                quoted: true,
            });
        } else {
            let mut s = String::new();
            while i < chars.len() && !chars[i].is_whitespace() {
                s.push(chars[i]);
                i += 1;
            }
            words.push(Word {
                text: s,
                bytes: Vec::new(),
                column: start,
                quoted: false,
            });
        }
    }
    Ok(words)
}

/// The line as written, without its comment.
fn step_text(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| {
            if w.quoted {
                format!("{:?}", w.text)
            } else {
                w.text.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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

/// `client`, `server`, `client#2` (connection numbers start at 1).
fn party(w: &Word, lineno: usize) -> Result<Option<(Actor, Option<u32>)>, ParseError> {
    let (name, conn) = match w.text.split_once('#') {
        Some((n, c)) => (n, Some(c)),
        None => (w.text.as_str(), None),
    };
    let actor = match name {
        "client" => Actor::Client,
        "server" => Actor::Server,
        _ => return Ok(None),
    };
    let conn = match conn {
        None => None,
        Some(c) => Some(c.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            err(
                lineno,
                w.column + name.len() + 1,
                format!("{name}#N takes a connection number from 1, not {c:?}"),
            )
        })?),
    };
    Ok(Some((actor, conn)))
}

/// What each actor holds at a point of the scenario, to refuse steps that cannot work.
#[derive(Debug, Default)]
struct Model {
    /// Connections the client has made (each `client connect`).
    connects: u32,
    /// Connections the server has accepted.
    accepts: u32,
    /// The server listens (the implicit `listen 128`, or its own `server listen`).
    listening: bool,
    /// Line where each actor was killed.
    killed: [Option<usize>; 2],
    /// Calls made so far, as (actor, conn, op word), for `expect` lines.
    calls: Vec<(Actor, Option<u32>, &'static str)>,
    /// Line of each side's `exec`: that side is the user's program from then on.
    program: [Option<usize>; 2],
}

impl Model {
    fn check(
        &mut self,
        actor: Actor,
        conn: Option<u32>,
        op: &Op,
        lineno: usize,
        column: usize,
    ) -> Result<(), ParseError> {
        let who = actor.label(conn);
        let idx = actor as usize;
        if let Some(line) = self.program[idx] {
            return Err(err(
                lineno,
                column,
                format!(
                    "the {actor} is the program started at line {line}: it makes its own calls, so `{who} {}` cannot be scripted (use wait, kill, stop, cont or signal)",
                    op.text()
                ),
            ));
        }
        if let Some(line) = self.killed[idx] {
            return Err(err(
                lineno,
                column,
                format!(
                    "the {actor} was killed at line {line}; it cannot {}",
                    op.text()
                ),
            ));
        }
        if let Some(n) = conn {
            if self.connects < n {
                return Err(err(
                    lineno,
                    column,
                    format!(
                        "{who}: there is no connection #{n} yet ({} `client connect` before this line)",
                        self.connects
                    ),
                ));
            }
            if matches!(
                op,
                Op::Connect { .. } | Op::Listen { .. } | Op::Accept | Op::Kill
            ) {
                return Err(err(
                    lineno,
                    column,
                    format!(
                        "{} acts on the {actor}, not on a connection: write `{actor} {}`",
                        op.word(),
                        op.text()
                    ),
                ));
            }
        }
        let (has_conn, has_listener) = match actor {
            Actor::Client => (self.connects > 0, false),
            Actor::Server => (self.accepts > 0, self.listening),
        };
        let refuse = |what: &str| {
            Err(err(
                lineno,
                column,
                format!("`{who} {}` needs {what}", op.text()),
            ))
        };
        match op.needs() {
            Needs::Nothing => {}
            Needs::Listener if !has_listener => {
                return refuse("a listening socket: there is no `server listen` before it");
            }
            Needs::Connection if !has_conn => {
                return refuse(match actor {
                    Actor::Client => "a connection: there is no `client connect` before it",
                    Actor::Server => "a connection: there is no `server accept` before it",
                });
            }
            Needs::ConnectionOrListener if !has_conn && !has_listener => {
                return refuse(match actor {
                    Actor::Client => "a socket: there is no `client connect` before it",
                    Actor::Server => {
                        "a socket: there is no listener or accepted connection before it"
                    }
                });
            }
            _ => {}
        }
        match op {
            Op::Connect { .. } => self.connects += 1,
            Op::Accept => self.accepts += 1,
            Op::Listen { .. } => self.listening = true,
            Op::Kill => self.killed[idx] = Some(lineno),
            // With no connection, close closes the listener.
            Op::Close if actor == Actor::Server && !has_conn => self.listening = false,
            _ => {}
        }
        self.calls.push((actor, conn, op.word()));
        Ok(())
    }
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
        program_timeout: DEFAULT_PROGRAM_TIMEOUT,
    };
    // Whether the scenario has its own `server listen`: otherwise the server listens with
    // 128 before the first step.
    let own_listen = src.lines().any(|l| {
        let mut w = l.split_whitespace();
        w.next() == Some("server") && matches!(w.next(), Some("listen" | "exec"))
    });
    let mut model = Model {
        listening: !own_listen,
        ..Model::default()
    };
    for (idx, raw) in src.lines().enumerate() {
        let lineno = idx + 1;
        let words = if is_exec(raw) {
            exec_words(raw, lineno)?
        } else {
            split(raw, lineno)?
        };
        let Some(first) = words.first() else { continue };
        let is_step = matches!(
            first.text.as_str(),
            "sleep" | "sysctl" | "host" | "net" | "wait"
        ) || party(first, lineno)?.is_some();
        if is_step && sc.steps.len() == MAX_STEPS {
            return Err(err(
                lineno,
                first.column,
                format!(
                    "a scenario has at most {MAX_STEPS} steps; this would be step {}",
                    MAX_STEPS + 1
                ),
            ));
        }
        let rest_text = |from: usize| -> String {
            words[from..]
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let duration_arg = |what: &str| -> Result<Duration, ParseError> {
            if let Some(x) = words.get(2) {
                return Err(err(lineno, x.column, format!("unexpected {:?}", x.text)));
            }
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
        let step = |kind: StepKind| Step {
            line: lineno,
            text: step_text(&words),
            kind,
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
            "program-timeout" => sc.program_timeout = duration_arg("program-timeout")?,
            "wait" => {
                let kind = parse_wait(&words, lineno, &model)?;
                sc.steps.push(step(kind));
            }
            "sleep" => {
                let duration = duration_arg("sleep")?;
                sc.steps.push(step(StepKind::Sleep { duration }));
            }
            "expect" => {
                let (check, scope) = parse_expect(&words, lineno)?;
                let step = sc.steps.len().checked_sub(1).ok_or_else(|| {
                    err(
                        lineno,
                        first.column,
                        "expect checks the step before it; there is none",
                    )
                })?;
                check_expect(&check, &model, &words, lineno)?;
                sc.expectations.push(Expectation {
                    line: lineno,
                    text: step_text(&words),
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
                sc.steps.push(step(StepKind::Sysctl {
                    host,
                    key: key.into(),
                    value: value.into(),
                }));
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
                sc.steps.push(step(StepKind::Reboot { host }));
            }
            "net" => {
                let op = parse_net(&words, lineno)?;
                sc.steps.push(step(StepKind::Net { op }));
            }
            _ => {
                let Some((actor, conn)) = party(first, lineno)? else {
                    return Err(err(
                        lineno,
                        first.column,
                        format!(
                            "unknown word {:?}: a line starts with client, server, net, sysctl, host, sleep, expect, ipv6, name, description, settle or blocked-after",
                            first.text
                        ),
                    ));
                };
                if let Some(kind) = process_step(actor, conn, raw, &words, lineno, &mut model)? {
                    sc.steps.push(step(kind));
                    continue;
                }
                let op = parse_op(actor, &words, lineno)?;
                let opw = &words[1];
                model.check(actor, conn, &op, lineno, opw.column)?;
                sc.steps.push(step(StepKind::Call { actor, conn, op }));
            }
        }
    }
    if sc.steps.is_empty() {
        return Err(err(1, 1, "the scenario has no steps"));
    }
    Ok(sc)
}

/// Parses the words of an `expect` line.
fn parse_expect(words: &[Word], lineno: usize) -> Result<(Check, Option<Scope>), ParseError> {
    let at = |i: usize| words.get(i).map_or(words[0].column, |w| w.column);
    let texts: Vec<&str> = words[1..].iter().map(|w| w.text.as_str()).collect();
    let (body, scope) = match texts.iter().position(|w| *w == "on") {
        Some(i) => (
            &texts[..i],
            Some(parse_scope(&texts[i..]).map_err(|m| err(lineno, at(i + 1), m))?),
        ),
        None => (&texts[..], None),
    };
    let usage = "expect takes: ACTOR OP = RESULT, ACTOR state = STATE, ACTOR exit = STATUS, ACTOR call OP = RESULT, packet DIR FLAGS, or kernel reset reason = REASON (ACTOR: client, server, client#N, server#N)";
    let check = match body {
        ["packet", dir, flags] => {
            let from = match *dir {
                "client->server" => Actor::Client,
                "server->client" => Actor::Server,
                _ => {
                    return Err(err(
                        lineno,
                        at(2),
                        "packet direction is client->server or server->client",
                    ));
                }
            };
            tcpmortem_wire::Flags::parse(flags).ok_or_else(|| {
                err(
                    lineno,
                    at(3),
                    format!("bad flags {flags:?}: letters S F P R U and . (ACK)"),
                )
            })?;
            Check::Packet {
                from,
                flags: flags.to_string(),
            }
        }
        ["kernel", "reset", "reason", "=", r] => {
            RstReason::parse(r)
                .ok_or_else(|| err(lineno, at(5), format!("unknown RST reason {r:?}")))?;
            Check::ResetReason {
                reason: r.to_ascii_uppercase(),
            }
        }
        [_, "exit", "=", st] => {
            let (actor, conn) =
                party(&words[1], lineno)?.ok_or_else(|| err(lineno, at(1), usage))?;
            if conn.is_some() {
                return Err(err(
                    lineno,
                    at(1),
                    "exit belongs to a program, not a connection",
                ));
            }
            let ok = st.parse::<u8>().is_ok()
                || st.strip_prefix("SIG").and_then(Signal::parse).is_some()
                || ["SIGSEGV", "SIGABRT", "SIGPIPE"].contains(st);
            if !ok {
                return Err(err(
                    lineno,
                    at(4),
                    format!("exit is a status 0-255 or a signal (SIGKILL, SIGTERM...), not {st:?}"),
                ));
            }
            Check::Exit {
                actor,
                status: st.to_string(),
            }
        }
        [_, "call", op, "=", result] => {
            let (actor, conn) =
                party(&words[1], lineno)?.ok_or_else(|| err(lineno, at(1), usage))?;
            if conn.is_some() {
                return Err(err(
                    lineno,
                    at(1),
                    "a program's calls are checked on any of the scenario's connections: write `expect client call ...`",
                ));
            }
            if !PROGRAM_OPS.contains(op) {
                return Err(err(
                    lineno,
                    at(3),
                    format!("unknown call {op:?}: one of {}", PROGRAM_OPS.join(", ")),
                ));
            }
            Check::ProgramCall {
                actor,
                op: op.to_string(),
                result: result.to_string(),
            }
        }
        [_, "state", "=", st] => {
            let (actor, conn) =
                party(&words[1], lineno)?.ok_or_else(|| err(lineno, at(1), usage))?;
            Check::State {
                actor,
                conn,
                state: match *st {
                    "-" | "none" => None,
                    s => {
                        Some(TcpState::parse(s).ok_or_else(|| {
                            err(lineno, at(4), format!("unknown TCP state {s:?}"))
                        })?)
                    }
                },
            }
        }
        [_, op, "=", result] => {
            let (actor, conn) =
                party(&words[1], lineno)?.ok_or_else(|| err(lineno, at(1), usage))?;
            if !OPS.contains(op) {
                return Err(err(lineno, at(2), format!("unknown operation {op:?}")));
            }
            Check::Call {
                actor,
                conn,
                op: op.to_string(),
                result: result.to_string(),
            }
        }
        _ => return Err(err(lineno, at(1), usage)),
    };
    Ok((check, scope))
}

/// Refuses an `expect` that can never be checked: a call that never happened before it, a
/// connection that does not exist yet.
fn check_expect(
    check: &Check,
    model: &Model,
    words: &[Word],
    lineno: usize,
) -> Result<(), ParseError> {
    let col = words.get(1).map_or(1, |w| w.column);
    match check {
        Check::Call {
            actor, conn, op, ..
        } => {
            let made = model
                .calls
                .iter()
                .any(|(a, c, o)| a == actor && *o == op && (conn.is_none() || c == conn));
            if !made {
                return Err(err(
                    lineno,
                    col,
                    format!(
                        "there is no `{} {op}` before this line to check",
                        actor.label(*conn)
                    ),
                ));
            }
        }
        Check::Exit { actor, .. } | Check::ProgramCall { actor, .. }
            if model.program[*actor as usize].is_none() =>
        {
            return Err(err(
                lineno,
                col,
                format!("there is no `{actor} exec` before this line: the {actor} runs no program"),
            ));
        }
        Check::State {
            conn: Some(n),
            actor,
            ..
        } if model.connects < *n => {
            return Err(err(
                lineno,
                col,
                format!("{}: there is no connection #{n} yet", actor.label(Some(*n))),
            ));
        }
        _ => {}
    }
    Ok(())
}

fn parse_scope(w: &[&str]) -> Result<Scope, String> {
    let bad = || "scope is `on kernel >= X.Y` or `on kernel < X.Y`".to_string();
    let [_, "kernel", op, v] = w else {
        return Err(bad());
    };
    let (ma, mi) = v.split_once('.').ok_or_else(bad)?;
    Ok(Scope {
        at_least: match *op {
            ">=" => true,
            "<" => false,
            _ => return Err(bad()),
        },
        major: ma.parse().map_err(|_| bad())?,
        minor: mi.parse().map_err(|_| bad())?,
    })
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
                if w.bytes.is_empty() || w.bytes.len() > 16 << 20 {
                    return Err(err(lineno, w.column, "send sends 1 byte to 16 MiB"));
                }
                Payload::from_bytes(&w.bytes)
            } else {
                let n = num(w, "send's byte count")?;
                if n == 0 || n > 16 << 20 {
                    return Err(err(lineno, w.column, "send sends 1 byte to 16 MiB"));
                }
                Payload::Pattern(n as usize)
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

/// The calls `expect ACTOR call OP = RESULT` knows: families and system call names.
pub const PROGRAM_OPS: &[&str] = &[
    "connect", "accept", "recv", "send", "shutdown", "close", "read", "write", "readv", "writev",
    "recvfrom", "recvmsg", "sendto", "sendmsg", "sendfile", "accept4",
];

/// The placeholders `exec` replaces, and the environment variables of the same values.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("server", "SERVER"),
    ("server_addr", "SERVER_ADDR"),
    ("port", "PORT"),
    ("client_addr", "CLIENT_ADDR"),
];

/// `client exec ...` / `server exec ...`: these lines are split as a shell splits words.
fn is_exec(raw: &str) -> bool {
    let mut w = raw.split_whitespace();
    matches!(w.next(), Some("client" | "server")) && w.next() == Some("exec")
}

/// Splits a line as a POSIX shell splits words, without expansions: `"..."` keeps spaces and
/// takes `\"`, `\\`, `\$` and `` \` `` as escapes (any other backslash stays), `'...'` is
/// literal, a backslash outside quotes escapes the next character, adjacent parts join into
/// one word, and `#` at the start of a word starts a comment.
fn exec_words(line: &str, lineno: usize) -> Result<Vec<Word>, ParseError> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            break;
        }
        let start = i + 1;
        let mut text = String::new();
        let mut quoted = false;
        while i < chars.len() && !chars[i].is_whitespace() {
            match chars[i] {
                '"' => {
                    quoted = true;
                    let open = i + 1;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(err(lineno, open, "unterminated \"...\"")),
                            Some('"') => break,
                            Some('\\')
                                if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) =>
                            {
                                text.push(chars[i + 1]);
                                i += 2;
                            }
                            Some(&c) => {
                                text.push(c);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                }
                '\'' => {
                    quoted = true;
                    let open = i + 1;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(err(lineno, open, "unterminated '...'")),
                            Some('\'') => break,
                            Some(&c) => {
                                text.push(c);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                }
                '\\' => {
                    let Some(&c) = chars.get(i + 1) else {
                        return Err(err(lineno, i + 1, "a backslash at the end of the line"));
                    };
                    text.push(c);
                    i += 2;
                }
                c => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        words.push(Word {
            bytes: Vec::new(),
            text,
            column: start,
            quoted,
        });
    }
    Ok(words)
}

/// Checks the `{name}` placeholders of an exec word: an unknown one is an error (a brace
/// that does not open `{letters}`, and `%{...}` and `${...}`, are left as written).
fn check_placeholders(w: &Word, lineno: usize) -> Result<(), ParseError> {
    let t = &w.text;
    let mut from = 0;
    while let Some(open) = t[from..].find('{').map(|o| o + from) {
        let Some(close) = t[open..].find('}').map(|c| c + open) else {
            break;
        };
        let name = &t[open + 1..close];
        // `%{time_total}` is curl's -w format and `${VAR}` a shell's: not placeholders.
        let foreign = t[..open].ends_with(['%', '$']);
        if !foreign
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && !PLACEHOLDERS.iter().any(|(p, _)| *p == name)
        {
            let col = w.column + t[..open].chars().count() + usize::from(w.quoted);
            return Err(err(
                lineno,
                col,
                format!(
                    "unknown placeholder {{{name}}}: {}",
                    PLACEHOLDERS
                        .iter()
                        .map(|(p, _)| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        from = close + 1;
    }
    Ok(())
}

/// Replaces the placeholders of an exec word with the run's values (`values` in the order of
/// [`PLACEHOLDERS`]).
pub fn substitute(word: &str, values: &[String; 4]) -> String {
    let mut out = String::new();
    let mut rest = word;
    'scan: while let Some(open) = rest.find('{') {
        let foreign = rest[..open].ends_with(['%', '$']);
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        if !foreign {
            for ((name, _), v) in PLACEHOLDERS.iter().zip(values) {
                let p = format!("{{{name}}}");
                if let Some(after) = rest.strip_prefix(p.as_str()) {
                    out.push_str(v);
                    rest = after;
                    continue 'scan;
                }
            }
        }
        out.push('{');
        rest = &rest[1..];
    }
    out.push_str(rest);
    out
}

/// `wait client|server [TIMEOUT]`, `wait server listening [TIMEOUT]`.
fn parse_wait(words: &[Word], lineno: usize, model: &Model) -> Result<StepKind, ParseError> {
    let usage = "wait client|server [TIMEOUT], or wait server listening [TIMEOUT]";
    let first = &words[0];
    let who = words
        .get(1)
        .ok_or_else(|| err(lineno, first.column + 5, usage))?;
    let actor = match who.text.as_str() {
        "client" => Actor::Client,
        "server" => Actor::Server,
        _ => return Err(err(lineno, who.column, usage)),
    };
    let listening = words.get(2).is_some_and(|w| w.text == "listening");
    if listening && actor != Actor::Server {
        return Err(err(lineno, words[2].column, "only the server listens"));
    }
    let rest = &words[2 + usize::from(listening)..];
    if let Some(x) = rest.get(1) {
        return Err(err(lineno, x.column, format!("unexpected {:?}", x.text)));
    }
    let timeout = match rest.first() {
        Some(w) => Some(parse_duration(&w.text).ok_or_else(|| {
            err(
                lineno,
                w.column,
                format!("bad timeout {:?}: use e.g. 5s, 500ms ({usage})", w.text),
            )
        })?),
        None => None,
    };
    if listening {
        return Ok(StepKind::WaitListening { timeout });
    }
    if model.program[actor as usize].is_none() {
        return Err(err(
            lineno,
            who.column,
            format!("wait {actor} waits for its program: there is no `{actor} exec` before it"),
        ));
    }
    Ok(StepKind::Wait { actor, timeout })
}

/// The steps that act on a side's process rather than on a socket: `exec`, and for a
/// program side `kill`, `stop`, `cont`, `signal SIG`. None: a socket call.
fn process_step(
    actor: Actor,
    conn: Option<u32>,
    _raw: &str,
    words: &[Word],
    lineno: usize,
    model: &mut Model,
) -> Result<Option<StepKind>, ParseError> {
    let Some(opw) = words.get(1) else {
        return Ok(None);
    };
    let idx = actor as usize;
    let op = opw.text.as_str();
    if !matches!(op, "exec" | "kill" | "stop" | "cont" | "signal") {
        return Ok(None);
    }
    if conn.is_some() {
        return Err(err(
            lineno,
            words[0].column,
            format!(
                "{op} acts on the {actor}'s process, not on a connection: write `{actor} {op}`"
            ),
        ));
    }
    if op == "exec" {
        if let Some(line) = model.program[idx] {
            return Err(err(
                lineno,
                opw.column,
                format!(
                    "the {actor} already runs the program of line {line}: one program per side"
                ),
            ));
        }
        if model.calls.iter().any(|(a, _, _)| *a == actor) {
            return Err(err(
                lineno,
                opw.column,
                format!(
                    "the {actor} already made scripted calls: a side is either scripted or a program"
                ),
            ));
        }
        let argv = &words[2..];
        let Some(prog) = argv.first() else {
            return Err(err(
                lineno,
                opw.column + 5,
                "exec needs a program, e.g. `client exec curl -sS http://{server}/`",
            ));
        };
        if prog.text.is_empty() {
            return Err(err(lineno, prog.column, "the program's name is empty"));
        }
        for w in argv {
            check_placeholders(w, lineno)?;
        }
        model.program[idx] = Some(lineno);
        if actor == Actor::Server {
            // The program listens itself; there is no implicit `listen 128`.
            model.listening = false;
        }
        return Ok(Some(StepKind::Exec {
            actor,
            argv: argv.iter().map(|w| w.text.clone()).collect(),
        }));
    }
    if model.program[idx].is_none() {
        if op == "kill" {
            return Ok(None);
        }
        return Err(err(
            lineno,
            opw.column,
            format!("`{actor} {op}` signals a program: there is no `{actor} exec` before it"),
        ));
    }
    let signal = match op {
        "kill" => Signal::Kill,
        "stop" => Signal::Stop,
        "cont" => Signal::Cont,
        _ => {
            let w = words.get(2).ok_or_else(|| {
                err(
                    lineno,
                    opw.column + 7,
                    "signal needs a name: TERM, INT, HUP, KILL, STOP, CONT, USR1, USR2, QUIT",
                )
            })?;
            Signal::parse(&w.text).ok_or_else(|| {
                err(
                    lineno,
                    w.column,
                    format!(
                        "unknown signal {:?}: TERM, INT, HUP, KILL, STOP, CONT, USR1, USR2, QUIT",
                        w.text
                    ),
                )
            })?
        }
    };
    let nargs = if op == "signal" { 3 } else { 2 };
    if let Some(x) = words.get(nargs) {
        return Err(err(lineno, x.column, format!("unexpected {:?}", x.text)));
    }
    Ok(Some(StepKind::Signal { actor, signal }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(actor: Actor, op: Op) -> StepKind {
        StepKind::Call {
            actor,
            conn: None,
            op,
        }
    }

    #[test]
    fn parses_the_seed_scenario() {
        let sc = parse(
            "# the seed\nname x\ndescription the seed's case\nsettle 60ms\n\nclient connect\nserver accept\nclient send 5\nclient send \"GET /\\r\\n\"\nserver recv 100\nserver close # comment\nsleep 1.5s\nclient shutdown wr\n",
        )
        .unwrap();
        assert_eq!(sc.name, "x");
        assert_eq!(sc.settle, Duration::from_millis(60));
        assert_eq!(sc.steps.len(), 8);
        assert_eq!(sc.steps[0].line, 6);
        assert_eq!(
            sc.steps[3].kind,
            call(
                Actor::Client,
                Op::Send {
                    data: Payload::from_bytes(b"GET /\r\n")
                }
            )
        );
        assert_eq!(
            sc.steps[2].kind,
            call(
                Actor::Client,
                Op::Send {
                    data: Payload::Pattern(5)
                }
            )
        );
        assert_eq!(Payload::Pattern(5).bytes(), b"abcde");
        assert_eq!(Payload::from_bytes(b"GET /\r\n").bytes(), b"GET /\r\n");
        assert_eq!(sc.steps[5].text, "server close");
        assert_eq!(sc.steps[3].text, "client send \"GET /\\r\\n\"");
        assert_eq!(
            sc.steps[6].kind,
            StepKind::Sleep {
                duration: Duration::from_millis(1500)
            }
        );
        assert!(!sc.listens_itself());
    }

    #[test]
    fn quoted_strings_keep_their_bytes() {
        let sc = parse("client connect\nclient send \"é\\xff\"\n").unwrap();
        assert_eq!(
            sc.steps[1].kind,
            call(
                Actor::Client,
                Op::Send {
                    data: Payload::from_bytes(&[0xc3, 0xa9, 0xff])
                }
            )
        );
        assert!(parse("client connect\nclient send \"\\x4\"\n").is_err());
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let e = parse("client connect\nserver acept\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 8));
        assert!(e.message.contains("did you mean accept"), "{}", e.message);
        let e = parse("client send \"abc\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 13));
        let e = parse("  sleep 5 parsecs").unwrap_err();
        assert_eq!((e.line, e.column), (1, 11));
        let e = parse("  sleep 5").unwrap_err();
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
    fn steps_that_cannot_work_are_refused_where_they_are() {
        // A send before any connection: the actor would have no socket.
        let e = parse("name x\n  client send 5\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 10), "{e}");
        assert!(e.message.contains("no `client connect` before it"), "{e}");
        let e = parse("client connect\nserver recv\n").unwrap_err();
        assert!(e.message.contains("no `server accept` before it"), "{e}");
        // The server's options before accept go on the listener; the client has none.
        assert!(parse("server linger 0\nclient connect\nserver accept\n").is_ok());
        assert!(parse("client nodelay\n").is_err());
        // A scenario with its own listen has no listener before it.
        let e = parse("server accept\nserver listen 1\n").unwrap_err();
        assert!(e.message.contains("no `server listen` before it"), "{e}");
        // A killed actor makes no more calls.
        let e = parse("client connect\nserver accept\nserver kill\nserver recv\n").unwrap_err();
        assert_eq!((e.line, e.column), (4, 8));
        assert!(e.message.contains("killed at line 3"), "{e}");
        // Connections by number must exist.
        let e = parse("client connect\nclient#2 send 1\n").unwrap_err();
        assert!(e.message.contains("no connection #2"), "{e}");
        let e = parse("client connect\nclient#0 send 1\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 8));
        let e = parse("client connect\nclient#1 connect\n").unwrap_err();
        assert!(e.message.contains("not on a connection"), "{e}");
        // An expectation about a call that never happened.
        let e = parse("client connect\nexpect client recv = EOF\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 8));
        assert!(e.message.contains("no `client recv` before"), "{e}");
        let e = parse("client connect\nexpect client#3 state = CLOSE\n").unwrap_err();
        assert!(e.message.contains("no connection #3"), "{e}");
    }

    #[test]
    fn connections_by_number() {
        let sc = parse(
            "client connect\nclient connect\nclient#1 recv # the first one\nexpect client#1 recv = ECONNRESET\nexpect client#2 state = ESTABLISHED\n",
        )
        .unwrap();
        assert_eq!(
            sc.steps[2].kind,
            StepKind::Call {
                actor: Actor::Client,
                conn: Some(1),
                op: Op::Recv { max: DEFAULT_RECV }
            }
        );
        assert_eq!(sc.steps[2].text, "client#1 recv");
        assert_eq!(
            sc.expectations[0].check,
            Check::Call {
                actor: Actor::Client,
                conn: Some(1),
                op: "recv".into(),
                result: "ECONNRESET".into()
            }
        );
        assert_eq!(
            sc.expectations[1].check,
            Check::State {
                actor: Actor::Client,
                conn: Some(2),
                state: Some(TcpState::Established)
            }
        );
    }

    #[test]
    fn the_step_limit_is_an_error_at_the_first_step_beyond_it() {
        let ok = "client connect\n".to_string() + &"sleep 1ms\n".repeat(MAX_STEPS - 1);
        assert_eq!(parse(&ok).unwrap().steps.len(), MAX_STEPS);
        let e = parse(&(ok + "sleep 1ms\n")).unwrap_err();
        assert_eq!((e.line, e.column), (MAX_STEPS + 1, 1));
        assert!(e.message.contains("at most 10000 steps"), "{e}");
    }

    #[test]
    fn faults_and_user_timeout() {
        let sc =
            parse("client connect\nclient user-timeout 1s\nnet drop client->server\nnet restore\n")
                .unwrap();
        assert_eq!(
            sc.steps[1].kind,
            call(Actor::Client, Op::UserTimeout { ms: 1000 })
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
            call(
                Actor::Client,
                Op::Keepalive {
                    idle: 1,
                    interval: 1,
                    count: 2
                }
            )
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
        let e = parse("client connect\nclient keepalive 1 1\n").unwrap_err();
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
        let sc =
            parse("client connect\nexpect kernel reset reason = TCP_STATE on kernel >= 6.10\n")
                .unwrap();
        let scope = sc.expectations[0].scope.unwrap();
        assert_eq!(scope.contains("6.18.44-fc-v595"), Some(true));
        assert_eq!(scope.contains("6.1.0-28-amd64"), Some(false));
        let e = parse("client connect\nexpect kernel reset reason = BOGUS\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 30));
        assert!(parse("client connect\nexpect client state = CLOSE_WAIT on linux\n").is_err());
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
