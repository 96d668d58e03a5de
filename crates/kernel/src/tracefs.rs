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

/// Where tracefs is, mounting it on `/sys/kernel/tracing` when that is empty.
pub fn root() -> Result<PathBuf> {
    let root = PathBuf::from("/sys/kernel/tracing");
    if root.join("instances").is_dir() {
        return Ok(root);
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
        return Err(Error::last("mount tracefs on /sys/kernel/tracing"));
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
        let mut lines = Vec::new();
        loop {
            match self.file.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.partial
                        .push_str(&String::from_utf8_lossy(&self.buf[..n]));
                    while let Some(i) = self.partial.find('\n') {
                        let line: String = self.partial.drain(..=i).collect();
                        lines.push(line.trim_end().to_string());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::new("read trace_pipe", e)),
            }
        }
        Ok(lines)
    }
}
