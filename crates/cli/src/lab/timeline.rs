//! The human timeline of a lab run: steps, both ends' states (the seed's netstat), the packet
//! ladder between client and server, kernel events, what Windows and macOS would do, and the
//! plain-language ending.

use crate::layout::{Cell, Column, Table, count};
use anstyle::{AnsiColor, Style};
use std::io::{self, Write};
use tcpmortem_core::TcpState;
use tcpmortem_lab::expect::Status;
use tcpmortem_lab::record::{EndState, KernelEvent, Outcome, PacketRecord, Record};
use tcpmortem_lab::scenario::Actor;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const CYAN: Style = AnsiColor::Cyan.on_default();
const MAGENTA: Style = AnsiColor::Magenta.on_default();

const LADDER: usize = crate::ladder::WIDTH;

fn ms(ns: u64) -> String {
    format!("{:>9.3}", ns as f64 / 1e6)
}

enum Item<'a> {
    Packet(&'a PacketRecord),
    Event(&'a KernelEvent),
    Completion(&'a tcpmortem_lab::record::Completion),
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
    writeln!(out)?;
    writeln!(
        out,
        "{DIM}{:>9}  {:<width$}{DIM:#}",
        "ms",
        format!("client{}server", " ".repeat(LADDER + 4)),
        width = LADDER + 8
    )?;
    for s in &r.steps {
        let result = match &s.outcome {
            Some(o) => {
                let style = match o {
                    Outcome::Error { .. } => RED,
                    Outcome::Eof | Outcome::Blocked | Outcome::Killed => YELLOW,
                    _ => GREEN,
                };
                let sig = if s.sigpipe { " + SIGPIPE" } else { "" };
                format!(" → {style}{}{sig}{style:#}", o.text())
            }
            None => String::new(),
        };
        writeln!(
            out,
            "{}  {BOLD}[{}] {}{BOLD:#}{result}",
            ms(s.start_ns),
            s.index + 1,
            s.text
        )?;
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
            r.completions
                .iter()
                .filter(|c| c.t_ns >= s.start_ns && c.t_ns < end)
                .map(|c| (c.t_ns, Item::Completion(c))),
        );
        items.sort_by_key(|(t, _)| *t);
        for (t, item) in items {
            match item {
                Item::Packet(p) => packet(out, t, p)?,
                Item::Event(e) => event(out, t, e)?,
                Item::Completion(c) => writeln!(
                    out,
                    "{}  {YELLOW}↳ [{}] `{}` (was blocked) returned → {}{YELLOW:#}",
                    ms(t),
                    c.step + 1,
                    r.steps[c.step].text,
                    c.outcome.text()
                )?,
            }
        }
        states(out, &s.before, &s.after)?;
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
    writeln!(out)?;
    writeln!(out, "{BOLD}What happened{BOLD:#}")?;
    for line in explanation {
        writeln!(out, "  • {line}")?;
    }
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
        "{DIM}{}, {}, {} in {:.0} ms · states by sock_diag after each step settled; R = RST, F = FIN, S = SYN, P = PSH, . = ACK{DIM:#}",
        count(r.steps.len(), "step", "steps"),
        count(r.packets.len(), "packet", "packets"),
        count(r.events.len(), "kernel event", "kernel events"),
        r.wall_ms
    )
}

/// State changes are shown through the states line; events that explain a death are shown
/// on their own.
fn show_event(e: &KernelEvent) -> bool {
    match e.tcp.event.as_str() {
        "inet_sock_set_state" => e.tcp.new_state == Some(TcpState::Close),
        _ => true,
    }
}

fn packet(out: &mut impl Write, t: u64, p: &PacketRecord) -> io::Result<()> {
    let lost = if p.forged {
        " ⚠ forged by the router"
    } else if p.crossed {
        ""
    } else {
        " ✕ not forwarded"
    };
    let label = super::segment_label(p);
    crate::ladder::rung(
        out,
        t as f64 / 1e6,
        p.from == Actor::Client,
        p.flags,
        &label,
        lost,
    )
}

fn event(out: &mut impl Write, t: u64, e: &KernelEvent) -> io::Result<()> {
    let host = e.host.map(|h| h.name()).unwrap_or("?");
    let text = match e.tcp.event.as_str() {
        "tcp_send_reset" => format!(
            "{host} kernel sends RST: {}{}",
            e.tcp
                .reason
                .map(|r| r.name())
                .unwrap_or_else(|| "no reason (kernel < 6.10)".into()),
            e.tcp
                .state
                .map(|s| format!(" (socket in {s})"))
                .unwrap_or_default()
        ),
        "tcp_receive_reset" => format!("{host} kernel receives the RST"),
        "inet_sk_error_report" => format!(
            "{host} kernel stores {} on the socket (not necessarily what the next call returns)",
            e.tcp.error.as_deref().unwrap_or("?")
        ),
        "inet_sock_set_state" => format!(
            "{host} socket {} → {}{}",
            e.tcp.old_state.map(|s| s.name()).unwrap_or("?"),
            e.tcp.new_state.map(|s| s.name()).unwrap_or("?"),
            match e.tcp.old_state {
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

fn states(out: &mut impl Write, before: &[EndState], after: &[EndState]) -> io::Result<()> {
    if after.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    for a in after {
        let b = before.iter().find(|b| b.host == a.host);
        let text = match b {
            Some(b) if b.state != a.state => {
                format!("{} {} → {}", a.host, b.state_name(), one_state(a))
            }
            _ => format!("{} {}", a.host, one_state(a)),
        };
        parts.push(text);
    }
    writeln!(out, "{:>9}  {DIM}states: {}{DIM:#}", "", parts.join(" │ "))
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
