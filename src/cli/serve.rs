//! `paypki serve`: the HTTP server. On an empty data directory it first creates a
//! development CA, so `cargo run --release -- serve` works on a fresh clone.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;

use super::remote::ServerInfo;
use super::{passphrase_from_env, CliError, Context};
use crate::ca::{CertificateAuthority, InitOptions};
use crate::http::{AppState, HttpSettings};
use crate::ra::{Policies, RegistrationAuthority};

/// Options of `paypki serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "PAYPKI_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Base URL for the development CA created on an empty data directory
    /// (default: http://<listen address>).
    #[arg(long)]
    pub base_url: Option<String>,
    /// On an empty data directory, create a development CA. Without it (or the
    /// development mark in the README.md the repository's ca-data/ ships), `serve`
    /// refuses to start on an empty directory, which in production is more likely an
    /// unmounted volume.
    #[arg(long, env = "PAYPKI_DEV")]
    pub dev: bool,
    /// Request timeout: a duration such as 15s or 2m, like the other time flags (a bare
    /// number is taken as seconds, as older versions read it); at least 1s.
    #[arg(long, default_value = "15s")]
    pub request_timeout: String,
    /// Enrollment and renewal requests per minute per client address.
    #[arg(long, default_value_t = 120)]
    pub enroll_rate: u32,
    /// Failed enrollment and renewal attempts (wrong or unknown token, bad proof, bad
    /// request) allowed per minute per client address; past them the client gets 429.
    #[arg(long, default_value_t = 20)]
    pub auth_failures: u32,
    /// Estimated CPU milliseconds of signature checks one verification request may use
    /// (a batch's items past it answer `budget_exceeded`).
    #[arg(long, default_value_t = 1000)]
    pub verify_budget_ms: u64,
    /// Estimated CPU milliseconds of signature checks per second per client address on
    /// /v1/verify, /v1/verify/batch and /v1/validate (0: no limit); past it, 429.
    #[arg(long, default_value_t = 2000)]
    pub verify_rate_ms: u64,
    /// Verification requests running off the async workers at once (batches, chain
    /// validations, costly single checks); others wait up to 5 s, then get 503
    /// (0: the number of CPUs).
    #[arg(long, default_value_t = 0)]
    pub verify_concurrency: usize,
    /// How long a client has to send a complete request head (request line and headers),
    /// counted from the moment the server waits for one: on a new connection, and on a
    /// keep-alive connection after each answer (so it is also the keep-alive idle time).
    /// A duration such as 10s (a bare number is seconds).
    #[arg(long, default_value = "10s")]
    pub header_read_timeout: String,
    /// How long a connection may go without a byte moving either way (a client that
    /// stops reading its answer, or stops sending its body) before it is closed; must be
    /// longer than --request-timeout. A duration such as 60s (a bare number is seconds).
    #[arg(long, default_value = "60s")]
    pub idle_timeout: String,
    /// Most connections open at once; more are answered 503 at once and closed. Kept
    /// below the open-file limit (raised to its hard limit at start-up) less a reserve.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Most enrollments and renewals processed at once; more are answered 503 at once, so
    /// that a wave of sign-ups never takes all the blocking threads status needs.
    #[arg(long, default_value_t = 32)]
    pub enroll_concurrency: usize,
    /// OCSP response validity (nextUpdate − thisUpdate); cached responses are re-signed
    /// after half of it.
    #[arg(long, default_value = "4h")]
    pub ocsp_validity: String,
    /// Most bytes of memory the OCSP response cache may use (responses, keys and
    /// bookkeeping, counted per entry); when full it starts over and re-signs on use.
    #[arg(long, default_value_t = 64 << 20)]
    pub ocsp_cache_bytes: usize,
    /// Deprecated (--ocsp-cache-bytes bounds memory): also bound the OCSP cache to this
    /// many entries.
    #[arg(long)]
    pub ocsp_cache: Option<usize>,
    /// Memory for the verification service's cache of this CA's certificates, in bytes
    /// (least recently used certificates are dropped first).
    #[arg(long, default_value_t = crate::verify::DEFAULT_CACHE_BYTES)]
    pub verify_cache_bytes: usize,
    /// CRL validity (nextUpdate − thisUpdate).
    #[arg(long, default_value = "24h")]
    pub crl_validity: String,
    /// How often a new CRL is published even without revocations.
    #[arg(long, default_value = "1h")]
    pub crl_refresh: String,
}

