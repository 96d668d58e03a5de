//! A program's socket calls, traced in the kernel and limited to the programs' process trees.
//!
//! Where eBPF loads (CAP_BPF + CAP_PERFMON, kernel BTF): `crates/kernel/bpf/calls.bpf.c`, on
//! `raw_syscalls:sys_enter`/`sys_exit`, reads each call's socket from the calling task's own
//! descriptor table at the call (accept: the new descriptor's at its return; connect: at its
//! return, once bound; close: at its entry, before it is gone), so every call on a TCP socket
//! is tied to its 4-tuple, however soon the descriptor is closed. The traced processes are a
//! map: the thread that spawns a program is listed before it forks, and
//! `sched_process_fork` adds every process a traced one forks. Calls on descriptors 0-2 and on
//! anything but a TCP socket are dropped in the kernel. Loading runs while the sandbox is built.
//!
//! Elsewhere, or with `TCPMORTEM_CALL_TRACER=tracefs`, the fallback: the kernel's system-call
//! tracepoints in a tracefs instance of the run's own (`set_event_pid` with the `event-fork`
//! option: the thread that forks a program is listed, and its children join the list as they
//! are forked). Which connection a descriptor belongs to: when a call on a descriptor not yet
//! known completes (a connect, an accept's new descriptor, the first call on an inherited
//! one), the reader looks it up at once, as `ss -p` does: `/proc/TID/fd/FD` names the
//! socket's inode, and `/proc/TID/net/tcp` (the task's own namespace) gives the inode's
//! addresses. The answer holds until that descriptor is closed. Calls on descriptors that are
//! not TCP sockets of the run's hosts (files, pipes, a terminal) are dropped. A descriptor that
//! was already closed when the reader came to it (the reader lags the program by a few
//! milliseconds) cannot be identified: its calls are counted in a note, not guessed. Removing
//! that instance also costs ~80-130 ms at the end of a run (clearing the event pids and the
//! syscall probes waits for RCU grace periods), which the eBPF path does not.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tcpmortem_kernel::calls_bpf::{CallProbe, CallRing};
use tcpmortem_kernel::proc;
use tcpmortem_kernel::sock::poll;
use tcpmortem_kernel::tracefs::{self, Instance};
use tcpmortem_trace::syscall::{Pairer, SysCall, parse_sys_line};

/// Set to `tracefs` to trace the programs' calls through tracefs even where eBPF loads, or to
/// `off` not to trace them (benchmarks).
pub const TRACER_VAR: &str = "TCPMORTEM_CALL_TRACER";

/// A traced call on a socket of the run, with the socket's addresses as the program saw them.
#[derive(Debug, Clone)]
pub struct Traced {
    pub call: SysCall,
    /// The process (thread group) the thread belongs to.
    pub pid: i32,
    /// The socket's ends (for accept: the accepted socket's); None for a connect that failed
    /// before the socket was bound.
    pub ends: Option<(SocketAddr, SocketAddr)>,
}

/// What the reader found, when it stops.
#[derive(Debug, Default)]
pub struct TraceOut {
    pub calls: Vec<Traced>,
    /// Calls on descriptors gone before they could be identified (the tracefs fallback only:
    /// eBPF reads the socket at the call).
    pub unidentified: u64,
    /// Events (tracefs) or calls (eBPF) the ring buffer had no room for.
    pub lost: u64,
}

/// How the calls are traced.
enum Backend {
    Bpf(Arc<Mutex<CallProbe>>),
    Tracefs {
        instance: Arc<Instance>,
        events: Vec<String>,
    },
}

pub struct CallTracer {
    backend: Backend,
    /// Why the fallback is used, for the record's notes.
    pub note: Option<String>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<TraceOut>>,
    leaders: Arc<Mutex<Vec<i32>>>,
    ours: [IpAddr; 2],
}

/// The tracefs instance's ring buffer per CPU: the programs' calls only (the pid filter drops
/// the rest in the kernel), so a small one holds a long run.
const BUFFER_KB: u32 = 2048;

/// What the thread that spawns a program does first, so that the program is traced from its
/// first instruction.
#[derive(Clone)]
pub struct SpawnHook(HookKind);

#[derive(Clone)]
enum HookKind {
    Bpf(Arc<Mutex<CallProbe>>),
    Tracefs(Arc<Instance>, Vec<String>),
}

