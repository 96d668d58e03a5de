//! The kernel fast path of one connection with no toxic: its two sockets joined in the BPF
//! sockmap (`tcpmortem_kernel::relay`), so that the kernel sends what arrives on one out of
//! the other and no byte passes through the proxy. User space only watches both sockets for
//! their ends (a FIN, a RST), passes each FIN on once the bytes before it are queued, and hands
//! the connection over to the toxic chains when a toxic is added.

use crate::book::Live;
use crate::conn::{Side, errno_name, ms_since};
use crate::report::{Facts, KernelSpan};
use crate::toxics::Toxic;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tcpmortem_kernel::relay::{Joined, Relay};
use tcpmortem_kernel::sock::{self, TcpBytes};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How often a FIN waiting for the bytes before it checks them, and a hand-over its partner.
const POLL: Duration = Duration::from_millis(1);
/// How often the live report's byte counts are refreshed.
const TICK: Duration = Duration::from_millis(500);

pub(crate) struct Fast {
    relay: Arc<Mutex<Relay>>,
    c: Joined,
    s: Joined,
    /// The sockets' `queued()` when they joined: the kernel's writes count from there.
    c0: u64,
    s0: u64,
    pub span: KernelSpan,
}

/// Why the fast path ended.
pub(crate) enum Outcome {
    /// The connection ended (FINs passed on, an error, or the proxy stopped).
    Ended,
    /// A toxic was added: user space forwards from now on.
    HandedOver,
}

enum Probe {
    Nothing,
    Eof,
    Error(io::Error),
}

fn queued(fd: RawFd) -> Option<u64> {
    sock::tcp_bytes(fd).ok().map(|b| b.queued())
}

