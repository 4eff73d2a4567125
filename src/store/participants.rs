//! The participant registry: the banks, merchants, gateways and buyers behind the
//! certificates. `participants` maps a participant id to its [`ParticipantRecord`]
//! (JSON); `participant_certs` indexes its certificates (`len ‖ id ‖ serial` → empty,
//! written with the certificate in [`super::CertificateStore::record_issued`]).
//!
//! A suspension, resumption or termination changes the participant and the status of
//! its certificates in ONE transaction with ONE audit entry: either all of it happened
//! or none of it.

use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionError;
use sled::Transactional;
use time::OffsetDateTime;

use super::revocations::{apply_revocation, apply_unhold, change_status_in};
use super::{audit, AuditEvent, CertificateRecord, RevocationRecord, SledStore, StoreError};
use crate::model::{Role, Serial};

/// Where a participant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantStatus {
    /// May enroll and renew; its certificates are in use.
    Active,
    /// Its certificates are on hold; enrollment and renewal are refused until resumed.
    Suspended,
    /// Its certificates are revoked (cessationOfOperation); nothing more, ever.
    Terminated,
}

impl ParticipantStatus {
    /// The lowercase name used in JSON, URLs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantStatus::Active => "active",
            ParticipantStatus::Suspended => "suspended",
            ParticipantStatus::Terminated => "terminated",
        }
    }
}

impl std::fmt::Display for ParticipantStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ParticipantStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "active" => Ok(ParticipantStatus::Active),
            "suspended" => Ok(ParticipantStatus::Suspended),
            "terminated" => Ok(ParticipantStatus::Terminated),
            _ => Err(format!(
                "unknown participant status {s:?}: expected active, suspended or terminated"
            )),
        }
    }
}

/// A hold placed by a suspension: resumption lifts exactly these, and only while the
/// certificate is still on that same hold (not one placed since, for another reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedHold {
    /// The certificate.
    pub serial: Serial,
    /// The hold's revocation time, which identifies it.
    #[serde(with = "time::serde::rfc3339")]
    pub held_at: OffsetDateTime,
}

/// A registered participant. Which fields a role uses, and how they become a
/// certificate's subject and SANs, is the RA's business (`src/ra/participants.rs`); the
/// store keeps them as given. Optional fields are absent from the JSON when unset, and
/// every field added later must have a serde default so that old records still load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantRecord {
    /// `par_<24 hex>`, generated, never reused.
    pub id: String,
    /// The role: fixed for the participant's life.
    pub role: Role,
    /// Active, suspended or terminated.
    pub status: ParticipantStatus,
    /// Display name (the certificate's CN).
    pub name: String,
    /// Registered legal name of a bank or merchant (O).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<String>,
    /// The company operating a gateway (O).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// ISO 3166-1 alpha-2 country (C).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// City (L).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// A bank's BIC, ISO 9362 (serialNumber).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bic: Option<String>,
    /// A merchant's id, assigned by its acquiring bank (serialNumber).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    /// A merchant's acquiring bank: the id of a bank participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquiring_bank: Option<String>,
    /// A buyer's customer or account reference at its bank (serialNumber).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_reference: Option<String>,
    /// A buyer's issuing bank: the id of a bank participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuing_bank: Option<String>,
    /// A contact e-mail address that goes into the certificate (rfc822Name SAN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// DNS names (dNSName SANs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    /// URIs (uniformResourceIdentifier SANs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<String>,
    /// IP addresses of a gateway (iPAddress SANs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed (fields or status).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The holds the current suspension placed (empty unless suspended).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placed_holds: Vec<PlacedHold>,
    /// How many certificates were recorded for it. Each issuance bumps it in its own
    /// transaction, so an act that read the participant's certificates before a
    /// concurrent issuance finds the record changed and decides again.
    #[serde(default)]
    pub certificates_issued: u64,
}

/// A status change of one certificate, as part of a participant act.
#[derive(Debug, Clone)]
pub enum CertificateChange {
    /// Revoke (a certificateHold included): a good certificate, or one on hold made
    /// permanent, with the rule of [`super::RevocationStore::revoke`].
    Revoke(Serial, RevocationRecord),
    /// Lift a certificateHold.
    Unhold(Serial),
}

