//! Requests under dual control (tree `approvals`: id → JSON [`ApprovalRecord`]): an act
//! that waits for other officers' approval, with everything needed to carry it out later.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use time::OffsetDateTime;

use super::{audit, AuditEvent, IssuancePath, SledStore, StoreError};
use crate::model::{Role, Serial};
use crate::ra::policy::ApprovalAct;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalStatus {
    /// Waiting for approvals.
    Pending,
    /// Approved and carried out.
    Executed,
    /// Approved, but carrying it out failed (`outcome` says why); nothing was done.
    Failed,
    /// Rejected by an officer; nothing was done.
    Rejected,
    /// Not approved in time; nothing was done.
    Expired,
}

/// One officer's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalVote {
    /// The officer.
    pub officer: String,
    /// When (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub at: OffsetDateTime,
}

/// A rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalRejection {
    /// The officer.
    pub officer: String,
    /// When (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub at: OffsetDateTime,
    /// Why, for the requester.
    pub reason: String,
}

/// What is carried out once approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ApprovalPayload {
    /// Issue (or renew) a certificate exactly as decided when the request was made.
    Issue {
        /// The CSR, DER.
        #[serde(with = "super::base64_bytes")]
        csr: Vec<u8>,
        /// The subject.
        subject: String,
        /// The SANs.
        subject_alt_names: Vec<String>,
        /// Requested validity in seconds (the policy default when absent).
        #[serde(default)]
        validity_seconds: Option<i64>,
        /// How it was requested.
        via: IssuancePath,
        /// The enrollment token it came from.
        #[serde(default)]
        token: Option<String>,
        /// For a renewal: the certificate it replaces.
        #[serde(default)]
        parent: Option<Serial>,
        /// The registered participant the certificate is for.
        #[serde(default)]
        participant: Option<String>,
    },
    /// Revoke a certificate.
    Revoke {
        /// The certificate.
        serial: Serial,
        /// RFC 5280 reason name.
        reason: String,
        /// Invalidity date, Unix seconds.
        #[serde(default)]
        invalidity_date: Option<i64>,
    },
}

/// A request under dual control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// `apr_` and 32 hex digits: unguessable (an enrolling participant polls it).
    pub id: String,
    /// The act.
    pub act: ApprovalAct,
    /// The certificate role the act concerns.
    pub role: Role,
    /// What will be done, for the officers who decide.
    pub summary: String,
    /// Who asked (an officer's name, or the participant for enrollment and renewal).
    pub requested_by: String,
    /// The officer who asked, who may not approve; None when a participant asked.
    #[serde(default)]
    pub requester_officer: Option<String>,
    /// When it was asked.
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    /// When it expires if not approved.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// m: approvals needed.
    pub required: u32,
    /// n: who may approve (empty: any officer with the act's role).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Approvals so far.
    #[serde(default)]
    pub approvals: Vec<ApprovalVote>,
    /// Set when rejected.
    #[serde(default)]
    pub rejection: Option<ApprovalRejection>,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// The certificate issued or revoked, once executed.
    #[serde(default)]
    pub serial: Option<Serial>,
    /// Why carrying it out failed.
    #[serde(default)]
    pub failure: Option<String>,
    /// What to do.
    pub payload: ApprovalPayload,
}

/// Requests under dual control: what the RA reads and changes.
pub trait ApprovalStore: Send + Sync {
    /// Stores a new request with its audit entry, durably.
    fn put_approval(&self, record: &ApprovalRecord, event: AuditEvent) -> Result<(), StoreError>;
    /// One request.
    fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError>;
    /// Every request, oldest first, at most `limit`.
    fn approvals(&self, limit: usize) -> Result<Vec<ApprovalRecord>, StoreError>;
    /// Replaces a request when it still is `current`, with its audit entry, durably;
    /// false when it changed meanwhile.
    fn update_approval(
        &self,
        current: &ApprovalRecord,
        record: &ApprovalRecord,
        event: AuditEvent,
    ) -> Result<bool, StoreError>;
}

fn encode(record: &ApprovalRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode(bytes: &[u8]) -> Result<ApprovalRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl ApprovalStore for SledStore {
    fn put_approval(&self, record: &ApprovalRecord, event: AuditEvent) -> Result<(), StoreError> {
        let value = encode(record)?;
        // Keys sort by time of request: `<unix seconds, 16 hex>` + id.
        (&self.approvals, &self.audit, &self.meta)
            .transaction(|(approvals, audit, meta)| {
                approvals.insert(record.id.as_bytes(), value.as_slice())?;
                audit::append(audit, meta, &event)?;
                Ok(())
            })
            .map_err(StoreError::from)?;
        self.flush()
    }

    fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        self.approvals
            .get(id.as_bytes())?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    fn approvals(&self, limit: usize) -> Result<Vec<ApprovalRecord>, StoreError> {
        let mut all = self
            .approvals
            .iter()
            .values()
            .map(|value| decode(&value?))
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| a.requested_at.cmp(&b.requested_at).then(a.id.cmp(&b.id)));
        all.truncate(limit);
        Ok(all)
    }

    fn update_approval(
        &self,
        current: &ApprovalRecord,
        record: &ApprovalRecord,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let expected = encode(current)?;
        let value = encode(record)?;
        let written = (&self.approvals, &self.audit, &self.meta)
            .transaction(|(approvals, audit, meta)| {
                let now = approvals.get(record.id.as_bytes())?;
                if now.as_deref() != Some(expected.as_slice()) {
                    return Ok(false);
                }
                approvals.insert(record.id.as_bytes(), value.as_slice())?;
                audit::append(audit, meta, &event)?;
                Ok(true)
            })
            .map_err(StoreError::from)?;
        if written {
            self.flush()?;
        }
        Ok(written)
    }
}
