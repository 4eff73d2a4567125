//! Officer accounts (tree `officers`: name → JSON [`OfficerRecord`]): who may act on the
//! CA, with which roles, and the SHA-256 of their credential (never the credential).
//! Data directories from before officers existed hold one admin credential hash in
//! `meta`; [`SledStore::migrate_admin_credential`] turns it into officer `admin`.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use time::OffsetDateTime;

use super::{audit, AuditEvent, SledStore, StoreError};
use crate::model::OfficerRole;

/// One officer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerRecord {
    /// Unique name (`[a-z0-9-]`), shown in the audit trail.
    pub name: String,
    /// What the officer may do.
    pub roles: Vec<OfficerRole>,
    /// SHA-256 (hex) of the current credential.
    pub credential_sha256: String,
    /// A disabled officer's credential is refused.
    #[serde(default)]
    pub disabled: bool,
    /// Set for the officer made from a pre-officer admin credential (`ppa_…`), whose
    /// credential does not carry the officer's name.
    #[serde(default)]
    pub legacy_credential: bool,
    /// When the account was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who made it.
    pub created_by: String,
    /// When the credential was last replaced.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub rotated_at: Option<OffsetDateTime>,
}

/// Officer accounts: what the RA reads and changes (no other code knows the schema).
pub trait OfficerStore: Send + Sync {
    /// The officer called `name`.
    fn officer(&self, name: &str) -> Result<Option<OfficerRecord>, StoreError>;
    /// Every officer, by name.
    fn officers(&self) -> Result<Vec<OfficerRecord>, StoreError>;
    /// The officer whose credential is a pre-officer admin credential, if any.
    fn legacy_officer(&self) -> Result<Option<OfficerRecord>, StoreError> {
        Ok(self
            .officers()?
            .into_iter()
            .find(|officer| officer.legacy_credential))
    }
    /// Adds an officer with its audit entry, durably; false when the name is taken.
    fn add_officer(&self, record: &OfficerRecord, event: AuditEvent) -> Result<bool, StoreError>;
    /// Replaces an officer's record when it still is `current`, with its audit entry,
    /// durably; false when it changed meanwhile.
    fn update_officer(
        &self,
        current: &OfficerRecord,
        record: &OfficerRecord,
        event: AuditEvent,
    ) -> Result<bool, StoreError>;
}

impl OfficerStore for SledStore {
    fn officer(&self, name: &str) -> Result<Option<OfficerRecord>, StoreError> {
        SledStore::officer(self, name)
    }
    fn officers(&self) -> Result<Vec<OfficerRecord>, StoreError> {
        SledStore::officers(self)
    }
    fn add_officer(&self, record: &OfficerRecord, event: AuditEvent) -> Result<bool, StoreError> {
        self.write_officer(record, None, event)
    }
    fn update_officer(
        &self,
        current: &OfficerRecord,
        record: &OfficerRecord,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        self.write_officer(record, Some(current), event)
    }
}

impl SledStore {
    /// The officer called `name`.
    pub fn officer(&self, name: &str) -> Result<Option<OfficerRecord>, StoreError> {
        self.officers
            .get(name.as_bytes())?
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .transpose()
    }

    /// Every officer, by name.
    pub fn officers(&self) -> Result<Vec<OfficerRecord>, StoreError> {
        self.officers
            .iter()
            .values()
            .map(|value| {
                let bytes = value?;
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    fn write_officer(
        &self,
        record: &OfficerRecord,
        current: Option<&OfficerRecord>,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let encode = |r: &OfficerRecord| {
            serde_json::to_vec(r).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        let value = encode(record)?;
        let expected = current.map(encode).transpose()?;
        let written = (&self.officers, &self.audit, &self.meta)
            .transaction(|(officers, audit, meta)| {
                let now = officers.get(record.name.as_bytes())?;
                if now.as_deref() != expected.as_deref() {
                    return Ok(false);
                }
                officers.insert(record.name.as_bytes(), value.as_slice())?;
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
