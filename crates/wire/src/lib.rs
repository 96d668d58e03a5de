//! Packets as bytes: slicing frames into the TCP facts tcpmortem shows, and writing pcapng.
//! Parsing never panics on hostile input: a frame that is not TCP over IP gives `None`, or
//! the reason it was skipped ([`skip::Skip`]).

pub mod capture;
pub mod checksum;
pub mod defrag;
pub mod icmp;
pub mod link;
pub mod pcapng;
pub mod skip;
pub mod tcp;

pub use tcp::{Flags, TcpSegment};
