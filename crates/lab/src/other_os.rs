//! What Windows and macOS would have returned for a call, where that differs from Linux or is
//! known. The rules read a call's situation ([`CallContext`]: what it returned on Linux, and
//! what had reached it before); the situation comes from a run's record, or from a scenario's
//! measured expectations for `lab list`, so that both say the same thing. Names and numbers
//! come from the catalog.

use crate::record::{OtherOs, Outcome, Record};
use crate::scenario::{Actor, Check, Host, How, Op, Scenario, StepKind};
use tcpmortem_core::catalog::{Entry, WinsockIdentity};
use tcpmortem_core::{Basis, Os};
use tcpmortem_wire::Flags;

/// What a call returned on Linux, as far as the rules care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Result {
    Errno(String),
    Eof,
    Bytes,
    Killed,
    Other,
}

impl Result {
    fn of(o: &Outcome) -> Result {
        match o {
            Outcome::Error { errno, .. } => Result::Errno(errno.clone()),
            Outcome::Eof => Result::Eof,
            Outcome::Bytes { .. } => Result::Bytes,
            Outcome::Killed => Result::Killed,
            _ => Result::Other,
        }
    }
}

/// A call's situation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The op's word: `recv`, `send`, `kill`.
    pub op: &'static str,
    pub result: Result,
    /// The peer's FIN had arrived, then its RST: Linux's tcp_reset() stores EPIPE in
    /// CLOSE_WAIT and reads report EOF first.
    pub fin_then_rst: bool,
    /// A RST from the peer's side had arrived.
    pub rst_before: bool,
    /// The peer's FIN had arrived.
    pub fin_before: bool,
    /// The caller had shut down its own sending side (shutdown wr or rdwr).
    pub own_shutdown: bool,
}

fn wsa(id: &str) -> Option<WinsockIdentity> {
    Entry::by_id(id).and_then(|e| e.windows)
}

fn wsa_text(id: &str) -> String {
    wsa(id)
        .map(|w| format!("{} {}", w.name, w.code))
        .unwrap_or_else(|| id.to_string())
}

fn bsd_text(id: &str) -> String {
    Entry::by_id(id)
        .and_then(|e| e.bsd)
        .map(|b| format!("{} {}", b.name, b.number))
        .unwrap_or_else(|| id.to_string())
}

fn note(os: Os, result: String, basis: Basis, why: &str) -> OtherOs {
    OtherOs {
        os,
        result,
        basis,
        why: why.to_string(),
    }
}

/// What Windows and macOS would return in this situation, where it is known.
pub fn notes(c: &CallContext) -> Vec<OtherOs> {
    let mut out = Vec::new();
    match (c.op, &c.result) {
        ("recv", Result::Eof) if c.fin_then_rst => {
            out.push(note(
                Os::Windows,
                wsa_text("econnaborted"),
                Basis::Obs,
                "after the peer's FIN and then its RST, Windows fails the recv with 10053 (the seed's case); Linux reports EOF because the FIN is checked first",
            ));
            out.push(note(
                Os::Macos,
                bsd_text("econnreset"),
                Basis::Src,
                "XNU keeps ECONNRESET for a RST in CLOSE_WAIT and reports it before EOF",
            ));
        }
        ("send", Result::Errno(e)) if e == "EPIPE" && c.own_shutdown => {
            out.push(note(
                Os::Windows,
                wsa_text("eshutdown"),
                Basis::Doc,
                "Winsock fails a send after shutdown(SD_SEND) with WSAESHUTDOWN; it has no EPIPE",
            ));
        }
        ("send", Result::Errno(e)) if e == "EPIPE" => {
            out.push(note(
                Os::Windows,
                format!(
                    "{} or {} (no EPIPE, no SIGPIPE)",
                    wsa_text("econnaborted"),
                    wsa_text("econnreset")
                ),
                Basis::Doc,
                "Winsock has no EPIPE",
            ));
            if c.fin_then_rst {
                out.push(note(
                    Os::Macos,
                    bsd_text("econnreset"),
                    Basis::Src,
                    "XNU stores ECONNRESET for a RST in CLOSE_WAIT, so the first call after it reports that",
                ));
            }
        }
        (_, Result::Errno(errno)) => {
            if let Some(w) = Entry::by_posix_name(errno).and_then(|e| e.windows) {
                let (text, basis, why) = match errno.as_str() {
                    "ECONNREFUSED" => (
                        format!("{} {}, after ~2 s of SYN retries", w.name, w.code),
                        Basis::Obs,
                        "Windows retries the SYN after a RST before giving up",
                    ),
                    _ => (
                        format!("{} {}", w.name, w.code),
                        Basis::Doc,
                        "same condition, Winsock's code",
                    ),
                };
                out.push(note(Os::Windows, text, basis, why));
            }
        }
        ("recv", Result::Bytes) if c.rst_before => {
            out.push(note(
                Os::Windows,
                format!(
                    "possibly {}: data that arrived before a RST may be discarded",
                    wsa_text("econnreset")
                ),
                Basis::Obs,
                "Linux delivers the queued data first, then ECONNRESET",
            ));
        }
        ("kill", Result::Killed) => {
            out.push(note(
                Os::Windows,
                format!(
                    "the dying process's connections are reset (RST): the peer gets {}",
                    wsa_text("econnreset")
                ),
                Basis::Obs,
                "Linux and macOS close a dead process's sockets like close(): FIN, or RST only with unread data",
            ));
        }
        _ => {}
    }
    out
}

