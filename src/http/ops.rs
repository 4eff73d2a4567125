//! Operations endpoints: health, metrics, and the 404 fallback.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::{typed_body, AppState, Problem};
use crate::store::ListFilter;

/// `GET /healthz` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok`, or `degraded` when the CA serves but something needs an operator soon.
    #[schema(value_type = HealthStatus)]
    pub(crate) status: &'static str,
    /// What is degraded, for people (present only when degraded).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) reasons: Vec<String>,
}

/// The values of `Health::status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Only its schema is used: the status is written as text.
pub(crate) enum HealthStatus {
    /// Everything is in order.
    Ok,
    /// Serving, but something needs an operator (`reasons` says what).
    Degraded,
}

/// A root CRL this close to its nextUpdate makes the CA degraded: weeks ahead, the
/// operator has time to bring the root key out for `paypki crl --root`.
const ROOT_CRL_WARNING: time::Duration = time::Duration::days(7);

/// Every published CRL (label, nextUpdate), the root's first.
/// Every CRL the server publishes (`root`, `issuing-1`, …) and its current version, if
/// one was made.
pub(crate) fn published_crls(
    state: &AppState,
) -> Vec<(String, Option<Arc<crate::crl::PublishedCrl>>)> {
    let mut crls = vec![("root".to_string(), state.root_crl.current())];
    for issuer in state.ra.ca().issuers() {
        crls.push((
            format!("issuing-{}", issuer.id()),
            state.crl.current(issuer.id()),
        ));
    }
    crls
}

/// Liveness and readiness: the database answers a read (else 500). `degraded` (still
/// 200: status keeps being served) names what needs an operator: a missing or expiring
/// CRL, or no issuing CA that may issue.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Serving (ok or degraded)", body = Health), (status = 503, description = "The database cannot be reached", body = Problem)))]
pub(crate) async fn healthz(
    State(state): State<Arc<AppState>>,
) -> Result<axum::Json<Health>, Problem> {
    health(&state).map(axum::Json)
}

/// What `/healthz` answers (and the console's overview shows).
pub(crate) fn health(state: &AppState) -> Result<Health, Problem> {
    state.ra.store().list(&ListFilter {
        limit: Some(1),
        ..Default::default()
    })?;
    let now = time::OffsetDateTime::now_utc();
    let mut reasons = Vec::new();
    for (name, crl) in published_crls(state) {
        let next_update = crl.map(|c| c.next_update);
        match next_update {
            None if name == "root" => reasons.push(
                "no root CRL is published: run `paypki crl --root --root-key FILE`".to_string(),
            ),
            None => reasons.push(format!("the {name} CRL has not been generated")),
            Some(next) if next <= now => reasons.push(format!(
                "the {name} CRL expired at {}",
                crate::clock::format_time(next)
            )),
            Some(next) if name == "root" && next - now < ROOT_CRL_WARNING => reasons.push(format!(
                "the root CRL expires at {}: sign a new one with `paypki crl --root --root-key FILE`",
                crate::clock::format_time(next)
            )),
            Some(_) => {}
        }
    }
    if state.ra.ca().active().is_err() {
        reasons.push(
            "no issuing CA may issue (the last one was revoked): run `paypki ca rollover`".into(),
        );
    }
    if state.metrics.database_connected.get() == 0 {
        reasons.push("not hearing the changes other nodes make (the database notification connection is lost): reconnecting".into());
    }
    // A PKCS#11 token that went away: signing answers 503/tryLater until it is back.
    reasons.extend(crate::ca::keys::pkcs11::unavailable_modules());
    Ok(Health {
        status: if reasons.is_empty() { "ok" } else { "degraded" },
        reasons,
    })
}

/// Prometheus / OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let now = time::OffsetDateTime::now_utc();
    for (name, crl) in published_crls(&state) {
        if let Some(next) = crl.map(|c| c.next_update) {
            state
                .metrics
                .crl_next_update
                .get_or_create(&super::metrics::CrlLabels { crl: name })
                .set((next - now).whole_seconds());
        }
    }
    let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    state
        .metrics
        .ocsp_cache_bytes
        .set(gauge(state.ocsp.cached_bytes()));
    state
        .metrics
        .ocsp_cache_entries
        .set(gauge(state.ocsp.cached()));
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
