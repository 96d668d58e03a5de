//! The lab on real sockets. These tests need root (or CAP_SYS_ADMIN + CAP_NET_ADMIN +
//! CAP_NET_RAW) and tracefs; in CI a missing privilege fails them loudly, elsewhere they say
//! they were skipped.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::{lab_json, tcpmortem};

fn lab_available() -> bool {
    common::privileged("lab")
}

/// Every expectation of a run passed; returns how many there were.
fn all_passed(v: &Value) -> usize {
    let exps = v["expectations"].as_array().unwrap();
    for e in exps {
        assert_eq!(e["status"], "passed", "{e}");
    }
    exps.len()
}

/// Each step's result: `5 bytes`, `eof`, `EPIPE+SIGPIPE`, `connected`, ...
fn results(v: &Value) -> Vec<String> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let o = &s["outcome"];
            let mut r = match o["result"].as_str().unwrap_or("-") {
                "bytes" => format!("{} bytes", o["bytes"]),
                "error" => o["errno"].as_str().unwrap().to_string(),
                other => other.to_string(),
            };
            if s["sigpipe"] == true {
                r.push_str("+SIGPIPE");
            }
            r
        })
        .collect()
}

/// Each step's states after it settled: `client/server`.
fn states_after(v: &Value) -> Vec<String> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let st = |host: &str| {
                s["after"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["host"] == host)
                    .map(|e| e["state"].as_str().unwrap_or("-").to_string())
                    .unwrap_or_else(|| "-".into())
            };
            format!("{}/{}", st("client"), st("server"))
        })
        .collect()
}

/// The TCP segments: `>S` from the client, `<R` from the server.
fn flags(v: &Value) -> Vec<String> {
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["proto"] == "tcp")
        .map(|p| {
            let from = if p["from"] == "client" { ">" } else { "<" };
            format!("{from}{}", p["flags"].as_str().unwrap())
        })
        .collect()
}

fn events<'a>(v: &'a Value, event: &str) -> Vec<&'a Value> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == event)
        .collect()
}

#[test]
fn seed_10053_server_closes_early() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let pcap = dir.path().join("seed.pcapng");
    let v = lab_json("server-closes-early", &["--pcap", pcap.to_str().unwrap()]);
    assert_eq!(all_passed(&v), 12);
    assert_eq!(
        results(&v),
        [
            "connected",
            "accepted",
            "5 bytes",
            "5 bytes",
            "ok",
            "9 bytes",
            "eof",
            "EPIPE+SIGPIPE"
        ]
    );
    // The second send is accepted in CLOSE_WAIT while the server's end is FIN_WAIT2 (a
    // timewait mini-socket after close); the RST then takes both ends away.
    assert_eq!(
        states_after(&v),
        [
            "ESTABLISHED/ESTABLISHED",
            "ESTABLISHED/ESTABLISHED",
            "ESTABLISHED/ESTABLISHED",
            "ESTABLISHED/ESTABLISHED",
            "CLOSE_WAIT/FIN_WAIT2",
            "CLOSE/-",
            "CLOSE/-",
            "CLOSE/-",
        ]
    );
    let send9 = &v["steps"][5]["before"];
    assert_eq!(send9[0]["state"], "CLOSE_WAIT");
    assert_eq!(
        flags(&v),
        [">S", "<S.", ">.", ">P.", "<.", "<F.", ">.", ">P.", "<R"]
    );
    let resets = events(&v, "tcp_send_reset");
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!(resets[0]["host"], "server");
    assert_eq!(resets[0]["reason"], "TCP_TIMEWAIT_SOCKET");
    assert_eq!(resets[0]["state"], "TIME_WAIT");
    let stored = events(&v, "inet_sk_error_report");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["host"], "client");
    assert_eq!(stored[0]["error"], "EPIPE");
    // The Windows reading of the recv is the seed's own error.
    assert_eq!(
        v["steps"][6]["other_os"][0]["result"],
        "WSAECONNABORTED 10053"
    );
    assert_eq!(v["environment"]["congestion_control"], "cubic");
    assert_eq!(v["environment"]["settle_ms"], 50.0);
    assert!(v["environment"]["tracefs"].as_bool().unwrap());
    let explanation = v["explanation"].to_string();
    assert!(explanation.contains("TCP_TIMEWAIT_SOCKET"), "{explanation}");

    // The capture opens in tshark, with the RST and the step comments.
    let out = std::process::Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap(), "-Y", "tcp", "-T", "fields"])
        .args([
            "-e",
            "frame.interface_name",
            "-e",
            "tcp.flags.reset",
            "-e",
            "frame.comment",
        ])
        .output()
        .expect("tshark is installed by scripts/test");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rst: Vec<&str> = text
        .lines()
        .filter(|l| l.split('\t').nth(1) == Some("1"))
        .collect();
    assert_eq!(rst.len(), 2, "the RST, on both links:\n{text}");
    assert!(
        rst.iter().all(|l| l
            .ends_with("tcpmortem step 6 (line 15): client send 9 · server#1 → client#1")),
        "the RST is not commented with the step that caused it and its connection:\n{text}"
    );
    // Both router links are interfaces: every segment appears on each side.
    assert!(text.contains("to-client") && text.contains("to-server"));
    assert_eq!(
        text.lines().count(),
        18,
        "9 segments seen on both links:\n{text}"
    );
}

#[test]
fn seed_10054_server_crashes_sends_fin_not_rst() {
    if !lab_available() {
        return;
    }
    let v = lab_json("server-crashes", &[]);
    assert_eq!(all_passed(&v), 7);
    assert_eq!(
        results(&v),
        [
            "connected",
            "accepted",
            "5 bytes",
            "5 bytes",
            "killed",
            "9 bytes",
            "eof",
            "EPIPE+SIGPIPE"
        ]
    );
    // SIGKILL closes like close(): FIN, then the late data meets the timewait socket.
    assert_eq!(
        flags(&v),
        [">S", "<S.", ">.", ">P.", "<.", "<F.", ">.", ">P.", "<R"]
    );
    let resets = events(&v, "tcp_send_reset");
    assert_eq!(resets[0]["reason"], "TCP_TIMEWAIT_SOCKET");
    assert!(
        v["steps"][4]["other_os"][0]["result"]
            .as_str()
            .unwrap()
            .contains("WSAECONNRESET 10054")
    );
}

