//! Exit codes. Each failure has its own, so scripts can tell them apart; the usage and I/O codes
//! follow BSD's sysexits.h.

/// Success.
pub const OK: u8 = 0;
/// `explain`: nothing in the query was recognised.
pub const UNKNOWN_QUERY: u8 = 2;
/// `lab run`: the run worked, and an expectation failed.
pub const EXPECTATION_FAILED: u8 = 1;
/// `analyze --conn`: no connection has the endpoint asked for.
pub const NOTHING_MATCHED: u8 = 1;
/// `analyze`: a capture ended in the middle of a record; the results cover what came before.
pub const TRUNCATED: u8 = 3;
/// `analyze`: not a capture file, a corrupt one, or no supported link type (EX_DATAERR).
pub const BAD_INPUT: u8 = 65;
/// `analyze`: a read failed (EX_IOERR).
pub const IO_ERROR: u8 = 74;
/// Bad arguments (sysexits EX_USAGE).
pub const USAGE: u8 = 64;
/// A scenario file with a syntax error, or a step the scenario cannot do (EX_DATAERR).
pub const BAD_SCENARIO: u8 = 65;
/// No such scenario or file (EX_NOINPUT).
pub const NO_INPUT: u8 = 66;
/// The sandbox could not be built (EX_OSERR).
pub const OS_ERROR: u8 = 71;
/// Missing privilege: root or the capabilities named in the message (EX_NOPERM).
pub const NO_PERMISSION: u8 = 77;
/// Interrupted by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;
/// An unexpected internal error (sysexits EX_SOFTWARE).
pub const INTERNAL: u8 = 70;

pub const HELP: &str = "\
Exit codes:
  0   success
  1   lab run: an expectation failed (the diff is on stderr);
      analyze --conn: no connection has that endpoint
  2   explain: nothing in the query was recognised (the closest known errors are suggested)
  3   analyze: a capture is truncated (the results cover the packets before the cut)
  64  bad arguments (analyze: also an --interface the capture has no packet on)
  65  lab: the scenario has a syntax error or asks for an impossible step;
      analyze: not a capture file (an empty one included), a corrupt one, or no TCP
      found while some frames were not decoded (a tunnel, a link type)
  66  lab: no such scenario or file; analyze: no such file
  70  internal error
  71  lab: the sandbox could not be built; watch: no tracefs
  74  analyze: reading a capture failed
  77  lab, watch: missing privilege (root, or CAP_SYS_ADMIN + CAP_NET_ADMIN + CAP_NET_RAW)
  130 lab: interrupted (SIGINT/SIGTERM); everything was cleaned up";
