//! The operations console at `/console`: server-rendered HTML pages for officers, with
//! no script and nothing loaded from elsewhere (the stylesheet is built into the binary;
//! charts are SVG drawn by [`crate::report::chart`], the same code as `paypki report
//! --format svg`).
//!
//! Officers log in with their credential and get a session cookie ([`session`]). Every
//! page re-reads the officer, so a disabled officer or a removed role takes effect at
//! once; every act goes through the same RA functions as the admin API, which decide who
//! may do it (roles, dual control, never approving one's own request). Every state change
//! is a POST that must carry the session's CSRF token and, when the browser sends one, an
//! `Origin` that is the console's own.

mod pages;
mod session;
mod stats;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::extract::READERS;
use super::{blocking, AppState, Problem};
use crate::model::{OfficerRole, RevocationReason, Role, Serial};
use crate::ra::officers::Officer;
use crate::store::CertificateRecord;
pub(crate) use session::Sessions;

/// The console's routes (merged into the server's router).
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(overview))
        .route("/console/", get(overview))
        .route("/console/style.css", get(stylesheet))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/certificates", get(certificates))
        .route("/console/certificates/{serial}", get(certificate))
        .route("/console/certificates/{serial}/pem", get(certificate_pem))
        .route("/console/certificates/{serial}/revoke", post(revoke))
        .route("/console/certificates/{serial}/unhold", post(unhold))
        .route("/console/participants", get(participants))
        .route("/console/approvals", get(approvals))
        .route("/console/approvals/{id}/approve", post(approve))
        .route("/console/approvals/{id}/reject", post(reject))
        .route("/console/audit", get(audit))
}

/// The built-in stylesheet.
const STYLE: &str = include_str!("style.css");

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// A refusal or failure already rendered as a page (boxed: a response is large, and
/// most results are not refusals).
pub(crate) struct Refusal(Box<Response>);

impl From<Response> for Refusal {
    fn from(response: Response) -> Self {
        Refusal(Box::new(response))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A page: HTML with the headers every console page carries (no caching of officer
/// data, no framing, no scripts, nothing from other origins).
fn page(status: StatusCode, markup: maud::Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A problem as a page (status and detail; internal causes stay in the log).
fn problem_page(user: Option<&User>, problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    page(
        status,
        pages::message(user.map(User::nav), &problem.title, &problem.detail),
    )
}

/// Whether the browser reached us over HTTPS: `paypki serve` speaks plain HTTP, so only
/// the TLS-terminating proxy in front can say so (`X-Forwarded-Proto: https`, or
/// `Forwarded: proto=https`, RFC 7239).
fn over_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .next()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
        });
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split([';', ','])
                .any(|part| part.trim().eq_ignore_ascii_case("proto=https"))
        });
    forwarded_proto || forwarded
}

/// Refuses a state change a browser sent from another origin. Browsers send `Origin` on
/// every POST; when present it must be this console's own (scheme, host and port as the
/// browser addressed us). `Sec-Fetch-Site`, where sent, must say same-origin. The CSRF
/// token is checked besides (by the caller), so a request without either header still
/// needs the session's token.
fn same_origin(headers: &HeaderMap) -> Result<(), Problem> {
    let forbidden = |detail: &str| {
        Problem::new(
            StatusCode::FORBIDDEN,
            "cross-site-request",
            "Cross-site request refused",
            detail,
        )
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let scheme = if over_https(headers) { "https" } else { "http" };
        let expected = format!("{scheme}://{host}");
        if origin.to_str().ok() != Some(expected.as_str()) {
            return Err(forbidden(
                "this form was sent from another site; open the console and act there",
            ));
        }
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return Err(forbidden(
                "this form was sent from another site; open the console and act there",
            ));
        }
    }
    Ok(())
}

/// The logged-in officer of a request, and their session.
pub(crate) struct User {
    officer: Officer,
    csrf: String,
}

