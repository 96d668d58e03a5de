//! `tcpmortem lab`: run, show and list scenarios.

mod output;
mod progress;
mod svg;
mod timeline;

use crate::exit;
use output::Output;
use std::io::Write;
use std::path::{Path, PathBuf};
use tcpmortem_lab::LabError;
use tcpmortem_lab::builtin::{BUILTIN, source};
use tcpmortem_lab::explain::{Fact, facts};
use tcpmortem_lab::observe::KernelEvents;
use tcpmortem_lab::other_os::{Measured, measured};
use tcpmortem_lab::parse::{self, parse_duration};
use tcpmortem_lab::record::{Outcome, Record, Status};
use tcpmortem_lab::run::{RunOptions, check_privileges, run};
use tcpmortem_lab::scenario::Scenario;

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
    Repro(ReproArgs),
    Show(ShowArgs),
    List(ListArgs),
}

/// Run every built-in scenario that reproduces an error, and show each timeline.
///
/// ERROR is anything `tcpmortem explain` accepts: 10053, ECONNRESET, "connection reset by
/// peer", a whole error message.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  tcpmortem lab repro 10053\n  tcpmortem lab repro 'connection reset by peer'"
)]
struct ReproArgs {
    /// The error: a code, a name or a whole message (several words are joined with spaces).
    #[arg(required = true, num_args = 1.., value_name = "ERROR")]
    error: Vec<String>,

    /// Print the records as a JSON array.
    #[arg(long)]
    json: bool,
}

/// List the built-in scenarios with the errors they produce on Linux, Windows and macOS.
///
/// The Linux results are the scenarios' own measured expectations; Windows' and macOS' are
/// derived from them by the same rules as a run's notes.
#[derive(Debug, clap::Args)]
struct ListArgs {
    /// A JSON array of objects with name, description and errors (each: call, id, linux,
    /// windows, macos).
    #[arg(long)]
    json: bool,
}

/// Run a scenario: a built-in name (see `lab list`), a scenario file, or `-` for stdin.
///
/// Each call is the blocking call an application makes, on a thread of its own: one still
/// waiting after the scenario's `blocked-after` (100 ms) is shown `blocked`, and what it
/// returns later is shown when it does. A scenario has at most 10,000 steps; steps that
/// cannot work are refused before the run, with file:line:col.
///
/// Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN + CAP_NET_RAW, and CAP_DAC_OVERRIDE for the
/// kernel's events). Nothing outside the run's own namespaces is touched, and nothing is left
/// behind, however the run ends: SIGINT, SIGTERM and SIGHUP end it cleanly with 130, 143 and
/// 129, after printing what was recorded before the signal.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  tcpmortem lab run server-closes-early\n  tcpmortem lab run server-closes-early --pcap seed.pcapng\n  tcpmortem lab run ./my-scenario.tcpm --json\n  tcpmortem lab show half-close | sed 's/shutdown wr/shutdown rdwr/' | tcpmortem lab run -\n\nSCENARIO: `-` is stdin; anything with a slash (./x, dir/x) is a file; a built-in name is the\nbuilt-in, with a note when a file of that name is in this directory too (run it as ./NAME);\nany other name is a file."
)]
struct RunArgs {
    /// A built-in scenario's name, the path of a scenario file, or `-` to read it from stdin.
    #[arg(
        required_unless_present = "all",
        conflicts_with = "all",
        value_name = "SCENARIO"
    )]
    scenario: Option<String>,

    /// Run every built-in scenario, in parallel, and print a matrix of the results.
    #[arg(long)]
    all: bool,

    /// With --all: how many scenarios run at once.
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,

    /// Write every packet of both router links as pcapng (one interface per link; each packet
    /// carries a comment naming the step that caused it and its connection). `-` is stdout
    /// (the timeline then goes to stderr); with --all, a directory that gets NAME.pcapng per
    /// scenario.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,

    /// Print the whole record as one JSON object: connections, steps with every connection's
    /// states and the kernel counters that moved, calls, packets (TCP and ICMP), kernel
    /// events, expectations, and the facts "What happened" is made of.
    #[arg(long)]
    json: bool,

    /// Write a ladder diagram of the run (SVG): lifelines, packets, ICMP errors, calls,
    /// states, kernel events. `-` is stdout; with --all, a directory that gets NAME.svg per
    /// scenario.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,

    /// Quiet time that ends each step (overrides the scenario's; default 50ms).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    settle: Option<std::time::Duration>,

    /// Do not record kernel events (neither eBPF nor tracefs): no RST reasons or stored
    /// errors.
    #[arg(long, conflicts_with = "kernel_events")]
    no_tracefs: bool,

    /// Read the kernel events only this way. By default the lab's eBPF programs record
    /// them, and a tracefs instance does where BPF cannot be loaded (no CAP_BPF +
    /// CAP_PERFMON, no kernel BTF); both give the same events, tracefs costs ~80 ms more.
    #[arg(long, value_name = "HOW")]
    kernel_events: Option<KernelEventsArg>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KernelEventsArg {
    Ebpf,
    Tracefs,
}

