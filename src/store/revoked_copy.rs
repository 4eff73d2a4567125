//! The revocation copy: a second, small sled database beside the main one
//! (`DATA_DIR/db-revoked` next to `DATA_DIR/db`) holding only what `paypki crl` reads:
//! the compact revocation entries and the CRL counters. Opening the main database loads
//! sled's page table for every tree (hundreds of MiB with a million certificates); this
//! one holds a few dozen bytes per revoked certificate.
//!
//! The main database stays the source of truth (its `revoked` tree serves the server's
//! CRLs and OCSP). sled cannot commit across two databases, so every change of the main
//! `revoked` tree follows a protocol that keeps the copy right across crashes:
//!
//! 1. a *pending marker* naming the serials (or, for bulk imports, the whole store) is
//!    written to the copy and flushed, before the main transaction;
//! 2. the main transaction runs and is flushed;
//! 3. under one lock, the copy takes the main tree's current entry of each marked serial
//!    and the marker is removed, in one atomic batch (made durable by a later flush).
//!
//! A crash leaves the marker of every change whose step 3 is not durable; a copy with a
//! marker is not read alone: the main database is opened, which settles the markers from
//! its `revoked` tree first. The copy carries an id that the main database's `meta` tree
//! repeats; a main database without it (an older data directory) or with another one (a
//! copy that does not belong to it) rebuilds the copy on open.
//!
//! Keys of the copy's one tree: `b ‖ first two bytes of the serial` → a *bucket*: the
//! entries of every revoked serial with that prefix, in serial order, each `serial length
//! (u8) ‖ serial ‖ entry length (u16 BE) ‖ [`RevokedEntry`] (encoded)`; `p ‖ ticket (u64
//! BE) ‖ serial` → empty, a pending marker (no serial: the whole store); `c ‖ name` → u64
//! BE, a counter; `id-v2` → the pairing id.
//!
//! Why buckets: sled's cost of a scan is per key. With one key per entry, scanning a
//! million revocations took 1.06–1.2 s; with 65,536 buckets of about 15 entries each (serials
//! are random) it takes 60–70 ms (docs/PERFORMANCE.md). A change rewrites one bucket (under
//! the settling lock, so read-modify-write is safe). Copies of the first layout (one `e ‖
//! serial` key per entry, paired under `id`) are rebuilt when the main database opens.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{GroupCommit, RevokedEntry, StoreError};

const BUCKET: u8 = b'b';
/// How many leading bytes of a serial name its bucket.
const BUCKET_PREFIX: usize = 2;
const PENDING: u8 = b'p';
const COUNTER: u8 = b'c';
const ID: &[u8] = b"id-v2";
/// The first layout: one key per entry, paired under `id`; removed by a rebuild.
const LEGACY_ENTRY: u8 = b'e';
const LEGACY_ID: &[u8] = b"id";
/// The pairing id's key in the main database's `meta` tree.
pub(super) const MAIN_ID: &[u8] = b"revoked-copy-id";
/// Legacy counters in the main database's `meta` tree (before the copy held them).
pub(super) const MAIN_COUNTER_PREFIX: &[u8] = b"counter:";
/// Writes per batch when the copy is rebuilt.
const BATCH: usize = 1_000;
/// Page cache: the copy is scanned once per CRL, never searched hot.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// Where the revocation copy of the main sled database at `main` lives: beside it,
/// named after it with `-revoked` (`DATA_DIR/db` → `DATA_DIR/db-revoked`).
pub fn copy_path(main: &Path) -> PathBuf {
    let mut name = main.as_os_str().to_owned();
    name.push("-revoked");
    PathBuf::from(name)
}

/// The revocation copy (see the module documentation).
#[derive(Debug)]
pub(super) struct RevokedCopy {
    db: sled::Db,
    commit: GroupCommit,
    /// Step 3 (read the main entry, write the copy) runs under it, so that a slower
    /// settle never writes an older main entry over a newer one.
    settling: Mutex<()>,
    tickets: AtomicU64,
    /// The whole-store marker of a `StoreCopy` import in progress.
    import: Mutex<Option<Pending>>,
}

