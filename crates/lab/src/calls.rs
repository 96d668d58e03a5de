//! A program's socket calls, from the kernel's system-call tracepoints in a tracefs instance
//! of the run's own, limited to the programs' process trees (`set_event_pid` with the
//! `event-fork` option: the thread that forks a program is listed, and its children join the
//! list as they are forked).
//!
//! Which connection a descriptor belongs to: when a call on a descriptor not yet known
//! completes (a connect, an accept's new descriptor, the first call on an inherited one), the
//! reader looks it up at once, as `ss -p` does: `/proc/TID/fd/FD` names the socket's inode,
//! and `/proc/TID/net/tcp` (the task's own namespace) gives the inode's addresses. The answer
//! holds until that descriptor is closed. Calls on descriptors that are not TCP sockets of the
//! run's hosts (files, pipes, a terminal) are dropped. A descriptor that was already closed
//! when the reader came to it (the reader lags the program by a few milliseconds) cannot be
//! identified: its calls are counted in a note, not guessed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tcpmortem_kernel::proc;
use tcpmortem_kernel::sock::poll;
use tcpmortem_kernel::tracefs::{self, Instance};
use tcpmortem_trace::syscall::{Pairer, SysCall, parse_sys_line};

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
    /// Calls on descriptors gone before they could be identified.
    pub unidentified: u64,
    pub lost: u64,
}

pub struct CallTracer {
    pub instance: Arc<Instance>,
    pub events: Vec<String>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<TraceOut>>,
    leaders: Arc<Mutex<Vec<i32>>>,
}

/// The instance's ring buffer per CPU: the programs' calls only (the pid filter drops the
/// rest in the kernel), so a small one holds a long run.
const BUFFER_KB: u32 = 2048;

impl CallTracer {
    /// Creates the instance (no event enabled until a program's thread is listed) and starts
    /// its reader. `ours`: the run's host addresses.
    pub fn start(ours: [IpAddr; 2]) -> tcpmortem_kernel::Result<CallTracer> {
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
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let leaders = Arc::new(Mutex::new(Vec::new()));
        let l = leaders.clone();
        let reader = std::thread::spawn(move || read_loop(pipe, l, ours, &s));
        Ok(CallTracer {
            instance: Arc::new(instance),
            events,
            stop,
            reader: Some(reader),
            leaders,
        })
    }

    /// Tells the reader the pid of a program the lab started.
    pub fn add_program(&self, pid: i32) {
        if let Ok(mut l) = self.leaders.lock() {
            l.push(pid);
        }
    }

    /// Stops the reader after a last read; returns what it found.
    pub fn stop(mut self) -> TraceOut {
        self.stop.store(true, Ordering::SeqCst);
        let mut out = self
            .reader
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        out.lost = self.instance.overruns();
        out
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
