//! The error catalog: what each connection-death error means on Linux, Windows and macOS.
//!
//! Every statement is a [`Claim`] that says how we know it ([`Basis`]) and where from, so that
//! renderers can mark documented facts apart from observed ones. Entries are static data: they
//! are checked by the compiler and by the tests in this module, and other parts of tcpmortem
//! (the lab, `analyze`, `watch`) point at them by id instead of repeating their text.

mod build;
mod entries;
mod socket;

use crate::errno::{self, Numbering, Os};
use serde::Serialize;

pub use entries::ENTRIES;

/// What kind of condition an entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An error number the kernel hands to the application.
    Errno,
    /// The peer closed (recv returned 0) while the application expected more; libraries turn
    /// this into an error of their own.
    PeerEof,
    /// The application, or its library, stopped waiting; the kernel reported nothing.
    AppTimeout,
    /// Your own side closed the connection (or its library did) and then used it; the peer did
    /// nothing.
    LocalClose,
}

/// Which part of networking an entry is about: how the answer heads its claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// A connection's life and death: packets, states, timers ("What happens in TCP").
    Connection,
    /// A socket call's arguments, permissions or resources: nothing was sent ("Where it comes
    /// from").
    Socket,
}

/// How a claim is known. Mirrors the tags of `docs/reference/tcp-termination.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// Vendor documentation (Microsoft Learn, man pages, RFCs).
    Doc,
    /// Read in source code (Linux, XNU, FreeBSD).
    Src,
    /// Asserted by a packetdrill test script.
    Test,
    /// Reported behaviour (issues, blogs, vendor forums) that we have not verified ourselves.
    Obs,
    /// Measured by tcpmortem's lab on Linux 6.18 with real sockets.
    Here,
}

impl Basis {
    pub fn label(self) -> &'static str {
        match self {
            Basis::Doc => "documented",
            Basis::Src => "read in source",
            Basis::Test => "packetdrill test",
            Basis::Obs => "only observed",
            Basis::Here => "measured here",
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Basis::Doc => "doc",
            Basis::Src => "src",
            Basis::Test => "test",
            Basis::Obs => "obs",
            Basis::Here => "here",
        }
    }
}

/// One statement with its provenance.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Claim {
    pub text: &'static str,
    pub basis: Basis,
    /// Function, file, document or page the claim rests on.
    pub source: &'static str,
}

/// A POSIX-style identity on one system.
#[derive(Debug, Clone, Copy)]
pub struct PosixIdentity {
    pub name: &'static str,
    pub number: i32,
    /// `strerror()` text on that system.
    pub message: &'static str,
}

/// The Winsock identity (`WSAGetLastError`).
#[derive(Debug, Clone, Copy)]
pub struct WinsockIdentity {
    pub name: &'static str,
    pub code: u32,
    /// `FormatMessage` text, as printed by most Windows software.
    pub message: &'static str,
}

/// A Win32 error code that overlapped I/O completion reports for this condition.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Win32Error {
    pub name: &'static str,
    pub code: u32,
    pub message: &'static str,
}

/// What one system does: produces the error, and when; or never does.
#[derive(Debug, Clone, Copy)]
pub struct SystemNote {
    pub os: Os,
    pub produced: bool,
    pub claim: Claim,
}

/// A real-world cause and what to do about it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Cause {
    pub cause: &'static str,
    pub fix: &'static str,
}

/// A phrasing that real software prints for this condition (lower case, matched as a
/// substring of the normalized query) and how strongly it points here (0–100).
#[derive(Debug, Clone, Copy)]
pub struct Phrase {
    pub text: &'static str,
    pub weight: u8,
}

/// One catalog entry.
#[derive(Debug)]
pub struct Entry {
    /// Stable id, used by other commands and in JSON (`econnreset`, `peer-eof`).
    pub id: &'static str,
    pub kind: Kind,
    pub area: Area,
    pub title: &'static str,
    pub linux: Option<PosixIdentity>,
    pub bsd: Option<PosixIdentity>,
    pub windows: Option<WinsockIdentity>,
    pub win32: &'static [Win32Error],
    /// .NET `System.Net.Sockets.SocketError` names.
    pub dotnet: &'static [&'static str],
    /// Rust `std::io::ErrorKind` variant.
    pub rust: Option<&'static str>,
    /// Python exception class (`ConnectionResetError`).
    pub python: Option<&'static str>,
    /// Other identifiers that name this condition as a whole token (Java classes, Go and
    /// browser error names), matched case-insensitively.
    pub tokens: &'static [&'static str],
    pub summary: &'static str,
    /// What it means in TCP terms: which packet or local event causes it, where, in which state.
    pub tcp: &'static [Claim],
    pub systems: &'static [SystemNote],
    /// Most frequent first.
    pub causes: &'static [Cause],
    pub advice: &'static [&'static str],
    pub phrases: &'static [Phrase],
    /// How often people meet it, 1–100: a prior for ranking ambiguous numbers.
    pub commonness: u8,
    /// Built-in lab scenarios that reproduce it (`tcpmortem lab run NAME`).
    pub scenarios: &'static [&'static str],
    /// Entries that are often confused with this one.
    pub related: &'static [&'static str],
}

