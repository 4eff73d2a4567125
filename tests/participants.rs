//! The participant registry against the real `paypki serve` and the real CLI: a token for
//! a registered participant yields exactly the registry's subject and SANs (checked by
//! `openssl x509` and Python's `cryptography`); suspending, resuming and terminating a
//! participant changes the OCSP status of all its certificates at once (checked by
//! `openssl ocsp`), blocks and unblocks enrollment and renewal, and is one audit entry;
//! invalid records are refused with problem documents; the CLI works offline and through
//! the running server.

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

/// `paypki participant add --role ROLE ARGS…`; asserts success and returns the id (the
/// only thing it prints on stdout).
fn add(ca: &TestCa, role: &str, args: &[&str]) -> String {
    let mut all = vec!["participant", "add", "--role", role];
    all.extend_from_slice(args);
    let output = ca.paypki(&all);
    output.assert_success(&format!("paypki participant add --role {role}"));
    let id = output.stdout_text().trim().to_string();
    assert!(
        id.starts_with("par_") && id.len() == 28 && !id.contains(char::is_whitespace),
        "participant add must print the id alone\n{}",
        output.describe()
    );
    id
}

fn add_bank(ca: &TestCa) -> String {
    add(
        ca,
        "bank",
        &[
            "--name",
            "Example Bank",
            "--legal-name",
            "Example Bank AG",
            "--country",
            "DE",
            "--bic",
            "DEUTDEFF",
            "--locality",
            "Frankfurt",
        ],
    )
}

fn add_merchant(ca: &TestCa, bank: &str) -> String {
    add(
        ca,
        "merchant",
        &[
            "--name",
            "Corner Shop",
            "--legal-name",
            "Corner Shop Ltd",
            "--country",
            "GB",
            "--merchant-id",
            "M1234567",
            "--acquiring-bank",
            bank,
            "--dns",
            "shop.example",
            "--uri",
            "https://shop.example/pay",
            "--email",
            "pay@shop.example",
        ],
    )
}

/// `paypki token create --participant ID`; asserts success and returns the token.
fn participant_token(ca: &TestCa, id: &str) -> String {
    let output = ca.paypki(&["token", "create", "--participant", id]);
    output.assert_success("paypki token create --participant");
    let token = output.stdout_text().trim().to_string();
    assert!(token.starts_with("ppt_"), "{}", output.describe());
    token
}

/// A `POST /v1/enroll` body: `token` and a CSR with an empty subject for a new key.
fn enroll_body(ca: &TestCa, token: &str, stem: &str) -> serde_json::Value {
    let key = generate_key(KeyType::EcP256, &ca.path(&format!("{stem}.key.pem")));
    let csr = make_csr(&key, "/", &[], &ca.path(&format!("{stem}.csr")));
    json!({"token": token, "csr": read_text(&csr)})
}

/// A `POST /v1/renew` body for certificate `serial`, signed now with `key` by openssl.
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
    let digest = openssl(&["dgst", "-sha256", "-r", der.to_str().unwrap()]).stdout_text();
    let csr_hash = digest.split_whitespace().next().unwrap().to_string();
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
    json!({
        "serial": serial,
        "csr": read_text(&csr),
        "time": time,
        "proof": base64::engine::general_purpose::STANDARD.encode(read_bytes(&proof)),
    })
}

/// One `openssl ocsp` request for all of `certificates` (nonce-less, so the pre-signed
/// answers are used); returns, for each, `good` or `revoked <reason>`.
fn ocsp_statuses(
    server: &TestServer<'_>,
    issuing: &Path,
    chain: &Path,
    certificates: &[&Path],
) -> Vec<String> {
    let mut args: Vec<String> = vec!["-no_nonce".into()];
    for certificate in certificates {
        args.push("-cert".into());
        args.push(certificate.to_str().unwrap().into());
    }
    let output = openssl_ocsp(&server.url_for("/ocsp"), issuing, chain, &args);
    certificates
        .iter()
        .map(|certificate| {
            let block = ocsp_block(&output, certificate.to_str().unwrap());
            if block.contains(": good") {
                "good".to_string()
            } else {
                let reason = block
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("Reason: "))
                    .unwrap_or("none");
                format!("revoked {reason}")
            }
        })
        .collect()
}

