//! Enrollment over HTTP against the real `paypki serve` (issue 3): one-time tokens,
//! `paypki enroll` / `paypki renew`, `POST /v1/enroll` with CSRs made by `openssl req`, the
//! admin API behind the CLI, problem documents for bad input, and the operations
//! endpoints. Certificates are checked with `openssl verify` and Python's `cryptography`
//! (`tests/py/check_cert.py`), never with paypki's own code.

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Barrier;

use common::*;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Mode bits of a file (without the file type).
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `POST /v1/enroll {"token", "csr"}` with a CSR file's text.
fn post_enroll(server: &TestServer<'_>, token: &str, csr: &Path) -> HttpResponse {
    server.post_json(
        "/v1/enroll",
        &serde_json::json!({ "token": token, "csr": read_text(csr) }),
    )
}

/// Asserts a 201 enrollment answer and writes its certificate to `<tmp>/<name>`; returns
/// the response JSON and the certificate path.
fn issued_from(
    server: &TestServer<'_>,
    response: &HttpResponse,
    name: &str,
    what: &str,
) -> (serde_json::Value, std::path::PathBuf) {
    response.assert_status(201, what);
    assert!(
        response.content_type().starts_with("application/json"),
        "{what}: content type\n{}",
        response.describe()
    );
    let body = response.json();
    for field in [
        "serial",
        "certificate",
        "chain",
        "not_after",
        "role",
        "subject",
    ] {
        assert!(
            body[field].as_str().is_some_and(|v| !v.is_empty()),
            "{what}: no {field} in {body}"
        );
    }
    let path = server.ca().path(name);
    std::fs::write(&path, body["certificate"].as_str().unwrap()).unwrap();
    (body, path)
}

/// A fresh key of `kind` and a CSR for it with `subject` (OpenSSL form, `/` for empty)
/// and `addext`; returns the key and the CSR paths.
fn key_and_csr(
    ca: &TestCa,
    kind: KeyType,
    subject: &str,
    addext: &[&str],
    stem: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = generate_key(kind, &ca.path(&format!("{stem}.key.pem")));
    let csr = make_csr(&key, subject, addext, &ca.path(&format!("{stem}.csr")));
    (key, csr)
}

/// Asserts that a certificate carries the token's names and the role's policy.
fn assert_certificate_for(
    ca: &TestCa,
    cert: &Path,
    case: &EnrollCase,
    key: Option<&Path>,
    serial: &str,
    context: &str,
) -> CertSummary {
    let policy = Policy::shipped(case.role);
    let summary = ca.check_cert(cert);
    assert_eq!(summary.serial, serial, "{context}: serial");
    assert_eq!(
        summary.subject_attributes,
        owned_attributes(case.attributes),
        "{context}: subject"
    );
    assert_eq!(summary.sans, case.sans, "{context}: SANs");
    assert_eq!(
        summary.certificate_policies,
        vec![policy.certificate_policy_oid.clone()],
        "{context}: certificatePolicies (the role)"
    );
    let mut eku = summary.extended_key_usage.clone();
    eku.sort();
    let mut expected_eku = policy.eku_oids();
    expected_eku.sort();
    assert_eq!(eku, expected_eku, "{context}: extendedKeyUsage");
    assert!(!summary.ca, "{context}: the leaf is a CA");
    assert!(summary.issuer_matches, "{context}: issuer");
    if let Some(key) = key {
        assert_eq!(
            normalize_pem(&summary.public_key_pem),
            normalize_pem(&public_key_pem(key)),
            "{context}: the certificate does not carry the participant's key"
        );
    }
    summary
}

/// Which names the CSR of the HTTP participant asks for.
#[derive(Debug, Clone, Copy)]
enum CsrNames {
    /// `-subj /` and no SANs: the token decides.
    Empty,
    /// Exactly the token's subject and SANs.
    TokensOwn,
}

/// For one role, while the server runs: a participant enrolls with `paypki enroll`
/// (`cli_key_alg`), a second one POSTs a CSR made with `openssl req` (`csr_key`).
fn enroll_both_ways(role: &str, cli_key_alg: &str, csr_key: KeyType, names: CsrNames) {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let case = enroll_case(role);
    let chain = server.save_chain("served-chain.pem");
    assert_eq!(
        normalize_pem(&read_text(&chain)),
        normalize_pem(&format!(
            "{}{}",
            read_text(&ca.issuing_cert()),
            read_text(&ca.root_cert())
        )),
        "/ca/chain.pem is issuing CA then root"
    );

    // 1. `paypki token create` + `paypki enroll`.
    let context = format!("{role} via paypki enroll --key-alg {cli_key_alg}");
    let (serial, dir) = server.enroll_case(&case, cli_key_alg, &format!("{role}-cli"));
    let (key, cert, their_chain) = (
        dir.join("key.pem"),
        dir.join("cert.pem"),
        dir.join("chain.pem"),
    );
    for file in [&key, &cert, &their_chain] {
        assert!(file.is_file(), "{context}: {} missing", file.display());
    }
    assert_eq!(mode(&key), 0o600, "{context}: key.pem must be 0600");
    assert_eq!(
        normalize_pem(&read_text(&their_chain)),
        normalize_pem(&read_text(&chain)),
        "{context}: chain.pem differs from /ca/chain.pem"
    );
    assert_verifies_with_chain(&chain, &cert);
    ca.assert_openssl_verifies(&cert, None);
    let summary = assert_certificate_for(&ca, &cert, &case, Some(&key), &serial, &context);
    let expected_key = match cli_key_alg {
        "ecdsa-p256" => KeyType::EcP256,
        "ecdsa-p384" => KeyType::EcP384,
        "ed25519" => KeyType::Ed25519,
        other => panic!("no key type for {other}"),
    };
    assert_eq!(
        summary.public_key,
        expected_key.python_name(),
        "{context}: key type"
    );

    // 2. A CSR made with openssl, POSTed to /v1/enroll.
    let context = format!("{role} via POST /v1/enroll ({names:?} CSR names)");
    let token = server.create_case_token(&case);
    let (subject, addext): (&str, &[&str]) = match names {
        CsrNames::Empty => ("/", &[]),
        CsrNames::TokensOwn => (case.openssl_subject, case.openssl_addext),
    };
    let (http_key, csr) = key_and_csr(&ca, csr_key, subject, addext, &format!("{role}-http"));
    let response = post_enroll(&server, &token, &csr);
    let (body, http_cert) = issued_from(&server, &response, &format!("{role}-http.pem"), &context);
    assert_eq!(body["role"], role, "{context}: role");
    assert_eq!(body["subject"], case.token_subject, "{context}: subject");
    assert_eq!(
        normalize_pem(body["chain"].as_str().unwrap()),
        normalize_pem(&read_text(&chain)),
        "{context}: chain"
    );
    let http_serial = body["serial"].as_str().unwrap().to_string();
    assert_ne!(http_serial, serial, "{context}: serial reused");
    assert_verifies_with_chain(&chain, &http_cert);
    ca.assert_openssl_verifies(&http_cert, None);
    let summary = assert_certificate_for(
        &ca,
        &http_cert,
        &case,
        Some(&http_key),
        &http_serial,
        &context,
    );
    assert_eq!(
        summary.public_key,
        csr_key.python_name(),
        "{context}: key type"
    );
    // openssl's own reading of the names agrees.
    let text = openssl(&[
        "x509".as_ref(),
        "-noout".as_ref(),
        "-text".as_ref(),
        "-in".as_ref(),
        http_cert.as_os_str(),
    ])
    .stdout_text();
    let policy = Policy::shipped(role);
    assert_contains_all(
        &text,
        &[&policy.certificate_policy_oid, "Subject Alternative Name"],
        &format!("{context}: openssl x509 -text"),
    );

    // paypki's records, read through the running server.
    let records = ca.list_json(&[]);
    assert_eq!(records.len(), 2, "{context}: {records:?}");
    for wanted in [&serial, &http_serial] {
        let record = records
            .iter()
            .find(|r| r["serial"] == wanted.as_str())
            .unwrap_or_else(|| panic!("{wanted} not listed: {records:?}"));
        assert_eq!(record["role"], role);
        assert_eq!(record["status"], "good");
        assert_eq!(record["subject"], case.token_subject);
        assert_eq!(record["requested_via"], "enroll");
    }
    let status = server.get(&format!("/v1/certificates/{http_serial}"));
    status.assert_status(200, "GET /v1/certificates/{serial}");
    assert_eq!(status.json()["status"], "good");
    assert_eq!(status.json()["role"], role);
    server.stop();
}

