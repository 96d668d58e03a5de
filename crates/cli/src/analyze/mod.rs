//! `tcpmortem analyze`: reads captures, streams their frames through the sans-IO tracker
//! (`tcpmortem_analyze`) and hands finished connections to one of three renderers.

mod human;
mod json;
mod progress;
mod zeek;

use crate::exit;
use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use tcpmortem_analyze::{Connection, Decoded, Decoder, Options, Tracker};
use tcpmortem_wire::capture::{CaptureError, Reader, Source};
use tcpmortem_wire::{TcpSegment, link};

/// Tell how each TCP connection in a capture ended, and what each application saw.
///
/// Reads pcap and pcapng files (tcpdump, Wireshark, `tcpmortem lab run --pcap`) in one
/// streaming pass. Each connection gets Zeek's conn_state and history, and tcpmortem's ending:
/// graceful close, half-closed, abortive close, data after close (the 10053 pattern),
/// half-open, middlebox reset, refused, unreachable, SYN unanswered, retransmission or
/// keepalive timeout, or still open. Each ending names the frames it rests on, both sides'
/// TCP states and what the applications most likely saw on Linux, Windows and macOS.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  tcpmortem analyze trace.pcapng\n  tcpdump -i eth0 -w - port 443 | tcpmortem analyze -\n  tcpmortem analyze --format zeek -C a.pcap b.pcap > conn.log\n  tcpmortem analyze trace.pcap --conn 10.0.0.5:443\n\nSeveral files are read in the order given, as one capture (like `mergecap -a`): frame numbers\ncontinue from one file to the next."
)]
pub struct Args {
    /// Capture files (pcap or pcapng, any byte order or timestamp precision); `-` reads stdin.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    /// human: a summary by ending, then the abnormal connections explained. json: JSON lines,
    /// one object per connection. zeek: a Zeek conn.log (TSV with Zeek's header lines).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,

    /// The same as --format json: JSON lines, one object per connection.
    #[arg(long, conflicts_with = "format")]
    json: bool,

    /// Only the connections whose ending is abnormal (anything but a graceful close or still
    /// open).
    #[arg(long, value_enum, value_name = "WHICH")]
    only: Option<Only>,

    /// Show the connections with this endpoint (ADDR:PORT, [V6]:PORT, ADDR or :PORT) in full,
    /// with their packet ladder.
    #[arg(long, value_name = "ADDR:PORT", value_parser = endpoint)]
    conn: Option<Endpoint>,

    /// Do not verify TCP checksums (Zeek's -C). By default a segment with a bad checksum is
    /// counted in the history as `C` and otherwise ignored, as Zeek does.
    #[arg(long, short = 'C')]
    ignore_checksums: bool,

    /// Ports that mark the responder when a connection's first packet is not a SYN (Zeek's
    /// likely_server_ports). Default: the ports of Zeek's default analyzers.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    likely_server_ports: Option<Vec<u16>>,

    /// Only packets of this pcapng interface (its name, e.g. `to-client`, or its index).
    #[arg(long, value_name = "NAME|INDEX")]
    interface: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
    Zeek,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Only {
    Abnormal,
}

/// `--conn`: an address, a port, or both.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    ip: Option<IpAddr>,
    port: Option<u16>,
}

impl Endpoint {
    fn matches(&self, a: SocketAddr) -> bool {
        self.ip.is_none_or(|ip| ip == a.ip()) && self.port.is_none_or(|p| p == a.port())
    }
}

fn endpoint(s: &str) -> Result<Endpoint, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(Endpoint {
            ip: Some(a.ip()),
            port: Some(a.port()),
        });
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(Endpoint {
            ip: Some(ip),
            port: None,
        });
    }
    if let Ok(port) = s.trim_start_matches(':').parse::<u16>() {
        return Ok(Endpoint {
            ip: None,
            port: Some(port),
        });
    }
    Err(format!("{s:?} is not ADDR:PORT, [V6]:PORT, ADDR or :PORT"))
}

/// A segment kept for `--conn`'s ladder.
#[derive(Debug, Clone, Copy)]
pub struct Rung {
    pub frame: u64,
    pub ts_ns: i128,
    pub seg: TcpSegment,
}

/// What the whole run saw, for the renderers' headers and footers.
#[derive(Debug, Default)]
pub struct Totals {
    pub files: Vec<String>,
    pub frames: u64,
    pub tcp_frames: u64,
    pub connections: u64,
    pub bytes: u64,
}

/// A renderer: gets each connection as it finishes, then the end of the run.
trait Sink {
    fn connection(&mut self, c: &Connection, uid: &str) -> io::Result<()>;
    /// `rungs`: with `--conn`, the matching segments, for the ladders.
    fn finish(&mut self, totals: &Totals, rungs: &[Rung]) -> io::Result<()>;
}

