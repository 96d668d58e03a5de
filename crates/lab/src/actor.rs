//! Client and server are separate processes (the tcpmortem binary re-executed as
//! `tcpmortem __lab-actor`), so that `server kill` is a real SIGKILL and the kernel closes the
//! sockets as after a crash. They take one command per line on stdin and answer in JSON lines.
//!
//! Calls are made as applications make them: blocking calls on blocking sockets. Each call
//! runs on its own thread, on a duplicate of the socket's descriptor, so that the actor can
//! answer `blocked` when a call still waits after `blocked-after`, take the next command, and
//! report the call's result when it returns, as a threaded program would. A descriptor closed
//! meanwhile stays open in the kernel until the call in flight returns, as it does for a
//! program (the call holds the file).
//!
//! Every answer carries the socket's addresses, so that the runner can tie the call to its
//! connection, and CLOCK_MONOTONIC stamps taken just before and after the system call.

use crate::error::LabError;
use crate::record::Outcome;
use crate::sandbox::CONGESTION_CONTROL;
use crate::scenario::How;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};
use tcpmortem_kernel::diag::DiagState;
use tcpmortem_kernel::proc;
use tcpmortem_kernel::sock::Sock;

/// Which socket a command acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The newest connection (or, for options and close with no connection, the listener).
    Newest,
    /// The connection with this peer and this local port (a failed connect's local address
    /// reads 0.0.0.0:PORT).
    Conn { local_port: u16, peer: SocketAddr },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Cmd {
    Listen {
        addr: SocketAddr,
        backlog: i32,
    },
    Connect {
        addr: SocketAddr,
    },
    Accept,
    Send {
        hex: String,
    },
    Recv {
        max: usize,
    },
    Close,
    Shutdown {
        how: How,
    },
    Linger {
        seconds: Option<i32>,
    },
    /// An integer socket option; `name` is how the record shows it (`SO_KEEPALIVE`).
    SetInt {
        level: i32,
        option: i32,
        value: i32,
        name: String,
    },
    /// The state of every socket the actor holds (TCP_INFO, SO_MEMINFO): what sock_diag
    /// cannot show of a socket in CLOSE.
    Info,
}

impl Cmd {
    /// Whether the call can wait in the kernel (close can, with SO_LINGER). The others are
    /// never reported `blocked`, however long their thread takes to be scheduled.
    pub fn may_block(&self) -> bool {
        matches!(
            self,
            Cmd::Connect { .. } | Cmd::Accept | Cmd::Send { .. } | Cmd::Recv { .. } | Cmd::Close
        )
    }

    /// The call as the record shows it.
    pub fn text(&self) -> String {
        match self {
            Cmd::Listen { backlog, .. } => format!("listen {backlog}"),
            Cmd::Connect { addr } => format!("connect {addr}"),
            Cmd::Accept => "accept".into(),
            Cmd::Send { hex } => format!("send {}", hex.len() / 2),
            Cmd::Recv { max } => format!("recv {max}"),
            Cmd::Close => "close".into(),
            Cmd::Shutdown { how } => format!("shutdown {}", how.name()),
            Cmd::Linger { seconds: None } => "setsockopt SO_LINGER {0, 0}".into(),
            Cmd::Linger { seconds: Some(s) } => format!("setsockopt SO_LINGER {{1, {s}}}"),
            Cmd::SetInt { name, value, .. } => format!("setsockopt {name} {value}"),
            Cmd::Info => "info".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub blocked_after_ms: u64,
    pub target: Target,
    #[serde(flatten)]
    pub cmd: Cmd,
}

/// A call's result and where it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub outcome: Outcome,
    pub sigpipe: bool,
    /// CLOCK_MONOTONIC just before and just after the system call.
    pub start_ns: u64,
    pub end_ns: u64,
    /// The socket's local and peer addresses (for accept: the accepted socket's).
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
}

/// A socket the actor holds, as [`Cmd::Info`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    pub listener: bool,
    pub state: u8,
    pub recv_q: u32,
    pub send_q: u32,
    pub wmem_queued: Option<u32>,
    pub unacked: u32,
    pub retransmits: u8,
    pub total_retrans: u32,
}

