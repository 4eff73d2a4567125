//! The issuance transparency log (`/v1/transparency/…`): signed tree heads, inclusion
//! and consistency proofs (RFC 9162 §2.1), and the entries. Everything here reads;
//! entries are appended by the store with the certificates and status changes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::extract::ApiQuery;
use super::{blocking, AppState, Problem};
use crate::store::TransparencyStore;
use crate::transparency::entry::LogEntry;
use crate::transparency::tree::{leaf_hash, Hash};
use crate::transparency::{LogError, TreeHead, MAX_PAGE};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A signed tree head.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct SthView {
    /// The number of entries the head covers.
    pub(crate) tree_size: u64,
    /// When the head was made, ms since the epoch (RFC 9162 §4.9 `timestamp`).
    pub(crate) timestamp: u64,
    /// MTH of the first `tree_size` entries (RFC 9162 §2.1.1), base64.
    #[schema(content_encoding = "base64")]
    pub(crate) root_hash: String,
    /// An RFC 3161 TimeStampToken (DER, base64) of paypki's TSA whose message imprint
    /// is SHA-256 of the TLS-encoded RFC 9162 §4.9 `TreeHeadDataV2` (timestamp,
    /// tree_size, root_hash, no extensions): checkable with `openssl ts -verify`.
    #[schema(content_encoding = "base64")]
    pub(crate) signature: String,
}

/// An inclusion proof.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct InclusionView {
    /// The entry's index (from 0).
    pub(crate) leaf_index: u64,
    /// The size of the tree the proof is for.
    pub(crate) tree_size: u64,
    /// That tree's root hash, base64.
    #[schema(content_encoding = "base64")]
    pub(crate) root_hash: String,
    /// The entry's leaf hash, SHA-256(0x00 ‖ entry), base64.
    #[schema(content_encoding = "base64")]
    pub(crate) leaf_hash: String,
    /// The audit path (RFC 9162 §2.1.3.1), leaf side first, each base64.
    pub(crate) inclusion_proof: Vec<String>,
}

/// A consistency proof.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ConsistencyView {
    /// The older tree size.
    pub(crate) first: u64,
    /// The newer tree size.
    pub(crate) second: u64,
    /// The proof (RFC 9162 §2.1.4.1), each base64.
    pub(crate) consistency_proof: Vec<String>,
}

/// One entry.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct EntryView {
    /// Its index.
    pub(crate) index: u64,
    /// `certificate`, `revocation` or `hold-lifted`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// The serial it is about, lowercase hex (when it can be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) serial: Option<String>,
    /// When it was recorded, ms since the epoch.
    pub(crate) timestamp: u64,
    /// The encoded entry the leaf hash is taken over (docs/verification.md), base64.
    #[schema(content_encoding = "base64")]
    pub(crate) entry: String,
}

/// A page of entries.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct EntriesView {
    /// The first index (inclusive).
    pub(crate) start: u64,
    /// One past the last index (exclusive).
    pub(crate) end: u64,
    /// The entries `[start, end)`.
    pub(crate) entries: Vec<EntryView>,
}

/// Signs a tree head: given SHA-256 of its `TreeHeadDataV2` bytes, a DER TimeStampToken.
pub(crate) type HeadSigner<'a> = dyn Fn(&[u8; 32]) -> Result<Vec<u8>, Problem> + 'a;

/// The newest signed tree head, kept so that heads are signed only when the tree grew,
/// and then at most once per [`TreeHeads::MIN_INTERVAL`] (a caller arriving sooner waits
/// for the rest of the interval: heads are rate-bounded, never stale).
#[derive(Debug, Default)]
pub(crate) struct TreeHeads {
    cached: Mutex<Option<(SthView, Instant)>>,
}

impl TreeHeads {
    /// The least time between two signatures: a stream of issuances does not make the
    /// TSA sign a head per certificate.
    pub(crate) const MIN_INTERVAL: Duration = Duration::from_secs(1);

