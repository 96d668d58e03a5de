//! Connection analysis of captures, sans-IO: frames in, connections out, each with Zeek's
//! conn.log fields and tcpmortem's [`ending::Ending`].
//!
//! - [`zeek`]: one connection's state machine, `conn_state` and `history` as Zeek has them.
//! - [`evidence`]: what the packets show about a connection's death (frames, RSTs, probes).
//! - [`ending`]: the verdict drawn from the evidence.
//! - [`Tracker`]: the connection table, with Zeek's timers, so memory follows the number of
//!   live connections, not the number of packets.

pub mod ending;
pub mod evidence;
pub mod zeek;

use ending::Ending;
use evidence::{Evidence, Mark, Unreachable};
use std::collections::HashMap;
use std::net::SocketAddr;
use tcpmortem_wire::dissect::{Dissector, Skip};
use tcpmortem_wire::icmp::{self, UnreachCode};
use tcpmortem_wire::{TcpSegment, checksum};
use zeek::{ConnRecord, Pkt, TcpConn};

/// Zeek's default `likely_server_ports` for TCP: the ports its default protocol scripts add
/// (`redef likely_server_ports += { ports }` in `scripts/base/protocols/*/main.zeek`); when a
/// connection does not start with a SYN, the side on one of these is taken for the
/// responder. By script: ftp 21, 2811 (gridftp); ssh 22; smtp 25, 587; dns 53; finger 79;
/// http 80, 81, 631, 1080, 3128, 8000, 8080, 8888; krb 88; dce-rpc 135; smb 139, 445;
/// imap 143; ldap 389, 3268; ssl 443, 465, 563, 585, 614, 636, 989, 990, 992, 993, 995,
/// 5223; modbus 502; syslog 514; mysql 1434, 3306; mqtt 1883; rdp 3389; xmpp 5222, 5269;
/// postgresql 5432; redis 6379; irc 6666-6669; dnp3 20000. (pop3, telnet, snmp, sip, rfb,
/// radius and socks's 1080 register their analyzers without adding likely server ports,
/// or are not TCP.)
pub const LIKELY_SERVER_PORTS: &[u16] = &[
    21, 22, 25, 53, 79, 80, 81, 88, 135, 139, 143, 389, 443, 445, 465, 502, 514, 563, 585, 587,
    614, 631, 636, 989, 990, 992, 993, 995, 1080, 1434, 1883, 2811, 3128, 3268, 3306, 3389, 5222,
    5223, 5269, 5432, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000,
];

/// Zeek's `tcp_inactivity_timeout`: a connection silent this long is over.
pub const INACTIVITY_NS: i128 = 300_000_000_000;
/// How often (in capture time) the table is swept for expired connections.
const SWEEP_NS: i128 = 1_000_000_000;

/// Options that mirror Zeek's.
#[derive(Debug, Clone)]
pub struct Options {
    /// Zeek's `-C`: do not verify TCP checksums.
    pub ignore_checksums: bool,
    pub likely_server_ports: Vec<u16>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            ignore_checksums: false,
            likely_server_ports: LIKELY_SERVER_PORTS.to_vec(),
        }
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
    Other,
}

/// Turns frames into what the tracker needs: link layers, IP fragment reassembly and tunnels
/// (`tcpmortem_wire::dissect`, as Zeek's packet analysis), then TCP slicing and the TCP
/// checksum unless told not to (Zeek's -C; only whole packets are checked). Apart from the
/// table so it can run on another thread.
pub struct Decoder {
    ignore_checksums: bool,
    dissector: Dissector,
}

impl Decoder {
    pub fn new(opts: &Options) -> Decoder {
        Decoder {
            ignore_checksums: opts.ignore_checksums,
            dissector: Dissector::new(!opts.ignore_checksums),
        }
    }

    /// Fragmented datagrams given up (timed out or evicted) or still incomplete.
    pub fn fragments_dropped(&self) -> u64 {
        self.dissector.fragments_dropped()
    }

    /// One frame whose length on the wire is not known, for the tracker: its first packet.
    pub fn decode(&mut self, frame: u64, ts_ns: i128, linktype: u16, bytes: &[u8]) -> Decoded {
        let mut first = Decoded::Other;
        let _ = self.decode_each(frame, ts_ns, linktype, u64::MAX, bytes, &mut |d| {
            if matches!(first, Decoded::Other) {
                first = d;
            }
        });
        first
    }

    /// Every packet of one frame the tracker takes (a TCP segment or an ICMP error about
    /// one; several only for an 802.11 A-MSDU), found through its link layers, fragments
    /// and tunnels. `wire_len`: the frame's length on the wire (`u64::MAX` if unknown).
    /// `Err` says why the frame gave nothing.
    #[inline]
    pub fn decode_each<F: FnMut(Decoded)>(
        &mut self,
        frame: u64,
        ts_ns: i128,
        linktype: u16,
        wire_len: u64,
        bytes: &[u8],
        out: &mut F,
    ) -> Result<(), Skip> {
        let ignore = self.ignore_checksums;
        let mut none = true;
        let r = self
            .dissector
            .frame(ts_ns, linktype, wire_len, bytes, &mut |ip| {
                if let Some(d) = ip_packet(ignore, frame, ts_ns, ip) {
                    none = false;
                    out(d);
                }
            });
        match r {
            Ok(()) if none => Err(Skip::NotTcp),
            r => r,
        }
    }
}