/// Markers written before a main transaction; give them back to
/// [`RevokedCopy::settle`] after it (a marker never settled stays for the next open).
#[derive(Debug)]
#[must_use]
pub(super) struct Pending {
    keys: Vec<Vec<u8>>,
}

/// The key of the bucket that holds `serial`'s entry. Buckets follow serial order: every
/// serial with the same first two bytes sorts between its bucket's neighbours.
fn bucket_key(serial: &[u8]) -> Vec<u8> {
    let prefix = serial.get(..BUCKET_PREFIX).unwrap_or(serial);
    let mut key = Vec::with_capacity(1 + prefix.len());
    key.push(BUCKET);
    key.extend_from_slice(prefix);
    key
}

/// A bucket's entries (serial → encoded [`RevokedEntry`]), decoded.
type Bucket = std::collections::BTreeMap<Vec<u8>, Vec<u8>>;

fn corrupt_bucket() -> StoreError {
    StoreError::Corrupt("a bucket of the revocation copy is truncated".into())
}

/// What sees each `(serial, encoded entry)` pair of a bucket.
type EntryVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// Visits the `(serial, encoded entry)` pairs of an encoded bucket, in order.
fn visit_bucket(mut bytes: &[u8], visit: &mut EntryVisitor<'_>) -> Result<(), StoreError> {
    while let Some((&serial_len, rest)) = bytes.split_first() {
        let (serial, rest) = rest
            .split_at_checked(usize::from(serial_len))
            .ok_or_else(corrupt_bucket)?;
        let (length, rest) = rest.split_at_checked(2).ok_or_else(corrupt_bucket)?;
        let length = u16::from_be_bytes(length.try_into().map_err(|_| corrupt_bucket())?);
        let (entry, rest) = rest
            .split_at_checked(usize::from(length))
            .ok_or_else(corrupt_bucket)?;
        visit(serial, entry)?;
        bytes = rest;
    }
    Ok(())
}

fn decode_bucket(bytes: &[u8]) -> Result<Bucket, StoreError> {
    let mut bucket = Bucket::new();
    visit_bucket(bytes, &mut |serial, entry| {
        bucket.insert(serial.to_vec(), entry.to_vec());
        Ok(())
    })?;
    Ok(bucket)
}

fn encode_bucket<'a>(
    entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    for (serial, entry) in entries {
        let too_long =
            || StoreError::Database("a revocation entry is too long for the copy".into());
        out.push(u8::try_from(serial.len()).map_err(|_| too_long())?);
        out.extend_from_slice(serial);
        out.extend_from_slice(
            &u16::try_from(entry.len())
                .map_err(|_| too_long())?
                .to_be_bytes(),
        );
        out.extend_from_slice(entry);
    }
    Ok(out)
}

fn u64_of(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Database("the revocation copy's lock was poisoned".into())
}

