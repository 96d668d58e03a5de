//! Reading a regular file through memory-mapped windows: the capture reader gets the page
//! cache's own pages, with no copy into a buffer, and each window is unmapped once read, so
//! resident memory stays at one window however large the file is.

use crate::{Error, Result};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use tcpmortem_wire::capture::Source;

/// Bytes mapped at a time.
const WINDOW: usize = 16 << 20;

pub struct MmapSource {
    file: File,
    len: u64,
    /// The current mapping: its address, its offset in the file and its length.
    map: *mut libc::c_void,
    map_off: u64,
    map_len: usize,
    /// The read position in the file.
    pos: u64,
}

// SAFETY: the mapping is private to this value and only read through `&self`.
unsafe impl Send for MmapSource {}

fn page() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

impl MmapSource {
    /// Maps `file`, which must be a regular file; its length is taken now. A file truncated
    /// while it is read makes the process fail with SIGBUS, as with any mapped reader.
    pub fn new(file: File) -> Result<MmapSource> {
        let meta = file
            .metadata()
            .map_err(|e| Error::new("stat the capture", e))?;
        if !meta.is_file() {
            return Err(Error::new(
                "map the capture",
                io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        Ok(MmapSource {
            file,
            len: meta.len(),
            map: std::ptr::null_mut(),
            map_off: 0,
            map_len: 0,
            pos: 0,
        })
    }

    fn unmap(&mut self) {
        if !self.map.is_null() {
            // SAFETY: `map` and `map_len` are exactly what mmap returned and was asked for.
            unsafe { libc::munmap(self.map, self.map_len) };
            self.map = std::ptr::null_mut();
            self.map_len = 0;
        }
    }

    /// Maps a window that starts at the page holding `pos` and covers at least `n` bytes
    /// (or up to the end of the file).
    fn remap(&mut self, n: usize) -> io::Result<()> {
        self.unmap();
        // A file cut shorter since it was opened is read as truncated where it now ends,
        // instead of faulting on pages past its end. (A cut during one window's reading
        // still raises SIGBUS: the cost of not copying.)
        if let Ok(m) = self.file.metadata() {
            self.len = self.len.min(m.len());
        }
        self.pos = self.pos.min(self.len);
        let off = self.pos - self.pos % page();
        let want = (self.pos - off) as usize + n.max(WINDOW);
        let len = want.min((self.len - off) as usize);
        if len == 0 {
            self.map_off = off;
            return Ok(());
        }
        // SAFETY: a fresh read-only private mapping of an open file; the kernel picks the
        // address. MAP_POPULATE reads the window's page-table entries in at once instead of
        // one fault per page.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                self.file.as_raw_fd(),
                off as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the range is the mapping just made. Advice only; failure changes nothing.
        unsafe { libc::madvise(p, len, libc::MADV_SEQUENTIAL) };
        self.map = p;
        self.map_off = off;
        self.map_len = len;
        Ok(())
    }

    fn available(&self) -> usize {
        (self.map_off + self.map_len as u64).saturating_sub(self.pos) as usize
    }
}

impl Source for MmapSource {
    fn need(&mut self, n: usize) -> io::Result<()> {
        let want = n.min(self.len.saturating_sub(self.pos) as usize);
        let mapped = !self.map.is_null() && self.pos >= self.map_off;
        if want == 0 || (mapped && self.available() >= want) {
            return Ok(());
        }
        self.remap(n)
    }

    fn buf(&self) -> &[u8] {
        if self.map.is_null() || self.pos < self.map_off || self.available() == 0 {
            return &[];
        }
        let start = (self.pos - self.map_off) as usize;
        // SAFETY: the mapping covers [map_off, map_off + map_len) and lives as long as
        // `self`; `start` ≤ map_len because `pos` only moves within what `buf` showed.
        unsafe {
            std::slice::from_raw_parts((self.map as *const u8).add(start), self.map_len - start)
        }
    }

    fn consume(&mut self, n: usize) {
        self.pos += n as u64;
    }
}

impl Drop for MmapSource {
    fn drop(&mut self) {
        self.unmap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn windows_cover_every_byte_across_their_boundaries() {
        let data: Vec<u8> = (0..(WINDOW + 12_345)).map(|i| (i % 251) as u8).collect();
        // Anonymous: gone when closed, whatever happens to the test.
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let mut s = MmapSource::new(file).unwrap();
        let mut pos = 0;
        // Records of awkward sizes, so some straddle the window's end.
        let mut k = 0;
        while pos < data.len() {
            let want = 1 + (k * 7919) % 100_000;
            k += 1;
            s.need(want).unwrap();
            let b = s.buf();
            let n = want.min(data.len() - pos);
            assert!(b.len() >= n);
            assert_eq!(&b[..n], &data[pos..pos + n]);
            s.consume(n);
            pos += n;
        }
        s.need(10).unwrap();
        assert!(s.buf().is_empty());
    }
}
