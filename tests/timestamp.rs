//! The RFC 3161 time-stamping authority against the real `paypki serve`: `POST /tsa`
//! and `paypki timestamp`.
//!
//! Requests are made by `openssl ts -query`, replies read and verified by
//! `openssl ts -reply` / `openssl ts -verify` and by Python's `cryptography`
//! (`tests/py/check_tsa.py`, which checks the TSA certificate's profile, the chain by
//! signature, and the CMS signature over the signed attributes with its own DER reader).

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;

const QUERY: &str = "application/timestamp-query";

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `openssl ts -query -data FILE` with extra flags; returns the DER TimeStampReq.
fn query(ca: &TestCa, name: &str, data: &Path, flags: &[&str]) -> PathBuf {
    openssl_timestamp_query(data, flags, &ca.path(&format!("{name}.tsq")))
}

/// POSTs a request file; asserts HTTP 200 with the reply type and writes the reply.
fn ask(server: &TestServer<'_>, ca: &TestCa, name: &str, request: &[u8]) -> PathBuf {
    let response = server.post_bytes("/tsa", Some(QUERY), request);
    response.assert_status(200, "POST /tsa");
    assert_eq!(response.content_type(), "application/timestamp-reply");
    let out = ca.path(&format!("{name}.tsr"));
    std::fs::write(&out, &response.body).unwrap();
    out
}

/// `openssl ts -reply -in R -text`.
fn reply_text(reply: &Path) -> String {
    let output = openssl(&["ts", "-reply", "-in", path(reply), "-text"]);
    output.assert_success("openssl ts -reply -text");
    output.stdout_text()
}

/// The value after `label` on its line in openssl's text.
fn field(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {label:?} in\n{text}"))
}

/// `openssl ts -verify` with extra arguments (its outcome is the caller's to judge).
fn openssl_verify(args: &[&str]) -> std::process::Output {
    require_tools();
    run(std::process::Command::new("openssl")
        .args(["ts", "-verify"])
        .args(args))
}

/// Checks a reply's token over `data` with the root alone as the anchor, twice:
/// `openssl ts -verify` and tests/py/check_tsa.py; returns the latter's output (a JSON
/// summary of the token).
fn verify_with_root(ca: &TestCa, data: &Path, reply: &Path, what: &str) -> std::process::Output {
    openssl_verify(&[
        "-data",
        path(data),
        "-in",
        path(reply),
        "-CAfile",
        path(&ca.root_cert()),
    ])
    .assert_success(&format!("openssl ts -verify with the root only ({what})"));
    let python = run_python(
        "check_tsa.py",
        &[path(reply), path(&ca.root_cert()), path(data)],
    );
    python.assert_success(&format!("check_tsa.py ({what})"));
    python
}

/// The number of certificates in the reply's token.
fn token_certificates(ca: &TestCa, reply: &Path) -> usize {
    let token = ca.path("token-for-count.der");
    openssl(&[
        "ts",
        "-reply",
        "-in",
        path(reply),
        "-token_out",
        "-out",
        path(&token),
    ])
    .assert_success("openssl ts -reply -token_out");
    let output = openssl(&[
        "pkcs7",
        "-inform",
        "DER",
        "-in",
        path(&token),
        "-print_certs",
    ]);
    output.assert_success("openssl pkcs7 -print_certs");
    output
        .stdout_text()
        .matches("-----BEGIN CERTIFICATE-----")
        .count()
}

fn chain_file(ca: &TestCa) -> PathBuf {
    let chain = ca.path("chain.pem");
    std::fs::write(
        &chain,
        format!(
            "{}{}",
            read_text(&ca.root_cert()),
            read_text(&ca.issuing_cert())
        ),
    )
    .unwrap();
    chain
}