/// Print a built-in scenario's source, to copy and change.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  tcpmortem lab show server-closes-early > mine.tcpm")]
struct ShowArgs {
    /// A built-in scenario's name, as `tcpmortem lab list` shows them.
    #[arg(value_name = "NAME")]
    name: String,
}

fn segment_label(p: &tcpmortem_lab::record::PacketRecord) -> String {
    match &p.proto {
        tcpmortem_lab::record::Proto::Tcp {
            flags,
            seq,
            ack,
            len,
            ..
        } => crate::ladder::label(*flags, *seq, *ack, *len),
        tcpmortem_lab::record::Proto::Icmp { message, .. } => format!("ICMP {message}"),
    }
}

fn duration(s: &str) -> Result<std::time::Duration, String> {
    parse_duration(s).ok_or_else(|| format!("bad duration {s:?}: use e.g. 50ms, 1s"))
}

pub fn run_cmd(args: &Args, out: &mut impl Write) -> anyhow::Result<u8> {
    match &args.command {
        LabCommand::Run(a) if a.all => run_all(a, out),
        LabCommand::Run(a) => run_scenario(a, out),
        LabCommand::Repro(a) => repro(a, out),
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
        LabCommand::List(a) => list(a.json, out),
    }
}

/// How one system's result of a measured call is shown.
type Side<'a> = &'a dyn Fn(&Measured) -> Option<String>;

fn side(o: &Option<tcpmortem_lab::record::OtherOs>) -> Option<String> {
    o.as_ref()
        .map(|o| format!("{} [{}]", o.result, o.basis.tag()))
}

/// The built-in scenarios with what their calls returned, as measured (their `expect`
/// lines), and what Windows and macOS would return, by the rules a run's notes use.
fn list(json: bool, out: &mut impl Write) -> anyhow::Result<u8> {
    #[derive(serde::Serialize)]
    struct Item {
        name: &'static str,
        description: String,
        errors: Vec<Measured>,
        /// The programs the scenario runs (`exec`): `lab run --all` leaves it out.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        programs: Vec<String>,
    }
    let items: Vec<Item> = BUILTIN
        .iter()
        .chain(tcpmortem_lab::builtin::WITH_PROGRAMS)
        .map(|(name, src)| {
            let sc = parse::parse(src).ok();
            Item {
                name,
                description: sc
                    .as_ref()
                    .map(|s| s.description.clone())
                    .unwrap_or_default(),
                errors: sc.as_ref().map(measured).unwrap_or_default(),
                programs: sc
                    .iter()
                    .flat_map(|s| &s.steps)
                    .filter_map(|s| match &s.kind {
                        tcpmortem_lab::scenario::StepKind::Exec { argv, .. } => {
                            Some(argv[0].clone())
                        }
                        _ => None,
                    })
                    .collect(),
            }
        })
        .collect();
    if json {
        serde_json::to_writer_pretty(&mut *out, &items)?;
        writeln!(out)?;
        return Ok(exit::OK);
    }
    // Names in a column as wide as the longest; on a terminal the text beside them wraps,
    // between words.
    let name_width = items.iter().map(|i| i.name.len()).max().unwrap_or(0);
    let text_width = crate::layout::terminal_width()
        .map_or(usize::MAX, |w| w.saturating_sub(name_width + 2).max(30));
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    for item in &items {
        let mut lines = crate::layout::wrap(&words(&item.description), " ", text_width);
        if !item.errors.is_empty() {
            let per_os: [(&str, Side); 3] = [
                ("Linux:", &|m| Some(m.linux.clone())),
                ("Windows:", &|m| side(&m.windows)),
                ("macOS:", &|m| side(&m.macos)),
            ];
            for (os, f) in per_os {
                let calls: Vec<String> = item
                    .errors
                    .iter()
                    .map(|m| format!("{} → {}", m.call, f(m).unwrap_or_else(|| "unknown".into())))
                    .collect();
                let line = format!("{os} {}", calls.join("; "));
                lines.extend(crate::layout::wrap(&words(&line), " ", text_width));
            }
        }
        for (k, line) in lines.iter().enumerate() {
            let label = if k == 0 { item.name } else { "" };
            writeln!(out, "{label:<name_width$}  {line}")?;
        }
    }
    Ok(exit::OK)
}

