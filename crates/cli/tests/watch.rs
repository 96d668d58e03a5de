//! `watch` on real connections, in both of its modes (eBPF, and the tracefs fallback forced
//! with `--tracefs`). Lab scenarios make each kind of end; the test's own sockets, made in
//! private namespaces, are checked field by field (pid, netns, bytes, queues); an nftables
//! rule drops a flow; the metrics are read by PyPI's prometheus-client; privileges are tried
//! with ambient capabilities. Needs root, tracefs, BTF and nft (fails loudly in CI without).

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tcpmortem_kernel::netlink::{Rtnl, if_index};
use tcpmortem_kernel::netns::NetNs;
use tcpmortem_kernel::sock::{Sock, poll};

mod common;

fn root() -> bool {
    common::privileged("watch")
}

/// The test's port numbered `n` (7001-7012 in the code): moved to a block of 20 chosen by the
/// test process's pid, below the ephemeral range. watch sees every namespace of the host, so
/// fixed ports would mix in the same test run concurrently from another checkout.
fn p(n: u16) -> u16 {
    static BASE: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| 10_000 + (std::process::id() % 500) as u16 * 20) + (n - 7000)
}

fn ps(n: u16) -> String {
    p(n).to_string()
}

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("tcpmortem")
}

/// A running `tcpmortem watch --json ...`, started once its mode line is on stderr.
struct Watch {
    child: Child,
    mode: String,
    stderr: mpsc::Receiver<String>,
}

impl Watch {
    fn start(args: &[&str]) -> Watch {
        Self::start_with(Command::new(bin()), args)
    }

