//! Revocations: the certificate record's status, and a compact `revoked` tree (serial →
//! 25 bytes) that CRL generation scans without decoding whole certificate records.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;
use time::OffsetDateTime;

use super::{
    audit, role_status_key, AuditEvent, CertificateRecord, RevocationRecord, SledStore, StoreError,
};
use crate::model::{CertificateStatus, RevocationReason, Serial};

/// One revoked certificate, as a CRL or OCSP needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Why.
    pub reason: RevocationReason,
    /// When (Unix seconds).
    pub revoked_at: i64,
    /// Since when the key is suspect (Unix seconds), if given.
    pub invalidity_date: Option<i64>,
    /// The certificate's notAfter (Unix seconds): expired entries may leave the CRL.
    pub not_after: i64,
    /// The issuing CA that signed the certificate (whose CRL lists it).
    pub issuer: u32,
}

impl RevokedEntry {
    /// Entries written before rollover existed: no issuer (CA 1).
    const LEGACY_LEN: usize = 25;
    const LEN: usize = 29;

    /// The compact entry for a revoked record.
    pub(super) fn from_record(
        record: &CertificateRecord,
        revocation: &RevocationRecord,
    ) -> Option<Self> {
        Some(RevokedEntry {
            reason: revocation.reason.parse().ok()?,
            revoked_at: revocation.revoked_at.unix_timestamp(),
            invalidity_date: revocation
                .invalidity_date
                .map(OffsetDateTime::unix_timestamp),
            not_after: record.not_after.unix_timestamp(),
            issuer: record.issuer,
        })
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let invalidity = self.invalidity_date.unwrap_or(i64::MIN);
        let mut out = Vec::with_capacity(Self::LEN);
        out.push(self.reason.code());
        for part in [self.revoked_at, invalidity, self.not_after] {
            out.extend_from_slice(&part.to_be_bytes());
        }
        out.extend_from_slice(&self.issuer.to_be_bytes());
        out
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt("revocation entry".into());
        let field = |i: usize| -> Result<i64, StoreError> {
            let slice = bytes.get(1 + 8 * i..9 + 8 * i).ok_or_else(corrupt)?;
            Ok(i64::from_be_bytes(slice.try_into().map_err(|_| corrupt())?))
        };
        let issuer = match bytes.len() {
            Self::LEGACY_LEN => 1,
            Self::LEN => bytes
                .get(Self::LEGACY_LEN..)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .ok_or_else(corrupt)?,
            _ => return Err(corrupt()),
        };
        let reason = bytes
            .first()
            .and_then(|c| RevocationReason::from_code(*c))
            .ok_or_else(corrupt)?;
        let invalidity = field(1)?;
        Ok(RevokedEntry {
            reason,
            revoked_at: field(0)?,
            invalidity_date: (invalidity != i64::MIN).then_some(invalidity),
            not_after: field(2)?,
            issuer,
        })
    }
}

/// A serial's status as OCSP sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownStatus {
    /// This CA never issued a certificate with this serial.
    NeverIssued,
    /// Issued by issuing CA `issuer` and not revoked.
    Good {
        /// The issuing CA.
        issuer: u32,
    },
    /// Revoked.
    Revoked(RevokedEntry),
}

/// What revocation, CRLs and OCSP need from storage.
pub trait RevocationStore: Send + Sync {
    /// Revokes a good certificate (or one on hold, to make it permanent), durably, with
    /// its audit entry. `AlreadyRevoked` if it is revoked for another reason.
    fn revoke(
        &self,
        serial: &Serial,
        revocation: RevocationRecord,
        event: AuditEvent,
    ) -> Result<CertificateRecord, StoreError>;
    /// Lifts a certificateHold.
    fn unhold(&self, serial: &Serial, event: AuditEvent) -> Result<CertificateRecord, StoreError>;
    /// Puts a serial this store has no certificate record of on the revocation tree (so
    /// CRLs list it and OCSP answers revoked), durably, with its audit entry: how a CA
    /// restored from a backup revokes what it issued after the backup was taken.
    /// `SerialTaken` if a record exists after all (revoke it the ordinary way),
    /// `AlreadyRevoked` if the serial is on the tree already.
    fn revoke_unrecorded(
        &self,
        serial: &Serial,
        entry: RevokedEntry,
        event: AuditEvent,
    ) -> Result<(), StoreError>;
    /// Visits every revoked certificate, in serial order.
    fn for_each_revoked(
        &self,
        visit: &mut dyn FnMut(&[u8], RevokedEntry),
    ) -> Result<(), StoreError>;
    /// The next number of a monotonic counter (e.g. a CRL number), durably.
    fn next_counter(&self, name: &str) -> Result<u64, StoreError> {
        self.next_counter_at_least(name, 0)
    }
    /// The next number of a monotonic counter, durably: one more than the last, or
    /// `floor` if that is larger. A floor derived from the clock keeps the numbers rising
    /// even when the stored counter went back (a data directory restored from a backup).
    fn next_counter_at_least(&self, name: &str, floor: u64) -> Result<u64, StoreError>;
}

