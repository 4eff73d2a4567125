//! The cache of pre-signed OCSP responses, bounded in bytes.
//!
//! Entries are keyed by the canonical question, never by what else a request carried:
//! which of our issuing CAs and CertID hash algorithm the CertID names (an index into the
//! responder's issuer hash table), how its hash AlgorithmIdentifier encodes parameters
//! (the response echoes the CertID, so absent and NULL parameters are separate entries),
//! and the serial's octets. A second index by exact request bytes, for small requests
//! only, answers a repeated request without parsing it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderValue;
use time::OffsetDateTime;

use super::OcspAnswer;

/// Requests up to this size are also remembered by their exact bytes. The request
/// OpenSSL sends for one certificate is about 80 bytes (SHA-1) to 110 (SHA-256); larger
/// ones carry extensions a responder ignores, and would only make the index costly.
pub const EXACT_REQUEST_MAX: usize = 256;

/// Bytes counted per entry beyond its keys and response: the `Arc`, the hash-map slot
/// and the serial index, rounded up.
const ENTRY_OVERHEAD: usize = 192;

/// Bytes counted for an entry's rendered caching headers (three values of 29–34 bytes
/// and their `Bytes` handles).
const HEADERS_COST: usize = 192;

/// Bytes counted per exact-request entry beyond the request itself.
const EXACT_OVERHEAD: usize = 64;

/// Hash AlgorithmIdentifier parameters as the CertID encoded them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Params {
    /// No parameters (RFC 5754 style).
    Absent,
    /// NULL parameters (what OpenSSL sends).
    Null,
}

/// The canonical question of a single-certificate request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct CertKey {
    /// Index into the responder's issuer hash table: one issuing CA under one hash.
    pub(super) issuer: u16,
    pub(super) params: Params,
    /// The serial number's octets as the CertID encoded them.
    pub(super) serial: Box<[u8]>,
}

/// One pre-signed response.
#[derive(Debug)]
pub(super) struct Cached {
    pub(super) answer: OcspAnswer,
    pub(super) refresh_after: OffsetDateTime,
    /// The serial as the store knows it, to find its entries on a status change.
    pub(super) serial: Vec<u8>,
    /// The CertID, DER, to sign the entry again.
    pub(super) cert_id: Vec<u8>,
    /// Its HTTP caching headers, rendered once here rather than for every GET.
    pub(super) headers: Option<CachingHeaders>,
}

/// The RFC 5019 §6.2 header values of one response that do not change while it is
/// served (only `max-age` does): rendered when the response is cached.
#[derive(Debug, Clone)]
pub struct CachingHeaders {
    /// `Last-Modified`: thisUpdate.
    pub last_modified: HeaderValue,
    /// `Expires`: nextUpdate.
    pub expires: HeaderValue,
    /// `ETag`: the quoted hex of [`super::Freshness::etag`].
    pub etag: HeaderValue,
}

impl CachingHeaders {
    /// The values for a response with this freshness.
    pub fn new(fresh: &super::Freshness) -> Option<Self> {
        let etag = format!("\"{}\"", hex::encode(fresh.etag));
        Some(CachingHeaders {
            last_modified: HeaderValue::from_str(&http_date(fresh.this_update)).ok()?,
            expires: HeaderValue::from_str(&http_date(fresh.next_update)).ok()?,
            etag: HeaderValue::from_str(&etag).ok()?,
        })
    }
}

/// IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

impl Cached {
    /// An entry for `answer`, its caching headers rendered now.
    pub(super) fn new(
        answer: OcspAnswer,
        refresh_after: OffsetDateTime,
        serial: Vec<u8>,
        cert_id: Vec<u8>,
    ) -> Self {
        let headers = answer.freshness.as_ref().and_then(CachingHeaders::new);
        Cached {
            answer,
            refresh_after,
            serial,
            cert_id,
            headers,
        }
    }

    fn cost(&self, key: &CertKey) -> usize {
        self.answer.der.len()
            + self.cert_id.len()
            + HEADERS_COST
            + self.serial.len() * 2
            + key.serial.len()
            + ENTRY_OVERHEAD
    }
}

