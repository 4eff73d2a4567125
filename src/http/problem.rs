//! RFC 9457 problem documents: the only error format the HTTP API speaks. Internal
//! details are logged, never sent.

use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ca::CaError;
use crate::ra::enrollment::TokenError;
use crate::ra::{CsrError, RaError};
use crate::store::StoreError;

/// An error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request, and what to do.
    pub detail: String,
    #[serde(skip)]
    retry_after: Option<u64>,
}

impl Problem {
    /// A problem with a status, a kind slug and a detail for people.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:paypki:problem:{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
            retry_after: None,
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

    /// 500 with a generic message; the cause goes to the log only.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the CA could not complete the request; nothing was issued. Try again, and tell the operator if it persists",
        )
    }

    /// 500 for an issuance an internal pre-issuance check refused: nothing was signed.
    /// What failed is in the audit trail and the log, never in the answer.
    pub fn pre_issuance_check(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "pre-issuance check refused");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "pre-issuance-check",
            "Internal check failed",
            "an internal pre-issuance check of the certificate failed, so nothing was signed; the operator has the details in the audit trail",
        )
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

impl From<RaError> for Problem {
    fn from(e: RaError) -> Self {
        // A batch item's failure is that failure's problem, with the item named.
        let e = match e {
            RaError::BatchItem { index, error } => {
                let mut problem = Problem::from(*error);
                problem.detail = format!("items[{index}]: {}", problem.detail);
                return problem;
            }
            other => other,
        };
        let detail = e.to_string();
        match &e {
            RaError::Csr(CsrError::Malformed(_)) => {
                Problem::new(StatusCode::BAD_REQUEST, "bad-csr", "Malformed CSR", detail)
            }
            RaError::Csr(CsrError::BadSignature) => Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-csr-signature",
                "CSR signature invalid",
                detail,
            ),
            RaError::Csr(CsrError::WeakSignature(_))
            | RaError::Csr(CsrError::Key(_))
            | RaError::KeyPolicy(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad-key",
                "Key refused by policy",
                detail,
            ),
            RaError::SubjectPolicy(_)
            | RaError::SanPolicy(_)
            | RaError::Name(_)
            | RaError::ValidityPolicy(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "policy-violation",
                "Refused by policy",
                detail,
            ),
            RaError::CsrMismatch(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "csr-mismatch",
                "CSR does not match the token",
                detail,
            ),
            RaError::Token(TokenError::Malformed) => Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-token",
                "Malformed token",
                detail,
            ),
            RaError::Token(TokenError::Unknown) | RaError::Token(TokenError::Expired(_)) => {
                Problem::new(
                    StatusCode::FORBIDDEN,
                    "token-rejected",
                    "Token rejected",
                    detail,
                )
            }
            RaError::Token(TokenError::AlreadyUsed) => Problem::new(
                StatusCode::CONFLICT,
                "token-used",
                "Token already used",
                detail,
            ),
            RaError::Token(TokenError::BadLifetime(_)) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "policy-violation",
                "Refused by policy",
                detail,
            ),
            RaError::Token(TokenError::AdminUnauthorized) => Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                detail,
            ),
            RaError::Renewal(_) => Problem::new(
                StatusCode::FORBIDDEN,
                "renewal-refused",
                "Renewal refused",
                detail,
            ),
            RaError::UnknownCertificate(_) => Problem::not_found(detail),
            RaError::RevocationRefused(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "revocation-refused",
                "Revocation refused",
                detail,
            ),
            RaError::Store(StoreError::AlreadyRevoked(..)) => Problem::new(
                StatusCode::CONFLICT,
                "already-revoked",
                "Already revoked",
                detail,
            ),
            RaError::Store(StoreError::NotOnHold(_)) => {
                Problem::new(StatusCode::CONFLICT, "not-on-hold", "Not on hold", detail)
            }
            RaError::Store(StoreError::NotFound(_)) => Problem::not_found(detail),
            RaError::NoIssuingCa => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no-issuing-ca",
                "No issuing CA",
                detail,
            ),
            RaError::Ca(CaError::PreIssuanceCheck(_)) => Problem::pre_issuance_check(&e),
            RaError::Ca(CaError::UnknownIssuer(_)) => Problem::not_found(detail),
            // Taken apart above; here only to keep the match exhaustive.
            RaError::Ca(_) | RaError::Store(_) | RaError::BatchItem { .. } => Problem::internal(&e),
        }
    }
}

impl From<CaError> for Problem {
    fn from(e: CaError) -> Self {
        match e {
            CaError::UnknownIssuer(_) => Problem::not_found(e.to_string()),
            CaError::PreIssuanceCheck(_) => Problem::pre_issuance_check(&e),
            other => Problem::internal(&other),
        }
    }
}

impl From<crate::crl::CrlError> for Problem {
    fn from(e: crate::crl::CrlError) -> Self {
        use crate::crl::CrlError;
        match e {
            CrlError::Invalid(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad-crl",
                "Not a root CRL of this CA",
                e.to_string(),
            ),
            CrlError::NotNewer { .. } => Problem::new(
                StatusCode::CONFLICT,
                "crl-not-newer",
                "CRL not newer",
                e.to_string(),
            ),
            other => Problem::internal(&other),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => Problem::not_found(e.to_string()),
            other => Problem::internal(&other),
        }
    }
}