/// Whether a socket in the map has ended. Its data never reaches user space (the verdict
/// redirected it), so a readable socket has met a FIN or an error. With a psock, recv()
/// returns 0 on a RST too (tcp_bpf_recvmsg() checks SOCK_DONE before sk_err): SO_ERROR tells
/// them apart.
fn probe(sk: &TcpStream) -> Probe {
    let fd = sk.as_raw_fd();
    match sk.try_io(tokio::io::Interest::READABLE, || {
        sock::peek_fd(fd).map_err(io::Error::from_raw_os_error)
    }) {
        Ok(0) => match sk.take_error() {
            Ok(Some(e)) => Probe::Error(e),
            _ => Probe::Eof,
        },
        Ok(_) => {
            // Bytes the verdict has not seen yet (queued before the socket joined): hand them
            // to it now.
            let _ = sock::set_int(fd, libc::SOL_SOCKET, libc::SO_RCVLOWAT, 1);
            Probe::Nothing
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Probe::Nothing,
        Err(e) => Probe::Error(e),
    }
}

impl Fast {
    /// Joins the two sockets in the map; None when the kernel refuses (e.g. the client's FIN
    /// is already in: only ESTABLISHED sockets may join).
    pub fn start(
        relay: &Arc<Mutex<Relay>>,
        c: &TcpStream,
        s: &TcpStream,
        t0: Instant,
    ) -> Option<Fast> {
        let (cf, sf) = (c.as_raw_fd(), s.as_raw_fd());
        // Before joining: nothing has been written to either yet.
        let c0 = queued(cf)?;
        let s0 = queued(sf)?;
        let (jc, js) = relay.lock().ok()?.join(cf, sf).ok()?;
        Some(Fast {
            relay: relay.clone(),
            c: jc,
            s: js,
            c0,
            s0,
            span: KernelSpan {
                from_ms: ms_since(t0),
                until_ms: None,
            },
        })
    }

    fn moved(&self, j: &Joined) -> u64 {
        self.relay
            .lock()
            .ok()
            .and_then(|r| r.moved(j).ok())
            .unwrap_or(0)
    }

    /// Bytes the kernel has queued on the client's (upstream's) socket since it joined.
    fn on_c(&self) -> Option<u64> {
        queued(self.c.fd).map(|q| q.saturating_sub(self.c0))
    }
    fn on_s(&self) -> Option<u64> {
        queued(self.s.fd).map(|q| q.saturating_sub(self.s0))
    }

    /// The byte counts from the client's socket: received from it (less its FIN) and written
    /// to it (less the proxy's FIN).
    fn counts(&self, c: &Side) -> (u64, u64) {
        match sock::tcp_bytes(self.c.fd) {
            Ok(b @ TcpBytes { received, .. }) => (
                received.saturating_sub(u64::from(c.eof)),
                b.queued()
                    .saturating_sub(self.c0)
                    .saturating_sub(u64::from(c.fin_sent)),
            ),
            Err(_) => (0, 0),
        }
    }

    fn store_counts(&self, c: &mut Side, live: &Live) {
        let (from, to) = self.counts(c);
        live.from_client.store(from, Ordering::Relaxed);
        c.written = to;
    }

    /// Runs until the connection ends or a toxic is added.
    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        &mut self,
        c: &mut Side,
        s: &mut Side,
        f: &mut Facts,
        t0: Instant,
        stop: &mut watch::Receiver<bool>,
        toxics_rx: &mut watch::Receiver<Arc<Vec<Toxic>>>,
        live: &Live,
    ) -> Outcome {
        // A FIN waits until the kernel has queued the bytes before it (sent by the partner's
        // psock work item, sk_psock_backlog()): shutdown() first would stop them (EPIPE).
        let mut fin_to_c: Option<u64> = None;
        let mut fin_to_s: Option<u64> = None;
        loop {
            if let Some(n) = fin_to_c
                && self.on_c().is_none_or(|q| q >= n)
            {
                fin_to_c = None;
                if let Some(x) = &c.sock {
                    let _ = sock::shutdown_fd(x.as_raw_fd(), libc::SHUT_WR);
                    f.proxy_fin_ms.get_or_insert(ms_since(t0));
                }
                c.fin_pending = true;
                c.fin_sent = true;
            }
            if let Some(n) = fin_to_s
                && self.on_s().is_none_or(|q| q >= n)
            {
                fin_to_s = None;
                if let Some(x) = &s.sock {
                    let _ = sock::shutdown_fd(x.as_raw_fd(), libc::SHUT_WR);
                }
                s.fin_pending = true;
                s.fin_sent = true;
            }
            let c_done = c.fin_sent && (c.eof || s.sock.is_none());
            let s_done = s.sock.is_none() || (s.eof && s.fin_sent);
            if c_done && s_done {
                self.store_counts(c, live);
                return Outcome::Ended;
            }
            let waiting = fin_to_c.is_some() || fin_to_s.is_some();
            tokio::select! {
                _ = stop.changed() => {
                    // Disabled or deleted: close both, as Toxiproxy does.
                    f.stopped = true;
                    if let Some(x) = &c.sock {
                        f.proxy_socket_state = crate::conn::state_of(x.as_raw_fd());
                        let _ = sock::shutdown_fd(x.as_raw_fd(), libc::SHUT_WR);
                        f.proxy_fin_ms.get_or_insert(ms_since(t0));
                    }
                    c.fin_pending = true;
                    c.fin_sent = true;
                    self.store_counts(c, live);
                    return Outcome::Ended;
                }
                _ = toxics_rx.changed() => {
                    let any = !toxics_rx.borrow_and_update().is_empty();
                    if any {
                        return self.hand_over(c, s, f, t0, stop, live, fin_to_c, fin_to_s).await;
                    }
                }
                _ = readable(&c.sock), if !c.eof => {
                    match c.sock.as_ref().map_or(Probe::Nothing, probe) {
                        Probe::Nothing => {}
                        Probe::Eof => {
                            c.eof = true;
                            f.client_fin_ms = Some(ms_since(t0));
                            // Nothing arrives after the FIN: this count is final.
                            fin_to_s = Some(self.moved(&self.c));
                        }
                        Probe::Error(e) => {
                            f.client_error = Some(errno_name(&e));
                            self.store_counts(c, live);
                            return Outcome::Ended;
                        }
                    }
                }
                _ = readable(&s.sock), if !s.eof => {
                    match s.sock.as_ref().map_or(Probe::Nothing, probe) {
                        Probe::Nothing => {}
                        Probe::Eof => {
                            s.eof = true;
                            fin_to_c = Some(self.moved(&self.s));
                        }
                        Probe::Error(_) => {
                            // The upstream reset: close toward the client once what it sent
                            // before is queued, as Toxiproxy does.
                            s.eof = true;
                            s.fin_sent = true;
                            s.sock = None;
                            fin_to_c = Some(self.moved(&self.s));
                        }
                    }
                }
                _ = tokio::time::sleep(POLL), if waiting => {}
                _ = tokio::time::sleep(TICK) => {
                    self.store_counts(c, live);
                    live.to_client.store(c.written, Ordering::Relaxed);
                }
            }
        }
    }

    /// Hands both directions to user space: from now on what arrives stays on its socket
    /// (the verdict passes it), and user space may write to a socket once everything the
    /// kernel redirected to it is queued there, so no byte is lost, doubled or reordered.
    #[allow(clippy::too_many_arguments)]
    async fn hand_over(
        &mut self,
        c: &mut Side,
        s: &mut Side,
        f: &mut Facts,
        t0: Instant,
        stop: &mut watch::Receiver<bool>,
        live: &Live,
        fin_to_c: Option<u64>,
        fin_to_s: Option<u64>,
    ) -> Outcome {
        let (to_s, to_c) = {
            let Ok(mut r) = self.relay.lock() else {
                return Outcome::Ended;
            };
            (
                r.release(&self.c, &self.s).unwrap_or(0),
                r.release(&self.s, &self.c).unwrap_or(0),
            )
        };
        c.psock = true;
        s.psock = true;
        loop {
            // A socket that failed takes no more bytes: nothing to wait for on it.
            let c_ok = c.sock.is_none() || self.on_c().is_none_or(|q| q >= to_c) || !alive(&c.sock);
            let s_ok = s.sock.is_none() || self.on_s().is_none_or(|q| q >= to_s) || !alive(&s.sock);
            if c_ok && s_ok {
                break;
            }
            tokio::select! {
                _ = stop.changed() => {
                    f.stopped = true;
                    if let Some(x) = &c.sock {
                        f.proxy_socket_state = crate::conn::state_of(x.as_raw_fd());
                        let _ = sock::shutdown_fd(x.as_raw_fd(), libc::SHUT_WR);
                        f.proxy_fin_ms.get_or_insert(ms_since(t0));
                    }
                    c.fin_pending = true;
                    c.fin_sent = true;
                    self.store_counts(c, live);
                    return Outcome::Ended;
                }
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        self.span.until_ms = Some(ms_since(t0));
        // From here on user space counts on from what the kernel moved.
        live.from_client.store(to_s, Ordering::Relaxed);
        c.written = to_c;
        live.to_client.store(to_c, Ordering::Relaxed);
        // A FIN already read but not yet passed on: user space sends it after the bytes above.
        if fin_to_c.is_some() {
            c.fin_pending = true;
        }
        if fin_to_s.is_some() {
            s.fin_pending = true;
        }
        Outcome::HandedOver
    }

    /// Removes the pair's entries from the maps; call it once both sockets are closed.
    pub fn finish(&self) {
        if let Ok(mut r) = self.relay.lock() {
            r.forget(&self.c, &self.s);
        }
    }
}

fn alive(s: &Option<TcpStream>) -> bool {
    s.as_ref().is_some_and(|x| {
        matches!(
            crate::conn::state_of(x.as_raw_fd()),
            Some(tcpmortem_core::TcpState::Established | tcpmortem_core::TcpState::CloseWait)
        )
    })
}

async fn readable(s: &Option<TcpStream>) -> io::Result<()> {
    match s {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}