/// A time-out flag (`--request-timeout`, `--header-read-timeout`, `--idle-timeout`): a
/// duration like every other time flag (`15s`, `2m`), or a bare number of seconds as
/// these flags first took; at least one second.
fn timeout_flag(flag: &str, value: &str) -> Result<std::time::Duration, CliError> {
    let value = value.trim();
    let seconds = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value
            .parse::<u64>()
            .map_err(|_| CliError::Usage(format!("--{flag} {value:?} is too large")))?
    } else {
        let duration =
            super::parse_duration(value).map_err(|e| CliError::Usage(format!("--{flag}: {e}")))?;
        u64::try_from(duration.whole_seconds()).unwrap_or(0)
    };
    Ok(std::time::Duration::from_secs(seconds.max(1)))
}

/// Hands issuances and status changes to OCSP (pre-sign) and the CRL publisher.
struct StatusFanout {
    ocsp: Arc<crate::ocsp::OcspResponder>,
    presigner: crate::ocsp::Presigner,
    crl_wakeup: Arc<tokio::sync::Notify>,
    events: Arc<tokio::sync::Notify>,
}

impl StatusFanout {
    fn changed(&self, serial: &crate::model::Serial, issuer: u32) {
        self.ocsp.status_changed(serial, issuer);
        self.crl_wakeup.notify_one();
        self.events.notify_waiters();
    }
}

impl crate::ra::StatusListener for StatusFanout {
    fn issued(&self, record: &crate::store::CertificateRecord) {
        // After the 201, at low priority: not a signature inside the enrollment.
        self.presigner.issued(&record.serial, record.issuer);
    }
    fn status_changed(&self, record: &crate::store::CertificateRecord) {
        self.changed(&record.serial, record.issuer);
    }
    fn unrecorded_revoked(&self, serial: &crate::model::Serial, issuer: u32) {
        self.changed(serial, issuer);
    }
}

/// Applies what other processes sharing the database did (PostgreSQL `NOTIFY`): a
/// status change re-signs the cached OCSP answers and wakes the CRL publisher and the
/// event streams; a newer CRL is served. While the connection that hears changes is
/// lost, cached OCSP answers are served only until their refresh time (half their
/// validity, never past nextUpdate), after which each answer is signed from the
/// database or answered `tryLater`; on reconnection every cached answer is dropped,
/// since changes may have been missed.
async fn apply_notices(
    mut notices: tokio::sync::mpsc::UnboundedReceiver<crate::store::StoreNotice>,
    fanout: Arc<StatusFanout>,
    crl: Arc<crate::crl::CrlPublisher>,
    state: Arc<crate::http::AppState>,
) {
    use crate::store::StoreNotice;
    while let Some(notice) = notices.recv().await {
        match notice {
            StoreNotice::StatusChanged { serial, issuer } => {
                let fanout = fanout.clone();
                let _ = tokio::task::spawn_blocking(move || fanout.changed(&serial, issuer)).await;
            }
            StoreNotice::CrlPublished { issuer } => {
                let crl = crl.clone();
                match tokio::task::spawn_blocking(move || crl.reload(issuer)).await {
                    Ok(Ok(true)) => {
                        tracing::info!(issuer, "CRL published by another node: serving it")
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(issuer, error = %e, "cannot load the CRL another node published")
                    }
                    Err(e) => tracing::error!(error = %e, "CRL reload task failed"),
                }
            }
            StoreNotice::Disconnected => {
                state.set_database_connected(false);
                tracing::error!("lost the database connection that hears other nodes' changes: cached OCSP answers are served only until their refresh time; reconnecting");
            }
            StoreNotice::Reconnected => {
                state.set_database_connected(true);
                fanout.ocsp.clear_cache();
                fanout.crl_wakeup.notify_one();
                fanout.events.notify_waiters();
                tracing::warn!("hearing other nodes' changes again: dropped every cached OCSP answer (changes may have been missed)");
            }
        }
    }
}

