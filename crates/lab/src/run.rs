//! Running a scenario: sandbox, actors, observers, steps with settle detection, and the record.

use crate::actor::{ActorProc, Cmd, Late, Reply, send_cmd};
use crate::observe::{Captured, Observers};
use crate::record::{
    Completion, EndState, Environment, KernelEvent, Link, Outcome, PacketRecord, Record, StepRecord,
};
use crate::sandbox::{CONGESTION_CONTROL, Sandbox};
use crate::scenario::{Actor, Op, Scenario, StepKind};
use crate::{LabError, other_os};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tcpmortem_core::TcpState;
use tcpmortem_kernel::diag::{Diag, DiagSocket};
use tcpmortem_kernel::proc;
use tcpmortem_wire::{Flags, TcpSegment};

/// How a run is done.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The tcpmortem executable, re-executed as the actors.
    pub actor_exe: PathBuf,
    /// Overrides the scenario's settle time.
    pub settle: Option<Duration>,
    /// Longest a step may wait for the network to settle.
    pub max_settle: Duration,
    /// Longest a single call may take before the run fails.
    pub call_timeout: Duration,
    /// Record kernel events through tracefs (when available).
    pub tracefs: bool,
}

impl RunOptions {
    pub fn new(actor_exe: PathBuf) -> RunOptions {
        RunOptions {
            actor_exe,
            settle: None,
            max_settle: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            tracefs: true,
        }
    }
}

/// A finished run: the record, and the frames for `--pcap`.
pub struct Run {
    pub record: Record,
    pub frames: Vec<Captured>,
}

/// Checks the privileges the lab needs, naming what is missing.
pub fn check_privileges() -> Result<(), LabError> {
    let missing = proc::missing_capabilities();
    if missing.is_empty() {
        Ok(())
    } else if proc::in_user_namespace() {
        // `unshare -U` without a root mapping: execve drops the namespace's capabilities.
        Err(LabError::Privilege(format!(
            "{} (it runs in a user namespace without them; `unshare -Ur` maps you to root there, which is enough for everything but the kernel's events)",
            missing.join(" + ")
        )))
    } else {
        Err(LabError::Privilege(missing.join(" + ")))
    }
}

struct Hosts {
    client: Diag,
    server: Diag,
}

impl Hosts {
    fn dump(&mut self) -> (Vec<DiagSocket>, Vec<DiagSocket>) {
        (
            self.client.tcp_sockets().unwrap_or_default(),
            self.server.tcp_sockets().unwrap_or_default(),
        )
    }
}

fn end_state(host: Actor, socks: &[DiagSocket], local: SocketAddr, remote: SocketAddr) -> EndState {
    // A socket in NEW_SYN_RECV (a request socket) is listed too; prefer a full socket.
    let s = socks
        .iter()
        .filter(|s| s.local == local && s.remote == remote)
        .min_by_key(|s| u8::from(s.status.state == TcpState::NewSynRecv.number()));
    EndState::from_kernel(host, s.map(|s| &s.status))
}

struct Runner<'a> {
    sc: &'a Scenario,
    opts: &'a RunOptions,
    sandbox: Sandbox,
    hosts: Hosts,
    observers: Observers,
    client: ActorProc,
    server: ActorProc,
    t0: u64,
    settle: Duration,
    /// The connection whose ends are shown: (client's address, server's address).
    conn: Option<(SocketAddr, SocketAddr)>,
    late: Vec<(Actor, Late)>,
    /// Actor call id → step index, for late completions.
    calls: HashMap<(Actor, u64), usize>,
    notes: Vec<String>,
}

