//! The web front end: axum routes, request and response types, problem documents.
//! No policy lives here (that is the RA's), no keys (the CA's), no schema (the store's).
//! Blocking work (signing, fsync) runs on the blocking pool, off the async workers.

pub mod admin;
pub mod approvals;
mod certificates;
mod console;
pub(crate) mod enroll;
mod events;
mod extract;
pub mod fast;
pub mod limits;
pub mod metrics;
mod officers;
mod openapi;
mod ops;
pub mod problem;
pub mod server;
mod status;
mod transparency;
pub mod tsa;
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
pub use fast::App;
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
    /// Most enrollments and renewals processed at once (the rest: 503 at once).
    pub enroll_concurrency: usize,
    /// Failed enrollment and renewal attempts allowed per minute per client address.
    pub auth_failures_per_minute: u32,
    /// Estimated CPU (µs) of signature checks one verification request may use.
    pub verify_budget_micros: u64,
    /// Estimated CPU (µs) of signature checks per second per client address (0: off).
    pub verify_rate_micros: u64,
    /// Verification requests that may use the blocking pool at once (batches, chain
    /// validations, costly single checks); others wait a little, then get 503.
    pub verify_concurrency: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            request_timeout: Duration::from_secs(15),
            enroll_per_client_per_minute: NonZeroU32::new(120).unwrap_or(NonZeroU32::MIN),
            enroll_per_token_per_minute: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
            enroll_concurrency: 32,
            auth_failures_per_minute: 20,
            verify_budget_micros: 1_000_000,
            verify_rate_micros: 2_000_000,
            verify_concurrency: std::thread::available_parallelism()
                .map(std::num::NonZeroUsize::get)
                .unwrap_or(2),
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
    pub(crate) client_limiter: DefaultKeyedRateLimiter<IpAddr>,
    pub(crate) token_limiter: DefaultKeyedRateLimiter<String>,
    /// Enrollment and renewal slots: the blocking pool is never all theirs.
    pub(crate) enroll_slots: Arc<tokio::sync::Semaphore>,
    /// Failed enrollment and renewal attempts, per client address.
    pub(crate) auth_failures: limits::DebtLimiter,
    /// Estimated CPU of signature checks, per client address.
    pub(crate) verify_rate: limits::DebtLimiter,
    /// The CPU budget of one verification request.
    pub(crate) verify_budget: u64,
    /// Verification work on the blocking pool (and rayon).
    pub(crate) verify_slots: Arc<tokio::sync::Semaphore>,
    /// The revocation event streams' wake-up and stop.
    pub(crate) events: events::EventHub,
    /// The newest signed tree head of the transparency log.
    pub(crate) tree_heads: transparency::TreeHeads,
    /// The web console's sessions.
    pub(crate) console: console::Sessions,
    /// Each issuing CA's chain as a JSON string, escaped once (`enroll`).
    pub(crate) chains_json: enroll::ChainsJson,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// What the server tells long-lived streams (`/v1/events/revocations`).
