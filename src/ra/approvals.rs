//! Dual control. A role's policy (`[approval]`) names the acts on its certificates that
//! need other officers' approval: issuing, renewing, revoking (by default for banks and
//! gateways registered as participants). Such an act becomes a pending request that says
//! what it will do; it is carried out when `required` officers other than the requester,
//! each holding the act's role (and named in `approvers` when the policy lists any),
//! have approved it; it is refused when one rejects it; it expires, doing nothing, after
//! `expires_after_hours`.

use time::OffsetDateTime;

use super::officers::Officer;
use super::policy::{ApprovalAct, ApprovalRules};
use super::{IssuanceRequest, Issued, RaError, RegistrationAuthority};
use crate::model::{RevocationReason, Role, Serial};
use crate::names::{SubjectAltName, SubjectName};
use crate::store::{
    ApprovalPayload, ApprovalRecord, ApprovalRejection, ApprovalStatus, ApprovalStore,
    ApprovalVote, AuditEvent, CertificateRecord, IssuancePath,
};

/// Why a decision on a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// No request with this id.
    #[error("there is no approval request {0}")]
    Unknown(String),
    /// It is no longer pending.
    #[error("approval request {id} is {status}, not pending: nothing was changed")]
    NotPending {
        /// The request.
        id: String,
        /// Where it stands.
        status: String,
    },
    /// The requester may not approve their own request.
    #[error("officer {0} asked for this and may not approve it: another officer must")]
    OwnRequest(String),
    /// The officer approved already.
    #[error("officer {0} has approved this request already: another officer must")]
    AlreadyApproved(String),
    /// The policy names the approvers, and this officer is not one.
    #[error("officer {0} is not among this act's approvers in the role's policy")]
    NotAnApprover(String),
    /// The participant's request was refused or expired.
    #[error("the request {id} was {status}: no certificate will be issued for it")]
    Refused {
        /// The request.
        id: String,
        /// `rejected` or `expired`.
        status: String,
    },
    /// A concurrent decision changed the request; retry.
    #[error("approval request {0} changed at the same time; try again")]
    Concurrent(String),
}

impl ApprovalError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind as K;
        match self {
            ApprovalError::Unknown(_) => K::NotFound,
            ApprovalError::NotPending { .. } | ApprovalError::Concurrent(_) => K::Conflict,
            ApprovalError::OwnRequest(_)
            | ApprovalError::AlreadyApproved(_)
            | ApprovalError::NotAnApprover(_) => K::Forbidden,
            ApprovalError::Refused { .. } => K::ApprovalRefused,
        }
    }
}

/// A request as officers and the requester see it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ApprovalView {
    /// `apr_` and 32 hex digits.
    #[schema(pattern = "^apr_[0-9a-f]{32}$")]
    pub id: String,
    /// issue, renew or revoke.
    pub act: ApprovalAct,
    /// The certificate role concerned.
    pub role: Role,
    /// What it will do.
    pub summary: String,
    /// Who asked.
    pub requested_by: String,
    /// When (RFC 3339).
    #[schema(format = DateTime)]
    pub requested_at: String,
    /// When it expires unless approved (RFC 3339).
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Approvals needed.
    pub required: u32,
    /// Who may approve (empty: any officer with the act's role).
    pub approvers: Vec<String>,
    /// Approvals so far.
    pub approvals: Vec<String>,
    /// pending, executed, failed, rejected or expired.
    pub status: ApprovalStatus,
    /// The rejecting officer and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rejection: Option<String>,
    /// The certificate issued or revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub serial: Option<String>,
    /// Why carrying it out failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub failure: Option<String>,
}

