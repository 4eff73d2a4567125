//! `/v1/admin/…`: what the CLI does while the server holds the database. Every handler
//! takes [`Officer`], so a request without an officer's credential never reaches it, and
//! first asks it for the role its act needs (403 otherwise).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::extract::{ApiJson, ApiPath, ApiQuery, Officer, READERS};
use super::{blocking, AppState, Problem};
use crate::model::CertificateStatus;
use crate::model::OfficerRole;
use crate::store::{AuditReport, CertificateRecord, ListFilter};
pub use crate::wire::{
    revocation_fields, token_grant, GrantError, ParticipantActResult, ParticipantBody,
    ParticipantView, RevocationResult, RevokeRequest, TokenCreateRequest, TokenCreated,
};

/// The problem for a token request that cannot become a grant: fields that do not go
/// together are a malformed request (400), a value that cannot be used a refusal (422).
fn refused(error: GrantError) -> Problem {
    match error {
        GrantError::Fields(detail) => Problem::bad_request(detail),
        GrantError::Value(detail) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "policy-violation",
            "Refused by policy",
            detail,
        ),
    }
}

/// Creates a one-time enrollment token: for a registered participant (its role,
/// subject and SANs come from the registry), or for a role, subject and SANs given here.
#[utoipa::path(post, path = "/v1/admin/tokens", tag = "admin", request_body = TokenCreateRequest,
    security(("admin" = [])),
    responses(
        (status = 201, description = "Created", body = TokenCreated),
        (status = 400, description = "Not JSON of this shape, or a participant together with role, subject or SANs (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the ra-officer role (forbidden), or the participant is suspended or terminated (participant-inactive)", body = Problem),
        (status = 404, description = "Unknown participant (not-found)", body = Problem),
        (status = 422, description = "A role, subject, SAN or ttl that cannot be read, or a grant the role's policy refuses (policy-violation)", body = Problem),
    ))]
pub(crate) async fn create_token(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<TokenCreateRequest>,
) -> Result<impl IntoResponse, Problem> {
    officer.require(OfficerRole::RaOfficer)?;
    let mut grant = token_grant(&request).map_err(refused)?;
    grant.created_by = Some(officer.0.name().to_string());
    let worker = state.clone();
    let actor = officer.actor();
    let created =
        blocking(move || worker.ra.create_token(grant, &actor).map_err(Problem::from)).await?;
    Ok((StatusCode::CREATED, axum::Json(TokenCreated::from(created))))
}

/// Revokes a certificate. Durable and visible to OCSP before the answer.
#[utoipa::path(post, path = "/v1/admin/revocations", tag = "admin", request_body = RevokeRequest,
    security(("admin" = [])),
    responses(
        (status = 201, description = "Revoked", body = RevocationResult),
        (status = 202, description = "Under dual control: a request waiting for another officer's approval", body = super::approvals::PendingResponse),
        (status = 400, description = "Not JSON of this shape, a bad serial, reason or date, or `ca` without `unrecorded` (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the revocation-officer role (forbidden)", body = Problem),
        (status = 404, description = "Unknown serial (without `unrecorded`), or unknown issuing CA (not-found)", body = Problem),
        (status = 409, description = "Already revoked (already-revoked)", body = Problem),
        (status = 422, description = "Invalidity date in the future, or a hold of an unrecorded serial (revocation-refused)", body = Problem),
    ))]
pub(crate) async fn revoke(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<RevokeRequest>,
) -> Result<axum::response::Response, Problem> {
    officer.require(OfficerRole::RevocationOfficer)?;
    let (serial, reason, invalidity) = revocation_fields(&request).map_err(Problem::bad_request)?;
    if request.ca.is_some() && !request.unrecorded {
        return Err(Problem::bad_request(
            "ca is only for a serial without a record (unrecorded: true); a recorded certificate names its own issuing CA",
        ));
    }
    let worker = state.clone();
    let actor = officer.actor();
    let result = blocking(move || {
        if request.unrecorded {
            worker
                .ra
                .revoke_maybe_unrecorded(&serial, reason, invalidity, request.ca, &actor)
                .map(|outcome| Ok(RevocationResult::from_outcome(&outcome)))
                .map_err(Problem::from)
        } else {
            // Dual control may make it a request that waits for approval.
            match worker
                .ra
                .revoke_or_request(&serial, reason, invalidity, &officer.0)
                .map_err(Problem::from)?
            {
                Ok(record) => Ok(Ok(RevocationResult::from_record(&record))),
                Err(request) => Ok(Err(request)),
            }
        }
    })
    .await?;
    let result = match result {
        Ok(result) => result,
        Err(request) => return Ok(super::approvals::pending(&request, false)),
    };
    Ok((StatusCode::CREATED, axum::Json(result)).into_response())
}

