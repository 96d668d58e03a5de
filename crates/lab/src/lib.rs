//! The lab: scenarios run by real client and server processes on real kernel sockets, in a
//! private client ↔ router ↔ server network, observed through each call's result, both ends'
//! TCP states, every packet on both router links, and the kernel's own tracepoints.
//!
//! - [`scenario`]: the scenario language as data (steps, calls, faults, expectations), and
//!   [`parse`]: text to scenario, refusing steps that cannot work;
//! - [`builtin`]: the scenarios shipped in the binary;
//! - [`sandbox`]: namespaces, veths and addresses;
//! - [`faults`]: faults on the path (nftables in the router's namespace);
//! - [`actor`]: the client and server processes; [`program`]: the user's own programs
//!   (`client exec ...`), and [`calls`]: their socket calls, from syscall tracepoints;
//! - [`observe`]: packet capture and tracefs readers;
//! - [`run`]: the runner and its settle logic;
//! - [`record`]: what a run observed, the model every renderer reads, and [`verdict`]: the
//!   scenario's expectations checked against it;
//! - [`other_os`] and [`explain`]: what other systems would do, and the plain-language ending.

pub mod actor;
pub mod builtin;
pub mod calls;
pub mod counters;
pub mod error;
pub mod explain;
pub mod faults;
pub mod observe;
pub mod other_os;
pub mod parse;
pub mod pcap;
pub mod program;
pub mod record;
pub mod run;
pub mod sandbox;
pub mod scenario;
pub mod serde_ext;
pub mod verdict;

pub use error::LabError;
