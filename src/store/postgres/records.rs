//! Tokens, lineage, officers, approvals, participants and the audit trail.

use time::OffsetDateTime;

use super::certificates::{change_status_in, serial_column};
use super::{execute, from_json, get, limit_of, pg, query, to_json, Head, Param, PgStore};
use crate::model::{Role, Serial};
use crate::store::revocations::{apply_revocation, apply_unhold};
use crate::store::{
    role_byte, ApprovalRecord, ApprovalStore, AuditEntry, AuditEvent, AuditStore,
    CertificateChange, CertificateRecord, LineageStore, OfficerRecord, OfficerStore,
    ParticipantFilter, ParticipantPage, ParticipantRecord, ParticipantStatus, ParticipantStore,
    RevocationEvent, StoreError, TokenRecord, TokenStore,
};

/// The `meta` key of the pre-officer admin credential hash (as on sled).
pub(super) const ADMIN_HASH_KEY: &str = "admin_credential_sha256";

/// The stored status number of a participant.
pub(super) fn participant_status_number(status: ParticipantStatus) -> i16 {
    match status {
        ParticipantStatus::Active => 1,
        ParticipantStatus::Suspended => 2,
        ParticipantStatus::Terminated => 3,
    }
}

pub(super) fn role_number(role: Role) -> i16 {
    i16::from(role_byte(role))
}

/// Sled compares a stored record with the expected one as JSON bytes; here the stored
/// jsonb is decoded and encoded again so both sides go through the same serializer.
fn same_record<T: serde::Serialize + serde::de::DeserializeOwned>(
    stored: Option<&str>,
    expected: Option<&T>,
) -> Result<bool, StoreError> {
    match (stored, expected) {
        (None, None) => Ok(true),
        (Some(stored), Some(expected)) => {
            let stored: T = from_json(stored)?;
            Ok(to_json(&stored)? == to_json(expected)?)
        }
        _ => Ok(false),
    }
}

/// Sorting time of an approval (Unix nanoseconds, clamped to what a bigint holds).
pub(super) fn requested_ns(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos()).unwrap_or(if at.unix_timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

impl TokenStore for PgStore {
    fn put_token(&self, token: &TokenRecord, event: AuditEvent) -> Result<(), StoreError> {
        self.put_tokens(std::slice::from_ref(token), event)
    }

    fn put_tokens(&self, tokens: &[TokenRecord], event: AuditEvent) -> Result<(), StoreError> {
        let rows = tokens
            .iter()
            .map(|t| Ok((t.id.clone(), to_json(t)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let mut head = Head::lock(&tx).await?;
            let (ids, records): (Vec<String>, Vec<String>) = rows.into_iter().unzip();
            let statement = tx
                .prepare_cached(
                    "INSERT INTO tokens (id, record)
                     SELECT id, record::jsonb FROM unnest($1::text[], $2::text[]) AS t(id, record)
                     ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
                )
                .await
                .map_err(pg)?;
            tx.execute(&statement, &[&ids, &records])
                .await
                .map_err(pg)?;
            head.audit(&tx, &event).await?;
            head.store(&tx).await?;
            tx.commit().await.map_err(pg)
        })
    }

    fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let rows = self.rows(
            "SELECT record::text FROM tokens WHERE id = $1",
            vec![Param::Text(id.to_string())],
        )?;
        rows.first()
            .map(|row| from_json(&get::<String>(row, 0)?))
            .transpose()
    }

    fn claim_token(&self, id: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        // One conditional UPDATE: of racing claims, the row lock lets one through and the
        // others re-check `used_at` after it commits and change nothing.
        let at = serde_json::to_value(TimeJson(at))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .to_string();
        let changed = self.exec(
            "UPDATE tokens SET record = jsonb_set(record, '{used_at}', $2::text::jsonb)
             WHERE id = $1 AND record->>'used_at' IS NULL",
            vec![Param::Text(id.to_string()), Param::Text(at)],
        )?;
        Ok(changed == 1)
    }

    fn release_token(&self, id: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE tokens SET record = jsonb_set(record, '{used_at}', 'null'::jsonb)
             WHERE id = $1 AND record->>'serial' IS NULL",
            vec![Param::Text(id.to_string())],
        )?;
        Ok(())
    }

    fn complete_token(&self, id: &str, serial: &Serial) -> Result<(), StoreError> {
        self.exec(
            "UPDATE tokens SET record = jsonb_set(record, '{serial}', to_jsonb($2::text))
             WHERE id = $1",
            vec![Param::Text(id.to_string()), Param::Text(serial.to_string())],
        )?;
        Ok(())
    }

    fn token_awaits_approval(&self, id: &str, approval: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE tokens SET record = jsonb_set(record, '{approval}', to_jsonb($2::text))
             WHERE id = $1",
            vec![
                Param::Text(id.to_string()),
                Param::Text(approval.to_string()),
            ],
        )?;
        Ok(())
    }
}

