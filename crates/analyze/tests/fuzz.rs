//! Property tests that feed the capture reader, the decoder and the tracker malformed,
//! truncated and adversarial input: they must never panic or hang, and memory must stay
//! bounded by what the input can open (live connections, fragments in progress).

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use tcpmortem_analyze::{Decoder, Options, Tracker};
use tcpmortem_wire::capture::Reader;
use tcpmortem_wire::defrag::{Defragmenter, MAX_DATAGRAMS};
use tcpmortem_wire::link::linktype;

fn corpus_traces() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack =
        vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/zeek/Traces")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Reads a capture from bytes through the whole pipeline; returns (frames, connections).
fn analyze(bytes: &[u8]) -> (u64, usize) {
    let Ok(mut r) = Reader::new(bytes) else {
        return (0, 0);
    };
    let mut t = Tracker::new(Options::default());
    let mut frames = 0u64;
    let mut max_live = 0;
    while let Ok(Some(p)) = r.next_packet() {
        frames += 1;
        t.frame(p.frame, p.ts_ns, p.linktype, p.data);
        max_live = max_live.max(t.live());
        assert!(
            frames <= bytes.len() as u64,
            "a frame per input byte at most"
        );
    }
    // Every live connection was opened by some frame.
    assert!(max_live as u64 <= frames);
    let conns = t.finish();
    assert!(conns.len() as u64 <= frames);
    (frames, conns.len())
}

/// A raw IPv4/TCP packet from a few fuzzed fields; ports from a small set so segments
/// land on the same connections.
fn segment(f: (u8, u8, u32, u32, u16, u8, u8)) -> Vec<u8> {
    let (who, flags, seq, ack, win, len, ttl) = f;
    let (src, dst, sp, dp) = match who % 3 {
        0 => ([198, 18, 0, 1], [198, 18, 0, 6], 40000, 80),
        1 => ([198, 18, 0, 6], [198, 18, 0, 1], 80, 40000),
        _ => (
            [198, 18, 0, 2],
            [198, 18, 0, 6],
            40001 + u16::from(who % 4),
            80,
        ),
    };
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, ttl, 6, 0, 0];
    p.extend(src);
    p.extend(dst);
    p.extend(u16::to_be_bytes(sp));
    p.extend(u16::to_be_bytes(dp));
    p.extend(seq.to_be_bytes());
    p.extend(ack.to_be_bytes());
    p.extend([0x50, flags & 0x3F]);
    p.extend(win.to_be_bytes());
    p.extend([0, 0, 0, 0]);
    p.extend(std::iter::repeat_n(0xAB, usize::from(len)));
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A real capture with random bytes overwritten, then cut at a random point.
    #[test]
    fn mutated_corpus_captures_never_panic(
        pick in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..64),
        cut in any::<prop::sample::Index>(),
    ) {
        let traces = corpus_traces();
        let mut bytes = std::fs::read(pick.get(&traces)).unwrap();
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        let n = cut.index(bytes.len() + 1);
        analyze(&bytes[..n]);
    }

    /// Arbitrary bytes behind a valid pcap header: every record header and body is hostile.
    #[test]
    fn arbitrary_records_never_panic(body in prop::collection::vec(any::<u8>(), 0..4096), lt in prop::sample::select(vec![0u16, 1, 9, 10, 50, 101, 105, 108, 113, 127, 228, 229, 239, 276, 147])) {
        let mut bytes = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend(65535u32.to_le_bytes());
        bytes.extend(u32::from(lt).to_le_bytes());
        bytes.extend(body);
        analyze(&bytes);
    }

    /// Random segments of a few 4-tuples with random flags, sequence numbers, windows and
    /// times that may go backwards: the table holds at most one entry per 4-tuple.
    #[test]
    fn random_segments_keep_the_table_bounded(
        segs in prop::collection::vec(
            ((any::<u8>(), any::<u8>(), any::<u32>(), any::<u32>(), any::<u16>(), 0u8..40, any::<u8>()), -2_000_000_000i64..10_000_000_000),
            1..400,
        ),
    ) {
        let mut t = Tracker::new(Options { checksums: tcpmortem_analyze::Checksums::Ignore, ..Options::default() });
        let mut now = 1_700_000_000_000_000_000i128;
        for (i, (f, dt)) in segs.iter().enumerate() {
            now += i128::from(*dt);
            t.frame(i as u64 + 1, now, linktype::RAW, &segment(*f));
            prop_assert!(t.live() <= 5, "{} live connections from 5 4-tuples", t.live());
        }
        let conns = t.finish();
        prop_assert!(conns.len() <= segs.len());
        for c in &conns {
            prop_assert!(!c.ending.frames.is_empty() || c.zeek.orig_pkts + c.zeek.resp_pkts == 0);
        }
    }

}

