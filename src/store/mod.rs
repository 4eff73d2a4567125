//! The storage authority: the only code that knows the database schema (sled trees and
//! record formats). Each consumer sees a narrow trait; [`SledStore`] implements them all.
//!
//! Trees:
//! - `serials`: serial → what is about to be signed. Written *before* the CA signs (a
//!   compare-and-swap, then a check of `certificates`, so a serial is never used twice):
//!   a crash leaves a record of the intent. The entry goes when the certificate is
//!   recorded (the certificate then says "taken"), so it holds only intents.
//! - `certificates`: serial → [`CertificateRecord`] (compact binary; JSON in data
//!   directories of earlier versions until the record changes: see `record`).
//! - `by_role_status`: `role ‖ status ‖ serial` → empty; `by_expiry`: `not_after ‖
//!   serial` → empty.
//! - `tokens`: token id → [`TokenRecord`] (the secret only as a SHA-256).
//! - `revoked`: serial → compact revocation entry, for CRLs and OCSP.
//! - `children`: `len ‖ parent serial ‖ child serial` → empty: what a renewal replaced.
//! - `renewal_proofs`: digest of a used renewal proof's message → its expiry (single use).
//! - `supersede`: `due time ‖ serial` → empty: renewed parents to revoke as superseded.
//! - `audit`: sequence (u64 BE) → [`AuditEntry`], hash-chained; `meta` holds the chain head.
//! - `participants`: participant id → [`ParticipantRecord`] (JSON).
//! - `participant_certs`: `len ‖ participant id ‖ serial` → empty: a participant's
//!   certificates (those issued from a token for it, and their renewals).
//! - `revocation_events`: id (u64 BE) → [`RevocationEvent`]: status changes in commit order.
//! - `crls`: issuing CA id (u32 BE) → [`StoredCrl`]: the newest published CRL.
//! - `tlog_entries`, `tlog_index`: the issuance transparency log (see `transparency`),
//!   appended in the transactions of issuance and status changes; its hashes are in
//!   `transparency.hashes` beside sled (`log_hashes`, layout 5).
//! - `meta`: counters, the audit chain head, markers, and `schema`: the layout version
//!   ([`SCHEMA`]; a store of an earlier layout is migrated when it opens, `schema`).
//!
//! [`postgres::PgStore`] implements the same traits on PostgreSQL; callers hold a
//! [`SharedStore`] and never learn which backend runs.

mod approvals;
mod audit;
mod copy;
mod crls;
mod der_log;
mod events;
mod issuance;
mod lineage;
mod log_hashes;
mod officers;
mod participants;
pub mod postgres;
mod record;
mod revocations;
mod revoked_copy;
mod schema;
mod tokens;
mod transparency;

use std::path::Path;

use serde::{Deserialize, Serialize};
use sled::transaction::TransactionError;
use sled::Transactional;
use time::OffsetDateTime;

use crate::model::{CertificateStatus, Role, Serial};
pub use approvals::{
    ApprovalPayload, ApprovalRecord, ApprovalRejection, ApprovalStatus, ApprovalStore, ApprovalVote,
};
pub use audit::{AuditEntry, AuditEvent, AuditReport, ChainCheck, ChainHead};
pub use copy::{StoreCopy, StoreCounts, StoreItem};
pub use crls::{CrlStore, StoredCrl};
pub use events::{RevocationEvent, RevocationEventKind, RevocationEventStore};
pub use lineage::LineageStore;
pub use officers::{OfficerRecord, OfficerStore};
pub use participants::{
    CertificateChange, ParticipantFilter, ParticipantPage, ParticipantRecord, ParticipantStatus,
    ParticipantStore, PlacedHold,
};
pub use revocations::{CrlReader, CrlSource, KnownStatus, RevocationStore, RevokedEntry};
pub use revoked_copy::copy_path;
pub use tokens::{TokenRecord, TokenStore};
pub use transparency::TransparencyStore;

/// Storage failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another process (normally `paypki serve`) holds the database.
    #[error("the database {0} is in use by another paypki process")]
    Locked(String),
    /// sled or the file system failed.
    #[error("database error: {0}")]
    Database(String),
    /// A record does not decode.
    #[error("corrupt record in the database: {0}")]
    Corrupt(String),
    /// The serial is already reserved or used.
    #[error("serial {0} is already in use")]
    SerialTaken(Serial),
    /// No certificate with that serial.
    #[error("no certificate with serial {0}")]
    NotFound(Serial),
    /// Revoking a certificate that is already revoked.
    #[error("certificate {0} is already revoked ({1}); nothing was changed")]
    AlreadyRevoked(Serial, String),
    /// Unholding a certificate that is not on hold.
    #[error("certificate {0} is not on hold (certificateHold); nothing was changed")]
    NotOnHold(Serial),
    /// A participant id that is taken already (a collision of random ids).
    #[error("participant {0} exists already")]
    ParticipantExists(String),
    /// A certificate for a participant that is no longer active (suspended or
    /// terminated while the certificate was being issued): it is not recorded.
    #[error("participant {0} is {1}: no certificate is issued for it")]
    ParticipantInactive(String, ParticipantStatus),
    /// The participant changed since it was read (a concurrent change).
    #[error("participant {0} was changed by someone else meanwhile; nothing was changed")]
    ParticipantChanged(String),
    /// The database server cannot be reached (or timed out): try again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The database's schema is not the one this version of paypki uses.
    #[error("{0}")]
    Schema(String),
}

impl StoreError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind as K;
        match self {
            StoreError::NotFound(_) => K::NotFound,
            StoreError::AlreadyRevoked(..) => K::AlreadyRevoked,
            StoreError::NotOnHold(_) => K::NotOnHold,
            StoreError::ParticipantInactive(..) => K::ParticipantInactive,
            StoreError::Unavailable(_) => K::Unavailable,
            StoreError::Locked(_)
            | StoreError::Database(_)
            | StoreError::Corrupt(_)
            | StoreError::SerialTaken(_)
            | StoreError::ParticipantExists(_)
            | StoreError::ParticipantChanged(_)
            | StoreError::Schema(_) => K::Internal,
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        let text = e.to_string();
        if text.contains("could not acquire lock") {
            StoreError::Locked(text)
        } else {
            StoreError::Database(text)
        }
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(inner) => inner,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

/// How a certificate came to be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IssuancePath {
    /// `paypki issue` by an administrator.
    CliIssue,
    /// `POST /v1/enroll` with a one-time token.
    Enroll,
    /// `POST /v1/renew` by the holder.
    Renew,
}

