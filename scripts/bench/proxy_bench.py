"""The measurements of scripts/bench-proxy: run inside its namespace with the proxy's API on
127.0.0.1:8474. Sender and receiver are separate processes (os.fork), as two programs."""
import argparse, json, os, socket, statistics, time, urllib.request, resource

ap = argparse.ArgumentParser()
ap.add_argument("--gb", type=float, default=1)
ap.add_argument("--conns", type=int, default=10000)
ap.add_argument("--proxy-pid", type=int, required=True)
a = ap.parse_args()

def api(method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:8474" + path, method=method,
                                 data=json.dumps(body).encode() if body else None)
    return urllib.request.urlopen(req).read()

for _ in range(100):
    try:
        api("GET", "/version"); break
    except OSError:
        time.sleep(0.05)

def sink_server(port):
    """A server that discards what it reads (throughput) or echoes 1 byte (ping-pong)."""
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", port)); l.listen(65535)
    pid = os.fork()
    if pid == 0:
        import selectors
        sel = selectors.DefaultSelector(); sel.register(l, selectors.EVENT_READ)
        buf = bytearray(1 << 20)
        while True:
            for k, _ in sel.select():
                if k.fileobj is l:
                    c, _ = l.accept(); c.setblocking(False)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(c, selectors.EVENT_READ, "c")
                else:
                    c = k.fileobj
                    try:
                        n = c.recv_into(buf)
                    except BlockingIOError:
                        continue
                    except OSError:
                        n = 0
                    if n == 0:
                        sel.unregister(c); c.close()
                    elif n == 1:
                        c.send(buf[:1])
    l.close()
    return pid

srv = sink_server(9000)
import atexit, signal
atexit.register(lambda: os.kill(srv, signal.SIGKILL))
api("POST", "/proxies", {"name": "bench", "listen": "127.0.0.1:9001", "upstream": "127.0.0.1:9000"})

def throughput(port, total):
    c = socket.create_connection(("127.0.0.1", port))
    chunk = b"\0" * (1 << 20)
    t = time.perf_counter(); sent = 0
    while sent < total:
        sent += c.send(chunk)
    c.shutdown(socket.SHUT_WR); c.recv(1); c.close()
    return total / (time.perf_counter() - t)

def pingpong(port, n=20000):
    c = socket.create_connection(("127.0.0.1", port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    for _ in range(n):
        t = time.perf_counter_ns(); c.send(b"x"); c.recv(1); lat.append(time.perf_counter_ns() - t)
    c.close()
    lat.sort()
    return lat[len(lat) // 2] / 1000, lat[int(len(lat) * 0.99)] / 1000

def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) / 1024
    return 0

def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def me_cpu():
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

total = int(a.gb * 1e9)
# Interleaved, so that a change of load hits all three alike; CPU time per GB for the sender
# (this process), the receiver (the sink server) and the proxy.
rows, proxy_cpu, sender_direct, sender_proxy, recv_direct, recv_proxy = [], 0.0, 0.0, 0.0, 0.0, 0.0
for _ in range(3):
    c0, r0 = me_cpu(), cpu_s(srv); d = throughput(9000, total)
    sender_direct += me_cpu() - c0; recv_direct += cpu_s(srv) - r0
    p0, c0, r0 = cpu_s(a.proxy_pid), me_cpu(), cpu_s(srv); p = throughput(9001, total)
    proxy_cpu += cpu_s(a.proxy_pid) - p0; sender_proxy += me_cpu() - c0; recv_proxy += cpu_s(srv) - r0
    rows.append((d, p, throughput(9010, total)))
gbs = 3 * total / 1e9
sd, sp, rd, rp, pc = (x / gbs for x in (sender_direct, sender_proxy, recv_direct, recv_proxy, proxy_cpu))
print(f"CPU per GB: sender {sd:.2f} s direct, {sp:.2f} s through the proxy; receiver {rd:.2f} s direct, "
      f"{rp:.2f} s through the proxy; the proxy {pc:.2f} s")
# Each process is one thread: a transfer cannot go faster than its busiest process allows, nor
# than the machine's cores allow for the CPU all of them need per GB.
cores = os.cpu_count()
cap_direct = min(1 / max(sd, rd), cores / (sd + rd))
cap_proxy = min(1 / max(sp, rp, pc), cores / (sp + rp + pc))
print(f"CPU-bound ceiling on {cores} cores from these figures: direct {cap_direct:.2f} GB/s, through the proxy "
      f"{cap_proxy:.2f} GB/s ({cap_proxy/cap_direct*100:.0f}% of direct)")
d, p, s = (statistics.median(r[i] for r in rows) for i in range(3))
print(f"throughput, {a.gb:g} GB, median of 3: direct {d/1e9:.2f} GB/s, tcpmortem proxy {p/1e9:.2f} GB/s "
      f"({p/d*100:.0f}% of direct), socat {s/1e9:.2f} GB/s ({s/d*100:.0f}%)")
pp = [(pingpong(9000), pingpong(9001), pingpong(9010)) for _ in range(3)]
(dp50, dp99), (pp50, pp99), (sp50, sp99) = (
    (statistics.median(x[i][0] for x in pp), statistics.median(x[i][1] for x in pp)) for i in range(3))
print(f"1-byte ping-pong round trip, 20,000 each, median of 3: direct p50 {dp50:.1f} µs p99 {dp99:.1f} µs; "
      f"tcpmortem proxy p50 {pp50:.1f} µs p99 {pp99:.1f} µs (added p50 {pp50-dp50:.1f} µs, p99 {pp99-dp99:.1f} µs); "
      f"socat p50 {sp50:.1f} µs p99 {sp99:.1f} µs (added p50 {sp50-dp50:.1f} µs, p99 {sp99-dp99:.1f} µs)")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def holder(port):
    """An upstream that accepts as fast as it can and holds every connection."""
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", port)); l.listen(65535)
    pid = os.fork()
    if pid == 0:
        held = []
        while True:
            held.append(l.accept()[0])
    l.close()
    atexit.register(lambda: os.kill(pid, signal.SIGKILL))
    return pid

def open_many(port, n):
    conns = []
    t = time.perf_counter()
    for _ in range(n):
        conns.append(socket.create_connection(("127.0.0.1", port)))
    return conns, time.perf_counter() - t

# One holder for the direct connections, one for the proxy's upstream ones: each process has
# its own limit on open files.
holder(9002)
holder(9004)
api("POST", "/proxies", {"name": "many", "listen": "127.0.0.1:9003", "upstream": "127.0.0.1:9004"})
conns, direct_took = open_many(9002, a.conns)
for c in conns:
    c.close()
time.sleep(1)
before = rss(a.proxy_pid)
t0 = time.perf_counter()
conns, took = open_many(9003, a.conns)
def sockets(pid):
    n = 0
    for f in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{f}").startswith("socket:")
        except OSError:
            pass
    return n
# Until the proxy has taken every one of them: two sockets each (client and upstream).
while time.perf_counter() - t0 < 30 and sockets(a.proxy_pid) < 2 * a.conns:
    time.sleep(0.02)
all_live = time.perf_counter() - t0
live = sum(1 for r in json.loads(api("GET", "/proxies/many/connections")) if r["status"] == "open")
after = rss(a.proxy_pid)
print(f"{a.conns} concurrent connections: opened directly in {direct_took:.2f} s; through the proxy in {took:.2f} s, "
      f"{live} of them live in its report after {all_live:.2f} s; proxy RSS {before:.1f} MB before, {after:.1f} MB with them "
      f"({(after-before)*1024/a.conns:.1f} KB each)")
for c in conns:
    c.close()
