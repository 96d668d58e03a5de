//! Joining the BPF programs' records into connection ends.
//!
//! Each socket's end arrives as one record read from the socket at TCP_CLOSE, with its
//! counters, owner and flags. A RST the kernel sent for that socket is a second record with
//! the same cookie: after the end for `__tcp_close()` and `tcp_disconnect()` (the state
//! changes first), before it for `tcp_abort()` and the keepalive timer. The two are joined
//! when they come within [`WINDOW_NS`]. Resets sent without a full socket (NO_SOCKET, a
//! TIME_WAIT mini-socket, a listener) are ends of their own. Drops are counted per
//! connection ([`DropTable`]) and named on its end.

use crate::death::{Death, DropCount};
use std::borrow::Cow;
// foldhash, not SipHash: two lookups per end, hundreds of thousands a second, and the keys
// (cookies, addresses) are not chosen by an attacker who could aim at collisions usefully.
use hashbrown::HashMap;
use std::collections::VecDeque;
use std::net::SocketAddr;
use tcpmortem_core::TcpState;
use tcpmortem_trace::bpf::{Dropped, Names, Record, ResetSent, SockEnd};

/// How long an end waits for its RST (and a RST for its end), trace clock.
pub const WINDOW_NS: u64 = 10_000_000;

/// Drops that do not say anything about the network: the receive queue purged when the
/// socket is destroyed (its unread bytes are the end's Recv-Q).
const NOT_ON_THE_WIRE: [&str; 1] = ["QUEUE_PURGE"];

enum Pending {
    End(Box<Death>),
    Reset(ResetSent),
}

impl Pending {
    fn ts(&self) -> u64 {
        match self {
            Pending::End(d) => d.ts_ns,
            Pending::Reset(r) => r.ts_ns,
        }
    }
}

/// Drop counts per connection (both addresses, in any namespace), bounded: the oldest
/// connection's counts go first when [`DropTable::CAPACITY`] connections have drops and none
/// ended. A drop counts for a socket of the same namespace; for one of another namespace only
/// if the addresses are not loopback (a namespace's loopback traffic never leaves it, while a
/// container's segments cross the host's or a router's namespace).
#[derive(Debug, Default)]
pub struct DropTable {
    map: HashMap<(SocketAddr, SocketAddr), Vec<DropCount>>,
    order: VecDeque<(SocketAddr, SocketAddr)>,
    /// Connections whose counts were forgotten to stay within capacity.
    pub evicted: u64,
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

impl DropTable {
    pub const CAPACITY: usize = 65_536;

