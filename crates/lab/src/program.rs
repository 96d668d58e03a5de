//! The user's own programs in the lab (`client exec curl ...`): started inside a host's
//! namespace, in a process group of their own, watched until they exit, and always killed
//! and reaped when the run ends.
//!
//! Safety, in layers:
//! - the program is spawned (setns into the host's namespace before exec, so it never runs in
//!   the host namespace) from a thread of its own that lives until the program exits, with
//!   PR_SET_PDEATHSIG: if tcpmortem dies, even of SIGKILL, the kernel kills the program;
//! - it leads its own process group, which the run signals as a whole (`kill`, `stop`,
//!   `cont`, `signal`) and kills when it ends, whatever way it ends (the [`Program`]'s Drop);
//! - its environment carries [`OWNER_VAR`]: what escaped the group (a daemon's `setsid`) or
//!   outlived a SIGKILLed tcpmortem (a grandchild, which PR_SET_PDEATHSIG does not cover) is
//!   found by [`sweep`] at the end of the run and at the start of the next one.

use crate::error::LabError;
use crate::scenario::{Actor, Scenario, StepKind};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tcpmortem_kernel::proc;

/// Set in every program's environment to the pid of the tcpmortem that started it.
pub const OWNER_VAR: &str = "TCPMORTEM_LAB_OWNER";

/// How much of a program's stdout and of its stderr the record keeps.
pub const OUTPUT_LIMIT: usize = 16 * 1024;

/// How a program ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Exit {
    Code { code: i32 },
    Signal { signal: String, number: i32 },
}

impl Exit {
    pub fn text(&self) -> String {
        match self {
            Exit::Code { code } => format!("exit {code}"),
            Exit::Signal { signal, .. } => format!("killed by {signal}"),
        }
    }

    /// What `expect ACTOR exit = X` compares: `56`, or `SIGKILL`.
    pub fn matches(&self, want: &str) -> bool {
        match self {
            Exit::Code { code } => want.parse::<i32>() == Ok(*code),
            Exit::Signal { signal, .. } => {
                let w = want.to_ascii_uppercase();
                w == *signal || format!("SIG{w}") == *signal
            }
        }
    }
}

/// A stream's first [`OUTPUT_LIMIT`] bytes and its full length.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub head: Vec<u8>,
    pub total: u64,
}

fn read_bounded(mut r: impl Read) -> Output {
    let mut out = Output::default();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => {
                out.total += n as u64;
                let room = OUTPUT_LIMIT.saturating_sub(out.head.len());
                out.head.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return out,
        }
    }
}

/// A program of the run.
pub struct Program {
    pub actor: Actor,
    pub argv: Vec<String>,
    pub pid: i32,
    /// CLOCK_MONOTONIC.
    pub started_ns: u64,
    pub deadline: Instant,
    /// Set by the waiting thread: how it ended and when (CLOCK_MONOTONIC).
    ended: Arc<Mutex<Option<(Exit, u64)>>>,
    waiter: Option<JoinHandle<()>>,
    outputs: Vec<JoinHandle<Output>>,
    /// The lab killed it at its time limit.
    pub timed_out: bool,
    /// Stopped by `stop` and not continued.
    pub stopped: bool,
}

/// Where a program is looked for: a name with a slash as given, else each directory of PATH.
pub fn resolve(name: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| executable(p))
}

/// Refuses, before anything is set up, a scenario whose program is not installed.
pub fn check_programs(sc: &Scenario) -> Result<(), LabError> {
    for s in &sc.steps {
        if let StepKind::Exec { argv, actor } = &s.kind {
            let name = &argv[0];
            if resolve(name).is_none() {
                let where_ = if name.contains('/') {
                    "no executable file there".to_string()
                } else {
                    "not found in PATH".to_string()
                };
                return Err(LabError::Unavailable {
                    line: s.line,
                    message: format!("the {actor}'s program {name:?}: {where_}"),
                });
            }
        }
    }
    Ok(())
}

