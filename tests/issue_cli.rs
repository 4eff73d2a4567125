//! Offline issuance with `paypki init` / `paypki issue`, checked end to end with tools that
//! share no code with paypki: `openssl` (keys, CSRs, `openssl verify`) and Python's
//! `cryptography` (`tests/py/check_cert.py`), against the role policies in `policies/`.

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;

/// A subject (OpenSSL `-subj` form), its SAN extension, and what the certificate must say.
struct RoleCase {
    role: &'static str,
    subject: &'static str,
    /// `-addext` values for the CSR.
    addext: &'static [&'static str],
    /// The subject attributes, in order, as the certificate must carry them.
    attributes: &'static [(&'static str, &'static str)],
    /// The SANs as check_cert.py prints them.
    sans: &'static [&'static str],
}

/// A subject and SANs that satisfy each shipped policy.
fn role_case(role: &str) -> RoleCase {
    match role {
        "buyer" => RoleCase {
            role: "buyer",
            subject: "/CN=Alice Buyer/C=DE/serialNumber=ACCT-0042",
            addext: &["subjectAltName=email:alice@buyer.example"],
            attributes: &[
                ("CN", "Alice Buyer"),
                ("C", "DE"),
                ("serialNumber", "ACCT-0042"),
            ],
            sans: &["email:alice@buyer.example"],
        },
        "merchant" => RoleCase {
            role: "merchant",
            subject: "/CN=Example Shop/O=Example Shop GmbH/serialNumber=M12345678/C=DE",
            addext: &["subjectAltName=DNS:shop.example,URI:https://shop.example/pay"],
            attributes: &[
                ("CN", "Example Shop"),
                ("O", "Example Shop GmbH"),
                ("serialNumber", "M12345678"),
                ("C", "DE"),
            ],
            sans: &["dns:shop.example", "uri:https://shop.example/pay"],
        },
        "bank" => RoleCase {
            role: "bank",
            subject: "/CN=Example Bank/O=Example Bank AG/C=DE/serialNumber=DEUTDEFF/L=Frankfurt",
            addext: &["subjectAltName=DNS:bank.example"],
            attributes: &[
                ("CN", "Example Bank"),
                ("O", "Example Bank AG"),
                ("C", "DE"),
                ("serialNumber", "DEUTDEFF"),
                ("L", "Frankfurt"),
            ],
            sans: &["dns:bank.example"],
        },
        "gateway" => RoleCase {
            role: "gateway",
            subject: "/CN=gw.pay.example/O=Pay Gateway BV/C=NL",
            addext: &["subjectAltName=DNS:gw.pay.example,IP:192.0.2.10"],
            attributes: &[
                ("CN", "gw.pay.example"),
                ("O", "Pay Gateway BV"),
                ("C", "NL"),
            ],
            sans: &["dns:gw.pay.example", "ip:192.0.2.10"],
        },
        other => panic!("no test case for role {other}"),
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_secs() as i64
}

/// Asserts everything the role's policy and the CA's settings say about a leaf.
fn assert_matches_policy(summary: &CertSummary, policy: &Policy, base_url: &str, context: &str) {
    // keyUsage: exactly the policy's bits, never CA bits, critical.
    let key_usage = summary
        .key_usage
        .as_ref()
        .unwrap_or_else(|| panic!("{context}: no keyUsage"));
    let mut expected_ku = policy.key_usage_names();
    expected_ku.sort();
    let mut actual_ku: Vec<String> = key_usage
        .set_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    actual_ku.sort();
    assert_eq!(actual_ku, expected_ku, "{context}: keyUsage");
    assert!(
        !key_usage.key_cert_sign && !key_usage.crl_sign,
        "{context}: CA key usage on a leaf"
    );
    assert!(
        summary.key_usage_critical,
        "{context}: keyUsage should be critical"
    );

    // extendedKeyUsage: exactly the policy's.
    let mut expected_eku = policy.eku_oids();
    expected_eku.sort();
    let mut actual_eku = summary.extended_key_usage.clone();
    actual_eku.sort();
    assert_eq!(actual_eku, expected_eku, "{context}: extendedKeyUsage");

    // Not a CA.
    assert!(
        summary.basic_constraints_present,
        "{context}: basicConstraints missing"
    );
    assert!(!summary.ca, "{context}: the leaf is a CA");
    assert_eq!(summary.path_length, None, "{context}: pathLen on a leaf");

    // The role's certificate policy.
    assert_eq!(
        summary.certificate_policies,
        vec![policy.certificate_policy_oid.clone()],
        "{context}: certificatePolicies"
    );

    // AIA and CRL DP follow the base URL.
    assert_eq!(
        summary.ocsp_urls,
        vec![format!("{base_url}/ocsp")],
        "{context}: AIA OCSP"
    );
    assert_eq!(
        summary.ca_issuers_urls,
        vec![format!("{base_url}/ca/issuing.crt")],
        "{context}: AIA caIssuers"
    );
    assert_eq!(
        summary.crl_urls,
        vec![format!("{base_url}/crl/issuing.crl")],
        "{context}: CRL DP"
    );

    // Key identifiers.
    assert!(summary.ski_present, "{context}: no subjectKeyIdentifier");
    assert!(summary.aki_present, "{context}: no authorityKeyIdentifier");
    assert!(
        summary.aki_matches_issuer_ski,
        "{context}: AKI is not the issuing CA's SKI"
    );

    // Issuer and version.
    assert!(
        summary.issuer_matches,
        "{context}: issuer is not the issuing CA's subject"
    );
    assert_eq!(summary.version, "v3", "{context}: version");

    // Validity: default_days from now, notBefore backdated 5 minutes.
    let expected = policy.validity.default_days * 86_400 + 5 * 60;
    let actual = summary.validity_seconds();
    assert!(
        (actual - expected).abs() <= 86_400,
        "{context}: validity {actual}s, policy default {} days ({expected}s incl. backdate); notBefore {} notAfter {}",
        policy.validity.default_days,
        summary.not_before,
        summary.not_after
    );
    let now = now_unix();
    assert!(
        summary.not_before_unix <= now && summary.not_before_unix >= now - 3_600,
        "{context}: notBefore {} is not just before now",
        summary.not_before
    );
}

/// Issues one certificate per key algorithm the role's policy allows, and checks each with
/// openssl and Python.
fn issue_every_allowed_key(role: &str) {
    let ca = TestCa::new();
    let policy = Policy::shipped(role);
    assert_eq!(policy.role, role);
    let case = role_case(role);
    let mut serials = Vec::new();
    for key_type in policy.key_types() {
        let context = format!("{role} with {}", key_type.record_name());
        let stem = format!("{role}-{}", key_type.file_stem());
        let key = generate_key(key_type, &ca.path(&format!("{stem}.key.pem")));
        let csr = make_csr(
            &key,
            case.subject,
            case.addext,
            &ca.path(&format!("{stem}.csr")),
        );
        let issued = ca.issue(&csr, case.role, &format!("{stem}.pem"));

        // The bundle is leaf, issuing CA, root.
        assert_eq!(
            issued.certificates.len(),
            3,
            "{context}: --out should hold leaf + issuing + root"
        );
        assert_eq!(
            normalize_pem(&issued.certificates[1]),
            normalize_pem(&read_text(&ca.issuing_cert())),
            "{context}: chain[1]"
        );
        assert_eq!(
            normalize_pem(&issued.certificates[2]),
            normalize_pem(&read_text(&ca.root_cert())),
            "{context}: chain[2]"
        );

        // openssl: the path verifies, strictly, for the purposes the EKU allows.
        ca.assert_openssl_verifies(&issued.leaf, None);
        let ekus = policy.eku_oids();
        if ekus.contains(&eku_oid("client_auth")) {
            ca.assert_openssl_verifies(&issued.leaf, Some("sslclient"));
        }
        if ekus.contains(&eku_oid("server_auth")) {
            ca.assert_openssl_verifies(&issued.leaf, Some("sslserver"));
        } else {
            ca.openssl_verify(&issued.leaf, Some("sslserver"))
                .assert_failure(&format!(
                    "{context}: openssl verify -purpose sslserver of a non-server certificate"
                ));
        }

        // Python: signatures, then every field against the policy.
        let summary = ca.check_cert(&issued.bundle);
        assert_eq!(
            summary.serial, issued.serial,
            "{context}: serial printed vs in the certificate"
        );
        assert_eq!(
            summary.public_key,
            key_type.python_name(),
            "{context}: subject key type"
        );
        assert_eq!(
            normalize_pem(&summary.public_key_pem),
            normalize_pem(&public_key_pem(&key)),
            "{context}: the certificate does not carry the CSR's key"
        );
        let attributes: Vec<(String, String)> = case
            .attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(summary.subject_attributes, attributes, "{context}: subject");
        for required in &policy.subject.required {
            assert!(
                summary
                    .subject_attributes
                    .iter()
                    .any(|(k, _)| k == required),
                "{context}: required {required} missing"
            );
        }
        assert_eq!(summary.sans, case.sans, "{context}: SANs");
        assert_matches_policy(&summary, &policy, DEFAULT_BASE_URL, &context);
        serials.push((issued.serial, key_type));
    }

    // paypki's own records agree.
    let records = ca.list_json(&["--role", role]);
    assert_eq!(records.len(), serials.len(), "list --role {role}");
    for (serial, key_type) in &serials {
        let record = records
            .iter()
            .find(|r| r["serial"] == serial.as_str())
            .unwrap_or_else(|| panic!("{serial} not listed"));
        assert_eq!(record["role"], role);
        assert_eq!(record["status"], "good");
        assert_eq!(record["key"], key_type.record_name().as_str());
    }
    ca.paypki(&["audit", "verify"])
        .assert_success("paypki audit verify");
}

#[test]
fn buyer_certificates_for_every_allowed_key_verify_and_match_policy() {
    issue_every_allowed_key("buyer");
}

#[test]
fn merchant_certificates_for_every_allowed_key_verify_and_match_policy() {
    issue_every_allowed_key("merchant");
}

#[test]
fn bank_certificates_for_every_allowed_key_verify_and_match_policy() {
    issue_every_allowed_key("bank");
}

#[test]
fn gateway_certificates_for_every_allowed_key_verify_and_match_policy() {
    issue_every_allowed_key("gateway");
}

#[test]
fn base_url_flows_into_aia_and_crl_distribution_points() {
    // http: init refuses an https base URL (relying parties fetch status over HTTP).
    let base = "http://pki.pay.example";
    let ca = TestCa::init(&["--base-url", base], &[]);
    let settings = read_text(&ca.data_dir().join("ca.toml"));
    assert!(
        settings.contains(base),
        "ca.toml does not record the base URL:\n{settings}"
    );
    for role in ["gateway", "merchant"] {
        let case = role_case(role);
        let key = generate_key(KeyType::EcP256, &ca.path(&format!("{role}.key.pem")));
        let csr = make_csr(
            &key,
            case.subject,
            case.addext,
            &ca.path(&format!("{role}.csr")),
        );
        let issued = ca.issue(&csr, role, &format!("{role}.pem"));
        ca.assert_openssl_verifies(&issued.leaf, None);
        let summary = ca.check_cert(&issued.leaf);
        assert_matches_policy(&summary, &Policy::shipped(role), base, role);
    }
    // The issuing CA points at the root's URLs under the same base.
    let issuing_text = openssl(&[
        "x509".as_ref(),
        "-noout".as_ref(),
        "-text".as_ref(),
        "-in".as_ref(),
        ca.issuing_cert().as_os_str(),
    ])
    .stdout_text();
    assert_contains_all(
        &issuing_text,
        &[
            &format!("{base}/ca/root.crt"),
            &format!("{base}/crl/root.crl"),
        ],
        "issuing CA AIA/CRL DP",
    );
}

#[test]
fn requested_ca_flag_and_extra_eku_are_not_granted() {
    let ca = TestCa::new();
    let case = role_case("merchant");
    let key = generate_key(KeyType::EcP256, &ca.path("greedy.key.pem"));
    let mut addext = case.addext.to_vec();
    addext.extend([
        "basicConstraints=critical,CA:true",
        "extendedKeyUsage=codeSigning",
        "keyUsage=keyCertSign,cRLSign",
    ]);
    let csr = make_csr(&key, case.subject, &addext, &ca.path("greedy.csr"));
    // The CSR really asks for them (checked with openssl, not paypki).
    let csr_text = openssl(&[
        "req".as_ref(),
        "-noout".as_ref(),
        "-text".as_ref(),
        "-in".as_ref(),
        csr.as_os_str(),
    ])
    .stdout_text();
    assert_contains_all(&csr_text, &["CA:TRUE", "Code Signing"], "the greedy CSR");

    let issued = ca.issue(&csr, "merchant", "greedy.pem");
    let summary = ca.check_cert(&issued.bundle);
    assert!(summary.basic_constraints_present);
    assert!(!summary.ca, "a CSR asking for CA:true got a CA certificate");
    assert_eq!(
        summary.extended_key_usage,
        vec![eku_oid("client_auth")],
        "extra EKU granted"
    );
    assert!(!summary
        .extended_key_usage
        .contains(&eku_oid("code_signing")));
    let key_usage = summary.key_usage.clone().expect("keyUsage");
    assert!(
        !key_usage.key_cert_sign && !key_usage.crl_sign,
        "CA key usage granted: {key_usage:?}"
    );
    assert_matches_policy(
        &summary,
        &Policy::shipped("merchant"),
        DEFAULT_BASE_URL,
        "greedy merchant",
    );

    // openssl agrees the leaf cannot act as a CA.
    ca.assert_openssl_verifies(&issued.leaf, None);
    let purpose = openssl(&[
        "x509".as_ref(),
        "-noout".as_ref(),
        "-purpose".as_ref(),
        "-in".as_ref(),
        issued.leaf.as_os_str(),
    ])
    .stdout_text();
    assert_contains_all(
        &purpose,
        &[
            "SSL client CA : No",
            "SSL server CA : No",
            "S/MIME signing CA : No",
        ],
        "openssl x509 -purpose",
    );
}

#[test]
fn show_list_and_audit_describe_issued_certificates() {
    let ca = TestCa::new();
    let mut issued = Vec::new();
    for role in ["bank", "buyer"] {
        let case = role_case(role);
        let key = generate_key(KeyType::EcP384, &ca.path(&format!("{role}.key.pem")));
        let csr = make_csr(
            &key,
            case.subject,
            case.addext,
            &ca.path(&format!("{role}.csr")),
        );
        issued.push((role, ca.issue(&csr, role, &format!("{role}.pem"))));
    }
    let (_, bank) = &issued[0];
    let (_, buyer) = &issued[1];

    // show: role and status.
    for (role, cert) in &issued {
        let output = ca.paypki(&["show", &cert.serial]);
        output.assert_success("paypki show");
        let text = output.stdout_text();
        assert_contains_all(
            &text,
            &["good", role, &cert.serial, "Status:        good"],
            "paypki show",
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("Role:") && l.contains(role)),
            "show names the role:\n{text}"
        );

        // show --pem prints exactly the issued leaf.
        let pem = ca.paypki(&["show", "--pem", &cert.serial]);
        pem.assert_success("paypki show --pem");
        assert_eq!(
            normalize_pem(&pem.stdout_text()),
            normalize_pem(&read_text(&cert.leaf))
        );

        // show --json is JSON describing the same certificate.
        let json = ca.paypki(&["show", "--json", &cert.serial]);
        json.assert_success("paypki show --json");
        let value: serde_json::Value =
            serde_json::from_slice(&json.stdout).expect("show --json is not JSON");
        assert_eq!(value["serial"], cert.serial.as_str());
        assert_eq!(value["role"], *role);
        assert_eq!(value["status"], "good");
    }

    // An unknown serial is refused.
    ca.paypki(&["show", "0123456789abcdef"])
        .assert_failure("paypki show of an unknown serial");

    // list --json: a JSON array holding both.
    let all = ca.listed_serials(&[]);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.contains(&bank.serial) && all.contains(&buyer.serial),
        "{all:?}"
    );

    // Filters.
    assert_eq!(
        ca.listed_serials(&["--role", "bank"]),
        vec![bank.serial.clone()],
        "--role bank"
    );
    assert_eq!(
        ca.listed_serials(&["--role", "buyer"]),
        vec![buyer.serial.clone()],
        "--role buyer"
    );
    assert!(
        ca.listed_serials(&["--role", "gateway"]).is_empty(),
        "--role gateway"
    );
    let good = ca.listed_serials(&["--status", "good"]);
    assert_eq!(good.len(), 2, "--status good: {good:?}");
    assert!(
        ca.listed_serials(&["--status", "revoked"]).is_empty(),
        "--status revoked"
    );
    let expiring = ca.listed_serials(&["--expiring-within", "400d"]);
    assert!(
        expiring.contains(&bank.serial) && expiring.contains(&buyer.serial),
        "--expiring-within 400d: {expiring:?}"
    );
    assert!(
        ca.listed_serials(&["--expiring-within", "30d"]).is_empty(),
        "--expiring-within 30d"
    );
    assert_eq!(
        ca.listed_serials(&["--role", "bank", "--expiring-within", "400d"]),
        vec![bank.serial.clone()]
    );

    // The table form names both.
    let table = ca.paypki(&["list"]);
    table.assert_success("paypki list");
    assert_contains_all(
        &table.stdout_text(),
        &[&bank.serial, &buyer.serial, "bank", "buyer"],
        "paypki list",
    );

    // The audit trail is intact and records both issuances.
    let verify = ca.paypki(&["audit", "verify"]);
    verify.assert_success("paypki audit verify");
    let log = ca.paypki(&["audit", "log"]);
    log.assert_success("paypki audit log");
    assert_contains_all(
        &log.stdout_text(),
        &[&bank.serial, &buyer.serial],
        "paypki audit log",
    );
}

