//! What one connection's packets show about its death, gathered as they pass: which frame
//! carried each FIN and RST, retransmission runs, keepalive probes, zero windows, gaps and the
//! senders' TTLs. Sides are indexed by address (`0` = the first packet's sender) because the
//! originator can still flip; [`crate::ending`] maps them to client and server at the end.

use std::net::SocketAddr;
use tcpmortem_wire::Flags;

use crate::zeek::Pkt;

/// A frame and its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Mark {
    /// 1-based frame number in the capture, as Wireshark shows it.
    pub frame: u64,
    /// Nanoseconds since the epoch; 64 bits (until 2262) keep a connection's evidence small.
    #[serde(skip)]
    pub ts_ns: i64,
}

impl Mark {
    pub fn new(frame: u64, ts_ns: i128) -> Mark {
        Mark {
            frame,
            ts_ns: i64::try_from(ts_ns).unwrap_or(if ts_ns < 0 { i64::MIN } else { i64::MAX }),
        }
    }
}

/// A RST as one side sent it (or as it claims to come from that side).
#[derive(Debug, Clone, Copy)]
pub struct Rst {
    pub at: Mark,
    /// RST|ACK comes from a socket that still knew the connection (`tcp_send_active_reset()`);
    /// a bare RST answers a segment the host has no socket for (`tcp_v4_send_reset()`,
    /// NO_SOCKET or TIME_WAIT).
    pub with_ack: bool,
    /// The RST's TTL or hop limit differs from every other packet of its claimed sender.
    pub ttl_differs: bool,
    /// An IPv4 ID far from the claimed sender's sequence of IDs.
    pub ip_id_jump: bool,
    /// The claimed sender went on sending after it: the RST was not its own.
    pub sender_went_on: bool,
    /// The RST's sequence number lies outside the receiver's window as far as the capture
    /// shows it: before what the receiver had acknowledged, or beyond any window (2^30,
    /// the largest with scaling). The receiver's own stack would discard it (RFC 5961 §3).
    pub window_ignored: bool,
    /// The sender's last packet before the RST (for the TTL it is compared with).
    pub before: Option<Mark>,
    /// The sender's first packet after it, if it went on sending.
    pub went_on_at: Option<Mark>,
    /// The peer's last packet before the RST: what a bare RST answers.
    pub peer_last: Option<Mark>,
    /// The peer's last data segment before the RST, and the sequence number after it.
    pub peer_data: Option<(Mark, u32)>,
}

