//! Entry points for the cargo-fuzz targets in `fuzz/` (docs/fuzzing.md). Each forwards to
//! the code the HTTP handlers and the CLI run, so the fuzzers exercise exactly that code;
//! nothing here decides anything of its own. Not a stable API.

use crate::http::enroll::RenewRequest;
use crate::http::verify::{BatchBody, ValidateBody, VerifyBody};
use crate::http::Problem;
use crate::names::{SubjectAltName, SubjectName};
use crate::ra::enrollment::RenewalRequest;
use crate::ra::{IssuanceRequest, RaError, RegistrationAuthority, VerifiedCsr};
use crate::verify::{ValidateOutcome, Verifier, VerifyOutcome};

/// Decodes a JSON body the way the handlers' extractor does (`axum::Json`, the
/// content-type check aside); `None` where they answer 400.
fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    axum::Json::<T>::from_bytes(body)
        .ok()
        .map(|axum::Json(t)| t)
}

/// Every policy check of an issuance (`RegistrationAuthority::decide`), then, if they
/// pass, the CA's signing of what was decided (with its pre-issuance checks) by the
/// active issuing CA, as `execute` does it but with an unreserved serial and nothing
/// recorded. `Ok(None)`: refused by the policy; `Ok(Some(der))`: the certificate.
pub fn decide_and_sign(
    ra: &RegistrationAuthority,
    request: IssuanceRequest,
) -> Result<Option<Vec<u8>>, RaError> {
    let Ok(decision) = ra.decide(request) else {
        return Ok(None);
    };
    let issuer = ra.ca().active()?.id();
    let serial = crate::model::Serial::random(&ring::rand::SystemRandom::new())
        .map_err(|_| RaError::RandomFailed)?;
    let now = time::OffsetDateTime::now_utc();
    let leaf = decision.leaf_request(issuer, serial, now);
    Ok(Some(ra.ca().sign_leaf(&leaf)?))
}

/// Enrollment's check that the names a CSR asks for are the token's.
pub fn check_csr_names_match(
    csr: &VerifiedCsr,
    subject: &SubjectName,
    sans: &[SubjectAltName],
) -> Result<(), RaError> {
    crate::ra::enrollment::check_csr_names_match(csr, subject, sans)
}

/// `POST /v1/verify`: `None` for a body the handler refuses with 400.
pub fn verify_body(verifier: &Verifier, body: &[u8]) -> Option<VerifyOutcome> {
    json::<VerifyBody>(body).map(|body| {
        crate::http::verify::verify_one(verifier, &body, &crate::verify::VerifyBudget::unlimited())
    })
}

/// `POST /v1/verify/batch`: `None` for a body the handler refuses with 400.
pub fn verify_batch_body(
    verifier: &Verifier,
    body: &[u8],
) -> Option<Result<Vec<VerifyOutcome>, Problem>> {
    json::<BatchBody>(body).map(|body| crate::http::verify::verify_batch_items(verifier, &body))
}

/// `POST /v1/validate`: `None` for a body the handler refuses with 400.
pub fn validate_body(verifier: &Verifier, body: &[u8]) -> Option<ValidateOutcome> {
    json::<ValidateBody>(body).map(|body| crate::http::verify::validate_body(verifier, &body))
}

/// `POST /v1/renew`'s body decoded into the RA's request: `None` for a body the handler
/// refuses with 400 before decoding its fields.
pub fn renewal_body(body: &[u8]) -> Option<Result<RenewalRequest, Problem>> {
    json::<RenewRequest>(body).map(crate::http::enroll::renewal_request)
}

/// The certificatePolicies extension value the CA writes into a certificate of a role
/// whose policy OID is `arcs`.
pub fn certificate_policies_der(arcs: &[u64]) -> Result<Vec<u8>, crate::ca::CaError> {
    crate::ca::extensions::certificate_policies(arcs).map(|e| e.content().to_vec())
}

/// `POST /v1/admin/tokens` (and `paypki token create`): the body's grant, before the
/// role's policy is applied. `None` for a body the handler refuses with 400.
pub fn token_body(body: &[u8]) -> Option<Result<crate::ra::enrollment::TokenGrant, String>> {
    json::<crate::http::admin::TokenCreateRequest>(body)
        .map(|r| crate::http::admin::token_grant(&r).map_err(|e| e.to_string()))
}