#[test]
fn server_crashes_with_unread_data_resets_at_once() {
    if !lab_available() {
        return;
    }
    let v = lab_json("server-crashes-with-unread-data", &[]);
    assert_eq!(all_passed(&v), 6);
    assert_eq!(
        results(&v),
        [
            "connected",
            "accepted",
            "5 bytes",
            "killed",
            "ECONNRESET",
            "eof",
            "EPIPE+SIGPIPE"
        ]
    );
    assert_eq!(flags(&v), [">S", "<S.", ">.", ">P.", "<.", "<R."]);
    let resets = events(&v, "tcp_send_reset");
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0]["reason"], "TCP_ABORT_ON_CLOSE");
    assert_eq!(events(&v, "inet_sk_error_report")[0]["error"], "ECONNRESET");
    assert_eq!(
        states_after(&v),
        [
            "ESTABLISHED/ESTABLISHED",
            "ESTABLISHED/ESTABLISHED",
            "ESTABLISHED/ESTABLISHED",
            "CLOSE/-",
            "CLOSE/-",
            "CLOSE/-",
            "CLOSE/-",
        ]
    );
}

fn instances_of(pid: u32) -> Vec<String> {
    std::fs::read_dir("/sys/kernel/tracing/instances")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with(&format!("tcpmortem-{pid}-")))
                .collect()
        })
        .unwrap_or_default()
}

fn slow_scenario(dir: &Path) -> PathBuf {
    let p = dir.join("slow.tcpm");
    std::fs::write(
        &p,
        "name slow\nclient connect\nserver accept\nsleep 5s\nclient send 1\n",
    )
    .unwrap();
    p
}

fn start_marked(args: &[&str], marker: &str) -> std::process::Child {
    let (k, v) = marker.split_once('=').unwrap();
    std::process::Command::new(assert_cmd::cargo::cargo_bin("tcpmortem"))
        .args(args)
        .env(k, v)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Starts a run (with `extra` options) that sleeps in its third step, marked so that its
/// actors can be found, and waits until tcpmortem and both actors are up.
fn start_slow_run(tag: &str, extra: &[&str]) -> (std::process::Child, String) {
    let dir = common::tempdir();
    let sc = slow_scenario(dir.path());
    let marker = format!("TCPMORTEM_TEST_MARK={tag}{}", common::unique());
    let args = [&["lab", "run", sc.to_str().unwrap()], extra].concat();
    let child = start_marked(&args, &marker);
    common::wait_until("the actors to start", Duration::from_secs(10), || {
        common::processes_with(&marker).len() >= 3
    });
    (child, marker)
}

#[test]
fn sigkill_of_tcpmortem_leaves_nothing_behind_after_the_next_run() {
    if !lab_available() {
        return;
    }
    // The kernel events' eBPF programs die with the process; a tracefs instance (the
    // fallback's) outlives it until the next run sweeps it.
    let (mut child, marker) = start_slow_run("kill", &["--kernel-events", "tracefs"]);
    let pid = child.id();
    assert!(
        !instances_of(pid).is_empty(),
        "the run has a tracefs instance"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // The actors die with their parent (PR_SET_PDEATHSIG); namespaces held only by fds go
    // with them.
    common::wait_until("the actors to die", Duration::from_secs(5), || {
        common::processes_with(&marker).is_empty()
    });
    // The next run sweeps the instance the killed one could not remove.
    assert_eq!(
        instances_of(pid).len(),
        1,
        "the killed run's instance is still there"
    );
    lab_json("server-crashes-with-unread-data", &[]);
    assert!(
        instances_of(pid).is_empty(),
        "the next run swept the orphaned instance"
    );
}

#[test]
fn sigint_stops_a_run_cleanly() {
    if !lab_available() {
        return;
    }
    let (mut child, marker) = start_slow_run("int", &[]);
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(300));
    // kill(1) by pid: a process this test started.
    let st = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        common::processes_with(&marker).is_empty(),
        "actors left behind"
    );
    assert!(instances_of(pid).is_empty(), "tracefs instance left behind");
}

#[test]
fn two_runs_at_once_do_not_see_each_other() {
    if !lab_available() {
        return;
    }
    let a = std::thread::spawn(|| lab_json("server-closes-early", &[]));
    let b = std::thread::spawn(|| lab_json("server-crashes-with-unread-data", &[]));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_ne!(a["addresses"]["client"], b["addresses"]["client"]);
    for v in [&a, &b] {
        let own = [
            v["addresses"]["client"].as_str().unwrap(),
            v["addresses"]["server"].as_str().unwrap(),
        ];
        for e in v["events"].as_array().unwrap() {
            for k in ["local", "remote"] {
                let addr = e[k].as_str().unwrap();
                // A listener's remote end is unspecified.
                let unspecified = k == "remote" && addr == "0.0.0.0:0";
                assert!(
                    unspecified || own.iter().any(|o| addr.starts_with(&format!("{o}:"))),
                    "foreign event {e}"
                );
            }
        }
    }
    // Each run has exactly its own scenario's packets and resets.
    assert_eq!(flags(&a).len(), 9);
    assert_eq!(flags(&b).len(), 6);
    assert_eq!(events(&a, "tcp_send_reset").len(), 1);
    assert_eq!(events(&b, "tcp_send_reset").len(), 1);
}

#[test]
fn syntax_errors_point_at_line_and_column() {
    let dir = common::tempdir();
    let p = dir.path().join("bad.tcpm");
    std::fs::write(&p, "client connect\nserver acept\n").unwrap();
    let out = tcpmortem()
        .args(["lab", "run", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:2:8: unknown operation \"acept\"; did you mean accept?",
            p.display()
        )),
        "{err}"
    );
}