/// The situation of step `i`'s call, from the record: the packets of its connection before
/// it started, and the actor's own earlier calls.
pub fn context(r: &Record, i: usize) -> Option<CallContext> {
    let s = &r.steps[i];
    let Some(StepKind::Call { actor, op, .. }) = r.scenario.steps.get(i).map(|x| &x.kind) else {
        return None;
    };
    // A call reported blocked is judged by what it finally returned.
    let outcome = s
        .calls
        .last()
        .and_then(|&c| r.calls.get(c))
        .and_then(|c| c.outcome.as_ref())
        .or(s.outcome.as_ref())?;
    let before = |flag: u8, t: u64| {
        r.packets
            .iter()
            .filter(|p| p.from == Host::from(actor.peer()) && p.has(flag) && p.t_ns < t)
            .filter(|p| s.conn.is_none() || p.conn == s.conn)
            .map(|p| p.t_ns)
            .min()
    };
    let rst = before(Flags::RST, s.start_ns);
    let fin_then_rst = rst.is_some_and(|rst| before(Flags::FIN, rst).is_some());
    Some(CallContext {
        op: op.word(),
        result: Result::of(outcome),
        fin_then_rst,
        rst_before: rst.is_some(),
        fin_before: before(Flags::FIN, s.start_ns).is_some(),
        own_shutdown: own_shutdown(&r.scenario, *actor, i),
    })
}

fn own_shutdown(sc: &Scenario, actor: Actor, before: usize) -> bool {
    sc.steps[..before.min(sc.steps.len())].iter().any(|s| {
        matches!(
            s.kind,
            StepKind::Call { actor: a, op: Op::Shutdown { how: How::Wr | How::Rdwr }, .. } if a == actor
        )
    })
}

/// The situation of a program's call, as for a scripted one: the packets of its connection
/// before it started. Whether the program had shut down its own side is not known (the
/// tracepoint's `how` is not read): taken as not.
pub fn program_context(r: &Record, c: &crate::record::ProgramCall) -> Option<CallContext> {
    let outcome = c.outcome.as_ref()?;
    // A non-blocking call's "not yet" is not the blocking call's error the rules know
    // (Winsock answers a non-blocking connect in progress with WSAEWOULDBLOCK, not
    // WSAEINPROGRESS): no note rather than a wrong one.
    if matches!(
        outcome.errno(),
        Some("EINPROGRESS" | "EAGAIN" | "EWOULDBLOCK" | "EALREADY")
    ) {
        return None;
    }
    let before = |flag: u8, t: u64| {
        r.packets
            .iter()
            .filter(|p| p.from == Host::from(c.host.peer()) && p.has(flag) && p.t_ns < t)
            .filter(|p| c.conn.is_none() || p.conn == c.conn)
            .map(|p| p.t_ns)
            .min()
    };
    let rst = before(Flags::RST, c.start_ns);
    Some(CallContext {
        op: c.family(),
        result: Result::of(outcome),
        fin_then_rst: rst.is_some_and(|rst| before(Flags::FIN, rst).is_some()),
        rst_before: rst.is_some(),
        fin_before: before(Flags::FIN, c.start_ns).is_some(),
        own_shutdown: false,
    })
}

/// Fills `other_os` for every step of the record, and for every program call.
pub fn annotate(r: &mut Record) {
    let step_notes: Vec<Vec<OtherOs>> = (0..r.steps.len())
        .map(|i| context(r, i).map(|c| notes(&c)).unwrap_or_default())
        .collect();
    for (s, n) in r.steps.iter_mut().zip(step_notes) {
        s.other_os = n;
    }
    let program_notes: Vec<Vec<OtherOs>> = r
        .program_calls
        .iter()
        .map(|c| program_context(r, c).map(|x| notes(&x)).unwrap_or_default())
        .collect();
    for (c, n) in r.program_calls.iter_mut().zip(program_notes) {
        c.other_os = n;
    }
}

/// One call result a scenario's expectations record, with what the other systems would
/// return in its place: what `lab list` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measured {
    /// `client recv`, `client#1 recv`.
    pub call: String,
    /// The catalog entry of the Linux result (`econnreset`, `peer-eof`).
    pub id: Option<&'static str>,
    /// As measured: `EOF`, `EPIPE + SIGPIPE`, `ETIMEDOUT`.
    pub linux: String,
    pub windows: Option<OtherOs>,
    pub macos: Option<OtherOs>,
}

