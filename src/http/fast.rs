//! The status fast path: `POST /ocsp` and `GET /ocsp/{base64}` answered before axum's
//! router sees the request; every other request goes to the router unchanged.
//!
//! A pre-signed OCSP answer is a hash lookup and a write of about 1 KB, so the HTTP
//! stack around it is most of its cost (docs/PERFORMANCE.md, issue 19). The router
//! gives each request work OCSP does not use: route matching, two boxed services, the
//! peer address, matched path and route parameters as extensions (a hash map), axum's
//! body box, the percent-decoded parameter as a `String`, and a request-timeout timer
//! for a body already in hand. Here the method and path are compared, the body is read
//! directly from hyper, a timer is armed only if the body is not complete at the first
//! poll, and the answer is built by the same functions the router's handlers use
//! (`status::ocsp_post_answer`, `status::ocsp_get_answer`): the same bytes and caching
//! headers, the same metrics series (route `/ocsp` and `/ocsp/{*request}`), the same
//! body limit, the same answers to a timeout (503) and a panic (500).
//!
//! What the fast path does not take (HEAD, other methods, `/ocsp/` with nothing after
//! it) is the router's, exactly as before.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::{Method, Response};
use axum::response::IntoResponse;
use axum::Router;
use bytes::{Bytes, BytesMut};
use futures_util::future::Either;
use futures_util::FutureExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tower::Service;

use super::metrics::{self, RouteIndex};
use super::{status, AppState, HttpSettings};
use crate::ocsp::MAX_REQUEST_BYTES;

/// The body of every answer: the fast path's shared buffer, or whatever the router made.
pub type ResponseBody = http_body_util::Either<Full<Bytes>, axum::body::Body>;

/// The server's request handler: the status fast path, then the router.
#[derive(Clone)]
pub struct App {
    router: Router,
    status: Arc<StatusPath>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// What the fast path needs, shared by every connection.
struct StatusPath {
    state: Arc<AppState>,
    request_timeout: Duration,
    post_route: RouteIndex,
    get_route: RouteIndex,
}

/// The two requests the fast path answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusRequest {
    /// `POST /ocsp`.
    Post,
    /// `GET /ocsp/{request}`: the raw (still percent-encoded) text after `/ocsp/`.
    Get,
}

impl App {
    /// Every route ([`super::router`]) behind the status fast path.
    pub fn new(state: Arc<AppState>, settings: &HttpSettings) -> App {
        let status = Arc::new(StatusPath {
            state: state.clone(),
            request_timeout: settings.request_timeout,
            post_route: metrics::route_index(Some("/ocsp")),
            get_route: metrics::route_index(Some("/ocsp/{*request}")),
        });
        App {
            router: super::router(state, settings),
            status,
        }
    }

    /// Answers one request that arrived on a connection from `remote`.
    pub fn call(
        &self,
        mut request: hyper::Request<Incoming>,
        remote: SocketAddr,
    ) -> impl Future<Output = Result<Response<ResponseBody>, Infallible>> + Send + 'static {
        match status_request(request.method(), request.uri().path()) {
            Some(kind) => {
                let status = self.status.clone();
                // A bug must never take the connection down or leak details: the same
                // 500 as the router's panic guard (and, as there, no metrics).
                Either::Left(
                    AssertUnwindSafe(async move { status.answer(kind, request).await })
                        .catch_unwind()
                        .map(|answered| {
                            Ok(answered.unwrap_or_else(|_| {
                                super::panicked_response().map(http_body_util::Either::Right)
                            }))
                        }),
                )
            }
            None => {
                // What `into_make_service_with_connect_info` would insert: handlers read it.
                request.extensions_mut().insert(ConnectInfo(remote));
                let mut router = self.router.clone();
                Either::Right(async move {
                    let response = router.call(request).await?;
                    Ok(response.map(http_body_util::Either::Right))
                })
            }
        }
    }
}

/// Which status request this is, from the method and the path alone (the query is not
/// part of `path`, as for the router); `None`: the router's.
fn status_request(method: &Method, path: &str) -> Option<StatusRequest> {
    if *method == Method::POST && path == "/ocsp" {
        return Some(StatusRequest::Post);
    }
    // `/ocsp/{*request}` matches only a non-empty rest.
    if *method == Method::GET && path.len() > "/ocsp/".len() && path.starts_with("/ocsp/") {
        return Some(StatusRequest::Get);
    }
    None
}

impl StatusPath {
    async fn answer(
        &self,
        kind: StatusRequest,
        request: hyper::Request<Incoming>,
    ) -> Response<ResponseBody> {
        let started = Instant::now();
        let state = &*self.state;
        let (response, method, route) = match kind {
            StatusRequest::Post => {
                let body = match self.read_body(request.into_body(), started).await {
                    Ok(body) => body,
                    // As the router's timeout layer (outside its metrics): not counted.
                    Err(TimedOut) => {
                        return super::timed_out_problem()
                            .into_response()
                            .map(http_body_util::Either::Right)
                    }
                };
                let response = status::ocsp_post_answer(state, body.as_deref());
                (response, "POST", self.post_route)
            }
            StatusRequest::Get => {
                let raw = request
                    .uri()
                    .path()
                    .get("/ocsp/".len()..)
                    .unwrap_or_default();
                let response = with_percent_decoded(raw.as_bytes(), |encoded| {
                    status::ocsp_get_answer(state, Some(encoded))
                });
                (response, "GET", self.get_route)
            }
        };
        super::observed(state, started, method, route, None, &response);
        response.map(http_body_util::Either::Left)
    }

