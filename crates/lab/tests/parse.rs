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
    "exec",
    "wait",
    "listening",
    "stop",
    "cont",
    "signal",
    "TERM",
    "exit",
    "call",
    "recv",
    "56",
    "SIGKILL",
    "program-timeout",
    "1s",
    "'single",
    "quoted'",
    "{server}",
    "{nope}",
    "{port",
    "a\\",
    "\\",
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
    for (name, src) in tcpmortem_lab::builtin::BUILTIN
        .iter()
        .chain(tcpmortem_lab::builtin::WITH_PROGRAMS)
    {
        let sc = parse(src).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&sc.name, name);
    }
}

use tcpmortem_lab::scenario::{Check, Signal, StepKind};

fn err(src: &str) -> String {
    parse(src).unwrap_err().to_string()
}

#[test]
fn exec_splits_words_as_a_shell_does() {
    let sc = parse(
        "client exec curl -sS -H \"X-Test: a b\" 'it''s' a\\ b \"q\\\"uote\" \"\\q\" -d'{\"k\": 1}' http://{server}/ # comment\n",
    )
    .unwrap();
    let StepKind::Exec { actor, argv } = &sc.steps[0].kind else {
        panic!("{:?}", sc.steps[0]);
    };
    assert_eq!(actor.name(), "client");
    assert_eq!(
        argv,
        &[
            "curl",
            "-sS",
            "-H",
            "X-Test: a b",
            "its",
            "a b",
            "q\"uote",
            "\\q",
            "-d{\"k\": 1}",
            "http://{server}/"
        ]
    );
    // A server program listens itself: no implicit `listen 128`.
    let sc =
        parse("server exec python3 -m http.server {port}\nwait server listening 5s\n").unwrap();
    assert!(sc.listens_itself());
    assert_eq!(
        sc.steps[1].kind,
        StepKind::WaitListening {
            timeout: Some(std::time::Duration::from_secs(5))
        }
    );
}

#[test]
fn placeholders_are_replaced_but_not_curl_formats_or_shell_variables() {
    use tcpmortem_lab::parse::substitute;
    let values = [
        "198.18.0.6:8080".to_string(),
        "198.18.0.6".to_string(),
        "8080".to_string(),
        "198.18.0.1".to_string(),
    ];
    assert_eq!(
        substitute(
            "http://{server}/{port}{x}{server_addr}{client_addr}{",
            &values
        ),
        "http://198.18.0.6:8080/8080{x}198.18.0.6198.18.0.1{"
    );
    assert_eq!(
        substitute("%{time_total} ${PORT} {port}", &values),
        "%{time_total} ${PORT} 8080"
    );
    assert!(parse("client exec curl -w %{time_total} -o x http://{server}/\n").is_ok());
}

#[test]
fn exec_errors_point_at_line_and_column() {
    assert_eq!(
        err("client exec curl http://{srv}/\n"),
        "1:25: unknown placeholder {srv}: {server}, {server_addr}, {port}, {client_addr}"
    );
    assert_eq!(
        err("client exec curl \"open\n"),
        "1:18: unterminated \"...\""
    );
    assert_eq!(err("\nserver exec 'x\n"), "2:13: unterminated '...'");
    assert_eq!(
        err("client exec\n"),
        "1:13: exec needs a program, e.g. `client exec curl -sS http://{server}/`"
    );
    assert_eq!(
        err("client exec curl\nclient exec wget\n"),
        "2:8: the client already runs the program of line 1: one program per side"
    );
    assert_eq!(
        err("client exec curl\nclient send 5\n"),
        "2:8: the client is the program started at line 1: it makes its own calls, so `client send 5` cannot be scripted (use wait, kill, stop, cont or signal)"
    );
    assert_eq!(
        err("client connect\nclient exec curl\n"),
        "2:8: the client already made scripted calls: a side is either scripted or a program"
    );
    assert_eq!(
        err("client connect\nclient stop\n"),
        "2:8: `client stop` signals a program: there is no `client exec` before it"
    );
    assert_eq!(
        err("client exec x\nclient signal WINCH\n"),
        "2:15: unknown signal \"WINCH\": TERM, INT, HUP, KILL, STOP, CONT, USR1, USR2, QUIT"
    );
    assert_eq!(
        err("client connect\nwait client\n"),
        "2:6: wait client waits for its program: there is no `client exec` before it"
    );
    assert_eq!(
        err("client exec x\nwait client soon\n"),
        "2:13: bad timeout \"soon\": use e.g. 5s, 500ms (wait client|server [TIMEOUT], or wait server listening [TIMEOUT])"
    );
    assert_eq!(
        err("client exec x\nwait client listening\n"),
        "2:13: only the server listens"
    );
    assert_eq!(
        err("client connect\nexpect client exit = 0\n"),
        "2:8: there is no `client exec` before this line: the client runs no program"
    );
    assert_eq!(
        err("client exec x\nexpect client call frobnicate = EOF\n"),
        "2:20: unknown call \"frobnicate\": one of connect, accept, recv, send, shutdown, close, read, write, readv, writev, recvfrom, recvmsg, sendto, sendmsg, sendfile, accept4"
    );
    assert_eq!(
        err("client exec x\nexpect client exit = lots\n"),
        "2:22: exit is a status 0-255 or a signal (SIGKILL, SIGTERM...), not \"lots\""
    );
}

#[test]
fn process_steps_and_program_expectations() {
    let sc = parse(
        "program-timeout 2s\nserver exec srv\nclient exec cli\nserver stop\nserver cont\nclient signal term\nserver kill\nwait client 1s\nexpect client exit = SIGTERM\nexpect client call recv = ECONNRESET\n",
    )
    .unwrap();
    assert_eq!(sc.program_timeout, std::time::Duration::from_secs(2));
    let signals: Vec<Signal> = sc
        .steps
        .iter()
        .filter_map(|s| match s.kind {
            StepKind::Signal { signal, .. } => Some(signal),
            _ => None,
        })
        .collect();
    assert_eq!(
        signals,
        [Signal::Stop, Signal::Cont, Signal::Term, Signal::Kill]
    );
    assert!(matches!(
        &sc.expectations[1].check,
        Check::ProgramCall { op, result, .. } if op == "recv" && result == "ECONNRESET"
    ));
    // Without a program, `kill` is the scripted actor's SIGKILL, as before.
    let sc = parse("client connect\nserver accept\nserver kill\n").unwrap();
    assert!(matches!(sc.steps[2].kind, StepKind::Call { .. }));
}
