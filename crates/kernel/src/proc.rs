//! Process plumbing: parent-death signals, liveness, SIGPIPE accounting, clocks, privileges.

use crate::{Result, cvt};
use std::sync::atomic::{AtomicU32, Ordering};

/// Asks the kernel to SIGKILL the calling process when the thread that forked it exits.
/// Async-signal-safe: meant for `pre_exec`. Note the kernel ties this to the parent *thread*,
/// so actors must be spawned from a thread that lives as long as the run.
pub fn die_with_parent() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    cvt(
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) },
        || "prctl(PR_SET_PDEATHSIG)".into(),
    )?;
    Ok(())
}

/// Whether a process exists (kill(pid, 0) does not fail with ESRCH).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// When a process started, in clock ticks after boot (field 22 of `/proc/PID/stat`, see
/// proc(5)): with its pid, a name for the process that a reused pid does not share.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Sends a signal to a process we started.
pub fn signal(pid: i32, sig: libc::c_int) -> Result<()> {
    // SAFETY: kill takes integers only.
    cvt(unsafe { libc::kill(pid, sig) }, || {
        format!("kill({pid}, {sig})")
    })?;
    Ok(())
}

static SIGPIPES: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_sigpipe(_: libc::c_int) {
    SIGPIPES.fetch_add(1, Ordering::SeqCst);
}

/// Counts SIGPIPE instead of dying of it (Rust ignores it by default, which would hide it).
/// Lets an actor report that a send raised SIGPIPE, as a C program would have been killed.
pub fn count_sigpipe() -> Result<()> {
    // SAFETY: sigaction with a handler that only touches an atomic (async-signal-safe).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigpipe as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        cvt(
            libc::sigaction(libc::SIGPIPE, &sa, std::ptr::null_mut()),
            || "sigaction(SIGPIPE)".into(),
        )?;
    }
    Ok(())
}

/// SIGPIPEs received so far.
pub fn sigpipes() -> u32 {
    SIGPIPES.load(Ordering::SeqCst)
}

fn clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write into.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CLOCK_MONOTONIC in nanoseconds: tracefs's `mono` clock.
pub fn monotonic_ns() -> u64 {
    clock(libc::CLOCK_MONOTONIC)
}

pub fn realtime_ns() -> u64 {
    clock(libc::CLOCK_REALTIME)
}

/// Capabilities the lab needs, by name, that the process does not have in its effective set.
pub fn missing_capabilities() -> Vec<&'static str> {
    const NEEDED: [(u32, &str); 3] = [
        (21, "CAP_SYS_ADMIN"),
        (12, "CAP_NET_ADMIN"),
        (13, "CAP_NET_RAW"),
    ];
    let eff = effective_capabilities();
    NEEDED
        .iter()
        .filter(|(bit, _)| eff & (1 << bit) == 0)
        .map(|(_, n)| *n)
        .collect()
}

/// CAP_NET_ADMIN's bit (`linux/capability.h`).
pub const CAP_NET_ADMIN: u32 = 12;
/// CAP_SYS_ADMIN's bit.
pub const CAP_SYS_ADMIN: u32 = 21;

/// Whether the process has capability `bit` in its effective set.
pub fn has_capability(bit: u32) -> bool {
    effective_capabilities() & (1 << bit) != 0
}

/// The effective capability set (`CapEff` of /proc/self/status), one bit per capability.
pub fn effective_capabilities() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Raises the soft limit on open files to the hard limit: a proxy holds two sockets per
/// connection. Returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid rlimit to read into and to pass back.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
    }
    r.rlim_cur
}

/// CAP_DAC_OVERRIDE's bit: reading and writing files whatever their mode, such as tracefs,
/// which belongs to root with mode 0700.
pub const CAP_DAC_OVERRIDE: u32 = 1;

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether this process runs in a user namespace other than the initial one (`unshare -U`,
/// rootless containers): its capabilities then count only for namespaces that user namespace
/// owns, never for tracefs. The initial namespace maps every id onto itself.
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
}

/// Kernel release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Takes an exclusive, non-blocking flock on a file; `Ok(false)` when another process holds
/// it. The lock lives as long as the file stays open, and dies with the process.
pub fn try_lock(file: &std::fs::File) -> Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock takes a descriptor and flags.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(crate::Error::new("flock", e))
    }
}