/// A TCP segment or an ICMP error about one; `None` for anything else.
#[inline]
fn ip_packet(ignore_checksums: bool, frame: u64, ts_ns: i128, ip: &[u8]) -> Option<Decoded> {
    let Some(seg) = TcpSegment::from_ip(ip) else {
        return icmp::unreachable(ip).map(|quoted| Decoded::Icmp {
            at: Mark::new(frame, ts_ns),
            quoted,
        });
    };
    let checksum_ok = if ignore_checksums {
        None
    } else {
        checksum::tcp_ok(ip)
    };
    Some(Decoded::Tcp(Pkt {
        frame,
        ts_ns,
        seg,
        checksum_ok,
    }))
}

/// FxHash's mixing (rustc's hasher) over a per-table random seed: several times faster than
/// SipHash on 4-tuples, and the seed keeps a crafted capture from forcing collisions.
#[derive(Clone)]
struct Seeded(u64);

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
/// operations (IPv4 as IPv4-mapped IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    lo: u128,
    hi: u128,
    ports: u32,
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.lo as u64 ^ (self.lo >> 64) as u64);
        h.write_u64(self.hi as u64 ^ (self.hi >> 64) as u64);
        h.write_u32(self.ports);
    }
}

fn key(a: SocketAddr, b: SocketAddr) -> Key {
    let bits = |s: SocketAddr| match s.ip() {
        std::net::IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        std::net::IpAddr::V6(v6) => u128::from(v6),
    };
    let (x, y) = ((bits(a), a.port()), (bits(b), b.port()));
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
    done: Vec<Connection>,
    next_sweep: Option<i128>,
    /// The packets of the frame being fed, kept to reuse its allocation.
    scratch: Vec<Decoded>,
    /// Frames that carried a TCP segment.
    pub tcp_frames: u64,
}

impl Tracker {
    pub fn new(opts: Options) -> Tracker {
        Tracker {
            decoder: Decoder::new(&opts),
            opts,
            live: HashMap::with_hasher({
                use std::hash::{BuildHasher, RandomState};
                Seeded(RandomState::new().hash_one(0x7463_706du64))
            }),
            done: Vec::new(),
            next_sweep: None,
            scratch: Vec::new(),
            tcp_frames: 0,
        }
    }

    /// Feeds one captured frame (`frame` is its 1-based number in its file) whose length on
    /// the wire is not known.
    pub fn frame(&mut self, frame: u64, ts_ns: i128, linktype: u16, bytes: &[u8]) {
        self.frame_of_len(frame, ts_ns, linktype, u64::MAX, bytes);
    }

    /// Feeds one captured frame of `wire_len` bytes on the wire.
    pub fn frame_of_len(
        &mut self,
        frame: u64,
        ts_ns: i128,
        linktype: u16,
        wire_len: u64,
        bytes: &[u8],
    ) {
        let mut decoded = std::mem::take(&mut self.scratch);
        let _ = self
            .decoder
            .decode_each(frame, ts_ns, linktype, wire_len, bytes, &mut |d| {
                decoded.push(d)
            });
        for d in decoded.drain(..) {
            self.feed(&d);
        }
        self.scratch = decoded;
    }

    /// Feeds a frame decoded by a [`Decoder`], which can run on another thread.
    pub fn feed(&mut self, d: &Decoded) {
        match d {
            Decoded::Tcp(p) => {
                self.tcp_frames += 1;
                self.packet(p);
            }
            Decoded::Icmp { at, quoted } => self.icmp(*at, *quoted),
            Decoded::Other => {}
        }
    }

