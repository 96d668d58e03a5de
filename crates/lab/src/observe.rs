//! The run's observers: packet capture on both router links and the kernel's tracepoints.
//! Each runs on its own thread and reports the time of the last thing it saw, which the
//! runner uses to decide that the network has settled.

use crate::error::LabError;
use crate::record::Link;
use crate::sandbox::{ROUTER_CLIENT_IF, ROUTER_SERVER_IF, Sandbox};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use tcpmortem_kernel::capture::Capture;
use tcpmortem_kernel::netlink::if_index;
use tcpmortem_kernel::proc;
use tcpmortem_kernel::sock::poll;
use tcpmortem_kernel::tracefs::{self, Instance};
use tcpmortem_trace::{EVENTS, TcpEvent, parse_line, tcp_event};

/// A frame seen on a router link.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Nanoseconds since the run's start, CLOCK_MONOTONIC.
    pub t_ns: u64,
    /// The kernel's CLOCK_REALTIME stamp, as written to pcapng.
    pub realtime_ns: u64,
    pub link: Link,
    /// Left the router through this link (rather than arrived from the host).
    pub outgoing: bool,
    pub wire_len: u32,
    pub data: Vec<u8>,
}

pub struct Observers {
    stop: Arc<AtomicBool>,
    last: Arc<AtomicU64>,
    capture: Option<JoinHandle<Vec<Captured>>>,
    trace: Option<(JoinHandle<Vec<TcpEvent>>, Instance)>,
    pub tracefs: bool,
}

fn bump(last: &AtomicU64, t: u64) {
    last.fetch_max(t, Ordering::SeqCst);
}

impl Observers {
    /// `ports`: the TCP ports the run's connections use on the server side, to filter the
    /// kernel's events by.
    pub fn start(
        sb: &Sandbox,
        t0: u64,
        tracefs: bool,
        ports: &[u16],
        notes: &mut Vec<String>,
    ) -> Result<Observers, LabError> {
        let stop = Arc::new(AtomicBool::new(false));
        let last = Arc::new(AtomicU64::new(proc::monotonic_ns()));
        // The sockets are made inside the router's namespace and read from a plain thread.
        let caps = sb
            .router
            .run(|| -> tcpmortem_kernel::Result<[Capture; 2]> {
                Ok([
                    Capture::open(if_index(ROUTER_CLIENT_IF)?)?,
                    Capture::open(if_index(ROUTER_SERVER_IF)?)?,
                ])
            })
            .and_then(|r| r)
            .map_err(|e| LabError::Setup(e.to_string()))?;
        let capture = {
            let (stop, last) = (stop.clone(), last.clone());
            std::thread::spawn(move || capture_loop(caps, t0, &stop, &last))
        };
        let ours = [sb.addresses.client, sb.addresses.server];
        let trace = match if tracefs {
            start_trace(ports).map(Some)
        } else {
            Ok(None)
        } {
            Ok(None) => {
                notes.push("kernel view missing: tracefs was not used (--no-tracefs)".into());
                None
            }
            Ok(Some(inst)) => {
                let pipe = inst.pipe();
                match pipe {
                    Ok(pipe) => {
                        let (stop, last) = (stop.clone(), last.clone());
                        let h = std::thread::spawn(move || trace_loop(pipe, &ours, &stop, &last));
                        Some((h, inst))
                    }
                    Err(e) => {
                        notes.push(format!("kernel view missing: {e}"));
                        None
                    }
                }
            }
            Err(e) => {
                notes.push(format!(
                    "kernel view missing (no tracefs events): {e}{}",
                    tracefs_hint()
                ));
                None
            }
        };
        Ok(Observers {
            stop,
            last,
            capture: Some(capture),
            tracefs: trace.is_some(),
            trace,
        })
    }

    /// CLOCK_MONOTONIC time of the last packet or kernel event.
    pub fn last_activity_mono(&self) -> u64 {
        self.last.load(Ordering::SeqCst)
    }

    /// Stops the threads; returns the frames in time order, the events, and how many events
    /// the ring buffer lost. A second call returns nothing.
    pub fn stop(&mut self) -> (Vec<Captured>, Vec<TcpEvent>, u64) {
        self.shutdown()
    }

    fn shutdown(&mut self) -> (Vec<Captured>, Vec<TcpEvent>, u64) {
        self.stop.store(true, Ordering::SeqCst);
        let mut frames = self
            .capture
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        frames.sort_by_key(|f| f.t_ns);
        // The reader must close trace_pipe before the instance can be removed.
        let (events, lost) = match self.trace.take() {
            Some((h, inst)) => {
                let ev = h.join().unwrap_or_default();
                let lost = inst.overruns();
                drop(inst);
                (ev, lost)
            }
            None => (Vec::new(), 0),
        };
        (frames, events, lost)
    }
}

