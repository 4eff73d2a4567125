//! Copying a whole store to another backend (`paypki db copy`): every backend lists its
//! contents as [`StoreItem`]s and takes them back, verbatim. The audit chain is copied
//! entry by entry, so its hashes stay valid and `audit verify` passes on the copy.

use time::OffsetDateTime;

use super::{
    lineage, participants, prefixed, time_key, ApprovalRecord, AuditEntry, CertificateRecord,
    OfficerRecord, ParticipantRecord, PlannedIssuance, RevocationEvent, RevokedEntry, SledStore,
    StoreError, StoredCrl, TokenRecord,
};
use crate::model::Serial;

/// One piece of a store's contents.
#[derive(Debug, Clone)]
pub enum StoreItem {
    /// A monotonic counter (CRL numbers).
    Counter {
        /// Its name.
        name: String,
        /// Its last value.
        value: u64,
    },
    /// The hash of a pre-officer admin credential.
    AdminCredential(String),
    /// An officer.
    Officer(Box<OfficerRecord>),
    /// A registered participant.
    Participant(Box<ParticipantRecord>),
    /// An enrollment token.
    Token(Box<TokenRecord>),
    /// A reserved serial with its plan (`None`: reserved by an import).
    Reservation {
        /// The serial.
        serial: Serial,
        /// What was to be signed.
        plan: Option<Box<PlannedIssuance>>,
    },
    /// An issued certificate.
    Certificate(Box<CertificateRecord>),
    /// A serial revoked without a certificate record.
    Unrecorded {
        /// The serial.
        serial: Serial,
        /// Its revocation.
        entry: RevokedEntry,
    },
    /// A renewal: `child` replaced `parent`.
    Child {
        /// The renewed certificate.
        parent: Serial,
        /// Its renewal.
        child: Serial,
    },
    /// A used renewal proof (by digest) and when it stops mattering (Unix seconds).
    RenewalProof {
        /// Digest of what the proof signed.
        digest: [u8; 32],
        /// Its expiry.
        expires: i64,
    },
    /// A renewed certificate to revoke as superseded at `due` (Unix seconds).
    Supersession {
        /// The certificate.
        serial: Serial,
        /// When.
        due: i64,
    },
    /// A request under dual control.
    Approval(Box<ApprovalRecord>),
    /// An audit entry, as written.
    Audit(Box<AuditEntry>),
    /// A revocation event, with its id.
    Event(Box<RevocationEvent>),
    /// A published CRL.
    Crl {
        /// The issuing CA.
        issuer: u32,
        /// The CRL.
        crl: Box<StoredCrl>,
    },
    /// A transparency log entry, in index order (the tree's nodes are derived again
    /// from the entries as they are appended).
    LogEntry {
        /// Its leaf index.
        index: u64,
        /// The serial it is about.
        serial: Vec<u8>,
        /// The encoded entry.
        entry: Vec<u8>,
    },
}

/// How much a store holds, compared after a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreCounts {
    /// Certificate records.
    pub certificates: u64,
    /// Revoked serials (with or without a record).
    pub revoked: u64,
    /// Enrollment tokens.
    pub tokens: u64,
    /// Officers.
    pub officers: u64,
    /// Participants.
    pub participants: u64,
    /// Requests under dual control.
    pub approvals: u64,
    /// Audit entries.
    pub audit_entries: u64,
    /// Revocation events.
    pub revocation_events: u64,
    /// Transparency log entries.
    pub log_entries: u64,
}

/// Copying a store's contents out and in.
pub trait StoreCopy: Send + Sync {
    /// Whether the store holds nothing (a copy refuses a target that holds anything).
    fn is_empty(&self) -> Result<bool, StoreError>;
    /// Visits everything, in an order that can be imported as it comes: counters and
    /// accounts, then participants, tokens, reservations and certificates, then what
    /// refers to them, then the audit trail, events and CRLs.
    fn export(
        &self,
        visit: &mut dyn FnMut(StoreItem) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Writes a batch of items as they are (no audit entries are made for them).
    fn import(&self, items: Vec<StoreItem>) -> Result<(), StoreError>;
    /// Makes everything imported durable.
    fn finish_import(&self) -> Result<(), StoreError>;
    /// What the store holds.
    fn counts(&self) -> Result<StoreCounts, StoreError>;
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn serial_of(octets: &[u8]) -> Result<Serial, StoreError> {
    hex::encode(octets)
        .parse()
        .map_err(|e: crate::model::SerialError| StoreError::Corrupt(format!("serial key: {e}")))
}

impl StoreCopy for SledStore {
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.certificates.is_empty()
            && self.serials.is_empty()
            && self.revoked.is_empty()
            && self.tokens.is_empty()
            && self.officers.is_empty()
            && self.participants.is_empty()
            && self.approvals.is_empty()
            && self.audit.is_empty())
    }