type Tx<T> = Result<T, ConflictableTransactionError<StoreError>>;

impl SledStore {
    /// A serial's status, reading only the compact trees (the OCSP miss path).
    pub(super) fn known_status_of(&self, serial: &[u8]) -> Result<KnownStatus, StoreError> {
        if let Some(value) = self.revoked.get(serial)? {
            return Ok(KnownStatus::Revoked(RevokedEntry::decode(&value)?));
        }
        // The issuer sits at a fixed place in the compact record (`record`).
        Ok(match self.certificates.get(serial)? {
            Some(bytes) => KnownStatus::Good {
                issuer: super::record::issuer_of(&bytes)?,
            },
            None => KnownStatus::NeverIssued,
        })
    }

    /// The one way a certificate's status changes: in one transaction, `change` checks
    /// and edits the record; the status index, the compact `revoked` tree and the audit
    /// trail follow it; then the change is made durable.
    fn change_status(
        &self,
        serial: &Serial,
        event: AuditEvent,
        change: impl Fn(&mut CertificateRecord) -> Result<(), StoreError>,
    ) -> Result<CertificateRecord, StoreError> {
        self.with_copy([serial.as_bytes()], || {
            self.append_to_log(|appended| {
                Ok((
                    &self.certificates,
                    &self.by_role_status,
                    &self.revoked,
                    &self.audit,
                    &self.meta,
                    &self.revocation_events,
                    &self.tlog_entries,
                    &self.tlog_index,
                )
                    .transaction(
                        |(
                            certificates,
                            by_role_status,
                            revoked,
                            audit,
                            meta,
                            events,
                            entries,
                            index,
                        )| {
                            let record = change_status_in(
                                &self.ders,
                                certificates,
                                by_role_status,
                                revoked,
                                serial,
                                &change,
                            )?;
                            super::transparency::LogTx {
                                entries,
                                index,
                                meta,
                                appended,
                            }
                            .append_event(
                                events,
                                super::RevocationEvent::for_record(
                                    &record,
                                    OffsetDateTime::now_utc(),
                                ),
                            )?;
                            audit::append(audit, meta, &event)?;
                            Ok(record)
                        },
                    )?)
            })
        })
    }

    /// Runs `transaction`, which may change the `revoked` tree's entries of `serials`,
    /// then makes it durable, keeping the revocation copy right across a crash (see
    /// `revoked_copy`): markers before, the copy settled after.
    pub(super) fn with_copy<'a, T>(
        &self,
        serials: impl IntoIterator<Item = &'a [u8]>,
        transaction: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pending = self.copy.mark(serials)?;
        let result = transaction();
        let settle = |pending| {
            if let Err(e) = self.copy.settle(pending, &self.revoked) {
                // The markers stay: the next open (or `paypki crl`) settles them.
                tracing::warn!(error = %e, "the revocation copy could not follow a change");
            }
        };
        match result {
            Ok(value) => {
                // Durable first; if that fails the markers stay for the next open.
                self.flush()?;
                settle(pending);
                Ok(value)
            }
            Err(e) => {
                settle(pending);
                Err(e)
            }
        }
    }
}

