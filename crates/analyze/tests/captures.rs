//! The captures people actually have, as classes: checksums left to the NIC (captures on the
//! sending host, loopback), frames cut by a snap length. Each property takes every corpus
//! trace (and the CLI's lab fixtures), changes it the way such a capture differs, and checks
//! that the answers do not change where they must not.

mod common;

use common::traces;
use proptest::prelude::*;
use std::path::Path;
use tcpmortem_analyze::{Checksums, Connection, Options, Tracker};
use tcpmortem_wire::capture::Reader;
use tcpmortem_wire::link;

/// One frame of a capture, owned.
#[derive(Clone)]
struct Frame {
    ts_ns: i128,
    linktype: u16,
    data: Vec<u8>,
}

/// The frames of a capture's first interface (the lab's fixtures hold both router links).
fn frames(path: &Path) -> Vec<Frame> {
    let mut r = Reader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut v = Vec::new();
    while let Ok(Some(p)) = r.next_packet() {
        if p.interface != 0 {
            continue;
        }
        v.push(Frame {
            ts_ns: p.ts_ns,
            linktype: p.linktype,
            data: p.data.to_vec(),
        });
    }
    v
}

fn analyze(frames: &[Frame], checksums: Checksums) -> Vec<Connection> {
    let mut t = Tracker::new(Options {
        checksums,
        ..Options::default()
    });
    for (i, f) in frames.iter().enumerate() {
        t.frame(i as u64 + 1, f.ts_ns, f.linktype, &f.data);
    }
    t.finish()
}

/// What must not change: Zeek's record and the ending, told as data.
fn told(c: &[Connection]) -> Vec<String> {
    c.iter()
        .map(|c| format!("{:?} {:?} {:?}", c.zeek, c.ending.kind, c.ending.frames))
        .collect()
}

/// Where a frame's TCP header starts, and its IP source address bytes, for plain IPv4 and
/// IPv6 with TCP right after the fixed header.
fn tcp_at(f: &Frame) -> Option<(usize, Vec<u8>)> {
    let ip = link::ip_packet(f.linktype, &f.data).ok()?;
    let off = ip.as_ptr() as usize - f.data.as_ptr() as usize;
    match ip[0] >> 4 {
        4 if ip.len() >= 20 && ip[9] == 6 && u16::from_be_bytes([ip[6], ip[7]]) & 0x3FFF == 0 => {
            Some((off + usize::from(ip[0] & 0xF) * 4, ip[12..16].to_vec()))
        }
        6 if ip.len() >= 40 && ip[6] == 6 => Some((off + 40, ip[8..24].to_vec())),
        _ => None,
    }
}

/// How an offloading sender leaves its checksums.
#[derive(Debug, Clone, Copy)]
enum Left {
    Zero,
    /// The pseudo-header sum (Linux's CHECKSUM_PARTIAL), taken from a packet of the capture.
    Partial,
    Garbage(u16),
}

/// The capture with every TCP checksum of the chosen senders spoiled the way `left` says.
fn offload(frames: &[Frame], senders: &[Vec<u8>], left: Left) -> Vec<Frame> {
    let mut out = frames.to_vec();
    for (k, f) in out.iter_mut().enumerate() {
        let Some((at, src)) = tcp_at(f) else { continue };
        if !senders.contains(&src) || f.data.len() < at + 18 {
            continue;
        }
        let old = u16::from_be_bytes([f.data[at + 16], f.data[at + 17]]);
        let new = match left {
            Left::Zero => 0,
            Left::Partial => partial_sum(f).unwrap_or(0),
            Left::Garbage(g) => g.wrapping_add((k as u16).wrapping_mul(7919)),
        };
        let new = if new == old { new ^ 1 } else { new };
        f.data[at + 16..at + 18].copy_from_slice(&new.to_be_bytes());
    }
    out
}

/// The pseudo-header's one's-complement sum, not inverted: what Linux leaves in the field for
/// the NIC (`tcp_v4_send_check()`).
fn partial_sum(f: &Frame) -> Option<u16> {
    let ip = link::ip_packet(f.linktype, &f.data).ok()?;
    let (addrs, len) = match ip[0] >> 4 {
        4 => (
            &ip[12..20],
            usize::from(u16::from_be_bytes([ip[2], ip[3]]))
                .checked_sub(usize::from(ip[0] & 0xF) * 4)?,
        ),
        _ => (&ip[8..40], usize::from(u16::from_be_bytes([ip[4], ip[5]]))),
    };
    let mut sum: u32 = 6 + len as u32;
    for w in addrs.chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    Some(sum as u16)
}

