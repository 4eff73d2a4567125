//! Signed verification receipts: what `/v1/verify` answered, fixed in a small JSON
//! document and time-stamped by the CA's TSA (RFC 3161), so that anyone holding the CA's
//! root can check it later without asking the server (`paypki receipt verify`).
//!
//! **The canonical bytes are the document as sent.** A receipt is
//! `{"document": "<JSON text>", "timestamp_token": "<base64 DER>"}`: `document` is a JSON
//! *string* whose value is the receipt's JSON text, and the token's message imprint is
//! SHA-256 over that value's UTF-8 bytes, exactly. Nobody re-serializes or
//! re-canonicalizes JSON: a verifier parses the outer object, takes the string, hashes its
//! bytes, and only then reads the fields inside. Keep the receipt as received (the
//! whole `/v1/verify` answer may be kept; `paypki receipt verify` reads either).
//!
//! The document's fields (version 1) are [`ReceiptDocument`]'s.

use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Evidence, JudgedTime, Reason, RevocationEvidence, VerifyOutcome};
use crate::ca::{CaError, CertificateAuthority};
use crate::tsp::HashAlgorithm;
use crate::verify::timestamp::{verify_token, TimestampError, VerifiedTimestamp};

/// The value of a document's `type`.
pub const RECEIPT_TYPE: &str = "paypki-verification-receipt";

/// A receipt as the API sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The receipt document: JSON text (an object with the fields of a receipt). The
    /// token covers SHA-256 of exactly this string's UTF-8 bytes; parse it only after
    /// checking that.
    pub document: String,
    /// The RFC 3161 TimeStampToken over the document (base64 of the DER ContentInfo):
    /// its imprint is SHA-256 of `document`'s bytes, and it carries the TSA and issuing
    /// CA certificates.
    pub timestamp_token: String,
}

/// The signer as a receipt names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptSigner {
    /// SHA-256 fingerprint of the signer's certificate (DER), lowercase hex.
    pub certificate_sha256: String,
    /// Its serial, lowercase hex.
    pub serial: String,
    /// Its subject.
    pub subject: String,
    /// Its role, from its certificate-policy OID, if it is one of this CA's.
    pub role: Option<crate::model::Role>,
}

/// The verdict as a receipt states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptVerdict {
    /// Whether every check passed.
    pub valid: bool,
    /// Why not (the `reason` of `/v1/verify`).
    pub reason: Option<Reason>,
    /// The sentence `/v1/verify` answered.
    pub message: String,
}

/// The receipt document (version 1), as JSON inside [`Receipt::document`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptDocument {
    /// Always `paypki-verification-receipt`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always 1.
    pub version: u32,
    /// When the server reached the verdict (its clock), RFC 3339. The token's genTime
    /// proves it was no later than that.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub verified_at: OffsetDateTime,
    /// SHA-256 of the message as received (the bytes the base64 `message` decoded to),
    /// lowercase hex.
    pub message_sha256: String,
    /// SHA-256 of the signature as received (raw signature, or the DER CMS), lowercase hex.
    pub signature_sha256: String,
    /// `raw` or `cms`.
    pub signature_format: String,
    /// The signature scheme that verified, when one did.
    pub algorithm: Option<String>,
    /// The signer, when its certificate was found.
    pub signer: Option<ReceiptSigner>,
    /// The role the caller required, if any.
    pub required_role: Option<crate::model::Role>,
    /// The verdict.
    pub verdict: ReceiptVerdict,
    /// Which time the signature was judged at, and why.
    pub judged_time: Option<JudgedTime>,
    /// The revocation status the verdict used and its source, when it got that far.
    pub revocation: Option<RevocationEvidence>,
    /// SHA-256 fingerprint of the CA's root certificate (DER), lowercase hex: whose
    /// verdict this is.
    pub root_sha256: String,
}

