//! Faults on the path, built with nftables in the router's namespace, as a real middlebox
//! would apply them. The table lives in the run's private namespace and dies with it.

use crate::sandbox::Sandbox;
use crate::scenario::{Direction, NetOp};
use std::io::Write;
use std::process::{Command, Stdio};
use tcpmortem_kernel::proc::spawn_in_netns;

const TABLE: &str = "inet tcpmortem";

fn nft_flags(letters: &str) -> String {
    let names: Vec<&str> = letters
        .chars()
        .filter_map(|c| match c {
            'S' => Some("syn"),
            'F' => Some("fin"),
            'P' => Some("psh"),
            'R' => Some("rst"),
            'U' => Some("urg"),
            '.' => Some("ack"),
            _ => None,
        })
        .collect();
    names.join("|")
}

/// The nftables script for a fault.
pub fn script(sb: &Sandbox, op: &NetOp) -> String {
    let (c, s) = (sb.addresses.client, sb.addresses.server);
    let v4 = c.is_ipv4();
    let fam = if v4 { "ip" } else { "ip6" };
    let base = format!(
        "add table {TABLE}\nadd chain {TABLE} forward {{ type filter hook forward priority 0; policy accept; }}\n"
    );
    let pairs = |d: &Direction| match d {
        Direction::ClientToServer => vec![(c, s)],
        Direction::ServerToClient => vec![(s, c)],
        Direction::Both => vec![(c, s), (s, c)],
    };
    let rules = |d: &Direction, verdict: &str| -> String {
        pairs(d)
            .into_iter()
            .map(|(from, to)| {
                format!("add rule {TABLE} forward {fam} saddr {from} {fam} daddr {to} {verdict}\n")
            })
            .collect()
    };
    match op {
        NetOp::Restore => format!("{base}flush chain {TABLE} forward\n"),
        NetOp::Drop {
            direction,
            flags,
            after,
        } => {
            let mut verdict = String::new();
            // Exactly these flags: `.` is a pure ACK, as a handshake's last segment.
            if let Some(f) = flags {
                verdict += &format!("tcp flags & (fin|syn|rst|psh|ack|urg) == {} ", nft_flags(f));
            }
            if let Some(n) = after {
                verdict += &format!("quota over {n} bytes ");
            }
            base + &rules(direction, &(verdict + "drop"))
        }
        NetOp::Reset { direction } => {
            base + &rules(direction, "meta l4proto tcp reject with tcp reset")
        }
        NetOp::Unreachable { direction, port } => {
            let verdict = match (v4, port) {
                (true, false) => "reject with icmp type host-unreachable",
                (true, true) => "reject with icmp type port-unreachable",
                (false, false) => "reject with icmpv6 type addr-unreachable",
                (false, true) => "reject with icmpv6 type port-unreachable",
            };
            base + &rules(direction, verdict)
        }
    }
}

/// While a host "reboots", the router drops everything it sends, so that the RSTs its
/// destroyed sockets emit never reach the peer.
pub fn silence(sb: &Sandbox, host_ip: std::net::IpAddr, on: bool) -> Result<(), String> {
    let fam = if host_ip.is_ipv4() { "ip" } else { "ip6" };
    let script = if on {
        format!(
            "add table inet tcpmortem-reboot\nadd chain inet tcpmortem-reboot forward {{ type filter hook forward priority -10; policy accept; }}\nadd rule inet tcpmortem-reboot forward {fam} saddr {host_ip} drop\n"
        )
    } else {
        "delete table inet tcpmortem-reboot\n".to_string()
    };
    run_nft(sb, &script)
}

/// Applies a fault; the error is a message for the scenario's line.
pub fn apply(sb: &Sandbox, op: &NetOp) -> Result<(), String> {
    run_nft(sb, &script(sb, op))
}

fn run_nft(sb: &Sandbox, script: &str) -> Result<(), String> {
    let mut cmd = Command::new("nft");
    cmd.args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = spawn_in_netns(&mut cmd, sb.router.raw_fd())
        .map_err(|e| format!("net faults need the nft binary (apt-get install nftables): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| format!("nft: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