#[test]
fn unknown_scenario_and_show() {
    tcpmortem()
        .args(["lab", "run", "no-such-scenario"])
        .assert()
        .code(66);
    let out = tcpmortem()
        .args(["lab", "show", "server-closes-early"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("# The seed's WSAECONNABORTED 10053 case.")
    );
    let out = tcpmortem().args(["lab", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    for name in [
        "server-closes-early",
        "server-crashes",
        "server-crashes-with-unread-data",
    ] {
        assert!(list.contains(name), "{list}");
    }
}

#[test]
fn without_privileges_the_error_names_what_is_missing() {
    if !lab_available() {
        return;
    }
    let out = common::unprivileged(&["lab", "run", "server-closes-early"]);
    assert_eq!(
        out.status.code(),
        Some(77),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("CAP_SYS_ADMIN + CAP_NET_ADMIN + CAP_NET_RAW"),
        "{err}"
    );
}

#[test]
fn a_blocked_call_completes_later() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let p = dir.path().join("blocked.tcpm");
    std::fs::write(
        &p,
        "name blocked\nclient connect\nserver accept\nserver recv   # nothing to read yet\nclient send 3\n",
    )
    .unwrap();
    let v = lab_json(p.to_str().unwrap(), &[]);
    assert_eq!(results(&v), ["connected", "accepted", "blocked", "3 bytes"]);
    let blocked: Vec<&Value> = v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["blocked"] == true)
        .collect();
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    let c = blocked[0];
    assert_eq!(c["step"], 2);
    assert_eq!(c["host"], "server");
    assert_eq!(c["conn"], 1);
    assert_eq!(c["outcome"]["result"], "bytes");
    assert_eq!(c["outcome"]["bytes"], 3);
    // It returned after the client's send started.
    assert!(c["returned_ns"].as_u64().unwrap() >= v["steps"][3]["start_ns"].as_u64().unwrap());
}

#[test]
fn without_tracefs_the_run_still_works_and_says_so() {
    if !lab_available() {
        return;
    }
    let v = lab_json("server-closes-early", &["--no-tracefs"]);
    assert_eq!(results(&v)[6..], ["eof", "EPIPE+SIGPIPE"]);
    assert_eq!(v["environment"]["tracefs"], false);
    assert!(v["events"].as_array().unwrap().is_empty());
    assert!(
        v["notes"][0]
            .as_str()
            .unwrap()
            .contains("kernel view missing")
    );
}

#[test]
fn a_failed_step_leaves_nothing_behind() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let p = dir.path().join("fails.tcpm");
    // A step that fails while the run is under way: the parser cannot know this sysctl.
    std::fs::write(
        &p,
        "name fails\nclient connect\nsysctl client net.ipv4.no_such_knob=1\n",
    )
    .unwrap();
    let marker = format!("TCPMORTEM_TEST_MARK=fail{}", common::unique());
    let child = start_marked(&["lab", "run", p.to_str().unwrap()], &marker);
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3: "), "{err}");
    assert!(
        common::processes_with(&marker).is_empty(),
        "actors left behind"
    );
    assert!(instances_of(pid).is_empty(), "tracefs instance left behind");
}

#[test]
fn a_failed_expectation_exits_1_with_a_diff_and_scopes_are_never_passed() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let p = dir.path().join("wrong.tcpm");
    std::fs::write(
        &p,
        "name wrong\nclient connect\nserver accept\nclient send 5\nserver kill\nclient recv\nexpect client recv = EOF\nexpect kernel reset reason = TCP_ABORT_ON_CLOSE on kernel < 6.1\n",
    )
    .unwrap();
    let out = tcpmortem()
        .args(["lab", "run", p.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 of 2 expectations failed"), "{err}");
    assert!(
        err.contains("- expected: expect client recv = EOF"),
        "{err}"
    );
    assert!(
        err.contains("+ observed: client recv → ECONNRESET"),
        "{err}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["expectations"][0]["status"], "failed");
    assert_eq!(v["expectations"][1]["status"], "not-checked");
}

#[test]
fn the_whole_catalog_passes_its_expectations() {
    if !lab_available() {
        return;
    }
    let rows = common::json(&["lab", "run", "--all", "--json"]);
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 16, "{} scenarios", rows.len());
    let mut expectations = 0;
    for r in rows {
        assert!(r["error"].is_null(), "{r}");
        assert_eq!(r["failed"], 0, "{r}");
        assert_eq!(r["not_checked"], 0, "{r}");
        assert!(
            r["passed"].as_u64().unwrap() >= 1,
            "{r}: a built-in checks itself"
        );
        expectations += r["passed"].as_u64().unwrap();
    }
    println!(
        "{} scenarios, {expectations} expectations passed",
        rows.len()
    );
}

#[test]
fn repro_runs_every_scenario_of_an_error_and_list_names_the_errors() {
    if !lab_available() {
        return;
    }
    let runs = common::json(&["lab", "repro", "10053", "--json"]);
    let names: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scenario"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["server-closes-early", "local-abort"]);
    tcpmortem()
        .args(["lab", "repro", "ECONNRESTE"])
        .assert()
        .code(2);
    tcpmortem()
        .args(["lab", "repro", "ENETRESET"])
        .assert()
        .code(66);

    let list = common::json(&["lab", "list", "--json"]);
    let seed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "server-closes-early")
        .unwrap();
    assert!(!seed["description"].as_str().unwrap().is_empty());
    // The list says what the seed's run measured (EOF, then EPIPE), and what Windows and
    // macOS would return in its place.
    let errors = seed["errors"].as_array().unwrap();
    let calls: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e["call"].as_str().unwrap(), e["linux"].as_str().unwrap()))
        .collect();
    assert_eq!(
        calls,
        [("client recv", "EOF"), ("client send", "EPIPE + SIGPIPE")]
    );
    assert_eq!(errors[0]["windows"]["result"], "WSAECONNABORTED 10053");
    assert_eq!(errors[0]["windows"]["basis"], "obs");
    assert_eq!(errors[0]["macos"]["result"], "ECONNRESET 54");
    // accept-queue-abort has its error too: the reset connection's recv.
    let aqa = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "accept-queue-abort")
        .unwrap();
    assert_eq!(aqa["errors"][0]["call"], "client#1 recv");
    assert_eq!(aqa["errors"][0]["linux"], "ECONNRESET");
}

