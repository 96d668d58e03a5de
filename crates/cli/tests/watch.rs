//! `watch` on real connections: while `watch --json` runs, lab scenarios make each kind of
//! death in private namespaces, and a reset on loopback outside the filter must not leak in.
//! Needs root and tracefs (fails loudly in CI without them).

use serde_json::Value;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

fn root() -> bool {
    common::privileged("watch")
}

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("tcpmortem")
}

/// Runs a scenario (a built-in name, or a file made from `src`) and returns its addresses.
fn lab(name: &str, src: Option<&str>) -> (String, String) {
    // Removed when the function returns, also when the run fails.
    let dir = common::tempdir();
    let spec = match src {
        Some(s) => {
            let path = dir.path().join(format!("{name}.tcpm"));
            std::fs::write(&path, s).unwrap();
            path.to_str().unwrap().to_string()
        }
        None => name.to_string(),
    };
    let v = common::lab_json(&spec, &["--no-tracefs"]);
    (
        v["addresses"]["client"].as_str().unwrap().to_string(),
        v["addresses"]["server"].as_str().unwrap().to_string(),
    )
}

fn ip(addr: &str) -> &str {
    addr.rsplit_once(':').map(|x| x.0).unwrap_or(addr)
}

/// The deaths reported for one side of a run: (kind, reason, errno).
fn ends(lines: &[Value], local_ip: &str, peer_ip: &str) -> Vec<(String, String, String)> {
    lines
        .iter()
        .filter(|l| {
            ip(l["local"].as_str().unwrap()) == local_ip
                && ip(l["remote"].as_str().unwrap()) == peer_ip
        })
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or("null").to_string();
            (s("kind"), s("reason"), s("errno"))
        })
        .collect()
}

fn has(v: &[(String, String, String)], kind: &str, reason: &str, errno: &str) -> bool {
    v.iter()
        .any(|(k, r, e)| k == kind && r == reason && e == errno)
}

#[test]
fn watch_reports_each_ending_with_the_kernels_reason() {
    if !root() {
        return;
    }
    let mut watch = Command::new(bin())
        .args([
            "watch",
            "--json",
            "--addr",
            "198.18.0.0/15",
            "--duration",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = watch.id();
    let start = Instant::now();
    while !std::fs::read_dir("/sys/kernel/tracing/instances")
        .unwrap()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("tcpmortem-{pid}-"))
        })
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "watch did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));

    let unread = lab("server-crashes-with-unread-data", None);
    let after_close = lab("server-closes-early", None);
    let refused = lab("refused", Some("name refused\nclient connect 9\n"));
    let linger = lab(
        "linger",
        Some(
            "name linger\nclient connect\nserver accept\nserver linger 0\nserver close\nclient recv\n",
        ),
    );
    let timeout = lab(
        "timeout",
        Some(
            "name timeout\nclient connect\nserver accept\nclient user-timeout 500ms\nnet drop client->server\nclient send 5\nsleep 1500ms\nclient recv\n",
        ),
    );
    // Outside the filter: a reset on loopback in the host namespace.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    c.write_all(b"unread").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drop(s); // closed with unread data: RST, TCP_ABORT_ON_CLOSE
    std::thread::sleep(Duration::from_millis(300));

    Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let mut out = String::new();
    watch
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = watch.wait().unwrap();
    assert!(status.success(), "watch exited with {status:?}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    for l in &lines {
        for k in [
            "time",
            "local",
            "remote",
            "kind",
            "reason",
            "errno",
            "state_before",
            "pid",
            "comm",
            "netns",
            "duration_ms",
            "bytes_sent",
            "bytes_received",
            "verdict",
        ] {
            assert!(l.get(k).is_some(), "field {k} missing in {l}");
        }
        assert!(
            !l["local"].as_str().unwrap().starts_with("127."),
            "outside the filter: {l}"
        );
        assert!(
            !l["remote"].as_str().unwrap().starts_with("127."),
            "outside the filter: {l}"
        );
    }
    // (run, which side's socket, kind, accepted reasons, errno); "null" where none.
    type Run = (String, String);
    let expected: [(&Run, &str, &str, &[&str], &str); 9] = [
        (
            &unread,
            "server",
            "rst-sent",
            &["TCP_ABORT_ON_CLOSE"],
            "null",
        ),
        (&unread, "client", "rst-received", &["null"], "ECONNRESET"),
        // Within ~5 ms of the close the reason is TCP_ABORT_ON_DATA; after, TCP_TIMEWAIT_SOCKET.
        (
            &after_close,
            "server",
            "rst-sent",
            &["TCP_TIMEWAIT_SOCKET", "TCP_ABORT_ON_DATA"],
            "null",
        ),
        (&after_close, "client", "rst-received", &["null"], "EPIPE"),
        (&refused, "server", "rst-sent", &["NO_SOCKET"], "null"),
        (&refused, "client", "refused", &["null"], "ECONNREFUSED"),
        (&linger, "server", "rst-sent", &["TCP_STATE"], "null"),
        (&linger, "client", "rst-received", &["null"], "ECONNRESET"),
        (&timeout, "client", "timeout", &["null"], "ETIMEDOUT"),
    ];
    for ((c, s), side, kind, reasons, errno) in expected {
        let (local, remote) = if side == "client" { (c, s) } else { (s, c) };
        let seen = ends(&lines, local, remote);
        assert!(
            reasons.iter().any(|r| has(&seen, kind, r, errno)),
            "{side} {local}: expected {kind} {reasons:?} {errno}, saw {seen:?}\n{out}"
        );
    }
    // The instance is gone after SIGINT.
    assert!(
        !std::fs::read_dir("/sys/kernel/tracing/instances")
            .unwrap()
            .flatten()
            .any(|e| e
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("tcpmortem-{pid}-"))),
        "tracefs instance left behind"
    );
}

#[test]
fn watch_stops_by_itself_and_names_missing_privilege() {
    if !root() {
        return;
    }
    let t = Instant::now();
    let out = Command::new(bin())
        .args(["watch", "--duration", "0.3", "--port", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(t.elapsed() < Duration::from_secs(5));
    let out = common::unprivileged(&["watch", "--duration", "1"]);
    assert_eq!(out.status.code(), Some(77));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("CAP_SYS_ADMIN"), "{err}");
}
