//! The `tcpmortem` binary: argument parsing, rendering and exit codes. The logic lives in the
//! library crates.

mod analyze;
mod dist;
mod exit;
mod explain;
mod lab;
mod ladder;
mod layout;
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
#[command(name = "tcpmortem", version = VERSION, max_term_width = 100)]
#[command(after_help = exit::HELP)]
struct Cli {
    /// When to use colour: auto (only on a terminal, honouring NO_COLOR), always, never.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true)]
    color: ColorWhen,

    #[command(subcommand)]
    command: Command,
}

/// The version and the commit it was built from (crates/cli/build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("TCPMORTEM_COMMIT"),
    ")"
);

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
    Completions(dist::CompletionsArgs),
}

fn main() -> ExitCode {
    // The lab's actor processes are this binary, re-executed inside a namespace.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "__lab-actor")
    {
        return ExitCode::from(tcpmortem_lab::actor::actor_main() as u8);
    }
    // scripts/package: the man pages, generated from the definitions below. Not a subcommand,
    // so that neither --help nor the completions offer it.
    if let [_, cmd, dir] = &std::env::args_os().collect::<Vec<_>>()[..]
        && cmd == "__man-pages"
    {
        return match dist::man_pages(std::path::Path::new(dir)) {
            Ok(()) => ExitCode::from(exit::OK),
            Err(e) => {
                let _ = writeln!(io::stderr(), "tcpmortem: man pages: {e}");
                ExitCode::from(exit::IO_ERROR)
            }
        };
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
    // A panic is a bug: its message is printed by the default hook, the unwinding runs every
    // cleanup on the way (namespaces, tracefs instances), and the exit code says "internal".
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        debug_panic(&cli.command);
        match &cli.command {
            Command::Analyze(args) => analyze::run(args, &mut out),
            Command::Explain(args) => explain::run(args, &mut out),
            Command::Lab(args) => lab::run_cmd(args, &mut out),
            Command::Proxy(args) => proxy::run(args, &mut out),
            Command::Watch(args) => watch::run(args, &mut out),
            Command::Completions(args) => dist::completions(args, &mut out),
        }
    }));
    let Ok(result) = result else {
        let _ = writeln!(
            io::stderr(),
            "tcpmortem: internal error (a bug in tcpmortem): please report it with the message above and the command you ran"
        );
        return ExitCode::from(exit::INTERNAL);
    };
    let flushed = out.flush();
    match result.and_then(|code| flushed.map(|_| code).map_err(Into::into)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let (code, message) = exit::of_error(&e);
            // `tcpmortem ... | head` closing the pipe is not an error.
            if code != exit::OK {
                let _ = writeln!(io::stderr(), "tcpmortem: {message}");
            }
            ExitCode::from(code)
        }
    }
}

/// Debug builds only: `TCPMORTEM_DEBUG_PANIC=1` panics inside the command, so that the tests
/// can check what a bug looks like to a user (exit code 70, cleanup done).
fn debug_panic(command: &Command) {
    if cfg!(debug_assertions) && std::env::var_os("TCPMORTEM_DEBUG_PANIC").is_some() {
        let name = format!("{command:?}");
        let name = name.split('(').next().unwrap_or_default();
        panic!("TCPMORTEM_DEBUG_PANIC is set ({name})");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every command, with its path (`tcpmortem lab run`).
    fn commands() -> Vec<(String, clap::Command)> {
        fn walk(path: String, cmd: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
            out.push((path.clone(), cmd.clone()));
            for sub in cmd.get_subcommands() {
                walk(format!("{path} {}", sub.get_name()), sub, out);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut out = Vec::new();
        walk("tcpmortem".into(), &cmd, &mut out);
        out
    }

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_argument_says_what_it_is() {
        for (path, cmd) in commands() {
            for arg in cmd.get_arguments() {
                assert!(
                    arg.get_help()
                        .is_some_and(|h| !h.to_string().trim().is_empty()),
                    "{path}: {} has no help",
                    arg.get_id()
                );
            }
            if !cmd.is_hide_set() {
                assert!(cmd.get_about().is_some(), "{path} has no description");
            }
        }
    }

    /// A command that can print JSON takes `--json`, whatever other switch it has.
    #[test]
    fn every_command_that_prints_json_takes_json() {
        let mut checked = 0;
        for (path, cmd) in commands() {
            let says_json = |s: Option<&clap::builder::StyledStr>| {
                s.is_some_and(|s| s.to_string().contains("JSON"))
            };
            let prints_json = says_json(cmd.get_about())
                || says_json(cmd.get_long_about())
                || cmd
                    .get_arguments()
                    .any(|a| says_json(a.get_help()) || says_json(a.get_long_help()));
            if prints_json && cmd.get_subcommands().next().is_none() {
                checked += 1;
                assert!(
                    cmd.get_arguments()
                        .any(|a| a.get_long() == Some("json") && !a.get_action().takes_values()),
                    "{path} prints JSON but has no --json"
                );
            }
        }
        // explain, analyze, watch, lab run, lab repro, lab list.
        assert!(checked >= 6, "only {checked} commands print JSON?");
    }
}
