//! The rules every verdict keeps, checked on the structured [`Ending`] against the frames
//! themselves, over every corpus trace and over generated variants of them (one direction
//! of a connection removed, RSTs moved, packets dropped), so that the next contradiction
//! fails here instead of reaching a user:
//!
//! - every statement names frames, of this connection, within its first and last frame;
//! - a statement that a side sent something names only frames that side sent (by IP source),
//!   with the flags it speaks of (a SYN is a SYN, a RST|ACK has ACK, data has payload...);
//! - the side an ending is `by` has a statement of its own (an ICMP error aside);
//! - a side "saw" something (an error or EOF) only in a state whose application holds the
//!   socket, and has a state only if its own frames, or its peer's acknowledgments in a
//!   one-way capture, show one;
//! - a side said to have had no socket (the sender of a half-open's bare RST) has no state;
//! - a capture holding only one side's packets, which acknowledge the other's, is said to be
//!   one-way, and is never a SYN left unanswered.

mod common;

use common::traces;
use proptest::prelude::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use tcpmortem_analyze::ending::{Fact, Kind, Role, can_report};
use tcpmortem_analyze::{Checksums, Connection, Decoded, Decoder, Options, Tracker};
use tcpmortem_core::TcpState;
use tcpmortem_wire::Flags;
use tcpmortem_wire::capture::Reader;

/// A trace's frames as the tracker gets them (the first interface of the lab's fixtures).
fn decoded(path: &Path, checksums: Checksums) -> Vec<Decoded> {
    let mut r = Reader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut d = Decoder::new(&Options {
        checksums,
        ..Options::default()
    });
    let mut v = Vec::new();
    while let Ok(Some(p)) = r.next_packet() {
        if p.interface != 0 {
            continue;
        }
        v.push(d.decode(p.frame, p.ts_ns, p.linktype, p.data));
    }
    v
}

/// Numbers the frames 1, 2, 3... in the order given, as a capture of them would.
fn renumber(frames: &mut [Decoded]) {
    for (i, d) in frames.iter_mut().enumerate() {
        let n = i as u64 + 1;
        match d {
            Decoded::Tcp(p) => p.frame = n,
            Decoded::Icmp { at, .. } => at.frame = n,
            _ => {}
        }
    }
}

fn analyze(frames: &[Decoded], checksums: Checksums) -> Vec<Connection> {
    let mut t = Tracker::new(Options {
        checksums,
        ..Options::default()
    });
    for d in frames {
        t.feed(d);
    }
    t.finish()
}

enum Seen {
    Tcp {
        src: SocketAddr,
        dst: SocketAddr,
        flags: Flags,
        len: u32,
        seq: u32,
        ack: u32,
    },
    Icmp {
        src: SocketAddr,
        dst: SocketAddr,
    },
}

fn table(frames: &[Decoded]) -> HashMap<u64, Seen> {
    frames
        .iter()
        .filter_map(|d| match d {
            Decoded::Tcp(p) => Some((
                p.frame,
                Seen::Tcp {
                    src: p.seg.src,
                    dst: p.seg.dst,
                    flags: p.seg.flags,
                    len: p.seg.payload_len,
                    seq: p.seg.seq,
                    ack: p.seg.ack,
                },
            )),
            Decoded::Icmp { at, quoted } => Some((
                at.frame,
                Seen::Icmp {
                    src: quoted.src,
                    dst: quoted.dst,
                },
            )),
            _ => None,
        })
        .collect()
}