    fn start_with(mut cmd: Command, args: &[&str]) -> Watch {
        let mut child = cmd
            .args(["watch", "--json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let mode = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("watch said nothing on stderr");
        assert!(mode.starts_with("tcpmortem watch: "), "{mode}");
        Watch {
            child,
            mode,
            stderr: rx,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it with `signal` and returns its JSON lines, the rest of stderr and the status.
    fn stop(self, signal: &str) -> (Vec<Value>, String, std::process::ExitStatus) {
        // Past the join window and the loop's wait.
        std::thread::sleep(Duration::from_millis(300));
        Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        self.finish()
    }

    fn finish(mut self) -> (Vec<Value>, String, std::process::ExitStatus) {
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let status = self.child.wait().unwrap();
        let err: Vec<String> = self.stderr.try_iter().collect();
        let lines = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        (lines, err.join("\n"), status)
    }
}

/// Runs a built-in scenario and returns its connection's (client, server) socket addresses,
/// `ip:port`: the client's as its connect step reported it. Other lab runs (other checkouts,
/// in the same 198.18.0.0/15 blocks, on the same server port) may end while watch runs; the
/// client's port tells this run's ends from theirs.
///
/// The lab's own expectations may fail on a loaded machine (its observers are not what is
/// tested here): exit 1 still prints the record, and watch's lines are checked on their own.
fn lab(name: &str) -> (String, String) {
    let o = Command::new(bin())
        .args(["lab", "run", name, "--json", "--no-tracefs"])
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "lab run {name}: {:?} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    if !o.status.success() {
        eprintln!("lab run {name}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let client = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|st| st["outcome"]["local"].as_str())
        .unwrap_or_else(|| panic!("no connect step with a local address: {v}"))
        .to_string();
    let server = format!(
        "{}:{}",
        v["addresses"]["server"].as_str().unwrap(),
        v["addresses"]["server_port"]
    );
    assert!(
        client.starts_with(v["addresses"]["client"].as_str().unwrap()),
        "{v}"
    );
    (client, server)
}

fn s<'a>(l: &'a Value, k: &str) -> &'a str {
    l[k].as_str().unwrap_or("null")
}

fn each_ending(mode: &[&str]) {
    let ns = namespace();
    let (p10, p11) = (ps(7010), ps(7011));
    let mut args = vec!["--port", &p10, "--port", &p11, "--port", "8080"];
    args.extend(mode);
    let watch = Watch::start(&args);
    let pid = watch.pid();
    let tracefs = mode.contains(&"--tracefs");
    assert_eq!(
        watch.mode.contains("tracefs fallback"),
        tracefs,
        "{}",
        watch.mode
    );
    nft(
        &ns,
        "add table inet tcpmortem_test\nadd chain inet tcpmortem_test input { type filter hook input priority 0; policy accept; }\n",
    );
    let v6: IpAddr = "::1".parse().unwrap();
    let ports = ns
        .run(|| {
            let l = listen(p(7010));
            // Data after the server closed: its kernel answers with RST; the client, in
            // CLOSE_WAIT, gets EPIPE stored.
            let (c, sv) = pair(&l, p(7010));
            drop(sv);
            assert_eq!(recv_result(&c), 0);
            std::thread::sleep(Duration::from_millis(20));
            send_all(&c, b"late");
            std::thread::sleep(Duration::from_millis(20));
            let after_close = c.local_addr().unwrap().port();
            drop(c);
            // Refused: nothing listens on p(7011).
            let c = Sock::tcp(LO).unwrap();
            let _ = c.connect(&SocketAddr::new(LO, p(7011)));
            wait(&c, libc::POLLOUT);
            assert_eq!(c.take_error(), Ok(libc::ECONNREFUSED));
            let refused = c.local_addr().unwrap().port();
            drop(c);
            // SO_LINGER 0 on the server: RST (TCP_STATE), ECONNRESET on the client.
            let (c, sv) = pair(&l, p(7010));
            sv.set_linger(true, 0).unwrap();
            drop(sv);
            assert_eq!(recv_result(&c), -(libc::ECONNRESET as isize));
            let linger = c.local_addr().unwrap().port();
            drop(c);
            // TCP_USER_TIMEOUT with the path dropped: ETIMEDOUT.
            let (c, sv) = pair(&l, p(7010));
            c.setsockopt_int(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 500)
                .unwrap();
            nft(
                &ns,
                &format!(
                    "add rule inet tcpmortem_test input tcp dport {} drop\n",
                    p(7010)
                ),
            );
            send_all(&c, b"lost");
            std::thread::sleep(Duration::from_millis(1500));
            assert_eq!(recv_result(&c), -(libc::ETIMEDOUT as isize));
            nft(&ns, "flush chain inet tcpmortem_test input\n");
            let timeout = c.local_addr().unwrap().port();
            drop((c, sv));
            // IPv6: closed with unread data.
            let l6 = Sock::tcp(v6).unwrap();
            l6.bind(&SocketAddr::new(v6, p(7010))).unwrap();
            l6.listen(4).unwrap();
            let c = Sock::tcp(v6).unwrap();
            let _ = c.connect(&SocketAddr::new(v6, p(7010)));
            wait(&c, libc::POLLOUT);
            wait(&l6, libc::POLLIN);
            let (sv, _) = l6.accept().unwrap();
            send_all(&c, b"unread");
            std::thread::sleep(Duration::from_millis(20));
            drop(sv);
            assert_eq!(recv_result(&c), -(libc::ECONNRESET as isize));
            let ipv6 = c.local_addr().unwrap().port();
            drop(c);
            (after_close, refused, linger, timeout, ipv6)
        })
        .unwrap();
    nft(&ns, "delete table inet tcpmortem_test\n");
    // A lab run: client and server are other processes, in namespaces of their own.
    let (lab_client, lab_server) = lab("close-with-unread-data");
    // Outside the filter: a reset on loopback in the host namespace.
    let outside = {
        use std::io::Write;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (srv, _) = l.accept().unwrap();
        c.write_all(b"unread").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(srv); // closed with unread data: RST, TCP_ABORT_ON_CLOSE
        l.local_addr().unwrap().port()
    };
    let (lines, err, status) = watch.stop("INT");
    assert!(status.success(), "watch exited with {status:?}: {err}");
    let outside = format!(":{outside}");
    let out = lines
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    for l in &lines {
        for k in [
            "time",
            "type",
            "local",
            "remote",
            "kind",
            "ending",
            "ended_by",
            "reason",
            "errno",
            "state_before",
            "app_closed",
            "pid",
            "comm",
            "netns",
            "cookie",
            "duration_ms",
            "bytes_sent",
            "bytes_received",
            "retransmits",
            "rtt_ms",
            "recv_q",
            "send_q",
            "drops",
            "verdict",
        ] {
            assert!(l.get(k).is_some(), "field {k} missing in {l}");
        }
        assert_ne!(
            s(l, "comm"),
            "<...>",
            "tracefs's placeholder is no name: {l}"
        );
        assert!(
            !s(l, "remote").ends_with(":0") && !s(l, "local").ends_with(":0"),
            "no end has port 0: {l}"
        );
        assert!(
            !s(l, "remote").ends_with(&outside) && !s(l, "local").ends_with(&outside),
            "outside the filter: {l}"
        );
        if !tracefs {
            assert!(l["netns"].is_u64(), "eBPF knows every end's namespace: {l}");
        }
    }
    let (after_close, refused, linger, timeout, ipv6) = ports;
    // (local port, remote port, kind, accepted reasons, errno); "null" where none.
    let expected: [(u16, u16, &str, &[&str], &str); 9] = [
        // Within ~5 ms of the close the reason is TCP_ABORT_ON_DATA; after, TCP_TIMEWAIT_SOCKET.
        (
            p(7010),
            after_close,
            "rst-sent",
            &["TCP_TIMEWAIT_SOCKET", "TCP_ABORT_ON_DATA"],
            "null",
        ),
        (after_close, p(7010), "rst-received", &["null"], "EPIPE"),
        (p(7011), refused, "rst-sent", &["NO_SOCKET"], "null"),
        (refused, p(7011), "refused", &["null"], "ECONNREFUSED"),
        (p(7010), linger, "rst-sent", &["TCP_STATE"], "null"),
        (linger, p(7010), "rst-received", &["null"], "ECONNRESET"),
        (timeout, p(7010), "timeout", &["null"], "ETIMEDOUT"),
        (p(7010), ipv6, "rst-sent", &["TCP_ABORT_ON_CLOSE"], "null"),
        (ipv6, p(7010), "rst-received", &["null"], "ECONNRESET"),
    ];
    for (local, remote, kind, reasons, errno) in expected {
        let seen: Vec<(&str, &str, &str)> = by_port(&lines, local, remote)
            .into_iter()
            .map(|l| (s(l, "kind"), s(l, "reason"), s(l, "errno")))
            .collect();
        assert!(
            reasons.iter().any(|r| seen.contains(&(kind, r, errno))),
            "{local} → {remote}: expected {kind} {reasons:?} {errno}, saw {seen:?}\n{out}"
        );
    }
    let v6 = by_port(&lines, ipv6, p(7010));
    assert_eq!(s(v6[0], "local"), format!("[::1]:{ipv6}"));
    // The lab's actors: other processes, other namespaces.
    let side = |local: &str, remote: &str| {
        let mine: Vec<_> = lines
            .iter()
            .filter(|l| s(l, "local") == local && s(l, "remote") == remote)
            .collect();
        assert_eq!(mine.len(), 1, "one end for {local} → {remote}:\n{out}");
        mine[0]
    };
    let (c, sv) = (
        side(&lab_client, &lab_server),
        side(&lab_server, &lab_client),
    );
    assert_eq!(
        (s(c, "kind"), s(c, "errno")),
        ("rst-received", "ECONNRESET"),
        "{c}"
    );
    assert_eq!(
        (s(sv, "kind"), s(sv, "reason")),
        ("rst-sent", "TCP_ABORT_ON_CLOSE"),
        "{sv}"
    );
    if !tracefs {
        assert_ne!(c["netns"], sv["netns"], "two namespaces: {c} {sv}");
        assert!(
            c["pid"].is_u64() && sv["pid"].is_u64() && c["pid"] != sv["pid"],
            "{c} {sv}"
        );
        assert_eq!(sv["recv_q"], sv["bytes_received"], "all unread: {sv}");
    }
    // The instance is gone after SIGINT.
    assert!(!instance_of(pid), "tracefs instance left behind");
}

fn instance_of(pid: u32) -> bool {
    std::fs::read_dir("/sys/kernel/tracing/instances")
        .unwrap()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("tcpmortem-{pid}-"))
        })
}

