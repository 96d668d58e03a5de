//! Builds a large benchmark capture from a small real one (`scripts/bench-analyze`): copy `k`
//! of the trace starts `k × gap` later and gets its own client ports (and, once those run out,
//! its own client addresses), with the TCP and IP checksums fixed incrementally (RFC 1624).
//! The copies are merged in time order, not concatenated, so thousands of connections are
//! open at once.
//!
//! `cargo run --release -p tcpmortem-wire --example replicate -- IN OUT SIZE_MB GAP_US [IFACE]`
//! (IFACE: only that pcapng interface, e.g. one link of a lab capture).

use std::collections::{BinaryHeap, HashMap};
use std::io::{BufWriter, Write};
use tcpmortem_wire::capture::Reader;
use tcpmortem_wire::link;

struct Frame {
    ts_ns: i128,
    data: Vec<u8>,
    /// Offsets of the IP and TCP headers, and which TCP port is the client's (0 = source).
    tcp: Option<(usize, usize, usize)>,
}

/// RFC 1624 eqn. 3: the checksum after one 16-bit word changes from `old` to `new`.
fn fix(sum: u16, old: u16, new: u16) -> u16 {
    let mut s = u32::from(!sum) + u32::from(!old) + u32::from(new);
    while s > 0xFFFF {
        s = (s & 0xFFFF) + (s >> 16);
    }
    !(s as u16)
}

fn be(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn put(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (input, output, size_mb, gap_us, iface) = match &args[..] {
        [_, i, o, s, g] => (i, o, s, g, None),
        [_, i, o, s, g, f] => (i, o, s, g, Some(f.as_str())),
        _ => {
            eprintln!("usage: replicate IN OUT SIZE_MB GAP_US [IFACE]");
            std::process::exit(64);
        }
    };
    let target: u64 = size_mb.parse::<u64>().unwrap() << 20;
    let gap_ns = i128::from(gap_us.parse::<u64>().unwrap()) * 1000;
    let mut r = Reader::new(std::fs::File::open(input).unwrap()).unwrap();
    let mut frames = Vec::new();
    let mut linktype = 0;
    // The client port of each 4-tuple: the SYN's source, else the higher port.
    let mut client_port: HashMap<(u16, u16), u16> = HashMap::new();
    while let Some(p) = r.next_packet().unwrap() {
        if iface.is_some() && p.interface_name != iface {
            continue;
        }
        linktype = p.linktype;
        let data = p.data.to_vec();
        let mut tcp = None;
        if let Ok(ip) = link::ip_packet(p.linktype, &data)
            && ip.first().is_some_and(|v| v >> 4 == 4)
            && ip.get(9) == Some(&6)
        {
            let ip_off = ip.as_ptr() as usize - data.as_ptr() as usize;
            let tcp_off = ip_off + usize::from(ip[0] & 0x0F) * 4;
            if data.len() >= tcp_off + 20 {
                let (sp, dp) = (be(&data, tcp_off), be(&data, tcp_off + 2));
                let syn = data[tcp_off + 13] & 0x12 == 0x02;
                let key = (sp.min(dp), sp.max(dp));
                let cp = *client_port
                    .entry(key)
                    .or_insert(if syn { sp } else { sp.max(dp) });
                tcp = Some((ip_off, tcp_off, usize::from(cp != sp)));
            }
        }
        frames.push(Frame {
            ts_ns: p.ts_ns,
            data,
            tcp,
        });
    }
    let t0 = frames.first().map_or(0, |f| f.ts_ns);
    let bytes_per_copy: u64 = frames.iter().map(|f| 16 + f.data.len() as u64).sum();
    let copies = target.div_ceil(bytes_per_copy.max(1));
    // Each distinct client port gets an index, so copy k's ports are k * n + index.
    let mut ports: Vec<u16> = client_port.values().copied().collect();
    ports.sort_unstable();
    ports.dedup();
    let index: HashMap<u16, u64> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, i as u64))
        .collect();
    let n = ports.len().max(1) as u64;

    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(output).unwrap());
    w.write_all(&0xA1B2_3C4Du32.to_le_bytes()).unwrap(); // nanosecond pcap
    w.write_all(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    w.write_all(&262_144u32.to_le_bytes()).unwrap();
    w.write_all(&u32::from(linktype).to_le_bytes()).unwrap();
    // k-way merge of the copies by time: (Reverse(ts), copy, frame index).
    let mut heap = BinaryHeap::new();
    for k in 0..copies {
        heap.push(std::cmp::Reverse((t0 + i128::from(k) * gap_ns, k, 0usize)));
    }
    let mut buf = Vec::new();
    let mut written = 0u64;
    while let Some(std::cmp::Reverse((ts, k, i))) = heap.pop() {
        let f = &frames[i];
        buf.clear();
        buf.extend_from_slice(&f.data);
        if let Some((ip_off, tcp_off, side)) = f.tcp {
            let port_at = tcp_off + 2 * side;
            let old = be(&buf, port_at);
            let slot = k * n + index[&old];
            let new = 1024 + (slot % 64_000) as u16;
            let round = (slot / 64_000) as u16;
            let mut tsum = be(&buf, tcp_off + 16);
            tsum = fix(tsum, old, new);
            put(&mut buf, port_at, new);
            if round > 0 {
                // The client's address moves too: its low 16 bits, in the IP header and
                // in the TCP pseudo-header.
                let addr_at = ip_off + if side == 0 { 14 } else { 18 };
                let a = be(&buf, addr_at);
                let b = a.wrapping_add(round);
                tsum = fix(tsum, a, b);
                let isum = fix(be(&buf, ip_off + 10), a, b);
                put(&mut buf, addr_at, b);
                put(&mut buf, ip_off + 10, isum);
            }
            put(&mut buf, tcp_off + 16, tsum);
        }
        let secs = (ts / 1_000_000_000) as u32;
        let nanos = (ts % 1_000_000_000) as u32;
        w.write_all(&secs.to_le_bytes()).unwrap();
        w.write_all(&nanos.to_le_bytes()).unwrap();
        w.write_all(&(buf.len() as u32).to_le_bytes()).unwrap();
        w.write_all(&(buf.len() as u32).to_le_bytes()).unwrap();
        w.write_all(&buf).unwrap();
        written += 16 + buf.len() as u64;
        if i + 1 < frames.len() {
            let next = ts + frames[i + 1].ts_ns - f.ts_ns;
            heap.push(std::cmp::Reverse((next, k, i + 1)));
        }
    }
    w.flush().unwrap();
    eprintln!(
        "replicate: {copies} copies of {} frames, {} MB",
        frames.len(),
        written >> 20
    );
}