/// Checks one connection's ending against the frames; `exact`: every frame of the table
/// went into the evidence (checksums ignored), so what the frames lack the evidence lacks.
fn check(c: &Connection, t: &HashMap<u64, Seen>, exact: bool) -> Result<(), String> {
    let e = &c.ending;
    let addr = |r: Role| match r {
        Role::Client => c.zeek.orig,
        Role::Server => c.zeek.resp,
    };
    let ours = |a: SocketAddr, b: SocketAddr| {
        (a == c.zeek.orig && b == c.zeek.resp) || (a == c.zeek.resp && b == c.zeek.orig)
    };
    // The connection's TCP frames, by sender.
    let sent_by = |r: Role| -> Vec<(u64, Flags, u32)> {
        (c.first_frame..=c.last_frame)
            .filter_map(|f| match t.get(&f) {
                Some(Seen::Tcp {
                    src,
                    dst,
                    flags,
                    len,
                    ..
                }) if *src == addr(r) && *dst == addr(r.peer()) => Some((f, *flags, *len)),
                _ => None,
            })
            .collect()
    };
    let fail = |what: String| Err(format!("{what}\n  ending: {e:#?}"));
    if e.story.is_empty() && c.client.pkts + c.server.pkts > 0 {
        return fail("no statement, though packets of it were used".into());
    }
    for s in &e.story {
        if s.frames.is_empty() {
            return fail(format!("{:?} names no frame", s.fact));
        }
        let rst_at = e
            .story
            .iter()
            .find_map(|s| matches!(s.fact, Fact::RstAck | Fact::BareRst).then(|| s.frames[0]));
        let fin_of = |r: Role| {
            e.story
                .iter()
                .find(|s| s.fact == Fact::Fin && s.from == Some(r))
                .map(|s| s.frames[0])
        };
        for &f in &s.frames {
            if f < c.first_frame || f > c.last_frame {
                return fail(format!(
                    "{:?} names frame {f}, outside the connection's {}–{}",
                    s.fact, c.first_frame, c.last_frame
                ));
            }
            match (s.from, t.get(&f)) {
                (None, Some(Seen::Icmp { src, dst }))
                    if s.fact == Fact::Unreachable && ours(*src, *dst) => {}
                (
                    Some(r),
                    Some(Seen::Tcp {
                        src,
                        dst,
                        flags,
                        len,
                        ..
                    }),
                ) if *src == addr(r) && *dst == addr(r.peer()) => {
                    let (syn, ack, fin, rst) = (
                        flags.has(Flags::SYN),
                        flags.has(Flags::ACK),
                        flags.has(Flags::FIN),
                        flags.has(Flags::RST),
                    );
                    let ok = match s.fact {
                        Fact::Syn => syn && !ack,
                        Fact::SynAck => syn && ack,
                        Fact::Sent => true,
                        Fact::UnacceptableAck => ack && !syn,
                        Fact::AcksUnseenPeer => ack && !rst && sent_by(r.peer()).is_empty(),
                        Fact::DataAfterFin => {
                            *len > 0 && fin_of(r.peer()).is_some_and(|fin| fin < f)
                        }
                        Fact::DataUnacked => {
                            *len > 0 && fin_of(r.peer()).is_some_and(|fin| f < fin)
                        }
                        Fact::Fin => fin,
                        Fact::RstAck => rst && ack,
                        Fact::BareRst => rst && !ack,
                        Fact::Retransmissions => *len > 0 || syn || fin,
                        Fact::Probes => !syn && !fin && !rst && *len <= 1,
                        // The RST and the sender's packet it is compared with.
                        Fact::TtlDiffers => rst_at.is_some_and(|r| s.frames.contains(&r)),
                        Fact::OutsideWindow => rst,
                        Fact::SentAfterRst => !rst && rst_at.is_some_and(|r| r < f),
                        Fact::Unreachable => false,
                    };
                    if !ok {
                        return fail(format!(
                            "{:?} from the {} names frame {f}, whose flags are {flags} and payload {len}",
                            s.fact,
                            r.name()
                        ));
                    }
                }
                (from, _) => {
                    return fail(format!(
                        "{:?} from {:?} names frame {f}, which that side did not send",
                        s.fact, from
                    ));
                }
            }
        }
    }
    if let Some(by) = e.by
        && e.kind != Kind::Unreachable
        && !e.story.iter().any(|s| s.from == Some(by))
    {
        return fail(format!(
            "the ending is by the {}, with no statement of what it sent",
            by.name()
        ));
    }
    for r in [Role::Client, Role::Server] {
        let saw = e.saw(r);
        let state = e.state(r);
        let reports = saw.linux.is_some() || saw.windows.is_some() || saw.macos.is_some();
        if reports && !can_report(state) {
            return fail(format!(
                "the {} saw {:?} in state {state:?}, where no application holds the socket",
                r.name(),
                saw.linux
            ));
        }
        let acked_by_peer = e.one_way == Some(r.peer())
            && e.story
                .iter()
                .any(|s| s.fact == Fact::AcksUnseenPeer && s.from == Some(r.peer()));
        if state.is_some() && sent_by(r).is_empty() && !acked_by_peer {
            return fail(format!(
                "the {} has state {state:?}, but no frame of it and no acknowledgment of it was captured",
                r.name()
            ));
        }
    }
    // A FIN is known to have arrived only when its receiver acknowledged it: states that need
    // the peer's FIN received, or this side's FIN acknowledged, need those ACKs in the frames.
    if exact {
        // The sequence number just after a side's FIN, and whether a side's ACK reached it.
        let after_fin = |r: Role| {
            (c.first_frame..=c.last_frame).find_map(|f| match t.get(&f) {
                Some(Seen::Tcp {
                    src,
                    dst,
                    flags,
                    len,
                    seq,
                    ..
                }) if *src == addr(r) && *dst == addr(r.peer()) && flags.has(Flags::FIN) => {
                    Some(seq.wrapping_add(*len).wrapping_add(1))
                }
                _ => None,
            })
        };
        let acked_by = |r: Role, upto: u32| {
            (c.first_frame..=c.last_frame).any(|f| match t.get(&f) {
                Some(Seen::Tcp {
                    src,
                    dst,
                    flags,
                    ack,
                    ..
                }) => {
                    *src == addr(r)
                        && *dst == addr(r.peer())
                        && flags.has(Flags::ACK)
                        && !flags.has(Flags::RST)
                        && *ack == upto
                }
                _ => false,
            })
        };
        for r in [Role::Client, Role::Server] {
            let state = e.state(r);
            let got_peer_fin = after_fin(r.peer()).is_some_and(|n| acked_by(r, n));
            let fin_acked = after_fin(r).is_some_and(|n| acked_by(r.peer(), n));
            let needs_peer_fin = matches!(
                state,
                Some(
                    TcpState::CloseWait
                        | TcpState::LastAck
                        | TcpState::Closing
                        | TcpState::TimeWait
                )
            );
            if needs_peer_fin && !got_peer_fin {
                return fail(format!(
                    "the {} is in {state:?}, but no ACK of the {}'s FIN from it was captured",
                    r.name(),
                    r.peer().name()
                ));
            }
            let needs_fin_acked = matches!(state, Some(TcpState::FinWait2 | TcpState::TimeWait));
            if needs_fin_acked && !fin_acked {
                return fail(format!(
                    "the {} is in {state:?}, but no ACK of its FIN was captured",
                    r.name()
                ));
            }
        }
    }
    if e.kind == Kind::HalfOpen
        && let Some(by) = e.by
        && e.state(by).is_some()
    {
        return fail(format!(
            "half-open: the {}'s host had no socket, yet it has state {:?}",
            by.name(),
            e.state(by)
        ));
    }
    if let Some(r) = e.one_way
        && !sent_by(r.peer()).is_empty()
    {
        return fail(format!(
            "said to be one-way, but the {}'s packets were captured",
            r.peer().name()
        ));
    }
    // What the side not captured did is unknown: no ending that needs its silence.
    if e.one_way.is_some() && e.kind == Kind::HalfClosed {
        return fail(
            "a one-way capture told as half-closed: the peer's FIN could not be seen".into(),
        );
    }
    if e.kind == Kind::SynUnanswered && !sent_by(Role::Server).is_empty() {
        return fail("a SYN said to be unanswered, yet the server sent packets".into());
    }
    if exact {
        for r in [Role::Client, Role::Server] {
            let mine = sent_by(r);
            let acks = mine
                .iter()
                .any(|(_, fl, _)| fl.has(Flags::ACK) && !fl.has(Flags::RST));
            if sent_by(r.peer()).is_empty() && acks {
                if e.one_way != Some(r) {
                    return fail(format!(
                        "only the {}'s packets, acknowledging the {}'s, yet not said to be one-way",
                        r.name(),
                        r.peer().name()
                    ));
                }
                if e.kind == Kind::SynUnanswered {
                    return fail("a one-way capture told as a SYN left unanswered".into());
                }
            }
        }
    }
    Ok(())
}

