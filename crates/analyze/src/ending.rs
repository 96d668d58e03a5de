//! How a connection ended, decided from its [`Evidence`]: the kind (from the shared vocabulary,
//! `tcpmortem_core::ending`) with the frames it rests on, each side's TCP state at that moment
//! and what each application most likely saw on Linux, Windows and macOS.

use crate::evidence::{Evidence, IcmpError, Mark, Rst, Side, Unreachable};
use serde::Serialize;
use tcpmortem_core::TcpState;
pub use tcpmortem_core::ending::{Kind, Role, Saw, saw_reset};

/// A connection's ending.
#[derive(Debug, Clone, Serialize)]
pub struct Ending {
    pub kind: Kind,
    /// The side that closed, reset or timed out (for a middlebox reset: the side the RST
    /// claimed to come from).
    pub by: Option<Role>,
    /// Frames the verdict rests on, in capture order.
    pub frames: Vec<u64>,
    /// Each side's TCP state just before the ending, as inferred from the packets.
    pub client_state: Option<TcpState>,
    pub server_state: Option<TcpState>,
    pub client_saw: Saw,
    pub server_saw: Saw,
    /// Details that support the verdict ("TTL 64, its other packets 63").
    pub clues: Vec<String>,
}

impl Ending {
    /// Nothing decided yet: still open, no error on either side.
    fn open() -> Ending {
        Ending {
            kind: Kind::StillOpen,
            by: None,
            frames: Vec::new(),
            client_state: None,
            server_state: None,
            client_saw: Saw::nothing("no error"),
            server_saw: Saw::nothing("no error"),
            clues: Vec::new(),
        }
    }
}

/// A side's TCP state just before `t`, as far as its packets and its peer's tell; `None`
/// if it had sent nothing yet (no socket, as far as anyone can tell).
fn state_before(me: &Side, peer: &Side, t: Mark) -> Option<TcpState> {
    let before = |m: Option<Mark>| m.is_some_and(|m| key(m) < key(t));
    if !before(me.first) {
        return None;
    }
    Some(state_from_marks(me, peer, t))
}