    /// The newest head: the cached one while the tree has not grown, else a new one
    /// signed by `sign` (given SHA-256 of the `TreeHeadDataV2` bytes, it returns a DER
    /// TimeStampToken), at least [`TreeHeads::MIN_INTERVAL`] after the previous one. It
    /// runs on a blocking thread (it may wait for the interval).
    pub(crate) fn latest(
        &self,
        store: &dyn TransparencyStore,
        sign: &HeadSigner<'_>,
    ) -> Result<SthView, Problem> {
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| Problem::internal(&"the tree head cache lock was poisoned"))?;
        let size = store.log_size()?;
        if let Some((view, at)) = cached.as_ref() {
            if view.tree_size == size {
                return Ok(view.clone());
            }
            // The log grew: a new head, but not before the interval is over. Callers
            // meanwhile wait on the lock and then find the new head, so a head always
            // covers what was committed before it was asked for.
            if let Some(rest) = Self::MIN_INTERVAL.checked_sub(at.elapsed()) {
                std::thread::sleep(rest);
            }
        }
        let size = store.log_size()?;
        let head = TreeHead {
            timestamp: crate::transparency::entry::millis(time::OffsetDateTime::now_utc()),
            tree_size: size,
            root_hash: crate::transparency::root_at(store, size)?,
        };
        let token = sign(&head.signing_digest())?;
        let view = SthView {
            tree_size: head.tree_size,
            timestamp: head.timestamp,
            root_hash: b64(&head.root_hash),
            signature: b64(&token),
        };
        *cached = Some((view.clone(), Instant::now()));
        Ok(view)
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` entries.
pub(crate) fn inclusion_view(
    store: &dyn TransparencyStore,
    index: u64,
    size: u64,
) -> Result<InclusionView, LogError> {
    let (proof, root) = crate::transparency::inclusion(store, index, size)?;
    let entry = store
        .log_entries(index, index + 1)?
        .pop()
        .ok_or_else(|| LogError::NotFound(format!("leaf {index}")))?;
    Ok(InclusionView {
        leaf_index: index,
        tree_size: size,
        root_hash: b64(&root),
        leaf_hash: b64(&leaf_hash(&entry)),
        inclusion_proof: proof.iter().map(|h| b64(h)).collect(),
    })
}

/// [`inclusion_view`] of leaf `index` in the tree that ends with it, from the stored
/// nodes alone (`crate::transparency::newest_leaf_inclusion`).
pub(crate) fn newest_leaf_view(
    store: &dyn TransparencyStore,
    index: u64,
) -> Result<InclusionView, LogError> {
    let (proof, root, leaf) = crate::transparency::newest_leaf_inclusion(store, index)?;
    Ok(InclusionView {
        leaf_index: index,
        tree_size: index + 1,
        root_hash: b64(&root),
        leaf_hash: b64(&leaf),
        inclusion_proof: proof.iter().map(|h| b64(h)).collect(),
    })
}

/// `GET /v1/transparency/proof` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProofQuery {
    /// The certificate's serial, hex (its certificate entry).
    serial: Option<String>,
    /// Or the entry's leaf hash, base64 (any entry).
    leaf_hash: Option<String>,
    /// The tree size to prove inclusion in (default: the newest signed tree head's).
    tree_size: Option<u64>,
}

/// `GET /v1/transparency/consistency` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConsistencyQuery {
    /// The older tree size (> 0).
    first: u64,
    /// The newer tree size (≥ first, ≤ the log's size).
    second: u64,
}

/// `GET /v1/transparency/entries` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EntriesQuery {
    /// The first index, inclusive.
    start: u64,
    /// One past the last index, exclusive; at most 256 entries per request.
    end: u64,
}

/// The inclusion proof of a certificate (by serial) or of any entry (by leaf hash).
#[utoipa::path(get, path = "/v1/transparency/proof", tag = "transparency",
    params(ProofQuery),
    responses(
        (status = 200, description = "The proof", body = InclusionView),
        (status = 400, description = "Neither or both of serial and leaf_hash, a malformed one, or a tree size the log does not have or that does not contain the entry (malformed-request)", body = Problem),
        (status = 404, description = "No such entry in the log (not-found)", body = Problem),
    ))]
pub(crate) async fn proof(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<ProofQuery>,
) -> Result<axum::Json<InclusionView>, Problem> {
    let worker = state.clone();
    blocking(move || {
        let store = worker.ra.transparency();
        let index = match (&query.serial, &query.leaf_hash) {
            (Some(serial), None) => {
                let serial = crate::wire::serial(serial).map_err(Problem::bad_request)?;
                store.log_index_of_certificate(&serial)?.ok_or_else(|| {
                    Problem::not_found(format!(
                        "no certificate with serial {serial} is in the transparency log"
                    ))
                })?
            }
            (None, Some(hash)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(hash)
                    .ok()
                    .and_then(|b| Hash::try_from(b.as_slice()).ok())
                    .ok_or_else(|| {
                        Problem::bad_request("leaf_hash must be 32 bytes of SHA-256, base64")
                    })?;
                store.log_index_of_leaf(&bytes)?.ok_or_else(|| {
                    Problem::not_found("no entry with that leaf hash is in the transparency log")
                })?
            }
            _ => {
                return Err(Problem::bad_request(
                    "give exactly one of serial (hex) or leaf_hash (base64)",
                ))
            }
        };
        let size = match query.tree_size {
            Some(size) => size,
            None => worker.latest_head()?.tree_size,
        };
        if index >= size {
            return Err(Problem::bad_request(format!(
                "the entry is leaf {index}, which a tree of {size} entries does not contain; \
                 ask for a larger tree_size (a newer tree head)"
            )));
        }
        Ok(axum::Json(inclusion_view(store, index, size)?))
    })
    .await
}

/// The consistency proof between two tree sizes.
#[utoipa::path(get, path = "/v1/transparency/consistency", tag = "transparency",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyView),
        (status = 400, description = "Sizes missing, not numbers, first = 0, first > second, or second beyond the log (malformed-request)", body = Problem),
    ))]
pub(crate) async fn consistency(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<ConsistencyQuery>,
) -> Result<axum::Json<ConsistencyView>, Problem> {
    let worker = state.clone();
    blocking(move || {
        let proof =
            crate::transparency::consistency(worker.ra.transparency(), query.first, query.second)?;
        Ok(axum::Json(ConsistencyView {
            first: query.first,
            second: query.second,
            consistency_proof: proof.iter().map(|h| b64(h)).collect(),
        }))
    })
    .await
}

/// Entries `[start, end)`: start inclusive, end exclusive, at most 256.
#[utoipa::path(get, path = "/v1/transparency/entries", tag = "transparency",
    params(EntriesQuery),
    responses(
        (status = 200, description = "The entries", body = EntriesView),
        (status = 400, description = "start/end missing or not numbers, start ≥ end, end beyond the log, or more than 256 entries (malformed-request)", body = Problem),
    ))]
pub(crate) async fn entries(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<EntriesQuery>,
) -> Result<axum::Json<EntriesView>, Problem> {
    let worker = state.clone();
    blocking(move || {
        let raw = crate::transparency::entries(worker.ra.transparency(), query.start, query.end)?;
        let entries = raw
            .into_iter()
            .zip(query.start..)
            .map(|(bytes, index)| entry_view(index, &bytes))
            .collect();
        Ok(axum::Json(EntriesView {
            start: query.start,
            end: query.end,
            entries,
        }))
    })
    .await
}

fn entry_view(index: u64, bytes: &[u8]) -> EntryView {
    let decoded = LogEntry::decode(bytes).ok();
    let serial = decoded.as_ref().and_then(|e| match e {
        LogEntry::Certificate { der, .. } => x509_parser::parse_x509_certificate(der)
            .ok()
            .and_then(|(_, cert)| crate::model::Serial::from_der_integer(cert.raw_serial()).ok())
            .map(|serial| serial.to_string()),
        LogEntry::Revocation { serial, .. } | LogEntry::HoldLifted { serial, .. } => {
            Some(hex::encode(serial))
        }
    });
    EntryView {
        index,
        kind: decoded.as_ref().map_or("unknown", LogEntry::kind).into(),
        serial,
        timestamp: decoded.as_ref().map_or(0, LogEntry::timestamp),
        entry: b64(bytes),
    }
}

/// The newest signed tree head.
#[utoipa::path(get, path = "/v1/transparency/sth", tag = "transparency",
    responses(
        (status = 200, description = "The newest signed tree head, covering every entry committed before the request (re-signed only when the log grew, at most once a second: a request may wait up to a second)", body = SthView),
        (status = 503, description = "The TSA key is unavailable (unavailable)", body = Problem),
    ))]
pub(crate) async fn sth(
    State(state): State<Arc<AppState>>,
) -> Result<axum::Json<SthView>, Problem> {
    let worker = state.clone();
    blocking(move || Ok(axum::Json(worker.latest_head()?))).await
}

impl AppState {
    /// The newest signed tree head (see [`TreeHeads`]), signed by the CA's TSA.
    pub(crate) fn latest_head(&self) -> Result<SthView, Problem> {
        self.tree_heads.latest(self.ra.transparency(), &|digest| {
            self.sign_tree_head(digest)
        })
    }
}

impl AppState {
    /// The signature of a tree head: an RFC 3161 token of the CA's TSA (the active
    /// issuing CA's) whose message imprint is `digest`, SHA-256 of the head's
    /// `TreeHeadDataV2` bytes.
    fn sign_tree_head(&self, digest: &[u8; 32]) -> Result<Vec<u8>, Problem> {
        Ok(self.ra.ca().timestamp_sha256(digest)?)
    }
}

// The page limit the document states.
const _: () = assert!(MAX_PAGE == 256);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;
    use crate::store::tests::record;
    use crate::store::{AuditEvent, CertificateStore, SledStore};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn heads_are_signed_when_the_log_grew_and_always_cover_it() {
        let store = SledStore::temporary().unwrap();
        let issue = |serial: &str| {
            store
                .record_issued(
                    &record(serial, Role::Bank, 30),
                    AuditEvent::new("issue", "t"),
                )
                .unwrap();
        };
        issue("01");
        issue("02");
        let signed = AtomicUsize::new(0);
        let sign = |digest: &[u8; 32]| {
            signed.fetch_add(1, Ordering::SeqCst);
            Ok(digest.to_vec())
        };
        let heads = TreeHeads::default();
        let first = heads.latest(&store, &sign).unwrap();
        assert_eq!(first.tree_size, 2);
        // The "token" here is the digest itself: it is SHA-256 of TreeHeadDataV2.
        let head = TreeHead {
            timestamp: first.timestamp,
            tree_size: 2,
            root_hash: crate::transparency::root_at(&store, 2).unwrap(),
        };
        assert_eq!(first.signature, b64(&head.signing_digest()));
        assert_eq!(first.root_hash, b64(&head.root_hash));
        // Unchanged log: the cached head, not signed again.
        assert_eq!(
            heads.latest(&store, &sign).unwrap().timestamp,
            first.timestamp
        );
        assert_eq!(signed.load(Ordering::SeqCst), 1);
        // Grown right after: a new head (after the interval), covering the new entry.
        issue("03");
        let second = heads.latest(&store, &sign).unwrap();
        assert_eq!(second.tree_size, 3);
        assert_eq!(signed.load(Ordering::SeqCst), 2);
        // A failed signature is an error, and nothing is cached.
        issue("04");
        let refused = |_: &[u8; 32]| Err(Problem::unavailable("the TSA key is gone"));
        assert!(heads.latest(&store, &refused).is_err());
        assert_eq!(heads.latest(&store, &sign).unwrap().tree_size, 4);
    }
}
