//! From a captured frame to the TCP and ICMP packets in it, through link layers, IP fragment
//! reassembly and tunnels, as Zeek's packet analysis does: `crate::link` for the layers below
//! IP, then the IP analyzer (`src/packet_analysis/protocol/ip/IP.cc`: header checks, the
//! IPv4 header checksum, fragments), the UDP analyzer (`udp/UDP.cc`: its checksum, the flow's
//! responder port that picks a tunnel analyzer, protocol detection) and the tunnels
//! (`crate::tunnel`): VXLAN, Geneve, GRE (plain, bridged Ethernet, ERSPAN I/II/III, PPTP,
//! Aruba, over UDP), GTPv1-U, Teredo, AYIYA and IP-in-IP (4in4, 6in4, 4in6, 6in6), at most
//! [`MAX_DEPTH`] deep (`Tunnel::max_depth`).
//!
//! A frame that gives nothing says why ([`Skip`]; [`Skip::Fragment`] for a fragment held).
//!
//! State: the fragments in progress and, for UDP flows that meet a tunnel analyzer, which
//! port is the responder's and which analyzers gave up on the flow; both bounded. A plain
//! TCP packet costs a few header checks and, unless checksums are ignored, the IPv4 header's.

use crate::checksum::{self, Check};
use crate::defrag::Defragmenter;
use crate::link;
use crate::skip::{Encap, Skip};
use crate::tunnel::{self, Inner, UdpTunnel, Verdict};
use std::collections::HashMap;

/// Zeek's `Tunnel::max_depth`: tunnels inside tunnels up to this many.
pub const MAX_DEPTH: u8 = 2;
/// Zeek's `udp_inactivity_timeout`: a UDP flow silent this long starts afresh.
pub const UDP_TIMEOUT_NS: i128 = 60_000_000_000;
/// UDP flows remembered at most (those that meet a tunnel analyzer); see `remember`.
pub const MAX_FLOWS: usize = 65_536;

/// Which checksums are verified below TCP (the IPv4 header's, a tunnel's UDP one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// As Zeek without `-C`: a wrong one drops the packet.
    Verify,
    /// As [`Checks::Verify`], except for what a sender that leaves its checksums to the NIC
    /// leaves ([`Check::Offloaded`]): a capture taken on the sending host is read as it was
    /// sent.
    Auto,
    /// Zeek's `-C`.
    Ignore,
}

impl Checks {
    /// Whether a checksum found `c` drops its packet.
    fn refuses(self, c: Check) -> bool {
        match self {
            Checks::Verify => c != Check::Good,
            Checks::Auto => c == Check::Bad,
            Checks::Ignore => false,
        }
    }
}

/// The tunnel a packet came out of, for GTP's "never GTP in GTP".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    None,
    Gtp,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    lo: ([u8; 16], u16),
    hi: ([u8; 16], u16),
}

#[derive(Debug, Clone, Copy)]
struct Flow {
    /// The responder's port, fixed by the flow's first packet (`UDPAnalyzer::WantConnection`).
    resp_port: u16,
    last_ns: i128,
    /// `UdpTunnel::bit`s of the analyzers that found a violation.
    violated: u8,
}

/// The stateful part of decoding frames. One per capture (or per set of files read as one).
pub struct Dissector {
    checks: Checks,
    /// IPv4 header and UDP checksums (and zero IPv4 lengths) taken as left to the NIC.
    offloaded: u64,
    defrag: Defragmenter,
    flows: HashMap<FlowKey, Flow>,
    next_sweep: i128,
}

/// An IP header, checked.
struct Ip {
    v6: bool,
    /// Header length, IPv6 extension headers included.
    hdr: usize,
    total: usize,
    next: u8,
    fragment: FragmentAt,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The IPv6 extension headers Zeek's `IP_Hdr` walks (hop-by-hop, routing, fragment,
/// destination options, AH; ESP and mobility end the chain).
/// A fragment's offset in bytes and whether more follow.
type FragmentAt = Option<(usize, bool)>;

fn ipv6_chain(p: &[u8]) -> Option<(usize, u8, FragmentAt)> {
    let mut next = p[6];
    let mut at = 40;
    let mut fragment = None;
    loop {
        match next {
            0 | 43 | 60 => {
                let h = p.get(at..at + 2)?;
                next = h[0];
                at += (usize::from(h[1]) + 1) * 8;
            }
            44 => {
                let h = p.get(at..at + 8)?;
                let fo = be16(h, 2);
                fragment = Some((usize::from(fo >> 3) * 8, fo & 1 != 0));
                next = h[0];
                at += 8;
            }
            51 => {
                let h = p.get(at..at + 2)?;
                next = h[0];
                at += (usize::from(h[1]) + 2) * 4;
            }
            _ => return Some((at, next, fragment)),
        }
    }
}

/// Where `inner` starts in `outer` (both slices of one buffer), so that the wire length
/// can follow it down (`IPTunnel::build_inner_packet`).
fn inner_wire(wire: u64, outer: &[u8], inner: &[u8]) -> u64 {
    wire.saturating_sub((outer.len() - inner.len()) as u64)
}

impl Dissector {
    /// `checks`: which of the IPv4 header and UDP checksums are held against their packets
    /// here (TCP's is the caller's).
    pub fn new(checks: Checks) -> Dissector {
        Dissector {
            checks,
            offloaded: 0,
            defrag: Defragmenter::new(),
            flows: HashMap::new(),
            next_sweep: i128::MIN,
        }
    }

