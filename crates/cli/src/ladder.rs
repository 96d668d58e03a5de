//! The packet ladder shared by the lab timeline and `analyze --conn`: one line per segment
//! between the client and server lifelines, labelled the way tcpdump sums a segment up.

use anstyle::{AnsiColor, Style};
use std::io::{self, Write};
use tcpmortem_wire::Flags;

/// Width of the ladder between the two lifelines.
pub const WIDTH: usize = 58;

/// `P. seq 1:6 ack 1 len 5`, with sequence numbers relative to each side's first.
pub fn label(flags: Flags, seq: u32, ack: u32, len: u32) -> String {
    let mut label = format!("{flags} seq {seq}");
    if len > 0 {
        label.push_str(&format!(":{}", seq.wrapping_add(len)));
    }
    if flags.has(Flags::ACK) {
        label.push_str(&format!(" ack {ack}"));
    }
    if len > 0 {
        label.push_str(&format!(" len {len}"));
    }
    label
}

/// RST red, FIN yellow, SYN green.
pub fn style(flags: Flags) -> Style {
    if flags.has(Flags::RST) {
        AnsiColor::Red.on_default().bold()
    } else if flags.has(Flags::FIN) {
        AnsiColor::Yellow.on_default()
    } else if flags.has(Flags::SYN) {
        AnsiColor::Green.on_default()
    } else {
        Style::new()
    }
}

/// One rung: `   12.345  client │ S seq 0 ──────▶ │ server note`.
pub fn rung(
    out: &mut impl Write,
    t_ms: f64,
    from_client: bool,
    flags: Flags,
    label: &str,
    note: &str,
) -> io::Result<()> {
    rung_between(
        out,
        t_ms,
        ("client", "server"),
        from_client,
        style(flags),
        label,
        note,
    )
}

/// A rung between named lifelines (`client#2`, `server#2`), in a given style.
pub fn rung_between(
    out: &mut impl Write,
    t_ms: f64,
    (left, right): (&str, &str),
    from_left: bool,
    style: Style,
    label: &str,
    note: &str,
) -> io::Result<()> {
    let shaft = "─".repeat(WIDTH.saturating_sub(label.chars().count() + 4));
    let line = if from_left {
        format!("{left} │ {style}{label}{style:#} {shaft}▶ │ {right}{note}")
    } else {
        format!("{left} │ ◀{shaft} {style}{label}{style:#} │ {right}{note}")
    };
    writeln!(out, "{t_ms:>9.3}  {line}")
}

/// A rung that starts at the router, between the lifelines: an ICMP error or a forged
/// segment. `── router` marks where it came from.
pub fn rung_from_router(
    out: &mut impl Write,
    t_ms: f64,
    (left, right): (&str, &str),
    to_left: bool,
    style: Style,
    label: &str,
    note: &str,
) -> io::Result<()> {
    let half = WIDTH / 2;
    let body = label.chars().count() + 2;
    let shaft = "─".repeat(half.saturating_sub(body + 1).max(2));
    let (arrow, plain) = if to_left {
        (
            format!("◀{shaft} {style}{label}{style:#} ┤router"),
            format!("◀{shaft} {label} ┤router"),
        )
    } else {
        (
            format!("router├ {style}{label}{style:#} {shaft}▶"),
            format!("router├ {label} {shaft}▶"),
        )
    };
    let pad = " ".repeat((WIDTH - 2).saturating_sub(plain.chars().count()));
    let line = if to_left {
        format!("{left} │ {arrow}{pad} │ {right}{note}")
    } else {
        format!("{left} │ {pad}{arrow} │ {right}{note}")
    };
    writeln!(out, "{t_ms:>9.3}  {line}")
}
