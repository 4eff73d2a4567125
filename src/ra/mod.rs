//! The registration authority: decides *what* may be issued. It applies the role's
//! policy to a verified CSR (and, for enrollment, to a token), picks the serial and the
//! validity, asks the CA to sign, and has the store record the result. It cannot sign.

pub mod approvals;
pub mod csr;
pub mod enrollment;
pub mod officers;
pub mod participants;
pub mod policy;
pub mod timestamp;

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::ca::{CaError, CertificateAuthority, LeafRequest};
use crate::model::{sha256_fingerprint, CertificateStatus, KeyAlgorithm, Role, Serial};
use crate::names::{NameError, SubjectAltName, SubjectName};
use crate::store::{AuditEvent, CertificateRecord, IssuancePath, PlannedIssuance, StoreError};
pub use csr::{CsrError, VerifiedCsr};
pub use policy::{Policies, PolicyError, Profile};

/// Why the RA refused or failed a request. Payloads are data; the messages are for
/// people, and `kind()` is what programs (and the HTTP mapping) go by.
#[derive(Debug, thiserror::Error)]
pub enum RaError {
    /// The CSR itself is unusable.
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// The key is not allowed by the role's policy.
    #[error(transparent)]
    Key(#[from] KeyRefusal),
    /// The subject breaks the role's policy.
    #[error("{0}")]
    SubjectPolicy(String),
    /// The SANs break the role's policy.
    #[error("{0}")]
    SanPolicy(String),
    /// The requested validity breaks the role's policy.
    #[error(
        "a {role} certificate may be valid for 1 to {max_days} days; {asked_days} days were asked"
    )]
    Validity {
        /// The role.
        role: Role,
        /// The policy's longest validity.
        max_days: i64,
        /// What was asked.
        asked_days: i64,
    },
    /// No policy is loaded for the role (a server configuration fault).
    #[error("no policy loaded for role {0}")]
    NoPolicy(Role),
    /// A name could not be parsed.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The CA refused or failed.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An enrollment token or admin credential problem.
    #[error(transparent)]
    Token(#[from] enrollment::TokenError),
    /// An officer is not authenticated or not allowed.
    #[error(transparent)]
    Officer(#[from] officers::OfficerError),
    /// A decision on a request under dual control is refused.
    #[error(transparent)]
    Approval(#[from] approvals::ApprovalError),
    /// Not an error: the act waits for approval (the HTTP layer answers 202).
    #[error("waiting for approval: request {}", .0.id)]
    PendingApproval(Box<crate::store::ApprovalRecord>),
    /// A renewal that is not allowed.
    #[error(transparent)]
    Renewal(#[from] RenewalRefusal),
    /// The CSR names something other than the token grants.
    #[error("{0}")]
    CsrMismatch(String),
    /// No certificate with this serial.
    #[error("no certificate with serial {0}")]
    UnknownCertificate(Serial),
    /// A revocation whose invalidity date lies in the future.
    #[error("the invalidity date is in the future")]
    InvalidityDateInFuture,
    /// A rate limit on the authenticated token or certificate (seconds to wait).
    #[error("too many attempts for this token or certificate; retry in {0} s")]
    RateLimited(u64),
    /// A certificateHold of a serial without a certificate record: the hold could never
    /// be lifted (unhold needs the record), so only a permanent reason is accepted.
    #[error("serial {0} has no certificate record, so a hold could never be lifted: revoke it with a permanent reason")]
    UnrecordedHold(Serial),
    /// Item `index` of a batch request failed (the whole batch is refused).
    #[error("items[{index}]: {error}")]
    BatchItem {
        /// The item's position in the request, from 0.
        index: usize,
        /// Why it failed.
        error: Box<RaError>,
    },
    /// The participant registry refused.
    #[error(transparent)]
    Participant(#[from] participants::ParticipantError),
    /// No issuing CA may sign: the active one was revoked and none replaced it yet.
    #[error("this CA cannot issue certificates now: its issuing CA was revoked and no new one has been created yet (the administrator runs `paypki ca rollover`)")]
    NoIssuingCa,
    /// The system's random generator failed (no serial can be drawn).
    #[error("the system random generator failed")]
    RandomFailed,
    /// Three random serials in a row were taken: the generator is broken.
    #[error("could not find a free serial number")]
    NoFreeSerial,
}

impl RaError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind as K;
        match self {
            RaError::Csr(e) => e.kind(),
            RaError::Key(_) => K::KeyRefused,
            RaError::SubjectPolicy(_) | RaError::SanPolicy(_) | RaError::Validity { .. } => {
                K::PolicyViolation
            }
            RaError::Name(e) => e.kind(),
            RaError::Ca(e) => e.kind(),
            RaError::Store(e) => e.kind(),
            RaError::Token(e) => e.kind(),
            RaError::Officer(e) => e.kind(),
            RaError::Approval(e) => e.kind(),
            // Handled before it becomes a problem; reaching the table is a bug.
            RaError::PendingApproval(_) => K::Internal,
            RaError::Renewal(_) => K::RenewalRefused,
            RaError::CsrMismatch(_) => K::CsrMismatch,
            RaError::UnknownCertificate(_) => K::NotFound,
            RaError::InvalidityDateInFuture | RaError::UnrecordedHold(_) => K::RevocationRefused,
            RaError::BatchItem { error, .. } => error.kind(),
            RaError::Participant(e) => e.kind(),
            RaError::NoIssuingCa => K::NoIssuingCa,
            RaError::RateLimited(_) => K::RateLimited,
            RaError::NoPolicy(_) | RaError::RandomFailed | RaError::NoFreeSerial => K::Internal,
        }
    }
}

/// Why a key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    /// The role's policy does not list the key's algorithm.
    #[error(
        "{algorithm} keys are not allowed for the {role} role (allowed: {})",
        join(allowed)
    )]
    AlgorithmNotAllowed {
        /// The key's algorithm.
        algorithm: KeyAlgorithm,
        /// The role.
        role: Role,
        /// What the policy allows.
        allowed: Vec<KeyAlgorithm>,
    },
    /// An RSA key below the policy's minimum.
    #[error("the RSA key has {bits} bits; the {role} policy requires at least {min} bits")]
    RsaTooSmall {
        /// The key's size.
        bits: u32,
        /// The policy's minimum.
        min: u32,
        /// The role.
        role: Role,
    },
    /// An RSA key above what paypki supports.
    #[error("the RSA key has {bits} bits; at most {max} are supported")]
    RsaTooLarge {
        /// The key's size.
        bits: u32,
        /// The largest supported.
        max: u32,
    },
    /// None of the policy's key usages fits the key type.
    #[error("the {role} policy grants no key usage a {key} key can have")]
    NoUsableKeyUsage {
        /// The role.
        role: Role,
        /// The key's algorithm.
        key: KeyAlgorithm,
    },
}