/// Renders an SVG in headless Chromium and returns the PNG's size in bytes.
fn chromium_png(svg: &std::path::Path, dir: &std::path::Path, tag: &str) -> u64 {
    let png = dir.join(format!("{tag}.png"));
    let status = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1120,700",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join(format!("profile-{tag}")).display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("chromium is installed by scripts/test");
    assert!(status.success(), "chromium failed on {}", svg.display());
    std::fs::metadata(&png).unwrap().len()
}

#[test]
fn the_ladder_diagram_draws_in_a_browser() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let svg = dir.path().join("seed.svg");
    tcpmortem()
        .args([
            "lab",
            "run",
            "server-closes-early",
            "--svg",
            svg.to_str().unwrap(),
        ])
        .assert()
        .success();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(text.trim_end().ends_with("</svg>"));
    // Three lifelines and one arrow per packet of the seed's nine.
    assert_eq!(text.matches("<line ").count(), 3 + 9, "{text}");
    for label in [
        "[7] client recv → 0 (EOF)",
        "kernel sends RST: TCP_TIMEWAIT_SOCKET",
        "CLOSE_WAIT",
        "R seq 2",
    ] {
        assert!(text.contains(label), "missing {label:?}");
    }
    // It draws: the screenshot holds far more than a blank page of the same size.
    let blank = dir.path().join("blank.svg");
    std::fs::write(&blank, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1120\" height=\"700\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/></svg>").unwrap();
    let (drawn, empty) = (
        chromium_png(&svg, dir.path(), "seed"),
        chromium_png(&blank, dir.path(), "blank"),
    );
    assert!(
        drawn > 10 * empty,
        "diagram {drawn} bytes vs blank {empty} bytes"
    );
}

/// The text of `tcpmortem ARGS`, with its exit code and stderr.
/// `src` written as `scenario.tcpm` in `dir`.
fn scenario_file(dir: &Path, src: &str) -> PathBuf {
    let p = dir.join("scenario.tcpm");
    std::fs::write(&p, src).unwrap();
    p
}

fn run_text(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tcpmortem().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn step_counters<'a>(v: &'a Value, step: usize, host: &str) -> Vec<(&'a str, i64)> {
    v["steps"][step]["counters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["host"] == host)
        .map(|c| (c["name"].as_str().unwrap(), c["delta"].as_i64().unwrap()))
        .collect()
}

/// accept-queue-abort has two connections: each has its own 4-tuple, states, packets and
/// events, and every renderer says which one a line belongs to.
#[test]
fn several_connections_are_recorded_apart() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let (pcap, svg) = (dir.path().join("aqa.pcapng"), dir.path().join("aqa.svg"));
    let v = lab_json(
        "accept-queue-abort",
        &[
            "--pcap",
            pcap.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ],
    );
    assert_eq!(all_passed(&v), 7);
    let conns = v["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 2, "{conns:?}");
    assert_ne!(conns[0]["client"], conns[1]["client"]);
    // After #1's data: #1 was reset, #2 is established and waits in the accept queue.
    let after = |step: usize, host: &str, conn: u64| {
        v["steps"][step]["after"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["host"] == host && e["conn"] == conn)
            .map(|e| e["state"].as_str().unwrap_or("-").to_string())
            .unwrap()
    };
    assert_eq!(after(6, "client", 1), "CLOSE");
    assert_eq!(after(6, "client", 2), "ESTABLISHED");
    assert_eq!(after(6, "server", 2), "ESTABLISHED");
    assert_eq!(after(6, "server", 1), "-");
    // Before the second handshake completes, the first's server end is a request socket and
    // the second has none yet: it was answered with a SYN cookie.
    assert_eq!(after(4, "server", 1), "SYN_RECV");
    assert_eq!(after(4, "server", 2), "-");
    assert_eq!(v["steps"][6]["listeners"][0]["accept_queue"], 1);
    // The step's call says which connection it acted on.
    assert_eq!(v["steps"][5]["conn"], 2, "client send 1 goes to the newest");
    assert_eq!(v["steps"][6]["conn"], 1, "client#1 send 1");
    assert_eq!(v["steps"][7]["conn"], 1, "client#1 recv");
    assert_eq!(results(&v)[7], "ECONNRESET");
    // Every packet and event belongs to its connection; the RST to #1.
    for p in v["packets"].as_array().unwrap() {
        assert!(p["conn"].as_u64().is_some(), "{p}");
    }
    let rst: Vec<&Value> = v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["flags"].as_str().is_some_and(|f| f.contains('R')))
        .collect();
    assert_eq!(rst.len(), 1);
    assert_eq!(rst[0]["conn"], 1);
    assert_eq!(events(&v, "tcp_send_reset")[0]["conn"], 1);
    assert_eq!(events(&v, "inet_sk_error_report")[0]["conn"], 1);
    // The kernel counted the overflow, and the cookie that completed #2.
    assert!(step_counters(&v, 6, "server").contains(&("ListenOverflows", 1)));
    assert!(step_counters(&v, 4, "server").contains(&("SyncookiesSent", 1)));
    assert!(step_counters(&v, 5, "server").contains(&("SyncookiesRecv", 1)));

    let (code, text, _) = run_text(&["lab", "run", "accept-queue-abort"]);
    assert_eq!(code, Some(0));
    for want in [
        "client#1 │ S seq 0",
        "client#2 │ S seq 0",
        "states: client#1 ESTABLISHED (Recv-Q 0, Send-Q 0) │ server#1 SYN_RECV",
        "client#2 ESTABLISHED (Recv-Q 0, Send-Q 0) │ server#2 no socket",
        "⚙ server#1 kernel sends RST: INVALID_SYN",
        "client#1 kernel stores ECONNRESET",
        "kernel counted: ",
        "ListenOverflows +1",
        "[8] client#1 recv (connection #1) → ECONNRESET (104)",
        "During step 5 `client connect` (connection #2) the server's kernel counted SyncookiesSent +1",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    // pcapng comments name the connection of every packet.
    let out = std::process::Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap(), "-Y", "tcp", "-T", "fields"])
        .args(["-e", "frame.comment"])
        .output()
        .unwrap();
    let comments = String::from_utf8_lossy(&out.stdout);
    assert!(comments.contains("client#1 → server#1"), "{comments}");
    assert!(comments.contains("client#2 → server#2"), "{comments}");
    assert!(comments.contains("server#1 → client#1"), "{comments}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.contains("#2 S seq 0") && svg.contains("#1 R seq 1"),
        "{svg}"
    );
}

