//! The sled store's layout version, kept in `meta` under `schema`, and the migrations
//! from earlier layouts, run when a store opens.
//!
//! - Layout 1 (data directories of earlier versions; they have no `schema` key): a
//!   reservation stayed in `serials` after issuance, `by_role` and `by_status` were two
//!   indexes, and `issuer_of` repeated each record's issuing CA.
//! - Layout 2: `serials` holds only reservations not yet fulfilled, one index
//!   `by_role_status`, no `issuer_of` (the record has the issuer at a fixed place), and
//!   the transparency log's serial index only for serials without a record (a
//!   certificate's entry is found by its leaf hash). Each of those index entries cost
//!   about 266 bytes on disk in sled, so this saves four to six per certificate
//!   (docs/PERFORMANCE.md, "Storage footprint").
//! - Layout 3: values may be in forms layout 2's readers do not know: tokens in binary
//!   (JSON before) and a record's fingerprint as 32 octets in its colon form (text
//!   before, 95 bytes). Nothing is rewritten: the older forms still read, and a value
//!   takes the new form when it is next written. The version is raised so that an older
//!   paypki refuses the store instead of failing on such a value.
//!
//! - Layout 4: a new certificate's DER is in the DER log beside sled
//!   (`certificates.der` in the database's directory, `der_log`), and its record (form
//!   2) says where. Nothing is rewritten: records with the DER inside still read, and
//!   keep it there when their status changes. The version is raised so that an older
//!   paypki refuses the store instead of failing on such a record.
//!
//! - Layout 5: the transparency log's hashes are in `transparency.hashes` beside sled
//!   (`log_hashes`), not in the `tlog_nodes` tree. The open after the migration hashes
//!   the log's entries into the file, checks its subtree roots against the tree's, and
//!   drops the tree; a crash in between makes the next open do it again. New audit
//!   entries take a compact binary form (`record`); JSON ones still read.
//!
//! A migration is idempotent: it rebuilds from `certificates`, which every layout has,
//! and the version is written only when it is complete, so a crash half-way makes the
//! next open do it again.

use super::{record, role_status_key, SledStore, StoreError};

/// The layout this version writes.
pub(super) const SCHEMA: u32 = 5;
const SCHEMA_KEY: &[u8] = b"schema";
/// Trees of layout 1 that layout 2 no longer has.
const DROPPED_IN_2: [&str; 3] = ["by_role", "by_status", "issuer_of"];
const BATCH: usize = 1_000;
/// The prefix of the transparency log's serial index keys (`transparency`).
const SERIAL_INDEX: &[u8] = b"s";

impl SledStore {
    /// The store's layout version (1 when it has none: written before versions existed).
    pub(super) fn schema_version(&self) -> Result<u32, StoreError> {
        match self.meta.get(SCHEMA_KEY)? {
            None => Ok(1),
            Some(bytes) => <[u8; 4]>::try_from(bytes.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("schema version".into())),
        }
    }

    /// Brings a store of an earlier layout to [`SCHEMA`]; refuses one of a later layout.
    pub(super) fn migrate_schema(&self) -> Result<(), StoreError> {
        let version = self.schema_version()?;
        if version > SCHEMA {
            return Err(StoreError::Schema(format!(
                "the database {} has layout {version}, written by a newer paypki; this \
                 version knows layouts up to {SCHEMA}: run the newer paypki",
                self.path.display()
            )));
        }
        if version == SCHEMA {
            return Ok(());
        }
        let fresh = self.certificates.is_empty() && self.serials.is_empty();
        if !fresh {
            tracing::info!(
                "migrating the database {} from layout {version} to {SCHEMA} (once)",
                self.path.display()
            );
        }
        if version < 2 {
            self.migrate_1_to_2()?;
        }
        // Layouts 3 and 4 changed only the forms new values take; layout 5's hashes are
        // moved when the store opens the hash file (`open_log_hashes`).
        self.meta.insert(SCHEMA_KEY, &SCHEMA.to_be_bytes())?;
        self.flush()
    }

