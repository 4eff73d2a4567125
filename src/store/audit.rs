//! The audit trail: an append-only, hash-chained log. Each entry carries the SHA-256 of
//! its predecessor, so `paypki audit verify` detects an edited, removed or reordered entry.

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use time::OffsetDateTime;

use super::StoreError;
use crate::model::{Role, Serial};

const HEAD_KEY: &[u8] = b"audit_head";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event to record. Never put secrets (tokens, keys) in `detail`.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    action: String,
    actor: String,
    serial: Option<Serial>,
    role: Option<Role>,
    detail: String,
}

impl AuditEvent {
    /// `action` such as `issue`, `revoke`, `token-create`; `actor` such as `cli`, `enroll`.
    pub fn new(action: &str, actor: &str) -> Self {
        AuditEvent {
            action: action.into(),
            actor: actor.into(),
            serial: None,
            role: None,
            detail: String::new(),
        }
    }
    /// The certificate concerned.
    pub fn serial(mut self, serial: &Serial) -> Self {
        self.serial = Some(serial.clone());
        self
    }
    /// The role concerned.
    pub fn role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }
    /// Free text for people.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// The hashed part of an entry; field order is the canonical serialization order.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EntryBody {
    seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    action: String,
    actor: String,
    serial: Option<Serial>,
    role: Option<Role>,
    detail: String,
    prev_hash: String,
}

/// One stored audit entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    #[serde(flatten)]
    body: EntryBodyPublic,
    /// SHA-256 (hex) of this entry's canonical body.
    pub hash: String,
}

/// The readable fields of an entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntryBodyPublic {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When it was written.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What happened.
    pub action: String,
    /// Through which path.
    pub actor: String,
    /// The certificate concerned.
    pub serial: Option<Serial>,
    /// The role concerned.
    pub role: Option<Role>,
    /// Details.
    pub detail: String,
    /// The previous entry's hash.
    pub prev_hash: String,
}

impl AuditEntry {
    /// The readable fields.
    pub fn body(&self) -> &EntryBodyPublic {
        &self.body
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// The result of walking the chain.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: u64,
    /// The last hash (publish it elsewhere to anchor the chain).
    pub head_hash: String,
    /// Problems found; empty when the chain is intact.
    pub problems: Vec<String>,
}

fn hash_body(body: &EntryBody) -> Result<String, StoreError> {
    let bytes = serde_json::to_vec(body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &bytes,
    )))
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn corrupt(e: impl std::fmt::Display) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(StoreError::Corrupt(e.to_string()))
}

/// Appends inside a transaction over (`audit`, `meta`).
pub(super) fn append(
    audit: &TransactionalTree,
    meta: &TransactionalTree,
    event: &AuditEvent,
) -> TxResult<AuditEntry> {
    let head: Head = match meta.get(HEAD_KEY)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(corrupt)?,
        None => Head {
            seq: 0,
            hash: GENESIS.into(),
        },
    };
    let body = EntryBody {
        seq: head.seq + 1,
        at: OffsetDateTime::now_utc(),
        action: event.action.clone(),
        actor: event.actor.clone(),
        serial: event.serial.clone(),
        role: event.role,
        detail: event.detail.clone(),
        prev_hash: head.hash,
    };
    let hash = hash_body(&body).map_err(ConflictableTransactionError::Abort)?;
    let entry = AuditEntry {
        body: EntryBodyPublic {
            seq: body.seq,
            at: body.at,
            action: body.action,
            actor: body.actor,
            serial: body.serial,
            role: body.role,
            detail: body.detail,
            prev_hash: body.prev_hash,
        },
        hash: hash.clone(),
    };
    let encoded = serde_json::to_vec(&entry).map_err(corrupt)?;
    audit.insert(&entry.body.seq.to_be_bytes(), encoded)?;
    let new_head = serde_json::to_vec(&Head {
        seq: entry.body.seq,
        hash,
    })
    .map_err(corrupt)?;
    meta.insert(HEAD_KEY, new_head)?;
    Ok(entry)
}

pub(super) fn verify(audit: &sled::Tree, meta: &sled::Tree) -> Result<AuditReport, StoreError> {
    let mut problems = Vec::new();
    let mut expected_prev = GENESIS.to_string();
    let mut expected_seq = 1u64;
    for item in audit.iter() {
        let (key, value) = item?;
        let entry: AuditEntry = match serde_json::from_slice(&value) {
            Ok(entry) => entry,
            Err(e) => {
                problems.push(format!(
                    "entry at key {}: does not decode: {e}",
                    hex::encode(&key)
                ));
                continue;
            }
        };
        let b = &entry.body;
        if key.as_ref() != b.seq.to_be_bytes() {
            problems.push(format!("entry {}: stored under the wrong key", b.seq));
        }
        if b.seq != expected_seq {
            problems.push(format!(
                "entry {}: expected sequence {expected_seq} (entries missing or reordered)",
                b.seq
            ));
        }
        if b.prev_hash != expected_prev {
            problems.push(format!("entry {}: previous-hash link broken", b.seq));
        }
        let recomputed = hash_body(&EntryBody {
            seq: b.seq,
            at: b.at,
            action: b.action.clone(),
            actor: b.actor.clone(),
            serial: b.serial.clone(),
            role: b.role,
            detail: b.detail.clone(),
            prev_hash: b.prev_hash.clone(),
        })?;
        if recomputed != entry.hash {
            problems.push(format!(
                "entry {}: content does not match its hash (edited)",
                b.seq
            ));
        }
        expected_prev = entry.hash.clone();
        expected_seq = b.seq + 1;
    }
    let entries = expected_seq - 1;
    match meta.get(HEAD_KEY)? {
        Some(bytes) => {
            let head: Head =
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if head.seq != entries || head.hash != expected_prev {
                problems.push(format!(
                    "chain head says entry {} but the log ends at entry {entries} (entries removed from the end?)",
                    head.seq
                ));
            }
        }
        None if entries > 0 => problems.push("chain head missing".into()),
        None => {}
    }
    Ok(AuditReport {
        entries,
        head_hash: expected_prev,
        problems,
    })
}

pub(super) fn entries(audit: &sled::Tree, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
    audit
        .iter()
        .take(limit)
        .map(|item| {
            let (_, value) = item?;
            serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::SledStore;
    use super::*;

    #[test]
    fn chain_detects_edits_and_truncation() {
        let store = SledStore::temporary().unwrap();
        for i in 0..3 {
            store
                .append_audit(AuditEvent::new("test", "unit").detail(format!("event {i}")))
                .unwrap();
        }
        let report = store.verify_audit().unwrap();
        assert_eq!(report.entries, 3);
        assert!(report.problems.is_empty(), "{:?}", report.problems);

        // Edit entry 2's detail in place.
        let key = 2u64.to_be_bytes();
        let mut entry: AuditEntry =
            serde_json::from_slice(&store.audit.get(key).unwrap().unwrap()).unwrap();
        entry.body.detail = "forged".into();
        store
            .audit
            .insert(key, serde_json::to_vec(&entry).unwrap())
            .unwrap();
        let report = store.verify_audit().unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("entry 2") && p.contains("edited")),
            "{:?}",
            report.problems
        );

        // Remove the last entry.
        let store = SledStore::temporary().unwrap();
        for _ in 0..2 {
            store.append_audit(AuditEvent::new("test", "unit")).unwrap();
        }
        store.audit.remove(2u64.to_be_bytes()).unwrap();
        let report = store.verify_audit().unwrap();
        assert!(!report.problems.is_empty());
    }
}