/// The router's ICMP host-unreachable is recorded and drawn, and connect() is the blocking
/// call an application makes: the first ICMP arrives while connect holds the socket (a soft
/// error, LockDroppedIcmps), and the SYN retransmitted at 1 s fails it.
#[test]
fn icmp_is_recorded_and_a_blocking_connect_fails_when_an_application_s_would() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let (pcap, svg) = (dir.path().join("icmp.pcapng"), dir.path().join("icmp.svg"));
    let v = lab_json(
        "icmp-unreachable-connect",
        &[
            "--pcap",
            pcap.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ],
    );
    assert_eq!(all_passed(&v), 2);
    assert_eq!(flags(&v), [">S", ">S"]);
    let icmp: Vec<&Value> = v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["proto"] == "icmp")
        .collect();
    assert_eq!(icmp.len(), 2, "{icmp:?}");
    for p in &icmp {
        assert_eq!(p["from"], "router");
        assert_eq!(p["to"], "client");
        assert_eq!(p["message"], "host-unreachable");
        assert_eq!(
            (p["icmp_type"].as_u64(), p["code"].as_u64()),
            (Some(3), Some(1))
        );
        assert_eq!(p["conn"], 1);
        assert_eq!(p["quoted_seq"], 0);
    }
    let connect = &v["calls"][0];
    assert_eq!(connect["outcome"]["errno"], "EHOSTUNREACH");
    let took = connect["returned_ns"].as_u64().unwrap() - connect["start_ns"].as_u64().unwrap();
    assert!(
        (900_000_000..2_000_000_000).contains(&took),
        "connect returned after {took} ns"
    );
    let counted = step_counters(&v, 1, "client");
    assert!(counted.contains(&("LockDroppedIcmps", 1)), "{counted:?}");
    assert!(counted.contains(&("InDestUnreachs", 2)), "{counted:?}");
    assert!(step_counters(&v, 1, "router").contains(&("OutDestUnreachs", 2)));

    let (_, text, _) = run_text(&["lab", "run", "icmp-unreachable-connect"]);
    assert!(
        text.contains("◀── ICMP host-unreachable (seq 0) ┤router"),
        "{text}"
    );
    assert!(text.contains("✕ rejected by the router"), "{text}");
    assert!(text.contains("LockDroppedIcmps +1"), "{text}");
    let out = std::process::Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap(), "-Y", "icmp", "-T", "fields"])
        .args(["-e", "icmp.type", "-e", "frame.comment"])
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout);
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(
        lines.lines().all(|l| l.starts_with("3\t")
            && l.contains("router → client#1 (ICMP about client#1 → server#1)")),
        "{lines}"
    );
    assert!(
        std::fs::read_to_string(&svg)
            .unwrap()
            .contains("ICMP host-unreachable")
    );
}

/// Over IPv6 the router answers with ICMPv6 address-unreachable, recorded the same way.
#[test]
fn icmpv6_is_recorded_too() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let p = scenario_file(
        dir.path(),
        "ipv6\nname v6-unreachable\nblocked-after 5s\nnet unreachable client->server\nclient connect\nexpect client connect = EHOSTUNREACH\n",
    );
    let v = lab_json(p.to_str().unwrap(), &[]);
    assert_eq!(all_passed(&v), 1);
    let icmp: Vec<&Value> = v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["proto"] == "icmp")
        .collect();
    assert!(!icmp.is_empty(), "{}", v["packets"]);
    assert!(icmp.iter().all(|p| p["v6"] == true
        && p["message"] == "address-unreachable"
        && p["from"] == "router"));
}

/// Send-Q is what the socket still holds: nothing, once the RST made it CLOSE.
#[test]
fn send_q_of_a_closed_socket_is_what_is_queued() {
    if !lab_available() {
        return;
    }
    let v = lab_json("server-closes-early", &[]);
    let client = &v["steps"][5]["after"][0];
    assert_eq!(client["state"], "CLOSE");
    assert_eq!(client["send_q"], 0, "{client}");
    assert_eq!(client["wmem_queued"], 0, "{client}");
    // The peer-reboot client's data is gone with the RST as well.
    let v = lab_json("peer-reboot", &[]);
    let client = &v["steps"][3]["after"][0];
    assert_eq!(client["state"], "CLOSE");
    assert_eq!(client["send_q"], 0, "{client}");
}

/// SO_KEEPALIVE first, then TCP_KEEPIDLE: the idle time counts from the last packet
/// received, not from the setsockopt. Here the option comes half a second after the last
/// packet the client will ever receive, so the RST comes 3 s after that packet (idle 1 s, two
/// probes 1 s apart), not 3 s after the option.
#[test]
fn keepalive_is_set_in_the_order_applications_use() {
    if !lab_available() {
        return;
    }
    let v = lab_json("keepalive-timeout", &[]);
    assert_eq!(all_passed(&v), 4);
    let step = &v["steps"][3];
    let calls: Vec<&str> = step["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            v["calls"][i.as_u64().unwrap() as usize]["call"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        calls,
        [
            "setsockopt SO_KEEPALIVE 1",
            "setsockopt TCP_KEEPINTVL 1",
            "setsockopt TCP_KEEPCNT 2",
            "setsockopt TCP_KEEPIDLE 1"
        ]
    );
    let dir = common::tempdir();
    let p = dir.path().join("idle.tcpm");
    std::fs::write(
        &p,
        "name idle\nclient connect\nserver accept\nnet drop server->client\nsleep 500ms\nclient keepalive 1 1 2\nsleep 4s\n",
    )
    .unwrap();
    let v = lab_json(p.to_str().unwrap(), &[]);
    let packets = v["packets"].as_array().unwrap();
    let rst = packets.iter().find(|p| p["flags"] == "R.").expect("a RST");
    let last_rx = packets
        .iter()
        .filter(|p| p["from"] == "server" && p["crossed"] == true)
        .map(|p| p["t_ns"].as_u64().unwrap())
        .max()
        .unwrap();
    let idle_set = v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["call"] == "setsockopt TCP_KEEPIDLE 1")
        .unwrap()["start_ns"]
        .as_u64()
        .unwrap();
    let t = rst["t_ns"].as_u64().unwrap();
    assert!(idle_set >= last_rx + 400_000_000);
    // Idle counts from the last packet received: the first probe comes 1 s after it, or at
    // once if that second has already passed, then two probes 1 s apart and the RST. Counted
    // from the option (the other order), the RST would come 3 s after it.
    let expected = (last_rx + 1_000_000_000).max(idle_set) + 2_000_000_000;
    assert!(
        t.abs_diff(expected) < 250_000_000,
        "RST at {t} ns; expected {expected} ns (last packet received {last_rx} ns, TCP_KEEPIDLE {idle_set} ns)"
    );
    assert!(t < idle_set + 2_750_000_000, "idle counted from the option");
}