impl Runner<'_> {
    fn now(&self) -> u64 {
        proc::monotonic_ns().saturating_sub(self.t0)
    }

    fn ends(&mut self) -> Vec<EndState> {
        let Some((c, s)) = self.conn else {
            return Vec::new();
        };
        let (cs, ss) = self.hosts.dump();
        let mut ends = vec![
            end_state(Actor::Client, &cs, c, s),
            end_state(Actor::Server, &ss, s, c),
        ];
        // sock_diag lists only hashed sockets: one in CLOSE that its application still holds
        // is visible only to its owner, through TCP_INFO.
        for (end, local) in ends.iter_mut().zip([c, s]) {
            if end.state.is_none()
                && let Some(owned) = self.owner_info(end.host, local)
            {
                *end = owned;
            }
        }
        ends
    }

    fn owner_info(&mut self, host: Actor, local: SocketAddr) -> Option<EndState> {
        if self.actor(host).dead {
            return None;
        }
        let (blocked_after, timeout) = (self.sc.blocked_after, self.opts.call_timeout);
        let mut late = Vec::new();
        let local = (host == Actor::Client).then_some(local);
        let reply = self
            .actor(host)
            .call(Cmd::Info { local, host }, blocked_after, timeout, &mut late)
            .ok();
        self.late.extend(late.into_iter().map(|l| (host, l)));
        match reply {
            Some((_, Reply::Info { info, .. })) => info,
            _ => None,
        }
    }

    fn actor(&mut self, a: Actor) -> &mut ActorProc {
        match a {
            Actor::Client => &mut self.client,
            Actor::Server => &mut self.server,
        }
    }

    fn drain(&mut self) {
        let mut late = Vec::new();
        self.client.drain(&mut late);
        self.late.extend(late.drain(..).map(|l| (Actor::Client, l)));
        self.server.drain(&mut late);
        self.late.extend(late.drain(..).map(|l| (Actor::Server, l)));
    }

    /// Waits until nothing happened for the settle time: no packet on either link, no state
    /// change in either host, no kernel event.
    fn settle(&mut self, index: usize) {
        let start = Instant::now();
        let mut last = self.hosts.dump();
        let mut quiet_since = proc::monotonic_ns();
        loop {
            std::thread::sleep(Duration::from_millis(2));
            if proc::interrupted() {
                return;
            }
            self.drain();
            let dump = self.hosts.dump();
            let now = proc::monotonic_ns();
            if dump != last {
                quiet_since = now;
                last = dump;
            }
            let activity = self.observers.last_activity_mono().max(quiet_since);
            if now.saturating_sub(activity) >= self.settle.as_nanos() as u64 {
                return;
            }
            if start.elapsed() >= self.opts.max_settle {
                self.notes.push(format!(
                    "step {} did not settle within {:?}: the network was still busy",
                    index + 1,
                    self.opts.max_settle
                ));
                return;
            }
        }
    }

    fn call(
        &mut self,
        index: usize,
        line: usize,
        actor: Actor,
        op: &Op,
    ) -> Result<(Outcome, bool), LabError> {
        if self.actor(actor).dead {
            return Err(LabError::Scenario {
                line,
                message: format!("the {actor} was killed earlier; it cannot {}", op.text()),
            });
        }
        let a = self.sandbox.addresses.clone();
        let cmd = match op {
            Op::Kill => {
                self.actor(actor).kill()?;
                return Ok((Outcome::Killed, false));
            }
            Op::Listen { backlog } => Cmd::Listen {
                addr: SocketAddr::new(a.server, a.server_port),
                backlog: *backlog,
            },
            Op::Connect { port } => Cmd::Connect {
                addr: SocketAddr::new(a.server, port.unwrap_or(a.server_port)),
            },
            Op::Accept => Cmd::Accept,
            Op::Send { data } => send_cmd(data),
            Op::Recv { max } => Cmd::Recv { max: *max },
            Op::Close => Cmd::Close,
            Op::Shutdown { how } => Cmd::Shutdown { how: *how },
            Op::Linger { seconds } => Cmd::Linger { seconds: *seconds },
            Op::UserTimeout { ms } => Cmd::UserTimeout { ms: *ms },
            Op::Nodelay => Cmd::SetInt {
                level: libc::IPPROTO_TCP,
                name: libc::TCP_NODELAY,
                value: 1,
            },
            Op::Rcvbuf { bytes } => Cmd::SetInt {
                level: libc::SOL_SOCKET,
                name: libc::SO_RCVBUF,
                value: *bytes as i32,
            },
            Op::Sndbuf { bytes } => Cmd::SetInt {
                level: libc::SOL_SOCKET,
                name: libc::SO_SNDBUF,
                value: *bytes as i32,
            },
            Op::Keepalive {
                idle,
                interval,
                count,
            } => {
                for (level, name, value) in [
                    (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, *idle),
                    (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, *interval),
                    (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, *count),
                ] {
                    let cmd = Cmd::SetInt {
                        level,
                        name,
                        value: value as i32,
                    };
                    let (o, _) = self.simple(actor, line, cmd)?;
                    if o != Outcome::Ok {
                        return Ok((o, false));
                    }
                }
                Cmd::SetInt {
                    level: libc::SOL_SOCKET,
                    name: libc::SO_KEEPALIVE,
                    value: 1,
                }
            }
            Op::Abort => return self.abort(actor, line).map(|o| (o, false)),
        };
        self.simple_indexed(index, actor, line, cmd)
    }

    /// A command whose answer must come back at once (options): its outcome.
    fn simple(&mut self, actor: Actor, line: usize, cmd: Cmd) -> Result<(Outcome, bool), LabError> {
        self.simple_indexed(usize::MAX, actor, line, cmd)
    }

    /// SOCK_DESTROY of the actor's end of the connection, from its own namespace (`ss -K`).
    fn abort(&mut self, actor: Actor, line: usize) -> Result<Outcome, LabError> {
        let Some((c, s)) = self.conn else {
            return Err(LabError::Scenario {
                line,
                message: "abort needs a connection".into(),
            });
        };
        let (local, remote, diag) = match actor {
            Actor::Client => (c, s, &mut self.hosts.client),
            Actor::Server => (s, c, &mut self.hosts.server),
        };
        let sock = diag
            .tcp_sockets()
            .unwrap_or_default()
            .into_iter()
            .find(|x| x.local == local && x.remote == remote)
            .ok_or_else(|| LabError::Scenario {
                line,
                message: format!("the {actor} has no socket to abort"),
            })?;
        Ok(match diag.destroy(&sock) {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::error(e.errno().unwrap_or(libc::EIO)),
        })
    }

    /// The host forgets every connection: its sockets are destroyed while the router drops
    /// what they send (the RSTs tcp_abort() emits), then the path is open again.
    fn reboot(&mut self, host: Actor, line: usize) -> Result<(), LabError> {
        let ip = match host {
            Actor::Client => self.sandbox.addresses.client,
            Actor::Server => self.sandbox.addresses.server,
        };
        crate::faults::silence(&self.sandbox, ip, true).map_err(|e| e.at(line))?;
        let diag = match host {
            Actor::Client => &mut self.hosts.client,
            Actor::Server => &mut self.hosts.server,
        };
        for sock in diag.tcp_sockets().unwrap_or_default() {
            // TIME_WAIT mini-sockets cannot be destroyed; a reboot would lose them too, but
            // they answer nothing but stray segments, which the next steps do not send.
            let _ = diag.destroy(&sock);
        }
        // Let the dropped RSTs leave before the path opens again.
        std::thread::sleep(Duration::from_millis(5));
        crate::faults::silence(&self.sandbox, ip, false).map_err(|e| e.at(line))
    }

    fn simple_indexed(
        &mut self,
        index: usize,
        actor: Actor,
        line: usize,
        cmd: Cmd,
    ) -> Result<(Outcome, bool), LabError> {
        let a = self.sandbox.addresses.clone();
        let (blocked_after, timeout) = (self.sc.blocked_after, self.opts.call_timeout);
        let mut late = Vec::new();
        let (id, reply) = self
            .actor(actor)
            .call(cmd, blocked_after, timeout, &mut late)?;
        self.late.extend(late.into_iter().map(|l| (actor, l)));
        self.calls.insert((actor, id), index);
        match reply {
            Reply::Returned {
                outcome, sigpipe, ..
            } => {
                if let (Outcome::Connected { local }, None) = (&outcome, self.conn) {
                    self.conn = Some((*local, SocketAddr::new(a.server, a.server_port)));
                }
                Ok((outcome, sigpipe))
            }
            Reply::Blocked { .. } => Ok((Outcome::Blocked, false)),
            Reply::Refused { message, .. } => Err(LabError::Scenario { line, message }),
            Reply::Completed { .. } | Reply::Info { .. } => {
                Err(LabError::Actor("unexpected answer".into()))
            }
        }
    }
}