fn state_from_marks(me: &Side, peer: &Side, t: Mark) -> TcpState {
    let before = |m: Option<Mark>| m.is_some_and(|m| key(m) < key(t));
    if me.rst.is_some_and(|r| key(r.at) < key(t)) {
        return TcpState::Close;
    }
    if before(me.syn) && !before(me.established) {
        return TcpState::SynSent;
    }
    if before(me.syn_ack) && !before(me.established) {
        return TcpState::SynRecv;
    }
    match (before(me.fin), before(peer.fin)) {
        (true, true) if key(me.fin.unwrap()) < key(peer.fin.unwrap()) => TcpState::TimeWait,
        (true, true) if before(me.fin_acked) => TcpState::Close,
        (true, true) => TcpState::LastAck,
        (true, false) if before(me.fin_acked) => TcpState::FinWait2,
        (true, false) => TcpState::FinWait1,
        (false, true) => TcpState::CloseWait,
        (false, false) => TcpState::Established,
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

fn probes_clue(n: u32) -> String {
    format!(
        "{n} keepalive probe{} went unanswered",
        if n == 1 { "" } else { "s" }
    )
}

/// "3 retransmissions of unacknowledged data, 201 then 402 ms apart, then silence".
fn backoff_clue(n: u32, gaps: &[f64], then: &str) -> String {
    let gaps: Vec<String> = gaps.iter().map(|g| format!("{g:.0}")).collect();
    format!(
        "{n} retransmissions of unacknowledged data, {} ms apart (the timer backing off), {then}",
        gaps.join(" then ")
    )
}

/// Decides the ending. `client` is the index in `ev.sides` of Zeek's originator.
pub fn classify(ev: &Evidence, client: usize) -> Ending {
    let judge = Judge { ev, client };
    // The first RST decides, whoever sent it.
    let first_rst = (0..2)
        .filter_map(|i| ev.sides[i].rst.map(|r| (i, r)))
        .min_by_key(|(_, r)| key(r.at));
    let e = if let Some((i, r)) = first_rst {
        judge.reset(i, r)
    } else if let Some(icmp) = ev.icmp {
        judge.unreachable(icmp)
    } else {
        judge
            .syn_unanswered()
            .or_else(|| judge.timeout())
            .unwrap_or_else(|| judge.by_fins())
    };
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
}

impl Judge<'_> {
    fn role(&self, i: usize) -> Role {
        if i == self.client {
            Role::Client
        } else {
            Role::Server
        }
    }

    fn sides(&self) -> (&Side, &Side) {
        (&self.ev.sides[self.client], &self.ev.sides[1 - self.client])
    }

    fn set_states(&self, e: &mut Ending, t: Mark) {
        let (c, s) = self.sides();
        e.client_state = state_before(c, s, t);
        e.server_state = state_before(s, c, t);
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

    /// Side `i` sent the first RST, `r`.
    fn reset(&self, i: usize, r: Rst) -> Ending {
        let mut e = Ending::open();
        let (me, peer) = (&self.ev.sides[i], &self.ev.sides[1 - i]);
        self.set_states(&mut e, r.at);
        e.by = Some(self.role(i));
        // A side that had sent nothing is taken as established: a capture that starts late.
        let peer_state = state_before(peer, me, r.at).unwrap_or(TcpState::Established);
        let my_state = state_before(me, peer, r.at).unwrap_or(TcpState::Established);
        let mut frames = vec![r.at.frame];
        // An IP ID jump alone proves nothing: Linux sends NO_SOCKET and TIME_WAIT RSTs from a
        // per-netns control socket with IDs of its own.
        let middlebox = r.ttl_differs || r.sender_went_on || r.window_ignored;
        if r.ttl_differs {
            e.clues.push(format!(
                "the RST's TTL differs from every other packet of the {}",
                self.role(i).name()
            ));
        }
        if r.sender_went_on {
            e.clues.push(format!(
                "the {} went on sending after the RST",
                self.role(i).name()
            ));
        }
        if r.window_ignored {
            e.clues.push(
                "the RST's sequence number is outside the receiver's window (RFC 5961)".into(),
            );
        }
        if r.ip_id_jump && middlebox {
            e.clues
                .push("the RST's IP ID jumps away from its sender's".into());
        }
        if my_state == TcpState::SynSent && peer.pkts == 0 {
            // The connecting side gave up on an unanswered SYN and reset it (RSTOS0).
            e.kind = Kind::SynUnanswered;
            frames.insert(0, me.syn.map_or(r.at.frame, |m| m.frame));
            e.clues.push(format!(
                "{} SYN(s), no answer; the {} then gave up with RST",
                me.syn_count,
                self.role(i).name()
            ));
            self.put(
                &mut e,
                i,
                Saw::same("etimedout", "connect() timed out or was abandoned"),
                Saw::nothing("the SYN never reached it"),
            );
        } else if peer_state == TcpState::SynSent && me.syn_ack.is_none() && !middlebox {
            e.kind = Kind::Refused;
            frames.insert(0, peer.syn.map_or(r.at.frame, |m| m.frame));
            self.put(
                &mut e,
                1 - i,
                saw_reset(TcpState::SynSent),
                Saw::nothing("no listening socket: its kernel answered the SYN"),
            );
        } else if middlebox {
            e.kind = Kind::MiddleboxReset;
            self.put(
            &mut e,
            i,
            Saw::nothing(
                "it never sent the RST; it learns of the end only when its next segment is answered with RST",
            ),
            saw_reset(peer_state),
        );
        } else if me.fin.is_some_and(|f| key(f) < key(r.at))
            && peer.fin.is_some_and(|f| key(f) < key(r.at))
        {
            e.kind = Kind::GracefulClose;
            let first = if key(me.fin.unwrap()) < key(peer.fin.unwrap()) {
                i
            } else {
                1 - i
            };
            e.by = Some(self.role(first));
            frames = vec![
                self.ev.sides[first].fin.unwrap().frame,
                self.ev.sides[1 - first].fin.unwrap().frame,
                r.at.frame,
            ];
            e.clues.push(format!(
                "both FINs came before the {}'s RST",
                self.role(i).name()
            ));
            self.put(&mut e, i, Saw::EOF, Saw::EOF);
        } else if let (Some(fin), Some(data)) = (me.fin, peer.data_after_peer_fin)
            && key(fin) < key(r.at)
            && key(data) <= key(r.at)
        {
            e.kind = Kind::DataAfterClose;
            frames = vec![fin.frame, data.frame, r.at.frame];
            e.clues.push(format!(
                "the {} sent data after the {}'s FIN",
                self.role(1 - i).name(),
                self.role(i).name()
            ));
            self.put(
                &mut e,
                i,
                Saw::nothing("it had closed; its kernel discarded the late data"),
                saw_reset(peer_state),
            );
        } else if me.unanswered_probes > 0 {
            e.kind = Kind::KeepaliveTimeout;
            frames.insert(0, me.probe_first.map_or(r.at.frame, |m| m.frame));
            e.clues.push(probes_clue(me.unanswered_probes));
            self.put(&mut e, i, Saw::KEEPALIVE, saw_reset(peer_state));
        } else if let Some(gaps) = me.backoff_ms() {
            e.kind = Kind::RetransmissionTimeout;
            frames.insert(0, me.rexmit_first.map_or(r.at.frame, |m| m.frame));
            e.clues
                .push(backoff_clue(me.rexmit_run, &gaps, "before the RST"));
            self.put(&mut e, i, Saw::RTO, saw_reset(peer_state));
        } else if !r.with_ack && my_state != TcpState::SynRecv {
            e.kind = Kind::HalfOpen;
            e.clues.push(
            "a bare RST (no ACK), as a host sends for a connection it does not have (NO_SOCKET)"
                .into(),
        );
            if me.syn_ack.is_some() && me.pkts == me.syn_count as u64 + 1 {
                e.clues.push(format!(
                "the {} had sent nothing since its SYN-ACK: it may never have accepted the connection (accept queue full with tcp_abort_on_overflow=1, kernel reason INVALID_SYN), or lost it before sending anything",
                self.role(i).name()
            ));
            }
            self.put(
                &mut e,
                i,
                Saw::nothing("its host no longer had the connection"),
                saw_reset(peer_state),
            );
        } else if my_state == TcpState::Established
            || my_state == TcpState::CloseWait
            || my_state == TcpState::SynRecv
        {
            e.kind = Kind::AbortiveClose;
            e.clues
                .push(format!("RST|ACK without a FIN first, from {my_state}"));
            self.put(
                &mut e,
                i,
                Saw::nothing(
                    "its own close()/abort; ECONNABORTED if the socket was destroyed under it",
                ),
                saw_reset(peer_state),
            );
        } else {
            e.kind = Kind::Reset;
            self.put(&mut e, i, Saw::nothing("unknown"), saw_reset(peer_state));
        }
        frames.sort_unstable();
        frames.dedup();
        e.frames = frames;
        e
    }

    fn unreachable(&self, icmp: IcmpError) -> Ending {
        let mut e = Ending::open();
        let to = &self.ev.sides[icmp.to];
        let connecting = to.syn.is_some() && self.ev.sides[1 - icmp.to].syn_ack.is_none();
        e.kind = Kind::Unreachable;
        e.by = Some(self.role(icmp.to));
        e.frames = vec![icmp.at.frame];
        self.set_states(&mut e, icmp.at);
        let id = match icmp.kind {
            Unreachable::Net => "enetunreach",
            Unreachable::Host | Unreachable::Other => "ehostunreach",
            Unreachable::Port => "econnrefused",
        };
        let mine = if connecting {
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
        let (c, s) = self.sides();
        let syn = c.syn?;
        if s.syn_ack.is_some() || s.pkts > 0 {
            return None;
        }
        let mut e = Ending::open();
        e.kind = Kind::SynUnanswered;
        e.by = Some(Role::Client);
        e.frames = vec![syn.frame];
        if let Some(l) = c.last.filter(|l| l.frame != syn.frame) {
            e.frames.push(l.frame);
        }
        e.client_state = Some(TcpState::SynSent);
        e.clues.push(format!("{} SYN(s), no answer", c.syn_count));
        e.client_saw = Saw::same(
            "etimedout",
            "connect() fails once tcp_syn_retries are used up (~127 s by default)",
        );
        e.server_saw = Saw::nothing("the SYN never reached it");
        Some(e)
    }

    /// A side that retransmitted with backoff, or probed, into silence.
    fn timeout(&self) -> Option<Ending> {
        let mut e = Ending::open();
        for (i, me) in self.ev.sides.iter().enumerate() {
            let peer = &self.ev.sides[1 - i];
            if let Some(gaps) = me.backoff_ms()
                && let Some(first) = me.rexmit_first
                && peer.last.is_none_or(|l| key(l) < key(first))
            {
                e.kind = Kind::RetransmissionTimeout;
                e.by = Some(self.role(i));
                e.frames = vec![first.frame, me.rexmit_last.unwrap_or(first).frame];
                e.frames.dedup();
                self.set_states(&mut e, first);
                e.clues
                    .push(backoff_clue(me.rexmit_run, &gaps, "then silence"));
                self.put(
                    &mut e,
                    i,
                    Saw::RTO,
                    Saw::nothing("the data never reached it"),
                );
                return Some(e);
            }
            if me.unanswered_probes >= 2
                && let Some(first) = me.probe_first
            {
                e.kind = Kind::KeepaliveTimeout;
                e.by = Some(self.role(i));
                e.frames = vec![first.frame];
                self.set_states(&mut e, first);
                e.clues.push(probes_clue(me.unanswered_probes));
                self.put(
                    &mut e,
                    i,
                    Saw::KEEPALIVE,
                    Saw::nothing("the probes never reached it"),
                );
                return Some(e);
            }
        }
        None
    }

    fn by_fins(&self) -> Ending {
        let (c, s) = self.sides();
        let mut e = Ending::open();
        match (c.fin, s.fin) {
            (Some(cf), Some(sf)) => {
                e.kind = Kind::GracefulClose;
                let (first, second) = if key(cf) <= key(sf) {
                    (cf, sf)
                } else {
                    (sf, cf)
                };
                e.by = Some(if key(cf) <= key(sf) {
                    Role::Client
                } else {
                    Role::Server
                });
                e.frames = vec![first.frame, second.frame];
                self.set_states(&mut e, second);
                e.client_saw = Saw::EOF;
                e.server_saw = Saw::EOF;
            }
            (Some(f), None) | (None, Some(f)) => {
                let i = if c.fin.is_some() {
                    self.client
                } else {
                    1 - self.client
                };
                e.kind = Kind::HalfClosed;
                e.by = Some(self.role(i));
                e.frames = vec![f.frame];
                self.set_states(&mut e, END);
                self.put(
                    &mut e,
                    i,
                    Saw::nothing("still waiting for the peer's FIN"),
                    Saw::same(
                        "peer-eof",
                        "recv returns 0 (EOF); it has not closed its side",
                    ),
                );
            }
            (None, None) => {
                self.set_states(&mut e, END);
                e.frames = vec![self.ev.last.frame];
            }
        }
        e
    }
}