/// A handshake completing into a full accept queue with tcp_abort_on_overflow=1: the listener
/// answers with RST (INVALID_SYN). The final ACKs are held back by nft; with `listen(0)` the
/// first SYN gets a request socket and the second a SYN cookie (the request queue is "full").
/// The second's data fills the accept queue, then the first's completes into it: overflow
/// in `tcp_check_req()`.
fn listener_reset(mode: &[&str]) {
    let ns = namespace();
    let port = ps(7008);
    let mut args = vec!["--port", &port];
    args.extend(mode);
    let watch = Watch::start(&args);
    nft(
        &ns,
        &format!(
            "add table inet tcpmortem_test\nadd chain inet tcpmortem_test input {{ type filter hook input priority 0; policy accept; }}\nadd rule inet tcpmortem_test input tcp dport {} tcp flags & (fin|syn|rst|psh|ack) == ack drop\n",
            p(7008)
        ),
    );
    let reset = ns
        .run(|| {
            tcpmortem_kernel::netns::write_sysctl("net.ipv4.tcp_abort_on_overflow", "1").unwrap();
            let l = Sock::tcp(LO).unwrap();
            l.bind(&SocketAddr::new(LO, p(7008))).unwrap();
            l.listen(0).unwrap();
            let connect = || {
                let c = Sock::tcp(LO).unwrap();
                let _ = c.connect(&SocketAddr::new(LO, p(7008)));
                wait(&c, libc::POLLOUT);
                c
            };
            let (c1, c2) = (connect(), connect());
            nft(&ns, "flush chain inet tcpmortem_test input\n");
            send_all(&c2, b"2"); // the cookie's handshake completes: the queue is full
            std::thread::sleep(Duration::from_millis(50));
            send_all(&c1, b"1"); // the request socket's overflows: RST
            assert_eq!(recv_result(&c1), -(libc::ECONNRESET as isize));
            let a = c1.local_addr();
            drop((c1, c2, l));
            a
        })
        .unwrap();
    nft(&ns, "delete table inet tcpmortem_test\n");
    let (lines, err, status) = watch.stop("INT");
    assert!(status.success(), "{err}");
    let out = lines
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let rst = lines
        .iter()
        .find(|l| s(l, "reason") == "INVALID_SYN")
        .unwrap_or_else(|| panic!("no INVALID_SYN reset:\n{out}"));
    assert_eq!(s(rst, "local"), format!("127.0.0.1:{}", p(7008)), "{rst}");
    assert_eq!(
        (s(rst, "kind"), s(rst, "state_before")),
        ("rst-sent", "LISTEN"),
        "{rst}"
    );
    if mode.contains(&"--tracefs") {
        // tracefs has only the listener's own addresses, and says it does not know.
        assert!(rst["remote"].is_null(), "{rst}");
    } else {
        // The peer it answered, from the segment, not the listener's 0.0.0.0:0.
        assert_eq!(s(rst, "remote"), reset.unwrap().to_string(), "{rst}");
    }
}

#[test]
fn ebpf_names_the_peer_a_listener_resets() {
    if root() {
        listener_reset(&[]);
    }
}

#[test]
fn tracefs_fallback_does_not_invent_the_peer_a_listener_resets() {
    if root() {
        listener_reset(&["--tracefs"]);
    }
}

#[test]
fn ebpf_reports_each_ending_with_the_kernels_reason() {
    if root() {
        each_ending(&[]);
    }
}

