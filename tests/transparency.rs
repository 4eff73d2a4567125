//! The issuance transparency log (issue 14, part 3), on whichever backend the suite runs
//! (`PAYPKI_TEST_BACKEND`; the inconsistency test restores a sled data directory and so
//! runs on sled always). Proofs the server computes are checked by an independent
//! implementation written from RFC 9162 §2.1 (`tests/py/check_merkle.py`), tree heads
//! by `openssl ts -verify`, and the monitor is run as a bank would.

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use common::*;
use serde_json::{json, Value};

const BANK_SUBJECT: &str = "CN=Example Bank,O=Example Bank,C=DE,serialNumber=DEUTDEFF,L=Frankfurt";

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// Enrolls with a token for `subject` (role bank, `dns:bank.example`) over HTTP; returns
/// the enrollment response.
fn enroll_bank(server: &TestServer<'_>, subject: &str, name: &str) -> Value {
    let token = server.create_token("bank", subject, &["dns:bank.example"], &[]);
    enroll_with(server, &token, name)
}

fn enroll_with(server: &TestServer<'_>, token: &str, name: &str) -> Value {
    let ca = server.ca();
    let key = generate_key(KeyType::EcP256, &ca.path(&format!("{name}.key")));
    let csr = make_csr(&key, "/", &[], &ca.path(&format!("{name}.csr")));
    let response = server.post_json(
        "/v1/enroll",
        &json!({ "token": token, "csr": read_text(&csr) }),
    );
    response.assert_status(201, "POST /v1/enroll");
    response.json()
}

fn enroll_buyer(server: &TestServer<'_>, name: &str) -> Value {
    let case = enroll_case("buyer");
    let token = server.create_case_token(&case);
    enroll_with(server, &token, name)
}

fn revoke(server: &TestServer<'_>, serial: &str, reason: &str) {
    server
        .admin_post_json(
            "/v1/admin/revocations",
            &json!({ "serial": serial, "reason": reason }),
        )
        .assert_status(201, "POST /v1/admin/revocations");
}

/// Runs `check_merkle.py` on `request`; returns its answer.
fn check_merkle(ca: &TestCa, request: &Value) -> Value {
    let path = ca.path("merkle-request.json");
    std::fs::write(&path, request.to_string()).unwrap();
    let output = run_python("check_merkle.py", &[&path]);
    output.assert_success("check_merkle.py");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn sth(server: &TestServer<'_>) -> Value {
    let response = server.get("/v1/transparency/sth");
    response.assert_status(200, "GET /v1/transparency/sth");
    response.json()
}

/// Every entry of the log, page by page (at most 256 each).
fn all_entries(server: &TestServer<'_>, size: u64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < size {
        let end = (start + 256).min(size);
        let page = server.get(&format!("/v1/transparency/entries?start={start}&end={end}"));
        page.assert_status(200, "GET /v1/transparency/entries");
        out.extend(page.json()["entries"].as_array().unwrap().iter().cloned());
        start = end;
    }
    out
}

fn entry_bytes(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["entry"].as_str().unwrap().to_string())
        .collect()
}

/// SHA-256 of the RFC 9162 §4.9 `TreeHeadDataV2` of a head, hex (the token's imprint).
fn head_digest_hex(head: &Value) -> String {
    let mut data = Vec::new();
    data.extend_from_slice(&head["timestamp"].as_u64().unwrap().to_be_bytes());
    data.extend_from_slice(&head["tree_size"].as_u64().unwrap().to_be_bytes());
    let root = unb64(head["root_hash"].as_str().unwrap());
    data.push(root.len() as u8);
    data.extend_from_slice(&root);
    data.extend_from_slice(&[0, 0]);
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &data))
}

/// `openssl ts -verify` of a tree head's token against the CA chain.
fn openssl_verifies_head(server: &TestServer<'_>, head: &Value, name: &str) -> bool {
    let ca = server.ca();
    let token = ca.path(&format!("{name}.tst"));
    std::fs::write(&token, unb64(head["signature"].as_str().unwrap())).unwrap();
    let chain = server.save_chain(&format!("{name}-chain.pem"));
    let output = run(std::process::Command::new("openssl").args([
        "ts",
        "-verify",
        "-digest",
        &head_digest_hex(head),
        "-in",
        token.to_str().unwrap(),
        "-token_in",
        "-CAfile",
        chain.to_str().unwrap(),
    ]));
    output.status.success() && output.stdout_text().contains("Verification: OK")
}