/// Size bounds of the cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// Most bytes counted over all entries (the exact-request index included).
    pub max_bytes: usize,
    /// Most entries, if bounded by count as well (the deprecated `--ocsp-cache`).
    pub max_entries: Option<usize>,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            max_bytes: 64 << 20,
            max_entries: None,
        }
    }
}

/// Pre-signed responses by question, and by exact bytes for small requests.
#[derive(Debug)]
pub(super) struct Cache {
    limits: CacheLimits,
    by_cert: HashMap<CertKey, Arc<Cached>>,
    by_request: HashMap<Box<[u8]>, Arc<Cached>>,
    by_serial: HashMap<Vec<u8>, Vec<CertKey>>,
    /// Bytes counted for `by_cert` and `by_request` together.
    bytes: usize,
    /// Bytes counted for `by_request` alone (at most a quarter of the bound).
    exact_bytes: usize,
}

impl Cache {
    pub(super) fn new(limits: CacheLimits) -> Self {
        Cache {
            limits,
            by_cert: HashMap::new(),
            by_request: HashMap::new(),
            by_serial: HashMap::new(),
            bytes: 0,
            exact_bytes: 0,
        }
    }

    /// Empties the cache, keeping its limits.
    pub(super) fn clear(&mut self) {
        *self = Cache::new(self.limits);
    }

    /// Entries (questions and exact requests).
    pub(super) fn len(&self) -> usize {
        self.by_cert.len() + self.by_request.len()
    }

