//! Certificates, their status, revocations, revocation events and CRLs.

use deadpool_postgres::GenericClient;
use serde_json::json;
use time::OffsetDateTime;

use super::{
    execute, from_json, get, is_unique_violation, limit_of, notify, pg, query, serial_of, signed,
    to_json, unsigned, Head, Param, PgStore, PAGE,
};
use crate::model::{RevocationReason, Serial};
use crate::store::revocations::{apply_revocation, apply_unhold};
use crate::store::{
    participants::ParticipantRecord, role_byte, status_byte, time_key, AuditEvent, AuditReport,
    CertificateRecord, CertificateStore, ChainCheck, ChainHead, CrlStore, KnownStatus, ListFilter,
    ListPage, PlannedIssuance, RevocationEvent, RevocationEventStore, RevocationRecord,
    RevocationStore, RevokedEntry, StoreError, StoreReader, StoredCrl,
};

/// The columns of a `revoked` row for an entry.
pub(super) fn revoked_params(serial: &[u8], entry: &RevokedEntry) -> Vec<Param> {
    vec![
        Param::Bytes(serial.to_vec()),
        Param::I16(i16::from(entry.reason.code())),
        Param::I64(entry.revoked_at),
        Param::OptI64(entry.invalidity_date),
        Param::I64(entry.not_after),
        Param::I64(i64::from(entry.issuer)),
    ]
}

const UPSERT_REVOKED: &str = "INSERT INTO revoked
    (serial, reason, revoked_at, invalidity_date, not_after, issuer)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (serial) DO UPDATE SET reason = EXCLUDED.reason,
        revoked_at = EXCLUDED.revoked_at, invalidity_date = EXCLUDED.invalidity_date,
        not_after = EXCLUDED.not_after, issuer = EXCLUDED.issuer";

/// A `revoked` row (columns 1.. of `row`: reason, revoked_at, invalidity_date,
/// not_after, issuer) as an entry.
pub(super) fn revoked_entry(
    row: &tokio_postgres::Row,
    first: usize,
) -> Result<RevokedEntry, StoreError> {
    let code: i16 = get(row, first)?;
    let reason = u8::try_from(code)
        .ok()
        .and_then(RevocationReason::from_code)
        .ok_or_else(|| StoreError::Corrupt("revocation entry".into()))?;
    let issuer: i64 = get(row, first + 4)?;
    Ok(RevokedEntry {
        reason,
        revoked_at: get(row, first + 1)?,
        invalidity_date: get(row, first + 2)?,
        not_after: get(row, first + 3)?,
        issuer: u32::try_from(issuer)
            .map_err(|_| StoreError::Corrupt("revocation entry issuer".into()))?,
    })
}

/// One certificate's status change inside a transaction (which holds the head lock):
/// `change` checks and edits the record; the status column, the `revoked` table and a
/// notice to the other nodes follow it. The caller appends the event and audit entry.
pub(super) async fn change_status_in<C: GenericClient>(
    tx: &C,
    node: &str,
    serial: &Serial,
    change: impl FnOnce(&mut CertificateRecord) -> Result<(), StoreError> + Send,
) -> Result<CertificateRecord, StoreError> {
    let key = serial.as_bytes().to_vec();
    let rows = query(
        tx,
        "SELECT record::text FROM certificates WHERE serial = $1 FOR UPDATE",
        &[Param::Bytes(key.clone())],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::NotFound(serial.clone()))?;
    let mut record: CertificateRecord = from_json(&get::<String>(row, 0)?)?;
    change(&mut record)?;
    execute(
        tx,
        "UPDATE certificates SET status = $2, record = $3::text::jsonb WHERE serial = $1",
        &[
            Param::Bytes(key.clone()),
            Param::I16(i16::from(status_byte(record.status))),
            Param::Text(to_json(&record)?),
        ],
    )
    .await?;
    match record
        .revocation
        .as_ref()
        .and_then(|r| RevokedEntry::from_record(&record, r))
    {
        Some(entry) => execute(tx, UPSERT_REVOKED, &revoked_params(&key, &entry)).await?,
        None => {
            execute(
                tx,
                "DELETE FROM revoked WHERE serial = $1",
                &[Param::Bytes(key)],
            )
            .await?
        }
    };
    notify(
        tx,
        node,
        json!({"kind": "status", "serial": serial.to_string(), "issuer": record.issuer}),
    )
    .await?;
    Ok(record)
}