/// recv's 0 at the peer's FIN, with no RST before it: the same on every system. (After a
/// RST, Linux reads EOF once the error has been reported; what the others do then is not
/// known here.)
fn eof(os: Os, c: &CallContext) -> Option<OtherOs> {
    (c.result == Result::Eof && c.fin_before && !c.rst_before).then(|| {
        note(
            os,
            "EOF".into(),
            Basis::Doc,
            "recv returns 0 once the peer's FIN has been read",
        )
    })
}

/// The error results (EOF, an errno, blocked) a scenario's `expect` lines measured, with the
/// other systems' results derived by the same rules as a run's notes.
pub fn measured(sc: &Scenario) -> Vec<Measured> {
    let mut out: Vec<Measured> = Vec::new();
    for e in &sc.expectations {
        let Check::Call {
            actor,
            conn,
            op,
            result,
        } = &e.check
        else {
            continue;
        };
        let call = format!("{} {op}", actor.label(*conn));
        if result.eq_ignore_ascii_case("SIGPIPE") {
            if let Some(m) = out.iter_mut().rev().find(|m| m.call == call) {
                m.linux.push_str(" + SIGPIPE");
            }
            continue;
        }
        let res = if result.eq_ignore_ascii_case("EOF") {
            Result::Eof
        } else if result.parse::<u64>().is_ok()
            || result.eq_ignore_ascii_case("ok")
            || result.eq_ignore_ascii_case("blocked")
        {
            // Not an error: bytes moved, a call that succeeded or waited.
            continue;
        } else {
            Result::Errno(result.to_ascii_uppercase())
        };
        // The packets the expectations saw before the call's step, from the peer's side.
        let saw = |flags: &str, until: usize| {
            sc.expectations.iter().filter(move |x| x.step < until).any(|x| {
                matches!(&x.check, Check::Packet { from, flags: f } if *from == actor.peer() && f.contains(flags))
            })
        };
        let first_step = |flags: &str| {
            sc.expectations
                .iter()
                .filter(|x| x.step < e.step)
                .filter(|x| matches!(&x.check, Check::Packet { from, flags: f } if *from == actor.peer() && f.contains(flags)))
                .map(|x| x.step)
                .min()
        };
        let fin_then_rst = match (first_step("F"), first_step("R")) {
            (Some(f), Some(r)) => f <= r,
            _ => false,
        };
        let ctx = CallContext {
            op: match op.as_str() {
                "recv" => "recv",
                "send" => "send",
                "connect" => "connect",
                "accept" => "accept",
                _ => "other",
            },
            result: res.clone(),
            fin_then_rst,
            rst_before: saw("R", e.step),
            fin_before: saw("F", e.step),
            own_shutdown: own_shutdown(sc, *actor, e.step),
        };
        let n = notes(&ctx);
        let pick = |os: Os| n.iter().find(|o| o.os == os).cloned();
        let entry = match &res {
            Result::Eof => Entry::by_id("peer-eof"),
            Result::Errno(name) => Entry::by_posix_name(name),
            _ => None,
        };
        out.push(Measured {
            call,
            id: entry.map(|e| e.id),
            linux: match &res {
                Result::Eof => "EOF".into(),
                Result::Errno(x) => x.clone(),
                _ => result.clone(),
            },
            windows: pick(Os::Windows).or_else(|| eof(Os::Windows, &ctx)),
            macos: pick(Os::Macos)
                .or_else(|| eof(Os::Macos, &ctx))
                .or_else(|| {
                    // No rule: the same condition, in BSD's numbering.
                    let b = entry?.bsd?;
                    Some(note(
                        Os::Macos,
                        format!("{} {}", b.name, b.number),
                        Basis::Doc,
                        "same condition, BSD's number",
                    ))
                }),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str) -> Vec<Measured> {
        let src = crate::builtin::source(name).unwrap();
        measured(&crate::parse::parse(src).unwrap())
    }

    #[test]
    fn the_seed_lists_what_its_run_measured() {
        let seed = m("server-closes-early");
        let calls: Vec<(&str, &str)> = seed
            .iter()
            .map(|x| (x.call.as_str(), x.linux.as_str()))
            .collect();
        assert_eq!(
            calls,
            [("client recv", "EOF"), ("client send", "EPIPE + SIGPIPE")]
        );
        assert_eq!(
            seed[0].windows.as_ref().unwrap().result,
            "WSAECONNABORTED 10053"
        );
        assert_eq!(seed[0].macos.as_ref().unwrap().result, "ECONNRESET 54");
        assert_eq!(seed[1].macos.as_ref().unwrap().result, "ECONNRESET 54");
    }

    #[test]
    fn a_send_after_ones_own_shutdown_is_wsaeshutdown() {
        let hc = m("half-close");
        let send = hc.iter().find(|x| x.call == "client send").unwrap();
        assert_eq!(send.linux, "EPIPE + SIGPIPE");
        assert_eq!(send.windows.as_ref().unwrap().result, "WSAESHUTDOWN 10058");
    }
}