// ---------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------

/// Runs `paypki issue` (with the CA's policies, or `policies`) and asserts a clean refusal:
/// non-zero exit, every needle on stderr, nothing on stdout, no `--out` file, and no new
/// certificate in the database.
fn assert_refused(
    ca: &TestCa,
    policies: Option<&Path>,
    csr: &Path,
    role: &str,
    needles: &[&str],
    what: &str,
) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let before = ca.certificate_count();
    let out = ca.path(&format!(
        "refused-{}.pem",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let args = [
        "issue",
        "--csr",
        csr.to_str().unwrap(),
        "--role",
        role,
        "--out",
        out.to_str().unwrap(),
    ];
    let output = match policies {
        Some(dir) => ca.paypki_with_policies(dir, &args),
        None => ca.paypki(&args),
    };
    output.assert_failure(what);
    let stderr = output.stderr_text();
    assert!(!stderr.trim().is_empty(), "{what}: no message on stderr");
    assert_contains_all(&stderr, needles, what);
    assert!(
        output.stdout_text().trim().is_empty(),
        "{what}: something on stdout\n{}",
        output.describe()
    );
    assert!(!out.exists(), "{what}: --out was written");
    assert_eq!(
        ca.certificate_count(),
        before,
        "{what}: a certificate was recorded"
    );
    stderr
}

#[test]
fn malformed_and_tampered_csrs_are_refused() {
    let ca = TestCa::new();

    let garbage = ca.path("garbage.csr");
    std::fs::write(&garbage, b"\x00\x01\x02 this is not a CSR \xff\xfe").unwrap();
    assert_refused(&ca, None, &garbage, "buyer", &["malformed"], "garbage CSR");

    let wrong_pem = ca.path("wrong-pem.csr");
    std::fs::write(&wrong_pem, read_text(&ca.root_cert())).unwrap();
    assert_refused(
        &ca,
        None,
        &wrong_pem,
        "buyer",
        &["malformed", "CERTIFICATE"],
        "a certificate instead of a CSR",
    );

    let empty = ca.path("empty.csr");
    std::fs::write(&empty, b"").unwrap();
    assert_refused(&ca, None, &empty, "buyer", &["malformed"], "empty CSR");

    assert_refused(
        &ca,
        None,
        &ca.path("does-not-exist.csr"),
        "buyer",
        &["does-not-exist.csr"],
        "missing CSR file",
    );

    // A DER CSR with one byte of the CN changed: the self-signature no longer verifies.
    let key = generate_key(KeyType::EcP256, &ca.path("tamper.key.pem"));
    let der_path = make_csr_as(
        &key,
        "/CN=Tamper Target",
        &[],
        CsrFormat::Der,
        &ca.path("good.der"),
    );
    let good_der = read_bytes(&der_path);
    // The untouched DER CSR is accepted (so the refusal below is about the signature).
    let ok = ca.issue(&der_path, "buyer", "der-ok.pem");
    ca.assert_openssl_verifies(&ok.leaf, None);

    let mut der = good_der.clone();
    let at = der
        .windows(b"Tamper Target".len())
        .position(|w| w == b"Tamper Target")
        .expect("CN not found in the DER");
    der[at] = b'D';
    let tampered = ca.path("tampered.der");
    std::fs::write(&tampered, &der).unwrap();
    // openssl agrees the tampered CSR's signature is bad.
    let check = run(std::process::Command::new("openssl")
        .args(["req", "-verify", "-noout", "-inform", "DER", "-in"])
        .arg(&tampered));
    assert!(
        !check.status.success() || check.stderr_text().contains("fail"),
        "openssl accepts the tampered CSR\n{}",
        check.describe()
    );
    assert_refused(
        &ca,
        None,
        &tampered,
        "buyer",
        &["signature"],
        "tampered CSR",
    );

    // Truncated DER.
    let truncated = ca.path("truncated.der");
    std::fs::write(&truncated, &good_der[..good_der.len() - 5]).unwrap();
    assert_refused(
        &ca,
        None,
        &truncated,
        "buyer",
        &["malformed"],
        "truncated CSR",
    );
}

#[test]
fn weak_and_disallowed_keys_are_refused() {
    let ca = TestCa::new();

    // RSA 1024: below every policy's minimum. It is refused and nothing is issued; what
    // the message says is checked by `rsa_1024_refusal_names_the_policy_minimum`.
    let rsa1024 = generate_key(KeyType::Rsa(1024), &ca.path("rsa1024.key.pem"));
    let case = role_case("buyer");
    let csr = make_csr(&rsa1024, case.subject, case.addext, &ca.path("rsa1024.csr"));
    assert_refused(&ca, None, &csr, "buyer", &[], "RSA 1024 for a buyer");

    // RSA 2048 for a bank, whose policy needs 3072.
    let rsa2048 = generate_key(KeyType::Rsa(2048), &ca.path("rsa2048.key.pem"));
    let bank = role_case("bank");
    let csr = make_csr(
        &rsa2048,
        bank.subject,
        bank.addext,
        &ca.path("bank-rsa2048.csr"),
    );
    assert_refused(
        &ca,
        None,
        &csr,
        "bank",
        &["3072", "2048"],
        "RSA 2048 for a bank",
    );

    // Ed25519 is not among the bank's algorithms, nor the gateway's.
    let ed = generate_key(KeyType::Ed25519, &ca.path("ed25519.key.pem"));
    let csr = make_csr(&ed, bank.subject, bank.addext, &ca.path("bank-ed25519.csr"));
    assert_refused(
        &ca,
        None,
        &csr,
        "bank",
        &["ed25519", "bank"],
        "Ed25519 for a bank",
    );
    let gateway = role_case("gateway");
    let csr = make_csr(
        &ed,
        gateway.subject,
        gateway.addext,
        &ca.path("gateway-ed25519.csr"),
    );
    assert_refused(
        &ca,
        None,
        &csr,
        "gateway",
        &["ed25519", "gateway"],
        "Ed25519 for a gateway",
    );

    // The same RSA 2048 key is fine for a merchant (the refusals were about policy).
    let merchant = role_case("merchant");
    let csr = make_csr(
        &rsa2048,
        merchant.subject,
        merchant.addext,
        &ca.path("merchant-rsa2048.csr"),
    );
    let issued = ca.issue(&csr, "merchant", "merchant-rsa2048.pem");
    ca.assert_openssl_verifies(&issued.leaf, None);
}

/// An RSA-1024 CSR must be refused with a message naming the policy's minimum (2048).

#[test]
fn rsa_1024_refusal_names_the_policy_minimum() {
    let ca = TestCa::new();
    let rsa1024 = generate_key(KeyType::Rsa(1024), &ca.path("rsa1024.key.pem"));
    let case = role_case("buyer");
    let csr = make_csr(&rsa1024, case.subject, case.addext, &ca.path("rsa1024.csr"));
    // The CSR itself is well signed, as openssl confirms.
    let verify = openssl(&[
        "req".as_ref(),
        "-verify".as_ref(),
        "-noout".as_ref(),
        "-in".as_ref(),
        csr.as_os_str(),
    ]);
    assert!(
        verify.stderr_text().contains("verify OK") || verify.stdout_text().contains("verify OK"),
        "{}",
        verify.describe()
    );
    let stderr = assert_refused(
        &ca,
        None,
        &csr,
        "buyer",
        &["2048", "1024"],
        "RSA 1024 for a buyer",
    );
    assert!(
        !stderr.contains("signature does not verify"),
        "a well-signed CSR reported as a bad signature: {stderr}"
    );
}

#[test]
fn validity_flag_is_bounded_by_the_policy() {
    let ca = TestCa::new();
    let case = role_case("merchant");
    let key = generate_key(KeyType::EcP256, &ca.path("k.pem"));
    let csr = make_csr(&key, case.subject, case.addext, &ca.path("merchant.csr"));

    // Longer than max_days (398 for merchants): refused, naming the limit.
    let policy = Policy::shipped("merchant");
    let too_long = format!("{}d", policy.validity.max_days + 2);
    let before = ca.certificate_count();
    let output = ca.paypki(&[
        "issue",
        "--csr",
        csr.to_str().unwrap(),
        "--role",
        "merchant",
        "--validity",
        &too_long,
    ]);
    output.assert_failure("issue --validity over max_days");
    assert_contains_all(
        &output.stderr_text(),
        &[&policy.validity.max_days.to_string()],
        "validity refusal",
    );
    assert!(
        output.stdout_text().trim().is_empty(),
        "{}",
        output.describe()
    );
    assert_eq!(ca.certificate_count(), before);

    // A shorter validity is honoured.
    let out = ca.path("short.pem");
    let output = ca.paypki(&[
        "issue",
        "--csr",
        csr.to_str().unwrap(),
        "--role",
        "merchant",
        "--validity",
        "30d",
        "--out",
        out.to_str().unwrap(),
    ]);
    output.assert_success("issue --validity 30d");
    let summary = ca.check_cert(&out);
    let expected = 30 * 86_400 + 5 * 60;
    assert!(
        (summary.validity_seconds() - expected).abs() <= 60,
        "validity {}s, expected {expected}s",
        summary.validity_seconds()
    );

    // Without --out, the bundle goes to stdout and the serial to stderr.
    let output = ca.paypki(&[
        "issue",
        "--csr",
        csr.to_str().unwrap(),
        "--role",
        "merchant",
    ]);
    output.assert_success("issue without --out");
    let stdout = output.stdout_text();
    assert_eq!(
        split_pem_certificates(&stdout).len(),
        3,
        "{}",
        output.describe()
    );
    let printed = ca.path("stdout.pem");
    std::fs::write(&printed, &stdout).unwrap();
    let summary = ca.check_cert(&printed);
    assert!(
        output.stderr_text().contains(&summary.serial),
        "the serial should be on stderr\n{}",
        output.describe()
    );
}

/// `paypki issue --out PATH` with a PATH that cannot be written must not leave behind an
/// issued certificate nobody received.

#[test]
fn unwritable_out_path_issues_nothing() {
    let ca = TestCa::new();
    let case = role_case("merchant");
    let key = generate_key(KeyType::EcP256, &ca.path("k.pem"));
    let csr = make_csr(&key, case.subject, case.addext, &ca.path("merchant.csr"));
    let out = ca.path("no-such-directory").join("cert.pem");
    let before = ca.certificate_count();
    let output = ca.paypki(&[
        "issue",
        "--csr",
        csr.to_str().unwrap(),
        "--role",
        "merchant",
        "--out",
        out.to_str().unwrap(),
    ]);
    output.assert_failure("issue --out into a missing directory");
    assert!(
        output.stderr_text().contains("no-such-directory"),
        "{}",
        output.describe()
    );
    assert_eq!(
        ca.certificate_count(),
        before,
        "a certificate was issued and recorded although --out could not be written"
    );
}

#[test]
fn unknown_role_is_a_usage_error() {
    let ca = TestCa::new();
    let case = role_case("buyer");
    let key = generate_key(KeyType::EcP256, &ca.path("k.pem"));
    let csr = make_csr(&key, case.subject, case.addext, &ca.path("buyer.csr"));
    let stderr = assert_refused(&ca, None, &csr, "admin", &["admin"], "--role admin");
    assert!(
        stderr.contains("--role"),
        "the clap error should name the flag: {stderr}"
    );
    // The case insensitivity of role names is paypki's choice; "admin" in any case fails.
    assert_refused(&ca, None, &csr, "ADMIN", &["ADMIN"], "--role ADMIN");
}

#[test]
fn subjects_and_sans_breaking_the_policy_are_refused() {
    let ca = TestCa::new();
    let key = generate_key(KeyType::EcP256, &ca.path("k.pem"));
    let csr = |name: &str, subject: &str, addext: &[&str]| {
        make_csr(&key, subject, addext, &ca.path(&format!("{name}.csr")))
    };

    let c = csr("merchant-no-serial", "/CN=Shop/O=Shop Ltd", &[]);
    assert_refused(
        &ca,
        None,
        &c,
        "merchant",
        &["serialNumber", "merchant"],
        "merchant without serialNumber",
    );

    let c = csr(
        "merchant-bad-serial",
        "/CN=Shop/O=Shop Ltd/serialNumber=X1",
        &[],
    );
    assert_refused(
        &ca,
        None,
        &c,
        "merchant",
        &["serialNumber", "X1"],
        "merchant with serialNumber X1",
    );

    let c = csr("merchant-no-o", "/CN=Shop/serialNumber=M12345678", &[]);
    assert_refused(&ca, None, &c, "merchant", &["O"], "merchant without O");

    let c = csr(
        "bank-bad-bic",
        "/CN=Bank/O=Bank AG/C=DE/serialNumber=deutdeff",
        &[],
    );
    assert_refused(
        &ca,
        None,
        &c,
        "bank",
        &["serialNumber", "deutdeff"],
        "bank with a lowercase BIC",
    );

    let c = csr(
        "bank-no-country",
        "/CN=Bank/O=Bank AG/serialNumber=DEUTDEFF",
        &[],
    );
    assert_refused(&ca, None, &c, "bank", &["C", "bank"], "bank without C");

    let c = csr("gateway-no-dns", "/CN=gw.pay.example/O=Pay GW", &[]);
    assert_refused(
        &ca,
        None,
        &c,
        "gateway",
        &["dns", "gateway"],
        "gateway without a DNS SAN",
    );

    let c = csr(
        "gateway-ip-only",
        "/CN=gw.pay.example/O=Pay GW",
        &["subjectAltName=IP:192.0.2.1"],
    );
    assert_refused(
        &ca,
        None,
        &c,
        "gateway",
        &["dns"],
        "gateway with only an IP SAN",
    );

    // An attribute paypki supports but the role's policy does not allow (ST for a bank).
    let c = csr(
        "bank-st",
        "/CN=Bank/O=Bank AG/C=DE/serialNumber=DEUTDEFF/ST=Hessen",
        &[],
    );
    assert_refused(
        &ca,
        None,
        &c,
        "bank",
        &["ST", "not allowed"],
        "bank with ST",
    );

    // An attribute paypki does not support at all (emailAddress).
    let c = csr(
        "buyer-email-attr",
        "/CN=Alice/emailAddress=alice@buyer.example",
        &[],
    );
    assert_refused(
        &ca,
        None,
        &c,
        "buyer",
        &["1.2.840.113549.1.9.1"],
        "buyer with emailAddress in the subject",
    );

    // A SAN kind the role does not allow (DNS for a buyer).
    let c = csr(
        "buyer-dns",
        "/CN=Alice",
        &["subjectAltName=DNS:alice.example"],
    );
    assert_refused(
        &ca,
        None,
        &c,
        "buyer",
        &["dns", "buyer"],
        "buyer with a DNS SAN",
    );

    // A bad country code.
    let c = csr("buyer-bad-country", "/CN=Alice/C=de", &[]);
    assert_refused(&ca, None, &c, "buyer", &["C"], "buyer with C=de");

    // None of these left anything behind.
    assert_eq!(ca.certificate_count(), 0);
    ca.paypki(&["audit", "verify"])
        .assert_success("paypki audit verify after refusals");
}

#[test]
fn broken_policy_files_are_refused_with_the_file_named() {
    let ca = TestCa::new();
    let case = role_case("buyer");
    let key = generate_key(KeyType::EcP256, &ca.path("k.pem"));
    let csr = make_csr(&key, case.subject, case.addext, &ca.path("buyer.csr"));

    // An unknown key in bank.toml breaks every issuance, even for another role.
    let unknown_key = copy_policies(&shipped_policies(), &ca.path("policies-unknown-key"));
    let bank_toml = unknown_key.join("bank.toml");
    let text = read_text(&bank_toml);
    assert!(text.contains("[validity]\n"));
    std::fs::write(
        &bank_toml,
        text.replacen("[validity]\n", "[validity]\ncolour = 1\n", 1),
    )
    .unwrap();
    assert_refused(
        &ca,
        Some(&unknown_key),
        &csr,
        "buyer",
        &["bank.toml", "colour"],
        "unknown key in bank.toml",
    );

    // A missing gateway.toml.
    let missing = copy_policies(&shipped_policies(), &ca.path("policies-missing"));
    std::fs::remove_file(missing.join("gateway.toml")).unwrap();
    assert_refused(
        &ca,
        Some(&missing),
        &csr,
        "buyer",
        &["gateway.toml"],
        "missing gateway.toml",
    );

    // A value that parses but makes no sense (rsa_min_bits below 2048).
    let weak = copy_policies(&shipped_policies(), &ca.path("policies-weak"));
    let merchant_toml = weak.join("merchant.toml");
    let text = read_text(&merchant_toml);
    assert!(text.contains("rsa_min_bits = 2048"));
    std::fs::write(
        &merchant_toml,
        text.replacen("rsa_min_bits = 2048", "rsa_min_bits = 1024", 1),
    )
    .unwrap();
    assert_refused(
        &ca,
        Some(&weak),
        &csr,
        "buyer",
        &["merchant.toml", "rsa_min_bits"],
        "rsa_min_bits = 1024",
    );

    // TOML syntax error.
    let syntax = copy_policies(&shipped_policies(), &ca.path("policies-syntax"));
    std::fs::write(syntax.join("buyer.toml"), "role = \"buyer\n").unwrap();
    assert_refused(
        &ca,
        Some(&syntax),
        &csr,
        "buyer",
        &["buyer.toml"],
        "TOML syntax error",
    );

    // The untouched copy works (the refusals were about the edits).
    let intact = copy_policies(&shipped_policies(), &ca.path("policies-intact"));
    ca.issue_with_policies(&intact, &csr, "buyer", "intact.pem");
    assert_eq!(ca.certificate_count(), 1);
}

#[test]
fn init_twice_refuses_and_changes_nothing() {
    let ca = TestCa::new();
    let root_before = read_bytes(&ca.root_cert());
    let issuing_before = read_bytes(&ca.issuing_cert());
    let key_before = read_bytes(&ca.key_file("issuing"));
    let settings_before = read_bytes(&ca.data_dir().join("ca.toml"));

    for extra in [
        &[][..],
        &[
            "--key-alg",
            "ed25519",
            "--base-url",
            "https://other.example",
        ][..],
    ] {
        let mut args = vec!["init"];
        args.extend_from_slice(extra);
        let output = ca.paypki(&args);
        output.assert_failure("second paypki init");
        assert!(
            output.stderr_text().contains("already"),
            "the refusal should say the CA already exists\n{}",
            output.describe()
        );
        assert!(
            output.stdout_text().trim().is_empty(),
            "a fingerprint was printed\n{}",
            output.describe()
        );
    }

    assert_eq!(
        read_bytes(&ca.root_cert()),
        root_before,
        "the root certificate changed"
    );
    assert_eq!(
        read_bytes(&ca.issuing_cert()),
        issuing_before,
        "the issuing certificate changed"
    );
    assert_eq!(
        read_bytes(&ca.key_file("issuing")),
        key_before,
        "the issuing key changed"
    );
    assert_eq!(
        read_bytes(&ca.data_dir().join("ca.toml")),
        settings_before,
        "ca.toml changed"
    );

    // The first init's fingerprint is the root's SHA-256, as openssl computes it.
    let printed = ca.init_output.as_ref().unwrap().stdout_text();
    let fingerprint = openssl(&[
        "x509".as_ref(),
        "-noout".as_ref(),
        "-fingerprint".as_ref(),
        "-sha256".as_ref(),
        "-in".as_ref(),
        ca.root_cert().as_os_str(),
    ])
    .stdout_text();
    let fingerprint = fingerprint.trim().rsplit('=').next().unwrap().to_string();
    assert_eq!(
        printed.trim().to_uppercase(),
        fingerprint.to_uppercase(),
        "init's root fingerprint"
    );

    // Unencrypted CA keys are private too.
    use std::os::unix::fs::PermissionsExt;
    for name in ["root", "issuing", "ocsp"] {
        let mode = std::fs::metadata(ca.key_file(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name}.key.pem mode {mode:o}");
        assert!(read_text(&ca.key_file(name)).starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    // Commands on a data directory without a CA refuse.
    let empty = TestCa::uninitialized();
    let output = empty.paypki(&["list", "--json"]);
    output.assert_failure("paypki list without a CA");
    assert!(
        output.stderr_text().contains("init"),
        "{}",
        output.describe()
    );
}

#[test]
fn encrypted_ca_keys_need_the_passphrase() {
    use std::os::unix::fs::PermissionsExt;
    let passphrase = "correct horse battery staple";
    let ca = TestCa::init(&[], &[("PAYPKI_PASSPHRASE", passphrase)]);

    for name in ["root", "issuing", "ocsp"] {
        let key = ca.key_file(name);
        assert_encrypted_key_file(&key);
        // openssl decrypts it with the passphrase, and not without it.
        openssl(&[
            "pkey".as_ref(),
            "-in".as_ref(),
            key.as_os_str(),
            "-passin".as_ref(),
            format!("pass:{passphrase}").as_ref(),
            "-noout".as_ref(),
        ]);
        let wrong = run(std::process::Command::new("openssl")
            .args(["pkey", "-noout", "-passin", "pass:wrong", "-in"])
            .arg(&key));
        assert!(
            !wrong.status.success(),
            "openssl read {name} with a wrong passphrase"
        );
    }
    let keys_mode = std::fs::metadata(ca.data_dir().join("keys"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(keys_mode, 0o700, "keys/ mode {keys_mode:o}");

    let case = role_case("merchant");
    let key = generate_key(KeyType::EcP256, &ca.path("m.key.pem"));
    let csr = make_csr(&key, case.subject, case.addext, &ca.path("m.csr"));

    // Without the passphrase, and with a wrong one: refused, naming PAYPKI_PASSPHRASE.
    let stderr = assert_refused(
        &ca,
        None,
        &csr,
        "merchant",
        &["PAYPKI_PASSPHRASE"],
        "issue without the passphrase",
    );
    assert!(stderr.contains("encrypted"), "{stderr}");
    let before = ca.certificate_count();
    let out = ca.path("wrong.pem");
    let output = ca.paypki_env(
        &[
            "issue",
            "--csr",
            csr.to_str().unwrap(),
            "--role",
            "merchant",
            "--out",
            out.to_str().unwrap(),
        ],
        &[("PAYPKI_PASSPHRASE", "not the passphrase")],
    );
    output.assert_failure("issue with a wrong passphrase");
    assert!(
        output.stderr_text().contains("PAYPKI_PASSPHRASE"),
        "{}",
        output.describe()
    );
    assert!(!out.exists());
    assert_eq!(ca.certificate_count(), before);

    // With it: issued and verifiable.
    let issued = ca.issue_env(
        &csr,
        "merchant",
        "ok.pem",
        &[("PAYPKI_PASSPHRASE", passphrase)],
    );
    ca.assert_openssl_verifies(&issued.leaf, Some("sslclient"));
    let summary = ca.check_cert(&issued.bundle);
    assert_matches_policy(
        &summary,
        &Policy::shipped("merchant"),
        DEFAULT_BASE_URL,
        "merchant from an encrypted CA",
    );
}

#[test]
fn imported_rsa_3072_issuing_key_signs_verifiable_leaves() {
    let ca = TestCa::uninitialized();
    let rsa_key = generate_key(KeyType::Rsa(3072), &ca.path("issuing-rsa3072.key.pem"));
    assert!(
        read_text(&rsa_key).starts_with("-----BEGIN PRIVATE KEY-----"),
        "genpkey should write PKCS#8"
    );
    let output = ca.paypki(&["init", "--import-issuing-key", rsa_key.to_str().unwrap()]);
    output.assert_success("paypki init --import-issuing-key");

    // The issuing certificate carries the imported key.
    let issuing_pub = certificate_public_key_pem(&ca.issuing_cert());
    assert_eq!(
        normalize_pem(&issuing_pub),
        normalize_pem(&public_key_pem(&rsa_key)),
        "issuing CA key is not the imported key"
    );
    let issuing_text = openssl(&[
        "x509".as_ref(),
        "-noout".as_ref(),
        "-text".as_ref(),
        "-in".as_ref(),
        ca.issuing_cert().as_os_str(),
    ])
    .stdout_text();
    assert!(issuing_text.contains("3072 bit"), "{issuing_text}");

    for (role, key_type) in [
        ("merchant", KeyType::EcP256),
        ("gateway", KeyType::Rsa(2048)),
    ] {
        let case = role_case(role);
        let key = generate_key(key_type, &ca.path(&format!("{role}.key.pem")));
        let csr = make_csr(
            &key,
            case.subject,
            case.addext,
            &ca.path(&format!("{role}.csr")),
        );
        let issued = ca.issue(&csr, role, &format!("{role}.pem"));
        ca.assert_openssl_verifies(&issued.leaf, None);
        let text = openssl(&[
            "x509".as_ref(),
            "-noout".as_ref(),
            "-text".as_ref(),
            "-in".as_ref(),
            issued.leaf.as_os_str(),
        ])
        .stdout_text();
        assert!(
            text.contains("Signature Algorithm: sha256WithRSAEncryption"),
            "{role}: {text}"
        );
        let summary = ca.check_cert(&issued.bundle);
        assert_eq!(
            summary.signature_algorithm, "1.2.840.113549.1.1.11",
            "{role}: sha256WithRSAEncryption"
        );
        assert_matches_policy(&summary, &Policy::shipped(role), DEFAULT_BASE_URL, role);
    }

    // The OCSP responder gets a generated (EC) key, signed by the RSA issuing CA.
    let ocsp = check_cert(&ca.ocsp_cert(), &ca.issuing_cert(), &ca.root_cert());
    assert_eq!(ocsp.signature_algorithm, "1.2.840.113549.1.1.11");
    assert_eq!(
        ocsp.extended_key_usage,
        vec!["1.3.6.1.5.5.7.3.9".to_string()],
        "OCSP signing EKU"
    );
}

#[test]
fn p384_and_ed25519_cas_issue_verifiable_leaves() {
    for (alg, sig_oid, root_key_text) in [
        ("ecdsa-p384", "1.2.840.10045.4.3.3", "NIST CURVE: P-384"),
        ("ed25519", "1.3.101.112", "ED25519"),
    ] {
        let ca = TestCa::init(&["--key-alg", alg], &[]);
        let root_text = openssl(&[
            "x509".as_ref(),
            "-noout".as_ref(),
            "-text".as_ref(),
            "-in".as_ref(),
            ca.root_cert().as_os_str(),
        ])
        .stdout_text();
        assert!(
            root_text.contains(root_key_text),
            "{alg} root:\n{root_text}"
        );

        for (role, key_type) in [("buyer", KeyType::Ed25519), ("bank", KeyType::EcP256)] {
            let context = format!("{role} leaf from a {alg} CA");
            let case = role_case(role);
            let key = generate_key(key_type, &ca.path(&format!("{role}.key.pem")));
            let csr = make_csr(
                &key,
                case.subject,
                case.addext,
                &ca.path(&format!("{role}.csr")),
            );
            let issued = ca.issue(&csr, role, &format!("{role}.pem"));
            ca.assert_openssl_verifies(&issued.leaf, Some("sslclient"));
            let summary = ca.check_cert(&issued.bundle);
            assert_eq!(
                summary.signature_algorithm, sig_oid,
                "{context}: signature algorithm"
            );
            assert_matches_policy(&summary, &Policy::shipped(role), DEFAULT_BASE_URL, &context);
        }
        // The OCSP responder certificate chains too.
        let ocsp = check_cert(&ca.ocsp_cert(), &ca.issuing_cert(), &ca.root_cert());
        assert_eq!(ocsp.signature_algorithm, sig_oid);
    }
}

/// Revocation applies no policy, so a broken policy directory must never stop an
/// administrator from revoking (or lifting a hold).
#[test]
fn revocation_works_with_broken_policy_files() {
    let ca = TestCa::new();
    let case = role_case("buyer");
    let key = generate_key(KeyType::EcP256, &ca.path("k.pem"));
    let csr = make_csr(&key, case.subject, case.addext, &ca.path("buyer.csr"));
    let issued = ca.issue(&csr, "buyer", "buyer.pem");
    let broken = ca.path("no-policies-here");
    std::fs::create_dir_all(&broken).unwrap();
    ca.paypki_with_policies(
        &broken,
        &["revoke", &issued.serial, "--reason", "certificateHold"],
    )
    .assert_success("revoke with no policy files");
    ca.paypki_with_policies(&broken, &["unhold", &issued.serial])
        .assert_success("unhold with no policy files");
    ca.paypki_with_policies(
        &broken,
        &["revoke", &issued.serial, "--reason", "keyCompromise"],
    )
    .assert_success("revoke again");
    let shown = ca.paypki(&["show", &issued.serial]);
    assert!(
        shown.stdout_text().contains("revoked"),
        "{}",
        shown.stdout_text()
    );
}

/// `paypki show` prints both fingerprints exactly as `openssl x509 -fingerprint` does.
#[test]
fn show_prints_fingerprints_as_openssl_does() {
    let ca = TestCa::new();
    let case = role_case("buyer");
    let key = generate_key(KeyType::EcP256, &ca.path("k.pem"));
    let csr = make_csr(&key, case.subject, case.addext, &ca.path("buyer.csr"));
    let issued = ca.issue(&csr, "buyer", "buyer.pem");
    let shown = ca.paypki(&["show", &issued.serial]);
    shown.assert_success("show");
    for digest in ["-sha256", "-sha1"] {
        let out = openssl(&[
            "x509",
            "-in",
            issued.leaf.to_str().unwrap(),
            "-noout",
            "-fingerprint",
            digest,
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let fingerprint = text.trim().rsplit('=').next().unwrap();
        assert!(
            shown.stdout_text().contains(fingerprint),
            "{digest} {fingerprint} not in\n{}",
            shown.stdout_text()
        );
    }
}

/// `paypki crl` runs itself again with mimalloc told to hand freed pages back at once: a
/// separate process whose peak memory is its cost (with a million revocations, 121–125
/// MiB instead of 158–180: docs/PERFORMANCE.md). mimalloc prints its options when asked
/// to; the second run's are the ones that hold. The CRL it writes still parses.
#[test]
fn paypki_crl_runs_with_freed_memory_handed_back_at_once() {
    let ca = TestCa::new();
    let out = ca.path("issuing.crl");
    let output = ca.paypki_env(
        &["crl", "--out", out.to_str().unwrap()],
        &[("MIMALLOC_VERBOSE", "1")],
    );
    output.assert_success("paypki crl");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let delays: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("option 'purge_delay'"))
        .collect();
    assert_eq!(
        delays.last().map(|line| line.trim()),
        Some("option 'purge_delay': 0"),
        "{stderr}"
    );
    let parsed = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        out.to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    let text = String::from_utf8_lossy(&parsed.stdout);
    assert!(text.contains("Certificate Revocation List"), "{text}");
}