impl From<&ApprovalRecord> for ApprovalView {
    fn from(r: &ApprovalRecord) -> Self {
        let format = crate::clock::format_time;
        ApprovalView {
            id: r.id.clone(),
            act: r.act,
            role: r.role,
            summary: r.summary.clone(),
            requested_by: r.requested_by.clone(),
            requested_at: format(r.requested_at),
            expires_at: format(r.expires_at),
            required: r.required,
            approvers: r.approvers.clone(),
            approvals: r.approvals.iter().map(|v| v.officer.clone()).collect(),
            status: r.status,
            rejection: r
                .rejection
                .as_ref()
                .map(|j| format!("{}: {}", j.officer, j.reason)),
            serial: r.serial.as_ref().map(ToString::to_string),
            failure: r.failure.clone(),
        }
    }
}

fn status_name(status: ApprovalStatus) -> &'static str {
    match status {
        ApprovalStatus::Pending => "pending",
        ApprovalStatus::Executed => "executed",
        ApprovalStatus::Failed => "failed",
        ApprovalStatus::Rejected => "rejected",
        ApprovalStatus::Expired => "expired",
    }
}

fn new_id() -> Result<String, RaError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RaError::RandomFailed)?;
    Ok(format!("apr_{}", hex::encode(bytes)))
}

/// What a pending act needs to become a request.
pub(crate) struct PendingAct {
    pub(crate) act: ApprovalAct,
    pub(crate) role: Role,
    pub(crate) summary: String,
    pub(crate) requested_by: String,
    pub(crate) requester_officer: Option<String>,
    pub(crate) payload: ApprovalPayload,
}

impl RegistrationAuthority {
    /// The requests under dual control.
    pub fn approval_store(&self) -> &dyn ApprovalStore {
        &*self.store
    }

    /// The dual-control rules of `role` when `act` on one of its certificates (of a
    /// registered participant when `participant`) needs approval.
    pub fn approval_needed(
        &self,
        role: Role,
        act: ApprovalAct,
        participant: bool,
    ) -> Option<&ApprovalRules> {
        self.policies
            .profile(role)
            .map(|profile| &profile.approval)
            .filter(|rules| rules.needed(act, participant))
    }

    /// Records a pending request for `pending` under `rules`. Returns it.
    pub(crate) fn request_approval(
        &self,
        rules: &ApprovalRules,
        pending: PendingAct,
    ) -> Result<ApprovalRecord, RaError> {
        let now = self.clock.now();
        let record = ApprovalRecord {
            id: new_id()?,
            act: pending.act,
            role: pending.role,
            summary: pending.summary,
            requested_by: pending.requested_by,
            requester_officer: pending.requester_officer,
            requested_at: now,
            expires_at: now + rules.expires_after,
            required: rules.required,
            approvers: rules.approvers.clone(),
            approvals: Vec::new(),
            rejection: None,
            status: ApprovalStatus::Pending,
            serial: None,
            failure: None,
            payload: pending.payload,
        };
        let event = AuditEvent::new("approval-request", &record.requested_by)
            .role(record.role)
            .detail(format!(
                "{}: {} (needs {} approval(s), expires {})",
                record.id,
                record.summary,
                record.required,
                crate::clock::format_time(record.expires_at)
            ));
        self.store.put_approval(&record, event)?;
        Ok(record)
    }

    /// A request, marked expired first when its time has passed.
    pub fn approval(&self, id: &str) -> Result<ApprovalRecord, RaError> {
        let record = self
            .store
            .approval(id)?
            .ok_or_else(|| ApprovalError::Unknown(id.chars().take(80).collect()))?;
        self.expire_if_due(record)
    }

    /// Requests, oldest first (expired ones marked so).
    pub fn approvals(&self, limit: usize) -> Result<Vec<ApprovalRecord>, RaError> {
        self.store
            .approvals(limit)?
            .into_iter()
            .map(|record| self.expire_if_due(record))
            .collect()
    }

