//! What the tests that run tcpmortem share.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;
use std::time::Duration;

/// Whether this process has what the lab needs (root, or CAP_SYS_ADMIN + CAP_NET_ADMIN +
/// CAP_NET_RAW). In CI a missing privilege fails the test; elsewhere it says it was skipped.
pub fn privileged(tests: &str) -> bool {
    let missing = tcpmortem_kernel::proc::missing_capabilities();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the {tests} tests need root ({}), and CI must run them",
            missing.join(" + ")
        );
        eprintln!("SKIPPED: the {tests} tests need root");
    }
    missing.is_empty()
}

/// A directory for a test's files, removed when dropped (also when the test fails).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tcpmortem-test-")
        .tempdir()
        .unwrap()
}

pub fn tcpmortem() -> Command {
    let mut cmd = Command::cargo_bin("tcpmortem").unwrap();
    cmd.env("NO_COLOR", "1").timeout(Duration::from_secs(60));
    cmd
}

/// `tcpmortem ARGS...` run as nobody with no capabilities at all (setpriv, util-linux).
pub fn unprivileged(args: &[&str]) -> std::process::Output {
    std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(assert_cmd::cargo::cargo_bin("tcpmortem"))
        .args(args)
        .output()
        .unwrap()
}

/// `tcpmortem ARGS...` run as nobody holding only the capabilities `caps` (ambient, so they
/// survive execve into tcpmortem and its actors: `setpriv --ambient-caps`), inside `wrap`
/// (e.g. `unshare -Ur`) when given.
pub fn nobody_with(caps: &[&str], wrap: &[&str], args: &[&str]) -> std::process::Output {
    let set = if caps.is_empty() {
        "-all".to_string()
    } else {
        caps.iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(format!("--inh-caps={set}"));
    if !caps.is_empty() {
        cmd.arg(format!("--ambient-caps={set}"));
    }
    cmd.args(wrap)
        .arg(assert_cmd::cargo::cargo_bin("tcpmortem"))
        .args(args)
        .env("NO_COLOR", "1")
        // nobody may not enter the test's working directory.
        .current_dir("/")
        .output()
        .unwrap()
}

/// `tcpmortem ARGS...`, which must succeed, with its output read as JSON.
pub fn json(args: &[&str]) -> Value {
    let out = tcpmortem().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tcpmortem {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `tcpmortem lab run SPEC --json ARGS...`.
pub fn lab_json(spec: &str, args: &[&str]) -> Value {
    json(&[&["lab", "run", spec, "--json"], args].concat())
}

/// How `tcpmortem --version` must start: the version and the commit of this checkout
/// (`commit 0123456789ab`), or `unknown commit` outside a git checkout.
pub fn version_prefix() -> String {
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let commit = head.map_or("unknown commit".into(), |h| format!("commit {h}"));
    format!("tcpmortem {} ({commit}", env!("CARGO_PKG_VERSION"))
}

/// Processes whose environment carries `marker` (`NAME=VALUE`; the lab's actors and programs
/// inherit it from tcpmortem).
pub fn processes_with(marker: &str) -> Vec<i32> {
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

/// Polls `f` every 20 ms until it holds; fails the test after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A number no other test run shares (the clock's nanoseconds), for markers and names.
pub fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