/// The audit trail's entries (`paypki audit log`, the server stopped), as JSON.
fn audit_log(ca: &TestCa) -> Vec<serde_json::Value> {
    let output = ca.paypki(&["audit", "log", "--limit", "100000"]);
    output.assert_success("paypki audit log");
    output
        .stdout_text()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn copy_to(from: &Path, to: PathBuf) -> PathBuf {
    std::fs::copy(from, &to).unwrap();
    to
}

#[test]
fn a_participant_token_yields_exactly_the_registry_names() {
    require_tools();
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let bank = add_bank(&ca);
    let merchant = add_merchant(&ca, &bank);

    // The token names what the registry says; enrollment gives exactly that.
    let output = ca.paypki(&["token", "create", "--participant", &merchant, "--json"]);
    output.assert_success("paypki token create --participant --json");
    let created: serde_json::Value = serde_json::from_str(&output.stdout_text()).unwrap();
    assert_eq!(created["role"], "merchant");
    assert_eq!(created["participant"], merchant.as_str());
    let token = created["token"].as_str().unwrap();
    let (serial, dir) = server.enroll_cli(token, "ecdsa-p256", "shop");
    let cert = dir.join("cert.pem");
    let summary = ca.check_cert(&cert);
    assert_eq!(summary.serial, serial);
    assert_eq!(
        summary.subject_attributes,
        owned_attributes(&[
            ("CN", "Corner Shop"),
            ("O", "Corner Shop Ltd"),
            ("C", "GB"),
            ("serialNumber", "M1234567"),
        ])
    );
    assert_eq!(
        summary.sans,
        [
            "dns:shop.example",
            "email:pay@shop.example",
            "uri:https://shop.example/pay"
        ]
    );
    // OpenSSL reads the same names.
    let text = openssl(&[
        "x509",
        "-in",
        cert.to_str().unwrap(),
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName",
        "-nameopt",
        "RFC2253",
    ])
    .stdout_text();
    assert_contains_all(
        &text,
        &[
            "subject=serialNumber=M1234567,C=GB,O=Corner Shop Ltd,CN=Corner Shop",
            "DNS:shop.example",
            "email:pay@shop.example",
            "URI:https://shop.example/pay",
        ],
        "openssl x509 of a participant's certificate",
    );
    ca.assert_openssl_verifies(&cert, Some("sslclient"));

    // The record names the participant; the participant lists the certificate.
    let record = server.admin_get(&format!("/v1/admin/certificates/{serial}"));
    record.assert_status(200, "GET /v1/admin/certificates/{serial}");
    assert_eq!(record.json()["participant"], merchant.as_str());
    let output = ca.paypki(&["participant", "show", &merchant, "--json"]);
    output.assert_success("paypki participant show --json");
    let shown: serde_json::Value = serde_json::from_str(&output.stdout_text()).unwrap();
    assert_eq!(shown["certificates"][0]["serial"], serial.as_str());
    assert_eq!(shown["certificates"][0]["status"], "good");
    assert_eq!(
        shown["subject"],
        "CN=Corner Shop,O=Corner Shop Ltd,C=GB,serialNumber=M1234567"
    );
    let output = ca.paypki(&["participant", "show", &merchant]);
    output.assert_success("paypki participant show");
    assert_contains_all(
        &output.stdout_text(),
        &[&serial, "merchant_id:", "M1234567", "status:    active"],
        "participant show",
    );

    // A subject or SAN together with a participant is refused, by the CLI and the API.
    let output = ca.paypki(&[
        "token",
        "create",
        "--participant",
        &merchant,
        "--subject",
        "CN=Other Shop,O=Other Ltd,serialNumber=M7654321",
    ]);
    output.assert_failure("token create --participant --subject");
    for body in [
        json!({"participant": merchant, "subject": "CN=Other Shop,O=Other Ltd,serialNumber=M7654321"}),
        json!({"participant": merchant, "subject_alt_names": ["dns:evil.example"]}),
        json!({"participant": merchant, "role": "bank"}),
        json!({"ttl": "1h"}),
    ] {
        server
            .admin_post_json("/v1/admin/tokens", &body)
            .assert_problem(400, "malformed-request", &format!("token {body}"));
    }
    server
        .admin_post_json(
            "/v1/admin/tokens",
            &json!({"participant": "par_000000000000000000000000"}),
        )
        .assert_problem(404, "not-found", "token for an unknown participant");
    // Tokens without a participant work as before.
    let case = enroll_case("gateway");
    let (plain, _) = server.enroll_case(&case, "ecdsa-p256", "gw");
    let record = server.admin_get(&format!("/v1/admin/certificates/{plain}"));
    assert!(
        record.json().get("participant").is_none(),
        "{}",
        record.describe()
    );
    // The registry's names follow an update: a new token (and enrollment) takes them.
    let output = ca.paypki(&[
        "participant",
        "update",
        &merchant,
        "--dns",
        "www.shop.example",
        "--email",
        "",
    ]);
    output.assert_success("paypki participant update");
    let (serial2, dir2) =
        server.enroll_cli(&participant_token(&ca, &merchant), "ecdsa-p256", "shop2");
    let summary = ca.check_cert(&dir2.join("cert.pem"));
    assert_eq!(summary.serial, serial2);
    assert_eq!(
        summary.sans,
        ["dns:www.shop.example", "uri:https://shop.example/pay"]
    );
    server.stop();
}

#[test]
fn suspend_resume_and_terminate_change_every_certificate_at_once() {
    require_tools();
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let chain = server.save_chain("chain.pem");
    let issuing = copy_to(&ca.issuing_cert(), ca.path("issuing.pem"));
    let bank = add_bank(&ca);
    let merchant = add_merchant(&ca, &bank);
    let other = add(
        &ca,
        "merchant",
        &[
            "--name",
            "Other Shop",
            "--legal-name",
            "Other Shop Ltd",
            "--country",
            "FR",
            "--merchant-id",
            "M7654321",
            "--acquiring-bank",
            &bank,
        ],
    );

    // Three certificates of the merchant, one of another merchant.
    let mut certs = Vec::new();
    let mut serials = Vec::new();
    for name in ["a", "b", "c"] {
        let (serial, dir) =
            server.enroll_cli(&participant_token(&ca, &merchant), "ecdsa-p256", name);
        certs.push(copy_to(
            &dir.join("cert.pem"),
            ca.path(&format!("{name}.pem")),
        ));
        serials.push(serial);
    }
    let (other_serial, other_dir) =
        server.enroll_cli(&participant_token(&ca, &other), "ecdsa-p256", "other");
    let other_cert = copy_to(&other_dir.join("cert.pem"), ca.path("other.pem"));
    let key_a = ca.path("a").join("key.pem");
    // Certificate c is put on hold by an administrator, for a reason of their own.
    ca.paypki(&["revoke", &serials[2], "--reason", "certificateHold"])
        .assert_success("paypki revoke --reason certificateHold");
    // A token made before the suspension.
    let waiting = participant_token(&ca, &merchant);

    let all: Vec<&Path> = vec![&certs[0], &certs[1], &certs[2], &other_cert];
    assert_eq!(
        ocsp_statuses(&server, &issuing, &chain, &all),
        ["good", "good", "revoked certificateHold", "good"]
    );

    // Suspend: a and b go on hold in one act; c stays on its own hold; the other
    // merchant is untouched.
    let output = ca.paypki(&["participant", "suspend", &merchant]);
    output.assert_success("paypki participant suspend");
    let mut held: Vec<String> = output.stdout_text().lines().map(str::to_string).collect();
    held.sort();
    let mut expected = vec![serials[0].clone(), serials[1].clone()];
    expected.sort();
    assert_eq!(held, expected, "{}", output.describe());
    assert_eq!(
        ocsp_statuses(&server, &issuing, &chain, &all),
        [
            "revoked certificateHold",
            "revoked certificateHold",
            "revoked certificateHold",
            "good"
        ]
    );
    // While suspended: no enrollment (the waiting token stays usable), no renewal, no
    // new token.
    server
        .post_json("/v1/enroll", &enroll_body(&ca, &waiting, "waiting"))
        .assert_problem(403, "participant-inactive", "enrollment while suspended");
    server
        .post_json(
            "/v1/renew",
            &renewal_body(&ca, &serials[0], &key_a, "renew1"),
        )
        .assert_problem(403, "participant-inactive", "renewal while suspended");
    server
        .admin_post_json("/v1/admin/tokens", &json!({"participant": merchant}))
        .assert_problem(403, "participant-inactive", "token while suspended");
    server
        .admin_post_json(
            &format!("/v1/admin/participants/{merchant}/suspend"),
            &json!({}),
        )
        .assert_problem(409, "participant-status-conflict", "suspend twice");

    // Resume: exactly the suspension's holds are lifted; c stays on hold.
    let resumed = server.admin_post_json(
        &format!("/v1/admin/participants/{merchant}/resume"),
        &json!({}),
    );
    resumed.assert_status(200, "POST …/resume");
    let resumed = resumed.json();
    assert_eq!(resumed["participant"]["status"], "active");
    assert_eq!(resumed["certificates"].as_array().unwrap().len(), 2);
    assert_eq!(
        ocsp_statuses(&server, &issuing, &chain, &all),
        ["good", "good", "revoked certificateHold", "good"]
    );
    // Unblocked: the waiting token enrolls now; renewal gets past the participant (and
    // is refused only because its window is not open yet).
    let enrolled = server.post_json("/v1/enroll", &enroll_body(&ca, &waiting, "waiting2"));
    enrolled.assert_status(201, "enrollment after resume");
    let d_serial = enrolled.json()["serial"].as_str().unwrap().to_string();
    let d_cert = ca.path("d.pem");
    std::fs::write(&d_cert, enrolled.json()["certificate"].as_str().unwrap()).unwrap();
    server
        .post_json(
            "/v1/renew",
            &renewal_body(&ca, &serials[0], &key_a, "renew2"),
        )
        .assert_problem(
            403,
            "renewal-refused",
            "renewal after resume (window closed)",
        );

    let doomed = participant_token(&ca, &merchant);
    // Terminate: every current certificate, those on hold included, is revoked at once
    // as cessationOfOperation.
    let output = ca.paypki(&["participant", "terminate", &merchant, "--json"]);
    output.assert_success("paypki participant terminate --json");
    let terminated: serde_json::Value = serde_json::from_str(&output.stdout_text()).unwrap();
    assert_eq!(terminated["participant"]["status"], "terminated");
    assert_eq!(terminated["certificates"].as_array().unwrap().len(), 4);
    let all: Vec<&Path> = vec![&certs[0], &certs[1], &certs[2], &d_cert, &other_cert];
    assert_eq!(
        ocsp_statuses(&server, &issuing, &chain, &all),
        [
            "revoked cessationOfOperation",
            "revoked cessationOfOperation",
            "revoked cessationOfOperation",
            "revoked cessationOfOperation",
            "good"
        ]
    );
    // For good.
    server
        .post_json("/v1/enroll", &enroll_body(&ca, &doomed, "doomed"))
        .assert_problem(403, "participant-inactive", "enrollment after termination");
    server
        .post_json(
            "/v1/renew",
            &renewal_body(&ca, &serials[0], &key_a, "renew3"),
        )
        .assert_problem(403, "participant-inactive", "renewal after termination");
    server
        .admin_post_json("/v1/admin/tokens", &json!({"participant": merchant}))
        .assert_problem(403, "participant-inactive", "token after termination");
    for act in ["resume", "suspend", "terminate"] {
        server
            .admin_post_json(
                &format!("/v1/admin/participants/{merchant}/{act}"),
                &json!({}),
            )
            .assert_problem(409, "participant-status-conflict", act);
    }
    let output = ca.paypki(&["participant", "resume", &merchant]);
    output.assert_failure("paypki participant resume of a terminated participant");
    assert_contains_all(
        &output.stderr_text(),
        &["terminated", "409"],
        "resume refused",
    );
    // The CRL lists them too (published shortly after each act).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let crl = server.get("/crl/issuing.crl");
        let path = ca.path("issuing.crl");
        std::fs::write(&path, &crl.body).unwrap();
        let text = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            path.to_str().unwrap(),
            "-noout",
            "-text",
        ])
        .stdout_text()
        .to_ascii_lowercase();
        if [&serials[0], &serials[1], &serials[2], &d_serial]
            .iter()
            .all(|s| text.contains(&s.to_ascii_lowercase()))
        {
            assert!(!text.contains(&other_serial.to_ascii_lowercase()));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the CRL never listed them:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    server.stop();

    // One audit entry per act, naming the participant and the serials.
    let entries = audit_log(&ca);
    let acts = |action: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e["detail"].as_str().unwrap().to_string())
            .collect()
    };
    let suspend = acts("participant-suspend");
    assert_eq!(suspend.len(), 1, "{suspend:?}");
    assert_contains_all(
        &suspend[0],
        &[&merchant, &serials[0], &serials[1]],
        "suspend entry",
    );
    assert!(!suspend[0].contains(&serials[2]), "{}", suspend[0]);
    let resume = acts("participant-resume");
    assert_eq!(resume.len(), 1, "{resume:?}");
    assert_contains_all(
        &resume[0],
        &[&merchant, &serials[0], &serials[1]],
        "resume entry",
    );
    let terminate = acts("participant-terminate");
    assert_eq!(terminate.len(), 1, "{terminate:?}");
    assert_contains_all(
        &terminate[0],
        &[&merchant, &serials[0], &serials[1], &serials[2], &d_serial],
        "terminate entry",
    );
    // The acts changed certificates without entries of their own.
    let revokes = entries.iter().filter(|e| e["action"] == "revoke").count();
    assert_eq!(
        revokes, 1,
        "only the administrator's own hold is a revoke entry"
    );
    assert_eq!(acts("participant-add").len(), 3);
    ca.paypki(&["audit", "verify"])
        .assert_success("paypki audit verify");
}

