//! The JSON bodies of the HTTP API that the server (`src/http`) and the CLI's client
//! (`src/cli`) both speak, and their conversion to domain values. Neither side owns
//! them, so neither imports the other.

use serde::{Deserialize, Serialize};

use crate::model::{Role, Serial};
use crate::names::{SubjectAltName, SubjectName};
use crate::ra::enrollment::{GrantNames, TokenGrant};

/// `POST /v1/admin/tokens` body: either `participant`, or `role` and `subject` (and SANs).
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreateRequest {
    /// buyer, merchant, bank or gateway (not with `participant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Subject, e.g. `CN=Shop,O=Shop Ltd,serialNumber=M1234567` (not with `participant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// SANs, e.g. `dns:pay.example` (not with `participant`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// A registered participant's id: its role, subject and SANs come from the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
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
    /// The participant it was made for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
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
            participant: created.record.participant,
        }
    }
}

/// Why a token request cannot become a grant: fields that do not go together (400) or
/// a value that cannot be parsed (422, like a policy refusal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantError {
    /// `participant` together with `role`, `subject` or SANs, or neither.
    Fields(String),
    /// A role, subject, SAN or lifetime that cannot be parsed.
    Value(String),
}

impl std::fmt::Display for GrantError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GrantError::Fields(text) | GrantError::Value(text) => f.write_str(text),
        }
    }
}

