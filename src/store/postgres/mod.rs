//! The PostgreSQL store: the same traits as [`super::SledStore`], with the same results,
//! on a database that many nodes share.
//!
//! The store traits are synchronous and are called from plain threads, from
//! `spawn_blocking` threads and from worker threads of the server's own runtime. So the
//! store owns a small tokio runtime of its own: every method spawns its async body there
//! and waits for the result on a std channel ([`Engine::run`]). Blocking on a runtime
//! handle instead would panic on a thread that is inside another runtime.
//!
//! Locking: every transaction that appends an audit entry first locks the single row of
//! `audit_head` (`SELECT … FOR UPDATE`). That row holds the chain head and the id of the
//! last revocation event, so audit entries and revocation events are numbered under one
//! lock and commit in the order of their numbers; taking it first also means no writer
//! ever waits for another lock while holding it, so auditing writers cannot deadlock.

mod certificates;
mod copy;
mod notify;
mod records;
mod schema;
#[cfg(test)]
mod tests;
mod transparency;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};
use time::OffsetDateTime;
use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{AuditEntry, AuditEvent, ChainHead, RevocationEvent, StoreError, StoreNotice};

pub use schema::LATEST_SCHEMA;

/// The channel every node listens on.
const CHANNEL: &str = "paypki_changes";
/// How long a caller waits for a pooled connection, and a new connection to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Any one statement: a dead or wedged database answers within this.
const STATEMENT_TIMEOUT_MS: u64 = 10_000;
/// Any one store call (a few statements and a commit).
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Rows per query when walking a large table (keyset pagination).
const PAGE: i64 = 10_000;

/// A store on a PostgreSQL server.
pub struct PgStore {
    engine: Engine,
    shared: Arc<Shared>,
    location: String,
    listener: Once,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location)
            .field("node", &self.shared.node)
            .finish()
    }
}

/// What the spawned tasks share with the store.
struct Shared {
    pool: Pool,
    /// Connection settings, for the listener's own connection.
    config: tokio_postgres::Config,
    /// This store's random id: its own notifications are not reported back to it.
    node: String,
    subscribers: Mutex<Vec<UnboundedSender<StoreNotice>>>,
    /// Whether the listener is listening now.
    listening: AtomicBool,
}

impl Shared {
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

/// The store's own tokio runtime (see the module documentation).
struct Engine {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Engine {
    fn new() -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("paypki-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Database(format!("cannot start the database runtime: {e}")))?;
        Ok(Engine {
            runtime: Some(runtime),
        })
    }

    /// Runs `work` on the store's runtime and waits for it on this thread.
    fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Database("the database runtime is shut down".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            // The receiver waits until we send; it is only gone if the caller is.
            let _ = tx.send(work.await);
        });
        rx.recv()
            .map_err(|_| StoreError::Database("a database task failed".into()))?
    }

    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(work);
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // The store may be dropped on a thread of another runtime, where dropping a
        // runtime (which blocks) would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl PgStore {
    /// Connects to `url` and checks that the database carries this version's schema
    /// (`StoreError::Schema` naming `paypki db migrate` when it does not).
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let location = redact(url);
        let config = parse_config(url, &location)?;
        let engine = Engine::new()?;
        let manager = deadpool_postgres::Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Database(format!("cannot make the connection pool: {e}")))?;
        let shared = Arc::new(Shared {
            pool,
            config,
            node: random_node_id()?,
            subscribers: Mutex::new(Vec::new()),
            listening: AtomicBool::new(false),
        });
        let store = PgStore {
            engine,
            shared,
            location,
            listener: Once::new(),
        };
        let db = store.shared.clone();
        let found = store.engine.run(async move {
            let client = db.client().await?;
            schema::current_version(&client).await
        })?;
        schema::check(found, &store.location)?;
        // A database migrated from schema 1: its certificates and revocations enter the
        // transparency log once.
        store.catch_up_log()?;
        Ok(store)
    }

    /// Applies the migrations the database at `url` lacks, each in its own transaction
    /// under an advisory lock (two migrators do not race); returns what was applied.
    pub fn migrate(url: &str) -> Result<Vec<(u32, String)>, StoreError> {
        let location = redact(url);
        let config = parse_config(url, &location)?;
        Engine::new()?.run(schema::migrate(config))
    }

    /// The database's schema version (`None`: no paypki schema yet) and the newest this
    /// version of paypki knows, for `paypki db status`.
    pub fn schema_version(url: &str) -> Result<(Option<u32>, u32), StoreError> {
        let location = redact(url);
        let config = parse_config(url, &location)?;
        let found = Engine::new()?.run(async move {
            let client = connect_one(&config).await?;
            schema::current_version(&client).await
        })?;
        Ok((found, LATEST_SCHEMA))
    }

    /// Runs `work` with the shared state on the store's runtime.
    fn run<T, F, W>(&self, work: W) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
        W: FnOnce(Arc<Shared>) -> F,
    {
        let work = work(self.shared.clone());
        self.engine.run(async move {
            // A server that vanished without closing the socket would otherwise hold the
            // caller until TCP gives up; each statement is bounded by statement_timeout.
            tokio::time::timeout(CALL_TIMEOUT, work)
                .await
                .map_err(|_| StoreError::Unavailable("PostgreSQL did not answer in time".into()))?
        })
    }

    /// Runs one query on a pooled connection and returns its rows.
    fn rows(&self, sql: &'static str, params: Vec<Param>) -> Result<Vec<Row>, StoreError> {
        self.run(move |db| async move {
            let client = db.client().await?;
            query(&client, sql, &params).await
        })
    }

    /// Runs one statement on a pooled connection (autocommit) and returns the row count.
    fn exec(&self, sql: &'static str, params: Vec<Param>) -> Result<u64, StoreError> {
        self.run(move |db| async move {
            let client = db.client().await?;
            execute(&client, sql, &params).await
        })
    }
}

