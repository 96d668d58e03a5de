//! README's "Exit codes" table, code by code: every documented code is produced for real by
//! the command that should produce it, with the reason it should print, and the table, the
//! `--help` text and the triggers below list the same codes.
//!
//! To add a code: a row in README's table, a line in `exit::HELP`, and an entry in
//! `triggers()` (a closure that runs the command in a scratch directory; `root: true` when it
//! needs the lab's privileges). The test names whatever is missing.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

struct Trigger {
    code: u8,
    /// What the command is, for messages.
    what: &'static str,
    /// A fragment of what it prints on stderr.
    says: &'static str,
    /// Needs the lab's privileges (root).
    root: bool,
    run: Box<dyn Fn(&Path) -> Output>,
}

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("tcpmortem")
}

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args).env("NO_COLOR", "1").stdin(Stdio::null());
    c
}

/// Starts `c` with `input` on its stdin (then closed), stdout and stderr captured.
fn feed(mut c: Command, input: &str) -> std::process::Child {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    child
}

/// Runs `args` with `input` on stdin.
fn with_stdin(args: &[&str], input: &str) -> Output {
    feed(cmd(args), input).wait_with_output().unwrap()
}

fn out(args: &[&str]) -> Output {
    cmd(args).output().unwrap()
}

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn trigger(
    code: u8,
    what: &'static str,
    says: &'static str,
    root: bool,
    run: impl Fn(&Path) -> Output + 'static,
) -> Trigger {
    Trigger {
        code,
        what,
        says,
        root,
        run: Box::new(run),
    }
}

fn triggers() -> Vec<Trigger> {
    vec![
        trigger(0, "explain 10053", "", false, |_| {
            out(&["explain", "10053"])
        }),
        trigger(
            1,
            "lab run, an expectation fails",
            "1 of 1 expectation failed",
            true,
            |_| {
                with_stdin(
                    &["lab", "run", "-"],
                    "client connect 9\nexpect client connect = ok\n",
                )
            },
        ),
        trigger(
            2,
            "explain ECONNRESTE",
            "closest: ECONNRESET",
            false,
            |_| out(&["explain", "ECONNRESTE"]),
        ),
        trigger(
            3,
            "analyze, a truncated capture",
            "truncated",
            false,
            |dir| {
                let bytes = std::fs::read(data("server-closes-early.pcapng")).unwrap();
                let cut = dir.join("cut.pcapng");
                std::fs::write(&cut, &bytes[..bytes.len() - 50]).unwrap();
                out(&["analyze", cut.to_str().unwrap()])
            },
        ),
        trigger(64, "explain without a query", "required", false, |_| {
            out(&["explain"])
        }),
        trigger(64, "analyze - -", "stdin", false, |_| {
            out(&["analyze", "-", "-"])
        }),
        trigger(
            65,
            "lab run, a syntax error",
            "stdin:1:8: unknown operation",
            false,
            |_| with_stdin(&["lab", "run", "-"], "client conect\n"),
        ),
        trigger(
            65,
            "lab run, a binary file",
            "not a scenario file",
            false,
            |dir| {
                let junk = dir.join("junk.tcpm");
                std::fs::write(&junk, [0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0xff, 0xfe]).unwrap();
                out(&["lab", "run", junk.to_str().unwrap()])
            },
        ),
        trigger(
            65,
            "lab run, a step that cannot be done",
            ": line 2: ",
            true,
            |_| {
                with_stdin(
                    &["lab", "run", "-"],
                    "client connect\nsysctl server net.ipv4.no_such_sysctl=1\n",
                )
            },
        ),
        trigger(
            65,
            "analyze, not a capture",
            "not a pcap or pcapng file",
            false,
            |dir| {
                let text = dir.join("notes.txt");
                std::fs::write(&text, "this is not a capture\n").unwrap();
                out(&["analyze", text.to_str().unwrap()])
            },
        ),
        trigger(66, "lab run, no such file", "No such file", false, |dir| {
            out(&["lab", "run", dir.join("missing.tcpm").to_str().unwrap()])
        }),
        trigger(66, "analyze, no such file", "No such file", false, |dir| {
            out(&["analyze", dir.join("missing.pcap").to_str().unwrap()])
        }),
        trigger(
            69,
            "lab run, net faults without nft",
            "install nftables",
            true,
            |_| {
                let mut c = cmd(&["lab", "run", "-"]);
                c.env("PATH", "/nonexistent");
                feed(c, "client connect\nnet drop client->server\n")
                    .wait_with_output()
                    .unwrap()
            },
        ),
        trigger(
            70,
            "a panic (debug builds)",
            "internal error",
            false,
            |_| {
                let mut c = cmd(&["explain", "10053"]);
                c.env("TCPMORTEM_DEBUG_PANIC", "1");
                c.output().unwrap()
            },
        ),
        trigger(
            71,
            "lab run, every address block taken",
            "address blocks",
            true,
            all_blocks_taken,
        ),
        trigger(
            71,
            "watch, tracefs read-only",
            "cannot create a tracefs instance",
            true,
            |_| {
                in_mount_ns(
                    "mount --bind /sys/kernel/tracing /sys/kernel/tracing && mount -o remount,bind,ro /sys/kernel/tracing",
                    &["watch", "--tracefs", "--duration", "2"],
                )
            },
        ),
        trigger(
            71,
            "watch, neither BTF nor tracefs",
            "watch has no event source",
            true,
            |_| {
                in_mount_ns(
                    "mount -t tmpfs none /sys/kernel",
                    &["watch", "--duration", "2"],
                )
            },
        ),
        trigger(74, "output to a full disk", "No space left", false, |_| {
            let full = std::fs::File::create("/dev/full").unwrap();
            cmd(&["explain", "10053"])
                .stdout(full)
                .stderr(Stdio::piped())
                .output()
                .unwrap()
        }),
        trigger(
            74,
            "analyze, reading fails",
            "Is a directory",
            false,
            |dir| out(&["analyze", dir.to_str().unwrap()]),
        ),
        trigger(
            77,
            "lab run as nobody",
            "lacks CAP_SYS_ADMIN",
            false,
            |_| common::nobody_with(&[], &[], &["lab", "run", "connect-refused"]),
        ),
        trigger(
            77,
            "watch as nobody",
            "watch needs CAP_BPF + CAP_PERFMON",
            false,
            |_| common::nobody_with(&[], &[], &["watch", "--duration", "2"]),
        ),
        trigger(
            74,
            "lab run, --svg to a full disk",
            "writing --svg /dev/full",
            true,
            |_| out(&["lab", "run", "connect-refused", "--svg", "/dev/full"]),
        ),
        trigger(
            129,
            "lab run, SIGHUP",
            "interrupted by SIGHUP",
            true,
            |_| interrupt("-HUP"),
        ),
        trigger(
            130,
            "lab run, SIGINT",
            "interrupted by SIGINT",
            true,
            |_| interrupt("-INT"),
        ),
        trigger(
            143,
            "lab run, SIGTERM",
            "interrupted by SIGTERM",
            true,
            |_| interrupt("-TERM"),
        ),
    ]
}

