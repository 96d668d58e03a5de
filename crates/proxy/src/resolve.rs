//! Host names to addresses without the C library's resolver: glibc's getaddrinfo loads the
//! host's NSS modules, which a static binary must not do. Literals first, then `localhost`
//! (RFC 6761), then /etc/hosts, then DNS as /etc/resolv.conf says (hickory-resolver). IPv4
//! first, as Go's resolver orders them for a "tcp" dial.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Splits `HOST:PORT` (`[V6]:PORT`, `:PORT`) into the host and the port.
pub fn split(addr: &str) -> io::Result<(&str, u16)> {
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("address {addr}: {why}"),
        )
    };
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| bad("missing port in address"))?;
    let port = port.parse().map_err(|_| bad("unknown port"))?;
    Ok((host.trim_start_matches('[').trim_end_matches(']'), port))
}

/// The addresses of `host` known without the network: a literal, `localhost`, /etc/hosts.
pub fn local(host: &str) -> Option<Vec<IpAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(vec![ip]);
    }
    let mut found = hosts_file(
        host,
        &std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
    );
    if found.is_empty()
        && (host.eq_ignore_ascii_case("localhost")
            || host.to_ascii_lowercase().ends_with(".localhost"))
    {
        found = vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
    }
    if found.is_empty() {
        return None;
    }
    found.sort_by_key(IpAddr::is_ipv6);
    Some(found)
}

/// The addresses /etc/hosts (its text given) lists for `host`, in order.
pub fn hosts_file(host: &str, text: &str) -> Vec<IpAddr> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let ip: IpAddr = w.next()?.parse().ok()?;
            w.any(|n| n.eq_ignore_ascii_case(host)).then_some(ip)
        })
        .collect()
}

/// `HOST:PORT` to socket addresses, with DNS when the name is not known locally.
pub async fn lookup(addr: &str) -> io::Result<Vec<SocketAddr>> {
    let (host, port) = split(addr)?;
    let ips = match local(host) {
        Some(ips) => ips,
        None => {
            let resolver = hickory_resolver::TokioResolver::builder_tokio()
                .map_err(|e| io::Error::other(format!("lookup {host}: {e}")))?
                .build()
                .map_err(|e| io::Error::other(format!("lookup {host}: {e}")))?;
            let mut ips: Vec<IpAddr> = resolver
                .lookup_ip(host)
                .await
                .map_err(|e| {
                    io::Error::new(io::ErrorKind::NotFound, format!("lookup {host}: {e}"))
                })?
                .iter()
                .collect();
            ips.sort_by_key(IpAddr::is_ipv6);
            ips
        }
    };
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_localhost_and_the_hosts_file() {
        assert_eq!(split("[::1]:80").unwrap(), ("::1", 80));
        assert_eq!(split(":8474").unwrap(), ("", 8474));
        assert!(split("nohost").is_err());
        assert_eq!(local("10.1.2.3"), Some(vec!["10.1.2.3".parse().unwrap()]));
        let text = "# comment\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n10.0.0.7 db db.internal # ours\n";
        assert_eq!(
            hosts_file("DB.internal", text),
            vec!["10.0.0.7".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(hosts_file("localhost", text).len(), 2);
        assert!(hosts_file("other", text).is_empty());
        let l = local("localhost").unwrap();
        assert!(l[0].is_ipv4() && l.iter().all(IpAddr::is_loopback));
    }
}
