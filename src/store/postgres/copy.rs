//! `paypki db copy` on PostgreSQL: export walks every table in keyset pages (nothing
//! large sits in memory), import writes a batch in one transaction with one multi-row
//! `INSERT … SELECT FROM unnest(…)` per table.

use tokio_postgres::Row;

use super::certificates::serial_column;
use super::records::{participant_status_number, requested_ns, role_number};
use super::{from_json, get, pg, signed, to_json, unsigned, Head, Param, PgStore, PAGE};
use crate::store::{
    role_byte, status_byte, AuditEntry, PlannedIssuance, RevokedEntry, StoreCopy, StoreCounts,
    StoreError, StoreItem,
};

type Visit<'a> = dyn FnMut(StoreItem) -> Result<(), StoreError> + 'a;

impl PgStore {
    /// Walks a table in keyset pages. `sql` takes the cursor columns as `$1..$k` and the
    /// page size as `$k+1`; `cursor` gives the next cursor from a row.
    fn pages(
        &self,
        sql: &'static str,
        first: Vec<Param>,
        cursor: impl Fn(&Row) -> Result<Vec<Param>, StoreError>,
        mut each: impl FnMut(&Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut at = first;
        loop {
            let mut params = at.clone();
            params.push(Param::I64(PAGE));
            let rows = self.rows(sql, params)?;
            for row in &rows {
                each(row)?;
            }
            match rows.last() {
                Some(last) if rows.len() >= usize::try_from(PAGE).unwrap_or(usize::MAX) => {
                    at = cursor(last)?;
                }
                _ => return Ok(()),
            }
        }
    }
}

fn bytes_cursor(row: &Row) -> Result<Vec<Param>, StoreError> {
    Ok(vec![Param::Bytes(get(row, 0)?)])
}

fn text_cursor(row: &Row) -> Result<Vec<Param>, StoreError> {
    Ok(vec![Param::Text(get(row, 0)?)])
}

fn int_cursor(row: &Row) -> Result<Vec<Param>, StoreError> {
    Ok(vec![Param::I64(get(row, 0)?)])
}

/// serial, role, status, not_after, issuer, participant, record.
type CertificateColumns = (
    Vec<Vec<u8>>,
    Vec<i16>,
    Vec<i16>,
    Vec<i64>,
    Vec<i64>,
    Vec<Option<String>>,
    Vec<String>,
);

/// serial, reason, revoked_at, invalidity_date, not_after, issuer.
type RevokedColumns = (
    Vec<Vec<u8>>,
    Vec<i16>,
    Vec<i64>,
    Vec<Option<i64>>,
    Vec<i64>,
    Vec<i64>,
);

/// What one import batch writes, table by table.
#[derive(Default)]
struct Batch {
    counters: Vec<(String, i64)>,
    admin: Option<String>,
    officers: (Vec<String>, Vec<String>),
    participants: (Vec<String>, Vec<i16>, Vec<i16>, Vec<String>),
    tokens: (Vec<String>, Vec<String>),
    serials: (Vec<Vec<u8>>, Vec<Option<String>>),
    certificates: CertificateColumns,
    revoked: RevokedColumns,
    children: (Vec<Vec<u8>>, Vec<Vec<u8>>),
    proofs: (Vec<Vec<u8>>, Vec<i64>),
    supersede: (Vec<i64>, Vec<Vec<u8>>),
    approvals: (Vec<String>, Vec<i64>, Vec<String>),
    audit: (Vec<i64>, Vec<String>),
    last_audit: Option<AuditEntry>,
    events: (Vec<i64>, Vec<String>),
    crls: (Vec<i64>, Vec<i64>, Vec<String>),
}

impl Batch {
    fn revoked(&mut self, serial: &[u8], entry: &RevokedEntry) {
        let r = &mut self.revoked;
        r.0.push(serial.to_vec());
        r.1.push(i16::from(entry.reason.code()));
        r.2.push(entry.revoked_at);
        r.3.push(entry.invalidity_date);
        r.4.push(entry.not_after);
        r.5.push(i64::from(entry.issuer));
    }

