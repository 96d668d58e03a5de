//! `--pcap` and `--svg`: where a run's capture and diagram go. Paths are opened before the
//! run, so that one that cannot be written is a usage error at once instead of a lost run;
//! `-` is stdout (written raw: a capture is binary). With `--all`, each is a directory that
//! gets one file per scenario.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use tcpmortem_lab::run::Run;

enum Sink {
    Stdout,
    File {
        path: PathBuf,
        file: File,
        /// It did not exist before this run: removed if the run fails.
        created: bool,
    },
}

impl Sink {
    fn open(flag: &str, path: &Path) -> Result<Sink, String> {
        if path == Path::new("-") {
            return Ok(Sink::Stdout);
        }
        let existed = path.exists();
        // No truncation yet: a run that fails leaves an existing file as it was.
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| format!("cannot write {flag} {}: {e}", path.display()))?;
        Ok(Sink::File {
            path: path.to_path_buf(),
            file,
            created: !existed,
        })
    }

    fn write(
        &self,
        flag: &str,
        f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), String> {
        match self {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                match f(&mut out).and_then(|()| out.flush()) {
                    // A closed stdout (`| head`) is not an error.
                    Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                        Err(format!("writing {flag} to stdout: {e}"))
                    }
                    _ => Ok(()),
                }
            }
            Sink::File { path, file, .. } => {
                let mut file = file;
                // A regular file is truncated now that the run has worked; a device or a
                // pipe (`/dev/stdout`, a FIFO) is written as it is.
                let regular = file.metadata().is_ok_and(|m| m.is_file());
                let r = if regular {
                    file.set_len(0).and_then(|()| file.rewind())
                } else {
                    Ok(())
                }
                .and_then(|()| {
                    let mut w = BufWriter::new(&mut file);
                    f(&mut w)?;
                    w.flush()
                });
                r.map_err(|e| format!("writing {flag} {}: {e}", path.display()))
            }
        }
    }

    fn abandon(&self) {
        if let Sink::File {
            path,
            created: true,
            ..
        } = self
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A single run's output files.
pub struct Output {
    pcap: Option<Sink>,
    svg: Option<Sink>,
}

impl Output {
    /// Opens the files; `Err` is a usage error's message.
    pub fn plan(pcap: Option<&Path>, svg: Option<&Path>, json: bool) -> Result<Output, String> {
        let dash = |p: Option<&Path>| p.is_some_and(|p| p == Path::new("-"));
        if dash(pcap) && dash(svg) {
            return Err("--pcap - and --svg - cannot both write to stdout".into());
        }
        if json && (dash(pcap) || dash(svg)) {
            let flag = if dash(pcap) { "--pcap -" } else { "--svg -" };
            return Err(format!("--json and {flag} cannot both write to stdout"));
        }
        let pcap = pcap.map(|p| Sink::open("--pcap", p)).transpose()?;
        let svg = match svg.map(|p| Sink::open("--svg", p)).transpose() {
            Ok(s) => s,
            Err(e) => {
                if let Some(p) = &pcap {
                    p.abandon();
                }
                return Err(e);
            }
        };
        Ok(Output { pcap, svg })
    }

    /// Whether stdout is taken by a file: the timeline then goes to stderr.
    pub fn stdout_taken(&self) -> bool {
        [&self.pcap, &self.svg]
            .iter()
            .any(|s| matches!(s, Some(Sink::Stdout)))
    }

    /// The run failed: files it created are removed.
    pub fn abandon(&self) {
        for s in [&self.pcap, &self.svg].into_iter().flatten() {
            s.abandon();
        }
    }

    /// Writes both; the first failure's message.
    pub fn write(&self, run: &Run, _out: &mut impl Write) -> Result<(), String> {
        let mut first = Ok(());
        if let Some(s) = &self.pcap {
            let r = s.write("--pcap", |w| {
                tcpmortem_lab::pcap::write(w, &run.record, &run.frames)
            });
            first = first.and(r);
        }
        if let Some(s) = &self.svg {
            let r = s.write("--svg", |w| {
                w.write_all(super::svg::render(&run.record).as_bytes())
            });
            first = first.and(r);
        }
        first
    }
}

/// `--all`'s output directories.
pub struct Dirs {
    pcap: Option<PathBuf>,
    svg: Option<PathBuf>,
}

impl Dirs {
    /// Checks that each is a directory this process can write in; `Err` is a usage error.
    pub fn plan(pcap: Option<&Path>, svg: Option<&Path>) -> Result<Dirs, String> {
        let check = |flag: &str, ext: &str, p: Option<&Path>| -> Result<Option<PathBuf>, String> {
            let Some(p) = p else { return Ok(None) };
            if p == Path::new("-") || !p.is_dir() {
                return Err(format!(
                    "with --all, {flag} takes a directory, which gets one NAME.{ext} per scenario; {} is not a directory",
                    p.display()
                ));
            }
            let probe = p.join(format!(".tcpmortem-{}.probe", std::process::id()));
            File::create(&probe)
                .map_err(|e| format!("cannot write in {flag} directory {}: {e}", p.display()))?;
            let _ = std::fs::remove_file(&probe);
            Ok(Some(p.to_path_buf()))
        };
        Ok(Dirs {
            pcap: check("--pcap", "pcapng", pcap)?,
            svg: check("--svg", "svg", svg)?,
        })
    }

    /// Writes one scenario's files.
    pub fn write(&self, name: &str, run: &Run) -> Result<(), String> {
        if let Some(d) = &self.pcap {
            let path = d.join(format!("{name}.pcapng"));
            Sink::open("--pcap", &path)?.write("--pcap", |w| {
                tcpmortem_lab::pcap::write(w, &run.record, &run.frames)
            })?;
        }
        if let Some(d) = &self.svg {
            let path = d.join(format!("{name}.svg"));
            Sink::open("--svg", &path)?.write("--svg", |w| {
                w.write_all(super::svg::render(&run.record).as_bytes())
            })?;
        }
        Ok(())
    }
}