    fn expire_if_due(&self, record: ApprovalRecord) -> Result<ApprovalRecord, RaError> {
        if record.status != ApprovalStatus::Pending || self.clock.now() < record.expires_at {
            return Ok(record);
        }
        let mut expired = record.clone();
        expired.status = ApprovalStatus::Expired;
        let event = AuditEvent::new("approval-expire", "paypki")
            .role(record.role)
            .detail(format!(
                "{} expired unapproved: {}",
                record.id, record.summary
            ));
        if self.store.update_approval(&record, &expired, event)? {
            Ok(expired)
        } else {
            // Decided meanwhile: read what it is now.
            self.store
                .approval(&record.id)?
                .ok_or_else(|| ApprovalError::Unknown(record.id.clone()).into())
        }
    }

    /// Officer `by` approves request `id`. When it has enough approvals it is carried
    /// out at once. Returns the request as it stands afterwards.
    pub fn approve(&self, id: &str, by: &Officer) -> Result<ApprovalRecord, RaError> {
        let current = self.approval(id)?;
        if current.status != ApprovalStatus::Pending {
            return Err(ApprovalError::NotPending {
                id: current.id,
                status: status_name(current.status).into(),
            }
            .into());
        }
        by.require(current.act.role())?;
        if current.requester_officer.as_deref() == Some(by.name()) {
            return Err(ApprovalError::OwnRequest(by.name().into()).into());
        }
        if !current.approvers.is_empty() && !current.approvers.iter().any(|a| a == by.name()) {
            return Err(ApprovalError::NotAnApprover(by.name().into()).into());
        }
        if current.approvals.iter().any(|v| v.officer == by.name()) {
            return Err(ApprovalError::AlreadyApproved(by.name().into()).into());
        }
        let mut approved = current.clone();
        approved.approvals.push(ApprovalVote {
            officer: by.name().into(),
            at: self.clock.now(),
        });
        let complete = approved.approvals.len() >= current.required as usize;
        let event = AuditEvent::new("approval-approve", &by.actor())
            .role(current.role)
            .detail(format!(
                "{} approved ({} of {}): {}",
                current.id,
                approved.approvals.len(),
                current.required,
                current.summary
            ));
        if !self.store.update_approval(&current, &approved, event)? {
            return Err(ApprovalError::Concurrent(current.id).into());
        }
        if !complete {
            return Ok(approved);
        }
        self.carry_out(approved, by)
    }

    /// Carries out an approved request and records the outcome.
    fn carry_out(&self, approved: ApprovalRecord, by: &Officer) -> Result<ApprovalRecord, RaError> {
        let actor = format!(
            "{} (approved request {} of {})",
            by.actor(),
            approved.id,
            approved.requested_by
        );
        let result = match &approved.payload {
            ApprovalPayload::Issue {
                csr,
                subject,
                subject_alt_names,
                validity_seconds,
                via,
                token,
                parent,
                participant,
            } => self
                .issue_approved(
                    &approved,
                    csr,
                    subject,
                    subject_alt_names,
                    *validity_seconds,
                    *via,
                    parent.clone(),
                    participant.clone(),
                    &actor,
                )
                .map(|issued| {
                    if let Some(token) = token {
                        if let Err(e) = self.store.complete_token(token, &issued.record.serial) {
                            tracing::warn!(error = %e, "could not record the token's certificate");
                        }
                    }
                    issued.record.serial
                }),
            ApprovalPayload::Revoke {
                serial,
                reason,
                invalidity_date,
            } => reason
                .parse::<RevocationReason>()
                .map_err(|e| RaError::Store(crate::store::StoreError::Corrupt(e.to_string())))
                .and_then(|reason| {
                    let invalidity = invalidity_date
                        .map(OffsetDateTime::from_unix_timestamp)
                        .transpose()
                        .map_err(|e| {
                            RaError::Store(crate::store::StoreError::Corrupt(e.to_string()))
                        })?;
                    self.revoke(serial, reason, invalidity, &actor)
                        .map(|record| record.serial)
                }),
        };
        let mut done = approved.clone();
        let (action, detail) = match &result {
            Ok(serial) => {
                done.status = ApprovalStatus::Executed;
                done.serial = Some(serial.clone());
                (
                    "approval-execute",
                    format!("{} carried out: {serial}", approved.id),
                )
            }
            Err(e) => {
                done.status = ApprovalStatus::Failed;
                done.failure = Some(e.to_string());
                (
                    "approval-fail",
                    format!("{} could not be carried out: {e}", approved.id),
                )
            }
        };
        let event = AuditEvent::new(action, &by.actor())
            .role(approved.role)
            .detail(detail);
        if !self.store.update_approval(&approved, &done, event)? {
            return Err(ApprovalError::Concurrent(approved.id).into());
        }
        Ok(done)
    }

