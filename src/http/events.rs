//! `GET /v1/events/revocations`: revocations (and unholds) pushed to gateways as
//! Server-Sent Events, so that they need not poll OCSP or CRLs.
//!
//! Every event carries a freshly signed OCSP response for its certificate: a gateway
//! verifies it with the responder certificate instead of trusting the stream. Events are
//! numbered and kept durably by the store (in the transaction that changed the status),
//! so `Last-Event-ID` resumes after a disconnect without loss, on any node.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use base64::Engine;
use serde::{Deserialize, Serialize};

use prometheus_client::metrics::histogram::Histogram;

use super::extract::ApiQuery;
use super::{AppState, Problem};
use crate::store::{RevocationEvent, RevocationEventKind};

/// How often a stream looks for events when no change was heard (a change made by
/// another node whose notification was lost is still delivered within this).
const POLL: Duration = Duration::from_secs(1);
/// Events read from the store at a time.
const BATCH: usize = 256;
/// A comment line this often keeps proxies and the idle timeout from closing the stream.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Where a stream starts.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Deliver the events after this id (as `Last-Event-ID` does; the header wins).
    /// `0` replays every event kept. Without either, the stream starts with the next
    /// event.
    after: Option<u64>,
}

/// The data of one `revocation` event (JSON).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RevocationEventData {
    /// The event's number (also its SSE `id`).
    id: u64,
    /// The certificate's serial, lowercase hex.
    #[schema(pattern = "^[0-9a-f]+$")]
    serial: String,
    /// The issuing CA that signed it (1 before any rollover).
    issuer: u32,
    /// `revoked` (a certificateHold included) or `unheld` (good again).
    kind: RevocationEventKind,
    /// RFC 5280 reason, for a revocation.
    #[schema(value_type = Option<crate::model::RevocationReason>)]
    reason: Option<String>,
    /// revocationDate (RFC 3339), for a revocation.
    revoked_at: Option<String>,
    /// invalidityDate (RFC 3339), when given.
    invalidity_date: Option<String>,
    /// When the change was committed (RFC 3339).
    recorded_at: String,
    /// A DER OCSPResponse for the certificate, base64, signed when the event was sent:
    /// its status is the certificate's status then (a later event may have changed it).
    #[schema(content_encoding = "base64")]
    ocsp_response: String,
}

/// Revocations as Server-Sent Events.
#[utoipa::path(get, path = "/v1/events/revocations", tag = "status",
    params(EventsQuery, ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "A `text/event-stream` of `revocation` events (id: the event number; data: RevocationEventData JSON), with a comment every 10 s; it does not end", content_type = "text/event-stream", body = RevocationEventData),
        (status = 400, description = "A Last-Event-ID or `after` that is not a number", body = Problem),
        (status = 503, description = "The database cannot be reached", body = Problem)))]
pub(crate) async fn revocations(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>>, Problem>
{
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    Problem::bad_request("Last-Event-ID must be an event id (a decimal number)")
                })?,
        ),
        None => query.after,
    };
    let after = match resume {
        Some(after) => after,
        None => {
            let store = state.ra.event_store();
            super::blocking(move || Ok(store.last_revocation_event()?)).await?
        }
    };
    let stream = futures_util::stream::unfold(
        Stream {
            state,
            after,
            pending: std::collections::VecDeque::new(),
        },
        next_event,
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

struct Stream {
    state: Arc<AppState>,
    after: u64,
    pending: std::collections::VecDeque<RevocationEvent>,
}

async fn next_event(
    mut stream: Stream,
) -> Option<(Result<Event, std::convert::Infallible>, Stream)> {
    let mut stopping = stream.state.events.stopping.clone();
    loop {
        if *stopping.borrow() {
            return None;
        }
        if let Some(event) = stream.pending.pop_front() {
            stream.after = event.id;
            let state = stream.state.clone();
            let sent = tokio::task::spawn_blocking(move || render(&state, &event))
                .await
                .ok()
                .flatten();
            match sent {
                Some(sse) => return Some((Ok(sse), stream)),
                // Signing failed (the key or database is away for now): send it again
                // later rather than skip it.
                None => {
                    stream.after = stream.after.saturating_sub(1);
                    stream.pending.clear();
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            }
        }
        // Listen before reading, so that a change made meanwhile is not missed.
        let changed = stream.state.events.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let store = stream.state.ra.event_store();
        let after = stream.after;
        let read =
            tokio::task::spawn_blocking(move || store.revocation_events_after(after, BATCH)).await;
        match read {
            Ok(Ok(events)) if !events.is_empty() => {
                stream.pending.extend(events);
                continue;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the revocation event stream cannot read events; retrying")
            }
            Err(e) => tracing::error!(error = %e, "revocation event task failed"),
        }
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep(POLL) => {}
            _ = stopping.changed() => return None,
        }
    }
}

/// The SSE event for `event`, with a freshly signed OCSP response; `None` when the
/// response cannot be signed now.
fn render(state: &AppState, event: &RevocationEvent) -> Option<Event> {
    let response = match state.ocsp.fresh_response(&event.serial, event.issuer) {
        Ok(der) => der,
        Err(e) => {
            tracing::warn!(error = %e, serial = %event.serial, "cannot sign the OCSP response of a revocation event; retrying");
            return None;
        }
    };
    state
        .events
        .observe_delivery(event, &state.metrics.revocation_event_latency);
    let format = |at: time::OffsetDateTime| crate::clock::format_time(at);
    let data = RevocationEventData {
        id: event.id,
        serial: event.serial.to_string(),
        issuer: event.issuer,
        kind: event.kind,
        reason: event.reason.clone(),
        revoked_at: event.revoked_at.map(format),
        invalidity_date: event.invalidity_date.map(format),
        recorded_at: format(event.recorded_at),
        ocsp_response: base64::engine::general_purpose::STANDARD.encode(&response),
    };
    let json = serde_json::to_string(&data).ok()?;
    Some(
        Event::default()
            .id(event.id.to_string())
            .event("revocation")
            .data(json),
    )
}

/// What the event streams share: a wake-up for changes and the server's stop.
#[derive(Debug)]
pub(crate) struct EventHub {
    /// Notified on every status change heard (this node's or another node's).
    pub(crate) changed: Arc<tokio::sync::Notify>,
    /// Becomes true when the server stops: streams end so shutdown need not wait.
    pub(crate) stopping: tokio::sync::watch::Receiver<bool>,
    /// The newest event whose delivery latency was recorded.
    observed: std::sync::atomic::AtomicU64,
}

impl EventHub {
    /// A hub whose streams wake on `changed` (notified with `notify_waiters`) and end
    /// when `stopping` becomes true.
    pub(crate) fn new(
        changed: Arc<tokio::sync::Notify>,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        EventHub {
            changed,
            stopping,
            observed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Records the revocation-to-event latency of an event's first delivery on this
    /// node (replays of old events are not latency).
    fn observe_delivery(&self, event: &RevocationEvent, latency: &Histogram) {
        let previous = self
            .observed
            .fetch_max(event.id, std::sync::atomic::Ordering::Relaxed);
        let age = time::OffsetDateTime::now_utc() - event.recorded_at;
        if event.id > previous && age < time::Duration::minutes(1) {
            latency.observe(age.as_seconds_f64().max(0.0));
        }
    }
}