fn join(algorithms: &[KeyAlgorithm]) -> String {
    algorithms
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a renewal is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenewalRefusal {
    /// The certificate is revoked (a hold included).
    #[error("certificate {0} is revoked and cannot be renewed; enroll again with a new token")]
    Revoked(Serial),
    /// Its issuing CA was revoked.
    #[error(
        "certificate {serial}'s issuing CA was revoked ({reason}); enroll again with a new token"
    )]
    IssuerRevoked {
        /// The certificate.
        serial: Serial,
        /// The CA's revocation reason.
        reason: crate::model::RevocationReason,
    },
    /// It expired.
    #[error("certificate {serial} expired at {at}; enroll again with a new token")]
    Expired {
        /// The certificate.
        serial: Serial,
        /// Its notAfter.
        at: OffsetDateTime,
    },
    /// The role's policy does not allow renewal.
    #[error("the {0} policy does not allow renewal; enroll with a new token")]
    NotAllowed(Role),
    /// The renewal window is not open yet.
    #[error("renewal of certificate {serial} opens {days} days before it expires, on {}; until then it stays in use", crate::clock::format_time(*opens))]
    WindowNotOpen {
        /// The certificate.
        serial: Serial,
        /// The window, in days.
        days: i64,
        /// When it opens.
        opens: OffsetDateTime,
    },
    /// The proof's time is too far from the CA's clock.
    #[error("the renewal proof's time is more than 5 minutes from the CA's clock; check the clock and sign again")]
    StaleProof,
    /// The proof does not verify with the current key.
    #[error("the renewal proof does not verify with the current certificate's key")]
    BadProof,
    /// The proof was used before.
    #[error("this renewal proof was already used; sign a new one (with the current time) to renew again")]
    ProofUsed,
    /// An ancestor is on hold or was revoked for a key compromise.
    #[error("certificate {serial} was renewed from {ancestor}, which is revoked ({reason}); enroll again with a new token")]
    SuspectAncestor {
        /// The certificate.
        serial: Serial,
        /// The suspect ancestor.
        ancestor: Serial,
        /// Its revocation reason.
        reason: crate::model::RevocationReason,
    },
}

/// What the RA is asked to issue.
#[derive(Debug, Clone)]
pub struct IssuanceRequest {
    /// The role whose policy applies.
    pub role: Role,
    /// The verified CSR (proof of possession done).
    pub csr: VerifiedCsr,
    /// Subject decided elsewhere (a token, a renewed certificate); otherwise the CSR's.
    pub subject: Option<SubjectName>,
    /// SANs decided elsewhere; otherwise the CSR's.
    pub subject_alt_names: Option<Vec<SubjectAltName>>,
    /// Requested validity; the policy default when absent.
    pub validity: Option<Duration>,
    /// How it was requested.
    pub via: IssuancePath,
    /// Who asked, for the audit trail (never a secret).
    pub actor: String,
    /// For a renewal: the certificate it replaces.
    pub parent: Option<Serial>,
}

