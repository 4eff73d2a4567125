//! CRLs. Each issuing CA's CRL is built from the compact revocation tree, numbered from a
//! durable monotonic counter, signed by that CA, and kept in memory for
//! `GET /crl/issuing.crl` (CA 1) and `GET /crl/issuing-N.crl`. The root's CRL is signed
//! offline (the server never holds the root key): the server publishes the one in the
//! data directory, picks up a newer one dropped there or posted to the admin API after
//! checking it, and takes the issuing CAs it lists as revoked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use time::{Duration, OffsetDateTime};

use crate::ca::{CaError, CertificateAuthority, RootCrlInfo};
use crate::config::DataDir;
use crate::store::{StoreError, StoredCrl};

/// Why a CRL could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    /// Signing failed.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// Reading revocations or the counter failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A root CRL offered for publication is not signed by this CA's root, or unusable.
    #[error("{0}")]
    Invalid(String),
    /// A root CRL offered for publication is not newer than the published one.
    #[error("the root CRL has cRLNumber {offered}, but number {current} is already published: a new CRL must have a higher number")]
    NotNewer {
        /// The offered CRL's number.
        offered: u64,
        /// The published CRL's number.
        current: u64,
    },
    /// Writing the published root CRL failed.
    #[error("cannot save the root CRL: {0}")]
    Io(String),
}

impl CrlError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind as K;
        match self {
            CrlError::Invalid(_) => K::BadCrl,
            CrlError::NotNewer { .. } => K::CrlNotNewer,
            CrlError::Ca(e) => e.kind(),
            CrlError::Store(e) => e.kind(),
            CrlError::Io(_) => K::Internal,
        }
    }
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

/// Builds and holds the current CRL of every issuing CA.
#[derive(Debug)]
pub struct CrlPublisher {
    ca: Arc<CertificateAuthority>,
    store: crate::store::SharedStore,
    validity: Duration,
    current: RwLock<HashMap<u32, Arc<PublishedCrl>>>,
}

/// The counter that numbers issuing CA `id`'s CRLs (CA 1 keeps the first version's name).
pub fn issuing_crl_counter(id: u32) -> String {
    if id <= 1 {
        "crl:issuing".into()
    } else {
        format!("crl:issuing-{id}")
    }
}

impl CrlPublisher {
    /// A publisher whose CRLs are valid for `validity` (nextUpdate − thisUpdate).
    pub fn new(
        ca: Arc<CertificateAuthority>,
        store: crate::store::SharedStore,
        validity: Duration,
    ) -> Self {
        CrlPublisher {
            ca,
            store,
            validity,
            current: RwLock::new(HashMap::new()),
        }
    }

