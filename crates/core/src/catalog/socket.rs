//! The errors a socket call returns before or besides any connection dying: bad arguments,
//! permissions, exhausted resources, calls made in the wrong state, and the Winsock errors that
//! have no errno at all. Each names its identity on Linux, Windows and macOS and says where it
//! comes from; `ENTRIES` lists them after the connection deaths.
//!
//! Sources: the Linux man pages (`bind(2)`, `connect(2)`, `socket(2)`, `accept(2)`,
//! `socket(7)`, `ip(7)`, `errno(3)`), Linux `net/ipv4/`, FreeBSD/XNU `intro(2)`, and
//! Microsoft's "Windows Sockets Error Codes" page.

use super::build::*;
use super::{Area, Basis::*, Entry};
use crate::errno::Os::*;

pub(super) const EADDRINUSE: Entry = Entry {
    id: "eaddrinuse",
    title: "Address already in use",
    linux: px("EADDRINUSE", 98, "Address already in use"),
    bsd: px("EADDRINUSE", 48, "Address already in use"),
    windows: wsa(
        "WSAEADDRINUSE",
        10048,
        "Only one usage of each socket address (protocol/network address/port) is normally permitted.",
    ),
    dotnet: &["AddressAlreadyInUse"],
    rust: Some("AddrInUse"),
    summary: "bind() or listen() asked for a local address and port that another socket already holds: another process (or an old instance of yours) listens there, or a connection from the last run still sits in TIME_WAIT. connect() returns it when the socket was bound to a local port and that exact connection (the same addresses and ports) already exists.",
    tcp: &[
        c(
            "bind() fails with EADDRINUSE when the port is taken; a port still held by connections in TIME_WAIT counts as taken unless SO_REUSEADDR is set before bind().",
            Src,
            "net/ipv4/inet_connection_sock.c inet_csk_get_port(), inet_csk_bind_conflict()",
        ),
        c(
            "listen() on a socket that was never bound picks a free port, and can fail with EADDRINUSE when none is left; connect() fails with EADDRNOTAVAIL, not EADDRINUSE, when the ephemeral range is exhausted.",
            Doc,
            "listen(2), connect(2)",
        ),
    ],
    systems: &[
        on(
            Linux,
            "EADDRINUSE (98) from bind() or listen(). SO_REUSEADDR lets a server bind while old connections are in TIME_WAIT; SO_REUSEPORT lets several sockets share the port.",
            Doc,
            "socket(7) SO_REUSEADDR, SO_REUSEPORT",
        ),
        on(
            Windows,
            "WSAEADDRINUSE (10048). On Windows SO_REUSEADDR lets a second socket steal a port that is in use; SO_EXCLUSIVEADDRUSE prevents that.",
            Doc,
            MS_ERRORS,
        ),
        on(
            Macos,
            "EADDRINUSE (48), with the same SO_REUSEADDR/SO_REUSEPORT rules as BSD.",
            Doc,
            "FreeBSD/macOS bind(2)",
        ),
    ],
    causes: &[
        cause(
            "Another process listens on that port, or a previous instance of your server is still running.",
            "Find it: `ss -ltnp 'sport = :PORT'` (Linux), `lsof -iTCP:PORT -sTCP:LISTEN` (macOS), `netstat -ano | findstr :PORT` (Windows).",
        ),
        cause(
            "Your server restarted and its old connections are in TIME_WAIT.",
            "Set SO_REUSEADDR on the listening socket before bind() (most frameworks do).",
        ),
        cause(
            "Two parts of your program (or a test suite run twice at once) bind the same fixed port.",
            "Bind port 0 and read the chosen port back with getsockname().",
        ),
    ],
    advice: &[
        "Set SO_REUSEADDR on listening sockets; use port 0 in tests.",
        "Report the address and port in the error: which one is taken is the whole diagnosis.",
    ],
    phrases: &[
        p("address already in use", 96),
        p("only one usage of each socket address", 98),
        p("address in use", 80),
    ],
    commonness: 75,
    related: &["eaddrnotavail", "eacces"],
    ..SOCKET_ERRNO
};

pub(super) const EADDRNOTAVAIL: Entry = Entry {
    id: "eaddrnotavail",
    title: "Cannot assign requested address",
    linux: px("EADDRNOTAVAIL", 99, "Cannot assign requested address"),
    bsd: px("EADDRNOTAVAIL", 49, "Can't assign requested address"),
    windows: wsa(
        "WSAEADDRNOTAVAIL",
        10049,
        "The requested address is not valid in its context.",
    ),
    dotnet: &["AddressNotAvailable"],
    rust: Some("AddrNotAvailable"),
    summary: "The local address asked for does not exist on this host (bind() to an address no interface has), or connect() found no free local port for that destination (ephemeral ports exhausted). On Windows connecting to 0.0.0.0 also gives it.",
    tcp: &[
        c(
            "bind() to an address that is not configured on any local interface fails with EADDRNOTAVAIL, unless ip_nonlocal_bind or IP_FREEBIND is set.",
            Doc,
            "bind(2), ip(7) IP_FREEBIND",
        ),
        c(
            "connect() without a prior bind() picks a local port from ip_local_port_range; when every port is in use towards that destination (many connections, or many in TIME_WAIT) it fails with EADDRNOTAVAIL.",
            Src,
            "net/ipv4/inet_hashtables.c __inet_hash_connect()",
        ),
    ],
    systems: &[
        on(
            Linux,
            "EADDRNOTAVAIL (99, \"Cannot assign requested address\"): a non-local bind address, or ephemeral port exhaustion in connect().",
            Doc,
            "connect(2), ip(7) ip_local_port_range",
        ),
        on(
            Windows,
            "WSAEADDRNOTAVAIL (10049): the address is not valid in its context, e.g. binding an address the host does not have, or connecting to 0.0.0.0 or port 0.",
            Doc,
            MS_ERRORS,
        ),
        on(
            Macos,
            "EADDRNOTAVAIL (49, \"Can't assign requested address\"), also when the ephemeral port range is exhausted.",
            Obs,
            "reports; FreeBSD in_pcbconnect()",
        ),
    ],
    causes: &[
        cause(
            "A client opens and closes many short connections: the local ports pile up in TIME_WAIT and the range runs out.",
            "Reuse connections (keep-alive, pooling); widen ip_local_port_range; count TIME_WAIT with `ss -tan state time-wait | wc -l`.",
        ),
        cause(
            "The program binds a fixed address that this host (or container) does not have, e.g. the host's IP inside a container, or an address on an interface that is down.",
            "Bind 0.0.0.0 / :: or an address from `ip addr`.",
        ),
        cause(
            "On Windows: connecting to 0.0.0.0 (a listen address used as a destination).",
            "Connect to 127.0.0.1 or the server's real address.",
        ),
    ],
    advice: &["Pool and reuse outgoing connections; do not bind client sockets to fixed ports."],
    phrases: &[
        p("cannot assign requested address", 97),
        p("can't assign requested address", 97),
        p("requested address is not valid in its context", 98),
    ],
    commonness: 50,
    related: &["eaddrinuse"],
    ..SOCKET_ERRNO
};

