//! The command line as users meet it, across commands: output into a closed pipe, `--json`
//! and `-` everywhere, scenario paths and their errors, column layout, completions and
//! `--version`. Tests that run the lab need root; in CI a missing privilege fails them.

use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::tcpmortem;

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("tcpmortem")
}

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// `tcpmortem ARGS` with stdout a pipe whose reader is already gone, as after `| head -1`:
/// the first write fails with EPIPE (Rust ignores SIGPIPE).
fn into_closed_pipe(args: &[&str]) -> Command {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("NO_COLOR", "1")
        .stdout(writer)
        .stderr(Stdio::piped());
    cmd
}

fn assert_quiet_success(args: &[&str], out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?} into a closed pipe: {}",
        stderr(out)
    );
    assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(out));
}

#[test]
fn every_output_into_a_closed_pipe_exits_0_quietly() {
    let pcap = data("server-closes-early.pcapng");
    for args in [
        &["explain", "--json", "10053"][..],
        &["explain", "10053"],
        &["lab", "list", "--json"],
        &["lab", "list"],
        &["lab", "show", "server-closes-early"],
        &["analyze", "--json", &pcap],
        &["analyze", "--format", "zeek", &pcap],
        &["analyze", &pcap],
        &["completions", "bash"],
        &["--help"],
    ] {
        let out = into_closed_pipe(args).output().unwrap();
        assert_quiet_success(args, &out);
    }
}

#[test]
fn lab_and_watch_json_into_a_closed_pipe_exit_0_quietly() {
    if !common::privileged("lab") {
        return;
    }
    for args in [
        &["lab", "run", "connect-refused", "--json"][..],
        &["lab", "repro", "--json", "ECONNREFUSED"],
        &["lab", "run", "--all", "--json"],
    ] {
        let out = into_closed_pipe(args).output().unwrap();
        assert_quiet_success(args, &out);
    }
    // watch writes when a connection dies: it must stop at its first write, with 0.
    let args = [
        "watch",
        "--json",
        "--addr",
        "198.18.0.0/15",
        "--duration",
        "30",
    ];
    let mut watch = into_closed_pipe(&args).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        tcpmortem()
            .args(["lab", "run", "connect-refused", "--no-tracefs"])
            .output()
            .unwrap();
        if watch.try_wait().unwrap().is_some() {
            break;
        }
    }
    let out = watch.wait_with_output().unwrap();
    assert!(start.elapsed() < Duration::from_secs(20), "watch went on");
    // watch says which source it runs on stderr at start, and nothing else.
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?} into a closed pipe: {err}"
    );
    assert!(
        err.lines().count() == 1 && err.starts_with("tcpmortem watch: "),
        "{args:?}: {err}"
    );
}

