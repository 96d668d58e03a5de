//! Measures the race behind server-closes-early: how long after the server's close() a
//! client's data still meets TCP_ABORT_ON_DATA (the closed socket, still FIN_WAIT1, is reset
//! by tcp_rcv_state_process()) rather than TCP_TIMEWAIT_SOCKET (the timewait mini-socket that
//! takes over once the client's ACK of the FIN arrives). For each gap it runs the seed's
//! exchange in the lab's sandbox (client ↔ router ↔ server namespaces) and reads which one
//! happened from the server's TCPAbortOnData counter.
//!
//! Usage: close-send-race [RUNS_PER_GAP] [GAP_MS...]   (needs root; run by
//! scripts/measure-close-send-race)

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tcpmortem_kernel::netns::ProcNetFile;
use tcpmortem_kernel::sock::Sock;
use tcpmortem_lab::counters::{self, Counters};
use tcpmortem_lab::sandbox::Sandbox;

fn abort_on_data(f: &mut ProcNetFile) -> i64 {
    let mut c = Counters::new();
    if let Ok(t) = f.read() {
        counters::parse(&t, &mut c);
    }
    c.get(&("TcpExt".to_string(), "TCPAbortOnData".to_string()))
        .copied()
        .unwrap_or(0)
}

/// One exchange: returns whether the late data met TCP_ABORT_ON_DATA.
fn once(sb: &Sandbox, port: u16, gap: Duration, netstat: &mut ProcNetFile) -> Result<bool, String> {
    let a = &sb.addresses;
    let addr = SocketAddr::new(a.server, port);
    fn e(what: &'static str) -> impl Fn(i32) -> String {
        move |errno| format!("{what}: errno {errno}")
    }
    let listener = sb
        .server
        .run(|| -> Result<Sock, i32> {
            let s = Sock::tcp_blocking(addr.ip())?;
            s.setsockopt_int(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
            s.bind(&addr)?;
            s.listen(8)?;
            Ok(s)
        })
        .map_err(|e| e.to_string())?
        .map_err(e("listen"))?;
    let client = sb
        .client
        .run(|| Sock::tcp_blocking(addr.ip()))
        .map_err(|e| e.to_string())?
        .map_err(e("socket"))?;
    client.connect(&addr).map_err(e("connect"))?;
    let (server, _) = listener.accept_blocking().map_err(e("accept"))?;
    client.send_wait(b"hello").map_err(e("send"))?;
    let mut buf = [0u8; 16];
    server.recv_wait(&mut buf).map_err(e("recv"))?;
    std::thread::sleep(Duration::from_millis(20));
    let before = abort_on_data(netstat);
    server.close().map_err(e("close"))?;
    let closed = Instant::now();
    // Spin, so that sub-millisecond gaps are kept.
    while closed.elapsed() < gap {
        std::hint::spin_loop();
    }
    let _ = client.send_wait(b"late data");
    std::thread::sleep(Duration::from_millis(30));
    let after = abort_on_data(netstat);
    drop(listener);
    Ok(after > before)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let mut gaps: Vec<f64> = args.filter_map(|a| a.parse().ok()).collect();
    if gaps.is_empty() {
        gaps = vec![0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0];
    }
    let sb = match Sandbox::new(false) {
        Ok(sb) => sb,
        Err(e) => {
            eprintln!("close-send-race: {e}");
            std::process::exit(77);
        }
    };
    let mut netstat = match sb.server.run(|| ProcNetFile::open("netstat")) {
        Ok(Ok(f)) => f,
        _ => {
            eprintln!("close-send-race: cannot read the server's /proc/net/netstat");
            std::process::exit(71);
        }
    };
    println!("gap after close()  runs  TCP_ABORT_ON_DATA  TCP_TIMEWAIT_SOCKET");
    let mut port = 20000;
    for gap in gaps {
        let mut aborts = 0;
        for _ in 0..runs {
            port += 1;
            match once(&sb, port, Duration::from_secs_f64(gap / 1e3), &mut netstat) {
                Ok(true) => aborts += 1,
                Ok(false) => {}
                Err(e) => {
                    eprintln!("close-send-race: {e}");
                    std::process::exit(70);
                }
            }
        }
        println!(
            "{:>11.1} ms  {runs:>6}  {aborts:>17}  {:>19}",
            gap,
            runs - aborts
        );
    }
}