impl std::fmt::Display for IssuancePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IssuancePath::CliIssue => "cli-issue",
            IssuancePath::Enroll => "enroll",
            IssuancePath::Renew => "renew",
        })
    }
}

/// A revocation, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevocationRecord {
    /// RFC 5280 §5.3.1 reason name, e.g. `keyCompromise`.
    #[schema(value_type = crate::model::RevocationReason)]
    pub reason: String,
    /// When the CA revoked it.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub revoked_at: OffsetDateTime,
    /// When the key is known or suspected to have been compromised (RFC 5280 §5.3.2).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub invalidity_date: Option<OffsetDateTime>,
}

/// Everything stored about one issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertificateRecord {
    /// Serial number, lowercase hex.
    #[schema(value_type = String, pattern = "^[0-9a-f]+$")]
    pub serial: Serial,
    /// The role (policy) it was issued under.
    pub role: Role,
    /// Subject DN (`CN=…,O=…`).
    pub subject: String,
    /// SANs (`dns:…`).
    pub subject_alt_names: Vec<String>,
    /// Key description (`ecdsa-p256`, `rsa-3072`).
    pub key: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_after: OffsetDateTime,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub issued_at: OffsetDateTime,
    /// How it was requested.
    pub requested_via: IssuancePath,
    /// Good or revoked.
    pub status: CertificateStatus,
    /// Set when revoked.
    #[serde(default)]
    pub revocation: Option<RevocationRecord>,
    /// SHA-256 fingerprint of the DER.
    pub fingerprint_sha256: String,
    /// The issuing CA that signed it (records made before rollover existed: 1).
    #[serde(default = "first_issuer")]
    pub issuer: u32,
    /// The certificate this one renewed, if it came from a renewal (lowercase hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]+$")]
    pub parent: Option<Serial>,
    /// The registered participant it was issued for (a token made for a participant,
    /// and the renewals of its certificate); none for certificates issued otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    /// The certificate, DER, base64 in JSON.
    #[serde(with = "base64_bytes")]
    #[schema(value_type = String, content_encoding = "base64")]
    pub der: Vec<u8>,
}

fn first_issuer() -> u32 {
    1
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// What the RA plans to sign, recorded with the serial before signing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedIssuance {
    /// The role.
    pub role: Role,
    /// The subject.
    pub subject: String,
    /// When it was reserved.
    #[serde(with = "time::serde::rfc3339")]
    pub reserved_at: OffsetDateTime,
    /// How it was requested.
    pub requested_via: IssuancePath,
}

/// A range of index keys: from (inclusive) and, unless open-ended, to (exclusive).
type KeyRange = (Vec<u8>, Option<Vec<u8>>);

/// Filters of `paypki list`.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this role.
    pub role: Option<Role>,
    /// Only this status.
    pub status: Option<CertificateStatus>,
    /// Only certificates that expire before this instant (and have not yet expired).
    pub expiring_before: Option<OffsetDateTime>,
    /// At most this many records.
    pub limit: Option<usize>,
    /// Continue after this position: the `next` of the previous page (a key of the
    /// index the filter walks, so only meaningful with the same filter).
    pub after: Option<Vec<u8>>,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The records.
    pub records: Vec<CertificateRecord>,
    /// Where the next page starts (give it as [`ListFilter::after`]), when the limit cut
    /// the listing short; `None` when nothing more matches.
    pub next: Option<Vec<u8>>,
}

/// What the issuance path needs: reserve a serial, record a certificate, read one.
pub trait CertificateStore: Send + Sync {
    /// Reserves a serial, recording the plan; `SerialTaken` if it exists.
    fn reserve_serial(&self, serial: &Serial, plan: &PlannedIssuance) -> Result<(), StoreError>;
    /// Records an issued certificate with its audit entry and its transparency log
    /// entry, durably, in one transaction; returns the log entry's leaf index.
    fn record_issued(
        &self,
        record: &CertificateRecord,
        event: AuditEvent,
    ) -> Result<u64, StoreError>;
}

/// Everything a reader may do: what the HTTP front end, the OCSP responder and the
/// verifier get, so that none of them can reach a write. Writes go through the RA (and
/// the CLI, which plays the RA's part offline).
pub trait StoreReader: Send + Sync + std::fmt::Debug {
    /// One certificate.
    fn certificate(&self, serial: &Serial) -> Result<Option<CertificateRecord>, StoreError>;
    /// Certificates matching a filter, soonest expiry first when filtering on expiry,
    /// otherwise in serial order.
    fn list(&self, filter: &ListFilter) -> Result<Vec<CertificateRecord>, StoreError> {
        Ok(self.list_page(filter)?.records)
    }
    /// [`StoreReader::list`] one page at a time: at most `filter.limit` records after
    /// `filter.after`, and where the next page starts.
    fn list_page(&self, filter: &ListFilter) -> Result<ListPage, StoreError>;
    /// A serial's status from the compact trees (the OCSP miss path).
    fn known_status(&self, serial: &[u8]) -> Result<KnownStatus, StoreError>;
    /// Walks the audit chain and checks every link.
    fn verify_audit(&self) -> Result<AuditReport, StoreError>;
    /// The stored hash of the admin credential, if one was made.
    fn admin_credential_hash(&self) -> Result<Option<String>, StoreError>;
}

impl StoreReader for SledStore {
    fn certificate(&self, serial: &Serial) -> Result<Option<CertificateRecord>, StoreError> {
        self.certificates
            .get(serial.as_bytes())?
            .map(|bytes| self.decode(&bytes))
            .transpose()
    }

