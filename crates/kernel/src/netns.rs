//! Network namespaces held by file descriptors, never by named mounts under /run/netns: when
//! the last descriptor closes (our process exits, even by SIGKILL) and no process lives in
//! it, the kernel destroys the namespace with its veths, nftables tables and sockets.

use crate::{Error, Result, cvt};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A network namespace, alive as long as this value (or a process inside it) is.
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
}

impl NetNs {
    /// Creates a fresh namespace. The work happens on a short-lived thread: `unshare` changes
    /// only the calling thread's namespace, so the rest of the process stays where it was.
    pub fn new() -> Result<NetNs> {
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: unshare takes no pointers; it moves only this thread, which ends
                // right after opening the namespace's descriptor.
                cvt(unsafe { libc::unshare(libc::CLONE_NEWNET) }, || {
                    "unshare(CLONE_NEWNET)".into()
                })?;
                let f = File::open("/proc/thread-self/ns/net")
                    .map_err(|e| Error::new("open /proc/thread-self/ns/net", e))?;
                Ok(NetNs { fd: f.into() })
            })
            .join()
            .unwrap_or_else(|_| {
                Err(Error::new(
                    "netns thread",
                    std::io::Error::other("panicked"),
                ))
            })
        })
    }

    /// Creates `n` fresh namespaces, each with a TCP connection hash table of its own of
    /// `buckets` buckets instead of a share of the host's global one.
    ///
    /// Why: a sock_diag dump walks every bucket of the table its namespace uses
    /// (inet_diag_dump_icsk()), and the global table has hundreds of thousands (262,144 here),
    /// so one dump of a namespace holding three sockets cost ~1 ms. The kernel gives a new
    /// namespace a table of its own when the namespace it is created from has
    /// `net.ipv4.tcp_child_ehash_entries` set (tcp_set_hashinfo(), Linux 5.19+), so the
    /// namespaces are created from a scratch namespace that sets it, and the scratch one goes
    /// away with the creating thread. tcp_sk_init() derives two defaults from the table's size,
    /// `tcp_max_syn_backlog` and `tcp_max_tw_buckets`: each new namespace gets the values a
    /// namespace sharing the global table has, so behaviour does not change. On a kernel
    /// without the sysctl the namespaces share the global table, as [`NetNs::new`] makes them.
    pub fn new_with_own_tables(n: usize, buckets: u32) -> Result<Vec<NetNs>> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let unshare = || {
                    // SAFETY: unshare takes no pointers; it moves only this thread, which
                    // ends once the namespaces' descriptors are open.
                    cvt(unsafe { libc::unshare(libc::CLONE_NEWNET) }, || {
                        "unshare(CLONE_NEWNET)".into()
                    })
                };
                let here = || {
                    File::open("/proc/thread-self/ns/net")
                        .map(|f| NetNs { fd: f.into() })
                        .map_err(|e| Error::new("open /proc/thread-self/ns/net", e))
                };
                unshare()?;
                let scratch = here()?;
                const DERIVED: [&str; 2] = [
                    "net.ipv4.tcp_max_syn_backlog",
                    "net.ipv4.tcp_max_tw_buckets",
                ];
                let defaults: Vec<(&str, String)> = DERIVED
                    .iter()
                    .filter_map(|k| read_sysctl(k).ok().map(|v| (*k, v)))
                    .collect();
                let own =
                    write_sysctl("net.ipv4.tcp_child_ehash_entries", &buckets.to_string()).is_ok();
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    enter(scratch.raw_fd())?;
                    unshare()?;
                    if own {
                        for (k, v) in &defaults {
                            write_sysctl(k, v)?;
                        }
                    }
                    out.push(here()?);
                }
                Ok(out)
            })
            .join()
            .unwrap_or_else(|_| {
                Err(Error::new(
                    "netns thread",
                    std::io::Error::other("panicked"),
                ))
            })
        })
    }

    /// Opens an existing namespace, e.g. `/proc/PID/ns/net`.
    pub fn open(path: &str) -> Result<NetNs> {
        let f = File::open(path).map_err(|e| Error::new(format!("open {path}"), e))?;
        Ok(NetNs { fd: f.into() })
    }

    /// The namespace's inode number, as `ls -l /proc/PID/ns/net` shows it.
    pub fn inode(&self) -> Result<u64> {
        let meta = File::from(
            self.fd
                .try_clone()
                .map_err(|e| Error::new("dup netns fd", e))?,
        )
        .metadata()
        .map_err(|e| Error::new("fstat netns", e))?;
        Ok(std::os::unix::fs::MetadataExt::ino(&meta))
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Runs `f` on a thread that has entered this namespace. Sockets `f` creates belong to
    /// the namespace for their whole life, wherever they are used afterwards.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        let fd = self.raw_fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                enter(fd)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| {
                Err(Error::new(
                    "netns thread",
                    std::io::Error::other("panicked"),
                ))
            })
        })
    }
}

