//! The lab: scenarios run by real client and server processes on real kernel sockets, in a
//! private client ↔ router ↔ server network, observed through each call's result, both ends'
//! TCP states, every packet on both router links, and the kernel's own tracepoints.
//!
//! - [`scenario`]: the scenario language (pure parsing), and [`expect`]: its assertions;
//! - [`builtin`]: the scenarios shipped in the binary;
//! - [`sandbox`]: namespaces, veths and addresses;
//! - [`faults`]: faults on the path (nftables in the router's namespace);
//! - [`actor`]: the client and server processes;
//! - [`observe`]: packet capture and tracefs readers;
//! - [`run`]: the runner and its settle logic;
//! - [`record`]: what a run observed, the model every renderer reads;
//! - [`other_os`] and [`explain`]: what other systems would do, and the plain-language ending.

pub mod actor;
pub mod builtin;
pub mod expect;
pub mod explain;
pub mod faults;
pub mod observe;
pub mod other_os;
pub mod pcap;
pub mod record;
pub mod run;
pub mod sandbox;
pub mod scenario;

/// Why a run could not be done. Each kind has its own exit code in the CLI.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "the lab needs root, or CAP_SYS_ADMIN + CAP_NET_ADMIN + CAP_NET_RAW; this process lacks {0}"
    )]
    Privilege(String),
    #[error("setting up the sandbox: {0}")]
    Setup(String),
    /// A program the scenario needs is not installed (`nft` for network faults).
    #[error("line {line}: {message}")]
    Unavailable { line: usize, message: String },
    #[error("actor: {0}")]
    Actor(String),
    #[error("line {line}: {message}")]
    Scenario { line: usize, message: String },
    #[error("interrupted")]
    Interrupted,
}
