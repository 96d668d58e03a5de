//! Client and server are separate processes (the tcpmortem binary re-executed as
//! `tcpmortem __lab-actor`), so that `server kill` is a real SIGKILL and the kernel closes the
//! sockets as after a crash. They take one command per line on stdin and answer in JSON lines.
//!
//! Sockets are non-blocking. A call behaves as its blocking form would: the actor polls until
//! it completes; if that takes longer than `blocked_after`, it answers `blocked` and keeps
//! polling, and reports the completion later.

use crate::error::LabError;
use crate::record::{EndState, Outcome};
use crate::sandbox::CONGESTION_CONTROL;
use crate::scenario::How;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};
use tcpmortem_kernel::proc;
use tcpmortem_kernel::sock::{Sock, poll};

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
    /// TCP_INFO of the socket with this local address (or the newest connection).
    Info {
        local: Option<SocketAddr>,
        host: crate::scenario::Actor,
    },
    UserTimeout {
        ms: u32,
    },
    /// An integer socket option, on the newest connection (or the listener, whose accepted
    /// sockets inherit it).
    SetInt {
        level: i32,
        name: i32,
        value: i32,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub blocked_after_ms: u64,
    #[serde(flatten)]
    pub cmd: Cmd,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "lowercase")]
pub enum Reply {
    /// The call returned within `blocked_after`.
    Returned {
        id: u64,
        outcome: Outcome,
        sigpipe: bool,
    },
    /// The call is still waiting.
    Blocked { id: u64 },
    /// A call reported blocked has now returned.
    Completed {
        id: u64,
        outcome: Outcome,
        sigpipe: bool,
    },
    /// The actor could not run the command (a scenario error, e.g. send before connect).
    Refused { id: u64, message: String },
    /// The answer to [`Cmd::Info`]; None when the actor holds no such socket.
    Info { id: u64, info: Option<EndState> },
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

// ---------------------------------------------------------------------------------------
// The actor process.

enum Wait {
    Connect,
    Accept,
    Send { data: Vec<u8>, sent: usize },
    Recv { max: usize },
}

struct Pending {
    id: u64,
    sock: usize,
    listener: bool,
    wait: Wait,
}

#[derive(Default)]
struct ActorState {
    listener: Option<Sock>,
    /// Connections, in order; calls go to the newest.
    conns: Vec<Option<Sock>>,
    pending: Vec<Pending>,
}

enum Step {
    Done(Outcome),
    Wait(Wait),
}

impl ActorState {
    fn current(&self) -> Option<usize> {
        self.conns.iter().rposition(Option::is_some)
    }

    fn fd_of(&self, p: &Pending) -> Option<i32> {
        if p.listener {
            self.listener.as_ref().map(Sock::raw_fd)
        } else {
            self.conns.get(p.sock)?.as_ref().map(Sock::raw_fd)
        }
    }

    /// Tries to make progress on a waiting call.
    fn attempt(&mut self, sock: usize, listener: bool, wait: Wait) -> Step {
        let s = if listener {
            self.listener.as_ref()
        } else {
            self.conns.get(sock).and_then(Option::as_ref)
        };
        let Some(s) = s else {
            return Step::Done(Outcome::error(libc::EBADF));
        };
        match wait {
            Wait::Connect => match poll(&[(s.raw_fd(), libc::POLLOUT)], 0) {
                Ok(r) if r[0] != 0 => match s.take_error() {
                    Ok(0) => Step::Done(match s.local_addr() {
                        Some(local) => Outcome::Connected { local },
                        None => Outcome::Ok,
                    }),
                    Ok(e) | Err(e) => Step::Done(Outcome::error(e)),
                },
                _ => Step::Wait(Wait::Connect),
            },
            Wait::Accept => match s.accept() {
                Ok((c, peer)) => {
                    let peer = peer.or_else(|| c.peer_addr());
                    self.conns.push(Some(c));
                    Step::Done(match peer {
                        Some(peer) => Outcome::Accepted { peer },
                        None => Outcome::Ok,
                    })
                }
                Err(libc::EAGAIN) => Step::Wait(Wait::Accept),
                Err(e) => Step::Done(Outcome::error(e)),
            },
            Wait::Send { data, mut sent } => loop {
                if sent == data.len() {
                    return Step::Done(Outcome::Bytes { bytes: sent });
                }
                match s.send(&data[sent..]) {
                    Ok(n) => sent += n,
                    Err(libc::EAGAIN) => return Step::Wait(Wait::Send { data, sent }),
                    // A blocking send that moved some bytes before failing returns the count.
                    Err(_) if sent > 0 => return Step::Done(Outcome::Bytes { bytes: sent }),
                    Err(e) => return Step::Done(Outcome::error(e)),
                }
            },
            Wait::Recv { max } => {
                let mut buf = vec![0u8; max];
                match s.recv(&mut buf) {
                    Ok(0) => Step::Done(Outcome::Eof),
                    Ok(n) => Step::Done(Outcome::Bytes { bytes: n }),
                    Err(libc::EAGAIN) => Step::Wait(Wait::Recv { max }),
                    Err(e) => Step::Done(Outcome::error(e)),
                }
            }
        }
    }

