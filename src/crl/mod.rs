//! The issuing CA's CRL: built from the compact revocation tree, numbered from a durable
//! monotonic counter, signed by the CA, and kept in memory for `GET /crl/issuing.crl`.

use std::sync::{Arc, RwLock};

use time::{Duration, OffsetDateTime};

use crate::ca::{CaError, CertificateAuthority};
use crate::store::{RevocationStore, SledStore, StoreError};

/// Why a CRL could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    /// Signing failed.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// Reading revocations or the counter failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A signed CRL and what HTTP caching needs to know about it.
#[derive(Debug, Clone)]
pub struct PublishedCrl {
    /// DER.
    pub der: Arc<Vec<u8>>,
    /// cRLNumber.
    pub number: u64,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    pub next_update: OffsetDateTime,
    /// Number of entries.
    pub entries: usize,
}

/// Builds and holds the current CRL.
#[derive(Debug)]
pub struct CrlPublisher {
    ca: Arc<CertificateAuthority>,
    store: SledStore,
    validity: Duration,
    current: RwLock<Option<Arc<PublishedCrl>>>,
}

/// The counter that numbers the issuing CA's CRLs.
pub const ISSUING_CRL_COUNTER: &str = "crl:issuing";
/// The counter that numbers the root's CRLs.
pub const ROOT_CRL_COUNTER: &str = "crl:root";

impl CrlPublisher {
    /// A publisher whose CRLs are valid for `validity` (nextUpdate − thisUpdate).
    pub fn new(ca: Arc<CertificateAuthority>, store: SledStore, validity: Duration) -> Self {
        CrlPublisher {
            ca,
            store,
            validity,
            current: RwLock::new(None),
        }
    }

    /// Builds, signs and publishes a new CRL with the next cRLNumber.
    pub fn regenerate(&self) -> Result<Arc<PublishedCrl>, CrlError> {
        let crl = Arc::new(build(&self.ca, &self.store, self.validity)?);
        if let Ok(mut current) = self.current.write() {
            *current = Some(crl.clone());
        }
        Ok(crl)
    }

    /// The CRL being served, if one was built.
    pub fn current(&self) -> Option<Arc<PublishedCrl>> {
        self.current.read().ok().and_then(|c| c.clone())
    }
}

/// Builds and signs a CRL of every revoked, unexpired certificate, streaming entries from
/// the store's compact revocation tree into the encoder.
pub fn build(
    ca: &CertificateAuthority,
    store: &SledStore,
    validity: Duration,
) -> Result<PublishedCrl, CrlError> {
    let this_update = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let now = this_update.unix_timestamp();
    // The number is taken (durably) before signing, so it never repeats even if we crash.
    let number = store.next_counter(ISSUING_CRL_COUNTER)?;
    let next_update = this_update + validity;
    let mut scan_error = None;
    let (der, entries) = ca.sign_crl(number, this_update, next_update, &mut |writer| {
        let result = store.for_each_revoked(&mut |serial, entry| {
            // RFC 5280 §3.3: an entry may be removed once the certificate has expired.
            if entry.not_after >= now {
                writer.push(
                    serial,
                    entry.revoked_at,
                    Some(entry.reason),
                    entry.invalidity_date,
                );
            }
        });
        if let Err(e) = result {
            scan_error = Some(e);
        }
    })?;
    if let Some(e) = scan_error {
        return Err(e.into());
    }
    Ok(PublishedCrl {
        der: Arc::new(der),
        number,
        this_update,
        next_update,
        entries,
    })
}
