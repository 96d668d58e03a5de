//! Packet capture on one interface with AF_PACKET, as tcpdump does, with the kernel's receive
//! timestamp (CLOCK_REALTIME, `SO_TIMESTAMPNS`) and the packet's direction.

use crate::{Error, Result, cvt};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// CLOCK_REALTIME, nanoseconds since the epoch.
    pub realtime_ns: u64,
    /// The frame left through this interface (PACKET_OUTGOING) rather than arrived on it.
    pub outgoing: bool,
    /// Length on the wire; `data` may be shorter when truncated by the buffer.
    pub wire_len: u32,
    pub data: Vec<u8>,
}

/// An AF_PACKET socket bound to one interface of the namespace it was created in.
#[derive(Debug)]
pub struct Capture {
    fd: OwnedFd,
    /// Reused for every frame; each frame keeps only its own bytes.
    buf: Vec<u8>,
}

impl Capture {
    /// Opens a capture on interface `index`. The socket is created with protocol 0 so that
    /// it sees nothing until bound: no frame from another interface slips in first.
    pub fn open(index: u32) -> Result<Capture> {
        // SAFETY: plain socket(2); checked.
        let fd = cvt(
            unsafe {
                libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                    0,
                )
            },
            || "socket(AF_PACKET) (needs CAP_NET_RAW)".into(),
        )?;
        // SAFETY: fresh descriptor, owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        cvt(
            crate::setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1),
            || "setsockopt(SO_TIMESTAMPNS)".into(),
        )?;
        // A larger receive buffer keeps bursts from being dropped; the default will do if
        // it is refused.
        crate::setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20);
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid starting value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = index as i32;
        // SAFETY: sll is a valid sockaddr_ll and the length matches it.
        cvt(
            unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            },
            || format!("bind AF_PACKET to interface {index}"),
        )?;
        Ok(Capture {
            fd,
            buf: vec![0u8; 65536],
        })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads one frame without blocking; `Ok(None)` when none is queued.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        let mut iov = libc::iovec {
            iov_base: self.buf.as_mut_ptr().cast(),
            iov_len: self.buf.len(),
        };
        // SAFETY: zeroed sockaddr_ll and msghdr are valid; every pointer stored in msg points
        // at a live buffer of the stated length for the duration of recvmsg.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut cbuf = [0u64; 16];
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        // MSG_TRUNC makes the return value the frame's real length.
        // SAFETY: msg is fully initialised above.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::WouldBlock => Ok(None),
                _ => Err(Error::new("recvmsg(AF_PACKET)", e)),
            };
        }
        let wire_len = n as u32;
        let data = self.buf[..(n as usize).min(self.buf.len())].to_vec();
        let mut realtime_ns = 0u64;
        // SAFETY: CMSG_* walk the control buffer that recvmsg filled, within msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS {
                    let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                    realtime_ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(Some(Frame {
            realtime_ns,
            outgoing: from.sll_pkttype == libc::PACKET_OUTGOING,
            wire_len,
            data,
        }))
    }
}