#[derive(Debug, Clone)]
pub struct StreamSignals {
    /// Notified (`notify_waiters`) whenever a certificate's status changed, on this node
    /// or, heard through the database, on another.
    pub changed: Arc<tokio::sync::Notify>,
    /// Becomes true when the server stops: streams end, so shutdown need not wait.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

impl AppState {
    /// Builds the state.
    pub fn new(
        ra: RegistrationAuthority,
        ocsp: Arc<crate::ocsp::OcspResponder>,
        crl: Arc<crate::crl::CrlPublisher>,
        root_crl: Arc<crate::crl::RootCrlPublisher>,
        verifier: Arc<crate::verify::Verifier>,
        settings: &HttpSettings,
        streams: StreamSignals,
    ) -> Result<Self, crate::store::StoreError> {
        Ok(AppState {
            ra,
            ocsp,
            crl,
            root_crl,
            verifier,
            metrics: metrics::Metrics::default(),
            client_limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                settings.enroll_per_client_per_minute,
            )),
            token_limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                settings.enroll_per_token_per_minute,
            )),
            enroll_slots: Arc::new(tokio::sync::Semaphore::new(
                settings.enroll_concurrency.max(1),
            )),
            auth_failures: limits::DebtLimiter::new(
                f64::from(settings.auth_failures_per_minute) / 60.0,
                f64::from(settings.auth_failures_per_minute),
            ),
            // A client at rest may always spend one whole request's budget.
            verify_rate: limits::DebtLimiter::new(
                settings.verify_rate_micros as f64,
                settings
                    .verify_rate_micros
                    .max(settings.verify_budget_micros) as f64,
            ),
            verify_budget: settings.verify_budget_micros.max(1),
            verify_slots: Arc::new(tokio::sync::Semaphore::new(
                settings.verify_concurrency.max(1),
            )),
            events: events::EventHub::new(streams.changed, streams.stopping),
            tree_heads: transparency::TreeHeads::default(),
            console: console::Sessions::default(),
            chains_json: enroll::ChainsJson::default(),
        })
    }

    /// Whether this node hears other nodes' changes (for `/metrics` and `/healthz`).
    pub fn set_database_connected(&self, connected: bool) {
        self.metrics.database_connected.set(i64::from(connected));
    }

    /// The connection loop's metrics (open connections, refusals).
    pub fn connection_metrics(&self) -> server::ConnectionMetrics {
        self.metrics.connections.clone()
    }

    /// An enrollment or renewal slot, held until the work is done; 503 when all are taken.
    pub(crate) fn enroll_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Problem> {
        self.enroll_slots.clone().try_acquire_owned().map_err(|_| {
            Problem::overloaded(
                "the CA is processing as many enrollments and renewals as it allows; retry in a second",
            )
        })
    }

    /// 429 for a client that has used up its failed attempts (see `count_failure`).
    pub(crate) fn admit_after_failures(&self, client: IpAddr) -> Result<(), Problem> {
        self.auth_failures.admit(client).map_err(|wait| {
            let mut problem = Problem::rate_limited(wait);
            problem.detail = format!(
                "too many failed enrollment or renewal attempts from this address; retry in {wait} s"
            );
            problem
        })
    }

    /// Counts an enrollment or renewal that failed before it authenticated (unknown or
    /// wrong token, bad proof, unreadable request) against the client that sent it.
    pub(crate) fn count_failure(&self, client: IpAddr) {
        self.auth_failures.charge(client, 1.0);
    }

    /// 429 for a client whose verification CPU allowance is spent.
    pub(crate) fn admit_verification(&self, client: IpAddr) -> Result<(), Problem> {
        self.verify_rate.admit(client).map_err(|wait| {
            let mut problem = Problem::rate_limited(wait);
            problem.detail = format!(
                "this address has used its share of signature-verification CPU (--verify-rate-ms); retry in {wait} s"
            );
            problem
        })
    }

    /// Charges what a verification request spent to its client, and counts its checks.
    pub(crate) fn charge_verification(&self, client: IpAddr, spent: u64, checks: u64) {
        self.verify_rate.charge(client, spent as f64);
        self.metrics.signature_checks.inc_by(checks);
    }

    /// A slot for verification work off the async workers, waiting at most
    /// [`VERIFY_QUEUE_WAIT`]; 503 `overloaded` after that.
    pub(crate) async fn verify_slot(&self) -> Result<VerifySlot, Problem> {
        match tokio::time::timeout(VERIFY_QUEUE_WAIT, self.verify_slots.clone().acquire_owned())
            .await
        {
            Ok(Ok(permit)) => Ok(VerifySlot {
                _permit: Arc::new(permit),
            }),
            _ => Err(Problem::overloaded(
                "the CA is running as many verification batches as it allows; retry in a second",
            )),
        }
    }

    /// Applies the per-client rate limit.
    pub(crate) fn limit_client(&self, addr: IpAddr) -> Result<(), Problem> {
        self.client_limiter
            .check_key(&addr)
            .map_err(|_| Problem::rate_limited(1))
    }
}