fn check_all(frames: &[Decoded], checksums: Checksums) -> Result<usize, String> {
    let t = table(frames);
    let conns = analyze(frames, checksums);
    for c in &conns {
        check(c, &t, checksums == Checksums::Ignore).map_err(|e| {
            format!(
                "{} → {} (frames {}–{}, {}): {e}",
                c.zeek.orig,
                c.zeek.resp,
                c.first_frame,
                c.last_frame,
                c.ending.kind.name()
            )
        })?;
    }
    Ok(conns.len())
}

#[test]
fn every_corpus_verdict_keeps_the_rules() {
    let mut n = 0;
    for path in traces() {
        for checksums in [Checksums::Ignore, Checksums::Auto, Checksums::Verify] {
            let frames = decoded(&path, checksums);
            n += check_all(&frames, checksums)
                .unwrap_or_else(|e| panic!("{} ({checksums:?}): {e}", path.display()));
        }
    }
    assert!(n > 300, "{n} connections checked");
}

/// The 4-tuple of a decoded segment, either way.
fn tuple(d: &Decoded) -> Option<(SocketAddr, SocketAddr)> {
    match d {
        Decoded::Tcp(p) => Some(if p.seg.src <= p.seg.dst {
            (p.seg.src, p.seg.dst)
        } else {
            (p.seg.dst, p.seg.src)
        }),
        _ => None,
    }
}

