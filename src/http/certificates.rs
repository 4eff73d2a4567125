//! Public read-only views: one certificate's status, and the CA certificates.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::extract::{ApiPath, ApiQuery};
use super::{typed_body, AppState, Problem};

/// A certificate and its status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CertificateView {
    /// Serial number, lowercase hex.
    #[schema(pattern = "^[0-9a-f]+$")]
    serial: String,
    /// `good` or `revoked`.
    #[schema(value_type = crate::model::CertificateStatus)]
    status: String,
    /// `valid` now, or `expired` / `not_yet_valid`.
    #[schema(value_type = Validity)]
    validity: String,
    /// The role.
    #[schema(value_type = crate::model::Role)]
    role: String,
    /// The subject.
    subject: String,
    /// SANs.
    subject_alt_names: Vec<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    not_before: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    not_after: String,
    /// Present when revoked.
    revocation: Option<RevocationView>,
    /// The certificate, PEM.
    certificate: String,
    /// Its chain: the issuing CA that signed it, then the root, PEM.
    chain: String,
    /// The id of the issuing CA that signed it (`paypki ca list`).
    issuer: u32,
}

/// Whether a certificate is within its validity now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used: `validity` is written as text.
pub(crate) enum Validity {
    /// Within its validity.
    Valid,
    /// After its notAfter.
    Expired,
    /// Before its notBefore.
    NotYetValid,
}

/// Revocation details.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RevocationView {
    /// RFC 5280 §5.3.1 reason name.
    #[schema(value_type = crate::model::RevocationReason)]
    reason: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    revoked_at: String,
    /// RFC 3339, when given.
    #[schema(format = DateTime)]
    invalidity_date: Option<String>,
}

/// A certificate issued by this CA, with its current status.
#[utoipa::path(get, path = "/v1/certificates/{serial}", tag = "certificates",
    params(("serial" = String, Path, description = "Serial number, hex", pattern = "^(?:(?:0x)?[0-9A-Fa-f]{1,40}|[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){1,19})$")),
    responses(
        (status = 200, description = "Found", body = CertificateView),
        (status = 400, description = "Not a serial number (malformed-request)", body = Problem),
        (status = 404, description = "Not issued by this CA (not-found)", body = Problem),
    ))]
pub(crate) async fn certificate(
    State(state): State<Arc<AppState>>,
    ApiPath(serial): ApiPath<String>,
) -> Result<axum::Json<CertificateView>, Problem> {
    let serial = crate::wire::serial(&serial).map_err(Problem::bad_request)?;
    let record = state.ra.store().certificate(&serial)?.ok_or_else(|| {
        Problem::not_found(format!(
            "no certificate with serial {serial} was issued by this CA"
        ))
    })?;
    let now = time::OffsetDateTime::now_utc();
    let format = crate::clock::format_time;
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
        chain: state.ra.ca().chain_pem(record.issuer)?,
        issuer: record.issuer,
    }))
}

/// The root CA certificate, DER.
#[utoipa::path(get, path = "/ca/root.crt", tag = "ca", responses((status = 200, description = "DER certificate", content_type = "application/pkix-cert")))]
pub(crate) async fn root_der(State(state): State<Arc<AppState>>) -> Response {
    typed_body("application/pkix-cert", state.ra.ca().root().der.clone())
}

/// Issuing CA 1's certificate, DER: the AIA caIssuers target of its certificates (a URL
/// written into certificates never changes meaning; later CAs have `/ca/issuing-N.crt`).
#[utoipa::path(get, path = "/ca/issuing.crt", tag = "ca", responses(
    (status = 200, description = "DER certificate", content_type = "application/pkix-cert"),
    (status = 404, description = "No issuing CA 1 (not-found)", body = Problem),
))]
pub(crate) async fn issuing_der(State(state): State<Arc<AppState>>) -> Result<Response, Problem> {
    let issuer = state.ra.ca().issuer(1)?;
    Ok(typed_body(
        "application/pkix-cert",
        issuer.certificate().der.clone(),
    ))
}

