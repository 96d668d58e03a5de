//! The `explain` command as a user runs it: exit codes, stderr, and snapshots of the help, one
//! human answer and one JSON answer.

use assert_cmd::Command;
use predicates::prelude::*;

fn tcpmortem() -> Command {
    let mut cmd = Command::cargo_bin("tcpmortem").unwrap();
    cmd.env_remove("CLICOLOR_FORCE").env("NO_COLOR", "1");
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
fn json_answer_for_a_node_error() {
    let out = stdout_of(&["explain", "--json", "Error: read ECONNRESET"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    insta::assert_json_snapshot!("explain_node_econnreset", v);
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
fn ambiguous_number_with_os_reorders() {
    let v: serde_json::Value =
        serde_json::from_str(&stdout_of(&["explain", "--json", "54"])).unwrap();
    assert_eq!(v["matches"][0]["bsd_name"], "ECONNRESET");
    assert_eq!(v["matches"][1]["linux_name"], "EXFULL");
    let v: serde_json::Value =
        serde_json::from_str(&stdout_of(&["explain", "--json", "--os", "linux", "54"])).unwrap();
    assert_eq!(v["matches"][0]["linux_name"], "EXFULL");
    assert_eq!(v["matches"][1]["id"], "econnreset");
}

#[test]
fn not_kernel_errors_say_so() {
    let out = stdout_of(&["explain", "psql: server closed the connection unexpectedly"]);
    assert!(out.contains("Not a kernel error"), "{out}");
    let out = stdout_of(&["explain", "context deadline exceeded"]);
    assert!(out.contains("ETIMEDOUT is a different thing"), "{out}");
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