/// A lab run that sleeps, signalled while it does.
fn interrupt(sig: &str) -> Output {
    let child = feed(
        cmd(&["lab", "run", "-"]),
        "client connect\nsleep 10s\nclient send 1\n",
    );
    std::thread::sleep(Duration::from_millis(700));
    // kill(1) by pid: a process this test started.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success()
    );
    child.wait_with_output().unwrap()
}

/// tcpmortem with `args`, in a private mount namespace (unshare(1)) after `setup` (sh) changed
/// what it sees of /sys: the host's mounts are not touched.
fn in_mount_ns(setup: &str, args: &[&str]) -> Output {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!("{setup} && exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `lab run` in a network namespace of its own where something holds all 512 abstract socket
/// names that reserve address blocks: nothing outside the namespace is disturbed.
fn all_blocks_taken(_: &Path) -> Output {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let ns = tcpmortem_kernel::netns::NetNs::new().unwrap();
    let _held: Vec<UnixDatagram> = ns
        .run(|| {
            (0..512)
                .map(|b| {
                    let name = format!("tcpmortem/block/{b}");
                    UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name).unwrap()).unwrap()
                })
                .collect()
        })
        .unwrap();
    let mut c = cmd(&["lab", "run", "connect-refused"]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    tcpmortem_kernel::proc::spawn_in_netns(&mut c, ns.raw_fd())
        .unwrap()
        .wait_with_output()
        .unwrap()
}

/// The codes of README's "Exit codes" table.
fn readme_codes() -> BTreeSet<u8> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("README has an \"## Exit codes\" section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| ")?.split(' ').next()?.parse().ok())
        .collect()
}

/// The codes `tcpmortem --help` lists.
fn help_codes() -> BTreeSet<u8> {
    let help = String::from_utf8(out(&["--help"]).stdout).unwrap();
    let section = help.split("Exit codes:\n").nth(1).unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn the_readme_table_the_help_and_the_real_exit_codes_agree() {
    let triggers = triggers();
    let tested: BTreeSet<u8> = triggers.iter().map(|t| t.code).collect();
    let readme = readme_codes();
    assert_eq!(readme, help_codes(), "README's table vs --help's list");
    assert_eq!(readme, tested, "README's table vs the codes produced here");

    let root = common::privileged("exit code");
    let mut failures = Vec::new();
    for t in &triggers {
        if t.root && !root {
            continue;
        }
        if t.code == 70 && !cfg!(debug_assertions) {
            eprintln!(
                "SKIPPED: {}: TCPMORTEM_DEBUG_PANIC works in debug builds only",
                t.what
            );
            continue;
        }
        let dir = common::tempdir();
        let start = Instant::now();
        let o = (t.run)(dir.path());
        let err = String::from_utf8_lossy(&o.stderr);
        let ok = o.status.code() == Some(i32::from(t.code)) && err.contains(t.says);
        eprintln!(
            "{} {:>3} {:<40} {:>6.0?}  {}",
            if ok { "ok  " } else { "FAIL" },
            t.code,
            t.what,
            start.elapsed(),
            err.lines().last().unwrap_or_default()
        );
        if !ok {
            failures.push(format!(
                "{}: expected {} with {:?}, got {:?}: {err}",
                t.what,
                t.code,
                t.says,
                o.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