/// The outcome of the policy checks: exactly what will be signed.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    role: Role,
    subject: SubjectName,
    sans: Vec<SubjectAltName>,
    public_key: crate::model::PublicKey,
    validity: Duration,
    key_usage: Vec<crate::model::KeyUsage>,
    extended_key_usage: Vec<crate::model::ExtendedKeyUsage>,
    policy_oid: Vec<u64>,
    san_required: bool,
    via: IssuancePath,
    actor: String,
    parent: Option<Serial>,
    /// The registered participant the certificate is for, if any.
    participant: Option<String>,
}

impl Decision {
    /// What the CA is asked to sign for this decision, by issuing CA `issuer`, at `now`.
    pub(crate) fn leaf_request(
        &self,
        issuer: u32,
        serial: Serial,
        now: OffsetDateTime,
    ) -> LeafRequest {
        LeafRequest {
            issuer,
            serial,
            subject: self.subject.clone(),
            subject_alt_names: self.sans.clone(),
            public_key: self.public_key.clone(),
            not_before: now - BACKDATE,
            not_after: now + self.validity,
            key_usage: self.key_usage.clone(),
            extended_key_usage: self.extended_key_usage.clone(),
            policy_oid: self.policy_oid.clone(),
            san_required: self.san_required,
        }
    }
}

/// A certificate that was issued and durably recorded.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The stored record.
    pub record: CertificateRecord,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// Issuing CA then root, PEM.
    pub chain_pem: String,
    /// True when nothing new was issued: an enrollment retried after its answer was lost
    /// gets the certificate its token already produced.
    pub redelivered: bool,
    /// The certificate's entry in the transparency log, when this issuance appended it
    /// (a redelivery looks it up).
    pub log_index: Option<u64>,
}

/// Told about issuances and status changes: the OCSP responder pre-signs, the CRL
/// publisher schedules a new CRL.
pub trait StatusListener: Send + Sync {
    /// A certificate was issued and recorded.
    fn issued(&self, record: &CertificateRecord);
    /// A certificate was revoked or taken off hold, durably.
    fn status_changed(&self, record: &CertificateRecord);
    /// A serial this CA has no record of was revoked (after a restore from a backup).
    fn unrecorded_revoked(&self, serial: &Serial, issuer: u32) {
        let _ = (serial, issuer);
    }
}

/// What a revocation of a serial without a certificate record put on the CRL.
#[derive(Debug, Clone)]
pub struct UnrecordedRevocation {
    /// The serial.
    pub serial: Serial,
    /// The issuing CA whose CRL and OCSP answers list it.
    pub issuer: u32,
    /// The revocation as stored.
    pub entry: crate::store::RevokedEntry,
}

/// The registration authority.
#[derive(Clone)]
pub struct RegistrationAuthority {
    policies: Arc<Policies>,
    ca: Arc<CertificateAuthority>,
    store: crate::store::SharedStore,
    clock: crate::clock::SharedClock,
    listeners: Arc<std::sync::RwLock<Vec<Arc<dyn StatusListener>>>>,
}

impl std::fmt::Debug for RegistrationAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationAuthority")
            .finish_non_exhaustive()
    }
}

/// How far back a certificate's notBefore is set, against clock skew at relying parties.
const BACKDATE: Duration = Duration::minutes(5);

impl RegistrationAuthority {
    /// Wires the RA to its policies, CA and store.
    pub fn new(
        policies: Arc<Policies>,
        ca: Arc<CertificateAuthority>,
        store: crate::store::SharedStore,
    ) -> Self {
        RegistrationAuthority {
            policies,
            ca,
            store,
            clock: crate::clock::system(),
            listeners: Arc::default(),
        }
    }

