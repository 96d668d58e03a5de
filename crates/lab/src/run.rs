//! Running a scenario: sandbox, actors, observers, steps with settle detection, and the record.

use crate::actor::{ActorProc, Cmd, Done, Held, Reply, Target, send_cmd};
use crate::calls::CallTracer;
use crate::counters::{self, Counters};
use crate::error::LabError;
use crate::observe::{Captured, Observers};
use crate::other_os;
use crate::program::Program;
use crate::record::{
    Addresses, CallRecord, Caller, Connection, EndState, Environment, Interruption, KernelEvent,
    Link, ListenerState, Outcome, PacketRecord, Proto, Record, Source, StepRecord,
};
use crate::record::{ProgramCall, ProgramRecord};
use crate::sandbox::{CONGESTION_CONTROL, Sandbox};
use crate::scenario::{Actor, Host, Op, Scenario, Signal, StepKind};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tcpmortem_core::TcpState;
use tcpmortem_kernel::diag::{Diag, DiagSocket};
use tcpmortem_kernel::netns::ProcNetFile;
use tcpmortem_kernel::proc;
use tcpmortem_wire::{Flags, TcpSegment};

/// Told before each step: (index of the step about to run, number of steps).
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// How a run is done.
#[derive(Clone)]
pub struct RunOptions {
    /// The tcpmortem executable, re-executed as the actors.
    pub actor_exe: PathBuf,
    /// Overrides the scenario's settle time.
    pub settle: Option<Duration>,
    /// Longest a step may wait for the network to settle.
    pub max_settle: Duration,
    /// Longest a single call may take to answer (beyond `blocked-after`) before the run fails.
    pub call_timeout: Duration,
    /// Record kernel events (when available).
    pub tracefs: bool,
    /// Read them only this way (None: eBPF, else tracefs).
    pub kernel_events: Option<crate::observe::KernelEvents>,
    /// Called before each step, to show progress.
    pub progress: Option<Progress>,
}

