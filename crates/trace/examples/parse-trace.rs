//! Measures the tracepoint parser alone: parses every line of a saved `trace_pipe` capture
//! (`cat trace_pipe > FILE`) and reports lines per second. Usage: parse-trace FILE
use std::time::Instant;
use tcpmortem_trace::{parse_line, tcp_event};

fn main() {
    let path = std::env::args().nth(1).expect("usage: parse-trace FILE");
    let text = std::fs::read_to_string(&path).expect("read the capture");
    let lines: Vec<&str> = text.lines().collect();
    let start = Instant::now();
    let events = lines
        .iter()
        .filter_map(|l| parse_line(l).as_ref().and_then(tcp_event))
        .count();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} lines, {events} TCP events in {:.3} s: {:.0} lines/s",
        lines.len(),
        secs,
        lines.len() as f64 / secs
    );
}
