//! The issuance transparency log's storage (see `crate::transparency`).
//!
//! sled trees:
//! - `tlog_entries`: leaf index (u64 BE) → `len ‖ serial ‖ entry` (the serial the entry
//!   is about, then the encoded [`LogEntry`] the leaf hash is taken over). A certificate
//!   entry is kept without its DER (its first 13 bytes: type, timestamp, issuer); the DER
//!   is read from `certificates` when the entry is served, so the log does not store each
//!   certificate a second time (about 700 bytes of the store's footprint per certificate).
//! - the hashes (every leaf hash and complete-subtree root) are in a file beside sled,
//!   `transparency.hashes` ([`super::log_hashes`], layout 5; `tlog_nodes` in sled
//!   before), written after each transaction that appends, under the log's writer lock,
//!   so a proof or tree head for any size reads O(log n) of them and never re-hashes
//!   leaves.
//! - `tlog_index`: `h ‖ leaf hash` → leaf index (the first entry with that hash); and
//!   `s ‖ len ‖ serial ‖ leaf index` → entry type only for serials revoked without a
//!   certificate record (rare: after a restore). A certificate's entry is found by its
//!   leaf hash, made again from its record, so issuance and revocation write no serial
//!   index entry (each cost about 266 bytes on disk: docs/PERFORMANCE.md).
//! - `meta`: `tlog_size` (u64 BE: the entries committed), `tlog_hashed` (how many
//!   leaves had durable hashes when the last appending transaction began: the open
//!   hashes again the ones after it), `tlog_hashes_id` (the hash file's identifier),
//!   and `tlog_complete` once every certificate and revocation the store held when this
//!   version first opened it is in the log.
//!
//! Entries are appended inside the transaction that records the certificate or the
//! status change, so the log and the store never disagree, even across a crash; the
//! transactions already serialize on `meta` (the audit head), so leaf indexes are dense
//! and in commit order. Every such transaction runs inside
//! [`SledStore::append_to_log`], which holds the log's writer lock from before the
//! transaction until the hashes of what it appended are written (`log_hashes` says when
//! they are durable): readers see the log's size as the leaves hashed, never an entry
//! without its hashes.

use std::cell::RefCell;
use std::collections::BTreeMap;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::{CertificateRecord, RevocationEvent, RevocationEventKind, SledStore, StoreError};
use crate::model::{CertificateStatus, RevocationReason, Serial};
use crate::transparency::entry::{millis, LogEntry};
use crate::transparency::tree::{leaf_hash, Hash};

pub(super) const SIZE_KEY: &[u8] = b"tlog_size";
pub(super) const COMPLETE_KEY: &[u8] = b"tlog_complete";
/// `meta`: leaves whose hashes were durable when the last appending transaction began.
pub(super) const HASHED_KEY: &[u8] = b"tlog_hashed";
/// `meta`: the identifier in the hash file's header: a file that is not this store's is
/// rebuilt.
pub(super) const HASHES_ID_KEY: &[u8] = b"tlog_hashes_id";
/// Entries hashed at a time when the hash file is rebuilt at open.
const REHASH_BATCH: u64 = 8_192;
/// The stored part of a certificate entry: type (1), timestamp (8), issuer (4); the
/// DER's length (3) and the DER follow in the encoding and come from `certificates`.
const CERTIFICATE_HEADER: usize = 13;
/// The entry type byte of a certificate entry.
const CERTIFICATE_TYPE: u8 = 1;
/// Entries per transaction when catching up (an earlier version's store, an import).
const CATCH_UP_BATCH: usize = 1_000;

/// What the transparency log needs from storage (reads; appends happen inside the
/// transactions of [`super::CertificateStore`] and [`super::RevocationStore`]).
pub trait TransparencyStore: Send + Sync {
    /// The number of entries.
    fn log_size(&self) -> Result<u64, StoreError>;
    /// The encoded entries `[start, end)` (fewer if the log is shorter).
    fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Complete-subtree roots `(level, index)`; `None` for one not (yet) stored.
    fn log_nodes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Hash>>, StoreError>;
    /// The index of the entry with this leaf hash.
    fn log_index_of_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StoreError>;
    /// The index of the certificate entry of this serial.
    fn log_index_of_certificate(&self, serial: &Serial) -> Result<Option<u64>, StoreError>;
}

/// The entry for an issued certificate.
pub(super) fn certificate_entry(record: &CertificateRecord) -> LogEntry {
    LogEntry::Certificate {
        timestamp: millis(record.issued_at),
        issuer: record.issuer,
        der: record.der.clone(),
    }
}