#[test]
fn openssl_requests_get_tokens_that_openssl_and_python_accept() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let data = ca.path("order.json");
    std::fs::write(&data, br#"{"order": 42, "amount": "10.00"}"#).unwrap();
    let chain = chain_file(&ca);
    let tsa_cert = ca.data_dir().join("certs/tsa.crt.pem");
    let mut serials = BTreeSet::new();
    for (name, flags) in [
        ("cert-nonce", vec!["-sha256", "-cert"]),
        ("cert-no-nonce", vec!["-sha256", "-cert", "-no_nonce"]),
        ("nocert-nonce", vec!["-sha256"]),
        ("nocert-no-nonce", vec!["-sha256", "-no_nonce"]),
        ("sha384", vec!["-sha384", "-cert"]),
        ("sha512", vec!["-sha512", "-cert"]),
    ] {
        let request = query(&ca, name, &data, &flags);
        let reply = ask(&server, &ca, name, &read_bytes(&request));
        let text = reply_text(&reply);
        assert_eq!(field(&text, "Status:"), "Granted.", "{name}: {text}");
        assert_eq!(field(&text, "Policy OID:"), "1.3.6.1.4.1.59001.2.1");
        assert!(
            field(&text, "Accuracy:").starts_with("0x01 seconds"),
            "{text}"
        );
        // The nonce is echoed, and absent when none was sent.
        let asked = openssl(&["ts", "-query", "-in", path(&request), "-text"]).stdout_text();
        assert_eq!(field(&text, "Nonce:"), field(&asked, "Nonce:"), "{name}");
        serials.insert(field(&text, "Serial number:"));
        // certReq honoured: the TSA certificate (and its issuing CA) iff asked.
        let with_cert = flags.contains(&"-cert");
        assert_eq!(
            token_certificates(&ca, &reply),
            if with_cert { 2 } else { 0 },
            "{name}"
        );
        // openssl ts -verify accepts it against the data and against the request.
        let mut extra = vec!["-CAfile", path(&chain)];
        if !with_cert {
            extra.extend_from_slice(&["-untrusted", path(&tsa_cert)]);
        }
        let mut by_data = vec!["-data", path(&data), "-in", path(&reply)];
        by_data.extend_from_slice(&extra);
        openssl_verify(&by_data).assert_success(&format!("openssl ts -verify -data ({name})"));
        let mut by_query = vec!["-queryfile", path(&request), "-in", path(&reply)];
        by_query.extend_from_slice(&extra);
        openssl_verify(&by_query)
            .assert_success(&format!("openssl ts -verify -queryfile ({name})"));
        if with_cert {
            // The token carries the issuing CA: the root alone anchors it.
            let python = verify_with_root(&ca, &data, &reply, name);
            let summary: serde_json::Value = serde_json::from_slice(&python.stdout).unwrap();
            assert_eq!(summary["policy"], "1.3.6.1.4.1.59001.2.1");
            assert_eq!(
                summary["serial"].as_str().unwrap().to_ascii_uppercase(),
                field(&text, "Serial number:").trim_start_matches("0x")
            );
        }
        // Other data does not verify.
        let other = ca.path("other.json");
        std::fs::write(&other, b"{\"order\": 43}").unwrap();
        let mut wrong = vec!["-data", path(&other), "-in", path(&reply)];
        wrong.extend_from_slice(&extra);
        let refused = openssl_verify(&wrong);
        assert!(
            !refused.status.success() && refused.stderr_text().contains("imprint mismatch"),
            "{name}: a token verified for other data"
        );
    }
    assert_eq!(serials.len(), 6, "serials repeat: {serials:?}");

    // The TSA certificate's profile (RFC 3161 §2.3), as openssl reads it.
    let text = openssl(&["x509", "-in", path(&tsa_cert), "-noout", "-text"]).stdout_text();
    assert!(
        text.contains("X509v3 Extended Key Usage: critical\n                Time Stamping\n"),
        "{text}"
    );
    assert!(
        text.contains("Digital Signature, Non Repudiation"),
        "{text}"
    );
    assert!(text.contains("CA:FALSE"), "{text}");
    openssl(&[
        "verify",
        "-CAfile",
        path(&ca.root_cert()),
        "-untrusted",
        path(&ca.issuing_cert()),
        "-purpose",
        "timestampsign",
        path(&tsa_cert),
    ])
    .assert_success("openssl verify -purpose timestampsign");

    // The requests are counted by outcome.
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("paypki_timestamps_total{outcome=\"granted\"} 6"),
        "{metrics}"
    );
    server.stop();
}