/// Which chain `GET /ca/chain.pem` returns.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChainQuery {
    /// A certificate's serial (hex): its own chain instead of the active CA's.
    #[param(
        pattern = "^(?:(?:0x)?[0-9A-Fa-f]{1,40}|[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){1,19})$",
        nullable = false
    )]
    serial: Option<String>,
}

/// The chain new certificates get (the active issuing CA, then the root), or with
/// `?serial=` the chain of that certificate, PEM.
#[utoipa::path(get, path = "/ca/chain.pem", tag = "ca", params(ChainQuery),
    responses(
        (status = 200, description = "PEM chain", content_type = "application/pem-certificate-chain"),
        (status = 400, description = "Not a serial number, or an unknown query parameter (malformed-request)", body = Problem),
        (status = 404, description = "No such certificate (not-found)", body = Problem),
    ))]
pub(crate) async fn chain_pem(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<ChainQuery>,
) -> Result<Response, Problem> {
    let ca = state.ra.ca();
    let issuer = match query.serial {
        Some(serial) => {
            let serial = crate::wire::serial(&serial).map_err(Problem::bad_request)?;
            state
                .ra
                .store()
                .certificate(&serial)?
                .ok_or_else(|| {
                    Problem::not_found(format!(
                        "no certificate with serial {serial} was issued by this CA"
                    ))
                })?
                .issuer
        }
        // The newest CA when none may issue (revoked): still the chain of what it issued.
        None => match ca.active() {
            Ok(active) => active.id(),
            Err(_) => ca.issuers().last().map(|i| i.id()).unwrap_or(1),
        },
    };
    Ok(typed_body(
        "application/pem-certificate-chain",
        ca.chain_pem(issuer)?,
    ))
}

/// Issuing CA N's certificate (`issuing-N.crt`, DER) or chain (`chain-N.pem`), or the
/// root of a further hierarchy (`root-N.crt`, DER; `paypki ca add-hierarchy`).
#[utoipa::path(get, path = "/ca/{file}", tag = "ca",
    params(("file" = String, Path, description = "`issuing-N.crt`, `chain-N.pem` or `root-N.crt` (N ≥ 2); anything else is 404", pattern = "^(?:issuing-[0-9]+\\.crt|chain-[0-9]+\\.pem|root-[0-9]+\\.crt)$")),
    responses(
        (status = 200, description = "Issuing CA N's certificate (DER), its chain (PEM), or root N's certificate (DER)",
            content(
                ("application/pkix-cert"),
                ("application/pem-certificate-chain"),
            )),
        (status = 400, description = "The path is not valid UTF-8 (malformed-request)", body = Problem),
        (status = 404, description = "No such file or issuing CA (not-found)", body = Problem),
    ))]
pub(crate) async fn ca_file(
    State(state): State<Arc<AppState>>,
    ApiPath(file): ApiPath<String>,
) -> Result<Response, Problem> {
    let numbered = |prefix: &str, suffix: &str| {
        file.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .and_then(|id| id.parse::<u32>().ok())
    };
    let ca = state.ra.ca();
    let missing = || Problem::not_found(format!("no such CA file: /ca/{file}; see /openapi.json"));
    if let Some(id) = numbered("issuing-", ".crt") {
        let issuer = ca.issuer(id).map_err(|_| missing())?;
        return Ok(typed_body(
            "application/pkix-cert",
            issuer.certificate().der.clone(),
        ));
    }
    if let Some(id) = numbered("root-", ".crt").filter(|id| *id >= 2) {
        let root = ca.root_by_id(id).map_err(|_| missing())?;
        return Ok(typed_body("application/pkix-cert", root.der.clone()));
    }
    if let Some(id) = numbered("chain-", ".pem") {
        let chain = ca.chain_pem(id).map_err(|_| missing())?;
        return Ok(typed_body("application/pem-certificate-chain", chain));
    }
    Err(missing())
}
