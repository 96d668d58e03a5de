//! The human timeline of a lab run: steps, every connection's two ends (the seed's netstat),
//! the packet ladder between client and server with the router's ICMP errors, kernel events,
//! the kernel's counters, what Windows and macOS would do, and the plain-language ending.
//! With several connections every line names its own (`client#2`).

use crate::layout::{Cell, Column, Table, count};
use anstyle::{AnsiColor, Style};
use std::io::{self, Write};
use tcpmortem_core::TcpState;
use tcpmortem_lab::record::{
    CallRecord, EndState, KernelEvent, Outcome, PacketRecord, ProgramCall, Proto, Record, Status,
    StepRecord,
};
use tcpmortem_lab::scenario::{Actor, Host};

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const CYAN: Style = AnsiColor::Cyan.on_default();
const MAGENTA: Style = AnsiColor::Magenta.on_default();
const BLUE: Style = AnsiColor::Blue.on_default();

const LADDER: usize = crate::ladder::WIDTH;

fn ms(ns: u64) -> String {
    format!("{:>9.3}", ns as f64 / 1e6)
}

enum Item<'a> {
    Packet(&'a PacketRecord),
    Event(&'a KernelEvent),
    Returned(&'a CallRecord),
    Program(&'a ProgramCall),
}

/// When a program's call is shown: when it returned (its result is the news), or when it
/// started if it never did.
fn program_call_at(c: &ProgramCall) -> u64 {
    c.returned_ns.unwrap_or(c.start_ns)
}

/// `  46.963  curl[2028] client connect fd 5 → EINPROGRESS (115)`.
fn program_call(out: &mut impl Write, r: &Record, t: u64, c: &ProgramCall) -> io::Result<()> {
    let style = match &c.outcome {
        Some(Outcome::Error { errno, .. }) if errno != "EINPROGRESS" && errno != "EAGAIN" => RED,
        Some(Outcome::Eof) | None => YELLOW,
        _ => CYAN,
    };
    let waited = match c.returned_ns {
        Some(e) if e.saturating_sub(c.start_ns) >= 10_000_000 => {
            format!(" (waited {:.1} ms)", (e - c.start_ns) as f64 / 1e6)
        }
        None => " (still waiting at the end)".into(),
        _ => String::new(),
    };
    writeln!(
        out,
        "{}  {style}{}[{}] {} {}{waited}{style:#}",
        ms(t),
        c.program,
        c.pid,
        r.label(c.host, c.conn),
        c.text()
    )?;
    for o in &c.other_os {
        writeln!(
            out,
            "{:>9}  {MAGENTA}{}: {}{MAGENTA:#} {DIM}[{}] {}{DIM:#}",
            "",
            o.os,
            o.result,
            o.basis.tag(),
            o.why
        )?;
    }
    Ok(())
}

/// The programs at the end of the timeline: how each ended, and what it printed.
fn programs(out: &mut impl Write, r: &Record) -> io::Result<()> {
    if r.programs.is_empty() {
        return Ok(());
    }
    writeln!(out, "{BOLD}Programs{BOLD:#}")?;
    for p in &r.programs {
        let end = match (&p.exit, p.ended_ns) {
            (Some(e), Some(t)) => format!("{} at {:.1} ms", e.text(), t as f64 / 1e6),
            _ if p.timed_out => "killed at its time limit".into(),
            _ => "still running when the run ended (killed then)".into(),
        };
        writeln!(
            out,
            "  {} {} (pid {}): {end} · {}",
            p.host,
            p.name,
            p.pid,
            p.argv.join(" ")
        )?;
        for (name, text, total) in [
            ("stdout", &p.stdout, p.stdout_bytes),
            ("stderr", &p.stderr, p.stderr_bytes),
        ] {
            if total == 0 {
                continue;
            }
            let mut lines = text.lines();
            if let Some(first) = lines.next() {
                writeln!(out, "    {DIM}{name}:{DIM:#} {first}")?;
            }
            for l in lines {
                writeln!(out, "    {:w$} {l}", "", w = name.len() + 1)?;
            }
            if total as usize > text.len() {
                writeln!(
                    out,
                    "    {DIM}({} of {total} bytes shown){DIM:#}",
                    text.len()
                )?;
            }
        }
    }
    Ok(())
}

/// `after 1031.2 ms`, for a call that took long enough for its time to matter.
fn took(c: &CallRecord) -> String {
    match c.returned_ns {
        Some(t) if t.saturating_sub(c.start_ns) >= 10_000_000 => {
            format!(" after {:.1} ms", t.saturating_sub(c.start_ns) as f64 / 1e6)
        }
        _ => String::new(),
    }
}

pub fn render(r: &Record, explanation: &[String], out: &mut impl Write) -> io::Result<()> {
    let a = &r.addresses;
    writeln!(
        out,
        "{BOLD}{}{BOLD:#}: {}",
        r.scenario.name, r.scenario.description
    )?;
    writeln!(
        out,
        "{DIM}client {} ── router ── server {} · Linux {} · {} (host default {}) · settle {} ms{DIM:#}",
        a.client,
        std::net::SocketAddr::new(a.server, a.server_port),
        r.environment.kernel,
        r.environment.congestion_control,
        r.environment.host_congestion_control,
        r.environment.settle_ms
    )?;
    if r.several() {
        let conns: Vec<String> = r
            .connections
            .iter()
            .map(|c| format!("#{} {} → {}", c.id, c.client, c.server))
            .collect();
        writeln!(out, "{DIM}connections: {}{DIM:#}", conns.join(", "))?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{DIM}{:>9}  {:<width$}{DIM:#}",
        "ms",
        format!("client{}server", " ".repeat(LADDER + 4)),
        width = LADDER + 8
    )?;
    let mut prev: &[tcpmortem_lab::record::ListenerState] = &[];
    for s in &r.steps {
        step_line(out, r, s)?;
        let end = r.steps.get(s.index + 1).map_or(u64::MAX, |n| n.start_ns);
        let mut items: Vec<(u64, Item)> = Vec::new();
        items.extend(
            r.packets
                .iter()
                .filter(|p| p.step == s.index)
                .map(|p| (p.t_ns, Item::Packet(p))),
        );
        items.extend(
            r.events
                .iter()
                .filter(|e| e.order_ns >= s.start_ns && e.order_ns < end)
                .filter(|e| show_event(e))
                .map(|e| (e.order_ns, Item::Event(e))),
        );
        items.extend(
            r.calls
                .iter()
                .filter(|c| c.blocked)
                .filter_map(|c| c.returned_ns.map(|t| (t, c)))
                .filter(|(t, _)| *t >= s.start_ns && *t < end)
                .map(|(t, c)| (t, Item::Returned(c))),
        );
        items.extend(
            r.program_calls
                .iter()
                .map(|c| (program_call_at(c), c))
                .filter(|(t, _)| (*t >= s.start_ns || s.index == 0) && *t < end)
                .map(|(t, c)| (t, Item::Program(c))),
        );
        items.sort_by_key(|(t, _)| *t);
        for (t, item) in items {
            match item {
                Item::Packet(p) => packet(out, r, t, p)?,
                Item::Event(e) => event(out, r, t, e)?,
                Item::Program(c) => program_call(out, r, t, c)?,
                Item::Returned(c) => writeln!(
                    out,
                    "{}  {YELLOW}↳ [{}] `{}` (was blocked) returned → {}{}{}{YELLOW:#}",
                    ms(t),
                    c.step + 1,
                    r.steps
                        .get(c.step)
                        .map_or(c.call.as_str(), |s| s.text.as_str()),
                    c.outcome.as_ref().map_or("?".into(), Outcome::text),
                    if c.sigpipe { " + SIGPIPE" } else { "" },
                    took(c)
                )?,
            }
        }
        states(out, r, &s.before, &s.after)?;
        // A listener is shown while connections wait in its accept queue, and once more
        // when the queue changes.
        let queued: Vec<String> = s
            .listeners
            .iter()
            .filter(|l| {
                let before = prev.iter().find(|p| p.host == l.host && p.local == l.local);
                l.accept_queue > 0 || before.is_some_and(|p| p.accept_queue != l.accept_queue)
            })
            .map(|l| {
                format!(
                    "{} {} LISTEN (accept queue {}, backlog {})",
                    l.host, l.local, l.accept_queue, l.backlog
                )
            })
            .collect();
        prev = &s.listeners;
        if !queued.is_empty() {
            writeln!(
                out,
                "{:>9}  {DIM}listener: {}{DIM:#}",
                "",
                queued.join(" │ ")
            )?;
        }
        counted(out, s)?;
        for v in r.expectations.iter().filter(|v| v.step == s.index) {
            let (mark, style) = match v.status {
                Status::Passed => ("✓", GREEN),
                Status::Failed => ("✗", RED),
                Status::NotChecked => ("–", YELLOW),
            };
            let why = match v.status {
                Status::Passed => String::new(),
                _ => format!(" (observed: {})", v.observed),
            };
            writeln!(out, "{:>9}  {style}{mark} {}{why}{style:#}", "", v.text)?;
        }
        for o in &s.other_os {
            writeln!(
                out,
                "{:>9}  {MAGENTA}{}: {}{MAGENTA:#} {DIM}[{}] {}{DIM:#}",
                "",
                o.os,
                o.result,
                o.basis.tag(),
                o.why
            )?;
        }
    }
    if let Some(i) = &r.interrupted {
        writeln!(
            out,
            "{}  {RED}✕ interrupted by {} during step {}: nothing after it is recorded{RED:#}",
            ms(i.at_ns),
            i.name,
            i.step + 1
        )?;
    }
    writeln!(out)?;
    writeln!(out, "{BOLD}What happened{BOLD:#}")?;
    for line in explanation {
        writeln!(out, "  • {line}")?;
    }
    programs(out, r)?;
    if !r.expectations.is_empty() {
        let count = |st: Status| r.expectations.iter().filter(|v| v.status == st).count();
        writeln!(
            out,
            "{BOLD}Expectations:{BOLD:#} {} passed, {} failed, {} not checked",
            count(Status::Passed),
            count(Status::Failed),
            count(Status::NotChecked)
        )?;
    }
    for n in &r.notes {
        writeln!(out, "{YELLOW}note: {n}{YELLOW:#}")?;
    }
    writeln!(
        out,
        "{DIM}{}, {}, {}, {} in {:.0} ms · states by sock_diag after each step settled · calls block, each on its own thread · R = RST, F = FIN, S = SYN, P = PSH, . = ACK{DIM:#}",
        count(r.steps.len(), "step", "steps"),
        count(r.connections.len(), "connection", "connections"),
        count(r.packets.len(), "packet", "packets"),
        count(r.events.len(), "kernel event", "kernel events"),
        r.wall_ms
    )
}

fn step_line(out: &mut impl Write, r: &Record, s: &StepRecord) -> io::Result<()> {
    let last = s.calls.last().and_then(|&i| r.calls.get(i));
    let result = match &s.outcome {
        Some(o) => {
            let style = match o {
                Outcome::Error { .. } => RED,
                Outcome::Eof | Outcome::Blocked | Outcome::Killed => YELLOW,
                _ => GREEN,
            };
            let sig = if s.sigpipe { " + SIGPIPE" } else { "" };
            let after = last.filter(|c| !c.blocked).map(took).unwrap_or_default();
            format!(" → {style}{}{sig}{style:#}{after}", o.text())
        }
        None if r.interrupted.as_ref().is_some_and(|i| i.step == s.index) => {
            format!(" → {RED}interrupted{RED:#}")
        }
        None => String::new(),
    };
    let conn = match s.conn {
        Some(c) if r.several() => format!(" {DIM}(connection #{c}){DIM:#}"),
        _ => String::new(),
    };
    writeln!(
        out,
        "{}  {BOLD}[{}] {}{BOLD:#}{conn}{result}",
        ms(s.start_ns),
        s.index + 1,
        s.text
    )?;
    if s.calls.len() > 1 {
        let calls: Vec<String> = s
            .calls
            .iter()
            .filter_map(|&i| r.calls.get(i))
            .map(|c| {
                format!(
                    "{} → {}",
                    c.call,
                    c.outcome.as_ref().map_or("blocked".into(), Outcome::text)
                )
            })
            .collect();
        writeln!(out, "{:>9}  {DIM}calls: {}{DIM:#}", "", calls.join(" · "))?;
    }
    Ok(())
}

/// State changes are shown through the states line; events that explain a death are shown
/// on their own.
fn show_event(e: &KernelEvent) -> bool {
    match e.event.as_str() {
        "inet_sock_set_state" => e.new_state == Some(TcpState::Close),
        _ => true,
    }
}

fn ends(r: &Record, conn: Option<u32>) -> (String, String) {
    (r.label(Actor::Client, conn), r.label(Actor::Server, conn))
}

fn packet(out: &mut impl Write, r: &Record, t: u64, p: &PacketRecord) -> io::Result<()> {
    let (left, right) = ends(r, p.conn);
    match &p.proto {
        Proto::Tcp { flags, .. } => {
            let rejected = !p.crossed
                && !p.forged
                && r.packets.iter().any(|q| {
                    matches!(&q.proto, Proto::Icmp { quoted_seq, .. } if q.conn == p.conn && Some(seq_of(p)) == *quoted_seq && q.t_ns >= p.t_ns)
                });
            let lost = if p.forged {
                " ⚠ forged by the router"
            } else if p.crossed {
                ""
            } else if rejected {
                " ✕ rejected by the router"
            } else {
                " ✕ not forwarded"
            };
            let label = super::segment_label(p);
            crate::ladder::rung_between(
                out,
                t as f64 / 1e6,
                (&left, &right),
                p.from == Host::Client,
                crate::ladder::style(*flags),
                &label,
                lost,
            )
        }
        Proto::Icmp {
            to,
            message,
            v6,
            quoted_seq,
            ..
        } => {
            let about = quoted_seq
                .map(|s| format!(" (seq {s})"))
                .unwrap_or_default();
            let label = format!("{} {message}{about}", if *v6 { "ICMPv6" } else { "ICMP" });
            if p.from == Host::Router {
                crate::ladder::rung_from_router(
                    out,
                    t as f64 / 1e6,
                    (&left, &right),
                    *to == Actor::Client,
                    BLUE,
                    &label,
                    "",
                )
            } else {
                crate::ladder::rung_between(
                    out,
                    t as f64 / 1e6,
                    (&left, &right),
                    p.from == Host::Client,
                    BLUE,
                    &label,
                    "",
                )
            }
        }
    }
}

fn seq_of(p: &PacketRecord) -> u32 {
    match &p.proto {
        Proto::Tcp { seq, .. } => *seq,
        Proto::Icmp { .. } => u32::MAX,
    }
}

fn event(out: &mut impl Write, r: &Record, t: u64, e: &KernelEvent) -> io::Result<()> {
    let host = r.label(e.host, e.conn);
    let text = match e.event.as_str() {
        "tcp_send_reset" => format!(
            "{host} kernel sends RST: {}{}",
            e.reason
                .map(|r| r.name())
                .unwrap_or_else(|| "no reason (kernel < 6.10)".into()),
            e.state
                .map(|s| format!(" (socket in {s})"))
                .unwrap_or_default()
        ),
        "tcp_receive_reset" => format!("{host} kernel receives the RST"),
        "inet_sk_error_report" => format!(
            "{host} kernel stores {} on the socket (not necessarily what the next call returns)",
            e.error.as_deref().unwrap_or("?")
        ),
        "inet_sock_set_state" => format!(
            "{host} socket {} → {}{}",
            e.old_state.map(|s| s.name()).unwrap_or("?"),
            e.new_state.map(|s| s.name()).unwrap_or("?"),
            match e.old_state {
                // tcp_time_wait(): a closed socket's FIN_WAIT2 or TIME_WAIT continues as a
                // timewait mini-socket, which sock_diag still lists.
                Some(TcpState::FinWait2 | TcpState::TimeWait) =>
                    " (handed to a timewait mini-socket)",
                Some(TcpState::Listen) => " (listener closed)",
                _ => "",
            }
        ),
        other => format!("{host} {other}"),
    };
    writeln!(out, "{}  {CYAN}⚙ {text}{CYAN:#}", ms(t))
}

fn one_state(e: &EndState) -> String {
    match e.state {
        Some(_) => format!(
            "{} (Recv-Q {}, Send-Q {})",
            e.state_name(),
            e.recv_q,
            e.send_q
        ),
        None => "no socket".into(),
    }
}

fn states(
    out: &mut impl Write,
    r: &Record,
    before: &[EndState],
    after: &[EndState],
) -> io::Result<()> {
    if after.is_empty() {
        return Ok(());
    }
    let mut conns: Vec<u32> = after.iter().map(|e| e.conn).collect();
    conns.dedup();
    for (n, conn) in conns.iter().enumerate() {
        let mut parts = Vec::new();
        for a in after.iter().filter(|e| e.conn == *conn) {
            let label = r.label(a.host, Some(a.conn));
            let b = before.iter().find(|b| b.host == a.host && b.conn == a.conn);
            let text = match b {
                Some(b) if b.state != a.state => {
                    let was = b.state.map_or("no socket", |s| s.name());
                    format!("{label} {was} → {}", one_state(a))
                }
                _ => format!("{label} {}", one_state(a)),
            };
            parts.push(text);
        }
        let head = if n == 0 { "states: " } else { "        " };
        writeln!(out, "{:>9}  {DIM}{head}{}{DIM:#}", "", parts.join(" │ "))?;
    }
    Ok(())
}

/// The counters that tell how a connection died, per host: "kernel counted: server
/// ListenOverflows +1, ListenDrops +1".
fn counted(out: &mut impl Write, s: &StepRecord) -> io::Result<()> {
    let mut parts = Vec::new();
    for host in [Host::Client, Host::Router, Host::Server] {
        let moved: Vec<String> = s
            .counters
            .iter()
            .filter(|d| d.host == host && tcpmortem_lab::counters::telling(&d.group, &d.name))
            .map(|d| format!("{} {:+}", d.name, d.delta))
            .collect();
        if !moved.is_empty() {
            parts.push(format!("{host} {}", moved.join(", ")));
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "{:>9}  {BLUE}kernel counted: {}{BLUE:#}",
        "",
        parts.join(" · ")
    )
}

/// The `lab run --all` matrix: one row per scenario, columns as wide as their content; on a
/// terminal the results and RST reasons wrap to fit its width.
pub fn matrix<'a>(
    out: &mut impl Write,
    rows: impl Iterator<Item = &'a super::Row>,
) -> io::Result<()> {
    let column = |header, right, wraps| Column {
        header,
        right,
        wraps,
    };
    let or_dash = |v: &[String]| {
        if v.is_empty() {
            vec!["-".to_string()]
        } else {
            v.to_vec()
        }
    };
    let rows = rows
        .map(|r| {
            let (mark, style) = if r.error.is_some() || r.failed > 0 {
                ("✗", RED)
            } else {
                ("✓", GREEN)
            };
            let expect = match &r.error {
                Some(_) => "error".to_string(),
                None => format!("{}/{}", r.passed, r.passed + r.failed + r.not_checked),
            };
            vec![
                Cell::new(r.name),
                Cell::new(format!("{mark} {expect}")).styled(style),
                Cell::new(format!("{:.0}ms", r.ms)),
                Cell::list(or_dash(&r.results)),
                Cell::list(or_dash(&r.reset_reasons)),
            ]
        })
        .collect();
    Table {
        columns: vec![
            column("scenario", false, false),
            column("expect", false, false),
            column("time", true, false),
            column("results", false, true),
            column("RST reasons", false, true),
        ],
        rows,
        sep: ", ",
    }
    .render(out, crate::layout::terminal_width())
}

#[cfg(test)]
mod tests {
    use super::super::Row;

    fn row(name: &'static str, results: &[&str], reasons: &[&str]) -> Row {
        Row {
            name,
            passed: 12,
            failed: 0,
            not_checked: 0,
            results: results.iter().map(|s| s.to_string()).collect(),
            reset_reasons: reasons.iter().map(|s| s.to_string()).collect(),
            ms: 1176.0,
            error: None,
            output_error: None,
        }
    }

    #[test]
    fn the_matrix_keeps_its_columns_whatever_the_results() {
        let rows = [
            row("graceful-close", &["server recv EOF"], &[]),
            row(
                "server-crashes-with-unread-data",
                &[
                    "client recv ECONNRESET",
                    "client recv EOF",
                    "client send EPIPE",
                ],
                &["TCP_ABORT_ON_CLOSE"],
            ),
            row(
                "local-abort",
                &["client recv ECONNABORTED", "server recv ECONNRESET"],
                &["TCP_STATE", "NO_SOCKET"],
            ),
        ];
        let mut out = Vec::new();
        super::matrix(&mut out, rows.iter()).unwrap();
        let text = anstream::adapter::strip_str(std::str::from_utf8(&out).unwrap()).to_string();
        let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
        let col = |name: &str| text.lines().next().unwrap().find(name).unwrap();
        let (results, reasons) = (col("results"), col("RST reasons"));
        let from = |line: &[char], at: usize, to: usize| -> String {
            line[at.min(line.len())..to.min(line.len())]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_string()
        };
        let want = [
            ("server recv EOF", "-"),
            (
                "client recv ECONNRESET, client recv EOF, client send EPIPE",
                "TCP_ABORT_ON_CLOSE",
            ),
            (
                "client recv ECONNABORTED, server recv ECONNRESET",
                "TCP_STATE, NO_SOCKET",
            ),
        ];
        for (line, (res, rst)) in lines[1..].iter().zip(want) {
            assert_eq!(from(line, results, reasons), res, "\n{text}");
            assert_eq!(from(line, reasons, usize::MAX), rst, "\n{text}");
        }
    }
}

/// Timelines rendered from saved records (no root needed).
#[cfg(test)]
mod records {
    use tcpmortem_lab::record::Record;

    /// A record saved from a real run (tests/data/lab, made by scripts/refresh-lab-records).
    pub fn record(name: &str) -> Record {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/lab")
            .join(format!("{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    /// The text without its colours.
    pub fn plain(b: &[u8]) -> String {
        let s = String::from_utf8_lossy(b);
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn timeline(name: &str) -> String {
        let r = record(name);
        let mut out = Vec::new();
        super::render(&r, &tcpmortem_lab::explain::explain(&r), &mut out).unwrap();
        plain(&out)
    }

    /// Several connections: every line names its own.
    #[test]
    fn accept_queue_abort_timeline() {
        insta::assert_snapshot!(timeline("accept-queue-abort"));
    }

    /// The router's ICMP errors, the blocking connect's time, the kernel's counters.
    #[test]
    fn icmp_unreachable_connect_timeline() {
        insta::assert_snapshot!(timeline("icmp-unreachable-connect"));
    }

    /// The seed.
    #[test]
    fn server_closes_early_timeline() {
        insta::assert_snapshot!(timeline("server-closes-early"));
    }
}
