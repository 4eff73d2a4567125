//! Operations endpoints: health, metrics, and the 404 fallback.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::{typed_body, AppState, Problem};
use crate::store::{CertificateStore, ListFilter};

/// `GET /healthz` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    status: &'static str,
}

/// Liveness and readiness: the database answers a read.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Healthy", body = Health), (status = 500, description = "Database unavailable", body = Problem)))]
pub(crate) async fn healthz(
    State(state): State<Arc<AppState>>,
) -> Result<axum::Json<Health>, Problem> {
    state.ra.store().list(&ListFilter {
        limit: Some(1),
        ..Default::default()
    })?;
    Ok(axum::Json(Health { status: "ok" }))
}

/// Prometheus / OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    typed_body(
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        state.metrics.encode(),
    )
}

pub(crate) async fn not_found(uri: axum::http::Uri) -> Problem {
    Problem::not_found(format!(
        "no such endpoint: {}; see /openapi.json",
        uri.path()
    ))
}

pub(crate) async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Problem {
    Problem::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!(
            "{method} is not allowed on {}; see /openapi.json",
            uri.path()
        ),
    )
}