impl Held {
    pub fn diag_state(&self) -> DiagState {
        DiagState {
            state: self.state,
            recv_q: self.recv_q,
            send_q: self.send_q,
            wmem_queued: self.wmem_queued,
            info: Some(tcpmortem_kernel::diag::TcpInfo {
                retransmits: self.retransmits,
                backoff: 0,
                rto_us: 0,
                unacked: self.unacked,
                total_retrans: self.total_retrans,
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "lowercase")]
pub enum Reply {
    /// The call returned within `blocked_after`.
    Returned { id: u64, done: Done },
    /// The call is still waiting; the socket's addresses as they are now.
    Blocked {
        id: u64,
        start_ns: u64,
        local: Option<SocketAddr>,
        peer: Option<SocketAddr>,
    },
    /// A call reported blocked has now returned.
    Completed { id: u64, done: Done },
    /// The actor could not run the command (no such socket).
    Refused { id: u64, message: String },
    /// The answer to [`Cmd::Info`].
    Info { id: u64, held: Vec<Held> },
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    crate::scenario::from_hex(s)
}

// ---------------------------------------------------------------------------------------
// The actor process.

/// A call's result with its stamps and addresses (those before the call, unless the call
/// read newer ones).
fn finished(
    id: u64,
    entry: Option<usize>,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    sigpipes: u32,
    start_ns: u64,
    (outcome, new, after): JobOut,
) -> Finished {
    let end_ns = proc::monotonic_ns();
    let (local, peer) = match after {
        Some((l, p)) => (l.filter(|l| l.port() != 0).or(local), p.or(peer)),
        None => (local, peer),
    };
    Finished {
        id,
        done: Done {
            outcome,
            sigpipe: proc::sigpipes() != sigpipes,
            start_ns,
            end_ns,
            local,
            peer,
        },
        new,
        entry,
    }
}

/// What a call's thread computes: the outcome, a socket it made (listener or accepted), and
/// the socket's addresses after the call.
type JobOut = (
    Outcome,
    Option<(Sock, bool)>,
    Option<(Option<SocketAddr>, Option<SocketAddr>)>,
);

fn addrs(s: &Sock) -> (Option<SocketAddr>, Option<SocketAddr>) {
    (s.local_addr(), s.peer_addr())
}

struct Entry {
    /// None once closed.
    sock: Option<Sock>,
    listener: bool,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
}

/// What a call's thread sends back.
struct Finished {
    id: u64,
    done: Done,
    /// The socket made by accept or listen, to keep.
    new: Option<(Sock, bool)>,
    /// The table entry the call acted on.
    entry: Option<usize>,
}

enum Event {
    Line(String),
    Eof,
    /// A call's thread is about to make the system call (CLOCK_MONOTONIC).
    Started(u64, u64),
    Finished(Finished),
}

#[derive(Default)]
struct Actor {
    socks: Vec<Entry>,
}

impl Actor {
    fn newest_conn(&self) -> Option<usize> {
        self.socks
            .iter()
            .rposition(|e| !e.listener && e.sock.is_some())
    }

    fn listener(&self) -> Option<usize> {
        self.socks
            .iter()
            .rposition(|e| e.listener && e.sock.is_some())
    }

    fn find(&self, t: Target) -> Option<usize> {
        match t {
            Target::Newest => self.newest_conn(),
            Target::Conn { local_port, peer } => self.socks.iter().rposition(|e| {
                !e.listener
                    && e.sock.is_some()
                    && e.peer == Some(peer)
                    && e.local.map(|l| l.port()) == Some(local_port)
            }),
        }
    }

    /// The socket a command acts on: the target connection, or for options and close with
    /// no connection, the listener (accepted sockets inherit its options).
    fn pick(&self, t: Target, or_listener: bool) -> Result<usize, String> {
        match (self.find(t), t) {
            (Some(i), _) => Ok(i),
            (None, Target::Newest) if or_listener => {
                self.listener().ok_or_else(|| "no socket".to_string())
            }
            (None, Target::Newest) => Err("no connection".into()),
            (None, Target::Conn { local_port, peer }) => Err(format!(
                "no socket of the connection from port {local_port} to {peer}"
            )),
        }
    }

    fn clone_of(&self, i: usize) -> Result<Sock, String> {
        self.socks[i]
            .sock
            .as_ref()
            .ok_or("closed")?
            .try_clone()
            .map_err(|e| format!("dup: errno {e}"))
    }

    /// Starts a command; `Err` is a refusal. A call that cannot wait runs here, at once; one
    /// that can (connect, accept, close with SO_LINGER, a send or recv that would block)
    /// runs on a thread of its own. Either way its result comes back as an
    /// [`Event::Finished`].
    fn start(&mut self, req: &Request, tx: &Sender<Event>) -> Result<Option<usize>, String> {
        let id = req.id;
        let sigpipes = proc::sigpipes();
        let start_ns = proc::monotonic_ns();
        let entry;
        let mut inline = true;
        let ok_or = |r: tcpmortem_kernel::sock::SysResult<()>| {
            r.map_or_else(Outcome::error, |()| Outcome::Ok)
        };
        let job: Box<dyn FnOnce() -> JobOut + Send> = match &req.cmd {
            Cmd::Info => return Err("info is answered directly".into()),
            Cmd::Listen { addr, backlog } => {
                entry = None;
                let (addr, backlog) = (*addr, *backlog);
                Box::new(move || {
                    let made = (|| {
                        let s = Sock::tcp_blocking(addr.ip())?;
                        s.set_congestion(CONGESTION_CONTROL)?;
                        s.setsockopt_int(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
                        s.bind(&addr)?;
                        s.listen(backlog)?;
                        Ok(s)
                    })();
                    match made {
                        Ok(s) => (Outcome::Ok, Some((s, true)), None),
                        Err(e) => (Outcome::error(e), None, None),
                    }
                })
            }
            Cmd::Connect { addr } => {
                let s = Sock::tcp_blocking(addr.ip()).map_err(|e| format!("socket: errno {e}"))?;
                s.set_congestion(CONGESTION_CONTROL)
                    .map_err(|e| format!("TCP_CONGESTION {CONGESTION_CONTROL}: errno {e}"))?;
                let c = s.try_clone().map_err(|e| format!("dup: errno {e}"))?;
                self.socks.push(Entry {
                    sock: Some(s),
                    listener: false,
                    local: None,
                    peer: Some(*addr),
                });
                entry = Some(self.socks.len() - 1);
                let addr = *addr;
                // A blocking connect, as applications make it: it sleeps in
                // inet_wait_for_connect(), and an ICMP error that arrives while it still holds
                // the socket is only a soft error (tcp_v4_err()).
                inline = false;
                Box::new(move || {
                    let o = match c.connect(&addr) {
                        Ok(()) => match c.local_addr() {
                            Some(local) => Outcome::Connected { local },
                            None => Outcome::Ok,
                        },
                        Err(e) => Outcome::error(e),
                    };
                    (o, None, Some(addrs(&c)))
                })
            }
            Cmd::Accept => {
                let i = self.listener().ok_or("accept without a listener")?;
                entry = Some(i);
                let l = self.clone_of(i)?;
                inline = false;
                Box::new(move || match l.accept_blocking() {
                    Ok((c, peer)) => {
                        let peer = peer.or_else(|| c.peer_addr());
                        let o = match peer {
                            Some(peer) => Outcome::Accepted { peer },
                            None => Outcome::Ok,
                        };
                        let a = addrs(&c);
                        (o, Some((c, false)), Some(a))
                    }
                    Err(e) => (Outcome::error(e), None, None),
                })
            }
            Cmd::Send { hex } => {
                let data = unhex(hex).ok_or("bad hex")?;
                let i = self.pick(req.target, false)?;
                entry = Some(i);
                let s = self.clone_of(i)?;
                // A blocking send waits for room and returns the count queued, or the count
                // queued before an error (tcp_sendmsg_locked()). One that finds room returns
                // at once: it is tried here without waiting, and only the rest, if any, waits
                // on a thread (without SIGPIPE once some bytes are queued, since the single
                // call would have returned their count without it).
                let first = match s.send(&data) {
                    Ok(n) => n,
                    Err(libc::EAGAIN) => 0,
                    Err(e) => {
                        let a = addrs(&s);
                        let out = (Outcome::error(e), None, Some(a));
                        return self.finished(id, entry, sigpipes, start_ns, out, tx);
                    }
                };
                inline = first == data.len();
                Box::new(move || {
                    let rest = &data[first..];
                    let o = if rest.is_empty() {
                        Outcome::Bytes { bytes: first }
                    } else {
                        let r = if first > 0 {
                            s.send_wait_nosignal(rest)
                        } else {
                            s.send_wait(rest)
                        };
                        match r {
                            Ok(n) => Outcome::Bytes { bytes: first + n },
                            Err(_) if first > 0 => Outcome::Bytes { bytes: first },
                            Err(e) => Outcome::error(e),
                        }
                    };
                    (o, None, Some(addrs(&s)))
                })
            }
            Cmd::Recv { max } => {
                let i = self.pick(req.target, false)?;
                entry = Some(i);
                let s = self.clone_of(i)?;
                // A blocking recv that finds data, EOF or an error returns at once: it is tried
                // here without waiting first.
                let mut buf = vec![0u8; *max];
                let now = match s.recv(&mut buf) {
                    Ok(0) => Some(Outcome::Eof),
                    Ok(n) => Some(Outcome::Bytes { bytes: n }),
                    Err(libc::EAGAIN) => None,
                    Err(e) => Some(Outcome::error(e)),
                };
                if let Some(o) = now {
                    let out = (o, None, Some(addrs(&s)));
                    return self.finished(id, entry, sigpipes, start_ns, out, tx);
                }
                inline = false;
                Box::new(move || {
                    let o = match s.recv_wait(&mut buf) {
                        Ok(0) => Outcome::Eof,
                        Ok(n) => Outcome::Bytes { bytes: n },
                        Err(e) => Outcome::error(e),
                    };
                    (o, None, Some(addrs(&s)))
                })
            }
            Cmd::Close => {
                let i = self.pick(req.target, true)?;
                entry = Some(i);
                let s = self.socks[i].sock.take().ok_or("closed")?;
                // close() with SO_LINGER {1, N > 0} waits: it runs on a thread of its own.
                inline = !matches!(s.linger(), Ok(Some(n)) if n > 0);
                Box::new(move || (ok_or(s.close()), None, None))
            }
            Cmd::Shutdown { how } => {
                let i = self.pick(req.target, false)?;
                entry = Some(i);
                let s = self.clone_of(i)?;
                let how = match how {
                    How::Rd => libc::SHUT_RD,
                    How::Wr => libc::SHUT_WR,
                    How::Rdwr => libc::SHUT_RDWR,
                };
                Box::new(move || (ok_or(s.shutdown(how)), None, None))
            }
            Cmd::Linger { seconds } => {
                let i = self.pick(req.target, true)?;
                entry = Some(i);
                let s = self.clone_of(i)?;
                let seconds = *seconds;
                Box::new(move || {
                    let r = s.set_linger(seconds.is_some(), seconds.unwrap_or(0));
                    (ok_or(r), None, None)
                })
            }
            Cmd::SetInt {
                level,
                option,
                value,
                ..
            } => {
                let i = self.pick(req.target, true)?;
                entry = Some(i);
                let s = self.clone_of(i)?;
                let (level, option, value) = (*level, *option, *value);
                Box::new(move || (ok_or(s.setsockopt_int(level, option, value)), None, None))
            }
        };
        if inline {
            let out = job();
            return self.finished(id, entry, sigpipes, start_ns, out, tx);
        }
        let (local, peer) = entry.map_or((None, None), |i| self.addresses(i));
        let tx = tx.clone();
        std::thread::spawn(move || {
            // The call is judged by how long it waits in the kernel, not by how long its
            // thread waited to be scheduled.
            let start_ns = proc::monotonic_ns();
            let _ = tx.send(Event::Started(id, start_ns));
            let out = job();
            let f = finished(id, entry, local, peer, sigpipes, start_ns, out);
            let _ = tx.send(Event::Finished(f));
        });
        Ok(entry)
    }

    /// A call that ran here: its result goes to the main loop like a thread's.
    fn finished(
        &mut self,
        id: u64,
        entry: Option<usize>,
        sigpipes: u32,
        start_ns: u64,
        out: JobOut,
        tx: &Sender<Event>,
    ) -> Result<Option<usize>, String> {
        let (local, peer) = entry.map_or((None, None), |i| self.addresses(i));
        let f = finished(id, entry, local, peer, sigpipes, start_ns, out);
        let _ = tx.send(Event::Finished(f));
        Ok(entry)
    }

    /// An entry's addresses, read now; a connect's peer is where it connects to, since
    /// getpeername() fails until it succeeds.
    fn addresses(&mut self, i: usize) -> (Option<SocketAddr>, Option<SocketAddr>) {
        let e = &mut self.socks[i];
        if let Some(s) = &e.sock {
            if let Some(l) = s.local_addr().filter(|l| l.port() != 0) {
                e.local = Some(l);
            }
            if let Some(p) = s.peer_addr() {
                e.peer = Some(p);
            }
        }
        (e.local, e.peer)
    }

    /// Takes a finished call's socket and addresses into the table.
    fn finish(&mut self, f: &mut Finished) {
        if let Some((s, listener)) = f.new.take() {
            self.socks.push(Entry {
                local: s.local_addr(),
                peer: if listener { None } else { s.peer_addr() },
                sock: Some(s),
                listener,
            });
        } else if let Some(i) = f.entry {
            let e = &mut self.socks[i];
            if let Some(l) = f.done.local.filter(|l| l.port() != 0) {
                e.local = Some(l);
            }
            if e.peer.is_none() {
                e.peer = f.done.peer;
            }
        }
    }

    fn info(&self) -> Vec<Held> {
        self.socks
            .iter()
            .filter_map(|e| {
                let s = e.sock.as_ref()?;
                let d = s.tcp_info().ok()?;
                let i = d.info.unwrap_or(tcpmortem_kernel::diag::TcpInfo {
                    retransmits: 0,
                    backoff: 0,
                    rto_us: 0,
                    unacked: 0,
                    total_retrans: 0,
                });
                Some(Held {
                    local: e.local,
                    peer: e.peer,
                    listener: e.listener,
                    state: d.state,
                    recv_q: d.recv_q,
                    send_q: d.send_q,
                    wmem_queued: d.wmem_queued,
                    unacked: i.unacked,
                    retransmits: i.retransmits,
                    total_retrans: i.total_retrans,
                })
            })
            .collect()
    }
}

fn write_reply(out: &mut impl Write, r: &Reply) {
    let mut line = serde_json::to_string(r).unwrap_or_default();
    line.push('\n');
    // The parent is gone if this fails; PR_SET_PDEATHSIG ends us anyway.
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
}

/// The actor process's main loop. Returns when stdin closes.
pub fn actor_main() -> i32 {
    if let Err(e) = proc::count_sigpipe() {
        eprintln!("tcpmortem actor: {e}");
        return 70;
    }
    let (tx, rx) = channel::<Event>();
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(Event::Line(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Event::Eof);
        });
    }
    let mut out = std::io::stdout().lock();
    let mut actor = Actor::default();
    let mut queued: std::collections::VecDeque<String> = Default::default();
    loop {
        let ev = match queued.pop_front() {
            Some(l) => Event::Line(l),
            None => match rx.recv() {
                Ok(ev) => ev,
                Err(_) => return 0,
            },
        };
        match ev {
            Event::Eof => return 0,
            Event::Started(..) => {}
            Event::Finished(mut f) => {
                actor.finish(&mut f);
                write_reply(
                    &mut out,
                    &Reply::Completed {
                        id: f.id,
                        done: f.done,
                    },
                );
            }
            Event::Line(line) => {
                let Ok(req) = serde_json::from_str::<Request>(&line) else {
                    continue;
                };
                if let Cmd::Info = req.cmd {
                    let held = actor.info();
                    write_reply(&mut out, &Reply::Info { id: req.id, held });
                    continue;
                }
                let start_ns = proc::monotonic_ns();
                let entry = match actor.start(&req, &tx) {
                    Ok(e) => e,
                    Err(message) => {
                        write_reply(
                            &mut out,
                            &Reply::Refused {
                                id: req.id,
                                message,
                            },
                        );
                        continue;
                    }
                };
                // A call is `blocked` when it has waited in the kernel for longer than
                // `blocked_after`, counted from its system call, so that a thread scheduled
                // late on a busy machine does not make a call that returns at once look
                // blocked. Calls that cannot wait are never blocked.
                let limit = Duration::from_millis(req.blocked_after_ms);
                let may_block = req.cmd.may_block();
                let mut deadline: Option<Instant> = None;
                let mut started = start_ns;
                loop {
                    let ev = match deadline {
                        Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
                        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    };
                    match ev {
                        Ok(Event::Started(id, at)) => {
                            if id == req.id && may_block {
                                started = at;
                                let waited = proc::monotonic_ns().saturating_sub(at);
                                deadline = Some(
                                    Instant::now()
                                        + limit.saturating_sub(Duration::from_nanos(waited)),
                                );
                            }
                        }
                        Ok(Event::Finished(mut f)) => {
                            actor.finish(&mut f);
                            if f.id != req.id {
                                let r = Reply::Completed {
                                    id: f.id,
                                    done: f.done,
                                };
                                write_reply(&mut out, &r);
                                continue;
                            }
                            let took = f.done.end_ns.saturating_sub(f.done.start_ns);
                            if may_block && took > limit.as_nanos() as u64 {
                                // It waited past the limit while this thread was not looking:
                                // it was blocked, and has completed since.
                                write_reply(
                                    &mut out,
                                    &Reply::Blocked {
                                        id: f.id,
                                        start_ns: f.done.start_ns,
                                        local: f.done.local,
                                        peer: f.done.peer,
                                    },
                                );
                                let r = Reply::Completed {
                                    id: f.id,
                                    done: f.done,
                                };
                                write_reply(&mut out, &r);
                            } else {
                                let r = Reply::Returned {
                                    id: f.id,
                                    done: f.done,
                                };
                                write_reply(&mut out, &r);
                            }
                            break;
                        }
                        Ok(Event::Line(l)) => queued.push_back(l),
                        Ok(Event::Eof) => return 0,
                        Err(RecvTimeoutError::Timeout) => {
                            let (local, peer) = entry.map_or((None, None), |i| actor.addresses(i));
                            write_reply(
                                &mut out,
                                &Reply::Blocked {
                                    id: req.id,
                                    start_ns: started,
                                    local,
                                    peer,
                                },
                            );
                            break;
                        }
                        Err(RecvTimeoutError::Disconnected) => return 0,
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The parent's handle on an actor process.

pub struct ActorProc {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<Reply>,
    next_id: u64,
    pub dead: bool,
}

impl ActorProc {
    /// Starts `exe __lab-actor` inside the namespace `netns`.
    pub fn spawn(exe: &std::path::Path, netns: std::os::fd::RawFd) -> Result<ActorProc, LabError> {
        let mut cmd = Command::new(exe);
        cmd.arg("__lab-actor")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = proc::spawn_in_netns(&mut cmd, netns)
            .map_err(|e| LabError::Setup(format!("start actor {}: {e}", exe.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| LabError::Setup("actor stdout".into()))?;
        let (tx, rx): (Sender<Reply>, _) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(r) = serde_json::from_str::<Reply>(&line)
                    && tx.send(r).is_err()
                {
                    break;
                }
            }
        });
        Ok(ActorProc {
            stdin: child.stdin.take(),
            child,
            replies: rx,
            next_id: 1,
            dead: false,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a command and waits for its answer (returned, blocked, refused or info).
    /// Completions of earlier blocked calls that arrive meanwhile go to `late`.
    pub fn call(
        &mut self,
        cmd: Cmd,
        target: Target,
        blocked_after: Duration,
        timeout: Duration,
        late: &mut Vec<Reply>,
    ) -> Result<(u64, Reply), LabError> {
        let id = self.next_id;
        self.next_id += 1;
        let req = Request {
            id,
            blocked_after_ms: blocked_after.as_millis() as u64,
            target,
            cmd,
        };
        let mut line = serde_json::to_string(&req).map_err(|e| LabError::Actor(e.to_string()))?;
        line.push('\n');
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| LabError::Actor("actor is gone".into()))?;
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| LabError::Actor(format!("actor pipe: {e}")))?;
        let deadline = Instant::now() + timeout + blocked_after;
        loop {
            if proc::interrupted() {
                return Err(LabError::Interrupted);
            }
            let left = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(20));
            match self.replies.recv_timeout(left) {
                Ok(r) => match &r {
                    Reply::Returned { id: rid, .. }
                    | Reply::Blocked { id: rid, .. }
                    | Reply::Refused { id: rid, .. }
                    | Reply::Info { id: rid, .. }
                        if *rid == id =>
                    {
                        return Ok((id, r));
                    }
                    _ => late.push(r),
                },
                Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                    return Err(LabError::Actor(format!(
                        "no answer from the actor within {timeout:?}"
                    )));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(if proc::interrupted() {
                        LabError::Interrupted
                    } else {
                        LabError::Actor("the actor process exited".into())
                    });
                }
            }
        }
    }

    /// Completions that arrived while nobody was waiting.
    pub fn drain(&self, late: &mut Vec<Reply>) {
        while let Ok(x) = self.replies.try_recv() {
            late.push(x);
        }
    }

    /// SIGKILL, then reap: afterwards the kernel has closed every socket of the process.
    pub fn kill(&mut self) -> Result<(), LabError> {
        proc::signal(self.pid(), libc::SIGKILL).map_err(|e| LabError::Actor(e.to_string()))?;
        let _ = self.child.wait();
        self.stdin = None;
        self.dead = true;
        Ok(())
    }
}

impl Drop for ActorProc {
    fn drop(&mut self) {
        self.stdin = None;
        if !self.dead {
            let _ = proc::signal(self.pid(), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// The command that sends these bytes.
pub fn send_cmd(data: &[u8]) -> Cmd {
    Cmd::Send {
        hex: crate::scenario::to_hex(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let Cmd::Send { hex } = send_cmd(b"GET /\r\n") else {
            unreachable!()
        };
        assert_eq!(unhex(&hex).unwrap(), b"GET /\r\n");
        assert!(unhex("zz").is_none());
        assert!(unhex("abc").is_none());
    }

    #[test]
    fn protocol_is_json_lines() {
        let r = Request {
            id: 3,
            blocked_after_ms: 100,
            target: Target::Newest,
            cmd: Cmd::Recv { max: 10 },
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            s,
            r#"{"id":3,"blocked_after_ms":100,"target":"newest","cmd":"recv","max":10}"#
        );
        let back: Request = serde_json::from_str(&s).unwrap();
        assert!(matches!(back.cmd, Cmd::Recv { max: 10 }));
    }
}