/// Everything one side sent that matters for the ending.
#[derive(Debug, Clone)]
pub struct Side {
    pub addr: SocketAddr,
    pub pkts: u64,
    /// Packets left out of the evidence for a bad checksum: captured all the same.
    pub unusable: u64,
    /// Payload bytes, retransmissions included.
    pub payload_bytes: u64,
    /// Its first packet.
    pub first: Option<Mark>,
    pub syn: Option<Mark>,
    /// Its last SYN (the last retransmission of it).
    pub syn_last: Option<Mark>,
    pub syn_count: u32,
    pub syn_ack: Option<Mark>,
    /// The sequence number of its SYN or SYN-ACK.
    pub isn: Option<u32>,
    /// Its first and last segments with ACK (RSTs aside): they acknowledge what the peer
    /// sent, even when none of the peer's packets were captured.
    pub first_ack: Option<Mark>,
    pub last_ack: Option<Mark>,
    /// Its first segment with ACK and without SYN or RST: it sends one only once its side
    /// of the handshake is done.
    pub first_plain_ack: Option<Mark>,
    /// An ACK that does not acknowledge the peer's SYN, sent while the peer waited for a
    /// SYN-ACK (no SYN-ACK from this side): the peer's kernel answers it with RST (RFC 9293
    /// §3.10.7.3, `tcp_rcv_synsent_state_process()`).
    pub unacceptable_ack: Option<Mark>,
    /// When the handshake completed for this side: its ACK of the peer's SYN-ACK, or the
    /// peer's ACK of its own SYN-ACK.
    pub established: Option<Mark>,
    pub fin: Option<Mark>,
    /// What its FIN acknowledged of the peer's data (its ACK number), if it carried ACK.
    pub fin_ack: Option<u32>,
    /// The peer's first acknowledgment of this side's FIN.
    pub fin_acked: Option<Mark>,
    pub rst: Option<Rst>,
    /// The first payload sent after the peer's FIN had gone by.
    pub data_after_peer_fin: Option<Mark>,
    /// Its last data segment, and the sequence number after it.
    pub last_data: Option<(Mark, u32)>,
    pub last: Option<Mark>,
    /// Segments carrying sequence space already sent (payload, SYN or FIN).
    pub retransmits: u64,
    /// Retransmissions of still-unacknowledged data since the peer last acknowledged
    /// anything, with the first and last of them: an RTO backing off.
    pub rexmit_run: u32,
    pub rexmit_first: Option<Mark>,
    pub rexmit_last: Option<Mark>,
    /// Times of the run's first retransmissions, to tell an RTO backing off (each interval
    /// about double the last, `tcp_retransmit_timer()`) from fast retransmits.
    pub rexmit_times: [i64; 6],
    /// Keepalive probes (`tcp_write_wakeup()`: sequence number one below the next, at most
    /// one byte) the peer has not answered.
    pub unanswered_probes: u32,
    pub probe_first: Option<Mark>,
    pub probe_last: Option<Mark>,
    pub zero_windows: u64,
    /// The window of its last segment was zero: the peer's probes then are the persist
    /// timer's zero-window probes, not keepalives.
    window_closed: bool,
    /// Sequence jumps past data never seen, and the bytes they skipped.
    pub gaps: u64,
    pub gap_bytes: u64,
    ttl: Option<u8>,
    ttl_varies: bool,
    last_ip_id: Option<u16>,
    /// Next sequence number after everything this side sent (None until known).
    nxt: Option<u32>,
    /// The highest acknowledgment the peer sent for this side's data.
    acked: Option<u32>,
}

impl Side {
    /// The intervals between the run's retransmissions, in ms, if they grow as an RTO's
    /// backoff does (each at least 1.5 times the one before, allowing for timer slack).
    pub fn backoff_ms(&self) -> Option<Vec<f64>> {
        let n = (self.rexmit_run as usize).min(self.rexmit_times.len());
        let t = &self.rexmit_times[..n];
        let gaps: Vec<f64> = t.windows(2).map(|w| (w[1] - w[0]) as f64 / 1e6).collect();
        let grows = gaps.windows(2).all(|g| g[1] >= g[0] * 1.5);
        (n >= 2 && grows).then_some(gaps)
    }

    fn new(addr: SocketAddr) -> Side {
        Side {
            addr,
            pkts: 0,
            unusable: 0,
            payload_bytes: 0,
            first: None,
            syn: None,
            syn_last: None,
            syn_count: 0,
            syn_ack: None,
            isn: None,
            first_ack: None,
            last_ack: None,
            first_plain_ack: None,
            unacceptable_ack: None,
            established: None,
            fin: None,
            fin_ack: None,
            fin_acked: None,
            rst: None,
            data_after_peer_fin: None,
            last_data: None,
            last: None,
            retransmits: 0,
            rexmit_run: 0,
            rexmit_first: None,
            rexmit_last: None,
            rexmit_times: [0; 6],
            unanswered_probes: 0,
            probe_first: None,
            probe_last: None,
            zero_windows: 0,
            window_closed: false,
            gaps: 0,
            gap_bytes: 0,
            ttl: None,
            ttl_varies: false,
            last_ip_id: None,
            nxt: None,
            acked: None,
        }
    }
}