proptest! {
    // Each case feeds up to 1,000 fragments; fewer cases keep the debug build quick.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random fragments: the reassembler never holds more than its limit.
    #[test]
    fn random_fragments_stay_within_the_reassemblers_limit(
        frags in prop::collection::vec((any::<u16>(), any::<u16>(), any::<bool>(), 0usize..1500, any::<u8>()), 1..1000),
    ) {
        let mut d = Defragmenter::new();
        let mut dec = Decoder::new(&Options::default());
        for (i, (id, off8, more, len, proto)) in frags.into_iter().enumerate() {
            let mut p = vec![0x45, 0, 0, 0];
            p.extend(id.to_be_bytes());
            p.extend((((more as u16) << 13) | (off8 & 0x1FFF)).to_be_bytes());
            p.extend([64, proto % 8, 0, 0, 198, 18, 0, 1, 198, 18, 0, 6]);
            p.extend(std::iter::repeat_n(7u8, len));
            let total = p.len() as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            let _ = d.add(i as i128, &p);
            let _ = dec.decode(i as u64, i as i128, linktype::RAW, &p);
            prop_assert!(d.pending() <= MAX_DATAGRAMS);
        }
    }
}

#[test]
fn every_prefix_of_every_corpus_trace_is_read_without_a_panic() {
    for t in corpus_traces() {
        let bytes = std::fs::read(&t).unwrap();
        let (whole, _) = analyze(&bytes);
        // Cutting a capture can only lose frames. Every 97th byte (a prime, so cuts fall at
        // every phase of the blocks), or, for a long trace, a thousand cuts spread over it:
        // each cut reads the whole prefix, and every 97th byte of the 1.4 MB trace alone
        // took a minute.
        let step = (bytes.len() / 1000).max(97) | 1;
        for n in (0..bytes.len()).step_by(step) {
            let (frames, _) = analyze(&bytes[..n]);
            assert!(frames <= whole, "{}", t.display());
        }
    }
}

/// Every frame of every corpus trace is accounted for: a TCP segment, an ICMP error about
/// one, a fragment held for its datagram, or skipped with a reason. Nothing disappears
/// without a count, so a capture whose TCP sits where the decoder does not look is said so.
/// And the reasons are true: every link layer and tunnel of the corpus is decoded, so the
/// only frames that may hide TCP are those dropped for their checksums (as Zeek drops them),
/// listed here trace by trace for each checksum mode; with checksums ignored, none.
#[test]
fn every_corpus_frame_is_decoded_or_skipped_with_a_true_reason() {
    use tcpmortem_analyze::{Checksums, Decoded};
    let root = corpus_traces()[0]
        .ancestors()
        .find(|a| a.ends_with("Traces"))
        .unwrap()
        .to_path_buf();
    for (checksums, want) in [
        (Checksums::Ignore, vec![]),
        (
            Checksums::Auto,
            vec!["mpls-in-vlan.pcap: 3 bad IPv4 header checksum (dropped, as Zeek does)"],
        ),
        (
            Checksums::Verify,
            vec![
                "ldap/missing_ldap_logs.pcapng: 19 bad IPv4 header checksum (dropped, as Zeek does), 3 IPv4 length zero (segmentation offload; dropped, as Zeek does without -C)",
                "mpls-in-vlan.pcap: 3 bad IPv4 header checksum (dropped, as Zeek does)",
                // Its IPv4 header checksums are all zero: left to the NIC, read by `auto`.
                "tcp/retransmit-fast009.pcap: 39 bad IPv4 header checksum (dropped, as Zeek does)",
            ],
        ),
    ] {
        let mut hiding = Vec::new();
        for t in corpus_traces() {
            let Ok(mut r) = Reader::new(std::fs::File::open(&t).unwrap()) else {
                continue;
            };
            let mut d = Decoder::new(&Options {
                checksums,
                ..Options::default()
            });
            let (mut frames, mut used) = (0u64, 0u64);
            while let Ok(Some(p)) = r.next_packet() {
                frames += 1;
                match d.decode(p.frame, p.ts_ns, p.linktype, p.data) {
                    Decoded::Tcp(_) | Decoded::Icmp { .. } | Decoded::Fragment => used += 1,
                    Decoded::Skipped(_) => {}
                }
            }
            assert_eq!(
                used + d.skipped().total(),
                frames,
                "{}: {}",
                t.display(),
                d.skipped()
            );
            let mut may_hide = d.skipped().clone();
            may_hide.0.retain(|k, _| k.may_hide_tcp());
            if may_hide.total() > 0 {
                let name = t.strip_prefix(&root).unwrap().display().to_string();
                hiding.push(format!("{name}: {may_hide}"));
            }
        }
        hiding.sort();
        assert_eq!(hiding, want, "{checksums:?}");
    }
}

