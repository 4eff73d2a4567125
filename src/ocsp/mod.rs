//! The OCSP responder (RFC 6960, RFC 5019 lightweight profile).
//!
//! Requests are parsed and responses built with RustCrypto's `x509-ocsp`; the `ocsp` crate
//! encodes the unsigned error responses (malformedRequest, internalError). Why not more of
//! `ocsp`: it cannot parse SHA-256 CertIDs, cannot name an ECDSA or Ed25519 signature
//! algorithm, and panics on requests with some standard extensions — each shown by a test
//! below and explained in docs/architecture.md.
//!
//! The hot path does not sign: a nonce-less single request is answered from a cache of
//! pre-signed responses keyed by the canonical CertID (issuing CA, hash algorithm, serial),
//! and bounded in bytes (`cache.rs`). Entries are signed after issuance by a background
//! thread at the lowest CPU priority ([`Presigner`]: never inside the enrollment request),
//! on first use when that thread has not got there yet, re-signed after half their
//! validity, and re-signed at once when the certificate's status changes.

mod cache;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub(crate) use cache::http_date;
use cache::{Cache, CertKey, Params};
pub use cache::{CacheLimits, CachingHeaders, EXACT_REQUEST_MAX};

use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use time::{Duration, OffsetDateTime};
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::Extension;
use x509_ocsp::{
    CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, ResponderId, ResponseData,
    RevokedInfo, SingleResponse, Version,
};

use crate::ca::CertificateAuthority;
use crate::model::Serial;
#[cfg(test)]
use crate::store::SledStore;
use crate::store::{KnownStatus, RevokedEntry, StoreReader};

/// Largest request accepted; Boulder's responder capped at 10,000 bytes too.
pub const MAX_REQUEST_BYTES: usize = 10_000;
/// Most CertIDs in one request.
pub const MAX_CERT_IDS: usize = 64;
/// RFC 8954 §2.1: a nonce of 1 to 32 octets; anything else is malformedRequest.
pub const MAX_NONCE_BYTES: usize = 32;

const ID_PKIX_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
const ID_PKIX_OCSP_EXTENDED_REVOKE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.9");
const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const ID_CE_INVALIDITY_DATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.24");

/// Issuances waiting for their pre-signed response, at most; beyond that an issuance's
/// first response is signed when a client first asks (a wave of enrollments then costs
/// no signature it does not need).
const PRESIGN_QUEUE: usize = 65_536;

/// The handle that hands issued certificates to the pre-signing thread, so that the
/// enrollment answers without waiting for an OCSP signature (docs/PERFORMANCE.md). The
/// thread runs at the lowest CPU priority: under load, requests come first, the queue
/// fills and the rest is signed on first use; when the load ends, it catches up.
#[derive(Debug, Clone)]
pub struct Presigner {
    sender: std::sync::mpsc::SyncSender<(Serial, u32)>,
}

impl Presigner {
    /// Queues a certificate for pre-signing; never blocks (a full queue drops it: its
    /// first request signs it, which is correct and only slower).
    pub fn issued(&self, serial: &Serial, issuer: u32) {
        let _ = self.sender.try_send((serial.clone(), issuer));
    }
}

/// Asks the scheduler to run the calling thread only when nothing else wants the CPU
/// (nice 19); best effort: where it cannot, the thread runs at normal priority.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux, PRIO_PROCESS with a thread id sets that thread's nice value.
        let thread = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(thread), 19) {
            tracing::debug!(error = %e, "cannot lower the pre-signing thread's priority");
        }
    }
}

/// A response ready to send, with what HTTP caching needs.
#[derive(Debug, Clone)]
pub struct OcspAnswer {
    /// The DER `OCSPResponse` (reference-counted: serving it copies nothing).
    pub der: bytes::Bytes,
    /// Present for successful single-certificate responses: thisUpdate, nextUpdate, ETag.
    pub freshness: Option<Freshness>,
}

/// A pre-signed answer found in the cache, shared with it (nothing is copied).
#[derive(Debug, Clone)]
pub struct CachedResponse(Arc<cache::Cached>);

impl CachedResponse {
    /// The answer.
    pub fn answer(&self) -> &OcspAnswer {
        &self.0.answer
    }

    /// Its RFC 5019 caching header values, rendered when it was cached (absent only
    /// for a response without a validity window, which is never cached).
    pub fn caching_headers(&self) -> Option<&CachingHeaders> {
        self.0.headers.as_ref()
    }
}

/// The validity window of a single response.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    pub next_update: OffsetDateTime,
    /// A strong validator for the bytes.
    pub etag: [u8; 16],
}

/// One supported CertID hash algorithm and one issuing CA's hashes under it.
#[derive(Debug, Clone)]
struct IssuerHashes {
    ca: u32,
    algorithm: ObjectIdentifier,
    name_hash: Vec<u8>,
    key_hash: Vec<u8>,
}

/// What every response of one issuing CA's delegated responder carries.
#[derive(Debug, Clone)]
struct ResponderParts {
    /// SHA-1 of the responder's public key (ResponderID byKey).
    responder_id: Vec<u8>,
    /// `certs [0] EXPLICIT SEQUENCE OF Certificate` holding the responder certificate,
    /// encoded once: every response carries it, and re-encoding it per response would
    /// cost more than the rest of the response.
    certs_field: Vec<u8>,
}

