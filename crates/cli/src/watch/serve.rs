//! `watch --metrics`: the counters served at `/metrics` by axum on a tokio runtime of its
//! own thread (the same HTTP stack as the proxy's API), so the reading loop never waits for a
//! scrape.

use std::net::SocketAddr;
use std::sync::Arc;
use tcpmortem_watch::metrics::Metrics;

/// OpenMetrics 1.0 text, which Prometheus asks for first and prometheus-client writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `addr` now (so a taken port is an error at start) and serves in the background;
/// returns the counters to update and the address bound (port 0 picks one).
pub fn serve(addr: SocketAddr) -> std::io::Result<(Arc<Metrics>, SocketAddr)> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let metrics = Arc::new(Metrics::new());
    metrics.declare_kinds();
    let m = metrics.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            runtime.block_on(async move {
                let app = axum::Router::new().route(
                    "/metrics",
                    axum::routing::get(move || {
                        let m = m.clone();
                        async move {
                            (
                                [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
                                m.encode(),
                            )
                        }
                    }),
                );
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        if let Err(e) = axum::serve(l, app).await {
                            eprintln!("tcpmortem: metrics server stopped: {e}");
                        }
                    }
                    Err(e) => eprintln!("tcpmortem: metrics server: {e}"),
                }
            })
        })?;
    Ok((metrics, bound))
}
