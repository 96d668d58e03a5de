//! Reading capture files: pcap (both byte orders, micro- and nanosecond timestamps) and
//! pcapng (several interfaces, several sections, each with its own byte order and timestamp
//! resolution). Streaming: one packet at a time from any `Read`, with one reused buffer, so
//! memory does not grow with the file. Hostile input gives an error, never a panic: every
//! length is checked against what is left and against a maximum before it is used.

use std::io::{self, Read};

/// The largest packet or block accepted; anything larger is a corrupt length field.
pub const MAX_BLOCK: usize = 16 << 20;

/// Why a capture could not be read further.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("not a pcap or pcapng file (magic number {0:#010x})")]
    NotCapture(u32),
    #[error("truncated at byte offset {offset}: {what}")]
    Truncated { offset: u64, what: &'static str },
    #[error("corrupt at byte offset {offset}: {what}")]
    Corrupt { offset: u64, what: String },
    #[error("reading the capture: {0}")]
    Io(#[from] io::Error),
}

/// One packet of a capture, borrowing the reader's buffer.
#[derive(Debug)]
pub struct Packet<'a> {
    /// 1-based, as Wireshark numbers frames.
    pub frame: u64,
    /// Nanoseconds since the epoch.
    pub ts_ns: i128,
    /// LINKTYPE_* of the packet's interface.
    pub linktype: u16,
    /// Length on the wire; `data` may be shorter (snap length).
    pub orig_len: u32,
    /// The pcapng interface (index in its section); 0 in pcap.
    pub interface: u32,
    /// Its `if_name`, when the file gives one.
    pub interface_name: Option<&'a str>,
    pub data: &'a [u8],
}

#[derive(Debug, Clone)]
struct Interface {
    linktype: u16,
    /// Timestamp units per second.
    units_per_sec: u64,
    /// `if_name` (option 2).
    name: Option<String>,
}

enum Format {
    Pcap {
        big: bool,
        linktype: u16,
        units_per_sec: u64,
    },
    Pcapng {
        big: bool,
        interfaces: Vec<Interface>,
    },
}

/// Where a reader's bytes come from: a window onto the input that can be asked to hold at
/// least `n` bytes. [`ReadSource`] buffers any `Read`; a memory-mapped file can hand out its
/// pages without copying them (`tcpmortem_kernel::mmap`).
pub trait Source {
    /// Makes at least `n` bytes available from the current position, fewer only when the
    /// input ends first.
    fn need(&mut self, n: usize) -> io::Result<()>;
    /// The bytes available from the current position.
    fn buf(&self) -> &[u8];
    /// Moves the position `n` bytes on (`n` ≤ `buf().len()`).
    fn consume(&mut self, n: usize);
}