impl super::Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgresql"
    }
    fn location(&self) -> String {
        self.location.clone()
    }
    fn subscribe(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<StoreNotice>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if let Ok(mut subscribers) = self.shared.subscribers.lock() {
            subscribers.push(tx);
        }
        self.listener.call_once(|| {
            self.engine.spawn(notify::listen(self.shared.clone()));
        });
        // Give the listener a moment, so that a change made right after subscribing is
        // heard; when the database is down the subscriber hears `Disconnected` instead.
        let deadline = std::time::Instant::now() + CONNECT_TIMEOUT;
        while !self.shared.listening.load(Ordering::Acquire) && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(rx)
    }
}

/// One query parameter, owned (the work runs on another thread).
#[derive(Debug, Clone)]
enum Param {
    Bytes(Vec<u8>),
    Text(String),
    I64(i64),
    I16(i16),
    OptI64(Option<i64>),
    OptText(Option<String>),
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Bytes(v) => v.to_sql_checked(ty, out),
            Param::Text(v) => v.to_sql_checked(ty, out),
            Param::I64(v) => v.to_sql_checked(ty, out),
            Param::I16(v) => v.to_sql_checked(ty, out),
            Param::OptI64(v) => v.to_sql_checked(ty, out),
            Param::OptText(v) => v.to_sql_checked(ty, out),
        }
    }

    // Each variant checks its own type in `to_sql`.
    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// A query through the connection's statement cache.
async fn query<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[Param],
) -> Result<Vec<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(pg)?;
    client.query(&statement, &refs(params)).await.map_err(pg)
}

/// A statement through the connection's statement cache; the number of rows it touched.
async fn execute<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[Param],
) -> Result<u64, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(pg)?;
    client.execute(&statement, &refs(params)).await.map_err(pg)
}

/// Column `i` of `row`; a value of the wrong type is a corrupt record.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i)
        .map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
}

/// The audit chain head and the revocation event counter, locked for this transaction.
struct Head {
    chain: ChainHead,
    last_event: u64,
    /// The transparency log's size.
    log_size: u64,
}

impl Head {
    /// Locks the head row: the first statement of every auditing transaction.
    async fn lock<C: GenericClient>(tx: &C) -> Result<Head, StoreError> {
        let rows = query(
            tx,
            "SELECT seq, hash, last_event, tlog_size FROM audit_head FOR UPDATE",
            &[],
        )
        .await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Corrupt("the audit head row is missing".into()))?;
        Ok(Head {
            chain: ChainHead {
                seq: unsigned(get(row, 0)?)?,
                hash: get(row, 1)?,
            },
            last_event: unsigned(get(row, 2)?)?,
            log_size: unsigned(get(row, 3)?)?,
        })
    }

    /// Appends the audit entry for `event` (the head moves in memory; [`Head::store`]).
    async fn audit<C: GenericClient>(
        &mut self,
        tx: &C,
        event: &AuditEvent,
    ) -> Result<AuditEntry, StoreError> {
        let entry = AuditEntry::following(&self.chain, event, OffsetDateTime::now_utc())?;
        let text = to_json(&entry)?;
        let head = entry.head();
        execute(
            tx,
            "INSERT INTO audit (seq, entry) VALUES ($1, $2::text::jsonb)",
            &[Param::I64(signed(head.seq)?), Param::Text(text)],
        )
        .await?;
        self.chain = head;
        Ok(entry)
    }

    /// Appends a revocation event, numbering it, and its transparency log entry.
    async fn event<C: GenericClient>(
        &mut self,
        tx: &C,
        mut event: RevocationEvent,
    ) -> Result<RevocationEvent, StoreError> {
        event.id = self.last_event + 1;
        execute(
            tx,
            "INSERT INTO revocation_events (id, event) VALUES ($1, $2::text::jsonb)",
            &[Param::I64(signed(event.id)?), Param::Text(to_json(&event)?)],
        )
        .await?;
        self.last_event = event.id;
        let entry = super::transparency::event_entry(&event);
        self.log(tx, event.serial.as_bytes(), &entry).await?;
        Ok(event)
    }

    /// Writes the moved head back.
    async fn store<C: GenericClient>(&self, tx: &C) -> Result<(), StoreError> {
        execute(
            tx,
            "UPDATE audit_head SET seq = $1, hash = $2, last_event = $3, tlog_size = $4",
            &[
                Param::I64(signed(self.chain.seq)?),
                Param::Text(self.chain.hash.clone()),
                Param::I64(signed(self.last_event)?),
                Param::I64(signed(self.log_size)?),
            ],
        )
        .await?;
        Ok(())
    }
}

