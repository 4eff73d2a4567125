//! `POST /v1/verify`, `POST /v1/verify/batch`, `POST /v1/validate`: the verification
//! service on every payment's path. Undecodable fields give `valid: false` with reason
//! `malformed` (so one bad batch item does not spoil the others); unreadable JSON is 400.

use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use std::net::SocketAddr;

use axum::extract::ConnectInfo;

use super::extract::ApiJson;
use super::{blocking, peer_ip, AppState, Problem, VerifySlot};
use crate::model::Role;
use crate::verify::{
    certificate_from_pem, PemText, Reason, SignatureFormat, SignerCertificate, Usage,
    ValidateOutcome, Verifier, VerifyBudget, VerifyOutcome, VerifyRequest, MAX_BATCH,
};
pub use crate::wire::{ValidateBody, VerifyBody};

/// A single verification estimated to cost at most this (µs, see
/// `crate::verify::check_cost`) runs inline on the async worker: one ECDSA P-256,
/// Ed25519 or RSA-2048 check, or the schemes of such a key tried in turn. Costlier ones
/// (P-384, larger RSA keys without a named scheme) go to the blocking pool, so that the
/// async workers, which also answer OCSP, never wait behind them.
const INLINE_MAX_COST: u64 = 200;

/// What a chain validation is charged against the client's CPU allowance (µs): a few
/// signature checks by webpki.
const VALIDATE_COST: u64 = 200;

/// `POST /v1/verify/batch` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    /// At most 1000 verify requests. Each is decoded on its own, so an item with unknown
    /// fields or fields of the wrong type is `malformed` without spoiling the others.
    /// Kept as JSON text here (the body's parse only finds where each item ends): items
    /// are decoded where they are verified, on every core.
    #[schema(value_type = Vec<VerifyBody>, max_items = 1000)]
    items: Vec<Box<serde_json::value::RawValue>>,
}

/// `POST /v1/verify/batch` answer (its schema: the handler writes the same JSON from
/// results serialized on every core).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BatchResults {
    /// One result per item, in order.
    results: Vec<VerifyOutcome>,
}

fn parse_time(text: Option<&str>) -> Result<Option<OffsetDateTime>, String> {
    text.map(|t| {
        OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|_| format!("time {t:?} is not RFC 3339 (e.g. 2026-01-31T12:00:00Z)"))
    })
    .transpose()
}

fn decode(field: &str, text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| format!("{field} is not valid base64"))
}

/// Turns a body into a request, or the reason it cannot be one.
pub(crate) fn to_request(body: &VerifyBody) -> Result<VerifyRequest, String> {
    let format = match body.format.as_deref().unwrap_or("raw") {
        "raw" => SignatureFormat::Raw(body.algorithm.clone()),
        "cms" | "pkcs7" => SignatureFormat::Cms,
        other => return Err(format!("format {other:?} must be raw or cms")),
    };
    let certificate = match (&body.certificate, &body.serial, &format) {
        (Some(pem), None, _) => SignerCertificate::Pem(PemText::new(pem.clone())),
        (None, Some(serial), _) => SignerCertificate::Serial(serial.clone()),
        (None, None, SignatureFormat::Cms) => SignerCertificate::FromSignature,
        (Some(_), Some(_), _) => return Err("give either certificate or serial, not both".into()),
        (None, None, _) => return Err("give the signer's certificate (PEM) or serial".into()),
    };
    let require_role: Option<Role> = body
        .require_role
        .as_deref()
        .map(crate::wire::role)
        .transpose()?;
    Ok(VerifyRequest {
        certificate,
        message: decode("message", &body.message)?,
        signature: decode("signature", &body.signature)?,
        format,
        time: parse_time(body.time.as_deref())?,
        require_role,
        sm2_distinguishing_id: body
            .sm2_distinguishing_id
            .as_deref()
            .map(|id| {
                crate::shangmi::check_distinguishing_id(id)
                    .map(|()| id.to_string())
                    .map_err(|e| e.to_string())
            })
            .transpose()?,
    })
}

