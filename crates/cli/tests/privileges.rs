//! The lab's privileges as the README documents them, tested as an administrator would grant
//! them: ambient capabilities for a non-root user (setpriv), a user namespace (unshare), and
//! each missing capability named with exit code 77. The runs themselves need this test to be
//! root (to hand out the capabilities); in CI a missing privilege fails them loudly.

use serde_json::Value;
use std::time::{Duration, Instant};

mod common;
use common::nobody_with;

fn root() -> bool {
    common::privileged("privileges")
}

const SANDBOX: [&str; 3] = ["sys_admin", "net_admin", "net_raw"];

fn json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count(v: &Value, status: &str) -> usize {
    v["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == status)
        .count()
}

fn notes(v: &Value) -> String {
    v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_non_root_user_with_the_documented_capabilities_gets_the_whole_record() {
    if !root() {
        return;
    }
    let caps = [&SANDBOX[..], &["dac_override"]].concat();
    let v = json(&nobody_with(
        &caps,
        &[],
        &["lab", "run", "server-closes-early", "--json"],
    ));
    assert_eq!((count(&v, "passed"), count(&v, "failed")), (12, 0));
    assert!(v["environment"]["tracefs"] == true, "{}", notes(&v));
    assert!(!v["events"].as_array().unwrap().is_empty());
}

#[test]
fn without_cap_dac_override_the_kernel_events_come_from_ebpf() {
    if !root() {
        return;
    }
    // CAP_SYS_ADMIN, which the sandbox needs, also lets the lab load its BPF programs; only
    // tracefs, owned by root with mode 0700, needs CAP_DAC_OVERRIDE.
    let v = json(&nobody_with(
        &SANDBOX,
        &[],
        &["lab", "run", "server-closes-early", "--json"],
    ));
    assert_eq!((count(&v, "passed"), count(&v, "failed")), (12, 0));
    assert_eq!(v["environment"]["kernel_events"], "ebpf", "{}", notes(&v));
    assert!(!v["events"].as_array().unwrap().is_empty());
}

#[test]
fn without_cap_dac_override_tracefs_alone_says_why_kernel_events_are_missing() {
    if !root() {
        return;
    }
    let v = json(&nobody_with(
        &SANDBOX,
        &[],
        &[
            "lab",
            "run",
            "server-closes-early",
            "--json",
            "--kernel-events",
            "tracefs",
        ],
    ));
    // The kernel's RST reason is the one expectation left unchecked.
    assert_eq!(
        (
            count(&v, "passed"),
            count(&v, "failed"),
            count(&v, "not-checked")
        ),
        (11, 0, 1)
    );
    assert!(v["environment"]["kernel_events"].is_null());
    assert!(notes(&v).contains("add CAP_DAC_OVERRIDE"), "{}", notes(&v));
}

#[test]
fn each_missing_capability_is_named_and_exits_77() {
    if !root() {
        return;
    }
    for missing in SANDBOX {
        let caps: Vec<&str> = SANDBOX
            .iter()
            .copied()
            .filter(|c| *c != missing)
            .chain(["dac_override"])
            .collect();
        let out = nobody_with(&caps, &[], &["lab", "run", "connect-refused"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(77), "without {missing}: {err}");
        let lacks = err.split("lacks").nth(1).unwrap_or_default().trim();
        assert_eq!(
            lacks,
            format!("CAP_{}", missing.to_uppercase()),
            "without {missing}: {err}"
        );
    }
}

#[test]
fn in_a_user_namespace_the_lab_runs_and_names_what_it_cannot_see() {
    if !root() {
        return;
    }
    // `unshare -Ur` as an ordinary user: root inside, nobody outside.
    let v = json(&nobody_with(
        &[],
        &["unshare", "-Ur"],
        &["lab", "run", "server-closes-early", "--json"],
    ));
    assert_eq!((count(&v, "passed"), count(&v, "failed")), (11, 0));
    // One note for both sources, each with its reason.
    let n = notes(&v);
    assert!(n.contains("user namespace"), "{n}");
    assert!(
        n.contains("kernel view missing: the lab's BPF programs could not be loaded (loading BPF needs CAP_BPF + CAP_PERFMON in the host's user namespace"),
        "{n}"
    );
    assert!(!n.contains("read from tracefs"), "{n}");
}

#[test]
fn in_a_user_namespace_without_root_inside_it_exits_77_with_the_reason() {
    if !root() {
        return;
    }
    let out = nobody_with(&[], &["unshare", "-U"], &["lab", "run", "connect-refused"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("user namespace") && err.contains("unshare -Ur"),
        "{err}"
    );
}

/// The address block is reserved by an abstract socket, not a file: nothing to leave behind,
/// nothing a non-root user cannot create.
#[test]
fn a_run_holds_its_address_block_as_an_abstract_socket_and_leaves_no_file() {
    if !root() {
        return;
    }
    let dir = common::tempdir();
    let sc = dir.path().join("slow.tcpm");
    std::fs::write(&sc, "name slow\nclient connect\nsleep 1500ms\n").unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tcpmortem"))
        .args(["lab", "run", sc.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the run holds its block.
    let deadline = Instant::now() + Duration::from_secs(10);
    let held = loop {
        let held = blocks_of(pid);
        if !held.is_empty() || Instant::now() > deadline {
            break held;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let files: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|p| p.display().to_string())
        .filter(|p| p.starts_with("/run/"))
        .collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(files.is_empty(), "files under /run held: {files:?}");
    // Released with the process.
    let names: Vec<String> = unix_sockets().into_iter().map(|(_, n)| n).collect();
    assert!(!names.contains(&held[0]), "{} still bound", held[0]);
}

/// (inode, name) of the bound abstract Unix sockets (/proc/net/unix).
fn unix_sockets() -> Vec<(String, String)> {
    std::fs::read_to_string("/proc/net/unix")
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(6)?.to_string(), f.get(7)?.to_string()))
        })
        .filter(|(_, name)| name.starts_with('@'))
        .collect()
}

/// The `@tcpmortem/block/N` names bound by sockets that process `pid` holds.
fn blocks_of(pid: u32) -> Vec<String> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|p| {
                    let s = p.display().to_string();
                    Some(s.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    unix_sockets()
        .into_iter()
        .filter(|(inode, name)| inodes.contains(inode) && name.starts_with("@tcpmortem/block/"))
        .map(|(_, name)| name)
        .collect()
}