#[derive(Debug, Clone)]
enum Change {
    /// Drop every packet one side of the `n`th connection sent.
    OneWay { conn: usize, side: bool },
    /// Move the `n`th RST of the capture by `by` places (within the capture).
    MoveRst { rst: usize, by: i32 },
    /// Drop every `k`th packet from offset `from`.
    Drop { k: usize, from: usize },
}

fn change(frames: &[Decoded], ch: &Change) -> Vec<Decoded> {
    let mut v = frames.to_vec();
    match *ch {
        Change::OneWay { conn, side } => {
            let mut tuples: Vec<(SocketAddr, SocketAddr)> = Vec::new();
            for d in &v {
                if let Some(t) = tuple(d)
                    && !tuples.contains(&t)
                {
                    tuples.push(t);
                }
            }
            if !tuples.is_empty() {
                let t = tuples[conn % tuples.len()];
                let from = if side { t.0 } else { t.1 };
                v.retain(
                    |d| !matches!(d, Decoded::Tcp(p) if tuple(d) == Some(t) && p.seg.src == from),
                );
            }
        }
        Change::MoveRst { rst, by } => {
            let rsts: Vec<usize> = v
                .iter()
                .enumerate()
                .filter(|(_, d)| matches!(d, Decoded::Tcp(p) if p.seg.flags.has(Flags::RST)))
                .map(|(i, _)| i)
                .collect();
            if !rsts.is_empty() {
                let from = rsts[rst % rsts.len()];
                let to = (from as i64 + i64::from(by)).clamp(0, v.len() as i64 - 1) as usize;
                let mut d = v.remove(from);
                // It takes the time of the packet it now follows (or precedes, first).
                let ts = match v.get(to.saturating_sub(1)).or(v.first()) {
                    Some(Decoded::Tcp(p)) => Some(p.ts_ns),
                    Some(Decoded::Icmp { at, .. }) => Some(i128::from(at.ts_ns)),
                    _ => None,
                };
                if let (Decoded::Tcp(p), Some(ts)) = (&mut d, ts) {
                    p.ts_ns = ts;
                }
                v.insert(to.min(v.len()), d);
            }
        }
        Change::Drop { k, from } => {
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                !(i > from && (i - from) % k == 0)
            });
        }
    }
    v
}

