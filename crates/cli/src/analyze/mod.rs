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
use tcpmortem_analyze::views::Views;
use tcpmortem_analyze::{Checksums, Connection, Decoded, Decoder, Options, Skipped, Tracker};
use tcpmortem_wire::TcpSegment;
use tcpmortem_wire::capture::{CaptureError, Reader, Source};

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

    /// TCP checksums. auto: verify them, except those a sender left for its NIC to fill in
    /// (checksum offloading: captures taken on the sending host or on loopback; said on
    /// stderr). verify: every one, as Zeek does (a segment with a bad checksum is counted in
    /// the history as `C` and otherwise ignored). ignore: none, as Zeek's -C.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ChecksumMode::Auto)]
    checksums: ChecksumMode,

    /// Do not verify TCP checksums: --checksums ignore (Zeek's -C).
    #[arg(long, short = 'C', conflicts_with = "checksums")]
    ignore_checksums: bool,

    /// Ports that mark the responder when a connection's first packet is not a SYN (Zeek's
    /// likely_server_ports). Default: the ports of Zeek's default analyzers.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    likely_server_ports: Option<Vec<u16>>,

    /// At most N connections in memory at once: beyond it, the oldest connections that have
    /// seen only a SYN (a flood, a scan) are finished early, then the least recently active;
    /// a warning says how many. Default: no limit but memory.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,

    /// Only packets of this pcapng interface (its name, e.g. `to-client`, or its index).
    /// Without it, a capture with several interfaces carrying the same packets (the lab's
    /// two router links) reads each connection as seen on the interface of its first packet,
    /// each packet once, and says so.
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
enum ChecksumMode {
    Auto,
    Verify,
    Ignore,
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

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.ip, self.port) {
            (Some(ip), Some(p)) => write!(f, "{}", SocketAddr::new(ip, p)),
            (Some(IpAddr::V6(ip)), None) => write!(f, "[{ip}]"),
            (Some(ip), None) => write!(f, "{ip}"),
            (None, Some(p)) => write!(f, ":{p}"),
            (None, None) => f.write_str("*"),
        }
    }
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
    /// Connections given to the renderer (all, or those `--only`/`--conn` chose).
    pub selected: u64,
    pub bytes: u64,
    /// Frames that gave no TCP segment, by reason.
    pub skipped: Skipped,
    /// Captures with several interfaces, and the one each was read as seen on.
    pub views: Vec<ViewNote>,
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
    let mut text = Vec::with_capacity(48);
    push_addr(&mut text, c.zeek.orig);
    eat(&text);
    text.clear();
    push_addr(&mut text, c.zeek.resp);
    eat(&text);
    eat(&n.to_le_bytes());
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = String::with_capacity(18);
    s.push('C');
    let x = u128::from(h) << 64 | u128::from(h.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15);
    // The 17 lowest base-62 digits of x, with three 128-bit divisions instead of 34: the
    // first ten from x mod 62^10, the next seven from (x / 62^10) mod 62^7.
    const P10: u128 = 62u128.pow(10);
    let low = (x % P10) as u64;
    let high = ((x / P10) % 62u128.pow(7)) as u64;
    for (mut d, n) in [(low, 10), (high, 7)] {
        for _ in 0..n {
            s.push(char::from(B62[(d % 62) as usize]));
            d /= 62;
        }
    }
    s
}

