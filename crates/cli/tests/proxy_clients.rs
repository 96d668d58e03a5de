//! Toxiproxy's own client libraries drive `tcpmortem proxy` unchanged: PyPI's
//! toxiproxy-python and npm's toxiproxy-node-client, each running the calls of its own test
//! suite (tests/proxy/). scripts/test installs them (target/pyenv, target/node). No root.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A proxy on a free port; killed (SIGTERM) when dropped.
pub struct Running {
    pub child: Child,
    pub api: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = tcpmortem_kernel::proc::signal(self.child.id() as i32, libc::SIGTERM);
        let _ = self.child.wait();
    }
}

fn start() -> Running {
    start_as(&[], &[])
}

/// `tcpmortem proxy --port 0 --json ARGS`, behind `wrapper` (e.g. setpriv) if given.
fn start_as(wrapper: &[&str], args: &[&str]) -> Running {
    let bin = assert_cmd::cargo::cargo_bin("tcpmortem");
    let mut cmd = match wrapper.split_first() {
        Some((w, rest)) => {
            let mut c = Command::new(w);
            c.args(rest).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    // `--text` (a word of these tests only) asks for the human lines instead of JSON.
    let json = !args.contains(&"--text");
    let args: Vec<&str> = args.iter().copied().filter(|a| *a != "--text").collect();
    let mut child = cmd
        .args(["proxy", "--port", "0", "--no-tracefs", "--settle", "300"])
        .args(if json { &["--json"][..] } else { &[][..] })
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let api = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no API address in {line:?}"))
        .to_string();
    Running { child, api }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tool(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) => Some(v),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{var} is not set: scripts/test installs {what}"
            );
            eprintln!("SKIPPED: {var} is not set (scripts/test installs {what})");
            None
        }
    }
}

fn data(file: &str) -> String {
    format!("{}/../../tests/proxy/{file}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn toxiproxy_python_passes_its_tests() {
    let Some(python) = tool("TCPMORTEM_PYTHON", "toxiproxy-python in target/pyenv") else {
        return;
    };
    let p = start();
    let out = Command::new(python)
        .arg(data("test_toxiproxy_python.py"))
        .env("TCPMORTEM_API", &p.api)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "toxiproxy-python failed:\n{err}");
    assert!(err.contains("Ran 9 tests"), "{err}");
}

#[test]
fn toxiproxy_node_client_passes_its_tests() {
    let Some(modules) = tool(
        "TCPMORTEM_NODE_MODULES",
        "toxiproxy-node-client in target/node",
    ) else {
        return;
    };
    let p = start();
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec"])
        .arg(data("toxiproxy_node.test.js"))
        .env("NODE_PATH", modules)
        .env("TCPMORTEM_API", format!("http://{}", p.api))
        .env(
            "TCPMORTEM_FREE_PORTS",
            format!("{},{}", free_port(), free_port()),
        )
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "toxiproxy-node-client failed:\n{text}"
    );
    assert!(
        text.contains("pass 12") && text.contains("fail 0"),
        "{text}"
    );
}

/// A tiny HTTP/1.1 exchange with the API: (status, body).
fn http(api: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(api).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let status = r[9..12].parse().unwrap();
    let body = r
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

/// An upstream that answers every connection with "hi" and closes.
fn greeter() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::Write;
        for mut c in l.incoming().flatten() {
            let _ = c.write_all(b"hi");
        }
    });
    a
}