#[test]
fn invalid_participants_are_refused_with_problems() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let path = "/v1/admin/participants";
    let bank = json!({"role": "bank", "name": "Example Bank", "legal_name": "Example Bank AG",
                      "country": "DE", "bic": "DEUTDEFF"});
    let created = server.admin_post_json(path, &bank);
    created.assert_status(201, "POST /v1/admin/participants");
    let bank_id = created.json()["id"].as_str().unwrap().to_string();
    assert_eq!(created.json()["status"], "active");
    assert_eq!(
        created.json()["subject"],
        "CN=Example Bank,O=Example Bank AG,C=DE,serialNumber=DEUTDEFF"
    );
    let with = |field: &str, value: serde_json::Value| {
        let mut body = bank.clone();
        body[field] = value;
        body
    };
    let cases = [
        (
            "a BIC that is not ISO 9362",
            with("bic", json!("DEUT-EFF")),
            422,
            "invalid-participant",
        ),
        (
            "a BIC of another country",
            with("bic", json!("BNPAFRPP")),
            422,
            "invalid-participant",
        ),
        (
            "a country that is not ISO 3166",
            with("country", json!("XY")),
            422,
            "invalid-participant",
        ),
        (
            "a wildcard DNS name",
            with("dns_names", json!(["*.bank.example"])),
            422,
            "invalid-participant",
        ),
        (
            "a merchant field on a bank",
            with("merchant_id", json!("M1234567")),
            422,
            "invalid-participant",
        ),
        (
            "an unknown field",
            with("colour", json!("red")),
            400,
            "malformed-request",
        ),
        (
            "an unknown role",
            with("role", json!("broker")),
            400,
            "malformed-request",
        ),
        ("no role", json!({"name": "x"}), 400, "malformed-request"),
        (
            "a merchant whose acquiring bank is unknown",
            json!({"role": "merchant", "name": "S", "legal_name": "S Ltd", "country": "GB",
                "merchant_id": "M1234567", "acquiring_bank": "par_000000000000000000000000"}),
            422,
            "invalid-participant",
        ),
        (
            "a merchant id the policy refuses",
            json!({"role": "merchant", "name": "S", "legal_name": "S Ltd", "country": "GB",
                "merchant_id": "1234", "acquiring_bank": bank_id}),
            422,
            "policy-violation",
        ),
    ];
    for (what, body, status, kind) in cases {
        server
            .admin_post_json(path, &body)
            .assert_problem(status, kind, what);
    }
    // Without the credential: 401.
    server
        .post_json(path, &bank)
        .assert_problem(401, "unauthorized", "POST without credential");
    server
        .get(path)
        .assert_problem(401, "unauthorized", "GET without credential");
    // Unknown ids: 404; the role never changes: 400.
    server
        .admin_get("/v1/admin/participants/par_000000000000000000000000")
        .assert_problem(404, "not-found", "unknown participant");
    let authorization = server.admin_authorization();
    let patch = |id: &str, body: &serde_json::Value| {
        read_http_response(
            server
                .agent()
                .patch(&server.url_for(&format!("{path}/{id}")))
                .header("Authorization", &authorization)
                .header("Content-Type", "application/json")
                .send(serde_json::to_vec(body).unwrap().as_slice()),
            "PATCH participant",
        )
    };
    patch(&bank_id, &json!({"role": "merchant"})).assert_problem(
        400,
        "malformed-request",
        "role change",
    );
    patch(&bank_id, &json!({"bic": "NOTABIC"})).assert_problem(
        422,
        "invalid-participant",
        "bad BIC update",
    );
    let updated = patch(
        &bank_id,
        &json!({"locality": "Frankfurt", "dns_names": ["bank.example"]}),
    );
    updated.assert_status(200, "PATCH participant");
    assert_eq!(updated.json()["locality"], "Frankfurt");
    assert_eq!(
        updated.json()["subject_alt_names"],
        json!(["dns:bank.example"])
    );
    // Listing pages like the other admin lists.
    let gateway = json!({"role": "gateway", "name": "gw.pay.example", "operator": "Pay Gateway BV",
                         "dns_names": ["gw.pay.example"], "ip_addresses": ["192.0.2.10"]});
    server
        .admin_post_json(path, &gateway)
        .assert_status(201, "gateway");
    let first = server.admin_get(&format!("{path}?limit=1"));
    first.assert_status(200, "list limit=1");
    let next = first.json()["next"].as_str().unwrap().to_string();
    let second = server.admin_get(&format!("{path}?limit=1&after={next}"));
    assert_eq!(second.json()["participants"].as_array().unwrap().len(), 1);
    assert!(second.json()["next"].is_null());
    assert_ne!(
        first.json()["participants"][0]["id"],
        second.json()["participants"][0]["id"]
    );
    let gateways = server.admin_get(&format!("{path}?role=gateway"));
    assert_eq!(gateways.json()["participants"][0]["role"], "gateway");
    server
        .admin_get(&format!("{path}?status=sleeping"))
        .assert_problem(400, "malformed-request", "bad status filter");
    // The endpoints are in the OpenAPI document.
    let openapi = server.get("/openapi.json").json();
    for p in [
        "/v1/admin/participants",
        "/v1/admin/participants/{id}",
        "/v1/admin/participants/{id}/suspend",
        "/v1/admin/participants/{id}/resume",
        "/v1/admin/participants/{id}/terminate",
    ] {
        assert!(
            openapi["paths"].get(p).is_some(),
            "{p} not in /openapi.json"
        );
    }
    assert!(openapi["paths"]["/v1/admin/participants/{id}"]
        .get("patch")
        .is_some());
    server.stop();
}