/// The entry for a status change.
pub(super) fn event_entry(event: &RevocationEvent) -> LogEntry {
    let timestamp = millis(event.recorded_at);
    match event.kind {
        RevocationEventKind::Revoked => LogEntry::Revocation {
            timestamp,
            issuer: event.issuer,
            serial: event.serial.as_bytes().to_vec(),
            reason: event
                .reason
                .as_deref()
                .and_then(|r| r.parse().ok())
                .unwrap_or(RevocationReason::Unspecified),
            revocation_date: event.revoked_at.map_or(timestamp, millis),
            invalidity_date: event.invalidity_date.map(millis),
        },
        RevocationEventKind::Unheld => LogEntry::HoldLifted {
            timestamp,
            issuer: event.issuer,
            serial: event.serial.as_bytes().to_vec(),
        },
    }
}

/// The revocation entry of a revoked record, as the catch-up writes it (the time of
/// the entry is the revocation's).
pub(super) fn record_revocation_entry(record: &CertificateRecord) -> Result<LogEntry, StoreError> {
    let revocation = record
        .revocation
        .as_ref()
        .ok_or_else(|| StoreError::Corrupt("revoked without revocation".into()))?;
    let at = millis(revocation.revoked_at);
    Ok(LogEntry::Revocation {
        timestamp: at,
        issuer: record.issuer,
        serial: record.serial.as_bytes().to_vec(),
        reason: revocation
            .reason
            .parse()
            .unwrap_or(RevocationReason::Unspecified),
        revocation_date: at,
        invalidity_date: revocation.invalidity_date.map(millis),
    })
}

/// The revocation entry of a serial revoked without a record, as the catch-up writes it.
pub(super) fn unrecorded_revocation_entry(serial: &[u8], entry: &super::RevokedEntry) -> LogEntry {
    let ms = |s: i64| u64::try_from(s.saturating_mul(1000)).unwrap_or(0);
    LogEntry::Revocation {
        timestamp: ms(entry.revoked_at),
        issuer: entry.issuer,
        serial: serial.to_vec(),
        reason: entry.reason,
        revocation_date: ms(entry.revoked_at),
        invalidity_date: entry.invalidity_date.map(ms),
    }
}

/// The entry type byte of the serial index.
pub(super) fn kind_code(entry: &LogEntry) -> u8 {
    match entry {
        LogEntry::Certificate { .. } => 1,
        LogEntry::Revocation { .. } => 2,
        LogEntry::HoldLifted { .. } => 3,
    }
}

fn node_key(level: u8, index: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = level;
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

fn hash_key(leaf: &Hash) -> Vec<u8> {
    let mut key = Vec::with_capacity(33);
    key.push(b'h');
    key.extend_from_slice(leaf);
    key
}

fn serial_prefix(serial: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(serial.len() + 10);
    key.push(b's');
    key.push(serial.len() as u8);
    key.extend_from_slice(serial);
    key
}

fn u64_of(bytes: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt("transparency log number".into()))
}

/// What the transactions run by [`SledStore::append_to_log`] appended: each leaf's hash
/// by its index (a transaction sled runs again appends at the same indexes again), and
/// the mark they write.
#[derive(Debug)]
pub(super) struct Appended {
    leaves: RefCell<BTreeMap<u64, Hash>>,
    /// Leaves with durable hashes before the transaction.
    hashed: u64,
}

/// The log's trees inside a transaction.
pub(super) struct LogTx<'a> {
    pub(super) entries: &'a TransactionalTree,
    pub(super) index: &'a TransactionalTree,
    pub(super) meta: &'a TransactionalTree,
    pub(super) appended: &'a Appended,
}

type Tx<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn corrupt(what: &str) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(StoreError::Corrupt(what.into()))
}

