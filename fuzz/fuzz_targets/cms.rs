//! A detached CMS / PKCS#7 signature (DER or PEM) as `/v1/verify` with `format: cms` and
//! `paypki verify --cms` read it: parsed, its signer looked for among the carried
//! certificates and the fixture's participants, the bytes it covers computed for each
//! key type, and, when it carries its signer, the signature checked with that key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paypki::model::{KeyAlgorithm, PublicKey};
use paypki::verify::cms;
use paypki_fuzz::world;

const KEYS: [KeyAlgorithm; 4] = [
    KeyAlgorithm::EcdsaP256,
    KeyAlgorithm::EcdsaP384,
    KeyAlgorithm::Ed25519,
    KeyAlgorithm::Rsa,
];

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = cms::parse(data) else {
        return;
    };
    for certificate in &world().participants {
        let _ = parsed.names_signer(certificate);
    }
    for key in KEYS {
        // The seeds sign "message".
        let _ = parsed.signed_bytes(b"message", key);
        let _ = parsed.signed_bytes(b"", key);
    }
    if let Some(signer) = parsed.carried_signer() {
        let Ok((_, certificate)) = x509_parser::parse_x509_certificate(signer) else {
            return;
        };
        if let Ok(key) = PublicKey::from_x509(certificate.public_key()) {
            if let Ok((covered, scheme)) = parsed.signed_bytes(b"message", key.algorithm()) {
                let _ = paypki::verify::verify_signature(&key, scheme, &covered, &parsed.signature);
            }
        }
    }
});
