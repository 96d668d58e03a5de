//! Offloads off on veth links. With them on, AF_PACKET sees 64 KB GSO super-packets and TCP
//! checksums left for hardware that does not exist, so captures would not show what a real
//! wire carries (and Zeek-style checksum checks would flag every packet).

use crate::{Error, Result, cvt};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// include/uapi/linux/ethtool.h
const ETHTOOL_STXCSUM: u32 = 0x17;
const ETHTOOL_SSG: u32 = 0x19;
const ETHTOOL_STSO: u32 = 0x1f;
const ETHTOOL_SGSO: u32 = 0x24;
const ETHTOOL_SGRO: u32 = 0x2c;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

/// Turns checksum offload, scatter-gather, TSO, GSO and GRO off on an interface of the
/// calling thread's namespace (`ethtool -K NAME tx off sg off tso off gso off gro off`).
pub fn disable_offloads(ifname: &str) -> Result<()> {
    // SAFETY: plain socket(2); checked before use.
    let fd = cvt(
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) },
        || "socket for ethtool".into(),
    )?;
    // SAFETY: fd is fresh and owned here.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    for cmd in [
        ETHTOOL_SGRO,
        ETHTOOL_SGSO,
        ETHTOOL_STSO,
        ETHTOOL_SSG,
        ETHTOOL_STXCSUM,
    ] {
        let mut val = EthtoolValue { cmd, data: 0 };
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: (&mut val as *mut EthtoolValue).cast(),
            _pad: [0; 16],
        };
        for (d, s) in req
            .name
            .iter_mut()
            .zip(ifname.bytes().take(libc::IFNAMSIZ - 1))
        {
            *d = s as libc::c_char;
        }
        // SAFETY: req is a valid ifreq whose data points at a live ethtool_value for the
        // duration of the call.
        let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut req) };
        if ret < 0 {
            return Err(Error::last(format!("ethtool 0x{cmd:x} off on {ifname}")));
        }
    }
    Ok(())
}
