//! Signed verification receipts from the real `paypki serve`: `/v1/verify` and
//! `/v1/verify/batch` with `"receipt": true`, checked offline by `paypki receipt verify`
//! and, independently, by `openssl ts -verify` over the document's bytes.

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{json, Value};

use common::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// A merchant enrolled with `paypki enroll`, and a message it signed with openssl.
struct Signed {
    serial: String,
    cert_pem: String,
    message: PathBuf,
    signature: Vec<u8>,
}

fn merchant_signs(server: &TestServer<'_>, ca: &TestCa, text: &[u8]) -> Signed {
    let token = server.create_token(
        "merchant",
        "CN=Receipt Shop,O=Receipt Shop Ltd,serialNumber=M1234567",
        &[],
        &[],
    );
    let (serial, dir) = server.enroll_cli(&token, "ecdsa-p256", "merchant");
    let message = ca.path("order.json");
    std::fs::write(&message, text).unwrap();
    let signature = ca.path("order.sig");
    openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        path(&dir.join("key.pem")),
        "-out",
        path(&signature),
        path(&message),
    ]);
    Signed {
        serial,
        cert_pem: read_text(&dir.join("cert.pem")),
        message,
        signature: read_bytes(&signature),
    }
}

/// `openssl ts -verify` of a receipt's token over a file holding the document's bytes.
fn openssl_checks_token(ca: &TestCa, receipt: &Value, name: &str, document: &[u8]) -> bool {
    let token = ca.path(&format!("{name}.token.der"));
    std::fs::write(
        &token,
        base64::engine::general_purpose::STANDARD
            .decode(receipt["timestamp_token"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let data = ca.path(&format!("{name}.document.json"));
    std::fs::write(&data, document).unwrap();
    require_tools();
    let by_data = run(std::process::Command::new("openssl").args([
        "ts",
        "-verify",
        "-token_in",
        "-in",
        path(&token),
        "-data",
        path(&data),
        "-CAfile",
        path(&ca.root_cert()),
    ]));
    let by_digest = run(std::process::Command::new("openssl").args([
        "ts",
        "-verify",
        "-token_in",
        "-in",
        path(&token),
        "-digest",
        &sha256_hex(document),
        "-CAfile",
        path(&ca.root_cert()),
    ]));
    assert_eq!(
        by_data.status.success(),
        by_digest.status.success(),
        "{}\n{}",
        by_data.describe(),
        by_digest.describe()
    );
    by_data.status.success()
}

fn receipt_verify(ca: &TestCa, receipt_file: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["receipt", "verify", path(receipt_file)];
    args.extend_from_slice(extra);
    ca.paypki(&args)
}

#[test]
fn a_receipt_verifies_offline_and_one_changed_byte_fails_everywhere() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let signed = merchant_signs(&server, &ca, br#"{"order": 42, "amount": "10.00"}"#);
    let body = json!({
        "certificate": signed.cert_pem,
        "message": b64(&read_bytes(&signed.message)),
        "signature": b64(&signed.signature),
        "require_role": "merchant",
        "receipt": true,
    });
    let answer = server.post_json("/v1/verify", &body);
    answer.assert_status(200, "POST /v1/verify with a receipt");
    let answer = answer.json();
    assert_eq!(answer["valid"], true, "{answer}");
    let receipt = answer["receipt"].clone();
    let document = receipt["document"].as_str().unwrap().to_string();

    // The document says what was verified.
    let fields: Value = serde_json::from_str(&document).unwrap();
    assert_eq!(fields["type"], "paypki-verification-receipt");
    assert_eq!(fields["version"], 1);
    assert_eq!(
        fields["message_sha256"],
        sha256_hex(&read_bytes(&signed.message))
    );
    assert_eq!(fields["signature_sha256"], sha256_hex(&signed.signature));
    assert_eq!(fields["signer"]["serial"], signed.serial.as_str());
    let cert_der = pem::parse(&signed.cert_pem).unwrap().into_contents();
    assert_eq!(
        fields["signer"]["certificate_sha256"],
        sha256_hex(&cert_der)
    );
    assert_eq!(fields["signer"]["role"], "merchant");
    assert_eq!(fields["required_role"], "merchant");
    assert_eq!(fields["verdict"]["valid"], true);
    assert_eq!(fields["algorithm"], "ecdsa-sha256");
    assert_eq!(fields["revocation"]["status"], "good");
    assert_eq!(fields["revocation"]["source"], "store");
    assert_eq!(fields["judged_time"]["source"], "server");
    let root_der = pem::parse(read_text(&ca.root_cert()))
        .unwrap()
        .into_contents();
    assert_eq!(fields["root_sha256"], sha256_hex(&root_der));

    // paypki receipt verify: the receipt alone, the whole answer, with the message.
    let receipt_file = ca.path("receipt.json");
    std::fs::write(&receipt_file, receipt.to_string()).unwrap();
    let answer_file = ca.path("answer.json");
    std::fs::write(&answer_file, answer.to_string()).unwrap();
    let good = receipt_verify(&ca, &receipt_file, &["--message", path(&signed.message)]);
    good.assert_success("paypki receipt verify --message");
    let summary: Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(summary["receipt"], "good");
    assert_eq!(summary["message_checked"], true);
    assert_eq!(summary["document"], fields);
    receipt_verify(&ca, &answer_file, &["--ca-file", path(&ca.root_cert())])
        .assert_success("paypki receipt verify of the whole answer with --ca-file");
    // And openssl, independently: the token covers SHA-256 of the document's bytes.
    assert!(openssl_checks_token(
        &ca,
        &receipt,
        "good",
        document.as_bytes()
    ));

    // One changed byte of the document: both fail.
    let mut altered = document.clone().into_bytes();
    let at = document.find("\"message_sha256\":\"").unwrap() + 18;
    altered[at] = if altered[at] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered).unwrap();
    assert_ne!(altered, document);
    let mut changed = receipt.clone();
    changed["document"] = Value::String(altered.clone());
    let changed_file = ca.path("changed.json");
    std::fs::write(&changed_file, changed.to_string()).unwrap();
    let refused = receipt_verify(&ca, &changed_file, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.describe());
    assert!(
        refused.stderr_text().contains("covers other data"),
        "{}",
        refused.describe()
    );
    assert!(!openssl_checks_token(
        &ca,
        &changed,
        "changed",
        altered.as_bytes()
    ));

    // One changed byte of the message: paypki refuses, and the document's hash differs.
    let other = ca.path("other-order.json");
    let mut bytes = read_bytes(&signed.message);
    bytes[3] ^= 0x01;
    std::fs::write(&other, &bytes).unwrap();
    let refused = receipt_verify(&ca, &receipt_file, &["--message", path(&other)]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.describe());
    assert!(
        refused
            .stderr_text()
            .contains("not the one the receipt is about"),
        "{}",
        refused.describe()
    );
    assert_ne!(fields["message_sha256"], sha256_hex(&bytes));

    // A byte of the token changed: both fail.
    let mut token = base64::engine::general_purpose::STANDARD
        .decode(receipt["timestamp_token"].as_str().unwrap())
        .unwrap();
    let at = token.len() - 10;
    token[at] ^= 0x01;
    let mut damaged = receipt.clone();
    damaged["timestamp_token"] = Value::String(b64(&token));
    let damaged_file = ca.path("damaged.json");
    std::fs::write(&damaged_file, damaged.to_string()).unwrap();
    let refused = receipt_verify(&ca, &damaged_file, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.describe());
    assert!(!openssl_checks_token(
        &ca,
        &damaged,
        "damaged",
        document.as_bytes()
    ));

    // Another CA's root does not anchor it.
    let stranger = TestCa::new();
    let refused = receipt_verify(
        &ca,
        &receipt_file,
        &["--ca-file", path(&stranger.root_cert())],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", refused.describe());
    // Not a receipt, a missing file: 1 and 2.
    let junk = ca.path("junk.json");
    std::fs::write(&junk, "{\"valid\": true}").unwrap();
    assert_eq!(receipt_verify(&ca, &junk, &[]).status.code(), Some(1));
    assert_eq!(
        receipt_verify(&ca, &ca.path("missing.json"), &[])
            .status
            .code(),
        Some(2)
    );
    server.stop();
}

#[test]
fn receipts_for_bad_signatures_batch_items_and_only_when_asked() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let signed = merchant_signs(&server, &ca, b"pay 5.00 to shop 7");
    let message = read_bytes(&signed.message);
    let good = json!({
        "serial": signed.serial,
        "message": b64(&message),
        "signature": b64(&signed.signature),
    });

    // Without "receipt" (or with false): no receipt.
    for body in [good.clone(), {
        let mut b = good.clone();
        b["receipt"] = json!(false);
        b
    }] {
        let answer = server.post_json("/v1/verify", &body).json();
        assert_eq!(answer["valid"], true, "{answer}");
        assert!(answer.get("receipt").is_none(), "{answer}");
        assert!(answer.get("receipt_error").is_none(), "{answer}");
    }

    // A bad signature gets a receipt of its verdict too.
    let mut bad = good.clone();
    bad["message"] = json!(b64(b"pay 500.00 to shop 7"));
    bad["receipt"] = json!(true);
    let answer = server.post_json("/v1/verify", &bad).json();
    assert_eq!(answer["valid"], false);
    let fields: Value =
        serde_json::from_str(answer["receipt"]["document"].as_str().unwrap()).unwrap();
    assert_eq!(fields["verdict"]["valid"], false);
    assert_eq!(fields["verdict"]["reason"], "bad_signature");
    assert_eq!(
        fields["message_sha256"],
        sha256_hex(b"pay 500.00 to shop 7")
    );

    // A batch: each item asks for itself.
    let mut with_receipt = good.clone();
    with_receipt["receipt"] = json!(true);
    let batch = server
        .post_json(
            "/v1/verify/batch",
            &json!({"items": [with_receipt, good, bad, {"message": 5, "receipt": true}]}),
        )
        .json();
    let results = batch["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert!(results[0]["receipt"].is_object(), "{batch}");
    assert!(results[1].get("receipt").is_none(), "{batch}");
    assert!(results[2]["receipt"].is_object(), "{batch}");
    // An item that did not decode gets its malformed verdict and no receipt.
    assert_eq!(results[3]["reason"], "malformed");
    assert!(results[3].get("receipt").is_none(), "{batch}");
    for (n, result) in [(0, &results[0]), (2, &results[2])] {
        let file = ca.path(&format!("batch-{n}.json"));
        std::fs::write(&file, result.to_string()).unwrap();
        let checked = receipt_verify(&ca, &file, &[]);
        checked.assert_success(&format!("paypki receipt verify of batch item {n}"));
        let document = result["receipt"]["document"].as_str().unwrap();
        assert!(openssl_checks_token(
            &ca,
            &result["receipt"],
            &format!("batch-{n}"),
            document.as_bytes()
        ));
    }
    // The first item's receipt is about the message that was sent.
    let file = ca.path("batch-0.json");
    receipt_verify(&ca, &file, &["--message", path(&signed.message)])
        .assert_success("paypki receipt verify --message of a batch item");

    // A revoked certificate's receipt names the revocation it used.
    server
        .admin_post_json(
            "/v1/admin/revocations",
            &json!({"serial": signed.serial, "reason": "keyCompromise"}),
        )
        .assert_status(201, "revoke the merchant");
    let answer = server.post_json("/v1/verify", &with_receipt).json();
    assert_eq!(answer["reason"], "revoked", "{answer}");
    let fields: Value =
        serde_json::from_str(answer["receipt"]["document"].as_str().unwrap()).unwrap();
    assert_eq!(fields["revocation"]["status"], "revoked", "{fields}");
    assert_eq!(fields["revocation"]["source"], "store");
    assert_eq!(fields["revocation"]["reason"], "keyCompromise", "{fields}");
    server.stop();
}
