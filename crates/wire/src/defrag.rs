//! IP fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5), as Zeek does before its TCP
//! analysis: fragments are collected per (source, destination, protocol, identification) and
//! a whole datagram comes out, rebuilt as one unfragmented IP packet.
//!
//! Memory is bounded: at most [`MAX_DATAGRAMS`] datagrams in progress (the oldest is dropped
//! to make room), at most 64 KiB each (16 MiB at worst), and a datagram not completed within
//! [`TIMEOUT_NS`] of capture time is dropped. Overlapping fragments keep the bytes that came first (RFC 5722
//! asks to drop the whole datagram for IPv6; first-wins is what Zeek's reassembler keeps).

use std::collections::HashMap;

pub const MAX_DATAGRAMS: usize = 256;
/// Linux's `ipfrag_time` default, 30 s.
pub const TIMEOUT_NS: i128 = 30_000_000_000;
const MAX_LEN: usize = 65_535;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    src: [u8; 16],
    dst: [u8; 16],
    proto: u8,
    id: u32,
    v6: bool,
}

#[derive(Debug)]
struct Datagram {
    /// The rebuilt packet's IP header (IPv4 from the first fragment, IPv6 a fixed header).
    header: Vec<u8>,
    data: Vec<u8>,
    /// Byte ranges of `data` received, sorted and merged.
    have: Vec<(usize, usize)>,
    /// Set by the last fragment (MF clear).
    total: Option<usize>,
    first_ts: i128,
    /// Arrival order, for evicting the oldest.
    order: u64,
}

impl Datagram {
    fn add(&mut self, off: usize, payload: &[u8]) {
        let end = (off + payload.len()).min(MAX_LEN);
        if end <= off {
            return;
        }
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        // First bytes win: copy only what no earlier fragment supplied.
        let mut pos = off;
        let have = self.have.clone();
        for &(s, e) in have
            .iter()
            .chain(std::iter::once(&(usize::MAX, usize::MAX)))
        {
            if e <= pos {
                continue;
            }
            let stop = s.min(end);
            if stop > pos {
                self.data[pos..stop].copy_from_slice(&payload[pos - off..stop - off]);
            }
            pos = pos.max(e);
            if pos >= end {
                break;
            }
        }
        self.have.push((off, end));
        self.have.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.have.len());
        for &(s, e) in &self.have {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.have = merged;
    }

    fn complete(&self) -> bool {
        self.total
            .is_some_and(|t| self.have.first() == Some(&(0, t)))
    }
}

/// A fragment, sliced.
struct Fragment<'a> {
    key: Key,
    /// Byte offset of its payload in the datagram.
    off: usize,
    more: bool,
    payload: &'a [u8],
    /// Header for the rebuilt packet (from the first fragment).
    header: Vec<u8>,
}

fn fragment(ip: &[u8]) -> Option<Fragment<'_>> {
    match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0x0F) * 4;
            if ihl < 20 || ip.len() < ihl {
                return None;
            }
            let frag = u16::from_be_bytes([ip[6], ip[7]]);
            let (more, off) = (frag & 0x2000 != 0, usize::from(frag & 0x1FFF) * 8);
            if !more && off == 0 {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let end = total.min(ip.len()).max(ihl);
            let mut key = Key {
                src: [0; 16],
                dst: [0; 16],
                proto: ip[9],
                id: u32::from(u16::from_be_bytes([ip[4], ip[5]])),
                v6: false,
            };
            key.src[..4].copy_from_slice(&ip[12..16]);
            key.dst[..4].copy_from_slice(&ip[16..20]);
            Some(Fragment {
                key,
                off,
                more,
                payload: &ip[ihl..end],
                header: ip[..ihl].to_vec(),
            })
        }
        6 => {
            if ip.len() < 40 {
                return None;
            }
            // Walk the extension headers that may come before the fragment header.
            let mut next = ip[6];
            let mut at = 40;
            loop {
                match next {
                    0 | 43 | 60 => {
                        let h = ip.get(at..at + 2)?;
                        next = h[0];
                        at += (usize::from(h[1]) + 1) * 8;
                    }
                    44 => break,
                    _ => return None,
                }
            }
            let h = ip.get(at..at + 8)?;
            let fo = u16::from_be_bytes([h[2], h[3]]);
            let (more, off) = (fo & 1 != 0, usize::from(fo >> 3) * 8);
            let end = (40 + usize::from(u16::from_be_bytes([ip[4], ip[5]])))
                .min(ip.len())
                .max(at + 8);
            let mut key = Key {
                src: [0; 16],
                dst: [0; 16],
                proto: h[0],
                id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                v6: true,
            };
            key.src.copy_from_slice(&ip[8..24]);
            key.dst.copy_from_slice(&ip[24..40]);
            let mut header = ip[..40].to_vec();
            header[6] = h[0];
            Some(Fragment {
                key,
                off,
                more,
                payload: &ip[at + 8..end],
                header,
            })
        }
        _ => None,
    }
}

