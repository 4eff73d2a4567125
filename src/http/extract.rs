//! Extractors whose rejections are problem documents.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{AppState, Problem};
use crate::model::OfficerRole;
use crate::ra::officers::{authenticate, AuthMethod};
use crate::ra::RaError;

/// A JSON body; any rejection (syntax, fields, content type, size) becomes a problem.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub(crate) struct ApiJson<T>(pub(crate) T);

/// A path parameter; a rejection (e.g. percent-encoding that is not UTF-8) becomes a
/// problem, never axum's plain-text answer.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub(crate) struct ApiPath<T>(pub(crate) T);

/// A query string; a rejection (an unknown or repeated parameter, a value of the wrong
/// type) becomes a 400 problem.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub(crate) struct ApiQuery<T>(pub(crate) T);

/// A binary request body of one media type (a DER TimeStampReq, a CRL): a 415 problem
/// naming `hint` when the Content-Type is another, 413 when it is too large, 400 when it
/// cannot be read.
pub(crate) fn binary_body(
    headers: &axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    media_type: &str,
    hint: &str,
) -> Result<axum::body::Bytes, Problem> {
    use axum::http::StatusCode;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if content_type.as_deref() != Some(media_type) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            hint.to_owned(),
        ));
    }
    body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                status,
                "payload-too-large",
                "Payload too large",
                format!("the request body is too large: {}", rejection.body_text()),
            )
        } else {
            Problem::bad_request(format!(
                "the request body could not be read: {}",
                rejection.body_text()
            ))
        }
    })
}

/// The officer the request authenticates as (`Authorization: Bearer <credential>`).
/// Handlers then ask it for the role their act needs ([`Officer::require`]).
#[derive(Debug)]
pub(crate) struct Officer(pub(crate) crate::ra::officers::Officer);

impl Officer {
    /// Allows the act when the officer holds `role`; else a 403 problem naming it.
    pub(crate) fn require(&self, role: OfficerRole) -> Result<(), Problem> {
        self.0
            .require(role)
            .map_err(|e| Problem::from(RaError::from(e)))
    }

    /// Allows the act when the officer holds any of `roles`.
    pub(crate) fn require_any(&self, roles: &[OfficerRole]) -> Result<(), Problem> {
        self.0
            .require_any(roles)
            .map_err(|e| Problem::from(RaError::from(e)))
    }

    /// Who acts, for the audit trail.
    pub(crate) fn actor(&self) -> String {
        self.0.actor()
    }
}

/// The roles that may read certificate records (everyone but the security officer, who
/// manages officers and nothing else).
pub(crate) const READERS: &[OfficerRole] = &[
    OfficerRole::Auditor,
    OfficerRole::RaOfficer,
    OfficerRole::RevocationOfficer,
    OfficerRole::CaOperator,
];

impl FromRequestParts<Arc<AppState>> for Officer {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string);
        let state = state.clone();
        // A store read and a hash: quick, but off the async workers like other store work.
        super::blocking(move || {
            authenticate(
                state.ra.officers(),
                presented.as_deref(),
                AuthMethod::AdminApi,
            )
            .map(Officer)
            .map_err(|e| Problem::from(RaError::from(e)))
        })
        .await
    }
}