/// The responder.
#[derive(Debug)]
pub struct OcspResponder {
    ca: Arc<CertificateAuthority>,
    /// Read-only: the responder reads statuses and can write nothing.
    store: Arc<dyn StoreReader>,
    issuer: Vec<IssuerHashes>,
    responders: HashMap<u32, ResponderParts>,
    validity: Duration,
    cache: RwLock<Cache>,
    /// Bumped by every status change before the cache forgets the serial. A response
    /// signed from a status read before a change may not enter the cache after it: the
    /// signer compares the epoch it started with (a single counter rather than one per
    /// serial: a status change is rare, and the cost is one extra signature).
    status_epoch: std::sync::atomic::AtomicU64,
    clock: crate::clock::SharedClock,
}

/// Why a response could not be built or signed (a server fault: the client gets
/// `internalError` or, for a missing responder, `tryLater`).
#[derive(Debug, thiserror::Error)]
pub enum OcspError {
    /// DER encoding failed.
    #[error("encoding the response failed: {0}")]
    Encoding(#[from] der::Error),
    /// The CA's records could not be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Signing failed.
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    /// No responder is set up for the issuing CA.
    #[error("no OCSP responder for issuing CA {0}")]
    NoResponder(u32),
    /// The CA has no issuing CA at all.
    #[error("no issuing CA to sign with")]
    NoIssuingCa,
    /// The clock gave an instant the encoder cannot carry.
    #[error("the clock is out of range: {0}")]
    Time(String),
}

impl OcspError {
    /// What kind of failure this is: the CA's own fault, or its key unavailable for now.
    pub fn kind(&self) -> crate::error::ErrorKind {
        match self {
            // The database is away for now (a shared PostgreSQL): tryLater.
            OcspError::Store(e) if e.kind() == crate::error::ErrorKind::Unavailable => {
                crate::error::ErrorKind::Unavailable
            }
            OcspError::Encoding(_)
            | OcspError::Store(_)
            | OcspError::NoResponder(_)
            | OcspError::NoIssuingCa
            | OcspError::Time(_) => crate::error::ErrorKind::Internal,
            OcspError::Ca(e) => match e.kind() {
                crate::error::ErrorKind::Unavailable => crate::error::ErrorKind::Unavailable,
                _ => crate::error::ErrorKind::Internal,
            },
        }
    }
}

/// Why the responder could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OCSP responder: {0}")]
pub struct OcspSetupError(String);

fn digest(algorithm: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    use ring::digest as d;
    let alg = match algorithm.to_string().as_str() {
        "1.3.14.3.2.26" => &d::SHA1_FOR_LEGACY_USE_ONLY,
        "2.16.840.1.101.3.4.2.1" => &d::SHA256,
        "2.16.840.1.101.3.4.2.2" => &d::SHA384,
        "2.16.840.1.101.3.4.2.3" => &d::SHA512,
        _ => return None,
    };
    Some(d::digest(alg, data).as_ref().to_vec())
}

fn generalized(at: OffsetDateTime) -> Result<OcspGeneralizedTime, der::Error> {
    let seconds = u64::try_from(at.unix_timestamp()).unwrap_or(0);
    Ok(OcspGeneralizedTime(GeneralizedTime::from_unix_duration(
        std::time::Duration::from_secs(seconds),
    )?))
}

/// The unsigned error responses, encoded by the `ocsp` crate (which gets these right).
fn error_response(status: ::ocsp::response::OcspRespStatus) -> OcspAnswer {
    let der = ::ocsp::response::OcspResponse::new_non_success(status)
        .and_then(|r| r.to_der())
        // The fallback is the same 5 bytes for internalError, from x509-ocsp.
        .unwrap_or_else(|_| OcspResponse::internal_error().to_der().unwrap_or_default());
    OcspAnswer {
        der: bytes::Bytes::from(der),
        freshness: None,
    }
}

/// `malformedRequest` (RFC 6960 §4.2.1).
pub fn malformed_request() -> OcspAnswer {
    error_response(::ocsp::response::OcspRespStatus::MalformedReq)
}

fn internal_error() -> OcspAnswer {
    error_response(::ocsp::response::OcspRespStatus::InternalError)
}

/// The answer to a request that could not be signed: `tryLater` (RFC 6960 §4.2.1) when
/// the responder key or the database is unavailable for now (a token removed, a shared
/// database unreachable), else `internalError`.
fn failed(e: &OcspError) -> OcspAnswer {
    if e.kind() == crate::error::ErrorKind::Unavailable {
        tracing::warn!(error = %e, "OCSP signing unavailable; answering tryLater");
        error_response(::ocsp::response::OcspRespStatus::TryLater)
    } else {
        tracing::error!(error = %e, "OCSP signing failed");
        internal_error()
    }
}

/// What a single CertID resolves to.
enum Resolution {
    /// One of our issuing CAs (id), the serial's octets and its status under that CA.
    Ours(u32, Vec<u8>, KnownStatus),
    NotOurIssuer,
}

/// The CertID hashes of one issuing CA under every supported hash algorithm.
fn issuer_hashes(ca: u32, issuing_der: &[u8]) -> Result<Vec<IssuerHashes>, OcspSetupError> {
    let setup = |e: &dyn std::fmt::Display| OcspSetupError(e.to_string());
    let issuing = x509_cert::Certificate::from_der(issuing_der).map_err(|e| setup(&e))?;
    let name_der = issuing
        .tbs_certificate
        .subject
        .to_der()
        .map_err(|e| setup(&e))?;
    // RFC 6960 §4.1.1: the key hash covers the BIT STRING value, without tag, length and
    // unused-bits octet.
    let key_bits = issuing
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec();
    Ok([
        "1.3.14.3.2.26",
        "2.16.840.1.101.3.4.2.1",
        "2.16.840.1.101.3.4.2.2",
        "2.16.840.1.101.3.4.2.3",
    ]
    .iter()
    .filter_map(|oid| {
        let algorithm = ObjectIdentifier::new(oid).ok()?;
        Some(IssuerHashes {
            ca,
            name_hash: digest(&algorithm, &name_der)?,
            key_hash: digest(&algorithm, &key_bits)?,
            algorithm,
        })
    })
    .collect())
}

fn responder_parts(responder_der: &[u8]) -> Result<ResponderParts, OcspSetupError> {
    let setup = |e: &dyn std::fmt::Display| OcspSetupError(e.to_string());
    let certs_field = tlv(
        der::Tag::ContextSpecific {
            constructed: true,
            number: der::TagNumber::N0,
        },
        &tlv(der::Tag::Sequence, responder_der).map_err(|e| setup(&e))?,
    )
    .map_err(|e| setup(&e))?;
    let responder_cert = x509_cert::Certificate::from_der(responder_der).map_err(|e| setup(&e))?;
    let responder_key = responder_cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let responder_id = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, responder_key)
        .as_ref()
        .to_vec();
    Ok(ResponderParts {
        responder_id,
        certs_field,
    })
}

