//! One client connection at the I/O edge: two sockets, two toxic chains, and whatever the
//! toxics decide carried out with real socket calls. Then the report of how the client's
//! side ended.

use crate::book::Book;
use crate::chain::{Chain, Out};
use crate::report::{self, ClientEnd, Ending, Facts, Report, SawJson};
use crate::toxics::{Action, Stream, Toxic};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tcpmortem_core::TcpState;
use tcpmortem_kernel::diag::Diag;
use tcpmortem_kernel::sock;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// The chain may hold this much before the proxy stops reading its source.
const MAX_HELD: usize = 1 << 20;
const BUF: usize = 64 * 1024;
/// The splice pipe's size: enough for a window's worth of loopback data per round.
const PIPE: i32 = 1 << 20;

thread_local! {
    // One read buffer per worker thread: idle connections hold no buffer at all.
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; BUF]);
}

/// What every connection of a proxy shares.
pub struct Shared {
    pub name: String,
    pub upstream: String,
    pub book: Arc<Book>,
    pub env: Arc<crate::proxy::Env>,
}

/// One side's socket and what waits to be written to it.
struct Side {
    sock: Option<TcpStream>,
    pending: VecDeque<Vec<u8>>,
    pending_bytes: usize,
    /// A FIN waits behind the pending data.
    fin_pending: bool,
    fin_sent: bool,
    /// The peer's FIN was read.
    eof: bool,
    /// Bytes written to this socket.
    written: u64,
    /// Data on its way to this socket through the kernel (splice), with no toxic on the way.
    pipe: Option<sock::Pipe>,
    in_pipe: usize,
}

