//! The system-call tracepoints (`syscalls:sys_enter_*` / `sys_exit_*`) of the socket calls a
//! program makes, parsed from `trace_pipe` text and paired into calls, with no I/O:
//!
//! ```text
//! curl-4242 [001] ..... 5.000000: sys_enter_recvfrom: fd: 0x00000005, ubuf: 0x..., size: 0x00019000, ...
//! curl-4242 [001] ..... 5.000104: sys_exit_recvfrom: 0xffffffffffffff98
//! ```
//!
//! An exit carries only the return value: it is paired with the last enter of the same task.
//!
//! [`bpf`]: the same calls as the lab's BPF call tracer records them, already paired and tied
//! to their socket.

use std::collections::HashMap;

pub mod bpf;

/// The socket calls traced: their tracepoints are `sys_enter_NAME` and `sys_exit_NAME`.
pub const SOCKET_CALLS: &[&str] = &[
    "socket",
    "connect",
    "accept4",
    "accept",
    "read",
    "recvfrom",
    "recvmsg",
    "readv",
    "write",
    "sendto",
    "sendmsg",
    "writev",
    "sendfile64",
    "shutdown",
    "close",
];

/// The tracepoints to enable for [`SOCKET_CALLS`] (`syscalls/sys_enter_read`...).
pub fn events() -> Vec<String> {
    SOCKET_CALLS
        .iter()
        .flat_map(|c| {
            [
                format!("syscalls/sys_enter_{c}"),
                format!("syscalls/sys_exit_{c}"),
            ]
        })
        .collect()
}

/// One tracepoint line: a call's entry (with its descriptor) or its exit (with its result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysLine {
    pub ts_ns: u64,
    pub tid: i32,
    pub comm: String,
    /// `read`, `sendto`.
    pub call: String,
    pub kind: SysKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysKind {
    /// The descriptor it acts on (-1 for `socket`), for reads and writes the size asked
    /// for, and for `socket` whether it makes a TCP socket (AF_INET/AF_INET6, SOCK_STREAM).
    Enter {
        fd: i32,
        size: Option<u64>,
        tcp: bool,
    },
    Exit {
        ret: i64,
    },
}

/// A number as the syscall events print it: `0x1f` or `31`.
fn number(v: &str) -> Option<u64> {
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// Parses one `trace_pipe` line of a `sys_enter_*` or `sys_exit_*` event, in either of the
/// kernel's formats: since Linux 6.16 `sys_read(fd: 3, buf: 0x.., count: 16)` and
/// `sys_read -> 0x10`; before, `sys_enter_read: fd: 0x00000003, ...` and
/// `sys_exit_read: 0x10`.
pub fn parse_sys_line(line: &str) -> Option<SysLine> {
    let (head, rest) = crate::split_event(line)?;
    let ts_ns = crate::parse_ts(head.trim_end().trim_end_matches(':').rsplit(' ').next()?)?;
    let task = head.split(" [").next().unwrap_or("").trim();
    let (comm, tid) = task.rsplit_once('-')?;
    let tid: i32 = tid.parse().ok()?;
    let enter = |call: &str, args: &str| -> Option<(String, SysKind)> {
        let mut fd = None;
        let mut size = None;
        let (mut family, mut ty) = (None, None);
        for kv in args.split(", ") {
            let Some((k, v)) = kv.split_once(": ") else {
                continue;
            };
            match k.trim() {
                "fd" => fd = Some(number(v)? as i32),
                "count" | "size" | "len" | "vlen" => size = number(v),
                "family" => family = number(v),
                "type" => ty = number(v),
                _ => {}
            }
        }
        let fd = match (fd, call) {
            (Some(fd), _) => fd,
            (None, "socket") => -1,
            (None, _) => return None,
        };
        // AF_INET 2, AF_INET6 10; the type's low bits: SOCK_STREAM 1.
        let tcp = matches!(family, Some(2 | 10)) && ty.is_some_and(|t| t & 0xf == 1);
        Some((call.to_string(), SysKind::Enter { fd, size, tcp }))
    };
    let exit = |call: &str, v: &str| -> Option<(String, SysKind)> {
        Some((
            call.to_string(),
            SysKind::Exit {
                ret: number(v)? as i64,
            },
        ))
    };
    let (call, kind) = if let Some(r) = rest.strip_prefix("sys_enter_") {
        let (c, args) = r.split_once(": ").unwrap_or((r, ""));
        enter(c, args)?
    } else if let Some(r) = rest.strip_prefix("sys_exit_") {
        let (c, v) = r.split_once(": ")?;
        exit(c, v)?
    } else if let Some(r) = rest.strip_prefix("sys_") {
        if let Some((c, v)) = r.split_once(" -> ") {
            exit(c, v)?
        } else {
            let (c, args) = r.split_once('(')?;
            enter(c, args.trim_end().strip_suffix(')').unwrap_or(args))?
        }
    } else {
        return None;
    };
    Some(SysLine {
        ts_ns,
        tid,
        comm: comm.to_string(),
        call,
        kind,
    })
}

/// A call whose entry and exit were both seen (or only its entry, when the run ended first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysCall {
    pub tid: i32,
    pub comm: String,
    pub call: String,
    pub fd: i32,
    pub size: Option<u64>,
    /// A `socket` call that makes a TCP socket.
    pub tcp: bool,
    pub start_ns: u64,
    pub end_ns: Option<u64>,
    /// The return value: a count, a new descriptor (accept), or -errno.
    pub ret: Option<i64>,
}

