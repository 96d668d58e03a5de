//! The `explain` command as a user runs it: exit codes, stderr, stdin, the wrap width, speed,
//! and snapshots of the help, human answers and JSON answers.

use assert_cmd::Command;
use predicates::prelude::*;
use std::time::{Duration, Instant};

fn tcpmortem() -> Command {
    let mut cmd = Command::cargo_bin("tcpmortem").unwrap();
    cmd.env_remove("CLICOLOR_FORCE")
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(60));
    cmd
}

fn stdout_of(args: &[&str]) -> String {
    let out = tcpmortem().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json_of(args: &[&str]) -> serde_json::Value {
    let mut a = vec!["explain", "--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&stdout_of(&a)).unwrap()
}

/// Terminal columns of a line: escape sequences take none, East Asian wide characters two.
fn columns(line: &str) -> usize {
    let mut n = 0;
    let mut esc = false;
    for c in line.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (true, 'm') => esc = false,
            (true, _) | (false, '\r') => {}
            (false, c)
                if ('\u{2E80}'..='\u{9FFF}').contains(&c)
                    || ('\u{AC00}'..='\u{D7A3}').contains(&c)
                    || ('\u{FF00}'..='\u{FF60}').contains(&c) =>
            {
                n += 2
            }
            (false, _) => n += 1,
        }
    }
    n
}

#[test]
fn help_snapshots() {
    insta::assert_snapshot!("help", stdout_of(&["--help"]));
    insta::assert_snapshot!("explain_help", stdout_of(&["explain", "--help"]));
}

#[test]
fn human_answer_for_the_seeds_10053() {
    insta::assert_snapshot!("explain_10053", stdout_of(&["explain", "10053"]));
}

#[test]
fn human_answer_in_the_worlds_words() {
    // The seed's author reads Chinese: the OS text, no number, answers in English beside it.
    insta::assert_snapshot!(
        "explain_zh_cn_10054",
        stdout_of(&["explain", "远程主机强迫关闭了一个现有的连接。"])
    );
    // A message several TCP events produce lists every reading, most likely first.
    insta::assert_snapshot!(
        "explain_transport_is_closing",
        stdout_of(&[
            "explain",
            "rpc error: code = Unavailable desc = transport is closing"
        ])
    );
}

