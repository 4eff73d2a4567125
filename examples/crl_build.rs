//! Times the issuing CA's CRL generation inside a running process (what `paypki serve`
//! does after each revocation), apart from opening the database: for `scripts/bench`.
//! Prints JSON: seconds, entries, bytes, and the resident-memory high-water mark before
//! and after.
//!
//! `cargo run --release --example crl_build -- DATA_DIR`
#![forbid(unsafe_code)]

use std::path::PathBuf;

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

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir =
        paypki::config::DataDir::new(PathBuf::from(std::env::args().nth(1).ok_or("DATA_DIR")?));
    let ca = paypki::ca::CertificateAuthority::load(&dir, None)?;
    let store = paypki::store::SledStore::open(&dir.database())?;
    let before_hwm = high_water_kib();
    let before_rss = resident_kib();
    let started = std::time::Instant::now();
    let crl = paypki::crl::build(&ca, &store, 1, time::Duration::hours(24))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"seconds\": {seconds:.3}, \"entries\": {}, \"bytes\": {}, \"rss_before_kib\": {before_rss}, \"hwm_before_kib\": {before_hwm}, \"hwm_after_kib\": {}}}",
        crl.entries,
        crl.der.len(),
        high_water_kib()
    );
    Ok(())
}
