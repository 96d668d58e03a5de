//! The kernel interfaces tcpmortem needs, and the only crate with `unsafe`.
//!
//! - [`netns`]: network namespaces held by file descriptors, and running code inside them;
//! - [`netlink`]: just enough rtnetlink to build veth links, addresses and routes;
//! - [`ethtool`]: turning veth offloads off so captures show real segments and checksums;
//! - [`diag`]: sock_diag dumps of TCP sockets (state, queues, tcp_info) and SOCK_DESTROY;
//! - [`capture`]: AF_PACKET capture with kernel timestamps;
//! - [`mmap`]: memory-mapped windows onto a capture file, for `analyze`;
//! - [`tracefs`]: private trace instances, named after their owner's pid;
//! - [`sock`]: the socket calls the lab's actors make, with errno preserved;
//! - [`proc`]: process plumbing (parent-death signal, SIGPIPE accounting, clocks, privileges).
//!
//! Every function reports failures as [`Error`], which names the operation and its target.

pub mod bpf;
pub mod capture;
pub mod diag;
pub mod ethtool;
pub mod mmap;
pub mod netlink;
pub mod netns;
pub mod proc;
pub mod procnet;
pub mod sock;
pub mod tracefs;

use std::io;

/// A failed kernel operation: what we tried, on what, and the OS error.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {source}")]
pub struct Error {
    pub op: String,
    #[source]
    pub source: io::Error,
}

impl Error {
    pub fn new(op: impl Into<String>, source: io::Error) -> Error {
        Error {
            op: op.into(),
            source,
        }
    }

    /// The error of the last failed libc call.
    pub fn last(op: impl Into<String>) -> Error {
        Error::new(op, io::Error::last_os_error())
    }

    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Turns a libc return value into a `Result`, reading errno on -1.
/// setsockopt(2) with an int value; the raw return, for the caller's own error convention.
pub(crate) fn setsockopt_int(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> libc::c_int {
    // SAFETY: the option value points at a live c_int of the stated size; a bad fd is an
    // error return, not undefined behaviour.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        )
    }
}

pub(crate) fn cvt(ret: libc::c_int, op: impl FnOnce() -> String) -> Result<libc::c_int> {
    if ret < 0 {
        Err(Error::last(op()))
    } else {
        Ok(ret)
    }
}

pub(crate) fn cvt_size(ret: libc::ssize_t, op: impl FnOnce() -> String) -> Result<usize> {
    if ret < 0 {
        Err(Error::last(op()))
    } else {
        Ok(ret as usize)
    }
}
