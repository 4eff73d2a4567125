//! The web front end: axum routes, request and response types, problem documents.
//! No policy lives here (that is the RA's), no keys (the CA's), no schema (the store's).
//! Blocking work (signing, fsync) runs on the blocking pool, off the async workers.

pub mod admin;
mod certificates;
pub(crate) mod enroll;
mod extract;
pub mod metrics;
mod openapi;
mod ops;
pub mod problem;
mod status;
pub mod verify;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::ra::RegistrationAuthority;
pub use problem::Problem;

/// Largest request body accepted (a CSR is at most 64 KiB; JSON adds little).
pub const MAX_BODY_BYTES: usize = 96 * 1024;

/// Largest batch verification body: 1000 items with a certificate each.
pub const MAX_BATCH_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Server settings that are not policy.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Requests taking longer are answered 503/408.
    pub request_timeout: Duration,
    /// Enrollment/renewal requests per minute per client address.
    pub enroll_per_client_per_minute: NonZeroU32,
    /// Enrollment attempts per minute per token id.
    pub enroll_per_token_per_minute: NonZeroU32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            request_timeout: Duration::from_secs(15),
            enroll_per_client_per_minute: NonZeroU32::new(120).unwrap_or(NonZeroU32::MIN),
            enroll_per_token_per_minute: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// Shared state of all handlers.
pub struct AppState {
    pub(crate) ra: RegistrationAuthority,
    pub(crate) ocsp: Arc<crate::ocsp::OcspResponder>,
    pub(crate) crl: Arc<crate::crl::CrlPublisher>,
    pub(crate) root_crl: Arc<crate::crl::RootCrlPublisher>,
    pub(crate) verifier: Arc<crate::verify::Verifier>,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) admin_credential_hash: Option<String>,
    pub(crate) client_limiter: DefaultKeyedRateLimiter<IpAddr>,
    pub(crate) token_limiter: DefaultKeyedRateLimiter<String>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state; reads the admin credential hash from the store once.
    pub fn new(
        ra: RegistrationAuthority,
        ocsp: Arc<crate::ocsp::OcspResponder>,
        crl: Arc<crate::crl::CrlPublisher>,
        root_crl: Arc<crate::crl::RootCrlPublisher>,
        verifier: Arc<crate::verify::Verifier>,
        settings: &HttpSettings,
    ) -> Result<Self, crate::store::StoreError> {
        let admin_credential_hash = ra.store().admin_credential_hash()?;
        Ok(AppState {
            ra,
            ocsp,
            crl,
            root_crl,
            verifier,
            metrics: metrics::Metrics::default(),
            admin_credential_hash,
            client_limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                settings.enroll_per_client_per_minute,
            )),
            token_limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                settings.enroll_per_token_per_minute,
            )),
        })
    }

    /// Applies the per-client rate limit.
    pub(crate) fn limit_client(&self, addr: IpAddr) -> Result<(), Problem> {
        self.client_limiter
            .check_key(&addr)
            .map_err(|_| Problem::rate_limited(1))
    }
}

/// Every route pattern (also the metrics' route label values).
pub(crate) const ROUTES: &[&str] = &[
    "/v1/enroll",
    "/v1/renew",
    "/v1/certificates/{serial}",
    "/v1/verify",
    "/v1/verify/batch",
    "/v1/validate",
    "/ca/root.crt",
    "/ca/issuing.crt",
    "/ca/chain.pem",
    "/ca/{file}",
    "/ocsp",
    "/ocsp/{*request}",
    "/crl/issuing.crl",
    "/crl/root.crl",
    "/crl/{file}",
    "/v1/admin/crls/root",
    "/v1/admin/tokens",
    "/v1/admin/tokens/batch",
    "/v1/admin/revocations",
    "/v1/admin/revocations/{serial}/unhold",
    "/v1/admin/certificates",
    "/v1/admin/certificates/{serial}",
    "/v1/admin/audit/verify",
    "/healthz",
    "/metrics",
    "/openapi.json",
];

/// Every route, in one place.
pub fn router(state: Arc<AppState>, settings: &HttpSettings) -> Router {
    Router::new()
        .route("/v1/enroll", post(enroll::enroll))
        .route("/v1/renew", post(enroll::renew))
        .route("/v1/certificates/{serial}", get(certificates::certificate))
        .route("/v1/verify", post(verify::verify))
        .route(
            "/v1/verify/batch",
            post(verify::verify_batch)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES)),
        )
        .route("/v1/validate", post(verify::validate))
        .route("/ca/root.crt", get(certificates::root_der))
        .route("/ca/issuing.crt", get(certificates::issuing_der))
        .route("/ca/chain.pem", get(certificates::chain_pem))
        .route("/ca/{file}", get(certificates::ca_file))
        .route("/ocsp", post(status::ocsp_post))
        .route("/ocsp/{*request}", get(status::ocsp_get))
        .route("/crl/issuing.crl", get(status::issuing_crl))
        .route("/crl/root.crl", get(status::root_crl))
        .route("/crl/{file}", get(status::crl_file))
        .route("/v1/admin/crls/root", post(admin::publish_root_crl))
        .route("/v1/admin/tokens", post(admin::create_token))
        .route(
            "/v1/admin/tokens/batch",
            post(admin::create_tokens)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES)),
        )
        .route("/v1/admin/revocations", post(admin::revoke))
        .route("/v1/admin/revocations/{serial}/unhold", post(admin::unhold))
        .route("/v1/admin/certificates", get(admin::list_certificates))
        .route(
            "/v1/admin/certificates/{serial}",
            get(admin::show_certificate),
        )
        .route("/v1/admin/audit/verify", get(admin::verify_audit))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A bug must never take a worker down or leak details: answer 500, log it.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                Problem::internal(&"a request handler panicked").into_response()
            },
        ))
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(timed_out))
                .layer(tower::timeout::TimeoutLayer::new(settings.request_timeout)),
        )
        .with_state(state)
}

/// The answer when a request outlives the request timeout.
async fn timed_out(_: tower::BoxError) -> Problem {
    Problem::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        "Request timed out",
        "the request took longer than the server's time limit; its effect may still happen (an enrollment may still issue), so check before retrying",
    )
}

/// Counts and times every request, by matched route (not raw path: bounded label sets).
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = metrics::method_label(request.method());
    let route = metrics::route_label(
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state
        .metrics
        .requests
        .get_or_create(&metrics::RequestLabels {
            method,
            route,
            status,
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&metrics::RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    if status >= 400 {
        state
            .metrics
            .errors
            .get_or_create(&metrics::ErrorLabels { status })
            .inc();
    }
    response
}

/// Runs blocking RA work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(Problem::internal(&e)))
}

/// The peer address, when the server was started with connect info.
pub(crate) fn peer_ip(connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>) -> IpAddr {
    connect
        .map(|axum::Extension(ConnectInfo(addr))| addr.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// A response that is `200 OK` with a body and content type.
pub(crate) fn typed_body(
    content_type: &'static str,
    body: impl Into<axum::body::Body>,
) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, content_type)],
        body.into(),
    )
        .into_response()
}
