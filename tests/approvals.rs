//! Dual control against the real server and CLI (issue 12): a bank certificate is issued
//! only after another officer approves; the requester's own approval is refused; the
//! enrolling participant gets 202 and polls; a bank revocation waits for a second
//! revocation officer and OCSP changes only then; the audit trail names every officer.

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use serde_json::json;

/// Adds an officer with `roles` through the API; returns its credential.
fn officer(server: &TestServer, name: &str, roles: &[&str]) -> String {
    let made = server.admin_post_json(
        "/v1/admin/officers",
        &json!({ "name": name, "roles": roles }),
    );
    made.assert_status(201, &format!("add officer {name}"));
    made.json()["credential"].as_str().unwrap().to_string()
}

/// The request id (`apr_…`) a pending act's message names.
fn request_id(message: &str) -> String {
    message
        .split_whitespace()
        .find(|w| w.starts_with("apr_"))
        .unwrap_or_else(|| panic!("no request id in: {message}"))
        .trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .to_string()
}

fn as_officer(credential: &str) -> Vec<(&'static str, &str)> {
    vec![("PAYPKI_OFFICER_CREDENTIAL", credential)]
}

#[test]
fn a_bank_certificate_is_issued_only_after_another_officers_approval() {
    let ca = TestCa::new();
    let policies = policies_with_all_banks_under_dual_control(&ca);
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    let alice = officer(&server, "alice", &["ra-officer"]);
    let bob = officer(&server, "bob", &["ra-officer"]);
    let carol = officer(&server, "carol", &["revocation-officer"]);
    let dave = officer(&server, "dave", &["revocation-officer"]);
    let chain = server.save_chain("chain.pem");

    // Alice creates a bank token; the bank enrolls over HTTP and is told to wait.
    let case = enroll_case("bank");
    let created = server.post_bytes_with(
        "/v1/admin/tokens",
        Some("application/json"),
        &serde_json::to_vec(&json!({
            "role": "bank", "subject": case.token_subject, "subject_alt_names": case.token_sans
        }))
        .unwrap(),
        &[("Authorization", &format!("Bearer {alice}"))],
    );
    created.assert_status(201, "alice creates a bank token");
    let token = created.json()["token"].as_str().unwrap().to_string();
    let key = generate_key(KeyType::EcP256, &ca.path("bank.key"));
    let csr = make_csr(
        &key,
        case.openssl_subject,
        case.openssl_addext,
        &ca.path("bank.csr"),
    );
    let body = json!({ "token": token, "csr": read_text(&csr) });
    let answer = server.post_json("/v1/enroll", &body);
    answer.assert_status(202, "enrollment of a bank under dual control");
    let pending = answer.json();
    assert_eq!(pending["status"], "pending");
    let id = pending["approval"].as_str().unwrap().to_string();
    let location = answer.header("location").unwrap().to_string();
    assert_eq!(location, format!("/v1/enroll/approvals/{id}"));
    assert!(answer.header("retry-after").is_some());
    server
        .get(&location)
        .assert_status(202, "poll while pending");
    // The same token again: still pending, nothing new.
    server
        .post_json("/v1/enroll", &body)
        .assert_status(202, "the same enrollment again");

    // Alice may not approve her own request; carol lacks the role.
    let refused = server.post_bytes_with(
        &format!("/v1/admin/approvals/{id}/approve"),
        Some("application/json"),
        b"{}",
        &[("Authorization", &format!("Bearer {alice}"))],
    );
    let problem = refused.assert_problem(403, "forbidden", "the requester approving");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("may not approve"),
        "{problem}"
    );
    let refused = ca.paypki_env(&["approval", "approve", &id], &as_officer(&carol));
    assert!(!refused.status.success());
    assert_contains_all(&refused.stderr_text(), &["ra-officer"], "carol approving");
    let listed = ca.paypki_env(&["approval", "list", "--json"], &as_officer(&bob));
    listed.assert_success("bob lists the requests");
    assert!(
        listed.stdout_text().contains(&id),
        "{}",
        listed.stdout_text()
    );

    // Bob approves (CLI through the running server): issued at once.
    let approved = ca.paypki_env(&["approval", "approve", &id], &as_officer(&bob));
    approved.assert_success("bob approves");
    let view: serde_json::Value = serde_json::from_slice(&approved.stdout).unwrap();
    assert_eq!(view["status"], "executed", "{view:#}");
    let serial = view["serial"].as_str().unwrap().to_string();
    let fetched = server.get(&location);
    fetched.assert_status(200, "poll after approval");
    assert_eq!(fetched.json()["serial"], serial.as_str());
    let cert = ca.path("bank.pem");
    std::fs::write(&cert, fetched.json()["certificate"].as_str().unwrap()).unwrap();
    assert_verifies_with_chain(&chain, &cert);
    let summary = check_cert(&cert, &ca.issuing_cert(), &ca.root_cert());
    assert_eq!(summary.serial, serial);
    // The token now redelivers the same certificate.
    server
        .post_json("/v1/enroll", &body)
        .assert_status(200, "the token after approval");

    // Revoking the bank certificate: a request; OCSP stays good until dave approves.
    let output = ca.paypki_env(
        &["revoke", &serial, "--reason", "keyCompromise"],
        &as_officer(&carol),
    );
    assert_eq!(output.status.code(), Some(4), "{}", output.describe());
    let revoke_id = request_id(&output.stderr_text());
    let status = |label: &str| {
        let out = openssl_ocsp(
            &server.url_for("/ocsp"),
            &ca.issuing_cert(),
            &chain,
            &["-cert", cert.to_str().unwrap()],
        );
        ocsp_status_line(&out, cert.to_str().unwrap()).replace(&format!("{}: ", cert.display()), "")
            + label
    };
    assert_eq!(status(""), "good");
    let own = ca.paypki_env(&["approval", "approve", &revoke_id], &as_officer(&carol));
    assert!(!own.status.success(), "{}", own.describe());
    ca.paypki_env(&["approval", "approve", &revoke_id], &as_officer(&dave))
        .assert_success("dave approves the revocation");
    assert_eq!(status(""), "revoked");

    // A rejected enrollment: the participant learns it is refused.
    let token = server.post_bytes_with(
        "/v1/admin/tokens",
        Some("application/json"),
        &serde_json::to_vec(&json!({
            "role": "bank", "subject": "CN=Other Bank,O=Other Bank AG,C=DE,serialNumber=OTHRDEFF",
            "subject_alt_names": ["dns:other.example"]
        }))
        .unwrap(),
        &[("Authorization", &format!("Bearer {alice}"))],
    );
    let token = token.json()["token"].as_str().unwrap().to_string();
    let key = generate_key(KeyType::EcP256, &ca.path("other.key"));
    let csr = make_csr(
        &key,
        "/CN=Other Bank/O=Other Bank AG/C=DE/serialNumber=OTHRDEFF",
        &["subjectAltName=DNS:other.example"],
        &ca.path("other.csr"),
    );
    let answer = server.post_json(
        "/v1/enroll",
        &json!({ "token": token, "csr": read_text(&csr) }),
    );
    answer.assert_status(202, "the other bank waits");
    let other = answer.json()["approval"].as_str().unwrap().to_string();
    ca.paypki_env(
        &["approval", "reject", &other, "--reason", "unknown bank"],
        &as_officer(&bob),
    )
    .assert_success("bob rejects");
    server
        .get(&format!("/v1/enroll/approvals/{other}"))
        .assert_problem(403, "approval-refused", "poll after rejection");

    server.stop();
    let audit = ca.paypki(&["audit", "log", "--limit", "100000"]);
    assert_contains_all(
        &audit.stdout_text(),
        &[
            "\"action\":\"approval-request\"",
            "\"action\":\"approval-approve\"",
            "\"action\":\"approval-execute\"",
            "\"action\":\"approval-reject\"",
            "officer bob (admin API credential)",
            "officer dave (admin API credential)",
            "created by officer alice",
        ],
        "the audit trail",
    );
}