// ---------------------------------------------------------------------------------------
// Auto-init and enrollment per role
// ---------------------------------------------------------------------------------------

#[test]
fn serve_on_an_empty_data_dir_creates_a_development_ca() {
    let ca = TestCa::uninitialized();
    assert!(!ca.data_dir().exists());
    let server = TestServer::start_with(&ca, &["--dev"]);

    let log = server.log();
    assert_contains_all(
        &log,
        &["no CA found", "DEVELOPMENT CA", "paypki listening"],
        "the server log says it created a CA",
    );
    for file in [ca.root_cert(), ca.issuing_cert(), ca.ocsp_cert()] {
        assert!(file.is_file(), "{} was not created", file.display());
    }
    let credential = ca.data_dir().join("admin.token");
    assert_eq!(mode(&credential), 0o600, "admin.token must be 0600");
    assert!(server.admin_token().starts_with("ppo_admin_"));

    // The CA certificates are served, and are the ones on disk.
    let chain = server.get("/ca/chain.pem");
    chain.assert_status(200, "GET /ca/chain.pem");
    assert!(
        chain
            .content_type()
            .starts_with("application/pem-certificate-chain"),
        "{}",
        chain.describe()
    );
    let blocks = split_pem_certificates(&chain.text());
    assert_eq!(blocks.len(), 2, "issuing CA and root:\n{}", chain.text());
    assert_eq!(
        normalize_pem(&blocks[0]),
        normalize_pem(&read_text(&ca.issuing_cert()))
    );
    assert_eq!(
        normalize_pem(&blocks[1]),
        normalize_pem(&read_text(&ca.root_cert()))
    );
    for (path, pem) in [
        ("/ca/root.crt", ca.root_cert()),
        ("/ca/issuing.crt", ca.issuing_cert()),
    ] {
        let response = server.get(path);
        response.assert_status(200, path);
        assert!(
            response.content_type().starts_with("application/pkix-cert"),
            "{}",
            response.describe()
        );
        let der = ca.path("served.der");
        std::fs::write(&der, &response.body).unwrap();
        let converted = openssl(&[
            "x509".as_ref(),
            "-inform".as_ref(),
            "DER".as_ref(),
            "-in".as_ref(),
            der.as_os_str(),
        ])
        .stdout_text();
        assert_eq!(
            normalize_pem(&converted),
            normalize_pem(&read_text(&pem)),
            "{path}"
        );
    }
    let chain_file = server.save_chain("chain.pem");
    let issuing_check = run(std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(ca.root_cert())
        .arg(ca.issuing_cert()));
    issuing_check.assert_success("openssl verify of the issuing CA");

    // The development CA puts the server's own URL into certificates.
    let (serial, dir) = server.enroll_case(&enroll_case("buyer"), "ecdsa-p256", "buyer");
    assert_verifies_with_chain(&chain_file, &dir.join("cert.pem"));
    let summary = ca.check_cert(&dir.join("cert.pem"));
    assert_eq!(summary.serial, serial);
    assert_eq!(
        summary.ocsp_urls,
        vec![format!("{}/ocsp", server.url())],
        "AIA OCSP of a development CA"
    );
    assert_eq!(
        summary.crl_urls,
        vec![format!("{}/crl/issuing.crl", server.url())]
    );
    server.stop();

    // A second start uses the CA it created, without creating another.
    let root_before = read_text(&ca.root_cert());
    let again = TestServer::start(&ca);
    assert!(
        !again.log().contains("DEVELOPMENT CA"),
        "a second start created another CA:\n{}",
        again.log()
    );
    assert_eq!(read_text(&ca.root_cert()), root_before);
    assert_eq!(ca.listed_serials(&[]), vec![serial]);
    // Ctrl-C (SIGINT) is a graceful shutdown too.
    again.stop_with_signal("INT");
}

#[test]
fn buyer_enrolls_with_the_cli_and_with_an_openssl_csr() {
    enroll_both_ways("buyer", "ecdsa-p256", KeyType::EcP384, CsrNames::Empty);
}

/// `paypki enroll --key-alg ed25519` for a buyer: the certificate is right. (Whether other
/// tools can use the key file is `ed25519_key_from_paypki_enroll_is_usable_with_openssl`.)
#[test]
fn buyer_enrolls_with_an_ed25519_key_from_the_cli() {
    let ca = TestCa::new();
    // Renewal (below) must be open at once.
    let policies = policies_with_open_renewal(&ca);
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    let case = enroll_case("buyer");
    let chain = server.save_chain("chain.pem");
    let (serial, dir) = server.enroll_case(&case, "ed25519", "ed25519");
    let cert = dir.join("cert.pem");
    assert_eq!(mode(&dir.join("key.pem")), 0o600, "key.pem must be 0600");
    assert_verifies_with_chain(&chain, &cert);
    ca.assert_openssl_verifies(&cert, None);
    let summary = assert_certificate_for(&ca, &cert, &case, None, &serial, "ed25519 buyer");
    assert_eq!(summary.public_key, KeyType::Ed25519.python_name());
    // paypki itself can use the key: renewal signs its proof with it.
    let renewed = ca.paypki(&[
        "renew",
        "--url",
        server.url(),
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        dir.join("key.pem").to_str().unwrap(),
    ]);
    renewed.assert_success("paypki renew with the Ed25519 key");
    server.stop();
}

