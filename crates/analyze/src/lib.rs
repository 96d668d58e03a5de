//! Connection analysis of captures, sans-IO: frames in, connections out, each with Zeek's
//! conn.log fields and tcpmortem's [`ending::Ending`].
//!
//! - [`zeek`]: one connection's state machine, `conn_state` and `history` as Zeek has them.
//! - [`evidence`]: what the packets show about a connection's death (frames, RSTs, probes).
//! - [`ending`]: the verdict drawn from the evidence.
//! - [`views`]: one packet seen on several interfaces of a capture counts once.
//! - [`Tracker`]: the connection table, with Zeek's timers, so memory follows the number of
//!   live connections, not the number of packets.

mod embryo;
pub mod ending;
pub mod evidence;
pub mod views;
pub mod zeek;

use embryo::{Embryo, Embryos};
use ending::Ending;
use evidence::{Evidence, Mark, Unreachable};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use tcpmortem_wire::icmp::{self, UnreachCode};
pub use tcpmortem_wire::skip::{Encap, Skip};
use tcpmortem_wire::{TcpSegment, checksum};
use zeek::{ConnRecord, Pkt, TcpConn};

/// Ports whose traffic makes Zeek take the sender as the responder when a connection starts
/// without a SYN (`likely_server_ports`, from the ports its default analyzers register).
pub const LIKELY_SERVER_PORTS: &[u16] = &[
    21, 22, 23, 25, 53, 80, 88, 110, 111, 135, 137, 138, 139, 143, 161, 389, 443, 445, 465, 502,
    514, 587, 636, 993, 995, 1080, 1194, 1723, 1812, 3128, 3306, 3389, 5060, 5222, 5432, 5900,
    6379, 6667, 8000, 8080, 8443, 8888,
];

/// Zeek's `tcp_inactivity_timeout`: a connection silent this long is over.
pub const INACTIVITY_NS: i128 = 300_000_000_000;
/// How often (in capture time) the table is swept for expired connections.
const SWEEP_NS: i128 = 1_000_000_000;

/// What to do with TCP checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checksums {
    /// Verify them, except those a sender left to its NIC (checksum offloading, see
    /// [`Decoder::offloaded`]): a capture taken on the sending host is read as it was sent.
    #[default]
    Auto,
    /// Verify every one, as Zeek does: a segment with a bad checksum is counted in the
    /// history as `C` and otherwise ignored.
    Verify,
    /// Zeek's `-C`: verify none.
    Ignore,
}

/// Options that mirror Zeek's, and the table's limits.
#[derive(Debug, Clone)]
pub struct Options {
    pub checksums: Checksums,
    pub likely_server_ports: Vec<u16>,
    /// At most this many connections in the table at once: beyond it the oldest that have
    /// seen only a SYN are finished early (then, if none, the least recently active), and
    /// counted in [`Tracker::evicted`]. `None`: no limit but memory.
    pub max_connections: Option<usize>,
    /// Keep connections that have seen only a SYN in 80 bytes instead of about 2 KB (see
    /// `embryo`); `false` only to check that nothing changes with it.
    pub compact_syns: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            checksums: Checksums::Auto,
            likely_server_ports: LIKELY_SERVER_PORTS.to_vec(),
            max_connections: None,
            compact_syns: true,
        }
    }
}

/// Connections finished early to stay within [`Options::max_connections`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evicted {
    /// Those that had seen only a SYN.
    pub embryonic: u64,
    /// The others, least recently active first.
    pub established: u64,
}

/// One sender's checksums, for [`Checksums::Auto`].
#[derive(Debug, Clone, Copy, Default)]
struct Sender {
    good: u64,
    bad: u64,
    /// Bad checksums taken as offloaded and not held against their packets.
    offloaded: u64,
}

impl Sender {
    /// Whether this bad checksum was left to the NIC: it holds what an offloading sender
    /// leaves (the pseudo-header sum, or zero), or nearly all of the sender's checksums so far
    /// are bad (at least 9 in 10, its first packet included), as when a driver leaves garbage.
    /// A sender whose checksums are mostly right has a corrupt packet, as Zeek counts it.
    fn offloaded(&mut self, check: checksum::Check) -> bool {
        self.bad += 1;
        let yes = check == checksum::Check::Offloaded || self.bad >= 9 * self.good;
        self.offloaded += u64::from(yes);
        yes
    }
}