impl OcspResponder {
    /// Sets up the responder for every issuing CA of the CA (each answers for the
    /// certificates it issued, signed by its own delegated responder). `validity` is
    /// nextUpdate − thisUpdate; `capacity` bounds the cache's entries (and the default
    /// byte bound applies too; see [`OcspResponder::with_cache_limits`]).
    pub fn new(
        ca: Arc<CertificateAuthority>,
        store: Arc<dyn StoreReader>,
        validity: Duration,
        capacity: usize,
    ) -> Result<Self, OcspSetupError> {
        Self::with_cache_limits(
            ca,
            store,
            validity,
            CacheLimits {
                max_entries: Some(capacity.max(1)),
                ..CacheLimits::default()
            },
        )
    }

    /// [`OcspResponder::new`] with the cache bounded by `limits` (bytes, and entries).
    pub fn with_cache_limits(
        ca: Arc<CertificateAuthority>,
        store: Arc<dyn StoreReader>,
        validity: Duration,
        limits: CacheLimits,
    ) -> Result<Self, OcspSetupError> {
        let mut issuer = Vec::new();
        let mut responders = HashMap::new();
        for issuing in ca.issuers() {
            issuer.extend(issuer_hashes(issuing.id(), &issuing.certificate().der)?);
            responders.insert(issuing.id(), responder_parts(&issuing.responder().der)?);
        }
        Ok(OcspResponder {
            ca,
            store,
            issuer,
            responders,
            validity,
            cache: RwLock::new(Cache::new(limits)),
            status_epoch: std::sync::atomic::AtomicU64::new(0),
            clock: crate::clock::system(),
        })
    }

    /// The same responder reading `clock` for "now" (thisUpdate, cache freshness).
    pub fn with_clock(mut self, clock: crate::clock::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Drops every cached response (after the root revoked an issuing CA).
    pub fn clear_cache(&self) {
        self.status_epoch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut cache) = self.cache.write() {
            cache.clear();
        }
    }

    /// The pre-signed answer to exactly these request bytes, if one is cached and fresh:
    /// the hot path, cheap enough to run on the async workers. Only requests up to
    /// [`EXACT_REQUEST_MAX`] bytes are indexed this way.
    pub fn respond_cached(&self, request: &[u8]) -> Option<OcspAnswer> {
        self.cached_response(request)
            .map(|hit| hit.answer().clone())
    }

    /// [`OcspResponder::respond_cached`] with the entry's pre-rendered HTTP caching
    /// headers: what the HTTP layer serves without formatting anything per request.
    pub fn cached_response(&self, request: &[u8]) -> Option<CachedResponse> {
        if request.len() > EXACT_REQUEST_MAX {
            return None;
        }
        let hit = self.cache.read().ok()?.by_request(request)?;
        (self.clock.now() < hit.refresh_after).then_some(CachedResponse(hit))
    }

    /// The cache key of a CertID, if its answer may be cached: the CertID names one of
    /// our issuing CAs under a supported hash, with absent or NULL hash parameters.
    fn cache_key(&self, cert_id: &CertId) -> Option<CertKey> {
        let index = self.issuer.iter().position(|issuer| {
            issuer.algorithm == cert_id.hash_algorithm.oid
                && issuer.name_hash == cert_id.issuer_name_hash.as_bytes()
                && issuer.key_hash == cert_id.issuer_key_hash.as_bytes()
        })?;
        let params = match &cert_id.hash_algorithm.parameters {
            None => Params::Absent,
            Some(any) if der::Tagged::tag(any) == der::Tag::Null && any.value().is_empty() => {
                Params::Null
            }
            Some(_) => return None,
        };
        Some(CertKey {
            issuer: u16::try_from(index).ok()?,
            params,
            serial: cert_id.serial_number.as_bytes().into(),
        })
    }

