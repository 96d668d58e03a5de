//! Error numbers as each system spells them.
//!
//! A number alone means nothing without its system: 54 is ECONNRESET on macOS and EXFULL on
//! Linux; 108 is ECONNRESET in the MSVC C runtime and ESHUTDOWN on Linux. These tables let
//! `explain` list every reading of a number. Sources:
//! - Linux: `include/uapi/asm-generic/errno-base.h` and `errno.h` (x86-64), read off glibc here;
//! - macOS/BSD: XNU `bsd/sys/errno.h`;
//! - MSVC C runtime: `errno.h`'s "POSIX supplement" (100–140);
//! - Winsock: `winsock2.h` (`WSABASEERR` 10000 + the BSD number for the socket errors);
//! - libuv on Windows: `include/uv/win.h` (`UV__ECONNRESET` = -4077 ...); on Unix libuv
//!   uses `-errno`.

use serde::Serialize;
use std::fmt;

/// An operating system whose error spelling we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Windows,
    Macos,
}

impl Os {
    pub const ALL: [Os; 3] = [Os::Linux, Os::Windows, Os::Macos];

    pub fn label(self) -> &'static str {
        match self {
            Os::Linux => "Linux",
            Os::Windows => "Windows",
            Os::Macos => "macOS",
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Which numbering a number was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Numbering {
    /// Linux errno (x86-64 and the generic ABI).
    LinuxErrno,
    /// macOS / FreeBSD errno.
    BsdErrno,
    /// The MSVC C runtime's errno (`_get_errno`, `strerror`), which Python and others on
    /// Windows sometimes surface.
    MsvcErrno,
    /// Winsock (`WSAGetLastError`).
    Winsock,
    /// Win32 `GetLastError` as reported by overlapped I/O completion.
    Win32,
    /// libuv's negative codes on Windows (Node.js `errno: -4077`).
    LibuvWindows,
    /// libuv/Node on Unix: the negated errno.
    LibuvUnix,
    /// A COM/WinRT HRESULT wrapping a Win32 or Winsock code (`HRESULT_FROM_WIN32`).
    Hresult,
}

impl Numbering {
    pub fn label(self) -> &'static str {
        match self {
            Numbering::LinuxErrno => "Linux errno",
            Numbering::BsdErrno => "macOS/BSD errno",
            Numbering::MsvcErrno => "MSVC C runtime errno",
            Numbering::Winsock => "Winsock error",
            Numbering::Win32 => "Win32 error",
            Numbering::LibuvWindows => "libuv code on Windows",
            Numbering::LibuvUnix => "libuv code on Unix (negated errno)",
            Numbering::Hresult => "HRESULT",
        }
    }

    /// The system a reading in this numbering points at, where it points at one.
    pub fn os(self) -> Option<Os> {
        match self {
            Numbering::LinuxErrno => Some(Os::Linux),
            Numbering::BsdErrno => Some(Os::Macos),
            Numbering::MsvcErrno
            | Numbering::Winsock
            | Numbering::Win32
            | Numbering::LibuvWindows
            | Numbering::Hresult => Some(Os::Windows),
            Numbering::LibuvUnix => None,
        }
    }
}

/// Linux errno names and `strerror` texts, 1–133 (glibc on x86-64). Index = number.
const LINUX: &[(&str, &str)] = &[
    ("", ""),
    ("EPERM", "Operation not permitted"),
    ("ENOENT", "No such file or directory"),
    ("ESRCH", "No such process"),
    ("EINTR", "Interrupted system call"),
    ("EIO", "Input/output error"),
    ("ENXIO", "No such device or address"),
    ("E2BIG", "Argument list too long"),
    ("ENOEXEC", "Exec format error"),
    ("EBADF", "Bad file descriptor"),
    ("ECHILD", "No child processes"),
    ("EAGAIN", "Resource temporarily unavailable"),
    ("ENOMEM", "Cannot allocate memory"),
    ("EACCES", "Permission denied"),
    ("EFAULT", "Bad address"),
    ("ENOTBLK", "Block device required"),
    ("EBUSY", "Device or resource busy"),
    ("EEXIST", "File exists"),
    ("EXDEV", "Invalid cross-device link"),
    ("ENODEV", "No such device"),
    ("ENOTDIR", "Not a directory"),
    ("EISDIR", "Is a directory"),
    ("EINVAL", "Invalid argument"),
    ("ENFILE", "Too many open files in system"),
    ("EMFILE", "Too many open files"),
    ("ENOTTY", "Inappropriate ioctl for device"),
    ("ETXTBSY", "Text file busy"),
    ("EFBIG", "File too large"),
    ("ENOSPC", "No space left on device"),
    ("ESPIPE", "Illegal seek"),
    ("EROFS", "Read-only file system"),
    ("EMLINK", "Too many links"),
    ("EPIPE", "Broken pipe"),
    ("EDOM", "Numerical argument out of domain"),
    ("ERANGE", "Numerical result out of range"),
    ("EDEADLK", "Resource deadlock avoided"),
    ("ENAMETOOLONG", "File name too long"),
    ("ENOLCK", "No locks available"),
    ("ENOSYS", "Function not implemented"),
    ("ENOTEMPTY", "Directory not empty"),
    ("ELOOP", "Too many levels of symbolic links"),
    ("", ""),
    ("ENOMSG", "No message of desired type"),
    ("EIDRM", "Identifier removed"),
    ("ECHRNG", "Channel number out of range"),
    ("EL2NSYNC", "Level 2 not synchronized"),
    ("EL3HLT", "Level 3 halted"),
    ("EL3RST", "Level 3 reset"),
    ("ELNRNG", "Link number out of range"),
    ("EUNATCH", "Protocol driver not attached"),
    ("ENOCSI", "No CSI structure available"),
    ("EL2HLT", "Level 2 halted"),
    ("EBADE", "Invalid exchange"),
    ("EBADR", "Invalid request descriptor"),
    ("EXFULL", "Exchange full"),
    ("ENOANO", "No anode"),
    ("EBADRQC", "Invalid request code"),
    ("EBADSLT", "Invalid slot"),
    ("", ""),
    ("EBFONT", "Bad font file format"),
    ("ENOSTR", "Device not a stream"),
    ("ENODATA", "No data available"),
    ("ETIME", "Timer expired"),
    ("ENOSR", "Out of streams resources"),
    ("ENONET", "Machine is not on the network"),
    ("ENOPKG", "Package not installed"),
    ("EREMOTE", "Object is remote"),
    ("ENOLINK", "Link has been severed"),
    ("EADV", "Advertise error"),
    ("ESRMNT", "Srmount error"),
    ("ECOMM", "Communication error on send"),
    ("EPROTO", "Protocol error"),
    ("EMULTIHOP", "Multihop attempted"),
    ("EDOTDOT", "RFS specific error"),
    ("EBADMSG", "Bad message"),
    ("EOVERFLOW", "Value too large for defined data type"),
    ("ENOTUNIQ", "Name not unique on network"),
    ("EBADFD", "File descriptor in bad state"),
    ("EREMCHG", "Remote address changed"),
    ("ELIBACC", "Can not access a needed shared library"),
    ("ELIBBAD", "Accessing a corrupted shared library"),
    ("ELIBSCN", ".lib section in a.out corrupted"),
    ("ELIBMAX", "Attempting to link in too many shared libraries"),
    ("ELIBEXEC", "Cannot exec a shared library directly"),
    (
        "EILSEQ",
        "Invalid or incomplete multibyte or wide character",
    ),
    ("ERESTART", "Interrupted system call should be restarted"),
    ("ESTRPIPE", "Streams pipe error"),
    ("EUSERS", "Too many users"),
    ("ENOTSOCK", "Socket operation on non-socket"),
    ("EDESTADDRREQ", "Destination address required"),
    ("EMSGSIZE", "Message too long"),
    ("EPROTOTYPE", "Protocol wrong type for socket"),
    ("ENOPROTOOPT", "Protocol not available"),
    ("EPROTONOSUPPORT", "Protocol not supported"),
    ("ESOCKTNOSUPPORT", "Socket type not supported"),
    ("EOPNOTSUPP", "Operation not supported"),
    ("EPFNOSUPPORT", "Protocol family not supported"),
    ("EAFNOSUPPORT", "Address family not supported by protocol"),
    ("EADDRINUSE", "Address already in use"),
    ("EADDRNOTAVAIL", "Cannot assign requested address"),
    ("ENETDOWN", "Network is down"),
    ("ENETUNREACH", "Network is unreachable"),
    ("ENETRESET", "Network dropped connection on reset"),
    ("ECONNABORTED", "Software caused connection abort"),
    ("ECONNRESET", "Connection reset by peer"),
    ("ENOBUFS", "No buffer space available"),
    ("EISCONN", "Transport endpoint is already connected"),
    ("ENOTCONN", "Transport endpoint is not connected"),
    ("ESHUTDOWN", "Cannot send after transport endpoint shutdown"),
    ("ETOOMANYREFS", "Too many references: cannot splice"),
    ("ETIMEDOUT", "Connection timed out"),
    ("ECONNREFUSED", "Connection refused"),
    ("EHOSTDOWN", "Host is down"),
    ("EHOSTUNREACH", "No route to host"),
    ("EALREADY", "Operation already in progress"),
    ("EINPROGRESS", "Operation now in progress"),
    ("ESTALE", "Stale file handle"),
    ("EUCLEAN", "Structure needs cleaning"),
    ("ENOTNAM", "Not a XENIX named type file"),
    ("ENAVAIL", "No XENIX semaphores available"),
    ("EISNAM", "Is a named type file"),
    ("EREMOTEIO", "Remote I/O error"),
    ("EDQUOT", "Disk quota exceeded"),
    ("ENOMEDIUM", "No medium found"),
    ("EMEDIUMTYPE", "Wrong medium type"),
    ("ECANCELED", "Operation canceled"),
    ("ENOKEY", "Required key not available"),
    ("EKEYEXPIRED", "Key has expired"),
    ("EKEYREVOKED", "Key has been revoked"),
    ("EKEYREJECTED", "Key was rejected by service"),
    ("EOWNERDEAD", "Owner died"),
    ("ENOTRECOVERABLE", "State not recoverable"),
    ("ERFKILL", "Operation not possible due to RF-kill"),
    ("EHWPOISON", "Memory page has hardware error"),
];

/// macOS (XNU) errno names, 1–106. Index = number. `strerror` texts are given only for the
/// socket errors in the catalog, which carries them.
const BSD: &[&str] = &[
    "",
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EDEADLK",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EAGAIN",
    "EINPROGRESS",
    "EALREADY",
    "ENOTSOCK",
    "EDESTADDRREQ",
    "EMSGSIZE",
    "EPROTOTYPE",
    "ENOPROTOOPT",
    "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT",
    "ENOTSUP",
    "EPFNOSUPPORT",
    "EAFNOSUPPORT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENETDOWN",
    "ENETUNREACH",
    "ENETRESET",
    "ECONNABORTED",
    "ECONNRESET",
    "ENOBUFS",
    "EISCONN",
    "ENOTCONN",
    "ESHUTDOWN",
    "ETOOMANYREFS",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "ELOOP",
    "ENAMETOOLONG",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "ENOTEMPTY",
    "EPROCLIM",
    "EUSERS",
    "EDQUOT",
    "ESTALE",
    "EREMOTE",
    "EBADRPC",
    "ERPCMISMATCH",
    "EPROGUNAVAIL",
    "EPROGMISMATCH",
    "EPROCUNAVAIL",
    "ENOLCK",
    "ENOSYS",
    "EFTYPE",
    "EAUTH",
    "ENEEDAUTH",
    "EPWROFF",
    "EDEVERR",
    "EOVERFLOW",
    "EBADEXEC",
    "EBADARCH",
    "ESHLIBVERS",
    "EBADMACHO",
    "ECANCELED",
    "EIDRM",
    "ENOMSG",
    "EILSEQ",
    "ENOATTR",
    "EBADMSG",
    "EMULTIHOP",
    "ENODATA",
    "ENOLINK",
    "ENOSR",
    "ENOSTR",
    "EPROTO",
    "ETIME",
    "EOPNOTSUPP",
    "ENOPOLICY",
    "ENOTRECOVERABLE",
    "EOWNERDEAD",
    "EQFULL",
];

/// The MSVC C runtime's classic numbers that socket code meets (`errno.h`): they are the old
/// Unix ones, so they agree with Linux and macOS.
const MSVC_CLASSIC: &[(i32, &str)] = &[
    (1, "EPERM"),
    (4, "EINTR"),
    (9, "EBADF"),
    (11, "EAGAIN"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (22, "EINVAL"),
    (23, "ENFILE"),
    (24, "EMFILE"),
    (32, "EPIPE"),
];

/// The MSVC C runtime's POSIX supplement, 100–140 (`errno.h`). Index = number − 100.
const MSVC_SUPPLEMENT: &[&str] = &[
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "EAFNOSUPPORT",
    "EALREADY",
    "EBADMSG",
    "ECANCELED",
    "ECONNABORTED",
    "ECONNREFUSED",
    "ECONNRESET",
    "EDESTADDRREQ",
    "EHOSTUNREACH",
    "EIDRM",
    "EINPROGRESS",
    "EISCONN",
    "ELOOP",
    "EMSGSIZE",
    "ENETDOWN",
    "ENETRESET",
    "ENETUNREACH",
    "ENOBUFS",
    "ENODATA",
    "ENOLINK",
    "ENOMSG",
    "ENOPROTOOPT",
    "ENOSR",
    "ENOSTR",
    "ENOTCONN",
    "ENOTRECOVERABLE",
    "ENOTSOCK",
    "ENOTSUP",
    "EOPNOTSUPP",
    "EOTHER",
    "EOVERFLOW",
    "EOWNERDEAD",
    "EPROTO",
    "EPROTONOSUPPORT",
    "EPROTOTYPE",
    "ETIME",
    "ETIMEDOUT",
    "ETXTBSY",
    "EWOULDBLOCK",
];

/// libuv's Windows codes for the errors the catalog knows (`include/uv/win.h`).
const LIBUV_WINDOWS: &[(i32, &str)] = &[
    (-4092, "EACCES"),
    (-4091, "EADDRINUSE"),
    (-4090, "EADDRNOTAVAIL"),
    (-4089, "EAFNOSUPPORT"),
    (-4088, "EAGAIN"),
    (-4084, "EALREADY"),
    (-4083, "EBADF"),
    (-4079, "ECONNABORTED"),
    (-4078, "ECONNREFUSED"),
    (-4077, "ECONNRESET"),
    (-4076, "EDESTADDRREQ"),
    (-4074, "EFAULT"),
    (-4073, "EHOSTUNREACH"),
    (-4072, "EINTR"),
    (-4071, "EINVAL"),
    (-4069, "EISCONN"),
    (-4066, "EMFILE"),
    (-4065, "EMSGSIZE"),
    (-4063, "ENETDOWN"),
    (-4062, "ENETUNREACH"),
    (-4061, "ENFILE"),
    (-4060, "ENOBUFS"),
    (-4053, "ENOTCONN"),
    (-4050, "ENOTSOCK"),
    (-4049, "ENOTSUP"),
    (-4048, "EPERM"),
    (-4047, "EPIPE"),
    (-4046, "EPROTO"),
    (-4045, "EPROTONOSUPPORT"),
    (-4044, "EPROTOTYPE"),
    (-4042, "ESHUTDOWN"),
    (-4039, "ETIMEDOUT"),
    (-4035, "ENOPROTOOPT"),
    (-4031, "EHOSTDOWN"),
    (-4025, "ESOCKTNOSUPPORT"),
    (-4095, "EOF"),
];

/// Winsock codes and their `winsock2.h` names, for the socket range.
const WINSOCK: &[(u32, &str)] = &[
    (10004, "WSAEINTR"),
    (10009, "WSAEBADF"),
    (10013, "WSAEACCES"),
    (10014, "WSAEFAULT"),
    (10022, "WSAEINVAL"),
    (10024, "WSAEMFILE"),
    (10035, "WSAEWOULDBLOCK"),
    (10036, "WSAEINPROGRESS"),
    (10037, "WSAEALREADY"),
    (10038, "WSAENOTSOCK"),
    (10039, "WSAEDESTADDRREQ"),
    (10040, "WSAEMSGSIZE"),
    (10041, "WSAEPROTOTYPE"),
    (10042, "WSAENOPROTOOPT"),
    (10043, "WSAEPROTONOSUPPORT"),
    (10044, "WSAESOCKTNOSUPPORT"),
    (10045, "WSAEOPNOTSUPP"),
    (10046, "WSAEPFNOSUPPORT"),
    (10047, "WSAEAFNOSUPPORT"),
    (10048, "WSAEADDRINUSE"),
    (10049, "WSAEADDRNOTAVAIL"),
    (10050, "WSAENETDOWN"),
    (10051, "WSAENETUNREACH"),
    (10052, "WSAENETRESET"),
    (10053, "WSAECONNABORTED"),
    (10054, "WSAECONNRESET"),
    (10055, "WSAENOBUFS"),
    (10056, "WSAEISCONN"),
    (10057, "WSAENOTCONN"),
    (10058, "WSAESHUTDOWN"),
    (10059, "WSAETOOMANYREFS"),
    (10060, "WSAETIMEDOUT"),
    (10061, "WSAECONNREFUSED"),
    (10062, "WSAELOOP"),
    (10063, "WSAENAMETOOLONG"),
    (10064, "WSAEHOSTDOWN"),
    (10065, "WSAEHOSTUNREACH"),
    (10066, "WSAENOTEMPTY"),
    (10067, "WSAEPROCLIM"),
    (10091, "WSASYSNOTREADY"),
    (10092, "WSAVERNOTSUPPORTED"),
    (10093, "WSANOTINITIALISED"),
    (10101, "WSAEDISCON"),
    (11001, "WSAHOST_NOT_FOUND"),
    (11002, "WSATRY_AGAIN"),
    (11003, "WSANO_RECOVERY"),
    (11004, "WSANO_DATA"),
];

/// The name a number has in a numbering, if it has one there.
pub fn name_in(numbering: Numbering, n: i64) -> Option<&'static str> {
    let idx = |table_len: usize, base: i64| -> Option<usize> {
        let i = usize::try_from(n.checked_sub(base)?).ok()?;
        (i < table_len).then_some(i)
    };
    let nonempty = |s: &'static str| (!s.is_empty()).then_some(s);
    match numbering {
        Numbering::LinuxErrno => idx(LINUX.len(), 0).and_then(|i| nonempty(LINUX[i].0)),
        Numbering::BsdErrno => idx(BSD.len(), 0).and_then(|i| nonempty(BSD[i])),
        Numbering::MsvcErrno => MSVC_CLASSIC
            .iter()
            .find(|(c, _)| i64::from(*c) == n)
            .map(|(_, s)| *s)
            .or_else(|| idx(MSVC_SUPPLEMENT.len(), 100).map(|i| MSVC_SUPPLEMENT[i])),
        Numbering::Winsock => WINSOCK
            .iter()
            .find(|(c, _)| i64::from(*c) == n)
            .map(|(_, s)| *s),
        Numbering::LibuvWindows => LIBUV_WINDOWS
            .iter()
            .find(|(c, _)| i64::from(*c) == n)
            .map(|(_, s)| *s),
        // Negated errno: the name is the Linux or BSD one, which the caller picks.
        Numbering::LibuvUnix | Numbering::Win32 | Numbering::Hresult => None,
    }
}

/// Linux's `strerror` text for a number.
pub fn linux_message(n: i64) -> Option<&'static str> {
    let i = usize::try_from(n).ok()?;
    LINUX.get(i).map(|e| e.1).filter(|s| !s.is_empty())
}

