//! Connections that have seen only a SYN, kept small. A SYN flood or a port scan opens a
//! connection per SYN; each would cost a full [`crate::zeek::TcpConn`] and
//! [`crate::evidence::Evidence`] (about 2 KB) for a row Zeek fills from one packet. Here
//! such a connection is its SYN's header facts (80 bytes) in a queue in arrival order, with
//! an index by 4-tuple; its second packet (or an ICMP error about it) turns it into a full
//! connection by replaying the SYN first, so nothing Zeek shows changes.
//!
//! Zeek's attempt timer gives up a SYN-only connection 5 s after its SYN
//! (`tcp_attempt_delay`), so in a capture whose times run forward the queue's front is
//! always the next to expire, and the oldest to evict.

use crate::Key;
use crate::zeek::Pkt;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tcpmortem_wire::{Flags, TcpSegment};

/// Zeek's `tcp_attempt_delay`: a SYN unanswered this long ends its connection.
pub(crate) const ATTEMPT_NS: i128 = 5_000_000_000;

const FROM_LO: u8 = 1;
const V4: u8 = 2;
const HAS_IP_ID: u8 = 4;
const CHECKED: u8 = 8;
const GONE: u8 = 16;

/// A SYN, as compact as its facts allow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Embryo {
    pub key: Key,
    pub ts_ns: i64,
    pub frame: u64,
    seq: u32,
    ack: u32,
    ip_len: u32,
    payload_len: u32,
    captured: u32,
    window: u16,
    ip_id: u16,
    ttl: u8,
    flags: u8,
    bits: u8,
}

fn addr(w: [u32; 4], port: u16, v4: bool) -> SocketAddr {
    let v6 = Ipv6Addr::from(
        (u128::from(w[0]) << 96)
            | (u128::from(w[1]) << 64)
            | (u128::from(w[2]) << 32)
            | u128::from(w[3]),
    );
    let ip = match v6.to_ipv4_mapped() {
        Some(v4addr) if v4 => IpAddr::V4(v4addr),
        _ if v4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        _ => IpAddr::V6(v6),
    };
    SocketAddr::new(ip, port)
}

impl Embryo {
    /// The packet, if it can start an embryo: a bare SYN without payload whose checksum was
    /// not found bad, at a time that fits 64 bits.
    pub fn new(k: Key, p: &Pkt) -> Option<Embryo> {
        let s = &p.seg;
        let bare_syn = s.flags.has(Flags::SYN)
            && !s.flags.has(Flags::ACK)
            && !s.flags.has(Flags::RST)
            && !s.flags.has(Flags::FIN);
        if !bare_syn || s.payload_len != 0 || p.checksum_ok == Some(false) {
            return None;
        }
        let ts_ns = i64::try_from(p.ts_ns).ok()?;
        let mut bits = 0;
        if Key::words(s.src) == k.lo && s.src.port() == (k.ports >> 16) as u16 {
            bits |= FROM_LO;
        }
        if s.src.is_ipv4() {
            bits |= V4;
        }
        if s.ip_id.is_some() {
            bits |= HAS_IP_ID;
        }
        if p.checksum_ok == Some(true) {
            bits |= CHECKED;
        }
        Some(Embryo {
            key: k,
            ts_ns,
            frame: p.frame,
            seq: s.seq,
            ack: s.ack,
            ip_len: s.ip_len,
            payload_len: s.payload_len,
            captured: s.captured,
            window: s.window,
            ip_id: s.ip_id.unwrap_or(0),
            ttl: s.ttl,
            flags: s.flags.0,
            bits,
        })
    }

    /// The SYN again, as it came.
    pub fn pkt(&self) -> Pkt {
        let v4 = self.bits & V4 != 0;
        let k = &self.key;
        let lo = addr(k.lo, (k.ports >> 16) as u16, v4);
        let hi = addr(k.hi, k.ports as u16, v4);
        let (src, dst) = if self.bits & FROM_LO != 0 {
            (lo, hi)
        } else {
            (hi, lo)
        };
        Pkt {
            frame: self.frame,
            ts_ns: i128::from(self.ts_ns),
            seg: TcpSegment {
                src,
                dst,
                flags: Flags(self.flags),
                seq: self.seq,
                ack: self.ack,
                window: self.window,
                payload_len: self.payload_len,
                captured: self.captured,
                ttl: self.ttl,
                ip_id: (self.bits & HAS_IP_ID != 0).then_some(self.ip_id),
                ip_len: self.ip_len,
            },
            checksum_ok: (self.bits & CHECKED != 0).then_some(true),
        }
    }

    fn gone(&self) -> bool {
        self.bits & GONE != 0
    }
}

/// The SYN-only connections, in arrival order, with an index by 4-tuple.
pub(crate) struct Embryos {
    queue: VecDeque<Embryo>,
    /// Position in `queue` counted from the first ever queued, truncated to 32 bits: the
    /// queue never holds 2^32 entries.
    index: HashMap<Key, u32, crate::Seeded>,
    /// Position of `queue`'s front, counted the same way.
    base: u32,
    /// Every entry's time is at least the one before it: the front expires first.
    in_order: bool,
}

impl Embryos {
    pub fn new(hasher: crate::Seeded) -> Embryos {
        Embryos {
            queue: VecDeque::new(),
            index: HashMap::with_hasher(hasher),
            base: 0,
            in_order: true,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn push(&mut self, e: Embryo) {
        if self.queue.back().is_some_and(|b| b.ts_ns > e.ts_ns) {
            self.in_order = false;
        }
        let at = self.base.wrapping_add(self.queue.len() as u32);
        self.index.insert(e.key, at);
        self.queue.push_back(e);
    }

    /// Takes out the embryo of `k`, if there is one.
    pub fn take(&mut self, k: &Key) -> Option<Embryo> {
        let at = self.index.remove(k)?;
        let e = &mut self.queue[at.wrapping_sub(self.base) as usize];
        let out = *e;
        e.bits |= GONE;
        self.trim();
        Some(out)
    }

    /// Drops the taken entries at the front.
    fn trim(&mut self) {
        while self.queue.front().is_some_and(Embryo::gone) {
            self.queue.pop_front();
            self.base = self.base.wrapping_add(1);
        }
        if self.queue.is_empty() {
            self.in_order = true;
        }
    }

    /// Takes out the oldest.
    pub fn pop_oldest(&mut self) -> Option<Embryo> {
        let e = *self.queue.front()?;
        self.take(&e.key)
    }

    /// Takes out every embryo whose attempt timer has run out by `now`.
    pub fn expired(&mut self, now: i128, out: &mut Vec<Embryo>) {
        let due = |e: &Embryo| !e.gone() && now >= i128::from(e.ts_ns) + ATTEMPT_NS;
        if self.in_order {
            while let Some(e) = self.queue.front().copied() {
                if !due(&e) {
                    break;
                }
                out.extend(self.take(&e.key));
            }
        } else {
            let keys: Vec<Key> = self
                .queue
                .iter()
                .filter(|e| due(e))
                .map(|e| e.key)
                .collect();
            for k in keys {
                out.extend(self.take(&k));
            }
        }
    }

    /// All that are left, in order of (time, frame), without a copy: the index goes first.
    pub fn into_sorted(self) -> impl Iterator<Item = Embryo> {
        let mut queue = self.queue;
        drop(self.index);
        if !self.in_order {
            queue.make_contiguous().sort_by_key(|e| (e.ts_ns, e.frame));
        }
        std::iter::from_fn(move || queue.pop_front()).filter(|e| !e.gone())
    }
}
