//! The verification service for payment components: is this message really signed by
//! that participant, and is the participant's certificate good at that time?
//!
//! Checks, in order: the certificate parses (`malformed`); it chains by signature to our
//! root (`unknown_issuer`, via rustls-webpki); the signature mathematics (`bad_signature`,
//! `unsupported_algorithm`, via ring); validity at `time` (`expired`, `not_yet_valid`);
//! revocation at `time` from our own store (`revoked`); keyUsage allows signing
//! (`key_usage`); the role read from the certificate-policy OID (`wrong_role`).
//! docs/verification.md explains how a revocation's time and invalidity date apply.

mod cache;
pub mod chain;
pub mod cms;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;

use crate::ca::CertificateAuthority;
use crate::model::{PublicKey, RevocationReason, Role, Serial};
use crate::ra::Policies;
pub use crate::signature::{verify_signature, SignatureError, SignatureScheme};
#[cfg(test)]
use crate::store::SledStore;
use crate::store::{KnownStatus, RevokedEntry, StoreReader};
pub use cache::ByteLru;
pub use chain::{ChainError, ChainValidator, Usage};

/// Machine-readable reason a verification failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The signature does not verify: altered message or signature, or another key.
    BadSignature,
    /// The certificate was revoked at the signature time.
    Revoked,
    /// The certificate (or its CA) had expired at the signature time.
    Expired,
    /// The certificate was not yet valid at the signature time.
    NotYetValid,
    /// Not issued by this CA (checked by signature), or an unknown serial.
    UnknownIssuer,
    /// The role in the certificate is not the one required.
    WrongRole,
    /// The certificate's keyUsage (or, for chains, EKU) does not allow this use.
    KeyUsage,
    /// A signature algorithm paypki does not verify.
    UnsupportedAlgorithm,
    /// The certificate, message or signature could not be decoded.
    Malformed,
    /// The CA could not read its own records (a server fault, not a verdict): retry.
    Unavailable,
    /// The request's CPU budget was spent before this item was checked (not a verdict):
    /// send it again in another request, preferably naming the algorithm.
    BudgetExceeded,
}

/// Estimated cost of one signature check with `key`, in microseconds of one core of the
/// reference machine (docs/PERFORMANCE.md): ring verifies ECDSA P-256 in about 37 µs,
/// Ed25519 in about 50, ECDSA P-384 in about 600, and RSA in time growing with the
/// square of the modulus (about 490 µs at 8192 bits). Estimates, not measurements: they
/// only have to rank requests and bound them.
pub fn check_cost(key: &PublicKey) -> u64 {
    match key.algorithm() {
        crate::model::KeyAlgorithm::EcdsaP256 => 40,
        crate::model::KeyAlgorithm::Ed25519 => 50,
        crate::model::KeyAlgorithm::EcdsaP384 => 600,
        crate::model::KeyAlgorithm::Rsa => {
            let kbits = u64::from(key.bits().max(1024)).div_ceil(1024);
            8 * kbits * kbits
        }
    }
}

/// The CPU one request may spend on signature checks, shared by a batch's items (which
/// run in parallel), in the units of [`check_cost`].
#[derive(Debug)]
pub struct VerifyBudget {
    remaining: std::sync::atomic::AtomicU64,
    spent: std::sync::atomic::AtomicU64,
    checks: std::sync::atomic::AtomicU64,
}

