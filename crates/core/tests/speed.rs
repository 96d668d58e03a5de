//! Large and repetitive queries stay linear: each case is 0.5–1 MB built to hit one matcher
//! many times (the same message on every line, one huge line of numbers, a localized text on
//! every line, 100k distinct numbers). The bound is generous for a debug build on a loaded
//! machine; quadratic work on these inputs takes minutes.

use std::time::{Duration, Instant};
use tcpmortem_core::query::explain;

const BOUND: Duration = Duration::from_secs(20);

fn timed(what: &str, query: &str) -> tcpmortem_core::query::Explanation {
    let start = Instant::now();
    let e = explain(query, None);
    let took = start.elapsed();
    eprintln!("{what}: {took:?}");
    assert!(took < BOUND, "{what} ({} bytes) took {took:?}", query.len());
    e
}

#[test]
fn repetitive_inputs_stay_linear() {
    let e = timed(
        "a message on every line",
        &"Error: socket hang up\n".repeat(40_000),
    );
    assert_eq!(e.matches[0].library.unwrap().0.id, "node-socket-hang-up");
    let e = timed(
        "a localized text on every line",
        &"java.io.IOException: 远程主机强迫关闭了一个现有的连接。\n".repeat(15_000),
    );
    assert!(e.matches[0].localized.is_some());
    let e = timed(
        "one line of numbers and phrases",
        &"errno 104 connection reset by peer ".repeat(25_000),
    );
    assert_eq!(e.lines, 1);
    let many: String = (0..100_000).map(|i| format!("errno {i} ")).collect();
    timed("100k distinct numbers", &many);
    let e = timed(
        "parts of a message spread over lines",
        &"communications link failure\n\nthe last packet successfully received\n".repeat(15_000),
    );
    assert_eq!(e.matches[0].library.unwrap().0.id, "jdbc-link-failure");
    let unknown: String = (0..60_000).map(|i| format!("word{i} ")).collect();
    let e = timed("unknown words", &unknown);
    assert!(e.matches.is_empty() && !e.suggestions.is_empty());
}
