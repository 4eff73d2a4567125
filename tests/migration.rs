//! A data directory made by the first version of paypki (before issuing-CA rollover and
//! root CRLs at init) keeps working with this one. The fixture in
//! `tests/fixtures/legacy-v1` was made by that version's binary (its README says how): no
//! `cas.toml`, no root CRL, 25-byte revocation entries, records without an issuer.

// Helpers outside #[test] functions may panic too: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Copies a directory tree (the fixture is never changed in place).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn fixture(name: &str) -> PathBuf {
    repo_dir().join("tests/fixtures/legacy-v1").join(name)
}

/// `openssl ocsp` for the fixture's two certificates (with `extra` arguments), checked
/// against the issuing CA and the root; its output.
fn ocsp_of_both(
    server: &TestServer,
    ca: &TestCa,
    kept: &Path,
    revoked: &Path,
    extra: &[&str],
) -> String {
    let mut args = vec![
        "-cert",
        kept.to_str().unwrap(),
        "-cert",
        revoked.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    openssl_ocsp(
        &server.url_for("/ocsp"),
        &ca.issuing_cert(),
        &write_chain(ca),
        &args,
    )
}

/// The issuing CA's certificate then the root's, in one file (the `-CAfile` of `openssl ocsp`).
fn write_chain(ca: &TestCa) -> PathBuf {
    let chain_file = ca.path("chain.pem");
    std::fs::write(
        &chain_file,
        format!(
            "{}{}",
            read_text(&ca.issuing_cert()),
            read_text(&ca.root_cert())
        ),
    )
    .unwrap();
    chain_file
}

fn serial_of(certificate: &Path) -> String {
    let output = openssl(&[
        "x509",
        "-noout",
        "-serial",
        "-in",
        certificate.to_str().unwrap(),
    ]);
    output.assert_success("openssl x509 -serial");
    output
        .stdout_text()
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase()
}

/// The admin credential of the copied old data directory, as the first version wrote it
/// (`ppa_` and 64 hex digits in `admin.token`, its SHA-256 in the database's `meta`).
const LEGACY_CREDENTIAL: &str =
    "ppa_5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// A CA whose data directory is a copy of the first version's, with an admin credential
/// from before officers existed. The fixture keeps no secret, so the credential is put
/// back the way the first version stored it: its hash under the same database key.
fn legacy_ca() -> TestCa {
    let ca = TestCa::uninitialized();
    copy_tree(&fixture("ca-data"), ca.data_dir());
    assert!(!ca.data_dir().join("cas.toml").exists());
    assert!(!ca.data_dir().join("crl/root.crl").exists());
    {
        let store = paypki::store::SledStore::open(&ca.data_dir().join("db")).unwrap();
        assert!(
            store.officers().unwrap().is_empty(),
            "the old database has officers"
        );
        let hash = ring::digest::digest(&ring::digest::SHA256, LEGACY_CREDENTIAL.as_bytes());
        store.set_admin_credential_hash(&hex::encode(hash)).unwrap();
    }
    let token = ca.data_dir().join("admin.token");
    std::fs::write(&token, format!("{LEGACY_CREDENTIAL}\n")).unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    ca
}

#[test]
fn the_old_admin_credential_becomes_officer_admin_with_every_role() {
    let ca = legacy_ca();
    // The old credential works: the first command migrates it.
    let listed = ca.paypki(&["officer", "list", "--json"]);
    listed.assert_success("paypki officer list with the old admin credential");
    let officers: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(officers.as_array().unwrap().len(), 1, "{officers:#}");
    assert_eq!(officers[0]["name"], "admin");
    assert_eq!(
        officers[0]["roles"],
        serde_json::json!([
            "ra-officer",
            "revocation-officer",
            "ca-operator",
            "auditor",
            "security-officer"
        ])
    );
    // And on the server's admin API.
    let server = TestServer::start(&ca);
    assert_eq!(server.admin_token(), LEGACY_CREDENTIAL);
    server
        .admin_get("/v1/admin/officers")
        .assert_status(200, "GET /v1/admin/officers with the old credential");
    // Rotating it gives a named credential; the old one stops working.
    let rotated = ca.paypki(&["credential", "rotate"]);
    rotated.assert_success("paypki credential rotate while the server runs");
    let new = read_text(&ca.data_dir().join("admin.token"));
    assert!(new.starts_with("ppo_admin_"), "{new}");
    let refused = server.get_with(
        "/v1/admin/officers",
        &[("Authorization", &format!("Bearer {LEGACY_CREDENTIAL}"))],
    );
    refused.assert_problem(401, "unauthorized", "the old credential after rotation");
    server.stop();
    let audit = ca.paypki(&["audit", "log"]);
    audit.assert_success("paypki audit log");
    assert_contains_all(
        &audit.stdout_text(),
        &[
            "officer-migrate",
            "officer-rotate",
            "officer admin (admin API credential)",
        ],
        "the audit trail",
    );
}

#[test]
fn a_data_directory_from_the_first_version_keeps_working() {
    let ca = legacy_ca();
    let (kept, revoked) = (fixture("kept.pem"), fixture("revoked.pem"));
    let (kept_serial, revoked_serial) = (serial_of(&kept), serial_of(&revoked));

    // One issuing CA, id 1, active, from files that predate the registry.
    let listed = ca.paypki(&["ca", "list", "--json"]);
    listed.assert_success("paypki ca list");
    let cas: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(cas.as_array().unwrap().len(), 1, "{cas}");
    assert_eq!(cas[0]["id"], 1);
    assert_eq!(cas[0]["state"], "active");

    let server = TestServer::start(&ca);
    // The root key is still in keys/: serve signed the missing root CRL at start.
    server.get("/healthz").assert_status(200, "GET /healthz");
    assert_eq!(server.get("/healthz").json()["status"], "ok");
    let root_crl = server.get("/crl/root.crl");
    root_crl.assert_status(200, "GET /crl/root.crl of an old data directory");
    let root_crl_path = ca.path("root.crl");
    std::fs::write(&root_crl_path, &root_crl.body).unwrap();
    let parsed = check_crl(&root_crl_path, &ca.root_cert());
    assert_eq!(parsed["issuer_matches"], true, "{parsed}");
    assert!(ca.data_dir().join("crl/root.crl").is_file());

    // The old records: their issuer is CA 1, their chain is CA 1's.
    let record = server.get(&format!("/v1/certificates/{kept_serial}"));
    record.assert_status(200, "GET /v1/certificates of an old record");
    assert_eq!(record.json()["issuer"], 1);
    assert_eq!(record.json()["status"], "good");
    assert_eq!(
        normalize_pem(record.json()["chain"].as_str().unwrap()),
        normalize_pem(&format!(
            "{}{}",
            read_text(&ca.issuing_cert()),
            read_text(&ca.root_cert())
        ))
    );

    // OCSP reads the old compact revocation entry (25 bytes) and the old records.
    let answer = ocsp_of_both(&server, &ca, &kept, &revoked, &["-no_nonce"]);
    assert!(
        ocsp_status_line(&answer, kept.to_str().unwrap()).ends_with("good"),
        "{answer}"
    );
    let block = ocsp_block(&answer, revoked.to_str().unwrap());
    assert!(
        block.contains("revoked") && block.contains("keyCompromise"),
        "{answer}"
    );

    // The issuing CRL still lists the old revocation (until the certificate expires in
    // December 2029: RFC 5280 §3.3 lets an expired certificate leave the CRL).
    let crl = server.get("/crl/issuing.crl");
    crl.assert_status(200, "GET /crl/issuing.crl");
    let crl_path = ca.path("issuing.crl");
    std::fs::write(&crl_path, &crl.body).unwrap();
    let parsed = check_crl(&crl_path, &ca.issuing_cert());
    let not_after = record.json()["not_after"].as_str().unwrap().to_string();
    let expired =
        time::OffsetDateTime::parse(&not_after, &time::format_description::well_known::Rfc3339)
            .unwrap()
            < time::OffsetDateTime::now_utc();
    assert_eq!(
        crl_entry(&parsed, &revoked_serial).is_some(),
        !expired,
        "{parsed}"
    );

    // The transparency log took the old certificates and revocation once, at the first
    // start: the two certificates (in issuance order), then the revocation.
    let head = server.get("/v1/transparency/sth");
    head.assert_status(200, "GET /v1/transparency/sth of an old data directory");
    assert_eq!(head.json()["tree_size"], 3, "{}", head.describe());
    let entries = server.get("/v1/transparency/entries?start=0&end=3").json();
    let logged: Vec<(&str, &str)> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["serial"].as_str().unwrap()))
        .collect();
    let certificates: Vec<&str> = logged
        .iter()
        .filter(|(kind, _)| *kind == "certificate")
        .map(|(_, serial)| *serial)
        .collect();
    assert_eq!(certificates.len(), 2, "{entries}");
    assert!(
        certificates.contains(&kept_serial.as_str())
            && certificates.contains(&revoked_serial.as_str())
    );
    assert_eq!(
        logged[2],
        ("revocation", revoked_serial.as_str()),
        "{entries}"
    );

    // New enrollments come from the old issuing CA 1 and are recorded with it.
    let token = server.create_token(
        "merchant",
        "CN=New Shop,O=New Shop Ltd,serialNumber=M7654321",
        &[],
        &[],
    );
    let (new_serial, _) = server.enroll_cli(&token, "ecdsa-p256", "new");
    let record = server.get(&format!("/v1/certificates/{new_serial}"));
    assert_eq!(record.json()["issuer"], 1, "{}", record.describe());
    let proof = server.get(&format!(
        "/v1/transparency/proof?serial={new_serial}&tree_size=4"
    ));
    proof.assert_status(200, "the new certificate's proof");
    assert_eq!(proof.json()["leaf_index"], 3, "{}", proof.describe());
    server.stop();

    // The old directory rolls over like a new one: CA 2 issues, CA 1 keeps answering.
    let rolled = ca.paypki(&["ca", "rollover"]);
    rolled.assert_success("paypki ca rollover on an old data directory");
    assert_eq!(rolled.stdout_text().trim(), "2");
    let server = TestServer::start(&ca);
    let token = server.create_token(
        "merchant",
        "CN=Newer Shop,O=New Shop Ltd,serialNumber=M7654322",
        &[],
        &[],
    );
    let (newer_serial, _) = server.enroll_cli(&token, "ecdsa-p256", "newer");
    let record = server.get(&format!("/v1/certificates/{newer_serial}"));
    assert_eq!(record.json()["issuer"], 2, "{}", record.describe());
    let answer = openssl_ocsp(
        &server.url_for("/ocsp"),
        &ca.issuing_cert(),
        &write_chain(&ca),
        &["-cert", kept.to_str().unwrap(), "-no_nonce"],
    );
    assert!(
        ocsp_status_line(&answer, kept.to_str().unwrap()).ends_with("good"),
        "{answer}"
    );
    server.stop();
    ca.paypki(&["audit", "verify"])
        .assert_success("the old audit chain continues unbroken");
}

