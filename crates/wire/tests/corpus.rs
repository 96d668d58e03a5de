//! Every trace of the Zeek corpus (`tests/data/zeek/`, copied from Zeek's btests) reads to the end, with as many
//! frames and TCP segments (through link layers, fragments and tunnels) as tshark finds in it.

use std::path::{Path, PathBuf};
use tcpmortem_wire::TcpSegment;
use tcpmortem_wire::capture::Reader;
use tcpmortem_wire::dissect::{Checks, Dissector};

fn traces_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/zeek/Traces")
}

fn traces() -> Vec<PathBuf> {
    let root = traces_root();
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 14,
        "the corpus should be beside the repository: {}",
        root.display()
    );
    out
}

fn tshark_count(trace: &Path, filter: &str) -> usize {
    let out = std::process::Command::new("tshark")
        .args([
            // Zeek finds Teredo on any UDP port by protocol detection (Teredo.pcap has it on
            // 32900); tshark does so only with its Teredo heuristic, off by default.
            "-o",
            "teredo.heuristic_teredo:TRUE",
            "-r",
            trace.to_str().unwrap(),
            "-Y",
            filter,
            "-T",
            "fields",
            "-e",
            "frame.number",
        ])
        .output()
        .expect("tshark is installed by scripts/test");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Traces where our count differs from tshark's, each with the reason. Empty: every trace,
/// tunnels included, gives as many TCP segments as tshark finds.
const DIFFER_FROM_TSHARK: &[&str] = &[];

#[test]
fn every_corpus_trace_reads_like_tshark_reads_it() {
    let root = traces_root();
    let mut differ = Vec::new();
    let mut total = (0, 0);
    for t in traces() {
        let mut r = Reader::new(std::fs::File::open(&t).unwrap()).unwrap();
        let (mut frames, mut tcp) = (0, 0);
        // tshark does not drop packets with bad checksums: neither does this count.
        let mut d = Dissector::new(Checks::Ignore);
        while let Some(p) = r.next_packet().unwrap() {
            frames += 1;
            let mut seen = false;
            let _ = d.frame(
                p.ts_ns,
                p.linktype,
                u64::from(p.orig_len),
                p.data,
                &mut |ip| {
                    seen |= TcpSegment::from_ip(ip).is_some();
                },
            );
            tcp += usize::from(seen);
        }
        let want = (
            tshark_count(&t, "frame"),
            tshark_count(&t, "tcp && !icmp && !icmpv6"),
        );
        let name = t
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if (frames, tcp) != want {
            eprintln!(
                "{name}: ours (frames, TCP) {:?}, tshark {want:?}",
                (frames, tcp)
            );
            differ.push(name);
        }
        total.0 += frames;
        total.1 += tcp;
    }
    assert_eq!(differ, DIFFER_FROM_TSHARK, "traces that differ from tshark");
    println!(
        "corpus: {} frames, {} TCP segments, as tshark counts them but in {} traces",
        total.0,
        total.1,
        differ.len()
    );
}