impl RunOptions {
    pub fn new(actor_exe: PathBuf) -> RunOptions {
        RunOptions {
            actor_exe,
            settle: None,
            max_settle: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            tracefs: true,
            kernel_events: None,
            progress: None,
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

/// A host's /proc/net counter files, opened inside its namespace.
struct CounterFiles {
    host: Host,
    files: Vec<ProcNetFile>,
}

impl CounterFiles {
    /// `ipv6`: read snmp6 too (ICMPv6); over IPv4 nothing there moves.
    fn open(host: Host, ns: &tcpmortem_kernel::netns::NetNs, ipv6: bool) -> CounterFiles {
        let names: &[&str] = if ipv6 {
            &["netstat", "snmp", "snmp6"]
        } else {
            &["netstat", "snmp"]
        };
        let files = ns
            .run(|| {
                names
                    .iter()
                    .filter_map(|n| ProcNetFile::open(n).ok())
                    .collect()
            })
            .unwrap_or_default();
        CounterFiles { host, files }
    }

    fn read(&mut self) -> Counters {
        let mut c = Counters::new();
        for f in &mut self.files {
            if let Ok(text) = f.read() {
                counters::parse(&text, &mut c);
            }
        }
        c
    }
}

/// A step's call, or calls, as the runner made them.
struct Made {
    actor: Option<Actor>,
    conn: Option<u32>,
    outcome: Option<Outcome>,
    sigpipe: bool,
    calls: Vec<usize>,
    /// When the step's action ended (its call returned, or was reported blocked).
    returned_ns: u64,
}

impl Made {
    fn none(at: u64) -> Made {
        Made {
            actor: None,
            conn: None,
            outcome: None,
            sigpipe: false,
            calls: Vec::new(),
            returned_ns: at,
        }
    }
}

struct Runner<'a> {
    sc: &'a Scenario,
    opts: &'a RunOptions,
    sandbox: Sandbox,
    diag: [Diag; 2],
    counter_files: Vec<CounterFiles>,
    last_counters: Vec<Counters>,
    observers: Observers,
    actors: [ActorProc; 2],
    settle: Duration,
    /// Connections by (client end, server end), in the order they appeared; id = index + 1.
    conns: Vec<(SocketAddr, SocketAddr)>,
    /// Each actor's newest connection, as calls without `#N` use it.
    newest: [Option<u32>; 2],
    /// Calls, with CLOCK_MONOTONIC times.
    calls: Vec<CallRecord>,
    /// (actor, request id) of a call reported blocked → its index in `calls`.
    pending: HashMap<(Actor, u64), usize>,
    notes: Vec<String>,
    /// The user's programs, with the step that started each.
    programs: Vec<(usize, Program)>,
    /// Their socket calls, when tracefs is available.
    tracer: Option<CallTracer>,
}

fn idx(a: Actor) -> usize {
    match a {
        Actor::Client => 0,
        Actor::Server => 1,
    }
}

impl Runner<'_> {
    fn now(&self) -> u64 {
        proc::monotonic_ns()
    }

    fn actor(&mut self, a: Actor) -> &mut ActorProc {
        &mut self.actors[idx(a)]
    }

    /// The connection of a (client end, server end) pair, registered if new.
    fn register(&mut self, client: SocketAddr, server: SocketAddr) -> Option<u32> {
        if client.port() == 0 || server.port() == 0 || server.ip().is_unspecified() {
            return None;
        }
        let client = if client.ip().is_unspecified() {
            SocketAddr::new(self.sandbox.addresses.client, client.port())
        } else {
            client
        };
        let pos = match self.conns.iter().position(|c| *c == (client, server)) {
            Some(p) => p,
            None => {
                self.conns.push((client, server));
                self.conns.len() - 1
            }
        };
        Some(pos as u32 + 1)
    }

    /// The connection of an actor's socket, from its local and peer addresses.
    fn conn_of(
        &mut self,
        actor: Actor,
        local: Option<SocketAddr>,
        peer: Option<SocketAddr>,
    ) -> Option<u32> {
        let (local, peer) = (local?, peer?);
        match actor {
            Actor::Client => self.register(local, peer),
            Actor::Server => self.register(peer, local),
        }
    }

    /// Answers from actors that came while another answer was awaited: completions of calls
    /// reported blocked.
    fn absorb(&mut self, actor: Actor, late: Vec<Reply>) {
        for r in late {
            if let Reply::Completed { id, done } = r
                && let Some(i) = self.pending.remove(&(actor, id))
            {
                self.complete(actor, i, done);
            }
        }
    }

    fn complete(&mut self, actor: Actor, i: usize, done: Done) {
        if self.calls[i].conn.is_none() {
            self.calls[i].conn = self.conn_of(actor, done.local, done.peer);
        }
        let c = &mut self.calls[i];
        c.returned_ns = Some(done.end_ns);
        c.outcome = Some(done.outcome);
        c.sigpipe = done.sigpipe;
    }

    fn drain(&mut self) {
        for a in Actor::BOTH {
            let mut late = Vec::new();
            self.actor(a).drain(&mut late);
            self.absorb(a, late);
        }
    }

    /// Every known connection's two ends, and the listening sockets. New connections found
    /// in the hosts' socket tables are registered.
    fn ends(&mut self) -> (Vec<EndState>, Vec<ListenerState>) {
        // Bound-inactive sockets belong to no connection and are not asked for (their dump
        // walks the host's whole bind hash).
        let dump = |d: &mut Diag| {
            let mut v = d.tcp_listeners().unwrap_or_default();
            v.extend(d.tcp_connections().unwrap_or_default());
            v
        };
        let dumps = [dump(&mut self.diag[0]), dump(&mut self.diag[1])];
        let mut listeners = Vec::new();
        for a in Actor::BOTH {
            for s in &dumps[idx(a)] {
                if s.status.state == TcpState::Listen.number() {
                    listeners.push(ListenerState {
                        host: a,
                        local: s.local,
                        accept_queue: s.status.recv_q,
                        backlog: s.status.send_q,
                    });
                } else {
                    let (l, r) = (Some(s.local), Some(s.remote));
                    self.conn_of(a, l, r);
                }
            }
        }
        let mut held: [Option<Vec<Held>>; 2] = [None, None];
        let mut ends = Vec::new();
        for (n, (c, s)) in self.conns.clone().into_iter().enumerate() {
            let id = n as u32 + 1;
            for a in Actor::BOTH {
                let (local, remote) = match a {
                    Actor::Client => (c, s),
                    Actor::Server => (s, c),
                };
                let mut end = end_in(a, id, &dumps[idx(a)], local, remote);
                // sock_diag lists only hashed sockets: one in CLOSE that its application
                // still holds is visible only to its owner, through TCP_INFO.
                if end.state.is_none() && !self.actors[idx(a)].dead {
                    if held[idx(a)].is_none() {
                        held[idx(a)] = Some(self.held(a));
                    }
                    if let Some(h) = held[idx(a)].iter().flatten().find(|h| {
                        !h.listener
                            && h.peer == Some(remote)
                            && h.local.map(|l| l.port()) == Some(local.port())
                    }) {
                        end = EndState::from_kernel(a, id, Some(&h.diag_state()), Source::TcpInfo);
                    }
                }
                ends.push(end);
            }
        }
        (ends, listeners)
    }

    fn held(&mut self, a: Actor) -> Vec<Held> {
        let (blocked_after, timeout) = (self.sc.blocked_after, self.opts.call_timeout);
        let mut late = Vec::new();
        let reply = self
            .actor(a)
            .call(Cmd::Info, Target::Newest, blocked_after, timeout, &mut late)
            .ok();
        self.absorb(a, late);
        match reply {
            Some((_, Reply::Info { held, .. })) => held,
            _ => Vec::new(),
        }
    }

    fn read_counters(&mut self) -> Vec<crate::record::CounterDelta> {
        let mut out = Vec::new();
        for (i, f) in self.counter_files.iter_mut().enumerate() {
            let now = f.read();
            out.extend(counters::moved(f.host, &self.last_counters[i], &now));
            self.last_counters[i] = now;
        }
        out
    }

    /// Waits until nothing happened for the settle time: no packet on either link, no state
    /// change in either host, no kernel event.
    fn settle(&mut self, index: usize) {
        let start = Instant::now();
        let settle = self.settle.as_nanos() as u64;
        // Listeners and bound sockets are left out: they change only by a call (the step's
        // own) or with a packet (a SYN, the handshake's ACK), which the observers see.
        let dump = |r: &mut Runner| {
            (
                r.diag[0].tcp_connections().unwrap_or_default(),
                r.diag[1].tcp_connections().unwrap_or_default(),
            )
        };
        // The first dump shows the states as they were when it began.
        let mut quiet_since = proc::monotonic_ns();
        let mut last = dump(self);
        loop {
            // Sleep until the quiet period would end, polling at least every 2 ms for state
            // changes that send nothing (a close in CLOSE_WAIT, a timer's expiry), so that
            // the step ends within a dump's time of the settle time, not a poll's.
            let activity = self.observers.last_activity_mono().max(quiet_since);
            let left = (activity + settle).saturating_sub(proc::monotonic_ns());
            std::thread::sleep(Duration::from_nanos(left.clamp(100_000, 2_000_000)));
            if proc::interrupted() {
                return;
            }
            self.drain();
            self.enforce_limits();
            let before_dump = proc::monotonic_ns();
            let now_dump = dump(self);
            if now_dump != last {
                // It changed somewhere between the dump before and the end of this one.
                quiet_since = proc::monotonic_ns();
                last = now_dump;
            }
            let activity = self.observers.last_activity_mono().max(quiet_since);
            if before_dump.saturating_sub(activity) >= settle {
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

    /// The socket a call without `#N` or with it acts on.
    fn target(&self, actor: Actor, conn: Option<u32>) -> Result<Target, String> {
        let Some(n) = conn else {
            return Ok(Target::Newest);
        };
        let (c, s) = *self
            .conns
            .get(n as usize - 1)
            .ok_or_else(|| format!("there is no connection #{n}"))?;
        Ok(match actor {
            Actor::Client => Target::Conn {
                local_port: c.port(),
                peer: s,
            },
            Actor::Server => Target::Conn {
                local_port: s.port(),
                peer: c,
            },
        })
    }

    /// Sends one call to an actor and records it.
    fn issue(
        &mut self,
        step: usize,
        line: usize,
        actor: Actor,
        target: Target,
        cmd: Cmd,
    ) -> Result<usize, LabError> {
        let text = cmd.text();
        let is_open = matches!(cmd, Cmd::Connect { .. } | Cmd::Accept);
        let (blocked_after, timeout) = (self.sc.blocked_after, self.opts.call_timeout);
        let mut late = Vec::new();
        let sent = self.now();
        let answer = self
            .actor(actor)
            .call(cmd, target, blocked_after, timeout, &mut late);
        self.absorb(actor, late);
        let (id, reply) = answer?;
        let mut call = CallRecord {
            step,
            host: actor,
            by: Caller::Lab,
            call: text,
            conn: None,
            start_ns: sent,
            returned_ns: None,
            blocked: false,
            outcome: None,
            sigpipe: false,
        };
        match reply {
            Reply::Returned { done, .. } => {
                call.conn = self.conn_of(actor, done.local, done.peer);
                call.start_ns = done.start_ns;
                call.returned_ns = Some(done.end_ns);
                call.outcome = Some(done.outcome);
                call.sigpipe = done.sigpipe;
            }
            Reply::Blocked {
                start_ns,
                local,
                peer,
                ..
            } => {
                call.conn = self.conn_of(actor, local, peer);
                call.start_ns = start_ns;
                call.blocked = true;
            }
            Reply::Refused { message, .. } => {
                return Err(LabError::Scenario { line, message });
            }
            Reply::Completed { .. } | Reply::Info { .. } => {
                return Err(LabError::Actor("unexpected answer".into()));
            }
        }
        if is_open && call.conn.is_some() {
            self.newest[idx(actor)] = call.conn;
        }
        self.calls.push(call);
        let i = self.calls.len() - 1;
        if self.calls[i].blocked {
            self.pending.insert((actor, id), i);
        }
        Ok(i)
    }

    /// Runs a step's call(s).
    fn call(
        &mut self,
        step: usize,
        line: usize,
        actor: Actor,
        conn: Option<u32>,
        op: &Op,
    ) -> Result<Made, LabError> {
        if self.actors[idx(actor)].dead {
            return Err(LabError::Scenario {
                line,
                message: format!("the {actor} was killed earlier; it cannot {}", op.text()),
            });
        }
        let scenario = |message: String| LabError::Scenario { line, message };
        let target = self.target(actor, conn).map_err(scenario)?;
        let a = self.sandbox.addresses.clone();
        let set = |level, option, value, name: &str| Cmd::SetInt {
            level,
            option,
            value,
            name: name.into(),
        };
        let cmds: Vec<Cmd> = match op {
            Op::Kill => return self.kill(step, actor),
            Op::Abort => return self.abort(step, line, actor, conn),
            Op::Listen { backlog } => vec![Cmd::Listen {
                addr: SocketAddr::new(a.server, a.server_port),
                backlog: *backlog,
            }],
            Op::Connect { port } => vec![Cmd::Connect {
                addr: SocketAddr::new(a.server, port.unwrap_or(a.server_port)),
            }],
            Op::Accept => vec![Cmd::Accept],
            Op::Send { data } => vec![send_cmd(&data.bytes())],
            Op::Recv { max } => vec![Cmd::Recv { max: *max }],
            Op::Close => vec![Cmd::Close],
            Op::Shutdown { how } => vec![Cmd::Shutdown { how: *how }],
            Op::Linger { seconds } => vec![Cmd::Linger { seconds: *seconds }],
            Op::UserTimeout { ms } => vec![set(
                libc::IPPROTO_TCP,
                libc::TCP_USER_TIMEOUT,
                *ms as i32,
                "TCP_USER_TIMEOUT",
            )],
            Op::Nodelay => vec![set(libc::IPPROTO_TCP, libc::TCP_NODELAY, 1, "TCP_NODELAY")],
            Op::Rcvbuf { bytes } => vec![set(
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                *bytes as i32,
                "SO_RCVBUF",
            )],
            Op::Sndbuf { bytes } => vec![set(
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                *bytes as i32,
                "SO_SNDBUF",
            )],
            // SO_KEEPALIVE first, as applications do. Set on an established socket, it arms
            // the timer for the idle time from now; TCP_KEEPIDLE then re-arms it counting from
            // the last packet received (tcp_sock_set_keepidle_locked()); the other order
            // counts idle time from the setsockopt. TCP_KEEPIDLE comes last: once the idle
            // time has already passed it sends the first probe at once and arms the next with
            // the interval then in force, so a TCP_KEEPINTVL set after it would come too late
            // for that probe (the next one then waits the default 75 s).
            Op::Keepalive {
                idle,
                interval,
                count,
            } => vec![
                set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1, "SO_KEEPALIVE"),
                set(
                    libc::IPPROTO_TCP,
                    libc::TCP_KEEPINTVL,
                    *interval as i32,
                    "TCP_KEEPINTVL",
                ),
                set(
                    libc::IPPROTO_TCP,
                    libc::TCP_KEEPCNT,
                    *count as i32,
                    "TCP_KEEPCNT",
                ),
                set(
                    libc::IPPROTO_TCP,
                    libc::TCP_KEEPIDLE,
                    *idle as i32,
                    "TCP_KEEPIDLE",
                ),
            ],
        };
        let mut made = Made::none(self.now());
        made.actor = Some(actor);
        for cmd in cmds {
            let i = self.issue(step, line, actor, target, cmd)?;
            made.calls.push(i);
            let c = &self.calls[i];
            made.conn = made.conn.or(c.conn);
            made.sigpipe |= c.sigpipe;
            made.returned_ns = c.returned_ns.unwrap_or_else(proc::monotonic_ns);
            let o = c.outcome.clone().unwrap_or(Outcome::Blocked);
            let stop = o != Outcome::Ok;
            made.outcome = Some(o);
            if stop {
                break;
            }
        }
        if made.conn.is_none() && conn.is_none() {
            made.conn = self.newest[idx(actor)];
        }
        Ok(made)
    }

    fn kill(&mut self, step: usize, actor: Actor) -> Result<Made, LabError> {
        let start = self.now();
        self.actor(actor).kill()?;
        let end = self.now();
        self.calls.push(CallRecord {
            step,
            host: actor,
            by: Caller::Lab,
            call: "kill (SIGKILL)".into(),
            conn: None,
            start_ns: start,
            returned_ns: Some(end),
            blocked: false,
            outcome: Some(Outcome::Killed),
            sigpipe: false,
        });
        Ok(Made {
            actor: Some(actor),
            conn: None,
            outcome: Some(Outcome::Killed),
            sigpipe: false,
            calls: vec![self.calls.len() - 1],
            returned_ns: end,
        })
    }

    /// SOCK_DESTROY of the actor's end of a connection, from its own namespace (`ss -K`).
    fn abort(
        &mut self,
        step: usize,
        line: usize,
        actor: Actor,
        conn: Option<u32>,
    ) -> Result<Made, LabError> {
        let scenario = |message: String| LabError::Scenario { line, message };
        let id = conn
            .or(self.newest[idx(actor)])
            .ok_or_else(|| scenario("abort needs a connection".into()))?;
        let (c, s) = *self
            .conns
            .get(id as usize - 1)
            .ok_or_else(|| scenario(format!("there is no connection #{id}")))?;
        let (local, remote) = match actor {
            Actor::Client => (c, s),
            Actor::Server => (s, c),
        };
        let diag = &mut self.diag[idx(actor)];
        let sock = diag
            .tcp_sockets()
            .unwrap_or_default()
            .into_iter()
            .find(|x| x.local == local && x.remote == remote)
            .ok_or_else(|| scenario(format!("the {actor} has no socket to abort")))?;
        let start = proc::monotonic_ns();
        let outcome = match diag.destroy(&sock) {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::error(e.errno().unwrap_or(libc::EIO)),
        };
        let end = proc::monotonic_ns();
        self.calls.push(CallRecord {
            step,
            host: actor,
            by: Caller::Lab,
            call: "SOCK_DESTROY (ss -K)".into(),
            conn: Some(id),
            start_ns: start,
            returned_ns: Some(end),
            blocked: false,
            outcome: Some(outcome.clone()),
            sigpipe: false,
        });
        Ok(Made {
            actor: Some(actor),
            conn: Some(id),
            outcome: Some(outcome),
            sigpipe: false,
            calls: vec![self.calls.len() - 1],
            returned_ns: end,
        })
    }

    /// The host forgets every connection: its sockets are destroyed while the router drops
    /// what they send (the RSTs tcp_abort() emits), then the path is open again.
    fn reboot(&mut self, host: Actor, line: usize) -> Result<(), LabError> {
        let ip = self.sandbox.addresses.of(host);
        crate::faults::silence(&self.sandbox, ip, true).map_err(|e| e.at(line))?;
        let diag = &mut self.diag[idx(host)];
        for sock in diag.tcp_sockets().unwrap_or_default() {
            // TIME_WAIT mini-sockets cannot be destroyed; a reboot would lose them too, but
            // they answer nothing but stray segments, which the next steps do not send.
            let _ = diag.destroy(&sock);
        }
        // Let the dropped RSTs leave before the path opens again.
        std::thread::sleep(Duration::from_millis(5));
        crate::faults::silence(&self.sandbox, ip, false).map_err(|e| e.at(line))
    }

    /// Runs one step's action.
    fn act(&mut self, i: usize, step: &crate::scenario::Step) -> Result<Made, LabError> {
        let scenario = |message: String| LabError::Scenario {
            line: step.line,
            message,
        };
        match &step.kind {
            StepKind::Sleep { duration } => {
                let end = Instant::now() + *duration;
                while Instant::now() < end {
                    if proc::interrupted() {
                        return Err(LabError::Interrupted);
                    }
                    std::thread::sleep((end - Instant::now()).min(Duration::from_millis(10)));
                }
            }
            StepKind::Call { actor, conn, op } => {
                return self.call(i, step.line, *actor, *conn, op);
            }
            StepKind::Sysctl { host, key, value } => {
                let ns = match host {
                    Host::Client => &self.sandbox.client,
                    Host::Router => &self.sandbox.router,
                    Host::Server => &self.sandbox.server,
                };
                let (k, v) = (key.clone(), value.clone());
                ns.run(move || tcpmortem_kernel::netns::write_sysctl(&k, &v))
                    .and_then(|x| x)
                    .map_err(|e| scenario(e.to_string()))?;
            }
            StepKind::Reboot { host } => self.reboot(*host, step.line)?,
            StepKind::Exec { actor, argv } => return self.exec(i, step.line, *actor, argv),
            StepKind::Wait { actor, timeout } => return self.wait(step.line, *actor, *timeout),
            StepKind::WaitListening { timeout } => return self.wait_listening(*timeout),
            StepKind::Signal { actor, signal } => {
                return self.signal(step.line, *actor, *signal);
            }
            StepKind::Net { op } => {
                crate::faults::apply(&self.sandbox, op).map_err(|e| e.at(step.line))?;
            }
        }
        Ok(Made::none(self.now()))
    }
}

impl Runner<'_> {
    /// The placeholders' values: `{server}`, `{server_addr}`, `{port}`, `{client_addr}`.
    fn placeholder_values(&self) -> [String; 4] {
        let a = &self.sandbox.addresses;
        [
            SocketAddr::new(a.server, a.server_port).to_string(),
            a.server.to_string(),
            a.server_port.to_string(),
            a.client.to_string(),
        ]
    }

    fn program(&mut self, actor: Actor) -> Option<&mut Program> {
        self.programs
            .iter_mut()
            .rev()
            .find(|(_, p)| p.actor == actor)
            .map(|(_, p)| p)
    }

    /// Kills the programs that outlived their time limit.
    fn enforce_limits(&mut self) {
        let limit = self.sc.program_timeout;
        let mut killed = Vec::new();
        for (_, p) in &mut self.programs {
            if p.enforce_limit() {
                killed.push(format!(
                    "the {}'s program {} (pid {}) ran past its time limit of {:?} and was killed (SIGKILL); `program-timeout` sets the limit",
                    p.actor, p.argv[0], p.pid, limit
                ));
            }
        }
        self.notes.extend(killed);
    }

    fn exec(
        &mut self,
        step: usize,
        line: usize,
        actor: Actor,
        argv: &[String],
    ) -> Result<Made, LabError> {
        let values = self.placeholder_values();
        let argv: Vec<String> = argv
            .iter()
            .map(|w| crate::parse::substitute(w, &values))
            .collect();
        let env = crate::parse::PLACEHOLDERS
            .iter()
            .zip(&values)
            .map(|((_, var), v)| (var.to_string(), v.clone()))
            .collect();
        let ns = match actor {
            Actor::Client => self.sandbox.client.raw_fd(),
            Actor::Server => self.sandbox.server.raw_fd(),
        };
        let trace = self.tracer.as_ref().map(CallTracer::spawn_hook);
        let p =
            Program::start(actor, argv, env, ns, self.sc.program_timeout, trace).map_err(|e| {
                LabError::Scenario {
                    line,
                    message: e.to_string(),
                }
            })?;
        if let Some(t) = &self.tracer {
            t.add_program(p.pid);
        }
        let mut made = Made::none(p.started_ns);
        made.actor = Some(actor);
        made.outcome = Some(Outcome::Started { pid: p.pid });
        self.programs.push((step, p));
        Ok(made)
    }

    /// How a program ended, as a step's outcome.
    fn ended_outcome(e: &crate::program::Exit) -> Outcome {
        match e {
            crate::program::Exit::Code { code } => Outcome::Exited { code: *code },
            crate::program::Exit::Signal { signal, .. } => Outcome::Signaled {
                signal: signal.clone(),
            },
        }
    }

    fn wait(
        &mut self,
        line: usize,
        actor: Actor,
        timeout: Option<Duration>,
    ) -> Result<Made, LabError> {
        let start = Instant::now();
        let p = self.program(actor).ok_or_else(|| LabError::Scenario {
            line,
            message: format!("the {actor} runs no program"),
        })?;
        // Up to the timeout given, or to the program's time limit (then it is killed).
        let until_limit = p.deadline.saturating_duration_since(start);
        let budget = timeout.map_or(until_limit, |t| t.min(until_limit));
        let exited = p.wait(budget, proc::interrupted);
        if !exited && proc::interrupted() {
            return Err(LabError::Interrupted);
        }
        if !exited && timeout.is_none_or(|t| t >= until_limit) {
            self.enforce_limits();
            if let Some(p) = self.program(actor) {
                p.wait(Duration::from_secs(2), || false);
            }
        }
        let p = self.program(actor).expect("found above");
        let mut made = Made::none(proc::monotonic_ns());
        made.actor = Some(actor);
        made.outcome = Some(match p.ended() {
            Some((e, at)) => {
                made.returned_ns = at;
                Self::ended_outcome(&e)
            }
            None => Outcome::Blocked,
        });
        Ok(made)
    }

    fn wait_listening(&mut self, timeout: Option<Duration>) -> Result<Made, LabError> {
        let end = Instant::now() + timeout.unwrap_or(self.sc.program_timeout);
        let port = self.sandbox.addresses.server_port;
        let mut made = Made::none(proc::monotonic_ns());
        made.actor = Some(Actor::Server);
        loop {
            let listening = self.diag[1]
                .tcp_listeners()
                .unwrap_or_default()
                .iter()
                .any(|s| s.status.state == TcpState::Listen.number() && s.local.port() == port);
            if listening {
                made.outcome = Some(Outcome::Ok);
                break;
            }
            if let Some((e, at)) = self.program(Actor::Server).and_then(|p| p.ended()) {
                // It exited without ever listening.
                made.outcome = Some(Self::ended_outcome(&e));
                made.returned_ns = at;
                return Ok(made);
            }
            if proc::interrupted() {
                return Err(LabError::Interrupted);
            }
            if Instant::now() >= end {
                made.outcome = Some(Outcome::Blocked);
                break;
            }
            self.enforce_limits();
            std::thread::sleep(Duration::from_millis(1));
        }
        made.returned_ns = proc::monotonic_ns();
        Ok(made)
    }

    fn signal(&mut self, line: usize, actor: Actor, signal: Signal) -> Result<Made, LabError> {
        let p = self.program(actor).ok_or_else(|| LabError::Scenario {
            line,
            message: format!("the {actor} runs no program"),
        })?;
        let sent = p.signal(signal.number());
        if let Err(errno) = sent {
            // The program had already exited: the step says so, the run goes on.
            let mut made = Made::none(proc::monotonic_ns());
            made.actor = Some(actor);
            made.outcome = Some(Outcome::error(errno));
            return Ok(made);
        }
        if signal == Signal::Kill {
            // The kernel closes its sockets as it dies: the step is about what follows.
            p.wait(Duration::from_secs(2), || false);
        }
        let mut made = Made::none(proc::monotonic_ns());
        made.actor = Some(actor);
        made.outcome = Some(if signal == Signal::Kill {
            Outcome::Killed
        } else {
            Outcome::Ok
        });
        Ok(made)
    }
}

/// One end of a connection in a host's socket table. A request socket (NEW_SYN_RECV) is
/// listed too; a full socket is preferred.
fn end_in(
    host: Actor,
    conn: u32,
    socks: &[DiagSocket],
    local: SocketAddr,
    remote: SocketAddr,
) -> EndState {
    let s = socks
        .iter()
        .filter(|s| s.local == local && s.remote == remote)
        .min_by_key(|s| u8::from(s.status.state == TcpState::NewSynRecv.number()));
    EndState::from_kernel(host, conn, s.map(|s| &s.status), Source::SockDiag)
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        n => format!("signal {n}"),
    }
}

/// Runs a scenario and returns what was observed. A run cut short by SIGINT, SIGTERM or
/// SIGHUP returns what was recorded before the signal, with [`Record::interrupted`] set.
/// A thread joined when dropped: a run that fails early waits for the tracefs instance its
/// thread is making, so that the instance is removed before the process exits.
struct JoinOnDrop<T>(Option<std::thread::JoinHandle<T>>);

impl<T> Drop for JoinOnDrop<T> {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

pub fn run(sc: &Scenario, opts: &RunOptions) -> Result<Run, LabError> {
    let wall = Instant::now();
    check_privileges()?;
    crate::faults::preflight(sc)?;
    crate::program::check_programs(sc)?;
    // Programs an earlier tcpmortem left when it was SIGKILLed.
    let swept = crate::program::sweep();
    // The server-side ports of the run's connections: the server's, and those `connect N`
    // names. The kernel-event instance, filtered by them, is made while the sandbox is built.
    let mut ports = vec![crate::sandbox::SERVER_PORT];
    ports.extend(sc.steps.iter().filter_map(|s| match &s.kind {
        StepKind::Call {
            op: Op::Connect { port: Some(p) },
            ..
        } => Some(*p),
        _ => None,
    }));
    ports.sort_unstable();
    ports.dedup();
    let pending_trace = opts
        .tracefs
        .then(|| crate::observe::PendingTrace::begin(ports, opts.kernel_events));
    // Likewise the programs' call tracer (its BPF programs loaded, or the fallback's instance).
    let tracing_calls = sc.runs_programs() && opts.tracefs;
    let mut tracer_prepared =
        JoinOnDrop(tracing_calls.then(|| std::thread::spawn(CallTracer::prepare)));
    let sandbox = Sandbox::new(sc.ipv6)?;
    let kerr = |e: tcpmortem_kernel::Error| LabError::Setup(e.to_string());
    let diag = [
        sandbox
            .client
            .run(Diag::open)
            .and_then(|r| r)
            .map_err(kerr)?,
        sandbox
            .server
            .run(Diag::open)
            .and_then(|r| r)
            .map_err(kerr)?,
    ];
    let mut counter_files = vec![
        CounterFiles::open(Host::Client, &sandbox.client, sc.ipv6),
        CounterFiles::open(Host::Router, &sandbox.router, sc.ipv6),
        CounterFiles::open(Host::Server, &sandbox.server, sc.ipv6),
    ];
    let last_counters = counter_files.iter_mut().map(CounterFiles::read).collect();
    let mut notes = Vec::new();
    if counter_files.iter().any(|f| f.files.is_empty()) {
        notes.push("kernel counters missing: /proc/net/netstat could not be read".into());
    }
    let t0 = proc::monotonic_ns();
    if !swept.is_empty() {
        notes.push(format!(
            "killed {} program process(es) an earlier tcpmortem run had left behind: {:?}",
            swept.len(),
            swept
        ));
    }
    // The actors start while the kernel view is still being loaded: they wait for commands,
    // and nothing runs in the namespaces until the observers are up.
    let client = ActorProc::spawn(&opts.actor_exe, sandbox.client.raw_fd())?;
    let server = ActorProc::spawn(&opts.actor_exe, sandbox.server.raw_fd())?;
    let tracer_start = tracer_prepared.0.take().map(|h| {
        let ours = [sandbox.addresses.client, sandbox.addresses.server];
        h.join().map(|p| p.map(|p| p.start(ours)))
    });
    let observers = Observers::start(&sandbox, t0, pending_trace, &mut notes)?;
    let tracer = match tracer_start {
        Some(Ok(Ok(t))) => {
            notes.extend(t.note.clone());
            Some(t)
        }
        Some(Ok(Err(e))) => {
            notes.push(format!("the programs' socket calls are not traced: {e}"));
            None
        }
        Some(Err(_)) => {
            notes.push(
                "the programs' socket calls are not traced: the tracer's thread failed".into(),
            );
            None
        }
        None => {
            if sc.runs_programs() {
                notes.push("the programs' socket calls are not traced: tracefs was not used (--no-tracefs)".into());
            }
            None
        }
    };
    let mut r = Runner {
        sc,
        opts,
        sandbox,
        diag,
        counter_files,
        last_counters,
        observers,
        actors: [client, server],
        settle: opts.settle.unwrap_or(sc.settle),
        conns: Vec::new(),
        newest: [None, None],
        calls: Vec::new(),
        pending: HashMap::new(),
        notes,
        programs: Vec::new(),
        tracer,
    };
    if !sc.listens_itself() {
        // Interrupted before the first step: there is nothing to record.
        r.call(
            usize::MAX,
            0,
            Actor::Server,
            None,
            &Op::Listen { backlog: 128 },
        )
        .map_err(|e| {
            if proc::interrupted() {
                LabError::Interrupted
            } else {
                e
            }
        })?;
        // The implicit listen is not a step of the scenario.
        r.calls.clear();
        r.pending.clear();
    }
    let _ = r.read_counters();
    let mut steps: Vec<StepRecord> = Vec::new();
    let mut interrupted: Option<usize> = None;
    for (i, step) in sc.steps.iter().enumerate() {
        if let Some(p) = &opts.progress {
            p(i, sc.steps.len());
        }
        if proc::interrupted() {
            interrupted = Some(i);
            break;
        }
        // The network was quiet when the step before settled, and nothing has run since: its
        // states after are this step's before.
        let before = match steps.last() {
            Some(prev) if !prev.after.is_empty() => prev.after.clone(),
            _ => r.ends().0,
        };
        let start_ns = r.now();
        let made = match r.act(i, step) {
            Ok(m) => m,
            Err(e) if matches!(e, LabError::Interrupted) || proc::interrupted() => {
                // The step is cut short: what it did so far is kept, nothing after.
                steps.push(StepRecord {
                    index: i,
                    line: step.line,
                    text: step.text.clone(),
                    actor: match &step.kind {
                        StepKind::Call { actor, .. } => Some(*actor),
                        _ => None,
                    },
                    conn: None,
                    start_ns,
                    returned_ns: start_ns,
                    settled_ns: start_ns,
                    outcome: None,
                    sigpipe: false,
                    calls: r
                        .calls
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| c.step == i)
                        .map(|(k, _)| k)
                        .collect(),
                    before,
                    after: Vec::new(),
                    listeners: Vec::new(),
                    counters: Vec::new(),
                    other_os: Vec::new(),
                });
                interrupted = Some(i);
                break;
            }
            Err(e) => return Err(e),
        };
        r.settle(i);
        let interrupted_here = proc::interrupted();
        let (after, listeners) = if interrupted_here {
            (Vec::new(), Vec::new())
        } else {
            r.ends()
        };
        let counters = if interrupted_here {
            Vec::new()
        } else {
            r.read_counters()
        };
        steps.push(StepRecord {
            index: i,
            line: step.line,
            text: step.text.clone(),
            actor: made.actor,
            conn: made.conn,
            start_ns,
            returned_ns: made.returned_ns,
            settled_ns: r.now(),
            outcome: made.outcome,
            sigpipe: made.sigpipe,
            calls: made.calls,
            before,
            after,
            listeners,
            counters,
            other_os: Vec::new(),
        });
        if interrupted_here {
            interrupted = Some(i);
            break;
        }
    }
    if let Some(p) = &opts.progress {
        p(steps.len(), sc.steps.len());
    }
    r.drain();
    // A signal that came between steps cut short the one before it (its settling, or the
    // reading of its states); one that came before any step leaves nothing to show.
    if interrupted.is_some() && steps.is_empty() {
        return Err(LabError::Interrupted);
    }
    let interruption = interrupted.and_then(|step| {
        let (sig, at) = proc::interruption()?;
        Some((step.min(steps.len() - 1), sig, at))
    });
    // Times in the record count from the first step, not from the sandbox's set-up.
    let base = steps.first().map_or(t0, |s| s.start_ns);
    let rel = |t: u64| t.saturating_sub(base);
    // Nothing after an interrupt is recorded.
    let cutoff = interruption.map_or(u64::MAX, |(_, _, at)| at);
    for s in &mut steps {
        s.start_ns = rel(s.start_ns);
        s.returned_ns = rel(s.returned_ns.min(cutoff));
        s.settled_ns = rel(s.settled_ns.min(cutoff));
    }
    for c in &mut r.calls {
        c.start_ns = rel(c.start_ns);
        if c.returned_ns.is_some_and(|t| t > cutoff) {
            c.returned_ns = None;
            c.outcome = None;
            c.sigpipe = false;
        }
        c.returned_ns = c.returned_ns.map(rel);
    }
    let kernel_events = r.observers.kernel_events;
    // The call tracer stops beside the observers: the eBPF one detaches in about a ms, the
    // fallback's instance waits on the kernel's tracepoint unregistering (~50-100 ms).
    let call_tracing = r.tracer.is_some();
    let call_tracer = r.tracer.as_ref().map(|t| t.kind().to_string());
    let tracer_stop = r
        .tracer
        .take()
        .map(|t| std::thread::spawn(move || t.stop()));
    let (frames, raw_events, lost) = r.observers.stop();