    /// With [`Checks::Auto`]: the packets whose IPv4 header or UDP checksum (or zero IPv4
    /// length) was taken as left to the NIC and not held against them.
    pub fn offloaded(&self) -> u64 {
        self.offloaded
    }

    /// Fragmented datagrams given up (timed out or evicted) or still incomplete.
    pub fn fragments_dropped(&self) -> u64 {
        self.defrag.dropped + self.defrag.pending() as u64
    }

    /// Calls `out` with each IP packet carrying TCP or ICMP found in one frame: after the
    /// link layers, reassembly and decapsulation (several only for an 802.11 A-MSDU).
    /// `wire_len` is the frame's length on the wire (`u64::MAX` when unknown); an IP header
    /// that claims more is a truncated packet, as Zeek's `truncated_IP_len`. `Err` when
    /// nothing came out, and why.
    #[inline(always)]
    pub fn frame<F: FnMut(&[u8])>(
        &mut self,
        ts_ns: i128,
        linktype: u16,
        wire_len: u64,
        data: &[u8],
        out: &mut F,
    ) -> Result<(), Skip> {
        if linktype == link::linktype::ETHERNET
            && let Some(p) = self.plain_tcp4(data, wire_len)
        {
            out(p);
            return Ok(());
        }
        self.chain(ts_ns, linktype, data, wire_len, out)
    }

    /// Every frame the fast path does not take.
    #[inline(never)]
    fn chain(
        &mut self,
        ts_ns: i128,
        linktype: u16,
        data: &[u8],
        wire_len: u64,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Skip> {
        self.link(ts_ns, linktype, data, wire_len, 0, Last::None, out)
    }

    /// Most frames are Ethernet, IPv4 without options or fragments, TCP: the chain would
    /// take the same steps (a test checks it on every corpus frame), this takes them
    /// without its generality. `None` for anything else.
    #[inline(always)]
    fn plain_tcp4<'a>(&self, data: &'a [u8], wire_len: u64) -> Option<&'a [u8]> {
        let h: &[u8; 34] = data.get(..34)?.try_into().ok()?;
        // Ethertype IPv4, version 4 with a 20-byte header, protocol TCP, not a fragment.
        let word = u32::from_be_bytes([h[12], h[13], h[14], h[20]]);
        if word & 0xFFFF_FF3F != 0x0800_4500 || h[21] != 0 || h[23] != 6 {
            return None;
        }
        let total = u64::from(u16::from_be_bytes([h[16], h[17]]));
        let ip: &[u8; 20] = h[14..].try_into().ok()?;
        (total >= 20
            && wire_len.saturating_sub(14) >= total
            && (self.checks == Checks::Ignore || checksum::ipv4_header20_ok(ip)))
        .then(|| &data[14..])
    }