/// Everything a capture gives, as text, for comparing two ways of reading it.
fn everything(c: &[tcpmortem_analyze::Connection]) -> Vec<String> {
    c.iter().map(|c| format!("{c:?}")).collect()
}

fn both_ways(frames: &[(i128, u16, Vec<u8>)]) -> (Vec<String>, Vec<String>) {
    let run = |compact_syns: bool| {
        let mut t = Tracker::new(Options {
            checksums: tcpmortem_analyze::Checksums::Ignore,
            compact_syns,
            ..Options::default()
        });
        for (i, (ts, lt, data)) in frames.iter().enumerate() {
            t.frame(i as u64 + 1, *ts, *lt, data);
        }
        everything(&t.finish())
    };
    (run(true), run(false))
}

/// Keeping SYN-only connections compact changes nothing: every corpus trace gives the same
/// records, endings and counts either way.
#[test]
fn compact_syn_only_connections_change_nothing_on_the_corpus() {
    for t in corpus_traces() {
        let Ok(mut r) = Reader::new(std::fs::File::open(&t).unwrap()) else {
            continue;
        };
        let mut frames = Vec::new();
        while let Ok(Some(p)) = r.next_packet() {
            frames.push((p.ts_ns, p.linktype, p.data.to_vec()));
        }
        let (compact, full) = both_ways(&frames);
        assert_eq!(compact, full, "{}", t.display());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// SYN-heavy traffic on many 4-tuples (floods, retries, answers, resets, reuse, times
    /// running backwards, past the attempt timer): compact or not, the same connections.
    #[test]
    fn compact_syn_only_connections_change_nothing(
        segs in prop::collection::vec(
            ((0u8..12, prop::sample::select(vec![0x02u8, 0x02, 0x02, 0x12, 0x10, 0x04, 0x14, 0x11, 0x18]), 0u32..4, 0u32..4, 0u8..3), -1_000_000_000i64..3_000_000_000),
            1..300,
        ),
    ) {
        let mut now = 1_700_000_000_000_000_000i128;
        let mut frames = Vec::new();
        for ((who, flags, seq, ack, len), dt) in segs {
            now += i128::from(dt);
            let (src, dst, sp, dp) = if who % 2 == 0 {
                ([198, 18, 0, 1], [198, 18, 0, 6], 40000 + u16::from(who / 2), 80)
            } else {
                ([198, 18, 0, 6], [198, 18, 0, 1], 80, 40000 + u16::from(who / 2))
            };
            let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
            p.extend(src);
            p.extend(dst);
            p.extend(u16::to_be_bytes(sp));
            p.extend(u16::to_be_bytes(dp));
            p.extend((seq * 1000).to_be_bytes());
            p.extend((ack * 1000).to_be_bytes());
            p.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
            p.extend(std::iter::repeat_n(0xAB, usize::from(len)));
            let total = p.len() as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            frames.push((now, linktype::RAW, p));
        }
        let (compact, full) = both_ways(&frames);
        prop_assert_eq!(compact, full);
    }
}
