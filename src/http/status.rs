//! Certificate status for relying parties: OCSP (`POST /ocsp`, `GET /ocsp/{base64}`) and
//! CRLs (`GET /crl/issuing.crl`, `GET /crl/root.crl`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use time::OffsetDateTime;

use super::{AppState, Problem};
use crate::crl::PublishedCrl;
use crate::ocsp::{http_date, malformed_request, CachingHeaders, OcspAnswer, MAX_REQUEST_BYTES};

const OCSP_RESPONSE: &str = "application/ocsp-response";

/// An OCSP answer: the DER as a shared buffer (nothing copied) and one `HeaderMap`
/// filled in place. With `caching` (GET), the RFC 5019 §6.2 headers: their values are
/// rendered once per cached response, only `max-age` (seconds left) per request.
///
/// Generic over the body so that the router's handlers (axum's `Body`) and the status
/// fast path (`fast`, a plain `Full<Bytes>` that hyper writes without boxing) send the
/// same bytes and headers.
fn ocsp_response<B: From<bytes::Bytes>>(
    answer: &OcspAnswer,
    caching: Option<&CachingHeaders>,
) -> axum::http::Response<B> {
    let mut response = axum::http::Response::new(B::from(answer.der.clone()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(OCSP_RESPONSE),
    );
    let caching = caching.zip(answer.freshness).and_then(|(caching, fresh)| {
        let max_age = (fresh.next_update - OffsetDateTime::now_utc())
            .whole_seconds()
            .max(0);
        // Only characters HeaderValue accepts: this cannot fail.
        let cache_control = HeaderValue::from_maybe_shared(bytes::Bytes::from(format!(
            "max-age={max_age}, public, no-transform, must-revalidate"
        )))
        .ok()?;
        Some((caching, cache_control))
    });
    match caching {
        Some((caching, cache_control)) => {
            headers.insert(header::CACHE_CONTROL, cache_control);
            headers.insert(header::LAST_MODIFIED, caching.last_modified.clone());
            headers.insert(header::EXPIRES, caching.expires.clone());
            headers.insert(header::ETAG, caching.etag.clone());
        }
        None => {
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, no-store"),
            );
        }
    }
    response
}

/// The answer to an OCSP POST whose body was read (`None`: unreadable or over
/// [`MAX_REQUEST_BYTES`]), for the router's handler and the fast path alike.
pub(super) fn ocsp_post_answer<B: From<bytes::Bytes>>(
    state: &AppState,
    body: Option<&[u8]>,
) -> axum::http::Response<B> {
    // Oversized or unreadable bodies get the RFC's answer, not an HTTP error page.
    let Some(body) = body else {
        return ocsp_response(&malformed_request(), None);
    };
    if let Some(hit) = state.ocsp.cached_response(body) {
        return ocsp_response(hit.answer(), None);
    }
    // A miss costs one signature and a small store read (tens of microseconds): cheaper
    // inline than a hop to the blocking pool.
    ocsp_response(&state.ocsp.respond(body), None)
}

/// The answer to an OCSP GET, given its path parameter percent-decoded (`None`: it could
/// not be), for the router's handler and the fast path alike.
///
/// The base64 is decoded into a buffer on the stack (RFC 5019 §5 keeps GET requests
/// under 255 bytes); only a longer one takes a buffer from the heap.
pub(super) fn ocsp_get_answer<B: From<bytes::Bytes>>(
    state: &AppState,
    encoded: Option<&[u8]>,
) -> axum::http::Response<B> {
    // A path that is not UTF-8 once decoded is a request that cannot be used: OCSP's
    // answer, not an HTTP error. (Bytes that are not UTF-8 are not base64 either.)
    let Some(encoded) = encoded else {
        return ocsp_response(&malformed_request(), None);
    };
    let start = encoded
        .iter()
        .position(|byte| *byte != b'/')
        .unwrap_or(encoded.len());
    let text = encoded.get(start..).unwrap_or_default();
    let mut stack = [0u8; STACK_DER_BYTES];
    let mut heap = Vec::new();
    let room = base64::decoded_len_estimate(text.len());
    let buffer = match stack.get_mut(..room) {
        Some(buffer) => buffer,
        None => {
            heap.resize(room, 0);
            heap.as_mut_slice()
        }
    };
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let Some(length) = engines
        .iter()
        .find_map(|engine| engine.decode_slice(text, &mut *buffer).ok())
    else {
        return ocsp_response(&malformed_request(), None);
    };
    let der = buffer.get(..length).unwrap_or_default();
    if let Some(hit) = state.ocsp.cached_response(der) {
        return ocsp_response(hit.answer(), hit.caching_headers());
    }
    // A miss costs one signature and a small store read (tens of microseconds): cheaper
    // inline than a hop to the blocking pool.
    let answer = state.ocsp.respond(der);
    let caching = answer.freshness.as_ref().and_then(CachingHeaders::new);
    ocsp_response(&answer, caching.as_ref())
}

/// Bytes of DER a GET request decodes into without a heap buffer.
const STACK_DER_BYTES: usize = 512;

/// OCSP over POST (RFC 6960 Appendix A.1). Every outcome is an OCSP response, HTTP 200.
#[utoipa::path(post, path = "/ocsp", tag = "status",
    description = "OCSP over POST (RFC 6960 Appendix A.1). Every outcome is an OCSP response, HTTP 200: input that cannot be used (not DER, over 10,000 bytes, no or more than 64 CertIDs, a bad nonce) gets the unsigned `malformedRequest` response. The request's Content-Type is not checked (OCSP clients get an OCSP answer, never a 415).",
    request_body(description = "DER OCSPRequest", content(("application/ocsp-request"))),
    responses((status = 200, description = "DER OCSPResponse (malformedRequest for bad input)", content_type = "application/ocsp-response")))]
