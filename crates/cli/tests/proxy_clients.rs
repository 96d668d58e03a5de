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
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("tcpmortem"))
        .args(["proxy", "--port", "0", "--no-tracefs"])
        .stdout(Stdio::null())
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
