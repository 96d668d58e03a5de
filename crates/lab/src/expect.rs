//! Expectations: `expect` lines that turn a scenario into a regression test, like packetdrill's
//! assertions but about real peers. Each refers to the step just before it:
//!
//! ```text
//! client recv
//! expect client recv = ECONNRESET          # the call's result: an errno, EOF, blocked, ok, N bytes
//! expect client state = CLOSE_WAIT         # the end's state after the step settled (- for none)
//! expect packet server->client R           # a packet with (at least) these flags during the step
//! expect kernel reset reason = TCP_ABORT_ON_CLOSE on kernel >= 6.10
//! ```
//!
//! On a kernel outside an expectation's scope it is reported as not checked, never as passed.

use crate::record::{Outcome, Record};
use crate::scenario::Actor;
use serde::Serialize;
use tcpmortem_core::{RstReason, TcpState};
use tcpmortem_wire::Flags;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "check", rename_all = "kebab-case")]
pub enum Check {
    /// The most recent call of this op by this actor returned this (`ECONNRESET`, `EOF`, `5`).
    Call {
        actor: Actor,
        op: String,
        result: String,
    },
    /// The actor's end after the step (None: no socket).
    State {
        actor: Actor,
        state: Option<TcpState>,
    },
    /// A packet from `from` with at least these flags during the step.
    Packet { from: Actor, flags: String },
    /// The kernel sent a RST with this reason during the step.
    ResetReason { reason: String },
}

/// `on kernel >= 6.10` / `on kernel < 6.10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Scope {
    pub at_least: bool,
    pub major: u32,
    pub minor: u32,
}