pub(super) const EACCES: Entry = Entry {
    id: "eacces",
    title: "Permission denied",
    linux: px("EACCES", 13, "Permission denied"),
    bsd: px("EACCES", 13, "Permission denied"),
    windows: wsa(
        "WSAEACCES",
        10013,
        "An attempt was made to access a socket in a way forbidden by its access permissions.",
    ),
    dotnet: &["AccessDenied"],
    rust: Some("PermissionDenied"),
    python: Some("PermissionError"),
    summary: "The call is not allowed: binding a port below 1024 without privilege, sending to a broadcast address without SO_BROADCAST, or a security module (SELinux, AppArmor) refusing. On Windows also a port reserved by the system or held exclusively by another socket.",
    tcp: &[
        c(
            "bind() to a port below ip_unprivileged_port_start (1024) needs CAP_NET_BIND_SERVICE; without it bind() fails with EACCES.",
            Doc,
            "bind(2), ip(7), capabilities(7)",
        ),
        c(
            "connect() or sendto() to a broadcast address fails with EACCES unless SO_BROADCAST is set.",
            Doc,
            "connect(2), socket(7) SO_BROADCAST",
        ),
    ],
    systems: &[
        on(
            Linux,
            "EACCES (13) for privileged ports and broadcast; SELinux and AppArmor denials of socket operations also return EACCES.",
            Doc,
            "bind(2), connect(2)",
        ),
        on(
            Windows,
            "WSAEACCES (10013): a broadcast without SO_BROADCAST, a port held by another socket with SO_EXCLUSIVEADDRUSE, or a port inside a range the system reserved (Hyper-V, WSL and Docker reserve port ranges: `netsh int ipv4 show excludedportrange protocol=tcp`).",
            Obs,
            "MS Winsock errors; reports",
        ),
        on(
            Macos,
            "EACCES (13); since macOS 10.14 binding ports below 1024 no longer needs root, so it is rarer there.",
            Obs,
            "reports",
        ),
    ],
    causes: &[
        cause(
            "A server binds port 80 or 443 as a normal user.",
            "Grant CAP_NET_BIND_SERVICE (`setcap cap_net_bind_service=+ep BINARY`), listen on a high port behind a proxy, or lower net.ipv4.ip_unprivileged_port_start.",
        ),
        cause(
            "(Windows) The port is inside a reserved range or exclusively bound by another program.",
            "Check `netsh int ipv4 show excludedportrange protocol=tcp`; pick a port outside the ranges.",
        ),
        cause(
            "A UDP program sends to 255.255.255.255 or a subnet broadcast without SO_BROADCAST.",
            "Set SO_BROADCAST before sending.",
        ),
    ],
    advice: &[
        "Say which address and port the call was for: the fix depends on which rule refused.",
    ],
    phrases: &[
        p("permission denied", 70),
        p("forbidden by its access permissions", 98),
    ],
    commonness: 60,
    related: &["eperm", "eaddrinuse"],
    ..SOCKET_ERRNO
};

pub(super) const EPERM: Entry = Entry {
    id: "eperm",
    title: "Operation not permitted",
    linux: px("EPERM", 1, "Operation not permitted"),
    bsd: px("EPERM", 1, "Operation not permitted"),
    // Python raises PermissionError for EPERM as for EACCES: the errno or the text decides.
    tokens: &["PermissionError"],
    summary: "A local rule refused the call: on Linux typically a firewall (netfilter) rule in the OUTPUT path, or a cgroup BPF program attached to bind/connect, or a call that needs a capability the process lacks (raw sockets, SO_MARK). Nothing reached the network. Rust reports it as ErrorKind::PermissionDenied and Python as PermissionError, like EACCES.",
    tcp: &[
        c(
            "connect(): \"the connection request failed because of a local firewall rule\".",
            Doc,
            "connect(2)",
        ),
        c(
            "A netfilter hook that drops an outgoing packet makes the sending call fail with EPERM (NF_DROP's default error).",
            Src,
            "net/netfilter/core.c nf_hook_slow()",
        ),
        c(
            "A cgroup BPF program attached to bind or connect (BPF_CGROUP_INET4_BIND/CONNECT) that rejects the call makes it fail with EPERM.",
            Src,
            "kernel/bpf/cgroup.c __cgroup_bpf_run_filter_sock_addr()",
        ),
    ],
    systems: &[
        on(
            Linux,
            "EPERM (1) from connect(), sendto() or bind() refused by netfilter or a cgroup BPF program, and from calls that need CAP_NET_RAW or CAP_NET_ADMIN.",
            Doc,
            "connect(2), socket(7), capabilities(7)",
        ),
        never(
            Windows,
            "Winsock has no EPERM; a call refused by policy fails with WSAEACCES (10013).",
            Doc,
            MS_ERRORS,
        ),
        on(
            Macos,
            "EPERM (1), e.g. when a network content filter or the packet filter blocks an outgoing connection.",
            Obs,
            "reports",
        ),
    ],
    causes: &[
        cause(
            "An iptables/nftables rule in OUTPUT drops the traffic (a REJECT rule gives ECONNREFUSED or EHOSTUNREACH instead).",
            "List the rules: `nft list ruleset`, `iptables -S OUTPUT`.",
        ),
        cause(
            "A container runtime or service manager restricts sockets (seccomp, cgroup BPF, systemd RestrictAddressFamilies/IPAddressDeny).",
            "Check the unit's or the container's network restrictions.",
        ),
        cause(
            "The program opens a raw socket (ping, SO_MARK, SO_BINDTODEVICE) without the capability.",
            "Grant CAP_NET_RAW / CAP_NET_ADMIN, or run it where it is allowed.",
        ),
    ],
    advice: &[
        "EPERM from a network call is a local policy decision, not the peer's: look at this host's firewall and sandboxing.",
    ],
    phrases: &[p("operation not permitted", 85)],
    commonness: 40,
    related: &["eacces"],
    ..SOCKET_ERRNO
};

pub(super) const ENOBUFS: Entry = Entry {
    id: "enobufs",
    title: "No buffer space available",
    linux: px("ENOBUFS", 105, "No buffer space available"),
    bsd: px("ENOBUFS", 55, "No buffer space available"),
    windows: wsa(
        "WSAENOBUFS",
        10055,
        "An operation on a socket could not be performed because the system lacked sufficient buffer space or because a queue was full.",
    ),
    dotnet: &["NoBufferSpaceAvailable"],
    summary: "The kernel could not get memory or queue space for the operation. On Linux it is rare for TCP (socket memory pressure blocks or drops instead) and seen with UDP and netlink; on Windows and macOS it is a common sign of exhausted resources, including ephemeral ports on Windows.",
    tcp: &[
        c(
            "\"The output queue for a network interface was full. This generally indicates that the interface has stopped sending, but may be caused by transient congestion.\"",
            Doc,
            "send(2) ENOBUFS",
        ),
        c(
            "Winsock: the system lacked buffer space or a queue was full; reports tie it to exhausted ephemeral ports or non-paged memory when many sockets are open.",
            Obs,
            "MS Winsock errors; reports",
        ),
    ],
    systems: &[
        on(
            Linux,
            "ENOBUFS (105), mostly from UDP or netlink sends; TCP usually waits for memory instead.",
            Doc,
            "send(2)",
        ),
        on(Windows, "WSAENOBUFS (10055).", Doc, MS_ERRORS),
        on(
            Macos,
            "ENOBUFS (55), e.g. a UDP sendto() when the interface queue is full.",
            Obs,
            "reports",
        ),
    ],
    causes: &[
        cause(
            "(Windows) Too many sockets or connections in TIME_WAIT: no ephemeral port or buffer left.",
            "Reuse connections; check `netstat -ano` for thousands of sockets.",
        ),
        cause(
            "A sender floods a UDP socket faster than the interface can send.",
            "Pace the sender; retry after a short wait.",
        ),
    ],
    advice: &[
        "Treat it as resource exhaustion on this host: look for socket leaks before tuning buffers.",
    ],
    phrases: &[
        p("no buffer space available", 97),
        p("system lacked sufficient buffer space", 98),
    ],
    commonness: 35,
    related: &["emfile", "eaddrnotavail"],
    ..SOCKET_ERRNO
};

