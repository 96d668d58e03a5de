//! Every trace of the Zeek corpus (`../shared/corpus/zeek/`) reads to the end, with as many
//! frames and TCP segments as tshark finds in it.

use std::path::{Path, PathBuf};
use tcpmortem_wire::TcpSegment;
use tcpmortem_wire::capture::Reader;

fn traces() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/zeek/Traces");
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

#[test]
fn every_corpus_trace_reads_like_tshark_reads_it() {
    let mut total = (0, 0);
    for t in traces() {
        let mut r = Reader::new(std::fs::File::open(&t).unwrap()).unwrap();
        let (mut frames, mut tcp) = (0, 0);
        while let Some(p) = r.next_packet().unwrap() {
            frames += 1;
            tcp += usize::from(TcpSegment::from_link(p.linktype, p.data).is_some());
        }
        assert_eq!(frames, tshark_count(&t, "frame"), "{}: frames", t.display());
        assert_eq!(
            tcp,
            tshark_count(&t, "tcp && !icmp && !icmpv6"),
            "{}: TCP segments",
            t.display()
        );
        total.0 += frames;
        total.1 += tcp;
    }
    println!(
        "corpus: {} frames, {} TCP segments, all as tshark counts them",
        total.0, total.1
    );
}
