//! The HTTP prober, on hyper's client connection API so that every phase
//! (resolve, connect, tls, processing, transfer) is timed separately.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, HOST, LOCATION, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{connect, handshake, resolve, Failure, FailureReason, Phase, ProbeReport};
use crate::config::HttpSpec;

/// Redirect hops followed at most.
const MAX_REDIRECTS: u32 = 10;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One request of a probe: the first, or one after a redirect.
struct Hop {
    uri: Uri,
    method: Method,
    body: Option<String>,
    /// Whether `basic_auth`, `bearer_token_file` and `headers` go along:
    /// only to the origin of the configured URL, so a redirect to another
    /// host never receives them.
    credentials: bool,
}

/// Scheme, host and port, with the scheme's default port filled in.
fn origin(uri: &Uri) -> (String, String, u16) {
    let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let host = uri.host().unwrap_or_default().to_ascii_lowercase();
    (scheme, host, port)
}

/// Probes `spec`, filling `report` as it goes.
pub async fn probe(spec: &HttpSpec, report: &mut ProbeReport) -> Result<(), Failure> {
    let home = origin(&spec.url);
    let mut hop = Hop {
        uri: spec.url.clone(),
        method: spec.method.clone(),
        body: spec.body.clone(),
        credentials: true,
    };
    loop {
        let (status, location) = request(spec, &hop, report).await?;
        let redirect = (300..400).contains(&status) && spec.follow_redirects;
        match location {
            Some(loc) if redirect => {
                if report.redirects >= MAX_REDIRECTS {
                    return Err(Failure::new(
                        FailureReason::Other,
                        format!("more than {MAX_REDIRECTS} redirects"),
                    ));
                }
                report.redirects += 1;
                hop.uri = join(&hop.uri, &loc).ok_or_else(|| {
                    Failure::new(
                        FailureReason::Other,
                        format!("bad redirect location {loc:?}"),
                    )
                })?;
                hop.credentials = origin(&hop.uri) == home;
                // As Go's client: 301, 302 and 303 drop the body and turn
                // any method but GET and HEAD into GET; 307 and 308 keep both.
                if matches!(status, 301..=303) {
                    hop.body = None;
                    if hop.method != Method::GET && hop.method != Method::HEAD {
                        hop.method = Method::GET;
                    }
                }
            }
            _ => return Ok(()),
        }
    }
}

/// One request/response exchange on a fresh connection. Returns the status
/// and, for a redirect, its `Location`.
async fn request(
    spec: &HttpSpec,
    hop: &Hop,
    report: &mut ProbeReport,
) -> Result<(u16, Option<String>), Failure> {
    let uri = &hop.uri;
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addrs = resolve(host, port, spec.policy.as_ref(), report).await?;
    let tcp = connect(&addrs, report).await?;
    report.tls = https;
    let io: Box<dyn Io> = if https {
        let name = spec
            .server_name
            .as_deref()
            .unwrap_or(host.trim_start_matches('[').trim_end_matches(']'));
        Box::new(handshake(tcp, &spec.tls, name, report).await?)
    } else {
        Box::new(tcp)
    };

    let t = Instant::now();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| Failure::new(FailureReason::Other, format!("HTTP handshake: {e}")))?;
    // The connection task ends when the exchange is over or the probe is dropped.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let authority = uri.authority().map_or(host, |a| a.as_str());
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = Request::builder()
        .method(hop.method.clone())
        .uri(path)
        .header(HOST, authority)
        .header(
            USER_AGENT,
            concat!("vitals_exporter/", env!("CARGO_PKG_VERSION")),
        );
    let (headers, authorization) = if hop.credentials {
        (&spec.headers[..], spec.authorization.as_ref())
    } else {
        (&[][..], None)
    };
    for (name, value) in headers {
        req = req.header(name, value.expose());
    }
    if let Some(auth) = authorization {
        let mut v = HeaderValue::from_str(auth.expose())
            .map_err(|_| Failure::new(FailureReason::Other, "invalid authorization value"))?;
        v.set_sensitive(true);
        req = req.header(AUTHORIZATION, v);
    }
    let body = Full::new(Bytes::from(hop.body.clone().unwrap_or_default()));
    let req = req
        .body(body)
        .map_err(|e| Failure::new(FailureReason::Other, format!("building request: {e}")))?;
    let resp = sender.send_request(req).await;
    report.add_phase(Phase::Processing, t.elapsed());
    let resp =
        resp.map_err(|e| Failure::new(FailureReason::Other, format!("HTTP request: {e}")))?;
    let status = resp.status().as_u16();
    report.http_status = Some(status);
    report.body_bytes = 0;
    report.content_length = resp
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(-1);
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        // As Go's client: an empty `Location` is no redirect.
        .filter(|l| !l.is_empty())
        .map(str::to_string);

    let t = Instant::now();
    // Only the regexes need the bytes: without them a probe holds one frame
    // at a time, whatever max_body_bytes allows.
    let keep = !(spec.fail_if_body_matches.is_empty() && spec.fail_if_body_not_matches.is_empty());
    let body = read_body(resp.into_body(), spec.max_body_bytes, keep, report).await;
    report.add_phase(Phase::Transfer, t.elapsed());
    let body = body?;

    if location.is_some() && (300..400).contains(&status) && spec.follow_redirects {
        return Ok((status, location));
    }
    let ok = if spec.valid_status_codes.is_empty() {
        (200..300).contains(&status)
    } else {
        spec.valid_status_codes.contains(&status)
    };
    if !ok {
        return Err(Failure::new(
            FailureReason::Status,
            format!("status {status} not accepted"),
        ));
    }
    if let Some(r) = spec.fail_if_body_matches.iter().find(|r| r.is_match(&body)) {
        report.regex_failed = true;
        return Err(Failure::new(
            FailureReason::Body,
            format!("body matched {:?}", r.as_str()),
        ));
    }
    if let Some(r) = spec
        .fail_if_body_not_matches
        .iter()
        .find(|r| !r.is_match(&body))
    {
        report.regex_failed = true;
        return Err(Failure::new(
            FailureReason::Body,
            format!("body did not match {:?}", r.as_str()),
        ));
    }
    Ok((status, None))
}