impl User {
    fn nav(&self) -> pages::Nav<'_> {
        pages::Nav {
            officer: self.officer.name(),
            roles: self.officer.roles(),
            csrf: &self.csrf,
        }
    }

    /// A problem as a page for this officer.
    fn refuse(&self, problem: &Problem) -> Refusal {
        problem_page(Some(self), problem).into()
    }

    fn require_any(&self, roles: &[OfficerRole]) -> Result<(), Refusal> {
        self.officer.require_any(roles).map_err(|e| {
            problem_page(Some(self), &Problem::from(crate::ra::RaError::from(e))).into()
        })
    }

    /// A POST's CSRF token and origin.
    fn check_post(&self, headers: &HeaderMap, csrf: &str) -> Result<(), Refusal> {
        same_origin(headers).map_err(|p| Refusal::from(problem_page(Some(self), &p)))?;
        if session::csrf_matches(&self.csrf, csrf) {
            Ok(())
        } else {
            Err(problem_page(
                Some(self),
                &Problem::new(
                    StatusCode::FORBIDDEN,
                    "cross-site-request",
                    "Cross-site request refused",
                    "this form does not belong to your session (it was sent from elsewhere, or before you logged in again); reload the page and try again",
                ),
            )
            .into())
        }
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == session::COOKIE && !value.is_empty()).then(|| value.to_string())
        })
}

/// The officer of the request's session, re-read from the store; `None` without a live
/// session or when the officer is disabled or gone.
async fn current_user(state: &Arc<AppState>, headers: &HeaderMap) -> Option<User> {
    let token = cookie_value(headers)?;
    let session = state.console.find(&token)?;
    let worker = state.clone();
    let name = session.officer.clone();
    let officer = blocking(move || {
        crate::ra::officers::resume_session(worker.ra.officers(), &name)
            .map_err(|e| Problem::from(crate::ra::RaError::from(e)))
    })
    .await
    .ok()?;
    Some(User {
        officer,
        csrf: session.csrf,
    })
}

fn to_login() -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/console/login"),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
        .into_response()
}

fn see_other(location: String) -> Response {
    match HeaderValue::from_str(&location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => to_login(),
    }
}

/// A page for a logged-in officer, or the way to the login page.
async fn signed_in(state: &Arc<AppState>, headers: &HeaderMap) -> Result<User, Refusal> {
    current_user(state, headers)
        .await
        .ok_or_else(|| to_login().into())
}

/// A page that shows certificate records: a logged-in officer of a role that may read
/// them (everyone but the security officer).
async fn reader(state: &Arc<AppState>, headers: &HeaderMap) -> Result<User, Refusal> {
    let user = signed_in(state, headers).await?;
    user.require_any(READERS)?;
    Ok(user)
}

/// A state change by a logged-in officer: 401 without a session (a form from another
/// site arrives without the SameSite=Strict cookie), then the origin and CSRF checks.
async fn acting(state: &Arc<AppState>, headers: &HeaderMap, csrf: &str) -> Result<User, Refusal> {
    let Some(user) = current_user(state, headers).await else {
        // The origin check first: a cross-site post learns nothing about sessions.
        if let Err(problem) = same_origin(headers) {
            return Err(problem_page(None, &problem).into());
        }
        return Err(problem_page(
            None,
            &Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                "your console session ended (logout, 30 minutes idle, or 8 hours after login); log in again",
            ),
        )
        .into());
    };
    user.check_post(headers, csrf)?;
    Ok(user)
}

async fn login_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if current_user(&state, &headers).await.is_some() {
        return see_other("/console".into());
    }
    page(StatusCode::OK, pages::login(None))
}

#[derive(Deserialize)]
struct LoginForm {
    credential: String,
}

