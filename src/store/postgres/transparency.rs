//! The transparency log on PostgreSQL (tables `tlog_entries`, `tlog_nodes`, the size in
//! `audit_head`): the same entries, nodes and results as sled's
//! (`crate::store::transparency`), appended under the `audit_head` row lock.

use deadpool_postgres::GenericClient;
use time::OffsetDateTime;

use super::{execute, from_json, get, pg, query, signed, unsigned, Head, Param, PgStore};
use crate::model::Serial;
use crate::store::transparency::{
    certificate_entry, kind_code, record_revocation_entry, unrecorded_revocation_entry,
};
use crate::store::{CertificateRecord, StoreError, TransparencyStore};
use crate::transparency::entry::{millis, LogEntry};
use crate::transparency::tree::{leaf_hash, node_hash, Frontier, Hash};

/// `meta` key set once every certificate and revocation of the database is in the log.
const COMPLETE_KEY: &str = "tlog_complete";
/// Entries per transaction when catching up.
const CATCH_UP_BATCH: usize = 1_000;

fn hash_of(bytes: Vec<u8>) -> Result<Hash, StoreError> {
    Hash::try_from(bytes.as_slice())
        .map_err(|_| StoreError::Corrupt("a transparency log hash is not 32 bytes".into()))
}

impl Head {
    /// Appends `entry` (about `serial`) as the next leaf, with every subtree root it
    /// completes; the size moves in memory (`Head::store` writes it).
    pub(super) async fn log<C: GenericClient>(
        &mut self,
        tx: &C,
        serial: &[u8],
        entry: &LogEntry,
    ) -> Result<u64, StoreError> {
        let index = self.log_size;
        let encoded = entry.encode();
        let leaf = leaf_hash(&encoded);
        execute(
            tx,
            "INSERT INTO tlog_entries (idx, serial, kind, leaf_hash, entry)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                Param::I64(signed(index)?),
                Param::Bytes(serial.to_vec()),
                Param::I16(i16::from(kind_code(entry))),
                Param::Bytes(leaf.to_vec()),
                Param::Bytes(encoded),
            ],
        )
        .await?;
        let insert_node = "INSERT INTO tlog_nodes (level, idx, hash) VALUES ($1, $2, $3)";
        execute(
            tx,
            insert_node,
            &[
                Param::I16(0),
                Param::I64(signed(index)?),
                Param::Bytes(leaf.to_vec()),
            ],
        )
        .await?;
        // A right child completes its parent (RFC 9162 §2.1.1).
        let (mut level, mut at, mut hash) = (0i16, index, leaf);
        while at & 1 == 1 {
            let rows = query(
                tx,
                "SELECT hash FROM tlog_nodes WHERE level = $1 AND idx = $2",
                &[Param::I16(level), Param::I64(signed(at - 1)?)],
            )
            .await?;
            let left = rows
                .first()
                .ok_or_else(|| StoreError::Corrupt("a transparency log node is missing".into()))?;
            hash = node_hash(&hash_of(get(left, 0)?)?, &hash);
            level += 1;
            at >>= 1;
            execute(
                tx,
                insert_node,
                &[
                    Param::I16(level),
                    Param::I64(signed(at)?),
                    Param::Bytes(hash.to_vec()),
                ],
            )
            .await?;
        }
        self.log_size = index + 1;
        Ok(index)
    }
}

impl Head {
    /// Appends many entries at once (a catch-up, a copy): the compact range of the tree
    /// is read once, the new nodes are computed in memory ([`Frontier`]) and every row
    /// is written with one statement per table. Returns the index of the first.
    pub(super) async fn log_bulk<C: GenericClient>(
        &mut self,
        tx: &C,
        entries: Vec<(Vec<u8>, LogEntry)>,
    ) -> Result<u64, StoreError> {
        let first = self.log_size;
        // The compact range of the current tree: one stored node per set bit of its size.
        let mut wanted: Vec<(i16, i64)> = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if first >> level & 1 == 1 {
                wanted.push((i16::from(level), signed(start >> level)?));
                start += 1u64 << level;
            }
        }
        let mut hashes = Vec::with_capacity(wanted.len());
        for (level, index) in &wanted {
            let rows = query(
                tx,
                "SELECT hash FROM tlog_nodes WHERE level = $1 AND idx = $2",
                &[Param::I16(*level), Param::I64(*index)],
            )
            .await?;
            let row = rows
                .first()
                .ok_or_else(|| StoreError::Corrupt("a transparency log node is missing".into()))?;
            hashes.push(hash_of(get(row, 0)?)?);
        }
        let mut frontier = Frontier::from_parts(first, hashes)
            .ok_or_else(|| StoreError::Corrupt("the transparency log's compact range".into()))?;
        let (mut idx, mut serials, mut kinds, mut leaves, mut bodies) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut levels, mut node_idx, mut node_hashes) = (Vec::new(), Vec::new(), Vec::new());
        for (serial, entry) in entries {
            let encoded = entry.encode();
            let leaf = leaf_hash(&encoded);
            idx.push(signed(frontier.size())?);
            for (level, index, hash) in frontier.append(leaf) {
                levels.push(i16::from(level));
                node_idx.push(signed(index)?);
                node_hashes.push(hash.to_vec());
            }
            serials.push(serial);
            kinds.push(i16::from(kind_code(&entry)));
            leaves.push(leaf.to_vec());
            bodies.push(encoded);
        }
        let statement = tx
            .prepare_cached(
                "INSERT INTO tlog_entries (idx, serial, kind, leaf_hash, entry)
                 SELECT * FROM unnest($1::int8[], $2::bytea[], $3::int2[], $4::bytea[],
                                      $5::bytea[])",
            )
            .await
            .map_err(pg)?;
        tx.execute(&statement, &[&idx, &serials, &kinds, &leaves, &bodies])
            .await
            .map_err(pg)?;
        let statement = tx
            .prepare_cached(
                "INSERT INTO tlog_nodes (level, idx, hash)
                 SELECT * FROM unnest($1::int2[], $2::int8[], $3::bytea[])",
            )
            .await
            .map_err(pg)?;
        tx.execute(&statement, &[&levels, &node_idx, &node_hashes])
            .await
            .map_err(pg)?;
        self.log_size = frontier.size();
        Ok(first)
    }
}

