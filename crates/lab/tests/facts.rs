//! "What happened" says only what the record shows. Every built-in scenario's record (real
//! runs saved in tests/data/lab by scripts/refresh-lab-records) and thousands of variants of
//! them (packets, events, calls, states and counters removed or changed at random) are
//! explained, and every fact is checked against its record: a FIN named is a FIN packet from
//! that side, a RST "sent by the kernel" is a send_reset event or a RST packet from it, a state
//! named is a state observed, a result named is the call's result, a counter named moved.

use proptest::prelude::*;
use std::path::PathBuf;
use tcpmortem_core::TcpState;
use tcpmortem_lab::explain::{Fact, audit, facts};
use tcpmortem_lab::record::{Outcome, Proto, Record};
use tcpmortem_lab::scenario::{Actor, Host};
use tcpmortem_wire::Flags;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/lab")
}

fn records() -> Vec<(String, Record)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir()).expect("tests/data/lab").flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let r: Record =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((r.scenario.name.clone(), r));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The states the record observed: ends before and after steps, and kernel events.
fn observed_states(r: &Record) -> Vec<TcpState> {
    let mut v: Vec<TcpState> = r
        .steps
        .iter()
        .flat_map(|s| s.before.iter().chain(&s.after))
        .filter_map(|e| e.state)
        .collect();
    for e in &r.events {
        v.extend([e.state, e.old_state, e.new_state].into_iter().flatten());
    }
    v
}

/// Checks the facts, and the prose against the facts: a sentence that names a FIN comes
/// from a fact that holds a FIN packet; a state named in a sentence was observed.
fn holds(name: &str, r: &Record) {
    let f = facts(r);
    let bad = audit(r, &f);
    assert!(
        bad.is_empty(),
        "{name}: facts the record does not show: {bad:#?}"
    );
    let states = observed_states(r);
    for fact in &f {
        let s = fact.sentence(r);
        let words: Vec<&str> = s
            .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        if words.contains(&"FIN") {
            let with_fin = match fact {
                Fact::BothClosed { .. } | Fact::OneClosed { .. } => true,
                Fact::Killed { packets, .. } => {
                    packets.iter().any(|&i| r.packets[i].has(Flags::FIN))
                }
                Fact::Stored { then, .. } => then.fin_first.is_some(),
                Fact::Icmp { .. } => true, // names the quoted FIN segment, a packet of the record
                _ => false,
            };
            assert!(with_fin, "{name}: a FIN named without one: {s}");
        }
        for w in &words {
            if let Some(st) = TcpState::parse(w).filter(|_| w.len() > 3) {
                // RST reasons spell states too (TCP_TIMEWAIT_SOCKET is not a state name);
                // the reason's own state ("in TIME_WAIT") comes from its event.
                assert!(
                    states.contains(&st),
                    "{name}: state {w} named but never observed: {s}"
                );
            }
        }
    }
}

#[test]
fn every_builtin_scenarios_explanation_is_backed_by_its_record() {
    let all = records();
    assert_eq!(
        all.len(),
        tcpmortem_lab::builtin::BUILTIN.len(),
        "one record per built-in"
    );
    for (name, r) in &all {
        holds(name, r);
        let text = tcpmortem_lab::explain::explain(r).join("\n");
        assert!(!text.is_empty(), "{name}: nothing explained");
    }
}

fn get<'a>(all: &'a [(String, Record)], name: &str) -> &'a Record {
    &all.iter().find(|(n, _)| n == name).unwrap().1
}