impl Entry {
    pub fn by_id(id: &str) -> Option<&'static Entry> {
        ENTRIES.iter().find(|e| e.id == id)
    }

    /// The entry whose POSIX name (on Linux or BSD) is `name`.
    pub fn by_posix_name(name: &str) -> Option<&'static Entry> {
        ENTRIES.iter().find(|e| {
            e.linux.is_some_and(|p| p.name == name) || e.bsd.is_some_and(|p| p.name == name)
        })
    }

    /// The entry whose Winsock code is `code`.
    pub fn by_winsock(code: u32) -> Option<&'static Entry> {
        ENTRIES
            .iter()
            .find(|e| e.windows.is_some_and(|w| w.code == code))
    }

    /// The entry one of whose Win32 codes is `code`.
    pub fn by_win32(code: u32) -> Option<&'static Entry> {
        ENTRIES
            .iter()
            .find(|e| e.win32.iter().any(|w| w.code == code))
    }

    /// The POSIX name that other numberings (MSVC, libuv) use for this entry.
    pub fn posix_name(&self) -> Option<&'static str> {
        self.linux.or(self.bsd).map(|p| p.name)
    }

    /// MSVC C runtime errno, derived from the POSIX name.
    pub fn msvc_errno(&self) -> Option<i64> {
        errno::number_in(Numbering::MsvcErrno, self.posix_name()?)
    }

    /// libuv's code on Windows (Node.js `errno`), derived from the POSIX name.
    pub fn libuv_windows(&self) -> Option<i64> {
        errno::number_in(Numbering::LibuvWindows, self.posix_name()?)
    }

    /// `HRESULT_FROM_WIN32` of the Winsock code, as COM and WinRT report it.
    pub fn hresult(&self) -> Option<u32> {
        self.windows.map(|w| errno::hresult_from_win32(w.code))
    }

    /// Systems that never produce this error, with the reason.
    pub fn never_on(&self) -> impl Iterator<Item = &SystemNote> {
        self.systems.iter().filter(|s| !s.produced)
    }

    /// Every claim, tagged with its topic: the `evidence` of the JSON answer.
    pub fn evidence(&self) -> impl Iterator<Item = (&'static str, &Claim)> {
        let topic = match self.area {
            Area::Connection => "tcp",
            Area::Socket => "socket",
        };
        let tcp = self.tcp.iter().map(move |c| (topic, c));
        let sys = self.systems.iter().map(|s| {
            let topic = match s.os {
                Os::Linux => "linux",
                Os::Windows => "windows",
                Os::Macos => "macos",
            };
            (topic, &s.claim)
        });
        tcp.chain(sys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_related_ids_exist() {
        for (i, e) in ENTRIES.iter().enumerate() {
            assert!(
                ENTRIES[..i].iter().all(|o| o.id != e.id),
                "duplicate id {}",
                e.id
            );
            for r in e.related {
                assert!(Entry::by_id(r).is_some(), "{}: unknown related {r}", e.id);
            }
        }
    }

    #[test]
    fn identities_agree_with_the_number_tables() {
        for e in ENTRIES {
            if let Some(l) = e.linux {
                assert_eq!(
                    errno::name_in(Numbering::LinuxErrno, l.number.into()),
                    Some(l.name),
                    "{}",
                    e.id
                );
                assert_eq!(errno::linux_message(l.number.into()), Some(l.message));
            }
            if let Some(b) = e.bsd {
                assert_eq!(
                    errno::name_in(Numbering::BsdErrno, b.number.into()),
                    Some(b.name),
                    "{}",
                    e.id
                );
            }
            if let Some(w) = e.windows {
                assert_eq!(
                    errno::name_in(Numbering::Winsock, w.code.into()),
                    Some(w.name),
                    "{}",
                    e.id
                );
            }
        }
    }

    #[test]
    fn every_entry_is_complete() {
        for e in ENTRIES {
            assert!(!e.summary.is_empty() && !e.tcp.is_empty(), "{}", e.id);
            assert!(!e.causes.is_empty() && !e.advice.is_empty(), "{}", e.id);
            for os in Os::ALL {
                assert!(
                    e.systems.iter().any(|s| s.os == os),
                    "{}: says nothing about {os}",
                    e.id
                );
            }
            for p in e.phrases {
                assert_eq!(p.text, p.text.to_lowercase(), "{}: phrase case", e.id);
                assert!(p.weight <= 100);
            }
            if e.kind == Kind::Errno {
                assert!(e.linux.is_some() || e.windows.is_some(), "{}", e.id);
            }
        }
    }

    #[test]
    fn derived_forms() {
        let reset = Entry::by_id("econnreset").unwrap();
        assert_eq!(reset.msvc_errno(), Some(108));
        assert_eq!(reset.libuv_windows(), Some(-4077));
        assert_eq!(reset.hresult(), Some(0x8007_2746));
        let epipe = Entry::by_id("epipe").unwrap();
        assert!(epipe.windows.is_none());
        assert!(epipe.never_on().any(|s| s.os == Os::Windows));
        let netreset = Entry::by_id("enetreset").unwrap();
        assert!(netreset.never_on().any(|s| s.os == Os::Linux));
    }
}
