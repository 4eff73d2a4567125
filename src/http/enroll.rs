//! `POST /v1/enroll` and `POST /v1/renew`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::extract::ApiJson;
use super::{blocking, peer_ip, AppState, Problem};
use crate::ra::enrollment::RenewalRequest;
use crate::ra::Issued;

/// `POST /v1/enroll` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollRequest {
    /// The one-time token from `paypki token create`, exactly as printed.
    #[schema(pattern = "^ppt_[0-9a-f]{24}_[0-9a-f]{64}$")]
    token: String,
    /// PKCS#10 CSR, PEM. Its subject and SANs may be empty (the token decides them).
    csr: String,
}

/// A newly issued certificate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct IssuedResponse {
    /// Serial number, lowercase hex.
    #[schema(pattern = "^[0-9a-f]+$")]
    serial: String,
    /// The certificate, PEM.
    certificate: String,
    /// Issuing CA then root, PEM.
    #[schema(value_type = String)]
    chain: Box<serde_json::value::RawValue>,
    /// End of validity, RFC 3339.
    #[schema(format = DateTime)]
    not_after: String,
    /// The role.
    #[schema(value_type = crate::model::Role)]
    role: String,
    /// The subject.
    subject: String,
    /// The certificate's entry in the transparency log, with its inclusion proof in the
    /// tree that ends with it (`tree_size` = `leaf_index` + 1). Check it, and later ask
    /// `/v1/transparency/consistency` from that size to a signed tree head's
    /// (docs/verification.md). Absent only if the log could not be read just now.
    #[serde(skip_serializing_if = "Option::is_none")]
    transparency: Option<super::transparency::InclusionView>,
}

impl IssuedResponse {
    pub(crate) fn from_issued(state: &AppState, issued: Issued) -> Self {
        let record = issued.record;
        if !issued.redelivered {
            state
                .metrics
                .issued
                .get_or_create(&super::metrics::IssuanceLabels {
                    role: record.role.to_string(),
                    via: record.requested_via.to_string(),
                })
                .inc();
        }
        let transparency = inclusion_of(state, &record.serial, issued.log_index);
        IssuedResponse {
            transparency,
            serial: record.serial.to_string(),
            certificate: issued.certificate_pem,
            chain: state.chains_json.get(record.issuer, &issued.chain_pem),
            not_after: crate::clock::format_time(record.not_after),
            role: record.role.to_string(),
            subject: record.subject,
        }
    }
}

/// Each issuing CA's chain (the same in every answer of that CA) as a JSON string,
/// escaped once: escaping 1.6 KB of PEM per answer cost about 1 % of an issuance.
#[derive(Debug, Default)]
pub(crate) struct ChainsJson(std::sync::RwLock<std::collections::HashMap<u32, Escaped>>);

#[derive(Debug)]
struct Escaped {
    pem: String,
    json: Box<serde_json::value::RawValue>,
}

impl ChainsJson {
    /// `chain_pem` (issuing CA `issuer`'s chain) as a JSON string.
    fn get(&self, issuer: u32, chain_pem: &str) -> Box<serde_json::value::RawValue> {
        let cached = self.0.read().ok().and_then(|chains| {
            chains
                .get(&issuer)
                .filter(|e| e.pem == chain_pem)
                .map(|e| e.json.clone())
        });
        if let Some(json) = cached {
            return json;
        }
        // A `str` always serializes (the default, `null`, is never reached).
        let json = serde_json::value::to_raw_value(chain_pem).unwrap_or_default();
        if let Ok(mut chains) = self.0.write() {
            chains.insert(
                issuer,
                Escaped {
                    pem: chain_pem.to_string(),
                    json: json.clone(),
                },
            );
        }
        json
    }
}

/// The inclusion proof of a certificate's log entry in the tree that ends with it. The
/// certificate is issued and durable already: a log that cannot be read now costs the
/// client the proof (it can ask `/v1/transparency/proof` later), not the certificate.
fn inclusion_of(
    state: &AppState,
    serial: &crate::model::Serial,
    log_index: Option<u64>,
) -> Option<super::transparency::InclusionView> {
    let store = state.ra.transparency();
    let index = match log_index {
        Some(index) => Ok(Some(index)),
        None => store
            .log_index_of_certificate(serial)
            .map_err(crate::transparency::LogError::from),
    };
    let found = index.and_then(|index| {
        index
            .map(|index| super::transparency::newest_leaf_view(store, index))
            .transpose()
    });
    match found {
        Ok(view) => view,
        Err(e) => {
            tracing::warn!(serial = %serial, error = %e, "no transparency proof for an issued certificate");
            None
        }
    }
}