/// Zeek-style connection ids: `C` and 17 base62 characters, derived from the connection
/// so that the same capture gives the same ids.
fn uid(c: &Connection, n: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for x in b {
            h = (h ^ u64::from(*x)).wrapping_mul(0x100_0000_01b3);
        }
    };
    eat(&c.zeek.ts_ns.to_le_bytes());
    eat(c.zeek.orig.to_string().as_bytes());
    eat(c.zeek.resp.to_string().as_bytes());
    eat(&n.to_le_bytes());
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = String::from("C");
    let mut x = u128::from(h) << 64 | u128::from(h.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15);
    for _ in 0..17 {
        s.push(char::from(B62[(x % 62) as usize]));
        x /= 62;
    }
    s
}

enum Input {
    Stdin(io::Stdin),
    File(std::fs::File),
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Stdin(s) => s.read(buf),
            Input::File(f) => f.read(buf),
        }
    }
}

/// A problem with one input that still lets the others (and the results so far) through.
struct InputError {
    code: u8,
    message: String,
}

/// What the reading thread learned besides the frames.
#[derive(Default)]
struct ReadReport {
    files: Vec<String>,
    frames: u64,
    bytes: u64,
    unsupported: BTreeSet<u16>,
    errors: Vec<InputError>,
    /// Fragmented datagrams that could not be completed.
    fragments_dropped: u64,
}

/// Frames travel from the reading thread to the tracking thread in batches.
const BATCH: usize = 2048;

/// The reading thread: files in order, frames decoded (link, IP, TCP, checksum) in batches.
/// Decoding is half the work, so it runs beside the connection table, on the other core.
struct Feeder<'a> {
    args: &'a Args,
    decoder: Decoder,
    tx: std::sync::mpsc::SyncSender<Vec<Decoded>>,
    live: &'a AtomicUsize,
    batch: Vec<Decoded>,
    /// Frame numbers continue across files.
    frame_base: u64,
    rep: ReadReport,
}

impl Feeder<'_> {
    fn run(mut self) -> ReadReport {
        for path in &self.args.files {
            let name = path.display().to_string();
            self.rep.files.push(name.clone());
            let input = if name == "-" {
                Input::Stdin(io::stdin())
            } else {
                match std::fs::File::open(path) {
                    Ok(f) => Input::File(f),
                    Err(e) => {
                        self.rep.errors.push(InputError {
                            code: if e.kind() == io::ErrorKind::NotFound {
                                exit::NO_INPUT
                            } else {
                                exit::IO_ERROR
                            },
                            message: format!("{name}: {e}"),
                        });
                        continue;
                    }
                }
            };
            // Regular files are read through memory-mapped windows (no copy); pipes and
            // stdin through a buffer.
            let pumped = match input {
                Input::File(f) if f.metadata().is_ok_and(|m| m.is_file()) => {
                    let size = f.metadata().ok().map(|m| m.len());
                    match tcpmortem_kernel::mmap::MmapSource::new(f) {
                        Ok(src) => Reader::with_source(src).map(|r| self.file(r, &name, size)),
                        Err(e) => Err(CaptureError::Io(e.source)),
                    }
                }
                other => Reader::new(other).map(|r| self.file(r, &name, None)),
            };
            match pumped {
                Ok(true) => {}
                Ok(false) => return self.rep,
                Err(e) => self.rep.errors.push(capture_error(&name, e)),
            }
        }
        if !self.batch.is_empty() {
            let _ = self.tx.send(std::mem::take(&mut self.batch));
        }
        self.rep.fragments_dropped = self.decoder.fragments_dropped();
        self.rep
    }

    /// Reads one capture to its end; false when the tracking side hung up.
    fn file<S: Source>(&mut self, mut reader: Reader<S>, name: &str, size: Option<u64>) -> bool {
        let mut progress = progress::Progress::new(name, size);
        let iface = self.args.interface.as_deref();
        let mut last_frame = 0;
        loop {
            let p = match reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    self.rep.errors.push(capture_error(name, e));
                    break;
                }
            };
            last_frame = p.frame;
            self.rep.frames += 1;
            if let Some(want) = iface
                && p.interface_name != Some(want)
                && want.parse::<u32>() != Ok(p.interface)
            {
                continue;
            }
            if !link::supported(p.linktype) {
                self.rep.unsupported.insert(p.linktype);
                continue;
            }
            let frame = self.frame_base + p.frame;
            let d = self.decoder.decode(frame, p.ts_ns, p.linktype, p.data);
            self.batch.push(d);
            if self.batch.len() == BATCH {
                let full = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
                if self.tx.send(full).is_err() {
                    return false;
                }
                progress.update(reader.offset(), self.live.load(Ordering::Relaxed));
            }
        }
        self.rep.bytes += reader.offset();
        self.frame_base += last_frame;
        progress.done();
        true
    }
}

pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<u8> {
    if args.files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        eprintln!("tcpmortem: analyze: `-` (stdin) can be given only once: stdin is read once");
        return Ok(exit::USAGE);
    }
    let format = if args.json { Format::Json } else { args.format };
    let opts = Options {
        ignore_checksums: args.ignore_checksums,
        likely_server_ports: args
            .likely_server_ports
            .clone()
            .unwrap_or_else(|| tcpmortem_analyze::LIKELY_SERVER_PORTS.to_vec()),
    };
    let only_abnormal = args.only == Some(Only::Abnormal);
    // Machine formats skip the colour-stripping writer: they never carry colour.
    let raw = io::stdout();
    let mut sink: Box<dyn Sink + '_> = match format {
        Format::Human => Box::new(human::Human::new(out, only_abnormal, args.conn.is_some())),
        Format::Json => Box::new(json::Json::new(io::BufWriter::with_capacity(
            1 << 16,
            raw.lock(),
        ))),
        Format::Zeek => Box::new(zeek::Zeek::new(io::BufWriter::with_capacity(
            1 << 16,
            raw.lock(),
        ))?),
    };
    let mut tracker = Tracker::new(opts.clone());
    let mut totals = Totals::default();
    let mut rungs: Vec<Rung> = Vec::new();
    let mut n = 0u64;
    let mut emit = |c: &Connection, totals: &mut Totals, sink: &mut dyn Sink| -> io::Result<()> {
        totals.connections += 1;
        n += 1;
        let wanted = match args.conn {
            Some(e) => e.matches(c.zeek.orig) || e.matches(c.zeek.resp),
            None => !only_abnormal || c.ending.kind.abnormal(),
        };
        if wanted {
            sink.connection(c, &uid(c, n))?;
        }
        Ok(())
    };
    let live = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Decoded>>(8);
    let rep = std::thread::scope(|s| -> io::Result<ReadReport> {
        let feeder = Feeder {
            args,
            decoder: Decoder::new(&opts),
            tx,
            live: &live,
            batch: Vec::with_capacity(BATCH),
            frame_base: 0,
            rep: ReadReport::default(),
        };
        let reading = s.spawn(|| feeder.run());
        for batch in rx {
            for d in &batch {
                tracker.feed(d);
                if let (Some(e), Decoded::Tcp(p)) = (args.conn, d)
                    && (e.matches(p.seg.src) || e.matches(p.seg.dst))
                {
                    rungs.push(Rung {
                        frame: p.frame,
                        ts_ns: p.ts_ns,
                        seg: p.seg,
                    });
                }
                for c in tracker.drain() {
                    emit(&c, &mut totals, sink.as_mut())?;
                }
            }
            live.store(tracker.live(), Ordering::Relaxed);
        }
        Ok(reading.join().expect("the reading thread does not panic"))
    })?;
    totals.files = rep.files;
    totals.frames = rep.frames;
    totals.bytes = rep.bytes;
    totals.tcp_frames = tracker.tcp_frames;
    let mut errors = rep.errors;
    for c in tracker.finish_iter() {
        emit(&c, &mut totals, sink.as_mut())?;
    }
    sink.finish(&totals, &rungs)?;
    drop(sink);
    if !rep.unsupported.is_empty() {
        let list: Vec<String> = rep.unsupported.iter().map(|l| l.to_string()).collect();
        let msg = format!(
            "skipped frames of unsupported link type(s) {} (supported: Ethernet 1, raw IP 101/228/229, BSD loopback 0/108, Linux cooked 113/276)",
            list.join(", ")
        );
        if totals.tcp_frames == 0 {
            errors.push(InputError {
                code: exit::BAD_INPUT,
                message: msg,
            });
        } else {
            eprintln!("tcpmortem: warning: {msg}");
        }
    }
    if rep.fragments_dropped > 0 {
        eprintln!(
            "tcpmortem: warning: {} fragmented datagrams were never completed (missing fragments, or more than 256 at once) and were left out",
            rep.fragments_dropped
        );
    }
    let mut code = exit::OK;
    for e in &errors {
        eprintln!("tcpmortem: {}", e.message);
        if code == exit::OK {
            code = e.code;
        }
    }
    Ok(code)
}

fn capture_error(name: &str, e: CaptureError) -> InputError {
    let code = match &e {
        CaptureError::Truncated { .. } => exit::TRUNCATED,
        CaptureError::Io(_) => exit::IO_ERROR,
        CaptureError::NotCapture(_) | CaptureError::Corrupt { .. } => exit::BAD_INPUT,
    };
    let hint = match &e {
        CaptureError::Truncated { .. } => "; the results above cover the packets before it",
        CaptureError::Corrupt { .. } => "; the results above cover the packets before it",
        _ => "",
    };
    InputError {
        code,
        message: format!("{name}: {e}{hint}"),
    }
}

/// What one system calls a catalog entry: `ECONNRESET 104`, `WSAECONNRESET 10054`; `EOF`
/// for the peer's orderly close, which is no error.
pub fn os_name(id: &str, os: tcpmortem_core::Os) -> String {
    use tcpmortem_core::{Entry, Kind, Os};
    let Some(e) = Entry::by_id(id) else {
        return id.to_string();
    };
    if e.kind == Kind::PeerEof {
        return "EOF".into();
    }
    let name = match os {
        Os::Linux => e.linux.map(|p| format!("{} {}", p.name, p.number)),
        Os::Windows => e.windows.map(|w| format!("{} {}", w.name, w.code)),
        Os::Macos => e.bsd.map(|p| format!("{} {}", p.name, p.number)),
    };
    name.unwrap_or_else(|| id.to_string())
}