impl RevokedCopy {
    /// Opens (or creates) the copy at `path`.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()?;
        Ok(Self::from_db(db))
    }

    /// A throw-away copy for tests.
    pub(super) fn temporary() -> Result<Self, StoreError> {
        Ok(Self::from_db(sled::Config::new().temporary(true).open()?))
    }

    fn from_db(db: sled::Db) -> Self {
        // Tickets only need to differ from those of markers still in the copy, which
        // the open settles before any new one is written; the clock makes that so even
        // for a reader that never settles.
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        RevokedCopy {
            db,
            commit: GroupCommit::default(),
            settling: Mutex::new(()),
            tickets: AtomicU64::new(start),
            import: Mutex::new(None),
        }
    }

    /// Opens the copy for reading alone, if it can be: it exists, was completed (has its
    /// id) and has no pending marker. `Ok(None)` otherwise (open the main database,
    /// which settles or rebuilds it); `Locked` when another process holds it.
    pub(super) fn open_settled(path: &Path) -> Result<Option<Self>, StoreError> {
        if !path.join("conf").exists() {
            return Ok(None);
        }
        let copy = Self::open(path)?;
        Ok((copy.id()?.is_some() && !copy.has_pending()?).then_some(copy))
    }

    /// The pairing id, once the copy is complete.
    pub(super) fn id(&self) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.db.get(ID)?)
    }

    /// Whether a marker is left.
    pub(super) fn has_pending(&self) -> Result<bool, StoreError> {
        Ok(self.db.scan_prefix([PENDING]).next().transpose()?.is_some())
    }

    fn ticket_key(&self, serial: &[u8]) -> Vec<u8> {
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let mut key = Vec::with_capacity(9 + serial.len());
        key.push(PENDING);
        key.extend_from_slice(&ticket.to_be_bytes());
        key.extend_from_slice(serial);
        key
    }

    /// Step 1: durable markers for `serials`, before the main transaction changes them.
    pub(super) fn mark<'a>(
        &self,
        serials: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Pending, StoreError> {
        let mut batch = sled::Batch::default();
        let keys: Vec<Vec<u8>> = serials.into_iter().map(|s| self.ticket_key(s)).collect();
        for key in &keys {
            batch.insert(key.as_slice(), &[]);
        }
        self.db.apply_batch(batch)?;
        self.commit.flush(&self.db)?;
        Ok(Pending { keys })
    }

    /// Step 1 for a bulk change: a durable marker for the whole store.
    pub(super) fn mark_all(&self) -> Result<Pending, StoreError> {
        self.mark([&[][..]])
    }

    /// Step 3: the copy takes `main`'s current entry of every marked serial (the whole
    /// tree for a whole-store marker) and the markers go. Not flushed: a crash before
    /// the next flush leaves the markers, which the next open settles again.
    pub(super) fn settle(&self, pending: Pending, main: &sled::Tree) -> Result<(), StoreError> {
        let _settling = self.settling.lock().map_err(poisoned)?;
        let whole = pending.keys.iter().any(|key| key.len() == 9);
        let mut batch = sled::Batch::default();
        if whole {
            self.resync(main)?;
        } else {
            let mut buckets: std::collections::BTreeMap<Vec<u8>, Vec<&[u8]>> = Default::default();
            for key in &pending.keys {
                let serial = key.get(9..).unwrap_or_default();
                buckets.entry(bucket_key(serial)).or_default().push(serial);
            }
            for (key, serials) in buckets {
                self.copy_entries(&mut batch, key, &serials, main)?;
            }
        }
        for key in pending.keys {
            batch.remove(key);
        }
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// Rewrites one bucket with `main`'s current entries of `serials` (all in it).
    fn copy_entries(
        &self,
        batch: &mut sled::Batch,
        key: Vec<u8>,
        serials: &[&[u8]],
        main: &sled::Tree,
    ) -> Result<(), StoreError> {
        let mut bucket = match self.db.get(&key)? {
            Some(bytes) => decode_bucket(&bytes)?,
            None => Bucket::new(),
        };
        for serial in serials {
            match main.get(serial)? {
                Some(value) => bucket.insert(serial.to_vec(), value.to_vec()),
                None => bucket.remove(*serial),
            };
        }
        if bucket.is_empty() {
            batch.remove(key);
        } else {
            let entries = bucket.iter().map(|(s, e)| (s.as_slice(), e.as_slice()));
            batch.insert(key, encode_bucket(entries)?);
        }
        Ok(())
    }

    /// Makes the copy's entries `main`'s, in batches (the caller holds `settling`); removes
    /// the entries of the first layout.
    fn resync(&self, main: &sled::Tree) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut queued = 0usize;
        let mut queue = |batch: &mut sled::Batch, force: bool| -> Result<(), StoreError> {
            queued += 1;
            if queued >= BATCH || force {
                self.db.apply_batch(std::mem::take(batch))?;
                queued = 0;
            }
            Ok(())
        };
        let mut kept = std::collections::HashSet::new();
        // `main` is in serial order, so each bucket's serials come together.
        type Entries = Vec<(sled::IVec, sled::IVec)>;
        let mut current: Option<(Vec<u8>, Entries)> = None;
        let mut write =
            |key: Vec<u8>, entries: Entries, batch: &mut sled::Batch| -> Result<bool, StoreError> {
                let encoded = encode_bucket(entries.iter().map(|(s, e)| (&s[..], &e[..])))?;
                let changed = self.db.get(&key)?.as_deref() != Some(&encoded[..]);
                if changed {
                    batch.insert(key.as_slice(), encoded);
                }
                kept.insert(key);
                Ok(changed)
            };
        for item in main.iter() {
            let (serial, value) = item?;
            let key = bucket_key(&serial);
            match &mut current {
                Some((open, entries)) if *open == key => entries.push((serial, value)),
                _ => {
                    if let Some((done, entries)) = current.replace((key, vec![(serial, value)])) {
                        if write(done, entries, &mut batch)? {
                            queue(&mut batch, false)?;
                        }
                    }
                }
            }
        }
        if let Some((done, entries)) = current {
            if write(done, entries, &mut batch)? {
                queue(&mut batch, false)?;
            }
        }
        for item in self.db.scan_prefix([BUCKET]).keys() {
            let key = item?;
            if !kept.contains(&key[..]) {
                batch.remove(key);
                queue(&mut batch, false)?;
            }
        }
        for item in self.db.scan_prefix([LEGACY_ENTRY]).keys() {
            batch.remove(item?);
            queue(&mut batch, false)?;
        }
        queue(&mut batch, true)
    }

    /// Settles every marker a crash left (at the main database's open).
    pub(super) fn settle_left(&self, main: &sled::Tree) -> Result<(), StoreError> {
        let keys = self
            .db
            .scan_prefix([PENDING])
            .keys()
            .map(|key| key.map(|k| k.to_vec()))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Ok(());
        }
        tracing::info!(
            markers = keys.len(),
            "settling the revocation copy after an interrupted change"
        );
        self.settle(Pending { keys }, main)?;
        self.commit.flush(&self.db)
    }

    /// Rebuilds the copy from the main database (a data directory of an earlier version,
    /// or a copy that is not the main database's): entries from `main_revoked`, counters
    /// at least the legacy ones in `main_meta`, no marker, and a new id, which is
    /// returned for the main database to record. The copy is durable when this returns.
    pub(super) fn rebuild(
        &self,
        main_revoked: &sled::Tree,
        main_meta: &sled::Tree,
    ) -> Result<Vec<u8>, StoreError> {
        let _settling = self.settling.lock().map_err(poisoned)?;
        // Incomplete until the new id is written: readers go to the main database.
        self.db.remove(ID)?;
        self.commit.flush(&self.db)?;
        self.resync(main_revoked)?;
        for item in main_meta.scan_prefix(MAIN_COUNTER_PREFIX) {
            let (key, value) = item?;
            let name = key.get(MAIN_COUNTER_PREFIX.len()..).unwrap_or_default();
            if let Some(value) = u64_of(&value) {
                self.raise_counter(name, value)?;
            }
        }
        let mut batch = sled::Batch::default();
        for key in self.db.scan_prefix([PENDING]).keys() {
            batch.remove(key?);
        }
        let mut id = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
            .map_err(|_| StoreError::Database("the system random generator failed".into()))?;
        batch.insert(ID, &id);
        batch.remove(LEGACY_ID);
        self.db.apply_batch(batch)?;
        self.commit.flush(&self.db)?;
        Ok(id.to_vec())
    }

    fn counter_key(name: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(1 + name.len());
        key.push(COUNTER);
        key.extend_from_slice(name);
        key
    }

    /// Raises a counter to at least `value` (not flushed).
    pub(super) fn raise_counter(&self, name: &[u8], value: u64) -> Result<(), StoreError> {
        self.db.update_and_fetch(Self::counter_key(name), |old| {
            let current = old.and_then(u64_of).unwrap_or(0);
            Some(current.max(value).to_be_bytes().to_vec())
        })?;
        Ok(())
    }

    /// The next number of a counter, durably: one more than the last, or `floor`.
    pub(super) fn next_counter_at_least(&self, name: &str, floor: u64) -> Result<u64, StoreError> {
        let value = self
            .db
            .update_and_fetch(Self::counter_key(name.as_bytes()), |old| {
                let current = old.and_then(u64_of).unwrap_or(0);
                Some(current.saturating_add(1).max(floor).to_be_bytes().to_vec())
            })?;
        self.commit.flush(&self.db)?;
        value
            .as_deref()
            .and_then(u64_of)
            .ok_or_else(|| StoreError::Corrupt(format!("counter {name}")))
    }

    /// Every counter and its last value.
    pub(super) fn counters(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.scan_prefix([COUNTER]) {
            let (key, value) = item?;
            let name = String::from_utf8_lossy(key.get(1..).unwrap_or_default()).into_owned();
            let value =
                u64_of(&value).ok_or_else(|| StoreError::Corrupt(format!("counter {name}")))?;
            out.push((name, value));
        }
        Ok(out)
    }

    /// Sets a counter (a copied store's), not flushed.
    pub(super) fn set_counter(&self, name: &str, value: u64) -> Result<(), StoreError> {
        self.db
            .insert(Self::counter_key(name.as_bytes()), &value.to_be_bytes())?;
        Ok(())
    }

    /// Visits every entry, in serial order.
    pub(super) fn for_each_revoked(
        &self,
        visit: &mut dyn FnMut(&[u8], RevokedEntry),
    ) -> Result<(), StoreError> {
        for item in self.db.scan_prefix([BUCKET]) {
            let (_, bucket) = item?;
            visit_bucket(&bucket, &mut |serial, entry| {
                visit(serial, RevokedEntry::decode(entry)?);
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Makes everything written so far durable.
    pub(super) fn flush(&self) -> Result<(), StoreError> {
        self.commit.flush(&self.db)
    }

    /// Marks the whole store before the first batch of a `StoreCopy` import.
    pub(super) fn begin_import(&self) -> Result<(), StoreError> {
        let mut import = self.import.lock().map_err(poisoned)?;
        if import.is_none() {
            *import = Some(self.mark_all()?);
        }
        Ok(())
    }

    /// Settles the import's marker once the main database is durable, and flushes.
    pub(super) fn finish_import(&self, main: &sled::Tree) -> Result<(), StoreError> {
        let pending = self.import.lock().map_err(poisoned)?.take();
        if let Some(pending) = pending {
            self.settle(pending, main)?;
            self.flush()?;
        }
        Ok(())
    }

    /// The entries, for tests.
    #[cfg(test)]
    pub(super) fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut entries = Vec::new();
        for item in self.db.scan_prefix([BUCKET]) {
            let (_, bucket) = item.unwrap();
            entries.extend(decode_bucket(&bucket).unwrap());
        }
        entries
    }

    /// Sets (or removes) one entry behind the protocol's back, as a crash would leave it.
    #[cfg(test)]
    fn put_entry(&self, serial: &[u8], entry: Option<&[u8]>) {
        let key = bucket_key(serial);
        let mut bucket = match self.db.get(&key).unwrap() {
            Some(bytes) => decode_bucket(&bytes).unwrap(),
            None => Bucket::new(),
        };
        match entry {
            Some(entry) => bucket.insert(serial.to_vec(), entry.to_vec()),
            None => bucket.remove(serial),
        };
        let encoded = encode_bucket(bucket.iter().map(|(s, e)| (&s[..], &e[..]))).unwrap();
        self.db.insert(key, encoded).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::super::participants::tests::bank;
    use super::super::tests::record;
    use super::*;
    use crate::model::{RevocationReason, Role, Serial};
    use crate::store::{
        AuditEvent, CertificateChange, CertificateStore, CrlReader, CrlSource, DatabaseLocation,
        ParticipantStore, RevocationRecord, RevocationStore, SledStore, StoreCopy, StoreItem,
    };
    use time::OffsetDateTime;

    fn revocation(reason: RevocationReason) -> RevocationRecord {
        RevocationRecord {
            reason: reason.name().into(),
            revoked_at: OffsetDateTime::now_utc(),
            invalidity_date: None,
        }
    }

    fn main_entries(store: &SledStore) -> Vec<(Vec<u8>, Vec<u8>)> {
        store
            .revoked
            .iter()
            .map(|item| {
                let (k, v) = item.unwrap();
                (k.to_vec(), v.to_vec())
            })
            .collect()
    }

    fn assert_agrees(store: &SledStore) {
        assert_eq!(store.copy.entries(), main_entries(store));
        assert!(!store.copy.has_pending().unwrap());
    }

    fn retry<T>(open: impl Fn() -> Result<T, StoreError>) -> T {
        super::super::tests::retry_while_locked(open).unwrap()
    }

    fn reopen(path: &Path) -> SledStore {
        retry(|| SledStore::open(path))
    }

    /// What a CRL built from the reader at `path` lists, and whether it read the copy alone.
    fn crl_serials(path: &Path) -> (Vec<Vec<u8>>, bool) {
        let reader = retry(|| CrlReader::open(&DatabaseLocation::Sled(path.to_path_buf())));
        let mut serials = Vec::new();
        reader
            .visit_revoked(&mut |serial, _| serials.push(serial.to_vec()))
            .unwrap();
        (serials, reader.reads_copy())
    }

    fn ev() -> AuditEvent {
        AuditEvent::new("t", "t")
    }

    #[test]
    fn the_copy_follows_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = SledStore::open(&path).unwrap();
        for serial in ["0a", "0b", "0c", "0d"] {
            store
                .record_issued(&record(serial, Role::Bank, 30), ev())
                .unwrap();
        }
        let s = |hex: &str| -> Serial { hex.parse().unwrap() };
        store
            .revoke(
                &s("0a"),
                revocation(RevocationReason::CertificateHold),
                ev(),
            )
            .unwrap();
        assert_agrees(&store);
        assert_eq!(store.copy.entries().len(), 1);
        store.unhold(&s("0a"), ev()).unwrap();
        assert_agrees(&store);
        assert!(store.copy.entries().is_empty());
        store
            .revoke(
                &s("0a"),
                revocation(RevocationReason::CertificateHold),
                ev(),
            )
            .unwrap();
        store
            .revoke(&s("0a"), revocation(RevocationReason::KeyCompromise), ev())
            .unwrap();
        assert_agrees(&store);
        // A refused change leaves no marker and changes nothing.
        assert!(store
            .revoke(&s("0a"), revocation(RevocationReason::Superseded), ev())
            .is_err());
        assert!(store.unhold(&s("0e"), ev()).is_err());
        assert_agrees(&store);
        let entry = RevokedEntry {
            reason: RevocationReason::KeyCompromise,
            revoked_at: 1_800_000_000,
            invalidity_date: None,
            not_after: 1_900_000_000,
            issuer: 2,
        };
        store.revoke_unrecorded(&s("7f01"), entry, ev()).unwrap();
        assert_agrees(&store);
        // A participant act: two certificates held, then lifted, together.
        let participant = bank("par_1");
        store.add_participant(&participant, ev()).unwrap();
        let mut suspended = participant.clone();
        suspended.status = crate::store::ParticipantStatus::Suspended;
        let holds = [s("0b"), s("0c")].map(|serial| {
            CertificateChange::Revoke(serial, revocation(RevocationReason::CertificateHold))
        });
        store
            .replace_participant(&participant, &suspended, &holds, ev())
            .unwrap();
        assert_agrees(&store);
        assert_eq!(store.copy.entries().len(), 4);
        let lifts = [s("0b"), s("0c")].map(CertificateChange::Unhold);
        store
            .replace_participant(&suspended, &participant, &lifts, ev())
            .unwrap();
        assert_agrees(&store);
        // A bulk import.
        let mut imported = record("0f", Role::Buyer, 30);
        imported.status = crate::model::CertificateStatus::Revoked;
        imported.revocation = Some(revocation(RevocationReason::Superseded));
        store
            .import_records([imported, record("10", Role::Buyer, 30)], "t")
            .unwrap();
        assert_agrees(&store);
        assert_eq!(store.copy.entries().len(), 3);
        // Counters live in the copy, which `paypki crl` reads alone.
        assert_eq!(store.next_counter_at_least("issuing-crl", 7).unwrap(), 7);
        let expected: Vec<Vec<u8>> = main_entries(&store).into_iter().map(|e| e.0).collect();
        drop(store);
        assert_eq!(crl_serials(&path), (expected, true));
        let reader = retry(|| CrlReader::open(&DatabaseLocation::Sled(path.clone())));
        assert_eq!(reader.take_number("issuing-crl", 0).unwrap(), 8);
    }

    #[test]
    fn a_crash_between_the_two_databases_is_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let s = |hex: &str| -> Serial { hex.parse().unwrap() };
        let store = SledStore::open(&path).unwrap();
        for serial in ["0a", "0b", "0c"] {
            store
                .record_issued(&record(serial, Role::Bank, 30), ev())
                .unwrap();
        }
        store
            .revoke(&s("0a"), revocation(RevocationReason::KeyCompromise), ev())
            .unwrap();
        store
            .revoke(&s("0b"), revocation(RevocationReason::KeyCompromise), ev())
            .unwrap();
        // 0a: the main transaction committed, the copy did not follow (crash after the
        // main flush). 0c: a marker, and the main transaction never ran, but the copy
        // has an entry (as if it were ahead): the main database decides.
        let left = store
            .copy
            .mark([s("0a").as_bytes(), s("0c").as_bytes()])
            .unwrap();
        std::mem::forget(left);
        store.copy.put_entry(s("0a").as_bytes(), None);
        let entry = store.revoked.get(s("0b").as_bytes()).unwrap().unwrap();
        store.copy.put_entry(s("0c").as_bytes(), Some(&entry));
        store.copy.flush().unwrap();
        drop(store);
        let expected = vec![s("0a").as_bytes().to_vec(), s("0b").as_bytes().to_vec()];
        // `paypki crl` does not trust the copy with a marker: it opens the database,
        // which settles the copy; after that the copy is read alone.
        assert_eq!(crl_serials(&path), (expected.clone(), false));
        assert_eq!(crl_serials(&path), (expected.clone(), true));
        let store = reopen(&path);
        assert_agrees(&store);

        // A whole-store marker (an import interrupted): the copy is rebuilt.
        let left = store.copy.mark_all().unwrap();
        std::mem::forget(left);
        store.copy.put_entry(s("0b").as_bytes(), None);
        store.copy.put_entry(&[0x55], Some(&[0u8; 29]));
        store.copy.flush().unwrap();
        drop(store);
        let store = reopen(&path);
        assert_agrees(&store);
        assert_eq!(store.copy.entries().len(), 2);
    }

    #[test]
    fn a_database_without_a_copy_gets_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let s = |hex: &str| -> Serial { hex.parse().unwrap() };
        let store = SledStore::open(&path).unwrap();
        store
            .record_issued(&record("0a", Role::Bank, 30), ev())
            .unwrap();
        store
            .revoke(&s("0a"), revocation(RevocationReason::KeyCompromise), ev())
            .unwrap();
        drop(store);
        // As an earlier version left it: no copy, no pairing id, counters in `meta`.
        std::fs::remove_dir_all(copy_path(&path)).unwrap();
        {
            let db = retry(|| Ok(sled::open(&path)?));
            let meta = db.open_tree("meta").unwrap();
            meta.remove(MAIN_ID).unwrap();
            meta.insert(b"counter:issuing-crl", &500u64.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        // `paypki crl` finds no copy: it opens the database, which builds it.
        let (serials, alone) = crl_serials(&path);
        assert_eq!((serials, alone), (vec![s("0a").as_bytes().to_vec()], false));
        let store = reopen(&path);
        assert_agrees(&store);
        assert_eq!(store.next_counter_at_least("issuing-crl", 0).unwrap(), 501);
        drop(store);
        assert!(crl_serials(&path).1);

        // A copy that belongs to another database (only `db` restored) is rebuilt too.
        let other = dir.path().join("other");
        drop(SledStore::open(&other).unwrap());
        std::fs::remove_dir_all(copy_path(&path)).unwrap();
        std::fs::rename(copy_path(&other), copy_path(&path)).unwrap();
        let store = reopen(&path);
        assert_agrees(&store);
        assert_eq!(store.copy.entries().len(), 1);
    }

    #[test]
    fn a_copied_store_has_its_copy() {
        let from = SledStore::temporary().unwrap();
        let s = |hex: &str| -> Serial { hex.parse().unwrap() };
        from.record_issued(&record("0a", Role::Bank, 30), ev())
            .unwrap();
        from.revoke(&s("0a"), revocation(RevocationReason::KeyCompromise), ev())
            .unwrap();
        let entry = RevokedEntry {
            reason: RevocationReason::KeyCompromise,
            revoked_at: 1_800_000_000,
            invalidity_date: None,
            not_after: 1_900_000_000,
            issuer: 2,
        };
        from.revoke_unrecorded(&s("7f"), entry, ev()).unwrap();
        assert_eq!(from.next_counter_at_least("issuing-crl", 0).unwrap(), 1);
        let mut items: Vec<StoreItem> = Vec::new();
        from.export(&mut |item| {
            items.push(item);
            Ok(())
        })
        .unwrap();
        let to = SledStore::temporary().unwrap();
        to.import(items).unwrap();
        to.finish_import().unwrap();
        assert_agrees(&to);
        assert_eq!(to.copy.entries(), from.copy.entries());
        assert_eq!(to.next_counter_at_least("issuing-crl", 0).unwrap(), 2);
    }

    #[test]
    fn buckets_keep_serial_order_and_survive_damage() {
        let store = SledStore::temporary().unwrap();
        // Serials of several lengths sharing prefixes: one bucket holds many, and
        // buckets must still give serial order (a one-byte serial sorts before its
        // two-byte-prefix neighbours).
        let serials = [
            "05", "0500", "050001", "0501", "05ff", "06", "7f01", "7f0102", "0100",
        ];
        for serial in serials {
            store
                .record_issued(&record(serial, Role::Buyer, 30), ev())
                .unwrap();
            let reason = if serial == "0500" {
                RevocationReason::CertificateHold
            } else {
                RevocationReason::KeyCompromise
            };
            store
                .revoke(&serial.parse().unwrap(), revocation(reason), ev())
                .unwrap();
        }
        assert_agrees(&store);
        let mut visited = Vec::new();
        store
            .copy
            .for_each_revoked(&mut |serial, _| visited.push(serial.to_vec()))
            .unwrap();
        let mut sorted = visited.clone();
        sorted.sort();
        assert_eq!(visited, sorted);
        assert_eq!(visited.len(), serials.len());
        // An unhold in the middle of a bucket leaves its neighbours.
        let held: Serial = "0500".parse().unwrap();
        store.unhold(&held, ev()).unwrap();
        assert_agrees(&store);
        assert_eq!(store.copy.entries().len(), serials.len() - 1);
        // A truncated bucket is an error, never a panic or a silent gap.
        store
            .copy
            .db
            .insert(bucket_key(&[0x05, 0x00]), &[20u8, 1, 2][..])
            .unwrap();
        assert!(matches!(
            store.copy.for_each_revoked(&mut |_, _| {}),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn a_copy_of_the_first_layout_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let s = |hex: &str| -> Serial { hex.parse().unwrap() };
        let store = SledStore::open(&path).unwrap();
        for serial in ["0a", "0b"] {
            store
                .record_issued(&record(serial, Role::Bank, 30), ev())
                .unwrap();
            store
                .revoke(
                    &s(serial),
                    revocation(RevocationReason::KeyCompromise),
                    ev(),
                )
                .unwrap();
        }
        // As the first layout left it: one `e ‖ serial` key per entry, paired under `id`
        // with the id the main database holds.
        let id = store.copy.id().unwrap().unwrap();
        let entries = store.copy.entries();
        let mut batch = sled::Batch::default();
        for item in store.copy.db.scan_prefix([BUCKET]).keys() {
            batch.remove(item.unwrap());
        }
        for (serial, entry) in &entries {
            let mut key = vec![LEGACY_ENTRY];
            key.extend_from_slice(serial);
            batch.insert(key, entry.as_slice());
        }
        batch.remove(ID);
        batch.insert(LEGACY_ID, id);
        store.copy.db.apply_batch(batch).unwrap();
        store.copy.flush().unwrap();
        drop(store);
        // `paypki crl` does not read it alone; the main database's open rebuilds it.
        let expected: Vec<Vec<u8>> = entries.iter().map(|e| e.0.clone()).collect();
        assert_eq!(crl_serials(&path), (expected.clone(), false));
        assert_eq!(crl_serials(&path), (expected, true));
        let store = reopen(&path);
        assert_agrees(&store);
        assert!(store.copy.db.scan_prefix([LEGACY_ENTRY]).next().is_none());
        assert!(store.copy.db.get(LEGACY_ID).unwrap().is_none());
    }
}