async fn login(
    State(state): State<Arc<AppState>>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    // Login CSRF: a foreign site must not log a browser into its own account.
    if let Err(problem) = same_origin(&headers) {
        return problem_page(None, &problem);
    }
    let client = super::peer_ip(connect);
    if state.auth_failures.admit(client).is_err() {
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            pages::login(Some(
                "too many failed logins from this address; wait a minute",
            )),
        );
    }
    let Ok(Form(form)) = form else {
        return page(
            StatusCode::BAD_REQUEST,
            pages::login(Some("enter your officer credential")),
        );
    };
    let worker = state.clone();
    let authenticated = blocking(move || {
        crate::ra::officers::authenticate(
            worker.ra.officers(),
            Some(&form.credential),
            crate::ra::officers::AuthMethod::Console,
        )
        .map_err(|e| Problem::from(crate::ra::RaError::from(e)))
    })
    .await;
    let officer = match authenticated {
        Ok(officer) => officer,
        Err(problem) if problem.status == 401 => {
            state.count_failure(client);
            tracing::warn!(peer = %client, "console login failed");
            return page(
                StatusCode::UNAUTHORIZED,
                pages::login(Some("that credential is not an active officer's")),
            );
        }
        Err(problem) => return problem_page(None, &problem),
    };
    let Some(token) = state.console.open(officer.name()) else {
        return problem_page(
            None,
            &Problem::internal(&"the session table or the random generator failed"),
        );
    };
    tracing::info!(officer = officer.name(), "console login");
    let mut response = see_other("/console".into());
    if let Ok(value) = HeaderValue::from_str(&session::cookie(&token, over_https(&headers))) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Refusal> {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    acting(&state, &headers, &csrf).await?;
    if let Some(token) = cookie_value(&headers) {
        state.console.close(&token);
    }
    let mut response = to_login();
    if let Ok(value) = HeaderValue::from_str(&session::expired_cookie(over_https(&headers))) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Every record, without DER (the pages need the fields only).
fn all_records(state: &AppState, role: Option<Role>) -> Result<Vec<CertificateRecord>, Problem> {
    Ok(crate::report::records_without_der(state.ra.store(), role)?)
}

async fn overview(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let user = reader(&state, &headers).await?;
    let worker = state.clone();
    let data = blocking(move || {
        let now = time::OffsetDateTime::now_utc();
        let records = all_records(&worker, None)?;
        let counts = crate::report::overview(records.iter(), now);
        let today = now.date();
        let report = crate::report::compute(
            records.iter(),
            &crate::report::ReportRequest {
                from: today - time::Duration::days(89),
                to: today,
                by: crate::report::Period::Day,
                role: None,
            },
        )
        .map_err(|e| Problem::internal(&e))?;
        let health = super::ops::health(&worker);
        let crls = super::ops::published_crls(&worker)
            .into_iter()
            .map(|(name, crl)| pages::CrlRow {
                name,
                this_update: crl.as_ref().map(|c| c.this_update),
                next_update: crl.as_ref().map(|c| c.next_update),
                number: crl.as_ref().map(|c| c.number),
                entries: crl.as_ref().map(|c| c.entries),
            })
            .collect::<Vec<_>>();
        Ok((now, counts, report, health, crls))
    })
    .await
    .map_err(|problem| user.refuse(&problem))?;
    let (now, counts, report, health, crls) = data;
    let metrics = state.metrics.encode();
    let uptime = state.console.started.elapsed().as_secs_f64().max(1.0);
    let services = vec![
        (
            "OCSP",
            stats::route_stats(&metrics, &["/ocsp", "/ocsp/{*request}"]),
        ),
        (
            "Verification",
            stats::route_stats(
                &metrics,
                &["/v1/verify", "/v1/verify/batch", "/v1/validate"],
            ),
        ),
    ];
    let activity =
        crate::report::chart::report_svg(&report, "Issuance and revocation per day, last 90 days")
            .unwrap_or_default();
    let expiring = crate::report::chart::expiring_svg(&counts).unwrap_or_default();
    Ok(page(
        StatusCode::OK,
        pages::overview(
            user.nav(),
            &pages::OverviewData {
                now,
                counts: &counts,
                report: &report,
                activity_svg: &activity,
                expiring_svg: &expiring,
                services: &services,
                uptime_seconds: uptime,
                crls: &crls,
                health: health.as_ref().map_err(|p| p.detail.clone()),
            },
        ),
    ))
}

/// The certificate search.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Search {
    /// Serial (hex) or text in the subject.
    #[serde(default)]
    pub(crate) q: String,
    /// Role, or empty for any.
    #[serde(default)]
    pub(crate) role: String,
    /// `valid`, `expired`, `on-hold`, `revoked`, or empty.
    #[serde(default)]
    pub(crate) status: String,
    /// Participant id, or empty.
    #[serde(default)]
    pub(crate) participant: String,
}

/// Most results a search shows.
const MAX_RESULTS: usize = 200;

/// A record's status as the console names it.
pub(crate) fn status_name(record: &CertificateRecord, now: time::OffsetDateTime) -> &'static str {
    match &record.revocation {
        Some(r) if record.status == crate::model::CertificateStatus::Revoked => {
            if r.reason == "certificateHold" {
                "on-hold"
            } else {
                "revoked"
            }
        }
        _ if record.not_after <= now => "expired",
        _ => "valid",
    }
}