/// Filters of the participant listing.
#[derive(Debug, Clone, Default)]
pub struct ParticipantFilter {
    /// Only this role.
    pub role: Option<Role>,
    /// Only this status.
    pub status: Option<ParticipantStatus>,
    /// At most this many.
    pub limit: Option<usize>,
    /// Continue after this id (the `next` of the previous page).
    pub after: Option<String>,
}

/// One page of participants.
#[derive(Debug, Clone)]
pub struct ParticipantPage {
    /// The records, in id order.
    pub records: Vec<ParticipantRecord>,
    /// The id to continue after, when the limit cut the listing short.
    pub next: Option<String>,
}

/// What the registry needs from storage.
pub trait ParticipantStore: Send + Sync {
    /// Stores a new participant with its audit entry, durably; `ParticipantExists` if
    /// the id is taken.
    fn add_participant(
        &self,
        record: &ParticipantRecord,
        event: AuditEvent,
    ) -> Result<(), StoreError>;
    /// One participant.
    fn participant(&self, id: &str) -> Result<Option<ParticipantRecord>, StoreError>;
    /// Participants by id, a page at a time.
    fn list_participants(&self, filter: &ParticipantFilter) -> Result<ParticipantPage, StoreError>;
    /// The serials of the certificates issued for a participant, in serial order.
    fn participant_certificates(&self, id: &str) -> Result<Vec<Serial>, StoreError>;
    /// Replaces `old` by `new` and applies `changes` to certificates, with ONE audit
    /// entry, in one transaction, durably. `ParticipantChanged` if the stored record is
    /// no longer `old` (a concurrent change: read again and retry); a change that no
    /// longer applies (e.g. `AlreadyRevoked`) undoes everything. Returns the changed
    /// certificate records, in the order of `changes`.
    fn replace_participant(
        &self,
        old: &ParticipantRecord,
        new: &ParticipantRecord,
        changes: &[CertificateChange],
        event: AuditEvent,
    ) -> Result<Vec<CertificateRecord>, StoreError>;
}

