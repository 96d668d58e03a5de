//! One TCP connection as Zeek tracks it: the two endpoints' state machines, the `history`
//! letters and `conn_state`, with the semantics of Zeek's `TCPSessionAdapter.cc`,
//! `TCP_Endpoint.cc` and `scripts/base/protocols/conn/main.zeek`. Pure: packets in, a record
//! out.

use std::net::SocketAddr;
use tcpmortem_wire::{Flags, TcpSegment};

/// An endpoint's state (`TCP_ENDPOINT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpState {
    Inactive,
    SynSent,
    SynAckSent,
    Partial,
    Established,
    Closed,
    Reset,
}

const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;

// Connection::CheckHistory masks; the responder's are shifted by 16.
const HIST_SYN: u32 = 0x1;
const HIST_FIN: u32 = 0x2;
const HIST_RST: u32 = 0x4;
const HIST_FIN_RST: u32 = 0x8;
const HIST_DATA: u32 = 0x10;
const HIST_ACK: u32 = 0x20;
const HIST_MULTI_FLAG: u32 = 0x40;

fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

#[derive(Debug, Clone)]
struct Endpoint {
    is_orig: bool,
    state: EpState,
    prev_state: EpState,
    start_seq: u32,
    last_seq: u32,
    ack_seq: u32,
    seq_wraps: u32,
    ack_wraps: u32,
    fin_cnt: u32,
    did_close: bool,
    hist_last_syn: u64,
    hist_last_fin: u64,
    hist_last_rst: u64,
    rxmt: (u32, u32),
    win0: (u32, u32),
    chk: (u32, u32),
    gap: (u32, u32),
    pkts: u64,
    ip_bytes: u64,
    /// FIN_seq: relative sequence number one past the FIN.
    fin_seq: u64,
    /// TCP_Reassembler's bookkeeping, without the bytes: everything below `last_reassem`
    /// was delivered or declared missing; `blocks` are captured ranges above a hole.
    last_reassem: u64,
    trim_seq: u64,
    blocks: Vec<(u64, u64)>,
}

/// Out-of-order ranges kept per direction; beyond this the highest are forgotten, which
/// only makes later gaps look larger. Bounds memory on hostile input.
const MAX_BLOCKS: usize = 64;

impl Endpoint {
    fn new(is_orig: bool) -> Endpoint {
        Endpoint {
            is_orig,
            state: EpState::Inactive,
            prev_state: EpState::Inactive,
            start_seq: 0,
            last_seq: 0,
            ack_seq: 0,
            seq_wraps: 0,
            ack_wraps: 0,
            fin_cnt: 0,
            did_close: false,
            hist_last_syn: 0,
            hist_last_fin: 0,
            hist_last_rst: 0,
            rxmt: (0, 1),
            win0: (0, 1),
            chk: (0, 1),
            gap: (0, 1),
            pkts: 0,
            ip_bytes: 0,
            fin_seq: 0,
            last_reassem: 1,
            trim_seq: 1,
            blocks: Vec::new(),
        }
    }

    fn set_state(&mut self, s: EpState) {
        if s != self.state {
            self.prev_state = self.state;
            self.state = s;
        }
    }

    fn init_seqs(&mut self, start: u32, last: u32) {
        self.start_seq = start;
        self.ack_seq = start;
        self.last_seq = last;
    }

    fn update_last_seq(&mut self, seq: u32) {
        if seq < self.last_seq {
            self.seq_wraps += 1;
        }
        self.last_seq = seq;
    }

    fn update_ack_seq(&mut self, seq: u32) {
        if seq < self.ack_seq {
            self.ack_wraps += 1;
        }
        self.ack_seq = seq;
    }

    fn full(seq: u32, wraps: u32) -> u64 {
        (u64::from(wraps) << 32) | u64::from(seq)
    }

    fn to_relative(&self, seq: u32, wraps: u32) -> u64 {
        Self::full(seq, wraps).wrapping_sub(u64::from(self.start_seq))
    }

    fn no_data_acked(&self) -> bool {
        (self.ack_seq == self.start_seq || self.ack_seq == self.start_seq.wrapping_add(1))
            && self.ack_wraps == 0
    }

