//! Enrollment authorization: one-time tokens, the admin credential, and renewal proofs.
//!
//! A token is `ppt_<id>_<secret>`: the id finds the record, the secret is checked against
//! its stored SHA-256 in constant time. The token fixes the role, subject and SANs; the
//! CSR only contributes the public key (and proof of possessing it).

use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use super::{IssuanceRequest, Issued, RaError, RegistrationAuthority, RenewalRefusal};
use crate::model::{PublicKey, Role, Serial};
use crate::names::{SubjectAltName, SubjectName};
use crate::signature::{verify_signature, SignatureScheme};
use crate::store::{AuditEvent, IssuancePath, TokenRecord};

const TOKEN_PREFIX: &str = "ppt_";
const ADMIN_PREFIX: &str = "ppa_";
/// How far a renewal request's time may be from the server's.
pub const RENEWAL_CLOCK_SKEW: Duration = Duration::minutes(5);

/// Why a token or credential was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not of the form `ppt_<id>_<secret>`.
    #[error("the enrollment token is malformed: expected ppt_<id>_<secret> as printed by `paypki token create`")]
    Malformed,
    /// No such token, or the secret is wrong (indistinguishable on purpose).
    #[error("the enrollment token is not recognized")]
    Unknown,
    /// Past its expiry.
    #[error("the enrollment token expired at {0}; ask the CA administrator for a new one")]
    Expired(String),
    /// Already used (tokens work exactly once).
    #[error("the enrollment token has already been used; ask the CA administrator for a new one")]
    AlreadyUsed,
    /// The token lifetime asked for is not allowed.
    #[error("{0}")]
    BadLifetime(String),
    /// Missing or wrong admin credential.
    #[error(
        "a valid admin credential is required (Authorization: Bearer <contents of admin.token>)"
    )]
    AdminUnauthorized,
}

impl TokenError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind as K;
        match self {
            TokenError::Malformed => K::BadToken,
            TokenError::Unknown | TokenError::Expired(_) => K::TokenRejected,
            TokenError::AlreadyUsed => K::TokenUsed,
            TokenError::BadLifetime(_) => K::PolicyViolation,
            TokenError::AdminUnauthorized => K::Unauthorized,
        }
    }
}

/// What an administrator grants with a token.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// Whose names the certificate gets.
    pub names: GrantNames,
    /// Lifetime; the policy's default when absent.
    pub ttl: Option<Duration>,
    /// The officer creating it: under dual control, the enrollment it leads to is their
    /// request, which they may not approve themselves.
    pub created_by: Option<String>,
}

/// Where a token's role, subject and SANs come from.
#[derive(Debug, Clone)]
pub enum GrantNames {
    /// Typed by the administrator.
    Explicit {
        /// The role.
        role: Role,
        /// The subject.
        subject: SubjectName,
        /// The SANs.
        subject_alt_names: Vec<SubjectAltName>,
    },
    /// A registered participant (its id): the registry and the role's policy decide
    /// them, so they cannot be mistyped.
    Participant(String),
}

/// A freshly created token: the secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    /// The whole token to hand to the participant.
    pub token: String,
    /// The stored record (hash only).
    pub record: TokenRecord,
}

/// A renewal request, as the participant sends it.
#[derive(Debug, Clone)]
pub struct RenewalRequest {
    /// The current certificate.
    pub serial: Serial,
    /// The CSR for the new certificate (same or new key).
    pub csr: Vec<u8>,
    /// Unix time at which the proof was made.
    pub time: i64,
    /// Signature by the current certificate's key over [`renewal_message`].
    pub proof: Vec<u8>,
}

/// The bytes a participant signs with its current key to renew:
/// `paypki-renewal-v1\n<serial hex>\n<unix time>\n<SHA-256 of the CSR DER, hex>`.
pub fn renewal_message(serial: &Serial, time: i64, csr_der: &[u8]) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, csr_der);
    format!(
        "paypki-renewal-v1\n{serial}\n{time}\n{}",
        hex::encode(digest)
    )
    .into_bytes()
}

