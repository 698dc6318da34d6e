//! The HTTP endpoints: `/metrics`, `/-/healthy`, `/-/ready` and the status page.

pub(crate) mod auth;
pub(crate) mod exposition;
mod pages;
mod probe;
pub(crate) mod server;
pub(crate) mod webconfig;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use hyper::{Method, Request, Response, StatusCode};

use crate::metrics::Metrics;
use crate::status::Board;

/// Content type of Prometheus text format 0.0.4.
pub(crate) const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics text 1.0.0.
pub(crate) const OPENMETRICS_FORMAT: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct App {
    /// Every metric.
    pub(crate) metrics: Arc<Metrics>,
    /// `/metrics` bodies, one encode shared by concurrent scrapes.
    pub(crate) exposition: Arc<exposition::Exposition>,
    /// Latest service states.
    pub(crate) board: Arc<Board>,
    /// Set once the config is loaded and the first probe round started.
    pub(crate) ready: AtomicBool,
    /// Path that serves metrics (`--web.telemetry-path`).
    pub(crate) telemetry_path: String,
    /// TLS, headers and users, reloaded when the file changes.
    pub(crate) web: webconfig::WebConfigSource,
    /// Basic-auth verification with its cache.
    pub(crate) auth: auth::Authenticator,
    /// Where `POST /-/reload` sends its request (`--web.enable-lifecycle`).
    pub(crate) reload: Option<tokio::sync::mpsc::Sender<crate::lifecycle::Request>>,
    /// `/probe` modules of the current configuration.
    pub(crate) modules: Arc<crate::lifecycle::Modules>,
    /// One permit per `/probe` request in flight (`--probe.max-concurrent`).
    pub(crate) probe_slots: tokio::sync::Semaphore,
}

/// Paths served without authentication: they reveal nothing, and liveness
/// and readiness probes (kubelet, load balancers) rarely carry credentials.
pub(crate) fn is_public(path: &str) -> bool {
    matches!(path, "/-/healthy" | "/-/ready")
}

/// Paths the exporter serves itself: `--web.telemetry-path` must not take
/// one (on a public one it would serve every metric without credentials).
const OWN_PATHS: [&str; 5] = ["/", "/-/healthy", "/-/ready", "/-/reload", "/probe"];

/// Refuses a `--web.telemetry-path` that is not a path or that another
/// endpoint already serves.
pub fn check_telemetry_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "--web.telemetry-path {path:?}: must start with \"/\""
        ));
    }
    if OWN_PATHS.contains(&path) {
        return Err(format!(
            "--web.telemetry-path {path:?}: already served by another endpoint ({}); choose another path",
            OWN_PATHS.join(", ")
        ));
    }
    Ok(())
}

/// Answers one request: authentication, routing, configured headers.
pub(crate) async fn answer<B>(
    app: &App,
    config: &webconfig::WebConfig,
    req: &Request<B>,
) -> Response<Body> {
    let mut resp = if config.users.is_empty() || is_public(req.uri().path()) {
        route(app, req).await
    } else {
        match app
            .auth
            .check(
                &config.users,
                req.headers().get(hyper::header::AUTHORIZATION),
            )
            .await
        {
            auth::Verdict::Allowed => route(app, req).await,
            auth::Verdict::Denied => {
                let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
                r.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"vitals_exporter\", charset=\"UTF-8\""),
                );
                r
            }
            auth::Verdict::Busy => text(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many authentication attempts\n",
            ),
        }
    };
    for (k, v) in &config.headers {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
    resp
}

type Body = Full<Bytes>;

