//! Extractors whose rejections are problem documents.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{AppState, Problem};
use crate::ra::enrollment::check_admin_credential;
use crate::ra::RaError;

/// A JSON body; any rejection (syntax, fields, content type, size) becomes a problem.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub(crate) struct ApiJson<T>(pub(crate) T);

/// Proof that the request carries the admin credential (`Authorization: Bearer …`).
#[derive(Debug)]
pub(crate) struct Admin;

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        check_admin_credential(presented, state.admin_credential_hash.as_deref())
            .map(|()| Admin)
            .map_err(|e| Problem::from(RaError::from(e)))
    }
}
