//! `tcpmortem watch`: connection ends on this host as they happen, with the kernel's reason.
//!
//! - [`death`]: one socket's end, its per-socket kind and its ending in the shared vocabulary
//!   (`tcpmortem_core::ending`), whichever source told it (pure);
//! - [`join`]: the BPF records joined into ends, with drops counted per connection (pure);
//! - [`tracker`]: the tracefs fallback's text events joined into ends (pure);
//! - [`verdict`]: the plain-language verdict, with the errno's Windows and macOS names (pure);
//! - [`metrics`]: Prometheus counters of ends and drops, with bounded label sets (pure);
//! - [`resolve`]: the owner of sockets watch did not see open (sock_diag, /proc);
//! - [`time`]: wall-clock rendering of the trace clock.

pub mod death;
pub mod join;
pub mod metrics;
pub mod resolve;
pub mod time;
pub mod tracker;
pub mod verdict;

pub use death::{By, Death, DropCount, Kind};
pub use join::Joiner;
pub use tracker::Tracker;
