//! The JSON bodies of the HTTP API that the server (`src/http`) and the CLI's client
//! (`src/cli`) both speak, and their conversion to domain values. Neither side owns
//! them, so neither imports the other.

use serde::{Deserialize, Serialize};

use crate::model::{RevocationReason, Role, Serial};
use crate::names::{SubjectAltName, SubjectName};
use crate::ra::enrollment::{GrantNames, TokenGrant};

/// The text forms the API accepts, as regular expressions. Each is also the `pattern` of
/// its field in the OpenAPI document (`#[schema(pattern = …)]` takes a literal, so the
/// literal is repeated there; a unit test of `http::openapi` checks that every one of
/// these appears in the document). The server checks a field against its pattern before
/// it parses it, so it refuses whatever the document forbids. They use only what
/// ECMA-262 (JSON Schema's dialect) and the `regex` crate read alike.
pub mod patterns {
    /// A serial number: hex, 1 to 40 digits, optionally after `0x`; or octets separated
    /// by colons (`22:bd:…`). Upper- or lowercase.
    pub const SERIAL: &str =
        "^(?:(?:0x)?[0-9A-Fa-f]{1,40}|[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){1,19})$";
    /// An enrollment token, exactly as `paypki token create` prints it.
    pub const TOKEN: &str = "^ppt_[0-9a-f]{24}_[0-9a-f]{64}$";
    /// An officer's name.
    pub const OFFICER_NAME: &str = "^[a-z0-9][a-z0-9-]{0,63}$";
    /// A duration: a positive number (at most 100,000) and a unit, e.g. `24h`, `30d`.
    pub const DURATION: &str = "^[1-9][0-9]{0,5}[smhdw]$";
    /// Standard base64 with padding, canonical (unused bits zero), no whitespace.
    pub const BASE64: &str =
        "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$";
    /// Hex octets (the `after` of a listing).
    pub const HEX: &str = "^(?:[0-9a-fA-F]{2})*$";

    /// Every pattern, for the test that finds each in the OpenAPI document.
    pub const ALL: [&str; 6] = [SERIAL, TOKEN, OFFICER_NAME, DURATION, BASE64, HEX];