    let traced = tracer_stop.and_then(|h| h.join().ok()).unwrap_or_default();
    let (programs, program_calls) = programs(&mut r, traced, &steps, base, cutoff);
    // Frames are stamped from t0 (the observers' start); the record counts from `base`.
    let shift = base.saturating_sub(t0);
    let cutoff_rel = cutoff.saturating_sub(t0);
    let mut frames: Vec<Captured> = frames
        .into_iter()
        .filter(|f| f.t_ns <= cutoff_rel)
        .collect();
    for f in &mut frames {
        f.t_ns = f.t_ns.saturating_sub(shift);
    }
    if lost > 0 {
        r.notes.push(format!(
            "the trace ring buffer dropped {lost} kernel events (other traffic on this host filled it while tcpmortem waited for a CPU): the kernel view is incomplete, and checks of RST reasons that found none are not checked"
        ));
    }
    let addresses = r.sandbox.addresses.clone();
    let environment = Environment {
        kernel: proc::kernel_release(),
        congestion_control: CONGESTION_CONTROL.into(),
        host_congestion_control: r.sandbox.host_congestion_control.clone(),
        sysctls: r.sandbox.sysctls.clone(),
        settle_ms: r.settle.as_secs_f64() * 1e3,
        blocked_after_ms: sc.blocked_after.as_secs_f64() * 1e3,
        tracefs: kernel_events.is_some(),
        kernel_events: kernel_events.map(|k| match k {
            crate::observe::KernelEvents::Ebpf => "ebpf".into(),
            crate::observe::KernelEvents::Tracefs => "tracefs".into(),
        }),
        events_lost: lost,
        call_tracing,
        call_tracer,
    };
    let raw_events: Vec<_> = raw_events
        .into_iter()
        .filter(|e| e.ts_ns <= cutoff)
        .collect();
    let packets = packets(&frames, &steps, &addresses, &mut r);
    let events = events(raw_events, &packets, &addresses, base, &mut r);
    let connections = r
        .conns
        .iter()
        .enumerate()
        .map(|(n, (c, s))| Connection {
            id: n as u32 + 1,
            client: *c,
            server: *s,
        })
        .collect();
    let notes = std::mem::take(&mut r.notes);
    let calls = std::mem::take(&mut r.calls);
    let interrupted = interruption.map(|(step, sig, at)| Interruption {
        signal: sig,
        name: signal_name(sig),
        at_ns: rel(at),
        step,
    });
    // The actors die with `r` (their Drop kills and reaps them), after capture has stopped,
    // so teardown packets are not part of the record.
    drop(r);
    let mut record = Record {
        scenario: sc.clone(),
        environment,
        addresses,
        connections,
        steps,
        calls,
        packets,
        events,
        notes,
        interrupted,
        expectations: Vec::new(),
        wall_ms: 0.0,
        programs,
        program_calls,
    };
    other_os::annotate(&mut record);
    record.expectations = crate::verdict::evaluate(&sc.expectations, &record);
    record.wall_ms = wall.elapsed().as_secs_f64() * 1e3;
    Ok(Run { record, frames })
}

/// Builds one record per TCP segment and per ICMP error: first sighting on the sender's
/// link, `crossed` when the router forwarded it onto the far link. Sequence numbers are made
/// relative per connection and direction.
fn packets(
    frames: &[Captured],
    steps: &[StepRecord],
    a: &Addresses,
    r: &mut Runner,
) -> Vec<PacketRecord> {
    let mut out: Vec<PacketRecord> = Vec::new();
    let mut isn: HashMap<(SocketAddr, SocketAddr), u32> = HashMap::new();
    let mut pending_far: Vec<(usize, TcpSegment)> = Vec::new();
    let step_of = |t: u64| steps.iter().rposition(|s| s.start_ns <= t).unwrap_or(0);
    for (idx, f) in frames.iter().enumerate() {
        let Some(seg) = TcpSegment::from_ethernet(&f.data) else {
            if let Some(p) = icmp(f, idx, a, &isn, step_of(f.t_ns), r) {
                out.push(p);
            }
            continue;
        };
        let from = match a.host_of(seg.src.ip()) {
            Some(Host::Client) => Actor::Client,
            Some(Host::Server) => Actor::Server,
            _ => continue,
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
        let conn = match from {
            Actor::Client => r.register(seg.src, seg.dst),
            Actor::Server => r.register(seg.dst, seg.src),
        };
        out.push(PacketRecord {
            t_ns: f.t_ns,
            step: step_of(f.t_ns),
            conn,
            from: from.into(),
            link: f.link,
            ttl: seg.ttl,
            ip_id: seg.ip_id,
            crossed: forged,
            forged,
            proto: Proto::Tcp {
                flags: seg.flags,
                seq: seg.seq.wrapping_sub(base),
                ack: match peer_base {
                    Some(b) if seg.flags.has(Flags::ACK) => seg.ack.wrapping_sub(b),
                    _ => seg.ack,
                },
                len: seg.payload_len,
                window: seg.window,
            },
            frame: idx,
        });
        if !forged {
            pending_far.push((out.len() - 1, seg));
        }
    }
    out
}

/// An ICMP or ICMPv6 error about one of the run's TCP segments, seen leaving the router (or
/// arriving from a host).
fn icmp(
    f: &Captured,
    idx: usize,
    a: &Addresses,
    isn: &HashMap<(SocketAddr, SocketAddr), u32>,
    step: usize,
    r: &mut Runner,
) -> Option<PacketRecord> {
    let ip =
        tcpmortem_wire::link::ip_packet(tcpmortem_wire::pcapng::LINKTYPE_ETHERNET, &f.data).ok()?;
    let q = tcpmortem_wire::icmp::unreachable(ip)?;
    let to = match a.host_of(q.src.ip())? {
        Host::Client => Actor::Client,
        Host::Server => Actor::Server,
        Host::Router => return None,
    };
    let from = a.host_of(q.from)?;
    // A router's message is seen once, leaving toward the quoted segment's sender; a host's
    // is seen arriving on its own link, then leaving on the far one: keep the first.
    let first_link = match from {
        Host::Router => f.outgoing,
        _ => !f.outgoing,
    };
    if !first_link {
        return None;
    }
    let v6 = q.from.is_ipv6();
    let message = match (v6, q.icmp_type, q.icmp_code) {
        (false, 3, 0) => "net-unreachable",
        (false, 3, 1) => "host-unreachable",
        (false, 3, 2) => "protocol-unreachable",
        (false, 3, 3) => "port-unreachable",
        (false, 3, 4) => "fragmentation-needed",
        (false, 3, 13) => "administratively-prohibited",
        (true, 1, 0) => "no-route",
        (true, 1, 1) => "administratively-prohibited",
        (true, 1, 3) => "address-unreachable",
        (true, 1, 4) => "port-unreachable",
        _ => "unreachable",
    };
    let (ttl, ip_id) = TcpSegment::from_ip(ip)
        .map(|s| (s.ttl, s.ip_id))
        .unwrap_or_else(|| {
            if v6 {
                (ip.get(7).copied().unwrap_or(0), None)
            } else {
                (
                    ip.get(8).copied().unwrap_or(0),
                    ip.get(4..6).map(|b| u16::from_be_bytes([b[0], b[1]])),
                )
            }
        });
    let conn = match to {
        Actor::Client => r.register(q.src, q.dst),
        Actor::Server => r.register(q.dst, q.src),
    };
    Some(PacketRecord {
        t_ns: f.t_ns,
        step,
        conn,
        from,
        link: f.link,
        ttl,
        ip_id,
        crossed: true,
        forged: false,
        proto: Proto::Icmp {
            to,
            message: message.into(),
            icmp_type: q.icmp_type,
            code: q.icmp_code,
            v6,
            quoted_seq: q
                .seq
                .map(|s| s.wrapping_sub(isn.get(&(q.src, q.dst)).copied().unwrap_or(0))),
        },
        frame: idx,
    })
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

/// Keeps the events of this run's addresses, ties them to their connection, and orders them
/// causally against the packets: on veth the receiver's events can be stamped before the
/// sender's `tcp_send_reset`.
fn events(
    raw: Vec<tcpmortem_trace::TcpEvent>,
    packets: &[PacketRecord],
    a: &Addresses,
    base: u64,
    r: &mut Runner,
) -> Vec<KernelEvent> {
    let mut out: Vec<KernelEvent> = Vec::new();
    for e in raw {
        let Some(local) = e.local else { continue };
        let host = match a.host_of(local.ip()) {
            Some(Host::Client) => Actor::Client,
            Some(Host::Server) => Actor::Server,
            _ => continue,
        };
        let conn = e.remote.and_then(|remote| match host {
            Actor::Client => r.register(local, remote),
            Actor::Server => r.register(remote, local),
        });
        let t = e.ts_ns.saturating_sub(base);
        out.push(KernelEvent {
            t_ns: t,
            order_ns: t,
            host,
            conn,
            event: e.event,
            local: e.local,
            remote: e.remote,
            state: e.state,
            old_state: e.old_state,
            new_state: e.new_state,
            reason: e.reason,
            error: e.error,
        });
    }
    const NEAR: u64 = 5_000_000;
    let rsts: Vec<&PacketRecord> = packets.iter().filter(|p| p.has(Flags::RST)).collect();
    for e in &mut out {
        let host = Host::from(e.host);
        // A socket connecting has no local port yet when it enters SYN_SENT
        // (tcp_v4_connect() sets the state before inet_hash_connect() picks the port): its
        // connection is that of the SYN it sends next.
        if e.conn.is_none() && e.local.is_some_and(|l| l.port() == 0) {
            e.conn = packets
                .iter()
                .filter(|p| {
                    p.from == host
                        && p.t_ns >= e.t_ns
                        && p.t_ns - e.t_ns < NEAR
                        && p.flags().is_some_and(|f| f.has(Flags::SYN))
                })
                .find_map(|p| p.conn);
        }
        if e.event == "tcp_send_reset" {
            // The RST this host sent: the event belongs just before it. A listener's RST
            // (a handshake it cannot accept) names the listener, not the connection: the
            // packet does.
            if let Some(p) = rsts
                .iter()
                .filter(|p| p.from == host && p.t_ns.abs_diff(e.t_ns) < NEAR)
                .filter(|p| e.conn.is_none() || p.conn == e.conn)
                .min_by_key(|p| p.t_ns.abs_diff(e.t_ns))
            {
                e.order_ns = e.t_ns.min(p.t_ns.saturating_sub(1));
                if e.conn.is_none() {
                    e.conn = p.conn;
                }
            }
        } else if let Some(p) = rsts
            .iter()
            .filter(|p| p.from == Host::from(e.host.peer()) && p.t_ns.abs_diff(e.t_ns) < NEAR)
            .min_by_key(|p| p.t_ns.abs_diff(e.t_ns))
        {
            // What the receiving host did about a RST comes after the RST.
            let caused = e.event == "tcp_receive_reset"
                || e.event == "inet_sk_error_report"
                || e.new_state == Some(TcpState::Close);
            if caused {
                e.order_ns = e.t_ns.max(p.t_ns + 1);
            }
        }
    }
    out.sort_by_key(|e| e.order_ns);
    out
}

/// The programs' records and their calls, on the record's clock. Programs still running are
/// killed now (after capture stopped: their teardown is not part of the record).
fn programs(
    r: &mut Runner,
    traced: crate::calls::TraceOut,
    steps: &[StepRecord],
    base: u64,
    cutoff: u64,
) -> (Vec<ProgramRecord>, Vec<ProgramCall>) {
    let rel = |t: u64| t.saturating_sub(base);
    let step_at = |t: u64| {
        steps
            .iter()
            .rposition(|s| s.start_ns <= rel(t))
            .unwrap_or(0)
    };
    let last_settled = steps.last().map_or(u64::MAX, |s| s.settled_ns + base);
    let mut records = Vec::new();
    let mut names: Vec<(i32, Actor, String)> = Vec::new();
    for (step, p) in std::mem::take(&mut r.programs) {
        let (actor, argv, pid, started) = (p.actor, p.argv.clone(), p.pid, p.started_ns);
        let timed_out = p.timed_out;
        let (ended, stdout, stderr) = p.finish();
        // Killed at the teardown: it was still running when the run ended.
        let ended = ended.filter(|(_, t)| *t <= last_settled);
        let name = std::path::Path::new(&argv[0])
            .file_name()
            .map_or(argv[0].clone(), |n| n.to_string_lossy().to_string());
        names.push((pid, actor, name.clone()));
        records.push(ProgramRecord {
            host: actor,
            argv,
            name,
            pid,
            step,
            started_ns: rel(started),
            ended_ns: ended.as_ref().map(|(_, t)| rel(*t)),
            exit: ended.map(|(e, _)| e),
            timed_out,
            stdout: String::from_utf8_lossy(&stdout.head).into_owned(),
            stderr: String::from_utf8_lossy(&stderr.head).into_owned(),
            stdout_bytes: stdout.total,
            stderr_bytes: stderr.total,
        });
    }
    if traced.unidentified > 0 {
        r.notes.push(format!(
            "{} call(s) of the programs were on descriptors closed before they could be tied to a socket: left out",
            traced.unidentified
        ));
    }
    if traced.lost > 0 {
        r.notes.push(format!(
            "the programs' trace ring buffer dropped {} events: their calls are incomplete",
            traced.lost
        ));
    }
    let mut calls: Vec<ProgramCall> = Vec::new();
    let mut traced_calls = traced.calls;
    traced_calls.sort_by_key(|t| t.call.start_ns);
    for t in traced_calls {
        if t.call.start_ns > cutoff {
            continue;
        }
        // The program's process tree: a child's pid is not a program's, its host is.
        let (host, program) = names
            .iter()
            .find(|(pid, _, _)| *pid == t.pid)
            .map(|(_, a, n)| (*a, n.clone()))
            .or_else(|| {
                let (l, _) = t.ends?;
                let host = match r.sandbox.addresses.host_of(l.ip())? {
                    Host::Client => Actor::Client,
                    Host::Server => Actor::Server,
                    Host::Router => return None,
                };
                names
                    .iter()
                    .find(|(_, a, _)| *a == host)
                    .map(|(_, a, n)| (*a, n.clone()))
            })
            .unwrap_or((Actor::Client, t.call.comm.clone()));
        let conn = t.ends.and_then(|(l, rem)| match host {
            Actor::Client => r.register(l, rem),
            Actor::Server => r.register(rem, l),
        });
        let ret = t
            .call
            .ret
            .filter(|_| t.call.end_ns.is_some_and(|e| e <= cutoff));
        let is_accept = matches!(t.call.call.as_str(), "accept" | "accept4");
        let outcome = ret.map(|ret| syscall_outcome(&t.call.call, ret, t.ends));
        let c = ProgramCall {
            step: step_at(t.call.start_ns),
            host,
            program,
            pid: t.pid,
            tid: t.call.tid,
            comm: t.call.comm.clone(),
            call: t.call.call.clone(),
            fd: t.call.fd,
            new_fd: ret.filter(|r| is_accept && *r >= 0).map(|r| r as i32),
            conn,
            local: t.ends.map(|e| e.0),
            remote: t.ends.map(|e| e.1),
            start_ns: rel(t.call.start_ns),
            returned_ns: ret.and(t.call.end_ns.map(rel)),
            outcome,
            repeat: 1,
            other_os: Vec::new(),
        };
        // EAGAIN polled again and again on the same descriptor: one line with a count.
        if let Some(prev) = calls.last_mut()
            && prev.tid == c.tid
            && prev.fd == c.fd
            && prev.call == c.call
            && prev.outcome == c.outcome
            && c.outcome.as_ref().and_then(Outcome::errno) == Some("EAGAIN")
        {
            prev.repeat += 1;
            prev.returned_ns = c.returned_ns;
            continue;
        }
        calls.push(c);
    }
    (records, calls)
}

/// A system call's return value as an outcome: -errno, a count, EOF, a new descriptor.
fn syscall_outcome(call: &str, ret: i64, ends: Option<(SocketAddr, SocketAddr)>) -> Outcome {
    if ret < 0 {
        return Outcome::error((-ret) as i32);
    }
    match call {
        "read" | "readv" | "recvfrom" | "recvmsg" if ret == 0 => Outcome::Eof,
        "read" | "readv" | "recvfrom" | "recvmsg" | "write" | "writev" | "sendto" | "sendmsg"
        | "sendfile64" => Outcome::Bytes {
            bytes: ret as usize,
        },
        "connect" => match ends {
            Some((local, _)) => Outcome::Connected { local },
            None => Outcome::Ok,
        },
        "accept" | "accept4" => match ends {
            Some((_, peer)) => Outcome::Accepted { peer },
            None => Outcome::Ok,
        },
        _ => Outcome::Ok,
    }
}