    /// TCP_Endpoint::Size(): payload bytes, from sequence numbers.
    fn size(&self, peer_state: EpState) -> u64 {
        if self.prev_state == EpState::SynSent
            && self.state == EpState::Reset
            && peer_state == EpState::Inactive
            && !self.no_data_acked()
        {
            return 0;
        }
        let last = Self::full(self.last_seq, self.seq_wraps);
        let ack = Self::full(self.ack_seq, self.ack_wraps);
        // The SYN and the FIN each take one sequence number that is not data.
        let size = last
            .max(ack)
            .wrapping_sub(u64::from(self.start_seq))
            .saturating_sub(1);
        if self.fin_cnt > 0 {
            size.saturating_sub(1)
        } else {
            size
        }
    }

    /// TCP_Reassembler's is_clean(): established, or closed from established.
    fn is_clean(&self) -> bool {
        self.state == EpState::Established
            || (self.state == EpState::Closed && self.prev_state == EpState::Established)
    }

    /// Reassembler::NewBlock and BlockInserted, for a captured range [seq, upper).
    fn new_block(&mut self, mut seq: u64, upper: u64) {
        if upper <= self.trim_seq {
            return;
        }
        seq = seq.max(self.trim_seq);
        let at = self.blocks.partition_point(|b| b.0 < seq);
        self.blocks.insert(at, (seq, upper));
        if self.blocks.len() > MAX_BLOCKS {
            self.blocks.pop();
        }
        self.deliver();
    }

    /// Moves `last_reassem` over the blocks that now touch it.
    fn deliver(&mut self) {
        while let Some(&(s, u)) = self.blocks.first() {
            if s > self.last_reassem {
                break;
            }
            self.last_reassem = self.last_reassem.max(u);
            self.blocks.remove(0);
        }
    }

    /// Before establishment a FIN closes and a RST resets the sender (with both, Closed is
    /// the previous state, which later checks read). Returns whether either came.
    fn close_on(&mut self, f: Flags) -> bool {
        if f.has(Flags::FIN) {
            self.set_state(EpState::Closed);
        }
        if f.has(Flags::RST) {
            self.set_state(EpState::Reset);
        }
        f.has(Flags::FIN) || f.has(Flags::RST)
    }
}

/// What one packet carries, as the tracker needs it.
#[derive(Debug, Clone, Copy)]
pub struct Pkt {
    /// 1-based frame number in its capture file.
    pub frame: u64,
    pub ts_ns: i128,
    pub seg: TcpSegment,
    /// Some(false) for a bad TCP checksum; None when it was not (or could not be) checked.
    pub checksum_ok: Option<bool>,
}

/// The conn.log fields tcpmortem reproduces.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnRecord {
    pub ts_ns: i128,
    pub orig: SocketAddr,
    pub resp: SocketAddr,
    pub duration_ns: i128,
    /// Set only when the duration is positive, as Zeek logs them.
    pub orig_bytes: Option<u64>,
    pub resp_bytes: Option<u64>,
    pub conn_state: &'static str,
    pub history: String,
    pub orig_pkts: u64,
    pub orig_ip_bytes: u64,
    pub resp_pkts: u64,
    pub resp_ip_bytes: u64,
    pub missed_bytes: u64,
}

/// One connection.
#[derive(Debug, Clone)]
pub struct TcpConn {
    pub orig: SocketAddr,
    pub resp: SocketAddr,
    ep: [Endpoint; 2],
    history: String,
    hist_seen: u32,
    start_ts: i128,
    last_ts: i128,
    is_partial: bool,
    first_packet_seen: u8,
    /// When an unanswered attempt is given up (armed by the originator's first SYN).
    attempt_deadline: Option<i128>,
    /// When Zeek's `ConnDeleteTimer` removes the connection: `tcp_close_delay` (5 s) after
    /// the last packet when a close completed (TCPSessionAdapter::ConnectionClosed).
    delete_at: Option<i128>,
    /// Bytes acknowledged but never seen (content gaps), both directions.
    missed_bytes: u64,
}

