//! How a connection ended, decided from its [`Evidence`]: the kind (from the shared vocabulary,
//! `tcpmortem_core::ending`), the statements it rests on, each naming its frames, each side's
//! TCP state at that moment and what each application most likely saw on Linux, Windows and
//! macOS.
//!
//! The rules every verdict keeps (checked over the whole corpus and its variants by
//! `tests/verdicts.rs`):
//! - every [`Statement`] names at least one frame, and a statement that a side sent
//!   something names only frames that side sent, with the flags the statement speaks of;
//! - a side "saw" something (an error, or EOF) only if it had a socket that could report it:
//!   a state the capture shows (its own packets, or, when only its peer's packets were
//!   captured, the peer's acknowledgments of it), and not SYN_RECV, whose connection no
//!   application has accepted yet;
//! - a side said to have had no socket (the sender of a bare RST answering a segment) has no
//!   state;
//! - a capture that holds one direction only is recognised ([`Ending::one_way`]) and nothing
//!   is claimed about the side it missed beyond what its peer's acknowledgments show.

use crate::evidence::{Evidence, IcmpError, Mark, Rst, Side, Unreachable};
use serde::Serialize;
use tcpmortem_core::TcpState;
pub use tcpmortem_core::ending::{Kind, Role, Saw, saw_reset};

/// What a statement says its frames show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fact {
    /// Its SYN, and its retransmissions.
    Syn,
    /// Its SYN-ACK.
    SynAck,
    /// A segment it sent (what a bare RST answered, or its last).
    Sent,
    /// An ACK that does not acknowledge the peer's SYN, sent while the peer waited for a
    /// SYN-ACK: no answer a TCP socket gives to a SYN.
    UnacceptableAck,
    /// Segments acknowledging what its peer sent, although none of the peer's packets were
    /// captured: the capture holds one direction only.
    AcksUnseenPeer,
    /// Data sent after the peer's FIN.
    DataAfterFin,
    /// Data sent before the peer's FIN that the FIN did not acknowledge: it crossed the FIN.
    DataUnacked,
    /// Its FIN.
    Fin,
    /// A RST with ACK.
    RstAck,
    /// A RST without ACK.
    BareRst,
    /// Unacknowledged data sent again at growing intervals.
    Retransmissions,
    /// Keepalive probes (one below the next sequence number, at most one byte).
    Probes,
    /// A RST whose TTL differs from the other packets of its claimed sender (the frames: the
    /// RST, then the sender's packet before it).
    TtlDiffers,
    /// A RST outside the receiver's window (RFC 5961).
    OutsideWindow,
    /// Packets its claimed sender sent after the RST.
    SentAfterRst,
    /// An ICMP destination unreachable about the connection.
    Unreachable,
}

/// One statement of a verdict: what a side did, and the frames that show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// The side that sent the frames (their IP source); `None` for an ICMP error from the
    /// path.
    pub from: Option<Role>,
    pub fact: Fact,
    /// The frames that show it, in capture order; never empty.
    pub frames: Vec<u64>,
    /// Numbers that go with it ("3 SYNs", "201 then 402 ms apart").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A connection's ending.
#[derive(Debug, Clone, Serialize)]
pub struct Ending {
    pub kind: Kind,
    /// The side that closed, reset or timed out (for a middlebox reset: the side the RST
    /// claimed to come from).
    pub by: Option<Role>,
    /// Frames the verdict rests on, in capture order: those of its statements.
    pub frames: Vec<u64>,
    /// The verdict, statement by statement, in the order told.
    pub story: Vec<Statement>,
    /// Each side's TCP state just before the ending, as inferred from the packets; `None`
    /// when the capture shows no socket of it.
    pub client_state: Option<TcpState>,
    pub server_state: Option<TcpState>,
    pub client_saw: Saw,
    pub server_saw: Saw,
    /// Only this side's packets were captured, and they acknowledge the other's: the
    /// capture holds one direction (a span port with one direction, asymmetric routing).
    pub one_way: Option<Role>,
    /// Details that support the verdict, as the statements' numbers.
    pub clues: Vec<String>,
}