/// Routes the endpoints that need to wait (reload), then the rest.
async fn route<B>(app: &App, req: &Request<B>) -> Response<Body> {
    if req.uri().path() == app.telemetry_path && matches!(*req.method(), Method::GET | Method::HEAD)
    {
        return metrics(app, req).await;
    }
    match req.uri().path() {
        "/probe" if req.method() == Method::GET => return probe::probe(app, req).await,
        "/-/reload" => {}
        _ => return handle(app, req),
    }
    if req.method() != Method::POST && req.method() != Method::PUT {
        return text(StatusCode::METHOD_NOT_ALLOWED, "use POST to reload\n");
    }
    let Some(tx) = &app.reload else {
        return text(
            StatusCode::FORBIDDEN,
            "Lifecycle API is not enabled (--web.enable-lifecycle).\n",
        );
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    if tx.send(reply).await.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    match answer.await {
        Ok(Ok(())) => text(StatusCode::OK, "Reloaded\n"),
        Ok(Err(e)) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            format!("failed to reload config: {e}\n").into(),
        ),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
    }
}

/// Routes one request.
pub(crate) fn handle<B>(app: &App, req: &Request<B>) -> Response<Body> {
    let path = req.uri().path();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are allowed\n",
        );
    }
    match path {
        "/" => html(pages::status_page(app)),
        "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
        "/-/ready" if app.ready.load(Ordering::Acquire) => text(StatusCode::OK, "Ready\n"),
        "/-/ready" => text(StatusCode::SERVICE_UNAVAILABLE, "Not ready\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Encodes (and compresses) off the async threads: a large exposition
/// (10 000 services take ~100 ms) would otherwise delay the probes
/// scheduled on that thread.
async fn metrics<B>(app: &App, req: &Request<B>) -> Response<Body> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let openmetrics = header(ACCEPT).is_some_and(wants_openmetrics);
    let gzip = header(ACCEPT_ENCODING).is_some_and(accepts_gzip);
    let body = app.exposition.body(openmetrics, gzip).await;
    let ct = if openmetrics {
        OPENMETRICS_FORMAT
    } else {
        TEXT_FORMAT
    };
    let mut resp = respond(StatusCode::OK, ct, body);
    resp.headers_mut()
        .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        resp.headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

/// True when `Accept-Encoding` lists gzip (or `*`) with a q above 0.
fn accepts_gzip(accept: &str) -> bool {
    lists(accept, |coding| {
        coding.eq_ignore_ascii_case("gzip") || coding == "*"
    })
}

/// True when the `Accept` header lists OpenMetrics text with a q above 0
/// (Prometheus lists it first by default).
fn wants_openmetrics(accept: &str) -> bool {
    lists(accept, |media| {
        media.eq_ignore_ascii_case("application/openmetrics-text")
    })
}

/// True when a comma-separated header (`Accept`, `Accept-Encoding`) has an
/// entry `wanted` takes, without `q=0`.
fn lists(header: &str, wanted: impl Fn(&str) -> bool) -> bool {
    header.split(',').any(|part| {
        let mut it = part.split(';').map(str::trim);
        let value = it.next().unwrap_or("");
        let q_zero = it.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        wanted(value) && !q_zero
    })
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    respond(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(body.as_bytes()),
    )
}

fn html(body: String) -> Response<Body> {
    respond(StatusCode::OK, "text/html; charset=utf-8", body.into())
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Error bodies echo what the client sent (a module name, a target):
    // browsers must not sniff them into HTML.
    headers.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::{accepts_gzip, check_telemetry_path, wants_openmetrics};

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("gzipx"));
    }

    #[test]
    fn telemetry_path_must_not_shadow_an_endpoint() {
        assert_eq!(check_telemetry_path("/metrics"), Ok(()));
        assert_eq!(check_telemetry_path("/-/metrics"), Ok(()));
        for p in ["/", "/-/healthy", "/-/ready", "/-/reload", "/probe"] {
            assert!(check_telemetry_path(p).is_err(), "{p}");
        }
        assert_eq!(
            check_telemetry_path("metrics"),
            Err("--web.telemetry-path \"metrics\": must start with \"/\"".to_string())
        );
    }

    #[test]
    fn accept_negotiation() {
        let prom = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert!(wants_openmetrics(prom));
        assert!(!wants_openmetrics("text/plain;version=0.0.4"));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
    }
}
