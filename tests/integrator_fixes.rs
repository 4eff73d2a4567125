//! What a gateway developer ran into following the documentation (the "documentation
//! that runs" issue), one test per item where the product, not only the page, was wrong:
//! restore (revoking serials the CA has no record of, CRL numbers that never go back),
//! status URLs over plain HTTP, RSA-PSS CMS with OpenSSL's default salt, batch items of
//! the wrong shape, chain messages in words, the verify CLI's exit statuses and address,
//! `--request-timeout` durations, `paypki crl` and terminals, batch refusals naming the
//! item, paged admin lists, and an enrollment whose answer was lost.

// Test code may panic freely (a panic is a test failure).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{json, Value};

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `paypki token create` through the CLI for a merchant, then `POST /v1/enroll` with an
/// OpenSSL CSR for `key`; returns the answer's JSON and the certificate's path.
fn enroll_merchant(server: &TestServer<'_>, key: &Path, stem: &str) -> (Value, PathBuf) {
    let ca = server.ca();
    let case = enroll_case("merchant");
    let token = server.create_case_token(&case);
    let csr = make_csr(key, "/", &[], &ca.path(&format!("{stem}.csr")));
    let response = server.post_json(
        "/v1/enroll",
        &json!({ "token": token, "csr": read_text(&csr) }),
    );
    response.assert_status(201, &format!("POST /v1/enroll ({stem})"));
    let body = response.json();
    let cert = ca.path(&format!("{stem}.cert.pem"));
    std::fs::write(&cert, body["certificate"].as_str().unwrap()).unwrap();
    (body, cert)
}

/// `GET /crl/issuing.crl`, checked by Python against the issuing CA; returns the parsed
/// CRL and the ETag.
fn fetch_crl(server: &TestServer<'_>, name: &str) -> (Value, String) {
    let response = server.get("/crl/issuing.crl");
    response.assert_status(200, "GET /crl/issuing.crl");
    let path = server.ca().path(name);
    std::fs::write(&path, &response.body).unwrap();
    let crl = check_crl(&path, &server.ca().issuing_cert());
    (crl, response.header("etag").unwrap_or_default().to_string())
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    run(Command::new("cp").arg("-a").arg(from).arg(to)).assert_success("cp -a");
}

