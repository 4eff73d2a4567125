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
use crate::store::SledStore;

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
    /// Request timeout in seconds.
    #[arg(long, default_value_t = 15)]
    pub request_timeout: u64,
    /// Enrollment and renewal requests per minute per client address.
    #[arg(long, default_value_t = 120)]
    pub enroll_rate: u32,
}

pub(super) fn run(context: &Context, args: ServeArgs) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
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

    if !context.data_dir.is_initialized() {
        let mut options = InitOptions::new(args.base_url.clone().unwrap_or_else(|| url.clone()));
        options.passphrase = passphrase_from_env();
        let report = crate::ca::init(&context.data_dir, &options)?;
        super::init::create_admin_credential(&context.data_dir)?;
        tracing::warn!(
            data_dir = %context.data_dir.root().display(),
            root_sha256 = %report.root_fingerprint,
            base_url = %options.base_url,
            admin_credential = %context.data_dir.admin_credential().display(),
            "no CA found: created a DEVELOPMENT CA (for production run `paypki init` with your --base-url, --org and --country first)"
        );
    }

    let ca = Arc::new(CertificateAuthority::load(&context.data_dir, passphrase_from_env().as_ref())?);
    let store = SledStore::open(&context.data_dir.database()).map_err(|e| match e {
        crate::store::StoreError::Locked(_) => CliError::Failed(format!(
            "the database in {} is in use: is another `paypki serve` running on this data directory?",
            context.data_dir.root().display()
        )),
        other => other.into(),
    })?;
    let ra = RegistrationAuthority::new(policies, ca, store);
    let settings = HttpSettings {
        request_timeout: std::time::Duration::from_secs(args.request_timeout.max(1)),
        enroll_per_client_per_minute: std::num::NonZeroU32::new(args.enroll_rate.max(1)).unwrap_or(std::num::NonZeroU32::MIN),
        ..HttpSettings::default()
    };
    let state = Arc::new(AppState::new(ra, &settings)?);
    if state.admin_credential_hash.is_none() {
        tracing::warn!("no admin credential in this database: the admin API answers 401 to everyone");
    }
    let app = crate::http::router(state, &settings);

    let info = ServerInfo { url: url.clone(), pid: std::process::id() };
    let info_path = context.data_dir.server_file();
    std::fs::write(&info_path, serde_json::to_vec(&info).unwrap_or_default())
        .map_err(|e| CliError::Failed(format!("{}: {e}", info_path.display())))?;
    tracing::info!(%url, data_dir = %context.data_dir.root().display(), "paypki listening");
    eprintln!("paypki listening on {url}");

    let result = crate::http::serve(listener, app, shutdown_signal()).await;
    let _ = std::fs::remove_file(&info_path);
    tracing::info!("paypki stopped");
    result.map_err(|e| CliError::Failed(format!("server error: {e}")))
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested: finishing in-flight requests");
}