pub(super) const EMFILE: Entry = Entry {
    id: "emfile",
    title: "Too many open files (this process)",
    linux: px("EMFILE", 24, "Too many open files"),
    bsd: px("EMFILE", 24, "Too many open files"),
    windows: wsa("WSAEMFILE", 10024, "Too many open sockets."),
    dotnet: &["TooManyOpenSockets"],
    summary: "The process reached its limit of open file descriptors (RLIMIT_NOFILE, `ulimit -n`): socket() and accept() fail. Every socket is a descriptor, so a server that leaks connections or serves many clients meets it first.",
    tcp: &[
        c(
            "socket() and accept() fail with EMFILE when the per-process descriptor limit is reached.",
            Doc,
            "socket(2), accept(2), getrlimit(2) RLIMIT_NOFILE",
        ),
        c(
            "When accept() fails with EMFILE the pending connection stays in the listen queue, so a level-triggered event loop wakes up again at once and spins until a descriptor is freed.",
            Doc,
            "accept(2)",
        ),
    ],
    systems: &[
        on(
            Linux,
            "EMFILE (24); the soft limit is often 1024 by default, raise it with `ulimit -n` or LimitNOFILE= in systemd.",
            Doc,
            "getrlimit(2)",
        ),
        on(
            Windows,
            "WSAEMFILE (10024): too many open sockets; Windows has no per-process descriptor limit like RLIMIT_NOFILE, so it is rare.",
            Doc,
            MS_ERRORS,
        ),
        on(
            Macos,
            "EMFILE (24); the default soft limit is low (256), `ulimit -n` raises it.",
            Obs,
            "reports",
        ),
    ],
    causes: &[
        cause(
            "Connections (or files) are leaked: opened and never closed.",
            "Count them: `ls /proc/PID/fd | wc -l`, `lsof -p PID`; close sockets on every error path.",
        ),
        cause(
            "Legitimately many clients with a low default limit (1024).",
            "Raise the limit (LimitNOFILE=, `ulimit -n`).",
        ),
    ],
    advice: &[
        "Log the count of open descriptors when it happens; a leak grows steadily, a spike follows load.",
    ],
    phrases: &[p("too many open files", 95), p("too many open sockets", 97)],
    commonness: 45,
    related: &["enfile", "enobufs"],
    ..SOCKET_ERRNO
};

pub(super) const ENFILE: Entry = Entry {
    id: "enfile",
    title: "Too many open files in system",
    linux: px("ENFILE", 23, "Too many open files in system"),
    bsd: px("ENFILE", 23, "Too many open files in system"),
    summary: "The whole system reached its limit of open files (fs.file-max on Linux, kern.maxfiles on macOS), not just this process.",
    tcp: &[c(
        "socket() and accept() fail with ENFILE when the system-wide limit on open files is reached.",
        Doc,
        "socket(2), accept(2), proc(5) /proc/sys/fs/file-max",
    )],
    systems: &[
        on(
            Linux,
            "ENFILE (23); see /proc/sys/fs/file-nr for the current count.",
            Doc,
            "proc(5)",
        ),
        never(
            Windows,
            "Winsock has no system-wide ENFILE; exhausted resources give WSAENOBUFS (10055) or WSAEMFILE (10024).",
            Doc,
            MS_ERRORS,
        ),
        on(Macos, "ENFILE (23), limit kern.maxfiles.", Doc, "intro(2)"),
    ],
    causes: &[cause(
        "A process leaks descriptors until the whole system runs out.",
        "Find the largest holder (`lsof | awk '{print $2}' | sort | uniq -c | sort -n`) and fix its leak.",
    )],
    advice: &[
        "Look for the process that holds most descriptors; raising fs.file-max only hides a leak.",
    ],
    phrases: &[p("too many open files in system", 98)],
    commonness: 15,
    related: &["emfile"],
    ..SOCKET_ERRNO
};

pub(super) const EBADF: Entry = Entry {
    id: "ebadf",
    title: "Bad file descriptor",
    linux: px("EBADF", 9, "Bad file descriptor"),
    bsd: px("EBADF", 9, "Bad file descriptor"),
    windows: wsa("WSAEBADF", 10009, "The file handle supplied is not valid."),
    summary: "The descriptor is not open: your program closed the socket (often in another thread) and then used it, or used a number that was never a descriptor. It is a local bug, not a network event; the descriptor number may even have been reused for another file in between.",
    tcp: &[
        c(
            "Every socket call on a descriptor that is not open fails with EBADF; nothing is sent.",
            Doc,
            "errno(3), recv(2), send(2)",
        ),
        c(
            "close() releases the number at once, so a thread still using it may hit EBADF, or worse, a new file or socket that got the same number.",
            Doc,
            "close(2)",
        ),
    ],
    systems: &[
        on(Linux, "EBADF (9).", Doc, "errno(3)"),
        on(
            Windows,
            "WSAEBADF (10009) is rare: a closed or invalid SOCKET handle usually gives WSAENOTSOCK (10038).",
            Doc,
            MS_ERRORS,
        ),
        on(Macos, "EBADF (9).", Doc, "intro(2)"),
    ],
    causes: &[cause(
        "One thread closes the socket (shutdown, timeout, error handling) while another still reads or writes it.",
        "Signal the other thread to stop (or shutdown() the socket to wake it) and close only after it has stopped.",
    )],
    advice: &[
        "Give each socket one owner that closes it; never close a descriptor another thread may still use.",
    ],
    phrases: &[p("bad file descriptor", 95)],
    commonness: 35,
    related: &["local-close", "enotsock"],
    ..SOCKET_ERRNO
};

pub(super) const ENOTSOCK: Entry = Entry {
    id: "enotsock",
    title: "Socket operation on non-socket",
    linux: px("ENOTSOCK", 88, "Socket operation on non-socket"),
    bsd: px("ENOTSOCK", 38, "Socket operation on non-socket"),
    windows: wsa(
        "WSAENOTSOCK",
        10038,
        "An operation was attempted on something that is not a socket.",
    ),
    dotnet: &["NotSocket"],
    summary: "A socket call got a descriptor or handle that is not a socket: on Windows typically a SOCKET already closed with closesocket(); on Unix a descriptor number that now belongs to a file or pipe.",
    tcp: &[c(
        "Socket calls check that the descriptor refers to a socket and fail with ENOTSOCK otherwise.",
        Doc,
        "errno(3), socket(2)",
    )],
    systems: &[
        on(Linux, "ENOTSOCK (88).", Doc, "errno(3)"),
        on(
            Windows,
            "WSAENOTSOCK (10038): the handle is not a valid socket, most often one already closed by another thread.",
            Doc,
            MS_ERRORS,
        ),
        on(Macos, "ENOTSOCK (38).", Doc, "intro(2)"),
    ],
    causes: &[cause(
        "The socket was closed (by your code or its library) and the stale handle used again.",
        "Track ownership: only one place closes; others stop using the socket first.",
    )],
    advice: &["Like EBADF, this is a bug in your own socket handling, not the network."],
    phrases: &[
        p("socket operation on non-socket", 97),
        p("on something that is not a socket", 98),
    ],
    commonness: 25,
    related: &["ebadf", "local-close"],
    ..SOCKET_ERRNO
};

pub(super) const EINPROGRESS: Entry = Entry {
    id: "einprogress",
    title: "Operation now in progress",
    linux: px("EINPROGRESS", 115, "Operation now in progress"),
    bsd: px("EINPROGRESS", 36, "Operation now in progress"),
    windows: wsa(
        "WSAEINPROGRESS",
        10036,
        "A blocking operation is currently executing.",
    ),
    dotnet: &["InProgress"],
    summary: "Not a failure: a non-blocking connect() has sent its SYN and will finish later. Wait for the socket to become writable, then read SO_ERROR to learn whether it connected. On Windows the same situation gives WSAEWOULDBLOCK, and WSAEINPROGRESS means something else (a blocking call already running).",
    tcp: &[c(
        "\"The socket is nonblocking and the connection cannot be completed immediately\": select/poll for writability, then getsockopt(SO_ERROR) gives 0 or the connect error.",
        Doc,
        "connect(2) EINPROGRESS",
    )],
    systems: &[
        on(
            Linux,
            "EINPROGRESS (115) from a non-blocking connect().",
            Doc,
            "connect(2)",
        ),
        on(
            Windows,
            "A non-blocking connect() returns WSAEWOULDBLOCK (10035); WSAEINPROGRESS (10036) means a blocking Winsock call is already executing in this thread.",
            Doc,
            MS_ERRORS,
        ),
        on(
            Macos,
            "EINPROGRESS (36) from a non-blocking connect().",
            Doc,
            "FreeBSD/macOS connect(2)",
        ),
    ],
    causes: &[cause(
        "Normal non-blocking connect; code that treats it as an error fails every connection.",
        "Treat EINPROGRESS as \"pending\": wait for writability, then check SO_ERROR.",
    )],
    advice: &[
        "After writability, always read SO_ERROR: that is where ECONNREFUSED or ETIMEDOUT of the connect shows up.",
    ],
    phrases: &[p("operation now in progress", 95)],
    commonness: 35,
    related: &["ealready", "eagain"],
    ..SOCKET_ERRNO
};

