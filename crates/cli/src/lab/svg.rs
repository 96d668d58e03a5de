//! `--svg FILE`: the run as a ladder diagram, like the seed's figures. Two lifelines (client
//! and server) with the router between them; packets as slanted arrows labelled with their
//! flags, seq/ack and length; the application's calls and their results in the margins; each
//! end's TCP state along its lifeline; kernel events (RST reasons, stored errors) and the
//! counters that moved as notes; ICMP errors as arrows from the router. With several
//! connections, every label names its connection (`#2`).
//!
//! Rows, not times, set the vertical layout: every step, packet and event gets its own row,
//! so that the diagram stays readable whatever the timing.

use std::fmt::Write as _;
use tcpmortem_lab::record::{EndState, Outcome, Proto, Record};
use tcpmortem_lab::scenario::{Actor, Host};
use tcpmortem_wire::Flags;

const WIDTH: f64 = 1120.0;
const CLIENT_X: f64 = 350.0;
const SERVER_X: f64 = 770.0;
const ROUTER_X: f64 = (CLIENT_X + SERVER_X) / 2.0;
const ROW: f64 = 26.0;
const TOP: f64 = 90.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn x_of(a: Actor) -> f64 {
    match a {
        Actor::Client => CLIENT_X,
        Actor::Server => SERVER_X,
    }
}

fn flag_color(f: Flags) -> &'static str {
    if f.has(Flags::RST) {
        "#c62828"
    } else if f.has(Flags::FIN) {
        "#e08700"
    } else if f.has(Flags::SYN) {
        "#2e7d32"
    } else {
        "#37474f"
    }
}