    fn export(
        &self,
        visit: &mut dyn FnMut(StoreItem) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for (name, value) in self.copy.counters()? {
            visit(StoreItem::Counter { name, value })?;
        }
        if let Some(hash) = self.admin_credential_hash()? {
            visit(StoreItem::AdminCredential(hash))?;
        }
        for item in self.officers.iter() {
            visit(StoreItem::Officer(Box::new(json(&item?.1)?)))?;
        }
        for item in self.participants.iter() {
            visit(StoreItem::Participant(Box::new(json(&item?.1)?)))?;
        }
        for item in self.tokens.iter() {
            visit(StoreItem::Token(Box::new(super::record::decode_token(
                &item?.1,
            )?)))?;
        }
        for item in self.serials.iter() {
            let (key, value) = item?;
            let plan = super::record::decode_plan(&value).map(Box::new);
            visit(StoreItem::Reservation {
                serial: serial_of(&key)?,
                plan,
            })?;
        }
        for item in self.certificates.iter() {
            visit(StoreItem::Certificate(Box::new(self.decode(&item?.1)?)))?;
        }
        for item in self.revoked.iter() {
            let (key, value) = item?;
            if !self.certificates.contains_key(&key)? {
                visit(StoreItem::Unrecorded {
                    serial: serial_of(&key)?,
                    entry: RevokedEntry::decode(&value)?,
                })?;
            }
        }
        for item in self.children.iter() {
            let (key, _) = item?;
            let len = usize::from(*key.first().unwrap_or(&0));
            let parent = key
                .get(1..1 + len)
                .ok_or_else(|| StoreError::Corrupt("lineage entry".into()))?;
            let child = key
                .get(1 + len..)
                .ok_or_else(|| StoreError::Corrupt("lineage entry".into()))?;
            visit(StoreItem::Child {
                parent: serial_of(parent)?,
                child: serial_of(child)?,
            })?;
        }
        for item in self.renewal_proofs.iter() {
            let (key, value) = item?;
            let digest = <[u8; 32]>::try_from(key.as_ref())
                .map_err(|_| StoreError::Corrupt("renewal proof".into()))?;
            let expires = <[u8; 8]>::try_from(value.as_ref())
                .map(i64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("renewal proof".into()))?;
            visit(StoreItem::RenewalProof { digest, expires })?;
        }
        for item in self.supersede.iter() {
            let (key, _) = item?;
            let due = key
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(|b| (u64::from_be_bytes(b) ^ (1 << 63)) as i64)
                .ok_or_else(|| StoreError::Corrupt("supersession entry".into()))?;
            let serial = serial_of(key.get(8..).unwrap_or_default())?;
            visit(StoreItem::Supersession { serial, due })?;
        }
        for item in self.approvals.iter() {
            visit(StoreItem::Approval(Box::new(json(&item?.1)?)))?;
        }
        for item in self.audit.iter() {
            visit(StoreItem::Audit(Box::new(super::record::decode_audit(
                &item?.1,
            )?)))?;
        }
        for item in self.revocation_events.iter() {
            visit(StoreItem::Event(Box::new(RevocationEvent::decode(
                &item?.1,
            )?)))?;
        }
        for item in self.crls.iter() {
            let (key, value) = item?;
            let issuer = <[u8; 4]>::try_from(key.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("CRL key".into()))?;
            visit(StoreItem::Crl {
                issuer,
                crl: Box::new(json(&value)?),
            })?;
        }
        self.export_log(&mut |index, serial, entry| {
            visit(StoreItem::LogEntry {
                index,
                serial,
                entry,
            })
        })?;
        Ok(())
    }