    #[allow(clippy::too_many_arguments)]
    fn issue_approved(
        &self,
        approved: &ApprovalRecord,
        csr: &[u8],
        subject: &str,
        subject_alt_names: &[String],
        validity_seconds: Option<i64>,
        via: IssuancePath,
        parent: Option<Serial>,
        participant: Option<String>,
        actor: &str,
    ) -> Result<Issued, RaError> {
        let csr = super::csr::parse(csr)?;
        let subject: SubjectName = subject.parse()?;
        let sans = subject_alt_names
            .iter()
            .map(|s| s.parse::<SubjectAltName>())
            .collect::<Result<Vec<_>, _>>()?;
        // The policy is applied again: it may have changed while the request waited.
        let mut decision = self.decide(IssuanceRequest {
            role: approved.role,
            csr,
            subject: Some(subject),
            subject_alt_names: Some(sans),
            validity: validity_seconds.map(time::Duration::seconds),
            via,
            actor: actor.to_string(),
            parent: parent.clone(),
        })?;
        // A participant's certificate is issued only while it is active (the store
        // checks it with the issuance).
        decision.participant = participant;
        let issued = self.execute(decision)?;
        // An approved renewal supersedes its parent as an immediate one would.
        if let (IssuancePath::Renew, Some(parent)) = (via, parent) {
            let after = self
                .policies
                .profile(approved.role)
                .map(|p| p.enrollment.supersede_after)
                .unwrap_or(time::Duration::ZERO);
            if after.is_zero() {
                self.supersede(&parent)?;
            } else {
                self.store
                    .schedule_supersession(&parent, self.clock.now() + after)?;
            }
        }
        Ok(issued)
    }

    /// An issued certificate as the participant receives it (what an approved request
    /// produced, handed over on the participant's poll).
    pub fn delivered(&self, serial: &Serial) -> Result<Issued, RaError> {
        let record = self
            .store
            .certificate(serial)?
            .ok_or_else(|| RaError::UnknownCertificate(serial.clone()))?;
        Ok(Issued {
            certificate_pem: crate::ca::to_pem("CERTIFICATE", &record.der),
            chain_pem: self.ca.chain_pem(record.issuer)?,
            record,
            redelivered: true,
            log_index: None,
        })
    }

    /// Officer `by` rejects request `id`: nothing will be done.
    pub fn reject(&self, id: &str, by: &Officer, reason: &str) -> Result<ApprovalRecord, RaError> {
        let current = self.approval(id)?;
        if current.status != ApprovalStatus::Pending {
            return Err(ApprovalError::NotPending {
                id: current.id,
                status: status_name(current.status).into(),
            }
            .into());
        }
        by.require(current.act.role())?;
        let mut rejected = current.clone();
        rejected.status = ApprovalStatus::Rejected;
        rejected.rejection = Some(ApprovalRejection {
            officer: by.name().into(),
            at: self.clock.now(),
            reason: reason.chars().take(500).collect(),
        });
        let event = AuditEvent::new("approval-reject", &by.actor())
            .role(current.role)
            .detail(format!(
                "{} rejected ({reason}): {}",
                current.id, current.summary
            ));
        if !self.store.update_approval(&current, &rejected, event)? {
            return Err(ApprovalError::Concurrent(current.id).into());
        }
        Ok(rejected)
    }