    /// Answers a DER request. Never fails: problems become OCSP error responses.
    pub fn respond(&self, request: &[u8]) -> OcspAnswer {
        if request.is_empty() || request.len() > MAX_REQUEST_BYTES {
            return malformed_request();
        }
        let Ok(parsed) = OcspRequest::from_der(request) else {
            return malformed_request();
        };
        let list = &parsed.tbs_request.request_list;
        if list.is_empty() || list.len() > MAX_CERT_IDS {
            return malformed_request();
        }
        let nonce = match find_nonce(&parsed) {
            Ok(nonce) => nonce,
            Err(()) => return malformed_request(),
        };
        if nonce.is_none() && list.len() == 1 {
            if let Some(single) = list.first() {
                return self.cached_single(&single.req_cert, Some(request));
            }
        }
        let cert_ids: Vec<&CertId> = list.iter().map(|r| &r.req_cert).collect();
        match self.sign(&cert_ids, nonce) {
            Ok((answer, _)) => answer,
            Err(e) => failed(&e),
        }
    }

    /// Re-signs every cached response for a serial (after a revocation or unhold), so the
    /// next request is served the new status without signing on the hot path.
    pub fn status_changed(&self, serial: &Serial, issuer: u32) {
        self.status_epoch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let cert_ids = self
            .cache
            .write()
            .map(|mut cache| cache.forget(serial.as_bytes()))
            .unwrap_or_default();
        for der in cert_ids {
            if let Ok(cert_id) = CertId::from_der(&der) {
                if let Err(e) = self.sign_and_cache(&cert_id, None) {
                    // The next request for it is signed afresh; nothing stale is served.
                    tracing::warn!(error = %e, serial = %serial, "re-signing an OCSP response failed");
                }
            }
        }
        self.presign(serial, issuer);
    }