/// The verdict on one `/v1/verify` body (also one batch item), spending from `budget`.
pub(crate) fn verify_one(
    verifier: &Verifier,
    body: &VerifyBody,
    budget: &VerifyBudget,
) -> VerifyOutcome {
    match to_request(body) {
        Ok(request) => verifier.with_receipt(
            &request,
            body.receipt == Some(true),
            verifier.verify_within(&request, budget),
        ),
        Err(message) => VerifyOutcome::invalid(Reason::Malformed, message, None),
    }
}

/// One batch item: decoded here rather than with the whole body, so that an item of the
/// wrong shape is a `malformed` verdict for that item only.
fn verify_item(
    verifier: &Verifier,
    index: usize,
    item: &serde_json::value::RawValue,
    budget: &VerifyBudget,
) -> VerifyOutcome {
    match serde_json::from_str::<VerifyBody>(item.get()) {
        Ok(body) => verify_one(verifier, &body, budget),
        Err(e) => VerifyOutcome::invalid(
            Reason::Malformed,
            format!(
                "items[{index}] is not a verify request: {}",
                without_position(&e)
            ),
            None,
        ),
    }
}

/// A JSON error's message without serde_json's " at line L column C", which would
/// count within the item, not the body.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_string(),
        None => text,
    }
}

/// Verifies a signature over a payment message.
#[utoipa::path(post, path = "/v1/verify", tag = "verification", request_body = VerifyBody,
    description = "A body of the wrong JSON shape (unknown fields, wrong JSON types) is 400. A field of the right type whose value the schema refuses (a `format`, `algorithm` or `require_role` not in its enum, a bad serial, base64 or time) is answered 200 with a verdict: `valid: false`, reason `malformed` (`unsupported_algorithm` for an unknown algorithm).",
    responses(
        (status = 200, description = "The verdict; `valid: false` carries a reason", body = VerifyOutcome),
        (status = 400, description = "Not JSON of this shape (malformed-request)", body = Problem),
        (status = 429, description = "This address used its verification CPU allowance (--verify-rate-ms; rate-limited)", body = Problem),
        (status = 503, description = "The CA could not read its records (unavailable), or no verification slot was free within 5 s (overloaded, with Retry-After); retry", body = Problem),
    ))]
pub(crate) async fn verify(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<axum::Json<VerifyOutcome>, Problem> {
    let client = peer_ip(connect);
    state.admit_verification(client)?;
    let request = match to_request(&body) {
        Ok(request) => request,
        Err(message) => {
            return Ok(axum::Json(VerifyOutcome::invalid(
                Reason::Malformed,
                message,
                None,
            )))
        }
    };
    let budget = Arc::new(VerifyBudget::new(state.verify_budget));
    let wants_receipt = body.receipt == Some(true);
    // Inline when cheap: one verification is tens of microseconds, less than a hop to
    // the blocking pool would cost. Costly ones leave the async workers to OCSP. A
    // receipt adds one signature by the TSA key (as an OCSP answer does).
    let outcome = if state.verifier.estimated_cost(&request) <= INLINE_MAX_COST {
        let outcome = state.verifier.verify_within(&request, &budget);
        state
            .verifier
            .with_receipt(&request, wants_receipt, outcome)
    } else {
        let slot = state.verify_slot().await?;
        let (worker, spending) = (state.clone(), budget.clone());
        blocking(move || {
            let _slot = slot;
            let outcome = worker.verifier.verify_within(&request, &spending);
            Ok(worker
                .verifier
                .with_receipt(&request, wants_receipt, outcome))
        })
        .await?
    };
    state.charge_verification(client, budget.spent(), budget.checks());
    if outcome.reason == Some(Reason::Unavailable) {
        return Err(Problem::unavailable(&outcome.message));
    }
    Ok(axum::Json(outcome))
}

/// Verifies up to 1000 signatures in one request, across all cores; results in order.
#[utoipa::path(post, path = "/v1/verify/batch", tag = "verification", request_body = BatchBody,
    description = "Each item is judged alone: an item the item schema refuses (unknown fields, wrong JSON types, a value outside an enum or pattern) is the verdict `malformed` for that item only. The body itself must be `{\"items\": [...]}` with at most 1000 items, else 400.",
    responses(
        (status = 200, description = "One result per item, in order; items past the request's CPU budget answer `budget_exceeded`", body = BatchResults),
        (status = 400, description = "Not JSON of this shape, or more than 1000 items (malformed-request)", body = Problem),
        (status = 429, description = "This address used its verification CPU allowance (--verify-rate-ms; rate-limited)", body = Problem),
        (status = 503, description = "No verification slot was free within 5 s (--verify-concurrency; overloaded, with Retry-After)", body = Problem),
    ))]