    /// A revocation by officer `by`: carried out at once, or, when the certificate's role
    /// puts revocation under dual control, recorded as a pending request.
    pub fn revoke_or_request(
        &self,
        serial: &Serial,
        reason: RevocationReason,
        invalidity_date: Option<OffsetDateTime>,
        by: &Officer,
    ) -> Result<Result<CertificateRecord, Box<ApprovalRecord>>, RaError> {
        let record = self
            .store
            .certificate(serial)?
            .ok_or_else(|| RaError::UnknownCertificate(serial.clone()))?;
        let Some(rules) =
            self.approval_needed(record.role, ApprovalAct::Revoke, has_participant(&record))
        else {
            return self
                .revoke(serial, reason, invalidity_date, &by.actor())
                .map(Ok);
        };
        if invalidity_date.is_some_and(|d| d > self.clock.now()) {
            return Err(RaError::InvalidityDateInFuture);
        }
        let rules = rules.clone();
        let pending = PendingAct {
            act: ApprovalAct::Revoke,
            role: record.role,
            summary: format!(
                "revoke {} certificate {serial} ({}) for {reason}",
                record.role, record.subject
            ),
            requested_by: by.actor(),
            requester_officer: Some(by.name().into()),
            payload: ApprovalPayload::Revoke {
                serial: serial.clone(),
                reason: reason.name().into(),
                invalidity_date: invalidity_date.map(|d| d.unix_timestamp()),
            },
        };
        self.request_approval(&rules, pending)
            .map(|record| Err(Box::new(record)))
    }

    /// Issues for officer `by` (`paypki issue`): at once, or as a pending request when the
    /// role puts issuance under dual control.
    pub fn issue_or_request(
        &self,
        request: IssuanceRequest,
        csr_der: &[u8],
        by: &Officer,
    ) -> Result<Result<Issued, Box<ApprovalRecord>>, RaError> {
        let Some(rules) = self.approval_needed(request.role, ApprovalAct::Issue, false) else {
            return self.issue(request).map(Ok);
        };
        let rules = rules.clone();
        let validity = request.validity;
        let decision = self.decide(request)?;
        let pending = PendingAct {
            act: ApprovalAct::Issue,
            role: decision.role,
            summary: format!(
                "issue a {} certificate for {} (SANs: {})",
                decision.role,
                decision.subject,
                sans_text(&decision.sans)
            ),
            requested_by: by.actor(),
            requester_officer: Some(by.name().into()),
            payload: ApprovalPayload::Issue {
                csr: csr_der.to_vec(),
                subject: decision.subject.to_string(),
                subject_alt_names: decision.sans.iter().map(ToString::to_string).collect(),
                validity_seconds: validity.map(|v| v.whole_seconds()),
                via: decision.via,
                token: None,
                parent: None,
                participant: None,
            },
        };
        self.request_approval(&rules, pending)
            .map(|record| Err(Box::new(record)))
    }
}

