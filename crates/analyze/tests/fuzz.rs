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
        let mut t = Tracker::new(Options { ignore_checksums: true, ..Options::default() });
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
        // Cutting a capture can only lose frames.
        for n in (0..bytes.len()).step_by(97) {
            let (frames, _) = analyze(&bytes[..n]);
            assert!(frames <= whole, "{}", t.display());
        }
    }
}
