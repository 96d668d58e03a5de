//! `tcpmortem watch`: live connection ends on this host.
//!
//! Two sources, one output: the eBPF programs (`tcpmortem_kernel::bpf`, decoded by
//! `tcpmortem_trace::bpf`, joined by `tcpmortem_watch::join`) where the kernel lets them load,
//! else the tracefs fallback (`trace_pipe`, `tcpmortem_watch::tracker`). One line on stderr at
//! start says which runs and what it can tell.

mod render;
mod serve;

use crate::exit;
use render::Render;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tcpmortem_core::count::count as noun_count;
use tcpmortem_kernel::bpf::{BpfError, WatchProbe};
use tcpmortem_kernel::proc;
use tcpmortem_kernel::sock::poll;
use tcpmortem_kernel::tracefs::{self, Instance};
use tcpmortem_trace::bpf::{Names, Record, decode};
use tcpmortem_trace::{WATCH_EVENTS, lost_events, parse_line, tcp_event};
use tcpmortem_watch::metrics::Metrics;
use tcpmortem_watch::resolve::{OwnersByCookie, Resolver, comm_of, owners_by_cookie};
use tcpmortem_watch::{Death, Joiner, Tracker};

/// Report connections ending on this host as it happens, with the kernel's own reason.
///
/// One line per abnormal end (RST sent or received, timeout, refused, error reported to the
/// application); --all adds orderly closes. Every network namespace is watched.
///
/// Where eBPF loads (kernel BTF, CAP_BPF + CAP_PERFMON), each end is read from the socket
/// itself: the owning process (from connect/accept), the network namespace, bytes sent and
/// received, retransmissions, RTT, the queues at the end, and the segments the kernel dropped.
/// Elsewhere, or with --tracefs, it reads the TCP tracepoints through a private tracefs
/// instance, where process and namespace are best-effort and bytes unknown. "-" or null
/// means unknown, never a guess.
///
/// The errno shown is the one the kernel stored on the socket, which is not always what the
/// application reads next: after a FIN and then a RST, Linux stores EPIPE yet recv returns
/// EOF first; after the application closed its socket, nobody reads it.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  tcpmortem watch\n  tcpmortem watch --port 443 --json\n  tcpmortem watch --addr 10.0.0.0/8 --duration 60\n  tcpmortem watch --drops --port 8080\n  tcpmortem watch --metrics 127.0.0.1:9464"
)]
pub struct Args {
    /// Also report orderly closes, like tcplife.
    #[arg(long)]
    all: bool,

    /// One JSON object per line.
    #[arg(long)]
    json: bool,

    /// Also print every TCP segment the kernel drops, as it happens, with its reason
    /// (skb:kfree_skb, eBPF only). --port and --addr apply; --pid cannot.
    #[arg(long)]
    drops: bool,

    /// Serve Prometheus/OpenMetrics counters of ends and drops at http://ADDR:PORT/metrics.
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<SocketAddr>,

    /// Use the tracefs fallback even where eBPF loads.
    #[arg(long)]
    tracefs: bool,

    /// Only connections with this local or remote port, 1-65535 (repeatable).
    #[arg(long, value_name = "PORT", value_parser = port)]
    port: Vec<u16>,

    /// Only connections with a local or remote address in ADDR or ADDR/PREFIX (repeatable);
    /// an IPv4 address also matches its IPv4-mapped IPv6 form (dual-stack sockets).
    #[arg(long, value_name = "ADDR[/PREFIX]", value_parser = cidr)]
    addr: Vec<(IpAddr, u8)>,

    /// Only connections owned by this process, where it is known (repeatable).
    #[arg(long, value_name = "PID", value_parser = clap::value_parser!(i32).range(1..))]
    pid: Vec<i32>,

    /// Stop after this many seconds (more than 0; fractions allowed).
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    duration: Option<Duration>,

    /// Stop after this many reported ends (at least 1).
    #[arg(long, value_name = "N", value_parser = count)]
    count: Option<u64>,
}

fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() {
        return Err(format!("{s:?} is not a finite number of seconds"));
    }
    if v <= 0.0 {
        return Err(
            "must be more than 0 seconds (without --duration, watch runs until interrupted)".into(),
        );
    }
    Duration::try_from_secs_f64(v).map_err(|_| format!("{s} seconds is more than watch can count"))
}

fn count(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1 (without --count, watch runs until interrupted)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

fn port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        // Port 0 only means "any" to bind(); no connection end has it.
        Ok(0) => Err("port 0 is no connection's port; give 1-65535".into()),
        Ok(p) => Ok(p),
        Err(_) => Err(format!("{s:?} is not a port (1-65535)")),
    }
}

fn cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, p) = s.split_once('/').unwrap_or((s, ""));
    let ip: IpAddr = a.parse().map_err(|_| format!("bad address {a:?}"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = if p.is_empty() {
        max
    } else {
        p.parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or(format!("bad prefix {p:?}"))?
    };
    Ok((ip, prefix))
}

fn in_cidr(ip: IpAddr, (net, prefix): (IpAddr, u8)) -> bool {
    // A dual-stack socket shows an IPv4 peer as ::ffff:a.b.c.d.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    let bits = |ip: IpAddr| -> (u128, u8) {
        match ip {
            IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
            IpAddr::V6(v) => (u128::from(v), 128),
        }
    };
    let ((a, wa), (b, wb)) = (bits(ip), bits(net));
    if wa != wb {
        return false;
    }
    let shift = u32::from(wa - prefix.min(wa));
    prefix == 0 || a.checked_shr(shift) == b.checked_shr(shift)
}

impl Args {
    /// The address and port filters, on the addresses an end or a drop names.
    fn wants(&self, a: SocketAddr, b: Option<SocketAddr>) -> bool {
        let ports = [Some(a.port()), b.map(|b| b.port())];
        (self.port.is_empty() || ports.iter().flatten().any(|p| self.port.contains(p)))
            && (self.addr.is_empty()
                || self
                    .addr
                    .iter()
                    .any(|c| in_cidr(a.ip(), *c) || b.is_some_and(|b| in_cidr(b.ip(), *c))))
    }

    fn wants_pid(&self, d: &Death) -> bool {
        self.pid.is_empty() || d.pid.is_some_and(|p| self.pid.contains(&p))
    }
}

/// Stops the loop: a signal, --duration, or --count.
struct Stop<'a> {
    args: &'a Args,
    start: Instant,
    reported: u64,
}

impl Stop<'_> {
    fn done(&self) -> bool {
        proc::interrupted()
            || self.args.count.is_some_and(|c| self.reported >= c)
            || self
                .args
                .duration
                .is_some_and(|d| self.start.elapsed() >= d)
    }
}

/// Reports an end that passed the filters: metrics always, a line unless --all hides it.
fn report(
    args: &Args,
    d: &mut Death,
    stop: &mut Stop,
    render: &mut Render,
    metrics: Option<&Metrics>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    if !args.wants(d.local, d.remote) || !args.wants_pid(d) {
        return Ok(());
    }
    if d.pid.is_some() && d.comm.is_none() {
        d.comm = d.pid.and_then(comm_of);
    }
    if let Some(m) = metrics {
        m.end(d);
    }
    if !(args.all || d.kind.abnormal()) || args.count.is_some_and(|c| stop.reported >= c) {
        return Ok(());
    }
    render.end(out, d)?;
    stop.reported += 1;
    Ok(())
}