impl Side {
    fn new(sock: Option<TcpStream>) -> Side {
        Side {
            sock,
            pending: VecDeque::new(),
            pending_bytes: 0,
            fin_pending: false,
            fin_sent: false,
            eof: false,
            written: 0,
            pipe: None,
            in_pipe: 0,
        }
    }
    fn push(&mut self, d: Vec<u8>) {
        if !d.is_empty() {
            self.pending_bytes += d.len();
            self.pending.push_back(d);
        }
    }
    /// Writes what it can without waiting; Err on a socket error.
    fn flush(&mut self) -> io::Result<()> {
        let Some(s) = &self.sock else {
            self.pending.clear();
            self.pending_bytes = 0;
            self.in_pipe = 0;
            return Ok(());
        };
        // What the pipe holds is older than anything queued.
        while self.in_pipe > 0 {
            let Some(p) = &self.pipe else { break };
            let fd = s.as_raw_fd();
            match s.try_io(tokio::io::Interest::WRITABLE, || {
                p.drain_to(fd, self.in_pipe)
                    .map_err(io::Error::from_raw_os_error)
            }) {
                Ok(n) => {
                    self.in_pipe -= n;
                    self.written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        while let Some(front) = self.pending.front_mut() {
            match s.try_write(front) {
                Ok(n) if n == front.len() => {
                    self.written += n as u64;
                    self.pending_bytes -= n;
                    self.pending.pop_front();
                }
                Ok(n) => {
                    self.written += n as u64;
                    self.pending_bytes -= n;
                    front.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        if self.fin_pending && !self.fin_sent {
            self.fin_sent = true;
            let _ = sock::shutdown_fd(s.as_raw_fd(), libc::SHUT_WR);
        }
        Ok(())
    }
}

fn errno_name(e: &io::Error) -> String {
    e.raw_os_error()
        .and_then(|n| {
            tcpmortem_core::errno::name_in(tcpmortem_core::errno::Numbering::LinuxErrno, n.into())
        })
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string())
}

/// Milliseconds since `t0`, to the microsecond.
fn ms_since(t0: Instant) -> f64 {
    (t0.elapsed().as_secs_f64() * 1e6).round() / 1000.0
}

fn state_of(fd: i32) -> Option<TcpState> {
    sock::tcp_info(fd)
        .ok()
        .and_then(|d| TcpState::from_number(d.state))
}

/// The client's own socket as sock_diag shows it (its local address is `client`).
fn client_socket(client: SocketAddr, listen: SocketAddr) -> Option<Option<TcpState>> {
    let mut d = Diag::open().ok()?;
    match d.find(&client, &listen) {
        Ok(Some(s)) => Some(TcpState::from_number(s.status.state)),
        Ok(None) => Some(None),
        Err(_) => None,
    }
}

/// How the proxy's side ended, which decides what to watch for afterwards.
#[derive(PartialEq, Eq)]
enum After {
    Nothing,
    /// The client's socket was forgotten or closed: its RST, FIN or silence is what's left.
    Watch,
    /// The black-holed socket is held until the proxy stops or the client's socket is gone.
    Hold,
}

pub async fn serve(
    client: TcpStream,
    client_addr: SocketAddr,
    listen: SocketAddr,
    sh: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    mut toxics_rx: watch::Receiver<Arc<Vec<Toxic>>>,
) {
    let t0 = Instant::now();
    let mono0 = tcpmortem_kernel::proc::monotonic_ns();
    let _ = client.set_nodelay(true);
    // A connection whose two ends have the same address, or a loopback one, has its client on
    // this host (in this namespace): its socket can be watched through sock_diag.
    let client_local = client_addr.ip() == listen.ip() || client_addr.ip().is_loopback();
    let live = sh.book.open(blank_report(&sh, client_addr, listen));
    let mut f = Facts::default();

    let mut up = Chain::new(Stream::Upstream);
    let mut down = Chain::new(Stream::Downstream);
    let mut outs: Vec<(Stream, Out)> = Vec::new();
    let mut roll = || fastrand::f32();
    {
        let toxics = toxics_rx.borrow_and_update().clone();
        let mut o = Vec::new();
        up.sync(&toxics, t0, &mut roll, &mut o);
        outs.extend(o.drain(..).map(|x| (Stream::Upstream, x)));
        down.sync(&toxics, t0, &mut roll, &mut o);
        outs.extend(o.drain(..).map(|x| (Stream::Downstream, x)));
    }

    // Dial the upstream, as Toxiproxy does for every accepted client.
    let server = match connect(&sh.upstream).await {
        Ok(s) => {
            let _ = s.set_nodelay(true);
            Some(s)
        }
        Err(e) => {
            f.upstream_error = Some(errno_name(&e));
            None
        }
    };
    if let (Some(s), Ok(mut r)) = (&server, live.report.lock()) {
        r.upstream_local = s.local_addr().ok().map(|a| a.to_string());
        if let Ok(p) = s.peer_addr() {
            r.upstream = p.to_string();
        }
    }
    let mut c = Side::new(Some(client));
    let mut s = Side::new(server);
    if s.sock.is_none() {
        c.fin_pending = true;
        f.proxy_fin_ms = Some(ms_since(t0));
    }
    let mut after = After::Nothing;
    let mut reset_on_data = false;

    loop {
        // Carry out what the chains emitted.
        for (stream, o) in std::mem::take(&mut outs) {
            let (dst, _) = match stream {
                Stream::Upstream => (&mut s, &mut c),
                Stream::Downstream => (&mut c, &mut s),
            };
            match o {
                Out::Data(d) => dst.push(d),
                Out::Eof => dst.fin_pending = true,
                Out::Action(a, _) => act(
                    a,
                    &mut c,
                    &mut s,
                    &mut f,
                    t0,
                    &sh,
                    &mut after,
                    &mut reset_on_data,
                ),
            }
        }
        if let Err(e) = c.flush() {
            f.client_error = Some(errno_name(&e));
            break;
        }
        if c.fin_sent && f.proxy_fin_ms.is_none() && c.sock.is_some() {
            // The upstream's FIN, passed on.
            f.proxy_fin_ms = Some(ms_since(t0));
        }
        if s.flush().is_err() {
            // The upstream failed: close toward the client, as Toxiproxy does.
            s.sock = None;
            if c.sock.is_some() && !c.fin_pending {
                c.fin_pending = true;
                f.proxy_fin_ms.get_or_insert(ms_since(t0));
                let _ = c.flush();
            }
        }
        // Done when both directions have ended and nothing is left to write.
        let c_done = c.sock.is_none() || (c.eof && c.fin_sent) || (c.fin_sent && s.sock.is_none());
        let s_done = s.sock.is_none() || (s.eof && s.fin_sent);
        if after != After::Nothing || (c_done && s_done && c.pending.is_empty() && c.in_pipe == 0) {
            break;
        }
        if c.sock.is_none() && s.pending.is_empty() {
            break;
        }

        let read_c = c.sock.is_some()
            && !c.eof
            && s.in_pipe == 0
            && (reset_on_data || (!up.blocks_reading() && up.held() + s.pending_bytes < MAX_HELD));
        let read_s = s.sock.is_some()
            && !s.eof
            && !reset_on_data
            && c.in_pipe == 0
            && !down.blocks_reading()
            && down.held() + c.pending_bytes < MAX_HELD;
        let deadline = [up.deadline(), down.deadline()].into_iter().flatten().min();
        let sleep = tokio::time::sleep_until(deadline.map_or_else(
            || tokio::time::Instant::now() + Duration::from_secs(3600),
            tokio::time::Instant::from_std,
        ));
        tokio::select! {
            _ = stop.changed() => {
                f.stopped = true;
                // Disabled or deleted: close both, as Toxiproxy does.
                c.fin_pending = true;
                let _ = c.flush();
                if c.sock.is_some() {
                    f.proxy_fin_ms.get_or_insert(ms_since(t0));
                    f.proxy_socket_state = c.sock.as_ref().and_then(|x| state_of(x.as_raw_fd()));
                }
                break;
            }
            _ = toxics_rx.changed() => {
                let toxics = toxics_rx.borrow_and_update().clone();
                let now = Instant::now();
                let mut o = Vec::new();
                up.sync(&toxics, now, &mut roll, &mut o);
                outs.extend(o.drain(..).map(|x| (Stream::Upstream, x)));
                down.sync(&toxics, now, &mut roll, &mut o);
                outs.extend(o.drain(..).map(|x| (Stream::Downstream, x)));
            }
            r = readable(&c.sock), if read_c => {
                if r.is_err() { continue; }
                let now = Instant::now();
                match read_into(&c, &mut s, up.is_empty() && !reset_on_data) {
                    Ok(Read::Data(n, rest)) => {
                        live.from_client.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                        if reset_on_data {
                            // A middlebox that lost the flow: the next data meets RST.
                            abort(&mut c);
                            f.proxy_rst_ms = Some(ms_since(t0));
                            after = After::Watch;
                            continue;
                        }
                        up.activity(now);
                        down.activity(now);
                        if let Some(d) = rest {
                            let mut o = Vec::new();
                            up.data(now, d, &mut o);
                            outs.extend(o.into_iter().map(|x| (Stream::Upstream, x)));
                        }
                    }
                    Ok(Read::Eof) => {
                        c.eof = true;
                        f.client_fin_ms = Some(ms_since(t0));
                        if reset_on_data {
                            c.fin_pending = true;
                            f.proxy_fin_ms.get_or_insert(ms_since(t0));
                            continue;
                        }
                        let mut o = Vec::new();
                        up.eof(now, &mut o);
                        outs.extend(o.into_iter().map(|x| (Stream::Upstream, x)));
                    }
                    Ok(Read::WouldBlock) => {}
                    Err(e) => {
                        f.client_error = Some(errno_name(&e));
                        break;
                    }
                }
            }
            r = readable(&s.sock), if read_s => {
                if r.is_err() { continue; }
                let now = Instant::now();
                match read_into(&s, &mut c, down.is_empty()) {
                    Ok(Read::Data(n, rest)) => {
                        let _ = n;
                        up.activity(now);
                        down.activity(now);
                        if let Some(d) = rest {
                            let mut o = Vec::new();
                            down.data(now, d, &mut o);
                            outs.extend(o.into_iter().map(|x| (Stream::Downstream, x)));
                        }
                    }
                    Ok(Read::Eof) => {
                        s.eof = true;
                        let mut o = Vec::new();
                        down.eof(now, &mut o);
                        outs.extend(o.into_iter().map(|x| (Stream::Downstream, x)));
                    }
                    Ok(Read::WouldBlock) => {}
                    Err(_) => {
                        // The upstream reset: close toward the client.
                        s.sock = None;
                        s.eof = true;
                        c.fin_pending = true;
                    }
                }
            }
            r = writable(&c.sock), if !c.pending.is_empty() || c.in_pipe > 0 => { let _ = r; }
            r = writable(&s.sock), if !s.pending.is_empty() || s.in_pipe > 0 => { let _ = r; }
            _ = sleep, if deadline.is_some() => {
                let now = Instant::now();
                let mut o = Vec::new();
                up.poll(now, &mut o);
                outs.extend(o.drain(..).map(|x| (Stream::Upstream, x)));
                down.poll(now, &mut o);
                outs.extend(o.drain(..).map(|x| (Stream::Downstream, x)));
            }
        }
        // Bytes written toward the client so far.
        live.to_client
            .store(c.written, std::sync::atomic::Ordering::Relaxed);
    }

    // The proxy's part is over. Close what is still open (a FIN, unless a toxic said
    // otherwise), then watch the client's side end.
    if let Some(sk) = &c.sock
        && f.proxy_fin_ms.is_some()
        && f.proxy_socket_state.is_none()
    {
        f.proxy_socket_state = state_of(sk.as_raw_fd());
    }
    if after == After::Hold {
        // Black-holed: nothing more is sent to the client; wait for the proxy to stop or
        // for the client's socket to give up.
        loop {
            tokio::select! {
                _ = stop.changed() => { f.stopped = true; break; }
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if client_local && matches!(client_socket(client_addr, listen), Some(None)) {
                        f.client_socket_state = Some(None);
                        break;
                    }
                }
            }
        }
        // Leave as quietly as possible: without a FIN where TCP_REPAIR is allowed.
        if let Some(sk) = c.sock.take() {
            if sh.env.net_admin {
                let _ = sock::set_repair(sk.as_raw_fd(), true);
            } else {
                let _ = sock::set_linger(sk.as_raw_fd(), true, 0);
            }
        }
    }
    let closed_by_proxy = c.sock.is_some() && f.client_error.is_none();
    if closed_by_proxy && f.proxy_fin_ms.is_none() && f.proxy_rst_ms.is_none() {
        f.proxy_fin_ms = Some(ms_since(t0));
    }
    drop(c.sock.take());
    drop(s.sock.take());
    if closed_by_proxy && f.client_fin_ms.is_none() && f.proxy_rst_ms.is_none() {
        after = After::Watch;
    }
    if f.forgotten_ms.is_some() {
        after = After::Watch;
    }
    if f.stopped {
        // Shutting down: report what is known now.
        after = After::Nothing;
    }

    // Watch the client's side for up to the settle time: its socket (when it is on this
    // host) and the kernel's RSTs (when traced).
    let settle = sh.env.settle;
    let deadline = Instant::now() + settle;
    let mut seen_orphan = false;
    loop {
        if client_local {
            f.client_socket_state = client_socket(client_addr, listen);
        }
        if let Some(t) = &sh.env.tracer {
            let (rsts, received) = t.rsts(client_addr, listen, mono0);
            f.client_received_rst = Some(received);
            f.rsts = Some(rsts);
        }
        // The proxy's orphaned socket: gone without passing TIME_WAIT means it was reset.
        if after == After::Watch && f.proxy_fin_ms.is_some() && f.proxy_rst_ms.is_none() {
            match client_socket(listen, client_addr) {
                Some(Some(TcpState::FinWait1 | TcpState::FinWait2 | TcpState::Closing)) => {
                    seen_orphan = true
                }
                // TIME_WAIT: the client's FIN arrived, a normal close.
                Some(Some(TcpState::TimeWait)) if f.client_fin_ms.is_none() => {
                    f.client_fin_ms = Some(ms_since(t0));
                }
                Some(None) if seen_orphan && f.client_fin_ms.is_none() => {
                    f.orphan_vanished = true;
                }
                _ => {}
            }
        }
        let client_done = matches!(
            f.client_socket_state,
            Some(None) | Some(Some(TcpState::Close | TcpState::TimeWait))
        ) && (f.client_fin_ms.is_some() || f.proxy_fin_ms.is_none())
            || f.client_received_rst == Some(true)
            || f.orphan_vanished
            || (f.client_fin_ms.is_some() && f.proxy_fin_ms.is_some());
        if after == After::Nothing || client_done || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(t) = &sh.env.tracer {
        // Let the trace reader catch up with the last RST: a little always, and up to half a
        // second while a RST that happened (the client's socket reset) is not in yet.
        let until = Instant::now() + Duration::from_millis(500);
        loop {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let (rsts, received) = t.rsts(client_addr, listen, mono0);
            let expected =
                f.forgotten_ms.is_some() || f.proxy_rst_ms.is_some() || f.orphan_vanished;
            let done = !expected || rsts.iter().any(|r| r.by == "proxy") || Instant::now() >= until;
            f.client_received_rst = Some(received);
            f.rsts = Some(rsts);
            if done {
                break;
            }
        }
    }
    let mut acted = up.acted();
    acted.extend(down.acted());
    live.to_client
        .store(c.written, std::sync::atomic::Ordering::Relaxed);
    let mut r = live.snapshot();
    r.status = "ended";
    r.duration_ms = ms_since(t0);
    r.toxics = acted;
    fill(&mut r, f, true);
    (sh.env.sink)(&r);
    sh.book.close(live.id, r);
}

#[allow(clippy::too_many_arguments)]
fn act(
    a: Action,
    c: &mut Side,
    s: &mut Side,
    f: &mut Facts,
    t0: Instant,
    sh: &Shared,
    after: &mut After,
    reset_on_data: &mut bool,
) {
    match a {
        Action::Close => {
            // Toxiproxy's stub close: what was emitted is written, then both are closed.
            let _ = c.flush();
            let _ = s.flush();
            if c.sock.is_some() {
                f.proxy_fin_ms.get_or_insert(ms_since(t0));
                f.proxy_socket_state = c.sock.as_ref().and_then(|x| state_of(x.as_raw_fd()));
            }
            c.fin_pending = true;
            c.fin_sent = true;
            s.fin_sent = true;
            c.eof = true;
            s.eof = true;
            *after = After::Watch;
        }
        Action::ResetBoth | Action::ResetClient => {
            if c.sock.is_some() {
                f.proxy_socket_state = c.sock.as_ref().and_then(|x| state_of(x.as_raw_fd()));
                abort(c);
                f.proxy_rst_ms = Some(ms_since(t0));
            }
            abort(s);
            *after = After::Watch;
        }
        Action::Forget | Action::ForgetOrResetOnData => {
            let can = sh.env.net_admin
                && c.sock
                    .as_ref()
                    .is_some_and(|x| sock::set_repair(x.as_raw_fd(), true).is_ok());
            if can {
                f.proxy_socket_state = Some(TcpState::Established);
                c.sock = None;
                c.pending.clear();
                f.forgotten_ms = Some(ms_since(t0));
                s.fin_pending = true;
                let _ = s.flush();
                s.sock = None;
                *after = After::Watch;
            } else {
                // Without CAP_NET_ADMIN the socket cannot vanish: stay silent and answer the
                // client's next data with a RST (or its FIN with a FIN).
                *reset_on_data = true;
                s.fin_pending = true;
                let _ = s.flush();
                s.sock = None;
                c.pending.clear();
            }
        }
        Action::BlackHole => {
            if let Some(x) = &c.sock {
                let _ = sock::drop_all_incoming(x.as_raw_fd());
                f.black_holed_ms = Some(ms_since(t0));
            }
            c.pending.clear();
            s.fin_pending = true;
            let _ = s.flush();
            s.sock = None;
            *after = After::Hold;
        }
        Action::CloseClient => {
            let _ = c.flush();
            if c.sock.is_some() {
                f.proxy_socket_state = c.sock.as_ref().and_then(|x| state_of(x.as_raw_fd()));
                f.proxy_fin_ms = Some(ms_since(t0));
            }
            // close() rather than shutdown(): the socket is orphaned, so the client's later
            // data is answered with RST (tcp_rcv_state_process(), TCP_ABORT_ON_DATA).
            c.sock = None;
            s.fin_pending = true;
            let _ = s.flush();
            *after = After::Watch;
        }
    }
}

/// SO_LINGER 0 and close: the kernel sends RST (TCP_STATE, or TCP_ABORT_ON_CLOSE with
/// unread data).
fn abort(side: &mut Side) {
    if let Some(x) = side.sock.take() {
        let _ = sock::set_linger(x.as_raw_fd(), true, 0);
        drop(x);
    }
    side.pending.clear();
}

enum Read {
    /// Bytes read, and the bytes left to hand to the chain (None: all written already).
    Data(usize, Option<Vec<u8>>),
    Eof,
    WouldBlock,
}

/// Reads once from `src`. With no toxic on the way (`direct`) and nothing queued, the bytes
/// go straight to `dst` from the thread's buffer; only what `dst` cannot take now is copied.
fn read_into(src: &Side, dst: &mut Side, direct: bool) -> io::Result<Read> {
    let Some(sk) = &src.sock else {
        return Ok(Read::WouldBlock);
    };
    if direct
        && dst.pending.is_empty()
        && !dst.fin_pending
        && dst.in_pipe == 0
        && dst.sock.is_some()
    {
        if dst.pipe.is_none() {
            // A pipe costs two descriptors: make one only when there are bytes to move
            // (readiness can be spurious, and an EOF needs none).
            let fd = sk.as_raw_fd();
            match sk.try_io(tokio::io::Interest::READABLE, || {
                sock::peek_fd(fd).map_err(io::Error::from_raw_os_error)
            }) {
                Ok(0) => return Ok(Read::Eof),
                Ok(_) => dst.pipe = sock::Pipe::new(PIPE).ok(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Read::WouldBlock),
                Err(e) => return Err(e),
            }
        }
        if let Some(p) = &dst.pipe {
            let fd = sk.as_raw_fd();
            return match sk.try_io(tokio::io::Interest::READABLE, || {
                p.fill_from(fd, PIPE as usize)
                    .map_err(io::Error::from_raw_os_error)
            }) {
                Ok(0) => {
                    // Nothing more will come this way: give the descriptors back.
                    dst.pipe = None;
                    Ok(Read::Eof)
                }
                Ok(n) => {
                    dst.in_pipe = n;
                    // A failure toward dst shows up on the main loop's own flush.
                    let _ = dst.flush();
                    Ok(Read::Data(n, None))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Read::WouldBlock),
                Err(e) => Err(e),
            };
        }
    }
    READ_BUF.with(|b| {
        let mut buf = b.borrow_mut();
        match sk.try_read(&mut buf) {
            Ok(0) => Ok(Read::Eof),
            Ok(n) => {
                if direct && dst.pending.is_empty() && !dst.fin_pending {
                    let mut off = 0;
                    if let Some(d) = &dst.sock {
                        while off < n {
                            match d.try_write(&buf[off..n]) {
                                Ok(w) => {
                                    off += w;
                                    dst.written += w as u64;
                                }
                                Err(_) => break,
                            }
                        }
                    } else {
                        off = n;
                    }
                    if off < n {
                        dst.push(buf[off..n].to_vec());
                    }
                    Ok(Read::Data(n, None))
                } else {
                    Ok(Read::Data(n, Some(buf[..n].to_vec())))
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Read::WouldBlock),
            Err(e) => Err(e),
        }
    })
}

async fn readable(s: &Option<TcpStream>) -> io::Result<()> {
    match s {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

async fn writable(s: &Option<TcpStream>) -> io::Result<()> {
    match s {
        Some(s) => s.writable().await,
        None => std::future::pending().await,
    }
}

/// Connects as Go's net.Dial does: every address the name resolves to, in turn.
async fn connect(upstream: &str) -> io::Result<TcpStream> {
    let addrs = crate::resolve::lookup(upstream).await?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn blank_report(sh: &Shared, client: SocketAddr, listen: SocketAddr) -> Report {
    let now_ns = tcpmortem_kernel::proc::realtime_ns();
    let mut r = Report {
        proxy: sh.name.clone(),
        status: "open",
        client: client.to_string(),
        listen: listen.to_string(),
        upstream: sh.upstream.clone(),
        upstream_local: None,
        start: rfc3339(now_ns),
        duration_ms: 0.0,
        bytes_from_client: 0,
        bytes_to_client: 0,
        toxics: Vec::new(),
        client_end: ClientEnd {
            how: "none",
            by: None,
            rst_reason: None,
            facts: Facts::default(),
        },
        proxy_socket_state: None,
        client_socket_state: None,
        ending: Ending {
            kind: "still-open",
            text: String::new(),
            abnormal: false,
            by: None,
        },
        client_saw: SawJson::from(&tcpmortem_core::ending::Saw::nothing("")),
    };
    fill(&mut r, Facts::default(), false);
    r
}

fn fill(r: &mut Report, f: Facts, ended: bool) {
    let v = report::classify(&f, ended);
    r.ending = Ending {
        kind: v.kind.name(),
        text: report::text(&v, &f),
        abnormal: v.kind.abnormal(),
        by: v.by.map(|b| b.name()),
    };
    r.client_saw = SawJson::from(&v.saw);
    r.proxy_socket_state = f.proxy_socket_state.map(|s| s.name());
    r.client_socket_state = match f.client_socket_state {
        Some(Some(s)) => Some(s.name()),
        Some(None) => Some("gone"),
        None => None,
    };
    r.client_end = ClientEnd {
        how: v.how,
        by: v.end_by,
        rst_reason: v.rst_reason,
        facts: f,
    };
}

fn rfc3339(ns: u64) -> String {
    tcpmortem_core::time::rfc3339(i128::from(ns))
}