#[test]
fn bad_requests_get_the_rfc_failure_status_never_a_500() {
    use der::Encode;
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let data = ca.path("data.bin");
    std::fs::write(&data, b"payment 7").unwrap();

    let rejected = |name: &str, request: &[u8]| -> String {
        let reply = ask(&server, &ca, name, request);
        let text = reply_text(&reply);
        assert_eq!(field(&text, "Status:"), "Rejected.", "{name}: {text}");
        assert!(token_free(&reply), "{name}: a rejection carries no token");
        field(&text, "Failure info:")
    };

    // SHA-1: refused (badAlg), as is an algorithm the TSA does not know.
    let sha1 = query(&ca, "sha1", &data, &["-sha1", "-cert"]);
    assert_eq!(
        rejected("sha1", &read_bytes(&sha1)),
        "unrecognized or unsupported algorithm identifier"
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, b"payment 7");
    let custom = |oid: &str, digest: &[u8], policy: Option<&str>| -> Vec<u8> {
        paypki::tsp::TimeStampReq {
            version: paypki::tsp::TspVersion::V1,
            message_imprint: paypki::tsp::MessageImprint {
                hash_algorithm: x509_cert::spki::AlgorithmIdentifier {
                    oid: der::asn1::ObjectIdentifier::new_unwrap(oid),
                    parameters: None,
                },
                hashed_message: der::asn1::OctetString::new(digest).unwrap(),
            },
            req_policy: policy.map(der::asn1::ObjectIdentifier::new_unwrap),
            nonce: None,
            cert_req: true,
            extensions: None,
        }
        .to_der()
        .unwrap()
    };
    assert_eq!(
        rejected("unknown-oid", &custom("1.2.3.4.5", digest.as_ref(), None)),
        "unrecognized or unsupported algorithm identifier"
    );
    // A SHA-256 "digest" of 31 octets: the data is malformed (badDataFormat).
    assert_eq!(
        rejected(
            "short-digest",
            &custom("2.16.840.1.101.3.4.2.1", &digest.as_ref()[..31], None)
        ),
        "the data submitted has the wrong format"
    );
    // Another policy than the TSA's.
    let policy = query(&ca, "policy", &data, &["-sha256", "-tspolicy", "1.2.3.4"]);
    assert_eq!(
        rejected("policy", &read_bytes(&policy)),
        "the requested TSA policy is not supported by the TSA"
    );
    // The TSA's own policy is accepted when asked for.
    let own = custom(
        "2.16.840.1.101.3.4.2.1",
        digest.as_ref(),
        Some("1.3.6.1.4.1.59001.2.1"),
    );
    let reply = ask(&server, &ca, "own-policy", &own);
    assert_eq!(field(&reply_text(&reply), "Status:"), "Granted.");
    // Garbage, an empty body, a truncated request, trailing bytes.
    let good = read_bytes(&query(&ca, "good", &data, &["-sha256"]));
    let mut trailing = good.clone();
    trailing.push(0);
    for (name, body) in [
        ("garbage", b"this is not DER".to_vec()),
        ("empty", Vec::new()),
        ("truncated", good[..good.len() - 3].to_vec()),
        ("trailing", trailing),
    ] {
        assert_eq!(
            rejected(name, &body),
            "the data submitted has the wrong format",
            "{name}"
        );
    }

    // HTTP framing errors are problems: another Content-Type, an oversized body.
    server
        .post_bytes("/tsa", Some("application/octet-stream"), &good)
        .assert_problem(415, "unsupported-media-type", "POST /tsa as octet-stream");
    server.post_bytes("/tsa", None, &good).assert_problem(
        415,
        "unsupported-media-type",
        "POST /tsa without a type",
    );
    server
        .post_oversized("/tsa", QUERY, &vec![0x30; 200 * 1024])
        .assert_problem(413, "payload-too-large", "POST /tsa of 200 KiB");
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("paypki_timestamps_total{outcome=\"badAlg\"} 2"),
        "{metrics}"
    );
    assert!(!metrics.contains("status=\"500\""), "{metrics}");
    server.stop();
}

/// Whether a reply holds no token (`openssl ts -reply -token_out` then has nothing).
fn token_free(reply: &Path) -> bool {
    !reply_text(reply).contains("TST info:\nVersion")
}

