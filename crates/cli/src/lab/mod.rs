//! `tcpmortem lab`: run, show and list scenarios.

mod timeline;

use crate::exit;
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use tcpmortem_lab::LabError;
use tcpmortem_lab::builtin::{BUILTIN, source};
use tcpmortem_lab::run::{RunOptions, run};
use tcpmortem_lab::scenario::{self, Scenario, parse_duration};

/// Reproduce how TCP connections die, with real client and server processes on real kernel
/// sockets in a private network (client ↔ router ↔ server namespaces).
///
/// Each step's call result, both ends' TCP states (sock_diag), every packet on both router
/// links, and the kernel's own events (tracefs: RST reasons, stored errors) are recorded and
/// shown as one timeline.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Debug, clap::Subcommand)]
enum LabCommand {
    Run(RunArgs),
    Show(ShowArgs),
    List,
}

/// Run a scenario: a built-in name (see `lab list`) or a scenario file.
///
/// Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN + CAP_NET_RAW). Nothing outside the run's own
/// namespaces is touched, and nothing is left behind, however the run ends.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  tcpmortem lab run server-closes-early\n  tcpmortem lab run server-closes-early --pcap seed.pcapng\n  tcpmortem lab run ./my-scenario.tcpm --json"
)]
struct RunArgs {
    /// A built-in scenario's name, or the path of a scenario file.
    scenario: String,

    /// Write every packet of both router links as pcapng (one interface per link; each packet
    /// carries a comment naming the step that caused it).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,

    /// Print the whole record as one JSON object.
    #[arg(long)]
    json: bool,

    /// Quiet time that ends each step (overrides the scenario's; default 50ms).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    settle: Option<std::time::Duration>,

    /// Do not record kernel events (tracefs): no RST reasons or stored errors.
    #[arg(long)]
    no_tracefs: bool,
}

/// Print a built-in scenario's source, to copy and change.
#[derive(Debug, clap::Args)]
struct ShowArgs {
    name: String,
}

fn duration(s: &str) -> Result<std::time::Duration, String> {
    parse_duration(s).ok_or_else(|| format!("bad duration {s:?}: use e.g. 50ms, 1s"))
}

pub fn run_cmd(args: &Args, out: &mut impl Write) -> anyhow::Result<u8> {
    match &args.command {
        LabCommand::Run(a) => run_scenario(a, out),
        LabCommand::Show(a) => match source(&a.name) {
            Some(src) => {
                out.write_all(src.as_bytes())?;
                Ok(exit::OK)
            }
            None => {
                eprintln!(
                    "tcpmortem: no built-in scenario {:?}; see `tcpmortem lab list`",
                    a.name
                );
                Ok(exit::NO_INPUT)
            }
        },
        LabCommand::List => {
            for (name, src) in BUILTIN {
                let desc = scenario::parse(src)
                    .map(|s| s.description)
                    .unwrap_or_default();
                writeln!(out, "{name:<34} {desc}")?;
            }
            Ok(exit::OK)
        }
    }
}

/// Loads a built-in by name, or a file by path, with syntax errors as `FILE:LINE:COL: msg`.
fn load(spec: &str) -> Result<Scenario, (u8, String)> {
    let (origin, src) = match source(spec) {
        Some(src) => (format!("<built-in {spec}>"), src.to_string()),
        None => {
            let path = Path::new(spec);
            let src = std::fs::read_to_string(path).map_err(|e| {
                let hint = if spec.contains('/') || spec.contains('.') {
                    String::new()
                } else {
                    "; built-in scenarios are listed by `tcpmortem lab list`".into()
                };
                (
                    exit::NO_INPUT,
                    format!("cannot read scenario {spec:?}: {e}{hint}"),
                )
            })?;
            (spec.to_string(), src)
        }
    };
    let mut sc =
        scenario::parse(&src).map_err(|e| (exit::BAD_SCENARIO, format!("{origin}:{e}")))?;
    if sc.name.is_empty() {
        sc.name = Path::new(spec)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| spec.to_string());
    }
    Ok(sc)
}

fn run_scenario(a: &RunArgs, out: &mut impl Write) -> anyhow::Result<u8> {
    let sc = match load(&a.scenario) {
        Ok(sc) => sc,
        Err((code, msg)) => {
            eprintln!("tcpmortem: {msg}");
            return Ok(code);
        }
    };
    tcpmortem_kernel::proc::catch_interrupts()?;
    let exe = std::env::current_exe().context("locating the tcpmortem executable")?;
    let mut opts = RunOptions::new(exe);
    opts.settle = a.settle;
    opts.tracefs = !a.no_tracefs;
    let result = match run(&sc, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tcpmortem: {e}");
            return Ok(match e {
                LabError::Privilege(_) => exit::NO_PERMISSION,
                LabError::Setup(_) => exit::OS_ERROR,
                LabError::Scenario { .. } => exit::BAD_SCENARIO,
                LabError::Interrupted => exit::INTERRUPTED,
                LabError::Actor(_) => exit::INTERNAL,
            });
        }
    };
    if let Some(path) = &a.pcap {
        let f =
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
        tcpmortem_lab::pcap::write(std::io::BufWriter::new(f), &result.record, &result.frames)
            .with_context(|| format!("write {}", path.display()))?;
    }
    let explanation = tcpmortem_lab::explain::explain(&result.record);
    if a.json {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            #[serde(flatten)]
            record: &'a tcpmortem_lab::record::Record,
            explanation: &'a [String],
        }
        serde_json::to_writer_pretty(
            &mut *out,
            &Json {
                record: &result.record,
                explanation: &explanation,
            },
        )?;
        writeln!(out)?;
    } else {
        timeline::render(&result.record, &explanation, out)?;
    }
    let failed: Vec<_> = result
        .record
        .expectations
        .iter()
        .filter(|v| v.status == tcpmortem_lab::expect::Status::Failed)
        .collect();
    if failed.is_empty() {
        return Ok(exit::OK);
    }
    out.flush()?;
    eprintln!(
        "tcpmortem: {} of {} expectations failed:",
        failed.len(),
        result.record.expectations.len()
    );
    for v in failed {
        let step = &result.record.steps[v.step];
        eprintln!(
            "  line {}: after step {} `{}`",
            v.line,
            v.step + 1,
            step.text
        );
        eprintln!("    - expected: {}", v.text);
        eprintln!("    + observed: {}", v.observed);
    }
    Ok(exit::EXPECTATION_FAILED)
}