/// Turns a token request into a checked grant (shared by the CLI and the API).
pub fn token_grant(request: &TokenCreateRequest) -> Result<TokenGrant, GrantError> {
    let ttl = request
        .ttl
        .as_deref()
        .map(crate::clock::parse_duration)
        .transpose()
        .map_err(GrantError::Value)?;
    if let Some(participant) = &request.participant {
        if request.role.is_some()
            || request.subject.is_some()
            || !request.subject_alt_names.is_empty()
        {
            return Err(GrantError::Fields(
                "a token for a participant takes its role, subject and SANs from the registry: leave out role, subject and subject_alt_names".into(),
            ));
        }
        return Ok(TokenGrant {
            names: GrantNames::Participant(participant.trim().to_string()),
            ttl,
            // The caller sets the officer who asks.
            created_by: None,
        });
    }
    let (Some(role), Some(subject)) = (&request.role, &request.subject) else {
        return Err(GrantError::Fields(
            "give either participant (a registered participant's id) or role and subject".into(),
        ));
    };
    let role: Role = role
        .parse()
        .map_err(|e: crate::model::UnknownRole| GrantError::Value(e.to_string()))?;
    let subject: SubjectName = subject
        .parse()
        .map_err(|e: crate::names::NameError| GrantError::Value(e.to_string()))?;
    let subject_alt_names = request
        .subject_alt_names
        .iter()
        .map(|s| {
            s.parse::<SubjectAltName>()
                .map_err(|e| GrantError::Value(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TokenGrant {
        names: GrantNames::Explicit {
            role,
            subject,
            subject_alt_names,
        },
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

/// `POST /v1/admin/participants` body (all fields the role needs, and `role`), and
/// `PATCH /v1/admin/participants/{id}` body (the fields to change, no `role`: a
/// participant's role never changes; `""` clears an optional text field, a list replaces
/// the list).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantBody {
    /// bank, merchant, gateway or buyer (creation only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Display name: the certificate's CN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Bank, merchant: registered legal name (O).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<String>,
    /// Gateway: the operating company (O).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// ISO 3166-1 alpha-2 (C): bank and merchant need it; gateway and buyer may have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// City (L): bank, merchant, gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// Bank: BIC, ISO 9362, 8 or 11 characters (serialNumber).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bic: Option<String>,
    /// Merchant: merchant id from the acquiring bank (serialNumber).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    /// Merchant: the id of its acquiring bank (a bank participant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquiring_bank: Option<String>,
    /// Buyer: customer or account reference at its bank (serialNumber).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_reference: Option<String>,
    /// Buyer: the id of its issuing bank (a bank participant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuing_bank: Option<String>,
    /// Merchant, buyer: e-mail address (rfc822Name SAN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Bank, merchant, gateway (which needs one): DNS names (SANs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_names: Option<Vec<String>>,
    /// Bank, merchant: URIs (SANs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uris: Option<Vec<String>>,
    /// Gateway: IP addresses (SANs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_addresses: Option<Vec<String>>,
}

impl ParticipantBody {
    /// The fields, for the RA (`role` aside).
    pub fn fields(&self) -> crate::ra::participants::ParticipantFields {
        crate::ra::participants::ParticipantFields {
            name: self.name.clone(),
            legal_name: self.legal_name.clone(),
            operator: self.operator.clone(),
            country: self.country.clone(),
            locality: self.locality.clone(),
            bic: self.bic.clone(),
            merchant_id: self.merchant_id.clone(),
            acquiring_bank: self.acquiring_bank.clone(),
            customer_reference: self.customer_reference.clone(),
            issuing_bank: self.issuing_bank.clone(),
            email: self.email.clone(),
            dns_names: self.dns_names.clone(),
            uris: self.uris.clone(),
            ip_addresses: self.ip_addresses.clone(),
        }
    }

    /// The role of a new participant.
    pub fn role(&self) -> Result<Role, String> {
        self.role
            .as_deref()
            .ok_or_else(|| "role is required: bank, merchant, gateway or buyer".to_string())?
            .parse()
            .map_err(|e: crate::model::UnknownRole| e.to_string())
    }
}

/// A certificate of a participant, in a participant's view.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ParticipantCertificate {
    /// Serial, hex.
    pub serial: String,
    /// `good` or `revoked` (on hold included).
    pub status: String,
    /// The revocation reason, when revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// End of validity, RFC 3339.
    pub not_after: String,
}

impl From<&crate::store::CertificateRecord> for ParticipantCertificate {
    fn from(record: &crate::store::CertificateRecord) -> Self {
        ParticipantCertificate {
            serial: record.serial.to_string(),
            status: record.status.to_string(),
            reason: record.revocation.as_ref().map(|r| r.reason.clone()),
            not_after: crate::clock::format_time(record.not_after),
        }
    }
}

/// A participant as the API shows it: its fields, the subject and SANs its certificates
/// get, and (for one participant) its certificates.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ParticipantView {
    /// `par_<24 hex>`.
    pub id: String,
    /// The role.
    pub role: String,
    /// `active`, `suspended` or `terminated`.
    pub status: String,
    /// The fields as registered (only those set).
    #[serde(flatten)]
    #[schema(value_type = ParticipantBody)]
    pub fields: ParticipantBody,
    /// The subject its certificates get.
    pub subject: String,
    /// The SANs its certificates get.
    pub subject_alt_names: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Its certificates (in a single participant's view), in serial order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<Vec<ParticipantCertificate>>,
}

impl ParticipantView {
    /// The view of a stored record, with its certificates when given.
    pub fn new(
        record: &crate::store::ParticipantRecord,
        certificates: Option<&[crate::store::CertificateRecord]>,
    ) -> Self {
        let (subject, subject_alt_names) = match crate::ra::participants::derive_names(record) {
            Ok((subject, sans)) => (
                subject.to_string(),
                sans.iter().map(ToString::to_string).collect(),
            ),
            Err(_) => (String::new(), Vec::new()),
        };
        let some_list = |list: &Vec<String>| (!list.is_empty()).then(|| list.clone());
        ParticipantView {
            id: record.id.clone(),
            role: record.role.to_string(),
            status: record.status.to_string(),
            fields: ParticipantBody {
                role: None,
                name: Some(record.name.clone()),
                legal_name: record.legal_name.clone(),
                operator: record.operator.clone(),
                country: record.country.clone(),
                locality: record.locality.clone(),
                bic: record.bic.clone(),
                merchant_id: record.merchant_id.clone(),
                acquiring_bank: record.acquiring_bank.clone(),
                customer_reference: record.customer_reference.clone(),
                issuing_bank: record.issuing_bank.clone(),
                email: record.email.clone(),
                dns_names: some_list(&record.dns_names),
                uris: some_list(&record.uris),
                ip_addresses: some_list(&record.ip_addresses),
            },
            subject,
            subject_alt_names,
            created_at: crate::clock::format_time(record.created_at),
            updated_at: crate::clock::format_time(record.updated_at),
            certificates: certificates
                .map(|list| list.iter().map(ParticipantCertificate::from).collect()),
        }
    }
}

/// What a suspension, resumption or termination did.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ParticipantActResult {
    /// The participant afterwards.
    pub participant: ParticipantView,
    /// The certificates whose status changed, as they are now.
    pub certificates: Vec<ParticipantCertificate>,
}

impl From<&crate::ra::participants::ParticipantAct> for ParticipantActResult {
    fn from(act: &crate::ra::participants::ParticipantAct) -> Self {
        ParticipantActResult {
            participant: ParticipantView::new(&act.participant, None),
            certificates: act
                .certificates
                .iter()
                .map(ParticipantCertificate::from)
                .collect(),
        }
    }
}