/// SANs for a summary.
pub(crate) fn sans_text(sans: &[SubjectAltName]) -> String {
    if sans.is_empty() {
        return "none".into();
    }
    sans.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a certificate belongs to a registered participant (dual control's default
/// scope).
pub(crate) fn has_participant(record: &CertificateRecord) -> bool {
    record.participant.is_some()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::model::OfficerRole;
    use crate::ra::officers::{self, AuthMethod};
    use crate::ra::Policies;
    use crate::store::SledStore;

    /// A settable clock.
    #[derive(Debug)]
    struct TestClock(std::sync::Mutex<OffsetDateTime>);
    impl Clock for TestClock {
        fn now(&self) -> OffsetDateTime {
            *self.0.lock().unwrap()
        }
    }

    /// An RA whose bank policy puts every bank certificate under dual control, with
    /// officers alice and bob (ra-officer) and carol (revocation-officer).
    fn setup() -> (
        tempfile::TempDir,
        RegistrationAuthority,
        Arc<TestClock>,
        [Officer; 4],
    ) {
        setup_with("")
    }

    /// [`setup`] with `extra` replacing the bank policy's `required = 1` line.
    fn setup_with(
        extra: &str,
    ) -> (
        tempfile::TempDir,
        RegistrationAuthority,
        Arc<TestClock>,
        [Officer; 4],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let data = crate::config::DataDir::new(dir.path().join("ca"));
        crate::ca::init(
            &data,
            &crate::ca::InitOptions::new("http://127.0.0.1:1".into()),
        )
        .unwrap();
        let ca = Arc::new(crate::ca::CertificateAuthority::load(&data, None).unwrap());
        let policies_dir = dir.path().join("policies");
        std::fs::create_dir(&policies_dir).unwrap();
        for role in ["buyer", "merchant", "bank", "gateway"] {
            let text = std::fs::read_to_string(format!(
                "{}/policies/{role}.toml",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
            .replace("scope = \"participants\"", "scope = \"all\"");
            let text = if role == "bank" && !extra.is_empty() {
                text.replace("required = 1", extra)
            } else {
                text
            };
            std::fs::write(policies_dir.join(format!("{role}.toml")), text).unwrap();
        }
        let policies = Arc::new(Policies::load(&policies_dir).unwrap());
        let store = SledStore::temporary().unwrap();
        let clock = Arc::new(TestClock(std::sync::Mutex::new(OffsetDateTime::now_utc())));
        let first = officers::create_first(
            &store,
            "sec",
            OfficerRole::ALL.to_vec(),
            clock.now(),
            "test",
        )
        .unwrap();
        let sec =
            officers::authenticate(&store, Some(&first.credential), AuthMethod::AdminApi).unwrap();
        let mut made = Vec::new();
        for (name, role) in [
            ("alice", OfficerRole::RaOfficer),
            ("bob", OfficerRole::RaOfficer),
            ("carol", OfficerRole::RevocationOfficer),
            ("dan", OfficerRole::RaOfficer),
        ] {
            let c = officers::add(&store, &sec, name, vec![role], clock.now()).unwrap();
            made.push(
                officers::authenticate(&store, Some(&c.credential), AuthMethod::AdminApi).unwrap(),
            );
        }
        let ra = RegistrationAuthority::new(policies, ca, std::sync::Arc::new(store.clone()))
            .with_clock(clock.clone());
        let officers: [Officer; 4] = made.try_into().unwrap();
        (dir, ra, clock, officers)
    }

    fn bank_request(ra: &RegistrationAuthority, actor: &str) -> (IssuanceRequest, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let der = params.serialize_request(&key).unwrap().der().to_vec();
        let _ = ra;
        let request = IssuanceRequest {
            role: Role::Bank,
            csr: crate::ra::csr::parse(&der).unwrap(),
            subject: Some(
                "CN=Example Bank,O=Example Bank AG,C=DE,serialNumber=DEUTDEFF"
                    .parse()
                    .unwrap(),
            ),
            subject_alt_names: Some(vec!["dns:bank.example".parse().unwrap()]),
            validity: None,
            via: IssuancePath::CliIssue,
            actor: actor.into(),
            parent: None,
        };
        (request, der)
    }

    #[test]
    fn a_bank_certificate_needs_another_officers_approval() {
        let (_dir, ra, _clock, [alice, bob, carol, _]) = setup();
        let (request, der) = bank_request(&ra, &alice.actor());
        let pending = ra
            .issue_or_request(request, &der, &alice)
            .unwrap()
            .unwrap_err();
        assert_eq!(pending.status, ApprovalStatus::Pending);
        assert_eq!(pending.requester_officer.as_deref(), Some("alice"));
        // The requester may not approve; a revocation officer lacks the role.
        assert!(matches!(
            ra.approve(&pending.id, &alice),
            Err(RaError::Approval(ApprovalError::OwnRequest(_)))
        ));
        assert!(matches!(
            ra.approve(&pending.id, &carol),
            Err(RaError::Officer(_))
        ));
        assert_eq!(ra.store.list(&Default::default()).unwrap().len(), 0);
        let done = ra.approve(&pending.id, &bob).unwrap();
        assert_eq!(done.status, ApprovalStatus::Executed);
        let serial = done.serial.clone().unwrap();
        assert!(ra.store.certificate(&serial).unwrap().is_some());
        // Decided: no second decision.
        assert!(matches!(
            ra.reject(&pending.id, &bob, "late"),
            Err(RaError::Approval(ApprovalError::NotPending { .. }))
        ));

        // Revoking it is a request too, carried out by another revocation officer only.
        let request = ra
            .revoke_or_request(&serial, RevocationReason::KeyCompromise, None, &carol)
            .unwrap()
            .unwrap_err();
        assert_eq!(
            ra.store.certificate(&serial).unwrap().unwrap().status,
            crate::model::CertificateStatus::Good
        );
        assert!(matches!(
            ra.approve(&request.id, &carol),
            Err(RaError::Approval(ApprovalError::OwnRequest(_)))
        ));
        assert!(
            ra.approve(&request.id, &bob).is_err(),
            "bob is no revocation officer"
        );
        let rejected = ra.reject(&request.id, &carol, "asked by mistake").unwrap();
        assert_eq!(rejected.status, ApprovalStatus::Rejected);
        assert_eq!(
            ra.store.certificate(&serial).unwrap().unwrap().status,
            crate::model::CertificateStatus::Good
        );
    }

    #[test]
    fn m_of_n_needs_m_distinct_approvers_from_the_named_ones() {
        // Two approvals, from bob and dan only (not alice, who is an ra-officer too).
        let (_dir, ra, _clock, [alice, bob, _, dan]) =
            setup_with("required = 2\napprovers = [\"bob\", \"dan\"]");
        let (request, der) = bank_request(&ra, &bob.actor());
        let pending = ra
            .issue_or_request(request, &der, &bob)
            .unwrap()
            .unwrap_err();
        assert_eq!(pending.required, 2);
        assert!(matches!(
            ra.approve(&pending.id, &alice),
            Err(RaError::Approval(ApprovalError::NotAnApprover(_)))
        ));
        assert!(matches!(
            ra.approve(&pending.id, &bob),
            Err(RaError::Approval(ApprovalError::OwnRequest(_)))
        ));
        let one = ra.approve(&pending.id, &dan).unwrap();
        assert_eq!(one.status, ApprovalStatus::Pending);
        assert!(matches!(
            ra.approve(&pending.id, &dan),
            Err(RaError::Approval(ApprovalError::AlreadyApproved(_)))
        ));
        assert_eq!(ra.store.list(&Default::default()).unwrap().len(), 0);
    }

    #[test]
    fn an_expired_request_issues_nothing() {
        let (_dir, ra, clock, [alice, bob, _, _]) = setup();
        let (request, der) = bank_request(&ra, &alice.actor());
        let pending = ra
            .issue_or_request(request, &der, &alice)
            .unwrap()
            .unwrap_err();
        *clock.0.lock().unwrap() = pending.expires_at + time::Duration::seconds(1);
        assert!(matches!(
            ra.approve(&pending.id, &bob),
            Err(RaError::Approval(ApprovalError::NotPending { .. }))
        ));
        assert_eq!(
            ra.approval(&pending.id).unwrap().status,
            ApprovalStatus::Expired
        );
        assert_eq!(ra.store.list(&Default::default()).unwrap().len(), 0);
    }
}