/// The number a POSIX name has in a numbering.
pub fn number_in(numbering: Numbering, name: &str) -> Option<i64> {
    let find = |table: &[&str]| table.iter().position(|s| *s == name);
    match numbering {
        Numbering::LinuxErrno => LINUX
            .iter()
            .position(|e| e.0 == name)
            .map(|i| i as i64)
            .or((name == "EWOULDBLOCK").then_some(11))
            .or((name == "ENOTSUP").then_some(95)),
        Numbering::BsdErrno => find(BSD)
            .map(|i| i as i64)
            .or((name == "EWOULDBLOCK").then_some(35)),
        Numbering::MsvcErrno => MSVC_CLASSIC
            .iter()
            .find(|(_, s)| *s == name)
            .map(|(c, _)| i64::from(*c))
            .or_else(|| find(MSVC_SUPPLEMENT).map(|i| i as i64 + 100)),
        Numbering::Winsock => WINSOCK
            .iter()
            .find(|(_, s)| s.strip_prefix("WSA") == Some(name) || *s == name)
            .map(|(c, _)| i64::from(*c)),
        Numbering::LibuvWindows => LIBUV_WINDOWS
            .iter()
            .find(|(_, s)| *s == name)
            .map(|(c, _)| i64::from(*c)),
        Numbering::LibuvUnix | Numbering::Win32 | Numbering::Hresult => None,
    }
}