impl TcpConn {
    /// A connection started by `first` (Zeek's WantConnection decides the roles).
    pub fn new(first: &Pkt, likely_server: &dyn Fn(u16) -> bool) -> TcpConn {
        let f = first.seg.flags;
        let (sp, dp) = (first.seg.src.port(), first.seg.dst.port());
        // Without a bare SYN the originator is a guess: the side on a likely server port is
        // the responder; if both are, the lower port (Zeek's WantConnection).
        let flip = (!f.has(Flags::SYN) || f.has(Flags::ACK))
            && likely_server(sp)
            && (!likely_server(dp) || (!f.has(Flags::SYN) && sp < dp));
        let mut c = TcpConn {
            orig: first.seg.src,
            resp: first.seg.dst,
            ep: [Endpoint::new(true), Endpoint::new(false)],
            history: String::new(),
            hist_seen: 0,
            start_ts: first.ts_ns,
            last_ts: first.ts_ns,
            is_partial: false,
            first_packet_seen: 0,
            attempt_deadline: None,
            delete_at: None,
            missed_bytes: 0,
        };
        if flip {
            c.flip_roles();
        }
        c
    }

    fn flip_roles(&mut self) {
        self.swap_endpoints();
        self.history.push('^');
    }

    /// Connection::FlipRoles and TCPSessionAdapter::FlipRoles, without the history mark.
    fn swap_endpoints(&mut self) {
        std::mem::swap(&mut self.orig, &mut self.resp);
        self.ep.swap(0, 1);
        self.ep[0].is_orig = true;
        self.ep[1].is_orig = false;
        let f = self.first_packet_seen;
        self.first_packet_seen =
            (if f & 1 != 0 { 2 } else { 0 }) | (if f & 2 != 0 { 1 } else { 0 });
        self.is_partial = false;
        self.hist_seen = self.hist_seen.rotate_left(16);
    }

    /// A connection whose first packet was a SYN-ACK keeps its sender as originator only
    /// until an ACK or data segment follows, in either direction: a stealth scan would draw
    /// a RST or nothing. Then the roles flip and the history so far (that SYN-ACK) is the
    /// responder's, after a `^` (Zeek's PR #2191, TCP_Endpoint::CheckHistory; the packet
    /// and byte counts follow the endpoints, PR #5047).
    fn flip_after_syn_ack(&mut self) -> bool {
        let [o, r] = &self.ep;
        if o.state != EpState::SynAckSent
            || r.state != EpState::Inactive
            || self.history.is_empty()
            || !self.history.chars().all(|c| c == 'H')
        {
            return false;
        }
        self.swap_endpoints();
        self.history = format!("^{}", self.history.to_ascii_lowercase());
        true
    }

    pub fn is_orig(&self, p: &Pkt) -> bool {
        p.seg.src == self.orig
    }

    fn add_history(&mut self, is_orig: bool, code: char) {
        self.history.push(if is_orig {
            code
        } else {
            code.to_ascii_lowercase()
        });
    }

    /// Returns whether the mask had been seen already (Connection::CheckHistory).
    fn check_history(&mut self, is_orig: bool, mask: u32, code: char) -> bool {
        let mask = if is_orig { mask } else { mask << 16 };
        if self.hist_seen & mask == 0 {
            self.hist_seen |= mask;
            self.add_history(is_orig, code);
            false
        } else {
            true
        }
    }

    /// Connection::ScaledHistoryEntry: the 1st, 10th, 100th... occurrence.
    fn scaled(&mut self, is_orig: bool, code: char, which: fn(&mut Endpoint) -> &mut (u32, u32)) {
        let i = usize::from(!is_orig);
        let (cnt, thresh) = which(&mut self.ep[i]);
        *cnt += 1;
        if *cnt == *thresh {
            *thresh = thresh.saturating_mul(10);
            self.add_history(is_orig, code);
        }
    }

    /// Zeek's IsReuse: a new SYN that starts a new connection on this 4-tuple.
    pub fn is_reuse(&self, p: &Pkt) -> bool {
        let f = p.seg.flags;
        if !f.has(Flags::SYN) {
            return false;
        }
        let mut conn_orig = 0;
        if f.has(Flags::ACK) {
            if self.ep[0].state != EpState::Inactive {
                return false;
            }
            conn_orig = 1;
        }
        let closed = self.ep[0].did_close || self.ep[1].did_close;
        if !closed {
            let o = &self.ep[conn_orig];
            if p.seg.seq == o.start_seq {
                return false;
            }
            if !f.has(Flags::ACK)
                && o.state == EpState::SynAckSent
                && self.ep[1].state == EpState::Inactive
                && p.seg.seq == self.ep[1].start_seq
            {
                return false;
            }
        }
        true
    }