impl SpawnHook {
    /// Called on the spawning thread before it forks: its children will be traced.
    pub fn before_fork(&self) -> Result<(), String> {
        let tid = proc::thread_id().ok_or_else(|| "cannot read /proc/thread-self".to_string())?;
        match &self.0 {
            HookKind::Bpf(p) => p
                .lock()
                .map_err(|_| "the call tracer's lock is poisoned".to_string())?
                .trace_children_of(tid as u32)
                .map_err(|e| e.to_string()),
            HookKind::Tracefs(inst, events) => {
                inst.append("set_event_pid", &format!("{tid}\n"))
                    .map_err(|e| e.to_string())?;
                events.iter().try_for_each(|e| {
                    inst.set(&format!("events/{e}/enable"), "1")
                        .map_err(|e| e.to_string())
                })
            }
        }
    }

    /// Called on the spawning thread once the program runs: the thread forks nothing more.
    pub fn after_spawn(&self) {
        if let (HookKind::Bpf(p), Some(tid)) = (&self.0, proc::thread_id())
            && let Ok(mut p) = p.lock()
        {
            p.forget_spawner(tid as u32);
        }
    }
}

impl CallTracer {
    /// Loads the BPF programs, or makes the tracefs instance, and starts the reader. `ours`:
    /// the run's host addresses.
    pub fn start(ours: [IpAddr; 2]) -> tcpmortem_kernel::Result<CallTracer> {
        Ok(Self::prepare()?.start(ours))
    }

    /// The slow part (loading and verifying the BPF programs, or ~50 ms of the instance's
    /// ring-buffer resets): a run does it while its sandbox is built, before the host
    /// addresses the reader needs are known.
    pub fn prepare() -> tcpmortem_kernel::Result<Prepared> {
        let chosen = std::env::var(TRACER_VAR).unwrap_or_default();
        if chosen == "off" {
            // For benchmarks: the cost of tracing is the difference.
            return Err(tcpmortem_kernel::Error::new(
                format!("{TRACER_VAR}=off"),
                std::io::Error::other("call tracing turned off"),
            ));
        }
        let why = if chosen == "tracefs" {
            format!("{TRACER_VAR}=tracefs")
        } else {
            match CallProbe::load() {
                Ok(mut probe) => {
                    if let Some(ring) = probe.take_ring() {
                        return Ok(Prepared {
                            backend: PreparedBackend::Bpf {
                                probe: Box::new(probe),
                                ring,
                            },
                            note: None,
                        });
                    }
                    "the BPF ring buffer is missing".to_string()
                }
                Err(e) if e.is_permission() => {
                    format!("eBPF needs CAP_BPF + CAP_PERFMON: {e}")
                }
                Err(e) => format!("eBPF could not be loaded: {e}"),
            }
        };
        let (instance, events, pipe) = prepare_tracefs()
            .map_err(|e| tcpmortem_kernel::Error::new(format!("{} (and {why})", e.op), e.source))?;
        Ok(Prepared {
            backend: PreparedBackend::Tracefs {
                instance,
                events,
                pipe,
            },
            note: Some(format!(
                "the programs' socket calls were traced through tracefs, not eBPF ({why})"
            )),
        })
    }

