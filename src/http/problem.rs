//! RFC 9457 problem documents: the only error format the HTTP API speaks. Internal
//! details are logged, never sent.

use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ca::CaError;
use crate::error::ErrorKind;
use crate::ra::RaError;
use crate::store::StoreError;

/// An error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:paypki:problem:<kind>` (docs/api.md lists them).
    #[serde(rename = "type")]
    #[schema(pattern = "^urn:paypki:problem:[a-z][a-z-]*$")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong with this request, and what to do.
    pub detail: String,
    #[serde(skip)]
    retry_after: Option<u64>,
    /// For server faults: what went wrong, for the log only (never sent).
    #[serde(skip)]
    cause: Option<String>,
}

/// The cause of a server fault, attached to the response for the logging middleware.
#[derive(Debug, Clone)]
pub(crate) struct FaultCause(pub(crate) String);

impl Problem {
    /// A problem with a status, a kind slug and a detail for people.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:paypki:problem:{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
            retry_after: None,
            cause: None,
        }
    }

    /// 404 for a path or record that does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 400 for a request the server cannot read.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
            detail,
        )
    }

    /// 429 with a Retry-After.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("too many requests from this client or for this token; retry in {retry_after_seconds} s"),
        );
        p.retry_after = Some(retry_after_seconds);
        p
    }

    /// 503: the server cannot answer right now; the client should retry.
    pub fn unavailable(detail: &str) -> Self {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
    }

    /// 503 with `Retry-After: 1`: a limit on work in progress is reached; retry shortly.
    pub fn overloaded(detail: &str) -> Self {
        let mut p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "Server overloaded",
            detail,
        );
        p.retry_after = Some(1);
        p
    }

    /// 500 with a generic message; the cause goes to the log only (written by the
    /// response middleware, which knows the route).
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let mut problem = Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the CA could not complete the request; nothing was issued. Try again, and tell the operator if it persists",
        );
        problem.cause = Some(cause.to_string());
        problem
    }

    /// 500 for an issuance an internal pre-issuance check refused: nothing was signed.
    /// What failed is in the audit trail and the log, never in the answer.
    pub fn pre_issuance_check(cause: &dyn std::fmt::Display) -> Self {
        let mut problem = Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "pre-issuance-check",
            "Internal check failed",
            "an internal pre-issuance check of the certificate failed, so nothing was signed; the operator has the details in the audit trail",
        );
        problem.cause = Some(cause.to_string());
        problem
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"paypki-admin\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(FaultCause(cause));
        }
        response
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let (slug, title, detail) = match &rejection {
            JsonRejection::MissingJsonContentType(_) => (
                "unsupported-media-type",
                "Unsupported media type",
                "send the request body as JSON with Content-Type: application/json".to_string(),
            ),
            JsonRejection::JsonSyntaxError(e) => (
                "malformed-request",
                "Malformed request",
                format!("the body is not valid JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => (
                "malformed-request",
                "Malformed request",
                format!(
                    "the JSON does not have the expected fields: {}",
                    e.body_text()
                ),
            ),
            other if status == StatusCode::PAYLOAD_TOO_LARGE => (
                "payload-too-large",
                "Payload too large",
                format!("the request body is too large: {}", other.body_text()),
            ),
            other => ("malformed-request", "Malformed request", other.body_text()),
        };
        // axum answers 422 for well-formed JSON with wrong fields; we say 400 for any
        // request we cannot read, and keep 422 for policy refusals.
        let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        Problem::new(status, slug, title, detail)
    }
}

impl From<axum::extract::rejection::PathRejection> for Problem {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Problem::bad_request(format!("the path is not valid: {}", rejection.body_text()))
    }
}

impl From<axum::extract::rejection::QueryRejection> for Problem {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Problem::bad_request(format!(
            "the query string is not valid: {}",
            rejection.body_text()
        ))
    }
}

