//! The socket calls the lab's actors make. Every call returns the kernel's errno untouched
//! (`Err(libc::EPIPE)`), because the errno sequence is what the lab reports.
//!
//! A socket is made blocking ([`Sock::tcp_blocking`], [`Sock::accept_blocking`]) or
//! non-blocking ([`Sock::tcp`], [`Sock::accept`]). The lab's actors make blocking calls, as
//! applications do, each on its own thread; [`Sock::send`] and [`Sock::recv`] never wait
//! (MSG_DONTWAIT), [`Sock::send_wait`] and [`Sock::recv_wait`] wait on a blocking socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

/// A call's result: the value, or the errno.
pub type SysResult<T> = std::result::Result<T, i32>;

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn check(ret: libc::c_int) -> SysResult<libc::c_int> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

fn to_sockaddr(a: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; zeroed is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(v) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as u16;
            sin.sin_port = v.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(v.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as u16;
            sin6.sin6_port = v.port().to_be();
            sin6.sin6_addr.s6_addr = v.ip().octets();
            sin6.sin6_scope_id = v.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

fn from_sockaddr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let sin = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                0,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// A TCP socket.
#[derive(Debug)]
pub struct Sock {
    fd: OwnedFd,
}

impl Sock {
    /// A non-blocking TCP socket for `ip`'s family.
    pub fn tcp(ip: IpAddr) -> SysResult<Sock> {
        Sock::new(ip, libc::SOCK_NONBLOCK)
    }

    /// A blocking TCP socket, as an application makes by default: connect() waits for the
    /// handshake inside the kernel (inet_wait_for_connect()).
    pub fn tcp_blocking(ip: IpAddr) -> SysResult<Sock> {
        Sock::new(ip, 0)
    }

    fn new(ip: IpAddr, flags: libc::c_int) -> SysResult<Sock> {
        let family = if ip.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        // SAFETY: plain socket(2); checked.
        let fd = check(unsafe {
            libc::socket(
                family,
                libc::SOCK_STREAM | flags | libc::SOCK_CLOEXEC,
                libc::IPPROTO_TCP,
            )
        })?;
        // SAFETY: fresh descriptor, owned here.
        Ok(Sock {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// A second descriptor of the same socket (F_DUPFD_CLOEXEC). A call in flight on it keeps
    /// the socket open, as the kernel keeps a file open while a system call uses it: a close()
    /// of the other descriptor meanwhile does not close the connection.
    pub fn try_clone(&self) -> SysResult<Sock> {
        self.fd
            .try_clone()
            .map(|fd| Sock { fd })
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    }

    pub fn setsockopt_int(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        v: libc::c_int,
    ) -> SysResult<()> {
        check(crate::setsockopt_int(self.raw_fd(), level, name, v)).map(drop)
    }

    pub fn getsockopt_int(&self, level: libc::c_int, name: libc::c_int) -> SysResult<libc::c_int> {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: v and len are valid for writes of their sizes.
        check(unsafe {
            libc::getsockopt(
                self.raw_fd(),
                level,
                name,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        })?;
        Ok(v)
    }

    /// TCP_CONGESTION: the congestion control of this socket (and of the sockets a listener
    /// accepts, which inherit it).
    pub fn set_congestion(&self, name: &str) -> SysResult<()> {
        // SAFETY: option value points at the name's bytes for the stated length.
        check(unsafe {
            libc::setsockopt(
                self.raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_CONGESTION,
                name.as_ptr().cast(),
                name.len() as u32,
            )
        })
        .map(drop)
    }

    /// TCP_INFO of this socket, with SIOCINQ/SIOCOUTQ: what sock_diag cannot show for a socket
    /// in CLOSE, which is unhashed but still held by its application.
    pub fn tcp_info(&self) -> SysResult<crate::diag::DiagState> {
        tcp_info(self.raw_fd())
    }

    /// SO_MEMINFO: the socket's `sk_meminfo` array (rmem_alloc, rcvbuf, wmem_alloc, sndbuf,
    /// fwd_alloc, wmem_queued, optmem, backlog, drops).
    pub fn meminfo(&self) -> SysResult<[u32; 9]> {
        meminfo(self.raw_fd())
    }

    /// SO_LINGER: `{1, 0}` makes close() abort the connection with a RST.
    pub fn set_linger(&self, on: bool, secs: i32) -> SysResult<()> {
        set_linger(self.raw_fd(), on, secs)
    }

    pub fn bind(&self, a: &SocketAddr) -> SysResult<()> {
        let (ss, len) = to_sockaddr(a);
        // SAFETY: ss holds a valid address of length len.
        check(unsafe {
            libc::bind(
                self.raw_fd(),
                (&ss as *const libc::sockaddr_storage).cast(),
                len,
            )
        })
        .map(drop)
    }

    pub fn listen(&self, backlog: i32) -> SysResult<()> {
        // SAFETY: integer arguments only.
        check(unsafe { libc::listen(self.raw_fd(), backlog) }).map(drop)
    }

    /// connect(2). On a non-blocking socket `Err(EINPROGRESS)` means it is under way (poll for
    /// POLLOUT, then read [`Sock::take_error`]); on a blocking one it returns when the
    /// handshake completed or failed.
    pub fn connect(&self, a: &SocketAddr) -> SysResult<()> {
        let (ss, len) = to_sockaddr(a);
        // SAFETY: ss holds a valid address of length len.
        check(unsafe {
            libc::connect(
                self.raw_fd(),
                (&ss as *const libc::sockaddr_storage).cast(),
                len,
            )
        })
        .map(drop)
    }

    /// SO_ERROR: the pending error, cleared by reading it (how a non-blocking connect reports).
    pub fn take_error(&self) -> SysResult<i32> {
        self.getsockopt_int(libc::SOL_SOCKET, libc::SO_ERROR)
    }

    /// accept4(2), giving a non-blocking socket.
    pub fn accept(&self) -> SysResult<(Sock, Option<SocketAddr>)> {
        self.accept_flags(libc::SOCK_NONBLOCK)
    }

    /// accept4(2), giving a blocking socket; waits on a blocking listener.
    pub fn accept_blocking(&self) -> SysResult<(Sock, Option<SocketAddr>)> {
        self.accept_flags(0)
    }

    fn accept_flags(&self, flags: libc::c_int) -> SysResult<(Sock, Option<SocketAddr>)> {
        // SAFETY: zeroed storage is valid; len matches it.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: ss and len are valid for writes.
        let fd = check(unsafe {
            libc::accept4(
                self.raw_fd(),
                (&mut ss as *mut libc::sockaddr_storage).cast(),
                &mut len,
                flags | libc::SOCK_CLOEXEC,
            )
        })?;
        // SAFETY: fresh descriptor from accept4, owned here.
        let s = Sock {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        };
        Ok((s, from_sockaddr(&ss)))
    }

    /// send(2) without MSG_NOSIGNAL: a send that fails with EPIPE raises SIGPIPE, as in a C
    /// program (the actor counts it instead of dying). Never waits (MSG_DONTWAIT).
    pub fn send(&self, data: &[u8]) -> SysResult<usize> {
        self.send_flags(data, libc::MSG_DONTWAIT)
    }

    /// send(2) as a blocking call: on a blocking socket it waits for room in the send buffer
    /// and returns once all bytes are queued, or the count queued before an error.
    pub fn send_wait(&self, data: &[u8]) -> SysResult<usize> {
        self.send_flags(data, 0)
    }

    /// As [`Sock::send_wait`], without SIGPIPE (MSG_NOSIGNAL): the rest of a send that
    /// already queued some bytes, which a single send(2) would have returned without the
    /// signal.
    pub fn send_wait_nosignal(&self, data: &[u8]) -> SysResult<usize> {
        self.send_flags(data, libc::MSG_NOSIGNAL)
    }

    /// SO_LINGER: `Some(seconds)` when it is on (close() then waits up to that long, or
    /// aborts at 0).
    pub fn linger(&self) -> SysResult<Option<i32>> {
        let mut l = libc::linger {
            l_onoff: 0,
            l_linger: 0,
        };
        let mut len = std::mem::size_of::<libc::linger>() as libc::socklen_t;
        // SAFETY: l and len are valid for writes of their sizes.
        check(unsafe {
            libc::getsockopt(
                self.raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&mut l as *mut libc::linger).cast(),
                &mut len,
            )
        })?;
        Ok((l.l_onoff != 0).then_some(l.l_linger))
    }

    fn send_flags(&self, data: &[u8], flags: libc::c_int) -> SysResult<usize> {
        // SAFETY: data is valid for reads of its length.
        let n = unsafe { libc::send(self.raw_fd(), data.as_ptr().cast(), data.len(), flags) };
        if n < 0 { Err(errno()) } else { Ok(n as usize) }
    }

    /// recv(2); never waits (MSG_DONTWAIT).
    pub fn recv(&self, buf: &mut [u8]) -> SysResult<usize> {
        self.recv_flags(buf, libc::MSG_DONTWAIT)
    }

    /// recv(2) as a blocking call: on a blocking socket it waits for data, EOF or an error.
    pub fn recv_wait(&self, buf: &mut [u8]) -> SysResult<usize> {
        self.recv_flags(buf, 0)
    }

    fn recv_flags(&self, buf: &mut [u8], flags: libc::c_int) -> SysResult<usize> {
        // SAFETY: buf is valid for writes of its length.
        let n = unsafe { libc::recv(self.raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
        if n < 0 { Err(errno()) } else { Ok(n as usize) }
    }

    pub fn shutdown(&self, how: libc::c_int) -> SysResult<()> {
        // SAFETY: integer arguments only.
        check(unsafe { libc::shutdown(self.raw_fd(), how) }).map(drop)
    }

    /// close(2), returning its result (a close with SO_LINGER can fail).
    pub fn close(self) -> SysResult<()> {
        let fd = self.fd.into_raw_fd();
        // SAFETY: we own fd and give it up here.
        check(unsafe { libc::close(fd) }).map(drop)
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.name(libc::getsockname)
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.name(libc::getpeername)
    }

    fn name(
        &self,
        f: unsafe extern "C" fn(
            libc::c_int,
            *mut libc::sockaddr,
            *mut libc::socklen_t,
        ) -> libc::c_int,
    ) -> Option<SocketAddr> {
        // SAFETY: zeroed storage is valid; len matches it.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: f is getsockname/getpeername; ss and len are valid for writes.
        let r = unsafe {
            f(
                self.raw_fd(),
                (&mut ss as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        };
        (r == 0).then(|| from_sockaddr(&ss)).flatten()
    }
}

/// poll(2) on (fd, events) pairs; returns the revents of each, or the errno.
pub fn poll(fds: &[(RawFd, i16)], timeout_ms: i32) -> SysResult<Vec<i16>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, events)| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    // SAFETY: p is a valid array of pollfd of the given length.
    let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = errno();
        return if e == libc::EINTR {
            Ok(vec![0; fds.len()])
        } else {
            Err(e)
        };
    }
    Ok(p.iter().map(|x| x.revents).collect())
}

// Calls on any TCP socket's descriptor, such as one owned by an async runtime. The descriptor
// is only borrowed: a bad or closed one is an error return (EBADF), never undefined behaviour.

/// TCP_INFO with SIOCINQ/SIOCOUTQ (Recv-Q and Send-Q as netstat shows them).
pub fn tcp_info(fd: RawFd) -> SysResult<crate::diag::DiagState> {
    let mut buf = [0u8; 232];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf and len are valid for writes of their sizes.
    check(unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    let u32_at = |o: usize| u32::from_ne_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
    let mut inq: libc::c_int = 0;
    let mut outq: libc::c_int = 0;
    // SAFETY: SIOCINQ/SIOCOUTQ write one c_int each; failures leave them 0.
    unsafe {
        libc::ioctl(fd, libc::FIONREAD, &mut inq);
        libc::ioctl(fd, libc::TIOCOUTQ, &mut outq);
    }
    Ok(crate::diag::DiagState {
        state: buf[0],
        recv_q: inq.max(0) as u32,
        send_q: outq.max(0) as u32,
        wmem_queued: meminfo(fd)
            .ok()
            .map(|m| m[crate::diag::SK_MEMINFO_WMEM_QUEUED]),
        info: Some(crate::diag::TcpInfo {
            retransmits: buf[2],
            backoff: buf[4],
            rto_us: u32_at(8),
            unacked: u32_at(24),
            total_retrans: u32_at(100),
        }),
    })
}

/// SO_MEMINFO: the socket's `sk_meminfo` array (rmem_alloc, rcvbuf, wmem_alloc, sndbuf,
/// fwd_alloc, wmem_queued, optmem, backlog, drops).
pub fn meminfo(fd: RawFd) -> SysResult<[u32; 9]> {
    let mut v = [0u32; 9];
    let mut len = std::mem::size_of_val(&v) as libc::socklen_t;
    // SAFETY: v and len are valid for writes of their sizes; the kernel writes at most len.
    check(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            v.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

/// SO_LINGER: `{1, 0}` makes close() abort the connection with a RST (tcp_disconnect(),
/// reason TCP_STATE; TCP_ABORT_ON_CLOSE if data is still unread).
pub fn set_linger(fd: RawFd, on: bool, secs: i32) -> SysResult<()> {
    let l = libc::linger {
        l_onoff: i32::from(on),
        l_linger: secs,
    };
    // SAFETY: option value points at a live linger struct.
    check(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as u32,
        )
    })
    .map(drop)
}

/// TCP_REPAIR on or off (needs CAP_NET_ADMIN, tcp_can_repair_sock()). A socket closed in
/// repair mode is destroyed without a FIN or RST (tcp_disconnect() skips the reset for a
/// repair socket): the peer is left half-open, as after a reboot.
pub fn set_repair(fd: RawFd, on: bool) -> SysResult<()> {
    check(crate::setsockopt_int(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_REPAIR,
        i32::from(on),
    ))
    .map(drop)
}

/// Attaches a classic BPF socket filter that drops every incoming segment. tcp_v4_rcv()
/// runs the filter (tcp_filter()) before TCP sees the segment, so nothing is acknowledged or
/// answered: the peer's data disappears as into a black hole. Needs no privilege.
pub fn drop_all_incoming(fd: RawFd) -> SysResult<()> {
    // One instruction: BPF_RET | BPF_K with k = 0 (keep 0 bytes: drop).
    let mut insn = [libc::sock_filter {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: 0,
    }];
    let prog = libc::sock_fprog {
        len: 1,
        filter: insn.as_mut_ptr(),
    };
    // SAFETY: prog points at a live one-instruction program for the duration of the call;
    // the kernel copies it.
    check(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&prog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as u32,
        )
    })
    .map(drop)
}

/// listen(2) on an already listening socket changes only its backlog (inet_listen()): with 0,
/// one established connection fills the accept queue and further SYNs are dropped
/// (tcp_conn_request(), LINUX_MIB_LISTENOVERFLOWS).
pub fn set_backlog(fd: RawFd, backlog: i32) -> SysResult<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::listen(fd, backlog) }).map(drop)
}

/// setsockopt(2) with an int value, for options this module does not name.
pub fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> SysResult<()> {
    check(crate::setsockopt_int(fd, level, name, v)).map(drop)
}

/// shutdown(2) on a borrowed descriptor. On a listening socket, SHUT_RD stops listening at
/// once (inet_shutdown() → tcp_disconnect() → inet_csk_listen_stop()): new SYNs meet RST.
pub fn shutdown_fd(fd: RawFd, how: libc::c_int) -> SysResult<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::shutdown(fd, how) }).map(drop)
}