#[test]
fn without_privileges_toxiproxys_toxics_and_reports_work_and_half_open_is_refused() {
    // As nobody with no capability at all when run as root; as the user otherwise.
    let root = tcpmortem_kernel::proc::has_capability(tcpmortem_kernel::proc::CAP_NET_ADMIN);
    let wrapper: &[&str] = if root {
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ]
    } else {
        &[]
    };
    let p = start_as(wrapper, &[]);
    let up = greeter();
    let (st, _) = http(
        &p.api,
        "POST",
        "/proxies",
        &format!(r#"{{"name":"app","listen":"127.0.0.1:0","upstream":"{up}"}}"#),
    );
    assert_eq!(st, 201);
    let (st, body) = http(
        &p.api,
        "POST",
        "/proxies/app/toxics",
        r#"{"type":"half_open"}"#,
    );
    assert_eq!(st, 400);
    assert_eq!(
        body,
        "{\"error\":\"half_open needs CAP_NET_ADMIN (TCP_REPAIR): run tcpmortem proxy as root or with that capability\",\"status\":400}\n"
    );
    let (st, _) = http(
        &p.api,
        "POST",
        "/proxies/app/toxics",
        r#"{"type":"limit_data","attributes":{"bytes":1}}"#,
    );
    assert_eq!(st, 200);
    let (_, body) = http(&p.api, "GET", "/proxies/app", "");
    let listen = serde_json::from_str::<serde_json::Value>(&body).unwrap()["listen"]
        .as_str()
        .unwrap()
        .to_string();
    let mut got = Vec::new();
    use std::io::Read;
    std::net::TcpStream::connect(&listen)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got, b"h", "limit_data cut the greeting after 1 byte");
    let t = std::time::Instant::now();
    let report = loop {
        let (_, body) = http(&p.api, "GET", "/proxies/app/connections", "");
        let v: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        if let Some(r) = v.into_iter().find(|r| r["status"] == "ended") {
            break r;
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "no report");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(report["bytes_to_client"], 1, "{report:#}");
    assert_eq!(report["toxics"][0]["type"], "limit_data");
    assert_eq!(report["client_end"]["how"], "fin");
    assert_eq!(report["client_end"]["by"], "proxy");
    assert_eq!(report["client_saw"]["linux"], "EOF");
    assert!(
        report["client_end"]["facts"]["rsts"].is_null(),
        "no tracefs: RST reasons are unknown, not empty"
    );
    // idle_timeout without TCP_REPAIR: the proxy answers the next data with a RST itself.
    http(
        &p.api,
        "DELETE",
        "/proxies/app/toxics/limit_data_downstream",
        "",
    );
    let echo = echo_server();
    http(
        &p.api,
        "POST",
        "/proxies/app",
        &format!(r#"{{"upstream":"{echo}"}}"#),
    );
    let (_, body) = http(&p.api, "GET", "/proxies/app", "");
    let listen = serde_json::from_str::<serde_json::Value>(&body).unwrap()["listen"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = http(
        &p.api,
        "POST",
        "/proxies/app/toxics",
        r#"{"type":"idle_timeout","attributes":{"idle":200}}"#,
    );
    assert_eq!(st, 200);
    use std::io::Write;
    let mut c = std::net::TcpStream::connect(&listen).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    c.write_all(b"a").unwrap();
    let mut b = [0u8; 8];
    assert_eq!(c.read(&mut b).unwrap(), 1);
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(c.write(b"b").unwrap(), 1, "accepted locally");
    assert_eq!(
        c.read(&mut b).map_err(|e| e.raw_os_error()),
        Err(Some(libc::ECONNRESET))
    );
}

/// An upstream that echoes.
fn echo_server() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut b = [0u8; 4096];
                while let Ok(n) = c.read(&mut b) {
                    if n == 0 || c.write_all(&b[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    a
}

#[test]
fn help_says_which_toxic_needs_what() {
    let out = common::tcpmortem()
        .args(["proxy", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for t in [
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
        "half_open",
        "syn_drop",
        "reset",
        "close_early",
        "idle_timeout",
        "stall",
    ] {
        assert!(help.contains(&format!("  {t} ")), "{t} missing:\n{help}");
    }
    let half_open = help
        .lines()
        .find(|l| l.trim_start().starts_with("half_open"))
        .unwrap();
    assert!(half_open.contains("[CAP_NET_ADMIN]"), "{half_open}");
    assert_eq!(help.matches("[CAP_NET_ADMIN]").count(), 1, "{help}");
}

#[test]
fn sigterm_closes_the_listeners_reports_and_exits_0() {
    let p = start();
    let up = greeter();
    http(
        &p.api,
        "POST",
        "/proxies",
        &format!(r#"{{"name":"app","listen":"127.0.0.1:0","upstream":"{up}"}}"#),
    );
    let echo = echo_server();
    http(
        &p.api,
        "POST",
        "/proxies",
        &format!(r#"{{"name":"held","listen":"127.0.0.1:0","upstream":"{echo}"}}"#),
    );
    let listen_of = |name: &str| {
        let (_, body) = http(&p.api, "GET", &format!("/proxies/{name}"), "");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["listen"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let listen = listen_of("app");
    use std::io::{Read, Write};
    let mut got = Vec::new();
    std::net::TcpStream::connect(&listen)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got, b"hi");
    // A connection still open when the proxy is told to stop.
    let mut held = std::net::TcpStream::connect(listen_of("held")).unwrap();
    held.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    held.read_exact(&mut b).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut p = p;
    tcpmortem_kernel::proc::signal(p.child.id() as i32, libc::SIGTERM).unwrap();
    let status = p.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        held.read(&mut b).unwrap(),
        0,
        "the held connection got a FIN"
    );
    let mut out = String::new();
    p.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["proxy"], "app");
    assert_eq!(lines[0]["bytes_to_client"], 2);
    assert_eq!(lines[0]["ending"]["kind"], "graceful-close", "{out}");
    assert_eq!(
        lines[0]["ending"]["by"], "server",
        "the upstream closed first"
    );
    assert_eq!(lines[1]["proxy"], "held");
    assert_eq!(lines[1]["client_end"]["facts"]["stopped"], true);
    assert_eq!(lines[1]["client_end"]["how"], "fin");
    assert_eq!(lines[1]["client_end"]["by"], "proxy");
    assert!(
        std::net::TcpStream::connect(&listen).is_err(),
        "the listener is closed"
    );
}

#[test]
fn config_file_errors_are_one_line_with_their_exit_code() {
    let dir = std::env::temp_dir().join(format!("tcpmortem-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"[{"name":"x"}]"#).unwrap();
    let out = common::tcpmortem()
        .args(["proxy", "--port", "0", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "tcpmortem: {}: missing required field: upstream at proxy 1\n",
            bad.display()
        )
    );
    let out = common::tcpmortem()
        .args(["proxy", "--port", "0", "--config"])
        .arg(dir.join("missing.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(66));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_human_line_tells_the_end_in_one_line() {
    let mut p = start_as(&[], &["--text"]);
    let up = greeter();
    http(
        &p.api,
        "POST",
        "/proxies",
        &format!(r#"{{"name":"app","listen":"127.0.0.1:0","upstream":"{up}"}}"#),
    );
    http(&p.api, "POST", "/proxies/app/toxics", r#"{"type":"reset"}"#);
    let (_, body) = http(&p.api, "GET", "/proxies/app", "");
    let listen = serde_json::from_str::<serde_json::Value>(&body).unwrap()["listen"]
        .as_str()
        .unwrap()
        .to_string();
    use std::io::Read;
    let mut c = std::net::TcpStream::connect(&listen).unwrap();
    let mut b = [0u8; 4];
    assert_eq!(
        c.read(&mut b).map_err(|e| e.raw_os_error()),
        Err(Some(libc::ECONNRESET))
    );
    std::thread::sleep(std::time::Duration::from_millis(600));
    tcpmortem_kernel::proc::signal(p.child.id() as i32, libc::SIGTERM).unwrap();
    assert_eq!(p.child.wait().unwrap().code(), Some(0));
    let mut out = String::new();
    p.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let client = c.local_addr().unwrap();
    let line = out.lines().next().unwrap_or_default();
    assert_eq!(out.lines().count(), 1, "{out}");
    for part in [
        &format!(" app {client} → {up} ")[..],
        " ↑0B ↓0B abortive-close · reset_downstream: reset the client (SO_LINGER 0) 0 ms after 0 bytes · client side: RST from proxy · client socket gone · client saw: Linux ECONNRESET 104 · Windows WSAECONNRESET 10054 · macOS ECONNRESET 54",
    ] {
        assert!(line.contains(part), "{part:?} not in {line:?}");
    }
}
