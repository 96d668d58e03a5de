//! The user's own programs in the lab (`client exec`, `server exec`): what their calls
//! returned, how they ended, and that none outlives its run. These tests need root, tracefs
//! and curl and python3 (scripts/test installs them); in CI a missing privilege fails them.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::{lab_json, tcpmortem};

fn lab_available() -> bool {
    common::privileged("lab programs")
}

fn scenario(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(format!("{name}.tcpm"));
    std::fs::write(&p, text).unwrap();
    p
}

/// A program's calls as `call → result`, in order (`connect → EINPROGRESS`, `recvfrom → eof`,
/// `sendto → 81 bytes`).
fn calls_of(v: &Value, host: &str) -> Vec<String> {
    v["program_calls"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|c| c["host"] == host)
        .map(|c| {
            let o = &c["outcome"];
            let r = match o["result"].as_str().unwrap_or("none") {
                "bytes" => format!("{} bytes", o["bytes"]),
                "error" => o["errno"].as_str().unwrap().to_string(),
                other => other.to_string(),
            };
            format!("{} → {r}", c["call"].as_str().unwrap())
        })
        .collect()
}

fn program<'a>(v: &'a Value, host: &str) -> &'a Value {
    v["programs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["host"] == host)
        .unwrap()
}

fn passed(v: &Value) -> usize {
    let exps = v["expectations"].as_array().unwrap();
    for e in exps {
        assert_eq!(e["status"], "passed", "{e}");
    }
    exps.len()
}

/// The request curl 7.88 sends to `http://ADDR:PORT/`: its length depends on the address.
fn curl_request_len(v: &Value) -> usize {
    let host = format!(
        "{}:{}",
        v["addresses"]["server"].as_str().unwrap(),
        v["addresses"]["server_port"]
    );
    format!("GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n")
        .len()
}

/// curl's calls on its connection to `http://ADDR:PORT/`, as the timeline words them: a
/// non-blocking connect, its whole request, then `rest` (what its recv returned, its close).
fn curl_calls(v: &Value, rest: &[&str]) -> Vec<String> {
    let mut want = vec![
        "connect → EINPROGRESS".to_string(),
        format!("sendto → {} bytes", curl_request_len(v)),
    ];
    want.extend(rest.iter().map(|r| r.to_string()));
    want
}

#[test]
fn curl_empty_reply_reads_eof_and_exits_52() {
    if !lab_available() {
        return;
    }
    let v = lab_json("curl-empty-reply", &[]);
    assert_eq!(passed(&v), 2);
    assert_eq!(
        calls_of(&v, "client"),
        curl_calls(&v, &["recvfrom → eof", "close → ok"])
    );
    let p = program(&v, "client");
    assert_eq!(p["exit"]["code"], 52);
    assert_eq!(p["stderr"], "curl: (52) Empty reply from server\n");
    // Every call is tied to the one connection, by its 4-tuple.
    let conn = &v["connections"][0];
    for c in v["program_calls"].as_array().unwrap() {
        assert_eq!(c["conn"], 1, "{c}");
        assert_eq!(c["local"], conn["client"]);
        assert_eq!(c["remote"], conn["server"]);
        assert_eq!(c["fd"], 5, "curl's socket");
        assert_eq!(c["pid"], p["pid"]);
    }
    // The recv that read EOF came after the server's FIN.
    let fin = v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["from"] == "server" && x["flags"].as_str().unwrap().contains('F'))
        .unwrap();
    let eof = &v["program_calls"][2];
    assert!(eof["returned_ns"].as_u64() >= fin["t_ns"].as_u64());
}