impl LogTx<'_> {
    /// Appends `entry` (about `serial`) as the next leaf: the entry, the index and the
    /// new size (its hashes are written after the transaction).
    pub(super) fn append(&self, serial: &[u8], entry: &LogEntry) -> Tx<u64> {
        let size = match self.meta.get(SIZE_KEY)? {
            Some(bytes) => u64_of(&bytes).map_err(ConflictableTransactionError::Abort)?,
            None => 0,
        };
        let encoded = entry.encode();
        let leaf = leaf_hash(&encoded);
        let stored = match entry {
            LogEntry::Certificate { .. } => encoded.get(..CERTIFICATE_HEADER).unwrap_or(&encoded),
            LogEntry::Revocation { .. } | LogEntry::HoldLifted { .. } => &encoded[..],
        };
        let mut value = Vec::with_capacity(1 + serial.len() + stored.len());
        value.push(serial.len() as u8);
        value.extend_from_slice(serial);
        value.extend_from_slice(stored);
        self.entries.insert(&size.to_be_bytes(), value)?;
        // The hashes go to their file once the transaction commits.
        self.appended.leaves.borrow_mut().insert(size, leaf);
        self.meta
            .insert(HASHED_KEY, &self.appended.hashed.to_be_bytes())?;
        let by_hash = hash_key(&leaf);
        if self.index.get(&by_hash)?.is_none() {
            self.index.insert(by_hash, &size.to_be_bytes())?;
        }
        self.meta.insert(SIZE_KEY, &(size + 1).to_be_bytes())?;
        Ok(size)
    }

    /// Indexes the entry at `at` under its serial: for a serial with no certificate
    /// record, whose entries cannot be found from a record.
    pub(super) fn index_serial(&self, serial: &[u8], at: u64, entry: &LogEntry) -> Tx<()> {
        let mut by_serial = serial_prefix(serial);
        by_serial.extend_from_slice(&at.to_be_bytes());
        self.index.insert(by_serial, &[kind_code(entry)])?;
        Ok(())
    }
}

impl LogTx<'_> {
    /// Records a status change: its revocation event (numbered in commit order) and the
    /// log entry made from it, in the caller's transaction.
    pub(super) fn append_event(
        &self,
        events: &TransactionalTree,
        event: RevocationEvent,
    ) -> Tx<RevocationEvent> {
        let appended = super::events::append(events, self.meta, event)?;
        self.append(appended.serial.as_bytes(), &event_entry(&appended))?;
        Ok(appended)
    }

    /// [`LogTx::append_event`] for a serial without a certificate record: its entry is
    /// also indexed under the serial.
    pub(super) fn append_unrecorded_event(
        &self,
        events: &TransactionalTree,
        event: RevocationEvent,
    ) -> Tx<RevocationEvent> {
        let appended = super::events::append(events, self.meta, event)?;
        let entry = event_entry(&appended);
        let at = self.append(appended.serial.as_bytes(), &entry)?;
        self.index_serial(appended.serial.as_bytes(), at, &entry)?;
        Ok(appended)
    }
}

impl SledStore {
    /// Runs `transaction`, which appends to the log through [`LogTx`]s made with the
    /// given [`Appended`], under the log's writer lock; then writes the hashes of what
    /// it appended before returning (durable once the file is next synced; until then
    /// the open hashes them again from their entries).
    pub(super) fn append_to_log<T>(
        &self,
        transaction: impl FnOnce(&Appended) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut writer = self.hashes.writer()?;
        let appended = Appended {
            leaves: RefCell::default(),
            hashed: writer.synced(),
        };
        let out = transaction(&appended)?;
        let committed = self.committed_log_size()?;
        let mut leaves = appended.leaves.into_inner();
        let mut hashes = Vec::new();
        for index in writer.size()..committed {
            match leaves.remove(&index) {
                Some(leaf) => hashes.push(leaf),
                // Committed by a transaction whose hashes could not be written (an I/O
                // error): hashed again from its entry.
                None => hashes.extend(self.leaf_hashes(index, index + 1)?),
            }
        }
        self.hashes.extend(&mut writer, &hashes)?;
        Ok(out)
    }

    /// Runs `work` over the log's trees in one transaction (see
    /// [`SledStore::append_to_log`]).
    pub(super) fn log_transaction<T>(
        &self,
        work: impl Fn(&LogTx<'_>) -> Tx<T>,
    ) -> Result<T, StoreError> {
        self.append_to_log(|appended| {
            Ok(
                (&self.tlog_entries, &self.tlog_index, &self.meta).transaction(
                    |(entries, index, meta)| {
                        work(&LogTx {
                            entries,
                            index,
                            meta,
                            appended,
                        })
                    },
                )?,
            )
        })
    }

    /// The entries committed (the hashed ones may lag while a writer holds the lock).
    fn committed_log_size(&self) -> Result<u64, StoreError> {
        match self.meta.get(SIZE_KEY)? {
            Some(bytes) => u64_of(&bytes),
            None => Ok(0),
        }
    }

    /// The leaf hashes of entries `[start, end)`, from the entries.
    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        let mut leaves = Vec::new();
        for item in self
            .tlog_entries
            .range(start.to_be_bytes()..end.to_be_bytes())
        {
            let (key, value) = item?;
            if u64_of(&key)? != start + leaves.len() as u64 {
                return Err(StoreError::Corrupt(
                    "a transparency log entry is missing".into(),
                ));
            }
            let (serial, stored) = split_value(&value)?;
            leaves.push(leaf_hash(&self.full_entry(serial, stored)?));
        }
        if leaves.len() as u64 != end.saturating_sub(start) {
            return Err(StoreError::Corrupt(
                "a transparency log entry is missing".into(),
            ));
        }
        Ok(leaves)
    }

