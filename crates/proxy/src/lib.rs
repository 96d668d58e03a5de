//! `tcpmortem proxy`: a fault proxy that speaks Toxiproxy 2.x's HTTP API, whose faults
//! include real TCP deaths, and which says how each client connection died.
//!
//! - [`toxics`]: every toxic as a pure state machine over bytes and time, one file each;
//! - [`chain`]: one direction's toxics in order (pure);
//! - [`api`]: the API's requests, shapes and errors as data (pure);
//! - [`report`]: how a client connection ended, in `core::ending`'s vocabulary (pure);
//! - [`conn`], [`proxy`], [`server`], [`trace`], [`book`]: the I/O edge: sockets on tokio,
//!   listeners, the axum server, tracefs, and the record of connections.

pub mod api;
pub mod book;
pub mod chain;
pub mod conn;
pub mod proxy;
pub mod report;
pub mod resolve;
pub mod server;
pub mod toxics;
pub mod trace;

pub use proxy::{Env, Registry};