/// The certificate columns of a record: serial, role, status, not_after, issuer,
/// participant, record JSON.
pub(super) fn certificate_params(record: &CertificateRecord) -> Result<Vec<Param>, StoreError> {
    Ok(vec![
        Param::Bytes(record.serial.as_bytes().to_vec()),
        Param::I16(i16::from(role_byte(record.role))),
        Param::I16(i16::from(status_byte(record.status))),
        Param::I64(record.not_after.unix_timestamp()),
        Param::I64(i64::from(record.issuer)),
        Param::OptText(record.participant.clone()),
        Param::Text(to_json(record)?),
    ])
}

impl CertificateStore for PgStore {
    fn reserve_serial(&self, serial: &Serial, plan: &PlannedIssuance) -> Result<(), StoreError> {
        let params = vec![
            Param::Bytes(serial.as_bytes().to_vec()),
            Param::Text(to_json(plan)?),
        ];
        let inserted = self.exec(
            "INSERT INTO serials (serial, plan) VALUES ($1, $2::text::jsonb)
             ON CONFLICT (serial) DO NOTHING",
            params,
        )?;
        if inserted == 1 {
            Ok(())
        } else {
            Err(StoreError::SerialTaken(serial.clone()))
        }
    }

    fn record_issued(
        &self,
        record: &CertificateRecord,
        event: AuditEvent,
    ) -> Result<u64, StoreError> {
        let record = record.clone();
        let params = certificate_params(&record)?;
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let mut head = Head::lock(&tx).await?;
            let key = Param::Bytes(record.serial.as_bytes().to_vec());
            let taken = query(
                &tx,
                "SELECT 1 FROM certificates WHERE serial = $1",
                std::slice::from_ref(&key),
            )
            .await?;
            if !taken.is_empty() {
                return Err(StoreError::SerialTaken(record.serial.clone()));
            }
            if let Some(participant) = &record.participant {
                count_issuance(&tx, participant).await?;
            }
            execute(
                &tx,
                "INSERT INTO certificates
                 (serial, role, status, not_after, issuer, participant, record)
                 VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb)",
                &params,
            )
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::SerialTaken(record.serial.clone())
                } else {
                    e
                }
            })?;
            if let Some(parent) = &record.parent {
                execute(
                    &tx,
                    "INSERT INTO children (parent, child) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[Param::Bytes(parent.as_bytes().to_vec()), key],
                )
                .await?;
            }
            head.audit(&tx, &event).await?;
            let entry = crate::store::transparency::certificate_entry(&record);
            let index = head.log(&tx, record.serial.as_bytes(), &entry).await?;
            head.store(&tx).await?;
            // Durable before acknowledged: commit waits for the WAL flush.
            tx.commit().await.map_err(pg)?;
            Ok(index)
        })
    }
}

/// Inside the issuance transaction, as [`crate::store::participants`] does on sled: the
/// participant must be active when the certificate is recorded, and its record changes
/// (a concurrent act that read it before finds it changed).
async fn count_issuance<C: GenericClient>(tx: &C, id: &str) -> Result<(), StoreError> {
    let rows = query(
        tx,
        "SELECT record::text FROM participants WHERE id = $1 FOR UPDATE",
        &[Param::Text(id.to_string())],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Corrupt(format!("participant {id} is not registered")))?;
    let mut record: ParticipantRecord = from_json(&get::<String>(row, 0)?)?;
    if record.status != crate::store::ParticipantStatus::Active {
        return Err(StoreError::ParticipantInactive(
            id.to_string(),
            record.status,
        ));
    }
    record.certificates_issued = record.certificates_issued.saturating_add(1);
    execute(
        tx,
        "UPDATE participants SET record = $2::text::jsonb WHERE id = $1",
        &[Param::Text(id.to_string()), Param::Text(to_json(&record)?)],
    )
    .await?;
    Ok(())
}

/// The index a listing walks, as on sled.
enum Walk {
    Expiry,
    /// `by_role_status`: keys `role ‖ status ‖ serial`.
    RoleStatus,
    Serial,
}

impl StoreReader for PgStore {
    fn certificate(&self, serial: &Serial) -> Result<Option<CertificateRecord>, StoreError> {
        let rows = self.rows(
            "SELECT record::text FROM certificates WHERE serial = $1",
            vec![Param::Bytes(serial.as_bytes().to_vec())],
        )?;
        rows.first()
            .map(|row| from_json(&get::<String>(row, 0)?))
            .transpose()
    }