enum Row<'a> {
    Step(&'a tcpmortem_lab::record::StepRecord),
    Packet(&'a tcpmortem_lab::record::PacketRecord),
    Event(&'a tcpmortem_lab::record::KernelEvent),
    States(&'a [EndState], &'a [EndState]),
    Counted(Actor, String),
    Program(&'a tcpmortem_lab::record::ProgramCall),
}

pub fn render(r: &Record) -> String {
    let mut rows: Vec<Row> = Vec::new();
    for (i, s) in r.steps.iter().enumerate() {
        rows.push(Row::Step(s));
        let end = r.steps.get(i + 1).map_or(u64::MAX, |n| n.start_ns);
        let mut items: Vec<(u64, Row)> = r
            .packets
            .iter()
            .filter(|p| p.step == i)
            .map(|p| (p.t_ns, Row::Packet(p)))
            .collect();
        items.extend(
            r.events
                .iter()
                .filter(|e| e.order_ns >= s.start_ns && e.order_ns < end)
                .filter(|e| matches!(e.event.as_str(), "tcp_send_reset" | "inet_sk_error_report"))
                .map(|e| (e.order_ns, Row::Event(e))),
        );
        // The programs' own calls, in the margin of their host, when they returned.
        items.extend(
            r.program_calls
                .iter()
                .map(|c| (c.returned_ns.unwrap_or(c.start_ns), c))
                .filter(|(t, _)| (*t >= s.start_ns || i == 0) && *t < end)
                .map(|(t, c)| (t, Row::Program(c))),
        );
        items.sort_by_key(|(t, _)| *t);
        rows.extend(items.into_iter().map(|(_, row)| row));
        for host in Actor::BOTH {
            let moved: Vec<String> = s
                .counters
                .iter()
                .filter(|d| {
                    d.host == Host::from(host)
                        && tcpmortem_lab::counters::telling(&d.group, &d.name)
                })
                .map(|d| format!("{} {:+}", d.name, d.delta))
                .collect();
            // Rows of at most about 30 characters, so that notes stay inside the margins.
            let mut line = String::new();
            for m in moved {
                if !line.is_empty() && line.len() + m.len() > 30 {
                    rows.push(Row::Counted(host, std::mem::take(&mut line)));
                }
                if !line.is_empty() {
                    line.push_str(", ");
                }
                line.push_str(&m);
            }
            if !line.is_empty() {
                rows.push(Row::Counted(host, line));
            }
        }
        let changed = s.after.iter().any(|a| {
            s.before
                .iter()
                .find(|b| b.host == a.host && b.conn == a.conn)
                .is_none_or(|b| b.state != a.state)
        });
        if changed {
            rows.push(Row::States(&s.before, &s.after));
        }
    }
    let height = TOP + ROW * (rows.len() as f64 + 2.0) + 20.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="12">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>
<rect width="100%" height="100%" fill="white"/>
<text x="{cx}" y="24" font-size="16" font-weight="bold" text-anchor="middle">{title}</text>
<text x="{cx}" y="42" fill="#555" text-anchor="middle">{desc}</text>"##,
        cx = WIDTH / 2.0,
        title = esc(&r.scenario.name),
        desc = esc(&r.scenario.description.chars().take(150).collect::<String>()),
    );
    let bottom = height - 20.0;
    for (x, name, addr) in [
        (CLIENT_X, "client", r.addresses.client.to_string()),
        (
            SERVER_X,
            "server",
            format!(
                "{}",
                std::net::SocketAddr::new(r.addresses.server, r.addresses.server_port)
            ),
        ),
    ] {
        let _ = writeln!(
            svg,
            r##"<text x="{x}" y="66" font-weight="bold" text-anchor="middle">{name}</text><text x="{x}" y="80" fill="#555" font-size="10" text-anchor="middle">{addr}</text>
<line x1="{x}" y1="{TOP}" x2="{x}" y2="{bottom}" stroke="#222" stroke-width="2"/>"##,
            addr = esc(&addr)
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{ROUTER_X}" y="66" fill="#777" text-anchor="middle">router</text>
<line x1="{ROUTER_X}" y1="{TOP}" x2="{ROUTER_X}" y2="{bottom}" stroke="#bbb" stroke-dasharray="4 4"/>"##
    );
    let mut y = TOP + ROW;
    for row in rows {
        match row {
            Row::Step(s) => {
                let result = match &s.outcome {
                    // The addresses are in the header; the margin keeps the result short.
                    Some(Outcome::Connected { .. }) => " → connected".to_string(),
                    Some(Outcome::Accepted { .. }) => " → accepted".to_string(),
                    Some(o) => format!(
                        " → {}{}",
                        o.text(),
                        if s.sigpipe { " + SIGPIPE" } else { "" }
                    ),
                    None => String::new(),
                };
                let color = match &s.outcome {
                    Some(Outcome::Error { .. }) => "#c62828",
                    Some(Outcome::Eof | Outcome::Blocked | Outcome::Killed) => "#b26a00",
                    _ => "#1b5e20",
                };
                let conn = match s.conn {
                    Some(c) if r.several() => format!(" (#{c})"),
                    _ => String::new(),
                };
                let label = format!("[{}] {}{conn}{}", s.index + 1, s.text, result);
                let (x, anchor) = match s.actor {
                    Some(Actor::Client) => (CLIENT_X - 10.0, "end"),
                    Some(Actor::Server) => (SERVER_X + 10.0, "start"),
                    None => (ROUTER_X, "middle"),
                };
                let _ = writeln!(
                    svg,
                    r##"<text x="{x}" y="{y}" text-anchor="{anchor}" font-weight="bold" fill="{color}">{}</text>"##,
                    esc(&label)
                );
            }
            Row::Packet(p) => {
                let conn = match p.conn {
                    Some(c) if r.several() => format!("#{c} "),
                    _ => String::new(),
                };
                let (x1, x2, color, dash, label) = match &p.proto {
                    Proto::Icmp {
                        to,
                        message,
                        v6,
                        quoted_seq,
                        ..
                    } => {
                        let from_x = match p.from {
                            Host::Client => CLIENT_X,
                            Host::Server => SERVER_X,
                            Host::Router => ROUTER_X,
                        };
                        (
                            from_x,
                            x_of(*to),
                            "#1565c0",
                            r#" stroke-dasharray="2 3""#,
                            format!(
                                "{conn}{} {message}{}",
                                if *v6 { "ICMPv6" } else { "ICMP" },
                                quoted_seq
                                    .map(|s| format!(" (seq {s})"))
                                    .unwrap_or_default()
                            ),
                        )
                    }
                    Proto::Tcp { flags, .. } => {
                        let from = p.sender().unwrap_or(Actor::Client);
                        let (x1, x2) = if p.forged {
                            (ROUTER_X, x_of(from.peer()))
                        } else {
                            (
                                x_of(from),
                                if p.crossed {
                                    x_of(from.peer())
                                } else {
                                    ROUTER_X
                                },
                            )
                        };
                        let mut label = format!("{conn}{}", super::segment_label(p));
                        if p.forged {
                            label.push_str(" (forged by the router)");
                        }
                        (
                            x1,
                            x2,
                            flag_color(*flags),
                            if p.forged {
                                r#" stroke-dasharray="6 3""#
                            } else {
                                ""
                            },
                            label,
                        )
                    }
                };
                let _ = writeln!(
                    svg,
                    r##"<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="1.6" marker-end="url(#arrow)"{dash}/>
<text x="{mx}" y="{ty}" fill="{color}" text-anchor="middle" font-size="11">{}</text>"##,
                    esc(&label),
                    y1 = y - 12.0,
                    y2 = y + 6.0,
                    mx = (x1 + x2) / 2.0,
                    ty = y - 6.0,
                );
                if !p.crossed && !p.forged {
                    let _ = writeln!(
                        svg,
                        r##"<text x="{ROUTER_X}" y="{}" fill="#c62828" font-size="16" text-anchor="middle">✕</text>"##,
                        y + 10.0
                    );
                }
            }
            Row::Event(e) => {
                let host = e.host;
                let conn = match e.conn {
                    Some(c) if r.several() => format!("#{c} "),
                    _ => String::new(),
                };
                let text = match e.event.as_str() {
                    "tcp_send_reset" => format!(
                        "{conn}kernel sends RST: {}",
                        e.reason
                            .map(|r| r.name())
                            .unwrap_or_else(|| "no reason".into())
                    ),
                    _ => format!("{conn}kernel stores {}", e.error.as_deref().unwrap_or("?")),
                };
                let (x, anchor) = match host {
                    Actor::Client => (CLIENT_X - 10.0, "end"),
                    Actor::Server => (SERVER_X + 10.0, "start"),
                };
                let _ = writeln!(
                    svg,
                    r##"<text x="{x}" y="{y}" text-anchor="{anchor}" fill="#0d47a1" font-style="italic">⚙ {}</text>"##,
                    esc(&text)
                );
            }
            Row::Program(c) => {
                let (x, anchor) = match c.host {
                    Actor::Client => (CLIENT_X - 10.0, "end"),
                    Actor::Server => (SERVER_X + 10.0, "start"),
                };
                let color = match &c.outcome {
                    Some(Outcome::Error { errno, .. })
                        if errno != "EINPROGRESS" && errno != "EAGAIN" =>
                    {
                        "#c62828"
                    }
                    Some(Outcome::Eof) | None => "#b26a00",
                    _ => "#00695c",
                };
                let _ = writeln!(
                    svg,
                    r##"<text x="{x}" y="{y}" text-anchor="{anchor}" fill="{color}" font-size="11">{}: {}</text>"##,
                    esc(&c.program),
                    esc(&c.text())
                );
            }
            Row::Counted(host, text) => {
                let (x, anchor) = match host {
                    Actor::Client => (CLIENT_X - 10.0, "end"),
                    Actor::Server => (SERVER_X + 10.0, "start"),
                };
                let _ = writeln!(
                    svg,
                    r##"<text x="{x}" y="{y}" text-anchor="{anchor}" fill="#1565c0" font-size="11">kernel counted: {}</text>"##,
                    esc(&text)
                );
            }
            Row::States(before, after) => {
                // Several connections' changes share the row, side by side on each lifeline.
                let mut offset = [0.0f64; 2];
                for a in after {
                    let changed = before
                        .iter()
                        .find(|b| b.host == a.host && b.conn == a.conn)
                        .is_none_or(|b| b.state != a.state);
                    if !changed {
                        continue;
                    }
                    let side = usize::from(a.host == Actor::Server);
                    let x = x_of(a.host) + offset[side];
                    let state = a.state.map(|s| s.name()).unwrap_or("(no socket)");
                    let label = if r.several() {
                        format!("#{} {state}", a.conn)
                    } else {
                        state.to_string()
                    };
                    let label = label.as_str();
                    let w = label.len() as f64 * 7.4 + 10.0;
                    let _ = writeln!(
                        svg,
                        r##"<rect x="{rx}" y="{ry}" width="{w}" height="16" rx="3" fill="#fff8e1" stroke="#b26a00"/><text x="{x}" y="{ty}" text-anchor="middle" font-size="11" fill="#5d4037">{}</text>"##,
                        esc(label),
                        rx = x - w / 2.0,
                        ry = y - 12.0,
                        ty = y,
                    );
                    offset[side] += if side == 0 { -(w + 6.0) } else { w + 6.0 };
                }
            }
        }
        y += ROW;
    }
    svg.push_str("</svg>\n");
    svg
}