/// Lifts a certificateHold.
#[utoipa::path(post, path = "/v1/admin/revocations/{serial}/unhold", tag = "admin",
    params(("serial" = String, Path, description = "Serial number, hex", pattern = "^(?:(?:0x)?[0-9A-Fa-f]{1,40}|[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){1,19})$")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Good again", body = RevocationResult),
        (status = 400, description = "Not a serial number (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the revocation-officer role (forbidden)", body = Problem),
        (status = 404, description = "Unknown serial (not-found)", body = Problem),
        (status = 409, description = "Not on hold (not-on-hold)", body = Problem),
    ))]
pub(crate) async fn unhold(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(serial): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    officer.require(OfficerRole::RevocationOfficer)?;
    let serial = crate::wire::serial(&serial).map_err(Problem::bad_request)?;
    let worker = state.clone();
    let actor = officer.actor();
    let record = blocking(move || worker.ra.unhold(&serial, &actor).map_err(Problem::from)).await?;
    Ok(axum::Json(RevocationResult::from_record(&record)))
}

/// `POST /v1/admin/tokens/batch` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBatchRequest {
    /// At most 10,000 grants.
    #[schema(max_items = 10000)]
    items: Vec<TokenCreateRequest>,
}

/// `POST /v1/admin/tokens/batch` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TokenBatchCreated {
    /// The tokens, in the order of the grants.
    tokens: Vec<TokenCreated>,
}

/// Most tokens in one batch.
pub const MAX_TOKEN_BATCH: usize = 10_000;

/// Creates many one-time tokens at once (bulk onboarding); all or none.
#[utoipa::path(post, path = "/v1/admin/tokens/batch", tag = "admin", request_body = TokenBatchRequest,
    security(("admin" = [])),
    responses(
        (status = 201, description = "Created, in order", body = TokenBatchCreated),
        (status = 400, description = "Not JSON of this shape, or more than 10,000 items (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the ra-officer role (forbidden)", body = Problem),
        (status = 422, description = "A grant cannot be read or breaks its role's policy; the detail names it (`items[i]: …`); nothing was created (policy-violation)", body = Problem),
    ))]
pub(crate) async fn create_tokens(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<TokenBatchRequest>,
) -> Result<impl IntoResponse, Problem> {
    officer.require(OfficerRole::RaOfficer)?;
    if request.items.len() > MAX_TOKEN_BATCH {
        return Err(Problem::bad_request(format!(
            "at most {MAX_TOKEN_BATCH} tokens per batch"
        )));
    }
    let grants = request
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            token_grant(item)
                .map(|mut grant| {
                    grant.created_by = Some(officer.0.name().to_string());
                    grant
                })
                .map_err(|error| match error {
                    GrantError::Fields(detail) => {
                        GrantError::Fields(format!("items[{i}]: {detail}"))
                    }
                    GrantError::Value(detail) => GrantError::Value(format!("items[{i}]: {detail}")),
                })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(refused)?;
    let worker = state.clone();
    let actor = officer.actor();
    let created = blocking(move || {
        worker
            .ra
            .create_tokens(grants, &actor)
            .map_err(Problem::from)
    })
    .await?;
    let tokens: Vec<TokenCreated> = created.into_iter().map(TokenCreated::from).collect();
    Ok((
        StatusCode::CREATED,
        axum::Json(TokenBatchCreated { tokens }),
    ))
}

/// Query of `GET /v1/admin/certificates`; any other parameter is 400.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only this role.
    #[param(value_type = Option<crate::model::Role>, nullable = false)]
    role: Option<String>,
    /// Only certificates with this status.
    #[param(value_type = Option<CertificateStatus>, nullable = false)]
    status: Option<String>,
    /// Only certificates that have not expired and expire within this duration (e.g.
    /// `30d`), soonest first.
    #[param(pattern = "^[1-9][0-9]{0,5}[smhdw]$", nullable = false)]
    expiring_within: Option<String>,
    /// At most this many (default 1000).
    #[param(minimum = 1, maximum = 100000, nullable = false)]
    limit: Option<u32>,
    /// The `next` of the previous page, to continue the same listing.
    #[param(pattern = "^(?:[0-9a-fA-F]{2})*$", nullable = false)]
    after: Option<String>,
}