/// The cases issue 11 found, each now told from the record.
#[test]
fn the_explanations_issue_11_found_false_are_true() {
    let all = records();
    // linger-abort: the send read the ECONNRESET; the recv's EOF is not a FIN's.
    let r = get(&all, "linger-abort");
    let f = facts(r);
    let stored = f
        .iter()
        .find_map(|x| match x {
            Fact::Stored { then, .. } => Some(then.clone()),
            _ => None,
        })
        .unwrap();
    assert!(stored.fin_first.is_none(), "{stored:?}");
    assert!(stored.eof_after.is_some(), "{stored:?}");
    assert!(
        !f.iter()
            .any(|x| matches!(x, Fact::OneClosed { .. } | Fact::BothClosed { .. }))
    );
    // peer-reboot: the server's kernel did send a RST; the router dropped it.
    let r = get(&all, "peer-reboot");
    let dropped = facts(r)
        .into_iter()
        .find_map(|x| match x {
            Fact::Rebooted { dropped, .. } => Some(dropped),
            _ => None,
        })
        .unwrap();
    assert!(
        dropped
            .iter()
            .any(|&i| r.packets[i].has(Flags::RST) && !r.packets[i].crossed)
    );
    // accept-queue-abort: two connections, the first reset, the counters tell the overflow.
    let r = get(&all, "accept-queue-abort");
    assert_eq!(r.connections.len(), 2);
    let f = facts(r);
    assert!(f.iter().any(
        |x| matches!(x, Fact::ResetSent { end, .. } if end.conn == 1 && end.actor == Actor::Server)
    ));
    assert!(f.iter().any(|x| matches!(x, Fact::Counted { host: Host::Server, counters, .. } if counters.iter().any(|(n, _)| n == "ListenOverflows"))));
    // accept-queue-full: the connect that timed out is #2's, and no state of #1's is told
    // as its own.
    let told = tcpmortem_lab::explain::explain(get(&all, "accept-queue-full")).join("\n");
    assert!(
        told.contains("The client saw: `client connect` (connection #2) → ETIMEDOUT"),
        "{told}"
    );
    assert!(!told.contains("ESTABLISHED"), "{told}");
    // ... and after its last step the first connection is still established at both ends,
    // beside the second's CLOSE.
    let last = get(&all, "accept-queue-full").steps.last().unwrap();
    let st = |actor: Actor, conn: u32| last.end_after(actor, conn).and_then(|e| e.state);
    assert_eq!(st(Actor::Client, 1), Some(TcpState::Established));
    assert_eq!(st(Actor::Server, 1), Some(TcpState::Established));
    assert_eq!(st(Actor::Client, 2), Some(TcpState::Close));
    assert_eq!(st(Actor::Server, 2), None);
    // icmp-unreachable-connect: the router's ICMP is recorded, and the lock-dropped one counted.
    let r = get(&all, "icmp-unreachable-connect");
    let f = facts(r);
    assert!(
        f.iter()
            .any(|x| matches!(x, Fact::Icmp { packets, .. } if packets.len() == 2))
    );
    assert!(f.iter().any(|x| matches!(x, Fact::Counted { host: Host::Client, counters, .. } if counters.iter().any(|(n, _)| n == "LockDroppedIcmps"))));
    // syn-dropped: the count of SYNs is explained by the linear timeouts.
    let r = get(&all, "syn-dropped");
    let syns = facts(r)
        .into_iter()
        .find_map(|x| match x {
            Fact::SynRetries { syns, .. } => Some(syns.len()),
            _ => None,
        })
        .unwrap();
    assert_eq!(syns, 3);
    assert!(
        tcpmortem_lab::explain::explain(r)
            .iter()
            .any(|s| s.contains("tcp_syn_linear_timeouts=4"))
    );
}

/// One change to a record.
#[derive(Debug, Clone)]
enum Change {
    DropPacket(usize),
    DropEvent(usize),
    Flags(usize, u8),
    From(usize, u8),
    Conn(usize, Option<u32>),
    Crossed(usize, bool),
    Forged(usize, bool),
    Time(usize, u64),
    Outcome(usize, u8),
    Returned(usize, Option<u64>),
    CallConn(usize, Option<u32>),
    Blocked(usize, bool),
    State(usize, usize, Option<u8>),
    EventName(usize, u8),
    EventError(usize, Option<u8>),
    EventHost(usize, bool),
    EventConn(usize, Option<u32>),
    DropCounters(usize),
    Counter(usize, u8, i64),
    StepOutcome(usize, u8),
}

const EVENTS: [&str; 4] = [
    "tcp_send_reset",
    "tcp_receive_reset",
    "inet_sock_set_state",
    "inet_sk_error_report",
];
const ERRORS: [&str; 4] = ["ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH"];
const COUNTERS: [&str; 4] = [
    "ListenOverflows",
    "LockDroppedIcmps",
    "TCPAbortOnData",
    "SyncookiesRecv",
];

fn outcome(k: u8) -> Outcome {
    match k % 6 {
        0 => Outcome::Eof,
        1 => Outcome::Bytes { bytes: 5 },
        2 => Outcome::error(libc_errno(k)),
        3 => Outcome::Blocked,
        4 => Outcome::Killed,
        _ => Outcome::Ok,
    }
}

fn libc_errno(k: u8) -> i32 {
    [104, 32, 110, 113][usize::from(k / 6) % 4]
}