pub fn run(args: &Args, _out: &mut impl Write) -> anyhow::Result<u8> {
    // Straight to stdout, buffered, flushed after each batch: the line-buffered, escape-
    // stripping stream would cost a write per end and a scan of every byte (a quarter of
    // watch's CPU at 10,000 ends/s). Colour is decided once, as that stream would.
    let color = !args.json
        && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    proc::catch_interrupts()?;
    let metrics = match args.metrics {
        Some(addr) => match serve::serve(addr) {
            Ok((m, bound)) => Some((m, bound)),
            Err(e) => {
                eprintln!("tcpmortem: cannot serve metrics on {addr}: {e}");
                return Ok(exit::OS_ERROR);
            }
        },
        None => None,
    };
    let serving = metrics
        .as_ref()
        .map(|(_, a)| format!("; metrics at http://{a}/metrics"))
        .unwrap_or_default();
    let metrics = metrics.map(|(m, _)| m);
    let bpf = if args.tracefs {
        Err(None)
    } else {
        WatchProbe::load().map_err(Some)
    };
    match bpf {
        Ok(probe) => {
            // Sockets that already exist carry no owner in the programs' records: their
            // owners now, taken before saying we are ready.
            let before = owners_by_cookie();
            let accept = match &probe.accept_error {
                None => String::new(),
                Some(e) => format!(
                    " (owners of accepted sockets unknown: {e}; reading tracefs ids needs root or CAP_DAC_READ_SEARCH)"
                ),
            };
            eprintln!(
                "tcpmortem watch: eBPF: exact pid/comm (connect, accept), netns, bytes, retransmits, RTT, queues and drop reasons; sockets opened before watch from a snapshot{accept}{serving}"
            );
            run_bpf(args, probe, &before, color, metrics.as_deref(), &mut out)
        }
        Err(why) => {
            let root = match tracefs::root() {
                Ok(r) => r,
                Err(e) => return Ok(no_source(why.as_ref(), &e)),
            };
            let why = match &why {
                None => "--tracefs".to_string(),
                Some(e) => format!("eBPF refused: {e}"),
            };
            let mode = format!(
                "tcpmortem watch: tracefs fallback ({why}): pid best-effort, netns from snapshots, no bytes, RTT, queues or drops{serving}"
            );
            run_tracefs(args, &root, &mode, color, metrics.as_deref(), &mut out)
        }
    }
}

/// Neither source: one line naming what is missing, 77 for a privilege, 71 otherwise.
fn no_source(bpf: Option<&BpfError>, tracefs: &tcpmortem_kernel::Error) -> u8 {
    let tracefs_denied = matches!(tracefs.errno(), Some(libc::EPERM | libc::EACCES));
    let bpf_denied = bpf.is_none_or(|e| e.is_permission());
    let bpf_text = bpf.map(|e| format!("eBPF: {e}; ")).unwrap_or_default();
    if tracefs_denied && bpf_denied {
        eprintln!(
            "tcpmortem: watch needs CAP_BPF + CAP_PERFMON for eBPF, or root (or CAP_DAC_OVERRIDE) for tracefs; this process has neither ({bpf_text}tracefs: {tracefs})"
        );
        exit::NO_PERMISSION
    } else {
        eprintln!("tcpmortem: watch has no event source ({bpf_text}tracefs: {tracefs})");
        exit::OS_ERROR
    }
}

/// The event source failed, not the output (74 is for that): 77 when it is a privilege, else
/// 71 (EX_OSERR). The instance, if made, is removed as the caller returns.
fn tracefs_failed(what: &str, e: &tcpmortem_kernel::Error) -> u8 {
    if matches!(e.errno(), Some(libc::EPERM | libc::EACCES)) {
        eprintln!("tcpmortem: {what}: {e} (tracefs needs root, or CAP_DAC_OVERRIDE)");
        exit::NO_PERMISSION
    } else {
        eprintln!("tcpmortem: {what}: {e}");
        exit::OS_ERROR
    }
}

/// Records handled between two writes of the output.
const BATCH: usize = 8192;

