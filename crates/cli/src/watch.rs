//! `tcpmortem watch`: live connection deaths on this host.

use crate::exit;
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tcpmortem_kernel::proc;
use tcpmortem_kernel::sock::poll;
use tcpmortem_kernel::tracefs::{self, Instance};
use tcpmortem_trace::{WATCH_EVENTS, lost_events, parse_line, tcp_event};
use tcpmortem_watch::resolve::Resolver;
use tcpmortem_watch::time::{realtime_offset_ns, rfc3339};
use tcpmortem_watch::verdict::verdict;
use tcpmortem_watch::{Death, Tracker};

/// Report connections dying on this host as it happens, with the kernel's own reason.
///
/// One line per abnormal end (RST sent or received, timeout, refused, error reported to the
/// application); --all adds orderly closes. Every network namespace is watched. Reads the
/// kernel's TCP tracepoints through a private tracefs instance; needs root.
///
/// The errno shown is the one the kernel stored on the socket (sock:inet_sk_error_report),
/// which is not always what the application reads next: after a FIN and then a RST, Linux
/// stores EPIPE yet recv returns EOF first. Process and namespace are best-effort (from
/// process-context events and sock_diag snapshots); "-" means unknown, never a guess.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  tcpmortem watch\n  tcpmortem watch --port 443 --json\n  tcpmortem watch --addr 10.0.0.0/8 --duration 60"
)]
pub struct Args {
    /// Also report orderly closes, like tcplife.
    #[arg(long)]
    all: bool,

    /// One JSON object per line.
    #[arg(long)]
    json: bool,

    /// Only connections with this local or remote port (repeatable).
    #[arg(long, value_name = "PORT")]
    port: Vec<u16>,

    /// Only connections with a local or remote address in ADDR or ADDR/PREFIX (repeatable).
    #[arg(long, value_name = "ADDR[/PREFIX]", value_parser = cidr)]
    addr: Vec<(IpAddr, u8)>,

    /// Only connections owned by this process, where it can be told (repeatable).
    #[arg(long, value_name = "PID")]
    pid: Vec<i32>,

    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,

    /// Stop after this many reported ends.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
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
    fn wants_addr(&self, d: &Death) -> bool {
        (self.port.is_empty()
            || self.port.contains(&d.local.port())
            || self.port.contains(&d.remote.port()))
            && (self.addr.is_empty()
                || self
                    .addr
                    .iter()
                    .any(|c| in_cidr(d.local.ip(), *c) || in_cidr(d.remote.ip(), *c)))
            && (self.all || d.kind.abnormal())
    }
}

fn addr(a: std::net::SocketAddr) -> String {
    a.to_string() // [ADDR]:PORT for IPv6, as the vocabulary wants
}

pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<u8> {
    let missing = proc::missing_capabilities();
    if missing.contains(&"CAP_SYS_ADMIN") {
        eprintln!(
            "tcpmortem: watch needs root (CAP_SYS_ADMIN, for tracefs and other namespaces' sockets); this process lacks it"
        );
        return Ok(exit::NO_PERMISSION);
    }
    let root = match tracefs::root() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tcpmortem: watch needs tracefs on /sys/kernel/tracing: {e}");
            return Ok(exit::OS_ERROR);
        }
    };
    tracefs::sweep_orphans(&root);
    proc::catch_interrupts()?;
    // 8 MB per CPU: a second of 20,000 deaths a second (~10 events each) fits.
    let inst = match Instance::create(&root, WATCH_EVENTS, Some(8192)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("tcpmortem: cannot create a tracefs instance: {e}");
            return Ok(exit::OS_ERROR);
        }
    };
    let mut pipe = inst.pipe()?;
    let resolver = Resolver::start();
    let offset = realtime_offset_ns();
    let start = Instant::now();
    let mut tracker = Tracker::new();
    let mut reported = 0u64;
    let mut lost = 0u64;
    let done = |reported: u64| {
        proc::interrupted()
            || args.count.is_some_and(|c| reported >= c)
            || args
                .duration
                .is_some_and(|d| start.elapsed() >= Duration::from_secs_f64(d))
    };
    loop {
        let finished = done(reported);
        if !finished {
            let _ = poll(&[(pipe.raw_fd(), libc::POLLIN)], 50);
        }
        let mut deaths = Vec::new();
        for line in pipe.read_lines()? {
            if let Some(n) = lost_events(&line) {
                lost += n;
                continue;
            }
            if let Some(ev) = parse_line(&line).as_ref().and_then(tcp_event) {
                deaths.extend(tracker.feed(&ev));
            }
        }
        deaths.extend(if finished {
            tracker.finish()
        } else {
            tracker.flush(proc::monotonic_ns())
        });
        for mut d in deaths {
            if !args.wants_addr(&d) || args.count.is_some_and(|c| reported >= c) {
                continue;
            }
            let (netns, holder) = resolver.lookup(d.local, d.remote);
            d.netns = netns;
            if d.pid.is_none()
                && let Some((pid, comm)) = holder
            {
                d.pid = Some(pid);
                d.comm = Some(comm);
            }
            if !args.pid.is_empty() && !d.pid.is_some_and(|p| args.pid.contains(&p)) {
                continue;
            }
            let time = rfc3339(d.ts_ns as i128 + offset);
            if args.json {
                serde_json::to_writer(&mut *out, &json(&d, &time))?;
                writeln!(out)?;
            } else {
                human(out, &d, &time)?;
            }
            reported += 1;
        }
        out.flush()?;
        if finished {
            break;
        }
    }
    lost += inst.overruns();
    drop(pipe);
    drop(inst);
    if lost > 0 {
        eprintln!(
            "tcpmortem: {lost} kernel events were lost (trace ring buffer overrun): some ends may be missing or incomplete"
        );
    }
    Ok(exit::OK)
}

#[derive(serde::Serialize)]
struct Json<'a> {
    time: &'a str,
    local: String,
    remote: String,
    kind: &'static str,
    reason: Option<String>,
    errno: Option<&'a str>,
    state_before: Option<&'static str>,
    pid: Option<i32>,
    comm: Option<&'a str>,
    netns: Option<u64>,
    duration_ms: Option<f64>,
    bytes_sent: Option<u64>,
    bytes_received: Option<u64>,
    retransmits: u32,
    verdict: String,
}

fn json<'a>(d: &'a Death, time: &'a str) -> Json<'a> {
    Json {
        time,
        local: addr(d.local),
        remote: addr(d.remote),
        kind: d.kind.name(),
        reason: d.reason.map(|r| r.name()),
        errno: d.errno.as_deref(),
        state_before: d.state_before.map(|s| s.name()),
        pid: d.pid,
        comm: d.comm.as_deref(),
        netns: d.netns,
        duration_ms: d.duration_ms,
        // Tracepoints do not carry byte counts, and the socket is gone when it is reported.
        bytes_sent: None,
        bytes_received: None,
        retransmits: d.retransmits,
        verdict: verdict(d),
    }
}

fn human(out: &mut impl Write, d: &Death, time: &str) -> std::io::Result<()> {
    let style = match d.kind {
        tcpmortem_watch::Kind::Closed => anstyle::Style::new().dimmed(),
        tcpmortem_watch::Kind::Timeout => anstyle::AnsiColor::Yellow.on_default(),
        _ => anstyle::AnsiColor::Red.on_default(),
    };
    let who = match (d.pid, &d.comm) {
        (Some(p), Some(c)) => format!("{p}/{c}"),
        (Some(p), None) => p.to_string(),
        _ => "-".into(),
    };
    let why = match (&d.reason, &d.errno) {
        (Some(r), _) => r.name(),
        (None, Some(e)) => e.clone(),
        _ => "-".into(),
    };
    writeln!(
        out,
        "{} {} → {} {style}{:<12}{style:#} {:<11} {:<16} {:<19} {:>9}  {}",
        &time[11..26],
        addr(d.local),
        addr(d.remote),
        d.kind.name(),
        d.state_before.map(|s| s.name()).unwrap_or("-"),
        who,
        why,
        d.duration_ms
            .map(|m| format!("{m:.1}ms"))
            .unwrap_or_else(|| "-".into()),
        verdict(d)
    )
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
}