    /// `ebpf` or `tracefs`: which tracer the run used, for the record.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Bpf(_) => "ebpf",
            Backend::Tracefs { .. } => "tracefs",
        }
    }

    /// What a program's spawning thread must do first.
    pub fn spawn_hook(&self) -> SpawnHook {
        SpawnHook(match &self.backend {
            Backend::Bpf(p) => HookKind::Bpf(p.clone()),
            Backend::Tracefs { instance, events } => {
                HookKind::Tracefs(instance.clone(), events.clone())
            }
        })
    }

    /// Tells the tracer the pid of a program the lab started.
    pub fn add_program(&self, pid: i32) {
        if let Backend::Bpf(p) = &self.backend {
            // Already traced since its fork (the spawning thread was listed); this covers a
            // fork the kernel reported before the programs were attached.
            if let Ok(mut p) = p.lock() {
                let _ = p.trace(pid as u32);
            }
        }
        if let Ok(mut l) = self.leaders.lock() {
            l.push(pid);
        }
    }

    /// Stops the reader after a last read; returns what it found.
    pub fn stop(mut self) -> TraceOut {
        // The calls still blocked, read before the reader's last read: one that returns in
        // between is then in both (and kept once), rather than in neither.
        let blocked = match &self.backend {
            Backend::Bpf(p) => p.lock().map(|p| p.pending()).unwrap_or_default(),
            Backend::Tracefs { .. } => Vec::new(),
        };
        self.stop.store(true, Ordering::SeqCst);
        let mut out = self
            .reader
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        match &self.backend {
            Backend::Bpf(p) => {
                let mut blocked: Vec<_> = blocked
                    .iter()
                    .filter_map(|r| tcpmortem_trace::syscall::bpf::decode(r))
                    .filter(|b| {
                        !out.calls
                            .iter()
                            .any(|t| (t.call.tid, t.call.start_ns) == (b.call.tid, b.call.start_ns))
                    })
                    .collect();
                blocked.sort_by_key(|c| c.call.start_ns);
                // Kept with no result.
                for c in blocked {
                    keep_bpf(&mut out, c, &self.ours);
                }
                if let Ok(p) = p.lock() {
                    let lost = p.lost();
                    out.lost = lost.ring_full + lost.pending;
                }
            }
            Backend::Tracefs { instance, .. } => out.lost = instance.overruns(),
        }
        out
    }
}

fn prepare_tracefs() -> tcpmortem_kernel::Result<(Instance, Vec<String>, tracefs::TracePipe)> {
    let root = tracefs::root()?;
    let instance = Instance::create(&root, &[], Some(BUFFER_KB))?;
    instance.set("options/event-fork", "1")?;
    let events: Vec<String> = tcpmortem_trace::syscall::events()
        .into_iter()
        .filter(|e| root.join("events").join(e).is_dir())
        .collect();
    // Descriptors 0-2 are the program's stdin, stdout and stderr (/dev/null and pipes):
    // their calls are dropped in the kernel (curl writes its error one byte at a time).
    for e in &events {
        let e: &String = e;
        if e.contains("sys_enter_") && !e.ends_with("_socket") {
            let _ = instance.set_filter(e, "fd > 2");
        }
    }
    let pipe = instance.pipe()?;
    Ok((instance, events, pipe))
}

/// A call tracer loaded or made, with no reader yet.
pub struct Prepared {
    backend: PreparedBackend,
    note: Option<String>,
}

enum PreparedBackend {
    Bpf {
        probe: Box<CallProbe>,
        ring: CallRing,
    },
    Tracefs {
        instance: Instance,
        events: Vec<String>,
        pipe: tracefs::TracePipe,
    },
}

impl Prepared {
    /// Starts the reader. `ours`: the run's host addresses.
    pub fn start(self, ours: [IpAddr; 2]) -> CallTracer {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let leaders = Arc::new(Mutex::new(Vec::new()));
        let l = leaders.clone();
        let (backend, reader) = match self.backend {
            PreparedBackend::Bpf { probe, ring } => (
                Backend::Bpf(Arc::new(Mutex::new(*probe))),
                std::thread::spawn(move || bpf_loop(ring, ours, &s)),
            ),
            PreparedBackend::Tracefs {
                instance,
                events,
                pipe,
            } => (
                Backend::Tracefs {
                    instance: Arc::new(instance),
                    events,
                },
                std::thread::spawn(move || read_loop(pipe, l, ours, &s)),
            ),
        };
        CallTracer {
            backend,
            note: self.note,
            stop,
            reader: Some(reader),
            leaders,
            ours,
        }
    }
}

impl Drop for CallTracer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
    }
}

/// Keeps a call the BPF tracer recorded when its socket is one of the run's: both ends on
/// the run's hosts. A connect that failed before its socket was bound names no ends, and is
/// kept as the fallback keeps it.
fn keep_bpf(out: &mut TraceOut, c: tcpmortem_trace::syscall::bpf::BpfCall, ours: &[IpAddr; 2]) {
    let keep = match c.ends {
        Some((l, r)) => ours.contains(&l.ip()) && ours.contains(&r.ip()),
        None => c.call.call == "connect" && c.call.ret.is_some_and(|r| r < 0),
    };
    if keep {
        out.calls.push(Traced {
            call: c.call,
            pid: c.pid,
            ends: c.ends,
        });
    }
}

