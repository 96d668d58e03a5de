//! Best-effort owner of a socket: its network namespace and process.
//!
//! Tracepoints carry neither. A background thread keeps a snapshot, refreshed every
//! [`REFRESH`]: the network namespaces of all processes (/proc/*/ns/net), each namespace's TCP
//! sockets (sock_diag, opened once per namespace), and which process holds each socket inode
//! (/proc/*/fd). A death is matched by its 4-tuple against the last snapshot; connections that
//! lived and died between two snapshots stay unknown. Nothing is ever guessed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tcpmortem_kernel::diag::Diag;
use tcpmortem_kernel::netns::NetNs;

pub const REFRESH: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub netns: u64,
    pub inode: u32,
}

#[derive(Debug, Default)]
struct Snapshot {
    sockets: HashMap<(SocketAddr, SocketAddr), Owner>,
    processes: HashMap<u32, (i32, String)>,
}

pub struct Resolver {
    snap: Arc<Mutex<Snapshot>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Resolver {
    pub fn start() -> Resolver {
        let snap = Arc::new(Mutex::new(Snapshot::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (snap, stop) = (snap.clone(), stop.clone());
            std::thread::spawn(move || refresh_loop(&snap, &stop))
        };
        Resolver {
            snap,
            stop,
            thread: Some(thread),
        }
    }

    /// Namespace and holder of the socket `local → remote`, if the last snapshot had it.
    pub fn lookup(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> (Option<u64>, Option<(i32, String)>) {
        let Ok(s) = self.snap.lock() else {
            return (None, None);
        };
        match s.sockets.get(&(local, remote)) {
            Some(o) => (Some(o.netns), s.processes.get(&o.inode).cloned()),
            None => (None, None),
        }
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The network namespaces in use: inode → a /proc path to one process's namespace.
fn namespaces() -> HashMap<u64, String> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for ent in dir.flatten() {
        let name = ent.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let path = format!("/proc/{pid}/ns/net");
        if let Some(ino) = std::fs::read_link(&path).ok().and_then(|l| {
            l.to_str()?
                .strip_prefix("net:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        }) {
            out.entry(ino).or_insert(path);
        }
    }
    out
}

/// Socket inode → (pid, comm), from every process's descriptors.
fn holders() -> HashMap<u32, (i32, String)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for ent in dir.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(ent.path().join("fd")) else {
            continue;
        };
        let comm = std::fs::read_to_string(ent.path().join("comm"))
            .map(|c| c.trim().to_string())
            .unwrap_or_default();
        for fd in fds.flatten() {
            if let Some(ino) = std::fs::read_link(fd.path()).ok().and_then(|l| {
                l.to_str()?
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse()
                    .ok()
            }) {
                out.insert(ino, (pid, comm.clone()));
            }
        }
    }
    out
}

fn refresh_loop(snap: &Mutex<Snapshot>, stop: &AtomicBool) {
    let mut diags: HashMap<u64, Diag> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        let nss = namespaces();
        diags.retain(|ino, _| nss.contains_key(ino));
        for (ino, path) in &nss {
            if diags.contains_key(ino) {
                continue;
            }
            // A sock_diag socket made inside the namespace answers for that namespace.
            if let Ok(Ok(d)) = NetNs::open(path).and_then(|ns| ns.run(Diag::open)) {
                diags.insert(*ino, d);
            }
        }
        let mut sockets = HashMap::new();
        for (ino, d) in &mut diags {
            for s in d.tcp_sockets().unwrap_or_default() {
                sockets.insert(
                    (s.local, s.remote),
                    Owner {
                        netns: *ino,
                        inode: s.inode,
                    },
                );
            }
        }
        let processes = holders();
        if let Ok(mut s) = snap.lock() {
            *s = Snapshot { sockets, processes };
        }
        let mut slept = Duration::ZERO;
        while slept < REFRESH && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
            slept += Duration::from_millis(10);
        }
    }
}
