//! Every toxic's client-side outcome, asserted with the exact errno or timeout, on loopback
//! inside a private network namespace (created here, gone when the test ends), and the
//! reports that say why. Needs root (namespaces, TCP_REPAIR, tracefs); fails under CI=true
//! without it.

mod common;

use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tcpmortem_kernel::netlink::{Rtnl, if_index};
use tcpmortem_kernel::netns::NetNs;

const API: &str = "127.0.0.1:8474";
const LISTEN: &str = "127.0.0.1:20000";

/// A namespace with loopback up, an echo server on 127.0.0.1:7000 and `tcpmortem proxy`.
struct Sandbox {
    ns: NetNs,
    proxy: Child,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = tcpmortem_kernel::proc::signal(self.proxy.id() as i32, libc::SIGTERM);
        let _ = self.proxy.wait();
    }
}

impl Sandbox {
    fn new() -> Sandbox {
        let ns = NetNs::new().unwrap();
        ns.run(|| {
            let mut r = Rtnl::open().unwrap();
            r.set_up(if_index("lo").unwrap()).unwrap();
            let l = TcpListener::bind("127.0.0.1:7000").unwrap();
            std::thread::spawn(move || {
                for c in l.incoming().flatten() {
                    std::thread::spawn(move || echo(c));
                }
            });
        })
        .unwrap();
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("tcpmortem"));
        cmd.args(["proxy", "--json", "--settle", "1500"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let proxy = tcpmortem_kernel::proc::spawn_in_netns(&mut cmd, ns.raw_fd()).unwrap();
        let s = Sandbox { ns, proxy };
        let t = Instant::now();
        while s.in_ns(|| TcpStream::connect(API).is_err()) {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the API never came up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s.http(
            "POST",
            "/proxies",
            &format!(r#"{{"name":"app","listen":"{LISTEN}","upstream":"127.0.0.1:7000"}}"#),
        );
        s
    }

    fn in_ns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.ns.run(f).unwrap()
    }

    /// One HTTP/1.1 request to the API: (status, body).
    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.in_ns(|| {
            let mut s = TcpStream::connect(API).unwrap();
            write!(
                s,
                "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            let mut r = String::new();
            s.read_to_string(&mut r).unwrap();
            let status = r[9..12].parse().unwrap();
            let body = r.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default();
            (status, body)
        })
    }

    fn toxic(&self, body: &str) {
        let (st, b) = self.http("POST", "/proxies/app/toxics", body);
        assert_eq!(st, 200, "{b}");
    }

    /// The ended connections' reports, waiting until `n` are there.
    fn ended(&self, n: usize) -> Vec<Value> {
        self.reports("ended", n)
    }

    /// The reports with this status, waiting until `n` are there (or 8 s have passed).
    fn reports(&self, status: &str, n: usize) -> Vec<Value> {
        let t = Instant::now();
        loop {
            let (_, b) = self.http("GET", "/proxies/app/connections", "");
            let v: Vec<Value> = serde_json::from_str(&b).unwrap();
            let some: Vec<Value> = v.into_iter().filter(|r| r["status"] == status).collect();
            if some.len() >= n || t.elapsed() > Duration::from_secs(8) {
                return some;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn echo(mut c: TcpStream) {
    let mut b = [0u8; 65536];
    loop {
        match c.read(&mut b) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if c.write_all(&b[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn connect() -> TcpStream {
    let c = TcpStream::connect(LISTEN).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn recv(c: &mut TcpStream) -> Result<Vec<u8>, i32> {
    let mut b = [0u8; 4096];
    c.read(&mut b).map(|n| b[..n].to_vec()).map_err(errno)
}

fn root() -> bool {
    common::privileged("proxy deaths")
}

#[test]
fn half_open_leaves_the_client_to_meet_a_rst() {
    if !root() {
        return;
    }
    let s = Sandbox::new();
    s.toxic(r#"{"type":"half_open"}"#);
    let (sent, got) = s.in_ns(|| {
        let mut c = connect();
        std::thread::sleep(Duration::from_millis(100));
        (c.write(b"hello").map_err(errno), recv(&mut c))
    });
    assert_eq!(sent, Ok(5), "the client's send is accepted locally");
    assert_eq!(got, Err(libc::ECONNRESET));
    let r = &s.ended(1)[0];
    assert_eq!(r["ending"]["kind"], "half-open", "{r:#}");
    assert_eq!(r["client_end"]["how"], "rst");
    assert_eq!(r["client_end"]["by"], "proxy");
    // The proxy's listener still holds the port, so it answers the stray ACK (TCP_FLAGS);
    // NO_SOCKET once nothing listens there.
    assert_eq!(r["client_end"]["rst_reason"], "TCP_FLAGS", "{r:#}");
    assert_eq!(r["client_socket_state"], "gone");
    assert_eq!(r["client_saw"]["linux"], "ECONNRESET 104");
    assert_eq!(r["client_saw"]["windows"], "WSAECONNRESET 10054");
    assert_eq!(r["toxics"][0]["type"], "half_open");
}

#[test]
fn syn_drop_times_connect_out_and_removing_it_lets_clients_in() {
    if !root() {
        return;
    }
    let s = Sandbox::new();
    s.toxic(r#"{"type":"syn_drop","name":"drop"}"#);
    std::thread::sleep(Duration::from_millis(100));
    let (res, took) = s.in_ns(|| {
        let sock = tcpmortem_kernel::sock::Sock::tcp("127.0.0.1".parse().unwrap()).unwrap();
        // One SYN retry: ETIMEDOUT after ~3 s instead of ~2 min, without a sysctl.
        sock.setsockopt_int(libc::IPPROTO_TCP, libc::TCP_SYNCNT, 1)
            .unwrap();
        let t = Instant::now();
        let to: SocketAddr = LISTEN.parse().unwrap();
        let _ = sock.connect(&to);
        loop {
            let r =
                tcpmortem_kernel::sock::poll(&[(sock.raw_fd(), libc::POLLOUT)], 10_000).unwrap();
            if r[0] != 0 {
                break;
            }
        }
        (sock.take_error(), t.elapsed())
    });
    assert_eq!(res, Ok(libc::ETIMEDOUT), "neither accepted nor refused");
    assert!(took > Duration::from_millis(2500), "{took:?}");
    assert_eq!(s.http("DELETE", "/proxies/app/toxics/drop", "").0, 204);
    let echoed = s.in_ns(|| {
        let mut c = connect();
        c.write_all(b"back").unwrap();
        recv(&mut c)
    });
    assert_eq!(echoed, Ok(b"back".to_vec()));
}

#[test]
fn reset_before_any_data() {
    if !root() {
        return;
    }
    let s = Sandbox::new();
    s.toxic(r#"{"type":"reset"}"#);
    let got = s.in_ns(|| recv(&mut connect()));
    assert_eq!(got, Err(libc::ECONNRESET));
    let r = &s.ended(1)[0];
    assert_eq!(r["ending"]["kind"], "abortive-close", "{r:#}");
    assert_eq!(r["client_end"]["how"], "rst");
    assert_eq!(r["client_end"]["rst_reason"], "TCP_STATE");
    assert_eq!(r["bytes_from_client"], 0);
}

#[test]
fn reset_after_bytes() {
    if !root() {
        return;
    }
    let s = Sandbox::new();
    s.toxic(r#"{"type":"reset","stream":"upstream","attributes":{"after_bytes":3,"delay":100}}"#);
    let got = s.in_ns(|| {
        let mut c = connect();
        c.write_all(b"abcdef").unwrap();
        let first = recv(&mut c);
        (first, recv(&mut c))
    });
    assert_eq!(got, (Ok(b"abc".to_vec()), Err(libc::ECONNRESET)));
}

#[test]
fn close_early_is_the_seeds_10053() {
    if !root() {
        return;
    }
    let s = Sandbox::new();
    s.toxic(r#"{"type":"close_early","stream":"upstream"}"#);
    let got = s.in_ns(|| {
        let mut c = connect();
        c.write_all(b"GET /").unwrap();
        let eof = recv(&mut c);
        std::thread::sleep(Duration::from_millis(50));
        let late = c.write(b"more").map_err(errno);
        std::thread::sleep(Duration::from_millis(50));
        let again = c.write(b"x").map_err(errno);
        (eof, late, again)
    });
    assert_eq!(got, (Ok(vec![]), Ok(4), Err(libc::EPIPE)));
    let r = &s.ended(1)[0];
    assert_eq!(r["ending"]["kind"], "data-after-close", "{r:#}");
    let reason = r["client_end"]["rst_reason"].as_str().unwrap_or("");
    assert!(
        ["TCP_ABORT_ON_DATA", "TCP_TIMEWAIT_SOCKET"].contains(&reason),
        "{r:#}"
    );
    assert_eq!(r["client_saw"]["linux"], "EPIPE 32");
    assert_eq!(r["client_saw"]["windows"], "WSAECONNABORTED 10053");
    assert_eq!(r["client_saw"]["macos"], "ECONNRESET 54");
    assert_eq!(r["bytes_from_client"], 5);
}

#[test]
fn idle_timeout_forgets_and_the_next_data_meets_a_rst() {
    if !root() {
        return;
    }
    let s = Sandbox::new();
    s.toxic(r#"{"type":"idle_timeout","attributes":{"idle":200}}"#);
    let got = s.in_ns(|| {
        let mut c = connect();
        c.write_all(b"a").unwrap();
        let first = recv(&mut c);
        std::thread::sleep(Duration::from_millis(400));
        let sent = c.write(b"b").map_err(errno);
        (first, sent, recv(&mut c))
    });
    assert_eq!(got, (Ok(b"a".to_vec()), Ok(1), Err(libc::ECONNRESET)));
    let r = &s.ended(1)[0];
    assert_eq!(r["ending"]["kind"], "half-open", "{r:#}");
}

#[test]
fn idle_timeout_silent_ends_in_etimedout() {
    if !root() {
        return;
    }
    let s = Sandbox::new();
    s.toxic(r#"{"type":"idle_timeout","attributes":{"idle":200,"silent":true}}"#);
    let (got, took) = s.in_ns(|| {
        let mut c = connect();
        let sock = tcpmortem_kernel::sock::set_int;
        use std::os::fd::AsRawFd;
        sock(
            c.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            1000,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        c.write_all(b"b").unwrap();
        let t = Instant::now();
        (recv(&mut c), t.elapsed())
    });
    assert_eq!(got, Err(libc::ETIMEDOUT), "no RST, no answer at all");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    let r = &s.ended(1)[0];
    assert_eq!(r["client_end"]["how"], "black-holed", "{r:#}");
    assert_eq!(r["ending"]["kind"], "retransmission-timeout");
    assert_eq!(r["client_saw"]["linux"], "ETIMEDOUT 110");
}

#[test]
fn stall_fills_the_window_until_sends_block() {
    if !root() {
        return;
    }
    let s = Sandbox::new();
    s.toxic(r#"{"type":"stall","stream":"upstream"}"#);
    let (blocked, total) = s.in_ns(|| {
        let mut c = connect();
        c.set_nonblocking(true).unwrap();
        let chunk = vec![0u8; 65536];
        let mut total = 0usize;
        let t = Instant::now();
        loop {
            match c.write(&chunk) {
                Ok(n) => total += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // Retry once the window had time to open, if it ever does.
                    std::thread::sleep(Duration::from_millis(200));
                    match c.write(&chunk) {
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return (true, total),
                        Ok(n) => total += n,
                        Err(_) => return (false, total),
                    }
                }
                Err(_) => return (false, total),
            }
            if t.elapsed() > Duration::from_secs(10) {
                return (false, total);
            }
        }
    });
    assert!(blocked, "sends never blocked after {total} bytes");
    assert!(total < 64 << 20, "{total}");
}

#[test]
fn disabling_closes_connections_and_refuses_new_ones() {
    if !root() {
        return;
    }
    let s = Sandbox::new();
    let mut c = s.in_ns(connect);
    // Accepted first: a connection still in the listener's accept queue when the listener
    // closes is reset by the kernel (inet_csk_listen_stop()), not closed by the proxy.
    assert_eq!(s.reports("open", 1).len(), 1);
    s.http("POST", "/proxies/app", r#"{"enabled":false}"#);
    let got = s.in_ns(move || {
        let eof = recv(&mut c);
        (eof, TcpStream::connect(LISTEN).map(drop).map_err(errno))
    });
    assert_eq!(got, (Ok(vec![]), Err(libc::ECONNREFUSED)));
}

#[test]
fn toxiproxys_toxics_as_the_client_sees_them() {
    if !root() {
        return;
    }
    let s = Sandbox::new();
    // latency: the echo takes at least the latency.
    s.toxic(r#"{"type":"latency","name":"l","attributes":{"latency":200}}"#);
    let took = s.in_ns(|| {
        let mut c = connect();
        let t = Instant::now();
        c.write_all(b"x").unwrap();
        assert_eq!(recv(&mut c), Ok(b"x".to_vec()));
        t.elapsed()
    });
    assert!(took >= Duration::from_millis(195), "{took:?}");
    s.http("DELETE", "/proxies/app/toxics/l", "");
    // limit_data: cut at the limit, then EOF.
    s.toxic(r#"{"type":"limit_data","name":"d","attributes":{"bytes":4}}"#);
    let got = s.in_ns(|| {
        let mut c = connect();
        c.write_all(b"abcdefgh").unwrap();
        let mut all = Vec::new();
        let _ = c.read_to_end(&mut all);
        all
    });
    assert_eq!(got, b"abcd");
    s.http("DELETE", "/proxies/app/toxics/d", "");
    // timeout: nothing comes back, then EOF after the timeout.
    s.toxic(r#"{"type":"timeout","name":"t","attributes":{"timeout":300}}"#);
    let (got, took) = s.in_ns(|| {
        let mut c = connect();
        let t = Instant::now();
        c.write_all(b"lost").unwrap();
        (recv(&mut c), t.elapsed())
    });
    assert_eq!(got, Ok(vec![]));
    assert!(took >= Duration::from_millis(290), "{took:?}");
    s.http("DELETE", "/proxies/app/toxics/t", "");
    // reset_peer: RST after the first data.
    s.toxic(r#"{"type":"reset_peer","name":"rp","stream":"upstream"}"#);
    let got = s.in_ns(|| {
        let mut c = connect();
        c.write_all(b"x").unwrap();
        recv(&mut c)
    });
    assert_eq!(got, Err(libc::ECONNRESET));
    s.http("DELETE", "/proxies/app/toxics/rp", "");
    // slow_close: the echo server's FIN reaches the client late.
    s.toxic(r#"{"type":"slow_close","name":"sc","attributes":{"delay":300}}"#);
    let took = s.in_ns(|| {
        let mut c = connect();
        c.shutdown(Shutdown::Write).unwrap();
        let t = Instant::now();
        assert_eq!(recv(&mut c), Ok(vec![]));
        t.elapsed()
    });
    assert!(took >= Duration::from_millis(290), "{took:?}");
    s.http("DELETE", "/proxies/app/toxics/sc", "");
    // bandwidth: 10 KB/s, 5,000 bytes take about half a second.
    s.toxic(r#"{"type":"bandwidth","name":"bw","attributes":{"rate":10}}"#);
    let took = s.in_ns(|| {
        let mut c = connect();
        let t = Instant::now();
        c.write_all(&[1u8; 5000]).unwrap();
        let mut got = 0;
        while got < 5000 {
            got += recv(&mut c).unwrap().len();
        }
        t.elapsed()
    });
    assert!(took >= Duration::from_millis(400), "{took:?}");
    s.http("DELETE", "/proxies/app/toxics/bw", "");
    // slicer: every byte arrives, in order.
    s.toxic(r#"{"type":"slicer","attributes":{"average_size":10,"size_variation":5,"delay":100}}"#);
    let got = s.in_ns(|| {
        let mut c = connect();
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        c.write_all(&data).unwrap();
        let mut all = Vec::new();
        while all.len() < data.len() {
            all.extend(recv(&mut c).unwrap());
        }
        all == data
    });
    assert!(got);
    // The reports name the toxics that acted.
    let ended = s.ended(6);
    let types: Vec<&str> = ended
        .iter()
        .flat_map(|r| r["toxics"].as_array().unwrap().iter())
        .filter_map(|t| t["type"].as_str())
        .collect();
    for t in [
        "latency",
        "limit_data",
        "timeout",
        "reset_peer",
        "slow_close",
        "bandwidth",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
}