    fn list_page(&self, filter: &ListFilter) -> Result<ListPage, StoreError> {
        use std::ops::Bound;
        let limit = filter.limit.unwrap_or(usize::MAX);
        let now = OffsetDateTime::now_utc();
        // Walk the most selective index available, then filter the rest on the record.
        // Each index is ordered by its key, and the ranges walked follow each other in
        // key order, so a page continues after the last key seen.
        let (tree, ranges, index_prefix_len): (&sled::Tree, Vec<KeyRange>, usize) =
            if let Some(before) = filter.expiring_before {
                (
                    &self.by_expiry,
                    vec![(time_key(now).to_vec(), Some(time_key(before).to_vec()))],
                    8,
                )
            } else if filter.role.is_some() || filter.status.is_some() {
                let roles = match filter.role {
                    Some(role) => vec![role],
                    None => Role::ALL.to_vec(),
                };
                let ranges = roles
                    .into_iter()
                    .map(|role| {
                        let r = role_byte(role);
                        match filter.status {
                            Some(status) => {
                                let s = status_byte(status);
                                (vec![r, s], Some(vec![r, s + 1]))
                            }
                            None => (vec![r], Some(vec![r + 1])),
                        }
                    })
                    .collect();
                (&self.by_role_status, ranges, 2)
            } else {
                (&self.certificates, vec![(Vec::new(), None)], 0)
            };
        let mut out: Vec<CertificateRecord> = Vec::new();
        let mut last: Option<sled::IVec> = None;
        for (start, end) in ranges {
            if let (Some(after), Some(end)) = (&filter.after, &end) {
                if after >= end {
                    continue;
                }
            }
            let lower = match &filter.after {
                Some(after) if *after >= start => Bound::Excluded(after.clone()),
                _ => Bound::Included(start),
            };
            let upper = match end {
                Some(end) => Bound::Excluded(end),
                None => Bound::Unbounded,
            };
            for item in tree.range::<Vec<u8>, _>((lower, upper)) {
                let (key, value) = item?;
                let record = if index_prefix_len == 0 {
                    self.decode(&value)?
                } else {
                    // An index key shorter than its prefix was not written by this code.
                    let serial_bytes = key.get(index_prefix_len..).ok_or_else(|| {
                        StoreError::Corrupt("index entry shorter than its prefix".into())
                    })?;
                    match self.certificates.get(serial_bytes)? {
                        Some(bytes) => self.decode(&bytes)?,
                        None => continue,
                    }
                };
                if filter.role.is_some_and(|r| r != record.role)
                    || filter.status.is_some_and(|s| s != record.status)
                {
                    continue;
                }
                if out.len() >= limit {
                    // Another match beyond the limit: the next page starts after the
                    // last record of this one.
                    return Ok(ListPage {
                        records: out,
                        next: last.map(|k| k.to_vec()),
                    });
                }
                out.push(record);
                last = Some(key);
            }
        }
        Ok(ListPage {
            records: out,
            next: None,
        })
    }
    fn known_status(&self, serial: &[u8]) -> Result<KnownStatus, StoreError> {
        self.known_status_of(serial)
    }
    fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        SledStore::verify_audit(self)
    }
    fn admin_credential_hash(&self) -> Result<Option<String>, StoreError> {
        SledStore::admin_credential_hash(self)
    }
}

/// Audit trail access beyond the entry each change writes with itself.
pub trait AuditStore: Send + Sync {
    /// Appends an entry on its own (for events that change nothing else), durably.
    fn append_audit(&self, event: AuditEvent) -> Result<AuditEntry, StoreError>;
    /// Up to `limit` entries, oldest first.
    fn audit_entries(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// Stores the hash of a (pre-officer) admin credential.
    fn set_admin_credential_hash(&self, sha256_hex: &str) -> Result<(), StoreError>;
}

/// A change another process made, heard through the database (PostgreSQL
/// `LISTEN`/`NOTIFY`): what this node must forget or reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreNotice {
    /// A certificate's status changed (revoked, held, unheld).
    StatusChanged {
        /// The certificate.
        serial: Serial,
        /// Its issuing CA.
        issuer: u32,
    },
    /// A newer CRL of issuing CA `issuer` was published.
    CrlPublished {
        /// The issuing CA.
        issuer: u32,
    },
    /// The connection that hears changes was lost: changes may be missed until
    /// [`StoreNotice::Reconnected`].
    Disconnected,
    /// Hearing changes again after a loss: anything cached may be stale.
    Reconnected,
}

/// Everything the CA keeps, whichever backend keeps it.
pub trait Store:
    CertificateStore
    + StoreReader
    + RevocationStore
    + TokenStore
    + LineageStore
    + OfficerStore
    + ApprovalStore
    + ParticipantStore
    + AuditStore
    + RevocationEventStore
    + CrlStore
    + StoreCopy
    + TransparencyStore
{
    /// `sled` or `postgresql`.
    fn backend(&self) -> &'static str;
    /// Where the data is, for messages (a path, or a URL without its password).
    fn location(&self) -> String;
    /// Changes made by other processes sharing the database, for as long as the store
    /// lives; `None` when no other process can write (sled is owned by one process).
    fn subscribe(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<StoreNotice>> {
        None
    }
    /// A data directory from before officers existed has one admin credential hash and
    /// no officer: it becomes officer `admin`, with every role (the powers the
    /// credential had), flagged legacy so that the old `ppa_…` credential keeps working.
    /// Returns the new officer, if one was made.
    fn migrate_admin_credential(
        &self,
        now: OffsetDateTime,
    ) -> Result<Option<OfficerRecord>, StoreError> {
        if !self.officers()?.is_empty() {
            return Ok(None);
        }
        let Some(hash) = self.admin_credential_hash()? else {
            return Ok(None);
        };
        let record = OfficerRecord {
            name: "admin".into(),
            roles: crate::model::OfficerRole::ALL.to_vec(),
            credential_sha256: hash,
            disabled: false,
            legacy_credential: true,
            created_at: now,
            created_by: "migration".into(),
            rotated_at: None,
        };
        let event = AuditEvent::new("officer-migrate", "migration").detail(
            "the admin credential of this data directory became officer `admin` with every role",
        );
        Ok(self.add_officer(&record, event)?.then_some(record))
    }
}

/// The store every layer shares.
pub type SharedStore = std::sync::Arc<dyn Store>;

impl AuditStore for SledStore {
    fn append_audit(&self, event: AuditEvent) -> Result<AuditEntry, StoreError> {
        SledStore::append_audit(self, event)
    }
    fn audit_entries(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        SledStore::audit_entries(self, limit)
    }
    fn set_admin_credential_hash(&self, sha256_hex: &str) -> Result<(), StoreError> {
        SledStore::set_admin_credential_hash(self, sha256_hex)
    }
}

impl Store for SledStore {
    fn backend(&self) -> &'static str {
        "sled"
    }
    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// The embedded sled database at this path (the default: `DATA_DIR/db`).
    Sled(std::path::PathBuf),
    /// A PostgreSQL server, by URL (`postgres://…`).
    Postgres(String),
}