    /// Starts the thread that pre-signs after issuance ([`Presigner`]); it ends when the
    /// last handle is dropped.
    pub fn start_presigner(self: &Arc<Self>) -> std::io::Result<Presigner> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<(Serial, u32)>(PRESIGN_QUEUE);
        let responder = Arc::clone(self);
        std::thread::Builder::new()
            .name("ocsp-presign".into())
            .spawn(move || {
                lower_this_threads_priority();
                while let Ok((serial, issuer)) = receiver.recv() {
                    if !responder.is_presigned(&serial, issuer) {
                        responder.presign(&serial, issuer);
                    }
                }
            })?;
        Ok(Presigner { sender })
    }

    /// Whether the default request of [`OcspResponder::presign`] is answered from the
    /// cache already (a client asked first and its answer was signed then).
    fn is_presigned(&self, serial: &Serial, issuer: u32) -> bool {
        self.default_request(serial, issuer)
            .is_some_and(|request| self.respond_cached(&request).is_some())
    }

    /// The request OpenSSL sends with `-no_nonce` for this certificate, byte for byte.
    fn default_request(&self, serial: &Serial, issuer: u32) -> Option<Vec<u8>> {
        let key = self.default_cert_ids(serial, issuer).into_iter().next()?;
        single_request(CertId::from_der(&key).ok()?).ok()
    }

    /// Pre-signs the response OpenSSL-style clients ask for by default (a SHA-1 CertID,
    /// as RFC 5019 §2.1.1 requires clients to support). Other CertID forms are signed on
    /// first use and cached: one signature per issuance instead of two (see
    /// docs/PERFORMANCE.md).
    pub fn presign(&self, serial: &Serial, issuer: u32) {
        for key in self.default_cert_ids(serial, issuer).into_iter().take(1) {
            if let Ok(cert_id) = CertId::from_der(&key) {
                let request = self.default_request(serial, issuer);
                if let Err(e) = self.sign_and_cache(&cert_id, request.as_deref()) {
                    tracing::warn!(error = %e, serial = %serial, "pre-signing an OCSP response failed");
                }
            }
        }
    }

    /// A freshly signed response for one certificate (SHA-1 CertID as OpenSSL asks by
    /// default, no nonce), as the revocation event stream carries it: its status is
    /// read from the store now.
    pub fn fresh_response(&self, serial: &Serial, issuer: u32) -> Result<bytes::Bytes, OcspError> {
        let key = self
            .default_cert_ids(serial, issuer)
            .into_iter()
            .next()
            .ok_or(OcspError::NoResponder(issuer))?;
        let cert_id = CertId::from_der(&key)?;
        let (answer, _) = self.sign(&[&cert_id], None)?;
        Ok(answer.der)
    }

    /// How many responses are cached (questions and exact requests).
    pub fn cached(&self) -> usize {
        self.cache.read().map(|c| c.len()).unwrap_or(0)
    }

    /// Bytes the cache counts against its bound.
    pub fn cached_bytes(&self) -> usize {
        self.cache.read().map(|c| c.bytes()).unwrap_or(0)
    }

    /// CertIDs as OpenSSL builds them (hash AlgorithmIdentifier with NULL parameters).
    fn default_cert_ids(&self, serial: &Serial, ca: u32) -> Vec<Vec<u8>> {
        let Ok(serial_number) = x509_cert::serial_number::SerialNumber::new(serial.as_bytes())
        else {
            return Vec::new();
        };
        self.issuer
            .iter()
            .filter(|issuer| issuer.ca == ca)
            .take(2)
            .filter_map(|issuer| {
                CertId {
                    hash_algorithm: AlgorithmIdentifierOwned {
                        oid: issuer.algorithm,
                        parameters: Some(der::Any::from(Null)),
                    },
                    issuer_name_hash: OctetString::new(issuer.name_hash.clone()).ok()?,
                    issuer_key_hash: OctetString::new(issuer.key_hash.clone()).ok()?,
                    serial_number: serial_number.clone(),
                }
                .to_der()
                .ok()
            })
            .collect()
    }

    fn cached_single(&self, cert_id: &CertId, request: Option<&[u8]>) -> OcspAnswer {
        let now = self.clock.now();
        let hit = self
            .cache_key(cert_id)
            .and_then(|key| self.cache.read().ok().and_then(|c| c.by_cert(&key)));
        if let Some(hit) = hit.filter(|hit| now < hit.refresh_after) {
            // Remember small requests' exact bytes too, so the next one skips parsing.
            if let (Some(request), Ok(mut cache)) = (request, self.cache.write()) {
                cache.remember_request(request, hit.clone());
            }
            return hit.answer.clone();
        }
        match self.sign_and_cache(cert_id, request) {
            Ok(answer) => answer,
            Err(e) => failed(&e),
        }
    }

    fn sign_and_cache(
        &self,
        cert_id: &CertId,
        request: Option<&[u8]>,
    ) -> Result<OcspAnswer, OcspError> {
        let epoch = self.epoch();
        let (answer, cacheable_serial) = self.sign(&[cert_id], None)?;
        let key = self.cache_key(cert_id);
        if let (Some(serial), Some(fresh), Some(key)) = (cacheable_serial, answer.freshness, key) {
            let entry = Arc::new(cache::Cached::new(
                answer.clone(),
                fresh.this_update + self.validity / 2,
                serial,
                cert_id.to_der()?,
            ));
            self.cache_if_current(epoch, key, entry, request);
        }
        Ok(answer)
    }

    fn epoch(&self) -> u64 {
        self.status_epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Caches a response signed from a status read at `epoch`, unless a status change
    /// came in between (it would cache the old status after the change forgot it).
    /// Returns whether it was cached.
    fn cache_if_current(
        &self,
        epoch: u64,
        key: cache::CertKey,
        entry: Arc<cache::Cached>,
        request: Option<&[u8]>,
    ) -> bool {
        let Ok(mut cache) = self.cache.write() else {
            return false;
        };
        // Checked under the write lock: status_changed bumps the epoch before it takes
        // the lock to forget, so either it sees this entry or this sees its bump.
        if self.epoch() != epoch {
            return false;
        }
        cache.insert(key, entry.clone());
        if let Some(request) = request {
            cache.remember_request(request, entry);
        }
        true
    }

    fn resolve(&self, cert_id: &CertId) -> Result<Resolution, OcspError> {
        let ours = self.issuer.iter().find(|issuer| {
            issuer.algorithm == cert_id.hash_algorithm.oid
                && issuer.name_hash == cert_id.issuer_name_hash.as_bytes()
                && issuer.key_hash == cert_id.issuer_key_hash.as_bytes()
        });
        let Some(ca) = ours.map(|issuer| issuer.ca) else {
            return Ok(Resolution::NotOurIssuer);
        };
        let serial = match Serial::from_der_integer(cert_id.serial_number.as_bytes()) {
            Ok(serial) => serial,
            // Zero, negative or oversized: we never issue such serials.
            Err(_) => return Ok(Resolution::Ours(ca, Vec::new(), KnownStatus::NeverIssued)),
        };
        let status = match self.store.known_status(serial.as_bytes())? {
            // A serial another of our CAs issued was never issued by this one.
            KnownStatus::Good { issuer } if issuer != ca => KnownStatus::NeverIssued,
            KnownStatus::Revoked(entry) if entry.issuer != ca => KnownStatus::NeverIssued,
            KnownStatus::Good { issuer } => match self.ca.issuer_revocation(issuer) {
                // The root revoked the issuing CA: its certificates are revoked with it.
                Some(revocation) => KnownStatus::Revoked(issuer_revoked_entry(revocation, issuer)),
                None => KnownStatus::Good { issuer },
            },
            other => other,
        };
        Ok(Resolution::Ours(ca, serial.as_bytes().to_vec(), status))
    }

    /// Builds and signs a response. Returns the serial when the response may be cached.
    fn sign(
        &self,
        cert_ids: &[&CertId],
        nonce: Option<Extension>,
    ) -> Result<(OcspAnswer, Option<Vec<u8>>), OcspError> {
        let now = self
            .clock
            .now()
            .replace_nanosecond(0)
            .map_err(|e| OcspError::Time(e.to_string()))?;
        let this_update = generalized(now)?;
        let next_update = generalized(now + self.validity)?;
        let mut responses = Vec::with_capacity(cert_ids.len());
        let mut extended_revoke = false;
        let mut cacheable_serial = None;
        // One response has one signer: the responder of the first of our issuing CAs the
        // request names. CertIDs of another issuing CA get "unknown" (RFC 6960 §4.2.2.2:
        // a delegated responder answers only for its own CA); clients ask per issuer.
        let mut signer: Option<u32> = None;
        for cert_id in cert_ids {
            let answer = self.single_status(cert_id, &mut signer, now)?;
            extended_revoke |= answer.never_issued;
            if answer.serial.is_some() {
                cacheable_serial = answer.serial;
            }
            responses.push(SingleResponse {
                cert_id: (*cert_id).clone(),
                cert_status: answer.status,
                this_update,
                next_update: Some(next_update),
                single_extensions: answer.extensions,
            });
        }
        let mut response_extensions = Vec::new();
        if let Some(nonce) = nonce.clone() {
            response_extensions.push(nonce);
        }
        if extended_revoke {
            response_extensions.push(Extension {
                extn_id: ID_PKIX_OCSP_EXTENDED_REVOKE,
                critical: false,
                extn_value: OctetString::new(Null.to_der()?)?,
            });
        }
        let signer = self.signing_ca(signer)?;
        let parts = self
            .responders
            .get(&signer)
            .ok_or(OcspError::NoResponder(signer))?;
        let tbs = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(OctetString::new(parts.responder_id.clone())?),
            produced_at: this_update,
            responses,
            response_extensions: (!response_extensions.is_empty()).then_some(response_extensions),
        };
        let der = self.assemble(signer, parts, &tbs)?;
        let single = cert_ids.len() == 1 && nonce.is_none() && !extended_revoke;
        // Caching headers only for what a shared cache may keep: one CertID, no nonce.
        let freshness = (cert_ids.len() == 1 && nonce.is_none()).then(|| {
            let digest = ring::digest::digest(&ring::digest::SHA256, &der);
            let mut etag = [0u8; 16];
            etag.copy_from_slice(digest.as_ref().get(..16).unwrap_or(&[0u8; 16]));
            Freshness {
                this_update: now,
                next_update: now + self.validity,
                etag,
            }
        });
        Ok((
            OcspAnswer {
                der: bytes::Bytes::from(der),
                freshness,
            },
            if single { cacheable_serial } else { None },
        ))
    }

    /// One CertID's status, under the response's signer (the first of our CAs seen).
    fn single_status(
        &self,
        cert_id: &CertId,
        signer: &mut Option<u32>,
        now: OffsetDateTime,
    ) -> Result<SingleStatus, OcspError> {
        let resolution = match self.resolve(cert_id)? {
            Resolution::Ours(ca, serial, status) if *signer.get_or_insert(ca) == ca => {
                Resolution::Ours(ca, serial, status)
            }
            _ => Resolution::NotOurIssuer,
        };
        let mut answer = SingleStatus {
            status: CertStatus::Unknown(Null),
            extensions: None,
            serial: None,
            never_issued: false,
        };
        match resolution {
            Resolution::NotOurIssuer => {}
            Resolution::Ours(_, serial, KnownStatus::Good { .. }) => {
                answer.serial = Some(serial);
                answer.status = CertStatus::Good(Null);
            }
            Resolution::Ours(_, serial, KnownStatus::Revoked(entry)) => {
                answer.serial = Some(serial);
                answer.extensions = invalidity_extension(&entry)?;
                answer.status = CertStatus::Revoked(RevokedInfo {
                    revocation_time: generalized(
                        OffsetDateTime::from_unix_timestamp(entry.revoked_at).unwrap_or(now),
                    )?,
                    revocation_reason: Some(entry.reason.to_x509()),
                });
            }
            Resolution::Ours(_, _, KnownStatus::NeverIssued) => {
                // RFC 6960 §2.2: for a serial this CA never issued, answer "revoked" with
                // reason certificateHold and revocationTime 1970-01-01, and include the
                // extended revoke extension (§4.4.8).
                answer.never_issued = true;
                answer.status = CertStatus::Revoked(RevokedInfo {
                    revocation_time: generalized(OffsetDateTime::UNIX_EPOCH)?,
                    revocation_reason: Some(CrlReason::CertificateHold),
                });
            }
        }
        Ok(answer)
    }

    /// The issuing CA whose responder signs: the one the request names, else (a request
    /// naming none of ours, answered "unknown") the active CA's, or the newest one's.
    fn signing_ca(&self, named: Option<u32>) -> Result<u32, OcspError> {
        if let Some(ca) = named {
            return Ok(ca);
        }
        match self.ca.active() {
            Ok(active) => Ok(active.id()),
            Err(_) => self
                .ca
                .issuers()
                .last()
                .map(|ca| ca.id())
                .ok_or(OcspError::NoIssuingCa),
        }
    }

    /// Signs `ResponseData` with the CA's responder and wraps it: BasicOCSPResponse
    /// (RFC 6960 §4.2.1) from its encoded parts, then OCSPResponse.
    fn assemble(
        &self,
        signer: u32,
        parts: &ResponderParts,
        tbs: &ResponseData,
    ) -> Result<Vec<u8>, OcspError> {
        let tbs_der = tbs.to_der()?;
        let (algorithm, signature) = self.ca.sign_ocsp(signer, &tbs_der)?;
        let bits = BitString::from_bytes(&signature).and_then(|b| b.to_der())?;
        let basic = tlv(
            der::Tag::Sequence,
            &[tbs_der.as_slice(), &algorithm, &bits, &parts.certs_field].concat(),
        )?;
        Ok(OcspResponse {
            response_status: x509_ocsp::OcspResponseStatus::Successful,
            response_bytes: Some(x509_ocsp::ResponseBytes {
                response_type: ID_PKIX_OCSP_BASIC,
                response: OctetString::new(basic)?,
            }),
        }
        .to_der()?)
    }
}