    /// The same records, order and cursors as sled: a cursor is the key of the sled index
    /// the filter walks (`time ‖ serial`, `role ‖ status ‖ serial` or the serial),
    /// decoded here into a keyset condition on the matching PostgreSQL index.
    fn list_page(&self, filter: &ListFilter) -> Result<ListPage, StoreError> {
        let limit = filter.limit.unwrap_or(usize::MAX);
        let now = OffsetDateTime::now_utc();
        let walk = if filter.expiring_before.is_some() {
            Walk::Expiry
        } else if filter.role.is_some() || filter.status.is_some() {
            Walk::RoleStatus
        } else {
            Walk::Serial
        };
        let mut conditions: Vec<String> = Vec::new();
        let mut params: Vec<Param> = Vec::new();
        let mut add = |condition: &str, values: Vec<Param>| {
            let mut text = condition.to_string();
            for value in values {
                params.push(value);
                text = text.replacen('?', &format!("${}", params.len()), 1);
            }
            conditions.push(text);
        };
        if let Some(role) = filter.role {
            add("role = ?", vec![Param::I16(i16::from(role_byte(role)))]);
        }
        if let Some(status) = filter.status {
            add(
                "status = ?",
                vec![Param::I16(i16::from(status_byte(status)))],
            );
        }
        let after = filter.after.as_deref();
        let order = match walk {
            Walk::Expiry => {
                let before = filter.expiring_before.unwrap_or(now);
                add("not_after < ?", vec![Param::I64(before.unix_timestamp())]);
                add("not_after >= ?", vec![Param::I64(now.unix_timestamp())]);
                // Sled starts after the cursor only when it is not below the range start.
                if let Some(after) = after.filter(|a| *a >= time_key(now).as_slice()) {
                    let mut padded = [0u8; 8];
                    for (slot, byte) in padded.iter_mut().zip(after) {
                        *slot = *byte;
                    }
                    let seconds = (u64::from_be_bytes(padded) ^ (1 << 63)) as i64;
                    match after.get(8..) {
                        // Keys are `time ‖ serial`: strictly after the cursor.
                        Some(rest) => add(
                            "(not_after, serial) > (?, ?)",
                            vec![Param::I64(seconds), Param::Bytes(rest.to_vec())],
                        ),
                        // A cursor shorter than a time: every key from that time on.
                        None => add("not_after >= ?", vec![Param::I64(seconds)]),
                    }
                }
                "not_after, serial"
            }
            Walk::RoleStatus => {
                // Keys after the cursor in byte order; every key is at least
                // `role ‖ status ‖` one serial octet, which decides the short cursors.
                match after {
                    None | Some([]) => {}
                    Some([role]) => add("role >= ?", vec![Param::I16(i16::from(*role))]),
                    Some([role, status]) => add(
                        "(role, status) >= (?, ?)",
                        vec![Param::I16(i16::from(*role)), Param::I16(i16::from(*status))],
                    ),
                    Some([role, status, serial @ ..]) => add(
                        "(role, status, serial) > (?, ?, ?)",
                        vec![
                            Param::I16(i16::from(*role)),
                            Param::I16(i16::from(*status)),
                            Param::Bytes(serial.to_vec()),
                        ],
                    ),
                }
                // With role or status fixed by the filter, one of the two indexes
                // (role, serial) and (status, serial) gives this order.
                "role, status, serial"
            }
            Walk::Serial => {
                if let Some(after) = after {
                    add("serial > ?", vec![Param::Bytes(after.to_vec())]);
                }
                "serial"
            }
        };
        let mut sql =
            "SELECT serial, not_after, record::text, role, status FROM certificates".to_string();
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY ");
        sql.push_str(order);
        if limit < usize::MAX {
            // One more than asked tells whether a next page exists.
            sql.push_str(&format!(" LIMIT {}", limit_of(limit).saturating_add(1)));
        }
        let rows = self.run(move |db| async move {
            let client = db.client().await?;
            query(&client, &sql, &params).await
        })?;
        let mut records = Vec::new();
        let mut next = None;
        let mut last: Option<Vec<u8>> = None;
        for row in &rows {
            if records.len() >= limit {
                next = last.take();
                break;
            }
            let serial: Vec<u8> = get(row, 0)?;
            let not_after: i64 = get(row, 1)?;
            records.push(from_json::<CertificateRecord>(&get::<String>(row, 2)?)?);
            last = Some(match walk {
                Walk::Expiry => {
                    let mut key = ((not_after as u64) ^ (1 << 63)).to_be_bytes().to_vec();
                    key.extend_from_slice(&serial);
                    key
                }
                Walk::RoleStatus => {
                    let byte = |column| {
                        get::<i16>(row, column).and_then(|value| {
                            u8::try_from(value)
                                .map_err(|_| StoreError::Corrupt("role or status".into()))
                        })
                    };
                    let mut key = vec![byte(3)?, byte(4)?];
                    key.extend_from_slice(&serial);
                    key
                }
                Walk::Serial => serial,
            });
        }
        Ok(ListPage { records, next })
    }