/// Runs a scenario and returns what was observed.
pub fn run(sc: &Scenario, opts: &RunOptions) -> Result<Run, LabError> {
    let wall = Instant::now();
    check_privileges()?;
    crate::faults::preflight(sc)?;
    let sandbox = Sandbox::new(sc.ipv6)?;
    let kerr = |e: tcpmortem_kernel::Error| LabError::Setup(e.to_string());
    let hosts = Hosts {
        client: sandbox
            .client
            .run(Diag::open)
            .and_then(|r| r)
            .map_err(kerr)?,
        server: sandbox
            .server
            .run(Diag::open)
            .and_then(|r| r)
            .map_err(kerr)?,
    };
    let mut notes = Vec::new();
    let t0 = proc::monotonic_ns();
    let observers = Observers::start(&sandbox, t0, opts.tracefs, &mut notes)?;
    let client = ActorProc::spawn(&opts.actor_exe, sandbox.client.raw_fd())?;
    let server = ActorProc::spawn(&opts.actor_exe, sandbox.server.raw_fd())?;
    let mut r = Runner {
        sc,
        opts,
        sandbox,
        hosts,
        observers,
        client,
        server,
        t0,
        settle: opts.settle.unwrap_or(sc.settle),
        conn: None,
        late: Vec::new(),
        calls: HashMap::new(),
        notes,
    };
    if !sc.listens_itself() {
        r.call(usize::MAX, 0, Actor::Server, &Op::Listen { backlog: 128 })?;
    }
    let mut steps = Vec::new();
    for (i, step) in sc.steps.iter().enumerate() {
        if proc::interrupted() {
            return Err(LabError::Interrupted);
        }
        let before = r.ends();
        let start_ns = r.now();
        let (actor, outcome, sigpipe) = match &step.kind {
            StepKind::Sleep { duration } => {
                let end = Instant::now() + *duration;
                while Instant::now() < end && !proc::interrupted() {
                    std::thread::sleep((end - Instant::now()).min(Duration::from_millis(10)));
                }
                (None, None, false)
            }
            StepKind::Call { actor, op } => {
                let (o, sp) = r.call(i, step.line, *actor, op)?;
                (Some(*actor), Some(o), sp)
            }
            StepKind::Sysctl { host, key, value } => {
                let ns = match host {
                    crate::scenario::Host::Client => &r.sandbox.client,
                    crate::scenario::Host::Router => &r.sandbox.router,
                    crate::scenario::Host::Server => &r.sandbox.server,
                };
                let (k, v) = (key.clone(), value.clone());
                ns.run(move || tcpmortem_kernel::netns::write_sysctl(&k, &v))
                    .and_then(|x| x)
                    .map_err(|e| LabError::Scenario {
                        line: step.line,
                        message: e.to_string(),
                    })?;
                (None, None, false)
            }
            StepKind::Reboot { host } => {
                r.reboot(*host, step.line)?;
                (None, None, false)
            }
            StepKind::Net { op } => {
                crate::faults::apply(&r.sandbox, op).map_err(|e| e.at(step.line))?;
                (None, None, false)
            }
        };
        let returned_ns = r.now();
        r.settle(i);
        let after = r.ends();
        steps.push(StepRecord {
            index: i,
            line: step.line,
            text: step.text.clone(),
            actor,
            start_ns,
            returned_ns,
            settled_ns: r.now(),
            outcome,
            sigpipe,
            before,
            after,
            other_os: Vec::new(),
        });
    }
    r.drain();
    // Times in the record count from the first step, not from the sandbox's set-up.
    let shift = steps.first().map_or(0, |s| s.start_ns);
    for s in &mut steps {
        s.start_ns -= shift;
        s.returned_ns -= shift;
        s.settled_ns -= shift;
    }
    let t0 = r.t0 + shift;
    let tracefs = r.observers.tracefs;
    let (mut frames, raw_events, lost) = r.observers.stop();
    for f in &mut frames {
        f.t_ns = f.t_ns.saturating_sub(shift);
    }
    if lost > 0 {
        r.notes.push(format!(
            "the trace ring buffer dropped {lost} kernel events"
        ));
    }
    let addresses = r.sandbox.addresses.clone();
    let completions = r
        .late
        .iter()
        .filter_map(|(actor, (t, reply))| match reply {
            Reply::Completed { id, outcome, .. } => Some(Completion {
                t_ns: instant_to_run_ns(*t, t0),
                step: *r.calls.get(&(*actor, *id))?,
                actor: *actor,
                outcome: outcome.clone(),
            }),
            _ => None,
        })
        .collect();
    let environment = Environment {
        kernel: proc::kernel_release(),
        congestion_control: CONGESTION_CONTROL.into(),
        host_congestion_control: r.sandbox.host_congestion_control.clone(),
        sysctls: r.sandbox.sysctls.clone(),
        settle_ms: r.settle.as_secs_f64() * 1e3,
        blocked_after_ms: sc.blocked_after.as_secs_f64() * 1e3,
        tracefs,
    };
    let packets = packets(&frames, &steps, &addresses);
    let events = events(raw_events, &packets, &addresses, t0);
    let notes = std::mem::take(&mut r.notes);
    // The actors die with `r` (their Drop kills and reaps them), after capture has stopped,
    // so teardown packets are not part of the record.
    let mut record = Record {
        scenario: sc.clone(),
        environment,
        addresses,
        steps,
        packets,
        events,
        completions,
        notes,
        expectations: Vec::new(),
        wall_ms: 0.0,
    };
    other_os::annotate(&mut record);
    record.expectations = crate::expect::evaluate(&sc.expectations, &record);
    record.wall_ms = wall.elapsed().as_secs_f64() * 1e3;
    Ok(Run { record, frames })
}