/// How long a verification request waits for a slot before it is answered 503.
pub(crate) const VERIFY_QUEUE_WAIT: Duration = Duration::from_secs(5);

/// A verification slot, held until the blocking work ends (a clone goes into the work).
#[derive(Debug, Clone)]
pub(crate) struct VerifySlot {
    /// Returned to the semaphore when the last clone is dropped.
    _permit: Arc<tokio::sync::OwnedSemaphorePermit>,
}

/// Before a batch verification or chain validation reads its body (up to 8 MiB): the
/// client's CPU allowance, then a slot, so that bodies waiting for work do not pile up.
async fn verify_gate(
    State(state): State<Arc<AppState>>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Err(problem) = state.admit_verification(peer_ip(connect)) {
        drain(request.into_body()).await;
        return problem.into_response();
    }
    match state.verify_slot().await {
        Ok(slot) => {
            request.extensions_mut().insert(slot);
            next.run(request).await
        }
        Err(problem) => {
            drain(request.into_body()).await;
            problem.into_response()
        }
    }
}

/// How much of a refused request's body is read and thrown away, and for how long.
const DRAIN_BYTES: usize = MAX_BATCH_BODY_BYTES;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Reads and discards what is left of a refused request's body (bounded in bytes and
/// time, nothing kept), so that a client that writes its whole body before reading the
/// answer (most HTTP clients) gets the 429 or 503 instead of a reset connection.
async fn drain(mut body: axum::body::Body) {
    use http_body_util::BodyExt;
    let mut left = DRAIN_BYTES;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(frame)) = body.frame().await {
            let read = frame.data_ref().map_or(0, |data| data.len());
            left = left.saturating_sub(read);
            if left == 0 {
                break;
            }
        }
    })
    .await;
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
    "/tsa",
    "/v1/admin/crls/root",
    "/v1/admin/tokens",
    "/v1/admin/tokens/batch",
    "/v1/admin/officers",
    "/v1/admin/officers/{name}/disable",
    "/v1/admin/officers/{name}/enable",
    "/v1/admin/officers/{name}/rotate",
    "/v1/admin/revocations",
    "/v1/admin/revocations/{serial}/unhold",
    "/v1/admin/certificates",
    "/v1/admin/certificates/{serial}",
    "/v1/admin/audit/verify",
    "/v1/admin/participants",
    "/v1/admin/participants/{id}",
    "/v1/admin/participants/{id}/suspend",
    "/v1/admin/participants/{id}/resume",
    "/v1/admin/participants/{id}/terminate",
    "/v1/admin/approvals",
    "/v1/admin/approvals/{id}",
    "/v1/admin/approvals/{id}/approve",
    "/v1/admin/approvals/{id}/reject",
    "/v1/enroll/approvals/{id}",
    "/v1/events/revocations",
    "/v1/transparency/sth",
    "/v1/transparency/proof",
    "/v1/transparency/consistency",
    "/v1/transparency/entries",
    "/healthz",
    "/metrics",
    "/openapi.json",
];