impl Ending {
    fn new(kind: Kind) -> Ending {
        Ending {
            kind,
            by: None,
            frames: Vec::new(),
            story: Vec::new(),
            client_state: None,
            server_state: None,
            client_saw: Saw::nothing(NO_ERROR),
            server_saw: Saw::nothing(NO_ERROR),
            one_way: None,
            clues: Vec::new(),
        }
    }

    /// The state the verdict gives `role`.
    pub fn state(&self, role: Role) -> Option<TcpState> {
        match role {
            Role::Client => self.client_state,
            Role::Server => self.server_state,
        }
    }

    /// What the verdict says `role` saw.
    pub fn saw(&self, role: Role) -> &Saw {
        match role {
            Role::Client => &self.client_saw,
            Role::Server => &self.server_saw,
        }
    }
}

const NO_ERROR: &str = "no error";
const NOT_CAPTURED: &str = "none of its packets was captured";
const ALL_BAD: &str = "none of its packets passed the checksum check";

/// States in which an application holds the socket and a call on it can fail or return EOF.
pub fn can_report(s: Option<TcpState>) -> bool {
    matches!(
        s,
        Some(
            TcpState::SynSent
                | TcpState::Established
                | TcpState::CloseWait
                | TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::Closing
        )
    )
}

/// States after the side's own FIN, where whether an application still holds the socket
/// depends on shutdown() versus close(), which the packets do not show.
pub fn fin_sent(s: Option<TcpState>) -> bool {
    matches!(
        s,
        Some(TcpState::FinWait1 | TcpState::FinWait2 | TcpState::Closing)
    )
}

/// What the side whose retransmissions ran out saw in `state`: ETIMEDOUT where an application
/// still holds the socket; after close() (LAST_ACK, TIME_WAIT...) the kernel retries up to
/// tcp_orphan_retries and gives up with no one to tell (`tcp_write_timeout()` on a
/// SOCK_DEAD socket).
fn rto_saw(state: Option<TcpState>) -> Saw {
    if fin_sent(state) {
        Saw::RTO_AFTER_FIN
    } else if can_report(state) {
        Saw::RTO
    } else {
        Saw::nothing(
            "it had closed the socket: its kernel gives up retransmitting after tcp_orphan_retries, with no application to tell",
        )
    }
}

/// After every packet.
const END: Mark = Mark {
    frame: u64::MAX,
    ts_ns: i64::MAX,
};

fn key(m: Mark) -> (i64, u64) {
    (m.ts_ns, m.frame)
}

fn before(m: Option<Mark>, t: Mark) -> bool {
    m.is_some_and(|m| key(m) < key(t))
}

/// A side's TCP state just before `t`, as far as its packets and its peer's tell; `None` if
/// the capture shows no socket of it then. `seen_by_peer`: only the peer's packets were
/// captured and they acknowledge this side, so it had a socket.
fn state_before(me: &Side, peer: &Side, t: Mark, seen_by_peer: bool) -> Option<TcpState> {
    if !before(me.first, t) {
        // Nothing of it was captured: a socket only if the peer's ACKs show one, and no later
        // state, since only its own ACK could show that the peer's FIN reached it.
        return (seen_by_peer && before(peer.first_ack, t)).then_some(TcpState::Established);
    }
    if me.rst.is_some_and(|r| key(r.at) < key(t)) {
        return Some(TcpState::Close);
    }
    // Established by the handshake, or as far as its own packets show: a plain ACK after
    // its SYN or SYN-ACK (the peer's ACK may not be in the capture).
    let established = before(me.established, t)
        || (before(me.first_plain_ack, t)
            && (me
                .syn
                .is_some_and(|s| me.first_plain_ack.is_some_and(|a| key(s) < key(a)))
                || me
                    .syn_ack
                    .is_some_and(|s| me.first_plain_ack.is_some_and(|a| key(s) < key(a)))));
    if before(me.syn, t) && !established {
        // close() in SYN_SENT sends no FIN (tcp_close()): a FIN here fits no state.
        return (!before(me.fin, t)).then_some(TcpState::SynSent);
    }
    if before(me.syn_ack, t) && !established {
        return Some(TcpState::SynRecv);
    }
    if !before(me.syn, t) && !before(me.syn_ack, t) && before(peer.syn, t) && !established {
        // The peer's SYN was captured and this side never answered it with a SYN-ACK nor
        // completed a handshake: whatever it sent, no socket state fits.
        return None;
    }
    // A FIN counts as received only once its receiver acknowledged it: a FIN in the capture
    // may have been lost after the capture point (pppoe-over-qinq.pcap: the server's later
    // segments still acknowledge only up to the client's FIN). tcp_fin() moves the receiver to
    // CLOSE_WAIT, or from FIN_WAIT_1 to CLOSING and from FIN_WAIT_2 to TIME_WAIT.
    let got_peer_fin = before(peer.fin_acked, t);
    Some(match (before(me.fin, t), got_peer_fin) {
        (true, true) => {
            // Its FIN went out after it had taken the peer's (the FIN's own ACK covers it, or
            // an earlier segment's did): a passive close through CLOSE_WAIT and LAST_ACK.
            let passive = peer
                .fin_acked
                .zip(me.fin)
                .is_some_and(|(got, sent)| key(got) <= key(sent));
            match (passive, before(me.fin_acked, t)) {
                (true, true) => TcpState::Close,
                (true, false) => TcpState::LastAck,
                (false, true) => TcpState::TimeWait,
                (false, false) => TcpState::Closing,
            }
        }
        (true, false) if before(me.fin_acked, t) => TcpState::FinWait2,
        (true, false) => TcpState::FinWait1,
        (false, true) => TcpState::CloseWait,
        (false, false) => TcpState::Established,
    })
}