/// Reads the body, failing once it exceeds `max` bytes; returns it when
/// `keep`, else counts it only.
async fn read_body(
    mut body: hyper::body::Incoming,
    max: u64,
    keep: bool,
    report: &mut ProbeReport,
) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| Failure::new(FailureReason::Other, format!("reading body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            report.body_bytes += data.len() as u64;
            if report.body_bytes > max {
                return Err(Failure::new(
                    FailureReason::Body,
                    format!("body larger than max_body_bytes ({max})"),
                ));
            }
            if keep {
                buf.extend_from_slice(&data);
            }
        }
    }
    Ok(buf)
}

/// Resolves a `Location` against the URI it came from (RFC 3986, as
/// browsers and Go do: `//host/x` is another host, `?q` keeps the path).
/// The userinfo and fragment are dropped: neither goes on the wire.
fn join(base: &Uri, location: &str) -> Option<Uri> {
    let mut u = url::Url::parse(&base.to_string())
        .ok()?
        .join(location)
        .ok()?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return None;
    }
    u.set_username("").ok()?;
    u.set_password(None).ok()?;
    u.set_fragment(None);
    u.as_str().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::join;
    use hyper::Uri;

    #[test]
    fn redirect_targets() {
        let base: Uri = "http://a:1/x/y?q".parse().unwrap();
        let j = |loc: &str| join(&base, loc).map(|u| u.to_string());
        for (loc, want) in [
            ("/z", "http://a:1/z"),
            ("z", "http://a:1/x/z"),
            ("./z", "http://a:1/x/z"),
            ("../z", "http://a:1/z"),
            ("../../../z", "http://a:1/z"),
            ("?r=1", "http://a:1/x/y?r=1"),
            ("", "http://a:1/x/y?q"),
            ("#frag", "http://a:1/x/y?q"),
            ("//b/c", "http://b/c"),
            ("//b:8080", "http://b:8080/"),
            ("https://b/c", "https://b/c"),
            ("HTTPS://B:443/c", "https://b/c"),
            ("http://mallory:pw@b/c", "http://b/c"),
            ("http://[::1]:9/c", "http://[::1]:9/c"),
            ("/a b", "http://a:1/a%20b"),
        ] {
            assert_eq!(j(loc).as_deref(), Some(want), "{loc}");
        }
        for bad in ["ftp://b/c", "http://", "//", "mailto:x@y", "http://[::1/"] {
            assert_eq!(j(bad), None, "{bad}");
        }
    }
}