/// One CertID's part of a response.
struct SingleStatus {
    status: CertStatus,
    extensions: Option<Vec<Extension>>,
    /// The serial, when the answer may be cached for it.
    serial: Option<Vec<u8>>,
    /// A serial this CA never issued (RFC 6960 §2.2 answer, not cached).
    never_issued: bool,
}

/// The status of a certificate whose issuing CA the root revoked: revoked at the CA's
/// revocation time, for cACompromise when the CA's key was compromised (RFC 5280 §5.3.1),
/// otherwise for the CA's own reason. See docs/operations.md ("Revoking a CA").
fn issuer_revoked_entry(revocation: crate::ca::IssuerRevocation, issuer: u32) -> RevokedEntry {
    use crate::model::RevocationReason as R;
    RevokedEntry {
        reason: match revocation.reason {
            R::KeyCompromise | R::CaCompromise | R::Unspecified => R::CaCompromise,
            other => other,
        },
        revoked_at: revocation.revoked_at,
        invalidity_date: None,
        not_after: i64::MAX,
        issuer,
    }
}

/// A DER TLV: header for `tag` and `content.len()`, then `content`.
fn tlv(tag: der::Tag, content: &[u8]) -> Result<Vec<u8>, der::Error> {
    let mut out = der::Header::new(tag, der::Length::try_from(content.len())?)?.to_der()?;
    out.extend_from_slice(content);
    Ok(out)
}