/// A run that ends early (an error, an interrupt, a panic) still stops its threads and
/// removes its tracefs instance.
impl Drop for Observers {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Why tracefs is out of reach when the process's privileges say so: the sandbox needs only
/// namespace-scoped capabilities, tracefs needs root's files.
fn tracefs_hint() -> &'static str {
    if proc::in_user_namespace() {
        "; this process runs in a user namespace, and tracefs belongs to the host's root: run as root for RST reasons and stored errors"
    } else if proc::euid() != 0
        && proc::effective_capabilities() & (1 << proc::CAP_DAC_OVERRIDE) == 0
    {
        "; tracefs (/sys/kernel/tracing) belongs to root, mode 0700: run as root, or add CAP_DAC_OVERRIDE"
    } else {
        ""
    }
}

/// Per CPU: tracepoints are global, so the instance records every TCP event of the machine,
/// not only the run's. 4 MB holds about 40,000 events per CPU before the oldest are
/// overwritten, a few seconds of a busy host's churn while the reader waits for a CPU.
const TRACE_BUFFER_KB: u32 = 4096;

fn start_trace(ports: &[u16]) -> tcpmortem_kernel::Result<Instance> {
    let root = tracefs::root()?;
    tracefs::sweep_orphans(&root);
    let inst = Instance::create(&root, EVENTS, Some(TRACE_BUFFER_KB))?;
    // The kernel keeps only the events of the run's ports where the event has them as
    // numbers (tcp_send_reset has its addresses as sockaddrs only, filtered here when read).
    let filter = ports
        .iter()
        .map(|p| format!("sport == {p} || dport == {p}"))
        .collect::<Vec<_>>()
        .join(" || ");
    if !filter.is_empty() {
        for ev in [
            "tcp/tcp_receive_reset",
            "sock/inet_sock_set_state",
            "sock/inet_sk_error_report",
        ] {
            inst.set_filter(ev, &filter)?;
        }
    }
    Ok(inst)
}

fn capture_loop(
    mut caps: [Capture; 2],
    t0: u64,
    stop: &AtomicBool,
    last: &AtomicU64,
) -> Vec<Captured> {
    // AF_PACKET stamps are CLOCK_REALTIME; the run's clock is CLOCK_MONOTONIC.
    let offset = proc::monotonic_ns() as i128 - proc::realtime_ns() as i128;
    let links = [Link::ClientSide, Link::ServerSide];
    let fds: Vec<(i32, i16)> = caps.iter().map(|c| (c.raw_fd(), libc::POLLIN)).collect();
    let mut out = Vec::new();
    let mut draining = false;
    loop {
        let _ = poll(&fds, 5);
        for (cap, link) in caps.iter_mut().zip(links) {
            while let Ok(Some(f)) = cap.next_frame() {
                let mono = (f.realtime_ns as i128 + offset).max(0) as u64;
                bump(last, mono);
                out.push(Captured {
                    t_ns: mono.saturating_sub(t0),
                    realtime_ns: f.realtime_ns,
                    link,
                    outgoing: f.outgoing,
                    wire_len: f.wire_len,
                    data: f.data,
                });
            }
        }
        if draining {
            return out;
        }
        if stop.load(Ordering::SeqCst) {
            draining = true;
        }
    }
}

fn trace_loop(
    mut pipe: tracefs::TracePipe,
    ours: &[IpAddr; 2],
    stop: &AtomicBool,
    last: &AtomicU64,
) -> Vec<TcpEvent> {
    let mut out = Vec::new();
    loop {
        // Checked before reading: the run has settled when it asks us to stop, so one last
        // non-blocking read takes everything that is left.
        let stopping = stop.load(Ordering::SeqCst);
        if !stopping {
            let _ = poll(&[(pipe.raw_fd(), libc::POLLIN)], 5);
        }
        for line in pipe.read_lines().unwrap_or_default() {
            let Some(ev) = parse_line(&line).as_ref().and_then(tcp_event) else {
                continue;
            };
            let mine = [ev.local, ev.remote]
                .iter()
                .flatten()
                .any(|a| ours.contains(&a.ip()));
            if mine {
                bump(last, ev.ts_ns);
                out.push(ev);
            }
        }
        if stopping {
            return out;
        }
    }
}