/// Tells the other nodes, when the transaction commits (`pg_notify` is transactional).
async fn notify<C: GenericClient>(
    tx: &C,
    node: &str,
    payload: serde_json::Value,
) -> Result<(), StoreError> {
    let mut payload = payload;
    if let Some(object) = payload.as_object_mut() {
        object.insert("node".into(), node.into());
    }
    query(
        tx,
        "SELECT pg_notify($1, $2)",
        &[
            Param::Text(CHANNEL.into()),
            Param::Text(payload.to_string()),
        ],
    )
    .await?;
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored u64 (PostgreSQL has no unsigned types).
fn unsigned(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative number {value}")))
}

/// A u64 to store; values beyond i64 are refused rather than wrapped.
fn signed(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Database(format!("{value} is too large for the database")))
}

/// A usize limit for SQL `LIMIT`.
fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn serial_of(octets: &[u8]) -> Result<crate::model::Serial, StoreError> {
    hex::encode(octets)
        .parse()
        .map_err(|e: crate::model::SerialError| StoreError::Corrupt(format!("serial: {e}")))
}

/// A driver error as a store error: connection trouble and timeouts are `Unavailable`
/// (try again later), values that do not decode are `Corrupt`.
fn pg(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // 08: connection exception; 57: operator intervention (57014: statement timeout,
        // 57P01..57P03: shutting down, starting up); 53300: too many connections.
        if code.starts_with("08") || code.starts_with("57") || code == "53300" {
            return StoreError::Unavailable(db.message().to_string());
        }
        return StoreError::Database(format!("{} ({code})", db.message()));
    }
    let text = e.to_string();
    if text.starts_with("error deserializing") {
        StoreError::Corrupt(text)
    } else if text.starts_with("error serializing") {
        StoreError::Database(text)
    } else if e.is_closed() {
        StoreError::Unavailable("the connection to PostgreSQL was lost".into())
    } else {
        StoreError::Unavailable(text)
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    use deadpool_postgres::PoolError;
    match e {
        PoolError::Backend(e) => pg(e),
        PoolError::Timeout(_) => {
            StoreError::Unavailable("timed out waiting for a connection to PostgreSQL".into())
        }
        PoolError::Closed | PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => {
            StoreError::Unavailable(format!("no connection to PostgreSQL: {e}"))
        }
    }
}

/// Whether `e` is a unique violation (SQLSTATE 23505).
fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(text) if text.ends_with("(23505)"))
}

/// Parses the URL and adds the timeouts that make a dead database answer quickly.
fn parse_config(url: &str, location: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|_| StoreError::Unavailable(format!("{location} is not a PostgreSQL URL")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    // A lost peer is noticed within about half a minute instead of hours.
    config.keepalives_idle(Duration::from_secs(15));
    config.keepalives_interval(Duration::from_secs(5));
    config.keepalives_retries(3);
    let timeout = format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}");
    let options = match config.get_options() {
        Some(existing) if !existing.is_empty() => format!("{existing} {timeout}"),
        _ => timeout,
    };
    config.options(options);
    if config.get_application_name().is_none() {
        config.application_name("paypki");
    }
    Ok(config)
}

/// One connection outside any pool (migrations, status), driven on the current runtime.
async fn connect_one(
    config: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, StoreError> {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(pg)?;
    tokio::spawn(async move {
        // Ends when the client is dropped or the server goes away; the client reports
        // the error to its caller.
        let _ = connection.await;
    });
    Ok(client)
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some(parts) => parts,
        None => return "(a PostgreSQL connection string)".into(),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|p| !p.to_ascii_lowercase().starts_with("password="))
                .collect();
            if kept.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

fn random_node_id() -> Result<String, StoreError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::Database("no randomness for the node id".into()))?;
    Ok(hex::encode(bytes))
}