pub(super) fn run(context: &Context, args: ServeArgs) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Enough for group commit to batch a wave of enrollments; far below tokio's
        // default 512, whose idle threads and allocator arenas only cost memory.
        .max_blocking_threads(64)
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(serve(context, args))
}

async fn serve(context: &Context, args: ServeArgs) -> Result<(), CliError> {
    // Policies first: a broken policy file stops the server before anything is created.
    let policies = Arc::new(Policies::load(&context.policies)?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen on {}: {e}", args.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::Failed(format!("cannot read the listening address: {e}")))?;
    let url = format!("http://{local}");

    let fresh = !context.data_dir.is_initialized();
    if fresh && !args.dev && !context.data_dir.is_development() {
        return Err(CliError::Usage(format!(
            "no CA in {}: run `paypki init` to create one for production, or `paypki serve --dev` for a development CA. paypki does not create a CA on its own in an empty directory, which may be a volume that is not mounted",
            context.data_dir.root().display()
        )));
    }
    let mut init_options = None;
    if fresh {
        // A development CA on a shared PostgreSQL database gets the schema, as `init`
        // would give it (an existing CA's database must be migrated on purpose).
        if let Some(url) = &context.database {
            crate::store::postgres::PgStore::migrate(url)?;
        }
        let mut options = InitOptions::new(args.base_url.clone().unwrap_or_else(|| url.clone()));
        options.passphrase = passphrase_from_env();
        let report = crate::ca::init(&context.data_dir, &options)?;
        init_options = Some((options, report));
    }
    context.data_dir.restrict_permissions().map_err(|e| {
        CliError::Failed(format!(
            "cannot make {} private (0700): {e}",
            context.data_dir.root().display()
        ))
    })?;
    // One server per data directory (it owns server.json, which the CLI finds it by).
    // sled's own lock says the same for the database; a shared PostgreSQL database has
    // none, so this lock file does (released by the kernel even after a crash).
    let _serving = lock_data_dir(context)?;
    let mut ca = CertificateAuthority::load(&context.data_dir, passphrase_from_env().as_ref())?;
    // One handle for the whole run: sled releases its file lock only when the last handle
    // is gone, possibly after a background flush, so reopening could race with ourselves.
    let store = crate::store::open(&context.database_location()).map_err(|e| match e {
        crate::store::StoreError::Locked(_) => CliError::Failed(format!(
            "the database in {} is in use: is another `paypki serve` running on this data directory?",
            context.data_dir.root().display()
        )),
        other => other.into(),
    })?;
    if let Some((options, report)) = init_options {
        store.append_audit(
            crate::store::AuditEvent::new("init", "serve").detail(format!(
                "development CA created; root SHA-256 {}",
                report.root_fingerprint
            )),
        )?;
        // A development CA has one officer who may do everything (production CAs
        // separate the roles: docs/operations.md, "Officers and roles").
        super::init::create_first_officer(
            &context.data_dir,
            &store,
            crate::model::OfficerRole::ALL.to_vec(),
            "serve",
        )?;
        tracing::warn!(
            data_dir = %context.data_dir.root().display(),
            root_sha256 = %report.root_fingerprint,
            base_url = %options.base_url,
            admin_credential = %context.data_dir.admin_credential().display(),
            "no CA found: created a DEVELOPMENT CA (for production run `paypki init` with your --base-url, --org and --country first)"
        );
    }
    // A data directory from before officers existed: its admin credential becomes
    // officer `admin`.
    if let Some(officer) = store.migrate_admin_credential(time::OffsetDateTime::now_utc())? {
        tracing::info!(
            officer = %officer.name,
            "the admin credential of this data directory is now the credential of officer `admin` (every role)"
        );
    }
    // A responder certificate close to expiry is replaced before serving with it.
    let now = time::OffsetDateTime::now_utc();
    let expiring: Vec<u32> = ca
        .issuers()
        .iter()
        .filter(|issuer| issuer.responder().not_after - now < time::Duration::days(30))
        .filter(|issuer| issuer.certificate().not_after > now)
        .map(|issuer| issuer.id())
        .collect();
    for id in &expiring {
        let not_after = super::responder::renew_responder(
            context,
            &ca,
            &store,
            *id,
            time::Duration::days(90),
            "serve",
        )?;
        tracing::warn!(issuer = id, %not_after, "the OCSP responder certificate had under 30 days left: renewed it");
    }
    if !expiring.is_empty() {
        ca = CertificateAuthority::load(&context.data_dir, passphrase_from_env().as_ref())?;
    }
    // Data directories made before root CRLs were signed at init have none: sign it now
    // if the root key is here (never needed otherwise; /healthz says what is missing).
    if !context.data_dir.root_crl_file().exists() {
        match crate::ca::load_root_key(&context.data_dir, None, passphrase_from_env().as_ref()) {
            Ok(root_key) => {
                let crl = crate::ca::publish_root_crl(
                    &context.data_dir,
                    &root_key,
                    None,
                    &crate::clock::SystemClock,
                )?;
                store.append_audit(
                    crate::store::AuditEvent::new("root-crl", "serve")
                        .detail(format!("first root CRL signed (cRLNumber {})", crl.number)),
                )?;
                tracing::warn!(crl_number = crl.number, "this data directory had no root CRL: signed one with the root key in it");
            }
            Err(crate::ca::CaError::RootKeyNeeded(_)) => tracing::error!(
                "no root CRL to publish at /crl/root.crl: run `paypki crl --root --root-key FILE` where the root key is"
            ),
            Err(e) => return Err(e.into()),
        }
    }
    let ca = Arc::new(ca);
    let root_crl = Arc::new(crate::crl::RootCrlPublisher::new(
        ca.clone(),
        context.data_dir.clone(),
    ));
    if let Err(e) = root_crl.poll() {
        tracing::error!(error = %e, "the root CRL in the data directory is not usable; it is not published");
    }
    let duration = |flag: &str, value: &str| {
        super::parse_duration(value).map_err(|e| CliError::Usage(format!("--{flag}: {e}")))
    };
    let ocsp_validity = duration("ocsp-validity", &args.ocsp_validity)?;
    let crl_validity = duration("crl-validity", &args.crl_validity)?;
    let crl_refresh = duration("crl-refresh", &args.crl_refresh)?;
    let request_timeout = timeout_flag("request-timeout", &args.request_timeout)?;
    let header_read_timeout = timeout_flag("header-read-timeout", &args.header_read_timeout)?;
    let idle_timeout = timeout_flag("idle-timeout", &args.idle_timeout)?;
    if idle_timeout <= request_timeout {
        return Err(CliError::Usage("--idle-timeout must be longer than --request-timeout, or a slow request would be cut off as idle".into()));
    }
    if crl_refresh >= crl_validity {
        return Err(CliError::Usage("--crl-refresh must be shorter than --crl-validity, so a fresh CRL is always published before the last expires".into()));
    }
    let verifier = Arc::new(crate::verify::Verifier::new(
        ca.clone(),
        store.clone(),
        policies.clone(),
        args.verify_cache_bytes,
    ));
    let ra = RegistrationAuthority::new(policies, ca.clone(), store.clone());
    let ocsp = Arc::new(
        crate::ocsp::OcspResponder::with_cache_limits(
            ca.clone(),
            store.clone(),
            ocsp_validity,
            crate::ocsp::CacheLimits {
                max_bytes: args.ocsp_cache_bytes.max(4096),
                max_entries: args.ocsp_cache,
            },
        )
        .map_err(|e| CliError::Failed(e.to_string()))?,
    );
    let crl = Arc::new(crate::crl::CrlPublisher::new(
        ca,
        store.clone(),
        crl_validity,
    ));
    // A new CRL at every start, even when the database holds a recent one: after a
    // restore from a backup, the stored one is older than what relying parties have
    // seen, and a new one carries a higher number (it follows the clock).
    let first = crl
        .regenerate()
        .map_err(|e| CliError::Failed(format!("cannot build the first CRLs: {e}")))?;
    for (issuer, published) in &first {
        tracing::info!(
            issuer,
            crl_number = published.number,
            entries = published.entries,
            "CRL published"
        );
    }
    let crl_wakeup = Arc::new(tokio::sync::Notify::new());
    let status_changes = Arc::new(tokio::sync::Notify::new());
    let presigner = ocsp
        .start_presigner()
        .map_err(|e| CliError::Failed(format!("cannot start the OCSP pre-signing thread: {e}")))?;
    let fanout = Arc::new(StatusFanout {
        ocsp: ocsp.clone(),
        presigner,
        crl_wakeup: crl_wakeup.clone(),
        events: status_changes.clone(),
    });
    ra.add_listener(fanout.clone());
    // Subscribe before serving: a change made from now on is heard.
    let notices = store.subscribe();
    tokio::spawn(publish_crls(crl.clone(), crl_wakeup, crl_refresh));
    tokio::spawn(watch_root_crl(
        root_crl.clone(),
        ocsp.clone(),
        store.clone(),
    ));
    tokio::spawn(supersede_renewed(ra.clone()));
    let settings = HttpSettings {
        request_timeout,
        enroll_per_client_per_minute: std::num::NonZeroU32::new(args.enroll_rate.max(1))
            .unwrap_or(std::num::NonZeroU32::MIN),
        enroll_concurrency: args.enroll_concurrency.max(1),
        auth_failures_per_minute: args.auth_failures,
        verify_budget_micros: args.verify_budget_ms.saturating_mul(1000).max(1),
        verify_rate_micros: args.verify_rate_ms.saturating_mul(1000),
        verify_concurrency: match args.verify_concurrency {
            0 => HttpSettings::default().verify_concurrency,
            n => n,
        },
        ..HttpSettings::default()
    };
    let limits = crate::http::server::ConnectionLimits {
        header_read_timeout,
        idle_timeout,
        // Raises the open-file limit as far as allowed, and keeps the cap under it.
        max_connections: crate::http::server::fit_connections_to_fd_limit(args.max_connections),
    };
    let (stop_streams, streams_stopping) = tokio::sync::watch::channel(false);
    let streams = crate::http::StreamSignals {
        changed: status_changes,
        stopping: streams_stopping,
    };
    let state = Arc::new(AppState::new(
        ra,
        ocsp,
        crl.clone(),
        root_crl,
        verifier,
        &settings,
        streams,
    )?);
    if let Some(notices) = notices {
        tokio::spawn(apply_notices(notices, fanout, crl, state.clone()));
    }
    if state.ra.officers().officers()?.is_empty() {
        tracing::warn!("no officer in this database: the admin API answers 401 to everyone");
    }
    let connection_metrics = state.connection_metrics();
    let app = crate::http::App::new(state, &settings);

    let info = ServerInfo {
        url: url.clone(),
        pid: std::process::id(),
    };
    let info_path = context.data_dir.server_file();
    // A struct of a string and a number always serializes; a failure would show as an
    // empty file, which the CLI reports as "no server running".
    std::fs::write(&info_path, serde_json::to_vec(&info).unwrap_or_default())
        .map_err(|e| CliError::Failed(format!("{}: {e}", info_path.display())))?;
    tracing::info!(
        %url,
        data_dir = %context.data_dir.root().display(),
        max_connections = limits.max_connections,
        "paypki listening"
    );
    eprintln!("paypki listening on {url}");

    let signalled = shutdown_signal();
    let shutdown = async move {
        signalled.await;
        // Event streams never end on their own: end them, so shutdown need not wait.
        let _ = stop_streams.send(true);
    };
    let result = crate::http::serve(listener, app, limits, connection_metrics, shutdown).await;
    let _ = std::fs::remove_file(&info_path);
    tracing::info!("paypki stopped");
    result.map_err(|e| CliError::Failed(format!("server error: {e}")))
}

/// Publishes a new CRL every `refresh`, and soon after each revocation (several
/// revocations within half a second share one CRL). Nodes sharing a database skip a CRL
/// when another node already published one after the change (or within `refresh`).
async fn publish_crls(
    publisher: Arc<crate::crl::CrlPublisher>,
    wakeup: Arc<tokio::sync::Notify>,
    refresh: time::Duration,
) {
    let period = std::time::Duration::from_secs(
        u64::try_from(refresh.whole_seconds())
            .unwrap_or(3600)
            .max(1),
    );
    loop {
        let since = tokio::select! {
            _ = tokio::time::sleep(period) => time::OffsetDateTime::now_utc() - refresh,
            _ = wakeup.notified() => {
                let changed_at = time::OffsetDateTime::now_utc();
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                changed_at
            }
        };
        let worker = publisher.clone();
        match tokio::task::spawn_blocking(move || worker.regenerate_unless_newer(since, refresh))
            .await
        {
            Ok(Ok(published)) => {
                for (issuer, crl) in published {
                    tracing::info!(
                        issuer,
                        crl_number = crl.number,
                        entries = crl.entries,
                        "CRL published"
                    );
                }
            }
            // Each failure was logged where it happened; the previous CRLs stay published.
            Ok(Err(e)) => tracing::debug!(error = %e, "CRL publication failed"),
            Err(e) => tracing::error!(error = %e, "CRL task failed"),
        }
    }
}

/// How often renewed certificates whose grace period ended are revoked as superseded.
const SUPERSEDE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Revokes, as superseded, the renewed certificates whose policy grace period ended.
async fn supersede_renewed(ra: RegistrationAuthority) {
    loop {
        let worker = ra.clone();
        match tokio::task::spawn_blocking(move || worker.supersede_due()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(count)) => tracing::info!(count, "renewed certificates revoked as superseded"),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "superseding renewed certificates failed; retrying later")
            }
            Err(e) => tracing::error!(error = %e, "supersede task failed"),
        }
        tokio::time::sleep(SUPERSEDE_EVERY).await;
    }
}