/// Most records one page may ask for (`limit`).
pub const MAX_LIST_LIMIT: u32 = 100_000;

/// `GET /v1/admin/certificates` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CertificatePage {
    /// The records of this page.
    certificates: Vec<CertificateRecord>,
    /// Give it back as `after` for the next page; null on the last page.
    #[schema(pattern = "^(?:[0-9a-f]{2})*$")]
    next: Option<String>,
}

/// Lists certificates: stored records (DER in base64) for the CLI and for scripts, a page
/// at a time: `next` (null on the last page) is given back as `after` for the next page.
#[utoipa::path(get, path = "/v1/admin/certificates", tag = "admin", params(ListQuery),
    security(("admin" = [])),
    responses(
        (status = 200, description = "A page of records", body = CertificatePage),
        (status = 400, description = "A bad or unknown query parameter (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer has none of the auditor, ra-officer, revocation-officer, ca-operator roles (forbidden)", body = Problem),
    ))]
pub(crate) async fn list_certificates(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    query: Result<ApiQuery<ListQuery>, Problem>,
) -> Result<impl IntoResponse, Problem> {
    officer.require_any(READERS)?;
    let ApiQuery(query) = query?;
    let role = query
        .role
        .as_deref()
        .map(crate::wire::role)
        .transpose()
        .map_err(Problem::bad_request)?;
    let status = match query.status.as_deref() {
        None => None,
        Some("good") => Some(CertificateStatus::Good),
        Some("revoked") => Some(CertificateStatus::Revoked),
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "status {other:?} must be good or revoked"
            )))
        }
    };
    let expiring_before = query
        .expiring_within
        .as_deref()
        .map(|text| crate::wire::duration("expiring_within", text))
        .transpose()
        .map_err(Problem::bad_request)?
        .map(|d| time::OffsetDateTime::now_utc() + d);
    let limit = match query.limit {
        None => 1000,
        Some(limit) if (1..=MAX_LIST_LIMIT).contains(&limit) => limit,
        Some(limit) => {
            return Err(Problem::bad_request(format!(
                "limit {limit} must be 1 to {MAX_LIST_LIMIT}"
            )))
        }
    };
    let after = query
        .after
        .as_deref()
        .map(hex::decode)
        .transpose()
        .map_err(|_| {
            Problem::bad_request("after must be the `next` value of a previous page (hex)")
        })?;
    let filter = ListFilter {
        role,
        status,
        expiring_before,
        limit: usize::try_from(limit).ok(),
        after,
    };
    let worker = state.clone();
    let page =
        blocking(move || worker.ra.store().list_page(&filter).map_err(Problem::from)).await?;
    Ok(axum::Json(CertificatePage {
        certificates: page.records,
        next: page.next.map(hex::encode),
    }))
}

/// One stored record (DER in base64).
#[utoipa::path(get, path = "/v1/admin/certificates/{serial}", tag = "admin",
    params(("serial" = String, Path, description = "Serial number, hex", pattern = "^(?:(?:0x)?[0-9A-Fa-f]{1,40}|[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){1,19})$")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The record", body = CertificateRecord),
        (status = 400, description = "Not a serial number (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer has none of the auditor, ra-officer, revocation-officer, ca-operator roles (forbidden)", body = Problem),
        (status = 404, description = "Unknown serial (not-found)", body = Problem),
    ))]
pub(crate) async fn show_certificate(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(serial): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    officer.require_any(READERS)?;
    let serial = crate::wire::serial(&serial).map_err(Problem::bad_request)?;
    let record = state
        .ra
        .store()
        .certificate(&serial)?
        .ok_or_else(|| Problem::not_found(format!("no certificate with serial {serial}")))?;
    Ok(axum::Json(record))
}

/// Walks the audit chain.
#[utoipa::path(get, path = "/v1/admin/audit/verify", tag = "admin", security(("admin" = [])),
    responses(
        (status = 200, description = "Report: problems is empty when intact", body = AuditReport),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the auditor role (forbidden)", body = Problem),
    ))]
pub(crate) async fn verify_audit(
    officer: Officer,
    State(state): State<Arc<AppState>>,
) -> Result<impl IntoResponse, Problem> {
    officer.require(OfficerRole::Auditor)?;
    let worker = state.clone();
    let report = blocking(move || worker.ra.store().verify_audit().map_err(Problem::from)).await?;
    Ok(axum::Json(report))
}

