//! Writes a SYN flood (or a SYN scan) as a pcap: COUNT SYNs, each from its own source port
//! (and, once the ports run out, its own source address in 198.18.0.0/15), all to
//! 198.19.255.1:80, spread evenly over DURATION_MS, with valid IP and TCP checksums. Nothing
//! answers them. `scripts/bench-analyze` measures analyze on it (issue 10: about 70 MB for a
//! million SYNs, under 300 MB peak and 2 s).
//!
//! `cargo run --release -p tcpmortem-wire --example syn-flood -- OUT [COUNT] [DURATION_MS]`
//! (defaults 1000000 and 1000).

use std::io::{BufWriter, Write};

/// RFC 1071 one's-complement sum of 16-bit words, added to `acc`.
fn sum(data: &[u8], mut acc: u32) -> u32 {
    for w in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("usage: syn-flood OUT [COUNT] [DURATION_MS]");
        std::process::exit(64);
    };
    let count: u64 = args.get(2).map_or(1_000_000, |s| s.parse().unwrap());
    let duration_ns: i128 = args.get(3).map_or(1000, |s| s.parse::<i128>().unwrap()) * 1_000_000;
    let t0: i128 = 1_767_225_600 * 1_000_000_000; // 2026-01-01T00:00:00Z
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out).unwrap());
    w.write_all(&0xA1B2_3C4Du32.to_le_bytes()).unwrap(); // nanosecond pcap
    w.write_all(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    w.write_all(&262_144u32.to_le_bytes()).unwrap();
    w.write_all(&1u32.to_le_bytes()).unwrap(); // Ethernet
    let dst = [198, 19, 255, 1];
    for k in 0..count {
        let ts = t0 + i128::from(k) * duration_ns / i128::from(count.max(1));
        let port = 1024 + (k % 64_000) as u16;
        let host = (k / 64_000) as u32 + 1;
        let src = [198, 18, (host >> 8) as u8, host as u8];
        let mut f = Vec::with_capacity(54);
        f.extend([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00]);
        // IPv4: 40 bytes, DF, TTL 64, TCP.
        let id = (k as u16).wrapping_mul(7);
        let mut ip = vec![0x45, 0, 0, 40];
        ip.extend(id.to_be_bytes());
        ip.extend([0x40, 0, 64, 6, 0, 0]);
        ip.extend(src);
        ip.extend(dst);
        let c = fold(sum(&ip, 0));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        // TCP: SYN, no options.
        let seq = (k as u32).wrapping_mul(2_654_435_761);
        let mut tcp = Vec::with_capacity(20);
        tcp.extend(port.to_be_bytes());
        tcp.extend(80u16.to_be_bytes());
        tcp.extend(seq.to_be_bytes());
        tcp.extend([0, 0, 0, 0, 0x50, 0x02]);
        tcp.extend(64_240u16.to_be_bytes());
        tcp.extend([0, 0, 0, 0]);
        let pseudo = sum(&src, sum(&dst, 6 + 20));
        let c = fold(sum(&tcp, pseudo));
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        f.extend(ip);
        f.extend(tcp);
        w.write_all(&((ts / 1_000_000_000) as u32).to_le_bytes())
            .unwrap();
        w.write_all(&((ts % 1_000_000_000) as u32).to_le_bytes())
            .unwrap();
        w.write_all(&(f.len() as u32).to_le_bytes()).unwrap();
        w.write_all(&(f.len() as u32).to_le_bytes()).unwrap();
        w.write_all(&f).unwrap();
    }
    w.flush().unwrap();
}
