//! The JSON bodies of the HTTP API that the server (`src/http`) and the CLI's client
//! (`src/cli`) both speak, and their conversion to domain values. Neither side owns
//! them, so neither imports the other.

use serde::{Deserialize, Serialize};

use crate::model::{Role, Serial};
use crate::names::{SubjectAltName, SubjectName};
use crate::ra::enrollment::TokenGrant;

/// `POST /v1/admin/tokens` body.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreateRequest {
    /// buyer, merchant, bank or gateway.
    pub role: String,
    /// Subject, e.g. `CN=Shop,O=Shop Ltd,serialNumber=M1234567`.
    pub subject: String,
    /// SANs, e.g. `dns:pay.example`.
    #[serde(default)]
    pub subject_alt_names: Vec<String>,
    /// Lifetime such as `24h`; the policy's default when absent.
    #[serde(default)]
    pub ttl: Option<String>,
}

/// A created token. The token is shown here once and never again.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenCreated {
    /// The one-time token to give the participant.
    pub token: String,
    /// The token's public id (for the audit trail).
    pub id: String,
    /// The role.
    pub role: String,
    /// The subject.
    pub subject: String,
    /// SANs.
    pub subject_alt_names: Vec<String>,
    /// RFC 3339.
    pub expires_at: String,
}

impl From<crate::ra::enrollment::CreatedToken> for TokenCreated {
    fn from(created: crate::ra::enrollment::CreatedToken) -> Self {
        TokenCreated {
            token: created.token,
            id: created.record.id,
            role: created.record.role.to_string(),
            subject: created.record.subject,
            subject_alt_names: created.record.subject_alt_names,
            expires_at: crate::clock::format_time(created.record.expires_at),
        }
    }
}

/// Turns a token request into a checked grant (shared by the CLI and the API).
pub fn token_grant(request: &TokenCreateRequest) -> Result<TokenGrant, String> {
    let role: Role = request
        .role
        .parse()
        .map_err(|e: crate::model::UnknownRole| e.to_string())?;
    let subject: SubjectName = request
        .subject
        .parse()
        .map_err(|e: crate::names::NameError| e.to_string())?;
    let subject_alt_names = request
        .subject_alt_names
        .iter()
        .map(|s| s.parse::<SubjectAltName>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let ttl = request
        .ttl
        .as_deref()
        .map(crate::clock::parse_duration)
        .transpose()?;
    Ok(TokenGrant {
        role,
        subject,
        subject_alt_names,
        ttl,
        // The caller sets the officer who asks.
        created_by: None,
    })
}

/// `POST /v1/admin/revocations` body.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Serial number, hex.
    pub serial: String,
    /// RFC 5280 §5.3.1 reason: unspecified, keyCompromise, cACompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise.
    pub reason: String,
    /// RFC 3339: when the key is known or suspected to have been compromised.
    #[serde(default)]
    pub invalidity_date: Option<String>,
    /// Also revoke a serial this CA has no record of (a certificate issued after the
    /// backup the data directory was restored from): it goes on the CRL of issuing CA
    /// `ca` and OCSP answers revoked for it. Without it, an unknown serial is 404.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unrecorded: bool,
    /// With `unrecorded`: the issuing CA that issued the serial (default: the active one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<u32>,
}

/// The certificate's status after a revocation or unhold.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevocationResult {
    /// Serial number, hex.
    pub serial: String,
    /// `good` or `revoked`.
    pub status: String,
    /// Reason name when revoked.
    pub reason: Option<String>,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
    /// True when the serial had no certificate record (revoked with `unrecorded`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unrecorded: bool,
}

impl RevocationResult {
    /// From the updated record.
    pub fn from_record(record: &crate::store::CertificateRecord) -> Self {
        RevocationResult {
            serial: record.serial.to_string(),
            status: record.status.to_string(),
            reason: record.revocation.as_ref().map(|r| r.reason.clone()),
            revoked_at: record
                .revocation
                .as_ref()
                .map(|r| crate::clock::format_time(r.revoked_at)),
            unrecorded: false,
        }
    }

    /// From a revocation of a serial without a certificate record.
    pub fn from_unrecorded(revocation: &crate::ra::UnrecordedRevocation) -> Self {
        let revoked_at = time::OffsetDateTime::from_unix_timestamp(revocation.entry.revoked_at)
            .map(crate::clock::format_time)
            .ok();
        RevocationResult {
            serial: revocation.serial.to_string(),
            status: "revoked".into(),
            reason: Some(revocation.entry.reason.name().into()),
            revoked_at,
            unrecorded: true,
        }
    }

    /// From whichever way [`crate::ra::RegistrationAuthority::revoke_maybe_unrecorded`] went.
    pub fn from_outcome(
        outcome: &Result<crate::ra::UnrecordedRevocation, crate::store::CertificateRecord>,
    ) -> Self {
        match outcome {
            Ok(unrecorded) => Self::from_unrecorded(unrecorded),
            Err(record) => Self::from_record(record),
        }
    }
}

/// Parses a revocation request's fields (shared by the CLI and the API).
pub fn revocation_fields(
    request: &RevokeRequest,
) -> Result<
    (
        Serial,
        crate::model::RevocationReason,
        Option<time::OffsetDateTime>,
    ),
    String,
> {
    let serial: Serial = request
        .serial
        .parse()
        .map_err(|e: crate::model::SerialError| e.to_string())?;
    let reason = request
        .reason
        .parse()
        .map_err(|e: crate::model::UnknownReason| e.to_string())?;
    let invalidity = request
        .invalidity_date
        .as_deref()
        .map(|d| {
            time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).map_err(
                |_| format!("invalidity date {d:?} is not RFC 3339 (e.g. 2026-01-31T12:00:00Z)"),
            )
        })
        .transpose()?;
    Ok((serial, reason, invalidity))
}

/// `POST /v1/verify` body.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The signer's certificate, PEM (or give `serial`; for CMS it may be omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Serial (hex) of a certificate this CA issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The message, base64.
    pub message: String,
    /// The signature, base64 (for `cms`: the DER SignedData, base64).
    pub signature: String,
    /// `raw` (default) or `cms` (detached PKCS#7 / CMS SignedData).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// For `raw`: ecdsa-sha256, ecdsa-sha384, ed25519, rsa-pkcs1-sha256/384/512,
    /// rsa-pss-sha256/384/512; inferred from the key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// When the signature was made, RFC 3339 (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// buyer, merchant, bank or gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_role: Option<String>,
}

/// `POST /v1/validate` body.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateBody {
    /// Leaf first, then intermediates; PEM.
    pub chain: Vec<String>,
    /// RFC 3339 (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `serverAuth`, `clientAuth` or `any` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
}
