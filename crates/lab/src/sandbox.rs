//! The run's private network: client ↔ router ↔ server, three namespaces joined by two veth
//! pairs, built with rtnetlink. The host namespace is never touched.
//!
//! Addresses come from 198.18.0.0/15 (RFC 2544's benchmarking range), or 2001:2::/48 (RFC
//! 5180) for IPv6 scenarios. Each run reserves one block by binding an abstract Unix socket
//! named after it, so parallel runs never share addresses:
//!
//! ```text
//! client 198.18.B.1/30 ── eth0 │ to-client 198.18.B.2/30  router  to-server 198.18.B.5/30 │ eth0 ── server 198.18.B.6/30
//! ```

use crate::error::LabError;
use crate::record::Addresses;
use crate::scenario::Host;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
use tcpmortem_kernel::ethtool;
use tcpmortem_kernel::netlink::{Rtnl, if_index};
use tcpmortem_kernel::netns::{NetNs, read_sysctl, write_sysctl};

/// The router's interface toward the client.
pub const ROUTER_CLIENT_IF: &str = "to-client";
/// The router's interface toward the server.
pub const ROUTER_SERVER_IF: &str = "to-server";
pub const SERVER_PORT: u16 = 8080;
/// Buckets of each host's own TCP connection table (net.ipv4.tcp_ehash_entries): a scenario
/// holds a handful of sockets, a program under test perhaps thousands; a longer chain costs
/// a lookup little, while a dump walks every bucket.
const HOST_TCP_BUCKETS: u32 = 4096;
/// Congestion control set on every socket of a run (TCP_CONGESTION), so results do not
/// depend on the host's default, which namespaces inherit (bbr here, which paces packets).
/// Per socket because a namespace may only default to the host's
/// `tcp_allowed_congestion_control` (tcp_set_default_congestion_control() returns EPERM).
pub const CONGESTION_CONTROL: &str = "cubic";
/// The abstract socket names that reserve address blocks: `@tcpmortem/block/N`.
const BLOCK_NAME: &str = "tcpmortem/block/";
const BLOCKS: u32 = 512;

/// Namespaced sysctls recorded with each run: the ones that change how connections die.
pub const RECORDED_SYSCTLS: &[&str] = &[
    "net.ipv4.tcp_syn_retries",
    // Since 6.5 the first N SYN retransmissions come every initial RTO instead of doubling
    // (tcp_model_timeout() still bounds the whole by tcp_syn_retries' exponential schedule),
    // so a connect sends more SYNs than tcp_syn_retries + 1.
    "net.ipv4.tcp_syn_linear_timeouts",
    "net.ipv4.tcp_synack_retries",
    "net.ipv4.tcp_retries2",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_abort_on_overflow",
    "net.ipv4.tcp_max_syn_backlog",
    "net.core.somaxconn",
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_sack",
    "net.ipv4.tcp_rfc1337",
];

pub struct Sandbox {
    pub client: NetNs,
    pub router: NetNs,
    pub server: NetNs,
    pub addresses: Addresses,
    pub host_congestion_control: String,
    /// RECORDED_SYSCTLS per host, as they were once the sandbox was built.
    pub sysctls: BTreeMap<Host, BTreeMap<String, String>>,
    /// Held for the run: the address block's reservation.
    _block: Reservation,
}

/// An address block held by this process: an abstract Unix socket bound to the block's name.
///
/// Abstract names need no file, no directory and no privilege (a lock file under /run needed
/// write access there, which CAP_SYS_ADMIN + CAP_NET_ADMIN + CAP_NET_RAW do not give), and the
/// kernel releases them when the socket closes, even after SIGKILL (unix_release_sock()), so
/// nothing is left behind. They are scoped to the network namespace tcpmortem starts in, as
/// the lock files were scoped to the mount namespace that held /run.
#[derive(Debug)]
pub struct Reservation {
    pub block: u32,
    _socket: UnixDatagram,
}