fn monitor(ca: &TestCa, url: &str, org: &str, state: &Path) -> std::process::Output {
    ca.paypki(&[
        "transparency",
        "monitor",
        "--url",
        url,
        "--org",
        org,
        "--state",
        state.to_str().unwrap(),
        "--ca-file",
        ca.root_cert().to_str().unwrap(),
        "--json",
    ])
}

fn findings(output: &std::process::Output) -> Vec<Value> {
    output.assert_success("paypki transparency monitor");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    report["findings"].as_array().unwrap().clone()
}

#[test]
fn server_proofs_verify_independently_and_entries_hash_to_the_signed_head() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let mut cases = Cases::new();

    let first = enroll_bank(&server, BANK_SUBJECT, "bank1");
    let buyers: Vec<Value> = (0..4)
        .map(|i| enroll_buyer(&server, &format!("buyer{i}")))
        .collect();
    revoke(
        &server,
        buyers[1]["serial"].as_str().unwrap(),
        "certificateHold",
    );
    server
        .admin_post_json(
            &format!(
                "/v1/admin/revocations/{}/unhold",
                buyers[1]["serial"].as_str().unwrap()
            ),
            &json!({}),
        )
        .assert_status(200, "unhold");
    revoke(
        &server,
        buyers[2]["serial"].as_str().unwrap(),
        "keyCompromise",
    );
    let last = enroll_bank(&server, BANK_SUBJECT, "bank2");

    let head = sth(&server);
    let size = head["tree_size"].as_u64().unwrap();
    let entries = all_entries(&server, size);

    cases.case(
        "every issuance and status change is one entry, in order",
        || {
            // 6 certificates, a hold, its lifting, a revocation.
            assert_eq!(size, 9, "{head}");
            let kinds: Vec<&str> = entries
                .iter()
                .map(|e| e["type"].as_str().unwrap())
                .collect();
            assert_eq!(
                kinds,
                [
                    "certificate",
                    "certificate",
                    "certificate",
                    "certificate",
                    "certificate",
                    "revocation",
                    "hold-lifted",
                    "revocation",
                    "certificate"
                ]
            );
            assert_eq!(entries[0]["serial"], first["serial"]);
            assert_eq!(entries[6]["serial"], buyers[1]["serial"]);
            let indexes: Vec<u64> = entries
                .iter()
                .map(|e| e["index"].as_u64().unwrap())
                .collect();
            assert_eq!(indexes, (0..9).collect::<Vec<_>>());
        },
    );

    cases.case(
        "the entries hash to the signed root (Python, RFC 9162 §2.1.1)",
        || {
            let answer = check_merkle(&ca, &json!({ "entries": entry_bytes(&entries) }));
            assert_eq!(answer["root"], head["root_hash"], "{answer} vs {head}");
        },
    );

    cases.case(
        "the tree head's token verifies with openssl ts -verify",
        || {
            assert!(openssl_verifies_head(&server, &head, "head"), "{head}");
            // One bit of the head changed: the imprint no longer matches.
            let mut forged = head.clone();
            forged["tree_size"] = json!(size + 1);
            assert!(!openssl_verifies_head(&server, &forged, "forged"));
        },
    );

    cases.case("the enrollment's inclusion proof verifies (Python)", || {
        for (response, index) in [(&first, 0u64), (&last, 8)] {
            let t = &response["transparency"];
            assert_eq!(t["leaf_index"], index, "{response}");
            assert_eq!(t["tree_size"], index + 1, "{response}");
            let answer = check_merkle(
                &ca,
                &json!({
                    "entries": entry_bytes(&entries),
                    "inclusion": {
                        "leaf_hash": t["leaf_hash"], "leaf_index": t["leaf_index"],
                        "tree_size": t["tree_size"], "root_hash": t["root_hash"],
                        "proof": t["inclusion_proof"],
                    },
                }),
            );
            assert_eq!(answer["inclusion_valid"], true, "{answer} {t}");
            assert_eq!(answer["leaf_hashes"][index as usize], t["leaf_hash"]);
        }
    });

    cases.case("proofs by serial and by leaf hash verify (Python)", || {
        let serial = buyers[3]["serial"].as_str().unwrap();
        let by_serial = server.get(&format!("/v1/transparency/proof?serial={serial}"));
        by_serial.assert_status(200, "proof by serial");
        let p = by_serial.json();
        assert_eq!(
            p["tree_size"], size,
            "the default is the signed head's size"
        );
        assert_eq!(p["root_hash"], head["root_hash"]);
        let leaf = p["leaf_hash"].as_str().unwrap().to_string();
        let encoded = leaf
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let by_hash = server.get(&format!(
            "/v1/transparency/proof?leaf_hash={encoded}&tree_size=7"
        ));
        by_hash.assert_status(200, "proof by leaf hash");
        for proof in [p, by_hash.json()] {
            let answer = check_merkle(
                &ca,
                &json!({
                    "entries": entry_bytes(&entries),
                    "inclusion": {
                        "leaf_hash": proof["leaf_hash"], "leaf_index": proof["leaf_index"],
                        "tree_size": proof["tree_size"], "root_hash": proof["root_hash"],
                        "proof": proof["inclusion_proof"],
                    },
                }),
            );
            assert_eq!(answer["inclusion_valid"], true, "{answer} {proof}");
        }
    });

    cases.case("consistency proofs from every size verify (Python)", || {
        let roots = check_merkle(&ca, &json!({ "entries": entry_bytes(&entries) }));
        assert_eq!(roots["root"], head["root_hash"]);
        for first_size in 1..=size {
            let proof = server.get(&format!(
                "/v1/transparency/consistency?first={first_size}&second={size}"
            ));
            proof.assert_status(200, "consistency");
            let first_root = check_merkle(
                &ca,
                &json!({ "entries": entry_bytes(&entries[..first_size as usize]) }),
            )["root"]
                .clone();
            let answer = check_merkle(
                &ca,
                &json!({
                    "entries": entry_bytes(&entries),
                    "consistency": {
                        "first": first_size, "second": size,
                        "first_root": first_root, "second_root": head["root_hash"],
                        "proof": proof.json()["consistency_proof"],
                    },
                }),
            );
            assert_eq!(answer["consistency_valid"], true, "{first_size}: {answer}");
        }
    });

    cases.case("bad requests are 4xx problems, never 500", || {
        let bad = [
            ("/v1/transparency/entries?start=3&end=3", 400),
            ("/v1/transparency/entries?start=5&end=2", 400),
            ("/v1/transparency/entries?start=0&end=999", 400),
            ("/v1/transparency/entries?start=0", 400),
            ("/v1/transparency/entries?start=x&end=2", 400),
            ("/v1/transparency/entries?start=0&end=2&extra=1", 400),
            (
                "/v1/transparency/entries?start=18446744073709551615&end=0",
                400,
            ),
            ("/v1/transparency/proof", 400),
            ("/v1/transparency/proof?serial=zz", 400),
            ("/v1/transparency/proof?serial=01&leaf_hash=AA%3D%3D", 400),
            ("/v1/transparency/proof?leaf_hash=AAAA", 400),
            ("/v1/transparency/proof?serial=7f7f7f", 404),
            ("/v1/transparency/proof?serial=7f7f7f&tree_size=99", 404),
            ("/v1/transparency/consistency?first=0&second=3", 400),
            ("/v1/transparency/consistency?first=4&second=3", 400),
            ("/v1/transparency/consistency?first=1&second=999", 400),
            ("/v1/transparency/consistency?first=1", 400),
        ];
        for (path, status) in bad {
            let response = server.get(path);
            let kind = if status == 404 {
                "not-found"
            } else {
                "malformed-request"
            };
            response.assert_problem(status, kind, path);
        }
        // The entry of the last bank is not in a tree of 8 entries.
        let serial = last["serial"].as_str().unwrap();
        server
            .get(&format!(
                "/v1/transparency/proof?serial={serial}&tree_size=8"
            ))
            .assert_problem(400, "malformed-request", "a tree too small for the entry");
        server
            .get(&format!(
                "/v1/transparency/proof?serial={serial}&tree_size=99"
            ))
            .assert_problem(400, "malformed-request", "a tree beyond the log");
    });
    cases.finish();
}