/// Spawns `cmd` inside the network namespace `netns`, killed by the kernel if the calling
/// thread dies (PR_SET_PDEATHSIG), so no actor outlives its run, even after SIGKILL.
///
/// The child ignores SIGINT, SIGTERM and SIGHUP (an ignored disposition survives exec): a
/// Ctrl-C in a terminal signals the whole process group, and the child must not die of it
/// before its parent, which cleans up and ends it.
pub fn spawn_in_netns(
    cmd: &mut std::process::Command,
    netns: std::os::fd::RawFd,
) -> std::io::Result<std::process::Child> {
    spawn_with(
        cmd,
        netns,
        false,
        libc::SIG_IGN,
        &[libc::SIGINT, libc::SIGTERM, libc::SIGHUP],
    )
}

/// Spawns a user's program inside the network namespace `netns`: in a process group of its
/// own (its pid is the group's id, so the whole tree is signalled at once and a terminal's
/// Ctrl-C, sent to tcpmortem's group, does not reach it), killed by the kernel when the
/// calling thread exits (PR_SET_PDEATHSIG), with the default disposition of the signals a
/// parent may have ignored, so that `signal TERM` works as it would from a shell.
pub fn spawn_program(
    cmd: &mut std::process::Command,
    netns: std::os::fd::RawFd,
) -> std::io::Result<std::process::Child> {
    spawn_with(
        cmd,
        netns,
        true,
        libc::SIG_DFL,
        &[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT],
    )
}

/// The child's set-up between fork and exec, for both spawners: into `netns`, a process
/// group of its own if `own_group`, PR_SET_PDEATHSIG, `disposition` for `signals`, and a
/// refusal if the parent died before prctl took effect.
fn spawn_with(
    cmd: &mut std::process::Command,
    netns: std::os::fd::RawFd,
    own_group: bool,
    disposition: libc::sighandler_t,
    signals: &'static [libc::c_int],
) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // syscalls (setns, setpgid, prctl, signal, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(netns, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if own_group && libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            for &sig in signals {
                libc::signal(sig, disposition);
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    };
    cmd.spawn()
}

/// The calling thread's id (from /proc/thread-self, which names `PID/task/TID`).
pub fn thread_id() -> Option<i32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// The local and remote addresses of a TCP socket held as descriptor `fd` by task `pid`:
/// the socket's inode from `/proc/PID/fd/FD` (`socket:[INODE]`), looked up in the task's own
/// namespace's `/proc/PID/net/tcp` and `tcp6`. None when the descriptor is not a TCP socket
/// or is gone.
pub fn tcp_socket_of(pid: i32, fd: i32) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
    let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let inode: u64 = link
        .to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()?;
    for file in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")) else {
            continue;
        };
        if let Some(found) = crate::procnet::find_inode(&text, inode) {
            return Some(found);
        }
    }
    None
}

/// The first interrupting signal received (0: none).
static INTERRUPTED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
/// CLOCK_MONOTONIC when it arrived.
static INTERRUPTED_AT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn on_interrupt(sig: libc::c_int) {
    if INTERRUPTED
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        // clock_gettime is async-signal-safe.
        INTERRUPTED_AT.store(monotonic_ns(), Ordering::SeqCst);
    }
}

/// Turns SIGINT, SIGTERM and SIGHUP into a flag that long operations poll, so that they
/// return through their normal cleanup (tracefs instance removed, namespaces released)
/// instead of dying mid-way.
pub fn catch_interrupts() -> Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_interrupt as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            cvt(libc::sigaction(sig, &sa, std::ptr::null_mut()), || {
                "sigaction(SIGINT/SIGTERM/SIGHUP)".into()
            })?;
        }
    }
    Ok(())
}

/// Whether SIGINT, SIGTERM or SIGHUP arrived since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst) != 0
}

/// The first interrupting signal and the CLOCK_MONOTONIC time it arrived, if one did.
pub fn interruption() -> Option<(i32, u64)> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some((sig, INTERRUPTED_AT.load(Ordering::SeqCst))),
    }
}
