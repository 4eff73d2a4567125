//! Schema migrations, kept in `migrations/postgres/` and embedded in the binary. Each is
//! applied once, in its own transaction, and recorded in `paypki_schema`.

use super::{connect_one, pg, StoreError};

/// The migrations, in order: (version, name, SQL).
const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "transparency",
        include_str!("../../../migrations/postgres/0002_transparency.sql"),
    ),
];

/// The schema version this paypki needs (the newest migration).
pub const LATEST_SCHEMA: u32 = 2;

/// Key of the advisory lock migrators take (any constant all paypki versions share).
const MIGRATION_LOCK: i64 = 7_061_796_107;

const CREATE_SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS paypki_schema (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now())";

/// The database's schema version; `None` when paypki never migrated it.
pub(super) async fn current_version(
    client: &tokio_postgres::Client,
) -> Result<Option<u32>, StoreError> {
    let exists = client
        .query_one("SELECT to_regclass('paypki_schema') IS NOT NULL", &[])
        .await
        .map_err(pg)?;
    if !exists.try_get::<_, bool>(0).map_err(pg)? {
        return Ok(None);
    }
    let row = client
        .query_one("SELECT max(version) FROM paypki_schema", &[])
        .await
        .map_err(pg)?;
    let version: Option<i32> = row.try_get(0).map_err(pg)?;
    Ok(version.and_then(|v| u32::try_from(v).ok()))
}

/// Refuses a database whose schema is not the one this paypki uses.
pub(super) fn check(found: Option<u32>, location: &str) -> Result<(), StoreError> {
    match found {
        Some(version) if version == LATEST_SCHEMA => Ok(()),
        Some(version) if version > LATEST_SCHEMA => Err(StoreError::Schema(format!(
            "the PostgreSQL database {location} has schema version {version}, made by a newer \
             paypki (this one knows versions up to {LATEST_SCHEMA}): upgrade paypki"
        ))),
        found => Err(StoreError::Schema(format!(
            "the PostgreSQL database {location} has schema version {} but this paypki needs \
             {LATEST_SCHEMA}: run `paypki db migrate --database URL`",
            found.map_or_else(|| "none".to_string(), |v| v.to_string())
        ))),
    }
}

/// Applies what is missing; returns what was applied.
pub(super) async fn migrate(
    config: tokio_postgres::Config,
) -> Result<Vec<(u32, String)>, StoreError> {
    let mut client = connect_one(&config).await?;
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        let tx = client.transaction().await.map_err(pg)?;
        // Held until commit: a second migrator waits, then finds the version applied.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg)?;
        tx.batch_execute(CREATE_SCHEMA_TABLE).await.map_err(pg)?;
        let version_sql = i32::try_from(*version)
            .map_err(|_| StoreError::Schema(format!("migration {version} out of range")))?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM paypki_schema WHERE version = $1",
                &[&version_sql],
            )
            .await
            .map_err(pg)?;
        if done.is_some() {
            continue;
        }
        tx.batch_execute(sql).await.map_err(|e| match pg(e) {
            StoreError::Database(text) => {
                StoreError::Schema(format!("migration {version} ({name}) failed: {text}"))
            }
            other => other,
        })?;
        tx.execute(
            "INSERT INTO paypki_schema (version, name, applied_at) VALUES ($1, $2, now())",
            &[&version_sql, name],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        applied.push((*version, (*name).to_string()));
    }
    Ok(applied)
}