#[test]
fn analyze_json_is_format_json() {
    let pcap = data("server-closes-early.pcapng");
    let a = tcpmortem()
        .args(["analyze", "--json", &pcap])
        .output()
        .unwrap();
    let b = tcpmortem()
        .args(["analyze", "--format", "json", &pcap])
        .output()
        .unwrap();
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    let v: Value = serde_json::from_slice(a.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(v["ending"]["kind"], "data-after-close");
    // Two ways of asking for a format at once is a usage error.
    let out = tcpmortem()
        .args(["analyze", "--json", "--format", "zeek", &pcap])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
}

#[test]
fn analyze_refuses_stdin_twice() {
    let out = tcpmortem()
        .args(["analyze", "-", "-"])
        .write_stdin(std::fs::read(data("server-closes-early.pcapng")).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("stdin"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn lab_run_reads_the_scenario_from_stdin() {
    // A syntax error names stdin with its line and column; it needs no privilege.
    let out = tcpmortem()
        .args(["lab", "run", "-"])
        .write_stdin("client connect\nserver acept\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65));
    assert!(
        stderr(&out).starts_with("tcpmortem: stdin:2:8: unknown operation \"acept\""),
        "{}",
        stderr(&out)
    );
    if !common::privileged("lab") {
        return;
    }
    let src = tcpmortem()
        .args(["lab", "show", "connect-refused"])
        .output()
        .unwrap()
        .stdout;
    let out = tcpmortem()
        .args(["lab", "run", "-", "--json"])
        .write_stdin(src)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["scenario"]["name"], "connect-refused");
    assert_eq!(v["steps"][0]["outcome"]["errno"], "ECONNREFUSED");
}

#[test]
fn a_binary_scenario_file_is_bad_input_not_a_missing_one() {
    let dir = common::tempdir();
    let junk = dir.path().join("junk.tcpm");
    let bytes: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&junk, bytes).unwrap();
    let out = tcpmortem()
        .args(["lab", "run", junk.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a scenario file"),
        "{}",
        stderr(&out)
    );
    let missing = dir.path().join("missing.tcpm");
    let out = tcpmortem()
        .args(["lab", "run", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(66), "{}", stderr(&out));
}

/// `./NAME` is the file; a bare built-in name is the built-in, and says so when a file of that
/// name is in the directory.
#[test]
fn a_path_is_always_the_file_and_a_shadowed_name_says_which_runs() {
    let dir = common::tempdir();
    // Not a scenario: if it were read, the run would fail with 65.
    std::fs::write(dir.path().join("connect-refused"), [0xff, 0xfe, 0]).unwrap();
    let run = |spec: &str| {
        tcpmortem()
            .current_dir(dir.path())
            .args(["lab", "run", spec])
            .output()
            .unwrap()
    };
    let out = run("./connect-refused");
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("./connect-refused: not a scenario file"),
        "{}",
        stderr(&out)
    );
    let out = run("connect-refused");
    assert_ne!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "connect-refused is a built-in scenario, and it is what runs; to run the file connect-refused of this directory, write ./connect-refused"
        ),
        "{}",
        stderr(&out)
    );
    // Any other bare name is a file, found or not.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/connect-refused"), "client connect\n").unwrap();
    let out = run("no-such-scenario");
    assert_eq!(out.status.code(), Some(66));
    assert!(
        stderr(&out).contains("tcpmortem lab list"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn runtime_errors_name_the_scenario_file() {
    if !common::privileged("lab") {
        return;
    }
    let dir = common::tempdir();
    let p = dir.path().join("wrong.tcpm");
    std::fs::write(
        &p,
        "name wrong\nclient connect\nsysctl client net.ipv4.no_such_sysctl=1\n",
    )
    .unwrap();
    let out = tcpmortem()
        .current_dir(dir.path())
        .args(["lab", "run", "wrong.tcpm"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("tcpmortem: wrong.tcpm: line 3: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn counts_of_one_are_singular() {
    if !common::privileged("lab") {
        return;
    }
    let out = tcpmortem()
        .args(["lab", "run", "-"])
        .write_stdin("client connect 9\n")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let footer = text.lines().last().unwrap();
    assert!(
        footer.starts_with("1 step, 1 connection, 2 packets, "),
        "{text}"
    );
    let out = tcpmortem()
        .args(["lab", "run", "-"])
        .write_stdin("client connect\nserver accept\nclient send 1\n")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[3] client send 1 → 1 byte\n"), "{text}");
}

#[test]
fn lab_list_names_never_push_the_descriptions_out_of_their_column() {
    let out = tcpmortem().args(["lab", "list"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<String> = serde_json::from_slice::<Value>(
        &tcpmortem()
            .args(["lab", "list", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .as_array()
    .unwrap()
    .iter()
    .map(|s| s["name"].as_str().unwrap().to_string())
    .collect();
    let col = names.iter().map(|n| n.chars().count()).max().unwrap() + 2;
    let narrow = tcpmortem()
        .env("COLUMNS", "100")
        .args(["lab", "list"])
        .output()
        .unwrap();
    let narrow = String::from_utf8(narrow.stdout).unwrap();
    for (text, width) in [(&text, usize::MAX), (&narrow, 100)] {
        for line in text.lines() {
            let chars: Vec<char> = line.chars().collect();
            assert!(
                chars[col - 2..col].iter().all(|c| *c == ' ') && chars[col] != ' ',
                "column {col} in {line:?}"
            );
            assert!(chars.len() <= width, "wider than {width}: {line:?}");
        }
    }
    // Wrapping only moved words to continuation lines.
    let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(words(&text), words(&narrow));
    assert!(narrow.lines().count() > text.lines().count());
}

#[test]
fn completions_for_each_shell() {
    let script = |shell: &str| {
        let out = tcpmortem().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let bash = script("bash");
    // bash reads it and registers the completion, subcommands included.
    let out = Command::new("bash")
        .args(["-c", "source /dev/stdin && complete -p tcpmortem"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bash.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("-F _tcpmortem"),
        "{}",
        stderr(&out)
    );
    for sub in ["analyze", "explain", "lab", "watch", "completions", "repro"] {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    assert!(!bash.contains("man-pages"), "a hidden command is offered");
    assert!(script("zsh").starts_with("#compdef tcpmortem"));
    assert!(script("fish").contains("complete -c tcpmortem"));
    let out = tcpmortem().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn version_names_the_commit() {
    let out = tcpmortem().arg("--version").output().unwrap();
    let version = String::from_utf8(out.stdout).unwrap();
    let want = common::version_prefix();
    assert!(
        version.starts_with(&want),
        "{version:?} should start with {want:?}"
    );
}

/// The build script on its own: a tree without git metadata, or one unpacked inside another
/// project's checkout, has no commit of its own.
#[path = "../build.rs"]
#[allow(dead_code)]
mod build_script;

#[test]
fn a_tree_without_its_own_git_checkout_has_no_commit() {
    let dir = common::tempdir();
    let krate = dir.path().join("crates/cli");
    std::fs::create_dir_all(&krate).unwrap();
    assert!(build_script::git_commit(&krate).is_none());
    // Unpacked inside someone else's repository.
    let init = Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir.path())
        .status();
    if init.is_ok_and(|s| s.success()) {
        let nested = dir.path().join("tcpmortem-0.1.0/crates/cli");
        std::fs::create_dir_all(&nested).unwrap();
        assert!(build_script::git_commit(&nested).is_none());
    }
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("../../.git").exists() {
        let (commit, watched) = build_script::git_commit(here).unwrap();
        assert!(commit.starts_with("commit "), "{commit}");
        assert!(watched.iter().all(|p| p.exists()) && !watched.is_empty());
    }
}