/// One certificate's status change inside a larger transaction (over `certificates`,
/// `by_role_status` and `revoked`): `change` checks and edits the record, and the status index
/// and the compact `revoked` tree follow it. The caller appends the audit entry.
pub(super) fn change_status_in(
    ders: &super::der_log::DerLog,
    certificates: &TransactionalTree,
    by_role_status: &TransactionalTree,
    revoked: &TransactionalTree,
    serial: &Serial,
    change: impl Fn(&mut CertificateRecord) -> Result<(), StoreError>,
) -> Tx<CertificateRecord> {
    let bytes = certificates
        .get(serial.as_bytes())?
        .ok_or_else(|| ConflictableTransactionError::Abort(StoreError::NotFound(serial.clone())))?;
    let stored = decode_record(&bytes)?;
    let mut record = stored.record;
    if let Some(at) = stored.der_at {
        record.der = ders.read(at).map_err(ConflictableTransactionError::Abort)?;
    }
    let before = record.status;
    change(&mut record).map_err(ConflictableTransactionError::Abort)?;
    if before != record.status {
        by_role_status.remove(role_status_key(record.role, before, serial.as_bytes()))?;
    }
    by_role_status.insert(
        role_status_key(record.role, record.status, serial.as_bytes()),
        &[],
    )?;
    // Written in the compact form, whichever form it was read in; a DER in the DER log
    // stays where it is.
    certificates.insert(
        serial.as_bytes(),
        super::record::encode_stored(&record, stored.der_at),
    )?;
    match record
        .revocation
        .as_ref()
        .and_then(|r| RevokedEntry::from_record(&record, r))
    {
        Some(entry) => revoked.insert(serial.as_bytes(), entry.encode())?,
        None => revoked.remove(serial.as_bytes())?,
    };
    Ok(record)
}

/// Revokes `record` (good, or on hold to make the hold permanent); `AlreadyRevoked`
/// otherwise. The rule of [`RevocationStore::revoke`], shared with the participant acts.
pub(super) fn apply_revocation(
    record: &mut CertificateRecord,
    revocation: &RevocationRecord,
) -> Result<(), StoreError> {
    let reason: RevocationReason = revocation
        .reason
        .parse()
        .map_err(|e: crate::model::UnknownReason| StoreError::Corrupt(e.to_string()))?;
    if let Some(existing) = &record.revocation {
        // RFC 5280 §5.3.1: a hold may become a permanent revocation.
        if existing.reason != RevocationReason::CertificateHold.name()
            || reason == RevocationReason::CertificateHold
        {
            return Err(StoreError::AlreadyRevoked(
                record.serial.clone(),
                existing.reason.clone(),
            ));
        }
    }
    let mut revocation = revocation.clone();
    if let Some(hold) = &record.revocation {
        // RFC 5280 §5.3.1 practice: a hold made permanent keeps the hold's date, so
        // what was signed while on hold never becomes valid again.
        revocation.revoked_at = hold.revoked_at;
    }
    record.status = CertificateStatus::Revoked;
    record.revocation = Some(revocation);
    Ok(())
}

/// Lifts a certificateHold from `record`; `NotOnHold` otherwise.
pub(super) fn apply_unhold(record: &mut CertificateRecord) -> Result<(), StoreError> {
    let on_hold = record
        .revocation
        .as_ref()
        .is_some_and(|r| r.reason == RevocationReason::CertificateHold.name());
    if !on_hold {
        return Err(StoreError::NotOnHold(record.serial.clone()));
    }
    record.status = CertificateStatus::Good;
    record.revocation = None;
    Ok(())
}

fn decode_record(bytes: &[u8]) -> Tx<super::record::StoredCertificate> {
    super::record::decode_certificate(bytes).map_err(ConflictableTransactionError::Abort)
}

impl RevocationStore for SledStore {
    fn revoke(
        &self,
        serial: &Serial,
        revocation: RevocationRecord,
        event: AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        self.change_status(serial, event, |record| {
            apply_revocation(record, &revocation)
        })
    }

    fn unhold(&self, serial: &Serial, event: AuditEvent) -> Result<CertificateRecord, StoreError> {
        self.change_status(serial, event, apply_unhold)
    }