    /// Whether `text` matches `pattern` (one of the constants above). A pattern that
    /// does not compile (a bug, caught by the unit test), or is not one of [`ALL`],
    /// matches nothing.
    pub fn matches(pattern: &'static str, text: &str) -> bool {
        use std::sync::OnceLock;
        // Compiled once, then only read: no lock on the request path.
        static COMPILED: OnceLock<Vec<(&'static str, Option<regex::Regex>)>> = OnceLock::new();
        COMPILED
            .get_or_init(|| {
                ALL.iter()
                    .map(|p| (*p, regex::Regex::new(p).ok()))
                    .collect()
            })
            .iter()
            .find(|(known, _)| *known == pattern)
            .and_then(|(_, regex)| regex.as_ref())
            .is_some_and(|regex| regex.is_match(text))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn patterns_compile_and_mean_what_they_say() {
            for pattern in ALL {
                assert!(regex::Regex::new(pattern).is_ok(), "{pattern}");
            }
            for good in ["01", "0x1f", "22BD819A", "22:bd:81", &"f".repeat(40)] {
                assert!(matches(SERIAL, good), "{good}");
            }
            for bad in ["", "0x", "xyz", " 01", "2:2", &"f".repeat(41)] {
                assert!(!matches(SERIAL, bad), "{bad}");
            }
            for good in ["", "QQ==", "QUI=", "QUJD", "AAEC"] {
                assert!(matches(BASE64, good), "{good}");
            }
            // QR== and QUJ= have non-zero unused bits: the base64 crate refuses them.
            for bad in ["QR==", "QUJ=", "QUJ", "QUJD\n", " QUJD", "QU-D"] {
                assert!(!matches(BASE64, bad), "{bad}");
            }
            use base64::Engine;
            for text in ["QR==", "QUJ=", "QQ==", "QUI="] {
                assert_eq!(
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .is_ok(),
                    matches(BASE64, text),
                    "{text}"
                );
            }
            for good in ["1s", "24h", "30d", "100000w"] {
                assert!(matches(DURATION, good), "{good}");
            }
            for bad in ["0d", "024h", "24", "h", " 24h", "24H", "1000000s"] {
                assert!(!matches(DURATION, bad), "{bad}");
            }
        }
    }
}

/// A role named exactly as the API spells it (`buyer`, `merchant`, `bank`, `gateway`).
pub fn role(text: &str) -> Result<Role, String> {
    Role::ALL
        .into_iter()
        .find(|role| role.as_str() == text)
        .ok_or_else(|| crate::model::UnknownRole(text.to_string()).to_string())
}

/// A serial number in one of the forms of [`patterns::SERIAL`].
pub fn serial(text: &str) -> Result<Serial, String> {
    if !patterns::matches(patterns::SERIAL, text) {
        return Err(format!(
            "serial {text:?} is not hexadecimal (1 to 40 digits, optionally after 0x, or octets separated by colons)"
        ));
    }
    text.parse()
        .map_err(|e: crate::model::SerialError| e.to_string())
}

/// A duration in the form of [`patterns::DURATION`] (e.g. `24h`).
pub fn duration(field: &str, text: &str) -> Result<time::Duration, String> {
    if !patterns::matches(patterns::DURATION, text) {
        return Err(format!(
            "{field} {text:?} is not a duration: a positive number and a unit s, m, h, d or w (e.g. 24h, 30d)"
        ));
    }
    crate::clock::parse_duration(text).map_err(|e| format!("{field}: {e}"))
}

/// A revocation reason named exactly as RFC 5280 §5.3.1 names it (`keyCompromise`).
pub fn reason(text: &str) -> Result<RevocationReason, String> {
    match text.parse::<RevocationReason>() {
        Ok(reason) if reason.name() == text => Ok(reason),
        Ok(reason) => Err(format!(
            "reason {text:?} must be written as RFC 5280 names it: {}",
            reason.name()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// `POST /v1/admin/tokens` body: either `participant`, or `role` and `subject` (and SANs).
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreateRequest {
    /// buyer, merchant, bank or gateway (not with `participant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Role>)]
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
    #[schema(pattern = "^[1-9][0-9]{0,5}[smhdw]$")]
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
    #[schema(value_type = Role)]
    pub role: String,
    /// The subject.
    pub subject: String,
    /// SANs.
    pub subject_alt_names: Vec<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
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
        .map(|text| duration("ttl", text))
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
    let role: Role = self::role(role).map_err(GrantError::Value)?;
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
    #[schema(pattern = "^(?:(?:0x)?[0-9A-Fa-f]{1,40}|[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){1,19})$")]
    pub serial: String,
    /// RFC 5280 §5.3.1 reason: unspecified, keyCompromise, cACompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise.
    #[schema(value_type = RevocationReason)]
    pub reason: String,
    /// RFC 3339: when the key is known or suspected to have been compromised.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub invalidity_date: Option<String>,
    /// Also revoke a serial this CA has no record of (a certificate issued after the
    /// backup the data directory was restored from): it goes on the CRL of issuing CA
    /// `ca` and OCSP answers revoked for it. Without it, an unknown serial is 404.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unrecorded: bool,
    /// With `unrecorded`: the issuing CA that issued the serial (default: the active one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub ca: Option<u32>,
}

/// The certificate's status after a revocation or unhold.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevocationResult {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// `good` or `revoked`.
    #[schema(value_type = crate::model::CertificateStatus)]
    pub status: String,
    /// Reason name when revoked.
    #[schema(value_type = Option<RevocationReason>)]
    pub reason: Option<String>,
    /// RFC 3339, when revoked.
    #[schema(format = DateTime)]
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
    let serial = serial(&request.serial)?;
    let reason = reason(&request.reason)?;
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
    #[schema(pattern = "^(?:(?:0x)?[0-9A-Fa-f]{1,40}|[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){1,19})$")]
    pub serial: Option<String>,
    /// The message, base64.
    pub message: String,
    /// The signature, base64 (for `cms`: the DER SignedData, base64).
    pub signature: String,
    /// `raw` (default) or `cms` (detached PKCS#7 / CMS SignedData).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<SignatureFormatName>)]
    pub format: Option<String>,
    /// For `raw`: ecdsa-sha256, ecdsa-sha384, ed25519, rsa-pkcs1-sha256/384/512,
    /// rsa-pss-sha256/384/512, sm2-sm3; inferred from the key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<AlgorithmName>)]
    pub algorithm: Option<String>,
    /// For an SM2 signer: the distinguishing ID the signature was made with (GM/T 0009;
    /// default `1234567812345678`; `""` for OpenSSL 3.0's default, an empty ID). Other
    /// keys ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 8191)]
    pub sm2_distinguishing_id: Option<String>,
    /// When the signature was made, RFC 3339 (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub time: Option<String>,
    /// buyer, merchant, bank or gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Role>)]
    pub require_role: Option<String>,
    /// `true`: the answer also carries `receipt`, the verdict in a small JSON document
    /// time-stamped by the CA's TSA (RFC 3161), checkable offline
    /// (`paypki receipt verify`; docs/verification.md). Costs one signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<bool>,
}

/// `POST /v1/validate` body.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateBody {
    /// Leaf first, then intermediates; PEM.
    pub chain: Vec<String>,
    /// RFC 3339 (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub time: Option<String>,
    /// `serverAuth`, `clientAuth` or `any` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<UsageName>)]
    pub usage: Option<String>,
}

/// `PATCH /v1/admin/participants/{id}` body: the fields to change (`""` clears an
/// optional text field, a list replaces the list). No `role`: a participant's role never
/// changes. `POST /v1/admin/participants` takes the same fields, all the role needs, and
/// `role` (its schema is NewParticipantBody).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantBody {
    /// bank, merchant, gateway or buyer: for a registration only (a PATCH with `role` is
    /// 400), so the schema of this body, the PATCH's, has no `role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
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

    /// The role of a new participant, spelled exactly as the API spells roles.
    pub fn role(&self) -> Result<Role, String> {
        role(
            self.role
                .as_deref()
                .ok_or_else(|| "role is required: bank, merchant, gateway or buyer".to_string())?,
        )
    }
}

/// The OpenAPI schema of the `POST /v1/admin/participants` body: [`ParticipantBody`]'s
/// fields and a required `role` (the Rust type is [`ParticipantBody`] for both).
pub struct NewParticipantBody;

impl utoipa::PartialSchema for NewParticipantBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::Schema;
        use utoipa::openapi::{Ref, RefOr};
        let mut schema = <ParticipantBody as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.description = Some(
                "`POST /v1/admin/participants` body: `role` and the fields the role needs (docs/api.md has the table); unknown fields are refused.".into(),
            );
            let mut role = Ref::from_schema_name(<Role as utoipa::ToSchema>::name());
            role.description = "bank, merchant, gateway or buyer".into();
            object.properties.insert("role".into(), RefOr::Ref(role));
            object.required.insert(0, "role".into());
        }
        schema
    }
}