    /// At open: resumes the hash file from the leaves it holds durably and hashes the
    /// rest from their entries (what a crash interrupted; everything when the file is
    /// missing, cut, another store's, or the hashes were in sled: layout 4).
    pub(super) fn open_log_hashes(&self) -> Result<(), StoreError> {
        let committed = self.committed_log_size()?;
        let mut writer = self.hashes.writer()?;
        let id = self.hashes.id();
        let ours = self.meta.get(HASHES_ID_KEY)?.as_deref() == Some(&id[..]);
        let marked = match self.meta.get(HASHED_KEY)? {
            Some(bytes) => u64_of(&bytes)?.min(committed),
            None => 0,
        };
        let durable = if ours && self.hashes.holds(marked)? {
            marked
        } else {
            0
        };
        self.hashes.resume(&mut writer, durable)?;
        if committed - durable > REHASH_BATCH {
            tracing::info!(
                entries = committed - durable,
                file = %self.path.join(super::log_hashes::FILE_NAME).display(),
                "hashing the transparency log's entries into its hash file"
            );
        }
        let mut start = durable;
        while start < committed {
            let end = committed.min(start + REHASH_BATCH);
            let leaves = self.leaf_hashes(start, end)?;
            self.hashes.extend(&mut writer, &leaves)?;
            start = end;
        }
        self.hashes.sync(&mut writer)?;
        if !ours {
            self.meta.insert(HASHES_ID_KEY, &id[..])?;
        }
        if marked != committed || !ours {
            self.meta.insert(HASHED_KEY, &committed.to_be_bytes())?;
            self.flush()?;
        }
        self.drop_sled_hashes(committed)
    }

    /// Layout 4 kept the hashes in sled (`tlog_nodes`): once the file holds them, its
    /// subtree roots are checked against sled's and the tree is dropped.
    fn drop_sled_hashes(&self, size: u64) -> Result<(), StoreError> {
        const OLD_TREE: &[u8] = b"tlog_nodes";
        if !self.db.tree_names().iter().any(|name| name == OLD_TREE) {
            return Ok(());
        }
        let old = self.db.open_tree(OLD_TREE)?;
        // The subtree roots that make up the tree of `size` leaves: they cover every hash.
        let mut recorder = crate::transparency::tree::NodeRecorder::default();
        let Ok(_) = crate::transparency::tree::Frontier::load(&mut recorder, size);
        let wanted = recorder.wanted;
        let ours = self.hashes.read(&wanted, size)?;
        for ((level, index), hash) in wanted.iter().zip(ours) {
            let theirs = old.get(node_key(*level, *index))?;
            if theirs.as_deref() != hash.as_ref().map(|h| &h[..]) {
                return Err(StoreError::Corrupt(format!(
                    "the transparency log's hashes made from its entries differ from the \
                     ones stored with them (level {level}, index {index})"
                )));
            }
        }
        drop(old);
        self.db.drop_tree(OLD_TREE)?;
        Ok(())
    }

    /// Whether the log holds this entry (by its leaf hash).
    fn has_log_entry(&self, entry: &LogEntry) -> Result<bool, StoreError> {
        Ok(self
            .tlog_index
            .contains_key(hash_key(&leaf_hash(&entry.encode())))?)
    }

    /// Whether the log holds an entry indexed under this serial (one without a record).
    fn has_serial_entry(&self, serial: &[u8]) -> Result<bool, StoreError> {
        Ok(self
            .tlog_index
            .scan_prefix(serial_prefix(serial))
            .next()
            .transpose()?
            .is_some())
    }