impl Program {
    /// Starts `argv` in the namespace `netns` with `env` added. With `trace`, the spawning
    /// thread has the call tracer follow its children first, so that the program is traced
    /// from its first instruction.
    pub fn start(
        actor: Actor,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        netns: std::os::fd::RawFd,
        limit: Duration,
        trace: Option<crate::calls::SpawnHook>,
    ) -> Result<Program, LabError> {
        let (tx, rx) = channel();
        let ended: Arc<Mutex<Option<(Exit, u64)>>> = Arc::new(Mutex::new(None));
        let ended2 = ended.clone();
        let argv2 = argv.clone();
        // The thread that forks is the program's parent for PR_SET_PDEATHSIG: it stays until
        // the program exits.
        let waiter = std::thread::spawn(move || {
            if let Some(hook) = &trace
                && let Err(e) = hook.before_fork()
            {
                let _ = tx.send(Err(format!("tracing the program's calls: {e}")));
                return;
            }
            let mut cmd = Command::new(&argv2[0]);
            cmd.args(&argv2[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .env(OWNER_VAR, owner_id(std::process::id() as i32));
            for (k, v) in &env {
                cmd.env(k, v);
            }
            let spawned = proc::spawn_program(&mut cmd, netns);
            if let Some(hook) = &trace {
                hook.after_spawn();
            }
            let mut child = match spawned {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Err(format!("cannot start {:?}: {e}", argv2[0])));
                    return;
                }
            };
            let pid = child.id() as i32;
            let _ = tx.send(Ok((
                pid,
                proc::monotonic_ns(),
                child.stdout.take(),
                child.stderr.take(),
            )));
            let status = child.wait();
            let at = proc::monotonic_ns();
            let exit = match status {
                Ok(s) => match (s.code(), s.signal()) {
                    (Some(code), _) => Exit::Code { code },
                    (None, Some(n)) => Exit::Signal {
                        signal: crate::scenario::Signal::name_of(n),
                        number: n,
                    },
                    _ => Exit::Code { code: -1 },
                },
                Err(_) => Exit::Code { code: -1 },
            };
            if let Ok(mut e) = ended2.lock() {
                *e = Some((exit, at));
            }
        });
        let started = rx
            .recv()
            .map_err(|_| LabError::Setup("the program's thread ended".into()))?;
        let (pid, started_ns, stdout, stderr) = match started {
            Ok(x) => x,
            Err(msg) => {
                let _ = waiter.join();
                return Err(LabError::Setup(msg));
            }
        };
        let outputs = [
            stdout.map(|s| Box::new(s) as Box<dyn Read + Send>),
            stderr.map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .map(|s| {
            std::thread::spawn(move || match s {
                Some(s) => read_bounded(s),
                None => Output::default(),
            })
        })
        .collect();
        Ok(Program {
            actor,
            argv,
            pid,
            started_ns,
            deadline: Instant::now() + limit,
            ended,
            waiter: Some(waiter),
            outputs,
            timed_out: false,
            stopped: false,
        })
    }

    /// How it ended and when, once it has.
    pub fn ended(&self) -> Option<(Exit, u64)> {
        self.ended.lock().ok().and_then(|e| e.clone())
    }

    /// Signals the whole process group. A stopped program is continued after SIGTERM and
    /// the like, or it could not act on them.
    /// Err: the errno of kill(2); ESRCH once the program has exited (its group may still
    /// hold children, which the signal does not reach then).
    pub fn signal(&mut self, sig: i32) -> Result<(), i32> {
        if self.ended().is_some() {
            return Err(libc::ESRCH);
        }
        proc::signal(-self.pid, sig).map_err(|e| e.errno().unwrap_or(libc::EIO))?;
        match sig {
            libc::SIGSTOP => self.stopped = true,
            libc::SIGCONT => self.stopped = false,
            _ => {}
        }
        Ok(())
    }

    /// Waits for it to exit, up to `timeout`, or until `interrupted` says so. True if it
    /// exited.
    pub fn wait(&self, timeout: Duration, mut interrupted: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.ended().is_some() {
                return true;
            }
            if Instant::now() >= end || interrupted() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Kills the process group at the time limit; true if it did so now.
    pub fn enforce_limit(&mut self) -> bool {
        if self.timed_out || self.ended().is_some() || Instant::now() < self.deadline {
            return false;
        }
        let _ = proc::signal(-self.pid, libc::SIGKILL);
        self.timed_out = true;
        true
    }

    /// Kills what is left of the group, reaps the program, and returns its outputs.
    pub fn finish(mut self) -> (Option<(Exit, u64)>, Output, Output) {
        self.reap();
        let mut outs = std::mem::take(&mut self.outputs)
            .into_iter()
            .map(|h| h.join().unwrap_or_default());
        let stdout = outs.next().unwrap_or_default();
        let stderr = outs.next().unwrap_or_default();
        (self.ended(), stdout, stderr)
    }

    fn reap(&mut self) {
        // The group dies whether the leader has exited or not: its children may live on.
        let _ = proc::signal(-self.pid, libc::SIGKILL);
        if let Some(w) = self.waiter.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.reap();
    }
}

/// The value [`OWNER_VAR`] holds for a tcpmortem process: `PID:START`, its pid and start time,
/// so that a pid reused by another process after tcpmortem died does not pass for the owner.
fn owner_id(pid: i32) -> String {
    format!("{pid}:{}", proc::start_time(pid).unwrap_or(0))
}

/// The value of [`OWNER_VAR`] in a process's environment.
fn owner_of(pid: i32) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let key = format!("{OWNER_VAR}=");
    env.split(|b| *b == 0).find_map(|kv| {
        std::str::from_utf8(kv.strip_prefix(key.as_bytes())?)
            .ok()
            .map(str::to_owned)
    })
}

/// Whether the tcpmortem an [`OWNER_VAR`] value names still runs: the same pid, started at the
/// same time.
fn owner_alive(owner: &str) -> bool {
    let Some((pid, start)) = owner.split_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<i32>() else {
        return false;
    };
    proc::alive(pid) && proc::start_time(pid).map(|t| t.to_string()).as_deref() == Some(start)
}

fn pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Kills the programs (and their descendants) that earlier tcpmortem processes started and
/// left behind when they died (SIGKILL): processes whose [`OWNER_VAR`] names a process that
/// no longer runs (its pid gone, or taken by a process started at another time). Returns their pids.
pub fn sweep() -> Vec<i32> {
    let mut killed = Vec::new();
    for pid in pids() {
        if let Some(owner) = owner_of(pid)
            && !owner_alive(&owner)
            && proc::signal(pid, libc::SIGKILL).is_ok()
        {
            killed.push(pid);
        }
    }
    killed
}

/// Kills every process this tcpmortem started as a program (by [`OWNER_VAR`]): called when
/// the run is over.
pub fn sweep_mine() -> Vec<i32> {
    let me = owner_id(std::process::id() as i32);
    let mut killed = Vec::new();
    for pid in pids() {
        if owner_of(pid).as_deref() == Some(me.as_str()) && proc::signal(pid, libc::SIGKILL).is_ok()
        {
            killed.push(pid);
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid names its owner only together with the owner's start time: the same pid with
    /// another start time (a reused pid) is a dead owner, as is a pid that does not exist.
    #[test]
    fn an_owner_is_its_pid_and_start_time() {
        let me = std::process::id() as i32;
        let id = owner_id(me);
        assert!(owner_alive(&id), "{id}");
        let start: u64 = id.split_once(':').unwrap().1.parse().unwrap();
        assert!(start > 0);
        assert!(!owner_alive(&format!("{me}:{}", start + 1)));
        assert!(!owner_alive(&format!("{me}")));
        assert!(!owner_alive("2147483647:1"));
        assert!(!owner_alive("x:1"));
    }
}
