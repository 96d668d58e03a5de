//! Load for `scripts/bench-watch`: opens and resets TCP connections on loopback inside a
//! private network namespace, as fast as possible or at a given rate, then prints what it did.
//! With several threads, each has its own listener on port 9999 of its own loopback address
//! (127.0.0.1, 127.0.0.2, ...).
//!
//! - `reset` (the default): each connection ends twice: the client closes with SO_LINGER
//!   {1,0} (RST sent) and the server's socket receives the RST (ECONNRESET);
//! - `refuse`: each connect() goes to port 9998, where nothing listens: the client's socket
//!   ends refused and the kernel's RST (NO_SOCKET) is an end of its own. Half the kernel's
//!   work of `reset` for the same two ends, so the load goes faster on few cores.
//!
//! Usage: churn SECONDS [RATE_PER_SECOND] [THREADS] [reset|refuse]
//! (needs root; RATE 0 = as fast as possible)

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tcpmortem_kernel::netlink::{Rtnl, if_index};
use tcpmortem_kernel::netns::NetNs;
use tcpmortem_kernel::sock::{Sock, poll};

fn wait(fd: i32, ev: i16) {
    let _ = poll(&[(fd, ev)], 1000);
}

fn refuse(lo: IpAddr, seconds: f64, rate: f64) -> Result<u64, String> {
    let addr = SocketAddr::new(lo, 9998);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut n = 0u64;
    while Instant::now() < end {
        if rate > 0.0 {
            let due = start + Duration::from_secs_f64(n as f64 / rate);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        let c = Sock::tcp(lo).map_err(|e| format!("socket {e}"))?;
        match c.connect(&addr) {
            Ok(()) | Err(libc::EINPROGRESS) | Err(libc::ECONNREFUSED) => {}
            Err(e) => return Err(format!("connect errno {e}")),
        }
        n += 1;
    }
    Ok(n)
}

fn churn(lo: IpAddr, seconds: f64, rate: f64) -> Result<u64, String> {
    let addr = SocketAddr::new(lo, 9999);
    let listener = Sock::tcp(lo).map_err(|e| format!("socket {e}"))?;
    listener.bind(&addr).map_err(|e| format!("bind {e}"))?;
    listener.listen(4096).map_err(|e| format!("listen {e}"))?;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut n = 0u64;
    let mut buf = [0u8; 16];
    while Instant::now() < end {
        if rate > 0.0 {
            let due = start + Duration::from_secs_f64(n as f64 / rate);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        let c = Sock::tcp(lo).map_err(|e| format!("socket {e}"))?;
        match c.connect(&addr) {
            Ok(()) | Err(libc::EINPROGRESS) => {}
            Err(e) => return Err(format!("connect errno {e}")),
        }
        wait(c.raw_fd(), libc::POLLOUT);
        let s = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(libc::EAGAIN) => wait(listener.raw_fd(), libc::POLLIN),
                Err(e) => return Err(format!("accept errno {e}")),
            }
        };
        c.set_linger(true, 0).map_err(|e| format!("linger {e}"))?;
        let _ = c.close();
        wait(s.raw_fd(), libc::POLLIN);
        let _ = s.recv(&mut buf);
        let _ = s.close();
        n += 1;
    }
    Ok(n)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let rate: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let threads: u8 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let refusing = args.get(4).is_some_and(|m| m == "refuse");
    let ns = NetNs::new().expect("network namespace (needs root)");
    let fd = ns.raw_fd();
    let start = Instant::now();
    let res = ns
        .run(|| {
            let mut rt = Rtnl::open().map_err(|e| e.to_string())?;
            rt.set_up(if_index("lo").map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())
        })
        .expect("enter namespace")
        .and_then(|()| {
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    std::thread::spawn(move || {
                        tcpmortem_kernel::netns::enter(fd).map_err(|e| e.to_string())?;
                        let lo = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + i));
                        if refusing {
                            refuse(lo, seconds, rate / f64::from(threads))
                        } else {
                            churn(lo, seconds, rate / f64::from(threads))
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
                .sum::<Result<u64, String>>()
        });
    let secs = start.elapsed().as_secs_f64();
    match res {
        Ok(n) => println!(
            "{n} connections {} in {secs:.3} s = {:.0}/s",
            if refusing { "refused" } else { "reset" },
            n as f64 / secs
        ),
        Err(e) => {
            eprintln!("churn: {e}");
            std::process::exit(1);
        }
    }
}
