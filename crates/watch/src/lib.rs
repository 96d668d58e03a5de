//! `tcpmortem watch`: connection deaths on this host as they happen, with the kernel's reason.
//!
//! - [`tracker`]: joins one socket's tracepoints into one [`Death`] and classifies it (pure);
//! - [`verdict`]: the plain-language verdict, with the errno's Windows and macOS names (pure);
//! - [`resolve`]: best-effort process and namespace of a socket (sock_diag, /proc);
//! - [`time`]: wall-clock rendering of the trace clock.

pub mod resolve;
pub mod time;
pub mod tracker;
pub mod verdict;

pub use tracker::{Death, Kind, Tracker};