#[test]
fn a_restored_ca_revokes_serials_it_has_no_record_of_and_its_crl_numbers_go_on() {
    let ca = TestCa::new();
    let backup = ca.path("backup-ca-data");
    // The backup, taken with the server stopped (docs/operations.md).
    {
        let server = TestServer::start(&ca);
        fetch_crl(&server, "before-backup.crl");
        server.stop();
    }
    copy_dir(ca.data_dir(), &backup);

    // After the backup: a certificate is issued and a CRL published; then the disk is lost.
    let key = generate_key(KeyType::EcP256, &ca.path("lost.key.pem"));
    let (lost, lost_cert, lost_number, lost_etag) = {
        let server = TestServer::start(&ca);
        let (body, cert) = enroll_merchant(&server, &key, "lost");
        let (crl, etag) = fetch_crl(&server, "lost.crl");
        server.stop();
        (
            body["serial"].as_str().unwrap().to_string(),
            cert,
            crl["crl_number"].as_u64().unwrap(),
            etag,
        )
    };
    // A restore takes longer than a second; the numbers are tied to the second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::remove_dir_all(ca.data_dir()).unwrap();
    copy_dir(&backup, ca.data_dir());

    let server = TestServer::start(&ca);
    let (restored, etag) = fetch_crl(&server, "restored.crl");
    let number = restored["crl_number"].as_u64().unwrap();
    assert!(
        number > lost_number,
        "the restored CA published cRLNumber {number}, not above the {lost_number} it published before the restore"
    );
    assert_ne!(etag, lost_etag, "the CRL's ETag repeats after a restore");
    assert!(
        number.to_be_bytes().len() <= 20,
        "RFC 5280 §5.2.3: at most 20 octets"
    );

    // Without --unrecorded an unknown serial is refused (404); with it, it is revoked.
    let refused = ca.paypki(&["revoke", &lost, "--reason", "keyCompromise"]);
    refused.assert_failure("paypki revoke of a serial without a record");
    assert!(
        refused.stderr_text().contains("no certificate with serial"),
        "{}",
        refused.describe()
    );
    let revoked = ca.paypki(&["revoke", &lost, "--reason", "keyCompromise", "--unrecorded"]);
    revoked.assert_success("paypki revoke --unrecorded");
    assert_eq!(revoked.stdout_text().trim(), lost);
    // Twice: already revoked.
    let again = server.admin_post_json(
        "/v1/admin/revocations",
        &json!({"serial": lost, "reason": "keyCompromise", "unrecorded": true}),
    );
    again.assert_problem(
        409,
        "already-revoked",
        "a second revocation of the unrecorded serial",
    );

    // OCSP says revoked (keyCompromise), verified by openssl with the served chain.
    let chain = server.save_chain("chain.pem");
    let ocsp = openssl_ocsp(
        &format!("{}/ocsp", server.url()),
        &ca.issuing_cert(),
        &chain,
        &[std::ffi::OsStr::new("-cert"), lost_cert.as_os_str()],
    );
    let block = ocsp_block(&ocsp, &lost_cert.display().to_string());
    assert!(
        block.contains(": revoked") && block.contains("keyCompromise"),
        "{ocsp}"
    );

    // The CRL lists it within a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (crl, _) = fetch_crl(&server, "after-revoke.crl");
        if let Some(entry) = crl_entry(&crl, &lost) {
            assert_eq!(entry["reason"], "keyCompromise", "{crl:#}");
            assert!(crl["crl_number"].as_u64().unwrap() > number);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the CRL never listed {lost}: {crl:#}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let audit = ca.paypki(&["audit", "verify"]);
    audit.assert_success("paypki audit verify after the restore");
    server.stop();
    // The audit trail names the revocation of a serial without record.
    let log = ca.paypki(&["audit", "log"]);
    log.assert_success("paypki audit log");
    assert!(
        log.stdout_text().contains("revoke-unrecorded"),
        "{}",
        log.describe()
    );
}

#[test]
fn init_refuses_an_https_base_url() {
    let ca = TestCa::uninitialized();
    let output = ca.paypki(&["init", "--base-url", "https://pki.pay.example"]);
    output.assert_failure("paypki init --base-url https://…");
    assert!(
        output.stderr_text().contains("plain HTTP"),
        "{}",
        output.describe()
    );
    assert!(!ca.root_cert().exists(), "nothing may be created");
    let ok = ca.paypki(&["init", "--base-url", "http://pki.pay.example"]);
    ok.assert_success("paypki init --base-url http://…");
}

/// `paypki verify ARGS…` with `env` (and no other PAYPKI_* variable).
fn verify_cli(ca: &TestCa, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    ca.paypki_env(&all, env)
}

#[test]
fn the_verify_cli_finds_the_server_tells_no_answer_from_not_valid_and_speaks_in_words() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let (serial, dir) = server.enroll_case(&enroll_case("merchant"), "ecdsa-p256", "merchant");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let message = ca.path("order.json");
    std::fs::write(&message, br#"{"amount":"10.00","currency":"EUR"}"#).unwrap();
    let signature = ca.path("order.sig");
    openssl(&[
        "dgst".as_ref(),
        "-sha256".as_ref(),
        "-sign".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        signature.as_os_str(),
        message.as_os_str(),
    ]);
    let cert_s = cert.to_str().unwrap();
    let msg_s = message.to_str().unwrap();
    let sig_s = signature.to_str().unwrap();
    let signed = [
        "--cert",
        cert_s,
        "--message",
        msg_s,
        "--signature",
        sig_s,
        "--require-role",
        "merchant",
    ];

    // PAYPKI_URL, with no --url: valid, exit 0.
    let out = verify_cli(&ca, &signed, &[("PAYPKI_URL", server.url())]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    // No --url, no PAYPKI_URL: the data directory's running server (server.json).
    let out = verify_cli(&ca, &signed, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    // Not valid (another role required): exit 1, with the verdict on stdout.
    let mut wrong_role = signed;
    wrong_role[7] = "bank";
    let out = verify_cli(&ca, &wrong_role, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["reason"], "wrong_role");
    // No answer: exit 3, and the message says where the address came from.
    let closed = format!("http://127.0.0.1:{}", pick_free_port());
    let out = verify_cli(&ca, &signed, &[("PAYPKI_URL", &closed)]);
    assert_eq!(out.status.code(), Some(3), "{}", out.describe());
    assert!(
        out.stderr_text().contains("PAYPKI_URL"),
        "{}",
        out.describe()
    );
    // A missing input file: exit 2.
    let mut missing = signed;
    missing[3] = "no-such-file.json";
    let out = verify_cli(&ca, &missing, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", out.describe());

    // The chain: enroll's chain.pem holds the CA certificates; with --cert it validates.
    let chain = dir.join("chain.pem");
    let chain_s = chain.to_str().unwrap();
    let out = verify_cli(
        &ca,
        &[
            "--cert",
            cert_s,
            "--chain",
            chain_s,
            "--usage",
            "clientAuth",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["subject"]["serial"], serial.as_str());
    // chain.pem alone: not valid, said in words (no Rust names).
    let out = verify_cli(&ca, &["--chain", chain_s], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let text = out.describe();
    assert!(text.contains("--cert"), "{text}");
    // A usage the certificate does not have: in words too.
    let out = verify_cli(
        &ca,
        &[
            "--cert",
            cert_s,
            "--chain",
            chain_s,
            "--usage",
            "serverAuth",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let text = out.describe();
    for rust in ["CaUsedAsEndEntity", "RequiredEkuNotFound", "Context(", "::"] {
        assert!(!text.contains(rust), "a Rust name leaked: {rust}\n{text}");
    }
    assert!(text.contains("extended key usage"), "{text}");
}

#[test]
fn batch_items_of_the_wrong_shape_are_malformed_alone_and_single_calls_say_400() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let key = generate_key(KeyType::EcP256, &ca.path("m.key.pem"));
    let (body, cert) = enroll_merchant(&server, &key, "m");
    let message = ca.path("msg");
    std::fs::write(&message, b"pay 10 EUR").unwrap();
    let signature = ca.path("msg.sig");
    openssl(&[
        "dgst".as_ref(),
        "-sha256".as_ref(),
        "-sign".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        signature.as_os_str(),
        message.as_os_str(),
    ]);
    let good = json!({
        "certificate": read_text(&cert),
        "message": b64(&read_bytes(&message)),
        "signature": b64(&read_bytes(&signature)),
    });
    let mut unknown_field = good.clone();
    unknown_field["colour"] = json!("blue");
    let mut wrong_type = good.clone();
    wrong_type["message"] = json!(5);
    let answer = server.post_json_ok(
        "/v1/verify/batch",
        &json!({"items": [good, unknown_field, wrong_type, "not an object"]}),
        "a batch with items of the wrong shape",
    );
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{answer:#}");
    assert_eq!(results[0]["valid"], true, "{answer:#}");
    assert_eq!(results[0]["signer"]["serial"], body["serial"], "{answer:#}");
    for (i, result) in results.iter().enumerate().skip(1) {
        assert_eq!(result["reason"], "malformed", "item {i}: {answer:#}");
        assert!(
            result["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("items[{i}]")),
            "{answer:#}"
        );
    }
    // A single call with an unknown field is a 400 problem, as docs/verification.md says.
    let mut single = good_request(&cert, &message, &signature);
    single["colour"] = json!("blue");
    server.post_json("/v1/verify", &single).assert_problem(
        400,
        "malformed-request",
        "an unknown field in /v1/verify",
    );
}

fn good_request(cert: &Path, message: &Path, signature: &Path) -> Value {
    json!({
        "certificate": read_text(cert),
        "message": b64(&read_bytes(message)),
        "signature": b64(&read_bytes(signature)),
    })
}

#[test]
fn rsa_pss_cms_with_openssls_default_salt_says_how_to_sign() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let key = generate_key(KeyType::Rsa(2048), &ca.path("rsa.key.pem"));
    let (_, cert) = enroll_merchant(&server, &key, "rsa");
    let message = ca.path("order.json");
    std::fs::write(&message, b"{\"amount\":\"1.00\"}").unwrap();
    let sign = |out: &str, extra: &[&str]| -> Vec<u8> {
        let out = ca.path(out);
        let mut command = Command::new("openssl");
        command
            .args([
                "cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256",
            ])
            .arg("-in")
            .arg(&message)
            .arg("-signer")
            .arg(&cert)
            .arg("-inkey")
            .arg(&key)
            .arg("-out")
            .arg(&out)
            .args(["-keyopt", "rsa_padding_mode:pss"])
            .args(extra);
        run(&mut command).assert_success("openssl cms -sign (RSA-PSS)");
        read_bytes(&out)
    };
    let verify = |signature: &[u8]| {
        server.post_json_ok(
            "/v1/verify",
            &json!({"format": "cms", "message": b64(&read_bytes(&message)), "signature": b64(signature)}),
            "CMS RSA-PSS",
        )
    };
    // OpenSSL's default salt (the longest the key allows): sound, but not what ring
    // verifies; the answer says so and how to sign instead of "bad_signature".
    let default_salt = verify(&sign("default.p7s", &[]));
    assert_eq!(
        default_salt["reason"], "unsupported_algorithm",
        "{default_salt:#}"
    );
    assert!(
        default_salt["message"]
            .as_str()
            .unwrap()
            .contains("rsa_pss_saltlen:digest"),
        "{default_salt:#}"
    );
    // As the message says: valid.
    let digest_salt = verify(&sign("digest.p7s", &["-keyopt", "rsa_pss_saltlen:digest"]));
    assert_eq!(digest_salt["valid"], true, "{digest_salt:#}");
}

#[test]
fn token_batches_name_the_refused_item_and_lists_page_on() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let refused = server.admin_post_json(
        "/v1/admin/tokens/batch",
        &json!({"items": [
            {"role": "buyer", "subject": "CN=Alice"},
            {"role": "buyer", "subject": "CN=Bob,O=Not Allowed For Buyers"},
        ]}),
    );
    let problem = refused.assert_problem(422, "policy-violation", "a batch with a policy refusal");
    assert_eq!(problem["title"], "Refused by policy", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("items[1]: "),
        "{problem}"
    );
    // A single token request with a bad role: the same title as the table in docs/api.md.
    let bad_role = server.admin_post_json(
        "/v1/admin/tokens",
        &json!({"role": "baker", "subject": "CN=Alice"}),
    );
    assert_eq!(
        bad_role.assert_problem(422, "policy-violation", "a bad role")["title"],
        "Refused by policy"
    );

    let mut serials: Vec<String> = (0..3)
        .map(|i| {
            let key = generate_key(KeyType::EcP256, &ca.path(&format!("p{i}.key.pem")));
            let (body, _) = enroll_merchant(&server, &key, &format!("p{i}"));
            body["serial"].as_str().unwrap().to_string()
        })
        .collect();
    serials.sort();
    let first = server.admin_get("/v1/admin/certificates?limit=2");
    first.assert_status(200, "the first page");
    let first = first.json();
    let next = first["next"].as_str().expect("a next cursor").to_string();
    let second = server.admin_get(&format!("/v1/admin/certificates?limit=2&after={next}"));
    second.assert_status(200, "the second page");
    let second = second.json();
    assert!(second["next"].is_null(), "{second:#}");
    let paged: Vec<String> = first["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["certificates"].as_array().unwrap())
        .map(|r| r["serial"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paged, serials);
    server
        .admin_get("/v1/admin/certificates?after=zz")
        .assert_problem(400, "malformed-request", "a cursor that is not hex");
    assert_eq!(ca.listed_serials(&[]), serials, "paypki list pages too");
}

#[test]
fn an_enrollment_whose_answer_was_lost_gets_its_certificate_again() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let case = enroll_case("merchant");
    let token = server.create_case_token(&case);
    let key = generate_key(KeyType::EcP256, &ca.path("k.key.pem"));
    let csr = make_csr(&key, "/", &[], &ca.path("k1.csr"));
    let first = server.post_json(
        "/v1/enroll",
        &json!({"token": token, "csr": read_text(&csr)}),
    );
    first.assert_status(201, "the first enrollment");
    // The answer was lost: the same token, a new CSR of the same key.
    let csr2 = make_csr(&key, "/", &[], &ca.path("k2.csr"));
    let again = server.post_json(
        "/v1/enroll",
        &json!({"token": token, "csr": read_text(&csr2)}),
    );
    again.assert_status(200, "the same token with the same key");
    assert_eq!(again.json()["serial"], first.json()["serial"]);
    assert_eq!(again.json()["certificate"], first.json()["certificate"]);
    // Another key: the token is used.
    let other = generate_key(KeyType::EcP256, &ca.path("o.key.pem"));
    let csr3 = make_csr(&other, "/", &[], &ca.path("o.csr"));
    server
        .post_json(
            "/v1/enroll",
            &json!({"token": token, "csr": read_text(&csr3)}),
        )
        .assert_problem(409, "token-used", "the same token with another key");

    // The CLI: an answer that never came (no server at that address) keeps key.pem;
    // the same command against the CA then enrolls with that key.
    let token = server.create_case_token(&case);
    let dir = ca.path("cli");
    let dir_s = dir.to_str().unwrap();
    let closed = format!("http://127.0.0.1:{}", pick_free_port());
    let lost = ca.paypki(&[
        "enroll",
        "--url",
        &closed,
        "--token",
        &token,
        "--out-dir",
        dir_s,
    ]);
    assert_eq!(lost.status.code(), Some(3), "{}", lost.describe());
    assert!(dir.join("key.pem").exists() && !dir.join("cert.pem").exists());
    let key_before = read_text(&dir.join("key.pem"));
    let retried = ca.paypki(&["enroll", "--token", &token, "--out-dir", dir_s]);
    retried.assert_success("paypki enroll again after no answer");
    assert_eq!(read_text(&dir.join("key.pem")), key_before);
    // And a CLI whose answer was lost after the CA issued: simulate by enrolling over
    // HTTP with a key, then running the CLI with that key in the directory.
    let token = server.create_case_token(&case);
    let dir2 = ca.path("cli2");
    std::fs::create_dir_all(&dir2).unwrap();
    let key2 = generate_key(KeyType::EcP256, &dir2.join("key.pem"));
    let csr = make_csr(&key2, "/", &[], &ca.path("cli2.csr"));
    let issued = server.post_json(
        "/v1/enroll",
        &json!({"token": token, "csr": read_text(&csr)}),
    );
    issued.assert_status(201, "the enrollment whose answer the CLI lost");
    let redelivered = ca.paypki(&[
        "enroll",
        "--token",
        &token,
        "--out-dir",
        dir2.to_str().unwrap(),
    ]);
    redelivered.assert_success("paypki enroll with the key of the lost answer");
    assert_eq!(
        redelivered.stdout_text().trim(),
        issued.json()["serial"].as_str().unwrap()
    );
    assert_eq!(
        normalize_pem(&read_text(&dir2.join("cert.pem"))),
        normalize_pem(issued.json()["certificate"].as_str().unwrap())
    );
    // A refused attempt with a fresh key leaves no key behind.
    let dir3 = ca.path("cli3");
    let refused = ca.paypki(&[
        "enroll",
        "--token",
        &token,
        "--out-dir",
        dir3.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.describe());
    assert!(!dir3.join("key.pem").exists(), "{}", refused.describe());
}

#[test]
fn serve_takes_request_timeout_as_a_duration_and_crl_will_not_write_der_to_a_terminal() {
    let ca = TestCa::new();
    let server = TestServer::start_with(&ca, &["--request-timeout", "30s", "--idle-timeout", "2m"]);
    server
        .get("/healthz")
        .assert_status(200, "a server with --request-timeout 30s --idle-timeout 2m");
    // `paypki crl` with a terminal for stdout (a pseudo-terminal from Python's pty).
    let mut command = Command::new("python3");
    command
        .arg("-c")
        .arg("import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))")
        .arg(PAYPKI)
        .arg("--data-dir")
        .arg(ca.data_dir())
        .arg("crl");
    let output = run(&mut command);
    assert_eq!(output.status.code(), Some(2), "{}", output.describe());
    assert!(
        output.stdout_text().contains("--out"),
        "{}",
        output.describe()
    );
    // Redirected, it writes the DER.
    let crl = run(Command::new(PAYPKI)
        .arg("--data-dir")
        .arg(ca.data_dir())
        .arg("crl"));
    crl.assert_success("paypki crl > file");
    assert_eq!(
        crl.stdout.first(),
        Some(&0x30),
        "DER starts with a SEQUENCE"
    );
}