/// Moves the calling thread into the namespace `fd`. Async-signal-safe, so it may be called
/// between fork and exec.
pub fn enter(fd: RawFd) -> Result<()> {
    // SAFETY: setns takes a descriptor and a flag; an invalid fd is reported as EBADF.
    cvt(unsafe { libc::setns(fd, libc::CLONE_NEWNET) }, || {
        "setns(CLONE_NEWNET)".into()
    })?;
    Ok(())
}

/// Writes a sysctl of the calling thread's network namespace (`net.ipv4.ip_forward` →
/// `/proc/sys/net/ipv4/ip_forward`). Call it inside [`NetNs::run`].
pub fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = sysctl_path(key)?;
    std::fs::write(&path, value).map_err(|e| Error::new(format!("write {path}"), e))
}

pub fn read_sysctl(key: &str) -> Result<String> {
    let path = sysctl_path(key)?;
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::new(format!("read {path}"), e))
}

/// Only `net.*` keys are accepted: those are the namespaced ones, so the host's own settings
/// can never be changed through this function.
fn sysctl_path(key: &str) -> Result<String> {
    let ok = key.starts_with("net.")
        && !key.contains("..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        return Err(Error::new(
            format!("sysctl {key}"),
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "only net.* sysctls, which are per network namespace, can be set",
            ),
        ));
    }
    Ok(format!("/proc/sys/{}", key.replace('.', "/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_network_sysctls() {
        assert_eq!(
            sysctl_path("net.ipv4.tcp_syn_retries").unwrap(),
            "/proc/sys/net/ipv4/tcp_syn_retries"
        );
        assert!(sysctl_path("kernel.panic").is_err());
        assert!(sysctl_path("net.ipv4/../../kernel").is_err());
    }
}

/// A file of the calling thread's `/proc/thread-self/net/` (`netstat`, `snmp`), opened inside
/// a namespace and read again later from any thread: the kernel binds the file to the
/// namespace it was opened in, and regenerates its text at every read from offset 0.
#[derive(Debug)]
pub struct ProcNetFile {
    name: String,
    file: File,
}

impl ProcNetFile {
    /// Opens `/proc/thread-self/net/NAME`; call it inside [`NetNs::run`].
    pub fn open(name: &str) -> Result<ProcNetFile> {
        let path = format!("/proc/thread-self/net/{name}");
        let file = File::open(&path).map_err(|e| Error::new(format!("open {path}"), e))?;
        Ok(ProcNetFile {
            name: name.to_string(),
            file,
        })
    }

    /// The file's current text.
    pub fn read(&mut self) -> Result<String> {
        use std::io::{Read, Seek, SeekFrom};
        let mut s = String::new();
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.read_to_string(&mut s))
            .map_err(|e| Error::new(format!("read /proc/net/{}", self.name), e))?;
        Ok(s)
    }
}