/// How often the data directory's root CRL is checked for a newer one.
const ROOT_CRL_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Picks up a newer root CRL dropped into the data directory (by `paypki crl --root` or
/// an operator copying one from the offline root machine).
async fn watch_root_crl(
    publisher: Arc<crate::crl::RootCrlPublisher>,
    ocsp: Arc<crate::ocsp::OcspResponder>,
    store: crate::store::SharedStore,
) {
    loop {
        tokio::time::sleep(ROOT_CRL_POLL).await;
        let worker = publisher.clone();
        let store = store.clone();
        let polled = tokio::task::spawn_blocking(move || {
            let change = worker.poll()?;
            if let Some(change) = change {
                let event = crate::store::AuditEvent::new("root-crl", "serve").detail(format!(
                    "root CRL {} picked up from the data directory and published",
                    change.number
                ));
                if let Err(e) = store.append_audit(event) {
                    tracing::error!(error = %e, "could not audit the root CRL publication");
                }
            }
            Ok::<_, crate::crl::CrlError>(change)
        })
        .await;
        match polled {
            // The root revoked an issuing CA: cached OCSP answers for its certificates
            // are stale.
            Ok(Ok(Some(change))) if change.issuers_revoked => ocsp.clear_cache(),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the new root CRL is not usable; the previous one stays published")
            }
            Err(e) => tracing::error!(error = %e, "root CRL task failed"),
        }
    }
}