fn change() -> impl Strategy<Value = Change> {
    let i = 0usize..64;
    let conn = proptest::option::of(1u32..4);
    prop_oneof![
        i.clone().prop_map(Change::DropPacket),
        i.clone().prop_map(Change::DropEvent),
        (i.clone(), any::<u8>()).prop_map(|(a, b)| Change::Flags(a, b & 0x3f)),
        (i.clone(), any::<u8>()).prop_map(|(a, b)| Change::From(a, b)),
        (i.clone(), conn.clone()).prop_map(|(a, b)| Change::Conn(a, b)),
        (i.clone(), any::<bool>()).prop_map(|(a, b)| Change::Crossed(a, b)),
        (i.clone(), any::<bool>()).prop_map(|(a, b)| Change::Forged(a, b)),
        (i.clone(), 0u64..5_000_000_000).prop_map(|(a, b)| Change::Time(a, b)),
        (i.clone(), any::<u8>()).prop_map(|(a, b)| Change::Outcome(a, b)),
        (i.clone(), proptest::option::of(0u64..5_000_000_000))
            .prop_map(|(a, b)| Change::Returned(a, b)),
        (i.clone(), conn.clone()).prop_map(|(a, b)| Change::CallConn(a, b)),
        (i.clone(), any::<bool>()).prop_map(|(a, b)| Change::Blocked(a, b)),
        (i.clone(), 0usize..4, proptest::option::of(1u8..13))
            .prop_map(|(a, b, c)| Change::State(a, b, c)),
        (i.clone(), any::<u8>()).prop_map(|(a, b)| Change::EventName(a, b)),
        (i.clone(), proptest::option::of(any::<u8>())).prop_map(|(a, b)| Change::EventError(a, b)),
        (i.clone(), any::<bool>()).prop_map(|(a, b)| Change::EventHost(a, b)),
        (i.clone(), conn).prop_map(|(a, b)| Change::EventConn(a, b)),
        i.clone().prop_map(Change::DropCounters),
        (i.clone(), any::<u8>(), -3i64..4).prop_map(|(a, b, c)| Change::Counter(a, b, c)),
        (i, any::<u8>()).prop_map(|(a, b)| Change::StepOutcome(a, b)),
    ]
}