    /// Whether the connection is gone from Zeek's table by `now`: a close completed and
    /// `tcp_close_delay` (5 s) passed since the last packet before it (so a later packet of
    /// the same 4-tuple starts a new connection, as after a partial close), or the attempt
    /// timer found the SYN unanswered. Zeek's timers fire as network time reaches them;
    /// firing them at the next packet of the same 4-tuple gives the same records. The
    /// attempt timer is one-shot.
    pub fn expired(&mut self, now: i128) -> bool {
        if self.attempt_deadline.is_some_and(|d| now >= d) {
            self.attempt_deadline = None;
            let [o, r] = &self.ep;
            if matches!(o.state, EpState::SynSent | EpState::SynAckSent)
                && r.state == EpState::Inactive
            {
                return true;
            }
        }
        self.delete_at.is_some_and(|d| now >= d)
    }

    pub fn process(&mut self, p: &Pkt) {
        let is_orig = self.is_orig(p);
        let (i, j) = if is_orig { (0, 1) } else { (1, 0) };
        if p.checksum_ok == Some(false) {
            // TCPAnalyzer::ValidateChecksum: counted as 'C' and otherwise ignored.
            self.scaled(is_orig, 'C', |e| &mut e.chk);
            return;
        }
        self.ep[i].pkts += 1;
        self.ep[i].ip_bytes += u64::from(p.seg.ip_len);
        let f = p.seg.flags;
        let len = p.seg.payload_len;
        // SetPartialStatus.
        if is_orig {
            if self.first_packet_seen & 1 == 0 {
                self.is_partial = !f.has(Flags::SYN) || f.has(Flags::ACK);
            }
        } else if self.first_packet_seen & 2 == 0 && !self.is_partial {
            self.is_partial = !f.has(Flags::SYN);
        }
        let mut seg_len = len;
        if f.has(Flags::SYN) {
            seg_len += 1;
        }
        if f.has(Flags::FIN) {
            seg_len += 1;
        }
        if f.has(Flags::RST) {
            seg_len -= len;
        }
        let seq_end = p.seg.seq.wrapping_add(seg_len);
        self.init_endpoint(i, f, p.seg.seq, seq_end);
        let (rel_seq, seq_underflow) =
            self.relative_seq(i, p.seg.seq, self.ep[i].last_seq, self.ep[i].seq_wraps);
        let (is_orig, i, j) = if (len > 0 || f.has(Flags::ACK))
            && !f.has(Flags::SYN)
            && !f.has(Flags::FIN)
            && !f.has(Flags::RST)
            && self.flip_after_syn_ack()
        {
            (!is_orig, j, i)
        } else {
            (is_orig, i, j)
        };
        self.update_history(is_orig, i, f, rel_seq, u64::from(len));
        // Zero windows (update_window); the scale does not change whether it is zero.
        if p.seg.window == 0
            && !f.has(Flags::RST)
            && self.ep[j].state != EpState::Closed
            && self.ep[i].state != EpState::Reset
        {
            self.scaled(is_orig, 'W', |e| &mut e.win0);
        }
        if !self.ep[0].did_close || !self.ep[1].did_close {
            self.last_ts = p.ts_ns;
        }
        if f.has(Flags::FIN) {
            self.ep[i].fin_cnt += 1;
            self.ep[i].fin_seq = rel_seq.wrapping_add(u64::from(seg_len));
        }
        let mut rel_ack = 0;
        if f.has(Flags::ACK) {
            if self.ep[j].state == EpState::Inactive {
                // init_peer: number the peer's bytes as though its SYN had been seen.
                let s = p.seg.ack.wrapping_sub(1);
                self.ep[j].init_seqs(s, s);
                rel_ack = 1;
            } else {
                let (rel, ack_underflow) =
                    self.relative_seq(j, p.seg.ack, self.ep[j].ack_seq, self.ep[j].ack_wraps);
                rel_ack = if ack_underflow { 0 } else { rel };
                if !ack_underflow && !f.has(Flags::RST) {
                    let d = seq_delta(p.seg.ack, self.ep[j].ack_seq);
                    if !(p.seg.ack == 0 && d > TOO_LARGE_SEQ_DELTA) && d > 0 {
                        self.ep[j].update_ack_seq(p.seg.ack);
                    }
                }
            }
        }
        let delta_last = self.update_last_seq(is_orig, i, seq_end, f, len);
        let (do_close, i) = self.update_state_machine(is_orig, i, j, p, delta_last);
        let j = 1 - i;
        // After the state machine, so a gap revealed by a FIN's or RST's ack is judged by
        // the states it leaves (TCPSessionAdapter::Process).
        if f.has(Flags::ACK) {
            self.ack_received(j, rel_ack);
        }
        if len > 0 && p.seg.captured >= len && !f.has(Flags::RST) && !seq_underflow {
            let rel_data_seq = if f.has(Flags::SYN) {
                rel_seq + 1
            } else {
                rel_seq
            };
            self.data_sent(i, rel_data_seq, u64::from(len));
        }
        if do_close && !self.ep[i].did_close {
            self.ep[i].did_close = true;
            // ConnectionClosed: a close is complete with a reset, with both sides closed, or
            // with a peer never seen; then every timer is cancelled and the connection is
            // removed tcp_close_delay after its last packet, whatever comes later.
            let (e, peer) = (&self.ep[i], &self.ep[1 - i]);
            if e.state == EpState::Reset || peer.did_close || peer.state == EpState::Inactive {
                self.attempt_deadline = None;
                self.delete_at = Some(self.last_ts + 5_000_000_000);
            }
        }
        if is_orig {
            self.first_packet_seen |= 1;
        } else {
            self.first_packet_seen |= 2;
        }
    }

