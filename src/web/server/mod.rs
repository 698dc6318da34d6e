//! The accept loop: hyper 1.x on tokio, with limits that keep bad clients
//! from stalling a scrape, and graceful shutdown.

mod slots;
mod write_deadline;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::webconfig::WebConfig;
use super::App;
use crate::metrics::CloseReason;
use slots::{Conn, Slots};
use write_deadline::WriteDeadline;

/// Time a connection has from accept to its first request head (TLS
/// handshake and HTTP/2 preface included), and an HTTP/1 keep-alive
/// connection to send its next head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time an HTTP/2 connection may stay without a request in flight.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time a write may wait for a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 pings check a quiet peer is still there, and must be answered
/// within [`H2_PING_TIMEOUT`].
const H2_PING_EVERY: Duration = Duration::from_secs(20);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Streams per HTTP/2 connection (Prometheus uses one).
const H2_MAX_STREAMS: u32 = 32;
/// Connections served at once. Past it a new connection takes the place of
/// the oldest one without a request in flight, so clients that connect and
/// wait cannot keep a scrape out.
const MAX_CONNECTIONS: usize = 1024;
/// Largest request head accepted.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long in-flight requests get after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the listener could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {source}")]
pub struct BindError {
    address: String,
    source: std::io::Error,
}

/// Binds a Prometheus-style listen address: `host:port`, `[v6]:port`, or
/// `:port` for every interface.
pub(crate) async fn bind(address: &str) -> Result<TcpListener, BindError> {
    let err = |source| BindError {
        address: address.to_string(),
        source,
    };
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| {
            err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "bad port",
            ))
        })?;
        // Dual-stack where IPv6 exists, else IPv4 only.
        return match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(SocketAddr::from(([0u8; 4], port)))
                .await
                .map_err(err),
        };
    }
    TcpListener::bind(address).await.map_err(err)
}

/// Serves `app` on `listener` until `shutdown` completes, then lets
/// in-flight requests finish for a short grace period.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Slots::new(app.metrics.clone());
    let web_check = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(super::webconfig::CHECK_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let app = app.clone();
                let _ = tokio::task::spawn_blocking(move || app.web.refresh()).await;
            }
        })
    };
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = slots.take() else {
            app.metrics.web_connection_closed(CloseReason::Rejected);
            tracing::debug!(%peer, "every connection has a request in flight; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, watcher) = (app.clone(), graceful.watcher());
        tokio::spawn(async move {
            let conn = slot.conn.clone();
            let metrics = app.metrics.clone();
            tokio::select! {
                () = conn.evicted.notified() => {
                    metrics.web_connection_closed(CloseReason::Evicted);
                    tracing::debug!(%peer, "closed to make room for a new connection");
                }
                () = conn.expired() => {
                    let reason = if conn.requested() {
                        CloseReason::IdleTimeout
                    } else {
                        CloseReason::HeadTimeout
                    };
                    metrics.web_connection_closed(reason);
                    tracing::debug!(%peer, ?reason, "closed: no request within the deadline");
                }
                () = serve_tcp(stream, app, conn.clone(), watcher, peer) => {}
            }
            drop(slot);
        });
    }
    drop(listener);
    web_check.abort();
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period; closing them");
    }
}

async fn serve_tcp(
    stream: tokio::net::TcpStream,
    app: Arc<App>,
    conn: Arc<Conn>,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
) {
    let stream = WriteDeadline::new(stream, app.metrics.clone());
    let config = app.web.current();
    match config.tls.clone() {
        Some(tls) => match tokio_rustls::TlsAcceptor::from(tls).accept(stream).await {
            Ok(s) => serve_connection(s, app, config, conn, watcher, peer).await,
            Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        },
        None => serve_connection(stream, app, config, conn, watcher, peer).await,
    }
}

async fn serve_connection<I>(
    io: I,
    app: Arc<App>,
    config: Arc<WebConfig>,
    conn: Arc<Conn>,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_EVERY)
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_header_list_size(MAX_HEADER_BYTES as u32);
    if !config.http2 {
        builder = builder.http1_only();
    }
    let service = service_fn(move |req| {
        let (app, conn) = (app.clone(), conn.clone());
        async move {
            let _busy = conn.busy();
            // Per request, not per connection: a revoked password must stop
            // working on open keep-alive connections too.
            let config = app.web.current();
            Ok::<_, Infallible>(super::answer(&app, &config, &req).await)
        }
    });
    let served = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(served.into_owned()).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
