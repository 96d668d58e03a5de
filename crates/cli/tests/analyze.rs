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
fn both_links_of_a_lab_capture_count_each_packet_once_and_say_which_view() {
    let f = data("server-closes-early.pcapng");
    let (code, out, err) = run(&["analyze", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let all = lines(&out);
    // The client's link alone: no packet twice, so no `T` for retransmissions.
    let client = client_json(&["server-closes-early"]);
    for field in [
        "history",
        "orig_pkts",
        "resp_pkts",
        "orig_ip_bytes",
        "ending",
    ] {
        assert_eq!(all[0][field], client[0][field], "{field}");
    }
    assert_eq!(all[0]["history"], "ShADafr");
    assert_eq!(all[0]["client_stats"]["retransmits"], 0);
    assert!(
        err.contains(
            "each connection read as seen on the interface of its first packet: to-client (1 connection); left out 9 packets seen there too and 0 seen only on to-server"
        ),
        "{err}"
    );
    // The human report says it under the totals.
    let (_, human, _) = run(&["analyze", f.to_str().unwrap()]);
    assert!(
        human
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("each connection read as seen on"),
        "{human}"
    );
    // --interface still reads one link whole: the server's.
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
    // A selection that matches nothing is an error of one line, not an empty report.
    let (code, none, err) = run(&["analyze", f.to_str().unwrap(), "--conn", "10.9.9.9:1"]);
    assert_eq!((code, none.as_str()), (1, ""), "{err}");
    assert_eq!(
        err,
        "tcpmortem: --conn 10.9.9.9:1: no connection has that endpoint (of 1 in the capture)\n"
    );
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
    let (code, out, err) = run(&["analyze", user.to_str().unwrap()]);
    assert_eq!(code, 65, "{err}");
    assert!(
        out.contains("skipped 1 frames: 1 link type 147 not decoded"),
        "{out}"
    );
    assert!(!out.contains("no TCP connections in the capture"), "{out}");
    assert!(
        err.contains(
            "no TCP connection found, but 1 of 1 frames were not decoded and may hold TCP"
        ),
        "{err}"
    );
    // The machine formats print the counts on stderr, and still fail.
    for format in ["json", "zeek"] {
        let (code, out, err) = run(&["analyze", "--format", format, user.to_str().unwrap()]);
        assert_eq!(code, 65, "{err}");
        assert!(
            err.contains("(skipped: 1 link type 147 not decoded)"),
            "{err}"
        );
        assert!(format == "json" || out.starts_with("#separator"), "{out}");
    }

    // A capture without packets is no error: nothing to report.
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, &pcap[..24]).unwrap();
    let (code, out, _) = run(&["analyze", empty.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("no TCP connections"), "{out}");

    // What cannot be read prints only its error, with its own code: an empty file or
    // /dev/null is not a capture (65), nor is random data; a directory cannot be read (74).
    let zero = dir.join("zero.pcap");
    std::fs::write(&zero, b"").unwrap();
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let noise = dir.join("noise.bin");
    std::fs::write(&noise, &random).unwrap();
    for (path, code, says) in [
        (
            zero.to_str().unwrap(),
            65,
            "empty, not a pcap or pcapng file",
        ),
        ("/dev/null", 65, "empty, not a pcap or pcapng file"),
        (noise.to_str().unwrap(), 65, "not a pcap or pcapng file"),
        ("/nonexistent/x.pcap", 66, "No such file"),
        (dir.to_str().unwrap(), 74, "Is a directory"),
    ] {
        for format in ["human", "json", "zeek"] {
            let (got, out, err) = run(&["analyze", "--format", format, path]);
            assert_eq!(got, code, "{path}: {err}");
            assert_eq!(out, "", "{path} --format {format}: nothing on stdout");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains(says), "{path}: {err}");
        }
    }
}

#[test]
fn an_interface_the_capture_does_not_have_is_an_error() {
    let f = data("server-closes-early.pcapng");
    for which in ["nosuch", "7"] {
        for format in ["human", "json", "zeek"] {
            let (code, out, err) = run(&[
                "analyze",
                f.to_str().unwrap(),
                "--interface",
                which,
                "--format",
                format,
            ]);
            assert_eq!((code, out.as_str()), (64, ""), "{err}");
            assert_eq!(
                err,
                format!(
                    "tcpmortem: --interface {which}: no packet of the capture is on it (its packets are on interfaces 0 to-client, 1 to-server)\n"
                )
            );
        }
    }
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

/// `tcpdump -i lo` in a private namespace during a graceful close, a close with unread data
/// and a refused connect: 17 of its 19 frames carry checksums loopback never filled in.
#[test]
fn a_loopback_capture_with_offloaded_checksums_reads_right_by_default() {
    let f = data("loopback-offload.pcap");
    let kinds = |out: &str| -> Vec<String> {
        lines(out)
            .iter()
            .map(|c| format!("{} {}", c["ending"]["kind"], c["ending"]["by"]))
            .collect()
    };
    let (code, out, err) = run(&["analyze", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        kinds(&out),
        [
            r#""graceful-close" "client""#,
            r#""abortive-close" "server""#,
            r#""refused" "server""#
        ]
    );
    assert_eq!(
        err,
        "tcpmortem: note: ignored the bad TCP checksums of 17 packets from 127.0.0.1: left for the NIC to fill in (checksum offloading, as in captures taken on the sending host or on loopback); --checksums verify counts them as bad, as Zeek does\n"
    );
    // -C reads it the same, without the note.
    let (_, same, err) = run(&["analyze", f.to_str().unwrap(), "--format", "json", "-C"]);
    assert_eq!(kinds(&same), kinds(&out));
    assert_eq!(err, "");
    // Zeek's reading: every bad checksum is a `C`, and the connections fall apart.
    let (code, zeek, _) = run(&[
        "analyze",
        f.to_str().unwrap(),
        "--format",
        "json",
        "--checksums",
        "verify",
    ]);
    assert_eq!(code, 0);
    let v = lines(&zeek);
    assert_eq!(v.len(), 5);
    assert!(
        v.iter()
            .all(|c| c["history"].as_str().unwrap().contains('C')
                || c["history"].as_str().unwrap().contains('c'))
    );
    let (code, _, err) = run(&[
        "analyze",
        f.to_str().unwrap(),
        "-C",
        "--checksums",
        "verify",
    ]);
    assert_eq!(code, 64, "{err}");
}

/// `editcap -s 54` of the seed's capture: Ethernet, IPv4 and the fixed TCP header, no
/// options, no payload. Every segment is still one, and the snap length is said once.
#[test]
fn a_short_snap_length_keeps_every_segment_and_says_what_it_cut() {
    let (code, out, err) = client_side(&["server-closes-early-s54"], &["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v = lines(&out);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["ending"]["kind"], "data-after-close");
    assert_eq!(v[0]["ending"]["frames"], serde_json::json!([16, 19, 22]));
    assert_eq!(v[0]["orig_pkts"], 5);
    assert_eq!(v[0]["client_stats"]["payload_bytes"], 14);
    assert_eq!(err.matches("snap length").count(), 1, "{err}");
    assert!(
        err.contains("the snap length cut 8 frames at 54 bytes"),
        "{err}"
    );
}

/// A raw-IP pcap (link type 101) of `n` SYNs from distinct ports, 1 ms apart.
fn syn_flood(n: u16) -> Vec<u8> {
    let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    pcap.extend(65535u32.to_le_bytes());
    pcap.extend(101u32.to_le_bytes());
    for k in 0..n {
        let mut ip = vec![
            0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 19, 0, 1,
        ];
        ip.extend((10_000 + k).to_be_bytes());
        ip.extend([
            0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        pcap.extend(1u32.to_le_bytes());
        pcap.extend((u32::from(k) * 1000).to_le_bytes());
        pcap.extend(40u32.to_le_bytes());
        pcap.extend(40u32.to_le_bytes());
        pcap.extend(ip);
    }
    pcap
}

#[test]
fn max_connections_finishes_the_oldest_syn_only_connections_early_and_says_so() {
    let tmp = common::tempdir();
    let f = tmp.path().join("flood.pcap");
    std::fs::write(&f, syn_flood(500)).unwrap();
    let args = ["analyze", f.to_str().unwrap(), "--format", "zeek", "-C"];
    let (code, all, err) = run(&args);
    assert_eq!((code, err.as_str()), (0, ""));
    let (code, capped, err) = run(&[&args[..], &["--max-connections", "100"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        "tcpmortem: warning: --max-connections 100: 400 connections that had seen only a SYN and 0 others (the least recently active) were finished early to stay within it; a later packet of one of them starts a new connection\n"
    );
    // Nothing is lost: the same 500 rows (the evicted ones sooner), all S0.
    let rows = |log: &str| -> Vec<String> {
        let mut v: Vec<String> = log
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').skip(2).collect::<Vec<_>>().join("\t"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(rows(&capped).len(), 500);
    assert_eq!(rows(&capped), rows(&all));
    assert!(rows(&all).iter().all(|r| r.contains("\tS0\t")));
    let (code, _, err) = run(&[&args[..], &["--max-connections", "0"]].concat());
    assert_eq!(code, 64, "{err}");
}
