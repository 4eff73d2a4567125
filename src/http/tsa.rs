//! `POST /tsa`: the RFC 3161 time-stamping authority over HTTP (§3.4). The handler moves
//! bytes; what is accepted is decided in `ra::timestamp`, and the CA signs.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{AppState, Problem};
use crate::ra::timestamp::TimestampOutcome;

/// The request's media type (RFC 3161 §3.4).
pub const TIMESTAMP_QUERY: &str = "application/timestamp-query";
/// The response's media type (RFC 3161 §3.4).
pub const TIMESTAMP_REPLY: &str = "application/timestamp-reply";

/// Time-stamps a message imprint (RFC 3161 §3.4).
///
/// A request with another Content-Type gets a 415 problem, not a TimeStampResp: the
/// mistake is in the HTTP framing (typically `curl --data-binary` without `-H`), every
/// RFC 3161 client sets the type, and a problem document can say what to change, where a
/// `badDataFormat` reply would blame the request's bytes, which may be fine.
#[utoipa::path(post, path = "/tsa", tag = "evidence",
    description = "RFC 3161 time-stamping (§3.4): the body is a DER TimeStampReq, the answer a DER TimeStampResp, HTTP 200 for every request the protocol can answer. A granted token is CMS SignedData over a TSTInfo (policy 1.3.6.1.4.1.59001.2.1, accuracy 1 s, the nonce echoed, a 160-bit random serial), signed by the active issuing CA's TSA certificate (critical EKU id-kp-timeStamping) with the ESSCertIDv2 signing-certificate-v2 attribute of RFC 5816; with certReq the TSA and issuing CA certificates are included. Refusals are TimeStampResps with status rejection and the RFC 3161 §2.4.2 failInfo: badAlg (a hash other than SHA-256/384/512, SHA-1 included), badDataFormat (not DER, a digest of the wrong length, a nonce over 32 octets), unacceptedPolicy (a reqPolicy other than the TSA's), unacceptedExtension (any request extension), systemFailure (the CA cannot sign now).",
    request_body(description = "DER TimeStampReq", content(("application/timestamp-query"))),
    responses(
        (status = 200, description = "DER TimeStampResp: granted with a token, or rejection with its failInfo", content_type = "application/timestamp-reply"),
        (status = 413, description = "The body is over 96 KiB (payload-too-large)", body = Problem),
        (status = 415, description = "The Content-Type is not application/timestamp-query (unsupported-media-type)", body = Problem),
    ))]
pub(crate) async fn timestamp(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Problem> {
    let body = super::extract::binary_body(
        &headers,
        body,
        TIMESTAMP_QUERY,
        "send the DER TimeStampReq with Content-Type: application/timestamp-query (RFC 3161 §3.4), e.g. curl -H 'Content-Type: application/timestamp-query' --data-binary @request.tsq",
    )?;
    // One signature (tens of microseconds with a key file): inline, as OCSP signs.
    let (reply, outcome) = state.ra.timestamp(&body);
    let label = match outcome {
        TimestampOutcome::Granted => "granted",
        TimestampOutcome::Rejected(failure) => failure.name(),
    };
    state
        .metrics
        .timestamps
        .get_or_create(&super::metrics::TimestampLabels { outcome: label })
        .inc();
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(TIMESTAMP_REPLY),
    );
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok((StatusCode::OK, response_headers, reply).into_response())
}
