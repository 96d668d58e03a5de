//! The catalog's data. Sources use short names:
//! - `tcp_input.c tcp_reset()` etc.: Linux `net/ipv4/`, as of 6.18;
//! - `MS Winsock errors`: Microsoft Learn, "Windows Sockets Error Codes";
//! - `LAB`: measured with real sockets on this project's Linux 6.18 machines (`docs/reference`).

use super::{
    Basis::{self, *},
    Cause, Claim, Entry, Kind, Phrase, PosixIdentity, SystemNote, Win32Error, WinsockIdentity,
};
use crate::errno::Os::{self, *};

const fn c(text: &'static str, basis: Basis, source: &'static str) -> Claim {
    Claim {
        text,
        basis,
        source,
    }
}
const fn on(os: Os, text: &'static str, basis: Basis, source: &'static str) -> SystemNote {
    SystemNote {
        os,
        produced: true,
        claim: c(text, basis, source),
    }
}
const fn never(os: Os, text: &'static str, basis: Basis, source: &'static str) -> SystemNote {
    SystemNote {
        os,
        produced: false,
        claim: c(text, basis, source),
    }
}
const fn px(name: &'static str, number: i32, message: &'static str) -> Option<PosixIdentity> {
    Some(PosixIdentity {
        name,
        number,
        message,
    })
}
const fn wsa(name: &'static str, code: u32, message: &'static str) -> Option<WinsockIdentity> {
    Some(WinsockIdentity {
        name,
        code,
        message,
    })
}
const fn w32(name: &'static str, code: u32, message: &'static str) -> Win32Error {
    Win32Error {
        name,
        code,
        message,
    }
}
const fn p(text: &'static str, weight: u8) -> Phrase {
    Phrase { text, weight }
}
const fn cause(cause: &'static str, fix: &'static str) -> Cause {
    Cause { cause, fix }
}

const MS_ERRORS: &str = "MS Winsock errors (learn.microsoft.com, windows-sockets-error-codes-2)";
const TCP_RESET: &str = "net/ipv4/tcp_input.c tcp_reset()";
const LAB: &str = "measured on Linux 6.18, docs/reference/tcp-termination.md";

