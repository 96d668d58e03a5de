//! Expectations checked against a run: each `expect` line of the scenario (data in
//! [`crate::scenario`]) becomes a verdict about the record. On a kernel outside an
//! expectation's scope it is reported as not checked, never as passed.

use crate::record::{Outcome, Record, Status, Verdict};
use crate::scenario::{Check, Expectation};
use tcpmortem_wire::Flags;

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
        Check::Call {
            actor, op, result, ..
        } => {
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
        Check::State { actor, state, .. } => {
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