#[test]
fn tracefs_fallback_reports_each_ending_with_the_kernels_reason() {
    if root() {
        each_ending(&["--tracefs"]);
    }
}

// ---- The test's own sockets, in a private namespace ----

/// A private namespace with loopback up.
fn namespace() -> NetNs {
    let ns = NetNs::new().unwrap();
    ns.run(|| {
        let mut rt = Rtnl::open().unwrap();
        rt.set_up(if_index("lo").unwrap()).unwrap();
    })
    .unwrap();
    ns
}

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn wait(s: &Sock, ev: i16) {
    let _ = poll(&[(s.raw_fd(), ev)], 2000);
}

fn listen(port: u16) -> Sock {
    let l = Sock::tcp(LO).unwrap();
    l.bind(&SocketAddr::new(LO, port)).unwrap();
    l.listen(16).unwrap();
    l
}

/// A connected (client, server) pair.
fn pair(l: &Sock, port: u16) -> (Sock, Sock) {
    let c = Sock::tcp(LO).unwrap();
    match c.connect(&SocketAddr::new(LO, port)) {
        Ok(()) | Err(libc::EINPROGRESS) => {}
        Err(e) => panic!("connect errno {e}"),
    }
    wait(&c, libc::POLLOUT);
    assert_eq!(c.take_error(), Ok(0));
    wait(l, libc::POLLIN);
    let (s, _) = l.accept().unwrap();
    (c, s)
}

fn send_all(s: &Sock, mut data: &[u8]) {
    while !data.is_empty() {
        wait(s, libc::POLLOUT);
        match s.send(data) {
            Ok(n) => data = &data[n..],
            Err(libc::EAGAIN) => {}
            Err(e) => panic!("send errno {e}"),
        }
    }
}

fn recv_exact(s: &Sock, n: usize) {
    let mut got = 0;
    let mut buf = vec![0u8; n];
    while got < n {
        wait(s, libc::POLLIN);
        match s.recv(&mut buf[got..]) {
            Ok(0) => panic!("EOF after {got} of {n} bytes"),
            Ok(k) => got += k,
            Err(libc::EAGAIN) => {}
            Err(e) => panic!("recv errno {e}"),
        }
    }
}

/// The result of the next recv once something arrives: bytes, 0 for EOF, or -errno.
fn recv_result(s: &Sock) -> isize {
    wait(s, libc::POLLIN);
    let mut b = [0u8; 64];
    match s.recv(&mut b) {
        Ok(n) => n as isize,
        Err(e) => -(e as isize),
    }
}

fn by_port(lines: &[Value], local: u16, remote: u16) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| {
            s(l, "local").ends_with(&format!(":{local}"))
                && s(l, "remote").ends_with(&format!(":{remote}"))
        })
        .collect()
}

fn port_of(a: &Option<SocketAddr>) -> u16 {
    a.unwrap().port()
}

fn my_comm() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim_end()
        .to_string()
}