/// Opens the store at `location`. A PostgreSQL database must carry the schema this
/// version knows (`paypki db migrate` applies it); sled databases are created on
/// first use.
pub fn open(location: &DatabaseLocation) -> Result<SharedStore, StoreError> {
    match location {
        DatabaseLocation::Sled(path) => Ok(std::sync::Arc::new(SledStore::open(path)?)),
        DatabaseLocation::Postgres(url) => {
            Ok(std::sync::Arc::new(postgres::PgStore::connect(url)?))
        }
    }
}

/// Records per batch of a bulk import. sled applies a batch under one epoch guard, so
/// every page version it replaces stays allocated until the batch ends: with 10,000 a
/// million records peaked at 15 GiB resident.
const IMPORT_BATCH: usize = 1_000;

/// sled page-cache size.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Group commit: callers that need their writes durable share fsyncs. The first caller
/// to find no flush running becomes the leader and flushes; callers arriving meanwhile
/// wait for the next flush, which covers all of them. Under load one fsync acknowledges
/// many issuances instead of one each.
#[derive(Debug, Default)]
struct GroupCommit {
    state: std::sync::Mutex<CommitState>,
    flushed: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct CommitState {
    requested: u64,
    flushed: u64,
    flushing: bool,
    /// The tickets a failed flush was to cover, and why it failed: only their callers
    /// get the error.
    failed: Option<(std::ops::RangeInclusive<u64>, String)>,
}

impl GroupCommit {
    /// Makes everything written to `db` so far durable, sharing the fsync with
    /// concurrent callers: returns once a flush that started after the call completed.
    fn flush(&self, db: &sled::Db) -> Result<(), StoreError> {
        let poisoned = |_| StoreError::Database("the commit lock was poisoned".into());
        let mut state = self.state.lock().map_err(poisoned)?;
        state.requested += 1;
        let ticket = state.requested;
        loop {
            if state.flushed >= ticket {
                return match &state.failed {
                    Some((tickets, e)) if tickets.contains(&ticket) => {
                        Err(StoreError::Database(e.clone()))
                    }
                    _ => Ok(()),
                };
            }
            if !state.flushing {
                // Lead: flush for everyone who asked so far.
                state.flushing = true;
                let (from, target) = (state.flushed + 1, state.requested);
                drop(state);
                let result = db.flush();
                state = self.state.lock().map_err(poisoned)?;
                state.flushing = false;
                state.flushed = target;
                if let Err(e) = result {
                    state.failed = Some((from..=target, e.to_string()));
                }
                self.flushed.notify_all();
                continue;
            }
            state = self.flushed.wait(state).map_err(poisoned)?;
        }
    }
}

/// The sled-backed store.
#[derive(Debug, Clone)]
pub struct SledStore {
    path: std::path::PathBuf,
    commit: std::sync::Arc<GroupCommit>,
    issuance: std::sync::Arc<issuance::IssuanceBatches>,
    db: sled::Db,
    serials: sled::Tree,
    certificates: sled::Tree,
    by_role_status: sled::Tree,
    by_expiry: sled::Tree,
    audit: sled::Tree,
    meta: sled::Tree,
    tokens: sled::Tree,
    revoked: sled::Tree,
    children: sled::Tree,
    renewal_proofs: sled::Tree,
    supersede: sled::Tree,
    officers: sled::Tree,
    approvals: sled::Tree,
    participants: sled::Tree,
    participant_certs: sled::Tree,
    revocation_events: sled::Tree,
    crls: sled::Tree,
    tlog_entries: sled::Tree,
    tlog_index: sled::Tree,
    /// The revocation copy beside the database (`revoked_copy`).
    copy: std::sync::Arc<revoked_copy::RevokedCopy>,
    /// The certificates' DER, in a file beside sled's (`der_log`).
    ders: std::sync::Arc<der_log::DerLog>,
    /// The transparency log's hashes (`log_hashes`), with the log's writer lock.
    hashes: std::sync::Arc<log_hashes::LogHashes>,
}

fn role_byte(role: Role) -> u8 {
    match role {
        Role::Buyer => 1,
        Role::Merchant => 2,
        Role::Bank => 3,
        Role::Gateway => 4,
    }
}

fn status_byte(status: CertificateStatus) -> u8 {
    match status {
        CertificateStatus::Good => 1,
        CertificateStatus::Revoked => 2,
    }
}

/// The `by_role_status` key of a certificate.
fn role_status_key(role: Role, status: CertificateStatus, serial: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + serial.len());
    key.extend_from_slice(&[role_byte(role), status_byte(status)]);
    key.extend_from_slice(serial);
    key
}

fn prefixed(prefix: &[u8], serial: &Serial) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(serial.as_bytes());
    key
}

/// Sortable key for an instant: seconds since the epoch, offset so negatives sort first.
fn time_key(at: OffsetDateTime) -> [u8; 8] {
    // Flipping the sign bit maps i64 order onto u64 byte order.
    ((at.unix_timestamp() as u64) ^ (1 << 63)).to_be_bytes()
}

/// `meta` key: how far the certificate records point into the DER log (u64 BE).
const DER_END_KEY: &[u8] = b"der_log_end";