impl VerifyBudget {
    /// A budget of `units` (microseconds of estimated CPU).
    pub fn new(units: u64) -> Self {
        VerifyBudget {
            remaining: std::sync::atomic::AtomicU64::new(units),
            spent: std::sync::atomic::AtomicU64::new(0),
            checks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// No limit (the command line, tests).
    pub fn unlimited() -> Self {
        Self::new(u64::MAX)
    }

    /// Takes `cost` from the budget for one signature check, or says it is spent.
    fn try_spend(&self, cost: u64) -> bool {
        use std::sync::atomic::Ordering;
        let taken = self
            .remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(cost)
            })
            .is_ok();
        if taken {
            self.spent.fetch_add(cost, Ordering::Relaxed);
            self.checks.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    /// Units spent so far.
    pub fn spent(&self) -> u64 {
        self.spent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Signature checks made so far.
    pub fn checks(&self) -> u64 {
        self.checks.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn over_budget() -> (Reason, String) {
    (
        Reason::BudgetExceeded,
        "this request's CPU budget for signature checks was spent before this item was checked; send it again in another request, and name the algorithm so that only one scheme is tried".into(),
    )
}

/// Where the signer's certificate comes from.
#[derive(Debug, Clone)]
pub enum SignerCertificate {
    /// PEM text.
    Pem(String),
    /// A serial of a certificate this CA issued.
    Serial(String),
    /// Not given: taken from a CMS signature's certificates.
    FromSignature,
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
}

/// Where the time a signature was judged at comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// The server's clock when it answered.
    Server,
    /// The time the caller claimed (within the signer's policy's grace period).
    Claimed,
}

/// The time a signature (or chain) was judged at.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub claimed: Option<OffsetDateTime>,
    /// Why a claimed time was not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How far ahead of the server's clock a claimed time may be (clock skew).
const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);
/// The grace for claimed times of a signer of no known role.
const DEFAULT_CLAIMED_TIME_GRACE: time::Duration = time::Duration::minutes(5);

fn signer_info(leaf: &Leaf) -> SignerInfo {
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

/// What the hot path needs of a certificate, parsed once. Only certificates admitted as
/// ours (chained to our root by signature, and byte for byte the certificate our records
/// hold for the serial) are cached, by fingerprint.
#[derive(Debug, Clone)]
struct Leaf {
    der: Arc<Vec<u8>>,
    fingerprint: [u8; 32],
    public_key: PublicKey,
    serial: Serial,
    subject: String,
    role: Option<Role>,
    can_sign: bool,
    /// The issuing CA (id) named as its issuer, when it is one of ours.
    issuer: Option<u32>,
    not_before: i64,
    not_after: i64,
    /// Where the whole chain is valid; known once the leaf is admitted.
    window: Option<chain::Window>,
}

impl Leaf {
    /// What caching it costs, in bytes.
    fn weight(&self) -> usize {
        self.der.len() + self.subject.len() + self.public_key.spki_der().len() + 256
    }
}

/// The verification service.
pub struct Verifier {
    /// Read-only: verification reads records and statuses and can write nothing.
    store: Arc<dyn StoreReader>,
    policies: Arc<Policies>,
    ca: Arc<CertificateAuthority>,
    chains: ChainValidator,
    /// Subject DER of each of our issuing CAs → its id.
    issuing_subjects: HashMap<Vec<u8>, u32>,
    /// Admitted leaves by fingerprint.
    known: ByteLru<[u8; 32], Arc<Leaf>>,
    /// Serial → fingerprint of the certificate our records hold for it.
    by_serial: ByteLru<Vec<u8>, [u8; 32]>,
    /// SHA-256 of PEM text → fingerprint of an admitted leaf: a repeated PEM skips
    /// base64 decoding.
    by_pem: ByteLru<[u8; 32], [u8; 32]>,
    clock: crate::clock::SharedClock,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

/// Most items in one batch request.
pub const MAX_BATCH: usize = 1000;

/// Default memory for the verifier's caches (`serve --verify-cache-bytes`).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

fn fingerprint(der: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Decodes one PEM certificate (the first, if several).
pub fn certificate_from_pem(text: &str) -> Result<Vec<u8>, String> {
    let blocks = pem::parse_many(text).map_err(|e| format!("not PEM: {e}"))?;
    blocks
        .into_iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .ok_or_else(|| "no \"CERTIFICATE\" PEM block".to_string())
}

/// Why a certificate was not admitted: the verdict's reason, a sentence, and the
/// certificate's subject when it could be read.
type Rejection = (Reason, String, Option<SignerInfo>);

impl Verifier {
    /// A verifier for the CA's certificates; `cache_bytes` bounds its caches' memory.
    pub fn new(
        ca: Arc<CertificateAuthority>,
        store: impl StoreReader + 'static,
        policies: Arc<Policies>,
        cache_bytes: usize,
    ) -> Self {
        let issuing_subjects = ca
            .issuers()
            .iter()
            .map(|issuer| (issuer.certificate().subject_der.clone(), issuer.id()))
            .collect();
        let chains = ChainValidator::new(
            ca.root().der.clone(),
            ca.issuers()
                .iter()
                .map(|issuer| issuer.certificate().der.clone())
                .collect(),
        );
        // Most of the memory goes to the certificates themselves.
        let small = (cache_bytes / 8).max(1);
        Verifier {
            ca,
            store: Arc::new(store),
            policies,
            chains,
            issuing_subjects,
            known: ByteLru::new(cache_bytes.saturating_sub(2 * small).max(1)),
            by_serial: ByteLru::new(small),
            by_pem: ByteLru::new(small),
            clock: crate::clock::system(),
        }
    }

    /// The same verifier reading `clock` for "now" (the time signatures are judged at
    /// when no claimed time is honoured).
    pub fn with_clock(mut self, clock: crate::clock::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Bytes held by the caches (for tests and metrics).
    pub fn cached_bytes(&self) -> usize {
        self.known.bytes() + self.by_serial.bytes() + self.by_pem.bytes()
    }

    /// Parses a certificate; caches nothing.
    fn parse_leaf(&self, der: Vec<u8>) -> Result<Leaf, String> {
        let fp = fingerprint(&der);
        let (rest, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        if !rest.is_empty() {
            return Err("trailing bytes after the certificate".into());
        }
        let public_key = PublicKey::from_x509(cert.public_key()).map_err(|e| e.to_string())?;
        let serial = Serial::from_der_integer(cert.raw_serial()).map_err(|e| e.to_string())?;
        let role = cert
            .extensions()
            .iter()
            .find_map(|ext| match ext.parsed_extension() {
                x509_parser::extensions::ParsedExtension::CertificatePolicies(policies) => {
                    policies.iter().find_map(|p| {
                        let arcs: Vec<u64> =
                            p.policy_id.iter().map(|i| i.collect()).unwrap_or_default();
                        self.policies.role_for_policy_oid(&arcs)
                    })
                }
                _ => None,
            });
        // RFC 5280 §4.2.1.3: without keyUsage the key is unrestricted.
        let can_sign = match cert.key_usage() {
            Ok(Some(ku)) => ku.value.digital_signature() || ku.value.non_repudiation(),
            Ok(None) => true,
            Err(_) => false,
        };
        let leaf = Leaf {
            fingerprint: fp,
            public_key,
            // The same `CN=…,O=…` form as everywhere else in paypki.
            subject: crate::names::SubjectName::from_x509(cert.subject())
                .map(|n| n.to_string())
                .unwrap_or_else(|_| cert.subject().to_string()),
            role,
            can_sign,
            issuer: self.issuing_subjects.get(cert.issuer().as_raw()).copied(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            serial,
            window: None,
            der: Arc::new(der),
        };
        Ok(leaf)
    }

    /// An admitted leaf, by fingerprint.
    fn known(&self, fingerprint: &[u8; 32]) -> Option<Arc<Leaf>> {
        self.known.get(fingerprint)
    }

    /// Admits a leaf as ours, or says why not: issued under one of our issuing CAs (by
    /// signature, with rustls-webpki), and exactly the certificate our records hold for
    /// its serial. Only then is it cached, so what callers send cannot fill the memory.
    fn admit(
        &self,
        leaf: Leaf,
        record: Option<crate::store::CertificateRecord>,
    ) -> Result<Arc<Leaf>, Rejection> {
        let info = signer_info(&leaf);
        self.admit_checked(leaf, record)
            .map_err(|(reason, message)| (reason, message, Some(info)))
    }

    fn admit_checked(
        &self,
        mut leaf: Leaf,
        record: Option<crate::store::CertificateRecord>,
    ) -> Result<Arc<Leaf>, (Reason, String)> {
        if let Some(known) = self.known(&leaf.fingerprint) {
            return Ok(known);
        }
        if leaf.issuer.is_none() {
            return Err((
                Reason::UnknownIssuer,
                "the certificate was not issued by this CA".into(),
            ));
        }
        let window = match self.chains.window(&leaf.der) {
            Ok(window) => window,
            Err(ChainError::Expired) => {
                return Err((
                    Reason::Expired,
                    "the certificate's chain has no moment at which every certificate is valid"
                        .into(),
                ))
            }
            Err(ChainError::NotYetValid) => {
                return Err((Reason::NotYetValid, "the chain is not yet valid".into()))
            }
            Err(ChainError::UnsupportedAlgorithm(e)) => {
                return Err((Reason::UnsupportedAlgorithm, e))
            }
            Err(ChainError::Malformed(e)) => {
                return Err((
                    Reason::Malformed,
                    format!("the certificate is malformed: {e}"),
                ))
            }
            Err(ChainError::UnknownIssuer(e)) | Err(ChainError::Usage(e)) => {
                return Err((
                    Reason::UnknownIssuer,
                    format!("the certificate does not chain to this CA's root by signature: {e}"),
                ))
            }
        };
        let record = match record {
            Some(record) => record,
            None => match self.store.certificate(&leaf.serial) {
                Ok(Some(record)) => record,
                Ok(None) => {
                    return Err((
                        Reason::UnknownIssuer,
                        "this CA has no record of the certificate".into(),
                    ))
                }
                Err(e) => {
                    tracing::error!(error = %e, "certificate lookup failed");
                    return Err((
                        Reason::Unavailable,
                        "the CA's records could not be read; try again".into(),
                    ));
                }
            },
        };
        // The serial alone proves nothing: a certificate with a recorded serial but
        // another key or other names is not the one this CA issued.
        if record.fingerprint_sha256 != crate::model::sha256_fingerprint(&leaf.der) {
            return Err((
                Reason::UnknownIssuer,
                format!(
                    "the certificate is not the one this CA issued with serial {}",
                    leaf.serial
                ),
            ));
        }
        leaf.window = Some(window);
        let weight = leaf.weight();
        let leaf = Arc::new(leaf);
        self.known.insert(leaf.fingerprint, leaf.clone(), weight);
        self.by_serial.insert(
            leaf.serial.as_bytes().to_vec(),
            leaf.fingerprint,
            leaf.serial.as_bytes().len() + 32,
        );
        Ok(leaf)
    }

    fn leaf_by_pem(&self, text: &str) -> Result<Arc<Leaf>, Rejection> {
        let text_hash = fingerprint(text.as_bytes());
        if let Some(leaf) = self.by_pem.get(&text_hash).and_then(|fp| self.known(&fp)) {
            return Ok(leaf);
        }
        let malformed = |e: String| {
            (
                Reason::Malformed,
                format!("the certificate is unusable: {e}"),
                None,
            )
        };
        let der = certificate_from_pem(text).map_err(malformed)?;
        let leaf = match self.known(&fingerprint(&der)) {
            Some(leaf) => leaf,
            None => self.admit(self.parse_leaf(der).map_err(malformed)?, None)?,
        };
        self.by_pem.insert(text_hash, leaf.fingerprint, 64);
        Ok(leaf)
    }

    fn leaf_by_serial(&self, text: &str) -> Result<Arc<Leaf>, Rejection> {
        let serial: Serial = text
            .parse()
            .map_err(|e: crate::model::SerialError| (Reason::Malformed, e.to_string(), None))?;
        if let Some(leaf) = self
            .by_serial
            .get(&serial.as_bytes().to_vec())
            .and_then(|fp| self.known(&fp))
        {
            return Ok(leaf);
        }
        match self.store.certificate(&serial) {
            Ok(Some(record)) => {
                let leaf = self
                    .parse_leaf(record.der.clone())
                    .map_err(|e| (Reason::Malformed, e, None))?;
                self.admit(leaf, Some(record))
            }
            Ok(None) => Err((
                Reason::UnknownIssuer,
                format!("this CA issued no certificate with serial {text}"),
                None,
            )),
            Err(e) => {
                tracing::error!(error = %e, "certificate lookup failed");
                Err((
                    Reason::Unavailable,
                    "the CA's records could not be read; try again".into(),
                    None,
                ))
            }
        }
    }

    /// The signer's admitted certificate for a request.
    fn signer_leaf(
        &self,
        certificate: &SignerCertificate,
        detached: Option<&cms::DetachedSignature>,
    ) -> Result<Arc<Leaf>, Rejection> {
        match certificate {
            SignerCertificate::Pem(text) => self.leaf_by_pem(text),
            SignerCertificate::Serial(text) => self.leaf_by_serial(text),
            SignerCertificate::FromSignature => {
                let der = detached.and_then(|d| d.carried_signer().cloned()).ok_or((
                    Reason::Malformed,
                    "no signer certificate: send \"certificate\" or \"serial\", or include it in the CMS signature".to_string(),
                    None,
                ))?;
                match self.known(&fingerprint(&der)) {
                    Some(leaf) => Ok(leaf),
                    None => {
                        let leaf = self.parse_leaf(der).map_err(|e| {
                            (
                                Reason::Malformed,
                                format!("the signer certificate is unusable: {e}"),
                                None,
                            )
                        })?;
                        self.admit(leaf, None)
                    }
                }
            }
        }
    }

    /// Verifies one signature. Never fails: every problem is an outcome with a reason.
    pub fn verify(&self, request: &VerifyRequest) -> VerifyOutcome {
        self.verify_within(request, &VerifyBudget::unlimited())
    }

    /// The most a request could cost in signature checks (units of [`check_cost`]): one
    /// check when the scheme is named or the format is CMS, every candidate scheme of the
    /// key otherwise. 0 when the signer's certificate is not at hand yet (not parsed
    /// before, or unreadable): such a request fails before any check or parses first.
    pub fn estimated_cost(&self, request: &VerifyRequest) -> u64 {
        // Only certificates already admitted count: estimating must cost nothing.
        let leaf = match &request.certificate {
            SignerCertificate::Pem(text) => self
                .by_pem
                .get(&fingerprint(text.as_bytes()))
                .and_then(|fp| self.known(&fp)),
            SignerCertificate::Serial(text) => text
                .parse::<Serial>()
                .ok()
                .and_then(|serial| self.by_serial.get(&serial.as_bytes().to_vec()))
                .and_then(|fp| self.known(&fp)),
            SignerCertificate::FromSignature => None,
        };
        let Some(leaf) = leaf else { return 0 };
        let checks = match &request.format {
            SignatureFormat::Raw(None) => {
                SignatureScheme::candidates(leaf.public_key.algorithm()).len()
            }
            _ => 1,
        };
        check_cost(&leaf.public_key).saturating_mul(u64::try_from(checks).unwrap_or(u64::MAX))
    }

    /// [`Verifier::verify`], spending signature checks from `budget`; an item that finds
    /// the budget spent answers `budget_exceeded`.
    pub fn verify_within(&self, request: &VerifyRequest, budget: &VerifyBudget) -> VerifyOutcome {
        let detached = match request.format {
            SignatureFormat::Cms => match cms::parse(&request.signature) {
                Ok(parsed) => Some(parsed),
                Err(e) => return VerifyOutcome::invalid(Reason::Malformed, e.to_string(), None),
            },
            SignatureFormat::Raw(_) => None,
        };
        let leaf = match self.signer_leaf(&request.certificate, detached.as_ref()) {
            Ok(leaf) => leaf,
            Err((reason, message, signer)) => {
                return VerifyOutcome::invalid(reason, message, signer)
            }
        };
        let signer = Some(signer_info(&leaf));
        let invalid =
            |reason, message: String| VerifyOutcome::invalid(reason, message, signer.clone());
        let (Some(issuer), Some(window)) = (leaf.issuer, leaf.window) else {
            // Admission sets both; an admitted leaf without them is a bug, not a verdict.
            return invalid(
                Reason::Unavailable,
                "internal error: the certificate was not checked; try again".into(),
            );
        };
        let status = match self.store.known_status(leaf.serial.as_bytes()) {
            Ok(status) => status,
            Err(e) => {
                tracing::error!(error = %e, "revocation lookup failed");
                return invalid(
                    Reason::Unavailable,
                    "the revocation status could not be read; try again".into(),
                );
            }
        };
        let judged = self.judge_time(request.time, &leaf, issuer, &status);
        let time = judged.at.unix_timestamp();
        let invalid = |reason, message: String| VerifyOutcome {
            time: Some(judged.clone()),
            ..invalid(reason, message)
        };
        if time < window.not_before {
            return invalid(
                Reason::NotYetValid,
                format!(
                    "the certificate was not yet valid at {} (valid from {})",
                    crate::clock::format_time(judged.at),
                    unix(leaf.not_before.max(window.not_before))
                ),
            );
        }
        if time >= window.not_after {
            return invalid(Reason::Expired, expired_message(&leaf, time));
        }

        let scheme = match &detached {
            Some(parsed) => {
                if !matches!(request.certificate, SignerCertificate::FromSignature)
                    && !parsed.names_signer(&leaf.der)
                {
                    return invalid(
                        Reason::BadSignature,
                        "the CMS signature names a different signer than the given certificate"
                            .into(),
                    );
                }
                match parsed.signed_bytes(&request.message, leaf.public_key.algorithm()) {
                    Ok(_) if !budget.try_spend(check_cost(&leaf.public_key)) => {
                        let (reason, message) = over_budget();
                        Err(invalid(reason, message))
                    }
                    Ok((covered, scheme)) => match verify_signature(
                        &leaf.public_key,
                        scheme,
                        &covered,
                        &parsed.signature,
                    ) {
                        Ok(()) => Ok(scheme),
                        Err(_) => Err(invalid(
                            Reason::BadSignature,
                            "the CMS signature does not verify with the signer's key".into(),
                        )),
                    },
                    Err(cms::CmsError::Unsupported(e)) => {
                        Err(invalid(Reason::UnsupportedAlgorithm, e))
                    }
                    Err(cms::CmsError::Mismatch(e)) => Err(invalid(Reason::BadSignature, e)),
                    Err(cms::CmsError::Malformed(e)) => Err(invalid(Reason::Malformed, e)),
                }
            }
            None => self
                .raw_signature(&leaf, request, budget)
                .map_err(|(reason, message)| invalid(reason, message)),
        };
        let scheme = match scheme {
            Ok(scheme) => scheme,
            Err(outcome) => return outcome,
        };

        if let Some(revocation) = self.issuer_revoked(issuer, time) {
            return invalid(Reason::Revoked, revocation);
        }
        match status {
            KnownStatus::Revoked(entry) if revoked_at(&entry, time) => {
                return invalid(Reason::Revoked, revoked_message(&entry));
            }
            KnownStatus::NeverIssued => {
                return invalid(
                    Reason::UnknownIssuer,
                    "this CA has no record of the certificate".into(),
                );
            }
            _ => {}
        }
        if !leaf.can_sign {
            return invalid(
                Reason::KeyUsage,
                "the certificate's keyUsage allows neither digitalSignature nor nonRepudiation"
                    .into(),
            );
        }
        if let Some(required) = request.require_role {
            if leaf.role != Some(required) {
                return invalid(
                    Reason::WrongRole,
                    format!(
                        "the signer is {} but a {required} is required",
                        leaf.role
                            .map(|r| format!("a {r}"))
                            .unwrap_or_else(|| "of no known role".into())
                    ),
                );
            }
        }
        VerifyOutcome {
            valid: true,
            reason: None,
            message: "the signature is valid and the signer's certificate was good at that time"
                .into(),
            signer,
            algorithm: Some(scheme.name().to_string()),
            time: Some(judged),
        }
    }

    /// The time a signature is judged at (docs/verification.md, "Which time a signature is
    /// judged at"). A time the caller claims is chosen by whoever holds the key, so it is
    /// honoured only within the signer's role policy's grace period, never in the future,
    /// and never for a certificate revoked for a compromise (whose thief would claim a
    /// time before the compromise). Otherwise: the server's time. No timestamp can prove
    /// a time yet, so `proven` is false.
    fn judge_time(
        &self,
        claimed: Option<OffsetDateTime>,
        leaf: &Leaf,
        issuer: u32,
        status: &KnownStatus,
    ) -> JudgedTime {
        let now = self.clock.now();
        let server = |note: Option<String>| JudgedTime {
            at: now,
            source: TimeSource::Server,
            proven: false,
            claimed,
            note,
        };
        let Some(claimed_at) = claimed else {
            return server(None);
        };
        let compromise = |reason: RevocationReason| {
            matches!(
                reason,
                RevocationReason::KeyCompromise
                    | RevocationReason::CaCompromise
                    | RevocationReason::AaCompromise
            )
        };
        let compromised = match status {
            KnownStatus::Revoked(entry) if compromise(entry.reason) => Some(entry.reason),
            _ => self
                .ca
                .issuer_revocation(issuer)
                .map(|r| r.reason)
                .filter(|r| compromise(*r) || *r == RevocationReason::Unspecified),
        };
        if let Some(reason) = compromised {
            return server(Some(format!(
                "the certificate was revoked for {reason}: a time the signer claims cannot be trusted, so the signature is judged at the server's time"
            )));
        }
        let grace = leaf
            .role
            .and_then(|role| self.policies.profile(role))
            .map(|profile| profile.verification.claimed_time_grace)
            .unwrap_or(DEFAULT_CLAIMED_TIME_GRACE);
        if claimed_at > now + CLOCK_SKEW {
            return server(Some(
                "the claimed time is in the future: judged at the server's time".into(),
            ));
        }
        if now - claimed_at > grace {
            return server(Some(format!(
                "the claimed time is more than {} s old, which the signer's policy allows only with a timestamp: judged at the server's time",
                grace.whole_seconds()
            )));
        }
        JudgedTime {
            at: claimed_at,
            source: TimeSource::Claimed,
            proven: false,
            claimed,
            note: None,
        }
    }

    fn raw_signature(
        &self,
        leaf: &Leaf,
        request: &VerifyRequest,
        budget: &VerifyBudget,
    ) -> Result<SignatureScheme, (Reason, String)> {
        let key = leaf.public_key.algorithm();
        let candidates: Vec<SignatureScheme> = match &request.format {
            SignatureFormat::Raw(Some(name)) => match SignatureScheme::from_name(name, key) {
                Some(scheme) => vec![scheme],
                None => {
                    return Err((
                        Reason::UnsupportedAlgorithm,
                        format!(
                            "algorithm {name:?} does not fit a {key} key (use one of: {})",
                            SignatureScheme::candidates(key)
                                .iter()
                                .map(|s| s.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
            },
            _ => SignatureScheme::candidates(key).to_vec(),
        };
        // Only the named scheme when one is named; otherwise each candidate in turn, each
        // paid for from the request's budget.
        let cost = check_cost(&leaf.public_key);
        for scheme in candidates {
            if !budget.try_spend(cost) {
                return Err(over_budget());
            }
            if verify_signature(
                &leaf.public_key,
                scheme,
                &request.message,
                &request.signature,
            )
            .is_ok()
            {
                return Ok(scheme);
            }
        }
        Err((
            Reason::BadSignature,
            "the signature does not verify with the signer's key".into(),
        ))
    }

    /// Validates a chain (leaf first) to our root with webpki, then the leaf's revocation
    /// status from our store.
    pub fn validate(
        &self,
        chain: &[Vec<u8>],
        time: Option<OffsetDateTime>,
        usage: Usage,
    ) -> ValidateOutcome {
        let unknown = |reason, message: String| ValidateOutcome {
            valid: false,
            status: "unknown",
            reason: Some(reason),
            message,
            subject: None,
            time: None,
        };
        let Some((leaf_der, intermediates)) = chain.split_first() else {
            return unknown(Reason::Malformed, "the chain is empty".into());
        };
        let leaf = match self.parse_leaf(leaf_der.clone()) {
            Ok(leaf) => leaf,
            Err(e) => {
                return unknown(
                    Reason::Malformed,
                    format!("the leaf certificate is unusable: {e}"),
                )
            }
        };
        let info = signer_info(&leaf);
        let status = match self.store.known_status(leaf.serial.as_bytes()) {
            Ok(status) => status,
            Err(e) => {
                tracing::error!(error = %e, "revocation lookup failed");
                return unknown(
                    Reason::Unavailable,
                    "the revocation status could not be read; try again".into(),
                );
            }
        };
        let judged = match leaf.issuer {
            Some(issuer) => self.judge_time(time, &leaf, issuer, &status),
            None => JudgedTime {
                at: self.clock.now(),
                source: TimeSource::Server,
                proven: false,
                claimed: time,
                note: time
                    .map(|_| "not a certificate of this CA: judged at the server's time".into()),
            },
        };
        let time = judged.at.unix_timestamp();
        let unknown = |reason, message: String| ValidateOutcome {
            time: Some(judged.clone()),
            ..unknown(reason, message)
        };
        let revoked = |message: String| ValidateOutcome {
            valid: false,
            status: "revoked",
            reason: Some(Reason::Revoked),
            message,
            subject: Some(info.clone()),
            time: Some(judged.clone()),
        };
        if let Err(e) = self.chains.validate(leaf_der, intermediates, time, usage) {
            let (reason, message) = match e {
                ChainError::Expired => (
                    Reason::Expired,
                    "a certificate of the chain had expired at that time".to_string(),
                ),
                ChainError::NotYetValid => (
                    Reason::NotYetValid,
                    "a certificate of the chain was not yet valid at that time".into(),
                ),
                ChainError::Usage(e) => (
                    Reason::KeyUsage,
                    format!("the certificate does not allow this usage: {e}"),
                ),
                ChainError::UnsupportedAlgorithm(e) => (Reason::UnsupportedAlgorithm, e),
                ChainError::Malformed(e) => (Reason::Malformed, e),
                ChainError::UnknownIssuer(e) => (
                    Reason::UnknownIssuer,
                    format!("the chain does not lead to this CA's root: {e}"),
                ),
            };
            return ValidateOutcome {
                subject: leaf.issuer.is_some().then_some(info.clone()),
                ..unknown(reason, message)
            };
        }
        if let Some(message) = leaf
            .issuer
            .and_then(|issuer| self.issuer_revoked(issuer, time))
        {
            return revoked(message);
        }
        // The chain is signed by our CA; the leaf must also be exactly the certificate
        // our records hold for its serial.
        if self.known(&leaf.fingerprint).is_none() {
            if let Err((reason, message, _)) = self.admit(leaf.clone(), None) {
                return ValidateOutcome {
                    subject: Some(info.clone()),
                    ..unknown(reason, format!("the chain validates, but {message}"))
                };
            }
        }
        match status {
            KnownStatus::Revoked(entry) if revoked_at(&entry, time) => {
                revoked(revoked_message(&entry))
            }
            KnownStatus::NeverIssued => ValidateOutcome {
                subject: Some(info.clone()),
                ..unknown(
                    Reason::UnknownIssuer,
                    "the chain validates but this CA has no record of the leaf".into(),
                )
            },
            _ => ValidateOutcome {
                valid: true,
                status: "good",
                reason: None,
                message: "the chain validates to this CA's root and the leaf is not revoked".into(),
                subject: Some(info.clone()),
                time: Some(judged.clone()),
            },
        }
    }

    /// Why a certificate of issuing CA `issuer` counts as revoked at `time` because the
    /// root revoked that CA, if it does.
    fn issuer_revoked(&self, issuer: u32, time: i64) -> Option<String> {
        let revocation = self.ca.issuer_revocation(issuer)?;
        let entry = RevokedEntry {
            reason: revocation.reason,
            revoked_at: revocation.revoked_at,
            invalidity_date: None,
            not_after: i64::MAX,
            issuer,
        };
        revoked_at(&entry, time).then(|| {
            format!(
                "the certificate's issuer was revoked: the root revoked issuing CA {issuer} ({}) at {}",
                revocation.reason,
                unix(revocation.revoked_at)
            )
        })
    }

    /// Verifies many requests across all cores, results in order.
    pub fn verify_batch(&self, requests: &[VerifyRequest]) -> Vec<VerifyOutcome> {
        use rayon::prelude::*;
        requests.par_iter().map(|r| self.verify(r)).collect()
    }
}

/// Whether a revocation applies to a signature made at `time`.
///
/// Compromise reasons apply from the invalidity date when one was given, and otherwise
/// to every signature: whoever holds a stolen key can also pick the claimed time. Other
/// reasons apply from the revocation time on, so a signature made before it stays valid.
pub fn revoked_at(entry: &RevokedEntry, time: i64) -> bool {
    match entry.reason {
        RevocationReason::KeyCompromise
        | RevocationReason::CaCompromise
        | RevocationReason::AaCompromise => entry.invalidity_date.is_none_or(|since| time >= since),
        _ => time >= entry.revoked_at,
    }
}

fn unix(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map(crate::clock::format_time)
        .unwrap_or_else(|_| seconds.to_string())
}

fn revoked_message(entry: &RevokedEntry) -> String {
    format!(
        "the certificate was revoked ({}) at {}{}",
        entry.reason,
        unix(entry.revoked_at),
        entry
            .invalidity_date
            .map(|d| format!(", key invalid since {}", unix(d)))
            .unwrap_or_default()
    )
}

fn expired_message(leaf: &Leaf, time: i64) -> String {
    if time >= leaf.not_after {
        format!(
            "the certificate had expired at that time (valid until {})",
            unix(leaf.not_after)
        )
    } else {
        "a CA certificate of the chain had expired at that time".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    fn key(alg: &'static rcgen::SignatureAlgorithm) -> PublicKey {
        let pair = rcgen::KeyPair::generate_for(alg).unwrap();
        PublicKey::from_spki_der(&pair.subject_public_key_info()).unwrap()
    }

    #[test]
    fn costs_rank_key_types() {
        let p256 = check_cost(&key(&rcgen::PKCS_ECDSA_P256_SHA256));
        let p384 = check_cost(&key(&rcgen::PKCS_ECDSA_P384_SHA384));
        let ed25519 = check_cost(&key(&rcgen::PKCS_ED25519));
        assert!(p256 < p384 && ed25519 < p384);
        // A full batch of single checks fits the default budget (1 s) for every EC key.
        assert!(p384 * MAX_BATCH as u64 <= 1_000_000);
    }

    #[test]
    fn a_budget_is_spent_check_by_check_and_never_overdrawn() {
        let budget = VerifyBudget::new(100);
        assert!(budget.try_spend(40));
        assert!(budget.try_spend(40));
        assert!(!budget.try_spend(40), "only 20 left");
        assert!(budget.try_spend(20));
        assert_eq!(budget.spent(), 100);
        assert_eq!(budget.checks(), 3);
        assert!(!budget.try_spend(1));
    }

    #[test]
    fn a_budget_is_shared_by_parallel_items() {
        use rayon::prelude::*;
        let budget = VerifyBudget::new(1_000);
        let granted = (0..1_000)
            .into_par_iter()
            .filter(|_| budget.try_spend(7))
            .count();
        assert_eq!(granted, 142);
        assert_eq!(budget.spent(), 994);
    }

    /// With an injected clock, expiry and the claimed-time grace are unit tests of
    /// milliseconds: no sleeping until a certificate expires.
    #[test]
    fn the_verdict_follows_the_injected_clock() {
        use crate::clock::{Clock, FixedClock};
        let dir = tempfile::tempdir().unwrap();
        let data = crate::config::DataDir::new(dir.path().join("ca"));
        crate::ca::init(
            &data,
            &crate::ca::InitOptions::new("http://127.0.0.1:1".into()),
        )
        .unwrap();
        let ca = Arc::new(CertificateAuthority::load(&data, None).unwrap());
        let policies = Arc::new(
            Policies::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
                .unwrap(),
        );
        let store = SledStore::temporary().unwrap();
        let clock = FixedClock::at(OffsetDateTime::now_utc());
        let ra = crate::ra::RegistrationAuthority::new(policies.clone(), ca.clone(), store.clone())
            .with_clock(clock.clone());
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = rcgen::CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let issued = ra
            .issue(crate::ra::IssuanceRequest {
                role: Role::Buyer,
                csr: crate::ra::csr::parse(csr.as_bytes()).unwrap(),
                subject: Some("CN=Alice".parse().unwrap()),
                subject_alt_names: Some(Vec::new()),
                validity: Some(time::Duration::days(30)),
                via: crate::store::IssuancePath::CliIssue,
                actor: "test".into(),
                parent: None,
            })
            .unwrap();
        let verifier =
            Verifier::new(ca, store, policies, DEFAULT_CACHE_BYTES).with_clock(clock.clone());
        let message = b"pay 10 EUR".to_vec();
        use rcgen::SigningKey;
        let request = |time: Option<OffsetDateTime>| VerifyRequest {
            certificate: SignerCertificate::Serial(issued.record.serial.to_string()),
            message: message.clone(),
            signature: key.sign(&message).unwrap(),
            format: SignatureFormat::Raw(Some("ecdsa-sha256".into())),
            time,
            require_role: None,
        };
        assert!(verifier.verify(&request(None)).valid);
        // 31 days on, at the server's time: expired.
        clock.advance(time::Duration::days(31));
        let outcome = verifier.verify(&request(None));
        assert_eq!(outcome.reason, Some(Reason::Expired), "{outcome:?}");
        // A claimed time 2 minutes before expiry is within no grace of "now": not used.
        let before_expiry = issued.record.not_after - time::Duration::minutes(2);
        let outcome = verifier.verify(&request(Some(before_expiry)));
        assert_eq!(outcome.reason, Some(Reason::Expired), "{outcome:?}");
        // With the clock just past expiry, the same claim is within the 5 minutes of grace.
        clock.set(issued.record.not_after + time::Duration::minutes(1));
        let outcome = verifier.verify(&request(Some(before_expiry)));
        assert!(outcome.valid, "{outcome:?}");
        assert_eq!(outcome.time.map(|t| t.source), Some(TimeSource::Claimed));
        assert!(clock.now() > issued.record.not_after);
    }
}
