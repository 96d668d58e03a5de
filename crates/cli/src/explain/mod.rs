//! `tcpmortem explain QUERY`: the command. Matching is `tcpmortem_core::query`; rendering is
//! `human` and `json`.

mod human;
mod json;

use crate::exit;
use clap::ValueEnum;
use std::io::Write;
use tcpmortem_core::Os;
use tcpmortem_core::query;

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
/// (ECONNRESET, 104), a Win32 error (ERROR_NETNAME_DELETED, 1236), an HRESULT (0x80072746), a
/// libuv/Node code (-4077), a .NET SocketError or Rust ErrorKind name, or a whole error message
/// as some software printed it ("curl: (56) Recv failure: Connection reset by peer"). Numbers
/// that mean different things on different systems list every reading, most likely first.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  tcpmortem explain 10053\n  tcpmortem explain 'java.net.SocketException: Connection reset'\n  tcpmortem explain 54 --os linux\n  tcpmortem explain --json 'Error: read ECONNRESET'"
)]
pub struct Args {
    /// The error code, name or message (several words are joined with spaces).
    #[arg(required = true, num_args = 1.., value_name = "QUERY")]
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
    let text = args.query.join(" ");
    let os = args.os.map(Os::from);
    let answer = query::explain(&text, os);
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &json::answer(&answer, os))?;
        writeln!(out)?;
    } else if !answer.matches.is_empty() {
        human::render(&answer, out)?;
    }
    if answer.matches.is_empty() {
        eprintln!(
            "tcpmortem: no known error in {:?}; closest: {}",
            text,
            answer.suggestions.join(", ")
        );
        return Ok(exit::UNKNOWN_QUERY);
    }
    Ok(exit::OK)
}