pub(super) const EALREADY: Entry = Entry {
    id: "ealready",
    title: "Operation already in progress",
    linux: px("EALREADY", 114, "Operation already in progress"),
    bsd: px("EALREADY", 37, "Operation already in progress"),
    windows: wsa(
        "WSAEALREADY",
        10037,
        "An operation was attempted on a non-blocking socket that already had an operation in progress.",
    ),
    dotnet: &["AlreadyInProgress"],
    summary: "connect() was called again on a non-blocking socket whose previous connect() has not finished. The first attempt is still running.",
    tcp: &[c(
        "\"The socket is nonblocking and a previous connection attempt has not yet been completed.\"",
        Doc,
        "connect(2) EALREADY",
    )],
    systems: &[
        on(Linux, "EALREADY (114).", Doc, "connect(2)"),
        on(Windows, "WSAEALREADY (10037).", Doc, MS_ERRORS),
        on(Macos, "EALREADY (37).", Doc, "FreeBSD/macOS connect(2)"),
    ],
    causes: &[cause(
        "Code that polls a pending connect by calling connect() again.",
        "Wait for writability and read SO_ERROR instead of calling connect() again.",
    )],
    advice: &["One connect() per attempt; its result comes through writability and SO_ERROR."],
    phrases: &[p("operation already in progress", 95)],
    commonness: 15,
    related: &["einprogress", "eisconn"],
    ..SOCKET_ERRNO
};

pub(super) const EISCONN: Entry = Entry {
    id: "eisconn",
    title: "Socket is already connected",
    linux: px("EISCONN", 106, "Transport endpoint is already connected"),
    bsd: px("EISCONN", 56, "Socket is already connected"),
    windows: wsa(
        "WSAEISCONN",
        10056,
        "A connect request was made on an already connected socket.",
    ),
    dotnet: &["IsConnected"],
    summary: "connect() on a socket that is already connected, or sendto() with a destination on a connected socket. Some programs call connect() a second time on purpose: EISCONN then means the non-blocking connect succeeded.",
    tcp: &[c(
        "connect() on a connected TCP socket fails with EISCONN; sendto() with an address on a connected connection-mode socket may fail with EISCONN.",
        Doc,
        "connect(2), send(2)",
    )],
    systems: &[
        on(
            Linux,
            "EISCONN (106, \"Transport endpoint is already connected\").",
            Doc,
            "connect(2)",
        ),
        on(Windows, "WSAEISCONN (10056).", Doc, MS_ERRORS),
        on(Macos, "EISCONN (56).", Doc, "intro(2)"),
    ],
    causes: &[cause(
        "Reusing a socket object for a second connection.",
        "Create a new socket for each connection.",
    )],
    advice: &["A TCP socket connects once; reconnecting means a new socket."],
    phrases: &[
        p("transport endpoint is already connected", 98),
        p("socket is already connected", 96),
        p("already connected socket", 96),
    ],
    commonness: 15,
    related: &["ealready"],
    ..SOCKET_ERRNO
};

pub(super) const EMSGSIZE: Entry = Entry {
    id: "emsgsize",
    title: "Message too long",
    linux: px("EMSGSIZE", 90, "Message too long"),
    bsd: px("EMSGSIZE", 40, "Message too long"),
    windows: wsa(
        "WSAEMSGSIZE",
        10040,
        "A message sent on a datagram socket was larger than the internal message buffer or some other network limit, or the buffer used to receive a datagram into was smaller than the datagram itself.",
    ),
    dotnet: &["MessageSize"],
    summary: "A datagram is larger than the socket or the path allows: over 65,507 bytes for UDP over IPv4, or over the path MTU when fragmentation is not allowed. TCP never returns it to a send(), because it splits the stream itself. On Windows a receive buffer smaller than the datagram also gives it.",
    tcp: &[
        c(
            "\"The socket type requires that message be sent atomically, and the size of the message to be sent made this impossible.\"",
            Doc,
            "send(2) EMSGSIZE",
        ),
        c(
            "An ICMP fragmentation-needed error maps to EMSGSIZE for datagram sockets with path MTU discovery set to \"do\".",
            Src,
            "net/ipv4/icmp.c icmp_err_convert[]",
        ),
    ],
    systems: &[
        on(
            Linux,
            "EMSGSIZE (90).",
            Doc,
            "send(2), ip(7) IP_MTU_DISCOVER",
        ),
        on(
            Windows,
            "WSAEMSGSIZE (10040), also from recvfrom() when the buffer is smaller than the datagram (the datagram is truncated).",
            Doc,
            MS_ERRORS,
        ),
        on(Macos, "EMSGSIZE (40).", Doc, "intro(2)"),
    ],
    causes: &[cause(
        "A UDP application sends datagrams bigger than the path MTU with DF set, or bigger than 64 KiB.",
        "Keep datagrams under the path MTU (about 1,200 bytes is safe on the Internet) and split larger messages.",
    )],
    advice: &[
        "Size datagrams for the smallest MTU on the path; receive into a buffer of 65,535 bytes.",
    ],
    phrases: &[p("message too long", 90)],
    commonness: 25,
    ..SOCKET_ERRNO
};

pub(super) const ENOPROTOOPT: Entry = Entry {
    id: "enoprotoopt",
    title: "Protocol not available (unknown socket option)",
    linux: px("ENOPROTOOPT", 92, "Protocol not available"),
    bsd: px("ENOPROTOOPT", 42, "Protocol not available"),
    windows: wsa(
        "WSAENOPROTOOPT",
        10042,
        "An unknown, invalid, or unsupported option or level was specified in a getsockopt or setsockopt call.",
    ),
    dotnet: &["ProtocolOption"],
    summary: "setsockopt() or getsockopt() named an option this system or this socket type does not know: an option from another OS (TCP_KEEPIDLE vs TCP_KEEPALIVE on macOS), from a newer kernel, or for another protocol.",
    tcp: &[c(
        "\"The option is unknown at the level indicated.\"",
        Doc,
        "setsockopt(2) ENOPROTOOPT",
    )],
    systems: &[
        on(Linux, "ENOPROTOOPT (92).", Doc, "setsockopt(2)"),
        on(Windows, "WSAENOPROTOOPT (10042).", Doc, MS_ERRORS),
        on(
            Macos,
            "ENOPROTOOPT (42); macOS names some TCP options differently (TCP_KEEPALIVE is the idle time).",
            Doc,
            "macOS tcp(4)",
        ),
    ],
    causes: &[cause(
        "Portable code sets an option that exists only on some systems or kernels.",
        "Guard the option by platform, and treat ENOPROTOOPT as \"not supported here\" when the option is optional.",
    )],
    advice: &["Log which option failed; ignore it when it is only a tuning knob."],
    phrases: &[p("protocol not available", 90)],
    commonness: 20,
    ..SOCKET_ERRNO
};

