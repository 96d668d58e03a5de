//! Faults on the path, built with nftables in the router's namespace, as a real middlebox
//! would apply them. The table lives in the run's private namespace and dies with it.

use crate::sandbox::Sandbox;
use crate::scenario::{Direction, NetOp};
use std::io::Write;
use std::process::{Command, Stdio};
use tcpmortem_kernel::proc::spawn_in_netns;

const TABLE: &str = "inet tcpmortem";

/// The nftables script for a fault.
pub fn script(sb: &Sandbox, op: &NetOp) -> String {
    let (c, s) = (sb.addresses.client, sb.addresses.server);
    let fam = if c.is_ipv4() { "ip" } else { "ip6" };
    let base = format!(
        "add table {TABLE}\nadd chain {TABLE} forward {{ type filter hook forward priority 0; policy accept; }}\n"
    );
    match op {
        NetOp::Restore => format!("{base}flush chain {TABLE} forward\n"),
        NetOp::Drop { direction } => {
            let rule = |from, to| {
                format!("add rule {TABLE} forward {fam} saddr {from} {fam} daddr {to} drop\n")
            };
            let rules = match direction {
                Direction::ClientToServer => rule(c, s),
                Direction::ServerToClient => rule(s, c),
                Direction::Both => rule(c, s) + &rule(s, c),
            };
            base + &rules
        }
    }
}

/// Applies a fault; the error is a message for the scenario's line.
pub fn apply(sb: &Sandbox, op: &NetOp) -> Result<(), String> {
    let script = script(sb, op);
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