#[test]
fn a_registered_bank_needs_approval_with_the_shipped_policy_and_a_buyer_does_not() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let alice = officer(&server, "alice", &["ra-officer"]);
    let bob = officer(&server, "bob", &["ra-officer"]);
    let as_alice = as_officer(&alice);
    let added = ca.paypki_env(
        &[
            "participant",
            "add",
            "--role",
            "bank",
            "--name",
            "Example Bank",
            "--legal-name",
            "Example Bank AG",
            "--country",
            "DE",
            "--bic",
            "DEUTDEFF",
        ],
        &as_alice,
    );
    added.assert_success("alice registers a bank");
    let bank = added.stdout_text().trim().to_string();
    let token = ca.paypki_env(&["token", "create", "--participant", &bank], &as_alice);
    token.assert_success("alice makes the bank's token");
    let token = token.stdout_text().trim().to_string();
    // The participant's own CLI waits for approval: exit status 4, key kept.
    let enrolled = ca.paypki(&[
        "enroll",
        "--url",
        server.url(),
        "--token",
        &token,
        "--out-dir",
        ca.path("bank").to_str().unwrap(),
    ]);
    assert_eq!(enrolled.status.code(), Some(4), "{}", enrolled.describe());
    assert_contains_all(
        &enrolled.stderr_text(),
        &["waiting for approval", "apr_"],
        "enroll",
    );
    assert!(ca.path("bank/key.pem").exists());
    let id = request_id(&enrolled.stderr_text());
    let own = ca.paypki_env(&["approval", "approve", &id], &as_alice);
    assert!(!own.status.success(), "{}", own.describe());
    ca.paypki_env(&["approval", "approve", &id], &as_officer(&bob))
        .assert_success("bob approves the bank's certificate");
    // The same command again fetches the certificate, for the key it kept.
    let again = ca.paypki(&[
        "enroll",
        "--url",
        server.url(),
        "--token",
        &token,
        "--out-dir",
        ca.path("bank").to_str().unwrap(),
    ]);
    again.assert_success("enroll again after approval");
    let summary = check_cert(
        &ca.path("bank/cert.pem"),
        &ca.issuing_cert(),
        &ca.root_cert(),
    );
    assert!(summary.subject.contains("DEUTDEFF"), "{}", summary.subject);

    // A buyer (no [approval] in its policy) enrolls at once.
    let (serial, _) = server.enroll_case(&enroll_case("buyer"), "ecdsa-p256", "buyer");
    assert!(!serial.is_empty());
    server.stop();
}