/// What `POST /v1/admin/crls/root` published.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PublishedRootCrl {
    /// cRLNumber.
    number: u64,
    /// thisUpdate, RFC 3339.
    #[schema(format = DateTime)]
    this_update: String,
    /// nextUpdate, RFC 3339.
    #[schema(format = DateTime)]
    next_update: String,
    /// How many issuing CAs it lists as revoked.
    entries: usize,
}

/// Publishes a root CRL signed elsewhere (on the offline root machine). It must be signed
/// by this CA's root and carry a higher cRLNumber than the published one; it is saved in
/// the data directory before it is served, and the issuing CAs it lists count as revoked
/// from then on.
#[utoipa::path(post, path = "/v1/admin/crls/root", tag = "admin",
    request_body(description = "The CRL, DER (PEM also accepted)", content(("application/pkix-crl"))),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Published", body = PublishedRootCrl),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the ca-operator role (forbidden)", body = Problem),
        (status = 409, description = "Not newer than the published root CRL (crl-not-newer)", body = Problem),
        (status = 413, description = "The body is over 96 KiB (payload-too-large)", body = Problem),
        (status = 415, description = "The Content-Type is not application/pkix-crl (unsupported-media-type)", body = Problem),
        (status = 422, description = "Not a CRL signed by this CA's root (bad-crl)", body = Problem),
    ))]
pub(crate) async fn publish_root_crl(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<impl IntoResponse, Problem> {
    officer.require(OfficerRole::CaOperator)?;
    let body = super::extract::binary_body(
        &headers,
        body,
        "application/pkix-crl",
        "send the CRL with Content-Type: application/pkix-crl",
    )?;
    let der = match pem::parse(&body) {
        Ok(block) if block.tag() == "X509 CRL" => block.into_contents(),
        _ => body.to_vec(),
    };
    let worker = state.clone();
    let actor = officer.actor();
    let published = blocking(move || {
        let crl = worker.root_crl.publish(der).map_err(Problem::from)?;
        worker
            .ra
            .audit(
                crate::store::AuditEvent::new("root-crl", &actor).detail(format!(
                    "root CRL {} published ({} revoked issuing CAs)",
                    crl.number, crl.entries
                )),
            )
            .map_err(Problem::from)?;
        Ok(crl)
    })
    .await?;
    // The root may have revoked an issuing CA: cached status answers are stale.
    state.ocsp.clear_cache();
    let format = crate::clock::format_time;
    Ok(axum::Json(PublishedRootCrl {
        number: published.number,
        this_update: format(published.this_update),
        next_update: format(published.next_update),
        entries: published.entries,
    }))
}

/// Query of `GET /v1/admin/participants`; any other parameter is 400.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParticipantListQuery {
    /// Only this role.
    #[param(value_type = Option<crate::model::Role>, nullable = false)]
    role: Option<String>,
    /// Only participants with this status.
    #[param(value_type = Option<crate::store::ParticipantStatus>, nullable = false)]
    status: Option<String>,
    /// At most this many (default 1000).
    #[param(minimum = 1, maximum = 100000, nullable = false)]
    limit: Option<usize>,
    /// The `next` of the previous page, to continue the same listing.
    #[param(nullable = false)]
    after: Option<String>,
}

/// `GET /v1/admin/participants` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ParticipantList {
    /// The participants of this page, in id order.
    participants: Vec<ParticipantView>,
    /// Give it back as `after` for the next page; null on the last page.
    #[schema(required = true)]
    next: Option<String>,
}

/// The 400 of an operation whose only input is the participant id in the path.
const ID_NOT_UTF8: &str = "The id is not UTF-8 (malformed-request)";

/// Registers a participant (bank, merchant, gateway or buyer).
#[utoipa::path(post, path = "/v1/admin/participants", tag = "admin",
    request_body = crate::wire::NewParticipantBody,
    security(("admin" = [])),
    responses(
        (status = 201, description = "Registered", body = ParticipantView),
        (status = 400, description = "Not JSON of this shape: no or an unknown role, an unknown field, a value of the wrong type (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the ra-officer role (forbidden)", body = Problem),
        (status = 422, description = "A field is invalid, missing or not one of the role's (invalid-participant); or the names it gives break the role's policy (policy-violation)", body = Problem),
    ))]