#[test]
fn curl_reset_by_peer_reads_econnreset_and_exits_56() {
    if !lab_available() {
        return;
    }
    let v = lab_json("curl-reset-by-peer", &[]);
    assert_eq!(passed(&v), 4);
    assert_eq!(
        calls_of(&v, "client"),
        curl_calls(&v, &["recvfrom → ECONNRESET", "close → ok"])
    );
    let p = program(&v, "client");
    assert_eq!(p["exit"]["code"], 56);
    assert_eq!(
        p["stderr"],
        "curl: (56) Recv failure: Connection reset by peer\n"
    );
    // What Windows would have returned, as for a scripted call.
    let recv = &v["program_calls"][2];
    assert_eq!(
        recv["other_os"][0]["result"], "WSAECONNRESET 10054",
        "{recv}"
    );
    // The explanation names the program's call that read the stored error; the pcapng and
    // the SVG carry the calls too.
    let dir = common::tempdir();
    let (pcap, svg) = (dir.path().join("r.pcapng"), dir.path().join("r.svg"));
    let out = tcpmortem()
        .args(["lab", "run", "curl-reset-by-peer", "--pcap"])
        .arg(&pcap)
        .arg("--svg")
        .arg(&svg)
        .output()
        .unwrap();
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.contains(">curl: recvfrom fd 5 → ECONNRESET (104)<"),
        "{svg}"
    );
    let comments = std::process::Command::new("tshark")
        .args([
            "-r",
            pcap.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.comment",
        ])
        .output()
        .unwrap();
    let comments = String::from_utf8_lossy(&comments.stdout);
    assert!(
        comments.contains("client connect fd 5 → EINPROGRESS (115)")
            && comments.contains("program calls after it: curl[")
            && comments.contains("client recvfrom fd 5 → ECONNRESET (104)"),
        "{comments}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("stored ECONNRESET on its socket at step 3 `server close` (inet_sk_error_report); curl's recvfrom (fd 5) returned it"),
        "{text}"
    );
    assert!(text.contains("curl[") && text.contains("] client recvfrom fd 5 → ECONNRESET (104)"));
    assert!(text.contains("stderr: curl: (56) Recv failure: Connection reset by peer"));
}

#[test]
fn http_server_killed_mid_response_leaves_curl_short_by_exit_18() {
    if !lab_available() {
        return;
    }
    let v = lab_json("http-server-killed", &[]);
    assert_eq!(passed(&v), 2);
    let server = calls_of(&v, "server");
    assert_eq!(server[0], "accept4 → accepted");
    assert!(server[1].starts_with("recvfrom → "), "{server:?}");
    assert!(
        server[2..].iter().all(|c| c.starts_with("sendto → ")),
        "{server:?}"
    );
    let client = calls_of(&v, "client");
    assert_eq!(client.last().unwrap(), "close → ok");
    assert_eq!(client[client.len() - 2], "recvfrom → eof");
    let py = program(&v, "server");
    assert_eq!(py["exit"]["signal"], "SIGKILL");
    assert!(
        py["stdout"]
            .as_str()
            .unwrap()
            .starts_with("Serving HTTP on ")
    );
    let curl = program(&v, "client");
    assert_eq!(curl["exit"]["code"], 18);
    let err = curl["stderr"].as_str().unwrap();
    assert!(err.starts_with("curl: (18) transfer closed with "), "{err}");
    // What curl read plus what it says was missing is the whole file.
    let read: u64 = v["program_calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["host"] == "client" && c["call"] == "recvfrom")
        .filter_map(|c| c["outcome"]["bytes"].as_u64())
        .sum();
    let missing: u64 = err
        .trim_start_matches("curl: (18) transfer closed with ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let header_and_body = read + missing;
    let size = std::fs::metadata("/usr/bin/bash").unwrap().len();
    assert!(
        header_and_body > size && header_and_body < size + 300,
        "{read} + {missing} vs {size}"
    );
}

#[test]
fn placeholders_and_environment_name_the_run_addresses_and_the_host_namespace_is_never_reached() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let sc = scenario(
        dir.path(),
        "env",
        "client exec sh -c 'echo \"{server} {server_addr} {port} {client_addr}|$SERVER $SERVER_ADDR $PORT $CLIENT_ADDR|$(readlink /proc/self/ns/net)\"'\nwait client 5s\nexpect client exit = 0\n",
    );
    let v = lab_json(sc.to_str().unwrap(), &[]);
    assert_eq!(passed(&v), 1);
    let a = &v["addresses"];
    let (srv, port, cli) = (
        a["server"].as_str().unwrap(),
        a["server_port"].to_string(),
        a["client"].as_str().unwrap(),
    );
    let vals = format!("{srv}:{port} {srv} {port} {cli}");
    let out = program(&v, "client")["stdout"]
        .as_str()
        .unwrap()
        .to_string();
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let host_ns = host_ns.to_string_lossy();
    let mut parts = out.trim_end().split('|');
    assert_eq!(parts.next().unwrap(), vals);
    assert_eq!(parts.next().unwrap(), vals);
    let ns = parts.next().unwrap();
    assert!(ns.starts_with("net:["), "{ns}");
    assert_ne!(
        ns, host_ns,
        "the program ran in the host's network namespace"
    );
}

#[test]
fn wait_reports_exit_status_signals_and_the_time_limit() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let sc = scenario(
        dir.path(),
        "signals",
        "program-timeout 1s\nserver exec sleep 30\nclient exec sleep 0.2\nclient stop\nsleep 400ms\nclient cont\nwait client\nexpect client exit = 0\nwait server\nexpect server exit = SIGKILL\n",
    );
    let start = Instant::now();
    let v = lab_json(sc.to_str().unwrap(), &[]);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(passed(&v), 2);
    let results: Vec<&Value> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["outcome"])
        .collect();
    assert_eq!(results[0]["result"], "started");
    assert_eq!(results[2]["result"], "ok", "client stop");
    assert_eq!(results[5]["result"], "exited");
    assert_eq!(results[5]["code"], 0);
    assert_eq!(results[6]["result"], "signaled");
    assert_eq!(results[6]["signal"], "SIGKILL");
    let server = program(&v, "server");
    assert_eq!(server["timed_out"], true);
    // Stopped, the 0.2 s sleep could not end before it was continued.
    let client = program(&v, "client");
    let cont = v["steps"][4]["start_ns"].as_u64().unwrap();
    assert!(client["ended_ns"].as_u64().unwrap() >= cont);
    assert!(v["notes"].as_array().unwrap().iter().any(|n| {
        n.as_str()
            .unwrap()
            .contains("ran past its time limit of 1s")
    }));

    let sc = scenario(
        dir.path(),
        "term",
        "client exec sleep 30\nclient signal TERM\nwait client 5s\nexpect client exit = SIGTERM\nclient signal HUP\n",
    );
    let v = lab_json(sc.to_str().unwrap(), &[]);
    assert_eq!(passed(&v), 1);
    assert_eq!(
        v["steps"][3]["outcome"]["errno"], "ESRCH",
        "signal to an exited program"
    );
}