#[test]
fn a_renewal_under_dual_control_waits_and_is_fetched_by_its_request() {
    let ca = TestCa::new();
    let policies = policies_with_all_banks_under_dual_control(&ca);
    // Renewal opens at once (the window is as long as the longest validity).
    let bank = policies.join("bank.toml");
    let text = read_text(&bank).replace("renewal_window_days = 45", "renewal_window_days = 398");
    std::fs::write(&bank, text).unwrap();
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    let bob = officer(&server, "bob", &["ra-officer"]);
    let approve = |id: &str| {
        let approved = ca.paypki_env(&["approval", "approve", id], &as_officer(&bob));
        approved.assert_success("bob approves");
        let view: serde_json::Value = serde_json::from_slice(&approved.stdout).unwrap();
        assert_eq!(view["status"], "executed", "{view:#}");
        view["serial"].as_str().unwrap().to_string()
    };

    // The bank's first certificate (the token is the first officer's; bob approves).
    let case = enroll_case("bank");
    let token = server.create_case_token(&case);
    let dir = ca.path("bank");
    std::fs::create_dir_all(&dir).unwrap();
    let key = generate_key(KeyType::EcP256, &dir.join("key.pem"));
    let csr = make_csr(
        &key,
        case.openssl_subject,
        case.openssl_addext,
        &ca.path("bank.csr"),
    );
    let answer = server.post_json(
        "/v1/enroll",
        &json!({ "token": token, "csr": read_text(&csr) }),
    );
    answer.assert_status(202, "the bank's enrollment waits");
    let first = approve(answer.json()["approval"].as_str().unwrap());
    let issued = server.get(answer.header("location").unwrap());
    issued.assert_status(200, "poll after approval");
    std::fs::write(
        dir.join("cert.pem"),
        issued.json()["certificate"].as_str().unwrap(),
    )
    .unwrap();

    // Renewing waits too: exit status 4, nothing issued yet.
    let cert = dir.join("cert.pem");
    let renew = |extra: &[&str]| {
        let mut args = vec![
            "renew",
            "--url",
            server.url(),
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ca.paypki(&args)
    };
    let pending = renew(&[]);
    assert_eq!(pending.status.code(), Some(4), "{}", pending.describe());
    let id = request_id(&pending.stderr_text());
    assert_contains_all(&pending.stderr_text(), &["--approval"], "how to fetch it");
    let still = renew(&["--approval", &id]);
    assert_eq!(still.status.code(), Some(4), "{}", still.describe());

    // Approved: the holder fetches the renewed certificate by its request.
    let renewed = approve(&id);
    assert_ne!(renewed, first);
    renew(&["--approval", &id]).assert_success("paypki renew --approval after approval");
    let summary = check_cert(&cert, &ca.issuing_cert(), &ca.root_cert());
    assert_eq!(summary.serial, renewed);
    let record = server.admin_get(&format!("/v1/admin/certificates/{renewed}"));
    record.assert_status(200, "the renewed record");
    assert_eq!(
        record.json()["parent"],
        first.as_str(),
        "{}",
        record.describe()
    );
    server.stop();
}