fn instant_to_run_ns(t: Instant, t0: u64) -> u64 {
    let now_mono = proc::monotonic_ns();
    let ago = t.elapsed().as_nanos() as u64;
    now_mono.saturating_sub(ago).saturating_sub(t0)
}

/// Builds one record per TCP segment: first sighting on the sender's link, `crossed` when
/// the router forwarded it onto the far link. Sequence numbers are made relative per
/// connection and direction.
fn packets(
    frames: &[Captured],
    steps: &[StepRecord],
    a: &crate::record::Addresses,
) -> Vec<PacketRecord> {
    let mut out: Vec<PacketRecord> = Vec::new();
    let mut isn: HashMap<(SocketAddr, SocketAddr), u32> = HashMap::new();
    let mut pending_far: Vec<(usize, TcpSegment)> = Vec::new();
    for (idx, f) in frames.iter().enumerate() {
        let Some(seg) = TcpSegment::from_ethernet(&f.data) else {
            continue;
        };
        let from = if seg.src.ip() == a.client {
            Actor::Client
        } else if seg.src.ip() == a.server {
            Actor::Server
        } else {
            continue;
        };
        let sender_link = match from {
            Actor::Client => Link::ClientSide,
            Actor::Server => Link::ServerSide,
        };
        let forged = if f.link != sender_link || f.outgoing {
            // The far-link copy of a forwarded packet: mark its original as crossed.
            if let Some(pos) = pending_far.iter().position(|(_, s)| same_segment(s, &seg)) {
                let (rec, _) = pending_far.remove(pos);
                out[rec].crossed = true;
                continue;
            }
            // Leaving the router toward the sender's own side with no original: the router
            // made it (`reject with tcp reset`).
            if f.outgoing && f.link != sender_link {
                true
            } else {
                continue;
            }
        } else {
            false
        };
        let key = (seg.src, seg.dst);
        if seg.flags.has(Flags::SYN) {
            isn.insert(key, seg.seq);
        }
        let base = *isn.entry(key).or_insert(seg.seq);
        let peer_base = isn.get(&(seg.dst, seg.src)).copied();
        let step = steps
            .iter()
            .rposition(|s| s.start_ns <= f.t_ns)
            .unwrap_or(0);
        out.push(PacketRecord {
            t_ns: f.t_ns,
            step,
            from,
            flags: seg.flags,
            seq: seg.seq.wrapping_sub(base),
            ack: match peer_base {
                Some(b) if seg.flags.has(Flags::ACK) => seg.ack.wrapping_sub(b),
                _ => seg.ack,
            },
            len: seg.payload_len,
            window: seg.window,
            ttl: seg.ttl,
            ip_id: seg.ip_id,
            crossed: forged,
            forged,
            frame: idx,
        });
        if !forged {
            pending_far.push((out.len() - 1, seg));
        }
    }
    out
}