    fn add(&mut self, item: StoreItem) -> Result<(), StoreError> {
        match item {
            StoreItem::Counter { name, value } => self.counters.push((name, signed(value)?)),
            StoreItem::AdminCredential(hash) => self.admin = Some(hash),
            StoreItem::Officer(record) => {
                self.officers.0.push(record.name.clone());
                self.officers.1.push(to_json(&*record)?);
            }
            StoreItem::Participant(record) => {
                let p = &mut self.participants;
                p.0.push(record.id.clone());
                p.1.push(role_number(record.role));
                p.2.push(participant_status_number(record.status));
                p.3.push(to_json(&*record)?);
            }
            StoreItem::Token(record) => {
                self.tokens.0.push(record.id.clone());
                self.tokens.1.push(to_json(&*record)?);
            }
            StoreItem::Reservation { serial, plan } => {
                self.serials.0.push(serial.as_bytes().to_vec());
                self.serials.1.push(plan.map(|p| to_json(&*p)).transpose()?);
            }
            StoreItem::Certificate(record) => {
                let c = &mut self.certificates;
                c.0.push(record.serial.as_bytes().to_vec());
                c.1.push(i16::from(role_byte(record.role)));
                c.2.push(i16::from(status_byte(record.status)));
                c.3.push(record.not_after.unix_timestamp());
                c.4.push(i64::from(record.issuer));
                c.5.push(record.participant.clone());
                c.6.push(to_json(&*record)?);
                if let Some(entry) = record
                    .revocation
                    .as_ref()
                    .and_then(|r| RevokedEntry::from_record(&record, r))
                {
                    self.revoked(record.serial.as_bytes(), &entry);
                }
            }
            StoreItem::Unrecorded { serial, entry } => self.revoked(serial.as_bytes(), &entry),
            StoreItem::Child { parent, child } => {
                self.children.0.push(parent.as_bytes().to_vec());
                self.children.1.push(child.as_bytes().to_vec());
            }
            StoreItem::RenewalProof { digest, expires } => {
                self.proofs.0.push(digest.to_vec());
                self.proofs.1.push(expires);
            }
            StoreItem::Supersession { serial, due } => {
                self.supersede.0.push(due);
                self.supersede.1.push(serial.as_bytes().to_vec());
            }
            StoreItem::Approval(record) => {
                self.approvals.0.push(record.id.clone());
                self.approvals.1.push(requested_ns(record.requested_at));
                self.approvals.2.push(to_json(&*record)?);
            }
            StoreItem::Audit(entry) => {
                self.audit.0.push(signed(entry.body().seq)?);
                self.audit.1.push(to_json(&*entry)?);
                self.last_audit = Some(*entry);
            }
            StoreItem::Event(event) => {
                self.events.0.push(signed(event.id)?);
                self.events.1.push(to_json(&*event)?);
            }
            StoreItem::Crl { issuer, crl } => {
                self.crls.0.push(i64::from(issuer));
                self.crls.1.push(signed(crl.number)?);
                self.crls.2.push(to_json(&*crl)?);
            }
            StoreItem::LogEntry { .. } => {
                // Appended on their own (`import_log`), after the batch.
            }
        }
        Ok(())
    }
}

impl StoreCopy for PgStore {
    fn is_empty(&self) -> Result<bool, StoreError> {
        let rows = self.rows(
            "SELECT NOT EXISTS (SELECT 1 FROM certificates)
                AND NOT EXISTS (SELECT 1 FROM serials)
                AND NOT EXISTS (SELECT 1 FROM revoked)
                AND NOT EXISTS (SELECT 1 FROM tokens)
                AND NOT EXISTS (SELECT 1 FROM officers)
                AND NOT EXISTS (SELECT 1 FROM participants)
                AND NOT EXISTS (SELECT 1 FROM approvals)
                AND NOT EXISTS (SELECT 1 FROM audit)",
            vec![],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Database("no row for a count".into()))?;
        get(row, 0)
    }

