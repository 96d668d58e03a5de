//! Short constructors for the catalog's static data, shared by its data modules.

use super::{
    Area, Basis, Cause, Claim, Entry, Kind, Phrase, PosixIdentity, SystemNote, Win32Error,
    WinsockIdentity,
};
use crate::errno::Os;

pub(super) const fn c(text: &'static str, basis: Basis, source: &'static str) -> Claim {
    Claim {
        text,
        basis,
        source,
    }
}
pub(super) const fn on(
    os: Os,
    text: &'static str,
    basis: Basis,
    source: &'static str,
) -> SystemNote {
    SystemNote {
        os,
        produced: true,
        claim: c(text, basis, source),
    }
}
pub(super) const fn never(
    os: Os,
    text: &'static str,
    basis: Basis,
    source: &'static str,
) -> SystemNote {
    SystemNote {
        os,
        produced: false,
        claim: c(text, basis, source),
    }
}
pub(super) const fn px(
    name: &'static str,
    number: i32,
    message: &'static str,
) -> Option<PosixIdentity> {
    Some(PosixIdentity {
        name,
        number,
        message,
    })
}
pub(super) const fn wsa(
    name: &'static str,
    code: u32,
    message: &'static str,
) -> Option<WinsockIdentity> {
    Some(WinsockIdentity {
        name,
        code,
        message,
    })
}
pub(super) const fn w32(name: &'static str, code: u32, message: &'static str) -> Win32Error {
    Win32Error {
        name,
        code,
        message,
    }
}
pub(super) const fn p(text: &'static str, weight: u8) -> Phrase {
    Phrase { text, weight }
}
pub(super) const fn cause(cause: &'static str, fix: &'static str) -> Cause {
    Cause { cause, fix }
}

pub(super) const MS_ERRORS: &str =
    "MS Winsock errors (learn.microsoft.com, windows-sockets-error-codes-2)";
pub(super) const TCP_RESET: &str = "net/ipv4/tcp_input.c tcp_reset()";
pub(super) const LAB: &str = "measured on Linux 6.18, docs/reference/tcp-termination.md";

/// An entry with nothing filled in, for struct-update syntax in the data modules: a socket
/// call's error, rarely met, with no identity yet.
pub(super) const SOCKET_ERRNO: Entry = Entry {
    id: "",
    kind: Kind::Errno,
    area: Area::Socket,
    title: "",
    linux: None,
    bsd: None,
    windows: None,
    win32: &[],
    dotnet: &[],
    rust: None,
    python: None,
    tokens: &[],
    summary: "",
    tcp: &[],
    systems: &[],
    causes: &[],
    advice: &[],
    phrases: &[],
    commonness: 10,
    scenarios: &[],
    related: &[],
};