    /// TCP_Reassembler::DataSent for captured payload: trims what was acknowledged already.
    fn data_sent(&mut self, i: usize, mut seq: u64, len: u64) {
        let e = &mut self.ep[i];
        let ack = e.to_relative(e.ack_seq, e.ack_wraps);
        let upper = seq + len;
        if seq < ack {
            if upper <= ack {
                return;
            }
            seq = ack;
        }
        e.new_block(seq, upper);
    }

    /// TCP_Reassembler::AckReceived on endpoint `i` (the peer acknowledged its data up to
    /// `seq`): data acknowledged but never seen is a content gap, `G`, and missed bytes,
    /// counted only while both sides are established or closing cleanly (Gap()).
    fn ack_received(&mut self, i: usize, mut seq: u64) {
        let clean = self.ep[i].is_clean() && self.ep[1 - i].is_clean();
        let partial = self.is_partial;
        let e = &mut self.ep[i];
        if e.fin_cnt > 0 && seq >= e.fin_seq {
            seq = e.fin_seq.saturating_sub(1);
        }
        if seq <= e.trim_seq {
            return;
        }
        let mut gaps = Vec::new();
        // Undelivered(): the partial-connection exception leaves last_reassem alone.
        if seq > e.last_reassem && !(seq <= 2 && partial) {
            while let Some(&(s, u)) = e.blocks.first() {
                if s >= seq {
                    break;
                }
                e.blocks.remove(0);
                if u <= e.last_reassem {
                    continue;
                }
                if s > e.last_reassem {
                    gaps.push(s - e.last_reassem);
                }
                e.last_reassem = e.last_reassem.max(u);
            }
            if seq > e.last_reassem {
                gaps.push(seq - e.last_reassem);
                e.last_reassem = seq;
            }
        }
        e.trim_seq = seq;
        e.blocks.retain(|b| b.1 > seq);
        if clean {
            let is_orig = e.is_orig;
            for g in gaps {
                self.missed_bytes += g;
                self.scaled(is_orig, 'G', |e| &mut e.gap);
            }
        }
    }

    fn init_endpoint(&mut self, i: usize, f: Flags, first: u32, last: u32) {
        let e = &mut self.ep[i];
        match e.state {
            EpState::Inactive => {
                if f.has(Flags::SYN) {
                    e.init_seqs(first, last);
                } else {
                    e.init_seqs(first.wrapping_sub(1), first);
                }
            }
            EpState::SynSent | EpState::SynAckSent => {
                if f.has(Flags::SYN) && first != e.start_seq {
                    e.init_seqs(first, last);
                }
            }
            EpState::Established | EpState::Partial => {
                if f.has(Flags::SYN) {
                    e.init_seqs(first, last);
                }
            }
            EpState::Reset => {
                if f.has(Flags::SYN) && e.prev_state == EpState::Inactive {
                    e.init_seqs(first, last);
                }
            }
            EpState::Closed => {}
        }
    }