    fn export(&self, visit: &mut Visit<'_>) -> Result<(), StoreError> {
        for row in &self.rows("SELECT name, value FROM counters ORDER BY name", vec![])? {
            visit(StoreItem::Counter {
                name: get(row, 0)?,
                value: unsigned(get(row, 1)?)?,
            })?;
        }
        if let Some(hash) = crate::store::StoreReader::admin_credential_hash(self)? {
            visit(StoreItem::AdminCredential(hash))?;
        }
        for officer in crate::store::OfficerStore::officers(self)? {
            visit(StoreItem::Officer(Box::new(officer)))?;
        }
        self.pages(
            "SELECT id, record::text FROM participants WHERE id > $1 ORDER BY id LIMIT $2",
            vec![Param::Text(String::new())],
            text_cursor,
            |row| {
                visit(StoreItem::Participant(Box::new(from_json(
                    &get::<String>(row, 1)?,
                )?)))
            },
        )?;
        self.pages(
            "SELECT id, record::text FROM tokens WHERE id > $1 ORDER BY id LIMIT $2",
            vec![Param::Text(String::new())],
            text_cursor,
            |row| {
                visit(StoreItem::Token(Box::new(from_json(&get::<String>(
                    row, 1,
                )?)?)))
            },
        )?;
        self.pages(
            "SELECT serial, plan::text FROM serials WHERE serial > $1 ORDER BY serial LIMIT $2",
            vec![Param::Bytes(Vec::new())],
            bytes_cursor,
            |row| {
                let plan = get::<Option<String>>(row, 1)?
                    .and_then(|text| serde_json::from_str::<PlannedIssuance>(&text).ok())
                    .map(Box::new);
                visit(StoreItem::Reservation {
                    serial: serial_column(row, 0)?,
                    plan,
                })
            },
        )?;
        self.pages(
            "SELECT serial, record::text FROM certificates WHERE serial > $1
             ORDER BY serial LIMIT $2",
            vec![Param::Bytes(Vec::new())],
            bytes_cursor,
            |row| {
                visit(StoreItem::Certificate(Box::new(from_json(
                    &get::<String>(row, 1)?,
                )?)))
            },
        )?;
        self.pages(
            "SELECT r.serial, r.reason, r.revoked_at, r.invalidity_date, r.not_after, r.issuer
             FROM revoked r WHERE r.serial > $1
                AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial = r.serial)
             ORDER BY r.serial LIMIT $2",
            vec![Param::Bytes(Vec::new())],
            bytes_cursor,
            |row| {
                visit(StoreItem::Unrecorded {
                    serial: serial_column(row, 0)?,
                    entry: super::certificates::revoked_entry(row, 1)?,
                })
            },
        )?;
        self.pages(
            "SELECT parent, child FROM children WHERE (parent, child) > ($1, $2)
             ORDER BY parent, child LIMIT $3",
            vec![Param::Bytes(Vec::new()), Param::Bytes(Vec::new())],
            |row| Ok(vec![Param::Bytes(get(row, 0)?), Param::Bytes(get(row, 1)?)]),
            |row| {
                visit(StoreItem::Child {
                    parent: serial_column(row, 0)?,
                    child: serial_column(row, 1)?,
                })
            },
        )?;
        self.pages(
            "SELECT digest, expires FROM renewal_proofs WHERE digest > $1
             ORDER BY digest LIMIT $2",
            vec![Param::Bytes(Vec::new())],
            bytes_cursor,
            |row| {
                let digest = <[u8; 32]>::try_from(get::<Vec<u8>>(row, 0)?)
                    .map_err(|_| StoreError::Corrupt("renewal proof".into()))?;
                visit(StoreItem::RenewalProof {
                    digest,
                    expires: get(row, 1)?,
                })
            },
        )?;
        self.pages(
            "SELECT due, serial FROM supersede WHERE (due, serial) > ($1, $2)
             ORDER BY due, serial LIMIT $3",
            vec![Param::I64(i64::MIN), Param::Bytes(Vec::new())],
            |row| Ok(vec![Param::I64(get(row, 0)?), Param::Bytes(get(row, 1)?)]),
            |row| {
                visit(StoreItem::Supersession {
                    serial: serial_column(row, 1)?,
                    due: get(row, 0)?,
                })
            },
        )?;
        self.pages(
            "SELECT id, record::text FROM approvals WHERE id > $1 ORDER BY id LIMIT $2",
            vec![Param::Text(String::new())],
            text_cursor,
            |row| {
                visit(StoreItem::Approval(Box::new(from_json(&get::<String>(
                    row, 1,
                )?)?)))
            },
        )?;
        self.pages(
            "SELECT seq, entry::text FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
            vec![Param::I64(i64::MIN)],
            int_cursor,
            |row| {
                let entry = AuditEntry::decode(get::<String>(row, 1)?.as_bytes())?;
                visit(StoreItem::Audit(Box::new(entry)))
            },
        )?;
        self.pages(
            "SELECT id, event::text FROM revocation_events WHERE id > $1 ORDER BY id LIMIT $2",
            vec![Param::I64(i64::MIN)],
            int_cursor,
            |row| {
                visit(StoreItem::Event(Box::new(from_json(&get::<String>(
                    row, 1,
                )?)?)))
            },
        )?;
        for row in &self.rows("SELECT issuer, crl::text FROM crls ORDER BY issuer", vec![])? {
            let issuer: i64 = get(row, 0)?;
            visit(StoreItem::Crl {
                issuer: u32::try_from(issuer)
                    .map_err(|_| StoreError::Corrupt("CRL issuer".into()))?,
                crl: Box::new(from_json(&get::<String>(row, 1)?)?),
            })?;
        }
        self.export_log(&mut |index, serial, entry| {
            visit(StoreItem::LogEntry {
                index,
                serial,
                entry,
            })
        })?;
        Ok(())
    }