pub(super) const EAFNOSUPPORT: Entry = Entry {
    id: "eafnosupport",
    title: "Address family not supported",
    linux: px(
        "EAFNOSUPPORT",
        97,
        "Address family not supported by protocol",
    ),
    bsd: px(
        "EAFNOSUPPORT",
        47,
        "Address family not supported by protocol family",
    ),
    windows: wsa(
        "WSAEAFNOSUPPORT",
        10047,
        "An address incompatible with the requested protocol was used.",
    ),
    dotnet: &["AddressFamilyNotSupported"],
    summary: "The address family is not available or does not match the socket: an IPv6 socket on a host or container where IPv6 is disabled, or an IPv4 address passed to an IPv6 socket (or the reverse).",
    tcp: &[c(
        "socket(AF_INET6, ...) fails with EAFNOSUPPORT when the kernel has IPv6 disabled (ipv6.disable=1); bind() and connect() fail with it when the address's family does not match the socket's.",
        Doc,
        "socket(2), bind(2), ipv6(7)",
    )],
    systems: &[
        on(Linux, "EAFNOSUPPORT (97).", Doc, "socket(2), ipv6(7)"),
        on(Windows, "WSAEAFNOSUPPORT (10047).", Doc, MS_ERRORS),
        on(Macos, "EAFNOSUPPORT (47).", Doc, "intro(2)"),
    ],
    causes: &[
        cause(
            "A server listens on :: in a container or VM where IPv6 is disabled.",
            "Listen on 0.0.0.0 there, or enable IPv6.",
        ),
        cause(
            "An address of one family is used with a socket of the other.",
            "Create the socket from the address's family (getaddrinfo gives both).",
        ),
    ],
    advice: &["Build sockets from getaddrinfo() results instead of hard-coding a family."],
    phrases: &[
        p("address family not supported", 95),
        p("address incompatible with the requested protocol", 98),
    ],
    commonness: 30,
    ..SOCKET_ERRNO
};

pub(super) const EHOSTDOWN: Entry = Entry {
    id: "ehostdown",
    title: "Host is down",
    linux: px("EHOSTDOWN", 112, "Host is down"),
    bsd: px("EHOSTDOWN", 64, "Host is down"),
    windows: wsa(
        "WSAEHOSTDOWN",
        10064,
        "A socket operation failed because the destination host was down.",
    ),
    dotnet: &["HostDown"],
    area: Area::Connection,
    summary: "The destination host does not answer on the local network: on macOS and BSD when ARP gets no reply for a host on the same subnet; on Linux from an ICMP \"host unknown\" error. Linux reports an unanswered ARP as EHOSTUNREACH instead.",
    tcp: &[
        c(
            "Linux maps ICMP destination-unreachable code 7 (host unknown) to EHOSTDOWN.",
            Src,
            "net/ipv4/icmp.c icmp_err_convert[]",
        ),
        c(
            "BSD's ARP resolution reports EHOSTDOWN for a destination on the local link that never answered ARP (EHOSTUNREACH through a gateway).",
            Src,
            "FreeBSD sys/netinet/if_ether.c arpresolve()",
        ),
    ],
    systems: &[
        on(
            Linux,
            "EHOSTDOWN (112): rare; a local host that does not answer ARP gives EHOSTUNREACH.",
            Src,
            "net/ipv4/icmp.c icmp_err_convert[]",
        ),
        on(Windows, "WSAEHOSTDOWN (10064), rare.", Doc, MS_ERRORS),
        on(
            Macos,
            "EHOSTDOWN (64) when a host on the same subnet does not answer ARP.",
            Obs,
            "reports; FreeBSD arpresolve()",
        ),
    ],
    causes: &[cause(
        "The host is off, asleep, or has another address; on Wi-Fi it may have left the network.",
        "Check the host is up and its address (`arp -a`, `ip neigh`).",
    )],
    advice: &["Handle it like EHOSTUNREACH: fail fast and report the address."],
    phrases: &[p("host is down", 92), p("destination host was down", 98)],
    commonness: 20,
    related: &["ehostunreach"],
    ..SOCKET_ERRNO
};

pub(super) const EPROTO: Entry = Entry {
    id: "eproto",
    title: "Protocol error",
    linux: px("EPROTO", 71, "Protocol error"),
    bsd: px("EPROTO", 100, "Protocol error"),
    area: Area::Connection,
    summary: "A protocol error below your code: Linux accept() can return it for a connection that failed while queued, and Node.js reports TLS handshake failures (a TLS client talking to a plain-text port, no common version) as EPROTO.",
    tcp: &[
        c(
            "\"Linux accept() passes already-pending network errors on the new socket as an error code from accept()\"; EPROTO is one of them and the application should retry accept().",
            Doc,
            "accept(2)",
        ),
        c(
            "Node.js reports OpenSSL handshake failures as `write EPROTO` followed by the OpenSSL reason (e.g. wrong version number: the other side does not speak TLS on that port).",
            Obs,
            "reports",
        ),
    ],
    systems: &[
        on(Linux, "EPROTO (71).", Doc, "accept(2)"),
        never(
            Windows,
            "Winsock has no EPROTO; Node.js on Windows still prints EPROTO for TLS failures because libuv uses POSIX names.",
            Obs,
            "reports",
        ),
        on(Macos, "EPROTO (100).", Doc, "intro(2)"),
    ],
    causes: &[
        cause(
            "(Node.js) TLS spoken to a plain-text port, or no TLS version/cipher in common.",
            "Check scheme and port; read the OpenSSL reason that follows EPROTO.",
        ),
        cause(
            "(accept) A queued connection failed before accept() took it.",
            "Retry accept(), as accept(2) advises.",
        ),
    ],
    advice: &["Read the text after EPROTO: it names the protocol step that failed."],
    phrases: &[p("protocol error", 70), p("write eproto", 97)],
    commonness: 20,
    ..SOCKET_ERRNO
};

pub(super) const EINTR: Entry = Entry {
    id: "eintr",
    title: "Interrupted system call",
    linux: px("EINTR", 4, "Interrupted system call"),
    bsd: px("EINTR", 4, "Interrupted system call"),
    windows: wsa(
        "WSAEINTR",
        10004,
        "A blocking operation was interrupted by a call to WSACancelBlockingCall.",
    ),
    dotnet: &["Interrupted"],
    rust: Some("Interrupted"),
    python: Some("InterruptedError"),
    summary: "A signal arrived while the call was blocked. Nothing happened to the connection: retry the call (most runtimes do it for you). An interrupted connect() goes on in the background.",
    tcp: &[
        c(
            "A blocking socket call interrupted by a signal handler fails with EINTR unless the handler was installed with SA_RESTART.",
            Doc,
            "signal(7) \"Interruption of system calls and library functions by signal handlers\"",
        ),
        c(
            "\"If connect() is interrupted by a signal that is caught while blocked waiting to establish a connection, connect() shall fail and set errno to [EINTR], but the connection request shall not be aborted, and the connection shall be established asynchronously.\"",
            Doc,
            "POSIX connect()",
        ),
    ],
    systems: &[
        on(Linux, "EINTR (4).", Doc, "signal(7)"),
        on(
            Windows,
            "WSAEINTR (10004): a blocking call was cancelled, in practice mostly because another thread closed the socket.",
            Obs,
            "MS Winsock errors; reports",
        ),
        on(Macos, "EINTR (4).", Doc, "intro(2)"),
    ],
    causes: &[
        cause(
            "A signal (SIGCHLD, SIGALRM, a profiler's timer) interrupted the call.",
            "Retry on EINTR, or install handlers with SA_RESTART.",
        ),
        cause(
            "(Windows) Another thread closed the socket during a blocking call.",
            "See local-close: stop the blocked thread before closing.",
        ),
    ],
    advice: &["Loop on EINTR; for connect(), wait for writability instead of calling it again."],
    phrases: &[
        p("interrupted system call", 95),
        p("blocking operation was interrupted", 97),
    ],
    commonness: 30,
    related: &["local-close"],
    ..SOCKET_ERRNO
};

pub(super) const EINVAL: Entry = Entry {
    id: "einval",
    title: "Invalid argument",
    linux: px("EINVAL", 22, "Invalid argument"),
    bsd: px("EINVAL", 22, "Invalid argument"),
    windows: wsa("WSAEINVAL", 10022, "An invalid argument was supplied."),
    dotnet: &["InvalidArgument"],
    rust: Some("InvalidInput"),
    summary: "The call's arguments do not fit the socket's state or type: bind() on a socket already bound, accept() on a socket that is not listening, a wrong address length, an option value out of range.",
    tcp: &[c(
        "bind() fails with EINVAL when the socket is already bound; accept() when the socket is not listening; setsockopt() when the value is invalid.",
        Doc,
        "bind(2), accept(2), setsockopt(2)",
    )],
    systems: &[
        on(Linux, "EINVAL (22).", Doc, "errno(3)"),
        on(
            Windows,
            "WSAEINVAL (10022), e.g. accept() before listen(), or a call on a socket in the wrong state.",
            Doc,
            MS_ERRORS,
        ),
        on(
            Macos,
            "EINVAL (22); macOS also returns it from some calls on a socket the peer has reset.",
            Obs,
            "reports",
        ),
    ],
    causes: &[cause(
        "A call made in the wrong order or with a wrong size or value.",
        "Check the call sequence (socket, bind, listen, accept / connect) and the option values.",
    )],
    advice: &["EINVAL is a programming error: log the call and its arguments."],
    phrases: &[
        p("invalid argument", 75),
        p("an invalid argument was supplied", 97),
    ],
    commonness: 35,
    ..SOCKET_ERRNO
};