impl TransparencyStore for PgStore {
    fn log_size(&self) -> Result<u64, StoreError> {
        let rows = self.rows("SELECT tlog_size FROM audit_head", vec![])?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Corrupt("the audit head row is missing".into()))?;
        unsigned(get(row, 0)?)
    }

    fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let rows = self.rows(
            "SELECT entry FROM tlog_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
            vec![Param::I64(signed(start)?), Param::I64(signed(end)?)],
        )?;
        rows.iter().map(|row| get(row, 0)).collect()
    }

    fn log_nodes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Hash>>, StoreError> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let levels: Vec<i16> = wanted.iter().map(|(l, _)| i16::from(*l)).collect();
        let indexes = wanted
            .iter()
            .map(|(_, i)| signed(*i))
            .collect::<Result<Vec<i64>, _>>()?;
        let found = self.run(move |db| async move {
            let client = db.client().await?;
            let statement = client
                .prepare_cached(
                    "SELECT n.level, n.idx, n.hash FROM tlog_nodes n
                     JOIN unnest($1::int2[], $2::int8[]) AS w(level, idx)
                     ON n.level = w.level AND n.idx = w.idx",
                )
                .await
                .map_err(pg)?;
            client
                .query(&statement, &[&levels, &indexes])
                .await
                .map_err(pg)
        })?;
        let mut by_id = std::collections::HashMap::new();
        for row in &found {
            let level: i16 = get(row, 0)?;
            let index: i64 = get(row, 1)?;
            by_id.insert((level, index), hash_of(get(row, 2)?)?);
        }
        wanted
            .iter()
            .map(|(l, i)| Ok(by_id.get(&(i16::from(*l), signed(*i)?)).copied()))
            .collect()
    }

    fn log_index_of_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StoreError> {
        let rows = self.rows(
            "SELECT idx FROM tlog_entries WHERE leaf_hash = $1 ORDER BY idx LIMIT 1",
            vec![Param::Bytes(leaf.to_vec())],
        )?;
        rows.first().map(|row| unsigned(get(row, 0)?)).transpose()
    }

    fn log_index_of_certificate(&self, serial: &Serial) -> Result<Option<u64>, StoreError> {
        let rows = self.rows(
            "SELECT idx FROM tlog_entries WHERE serial = $1 AND kind = 1 ORDER BY idx LIMIT 1",
            vec![Param::Bytes(serial.as_bytes().to_vec())],
        )?;
        rows.first().map(|row| unsigned(get(row, 0)?)).transpose()
    }
}