impl Scope {
    pub fn contains(&self, kernel: &str) -> Option<bool> {
        let mut it = kernel.split(|c: char| !c.is_ascii_digit());
        let major: u32 = it.next()?.parse().ok()?;
        let minor: u32 = it.next()?.parse().ok()?;
        let ge = (major, minor) >= (self.major, self.minor);
        Some(ge == self.at_least)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expectation {
    pub line: usize,
    pub text: String,
    /// Index of the step it follows.
    pub step: usize,
    #[serde(flatten)]
    pub check: Check,
    pub scope: Option<Scope>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Passed,
    Failed,
    NotChecked,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub line: usize,
    pub text: String,
    pub step: usize,
    pub status: Status,
    /// What was seen instead (or why it was not checked).
    pub observed: String,
}

/// Parses the words after `expect`; `Err` is (word index, message).
pub fn parse(words: &[&str]) -> Result<(Check, Option<Scope>), (usize, String)> {
    let (body, scope) = match words.iter().position(|w| *w == "on") {
        Some(i) => (
            &words[..i],
            Some(parse_scope(&words[i..]).map_err(|m| (i, m))?),
        ),
        None => (words, None),
    };
    let actor = |w: &str| match w {
        "client" => Some(Actor::Client),
        "server" => Some(Actor::Server),
        _ => None,
    };
    let check = match body {
        ["packet", dir, flags] => {
            let from = match *dir {
                "client->server" => Actor::Client,
                "server->client" => Actor::Server,
                _ => {
                    return Err((
                        1,
                        "packet direction is client->server or server->client".into(),
                    ));
                }
            };
            Flags::parse(flags).ok_or((
                2,
                format!("bad flags {flags:?}: letters S F P R U and . (ACK)"),
            ))?;
            Check::Packet {
                from,
                flags: flags.to_string(),
            }
        }
        ["kernel", "reset", "reason", "=", r] => {
            RstReason::parse(r).ok_or((4, format!("unknown RST reason {r:?}")))?;
            Check::ResetReason {
                reason: r.to_ascii_uppercase(),
            }
        }
        [a, "state", "=", st] if actor(a).is_some() => Check::State {
            actor: actor(a).unwrap_or(Actor::Client),
            state: match *st {
                "-" | "none" => None,
                s => Some(TcpState::parse(s).ok_or((3, format!("unknown TCP state {s:?}")))?),
            },
        },
        [a, op, "=", result] if actor(a).is_some() => Check::Call {
            actor: actor(a).unwrap_or(Actor::Client),
            op: op.to_string(),
            result: result.to_string(),
        },
        _ => {
            return Err((
                0,
                "expect takes: ACTOR OP = RESULT, ACTOR state = STATE, packet DIR FLAGS, or kernel reset reason = REASON".into(),
            ));
        }
    };
    Ok((check, scope))
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

fn result_text(o: &Outcome, sigpipe: bool) -> Vec<String> {
    let mut v = match o {
        Outcome::Error { errno, .. } => vec![errno.clone()],
        Outcome::Eof => vec!["EOF".into()],
        Outcome::Bytes { bytes } => vec![bytes.to_string()],
        Outcome::Blocked => vec!["blocked".into()],
        Outcome::Killed => vec!["killed".into()],
        Outcome::Ok | Outcome::Connected { .. } | Outcome::Accepted { .. } => vec!["ok".into()],
    };
    if sigpipe {
        v.push("SIGPIPE".into());
    }
    v
}

/// Checks every expectation against the record.
pub fn evaluate(exps: &[Expectation], r: &Record) -> Vec<Verdict> {
    exps.iter().map(|e| one(e, r)).collect()
}

fn one(e: &Expectation, r: &Record) -> Verdict {
    let verdict = |status, observed: String| Verdict {
        line: e.line,
        text: e.text.clone(),
        step: e.step,
        status,
        observed,
    };
    if let Some(scope) = e.scope {
        match scope.contains(&r.environment.kernel) {
            Some(true) => {}
            Some(false) => {
                return verdict(
                    Status::NotChecked,
                    format!("kernel {} is outside the scope", r.environment.kernel),
                );
            }
            None => return verdict(Status::NotChecked, "unknown kernel version".into()),
        }
    }
    let Some(step) = r.steps.get(e.step) else {
        return verdict(Status::Failed, "no step before this expectation".into());
    };
    let end = r.steps.get(e.step + 1).map_or(u64::MAX, |s| s.start_ns);
    let (ok, observed) = match &e.check {
        Check::Call { actor, op, result } => {
            let call = r.steps[..=e.step].iter().rev().find(|s| {
                s.actor == Some(*actor) && s.text.split_whitespace().nth(1) == Some(op.as_str())
            });
            match call.and_then(|s| s.outcome.as_ref().map(|o| (s, o))) {
                Some((s, o)) => {
                    let got = result_text(o, s.sigpipe);
                    (
                        got.iter().any(|g| g.eq_ignore_ascii_case(result)),
                        format!("{actor} {op} → {}", got.join(" + ")),
                    )
                }
                None => (false, format!("no `{actor} {op}` before this line")),
            }
        }
        Check::State { actor, state } => {
            let got = step
                .after
                .iter()
                .find(|x| x.host == *actor)
                .and_then(|x| x.state);
            (
                got == *state,
                format!("{actor} state {}", got.map(|s| s.name()).unwrap_or("-")),
            )
        }
        Check::Packet { from, flags } => {
            let want = Flags::parse(flags).map_or(0, |f| f.0);
            let seen: Vec<String> = r
                .packets
                .iter()
                .filter(|p| p.step == e.step && p.from == *from)
                .map(|p| p.flags.tcpdump())
                .collect();
            let ok = r
                .packets
                .iter()
                .any(|p| p.step == e.step && p.from == *from && p.flags.0 & want == want);
            (
                ok,
                format!("packets from the {from} in this step: {}", listed(&seen)),
            )
        }
        Check::ResetReason { reason } => {
            if !r.environment.tracefs {
                return verdict(
                    Status::NotChecked,
                    "no kernel events (tracefs) in this run".into(),
                );
            }
            let seen: Vec<String> = r
                .events
                .iter()
                .filter(|ev| {
                    ev.tcp.event == "tcp_send_reset"
                        && ev.order_ns >= step.start_ns
                        && ev.order_ns < end
                })
                .map(|ev| {
                    ev.tcp
                        .reason
                        .map(|x| x.name())
                        .unwrap_or_else(|| "no reason".into())
                })
                .collect();
            (
                seen.iter().any(|s| s == reason),
                format!("resets in this step: {}", listed(&seen)),
            )
        }
    };
    verdict(if ok { Status::Passed } else { Status::Failed }, observed)
}

/// What was seen, for a verdict's detail.
fn listed(seen: &[String]) -> String {
    if seen.is_empty() {
        "none".into()
    } else {
        seen.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_forms_and_scopes() {
        assert_eq!(
            parse(&["client", "recv", "=", "ECONNRESET"]).unwrap().0,
            Check::Call {
                actor: Actor::Client,
                op: "recv".into(),
                result: "ECONNRESET".into()
            }
        );
        assert_eq!(
            parse(&["server", "state", "=", "-"]).unwrap().0,
            Check::State {
                actor: Actor::Server,
                state: None
            }
        );
        assert!(matches!(
            parse(&["packet", "server->client", "R"]).unwrap().0,
            Check::Packet { .. }
        ));
        let (c, s) = parse(&[
            "kernel",
            "reset",
            "reason",
            "=",
            "TCP_STATE",
            "on",
            "kernel",
            ">=",
            "6.10",
        ])
        .unwrap();
        assert_eq!(
            c,
            Check::ResetReason {
                reason: "TCP_STATE".into()
            }
        );
        let s = s.unwrap();
        assert_eq!(s.contains("6.18.44-fc-v595"), Some(true));
        assert_eq!(s.contains("6.1.0-28-amd64"), Some(false));
        assert_eq!(
            parse(&["kernel", "reset", "reason", "=", "BOGUS"])
                .unwrap_err()
                .0,
            4
        );
        assert!(parse(&["client", "state", "=", "CLOSE_WAIT", "on", "linux"]).is_err());
    }
}