/// What a receipt request needs beyond the outcome: the request's bytes as received.
#[derive(Debug, Clone, Copy)]
pub struct ReceiptInput<'a> {
    /// The message.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a [u8],
    /// `raw` or `cms`.
    pub format: &'static str,
    /// The role the caller required.
    pub required_role: Option<crate::model::Role>,
}

/// Makes the receipt of an outcome, time-stamped now by the CA's TSA.
pub fn make_receipt(
    ca: &CertificateAuthority,
    outcome: &VerifyOutcome,
    input: ReceiptInput<'_>,
    now: OffsetDateTime,
) -> Result<Receipt, CaError> {
    let sha256 = |bytes: &[u8]| hex::encode(HashAlgorithm::Sha256.digest(bytes));
    let evidence = outcome.evidence.clone().unwrap_or_default();
    let Evidence {
        certificate_sha256,
        revocation,
    } = evidence;
    let signer = match (&outcome.signer, certificate_sha256) {
        (Some(signer), Some(fingerprint)) => Some(ReceiptSigner {
            certificate_sha256: hex::encode(fingerprint),
            serial: signer.serial.clone(),
            subject: signer.subject.clone(),
            role: signer.role,
        }),
        _ => None,
    };
    let document = ReceiptDocument {
        kind: RECEIPT_TYPE.into(),
        version: 1,
        verified_at: now.replace_nanosecond(0).unwrap_or(now),
        message_sha256: sha256(input.message),
        signature_sha256: sha256(input.signature),
        signature_format: input.format.into(),
        algorithm: outcome.algorithm.clone(),
        signer,
        required_role: input.required_role,
        verdict: ReceiptVerdict {
            valid: outcome.valid,
            reason: outcome.reason,
            message: outcome.message.clone(),
        },
        judged_time: outcome.time.clone(),
        revocation,
        root_sha256: sha256(&ca.root().der),
    };
    let text = serde_json::to_string(&document)
        .map_err(|e| CaError::Build(format!("receipt document: {e}")))?;
    let digest: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .try_into()
        .map_err(|_| CaError::Build("SHA-256 is not 32 octets".into()))?;
    let token = ca.timestamp_sha256(&digest)?;
    Ok(Receipt {
        document: text,
        timestamp_token: base64::engine::general_purpose::STANDARD.encode(token),
    })
}

/// Why a receipt does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not a receipt.
    #[error("not a receipt: {0}")]
    Malformed(String),
    /// The token is not valid, or not over this document.
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
    /// The message given is not the one the receipt is about.
    #[error("the message is not the one the receipt is about: its SHA-256 is {actual}, the receipt's {expected}")]
    MessageMismatch {
        /// From the receipt.
        expected: String,
        /// Of the message given.
        actual: String,
    },
    /// The receipt is another CA's.
    #[error("the receipt names another root (SHA-256 {0}) than the one given")]
    OtherRoot(String),
}

/// A receipt that checked out.
#[derive(Debug, Clone)]
pub struct VerifiedReceipt {
    /// The document, parsed after its bytes were checked.
    pub document: ReceiptDocument,
    /// What the token says.
    pub timestamp: VerifiedTimestamp,
}

/// Reads a receipt from JSON text: the receipt object itself, or a whole `/v1/verify`
/// answer (or a batch result) holding one under `receipt`.
pub fn parse_receipt(text: &str) -> Result<Receipt, ReceiptError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ReceiptError::Malformed(format!("not JSON: {e}")))?;
    let inner = match value.get("receipt") {
        Some(receipt) => receipt.clone(),
        None => value,
    };
    serde_json::from_value(inner).map_err(|e| {
        ReceiptError::Malformed(format!(
            "expected {{\"document\": \"…\", \"timestamp_token\": \"…\"}} (or a /v1/verify answer with a receipt): {e}"
        ))
    })
}