fn encode(record: &ParticipantRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode(bytes: &[u8]) -> Result<ParticipantRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Inside the issuance transaction: the participant must be active at the moment the
/// certificate is recorded (a suspension or termination that committed first wins), and
/// its record changes, so an act that read its certificates before cannot miss this one.
pub(super) fn count_issuance(
    participants: &sled::transaction::TransactionalTree,
    id: &str,
) -> Result<Result<(), StoreError>, ConflictableTransactionError<StoreError>> {
    let abort = ConflictableTransactionError::Abort;
    let bytes = participants.get(id.as_bytes())?.ok_or_else(|| {
        abort(StoreError::Corrupt(format!(
            "participant {id} is not registered"
        )))
    })?;
    let mut record = decode(&bytes).map_err(abort)?;
    if record.status != ParticipantStatus::Active {
        // Refused, and nothing written: the rest of a batch goes on.
        return Ok(Err(StoreError::ParticipantInactive(
            id.to_string(),
            record.status,
        )));
    }
    record.certificates_issued = record.certificates_issued.saturating_add(1);
    participants.insert(id.as_bytes(), encode(&record).map_err(abort)?)?;
    Ok(Ok(()))
}

/// `len ‖ id`: a prefix of the certificate index no other participant's key starts with.
pub(super) fn certificate_index_prefix(id: &str) -> Vec<u8> {
    let bytes = id.as_bytes();
    let mut key = Vec::with_capacity(bytes.len() + 1);
    key.push(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(bytes);
    key
}

impl ParticipantStore for SledStore {
    fn add_participant(
        &self,
        record: &ParticipantRecord,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let value = encode(record)?;
        (&self.participants, &self.audit, &self.meta)
            .transaction(|(participants, audit, meta)| {
                if participants.get(record.id.as_bytes())?.is_some() {
                    return Err(ConflictableTransactionError::Abort(
                        StoreError::ParticipantExists(record.id.clone()),
                    ));
                }
                participants.insert(record.id.as_bytes(), value.as_slice())?;
                audit::append(audit, meta, &event)?;
                Ok(())
            })
            .map_err(StoreError::from)?;
        self.flush()
    }

    fn participant(&self, id: &str) -> Result<Option<ParticipantRecord>, StoreError> {
        self.participants
            .get(id.as_bytes())?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    fn list_participants(&self, filter: &ParticipantFilter) -> Result<ParticipantPage, StoreError> {
        use std::ops::Bound;
        let limit = filter.limit.unwrap_or(usize::MAX);
        let lower = match &filter.after {
            Some(after) => Bound::Excluded(after.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut records = Vec::new();
        let mut next = None;
        for item in self
            .participants
            .range::<Vec<u8>, _>((lower, Bound::Unbounded))
        {
            let (_, value) = item?;
            let record = decode(&value)?;
            if filter.role.is_some_and(|r| r != record.role)
                || filter.status.is_some_and(|s| s != record.status)
            {
                continue;
            }
            if records.len() >= limit {
                next = records
                    .last()
                    .map(|last: &ParticipantRecord| last.id.clone());
                break;
            }
            records.push(record);
        }
        Ok(ParticipantPage { records, next })
    }

    fn participant_certificates(&self, id: &str) -> Result<Vec<Serial>, StoreError> {
        let prefix = certificate_index_prefix(id);
        let mut out = Vec::new();
        for item in self.participant_certs.scan_prefix(&prefix) {
            let (key, _) = item?;
            let serial = key
                .get(prefix.len()..)
                .ok_or_else(|| StoreError::Corrupt("participant certificate entry".into()))?;
            out.push(
                hex::encode(serial)
                    .parse()
                    .map_err(|e: crate::model::SerialError| {
                        StoreError::Corrupt(format!("participant certificate entry: {e}"))
                    })?,
            );
        }
        Ok(out)
    }

    fn replace_participant(
        &self,
        old: &ParticipantRecord,
        new: &ParticipantRecord,
        changes: &[CertificateChange],
        event: AuditEvent,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let expected = encode(old)?;
        let value = encode(new)?;
        let serials = changes.iter().map(|change| match change {
            CertificateChange::Revoke(serial, _) | CertificateChange::Unhold(serial) => {
                serial.as_bytes()
            }
        });
        // Durable when it returns (`with_copy` flushes).
        self.with_copy(serials, || {
            self.append_to_log(|appended| {
                (
                    &self.participants,
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
                            participants,
                            certificates,
                            by_role_status,
                            revoked,
                            audit,
                            meta,
                            events,
                            entries,
                            index,
                        )| {
                            let current = participants.get(old.id.as_bytes())?;
                            if current.as_deref() != Some(expected.as_slice()) {
                                return Err(ConflictableTransactionError::Abort(
                                    StoreError::ParticipantChanged(old.id.clone()),
                                ));
                            }
                            participants.insert(new.id.as_bytes(), value.as_slice())?;
                            let mut changed = Vec::with_capacity(changes.len());
                            for change in changes {
                                let record = match change {
                                    CertificateChange::Revoke(serial, revocation) => {
                                        change_status_in(
                                            &self.ders,
                                            certificates,
                                            by_role_status,
                                            revoked,
                                            serial,
                                            |record| apply_revocation(record, revocation),
                                        )?
                                    }
                                    CertificateChange::Unhold(serial) => change_status_in(
                                        &self.ders,
                                        certificates,
                                        by_role_status,
                                        revoked,
                                        serial,
                                        apply_unhold,
                                    )?,
                                };
                                changed.push(record);
                            }
                            let now = OffsetDateTime::now_utc();
                            let log = super::transparency::LogTx {
                                entries,
                                index,
                                meta,
                                appended,
                            };
                            for record in &changed {
                                log.append_event(
                                    events,
                                    super::RevocationEvent::for_record(record, now),
                                )?;
                            }
                            audit::append(audit, meta, &event)?;
                            Ok(changed)
                        },
                    )
                    .map_err(StoreError::from)
            })
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::tests::record;
    use super::*;
    use crate::model::{CertificateStatus, RevocationReason};
    use crate::store::{CertificateStore, StoreReader};

    pub(in crate::store) fn bank(id: &str) -> ParticipantRecord {
        let now = OffsetDateTime::now_utc();
        ParticipantRecord {
            id: id.into(),
            role: Role::Bank,
            status: ParticipantStatus::Active,
            name: "Bank".into(),
            legal_name: Some("Bank AG".into()),
            operator: None,
            country: Some("DE".into()),
            locality: None,
            bic: Some("DEUTDEFF".into()),
            merchant_id: None,
            acquiring_bank: None,
            customer_reference: None,
            issuing_bank: None,
            email: None,
            dns_names: vec![],
            uris: vec![],
            ip_addresses: vec![],
            created_at: now,
            updated_at: now,
            placed_holds: vec![],
            certificates_issued: 0,
        }
    }

    fn hold(serial: &Serial) -> CertificateChange {
        CertificateChange::Revoke(
            serial.clone(),
            RevocationRecord {
                reason: RevocationReason::CertificateHold.name().into(),
                revoked_at: OffsetDateTime::now_utc(),
                invalidity_date: None,
            },
        )
    }

    #[test]
    fn an_act_changes_the_participant_and_its_certificates_together_or_not_at_all() {
        let store = SledStore::temporary().unwrap();
        let participant = bank("par_1");
        store
            .add_participant(&participant, AuditEvent::new("participant-add", "t"))
            .unwrap();
        assert!(matches!(
            store.add_participant(&participant, AuditEvent::new("participant-add", "t")),
            Err(StoreError::ParticipantExists(_))
        ));
        let mut cert = record("0a", Role::Bank, 30);
        cert.participant = Some("par_1".into());
        store
            .record_issued(&cert, AuditEvent::new("issue", "t"))
            .unwrap();
        store
            .record_issued(&record("0b", Role::Bank, 30), AuditEvent::new("issue", "t"))
            .unwrap();
        let serials = store.participant_certificates("par_1").unwrap();
        assert_eq!(serials, vec![cert.serial.clone()]);
        // The issuance changed the participant: an act decided before it is refused.
        let participant = store.participant("par_1").unwrap().unwrap();
        assert_eq!(participant.certificates_issued, 1);
        assert!(store.participant_certificates("par_").unwrap().is_empty());

        let mut suspended = participant.clone();
        suspended.status = ParticipantStatus::Suspended;
        let changed = store
            .replace_participant(
                &participant,
                &suspended,
                &[hold(&cert.serial)],
                AuditEvent::new("participant-suspend", "t"),
            )
            .unwrap();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].status, CertificateStatus::Revoked);
        // A stale `old` is refused and changes nothing.
        assert!(matches!(
            store.replace_participant(
                &participant,
                &suspended,
                &[],
                AuditEvent::new("participant-suspend", "t")
            ),
            Err(StoreError::ParticipantChanged(_))
        ));
        // A change that no longer applies undoes the whole act.
        let mut back = suspended.clone();
        back.status = ParticipantStatus::Active;
        let unhold_good = "0b".parse().unwrap();
        assert!(matches!(
            store.replace_participant(
                &suspended,
                &back,
                &[
                    CertificateChange::Unhold(cert.serial.clone()),
                    CertificateChange::Unhold(unhold_good)
                ],
                AuditEvent::new("participant-resume", "t")
            ),
            Err(StoreError::NotOnHold(_))
        ));
        assert_eq!(
            store.participant("par_1").unwrap().unwrap().status,
            ParticipantStatus::Suspended
        );
        // No certificate is recorded for a participant that is not active.
        let mut late = record("0c", Role::Bank, 30);
        late.participant = Some("par_1".into());
        assert!(matches!(
            store.record_issued(&late, AuditEvent::new("issue", "t")),
            Err(StoreError::ParticipantInactive(
                _,
                ParticipantStatus::Suspended
            ))
        ));
        assert!(store.certificate(&late.serial).unwrap().is_none());
        assert_eq!(
            store.certificate(&cert.serial).unwrap().unwrap().status,
            CertificateStatus::Revoked
        );
        let report = store.verify_audit().unwrap();
        assert!(report.problems.is_empty());
        // add, two issues, one suspension: the failed acts left no entry.
        assert_eq!(report.entries, 4);
    }

    #[test]
    fn participants_list_in_pages_and_by_filter() {
        let store = SledStore::temporary().unwrap();
        for i in 0..5 {
            let mut p = bank(&format!("par_{i}"));
            if i % 2 == 1 {
                p.role = Role::Gateway;
            }
            store
                .add_participant(&p, AuditEvent::new("participant-add", "t"))
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list_participants(&ParticipantFilter {
                    limit: Some(2),
                    after: after.clone(),
                    ..Default::default()
                })
                .unwrap();
            seen.extend(page.records.into_iter().map(|r| r.id));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ["par_0", "par_1", "par_2", "par_3", "par_4"]);
        let gateways = store
            .list_participants(&ParticipantFilter {
                role: Some(Role::Gateway),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(gateways.records.len(), 2);
        assert!(gateways.next.is_none());
    }
}
