//! The proxies at the I/O edge: listeners, their accept loops, `syn_drop`'s full accept
//! queue, and the collection the API changes (create, update, populate, reset), with
//! Toxiproxy's semantics.

use crate::api::{ApiError, ProxyInput};
use crate::book::{Book, Sink};
use crate::conn::{self, Shared};
use crate::toxics::{Toxic, Type};
use crate::trace::Tracer;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;
use tcpmortem_kernel::sock;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

/// What the whole process offers every proxy.
pub struct Env {
    /// CAP_NET_ADMIN: TCP_REPAIR for half_open and idle_timeout.
    pub net_admin: bool,
    pub tracer: Option<Arc<Tracer>>,
    pub sink: Sink,
    /// How long a connection's report waits for the client's side to end.
    pub settle: Duration,
}

/// The listen backlog outside `syn_drop` (Go's default is the kernel's somaxconn, which caps
/// it anyway).
const BACKLOG: i32 = 65535;

/// A proxy as Toxiproxy prints it, fields in its order.
#[derive(serde::Serialize)]
pub struct ProxyJson<'a> {
    pub name: &'a str,
    pub listen: &'a str,
    pub upstream: &'a str,
    pub enabled: bool,
    pub toxics: Vec<&'a Toxic>,
}

impl ProxyJson<'_> {
    pub fn value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

pub struct Proxy {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    /// In the order they were added.
    pub toxics: Vec<Toxic>,
    toxics_tx: watch::Sender<Arc<Vec<Toxic>>>,
    pub book: Arc<Book>,
    run: Option<Running>,
    env: Arc<Env>,
}

struct Running {
    stop: watch::Sender<bool>,
    listener: Arc<TcpListener>,
}

impl Proxy {
    pub fn new(p: &ProxyInput, env: Arc<Env>) -> Proxy {
        Proxy {
            name: p.name.clone(),
            listen: p.listen.clone(),
            upstream: p.upstream.clone(),
            enabled: false,
            toxics: Vec::new(),
            toxics_tx: watch::channel(Arc::new(Vec::new())).0,
            book: Arc::new(Book::default()),
            run: None,
            env,
        }
    }

    /// The JSON Toxiproxy prints for a proxy: name, listen, upstream, enabled, toxics.
    pub fn json(&self) -> ProxyJson<'_> {
        ProxyJson {
            name: &self.name,
            listen: &self.listen,
            upstream: &self.upstream,
            enabled: self.enabled,
            toxics: self.toxics_listed(),
        }
    }

    /// Toxics as Toxiproxy lists them: upstream ones first, then downstream, each in order.
    pub fn toxics_listed(&self) -> Vec<&Toxic> {
        let mut v: Vec<&Toxic> = self
            .toxics
            .iter()
            .filter(|t| t.stream == crate::toxics::Stream::Upstream)
            .collect();
        v.extend(
            self.toxics
                .iter()
                .filter(|t| t.stream == crate::toxics::Stream::Downstream),
        );
        v
    }

    pub fn set_toxics(&mut self, toxics: Vec<Toxic>) {
        self.toxics = toxics;
        self.toxics_tx.send_replace(Arc::new(self.toxics.clone()));
    }

    /// Binds and starts accepting. The listen address becomes the bound one
    /// (`localhost:0` → `127.0.0.1:PORT`), as Toxiproxy reports it.
    pub fn start(&mut self) -> Result<(), ApiError> {
        if self.enabled {
            return Ok(());
        }
        let addr = resolve_listen(&self.listen)?;
        let listener = bind(addr).map_err(|e| {
            ApiError::new(
                format!("listen tcp {}: {}", self.listen, bind_error(&e)),
                500,
            )
        })?;
        let local = listener
            .local_addr()
            .map_err(|e| ApiError::new(e.to_string(), 500))?;
        self.listen = local.to_string();
        let listener = Arc::new(listener);
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            name: self.name.clone(),
            upstream: self.upstream.clone(),
            book: self.book.clone(),
            env: self.env.clone(),
        });
        tokio::spawn(accept_loop(
            listener.clone(),
            local,
            shared,
            stop_rx,
            self.toxics_tx.subscribe(),
        ));
        self.run = Some(Running { stop, listener });
        self.enabled = true;
        Ok(())
    }

    /// Stops listening at once (connects are refused from now on) and closes every
    /// connection of this proxy.
    pub fn stop(&mut self) {
        if let Some(r) = self.run.take() {
            // SHUT_RD on a listener stops it listening now, not when the task gets to drop it.
            let _ = sock::shutdown_fd(r.listener.as_raw_fd(), libc::SHUT_RD);
            let _ = r.stop.send(true);
        }
        self.enabled = false;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => "bind: address already in use".into(),
        Some(libc::EACCES) => "bind: permission denied".into(),
        Some(libc::EADDRNOTAVAIL) => "bind: cannot assign requested address".into(),
        _ => e.to_string(),
    }
}