/// RFC 5280 §5.3.2 invalidityDate, carried as a single extension (RFC 6960 §4.4).
fn invalidity_extension(entry: &RevokedEntry) -> Result<Option<Vec<Extension>>, OcspError> {
    let Some(seconds) = entry.invalidity_date else {
        return Ok(None);
    };
    let when = GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(
        u64::try_from(seconds).unwrap_or(0),
    ))?;
    Ok(Some(vec![Extension {
        extn_id: ID_CE_INVALIDITY_DATE,
        critical: false,
        extn_value: OctetString::new(when.to_der()?)?,
    }]))
}

/// The nonce extension to echo, if any. `Err` for a nonce outside RFC 8954's 1..=32 octets.
fn find_nonce(request: &OcspRequest) -> Result<Option<Extension>, ()> {
    let Some(extensions) = &request.tbs_request.request_extensions else {
        return Ok(None);
    };
    let Some(nonce) = extensions.iter().find(|e| e.extn_id == ID_PKIX_OCSP_NONCE) else {
        return Ok(None);
    };
    // RFC 6960 §4.4.1: extnValue holds an OCTET STRING; old clients put raw bytes there.
    let value_len = OctetString::from_der(nonce.extn_value.as_bytes())
        .map(|inner| inner.as_bytes().len())
        .unwrap_or(nonce.extn_value.as_bytes().len());
    if value_len == 0 || value_len > MAX_NONCE_BYTES {
        return Err(());
    }
    Ok(Some(Extension {
        extn_id: ID_PKIX_OCSP_NONCE,
        critical: false,
        extn_value: nonce.extn_value.clone(),
    }))
}