impl utoipa::ToSchema for NewParticipantBody {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            <Role as utoipa::ToSchema>::name().into_owned(),
            <Role as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// The OpenAPI schema of a participant's registered fields inside [`ParticipantView`]:
/// [`ParticipantBody`]'s, without its `additionalProperties: false` (the view has more).
pub struct ParticipantFieldsView;

impl utoipa::PartialSchema for ParticipantFieldsView {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::Schema;
        use utoipa::openapi::RefOr;
        let mut schema = <ParticipantBody as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.description = Some("A participant's registered fields (only those set).".into());
            object.additional_properties = None;
        }
        schema
    }
}

impl utoipa::ToSchema for ParticipantFieldsView {
    fn name() -> std::borrow::Cow<'static, str> {
        "ParticipantFields".into()
    }
}

/// A certificate of a participant, in a participant's view.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ParticipantCertificate {
    /// Serial, hex.
    pub serial: String,
    /// `good` or `revoked` (on hold included).
    #[schema(value_type = crate::model::CertificateStatus)]
    pub status: String,
    /// The revocation reason, when revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RevocationReason>, nullable = false)]
    pub reason: Option<String>,
    /// End of validity, RFC 3339.
    #[schema(format = DateTime)]
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
    #[schema(pattern = "^par_[0-9a-f]{24}$")]
    pub id: String,
    /// The role.
    #[schema(value_type = Role)]
    pub role: String,
    /// `active`, `suspended` or `terminated`.
    #[schema(value_type = crate::store::ParticipantStatus)]
    pub status: String,
    /// The fields as registered (only those set).
    #[serde(flatten)]
    #[schema(value_type = ParticipantFieldsView)]
    pub fields: ParticipantBody,
    /// The subject its certificates get.
    pub subject: String,
    /// The SANs its certificates get.
    pub subject_alt_names: Vec<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Its certificates (in a single participant's view), in serial order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
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

/// The values of a verify request's `format`. Any other value is the verdict
/// `malformed` (the verification endpoints answer content problems with a verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureFormatName {
    /// A bare signature (the default).
    Raw,
    /// Detached CMS SignedData.
    Cms,
    /// The same as `cms`.
    Pkcs7,
}

/// The values of a verify request's `algorithm` (the names of
/// [`crate::signature::SignatureScheme`]). Any other is the verdict
/// `unsupported_algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AlgorithmName {
    /// ECDSA with SHA-256, DER signature.
    EcdsaSha256,
    /// ECDSA with SHA-384, DER signature.
    EcdsaSha384,
    /// ECDSA P-256 with SHA-256, r‖s signature.
    EcdsaSha256Fixed,
    /// ECDSA P-384 with SHA-384, r‖s signature.
    EcdsaSha384Fixed,
    /// Ed25519.
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256.
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512.
    RsaPssSha512,
    /// SM2 with SM3 (GM/T 0003.2), DER signature (GM/T 0009).
    Sm2Sm3,
}

/// The values of a validate request's `usage`. Any other is the verdict `malformed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum UsageName {
    /// TLS server authentication.
    #[serde(rename = "serverAuth")]
    ServerAuth,
    /// The same as `serverAuth`.
    #[serde(rename = "server_auth")]
    ServerAuthSnake,
    /// TLS client authentication.
    #[serde(rename = "clientAuth")]
    ClientAuth,
    /// The same as `clientAuth`.
    #[serde(rename = "client_auth")]
    ClientAuthSnake,
    /// No EKU check (the default).
    #[serde(rename = "any")]
    Any,
}