/// An instant as the records' JSON has it (RFC 3339).
#[derive(serde::Serialize)]
struct TimeJson(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

impl LineageStore for PgStore {
    fn children(&self, parent: &Serial) -> Result<Vec<Serial>, StoreError> {
        let rows = self.rows(
            "SELECT child FROM children WHERE parent = $1 ORDER BY child",
            vec![Param::Bytes(parent.as_bytes().to_vec())],
        )?;
        rows.iter().map(|row| serial_column(row, 0)).collect()
    }

    fn claim_renewal_proof(
        &self,
        digest: &[u8; 32],
        expires: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let digest = digest.to_vec();
        let expires = expires.unix_timestamp();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            execute(
                &tx,
                "DELETE FROM renewal_proofs WHERE expires < $1",
                &[Param::I64(now)],
            )
            .await?;
            let claimed = execute(
                &tx,
                "INSERT INTO renewal_proofs (digest, expires) VALUES ($1, $2)
                 ON CONFLICT (digest) DO NOTHING",
                &[Param::Bytes(digest), Param::I64(expires)],
            )
            .await?;
            tx.commit().await.map_err(pg)?;
            Ok(claimed == 1)
        })
    }

    fn schedule_supersession(
        &self,
        serial: &Serial,
        due: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO supersede (due, serial) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            vec![
                Param::I64(due.unix_timestamp()),
                Param::Bytes(serial.as_bytes().to_vec()),
            ],
        )?;
        Ok(())
    }

    fn take_due_supersessions(&self, now: OffsetDateTime) -> Result<Vec<Serial>, StoreError> {
        let rows = self.rows(
            "WITH taken AS (DELETE FROM supersede WHERE due < $1 RETURNING due, serial)
             SELECT serial FROM taken ORDER BY due, serial",
            vec![Param::I64(now.unix_timestamp())],
        )?;
        rows.iter().map(|row| serial_column(row, 0)).collect()
    }
}

impl OfficerStore for PgStore {
    fn officer(&self, name: &str) -> Result<Option<OfficerRecord>, StoreError> {
        let rows = self.rows(
            "SELECT record::text FROM officers WHERE name = $1",
            vec![Param::Text(name.to_string())],
        )?;
        rows.first()
            .map(|row| from_json(&get::<String>(row, 0)?))
            .transpose()
    }

    fn officers(&self) -> Result<Vec<OfficerRecord>, StoreError> {
        let rows = self.rows("SELECT record::text FROM officers ORDER BY name", vec![])?;
        rows.iter()
            .map(|row| from_json(&get::<String>(row, 0)?))
            .collect()
    }

    fn add_officer(&self, record: &OfficerRecord, event: AuditEvent) -> Result<bool, StoreError> {
        self.write_officer(record, None, event)
    }

    fn update_officer(
        &self,
        current: &OfficerRecord,
        record: &OfficerRecord,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        self.write_officer(record, Some(current), event)
    }
}

impl PgStore {
    fn write_officer(
        &self,
        record: &OfficerRecord,
        current: Option<&OfficerRecord>,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let record = record.clone();
        let current = current.cloned();
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let mut head = Head::lock(&tx).await?;
            let rows = query(
                &tx,
                "SELECT record::text FROM officers WHERE name = $1 FOR UPDATE",
                &[Param::Text(record.name.clone())],
            )
            .await?;
            let stored = rows.first().map(|row| get::<String>(row, 0)).transpose()?;
            if !same_record(stored.as_deref(), current.as_ref())? {
                return Ok(false);
            }
            execute(
                &tx,
                "INSERT INTO officers (name, record) VALUES ($1, $2::text::jsonb)
                 ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record",
                &[
                    Param::Text(record.name.clone()),
                    Param::Text(to_json(&record)?),
                ],
            )
            .await?;
            head.audit(&tx, &event).await?;
            head.store(&tx).await?;
            tx.commit().await.map_err(pg)?;
            Ok(true)
        })
    }
}