fn bpf_loop(mut ring: CallRing, ours: [IpAddr; 2], stop: &AtomicBool) -> TraceOut {
    let mut out = TraceOut::default();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if !stopping {
            let _ = poll(&[(ring.raw_fd(), libc::POLLIN)], 1);
        }
        ring.drain(|b| {
            if let Some(c) = tcpmortem_trace::syscall::bpf::decode(b) {
                keep_bpf(&mut out, c, &ours);
            }
        });
        if stopping {
            return out;
        }
    }
}

/// The thread group of a task.
fn tgid(tid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Tgid:"))?
        .trim()
        .parse()
        .ok()
}

struct Mapper {
    ours: [IpAddr; 2],
    tgids: HashMap<i32, i32>,
    /// (pid, fd) → the socket's ends, or None: not a socket of the run.
    fds: HashMap<(i32, i32), Option<(SocketAddr, SocketAddr)>>,
    /// The programs' own pids (those the lab started), as opposed to processes they forked.
    leaders: Arc<Mutex<Vec<i32>>>,
    /// Descriptors `socket` returned as TCP sockets, not yet tied to their addresses.
    tcp: std::collections::HashSet<(i32, i32)>,
    out: TraceOut,
}

impl Mapper {
    fn pid_of(&mut self, tid: i32) -> i32 {
        *self
            .tgids
            .entry(tid)
            .or_insert_with(|| tgid(tid).unwrap_or(tid))
    }

    fn lookup(&mut self, tid: i32, pid: i32, fd: i32) -> Option<Option<(SocketAddr, SocketAddr)>> {
        if let Some(k) = self.fds.get(&(pid, fd)) {
            return Some(*k);
        }
        // Only descriptors the program made TCP sockets of (socket, accept) are looked up in
        // /proc; a process the program forked inherited its descriptors unseen, so its
        // unknown descriptors are looked up too.
        let leader = self.leaders.lock().is_ok_and(|l| l.contains(&pid));
        if !self.tcp.contains(&(pid, fd)) && leader {
            return Some(None);
        }
        let ends = proc::tcp_socket_of(tid, fd).or_else(|| proc::tcp_socket_of(pid, fd));
        let is_socket = std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
            .ok()
            .map(|l| l.to_string_lossy().starts_with("socket:"));
        match (ends, is_socket) {
            (Some((l, r)), _) => {
                let ours = self.ours.contains(&l.ip()) && self.ours.contains(&r.ip());
                let v = ours.then_some((l, r));
                self.fds.insert((pid, fd), v);
                Some(v)
            }
            // Not a TCP socket (a file, a pipe, a UDP or Unix socket): never one of ours.
            (None, Some(_)) => {
                self.fds.insert((pid, fd), None);
                Some(None)
            }
            // Gone: unknown (a TCP socket the program made counts as unidentified).
            (None, None) => {
                if !self.tcp.contains(&(pid, fd)) {
                    self.fds.insert((pid, fd), None);
                    return Some(None);
                }
                None
            }
        }
    }

    fn feed(&mut self, c: SysCall) {
        let pid = self.pid_of(c.tid);
        let Some(ret) = c.ret else {
            // Still waiting when the run ended: kept, on the descriptor it was called on.
            if let Some(Some(ends)) = self.lookup(c.tid, pid, c.fd) {
                self.keep(c, pid, Some(ends));
            }
            return;
        };
        match c.call.as_str() {
            "socket" => {
                if c.tcp && ret >= 0 {
                    self.tcp.insert((pid, ret as i32));
                    self.fds.remove(&(pid, ret as i32));
                }
            }
            "accept4" | "accept" => {
                if ret >= 0 {
                    // The new descriptor is a TCP socket, whatever the number was before.
                    self.fds.remove(&(pid, ret as i32));
                    self.tcp.insert((pid, ret as i32));
                    match self.lookup(c.tid, pid, ret as i32) {
                        Some(Some(ends)) => self.keep(c, pid, Some(ends)),
                        Some(None) => {}
                        None => self.out.unidentified += 1,
                    }
                } else if let Some(Some(_)) | None = self.fds.get(&(pid, c.fd)).copied() {
                    // A failed accept on a listener: kept when the listener is the run's.
                    if let Some(Some(ends)) = self.lookup(c.tid, pid, c.fd) {
                        self.keep(c, pid, Some(ends));
                    }
                }
            }
            "connect" => match self.lookup(c.tid, pid, c.fd) {
                Some(Some(ends)) => self.keep(c, pid, Some(ends)),
                Some(None) => {}
                // A connect that failed at once leaves an unbound socket that no table lists.
                None if ret < 0 => self.keep(c, pid, None),
                None => self.out.unidentified += 1,
            },
            "close" => {
                self.tcp.remove(&(pid, c.fd));
                let known = self.fds.remove(&(pid, c.fd));
                if let Some(Some(ends)) = known {
                    self.keep(c, pid, Some(ends));
                }
            }
            _ => match self.lookup(c.tid, pid, c.fd) {
                Some(Some(ends)) => self.keep(c, pid, Some(ends)),
                Some(None) => {}
                None => self.out.unidentified += 1,
            },
        }
    }