#[test]
fn the_cli_works_offline_and_through_the_running_server() {
    let ca = TestCa::new();
    // Offline: the database is opened by the command itself.
    let bank = add_bank(&ca);
    let output = ca.paypki(&["participant", "list", "--json"]);
    output.assert_success("participant list offline");
    let listed: serde_json::Value = serde_json::from_str(&output.stdout_text()).unwrap();
    assert_eq!(listed[0]["id"], bank.as_str());
    ca.paypki(&["participant", "suspend", &bank])
        .assert_success("participant suspend offline");
    let output = ca.paypki(&["participant", "show", &bank, "--json"]);
    output.assert_success("participant show offline");
    let shown: serde_json::Value = serde_json::from_str(&output.stdout_text()).unwrap();
    assert_eq!(shown["status"], "suspended");
    // A suspended bank may still be referenced; a bad field is refused with exit 1.
    let merchant = add_merchant(&ca, &bank);
    let output = ca.paypki(&[
        "participant",
        "add",
        "--role",
        "bank",
        "--name",
        "B",
        "--legal-name",
        "B AG",
        "--country",
        "DE",
        "--bic",
        "B",
    ]);
    output.assert_failure("participant add with a bad BIC");
    assert_contains_all(
        &output.stderr_text(),
        &["bic", "ISO 9362"],
        "bad BIC offline",
    );

    // Through the server: the same commands reach the admin API.
    let server = TestServer::start(&ca);
    let output = ca.paypki(&["participant", "list", "--status", "suspended"]);
    output.assert_success("participant list through the server");
    assert_contains_all(&output.stdout_text(), &[&bank, "suspended"], "list");
    assert!(!output.stdout_text().contains(&merchant));
    ca.paypki(&["participant", "resume", &bank])
        .assert_success("participant resume through the server");
    let output = ca.paypki(&["participant", "update", &merchant, "--locality", "London"]);
    output.assert_success("participant update through the server");
    assert_eq!(output.stdout_text().trim(), merchant);
    let shown = server
        .admin_get(&format!("/v1/admin/participants/{merchant}"))
        .json();
    assert_eq!(shown["locality"], "London");
    assert_eq!(
        shown["subject"],
        "CN=Corner Shop,O=Corner Shop Ltd,L=London,C=GB,serialNumber=M1234567"
    );
    let output = ca.paypki(&["participant", "show", "par_000000000000000000000000"]);
    output.assert_failure("participant show of an unknown id");
    assert_contains_all(&output.stderr_text(), &["404"], "unknown participant");
    server.stop();
    // And offline again: what the server wrote is there.
    let output = ca.paypki(&["participant", "show", &bank, "--json"]);
    output.assert_success("participant show offline after serving");
    let shown: serde_json::Value = serde_json::from_str(&output.stdout_text()).unwrap();
    assert_eq!(shown["status"], "active");
}