fn changes() -> impl Strategy<Value = Vec<Change>> {
    let one = prop_oneof![
        (any::<usize>(), any::<bool>()).prop_map(|(conn, side)| Change::OneWay { conn, side }),
        (any::<usize>(), -30i32..30).prop_map(|(rst, by)| Change::MoveRst { rst, by }),
        (2usize..9, 0usize..40).prop_map(|(k, from)| Change::Drop { k, from }),
    ];
    prop::collection::vec(one, 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Corpus traces with one direction of a connection removed, RSTs moved earlier or
    /// later, and packets dropped: every verdict still keeps the rules.
    #[test]
    fn variants_of_the_corpus_keep_the_rules(
        pick in any::<prop::sample::Index>(),
        chs in changes(),
    ) {
        let all = traces();
        let path = pick.get(&all);
        let mut frames = decoded(path, Checksums::Ignore);
        for ch in &chs {
            frames = change(&frames, ch);
        }
        renumber(&mut frames);
        if let Err(e) = check_all(&frames, Checksums::Ignore) {
            prop_assert!(false, "{} with {chs:?}: {e}", path.display());
        }
    }
}

/// The corpus cases that contradicted their packets (issue 10), told as the packets say.
#[test]
fn the_corpus_verdicts_that_contradicted_their_packets_are_told_as_the_packets_say() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/zeek/Traces");
    let conns = |trace: &str| {
        analyze(
            &decoded(&root.join(trace), Checksums::Auto),
            Checksums::Auto,
        )
    };
    // Only the client's side was captured: one-way, never an unanswered SYN.
    let ssh = conns("ssh/ssh.client-side-half-duplex.pcap");
    assert!(ssh.iter().all(|c| c.ending.one_way == Some(Role::Client)));
    assert!(ssh.iter().all(|c| c.ending.kind != Kind::SynUnanswered));
    assert!(ssh.iter().all(|c| !c.ending.kind.abnormal()));
    // The client's own RST 0.3 ms after its SYN: it gave up, it did not time out.
    let c = &conns("tcp/syn-then-rst.pcap")[0];
    assert_eq!(c.ending.kind, Kind::SynUnanswered);
    assert_eq!(
        (c.ending.client_saw.linux, c.ending.server_state),
        (None, None)
    );
    // A SYN scan: the server was still in SYN_RECV and saw nothing; the scanner had no socket.
    let scan = conns("modbus/modbus-and-non-modbus-p502.pcap");
    let c = scan.iter().find(|c| c.first_frame == 62).unwrap();
    assert_eq!(
        (c.ending.kind, c.ending.by),
        (Kind::HalfOpen, Some(Role::Client))
    );
    assert_eq!(c.ending.client_state, None);
    assert_eq!(
        c.ending.server_state,
        Some(tcpmortem_core::TcpState::SynRecv)
    );
    assert_eq!(c.ending.server_saw.linux, None);
    // The client's data crossed the server's FIN; the server's kernel reset it.
    let c = &conns("ftp/ftp-auth-tls.pcap")[0];
    assert_eq!(
        (c.ending.kind, c.ending.by),
        (Kind::DataAfterClose, Some(Role::Server))
    );
    assert_eq!(c.ending.frames, [82, 83, 84]);
    assert!(
        c.ending
            .story
            .iter()
            .any(|s| s.fact == Fact::DataUnacked && s.frames == [82])
    );
    // A lone RST: nothing is claimed of the server, of which nothing was captured.
    let c = &conns("tcp/single-rst.pcap")[0];
    assert_eq!(c.ending.kind, Kind::Reset);
    assert_eq!(
        (c.ending.server_state, c.ending.server_saw.linux),
        (None, None)
    );
    // An ACK that does not acknowledge the SYN, rejected in SYN_SENT: no contradiction.
    let c = &conns("tcp/syn-then-ack-then-rst.pcap")[0];
    assert_eq!(c.ending.kind, Kind::Reset);
    assert_eq!(
        c.ending.client_state,
        Some(tcpmortem_core::TcpState::SynSent)
    );
    assert!(
        c.ending
            .story
            .iter()
            .any(|s| s.fact == Fact::UnacceptableAck && s.frames == [2])
    );
}