pub(super) const EFAULT: Entry = Entry {
    id: "efault",
    title: "Bad address (invalid pointer)",
    linux: px("EFAULT", 14, "Bad address"),
    bsd: px("EFAULT", 14, "Bad address"),
    windows: wsa(
        "WSAEFAULT",
        10014,
        "The system detected an invalid pointer address in attempting to use a pointer argument in a call.",
    ),
    dotnet: &["Fault"],
    summary: "A pointer argument (buffer, address, length) points outside the process's memory, or on Windows an address length is too small. A bug in the caller or in a binding.",
    tcp: &[c(
        "Socket calls fail with EFAULT when a user pointer is outside the accessible address space.",
        Doc,
        "errno(3), recv(2), send(2)",
    )],
    systems: &[
        on(Linux, "EFAULT (14).", Doc, "errno(3)"),
        on(
            Windows,
            "WSAEFAULT (10014), also when the namelen/address length argument is too small.",
            Doc,
            MS_ERRORS,
        ),
        on(Macos, "EFAULT (14).", Doc, "intro(2)"),
    ],
    causes: &[cause(
        "A wrong buffer or address length passed to a socket call.",
        "Check the lengths passed with each pointer.",
    )],
    advice: &["A memory bug near the socket call: run under a sanitizer."],
    phrases: &[p("invalid pointer address", 97)],
    ..SOCKET_ERRNO
};

pub(super) const EOPNOTSUPP: Entry = Entry {
    id: "eopnotsupp",
    title: "Operation not supported on socket",
    linux: px("EOPNOTSUPP", 95, "Operation not supported"),
    bsd: px("EOPNOTSUPP", 102, "Operation not supported on socket"),
    windows: wsa(
        "WSAEOPNOTSUPP",
        10045,
        "The attempted operation is not supported for the type of object referenced.",
    ),
    dotnet: &["OperationNotSupported"],
    tokens: &["ENOTSUP"],
    summary: "The operation does not apply to this kind of socket: listen() or accept() on a UDP socket, MSG_OOB where it is not supported. On Linux ENOTSUP and EOPNOTSUPP are the same number (95); on macOS they differ (45 and 102).",
    tcp: &[c(
        "listen() fails with EOPNOTSUPP when the socket type does not support it (e.g. SOCK_DGRAM).",
        Doc,
        "listen(2), accept(2)",
    )],
    systems: &[
        on(Linux, "EOPNOTSUPP = ENOTSUP = 95.", Doc, "errno(3)"),
        on(Windows, "WSAEOPNOTSUPP (10045).", Doc, MS_ERRORS),
        on(
            Macos,
            "EOPNOTSUPP (102) for sockets; ENOTSUP (45) is a different error.",
            Doc,
            "intro(2)",
        ),
    ],
    causes: &[cause(
        "A stream operation on a datagram socket, or the reverse.",
        "Check the socket type the code created.",
    )],
    advice: &["Check which call failed and on which socket type."],
    phrases: &[
        p("operation not supported on socket", 97),
        p("not supported for the type of object referenced", 98),
    ],
    commonness: 20,
    ..SOCKET_ERRNO
};

pub(super) const EPROTONOSUPPORT: Entry = Entry {
    id: "eprotonosupport",
    title: "Protocol not supported",
    linux: px("EPROTONOSUPPORT", 93, "Protocol not supported"),
    bsd: px("EPROTONOSUPPORT", 43, "Protocol not supported"),
    windows: wsa(
        "WSAEPROTONOSUPPORT",
        10043,
        "The requested protocol has not been configured into the system, or no implementation for it exists.",
    ),
    dotnet: &["ProtocolNotSupported"],
    summary: "socket() asked for a protocol this system does not provide: SCTP or MPTCP without kernel support, a protocol number that does not match the socket type.",
    tcp: &[c(
        "\"The protocol type or the specified protocol is not supported within this domain.\"",
        Doc,
        "socket(2) EPROTONOSUPPORT",
    )],
    systems: &[
        on(Linux, "EPROTONOSUPPORT (93).", Doc, "socket(2)"),
        on(Windows, "WSAEPROTONOSUPPORT (10043).", Doc, MS_ERRORS),
        on(Macos, "EPROTONOSUPPORT (43).", Doc, "intro(2)"),
    ],
    causes: &[cause(
        "A protocol module is missing or disabled (sctp, mptcp), or the protocol does not fit the type.",
        "Load or enable the protocol, or fall back to TCP.",
    )],
    advice: &["Fall back to plain TCP when an optional protocol is missing."],
    phrases: &[p("protocol not supported", 92)],
    commonness: 15,
    ..SOCKET_ERRNO
};

pub(super) const EPROTOTYPE: Entry = Entry {
    id: "eprototype",
    title: "Protocol wrong type for socket",
    linux: px("EPROTOTYPE", 91, "Protocol wrong type for socket"),
    bsd: px("EPROTOTYPE", 41, "Protocol wrong type for socket"),
    windows: wsa(
        "WSAEPROTOTYPE",
        10041,
        "A protocol was specified in the socket function call that does not support the semantics of the socket type requested.",
    ),
    dotnet: &["ProtocolType"],
    summary: "The protocol does not match the socket type (e.g. IPPROTO_UDP with SOCK_STREAM), or a Unix socket of one type was connected to a socket of another type.",
    tcp: &[c(
        "socket() and connect() fail with EPROTOTYPE when the protocol or the peer's socket type does not match the socket's type.",
        Doc,
        "socket(2), connect(2)",
    )],
    systems: &[
        on(Linux, "EPROTOTYPE (91).", Doc, "errno(3)"),
        on(Windows, "WSAEPROTOTYPE (10041).", Doc, MS_ERRORS),
        on(Macos, "EPROTOTYPE (41).", Doc, "intro(2)"),
    ],
    causes: &[cause(
        "Mismatched type and protocol arguments.",
        "Pass 0 as the protocol and let the type choose it.",
    )],
    advice: &["Use getaddrinfo() results for family, type and protocol together."],
    phrases: &[p("protocol wrong type for socket", 98)],
    commonness: 8,
    ..SOCKET_ERRNO
};

pub(super) const ESOCKTNOSUPPORT: Entry = Entry {
    id: "esocktnosupport",
    title: "Socket type not supported",
    linux: px("ESOCKTNOSUPPORT", 94, "Socket type not supported"),
    bsd: px("ESOCKTNOSUPPORT", 44, "Socket type not supported"),
    windows: wsa(
        "WSAESOCKTNOSUPPORT",
        10044,
        "The support for the specified socket type does not exist in this address family.",
    ),
    dotnet: &["SocketNotSupported"],
    summary: "The address family has no such socket type (e.g. SOCK_SEQPACKET where it does not exist).",
    tcp: &[c(
        "socket() fails when the type is not supported in the family.",
        Doc,
        "socket(2)",
    )],
    systems: &[
        on(Linux, "ESOCKTNOSUPPORT (94).", Doc, "errno(3)"),
        on(Windows, "WSAESOCKTNOSUPPORT (10044).", Doc, MS_ERRORS),
        on(Macos, "ESOCKTNOSUPPORT (44).", Doc, "intro(2)"),
    ],
    causes: &[cause(
        "A socket type this family lacks.",
        "Use SOCK_STREAM or SOCK_DGRAM.",
    )],
    advice: &["Check the type argument of socket()."],
    phrases: &[p("socket type not supported", 97)],
    commonness: 5,
    ..SOCKET_ERRNO
};