#[test]
fn ebpf_gives_exact_pid_netns_bytes_and_queues() {
    if !root() {
        return;
    }
    let ns = namespace();
    let netns = ns.inode().unwrap();
    // A connection opened before watch starts: its owner comes from the start snapshot, its
    // bytes from the counters without knowing which side opened it.
    let (l, old_c, old_s) = ns
        .run(|| {
            let l = listen(p(7001));
            let (c, sv) = pair(&l, p(7001));
            send_all(&c, &[9u8; 500]);
            recv_exact(&sv, 500);
            (l, c, sv)
        })
        .unwrap();
    let watch = Watch::start(&["--all", "--port", &ps(7001)]);
    assert!(watch.mode.contains("eBPF"), "{}", watch.mode);
    let old = old_c.local_addr();
    old_c.shutdown(libc::SHUT_WR).unwrap();
    assert_eq!(recv_result(&old_s), 0);
    drop(old_s);
    assert_eq!(recv_result(&old_c), 0);
    drop(old_c);
    let (graceful, abort, orphan) = ns
        .run(|| {
            // 1. 1,000 bytes one way, 2,345 the other, then FIN both ways.
            let (c, sv) = pair(&l, p(7001));
            send_all(&c, &[1u8; 1000]);
            recv_exact(&sv, 1000);
            send_all(&sv, &[2u8; 2345]);
            recv_exact(&c, 2345);
            let g = (c.local_addr(), sv.local_addr());
            c.shutdown(libc::SHUT_WR).unwrap();
            assert_eq!(recv_result(&sv), 0);
            drop(sv);
            assert_eq!(recv_result(&c), 0);
            drop(c);
            // 2. The server closes with 1,234 bytes unread: TCP_ABORT_ON_CLOSE.
            let (c, sv) = pair(&l, p(7001));
            send_all(&c, &[3u8; 1234]);
            std::thread::sleep(Duration::from_millis(50));
            let a = c.local_addr();
            drop(sv);
            assert_eq!(recv_result(&c), -(libc::ECONNRESET as isize));
            drop(c);
            // 3. The client closes with data still queued (FIN_WAIT1, orphaned), then the
            //    server resets: nobody is handed ECONNRESET.
            let (c, sv) = pair(&l, p(7001));
            sv.setsockopt_int(libc::SOL_SOCKET, libc::SO_RCVBUF, 4096)
                .unwrap();
            let big = vec![4u8; 1 << 20];
            let mut sent = 0;
            while sent < big.len() {
                match c.send(&big[sent..]) {
                    Ok(n) => sent += n,
                    Err(_) => break,
                }
            }
            let o = c.local_addr();
            drop(c);
            std::thread::sleep(Duration::from_millis(50));
            sv.set_linger(true, 0).unwrap();
            drop(sv);
            (g, a, o)
        })
        .unwrap();
    let (lines, err, status) = watch.stop("TERM");
    assert!(status.success(), "{err}");
    let out = lines
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let me = std::process::id();
    let comm = my_comm();
    let one = |local: u16, remote: u16| -> &Value {
        let v = by_port(&lines, local, remote);
        assert_eq!(v.len(), 1, "one end for {local} → {remote}:\n{out}");
        v[0]
    };
    let check = |l: &Value, kind: &str, sent: u64, received: u64| {
        assert_eq!(s(l, "kind"), kind, "{l}");
        assert_eq!(l["pid"], me, "the owner, from connect/accept: {l}");
        assert_eq!(s(l, "comm"), comm, "{l}");
        assert_eq!(l["netns"], netns, "{l}");
        assert_eq!(l["bytes_sent"], sent, "{l}");
        assert_eq!(l["bytes_received"], received, "{l}");
        assert_eq!(l["retransmits"], 0, "{l}");
        assert!(l["rtt_ms"].as_f64().unwrap() > 0.0, "{l}");
        assert!(l["duration_ms"].as_f64().unwrap() > 0.0, "{l}");
    };
    let (gc, gs) = (port_of(&graceful.0), p(7001));
    let client = one(gc, gs);
    check(client, "closed", 1000, 2345);
    assert_eq!(
        (s(client, "ending"), s(client, "ended_by")),
        ("graceful-close", "local")
    );
    let server = one(gs, gc);
    check(server, "closed", 2345, 1000);
    assert_eq!(
        (server["recv_q"].as_u64(), server["send_q"].as_u64()),
        (Some(0), Some(0))
    );

    let ac = port_of(&abort);
    let server = one(p(7001), ac);
    check(server, "rst-sent", 0, 1234);
    assert_eq!(s(server, "reason"), "TCP_ABORT_ON_CLOSE");
    assert_eq!(server["recv_q"], 1234, "{server}");
    assert!(
        s(server, "verdict").contains("1234 bytes unread"),
        "{server}"
    );
    assert_eq!(s(server, "ending"), "abortive-close");
    let client = one(ac, p(7001));
    check(client, "rst-received", 1234, 0);
    assert_eq!(s(client, "errno"), "ECONNRESET");
    assert_eq!(client["app_closed"], false);

    let client = one(port_of(&old), p(7001));
    assert_eq!(client["pid"], me, "from the snapshot at start: {client}");
    assert_eq!(client["netns"], netns, "{client}");
    assert_eq!(
        (
            client["bytes_sent"].as_u64(),
            client["bytes_received"].as_u64()
        ),
        (Some(500), Some(0)),
        "{client}"
    );
    assert!(
        client["duration_ms"].is_null(),
        "opened before watch: {client}"
    );
    assert_eq!(s(one(p(7001), port_of(&old)), "ending"), "graceful-close");

    let oc = port_of(&orphan);
    let client = one(oc, p(7001));
    assert_eq!(
        (s(client, "kind"), s(client, "state_before")),
        ("rst-received", "FIN_WAIT1"),
        "{client}"
    );
    assert_eq!(client["app_closed"], true, "{client}");
    let v = s(client, "verdict");
    assert!(
        v.contains("after the application had closed its socket"),
        "{v}"
    );
    assert!(!v.contains("is handed"), "no false verdict: {v}");
    assert!(
        client["send_q"].as_u64().unwrap() > 0,
        "data still queued: {client}"
    );
}

/// SO_LINGER 0 closes and a destroyed listener report no end with port 0 (tcp_disconnect()
/// clears the remote port before its error report), and such rows never count for --count.
fn no_phantoms(mode: &[&str]) {
    let ns = namespace();
    let port = ps(7004);
    let mut args = vec!["--port", &port, "--count", "2"];
    args.extend(mode);
    let watch = Watch::start(&args);
    ns.run(|| {
        let l = listen(p(7004));
        let (c, sv) = pair(&l, p(7004));
        c.set_linger(true, 0).unwrap();
        drop(c);
        assert_eq!(recv_result(&sv), -(libc::ECONNRESET as isize));
        drop(sv);
        // The listener destroyed as `ss -K` does: tcp_abort() reports ECONNABORTED on it.
        let mut d = tcpmortem_kernel::diag::Diag::open().unwrap();
        let lst = d
            .tcp_sockets()
            .unwrap()
            .into_iter()
            .find(|s| s.local.port() == p(7004) && s.status.state == 10)
            .unwrap();
        match d.destroy(&lst) {
            Ok(()) => {}
            Err(e) => eprintln!("SOCK_DESTROY not available, listener not destroyed: {e}"),
        }
        drop(l);
    })
    .unwrap();
    // --count 2 stops it by itself once both real ends are reported.
    let t = Instant::now();
    let (lines, err, status) = watch.finish();
    assert!(status.success(), "{err}");
    assert!(t.elapsed() < Duration::from_secs(10));
    let kinds: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (s(l, "kind"), s(l, "remote")))
        .collect();
    assert_eq!(lines.len(), 2, "{kinds:?}");
    let mut k: Vec<&str> = kinds.iter().map(|k| k.0).collect();
    k.sort();
    assert_eq!(k, ["rst-received", "rst-sent"], "{lines:?}");
    for l in &lines {
        assert!(!s(l, "remote").ends_with(":0"), "phantom row: {l}");
    }
    if mode.is_empty() {
        let closer = lines.iter().find(|l| s(l, "kind") == "rst-sent").unwrap();
        assert_eq!(s(closer, "reason"), "TCP_STATE", "{closer}");
        assert_eq!(
            closer["app_closed"], true,
            "an SO_LINGER 0 close(): {closer}"
        );
        let peer = lines
            .iter()
            .find(|l| s(l, "kind") == "rst-received")
            .unwrap();
        assert_eq!(peer["app_closed"], false, "{peer}");
    }
}