#[test]
fn the_monitor_finds_a_certificate_issued_in_a_banks_name_and_its_revocation() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let state = ca.path("monitor.json");
    let mut cases = Cases::new();

    enroll_buyer(&server, "buyer0");
    let bank = enroll_bank(&server, BANK_SUBJECT, "bank");
    enroll_bank(
        &server,
        "CN=Other Bank,O=Other Bank,C=DE,serialNumber=DEUTDEFF,L=Frankfurt",
        "other",
    );

    cases.case(
        "the first run lists the bank's certificate, and only it",
        || {
            let found = findings(&monitor(&ca, server.url(), "Example Bank", &state));
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0]["type"], "certificate");
            assert_eq!(found[0]["serial"], bank["serial"]);
            assert!(
                found[0]["subject"]
                    .as_str()
                    .unwrap()
                    .contains("O=Example Bank"),
                "{found:?}"
            );
        },
    );

    cases.case("a second run finds nothing new", || {
        let output = monitor(&ca, server.url(), "Example Bank", &state);
        assert!(findings(&output).is_empty());
    });

    let surprise = enroll_bank(&server, BANK_SUBJECT, "surprise");
    revoke(
        &server,
        surprise["serial"].as_str().unwrap(),
        "keyCompromise",
    );
    enroll_buyer(&server, "buyer1");

    cases.case(
        "a later run reports the new certificate and its revocation",
        || {
            let found = findings(&monitor(&ca, server.url(), "example bank", &state));
            let seen: Vec<(&str, &str)> = found
                .iter()
                .map(|f| (f["type"].as_str().unwrap(), f["serial"].as_str().unwrap()))
                .collect();
            let serial = surprise["serial"].as_str().unwrap();
            assert_eq!(seen, [("certificate", serial), ("revocation", serial)]);
            assert_eq!(found[1]["reason"], "keyCompromise");
        },
    );

    cases.case("the text output names the certificate", || {
        std::fs::remove_file(&state).unwrap();
        let output = ca.paypki(&[
            "transparency",
            "monitor",
            "--url",
            server.url(),
            "--org",
            "Example Bank",
            "--state",
            state.to_str().unwrap(),
        ]);
        output.assert_success("paypki transparency monitor (text)");
        let text = output.stdout_text();
        assert!(text.contains(bank["serial"].as_str().unwrap()), "{text}");
        assert!(text.contains("signed and consistent"), "{text}");
    });
    cases.finish();
}