pub(crate) fn random_hex(bytes: usize) -> Result<String, RaError> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| crate::ca::CaError::Key("the system random generator failed".into()))?;
    Ok(hex::encode(buf))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

/// Constant-time comparison of two hex digests.
fn digests_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Creates a new admin credential: returns the secret (to write 0600) and its hash (to store).
pub fn new_admin_credential() -> Result<(String, String), RaError> {
    let secret = format!("{ADMIN_PREFIX}{}", random_hex(32)?);
    let hash = sha256_hex(secret.as_bytes());
    Ok((secret, hash))
}

/// Whether a token enrolls a registered participant (dual control's default scope).
fn token_has_participant(token: &TokenRecord) -> bool {
    token.participant.is_some()
}

/// Checks a presented admin credential against the stored hash.
pub fn check_admin_credential(
    presented: Option<&str>,
    stored_hash: Option<&str>,
) -> Result<(), TokenError> {
    match (presented, stored_hash) {
        (Some(presented), Some(stored))
            if digests_equal(&sha256_hex(presented.trim().as_bytes()), stored) =>
        {
            Ok(())
        }
        _ => Err(TokenError::AdminUnauthorized),
    }
}

fn parse_token(token: &str) -> Result<(&str, &str), TokenError> {
    let rest = token
        .trim()
        .strip_prefix(TOKEN_PREFIX)
        .ok_or(TokenError::Malformed)?;
    let (id, secret) = rest.split_once('_').ok_or(TokenError::Malformed)?;
    let hex_of = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex_of(id, 24) || !hex_of(secret, 64) {
        return Err(TokenError::Malformed);
    }
    Ok((id, secret))
}

impl RegistrationAuthority {
    /// Creates a one-time enrollment token after checking the grant against the role's
    /// policy, so that a token can never promise what the policy would refuse.
    pub fn create_token(&self, grant: TokenGrant, actor: &str) -> Result<CreatedToken, RaError> {
        let created = self.prepare_token(grant)?;
        let event = AuditEvent::new("token-create", actor)
            .role(created.record.role)
            .detail(format!(
                "token {} for {}{} (expires {})",
                created.record.id,
                created.record.subject,
                created
                    .record
                    .participant
                    .as_ref()
                    .map(|p| format!(" (participant {p})"))
                    .unwrap_or_default(),
                created.record.expires_at
            ));
        self.store.put_token(&created.record, event)?;
        Ok(created)
    }