/// Go's rules for a listen address: an empty host means every address, a name is resolved
/// and its first address (IPv4 first) used.
pub fn resolve_listen(listen: &str) -> Result<SocketAddr, ApiError> {
    let bad = |why: &str| ApiError::new(format!("listen tcp {listen}: {why}"), 500);
    let (host, port) = crate::resolve::split(listen).map_err(|_| bad("missing port in address"))?;
    if host.is_empty() {
        return Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port));
    }
    // A listen address is local by nature: a literal, localhost or /etc/hosts, no DNS.
    let ips = crate::resolve::local(host).ok_or_else(|| bad("no such host"))?;
    Ok(SocketAddr::new(ips[0], port))
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As Go's listeners: a port can be bound again while old connections linger.
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(BACKLOG as u32)
}

/// Where to connect to reach a listener bound to `local` (the wildcard means loopback).
fn reach(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

async fn accept_loop(
    listener: Arc<TcpListener>,
    local: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    mut toxics: watch::Receiver<Arc<Vec<Toxic>>>,
) {
    // syn_drop's plug: a connection of our own that fills the accept queue (backlog 0).
    let mut plug: Option<(sock::Sock, Option<SocketAddr>)> = None;
    let mut plug_addrs: Vec<SocketAddr> = Vec::new();
    loop {
        let drop_syns = toxics
            .borrow_and_update()
            .iter()
            .any(|t| t.kind == Type::SynDrop && t.toxicity > 0.0);
        if drop_syns && plug.is_none() {
            let fd = listener.as_raw_fd();
            let _ = sock::set_backlog(fd, 0);
            let to = reach(local);
            if let Ok(s) = sock::Sock::tcp(to.ip()) {
                let _ = s.connect(&to);
                let a = s.local_addr();
                plug = Some((s, a));
            }
        } else if !drop_syns && let Some((s, a)) = plug.take() {
            let _ = sock::set_backlog(listener.as_raw_fd(), BACKLOG);
            plug_addrs.extend(a);
            drop(s);
        }
        tokio::select! {
            _ = stop.changed() => break,
            r = toxics.changed() => { if r.is_err() { break; } }
            r = listener.accept(), if plug.is_none() => {
                match r {
                    Ok((s, peer)) => {
                        if let Some(i) = plug_addrs.iter().position(|a| *a == peer) {
                            plug_addrs.swap_remove(i);
                            continue;
                        }
                        let local = s.local_addr().unwrap_or(local);
                        tokio::spawn(conn::serve(
                            s, peer, local, shared.clone(), stop.clone(), toxics.clone(),
                        ));
                    }
                    Err(_) if *stop.borrow() => break,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
    }
}

/// Every proxy of the process, by name.
pub struct Registry {
    pub proxies: BTreeMap<String, Proxy>,
    pub env: Arc<Env>,
}

impl Registry {
    pub fn new(env: Arc<Env>) -> Registry {
        Registry {
            proxies: BTreeMap::new(),
            env,
        }
    }

    /// POST /proxies.
    pub fn create(&mut self, p: &ProxyInput) -> Result<String, ApiError> {
        if self.proxies.contains_key(&p.name) {
            return Err(ApiError::proxy_exists());
        }
        let mut proxy = Proxy::new(p, self.env.clone());
        if p.enabled.unwrap_or(true) {
            proxy.start()?;
        }
        let j = serde_json::to_string(&proxy.json()).unwrap_or_default();
        self.proxies.insert(p.name.clone(), proxy);
        Ok(j)
    }

    /// POST or PATCH /proxies/{name}: fields not given keep their values; a new listen or
    /// upstream restarts the proxy; `enabled` starts or stops it.
    pub fn update(&mut self, name: &str, body: &serde_json::Value) -> Result<String, ApiError> {
        let proxy = self
            .proxies
            .get_mut(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        let input = ProxyInput::from_json(body)?;
        let obj = body.as_object();
        let given = |k: &str| obj.is_some_and(|o| o.get(k).is_some_and(|v| !v.is_null()));
        let listen = if given("listen") {
            input.listen
        } else {
            proxy.listen.clone()
        };
        let upstream = if given("upstream") {
            input.upstream
        } else {
            proxy.upstream.clone()
        };
        let enabled = input.enabled.unwrap_or(proxy.enabled);
        if listen != proxy.listen || upstream != proxy.upstream {
            proxy.stop();
            proxy.listen = listen;
            proxy.upstream = upstream;
        }
        if enabled && !proxy.enabled {
            proxy.start()?;
        } else if !enabled {
            proxy.stop();
        }
        Ok(serde_json::to_string(&proxy.json()).unwrap_or_default())
    }

    pub fn delete(&mut self, name: &str) -> Result<(), ApiError> {
        let mut p = self
            .proxies
            .remove(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        p.stop();
        Ok(())
    }

    /// POST /reset: every proxy enabled, every toxic removed.
    pub fn reset(&mut self) -> Result<(), ApiError> {
        for p in self.proxies.values_mut() {
            p.start()?;
            p.set_toxics(Vec::new());
        }
        Ok(())
    }

    /// POST /populate and `--config`: create or replace the proxies listed. One whose
    /// listen and upstream are unchanged is kept as it is, toxics and connections included;
    /// a changed one is stopped and replaced. Proxies not listed are left alone. On an error
    /// the proxies created so far are returned with it.
    pub fn populate(&mut self, list: &[ProxyInput]) -> (Vec<String>, Option<ApiError>) {
        let mut out = Vec::new();
        for p in list {
            if let Some(existing) = self.proxies.get(&p.name)
                && existing.upstream == p.upstream
                && same_listen(&existing.listen, &p.listen)
            {
                out.push(serde_json::to_string(&existing.json()).unwrap_or_default());
                continue;
            }
            if let Some(mut old) = self.proxies.remove(&p.name) {
                old.stop();
            }
            let mut proxy = Proxy::new(p, self.env.clone());
            if p.enabled.unwrap_or(true)
                && let Err(e) = proxy.start()
            {
                return (out, Some(e));
            }
            out.push(serde_json::to_string(&proxy.json()).unwrap_or_default());
            self.proxies.insert(p.name.clone(), proxy);
        }
        (out, None)
    }

    /// Connections still live in any proxy.
    pub fn live(&self) -> usize {
        self.proxies.values().map(|p| p.book.live()).sum()
    }

    /// Stops every proxy (SIGTERM, SIGINT).
    pub fn stop_all(&mut self) {
        for p in self.proxies.values_mut() {
            p.stop();
        }
    }
}

fn same_listen(bound: &str, asked: &str) -> bool {
    bound == asked
        || resolve_listen(asked)
            .ok()
            .is_some_and(|a| a.port() != 0 && Some(a) == bound.parse().ok())
}