/// A data directory from before the time-stamping authority gets one on first start
/// (issued by its active issuing CA), and `POST /tsa` answers with it.
#[test]
fn an_old_data_directory_gets_a_tsa_on_first_start() {
    let ca = legacy_ca();
    let tsa_cert = ca.data_dir().join("certs/tsa.crt.pem");
    let tsa_key = ca.data_dir().join("keys/tsa.key.pem");
    assert!(!tsa_cert.exists() && !tsa_key.exists());
    let server = TestServer::start(&ca);
    assert!(tsa_cert.is_file(), "serve made no TSA certificate");
    let mode = std::fs::metadata(&tsa_key).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600,
        "the TSA key file must be private"
    );
    let data = ca.path("order.txt");
    std::fs::write(&data, b"an order").unwrap();
    let request = openssl_timestamp_query(&data, &["-sha256", "-cert"], &ca.path("request.tsq"));
    let reply = server.post_bytes(
        "/tsa",
        Some("application/timestamp-query"),
        &read_bytes(&request),
    );
    reply.assert_status(200, "POST /tsa on an old data directory");
    let reply_path = ca.path("reply.tsr");
    std::fs::write(&reply_path, &reply.body).unwrap();
    openssl(&[
        "ts",
        "-verify",
        "-data",
        data.to_str().unwrap(),
        "-in",
        reply_path.to_str().unwrap(),
        "-CAfile",
        ca.root_cert().to_str().unwrap(),
    ]);
    server.stop();
    // The TSA made at first start is kept, and `keys list` shows it.
    let before = read_text(&tsa_cert);
    let keys = ca.paypki(&["keys", "list"]);
    keys.assert_success("paypki keys list");
    assert!(keys.stdout_text().contains("tsa"), "{}", keys.stdout_text());
    assert_eq!(read_text(&tsa_cert), before);
}

