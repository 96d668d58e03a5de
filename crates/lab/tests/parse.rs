//! The scenario parser on hostile and random input: never a panic, and every error points
//! inside the text (its line exists, its column is on that line or just past its end).

use proptest::prelude::*;
use tcpmortem_lab::parse::parse;

fn check(src: &str) {
    match parse(src) {
        Ok(sc) => {
            assert!(!sc.steps.is_empty());
            for s in &sc.steps {
                assert!(s.line >= 1 && s.line <= src.lines().count());
            }
            for e in &sc.expectations {
                assert!(e.step < sc.steps.len());
            }
        }
        Err(e) => {
            let lines: Vec<&str> = src.lines().collect();
            assert!(
                e.line >= 1 && e.line <= lines.len().max(1),
                "{e} for {src:?}"
            );
            let len = lines.get(e.line - 1).map_or(0, |l| l.chars().count());
            assert!(e.column >= 1 && e.column <= len + 16, "{e} for {src:?}");
        }
    }
}

const WORDS: &[&str] = &[
    "client",
    "server",
    "client#1",
    "client#2",
    "server#2",
    "client#0",
    "client#x",
    "connect",
    "accept",
    "send",
    "recv",
    "close",
    "shutdown",
    "wr",
    "rd",
    "rdwr",
    "linger",
    "0",
    "off",
    "kill",
    "abort",
    "keepalive",
    "1",
    "2",
    "user-timeout",
    "1s",
    "50ms",
    "nodelay",
    "rcvbuf",
    "sndbuf",
    "listen",
    "sleep",
    "net",
    "drop",
    "reset",
    "unreachable",
    "restore",
    "client->server",
    "server->client",
    "both",
    "flags",
    ".",
    "S.",
    "after",
    "300",
    "sysctl",
    "net.ipv4.tcp_syn_retries=1",
    "host",
    "reboot",
    "expect",
    "state",
    "=",
    "ESTABLISHED",
    "CLOSE",
    "-",
    "packet",
    "R",
    "kernel",
    "reason",
    "TCP_STATE",
    "on",
    ">=",
    "6.10",
    "EOF",
    "ECONNRESET",
    "ipv6",
    "name",
    "description",
    "settle",
    "blocked-after",
    "#",
    "\"a\\x41\"",
    "\"é\"",
    "\"\\q\"",
    "\"open",
    "16777217",
    "99999999999999999999",
];

fn line() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(WORDS), 0..7).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_parsed_or_refused_with_a_position(src in "\\PC{0,300}") {
        check(&src);
    }

    #[test]
    fn lines_of_the_language_are_parsed_or_refused_with_a_position(
        lines in proptest::collection::vec(line(), 1..25),
    ) {
        check(&lines.join("\n"));
    }
}

#[test]
fn every_builtin_parses() {
    for (name, src) in tcpmortem_lab::builtin::BUILTIN {
        let sc = parse(src).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&sc.name, name);
    }
}