pub(crate) async fn add_participant(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<ParticipantBody>,
) -> Result<impl IntoResponse, Problem> {
    officer.require(OfficerRole::RaOfficer)?;
    let role = body.role().map_err(Problem::bad_request)?;
    let actor = officer.actor();
    let worker = state.clone();
    let record = blocking(move || {
        worker
            .ra
            .add_participant(role, body.fields(), &actor)
            .map_err(Problem::from)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ParticipantView::new(&record, Some(&[]))),
    ))
}

/// Lists participants in id order, a page at a time: `next` (null on the last page) is
/// given back as `after`.
#[utoipa::path(get, path = "/v1/admin/participants", tag = "admin", params(ParticipantListQuery),
    security(("admin" = [])),
    responses(
        (status = 200, description = "A page of participants", body = ParticipantList),
        (status = 400, description = "A bad or unknown query parameter (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer has none of the auditor, ra-officer, revocation-officer, ca-operator roles (forbidden)", body = Problem),
    ))]
pub(crate) async fn list_participants(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    query: Result<ApiQuery<ParticipantListQuery>, Problem>,
) -> Result<impl IntoResponse, Problem> {
    officer.require_any(READERS)?;
    let ApiQuery(query) = query?;
    let role = query
        .role
        .map(|r| crate::wire::role(&r))
        .transpose()
        .map_err(|e| Problem::bad_request(e.to_string()))?;
    // Spelled exactly as the API spells statuses (the document's enum).
    let status = query
        .status
        .as_deref()
        .map(|text| {
            text.parse::<crate::store::ParticipantStatus>()
                .ok()
                .filter(|status| status.as_str() == text)
                .ok_or_else(|| {
                    Problem::bad_request(format!(
                        "status {text:?} must be active, suspended or terminated"
                    ))
                })
        })
        .transpose()?;
    let limit = match query.limit {
        None => 1000,
        Some(limit) if u32::try_from(limit).is_ok_and(|l| (1..=MAX_LIST_LIMIT).contains(&l)) => {
            limit
        }
        Some(limit) => {
            return Err(Problem::bad_request(format!(
                "limit {limit} must be 1 to {MAX_LIST_LIMIT}"
            )))
        }
    };
    let filter = crate::store::ParticipantFilter {
        role,
        status,
        limit: Some(limit),
        after: query.after,
    };
    let worker = state.clone();
    let page = blocking(move || worker.ra.participants(&filter).map_err(Problem::from)).await?;
    let participants: Vec<ParticipantView> = page
        .records
        .iter()
        .map(|record| ParticipantView::new(record, None))
        .collect();
    Ok(axum::Json(ParticipantList {
        participants,
        next: page.next,
    }))
}

/// One participant, with its certificates.
#[utoipa::path(get, path = "/v1/admin/participants/{id}", tag = "admin",
    params(("id" = String, Path, description = "Participant id, par_… (an id of another form names no participant: 404)", pattern = "^par_[0-9a-f]{24}$")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The participant and its certificates", body = ParticipantView),
        (status = 400, description = ID_NOT_UTF8, body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer has none of the auditor, ra-officer, revocation-officer, ca-operator roles (forbidden)", body = Problem),
        (status = 404, description = "Unknown participant (not-found)", body = Problem),
    ))]
pub(crate) async fn show_participant(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    officer.require_any(READERS)?;
    let worker = state.clone();
    let view = blocking(move || {
        {
            let record = worker.ra.participant(&id)?;
            let certificates = worker.ra.participant_certificates(&id)?;
            Ok::<_, crate::ra::RaError>(ParticipantView::new(&record, Some(&certificates)))
        }
        .map_err(Problem::from)
    })
    .await?;
    Ok(axum::Json(view))
}

/// Changes a participant's fields (not its role). Its certificates keep their names;
/// new tokens and renewals get the new ones.
#[utoipa::path(patch, path = "/v1/admin/participants/{id}", tag = "admin", request_body = ParticipantBody,
    params(("id" = String, Path, description = "Participant id, par_… (an id of another form names no participant: 404)", pattern = "^par_[0-9a-f]{24}$")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Updated", body = ParticipantView),
        (status = 400, description = "Not JSON of this shape: `role` given, an unknown field, a value of the wrong type; or the id is not UTF-8 (malformed-request)", body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the ra-officer role (forbidden)", body = Problem),
        (status = 404, description = "Unknown participant (not-found)", body = Problem),
        (status = 409, description = "The participant is terminated (participant-status-conflict)", body = Problem),
        (status = 422, description = "A field is invalid, missing or not one of the role's (invalid-participant); or the names break the role's policy (policy-violation)", body = Problem),
    ))]