/// Per-direction counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Direction {
    pub pkts: u64,
    /// Payload bytes on the wire, retransmissions included.
    pub payload_bytes: u64,
    pub retransmits: u64,
    pub zero_windows: u64,
    /// Sequence jumps over data the capture never saw, and their bytes.
    pub gaps: u64,
    pub gap_bytes: u64,
}

/// One finished connection.
#[derive(Debug, Clone)]
pub struct Connection {
    pub zeek: ConnRecord,
    pub ending: Ending,
    pub client: Direction,
    pub server: Direction,
    pub first_frame: u64,
    pub last_frame: u64,
}

struct Conn {
    zeek: TcpConn,
    ev: Evidence,
}

impl Conn {
    fn finish(&self) -> Connection {
        let zeek = self.zeek.record();
        let client = self.ev.side_of(zeek.orig);
        let dir = |i: usize| {
            let s = &self.ev.sides[i];
            Direction {
                pkts: s.pkts,
                payload_bytes: s.payload_bytes,
                retransmits: s.retransmits + u64::from(s.syn_count.saturating_sub(1)),
                zero_windows: s.zero_windows,
                gaps: s.gaps,
                gap_bytes: s.gap_bytes,
            }
        };
        Connection {
            ending: ending::classify(&self.ev, client),
            client: dir(client),
            server: dir(1 - client),
            first_frame: self.ev.first.frame,
            last_frame: self.ev.last.frame,
            zeek,
        }
    }
}

/// A frame as the tracker needs it.
#[derive(Debug, Clone, Copy)]
pub enum Decoded {
    Tcp(Pkt),
    /// An ICMP destination-unreachable quoting a TCP segment.
    Icmp {
        at: Mark,
        quoted: icmp::QuotedTcp,
    },
    /// An IP fragment, held until its datagram is complete: the datagram comes out with its
    /// last fragment's frame.
    Fragment,
    /// A frame that gave none of the above, and why.
    Skipped(Skip),
}

/// Skipped frames, counted by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped(pub BTreeMap<Skip, u64>);

impl Skipped {
    pub fn add(&mut self, why: Skip) {
        *self.0.entry(why).or_default() += 1;
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Frames that may hold TCP the report leaves out (undecoded link types and tunnels).
    pub fn hiding_tcp(&self) -> u64 {
        self.0
            .iter()
            .filter(|(k, _)| k.may_hide_tcp())
            .map(|(_, n)| n)
            .sum()
    }

    pub fn merge(&mut self, other: &Skipped) {
        for (k, n) in &other.0 {
            *self.0.entry(*k).or_default() += n;
        }
    }
}

impl std::fmt::Display for Skipped {
    /// `12 not TCP, 3 inside GRE (not decoded)`, largest first.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut v: Vec<_> = self.0.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (i, (k, n)) in v.into_iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n} {k}")?;
        }
        Ok(())
    }
}

/// Turns frames into what the tracker needs: link, IP and TCP slicing, the TCP checksum as
/// [`Checksums`] says (only whole packets are checked), and IP fragment reassembly. Apart
/// from the table so it can run on another thread.
pub struct Decoder {
    checksums: Checksums,
    senders: HashMap<std::net::IpAddr, Sender, Seeded>,
    /// Good checksums not yet added to `senders`, for the last two senders: most packets
    /// come from one of the two ends of a conversation, and this spares a lookup each.
    recent: [(Option<std::net::IpAddr>, u64); 2],
    defrag: tcpmortem_wire::defrag::Defragmenter,
    skipped: Skipped,
}

impl Decoder {
    pub fn new(opts: &Options) -> Decoder {
        Decoder {
            checksums: opts.checksums,
            senders: HashMap::with_hasher(Seeded::random()),
            recent: [(None, 0); 2],
            defrag: tcpmortem_wire::defrag::Defragmenter::new(),
            skipped: Skipped::default(),
        }
    }

