//! `tcpmortem proxy`: serve Toxiproxy's API and report each client connection's end.

use crate::exit;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tcpmortem_kernel::proc;
use tcpmortem_proxy::api::ProxyInput;
use tcpmortem_proxy::report::Report;
use tcpmortem_proxy::toxics::{Needs, Type};
use tcpmortem_proxy::trace::Tracer;
use tcpmortem_proxy::{Env, Registry};

/// A Toxiproxy-compatible fault proxy whose faults are real TCP deaths.
///
/// Serves Toxiproxy 2.x's HTTP API (same paths, JSON and errors, default port 8474), so its
/// client libraries work unchanged, and prints one line per ended client connection: how the
/// client's side ended (FIN or RST, by whom, the kernel's RST reason when root), its socket's
/// state, and what the client application most likely saw on Linux, Windows and macOS. The
/// same reports are at GET /proxies/NAME/connections.
#[derive(Debug, clap::Args)]
#[command(after_help = after_help())]
pub struct Args {
    /// Address for the API.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,

    /// Port for the API (0: any free port, printed on stderr).
    #[arg(long, default_value_t = 8474)]
    port: u16,

    /// Toxiproxy's JSON list of proxies to create at start.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,

    /// One JSON object per ended connection instead of a line of text.
    #[arg(long)]
    json: bool,

    /// How long a connection's report waits for the client's side to end after the proxy
    /// closed, reset or forgot it (ms).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    settle: u64,

    /// Do not read the kernel's RST reasons from tracefs, even as root.
    #[arg(long)]
    no_tracefs: bool,
}

fn after_help() -> String {
    let mut s = String::from("Toxics (POST /proxies/NAME/toxics, Toxiproxy's JSON):\n");
    for t in Type::ALL {
        let need = match t.needs() {
            Needs::Nothing => "",
            Needs::NetAdmin => "[CAP_NET_ADMIN] ",
        };
        // Wrapped here with a hanging indent: clap would wrap it flush left.
        let mut line = format!("  {:<13}", t.name());
        for word in format!("{need}{}", t.help()).split(' ') {
            if line.len() + word.len() + 1 > 92 {
                s.push_str(line.trim_end());
                s.push('\n');
                line = " ".repeat(15);
            }
            line.push_str(word);
            line.push(' ');
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s.push_str(
        "\nRoot (CAP_SYS_ADMIN) adds the kernel's RST reasons (tracefs); CAP_NET_ADMIN adds\n\
         half_open, and lets idle_timeout forget a connection with TCP_REPAIR instead of\n\
         resetting it when data comes.\n\n\
         Example:\n  tcpmortem proxy &\n  curl -s localhost:8474/proxies \\\n    -d '{\"name\":\"db\",\"listen\":\"127.0.0.1:26379\",\"upstream\":\"127.0.0.1:6379\"}'\n  curl -s localhost:8474/proxies/db/toxics -d '{\"type\":\"reset\"}'\n  curl -s localhost:8474/proxies/db/connections",
    );
    s
}

pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<u8> {
    let config = match &args.config {
        None => None,
        Some(p) => {
            let text = match std::fs::read_to_string(p) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("tcpmortem: {}: {e}", p.display());
                    return Ok(exit::NO_INPUT);
                }
            };
            let list = serde_json::from_str(&text)
                .map_err(|e| e.to_string())
                .and_then(|v| ProxyInput::list(&v).map_err(|e| e.message));
            match list {
                Ok(l) => Some(l),
                Err(e) => {
                    eprintln!("tcpmortem: {}: {e}", p.display());
                    return Ok(exit::BAD_INPUT);
                }
            }
        }
    };
    proc::raise_nofile_limit();
    let tracer = if args.no_tracefs || !proc::has_capability(proc::CAP_SYS_ADMIN) {
        None
    } else {
        match Tracer::start() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("tcpmortem: no kernel RST reasons (tracefs: {e})");
                None
            }
        }
    };
    let lines: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let sink_lines = lines.clone();
    let json = args.json;
    let env = Arc::new(Env {
        net_admin: proc::has_capability(proc::CAP_NET_ADMIN),
        tracer: tracer.clone(),
        sink: Arc::new(move |r: &Report| {
            let line = if json {
                serde_json::to_string(r).unwrap_or_default()
            } else {
                human(r)
            };
            if let Ok(mut l) = sink_lines.lock() {
                l.push(line);
            }
        }),
        settle: Duration::from_millis(args.settle),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let code = rt.block_on(async {
        let reg = Arc::new(Mutex::new(Registry::new(env)));
        if let Some(list) = &config {
            let (_, err) = reg.lock().map(|mut r| r.populate(list)).unwrap_or_default();
            if let Some(e) = err {
                eprintln!("tcpmortem: --config: {}", e.message);
                return Ok::<u8, anyhow::Error>(exit::OS_ERROR);
            }
        }
        let Some(host) = tcpmortem_proxy::resolve::local(&args.host).and_then(|ips| ips.first().copied())
        else {
            eprintln!(
                "tcpmortem: --host {}: no such address (an IP address, localhost or a name in /etc/hosts)",
                args.host
            );
            return Ok(exit::USAGE);
        };
        let listener =
            match tokio::net::TcpListener::bind(std::net::SocketAddr::new(host, args.port)).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!(
                        "tcpmortem: cannot serve the API on {}:{}: {e}",
                        args.host, args.port
                    );
                    return Ok(exit::OS_ERROR);
                }
            };
        eprintln!(
            "tcpmortem proxy: API on http://{} (Toxiproxy {}){}",
            listener.local_addr()?,
            tcpmortem_proxy::api::version(),
            if tracer.is_some() {
                ", kernel RST reasons from tracefs"
            } else {
                ""
            }
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let app = tcpmortem_proxy::server::router(reg.clone());
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        let mut serve = std::pin::pin!(serve.into_future());
        loop {
            tokio::select! {
                r = &mut serve => { r?; break; }
                _ = tokio::time::sleep(Duration::from_millis(20)) => {
                    flush_lines(&lines, out)?;
                }
            }
        }
        if let Ok(mut r) = reg.lock() {
            r.stop_all();
        }
        // Let the connections closing now report (a black-holed one is let go at once).
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if reg.lock().map(|r| r.live()).unwrap_or(0) == 0 {
                break;
            }
        }
        flush_lines(&lines, out)?;
        Ok(exit::OK)
    })?;
    if let Some(t) = tracer {
        t.stop();
    }
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(code)
}