/// Whether a raw IP packet is a fragment of a larger datagram.
pub fn is_fragment(ip: &[u8]) -> bool {
    fragment(ip).is_some()
}

#[derive(Debug, Default)]
pub struct Defragmenter {
    pending: HashMap<Key, Datagram>,
    next_order: u64,
    /// Capture time of the last sweep for timed-out datagrams.
    last_sweep: Option<i128>,
    /// Datagrams given up (timeout or no room).
    pub dropped: u64,
}

impl Defragmenter {
    pub fn new() -> Defragmenter {
        Defragmenter::default()
    }

    /// Datagrams in progress.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Feeds a fragment (anything else returns `None`); when it completes its datagram,
    /// returns the rebuilt unfragmented IP packet.
    pub fn add(&mut self, ts_ns: i128, ip: &[u8]) -> Option<Vec<u8>> {
        let f = fragment(ip)?;
        // Sweep for timed-out datagrams once a second of capture time, not per fragment.
        if self
            .last_sweep
            .is_none_or(|t| ts_ns - t >= 1_000_000_000 || ts_ns < t)
        {
            self.last_sweep = Some(ts_ns);
            let before = self.pending.len();
            self.pending.retain(|_, d| ts_ns - d.first_ts <= TIMEOUT_NS);
            self.dropped += (before - self.pending.len()) as u64;
        }
        if !self.pending.contains_key(&f.key) && self.pending.len() >= MAX_DATAGRAMS {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, d)| d.order)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.pending.remove(&k);
                self.dropped += 1;
            }
        }
        let order = self.next_order;
        self.next_order += 1;
        let d = self
            .pending
            .entry(f.key.clone())
            .or_insert_with(|| Datagram {
                header: f.header.clone(),
                data: Vec::new(),
                have: Vec::new(),
                total: None,
                first_ts: ts_ns,
                order,
            });
        if f.off == 0 {
            d.header = f.header;
        }
        d.add(f.off, f.payload);
        if !f.more {
            d.total = Some((f.off + f.payload.len()).min(MAX_LEN));
        }
        if !d.complete() {
            return None;
        }
        let d = self.pending.remove(&f.key)?;
        let total = d.total.unwrap_or(0);
        let mut out = d.header;
        if f.key.v6 {
            out[4..6].copy_from_slice(&(total as u16).to_be_bytes());
        } else {
            let len = (out.len() + total).min(MAX_LEN) as u16;
            out[2..4].copy_from_slice(&len.to_be_bytes());
            out[6..8].copy_from_slice(&[0, 0]);
            out[10..12].copy_from_slice(&[0, 0]);
            let mut sum = 0u32;
            for w in out.chunks_exact(2) {
                sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
            }
            while sum > 0xFFFF {
                sum = (sum & 0xFFFF) + (sum >> 16);
            }
            out[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        }
        out.extend_from_slice(&d.data[..total.min(d.data.len())]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TcpSegment;

    /// An IPv4 TCP packet with `n` payload bytes, split into fragments of `size` bytes.
    fn v4_fragments(n: usize, size: usize, id: u16) -> (Vec<u8>, Vec<Vec<u8>>) {
        let b = etherparse::PacketBuilder::ipv4([198, 18, 0, 1], [198, 18, 0, 6], 64)
            .tcp(40000, 8080, 1000, 512)
            .ack(1);
        let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let mut whole = Vec::new();
        b.write(&mut whole, &payload).unwrap();
        let body = &whole[20..];
        let mut frags = Vec::new();
        for (k, chunk) in body.chunks(size).enumerate() {
            let off = k * size;
            let more = off + chunk.len() < body.len();
            let mut h = whole[..20].to_vec();
            h[2..4].copy_from_slice(&((20 + chunk.len()) as u16).to_be_bytes());
            h[4..6].copy_from_slice(&id.to_be_bytes());
            let fo = (u16::from(more) << 13) | (off / 8) as u16;
            h[6..8].copy_from_slice(&fo.to_be_bytes());
            h.extend_from_slice(chunk);
            frags.push(h);
        }
        (whole, frags)
    }

    #[test]
    fn out_of_order_ipv4_fragments_give_the_original_segment() {
        let (whole, mut frags) = v4_fragments(3000, 1480, 7);
        assert_eq!(frags.len(), 3);
        assert!(frags.iter().all(|f| fragment(f).is_some()));
        assert!(fragment(&whole).is_none());
        frags.swap(0, 2);
        let mut d = Defragmenter::new();
        assert_eq!(d.add(0, &frags[0]), None);
        assert_eq!(d.add(1, &frags[1]), None);
        let out = d.add(2, &frags[2]).unwrap();
        assert_eq!(out[20..], whole[20..]);
        let seg = TcpSegment::from_ip(&out).unwrap();
        assert_eq!(seg.payload_len, 3000);
        assert_eq!(seg.captured, 3000);
        assert_eq!(crate::checksum::tcp_ok(&out), Some(true));
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn duplicates_and_overlaps_keep_the_first_bytes() {
        let (whole, frags) = v4_fragments(2000, 800, 9);
        let mut d = Defragmenter::new();
        assert_eq!(d.add(0, &frags[0]), None);
        // A forged overlap of the first fragment with other bytes.
        let mut evil = frags[0].clone();
        for b in &mut evil[20 + 40..] {
            *b = 0xEE;
        }
        assert_eq!(d.add(0, &evil), None);
        assert_eq!(d.add(0, &frags[1]), None);
        let out = d.add(0, &frags[2]).unwrap();
        assert_eq!(out[20..], whole[20..]);
    }

    #[test]
    fn memory_is_bounded_by_count_and_time() {
        let mut d = Defragmenter::new();
        for id in 0..(MAX_DATAGRAMS as u16 + 100) {
            let (_, frags) = v4_fragments(2000, 1000, id);
            d.add(0, &frags[0]);
        }
        assert_eq!(d.pending(), MAX_DATAGRAMS);
        assert_eq!(d.dropped, 100);
        let (_, frags) = v4_fragments(2000, 1000, 60_000);
        d.add(TIMEOUT_NS + 1, &frags[0]);
        assert_eq!(d.pending(), 1, "everything older than the timeout is gone");
    }

    #[test]
    fn ipv6_fragments_are_reassembled() {
        let b = etherparse::PacketBuilder::ipv6(
            [0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6],
            64,
        )
        .tcp(40000, 8080, 1000, 512)
        .ack(1);
        let payload = vec![0x5A; 2500];
        let mut whole = Vec::new();
        b.write(&mut whole, &payload).unwrap();
        let body = &whole[40..];
        let mut d = Defragmenter::new();
        let mut out = None;
        for (k, chunk) in body.chunks(1232).enumerate() {
            let off = k * 1232;
            let more = off + chunk.len() < body.len();
            let mut p = whole[..40].to_vec();
            p[4..6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
            p[6] = 44;
            p.extend_from_slice(&[6, 0]);
            p.extend_from_slice(&(((off / 8) as u16) << 3 | u16::from(more)).to_be_bytes());
            p.extend_from_slice(&0xABCDu32.to_be_bytes());
            p.extend_from_slice(chunk);
            out = d.add(k as i128, &p);
        }
        let out = out.unwrap();
        assert_eq!(out, whole);
        assert_eq!(TcpSegment::from_ip(&out).unwrap().payload_len, 2500);
    }
}
