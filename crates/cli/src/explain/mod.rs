//! `tcpmortem explain QUERY`: the command. Matching is `tcpmortem_core::query`; rendering is
//! `human` and `json`; this module reads the query (arguments or a whole log on stdin) and
//! owns the exit codes.

mod decode;
mod human;
mod json;

use crate::exit;
use clap::ValueEnum;
use std::io::{Read, Write};
use tcpmortem_core::Os;
use tcpmortem_core::query;

/// stdin larger than this is refused: a log's error is found in far less.
const STDIN_LIMIT: u64 = 64 << 20;

/// Width when stdout is not a terminal and COLUMNS is not set.
const DEFAULT_WIDTH: usize = 100;

/// The `analyze` endings that show this catalog entry in a capture.
fn analyze_endings(id: &str) -> Vec<&'static str> {
    tcpmortem_analyze::ending::Kind::ALL
        .into_iter()
        .filter(|k| k.errors().contains(&id))
        .map(|k| k.name())
        .collect()
}

/// Explain an error code or a pasted error message: what it means on Linux, Windows and
/// macOS, which TCP events cause it, and what to do.
///
/// QUERY can be a Winsock code or name (10053, WSAECONNABORTED), a POSIX name or number
/// (ECONNRESET, 104, EADDRINUSE), a Win32 error (ERROR_NETNAME_DELETED, 1236), an HRESULT
/// (0x80072746), a libuv/Node code (-4077), a .NET SocketError or Rust ErrorKind name, Windows'
/// own text in one of ten languages, a library's message ("socket hang up", "transport is
/// closing"), or a whole error message as some software printed it ("curl: (56) Recv failure:
/// Connection reset by peer"). `-` reads a whole log from stdin and explains its error line. Numbers that mean different things on different
/// systems, and messages that several TCP events produce, list every reading, most likely
/// first.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  tcpmortem explain 10053\n  tcpmortem explain 'java.net.SocketException: Connection reset'\n  tcpmortem explain -4077\n  tcpmortem explain 54 --os linux\n  tcpmortem explain --json 'Error: read ECONNRESET'\n  journalctl -u app -n 500 | tcpmortem explain -"
)]
pub struct Args {
    /// The error code, name or message (several words are joined with spaces), or `-` to read
    /// a log from stdin.
    #[arg(
        required = true,
        num_args = 1..,
        value_name = "QUERY",
        allow_negative_numbers = true
    )]
    query: Vec<String>,

    /// The system the error came from, to rank ambiguous numbers.
    #[arg(long, value_enum)]
    os: Option<OsArg>,

    /// Print the answer as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OsArg {
    Linux,
    Windows,
    Macos,
}

impl From<OsArg> for Os {
    fn from(o: OsArg) -> Os {
        match o {
            OsArg::Linux => Os::Linux,
            OsArg::Windows => Os::Windows,
            OsArg::Macos => Os::Macos,
        }
    }
}

pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<u8> {
    let from_stdin = args.query == ["-"];
    let os = args.os.map(Os::from);
    let (text, answer, encoding) = if from_stdin {
        let bytes = match read_stdin(std::io::stdin().lock()) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                eprintln!(
                    "tcpmortem: explain: stdin holds more than {} MiB; pass the part around the error, e.g. `tail -n 2000 LOG | tcpmortem explain -`",
                    STDIN_LIMIT >> 20
                );
                return Ok(exit::USAGE);
            }
            Err(e) => {
                eprintln!("tcpmortem: explain: reading stdin: {e}");
                return Ok(exit::IO_ERROR);
            }
        };
        let (text, answer, read) = decode::explain(&bytes, os);
        if let Some(note) = read.note()
            && !text.trim().is_empty()
        {
            eprintln!("tcpmortem: explain: {note}");
        }
        (text, answer, Some(read.name()))
    } else {
        let text = args.query.join(" ");
        let answer = query::explain(&text, os);
        (text, answer, None)
    };
    if text.trim().is_empty() {
        let what = if from_stdin {
            "stdin held nothing but white space"
        } else {
            "the query is empty"
        };
        eprintln!("tcpmortem: explain: {what}; give an error code, name or message (see --help)");
        return Ok(exit::USAGE);
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &json::answer(&answer, os, encoding))?;
        writeln!(out)?;
    } else if !answer.matches.is_empty() {
        human::render(&answer, out, width())?;
    }
    if answer.matches.is_empty() {
        let shown = if from_stdin {
            format!("stdin ({} lines, {} bytes)", answer.lines, text.len())
        } else {
            echo(&text)
        };
        eprintln!(
            "tcpmortem: no known error in {shown}; closest: {}",
            answer.suggestions.join(", ")
        );
        return Ok(exit::UNKNOWN_QUERY);
    }
    Ok(exit::OK)
}

/// The query as the error message shows it: at most 80 characters of it.
fn echo(text: &str) -> String {
    const MAX: usize = 80;
    let n = text.chars().count();
    if n <= MAX {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(MAX).collect();
    format!("{head:?}… ({} bytes)", text.len())
}

/// Reads all of stdin (decoding is [`decode`]'s). `None` when it is larger than
/// [`STDIN_LIMIT`].
fn read_stdin(input: impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    input.take(STDIN_LIMIT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > STDIN_LIMIT {
        return Ok(None);
    }
    Ok(Some(bytes))
}

/// The width to wrap at: COLUMNS when set, else the terminal's width when stdout is one, else
/// [`DEFAULT_WIDTH`].
fn width() -> usize {
    crate::layout::terminal_width()
        .unwrap_or(DEFAULT_WIDTH)
        .clamp(30, 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_over_the_limit_is_refused() {
        let big = std::io::repeat(b'a').take(STDIN_LIMIT + 10);
        assert!(read_stdin(big).unwrap().is_none());
        assert_eq!(read_stdin(&b"ok"[..]).unwrap().as_deref(), Some(&b"ok"[..]));
    }

    #[test]
    fn the_error_echoes_at_most_80_characters() {
        let long = "x".repeat(120_000);
        let e = echo(&long);
        assert!(e.chars().count() < 110, "{e}");
        assert!(e.ends_with("(120000 bytes)"));
        assert_eq!(echo("ECONNRESTE"), "\"ECONNRESTE\"");
    }
}
