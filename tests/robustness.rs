//! Bad input never crashes paypki: every parser that sees untrusted bytes is fed thousands
//! of mutations of valid inputs (bit flips, truncations, insertions, splices). Each call
//! must return (an error is fine); the OCSP responder must always answer a well-formed
//! OCSPResponse. Deterministic: a fixed-seed generator, so a failure reproduces.

// Test helpers: a failed unwrap or an index out of bounds here is a test bug, reported as one.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use der::{Decode, Encode};
use paypki::names::{SubjectAltName, SubjectName};

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// How many mutations per input: `ROBUSTNESS_SCALE=100` runs a hundred times more.
fn iterations(base: usize) -> usize {
    base * std::env::var("ROBUSTNESS_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// One random mutation of `input`.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        if out.is_empty() {
            out.push(rng.next() as u8);
            continue;
        }
        let at = rng.below(out.len());
        match rng.below(6) {
            0 => out[at] ^= 1 << rng.below(8),
            1 => out[at] = rng.next() as u8,
            2 => out.truncate(at),
            3 => out.insert(at, rng.next() as u8),
            4 => {
                // Lengths are where DER parsers break: set a byte to a long-form length.
                out[at] = [0x81, 0x82, 0x84, 0xff, 0x80][rng.below(5)];
            }
            _ => {
                let from = rng.below(out.len());
                let len = rng.below(16).min(out.len() - from);
                let chunk: Vec<u8> = out[from..from + len].to_vec();
                out.splice(at..at, chunk);
            }
        }
    }
    out
}

fn csr_der(alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
    let key = rcgen::KeyPair::generate_for(alg).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["pay.example".to_string()]).unwrap();
    params.distinguished_name = "CN=Gateway,O=Pay"
        .parse::<SubjectName>()
        .unwrap()
        .to_rcgen()
        .unwrap();
    params.serialize_request(&key).unwrap().der().to_vec()
}

#[test]
fn csr_parser_survives_mutations() {
    let mut rng = Rng(0x5eed_0001);
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ED25519,
    ] {
        let valid = csr_der(alg);
        assert!(paypki::ra::csr::parse(&valid).is_ok());
        let mut accepted = 0;
        for _ in 0..iterations(3000) {
            let input = mutate(&mut rng, &valid);
            if paypki::ra::csr::parse(&input).is_ok() {
                accepted += 1;
            }
        }
        // A signed CSR survives only mutations outside what the signature covers.
        assert!(
            accepted < 3000,
            "every mutation was accepted: the signature is not checked"
        );
    }
}

#[test]
fn key_and_name_parsers_survive_mutations() {
    let mut rng = Rng(0x5eed_0002);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
    for _ in 0..iterations(5000) {
        let _ = paypki::model::PublicKey::from_spki_der(&mutate(&mut rng, &spki));
    }
    let texts = [
        "CN=Shop\\, Inc,O=Shop,C=DE,serialNumber=M12345678",
        "dns:pay.example.com",
        "0a1b2c3d4e5f",
    ];
    for _ in 0..iterations(5000) {
        for text in texts {
            let bytes = mutate(&mut rng, text.as_bytes());
            let text = String::from_utf8_lossy(&bytes);
            let _ = SubjectName::from_str(&text);
            let _ = SubjectAltName::from_str(&text);
            let _ = paypki::model::Serial::from_str(&text);
            let _ = paypki::model::RevocationReason::from_str(&text);
        }
    }
}

#[test]
fn policy_parser_survives_mutations() {
    let mut rng = Rng(0x5eed_0003);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/gateway.toml");
    let text = std::fs::read(&path).unwrap();
    for _ in 0..iterations(2000) {
        let bytes = mutate(&mut rng, &text);
        let _ = paypki::ra::Profile::parse(
            &path,
            &String::from_utf8_lossy(&bytes),
            paypki::model::Role::Gateway,
        );
    }
}

