//! Renewal lineage: which certificate a renewal replaced (`children`: parent ‖ child →
//! empty), renewal proofs already used (`renewal_proofs`: digest → expiry), and parents
//! waiting to be revoked as superseded (`supersede`: due time ‖ serial → empty).

use time::OffsetDateTime;

use super::{time_key, SledStore, StoreError};
use crate::model::Serial;

/// What the renewal path needs from storage beyond certificates.
pub trait LineageStore: Send + Sync {
    /// The certificates renewed from `parent` (its direct children).
    fn children(&self, parent: &Serial) -> Result<Vec<Serial>, StoreError>;
    /// Marks a renewal proof (by the digest of what it signs) as used until `expires`.
    /// Returns false if it was used before: a proof renews once.
    fn claim_renewal_proof(
        &self,
        digest: &[u8; 32],
        expires: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Schedules `serial` to be revoked as superseded at `due`.
    fn schedule_supersession(&self, serial: &Serial, due: OffsetDateTime)
        -> Result<(), StoreError>;
    /// Serials whose supersession is due at `now`, removing them from the schedule.
    fn take_due_supersessions(&self, now: OffsetDateTime) -> Result<Vec<Serial>, StoreError>;
}

impl LineageStore for SledStore {
    fn children(&self, parent: &Serial) -> Result<Vec<Serial>, StoreError> {
        let prefix = length_prefixed(parent);
        let mut out = Vec::new();
        for item in self.children.scan_prefix(&prefix) {
            let (key, _) = item?;
            let child = key
                .get(prefix.len()..)
                .ok_or_else(|| StoreError::Corrupt("lineage entry".into()))?;
            out.push(serial_from_key(child, "lineage entry")?);
        }
        Ok(out)
    }

    fn claim_renewal_proof(
        &self,
        digest: &[u8; 32],
        expires: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        // Forget proofs whose window has closed: they can no longer verify anyway.
        for item in self.renewal_proofs.iter() {
            let (key, value) = item?;
            let expired = <[u8; 8]>::try_from(value.as_ref())
                .map(i64::from_be_bytes)
                .is_ok_and(|at| at < now);
            if expired {
                self.renewal_proofs.remove(key)?;
            }
        }
        let claimed = self
            .renewal_proofs
            .compare_and_swap(
                digest,
                None as Option<&[u8]>,
                Some(expires.unix_timestamp().to_be_bytes().to_vec()),
            )?
            .is_ok();
        self.flush()?;
        Ok(claimed)
    }

    fn schedule_supersession(
        &self,
        serial: &Serial,
        due: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut key = time_key(due).to_vec();
        key.extend_from_slice(serial.as_bytes());
        self.supersede.insert(key, &[])?;
        self.flush()
    }

    fn take_due_supersessions(&self, now: OffsetDateTime) -> Result<Vec<Serial>, StoreError> {
        let mut due = Vec::new();
        for item in self.supersede.range(..time_key(now).to_vec()) {
            let (key, _) = item?;
            let serial = key
                .get(8..)
                .ok_or_else(|| StoreError::Corrupt("supersession entry".into()))?;
            due.push((key.clone(), serial_from_key(serial, "supersession entry")?));
        }
        for (key, _) in &due {
            self.supersede.remove(key)?;
        }
        if !due.is_empty() {
            self.flush()?;
        }
        Ok(due.into_iter().map(|(_, serial)| serial).collect())
    }
}

/// A serial's magnitude octets, as stored in a key.
fn serial_from_key(octets: &[u8], what: &str) -> Result<Serial, StoreError> {
    hex::encode(octets)
        .parse()
        .map_err(|e: crate::model::SerialError| StoreError::Corrupt(format!("{what}: {e}")))
}

/// `len ‖ parent`: a prefix no other parent's key can start with.
pub(super) fn length_prefixed(parent: &Serial) -> Vec<u8> {
    let bytes = parent.as_bytes();
    let mut key = Vec::with_capacity(bytes.len() + 1);
    key.push(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(bytes);
    key
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::super::{AuditEvent, CertificateStore};
    use super::*;
    use crate::model::Role;

    #[test]
    fn children_proofs_and_supersessions() {
        let store = SledStore::temporary().unwrap();
        let parent: Serial = "0a".parse().unwrap();
        let mut child = record("0b", Role::Merchant, 30);
        child.parent = Some(parent.clone());
        store
            .record_issued(&child, AuditEvent::new("issue", "t"))
            .unwrap();
        // "0a0b" must not count as a child of "0a" because of a shared byte prefix.
        store
            .record_issued(
                &record("0a0b", Role::Merchant, 30),
                AuditEvent::new("issue", "t"),
            )
            .unwrap();
        assert_eq!(store.children(&parent).unwrap(), vec![child.serial.clone()]);

        let later = OffsetDateTime::now_utc() + time::Duration::minutes(10);
        assert!(store.claim_renewal_proof(&[7; 32], later).unwrap());
        assert!(!store.claim_renewal_proof(&[7; 32], later).unwrap());
        assert!(store.claim_renewal_proof(&[8; 32], later).unwrap());

        let now = OffsetDateTime::now_utc();
        store
            .schedule_supersession(&parent, now - time::Duration::seconds(1))
            .unwrap();
        store
            .schedule_supersession(&child.serial, now + time::Duration::hours(1))
            .unwrap();
        assert_eq!(store.take_due_supersessions(now).unwrap(), vec![parent]);
        assert!(store.take_due_supersessions(now).unwrap().is_empty());
    }
}
