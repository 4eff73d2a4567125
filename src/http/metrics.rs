//! Prometheus metrics (OpenMetrics text at `GET /metrics`).

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

// Labels are static strings: recording a request allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) method: &'static str,
    pub(crate) route: &'static str,
    pub(crate) status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) route: &'static str,
}

/// A request's route: its index in [`super::ROUTES`], or none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteIndex {
    /// `ROUTES[i]`.
    Known(usize),
    /// Matched a pattern missing from `ROUTES` (a bug; labelled `other`).
    Other,
    /// No route matched (404).
    Unmatched,
}

impl RouteIndex {
    /// The label value.
    pub(crate) fn label(self) -> &'static str {
        match self {
            RouteIndex::Known(i) => super::ROUTES.get(i).copied().unwrap_or("other"),
            RouteIndex::Other => "other",
            RouteIndex::Unmatched => "unmatched",
        }
    }
}

/// The route of a matched path pattern.
pub(crate) fn route_index(matched: Option<&str>) -> RouteIndex {
    match matched {
        Some(path) => super::ROUTES
            .iter()
            .position(|r| *r == path)
            .map_or(RouteIndex::Other, RouteIndex::Known),
        None => RouteIndex::Unmatched,
    }
}

/// One route's request counter for `200` to GET and to POST, and its latency histogram:
/// handles into the families, found on first use and then kept, so that recording the
/// common answer takes no lock and hashes no labels. Clones share the families' values.
#[derive(Debug, Default)]
struct HotRoute {
    ok_get: OnceLock<Counter>,
    ok_post: OnceLock<Counter>,
    latency: OnceLock<Histogram>,
}