    fn import(&self, items: Vec<StoreItem>) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        let mut log = Vec::new();
        for item in items {
            match item {
                StoreItem::LogEntry {
                    index,
                    serial,
                    entry,
                } => log.push((index, serial, entry)),
                item => batch.add(item)?,
            }
        }
        self.import_batch(batch)?;
        self.import_log(log)
    }

    fn finish_import(&self) -> Result<(), StoreError> {
        // Every batch committed (durably) on its own.
        Ok(())
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        let rows = self.rows(
            "SELECT (SELECT count(*) FROM certificates), (SELECT count(*) FROM revoked),
                    (SELECT count(*) FROM tokens), (SELECT count(*) FROM officers),
                    (SELECT count(*) FROM participants), (SELECT count(*) FROM approvals),
                    (SELECT count(*) FROM audit), (SELECT count(*) FROM revocation_events),
                    (SELECT tlog_size FROM audit_head)",
            vec![],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Database("no row for a count".into()))?;
        let n = |i: usize| -> Result<u64, StoreError> { unsigned(get(row, i)?) };
        Ok(StoreCounts {
            certificates: n(0)?,
            revoked: n(1)?,
            tokens: n(2)?,
            officers: n(3)?,
            participants: n(4)?,
            approvals: n(5)?,
            audit_entries: n(6)?,
            revocation_events: n(7)?,
            log_entries: n(8)?,
        })
    }
}

