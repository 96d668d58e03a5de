//! Exit codes. Each failure has its own, so scripts can tell them apart; the usage and I/O codes
//! follow BSD's sysexits.h. README's "Exit codes" table lists them, and
//! `crates/cli/tests/exit_codes.rs` produces each one for real.

use std::io;

/// Success.
pub const OK: u8 = 0;
/// `lab run`: the run worked, and an expectation failed.
pub const EXPECTATION_FAILED: u8 = 1;
/// `analyze --conn`: no connection has the endpoint asked for.
pub const NOTHING_MATCHED: u8 = 1;
/// `explain`: nothing in the query was recognised.
pub const UNKNOWN_QUERY: u8 = 2;
/// `analyze`: a capture ended in the middle of a record; the results cover what came before.
pub const TRUNCATED: u8 = 3;
/// Bad arguments (sysexits EX_USAGE).
pub const USAGE: u8 = 64;
/// `analyze`: not a capture file (an empty one included), a corrupt one, or no TCP found
/// while frames that may hold it were not decoded (EX_DATAERR).
pub const BAD_INPUT: u8 = 65;
/// A scenario that is not text, has a syntax error, or asks for a step that cannot be done
/// (EX_DATAERR).
pub const BAD_SCENARIO: u8 = 65;
/// No such scenario or file (EX_NOINPUT).
pub const NO_INPUT: u8 = 66;
/// A program tcpmortem needs is not installed: `nft` for the lab's network faults, or the
/// program of an `exec` step (EX_UNAVAILABLE).
pub const UNAVAILABLE: u8 = 69;
/// A bug in tcpmortem: a panic, or an error no path expected (EX_SOFTWARE).
pub const INTERNAL: u8 = 70;
/// The sandbox could not be built (EX_OSERR).
pub const OS_ERROR: u8 = 71;
/// Reading or writing failed: a capture, the output (EX_IOERR).
pub const IO_ERROR: u8 = 74;
/// Missing privilege: root or the capabilities named in the message (EX_NOPERM).
pub const NO_PERMISSION: u8 = 77;
/// Interrupted by SIGINT (128 + SIGINT, as shells report it); `lab` exits 143 for SIGTERM
/// and 129 for SIGHUP, 128 + the signal likewise.
pub const INTERRUPTED: u8 = 130;

pub const HELP: &str = "\
Exit codes:
  0   success
  1   lab run: an expectation failed (the diff is on stderr);
      analyze --conn: no connection has that endpoint
  2   explain, lab repro: nothing in the query was recognised (the closest known errors are
      suggested)
  3   analyze: a capture is truncated (the results cover the packets before the cut)
  64  bad arguments (analyze: also an --interface the capture has no packet on)
  65  lab: the scenario is not text, has a syntax error or asks for an impossible step;
      analyze: not a capture file (an empty one included), a corrupt one, or no TCP
      found while some frames were not decoded (a tunnel, a link type)
  66  lab: no such scenario or file; analyze: no such file
  69  lab: a program it needs is missing: nft for network faults (install nftables), or
      the program of an `exec` step
  70  internal error: a bug in tcpmortem
  71  lab: the sandbox could not be built; watch: no event source (no eBPF, no tracefs)
  74  reading or writing failed (analyze: a capture; any command: its output; lab: --pcap
      or --svg, after the timeline was printed)
  77  lab, watch: missing privilege (lab: root, or CAP_SYS_ADMIN + CAP_NET_ADMIN +
      CAP_NET_RAW; watch: CAP_BPF + CAP_PERFMON, or root for tracefs)
  129 lab: interrupted by SIGHUP; everything was cleaned up
  130 lab: interrupted by SIGINT (Ctrl-C); everything was cleaned up
  143 lab: interrupted by SIGTERM; everything was cleaned up";

/// The exit code and message for an error that reached `main` unclassified. The commands
/// classify the failures they expect (no such file, bad input, privileges...) themselves; what
/// is left is either I/O (the output: a closed pipe is success, a full disk is EX_IOERR) or a
/// bug.
pub fn of_error(e: &anyhow::Error) -> (u8, String) {
    let io_kind = e.chain().find_map(|c| {
        c.downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| c.downcast_ref::<serde_json::Error>()?.io_error_kind())
    });
    match io_kind {
        Some(io::ErrorKind::BrokenPipe) => (OK, String::new()),
        // Without context, an I/O error is a write to stdout (every file is opened with one).
        Some(_) if e.chain().count() == 1 => (IO_ERROR, format!("writing the output: {e}")),
        Some(_) => (IO_ERROR, format!("{e:#}")),
        None => (
            INTERNAL,
            format!("internal error (a bug in tcpmortem; please report it): {e:#}"),
        ),
    }
}