/// Enrolls a participant with a one-time token.
#[utoipa::path(post, path = "/v1/enroll", tag = "enrollment", request_body = EnrollRequest,
    responses(
        (status = 201, description = "Issued", body = IssuedResponse),
        (status = 200, description = "Issued before: the token was used with this CSR's key, whose answer was lost; the same certificate again", body = IssuedResponse),
        (status = 202, description = "Under dual control: waits for officers' approval; poll `Location`", body = super::approvals::PendingResponse,
            headers(
                ("Location" = String, description = "Where to poll: `/v1/enroll/approvals/{id}`"),
                ("Retry-After" = u32, description = "Seconds to wait before polling"),
            )),
        (status = 400, description = "Malformed JSON (malformed-request), token (bad-token) or CSR (bad-csr, bad-csr-signature)", body = Problem),
        (status = 403, description = "Unknown or expired token, or a wrong secret (token-rejected)", body = Problem),
        (status = 409, description = "Token already used, with another key (token-used)", body = Problem),
        (status = 422, description = "Refused by the role's policy (bad-key, policy-violation) or names the token does not grant (csr-mismatch)", body = Problem),
        (status = 429, description = "Rate limited: the client, its failed attempts, or the token (rate-limited)", body = Problem),
        (status = 503, description = "Overloaded (--enroll-concurrency: overloaded, with Retry-After), no issuing CA may issue (no-issuing-ca), or a CA key is unavailable (unavailable)", body = Problem),
    ))]
pub(crate) async fn enroll(
    State(state): State<Arc<AppState>>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    ApiJson(request): ApiJson<EnrollRequest>,
) -> Result<Response, Problem> {
    let client = peer_ip(connect);
    state.limit_client(client)?;
    state.admit_after_failures(client)?;
    // The document's pattern: the RA would trim, or take uppercase hex (and then find
    // no token); the API takes the token exactly as printed.
    if !crate::wire::patterns::matches(crate::wire::patterns::TOKEN, &request.token) {
        state.count_failure(client);
        return Err(Problem::from(crate::ra::RaError::from(
            crate::ra::enrollment::TokenError::Malformed,
        )));
    }
    let slot = state.enroll_slot()?;
    let worker = state.clone();
    let issued = blocking(move || {
        // Held until the work ends, even if the request times out meanwhile.
        let _slot = slot;
        let mut authenticated = false;
        let outcome =
            worker
                .ra
                .enroll_authenticated(&request.token, request.csr.as_bytes(), |token_id| {
                    authenticated = true;
                    // Only now, with the secret checked, may the attempt count against the
                    // token: an outsider who knows the id cannot spend its allowance.
                    worker
                        .token_limiter
                        .check_key(&token_id.to_string())
                        .map_err(|_| crate::ra::RaError::RateLimited(2))
                });
        match outcome {
            Ok(issued) => Ok(Ok(issued)),
            // Under dual control: the participant polls for its certificate.
            Err(crate::ra::RaError::PendingApproval(request)) => Ok(Err(request)),
            Err(e) => {
                if !authenticated {
                    worker.count_failure(client);
                }
                Err(Problem::from(e))
            }
        }
    })
    .await?;
    let issued = match issued {
        Ok(issued) => issued,
        Err(request) => return Ok(super::approvals::pending(&request, true)),
    };
    // 200, not 201: nothing was created by this request.
    let status = if issued.redelivered {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        axum::Json(IssuedResponse::from_issued(&state, issued)),
    )
        .into_response())
}