#[test]
fn paypki_timestamp_gets_checks_and_writes_a_reply() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let data = ca.path("invoice.pdf");
    std::fs::write(&data, b"%PDF-1.4 an invoice").unwrap();
    let done = ca.paypki(&["timestamp", path(&data), "--url", server.url()]);
    done.assert_success("paypki timestamp");
    let written = ca.path("invoice.pdf.tsr");
    assert_eq!(done.stdout_text().trim(), path(&written));
    openssl_verify(&[
        "-data",
        path(&data),
        "-in",
        path(&written),
        "-CAfile",
        path(&ca.root_cert()),
    ])
    .assert_success("openssl ts -verify of paypki timestamp's reply");
    let text = reply_text(&written);
    assert_eq!(field(&text, "Hash Algorithm:"), "sha256");
    assert_ne!(field(&text, "Nonce:"), "unspecified");

    // --hash and --out; the root given with --ca-file.
    let out = ca.path("invoice.sha384.tsr");
    ca.paypki(&[
        "timestamp",
        path(&data),
        "--url",
        server.url(),
        "--hash",
        "sha384",
        "--out",
        path(&out),
        "--ca-file",
        path(&ca.root_cert()),
    ])
    .assert_success("paypki timestamp --hash sha384");
    assert_eq!(field(&reply_text(&out), "Hash Algorithm:"), "sha384");
    run_python(
        "check_tsa.py",
        &[path(&out), path(&ca.root_cert()), path(&data)],
    )
    .assert_success("check_tsa.py of paypki timestamp's reply");

    // Another CA's root does not anchor the reply: nothing is written, exit 1.
    let stranger = TestCa::new();
    let refused = ca.paypki(&[
        "timestamp",
        path(&data),
        "--url",
        server.url(),
        "--out",
        path(&ca.path("stranger.tsr")),
        "--ca-file",
        path(&stranger.root_cert()),
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr_text());
    assert!(
        refused.stderr_text().contains("not trusted"),
        "{}",
        refused.stderr_text()
    );
    assert!(!ca.path("stranger.tsr").exists());
    // Bad arguments: 2; no server: 3.
    let bad = ca.paypki(&[
        "timestamp",
        path(&data),
        "--url",
        server.url(),
        "--hash",
        "md5",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr_text());
    server.stop();
    let gone = ca.paypki(&["timestamp", path(&data), "--url", "http://127.0.0.1:9"]);
    assert_eq!(gone.status.code(), Some(3), "{}", gone.stderr_text());
}

#[test]
fn after_a_rollover_the_new_issuing_ca_has_its_own_tsa_and_old_tokens_still_verify() {
    let ca = TestCa::new();
    let data = ca.path("contract.txt");
    std::fs::write(&data, b"a contract").unwrap();
    let server = TestServer::start(&ca);
    let request = read_bytes(&query(&ca, "before", &data, &["-sha256", "-cert"]));
    let before = ask(&server, &ca, "before", &request);
    server.stop();
    ca.paypki(&["ca", "rollover"])
        .assert_success("paypki ca rollover");
    assert!(ca.data_dir().join("certs/tsa-2.crt.pem").is_file());
    let server = TestServer::start(&ca);
    let after = ask(&server, &ca, "after", &request);
    let token = ca.path("after-token.der");
    openssl(&[
        "ts",
        "-reply",
        "-in",
        path(&after),
        "-token_out",
        "-out",
        path(&token),
    ])
    .assert_success("openssl ts -reply -token_out");
    let certs = openssl(&[
        "pkcs7",
        "-inform",
        "DER",
        "-in",
        path(&token),
        "-print_certs",
    ])
    .stdout_text();
    assert!(
        certs.contains("Time-Stamping Authority 2") && certs.contains("Issuing CA 2"),
        "{certs}"
    );
    for reply in [&before, &after] {
        openssl_verify(&[
            "-data",
            path(&data),
            "-in",
            path(reply),
            "-CAfile",
            path(&ca.root_cert()),
        ])
        .assert_success("openssl ts -verify across a rollover");
    }
    server.stop();
}

/// Tokens of CAs with other key types pass `openssl ts -verify` too: a P-384 CA's TSA
/// signs with P-384 and SHA-384; an Ed25519 CA's TSA has a P-256 key, because OpenSSL's
/// `ts -verify` cannot check an Ed25519 SignedData.
#[test]
fn p384_and_ed25519_cas_tokens_pass_openssl() {
    for (algorithm, tsa_key) in [("ecdsa-p384", "secp384r1"), ("ed25519", "prime256v1")] {
        let ca = TestCa::init(&["--key-alg", algorithm], &[]);
        let tsa_cert = ca.data_dir().join("certs/tsa.crt.pem");
        let text = openssl(&["x509", "-in", path(&tsa_cert), "-noout", "-text"]).stdout_text();
        assert!(text.contains(tsa_key), "{algorithm}: {text}");
        let server = TestServer::start(&ca);
        let data = ca.path("data.txt");
        std::fs::write(&data, algorithm.as_bytes()).unwrap();
        let request = query(&ca, algorithm, &data, &["-sha256", "-cert"]);
        let reply = ask(&server, &ca, algorithm, &read_bytes(&request));
        verify_with_root(&ca, &data, &reply, &format!("a {algorithm} CA's token"));
        server.stop();
    }
}
