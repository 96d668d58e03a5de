//! The kernel's own counters, as `nstat` reads them: `/proc/net/netstat` and `/proc/net/snmp`
//! (pairs of lines, `Group: Name Name...` then `Group: value value...`) and
//! `/proc/net/snmp6` (`Name value` per line). Parsing and differences only; the files are
//! read inside each host's namespace by the runner.

use crate::record::CounterDelta;
use crate::scenario::Host;
use std::collections::BTreeMap;

/// Counters by (group, name).
pub type Counters = BTreeMap<(String, String), i64>;

/// Parses the text of netstat or snmp (header line, value line, per group) and of snmp6
/// (`Icmp6InDestUnreachs 1`), adding to `into`. Malformed lines are skipped.
pub fn parse(text: &str, into: &mut Counters) {
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some((group, names)) = line.split_once(": ")
            && let Some((vgroup, values)) = lines.get(i + 1).and_then(|l| l.split_once(": "))
            && vgroup == group
        {
            for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
                if let Ok(v) = v.parse::<i64>() {
                    into.insert((group.to_string(), n.to_string()), v);
                }
            }
            i += 2;
            continue;
        }
        // snmp6: "Icmp6InDestUnreachs               1"; the group is the name's prefix.
        let mut w = line.split_whitespace();
        if let (Some(name), Some(v), None) = (w.next(), w.next(), w.next())
            && let Ok(v) = v.parse::<i64>()
        {
            let group = ["Icmp6", "Ip6", "Udp6", "UdpLite6", "Tcp6"]
                .iter()
                .find(|g| name.starts_with(*g))
                .copied()
                .unwrap_or("Snmp6");
            into.insert((group.to_string(), name.to_string()), v);
        }
        i += 1;
    }
}

/// The counters that moved between two readings of a host, in the kernel's order.
pub fn moved(host: Host, before: &Counters, after: &Counters) -> Vec<CounterDelta> {
    after
        .iter()
        .filter_map(|((group, name), v)| {
            let delta = v - before
                .get(&(group.clone(), name.clone()))
                .copied()
                .unwrap_or(0);
            (delta != 0).then(|| CounterDelta {
                host,
                group: group.clone(),
                name: name.clone(),
                delta,
            })
        })
        .collect()
}

/// The counters that tell how a connection died, shown in the timeline; the rest (segments
/// in and out, octets...) are in the JSON. Each names the kernel path that counts it.
pub const TELLING: &[(&str, &str)] = &[
    ("TcpExt", "ListenOverflows"), // tcp_v4_syn_recv_sock(): the accept queue was full
    ("TcpExt", "ListenDrops"),     // a SYN or final ACK dropped by a listener
    ("TcpExt", "SyncookiesSent"),  // cookie_v4_init_sequence()
    ("TcpExt", "SyncookiesRecv"),  // cookie_v4_check() accepted a cookie
    ("TcpExt", "SyncookiesFailed"), // a cookie that did not check
    ("TcpExt", "EmbryonicRsts"),   // a RST for a request socket
    ("TcpExt", "TCPReqQFullDrop"), // SYN dropped: request queue full, no cookies
    ("TcpExt", "TCPReqQFullDoCookies"), // SYN answered with a cookie: request queue full
    ("TcpExt", "TCPAbortOnData"),  // data after close, or SO_LINGER {1,0} close
    ("TcpExt", "TCPAbortOnClose"), // close() with unread data
    ("TcpExt", "TCPAbortOnMemory"), // orphans over the limit
    ("TcpExt", "TCPAbortOnTimeout"), // retransmissions or keepalives gave up
    ("TcpExt", "TCPAbortOnLinger"), // FIN_WAIT2 with tcp_linger2 < 0
    ("TcpExt", "TCPAbortFailed"),  // a RST that could not be sent
    ("TcpExt", "LockDroppedIcmps"), // an ICMP error while the socket was owned by a call
    ("TcpExt", "OutOfWindowIcmps"), // an ICMP error quoting a sequence out of window
    ("TcpExt", "TCPTimeouts"),     // a retransmission timer fired
    ("TcpExt", "TCPSynRetrans"),   // a SYN or SYN-ACK retransmitted
    ("TcpExt", "TCPKeepAlive"),    // a keepalive probe sent
    ("TcpExt", "TCPTimeWaitOverflow"),
    ("TcpExt", "TCPBacklogDrop"),
    ("TcpExt", "TCPRcvQDrop"),
    ("TcpExt", "TCPZeroWindowDrop"),
    ("TcpExt", "TCPChallengeACK"), // tcp_send_challenge_ack(): a suspicious RST or SYN
    ("TcpExt", "TCPSYNChallenge"),
    ("TcpExt", "PAWSActive"),
    ("TcpExt", "PAWSEstab"),
    ("TcpExt", "TCPWqueueTooBig"),
    ("TcpExt", "TCPRetransFail"),
    ("Tcp", "OutRsts"),      // every RST sent, tcp_v4_send_reset() included
    ("Tcp", "EstabResets"),  // ESTABLISHED or CLOSE_WAIT to CLOSE
    ("Tcp", "AttemptFails"), // SYN_SENT or SYN_RECV to CLOSE
    ("Tcp", "InErrs"),
    ("Icmp", "InDestUnreachs"),
    ("Icmp", "OutDestUnreachs"),
    ("Icmp6", "Icmp6InDestUnreachs"),
    ("Icmp6", "Icmp6OutDestUnreachs"),
];

/// Whether a counter is one of the [`TELLING`] ones.
pub fn telling(group: &str, name: &str) -> bool {
    TELLING.iter().any(|(g, n)| *g == group && *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_netstat_snmp_and_snmp6_and_keeps_what_moved() {
        let mut before = Counters::new();
        parse(
            "TcpExt: SyncookiesSent ListenOverflows\nTcpExt: 0 0\nIpExt: InOctets\nIpExt: 100\n",
            &mut before,
        );
        parse("Tcp: RtoMin OutRsts\nTcp: 200 3\n", &mut before);
        parse(
            "Icmp6InDestUnreachs               0\nIp6InReceives 7\n",
            &mut before,
        );
        assert_eq!(before[&("Tcp".into(), "OutRsts".into())], 3);
        assert_eq!(before[&("Icmp6".into(), "Icmp6InDestUnreachs".into())], 0);
        let mut after = before.clone();
        after.insert(("TcpExt".into(), "ListenOverflows".into()), 1);
        after.insert(("Tcp".into(), "OutRsts".into()), 4);
        let m = moved(Host::Server, &before, &after);
        let names: Vec<(&str, i64)> = m.iter().map(|d| (d.name.as_str(), d.delta)).collect();
        assert_eq!(names, [("OutRsts", 1), ("ListenOverflows", 1)]);
        assert!(telling("TcpExt", "ListenOverflows") && !telling("IpExt", "InOctets"));
        // Garbage is skipped, never a panic.
        parse("TcpExt: a b\nIpExt: 1 2\n\n:\nx y z\n", &mut before);
    }
}