impl SledStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // sled's default page cache is 1 GiB; the hot paths keep their own small caches, so
        // a modest one bounds the server's memory even with millions of records.
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()?;
        let copy = revoked_copy::RevokedCopy::open(&copy_path(path))?;
        let ders = der_log::DerLog::open(path)?;
        let hashes = log_hashes::LogHashes::open(path)?;
        Self::from_db(db, copy, ders, hashes, path.to_path_buf())
    }

    /// A throw-away database for tests.
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new().temporary(true).open()?;
        Self::from_db(
            db,
            revoked_copy::RevokedCopy::temporary()?,
            der_log::DerLog::memory(),
            log_hashes::LogHashes::memory(),
            "(temporary)".into(),
        )
    }

    fn from_db(
        db: sled::Db,
        copy: revoked_copy::RevokedCopy,
        ders: der_log::DerLog,
        hashes: log_hashes::LogHashes,
        path: std::path::PathBuf,
    ) -> Result<Self, StoreError> {
        let store = SledStore {
            path,
            commit: std::sync::Arc::default(),
            issuance: std::sync::Arc::default(),
            serials: db.open_tree("serials")?,
            certificates: db.open_tree("certificates")?,
            by_role_status: db.open_tree("by_role_status")?,
            by_expiry: db.open_tree("by_expiry")?,
            audit: db.open_tree("audit")?,
            meta: db.open_tree("meta")?,
            tokens: db.open_tree("tokens")?,
            revoked: db.open_tree("revoked")?,
            children: db.open_tree("children")?,
            renewal_proofs: db.open_tree("renewal_proofs")?,
            supersede: db.open_tree("supersede")?,
            officers: db.open_tree("officers")?,
            approvals: db.open_tree("approvals")?,
            participants: db.open_tree("participants")?,
            participant_certs: db.open_tree("participant_certs")?,
            revocation_events: db.open_tree("revocation_events")?,
            crls: db.open_tree("crls")?,
            tlog_entries: db.open_tree("tlog_entries")?,
            tlog_index: db.open_tree("tlog_index")?,
            copy: std::sync::Arc::new(copy),
            ders: std::sync::Arc::new(ders),
            hashes: std::sync::Arc::new(hashes),
            db,
        };
        store.migrate_schema()?;
        store.check_der_log()?;
        store.open_log_hashes()?;
        store.pair_with_copy()?;
        // A data directory of an earlier version: its certificates and revocations
        // enter the log once, before anything new is appended.
        store.catch_up_log()?;
        Ok(store)
    }

    /// Settles what a crash left in the revocation copy, or rebuilds the copy when it is
    /// not this database's (none yet: a data directory of an earlier version).
    fn pair_with_copy(&self) -> Result<(), StoreError> {
        let ours = self.meta.get(revoked_copy::MAIN_ID)?;
        match (ours, self.copy.id()?) {
            (Some(ours), Some(theirs)) if ours == theirs => self.copy.settle_left(&self.revoked),
            _ => {
                tracing::info!(
                    "building the revocation copy {} from the database",
                    copy_path(&self.path).display()
                );
                let id = self.copy.rebuild(&self.revoked, &self.meta)?;
                self.meta.insert(revoked_copy::MAIN_ID, id)?;
                self.flush()
            }
        }
    }

    /// Makes everything this thread has written so far durable, sharing the fsync with
    /// concurrent callers (group commit). Returns once a flush that started after the
    /// call has completed.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.commit.flush(&self.db)
    }

    /// Appends an audit entry on its own (for events that change nothing else).
    pub fn append_audit(&self, event: AuditEvent) -> Result<AuditEntry, StoreError> {
        let entry = (&self.audit, &self.meta)
            .transaction(|(audit, meta)| audit::append(audit, meta, &event))
            .map_err(StoreError::from)?;
        self.flush()?;
        Ok(entry)
    }

    /// Imports certificate records in bulk (a migration from another CA, or a load test):
    /// every tree and index is written as for issuance, in batches of 1,000,
    /// with one audit entry and one flush at the end. Existing serials are refused.
    pub fn import_records(
        &self,
        records: impl IntoIterator<Item = CertificateRecord>,
        actor: &str,
    ) -> Result<usize, StoreError> {
        // A marker for the whole store first: the copy takes the imported revocations
        // once the import is durable (a crash before makes the next open do it).
        let pending = self.copy.mark_all()?;
        // The log takes the imported records after the import (in their time order);
        // until then the marker is gone, so a crash half-way makes the next open do it.
        self.meta.remove(transparency::COMPLETE_KEY)?;
        let mut count = 0usize;
        let mut chunk = Vec::with_capacity(IMPORT_BATCH);
        let flush_chunk = |chunk: &mut Vec<CertificateRecord>| -> Result<(), StoreError> {
            let (mut certs, mut roles, mut expiries, mut revoked, mut owners) = (
                sled::Batch::default(),
                sled::Batch::default(),
                sled::Batch::default(),
                sled::Batch::default(),
                sled::Batch::default(),
            );
            // The DERs first, durably: a record may point at them only afterwards.
            let places = self.ders.append(chunk.iter().map(|r| r.der.as_slice()))?;
            self.note_der_end(&places)?;
            for (record, at) in chunk.drain(..).zip(places.iter().copied()) {
                let serial = &record.serial;
                if self.certificates.contains_key(serial.as_bytes())? {
                    return Err(StoreError::SerialTaken(serial.clone()));
                }
                if self.serials.contains_key(serial.as_bytes())? {
                    // Reserved for an issuance in progress.
                    return Err(StoreError::SerialTaken(serial.clone()));
                }
                certs.insert(serial.as_bytes(), record::encode_stored(&record, Some(at)));
                roles.insert(
                    role_status_key(record.role, record.status, serial.as_bytes()),
                    &[],
                );
                expiries.insert(prefixed(&time_key(record.not_after), serial), &[]);
                if let Some(participant) = &record.participant {
                    let mut key = participants::certificate_index_prefix(participant);
                    key.extend_from_slice(serial.as_bytes());
                    owners.insert(key, &[]);
                }
                if let Some(revocation) = &record.revocation {
                    if let Some(entry) = RevokedEntry::from_record(&record, revocation) {
                        revoked.insert(serial.as_bytes(), entry.encode());
                    }
                }
            }
            self.certificates.apply_batch(certs)?;
            self.by_role_status.apply_batch(roles)?;
            self.by_expiry.apply_batch(expiries)?;
            self.revoked.apply_batch(revoked)?;
            self.participant_certs.apply_batch(owners)?;
            Ok(())
        };
        for record in records {
            chunk.push(record);
            count += 1;
            if chunk.len() == IMPORT_BATCH {
                flush_chunk(&mut chunk)?;
            }
        }
        flush_chunk(&mut chunk)?;
        self.append_audit(
            AuditEvent::new("import", actor)
                .detail(format!("{count} certificate records imported")),
        )?;
        self.copy.settle(pending, &self.revoked)?;
        self.copy.flush()?;
        self.catch_up_log()?;
        Ok(count)
    }

    /// Walks the audit chain and checks every link.
    pub fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        audit::verify(&self.audit, &self.meta)
    }

    /// Audit entries, oldest first.
    pub fn audit_entries(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        audit::entries(&self.audit, limit)
    }

    /// Refuses a DER log shorter than the records say (missing or cut: a `db/` restored
    /// without it), instead of failing on each certificate when it is read.
    fn check_der_log(&self) -> Result<(), StoreError> {
        let recorded = self
            .meta
            .get(DER_END_KEY)?
            .map(|bytes| {
                <[u8; 8]>::try_from(bytes.as_ref())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("the DER log's recorded end".into()))
            })
            .transpose()?
            .unwrap_or(0);
        let held = self.ders.len()?;
        if held < recorded {
            return Err(StoreError::Corrupt(format!(
                "{} holds {held} bytes but the certificate records point up to byte \
                 {recorded}: it is missing or cut short; restore the database directory \
                 {} as a whole from a backup",
                self.path.join(der_log::FILE_NAME).display(),
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Notes (outside a transaction) how far records may now point into the DER log:
    /// before they do, so that a crash between the two never leaves records past the
    /// noted end (the DERs are durable already).
    fn note_der_end(&self, places: &[der_log::DerRef]) -> Result<(), StoreError> {
        if let Some(end) = places.iter().map(der_log::DerRef::end).max() {
            self.meta.fetch_and_update(DER_END_KEY, |old| {
                let old = old
                    .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                    .map_or(0, u64::from_be_bytes);
                Some(old.max(end).to_be_bytes().to_vec())
            })?;
        }
        Ok(())
    }

    /// A stored certificate record, with its DER read from the DER log when it is there.
    fn decode(&self, bytes: &[u8]) -> Result<CertificateRecord, StoreError> {
        let stored = record::decode_certificate(bytes)?;
        let mut record = stored.record;
        if let Some(at) = stored.der_at {
            record.der = self.ders.read(at)?;
        }
        Ok(record)
    }
}

impl CertificateStore for SledStore {
    fn reserve_serial(&self, serial: &Serial, plan: &PlannedIssuance) -> Result<(), StoreError> {
        let value = record::encode_plan(plan);
        // Not a transaction: sled runs those one at a time, exclusive of every other
        // write. The reservation leaves `serials` in the transaction that puts the
        // certificate into `certificates`, so once the compare-and-swap has taken the
        // serial here, `certificates` holding it means it was used before.
        let key = serial.as_bytes();
        if self
            .serials
            .compare_and_swap(key, None as Option<&[u8]>, Some(value))?
            .is_err()
        {
            return Err(StoreError::SerialTaken(serial.clone()));
        }
        if self.certificates.contains_key(key)? {
            self.serials.remove(key)?;
            return Err(StoreError::SerialTaken(serial.clone()));
        }
        Ok(())
    }

    fn record_issued(
        &self,
        record: &CertificateRecord,
        event: AuditEvent,
    ) -> Result<u64, StoreError> {
        let item = issuance::Queued {
            record: record.clone(),
            event,
        };
        self.issuance.record(item, |batch| {
            // Durable before acknowledged: the DERs synced first (nothing points at them
            // yet), then one flush after the batch's transaction.
            let ders = batch.iter().map(|item| item.record.der.as_slice());
            match self.ders.append(ders).and_then(|places| {
                let outcomes = self.record_batch(batch, &places)?;
                self.flush()?;
                Ok(outcomes)
            }) {
                Ok(outcomes) => outcomes,
                Err(e) => vec![Err(e); batch.len()],
            }
        })
    }
}

impl SledStore {
    /// Records a batch of issued certificates in one transaction: each with its indexes,
    /// audit entry and transparency log entry, or (a serial already recorded, a
    /// participant no longer active) refused with nothing written for it while the rest
    /// are recorded. Returns one outcome per certificate: its log entry's index.
    fn record_batch(
        &self,
        batch: &[issuance::Queued],
        der_places: &[der_log::DerRef],
    ) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
        if der_places.len() != batch.len() {
            return Err(StoreError::Database(
                "the DER log returned a place per certificate of a different batch".into(),
            ));
        }
        let prepared: Vec<_> = batch
            .iter()
            .zip(der_places)
            .map(|(item, at)| {
                (
                    &item.record,
                    record::encode_stored(&item.record, Some(*at)),
                    transparency::certificate_entry(&item.record),
                    &item.event,
                )
            })
            .collect();
        self.append_to_log(|appended| {
            (
                &self.certificates,
                &self.serials,
                &self.by_role_status,
                &self.by_expiry,
                &self.audit,
                &self.meta,
                &self.children,
                &self.participant_certs,
                &self.participants,
                &self.tlog_entries,
                &self.tlog_index,
            )
                .transaction(
                    |(
                        certificates,
                        serials,
                        by_role_status,
                        by_expiry,
                        audit,
                        meta,
                        children,
                        participant_certs,
                        participants,
                        entries,
                        index,
                    )| {
                        let mut outcomes = Vec::with_capacity(prepared.len());
                        for (record, value, log_entry, event) in &prepared {
                            let serial = &record.serial;
                            // Refusals first, before anything of this certificate is written.
                            if certificates.get(serial.as_bytes())?.is_some() {
                                outcomes.push(Err(StoreError::SerialTaken(serial.clone())));
                                continue;
                            }
                            if let Some(participant) = &record.participant {
                                if let Err(refused) =
                                    participants::count_issuance(participants, participant)?
                                {
                                    outcomes.push(Err(refused));
                                    continue;
                                }
                                let mut key = participants::certificate_index_prefix(participant);
                                key.extend_from_slice(serial.as_bytes());
                                participant_certs.insert(key, &[])?;
                            }
                            certificates.insert(serial.as_bytes(), value.as_slice())?;
                            // The certificate now says "taken"; the intent is fulfilled.
                            serials.remove(serial.as_bytes())?;
                            if let Some(parent) = &record.parent {
                                let mut key = lineage::length_prefixed(parent);
                                key.extend_from_slice(serial.as_bytes());
                                children.insert(key, &[])?;
                            }
                            by_role_status.insert(
                                role_status_key(record.role, record.status, serial.as_bytes()),
                                &[],
                            )?;
                            by_expiry.insert(prefixed(&time_key(record.not_after), serial), &[])?;
                            audit::append(audit, meta, event)?;
                            let leaf = transparency::LogTx {
                                entries,
                                index,
                                meta,
                                appended,
                            }
                            .append(serial.as_bytes(), log_entry)?;
                            outcomes.push(Ok(leaf));
                        }
                        // How far records point into the DER log (checked at open).
                        if let Some(end) = der_places.iter().map(der_log::DerRef::end).max() {
                            let old = meta
                                .get(DER_END_KEY)?
                                .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_ref()).ok())
                                .map_or(0, u64::from_be_bytes);
                            meta.insert(DER_END_KEY, &old.max(end).to_be_bytes())?;
                        }
                        Ok(outcomes)
                    },
                )
                .map_err(StoreError::from)
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use time::Duration;

    /// Opens again while sled's flusher thread of a dropped handle still holds the lock
    /// (for up to two seconds); any other answer is returned as it is.
    pub(crate) fn retry_while_locked<T>(
        open: impl Fn() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        for _ in 0..200 {
            match open() {
                Err(StoreError::Locked(_)) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                other => return other,
            }
        }
        open()
    }

    pub(crate) fn record(serial: &str, role: Role, days: i64) -> CertificateRecord {
        let now = OffsetDateTime::now_utc();
        CertificateRecord {
            serial: serial.parse().unwrap(),
            role,
            subject: format!("CN={serial}"),
            subject_alt_names: vec![],
            key: "ecdsa-p256".into(),
            not_before: now,
            not_after: now + Duration::days(days),
            issued_at: now,
            requested_via: IssuancePath::CliIssue,
            status: CertificateStatus::Good,
            revocation: None,
            fingerprint_sha256: "00".into(),
            issuer: 1,
            parent: None,
            participant: None,
            der: vec![1, 2, 3],
        }
    }

    fn event(serial: &str) -> AuditEvent {
        AuditEvent::new("issue", "test").serial(&serial.parse().unwrap())
    }

    #[test]
    fn concurrent_flushes_all_return() {
        let store = SledStore::temporary().unwrap();
        // The open flushed once already (pairing the revocation copy).
        let before = store.commit.state.lock().unwrap().requested;
        std::thread::scope(|scope| {
            for i in 0..16u8 {
                let store = &store;
                scope.spawn(move || {
                    store.serials.insert([i], vec![i]).unwrap();
                    store.flush().unwrap();
                });
            }
        });
        let state = store.commit.state.lock().unwrap();
        assert_eq!(state.flushed, state.requested);
        assert!(state.requested == before + 16 && state.failed.is_none());
    }

    #[test]
    fn serials_are_reserved_once() {
        let store = SledStore::temporary().unwrap();
        let plan = PlannedIssuance {
            role: Role::Bank,
            subject: "CN=x".into(),
            reserved_at: OffsetDateTime::now_utc(),
            requested_via: IssuancePath::CliIssue,
        };
        let serial: Serial = "0a0b".parse().unwrap();
        store.reserve_serial(&serial, &plan).unwrap();
        assert!(matches!(
            store.reserve_serial(&serial, &plan),
            Err(StoreError::SerialTaken(_))
        ));
        // Once recorded, the reservation is gone and the certificate holds the serial.
        store
            .record_issued(&record("0a0b", Role::Bank, 10), event("0a0b"))
            .unwrap();
        assert!(store.serials.get(serial.as_bytes()).unwrap().is_none());
        assert!(matches!(
            store.reserve_serial(&serial, &plan),
            Err(StoreError::SerialTaken(_))
        ));
        assert!(store.serials.get(serial.as_bytes()).unwrap().is_none());
    }

    #[test]
    fn concurrent_issuances_are_recorded_in_batches_and_a_refusal_stays_alone() {
        use participants::tests::bank;
        let store = SledStore::temporary().unwrap();
        let mut inactive = bank("par_s");
        inactive.status = ParticipantStatus::Suspended;
        store
            .add_participant(&inactive, AuditEvent::new("participant-add", "t"))
            .unwrap();
        // 48 threads: 40 new serials, 4 that all want serial ff, 4 for the suspended
        // participant.
        let outcomes: Vec<(usize, Result<u64, StoreError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..48usize)
                .map(|i| {
                    let store = &store;
                    scope.spawn(move || {
                        let mut cert = match i {
                            0..40 => record(&format!("{:04x}", i + 1), Role::Bank, 30),
                            40..44 => record("ff", Role::Bank, 30),
                            _ => record(&format!("{:04x}", 0x1000 + i), Role::Bank, 30),
                        };
                        if i >= 44 {
                            cert.participant = Some("par_s".into());
                        }
                        (i, store.record_issued(&cert, event("01")))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut leaves = Vec::new();
        for (i, outcome) in outcomes {
            match i {
                0..40 => leaves.push(outcome.unwrap()),
                40..44 => {
                    if let Ok(leaf) = outcome {
                        leaves.push(leaf)
                    } else {
                        assert!(matches!(outcome, Err(StoreError::SerialTaken(_))));
                    }
                }
                _ => assert!(matches!(outcome, Err(StoreError::ParticipantInactive(..)))),
            }
        }
        // Exactly one of the four for serial ff; every recorded certificate has its own
        // log entry, and the audit chain holds one entry each.
        assert_eq!(leaves.len(), 41);
        leaves.sort_unstable();
        leaves.dedup();
        assert_eq!(leaves.len(), 41);
        assert_eq!(store.log_size().unwrap(), 41);
        let report = store.verify_audit().unwrap();
        assert!(report.problems.is_empty(), "{report:?}");
        let issues = store.audit_entries(usize::MAX).unwrap();
        let issues = issues.iter().filter(|e| e.body().action == "issue");
        // The participant's addition, then one entry per recorded certificate.
        assert_eq!(issues.count(), 41);
        assert_eq!(report.entries, 42);
        assert_eq!(store.list(&ListFilter::default()).unwrap().len(), 41);
    }

    #[test]
    fn the_der_is_stored_once_in_the_der_log_and_reads_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let ders: Vec<Vec<u8>> = (0..3u8).map(|i| vec![0x30, 3, i, i, i]).collect();
        let mut imported = record("0c", Role::Merchant, 30);
        imported.der = vec![0x30, 1, 9];
        {
            let store = SledStore::open(&path).unwrap();
            for (i, der) in ders.iter().enumerate() {
                let serial = format!("0{}", i + 1);
                let mut rec = record(&serial, Role::Bank, 10);
                rec.der = der.clone();
                store.record_issued(&rec, event(&serial)).unwrap();
            }
            // A refused certificate: its DER is appended (before the refusal is known)
            // and never pointed at.
            assert!(matches!(
                store.record_issued(&record("01", Role::Bank, 10), event("01")),
                Err(StoreError::SerialTaken(_))
            ));
            store.import_records([imported.clone()], "test").unwrap();
            // No record keeps its DER: only the place.
            for item in store.certificates.iter() {
                let (_, value) = item.unwrap();
                assert!(record::decode_certificate(&value).unwrap().der_at.is_some());
            }
        }
        let log = std::fs::metadata(path.join(der_log::FILE_NAME))
            .unwrap()
            .len();
        let refused = record("01", Role::Bank, 10).der.len() as u64;
        let written: u64 = ders.iter().map(|d| d.len() as u64 + 4).sum::<u64>()
            + (refused + 4)
            + (imported.der.len() as u64 + 4);
        assert_eq!(log, 16 + written);
        let store = retry_while_locked(|| SledStore::open(&path)).unwrap();
        for (i, der) in ders.iter().enumerate() {
            let got = store
                .certificate(&format!("0{}", i + 1).parse().unwrap())
                .unwrap()
                .unwrap();
            assert_eq!(&got.der, der);
        }
        assert_eq!(
            store.certificate(&"0c".parse().unwrap()).unwrap().unwrap(),
            imported
        );
    }

    #[test]
    fn a_missing_or_cut_der_log_is_refused_at_open_with_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = SledStore::open(&path).unwrap();
            let mut rec = record("0a", Role::Bank, 10);
            rec.der = vec![0x30, 3, 1, 2, 3];
            store.record_issued(&rec, event("0a")).unwrap();
        }
        let log = path.join(der_log::FILE_NAME);
        let whole = std::fs::read(&log).unwrap();
        for damaged in [&whole[..whole.len() - 1], &[][..]] {
            std::fs::write(&log, damaged).unwrap();
            match retry_while_locked(|| SledStore::open(&path)) {
                Err(StoreError::Corrupt(message)) => {
                    assert!(message.contains("certificates.der"), "{message}");
                    assert!(message.contains("restore"), "{message}");
                }
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
        // Whole again: it opens and reads.
        std::fs::write(&log, &whole).unwrap();
        let store = retry_while_locked(|| SledStore::open(&path)).unwrap();
        let got = store.certificate(&"0a".parse().unwrap()).unwrap().unwrap();
        assert_eq!(got.der, vec![0x30, 3, 1, 2, 3]);
    }

    #[test]
    fn records_round_trip_and_list_by_index() {
        let store = SledStore::temporary().unwrap();
        store
            .record_issued(&record("01", Role::Bank, 10), event("01"))
            .unwrap();
        store
            .record_issued(&record("02", Role::Buyer, 100), event("02"))
            .unwrap();
        store
            .record_issued(&record("03", Role::Bank, 200), event("03"))
            .unwrap();
        assert!(matches!(
            store.record_issued(&record("03", Role::Bank, 200), event("03")),
            Err(StoreError::SerialTaken(_))
        ));
        let got = store.certificate(&"01".parse().unwrap()).unwrap().unwrap();
        assert_eq!(got, record("01", Role::Bank, 10).clone_with_times(&got));
        let banks = store
            .list(&ListFilter {
                role: Some(Role::Bank),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            banks
                .iter()
                .map(|r| r.serial.to_string())
                .collect::<Vec<_>>(),
            ["01", "03"]
        );
        let soon = store
            .list(&ListFilter {
                expiring_before: Some(OffsetDateTime::now_utc() + Duration::days(150)),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            soon.iter()
                .map(|r| r.serial.to_string())
                .collect::<Vec<_>>(),
            ["01", "02"]
        );
        let soon_banks = store
            .list(&ListFilter {
                role: Some(Role::Bank),
                expiring_before: Some(OffsetDateTime::now_utc() + Duration::days(150)),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(soon_banks.len(), 1);
        assert_eq!(store.list(&ListFilter::default()).unwrap().len(), 3);
        assert_eq!(store.verify_audit().unwrap().entries, 3);
    }

    #[test]
    fn listings_page_on_every_index() {
        let store = SledStore::temporary().unwrap();
        for (i, role) in [Role::Bank, Role::Buyer, Role::Bank, Role::Bank, Role::Buyer]
            .into_iter()
            .enumerate()
        {
            let serial = format!("0{}", i + 1);
            store
                .record_issued(
                    &record(&serial, role, 10 * (i as i64 + 1)),
                    AuditEvent::new("issue", "t"),
                )
                .unwrap();
        }
        let walk = |filter: ListFilter, limit: usize| {
            let mut seen = Vec::new();
            let mut after = None;
            let mut pages = 0;
            loop {
                let page = store
                    .list_page(&ListFilter {
                        limit: Some(limit),
                        after: after.clone(),
                        ..filter.clone()
                    })
                    .unwrap();
                pages += 1;
                assert!(page.records.len() <= limit);
                seen.extend(page.records.iter().map(|r| r.serial.to_string()));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            (seen, pages)
        };
        let (all, pages) = walk(ListFilter::default(), 2);
        assert_eq!(all, ["01", "02", "03", "04", "05"]);
        assert_eq!(pages, 3);
        // Exactly one page: no `next` although the limit was reached.
        assert_eq!(walk(ListFilter::default(), 5), (all.clone(), 1));
        let banks = ListFilter {
            role: Some(Role::Bank),
            ..Default::default()
        };
        assert_eq!(walk(banks, 1).0, ["01", "03", "04"]);
        let soon = ListFilter {
            expiring_before: Some(OffsetDateTime::now_utc() + Duration::days(45)),
            ..Default::default()
        };
        assert_eq!(walk(soon, 2).0, ["01", "02", "03", "04"]);
    }

    impl CertificateRecord {
        fn clone_with_times(mut self, other: &CertificateRecord) -> CertificateRecord {
            self.not_before = other.not_before;
            self.not_after = other.not_after;
            self.issued_at = other.issued_at;
            self
        }
    }
}
