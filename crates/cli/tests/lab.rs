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
            let mut r = match o["result"].as_str().unwrap() {
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

fn flags(v: &Value) -> Vec<String> {
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
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
        rst.iter()
            .all(|l| l.ends_with("tcpmortem step 6 (line 15): client send 9")),
        "the RST is not commented with the step that caused it:\n{text}"
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

fn rand_u64() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Processes whose environment carries `marker` (the actors inherit it from tcpmortem).
fn processes_with(marker: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for ent in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = ent.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(env) = std::fs::read(ent.path().join("environ"))
            && env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
        {
            out.push(pid);
        }
    }
    out
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

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
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

/// Starts a run that sleeps in its third step, marked so that its actors can be found, and
/// waits until tcpmortem and both actors are up.
fn start_slow_run(tag: &str) -> (std::process::Child, String) {
    let dir = common::tempdir();
    let sc = slow_scenario(dir.path());
    let marker = format!("TCPMORTEM_TEST_MARK={tag}{}", rand_u64());
    let child = start_marked(&["lab", "run", sc.to_str().unwrap()], &marker);
    wait_until("the actors to start", Duration::from_secs(10), || {
        processes_with(&marker).len() >= 3
    });
    (child, marker)
}

#[test]
fn sigkill_of_tcpmortem_leaves_nothing_behind_after_the_next_run() {
    if !lab_available() {
        return;
    }
    let (mut child, marker) = start_slow_run("kill");
    let pid = child.id();
    assert!(
        !instances_of(pid).is_empty(),
        "the run has a tracefs instance"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // The actors die with their parent (PR_SET_PDEATHSIG); namespaces held only by fds go
    // with them.
    wait_until("the actors to die", Duration::from_secs(5), || {
        processes_with(&marker).is_empty()
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
    let (mut child, marker) = start_slow_run("int");
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
    assert!(processes_with(&marker).is_empty(), "actors left behind");
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
    let c = &v["completions"][0];
    assert_eq!(c["step"], 2);
    assert_eq!(c["actor"], "server");
    assert_eq!(c["outcome"]["result"], "bytes");
    assert_eq!(c["outcome"]["bytes"], 3);
    // It returned after the client's send started.
    assert!(c["t_ns"].as_u64().unwrap() >= v["steps"][3]["start_ns"].as_u64().unwrap());
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
    std::fs::write(&p, "name fails\nclient send 5   # no connection yet\n").unwrap();
    let marker = format!("TCPMORTEM_TEST_MARK=fail{}", rand_u64());
    let child = start_marked(&["lab", "run", p.to_str().unwrap()], &marker);
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: no connection yet"), "{err}");
    assert!(processes_with(&marker).is_empty(), "actors left behind");
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
    let errors: Vec<&str> = seed["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(
        errors.contains(&"econnaborted") && errors.contains(&"epipe"),
        "{errors:?}"
    );
    let aborted = seed["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "econnaborted")
        .unwrap();
    assert_eq!(aborted["windows"], "WSAECONNABORTED 10053");
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
