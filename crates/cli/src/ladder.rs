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
    let style = style(flags);
    let shaft = "─".repeat(WIDTH.saturating_sub(label.chars().count() + 4));
    let line = if from_client {
        format!("client │ {style}{label}{style:#} {shaft}▶ │ server{note}")
    } else {
        format!("client │ ◀{shaft} {style}{label}{style:#} │ server{note}")
    };
    writeln!(out, "{t_ms:>9.3}  {line}")
}
