//! `tcpmortem lab`: run, show and list scenarios.

mod svg;
mod timeline;

use crate::exit;
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use tcpmortem_core::catalog::{ENTRIES, Entry};
use tcpmortem_lab::LabError;
use tcpmortem_lab::builtin::{BUILTIN, source};
use tcpmortem_lab::expect::Status;
use tcpmortem_lab::record::{Outcome, Record};
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
#[derive(Debug, clap::Args)]
struct ListArgs {
    /// A JSON array of objects with name, description and errors.
    #[arg(long)]
    json: bool,
}

/// Run a scenario: a built-in name (see `lab list`), a scenario file, or `-` for stdin.
///
/// Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN + CAP_NET_RAW, and CAP_DAC_OVERRIDE for the
/// kernel's events). Nothing outside the run's own namespaces is touched, and nothing is left
/// behind, however the run ends.
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
    /// carries a comment naming the step that caused it).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,

    /// Print the whole record as one JSON object.
    #[arg(long)]
    json: bool,

    /// Write a ladder diagram of the run (SVG): lifelines, packets, calls, states, kernel
    /// events.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,

    /// Quiet time that ends each step (overrides the scenario's; default 50ms).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    settle: Option<std::time::Duration>,

    /// Do not record kernel events (tracefs): no RST reasons or stored errors.
    #[arg(long)]
    no_tracefs: bool,
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
    crate::ladder::label(p.flags, p.seq, p.ack, p.len)
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

/// The errors a built-in scenario produces, from the catalog's links to it.
fn errors_of(name: &str) -> Vec<&'static Entry> {
    ENTRIES
        .iter()
        .filter(|e| e.scenarios.contains(&name))
        .collect()
}

/// "ECONNRESET / WSAECONNRESET 10054 / ECONNRESET 54", or the entry's id for non-errnos.
fn identity(e: &Entry) -> String {
    match (e.linux, e.windows, e.bsd) {
        (None, None, None) => e.id.to_string(),
        (l, w, b) => [
            l.map(|x| x.name.to_string()).unwrap_or_else(|| "-".into()),
            w.map(|x| format!("{} {}", x.name, x.code))
                .unwrap_or_else(|| "-".into()),
            b.map(|x| format!("{} {}", x.name, x.number))
                .unwrap_or_else(|| "-".into()),
        ]
        .join(" / "),
    }
}