    fn migrate_1_to_2(&self) -> Result<(), StoreError> {
        let mut index = sled::Batch::default();
        let mut fulfilled = sled::Batch::default();
        let mut pending = 0usize;
        for item in self.certificates.iter() {
            let (serial, bytes) = item?;
            let record = record::decode_certificate(&bytes)?.record;
            index.insert(role_status_key(record.role, record.status, &serial), &[]);
            fulfilled.remove(serial);
            pending += 1;
            if pending == BATCH {
                self.by_role_status
                    .apply_batch(std::mem::take(&mut index))?;
                self.serials.apply_batch(std::mem::take(&mut fulfilled))?;
                pending = 0;
            }
        }
        self.by_role_status.apply_batch(index)?;
        self.serials.apply_batch(fulfilled)?;
        // The log's serial index keeps only serials without a record.
        pending = 0;
        let mut unindexed = sled::Batch::default();
        for key in self.tlog_index.scan_prefix(SERIAL_INDEX).keys() {
            let key = key?;
            let serial = key
                .get(1..)
                .and_then(|rest| rest.split_first())
                .and_then(|(len, rest)| rest.get(..usize::from(*len)))
                .ok_or_else(|| StoreError::Corrupt("transparency index key".into()))?;
            if self.certificates.contains_key(serial)? {
                unindexed.remove(key);
                pending += 1;
                if pending == BATCH {
                    self.tlog_index
                        .apply_batch(std::mem::take(&mut unindexed))?;
                    pending = 0;
                }
            }
        }
        self.tlog_index.apply_batch(unindexed)?;
        for name in DROPPED_IN_2 {
            self.db.drop_tree(name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{record, retry_while_locked};
    use super::super::{CertificateStore, ListFilter, StoreReader};
    use super::*;
    use crate::model::{CertificateStatus, Role};

    fn unrecorded_key() -> Vec<u8> {
        [SERIAL_INDEX, &[1], &[0x7f], &9u64.to_be_bytes()].concat()
    }

    #[test]
    fn a_layout_1_store_is_migrated_once_and_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let serials = ["0a", "0b", "0c"];
        {
            let store = SledStore::open(&path).unwrap();
            for (i, serial) in serials.iter().enumerate() {
                let mut rec = record(serial, Role::ALL[i % 4], 30);
                rec.issuer = 2;
                store
                    .record_issued(&rec, crate::store::AuditEvent::new("issue", "t"))
                    .unwrap();
            }
            // Make it look like layout 1: no version, the old trees, the reservations
            // kept, the one index gone.
            store.meta.remove(SCHEMA_KEY).unwrap();
            store.by_role_status.clear().unwrap();
            let old = |name: &str| store.db.open_tree(name).unwrap();
            for serial in serials {
                let key = hex::decode(serial).unwrap();
                old("serials").insert(&key, &[]).unwrap();
                old("issuer_of").insert(&key, &2u32.to_be_bytes()).unwrap();
                old("by_role")
                    .insert([&[1u8][..], &key].concat(), &[])
                    .unwrap();
            }
            // The log's serial index as layout 1 wrote it: for every entry.
            let serial_key = |serial: &[u8], at: u64| {
                [
                    SERIAL_INDEX,
                    &[serial.len() as u8],
                    serial,
                    &at.to_be_bytes(),
                ]
                .concat()
            };
            for (at, serial) in serials.iter().enumerate() {
                let key = serial_key(&hex::decode(serial).unwrap(), at as u64);
                store.tlog_index.insert(key, &[1]).unwrap();
            }
            // And for a serial revoked without a record: it stays.
            assert_eq!(serial_key(&[0x7f], 9), unrecorded_key());
            store.tlog_index.insert(unrecorded_key(), &[2]).unwrap();
            store.flush().unwrap();
        }
        let store = retry_while_locked(|| SledStore::open(&path)).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA);
        assert!(store.serials.is_empty());
        let names: Vec<_> = store.db.tree_names();
        for dropped in DROPPED_IN_2 {
            assert!(!names.iter().any(|n| n.as_ref() == dropped.as_bytes()));
        }
        assert_eq!(store.by_role_status.len(), serials.len());
        let left: Vec<_> = store
            .tlog_index
            .scan_prefix(SERIAL_INDEX)
            .keys()
            .map(|k| k.unwrap().to_vec())
            .collect();
        assert_eq!(left, vec![unrecorded_key()]);
        let buyers = store
            .list(&ListFilter {
                role: Some(Role::Buyer),
                ..ListFilter::default()
            })
            .unwrap();
        assert_eq!(buyers.len(), 1);
        let good = store
            .list(&ListFilter {
                status: Some(CertificateStatus::Good),
                ..ListFilter::default()
            })
            .unwrap();
        assert_eq!(good.len(), serials.len());
        match store.known_status(&hex::decode("0b").unwrap()).unwrap() {
            crate::store::KnownStatus::Good { issuer } => assert_eq!(issuer, 2),
            other => panic!("{other:?}"),
        }
        // A fulfilled serial stays taken.
        let plan = crate::store::PlannedIssuance {
            role: Role::Buyer,
            subject: "CN=x".into(),
            reserved_at: time::OffsetDateTime::now_utc(),
            requested_via: crate::store::IssuancePath::CliIssue,
        };
        assert!(matches!(
            store.reserve_serial(&"0a".parse().unwrap(), &plan),
            Err(StoreError::SerialTaken(_))
        ));
    }

    #[test]
    fn stores_of_layouts_2_to_4_become_layout_5_and_their_old_forms_still_read() {
        for earlier in [2u32, 3, 4] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db");
            let (json_serial, inline_serial, logged_serial) = ("0a", "0b", "0c");
            {
                let store = SledStore::open(&path).unwrap();
                for serial in [json_serial, inline_serial, logged_serial] {
                    store
                        .record_issued(
                            &record(serial, Role::Bank, 30),
                            crate::store::AuditEvent::new("issue", "t"),
                        )
                        .unwrap();
                }
                // Records in the forms earlier versions wrote: JSON with the fingerprint
                // as text (layout 2), binary with the DER inside (layouts 1 to 3).
                let mut old = record(json_serial, Role::Bank, 30);
                old.fingerprint_sha256 = crate::model::sha256_fingerprint(b"x");
                let value = serde_json::to_vec(&old).unwrap();
                store
                    .certificates
                    .insert(old.serial.as_bytes(), value)
                    .unwrap();
                let inline = record(inline_serial, Role::Bank, 30);
                store
                    .certificates
                    .insert(
                        inline.serial.as_bytes(),
                        record::encode_certificate(&inline),
                    )
                    .unwrap();
                // Audit entries as JSON (layouts 1 to 4).
                for entry in store.audit_entries(usize::MAX).unwrap() {
                    store
                        .audit
                        .insert(entry.body().seq.to_be_bytes(), entry.encode().unwrap())
                        .unwrap();
                }
                store
                    .meta
                    .insert(SCHEMA_KEY, &earlier.to_be_bytes())
                    .unwrap();
                store.flush().unwrap();
            }
            let store = retry_while_locked(|| SledStore::open(&path)).unwrap();
            assert_eq!(store.schema_version().unwrap(), SCHEMA);
            assert_eq!(SCHEMA, 5);
            let read = |serial: &str| {
                store
                    .certificate(&serial.parse().unwrap())
                    .unwrap()
                    .unwrap()
            };
            assert_eq!(
                read(json_serial).fingerprint_sha256,
                crate::model::sha256_fingerprint(b"x")
            );
            assert_eq!(store.list(&ListFilter::default()).unwrap().len(), 3);
            // A status change rewrites a record in the binary form and keeps its DER
            // where it is: inside for an older record, in the DER log for a new one.
            for serial in [json_serial, inline_serial, logged_serial] {
                let before = read(serial);
                crate::store::RevocationStore::revoke(
                    &store,
                    &serial.parse().unwrap(),
                    crate::store::RevocationRecord {
                        reason: "keyCompromise".into(),
                        revoked_at: time::OffsetDateTime::now_utc(),
                        invalidity_date: None,
                    },
                    crate::store::AuditEvent::new("revoke", "t"),
                )
                .unwrap();
                let after = read(serial);
                assert_eq!(after.der, before.der);
                assert_eq!(after.status, CertificateStatus::Revoked);
                let stored = store
                    .certificates
                    .get(hex::decode(serial).unwrap())
                    .unwrap()
                    .unwrap();
                let der_at = record::decode_certificate(&stored).unwrap().der_at;
                assert_eq!(der_at.is_some(), serial == logged_serial, "{serial}");
            }
            // The JSON entries and the compact ones after them form one chain.
            let report = store.verify_audit().unwrap();
            assert!(report.problems.is_empty(), "{:?}", report.problems);
            assert_eq!(report.entries, 6);
            let forms: Vec<u8> = store.audit.iter().map(|item| item.unwrap().1[0]).collect();
            assert_eq!(forms, [b'{', b'{', b'{', 1, 1, 1]);
        }
    }

    #[test]
    fn a_store_of_a_later_layout_is_refused_with_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = SledStore::open(&path).unwrap();
            store
                .meta
                .insert(SCHEMA_KEY, &(SCHEMA + 1).to_be_bytes())
                .unwrap();
            store.flush().unwrap();
        }
        match retry_while_locked(|| SledStore::open(&path)) {
            Err(StoreError::Schema(message)) => assert!(message.contains("newer paypki")),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