fn exit_code(e: &LabError) -> u8 {
    match e {
        LabError::Privilege(_) => exit::NO_PERMISSION,
        LabError::Setup(_) => exit::OS_ERROR,
        LabError::Unavailable { .. } => exit::UNAVAILABLE,
        LabError::Scenario { .. } => exit::BAD_SCENARIO,
        LabError::Interrupted => interrupted_code(),
        LabError::Actor(_) => exit::INTERNAL,
    }
}

/// 128 + the signal, as a shell reports a process that died of it: 130 for SIGINT, 143 for
/// SIGTERM, 129 for SIGHUP.
fn interrupted_code() -> u8 {
    match tcpmortem_kernel::proc::interruption() {
        Some((sig, _)) => signal_code(sig),
        None => exit::INTERRUPTED,
    }
}

fn signal_code(sig: i32) -> u8 {
    (128 + sig).clamp(129, 159) as u8
}

fn interrupted_message() -> String {
    match tcpmortem_kernel::proc::interruption() {
        Some((libc::SIGTERM, _)) => "interrupted by SIGTERM".into(),
        Some((libc::SIGHUP, _)) => "interrupted by SIGHUP".into(),
        _ => "interrupted by SIGINT".into(),
    }
}

/// Prints a run's error and gives its exit code.
fn fail(e: &LabError) -> u8 {
    eprintln!("tcpmortem: {e}");
    exit_code(e)
}

fn options(
    settle: Option<std::time::Duration>,
    tracefs: bool,
    kernel_events: Option<KernelEventsArg>,
) -> Result<RunOptions, LabError> {
    tcpmortem_kernel::proc::catch_interrupts().map_err(|e| LabError::Setup(e.to_string()))?;
    let exe = std::env::current_exe()
        .map_err(|e| LabError::Setup(format!("locating the tcpmortem executable: {e}")))?;
    let mut opts = RunOptions::new(exe);
    opts.settle = settle;
    opts.tracefs = tracefs;
    opts.kernel_events = kernel_events.map(|k| match k {
        KernelEventsArg::Ebpf => KernelEvents::Ebpf,
        KernelEventsArg::Tracefs => KernelEvents::Tracefs,
    });
    Ok(opts)
}

/// Prints the failed expectations of a run as a diff on stderr; true when there were any.
fn report_failures(record: &Record) -> bool {
    let failed: Vec<_> = record
        .expectations
        .iter()
        .filter(|v| v.status == Status::Failed)
        .collect();
    if failed.is_empty() {
        return false;
    }
    eprintln!(
        "tcpmortem: {}: {} of {} failed:",
        record.scenario.name,
        failed.len(),
        crate::layout::count(record.expectations.len(), "expectation", "expectations")
    );
    for v in failed {
        let step = &record.steps[v.step];
        eprintln!(
            "  line {}: after step {} `{}`",
            v.line,
            v.step + 1,
            step.text
        );
        eprintln!("    - expected: {}", v.text);
        eprintln!("    + observed: {}", v.observed);
    }
    true
}

/// The record, with the facts "What happened" is made of and their sentences.
#[derive(serde::Serialize)]
struct RunJson<'a> {
    #[serde(flatten)]
    record: &'a Record,
    facts: Vec<Fact>,
    explanation: Vec<String>,
}

