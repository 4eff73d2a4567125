//! `paypki db`: the database itself: apply the PostgreSQL schema, show where it stands,
//! and copy a whole store between sled and PostgreSQL.

use clap::{Args, Subcommand};

use super::{CliError, Context};
use crate::store::postgres::PgStore;
use crate::store::{DatabaseLocation, SharedStore, StoreCounts, StoreItem};

/// `paypki db …`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply the PostgreSQL schema migrations this version needs (`--database URL` or
    /// `PAYPKI_DATABASE_URL`); safe to run again, and by several nodes at once.
    Migrate,
    /// Show which database is used, its schema version and what it holds.
    Status,
    /// Copy a whole store (certificates, revocations, tokens, officers, participants,
    /// approvals, the audit trail, events and CRLs) into an empty one: sled into
    /// PostgreSQL or back. The source is not changed; stop the servers that write it
    /// first.
    Copy(CopyArgs),
}

/// `paypki db copy`
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The source: a data directory (its sled database) or a `postgres://` URL.
    #[arg(long, value_name = "DATA_DIR_OR_URL")]
    from: String,
    /// The target: a `postgres://` URL (its schema is applied first) or a data
    /// directory. It must be empty.
    #[arg(long, value_name = "URL_OR_DATA_DIR")]
    to: String,
}

/// Items written to the target per batch (one transaction on PostgreSQL).
const BATCH: usize = 5_000;

pub(super) fn run(context: &Context, command: DbCommand) -> Result<(), CliError> {
    match command {
        DbCommand::Migrate => migrate(context),
        DbCommand::Status => status(context),
        DbCommand::Copy(args) => copy(&args),
    }
}

fn postgres_url(context: &Context) -> Result<&str, CliError> {
    context.database.as_deref().ok_or_else(|| {
        CliError::Usage(
            "no PostgreSQL database given: pass --database postgres://… or set PAYPKI_DATABASE_URL (the sled database needs no migration)".into(),
        )
    })
}

fn migrate(context: &Context) -> Result<(), CliError> {
    let url = postgres_url(context)?;
    let applied = PgStore::migrate(url)?;
    if applied.is_empty() {
        println!("the schema is up to date; nothing to apply");
    }
    for (version, name) in applied {
        println!("applied migration {version:04} {name}");
    }
    Ok(())
}

fn status(context: &Context) -> Result<(), CliError> {
    let store = match &context.database {
        Some(url) => {
            let (version, latest) = PgStore::schema_version(url)?;
            match version {
                Some(v) => println!("backend: postgresql, schema version {v} (this paypki: {latest})"),
                None => println!("backend: postgresql, no schema yet (this paypki: {latest}): run `paypki db migrate`"),
            }
            if version != Some(latest) {
                return Ok(());
            }
            crate::store::open(&DatabaseLocation::Postgres(url.clone()))?
        }
        None => {
            let store = super::admin::open_store(context)?;
            println!("backend: sled, {}", store.location());
            store
        }
    };
    print_counts(&store.counts()?);
    Ok(())
}

fn print_counts(counts: &StoreCounts) {
    println!(
        "certificates: {}\nrevoked: {}\ntokens: {}\nofficers: {}\nparticipants: {}\napprovals: {}\naudit entries: {}\nrevocation events: {}\ntransparency log entries: {}",
        counts.certificates,
        counts.revoked,
        counts.tokens,
        counts.officers,
        counts.participants,
        counts.approvals,
        counts.audit_entries,
        counts.revocation_events,
        counts.log_entries
    );
}

fn is_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// Opens one end of a copy; a PostgreSQL target gets its schema first.
fn open_end(text: &str, target: bool) -> Result<SharedStore, CliError> {
    if is_url(text) {
        if target {
            PgStore::migrate(text)?;
        }
        return Ok(crate::store::open(&DatabaseLocation::Postgres(
            text.to_string(),
        ))?);
    }
    let dir = crate::config::DataDir::new(std::path::Path::new(text));
    if !target && !dir.database().exists() {
        return Err(CliError::Usage(format!(
            "{text}: no database in this data directory (expected {})",
            dir.database().display()
        )));
    }
    crate::store::open(&DatabaseLocation::Sled(dir.database())).map_err(|e| match e {
        crate::store::StoreError::Locked(_) => CliError::Failed(format!(
            "the database in {text} is in use: stop the `paypki serve` that holds it first"
        )),
        other => other.into(),
    })
}

fn copy(args: &CopyArgs) -> Result<(), CliError> {
    let source = open_end(&args.from, false)?;
    let target = open_end(&args.to, true)?;
    if !target.is_empty()? {
        return Err(CliError::Failed(format!(
            "{} is not empty: a copy goes into an empty database only (nothing was written)",
            target.location()
        )));
    }
    let expected = source.counts()?;
    let progress = super::progress(expected.certificates, "certificates");
    progress.set_message(format!("{} → {}", source.backend(), target.backend()));
    // indicatif draws nothing when stderr is not a terminal (logs, CI).
    let mut batch = Vec::with_capacity(BATCH);
    source.export(&mut |item| {
        if matches!(item, StoreItem::Certificate(_)) {
            progress.inc(1);
        }
        batch.push(item);
        if batch.len() >= BATCH {
            target.import(std::mem::take(&mut batch))?;
        }
        Ok(())
    })?;
    target.import(batch)?;
    target.finish_import()?;
    progress.finish_and_clear();

    // Verify: the same counts, and an intact audit chain with the same head.
    let copied = target.counts()?;
    if copied != expected {
        return Err(CliError::Failed(format!(
            "the copy does not match its source: source {expected:?}, copy {copied:?}"
        )));
    }
    let source_audit = source.verify_audit()?;
    let copied_audit = target.verify_audit()?;
    if !copied_audit.problems.is_empty() || copied_audit.head_hash != source_audit.head_hash {
        return Err(CliError::Failed(format!(
            "the audit chain of the copy does not verify: {:?} (head {} against the source's {})",
            copied_audit.problems, copied_audit.head_hash, source_audit.head_hash
        )));
    }
    println!(
        "copied {} → {}: {} certificates, {} revoked, {} tokens, {} officers, {} participants, {} approvals, {} audit entries (chain verified, head {}), {} revocation events, {} transparency log entries",
        source.location(),
        target.location(),
        copied.certificates,
        copied.revoked,
        copied.tokens,
        copied.officers,
        copied.participants,
        copied.approvals,
        copied.audit_entries,
        copied_audit.head_hash,
        copied.revocation_events,
        copied.log_entries
    );
    Ok(())
}