/// A pipe for splice(2): bytes move socket → pipe → socket inside the kernel, page
/// references rather than copies, so a proxy forwards without copying through user space.
#[derive(Debug)]
pub struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
}

impl Pipe {
    /// A non-blocking pipe, enlarged to `size` bytes where the kernel allows it.
    pub fn new(size: i32) -> SysResult<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: fds is a valid array of two ints for pipe2 to fill.
        check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
        // SAFETY: both descriptors are fresh from pipe2 and owned here.
        let p = unsafe {
            Pipe {
                r: OwnedFd::from_raw_fd(fds[0]),
                w: OwnedFd::from_raw_fd(fds[1]),
            }
        };
        // SAFETY: fcntl with integer arguments; failure keeps the default size.
        unsafe { libc::fcntl(p.w.as_raw_fd(), libc::F_SETPIPE_SZ, size) };
        Ok(p)
    }

    /// Moves up to `len` bytes from socket `from` into the pipe; 0 means EOF.
    pub fn fill_from(&self, from: RawFd, len: usize) -> SysResult<usize> {
        splice(from, self.w.as_raw_fd(), len)
    }

    /// Moves up to `len` bytes from the pipe to socket `to`.
    pub fn drain_to(&self, to: RawFd, len: usize) -> SysResult<usize> {
        splice(self.r.as_raw_fd(), to, len)
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> SysResult<usize> {
    // SAFETY: null offsets (both are pipes or sockets); integer arguments otherwise.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 { Err(errno()) } else { Ok(n as usize) }
}

/// Whether a socket has anything to read, without taking it: recv(MSG_PEEK) of one byte.
/// `Ok(0)` is EOF; `Err(EAGAIN)` means nothing yet.
pub fn peek_fd(fd: RawFd) -> SysResult<usize> {
    let mut b = [0u8; 1];
    // SAFETY: b is valid for writes of one byte.
    let n = unsafe {
        libc::recv(
            fd,
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 { Err(errno()) } else { Ok(n as usize) }
}
