//! Dual control over HTTP: `/v1/admin/approvals` (officers list, approve and reject
//! requests) and `GET /v1/enroll/approvals/{id}`, where an enrolling or renewing
//! participant whose request waits for approval polls for its certificate.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::extract::{ApiJson, ApiPath, ApiQuery, Officer};
use super::{blocking, AppState, Problem};
use crate::model::OfficerRole;
use crate::ra::approvals::ApprovalView;
use crate::store::{ApprovalRecord, ApprovalStatus};

/// The officers who see requests: those who may decide them, and auditors.
pub(crate) const DECIDERS: &[OfficerRole] = &[
    OfficerRole::RaOfficer,
    OfficerRole::RevocationOfficer,
    OfficerRole::Auditor,
];

/// The answer to an act that waits for approval (202).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingResponse {
    /// Always `pending`.
    #[schema(pattern = "^pending$")]
    pub status: String,
    /// The request's id.
    #[schema(pattern = "^apr_[0-9a-f]{32}$")]
    pub approval: String,
    /// What it will do.
    pub summary: String,
    /// When it expires unless approved (RFC 3339).
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Where to poll: for an enrollment or renewal, the participant's poll URL path;
    /// for an officer's act, the request under `/v1/admin/approvals/`.
    pub location: String,
}

/// A 202 for a request waiting for approval, with `Location`.
pub(crate) fn pending(record: &ApprovalRecord, for_participant: bool) -> Response {
    let location = if for_participant {
        format!("/v1/enroll/approvals/{}", record.id)
    } else {
        format!("/v1/admin/approvals/{}", record.id)
    };
    let body = PendingResponse {
        status: "pending".into(),
        approval: record.id.clone(),
        summary: record.summary.clone(),
        expires_at: crate::clock::format_time(record.expires_at),
        location: location.clone(),
    };
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    // Polling more often than this gains nothing: officers decide in minutes.
    response.headers_mut().insert(
        header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("10"),
    );
    response
}

/// Query of `GET /v1/admin/approvals`; any other parameter is 400.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalQuery {
    /// Only requests in this state (pending, executed, failed, rejected, expired).
    #[param(nullable = false)]
    status: Option<ApprovalStatus>,
    /// At most this many (default 1000).
    #[param(minimum = 1, maximum = 100000, nullable = false)]
    limit: Option<usize>,
}

/// The 400 of an operation whose only input is the request id in the path.
const ID_NOT_UTF8: &str = "The id is not UTF-8 (malformed-request)";

/// `GET /v1/admin/approvals` answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalList {
    /// Requests, oldest first.
    pub approvals: Vec<ApprovalView>,
}

/// Lists requests under dual control, oldest first.
#[utoipa::path(get, path = "/v1/admin/approvals", tag = "admin", operation_id = "list_approvals",
    params(ApprovalQuery),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Requests", body = ApprovalList),
        (status = 400, description = "A bad or unknown query parameter (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "Needs ra-officer, revocation-officer or auditor (forbidden)", body = Problem),
    ))]
pub(crate) async fn list(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    query: Result<ApiQuery<ApprovalQuery>, Problem>,
) -> Result<impl IntoResponse, Problem> {
    officer.require_any(DECIDERS)?;
    let ApiQuery(query) = query?;
    let limit = query.limit.unwrap_or(1000);
    if !(1..=100_000).contains(&limit) {
        return Err(Problem::bad_request("limit must be 1 to 100000"));
    }
    let worker = state.clone();
    let records = blocking(move || worker.ra.approvals(usize::MAX).map_err(Problem::from)).await?;
    let approvals = records
        .iter()
        .filter(|r| query.status.is_none_or(|s| r.status == s))
        .take(limit)
        .map(ApprovalView::from)
        .collect();
    Ok(axum::Json(ApprovalList { approvals }))
}

/// One request.
#[utoipa::path(get, path = "/v1/admin/approvals/{id}", tag = "admin", operation_id = "show_approval",
    params(("id" = String, Path, description = "The request, apr_… (an id of another form names no request: 404)", pattern = "^apr_[0-9a-f]{32}$")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The request", body = ApprovalView),
        (status = 400, description = ID_NOT_UTF8, body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "Needs ra-officer, revocation-officer or auditor (forbidden)", body = Problem),
        (status = 404, description = "No such request (not-found)", body = Problem),
    ))]
pub(crate) async fn show(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    officer.require_any(DECIDERS)?;
    let worker = state.clone();
    let record = blocking(move || worker.ra.approval(&id).map_err(Problem::from)).await?;
    Ok(axum::Json(ApprovalView::from(&record)))
}

