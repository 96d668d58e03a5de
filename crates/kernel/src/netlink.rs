//! Just enough netlink: a socket, a message builder with nested attributes, acknowledged
//! requests and dumps. On top of it, the rtnetlink requests the lab's sandbox needs: veth
//! pairs across namespaces, links up, addresses and default routes (what `ip link`, `ip addr`
//! and `ip route` would do, without needing the `ip` binary).

use crate::{Error, Result, cvt, cvt_size};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

/// A netlink socket of one protocol, bound to the namespace it was created in.
#[derive(Debug)]
pub struct NlSocket {
    fd: OwnedFd,
    seq: u32,
}

impl NlSocket {
    pub fn open(protocol: libc::c_int) -> Result<NlSocket> {
        // SAFETY: plain socket(2) call; the result is checked before it becomes an OwnedFd.
        let fd = cvt(
            unsafe {
                libc::socket(
                    libc::AF_NETLINK,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    protocol,
                )
            },
            || format!("socket(AF_NETLINK, {protocol})"),
        )?;
        // SAFETY: fd was just returned by socket() and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(NlSocket { fd, seq: 1 })
    }

    fn send(&mut self, mut msg: Msg, what: &str) -> Result<u32> {
        self.seq += 1;
        msg.finish(self.seq);
        // SAFETY: the buffer is valid for its length; the kernel copies it.
        let ret = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                msg.buf.as_ptr().cast(),
                msg.buf.len(),
                0,
            )
        };
        cvt_size(ret, || format!("netlink send ({what})"))?;
        Ok(self.seq)
    }

    fn recv(&self, buf: &mut [u8], what: &str) -> Result<usize> {
        // SAFETY: buf is a valid writable buffer of its length.
        let ret = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        cvt_size(ret, || format!("netlink recv ({what})"))
    }

    /// Sends a request with NLM_F_ACK and waits for the kernel's answer.
    pub fn request(&mut self, msg: Msg, what: &str) -> Result<()> {
        let seq = self.send(msg, what)?;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = self.recv(&mut buf, what)?;
            for (ty, s, payload) in messages(&buf[..n]) {
                if s != seq {
                    continue;
                }
                if ty == NLMSG_ERROR {
                    let code = payload
                        .get(..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(-libc::EPROTO);
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(Error::new(what, std::io::Error::from_raw_os_error(-code)))
                    };
                }
            }
        }
    }

    /// Sends a dump request and returns each answer's payload (after the netlink header).
    pub fn dump(&mut self, msg: Msg, what: &str) -> Result<Vec<Vec<u8>>> {
        let seq = self.send(msg, what)?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 32768];
        loop {
            let n = self.recv(&mut buf, what)?;
            for (ty, s, payload) in messages(&buf[..n]) {
                if s != seq {
                    continue;
                }
                match ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .unwrap_or(-libc::EPROTO);
                        if code != 0 {
                            return Err(Error::new(what, std::io::Error::from_raw_os_error(-code)));
                        }
                        return Ok(out);
                    }
                    _ => out.push(payload.to_vec()),
                }
            }
        }
    }

    /// Sends a request answered by a single message (not a dump): its payload, or the error.
    pub fn get(&mut self, msg: Msg, what: &str) -> Result<Vec<u8>> {
        let seq = self.send(msg, what)?;
        let mut buf = vec![0u8; 32768];
        loop {
            let n = self.recv(&mut buf, what)?;
            for (ty, s, payload) in messages(&buf[..n]) {
                if s != seq {
                    continue;
                }
                if ty == NLMSG_ERROR {
                    let code = payload
                        .get(..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(-libc::EPROTO);
                    return Err(Error::new(
                        what,
                        std::io::Error::from_raw_os_error(-code.min(-1)),
                    ));
                }
                return Ok(payload.to_vec());
            }
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Splits a netlink datagram into (type, seq, payload) triples; stops at the first malformed
/// header instead of trusting its length.
fn messages(mut buf: &[u8]) -> impl Iterator<Item = (u16, u32, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return None;
        }
        let ty = u16::from_ne_bytes(buf[4..6].try_into().ok()?);
        let seq = u32::from_ne_bytes(buf[8..12].try_into().ok()?);
        let payload = &buf[NLMSG_HDRLEN..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((ty, seq, payload))
    })
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// A netlink message under construction.
#[derive(Debug)]
pub struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    pub fn new(ty: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | libc::NLM_F_REQUEST as u16).to_ne_bytes());
        Msg {
            buf,
            nests: Vec::new(),
        }
    }

    /// Appends a fixed header (ifinfomsg, ifaddrmsg, rtmsg, inet_diag_req_v2), padded.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Msg {
        self.buf.extend_from_slice(b);
        self.pad();
        self
    }

    pub fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Msg {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    pub fn attr_str(&mut self, ty: u16, s: &str) -> &mut Msg {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(ty, &v)
    }

    pub fn begin(&mut self, ty: u16) -> &mut Msg {
        self.nests.push(self.buf.len());
        self.attr(ty, &[])
    }

    pub fn end(&mut self) -> &mut Msg {
        if let Some(start) = self.nests.pop() {
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn finish(&mut self, seq: u32) {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    }
}

/// Iterates over the rtattrs of a payload: (type, data).
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3FFF;
        if len < 4 || len > buf.len() {
            return None;
        }
        let data = &buf[4..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((ty, data))
    })
}

