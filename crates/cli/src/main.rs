//! The `tcpmortem` binary: argument parsing, rendering and exit codes. The logic lives in the
//! library crates.

mod analyze;
mod exit;
mod explain;
mod lab;
mod ladder;
mod proxy;
mod watch;

use clap::{Parser, Subcommand, ValueEnum};
use std::io::{self, Write};
use std::process::ExitCode;

/// Reproduce, trace and explain how TCP connections die.
///
/// tcpmortem tells you what "connection reset by peer", "broken pipe", "software caused
/// connection abort" or a timeout actually means: which packets or local events cause it, on
/// Linux, Windows and macOS, and what to do about it.
#[derive(Debug, Parser)]
#[command(name = "tcpmortem", version, max_term_width = 100)]
#[command(after_help = exit::HELP)]
struct Cli {
    /// When to use colour: auto (only on a terminal, honouring NO_COLOR), always, never.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true)]
    color: ColorWhen,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    Analyze(analyze::Args),
    Explain(explain::Args),
    Lab(lab::Args),
    Proxy(proxy::Args),
    Watch(watch::Args),
}

fn main() -> ExitCode {
    // The lab's actor processes are this binary, re-executed inside a namespace.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "__lab-actor")
    {
        return ExitCode::from(tcpmortem_lab::actor::actor_main() as u8);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.color {
        ColorWhen::Auto => {}
        ColorWhen::Always => anstream::ColorChoice::Always.write_global(),
        ColorWhen::Never => anstream::ColorChoice::Never.write_global(),
    }
    let mut out = anstream::stdout().lock();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(&args, &mut out),
        Command::Explain(args) => explain::run(&args, &mut out),
        Command::Lab(args) => lab::run_cmd(&args, &mut out),
        Command::Proxy(args) => proxy::run(&args, &mut out),
        Command::Watch(args) => watch::run(&args, &mut out),
    };
    let flushed = out.flush();
    match result.and_then(|code| flushed.map(|_| code).map_err(Into::into)) {
        Ok(code) => ExitCode::from(code),
        // `tcpmortem ... | head` closing the pipe is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::from(exit::OK),
        Err(e) => {
            let _ = writeln!(io::stderr(), "tcpmortem: {e:#}");
            ExitCode::from(exit::INTERNAL)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