    fn icmp(&mut self, at: Mark, q: icmp::QuotedTcp) {
        if let Some(c) = self.live.get_mut(&key(q.src, q.dst)) {
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
            let over = c.zeek.is_reuse(p)
                || c.zeek.expired(p.ts_ns)
                || p.ts_ns - i128::from(c.ev.last.ts_ns) > INACTIVITY_NS;
            if !over {
                c.zeek.process(p);
                if p.checksum_ok != Some(false) {
                    c.ev.observe(p);
                }
                return;
            }
            if let Some(old) = self.live.remove(&k) {
                self.done.push(old.finish());
            }
        }
        let ports = &self.opts.likely_server_ports;
        let likely = |port: u16| ports.contains(&port);
        let conn = self.live.entry(k).or_insert_with(|| {
            Box::new(Conn {
                zeek: TcpConn::new(p, &likely),
                ev: Evidence::new(p),
            })
        });
        conn.zeek.process(p);
        if p.checksum_ok != Some(false) {
            conn.ev.observe(p);
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
        let mut gone: Vec<_> = self
            .live
            .iter_mut()
            .filter_map(|(k, c)| {
                (c.zeek.expired(now) || now - i128::from(c.ev.last.ts_ns) > INACTIVITY_NS)
                    .then_some(*k)
            })
            .collect();
        gone.sort_by_key(|k| (self.live[k].ev.first.ts_ns, self.live[k].ev.first.frame));
        for k in gone {
            if let Some(c) = self.live.remove(&k) {
                self.done.push(c.finish());
            }
        }
    }

    /// Live connections right now.
    pub fn live(&self) -> usize {
        self.live.len()
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
        done.into_iter().chain(
            order
                .into_iter()
                .filter_map(move |(_, _, k)| self.live.remove(&k).map(|c| c.finish())),
        )
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
                // A valid header checksum, or Zeek's IP layer drops the fragment.
                tcpmortem_wire::checksum::ipv4_header_fill(&mut h);
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
        run_with(Options::default(), packets)
    }

    fn handshake() -> Vec<(i64, Vec<u8>)> {
        vec![
            (0, seg(true, "S", 100, 0, &[])),
            (1, seg(false, "S.", 500, 101, &[])),
            (2, seg(true, ".", 101, 501, &[])),
        ]
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
            ignore_checksums: true,
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

    fn run_with(opts: Options, packets: &[(i64, Vec<u8>)]) -> Vec<Connection> {
        let mut t = Tracker::new(opts);
        for (i, (ms, p)) in packets.iter().enumerate() {
            t.frame(i as u64 + 1, i128::from(*ms) * 1_000_000, linktype::RAW, p);
        }
        t.finish()
    }

    #[test]
    fn a_bad_ip_header_checksum_drops_the_packet_before_tcp() {
        let mut p = handshake();
        let mut data = seg(true, "P.", 101, 501, b"hello");
        data[10] ^= 0x55;
        p.push((3, data));
        let c = endings(&p);
        // Zeek's IP layer drops it (bad_IP_checksum): no `C`, no packet, no data.
        assert_eq!(c[0].zeek.history, "ShA");
        assert_eq!(c[0].zeek.orig_pkts, 2);
        let lax = run_with(
            Options {
                ignore_checksums: true,
                ..Options::default()
            },
            &p,
        );
        assert_eq!(lax[0].zeek.history, "ShAD");
    }

    #[test]
    fn a_connection_begun_by_a_syn_ack_flips_at_the_next_ack_or_data() {
        let none = || Options {
            likely_server_ports: Vec::new(),
            ..Options::default()
        };
        // Both sides seen: the ACK's sender becomes the originator.
        let p = vec![
            (0, seg(false, "S.", 500, 101, &[])),
            (1, seg(true, ".", 101, 501, &[])),
            (2, seg(true, "P.", 101, 501, b"hi")),
        ];
        let c = run_with(none(), &p);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].zeek.history, "^hAD");
        assert_eq!(c[0].zeek.orig.port(), 40000);
        assert_eq!((c[0].zeek.orig_pkts, c[0].zeek.resp_pkts), (2, 1));
        // One-sided: only the server was captured. The counts follow the flip (the
        // conn-size-flip baselines): every packet is the responder's.
        let p = vec![
            (0, seg(false, "S.", 500, 101, &[])),
            (1, seg(false, ".", 501, 101, &[])),
            (2, seg(false, "F.", 501, 101, &[])),
        ];
        let c = run_with(none(), &p);
        assert_eq!(c[0].zeek.history, "^haf");
        assert_eq!(c[0].zeek.orig.port(), 40000);
        assert_eq!((c[0].zeek.orig_pkts, c[0].zeek.resp_pkts), (0, 3));
        assert_eq!(c[0].zeek.resp_ip_bytes, 120);
        // A SYN-ACK answered by a RST is a scan's: no flip.
        let p = vec![
            (0, seg(false, "S.", 500, 101, &[])),
            (1, seg(true, "R", 101, 0, &[])),
        ];
        assert_eq!(run_with(none(), &p)[0].zeek.history, "Hr");
    }

    #[test]
    fn a_completed_close_ends_the_connection_after_the_close_delay() {
        // A FIN from a peer never seen before completes the close (ConnectionClosed): five
        // seconds after the last packet, the 4-tuple starts a new connection, whatever
        // comes in between.
        let p = vec![
            (0, seg(false, "F.", 501, 101, &[])),
            (1, seg(true, ".", 101, 502, &[])),
            (6_000, seg(true, "R.", 101, 502, &[])),
            (12_000, seg(false, "R.", 502, 101, &[])),
        ];
        let c = endings(&p);
        let h: Vec<&str> = c.iter().map(|c| c.zeek.history.as_str()).collect();
        assert_eq!(h, ["^fA", "R", "^r"]);
        // Within the delay it is one connection.
        let p = vec![
            (0, seg(false, "F.", 501, 101, &[])),
            (1, seg(true, ".", 101, 502, &[])),
            (4_000, seg(true, "R.", 101, 502, &[])),
        ];
        assert_eq!(endings(&p).len(), 1);
    }
}
