//! Hostile queries through `explain`: never a panic, and the answer stays well formed (matches
//! most likely first, a line number inside the query, suggestions only when nothing matched).

use proptest::prelude::*;
use tcpmortem_core::query::explain;

/// Pieces real queries are made of, so random ones reach the matchers' interesting paths.
const PIECES: &[&str] = &[
    "ECONNRESET",
    "10054",
    "-4077",
    "0x80072746",
    "errno ",
    "(104: ",
    "[WinError 10053] ",
    "socket hang up",
    "SD--",
    "haproxy",
    "UC",
    " 503 ",
    "远程主机强迫关闭了一个现有的连接。",
    "Eine bestehende Verbindung wurde softwaregesteuert\r\n",
    "durch den Hostcomputer abgebrochen",
    "unavailable",
    "socket closed",
    "communications link failure",
    "last packet successfully received",
    "\n",
    "\r\n",
    "\t",
    "：",
    "’",
    "ＡＢ",
    "\u{0}",
    "-",
    "99999999999999999999",
    "0x",
    ":",
    "(",
    ")",
    "line 9",
    "node -1",
];

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(proptest::sample::select(PIECES), 0..40).prop_map(|v| v.concat()),
        proptest::collection::vec(any::<char>(), 0..300).prop_map(|v| v.into_iter().collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn explain_never_panics_and_answers_in_order(q in query()) {
        let e = explain(&q, None);
        for w in e.matches.windows(2) {
            prop_assert!(w[0].score >= w[1].score);
        }
        if let Some(line) = e.line {
            prop_assert!(line >= 1 && line <= e.lines);
            prop_assert!(e.excerpt.is_some());
        }
        prop_assert!(e.matches.is_empty() || e.suggestions.is_empty());
        for m in &e.matches {
            prop_assert!(m.score <= 100 && !m.matched.is_empty());
            if let Some((msg, r)) = m.library {
                prop_assert!(r < msg.readings.len());
            }
        }
    }
}