/// The catalog, most commonly met first.
pub static ENTRIES: &[Entry] = &[
    Entry {
        id: "econnreset",
        kind: Kind::Errno,
        title: "Connection reset by peer",
        linux: px("ECONNRESET", 104, "Connection reset by peer"),
        bsd: px("ECONNRESET", 54, "Connection reset by peer"),
        windows: wsa(
            "WSAECONNRESET",
            10054,
            "An existing connection was forcibly closed by the remote host.",
        ),
        win32: &[w32(
            "ERROR_NETNAME_DELETED",
            64,
            "The specified network name is no longer available.",
        )],
        dotnet: &["ConnectionReset"],
        rust: Some("ConnectionReset"),
        python: Some("ConnectionResetError"),
        tokens: &["ERR_CONNECTION_RESET"],
        summary: "A RST arrived for an established connection: the peer's kernel (or a middlebox) tore the connection down, and data still in flight may be lost.",
        tcp: &[
            c(
                "A RST was received on a synchronized connection. tcp_reset() stores ECONNRESET in every state except SYN_SENT (ECONNREFUSED), CLOSE_WAIT (EPIPE) and CLOSE (ignored).",
                Src,
                TCP_RESET,
            ),
            c(
                "The peer's kernel sends that RST when its application closes with unread data (reason TCP_ABORT_ON_CLOSE, RFC 2525 §2.17), closes with SO_LINGER {1,0} (TCP_STATE), or when a segment reaches a 4-tuple it has no socket for, e.g. after a reboot (NO_SOCKET).",
                Src,
                "net/ipv4/tcp.c __tcp_close(), tcp_ipv4.c tcp_v4_send_reset()",
            ),
            c(
                "Since Linux 6.10 the RST purges only the send queue: data already received can still be read, then recv returns ECONNRESET, then 0 (EOF).",
                Here,
                LAB,
            ),
            c(
                "A send after the RST returns the stored error (ECONNRESET) once, then EPIPE.",
                Src,
                "net/core/stream.c sk_stream_error()",
            ),
        ],
        systems: &[
            on(
                Linux,
                "recv or send returns ECONNRESET (104) after a RST in ESTABLISHED, FIN_WAIT1/2 or CLOSING. A RST that follows the peer's FIN (CLOSE_WAIT) gives EOF then EPIPE instead.",
                Src,
                TCP_RESET,
            ),
            on(
                Windows,
                "WSAECONNRESET (10054): the remote host reset the connection: its application stopped, the host rebooted, it closed with SO_LINGER 0. Windows resets the sockets of a terminated process, so a peer that crashed on Windows gives 10054 where Linux would give EOF.",
                Doc,
                MS_ERRORS,
            ),
            on(
                Windows,
                "Windows may discard data that had already arrived when a RST follows it; overlapped I/O completes with ERROR_NETNAME_DELETED (64).",
                Obs,
                "reports; Microsoft recv() remarks",
            ),
            on(
                Macos,
                "ECONNRESET (54). Unlike Linux, a RST in CLOSE_WAIT also gives ECONNRESET, and recv after FIN+RST returns ECONNRESET before 0.",
                Src,
                "XNU bsd/netinet/tcp_input.c, tcp_subr.c tcp_drop()",
            ),
        ],
        causes: &[
            cause(
                "The peer closed its socket while your request or data was still unread on its side (a server that rejects a request early, a proxy that gives up): its kernel answers with RST instead of FIN.",
                "On the closing side, read (drain) the request before close(), or shutdown(SHUT_WR) and read to EOF. On your side, read the response already sent before treating the reset as fatal.",
            ),
            cause(
                "A pooled keep-alive connection was reused after the server, a proxy or a load balancer had already dropped it: the first write on the stale connection meets a RST.",
                "Keep the client's idle timeout shorter than the server's and the load balancer's; retry idempotent requests once on a fresh connection; enable TCP keepalive.",
            ),
            cause(
                "The peer host rebooted or failed over, or its process crashed on Windows, so the old 4-tuple has no socket (RST reason NO_SOCKET).",
                "Reconnect; check the peer's uptime and logs.",
            ),
            cause(
                "An abortive close by design: SO_LINGER {1,0} (used to avoid TIME_WAIT), or `ss -K` on the peer.",
                "Treat it as an end of connection; avoid linger 0 unless an abort is what you mean.",
            ),
            cause(
                "A firewall, NAT, IPS or load balancer forged the RST (idle timeout, policy).",
                "In a capture, compare the RST's TTL and IP ID with the peer's own packets: a forged RST differs; check middlebox idle timeouts.",
            ),
        ],
        advice: &[
            "Treat ECONNRESET as a normal end of a connection, not a crash: close the socket, and retry idempotent work once on a new connection.",
            "On Linux, data received before the RST is still readable: read it before giving up.",
            "Never close() with unread input while the peer may still be waiting for an answer: that is what turns a clean close into a reset.",
        ],
        phrases: &[
            p("connection reset by peer", 98),
            p("forcibly closed by the remote host", 98),
            p("existing connection was forcibly closed", 98),
            p("connection was forcibly closed", 95),
            p("specified network name is no longer available", 93),
            p("connection reset", 90),
            p("reset by peer", 92),
            p("connection was reset", 88),
            p("connection has been reset", 88),
        ],
        commonness: 100,
        scenarios: &[
            "close-with-unread-data",
            "linger-abort",
            "reset-with-queued-data",
            "server-crashes-with-unread-data",
            "peer-reboot",
            "middlebox-reset",
            "ipv6-reset",
            "local-abort",
        ],
        related: &["epipe", "econnaborted", "peer-eof"],
    },
    Entry {
        id: "econnaborted",
        kind: Kind::Errno,
        title: "Software caused connection abort",
        linux: px("ECONNABORTED", 103, "Software caused connection abort"),
        bsd: px("ECONNABORTED", 53, "Software caused connection abort"),
        windows: wsa(
            "WSAECONNABORTED",
            10053,
            "An established connection was aborted by the software in your host machine.",
        ),
        win32: &[w32(
            "ERROR_CONNECTION_ABORTED",
            1236,
            "The network connection was aborted by the local system.",
        )],
        dotnet: &["ConnectionAborted"],
        rust: Some("ConnectionAborted"),
        python: Some("ConnectionAbortedError"),
        tokens: &["ERR_CONNECTION_ABORTED"],
        summary: "Your own host's TCP stack gave up on the connection. Common on Windows (10053), where it is what the application sees after the peer's FIN and RST or after retransmissions ran out; rare on Linux, where it means the socket was destroyed locally.",
        tcp: &[
            c(
                "Winsock: \"An established connection was aborted by the software in your host computer, possibly due to a data transmission time-out or protocol error.\"",
                Doc,
                MS_ERRORS,
            ),
            c(
                "The seed's case: the server reads the request and closes at once (FIN); the client writes more, which is accepted locally; the server's kernel answers RST (reason TCP_TIMEWAIT_SOCKET, or TCP_ABORT_ON_DATA within ~5 ms of the close). On Windows the client's next recv fails with 10053.",
                Obs,
                "the seed blog post (README); Windows behaviour reported, not documented",
            ),
            c(
                "The same packets on Linux give recv → 0 (EOF) and then send → EPIPE, because tcp_reset() stores EPIPE when the RST arrives in CLOSE_WAIT.",
                Here,
                LAB,
            ),
            c(
                "Windows also reports 10053 when its retransmissions run out (TcpMaxDataRetransmissions, 5 by default) and drops the connection.",
                Obs,
                "Microsoft KB articles and reports",
            ),
            c(
                "On Linux, SOCK_DESTROY (`ss -K`) calls tcp_abort(): the local application gets ECONNABORTED and the peer gets a RST with reason TCP_STATE, hence ECONNRESET.",
                Here,
                "net/ipv4/tcp.c tcp_abort(); measured on Linux 6.18",
            ),
        ],
        systems: &[
            on(
                Linux,
                "Rare: a socket destroyed by SOCK_DESTROY (`ss -K`, some VPN and mobile network managers), or accept() on a connection that was aborted while queued.",
                Src,
                "net/ipv4/tcp.c tcp_abort(); accept(2)",
            ),
            on(
                Windows,
                "WSAECONNABORTED (10053): the local stack aborted the connection: after the peer's FIN and RST (the seed's case), after retransmission time-out, or when local software (firewall, antivirus, VPN filter) killed it. Which calls get 10053 rather than 10054 is not documented.",
                Obs,
                "reports; seed blog post",
            ),
            on(
                Macos,
                "ECONNABORTED (53): mostly from accept() when a queued connection was reset before it was accepted; an established connection that times out gives ETIMEDOUT instead.",
                Doc,
                "FreeBSD/macOS accept(2)",
            ),
        ],
        causes: &[
            cause(
                "(Windows) The peer closed right after reading part of the exchange while your side kept writing; its kernel reset your late data, and your next recv or send reports 10053.",
                "Read the peer's answer (or its EOF) before writing more; when recv returns 0, stop writing and close.",
            ),
            cause(
                "(Windows) The local stack exhausted its retransmissions: the peer or the path vanished without a RST.",
                "Check connectivity and firewalls between the hosts; enable keepalive; reconnect.",
            ),
            cause(
                "(Windows) Local software aborted the connection: a firewall, antivirus, VPN or proxy filter, or your own process closing the socket from another thread.",
                "Look for security software or socket closes racing with I/O in your own code.",
            ),
            cause(
                "(Linux) A tool or daemon destroyed the socket (`ss -K`, SOCK_DESTROY on network change).",
                "Treat it like a reset: reconnect.",
            ),
        ],
        advice: &[
            "Handle 10053 like 10054: the connection is gone; close it and reconnect.",
            "If it happens right after a request, the peer probably rejected it and closed: read its response before sending the rest.",
            "Write protocol code that stops sending once recv returns 0: the peer will not read any more.",
        ],
        phrases: &[
            p("software caused connection abort", 98),
            p("aborted by the software in your host", 99),
            p("connection was aborted by the local system", 97),
            p("connection abort", 70),
            p("connection aborted", 45),
        ],
        commonness: 70,
        scenarios: &["server-closes-early", "local-abort"],
        related: &["econnreset", "epipe"],
    },
    Entry {
        id: "epipe",
        kind: Kind::Errno,
        title: "Broken pipe",
        linux: px("EPIPE", 32, "Broken pipe"),
        bsd: px("EPIPE", 32, "Broken pipe"),
        windows: None,
        win32: &[],
        dotnet: &[],
        rust: Some("BrokenPipe"),
        python: Some("BrokenPipeError"),
        tokens: &["SIGPIPE"],
        summary: "A write on a connection that can no longer send: you shut down writing yourself, or the connection was already reset (on Linux, typically a RST after the peer's FIN). Unless suppressed, the process also gets SIGPIPE, which kills it by default.",
        tcp: &[
            c(
                "tcp_sendmsg_locked() fails with EPIPE when the socket has a pending error or its send side is shut down; the pending error, if any, replaces EPIPE. SIGPIPE is raised only when the final error is EPIPE and MSG_NOSIGNAL was not given.",
                Src,
                "net/core/stream.c sk_stream_error()",
            ),
            c(
                "A RST received in CLOSE_WAIT (the peer had already sent FIN) stores EPIPE, not ECONNRESET: the application was already told EOF.",
                Src,
                TCP_RESET,
            ),
            c(
                "The seed's case on Linux: after the server's FIN, the client's send is accepted, the server's kernel answers RST (TCP_TIMEWAIT_SOCKET), the client's recv returns 0, and its next send fails with EPIPE and SIGPIPE.",
                Here,
                LAB,
            ),
            c(
                "A write after your own shutdown(SHUT_WR) fails with EPIPE.",
                Here,
                LAB,
            ),
        ],
        systems: &[
            on(
                Linux,
                "EPIPE (32) from send/write, with SIGPIPE unless MSG_NOSIGNAL is used or SIGPIPE is ignored.",
                Src,
                "net/core/stream.c sk_stream_error()",
            ),
            never(
                Windows,
                "Winsock has no EPIPE and no SIGPIPE: the same send fails with WSAECONNABORTED 10053, WSAECONNRESET 10054 or WSAESHUTDOWN 10058.",
                Doc,
                MS_ERRORS,
            ),
            on(
                Macos,
                "EPIPE (32) from a send after the connection was reset or shut down; SIGPIPE unless SO_NOSIGPIPE is set on the socket.",
                Src,
                "XNU bsd/kern/uipc_socket.c sosend()",
            ),
        ],
        causes: &[
            cause(
                "The peer closed (FIN) and then reset your late data, and your code kept writing without noticing the EOF: the seed's 10053 case as Linux reports it.",
                "Read before you write: recv returning 0 means the peer will read nothing more; stop sending and close.",
            ),
            cause(
                "The peer reset the connection earlier (crash on Windows, close with unread data) and the first error was already consumed.",
                "Treat EPIPE like ECONNRESET: the connection is over; reconnect.",
            ),
            cause(
                "Your own code wrote after shutdown(SHUT_WR) or after an earlier error on the same socket.",
                "Track the connection's state in your code; do not write after shutdown.",
            ),
            cause(
                "A process died silently: exit status 141 in a shell is 128 + SIGPIPE.",
                "Ignore SIGPIPE (or use MSG_NOSIGNAL / SO_NOSIGPIPE) so the error reaches your code instead of killing it.",
            ),
        ],
        advice: &[
            "Ignore SIGPIPE at start-up, or send with MSG_NOSIGNAL (SO_NOSIGPIPE on macOS), so a broken connection is an error you can handle, not a dead process.",
            "Treat EPIPE as the end of the connection, like ECONNRESET.",
        ],
        phrases: &[p("broken pipe", 95), p("write epipe", 97)],
        commonness: 85,
        scenarios: &[
            "server-closes-early",
            "server-crashes",
            "half-close",
            "server-crashes-with-unread-data",
            "user-timeout",
        ],
        related: &["econnreset", "econnaborted", "eshutdown"],
    },
    Entry {
        id: "etimedout",
        kind: Kind::Errno,
        title: "Connection timed out (by the kernel)",
        linux: px("ETIMEDOUT", 110, "Connection timed out"),
        bsd: px("ETIMEDOUT", 60, "Operation timed out"),
        windows: wsa(
            "WSAETIMEDOUT",
            10060,
            "A connection attempt failed because the connected party did not properly respond after a period of time, or established connection failed because connected host has failed to respond.",
        ),
        win32: &[w32(
            "ERROR_SEM_TIMEOUT",
            121,
            "The semaphore timeout period has expired.",
        )],
        dotnet: &["TimedOut"],
        rust: Some("TimedOut"),
        python: None,
        tokens: &["ERR_CONNECTION_TIMED_OUT"],
        summary: "The kernel gave up waiting for the peer: a SYN was never answered, or sent data or keepalive probes went unacknowledged for too long. Nothing was heard from the other side.",
        tcp: &[
            c(
                "A SYN that is never answered is retransmitted tcp_syn_retries times (6 by default, ~127 s; per network namespace), then connect() fails with ETIMEDOUT, or with a stored ICMP error such as EHOSTUNREACH.",
                Src,
                "net/ipv4/tcp_timer.c tcp_write_timeout()",
            ),
            c(
                "Data that is never acknowledged is retransmitted with exponential backoff until tcp_retries2 (15, ~15 min) or TCP_USER_TIMEOUT expires; then the socket fails with ETIMEDOUT and no RST is sent.",
                Src,
                "net/ipv4/tcp_timer.c tcp_write_timeout(), tcp_write_err()",
            ),
            c(
                "With TCP_USER_TIMEOUT 1 s and every packet to the server dropped, recv returned ETIMEDOUT after ~1.4 s and the next send EPIPE.",
                Here,
                LAB,
            ),
            c(
                "When keepalive probes go unanswered (keepalive_probes), the kernel sends a RST with reason TCP_KEEPALIVE_TIMEOUT and reports ETIMEDOUT.",
                Here,
                "net/ipv4/tcp_timer.c tcp_keepalive_timer(); measured on Linux 6.18",
            ),
        ],
        systems: &[
            on(
                Linux,
                "ETIMEDOUT (110) from connect after the SYN retries, and from recv/send after data retransmissions, TCP_USER_TIMEOUT or keepalive ran out.",
                Src,
                "net/ipv4/tcp_timer.c",
            ),
            on(
                Windows,
                "WSAETIMEDOUT (10060): a connect gives up after ~21 s (TcpMaxConnectRetransmissions); an established connection whose retransmissions run out usually reports 10053 instead, and a keepalive failure 10052. A socket receive timeout (SO_RCVTIMEO) also returns 10060.",
                Obs,
                "reports; Microsoft setsockopt() remarks",
            ),
            on(
                Macos,
                "ETIMEDOUT (60, \"Operation timed out\"): connect gives up after ~75 s; also after retransmission or keepalive failure.",
                Obs,
                "reports; XNU bsd/netinet/tcp_timer.c",
            ),
        ],
        causes: &[
            cause(
                "A firewall or security group silently drops the SYN (no RST, no ICMP), or the host is down or off the network.",
                "Test the path (`nc -vz host port`), check firewall rules and security groups, and the address you resolve.",
            ),
            cause(
                "The peer or the path vanished mid-connection (host crash, cable, paused VM, NAT or firewall dropped an idle flow), so data or keepalives went unanswered.",
                "Use keepalive with short timers or TCP_USER_TIMEOUT to find out sooner; keep NAT/firewall idle timeouts longer than your idle periods.",
            ),
            cause(
                "The application set TCP_USER_TIMEOUT or short keepalive timers, which fired.",
                "Raise them if the peer is just slow.",
            ),
        ],
        advice: &[
            "Do not confuse this with a read timeout of your own (see app-timeout): ETIMEDOUT means the kernel heard nothing for a long time.",
            "Retry connects with backoff; for established connections, reconnect: the old one is dead.",
        ],
        phrases: &[
            p("connection timed out", 90),
            p("did not properly respond after a period of time", 98),
            p("connected host has failed to respond", 97),
            p("connection attempt failed", 80),
            p("semaphore timeout period has expired", 93),
            p("operation timed out", 75),
        ],
        commonness: 90,
        scenarios: &[
            "user-timeout",
            "syn-dropped",
            "keepalive-timeout",
            "accept-queue-full",
            "middlebox-idle-timeout",
        ],
        related: &["app-timeout", "ehostunreach"],
    },
    Entry {
        id: "econnrefused",
        kind: Kind::Errno,
        title: "Connection refused",
        linux: px("ECONNREFUSED", 111, "Connection refused"),
        bsd: px("ECONNREFUSED", 61, "Connection refused"),
        windows: wsa(
            "WSAECONNREFUSED",
            10061,
            "No connection could be made because the target machine actively refused it.",
        ),
        win32: &[
            w32(
                "ERROR_CONNECTION_REFUSED",
                1225,
                "The remote computer refused the network connection.",
            ),
            w32(
                "ERROR_PORT_UNREACHABLE",
                1234,
                "No service is operating at the destination network endpoint on the remote system.",
            ),
        ],
        dotnet: &["ConnectionRefused"],
        rust: Some("ConnectionRefused"),
        python: Some("ConnectionRefusedError"),
        tokens: &["ConnectException", "ERR_CONNECTION_REFUSED"],
        summary: "The connection attempt was answered with a RST (or ICMP port-unreachable): nothing listens on that address and port, or a firewall rejects the connection.",
        tcp: &[
            c(
                "A RST in answer to a SYN (SYN_SENT) makes tcp_reset() store ECONNREFUSED; connect() fails at once.",
                Src,
                TCP_RESET,
            ),
            c(
                "The target's kernel sends that RST because no socket matches the 4-tuple (reason NO_SOCKET).",
                Here,
                LAB,
            ),
            c(
                "An ICMP port-unreachable during connect is converted to ECONNREFUSED.",
                Src,
                "net/ipv4/icmp.c icmp_err_convert[]",
            ),
            c(
                "A full accept queue does not refuse: the SYN or final ACK is dropped and the client times out, unless tcp_abort_on_overflow=1.",
                Here,
                LAB,
            ),
        ],
        systems: &[
            on(
                Linux,
                "ECONNREFUSED (111), at once, on the first RST.",
                Here,
                LAB,
            ),
            on(
                Windows,
                "WSAECONNREFUSED (10061), but only after retrying the SYN for ~2 s: Windows does not take the first RST as final.",
                Obs,
                "reports",
            ),
            on(
                Macos,
                "ECONNREFUSED (61), at once.",
                Src,
                "XNU bsd/netinet/tcp_input.c",
            ),
        ],
        causes: &[
            cause(
                "The service is not running, crashed, or is restarting.",
                "Check it listens: `ss -ltnp` on the server.",
            ),
            cause(
                "Wrong address or port: the server listens on 127.0.0.1 but you connect to its external address, `localhost` resolved to ::1 while it listens on IPv4 only, or a container port is not published.",
                "Compare the listening address in `ss -ltn` with the one you connect to.",
            ),
            cause(
                "A firewall rejects with TCP RST or ICMP port-unreachable.",
                "Check firewall rules on the server and on the path.",
            ),
        ],
        advice: &[
            "Retry with backoff when the server may be starting; fail fast with a clear message otherwise.",
            "Log the exact address and port you connected to: most refusals are the wrong ones.",
        ],
        phrases: &[
            p("connection refused", 95),
            p("actively refused", 98),
            p("refused the network connection", 95),
            p("no service is operating at the destination", 93),
        ],
        commonness: 95,
        scenarios: &["connect-refused"],
        related: &["etimedout", "ehostunreach"],
    },
    Entry {
        id: "peer-eof",
        kind: Kind::PeerEof,
        title: "The peer closed the connection while a reply was expected (EOF)",
        linux: None,
        bsd: None,
        windows: None,
        win32: &[],
        dotnet: &[],
        rust: Some("UnexpectedEof"),
        python: Some("RemoteDisconnected"),
        tokens: &[
            "EOFException",
            "IncompleteRead",
            "ERR_EMPTY_RESPONSE",
            "EOF",
            "SSL_ERROR_ZERO_RETURN",
        ],
        summary: "recv returned 0: the peer sent FIN, cleanly closing (or half-closing) the connection, often because its process exited or an idle timeout fired. This is not a kernel error: a library reports it because it expected more data. It is not ECONNRESET.",
        tcp: &[
            c(
                "Once a FIN has been received and the receive queue is empty, recv returns 0. This check comes before any pending error, so a FIN followed by a RST still reads as EOF first.",
                Src,
                "net/ipv4/tcp.c tcp_recvmsg_locked()",
            ),
            c(
                "A process killed with SIGKILL after reading everything closes its sockets like close(): FIN, not RST. The peer sees EOF, not ECONNRESET.",
                Here,
                LAB,
            ),
            c(
                "TLS: a peer that closes the TCP connection without sending close_notify makes OpenSSL 3 report \"unexpected eof while reading\" (SSL_R_UNEXPECTED_EOF_WHILE_READING); older versions report SSL_ERROR_SYSCALL with errno 0.",
                Doc,
                "OpenSSL SSL_get_error(3)",
            ),
        ],
        systems: &[
            on(
                Linux,
                "recv returns 0 after the peer's FIN; the same on a killed peer process.",
                Here,
                LAB,
            ),
            on(
                Windows,
                "recv returns 0 after the peer's FIN. A peer process killed on Windows usually resets its connections instead, giving 10054.",
                Obs,
                "reports",
            ),
            on(
                Macos,
                "recv returns 0 after the peer's FIN.",
                Src,
                "XNU bsd/kern/uipc_socket.c soreceive()",
            ),
        ],
        causes: &[
            cause(
                "A keep-alive connection was closed by the server (idle timeout) just as the client reused it: the request meets FIN (or RST) and the client sees an empty reply.",
                "Retry idempotent requests once; make the client's idle timeout shorter than the server's.",
            ),
            cause(
                "A server, proxy or load balancer closed the connection on a timeout of its own, or because the request was invalid or too large.",
                "Check the peer's logs and its timeouts (nginx keepalive_timeout, proxy_read_timeout, LB idle timeout).",
            ),
            cause(
                "The peer process crashed or restarted (on Linux and macOS its kernel sends FIN).",
                "Check the peer's logs and restarts.",
            ),
            cause(
                "Protocol mismatch: TLS spoken to a plain-text port or the reverse, and the peer closed.",
                "Check the scheme and port.",
            ),
            cause(
                "TLS peer that closes without close_notify (common and mostly harmless once the full response was read).",
                "If the response was complete, ignore it; otherwise treat it as a truncation.",
            ),
        ],
        advice: &[
            "Treat EOF as a normal, orderly end: stop writing, close your side.",
            "When the EOF arrives before a complete response, retry idempotent requests on a new connection.",
        ],
        phrases: &[
            p("server closed the connection unexpectedly", 98),
            p("connection closed by foreign host", 98),
            p("upstream prematurely closed connection", 98),
            p("client prematurely closed connection", 96),
            p("prematurely closed", 90),
            p("unexpected eof while reading", 98),
            p("ssl_error_syscall", 85),
            p("eof detected", 88),
            p("unexpected eof", 90),
            p("remote end closed connection without response", 98),
            p("socket hang up", 96),
            p("empty reply from server", 96),
            p("connection closed by remote host", 95),
            p("connection closed by peer", 90),
            p("response ended prematurely", 95),
            p("mysql server has gone away", 85),
            p("lost connection to mysql server", 80),
            p("server closed idle connection", 95),
            p("closed the connection", 60),
            p("connection closed", 50),
        ],
        commonness: 95,
        scenarios: &[
            "graceful-close",
            "server-crashes",
            "server-closes-early",
            "half-close",
        ],
        related: &["econnreset", "app-timeout"],
    },
    Entry {
        id: "app-timeout",
        kind: Kind::AppTimeout,
        title: "Application timeout (not TCP's ETIMEDOUT)",
        linux: None,
        bsd: None,
        windows: None,
        win32: &[],
        dotnet: &[],
        rust: None,
        python: None,
        tokens: &[
            "SocketTimeoutException",
            "ReadTimeout",
            "ConnectTimeout",
            "ReadTimeoutError",
            "ConnectTimeoutError",
            "TaskCanceledException",
            "ESOCKETTIMEDOUT",
            "DeadlineExceeded",
        ],
        summary: "Your code or library stopped waiting: a read, connect or request timeout or a deadline expired. The kernel reported no error and the connection may be healthy; the peer was just slower than your limit. This is not the kernel's ETIMEDOUT.",
        tcp: &[
            c(
                "Runtimes implement deadlines with poll/epoll timeouts or SO_RCVTIMEO: when they expire no packet is sent and the TCP state does not change.",
                Doc,
                "socket(7), epoll_wait(2)",
            ),
            c(
                "On Linux, a blocking recv with SO_RCVTIMEO fails with EAGAIN/EWOULDBLOCK when the timeout expires.",
                Doc,
                "socket(7) SO_RCVTIMEO",
            ),
            c(
                "nginx's \"upstream timed out (110: Connection timed out)\" carries errno 110 but is nginx's own proxy_read_timeout or proxy_connect_timeout.",
                Src,
                "nginx src/http/ngx_http_upstream.c",
            ),
        ],
        systems: &[
            on(
                Linux,
                "No kernel error: the library reports its own timeout; with SO_RCVTIMEO the call returns EAGAIN (11).",
                Doc,
                "socket(7)",
            ),
            on(
                Windows,
                "With SO_RCVTIMEO a timed-out recv returns WSAETIMEDOUT (10060) and Microsoft says the socket state is then indeterminate.",
                Doc,
                "Microsoft setsockopt() SO_RCVTIMEO remarks",
            ),
            on(
                Macos,
                "No kernel error; with SO_RCVTIMEO the call returns EAGAIN (35).",
                Doc,
                "macOS setsockopt(2)",
            ),
        ],
        causes: &[
            cause(
                "The peer is slow: overloaded server, long garbage-collection pause, slow database query behind it.",
                "Measure the peer's response time; raise the timeout or fix the slowness.",
            ),
            cause(
                "Both sides wait for each other (protocol deadlock): the client waits for a reply the server will send only after more input.",
                "Check the protocol's framing: lengths, newlines, flushes.",
            ),
            cause(
                "The network silently drops packets: your timeout fires before the kernel's much longer ETIMEDOUT would.",
                "Capture traffic; if retransmissions go unanswered, it is a path problem (see etimedout).",
            ),
        ],
        advice: &[
            "Log which timeout fired (connect, read, total) and its value: that is the whole diagnosis.",
            "After a read timeout in the middle of a response, close the connection: its framing is lost.",
        ],
        phrases: &[
            p("socket.timeout", 98),
            p("timeouterror: timed out", 97),
            p("read timed out", 97),
            p("connect timed out", 92),
            p("i/o timeout", 97),
            p("context deadline exceeded", 98),
            p("deadline exceeded", 90),
            p("operation timed out after", 96),
            p("upstream timed out", 97),
            p("httpclient.timeout", 97),
            p("timeout awaiting response headers", 96),
            p("the operation has timed out", 90),
            p("timeout exceeded", 80),
            p("timed out waiting", 85),
            p("request timed out", 85),
        ],
        commonness: 85,
        scenarios: &[],
        related: &["etimedout", "eagain"],
    },
    Entry {
        id: "ehostunreach",
        kind: Kind::Errno,
        title: "No route to host",
        linux: px("EHOSTUNREACH", 113, "No route to host"),
        bsd: px("EHOSTUNREACH", 65, "No route to host"),
        windows: wsa(
            "WSAEHOSTUNREACH",
            10065,
            "A socket operation was attempted to an unreachable host.",
        ),
        win32: &[w32(
            "ERROR_HOST_UNREACHABLE",
            1232,
            "The remote system is not reachable by the transport.",
        )],
        dotnet: &["HostUnreachable"],
        rust: Some("HostUnreachable"),
        python: None,
        tokens: &["NoRouteToHostException", "ERR_ADDRESS_UNREACHABLE"],
        summary: "The host cannot be reached: a router answered with ICMP host-unreachable (or administratively prohibited), or the local host could not resolve the next hop's link-layer address.",
        tcp: &[
            c(
                "ICMP destination-unreachable (host, or admin-prohibited) maps to EHOSTUNREACH. During connect it is a hard error and connect fails at once.",
                Src,
                "net/ipv4/icmp.c icmp_err_convert[]; tcp_ipv4.c tcp_v4_err()",
            ),
            c(
                "On an established connection the same ICMP is only a soft error: it is stored and reported if the connection later times out, in place of ETIMEDOUT (unless IP_RECVERR is set).",
                Src,
                "net/ipv4/tcp_ipv4.c tcp_v4_err()",
            ),
            c(
                "A neighbour (ARP/ND) that never answers on the local link gives EHOSTUNREACH after ~3 s.",
                Obs,
                "reports; net/core/neighbour.c",
            ),
        ],
        systems: &[
            on(
                Linux,
                "EHOSTUNREACH (113) from connect, or from a later call after a timeout with a stored ICMP error.",
                Src,
                "net/ipv4/tcp_ipv4.c tcp_v4_err()",
            ),
            on(Windows, "WSAEHOSTUNREACH (10065).", Doc, MS_ERRORS),
            on(
                Macos,
                "EHOSTUNREACH (65).",
                Src,
                "XNU bsd/netinet/ip_icmp.c",
            ),
        ],
        causes: &[
            cause(
                "The host is down or absent on the local subnet (ARP/ND gets no answer).",
                "Check the host is up and the address is right.",
            ),
            cause(
                "A firewall rejects with ICMP host-unreachable or admin-prohibited (`reject` in iptables/nftables).",
                "Check firewall rules on the path.",
            ),
            cause(
                "A routing problem on the path.",
                "traceroute / mtr to the host.",
            ),
        ],
        advice: &["Fail fast and report the address; retrying quickly rarely helps."],
        phrases: &[
            p("no route to host", 96),
            p("unreachable host", 85),
            p("host is unreachable", 90),
            p("not reachable by the transport", 93),
        ],
        commonness: 60,
        scenarios: &["icmp-unreachable-connect", "icmp-unreachable-established"],
        related: &["enetunreach", "etimedout", "econnrefused"],
    },
    Entry {
        id: "enetunreach",
        kind: Kind::Errno,
        title: "Network is unreachable",
        linux: px("ENETUNREACH", 101, "Network is unreachable"),
        bsd: px("ENETUNREACH", 51, "Network is unreachable"),
        windows: wsa(
            "WSAENETUNREACH",
            10051,
            "A socket operation was attempted to an unreachable network.",
        ),
        win32: &[w32(
            "ERROR_NETWORK_UNREACHABLE",
            1231,
            "The network location cannot be reached.",
        )],
        dotnet: &["NetworkUnreachable"],
        rust: Some("NetworkUnreachable"),
        python: None,
        tokens: &[],
        summary: "The local host has no route to the destination network (no default route, IPv6 without IPv6 connectivity), or a router answered with ICMP net-unreachable.",
        tcp: &[
            c(
                "connect() fails at once when the routing table has no route for the destination (ip_route_connect).",
                Src,
                "net/ipv4/tcp_ipv4.c tcp_v4_connect()",
            ),
            c(
                "ICMP net-unreachable maps to ENETUNREACH; like host-unreachable, it is hard during connect and soft afterwards.",
                Src,
                "net/ipv4/icmp.c icmp_err_convert[]",
            ),
        ],
        systems: &[
            on(
                Linux,
                "ENETUNREACH (101), typically at connect.",
                Src,
                "net/ipv4/route.c",
            ),
            on(Windows, "WSAENETUNREACH (10051).", Doc, MS_ERRORS),
            on(Macos, "ENETUNREACH (51).", Src, "XNU bsd/netinet/in_pcb.c"),
        ],
        causes: &[
            cause(
                "No default route (interface down, VPN changed routes) or an IPv6 address chosen on a host without IPv6 connectivity.",
                "Check `ip route get ADDR`; prefer IPv4 or fix IPv6 routing.",
            ),
            cause(
                "A router on the path answered net-unreachable.",
                "traceroute to find it.",
            ),
        ],
        advice: &["Fall back to the next resolved address (happy eyeballs) before failing."],
        phrases: &[
            p("network is unreachable", 96),
            p("unreachable network", 85),
            p("network location cannot be reached", 93),
        ],
        commonness: 45,
        scenarios: &[],
        related: &["ehostunreach"],
    },
    Entry {
        id: "enotconn",
        kind: Kind::Errno,
        title: "Socket is not connected",
        linux: px("ENOTCONN", 107, "Transport endpoint is not connected"),
        bsd: px("ENOTCONN", 57, "Socket is not connected"),
        windows: wsa(
            "WSAENOTCONN",
            10057,
            "A request to send or receive data was disallowed because the socket is not connected and (when sending on a datagram socket using a sendto call) no address was supplied.",
        ),
        win32: &[],
        dotnet: &["NotConnected"],
        rust: Some("NotConnected"),
        python: None,
        tokens: &[],
        summary: "The call needs a connected socket and this one is not, or no longer, connected: it was never connected, its connect failed, or its connection was torn down and the error already consumed.",
        tcp: &[
            c(
                "recv on a socket in CLOSE with no data and no pending error returns ENOTCONN.",
                Src,
                "net/ipv4/tcp.c tcp_recvmsg_locked()",
            ),
            c(
                "shutdown() and getpeername() on a socket that is not connected (or whose connection died) fail with ENOTCONN.",
                Src,
                "net/ipv4/af_inet.c inet_shutdown(), inet_getname()",
            ),
        ],
        systems: &[
            on(
                Linux,
                "ENOTCONN (107, \"Transport endpoint is not connected\").",
                Src,
                "net/ipv4/af_inet.c",
            ),
            on(Windows, "WSAENOTCONN (10057).", Doc, MS_ERRORS),
            on(
                Macos,
                "ENOTCONN (57); macOS also returns it from shutdown() after the peer reset the connection.",
                Obs,
                "reports",
            ),
        ],
        causes: &[
            cause(
                "Using a socket after its non-blocking connect failed or before it completed.",
                "Check the connect result (SO_ERROR after writability) before using the socket.",
            ),
            cause(
                "Calling shutdown() or getpeername() after the connection was reset and closed.",
                "Treat the earlier error as final; close the socket.",
            ),
        ],
        advice: &[
            "Keep a per-connection state in your code and stop using a socket after its first fatal error.",
        ],
        phrases: &[
            p("transport endpoint is not connected", 98),
            p("socket is not connected", 95),
        ],
        commonness: 50,
        scenarios: &[],
        related: &["econnreset", "epipe"],
    },
    Entry {
        id: "enetreset",
        kind: Kind::Errno,
        title: "Network dropped connection on reset (keepalive failure)",
        linux: px("ENETRESET", 102, "Network dropped connection on reset"),
        bsd: px("ENETRESET", 52, "Network dropped connection on reset"),
        windows: wsa(
            "WSAENETRESET",
            10052,
            "The connection has been broken due to keep-alive activity detecting a failure while the operation was in progress.",
        ),
        win32: &[],
        dotnet: &["NetworkReset"],
        rust: None,
        python: None,
        tokens: &[],
        summary: "Windows reports this when keepalive detects a dead connection while an operation is in progress. Linux TCP never returns it: a keepalive failure there is ETIMEDOUT.",
        tcp: &[
            c(
                "Winsock: the connection was broken because keep-alive activity detected a failure while the operation was in progress; also returned by setsockopt(SO_KEEPALIVE) on a connection that has already failed.",
                Doc,
                MS_ERRORS,
            ),
            c(
                "Linux's keepalive timer ends a dead connection with ETIMEDOUT (and a RST with reason TCP_KEEPALIVE_TIMEOUT), never ENETRESET.",
                Src,
                "net/ipv4/tcp_timer.c tcp_keepalive_timer()",
            ),
        ],
        systems: &[
            never(
                Linux,
                "Linux TCP never returns ENETRESET; a keepalive failure gives ETIMEDOUT.",
                Src,
                "net/ipv4/tcp_timer.c tcp_keepalive_timer()",
            ),
            on(
                Windows,
                "WSAENETRESET (10052) for operations in progress when keepalive fails; for UDP, an ICMP time-exceeded with SIO_UDP_NETRESET.",
                Doc,
                MS_ERRORS,
            ),
            on(
                Macos,
                "Defined as 52; not a usual result of TCP connection failure on macOS.",
                Obs,
                "XNU bsd/sys/errno.h",
            ),
        ],
        causes: &[cause(
            "Keepalive probes went unanswered: the peer host or the path died while idle.",
            "Reconnect; if it happens often, look for a NAT or firewall dropping idle flows.",
        )],
        advice: &["Handle it like a reset: the connection is dead."],
        phrases: &[
            p("network dropped connection on reset", 96),
            p("keep-alive activity detecting a failure", 98),
        ],
        commonness: 30,
        scenarios: &[],
        related: &["etimedout", "econnreset"],
    },
    Entry {
        id: "eshutdown",
        kind: Kind::Errno,
        title: "Cannot send after socket shutdown",
        linux: px(
            "ESHUTDOWN",
            108,
            "Cannot send after transport endpoint shutdown",
        ),
        bsd: px("ESHUTDOWN", 58, "Can't send after socket shutdown"),
        windows: wsa(
            "WSAESHUTDOWN",
            10058,
            "A request to send or receive data was disallowed because the socket had already been shut down in that direction with a previous shutdown call.",
        ),
        win32: &[],
        dotnet: &["Shutdown"],
        rust: None,
        python: None,
        tokens: &[],
        summary: "A send (or receive) after shutdown() in that direction. Winsock returns WSAESHUTDOWN 10058; Linux and macOS TCP return EPIPE instead, so ESHUTDOWN is a Windows-side error in practice.",
        tcp: &[
            c(
                "Winsock fails send after shutdown(SD_SEND), and recv after shutdown(SD_RECEIVE), with WSAESHUTDOWN.",
                Doc,
                MS_ERRORS,
            ),
            c(
                "Linux tcp_sendmsg() after shutdown(SHUT_WR) fails with EPIPE, not ESHUTDOWN.",
                Src,
                "net/core/stream.c sk_stream_error()",
            ),
        ],
        systems: &[
            never(
                Linux,
                "Linux TCP never returns ESHUTDOWN (108) from a socket call; it returns EPIPE. 108 in a Windows C-runtime message is ECONNRESET.",
                Src,
                "net/core/stream.c sk_stream_error()",
            ),
            on(
                Windows,
                "WSAESHUTDOWN (10058) from a send after shutdown(SD_SEND).",
                Doc,
                MS_ERRORS,
            ),
            never(
                Macos,
                "macOS TCP returns EPIPE for a send after shutdown (sosend: SS_CANTSENDMORE).",
                Src,
                "XNU bsd/kern/uipc_socket.c sosend()",
            ),
        ],
        causes: &[cause(
            "Your code sent after shutting down its own sending side, often from another thread.",
            "Track shutdown in your connection state; do not send after it.",
        )],
        advice: &["Treat it as a bug in your own connection handling, not a network failure."],
        phrases: &[
            p("cannot send after transport endpoint shutdown", 98),
            p("can't send after socket shutdown", 98),
            p("cannot send after socket shutdown", 96),
            p("already been shut down in that direction", 98),
        ],
        commonness: 25,
        scenarios: &[],
        related: &["epipe"],
    },
    Entry {
        id: "enetdown",
        kind: Kind::Errno,
        title: "Network is down",
        linux: px("ENETDOWN", 100, "Network is down"),
        bsd: px("ENETDOWN", 50, "Network is down"),
        windows: wsa(
            "WSAENETDOWN",
            10050,
            "A socket operation encountered a dead network.",
        ),
        win32: &[],
        dotnet: &["NetworkDown"],
        rust: Some("NetworkDown"),
        python: None,
        tokens: &[],
        summary: "The local interface the traffic would leave through is down (or the network subsystem failed).",
        tcp: &[c(
            "Sending through an interface that is administratively down fails with ENETDOWN.",
            Src,
            "net/core/dev.c, net/ipv4/ip_output.c",
        )],
        systems: &[
            on(
                Linux,
                "ENETDOWN (100), rare for TCP: usually the route disappears first and ENETUNREACH is returned.",
                Src,
                "net/ipv4/ip_output.c",
            ),
            on(Windows, "WSAENETDOWN (10050).", Doc, MS_ERRORS),
            on(
                Macos,
                "ENETDOWN (50), e.g. when Wi-Fi goes down under an open socket.",
                Obs,
                "reports",
            ),
        ],
        causes: &[cause(
            "Interface down, Wi-Fi lost, VPN disconnected, laptop resumed from sleep.",
            "Reconnect once the network is back.",
        )],
        advice: &["Reconnect after the network returns; do not treat it as the peer's fault."],
        phrases: &[
            p("network is down", 95),
            p("encountered a dead network", 97),
        ],
        commonness: 20,
        scenarios: &[],
        related: &["enetunreach"],
    },
    Entry {
        id: "eagain",
        kind: Kind::Errno,
        title: "Resource temporarily unavailable (would block)",
        linux: px("EAGAIN", 11, "Resource temporarily unavailable"),
        bsd: px("EAGAIN", 35, "Resource temporarily unavailable"),
        windows: wsa(
            "WSAEWOULDBLOCK",
            10035,
            "A non-blocking socket operation could not be completed immediately.",
        ),
        win32: &[],
        dotnet: &["WouldBlock"],
        rust: Some("WouldBlock"),
        python: Some("BlockingIOError"),
        tokens: &["EWOULDBLOCK"],
        summary: "Nothing to read or no room to write right now. On a non-blocking socket this is normal flow control; on a blocking socket with SO_RCVTIMEO/SO_SNDTIMEO it is how the kernel reports that your timeout expired. The connection is not dead.",
        tcp: &[
            c(
                "A non-blocking recv with an empty queue, or send with a full send buffer, returns EAGAIN.",
                Doc,
                "recv(2), send(2)",
            ),
            c(
                "A blocking call with SO_RCVTIMEO or SO_SNDTIMEO returns EAGAIN when the timeout expires.",
                Doc,
                "socket(7)",
            ),
        ],
        systems: &[
            on(Linux, "EAGAIN = EWOULDBLOCK = 11.", Doc, "errno(3)"),
            on(
                Windows,
                "WSAEWOULDBLOCK (10035) for non-blocking sockets; a blocking socket's SO_RCVTIMEO returns WSAETIMEDOUT instead.",
                Doc,
                MS_ERRORS,
            ),
            on(Macos, "EAGAIN = EWOULDBLOCK = 35.", Doc, "intro(2)"),
        ],
        causes: &[
            cause(
                "Normal non-blocking I/O: wait for readiness (poll/epoll/kqueue) and retry.",
                "Retry after readiness; never busy-loop.",
            ),
            cause(
                "A socket timeout you set (SO_RCVTIMEO) expired: see app-timeout.",
                "Treat as your own timeout, not a network failure.",
            ),
        ],
        advice: &["EAGAIN is not a connection death; only the errors after it are."],
        phrases: &[
            p("resource temporarily unavailable", 85),
            p("operation would block", 85),
            p("could not be completed immediately", 95),
        ],
        commonness: 40,
        scenarios: &[],
        related: &["app-timeout"],
    },
];