fn apply(r: &mut Record, c: &Change) {
    let np = r.packets.len().max(1);
    let ne = r.events.len().max(1);
    let nc = r.calls.len().max(1);
    let ns = r.steps.len().max(1);
    match *c {
        Change::DropPacket(i) if !r.packets.is_empty() => {
            r.packets.remove(i % np);
        }
        Change::DropEvent(i) if !r.events.is_empty() => {
            r.events.remove(i % ne);
        }
        Change::Flags(i, f) => {
            if let Some(Proto::Tcp { flags, .. }) = r.packets.get_mut(i % np).map(|p| &mut p.proto)
            {
                *flags = Flags(f);
            }
        }
        Change::From(i, h) => {
            if let Some(p) = r.packets.get_mut(i % np) {
                p.from = [Host::Client, Host::Router, Host::Server][usize::from(h) % 3];
            }
        }
        Change::Conn(i, c) => {
            if let Some(p) = r.packets.get_mut(i % np) {
                p.conn = c;
            }
        }
        Change::Crossed(i, b) => {
            if let Some(p) = r.packets.get_mut(i % np) {
                p.crossed = b;
            }
        }
        Change::Forged(i, b) => {
            if let Some(p) = r.packets.get_mut(i % np) {
                p.forged = b;
            }
        }
        Change::Time(i, t) => {
            if let Some(p) = r.packets.get_mut(i % np) {
                p.t_ns = t;
            }
            if let Some(e) = r.events.get_mut(i % ne) {
                e.t_ns = t;
                e.order_ns = t;
            }
        }
        Change::Outcome(i, k) => {
            if let Some(c) = r.calls.get_mut(i % nc) {
                c.outcome = Some(outcome(k));
            }
        }
        Change::Returned(i, t) => {
            if let Some(c) = r.calls.get_mut(i % nc) {
                c.returned_ns = t;
            }
        }
        Change::CallConn(i, conn) => {
            if let Some(c) = r.calls.get_mut(i % nc) {
                c.conn = conn;
            }
        }
        Change::Blocked(i, b) => {
            if let Some(c) = r.calls.get_mut(i % nc) {
                c.blocked = b;
            }
        }
        Change::State(i, j, st) => {
            if let Some(s) = r.steps.get_mut(i % ns) {
                let list = if j % 2 == 0 {
                    &mut s.before
                } else {
                    &mut s.after
                };
                if !list.is_empty() {
                    let n = list.len();
                    list[j % n].state = st.and_then(TcpState::from_number);
                }
            }
        }
        Change::EventName(i, k) => {
            if let Some(e) = r.events.get_mut(i % ne) {
                e.event = EVENTS[usize::from(k) % 4].into();
            }
        }
        Change::EventError(i, k) => {
            if let Some(e) = r.events.get_mut(i % ne) {
                e.error = k.map(|k| ERRORS[usize::from(k) % 4].into());
            }
        }
        Change::EventHost(i, client) => {
            if let Some(e) = r.events.get_mut(i % ne) {
                e.host = if client { Actor::Client } else { Actor::Server };
            }
        }
        Change::EventConn(i, c) => {
            if let Some(e) = r.events.get_mut(i % ne) {
                e.conn = c;
            }
        }
        Change::DropCounters(i) => {
            if let Some(s) = r.steps.get_mut(i % ns) {
                s.counters.clear();
            }
        }
        Change::Counter(i, k, d) => {
            if let Some(s) = r.steps.get_mut(i % ns) {
                s.counters.push(tcpmortem_lab::record::CounterDelta {
                    host: [Host::Client, Host::Router, Host::Server][usize::from(k) % 3],
                    group: "TcpExt".into(),
                    name: COUNTERS[usize::from(k) % 4].into(),
                    delta: d,
                });
            }
        }
        Change::StepOutcome(i, k) => {
            if let Some(s) = r.steps.get_mut(i % ns) {
                s.outcome = Some(outcome(k));
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any record, however its evidence was changed, is explained only by what it holds.
    #[test]
    fn variants_of_every_record_are_explained_only_by_what_they_hold(
        which in 0usize..64,
        changes in proptest::collection::vec(change(), 1..12),
    ) {
        let all = records_cached();
        let (name, base) = &all[which % all.len()];
        let mut r = base.clone();
        for c in &changes {
            apply(&mut r, c);
        }
        holds(&format!("{name} after {changes:?}"), &r);
    }
}

fn records_cached() -> &'static [(String, Record)] {
    static ALL: std::sync::OnceLock<Vec<(String, Record)>> = std::sync::OnceLock::new();
    ALL.get_or_init(records)
}

/// `lab list` and the runs say the same thing: for every built-in scenario, each error the
/// list derives from the scenario's expectations is what its saved run returned at that call,
/// and the Windows and macOS results it gives are the notes that run carries there.
#[test]
fn lab_list_agrees_with_every_builtin_run() {
    use tcpmortem_core::errno::Os;
    let (mut listed, mut compared) = (0, 0);
    for (name, r) in &records() {
        for m in tcpmortem_lab::other_os::measured(&r.scenario) {
            listed += 1;
            let linux = m.linux.trim_end_matches(" + SIGPIPE");
            let step = r
                .steps
                .iter()
                .find(|s| {
                    let label = s
                        .text
                        .split_whitespace()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" ");
                    let out = s.calls.last().and_then(|&i| r.calls[i].outcome.as_ref());
                    label == m.call
                        && match out {
                            Some(Outcome::Eof) => linux == "EOF",
                            Some(o) => o.errno() == Some(linux),
                            None => false,
                        }
                })
                .unwrap_or_else(|| panic!("{name}: {} → {} is in no step", m.call, m.linux));
            if m.linux.ends_with("SIGPIPE") {
                assert!(step.sigpipe, "{name}: {} had no SIGPIPE", m.call);
            }
            for (os, from_list) in [(Os::Windows, &m.windows), (Os::Macos, &m.macos)] {
                let ran = step.other_os.iter().find(|o| o.os == os);
                if let (Some(l), Some(o)) = (from_list, ran) {
                    compared += 1;
                    assert_eq!(
                        l.result, o.result,
                        "{name}: {} {os:?}: the list vs the run",
                        m.call
                    );
                }
            }
        }
    }
    eprintln!("{listed} errors listed, {compared} other-OS results compared");
    assert!(
        listed >= 25 && compared >= 25,
        "{listed} listed, {compared} compared"
    );
}

/// Send-Q is what a socket holds: in every built-in run, a socket whose send queue is empty
/// (`sk_wmem_queued` 0, as after tcp_reset() purged it) shows 0, and a CLOSE socket shows
/// nothing queued (server-closes-early, user-timeout, peer-reboot and middlebox-reset once
/// showed 9 or 5, sequence arithmetic over data the kernel had discarded).
#[test]
fn send_q_is_what_every_socket_holds() {
    let mut closed = 0;
    for (name, r) in &records() {
        for (i, s) in r.steps.iter().enumerate() {
            for e in s.before.iter().chain(&s.after) {
                if e.wmem_queued == Some(0) {
                    assert_eq!(e.send_q, 0, "{name} step {}: {e:?}", i + 1);
                }
                if e.state == Some(TcpState::Close) {
                    closed += 1;
                    assert_eq!(e.send_q, 0, "{name} step {}: {e:?}", i + 1);
                }
            }
        }
    }
    assert!(closed >= 20, "{closed} CLOSE sockets seen");
}
