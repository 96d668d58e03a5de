//! The plain-language end of a timeline: who closed, who reset and why, which error each side
//! saw. Derived from the record only; RST reasons and errors are explained by the catalog.

use crate::record::{Outcome, Record};
use crate::scenario::Actor;
use tcpmortem_core::{Basis, Os, TcpState};
use tcpmortem_wire::Flags;

fn step_ref(r: &Record, step: usize) -> String {
    r.steps
        .get(step)
        .map(|s| format!("step {} `{}`", step + 1, s.text))
        .unwrap_or_default()
}

/// Sentences that explain the run, in order.
pub fn explain(r: &Record) -> Vec<String> {
    let mut out = Vec::new();
    let fin = |a: Actor| {
        r.packets
            .iter()
            .find(|p| p.from == a && p.flags.has(Flags::FIN))
    };
    match (fin(Actor::Client), fin(Actor::Server)) {
        (Some(c), Some(s)) => {
            let (first, second) = if c.t_ns <= s.t_ns { (c, s) } else { (s, c) };
            out.push(format!(
                "The {} closed first (FIN at {}); the {} closed later (FIN at {}).",
                first.from,
                step_ref(r, first.step),
                second.from,
                step_ref(r, second.step)
            ));
        }
        (Some(p), None) | (None, Some(p)) => out.push(format!(
            "The {} closed its side (FIN at {}); the {} never sent its own FIN.",
            p.from,
            step_ref(r, p.step),
            p.from.peer()
        )),
        (None, None) => {}
    }
    if r.steps.iter().any(|s| s.outcome == Some(Outcome::Killed)) {
        out.push("SIGKILL closes a process's sockets like close(): FIN, or RST only when data was left unread. Linux does not reset on process death by itself.".into());
    }
    for p in r
        .packets
        .iter()
        .filter(|p| p.flags.has(Flags::RST) && p.forged)
    {
        out.push(format!(
            "The router forged a RST toward the {} at {}, with the {}'s address as its source, as a firewall's `reject with tcp reset` does; the {} itself never sent it.",
            p.from.peer(),
            step_ref(r, p.step),
            p.from,
            p.from
        ));
    }
    for p in r
        .packets
        .iter()
        .filter(|p| p.flags.has(Flags::RST) && !p.forged)
    {
        let ev = r.events.iter().find(|e| {
            e.tcp.event == "tcp_send_reset"
                && e.host == Some(p.from)
                && e.t_ns.abs_diff(p.t_ns) < 5_000_000
        });
        let why = match ev.and_then(|e| e.tcp.reason.map(|x| (x, e.tcp.state))) {
            Some((reason, state)) => format!(
                ", reason {reason}{}: {}",
                state.map(|s| format!(" in {s}")).unwrap_or_default(),
                reason.info().map(|i| i.meaning).unwrap_or("")
            ),
            None if r.environment.tracefs => String::new(),
            None => " (kernel reason unknown: no tracefs)".into(),
        };
        out.push(format!(
            "The {}'s kernel sent a RST at {}{why}.",
            p.from,
            step_ref(r, p.step)
        ));
    }
    for actor in [Actor::Client, Actor::Server] {
        let calls: Vec<String> = r
            .steps
            .iter()
            .filter(|s| s.actor == Some(actor))
            .filter_map(|s| {
                let o = s.outcome.as_ref()?;
                let state = s
                    .before
                    .iter()
                    .find(|e| e.host == actor)
                    .and_then(|e| e.state);
                // A send the kernel accepted although the peer had already closed is the
                // first sign of trouble in the seed's case.
                let late_send = matches!(o, Outcome::Bytes { .. })
                    && s.text.contains("send")
                    && state == Some(TcpState::CloseWait);
                let interesting = late_send
                    || matches!(o, Outcome::Eof | Outcome::Error { .. } | Outcome::Blocked);
                interesting.then(|| {
                    format!(
                        "`{}` → {}{}{}{}",
                        s.text,
                        o.text(),
                        if s.sigpipe { " with SIGPIPE" } else { "" },
                        state.map(|st| format!(" in {st}")).unwrap_or_default(),
                        if late_send {
                            " (accepted locally: the peer had closed)"
                        } else {
                            ""
                        }
                    )
                })
            })
            .collect();
        if !calls.is_empty() {
            out.push(format!("The {actor} saw: {}.", calls.join("; ")));
        }
        for e in r
            .events
            .iter()
            .filter(|e| e.host == Some(actor) && e.tcp.event == "inet_sk_error_report")
        {
            let next_read = r
                .steps
                .iter()
                .find(|s| s.actor == Some(actor) && s.start_ns > e.t_ns && s.text.contains("recv"));
            let mut line = format!(
                "The {actor}'s kernel stored {} on the socket when it happened (inet_sk_error_report)",
                e.tcp.error.as_deref().unwrap_or("an error")
            );
            if let Some(s) = next_read.filter(|s| s.outcome == Some(Outcome::Eof)) {
                line.push_str(&format!(
                    ", yet its next recv (step {}) returned EOF: recv reports a received FIN before a pending error",
                    s.index + 1
                ));
            }
            line.push('.');
            out.push(line);
        }
    }
    for s in &r.steps {
        for o in s
            .other_os
            .iter()
            .filter(|o| o.os == Os::Windows && o.basis != Basis::Here)
        {
            out.push(format!(
                "Windows, step {} `{}`: {} [{}].",
                s.index + 1,
                s.text,
                o.result,
                o.basis.tag()
            ));
        }
    }
    out
}
