//! Fills a paypki data directory with many certificate records, for `scripts/bench`
//! (memory with a million certificates; CRLs with 100,000 and 1,000,000 entries). Uses
//! the store's bulk import; every record carries a real certificate's DER: the issuing
//! CA's, with its serial's octets replaced by random ones, so that each certificate is
//! distinct (as issued ones are: the transparency log indexes each by its leaf hash).
//!
//! Prints JSON: the records imported and the seconds it took, the database's size on
//! disk after the store is closed (`db_bytes`, and per certificate next to the DER's
//! size), this process's peak resident memory, and how long the first reopen takes
//! (sled replays the log written since its last open; that open leaves a snapshot, so
//! the `paypki crl` that follows measures a settled database).
//!
//! `cargo run --release --example load_store -- DATA_DIR COUNT REVOKED_FRACTION [SERIALS_FILE]`
//! (SERIALS_FILE receives the serials, hex, one per line, for the peers' CRL inputs).
#![forbid(unsafe_code)]

use std::path::PathBuf;

use paypki::config::DataDir;
use paypki::model::{CertificateStatus, Role, Serial};
use paypki::store::{CertificateRecord, IssuancePath, RevocationRecord, SledStore};
use time::{Duration, OffsetDateTime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = DataDir::new(PathBuf::from(args.next().ok_or("DATA_DIR")?));
    let count: usize = args.next().ok_or("COUNT")?.parse()?;
    let revoked_fraction: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0.0);
    let serials_file = args.next().map(PathBuf::from);
    if !dir.is_initialized() {
        paypki::ca::init(
            &dir,
            &paypki::ca::InitOptions::new("http://127.0.0.1:8080".into()),
        )?;
    }
    let store = SledStore::open(&dir.database())?;
    let template = std::fs::read_to_string(dir.cert_file("issuing"))?;
    let der = pem::parse(template)?.into_contents();
    let serial_at = serial_position(&der)?;
    let rng = ring::rand::SystemRandom::new();
    let now = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    let every = if revoked_fraction > 0.0 {
        (1.0 / revoked_fraction).round().max(1.0) as usize
    } else {
        usize::MAX
    };
    let started = std::time::Instant::now();
    let serials = (0..count)
        .map(|_| Serial::random(&rng))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "the system random generator failed")?;
    if let Some(path) = &serials_file {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for serial in &serials {
            writeln!(out, "{serial}")?;
        }
    }
    let records = serials.into_iter().enumerate().map(|(i, serial)| {
        let revoked = i % every == 0;
        let mut der = der.clone();
        if let Some(octets) = der.get_mut(serial_at.clone()) {
            // The first octet stays (a positive INTEGER stays positive and minimal).
            if let Some(rest) = octets.get_mut(1..) {
                let _ = ring::rand::SecureRandom::fill(&rng, rest);
            }
        }
        CertificateRecord {
            serial,
            role: Role::ALL.get(i % 4).copied().unwrap_or(Role::Buyer),
            subject: format!("CN=participant {i},O=Load Test"),
            subject_alt_names: Vec::new(),
            key: "ecdsa-p256".into(),
            not_before: now - Duration::minutes(5),
            not_after: now + Duration::days(365),
            issued_at: now,
            requested_via: IssuancePath::Enroll,
            status: if revoked {
                CertificateStatus::Revoked
            } else {
                CertificateStatus::Good
            },
            revocation: revoked.then(|| RevocationRecord {
                reason: "keyCompromise".into(),
                revoked_at: now,
                invalidity_date: None,
            }),
            fingerprint_sha256: String::new(),
            issuer: 1,
            parent: None,
            participant: None,
            der,
        }
    });
    let imported = store.import_records(records, "load_store")?;
    let seconds = started.elapsed().as_secs_f64();
    drop(store);
    let db_bytes = dir_bytes(&dir.database())?;
    let reopened = std::time::Instant::now();
    drop(SledStore::open(&dir.database())?);
    let reopen_seconds = reopened.elapsed().as_secs_f64();
    let per_certificate = db_bytes as f64 / imported.max(1) as f64;
    println!(
        "{{\"imported\": {imported}, \"seconds\": {seconds:.1}, \"db_bytes\": {db_bytes}, \"bytes_per_certificate\": {per_certificate:.0}, \"der_bytes\": {}, \"peak_rss_kib\": {}, \"reopen_seconds\": {reopen_seconds:.2}}}",
        der.len(),
        high_water_kib()
    );
    Ok(())
}

/// Where the serial's octets are in a certificate's DER.
fn serial_position(der: &[u8]) -> Result<std::ops::Range<usize>, Box<dyn std::error::Error>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)?;
    let serial = cert.raw_serial();
    // The serial is the TBS's first INTEGER after the version: its first occurrence.
    let start = der
        .windows(serial.len())
        .position(|w| w == serial)
        .ok_or("the serial is not in the DER")?;
    Ok(start..start + serial.len())
}

/// Bytes of the files under `path` (what `du -b` counts, less the directories).
fn dir_bytes(path: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// This process's peak resident memory (VmHWM), in KiB.
fn high_water_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