/// Appends an address as its `Display` writes it. IPv4 goes without the formatting
/// machinery, which is most of the cost of a row when a flood brings a million of them.
pub fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = itoa::Buffer::new();
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(b.format(o).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// [`push_ip`] for an address and port: `198.18.0.1:40000`, `[2001:db8::1]:443`.
pub fn push_addr(out: &mut Vec<u8>, a: SocketAddr) {
    match a {
        SocketAddr::V4(v4) => {
            push_ip(out, IpAddr::V4(*v4.ip()));
            out.push(b':');
            out.extend_from_slice(itoa::Buffer::new().format(v4.port()).as_bytes());
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{a}");
        }
    }
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

/// How a capture with several interfaces was read (`tcpmortem_analyze::views`).
#[derive(Debug, Clone)]
pub struct ViewNote {
    /// The interfaces connections were read on, with how many each.
    pub views: Vec<(String, u64)>,
    pub others: Vec<String>,
    pub duplicates: u64,
    pub elsewhere_only: u64,
}

impl std::fmt::Display for ViewNote {
    /// "each connection read as seen on the interface of its first packet: to-client (1);
    /// left out 9 packets also seen there and 2 seen only on to-server".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let views: Vec<String> = self
            .views
            .iter()
            .map(|(n, k)| format!("{n} ({k} connection{})", if *k == 1 { "" } else { "s" }))
            .collect();
        let elsewhere = if self.others.is_empty() {
            "elsewhere".to_string()
        } else {
            format!("only on {}", self.others.join(", "))
        };
        write!(
            f,
            "each connection read as seen on the interface of its first packet: {}; left out {} packet{} seen there too and {} seen {elsewhere} (--interface reads one interface whole)",
            views.join(", "),
            self.duplicates,
            if self.duplicates == 1 { "" } else { "s" },
            self.elsewhere_only,
        )
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
    /// Inputs read as captures (to their end or to an error after the header).
    captures: usize,
    /// With `--interface`: whether any frame was on it, and the interfaces seen otherwise.
    interface_matched: bool,
    interfaces: BTreeSet<(u32, String)>,
    skipped: Skipped,
    /// Captures read as seen on one of their interfaces.
    views: Vec<ViewNote>,
    /// Senders whose bad checksums were taken as offloaded, and how many.
    offloaded: Vec<(IpAddr, u64)>,
    /// Frames cut short by the snap length, and the longest such cut (the snap length).
    snapped: u64,
    snaplen: usize,
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
        self.rep.skipped = self.decoder.skipped().clone();
        self.rep.offloaded = self.decoder.offloaded();
        self.rep
    }

    /// Reads one capture to its end; false when the tracking side hung up.
    fn file<S: Source>(&mut self, mut reader: Reader<S>, name: &str, size: Option<u64>) -> bool {
        self.rep.captures += 1;
        let mut progress = progress::Progress::new(name, size);
        let iface = self.args.interface.as_deref();
        let mut last_frame = 0;
        // Several interfaces of one capture may carry the same packets; without
        // --interface, each counts once (tcpmortem_analyze::views).
        let mut views: Option<Views> = None;
        let mut names: Vec<Option<String>> = Vec::new();
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
            if let Some(want) = iface {
                if p.interface_name != Some(want) && want.parse::<u32>() != Ok(p.interface) {
                    if self.rep.interfaces.len() < 64 {
                        let name = p.interface_name.unwrap_or("").to_string();
                        self.rep.interfaces.insert((p.interface, name));
                    }
                    continue;
                }
                self.rep.interface_matched = true;
            }
            if p.data.len() < p.orig_len as usize {
                self.rep.snapped += 1;
                self.rep.snaplen = self.rep.snaplen.max(p.data.len());
            }
            let i = p.interface as usize;
            if i < 64 && names.get(i).is_none_or(Option::is_none) {
                names.resize(names.len().max(i + 1), None);
                names[i] = Some(
                    p.interface_name
                        .map_or_else(|| i.to_string(), str::to_string),
                );
            }
            let frame = self.frame_base + p.frame;
            let d = self.decoder.decode(frame, p.ts_ns, p.linktype, p.data);
            let on = p.interface;
            if views.is_none() && iface.is_none() && reader.interfaces() > 1 {
                views = Some(Views::new());
            }
            match &mut views {
                Some(v) => v.push(on, d, &mut self.batch),
                None => self.batch.push(d),
            }
            if self.batch.len() >= BATCH {
                let full = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
                if self.tx.send(full).is_err() {
                    return false;
                }
                progress.update(reader.offset(), self.live.load(Ordering::Relaxed));
            }
        }
        if let Some(mut v) = views {
            v.flush();
            let r = v.report().clone();
            if !r.views.is_empty() {
                let name = |i: u32| {
                    names
                        .get(i as usize)
                        .cloned()
                        .flatten()
                        .unwrap_or_else(|| i.to_string())
                };
                self.rep.views.push(ViewNote {
                    views: r.views.iter().map(|(i, n)| (name(*i), *n)).collect(),
                    others: r.others.iter().map(|i| name(*i)).collect(),
                    duplicates: r.duplicates,
                    elsewhere_only: r.elsewhere_only,
                });
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
        checksums: match (args.ignore_checksums, args.checksums) {
            (true, _) | (_, ChecksumMode::Ignore) => Checksums::Ignore,
            (_, ChecksumMode::Verify) => Checksums::Verify,
            (_, ChecksumMode::Auto) => Checksums::Auto,
        },
        likely_server_ports: args
            .likely_server_ports
            .clone()
            .unwrap_or_else(|| tcpmortem_analyze::LIKELY_SERVER_PORTS.to_vec()),
        max_connections: args
            .max_connections
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        ..Options::default()
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
        ))),
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
            totals.selected += 1;
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
    let evicted = tracker.evicted;
    totals.skipped = rep.skipped;
    totals.views = rep.views;
    let mut errors = rep.errors;
    // The connections still open at the end are finished on the reading thread's core while
    // this one renders them: after a flood that is a million of each.
    std::thread::scope(|s| -> io::Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Connection>>(4);
        s.spawn(move || {
            let mut batch = Vec::with_capacity(256);
            for c in tracker.finish_iter() {
                batch.push(c);
                if batch.len() == 256 && tx.send(std::mem::take(&mut batch)).is_err() {
                    return;
                }
            }
            let _ = tx.send(batch);
        });
        for batch in rx {
            for c in &batch {
                emit(c, &mut totals, sink.as_mut())?;
            }
        }
        Ok(())
    })?;
    // Selections that select nothing, and inputs of which none could be read, print only
    // the error: an empty report would read as "nothing happened".
    let fatal = if rep.captures == 0 {
        Some(errors.first().map_or(exit::BAD_INPUT, |e| e.code))
    } else if let Some(want) = &args.interface
        && !rep.interface_matched
    {
        let seen: Vec<String> = rep
            .interfaces
            .iter()
            .map(|(i, n)| {
                if n.is_empty() {
                    i.to_string()
                } else {
                    format!("{i} {n}")
                }
            })
            .collect();
        errors.push(InputError {
            code: exit::USAGE,
            message: format!(
                "--interface {want}: no packet of the capture is on it (its packets are on interface{} {})",
                if seen.len() == 1 { "" } else { "s" },
                seen.join(", ")
            ),
        });
        Some(exit::USAGE)
    } else if let Some(e) = &args.conn
        && totals.selected == 0
    {
        errors.push(InputError {
            code: exit::NOTHING_MATCHED,
            message: format!(
                "--conn {e}: no connection has that endpoint (of {} in the capture)",
                totals.connections
            ),
        });
        Some(exit::NOTHING_MATCHED)
    } else {
        None
    };
    if fatal.is_none() {
        sink.finish(&totals, &rungs)?;
    }
    drop(sink);
    let skipped = &totals.skipped;
    if skipped.total() > 0 && fatal.is_none() {
        let hidden = skipped.hiding_tcp();
        if totals.connections == 0 && hidden > 0 {
            // No TCP found, and frames the decoder could not open may hold it.
            errors.push(InputError {
                code: exit::BAD_INPUT,
                message: format!(
                    "no TCP connection found, but {hidden} of {} frames were not decoded and may hold TCP (skipped: {skipped})",
                    totals.frames
                ),
            });
        } else if args.format != Format::Human {
            // The human report shows the counts itself.
            eprintln!(
                "tcpmortem: skipped {} of {} frames: {skipped}",
                skipped.total(),
                totals.frames
            );
        }
    }
    if args.format != Format::Human && fatal.is_none() {
        for v in &totals.views {
            eprintln!("tcpmortem: {v}");
        }
    }
    if !rep.offloaded.is_empty() && fatal.is_none() {
        let n: u64 = rep.offloaded.iter().map(|(_, n)| n).sum();
        let mut from: Vec<String> = rep
            .offloaded
            .iter()
            .take(4)
            .map(|(a, k)| {
                if rep.offloaded.len() == 1 {
                    a.to_string()
                } else {
                    format!("{a} ({k})")
                }
            })
            .collect();
        if rep.offloaded.len() > 4 {
            from.push(format!("{} more senders", rep.offloaded.len() - 4));
        }
        eprintln!(
            "tcpmortem: note: ignored the bad TCP checksums of {n} packet{} from {}: left for the NIC to fill in (checksum offloading, as in captures taken on the sending host or on loopback); --checksums verify counts them as bad, as Zeek does",
            if n == 1 { "" } else { "s" },
            from.join(", ")
        );
    }
    if evicted.embryonic + evicted.established > 0 && fatal.is_none() {
        eprintln!(
            "tcpmortem: warning: --max-connections {}: {} connections that had seen only a SYN and {} others (the least recently active) were finished early to stay within it; a later packet of one of them starts a new connection",
            args.max_connections.unwrap_or(0),
            evicted.embryonic,
            evicted.established
        );
    }
    if rep.snapped > 0 && fatal.is_none() {
        eprintln!(
            "tcpmortem: note: the snap length cut {} frames at {} bytes: TCP options and payload beyond it were not captured. Segments are read from their fixed 20-byte headers and their payload lengths from the IP header, so the endings stand; cut packets' checksums are not checked, and Zeek's history counts their uncaptured payload as content gaps (G, missed_bytes)",
            rep.snapped, rep.snaplen
        );
    }
    if rep.fragments_dropped > 0 && fatal.is_none() {
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
    Ok(fatal.unwrap_or(code))
}

fn capture_error(name: &str, e: CaptureError) -> InputError {
    // An empty input (an empty file, /dev/null) is no capture, not a truncated one.
    if let CaptureError::Truncated { offset: 0, .. } = e {
        return InputError {
            code: exit::BAD_INPUT,
            message: format!("{name}: empty, not a pcap or pcapng file"),
        };
    }
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
    tcpmortem_core::ending::error_name(id, os)
}