    fn known_status(&self, serial: &[u8]) -> Result<KnownStatus, StoreError> {
        // One round trip for the OCSP miss path.
        let rows = self.rows(
            "SELECT r.serial IS NOT NULL, r.reason, r.revoked_at, r.invalidity_date,
                    r.not_after, r.issuer, c.issuer
             FROM (SELECT $1::bytea AS serial) q
             LEFT JOIN revoked r ON r.serial = q.serial
             LEFT JOIN certificates c ON c.serial = q.serial",
            vec![Param::Bytes(serial.to_vec())],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Database("no row for a status query".into()))?;
        if get::<bool>(row, 0)? {
            return Ok(KnownStatus::Revoked(revoked_entry(row, 1)?));
        }
        Ok(match get::<Option<i64>>(row, 6)? {
            Some(issuer) => KnownStatus::Good {
                issuer: u32::try_from(issuer)
                    .map_err(|_| StoreError::Corrupt("issuer entry".into()))?,
            },
            None => KnownStatus::NeverIssued,
        })
    }

    fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        // Streamed a page at a time; the head is read after the walk, and if entries were
        // appended meanwhile the walk goes on to them (entries and head commit together).
        let mut check = ChainCheck::default();
        let mut last: i64 = 0;
        let mut rounds = 0;
        loop {
            loop {
                let rows = self.rows(
                    "SELECT seq, entry::text FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                    vec![Param::I64(last), Param::I64(PAGE)],
                )?;
                for row in &rows {
                    let seq: i64 = get(row, 0)?;
                    let text: String = get(row, 1)?;
                    match crate::store::AuditEntry::decode(text.as_bytes()) {
                        Ok(entry) => check.entry(unsigned(seq)?, &entry)?,
                        Err(e) => check.undecodable(&format!("seq {seq}"), e),
                    }
                    last = seq;
                }
                if rows.len() < usize::try_from(PAGE).unwrap_or(usize::MAX) {
                    break;
                }
            }
            let rows = self.rows("SELECT seq, hash FROM audit_head", vec![])?;
            let head = rows
                .first()
                .map(|row| -> Result<ChainHead, StoreError> {
                    Ok(ChainHead {
                        seq: unsigned(get(row, 0)?)?,
                        hash: get(row, 1)?,
                    })
                })
                .transpose()?;
            rounds += 1;
            let behind = head
                .as_ref()
                .is_some_and(|h| h.seq > unsigned(last).unwrap_or(0));
            if !behind || rounds >= 10 {
                return Ok(check.finish(head));
            }
        }
    }

    fn admin_credential_hash(&self) -> Result<Option<String>, StoreError> {
        let rows = self.rows(
            "SELECT value FROM meta WHERE key = $1",
            vec![Param::Text(super::records::ADMIN_HASH_KEY.into())],
        )?;
        rows.first().map(|row| get::<String>(row, 0)).transpose()
    }
}

impl PgStore {
    /// The one way a certificate's status changes: in one transaction under the head
    /// lock, `change` edits the record, the event and the audit entry are appended.
    fn change_status(
        &self,
        serial: &Serial,
        event: AuditEvent,
        change: impl FnOnce(&mut CertificateRecord) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<CertificateRecord, StoreError> {
        let serial = serial.clone();
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let mut head = Head::lock(&tx).await?;
            let record = change_status_in(&tx, &db.node, &serial, change).await?;
            head.event(
                &tx,
                RevocationEvent::for_record(&record, OffsetDateTime::now_utc()),
            )
            .await?;
            head.audit(&tx, &event).await?;
            head.store(&tx).await?;
            tx.commit().await.map_err(pg)?;
            Ok(record)
        })
    }
}

impl RevocationStore for PgStore {
    fn revoke(
        &self,
        serial: &Serial,
        revocation: RevocationRecord,
        event: AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        self.change_status(serial, event, move |record| {
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
        let serial = serial.clone();
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let mut head = Head::lock(&tx).await?;
            let key = Param::Bytes(serial.as_bytes().to_vec());
            let recorded = query(
                &tx,
                "SELECT 1 FROM certificates WHERE serial = $1",
                std::slice::from_ref(&key),
            )
            .await?;
            if !recorded.is_empty() {
                return Err(StoreError::SerialTaken(serial));
            }
            let existing = query(
                &tx,
                "SELECT serial, reason, revoked_at, invalidity_date, not_after, issuer
                 FROM revoked WHERE serial = $1",
                &[key],
            )
            .await?;
            if let Some(row) = existing.first() {
                let reason = revoked_entry(row, 1)
                    .map(|e| e.reason.name().to_string())
                    .unwrap_or_else(|_| "unknown reason".into());
                return Err(StoreError::AlreadyRevoked(serial, reason));
            }
            execute(
                &tx,
                UPSERT_REVOKED,
                &revoked_params(serial.as_bytes(), &entry),
            )
            .await?;
            notify(
                &tx,
                &db.node,
                json!({"kind": "status", "serial": serial.to_string(), "issuer": entry.issuer}),
            )
            .await?;
            head.event(
                &tx,
                RevocationEvent::for_unrecorded(&serial, &entry, OffsetDateTime::now_utc()),
            )
            .await?;
            head.audit(&tx, &event).await?;
            head.store(&tx).await?;
            tx.commit().await.map_err(pg)
        })
    }