fn same_segment(a: &TcpSegment, b: &TcpSegment) -> bool {
    a.src == b.src
        && a.dst == b.dst
        && a.seq == b.seq
        && a.ack == b.ack
        && a.flags == b.flags
        && a.payload_len == b.payload_len
        && a.ip_id == b.ip_id
}

/// Keeps the events of this run's addresses and orders them causally against the packets:
/// on veth the receiver's events can be stamped before the sender's `tcp_send_reset`.
fn events(
    raw: Vec<tcpmortem_trace::TcpEvent>,
    packets: &[PacketRecord],
    a: &crate::record::Addresses,
    t0: u64,
) -> Vec<KernelEvent> {
    let host_of = |ip: std::net::IpAddr| {
        if ip == a.client {
            Some(Actor::Client)
        } else if ip == a.server {
            Some(Actor::Server)
        } else {
            None
        }
    };
    let mut out: Vec<KernelEvent> = raw
        .into_iter()
        .filter_map(|e| {
            let host = host_of(e.local?.ip())?;
            let t = e.ts_ns.saturating_sub(t0);
            Some(KernelEvent {
                t_ns: t,
                order_ns: t,
                host: Some(host),
                tcp: e,
            })
        })
        .collect();
    const NEAR: u64 = 5_000_000;
    let rsts: Vec<&PacketRecord> = packets.iter().filter(|p| p.flags.has(Flags::RST)).collect();
    for e in &mut out {
        let Some(host) = e.host else { continue };
        if e.tcp.event == "tcp_send_reset" {
            // The RST this host sent: the event belongs just before it.
            if let Some(p) = rsts
                .iter()
                .filter(|p| p.from == host && p.t_ns.abs_diff(e.t_ns) < NEAR)
                .min_by_key(|p| p.t_ns.abs_diff(e.t_ns))
            {
                e.order_ns = e.t_ns.min(p.t_ns.saturating_sub(1));
            }
        } else if let Some(p) = rsts
            .iter()
            .filter(|p| p.from == host.peer() && p.t_ns.abs_diff(e.t_ns) < NEAR)
            .min_by_key(|p| p.t_ns.abs_diff(e.t_ns))
        {
            // What the receiving host did about a RST comes after the RST.
            let caused = e.tcp.event == "tcp_receive_reset"
                || e.tcp.event == "inet_sk_error_report"
                || e.tcp.new_state == Some(TcpState::Close);
            if caused {
                e.order_ns = e.t_ns.max(p.t_ns + 1);
            }
        }
    }
    out.sort_by_key(|e| e.order_ns);
    out
}