    /// Counts a good checksum from `ip`, in `recent` when it is one of the last two senders.
    fn good_from(&mut self, ip: std::net::IpAddr) {
        if let Some(r) = self.recent.iter_mut().find(|r| r.0 == Some(ip)) {
            r.1 += 1;
            return;
        }
        // Make room: the older entry goes to the table.
        let newer = self.recent[0];
        let (old, n) = std::mem::replace(&mut self.recent[1], newer);
        if let Some(old) = old {
            self.senders.entry(old).or_default().good += n;
        }
        self.recent[0] = (Some(ip), 1);
    }

    fn flush_recent(&mut self) {
        for r in &mut self.recent {
            if let (Some(ip), n) = std::mem::take(r) {
                self.senders.entry(ip).or_default().good += n;
            }
        }
    }

    /// With [`Checksums::Auto`]: the senders whose bad checksums were taken as offloaded,
    /// with how many, most first.
    pub fn offloaded(&self) -> Vec<(std::net::IpAddr, u64)> {
        let mut v: Vec<_> = self
            .senders
            .iter()
            .filter(|(_, s)| s.offloaded > 0)
            .map(|(a, s)| (*a, s.offloaded))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// Fragmented datagrams given up (timed out or evicted) or still incomplete.
    pub fn fragments_dropped(&self) -> u64 {
        self.defrag.dropped + self.defrag.pending() as u64
    }

    /// The frames skipped so far, by reason.
    pub fn skipped(&self) -> &Skipped {
        &self.skipped
    }

    pub fn decode(&mut self, frame: u64, ts_ns: i128, linktype: u16, bytes: &[u8]) -> Decoded {
        let ip = match tcpmortem_wire::link::ip_packet(linktype, bytes) {
            Ok(ip) => ip,
            Err(why) => return self.skip(why),
        };
        // The common case first, without a detour.
        if let Some(seg) = TcpSegment::from_ip(ip) {
            return self.tcp(frame, ts_ns, seg, ip);
        }
        if let Some(quoted) = icmp::unreachable(ip) {
            return Decoded::Icmp {
                at: Mark::new(frame, ts_ns),
                quoted,
            };
        }
        if !tcpmortem_wire::defrag::is_fragment(ip) {
            return self.skip(tcpmortem_wire::skip::of_ip(ip));
        }
        // A datagram's last fragment: the whole datagram is one packet, as Zeek counts it.
        let Some(whole) = self.defrag.add(ts_ns, ip) else {
            return Decoded::Fragment;
        };
        if let Some(seg) = TcpSegment::from_ip(&whole) {
            return self.tcp(frame, ts_ns, seg, &whole);
        }
        match icmp::unreachable(&whole) {
            Some(quoted) => Decoded::Icmp {
                at: Mark::new(frame, ts_ns),
                quoted,
            },
            None => self.skip(tcpmortem_wire::skip::of_ip(&whole)),
        }
    }

    fn skip(&mut self, why: Skip) -> Decoded {
        self.skipped.add(why);
        Decoded::Skipped(why)
    }

    /// A TCP segment, its checksum checked as [`Checksums`] says.
    fn tcp(&mut self, frame: u64, ts_ns: i128, seg: TcpSegment, ip: &[u8]) -> Decoded {
        let checksum_ok = match self.checksums {
            Checksums::Ignore => None,
            Checksums::Verify => checksum::tcp_ok(ip),
            Checksums::Auto => match checksum::tcp_check(ip) {
                None => None,
                Some(checksum::Check::Good) => {
                    self.good_from(seg.src.ip());
                    Some(true)
                }
                Some(bad) => {
                    self.flush_recent();
                    let s = self.senders.entry(seg.src.ip()).or_default();
                    if s.offloaded(bad) { None } else { Some(false) }
                }
            },
        };
        Decoded::Tcp(Pkt {
            frame,
            ts_ns,
            seg,
            checksum_ok,
        })
    }
}

/// FxHash's mixing (rustc's hasher) over a per-table random seed: several times faster than
/// SipHash on 4-tuples, and the seed keeps a crafted capture from forcing collisions.
#[derive(Clone)]
pub(crate) struct Seeded(u64);

impl Seeded {
    /// A seed of its own, from the standard library's random keys.
    fn random() -> Seeded {
        use std::hash::{BuildHasher, RandomState};
        Seeded(RandomState::new().hash_one(0x7463_706du64))
    }
}

impl std::hash::BuildHasher for Seeded {
    type Hasher = Fx;
    fn build_hasher(&self) -> Fx {
        Fx(self.0)
    }
}

struct Fx(u64);

impl Fx {
    fn mix(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        for b in chunks.remainder() {
            self.mix(u64::from(*b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    fn finish(&self) -> u64 {
        // The multiply moves entropy only upwards; hashbrown indexes by the low bits, so
        // fold the high half down (MurmurHash3's fmix64 step).
        let h = self.0 ^ (self.0 >> 33);
        h.wrapping_mul(0xff51_afd7_ed55_8ccd) ^ (h >> 29)
    }
}

/// A 4-tuple in canonical order, packed so that hashing and comparing it are a few word
/// operations (IPv4 as IPv4-mapped IPv6), in 36 bytes aligned to 4, so that a table of
/// millions stays small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    lo: [u32; 4],
    hi: [u32; 4],
    /// The lower end's port in the high half.
    ports: u32,
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let w = |a: [u32; 4]| (u64::from(a[0] ^ a[2]) << 32) | u64::from(a[1] ^ a[3]);
        h.write_u64(w(self.lo));
        h.write_u64(w(self.hi));
        h.write_u32(self.ports);
    }
}

impl Key {
    /// An address as four big-endian words.
    pub(crate) fn words(a: SocketAddr) -> [u32; 4] {
        let x = match a.ip() {
            std::net::IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            std::net::IpAddr::V6(v6) => u128::from(v6),
        };
        [
            (x >> 96) as u32,
            (x >> 64) as u32,
            (x >> 32) as u32,
            x as u32,
        ]
    }
}

fn key(a: SocketAddr, b: SocketAddr) -> Key {
    let (x, y) = ((Key::words(a), a.port()), (Key::words(b), b.port()));
    let ((lo, lp), (hi, hp)) = if x <= y { (x, y) } else { (y, x) };
    Key {
        lo,
        hi,
        ports: u32::from(lp) << 16 | u32::from(hp),
    }
}

/// The connection table.
pub struct Tracker {
    opts: Options,
    /// For [`Tracker::frame`]; callers that decode elsewhere use [`Tracker::feed`].
    decoder: Decoder,
    live: HashMap<Key, Box<Conn>, Seeded>,
    /// Connections that have seen only a SYN.
    embryos: Embryos,
    done: Vec<Connection>,
    next_sweep: Option<i128>,
    /// Frames that carried a TCP segment.
    pub tcp_frames: u64,
    /// Connections finished early for [`Options::max_connections`].
    pub evicted: Evicted,
}

/// Whether packet `p` still belongs to connection `c`: not a new connection on its 4-tuple,
/// and no timer of it has run out.
fn goes_on(c: &mut Conn, p: &Pkt) -> bool {
    !(c.zeek.is_reuse(p)
        || c.zeek.expired(p.ts_ns)
        || p.ts_ns - i128::from(c.ev.last.ts_ns) > INACTIVITY_NS)
}

fn apply(c: &mut Conn, p: &Pkt) {
    c.zeek.process(p);
    if p.checksum_ok == Some(false) {
        c.ev.unusable(p);
    } else {
        c.ev.observe(p);
    }
}

impl Tracker {
    pub fn new(opts: Options) -> Tracker {
        let seed = Seeded::random();
        Tracker {
            decoder: Decoder::new(&opts),
            opts,
            live: HashMap::with_hasher(seed.clone()),
            embryos: Embryos::new(seed),
            done: Vec::new(),
            next_sweep: None,
            tcp_frames: 0,
            evicted: Evicted::default(),
        }
    }

    /// Feeds one captured frame (`frame` is its 1-based number in its file).
    pub fn frame(&mut self, frame: u64, ts_ns: i128, linktype: u16, bytes: &[u8]) {
        let d = self.decoder.decode(frame, ts_ns, linktype, bytes);
        self.feed(&d);
    }

    /// Feeds a frame decoded by a [`Decoder`], which can run on another thread.
    pub fn feed(&mut self, d: &Decoded) {
        match d {
            Decoded::Tcp(p) => {
                self.tcp_frames += 1;
                self.packet(p);
            }
            Decoded::Icmp { at, quoted } => self.icmp(*at, *quoted),
            Decoded::Fragment | Decoded::Skipped(_) => {}
        }
    }

    /// A full connection from its first packet.
    fn open(&self, p: &Pkt) -> Box<Conn> {
        let ports = &self.opts.likely_server_ports;
        let likely = |port: u16| ports.contains(&port);
        let mut c = Box::new(Conn {
            zeek: TcpConn::new(p, &likely),
            ev: Evidence::new(p),
        });
        apply(&mut c, p);
        c
    }

    /// An embryo made a full connection: its SYN replayed.
    fn revive(&self, e: &Embryo) -> Box<Conn> {
        self.open(&e.pkt())
    }

    fn icmp(&mut self, at: Mark, q: icmp::QuotedTcp) {
        let k = key(q.src, q.dst);
        if !self.live.contains_key(&k)
            && let Some(e) = self.embryos.take(&k)
        {
            let c = self.revive(&e);
            self.live.insert(k, c);
        }
        if let Some(c) = self.live.get_mut(&k) {
            let kind = match q.code {
                UnreachCode::Net => Unreachable::Net,
                UnreachCode::Host => Unreachable::Host,
                UnreachCode::Port => Unreachable::Port,
                UnreachCode::Other => Unreachable::Other,
            };
            c.ev.icmp(at, q.src, kind);
        }
    }

    pub fn packet(&mut self, p: &Pkt) {
        self.advance(p.ts_ns);
        let k = key(p.seg.src, p.seg.dst);
        // One lookup for the common case: a packet of a live connection.
        if let Some(c) = self.live.get_mut(&k) {
            if goes_on(c, p) {
                apply(c, p);
                return;
            }
            if let Some(old) = self.live.remove(&k) {
                self.done.push(old.finish());
            }
        } else if self.embryos.len() > 0
            && let Some(e) = self.embryos.take(&k)
        {
            let mut c = self.revive(&e);
            if goes_on(&mut c, p) {
                apply(&mut c, p);
                self.live.insert(k, c);
                return;
            }
            self.done.push(c.finish());
        }
        self.make_room();
        if self.opts.compact_syns
            && let Some(e) = Embryo::new(k, p)
        {
            self.embryos.push(e);
            return;
        }
        let c = self.open(p);
        self.live.insert(k, c);
    }

    /// Keeps the table within [`Options::max_connections`] before a new connection: the
    /// oldest SYN-only connections go first, then the least recently active (an eighth of
    /// them at a time, so that each eviction is not a scan of the table).
    fn make_room(&mut self) {
        let Some(max) = self.opts.max_connections else {
            return;
        };
        while self.live.len() + self.embryos.len() >= max.max(1) {
            if let Some(e) = self.embryos.pop_oldest() {
                self.done.push(self.revive(&e).finish());
                self.evicted.embryonic += 1;
                continue;
            }
            let mut by_age: Vec<(i64, u64, Key)> = self
                .live
                .iter()
                .map(|(k, c)| (c.ev.last.ts_ns, c.ev.last.frame, *k))
                .collect();
            let n = (by_age.len() / 8).max(1).min(by_age.len());
            if n == 0 {
                return;
            }
            by_age.select_nth_unstable(n - 1);
            let mut gone: Vec<Box<Conn>> = by_age[..n]
                .iter()
                .filter_map(|(_, _, k)| self.live.remove(k))
                .collect();
            gone.sort_by_key(|c| (c.ev.first.ts_ns, c.ev.first.frame));
            self.evicted.established += gone.len() as u64;
            self.done.extend(gone.into_iter().map(|c| c.finish()));
            return;
        }
    }

    /// Lets capture time pass: connections whose timers ran out are finished, as Zeek's
    /// timer manager removes them when network time passes their deadline.
    fn advance(&mut self, now: i128) {
        let due = *self.next_sweep.get_or_insert(now + SWEEP_NS);
        if now < due {
            return;
        }
        self.next_sweep = Some(now + SWEEP_NS);
        let gone: Vec<Key> = self
            .live
            .iter_mut()
            .filter_map(|(k, c)| {
                (c.zeek.expired(now) || now - i128::from(c.ev.last.ts_ns) > INACTIVITY_NS)
                    .then_some(*k)
            })
            .collect();
        let mut embryos = Vec::new();
        self.embryos.expired(now, &mut embryos);
        let mut finished: Vec<Box<Conn>> = embryos.iter().map(|e| self.revive(e)).collect();
        finished.extend(gone.iter().filter_map(|k| self.live.remove(k)));
        finished.sort_by_key(|c| (c.ev.first.ts_ns, c.ev.first.frame));
        self.done.extend(finished.into_iter().map(|c| c.finish()));
    }

    /// Live connections right now.
    pub fn live(&self) -> usize {
        self.live.len() + self.embryos.len()
    }

    /// Connections finished so far, in the order they finished; takes them out.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Connection> {
        self.done.drain(..)
    }

    /// The rest: connections finished and not drained, then those still live, in order of
    /// their first packet.
    pub fn finish(self) -> Vec<Connection> {
        self.finish_iter().collect()
    }

    /// [`Tracker::finish`] one connection at a time: each live connection is turned into its
    /// record only when asked for, so memory does not double at the end of a capture.
    pub fn finish_iter(mut self) -> impl Iterator<Item = Connection> {
        let mut order: Vec<(i64, u64, Key)> = self
            .live
            .iter()
            .map(|(k, c)| (c.ev.first.ts_ns, c.ev.first.frame, *k))
            .collect();
        order.sort_unstable();
        let done = std::mem::take(&mut self.done);
        let embryos = std::mem::replace(&mut self.embryos, Embryos::new(Seeded(0)));
        let mut embryos = embryos.into_sorted().peekable();
        let mut order = order.into_iter().peekable();
        // Two sorted sequences, merged by (time, frame).
        let rest = std::iter::from_fn(move || {
            let take_embryo = match (order.peek(), embryos.peek()) {
                (Some(l), Some(e)) => (e.ts_ns, e.frame) < (l.0, l.1),
                (None, Some(_)) => true,
                (_, None) => false,
            };
            if take_embryo {
                let e = embryos.next()?;
                return Some(self.revive(&e).finish());
            }
            let (_, _, k) = order.next()?;
            self.live.remove(&k).map(|c| c.finish())
        });
        done.into_iter().chain(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpmortem_wire::link::linktype;

    const C: [u8; 4] = [198, 18, 0, 1];
    const S: [u8; 4] = [198, 18, 0, 6];

    /// A raw IPv4 TCP packet.
    fn seg(from_client: bool, flags: &str, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
        let (src, dst, sp, dp) = if from_client {
            (C, S, 40000, 8080)
        } else {
            (S, C, 8080, 40000)
        };
        let mut b = etherparse::PacketBuilder::ipv4(src, dst, 64).tcp(sp, dp, seq, 65535);
        for f in flags.chars() {
            b = match f {
                'S' => b.syn(),
                'F' => b.fin(),
                'R' => b.rst(),
                'P' => b.psh(),
                '.' => b.ack(ack),
                _ => b,
            };
        }
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    /// Splits an IPv4 packet into fragments of `size` payload bytes.
    fn fragments(p: &[u8], size: usize) -> Vec<Vec<u8>> {
        let body = &p[20..];
        body.chunks(size)
            .enumerate()
            .map(|(k, chunk)| {
                let off = k * size;
                let more = off + chunk.len() < body.len();
                let mut h = p[..20].to_vec();
                h[2..4].copy_from_slice(&((20 + chunk.len()) as u16).to_be_bytes());
                h[4..6].copy_from_slice(&77u16.to_be_bytes());
                h[6..8]
                    .copy_from_slice(&((u16::from(more) << 13) | (off / 8) as u16).to_be_bytes());
                h.extend_from_slice(chunk);
                h
            })
            .collect()
    }

    #[test]
    fn a_fragmented_segment_counts_once_with_all_its_bytes() {
        let data = vec![0x42; 3000];
        let mut packets = vec![
            seg(true, "S", 100, 0, &[]),
            seg(false, "S.", 500, 101, &[]),
            seg(true, ".", 101, 501, &[]),
        ];
        packets.extend(fragments(&seg(true, "P.", 101, 501, &data), 1480));
        packets.push(seg(false, ".", 501, 3101, &[]));
        packets.push(seg(true, "F.", 3101, 501, &[]));
        packets.push(seg(false, "F.", 501, 3102, &[]));
        packets.push(seg(true, ".", 3102, 502, &[]));
        let mut t = Tracker::new(Options::default());
        for (i, p) in packets.iter().enumerate() {
            t.frame(i as u64 + 1, i as i128 * 1_000_000, linktype::RAW, p);
        }
        let c = t.finish();
        assert_eq!(c.len(), 1);
        let z = &c[0].zeek;
        assert_eq!(z.history, "ShADaFf");
        assert_eq!(z.orig_bytes, Some(3000));
        // SYN, ACK, the reassembled data segment, FIN, ACK.
        assert_eq!(z.orig_pkts, 5);
        assert_eq!(z.orig_ip_bytes, 40 + 40 + 3040 + 40 + 40);
        assert_eq!(c[0].ending.kind, ending::Kind::GracefulClose);
        // The data segment is the last fragment's frame.
        assert_eq!(c[0].client.payload_bytes, 3000);
    }

    /// Runs raw IPv4 packets, `ms` apart each, through a tracker.
    fn endings(packets: &[(i64, Vec<u8>)]) -> Vec<Connection> {
        let mut t = Tracker::new(Options::default());
        for (i, (ms, p)) in packets.iter().enumerate() {
            t.frame(i as u64 + 1, i128::from(*ms) * 1_000_000, linktype::RAW, p);
        }
        t.finish()
    }

    fn handshake() -> Vec<(i64, Vec<u8>)> {
        vec![
            (0, seg(true, "S", 100, 0, &[])),
            (1, seg(false, "S.", 500, 101, &[])),
            (2, seg(true, ".", 101, 501, &[])),
        ]
    }

    /// A raw IPv4 SYN from the client's port `port`.
    fn syn_from(port: u16) -> Vec<u8> {
        let b = etherparse::PacketBuilder::ipv4(C, S, 64)
            .tcp(port, 8080, 100, 65535)
            .syn();
        let mut out = Vec::new();
        b.write(&mut out, &[]).unwrap();
        out
    }

    #[test]
    fn beyond_max_connections_the_oldest_syn_only_ones_go_first() {
        let mut t = Tracker::new(Options {
            max_connections: Some(5),
            ..Options::default()
        });
        let mut frame = 0;
        let mut feed = |t: &mut Tracker, ms: i128, p: &[u8]| {
            frame += 1;
            t.frame(frame, ms * 1_000_000, linktype::RAW, p);
        };
        // An established connection first, then a flood of SYNs.
        for (ms, p) in handshake() {
            feed(&mut t, i128::from(ms), &p);
        }
        for port in 0..10 {
            feed(&mut t, 10 + i128::from(port), &syn_from(50_000 + port));
        }
        assert_eq!(t.live(), 5);
        assert_eq!(
            t.evicted,
            Evicted {
                embryonic: 6,
                established: 0
            }
        );
        // Evicted ones are reported, not lost, oldest first; then the rest.
        let done: Vec<u16> = t.drain().map(|c| c.zeek.orig.port()).collect();
        assert_eq!(done, [50_000, 50_001, 50_002, 50_003, 50_004, 50_005]);
        let rest: Vec<u16> = t.finish().iter().map(|c| c.zeek.orig.port()).collect();
        assert_eq!(rest, [40_000, 50_006, 50_007, 50_008, 50_009]);
    }

    #[test]
    fn a_rst_outside_the_window_is_a_middleboxs() {
        let mut p = handshake();
        p.push((3, seg(true, "P.", 101, 501, b"hello")));
        p.push((4, seg(false, ".", 501, 106, &[])));
        // Far behind what the client has acknowledged of the server's data.
        p.push((5, seg(false, "R", 7, 0, &[])));
        let c = endings(&p);
        assert_eq!(c[0].ending.kind, ending::Kind::MiddleboxReset);
        assert!(
            c[0].ending.clues[0].contains("window"),
            "{:?}",
            c[0].ending.clues
        );
    }

    #[test]
    fn retransmissions_without_backoff_are_not_a_timeout() {
        let mut p = handshake();
        for ms in [10, 20, 30, 40] {
            p.push((ms, seg(true, "P.", 101, 501, b"hello")));
        }
        assert_eq!(endings(&p)[0].ending.kind, ending::Kind::StillOpen);
        let mut p = handshake();
        for ms in [10, 210, 610, 1410] {
            p.push((ms, seg(true, "P.", 101, 501, b"hello")));
        }
        let c = endings(&p);
        assert_eq!(c[0].ending.kind, ending::Kind::RetransmissionTimeout);
        assert!(
            c[0].ending.clues[0].contains("400 then 800 ms"),
            "{:?}",
            c[0].ending.clues
        );
    }

    #[test]
    fn a_syn_given_up_with_a_rst_is_unanswered() {
        let p = vec![
            (0, seg(true, "S", 100, 0, &[])),
            (1000, seg(true, "S", 100, 0, &[])),
            (3000, seg(true, "R", 101, 0, &[])),
        ];
        let c = endings(&p);
        assert_eq!(c[0].zeek.conn_state, "RSTOS0");
        assert_eq!(c[0].ending.kind, ending::Kind::SynUnanswered);
        assert_eq!(c[0].client.retransmits, 1);
    }

    #[test]
    fn a_rst_after_both_fins_is_still_a_graceful_close() {
        let mut p = handshake();
        p.push((3, seg(false, "F.", 501, 101, &[])));
        p.push((4, seg(true, "F.", 101, 502, &[])));
        p.push((5, seg(false, "R", 502, 0, &[])));
        let c = endings(&p);
        assert_eq!(c[0].ending.kind, ending::Kind::GracefulClose);
        assert_eq!(c[0].ending.by, Some(ending::Role::Server));
        assert_eq!(c[0].ending.client_saw.linux, Some("peer-eof"));
    }

    #[test]
    fn probes_of_a_closed_window_are_not_keepalives() {
        let mut p = handshake();
        p.push((3, seg(true, "P.", 101, 501, b"hello")));
        // The server acknowledges and closes its window; the client probes it.
        let mut zero = seg(false, ".", 501, 106, &[]);
        // Window 0 (the checksum goes stale, hence -C below).
        zero[34..36].copy_from_slice(&[0, 0]);
        p.push((4, zero));
        for ms in [300, 900, 2100] {
            p.push((ms, seg(true, ".", 105, 501, &[])));
        }
        let mut t = Tracker::new(Options {
            checksums: Checksums::Ignore,
            ..Options::default()
        });
        for (i, (ms, pk)) in p.iter().enumerate() {
            t.frame(i as u64 + 1, i128::from(*ms) * 1_000_000, linktype::RAW, pk);
        }
        let c = t.finish();
        assert_eq!(c[0].server.zero_windows, 1);
        assert_eq!(c[0].ending.kind, ending::Kind::StillOpen);
        // The same probes against an open window are keepalives.
        let mut p = handshake();
        p.push((3, seg(true, "P.", 101, 501, b"hello")));
        p.push((4, seg(false, ".", 501, 106, &[])));
        for ms in [300, 900, 2100] {
            p.push((ms, seg(true, ".", 105, 501, &[])));
        }
        assert_eq!(endings(&p)[0].ending.kind, ending::Kind::KeepaliveTimeout);
    }
}