impl PgStore {
    /// Writes one batch of items (everything but log entries) in one transaction.
    fn import_batch(&self, batch: Batch) -> Result<(), StoreError> {
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            // Imported entries move the head: nothing may append meanwhile.
            Head::lock(&tx).await?;
            let b = batch;
            macro_rules! unnest {
                ($sql:expr, $($column:expr),+) => {{
                    let statement = tx.prepare_cached($sql).await.map_err(pg)?;
                    tx.execute(&statement, &[$(&$column),+]).await.map_err(pg)?;
                }};
            }
            for (name, value) in &b.counters {
                unnest!(
                    "INSERT INTO counters (name, value) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                    name,
                    value
                );
            }
            if let Some(hash) = &b.admin {
                unnest!(
                    "INSERT INTO meta (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    super::records::ADMIN_HASH_KEY,
                    hash
                );
            }
            if !b.officers.0.is_empty() {
                unnest!(
                    "INSERT INTO officers (name, record)
                     SELECT n, r::jsonb FROM unnest($1::text[], $2::text[]) AS t(n, r)
                     ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record",
                    b.officers.0,
                    b.officers.1
                );
            }
            if !b.participants.0.is_empty() {
                let p = &b.participants;
                unnest!(
                    "INSERT INTO participants (id, role, status, record)
                     SELECT i, r, s, j::jsonb
                     FROM unnest($1::text[], $2::int2[], $3::int2[], $4::text[]) AS t(i, r, s, j)
                     ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role,
                        status = EXCLUDED.status, record = EXCLUDED.record",
                    p.0,
                    p.1,
                    p.2,
                    p.3
                );
            }
            if !b.tokens.0.is_empty() {
                unnest!(
                    "INSERT INTO tokens (id, record)
                     SELECT i, r::jsonb FROM unnest($1::text[], $2::text[]) AS t(i, r)
                     ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
                    b.tokens.0,
                    b.tokens.1
                );
            }
            if !b.serials.0.is_empty() {
                unnest!(
                    "INSERT INTO serials (serial, plan)
                     SELECT s, p::jsonb FROM unnest($1::bytea[], $2::text[]) AS t(s, p)
                     ON CONFLICT (serial) DO UPDATE SET plan = EXCLUDED.plan",
                    b.serials.0,
                    b.serials.1
                );
            }
            if !b.certificates.0.is_empty() {
                let c = &b.certificates;
                unnest!(
                    "INSERT INTO certificates
                        (serial, role, status, not_after, issuer, participant, record)
                     SELECT s, r, st, na, i, p, j::jsonb
                     FROM unnest($1::bytea[], $2::int2[], $3::int2[], $4::int8[], $5::int8[],
                                 $6::text[], $7::text[]) AS t(s, r, st, na, i, p, j)
                     ON CONFLICT (serial) DO UPDATE SET role = EXCLUDED.role,
                        status = EXCLUDED.status, not_after = EXCLUDED.not_after,
                        issuer = EXCLUDED.issuer, participant = EXCLUDED.participant,
                        record = EXCLUDED.record",
                    c.0,
                    c.1,
                    c.2,
                    c.3,
                    c.4,
                    c.5,
                    c.6
                );
            }
            if !b.revoked.0.is_empty() {
                let r = &b.revoked;
                unnest!(
                    "INSERT INTO revoked
                        (serial, reason, revoked_at, invalidity_date, not_after, issuer)
                     SELECT * FROM unnest($1::bytea[], $2::int2[], $3::int8[], $4::int8[],
                                          $5::int8[], $6::int8[])
                     ON CONFLICT (serial) DO UPDATE SET reason = EXCLUDED.reason,
                        revoked_at = EXCLUDED.revoked_at,
                        invalidity_date = EXCLUDED.invalidity_date,
                        not_after = EXCLUDED.not_after, issuer = EXCLUDED.issuer",
                    r.0,
                    r.1,
                    r.2,
                    r.3,
                    r.4,
                    r.5
                );
            }
            if !b.children.0.is_empty() {
                unnest!(
                    "INSERT INTO children (parent, child)
                     SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT DO NOTHING",
                    b.children.0,
                    b.children.1
                );
            }
            if !b.proofs.0.is_empty() {
                unnest!(
                    "INSERT INTO renewal_proofs (digest, expires)
                     SELECT * FROM unnest($1::bytea[], $2::int8[])
                     ON CONFLICT (digest) DO UPDATE SET expires = EXCLUDED.expires",
                    b.proofs.0,
                    b.proofs.1
                );
            }
            if !b.supersede.0.is_empty() {
                unnest!(
                    "INSERT INTO supersede (due, serial)
                     SELECT * FROM unnest($1::int8[], $2::bytea[]) ON CONFLICT DO NOTHING",
                    b.supersede.0,
                    b.supersede.1
                );
            }
            if !b.approvals.0.is_empty() {
                unnest!(
                    "INSERT INTO approvals (id, requested_ns, record)
                     SELECT i, n, r::jsonb FROM unnest($1::text[], $2::int8[], $3::text[])
                        AS t(i, n, r)
                     ON CONFLICT (id) DO UPDATE SET requested_ns = EXCLUDED.requested_ns,
                        record = EXCLUDED.record",
                    b.approvals.0,
                    b.approvals.1,
                    b.approvals.2
                );
            }
            if !b.audit.0.is_empty() {
                unnest!(
                    "INSERT INTO audit (seq, entry)
                     SELECT s, e::jsonb FROM unnest($1::int8[], $2::text[]) AS t(s, e)
                     ON CONFLICT (seq) DO UPDATE SET entry = EXCLUDED.entry",
                    b.audit.0,
                    b.audit.1
                );
            }
            if let Some(last) = &b.last_audit {
                let head = last.head();
                unnest!(
                    "UPDATE audit_head SET seq = $1, hash = $2",
                    signed(head.seq)?,
                    head.hash
                );
            }
            if !b.events.0.is_empty() {
                unnest!(
                    "INSERT INTO revocation_events (id, event)
                     SELECT i, e::jsonb FROM unnest($1::int8[], $2::text[]) AS t(i, e)
                     ON CONFLICT (id) DO UPDATE SET event = EXCLUDED.event",
                    b.events.0,
                    b.events.1
                );
            }
            if let Some(last) = b.events.0.iter().max() {
                unnest!("UPDATE audit_head SET last_event = $1", *last);
            }
            if !b.crls.0.is_empty() {
                unnest!(
                    "INSERT INTO crls (issuer, number, crl)
                     SELECT i, n, c::jsonb FROM unnest($1::int8[], $2::int8[], $3::text[])
                        AS t(i, n, c)
                     ON CONFLICT (issuer) DO UPDATE SET number = EXCLUDED.number,
                        crl = EXCLUDED.crl",
                    b.crls.0,
                    b.crls.1,
                    b.crls.2
                );
            }
            // Committed: durable.
            tx.commit().await.map_err(pg)
        })
    }
}
