//! The owner of a socket that watch did not see open: its network namespace and process.
//!
//! With BPF, sockets opened while watch runs carry their owner (connect/accept) and netns; the
//! ones that already existed are looked up by cookie in one snapshot taken at start
//! ([`owners_by_cookie`]). The tracefs fallback's tracepoints carry neither: a background
//! thread ([`Resolver`]) keeps a snapshot refreshed every [`REFRESH`], matched by 4-tuple, and
//! connections that lived and died between two snapshots stay unknown.
//!
//! A snapshot is: the network namespaces of all processes (/proc/*/ns/net), each namespace's
//! TCP sockets (sock_diag, opened inside the namespace: needs CAP_SYS_ADMIN for other
//! namespaces), and which process holds each socket inode (/proc/*/fd: other users'
//! processes need CAP_SYS_PTRACE). Nothing is ever guessed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tcpmortem_kernel::diag::{Diag, DiagSocket};
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

/// What one pass over /proc finds.
#[derive(Default)]
struct Procs {
    /// The network namespaces in use: inode → a /proc path that opens it. A namespace is in
    /// use when a process lives in it or holds it open by a descriptor (as `ip netns` tools
    /// and the lab do: a socket made there may belong to a process living elsewhere).
    namespaces: HashMap<u64, String>,
    /// Socket inode → (pid, comm) of a process holding it.
    holders: HashMap<u32, (i32, String)>,
}

/// `net:[INODE]` or `socket:[INODE]`, the target of a /proc link.
fn link_inode<T: std::str::FromStr>(link: &std::path::Path, kind: &str) -> Option<T> {
    std::fs::read_link(link).ok().and_then(|l| {
        l.to_str()?
            .strip_prefix(kind)?
            .strip_prefix(":[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    })
}

fn scan_proc() -> Procs {
    let mut out = Procs::default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for ent in dir.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let path = format!("/proc/{pid}/ns/net");
        if let Some(ino) = link_inode(std::path::Path::new(&path), "net") {
            out.namespaces.entry(ino).or_insert(path);
        }
        let Ok(fds) = std::fs::read_dir(ent.path().join("fd")) else {
            continue;
        };
        let mut comm = None;
        for fd in fds.flatten() {
            let p = fd.path();
            if let Some(ino) = link_inode::<u32>(&p, "socket") {
                let comm = comm.get_or_insert_with(|| {
                    std::fs::read_to_string(ent.path().join("comm"))
                        .map(|c| c.trim().to_string())
                        .unwrap_or_default()
                });
                out.holders.insert(ino, (pid, comm.clone()));
            } else if let Some(ino) = link_inode(&p, "net") {
                out.namespaces
                    .entry(ino)
                    .or_insert_with(|| p.to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// Every TCP socket of every namespace: (netns inode, socket), keeping one sock_diag socket
/// per namespace in `diags` between calls.
fn all_sockets(
    diags: &mut HashMap<u64, Diag>,
    nss: &HashMap<u64, String>,
) -> Vec<(u64, DiagSocket)> {
    diags.retain(|ino, _| nss.contains_key(ino));
    for (ino, path) in nss {
        if diags.contains_key(ino) {
            continue;
        }
        // A sock_diag socket made inside the namespace answers for that namespace.
        if let Ok(Ok(d)) = NetNs::open(path).and_then(|ns| ns.run(Diag::open)) {
            diags.insert(*ino, d);
        }
    }
    let mut out = Vec::new();
    for (ino, d) in diags.iter_mut() {
        out.extend(
            d.tcp_sockets()
                .unwrap_or_default()
                .into_iter()
                .map(|s| (*ino, s)),
        );
    }
    out
}

/// Socket cookie → (netns, the (pid, comm) of a process holding it).
pub type OwnersByCookie = HashMap<u64, (u64, Option<(i32, String)>)>;

/// The sockets that exist now, by cookie (the one BPF reads): (netns, pid, comm) of their
/// holder, where a process holds them.
pub fn owners_by_cookie() -> OwnersByCookie {
    let procs = scan_proc();
    let sockets = all_sockets(&mut HashMap::new(), &procs.namespaces);
    let holders = procs.holders;
    sockets
        .into_iter()
        .map(|(ns, s)| (s.cookie, (ns, holders.get(&s.inode).cloned())))
        .collect()
}

/// A process's name from /proc, while it lives (`-` in the output otherwise).
pub fn comm_of(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim_end().to_string())
        .filter(|c| !c.is_empty())
}

fn refresh_loop(snap: &Mutex<Snapshot>, stop: &AtomicBool) {
    let mut diags: HashMap<u64, Diag> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        let procs = scan_proc();
        let mut sockets = HashMap::new();
        for (ino, s) in all_sockets(&mut diags, &procs.namespaces) {
            sockets.insert(
                (s.local, s.remote),
                Owner {
                    netns: ino,
                    inode: s.inode,
                },
            );
        }
        let processes = procs.holders;
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