pub(super) const EPFNOSUPPORT: Entry = Entry {
    id: "epfnosupport",
    title: "Protocol family not supported",
    linux: px("EPFNOSUPPORT", 96, "Protocol family not supported"),
    bsd: px("EPFNOSUPPORT", 46, "Protocol family not supported"),
    windows: wsa(
        "WSAEPFNOSUPPORT",
        10046,
        "The protocol family has not been configured into the system or no implementation for it exists.",
    ),
    dotnet: &["ProtocolFamilyNotSupported"],
    summary: "The protocol family is not available on this system (e.g. a family whose kernel module is not loaded). Most systems report EAFNOSUPPORT for the same situation.",
    tcp: &[c(
        "The family is not configured in the kernel.",
        Doc,
        "errno(3)",
    )],
    systems: &[
        on(
            Linux,
            "EPFNOSUPPORT (96), rare: socket() reports EAFNOSUPPORT.",
            Doc,
            "socket(2)",
        ),
        on(Windows, "WSAEPFNOSUPPORT (10046).", Doc, MS_ERRORS),
        on(Macos, "EPFNOSUPPORT (46).", Doc, "intro(2)"),
    ],
    causes: &[cause(
        "A protocol family not built into this system.",
        "Use AF_INET or AF_INET6.",
    )],
    advice: &["See EAFNOSUPPORT."],
    phrases: &[p("protocol family not supported", 97)],
    commonness: 5,
    related: &["eafnosupport"],
    ..SOCKET_ERRNO
};

pub(super) const EDESTADDRREQ: Entry = Entry {
    id: "edestaddrreq",
    title: "Destination address required",
    linux: px("EDESTADDRREQ", 89, "Destination address required"),
    bsd: px("EDESTADDRREQ", 39, "Destination address required"),
    windows: wsa(
        "WSAEDESTADDRREQ",
        10039,
        "A required address was omitted from an operation on a socket.",
    ),
    dotnet: &["DestinationAddressRequired"],
    summary: "send() on a datagram socket that has no destination: it was never connect()ed and no address was given (use sendto()).",
    tcp: &[c(
        "\"The socket is not connection-mode, and no peer address is set.\"",
        Doc,
        "send(2) EDESTADDRREQ",
    )],
    systems: &[
        on(Linux, "EDESTADDRREQ (89).", Doc, "send(2)"),
        on(Windows, "WSAEDESTADDRREQ (10039).", Doc, MS_ERRORS),
        on(Macos, "EDESTADDRREQ (39).", Doc, "intro(2)"),
    ],
    causes: &[cause(
        "send() instead of sendto() on an unconnected UDP socket.",
        "connect() the UDP socket to its peer, or use sendto().",
    )],
    advice: &["Give every datagram a destination."],
    phrases: &[
        p("destination address required", 97),
        p("required address was omitted", 98),
    ],
    commonness: 10,
    ..SOCKET_ERRNO
};

/// Winsock errors with no errno: the Winsock library itself, and name resolution.
const WSA_ONLY_LINUX: &str = "No such errno: this is a Winsock library or name-resolution status.";

pub(super) const WSANOTINITIALISED: Entry = Entry {
    id: "wsanotinitialised",
    title: "Winsock not initialised (WSAStartup)",
    windows: wsa(
        "WSANOTINITIALISED",
        10093,
        "Either the application has not called WSAStartup, or WSAStartup failed.",
    ),
    dotnet: &["NotInitialized"],
    summary: "A Winsock function was called before WSAStartup() succeeded, or after WSACleanup(): the program (or a library it loads) never initialised the socket library, or tore it down too early.",
    tcp: &[c(
        "Every Winsock call fails with WSANOTINITIALISED until the process has called WSAStartup successfully.",
        Doc,
        MS_ERRORS,
    )],
    systems: &[
        never(Linux, WSA_ONLY_LINUX, Doc, MS_ERRORS),
        on(Windows, "WSANOTINITIALISED (10093).", Doc, MS_ERRORS),
        never(Macos, WSA_ONLY_LINUX, Doc, MS_ERRORS),
    ],
    causes: &[
        cause(
            "C/C++ code ported from Unix calls socket() without WSAStartup().",
            "Call WSAStartup(MAKEWORD(2, 2), &data) once at start-up.",
        ),
        cause(
            "WSACleanup() ran (e.g. in a destructor at exit) while another thread still used sockets.",
            "Call WSACleanup() only after every socket is closed.",
        ),
    ],
    advice: &[
        "Initialise Winsock once per process and balance every WSAStartup with one WSACleanup.",
    ],
    phrases: &[p("application has not called wsastartup", 98)],
    commonness: 40,
    ..SOCKET_ERRNO
};

pub(super) const WSAEPROCLIM: Entry = Entry {
    id: "wsaeproclim",
    title: "Too many processes using Winsock",
    windows: wsa(
        "WSAEPROCLIM",
        10067,
        "A Windows Sockets implementation may have a limit on the number of applications that may use it simultaneously.",
    ),
    dotnet: &["ProcessLimit"],
    summary: "WSAStartup() refused because the Winsock implementation limits how many processes may use it at once. A historical limit; modern Windows does not impose it.",
    tcp: &[c(
        "WSAStartup may fail with WSAEPROCLIM when the implementation's limit of simultaneous users is reached.",
        Doc,
        MS_ERRORS,
    )],
    systems: &[
        never(Linux, WSA_ONLY_LINUX, Doc, MS_ERRORS),
        on(
            Windows,
            "WSAEPROCLIM (10067), practically never on current Windows.",
            Doc,
            MS_ERRORS,
        ),
        never(Macos, WSA_ONLY_LINUX, Doc, MS_ERRORS),
    ],
    causes: &[cause(
        "A legacy or third-party Winsock provider with a process limit.",
        "Check installed Winsock providers (`netsh winsock show catalog`).",
    )],
    advice: &["If you see it, suspect a layered service provider, not your code."],
    phrases: &[p("limit on the number of applications that may use it", 98)],
    commonness: 5,
    ..SOCKET_ERRNO
};

pub(super) const WSASYSNOTREADY: Entry = Entry {
    id: "wsasysnotready",
    title: "Network subsystem unavailable (WSAStartup)",
    windows: wsa(
        "WSASYSNOTREADY",
        10091,
        "WSAStartup cannot function at this time because the underlying system it uses to provide network services is currently unavailable.",
    ),
    dotnet: &["SystemNotReady"],
    summary: "WSAStartup() found the network subsystem unusable: a damaged Winsock catalog or missing system files.",
    tcp: &[c(
        "Returned by WSAStartup when the underlying network subsystem is not ready.",
        Doc,
        MS_ERRORS,
    )],
    systems: &[
        never(Linux, WSA_ONLY_LINUX, Doc, MS_ERRORS),
        on(Windows, "WSASYSNOTREADY (10091).", Doc, MS_ERRORS),
        never(Macos, WSA_ONLY_LINUX, Doc, MS_ERRORS),
    ],
    causes: &[cause(
        "A broken Winsock catalog (left by uninstalled VPN or security software).",
        "`netsh winsock reset` and reboot.",
    )],
    advice: &["Not a problem in your program: repair the host's network stack."],
    phrases: &[p(
        "underlying system it uses to provide network services",
        98,
    )],
    commonness: 10,
    ..SOCKET_ERRNO
};

pub(super) const WSAVERNOTSUPPORTED: Entry = Entry {
    id: "wsavernotsupported",
    title: "Winsock version not supported",
    windows: wsa(
        "WSAVERNOTSUPPORTED",
        10092,
        "The Windows Sockets version requested is not supported.",
    ),
    dotnet: &["VersionNotSupported"],
    summary: "WSAStartup() was asked for a Winsock version the system does not provide.",
    tcp: &[c(
        "Returned by WSAStartup when the requested version is not supported.",
        Doc,
        MS_ERRORS,
    )],
    systems: &[
        never(Linux, WSA_ONLY_LINUX, Doc, MS_ERRORS),
        on(Windows, "WSAVERNOTSUPPORTED (10092).", Doc, MS_ERRORS),
        never(Macos, WSA_ONLY_LINUX, Doc, MS_ERRORS),
    ],
    causes: &[cause(
        "A wrong version word passed to WSAStartup.",
        "Request MAKEWORD(2, 2).",
    )],
    advice: &["Ask for Winsock 2.2."],
    phrases: &[p("windows sockets version requested is not supported", 98)],
    commonness: 5,
    ..SOCKET_ERRNO
};