#[test]
fn a_program_that_does_not_exist_is_refused_before_the_run() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let sc = scenario(
        dir.path(),
        "missing",
        "server accept\nsleep 1ms\nclient exec no-such-program-tcpm --x\n",
    );
    let start = Instant::now();
    let out = tcpmortem()
        .args(["lab", "run", sc.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3: the client's program \"no-such-program-tcpm\": not found in PATH"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "refused before the sandbox"
    );
    assert!(out.stdout.is_empty());
}

/// Processes whose command line is exactly `sleep ARG`.
fn sleeps(arg: &str) -> Vec<i32> {
    let want = format!("sleep\0{arg}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<i32>().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            (cmd == want.as_bytes()).then_some(pid)
        })
        .collect()
}

#[test]
fn no_program_survives_a_sigkill_of_tcpmortem() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    // Unique sleeps: the program itself, and a grandchild that PR_SET_PDEATHSIG does not
    // cover (only the next run's sweep does).
    let n = common::unique() % 1_000_000;
    let (own, grandchild) = (format!("1000.{n}"), format!("1001.{n}"));
    let sc = scenario(
        dir.path(),
        "orphans",
        &format!(
            "client exec sleep {own}\nserver exec sh -c \"sleep {grandchild} & wait\"\nsleep 60s\n"
        ),
    );
    let marker = format!("TCPMORTEM_TEST_MARK=exec{}", common::unique());
    let (k, val) = marker.split_once('=').unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tcpmortem"))
        .args(["lab", "run", sc.to_str().unwrap()])
        .env(k, val)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_until("the programs to start", Duration::from_secs(15), || {
        !sleeps(&own).is_empty() && !sleeps(&grandchild).is_empty()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    // The programs themselves die with tcpmortem (PR_SET_PDEATHSIG).
    common::wait_until(
        "the client's program to die",
        Duration::from_secs(5),
        || sleeps(&own).is_empty(),
    );
    // The next run sweeps what was left: here the server program's child.
    let sc2 = scenario(dir.path(), "next", "client connect\nserver accept\n");
    let out = tcpmortem()
        .args(["lab", "run", sc2.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    common::wait_until("the grandchild to be swept", Duration::from_secs(5), || {
        sleeps(&grandchild).is_empty()
    });
    assert!(
        common::processes_with(&marker).is_empty(),
        "processes left behind"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("an earlier tcpmortem run had left behind")
    );
}

#[test]
fn sigint_during_wait_kills_the_programs() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let n = common::unique() % 1_000_000;
    let arg = format!("1002.{n}");
    let sc = scenario(
        dir.path(),
        "int",
        &format!("client exec sleep {arg}\nwait client\n"),
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tcpmortem"))
        .args(["lab", "run", sc.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_until("the program to start", Duration::from_secs(15), || {
        !sleeps(&arg).is_empty()
    });
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        sleeps(&arg).is_empty(),
        "the program outlived an interrupted run"
    );
}

#[test]
fn repeated_eagain_is_one_line_with_a_count() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let sc = scenario(
        dir.path(),
        "eagain",
        r#"client exec python3 -c "exec('import socket,os,time\ns=socket.create_connection((os.environ[\'SERVER_ADDR\'],int(os.environ[\'PORT\'])))\ns.setblocking(False)\nfor i in range(37):\n try: s.recv(10)\n except BlockingIOError: time.sleep(0.002)\ns.close()')"
server accept
wait client 20s
expect client exit = 0
expect client call recv = EAGAIN
"#,
    );
    let v = lab_json(sc.to_str().unwrap(), &[]);
    assert_eq!(passed(&v), 2);
    assert_eq!(
        calls_of(&v, "client"),
        ["connect → connected", "recvfrom → EAGAIN", "close → ok"]
    );
    assert_eq!(v["program_calls"][1]["repeat"], 37);
    let text = tcpmortem()
        .args(["lab", "run", sc.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("client recvfrom fd 3 → EAGAIN (11) ×37"),
        "{text}"
    );
}

#[test]
fn a_program_mixes_with_scripted_options_and_network_faults() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    // The server resets (SO_LINGER 0), but the router drops the RST: curl waits for an answer
    // that never comes, and gives up at its own --max-time.
    let sc = scenario(
        dir.path(),
        "lost-reset",
        "client exec curl -sS --max-time 1 http://{server}/
server accept
server recv
net drop server->client
server linger 0
server close
expect packet server->client R
wait client 10s
expect client exit = 28
",
    );
    let v = lab_json(sc.to_str().unwrap(), &[]);
    assert_eq!(passed(&v), 2);
    assert_eq!(calls_of(&v, "client"), curl_calls(&v, &["close → ok"]));
    let rst = v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["flags"].as_str().is_some_and(|f| f.contains('R')))
        .unwrap();
    assert_eq!(rst["crossed"], false, "the router dropped the RST");
    let err = program(&v, "client")["stderr"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("curl: (28) Operation timed out after 10"),
        "{err}"
    );
}

#[test]
fn a_failed_step_kills_the_programs() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let n = common::unique() % 1_000_000;
    let arg = format!("1003.{n}");
    let sc = scenario(
        dir.path(),
        "fails",
        &format!("client exec sleep {arg}\nsysctl client net.ipv4.tcp_no_such_thing=1\n"),
    );
    let out = tcpmortem()
        .args(["lab", "run", sc.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("line 2: write /proc/sys/net/ipv4/tcp_no_such_thing")
    );
    assert!(sleeps(&arg).is_empty(), "the program outlived a failed run");
}

#[test]
fn a_programs_output_is_kept_bounded_with_its_full_length() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let sc = scenario(
        dir.path(),
        "chatty",
        "client exec sh -c \"yes | head -c 100000; echo oops >&2\"\nwait client 5s\nexpect client exit = 0\n",
    );
    let v = lab_json(sc.to_str().unwrap(), &[]);
    assert_eq!(passed(&v), 1);
    let p = program(&v, "client");
    assert_eq!(p["stdout_bytes"], 100000);
    assert_eq!(p["stdout"].as_str().unwrap().len(), 16 * 1024);
    assert_eq!(p["stderr"], "oops\n");
    let text = tcpmortem()
        .args(["lab", "run", sc.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("(16384 of 100000 bytes shown)"), "{text}");
    assert!(text.contains("stderr: oops"), "{text}");
}

/// The notes of a record, as one text.
/// `lab run SPEC --json` with TCPMORTEM_CALL_TRACER set; the run must succeed.
fn run_with_tracer(spec: &str, tracer: &str) -> Value {
    let out = tcpmortem()
        .args(["lab", "run", spec, "--json"])
        .env("TCPMORTEM_CALL_TRACER", tracer)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn notes(v: &Value) -> String {
    v["notes"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|n| n.as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn calls_are_traced_by_ebpf_as_root_by_tracefs_when_forced_with_the_same_calls_or_not_when_off() {
    if !lab_available() {
        return;
    }
    let bpf = lab_json("curl-empty-reply", &[]);
    assert_eq!(bpf["environment"]["call_tracing"], true);
    assert_eq!(bpf["environment"]["call_tracer"], "ebpf");
    assert!(!notes(&bpf).contains("tracefs"), "{}", notes(&bpf));
    let fallback = run_with_tracer("curl-empty-reply", "tracefs");
    assert_eq!(fallback["environment"]["call_tracing"], true);
    assert_eq!(fallback["environment"]["call_tracer"], "tracefs");
    assert!(
        notes(&fallback).contains(
            "the programs' socket calls were traced through tracefs, not eBPF (TCPMORTEM_CALL_TRACER=tracefs)"
        ),
        "{}",
        notes(&fallback)
    );
    assert_eq!(passed(&fallback), 2);
    for v in [&bpf, &fallback] {
        assert_eq!(
            calls_of(v, "client"),
            curl_calls(v, &["recvfrom → eof", "close → ok"])
        );
    }
    for v in [&bpf, &fallback] {
        let conn = &v["connections"][0];
        for c in v["program_calls"].as_array().unwrap() {
            assert_eq!((&c["conn"], &c["fd"]), (&Value::from(1), &Value::from(5)));
            assert_eq!(
                (&c["local"], &c["remote"]),
                (&conn["client"], &conn["server"])
            );
            assert_eq!(c["comm"], "curl");
        }
    }
    // Turned off (for benchmarks): the program runs, its calls are not traced, and the
    // expectation on them is not checked rather than failed.
    let off = run_with_tracer("curl-empty-reply", "off");
    assert_eq!(off["environment"]["call_tracing"], false);
    assert!(off["environment"]["call_tracer"].is_null());
    assert!(off["program_calls"].is_null());
    assert_eq!(
        notes(&off),
        "the programs' socket calls are not traced: TCPMORTEM_CALL_TRACER=off: call tracing turned off"
    );
    let statuses: Vec<&str> = off["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["not-checked", "passed"]);
    // A record without the field (before the eBPF tracer) still reads.
    let mut old = bpf.clone();
    old["environment"]
        .as_object_mut()
        .unwrap()
        .remove("call_tracer");
    let old: tcpmortem_lab::record::Record = serde_json::from_value(old).unwrap();
    assert_eq!(old.environment.call_tracer, None);
}

/// A Python program in the client host, from a file (its placeholders come as environment
/// variables: SERVER_ADDR, PORT). The server's accepts wait for python3 to start (well over
/// the default 100 ms on a loaded machine) rather than being reported blocked.
fn python_client(dir: &Path, name: &str, code: &str, server: &str) -> PathBuf {
    let py = dir.join(format!("{name}.py"));
    std::fs::write(&py, code).unwrap();
    scenario(
        dir,
        name,
        &format!(
            "blocked-after 5s\nclient exec python3 {}\n{server}",
            py.display()
        ),
    )
}

#[test]
fn the_calls_of_a_forked_child_are_traced_and_tied_to_its_connection() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let sc = python_client(
        dir.path(),
        "fork",
        "import os, socket
pid = os.fork()
if pid == 0:
    s = socket.create_connection((os.environ['SERVER_ADDR'], int(os.environ['PORT'])))
    s.sendall(b'hello')
    s.close()
    os._exit(0)
_, status = os.waitpid(pid, 0)
os._exit(os.waitstatus_to_exitcode(status))
",
        "server accept
server recv
wait client 10s
expect client exit = 0
",
    );
    let v = lab_json(sc.to_str().unwrap(), &[]);
    assert_eq!(v["environment"]["call_tracer"], "ebpf");
    assert_eq!(passed(&v), 1);
    assert_eq!(
        calls_of(&v, "client"),
        ["connect → connected", "sendto → 5 bytes", "close → ok"]
    );
    let parent = program(&v, "client")["pid"].as_i64().unwrap();
    let conn = &v["connections"][0];
    for c in v["program_calls"].as_array().unwrap() {
        let pid = c["pid"].as_i64().unwrap();
        assert!(pid > 0 && pid != parent, "the child's call: {c}");
        assert_eq!(c["tid"], c["pid"], "{c}");
        assert_eq!(c["program"], "python3", "{c}");
        assert_eq!(
            (&c["conn"], &c["local"]),
            (&Value::from(1), &conn["client"])
        );
    }
}

#[test]
fn a_socket_closed_right_after_its_calls_is_still_identified() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    // Connect, send and close within microseconds: by the time a reader in user space came to
    // look the descriptor up in /proc, it was gone (the fallback counts such calls in a note).
    let sc = python_client(
        dir.path(),
        "quick",
        "import os, socket
for i in range(3):
    s = socket.create_connection((os.environ['SERVER_ADDR'], int(os.environ['PORT'])))
    s.sendall(b'x' * (i + 1))
    s.close()
",
        "server accept
server accept
server accept
wait client 10s
expect client exit = 0
",
    );
    let v = lab_json(sc.to_str().unwrap(), &[]);
    assert_eq!(v["environment"]["call_tracer"], "ebpf");
    assert_eq!(passed(&v), 1);
    assert_eq!(
        calls_of(&v, "client"),
        [
            "connect → connected",
            "sendto → 1 bytes",
            "close → ok",
            "connect → connected",
            "sendto → 2 bytes",
            "close → ok",
            "connect → connected",
            "sendto → 3 bytes",
            "close → ok"
        ]
    );
    // Each call names its own connection by its 4-tuple: three connections, three calls each.
    let conns = v["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 3);
    for (i, c) in v["program_calls"].as_array().unwrap().iter().enumerate() {
        let conn = &conns[i / 3];
        assert_eq!(c["conn"], conn["id"], "{c}");
        assert_eq!(
            (&c["local"], &c["remote"]),
            (&conn["client"], &conn["server"])
        );
    }
    assert!(!notes(&v).contains("descriptors closed"), "{}", notes(&v));
}

#[test]
fn a_call_still_blocked_when_the_run_ends_is_kept_without_a_result_by_both_tracers() {
    if !lab_available() {
        return;
    }
    let dir = common::tempdir();
    let sc = python_client(
        dir.path(),
        "blocked",
        "import os, socket
s = socket.create_connection((os.environ['SERVER_ADDR'], int(os.environ['PORT'])))
s.recv(10)
",
        // The pause lets the fallback's reader, which lags the program, see the recv begin.
        "server accept
sleep 200ms
",
    );
    for tracer in ["ebpf", "tracefs"] {
        let v = run_with_tracer(sc.to_str().unwrap(), tracer);
        assert_eq!(v["environment"]["call_tracer"], tracer);
        assert_eq!(
            calls_of(&v, "client"),
            ["connect → connected", "recvfrom → none"],
            "{tracer}"
        );
        let recv = &v["program_calls"][1];
        assert!(recv["returned_ns"].is_null(), "{recv}");
        assert_eq!(recv["conn"], 1, "{recv}");
        assert_eq!(recv["local"], v["connections"][0]["client"], "{recv}");
    }
}