#[test]
fn json_answer_for_a_node_error() {
    let out = stdout_of(&["explain", "--json", "Error: read ECONNRESET"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    insta::assert_json_snapshot!("explain_node_econnreset", v);
}

#[test]
fn json_says_which_language_matched_and_shows_the_english() {
    let v = json_of(&["Программа на вашем хост-компьютере разорвала установленное подключение"]);
    let m = &v["matches"][0];
    assert_eq!(m["id"], "econnaborted");
    assert_eq!(m["localized"]["language"], "ru");
    assert_eq!(m["localized"]["language_name"], "Russian");
    assert_eq!(m["localized"]["code"], 10053);
    assert_eq!(
        m["localized"]["english"],
        "An established connection was aborted by the software in your host machine."
    );
    assert!(m["library"].is_null());
}

#[test]
fn json_lists_a_librarys_readings_with_their_basis() {
    let v = json_of(&["Error: socket hang up"]);
    let m = &v["matches"][0];
    assert_eq!(m["id"], "peer-eof");
    assert_eq!(m["library"]["library"], "Node.js http");
    assert_eq!(m["library"]["reading"], 1);
    let readings: Vec<&str> = m["library"]["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(readings, ["peer-eof", "local-close"]);
    assert_eq!(m["library"]["claim"]["basis"], "src");
    assert_eq!(v["matches"][1]["id"], "local-close");
    // Node's code ECONNRESET is not a reading: no RST was seen.
    assert!(
        v["matches"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"] != "econnreset")
    );
}

#[test]
fn json_fields_the_issue_promises() {
    let out = stdout_of(&["explain", "--json", "EPIPE"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let m = &v["matches"][0];
    for field in [
        "kind",
        "linux_name",
        "linux_number",
        "windows_name",
        "windows_code",
        "bsd_name",
        "bsd_number",
        "summary",
        "evidence",
    ] {
        assert!(m.get(field).is_some(), "missing {field}");
    }
    assert_eq!(m["kind"], "errno");
    assert_eq!(m["linux_name"], "EPIPE");
    assert_eq!(m["linux_number"], 32);
    assert!(m["windows_name"].is_null() && m["windows_code"].is_null());
    assert_eq!(m["never_on"][0]["os"], "windows");
    assert!(m["evidence"].as_array().unwrap().iter().all(|c| {
        ["doc", "src", "test", "obs", "here"].contains(&c["basis"].as_str().unwrap())
    }));
}

#[test]
fn every_socket_errno_by_name() {
    let v = json_of(&["EADDRINUSE"]);
    let m = &v["matches"][0];
    assert_eq!(m["id"], "eaddrinuse");
    assert_eq!(m["area"], "socket");
    assert_eq!(m["linux_number"], 98);
    assert_eq!(m["bsd_number"], 48);
    assert_eq!(m["windows_code"], 10048);
    assert_eq!(m["evidence"][0]["topic"], "socket");
    let v = json_of(&["WSANOTINITIALISED"]);
    assert_eq!(v["matches"][0]["windows_code"], 10093);
    assert!(v["matches"][0]["linux_name"].is_null());
}

#[test]
fn ambiguous_number_with_os_reorders() {
    let v = json_of(&["54"]);
    assert_eq!(v["matches"][0]["bsd_name"], "ECONNRESET");
    assert_eq!(v["matches"][1]["linux_name"], "EXFULL");
    let v = json_of(&["--os", "linux", "54"]);
    assert_eq!(v["matches"][0]["linux_name"], "EXFULL");
    assert_eq!(v["matches"][1]["id"], "econnreset");
}

#[test]
fn negative_numbers_need_no_double_dash() {
    for (arg, id) in [
        ("-4077", "econnreset"),
        ("-104", "econnreset"),
        ("-4091", "eaddrinuse"),
    ] {
        let v = json_of(&[arg]);
        assert_eq!(v["matches"][0]["id"], id, "{arg}");
    }
    tcpmortem()
        .args(["explain", "-4077"])
        .assert()
        .success()
        .stdout(predicate::str::contains("WSAECONNRESET 10054"));
}

#[test]
fn not_kernel_errors_say_so() {
    let out = stdout_of(&["explain", "psql: server closed the connection unexpectedly"]);
    assert!(out.contains("Not a kernel error"), "{out}");
    let out = stdout_of(&["explain", "context deadline exceeded"]);
    assert!(out.contains("ETIMEDOUT is a different thing"), "{out}");
    let out = stdout_of(&["explain", "use of closed network connection"]);
    assert!(out.contains("your own side closed"), "{out}");
}

#[test]
fn unknown_query_exits_2_with_suggestions() {
    tcpmortem()
        .args(["explain", "ECONNRESTE"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("closest: ECONNRESET"));
    let out = tcpmortem()
        .args(["explain", "--json", "zzzz qqqq"])
        .assert()
        .code(2);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["matches"].as_array().unwrap().len(), 0);
}

#[test]
fn usage_errors_exit_64() {
    tcpmortem().arg("explain").assert().code(64);
    tcpmortem()
        .args(["explain", "--os", "plan9", "1"])
        .assert()
        .code(64);
    tcpmortem().arg("frobnicate").assert().code(64);
}

#[test]
fn empty_or_blank_input_is_a_usage_error() {
    for q in ["", "   ", "\t\n "] {
        tcpmortem()
            .args(["explain", q])
            .assert()
            .code(64)
            .stdout("")
            .stderr(predicate::str::contains("the query is empty"));
    }
    for stdin in ["", " \n\r\n\t "] {
        tcpmortem()
            .args(["explain", "-"])
            .write_stdin(stdin)
            .assert()
            .code(64)
            .stdout("")
            .stderr(predicate::str::contains("stdin held nothing"));
    }
}

/// A log of `n` noise lines with one error line in the middle.
fn log(n: usize, error: &str) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i == n / 2 {
            s.push_str(error);
            s.push('\n');
        }
        s.push_str(&format!(
            "2024-05-01 10:{:02}:{:02} INFO worker {i} handled {} requests in {} ms (port 8080)\n",
            i / 60 % 60,
            i % 60,
            i % 97,
            i % 13
        ));
    }
    s
}

#[test]
fn stdin_reads_a_whole_log_and_the_error_line_wins() {
    let input = log(
        200,
        "2024-05-01 10:01:40 ERROR fetch failed: Error: read ECONNRESET at TLSWrap.onStreamRead",
    );
    let out = tcpmortem()
        .args(["explain", "-"])
        .write_stdin(input.clone())
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.starts_with("ECONNRESET 104"), "{text}");
    assert!(
        text.contains("on line 101: 2024-05-01 10:01:40 ERROR"),
        "{text}"
    );
    let out = tcpmortem()
        .args(["explain", "--json", "-"])
        .write_stdin(input.clone())
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["line"], 101);
    assert_eq!(v["lines"], 201);
    assert_eq!(v["query_bytes"], input.len());
    assert!(v["query"].as_str().unwrap().ends_with('…'));
    // The noise's numbers are not readings (13 would be EACCES, 9 EBADF).
    assert_eq!(v["matches"].as_array().unwrap().len(), 1, "{v}");
    // A log with no error in it says so on stderr, without echoing the log.
    tcpmortem()
        .args(["explain", "-"])
        .write_stdin(log(200, "nothing to see"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no known error in stdin (201 lines",
        ));
}

#[test]
fn stdin_in_utf16_from_powershell() {
    let mut bytes = vec![0xFF, 0xFE];
    for u in "ConnectionResetError: [WinError 10054] 远程主机强迫关闭了一个现有的连接。\r\n"
        .encode_utf16()
    {
        bytes.extend(u.to_le_bytes());
    }
    tcpmortem()
        .args(["explain", "-"])
        .write_stdin(bytes)
        .assert()
        .success()
        .stdout(predicate::str::contains("Chinese (Simplified)"));
}

/// A log that cmd.exe on a Chinese Windows wrote in its code page (GBK, 936): read as GBK
/// because Windows' own Chinese text matches under it, and said on stderr; a stray invalid
/// byte in an English log is replaced, and said too.
#[test]
fn stdin_in_a_windows_code_page() {
    let log = "2026-11-30 09:00:01 ERROR ConnectionAbortedError: [WinError 10053] 你的主机中的软件中止了一个已建立的连接。\r\n";
    let (gbk, _, _) = encoding_rs::GBK.encode(log);
    assert!(std::str::from_utf8(&gbk).is_err());
    let out = tcpmortem()
        .args(["explain", "--json", "-"])
        .write_stdin(gbk.into_owned())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["encoding"], "GBK");
    assert_eq!(json["matches"][0]["windows_name"], "WSAECONNABORTED");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tcpmortem: explain: stdin is not UTF-8; read it as GBK (Windows code page 936), under which it holds Windows' own text in zh-CN\n"
    );
    tcpmortem()
        .args(["explain", "-"])
        .write_stdin(&b"read: connection reset by peer \xff\n"[..])
        .assert()
        .success()
        .stdout(predicate::str::contains("ECONNRESET"))
        .stderr(predicate::str::contains("invalid bytes were replaced"));
}

#[test]
fn wraps_at_columns_and_defaults_to_100_off_a_terminal() {
    for (cols, max) in [(None, 100), (Some("60"), 60), (Some("140"), 140)] {
        let mut cmd = tcpmortem();
        if let Some(c) = cols {
            cmd.env("COLUMNS", c);
        }
        let out = cmd
            .args(["explain", "远程主机强迫关闭了一个现有的连接。"])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let widest = text.lines().map(columns).max().unwrap();
        assert!(
            widest <= max,
            "COLUMNS={cols:?}: a line of {widest} columns"
        );
        assert!(
            widest > max - 15,
            "COLUMNS={cols:?}: widest line only {widest}"
        );
    }
}

#[test]
fn wraps_at_the_terminals_width() {
    // A real terminal (script(1) from util-linux gives the command a pty) of 72 columns.
    let bin = assert_cmd::cargo::cargo_bin("tcpmortem");
    let out = std::process::Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "stty cols 72 rows 50; {} explain 10053",
            bin.display()
        ))
        .arg("/dev/null")
        .env_remove("COLUMNS")
        .env("TERM", "xterm-256color")
        .output()
        .expect("script(1) from util-linux");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let widest = text.lines().map(columns).max().unwrap();
    assert!((60..=72).contains(&widest), "widest line {widest}:\n{text}");
}

