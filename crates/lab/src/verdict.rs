//! Expectations checked against a run: each `expect` line of the scenario (data in
//! [`crate::scenario`]) becomes a verdict about the record. On a kernel outside an
//! expectation's scope it is reported as not checked, never as passed.

use crate::record::{Outcome, Record, Status, Verdict};
use crate::scenario::{Check, Expectation, Host, StepKind};
use tcpmortem_wire::Flags;

fn result_text(o: &Outcome, sigpipe: bool) -> Vec<String> {
    let mut v = match o {
        Outcome::Error { errno, .. } => vec![errno.clone()],
        Outcome::Eof => vec!["EOF".into()],
        Outcome::Bytes { bytes } => vec![bytes.to_string()],
        Outcome::Blocked => vec!["blocked".into()],
        Outcome::Killed => vec!["killed".into()],
        Outcome::Ok | Outcome::Connected { .. } | Outcome::Accepted { .. } => vec!["ok".into()],
        Outcome::Started { .. } => vec!["started".into()],
        Outcome::Exited { code } => vec![code.to_string()],
        Outcome::Signaled { signal } => vec![signal.clone()],
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
        Check::Call {
            actor,
            conn,
            op,
            result,
        } => {
            let who = actor.label(*conn);
            // The step's calls on that connection (when one is named) by that actor.
            let last = r.steps[..=e.step].iter().rev().find(|s| {
                s.actor == Some(*actor)
                    && r.scenario.steps.get(s.index).is_some_and(|x| {
                        matches!(&x.kind, StepKind::Call { op: o, conn: c, .. } if o.word() == op && (conn.is_none() || c == conn))
                    })
            });
            match last {
                Some(s) => {
                    let got = results(r, s);
                    (
                        got.iter().any(|g| g.eq_ignore_ascii_case(result)),
                        format!("{who} {op} → {}", got.join(" + ")),
                    )
                }
                None => (false, format!("no `{who} {op}` before this line")),
            }
        }
        Check::State { actor, conn, state } => {
            let id = conn.or_else(|| newest(r, *actor, e.step));
            let got = id
                .and_then(|id| step.end_after(*actor, id))
                .and_then(|x| x.state);
            (
                id.is_some() && got == *state,
                format!(
                    "{} state {}",
                    actor.label(id.filter(|_| r.several())),
                    got.map(|s| s.name()).unwrap_or("-")
                ),
            )
        }
        Check::Packet { from, flags } => {
            let want = Flags::parse(flags).map_or(0, |f| f.0);
            let from_host = Host::from(*from);
            let ours = || {
                r.packets
                    .iter()
                    .filter(move |p| p.step == e.step && p.from == from_host)
            };
            let seen: Vec<String> = ours()
                .filter_map(|p| p.flags().map(|f| f.tcpdump()))
                .collect();
            let ok = ours().any(|p| p.flags().is_some_and(|f| f.0 & want == want));
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
                    ev.event == "tcp_send_reset"
                        && ev.order_ns >= step.start_ns
                        && ev.order_ns < end
                })
                .map(|ev| {
                    ev.reason
                        .map(|x| x.name())
                        .unwrap_or_else(|| "no reason".into())
                })
                .collect();
            let ok = seen.iter().any(|s| s == reason);
            if !ok && r.environment.events_lost > 0 {
                return verdict(
                    Status::NotChecked,
                    format!(
                        "resets in this step: {}; the trace ring buffer dropped {} events in this run",
                        listed(&seen),
                        r.environment.events_lost
                    ),
                );
            }
            (ok, format!("resets in this step: {}", listed(&seen)))
        }
        Check::Exit { actor, status } => {
            let Some(p) = r.programs.iter().find(|p| p.host == *actor) else {
                return verdict(Status::Failed, format!("the {actor} ran no program"));
            };
            match (&p.exit, p.ended_ns) {
                (Some(x), Some(t)) if t < end => {
                    (x.matches(status), format!("{} {}", p.name, x.text()))
                }
                _ => (false, format!("{} was still running", p.name)),
            }
        }
        Check::ProgramCall { actor, op, result } => {
            if !r.environment.call_tracing {
                return verdict(
                    Status::NotChecked,
                    "the programs' calls were not traced in this run".into(),
                );
            }
            let calls: Vec<&crate::record::ProgramCall> = r
                .program_calls
                .iter()
                .filter(|c| c.host == *actor && c.is(op) && c.start_ns < end)
                .collect();
            let got: Vec<String> = calls
                .iter()
                .filter_map(|c| {
                    c.outcome
                        .as_ref()
                        .filter(|_| c.returned_ns.is_some_and(|t| t < end))
                })
                .flat_map(|o| result_text(o, false))
                .collect();
            let mut shown = got.clone();
            shown.dedup();
            (
                got.iter().any(|g| g.eq_ignore_ascii_case(result)),
                format!("{actor}'s {op} calls returned: {}", listed(&shown)),
            )
        }
    };
    verdict(if ok { Status::Passed } else { Status::Failed }, observed)
}

/// What a step's call returned, as `expect` spells it: its final result (for a call reported
/// blocked, what it returned later, and `blocked`), and SIGPIPE.
fn results(r: &Record, s: &crate::record::StepRecord) -> Vec<String> {
    let call = s.calls.last().and_then(|&i| r.calls.get(i));
    let mut v = Vec::new();
    match call.and_then(|c| c.outcome.as_ref()).or(s.outcome.as_ref()) {
        Some(o) => v.extend(result_text(o, false)),
        None => v.push("blocked".into()),
    }
    if call.is_some_and(|c| c.blocked) && !v.iter().any(|x| x == "blocked") {
        v.push("blocked".into());
    }
    if s.sigpipe || call.is_some_and(|c| c.sigpipe) {
        v.push("SIGPIPE".into());
    }
    v
}

/// The connection an actor's calls last acted on, by the end of step `step`; else the
/// newest connection with an end of that actor.
pub fn newest(r: &Record, actor: crate::scenario::Actor, step: usize) -> Option<u32> {
    r.steps[..=step.min(r.steps.len().saturating_sub(1))]
        .iter()
        .rev()
        .filter(|s| s.actor == Some(actor))
        .find_map(|s| s.conn)
        .or_else(|| {
            r.steps.get(step).and_then(|s| {
                s.after
                    .iter()
                    .filter(|x| x.host == actor && x.state.is_some())
                    .map(|x| x.conn)
                    .max()
            })
        })
        .or_else(|| r.connections.last().map(|c| c.id))
}

/// What was seen, for a verdict's detail.
fn listed(seen: &[String]) -> String {
    if seen.is_empty() {
        "none".into()
    } else {
        seen.join(" ")
    }
}