/// The one table from a failure's kind to what HTTP clients see: status, problem type
/// (`urn:paypki:problem:<slug>`) and title. Clients branch on the type.
pub fn describe(kind: ErrorKind) -> (StatusCode, &'static str, &'static str) {
    use ErrorKind as K;
    match kind {
        K::Malformed => (
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
        ),
        K::BadCsr => (StatusCode::BAD_REQUEST, "bad-csr", "Malformed CSR"),
        K::BadCsrSignature => (
            StatusCode::BAD_REQUEST,
            "bad-csr-signature",
            "CSR signature invalid",
        ),
        K::BadToken => (StatusCode::BAD_REQUEST, "bad-token", "Malformed token"),
        K::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
        K::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Role required"),
        K::Conflict => (StatusCode::CONFLICT, "conflict", "Conflict"),
        K::ApprovalRefused => (StatusCode::FORBIDDEN, "approval-refused", "Not approved"),
        K::TokenRejected => (StatusCode::FORBIDDEN, "token-rejected", "Token rejected"),
        K::RenewalRefused => (StatusCode::FORBIDDEN, "renewal-refused", "Renewal refused"),
        K::NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
        K::TokenUsed => (StatusCode::CONFLICT, "token-used", "Token already used"),
        K::AlreadyRevoked => (StatusCode::CONFLICT, "already-revoked", "Already revoked"),
        K::NotOnHold => (StatusCode::CONFLICT, "not-on-hold", "Not on hold"),
        K::CrlNotNewer => (StatusCode::CONFLICT, "crl-not-newer", "CRL not newer"),
        K::KeyRefused => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-key",
            "Key refused by policy",
        ),
        K::PolicyViolation => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "policy-violation",
            "Refused by policy",
        ),
        K::CsrMismatch => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "csr-mismatch",
            "CSR does not match the token",
        ),
        K::RevocationRefused => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "revocation-refused",
            "Revocation refused",
        ),
        K::BadCrl => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-crl",
            "Not a root CRL of this CA",
        ),
        K::InvalidParticipant => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-participant",
            "Invalid participant",
        ),
        K::ParticipantInactive => (
            StatusCode::FORBIDDEN,
            "participant-inactive",
            "Participant not active",
        ),
        K::ParticipantStatusConflict => (
            StatusCode::CONFLICT,
            "participant-status-conflict",
            "Participant status does not allow this",
        ),
        K::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
        ),
        K::NoIssuingCa => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no-issuing-ca",
            "No issuing CA",
        ),
        K::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        ),
        K::PreIssuanceCheck => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "pre-issuance-check",
            "Internal check failed",
        ),
        K::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        ),
    }
}

impl Problem {
    /// The problem document for an error of `kind`. Server faults never carry their
    /// cause to the client: it goes to the log (by the response middleware) instead.
    pub fn of(kind: ErrorKind, error: &dyn std::fmt::Display) -> Self {
        match kind {
            ErrorKind::Internal => Problem::internal(error),
            ErrorKind::PreIssuanceCheck => Problem::pre_issuance_check(error),
            _ => {
                let (status, slug, title) = describe(kind);
                Problem::new(status, slug, title, error.to_string())
            }
        }
    }
}

impl From<RaError> for Problem {
    fn from(e: RaError) -> Self {
        match e {
            // A batch item's failure is that failure's problem, with the item named.
            RaError::BatchItem { index, error } => {
                let mut problem = Problem::from(*error);
                problem.detail = format!("items[{index}]: {}", problem.detail);
                problem
            }
            // The wait goes into Retry-After.
            RaError::RateLimited(seconds) => Problem::rate_limited(seconds),
            other => Problem::of(other.kind(), &other),
        }
    }
}

impl From<CaError> for Problem {
    fn from(e: CaError) -> Self {
        Problem::of(e.kind(), &e)
    }
}

impl From<crate::crl::CrlError> for Problem {
    fn from(e: crate::crl::CrlError) -> Self {
        Problem::of(e.kind(), &e)
    }
}

impl From<crate::transparency::LogError> for Problem {
    fn from(e: crate::transparency::LogError) -> Self {
        Problem::of(e.kind(), &e)
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Problem::of(e.kind(), &e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_problem_type() {
        use ErrorKind as K;
        let kinds = [
            K::Malformed,
            K::BadCsr,
            K::BadCsrSignature,
            K::BadToken,
            K::Unauthorized,
            K::Forbidden,
            K::Conflict,
            K::ApprovalRefused,
            K::TokenRejected,
            K::RenewalRefused,
            K::NotFound,
            K::TokenUsed,
            K::AlreadyRevoked,
            K::NotOnHold,
            K::CrlNotNewer,
            K::KeyRefused,
            K::PolicyViolation,
            K::CsrMismatch,
            K::RevocationRefused,
            K::BadCrl,
            K::InvalidParticipant,
            K::ParticipantInactive,
            K::ParticipantStatusConflict,
            K::RateLimited,
            K::NoIssuingCa,
            K::Unavailable,
            K::PreIssuanceCheck,
            K::Internal,
        ];
        let mut slugs = std::collections::HashSet::new();
        for kind in kinds {
            let (status, slug, _) = describe(kind);
            assert!(slugs.insert(slug), "{slug} used twice");
            // Only the CA's own faults and temporary unavailability are 5xx.
            let server_side = matches!(
                kind,
                K::Internal | K::PreIssuanceCheck | K::Unavailable | K::NoIssuingCa
            );
            assert_eq!(status.is_server_error(), server_side, "{kind:?}");
        }
        // A failed pre-issuance check is a 500 that names no detail of the check.
        let refused = RaError::Ca(CaError::PreIssuanceCheck(crate::ca::LintError::SanRequired));
        let problem = Problem::from(refused);
        assert_eq!(problem.status, 500);
        assert_eq!(problem.kind, "urn:paypki:problem:pre-issuance-check");
        assert!(!problem.detail.contains("SAN"), "{}", problem.detail);
        // A server fault never carries its cause to the client.
        let problem = Problem::of(K::Internal, &"disk on fire at /var/lib/x");
        assert!(!problem.detail.contains("disk"), "{}", problem.detail);
    }
}