/// Takes `DATA_DIR/serve.lock` for as long as the returned file lives; refuses when
/// another `paypki serve` holds it.
fn lock_data_dir(context: &Context) -> Result<std::fs::File, CliError> {
    let path = context.data_dir.root().join("serve.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(CliError::Failed(format!(
            "the data directory {} is in use: is another `paypki serve` running on it?",
            context.data_dir.root().display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(CliError::Failed(format!("{}: {e}", path.display())))
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    // The handlers are registered now, before the server answers anything: a signal
    // that arrives as soon as /healthz says ready must stop it gracefully, not kill it
    // (a lazily polled future would register only on its first poll).
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = received(interrupt.as_mut()) => {},
                _ = received(terminate.as_mut()) => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested: finishing in-flight requests");
    }
}

/// Resolves when `signal` is received; never when it could not be registered.
#[cfg(unix)]
async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(test)]
mod tests {
    use super::timeout_flag;
    use std::time::Duration;

    #[test]
    fn timeouts_take_durations_and_bare_seconds() {
        let t = |v: &str| timeout_flag("request-timeout", v);
        assert_eq!(t("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(t("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(t("30").unwrap(), Duration::from_secs(30));
        assert_eq!(t("0").unwrap(), Duration::from_secs(1));
        assert!(t("15x").is_err());
        assert!(t("").is_err());
    }
}
