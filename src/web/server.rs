//! The accept loop: hyper 1.x on tokio, with limits that keep bad clients
//! from stalling a scrape, and graceful shutdown.

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
use tokio::sync::Semaphore;

use super::webconfig::WebConfig;
use super::App;

/// Time a client has to send its request headers (slowloris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more are closed at accept.
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
pub async fn bind(address: &str) -> Result<TcpListener, BindError> {
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
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
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
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection limit reached; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, watcher) = (app.clone(), graceful.watcher());
        tokio::spawn(async move {
            let config = app.web.current();
            match config.tls.clone() {
                Some(tls) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                    match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => serve_connection(s, app, config, watcher, peer).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => serve_connection(stream, app, config, watcher, peer).await,
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period; closing them");
    }
}

async fn serve_connection<I>(
    io: I,
    app: Arc<App>,
    config: Arc<WebConfig>,
    watcher: hyper_util::server::graceful::Watcher,
    peer: std::net::SocketAddr,
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
        .max_header_list_size(MAX_HEADER_BYTES as u32);
    if !config.http2 {
        builder = builder.http1_only();
    }
    let service = service_fn(move |req| {
        let (app, config) = (app.clone(), config.clone());
        async move { Ok::<_, Infallible>(super::answer(&app, &config, &req).await) }
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