pub(crate) async fn verify_batch(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    axum::Extension(slot): axum::Extension<VerifySlot>,
    ApiJson(body): ApiJson<BatchBody>,
) -> Result<axum::response::Response, Problem> {
    if body.items.len() > MAX_BATCH {
        return Err(Problem::bad_request(format!(
            "{} items; a batch holds at most {MAX_BATCH}: split it",
            body.items.len()
        )));
    }
    let client = peer_ip(connect);
    let budget = Arc::new(VerifyBudget::new(state.verify_budget));
    let (worker, spending) = (state.clone(), budget.clone());
    // Each item is decoded, verified and its result serialized on the rayon pool: only
    // finding the items' ends and joining the results are left to one thread.
    let answer = blocking(move || {
        use rayon::prelude::*;
        let _slot = slot;
        let results = body
            .items
            .par_iter()
            .enumerate()
            .map(|(index, item)| {
                serde_json::to_vec(&verify_item(&worker.verifier, index, item, &spending))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Problem::internal(&e))?;
        Ok(join_results(&results))
    })
    .await?;
    state.charge_verification(client, budget.spent(), budget.checks());
    Ok(super::typed_body("application/json", answer))
}

/// `{"results":[…]}` from results serialized each on its own: the bytes
/// `axum::Json(BatchResults)` would write.
fn join_results(results: &[Vec<u8>]) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"results\":[";
    let size = HEAD.len() + results.iter().map(|r| r.len() + 1).sum::<usize>() + 2;
    let mut answer = Vec::with_capacity(size);
    answer.extend_from_slice(HEAD);
    for (index, result) in results.iter().enumerate() {
        if index > 0 {
            answer.push(b',');
        }
        answer.extend_from_slice(result);
    }
    answer.extend_from_slice(b"]}");
    answer
}

/// Validates a certificate chain to this CA's root, with revocation from the CA's records.
#[utoipa::path(post, path = "/v1/validate", tag = "verification", request_body = ValidateBody,
    description = "A body of the wrong JSON shape is 400. Unreadable PEM, an empty chain, a bad `time` or a `usage` outside its enum are answered 200 with `valid: false`, reason `malformed`.",
    responses(
        (status = 200, description = "The verdict", body = ValidateOutcome),
        (status = 400, description = "Not JSON of this shape (malformed-request)", body = Problem),
        (status = 429, description = "This address used its verification CPU allowance (--verify-rate-ms; rate-limited)", body = Problem),
        (status = 503, description = "The CA could not read its records (unavailable), or no verification slot was free within 5 s (overloaded, with Retry-After); retry", body = Problem),
    ))]
pub(crate) async fn validate(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    axum::Extension(slot): axum::Extension<VerifySlot>,
    ApiJson(body): ApiJson<ValidateBody>,
) -> Result<axum::Json<ValidateOutcome>, Problem> {
    state.charge_verification(peer_ip(connect), VALIDATE_COST, 0);
    let worker = state.clone();
    let outcome = blocking(move || {
        let _slot = slot;
        Ok(validate_body(&worker.verifier, &body))
    })
    .await?;
    if outcome.reason == Some(Reason::Unavailable) {
        return Err(Problem::unavailable(&outcome.message));
    }
    Ok(axum::Json(outcome))
}