    fn revoke_unrecorded(
        &self,
        serial: &Serial,
        entry: RevokedEntry,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        self.with_copy([serial.as_bytes()], || {
            self.append_to_log(|appended| {
                Ok((
                    &self.certificates,
                    &self.revoked,
                    &self.audit,
                    &self.meta,
                    &self.revocation_events,
                    &self.tlog_entries,
                    &self.tlog_index,
                )
                    .transaction(
                        |(certificates, revoked, audit, meta, events, entries, index)| {
                            if certificates.get(serial.as_bytes())?.is_some() {
                                return Err(ConflictableTransactionError::Abort(
                                    StoreError::SerialTaken(serial.clone()),
                                ));
                            }
                            if let Some(existing) = revoked.get(serial.as_bytes())? {
                                let reason = RevokedEntry::decode(&existing)
                                    .map(|e| e.reason.name().to_string())
                                    .unwrap_or_else(|_| "unknown reason".into());
                                return Err(ConflictableTransactionError::Abort(
                                    StoreError::AlreadyRevoked(serial.clone(), reason),
                                ));
                            }
                            revoked.insert(serial.as_bytes(), entry.encode())?;
                            super::transparency::LogTx {
                                entries,
                                index,
                                meta,
                                appended,
                            }
                            .append_unrecorded_event(
                                events,
                                super::RevocationEvent::for_unrecorded(
                                    serial,
                                    &entry,
                                    OffsetDateTime::now_utc(),
                                ),
                            )?;
                            audit::append(audit, meta, &event)?;
                            Ok(())
                        },
                    )?)
            })
        })
    }

    fn for_each_revoked(
        &self,
        visit: &mut dyn FnMut(&[u8], RevokedEntry),
    ) -> Result<(), StoreError> {
        for item in self.revoked.iter() {
            let (serial, value) = item?;
            visit(&serial, RevokedEntry::decode(&value)?);
        }
        Ok(())
    }

    fn next_counter_at_least(&self, name: &str, floor: u64) -> Result<u64, StoreError> {
        // In the revocation copy, which `paypki crl` opens alone.
        self.copy.next_counter_at_least(name, floor)
    }
}

/// What building a CRL reads: the revoked certificates and the CRL number counters.
/// Every [`RevocationStore`] is one; so is the sled revocation copy that `paypki crl`
/// opens instead of the whole database ([`CrlReader`]).
pub trait CrlSource {
    /// Visits every revoked certificate, in serial order
    /// ([`RevocationStore::for_each_revoked`]).
    fn visit_revoked(&self, visit: &mut dyn FnMut(&[u8], RevokedEntry)) -> Result<(), StoreError>;
    /// The next number of a counter, durably
    /// ([`RevocationStore::next_counter_at_least`]).
    fn take_number(&self, name: &str, floor: u64) -> Result<u64, StoreError>;
}

impl<T: RevocationStore + ?Sized> CrlSource for T {
    fn visit_revoked(&self, visit: &mut dyn FnMut(&[u8], RevokedEntry)) -> Result<(), StoreError> {
        self.for_each_revoked(visit)
    }
    fn take_number(&self, name: &str, floor: u64) -> Result<u64, StoreError> {
        self.next_counter_at_least(name, floor)
    }
}

/// What `paypki crl` reads revocations from: the sled revocation copy alone when it is
/// settled, otherwise the whole store ([`CrlReader::open`]).
#[derive(Debug)]
pub struct CrlReader(Reader);

#[derive(Debug)]
enum Reader {
    Copy(super::revoked_copy::RevokedCopy),
    Store(super::SharedStore),
}

impl CrlReader {
    /// Opens what a CRL is built from at `location`: for sled, the revocation copy
    /// beside the database when it exists and has no pending change (a few MiB to load
    /// instead of the whole database's page table); otherwise the store, whose opening
    /// settles or builds the copy. `Locked` when another process (the server) holds it.
    pub fn open(location: &super::DatabaseLocation) -> Result<Self, StoreError> {
        if let super::DatabaseLocation::Sled(path) = location {
            let copy_path = super::copy_path(path);
            if let Some(copy) = super::revoked_copy::RevokedCopy::open_settled(&copy_path)? {
                return Ok(CrlReader(Reader::Copy(copy)));
            }
        }
        Ok(CrlReader(Reader::Store(super::open(location)?)))
    }