#[test]
fn ebpf_reports_no_phantom_rows() {
    if root() {
        no_phantoms(&[]);
    }
}

#[test]
fn tracefs_fallback_reports_no_phantom_rows() {
    if root() {
        no_phantoms(&["--tracefs"]);
    }
}

#[test]
fn ebpf_matches_dual_stack_sockets_by_their_ipv4_address() {
    if !root() {
        return;
    }
    let ns = namespace();
    let watch = Watch::start(&["--addr", "127.0.0.1", "--port", &ps(7012)]);
    let client = ns
        .run(|| {
            let any6: IpAddr = "::".parse().unwrap();
            let l = Sock::tcp(any6).unwrap();
            l.bind(&SocketAddr::new(any6, p(7012))).unwrap();
            l.listen(4).unwrap();
            let (c, sv) = pair(&l, p(7012));
            send_all(&c, b"unread");
            std::thread::sleep(Duration::from_millis(20));
            drop(sv);
            assert_eq!(recv_result(&c), -(libc::ECONNRESET as isize));
            c.local_addr().unwrap()
        })
        .unwrap();
    let (lines, err, status) = watch.stop("INT");
    assert!(status.success(), "{err}");
    let server = by_port(&lines, p(7012), client.port());
    assert_eq!(server.len(), 1, "{lines:?}");
    assert_eq!(
        s(server[0], "local"),
        format!("[::ffff:127.0.0.1]:{}", p(7012)),
        "{}",
        server[0]
    );
    assert_eq!(s(server[0], "reason"), "TCP_ABORT_ON_CLOSE");
    assert_eq!(
        by_port(&lines, client.port(), p(7012)).len(),
        1,
        "{lines:?}"
    );
}

#[test]
fn tracefs_fallback_tells_an_orphans_reset_from_the_missing_error_report() {
    if !root() {
        return;
    }
    let ns = namespace();
    let watch = Watch::start(&["--tracefs", "--port", &ps(7005)]);
    let orphan = ns
        .run(|| {
            let l = listen(p(7005));
            let (c, sv) = pair(&l, p(7005));
            sv.setsockopt_int(libc::SOL_SOCKET, libc::SO_RCVBUF, 4096)
                .unwrap();
            let big = vec![4u8; 1 << 20];
            let mut sent = 0;
            while sent < big.len() {
                match c.send(&big[sent..]) {
                    Ok(n) => sent += n,
                    Err(_) => break,
                }
            }
            let o = c.local_addr();
            drop(c);
            std::thread::sleep(Duration::from_millis(50));
            sv.set_linger(true, 0).unwrap();
            drop(sv);
            o
        })
        .unwrap();
    let (lines, err, status) = watch.stop("INT");
    assert!(status.success(), "{err}");
    let l = by_port(&lines, port_of(&orphan), p(7005));
    assert_eq!(l.len(), 1, "{lines:?}");
    assert_eq!(s(l[0], "state_before"), "FIN_WAIT1", "{}", l[0]);
    assert_eq!(l[0]["app_closed"], true, "{}", l[0]);
    assert!(!s(l[0], "verdict").contains("is handed"), "{}", l[0]);
}

fn nft(ns: &NetNs, script: &str) {
    use std::io::Write;
    let mut cmd = Command::new("nft");
    cmd.args(["-f", "-"]).stdin(Stdio::piped());
    let mut child = tcpmortem_kernel::proc::spawn_in_netns(&mut cmd, ns.raw_fd())
        .expect("nft (apt-get install nftables)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nft -f - <<<{script}");
}

