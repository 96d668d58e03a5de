//! tcpmortem's shared vocabulary, used by every command and every output format.
//!
//! - [`state`]: TCP states with the kernel's numbers and names (`CLOSE_WAIT`).
//! - [`rst`]: the kernel's RST reasons (`TCP_ABORT_ON_CLOSE`), as `tcp:tcp_send_reset` prints them.
//! - [`errno`]: error numbers in every numbering (Linux, macOS, MSVC, Winsock, Win32, libuv).
//! - [`catalog`]: what each error means on each system, with the basis of every claim.
//! - [`ending`]: how a connection ended and what each application saw, whatever the evidence.
//! - [`localized`]: Windows' socket error texts in ten languages.
//! - [`messages`]: the words libraries print for a connection's end, and what each reflects.
//! - [`query`]: finding the error in a pasted message or a whole log.
//! - [`time`]: epoch times as UTC dates.
//! - [`count`]: a number with its noun, singular for 1.
//!
//! Nothing here does I/O or reads a clock.

pub mod catalog;
pub mod count;
pub mod ending;
pub mod errno;
pub mod localized;
pub mod messages;
pub mod query;
pub mod rst;
pub mod state;
pub mod time;
mod tsv;

pub use catalog::{Basis, Entry, Kind};
pub use errno::Os;
pub use rst::RstReason;
pub use state::TcpState;
