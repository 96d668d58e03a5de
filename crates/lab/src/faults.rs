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

/// Why a fault could not be applied.
#[derive(Debug)]
pub enum FaultError {
    /// The `nft` program is not installed.
    NoNft(String),
    /// nft ran and refused, or could not be talked to.
    Failed(String),
}

impl FaultError {
    /// The run's error for the scenario line that asked for the fault.
    pub fn at(self, line: usize) -> crate::error::LabError {
        match self {
            FaultError::NoNft(message) => crate::error::LabError::Unavailable { line, message },
            FaultError::Failed(message) => crate::error::LabError::Scenario { line, message },
        }
    }
}

/// While a host "reboots", the router drops everything it sends, so that the RSTs its
/// destroyed sockets emit never reach the peer.
pub fn silence(sb: &Sandbox, host_ip: std::net::IpAddr, on: bool) -> Result<(), FaultError> {
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

/// Fails at once, before any sandbox is built, when the scenario has network faults (or a
/// host reboot, which silences the host through the router) and `nft` is not in PATH.
pub fn preflight(sc: &crate::scenario::Scenario) -> Result<(), crate::error::LabError> {
    use crate::scenario::StepKind;
    let Some(step) = sc
        .steps
        .iter()
        .find(|s| matches!(s.kind, StepKind::Net { .. } | StepKind::Reboot { .. }))
    else {
        return Ok(());
    };
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join("nft")).is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
        })
    });
    if found {
        Ok(())
    } else {
        Err(FaultError::NoNft(NO_NFT.into()).at(step.line))
    }
}

const NO_NFT: &str = "network faults need the nft program, which is not in PATH: install nftables (apt-get install nftables)";

/// Applies a fault.
pub fn apply(sb: &Sandbox, op: &NetOp) -> Result<(), FaultError> {
    run_nft(sb, &script(sb, op))
}

fn run_nft(sb: &Sandbox, script: &str) -> Result<(), FaultError> {
    let mut cmd = Command::new("nft");
    cmd.args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = spawn_in_netns(&mut cmd, sb.router.raw_fd()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            FaultError::NoNft(NO_NFT.into())
        } else {
            FaultError::Failed(format!("starting nft: {e}"))
        }
    })?;
    let failed = |e: std::io::Error| FaultError::Failed(format!("nft: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(failed)?;
    }
    let out = child.wait_with_output().map_err(failed)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(FaultError::Failed(format!(
            "nft failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
