//! What the verification service is asked, and what it answers.

use super::*;

/// Where the signer's certificate comes from.
#[derive(Debug, Clone)]
pub enum SignerCertificate {
    /// PEM text.
    Pem(PemText),
    /// A serial of a certificate this CA issued.
    Serial(String),
    /// Not given: taken from a CMS signature's certificates.
    FromSignature,
}

/// A signer's certificate as PEM text. The admitted certificate it is found to be is
/// remembered for the rest of the request: deciding where a verification runs and
/// running it both need it, and a lookup hashes and compares the whole text.
#[derive(Debug, Clone)]
pub struct PemText {
    text: String,
    admitted: std::sync::OnceLock<Arc<Leaf>>,
}

impl PemText {
    /// The text as sent.
    pub fn new(text: String) -> Self {
        PemText {
            text,
            admitted: std::sync::OnceLock::new(),
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The admitted certificate this text is, if a lookup found it; else `find`'s answer,
    /// remembered when there is one.
    pub(super) fn admitted_or(
        &self,
        find: impl FnOnce() -> Option<Arc<Leaf>>,
    ) -> Option<Arc<Leaf>> {
        if let Some(leaf) = self.admitted.get() {
            return Some(leaf.clone());
        }
        let leaf = find()?;
        Some(self.admitted.get_or_init(|| leaf).clone())
    }
}

/// How the signature is encoded.
#[derive(Debug, Clone)]
pub enum SignatureFormat {
    /// A bare signature over the message; the scheme is named or inferred from the key.
    Raw(Option<String>),
    /// Detached CMS / PKCS#7 SignedData.
    Cms,
}

/// One verification.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    /// The signer's certificate.
    pub certificate: SignerCertificate,
    /// The signed message.
    pub message: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
    /// Its encoding.
    pub format: SignatureFormat,
    /// When the signature was made (default: now).
    pub time: Option<OffsetDateTime>,
    /// The role the signer must have.
    pub require_role: Option<Role>,
    /// The SM2 distinguishing ID of an SM2 signature (GM/T 0009 §10's default when None).
    pub sm2_distinguishing_id: Option<String>,
}

impl VerifyRequest {
    /// The SM2 distinguishing ID to verify with: the request's, else the default.
    pub fn distinguishing_id(&self) -> &str {
        self.sm2_distinguishing_id
            .as_deref()
            .unwrap_or(crate::shangmi::DEFAULT_DISTINGUISHING_ID)
    }
}

/// The signer, when known.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignerInfo {
    /// Subject DN.
    pub subject: String,
    /// Role from the certificate-policy OID, if it is one of ours.
    pub role: Option<Role>,
    /// Serial, lowercase hex.
    pub serial: String,
}

/// The answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyOutcome {
    /// Whether every check passed.
    pub valid: bool,
    /// Why not, for programs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// A sentence for people.
    pub message: String,
    /// The signer, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignerInfo>,
    /// The signature scheme that verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// Which time the signature was judged at, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<JudgedTime>,
    /// The signed verification receipt, when the request asked for one
    /// (`"receipt": true`) and it decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<super::receipt::Receipt>,
    /// Why no receipt could be made although one was asked for (the TSA could not
    /// sign now): the verdict stands, ask again for a receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_error: Option<String>,
    /// What the verdict rests on, for a receipt; never sent as such.
    #[serde(skip)]
    pub evidence: Option<Evidence>,
}

/// What a verdict rests on beyond the outcome: kept with it (a few bytes) so that a
/// receipt can state it.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// SHA-256 of the signer's certificate (DER), when it was found.
    pub certificate_sha256: Option<[u8; 32]>,
    /// The revocation status the verdict used, when it got that far.
    pub revocation: Option<RevocationEvidence>,
}

/// The revocation status a verdict used, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RevocationEvidence {
    /// At the judged time: `good`, `revoked`, or `unknown` (this CA has no record).
    #[schema(value_type = String)]
    pub status: std::borrow::Cow<'static, str>,
    /// `store`: the CA's own certificate records, from which its OCSP answers and CRLs
    /// are made, read at the time of the verdict; `root_crl`: the root's revocation of
    /// the issuing CA (the published root CRL).
    #[schema(value_type = String)]
    pub source: std::borrow::Cow<'static, str>,
    /// When the certificate (or its issuing CA) was revoked, if it was, even after the
    /// judged time.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub revoked_at: Option<OffsetDateTime>,
    /// The revocation reason, if revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where the time a signature was judged at comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// The server's clock when it answered.
    Server,
    /// The time the caller claimed (within the signer's policy's grace period).
    Claimed,
}

/// The time a signature (or chain) was judged at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct JudgedTime {
    /// The time used, RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub at: OffsetDateTime,
    /// `server` or `claimed`.
    pub source: TimeSource,
    /// Whether the time is proven (by a trusted timestamp); a claimed time is not.
    pub proven: bool,
    /// The time the caller claimed, if any.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub claimed: Option<OffsetDateTime>,
    /// Why a claimed time was not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How far ahead of the server's clock a claimed time may be (clock skew).
pub(super) const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);
/// The grace for claimed times of a signer of no known role.
pub(super) const DEFAULT_CLAIMED_TIME_GRACE: time::Duration = time::Duration::minutes(5);

pub(super) fn signer_info(leaf: &Leaf) -> SignerInfo {
    SignerInfo {
        subject: leaf.subject.clone(),
        role: leaf.role,
        serial: leaf.serial.to_string(),
    }
}

impl VerifyOutcome {
    /// A failed verification.
    pub fn invalid(reason: Reason, message: impl Into<String>, signer: Option<SignerInfo>) -> Self {
        VerifyOutcome {
            valid: false,
            reason: Some(reason),
            message: message.into(),
            signer,
            algorithm: None,
            time: None,
            receipt: None,
            receipt_error: None,
            evidence: None,
        }
    }
}

/// The answer of chain validation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ValidateOutcome {
    /// Whether the chain validates to our root and the leaf is not revoked.
    pub valid: bool,
    /// `good`, `revoked` or `unknown` (not ours, or not validated).
    pub status: &'static str,
    /// Why not, for programs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// A sentence for people.
    pub message: String,
    /// The leaf, when it is ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<SignerInfo>,
    /// Which time the chain was judged at, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<JudgedTime>,
}