fn flush_lines(lines: &Mutex<Vec<String>>, out: &mut impl Write) -> std::io::Result<()> {
    let batch: Vec<String> = lines
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    for l in batch {
        writeln!(out, "{l}")?;
    }
    out.flush()
}

/// One line: when, which proxy, the client, bytes, time, what the toxics did, how the
/// client's side ended and what its application most likely saw.
pub fn human(r: &Report) -> String {
    let toxics = if r.toxics.is_empty() {
        "no toxic acted".to_string()
    } else {
        r.toxics
            .iter()
            .map(|t| format!("{}: {}", t.name, t.what))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let end = match (r.client_end.how, r.client_end.by) {
        ("none", _) => "client side: nothing observed".to_string(),
        (how, by) => format!(
            "client side: {} from {}{}",
            how.to_uppercase()
                .replace("BLACK-HOLED", "black hole")
                .replace("FORGOTTEN", "forgotten"),
            by.unwrap_or("unknown"),
            r.client_end
                .rst_reason
                .as_ref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default()
        ),
    };
    let saw = match (
        &r.client_saw.linux,
        &r.client_saw.windows,
        &r.client_saw.macos,
    ) {
        (None, None, None) => format!("nothing — {}", r.client_saw.note),
        (l, w, m) => format!(
            "Linux {} · Windows {} · macOS {}",
            l.as_deref().unwrap_or("nothing"),
            w.as_deref().unwrap_or("nothing"),
            m.as_deref().unwrap_or("nothing")
        ),
    };
    format!(
        "{} {} {} → {} {:.1}ms ↑{}B ↓{}B {} · {} · {} · client socket {} · client saw: {}",
        &r.start[11..23],
        r.proxy,
        r.client,
        r.upstream,
        r.duration_ms,
        r.bytes_from_client,
        r.bytes_to_client,
        r.ending.kind,
        toxics,
        end,
        r.client_socket_state.unwrap_or("unknown"),
        saw
    )
}