async fn certificates(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<Search>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    let user = reader(&state, &headers).await?;
    let search = query.map(|Query(q)| q).unwrap_or_default();
    let role: Option<Role> = search.role.parse().ok();
    let worker = state.clone();
    let needle = search.q.trim().to_lowercase();
    let status = search.status.clone();
    let participant = search.participant.trim().to_string();
    let found = blocking(move || {
        let now = time::OffsetDateTime::now_utc();
        let serial: Option<Serial> = needle.parse().ok();
        let mut total = 0usize;
        let mut shown = Vec::new();
        for record in all_records(&worker, role)? {
            let text_matches = needle.is_empty()
                || serial.as_ref().is_some_and(|s| *s == record.serial)
                || record.serial.to_string().contains(&needle)
                || record.subject.to_lowercase().contains(&needle);
            let matches = text_matches
                && (status.is_empty() || status_name(&record, now) == status)
                && (participant.is_empty()
                    || record.participant.as_deref() == Some(participant.as_str()));
            if matches {
                total += 1;
                if shown.len() < MAX_RESULTS {
                    shown.push(record);
                }
            }
        }
        Ok((now, total, shown))
    })
    .await
    .map_err(|problem| user.refuse(&problem))?;
    let (now, total, shown) = found;
    Ok(page(
        StatusCode::OK,
        pages::certificates(user.nav(), &search, now, total, &shown),
    ))
}

fn parse_serial(user: &User, text: &str) -> Result<Serial, Refusal> {
    text.parse().map_err(|e: crate::model::SerialError| {
        problem_page(Some(user), &Problem::bad_request(e.to_string())).into()
    })
}

async fn load_certificate(
    state: &Arc<AppState>,
    user: &User,
    text: &str,
) -> Result<CertificateRecord, Refusal> {
    user.require_any(READERS)?;
    let serial = parse_serial(user, text)?;
    let worker = state.clone();
    blocking(move || {
        worker
            .ra
            .store()
            .certificate(&serial)?
            .ok_or_else(|| Problem::from(crate::ra::RaError::UnknownCertificate(serial)))
    })
    .await
    .map_err(|problem| problem_page(Some(user), &problem).into())
}

async fn certificate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
) -> Result<Response, Refusal> {
    let user = signed_in(&state, &headers).await?;
    let record = load_certificate(&state, &user, &serial).await?;
    let may_revoke = user.officer.has(OfficerRole::RevocationOfficer);
    Ok(page(
        StatusCode::OK,
        pages::certificate(
            user.nav(),
            &record,
            time::OffsetDateTime::now_utc(),
            may_revoke,
        ),
    ))
}

