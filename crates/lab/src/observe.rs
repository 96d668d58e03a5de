//! The run's observers: packet capture on both router links and the kernel's tracepoints.
//! Each runs on its own thread and reports the time of the last thing it saw, which the
//! runner uses to decide that the network has settled.
//!
//! The tracepoints are read by eBPF programs (`lab_*` in crates/kernel/bpf/watch.bpf.c) that
//! record only the run's namespaces, or, where BPF cannot be loaded, from a tracefs instance
//! of the run's own. Both give the same events; eBPF costs a run ~80 ms less, because a
//! tracefs instance's clock and buffer set-up and its removal each wait on RCU grace periods.

use crate::error::LabError;
use crate::record::Link;
use crate::sandbox::{ROUTER_CLIENT_IF, ROUTER_SERVER_IF, Sandbox};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use tcpmortem_kernel::bpf::LabProbe;
use tcpmortem_kernel::capture::Capture;
use tcpmortem_kernel::netlink::if_index;
use tcpmortem_kernel::proc;
use tcpmortem_kernel::sock::poll;
use tcpmortem_kernel::tracefs::{self, Instance};
use tcpmortem_trace::bpf::{Names, lab_event};
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
    trace: Option<Reader>,
    /// How the kernel events were read; None without any.
    pub kernel_events: Option<KernelEvents>,
}

/// Where the kernel events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelEvents {
    Ebpf,
    Tracefs,
}

/// The thread reading kernel events; it returns them and how many were lost.
enum Reader {
    Ebpf(JoinHandle<(Vec<TcpEvent>, u64)>),
    Tracefs(JoinHandle<Vec<TcpEvent>>, Instance),
}

/// The kernel view, being made on a thread of its own while the sandbox is built: the BPF
/// programs loaded and attached (~10 ms), or else a tracefs instance (~50 ms of ring-buffer
/// resets: the clock change, the resize).
pub struct PendingTrace(Option<JoinHandle<Ready>>);

/// A kernel view made, and why eBPF was not used when it was not.
struct Ready {
    view: tcpmortem_kernel::Result<View>,
    bpf_refused: Option<String>,
}

enum View {
    Ebpf(Box<LabProbe>, Names),
    Tracefs(Instance),
}

impl PendingTrace {
    /// Starts making the kernel view for a run whose connections use `ports` on the server
    /// side; `source`: eBPF first (None) or only this one.
    pub fn begin(ports: Vec<u16>, source: Option<KernelEvents>) -> PendingTrace {
        PendingTrace(Some(std::thread::spawn(move || {
            // Whichever way this run reads events, it removes the instances of runs that
            // were killed before they could (a readdir when there are none).
            if let Ok(root) = tracefs::root() {
                tracefs::sweep_orphans(&root);
            }
            let mut bpf_refused = None;
            if source != Some(KernelEvents::Tracefs) {
                match LabProbe::load() {
                    Ok(probe) => {
                        // RST reasons by this kernel's own names (read once per run, here,
                        // off the run's path).
                        let names = std::fs::read("/sys/kernel/btf/vmlinux")
                            .map(|b| Names::from_btf(&b))
                            .unwrap_or_default();
                        return Ready {
                            view: Ok(View::Ebpf(Box::new(probe), names)),
                            bpf_refused: None,
                        };
                    }
                    Err(e) if source == Some(KernelEvents::Ebpf) => {
                        return Ready {
                            view: Err(tcpmortem_kernel::Error::new(
                                "the lab's BPF programs",
                                std::io::Error::other(e.to_string()),
                            )),
                            bpf_refused: None,
                        };
                    }
                    Err(e) => {
                        let why = if e.is_permission() && proc::in_user_namespace() {
                            "loading BPF needs CAP_BPF + CAP_PERFMON in the host's user namespace, not a child's: "
                        } else if e.is_permission() {
                            "loading BPF needs CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN): "
                        } else {
                            ""
                        };
                        // The first line: aya appends the verifier's whole log.
                        let e = e.to_string();
                        let first = e.split(". Verifier output").next().unwrap_or(&e);
                        let first = first.lines().next().unwrap_or(first);
                        bpf_refused = Some(format!("{why}{first}"));
                    }
                }
            }
            Ready {
                view: start_trace(&ports).map(View::Tracefs),
                bpf_refused,
            }
        })))
    }

    fn finish(mut self) -> Ready {
        match self.0.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Ready {
                view: Err(tcpmortem_kernel::Error::new(
                    "making the kernel view",
                    std::io::Error::other("its thread panicked"),
                )),
                bpf_refused: None,
            },
        }
    }
}