/// The verdict on a `/v1/validate` body: its fields decoded, then the chain validated.
pub(crate) fn validate_body(verifier: &Verifier, body: &ValidateBody) -> ValidateOutcome {
    let malformed = |message: String| ValidateOutcome {
        valid: false,
        status: "unknown",
        reason: Some(Reason::Malformed),
        message,
        subject: None,
        time: None,
    };
    let usage = match body.usage.as_deref().unwrap_or("any") {
        "any" => Ok(Usage::Any),
        "serverAuth" | "server_auth" => Ok(Usage::ServerAuth),
        "clientAuth" | "client_auth" => Ok(Usage::ClientAuth),
        other => Err(format!(
            "usage {other:?} must be serverAuth, clientAuth or any"
        )),
    };
    let time = parse_time(body.time.as_deref());
    let mut chain = Vec::new();
    for (index, text) in body.chain.iter().enumerate() {
        match pem::parse_many(text) {
            Ok(blocks) if blocks.iter().any(|b| b.tag() == "CERTIFICATE") => chain.extend(
                blocks
                    .into_iter()
                    .filter(|b| b.tag() == "CERTIFICATE")
                    .map(pem::Pem::into_contents),
            ),
            _ => match certificate_from_pem(text) {
                Ok(der) => chain.push(der),
                Err(e) => return malformed(format!("chain[{index}]: {e}")),
            },
        }
    }
    match (usage, time) {
        (Ok(usage), Ok(time)) => verifier.validate(&chain, time, usage),
        (Err(e), _) | (_, Err(e)) => malformed(e),
    }
}

/// The verdicts on a `/v1/verify/batch` body with no CPU limit (the fuzzing entry point;
/// the handler spends from the request's budget), in order.
pub(crate) fn verify_batch_items(
    verifier: &Verifier,
    body: &BatchBody,
) -> Result<Vec<VerifyOutcome>, Problem> {
    use rayon::prelude::*;
    if body.items.len() > MAX_BATCH {
        return Err(Problem::bad_request(format!(
            "{} items; a batch holds at most {MAX_BATCH}: split it",
            body.items.len()
        )));
    }
    let budget = VerifyBudget::unlimited();
    Ok(body
        .items
        .par_iter()
        .enumerate()
        .map(|(index, item)| verify_item(verifier, index, item, &budget))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_results_are_the_bytes_of_the_serialized_answer() {
        let outcomes = vec![
            VerifyOutcome::invalid(Reason::Malformed, "first \"quoted\"", None),
            VerifyOutcome::invalid(Reason::BadSignature, "second", None),
        ];
        let each: Vec<Vec<u8>> = outcomes
            .iter()
            .map(|o| serde_json::to_vec(o).unwrap())
            .collect();
        let whole = serde_json::to_vec(&BatchResults { results: outcomes }).unwrap();
        assert_eq!(join_results(&each), whole);
        let none = serde_json::to_vec(&BatchResults {
            results: Vec::new(),
        })
        .unwrap();
        assert_eq!(join_results(&[]), none);
    }

    /// The body goes through the handlers' extractor (axum's `Json`, which wraps
    /// serde_json's deserializer in serde_path_to_error): items stay JSON text, and an
    /// item of the wrong shape is that item's error, without a position inside it.
    #[test]
    fn batch_items_are_kept_as_text_and_decoded_one_by_one() {
        let body = br#"{"items": [{"message": "", "signature": "", "serial": "01"}, 5, {"x": 1}]}"#;
        let axum::Json(batch) = axum::Json::<BatchBody>::from_bytes(body).unwrap();
        assert_eq!(batch.items.len(), 3);
        assert_eq!(
            batch.items[0].get(),
            r#"{"message": "", "signature": "", "serial": "01"}"#
        );
        assert!(serde_json::from_str::<VerifyBody>(batch.items[0].get()).is_ok());
        for (index, wanted) in [(1, "invalid type: integer `5`"), (2, "unknown field `x`")] {
            let e = serde_json::from_str::<VerifyBody>(batch.items[index].get()).unwrap_err();
            let message = without_position(&e);
            assert!(message.starts_with(wanted), "{message}");
            assert!(!message.contains(" at line "), "{message}");
        }
        // The body's own shape is still checked as a whole.
        assert!(axum::Json::<BatchBody>::from_bytes(br#"{"items": 5}"#).is_err());
        assert!(axum::Json::<BatchBody>::from_bytes(br#"{"items": [], "x": 1}"#).is_err());
    }
}