#[test]
fn huge_input_is_fast_and_echoed_short() {
    // 120 kB of unknown words as one argument: the error echoes at most ~80 characters.
    let words = [
        "alpha", "bravo", "charlie", "delta", "lorem", "ipsum", "xyzzy",
    ];
    let mut arg = String::new();
    let mut i = 0usize;
    while arg.len() < 120_000 {
        arg.push_str(&format!(
            "{}{} ",
            words[i % words.len()],
            i * 7919 % 100_000
        ));
        i += 1;
    }
    let start = Instant::now();
    let out = tcpmortem().args(["explain", &arg]).assert().code(2);
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.lines().count() == 1 && err.len() < 250, "{err}");
    assert!(err.contains(&format!("({} bytes)", arg.len())), "{err}");
    // Generous bounds (a debug build on a loaded machine): quadratic work would take minutes.
    assert!(
        took < Duration::from_secs(10),
        "120 kB argument took {took:?}"
    );
    let input = log(
        14_000,
        "2024-05-01 12:00:00 ERROR dial tcp 10.0.0.2:5432: connect: connection refused",
    );
    assert!(input.len() > 1_000_000);
    let start = Instant::now();
    tcpmortem()
        .args(["explain", "-"])
        .write_stdin(input)
        .assert()
        .success()
        .stdout(predicate::str::starts_with("ECONNREFUSED 111"));
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "1 MB on stdin took {took:?}"
    );
}

#[test]
fn no_colour_when_not_a_terminal_and_colour_on_request() {
    let plain = tcpmortem().args(["explain", "EPIPE"]).output().unwrap();
    assert!(!plain.stdout.contains(&0x1b));
    let mut cmd = Command::cargo_bin("tcpmortem").unwrap();
    let coloured = cmd
        .args(["--color", "always", "explain", "EPIPE"])
        .output()
        .unwrap();
    assert!(coloured.stdout.contains(&0x1b));
}