#[test]
fn cms_parser_survives_mutations() {
    let mut rng = Rng(0x5eed_0004);
    // `openssl cms -sign -binary -in <"message"> -signer <self-signed P-256> -outform DER`:
    // a detached SignedData with signed attributes and the signer's certificate.
    let valid = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/detached.p7s"),
    )
    .unwrap();
    let parsed = paypki::verify::cms::parse(&valid).unwrap();
    assert!(parsed.carried_signer().is_some());
    assert!(parsed
        .signed_bytes(b"message", paypki::model::KeyAlgorithm::EcdsaP256)
        .is_ok());
    for _ in 0..iterations(3000) {
        if let Ok(parsed) = paypki::verify::cms::parse(&mutate(&mut rng, &valid)) {
            let _ = parsed.carried_signer();
            for key in [
                paypki::model::KeyAlgorithm::EcdsaP256,
                paypki::model::KeyAlgorithm::Rsa,
            ] {
                let _ = parsed.signed_bytes(b"message", key);
            }
        }
    }
}

#[test]
fn ocsp_responder_answers_every_mutated_request() {
    let mut rng = Rng(0x5eed_0005);
    let dir = tempfile::tempdir().unwrap();
    let data = paypki::config::DataDir::new(dir.path().join("ca"));
    paypki::ca::init(
        &data,
        &paypki::ca::InitOptions::new("http://127.0.0.1:1".into()),
    )
    .unwrap();
    let ca = std::sync::Arc::new(paypki::ca::CertificateAuthority::load(&data, None).unwrap());
    let store = paypki::store::SledStore::temporary().unwrap();
    let responder = paypki::ocsp::OcspResponder::new(
        ca.clone(),
        std::sync::Arc::new(store),
        time::Duration::hours(1),
        1000,
    )
    .unwrap();

    // A valid SHA-1 request for a serial of our issuer, with a nonce.
    let issuing =
        x509_cert::Certificate::from_der(&ca.issuer(1).unwrap().certificate().der).unwrap();
    let name_hash = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &issuing.tbs_certificate.subject.to_der().unwrap(),
    );
    let key_hash = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        issuing
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes(),
    );
    let request = x509_ocsp::OcspRequest {
        tbs_request: x509_ocsp::TbsRequest {
            version: x509_ocsp::Version::V1,
            requestor_name: None,
            request_list: vec![x509_ocsp::Request {
                req_cert: x509_ocsp::CertId {
                    hash_algorithm: spki::AlgorithmIdentifierOwned {
                        oid: der::asn1::ObjectIdentifier::new_unwrap("1.3.14.3.2.26"),
                        parameters: Some(der::Any::from(der::asn1::Null)),
                    },
                    issuer_name_hash: der::asn1::OctetString::new(name_hash.as_ref()).unwrap(),
                    issuer_key_hash: der::asn1::OctetString::new(key_hash.as_ref()).unwrap(),
                    serial_number: x509_cert::serial_number::SerialNumber::new(&[0x12, 0x34])
                        .unwrap(),
                },
                single_request_extensions: None,
            }],
            request_extensions: Some(vec![x509_cert::ext::Extension {
                extn_id: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2"),
                critical: false,
                extn_value: der::asn1::OctetString::new(
                    der::asn1::OctetString::new([7u8; 16])
                        .unwrap()
                        .to_der()
                        .unwrap(),
                )
                .unwrap(),
            }]),
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap();
    let answer = x509_ocsp::OcspResponse::from_der(&responder.respond(&request).der).unwrap();
    assert_eq!(
        answer.response_status,
        x509_ocsp::OcspResponseStatus::Successful
    );
    // The BasicOCSPResponse, assembled from encoded parts, decodes and re-encodes to the
    // same bytes, and carries exactly the responder certificate.
    let bytes = answer.response_bytes.unwrap().response;
    let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.as_bytes()).unwrap();
    assert_eq!(basic.to_der().unwrap(), bytes.as_bytes());
    let certs = basic.certs.unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(
        certs[0].to_der().unwrap(),
        ca.issuer(1).unwrap().responder().der
    );

    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..iterations(1500) {
        let input = mutate(&mut rng, &request);
        let der = responder.respond(&input).der;
        let parsed =
            x509_ocsp::OcspResponse::from_der(&der).expect("every answer is an OCSPResponse");
        *statuses
            .entry(format!("{:?}", parsed.response_status))
            .or_insert(0) += 1;
    }
    assert!(statuses.contains_key("MalformedRequest"), "{statuses:?}");
}