    fn import(&self, items: Vec<StoreItem>) -> Result<(), StoreError> {
        // The revocation copy takes the imported revocations at `finish_import`.
        self.copy.begin_import()?;
        let mut audit = Vec::new();
        let mut events = Vec::new();
        let mut records = Vec::new();
        let mut log = Vec::new();
        for item in items {
            match item {
                StoreItem::Counter { name, value } => self.copy.set_counter(&name, value)?,
                StoreItem::AdminCredential(hash) => {
                    self.meta
                        .insert(super::tokens::ADMIN_HASH_KEY, hash.as_bytes())?;
                }
                StoreItem::Officer(record) => {
                    self.officers
                        .insert(record.name.as_bytes(), to_json(&*record)?)?;
                }
                StoreItem::Participant(record) => {
                    self.participants
                        .insert(record.id.as_bytes(), to_json(&*record)?)?;
                }
                StoreItem::Token(record) => {
                    self.tokens
                        .insert(record.id.as_bytes(), super::record::encode_token(&record))?;
                }
                StoreItem::Reservation { serial, plan } => {
                    let value = match plan {
                        Some(plan) => super::record::encode_plan(&plan),
                        None => Vec::new(),
                    };
                    self.serials.insert(serial.as_bytes(), value)?;
                }
                StoreItem::Certificate(record) => records.push(*record),
                StoreItem::Unrecorded { serial, entry } => {
                    self.revoked.insert(serial.as_bytes(), entry.encode())?;
                }
                StoreItem::Child { parent, child } => {
                    let mut key = lineage::length_prefixed(&parent);
                    key.extend_from_slice(child.as_bytes());
                    self.children.insert(key, &[])?;
                }
                StoreItem::RenewalProof { digest, expires } => {
                    self.renewal_proofs.insert(digest, &expires.to_be_bytes())?;
                }
                StoreItem::Supersession { serial, due } => {
                    let at = OffsetDateTime::from_unix_timestamp(due)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let mut key = time_key(at).to_vec();
                    key.extend_from_slice(serial.as_bytes());
                    self.supersede.insert(key, &[])?;
                }
                StoreItem::Approval(record) => {
                    self.approvals
                        .insert(record.id.as_bytes(), to_json(&*record)?)?;
                }
                StoreItem::Audit(entry) => audit.push(*entry),
                StoreItem::Event(event) => events.push(*event),
                StoreItem::Crl { issuer, crl } => {
                    self.crls.insert(issuer.to_be_bytes(), to_json(&*crl)?)?;
                }
                StoreItem::LogEntry {
                    index,
                    serial,
                    entry,
                } => log.push((index, serial, entry)),
            }
        }
        self.import_log(&log)?;
        // The DERs first, durably: a record may point at them only afterwards.
        let places = self.ders.append(records.iter().map(|r| r.der.as_slice()))?;
        self.note_der_end(&places)?;
        for (record, at) in records.iter().zip(places) {
            self.write_record_copy(record, at)?;
        }
        super::audit::import(&self.audit, &self.meta, &audit)?;
        super::events::import(&self.revocation_events, &self.meta, &events)?;
        Ok(())
    }

    fn finish_import(&self) -> Result<(), StoreError> {
        self.flush()?;
        self.copy.finish_import(&self.revoked)
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        let len = |tree: &sled::Tree| u64::try_from(tree.len()).unwrap_or(u64::MAX);
        Ok(StoreCounts {
            certificates: len(&self.certificates),
            revoked: len(&self.revoked),
            tokens: len(&self.tokens),
            officers: len(&self.officers),
            participants: len(&self.participants),
            approvals: len(&self.approvals),
            audit_entries: len(&self.audit),
            revocation_events: len(&self.revocation_events),
            log_entries: super::TransparencyStore::log_size(self)?,
        })
    }
}

impl SledStore {
    /// Writes a copied certificate record with every index, as issuance would (no
    /// audit entry, no participant count: both are copied as they are).
    fn write_record_copy(
        &self,
        record: &CertificateRecord,
        der_at: super::der_log::DerRef,
    ) -> Result<(), StoreError> {
        let serial = &record.serial;
        self.certificates.insert(
            serial.as_bytes(),
            super::record::encode_stored(record, Some(der_at)),
        )?;
        // A reservation copied from a store that keeps them after issuance (PostgreSQL)
        // is fulfilled here (see `serials` in the module's notes).
        self.serials.remove(serial.as_bytes())?;
        self.by_role_status.insert(
            super::role_status_key(record.role, record.status, serial.as_bytes()),
            &[],
        )?;
        self.by_expiry
            .insert(prefixed(&time_key(record.not_after), serial), &[])?;
        if let Some(participant) = &record.participant {
            let mut key = participants::certificate_index_prefix(participant);
            key.extend_from_slice(serial.as_bytes());
            self.participant_certs.insert(key, &[])?;
        }
        if let Some(entry) = record
            .revocation
            .as_ref()
            .and_then(|r| RevokedEntry::from_record(record, r))
        {
            self.revoked.insert(serial.as_bytes(), entry.encode())?;
        }
        Ok(())
    }
}
