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

    /// An entry from its stored parts (a compact form: `record`).
    pub(super) fn from_parts(body: EntryBodyPublic, hash: String) -> Self {
        AuditEntry { body, hash }
    }
}

/// The end of the chain: the last entry's sequence number and hash (genesis: 0 and
/// zeros). Every backend keeps one and moves it in the transaction that appends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The last entry's sequence number (0 for an empty chain).
    pub seq: u64,
    /// The last entry's hash.
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> Self {
        ChainHead {
            seq: 0,
            hash: GENESIS.into(),
        }
    }
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

impl AuditEntry {
    /// The entry that follows `head`, for `event` at `at`: what every backend appends.
    pub fn following(
        head: &ChainHead,
        event: &AuditEvent,
        at: OffsetDateTime,
    ) -> Result<AuditEntry, StoreError> {
        let body = EntryBody {
            seq: head.seq + 1,
            at,
            action: event.action.clone(),
            actor: event.actor.clone(),
            serial: event.serial.clone(),
            role: event.role,
            detail: event.detail.clone(),
            prev_hash: head.hash.clone(),
        };
        let hash = hash_body(&body)?;
        Ok(AuditEntry {
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
            hash,
        })
    }

    /// The chain head after this entry.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.body.seq,
            hash: self.hash.clone(),
        }
    }

    /// The entry as stored (JSON).
    pub fn encode(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(self).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// An entry as stored.
    pub fn decode(bytes: &[u8]) -> Result<AuditEntry, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// Checks a chain entry by entry, oldest first; the same walk for every backend.
#[derive(Debug)]
pub struct ChainCheck {
    expected_prev: String,
    expected_seq: u64,
    problems: Vec<String>,
}

impl Default for ChainCheck {
    fn default() -> Self {
        ChainCheck {
            expected_prev: GENESIS.into(),
            expected_seq: 1,
            problems: Vec::new(),
        }
    }
}

impl ChainCheck {
    /// Records a stored entry that does not decode.
    pub fn undecodable(&mut self, position: &str, error: impl std::fmt::Display) {
        self.problems
            .push(format!("entry at {position}: does not decode: {error}"));
    }

    /// Checks the next entry; `stored_seq` is the position it was stored under.
    pub fn entry(&mut self, stored_seq: u64, entry: &AuditEntry) -> Result<(), StoreError> {
        let b = &entry.body;
        if stored_seq != b.seq {
            self.problems
                .push(format!("entry {}: stored under the wrong key", b.seq));
        }
        if b.seq != self.expected_seq {
            self.problems.push(format!(
                "entry {}: expected sequence {} (entries missing or reordered)",
                b.seq, self.expected_seq
            ));
        }
        if b.prev_hash != self.expected_prev {
            self.problems
                .push(format!("entry {}: previous-hash link broken", b.seq));
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
            self.problems.push(format!(
                "entry {}: content does not match its hash (edited)",
                b.seq
            ));
        }
        self.expected_prev = entry.hash.clone();
        self.expected_seq = b.seq + 1;
        Ok(())
    }

    /// The report, comparing the walk with the stored head.
    pub fn finish(mut self, head: Option<ChainHead>) -> AuditReport {
        let entries = self.expected_seq - 1;
        match head {
            Some(head) if head.seq != entries || head.hash != self.expected_prev => {
                self.problems.push(format!(
                    "chain head says entry {} but the log ends at entry {entries} (entries removed from the end?)",
                    head.seq
                ));
            }
            Some(_) => {}
            None if entries > 0 => self.problems.push("chain head missing".into()),
            None => {}
        }
        AuditReport {
            entries,
            head_hash: self.expected_prev,
            problems: self.problems,
        }
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn corrupt(e: impl std::fmt::Display) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(StoreError::Corrupt(e.to_string()))
}

/// The sled chain head, from `meta`.
pub(super) fn stored_head(meta: &sled::Tree) -> Result<Option<ChainHead>, StoreError> {
    meta.get(HEAD_KEY)?
        .map(|bytes| serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// Appends inside a transaction over (`audit`, `meta`).
pub(super) fn append(
    audit: &TransactionalTree,
    meta: &TransactionalTree,
    event: &AuditEvent,
) -> TxResult<AuditEntry> {
    let head: ChainHead = match meta.get(HEAD_KEY)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(corrupt)?,
        None => ChainHead::genesis(),
    };
    let entry = AuditEntry::following(&head, event, OffsetDateTime::now_utc())
        .map_err(ConflictableTransactionError::Abort)?;
    let encoded =
        super::record::encode_audit(&entry).map_err(ConflictableTransactionError::Abort)?;
    audit.insert(&entry.body.seq.to_be_bytes(), encoded)?;
    let new_head = serde_json::to_vec(&entry.head()).map_err(corrupt)?;
    meta.insert(HEAD_KEY, new_head)?;
    Ok(entry)
}

/// Writes entries copied from another store as they are (their hashes stay valid) and
/// moves the head to the last one.
pub(super) fn import(
    audit: &sled::Tree,
    meta: &sled::Tree,
    entries: &[AuditEntry],
) -> Result<(), StoreError> {
    for entry in entries {
        audit.insert(
            entry.body.seq.to_be_bytes(),
            super::record::encode_audit(entry)?,
        )?;
    }
    if let Some(last) = entries.last() {
        let head =
            serde_json::to_vec(&last.head()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        meta.insert(HEAD_KEY, head)?;
    }
    Ok(())
}

pub(super) fn verify(audit: &sled::Tree, meta: &sled::Tree) -> Result<AuditReport, StoreError> {
    let mut check = ChainCheck::default();
    for item in audit.iter() {
        let (key, value) = item?;
        match super::record::decode_audit(&value) {
            Ok(entry) => {
                let stored = <[u8; 8]>::try_from(key.as_ref())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                check.entry(stored, &entry)?;
            }
            Err(e) => check.undecodable(&format!("key {}", hex::encode(&key)), e),
        }
    }
    Ok(check.finish(stored_head(meta)?))
}

pub(super) fn entries(audit: &sled::Tree, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
    audit
        .iter()
        .take(limit)
        .map(|item| {
            let (_, value) = item?;
            super::record::decode_audit(&value)
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
        let stored = store.audit.get(key).unwrap().unwrap();
        assert_eq!(stored.first(), Some(&1), "the compact form");
        let mut entry = super::super::record::decode_audit(&stored).unwrap();
        entry.body.detail = "forged".into();
        store
            .audit
            .insert(key, super::super::record::encode_audit(&entry).unwrap())
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

    #[test]
    fn the_compact_form_rebuilds_the_entry_and_json_entries_still_read() {
        let store = SledStore::temporary().unwrap();
        let serial: Serial = "7f01".parse().unwrap();
        for event in [
            AuditEvent::new("issue", "enroll:token 1234")
                .serial(&serial)
                .role(Role::Merchant)
                .detail("CN=Shop via enroll (ecdsa-p256)"),
            AuditEvent::new("init", "cli"),
        ] {
            store.append_audit(event).unwrap();
        }
        let json_size: usize = store
            .audit_entries(10)
            .unwrap()
            .iter()
            .map(|e| e.encode().unwrap().len())
            .sum();
        let compact_size: usize = store.audit.iter().map(|i| i.unwrap().1.len()).sum();
        assert!(
            compact_size * 10 < json_size * 6,
            "{compact_size} vs {json_size}"
        );
        for entry in store.audit_entries(10).unwrap() {
            let compact = super::super::record::encode_audit(&entry).unwrap();
            let back = super::super::record::decode_audit(&compact).unwrap();
            assert_eq!(back.encode().unwrap(), entry.encode().unwrap());
            // Every cut of the compact form, and a byte too many, is refused.
            super::super::record::tests::assert_cut_or_longer_is_corrupt(
                &compact,
                super::super::record::decode_audit,
            );
        }
        // An entry as earlier versions wrote it (JSON) reads, and the chain holds.
        let first = store.audit_entries(1).unwrap().remove(0);
        store
            .audit
            .insert(1u64.to_be_bytes(), first.encode().unwrap())
            .unwrap();
        let report = store.verify_audit().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.entries, 2);
        // One that does not rebuild exactly (a time with an offset) stays JSON.
        let mut odd = first.clone();
        odd.body.at = odd.body.at.to_offset(time::macros::offset!(+2));
        assert_eq!(
            super::super::record::encode_audit(&odd).unwrap(),
            odd.encode().unwrap()
        );
    }
}