    fn keep(&mut self, call: SysCall, pid: i32, ends: Option<(SocketAddr, SocketAddr)>) {
        self.out.calls.push(Traced { call, pid, ends });
    }
}

fn read_loop(
    mut pipe: tracefs::TracePipe,
    leaders: Arc<Mutex<Vec<i32>>>,
    ours: [IpAddr; 2],
    stop: &AtomicBool,
) -> TraceOut {
    let mut pairer = Pairer::default();
    let mut m = Mapper {
        ours,
        tgids: HashMap::new(),
        fds: HashMap::new(),
        tcp: Default::default(),
        leaders,
        out: TraceOut::default(),
    };
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if !stopping {
            let _ = poll(&[(pipe.raw_fd(), libc::POLLIN)], 1);
        }
        for line in pipe.read_lines().unwrap_or_default() {
            let Some(l) = parse_sys_line(&line) else {
                continue;
            };
            if let Some(c) = pairer.feed(l) {
                m.feed(c);
            }
        }
        if stopping {
            // Calls still waiting when the run ended: kept with no result.
            for c in pairer.unfinished() {
                m.feed(c);
            }
            return m.out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpmortem_trace::syscall::bpf::BpfCall;

    fn call(name: &str, ret: Option<i64>, ends: Option<(&str, &str)>) -> BpfCall {
        BpfCall {
            call: SysCall {
                tid: 7,
                comm: "curl".into(),
                call: name.into(),
                fd: 5,
                size: None,
                tcp: false,
                start_ns: 1,
                end_ns: ret.map(|_| 2),
                ret,
            },
            pid: 7,
            ends: ends.map(|(l, r)| (l.parse().unwrap(), r.parse().unwrap())),
        }
    }

    #[test]
    fn only_calls_on_the_runs_connections_are_kept() {
        let ours: [IpAddr; 2] = ["198.18.0.1".parse().unwrap(), "198.18.0.6".parse().unwrap()];
        let mut out = TraceOut::default();
        let run = Some(("198.18.0.1:40000", "198.18.0.6:8080"));
        keep_bpf(&mut out, call("sendto", Some(81), run), &ours);
        // A blocked call (no result) on the run's socket is kept too.
        keep_bpf(&mut out, call("recvfrom", None, run), &ours);
        // A socket to elsewhere, a listener (no peer), a failed accept: dropped.
        let elsewhere = Some(("198.18.0.1:40002", "10.0.0.1:80"));
        keep_bpf(&mut out, call("sendto", Some(81), elsewhere), &ours);
        keep_bpf(&mut out, call("accept4", Some(-11), None), &ours);
        // A connect refused before its socket was bound names no ends: kept, as the fallback.
        keep_bpf(&mut out, call("connect", Some(-111), None), &ours);
        let kept: Vec<(&str, Option<i64>)> = out
            .calls
            .iter()
            .map(|t| (t.call.call.as_str(), t.call.ret))
            .collect();
        assert_eq!(
            kept,
            [
                ("sendto", Some(81)),
                ("recvfrom", None),
                ("connect", Some(-111))
            ]
        );
        assert_eq!(
            out.calls[0].ends,
            run.map(|(l, r)| (l.parse().unwrap(), r.parse().unwrap()))
        );
    }
}