    /// The same RA reading `clock` for "now" (tests set the time instead of waiting).
    pub fn with_clock(mut self, clock: crate::clock::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Registers a listener for issuances and status changes.
    pub fn add_listener(&self, listener: Arc<dyn StatusListener>) {
        if let Ok(mut listeners) = self.listeners.write() {
            listeners.push(listener);
        }
    }

    fn notify(&self, event: impl Fn(&dyn StatusListener)) {
        if let Ok(listeners) = self.listeners.read() {
            for listener in listeners.iter() {
                event(listener.as_ref());
            }
        }
    }

    /// Revokes a certificate (RFC 5280 §5.3.1 reason, optional invalidity date), durably and
    /// audited; listeners (OCSP, CRL) hear of it before this returns.
    pub fn revoke(
        &self,
        serial: &Serial,
        reason: crate::model::RevocationReason,
        invalidity_date: Option<OffsetDateTime>,
        actor: &str,
    ) -> Result<CertificateRecord, RaError> {
        let now = self.clock.now();
        if invalidity_date.is_some_and(|d| d > now) {
            return Err(RaError::InvalidityDateInFuture);
        }
        let revocation = crate::store::RevocationRecord {
            reason: reason.name().into(),
            revoked_at: truncate_to_second(now),
            invalidity_date: invalidity_date.map(truncate_to_second),
        };
        let event = AuditEvent::new("revoke", actor)
            .serial(serial)
            .detail(format!(
                "reason {reason}{}",
                invalidity_date
                    .map(|d| format!(", invalid since {d}"))
                    .unwrap_or_default()
            ));
        let record = crate::store::RevocationStore::revoke(&*self.store, serial, revocation, event)
            .map_err(|e| match e {
                StoreError::NotFound(serial) => RaError::UnknownCertificate(serial),
                other => other.into(),
            })?;
        self.notify(|l| l.status_changed(&record));
        if reason == crate::model::RevocationReason::KeyCompromise {
            self.revoke_descendants(serial, invalidity_date, actor)?;
        }
        Ok(record)
    }

    /// Revokes a serial that this CA's records may not hold: a certificate issued after
    /// the backup the data directory was restored from. A recorded serial is revoked the
    /// ordinary way (`Ok(Err(record))`); an unrecorded one goes on the revocation tree
    /// of issuing CA `issuer` (default: the active one), so its CRL lists it and OCSP
    /// answers revoked, and is audited (`Ok(Ok(…))`). Its CRL entry lasts until the
    /// issuing CA expires, since the certificate's own notAfter is not known.
    pub fn revoke_maybe_unrecorded(
        &self,
        serial: &Serial,
        reason: crate::model::RevocationReason,
        invalidity_date: Option<OffsetDateTime>,
        issuer: Option<u32>,
        actor: &str,
    ) -> Result<Result<UnrecordedRevocation, CertificateRecord>, RaError> {
        if crate::store::StoreReader::certificate(&*self.store, serial)?.is_some() {
            return self.revoke(serial, reason, invalidity_date, actor).map(Err);
        }
        if reason == crate::model::RevocationReason::CertificateHold {
            return Err(RaError::UnrecordedHold(serial.clone()));
        }
        let now = self.clock.now();
        if invalidity_date.is_some_and(|d| d > now) {
            return Err(RaError::InvalidityDateInFuture);
        }
        let ca = match issuer {
            Some(id) => self.ca.issuer(id)?,
            None => match self.ca.active() {
                Ok(ca) => ca,
                // No active CA (the root revoked it): the newest one issued last.
                Err(_) => self.ca.issuers().last().ok_or(CaError::NoActiveIssuer)?,
            },
        };
        let entry = crate::store::RevokedEntry {
            reason,
            revoked_at: truncate_to_second(now).unix_timestamp(),
            invalidity_date: invalidity_date.map(|d| truncate_to_second(d).unix_timestamp()),
            not_after: ca.certificate().not_after.unix_timestamp(),
            issuer: ca.id(),
        };
        let event = AuditEvent::new("revoke-unrecorded", actor)
            .serial(serial)
            .detail(format!(
                "reason {reason}{}; no certificate record (issued after the backup this data directory was restored from?): listed on issuing CA {}'s CRL",
                invalidity_date
                    .map(|d| format!(", invalid since {d}"))
                    .unwrap_or_default(),
                ca.id()
            ));
        match crate::store::RevocationStore::revoke_unrecorded(&*self.store, serial, entry, event) {
            Ok(()) => {}
            // Recorded meanwhile (a concurrent issuance cannot pick it, but be exact).
            Err(StoreError::SerialTaken(_)) => {
                return self.revoke(serial, reason, invalidity_date, actor).map(Err)
            }
            Err(e) => return Err(e.into()),
        }
        let issuer = ca.id();
        self.notify(|l| l.unrecorded_revoked(serial, issuer));
        Ok(Ok(UnrecordedRevocation {
            serial: serial.clone(),
            issuer,
            entry,
        }))
    }

    /// After a key compromise, every certificate renewed from the compromised one (and
    /// from those, …) is revoked too: each renewal was authorized by a proof made with a
    /// key that was, or may have been, in a thief's hands.
    fn revoke_descendants(
        &self,
        serial: &Serial,
        invalidity_date: Option<OffsetDateTime>,
        actor: &str,
    ) -> Result<(), RaError> {
        let mut pending = self.store.children(serial)?;
        let mut seen = std::collections::HashSet::new();
        while let Some(child) = pending.pop() {
            if !seen.insert(child.clone()) {
                continue;
            }
            pending.extend(self.store.children(&child)?);
            let revocation = crate::store::RevocationRecord {
                reason: crate::model::RevocationReason::KeyCompromise.name().into(),
                revoked_at: truncate_to_second(self.clock.now()),
                invalidity_date: invalidity_date.map(truncate_to_second),
            };
            let event = AuditEvent::new("revoke", actor)
                .serial(&child)
                .detail(format!(
                    "reason keyCompromise: renewed from {serial}, whose key was compromised"
                ));
            match crate::store::RevocationStore::revoke(&*self.store, &child, revocation, event) {
                Ok(record) => self.notify(|l| l.status_changed(&record)),
                // Already revoked for another reason (e.g. superseded): its own children are
                // still walked.
                Err(StoreError::AlreadyRevoked(..)) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Lifts a certificateHold (the certificate is good again).
    pub fn unhold(&self, serial: &Serial, actor: &str) -> Result<CertificateRecord, RaError> {
        let event = AuditEvent::new("unhold", actor).serial(serial);
        let record = crate::store::RevocationStore::unhold(&*self.store, serial, event).map_err(
            |e| match e {
                StoreError::NotFound(serial) => RaError::UnknownCertificate(serial),
                other => other.into(),
            },
        )?;
        self.notify(|l| l.status_changed(&record));
        Ok(record)
    }

    /// The loaded policies.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The CA (for its public certificates).
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The store, read-only: the front end reads records through the RA and writes
    /// nothing but what the RA's own methods write.
    pub fn store(&self) -> &dyn crate::store::StoreReader {
        &*self.store
    }

    /// The transparency log (read-only: entries are appended by the store in the
    /// transactions of issuance and status changes).
    pub fn transparency(&self) -> &dyn crate::store::TransparencyStore {
        &*self.store
    }

    /// The revocation events (read-only), for the event stream.
    pub fn event_store(&self) -> Arc<dyn crate::store::RevocationEventStore> {
        self.store.clone()
    }

    /// The officer accounts (authentication, and their management by security officers).
    pub fn officers(&self) -> &dyn crate::store::OfficerStore {
        &*self.store
    }

    /// Records an event in the audit trail (for work outside the RA's own methods, such
    /// as publishing a root CRL signed offline).
    pub fn audit(&self, event: AuditEvent) -> Result<(), RaError> {
        self.store.append_audit(event)?;
        Ok(())
    }

    /// Up to `limit` audit entries, oldest first (the console's audit trail).
    pub fn audit_entries(&self, limit: usize) -> Result<Vec<crate::store::AuditEntry>, RaError> {
        Ok(self.store.audit_entries(limit)?)
    }

    /// Applies the role's policy and, if everything passes, issues and records.
    pub fn issue(&self, request: IssuanceRequest) -> Result<Issued, RaError> {
        let decision = self.decide(request)?;
        self.execute(decision)
    }

    /// Every policy check, with no side effect: what would be issued.
    pub(crate) fn decide(&self, request: IssuanceRequest) -> Result<Decision, RaError> {
        let profile = self
            .policies
            .profile(request.role)
            .ok_or(RaError::NoPolicy(request.role))?;
        check_key(profile, &request.csr)?;
        let subject = match request.subject {
            Some(subject) => subject,
            None => request.csr.subject.clone()?,
        };
        check_subject(profile, &subject)?;
        let sans = match request.subject_alt_names {
            Some(sans) => sans,
            None => request.csr.subject_alt_names.clone()?,
        };
        check_sans(profile, &sans)?;
        let validity = request.validity.unwrap_or(profile.default_validity);
        if validity <= Duration::ZERO || validity > profile.max_validity {
            return Err(RaError::Validity {
                role: request.role,
                max_days: profile.max_validity.whole_days(),
                asked_days: validity.whole_days(),
            });
        }
        let key_usage = usable_key_usage(profile, request.csr.public_key.algorithm())?;
        Ok(Decision {
            role: request.role,
            subject,
            sans,
            public_key: request.csr.public_key,
            validity,
            key_usage,
            extended_key_usage: profile.extended_key_usage.clone(),
            policy_oid: profile.policy_oid.clone(),
            san_required: !profile.san.required.is_empty(),
            via: request.via,
            actor: request.actor,
            parent: request.parent,
            participant: None,
        })
    }

    /// Reserves a serial, has the CA sign, and records the certificate durably.
    pub(crate) fn execute(&self, decision: Decision) -> Result<Issued, RaError> {
        let now = self.clock.now();
        // New certificates come from the active issuing CA (of the key's family, when
        // there are several hierarchies); none while it is revoked.
        let issuer = match self.ca.active_for(decision.public_key.algorithm()) {
            Ok(active) => active.id(),
            Err(CaError::NoActiveIssuer) => return Err(RaError::NoIssuingCa),
            Err(e) => return Err(e.into()),
        };
        let subject = decision.subject.to_string();
        let plan = PlannedIssuance {
            role: decision.role,
            subject: subject.clone(),
            reserved_at: now,
            requested_via: decision.via,
        };
        let serial = self.reserve_serial(&plan)?;
        let leaf = decision.leaf_request(issuer, serial.clone(), now);
        let der = match self.ca.sign_leaf(&leaf) {
            Ok(der) => der,
            Err(CaError::PreIssuanceCheck(failure)) => {
                // Nothing was signed. The audit trail keeps what failed for the operator;
                // the requester only learns that an internal check refused it.
                let event = AuditEvent::new("issue-refused", &decision.actor)
                    .serial(&serial)
                    .role(decision.role)
                    .detail(format!("pre-issuance check failed: {failure}"));
                if let Err(e) = self.store.append_audit(event) {
                    tracing::error!(error = %e, "could not audit a refused issuance");
                }
                tracing::error!(serial = %serial, check = %failure, "pre-issuance check refused a certificate");
                return Err(CaError::PreIssuanceCheck(failure).into());
            }
            Err(e) => return Err(e.into()),
        };
        let record = CertificateRecord {
            serial: serial.clone(),
            role: decision.role,
            subject,
            subject_alt_names: decision.sans.iter().map(ToString::to_string).collect(),
            key: decision.public_key.describe(),
            // Whole seconds, as encoded in the certificate.
            not_before: truncate_to_second(leaf.not_before),
            not_after: truncate_to_second(leaf.not_after),
            issued_at: now,
            requested_via: decision.via,
            status: CertificateStatus::Good,
            revocation: None,
            fingerprint_sha256: sha256_fingerprint(&der),
            issuer,
            parent: decision.parent.clone(),
            participant: decision.participant.clone(),
            der,
        };
        let event = AuditEvent::new("issue", &decision.actor)
            .serial(&serial)
            .role(decision.role)
            .detail(format!(
                "{} via {} ({}){}",
                record.subject,
                decision.via,
                record.key,
                record
                    .participant
                    .as_ref()
                    .map(|p| format!(" for participant {p}"))
                    .unwrap_or_default()
            ));
        let log_index = self.store.record_issued(&record, event)?;
        self.notify(|l| l.issued(&record));
        Ok(Issued {
            certificate_pem: crate::ca::to_pem("CERTIFICATE", &record.der),
            chain_pem: self.ca.chain_pem(issuer)?,
            record,
            redelivered: false,
            log_index: Some(log_index),
        })
    }

    fn reserve_serial(&self, plan: &PlannedIssuance) -> Result<Serial, RaError> {
        let rng = ring::rand::SystemRandom::new();
        // A collision of 127 random bits is practically impossible; retrying covers a
        // broken RNG without ever reusing a serial.
        for _ in 0..3 {
            let serial = Serial::random(&rng).map_err(|_| RaError::RandomFailed)?;
            match self.store.reserve_serial(&serial, plan) {
                Ok(()) => return Ok(serial),
                Err(StoreError::SerialTaken(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(RaError::NoFreeSerial)
    }
}

fn truncate_to_second(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

/// Key algorithm and size against the policy.
pub fn check_key(profile: &Profile, csr: &VerifiedCsr) -> Result<(), RaError> {
    let key = &csr.public_key;
    if !profile.key_algorithms.contains(&key.algorithm()) {
        return Err(KeyRefusal::AlgorithmNotAllowed {
            algorithm: key.algorithm(),
            role: profile.role,
            allowed: profile.key_algorithms.clone(),
        }
        .into());
    }
    if key.algorithm() == KeyAlgorithm::Rsa && key.bits() < profile.rsa_min_bits {
        return Err(KeyRefusal::RsaTooSmall {
            bits: key.bits(),
            min: profile.rsa_min_bits,
            role: profile.role,
        }
        .into());
    }
    if key.algorithm() == KeyAlgorithm::Rsa && key.bits() > RSA_MAX_BITS {
        return Err(KeyRefusal::RsaTooLarge {
            bits: key.bits(),
            max: RSA_MAX_BITS,
        }
        .into());
    }
    Ok(())
}

/// RSA keys ring cannot verify above this size.
const RSA_MAX_BITS: u32 = 8192;

/// The policy's keyUsage bits that the key can have: keyEncipherment only for RSA, and
/// keyAgreement only for ECDSA keys (Ed25519 keys only sign, RFC 8410 §5; an SM2
/// certificate is a GM/T 0015 signature certificate: SM2 key exchange and encryption
/// certificates are not issued). A policy may list both for roles that allow both key
/// types; each certificate gets what fits.
pub fn usable_key_usage(
    profile: &Profile,
    key: KeyAlgorithm,
) -> Result<Vec<crate::model::KeyUsage>, RaError> {
    use crate::model::KeyUsage as U;
    let usable: Vec<U> = profile
        .key_usage
        .iter()
        .copied()
        .filter(|usage| match usage {
            U::DigitalSignature | U::NonRepudiation => true,
            U::KeyEncipherment => key == KeyAlgorithm::Rsa,
            U::KeyAgreement => matches!(key, KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384),
        })
        .collect();
    if usable.is_empty() {
        return Err(KeyRefusal::NoUsableKeyUsage {
            role: profile.role,
            key,
        }
        .into());
    }
    Ok(usable)
}

/// Subject attributes against the policy.
pub fn check_subject(profile: &Profile, subject: &SubjectName) -> Result<(), RaError> {
    let rules = &profile.subject;
    for required in &rules.required {
        if subject.value(*required).is_none() {
            return Err(RaError::SubjectPolicy(format!(
                "the {} policy requires the subject attribute {required}; the subject is \"{subject}\"",
                profile.role
            )));
        }
    }
    for (kind, value) in subject.attributes() {
        if !rules.required.contains(kind) && !rules.optional.contains(kind) {
            return Err(RaError::SubjectPolicy(format!(
                "the subject attribute {kind} is not allowed for the {} role (allowed: {})",
                profile.role,
                rules
                    .required
                    .iter()
                    .chain(&rules.optional)
                    .map(|k| k.short_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if let Some((_, pattern)) = rules.patterns.iter().find(|(k, _)| k == kind) {
            if !pattern.is_match(value) {
                return Err(RaError::SubjectPolicy(format!(
                    "the subject attribute {kind}={value:?} does not match the {} policy's pattern {}",
                    profile.role,
                    pattern.as_str()
                )));
            }
        }
    }
    Ok(())
}

/// SANs against the policy.
pub fn check_sans(profile: &Profile, sans: &[SubjectAltName]) -> Result<(), RaError> {
    let rules = &profile.san;
    if sans.len() > rules.max {
        return Err(RaError::SanPolicy(format!(
            "{} subject alternative names requested; the {} policy allows at most {}",
            sans.len(),
            profile.role,
            rules.max
        )));
    }
    for (index, san) in sans.iter().enumerate() {
        if !rules.allowed.contains(&san.kind()) {
            return Err(RaError::SanPolicy(format!(
                "{} names such as {san} are not allowed for the {} role",
                san.kind(),
                profile.role
            )));
        }
        if sans.iter().take(index).any(|earlier| earlier == san) {
            return Err(RaError::SanPolicy(format!("{san} is listed twice")));
        }
    }
    for required in &rules.required {
        if !sans.iter().any(|s| s.kind() == *required) {
            return Err(RaError::SanPolicy(format!(
                "the {} policy requires at least one {required} subject alternative name",
                profile.role
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyUsage as U;

    fn profile_with(usages: &str) -> Profile {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/bank.toml");
        let text = std::fs::read_to_string(&path).unwrap().replace(
            r#"key_usage = ["digital_signature", "non_repudiation"]"#,
            &format!("key_usage = {usages}"),
        );
        Profile::parse(&path, &text, Role::Bank).unwrap()
    }

    fn test_ra() -> (tempfile::TempDir, RegistrationAuthority) {
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
        let store = crate::store::SledStore::temporary().unwrap();
        (
            dir,
            RegistrationAuthority::new(policies, ca, std::sync::Arc::new(store.clone())),
        )
    }

    /// How a policy decision ends, for the table below.
    #[derive(Debug, PartialEq, Eq)]
    enum Verdict {
        Issued,
        Key,
        Subject,
        San,
        Validity,
    }

    /// The policy engine (`decide`: key, subject, SANs, validity) over committed CSRs, one
    /// named case per rule; the openssl/Python integration suite stays the oracle above.
    #[test]
    fn the_policy_engine_decides_each_rule() {
        use Verdict::*;
        let (_dir, ra) = test_ra();
        let cases: &[(&str, &str, Role, Option<i64>, Verdict)] = &[
            (
                "a merchant with a P-256 key",
                "merchant-p256",
                Role::Merchant,
                None,
                Issued,
            ),
            (
                "a merchant with DNS and e-mail SANs",
                "merchant-p256-sans",
                Role::Merchant,
                None,
                Issued,
            ),
            (
                "a merchant ID that breaks the pattern",
                "merchant-bad-serial",
                Role::Merchant,
                None,
                Subject,
            ),
            (
                "a merchant without O",
                "merchant-no-org",
                Role::Merchant,
                None,
                Subject,
            ),
            (
                "an attribute the merchant policy does not list",
                "merchant-extra-attr",
                Role::Merchant,
                None,
                Subject,
            ),
            (
                "an IP SAN for a merchant",
                "merchant-ip-san",
                Role::Merchant,
                None,
                San,
            ),
            (
                "a SAN listed twice",
                "merchant-dup-san",
                Role::Merchant,
                None,
                San,
            ),
            (
                "six SANs where five are allowed",
                "merchant-six-sans",
                Role::Merchant,
                None,
                San,
            ),
            (
                "a validity beyond max_days",
                "merchant-p256",
                Role::Merchant,
                Some(399),
                Validity,
            ),
            (
                "a validity of zero days",
                "merchant-p256",
                Role::Merchant,
                Some(0),
                Validity,
            ),
            (
                "a buyer with an Ed25519 key",
                "buyer-ed25519",
                Role::Buyer,
                None,
                Issued,
            ),
            ("RSA-1024", "buyer-rsa1024", Role::Buyer, None, Key),
            (
                "RSA-2048 where the bank policy asks for 3072",
                "bank-rsa2048",
                Role::Bank,
                None,
                Key,
            ),
            (
                "a bank with RSA-3072",
                "bank-rsa3072",
                Role::Bank,
                None,
                Issued,
            ),
            (
                "Ed25519 where the bank policy does not allow it",
                "bank-ed25519",
                Role::Bank,
                None,
                Key,
            ),
            (
                "a gateway with its DNS name",
                "gateway-p384-dns",
                Role::Gateway,
                None,
                Issued,
            ),
            (
                "a gateway without the required DNS SAN",
                "gateway-no-dns",
                Role::Gateway,
                None,
                San,
            ),
            (
                "a buyer's names under the merchant policy",
                "buyer-ed25519",
                Role::Merchant,
                None,
                Subject,
            ),
        ];
        for (name, fixture, role, days, expected) in cases {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("tests/fixtures/csr/{fixture}.pem"));
            let pem = std::fs::read(&path).unwrap();
            let csr = csr::parse(&pem).unwrap_or_else(|e| panic!("{name}: {e}"));
            let outcome = ra.decide(IssuanceRequest {
                role: *role,
                csr,
                subject: None,
                subject_alt_names: None,
                validity: days.map(Duration::days),
                via: IssuancePath::CliIssue,
                actor: "test".into(),
                parent: None,
            });
            let verdict = match &outcome {
                Ok(_) => Issued,
                Err(RaError::Key(_)) => Key,
                Err(RaError::SubjectPolicy(_)) | Err(RaError::Name(_)) => Subject,
                Err(RaError::SanPolicy(_)) => San,
                Err(RaError::Validity { .. }) => Validity,
                Err(other) => panic!("{name}: unexpected {other:?}"),
            };
            assert_eq!(&verdict, expected, "{name}: {outcome:?}");
        }
    }

    /// The pre-issuance checks stand behind the RA: a decision that somehow slipped past
    /// the policy (here, keyEncipherment for an ECDSA key, which `decide` never grants)
    /// is refused by the CA, nothing is recorded, and the audit trail says why.
    #[test]
    fn a_failed_pre_issuance_check_signs_nothing_and_is_audited() {
        let (_dir, ra) = test_ra();
        let store = ra.store.clone();
        let policies = ra.policies.clone();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let profile = policies.profile(Role::Bank).unwrap();
        let decision = Decision {
            role: Role::Bank,
            subject: "CN=Bank,O=Bank AG,serialNumber=B1".parse().unwrap(),
            sans: Vec::new(),
            public_key: crate::model::PublicKey::from_spki_der(&crate::ca::keys::spki_der(&key))
                .unwrap(),
            validity: Duration::days(30),
            key_usage: vec![U::DigitalSignature, U::KeyEncipherment],
            extended_key_usage: profile.extended_key_usage.clone(),
            policy_oid: profile.policy_oid.clone(),
            san_required: false,
            via: IssuancePath::CliIssue,
            actor: "test".into(),
            parent: None,
            participant: None,
        };
        let refused = ra.execute(decision).unwrap_err();
        assert!(
            matches!(
                refused,
                RaError::Ca(CaError::PreIssuanceCheck(
                    crate::ca::LintError::KeyUsageNotForKeyType { .. }
                ))
            ),
            "{refused:?}"
        );
        let listed = crate::store::StoreReader::list(&*store, &crate::store::ListFilter::default());
        assert!(listed.unwrap().is_empty());
        let audit = store.audit_entries(10).unwrap();
        let last = audit.last().unwrap().body();
        assert_eq!(last.action, "issue-refused");
        assert!(
            last.detail.contains("pre-issuance check failed"),
            "{}",
            last.detail
        );
    }

    #[test]
    fn key_usage_follows_the_key_type() {
        let both = profile_with(r#"["digital_signature", "key_encipherment", "key_agreement"]"#);
        assert_eq!(
            usable_key_usage(&both, KeyAlgorithm::Rsa).unwrap(),
            vec![U::DigitalSignature, U::KeyEncipherment]
        );
        assert_eq!(
            usable_key_usage(&both, KeyAlgorithm::EcdsaP256).unwrap(),
            vec![U::DigitalSignature, U::KeyAgreement]
        );
        assert_eq!(
            usable_key_usage(&both, KeyAlgorithm::Ed25519).unwrap(),
            vec![U::DigitalSignature]
        );
        let transport_only = profile_with(r#"["key_encipherment"]"#);
        assert!(usable_key_usage(&transport_only, KeyAlgorithm::Rsa).is_ok());
        assert!(matches!(
            usable_key_usage(&transport_only, KeyAlgorithm::EcdsaP384),
            Err(RaError::Key(KeyRefusal::NoUsableKeyUsage { .. }))
        ));
    }
}
