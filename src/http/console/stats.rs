//! The status services' request rates and latency, read from the server's own metrics
//! (the text `/metrics` serves), so the console shows what Prometheus would scrape.

/// Requests and latency of a group of routes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RouteStats {
    /// Requests answered since the server started.
    pub(crate) requests: u64,
    /// Their mean latency, seconds.
    pub(crate) mean_seconds: f64,
    /// The upper bound of the histogram bucket that holds the 95th percentile, seconds.
    pub(crate) p95_seconds: Option<f64>,
}

/// The value of label `name` in a `{a="x",b="y"}` label set.
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels.split(',').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}

/// Sums the latency histogram (`paypki_http_request_duration_seconds`) over `routes`.
pub(crate) fn route_stats(metrics_text: &str, routes: &[&str]) -> RouteStats {
    const NAME: &str = "paypki_http_request_duration_seconds";
    let mut count = 0u64;
    let mut sum = 0f64;
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    for line in metrics_text.lines() {
        let Some(rest) = line.strip_prefix(NAME) else {
            continue;
        };
        let Some((series, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Some((suffix, labels)) = series.split_once('{') else {
            continue;
        };
        let labels = labels.trim_end_matches('}');
        if !label(labels, "route").is_some_and(|route| routes.contains(&route)) {
            continue;
        }
        match suffix {
            "_count" => count += value.parse::<u64>().unwrap_or(0),
            "_sum" => sum += value.parse::<f64>().unwrap_or(0.0),
            "_bucket" => {
                let le = label(labels, "le").and_then(|le| le.parse::<f64>().ok());
                let (Some(le), Ok(n)) = (le, value.parse::<u64>()) else {
                    continue;
                };
                match buckets.iter_mut().find(|(bound, _)| *bound == le) {
                    Some(bucket) => bucket.1 += n,
                    None => buckets.push((le, n)),
                }
            }
            _ => {}
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let wanted = (count as f64 * 0.95).ceil() as u64;
    RouteStats {
        requests: count,
        mean_seconds: if count == 0 { 0.0 } else { sum / count as f64 },
        p95_seconds: (count > 0)
            .then(|| {
                buckets
                    .iter()
                    .find(|(_, n)| *n >= wanted)
                    .map(|(le, _)| *le)
            })
            .flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_routes_of_a_group() {
        let text = "\
# TYPE paypki_http_request_duration_seconds histogram
paypki_http_request_duration_seconds_sum{route=\"/ocsp\"} 0.5
paypki_http_request_duration_seconds_count{route=\"/ocsp\"} 10
paypki_http_request_duration_seconds_bucket{le=\"0.001\",route=\"/ocsp\"} 9
paypki_http_request_duration_seconds_bucket{le=\"0.01\",route=\"/ocsp\"} 10
paypki_http_request_duration_seconds_sum{route=\"/ocsp/{*request}\"} 0.5
paypki_http_request_duration_seconds_count{route=\"/ocsp/{*request}\"} 10
paypki_http_request_duration_seconds_bucket{le=\"0.001\",route=\"/ocsp/{*request}\"} 10
paypki_http_request_duration_seconds_bucket{le=\"0.01\",route=\"/ocsp/{*request}\"} 10
paypki_http_request_duration_seconds_count{route=\"/v1/verify\"} 99
";
        let stats = route_stats(text, &["/ocsp", "/ocsp/{*request}"]);
        assert_eq!(stats.requests, 20);
        assert!((stats.mean_seconds - 0.05).abs() < 1e-9);
        assert_eq!(stats.p95_seconds, Some(0.001));
        assert_eq!(route_stats(text, &["/v1/validate"]), RouteStats::default());
    }
}
