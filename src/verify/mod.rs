//! The verification service for payment components: is this message really signed by
//! that participant, and is the participant's certificate good at that time?
//!
//! Checks, in order: the certificate parses (`malformed`); it chains by signature to our
//! root (`unknown_issuer`, via rustls-webpki); the signature mathematics (`bad_signature`,
//! `unsupported_algorithm`, via ring); validity at `time` (`expired`, `not_yet_valid`);
//! revocation at `time` from our own store (`revoked`); keyUsage allows signing
//! (`key_usage`); the role read from the certificate-policy OID (`wrong_role`).
//! docs/verification.md explains how a revocation's time and invalidity date apply.

mod admission;
mod budget;
mod cache;
pub mod chain;
mod checks;
pub mod cms;
pub mod receipt;
pub mod timestamp;
mod types;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;

use crate::ca::CertificateAuthority;
use crate::model::{PublicKey, RevocationReason, Role, Serial};
use crate::ra::Policies;
pub use crate::signature::{
    verify_signature, verify_signature_with_id, SignatureError, SignatureScheme,
};
#[cfg(test)]
use crate::store::SledStore;
use crate::store::{KnownStatus, RevokedEntry, StoreReader};
use admission::*;
use budget::*;
pub use budget::{check_cost, VerifyBudget};
pub use cache::ByteLru;
pub use chain::{ChainError, ChainValidator, Usage};
pub use checks::revoked_at;
use checks::*;
use types::*;
pub use types::{
    Evidence, JudgedTime, PemText, RevocationEvidence, SignatureFormat, SignerCertificate,
    SignerInfo, TimeSource, ValidateOutcome, VerifyOutcome, VerifyRequest,
};