    fn for_each_revoked(
        &self,
        visit: &mut dyn FnMut(&[u8], RevokedEntry),
    ) -> Result<(), StoreError> {
        // Keyset pages: a million revocations never sit in memory at once.
        let mut after: Vec<u8> = Vec::new();
        loop {
            let rows = self.rows(
                "SELECT serial, reason, revoked_at, invalidity_date, not_after, issuer
                 FROM revoked WHERE serial > $1 ORDER BY serial LIMIT $2",
                vec![Param::Bytes(after.clone()), Param::I64(PAGE)],
            )?;
            for row in &rows {
                let serial: Vec<u8> = get(row, 0)?;
                visit(&serial, revoked_entry(row, 1)?);
                after = serial;
            }
            if rows.len() < usize::try_from(PAGE).unwrap_or(usize::MAX) {
                return Ok(());
            }
        }
    }

    fn next_counter_at_least(&self, name: &str, floor: u64) -> Result<u64, StoreError> {
        let rows = self.rows(
            "INSERT INTO counters (name, value) VALUES ($1, GREATEST(1, $2::bigint))
             ON CONFLICT (name) DO UPDATE SET value = GREATEST(counters.value + 1, $2::bigint)
             RETURNING value",
            vec![Param::Text(name.to_string()), Param::I64(signed(floor)?)],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Corrupt(format!("counter {name}")))?;
        unsigned(get(row, 0)?)
    }
}

impl RevocationEventStore for PgStore {
    fn revocation_events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RevocationEvent>, StoreError> {
        let rows = self.rows(
            "SELECT event::text FROM revocation_events WHERE id > $1 ORDER BY id LIMIT $2",
            vec![
                Param::I64(i64::try_from(after).unwrap_or(i64::MAX)),
                Param::I64(limit_of(limit)),
            ],
        )?;
        rows.iter()
            .map(|row| from_json(&get::<String>(row, 0)?))
            .collect()
    }

    fn last_revocation_event(&self) -> Result<u64, StoreError> {
        let rows = self.rows("SELECT last_event FROM audit_head", vec![])?;
        match rows.first() {
            Some(row) => unsigned(get(row, 0)?),
            None => Ok(0),
        }
    }
}

impl CrlStore for PgStore {
    fn save_crl(&self, issuer: u32, crl: &StoredCrl) -> Result<bool, StoreError> {
        let payload = json!({"kind": "crl", "issuer": issuer});
        let params = vec![
            Param::I64(i64::from(issuer)),
            Param::I64(signed(crl.number)?),
            Param::Text(to_json(crl)?),
        ];
        // Keeps only a higher number (atomic: the upsert's condition), and tells the
        // other nodes in the same transaction.
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let kept = query(
                &tx,
                "INSERT INTO crls (issuer, number, crl) VALUES ($1, $2, $3::text::jsonb)
                 ON CONFLICT (issuer) DO UPDATE SET number = EXCLUDED.number, crl = EXCLUDED.crl
                 WHERE crls.number < EXCLUDED.number
                 RETURNING issuer",
                &params,
            )
            .await?;
            if kept.is_empty() {
                return Ok(false);
            }
            notify(&tx, &db.node, payload).await?;
            tx.commit().await.map_err(pg)?;
            Ok(true)
        })
    }

    fn latest_crl(&self, issuer: u32) -> Result<Option<StoredCrl>, StoreError> {
        let rows = self.rows(
            "SELECT crl::text FROM crls WHERE issuer = $1",
            vec![Param::I64(i64::from(issuer))],
        )?;
        rows.first()
            .map(|row| from_json(&get::<String>(row, 0)?))
            .transpose()
    }
}

/// A serial key of a row.
pub(super) fn serial_column(row: &tokio_postgres::Row, i: usize) -> Result<Serial, StoreError> {
    serial_of(&get::<Vec<u8>>(row, i)?)
}