/// A data directory of store layout 1 (`tests/fixtures/legacy-v2`, made by the binary of
/// the last commit before layout 2): the store is migrated at the first open, once, and
/// everything it held is found through the new indexes.
#[test]
fn a_data_directory_of_store_layout_1_is_migrated_and_keeps_working() {
    let fixture = |name: &str| repo_dir().join("tests/fixtures/legacy-v2").join(name);
    let ca = TestCa::uninitialized();
    copy_tree(&fixture("ca-data"), ca.data_dir());
    let (kept, revoked) = (fixture("kept.pem"), fixture("revoked.pem"));
    let (kept_serial, revoked_serial) = (serial_of(&kept), serial_of(&revoked));

    // Listings walk the merged role-and-status index.
    let listed = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["list", "--json"];
        all.extend_from_slice(args);
        let output = ca.paypki(&all);
        output.assert_success("paypki list of a migrated store");
        let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let mut serials: Vec<String> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["serial"].as_str().unwrap().to_string())
            .collect();
        serials.sort();
        serials
    };
    let mut both = vec![kept_serial.clone(), revoked_serial.clone()];
    both.sort();
    assert_eq!(listed(&[]), both);
    assert_eq!(listed(&["--role", "merchant"]), both);
    assert_eq!(
        listed(&["--status", "revoked"]),
        vec![revoked_serial.clone()]
    );
    assert_eq!(listed(&["--status", "good"]), vec![kept_serial.clone()]);
    assert_eq!(listed(&["--role", "bank"]), Vec::<String>::new());
    ca.paypki(&["audit", "verify"])
        .assert_success("paypki audit verify after the migration");

    // OCSP finds the issuer in the record now that `issuer_of` is gone.
    let server = TestServer::start(&ca);
    let answer = ocsp_of_both(&server, &ca, &kept, &revoked, &[]);
    assert!(
        ocsp_status_line(&answer, kept.to_str().unwrap()).ends_with("good"),
        "{answer}"
    );
    assert!(
        ocsp_block(&answer, revoked.to_str().unwrap()).contains("keyCompromise"),
        "{answer}"
    );
    // The log is not appended to again, and a certificate's entry is found by its leaf
    // hash now that the serial index has gone: the two certificates, then the revocation.
    let head = server.get("/v1/transparency/sth");
    head.assert_status(200, "GET /v1/transparency/sth of a migrated store");
    assert_eq!(head.json()["tree_size"], 3, "{}", head.describe());
    for (serial, index) in [(&kept_serial, 0), (&revoked_serial, 1)] {
        let proof = server.get(&format!("/v1/transparency/proof?serial={serial}"));
        proof.assert_status(
            200,
            "GET /v1/transparency/proof?serial= of a migrated store",
        );
        assert_eq!(proof.json()["leaf_index"], index, "{}", proof.describe());
    }
    server.stop();

    // A fulfilled serial stays taken; a new issuance works and is listed.
    let csr = ca.path("new.csr");
    let key = ca.path("new.key");
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-subj",
        "/CN=After Migration/O=Legacy Shop/serialNumber=M1234567",
        "-out",
        csr.to_str().unwrap(),
    ]);
    let issued = ca.issue(&csr, "merchant", "new.pem");
    assert_eq!(listed(&["--status", "good"]).len(), 2, "{issued:?}");
    ca.paypki(&["audit", "verify"])
        .assert_success("paypki audit verify after a new issuance");
}