/// syn-dropped's three SYNs with tcp_syn_retries=1: the environment records
/// tcp_syn_linear_timeouts and the explanation uses it.
#[test]
fn syn_linear_timeouts_are_recorded_and_explained() {
    if !lab_available() {
        return;
    }
    let v = lab_json("syn-dropped", &[]);
    assert_eq!(flags(&v), [">S", ">S", ">S"]);
    let client = &v["environment"]["sysctls"]["client"];
    assert!(
        client["net.ipv4.tcp_syn_linear_timeouts"].is_string(),
        "{client}"
    );
    let text = v["explanation"].to_string();
    assert!(text.contains("sent 3 SYNs"), "{text}");
    assert!(text.contains("tcp_syn_linear_timeouts="), "{text}");
}

/// A 16 MiB send into a peer that reads nothing blocks, then returns the bytes it had queued
/// when the peer's close reset the connection: the timeline and "What happened" say what it
/// returned, and nothing names a FIN, for none was sent.
#[test]
fn a_big_send_that_blocks_is_told_with_what_it_returned() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let p = scenario_file(
        dir.path(),
        "name big-send\nclient connect\nserver accept\nserver linger 0\nclient send 16777216\nserver close\nclient recv\nclient recv\n",
    );
    let v = lab_json(p.to_str().unwrap(), &[]);
    let send = v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["call"] == "send 16777216")
        .unwrap();
    assert_eq!(send["blocked"], true, "{send}");
    assert_eq!(send["outcome"]["result"], "bytes", "{send}");
    let n = send["outcome"]["bytes"].as_u64().unwrap();
    assert!(n > 0 && n < 16 << 20, "{send}");
    assert!(send["returned_ns"].as_u64().is_some(), "{send}");
    assert_eq!(
        &results(&v)[3..],
        ["blocked", "ok", "ECONNRESET", "eof"],
        "{}",
        v["steps"]
    );
    let fin = |p: &&Value| p["flags"].as_str().is_some_and(|f| f.contains('F'));
    assert!(!v["packets"].as_array().unwrap().iter().any(|p| fin(&p)));
    let told = v["explanation"].to_string();
    assert!(!told.contains("FIN"), "{told}");
    assert!(
        told.contains(&format!(
            "`client send 16777216` → blocked in ESTABLISHED, then {n} bytes after"
        )),
        "{told}"
    );
    let r: tcpmortem_lab::record::Record = serde_json::from_value(v.clone()).unwrap();
    let facts = tcpmortem_lab::explain::facts(&r);
    assert!(tcpmortem_lab::explain::audit(&r, &facts).is_empty());

    let (code, text, err) = run_text(&["lab", "run", p.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        text.contains("[4] client send 16777216 → blocked"),
        "{text}"
    );
    assert!(
        text.contains("↳ [4] `client send 16777216` (was blocked) returned → "),
        "{text}"
    );
}

/// What each call of a run returned, as `call → result`: the result, errno or byte count,
/// SIGPIPE, and the connection (addresses left out: they differ from run to run).
fn call_results(v: &Value) -> Vec<String> {
    v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let o = &c["outcome"];
            format!(
                "{} #{} {} → {} {} {}{}",
                c["host"].as_str().unwrap_or("?"),
                c["conn"],
                c["call"]
                    .as_str()
                    .unwrap_or("?")
                    .split(' ')
                    .filter(|w| w.parse::<std::net::SocketAddr>().is_err())
                    .collect::<Vec<_>>()
                    .join(" "),
                o["result"].as_str().unwrap_or("none"),
                o["errno"].as_str().unwrap_or(""),
                o["bytes"],
                if c["sigpipe"] == true { " SIGPIPE" } else { "" }
            )
        })
        .collect()
}