    fn events_for(wait: &Wait) -> i16 {
        match wait {
            Wait::Connect | Wait::Send { .. } => libc::POLLOUT,
            Wait::Accept | Wait::Recv { .. } => libc::POLLIN,
        }
    }

    /// Starts a command. `Err` is a refusal (the scenario asked for something impossible).
    fn start(&mut self, cmd: Cmd) -> Result<(usize, bool, Step), String> {
        let conn = |st: &ActorState| st.current().ok_or_else(|| "no connection yet".to_string());
        Ok(match cmd {
            Cmd::Listen { addr, backlog } => {
                let out = (|| {
                    let s = Sock::tcp(addr.ip())?;
                    s.set_congestion(CONGESTION_CONTROL)?;
                    s.setsockopt_int(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
                    s.bind(&addr)?;
                    s.listen(backlog)?;
                    Ok(s)
                })();
                match out {
                    Ok(s) => {
                        self.listener = Some(s);
                        (0, true, Step::Done(Outcome::Ok))
                    }
                    Err(e) => (0, true, Step::Done(Outcome::error(e))),
                }
            }
            Cmd::Connect { addr } => {
                let s = Sock::tcp(addr.ip()).map_err(|e| format!("socket: errno {e}"))?;
                s.set_congestion(CONGESTION_CONTROL)
                    .map_err(|e| format!("TCP_CONGESTION {CONGESTION_CONTROL}: errno {e}"))?;
                let r = s.connect(&addr);
                self.conns.push(Some(s));
                let i = self.conns.len() - 1;
                match r {
                    Ok(()) => (i, false, self.attempt(i, false, Wait::Connect)),
                    Err(libc::EINPROGRESS) => (i, false, self.attempt(i, false, Wait::Connect)),
                    Err(e) => (i, false, Step::Done(Outcome::error(e))),
                }
            }
            Cmd::Accept => {
                if self.listener.is_none() {
                    return Err("accept without a listener".into());
                }
                (0, true, self.attempt(0, true, Wait::Accept))
            }
            Cmd::Send { hex: h } => {
                let data = unhex(&h).ok_or("bad hex")?;
                let i = conn(self)?;
                (
                    i,
                    false,
                    self.attempt(i, false, Wait::Send { data, sent: 0 }),
                )
            }
            Cmd::Recv { max } => {
                let i = conn(self)?;
                (i, false, self.attempt(i, false, Wait::Recv { max }))
            }
            Cmd::Close => match self.current() {
                Some(i) => {
                    let s = self.conns[i].take().ok_or("closed")?;
                    self.pending.retain(|p| p.listener || p.sock != i);
                    (
                        i,
                        false,
                        Step::Done(s.close().map_or_else(Outcome::error, |()| Outcome::Ok)),
                    )
                }
                None => {
                    let s = self.listener.take().ok_or("nothing to close")?;
                    self.pending.retain(|p| !p.listener);
                    (
                        0,
                        true,
                        Step::Done(s.close().map_or_else(Outcome::error, |()| Outcome::Ok)),
                    )
                }
            },
            Cmd::Shutdown { how } => {
                let i = conn(self)?;
                let how = match how {
                    How::Rd => libc::SHUT_RD,
                    How::Wr => libc::SHUT_WR,
                    How::Rdwr => libc::SHUT_RDWR,
                };
                let r = self.conns[i].as_ref().ok_or("closed")?.shutdown(how);
                (
                    i,
                    false,
                    Step::Done(r.map_or_else(Outcome::error, |()| Outcome::Ok)),
                )
            }
            Cmd::Info { .. } => return Err("info is answered directly".into()),
            Cmd::SetInt { level, name, value } => {
                let s = match self.current() {
                    Some(i) => self.conns[i].as_ref(),
                    None => self.listener.as_ref(),
                }
                .ok_or("no socket for the option")?;
                let r = s.setsockopt_int(level, name, value);
                (
                    0,
                    false,
                    Step::Done(r.map_or_else(Outcome::error, |()| Outcome::Ok)),
                )
            }
            Cmd::UserTimeout { ms } => {
                let i = conn(self)?;
                let s = self.conns[i].as_ref().ok_or("closed")?;
                let r = s.setsockopt_int(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ms as i32);
                (
                    i,
                    false,
                    Step::Done(r.map_or_else(Outcome::error, |()| Outcome::Ok)),
                )
            }
            Cmd::Linger { seconds } => {
                // Before accept, the option goes on the listener, and accepted sockets inherit it.
                let s = match self.current() {
                    Some(i) => self.conns[i].as_ref(),
                    None => self.listener.as_ref(),
                }
                .ok_or("no socket for linger")?;
                let r = s.set_linger(seconds.is_some(), seconds.unwrap_or(0));
                (
                    0,
                    false,
                    Step::Done(r.map_or_else(Outcome::error, |()| Outcome::Ok)),
                )
            }
        })
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
    let stdin = std::io::stdin();
    let mut input = BufReader::new(stdin.lock());
    let mut out = std::io::stdout().lock();
    let mut st = ActorState::default();
    loop {
        // Wait for a command or for a pending call's socket.
        let mut fds = vec![(0, libc::POLLIN)];
        for p in &st.pending {
            if let Some(fd) = st.fd_of(p) {
                fds.push((fd, ActorState::events_for(&p.wait) | libc::POLLERR));
            }
        }
        let ready = if input.buffer().is_empty() {
            poll(&fds, 50).unwrap_or_default()
        } else {
            vec![libc::POLLIN]
        };
        progress_pending(&mut st, &mut out);
        if ready.first().is_some_and(|r| *r != 0) {
            let mut line = String::new();
            match input.read_line(&mut line) {
                Ok(0) | Err(_) => return 0,
                Ok(_) => {}
            }
            let Ok(req) = serde_json::from_str::<Request>(&line) else {
                continue;
            };
            run_request(&mut st, req, &mut out);
        }
    }
}

fn progress_pending(st: &mut ActorState, out: &mut impl Write) {
    let pending = std::mem::take(&mut st.pending);
    for p in pending {
        let before = proc::sigpipes();
        match st.attempt(p.sock, p.listener, p.wait) {
            Step::Done(outcome) => write_reply(
                out,
                &Reply::Completed {
                    id: p.id,
                    outcome,
                    sigpipe: proc::sigpipes() != before,
                },
            ),
            Step::Wait(wait) => st.pending.push(Pending { wait, ..p }),
        }
    }
}

fn run_request(st: &mut ActorState, req: Request, out: &mut impl Write) {
    if let Cmd::Info { local, host } = req.cmd {
        let sock = st
            .conns
            .iter()
            .flatten()
            .rev()
            .find(|s| local.is_none() || s.local_addr() == local)
            .or(st.current().and_then(|i| st.conns[i].as_ref()));
        let info = sock
            .and_then(|s| s.tcp_info().ok())
            .map(|d| EndState::from_kernel(host, Some(&d)));
        write_reply(out, &Reply::Info { id: req.id, info });
        return;
    }
    let before = proc::sigpipes();
    let (sock, listener, mut step) = match st.start(req.cmd) {
        Ok(x) => x,
        Err(message) => {
            write_reply(
                out,
                &Reply::Refused {
                    id: req.id,
                    message,
                },
            );
            return;
        }
    };
    let deadline = Instant::now() + Duration::from_millis(req.blocked_after_ms);
    loop {
        match step {
            Step::Done(outcome) => {
                write_reply(
                    out,
                    &Reply::Returned {
                        id: req.id,
                        outcome,
                        sigpipe: proc::sigpipes() != before,
                    },
                );
                return;
            }
            Step::Wait(wait) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    st.pending.push(Pending {
                        id: req.id,
                        sock,
                        listener,
                        wait,
                    });
                    write_reply(out, &Reply::Blocked { id: req.id });
                    return;
                }
                let fd = if listener {
                    st.listener.as_ref().map(Sock::raw_fd)
                } else {
                    st.conns
                        .get(sock)
                        .and_then(Option::as_ref)
                        .map(Sock::raw_fd)
                };
                if let Some(fd) = fd {
                    let ms = left.as_millis().clamp(1, 1000) as i32;
                    let _ = poll(&[(fd, ActorState::events_for(&wait) | libc::POLLERR)], ms);
                }
                step = st.attempt(sock, listener, wait);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The parent's handle on an actor process.

pub struct ActorProc {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<(Instant, Reply)>,
    next_id: u64,
    pub dead: bool,
}

/// A message from the actor that was not the answer being waited for.
pub type Late = (Instant, Reply);

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
        let (tx, rx): (Sender<(Instant, Reply)>, _) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(r) = serde_json::from_str::<Reply>(&line)
                    && tx.send((Instant::now(), r)).is_err()
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

    /// Sends a command and waits for its answer (returned, blocked or refused). Completions of
    /// earlier blocked calls that arrive meanwhile go to `late`.
    pub fn call(
        &mut self,
        cmd: Cmd,
        blocked_after: Duration,
        timeout: Duration,
        late: &mut Vec<Late>,
    ) -> Result<(u64, Reply), LabError> {
        let id = self.next_id;
        self.next_id += 1;
        let req = Request {
            id,
            blocked_after_ms: blocked_after.as_millis() as u64,
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
        let deadline = Instant::now() + timeout;
        loop {
            if proc::interrupted() {
                return Err(LabError::Interrupted);
            }
            let left = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(20));
            match self.replies.recv_timeout(left) {
                Ok((t, r)) => match &r {
                    Reply::Returned { id: rid, .. }
                    | Reply::Blocked { id: rid }
                    | Reply::Refused { id: rid, .. }
                    | Reply::Info { id: rid, .. }
                        if *rid == id =>
                    {
                        return Ok((id, r));
                    }
                    _ => late.push((t, r)),
                },
                Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                    return Err(LabError::Actor(format!(
                        "no answer from the actor within {timeout:?}"
                    )));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(LabError::Actor("the actor process exited".into()));
                }
            }
        }
    }

    /// Completions that arrived while nobody was waiting.
    pub fn drain(&self, late: &mut Vec<Late>) {
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

pub fn send_cmd(data: &[u8]) -> Cmd {
    Cmd::Send { hex: hex(data) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(unhex(&hex(b"GET /\r\n")).unwrap(), b"GET /\r\n");
        assert!(unhex("zz").is_none());
        assert!(unhex("abc").is_none());
    }

    #[test]
    fn protocol_is_json_lines() {
        let r = Request {
            id: 3,
            blocked_after_ms: 100,
            cmd: Cmd::Recv { max: 10 },
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            s,
            r#"{"id":3,"blocked_after_ms":100,"cmd":"recv","max":10}"#
        );
        let back: Request = serde_json::from_str(&s).unwrap();
        assert!(matches!(back.cmd, Cmd::Recv { max: 10 }));
    }
}
