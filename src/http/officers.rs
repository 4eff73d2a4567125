//! `/v1/admin/officers`: officer accounts, managed by security officers (auditors may
//! list them). New credentials are in the response once and never stored.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::extract::{ApiJson, ApiPath, Officer};
use super::{blocking, AppState, Problem};
use crate::model::OfficerRole;
use crate::ra::officers::{self, OfficerCredential, OfficerView};

/// `POST /v1/admin/officers` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddOfficerRequest {
    /// 1-64 characters of a-z, 0-9 and `-`.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,63}$")]
    name: String,
    /// At least one role.
    #[schema(min_items = 1)]
    roles: Vec<OfficerRole>,
}

/// `GET /v1/admin/officers` answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct OfficerList {
    /// Every officer, by name.
    officers: Vec<OfficerView>,
}

fn problem(e: officers::OfficerError) -> Problem {
    Problem::from(crate::ra::RaError::from(e))
}

/// Adds an officer; the answer carries its credential, once.
#[utoipa::path(post, path = "/v1/admin/officers", tag = "admin", request_body = AddOfficerRequest,
    security(("admin" = [])),
    responses(
        (status = 201, description = "Added; `credential` is shown this once", body = OfficerCredential),
        (status = 400, description = "Not JSON of this shape, a malformed name or no role (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "Needs the security-officer role", body = Problem),
        (status = 409, description = "The name is taken (conflict)", body = Problem),
    ))]
pub(crate) async fn add(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<AddOfficerRequest>,
) -> Result<impl IntoResponse, Problem> {
    officer.require(OfficerRole::SecurityOfficer)?;
    let worker = state.clone();
    let made = blocking(move || {
        officers::add(
            worker.ra.officers(),
            &officer.0,
            &request.name,
            request.roles,
            time::OffsetDateTime::now_utc(),
        )
        .map_err(problem)
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(made)))
}

/// Lists the officers (never their credentials).
#[utoipa::path(get, path = "/v1/admin/officers", tag = "admin", security(("admin" = [])),
    responses(
        (status = 200, description = "The officers", body = OfficerList),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "Needs the security-officer or auditor role", body = Problem),
    ))]
pub(crate) async fn list(
    officer: Officer,
    State(state): State<Arc<AppState>>,
) -> Result<impl IntoResponse, Problem> {
    officer.require_any(&[OfficerRole::SecurityOfficer, OfficerRole::Auditor])?;
    let worker = state.clone();
    let officers =
        blocking(move || officers::list(worker.ra.officers(), &officer.0).map_err(problem)).await?;
    Ok(axum::Json(OfficerList { officers }))
}

async fn set_disabled(
    officer: Officer,
    state: Arc<AppState>,
    name: String,
    disabled: bool,
) -> Result<axum::Json<OfficerView>, Problem> {
    officer.require(OfficerRole::SecurityOfficer)?;
    let view = blocking(move || {
        officers::set_disabled(state.ra.officers(), &officer.0, &name, disabled).map_err(problem)
    })
    .await?;
    Ok(axum::Json(view))
}

/// Disables an officer: their credential is refused from now on.
#[utoipa::path(post, path = "/v1/admin/officers/{name}/disable", tag = "admin",
    params(("name" = String, Path, description = "The officer", pattern = "^[a-z0-9][a-z0-9-]{0,63}$")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Disabled", body = OfficerView),
        (status = 400, description = "Malformed name (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "Needs the security-officer role", body = Problem),
        (status = 404, description = "No such officer (not-found)", body = Problem),
        (status = 409, description = "The last active security officer, or a concurrent change (conflict)", body = Problem),
    ))]
pub(crate) async fn disable(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    set_disabled(officer, state, name, true).await
}

/// Enables a disabled officer.
#[utoipa::path(post, path = "/v1/admin/officers/{name}/enable", tag = "admin",
    params(("name" = String, Path, description = "The officer", pattern = "^[a-z0-9][a-z0-9-]{0,63}$")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Enabled", body = OfficerView),
        (status = 400, description = "Malformed name (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "Needs the security-officer role", body = Problem),
        (status = 404, description = "No such officer (not-found)", body = Problem),
    ))]
pub(crate) async fn enable(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    set_disabled(officer, state, name, false).await
}

/// Replaces an officer's credential (security officers: anyone's; others: their own).
#[utoipa::path(post, path = "/v1/admin/officers/{name}/rotate", tag = "admin",
    params(("name" = String, Path, description = "The officer", pattern = "^[a-z0-9][a-z0-9-]{0,63}$")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Replaced; `credential` is shown this once", body = OfficerCredential),
        (status = 400, description = "Malformed name (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "Another officer's credential, without the security-officer role", body = Problem),
        (status = 404, description = "No such officer (not-found)", body = Problem),
    ))]
pub(crate) async fn rotate(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    let worker = state.clone();
    let rotated = blocking(move || {
        officers::rotate(
            worker.ra.officers(),
            &officer.0,
            &name,
            time::OffsetDateTime::now_utc(),
        )
        .map_err(problem)
    })
    .await?;
    Ok(axum::Json(rotated))
}