    /// The IP packets behind link-layer headers (a frame, or a tunnel's inner frame).
    #[allow(clippy::too_many_arguments)]
    fn link(
        &mut self,
        ts: i128,
        linktype: u16,
        frame: &[u8],
        wire: u64,
        depth: u8,
        last: Last,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Skip> {
        let mut res = Ok(());
        let mut any = false;
        let l = link::ip_packets(linktype, frame, &mut |ip| {
            let r = self.ip(ts, ip, inner_wire(wire, frame, ip), depth, last, out);
            any |= r.is_ok();
            if !any {
                res = r;
            }
        });
        match l {
            Err(why) => Err(why),
            Ok(()) if any => Ok(()),
            Ok(()) => res,
        }
    }

    fn ip(
        &mut self,
        ts: i128,
        p: &[u8],
        wire: u64,
        depth: u8,
        last: Last,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Skip> {
        if p.len() < 20 {
            return Err(Skip::TooShort);
        }
        let total_was_zero = p[0] >> 4 == 4 && be16(p, 2) == 0;
        let ip = match p[0] >> 4 {
            4 => {
                let hdr = usize::from(p[0] & 0x0F) * 4;
                let mut total = usize::from(be16(p, 2));
                if total == 0 {
                    // TCP segmentation offload leaves the length zero. Zeek then goes by the
                    // captured length with -C, and drops the packet otherwise, its checksum
                    // being wrong too (IP.cc, `ip_hdr_len_zero`); `auto` reads it as -C does
                    // when the header checksum was left to the NIC too. The header is left
                    // as it is: Zeek counts its zero in ip_bytes.
                    let offloaded = || {
                        let h = &p[..hdr.clamp(20, p.len())];
                        checksum::ipv4_header_check(h) != Check::Bad
                    };
                    match self.checks {
                        Checks::Ignore => {}
                        Checks::Auto if offloaded() => self.offloaded += 1,
                        _ => return Err(Skip::IpLengthZero),
                    }
                    total = p.len();
                }
                let frag = be16(p, 6);
                let (more, off) = (frag & 0x2000 != 0, usize::from(frag & 0x1FFF) * 8);
                Ip {
                    v6: false,
                    hdr,
                    total,
                    next: p[9],
                    fragment: (more || off != 0).then_some((off, more)),
                }
            }
            6 => {
                if p.len() < 40 {
                    return Err(Skip::TooShort);
                }
                let (hdr, next, fragment) = ipv6_chain(p).ok_or(Skip::TooShort)?;
                Ip {
                    v6: true,
                    hdr,
                    total: 40 + usize::from(be16(p, 4)),
                    next,
                    fragment,
                }
            }
            _ => return Err(Skip::Malformed),
        };
        // The wire length of the frame holds the whole packet (IP.cc, `truncated_IP_len`);
        // a snap length cuts only what was captured.
        if ip.hdr > ip.total || ip.hdr < 20 {
            return Err(Skip::Malformed);
        }
        if wire < ip.total as u64 || ip.hdr > p.len() {
            return Err(Skip::TooShort);
        }
        if !ip.v6 && self.checks != Checks::Ignore {
            match checksum::ipv4_header_check(&p[..ip.hdr]) {
                Check::Good => {}
                c if self.checks.refuses(c) => return Err(Skip::IpChecksum),
                // Counted once per packet, with the zero length above.
                _ if total_was_zero => {}
                _ => self.offloaded += 1,
            }
        }
        if let Some((off, _)) = ip.fragment {
            if p.len() < ip.total {
                // Not captured whole: only the first fragment goes on, for header-only
                // traces (IP.cc, `incompletely_captured_fragment`).
                if off != 0 {
                    return Err(Skip::Fragment);
                }
            } else {
                let Some(whole) = self.defrag.add(ts, &p[..ip.total]) else {
                    return Err(Skip::Fragment);
                };
                let n = whole.len() as u64;
                return self.ip(ts, &whole, n, depth, last, out);
            }
        }
        let payload = &p[ip.hdr..];
        match ip.next {
            6 | 1 | 58 => {
                out(p);
                Ok(())
            }
            17 => self.udp(ts, p, &ip, wire, depth, last, out),
            // IPTunnel.cc: IP in IP must fill the rest of the packet exactly.
            4 | 41 => {
                if depth >= MAX_DEPTH {
                    return Err(Skip::TunnelDepth(Encap::IpInIp));
                }
                if tunnel::exact_ip(payload, ip.next) != tunnel::Exact::Ok {
                    return Err(Skip::Encapsulation(Encap::IpInIp));
                }
                let n = payload.len() as u64;
                self.ip(ts, payload, n, depth + 1, Last::Other, out)
            }
            47 => {
                if depth >= MAX_DEPTH {
                    return Err(Skip::TunnelDepth(Encap::Gre));
                }
                let inner = tunnel::gre(payload).ok_or(Skip::Encapsulation(Encap::Gre))?;
                // GRE's inner packet starts afresh at its own length (IPTunnel.cc).
                let n = match inner {
                    Inner::Ip(b) | Inner::Ethernet(b) | Inner::Wlan(b) => b.len() as u64,
                };
                self.inner(ts, inner, n, depth + 1, Last::Other, out)
            }
            _ => Err(Skip::NotTcp),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn udp(
        &mut self,
        ts: i128,
        p: &[u8],
        ip: &Ip,
        wire: u64,
        depth: u8,
        last: Last,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Skip> {
        let payload = &p[ip.hdr..];
        let claimed = ip.total - ip.hdr;
        if claimed != 0 && claimed < 8 {
            return Err(Skip::Malformed);
        }
        if payload.len() < 8 {
            return Err(Skip::TooShort);
        }
        let len = if claimed == 0 { payload.len() } else { claimed };
        let (sport, dport, sum) = (be16(payload, 0), be16(payload, 2), be16(payload, 6));
        // UDP.cc: checked when the whole datagram was captured; a VXLAN datagram on its port
        // may carry no checksum even over IPv6.
        let mut validate =
            self.checks != Checks::Ignore && payload.len() >= len && wire <= p.len() as u64;
        if validate
            && len > 8 + 8 + 14
            && payload[8] & 0x08 != 0
            && UdpTunnel::by_port(dport) == Some(UdpTunnel::Vxlan)
            && sum == 0
        {
            validate = false;
        }
        let validate = validate && (ip.v6 || sum != 0);
        let body = &payload[8..len.min(payload.len())];
        let key = flow_key(p, ip.v6, sport, dport);
        self.sweep(ts);
        if self
            .flows
            .get(&key)
            .is_some_and(|f| ts - f.last_ns > UDP_TIMEOUT_NS)
        {
            self.flows.remove(&key);
        }
        let registered = UdpTunnel::by_port(sport).is_some() || UdpTunnel::by_port(dport).is_some();
        if registered && !self.flows.contains_key(&key) {
            // The first packet's source is the responder if its port is a likely server
            // port and the destination's is not.
            let flip =
                UdpTunnel::likely_server_port(sport) && !UdpTunnel::likely_server_port(dport);
            self.remember(
                key,
                Flow {
                    resp_port: if flip { sport } else { dport },
                    last_ns: ts,
                    violated: 0,
                },
            );
        }
        let resp_port = self.flows.get(&key).map_or(dport, |f| f.resp_port);
        // UDP.cc forwards by the responder's port, else Analyzer::FindInnerAnalyzer tries
        // the analyzers registered for detection (AYIYA's script loads before Teredo's).
        let analyzer = match UdpTunnel::by_port(resp_port) {
            Some(a) => a,
            None if tunnel::ayiya_detect(body) => UdpTunnel::Ayiya,
            None if tunnel::teredo_detect(body) => UdpTunnel::Teredo,
            None => return Err(Skip::NotTcp),
        };
        // The UDP analyzer drops a datagram with a bad checksum before any tunnel sees it
        // (UDP.cc); the reason names the tunnel it was bound for.
        if validate {
            match checksum::udp_check(p, &payload[..len]) {
                Check::Good => {}
                c if self.checks.refuses(c) => return Err(Skip::UdpChecksum(analyzer.encap())),
                _ => self.offloaded += 1,
            }
        }
        if let Some(f) = self.flows.get_mut(&key) {
            f.last_ns = ts;
        }
        if !registered && !self.flows.contains_key(&key) {
            self.remember(
                key,
                Flow {
                    resp_port,
                    last_ns: ts,
                    violated: 0,
                },
            );
        }
        let violated = self.flows.get(&key).map_or(0, |f| f.violated);
        // GTPv1.cc and GRE.cc do not look at earlier violations.
        if violated & analyzer.bit() != 0 && !matches!(analyzer, UdpTunnel::Gtpv1 | UdpTunnel::Gre)
        {
            return Err(Skip::Encapsulation(analyzer.encap()));
        }
        if depth >= MAX_DEPTH {
            return Err(Skip::TunnelDepth(analyzer.encap()));
        }
        let verdict = match analyzer {
            UdpTunnel::Vxlan => tunnel::vxlan(body),
            UdpTunnel::Geneve => tunnel::geneve(body),
            UdpTunnel::Teredo => tunnel::teredo(body),
            UdpTunnel::Ayiya => tunnel::ayiya(body),
            UdpTunnel::Gtpv1 => tunnel::gtpv1(body, last == Last::Gtp),
            UdpTunnel::Gre => tunnel::gre(body).map_or(Verdict::Skip, Verdict::Inner),
        };
        let inner = match verdict {
            Verdict::Inner(i) => i,
            Verdict::Empty => return Err(Skip::NoPacket(analyzer.encap())),
            Verdict::Skip => return Err(Skip::Encapsulation(analyzer.encap())),
            Verdict::Violation => {
                if let Some(f) = self.flows.get_mut(&key) {
                    f.violated |= analyzer.bit();
                }
                return Err(Skip::Encapsulation(analyzer.encap()));
            }
        };
        let next_last = if analyzer == UdpTunnel::Gtpv1 {
            Last::Gtp
        } else {
            Last::Other
        };
        let inner_bytes = match inner {
            Inner::Ip(b) | Inner::Ethernet(b) | Inner::Wlan(b) => b,
        };
        let w = inner_wire(wire, p, inner_bytes);
        self.inner(ts, inner, w, depth + 1, next_last, out)
    }

    fn inner(
        &mut self,
        ts: i128,
        inner: Inner<'_>,
        wire: u64,
        depth: u8,
        last: Last,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Skip> {
        let (lt, b) = match inner {
            Inner::Ip(b) => return self.ip(ts, b, wire, depth, last, out),
            Inner::Ethernet(b) => (link::linktype::ETHERNET, b),
            Inner::Wlan(b) => (link::linktype::IEEE802_11, b),
        };
        self.link(ts, lt, b, wire, depth, last, out)
    }

    /// Keeps a flow; when the table is full, the flows silent for more than a quarter of the
    /// timeout go first, and if a flood leaves none such, all of them (a flow forgotten is
    /// taken up again at its next packet, as after Zeek's timeout). Amortized O(1).
    fn remember(&mut self, key: FlowKey, flow: Flow) {
        if self.flows.len() >= MAX_FLOWS {
            let now = flow.last_ns;
            self.flows
                .retain(|_, f| now - f.last_ns <= UDP_TIMEOUT_NS / 4);
            if self.flows.len() >= MAX_FLOWS / 2 {
                self.flows.clear();
            }
        }
        self.flows.insert(key, flow);
    }

    /// Forgets flows silent longer than the UDP timeout, once a second of capture time.
    fn sweep(&mut self, now: i128) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + 1_000_000_000;
        if !self.flows.is_empty() {
            self.flows.retain(|_, f| now - f.last_ns <= UDP_TIMEOUT_NS);
        }
    }

    /// UDP flows remembered now.
    pub fn flows(&self) -> usize {
        self.flows.len()
    }
}

fn flow_key(p: &[u8], v6: bool, sport: u16, dport: u16) -> FlowKey {
    let mut a = [0u8; 16];
    let mut b = [0u8; 16];
    if v6 {
        a.copy_from_slice(&p[8..24]);
        b.copy_from_slice(&p[24..40]);
    } else {
        a[..4].copy_from_slice(&p[12..16]);
        b[..4].copy_from_slice(&p[16..20]);
    }
    let (x, y) = ((a, sport), (b, dport));
    if x <= y {
        FlowKey { lo: x, hi: y }
    } else {
        FlowKey { lo: y, hi: x }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_udp_tunnel_flows_stays_bounded() {
        let mut d = Dissector::new(Checks::Ignore);
        for i in 0..(3 * MAX_FLOWS as u32) {
            let mut p = vec![0x45, 0, 0, 36, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1];
            p.extend(i.to_be_bytes());
            p.extend([0x12, 0x34, 0x12, 0xB5, 0, 16, 0, 0]);
            p.extend([0u8; 8]);
            let _ = d.frame(
                i128::from(i),
                link::linktype::RAW,
                u64::MAX,
                &p,
                &mut |_| {},
            );
            assert!(d.flows() <= MAX_FLOWS);
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_chain_on_every_corpus_frame() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/zeek/Traces");
        let mut stack = vec![dir];
        let mut fast = 0;
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                for verify in [true, false] {
                    let Ok(mut r) =
                        crate::capture::Reader::new(std::fs::File::open(&path).unwrap())
                    else {
                        continue;
                    };
                    let mut d = Dissector::new(if verify {
                        Checks::Verify
                    } else {
                        Checks::Ignore
                    });
                    while let Ok(Some(p)) = r.next_packet() {
                        if p.linktype != link::linktype::ETHERNET {
                            continue;
                        }
                        let wire = u64::from(p.orig_len);
                        let Some(got) = d.plain_tcp4(p.data, wire) else {
                            continue;
                        };
                        fast += 1;
                        let mut chain = Vec::new();
                        let r = d.link(0, 1, p.data, wire, 0, Last::None, &mut |ip| {
                            chain.push(ip.to_vec())
                        });
                        assert_eq!(
                            (r, chain),
                            (Ok(()), vec![got.to_vec()]),
                            "{}",
                            path.display()
                        );
                    }
                }
            }
        }
        assert!(fast > 1000, "{fast} frames took the fast path");
    }
}