    /// Bytes counted.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    fn full_for(&self, cost: usize) -> bool {
        self.bytes.saturating_add(cost) > self.limits.max_bytes
            || self.limits.max_entries.is_some_and(|max| self.len() >= max)
    }

    /// The entry for exactly these request bytes.
    pub(super) fn by_request(&self, request: &[u8]) -> Option<Arc<Cached>> {
        if request.len() > EXACT_REQUEST_MAX {
            return None;
        }
        self.by_request.get(request).cloned()
    }

    /// The entry for a question.
    pub(super) fn by_cert(&self, key: &CertKey) -> Option<Arc<Cached>> {
        self.by_cert.get(key).cloned()
    }

    /// Stores a response for a question. When the bound would be passed the cache starts
    /// over: entries are signed again on their next use, and memory never grows past it.
    pub(super) fn insert(&mut self, key: CertKey, entry: Arc<Cached>) {
        let cost = entry.cost(&key);
        if cost > self.limits.max_bytes {
            return;
        }
        if let Some(old) = self.by_cert.get(&key) {
            self.bytes = self.bytes.saturating_sub(old.cost(&key));
        } else if self.full_for(cost) {
            self.clear();
        }
        let serial = entry.serial.clone();
        if self.by_cert.insert(key.clone(), entry).is_none() {
            self.by_serial.entry(serial).or_default().push(key);
        }
        self.bytes += cost;
    }

    /// Remembers that these exact request bytes ask for `entry`'s question (small
    /// requests only). This index gets at most a quarter of the bound; when full it alone
    /// starts over.
    pub(super) fn remember_request(&mut self, request: &[u8], entry: Arc<Cached>) {
        if request.len() > EXACT_REQUEST_MAX || self.by_request.contains_key(request) {
            return;
        }
        let cost = request.len() + EXACT_OVERHEAD;
        if self.exact_bytes + cost > self.limits.max_bytes / 4 {
            self.bytes = self.bytes.saturating_sub(self.exact_bytes);
            self.exact_bytes = 0;
            self.by_request = HashMap::new();
        }
        if self.full_for(cost) {
            return;
        }
        self.by_request.insert(request.into(), entry);
        self.exact_bytes += cost;
        self.bytes += cost;
    }

    /// Drops everything cached for a serial; returns the CertIDs (DER) it was asked under.
    pub(super) fn forget(&mut self, serial: &[u8]) -> Vec<Vec<u8>> {
        let keys = self.by_serial.remove(serial).unwrap_or_default();
        let mut cert_ids = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(entry) = self.by_cert.remove(&key) {
                self.bytes = self.bytes.saturating_sub(entry.cost(&key));
                cert_ids.push(entry.cert_id.clone());
            }
        }
        let mut freed = 0;
        self.by_request.retain(|request, cached| {
            let keep = cached.serial != serial;
            if !keep {
                freed += request.len() + EXACT_OVERHEAD;
            }
            keep
        });
        self.exact_bytes = self.exact_bytes.saturating_sub(freed);
        self.bytes = self.bytes.saturating_sub(freed);
        cert_ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(serial: u8, response_len: usize) -> Arc<Cached> {
        Arc::new(Cached::new(
            OcspAnswer {
                der: bytes::Bytes::from(vec![serial; response_len]),
                freshness: None,
            },
            OffsetDateTime::now_utc() + time::Duration::hours(1),
            vec![serial; 16],
            vec![serial; 60],
        ))
    }

    fn key(issuer: u16, serial: u8) -> CertKey {
        CertKey {
            issuer,
            params: Params::Null,
            serial: vec![serial; 16].into(),
        }
    }

    #[test]
    fn caching_headers_are_rendered_once_as_rfc_5019_asks() {
        let this_update = time::macros::datetime!(1994-11-06 08:49:37 UTC);
        let fresh = super::super::Freshness {
            this_update,
            next_update: this_update + time::Duration::hours(4),
            etag: [0xab; 16],
        };
        let plain = entry(1, 100);
        assert!(
            plain.headers.is_none(),
            "no validity window, nothing to render (such answers are never cached)"
        );
        let headers = plain.clone_with(Some(fresh)).headers.unwrap();
        assert_eq!(headers.last_modified, "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(headers.expires, "Sun, 06 Nov 1994 12:49:37 GMT");
        assert_eq!(headers.etag, format!("\"{}\"", "ab".repeat(16)).as_str());
    }

    impl Cached {
        fn clone_with(&self, freshness: Option<super::super::Freshness>) -> Cached {
            Cached::new(
                OcspAnswer {
                    der: self.answer.der.clone(),
                    freshness,
                },
                self.refresh_after,
                self.serial.clone(),
                self.cert_id.clone(),
            )
        }
    }

    #[test]
    fn the_byte_bound_holds_whatever_is_inserted() {
        let mut cache = Cache::new(CacheLimits {
            max_bytes: 100_000,
            max_entries: None,
        });
        for i in 0..2000u32 {
            let serial = u8::try_from(i % 251).unwrap();
            cache.insert(
                key(u16::try_from(i % 7).unwrap(), serial),
                entry(serial, 500),
            );
            let request = i.to_be_bytes().repeat(50);
            cache.remember_request(&request, entry(serial, 500));
            assert!(
                cache.bytes() <= 100_000,
                "{} bytes after {i}",
                cache.bytes()
            );
            assert!(cache.exact_bytes <= 25_000);
        }
        assert!(cache.len() > 10);
    }

    #[test]
    fn large_requests_are_never_indexed_by_their_bytes() {
        let mut cache = Cache::new(CacheLimits::default());
        cache.insert(key(0, 1), entry(1, 500));
        let big = vec![7u8; EXACT_REQUEST_MAX + 1];
        cache.remember_request(&big, entry(1, 500));
        assert!(cache.by_request(&big).is_none());
        assert_eq!(cache.len(), 1);
        let small = vec![7u8; 80];
        cache.remember_request(&small, entry(1, 500));
        assert!(cache.by_request(&small).is_some());
    }

    #[test]
    fn the_same_serial_under_two_issuers_is_two_entries_and_one_forget() {
        let mut cache = Cache::new(CacheLimits::default());
        // Issuer index 0 and 4: the same hash algorithm of two issuing CAs.
        cache.insert(key(0, 9), entry(9, 400));
        cache.insert(key(4, 9), entry(9, 400));
        assert!(cache.by_cert(&key(0, 9)).is_some());
        assert!(cache.by_cert(&key(4, 9)).is_some());
        assert!(cache.by_cert(&key(1, 9)).is_none());
        cache.remember_request(b"request", entry(9, 400));
        let forgotten = cache.forget(&[9u8; 16]);
        assert_eq!(forgotten.len(), 2);
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn the_deprecated_entry_bound_still_applies() {
        let mut cache = Cache::new(CacheLimits {
            max_bytes: usize::MAX,
            max_entries: Some(10),
        });
        for i in 0..50u8 {
            cache.insert(key(0, i), entry(i, 100));
            assert!(cache.len() <= 10);
        }
    }
}