impl PgStore {
    /// Appends to the log what the database holds and the log lacks (a database
    /// migrated from schema 1, or filled by an import), in time order, a batch per
    /// transaction; each entry is checked again under the head lock, so nodes that
    /// start together append everything once. Returns how many it appended.
    pub(super) fn catch_up_log(&self) -> Result<u64, StoreError> {
        let done = self.rows(
            "SELECT 1 FROM meta WHERE key = $1",
            vec![Param::Text(COMPLETE_KEY.into())],
        )?;
        if !done.is_empty() {
            return Ok(0);
        }
        let parse = |text: Option<String>| -> Result<Option<u64>, StoreError> {
            text.map(|t| {
                OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                    .map(millis)
                    .map_err(|e| StoreError::Corrupt(format!("time {t}: {e}")))
            })
            .transpose()
        };
        let mut missing: Vec<(u64, u8, Vec<u8>)> = Vec::new();
        for row in self.rows(
            "SELECT c.serial, c.record->>'issued_at', c.record->'revocation'->>'revoked_at',
                    c.record->>'status'
             FROM certificates c
             WHERE NOT EXISTS (SELECT 1 FROM tlog_entries e WHERE e.serial = c.serial)",
            vec![],
        )? {
            let serial: Vec<u8> = get(&row, 0)?;
            let issued = parse(get(&row, 1)?)?.unwrap_or(0);
            missing.push((issued, 0, serial.clone()));
            let status: Option<String> = get(&row, 3)?;
            if status.as_deref() == Some("revoked") {
                if let Some(at) = parse(get(&row, 2)?)? {
                    missing.push((at, 1, serial));
                }
            }
        }
        for row in self.rows(
            "SELECT r.serial, r.revoked_at FROM revoked r
             WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial = r.serial)
               AND NOT EXISTS (SELECT 1 FROM tlog_entries e WHERE e.serial = r.serial)",
            vec![],
        )? {
            let at: i64 = get(&row, 1)?;
            missing.push((
                u64::try_from(at.saturating_mul(1000)).unwrap_or(0),
                1,
                get(&row, 0)?,
            ));
        }
        missing.sort();
        let appended = missing.len() as u64;
        if appended > 0 {
            tracing::info!(
                entries = appended,
                "adding the certificates and revocations of this database to the transparency log"
            );
        }
        for chunk in missing.chunks(CATCH_UP_BATCH) {
            let chunk = chunk.to_vec();
            self.run(move |db| async move {
                let mut client = db.client().await?;
                let tx = client.transaction().await.map_err(pg)?;
                let mut head = Head::lock(&tx).await?;
                let mut batch = Vec::with_capacity(chunk.len());
                for (_, order, serial) in chunk {
                    let kind: i16 = if order == 0 { 1 } else { 2 };
                    let present = query(
                        &tx,
                        "SELECT 1 FROM tlog_entries WHERE serial = $1 AND kind = $2",
                        &[Param::Bytes(serial.clone()), Param::I16(kind)],
                    )
                    .await?;
                    if !present.is_empty() {
                        continue;
                    }
                    let rows = query(
                        &tx,
                        "SELECT record::text FROM certificates WHERE serial = $1",
                        &[Param::Bytes(serial.clone())],
                    )
                    .await?;
                    let record: Option<CertificateRecord> = rows
                        .first()
                        .map(|row| from_json(&get::<String>(row, 0)?))
                        .transpose()?;
                    let entry = match (order, record) {
                        (0, Some(record)) => certificate_entry(&record),
                        (_, Some(record)) => record_revocation_entry(&record)?,
                        (_, None) => {
                            let rows = query(
                                &tx,
                                "SELECT serial, reason, revoked_at, invalidity_date, not_after,
                                        issuer
                                 FROM revoked WHERE serial = $1",
                                &[Param::Bytes(serial.clone())],
                            )
                            .await?;
                            let row = rows.first().ok_or_else(|| {
                                StoreError::Corrupt("revoked entry vanished".into())
                            })?;
                            unrecorded_revocation_entry(
                                &serial,
                                &super::certificates::revoked_entry(row, 1)?,
                            )
                        }
                    };
                    batch.push((serial, entry));
                }
                head.log_bulk(&tx, batch).await?;
                head.store(&tx).await?;
                tx.commit().await.map_err(pg)
            })?;
        }
        self.exec(
            "INSERT INTO meta (key, value) VALUES ($1, '1') ON CONFLICT (key) DO NOTHING",
            vec![Param::Text(COMPLETE_KEY.into())],
        )?;
        Ok(appended)
    }

    /// Every entry with the serial it is about, in index order (`db copy`).
    pub(super) fn export_log(
        &self,
        visit: &mut dyn FnMut(u64, Vec<u8>, Vec<u8>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut after = -1i64;
        loop {
            let rows = self.rows(
                "SELECT idx, serial, entry FROM tlog_entries WHERE idx > $1 ORDER BY idx
                 LIMIT $2",
                vec![Param::I64(after), Param::I64(super::PAGE)],
            )?;
            for row in &rows {
                after = get(row, 0)?;
                visit(unsigned(after)?, get(row, 1)?, get(row, 2)?)?;
            }
            if rows.len() < usize::try_from(super::PAGE).unwrap_or(usize::MAX) {
                return Ok(());
            }
        }
    }

    /// Appends copied entries in one transaction; they must continue the log exactly.
    pub(super) fn import_log(
        &self,
        entries: Vec<(u64, Vec<u8>, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let decoded = entries
            .into_iter()
            .map(|(index, serial, entry)| {
                LogEntry::decode(&entry)
                    .map(|e| (index, serial, e))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.run(move |db| async move {
            let mut client = db.client().await?;
            let tx = client.transaction().await.map_err(pg)?;
            let mut head = Head::lock(&tx).await?;
            let continues = decoded
                .iter()
                .zip(head.log_size..)
                .all(|((index, _, _), next)| *index == next);
            if !continues {
                return Err(StoreError::Corrupt(
                    "copied log entries do not continue the log".into(),
                ));
            }
            let entries = decoded
                .into_iter()
                .map(|(_, serial, entry)| (serial, entry))
                .collect();
            head.log_bulk(&tx, entries).await?;
            head.store(&tx).await?;
            tx.commit().await.map_err(pg)
        })
    }
}