/// Reserves a free /24 of 198.18.0.0/15 (a /64 of 2001:2::/48).
pub fn reserve_block() -> Result<Reservation, LabError> {
    // Start at a pid-dependent block so parallel runs rarely contend for the same name.
    let start = std::process::id() % BLOCKS;
    for i in 0..BLOCKS {
        let b = (start + i) % BLOCKS;
        let name = format!("{BLOCK_NAME}{b}");
        let addr = UnixAddr::from_abstract_name(name.as_bytes())
            .map_err(|e| LabError::Setup(format!("abstract socket name {name}: {e}")))?;
        match UnixDatagram::bind_addr(&addr) {
            Ok(socket) => {
                return Ok(Reservation {
                    block: b,
                    _socket: socket,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(LabError::Setup(format!("bind @{name}: {e}"))),
        }
    }
    Err(LabError::Setup(
        "all 512 address blocks of 198.18.0.0/15 are in use by other runs".into(),
    ))
}

fn ip(block: u32, host: u8, v6: bool) -> IpAddr {
    if v6 {
        // 2001:2::/48 (RFC 5180), IPv6's benchmarking range: 2001:2:0:BLOCK::HOST.
        IpAddr::V6(std::net::Ipv6Addr::new(
            0x2001,
            2,
            0,
            block as u16,
            0,
            0,
            0,
            u16::from(host),
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(
            198,
            18 + (block / 256) as u8,
            (block % 256) as u8,
            host,
        ))
    }
}

fn kerr(e: tcpmortem_kernel::Error) -> LabError {
    LabError::Setup(e.to_string())
}

/// Settings every host gets before its links exist. IPv4 runs turn IPv6 off, so the links
/// carry no ND or MLD noise. IPv6 runs keep link-local addresses, which a router needs to
/// solicit a neighbour for a packet it forwards (ndisc_send_ns() takes its source from the
/// link-local address), without duplicate address detection, which would hold them back.
fn base_sysctls(ipv6: bool) -> tcpmortem_kernel::Result<()> {
    if ipv6 {
        write_sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        write_sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        return write_sysctl("net.ipv6.conf.all.forwarding", "1");
    }
    write_sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
    write_sysctl("net.ipv6.conf.default.disable_ipv6", "1")
}

/// Brings `lo` and `ifname` up, turns offloads off, adds the address and, for end hosts, the
/// default route.
fn configure_host(
    ifname: &str,
    addr: IpAddr,
    gateway: Option<IpAddr>,
) -> tcpmortem_kernel::Result<()> {
    let mut rt = Rtnl::open()?;
    rt.set_up(if_index("lo")?)?;
    let idx = if_index(ifname)?;
    ethtool::disable_offloads(ifname)?;
    if addr.is_ipv6() {
        // End hosts do not forward.
        if gateway.is_some() {
            write_sysctl(&format!("net.ipv6.conf.{ifname}.forwarding"), "0")?;
        }
    }
    rt.add_addr(idx, addr, if addr.is_ipv6() { 126 } else { 30 })?;
    rt.set_up(idx)?;
    if let Some(gw) = gateway {
        rt.add_default_route(gw, idx)?;
    }
    Ok(())
}

impl Sandbox {
    /// Builds the sandbox, over IPv6 instead of IPv4 when `ipv6` is set.
    pub fn new(ipv6: bool) -> Result<Sandbox, LabError> {
        let lock = reserve_block()?;
        let block = lock.block;
        let addresses = Addresses {
            client: ip(block, 1, ipv6),
            router_client_side: ip(block, 2, ipv6),
            router_server_side: ip(block, 5, ipv6),
            server: ip(block, 6, ipv6),
            server_port: SERVER_PORT,
        };
        // Small tables of their own: the settle loop dumps both hosts' sockets every few
        // milliseconds, and a dump walks the whole table.
        let [client, router, server]: [NetNs; 3] = NetNs::new_with_own_tables(3, HOST_TCP_BUCKETS)
            .map_err(kerr)?
            .try_into()
            .map_err(|_| LabError::Setup("three namespaces were asked for".into()))?;
        let host_congestion_control = client
            .run(|| read_sysctl("net.ipv4.tcp_congestion_control"))
            .and_then(|r| r)
            .unwrap_or_default();
        for ns in [&client, &router, &server] {
            ns.run(|| base_sysctls(ipv6))
                .and_then(|r| r)
                .map_err(kerr)?;
        }
        let (cfd, sfd) = (client.raw_fd(), server.raw_fd());
        let a = addresses.clone();
        router
            .run(move || -> tcpmortem_kernel::Result<()> {
                write_sysctl("net.ipv4.ip_forward", "1")?;
                let mut rt = Rtnl::open()?;
                rt.add_veth(ROUTER_CLIENT_IF, "eth0", cfd)?;
                rt.add_veth(ROUTER_SERVER_IF, "eth0", sfd)?;
                configure_host(ROUTER_CLIENT_IF, a.router_client_side, None)?;
                configure_host(ROUTER_SERVER_IF, a.router_server_side, None)
            })
            .and_then(|r| r)
            .map_err(kerr)?;
        let (c, rc) = (addresses.client, addresses.router_client_side);
        client
            .run(move || configure_host("eth0", c, Some(rc)))
            .and_then(|r| r)
            .map_err(kerr)?;
        let (s, rs) = (addresses.server, addresses.router_server_side);
        server
            .run(move || configure_host("eth0", s, Some(rs)))
            .and_then(|r| r)
            .map_err(kerr)?;
        let mut sysctls = BTreeMap::new();
        for (host, ns) in [(Host::Client, &client), (Host::Server, &server)] {
            let values = ns
                .run(|| {
                    RECORDED_SYSCTLS
                        .iter()
                        .filter_map(|k| read_sysctl(k).ok().map(|v| (k.to_string(), v)))
                        .collect()
                })
                .map_err(kerr)?;
            sysctls.insert(host, values);
        }
        Ok(Sandbox {
            client,
            router,
            server,
            addresses,
            host_congestion_control,
            sysctls,
            _block: lock,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_block_is_not_given_twice_and_is_free_again_once_dropped() {
        let a = reserve_block().unwrap();
        let b = reserve_block().unwrap();
        assert_ne!(a.block, b.block);
        let block = a.block;
        drop(a);
        // Nothing on disk: the name disappears with the socket.
        let again = UnixDatagram::bind_addr(
            &UnixAddr::from_abstract_name(format!("{BLOCK_NAME}{block}").as_bytes()).unwrap(),
        );
        assert!(again.is_ok(), "block {block} still held: {again:?}");
    }
}