#[test]
fn ebpf_names_the_drops_of_an_nft_dropped_flow() {
    if !root() {
        return;
    }
    let ns = namespace();
    let watch = Watch::start(&["--drops", "--port", &ps(7002)]);
    nft(
        &ns,
        "add table inet tcpmortem_test\nadd chain inet tcpmortem_test input { type filter hook input priority 0; policy accept; }\n",
    );
    let client = ns
        .run(|| {
            let l = listen(p(7002));
            let (c, sv) = pair(&l, p(7002));
            // TCP_USER_TIMEOUT: give up after 1 s of unacknowledged data.
            c.setsockopt_int(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 1000)
                .unwrap();
            nft(
                &ns,
                &format!(
                    "add rule inet tcpmortem_test input tcp dport {} drop\n",
                    p(7002)
                ),
            );
            send_all(&c, b"hello");
            std::thread::sleep(Duration::from_millis(2500));
            assert_eq!(recv_result(&c), -(libc::ETIMEDOUT as isize));
            let a = c.local_addr();
            drop(c);
            drop(sv);
            drop(l);
            a
        })
        .unwrap();
    nft(&ns, "delete table inet tcpmortem_test\n");
    let (lines, err, status) = watch.stop("INT");
    assert!(status.success(), "{err}");
    let out = lines
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let cport = port_of(&client);
    let end = lines
        .iter()
        .find(|l| s(l, "type") == "end" && s(l, "local").ends_with(&format!(":{cport}")))
        .unwrap_or_else(|| panic!("no end for the client:\n{out}"));
    assert_eq!(
        (s(end, "kind"), s(end, "errno")),
        ("timeout", "ETIMEDOUT"),
        "{end}"
    );
    let drops = end["drops"].as_array().unwrap();
    let nf = drops
        .iter()
        .find(|d| s(d, "reason") == "NETFILTER_DROP")
        .unwrap_or_else(|| panic!("{end}"));
    let n = nf["count"].as_u64().unwrap();
    assert!(n >= 2, "the data and its retransmissions: {end}");
    assert_eq!(nf["from_peer"], false, "its own segments: {end}");
    assert!(
        s(end, "verdict").contains(&format!(
            "{n} of its own segments were dropped here by netfilter (NETFILTER_DROP)"
        )),
        "{end}"
    );
    // Every dropped segment but the first was a retransmission of the data, so the kernel's
    // count is at least the drops but the first. Not exactly: one run in several counted 3
    // retransmissions beside 3 drops (a drop not joined to the connection), left open.
    let r = end["retransmits"].as_u64().unwrap();
    assert!(r >= 1 && r >= n - 1, "retransmissions >= drops - 1: {end}");
    // --drops printed each of them live (and later ones: the RST answering the server's FIN
    // is dropped too, after the end).
    let live: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            s(l, "type") == "drop"
                && s(l, "reason") == "NETFILTER_DROP"
                && s(l, "src").ends_with(&format!(":{cport}"))
                && s(l, "time") <= s(end, "time")
        })
        .collect();
    assert_eq!(live.len() as u64, n, "{out}");
    assert_eq!(s(live[0], "dst"), format!("127.0.0.1:{}", p(7002)));
}