/// Runs every built-in scenario, four at a time, and checks each record's facts against it,
/// and every call's result against the saved run in tests/data/lab, call for call: a change
/// that alters what any call of the catalog returns shows here.
#[test]
fn every_builtin_run_is_explained_by_its_own_record() {
    if !lab_available() {
        return;
    }
    let names: Vec<&str> = tcpmortem_lab::builtin::BUILTIN
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(name) = names.get(i) else { break };
                    let v = lab_json(name, &[]);
                    let r: tcpmortem_lab::record::Record =
                        serde_json::from_value(v.clone()).unwrap();
                    let facts = tcpmortem_lab::explain::facts(&r);
                    let bad = tcpmortem_lab::explain::audit(&r, &facts);
                    assert!(bad.is_empty(), "{name}: {bad:#?}");
                    // The JSON's facts are those facts.
                    assert_eq!(v["facts"], serde_json::to_value(&facts).unwrap(), "{name}");
                    let saved: Value = serde_json::from_str(
                        &std::fs::read_to_string(format!(
                            "{}/../../tests/data/lab/{name}.json",
                            env!("CARGO_MANIFEST_DIR")
                        ))
                        .unwrap(),
                    )
                    .unwrap();
                    assert_eq!(call_results(&v), call_results(&saved), "{name}");
                    calls.fetch_add(call_results(&v).len(), std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    let calls = calls.into_inner();
    eprintln!(
        "{calls} calls of {} scenarios agree with their saved runs",
        names.len()
    );
    assert!(calls >= 100, "{calls} calls");
}

fn long_scenario(dir: &Path) -> PathBuf {
    let p = dir.join("long.tcpm");
    std::fs::write(
        &p,
        "name long\nclient connect\nserver accept\nclient send 5\nsleep 3600s\n",
    )
    .unwrap();
    p
}

/// Starts `lab run ARGS` in a process group of its own, waits for its actors, signals it (or
/// its whole group) and returns its exit code and output.
fn interrupt(args: &[&str], sig: &str, group: bool) -> (Option<i32>, String, String, u32) {
    use std::os::unix::process::CommandExt;
    let marker = format!("TCPMORTEM_TEST_MARK=sig{}", common::unique());
    let (k, val) = marker.split_once('=').unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tcpmortem"))
        .args(args)
        .env(k, val)
        .env("NO_COLOR", "1")
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    common::wait_until("the actors to start", Duration::from_secs(10), || {
        common::processes_with(&marker).len() >= 3
    });
    // Into the step that sleeps, most likely (a loaded machine may still be in an earlier
    // step: the assertions hold for any).
    std::thread::sleep(Duration::from_millis(2000));
    let target = if group {
        format!("-{pid}")
    } else {
        pid.to_string()
    };
    let st = std::process::Command::new("kill")
        .args([&format!("-{sig}"), "--", &target])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        common::processes_with(&marker).is_empty(),
        "actors left behind"
    );
    assert!(instances_of(pid).is_empty(), "tracefs instance left behind");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        pid,
    )
}

/// SIGINT, SIGTERM and SIGHUP during a step: 130, 143, 129, "interrupted", and nothing
/// recorded after the signal (no teardown packets, no step after).
#[test]
fn signals_interrupt_a_run_and_nothing_after_them_is_recorded() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let sc = long_scenario(dir.path());
    let sc = sc.to_str().unwrap();
    for (sig, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let (got, out, err, _) = interrupt(&["lab", "run", sc, "--json"], sig, false);
        assert_eq!(got, Some(code), "SIG{sig}: {err}");
        assert!(err.contains(&format!("interrupted by SIG{sig}")), "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["interrupted"]["name"], format!("SIG{sig}"), "{out}");
        let step = v["interrupted"]["step"].as_u64().unwrap() as usize;
        let at = v["interrupted"]["at_ns"].as_u64().unwrap();
        // The interrupted step is the last one recorded.
        assert_eq!(v["steps"].as_array().unwrap().len(), step + 1);
        // Only the handshake and data segments of the steps before: no FIN or RST from the
        // teardown, which came after the signal.
        let all = [">S", "<S.", ">.", ">P.", "<."];
        let got = flags(&v);
        assert!(
            got.len() <= all.len() && got.iter().zip(all).all(|(a, b)| a == b),
            "SIG{sig}: {got:?}"
        );
        if step == 3 {
            assert_eq!(got, all, "SIG{sig}");
        }
        for p in v["packets"].as_array().unwrap() {
            assert!(p["t_ns"].as_u64().unwrap() <= at);
        }
        assert!(events(&v, "tcp_send_reset").is_empty());
    }
}

/// `watch` (which shares the lab's tracefs instances and signal handling) removes its
/// instance on SIGHUP as on SIGINT and SIGTERM, and ends as on Ctrl-C (0). Here with the
/// lab's tests: the issue that asked it is the lab's (issue 11, section 8).
#[test]
fn watch_removes_its_tracefs_instance_on_every_interrupt() {
    if !lab_available() {
        return;
    }
    for sig in ["HUP", "TERM", "INT"] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tcpmortem"))
            // --tracefs: with eBPF, watch makes no instance (crates/cli/tests/watch.rs checks
            // that a hangup ends it cleanly too).
            .args(["watch", "--tracefs", "--port", "9", "--duration", "60"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        common::wait_until("watch's tracefs instance", Duration::from_secs(20), || {
            !instances_of(pid).is_empty()
        });
        let st = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let start = Instant::now();
        let code = child.wait().unwrap().code();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "SIG{sig}: slow to stop"
        );
        assert_eq!(code, Some(0), "SIG{sig}");
        assert!(
            instances_of(pid).is_empty(),
            "SIG{sig}: instance left behind"
        );
    }
}

/// Ctrl-C in a terminal signals the whole process group, the actors too: the run still
/// ends with 130 and "interrupted", not with an actor's death.
#[test]
fn ctrl_c_to_the_process_group_exits_130() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let sc = long_scenario(dir.path());
    let (code, out, err, _) = interrupt(&["lab", "run", sc.to_str().unwrap()], "INT", true);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    assert!(
        out.contains("✕ interrupted by SIGINT during step 4"),
        "{out}"
    );
}