pub(super) const WSAEDISCON: Entry = Entry {
    id: "wsaediscon",
    title: "Graceful shutdown in progress (message-oriented)",
    windows: wsa(
        "WSAEDISCON",
        10101,
        "Returned by WSARecv or WSARecvFrom to indicate the remote party has initiated a graceful shutdown sequence.",
    ),
    dotnet: &["Disconnecting"],
    area: Area::Connection,
    summary: "On a message-oriented socket, WSARecv reports that the peer started a graceful shutdown: the equivalent of EOF. TCP (a byte stream) reports EOF as a zero-byte receive instead.",
    tcp: &[c(
        "WSARecv/WSARecvFrom return WSAEDISCON on message-oriented protocols when the remote party initiated a graceful shutdown.",
        Doc,
        MS_ERRORS,
    )],
    systems: &[
        never(
            Linux,
            "No such errno: an orderly close is a read of 0 bytes.",
            Doc,
            "recv(2)",
        ),
        on(Windows, "WSAEDISCON (10101).", Doc, MS_ERRORS),
        never(
            Macos,
            "No such errno: an orderly close is a read of 0 bytes.",
            Doc,
            "recv(2)",
        ),
    ],
    causes: &[cause(
        "The peer closed its side in order.",
        "Treat it as end of stream: finish and close.",
    )],
    advice: &["Handle it exactly like EOF."],
    phrases: &[p("remote party has initiated a graceful shutdown", 98)],
    commonness: 8,
    related: &["peer-eof"],
    ..SOCKET_ERRNO
};

const GAI_LINUX: &str =
    "No errno: Linux's getaddrinfo() returns its own EAI_* codes (gai_strerror text) instead.";

pub(super) const WSAHOST_NOT_FOUND: Entry = Entry {
    id: "wsahost-not-found",
    title: "No such host is known (DNS name not found)",
    windows: wsa("WSAHOST_NOT_FOUND", 11001, "No such host is known."),
    dotnet: &["HostNotFound"],
    tokens: &["EAI_NONAME", "ENOTFOUND"],
    summary: "Name resolution failed: the DNS answered that the name does not exist (or no resolver knows it). Nothing was sent to the host; Linux reports EAI_NONAME (\"Name or service not known\"), Node.js ENOTFOUND, Python \"[Errno 11001] getaddrinfo failed\" on Windows.",
    tcp: &[c(
        "getaddrinfo/gethostbyname return WSAHOST_NOT_FOUND when the authoritative answer says the host is not found.",
        Doc,
        MS_ERRORS,
    )],
    systems: &[
        never(Linux, GAI_LINUX, Doc, "getaddrinfo(3)"),
        on(Windows, "WSAHOST_NOT_FOUND (11001).", Doc, MS_ERRORS),
        never(Macos, GAI_LINUX, Doc, "getaddrinfo(3)"),
    ],
    causes: &[cause(
        "A typo in the host name, a name that exists only in another network (VPN, container network), or a DNS server that does not know it.",
        "Resolve it by hand (`nslookup NAME`, `getent hosts NAME`) from the same machine.",
    )],
    advice: &[
        "Log the exact name you resolved; most failures are the wrong name or the wrong resolver.",
    ],
    phrases: &[
        p("no such host is known", 98),
        p("name or service not known", 96),
        p("getaddrinfo failed", 85),
        p("nodename nor servname provided", 96),
    ],
    commonness: 50,
    ..SOCKET_ERRNO
};

pub(super) const WSATRY_AGAIN: Entry = Entry {
    id: "wsatry-again",
    title: "Temporary name-resolution failure",
    windows: wsa(
        "WSATRY_AGAIN",
        11002,
        "This is usually a temporary error during hostname resolution and means that the local server did not receive a response from an authoritative server.",
    ),
    dotnet: &["TryAgain"],
    tokens: &["EAI_AGAIN"],
    summary: "The resolver got no answer in time (SERVFAIL or timeout): the name may well exist. Linux reports EAI_AGAIN (\"Temporary failure in name resolution\").",
    tcp: &[c(
        "Returned by name resolution when the local server did not receive a response from an authoritative server.",
        Doc,
        MS_ERRORS,
    )],
    systems: &[
        never(Linux, GAI_LINUX, Doc, "getaddrinfo(3)"),
        on(Windows, "WSATRY_AGAIN (11002).", Doc, MS_ERRORS),
        never(Macos, GAI_LINUX, Doc, "getaddrinfo(3)"),
    ],
    causes: &[cause(
        "The DNS server is unreachable or slow, or the network is down.",
        "Check /etc/resolv.conf (or the adapter's DNS servers) and that the DNS server answers.",
    )],
    advice: &["Retry with backoff; it is transient by definition."],
    phrases: &[
        p("temporary error during hostname resolution", 98),
        p("temporary failure in name resolution", 97),
    ],
    commonness: 25,
    related: &["wsahost-not-found"],
    ..SOCKET_ERRNO
};

pub(super) const WSANO_RECOVERY: Entry = Entry {
    id: "wsano-recovery",
    title: "Non-recoverable name-resolution error",
    windows: wsa(
        "WSANO_RECOVERY",
        11003,
        "A non-recoverable error occurred during a database lookup.",
    ),
    dotnet: &["NoRecovery"],
    tokens: &["EAI_FAIL"],
    summary: "The DNS server refused or failed permanently (REFUSED, FORMERR, NOTIMP). Linux reports EAI_FAIL.",
    tcp: &[c(
        "Returned by name resolution on a non-recoverable error.",
        Doc,
        MS_ERRORS,
    )],
    systems: &[
        never(Linux, GAI_LINUX, Doc, "getaddrinfo(3)"),
        on(Windows, "WSANO_RECOVERY (11003).", Doc, MS_ERRORS),
        never(Macos, GAI_LINUX, Doc, "getaddrinfo(3)"),
    ],
    causes: &[cause(
        "A misconfigured or refusing DNS server.",
        "Query it directly with `nslookup NAME SERVER`.",
    )],
    advice: &["Check the resolver configuration."],
    phrases: &[p(
        "non-recoverable error occurred during a database lookup",
        98,
    )],
    commonness: 10,
    related: &["wsahost-not-found"],
    ..SOCKET_ERRNO
};

pub(super) const WSANO_DATA: Entry = Entry {
    id: "wsano-data",
    title: "Name exists but has no address of that type",
    windows: wsa(
        "WSANO_DATA",
        11004,
        "The requested name is valid, but no data of the requested type was found.",
    ),
    dotnet: &["NoData"],
    tokens: &["EAI_NODATA"],
    summary: "The name exists but has no record of the kind asked for (e.g. no IPv4 address when only AAAA exists).",
    tcp: &[c(
        "Returned by name resolution when the name is valid but has no data of the requested type.",
        Doc,
        MS_ERRORS,
    )],
    systems: &[
        never(Linux, GAI_LINUX, Doc, "getaddrinfo(3)"),
        on(Windows, "WSANO_DATA (11004).", Doc, MS_ERRORS),
        never(Macos, GAI_LINUX, Doc, "getaddrinfo(3)"),
    ],
    causes: &[cause(
        "An IPv4-only lookup of an IPv6-only name (or the reverse), or a name with only MX/TXT records.",
        "Look up both families (AF_UNSPEC).",
    )],
    advice: &["Resolve with AF_UNSPEC and try every address returned."],
    phrases: &[p("no data of the requested type was found", 98)],
    commonness: 25,
    related: &["wsahost-not-found"],
    ..SOCKET_ERRNO
};