// rtnetlink constants (include/uapi/linux/if_link.h, veth.h, rtnetlink.h).
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_F_NODAD: u8 = 0x02;
const RTA_GATEWAY: u16 = 5;
const RTA_OIF: u16 = 4;

fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = libc::AF_UNSPEC as u8;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// rtnetlink on a socket of the calling thread's namespace.
pub struct Rtnl(NlSocket);

impl Rtnl {
    pub fn open() -> Result<Rtnl> {
        Ok(Rtnl(NlSocket::open(libc::NETLINK_ROUTE)?))
    }

    /// Creates a veth pair: `name` in this socket's namespace, `peer` in the namespace
    /// `peer_ns` (`ip link add NAME type veth peer name PEER netns NS`).
    pub fn add_veth(&mut self, name: &str, peer: &str, peer_ns: RawFd) -> Result<()> {
        let flags = (libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
        let mut m = Msg::new(libc::RTM_NEWLINK, flags);
        m.bytes(&ifinfomsg(0, 0, 0)).attr_str(IFLA_IFNAME, name);
        m.begin(IFLA_LINKINFO).attr_str(IFLA_INFO_KIND, "veth");
        m.begin(IFLA_INFO_DATA).begin(VETH_INFO_PEER);
        m.bytes(&ifinfomsg(0, 0, 0))
            .attr_str(IFLA_IFNAME, peer)
            .attr(IFLA_NET_NS_FD, &(peer_ns as u32).to_ne_bytes());
        m.end().end().end();
        self.0.request(m, &format!("create veth {name} <-> {peer}"))
    }

    /// Sets a link up (`ip link set NAME up`).
    pub fn set_up(&mut self, index: u32) -> Result<()> {
        let mut m = Msg::new(libc::RTM_NEWLINK, libc::NLM_F_ACK as u16);
        let up = libc::IFF_UP as u32;
        m.bytes(&ifinfomsg(index as i32, up, up));
        self.0.request(m, &format!("set link {index} up"))
    }

    /// Adds an address (`ip addr add ADDR/PREFIX dev INDEX`). IPv6 addresses skip duplicate
    /// address detection, which would otherwise hold them back for a second or more.
    pub fn add_addr(&mut self, index: u32, addr: IpAddr, prefix: u8) -> Result<()> {
        let flags = (libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
        let mut m = Msg::new(libc::RTM_NEWADDR, flags);
        let (family, bytes) = ip_bytes(addr);
        let mut hdr = [0u8; 8];
        hdr[0] = family;
        hdr[1] = prefix;
        hdr[2] = if addr.is_ipv6() { IFA_F_NODAD } else { 0 };
        hdr[4..8].copy_from_slice(&index.to_ne_bytes());
        m.bytes(&hdr)
            .attr(IFA_LOCAL, &bytes)
            .attr(IFA_ADDRESS, &bytes);
        self.0.request(m, &format!("add address {addr}/{prefix}"))
    }

    /// Adds a default route (`ip route add default via GW dev INDEX`).
    pub fn add_default_route(&mut self, gateway: IpAddr, index: u32) -> Result<()> {
        let flags = (libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
        let mut m = Msg::new(libc::RTM_NEWROUTE, flags);
        let (family, bytes) = ip_bytes(gateway);
        let mut rtm = [0u8; 12];
        rtm[0] = family;
        rtm[4] = libc::RT_TABLE_MAIN;
        rtm[5] = libc::RTPROT_BOOT;
        rtm[6] = libc::RT_SCOPE_UNIVERSE;
        rtm[7] = libc::RTN_UNICAST;
        m.bytes(&rtm)
            .attr(RTA_GATEWAY, &bytes)
            .attr(RTA_OIF, &index.to_ne_bytes());
        self.0
            .request(m, &format!("add default route via {gateway}"))
    }
}

fn ip_bytes(a: IpAddr) -> (u8, Vec<u8>) {
    match a {
        IpAddr::V4(v) => (libc::AF_INET as u8, v.octets().to_vec()),
        IpAddr::V6(v) => (libc::AF_INET6 as u8, v.octets().to_vec()),
    }
}

/// The index of an interface in the calling thread's namespace.
pub fn if_index(name: &str) -> Result<u32> {
    let c = std::ffi::CString::new(name)
        .map_err(|e| Error::new("interface name", std::io::Error::other(e)))?;
    // SAFETY: c is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(Error::last(format!("if_nametoindex({name})")))
    } else {
        Ok(idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_have_their_lengths() {
        let mut m = Msg::new(16, 0);
        m.begin(18).attr_str(1, "veth").end();
        m.finish(7);
        let b = &m.buf;
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        let (ty, data) = attrs(&b[16..]).next().unwrap();
        assert_eq!(ty, 18);
        let (ty, inner) = attrs(data).next().unwrap();
        assert_eq!((ty, inner), (1, &b"veth\0"[..]));
    }

    #[test]
    fn malformed_messages_stop_the_iterator() {
        let mut buf = vec![0u8; 20];
        buf[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(messages(&buf).count(), 0);
        assert_eq!(attrs(&[5, 0, 1]).count(), 0);
    }
}
