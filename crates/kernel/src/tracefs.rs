//! Private tracefs instances (`/sys/kernel/tracing/instances/NAME`).
//!
//! Trace events are global: every instance sees every namespace. A private instance at least
//! keeps our event selection and clock apart from other users. Instances are named
//! `tcpmortem-PID-N` so that a later run can remove those whose owner died without cleaning
//! up (SIGKILL): [`sweep_orphans`].

use crate::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

pub const PREFIX: &str = "tcpmortem-";

/// Whether tracefs is mounted at `target` (/proc/self/mountinfo: field 5 is the mount point,
/// the field after " - " the filesystem type).
fn mounted(target: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let (left, right) = l.split_once(" - ").unwrap_or((l, ""));
            left.split(' ').nth(4) == Some(target) && right.split(' ').next() == Some("tracefs")
        })
}

/// Where tracefs is, mounting it on `/sys/kernel/tracing` when nothing is mounted there.
///
/// tracefs is root's (mode 0700): a process with CAP_SYS_ADMIN but neither root's uid nor
/// CAP_DAC_OVERRIDE cannot look inside, and mounting again would only fail with EBUSY, so a
/// mounted but unreadable tracefs is reported as the permission problem it is.
pub fn root() -> Result<PathBuf> {
    let path = "/sys/kernel/tracing";
    let root = PathBuf::from(path);
    match fs::metadata(root.join("instances")) {
        Ok(m) if m.is_dir() => return Ok(root),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(Error::new(
                format!("{path} (tracefs is root's, mode 0700: needs root or CAP_DAC_OVERRIDE)"),
                e,
            ));
        }
        _ => {}
    }
    if mounted(path) {
        return Err(Error::new(
            path.to_string(),
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "tracefs has no instances directory",
            ),
        ));
    }
    let src = c"nodev";
    let target = c"/sys/kernel/tracing";
    let fstype = c"tracefs";
    // SAFETY: all pointers are valid NUL-terminated strings; data is null.
    let ret = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if ret != 0 {
        return Err(Error::last(
            "mount tracefs on /sys/kernel/tracing (needs CAP_SYS_ADMIN)",
        ));
    }
    if root.join("instances").is_dir() {
        Ok(root)
    } else {
        Err(Error::new(
            "tracefs",
            std::io::Error::new(std::io::ErrorKind::NotFound, "no instances directory"),
        ))
    }
}

/// Removes the instances left by tcpmortem processes that no longer exist.
pub fn sweep_orphans(root: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(dir) = fs::read_dir(root.join("instances")) else {
        return removed;
    };
    for ent in dir.flatten() {
        let name = ent.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if !crate::proc::alive(pid) && fs::remove_dir(ent.path()).is_ok() {
            removed.push(name);
        }
    }
    removed
}

/// An instance we own; removed when dropped.
#[derive(Debug)]
pub struct Instance {
    path: PathBuf,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Instance {
    /// Creates `tcpmortem-PID-N` with the given events enabled and the `mono` clock, so that
    /// timestamps compare with CLOCK_MONOTONIC (the clock change resets the buffer: ~35 ms).
    /// `buffer_kb` resizes the ring buffer per CPU (~15 ms); None keeps the default.
    pub fn create(root: &Path, events: &[&str], buffer_kb: Option<u32>) -> Result<Instance> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{n}", std::process::id());
        let path = root.join("instances").join(&name);
        fs::create_dir(&path).map_err(|e| Error::new(format!("mkdir {}", path.display()), e))?;
        let inst = Instance { path };
        inst.write("trace_clock", "mono")?;
        if let Some(kb) = buffer_kb {
            inst.write("buffer_size_kb", &kb.to_string())?;
        }
        for ev in events {
            inst.write(&format!("events/{ev}/enable"), "1")?;
        }
        inst.write("tracing_on", "1")?;
        Ok(inst)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets an event's filter in this instance (`events/SYSTEM/EVENT/filter`), so that the
    /// kernel records only matching events, e.g. `sport == 8080 || dport == 8080`.
    pub fn set_filter(&self, event: &str, filter: &str) -> Result<()> {
        self.write(&format!("events/{event}/filter"), filter)
    }

    /// Writes one of the instance's files (`options/event-fork`, `events/.../enable`).
    pub fn set(&self, file: &str, value: &str) -> Result<()> {
        self.write(file, value)
    }

    /// Appends to one of the instance's files: `set_event_pid` adds the pid to the list
    /// rather than replacing it.
    pub fn append(&self, file: &str, value: &str) -> Result<()> {
        use std::io::Write;
        let p = self.path.join(file);
        OpenOptions::new()
            .append(true)
            .open(&p)
            .and_then(|mut f| f.write_all(value.as_bytes()))
            .map_err(|e| Error::new(format!("append to {}", p.display()), e))
    }

    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        let p = self.path.join(file);
        fs::write(&p, value).map_err(|e| Error::new(format!("write {}", p.display()), e))
    }

    /// Opens `trace_pipe` (text, consuming) without blocking reads.
    pub fn pipe(&self) -> Result<TracePipe> {
        let p = self.path.join("trace_pipe");
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&p)
            .map_err(|e| Error::new(format!("open {}", p.display()), e))?;
        Ok(TracePipe {
            file: f,
            partial: String::new(),
            buf: vec![0u8; 1 << 16],
        })
    }

    /// Events the ring buffer dropped ("overrun" in per_cpu/cpuN/stats), summed over CPUs.
    pub fn overruns(&self) -> u64 {
        let Ok(dir) = fs::read_dir(self.path.join("per_cpu")) else {
            return 0;
        };
        dir.flatten()
            .filter_map(|d| fs::read_to_string(d.path().join("stats")).ok())
            .flat_map(|s| {
                s.lines()
                    .filter_map(|l| l.strip_prefix("overrun: "))
                    .filter_map(|v| v.trim().parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .sum()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.write("tracing_on", "0");
        // rmdir fails with EBUSY while a reader holds trace_pipe open; retry briefly.
        for _ in 0..50 {
            if fs::remove_dir(&self.path).is_ok() || !self.path.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// A non-blocking reader of an instance's `trace_pipe`, yielding whole lines.
#[derive(Debug)]
pub struct TracePipe {
    file: File,
    partial: String,
    buf: Vec<u8>,
}

impl TracePipe {
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }

    /// Reads what is available and returns the complete lines.
    pub fn read_lines(&mut self) -> Result<Vec<String>> {
        self.read_lines_max(usize::MAX).map(|(lines, _)| lines)
    }

    /// Reads what is available, at most about `max_bytes` (so that a reader far behind
    /// holds a bounded batch), and returns the complete lines, and whether it stopped at
    /// `max_bytes` (more may be waiting).
    pub fn read_lines_max(&mut self, max_bytes: usize) -> Result<(Vec<String>, bool)> {
        let mut lines = Vec::new();
        let mut read = 0;
        while read < max_bytes {
            match self.file.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => {
                    read += n;
                    self.partial
                        .push_str(&String::from_utf8_lossy(&self.buf[..n]));
                    // Split once, then drop what was taken: draining line by line from the
                    // front would move the rest of the buffer for every line.
                    let mut start = 0;
                    while let Some(i) = self.partial[start..].find('\n') {
                        lines.push(self.partial[start..start + i].trim_end().to_string());
                        start += i + 1;
                    }
                    self.partial.drain(..start);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::new("read trace_pipe", e)),
            }
        }
        Ok((lines, read >= max_bytes))
    }
}