fn run_json(record: &Record) -> RunJson<'_> {
    let facts = facts(record);
    RunJson {
        record,
        explanation: facts.iter().map(|f| f.sentence(record)).collect(),
        facts,
    }
}

/// A scenario and where it came from, as error messages name it.
struct Loaded {
    origin: String,
    scenario: Scenario,
}

/// Loads the scenario `lab run` was given, with syntax errors as `ORIGIN:LINE:COL: msg`.
///
/// The rule: `-` is stdin; anything with a slash is a file; a built-in name is the built-in
/// (with a note when a file of that name is in the current directory, which `./NAME` runs);
/// any other name is a file.
fn load(spec: &str) -> Result<Loaded, (u8, String)> {
    let builtin = (!spec.contains('/')).then(|| source(spec)).flatten();
    let (origin, src) = if spec == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).map_err(|e| {
            (
                exit::IO_ERROR,
                format!("reading the scenario from stdin: {e}"),
            )
        })?;
        ("stdin".to_string(), text(bytes, "stdin")?)
    } else if let Some(src) = builtin {
        if Path::new(spec).exists() {
            eprintln!(
                "tcpmortem: note: {spec} is a built-in scenario, and it is what runs; to run the file {spec} of this directory, write ./{spec}"
            );
        }
        (spec.to_string(), src.to_string())
    } else {
        let bytes = std::fs::read(spec).map_err(|e| {
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
        (spec.to_string(), text(bytes, spec)?)
    };
    let mut sc = parse::parse(&src).map_err(|e| (exit::BAD_SCENARIO, format!("{origin}:{e}")))?;
    if sc.name.is_empty() {
        sc.name = match spec {
            "-" => "stdin".to_string(),
            _ => Path::new(spec)
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| spec.to_string()),
        };
    }
    Ok(Loaded {
        origin,
        scenario: sc,
    })
}

/// A scenario's bytes as text; anything else (a binary file, another encoding) is bad input.
fn text(bytes: Vec<u8>, origin: &str) -> Result<String, (u8, String)> {
    String::from_utf8(bytes).map_err(|e| {
        (
            exit::BAD_SCENARIO,
            format!(
                "{origin}: not a scenario file: byte {} is not UTF-8 text",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// A run's error as the user reads it: errors of a scenario line name the file first
/// (`wrong.tcpm: line 2: ...`).
fn located(origin: &str, e: &LabError) -> String {
    match e {
        LabError::Scenario { .. } | LabError::Unavailable { .. } => format!("{origin}: {e}"),
        _ => e.to_string(),
    }
}

fn run_scenario(a: &RunArgs, out: &mut impl Write) -> anyhow::Result<u8> {
    let spec = a.scenario.as_deref().unwrap_or_default();
    let Loaded {
        origin,
        scenario: sc,
    } = match load(spec) {
        Ok(l) => l,
        Err((code, msg)) => {
            eprintln!("tcpmortem: {msg}");
            return Ok(code);
        }
    };
    // Output files are checked before the run: a path that cannot be written is a usage
    // error now, not a lost run later.
    let outputs = match Output::plan(a.pcap.as_deref(), a.svg.as_deref(), a.json) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("tcpmortem: {msg}");
            return Ok(exit::USAGE);
        }
    };
    let mut opts = match options(a.settle, !a.no_tracefs, a.kernel_events) {
        Ok(o) => o,
        Err(e) => {
            outputs.abandon();
            return Ok(fail(&e));
        }
    };
    let progress = std::sync::Arc::new(progress::Progress::new(&sc.name));
    {
        let p = progress.clone();
        opts.progress = Some(std::sync::Arc::new(move |i, n| p.update(i, n, "steps")));
    }
    let result = run(&sc, &opts);
    progress.done();
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            outputs.abandon();
            let msg = match &e {
                LabError::Interrupted => interrupted_message(),
                e => located(&origin, e),
            };
            eprintln!("tcpmortem: {msg}");
            return Ok(exit_code(&e));
        }
    };
    // The timeline (or JSON) first: a failing output file must not lose it.
    if outputs.stdout_taken() {
        let mut err = anstream::stderr().lock();
        print_run(&result.record, a.json, &mut err)?;
    } else {
        print_run(&result.record, a.json, out)?;
        out.flush()?;
    }
    let written = outputs.write(&result, out);
    let failed = report_failures(&result.record);
    if let Some(i) = &result.record.interrupted {
        eprintln!(
            "tcpmortem: interrupted by {} during step {}; nothing after it was recorded",
            i.name,
            i.step + 1
        );
        return Ok(signal_code(i.signal));
    }
    if let Err(msg) = written {
        eprintln!("tcpmortem: {msg}");
        return Ok(exit::IO_ERROR);
    }
    Ok(if failed {
        exit::EXPECTATION_FAILED
    } else {
        exit::OK
    })
}

fn print_run(record: &Record, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, &run_json(record))?;
        writeln!(out)?;
    } else {
        let explanation = tcpmortem_lab::explain::explain(record);
        timeline::render(record, &explanation, out)?;
    }
    Ok(())
}