/// A run that fails before its observers start still removes the instance.
impl Drop for PendingTrace {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

fn bump(last: &AtomicU64, t: u64) {
    last.fetch_max(t, Ordering::SeqCst);
}

impl Observers {
    /// `trace`: the kernel-event instance being made ([`PendingTrace`]), or None without
    /// tracefs.
    pub fn start(
        sb: &Sandbox,
        t0: u64,
        trace: Option<PendingTrace>,
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
        let (trace, kernel_events) = match trace.map(PendingTrace::finish) {
            None => {
                notes.push("kernel view missing: tracefs was not used (--no-tracefs)".into());
                (None, None)
            }
            Some(ready) => {
                let bpf_refused = ready
                    .bpf_refused
                    .map(|why| format!("the lab's BPF programs could not be loaded ({why})"));
                if let (Some(why), Ok(_)) = (&bpf_refused, &ready.view) {
                    notes.push(format!("kernel events read from tracefs: {why}"));
                }
                match ready.view {
                    Ok(View::Ebpf(mut probe, names)) => {
                        let hosts = [&sb.client, &sb.router, &sb.server];
                        let watched = hosts.iter().try_for_each(|ns| {
                            let inum = ns.inode().map_err(|e| e.to_string())?;
                            probe.watch_netns(inum as u32).map_err(|e| e.to_string())
                        });
                        match watched {
                            Ok(()) => {
                                let (stop, last) = (stop.clone(), last.clone());
                                let h = std::thread::spawn(move || {
                                    bpf_loop(*probe, &names, &ours, &stop, &last)
                                });
                                (Some(Reader::Ebpf(h)), Some(KernelEvents::Ebpf))
                            }
                            Err(e) => {
                                notes.push(format!("kernel view missing: {e}"));
                                (None, None)
                            }
                        }
                    }
                    Ok(View::Tracefs(inst)) => match inst.pipe() {
                        Ok(pipe) => {
                            let (stop, last) = (stop.clone(), last.clone());
                            let h =
                                std::thread::spawn(move || trace_loop(pipe, &ours, &stop, &last));
                            (Some(Reader::Tracefs(h, inst)), Some(KernelEvents::Tracefs))
                        }
                        Err(e) => {
                            notes.push(format!("kernel view missing: {e}"));
                            (None, None)
                        }
                    },
                    Err(e) => {
                        let bpf = bpf_refused.map(|w| format!("{w}; ")).unwrap_or_default();
                        notes.push(format!(
                            "kernel view missing: {bpf}no tracefs events: {e}{}",
                            tracefs_hint()
                        ));
                        (None, None)
                    }
                }
            }
        };
        Ok(Observers {
            stop,
            last,
            capture: Some(capture),
            kernel_events,
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
        let (events, lost) = match self.trace.take() {
            // The programs are detached when the thread drops them, which waits on nothing.
            Some(Reader::Ebpf(h)) => h.join().unwrap_or_default(),
            // The reader must close trace_pipe before the instance can be removed.
            Some(Reader::Tracefs(h, inst)) => {
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
    loop {
        // Checked before reading: the run has settled when it asks us to stop, and a frame is
        // in the ring once the kernel has sent or received it, so one last read takes all.
        let stopping = stop.load(Ordering::SeqCst);
        if !stopping {
            let _ = poll(&fds, 5);
        }
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
        if stopping {
            // Closing a packet socket waits for an RCU grace period (packet_release() calls
            // synchronize_net()): the two wait side by side, for one period, not two.
            let [a, b] = caps;
            std::thread::scope(|s| {
                s.spawn(move || drop(a));
                drop(b);
            });
            return out;
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
            if is_ours(&ev, ours) {
                bump(last, ev.ts_ns);
                out.push(ev);
            }
        }
        if stopping {
            return out;
        }
    }
}

/// Reads the lab's BPF ring buffer until told to stop, then once more.
fn bpf_loop(
    mut probe: LabProbe,
    names: &Names,
    ours: &[IpAddr; 2],
    stop: &AtomicBool,
    last: &AtomicU64,
) -> (Vec<TcpEvent>, u64) {
    let mut out = Vec::new();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if !stopping {
            let _ = poll(&[(probe.raw_fd(), libc::POLLIN)], 5);
        }
        probe.drain(usize::MAX, |rec| {
            let Some(ev) = lab_event(rec, names) else {
                return;
            };
            if is_ours(&ev, ours) {
                bump(last, ev.ts_ns);
                out.push(ev);
            }
        });
        if stopping {
            return (out, probe.lost());
        }
    }
}

/// An event of the run's hosts (the namespaces' loopback, say, is not).
fn is_ours(ev: &TcpEvent, ours: &[IpAddr; 2]) -> bool {
    [ev.local, ev.remote]
        .iter()
        .flatten()
        .any(|a| ours.contains(&a.ip()))
}