/// Checks a receipt offline: the token verifies and chains to `root` (DER) and its
/// imprint is SHA-256 of the document's bytes; the document is a version 1 receipt of
/// this root; with `message`, the message is the one the receipt is about.
pub fn verify_receipt(
    receipt: &Receipt,
    root: &[u8],
    message: Option<&[u8]>,
) -> Result<VerifiedReceipt, ReceiptError> {
    let token = base64::engine::general_purpose::STANDARD
        .decode(receipt.timestamp_token.trim())
        .map_err(|_| ReceiptError::Malformed("timestamp_token is not base64".into()))?;
    let digest = HashAlgorithm::Sha256.digest(receipt.document.as_bytes());
    let timestamp = verify_token(&token, Some((HashAlgorithm::Sha256, &digest)), root, &[])?;
    let document: ReceiptDocument = serde_json::from_str(&receipt.document)
        .map_err(|e| ReceiptError::Malformed(format!("the document is not a receipt: {e}")))?;
    if document.kind != RECEIPT_TYPE || document.version != 1 {
        return Err(ReceiptError::Malformed(format!(
            "the document is a {:?} version {}, not a {RECEIPT_TYPE} version 1",
            document.kind, document.version
        )));
    }
    let root_sha256 = hex::encode(HashAlgorithm::Sha256.digest(root));
    if document.root_sha256 != root_sha256 {
        return Err(ReceiptError::OtherRoot(document.root_sha256));
    }
    if let Some(message) = message {
        let actual = hex::encode(HashAlgorithm::Sha256.digest(message));
        if actual != document.message_sha256 {
            return Err(ReceiptError::MessageMismatch {
                expected: document.message_sha256,
                actual,
            });
        }
    }
    Ok(VerifiedReceipt {
        document,
        timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DataDir;

    fn new_ca(dir: &std::path::Path) -> CertificateAuthority {
        let data = DataDir::new(dir.join("ca"));
        crate::ca::init(
            &data,
            &crate::ca::InitOptions::new("http://127.0.0.1:1".into()),
        )
        .unwrap();
        CertificateAuthority::load(&data, None).unwrap()
    }

    #[test]
    fn a_receipt_binds_its_document_message_and_root() {
        let dir = tempfile::tempdir().unwrap();
        let ca = new_ca(dir.path());
        let outcome = VerifyOutcome::invalid(Reason::BadSignature, "altered", None);
        let input = ReceiptInput {
            message: b"pay 10",
            signature: b"sig",
            format: "raw",
            required_role: None,
        };
        let receipt = make_receipt(&ca, &outcome, input, OffsetDateTime::now_utc()).unwrap();
        let root = ca.root().der.clone();
        let checked = verify_receipt(&receipt, &root, Some(b"pay 10")).unwrap();
        assert!(!checked.document.verdict.valid);
        assert_eq!(checked.document.verdict.reason, Some(Reason::BadSignature));
        assert!(checked.document.signer.is_none());
        // A whole answer holding it parses to the same receipt.
        let answer = serde_json::json!({"valid": false, "receipt": receipt});
        assert_eq!(parse_receipt(&answer.to_string()).unwrap(), receipt);
        assert!(matches!(
            verify_receipt(&receipt, &root, Some(b"pay 11")),
            Err(ReceiptError::MessageMismatch { .. })
        ));
        let forged = Receipt {
            document: receipt.document.replace("altered", "fine!!!"),
            ..receipt.clone()
        };
        assert!(matches!(
            verify_receipt(&forged, &root, None),
            Err(ReceiptError::Timestamp(TimestampError::ImprintMismatch(_)))
        ));
        let other = tempfile::tempdir().unwrap();
        let stranger = new_ca(other.path());
        assert!(matches!(
            verify_receipt(&receipt, &stranger.root().der, None),
            Err(ReceiptError::Timestamp(TimestampError::Untrusted(_)))
        ));
        assert!(parse_receipt("{\"valid\": true}").is_err());
    }
}
