//! The kernel's own account of RSTs, from a private tracefs instance (root only): each
//! `tcp:tcp_send_reset` and `tcp:tcp_receive_reset` is kept for a while so that a connection's
//! report can name the reason of the RST that ended the client's side.

use crate::report::RstSeen;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tcpmortem_kernel::tracefs::{self, Instance};
use tcpmortem_trace::{TcpEvent, parse_line, tcp_event};

const EVENTS: &[&str] = &["tcp/tcp_send_reset", "tcp/tcp_receive_reset"];
/// Events older than this are forgotten.
const KEEP_NS: u64 = 120_000_000_000;

pub struct Tracer {
    events: Mutex<VecDeque<TcpEvent>>,
    stop: Mutex<bool>,
}

impl Tracer {
    /// Starts reading; the instance is removed when [`Tracer::stop`] is called.
    pub fn start() -> Result<Arc<Tracer>, tcpmortem_kernel::Error> {
        let root = tracefs::root()?;
        tracefs::sweep_orphans(&root);
        let inst = Instance::create(&root, EVENTS, None)?;
        let mut pipe = inst.pipe()?;
        let t = Arc::new(Tracer {
            events: Mutex::new(VecDeque::new()),
            stop: Mutex::new(false),
        });
        let me = t.clone();
        std::thread::Builder::new()
            .name("tracefs".into())
            .spawn(move || {
                loop {
                    let _ = tcpmortem_kernel::sock::poll(&[(pipe.raw_fd(), libc::POLLIN)], 20);
                    let lines = pipe.read_lines().unwrap_or_default();
                    if let Ok(mut q) = me.events.lock() {
                        for l in &lines {
                            if let Some(ev) = parse_line(l).as_ref().and_then(tcp_event) {
                                q.push_back(ev);
                            }
                        }
                        let now = tcpmortem_kernel::proc::monotonic_ns();
                        while q.front().is_some_and(|e| e.ts_ns + KEEP_NS < now) {
                            q.pop_front();
                        }
                    }
                    if me.stop.lock().map(|s| *s).unwrap_or(true) {
                        break;
                    }
                }
                drop(pipe);
                drop(inst);
            })
            .map_err(|e| tcpmortem_kernel::Error::new("spawn the tracefs reader", e))?;
        Ok(t)
    }

    pub fn stop(&self) {
        if let Ok(mut s) = self.stop.lock() {
            *s = true;
        }
        // Let the reader see it and remove the instance.
        std::thread::sleep(Duration::from_millis(60));
    }

    /// The RSTs of the connection between `client` and the proxy's `listen` address since
    /// `since_ns` (monotonic), and whether the client's socket received one.
    pub fn rsts(
        &self,
        client: SocketAddr,
        listen: SocketAddr,
        since_ns: u64,
    ) -> (Vec<RstSeen>, bool) {
        let Ok(q) = self.events.lock() else {
            return (Vec::new(), false);
        };
        let ms = |ts: u64| (ts.saturating_sub(since_ns) / 1000) as f64 / 1000.0;
        let mut out = Vec::new();
        let mut received = false;
        let evs: Vec<&TcpEvent> = q.iter().filter(|e| e.ts_ns >= since_ns).collect();
        for (i, e) in evs.iter().enumerate() {
            let mine = e.local == Some(listen) && e.remote == Some(client);
            let theirs = e.local == Some(client) && e.remote == Some(listen);
            match e.event.as_str() {
                "tcp_send_reset" if mine => out.push(seen("proxy", e, ms(e.ts_ns))),
                "tcp_send_reset" if theirs => out.push(seen("client", e, ms(e.ts_ns))),
                // A listener answers with its own addresses (dest 0.0.0.0:0): it is this
                // connection's only if the client's socket receives a RST right after.
                "tcp_send_reset"
                    if e.local.map(|l| l.port()) == Some(listen.port())
                        && e.remote.is_some_and(|r| r.port() == 0)
                        && evs[i + 1..]
                            .iter()
                            .take_while(|n| n.ts_ns.saturating_sub(e.ts_ns) < 10_000_000)
                            .any(|n| n.event == "tcp_receive_reset" && n.local == Some(client)) =>
                {
                    out.push(seen("proxy", e, ms(e.ts_ns)))
                }
                "tcp_receive_reset" if theirs => received = true,
                _ => {}
            }
        }
        (out, received)
    }
}

fn seen(by: &'static str, e: &TcpEvent, at_ms: f64) -> RstSeen {
    RstSeen {
        by,
        reason: e.reason.map(|r| r.name()),
        state: e.state.map(|s| s.name()),
        at_ms,
    }
}