/// Every route, in one place.
///
/// Layers are applied to each route group in one `ServiceBuilder` (one boxed service per
/// route, cloned once per request) and are plain tower services, not `from_fn`
/// middleware (which boxes and clones the rest of the stack again for every request).
pub fn router(state: Arc<AppState>, settings: &HttpSettings) -> Router {
    // Outermost first: the request timeout (answered 503), the panic guard.
    let guard = tower::ServiceBuilder::new()
        .layer(axum::error_handling::HandleErrorLayer::new(timed_out))
        .layer(tower::timeout::TimeoutLayer::new(settings.request_timeout))
        .layer(catch_panic());
    let observe = |read_small_bodies| ObserveLayer {
        state: state.clone(),
        read_small_bodies,
    };
    let api = Router::new()
        .route("/v1/enroll", post(enroll::enroll))
        .route("/v1/renew", post(enroll::renew))
        .route("/v1/certificates/{serial}", get(certificates::certificate))
        .route("/v1/verify", post(verify::verify))
        .route(
            "/v1/verify/batch",
            post(verify::verify_batch)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    verify_gate,
                )),
        )
        .route(
            "/v1/validate",
            post(verify::validate).layer(axum::middleware::from_fn_with_state(
                state.clone(),
                verify_gate,
            )),
        )
        .route("/ca/root.crt", get(certificates::root_der))
        .route("/ca/issuing.crt", get(certificates::issuing_der))
        .route("/ca/chain.pem", get(certificates::chain_pem))
        .route("/ca/{file}", get(certificates::ca_file))
        .route("/crl/issuing.crl", get(status::issuing_crl))
        .route("/crl/root.crl", get(status::root_crl))
        .route("/crl/{file}", get(status::crl_file))
        .route("/tsa", post(tsa::timestamp))
        .route("/v1/admin/crls/root", post(admin::publish_root_crl))
        .route("/v1/admin/tokens", post(admin::create_token))
        .route(
            "/v1/admin/tokens/batch",
            post(admin::create_tokens)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES)),
        )
        .route(
            "/v1/admin/officers",
            get(officers::list).post(officers::add),
        )
        .route("/v1/admin/officers/{name}/disable", post(officers::disable))
        .route("/v1/admin/officers/{name}/enable", post(officers::enable))
        .route("/v1/admin/officers/{name}/rotate", post(officers::rotate))
        .route("/v1/admin/approvals", get(approvals::list))
        .route("/v1/admin/approvals/{id}", get(approvals::show))
        .route("/v1/admin/approvals/{id}/approve", post(approvals::approve))
        .route("/v1/admin/approvals/{id}/reject", post(approvals::reject))
        .route("/v1/enroll/approvals/{id}", get(approvals::poll))
        .route("/v1/admin/revocations", post(admin::revoke))
        .route("/v1/admin/revocations/{serial}/unhold", post(admin::unhold))
        .route("/v1/admin/certificates", get(admin::list_certificates))
        .route(
            "/v1/admin/certificates/{serial}",
            get(admin::show_certificate),
        )
        .route("/v1/admin/audit/verify", get(admin::verify_audit))
        .route(
            "/v1/admin/participants",
            post(admin::add_participant).get(admin::list_participants),
        )
        .route(
            "/v1/admin/participants/{id}",
            get(admin::show_participant).patch(admin::update_participant),
        )
        .route(
            "/v1/admin/participants/{id}/suspend",
            post(admin::suspend_participant),
        )
        .route(
            "/v1/admin/participants/{id}/resume",
            post(admin::resume_participant),
        )
        .route(
            "/v1/admin/participants/{id}/terminate",
            post(admin::terminate_participant),
        )
        .route("/v1/events/revocations", get(events::revocations))
        .route("/v1/transparency/sth", get(transparency::sth))
        .route("/v1/transparency/proof", get(transparency::proof))
        .route(
            "/v1/transparency/consistency",
            get(transparency::consistency),
        )
        .route("/v1/transparency/entries", get(transparency::entries))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        // HTML pages for officers, outside the JSON API (docs/api.md, "The console").
        .merge(console::router())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(
            guard
                .clone()
                .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
                .layer(observe(true)),
        );
    // OCSP, on every payment's path, gets the same timeout, panic guard and metrics but
    // neither body layer: its handlers read the body themselves, bounded, and answer
    // every outcome with an OCSP response.
    let status = Router::new()
        .route("/ocsp", post(status::ocsp_post))
        .route("/ocsp/{*request}", get(status::ocsp_get))
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(guard.layer(observe(false)));
    api.merge(status).with_state(state)
}

/// A bug must never take a worker down or leak details: answer 500, log it.
fn catch_panic(
) -> tower_http::catch_panic::CatchPanicLayer<fn(Box<dyn std::any::Any + Send>) -> Response> {
    fn panicked(_: Box<dyn std::any::Any + Send>) -> Response {
        panicked_response()
    }
    tower_http::catch_panic::CatchPanicLayer::custom(panicked)
}