/// Every Linux and BSD errno name and every Winsock name, for token recognition and fuzzy
/// suggestions.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    LINUX
        .iter()
        .map(|e| e.0)
        .chain(BSD.iter().copied())
        .chain(WINSOCK.iter().map(|w| w.1))
        .filter(|s| !s.is_empty())
}

/// `HRESULT_FROM_WIN32(code)`: `0x8007_0000 | code` for codes below 0x10000.
pub fn hresult_from_win32(code: u32) -> u32 {
    0x8007_0000 | (code & 0xFFFF)
}

/// The Win32/Winsock code inside an HRESULT of facility `FACILITY_WIN32` (7), if it is one.
pub fn win32_from_hresult(hr: u32) -> Option<u32> {
    (hr & 0xFFFF_0000 == 0x8007_0000).then_some(hr & 0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_indexed_by_number() {
        assert_eq!(name_in(Numbering::LinuxErrno, 104), Some("ECONNRESET"));
        assert_eq!(name_in(Numbering::LinuxErrno, 54), Some("EXFULL"));
        assert_eq!(name_in(Numbering::LinuxErrno, 108), Some("ESHUTDOWN"));
        assert_eq!(name_in(Numbering::LinuxErrno, 133), Some("EHWPOISON"));
        assert_eq!(name_in(Numbering::LinuxErrno, 41), None);
        assert_eq!(name_in(Numbering::LinuxErrno, 134), None);
        assert_eq!(name_in(Numbering::LinuxErrno, -1), None);
        assert_eq!(name_in(Numbering::BsdErrno, 54), Some("ECONNRESET"));
        assert_eq!(name_in(Numbering::BsdErrno, 60), Some("ETIMEDOUT"));
        assert_eq!(name_in(Numbering::BsdErrno, 106), Some("EQFULL"));
        assert_eq!(name_in(Numbering::MsvcErrno, 108), Some("ECONNRESET"));
        assert_eq!(name_in(Numbering::MsvcErrno, 138), Some("ETIMEDOUT"));
        assert_eq!(name_in(Numbering::MsvcErrno, 140), Some("EWOULDBLOCK"));
        assert_eq!(name_in(Numbering::Winsock, 10053), Some("WSAECONNABORTED"));
        assert_eq!(name_in(Numbering::LibuvWindows, -4077), Some("ECONNRESET"));
        assert_eq!(linux_message(104), Some("Connection reset by peer"));
    }

    #[test]
    fn winsock_is_wsabaseerr_plus_bsd() {
        for (code, name) in WINSOCK.iter().filter(|w| (10035..=10065).contains(&w.0)) {
            let bsd = name_in(Numbering::BsdErrno, i64::from(code - 10000)).unwrap();
            let stripped = name.strip_prefix("WSA").unwrap();
            assert!(
                bsd == stripped
                    || (bsd == "EAGAIN" && stripped == "EWOULDBLOCK")
                    || (bsd == "ENOTSUP" && stripped == "EOPNOTSUPP"),
                "{code} {name} vs {bsd}"
            );
        }
    }

    #[test]
    fn names_to_numbers() {
        assert_eq!(number_in(Numbering::LinuxErrno, "ECONNRESET"), Some(104));
        assert_eq!(number_in(Numbering::BsdErrno, "ECONNRESET"), Some(54));
        assert_eq!(number_in(Numbering::MsvcErrno, "ECONNRESET"), Some(108));
        assert_eq!(number_in(Numbering::Winsock, "ECONNRESET"), Some(10054));
        assert_eq!(
            number_in(Numbering::LibuvWindows, "ECONNRESET"),
            Some(-4077)
        );
    }

    #[test]
    fn hresults() {
        assert_eq!(hresult_from_win32(10054), 0x8007_2746);
        assert_eq!(win32_from_hresult(0x8007_2746), Some(10054));
        assert_eq!(win32_from_hresult(0x8000_4005), None);
    }
}
