//! What Windows and macOS would have returned for each call of a run, where that differs from
//! Linux or is known. Names and numbers come from the catalog; the packet context (did a RST
//! follow the peer's FIN?) comes from the record.

use crate::record::{OtherOs, Outcome, Record};
use crate::scenario::{Actor, Op, StepKind};
use tcpmortem_core::catalog::{Entry, WinsockIdentity};
use tcpmortem_core::{Basis, Os};
use tcpmortem_wire::Flags;

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

/// Whether `actor` had received the peer's FIN and then its RST before time `t`: the case
/// where Linux's tcp_reset() stores EPIPE (CLOSE_WAIT) and reads report EOF first.
fn reset_after_fin(r: &Record, actor: Actor, t: u64) -> bool {
    let peer = actor.peer();
    let rst = r
        .packets
        .iter()
        .find(|p| p.from == peer && p.flags.has(Flags::RST) && p.t_ns < t);
    let Some(rst) = rst else { return false };
    r.packets
        .iter()
        .any(|p| p.from == peer && p.flags.has(Flags::FIN) && p.t_ns < rst.t_ns)
}

fn rst_before(r: &Record, actor: Actor, t: u64) -> bool {
    r.packets
        .iter()
        .any(|p| p.from == actor.peer() && p.flags.has(Flags::RST) && p.t_ns < t)
}

/// Fills `other_os` for every step of the record.
pub fn annotate(r: &mut Record) {
    let notes: Vec<Vec<OtherOs>> = r.steps.iter().map(|s| for_step(r, s.index)).collect();
    for (s, n) in r.steps.iter_mut().zip(notes) {
        s.other_os = n;
    }
}

fn note(os: Os, result: String, basis: Basis, why: &str) -> OtherOs {
    OtherOs {
        os,
        result,
        basis,
        why: why.to_string(),
    }
}

fn for_step(r: &Record, i: usize) -> Vec<OtherOs> {
    let s = &r.steps[i];
    let Some(StepKind::Call { actor, op, .. }) = r.scenario.steps.get(i).map(|x| &x.kind) else {
        return Vec::new();
    };
    let Some(outcome) = &s.outcome else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match (op, outcome) {
        (Op::Recv { .. }, Outcome::Eof) if reset_after_fin(r, *actor, s.start_ns) => {
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
        (Op::Send { .. }, Outcome::Error { errno, .. }) if errno == "EPIPE" => {
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
            if reset_after_fin(r, *actor, s.start_ns) {
                out.push(note(
                    Os::Macos,
                    bsd_text("econnreset"),
                    Basis::Src,
                    "XNU stores ECONNRESET for a RST in CLOSE_WAIT, so the first call after it reports that",
                ));
            }
        }
        (_, Outcome::Error { errno, .. }) => {
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
        (Op::Recv { .. }, Outcome::Bytes { .. }) if rst_before(r, *actor, s.start_ns) => {
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
        (Op::Kill, Outcome::Killed) => {
            out.push(note(
                Os::Windows,
                format!("the dying process's connections are reset (RST): the peer gets {}", wsa_text("econnreset")),
                Basis::Obs,
                "Linux and macOS close a dead process's sockets like close(): FIN, or RST only with unread data",
            ));
        }
        _ => {}
    }
    out
}