    /// Builds, signs and publishes a new CRL (next cRLNumber) for every issuing CA. A CA
    /// whose CRL fails keeps its previous one; the first error is returned after all
    /// were tried.
    ///
    /// Each CRL is saved in the store before it is served, so that every node sharing
    /// the database serves the newest one; when another node saved a newer one
    /// meanwhile, that one is served instead.
    pub fn regenerate(&self) -> Result<Vec<(u32, Arc<PublishedCrl>)>, CrlError> {
        let mut published = Vec::new();
        let mut first_error = None;
        for issuer in self.ca.issuers() {
            let outcome = build(&self.ca, &*self.store, issuer.id(), self.validity)
                .and_then(|crl| self.keep(issuer.id(), crl));
            match outcome {
                Ok(crl) => published.push((issuer.id(), crl)),
                Err(e) => {
                    tracing::error!(issuer = issuer.id(), error = %e, "CRL generation failed; the previous CRL stays published");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(published),
        }
    }

    /// Saves a freshly signed CRL for every node and serves it, unless the store holds a
    /// newer one (then that one is served).
    fn keep(&self, issuer: u32, crl: PublishedCrl) -> Result<Arc<PublishedCrl>, CrlError> {
        let stored = StoredCrl {
            number: crl.number,
            this_update: crl.this_update,
            next_update: crl.next_update,
            entries: u64::try_from(crl.entries).unwrap_or(u64::MAX),
            der: crl.der.to_vec(),
        };
        if self.store.save_crl(issuer, &stored)? {
            let crl = Arc::new(crl);
            self.serve(issuer, crl.clone());
            Ok(crl)
        } else {
            self.reload(issuer)?;
            Ok(self.current(issuer).unwrap_or_else(|| Arc::new(crl)))
        }
    }

    fn serve(&self, issuer: u32, crl: Arc<PublishedCrl>) {
        if let Ok(mut current) = self.current.write() {
            let newer = current
                .get(&issuer)
                .is_none_or(|served| served.number < crl.number);
            if newer {
                current.insert(issuer, crl);
            }
        }
    }

    /// Serves the newest CRL of issuing CA `issuer` from the store when it is newer than
    /// the one served (another node published it). Returns whether it changed.
    pub fn reload(&self, issuer: u32) -> Result<bool, CrlError> {
        let Some(stored) = self.store.latest_crl(issuer)? else {
            return Ok(false);
        };
        let served = self.current(issuer).map(|c| c.number);
        if served.is_some_and(|n| n >= stored.number) {
            return Ok(false);
        }
        self.serve(
            issuer,
            Arc::new(PublishedCrl {
                der: Arc::new(stored.der),
                number: stored.number,
                this_update: stored.this_update,
                next_update: stored.next_update,
                entries: usize::try_from(stored.entries).unwrap_or(usize::MAX),
            }),
        );
        Ok(true)
    }

    /// Publishes new CRLs unless every issuing CA's stored CRL was made after `since`
    /// (by this node or another one sharing the database) and is still fresh: how
    /// several nodes avoid signing a CRL each for the same change. Returns what was newly
    /// published by this node.
    pub fn regenerate_unless_newer(
        &self,
        since: OffsetDateTime,
        refresh: Duration,
    ) -> Result<Vec<(u32, Arc<PublishedCrl>)>, CrlError> {
        let now = OffsetDateTime::now_utc();
        let mut current = true;
        for issuer in self.ca.issuers() {
            self.reload(issuer.id())?;
            let fresh = self.current(issuer.id()).is_some_and(|crl| {
                // thisUpdate has whole seconds: only a later second proves the CRL was
                // built after the change.
                crl.this_update > since && now - crl.this_update < refresh
            });
            current &= fresh;
        }
        if current {
            return Ok(Vec::new());
        }
        self.regenerate()
    }

    /// The CRL being served for issuing CA `id`, if one was built.
    pub fn current(&self, id: u32) -> Option<Arc<PublishedCrl>> {
        self.current.read().ok().and_then(|c| c.get(&id).cloned())
    }
}

/// The smallest cRLNumber a CRL with this thisUpdate may carry: thisUpdate in Unix
/// seconds × 1000 (after Let's Encrypt's Boulder, which numbers CRLs by thisUpdate).
///
/// A stored counter alone repeats its numbers after a restore from a backup, which
/// RFC 5280 §5.2.3 forbids ("monotonically increasing"), and relying parties that cache
/// by number (or by the ETag made from it) would keep an old CRL. The clock does not go
/// back with the data directory, and the counter adds one for each further CRL within
/// the same second, so up to 1000 CRLs a second stay ordered across a restore (the
/// publisher makes a few at most: changes within half a second share one). Today's values are about 1.8 × 10^12, 6 octets: far within
/// the 20 octets §5.2.3 allows, and within u64 for millions of years.
pub fn crl_number_floor(this_update: OffsetDateTime) -> u64 {
    u64::try_from(this_update.unix_timestamp())
        .unwrap_or(0)
        .saturating_mul(1000)
}

/// Entries handed from the scanning thread to the encoding one at a time: large enough
/// that the channel costs nothing per entry, small enough to stay in cache.
const BATCH: usize = 4096;

/// Revoked entries in scan order, their serials packed in one buffer.
#[derive(Default)]
struct Batch {
    serials: Vec<u8>,
    entries: Vec<(usize, crate::store::RevokedEntry)>,
}

/// Builds and signs issuing CA `id`'s CRL: every revoked, unexpired certificate it
/// issued, streamed from the store's compact revocation tree into the encoder.
///
/// The entries are encoded and checked on a second thread while this one scans the
/// store: with a million entries the scan (sled's pages and their keys) takes as long
/// as the rest together, and a CA host has more than one core. Batches keep the scan order,
/// and at most a few are in flight, so memory stays that of the CRL itself.
pub fn build<S: crate::store::CrlSource + Sync + ?Sized>(
    ca: &CertificateAuthority,
    store: &S,
    id: u32,
    validity: Duration,
) -> Result<PublishedCrl, CrlError> {
    let this_update = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let now = this_update.unix_timestamp();
    // The number is taken (durably) before signing, so it never repeats even if we crash;
    // and it is at least thisUpdate in milliseconds, so it never goes back either, not
    // even after the data directory (and with it the counter) was restored from a backup.
    let number = store.take_number(&issuing_crl_counter(id), crl_number_floor(this_update))?;
    let next_update = this_update + validity;
    let (signed, scanned) = std::thread::scope(|scope| {
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Batch>(4);
        // Emptied batches go back to the scanner, so their buffers are reused.
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Batch>();
        // The encoder (and signer) is the spawned thread and the scan stays on this one:
        // sled's many short-lived allocations then stay in this thread's malloc arena
        // (as before there was a second thread), rather than leaving a second arena
        // holding tens of MiB it freed.
        let encoder = scope.spawn(move || {
            ca.sign_crl(id, number, this_update, next_update, &mut |writer| {
                for mut batch in full_rx.iter() {
                    let mut serials = batch.serials.as_slice();
                    for (len, entry) in &batch.entries {
                        // The scanner packed exactly these lengths.
                        let Some((serial, rest)) = serials.split_at_checked(*len) else {
                            break;
                        };
                        serials = rest;
                        writer.push(
                            serial,
                            entry.revoked_at,
                            Some(entry.reason),
                            entry.invalidity_date,
                        );
                    }
                    // Checked now, while the scan goes on, rather than all at the end.
                    writer.check_written();
                    batch.serials.clear();
                    batch.entries.clear();
                    // The scanner may be done; then the buffer is simply dropped.
                    let _ = empty_tx.send(batch);
                }
            })
            // `full_rx` goes here: a scan still running sees the channel closed when
            // signing failed before taking every entry.
        });
        let mut batch = Batch::default();
        // Set when the encoder stopped listening (signing failed): the scan then only
        // runs out.
        let mut stopped = false;
        let scanned = store.visit_revoked(&mut |serial, entry| {
            // RFC 5280 §3.3: an entry may be removed once the certificate has expired.
            if stopped || entry.issuer != id || entry.not_after < now {
                return;
            }
            batch.entries.push((serial.len(), entry));
            batch.serials.extend_from_slice(serial);
            if batch.entries.len() >= BATCH {
                let next = empty_rx.try_recv().unwrap_or_default();
                stopped = full_tx.send(std::mem::replace(&mut batch, next)).is_err();
            }
        });
        if !batch.entries.is_empty() && !stopped {
            // A closed channel means the encoder failed, which it reports.
            let _ = full_tx.send(batch);
        }
        // Ends the encoder's loop: every entry was sent.
        drop(full_tx);
        let signed = encoder
            .join()
            .unwrap_or_else(|_| Err(crate::ca::CaError::Build("the CRL encoder panicked".into())));
        (signed, scanned)
    });
    let (der, entries) = signed?;
    scanned?;
    Ok(PublishedCrl {
        der: Arc::new(der),
        number,
        this_update,
        next_update,
        entries,
    })
}

/// A root CRL the server newly published.
#[derive(Debug, Clone, Copy)]
pub struct RootCrlChange {
    /// Its cRLNumber.
    pub number: u64,
    /// Whether it revoked an issuing CA that was good until now (status caches must go).
    pub issuers_revoked: bool,
}

/// Publishes the root's CRL, which is signed offline: the one in the data directory at
/// start, a newer one dropped there later (`poll`), or one posted by an administrator
/// (`publish`). Each is checked (signed by our root, a higher cRLNumber) before it is
/// served, and the issuing CAs it lists are taken as revoked.
#[derive(Debug)]
pub struct RootCrlPublisher {
    ca: Arc<CertificateAuthority>,
    dir: DataDir,
    current: RwLock<Option<Arc<PublishedCrl>>>,
    /// The file's (modification time, length) when last read: a poll skips an unchanged file.
    seen: Mutex<Option<(std::time::SystemTime, u64)>>,
}

impl RootCrlPublisher {
    /// A publisher for the data directory's root CRL; nothing is read yet (see `poll`).
    pub fn new(ca: Arc<CertificateAuthority>, dir: DataDir) -> Self {
        RootCrlPublisher {
            ca,
            dir,
            current: RwLock::new(None),
            seen: Mutex::new(None),
        }
    }

    /// The root CRL being served, if there is one.
    pub fn current(&self) -> Option<Arc<PublishedCrl>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// Reads the data directory's root CRL if the file changed since the last look and
    /// serves it if it checks out and is newer. Returns what was newly published, if
    /// anything.
    pub fn poll(&self) -> Result<Option<RootCrlChange>, CrlError> {
        let path = self.dir.root_crl_file();
        let stamp = match std::fs::metadata(&path) {
            Ok(meta) => (meta.modified().unwrap_or(std::time::UNIX_EPOCH), meta.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CrlError::Io(format!("{}: {e}", path.display()))),
        };
        if let Ok(mut seen) = self.seen.lock() {
            if *seen == Some(stamp) {
                return Ok(None);
            }
            *seen = Some(stamp);
        }
        let der =
            std::fs::read(&path).map_err(|e| CrlError::Io(format!("{}: {e}", path.display())))?;
        let info = RootCrlInfo::parse(der, self.ca.root())
            .map_err(|e| CrlError::Invalid(format!("{}: {e}", path.display())))?;
        if let Some(current) = self.current() {
            if info.number <= current.number {
                return Ok(None);
            }
        }
        let number = info.number;
        let issuers_revoked = self.serve(info);
        Ok(Some(RootCrlChange {
            number,
            issuers_revoked,
        }))
    }

    /// Publishes a root CRL made elsewhere (the offline root machine): it must be signed
    /// by our root and have a higher cRLNumber than the published one. It is saved in the
    /// data directory (durably) before it is served.
    pub fn publish(&self, der: Vec<u8>) -> Result<Arc<PublishedCrl>, CrlError> {
        let info = RootCrlInfo::parse(der, self.ca.root())
            .map_err(|e| CrlError::Invalid(e.to_string()))?;
        if let Some(current) = self.current() {
            if info.number <= current.number {
                return Err(CrlError::NotNewer {
                    offered: info.number,
                    current: current.number,
                });
            }
        }
        save_durably(&self.dir.root_crl_file(), &info.der)
            .map_err(|e| CrlError::Io(e.to_string()))?;
        self.serve(info);
        self.current()
            .ok_or_else(|| CrlError::Io("the root CRL could not be kept in memory".into()))
    }

    fn serve(&self, info: RootCrlInfo) -> bool {
        let changed = self.ca.apply_root_crl(&info.revoked);
        let published = Arc::new(PublishedCrl {
            entries: info.revoked.len(),
            der: Arc::new(info.der),
            number: info.number,
            this_update: info.this_update,
            next_update: info.next_update,
        });
        tracing::info!(
            crl_number = published.number,
            entries = published.entries,
            "root CRL published"
        );
        if let Ok(mut current) = self.current.write() {
            *current = Some(published);
        }
        changed
    }
}

fn save_durably(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