    fn relative_seq(&self, i: usize, cur: u32, last: u32, mut wraps: u32) -> (u64, bool) {
        let delta = seq_delta(cur, last);
        if delta < 0 {
            if wraps > 0 && cur > last {
                wraps -= 1;
            }
        } else if delta > 0 && cur < last {
            wraps += 1;
        }
        if wraps == 0 {
            let d = seq_delta(cur, self.ep[i].start_seq);
            return (d as i64 as u64, d < 0);
        }
        (self.ep[i].to_relative(cur, wraps), false)
    }

    fn update_history(&mut self, is_orig: bool, i: usize, f: Flags, rel_seq: u64, len: u64) {
        let bits = [Flags::SYN, Flags::FIN, Flags::RST]
            .iter()
            .filter(|b| f.has(**b))
            .count();
        if bits > 1 {
            if f.has(Flags::FIN) && f.has(Flags::RST) {
                self.check_history(is_orig, HIST_FIN_RST, 'I');
            } else {
                self.check_history(is_orig, HIST_MULTI_FLAG, 'Q');
            }
        } else if bits == 1 {
            if f.has(Flags::SYN) {
                let code = if f.has(Flags::ACK) { 'H' } else { 'S' };
                if self.check_history(is_orig, HIST_SYN, code)
                    && rel_seq != self.ep[i].hist_last_syn
                {
                    self.add_history(is_orig, code);
                }
                self.ep[i].hist_last_syn = rel_seq;
            }
            if f.has(Flags::FIN) {
                // A FIN's sequence number is at the end of its data.
                let at = rel_seq.wrapping_add(len);
                if self.check_history(is_orig, HIST_FIN, 'F') && at != self.ep[i].hist_last_fin {
                    self.add_history(is_orig, 'F');
                }
                self.ep[i].hist_last_fin = at;
            }
            if f.has(Flags::RST) {
                if self.check_history(is_orig, HIST_RST, 'R') && rel_seq != self.ep[i].hist_last_rst
                {
                    self.add_history(is_orig, 'R');
                }
                self.ep[i].hist_last_rst = rel_seq;
            }
        } else if len > 0 {
            self.check_history(is_orig, HIST_DATA, 'D');
        } else if f.has(Flags::ACK) {
            self.check_history(is_orig, HIST_ACK, 'A');
        }
    }

