//! A pcapng writer (draft-ietf-opsawg-pcapng): one section, one interface block per link,
//! nanosecond timestamps, and per-packet comments and direction flags that Wireshark shows.

use std::io::{self, Write};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u16 = 1;

const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;

/// Direction of a packet relative to its interface (epb_flags bits 0–1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

pub struct Writer<W: Write> {
    out: W,
    interfaces: u32,
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    buf.extend(std::iter::repeat_n(0, pad4(value.len())));
}

impl<W: Write> Writer<W> {
    /// Writes the section header.
    pub fn new(mut out: W, application: &str) -> io::Result<Writer<W>> {
        let mut body = Vec::new();
        body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        option(&mut body, SHB_USERAPPL, application.as_bytes());
        option(&mut body, OPT_END, &[]);
        block(&mut out, SHB, &body)?;
        Ok(Writer { out, interfaces: 0 })
    }

    /// Declares an interface and returns its id for [`Writer::packet`].
    pub fn interface(&mut self, linktype: u16, name: &str, description: &str) -> io::Result<u32> {
        let mut body = Vec::new();
        body.extend_from_slice(&linktype.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes()); // snaplen: no limit
        option(&mut body, IF_NAME, name.as_bytes());
        option(&mut body, IF_DESCRIPTION, description.as_bytes());
        option(&mut body, IF_TSRESOL, &[9]); // 10^-9 s
        option(&mut body, OPT_END, &[]);
        block(&mut self.out, IDB, &body)?;
        self.interfaces += 1;
        Ok(self.interfaces - 1)
    }

    /// Writes one packet, with an optional comment, timestamped in ns since the epoch.
    pub fn packet(
        &mut self,
        interface: u32,
        ts_ns: u64,
        data: &[u8],
        wire_len: u32,
        direction: Option<Direction>,
        comment: Option<&str>,
    ) -> io::Result<()> {
        let mut body = Vec::with_capacity(data.len() + 64);
        body.extend_from_slice(&interface.to_le_bytes());
        body.extend_from_slice(&((ts_ns >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts_ns as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&wire_len.max(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        body.extend(std::iter::repeat_n(0, pad4(data.len())));
        if let Some(c) = comment {
            option(&mut body, OPT_COMMENT, c.as_bytes());
        }
        if let Some(d) = direction {
            let bits: u32 = match d {
                Direction::Inbound => 1,
                Direction::Outbound => 2,
            };
            option(&mut body, EPB_FLAGS, &bits.to_le_bytes());
        }
        option(&mut body, OPT_END, &[]);
        block(&mut self.out, EPB, &body)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

fn block(out: &mut impl Write, ty: u32, body: &[u8]) -> io::Result<()> {
    let total = (12 + body.len()) as u32;
    out.write_all(&ty.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&total.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_framed_and_aligned() {
        let mut w = Writer::new(Vec::new(), "test").unwrap();
        let i = w.interface(LINKTYPE_ETHERNET, "a", "link a").unwrap();
        w.packet(
            i,
            1_700_000_000_123_456_789,
            &[1, 2, 3],
            3,
            Some(Direction::Inbound),
            Some("step 1"),
        )
        .unwrap();
        let buf = w.into_inner();
        let mut off = 0;
        let mut types = Vec::new();
        while off < buf.len() {
            let ty = u32::from_le_bytes(buf[off..off + 4].try_into().unwrap());
            let len = u32::from_le_bytes(buf[off + 4..off + 8].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0);
            let trailer = u32::from_le_bytes(buf[off + len - 4..off + len].try_into().unwrap());
            assert_eq!(trailer as usize, len);
            types.push(ty);
            off += len;
        }
        assert_eq!(types, [SHB, IDB, EPB]);
    }
}