const UPSERT_APPROVAL: &str = "INSERT INTO approvals (id, requested_ns, record)
    VALUES ($1, $2, $3::text::jsonb)
    ON CONFLICT (id) DO UPDATE SET requested_ns = EXCLUDED.requested_ns, record = EXCLUDED.record";

fn approval_params(record: &ApprovalRecord) -> Result<Vec<Param>, StoreError> {
    Ok(vec![
        Param::Text(record.id.clone()),
        Param::I64(requested_ns(record.requested_at)),
        Param::Text(to_json(record)?),
    ])
}

impl ApprovalStore for PgStore {
    fn put_approval(&self, record: &ApprovalRecord, event: AuditEvent) -> Result<(), StoreError> {
        let params = approval_params(record)?;
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let mut head = Head::lock(&tx).await?;
            execute(&tx, UPSERT_APPROVAL, &params).await?;
            head.audit(&tx, &event).await?;
            head.store(&tx).await?;
            tx.commit().await.map_err(pg)
        })
    }

    fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        let rows = self.rows(
            "SELECT record::text FROM approvals WHERE id = $1",
            vec![Param::Text(id.to_string())],
        )?;
        rows.first()
            .map(|row| from_json(&get::<String>(row, 0)?))
            .transpose()
    }

    fn approvals(&self, limit: usize) -> Result<Vec<ApprovalRecord>, StoreError> {
        let rows = self.rows(
            "SELECT record::text FROM approvals ORDER BY requested_ns, id LIMIT $1",
            vec![Param::I64(limit_of(limit))],
        )?;
        rows.iter()
            .map(|row| from_json(&get::<String>(row, 0)?))
            .collect()
    }

    fn update_approval(
        &self,
        current: &ApprovalRecord,
        record: &ApprovalRecord,
        event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let current = current.clone();
        let params = approval_params(record)?;
        let id = record.id.clone();
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let mut head = Head::lock(&tx).await?;
            let rows = query(
                &tx,
                "SELECT record::text FROM approvals WHERE id = $1 FOR UPDATE",
                &[Param::Text(id)],
            )
            .await?;
            let stored = rows.first().map(|row| get::<String>(row, 0)).transpose()?;
            if !same_record(stored.as_deref(), Some(&current))? {
                return Ok(false);
            }
            execute(&tx, UPSERT_APPROVAL, &params).await?;
            head.audit(&tx, &event).await?;
            head.store(&tx).await?;
            tx.commit().await.map_err(pg)?;
            Ok(true)
        })
    }
}

const UPSERT_PARTICIPANT: &str = "INSERT INTO participants (id, role, status, record)
    VALUES ($1, $2, $3, $4::text::jsonb)
    ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, status = EXCLUDED.status,
        record = EXCLUDED.record";

pub(super) fn participant_params(record: &ParticipantRecord) -> Result<Vec<Param>, StoreError> {
    Ok(vec![
        Param::Text(record.id.clone()),
        Param::I16(role_number(record.role)),
        Param::I16(participant_status_number(record.status)),
        Param::Text(to_json(record)?),
    ])
}