/// `POST /v1/renew` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenewRequest {
    /// Serial of the current certificate, hex.
    #[schema(pattern = "^(?:(?:0x)?[0-9A-Fa-f]{1,40}|[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){1,19})$")]
    serial: String,
    /// CSR for the new certificate (same or new key), PEM.
    csr: String,
    /// Unix time (seconds) at which `proof` was made; must be within 5 minutes of the CA's clock.
    time: i64,
    /// Base64 signature with the current certificate's key over
    /// `paypki-renewal-v1\n<serial>\n<time>\n<hex SHA-256 of the CSR DER>`
    /// (ECDSA: DER, SHA-256 for P-256 and SHA-384 for P-384; Ed25519; RSA: PKCS#1 v1.5 SHA-256).
    #[schema(
        pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$"
    )]
    proof: String,
}

/// Decodes a `/v1/renew` body: the serial and the base64 proof.
pub(crate) fn renewal_request(request: RenewRequest) -> Result<RenewalRequest, Problem> {
    let serial = crate::wire::serial(&request.serial).map_err(Problem::bad_request)?;
    let not_base64 = || {
        Problem::bad_request("proof is not valid base64 (standard alphabet, padded, no whitespace)")
    };
    if !crate::wire::patterns::matches(crate::wire::patterns::BASE64, &request.proof) {
        return Err(not_base64());
    }
    let proof = base64::engine::general_purpose::STANDARD
        .decode(&request.proof)
        .map_err(|_| not_base64())?;
    Ok(RenewalRequest {
        serial,
        csr: request.csr.into_bytes(),
        time: request.time,
        proof,
    })
}

/// Renews a current certificate: same role, subject and SANs; new validity.
#[utoipa::path(post, path = "/v1/renew", tag = "enrollment", request_body = RenewRequest,
    responses(
        (status = 201, description = "Issued", body = IssuedResponse),
        (status = 202, description = "Under dual control: waits for officers' approval; poll `Location`", body = super::approvals::PendingResponse,
            headers(
                ("Location" = String, description = "Where to poll: `/v1/enroll/approvals/{id}`"),
                ("Retry-After" = u32, description = "Seconds to wait before polling"),
            )),
        (status = 400, description = "Malformed request: bad serial, proof not base64, bad JSON (malformed-request), or CSR (bad-csr, bad-csr-signature)", body = Problem),
        (status = 403, description = "Revoked, expired, window not open, bad or reused proof, stale time (renewal-refused)", body = Problem),
        (status = 404, description = "Unknown serial (not-found)", body = Problem),
        (status = 422, description = "Refused by the role's policy (bad-key, policy-violation)", body = Problem),
        (status = 429, description = "Rate limited: the client, its failed attempts, or the certificate (rate-limited)", body = Problem),
        (status = 503, description = "Overloaded (--enroll-concurrency: overloaded, with Retry-After), no issuing CA may issue (no-issuing-ca), or a CA key is unavailable (unavailable)", body = Problem),
    ))]
pub(crate) async fn renew(
    State(state): State<Arc<AppState>>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    ApiJson(request): ApiJson<RenewRequest>,
) -> Result<Response, Problem> {
    let client = peer_ip(connect);
    state.limit_client(client)?;
    state.admit_after_failures(client)?;
    let renewal = match renewal_request(request) {
        Ok(renewal) => renewal,
        Err(problem) => {
            state.count_failure(client);
            return Err(problem);
        }
    };
    let slot = state.enroll_slot()?;
    let worker = state.clone();
    let issued = blocking(move || {
        let _slot = slot;
        let mut authenticated = false;
        let outcome = worker.ra.renew_authenticated(renewal, |serial| {
            authenticated = true;
            // Per-certificate limit, counted only once the proof verified: the serial is
            // in the certificate, so anyone could otherwise keep it at 429.
            worker
                .token_limiter
                .check_key(&format!("renew:{serial}"))
                .map_err(|_| crate::ra::RaError::RateLimited(2))
        });
        match outcome {
            Ok(issued) => Ok(Ok(issued)),
            Err(crate::ra::RaError::PendingApproval(request)) => Ok(Err(request)),
            Err(e) => {
                if !authenticated {
                    worker.count_failure(client);
                }
                Err(Problem::from(e))
            }
        }
    })
    .await?;
    let issued = match issued {
        Ok(issued) => issued,
        Err(request) => return Ok(super::approvals::pending(&request, true)),
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(IssuedResponse::from_issued(&state, issued)),
    )
        .into_response())
}