/// Copies a data directory aside and back (the server must be stopped).
fn snapshot(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    copy_tree(from, to, &[]);
}

#[test]
fn a_tree_head_not_consistent_with_the_previous_one_is_reported() {
    // A restored backup that issues again rewrites history: the log's old head is no
    // longer a prefix of the new one. sled, whose data directory can be copied.
    let ca = TestCa::on_sled();
    let backup: PathBuf = ca.path("backup");
    let state = ca.path("monitor.json");
    {
        let server = TestServer::start(&ca);
        enroll_bank(&server, BANK_SUBJECT, "before");
        server.stop();
    }
    snapshot(ca.data_dir(), &backup);
    {
        let server = TestServer::start(&ca);
        enroll_bank(&server, BANK_SUBJECT, "a");
        findings(&monitor(&ca, server.url(), "Example Bank", &state));
        server.stop();
    }
    let saved = std::fs::read(&state).unwrap();
    std::fs::remove_dir_all(ca.data_dir()).unwrap();
    snapshot(&backup, ca.data_dir());
    let server = TestServer::start(&ca);
    enroll_bank(&server, BANK_SUBJECT, "b");
    let output = monitor(&ca, server.url(), "Example Bank", &state);
    assert_eq!(output.status.code(), Some(1), "{}", output.describe());
    let stderr = output.stderr_text();
    assert!(
        stderr.contains("ALERT") && stderr.contains("NOT CONSISTENT"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        saved,
        "the state must not advance past an inconsistent head"
    );
    // It stays reported on every later run.
    let again = monitor(&ca, server.url(), "Example Bank", &state);
    assert_eq!(again.status.code(), Some(1), "{}", again.describe());
}