/// The key file `paypki enroll --key-alg ed25519` writes must be usable by the participant's
/// other tools: docs/verification.md tells them to sign with
/// `openssl pkeyutl -sign -inkey key.pem -rawin -in msg`.
///
/// ring/rcgen serialize Ed25519 keys as PKCS#8 v2 (RFC 5958, with the public key), which
/// OpenSSL 3.0 and pyca/cryptography refuse; paypki writes PKCS#8 v1.
#[test]
fn ed25519_key_from_paypki_enroll_is_usable_with_openssl() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let (_, dir) = server.enroll_case(&enroll_case("buyer"), "ed25519", "ed25519");
    let key = dir.join("key.pem");
    let summary = ca.check_cert(&dir.join("cert.pem"));
    let read = run(std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key));
    read.assert_success("openssl pkey -in key.pem (Ed25519 from paypki enroll)");
    assert_eq!(
        normalize_pem(&read.stdout_text()),
        normalize_pem(&summary.public_key_pem)
    );
    let message = ca.path("msg");
    std::fs::write(&message, b"pay 10 EUR").unwrap();
    let signature = ca.path("msg.sig");
    openssl(&[
        "pkeyutl".as_ref(),
        "-sign".as_ref(),
        "-inkey".as_ref(),
        key.as_os_str(),
        "-rawin".as_ref(),
        "-in".as_ref(),
        message.as_os_str(),
        "-out".as_ref(),
        signature.as_os_str(),
    ]);
    let python = run(std::process::Command::new("python3")
        .args([
            "-c",
            "import sys; from cryptography.hazmat.primitives import serialization as s; \
         s.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)",
        ])
        .arg(&key));
    python.assert_success("Python cryptography loading key.pem");
    server.stop();
}

#[test]
fn merchant_enrolls_with_the_cli_and_with_an_openssl_csr() {
    enroll_both_ways(
        "merchant",
        "ecdsa-p384",
        KeyType::Ed25519,
        CsrNames::TokensOwn,
    );
}

#[test]
fn bank_enrolls_with_the_cli_and_with_an_openssl_csr() {
    enroll_both_ways("bank", "ecdsa-p256", KeyType::Rsa(3072), CsrNames::Empty);
}

#[test]
fn gateway_enrolls_with_the_cli_and_with_an_openssl_csr() {
    enroll_both_ways(
        "gateway",
        "ecdsa-p384",
        KeyType::Rsa(2048),
        CsrNames::TokensOwn,
    );
}

// ---------------------------------------------------------------------------------------
// What a token can and cannot buy
// ---------------------------------------------------------------------------------------

#[test]
fn a_buyer_token_never_yields_a_bank_certificate() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let buyer = enroll_case("buyer");
    let bank = enroll_case("bank");
    let token = server.create_case_token(&buyer);

    // A CSR that asks for the bank's names is refused, and nothing is issued.
    let (_, csr) = key_and_csr(
        &ca,
        KeyType::EcP256,
        bank.openssl_subject,
        bank.openssl_addext,
        "bank-like",
    );
    let response = post_enroll(&server, &token, &csr);
    let problem = response.assert_problem(422, "csr-mismatch", "bank subject with a buyer token");
    assert!(
        problem["detail"].as_str().unwrap().contains("subject"),
        "{problem}"
    );
    // The buyer's subject with a SAN the token does not grant: refused too.
    let (_, csr) = key_and_csr(
        &ca,
        KeyType::EcP256,
        buyer.openssl_subject,
        &["subjectAltName=DNS:bank.example"],
        "extra-san",
    );
    post_enroll(&server, &token, &csr).assert_problem(
        422,
        "csr-mismatch",
        "a SAN the token does not grant",
    );
    assert_eq!(ca.certificate_count(), 0, "a refused CSR was recorded");

    // A CSR that asks for the bank's policy OID, server EKU and CA powers gets a buyer
    // certificate all the same: the token, not the CSR, decides the role.
    let (key, csr) = key_and_csr(
        &ca,
        KeyType::EcP256,
        "/",
        &[
            "certificatePolicies=1.3.6.1.4.1.59001.1.3",
            "extendedKeyUsage=serverAuth,codeSigning",
            "basicConstraints=critical,CA:true",
        ],
        "greedy",
    );
    let csr_text = openssl(&[
        "req".as_ref(),
        "-noout".as_ref(),
        "-text".as_ref(),
        "-in".as_ref(),
        csr.as_os_str(),
    ])
    .stdout_text();
    assert_contains_all(
        &csr_text,
        &["1.3.6.1.4.1.59001.1.3", "CA:TRUE"],
        "the greedy CSR",
    );
    let response = post_enroll(&server, &token, &csr);
    let (body, cert) = issued_from(&server, &response, "greedy.pem", "greedy CSR, buyer token");
    assert_eq!(body["role"], "buyer");
    let summary = assert_certificate_for(
        &ca,
        &cert,
        &buyer,
        Some(&key),
        body["serial"].as_str().unwrap(),
        "greedy CSR",
    );
    assert!(
        !summary
            .certificate_policies
            .contains(&Policy::shipped("bank").certificate_policy_oid),
        "the bank's policy OID was granted"
    );
    assert!(!summary.ca && summary.path_length.is_none());
    ca.assert_openssl_verifies(&cert, Some("sslclient"));
    ca.openssl_verify(&cert, Some("sslserver"))
        .assert_failure("a buyer certificate used as a TLS server");
    let records = ca.list_json(&[]);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["role"], "buyer");
    server.stop();
}