pub(crate) async fn update_participant(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ParticipantBody>,
) -> Result<impl IntoResponse, Problem> {
    officer.require(OfficerRole::RaOfficer)?;
    if body.role.is_some() {
        return Err(Problem::bad_request(
            "a participant's role cannot change: register a new participant instead",
        ));
    }
    let actor = officer.actor();
    let worker = state.clone();
    let record = blocking(move || {
        worker
            .ra
            .update_participant(&id, body.fields(), &actor)
            .map_err(Problem::from)
    })
    .await?;
    Ok(axum::Json(ParticipantView::new(&record, None)))
}

/// What `act` does to a participant, shared by suspend, resume and terminate.
async fn participant_act(
    state: Arc<AppState>,
    actor: String,
    id: String,
    act: fn(
        &crate::ra::RegistrationAuthority,
        &str,
        &str,
    ) -> Result<crate::ra::participants::ParticipantAct, crate::ra::RaError>,
) -> Result<axum::Json<ParticipantActResult>, Problem> {
    let done = blocking(move || act(&state.ra, &id, &actor).map_err(Problem::from)).await?;
    Ok(axum::Json(ParticipantActResult::from(&done)))
}

/// Suspends an active participant: all its current certificates go on hold
/// (certificateHold) at once, and enrollment and renewal are refused until it is resumed.
/// OCSP shows the holds before the answer; a new CRL follows.
#[utoipa::path(post, path = "/v1/admin/participants/{id}/suspend", tag = "admin",
    params(("id" = String, Path, description = "Participant id, par_… (an id of another form names no participant: 404)", pattern = "^par_[0-9a-f]{24}$")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Suspended; the certificates put on hold", body = ParticipantActResult),
        (status = 400, description = ID_NOT_UTF8, body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the ra-officer role (forbidden)", body = Problem),
        (status = 404, description = "Unknown participant (not-found)", body = Problem),
        (status = 409, description = "Not active (participant-status-conflict)", body = Problem),
    ))]
pub(crate) async fn suspend_participant(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    officer.require(OfficerRole::RaOfficer)?;
    participant_act(
        state,
        officer.actor(),
        id,
        crate::ra::RegistrationAuthority::suspend_participant,
    )
    .await
}

/// Resumes a suspended participant: lifts exactly the holds its suspension placed, and
/// allows enrollment and renewal again.
#[utoipa::path(post, path = "/v1/admin/participants/{id}/resume", tag = "admin",
    params(("id" = String, Path, description = "Participant id, par_… (an id of another form names no participant: 404)", pattern = "^par_[0-9a-f]{24}$")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Active again; the certificates taken off hold", body = ParticipantActResult),
        (status = 400, description = ID_NOT_UTF8, body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the ra-officer role (forbidden)", body = Problem),
        (status = 404, description = "Unknown participant (not-found)", body = Problem),
        (status = 409, description = "Not suspended (participant-status-conflict)", body = Problem),
    ))]
pub(crate) async fn resume_participant(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    officer.require(OfficerRole::RaOfficer)?;
    participant_act(
        state,
        officer.actor(),
        id,
        crate::ra::RegistrationAuthority::resume_participant,
    )
    .await
}

/// Terminates a participant for good: all its current certificates are revoked
/// (cessationOfOperation); it can never enroll, renew or change again.
#[utoipa::path(post, path = "/v1/admin/participants/{id}/terminate", tag = "admin",
    params(("id" = String, Path, description = "Participant id, par_… (an id of another form names no participant: 404)", pattern = "^par_[0-9a-f]{24}$")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Terminated; the certificates revoked", body = ParticipantActResult),
        (status = 400, description = ID_NOT_UTF8, body = Problem),
        (status = 401, description = "No, a wrong or a disabled officer's credential (unauthorized)", body = Problem),
        (status = 403, description = "The officer lacks the ra-officer role (forbidden)", body = Problem),
        (status = 404, description = "Unknown participant (not-found)", body = Problem),
        (status = 409, description = "Terminated already (participant-status-conflict)", body = Problem),
    ))]
pub(crate) async fn terminate_participant(
    officer: Officer,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<impl IntoResponse, Problem> {
    officer.require(OfficerRole::RaOfficer)?;
    participant_act(
        state,
        officer.actor(),
        id,
        crate::ra::RegistrationAuthority::terminate_participant,
    )
    .await
}