    /// Appends to the log what the store holds and the log lacks: every certificate of
    /// a store from before the log existed (and each revocation: a revoked
    /// certificate's, or a serial revoked without a record), in time order, in batches
    /// of one transaction each. Idempotent: a crash half-way leaves whole batches, and
    /// the next open appends the rest. Returns how many entries it appended.
    pub(super) fn catch_up_log(&self) -> Result<u64, StoreError> {
        if self.meta.get(COMPLETE_KEY)?.is_some() {
            return Ok(0);
        }
        // (time, order, serial): certificates before revocations at the same instant.
        let mut missing: Vec<(u64, u8, Vec<u8>)> = Vec::new();
        for item in self.certificates.iter() {
            let (serial, value) = item?;
            let record = self.decode(&value)?;
            // A certificate in the log had its revocation logged with it.
            if self.has_log_entry(&certificate_entry(&record))? {
                continue;
            }
            missing.push((millis(record.issued_at), 0, serial.to_vec()));
            if record.status == CertificateStatus::Revoked {
                if let Some(revocation) = &record.revocation {
                    missing.push((millis(revocation.revoked_at), 1, serial.to_vec()));
                }
            }
        }
        for item in self.revoked.iter() {
            let (serial, value) = item?;
            if self.certificates.contains_key(&serial)? || self.has_serial_entry(&serial)? {
                continue;
            }
            let entry = super::RevokedEntry::decode(&value)?;
            // One a catch-up appended (a crash half-way) is not indexed by serial.
            if self.has_log_entry(&unrecorded_revocation_entry(&serial, &entry))? {
                continue;
            }
            let at = u64::try_from(entry.revoked_at.saturating_mul(1000)).unwrap_or(0);
            missing.push((at, 1, serial.to_vec()));
        }
        missing.sort();
        let appended = missing.len() as u64;
        if appended > 0 {
            tracing::info!(
                entries = appended,
                "adding the certificates and revocations of this store to the transparency log"
            );
        }
        for chunk in missing.chunks(CATCH_UP_BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (_, order, serial) in chunk {
                entries.push((serial.clone(), self.catch_up_entry(*order, serial)?));
            }
            self.log_transaction(|log| {
                for (serial, entry) in &entries {
                    log.append(serial, entry)?;
                }
                Ok(())
            })?;
        }
        self.meta.insert(COMPLETE_KEY, &[1])?;
        self.flush()?;
        Ok(appended)
    }

    /// The entry the catch-up appends for a serial: its certificate (order 0) or its
    /// current revocation (order 1).
    fn catch_up_entry(&self, order: u8, serial: &[u8]) -> Result<LogEntry, StoreError> {
        let record = match self.certificates.get(serial)? {
            Some(value) => Some(self.decode(&value)?),
            None => None,
        };
        match (order, record) {
            (0, Some(record)) => Ok(certificate_entry(&record)),
            (_, Some(record)) => record_revocation_entry(&record),
            (_, None) => {
                let value = self
                    .revoked
                    .get(serial)?
                    .ok_or_else(|| StoreError::Corrupt("revoked entry vanished".into()))?;
                Ok(unrecorded_revocation_entry(
                    serial,
                    &super::RevokedEntry::decode(&value)?,
                ))
            }
        }
    }