/// An ICMP error quoting one of the connection's segments.
#[derive(Debug, Clone, Copy)]
pub struct IcmpError {
    pub at: Mark,
    /// Index of the side whose segment it answered.
    pub to: usize,
    pub kind: Unreachable,
}

/// What an ICMP destination-unreachable says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unreachable {
    Net,
    Host,
    /// Port unreachable: `icmp_err_convert` gives ECONNREFUSED.
    Port,
    /// Administratively prohibited, and every other code.
    Other,
}

/// Sequence-number comparison (RFC 9293 §3.4).
pub(crate) fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// The observations of one connection.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub sides: [Side; 2],
    pub first: Mark,
    pub last: Mark,
    pub icmp: Option<IcmpError>,
}

impl Evidence {
    pub fn new(p: &Pkt) -> Evidence {
        let at = Mark::new(p.frame, p.ts_ns);
        Evidence {
            sides: [Side::new(p.seg.src), Side::new(p.seg.dst)],
            first: at,
            last: at,
            icmp: None,
        }
    }

    /// The index of the side that sent from `addr`.
    pub fn side_of(&self, addr: SocketAddr) -> usize {
        usize::from(self.sides[0].addr != addr)
    }

    pub fn icmp(&mut self, at: Mark, to: SocketAddr, kind: Unreachable) {
        if self.icmp.is_none() {
            self.icmp = Some(IcmpError {
                at,
                to: self.side_of(to),
                kind,
            });
        }
        self.last = at;
    }

    /// A packet captured but left out of the evidence (a bad checksum).
    pub fn unusable(&mut self, p: &Pkt) {
        let i = self.side_of(p.seg.src);
        self.sides[i].unusable += 1;
    }