/// --pcap and --svg: checked before the run, `-` is stdout, and a failing file still leaves
/// the timeline.
#[test]
fn output_files_are_checked_first_and_never_lose_the_run() {
    // Before the run: no privileges needed to be refused.
    let start = Instant::now();
    let (code, _, err) = run_text(&[
        "lab",
        "run",
        "syn-dropped",
        "--pcap",
        "/nonexistent/dir/x.pcapng",
    ]);
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("cannot write --pcap /nonexistent/dir/x.pcapng"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "refused only after the run"
    );
    let (code, _, err) = run_text(&["lab", "run", "syn-dropped", "--pcap", "-", "--json"]);
    assert_eq!(code, Some(64), "{err}");
    let (code, _, err) = run_text(&["lab", "run", "--all", "--svg", "/nonexistent"]);
    assert!(code == Some(64) || code == Some(77), "{err}");
    if !lab_available() {
        return;
    }
    let (code, _, err) = run_text(&["lab", "run", "--all", "--pcap", "/tmp/x.pcapng"]);
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("takes a directory"), "{err}");
    // `-`: the capture on stdout, the timeline on stderr.
    let out = tcpmortem()
        .args(["lab", "run", "connect-refused", "--pcap", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        &out.stdout[..4],
        &[0x0a, 0x0d, 0x0d, 0x0a],
        "a pcapng section header"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("What happened"));
    // A file that fails to write: the timeline is there, and the exit code says so.
    let (code, text, err) = run_text(&["lab", "run", "connect-refused", "--svg", "/dev/full"]);
    assert_eq!(code, Some(74), "{err}");
    assert!(err.contains("writing --svg /dev/full"), "{err}");
    assert!(text.contains("What happened"), "{text}");
    // --all writes one file per scenario into a directory.
    let dir = common::tempdir();
    let (code, _, err) = run_text(&[
        "lab",
        "run",
        "--all",
        "--pcap",
        dir.path().to_str().unwrap(),
        "--svg",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    for (name, _) in tcpmortem_lab::builtin::BUILTIN {
        assert!(
            dir.path().join(format!("{name}.pcapng")).is_file(),
            "{name}"
        );
        assert!(dir.path().join(format!("{name}.svg")).is_file(), "{name}");
    }
}

/// `lab run --all` without privileges: one line, exit 77, not one error per scenario.
#[test]
fn run_all_without_privileges_exits_77_once() {
    let out = common::unprivileged(&["lab", "run", "--all"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A long scenario shows its progress on a terminal (run under script(1), which gives it
/// one), and nothing when stderr is not one.
#[test]
fn a_long_scenario_shows_progress_on_a_terminal() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let p = dir.path().join("many.tcpm");
    // Progress shows once a run has lasted a second: 200 steps of at least 10 ms each.
    let mut src = String::from("name many\nsettle 5ms\n");
    for _ in 0..200 {
        src.push_str("sleep 5ms\n");
    }
    std::fs::write(&p, src).unwrap();
    let typescript = dir.path().join("typescript");
    let cmd = format!(
        "{} lab run {} > /dev/null",
        assert_cmd::cargo::cargo_bin("tcpmortem").display(),
        p.display()
    );
    let st = std::process::Command::new("script")
        .args(["-qec", &cmd, typescript.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("script(1), from util-linux");
    assert!(st.success());
    let seen = std::fs::read_to_string(&typescript).unwrap();
    assert!(seen.contains("/200 steps"), "{seen}");
    let (_, _, err) = run_text(&["lab", "run", p.to_str().unwrap()]);
    assert!(!err.contains("steps"), "progress on a pipe: {err}");
}

/// Steps that cannot work are refused before anything runs, with file:line:col.
#[test]
fn impossible_steps_are_refused_at_parse_time() {
    let dir = common::tempdir();
    let p = dir.path().join("early.tcpm");
    std::fs::write(&p, "name early\nclient send 5\nclient connect\n").unwrap();
    let (code, _, err) = run_text(&["lab", "run", p.to_str().unwrap()]);
    assert_eq!(code, Some(65), "{err}");
    assert!(
        err.contains(&format!(
            "{}:2:8: `client send 5` needs a connection: there is no `client connect` before it",
            p.display()
        )),
        "{err}"
    );
    let many = dir.path().join("many.tcpm");
    std::fs::write(&many, "client connect\n".repeat(10_001)).unwrap();
    let (code, _, err) = run_text(&["lab", "run", many.to_str().unwrap()]);
    assert_eq!(code, Some(65), "{err}");
    assert!(
        err.contains(":10001:1: a scenario has at most 10000 steps"),
        "{err}"
    );
}

#[test]
fn lab_run_help() {
    let out = tcpmortem().args(["lab", "run", "--help"]).output().unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

/// The kernel events of a run, comparable across runs: the run's addresses as C and S, and
/// ephemeral ports (32768 and up here) as E, since both change from run to run.
fn kernel_events(v: &Value) -> Vec<String> {
    let a = &v["addresses"];
    let (c, s) = (a["client"].as_str().unwrap(), a["server"].as_str().unwrap());
    let port = |x: &str| match x.rsplit_once(':') {
        Some((h, p)) if p.parse::<u32>().is_ok_and(|p| p >= 32768) => format!("{h}:E"),
        _ => x.to_string(),
    };
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut e = e.as_object().unwrap().clone();
            for k in ["t_ns", "order_ns"] {
                e.remove(k);
            }
            for k in ["local", "remote"] {
                if let Some(Value::String(x)) = e.get(k) {
                    let x = port(&x.replace(c, "C").replace(s, "S"));
                    e.insert(k.into(), Value::String(x));
                }
            }
            Value::Object(e).to_string()
        })
        .collect()
}

/// The lab's eBPF programs and its tracefs fallback record the same kernel events, field for
/// field and in the same order, in every built-in scenario: the fallback is no lesser view.
#[test]
fn ebpf_and_tracefs_record_the_same_kernel_events_in_every_scenario() {
    if !lab_available() {
        return;
    }
    let list = common::json(&["lab", "list", "--json"]);
    let names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    let run = |name: &str, how: &str| -> Value {
        let out = tcpmortem()
            .args(["lab", "run", name, "--json", "--kernel-events", how])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name} --kernel-events {how}: {e}"));
        assert_eq!(v["environment"]["kernel_events"], how, "{name}");
        assert_eq!(v["environment"]["events_lost"], 0, "{name} {how}");
        v
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let differ = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while let Some(name) =
                    names.get(next.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
                {
                    // A run's last events can fall after its last step settled on a loaded
                    // machine (a program's exit closes its socket late): a difference counts
                    // only if three pairs of runs all differ.
                    let mut last = None;
                    for _ in 0..3 {
                        let (b, t) = (run(name, "ebpf"), run(name, "tracefs"));
                        let (b, t) = (kernel_events(&b), kernel_events(&t));
                        assert!(!b.is_empty(), "{name}: no kernel event");
                        if b == t {
                            last = None;
                            break;
                        }
                        last = Some(format!("{name}:\n  ebpf    {b:?}\n  tracefs {t:?}"));
                    }
                    differ.lock().unwrap().extend(last);
                }
            });
        }
    });
    let differ = differ.into_inner().unwrap();
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(names.len() >= 21, "{} scenarios", names.len());
}