    /// Every entry with the serial it is about, in index order (`db copy`).
    pub(super) fn export_log(
        &self,
        visit: &mut dyn FnMut(u64, Vec<u8>, Vec<u8>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for item in self.tlog_entries.iter() {
            let (key, value) = item?;
            let (serial, stored) = split_value(&value)?;
            visit(
                u64_of(&key)?,
                serial.to_vec(),
                self.full_entry(serial, stored)?,
            )?;
        }
        Ok(())
    }

    /// Appends copied entries, which must continue the log exactly (`db copy`).
    pub(super) fn import_log(&self, entries: &[(u64, Vec<u8>, Vec<u8>)]) -> Result<(), StoreError> {
        let decoded = entries
            .iter()
            .map(|(index, serial, entry)| {
                LogEntry::decode(entry)
                    .map(|e| (*index, serial.clone(), e))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // A serial's certificate entry comes before its other entries; those of a serial
        // without one (revoked without a record) are indexed by serial.
        let mut certified = std::collections::HashSet::new();
        let mut unrecorded = Vec::with_capacity(decoded.len());
        for (_, serial, entry) in &decoded {
            let alone = match entry {
                LogEntry::Certificate { .. } => {
                    certified.insert(serial.as_slice());
                    false
                }
                _ => {
                    !certified.contains(serial.as_slice())
                        && !self.certificates.contains_key(serial)?
                }
            };
            unrecorded.push(alone);
        }
        self.log_transaction(|log| {
            for ((index, serial, entry), alone) in decoded.iter().zip(&unrecorded) {
                let at = log.append(serial, entry)?;
                if at != *index {
                    return Err(corrupt("copied log entries do not continue the log"));
                }
                if *alone {
                    log.index_serial(serial, at, entry)?;
                }
            }
            Ok(())
        })
    }
}

impl SledStore {
    /// The encoded entry from its stored form: a certificate entry gets back its DER
    /// (its length as `uint24`, then the bytes) from the certificate's record.
    fn full_entry(&self, serial: &[u8], stored: &[u8]) -> Result<Vec<u8>, StoreError> {
        if stored.len() != CERTIFICATE_HEADER || stored.first() != Some(&CERTIFICATE_TYPE) {
            return Ok(stored.to_vec());
        }
        let value = self.certificates.get(serial)?.ok_or_else(|| {
            StoreError::Corrupt("a transparency log entry's certificate is missing".into())
        })?;
        let der = self.decode(&value)?.der;
        let len = u32::try_from(der.len())
            .ok()
            .filter(|len| *len <= 0x00ff_ffff)
            .ok_or_else(|| StoreError::Corrupt("a logged certificate is too long".into()))?;
        let mut entry = Vec::with_capacity(CERTIFICATE_HEADER + 3 + der.len());
        entry.extend_from_slice(stored);
        entry.extend_from_slice(len.to_be_bytes().get(1..).unwrap_or_default());
        entry.extend_from_slice(&der);
        Ok(entry)
    }
}

fn split_value(value: &[u8]) -> Result<(&[u8], &[u8]), StoreError> {
    let corrupt = || StoreError::Corrupt("transparency log entry".into());
    let (len, rest) = value.split_first().ok_or_else(corrupt)?;
    if rest.len() < usize::from(*len) {
        return Err(corrupt());
    }
    Ok(rest.split_at(usize::from(*len)))
}

impl TransparencyStore for SledStore {
    fn log_size(&self) -> Result<u64, StoreError> {
        // The leaves whose hashes are written: a tree head never names an entry whose
        // hashes are still being written.
        Ok(self.hashes.size())
    }

    fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.tlog_entries
            .range(start.to_be_bytes()..end.to_be_bytes())
            .map(|item| {
                let (_, value) = item?;
                let (serial, stored) = split_value(&value)?;
                self.full_entry(serial, stored)
            })
            .collect()
    }

    fn log_nodes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Hash>>, StoreError> {
        self.hashes.read(wanted, self.hashes.size())
    }

    fn log_index_of_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StoreError> {
        // An entry committed but not yet hashed is not in the log readers see.
        Ok(self
            .tlog_index
            .get(hash_key(leaf))?
            .map(|v| u64_of(&v))
            .transpose()?
            .filter(|index| *index < self.hashes.size()))
    }

    fn log_index_of_certificate(&self, serial: &Serial) -> Result<Option<u64>, StoreError> {
        // Found by its leaf hash, made again from the record (no serial index).
        match self.certificates.get(serial.as_bytes())? {
            Some(value) => {
                let entry = certificate_entry(&self.decode(&value)?);
                self.log_index_of_leaf(&leaf_hash(&entry.encode()))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::*;
    use crate::model::Role;
    use crate::store::{
        AuditEvent, CertificateStore, RevocationRecord, RevocationStore, StoreReader,
    };
    use crate::transparency::tree::{root, MemoryTree};

    #[test]
    fn issuance_and_status_changes_append_and_nodes_match_a_memory_tree() {
        let store = SledStore::temporary().unwrap();
        let mut memory = MemoryTree::default();
        for i in 1..=9u8 {
            let mut r = record(&format!("{i:02x}"), Role::Bank, 30);
            // Distinct, as real certificates are (the serial is in the DER): a
            // certificate's entry is found by its leaf hash.
            r.der = vec![0x30, i];
            let index = store
                .record_issued(&r, AuditEvent::new("issue", "t"))
                .unwrap();
            assert_eq!(index, u64::from(i - 1));
        }
        let serial: Serial = "03".parse().unwrap();
        store
            .revoke(
                &serial,
                RevocationRecord {
                    reason: "certificateHold".into(),
                    revoked_at: time::OffsetDateTime::now_utc(),
                    invalidity_date: None,
                },
                AuditEvent::new("revoke", "t"),
            )
            .unwrap();
        store
            .unhold(&serial, AuditEvent::new("unhold", "t"))
            .unwrap();
        assert_eq!(store.log_size().unwrap(), 11);
        let entries = store.log_entries(0, 100).unwrap();
        assert_eq!(entries.len(), 11);
        for e in &entries {
            memory.push(leaf_hash(e));
        }
        let kinds: Vec<&str> = entries
            .iter()
            .map(|e| LogEntry::decode(e).unwrap().kind())
            .collect();
        assert_eq!(kinds[9..], ["revocation", "hold-lifted"]);
        let mut fetched = crate::transparency::tree::FetchedNodes::default();
        let mut recorder = crate::transparency::tree::NodeRecorder::default();
        for size in 1..=11 {
            let _ = root(&mut recorder, size);
        }
        let nodes = store.log_nodes(&recorder.wanted).unwrap();
        for (id, node) in recorder.wanted.iter().zip(nodes) {
            fetched.0.insert(*id, node.unwrap());
        }
        for size in 1..=11 {
            assert_eq!(
                root(&mut fetched, size).unwrap(),
                root(&mut memory, size).unwrap()
            );
        }
        assert_eq!(store.log_index_of_certificate(&serial).unwrap(), Some(2));
        // A certificate entry is stored without its DER, and served with it.
        let stored = store.tlog_entries.get(2u64.to_be_bytes()).unwrap().unwrap();
        assert_eq!(stored.len(), 1 + 1 + CERTIFICATE_HEADER);
        match LogEntry::decode(&entries[2]).unwrap() {
            LogEntry::Certificate { der, .. } => {
                assert_eq!(der, store.certificate(&serial).unwrap().unwrap().der)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            store.log_index_of_leaf(&leaf_hash(&entries[10])).unwrap(),
            Some(10)
        );
    }

    #[test]
    fn a_store_from_before_the_log_is_caught_up_once() {
        let store = SledStore::temporary().unwrap();
        for i in 1..=5u8 {
            store
                .record_issued(
                    &record(&format!("{i:02x}"), Role::Bank, 30),
                    AuditEvent::new("issue", "t"),
                )
                .unwrap();
        }
        // As an earlier version left it: no log at all.
        store.tlog_entries.clear().unwrap();
        store.tlog_index.clear().unwrap();
        store
            .hashes
            .resume(&mut store.hashes.writer().unwrap(), 0)
            .unwrap();
        store.meta.remove(SIZE_KEY).unwrap();
        store.meta.remove(COMPLETE_KEY).unwrap();
        assert_eq!(store.catch_up_log().unwrap(), 5);
        assert_eq!(store.catch_up_log().unwrap(), 0);
        assert_eq!(store.log_size().unwrap(), 5);
        store.meta.remove(COMPLETE_KEY).unwrap();
        assert_eq!(store.catch_up_log().unwrap(), 0, "idempotent");
    }

    /// The roots of every size from 1 to the log's, from the store, against a memory
    /// tree over the entries it serves.
    fn assert_roots_match_entries(store: &SledStore) {
        let size = store.log_size().unwrap();
        let mut memory = MemoryTree::default();
        for entry in store.log_entries(0, size).unwrap() {
            memory.push(leaf_hash(&entry));
        }
        assert_eq!(memory.size(), size);
        let mut recorder = crate::transparency::tree::NodeRecorder::default();
        for n in 1..=size {
            let _ = root(&mut recorder, n);
        }
        let mut fetched = crate::transparency::tree::FetchedNodes::default();
        for (id, node) in recorder
            .wanted
            .iter()
            .zip(store.log_nodes(&recorder.wanted).unwrap())
        {
            fetched
                .0
                .insert(*id, node.expect("a node of the log's size"));
        }
        for n in 1..=size {
            assert_eq!(
                root(&mut fetched, n).unwrap(),
                root(&mut memory, n).unwrap()
            );
        }
    }

    fn issue_some(store: &SledStore, serials: std::ops::Range<u8>) {
        for i in serials {
            let mut r = record(&format!("{i:02x}"), Role::Bank, 30);
            r.der = vec![0x30, 1, i];
            store
                .record_issued(&r, AuditEvent::new("issue", "t"))
                .unwrap();
        }
    }

    #[test]
    fn the_hashes_past_the_durable_mark_are_hashed_again_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = SledStore::open(&path).unwrap();
            issue_some(&store, 1..14);
            // As if the last batches' hashes never reached the disk: the mark says 9,
            // and what follows leaf 9's hashes is garbage.
            store.meta.insert(HASHED_KEY, &9u64.to_be_bytes()).unwrap();
            store.flush().unwrap();
        }
        let file = path.join(super::super::log_hashes::FILE_NAME);
        let mut bytes = std::fs::read(&file).unwrap();
        let durable = 32 + 32 * super::super::log_hashes::slots(9) as usize;
        for byte in &mut bytes[durable..] {
            *byte ^= 0x5a;
        }
        std::fs::write(&file, &bytes).unwrap();
        let store = super::super::tests::retry_while_locked(|| SledStore::open(&path)).unwrap();
        assert_eq!(store.log_size().unwrap(), 13);
        assert_roots_match_entries(&store);
        assert_eq!(
            store.meta.get(HASHED_KEY).unwrap().unwrap().as_ref(),
            &13u64.to_be_bytes()
        );
        issue_some(&store, 14..20);
        assert_roots_match_entries(&store);
    }

    #[test]
    fn a_missing_cut_or_foreign_hash_file_is_rebuilt_from_the_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let file = path.join(super::super::log_hashes::FILE_NAME);
        {
            let store = SledStore::open(&path).unwrap();
            issue_some(&store, 1..12);
        }
        let whole = std::fs::read(&file).unwrap();
        let mut foreign = whole.clone();
        foreign[20] ^= 1; // another store's identifier
                          // Cut first (the identifier still matches), then another store's, then none.
        for damaged in [
            Some(whole[..whole.len() - 32].to_vec()),
            Some(whole[..40].to_vec()),
            Some(foreign),
            None,
        ] {
            match &damaged {
                None => std::fs::remove_file(&file).unwrap(),
                Some(bytes) => std::fs::write(&file, bytes).unwrap(),
            }
            let store = super::super::tests::retry_while_locked(|| SledStore::open(&path)).unwrap();
            assert_eq!(store.log_size().unwrap(), 11);
            assert_roots_match_entries(&store);
        }
        // The rebuilt file takes new leaves.
        let store = super::super::tests::retry_while_locked(|| SledStore::open(&path)).unwrap();
        issue_some(&store, 20..23);
        assert_roots_match_entries(&store);
    }

    #[test]
    fn layout_4s_hashes_in_sled_are_checked_and_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let nodes = |store: &SledStore| {
            // The hashes as layout 4 kept them: every complete subtree's root by key.
            let mut memory = crate::transparency::tree::Frontier::new();
            let mut all = Vec::new();
            for entry in store.log_entries(0, store.log_size().unwrap()).unwrap() {
                all.extend(memory.append(leaf_hash(&entry)));
            }
            all
        };
        let all = {
            let store = SledStore::open(&path).unwrap();
            issue_some(&store, 1..12);
            let all = nodes(&store);
            let old = store.db.open_tree("tlog_nodes").unwrap();
            for (level, index, hash) in &all {
                old.insert(node_key(*level, *index), &hash[..]).unwrap();
            }
            store.meta.remove(HASHED_KEY).unwrap();
            store.meta.remove(HASHES_ID_KEY).unwrap();
            store.flush().unwrap();
            all
        };
        std::fs::remove_file(path.join(super::super::log_hashes::FILE_NAME)).unwrap();
        // A stored hash that the entries do not give: refused, and the tree is kept.
        {
            // sled's flusher thread of the dropped store may still hold the lock.
            let db = super::super::tests::retry_while_locked(|| {
                sled::open(&path).map_err(StoreError::from)
            })
            .unwrap();
            let old = db.open_tree("tlog_nodes").unwrap();
            let (level, index, _) = all.last().unwrap();
            old.insert(node_key(*level, *index), &[7u8; 32][..])
                .unwrap();
            db.flush().unwrap();
        }
        match super::super::tests::retry_while_locked(|| SledStore::open(&path)) {
            Err(StoreError::Corrupt(message)) => assert!(message.contains("differ"), "{message}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        {
            let db = super::super::tests::retry_while_locked(|| {
                sled::open(&path).map_err(StoreError::from)
            })
            .unwrap();
            let old = db.open_tree("tlog_nodes").unwrap();
            let (level, index, hash) = all.last().unwrap();
            old.insert(node_key(*level, *index), &hash[..]).unwrap();
            db.flush().unwrap();
        }
        let store = super::super::tests::retry_while_locked(|| SledStore::open(&path)).unwrap();
        assert!(!store.db.tree_names().iter().any(|n| n == b"tlog_nodes"));
        assert_roots_match_entries(&store);
    }
}