    /// Whether it reads the revocation copy alone (not the whole store).
    pub fn reads_copy(&self) -> bool {
        matches!(self.0, Reader::Copy(_))
    }
}

impl CrlSource for CrlReader {
    fn visit_revoked(&self, visit: &mut dyn FnMut(&[u8], RevokedEntry)) -> Result<(), StoreError> {
        match &self.0 {
            Reader::Copy(copy) => copy.for_each_revoked(visit),
            Reader::Store(store) => store.for_each_revoked(visit),
        }
    }
    fn take_number(&self, name: &str, floor: u64) -> Result<u64, StoreError> {
        match &self.0 {
            Reader::Copy(copy) => copy.next_counter_at_least(name, floor),
            Reader::Store(store) => store.next_counter_at_least(name, floor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::*;
    use crate::model::Role;
    use crate::store::{CertificateStore, StoreReader};

    fn revocation(reason: RevocationReason) -> RevocationRecord {
        RevocationRecord {
            reason: reason.name().into(),
            revoked_at: OffsetDateTime::now_utc(),
            invalidity_date: None,
        }
    }

    #[test]
    fn revoke_hold_unhold_and_counters() {
        let store = SledStore::temporary().unwrap();
        store
            .record_issued(
                &record("0a", Role::Merchant, 30),
                AuditEvent::new("issue", "t"),
            )
            .unwrap();
        let serial: Serial = "0a".parse().unwrap();
        let ev = || AuditEvent::new("revoke", "t");
        assert!(matches!(
            store.unhold(&serial, ev()),
            Err(StoreError::NotOnHold(_))
        ));
        store
            .revoke(&serial, revocation(RevocationReason::CertificateHold), ev())
            .unwrap();
        let mut seen = Vec::new();
        store
            .for_each_revoked(&mut |s, e| seen.push((s.to_vec(), e.reason)))
            .unwrap();
        assert_eq!(seen, vec![(vec![0x0a], RevocationReason::CertificateHold)]);
        store.unhold(&serial, ev()).unwrap();
        assert_eq!(
            store.certificate(&serial).unwrap().unwrap().status,
            CertificateStatus::Good
        );
        store
            .revoke(&serial, revocation(RevocationReason::CertificateHold), ev())
            .unwrap();
        let made_permanent = store
            .revoke(&serial, revocation(RevocationReason::KeyCompromise), ev())
            .unwrap();
        assert_eq!(made_permanent.revocation.unwrap().reason, "keyCompromise");
        assert!(matches!(
            store.revoke(&serial, revocation(RevocationReason::Superseded), ev()),
            Err(StoreError::AlreadyRevoked(_, _))
        ));
        assert!(matches!(
            store.revoke(
                &"0b".parse().unwrap(),
                revocation(RevocationReason::Superseded),
                ev()
            ),
            Err(StoreError::NotFound(_))
        ));
        let revoked = store
            .list(&crate::store::ListFilter {
                status: Some(CertificateStatus::Revoked),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(revoked.len(), 1);
        assert_eq!(store.next_counter("crl").unwrap(), 1);
        assert_eq!(store.next_counter("crl").unwrap(), 2);
        // A floor above the counter wins; the counter then goes on from there.
        assert_eq!(store.next_counter_at_least("crl", 1000).unwrap(), 1000);
        assert_eq!(store.next_counter_at_least("crl", 1000).unwrap(), 1001);
        assert_eq!(store.next_counter_at_least("crl", 5).unwrap(), 1002);
        assert!(store.verify_audit().unwrap().problems.is_empty());
    }

    #[test]
    fn a_hold_made_permanent_keeps_the_hold_time() {
        // RFC 5280 §5.3.1 practice: signatures made while a certificate was on hold must
        // not become valid again because the permanent revocation came later.
        let store = SledStore::temporary().unwrap();
        store
            .record_issued(
                &record("0c", Role::Merchant, 30),
                AuditEvent::new("issue", "t"),
            )
            .unwrap();
        let serial: Serial = "0c".parse().unwrap();
        let held_at = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let mut hold = revocation(RevocationReason::CertificateHold);
        hold.revoked_at = held_at;
        store
            .revoke(&serial, hold, AuditEvent::new("revoke", "t"))
            .unwrap();
        let mut compromise = revocation(RevocationReason::KeyCompromise);
        compromise.revoked_at = held_at + time::Duration::days(3);
        let record = store
            .revoke(&serial, compromise, AuditEvent::new("revoke", "t"))
            .unwrap();
        let revocation = record.revocation.unwrap();
        assert_eq!(revocation.reason, "keyCompromise");
        assert_eq!(revocation.revoked_at, held_at);
        match store.known_status(serial.as_bytes()).unwrap() {
            KnownStatus::Revoked(entry) => {
                assert_eq!(entry.revoked_at, held_at.unix_timestamp());
                assert_eq!(entry.reason, RevocationReason::KeyCompromise);
            }
            other => panic!("expected revoked, got {other:?}"),
        }
    }

    #[test]
    fn a_serial_without_record_can_be_revoked_once() {
        let store = SledStore::temporary().unwrap();
        let serial: Serial = "7f01".parse().unwrap();
        let entry = RevokedEntry {
            reason: RevocationReason::KeyCompromise,
            revoked_at: 1_800_000_000,
            invalidity_date: None,
            not_after: 1_900_000_000,
            issuer: 2,
        };
        store
            .revoke_unrecorded(&serial, entry, AuditEvent::new("revoke", "t"))
            .unwrap();
        assert_eq!(
            store.known_status(serial.as_bytes()).unwrap(),
            KnownStatus::Revoked(entry)
        );
        assert!(matches!(
            store.revoke_unrecorded(&serial, entry, AuditEvent::new("revoke", "t")),
            Err(StoreError::AlreadyRevoked(_, _))
        ));
        // A serial with a record goes the ordinary way.
        store
            .record_issued(
                &record("0d", Role::Merchant, 30),
                AuditEvent::new("issue", "t"),
            )
            .unwrap();
        assert!(matches!(
            store.revoke_unrecorded(
                &"0d".parse().unwrap(),
                entry,
                AuditEvent::new("revoke", "t")
            ),
            Err(StoreError::SerialTaken(_))
        ));
        assert!(store.verify_audit().unwrap().problems.is_empty());
    }

    #[test]
    fn a_json_record_of_an_earlier_version_reads_and_is_rewritten_compactly() {
        let store = SledStore::temporary().unwrap();
        let old = record("0e", Role::Bank, 30);
        let serial = old.serial.clone();
        // As earlier versions wrote it: JSON, the DER in base64, with its status index.
        store
            .certificates
            .insert(serial.as_bytes(), serde_json::to_vec(&old).unwrap())
            .unwrap();
        store
            .by_role_status
            .insert(
                role_status_key(old.role, old.status, serial.as_bytes()),
                &[],
            )
            .unwrap();
        assert_eq!(store.certificate(&serial).unwrap().unwrap(), old);
        let revoked = store
            .revoke(
                &serial,
                revocation(RevocationReason::Superseded),
                AuditEvent::new("revoke", "t"),
            )
            .unwrap();
        let stored = store.certificates.get(serial.as_bytes()).unwrap().unwrap();
        assert_ne!(stored.first(), Some(&b'{'));
        assert!(stored.len() < serde_json::to_vec(&revoked).unwrap().len());
        assert_eq!(store.certificate(&serial).unwrap().unwrap(), revoked);
        assert_eq!(revoked.der, old.der);
        assert_eq!(revoked.status, CertificateStatus::Revoked);
    }

    #[test]
    fn entries_round_trip() {
        let entry = RevokedEntry {
            reason: RevocationReason::AaCompromise,
            revoked_at: 1_700_000_000,
            invalidity_date: Some(-5),
            not_after: 1_800_000_000,
            issuer: 7,
        };
        assert_eq!(RevokedEntry::decode(&entry.encode()).unwrap(), entry);
        // An entry written before rollover existed (25 bytes) is CA 1's.
        let legacy = entry.encode();
        let legacy = RevokedEntry::decode(legacy.get(..25).unwrap()).unwrap();
        assert_eq!(legacy.issuer, 1);
        assert_eq!(legacy.revoked_at, entry.revoked_at);
        assert!(RevokedEntry::decode(&[1, 2]).is_err());
    }
}
