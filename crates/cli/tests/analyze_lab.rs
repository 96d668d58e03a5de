//! The lab is the ground truth for analyze's endings: every built-in scenario runs with
//! `--pcap`, and analyze, reading the client's link of that capture, must tell the ending the
//! scenario produced, by the right side, with the Linux error the lab's client or server
//! really got. Needs root, like the lab.

mod common;

use common::{json, privileged, tcpmortem};
use serde_json::Value;

/// (ending, by, client's Linux error, server's Linux error); `-` for none.
type Told = (&'static str, &'static str, &'static str, &'static str);

/// Scenario → each connection's (ending, by, client's Linux error, server's Linux error), in
/// order of their first packet. The errors are what the scenario's own expectations check.
const EXPECTED: &[(&str, &[Told])] = &[
    (
        "accept-queue-abort",
        &[
            ("half-open", "server", "ECONNRESET 104", "-"),
            ("still-open", "-", "-", "-"),
        ],
    ),
    (
        "accept-queue-full",
        &[
            ("still-open", "-", "-", "-"),
            ("syn-unanswered", "client", "ETIMEDOUT 110", "-"),
        ],
    ),
    (
        "close-with-unread-data",
        &[("abortive-close", "server", "ECONNRESET 104", "-")],
    ),
    (
        "connect-refused",
        &[("refused", "server", "ECONNREFUSED 111", "-")],
    ),
    (
        "graceful-close",
        &[("graceful-close", "client", "EOF", "EOF")],
    ),
    ("half-close", &[("half-closed", "client", "-", "EOF")]),
    (
        "icmp-unreachable-connect",
        &[("unreachable", "client", "EHOSTUNREACH 113", "-")],
    ),
    (
        "icmp-unreachable-established",
        &[("unreachable", "client", "EHOSTUNREACH 113", "-")],
    ),
    (
        "ipv6-reset",
        &[("abortive-close", "server", "ECONNRESET 104", "-")],
    ),
    (
        "keepalive-timeout",
        &[(
            "keepalive-timeout",
            "client",
            "ETIMEDOUT 110",
            "ECONNRESET 104",
        )],
    ),
    (
        "linger-abort",
        &[("abortive-close", "server", "ECONNRESET 104", "-")],
    ),
    (
        "local-abort",
        &[("abortive-close", "client", "-", "ECONNRESET 104")],
    ),
    (
        "middlebox-idle-timeout",
        &[("retransmission-timeout", "client", "ETIMEDOUT 110", "-")],
    ),
    (
        "middlebox-reset",
        &[("middlebox-reset", "server", "ECONNRESET 104", "-")],
    ),
    (
        "peer-reboot",
        &[("half-open", "server", "ECONNRESET 104", "-")],
    ),
    (
        "reset-with-queued-data",
        &[("abortive-close", "server", "ECONNRESET 104", "-")],
    ),
    (
        "server-closes-early",
        &[("data-after-close", "server", "EPIPE 32", "-")],
    ),
    (
        "server-crashes-with-unread-data",
        &[("abortive-close", "server", "ECONNRESET 104", "-")],
    ),
    (
        "server-crashes",
        &[("data-after-close", "server", "EPIPE 32", "-")],
    ),
    (
        "syn-dropped",
        &[("syn-unanswered", "client", "ETIMEDOUT 110", "-")],
    ),
    (
        "user-timeout",
        &[("retransmission-timeout", "client", "ETIMEDOUT 110", "-")],
    ),
];

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("-").to_string()
}

/// Runs one scenario with --pcap and analyzes the client's link, and the whole capture (both
/// router links, each packet counted once): the two must tell the same.
fn endings(name: &str, dir: &std::path::Path) -> Vec<(String, String, String, String)> {
    let pcap = dir.join(format!("{name}.pcapng"));
    let run = tcpmortem()
        .args(["lab", "run", name, "--pcap", pcap.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "lab run {name}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let client_link = told(&pcap, &["--interface", "to-client"]);
    let both_links = told(&pcap, &[]);
    assert_eq!(
        both_links, client_link,
        "{name}: both links read as one capture differ from the client's link"
    );
    client_link
}

fn told(pcap: &std::path::Path, more: &[&str]) -> Vec<(String, String, String, String)> {
    let out = tcpmortem()
        .args(["analyze", pcap.to_str().unwrap(), "--format", "json"])
        .args(more)
        .output()
        .unwrap();
    assert!(out.status.success(), "analyze {}", pcap.display());
    let mut conns: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    conns.sort_by_key(|c| c["first_frame"].as_u64());
    conns
        .iter()
        .map(|c| {
            let e = &c["ending"];
            (
                text(&e["kind"]),
                text(&e["by"]),
                text(&e["client_saw"]["linux"]),
                text(&e["server_saw"]["linux"]),
            )
        })
        .collect()
}

#[test]
fn every_builtin_scenarios_capture_is_told_the_ending_the_lab_produced() {
    if !privileged("analyze-lab") {
        return;
    }
    let listed = json(&["lab", "list", "--json"]);
    // Those that run programs (curl, python3) are lab_programs.rs's.
    let names: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.get("programs").is_none())
        .map(|s| text(&s["name"]))
        .collect();
    let mut table: Vec<&str> = EXPECTED.iter().map(|e| e.0).collect();
    table.sort_unstable();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, table, "every built-in scenario needs its row here");

    let tmp = common::tempdir();
    let dir = tmp.path();
    // Four at a time: the lab isolates concurrent runs, and the sleeps dominate.
    let mut results = Vec::new();
    for chunk in EXPECTED.chunks(4) {
        let got: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(name, _)| s.spawn(|| endings(name, dir)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        results.extend(chunk.iter().zip(got));
    }
    let mut wrong = Vec::new();
    for ((name, want), got) in results {
        let want: Vec<(String, String, String, String)> = want
            .iter()
            .map(|w| (w.0.into(), w.1.into(), w.2.into(), w.3.into()))
            .collect();
        if want != got {
            wrong.push(format!("{name}:\n  expected {want:?}\n  analyzed {got:?}"));
        }
    }
    eprintln!(
        "analyze told {} of {} lab scenarios right",
        EXPECTED.len() - wrong.len(),
        EXPECTED.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