/// The source addresses of a capture's TCP frames, in order of first appearance.
fn senders(frames: &[Frame]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = Vec::new();
    for f in frames {
        if let Some((_, src)) = tcp_at(f)
            && !v.contains(&src)
        {
            v.push(src);
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// One sender, several or all of them, leave every checksum to their NIC (zeroed, the
    /// pseudo-header sum, or garbage): by default the capture reads exactly as it does with
    /// checksums ignored, Zeek's fields and endings alike.
    #[test]
    fn offloaded_senders_read_as_if_their_checksums_were_right(
        pick in any::<prop::sample::Index>(),
        which in prop::collection::vec(any::<bool>(), 1..8),
        left in prop_oneof![Just(Left::Zero), Just(Left::Partial), any::<u16>().prop_map(Left::Garbage)],
    ) {
        let all = traces();
        let path = pick.get(&all);
        let base = frames(path);
        let everyone = senders(&base);
        prop_assume!(!everyone.is_empty());
        let chosen: Vec<Vec<u8>> = everyone
            .iter()
            .zip(which.iter().cycle())
            .filter(|(_, on)| **on)
            .map(|(s, _)| s.clone())
            .collect();
        let spoiled = offload(&base, &chosen, left);
        let reference = told(&analyze(&spoiled, Checksums::Ignore));
        // Only the senders left alone keep their own checksums: they must be as good as in
        // the original capture for the comparison to hold.
        let untouched: Vec<Vec<u8>> = everyone.iter().filter(|s| !chosen.contains(s)).cloned().collect();
        let original_bad = analyze(&base, Checksums::Verify)
            .iter()
            .any(|c| c.zeek.history.contains(['C', 'c']));
        prop_assume!(!original_bad || untouched.is_empty());
        prop_assert_eq!(told(&analyze(&spoiled, Checksums::Auto)), reference, "{} {:?}", path.display(), left);
    }
}

/// A sender whose checksums are right but for one corrupt packet keeps Zeek's view of that
/// packet by default: it is a `C` in the history, not an offload.
#[test]
fn one_corrupt_packet_among_good_ones_is_still_bad_by_default() {
    let mut checked = 0;
    for path in traces() {
        let base = frames(&path);
        if analyze(&base, Checksums::Verify)
            .iter()
            .any(|c| c.zeek.history.contains(['C', 'c']))
        {
            continue;
        }
        // The 20th TCP frame of the capture's busiest sender, once it has sent enough good
        // ones for one bad one to stand out.
        let mut spoiled = base.clone();
        let Some(sender) = senders(&base).into_iter().next() else {
            continue;
        };
        let Some(k) = base
            .iter()
            .enumerate()
            .filter(|(_, f)| tcp_at(f).is_some_and(|(_, s)| s == sender))
            .map(|(k, _)| k)
            .nth(19)
        else {
            continue;
        };
        let (at, _) = tcp_at(&base[k]).unwrap();
        if base[k].data.len() < at + 18 {
            continue;
        }
        spoiled[k].data[at + 16] ^= 0x5a;
        spoiled[k].data[at + 17] ^= 0x3c;
        assert_eq!(
            told(&analyze(&spoiled, Checksums::Auto)),
            told(&analyze(&spoiled, Checksums::Verify)),
            "{}",
            path.display()
        );
        assert!(
            analyze(&spoiled, Checksums::Auto)
                .iter()
                .any(|c| c.zeek.history.contains(['C', 'c'])),
            "{}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked > 10, "{checked} traces checked");
}

/// Every frame cut by a snap length anywhere after the fixed 20 bytes of its TCP header
/// (options and payload lost, as `tcpdump -s 54/66/68` or `editcap -s` leave them): the
/// endings do not change.
#[test]
fn a_snap_length_that_keeps_the_fixed_tcp_header_keeps_every_ending() {
    let mut cut_frames = 0;
    for path in traces() {
        let base = frames(&path);
        let whole = analyze(&base, Checksums::Ignore);
        for extra in [0usize, 12, 20, 40] {
            let cut: Vec<Frame> = base
                .iter()
                .map(|f| {
                    let mut f = f.clone();
                    if let Some((at, _)) = tcp_at(&f) {
                        let keep = (at + 20 + extra).min(f.data.len());
                        cut_frames += usize::from(keep < f.data.len());
                        f.data.truncate(keep);
                    }
                    f
                })
                .collect();
            let snapped = analyze(&cut, Checksums::Ignore);
            let endings = |c: &[Connection]| -> Vec<String> {
                c.iter()
                    .map(|c| {
                        format!(
                            "{} {} {:?} {:?} {:?}",
                            c.zeek.orig, c.zeek.resp, c.ending.kind, c.ending.by, c.ending.frames
                        )
                    })
                    .collect()
            };
            assert_eq!(
                endings(&snapped),
                endings(&whole),
                "{} cut {extra} bytes after the fixed TCP header",
                path.display()
            );
        }
    }
    assert!(cut_frames > 1000);
}

/// Frames through the decoder, the views and the tracker, as `analyze` reads a capture with
/// several interfaces: (interface, frame).
fn through_views(frames: &[(u32, Frame)]) -> Vec<Connection> {
    let opts = Options {
        checksums: Checksums::Ignore,
        ..Options::default()
    };
    let mut d = tcpmortem_analyze::Decoder::new(&opts);
    let mut v = tcpmortem_analyze::views::Views::new();
    let mut t = Tracker::new(opts);
    let mut out = Vec::new();
    for (i, (iface, f)) in frames.iter().enumerate() {
        v.push(
            *iface,
            d.decode(i as u64 + 1, f.ts_ns, f.linktype, &f.data),
            &mut out,
        );
        for x in out.drain(..) {
            t.feed(&x);
        }
    }
    v.flush();
    t.finish()
}

/// A TCP frame's 4-tuple, either way, and its sender.
fn tuple(f: &Frame) -> Option<(Vec<u8>, Vec<u8>)> {
    let ip = link::ip_packet(f.linktype, &f.data).ok()?;
    let (at, src) = tcp_at(f)?;
    let dst = match ip[0] >> 4 {
        4 => ip[16..20].to_vec(),
        _ => ip[24..40].to_vec(),
    };
    let mut a = src.clone();
    a.extend_from_slice(&f.data[at..at + 2]);
    let mut b = dst;
    b.extend_from_slice(&f.data[at + 2..at + 4]);
    Some(if a <= b { (a, b) } else { (b, a) })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A second link that saw the same packets (a router's other side: one hop less TTL, the
    /// first link's hosts' packets a little later and the other hosts' a little earlier, some
    /// of them missing): the capture reads as the first link alone, Zeek's fields and
    /// endings alike, with the frames the first link numbered.
    #[test]
    fn a_second_view_of_the_same_packets_counts_nothing_twice(
        pick in any::<prop::sample::Index>(),
        latency in 0.0f64..1.0,
        missing in prop::collection::vec(any::<bool>(), 1..16),
    ) {
        let all = traces();
        let path = pick.get(&all);
        let base = frames(path);
        prop_assume!(base.iter().any(|f| tcp_at(f).is_some()));
        // Each connection's first sender is on the first link's side of the router.
        let mut near_of: std::collections::HashMap<(Vec<u8>, Vec<u8>), Vec<u8>> =
            std::collections::HashMap::new();
        let near = |near_of: &mut std::collections::HashMap<_, Vec<u8>>, f: &Frame| -> Option<bool> {
            let (_, src) = tcp_at(f)?;
            let t = tuple(f)?;
            Some(*near_of.entry(t).or_insert_with(|| src.clone()) == src)
        };
        // The first link alone, as analyze reads a single-interface capture.
        let alone = analyze(&base, Checksums::Ignore);
        // The router's latency: a reply cannot reach the first link before the request has
        // crossed the router and come back, so it is under half of any such gap.
        let mut max_ns = 3_000_000i128;
        let mut last_near: Option<i128> = None;
        for f in &base {
            match near(&mut near_of, f) {
                Some(true) => last_near = Some(f.ts_ns),
                Some(false) => {
                    if let Some(t) = last_near.take() {
                        max_ns = max_ns.min((f.ts_ns - t) / 2);
                    }
                }
                None => {}
            }
        }
        let d = (max_ns.max(0) as f64 * latency) as i128;
        let mut merged: Vec<(i128, u32, usize, Frame)> = Vec::new();
        for (k, f) in base.iter().enumerate() {
            merged.push((f.ts_ns, 0, k, f.clone()));
            let Some((at, _)) = tcp_at(f) else { continue };
            let is_near = near(&mut near_of, f) == Some(true);
            if k > 0 && missing[k % missing.len()] && k % 3 == 0 {
                continue;
            }
            let mut copy = f.clone();
            // One hop on: TTL (IPv4) or hop limit (IPv6) one less.
            let ip = at - if copy.data[at - 20] >> 4 == 4 { 20 } else { 40 };
            if copy.data[ip] >> 4 == 4 {
                copy.data[ip + 8] = copy.data[ip + 8].wrapping_sub(1);
            } else {
                copy.data[ip + 7] = copy.data[ip + 7].wrapping_sub(1);
            }
            copy.ts_ns += if is_near { d } else { -d };
            merged.push((copy.ts_ns, 1, k, copy));
        }
        merged.sort_by_key(|m| (m.0, m.1));
        let numbered: Vec<(u32, Frame)> = merged.iter().map(|m| (m.1, m.3.clone())).collect();
        let both = through_views(&numbered);
        // Frame numbers of the merged capture back to the first link's.
        let orig = |n: u64| merged[n as usize - 1].2 as u64 + 1;
        let told = |c: &[Connection], map: &dyn Fn(u64) -> u64| -> Vec<String> {
            c.iter()
                .map(|c| {
                    let frames: Vec<u64> = c.ending.frames.iter().map(|f| map(*f)).collect();
                    format!("{:?} {:?} {:?} {:?} {}", c.zeek.history, c.zeek.conn_state, c.ending.kind, frames, c.zeek.orig_pkts + c.zeek.resp_pkts)
                })
                .collect()
        };
        prop_assert_eq!(told(&both, &orig), told(&alone, &|f| f), "{}", path.display());
    }
}