/// Machine-readable reason a verification failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
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
    by_serial: ByteLru<Box<[u8]>, [u8; 32]>,
    /// PEM text → fingerprint of an admitted leaf: a repeated PEM skips base64 decoding.
    /// Keyed by the text itself (SipHash and one comparison, exact), not by a digest of
    /// it: SHA-256 of a 1 KB PEM cost more than everything else a verification does
    /// besides the signature check.
    by_pem: ByteLru<Box<str>, [u8; 32]>,
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
        store: Arc<dyn StoreReader>,
        policies: Arc<Policies>,
        cache_bytes: usize,
    ) -> Self {
        let issuing_subjects = ca
            .issuers()
            .iter()
            .map(|issuer| (issuer.certificate().subject_der.clone(), issuer.id()))
            .collect();
        let chains = ChainValidator::with_roots(
            ca.roots()
                .into_iter()
                .map(|root| root.der.clone())
                .collect(),
            ca.issuers()
                .iter()
                .map(|issuer| issuer.certificate().der.clone())
                .collect(),
        );
        // Most of the memory goes to the certificates themselves; PEM texts (about 1 KB
        // each) get a quarter, serials an eighth.
        let small = (cache_bytes / 8).max(1);
        Verifier {
            ca,
            store,
            policies,
            chains,
            issuing_subjects,
            known: ByteLru::new(cache_bytes.saturating_sub(3 * small).max(1)),
            by_serial: ByteLru::new(small),
            by_pem: ByteLru::new(2 * small),
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
            SignerCertificate::Pem(text) => self.admitted_by_pem(text),
            SignerCertificate::Serial(text) => text
                .parse::<Serial>()
                .ok()
                .and_then(|serial| self.by_serial.get(serial.as_bytes()))
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
        let mut judged = None;
        let mut revocation = None;
        let evidence = |revocation: Option<RevocationEvidence>| {
            Some(Evidence {
                certificate_sha256: Some(leaf.fingerprint),
                revocation,
            })
        };
        match self.checks(
            request,
            budget,
            &leaf,
            detached.as_ref(),
            &mut judged,
            &mut revocation,
        ) {
            Ok(scheme) => VerifyOutcome {
                valid: true,
                reason: None,
                message:
                    "the signature is valid and the signer's certificate was good at that time"
                        .into(),
                signer,
                algorithm: Some(scheme.name().to_string()),
                time: judged,
                receipt: None,
                receipt_error: None,
                evidence: evidence(revocation),
            },
            Err((reason, message)) => VerifyOutcome {
                time: judged,
                evidence: evidence(revocation),
                ..VerifyOutcome::invalid(reason, message, signer)
            },
        }
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

    /// The signed receipt of `outcome`, the verdict on `request` (see `receipt.rs`).
    pub fn receipt(
        &self,
        outcome: &VerifyOutcome,
        request: &VerifyRequest,
    ) -> Result<receipt::Receipt, crate::ca::CaError> {
        receipt::make_receipt(
            &self.ca,
            outcome,
            receipt::ReceiptInput {
                message: &request.message,
                signature: &request.signature,
                format: match request.format {
                    SignatureFormat::Raw(_) => "raw",
                    SignatureFormat::Cms => "cms",
                },
                required_role: request.require_role,
            },
            self.clock.now(),
        )
    }

    /// Adds the receipt to `outcome` when `wanted`: a verdict gets one (a refusal to
    /// judge, `unavailable` or `budget_exceeded`, does not); a TSA that cannot sign
    /// leaves the verdict standing with `receipt_error`.
    pub fn with_receipt(
        &self,
        request: &VerifyRequest,
        wanted: bool,
        mut outcome: VerifyOutcome,
    ) -> VerifyOutcome {
        if !wanted
            || matches!(
                outcome.reason,
                Some(Reason::Unavailable | Reason::BudgetExceeded)
            )
        {
            return outcome;
        }
        match self.receipt(&outcome, request) {
            Ok(receipt) => outcome.receipt = Some(receipt),
            Err(e) => {
                tracing::error!(error = %e, "a verification receipt could not be signed");
                outcome.receipt_error = Some(
                    "the receipt could not be time-stamped now (the TSA could not sign); the verdict stands: ask again for a receipt".into(),
                );
            }
        }
        outcome
    }

    /// Verifies many requests across all cores, results in order.
    pub fn verify_batch(&self, requests: &[VerifyRequest]) -> Vec<VerifyOutcome> {
        use rayon::prelude::*;
        requests.par_iter().map(|r| self.verify(r)).collect()
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
        let ra = crate::ra::RegistrationAuthority::new(
            policies.clone(),
            ca.clone(),
            Arc::new(store.clone()),
        )
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
        let verifier = Verifier::new(ca, Arc::new(store), policies, DEFAULT_CACHE_BYTES)
            .with_clock(clock.clone());
        let message = b"pay 10 EUR".to_vec();
        use rcgen::SigningKey;
        let request = |time: Option<OffsetDateTime>| VerifyRequest {
            certificate: SignerCertificate::Serial(issued.record.serial.to_string()),
            message: message.clone(),
            signature: key.sign(&message).unwrap(),
            format: SignatureFormat::Raw(Some("ecdsa-sha256".into())),
            time,
            require_role: None,
            sm2_distinguishing_id: None,
        };
        assert!(verifier.verify(&request(None)).valid);
        // A signer's PEM is decoded once: a repeat is found by its text and the request
        // remembers the leaf it found; another text of the same certificate (CRLF line
        // ends) is decoded, then found by its own text.
        let crlf = issued.certificate_pem.replace('\n', "\r\n");
        for (text, entries) in [(&issued.certificate_pem, 1), (&crlf, 2), (&crlf, 2)] {
            let pem = VerifyRequest {
                certificate: SignerCertificate::Pem(PemText::new(text.clone())),
                ..request(None)
            };
            assert_eq!(
                verifier.estimated_cost(&pem) > 0,
                verifier.by_pem.len() == entries
            );
            assert!(verifier.verify(&pem).valid);
            assert_eq!(verifier.by_pem.len(), entries);
            assert!(verifier.estimated_cost(&pem) > 0, "found by its text");
        }
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