/// Approves a request; with enough approvals it is carried out at once.
#[utoipa::path(post, path = "/v1/admin/approvals/{id}/approve", tag = "admin",
    params(("id" = String, Path, description = "The request, apr_… (an id of another form names no request: 404)", pattern = "^apr_[0-9a-f]{32}$")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The request afterwards (executed, failed, or still pending)", body = ApprovalView),
        (status = 400, description = ID_NOT_UTF8, body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the act's role (ra-officer for issue and renew, revocation-officer for revoke), asked for it (made the enrollment token or the revocation), approved it already, or is not among the policy's approvers (forbidden)", body = Problem),
        (status = 404, description = "No such request (not-found)", body = Problem),
        (status = 409, description = "Not pending: decided or expired; or decided at the same time (conflict)", body = Problem),
    ))]
pub(crate) async fn approve(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    let worker = state.clone();
    let record =
        blocking(move || worker.ra.approve(&id, &officer.0).map_err(Problem::from)).await?;
    Ok(axum::Json(ApprovalView::from(&record)))
}

/// `POST /v1/admin/approvals/{id}/reject` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectRequest {
    /// Why, for the requester: 1 to 500 characters, not only white space (kept without
    /// the white space around it).
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
}

/// Most characters of a rejection's reason.
const MAX_REASON: usize = 500;

/// Rejects a request: nothing is done.
#[utoipa::path(post, path = "/v1/admin/approvals/{id}/reject", tag = "admin",
    params(("id" = String, Path, description = "The request, apr_… (an id of another form names no request: 404)", pattern = "^apr_[0-9a-f]{32}$")),
    request_body = RejectRequest,
    security(("admin" = [])),
    responses(
        (status = 200, description = "Rejected", body = ApprovalView),
        (status = 400, description = "Not JSON of this shape, a reason that is empty, only white space or over 500 characters, or an id that is not UTF-8 (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the act's role: ra-officer for issue and renew, revocation-officer for revoke (forbidden)", body = Problem),
        (status = 404, description = "No such request (not-found)", body = Problem),
        (status = 409, description = "Not pending: decided or expired; or decided at the same time (conflict)", body = Problem),
    ))]
pub(crate) async fn reject(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<RejectRequest>,
) -> Result<impl IntoResponse, Problem> {
    // The document's limits, on the reason as sent (the schema's maxLength and pattern).
    let reason = request.reason.trim().to_string();
    if reason.is_empty() || request.reason.chars().count() > MAX_REASON {
        return Err(Problem::bad_request(format!(
            "reason must be 1 to {MAX_REASON} characters, not only white space"
        )));
    }
    let worker = state.clone();
    let record = blocking(move || {
        worker
            .ra
            .reject(&id, &officer.0, &reason)
            .map_err(Problem::from)
    })
    .await?;
    Ok(axum::Json(ApprovalView::from(&record)))
}

/// Where an enrollment or renewal that waits for approval stands: 202 while pending,
/// 200 with the certificate once approved and issued, 403 `approval-refused` when it was
/// rejected or expired. The id (128 random bits) is the participant's handle.
#[utoipa::path(get, path = "/v1/enroll/approvals/{id}", tag = "enrollment", operation_id = "poll_approval",
    params(("id" = String, Path, description = "The request, apr_…, from the 202 answer (an id of another form names no request: 404)", pattern = "^apr_[0-9a-f]{32}$")),
    responses(
        (status = 200, description = "Approved and issued", body = super::enroll::IssuedResponse),
        (status = 202, description = "Still waiting for approval", body = PendingResponse,
            headers(
                ("Location" = String, description = "Where to poll: this path"),
                ("Retry-After" = u32, description = "Seconds to wait before polling again"),
            )),
        (status = 400, description = ID_NOT_UTF8, body = Problem),
        (status = 403, description = "Rejected or expired: nothing will be issued (approval-refused)", body = Problem),
        (status = 404, description = "No such enrollment or renewal request (not-found)", body = Problem),
    ))]
pub(crate) async fn poll(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, Problem> {
    let worker = state.clone();
    let record = blocking(move || worker.ra.approval(&id).map_err(Problem::from)).await?;
    let issuance = matches!(record.payload, crate::store::ApprovalPayload::Issue { .. });
    if !issuance {
        return Err(Problem::not_found(format!(
            "no enrollment request {}",
            record.id
        )));
    }
    match (record.status, &record.serial) {
        (ApprovalStatus::Pending, _) => Ok(pending(&record, true)),
        (ApprovalStatus::Executed, Some(serial)) => {
            let serial = serial.clone();
            let worker = state.clone();
            let issued =
                blocking(move || worker.ra.delivered(&serial).map_err(Problem::from)).await?;
            Ok((
                StatusCode::OK,
                axum::Json(super::enroll::IssuedResponse::from_issued(&state, issued)),
            )
                .into_response())
        }
        (status, _) => Err(Problem::from(crate::ra::RaError::from(
            crate::ra::approvals::ApprovalError::Refused {
                id: record.id.clone(),
                status: format!("{status:?}").to_ascii_lowercase(),
            },
        ))),
    }
}