    fn update_last_seq(&mut self, is_orig: bool, i: usize, last: u32, f: Flags, len: u32) -> i32 {
        let e = &self.ep[i];
        let delta = seq_delta(last, e.last_seq);
        if (f.has(Flags::SYN) || f.has(Flags::RST))
            && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta)
        {
        } else if f.has(Flags::FIN) && e.last_seq == e.start_seq.wrapping_add(1) {
            self.ep[i].update_last_seq(last);
        } else if e.state == EpState::Reset {
        } else if delta > 0 {
            self.ep[i].update_last_seq(last);
        } else if len > 0 {
            self.scaled(is_orig, 'T', |e| &mut e.rxmt);
        }
        delta
    }

    /// UpdateStateMachine; returns whether this endpoint closed, and its index after a
    /// possible flip of the roles.
    fn update_state_machine(
        &mut self,
        is_orig: bool,
        i: usize,
        j: usize,
        p: &Pkt,
        delta_last: i32,
    ) -> (bool, usize) {
        let f = p.seg.flags;
        let mut do_close = false;
        match self.ep[i].state {
            EpState::Inactive => {
                // UpdateInactiveState. `is_orig` stays what it was for this packet even if
                // the roles flip, as in Zeek; the endpoints move with the flip.
                let (mut i, mut j) = (i, j);
                if f.has(Flags::SYN) {
                    if is_orig && f.has(Flags::ACK) {
                        self.ep[i].set_state(EpState::SynAckSent);
                    } else if is_orig {
                        self.ep[i].set_state(EpState::SynSent);
                        // TCPSessionAdapter::AttemptTimer, tcp_attempt_delay = 5 s.
                        self.attempt_deadline = Some(p.ts_ns + 5_000_000_000);
                    } else {
                        if !f.has(Flags::ACK)
                            && self.ep[j].state == EpState::SynAckSent
                            && p.seg.seq == self.ep[i].start_seq
                        {
                            // A SYN/SYN-ACK reversal: flip the roles and establish.
                            self.is_partial = false;
                            self.flip_roles();
                            std::mem::swap(&mut i, &mut j);
                            self.ep[j].set_state(EpState::Established);
                            self.first_packet_seen |= 1;
                        }
                        if self.ep[j].state == EpState::SynSent {
                            self.ep[j].set_state(EpState::Established);
                        }
                        self.ep[i].set_state(EpState::Established);
                    }
                }
                do_close = self.ep[i].close_on(f);
                if self.ep[i].state == EpState::Inactive {
                    if !is_orig && p.seg.payload_len == 0 && self.ep[0].state == EpState::SynSent {
                        // An ACK of the SYN before the SYN-ACK: not a partial connection.
                    } else if f.has(Flags::ACK) && self.ep[j].state == EpState::Established {
                        self.ep[i].set_state(EpState::Established);
                        self.is_partial = false;
                        self.first_packet_seen |= if is_orig { 1 } else { 2 };
                    } else {
                        self.ep[i].set_state(EpState::Partial);
                    }
                }
                return (do_close, i);
            }
            EpState::SynSent | EpState::SynAckSent => {
                do_close = self.ep[i].close_on(f);
            }
            EpState::Established | EpState::Partial => {
                if f.has(Flags::SYN)
                    && self.ep[i].state == EpState::Partial
                    && self.ep[j].state == EpState::Inactive
                    && !f.has(Flags::ACK)
                {
                    self.ep[i].set_state(EpState::SynSent);
                }
                if f.has(Flags::FIN) && !f.has(Flags::RST) {
                    self.ep[i].set_state(EpState::Closed);
                    if self.ep[j].state == EpState::Reset
                        && self.ep[j].prev_state == EpState::Closed
                    {
                        // The peer's FIN then RST was a normal termination.
                        self.ep[j].set_state(EpState::Closed);
                    }
                    do_close = true;
                }
                if f.has(Flags::RST) {
                    self.ep[i].set_state(EpState::Reset);
                    do_close = true;
                }
            }
            EpState::Closed => {
                let _ = delta_last;
                if f.has(Flags::RST) && self.ep[j].state != EpState::Closed {
                    self.ep[i].set_state(EpState::Reset);
                    if !self.ep[i].did_close {
                        do_close = true;
                    }
                }
            }
            EpState::Reset => {}
        }
        (do_close, i)
    }

    /// The conn.log record (Conn::conn_state and set_conn).
    pub fn record(&self) -> ConnRecord {
        let (o, r) = (&self.ep[0], &self.ep[1]);
        let (os, rs) = (o.state, r.state);
        let o_inactive = matches!(os, EpState::Inactive | EpState::Partial);
        let r_inactive = matches!(rs, EpState::Inactive | EpState::Partial);
        let osize = o.size(rs);
        let rsize = r.size(os);
        let state = if rs == EpState::Reset {
            if matches!(os, EpState::SynSent | EpState::SynAckSent)
                || (os == EpState::Reset && osize == 0 && rsize == 0)
            {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == EpState::Reset {
            if r_inactive {
                if rstos0_history(&self.history) {
                    "RSTOS0"
                } else {
                    "OTH"
                }
            } else {
                "RSTO"
            }
        } else if rs == EpState::Closed && os == EpState::Closed {
            "SF"
        } else if os == EpState::Closed {
            if r_inactive { "SH" } else { "S2" }
        } else if rs == EpState::Closed {
            if o_inactive { "SHR" } else { "S3" }
        } else if os == EpState::SynSent && rs == EpState::Inactive {
            "S0"
        } else if os == EpState::Established && rs == EpState::Established {
            "S1"
        } else {
            "OTH"
        };
        let duration = self.last_ts - self.start_ts;
        ConnRecord {
            ts_ns: self.start_ts,
            orig: self.orig,
            resp: self.resp,
            duration_ns: duration,
            orig_bytes: (duration > 0).then_some(osize),
            resp_bytes: (duration > 0).then_some(rsize),
            conn_state: state,
            history: self.history.clone(),
            orig_pkts: o.pkts,
            orig_ip_bytes: o.ip_bytes,
            resp_pkts: r.pkts,
            resp_ip_bytes: r.ip_bytes,
            missed_bytes: self.missed_bytes,
        }
    }
}

/// `/\^?S[^HAFGIQ]*R.*/ == history`: an originator SYN, then its RST, nothing from the
/// responder in between.
fn rstos0_history(h: &str) -> bool {
    let h = h.strip_prefix('^').unwrap_or(h);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        if c == 'R' {
            return true;
        }
        if "HAFGIQ".contains(c) {
            return false;
        }
    }
    false
}