/// A [`Source`] over any `Read`, with one buffer that is reused and grows only to the
/// largest record.
pub struct ReadSource<R> {
    input: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R: Read> ReadSource<R> {
    pub fn new(input: R) -> ReadSource<R> {
        ReadSource {
            input,
            buf: vec![0; 1 << 20],
            start: 0,
            end: 0,
        }
    }
}

impl<R: Read> Source for ReadSource<R> {
    fn need(&mut self, n: usize) -> io::Result<()> {
        if self.end - self.start >= n {
            return Ok(());
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.buf.len() < n {
            self.buf.resize(n, 0);
        }
        while self.end < n {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => break,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn buf(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
    }
}

pub struct Reader<S: Source> {
    src: S,
    /// Length of the last record taken: it stays at the front of `src.buf()` until the next
    /// read, so packets borrow it without a copy.
    pending: usize,
    format: Format,
    offset: u64,
    frame: u64,
}

fn u16_at(b: &[u8], big: bool) -> u16 {
    let a = [b[0], b[1]];
    if big {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

fn u32_at(b: &[u8], big: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

impl<R: Read> Reader<ReadSource<R>> {
    /// Reads the file header (pcap) or the first section header (pcapng).
    pub fn new(input: R) -> Result<Reader<ReadSource<R>>, CaptureError> {
        Reader::with_source(ReadSource::new(input))
    }
}

impl<S: Source> Reader<S> {
    /// Reads the file header (pcap) or the first section header (pcapng).
    pub fn with_source(src: S) -> Result<Reader<S>, CaptureError> {
        let mut r = Reader {
            src,
            pending: 0,
            format: Format::Pcapng {
                big: false,
                interfaces: Vec::new(),
            },
            offset: 0,
            frame: 0,
        };
        let mut head = [0u8; 24];
        let n = r.read_into(&mut head[..4])?;
        r.offset = n as u64;
        if n < 4 {
            return Err(CaptureError::Truncated {
                offset: n as u64,
                what: "file header",
            });
        }
        let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        match magic {
            0x0A0D_0D0A => {
                r.section_header(&head[..4])?;
                Ok(r)
            }
            0xA1B2_C3D4 | 0xD4C3_B2A1 | 0xA1B2_3C4D | 0x4D3C_B2A1 => {
                let k = r.read_into(&mut head[4..])?;
                r.offset += k as u64;
                if k < 20 {
                    return Err(CaptureError::Truncated {
                        offset: r.offset,
                        what: "pcap file header",
                    });
                }
                let big = matches!(magic, 0xD4C3_B2A1 | 0x4D3C_B2A1);
                let nano = matches!(magic, 0xA1B2_3C4D | 0x4D3C_B2A1);
                // The link type is the low 16 bits of the last header field (the upper bits
                // carry FCS information in newer files).
                let linktype = (u32_at(&head[20..24], big) & 0xFFFF) as u16;
                r.format = Format::Pcap {
                    big,
                    linktype,
                    units_per_sec: if nano { 1_000_000_000 } else { 1_000_000 },
                };
                Ok(r)
            }
            other => Err(CaptureError::NotCapture(other)),
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Interfaces of the current section described so far (1 for pcap).
    pub fn interfaces(&self) -> usize {
        match &self.format {
            Format::Pcap { .. } => 1,
            Format::Pcapng { interfaces, .. } => interfaces.len(),
        }
    }

    /// The last record taken.
    fn buf(&self) -> &[u8] {
        &self.src.buf()[..self.pending]
    }

    /// Copies up to `out.len()` bytes out; fewer only at the end of the input.
    fn read_into(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.src.consume(std::mem::take(&mut self.pending));
        self.src.need(out.len())?;
        let b = self.src.buf();
        let n = b.len().min(out.len());
        out[..n].copy_from_slice(&b[..n]);
        self.src.consume(n);
        Ok(n)
    }

    /// Makes the next `len` bytes the current record (`buf()`), or reports a truncation.
    fn take(&mut self, len: usize, what: &'static str) -> Result<(), CaptureError> {
        if len > MAX_BLOCK {
            return Err(CaptureError::Corrupt {
                offset: self.offset,
                what: format!("{what} of {len} bytes"),
            });
        }
        self.src.consume(std::mem::take(&mut self.pending));
        self.src.need(len)?;
        let n = self.src.buf().len().min(len);
        if n < len {
            self.src.consume(n);
            self.offset += n as u64;
            return Err(CaptureError::Truncated {
                offset: self.offset,
                what,
            });
        }
        self.pending = len;
        self.offset += len as u64;
        Ok(())
    }

    /// A section header block whose 4-byte type was already read: byte order and a fresh
    /// interface list.
    fn section_header(&mut self, _ty: &[u8]) -> Result<(), CaptureError> {
        self.take(8, "section header")?;
        let b = self.buf();
        let bom = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let big = match bom {
            0x1A2B_3C4D => false,
            0x4D3C_2B1A => true,
            _ => {
                return Err(CaptureError::Corrupt {
                    offset: self.offset,
                    what: format!("byte-order magic {bom:#010x}"),
                });
            }
        };
        let total = u32_at(&self.buf()[0..4], big) as usize;
        if total < 28 || !total.is_multiple_of(4) {
            return Err(CaptureError::Corrupt {
                offset: self.offset,
                what: format!("section header length {total}"),
            });
        }
        // The rest of the block: version, section length, options, trailing length.
        self.take(total - 12, "section header")?;
        self.format = Format::Pcapng {
            big,
            interfaces: Vec::new(),
        };
        Ok(())
    }

    /// The fixed-size start of the next record: `None` at a clean end of the file, an error
    /// when the file stops inside it.
    fn record_head<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<Option<[u8; N]>, CaptureError> {
        let mut head = [0u8; N];
        let n = self.read_into(&mut head)?;
        self.offset += n as u64;
        match n {
            0 => Ok(None),
            n if n < N => Err(CaptureError::Truncated {
                offset: self.offset,
                what,
            }),
            _ => Ok(Some(head)),
        }
    }

    /// The next packet, or `None` at the end of the file.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        match self.format {
            Format::Pcap {
                big,
                linktype,
                units_per_sec,
            } => {
                let Some(rec) = self.record_head::<16>("packet header")? else {
                    return Ok(None);
                };
                let secs = u32_at(&rec[0..4], big);
                let frac = u32_at(&rec[4..8], big);
                let incl = u32_at(&rec[8..12], big) as usize;
                let orig_len = u32_at(&rec[12..16], big);
                self.take(incl, "packet data")?;
                self.frame += 1;
                let ts_ns = i128::from(secs) * 1_000_000_000
                    + i128::from(frac) * 1_000_000_000 / i128::from(units_per_sec);
                Ok(Some(Packet {
                    frame: self.frame,
                    ts_ns,
                    linktype,
                    orig_len,
                    interface: 0,
                    interface_name: None,
                    data: self.buf(),
                }))
            }
            Format::Pcapng { .. } => self.next_pcapng(),
        }
    }

    fn next_pcapng(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        loop {
            let Some(head) = self.record_head::<8>("block header")? else {
                return Ok(None);
            };
            if head[..4] == [0x0A, 0x0D, 0x0D, 0x0A] {
                // A new section: its header continues with the byte-order magic.
                let start = self.offset;
                let mut rest = [0u8; 4];
                let k = self.read_into(&mut rest)?;
                self.offset += k as u64;
                if k < 4 {
                    return Err(CaptureError::Truncated {
                        offset: self.offset,
                        what: "section header",
                    });
                }
                let bom = u32::from_le_bytes(rest);
                let big = match bom {
                    0x1A2B_3C4D => false,
                    0x4D3C_2B1A => true,
                    _ => {
                        return Err(CaptureError::Corrupt {
                            offset: start,
                            what: format!("byte-order magic {bom:#010x}"),
                        });
                    }
                };
                let total = u32_at(&head[4..8], big) as usize;
                if total < 28 || !total.is_multiple_of(4) {
                    return Err(CaptureError::Corrupt {
                        offset: start,
                        what: format!("section header length {total}"),
                    });
                }
                self.take(total - 12, "section header")?;
                self.format = Format::Pcapng {
                    big,
                    interfaces: Vec::new(),
                };
                continue;
            }
            let Format::Pcapng { big, .. } = self.format else {
                unreachable!("pcapng reader")
            };
            let ty = u32_at(&head[0..4], big);
            let total = u32_at(&head[4..8], big) as usize;
            if total < 12 || !total.is_multiple_of(4) {
                return Err(CaptureError::Corrupt {
                    offset: self.offset,
                    what: format!("block length {total}"),
                });
            }
            self.take(total - 8, "block body")?;
            let body_len = total - 12;
            match ty {
                // Interface Description Block.
                1 => {
                    if body_len < 8 {
                        return Err(CaptureError::Corrupt {
                            offset: self.offset,
                            what: "short interface block".into(),
                        });
                    }
                    let linktype = u16_at(&self.buf()[0..2], big);
                    let opts = &self.buf()[8..body_len];
                    let units_per_sec = if_tsresol(opts, big);
                    let name = option(opts, big, 2).map(|v| {
                        String::from_utf8_lossy(v)
                            .trim_end_matches('\0')
                            .to_string()
                    });
                    if let Format::Pcapng { interfaces, .. } = &mut self.format {
                        interfaces.push(Interface {
                            linktype,
                            units_per_sec,
                            name,
                        });
                    }
                }
                // Enhanced Packet Block.
                6 => {
                    if body_len < 20 {
                        return Err(CaptureError::Corrupt {
                            offset: self.offset,
                            what: "short packet block".into(),
                        });
                    }
                    // Borrows only the source, so the frame counter can move below.
                    let b = &self.src.buf()[..self.pending];
                    let iface = u32_at(&b[0..4], big) as usize;
                    let ts = (u64::from(u32_at(&b[4..8], big)) << 32)
                        | u64::from(u32_at(&b[8..12], big));
                    let cap = u32_at(&b[12..16], big) as usize;
                    let orig_len = u32_at(&b[16..20], big);
                    if 20 + cap > body_len {
                        return Err(CaptureError::Corrupt {
                            offset: self.offset,
                            what: format!("captured length {cap} beyond its block"),
                        });
                    }
                    let Format::Pcapng { interfaces, .. } = &self.format else {
                        unreachable!("pcapng reader")
                    };
                    let Some(i) = interfaces.get(iface) else {
                        return Err(CaptureError::Corrupt {
                            offset: self.offset,
                            what: format!("packet for undeclared interface {iface}"),
                        });
                    };
                    self.frame += 1;
                    let ts_ns = i128::from(ts) * 1_000_000_000 / i128::from(i.units_per_sec.max(1));
                    return Ok(Some(Packet {
                        frame: self.frame,
                        ts_ns,
                        linktype: i.linktype,
                        orig_len,
                        interface: iface as u32,
                        interface_name: i.name.as_deref(),
                        data: &b[20..20 + cap],
                    }));
                }
                // Simple Packet Block: interface 0, no timestamp.
                3 => {
                    if body_len < 4 {
                        return Err(CaptureError::Corrupt {
                            offset: self.offset,
                            what: "short simple packet block".into(),
                        });
                    }
                    let orig_len = u32_at(&self.buf()[0..4], big);
                    let Format::Pcapng { interfaces, .. } = &self.format else {
                        unreachable!("pcapng reader")
                    };
                    let Some(i) = interfaces.first() else {
                        return Err(CaptureError::Corrupt {
                            offset: self.offset,
                            what: "packet before any interface".into(),
                        });
                    };
                    let cap = (orig_len as usize).min(body_len - 4);
                    self.frame += 1;
                    return Ok(Some(Packet {
                        frame: self.frame,
                        ts_ns: 0,
                        linktype: i.linktype,
                        orig_len,
                        interface: 0,
                        interface_name: i.name.as_deref(),
                        data: &self.buf()[4..4 + cap],
                    }));
                }
                // Name resolution, statistics, custom and obsolete blocks carry no packets.
                _ => {}
            }
        }
    }
}

/// The value of the first option `code` in a pcapng options list.
fn option(mut opts: &[u8], big: bool, code: u16) -> Option<&[u8]> {
    while opts.len() >= 4 {
        let c = u16_at(&opts[0..2], big);
        let len = u16_at(&opts[2..4], big) as usize;
        let padded = (len + 3) & !3;
        if c == 0 || opts.len() < 4 + padded {
            return None;
        }
        if c == code {
            return Some(&opts[4..4 + len]);
        }
        opts = &opts[4 + padded..];
    }
    None
}

/// `if_tsresol` (option 9): 10^-n or 2^-n seconds; microseconds by default.
fn if_tsresol(opts: &[u8], big: bool) -> u64 {
    match option(opts, big, 9) {
        Some([v, ..]) => {
            let exp = u32::from(v & 0x7F);
            if v & 0x80 == 0 {
                10u64.checked_pow(exp).unwrap_or(1_000_000)
            } else {
                1u64.checked_shl(exp).unwrap_or(1_000_000)
            }
        }
        _ => 1_000_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcapng::{Direction, LINKTYPE_ETHERNET, Writer};

    fn pcap(big: bool, nano: bool, packets: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w16 = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut b = Vec::new();
        b.extend(w32(if nano { 0xA1B2_3C4D } else { 0xA1B2_C3D4 }));
        b.extend(w16(2));
        b.extend(w16(4));
        b.extend(w32(0));
        b.extend(w32(0));
        b.extend(w32(65535));
        b.extend(w32(1));
        for (s, f, d) in packets {
            b.extend(w32(*s));
            b.extend(w32(*f));
            b.extend(w32(d.len() as u32));
            b.extend(w32(d.len() as u32));
            b.extend_from_slice(d);
        }
        b
    }

    /// (frame, ts_ns, linktype, data) of every packet.
    type Packets = Vec<(u64, i128, u16, Vec<u8>)>;

    fn all(bytes: &[u8]) -> Result<Packets, CaptureError> {
        let mut r = Reader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(p) = r.next_packet()? {
            out.push((p.frame, p.ts_ns, p.linktype, p.data.to_vec()));
        }
        Ok(out)
    }

    #[test]
    fn pcap_in_both_byte_orders_and_resolutions() {
        for (big, nano) in [(false, false), (true, false), (false, true), (true, true)] {
            let b = pcap(big, nano, &[(10, 5, b"abc"), (11, 0, b"")]);
            let got = all(&b).unwrap();
            let frac = if nano { 5 } else { 5_000 };
            assert_eq!(
                got[0],
                (1, 10_000_000_000 + frac, 1, b"abc".to_vec()),
                "big {big} nano {nano}"
            );
            assert_eq!(got[1].0, 2);
        }
    }

    #[test]
    fn pcapng_with_two_interfaces_and_two_sections() {
        let mut w = Writer::new(Vec::new(), "t").unwrap();
        let a = w.interface(LINKTYPE_ETHERNET, "a", "").unwrap();
        let b = w.interface(101, "b", "").unwrap();
        w.packet(
            a,
            1_000_000_000_123,
            b"one",
            3,
            Some(Direction::Inbound),
            Some("c"),
        )
        .unwrap();
        w.packet(b, 2_000_000_000_456, b"two!", 4, None, None)
            .unwrap();
        let mut bytes = w.into_inner();
        let mut w2 = Writer::new(Vec::new(), "t").unwrap();
        let c = w2.interface(113, "c", "").unwrap();
        w2.packet(c, 3_000_000_000_000, b"x", 1, None, None)
            .unwrap();
        bytes.extend(w2.into_inner());
        let got = all(&bytes).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(
            (got[0].1, got[0].2, got[0].3.as_slice()),
            (1_000_000_000_123, 1, &b"one"[..])
        );
        assert_eq!((got[1].1, got[1].2), (2_000_000_000_456, 101));
        assert_eq!(
            (got[2].0, got[2].2),
            (3, 113),
            "the second section has its own interfaces"
        );
    }

    #[test]
    fn bad_input_is_an_error_never_a_panic() {
        assert!(matches!(
            all(b"hello world, not a capture"),
            Err(CaptureError::NotCapture(_))
        ));
        assert!(matches!(all(b"\xd4"), Err(CaptureError::Truncated { .. })));
        let b = pcap(false, false, &[(1, 0, b"abcdef")]);
        let cut = &b[..b.len() - 2];
        match all(cut) {
            Err(CaptureError::Truncated { offset, .. }) => assert_eq!(offset as usize, cut.len()),
            other => panic!("{other:?}"),
        }
        // A length field of 4 GB is corrupt, not an allocation.
        let mut huge = pcap(false, false, &[(1, 0, b"a")]);
        huge[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(all(&huge), Err(CaptureError::Corrupt { .. })));
        // Every prefix and every single-byte corruption of a real file: errors or packets.
        let mut w = Writer::new(Vec::new(), "t").unwrap();
        let i = w.interface(LINKTYPE_ETHERNET, "a", "").unwrap();
        for k in 0..4u8 {
            w.packet(
                i,
                u64::from(k),
                &[k; 60],
                60,
                Some(Direction::Outbound),
                Some("x"),
            )
            .unwrap();
        }
        let good = w.into_inner();
        for n in 0..good.len() {
            let _ = all(&good[..n]);
        }
        let mut seed = 0x9E37_79B9u32;
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let mut bad = good.clone();
            let pos = seed as usize % bad.len();
            bad[pos] = (seed >> 8) as u8;
            let _ = all(&bad);
        }
    }
}