/// A request for one certificate without extensions or signature, as `openssl ocsp
/// -no_nonce` sends it.
fn single_request(cert_id: CertId) -> der::Result<Vec<u8>> {
    OcspRequest {
        tbs_request: x509_ocsp::TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![x509_ocsp::Request {
                req_cert: cert_id,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
}

#[cfg(test)]
mod tests {
    //! Why `x509-ocsp` does most of the work: the `ocsp` crate's gaps, each shown here.

    use super::*;

    /// A responder of a new CA over a store holding test records with these serials.
    fn responder_with(
        serials: &[&str],
    ) -> (
        tempfile::TempDir,
        Arc<OcspResponder>,
        Vec<crate::store::CertificateRecord>,
    ) {
        use crate::store::CertificateStore;
        let dir = tempfile::tempdir().unwrap();
        let data = crate::config::DataDir::new(dir.path().join("ca"));
        crate::ca::init(
            &data,
            &crate::ca::InitOptions::new("http://127.0.0.1:1".into()),
        )
        .unwrap();
        let ca = Arc::new(CertificateAuthority::load(&data, None).unwrap());
        let store = SledStore::temporary().unwrap();
        let records: Vec<_> = serials
            .iter()
            .map(|serial| {
                let record = crate::store::tests::record(serial, crate::model::Role::Buyer, 30);
                store
                    .record_issued(&record, crate::store::AuditEvent::new("issue", "t"))
                    .unwrap();
                record
            })
            .collect();
        let responder = OcspResponder::new(ca, Arc::new(store), Duration::hours(4), 1000).unwrap();
        (dir, Arc::new(responder), records)
    }

    /// A response signed from a status read before a revocation must not enter the
    /// cache after the revocation forgot the serial (it would serve "good" for hours).
    #[test]
    fn a_response_signed_before_a_status_change_is_not_cached_after_it() {
        let (_dir, responder, records) = responder_with(&["5a"]);
        let record = &records[0];
        let key = responder
            .default_cert_ids(&record.serial, 1)
            .into_iter()
            .next()
            .unwrap();
        let cert_id = CertId::from_der(&key).unwrap();
        // The race, step by step: read the epoch and sign (status: good)…
        let epoch = responder.epoch();
        let (answer, serial) = responder.sign(&[&cert_id], None).unwrap();
        let entry = Arc::new(cache::Cached::new(
            answer.clone(),
            OffsetDateTime::now_utc() + Duration::hours(2),
            serial.unwrap(),
            key.clone(),
        ));
        // …meanwhile the certificate is revoked and the cache told…
        responder.status_changed(&record.serial, 1);
        let before = responder.cached();
        // …and the old answer arrives late: refused.
        let cert_key = responder.cache_key(&cert_id).unwrap();
        assert!(!responder.cache_if_current(epoch, cert_key.clone(), entry.clone(), None));
        assert_eq!(responder.cached(), before);
        // Signed after the change, it is cached.
        assert!(responder.cache_if_current(responder.epoch(), cert_key, entry, None));
    }

    /// Issuance hands the certificate to the pre-signing thread and returns; the thread
    /// (at nice 19) signs the default answer soon after, and skips one that a client's
    /// first request already had signed.
    #[test]
    fn the_presigner_signs_after_issuance_off_the_calling_thread() {
        let (_dir, responder, records) = responder_with(&["6a", "6b"]);
        let presigner = responder.start_presigner().unwrap();
        let (first, second) = (&records[0], &records[1]);
        // A client asks before the thread gets there: signed on first use, then cached.
        let request = responder.default_request(&second.serial, 1).unwrap();
        assert!(responder.respond_cached(&request).is_none());
        assert!(responder.respond(&request).freshness.is_some());
        assert!(responder.is_presigned(&second.serial, 1));
        assert!(!responder.is_presigned(&first.serial, 1));
        presigner.issued(&first.serial, 1);
        presigner.issued(&second.serial, 1);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !responder.is_presigned(&first.serial, 1) {
            assert!(std::time::Instant::now() < deadline, "never pre-signed");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let cached = responder
            .respond_cached(&responder.default_request(&first.serial, 1).unwrap())
            .unwrap();
        let response = OcspResponse::from_der(&cached.der).unwrap();
        assert_eq!(
            response.response_status,
            x509_ocsp::OcspResponseStatus::Successful
        );
    }

    fn sha256_request_der() -> Vec<u8> {
        // Built with x509-ocsp to be certain of its shape, then compared to the fixture.
        let cert_id = CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1"),
                parameters: None,
            },
            issuer_name_hash: OctetString::new(vec![7u8; 32]).unwrap(),
            issuer_key_hash: OctetString::new(vec![9u8; 32]).unwrap(),
            serial_number: x509_cert::serial_number::SerialNumber::new(&[0x12, 0x34]).unwrap(),
        };
        single_request(cert_id).unwrap()
    }

    #[test]
    fn ocsp_crate_cannot_parse_sha256_cert_ids() {
        let der = sha256_request_der();
        assert!(x509_ocsp::OcspRequest::from_der(&der).is_ok());
        assert!(
            ::ocsp::request::OcspRequest::parse(&der).is_err(),
            "ocsp 0.4 knows only the SHA-1 hash OID"
        );
    }

    #[test]
    fn ocsp_crate_cannot_name_ecdsa_or_ed25519_signatures() {
        for oid in ["1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.3.101.112"] {
            assert!(
                ::ocsp::common::asn1::Oid::new_from_dot(oid).is_err(),
                "{oid}"
            );
        }
        assert!(::ocsp::common::asn1::Oid::new_from_dot("1.2.840.113549.1.1.11").is_ok());
    }

    #[test]
    fn ocsp_crate_panics_on_a_preferred_signature_algorithms_extension() {
        // RFC 6960 §4.4.7 extension in the request: the `ocsp` crate hits unimplemented!().
        let mut request = x509_ocsp::OcspRequest::from_der(&sha256_request_der()).unwrap();
        request.tbs_request.request_list[0].req_cert.hash_algorithm = AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.3.14.3.2.26"),
            parameters: Some(der::Any::from(Null)),
        };
        request.tbs_request.request_list[0]
            .req_cert
            .issuer_name_hash = OctetString::new(vec![1u8; 20]).unwrap();
        request.tbs_request.request_list[0].req_cert.issuer_key_hash =
            OctetString::new(vec![2u8; 20]).unwrap();
        request.tbs_request.request_extensions = Some(vec![Extension {
            extn_id: ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.8"),
            critical: false,
            extn_value: OctetString::new(vec![0x30, 0x00]).unwrap(),
        }]);
        let der = request.to_der().unwrap();
        let outcome = std::panic::catch_unwind(|| ::ocsp::request::OcspRequest::parse(&der));
        assert!(outcome.is_err(), "the ocsp crate is expected to panic here");
        assert!(x509_ocsp::OcspRequest::from_der(&der).is_ok());
    }

    #[test]
    fn ocsp_crate_error_responses_match_the_rfc() {
        // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } — 30 03 0a 01 <status>
        assert_eq!(
            malformed_request().der.as_ref(),
            [0x30, 0x03, 0x0a, 0x01, 0x01]
        );
        assert_eq!(
            *internal_error().der,
            OcspResponse::internal_error().to_der().unwrap()
        );
    }

    #[test]
    fn nonce_bounds() {
        let base = x509_ocsp::OcspRequest::from_der(&sha256_request_der()).unwrap();
        let with_nonce = |len: usize| {
            let mut r = base.clone();
            r.tbs_request.request_extensions = Some(vec![Extension {
                extn_id: ID_PKIX_OCSP_NONCE,
                critical: false,
                extn_value: OctetString::new(
                    OctetString::new(vec![5u8; len]).unwrap().to_der().unwrap(),
                )
                .unwrap(),
            }]);
            r
        };
        assert!(find_nonce(&with_nonce(1)).unwrap().is_some());
        assert!(find_nonce(&with_nonce(32)).unwrap().is_some());
        assert!(find_nonce(&with_nonce(33)).is_err());
        assert!(find_nonce(&with_nonce(0)).is_err());
        assert!(find_nonce(&base).unwrap().is_none());
    }
}