    /// The whole body, or `None` past [`MAX_REQUEST_BYTES`] or when it cannot be read
    /// (what `axum::body::to_bytes` with that limit gives the router's handler).
    ///
    /// The request timeout's timer is armed only when the body is not complete at the
    /// first poll: hyper has usually read a small body with the head.
    async fn read_body(&self, body: Incoming, started: Instant) -> Result<Option<Bytes>, TimedOut> {
        let reading = collect_limited(body, MAX_REQUEST_BYTES);
        let mut reading = std::pin::pin!(reading);
        let first = std::future::poll_fn(|cx| Poll::Ready(reading.as_mut().poll(cx))).await;
        match first {
            Poll::Ready(body) => Ok(body),
            Poll::Pending => {
                let left = self.request_timeout.saturating_sub(started.elapsed());
                tokio::time::timeout(left, reading)
                    .await
                    .map_err(|_| TimedOut)
            }
        }
    }
}

/// The request outlived the request timeout.
struct TimedOut;

/// Reads a body to its end: `None` once it is over `limit` bytes or fails. One data
/// frame (the usual case) is kept as it is, without a copy.
async fn collect_limited(mut body: Incoming, limit: usize) -> Option<Bytes> {
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.ok()?.into_data() else {
            // Trailers: ignored, as `to_bytes` does.
            continue;
        };
        total = total.checked_add(data.len()).filter(|t| *t <= limit)?;
        match (&mut first, &mut more) {
            (None, _) => first = Some(data),
            (Some(head), None) => {
                let mut joined = BytesMut::with_capacity(total);
                joined.extend_from_slice(head);
                joined.extend_from_slice(&data);
                more = Some(joined);
            }
            (Some(_), Some(joined)) => joined.extend_from_slice(&data),
        }
    }
    Some(match (first, more) {
        (_, Some(joined)) => joined.freeze(),
        (Some(only), None) => only,
        (None, None) => Bytes::new(),
    })
}

/// Bytes of a GET path decoded on the stack; a longer one takes a heap buffer.
const STACK_PATH_BYTES: usize = 512;

/// Calls `then` with `raw` percent-decoded (RFC 3986 §2.1: `%XX` is that byte; a `%` not
/// followed by two hex digits stays as it is, as axum's path parameters decode it),
/// without allocating for paths of RFC 5019 §5's size.
fn with_percent_decoded<R>(raw: &[u8], then: impl FnOnce(&[u8]) -> R) -> R {
    let mut stack = [0u8; STACK_PATH_BYTES];
    let mut heap = Vec::new();
    let buffer = match stack.get_mut(..raw.len()) {
        Some(buffer) => buffer,
        None => {
            heap.resize(raw.len(), 0);
            heap.as_mut_slice()
        }
    };
    let length = percent_decode_into(raw, buffer);
    then(buffer.get(..length).unwrap_or_default())
}

/// Percent-decodes `raw` into `out` (at least as long: decoding never lengthens) and
/// returns the decoded length.
fn percent_decode_into(raw: &[u8], out: &mut [u8]) -> usize {
    let mut read = 0;
    let mut written = 0;
    while let Some(&byte) = raw.get(read) {
        let escaped = match (byte, raw.get(read + 1), raw.get(read + 2)) {
            (b'%', Some(&high), Some(&low)) => hex_value(high)
                .zip(hex_value(low))
                .map(|(high, low)| high << 4 | low),
            _ => None,
        };
        let (value, used) = escaped.map_or((byte, 1), |value| (value, 3));
        if let Some(slot) = out.get_mut(written) {
            *slot = value;
            written += 1;
        }
        read += used;
    }
    written
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_status_requests_take_the_fast_path() {
        for (method, path, expected) in [
            (Method::POST, "/ocsp", Some(StatusRequest::Post)),
            (Method::GET, "/ocsp/MEMwQTA", Some(StatusRequest::Get)),
            (Method::GET, "/ocsp//MEMwQTA", Some(StatusRequest::Get)),
            (Method::GET, "/ocsp/", None),
            (Method::GET, "/ocsp", None),
            (Method::HEAD, "/ocsp/MEMwQTA", None),
            (Method::PUT, "/ocsp", None),
            (Method::POST, "/ocsp/MEMwQTA", None),
            (Method::POST, "/ocsp/", None),
            (Method::POST, "/ocspx", None),
            (Method::GET, "/ocspx/MEMwQTA", None),
            (Method::GET, "/v1/verify", None),
        ] {
            assert_eq!(status_request(&method, path), expected, "{method} {path}");
        }
    }

    /// axum's own decoding of a path parameter is the oracle: a router whose handler
    /// echoes `/ocsp/{*request}` as `Path<String>` (only UTF-8 results can be compared
    /// that way; bytes that are not UTF-8 are not base64 either).
    #[tokio::test]
    async fn percent_decoding_matches_the_routers() {
        use axum::extract::Path;
        use tower::ServiceExt;
        let echo = Router::new().route(
            "/ocsp/{*request}",
            axum::routing::get(|Path(request): Path<String>| async move { request }),
        );
        for raw in [
            "MEMwQTA%2FMD0wOzAJBgUrDgMCGgUABBQ%2B%3D%3D",
            "plain+text/with=signs",
            "%2f%2F%zz%4%",
            "%25",
            "x%",
            "%e2%82%ac",
            "%2F%2Fleading",
        ] {
            let request = axum::http::Request::get(format!("/ocsp/{raw}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let response = echo.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200, "{raw}");
            let expected = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            let decoded = with_percent_decoded(raw.as_bytes(), <[u8]>::to_vec);
            assert_eq!(decoded, expected.to_vec(), "{raw}");
        }
        let long = "%41".repeat(STACK_PATH_BYTES);
        assert_eq!(
            with_percent_decoded(long.as_bytes(), <[u8]>::to_vec),
            vec![b'A'; STACK_PATH_BYTES]
        );
    }
}