async fn certificate_pem(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
) -> Result<Response, Refusal> {
    let user = signed_in(&state, &headers).await?;
    let record = load_certificate(&state, &user, &serial).await?;
    let disposition = format!("attachment; filename=\"{}.pem\"", record.serial);
    let mut response = (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        crate::ca::to_pem("CERTIFICATE", &record.der),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// A form body that is not `application/x-www-form-urlencoded` of the expected fields.
fn unreadable_form(_: axum::extract::rejection::FormRejection) -> Refusal {
    problem_page(None, &Problem::bad_request("the form could not be read")).into()
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn revoke(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    form: Result<Form<RevokeForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Refusal> {
    let Form(form) = form.map_err(unreadable_form)?;
    let user = acting(&state, &headers, &form.csrf).await?;
    // The role check is the RA's (the same as `POST /v1/admin/revocations`).
    user.require_any(&[OfficerRole::RevocationOfficer])?;
    let serial = parse_serial(&user, &serial)?;
    let reason: RevocationReason = form
        .reason
        .parse()
        .map_err(|e| user.refuse(&Problem::bad_request(format!("{e}"))))?;
    let worker = state.clone();
    let officer = user.officer.clone();
    let target = serial.clone();
    let outcome = blocking(move || {
        worker
            .ra
            .revoke_or_request(&target, reason, None, &officer)
            .map_err(Problem::from)
    })
    .await
    .map_err(|problem| user.refuse(&problem))?;
    Ok(match outcome {
        Ok(_) => see_other(format!("/console/certificates/{serial}")),
        Err(request) => page(
            StatusCode::ACCEPTED,
            pages::message(
                Some(user.nav()),
                "Waiting for approval",
                &format!(
                    "this revocation is under dual control: request {} waits for another officer's approval ({})",
                    request.id, request.summary
                ),
            ),
        ),
    })
}

async fn unhold(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Refusal> {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let user = acting(&state, &headers, &csrf).await?;
    user.require_any(&[OfficerRole::RevocationOfficer])?;
    let serial = parse_serial(&user, &serial)?;
    let worker = state.clone();
    let actor = user.officer.actor();
    let target = serial.clone();
    blocking(move || worker.ra.unhold(&target, &actor).map_err(Problem::from))
        .await
        .map_err(|problem| user.refuse(&problem))?;
    Ok(see_other(format!("/console/certificates/{serial}")))
}

async fn participants(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let user = reader(&state, &headers).await?;
    let worker = state.clone();
    let listed = blocking(move || {
        worker
            .ra
            .participants(&crate::store::ParticipantFilter {
                limit: Some(1000),
                ..Default::default()
            })
            .map_err(Problem::from)
    })
    .await
    .map_err(|problem| user.refuse(&problem))?;
    Ok(page(
        StatusCode::OK,
        pages::participants(user.nav(), &listed.records, listed.next.is_some()),
    ))
}

async fn approvals(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let user = signed_in(&state, &headers).await?;
    user.require_any(super::approvals::DECIDERS)?;
    let worker = state.clone();
    let records = blocking(move || worker.ra.approvals(500).map_err(Problem::from))
        .await
        .map_err(|problem| user.refuse(&problem))?;
    Ok(page(StatusCode::OK, pages::approvals(user.nav(), &records)))
}

#[derive(Deserialize)]
struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn decide(
    state: Arc<AppState>,
    headers: HeaderMap,
    id: String,
    form: Result<Form<DecisionForm>, axum::extract::rejection::FormRejection>,
    approve: bool,
) -> Result<Response, Refusal> {
    let Form(form) = form.map_err(unreadable_form)?;
    let user = acting(&state, &headers, &form.csrf).await?;
    user.require_any(super::approvals::DECIDERS)?;
    let reason = form.reason.trim().to_string();
    if !approve && (reason.is_empty() || reason.chars().count() > 500) {
        return Err(user.refuse(&Problem::bad_request(
            "a rejection needs a reason of 1 to 500 characters, for the requester",
        )));
    }
    let worker = state.clone();
    let officer = user.officer.clone();
    // The RA refuses an officer's decision on their own request, and roles that may not
    // decide this act.
    blocking(move || {
        if approve {
            worker.ra.approve(&id, &officer)
        } else {
            worker.ra.reject(&id, &officer, &reason)
        }
        .map_err(Problem::from)
    })
    .await
    .map_err(|problem| user.refuse(&problem))?;
    Ok(see_other("/console/approvals".into()))
}

async fn approve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<DecisionForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Refusal> {
    decide(state, headers, id, form, true).await
}

async fn reject(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<DecisionForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Refusal> {
    decide(state, headers, id, form, false).await
}

/// The audit trail's filter and page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditQuery {
    /// Text in the action, actor, serial or detail.
    #[serde(default)]
    pub(crate) q: String,
    /// Page, from 1 (newest entries first).
    #[serde(default)]
    pub(crate) page: Option<usize>,
}

/// Entries per audit page.
pub(crate) const AUDIT_PAGE: usize = 50;
/// Most entries the console reads from the trail.
const AUDIT_READ: usize = 200_000;

async fn audit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    let user = signed_in(&state, &headers).await?;
    user.require_any(&[OfficerRole::Auditor])?;
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let needle = query.q.trim().to_lowercase();
    let page_number = query.page.unwrap_or(1).max(1);
    let worker = state.clone();
    let read = blocking(move || {
        let check = worker.ra.store().verify_audit()?;
        let mut entries = worker.ra.audit_entries(AUDIT_READ).map_err(Problem::from)?;
        entries.reverse();
        let matching: Vec<_> = entries
            .into_iter()
            .filter(|entry| {
                let body = entry.body();
                needle.is_empty()
                    || body.action.to_lowercase().contains(&needle)
                    || body.actor.to_lowercase().contains(&needle)
                    || body.detail.to_lowercase().contains(&needle)
                    || body
                        .serial
                        .as_ref()
                        .is_some_and(|s| s.to_string().contains(&needle))
            })
            .collect();
        let total = matching.len();
        let shown = matching
            .into_iter()
            .skip((page_number - 1).saturating_mul(AUDIT_PAGE))
            .take(AUDIT_PAGE)
            .collect::<Vec<_>>();
        Ok((check, total, shown))
    })
    .await
    .map_err(|problem| user.refuse(&problem))?;
    let (check, total, shown) = read;
    Ok(page(
        StatusCode::OK,
        pages::audit(user.nav(), &query, page_number, total, &shown, &check),
    ))
}
