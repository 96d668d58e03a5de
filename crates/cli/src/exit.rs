//! Exit codes. Each failure has its own, so scripts can tell them apart; the usage and I/O codes
//! follow BSD's sysexits.h.

/// Success.
pub const OK: u8 = 0;
/// `explain`: nothing in the query was recognised.
pub const UNKNOWN_QUERY: u8 = 2;
/// Bad arguments (sysexits EX_USAGE).
pub const USAGE: u8 = 64;
/// An unexpected internal error (sysexits EX_SOFTWARE).
pub const INTERNAL: u8 = 70;

pub const HELP: &str = "\
Exit codes:
  0   success
  2   explain: nothing in the query was recognised (the closest known errors are suggested)
  64  bad arguments
  70  internal error";