    /// Creates many tokens at once (a bank onboarding its merchants): every grant is
    /// checked first; all are stored with one audit entry and one flush, or none.
    pub fn create_tokens(
        &self,
        grants: Vec<TokenGrant>,
        actor: &str,
    ) -> Result<Vec<CreatedToken>, RaError> {
        let created = grants
            .into_iter()
            .enumerate()
            .map(|(index, grant)| {
                self.prepare_token(grant)
                    .map_err(|error| RaError::BatchItem {
                        index,
                        error: Box::new(error),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let records: Vec<TokenRecord> = created.iter().map(|c| c.record.clone()).collect();
        let event = AuditEvent::new("token-create", actor).detail(format!(
            "{} tokens: {}",
            records.len(),
            records
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
        self.store.put_tokens(&records, event)?;
        Ok(created)
    }

    fn prepare_token(&self, grant: TokenGrant) -> Result<CreatedToken, RaError> {
        let (role, subject, sans, participant) = match grant.names {
            GrantNames::Explicit {
                role,
                subject,
                subject_alt_names,
            } => (role, subject, subject_alt_names, None),
            GrantNames::Participant(id) => {
                let record = self.active_participant(&id, "a new token")?;
                let (subject, sans) = self.participant_names(&record)?;
                (record.role, subject, sans, Some(record.id))
            }
        };
        let profile = self.policies.profile(role).ok_or(RaError::NoPolicy(role))?;
        super::check_subject(profile, &subject)?;
        super::check_sans(profile, &sans)?;
        let ttl = grant.ttl.unwrap_or(profile.enrollment.token_ttl);
        if ttl <= Duration::ZERO || ttl > profile.enrollment.token_max_ttl {
            return Err(TokenError::BadLifetime(format!(
                "a {} token may live at most {} hours",
                role,
                profile.enrollment.token_max_ttl.whole_hours()
            ))
            .into());
        }
        let id = random_hex(12)?;
        let secret = random_hex(32)?;
        let now = self.clock.now();
        let record = TokenRecord {
            id: id.clone(),
            secret_sha256: sha256_hex(secret.as_bytes()),
            role,
            subject: subject.to_string(),
            subject_alt_names: sans.iter().map(ToString::to_string).collect(),
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
            serial: None,
            created_by: grant.created_by,
            approval: None,
            participant,
        };
        Ok(CreatedToken {
            token: format!("{TOKEN_PREFIX}{id}_{secret}"),
            record,
        })
    }

    /// Enrolls with a one-time token and a CSR. Every check runs before the token is
    /// claimed, so a request refused for bad input leaves the token usable; of racing
    /// requests with one token, exactly one gets a certificate.
    pub fn enroll(&self, token: &str, csr_bytes: &[u8]) -> Result<Issued, RaError> {
        self.enroll_authenticated(token, csr_bytes, |_| Ok(()))
    }

    /// [`RegistrationAuthority::enroll`], calling `authenticated` with the token id once
    /// the token's secret has been checked and before anything else: the place for limits
    /// keyed by the token, which must never count attempts by someone who only knows its
    /// public id. An error from it ends the enrollment.
    pub fn enroll_authenticated(
        &self,
        token: &str,
        csr_bytes: &[u8],
        authenticated: impl FnOnce(&str) -> Result<(), RaError>,
    ) -> Result<Issued, RaError> {
        let (id, secret) = parse_token(token)?;
        let record = self.store.token(id)?.ok_or(TokenError::Unknown)?;
        if !digests_equal(&sha256_hex(secret.as_bytes()), &record.secret_sha256) {
            return Err(TokenError::Unknown.into());
        }
        authenticated(id)?;
        // A suspended or terminated participant gets nothing, not even a redelivery.
        let participant = record
            .participant
            .as_deref()
            .map(|p| self.active_participant(p, "enrollment"))
            .transpose()?;
        if record.used_at.is_some() {
            return self.redeliver(&record, csr_bytes);
        }
        let now = self.clock.now();
        if now >= record.expires_at {
            return Err(TokenError::Expired(record.expires_at.to_string()).into());
        }
        // A participant's names are the registry's as they are now (an update since the
        // token was made is taken); other tokens carry their own.
        let (subject, sans) = match &participant {
            Some(participant) => self.participant_names(participant)?,
            None => (
                record.subject.parse::<SubjectName>()?,
                record
                    .subject_alt_names
                    .iter()
                    .map(|s| s.parse::<SubjectAltName>())
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let csr = super::csr::parse(csr_bytes)?;
        check_csr_names_match(&csr, &subject, &sans)?;
        let mut decision = self.decide(IssuanceRequest {
            role: record.role,
            csr,
            subject: Some(subject),
            subject_alt_names: Some(sans),
            validity: None,
            via: IssuancePath::Enroll,
            actor: format!("enroll:token {id}"),
            parent: None,
        })?;
        decision.participant = participant.map(|p| p.id);
        if !self.store.claim_token(id, now)? {
            return Err(TokenError::AlreadyUsed.into());
        }
        if let Some(rules) = self.approval_needed(
            record.role,
            super::policy::ApprovalAct::Issue,
            token_has_participant(&record),
        ) {
            let rules = rules.clone();
            return match self.enrollment_request(&rules, &record, &decision, csr_bytes) {
                Ok(pending) => Err(RaError::PendingApproval(Box::new(pending))),
                Err(e) => {
                    self.store.release_token(id)?;
                    Err(e)
                }
            };
        }
        match self.execute(decision) {
            Ok(issued) => {
                self.store.complete_token(id, &issued.record.serial)?;
                Ok(issued)
            }
            Err(e) => {
                // Not the participant's fault: give the token back.
                self.store.release_token(id)?;
                Err(e)
            }
        }
    }

    /// Records the enrollment of a claimed token as a request waiting for approval, and
    /// links the token to it.
    fn enrollment_request(
        &self,
        rules: &super::policy::ApprovalRules,
        token: &TokenRecord,
        decision: &super::Decision,
        csr_bytes: &[u8],
    ) -> Result<crate::store::ApprovalRecord, RaError> {
        let pending = super::approvals::PendingAct {
            act: super::policy::ApprovalAct::Issue,
            role: token.role,
            summary: format!(
                "issue a {} certificate for {} (SANs: {}) to the holder of token {}",
                token.role,
                token.subject,
                if token.subject_alt_names.is_empty() {
                    "none".to_string()
                } else {
                    token.subject_alt_names.join(", ")
                },
                token.id
            ),
            requested_by: match &token.created_by {
                Some(officer) => {
                    format!("enroll:token {} (created by officer {officer})", token.id)
                }
                None => format!("enroll:token {}", token.id),
            },
            requester_officer: token.created_by.clone(),
            payload: crate::store::ApprovalPayload::Issue {
                csr: csr_bytes.to_vec(),
                subject: decision.subject.to_string(),
                subject_alt_names: decision.sans.iter().map(ToString::to_string).collect(),
                validity_seconds: None,
                via: IssuancePath::Enroll,
                token: Some(token.id.clone()),
                parent: None,
                participant: decision.participant.clone(),
            },
        };
        let request = self.request_approval(rules, pending)?;
        self.store.token_awaits_approval(&token.id, &request.id)?;
        Ok(request)
    }

    /// A used token presented again (with its secret) by a participant whose enrollment
    /// answer was lost: if the CSR is signed by the key the token's certificate certifies
    /// (possession proven again), that certificate is handed over once more; nothing new
    /// is issued and the audit trail records the redelivery. Anything else is
    /// `AlreadyUsed`, as before.
    fn redeliver(&self, token: &TokenRecord, csr_bytes: &[u8]) -> Result<Issued, RaError> {
        let serial = match (&token.serial, &token.approval) {
            (Some(serial), _) => serial,
            (None, Some(approval)) => {
                // Under dual control: still waiting, or refused for good.
                let request = self.approval(approval)?;
                return match request.status {
                    crate::store::ApprovalStatus::Pending => {
                        Err(RaError::PendingApproval(Box::new(request)))
                    }
                    status => Err(super::approvals::ApprovalError::Refused {
                        id: request.id,
                        status: format!("{status:?}").to_ascii_lowercase(),
                    }
                    .into()),
                };
            }
            (None, None) => return Err(TokenError::AlreadyUsed.into()),
        };
        let Ok(csr) = super::csr::parse(csr_bytes) else {
            return Err(TokenError::AlreadyUsed.into());
        };
        let Some(issued) = self.store.certificate(serial)? else {
            return Err(TokenError::AlreadyUsed.into());
        };
        let same_key = x509_parser::parse_x509_certificate(&issued.der)
            .is_ok_and(|(_, cert)| cert.public_key().raw == csr.public_key.spki_der());
        if !same_key || issued.status != crate::model::CertificateStatus::Good {
            return Err(TokenError::AlreadyUsed.into());
        }
        self.store.append_audit(
            AuditEvent::new("enroll-redelivered", &format!("enroll:token {}", token.id))
                .serial(serial)
                .detail("token used again with the key of the certificate it produced: the same certificate was sent again"),
        )?;
        Ok(Issued {
            certificate_pem: crate::ca::to_pem("CERTIFICATE", &issued.der),
            chain_pem: self.ca.chain_pem(issued.issuer)?,
            record: issued,
            redelivered: true,
            log_index: None,
        })
    }

    /// Renews a current, unrevoked certificate for the same role, subject and SANs, after
    /// checking the holder's proof of possession of the current key.
    pub fn renew(&self, request: RenewalRequest) -> Result<Issued, RaError> {
        self.renew_authenticated(request, |_| Ok(()))
    }

    /// [`RegistrationAuthority::renew`], calling `authenticated` with the serial once the
    /// proof of possession has verified and before issuing: the place for limits keyed by
    /// the certificate, which anyone can read off it. An error from it ends the renewal.
    pub fn renew_authenticated(
        &self,
        request: RenewalRequest,
        authenticated: impl FnOnce(&Serial) -> Result<(), RaError>,
    ) -> Result<Issued, RaError> {
        let old = self
            .store
            .certificate(&request.serial)?
            .ok_or_else(|| RaError::UnknownCertificate(request.serial.clone()))?;
        let now = self.clock.now();
        // A suspended or terminated participant's certificates are not renewed (they
        // are on hold or revoked too; this says why).
        let participant = old
            .participant
            .as_deref()
            .map(|p| self.active_participant(p, "renewal"))
            .transpose()?;
        if old.status != crate::model::CertificateStatus::Good {
            return Err(RenewalRefusal::Revoked(old.serial.clone()).into());
        }
        if let Some(revocation) = self.ca.issuer_revocation(old.issuer) {
            return Err(RenewalRefusal::IssuerRevoked {
                serial: old.serial.clone(),
                reason: revocation.reason,
            }
            .into());
        }
        if now >= old.not_after {
            return Err(RenewalRefusal::Expired {
                serial: old.serial.clone(),
                at: old.not_after,
            }
            .into());
        }
        let profile = self
            .policies
            .profile(old.role)
            .ok_or(RaError::NoPolicy(old.role))?;
        if !profile.enrollment.renewal {
            return Err(RenewalRefusal::NotAllowed(old.role).into());
        }
        let opens = old.not_after - profile.enrollment.renewal_window;
        if now < opens {
            return Err(RenewalRefusal::WindowNotOpen {
                serial: old.serial.clone(),
                days: profile.enrollment.renewal_window.whole_days(),
                opens,
            }
            .into());
        }
        self.check_lineage(&old)?;
        let (csr, message) = check_renewal_proof(&old.der, &old.serial, &request, now)?;
        authenticated(&old.serial)?;
        // A proof renews once: replaying it (or an ECDSA-malleated copy of it, which
        // signs the same bytes) is refused. Keyed by what was signed, not the signature.
        let digest = ring::digest::digest(&ring::digest::SHA256, &message);
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        if !self
            .store
            .claim_renewal_proof(&key, now + RENEWAL_CLOCK_SKEW * 2)?
        {
            return Err(RenewalRefusal::ProofUsed.into());
        }
        // A participant's renewal takes the registry's names as they are now.
        let (subject, sans) = match &participant {
            Some(participant) => self.participant_names(participant)?,
            None => (
                old.subject.parse::<SubjectName>()?,
                old.subject_alt_names
                    .iter()
                    .map(|s| s.parse::<SubjectAltName>())
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let supersede_after = profile.enrollment.supersede_after;
        if let Some(rules) = self.approval_needed(
            old.role,
            super::policy::ApprovalAct::Renew,
            participant.is_some(),
        ) {
            let rules = rules.clone();
            let pending = super::approvals::PendingAct {
                act: super::policy::ApprovalAct::Renew,
                role: old.role,
                summary: format!(
                    "renew {} certificate {} ({}) for the holder of its key",
                    old.role, old.serial, old.subject
                ),
                requested_by: format!("renew:{} (the certificate's holder)", old.serial),
                requester_officer: None,
                payload: crate::store::ApprovalPayload::Issue {
                    csr: request.csr.clone(),
                    subject: subject.to_string(),
                    subject_alt_names: sans.iter().map(ToString::to_string).collect(),
                    validity_seconds: None,
                    via: IssuancePath::Renew,
                    token: None,
                    parent: Some(old.serial.clone()),
                    participant: participant.as_ref().map(|p| p.id.clone()),
                },
            };
            let pending = self.request_approval(&rules, pending)?;
            return Err(RaError::PendingApproval(Box::new(pending)));
        }
        let mut decision = self.decide(IssuanceRequest {
            role: old.role,
            csr,
            subject: Some(subject),
            subject_alt_names: Some(sans),
            validity: None,
            via: IssuancePath::Renew,
            actor: format!("renew:{}", old.serial),
            parent: Some(old.serial.clone()),
        })?;
        decision.participant = participant.map(|p| p.id);
        let issued = self.execute(decision)?;
        // The renewed certificate is superseded once the holder had time to deploy its
        // successor (the policy's supersede_after_hours).
        if supersede_after.is_zero() {
            self.supersede(&old.serial)?;
        } else {
            self.store
                .schedule_supersession(&old.serial, now + supersede_after)?;
        }
        Ok(issued)
    }

    /// Refuses to renew a certificate one of whose ancestors (the certificates it was
    /// renewed from) is on hold or was revoked for a key compromise: their holder's key
    /// was suspect when it proved possession for this one.
    fn check_lineage(&self, certificate: &crate::store::CertificateRecord) -> Result<(), RaError> {
        use crate::model::RevocationReason as R;
        let mut parent = certificate.parent.clone();
        // Lineages are short; the bound only guards against a corrupt cycle.
        for _ in 0..1000 {
            let Some(serial) = parent else {
                return Ok(());
            };
            let Some(record) = self.store.certificate(&serial)? else {
                return Ok(());
            };
            let suspect = record.revocation.as_ref().and_then(|r| {
                r.reason
                    .parse::<R>()
                    .ok()
                    .filter(|reason| matches!(reason, R::CertificateHold | R::KeyCompromise))
            });
            if let Some(reason) = suspect {
                return Err(RenewalRefusal::SuspectAncestor {
                    serial: certificate.serial.clone(),
                    ancestor: serial,
                    reason,
                }
                .into());
            }
            parent = record.parent;
        }
        Ok(())
    }

    /// Revokes a renewed certificate as superseded, unless it is revoked already.
    pub fn supersede(&self, serial: &Serial) -> Result<(), RaError> {
        match self.revoke(
            serial,
            crate::model::RevocationReason::Superseded,
            None,
            "renewal",
        ) {
            Ok(_) | Err(RaError::Store(crate::store::StoreError::AlreadyRevoked(..))) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Revokes, as superseded, every renewed certificate whose grace period has ended.
    /// Returns how many were revoked.
    pub fn supersede_due(&self) -> Result<usize, RaError> {
        let due = self.store.take_due_supersessions(self.clock.now())?;
        for serial in &due {
            self.supersede(serial)?;
        }
        Ok(due.len())
    }
}

/// The checks of a renewal request that need only the current certificate (`old_der`,
/// `old_serial`, as stored), not the store: the proof's time against `now`, the CSR
/// (syntax and proof of possession of the new key), and the proof, a signature by the
/// current certificate's key over [`renewal_message`]. Returns the verified CSR.
pub fn check_renewal_proof(
    old_der: &[u8],
    old_serial: &Serial,
    request: &RenewalRequest,
    now: OffsetDateTime,
) -> Result<(super::VerifiedCsr, Vec<u8>), RaError> {
    // abs_diff: `time` is the requester's i64, and `now - time` can overflow.
    if now.unix_timestamp().abs_diff(request.time)
        > RENEWAL_CLOCK_SKEW.whole_seconds().unsigned_abs()
    {
        return Err(RenewalRefusal::StaleProof.into());
    }
    let csr = super::csr::parse(&request.csr)?;
    let csr_der = csr_der(&request.csr)?;
    let (_, old_cert) = x509_parser::parse_x509_certificate(old_der)
        .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
    let old_key = PublicKey::from_x509(old_cert.public_key())
        .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
    let message = renewal_message(old_serial, request.time, &csr_der);
    verify_signature(
        &old_key,
        SignatureScheme::default_for(&old_key),
        &message,
        &request.proof,
    )
    .map_err(|_| RenewalRefusal::BadProof)?;
    Ok((csr, message))
}

/// The DER of a PEM or DER CSR (already validated by `csr::parse`).
fn csr_der(input: &[u8]) -> Result<Vec<u8>, RaError> {
    let trimmed = input.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        pem::parse(trimmed)
            .map(pem::Pem::into_contents)
            .map_err(|e| super::CsrError::Malformed(e.to_string()).into())
    } else {
        Ok(input.to_vec())
    }
}

/// A CSR may leave its subject and SANs empty (the token decides them); if it names any,
/// they must be the token's: a participant is never silently given other names.
pub(crate) fn check_csr_names_match(
    csr: &super::VerifiedCsr,
    subject: &SubjectName,
    sans: &[SubjectAltName],
) -> Result<(), RaError> {
    match &csr.subject {
        Ok(requested) if requested != subject => {
            return Err(RaError::CsrMismatch(format!(
                "the CSR asks for the subject \"{requested}\" but the token is for \"{subject}\"; leave the CSR subject empty or use the token's"
            )))
        }
        Err(crate::names::NameError::Empty) | Ok(_) => {}
        Err(e) => return Err(RaError::CsrMismatch(format!("the CSR's subject is unusable: {e}"))),
    }
    let requested = csr
        .subject_alt_names
        .clone()
        .map_err(|e| RaError::CsrMismatch(format!("the CSR's SANs are unusable: {e}")))?;
    if let Some(extra) = requested.iter().find(|name| !sans.contains(name)) {
        return Err(RaError::CsrMismatch(format!(
            "the CSR asks for {extra}, which the token does not grant (granted: {})",
            if sans.is_empty() {
                "none".to_string()
            } else {
                sans.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The renewal window and the proof's time, with an injected clock: a year of a
    /// certificate's life in milliseconds, no sleeping, no rewritten policy.
    #[test]
    fn renewal_opens_with_the_window_and_follows_the_clock() {
        use crate::clock::{Clock, FixedClock};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let data = crate::config::DataDir::new(dir.path().join("ca"));
        crate::ca::init(
            &data,
            &crate::ca::InitOptions::new("http://127.0.0.1:1".into()),
        )
        .unwrap();
        let ca = Arc::new(crate::ca::CertificateAuthority::load(&data, None).unwrap());
        let policies = Arc::new(
            super::super::Policies::load(
                &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
            )
            .unwrap(),
        );
        let store = crate::store::SledStore::temporary().unwrap();
        let clock = FixedClock::at(time::OffsetDateTime::now_utc());
        let ra = RegistrationAuthority::new(policies, ca, std::sync::Arc::new(store.clone()))
            .with_clock(clock.clone());
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let csr_pem = rcgen::CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let issued = ra
            .issue(IssuanceRequest {
                role: Role::Merchant,
                csr: super::super::csr::parse(csr_pem.as_bytes()).unwrap(),
                subject: Some("CN=Shop,O=Shop Ltd,serialNumber=M1234567".parse().unwrap()),
                subject_alt_names: Some(Vec::new()),
                validity: None,
                via: IssuancePath::CliIssue,
                actor: "test".into(),
                parent: None,
            })
            .unwrap();
        let serial = issued.record.serial.clone();
        let renew = |time: i64| {
            let csr_der = csr_der(csr_pem.as_bytes()).unwrap();
            let message = renewal_message(&serial, time, &csr_der);
            use rcgen::SigningKey;
            ra.renew(RenewalRequest {
                serial: serial.clone(),
                csr: csr_pem.clone().into_bytes(),
                time,
                proof: key.sign(&message).unwrap(),
            })
        };
        // Freshly issued: the 30-day window of the shipped merchant policy is not open.
        let refused = renew(clock.now().unix_timestamp()).unwrap_err();
        assert!(
            matches!(
                refused,
                RaError::Renewal(RenewalRefusal::WindowNotOpen { .. })
            ),
            "{refused:?}"
        );
        // 340 days later it is; a proof made 10 minutes before "now" is stale.
        clock.advance(Duration::days(340));
        let stale = renew(clock.now().unix_timestamp() - 600).unwrap_err();
        assert!(
            matches!(stale, RaError::Renewal(RenewalRefusal::StaleProof)),
            "{stale:?}"
        );
        let renewed = renew(clock.now().unix_timestamp()).unwrap();
        assert_eq!(renewed.record.parent.as_ref(), Some(&serial));
        // The new certificate starts at the clock's time (less the backdating).
        assert!(renewed.record.not_before > clock.now() - Duration::minutes(10));
        // Past notAfter: expired, refused.
        clock.advance(Duration::days(30));
        let expired = renew(clock.now().unix_timestamp()).unwrap_err();
        assert!(
            matches!(expired, RaError::Renewal(RenewalRefusal::Expired { .. })),
            "{expired:?}"
        );
    }

    #[test]
    fn token_syntax() {
        let good = format!("ppt_{}_{}", "a".repeat(24), "b".repeat(64));
        assert!(parse_token(&good).is_ok());
        assert_eq!(parse_token("ppt_x_y"), Err(TokenError::Malformed));
        assert_eq!(
            parse_token(&good.replace("ppt_", "ppa_")),
            Err(TokenError::Malformed)
        );
        assert_eq!(parse_token(""), Err(TokenError::Malformed));
    }

    /// Regression (fuzz/regressions/renewal/time-i64-min): `now - time` overflowed for a
    /// `time` near i64::MIN (a panic with overflow checks; without them the difference
    /// wrapped, and `abs` of i64::MIN stays negative, so the clock check passed).
    #[test]
    fn renewal_times_far_from_now_are_refused_without_overflow() {
        let now = OffsetDateTime::now_utc();
        let serial: Serial = "01".parse().unwrap();
        let at = now.unix_timestamp();
        for time in [
            i64::MIN,
            i64::MIN + 1,
            -i64::MAX,
            i64::MAX,
            at - 301,
            at + 301,
        ] {
            let request = RenewalRequest {
                serial: serial.clone(),
                csr: Vec::new(),
                time,
                proof: Vec::new(),
            };
            assert!(
                matches!(
                    check_renewal_proof(b"", &serial, &request, now),
                    Err(RaError::Renewal(RenewalRefusal::StaleProof))
                ),
                "{time}"
            );
        }
        // Within the skew the clock check passes (and the empty CSR is what fails).
        let request = RenewalRequest {
            serial: serial.clone(),
            csr: Vec::new(),
            time: at - 299,
            proof: Vec::new(),
        };
        assert!(matches!(
            check_renewal_proof(b"", &serial, &request, now),
            Err(RaError::Csr(_))
        ));
    }

    #[test]
    fn admin_credential_checks() {
        let (secret, hash) = new_admin_credential().unwrap();
        assert!(check_admin_credential(Some(&secret), Some(&hash)).is_ok());
        assert!(check_admin_credential(Some("ppa_wrong"), Some(&hash)).is_err());
        assert!(check_admin_credential(None, Some(&hash)).is_err());
        assert!(check_admin_credential(Some(&secret), None).is_err());
    }
}