fn probes_clue(n: u32) -> String {
    format!(
        "{n} keepalive probe{} went unanswered",
        if n == 1 { "" } else { "s" }
    )
}

/// "3 retransmissions of unacknowledged data, 201 then 402 ms apart".
fn backoff_clue(n: u32, gaps: &[f64]) -> String {
    let gaps: Vec<String> = gaps.iter().map(|g| format!("{g:.0}")).collect();
    format!(
        "{n} retransmissions of unacknowledged data, {} ms apart (the timer backing off)",
        gaps.join(" then ")
    )
}

fn ms(from: Mark, to: Mark) -> f64 {
    (to.ts_ns - from.ts_ns) as f64 / 1e6
}

/// The side whose packets alone were captured, if they acknowledge the other's.
fn one_way(ev: &Evidence) -> Option<usize> {
    (0..2).find(|&i| {
        let peer = &ev.sides[1 - i];
        peer.pkts == 0 && peer.unusable == 0 && ev.sides[i].first_ack.is_some()
    })
}

/// Decides the ending. `client` is the index in `ev.sides` of Zeek's originator.
pub fn classify(ev: &Evidence, client: usize) -> Ending {
    let judge = Judge {
        ev,
        client,
        one_way: one_way(ev),
    };
    // The first RST decides, whoever sent it.
    let first_rst = (0..2)
        .filter_map(|i| ev.sides[i].rst.map(|r| (i, r)))
        .min_by_key(|(_, r)| key(r.at));
    let mut e = if let Some((i, r)) = first_rst {
        judge.reset(i, r)
    } else if let Some(icmp) = ev.icmp {
        judge.unreachable(icmp)
    } else {
        judge
            .syn_unanswered()
            .or_else(|| judge.timeout())
            .unwrap_or_else(|| judge.by_fins())
    };
    if let Some(i) = judge.one_way {
        let me = &ev.sides[i];
        let mut frames: Vec<u64> = [me.first_ack, me.last_ack]
            .into_iter()
            .flatten()
            .map(|m| m.frame)
            .collect();
        frames.dedup();
        e.one_way = Some(judge.role(i));
        e.story.insert(
            0,
            Statement {
                from: Some(judge.role(i)),
                fact: Fact::AcksUnseenPeer,
                frames,
                detail: None,
            },
        );
    }
    let mut frames: Vec<u64> = e
        .story
        .iter()
        .flat_map(|s| s.frames.iter().copied())
        .collect();
    frames.sort_unstable();
    frames.dedup();
    e.frames = frames;
    debug_assert!(
        [e.client_saw, e.server_saw]
            .iter()
            .flat_map(|s| [s.linux, s.windows, s.macos])
            .flatten()
            .all(|id| e.kind.may_report(id)),
        "{:?} reports an error Kind::may_report() does not allow: {e:?}",
        e.kind
    );
    e
}