/// The method as a static string.
pub(crate) fn method_label(method: &axum::http::Method) -> &'static str {
    match *method {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct IssuanceLabels {
    pub(crate) role: String,
    pub(crate) via: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ErrorLabels {
    pub(crate) status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CrlLabels {
    /// `root`, `issuing-1`, `issuing-2`, …
    pub(crate) crl: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TimestampLabels {
    /// `granted`, or the RFC 3161 failInfo name (`badAlg`, …).
    pub(crate) outcome: &'static str,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) latency: Family<RouteLabels, Histogram>,
    pub(crate) issued: Family<IssuanceLabels, Counter>,
    pub(crate) errors: Family<ErrorLabels, Counter>,
    pub(crate) crl_next_update: Family<CrlLabels, Gauge>,
    pub(crate) connections: super::server::ConnectionMetrics,
    pub(crate) ocsp_cache_bytes: Gauge,
    pub(crate) ocsp_cache_entries: Gauge,
    pub(crate) signature_checks: Counter,
    pub(crate) revocation_event_latency: Histogram,
    pub(crate) database_connected: Gauge,
    pub(crate) timestamps: Family<TimestampLabels, Counter>,
    /// Per entry of [`super::ROUTES`].
    hot: Box<[HotRoute]>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("paypki");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 50 µs … ~3 s
            Histogram::new(exponential_buckets(0.000_05, 3.0, 11))
        });
        let issued = Family::<IssuanceLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let crl_next_update = Family::<CrlLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "certificates_issued",
            "Certificates issued by role and path",
            issued.clone(),
        );
        registry.register(
            "errors",
            "Error responses (4xx and 5xx) by HTTP status",
            errors.clone(),
        );
        registry.register(
            "crl_next_update_seconds",
            "Seconds until the nextUpdate of each published CRL (negative: expired)",
            crl_next_update.clone(),
        );
        let connections = super::server::ConnectionMetrics::default();
        registry.register(
            "connections_open",
            "HTTP connections open now",
            connections.open.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections answered 503 and closed because --max-connections were open",
            connections.refused.clone(),
        );
        let ocsp_cache_bytes = Gauge::default();
        let ocsp_cache_entries = Gauge::default();
        registry.register(
            "ocsp_cache_bytes",
            "Bytes the OCSP response cache counts against --ocsp-cache-bytes",
            ocsp_cache_bytes.clone(),
        );
        registry.register(
            "ocsp_cache_entries",
            "Entries in the OCSP response cache (questions and exact small requests)",
            ocsp_cache_entries.clone(),
        );
        let signature_checks = Counter::default();
        registry.register(
            "verify_signature_checks",
            "Signature checks made by /v1/verify and /v1/verify/batch (one per scheme tried)",
            signature_checks.clone(),
        );
        // 1 ms … ~16 s
        let revocation_event_latency = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        registry.register(
            "revocation_event_latency_seconds",
            "Seconds from the commit of a revocation (or unhold) to its first delivery on /v1/events/revocations by this node",
            revocation_event_latency.clone(),
        );
        let database_connected = Gauge::default();
        registry.register(
            "database_notifications_connected",
            "1 while this node hears the changes other nodes make (PostgreSQL LISTEN), 0 while that connection is lost; always 1 on sled",
            database_connected.clone(),
        );
        database_connected.set(1);
        let timestamps = Family::<TimestampLabels, Counter>::default();
        registry.register(
            "timestamps",
            "RFC 3161 timestamp requests at POST /tsa by outcome (granted, or the failInfo of the rejection)",
            timestamps.clone(),
        );
        Metrics {
            hot: super::ROUTES.iter().map(|_| HotRoute::default()).collect(),
            timestamps,
            registry,
            revocation_event_latency,
            database_connected,
            connections,
            signature_checks,
            ocsp_cache_bytes,
            ocsp_cache_entries,
            requests,
            latency,
            issued,
            errors,
            crl_next_update,
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub(crate) fn count(&self, method: &'static str, route: RouteIndex, status: u16) {
        let labels = || RequestLabels {
            method,
            route: route.label(),
            status,
        };
        let hot = match route {
            RouteIndex::Known(i) if status == 200 => self.hot.get(i).and_then(|hot| match method {
                "GET" => Some(&hot.ok_get),
                "POST" => Some(&hot.ok_post),
                _ => None,
            }),
            _ => None,
        };
        match hot {
            Some(cell) => {
                cell.get_or_init(|| self.requests.get_or_create(&labels()).clone())
                    .inc();
            }
            None => {
                self.requests.get_or_create(&labels()).inc();
            }
        }
    }

    /// Records one request's latency under its route.
    pub(crate) fn observe_latency(&self, route: RouteIndex, seconds: f64) {
        let labels = || RouteLabels {
            route: route.label(),
        };
        match route {
            RouteIndex::Known(i) => {
                if let Some(hot) = self.hot.get(i) {
                    hot.latency
                        .get_or_init(|| self.latency.get_or_create(&labels()).clone())
                        .observe(seconds);
                }
            }
            _ => self.latency.get_or_create(&labels()).observe(seconds),
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_handles_count_into_the_exported_families() {
        let metrics = Metrics::default();
        let ocsp = route_index(Some("/ocsp"));
        assert_eq!(ocsp.label(), "/ocsp");
        assert_eq!(route_index(Some("/not/a/route")).label(), "other");
        metrics.count("POST", ocsp, 200);
        metrics.count("POST", ocsp, 200);
        metrics.count("POST", ocsp, 500);
        metrics.count("GET", route_index(None), 404);
        metrics.observe_latency(ocsp, 0.001);
        metrics.observe_latency(route_index(None), 0.001);
        let text = metrics.encode();
        for line in [
            r#"paypki_http_requests_total{method="POST",route="/ocsp",status="200"} 2"#,
            r#"paypki_http_requests_total{method="POST",route="/ocsp",status="500"} 1"#,
            r#"paypki_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
            r#"paypki_http_request_duration_seconds_count{route="/ocsp"} 1"#,
            r#"paypki_http_request_duration_seconds_count{route="unmatched"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
        }
    }
}
