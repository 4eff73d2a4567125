//! Revocation events (tree `revocation_events`: id (u64 BE) → JSON
//! [`RevocationEvent`]): every status change of a certificate, numbered in commit order,
//! written in the transaction that makes the change. `GET /v1/events/revocations` serves
//! them; a client resumes after the last id it saw (`Last-Event-ID`) without loss.

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use time::OffsetDateTime;

use super::{CertificateRecord, RevokedEntry, SledStore, StoreError};
use crate::model::{CertificateStatus, Serial};

const EVENTS_HEAD_KEY: &[u8] = b"revocation_events_head";

/// What happened to the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationEventKind {
    /// Revoked (a certificateHold included).
    Revoked,
    /// A certificateHold was lifted: good again.
    Unheld,
}

/// One numbered status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationEvent {
    /// Position in the stream, from 1, in commit order.
    pub id: u64,
    /// The certificate.
    pub serial: Serial,
    /// The issuing CA that signed it.
    pub issuer: u32,
    /// Revoked or unheld.
    pub kind: RevocationEventKind,
    /// RFC 5280 reason name, for a revocation.
    #[serde(default)]
    pub reason: Option<String>,
    /// revocationDate, for a revocation.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// invalidityDate, when given.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub invalidity_date: Option<OffsetDateTime>,
    /// When the change was committed.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

impl RevocationEvent {
    /// The event for a record whose status just changed (its id is set when appended).
    pub fn for_record(record: &CertificateRecord, at: OffsetDateTime) -> Self {
        let revocation = record.revocation.as_ref();
        RevocationEvent {
            id: 0,
            serial: record.serial.clone(),
            issuer: record.issuer,
            kind: match record.status {
                CertificateStatus::Revoked => RevocationEventKind::Revoked,
                CertificateStatus::Good => RevocationEventKind::Unheld,
            },
            reason: revocation.map(|r| r.reason.clone()),
            revoked_at: revocation.map(|r| r.revoked_at),
            invalidity_date: revocation.and_then(|r| r.invalidity_date),
            recorded_at: at,
        }
    }

    /// The event for a serial revoked without a certificate record.
    pub fn for_unrecorded(serial: &Serial, entry: &RevokedEntry, at: OffsetDateTime) -> Self {
        let instant = |s: i64| OffsetDateTime::from_unix_timestamp(s).ok();
        RevocationEvent {
            id: 0,
            serial: serial.clone(),
            issuer: entry.issuer,
            kind: RevocationEventKind::Revoked,
            reason: Some(entry.reason.name().to_string()),
            revoked_at: instant(entry.revoked_at),
            invalidity_date: entry.invalidity_date.and_then(instant),
            recorded_at: at,
        }
    }

    /// The event as stored (JSON).
    pub fn encode(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(self).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// An event as stored.
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// What the revocation event stream needs from storage.
pub trait RevocationEventStore: Send + Sync {
    /// Up to `limit` events with an id above `after`, oldest first.
    fn revocation_events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RevocationEvent>, StoreError>;
    /// The id of the newest event (0 when there is none).
    fn last_revocation_event(&self) -> Result<u64, StoreError>;
}

/// Appends inside a transaction over (`events`, `meta`), numbering the event.
pub(super) fn append(
    events: &TransactionalTree,
    meta: &TransactionalTree,
    mut event: RevocationEvent,
) -> Result<RevocationEvent, ConflictableTransactionError<StoreError>> {
    let last = meta
        .get(EVENTS_HEAD_KEY)?
        .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0);
    event.id = last + 1;
    let encoded = event
        .encode()
        .map_err(ConflictableTransactionError::Abort)?;
    events.insert(&event.id.to_be_bytes(), encoded)?;
    meta.insert(EVENTS_HEAD_KEY, &event.id.to_be_bytes())?;
    Ok(event)
}

/// Writes events copied from another store, keeping their ids.
pub(super) fn import(
    tree: &sled::Tree,
    meta: &sled::Tree,
    events: &[RevocationEvent],
) -> Result<(), StoreError> {
    for event in events {
        tree.insert(event.id.to_be_bytes(), event.encode()?)?;
    }
    if let Some(last) = events.iter().map(|e| e.id).max() {
        meta.insert(EVENTS_HEAD_KEY, &last.to_be_bytes())?;
    }
    Ok(())
}

impl RevocationEventStore for SledStore {
    fn revocation_events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RevocationEvent>, StoreError> {
        let start = after.saturating_add(1).to_be_bytes();
        self.revocation_events
            .range(start..)
            .take(limit)
            .map(|item| RevocationEvent::decode(&item?.1))
            .collect()
    }

    fn last_revocation_event(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(EVENTS_HEAD_KEY)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }
}