#[test]
fn racing_enrollments_with_one_token_issue_exactly_one_certificate() {
    const RACERS: usize = 16;
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let case = enroll_case("merchant");
    let token = server.create_case_token(&case);
    let csrs: Vec<String> = (0..RACERS)
        .map(|i| {
            let (_, csr) = key_and_csr(&ca, KeyType::EcP256, "/", &[], &format!("racer-{i}"));
            read_text(&csr)
        })
        .collect();
    let before = ca.certificate_count();

    let barrier = Barrier::new(RACERS);
    let responses: Vec<HttpResponse> = std::thread::scope(|scope| {
        let handles: Vec<_> = csrs
            .iter()
            .map(|csr| {
                let (server, barrier, token) = (&server, &barrier, &token);
                scope.spawn(move || {
                    let body = serde_json::json!({ "token": token, "csr": csr });
                    barrier.wait();
                    server.post_json("/v1/enroll", &body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let winners: Vec<&HttpResponse> = responses.iter().filter(|r| r.status == 201).collect();
    let all: Vec<String> = responses.iter().map(HttpResponse::describe).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one racer must get a certificate:\n{}",
        all.join("\n----\n")
    );
    for response in responses.iter().filter(|r| r.status != 201) {
        assert!(
            response.status == 409 || response.status == 429,
            "a losing racer must get 409 (or 429):\n{}",
            response.describe()
        );
        response.assert_problem(response.status, "token-used", "losing racer");
    }
    let serial = winners[0].json()["serial"].as_str().unwrap().to_string();
    let after = ca.listed_serials(&[]);
    assert_eq!(after.len(), before + 1, "{after:?}");
    assert!(after.contains(&serial), "{after:?}");

    // The token stays used.
    let (_, csr) = key_and_csr(&ca, KeyType::EcP256, "/", &[], "late");
    post_enroll(&server, &token, &csr).assert_problem(
        409,
        "token-used",
        "the token after the race",
    );
    assert_eq!(ca.certificate_count(), before + 1);
    server.stop();
}

// ---------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------

/// Asserts a refusal: problem document with `status` and type `kind`, `needle` in its
/// detail, and no new certificate.
#[track_caller]
fn assert_refused(
    ca: &TestCa,
    response: &HttpResponse,
    status: u16,
    kind: &str,
    needle: &str,
    before: usize,
    what: &str,
) {
    let problem = response.assert_problem(status, kind, what);
    let detail = problem["detail"].as_str().unwrap().to_lowercase();
    assert!(
        detail.contains(&needle.to_lowercase()),
        "{what}: expected {needle:?} in the detail\n{}",
        response.describe()
    );
    assert_eq!(
        ca.certificate_count(),
        before,
        "{what}: a certificate was recorded"
    );
}

#[test]
fn bad_enrollment_requests_get_problem_documents_and_leave_the_token_usable() {
    let mut cases = Cases::new();
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let case = enroll_case("buyer");
    let (_, good_csr) = key_and_csr(&ca, KeyType::EcP256, "/", &[], "good");

    // Reused: a token that already bought a certificate.
    let used = server.create_case_token(&case);
    post_enroll(&server, &used, &good_csr).assert_status(201, "first use of a token");
    let before = ca.certificate_count();
    let (_, other_csr) = key_and_csr(&ca, KeyType::EcP256, "/", &[], "other");
    cases.case("reused token", || {
        assert_refused(
            &ca,
            &post_enroll(&server, &used, &other_csr),
            409,
            "token-used",
            "already been used",
            before,
            "reused token",
        );
    });

    // Expired.
    let short = server.create_token(
        case.role,
        case.token_subject,
        case.token_sans,
        &["--ttl", "1s"],
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    cases.case("expired token", || {
        assert_refused(
            &ca,
            &post_enroll(&server, &short, &good_csr),
            403,
            "token-rejected",
            "expired",
            before,
            "expired token",
        );
    });

    // Unknown, but well formed.
    let unknown = format!(
        "ppt_{}_{}",
        "0123456789ab".repeat(2),
        "fedcba9876543210".repeat(4)
    );
    cases.case("unknown token", || {
        assert_refused(
            &ca,
            &post_enroll(&server, &unknown, &good_csr),
            403,
            "token-rejected",
            "not recognized",
            before,
            "unknown token",
        );
    });
    // A real token's id with a wrong secret is just as unknown.
    let token = server.create_case_token(&case);
    let (id_part, secret) = token.rsplit_once('_').unwrap();
    let wrong_secret = format!(
        "{id_part}_{}",
        secret
            .chars()
            .map(|c| if c == '0' { '1' } else { '0' })
            .collect::<String>()
    );
    cases.case("wrong secret", || {
        assert_refused(
            &ca,
            &post_enroll(&server, &wrong_secret, &good_csr),
            403,
            "token-rejected",
            "not recognized",
            before,
            "wrong secret",
        );
    });

    // Malformed token.
    for malformed in ["not-a-token", "ppt_x_y", ""] {
        assert_refused(
            &ca,
            &post_enroll(&server, malformed, &good_csr),
            400,
            "bad-token",
            "malformed",
            before,
            &format!("malformed token {malformed:?}"),
        );
    }

    // From here on every refusal uses `token`, which must survive them all.
    // A CSR whose self-signature does not verify (last signature byte changed).
    let der = ca.path("tampered.der");
    openssl(&[
        "req".as_ref(),
        "-in".as_ref(),
        good_csr.as_os_str(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-out".as_ref(),
        der.as_os_str(),
    ]);
    let mut bytes = read_bytes(&der);
    *bytes.last_mut().unwrap() ^= 0x01;
    std::fs::write(&der, &bytes).unwrap();
    let tampered = ca.path("tampered.csr");
    openssl(&[
        "req".as_ref(),
        "-inform".as_ref(),
        "DER".as_ref(),
        "-in".as_ref(),
        der.as_os_str(),
        "-out".as_ref(),
        tampered.as_os_str(),
    ]);
    let check = run(std::process::Command::new("openssl")
        .args(["req", "-verify", "-noout", "-in"])
        .arg(&tampered));
    cases.case("case 5", || {
        assert!(
            !check.status.success() || !check.describe().contains("verify OK"),
            "openssl accepts the tampered CSR\n{}",
            check.describe()
        );
    });
    cases.case("CSR with a bad signature", || {
        assert_refused(
            &ca,
            &post_enroll(&server, &token, &tampered),
            400,
            "bad-csr-signature",
            "signature",
            before,
            "CSR with a bad signature",
        );
    });

    // Not a CSR at all.
    let garbage = server.post_json(
        "/v1/enroll",
        &serde_json::json!({ "token": token, "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n" }),
    );
    cases.case("garbage CSR", || {
        assert_refused(&ca, &garbage, 400, "bad-csr", "csr", before, "garbage CSR");
    });

    // Weak key: RSA 1024.
    let (_, weak) = key_and_csr(&ca, KeyType::Rsa(1024), "/", &[], "rsa1024");
    cases.case("RSA 1024 CSR", || {
        assert_refused(
            &ca,
            &post_enroll(&server, &token, &weak),
            422,
            "bad-key",
            "2048",
            before,
            "RSA 1024 CSR",
        );
    });

    // A subject other than the token's.
    let (_, mallory) = key_and_csr(
        &ca,
        KeyType::EcP256,
        "/CN=Mallory Buyer/C=DE/serialNumber=ACCT-0042",
        &[],
        "mallory",
    );
    cases.case("CSR subject differs from the token's", || {
        assert_refused(
            &ca,
            &post_enroll(&server, &token, &mallory),
            422,
            "csr-mismatch",
            "subject",
            before,
            "CSR subject differs from the token's",
        );
    });
    // The token's attributes in another order are another subject too.
    let (_, reordered) = key_and_csr(
        &ca,
        KeyType::EcP256,
        "/C=DE/CN=Alice Buyer/serialNumber=ACCT-0042",
        &[],
        "reordered",
    );
    post_enroll(&server, &token, &reordered).assert_problem(
        422,
        "csr-mismatch",
        "reordered subject",
    );

    // Bodies the server cannot read.
    let invalid_json = server.post_bytes(
        "/v1/enroll",
        Some("application/json"),
        format!("{{\"token\": \"{token}\", \"csr\": ").as_bytes(),
    );
    cases.case("invalid JSON", || {
        assert_refused(
            &ca,
            &invalid_json,
            400,
            "malformed-request",
            "json",
            before,
            "invalid JSON",
        );
    });
    let missing_field = server.post_json("/v1/enroll", &serde_json::json!({ "token": token }));
    cases.case("missing csr field", || {
        assert_refused(
            &ca,
            &missing_field,
            400,
            "malformed-request",
            "csr",
            before,
            "missing csr field",
        );
    });
    let unknown_field = server.post_json(
        "/v1/enroll",
        &serde_json::json!({ "token": token, "csr": read_text(&good_csr), "role": "bank" }),
    );
    unknown_field.assert_problem(400, "malformed-request", "unknown field");
    let body =
        serde_json::to_vec(&serde_json::json!({ "token": token, "csr": read_text(&good_csr) }))
            .unwrap();
    cases.case("wrong content type", || {
        assert_refused(
            &ca,
            &server.post_bytes("/v1/enroll", Some("text/plain"), &body),
            415,
            "unsupported-media-type",
            "json",
            before,
            "wrong content type",
        );
    });
    cases.case("no content type", || {
        assert_refused(
            &ca,
            &server.post_bytes("/v1/enroll", None, &body),
            415,
            "unsupported-media-type",
            "json",
            before,
            "no content type",
        );
    });
    let mut oversized = format!("{{\"token\": \"{token}\", \"csr\": \"").into_bytes();
    oversized.resize(200 * 1024, b'A');
    oversized.extend_from_slice(b"\"}");
    cases.case("200 KiB body", || {
        assert_refused(
            &ca,
            &server.post_oversized("/v1/enroll", "application/json", &oversized),
            413,
            "payload-too-large",
            "too large",
            before,
            "200 KiB body",
        );
    });

    // After all of that, the token still works, exactly once.
    let (key, csr) = key_and_csr(&ca, KeyType::EcP384, "/", &[], "finally");
    let response = post_enroll(&server, &token, &csr);
    let (body, cert) = issued_from(
        &server,
        &response,
        "finally.pem",
        "the token after refusals",
    );
    assert_certificate_for(
        &ca,
        &cert,
        &case,
        Some(&key),
        body["serial"].as_str().unwrap(),
        "the token after refusals",
    );
    cases.case("line 260", || {
        assert_eq!(ca.certificate_count(), before + 1);
    });
    // The used token with another key is refused. (With the same key it is a retry after
    // a lost answer, and the CA hands the same certificate over again: see
    // tests/integrator_fixes.rs.)
    let (_, other_csr) = key_and_csr(&ca, KeyType::EcP256, "/", &[], "second");
    cases.case("the token a second time", || {
        assert_refused(
            &ca,
            &post_enroll(&server, &token, &other_csr),
            409,
            "token-used",
            "already",
            before + 1,
            "the token a second time",
        );
    });
    server.stop();
    cases.finish();
}

#[test]
fn admin_endpoints_require_the_admin_credential() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let case = enroll_case("merchant");
    let grant = serde_json::json!({
        "role": case.role,
        "subject": case.token_subject,
        "subject_alt_names": case.token_sans,
    });
    let grant_bytes = serde_json::to_vec(&grant).unwrap();
    let wrong_credential = format!("Bearer ppa_{}", "0".repeat(64));
    let basic = "Basic YWRtaW46YWRtaW4=";
    let bare = server.admin_token().to_string();
    let refusals: [(&str, Option<&str>); 4] = [
        ("no Authorization", None),
        ("a wrong credential", Some(&wrong_credential)),
        ("Basic authentication", Some(basic)),
        ("the credential without Bearer", Some(&bare)),
    ];
    for (what, authorization) in refusals {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        for response in [
            server.post_bytes_with(
                "/v1/admin/tokens",
                Some("application/json"),
                &grant_bytes,
                &headers,
            ),
            server.get_with("/v1/admin/certificates", &headers),
            server.post_bytes_with(
                "/v1/admin/revocations",
                Some("application/json"),
                br#"{"serial": "01", "reason": "keyCompromise"}"#,
                &headers,
            ),
        ] {
            response.assert_problem(401, "unauthorized", what);
            assert!(
                response
                    .header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Bearer")),
                "{what}: 401 without WWW-Authenticate: Bearer\n{}",
                response.describe()
            );
        }
    }

    // With the credential: a token is created, and it works.
    let created = server.admin_post_json("/v1/admin/tokens", &grant);
    created.assert_status(201, "POST /v1/admin/tokens with the credential");
    let created = created.json();
    assert_eq!(created["role"], "merchant");
    assert_eq!(created["subject"], case.token_subject);
    let token = created["token"].as_str().unwrap();
    let (key, csr) = key_and_csr(&ca, KeyType::EcP256, "/", &[], "admin-made");
    let response = post_enroll(&server, token, &csr);
    let (body, cert) = issued_from(&server, &response, "admin-made.pem", "admin-made token");
    assert_certificate_for(
        &ca,
        &cert,
        &case,
        Some(&key),
        body["serial"].as_str().unwrap(),
        "admin-made token",
    );
    let list = server.admin_get("/v1/admin/certificates");
    list.assert_status(200, "GET /v1/admin/certificates with the credential");
    let certificates = list.json()["certificates"].as_array().unwrap().clone();
    assert_eq!(certificates.len(), 1);
    assert_eq!(certificates[0]["serial"], body["serial"]);

    // A grant the policy refuses is refused when the token is made, not later.
    let bad_grant = serde_json::json!({ "role": "merchant", "subject": "CN=No Merchant ID" });
    server
        .admin_post_json("/v1/admin/tokens", &bad_grant)
        .assert_problem(
            422,
            "policy-violation",
            "a merchant token without serialNumber",
        );
    let long_lived = serde_json::json!({
        "role": "buyer",
        "subject": enroll_case("buyer").token_subject,
        "ttl": format!("{}h", 24 * 7 + 1),
    });
    server
        .admin_post_json("/v1/admin/tokens", &long_lived)
        .assert_problem(
            422,
            "policy-violation",
            "a buyer token living longer than token_max_ttl_hours",
        );
    let bad_san = serde_json::json!({
        "role": "gateway",
        "subject": enroll_case("gateway").token_subject,
        "subject_alt_names": ["email:gw@pay.example"],
    });
    server
        .admin_post_json("/v1/admin/tokens", &bad_san)
        .assert_problem(
            422,
            "policy-violation",
            "a gateway token with an e-mail SAN (and no DNS SAN)",
        );
    server.stop();
}

// ---------------------------------------------------------------------------------------
// Renewal
// ---------------------------------------------------------------------------------------

#[test]
fn renewal_keeps_names_and_role_and_refuses_revoked_certificates() {
    let ca = TestCa::new();
    let policies = policies_with_open_renewal(&ca);
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    let chain = server.save_chain("chain.pem");
    let case = enroll_case("gateway");
    let (serial0, dir0) = server.enroll_case(&case, "ecdsa-p256", "v0");
    let key0 = dir0.join("key.pem");
    let cert0 = dir0.join("cert.pem");

    let renew = |cert: &Path, key: &Path, out: &str, extra: &[&str]| {
        let out_dir = ca.path(out);
        let mut args = vec![
            "renew",
            "--url",
            server.url(),
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--out-dir",
            out_dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        std::fs::create_dir_all(&out_dir).unwrap();
        (ca.paypki(&args), out_dir)
    };

    // Same key.
    let (output, dir1) = renew(&cert0, &key0, "v1", &[]);
    output.assert_success("paypki renew");
    let serial1 = output.stdout_text().trim().to_string();
    assert_ne!(serial1, serial0, "renewal must issue a new serial");
    let cert1 = dir1.join("cert.pem");
    assert_verifies_with_chain(&chain, &cert1);
    assert_certificate_for(
        &ca,
        &cert1,
        &case,
        Some(&key0),
        &serial1,
        "renewed, same key",
    );
    let records = ca.list_json(&[]);
    let record = records
        .iter()
        .find(|r| r["serial"] == serial1.as_str())
        .unwrap_or_else(|| panic!("{serial1} not listed: {records:?}"));
    assert_eq!(record["role"], "gateway");
    assert_eq!(record["subject"], case.token_subject);
    assert_eq!(record["requested_via"], "renew");

    // New key.
    let (output, dir2) = renew(
        &cert1,
        &key0,
        "v2",
        &["--new-key", "--key-alg", "ecdsa-p384"],
    );
    output.assert_success("paypki renew --new-key");
    let serial2 = output.stdout_text().trim().to_string();
    assert!(serial2 != serial0 && serial2 != serial1);
    let (key2, cert2) = (dir2.join("key.pem"), dir2.join("cert.pem"));
    assert_eq!(mode(&key2), 0o600, "the new key.pem must be 0600");
    assert_ne!(
        normalize_pem(&public_key_pem(&key2)),
        normalize_pem(&public_key_pem(&key0)),
        "--new-key kept the old key"
    );
    assert_verifies_with_chain(&chain, &cert2);
    let summary = assert_certificate_for(
        &ca,
        &cert2,
        &case,
        Some(&key2),
        &serial2,
        "renewed, new key",
    );
    assert_eq!(summary.public_key, KeyType::EcP384.python_name());

    // A proof made with a key that is not the certificate's is refused.
    let stranger = generate_key(KeyType::EcP256, &ca.path("stranger.key.pem"));
    let before = ca.certificate_count();
    let (output, _) = renew(&cert2, &stranger, "v-stranger", &[]);
    output.assert_failure("paypki renew with someone else's key");
    assert_contains_all(&output.stderr_text(), &["403"], "renewal with a wrong key");
    assert_eq!(ca.certificate_count(), before);

    // Revoked: renewal is refused with a message.
    let revoke = ca.paypki(&["revoke", &serial2, "--reason", "keyCompromise"]);
    revoke.assert_success("paypki revoke while serving");
    assert_eq!(revoke.stdout_text().trim(), serial2);
    let (output, _) = renew(&cert2, &key2, "v3", &[]);
    output.assert_failure("paypki renew of a revoked certificate");
    let stderr = output.stderr_text();
    assert_contains_all(
        &stderr,
        &["revoked", "403"],
        "renewal of a revoked certificate",
    );
    assert!(
        output.stdout_text().trim().is_empty(),
        "{}",
        output.describe()
    );
    assert_eq!(ca.certificate_count(), before);
    server.stop();
}

/// The policies' `renewal_window_days` ("how long before expiry renewal opens", 30 days
/// for gateways, whose certificates last 90) must keep a fresh certificate from being
/// renewed: otherwise a holder could renew without limit and keep several valid
/// certificates for one token.
#[test]
fn renewal_is_refused_before_the_policy_window_opens() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let policy = Policy::shipped("gateway");
    assert!(policy.validity.default_days > 30);
    let (_, dir) = server.enroll_case(&enroll_case("gateway"), "ecdsa-p256", "gw");
    let before = ca.certificate_count();
    std::fs::create_dir_all(ca.path("renewed")).unwrap();
    let output = ca.paypki(&[
        "renew",
        "--url",
        server.url(),
        "--cert",
        dir.join("cert.pem").to_str().unwrap(),
        "--key",
        dir.join("key.pem").to_str().unwrap(),
        "--out-dir",
        ca.path("renewed").to_str().unwrap(),
    ]);
    output.assert_failure("renewal 90 days before expiry, window 30 days");
    assert_contains_all(&output.stderr_text(), &["403"], "early renewal");
    assert_eq!(
        ca.certificate_count(),
        before,
        "an early renewal was issued"
    );
    server.stop();
}

/// `paypki renew --out-dir DIR` with a DIR that does not exist yet must create it (as
/// `paypki enroll --out-dir` does), or refuse before asking the CA.

#[test]
fn renew_into_a_new_out_dir_creates_it() {
    let ca = TestCa::new();
    let policies = policies_with_open_renewal(&ca);
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    let (_, dir) = server.enroll_case(&enroll_case("merchant"), "ecdsa-p256", "m");
    let before = ca.certificate_count();
    let out_dir = ca.path("does-not-exist-yet");
    let output = ca.paypki(&[
        "renew",
        "--url",
        server.url(),
        "--cert",
        dir.join("cert.pem").to_str().unwrap(),
        "--key",
        dir.join("key.pem").to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    let issued = ca.certificate_count() - before;
    if output.status.success() {
        let serial = output.stdout_text().trim().to_string();
        assert_eq!(issued, 1);
        assert_eq!(ca.check_cert(&out_dir.join("cert.pem")).serial, serial);
        assert!(out_dir.join("chain.pem").is_file());
    } else {
        assert_eq!(
            issued,
            0,
            "paypki renew failed but the CA issued a certificate it never delivered\n{}",
            output.describe()
        );
    }
    server.stop();
}

// ---------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------

/// Runs `paypki serve` for `ca` and expects it to give up (non-zero exit) within the server
/// deadline; kills it and panics otherwise.
fn assert_serve_refuses(ca: &TestCa, what: &str) -> std::process::Output {
    let mut child = ca
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + SERVER_DEADLINE;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("{what}: paypki serve kept running\n{}", output.describe());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    output.assert_failure(what);
    output
}

#[test]
fn cli_and_operations_endpoints_work_while_serving_and_sigterm_is_graceful() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);

    // The CLI reaches the running server's admin API.
    assert!(ca.list_json(&[]).is_empty());
    let token = server.create_case_token(&enroll_case("buyer"));
    let json_token = ca.paypki(&[
        "token",
        "create",
        "--role",
        "merchant",
        "--subject",
        enroll_case("merchant").token_subject,
        "--json",
    ]);
    json_token.assert_success("paypki token create --json");
    let created: serde_json::Value = serde_json::from_slice(&json_token.stdout).unwrap();
    assert!(created["token"].as_str().unwrap().starts_with("ppt_"));
    assert_eq!(created["role"], "merchant");

    // `paypki enroll` never overwrites a key, and refuses before using the token.
    let (_, occupied) = server.enroll_case(&enroll_case("bank"), "ecdsa-p256", "bank");
    let key_before = read_text(&occupied.join("key.pem"));
    let refused = ca.paypki(&[
        "enroll",
        "--url",
        server.url(),
        "--token",
        &token,
        "--out-dir",
        occupied.to_str().unwrap(),
    ]);
    refused.assert_failure("paypki enroll into a directory with a key.pem");
    assert_contains_all(
        &refused.stderr_text(),
        &["key.pem"],
        "enroll into an occupied directory",
    );
    assert_eq!(
        read_text(&occupied.join("key.pem")),
        key_before,
        "key.pem overwritten"
    );
    let (serial, dir) = server.enroll_cli(&token, "ecdsa-p256", "buyer");
    assert_eq!(
        ca.listed_serials(&["--role", "buyer"]),
        vec![serial.clone()]
    );
    let table = ca.paypki(&["list"]);
    table.assert_success("paypki list while serving");
    assert_contains_all(&table.stdout_text(), &[&serial, "buyer"], "paypki list");
    let show = ca.paypki(&["show", &serial]);
    show.assert_success("paypki show while serving");
    assert_contains_all(&show.stdout_text(), &[&serial, "good"], "paypki show");
    ca.paypki(&["audit", "verify"])
        .assert_success("paypki audit verify while serving");
    let (_, csr) = key_and_csr(&ca, KeyType::EcP256, "/CN=Offline Buyer", &[], "offline");
    let listed_before = ca.list_json(&[]).len();
    let offline = ca.paypki(&["issue", "--csr", csr.to_str().unwrap(), "--role", "buyer"]);
    if backend_is_postgres() {
        // PostgreSQL is shared: the CLI issues while the server runs, and the server
        // sees the certificate.
        offline.assert_success("paypki issue while serving (PostgreSQL)");
        assert_eq!(
            ca.list_json(&[]).len(),
            listed_before + 1,
            "the offline issuance is listed"
        );
    } else {
        offline.assert_failure("paypki issue while the server holds the database");
        assert_contains_all(
            &offline.stderr_text(),
            &["serve"],
            "paypki issue while serving",
        );
    }

    // /healthz
    let health = server.get("/healthz");
    health.assert_status(200, "GET /healthz");
    assert_eq!(health.json()["status"], "ok");

    // /metrics
    let metrics = server.get("/metrics");
    metrics.assert_status(200, "GET /metrics");
    assert!(
        metrics.content_type().contains("openmetrics-text"),
        "{}",
        metrics.describe()
    );
    let text = metrics.text();
    assert_contains_all(
        &text,
        &[
            "paypki_http_requests_total",
            "paypki_certificates_issued_total",
            "# EOF",
        ],
        "/metrics",
    );
    let issued_line = text
        .lines()
        .find(|l| {
            l.starts_with("paypki_certificates_issued_total{") && l.contains("role=\"buyer\"")
        })
        .unwrap_or_else(|| panic!("no issued counter for buyers:\n{text}"));
    let value: f64 = issued_line
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{issued_line}: {e}"));
    assert_eq!(value, 1.0, "{issued_line}");

    // /openapi.json
    let openapi = server.get("/openapi.json");
    openapi.assert_status(200, "GET /openapi.json");
    let document = openapi.json();
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "not OpenAPI 3.1: {}",
        document["openapi"]
    );
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/v1/enroll",
        "/v1/renew",
        "/v1/certificates/{serial}",
        "/ca/root.crt",
        "/ca/issuing.crt",
        "/ca/chain.pem",
        "/ocsp",
        "/ocsp/{request}",
        "/crl/issuing.crl",
        "/crl/root.crl",
        "/v1/admin/tokens",
        "/v1/admin/revocations",
        "/v1/admin/revocations/{serial}/unhold",
        "/v1/admin/certificates",
        "/v1/admin/certificates/{serial}",
        "/v1/admin/audit/verify",
        "/healthz",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(path),
            "/openapi.json lacks {path}: {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }

    // /v1/certificates/{serial}
    let view = server.get(&format!("/v1/certificates/{serial}"));
    view.assert_status(200, "GET /v1/certificates/{serial}");
    let view = view.json();
    assert_eq!(view["serial"], serial.as_str());
    assert_eq!(view["status"], "good");
    assert_eq!(view["validity"], "valid");
    assert_eq!(view["role"], "buyer");
    assert_eq!(
        normalize_pem(view["certificate"].as_str().unwrap()),
        normalize_pem(&read_text(&dir.join("cert.pem")))
    );
    server
        .get("/v1/certificates/0123456789abcdef")
        .assert_problem(404, "not-found", "an unknown serial");
    server.get("/v1/certificates/not-hex").assert_problem(
        400,
        "malformed-request",
        "a malformed serial",
    );
    server
        .get("/no/such/endpoint")
        .assert_problem(404, "not-found", "an unknown path");

    // A second server on the same data directory refuses to start, and leaves the first
    // one's server.json alone.
    let info_before = read_text(&server.server_json());
    let second = assert_serve_refuses(&ca, "a second paypki serve on the same data directory");
    assert_contains_all(&second.stderr_text(), &["in use"], "second paypki serve");
    assert_eq!(read_text(&server.server_json()), info_before);
    server
        .get("/healthz")
        .assert_status(200, "the first server after the second failed");

    // SIGTERM: graceful exit, server.json removed; the database is free again.
    let log = server.stop();
    assert!(log.contains("shutdown requested"), "{log}");
    let buyers = ca.listed_serials(&["--role", "buyer"]);
    assert!(buyers.contains(&serial), "{buyers:?}");
    // On PostgreSQL the offline issuance made while serving is there too.
    assert_eq!(
        buyers.len(),
        if backend_is_postgres() { 2 } else { 1 },
        "{buyers:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Renewal lineage: single-use proofs, superseded parents, compromised ancestors
// ---------------------------------------------------------------------------------------

/// A `POST /v1/renew` body for `cert` (serial `serial`) signed with `key` now, for a new
/// CSR made with the same key (openssl signs the renewal message).
fn renewal_body(ca: &TestCa, serial: &str, key: &Path, stem: &str) -> serde_json::Value {
    let csr = make_csr(key, "/", &[], &ca.path(&format!("{stem}.csr")));
    let der = ca.path(&format!("{stem}.csr.der"));
    openssl(&[
        "req",
        "-in",
        csr.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        der.to_str().unwrap(),
    ])
    .assert_success("openssl req -outform DER");
    let digest = openssl(&["dgst", "-sha256", "-r", der.to_str().unwrap()]);
    let digest = digest.stdout_text();
    let csr_hash = digest.split_whitespace().next().unwrap();
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let message = ca.path(&format!("{stem}.renewal"));
    std::fs::write(
        &message,
        format!("paypki-renewal-v1\n{serial}\n{time}\n{csr_hash}"),
    )
    .unwrap();
    let proof = ca.path(&format!("{stem}.proof"));
    openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        key.to_str().unwrap(),
        "-out",
        proof.to_str().unwrap(),
        message.to_str().unwrap(),
    ])
    .assert_success("openssl dgst -sign (renewal proof)");
    use base64::Engine;
    serde_json::json!({
        "serial": serial,
        "csr": read_text(&csr),
        "time": time,
        "proof": base64::engine::general_purpose::STANDARD.encode(read_bytes(&proof)),
    })
}

/// The record of `serial` as `GET /v1/certificates/{serial}` shows it.
#[track_caller]
fn record_of(server: &TestServer<'_>, serial: &str) -> serde_json::Value {
    let response = server.get(&format!("/v1/certificates/{serial}"));
    response.assert_status(200, &format!("GET /v1/certificates/{serial}"));
    response.json()
}

#[test]
fn a_renewal_proof_renews_once_and_the_parent_is_superseded() {
    let ca = TestCa::new();
    let policies = policies_with_open_renewal(&ca);
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    let (parent, dir) = server.enroll_case(&enroll_case("merchant"), "ecdsa-p256", "parent");
    let body = renewal_body(&ca, &parent, &dir.join("key.pem"), "r1");
    let first = server.post_json("/v1/renew", &body);
    first.assert_status(201, "the first use of a renewal proof");
    let child = first.json()["serial"].as_str().unwrap().to_string();
    // The same proof again: refused, and nothing issued.
    let replay = server.post_json("/v1/renew", &body);
    let problem = replay.assert_problem(403, "renewal-refused", "a replayed renewal proof");
    assert_eq!(problem["type"], "urn:paypki:problem:renewal-refused");
    assert!(
        problem["detail"].as_str().unwrap().contains("already used"),
        "{problem}"
    );
    assert_eq!(ca.list_json(&[]).len(), 2, "a replay issued nothing");
    // The shipped policy gives the holder 24 hours to deploy the successor.
    assert_eq!(record_of(&server, &parent)["status"], "good");
    assert_eq!(record_of(&server, &child)["status"], "good");
    server.stop();

    // With supersede_after_hours = 0 the parent is superseded at once.
    let merchant = policies.join("merchant.toml");
    let text = read_text(&merchant).replace(
        "[enrollment]\n",
        "[enrollment]\nsupersede_after_hours = 0\n",
    );
    std::fs::write(&merchant, text).unwrap();
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    let (parent, dir) = server.enroll_case(&enroll_case("merchant"), "ecdsa-p256", "parent2");
    let renewed = server.post_json(
        "/v1/renew",
        &renewal_body(&ca, &parent, &dir.join("key.pem"), "r2"),
    );
    renewed.assert_status(201, "renewal with no supersede grace");
    let record = record_of(&server, &parent);
    assert_eq!(record["status"], "revoked", "{record}");
    assert_eq!(record["revocation"]["reason"], "superseded", "{record}");
    server.stop();
}

#[test]
fn a_compromised_certificates_renewals_are_revoked_and_a_held_ones_cannot_renew() {
    let ca = TestCa::new();
    let policies = policies_with_open_renewal(&ca);
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    // Grandparent → parent → child, each renewed with the same key. With the shipped
    // supersede_after_hours (24) every one of them stays good for now.
    let (grandparent, dir) = server.enroll_case(&enroll_case("gateway"), "ecdsa-p256", "gp");
    let key = dir.join("key.pem");
    let renew = |serial: &str, stem: &str| {
        let response = server.post_json("/v1/renew", &renewal_body(&ca, serial, &key, stem));
        response.assert_status(201, &format!("renewal of {serial}"));
        response.json()["serial"].as_str().unwrap().to_string()
    };
    let parent = renew(&grandparent, "p");
    let child = renew(&parent, "c");
    for serial in [&grandparent, &parent, &child] {
        assert_eq!(record_of(&server, serial)["status"], "good", "{serial}");
    }

    // A hold on an ancestor stops the descendants' renewals.
    ca.paypki(&["revoke", &grandparent, "--reason", "certificateHold"])
        .assert_success("hold the grandparent");
    let refused = server.post_json("/v1/renew", &renewal_body(&ca, &child, &key, "c2"));
    let problem = refused.assert_problem(403, "renewal-refused", "renewal below a held ancestor");
    assert!(
        problem["detail"].as_str().unwrap().contains(&grandparent),
        "{problem}"
    );

    // A key compromise revokes every certificate renewed from it, down the line.
    ca.paypki(&[
        "revoke",
        &grandparent,
        "--reason",
        "keyCompromise",
        "--invalidity-date",
        "2026-01-01T00:00:00Z",
    ])
    .assert_success("the grandparent's key was compromised");
    for serial in [&grandparent, &parent, &child] {
        let record = record_of(&server, serial);
        assert_eq!(record["status"], "revoked", "{serial}: {record}");
        assert_eq!(record["revocation"]["reason"], "keyCompromise", "{record}");
    }
    server.stop();
}