/// Pairs entries and exits, task by task.
#[derive(Debug, Default)]
pub struct Pairer {
    open: HashMap<i32, SysCall>,
}

impl Pairer {
    /// Feeds a line; returns the call it completes. A call entered and not exited (blocked
    /// when the run ended) stays open until [`Pairer::unfinished`].
    pub fn feed(&mut self, l: SysLine) -> Option<SysCall> {
        match l.kind {
            SysKind::Enter { fd, size, tcp } => {
                // An entry without the previous call's exit (a lost event) leaves that call
                // unfinished rather than pairing it with the wrong result.
                self.open.insert(
                    l.tid,
                    SysCall {
                        tid: l.tid,
                        comm: l.comm,
                        call: l.call,
                        fd,
                        size,
                        tcp,
                        start_ns: l.ts_ns,
                        end_ns: None,
                        ret: None,
                    },
                )
            }
            SysKind::Exit { ret } => {
                let mut c = self.open.remove(&l.tid).filter(|c| c.call == l.call)?;
                c.end_ns = Some(l.ts_ns);
                c.ret = Some(ret);
                Some(c)
            }
        }
    }

    /// The calls still waiting, in start order.
    pub fn unfinished(&mut self) -> Vec<SysCall> {
        let mut v: Vec<SysCall> = self.open.drain().map(|(_, c)| c).collect();
        v.sort_by_key(|c| c.start_ns);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_and_exit_pair_into_a_call() {
        let a = parse_sys_line("            curl-4242    [001] ..... 5.000000: sys_enter_recvfrom: fd: 0x00000005, ubuf: 0x7ffd0000, size: 0x00019000, flags: 0x00000000, addr: 0x00000000, addr_len: 0x00000000").unwrap();
        assert_eq!(a.tid, 4242);
        assert_eq!(a.comm, "curl");
        assert_eq!(
            a.kind,
            SysKind::Enter {
                fd: 5,
                size: Some(0x19000),
                tcp: false
            }
        );
        let b =
            parse_sys_line("curl-4242 [001] ..... 5.000104: sys_exit_recvfrom: 0xffffffffffffff98")
                .unwrap();
        assert_eq!(b.kind, SysKind::Exit { ret: -104 });
        let mut p = Pairer::default();
        assert!(p.feed(a).is_none());
        let c = p.feed(b).unwrap();
        assert_eq!((c.call.as_str(), c.fd, c.ret), ("recvfrom", 5, Some(-104)));
        assert_eq!(c.end_ns, Some(5_000_104_000));
    }

    #[test]
    fn the_6_16_format_pairs_too() {
        let a = parse_sys_line("            curl-18957   [001] ..... 12559.458793: sys_sendto(fd: 5, buff: 0x55d9c48051f0, len: 0x51, flags: 0x4000, addr: 0, addr_len: 0)").unwrap();
        assert_eq!(a.call, "sendto");
        assert_eq!(
            a.kind,
            SysKind::Enter {
                fd: 5,
                size: Some(0x51),
                tcp: false
            }
        );
        let b = parse_sys_line("curl-18957 [001] ..... 12559.458816: sys_sendto -> 0x51").unwrap();
        assert_eq!(b.kind, SysKind::Exit { ret: 0x51 });
        let c = parse_sys_line(
            "curl-18957 [001] ..... 12559.458771: sys_connect -> 0xffffffffffffff8d",
        )
        .unwrap();
        assert_eq!(c.kind, SysKind::Exit { ret: -115 }, "EINPROGRESS");
        let d = parse_sys_line("curl-1 [001] ..... 1.0: sys_close(fd: 3)").unwrap();
        assert_eq!(
            (d.call.as_str(), d.kind.clone()),
            (
                "close",
                SysKind::Enter {
                    fd: 3,
                    size: None,
                    tcp: false
                }
            )
        );
        let e = parse_sys_line(
            "curl-1 [001] ..... 1.0: sys_socket(family: 2, type: 524289, protocol: 0)",
        )
        .unwrap();
        assert_eq!(
            e.kind,
            SysKind::Enter {
                fd: -1,
                size: None,
                tcp: true
            }
        );
    }

    #[test]
    fn a_comm_with_dashes_and_spaces_keeps_its_tid() {
        let l =
            parse_sys_line("python3 -m http-77 [000] ..... 1.5: sys_exit_accept4: 0x6").unwrap();
        assert_eq!((l.comm.as_str(), l.tid), ("python3 -m http", 77));
        assert_eq!(l.kind, SysKind::Exit { ret: 6 });
    }

    #[test]
    fn an_exit_of_another_call_is_not_paired() {
        let mut p = Pairer::default();
        p.feed(
            parse_sys_line(
                "x-1 [000] ..... 1.0: sys_enter_read: fd: 0x00000003, buf: 0x0, count: 0x00000010",
            )
            .unwrap(),
        );
        assert!(
            p.feed(parse_sys_line("x-1 [000] ..... 1.1: sys_exit_write: 0x10").unwrap())
                .is_none()
        );
        assert!(p.unfinished().is_empty());
        assert!(parse_sys_line("x-1 [000] ..... 1.1: tcp_send_reset: a=b").is_none());
        assert!(parse_sys_line("garbage").is_none());
    }
}