/// The answer when a request handler panicked (the router's guard and the fast path's).
fn panicked_response() -> Response {
    tracing::error!("a request handler panicked");
    Problem::internal(&"a request handler panicked").into_response()
}

/// The answer when a request outlives the request timeout.
async fn timed_out(_: tower::BoxError) -> Problem {
    timed_out_problem()
}

/// The request timeout's problem (the router's timeout layer and the fast path's).
fn timed_out_problem() -> Problem {
    Problem::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        "Request timed out",
        "the request took longer than the server's time limit; its effect may still happen (an enrollment may still issue), so check before retrying",
    )
}

/// Counts and times every request, by matched route (not raw path: bounded label sets);
/// with `read_small_bodies`, first reads a small request body in full.
///
/// A body declared small by Content-Length (at most [`MAX_BODY_BYTES`]) is read before
/// the handler runs because a handler that refuses a request before reading its body
/// (401 from the admin credential check, 415 for a wrong content type) would otherwise
/// leave unread bytes on the connection, which then cannot be reused: the client's next
/// request on it fails with a reset instead of getting an answer. The OCSP routes read
/// their bodies themselves.
#[derive(Clone)]
struct ObserveLayer {
    state: Arc<AppState>,
    read_small_bodies: bool,
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            state: self.state.clone(),
            read_small_bodies: self.read_small_bodies,
        }
    }
}

/// [`ObserveLayer`]'s service: a plain tower service, one boxed future per request.
#[derive(Clone)]
struct Observe<S> {
    inner: S,
    state: Arc<AppState>,
    read_small_bodies: bool,
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let method = metrics::method_label(request.method());
        let route = metrics::route_index(
            request
                .extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str),
        );
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let state = self.state.clone();
        let small_body = self.read_small_bodies
            && request
                .headers()
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .is_some_and(|len| len > 0 && len <= MAX_BODY_BYTES);
        if !small_body {
            let answer = self.inner.call(request);
            return Box::pin(async move {
                let response = answer.await?;
                observed(&state, started, method, route, peer, &response);
                Ok(response)
            });
        }
        // The inner service was made ready for this call: take it, leave a clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
                Ok(bytes) => {
                    inner
                        .call(Request::from_parts(parts, axum::body::Body::from(bytes)))
                        .await?
                }
                Err(_) => {
                    Problem::bad_request("the request body could not be read").into_response()
                }
            };
            observed(&state, started, method, route, peer, &response);
            Ok(response)
        })
    }
}

/// Records one answered request: metrics, and the log lines failures deserve.
fn observed<B>(
    state: &AppState,
    started: Instant,
    method: &'static str,
    route: metrics::RouteIndex,
    peer: Option<IpAddr>,
    response: &axum::http::Response<B>,
) {
    let status = response.status().as_u16();
    let label = route.label();
    if let Some(problem::FaultCause(cause)) = response.extensions().get::<problem::FaultCause>() {
        tracing::error!(route = label, status, error = %cause, "request failed inside the CA");
    }
    // Failed authentication (the admin credential, an enrollment token, a renewal proof)
    // is what someone guessing looks like: log who, never what they sent.
    if status == 401 || (status == 403 && matches!(label, "/v1/enroll" | "/v1/renew")) {
        tracing::warn!(
            peer = %peer.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into()),
            route = label,
            status,
            "authentication failed"
        );
    }
    state.metrics.count(method, route, status);
    state
        .metrics
        .observe_latency(route, started.elapsed().as_secs_f64());
    if status >= 400 {
        state
            .metrics
            .errors
            .get_or_create(&metrics::ErrorLabels { status })
            .inc();
    }
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

/// Serves until `shutdown` resolves, then finishes in-flight requests; connections are
/// bounded by `limits` (see [`server`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    limits: server::ConnectionLimits,
    metrics: server::ConnectionMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, app, limits, metrics, shutdown).await
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