    pub fn observe(&mut self, p: &Pkt) {
        let at = Mark::new(p.frame, p.ts_ns);
        self.last = at;
        let i = self.side_of(p.seg.src);
        let peer_fin = self.sides[1 - i].fin.is_some();
        let seg = &p.seg;
        let f = seg.flags;
        let len = seg.payload_len;
        let (me, peer) = {
            let (a, b) = self.sides.split_at_mut(1);
            if i == 0 {
                (&mut a[0], &mut b[0])
            } else {
                (&mut b[0], &mut a[0])
            }
        };
        me.pkts += 1;
        me.payload_bytes += u64::from(len);
        let before = me.last.replace(at);
        me.first.get_or_insert(at);
        // Any packet from this side shows it is alive: the peer's keepalive probes were
        // answered. (A retransmission run ends only when its data is acknowledged, below.)
        peer.unanswered_probes = 0;
        peer.probe_first = None;
        peer.probe_last = None;
        if f.has(Flags::RST) {
            if me.rst.is_none() {
                me.rst = Some(Rst {
                    before,
                    went_on_at: None,
                    peer_last: peer.last,
                    peer_data: peer.last_data,
                    at,
                    with_ack: f.has(Flags::ACK),
                    ttl_differs: me.ttl.is_some_and(|t| t != seg.ttl && !me.ttl_varies),
                    ip_id_jump: match (me.last_ip_id, seg.ip_id) {
                        (Some(prev), Some(id)) if prev != 0 => {
                            let d = id.wrapping_sub(prev);
                            d > 1024 && d < u16::MAX - 1024
                        }
                        _ => false,
                    },
                    sender_went_on: false,
                    window_ignored: me
                        .acked
                        .is_some_and(|a| after(a, seg.seq) || seg.seq.wrapping_sub(a) > 1 << 30),
                });
            }
            return;
        }
        if let Some(r) = &mut me.rst
            && !f.has(Flags::SYN)
        {
            r.sender_went_on = true;
            r.went_on_at.get_or_insert(at);
        }
        match me.ttl {
            None => me.ttl = Some(seg.ttl),
            Some(t) if t != seg.ttl => me.ttl_varies = true,
            Some(_) => {}
        }
        if seg.ip_id.is_some() {
            me.last_ip_id = seg.ip_id;
        }
        if f.has(Flags::SYN) {
            me.syn_count += 1;
            me.isn.get_or_insert(seg.seq);
            if f.has(Flags::ACK) {
                me.syn_ack.get_or_insert(at);
            } else {
                me.syn.get_or_insert(at);
                me.syn_last = Some(at);
            }
        }
        if f.has(Flags::ACK) {
            me.first_ack.get_or_insert(at);
            me.last_ack = Some(at);
            if !f.has(Flags::SYN) {
                me.first_plain_ack.get_or_insert(at);
            }
            if !f.has(Flags::SYN)
                && me.syn_ack.is_none()
                && peer.syn.is_some()
                && peer.established.is_none()
                && peer.isn.is_some_and(|isn| seg.ack != isn.wrapping_add(1))
            {
                me.unacceptable_ack.get_or_insert(at);
            }
        }
        if seg.window == 0 {
            me.zero_windows += 1;
        }
        me.window_closed = seg.window == 0;
        if f.has(Flags::ACK) && !f.has(Flags::SYN) {
            if peer.syn_ack.is_some() {
                peer.established.get_or_insert(at);
                me.established.get_or_insert(at);
            }
            if peer.fin.is_some() && peer.fin_acked.is_none() && Some(seg.ack) == peer.nxt {
                peer.fin_acked = Some(at);
            }
        }
        if f.has(Flags::ACK) {
            let advanced = match peer.acked {
                None => true,
                Some(a) => after(seg.ack, a),
            };
            if advanced {
                peer.acked = Some(seg.ack);
                peer.rexmit_run = 0;
                peer.rexmit_first = None;
            }
        }
        let seq_len = len + u32::from(f.has(Flags::SYN)) + u32::from(f.has(Flags::FIN));
        let end = seg.seq.wrapping_add(seq_len);
        match me.nxt {
            None => me.nxt = Some(end),
            Some(nxt) => {
                let old = seg.seq == nxt.wrapping_sub(1);
                let all_acked = me.acked == Some(nxt);
                if old
                    && !f.has(Flags::SYN)
                    && !f.has(Flags::FIN)
                    && (len == 0 || (len == 1 && all_acked))
                {
                    // tcp_write_wakeup()/tcp_xmit_probe_skb(): a sequence number below the
                    // next one makes the peer answer; Windows probes with one old byte. The
                    // persist timer probes a closed window the same way: not a keepalive.
                    if !peer.window_closed {
                        me.unanswered_probes += 1;
                        me.probe_first.get_or_insert(at);
                        me.probe_last = Some(at);
                    }
                } else if seq_len > 0 && !after(end, nxt) && !f.has(Flags::SYN) {
                    me.retransmits += 1;
                    if me.acked.is_none_or(|a| after(end, a)) {
                        if let Some(t) = me.rexmit_times.get_mut(me.rexmit_run as usize) {
                            *t = at.ts_ns;
                        }
                        me.rexmit_run += 1;
                        me.rexmit_first.get_or_insert(at);
                        me.rexmit_last = Some(at);
                    }
                }
                if after(seg.seq, nxt) {
                    me.gaps += 1;
                    me.gap_bytes += u64::from(seg.seq.wrapping_sub(nxt));
                }
                if after(end, nxt) {
                    me.nxt = Some(end);
                }
            }
        }
        if len > 0 && peer_fin && me.data_after_peer_fin.is_none() {
            me.data_after_peer_fin = Some(at);
        }
        if len > 0 {
            let from = if f.has(Flags::SYN) {
                seg.seq.wrapping_add(1)
            } else {
                seg.seq
            };
            me.last_data = Some((at, from.wrapping_add(len)));
        }
        if f.has(Flags::FIN) && me.fin.is_none() {
            me.fin = Some(at);
            me.fin_ack = f.has(Flags::ACK).then_some(seg.ack);
        }
    }
}