    pub fn add(&mut self, d: &Dropped, reason: Cow<'static, str>) {
        if NOT_ON_THE_WIRE.contains(&reason.as_ref()) {
            return;
        }
        let k = key(d.src, d.dst);
        if !self.map.contains_key(&k) {
            if self.map.len() >= Self::CAPACITY {
                // The queue may hold keys already taken; skip those.
                while let Some(old) = self.order.pop_front() {
                    if self.map.remove(&old).is_some() {
                        self.evicted += 1;
                        break;
                    }
                }
            }
            self.order.push_back(k);
        }
        let counts = self.map.entry(k).or_default();
        // Stored: "sent by the lower address"; `take` turns it into "from the peer".
        let from_lower = d.src == k.0;
        match counts.iter_mut().find(|c| {
            c.reason == reason && c.from_peer == from_lower && c.netns == u64::from(d.netns)
        }) {
            Some(c) => {
                c.count += 1;
                c.last_ns = d.ts_ns;
            }
            None => counts.push(DropCount {
                reason,
                from_peer: from_lower,
                count: 1,
                netns: u64::from(d.netns),
                last_ns: d.ts_ns,
            }),
        }
        if self.order.len() > 2 * Self::CAPACITY {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
    }

    /// The drops of the connection `local → remote` of a socket in `netns`, removed.
    pub fn take(&mut self, netns: u32, local: SocketAddr, remote: SocketAddr) -> Vec<DropCount> {
        let k = key(local, remote);
        let Some(all) = self.map.get_mut(&k) else {
            return Vec::new();
        };
        let crosses = !(local.ip().is_loopback() || remote.ip().is_loopback());
        let mine = |c: &DropCount| c.netns == u64::from(netns) || crosses;
        let mut mine = if all.iter().all(mine) {
            // The usual case: all of them, without copying.
            self.map.remove(&k).unwrap_or_default()
        } else {
            let (taken, rest): (Vec<_>, Vec<_>) = std::mem::take(all).into_iter().partition(mine);
            *all = rest;
            taken
        };
        let local_is_lower = local == k.0;
        for c in &mut mine {
            // From the peer = sent by the other address.
            c.from_peer = c.from_peer != local_is_lower;
        }
        mine.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
        mine
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Feeds on decoded records; yields ends once their RST had its chance to arrive.
pub struct Joiner {
    names: Names,
    pending: HashMap<u64, Pending>,
    /// Complete ends, held until their window closed so that output stays in time order
    /// (boxed: sorting moves pointers, not ends of a few hundred bytes).
    #[allow(clippy::vec_box)]
    ready: Vec<Box<Death>>,
    pub drops: DropTable,
}

/// A reset from a socket that will also have an end of its own (a full socket).
fn from_full_socket(r: &ResetSent) -> bool {
    r.cookie.is_some()
        && !matches!(
            r.state,
            None | Some(TcpState::TimeWait | TcpState::NewSynRecv | TcpState::Listen)
        )
}

impl Joiner {
    pub fn new(names: Names) -> Joiner {
        Joiner {
            names,
            pending: HashMap::new(),
            ready: Vec::new(),
            drops: DropTable::default(),
        }
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Ends and resets waiting for their other half or their turn.
    pub fn pending(&self) -> usize {
        self.pending.len() + self.ready.len()
    }

    /// Takes one record; ends come out of [`Joiner::flush`].
    pub fn feed(&mut self, rec: Record) {
        match rec {
            Record::End(e) => {
                let mut d = self.end(&e);
                match self.pending.remove(&e.cookie) {
                    Some(Pending::Reset(r)) => {
                        self.add_reset(&mut d, &r);
                        self.ready.push(finish(d));
                    }
                    Some(Pending::End(old)) => {
                        // The cookie's socket ended again (connect() after a failure).
                        self.ready.push(finish(old));
                        self.pending.insert(e.cookie, Pending::End(d));
                    }
                    None => {
                        self.pending.insert(e.cookie, Pending::End(d));
                    }
                }
            }
            Record::Reset(r) => {
                let cookie = r.cookie.unwrap_or(0);
                if !from_full_socket(&r) {
                    if let Some(d) = self.standalone(&r) {
                        self.ready.push(d);
                    }
                    return;
                }
                match self.pending.remove(&cookie) {
                    Some(Pending::End(mut d)) => {
                        self.add_reset(&mut d, &r);
                        self.ready.push(finish(d));
                    }
                    Some(Pending::Reset(first)) => {
                        if let Some(d) = self.standalone(&first) {
                            self.ready.push(d);
                        }
                        self.pending.insert(cookie, Pending::Reset(r));
                    }
                    None => {
                        self.pending.insert(cookie, Pending::Reset(r));
                    }
                }
            }
            Record::Drop(d) => {
                let name = self.names.drop_reason(d.reason);
                self.drops.add(&d, name);
            }
        }
    }

    /// Ends whose window closed before `now_ns` (trace clock), in time order.
    pub fn flush(&mut self, now_ns: u64, out: &mut Vec<Death>) {
        let closed = |ts: u64| now_ns.saturating_sub(ts) > WINDOW_NS;
        let done: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| closed(p.ts()))
            .map(|(k, _)| *k)
            .collect();
        for k in done {
            match self.pending.remove(&k) {
                Some(Pending::End(d)) => self.ready.push(finish(d)),
                Some(Pending::Reset(r)) => {
                    if let Some(d) = self.standalone(&r) {
                        self.ready.push(d);
                    }
                }
                None => {}
            }
        }
        self.ready.sort_by_key(|d| d.ts_ns);
        let n = self.ready.partition_point(|d| closed(d.ts_ns));
        out.extend(self.ready.drain(..n).map(|d| *d));
    }

    /// Everything still pending (at exit).
    pub fn finish(&mut self, out: &mut Vec<Death>) {
        self.flush(u64::MAX, out);
    }

    fn end(&mut self, e: &SockEnd) -> Box<Death> {
        let mut d = Box::new(Death::new(e.ts_ns, e.local, Some(e.remote)));
        d.cookie = Some(e.cookie);
        d.state_before = e.state_before;
        d.reset_received = e.rst_received;
        d.errno = e.errno();
        d.app_closed = Some(e.orphan);
        d.shut_both = e.shut_both;
        d.fin_received = Some(e.fin_received);
        if let Some(o) = &e.owner {
            d.pid = Some(o.pid as i32);
            d.comm = Some(o.comm.clone()).filter(|c| !c.is_empty());
        }
        d.netns = Some(u64::from(e.netns));
        d.role = e.role;
        d.duration_ms = e.started_ns.map(|s| e.ts_ns.saturating_sub(s) as f64 / 1e6);
        d.retransmits = Some(e.counters.total_retrans);
        d.bytes_sent = Some(e.bytes_sent());
        d.bytes_received = Some(e.bytes_received());
        d.rtt_us = e.rtt_us();
        d.recv_q = Some(e.unread());
        d.send_q = Some(e.unacked());
        d.drops = self.drops.take(e.netns, e.local, e.remote);
        d
    }

    fn add_reset(&self, d: &mut Death, r: &ResetSent) {
        d.reset_sent = true;
        d.reason = Some(self.names.rst_reason(r.reason));
        d.ts_ns = d.ts_ns.max(r.ts_ns);
    }

    /// A reset that is an end of its own: no socket, a TIME_WAIT or request socket, a
    /// listener, or a full socket whose end never came.
    fn standalone(&mut self, r: &ResetSent) -> Option<Box<Death>> {
        let mut d = Box::new(Death::new(r.ts_ns, r.local?, r.remote));
        d.cookie = r.cookie;
        d.state_before = r.state;
        d.answered_flags = r.answered_flags;
        d.netns = (r.netns != 0).then_some(u64::from(r.netns));
        d.reset_sent = true;
        d.reason = Some(self.names.rst_reason(r.reason));
        if let Some(remote) = r.remote {
            d.drops = self.drops.take(r.netns, d.local, remote);
        }
        d.classify();
        Some(d)
    }
}

fn finish(mut d: Box<Death>) -> Box<Death> {
    d.classify();
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::death::Kind;
    use tcpmortem_core::ending::{self, Role};
    use tcpmortem_trace::bpf::{Counters, Owner};

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn end(ts: u64, cookie: u64, state: TcpState) -> SockEnd {
        SockEnd {
            ts_ns: ts,
            cookie,
            started_ns: Some(ts.saturating_sub(1_000_000)),
            local: sa("198.18.0.6:8080"),
            remote: sa("198.18.0.1:40000"),
            netns: 7,
            owner: Some(Owner {
                pid: 42,
                comm: "srv".into(),
            }),
            state_before: Some(state),
            role: Some(Role::Server),
            rst_received: false,
            orphan: false,
            fin_received: false,
            shut_both: false,
            sk_err: 0,
            sk_err_soft: 0,
            counters: Counters {
                bytes_received: 1234,
                rcv_unread: 1234,
                ..Counters::default()
            },
        }
    }

    fn rst(ts: u64, cookie: Option<u64>, state: Option<TcpState>, reason: u32) -> ResetSent {
        ResetSent {
            ts_ns: ts,
            cookie,
            local: Some(sa("198.18.0.6:8080")),
            remote: Some(sa("198.18.0.1:40000")),
            netns: 7,
            state,
            reason,
            answered_flags: None,
        }
    }

    #[test]
    fn abort_on_close_joins_the_reset_that_follows_the_end() {
        let mut j = Joiner::new(Names::default());
        let mut out = Vec::new();
        j.feed(Record::End(end(100, 5, TcpState::Established)));
        j.flush(100, &mut out);
        assert!(out.is_empty(), "waits for its reset");
        j.feed(Record::Reset(rst(101, Some(5), Some(TcpState::Close), 11)));
        j.flush(102, &mut out);
        assert!(out.is_empty(), "joined, and in order after its window");
        j.flush(102 + WINDOW_NS, &mut out);
        assert_eq!(out.len(), 1);
        let d = &out[0];
        assert_eq!(d.kind, Kind::RstSent);
        assert_eq!(d.reason.unwrap().name(), "TCP_ABORT_ON_CLOSE");
        assert_eq!((d.recv_q, d.pid, d.netns), (Some(1234), Some(42), Some(7)));
        assert_eq!(d.ending().map(|e| e.0), Some(ending::Kind::AbortiveClose));
    }

    #[test]
    fn a_keepalive_reset_comes_first_and_an_end_alone_times_out() {
        let mut j = Joiner::new(Names::default());
        let mut out = Vec::new();
        j.feed(Record::Reset(rst(
            100,
            Some(9),
            Some(TcpState::Established),
            15,
        )));
        let mut e = end(101, 9, TcpState::Established);
        e.sk_err = 110;
        j.feed(Record::End(e));
        j.flush(101 + WINDOW_NS + 1, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, Kind::Timeout);
        assert_eq!(
            out[0].ending().map(|e| e.0),
            Some(ending::Kind::KeepaliveTimeout)
        );
        j.feed(Record::End(end(200, 10, TcpState::LastAck)));
        j.flush(200 + WINDOW_NS, &mut out);
        assert_eq!(out.len(), 1, "still inside its window");
        j.flush(201 + WINDOW_NS, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].kind, Kind::Closed);
        assert_eq!(j.pending(), 0);
    }

    #[test]
    fn resets_without_a_full_socket_stand_alone() {
        let mut j = Joiner::new(Names::default());
        let mut out = Vec::new();
        let mut r = rst(100, None, None, 1);
        r.answered_flags = Some(0x02);
        j.feed(Record::Reset(r));
        let mut r = rst(100, Some(3), Some(TcpState::Listen), 10);
        r.answered_flags = Some(0x10);
        j.feed(Record::Reset(r));
        j.finish(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].ending().map(|e| e.0), Some(ending::Kind::Refused));
        assert_eq!(out[1].reason.unwrap().name(), "INVALID_SYN");
        assert_eq!(
            out[1].remote,
            Some(sa("198.18.0.1:40000")),
            "the peer, from the segment"
        );
    }

    #[test]
    fn an_orphan_reset_in_fin_wait1_was_seen_by_nobody() {
        let mut j = Joiner::new(Names::default());
        let mut out = Vec::new();
        let mut e = end(100, 1, TcpState::FinWait1);
        e.orphan = true;
        e.rst_received = true;
        e.sk_err = 104;
        j.feed(Record::End(e));
        j.finish(&mut out);
        assert_eq!(out[0].kind, Kind::RstReceived);
        assert_eq!(out[0].app_closed, Some(true));
    }

    #[test]
    fn drops_are_counted_per_connection_in_both_directions() {
        let mut j = Joiner::new(Names::default());
        let mut out = Vec::new();
        let drop = |src: &str, dst: &str, ns: u32| {
            Record::Drop(Dropped {
                ts_ns: 50,
                src: sa(src),
                dst: sa(dst),
                netns: ns,
                reason: 12,
                tcp_flags: 0x18,
            })
        };
        for _ in 0..4 {
            j.feed(drop("198.18.0.1:40000", "198.18.0.6:8080", 7));
        }
        j.feed(drop("198.18.0.6:8080", "198.18.0.1:40000", 7));
        j.feed(drop("198.18.0.6:8080", "198.18.0.1:40000", 8));
        j.feed(Record::End(end(100, 5, TcpState::Established)));
        j.finish(&mut out);
        let d = &out[0].drops;
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!((d[0].count, d[0].from_peer), (4, true));
        assert_eq!((d[1].count, d[1].from_peer), (1, false));
        assert_eq!(
            d.iter().map(|c| c.netns).collect::<Vec<_>>(),
            [7, 7, 8],
            "{d:?}"
        );
        // Loopback never leaves its namespace: another namespace's drop is another connection.
        let lo = |src: &str, dst: &str, ns: u32| {
            Record::Drop(Dropped {
                ts_ns: 50,
                src: sa(src),
                dst: sa(dst),
                netns: ns,
                reason: 12,
                tcp_flags: 0x18,
            })
        };
        j.feed(lo("127.0.0.1:1", "127.0.0.1:2", 1));
        j.feed(lo("127.0.0.1:1", "127.0.0.1:2", 2));
        assert_eq!(
            j.drops.take(1, sa("127.0.0.1:2"), sa("127.0.0.1:1")).len(),
            1
        );
        assert_eq!(j.drops.len(), 1, "namespace 2's stays");
    }

    #[test]
    fn the_drop_table_stays_bounded() {
        let mut t = DropTable::default();
        for i in 0..(DropTable::CAPACITY as u32 + 10) {
            let d = Dropped {
                ts_ns: 1,
                src: SocketAddr::new(
                    [10, 0, (i >> 8) as u8, i as u8].into(),
                    (i >> 16) as u16 + 1,
                ),
                dst: sa("10.1.0.1:80"),
                netns: 1,
                reason: 12,
                tcp_flags: 2,
            };
            t.add(&d, "NETFILTER_DROP".into());
        }
        assert_eq!(t.len(), DropTable::CAPACITY);
        assert_eq!(t.evicted, 10);
    }
}