/// One connection's evidence and which side is the client, with the helpers every verdict
/// uses.
struct Judge<'a> {
    ev: &'a Evidence,
    client: usize,
    one_way: Option<usize>,
}

impl Judge<'_> {
    fn role(&self, i: usize) -> Role {
        if i == self.client {
            Role::Client
        } else {
            Role::Server
        }
    }

    /// Side `i`'s state just before `t`.
    fn state(&self, i: usize, t: Mark) -> Option<TcpState> {
        let seen_by_peer = self.one_way == Some(1 - i);
        state_before(&self.ev.sides[i], &self.ev.sides[1 - i], t, seen_by_peer)
    }

    fn set_states(&self, e: &mut Ending, t: Mark) {
        e.client_state = self.state(self.client, t);
        e.server_state = self.state(1 - self.client, t);
    }

    /// Sets side `i`'s state.
    fn set_state(&self, e: &mut Ending, i: usize, s: Option<TcpState>) {
        match self.role(i) {
            Role::Client => e.client_state = s,
            Role::Server => e.server_state = s,
        }
    }

    /// What side `i` saw, and what its peer saw.
    fn put(&self, e: &mut Ending, i: usize, mine: Saw, theirs: Saw) {
        if self.role(i) == Role::Client {
            e.client_saw = mine;
            e.server_saw = theirs;
        } else {
            e.server_saw = mine;
            e.client_saw = theirs;
        }
    }

    /// What a RST did to a side in `state`: `tcp_reset()` by state, and nothing for a side
    /// the capture shows no socket of.
    fn reached(&self, i: usize, state: Option<TcpState>) -> Saw {
        let side = &self.ev.sides[i];
        match state {
            Some(s) => saw_reset(s),
            None if side.pkts == 0 && side.unusable > 0 => Saw::nothing(ALL_BAD),
            None if side.pkts == 0 => Saw::nothing(NOT_CAPTURED),
            None => Saw::nothing("the capture shows no socket of it that could report anything"),
        }
    }

    fn say(&self, e: &mut Ending, i: usize, fact: Fact, marks: &[Option<Mark>]) {
        self.say_with(e, i, fact, marks, None);
    }

    fn say_with(
        &self,
        e: &mut Ending,
        i: usize,
        fact: Fact,
        marks: &[Option<Mark>],
        detail: Option<String>,
    ) {
        let mut frames: Vec<u64> = marks.iter().flatten().map(|m| m.frame).collect();
        frames.sort_unstable();
        frames.dedup();
        if !frames.is_empty() {
            e.story.push(Statement {
                from: Some(self.role(i)),
                fact,
                frames,
                detail,
            });
        }
    }

    /// Side `i`'s SYN, and its last retransmission.
    fn say_syn(&self, e: &mut Ending, i: usize) {
        let s = &self.ev.sides[i];
        let detail = (s.syn_count > 1).then(|| format!("{} SYNs", s.syn_count));
        self.say_with(e, i, Fact::Syn, &[s.syn, s.syn_last], detail);
    }

    fn say_rst(&self, e: &mut Ending, i: usize, r: Rst) {
        let fact = if r.with_ack {
            Fact::RstAck
        } else {
            Fact::BareRst
        };
        self.say(e, i, fact, &[Some(r.at)]);
    }

    /// Side `i` sent the first RST, `r`.
    fn reset(&self, i: usize, r: Rst) -> Ending {
        let (me, peer) = (&self.ev.sides[i], &self.ev.sides[1 - i]);
        let mut e = Ending::new(Kind::Reset);
        self.set_states(&mut e, r.at);
        e.by = Some(self.role(i));
        let my_state = self.state(i, r.at);
        let peer_state = self.state(1 - i, r.at);
        let x = self.role(i).name();
        // An IP ID jump alone proves nothing: Linux sends NO_SOCKET and TIME_WAIT RSTs from a
        // per-netns control socket with IDs of its own.
        let middlebox = r.ttl_differs || r.sender_went_on || r.window_ignored;
        let peer_answered = peer.pkts > 0 || peer.unusable > 0 || self.one_way == Some(i);
        if my_state == Some(TcpState::SynSent) && !peer_answered {
            // The connecting side gave up on its unanswered SYN with a RST of its own
            // (RSTOS0): its own timeout, a cancelled connect(), or a scanner's probe.
            e.kind = Kind::SynUnanswered;
            let syn = me.syn.unwrap_or(r.at);
            let after = ms(syn, r.at);
            self.say_syn(&mut e, i);
            self.say_with(
                &mut e,
                i,
                if r.with_ack {
                    Fact::RstAck
                } else {
                    Fact::BareRst
                },
                &[Some(r.at)],
                Some(format!("{after:.1} ms after its first SYN")),
            );
            e.clues.push(format!(
                "{} SYN(s), no answer; the {x} reset its own attempt {after:.1} ms after its first SYN",
                me.syn_count
            ));
            self.put(
                &mut e,
                i,
                Saw::nothing(
                    "it gave up the attempt itself: its own connect timeout, a cancelled connect(), or a scanner's probe",
                ),
                Saw::nothing(NOT_CAPTURED),
            );
        } else if my_state == Some(TcpState::SynSent)
            && !r.with_ack
            && peer.unacceptable_ack.is_some()
        {
            // RFC 9293 §3.10.7.3: in SYN_SENT, an ACK that does not acknowledge the SYN is
            // answered with <SEQ=SEG.ACK><CTL=RST>, and the socket goes on waiting.
            e.kind = Kind::Reset;
            self.say_syn(&mut e, i);
            self.say(
                &mut e,
                1 - i,
                Fact::UnacceptableAck,
                &[peer.unacceptable_ack],
            );
            self.say_rst(&mut e, i, r);
            self.set_state(&mut e, 1 - i, None);
            self.put(
                &mut e,
                i,
                Saw::nothing(
                    "its kernel rejected an ACK that did not acknowledge its SYN; connect() goes on waiting for a SYN-ACK",
                ),
                Saw::nothing("its ACK is no answer a TCP socket gives to a SYN"),
            );
        } else if peer_state == Some(TcpState::SynSent) && me.syn_ack.is_none() && !middlebox {
            e.kind = Kind::Refused;
            self.say_syn(&mut e, 1 - i);
            self.say_rst(&mut e, i, r);
            self.put(
                &mut e,
                1 - i,
                saw_reset(TcpState::SynSent),
                Saw::nothing("no listening socket: its kernel answered the SYN"),
            );
        } else if middlebox {
            e.kind = Kind::MiddleboxReset;
            self.say_rst(&mut e, i, r);
            if r.ttl_differs {
                self.say(&mut e, i, Fact::TtlDiffers, &[Some(r.at), r.before]);
                e.clues.push(format!(
                    "the RST's TTL differs from every other packet of the {x}"
                ));
            }
            if r.window_ignored {
                self.say(&mut e, i, Fact::OutsideWindow, &[Some(r.at)]);
                e.clues.push(
                    "the RST's sequence number is outside the receiver's window (RFC 5961)".into(),
                );
            }
            if r.sender_went_on {
                self.say(&mut e, i, Fact::SentAfterRst, &[r.went_on_at]);
                e.clues
                    .push(format!("the {x} went on sending after the RST"));
            }
            if r.ip_id_jump {
                e.clues
                    .push("the RST's IP ID jumps away from its sender's".into());
            }
            self.put(
                &mut e,
                i,
                Saw::nothing(
                    "it never sent the RST; it learns of the end only when its next segment is answered with RST",
                ),
                self.reached(1 - i, peer_state),
            );
        } else if before(me.fin, r.at) && before(peer.fin, r.at) {
            e.kind = Kind::GracefulClose;
            let (mf, pf) = (me.fin.unwrap(), peer.fin.unwrap());
            let first = if key(mf) < key(pf) { i } else { 1 - i };
            e.by = Some(self.role(first));
            let second = if first == i { pf } else { mf };
            self.say(&mut e, first, Fact::Fin, &[self.ev.sides[first].fin]);
            self.say(
                &mut e,
                1 - first,
                Fact::Fin,
                &[self.ev.sides[1 - first].fin],
            );
            self.say_rst(&mut e, i, r);
            e.clues.push(format!("both FINs came before the {x}'s RST"));
            // The states as the second FIN left them: both applications read EOF by then.
            self.set_states(&mut e, second);
            self.put_eof(&mut e);
        } else if let Some(fin) = me.fin.filter(|f| key(*f) < key(r.at))
            && let Some((data, crossed)) = self.late_data(i, r)
        {
            // The seed's 10053: data the closed side would never read, answered with RST.
            e.kind = Kind::DataAfterClose;
            self.say(&mut e, i, Fact::Fin, &[Some(fin)]);
            self.say(
                &mut e,
                1 - i,
                if crossed {
                    Fact::DataUnacked
                } else {
                    Fact::DataAfterFin
                },
                &[Some(data)],
            );
            self.say_rst(&mut e, i, r);
            e.clues.push(format!(
                "the {} sent data {} the {x}'s FIN",
                self.role(1 - i).name(),
                if crossed {
                    "unacknowledged by"
                } else {
                    "after"
                }
            ));
            self.put(
                &mut e,
                i,
                Saw::nothing("it had closed; its kernel discarded the late data"),
                self.reached(1 - i, peer_state),
            );
        } else if me.unanswered_probes > 0 {
            e.kind = Kind::KeepaliveTimeout;
            self.say_with(
                &mut e,
                i,
                Fact::Probes,
                &[me.probe_first, me.probe_last],
                Some(probes_clue(me.unanswered_probes)),
            );
            self.say_rst(&mut e, i, r);
            e.clues.push(probes_clue(me.unanswered_probes));
            self.put(&mut e, i, Saw::KEEPALIVE, self.reached(1 - i, peer_state));
        } else if let Some(gaps) = me.backoff_ms() {
            e.kind = Kind::RetransmissionTimeout;
            let clue = backoff_clue(me.rexmit_run, &gaps);
            self.say_with(
                &mut e,
                i,
                Fact::Retransmissions,
                &[me.rexmit_first, me.rexmit_last],
                Some(clue.clone()),
            );
            self.say_rst(&mut e, i, r);
            e.clues.push(clue);
            self.put(
                &mut e,
                i,
                rto_saw(my_state),
                self.reached(1 - i, peer_state),
            );
        } else if !r.with_ack && (r.peer_last.is_some() || self.one_way == Some(i)) {
            // A bare RST answering the peer's segment: its host had no socket for it
            // (tcp_v4_send_reset(), NO_SOCKET).
            e.kind = Kind::HalfOpen;
            self.say(&mut e, 1 - i, Fact::Sent, &[r.peer_last]);
            self.say_rst(&mut e, i, r);
            self.set_state(&mut e, i, None);
            if me.syn_ack.is_some() && me.pkts == u64::from(me.syn_count) + 1 {
                e.clues.push(format!(
                    "the {x} had sent nothing since its SYN-ACK: it may never have accepted the connection (accept queue full with tcp_abort_on_overflow=1, kernel reason INVALID_SYN), or lost it before sending anything"
                ));
            }
            if me.syn.is_some() && !before(me.established, r.at) {
                e.clues.push(format!(
                    "the {x}'s host had no socket for the connection its SYN opened: the SYN came from a raw socket (a SYN scan), or the attempt was abandoned in between"
                ));
            }
            self.put(
                &mut e,
                i,
                Saw::nothing("its host had no socket for the connection"),
                self.reached(1 - i, peer_state),
            );
        } else if r.with_ack
            && matches!(
                my_state,
                Some(TcpState::Established | TcpState::CloseWait | TcpState::SynRecv)
            )
        {
            e.kind = Kind::AbortiveClose;
            self.say(&mut e, i, Fact::Sent, &[r.before]);
            self.say_rst(&mut e, i, r);
            let s = my_state.expect("matched above");
            e.clues
                .push(format!("RST|ACK without a FIN first, from {s}"));
            self.put(
                &mut e,
                i,
                Saw::nothing(
                    "its own close()/abort; ECONNABORTED if the socket was destroyed under it",
                ),
                self.reached(1 - i, peer_state),
            );
        } else {
            // Nothing in the capture says what the RST answered or ended.
            e.kind = Kind::Reset;
            self.say(&mut e, 1 - i, Fact::Sent, &[r.peer_last]);
            self.say_rst(&mut e, i, r);
            let mine = if r.with_ack {
                Saw::nothing("unknown: the capture does not show why it reset")
            } else {
                self.set_state(&mut e, i, None);
                Saw::nothing("a bare RST comes from a host without a socket for the connection")
            };
            self.put(&mut e, i, mine, self.reached(1 - i, peer_state));
        }
        e
    }

    /// The peer's data that side `i`, which had sent FIN, would never read before its RST
    /// `r`: sent after the FIN, or sent before it and not acknowledged by it (crossing it).
    fn late_data(&self, i: usize, r: Rst) -> Option<(Mark, bool)> {
        let (me, peer) = (&self.ev.sides[i], &self.ev.sides[1 - i]);
        if let Some(d) = peer.data_after_peer_fin
            && key(d) <= key(r.at)
        {
            return Some((d, false));
        }
        let (data, end) = r.peer_data?;
        let acked = me.fin_ack?;
        let fin = me.fin?;
        (key(data) < key(fin) && crate::evidence::after(end, acked)).then_some((data, true))
    }

    /// Both sides read EOF, where their states let them.
    fn put_eof(&self, e: &mut Ending) {
        for role in [Role::Client, Role::Server] {
            let saw = if can_report(e.state(role)) {
                Saw::EOF
            } else {
                Saw::nothing("no socket of it that could read EOF shows in the capture")
            };
            match role {
                Role::Client => e.client_saw = saw,
                Role::Server => e.server_saw = saw,
            }
        }
    }

    fn unreachable(&self, icmp: IcmpError) -> Ending {
        let mut e = Ending::new(Kind::Unreachable);
        let to = &self.ev.sides[icmp.to];
        self.set_states(&mut e, icmp.at);
        let state = self.state(icmp.to, icmp.at);
        let connecting = state == Some(TcpState::SynSent);
        e.by = Some(self.role(icmp.to));
        if connecting {
            self.say_syn(&mut e, icmp.to);
        } else {
            self.say(
                &mut e,
                icmp.to,
                Fact::Sent,
                &[to.last.filter(|l| key(*l) < key(icmp.at))],
            );
        }
        e.story.push(Statement {
            from: None,
            fact: Fact::Unreachable,
            frames: vec![icmp.at.frame],
            detail: None,
        });
        let id = match icmp.kind {
            Unreachable::Net => "enetunreach",
            Unreachable::Host | Unreachable::Other => "ehostunreach",
            Unreachable::Port => "econnrefused",
        };
        let mine = if !can_report(state) {
            Saw::nothing("the capture shows no socket of it that could report anything")
        } else if connecting {
            Saw::same(
                id,
                "connect() fails at once (a hard error in SYN_SENT, icmp_err_convert)",
            )
        } else {
            Saw::same(
                id,
                "a soft error on an established connection: reported in place of ETIMEDOUT when the retransmissions give up",
            )
        };
        self.put(
            &mut e,
            icmp.to,
            mine,
            Saw::nothing("the packets never reached it"),
        );
        e
    }

    fn syn_unanswered(&self) -> Option<Ending> {
        let (c, s) = (&self.ev.sides[self.client], &self.ev.sides[1 - self.client]);
        c.syn?;
        // Any answer (even one that failed the checksum check), or the client acknowledging
        // one the capture missed, is an answer.
        if s.syn_ack.is_some() || s.pkts > 0 || s.unusable > 0 || c.first_ack.is_some() {
            return None;
        }
        let mut e = Ending::new(Kind::SynUnanswered);
        e.by = Some(Role::Client);
        self.say_syn(&mut e, self.client);
        e.client_state = Some(TcpState::SynSent);
        e.clues.push(format!("{} SYN(s), no answer", c.syn_count));
        e.client_saw = if c.syn_count > 1 {
            Saw::same(
                "etimedout",
                "connect() fails once tcp_syn_retries are used up (~127 s by default)",
            )
        } else {
            Saw::nothing(
                "still waiting when the capture ended: connect() fails with ETIMEDOUT once tcp_syn_retries are used up, unless an answer comes",
            )
        };
        e.server_saw = Saw::nothing(NOT_CAPTURED);
        Some(e)
    }

    /// A side that retransmitted with backoff, or probed, into silence.
    fn timeout(&self) -> Option<Ending> {
        let mut e = Ending::new(Kind::StillOpen);
        for (i, me) in self.ev.sides.iter().enumerate() {
            let peer = &self.ev.sides[1 - i];
            if let Some(gaps) = me.backoff_ms()
                && let Some(first) = me.rexmit_first
                && peer.last.is_none_or(|l| key(l) < key(first))
            {
                e.kind = Kind::RetransmissionTimeout;
                e.by = Some(self.role(i));
                let clue = backoff_clue(me.rexmit_run, &gaps);
                self.say_with(
                    &mut e,
                    i,
                    Fact::Retransmissions,
                    &[Some(first), me.rexmit_last],
                    Some(clue.clone()),
                );
                self.set_states(&mut e, first);
                e.clues.push(clue);
                let peer_saw = if peer.pkts == 0 {
                    Saw::nothing(NOT_CAPTURED)
                } else {
                    Saw::nothing(
                        "none of its acknowledgments came back: the data or its ACKs were lost on the path",
                    )
                };
                let mine = rto_saw(e.state(self.role(i)));
                self.put(&mut e, i, mine, peer_saw);
                return Some(e);
            }
            // Unanswered probes only where the peer's packets were captured at all.
            if me.unanswered_probes >= 2
                && self.one_way.is_none()
                && let Some(first) = me.probe_first
            {
                e.kind = Kind::KeepaliveTimeout;
                e.by = Some(self.role(i));
                self.say_with(
                    &mut e,
                    i,
                    Fact::Probes,
                    &[Some(first), me.probe_last],
                    Some(probes_clue(me.unanswered_probes)),
                );
                self.set_states(&mut e, first);
                e.clues.push(probes_clue(me.unanswered_probes));
                self.put(
                    &mut e,
                    i,
                    Saw::KEEPALIVE,
                    Saw::nothing("none of its answers came back: the probes or its ACKs were lost on the path"),
                );
                return Some(e);
            }
        }
        None
    }

    fn by_fins(&self) -> Ending {
        let (c, s) = (&self.ev.sides[self.client], &self.ev.sides[1 - self.client]);
        match (c.fin, s.fin) {
            (Some(cf), Some(sf)) => {
                let mut e = Ending::new(Kind::GracefulClose);
                let (first, second, i) = if key(cf) <= key(sf) {
                    (cf, sf, self.client)
                } else {
                    (sf, cf, 1 - self.client)
                };
                e.by = Some(self.role(i));
                self.say(&mut e, i, Fact::Fin, &[Some(first)]);
                self.say(&mut e, 1 - i, Fact::Fin, &[Some(second)]);
                self.set_states(&mut e, second);
                self.put_eof(&mut e);
                e
            }
            (Some(f), None) | (None, Some(f)) => {
                let i = if c.fin.is_some() {
                    self.client
                } else {
                    1 - self.client
                };
                let unseen = self.one_way == Some(i);
                let mut e = Ending::new(if unseen {
                    Kind::ClosedPeerUnseen
                } else {
                    Kind::HalfClosed
                });
                e.by = Some(self.role(i));
                self.say(&mut e, i, Fact::Fin, &[Some(f)]);
                self.set_states(&mut e, END);
                let peer_state = self.state(1 - i, END);
                let eof = if !can_report(peer_state) {
                    self.reached(1 - i, None)
                } else if unseen {
                    Saw::same("peer-eof", "recv returns 0 (EOF) once the FIN arrives")
                } else {
                    Saw::same(
                        "peer-eof",
                        "recv returns 0 (EOF); it has not closed its side",
                    )
                };
                let mine = if unseen {
                    Saw::nothing("unknown: whether the peer closed too is not in the capture")
                } else {
                    Saw::nothing("still waiting for the peer's FIN")
                };
                self.put(&mut e, i, mine, eof);
                e
            }
            (None, None) => {
                let mut e = Ending::new(Kind::StillOpen);
                self.set_states(&mut e, END);
                // The last packet of the connection: nothing closed it before.
                if let Some(i) = (0..2).max_by_key(|&i| self.ev.sides[i].last.map(key)) {
                    self.say(&mut e, i, Fact::Sent, &[self.ev.sides[i].last]);
                }
                e
            }
        }
    }
}