/// One line of the `run --all` matrix.
#[derive(serde::Serialize)]
struct Row {
    name: &'static str,
    passed: usize,
    failed: usize,
    not_checked: usize,
    /// The calls that ended in EOF, an error or blocked, in order: the scenario's story.
    results: Vec<String>,
    reset_reasons: Vec<String>,
    ms: f64,
    error: Option<String>,
    /// Writing its --pcap or --svg file failed.
    output_error: Option<String>,
}

fn row(
    name: &'static str,
    r: Result<tcpmortem_lab::run::Run, LabError>,
    output_error: Option<String>,
) -> (Row, Option<Record>) {
    match r {
        Err(e) => (
            Row {
                name,
                passed: 0,
                failed: 0,
                not_checked: 0,
                results: Vec::new(),
                reset_reasons: Vec::new(),
                ms: 0.0,
                error: Some(e.to_string()),
                output_error,
            },
            None,
        ),
        Ok(run) => {
            let rec = run.record;
            let count = |st: Status| rec.expectations.iter().filter(|v| v.status == st).count();
            // What each call finally returned: a call reported blocked counts by its result.
            let results = rec
                .steps
                .iter()
                .filter_map(|s| {
                    let o = s
                        .calls
                        .last()
                        .and_then(|&i| rec.calls.get(i))
                        .and_then(|c| c.outcome.as_ref())
                        .or(s.outcome.as_ref())?;
                    matches!(o, Outcome::Eof | Outcome::Error { .. } | Outcome::Blocked).then(
                        || {
                            let op = s
                                .text
                                .split_whitespace()
                                .take(2)
                                .collect::<Vec<_>>()
                                .join(" ");
                            let o = match o {
                                Outcome::Error { errno, .. } => errno.clone(),
                                Outcome::Eof => "EOF".into(),
                                _ => "blocked".into(),
                            };
                            format!("{op} {o}")
                        },
                    )
                })
                .collect();
            let reset_reasons = rec
                .events
                .iter()
                .filter(|e| e.event == "tcp_send_reset")
                .filter_map(|e| e.reason.map(|r| r.name()))
                .collect();
            (
                Row {
                    name,
                    passed: count(Status::Passed),
                    failed: count(Status::Failed),
                    not_checked: count(Status::NotChecked),
                    results,
                    reset_reasons,
                    ms: rec.wall_ms,
                    error: None,
                    output_error,
                },
                Some(rec),
            )
        }
    }
}