pub(crate) async fn ocsp_post(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let body = axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES).await;
    ocsp_post_answer(&state, body.as_deref().ok())
}

/// OCSP over GET: the DER request, base64, URL-encoded (RFC 6960 Appendix A.1; RFC 5019 §5).
#[utoipa::path(get, path = "/ocsp/{request}", tag = "status",
    params(("request" = String, Path, description = "URL-encoded base64 (standard or URL-safe alphabet, padding optional) of the DER OCSPRequest; it may contain `/`")),
    responses((status = 200, description = "DER OCSPResponse with RFC 5019 caching headers (malformedRequest for bad input)", content_type = "application/ocsp-response")))]
pub(crate) async fn ocsp_get(
    State(state): State<Arc<AppState>>,
    encoded: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let encoded = encoded.ok();
    ocsp_get_answer(
        &state,
        encoded.as_ref().map(|Path(encoded)| encoded.as_bytes()),
    )
}

/// Issuing CA 1's current CRL (the CRL distribution point of its certificates; later
/// CAs publish at `/crl/issuing-N.crl`).
#[utoipa::path(get, path = "/crl/issuing.crl", tag = "status",
    responses(
        (status = 200, description = "DER CRL", content_type = "application/pkix-crl"),
        (status = 304, description = "Not modified (If-None-Match)"),
    ))]
pub(crate) async fn issuing_crl(
    State(state): State<Arc<AppState>>,
    request_headers: HeaderMap,
) -> Result<Response, Problem> {
    let crl = state
        .crl
        .current(1)
        .ok_or_else(|| Problem::internal(&"no CRL has been generated yet"))?;
    Ok(crl_response("crl", &crl, &request_headers))
}

/// Issuing CA N's current CRL (`issuing-N.crl`), or the CRL of the root of a further
/// hierarchy (`root-N.crl`, N ≥ 2; `paypki ca add-hierarchy`).
#[utoipa::path(get, path = "/crl/{file}", tag = "status",
    params(("file" = String, Path, description = "`issuing-N.crl` or `root-N.crl` (N ≥ 2); anything else is 404", pattern = "^(?:issuing|root)-[0-9]+\\.crl$")),
    responses(
        (status = 200, description = "DER CRL", content_type = "application/pkix-crl"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "The path is not valid UTF-8 (malformed-request)", body = Problem),
        (status = 404, description = "No such CRL (not-found)", body = Problem),
    ))]
pub(crate) async fn crl_file(
    State(state): State<Arc<AppState>>,
    super::extract::ApiPath(file): super::extract::ApiPath<String>,
    request_headers: HeaderMap,
) -> Result<Response, Problem> {
    if let Some(der) = file
        .strip_prefix("root-")
        .and_then(|rest| rest.strip_suffix(".crl"))
        .and_then(|id| id.parse::<u32>().ok())
        .filter(|id| *id >= 2)
        .and_then(|id| state.ra.ca().other_root_crl(id))
    {
        return Ok(super::typed_body("application/pkix-crl", der.to_vec()));
    }
    let crl = file
        .strip_prefix("issuing-")
        .and_then(|rest| rest.strip_suffix(".crl"))
        .and_then(|id| id.parse::<u32>().ok())
        .and_then(|id| state.crl.current(id).map(|crl| (id, crl)));
    match crl {
        // CA 1 keeps the ETag form of the first version ("crl-<number>").
        Some((id, crl)) => {
            let tag = if id == 1 {
                "crl".into()
            } else {
                format!("crl{id}")
            };
            Ok(crl_response(&tag, &crl, &request_headers))
        }
        None => Err(Problem::not_found(format!(
            "no such CRL: /crl/{file}; see /openapi.json"
        ))),
    }
}

/// The root's CRL: signed offline with the root key, published by the server after it
/// checked the signature.
#[utoipa::path(get, path = "/crl/root.crl", tag = "status",
    responses(
        (status = 200, description = "DER CRL", content_type = "application/pkix-crl"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No root CRL yet (`paypki crl --root`)", body = Problem),
    ))]
pub(crate) async fn root_crl(
    State(state): State<Arc<AppState>>,
    request_headers: HeaderMap,
) -> Result<Response, Problem> {
    let crl = state.root_crl.current().ok_or_else(|| {
        Problem::not_found("this CA publishes no root CRL yet: the administrator runs `paypki crl --root --root-key FILE`")
    })?;
    Ok(crl_response("root", &crl, &request_headers))
}

/// A CRL with the caching headers relying parties and caches use (RFC 5019-style: ETag
/// by cRLNumber, Last-Modified = thisUpdate, Expires = nextUpdate).
fn crl_response(tag: &str, crl: &PublishedCrl, request_headers: &HeaderMap) -> Response {
    let etag = format!("\"{tag}-{}\"", crl.number);
    let not_modified = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let max_age = (crl.next_update - OffsetDateTime::now_utc())
        .whole_seconds()
        .clamp(0, 3600);
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (header::CONTENT_TYPE, "application/pkix-crl".to_string()),
        (
            header::CACHE_CONTROL,
            format!("public, max-age={max_age}, no-transform"),
        ),
        (header::LAST_MODIFIED, http_date(crl.this_update)),
        (header::EXPIRES, http_date(crl.next_update)),
        (header::ETAG, etag),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    if not_modified {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        StatusCode::OK,
        headers,
        Body::from(crl.der.as_ref().clone()),
    )
        .into_response()
}
