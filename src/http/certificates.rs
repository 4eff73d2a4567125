//! Public read-only views: one certificate's status, and the CA certificates.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;

use super::{typed_body, AppState, Problem};
use crate::model::Serial;
use crate::store::CertificateStore;

/// A certificate and its status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CertificateView {
    /// Serial number, lowercase hex.
    serial: String,
    /// `good` or `revoked`.
    status: String,
    /// `valid` now, or `expired` / `not_yet_valid`.
    validity: String,
    /// The role.
    role: String,
    /// The subject.
    subject: String,
    /// SANs.
    subject_alt_names: Vec<String>,
    /// RFC 3339.
    not_before: String,
    /// RFC 3339.
    not_after: String,
    /// Present when revoked.
    revocation: Option<RevocationView>,
    /// The certificate, PEM.
    certificate: String,
}

/// Revocation details.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RevocationView {
    /// RFC 5280 §5.3.1 reason name.
    reason: String,
    /// RFC 3339.
    revoked_at: String,
    /// RFC 3339, when given.
    invalidity_date: Option<String>,
}

/// A certificate issued by this CA, with its current status.
#[utoipa::path(get, path = "/v1/certificates/{serial}", tag = "certificates",
    params(("serial" = String, Path, description = "Serial number, hex")),
    responses(
        (status = 200, description = "Found", body = CertificateView),
        (status = 400, description = "Not a serial number", body = Problem),
        (status = 404, description = "Not issued by this CA", body = Problem),
    ))]
pub(crate) async fn certificate(
    State(state): State<Arc<AppState>>,
    Path(serial): Path<String>,
) -> Result<axum::Json<CertificateView>, Problem> {
    let serial: Serial = serial
        .parse()
        .map_err(|e: crate::model::SerialError| Problem::bad_request(e.to_string()))?;
    let record = state.ra.store().certificate(&serial)?.ok_or_else(|| {
        Problem::not_found(format!(
            "no certificate with serial {serial} was issued by this CA"
        ))
    })?;
    let now = time::OffsetDateTime::now_utc();
    let format = crate::inspect::format_time;
    Ok(axum::Json(CertificateView {
        serial: record.serial.to_string(),
        status: record.status.to_string(),
        validity: if now < record.not_before {
            "not_yet_valid"
        } else if now >= record.not_after {
            "expired"
        } else {
            "valid"
        }
        .into(),
        role: record.role.to_string(),
        subject: record.subject.clone(),
        subject_alt_names: record.subject_alt_names.clone(),
        not_before: format(record.not_before),
        not_after: format(record.not_after),
        revocation: record.revocation.as_ref().map(|r| RevocationView {
            reason: r.reason.clone(),
            revoked_at: format(r.revoked_at),
            invalidity_date: r.invalidity_date.map(format),
        }),
        certificate: crate::ca::to_pem("CERTIFICATE", &record.der),
    }))
}

/// The root CA certificate, DER.
#[utoipa::path(get, path = "/ca/root.crt", tag = "ca", responses((status = 200, description = "DER certificate", content_type = "application/pkix-cert")))]
pub(crate) async fn root_der(State(state): State<Arc<AppState>>) -> Response {
    typed_body("application/pkix-cert", state.ra.ca().root().der.clone())
}

/// The issuing CA certificate, DER (the AIA caIssuers target of every leaf).
#[utoipa::path(get, path = "/ca/issuing.crt", tag = "ca", responses((status = 200, description = "DER certificate", content_type = "application/pkix-cert")))]
pub(crate) async fn issuing_der(State(state): State<Arc<AppState>>) -> Response {
    typed_body("application/pkix-cert", state.ra.ca().issuing().der.clone())
}

/// Issuing CA then root, PEM.
#[utoipa::path(get, path = "/ca/chain.pem", tag = "ca", responses((status = 200, description = "PEM chain", content_type = "application/pem-certificate-chain")))]
pub(crate) async fn chain_pem(State(state): State<Arc<AppState>>) -> Response {
    typed_body(
        "application/pem-certificate-chain",
        state.ra.ca().chain_pem(),
    )
}