fn run_bpf(
    args: &Args,
    mut probe: WatchProbe,
    before: &OwnersByCookie,
    color: bool,
    metrics: Option<&Metrics>,
    out: &mut impl Write,
) -> anyhow::Result<u8> {
    let names = Names::from_btf(&std::fs::read("/sys/kernel/btf/vmlinux").unwrap_or_default());
    let mut render = Render::new(args.json, color);
    let mut joiner = Joiner::new(names);
    let mut stop = Stop {
        args,
        start: Instant::now(),
        reported: 0,
    };
    let mut ends = Vec::new();
    let mut failed: Option<std::io::Error> = None;
    let mut reported_lost = tcpmortem_kernel::bpf::Lost::default();
    let mut evicted = 0;
    loop {
        let finished = stop.done();
        // A bounded batch: memory stays bounded however far behind the ring buffer is.
        let n = probe.drain(BATCH, |bytes| {
            let Some(rec) = decode(bytes) else { return };
            if let Record::Drop(d) = &rec
                && args.wants(d.src, Some(d.dst))
            {
                let name = joiner.names().drop_reason(d.reason);
                if let Some(m) = metrics {
                    m.drop(&name);
                }
                if args.drops
                    && args.pid.is_empty()
                    && failed.is_none()
                    && let Err(e) = render.drop(out, d, &name)
                {
                    failed = Some(e);
                }
            }
            joiner.feed(rec);
        });
        // At the end, everything still in the ring buffer is read first, batch by batch.
        let last = finished && n < BATCH;
        if last {
            joiner.finish(&mut ends);
        } else {
            joiner.flush(proc::monotonic_ns(), &mut ends);
        }
        if let Some(e) = failed.take() {
            return Err(e.into());
        }
        for mut d in ends.drain(..) {
            if d.pid.is_none()
                && let Some((_, Some((pid, comm)))) = d.cookie.and_then(|c| before.get(&c))
            {
                d.pid = Some(*pid);
                d.comm = Some(comm.clone());
            }
            report(args, &mut d, &mut stop, &mut render, metrics, out)?;
        }
        out.flush()?;
        let lost = probe.lost();
        if let Some(m) = metrics {
            m.lost("ring_buffer", lost.ring_full - reported_lost.ring_full);
            m.lost("socket_storage", lost.storage - reported_lost.storage);
            m.lost("drop_table", joiner.drops.evicted - evicted);
        }
        (reported_lost, evicted) = (lost, joiner.drops.evicted);
        if last {
            break;
        }
        if finished {
            continue;
        }
        if n == 0 {
            let _ = poll(&[(probe.raw_fd(), libc::POLLIN)], 100);
        } else if n < BATCH {
            // Let records gather: one wakeup per batch, not per end.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let lost = probe.lost();
    drop(probe);
    if lost.ring_full > 0 || lost.storage > 0 || joiner.drops.evicted > 0 {
        eprintln!(
            "tcpmortem: lost {} (ring buffer full), the opening of {} (no per-socket storage), the drop counts of {} (table full): some ends may be missing or incomplete",
            noun_count(lost.ring_full, "record", "records"),
            noun_count(lost.storage, "socket", "sockets"),
            noun_count(joiner.drops.evicted, "connection", "connections")
        );
    }
    Ok(exit::OK)
}

fn run_tracefs(
    args: &Args,
    root: &std::path::Path,
    mode: &str,
    color: bool,
    metrics: Option<&Metrics>,
    out: &mut impl Write,
) -> anyhow::Result<u8> {
    tracefs::sweep_orphans(root);
    // 8 MB per CPU: a second of 20,000 ends a second (~10 events each) fits.
    let inst = match Instance::create(root, WATCH_EVENTS, Some(8192)) {
        Ok(i) => i,
        Err(e) => return Ok(tracefs_failed("cannot create a tracefs instance", &e)),
    };
    let mut pipe = match inst.pipe() {
        Ok(p) => p,
        Err(e) => return Ok(tracefs_failed("cannot read the tracefs instance", &e)),
    };
    // Said once the events are on: a reader of stderr may start its traffic.
    eprintln!("{mode}");
    let resolver = Resolver::start();
    let mut render = Render::new(args.json, color);
    let mut stop = Stop {
        args,
        start: Instant::now(),
        reported: 0,
    };
    let mut tracker = Tracker::new();
    let mut lost = 0u64;
    let mut lost_reported = 0u64;
    let mut behind = false;
    loop {
        let finished = stop.done();
        if !finished && !behind {
            let _ = poll(&[(pipe.raw_fd(), libc::POLLIN)], 50);
        }
        let mut ends = Vec::new();
        // A bounded batch (the text of about 10,000 events) however far behind the pipe is;
        // at the end, everything left is read first, batch by batch.
        let (lines, more) = match pipe.read_lines_max(1 << 20) {
            Ok(r) => r,
            Err(e) => return Ok(tracefs_failed("the trace pipe failed", &e)),
        };
        behind = more;
        let last = finished && !more;
        for line in lines {
            if let Some(n) = lost_events(&line) {
                lost += n;
                continue;
            }
            if let Some(ev) = parse_line(&line).as_ref().and_then(tcp_event) {
                ends.extend(tracker.feed(&ev));
            }
        }
        ends.extend(if last {
            tracker.finish()
        } else {
            tracker.flush(proc::monotonic_ns())
        });
        for mut d in ends {
            if let Some(remote) = d.remote {
                let (netns, holder) = resolver.lookup(d.local, remote);
                d.netns = netns;
                if d.pid.is_none()
                    && let Some((pid, comm)) = holder
                {
                    d.pid = Some(pid);
                    d.comm = Some(comm);
                }
            }
            report(args, &mut d, &mut stop, &mut render, metrics, out)?;
        }
        out.flush()?;
        if let Some(m) = metrics {
            m.lost("trace_buffer", lost - lost_reported);
            lost_reported = lost;
        }
        if last {
            break;
        }
    }
    lost += inst.overruns();
    drop(pipe);
    drop(inst);
    if lost > 0 {
        eprintln!(
            "tcpmortem: lost {} (trace ring buffer overrun): some ends may be missing or incomplete",
            noun_count(lost, "kernel event", "kernel events")
        );
    }
    if tracker.forgotten > 0 {
        eprintln!(
            "tcpmortem: forgot {} to bound memory (their ends were lost): ends of some may show no start or owner",
            noun_count(tracker.forgotten, "open connection", "open connections")
        );
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = cidr("198.18.0.0/15").unwrap();
        assert!(in_cidr("198.19.255.1".parse().unwrap(), c));
        assert!(!in_cidr("198.20.0.1".parse().unwrap(), c));
        assert!(in_cidr(
            "10.0.0.1".parse().unwrap(),
            cidr("10.0.0.1").unwrap()
        ));
        assert!(!in_cidr("::1".parse().unwrap(), c));
        assert!(in_cidr(
            "1.2.3.4".parse().unwrap(),
            cidr("0.0.0.0/0").unwrap()
        ));
        assert!(cidr("1.2.3.4/33").is_err());
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_filters() {
        let c = cidr("127.0.0.1").unwrap();
        assert!(in_cidr("::ffff:127.0.0.1".parse().unwrap(), c));
        assert!(in_cidr(
            "::ffff:198.18.3.4".parse().unwrap(),
            cidr("198.18.0.0/15").unwrap()
        ));
        assert!(!in_cidr("::ffff:10.0.0.1".parse().unwrap(), c));
        assert!(!in_cidr("::1".parse().unwrap(), c));
    }

    #[test]
    fn options_refuse_what_cannot_mean_anything() {
        for s in ["inf", "nan", "NaN", "-inf", "1e300", "0", "-1", "", "x"] {
            assert!(seconds(s).is_err(), "--duration {s}");
        }
        assert_eq!(seconds("0.3"), Ok(Duration::from_millis(300)));
        assert!(count("0").is_err());
        assert_eq!(count("3"), Ok(3));
        assert!(port("0").is_err());
        assert!(port("65536").is_err());
        assert_eq!(port("443"), Ok(443));
    }
}