#[test]
fn metrics_are_read_by_prometheus_client() {
    if !root() {
        return;
    }
    let Some(python) = std::env::var_os("TCPMORTEM_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "TCPMORTEM_PYTHON (set by scripts/test) is needed for the metrics test"
        );
        eprintln!("SKIPPED: no TCPMORTEM_PYTHON with prometheus-client");
        return;
    };
    let ns = namespace();
    let watch = Watch::start(&["--metrics", "127.0.0.1:0", "--port", &ps(7003)]);
    let url = watch
        .mode
        .split("metrics at ")
        .nth(1)
        .unwrap_or_else(|| panic!("{}", watch.mode))
        .to_string();
    ns.run(|| {
        let l = listen(p(7003));
        let (c, sv) = pair(&l, p(7003));
        send_all(&c, &[1u8; 10]);
        std::thread::sleep(Duration::from_millis(30));
        drop(sv); // TCP_ABORT_ON_CLOSE
        assert_eq!(recv_result(&c), -(libc::ECONNRESET as isize));
        drop(c);
        let (c, sv) = pair(&l, p(7003));
        drop(c);
        assert_eq!(recv_result(&sv), 0);
        drop(sv);
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    // Prometheus's own parser (OpenMetrics), fed what a scrape returns.
    let script = r#"
import json, sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
r = urllib.request.urlopen(sys.argv[1])
out = {"content_type": r.headers["Content-Type"], "samples": []}
for fam in text_string_to_metric_families(r.read().decode()):
    for s in fam.samples:
        out["samples"].append({"family": fam.name, "type": fam.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    let o = Command::new(&python)
        .args(["-c", script, &url])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let (_, err, status) = watch.stop("INT");
    assert!(status.success(), "{err}");
    assert!(
        s(&v, "content_type").starts_with("application/openmetrics-text"),
        "{v}"
    );
    let samples = v["samples"].as_array().unwrap();
    let value = |f: &dyn Fn(&Value) -> bool| -> f64 {
        samples
            .iter()
            .filter(|x| f(x))
            .map(|x| x["value"].as_f64().unwrap())
            .sum()
    };
    let ends = |x: &Value| s(x, "name") == "tcpmortem_watch_ends_total";
    assert!(
        samples
            .iter()
            .all(|x| s(x, "family") != "tcpmortem_watch_ends" || s(x, "type") == "counter")
    );
    assert_eq!(
        value(&|x| ends(x)
            && x["labels"]["kind"] == "rst-sent"
            && x["labels"]["reason"] == "TCP_ABORT_ON_CLOSE"
            && x["labels"]["ending"] == "abortive-close"),
        1.0,
        "{v}"
    );
    assert_eq!(
        value(&|x| ends(x)
            && x["labels"]["kind"] == "rst-received"
            && x["labels"]["errno"] == "ECONNRESET"
            && x["labels"]["state_before"] == "ESTABLISHED"),
        1.0,
        "{v}"
    );
    assert_eq!(
        value(&|x| ends(x) && x["labels"]["kind"] == "closed"),
        2.0,
        "{v}"
    );
    assert_eq!(value(&|x| ends(x)), 4.0, "{v}");
    // Every label comes from a closed set.
    for x in samples.iter().filter(|x| ends(x)) {
        let l = &x["labels"];
        assert_eq!(l.as_object().unwrap().len(), 5, "{x}");
    }
}

#[test]
fn sighup_removes_the_tracefs_instance() {
    if !root() {
        return;
    }
    let watch = Watch::start(&["--tracefs", "--port", &ps(7006)]);
    let pid = watch.pid();
    assert!(instance_of(pid));
    let (_, err, status) = watch.stop("HUP");
    assert!(status.success(), "{status:?} {err}");
    assert!(!instance_of(pid), "SIGHUP left the tracefs instance");
    // eBPF: a hangup ends it as cleanly (exit 0, what was read is written).
    let watch = Watch::start(&["--port", &ps(7006)]);
    assert!(watch.mode.contains("eBPF"), "{}", watch.mode);
    let (_, err, status) = watch.stop("HUP");
    assert!(status.success(), "{status:?} {err}");
}

#[test]
fn options_that_mean_nothing_are_refused_with_a_reason() {
    for (args, says) in [
        (&["--duration", "inf"][..], "finite"),
        (&["--duration", "nan"], "finite"),
        (&["--duration", "1e300"], "more than watch can count"),
        (&["--duration", "0"], "more than 0"),
        (&["--count", "0"], "at least 1"),
        (&["--port", "0"], "port 0"),
        (&["--pid", "0"], "0"),
        (&["--metrics", "nowhere"], "nowhere"),
    ] {
        let out = common::tcpmortem()
            .arg("watch")
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "watch {args:?}: {err}");
        assert!(
            err.contains(says) && err.contains(args[0]),
            "watch {args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn watch_stops_by_itself_and_names_missing_privilege() {
    if !root() {
        return;
    }
    let t = Instant::now();
    let out = Command::new(bin())
        .args(["watch", "--duration", "0.3", "--port", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(t.elapsed() < Duration::from_secs(5));
    let out = common::unprivileged(&["watch", "--duration", "1"]);
    assert_eq!(out.status.code(), Some(77));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("CAP_BPF + CAP_PERFMON") && err.contains("CAP_DAC_OVERRIDE"),
        "{err}"
    );
}

/// `tcpmortem watch ARGS` as nobody with exactly `caps` (ambient, so they survive exec).
fn as_nobody_with(caps: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        &format!("--inh-caps=-all,{caps}"),
        &format!("--ambient-caps=-all,{caps}"),
        &format!("--bounding-set=-all,{caps}"),
    ])
    .arg(bin())
    // nobody may not enter the test's working directory.
    .current_dir("/");
    cmd
}

#[test]
fn the_documented_capabilities_are_enough() {
    if !root() {
        return;
    }
    // eBPF with what the README lists: every field, owners of accepted sockets included.
    let ns = namespace();
    let watch = Watch::start_with(
        as_nobody_with("+bpf,+perfmon,+dac_read_search"),
        &["--port", &ps(7007)],
    );
    assert!(
        watch.mode.contains("eBPF") && !watch.mode.contains("unknown"),
        "{}",
        watch.mode
    );
    ns.run(|| {
        let l = listen(p(7007));
        let (c, sv) = pair(&l, p(7007));
        send_all(&c, b"x");
        std::thread::sleep(Duration::from_millis(30));
        drop(sv);
        drop(c);
    })
    .unwrap();
    let (lines, err, status) = watch.stop("INT");
    assert!(status.success(), "{err}");
    let server = lines
        .iter()
        .find(|l| s(l, "reason") == "TCP_ABORT_ON_CLOSE")
        .unwrap();
    assert_eq!(server["pid"], std::process::id(), "{server}");

    // CAP_SYS_ADMIN alone is CAP_BPF and CAP_PERFMON too: eBPF runs (it no longer needs
    // tracefs, which it could not read, let alone mount again: EBUSY).
    let watch = Watch::start_with(as_nobody_with("+sys_admin"), &["--duration", "0.2"]);
    assert!(watch.mode.contains("eBPF"), "{}", watch.mode);
    let (_, err, status) = watch.finish();
    assert!(status.success(), "{err}");

    // The tracefs fallback with CAP_SYS_ADMIN alone: the permission it lacks, not EBUSY.
    let out = as_nobody_with("+sys_admin")
        .args(["watch", "--tracefs", "--duration", "0.2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("CAP_DAC_OVERRIDE") && !err.contains("EBUSY") && !err.contains("busy"),
        "{err}"
    );
    // ...and with CAP_DAC_OVERRIDE it runs.
    let watch = Watch::start_with(
        as_nobody_with("+sys_admin,+dac_override"),
        &["--tracefs", "--duration", "0.2"],
    );
    assert!(watch.mode.contains("tracefs fallback"), "{}", watch.mode);
    let (_, err, status) = watch.finish();
    assert!(status.success(), "{err}");
}

#[test]
fn help_explains_both_sources_and_every_option() {
    let out = common::tcpmortem()
        .args(["watch", "--help"])
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!("watch_help", String::from_utf8_lossy(&out.stdout));
}