fn list(json: bool, out: &mut impl Write) -> anyhow::Result<u8> {
    #[derive(serde::Serialize)]
    struct ErrorJson {
        id: &'static str,
        linux: Option<&'static str>,
        windows: Option<String>,
        macos: Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Item {
        name: &'static str,
        description: String,
        errors: Vec<ErrorJson>,
    }
    let items: Vec<Item> = BUILTIN
        .iter()
        .map(|(name, src)| Item {
            name,
            description: scenario::parse(src)
                .map(|s| s.description)
                .unwrap_or_default(),
            errors: errors_of(name)
                .into_iter()
                .map(|e| ErrorJson {
                    id: e.id,
                    linux: e.linux.map(|x| x.name),
                    windows: e.windows.map(|w| format!("{} {}", w.name, w.code)),
                    macos: e.bsd.map(|b| format!("{} {}", b.name, b.number)),
                })
                .collect(),
        })
        .collect();
    if json {
        serde_json::to_writer_pretty(&mut *out, &items)?;
        writeln!(out)?;
        return Ok(exit::OK);
    }
    // Names in a column as wide as the longest; on a terminal the text beside them wraps.
    let name_width = items.iter().map(|i| i.name.len()).max().unwrap_or(0);
    let text_width = crate::layout::terminal_width()
        .map_or(usize::MAX, |w| w.saturating_sub(name_width + 2).max(30));
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    for (item, (name, _)) in items.iter().zip(BUILTIN) {
        let errs: Vec<String> = errors_of(name).into_iter().map(identity).collect();
        let mut lines = crate::layout::wrap(&words(&item.description), " ", text_width);
        if !errs.is_empty() {
            let label = "errors (Linux / Windows / macOS):";
            let line = format!("{label} {}", errs.join("; "));
            if line.chars().count() <= text_width {
                lines.push(line);
            } else {
                // Wrapped between errors, never inside one.
                lines.push(label.to_string());
                lines.extend(crate::layout::wrap(&errs, "; ", text_width));
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
        LabError::Interrupted => exit::INTERRUPTED,
        LabError::Actor(_) => exit::INTERNAL,
    }
}

/// Prints a run's error and gives its exit code.
fn fail(e: &LabError) -> u8 {
    eprintln!("tcpmortem: {e}");
    exit_code(e)
}

fn options(settle: Option<std::time::Duration>, tracefs: bool) -> Result<RunOptions, LabError> {
    tcpmortem_kernel::proc::catch_interrupts().map_err(|e| LabError::Setup(e.to_string()))?;
    let exe = std::env::current_exe()
        .map_err(|e| LabError::Setup(format!("locating the tcpmortem executable: {e}")))?;
    let mut opts = RunOptions::new(exe);
    opts.settle = settle;
    opts.tracefs = tracefs;
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

#[derive(serde::Serialize)]
struct RunJson<'a> {
    #[serde(flatten)]
    record: &'a Record,
    explanation: Vec<String>,
}

fn run_json(record: &Record) -> RunJson<'_> {
    RunJson {
        record,
        explanation: tcpmortem_lab::explain::explain(record),
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
    let mut sc =
        scenario::parse(&src).map_err(|e| (exit::BAD_SCENARIO, format!("{origin}:{e}")))?;
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
    let opts = match options(a.settle, !a.no_tracefs) {
        Ok(o) => o,
        Err(e) => return Ok(fail(&e)),
    };
    let result = match run(&sc, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tcpmortem: {}", located(&origin, &e));
            return Ok(exit_code(&e));
        }
    };
    if let Some(path) = &a.pcap {
        let f =
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
        tcpmortem_lab::pcap::write(std::io::BufWriter::new(f), &result.record, &result.frames)
            .with_context(|| format!("write {}", path.display()))?;
    }
    if let Some(path) = &a.svg {
        std::fs::write(path, svg::render(&result.record))
            .with_context(|| format!("write {}", path.display()))?;
    }
    if a.json {
        serde_json::to_writer_pretty(&mut *out, &run_json(&result.record))?;
        writeln!(out)?;
    } else {
        let explanation = tcpmortem_lab::explain::explain(&result.record);
        timeline::render(&result.record, &explanation, out)?;
    }
    out.flush()?;
    Ok(if report_failures(&result.record) {
        exit::EXPECTATION_FAILED
    } else {
        exit::OK
    })
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
}

fn row(name: &'static str, r: Result<tcpmortem_lab::run::Run, LabError>) -> (Row, Option<Record>) {
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
            },
            None,
        ),
        Ok(run) => {
            let rec = run.record;
            let count = |st: Status| rec.expectations.iter().filter(|v| v.status == st).count();
            let results = rec
                .steps
                .iter()
                .filter_map(|s| {
                    let o = s.outcome.as_ref()?;
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
                .filter(|e| e.tcp.event == "tcp_send_reset")
                .filter_map(|e| e.tcp.reason.map(|r| r.name()))
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
                },
                Some(rec),
            )
        }
    }
}

/// Runs the whole catalog, `jobs` scenarios at a time. Each worker thread spawns its own
/// actors, and lives as long as their run (PR_SET_PDEATHSIG is tied to the thread).
fn run_all(a: &RunArgs, out: &mut impl Write) -> anyhow::Result<u8> {
    let opts = match options(a.settle, !a.no_tracefs) {
        Ok(o) => o,
        Err(e) => return Ok(fail(&e)),
    };
    let start = std::time::Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..a.jobs.min(BUILTIN.len() as u16) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some((name, src)) = BUILTIN.get(i) else {
                        break;
                    };
                    let r = scenario::parse(src)
                        .map_err(|e| LabError::Scenario {
                            line: e.line,
                            message: e.message,
                        })
                        .and_then(|sc| run(&sc, &opts));
                    let done = row(name, r);
                    if let Ok(mut v) = results.lock() {
                        v.push((i, done));
                    }
                }
            });
        }
    });
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
    for (_, (r, rec)) in &results {
        if let Some(e) = &r.error {
            eprintln!("tcpmortem: {}: {e}", r.name);
            failed = true;
        }
        if let Some(rec) = rec {
            failed |= report_failures(rec);
        }
    }
    Ok(if failed {
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
    let opts = match options(None, true) {
        Ok(o) => o,
        Err(e) => return Ok(fail(&e)),
    };
    let mut records = Vec::new();
    let mut failed = false;
    for name in entry.scenarios {
        let Some(src) = source(name) else { continue };
        let sc = scenario::parse(src).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let r = match run(&sc, &opts) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("tcpmortem: {name}: {e}");
                return Ok(exit_code(&e));
            }
        };
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