/// Runs the whole catalog, `jobs` scenarios at a time. Each worker thread spawns its own
/// actors, and lives as long as their run (PR_SET_PDEATHSIG is tied to the thread).
fn run_all(a: &RunArgs, out: &mut impl Write) -> anyhow::Result<u8> {
    // One line and one exit code for the whole catalog, not one error per scenario.
    if let Err(e) = check_privileges() {
        return Ok(fail(&e));
    }
    let dirs = match output::Dirs::plan(a.pcap.as_deref(), a.svg.as_deref()) {
        Ok(d) => d,
        Err(msg) => {
            eprintln!("tcpmortem: {msg}");
            return Ok(exit::USAGE);
        }
    };
    let opts = match options(a.settle, !a.no_tracefs, a.kernel_events) {
        Ok(o) => o,
        Err(e) => return Ok(fail(&e)),
    };
    let start = std::time::Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let progress = progress::Progress::new("lab run --all");
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..a.jobs.min(BUILTIN.len() as u16) {
            scope.spawn(|| {
                loop {
                    if tcpmortem_kernel::proc::interrupted() {
                        break;
                    }
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some((name, src)) = BUILTIN.get(i) else {
                        break;
                    };
                    let r = parse::parse(src)
                        .map_err(|e| LabError::Scenario {
                            line: e.line,
                            message: e.message,
                        })
                        .and_then(|sc| run(&sc, &opts));
                    let written = match &r {
                        Ok(run) => dirs.write(name, run),
                        Err(_) => Ok(()),
                    };
                    let done = row(name, r, written.err());
                    if let Ok(mut v) = results.lock() {
                        v.push((i, done));
                    }
                    let n = finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    progress.update(n, BUILTIN.len(), "scenarios");
                }
            });
        }
    });
    progress.done();
    if tcpmortem_kernel::proc::interrupted() {
        eprintln!("tcpmortem: {}", interrupted_message());
        return Ok(interrupted_code());
    }
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    let wall = start.elapsed().as_secs_f64();
    if a.json {
        let rows: Vec<&Row> = results.iter().map(|(_, (r, _))| r).collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
    } else {
        timeline::matrix(out, results.iter().map(|(_, (r, _))| r))?;
        writeln!(
            out,
            "{} scenarios in {wall:.1} s wall time, {} at a time",
            results.len(),
            a.jobs
        )?;
    }
    out.flush()?;
    let mut failed = false;
    let mut io_failed = false;
    for (_, (r, rec)) in &results {
        if let Some(e) = &r.error {
            eprintln!("tcpmortem: {}: {e}", r.name);
            failed = true;
        }
        if let Some(e) = &r.output_error {
            eprintln!("tcpmortem: {}: {e}", r.name);
            io_failed = true;
        }
        if let Some(rec) = rec {
            failed |= report_failures(rec);
        }
    }
    Ok(if io_failed {
        exit::IO_ERROR
    } else if failed {
        exit::EXPECTATION_FAILED
    } else {
        exit::OK
    })
}

fn repro(a: &ReproArgs, out: &mut impl Write) -> anyhow::Result<u8> {
    let query = a.error.join(" ");
    let answer = tcpmortem_core::query::explain(&query, None);
    let Some(entry) = answer.matches.iter().find_map(|m| match m.target {
        tcpmortem_core::query::Target::Entry(e) => Some(e),
        _ => None,
    }) else {
        eprintln!(
            "tcpmortem: no known error in {query:?}; closest: {}",
            answer.suggestions.join(", ")
        );
        return Ok(exit::UNKNOWN_QUERY);
    };
    if entry.scenarios.is_empty() {
        eprintln!(
            "tcpmortem: no built-in scenario reproduces {} yet",
            entry.title
        );
        return Ok(exit::NO_INPUT);
    }
    let opts = match options(None, true, None) {
        Ok(o) => o,
        Err(e) => return Ok(fail(&e)),
    };
    let mut records = Vec::new();
    let mut failed = false;
    for name in entry.scenarios {
        let Some(src) = source(name) else { continue };
        let sc = parse::parse(src).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let r = match run(&sc, &opts) {
            Ok(r) => r,
            Err(LabError::Interrupted) => {
                eprintln!("tcpmortem: {}", interrupted_message());
                return Ok(interrupted_code());
            }
            Err(e) => {
                eprintln!("tcpmortem: {name}: {e}");
                return Ok(exit_code(&e));
            }
        };
        if r.record.interrupted.is_some() {
            eprintln!("tcpmortem: {}", interrupted_message());
            return Ok(interrupted_code());
        }
        failed |= report_failures(&r.record);
        if !a.json {
            writeln!(out, "━━━ tcpmortem lab run {name}")?;
            let explanation = tcpmortem_lab::explain::explain(&r.record);
            timeline::render(&r.record, &explanation, out)?;
            writeln!(out)?;
        }
        records.push(r.record);
    }
    if a.json {
        let all: Vec<RunJson> = records.iter().map(run_json).collect();
        serde_json::to_writer_pretty(&mut *out, &all)?;
        writeln!(out)?;
    }
    Ok(if failed {
        exit::EXPECTATION_FAILED
    } else {
        exit::OK
    })
}
