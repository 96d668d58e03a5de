//! `tcpmortem analyze` as a user runs it: the three output formats, filters, stdin, and what
//! bad input gives. The captures in `tests/data` were recorded by `tcpmortem lab run NAME
//! --pcap` (both router links, as interfaces `to-client` and `to-server`).

mod common;

use common::tcpmortem;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Runs in `tests/data`, so the fixtures' names print the same from any checkout.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = tcpmortem()
        .current_dir(data(""))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `analyze` of fixtures by name, on the client's link, with more arguments.
fn client_side(names: &[&str], more: &[&str]) -> (i32, String, String) {
    let files: Vec<String> = names.iter().map(|n| format!("{n}.pcapng")).collect();
    let mut args = vec!["analyze", "--interface", "to-client"];
    args.extend(files.iter().map(String::as_str));
    args.extend(more);
    run(&args)
}

/// The JSON lines of `client_side(names, --format json)`, which must succeed.
fn client_json(names: &[&str]) -> Vec<Value> {
    let (code, out, err) = client_side(names, &["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    lines(&out)
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_seeds_10053_pattern_is_told_with_frames_states_and_what_each_side_saw() {
    let f = data("server-closes-early.pcapng");
    let v = client_json(&["server-closes-early"]);
    assert_eq!(v.len(), 1);
    let c = &v[0];
    let e = &c["ending"];
    assert_eq!(e["kind"], "data-after-close");
    assert_eq!(e["by"], "server");
    // The server's FIN, the client's late data, the server's RST.
    assert_eq!(e["frames"], serde_json::json!([16, 19, 22]));
    assert_eq!(e["client_state"], "CLOSE_WAIT");
    assert_eq!(e["server_state"], "FIN_WAIT2");
    assert_eq!(e["client_saw"]["linux"], "EPIPE 32");
    assert_eq!(e["client_saw"]["windows"], "WSAECONNABORTED 10053");
    assert_eq!(e["client_saw"]["macos"], "ECONNRESET 54");
    assert_eq!(e["server_saw"]["linux"], Value::Null);
    assert_eq!(c["conn_state"], "RSTR");
    assert_eq!(c["history"], "ShADafr");
    assert_eq!(c["orig_pkts"], 5);
    assert_eq!(c["resp_pkts"], 4);
    assert_eq!(c["orig_bytes"], 14);

    // The human report says the same in words.
    let (code, out, _) = run(&["analyze", f.to_str().unwrap(), "--interface", "0"]);
    assert_eq!(code, 0);
    assert!(out.contains("data-after-close"), "{out}");
    assert!(out.contains("WSAECONNABORTED 10053"), "{out}");
    assert!(
        out.contains("client (CLOSE_WAIT) saw: Linux EPIPE 32"),
        "{out}"
    );
}

#[test]
fn both_links_of_a_lab_capture_are_one_capture_unless_an_interface_is_chosen() {
    let f = data("server-closes-early.pcapng");
    let all = lines(&run(&["analyze", f.to_str().unwrap(), "--format", "json"]).1);
    // Every segment is seen twice, so Zeek would count retransmissions: `T`.
    assert_eq!(all[0]["orig_pkts"], 10);
    assert!(all[0]["history"].as_str().unwrap().contains('T'));
    let server_side = lines(
        &run(&[
            "analyze",
            f.to_str().unwrap(),
            "--interface",
            "to-server",
            "--format",
            "json",
        ])
        .1,
    );
    assert_eq!(server_side[0]["ending"]["kind"], "data-after-close");
    assert_eq!(server_side[0]["orig_pkts"], 5);
}

#[test]
fn a_forged_rst_is_told_by_its_ttl() {
    let v = client_json(&["middlebox-reset"]);
    let e = &v[0]["ending"];
    assert_eq!(e["kind"], "middlebox-reset");
    assert_eq!(e["by"], "server");
    assert!(e["clues"][0].as_str().unwrap().contains("TTL"), "{e}");
    assert_eq!(e["client_saw"]["linux"], "ECONNRESET 104");
}

#[test]
fn zeek_output_is_read_by_a_zeek_log_parser() {
    let python = std::env::var("TCPMORTEM_PYTHON").unwrap_or_else(|_| "python3".into());
    let check = std::process::Command::new(&python)
        .args(["-c", "import parsezeeklogs"])
        .status();
    assert!(
        check.is_ok_and(|s| s.success()),
        "PyPI's parsezeeklogs is needed ({python}); scripts/test installs it in a venv"
    );
    let tmp = common::tempdir();
    let dir = tmp.path();
    let log = dir.join("conn.log");
    let names = ["server-closes-early", "middlebox-reset", "connect-refused"];
    let (code, out, err) = client_side(&names, &["--format", "zeek"]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(&log, &out).unwrap();
    let ours = client_json(&names);

    let script = r#"
import json, sys
from parsezeeklogs import read_zeek
rows = list(read_zeek(sys.argv[1]))
for r in rows:
    print(json.dumps({k: (v if isinstance(v, (int, float, str, type(None))) else str(v)) for k, v in r.items()}))
"#;
    let parsed = std::process::Command::new(&python)
        .args(["-c", script, log.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        parsed.status.success(),
        "parsezeeklogs: {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let rows = lines(&String::from_utf8_lossy(&parsed.stdout));
    assert_eq!(rows.len(), 3);
    assert_eq!(rows.len(), ours.len());
    for (r, o) in rows.iter().zip(&ours) {
        assert_eq!(r["uid"], o["uid"]);
        assert_eq!(r["conn_state"], o["conn_state"]);
        assert_eq!(r["history"], o["history"]);
        assert_eq!(r["orig_pkts"], o["orig_pkts"]);
        assert_eq!(r["resp_ip_bytes"], o["resp_ip_bytes"]);
        assert_eq!(r["proto"], "tcp");
        assert_eq!(r["tcpmortem_ending"], o["ending"]["kind"]);
        // Typed: ports and counts are numbers, unset fields are None.
        assert!(r["id.orig_p"].is_number(), "{r}");
        assert_eq!(r["service"], Value::Null);
    }
    let refused = rows.iter().find(|r| r["tcpmortem_ending"] == "refused");
    assert_eq!(refused.unwrap()["conn_state"], "REJ");
}

#[test]
fn stdin_several_files_and_only_abnormal() {
    let a = data("server-closes-early.pcapng");
    let bytes = std::fs::read(&a).unwrap();
    let out = tcpmortem()
        .args([
            "analyze",
            "-",
            "--interface",
            "to-client",
            "--format",
            "json",
        ])
        .write_stdin(bytes)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v[0]["ending"]["kind"], "data-after-close");

    // Frame numbers continue across files, as with `mergecap -a`.
    let both = client_json(&["server-closes-early", "connect-refused"]);
    assert_eq!(both.len(), 2);
    let refused = both
        .iter()
        .find(|c| c["ending"]["kind"] == "refused")
        .unwrap();
    assert!(refused["first_frame"].as_u64().unwrap() > 22);

    let (_, human, _) = client_side(
        &["server-closes-early", "connect-refused"],
        &["--only", "abnormal"],
    );
    assert!(human.contains("2 connections, 2 abnormal"), "{human}");
    assert!(human.contains("refused"), "{human}");
}

#[test]
fn conn_shows_the_packet_ladder() {
    let f = data("server-closes-early.pcapng");
    let (code, out, _) = client_side(&["server-closes-early"], &["--conn", ":8080"]);
    assert_eq!(code, 0);
    let rungs: Vec<&str> = out.lines().filter(|l| l.contains("│")).collect();
    assert_eq!(rungs.len(), 9, "{out}");
    assert!(rungs[0].contains("S seq 0 ─"), "{}", rungs[0]);
    assert!(rungs[5].contains("F. seq 1 ack 6"), "{}", rungs[5]);
    assert!(rungs[8].contains("R seq 2"), "{}", rungs[8]);
    assert!(rungs[8].contains("#22"), "{}", rungs[8]);
    let (_, none, _) = run(&["analyze", f.to_str().unwrap(), "--conn", "10.9.9.9:1"]);
    assert!(none.contains("no connection matches --conn"), "{none}");
    let (code, _, err) = run(&["analyze", f.to_str().unwrap(), "--conn", "nonsense"]);
    assert_eq!(code, 64, "{err}");
}

#[test]
fn a_truncated_capture_gives_the_results_so_far_a_warning_and_exit_3() {
    let bytes = std::fs::read(data("server-closes-early.pcapng")).unwrap();
    let tmp = common::tempdir();
    let dir = tmp.path();
    let cut = dir.join("cut.pcapng");
    std::fs::write(&cut, &bytes[..bytes.len() - 50]).unwrap();
    let (code, out, err) = run(&["analyze", cut.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("truncated at byte offset"), "{err}");
    assert_eq!(lines(&out).len(), 1, "the connection so far is reported");
}

#[test]
fn bad_input_has_clear_errors_and_distinct_exit_codes() {
    let tmp = common::tempdir();
    let dir = tmp.path();
    let text = dir.join("notes.txt");
    std::fs::write(&text, "this is not a capture\n").unwrap();
    let (code, _, err) = run(&["analyze", text.to_str().unwrap()]);
    assert_eq!(code, 65);
    assert!(err.contains("not a pcap or pcapng file"), "{err}");

    let (code, _, err) = run(&["analyze", "/nonexistent/x.pcap"]);
    assert_eq!(code, 66);
    assert!(err.contains("/nonexistent/x.pcap"), "{err}");

    // A pcap of link type 147 (USER0) only.
    let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    pcap.extend(65535u32.to_le_bytes());
    pcap.extend(147u32.to_le_bytes());
    pcap.extend([0u8; 8]);
    pcap.extend(4u32.to_le_bytes());
    pcap.extend(4u32.to_le_bytes());
    pcap.extend([1, 2, 3, 4]);
    let user = dir.join("user0.pcap");
    std::fs::write(&user, &pcap).unwrap();
    let (code, _, err) = run(&["analyze", user.to_str().unwrap()]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("unsupported link type(s) 147"), "{err}");

    // An empty capture is no error: nothing to report.
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, &pcap[..24]).unwrap();
    let (code, out, _) = run(&["analyze", empty.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("no TCP connections"), "{out}");
}

#[test]
fn help_and_the_human_report_are_snapshots() {
    let (_, help, _) = run(&["analyze", "--help"]);
    insta::assert_snapshot!("analyze_help", help);
    let (_, report, _) = client_side(
        &["server-closes-early", "middlebox-reset", "connect-refused"],
        &[],
    );
    insta::assert_snapshot!("analyze_report", report);
    let (_, ladder, _) = client_side(&["server-closes-early"], &["--conn", ":8080"]);
    insta::assert_snapshot!("analyze_conn_ladder", ladder);
}

#[test]
fn an_incomplete_fragmented_datagram_is_reported_not_hidden() {
    // A raw-IP pcap (link type 101) holding the first fragment of a datagram, never the rest.
    let mut ip = vec![
        0x45, 0, 0, 48, 0, 9, 0x20, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 6,
    ];
    ip.extend([
        0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff,
    ]);
    ip.extend([0u8; 12]);
    let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    pcap.extend(65535u32.to_le_bytes());
    pcap.extend(101u32.to_le_bytes());
    for t in [1u32, 40] {
        pcap.extend(t.to_le_bytes());
        pcap.extend(0u32.to_le_bytes());
        pcap.extend((ip.len() as u32).to_le_bytes());
        pcap.extend((ip.len() as u32).to_le_bytes());
        pcap.extend(&ip);
        // The second copy, 39 s later, is another datagram's first fragment: the first one
        // has timed out by then.
        ip[5] = 10;
    }
    let tmp = common::tempdir();
    let dir = tmp.path();
    let f = dir.join("frag.pcap");
    std::fs::write(&f, &pcap).unwrap();
    let (code, out, err) = run(&["analyze", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("no TCP connections"), "{out}");
    assert!(
        err.contains("fragmented datagrams were never completed"),
        "{err}"
    );
}