impl ParticipantStore for PgStore {
    fn add_participant(
        &self,
        record: &ParticipantRecord,
        event: AuditEvent,
    ) -> Result<(), StoreError> {
        let params = participant_params(record)?;
        let id = record.id.clone();
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let mut head = Head::lock(&tx).await?;
            let added = execute(
                &tx,
                "INSERT INTO participants (id, role, status, record)
                 VALUES ($1, $2, $3, $4::text::jsonb) ON CONFLICT (id) DO NOTHING",
                &params,
            )
            .await?;
            if added != 1 {
                return Err(StoreError::ParticipantExists(id));
            }
            head.audit(&tx, &event).await?;
            head.store(&tx).await?;
            tx.commit().await.map_err(pg)
        })
    }

    fn participant(&self, id: &str) -> Result<Option<ParticipantRecord>, StoreError> {
        let rows = self.rows(
            "SELECT record::text FROM participants WHERE id = $1",
            vec![Param::Text(id.to_string())],
        )?;
        rows.first()
            .map(|row| from_json(&get::<String>(row, 0)?))
            .transpose()
    }

    fn list_participants(&self, filter: &ParticipantFilter) -> Result<ParticipantPage, StoreError> {
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        if let Some(after) = &filter.after {
            params.push(Param::Text(after.clone()));
            conditions.push(format!("id > ${}", params.len()));
        }
        if let Some(role) = filter.role {
            params.push(Param::I16(role_number(role)));
            conditions.push(format!("role = ${}", params.len()));
        }
        if let Some(status) = filter.status {
            params.push(Param::I16(participant_status_number(status)));
            conditions.push(format!("status = ${}", params.len()));
        }
        let mut sql = "SELECT id, record::text FROM participants".to_string();
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY id");
        if limit < usize::MAX {
            sql.push_str(&format!(" LIMIT {}", limit_of(limit).saturating_add(1)));
        }
        let rows = self.run(move |db| async move {
            let client = db.client().await?;
            query(&client, &sql, &params).await
        })?;
        let mut records: Vec<ParticipantRecord> = Vec::new();
        let mut next = None;
        for row in &rows {
            if records.len() >= limit {
                next = records.last().map(|last| last.id.clone());
                break;
            }
            records.push(from_json(&get::<String>(row, 1)?)?);
        }
        Ok(ParticipantPage { records, next })
    }

    fn participant_certificates(&self, id: &str) -> Result<Vec<Serial>, StoreError> {
        let rows = self.rows(
            "SELECT serial FROM certificates WHERE participant = $1 ORDER BY serial",
            vec![Param::Text(id.to_string())],
        )?;
        rows.iter().map(|row| serial_column(row, 0)).collect()
    }

    fn replace_participant(
        &self,
        old: &ParticipantRecord,
        new: &ParticipantRecord,
        changes: &[CertificateChange],
        event: AuditEvent,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let old = old.clone();
        let params = participant_params(new)?;
        let changes = changes.to_vec();
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let mut head = Head::lock(&tx).await?;
            // The row lock makes a concurrent issuance (which bumps the record) either
            // commit first, and be seen here as a change, or wait for this act.
            let rows = query(
                &tx,
                "SELECT record::text FROM participants WHERE id = $1 FOR UPDATE",
                &[Param::Text(old.id.clone())],
            )
            .await?;
            let stored = rows.first().map(|row| get::<String>(row, 0)).transpose()?;
            if stored.is_none() || !same_record(stored.as_deref(), Some(&old))? {
                return Err(StoreError::ParticipantChanged(old.id.clone()));
            }
            execute(&tx, UPSERT_PARTICIPANT, &params).await?;
            let mut changed = Vec::with_capacity(changes.len());
            for change in changes {
                let record = match change {
                    CertificateChange::Revoke(serial, revocation) => {
                        change_status_in(&tx, &db.node, &serial, move |record| {
                            apply_revocation(record, &revocation)
                        })
                        .await?
                    }
                    CertificateChange::Unhold(serial) => {
                        change_status_in(&tx, &db.node, &serial, apply_unhold).await?
                    }
                };
                changed.push(record);
            }
            let now = OffsetDateTime::now_utc();
            for record in &changed {
                head.event(&tx, RevocationEvent::for_record(record, now))
                    .await?;
            }
            head.audit(&tx, &event).await?;
            head.store(&tx).await?;
            tx.commit().await.map_err(pg)?;
            Ok(changed)
        })
    }
}

impl AuditStore for PgStore {
    fn append_audit(&self, event: AuditEvent) -> Result<AuditEntry, StoreError> {
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let mut head = Head::lock(&tx).await?;
            let entry = head.audit(&tx, &event).await?;
            head.store(&tx).await?;
            tx.commit().await.map_err(pg)?;
            Ok(entry)
        })
    }

    fn audit_entries(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = self.rows(
            "SELECT entry::text FROM audit ORDER BY seq LIMIT $1",
            vec![Param::I64(limit_of(limit))],
        )?;
        rows.iter()
            .map(|row| AuditEntry::decode(get::<String>(row, 0)?.as_bytes()))
            .collect()
    }

    fn set_admin_credential_hash(&self, sha256_hex: &str) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            vec![
                Param::Text(ADMIN_HASH_KEY.into()),
                Param::Text(sha256_hex.to_string()),
            ],
        )?;
        Ok(())
    }
}
