//! ring's single-core ECDSA P-256 rates, for `scripts/bench`: the physical limit the
//! verification service is compared with. Prints JSON.
//!
//! `cargo run --release --example ring_rate -- [seconds]`
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1,
    ECDSA_P256_SHA256_ASN1_SIGNING,
};

fn rate(seconds: f64, mut work: impl FnMut()) -> f64 {
    let deadline = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < deadline {
        for _ in 0..64 {
            work();
        }
        count += 64;
    }
    count as f64 / start.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| "keygen")?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| "key")?;
    let message = b"{\"amount\":\"10.00\",\"currency\":\"EUR\",\"merchant\":\"M1234567\"}";
    let signature = key.sign(&rng, message).map_err(|_| "sign")?;
    let public =
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key.public_key().as_ref().to_vec());
    let verify = rate(seconds, || {
        let _ = std::hint::black_box(public.verify(message, signature.as_ref()));
    });
    let sign = rate(seconds, || {
        let _ = std::hint::black_box(key.sign(&rng, message));
    });
    println!("{{\"verify_per_core\": {verify:.0}, \"sign_per_core\": {sign:.0}}}");
    Ok(())
}
