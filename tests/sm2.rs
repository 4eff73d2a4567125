//! SM2/SM3 (China's national commercial cryptography) against the real `paypki serve`:
//! an SM2 CA (`init --key-alg sm2`, key files encrypted with a passphrase) enrolls an
//! SM2 CSR made by OpenSSL 3, and two independent SM2 implementations check what it
//! signs: the `openssl` CLI and the pure-Python `gmssl` package (`tests/py/check_sm2.py`).
//!
//! OpenSSL 3.0 verifies SM2 signatures with an *empty* distinguishing ID unless told
//! otherwise, and can be told only for the certificate it is asked about
//! (`openssl verify -vfyopt distid:…`; OpenSSL issue 23471), not for the issuing CA of a
//! three-level chain, a CRL or an OCSP response. paypki signs with GM/T 0009's default ID
//! `1234567812345678`, so the chain is checked by OpenSSL one link at a time, and the CRL's
//! and the OCSP response's signatures by `openssl pkeyutl -verify -rawin -digest sm3
//! -pkeyopt distid:…` over their to-be-signed bytes, while `openssl crl` and `openssl ocsp`
//! read their contents (docs/verification.md says the same for readers).

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use common::*;

const DISTID: &str = "distid:1234567812345678";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The shipped policies with `sm2` added to the merchant's key algorithms.
fn sm2_policies(ca: &TestCa) -> PathBuf {
    let dir = copy_policies(&shipped_policies(), &ca.path("policies"));
    let merchant = dir.join("merchant.toml");
    let text = read_text(&merchant);
    let allowed = r#"algorithms = ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa"]"#;
    assert!(
        text.contains(allowed),
        "the merchant policy changed: {text}"
    );
    let text = text.replace(
        allowed,
        r#"algorithms = ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa", "sm2"]"#,
    );
    std::fs::write(&merchant, text).unwrap();
    dir
}

/// A new SM2 key (`openssl genpkey -algorithm sm2`) at `<tmp>/<stem>.key.pem`.
fn sm2_key(ca: &TestCa, stem: &str) -> PathBuf {
    let key = ca.path(&format!("{stem}.key.pem"));
    openssl(&[
        "genpkey",
        "-algorithm",
        "sm2",
        "-out",
        key.to_str().unwrap(),
    ]);
    key
}

/// A new SM2 key and the merchant's CSR for it, signed SM2-with-SM3 with the default
/// distinguishing ID as OpenSSL 3 makes it (`-sm3 -sigopt distid:…`); `addext` asks for
/// the merchant's SANs too.
fn sm2_key_and_csr(ca: &TestCa, stem: &str, addext: bool) -> (PathBuf, PathBuf) {
    let key = sm2_key(ca, stem);
    let case = enroll_case("merchant");
    let csr = ca.path(&format!("{stem}.csr"));
    let mut req = vec![
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-sm3",
        "-sigopt",
        DISTID,
        "-subj",
        case.openssl_subject,
    ];
    if addext {
        for extension in case.openssl_addext {
            req.extend(["-addext", extension]);
        }
    }
    req.extend(["-out", csr.to_str().unwrap()]);
    openssl(&req);
    (key, csr)
}

/// `openssl verify -x509_strict -vfyopt distid:… [-partial_chain] -CAfile ANCHOR CERT`.
fn assert_openssl_verifies_link(anchor: &Path, cert: &Path, partial: bool, purpose: &str) {
    let mut args = vec!["verify", "-x509_strict", "-vfyopt", DISTID];
    if partial {
        // The issuing CA as the trust anchor: OpenSSL would check its signature with an
        // empty distinguishing ID (issue 23471); the link above is checked separately.
        args.push("-partial_chain");
    }
    if !purpose.is_empty() {
        args.extend(["-purpose", purpose]);
    }
    let output = openssl(
        &[
            &args[..],
            &["-CAfile", anchor.to_str().unwrap(), cert.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(
        output.stdout_text().trim_end().ends_with(": OK"),
        "openssl verify {}\n{}",
        cert.display(),
        output.describe()
    );
}

/// The signature of a certificate, CRL or OCSP response checked by OpenSSL
/// (`pkeyutl -verify -rawin -digest sm3` with the default distinguishing ID, over the
/// to-be-signed bytes) and by gmssl; a changed TBS fails in OpenSSL too.
fn assert_sm2_signature(ca: &TestCa, signed: &Path, signer_cert: &Path, name: &str) {
    let tbs = ca.path(&format!("{name}.tbs"));
    let signature = ca.path(&format!("{name}.sig"));
    let output = run_python(
        "check_sm2.py",
        &[
            "split".as_ref(),
            signed.as_os_str(),
            tbs.as_os_str(),
            signature.as_os_str(),
        ],
    );
    output.assert_success(&format!("check_sm2.py split {name}"));
    let public = ca.path(&format!("{name}.signer.pub.pem"));
    std::fs::write(&public, certificate_public_key_pem(signer_cert)).unwrap();
    let pkeyutl = |data: &Path| {
        run(std::process::Command::new("openssl").args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            public.to_str().unwrap(),
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            DISTID,
            "-in",
            data.to_str().unwrap(),
            "-sigfile",
            signature.to_str().unwrap(),
        ]))
    };
    let verified = pkeyutl(&tbs);
    verified.assert_success(&format!("openssl pkeyutl -verify of {name}"));
    assert!(
        verified
            .stdout_text()
            .contains("Signature Verified Successfully"),
        "{}",
        verified.describe()
    );
    let mut changed = read_bytes(&tbs);
    *changed.last_mut().unwrap() ^= 1;
    let changed_path = ca.path(&format!("{name}.tbs.changed"));
    std::fs::write(&changed_path, changed).unwrap();
    assert!(
        !pkeyutl(&changed_path).status.success(),
        "openssl accepted a changed {name}"
    );
    let gmssl = run_python(
        "check_sm2.py",
        &[
            "check".as_ref(),
            signed.as_os_str(),
            signer_cert.as_os_str(),
        ],
    );
    gmssl.assert_success(&format!("gmssl check of {name}"));
    assert_eq!(gmssl.stdout_text().trim(), "ok");
}

/// `openssl dgst DIGEST -sign KEY [-sigopt DISTID] MESSAGE`: the signature, also written
/// to `<tmp>/<name>`.
fn openssl_sign(
    ca: &TestCa,
    key: &Path,
    digest: &str,
    distid: Option<&str>,
    message: &Path,
    name: &str,
) -> Vec<u8> {
    let out = ca.path(name);
    let mut args = vec!["dgst", digest, "-sign", key.to_str().unwrap()];
    if let Some(id) = distid {
        args.extend(["-sigopt", id]);
    }
    args.extend(["-out", out.to_str().unwrap(), message.to_str().unwrap()]);
    openssl(&args);
    read_bytes(&out)
}

/// Asks `server` about `leaf` with `openssl ocsp` (not checking the signature, which
/// OpenSSL 3.0 would check with an empty distinguishing ID), asserts the status and the
/// SM2-with-SM3 signature algorithm it prints, then checks the signature with
/// [`assert_sm2_signature`] against `responder`.
fn assert_ocsp_status(
    ca: &TestCa,
    server: &TestServer<'_>,
    issuer: &Path,
    leaf: &Path,
    responder: &Path,
    status: &str,
    name: &str,
) {
    let ocsp = ca.path(&format!("{name}.der"));
    let asked = openssl(&[
        "ocsp",
        "-issuer",
        issuer.to_str().unwrap(),
        "-cert",
        leaf.to_str().unwrap(),
        "-url",
        &server.url_for("/ocsp"),
        "-noverify",
        "-resp_text",
        "-respout",
        ocsp.to_str().unwrap(),
    ]);
    let text = asked.stdout_text();
    for expected in [
        format!("Cert Status: {status}"),
        "Signature Algorithm: SM2-with-SM3".into(),
    ] {
        assert!(text.contains(&expected), "{expected}\n{}", asked.describe());
    }
    assert_sm2_signature(ca, &ocsp, responder, name);
}

/// `POST /v1/verify` of `signature` over `message` by `cert`; the answer.
fn verify(
    server: &TestServer<'_>,
    cert: &Path,
    message: &[u8],
    signature: &[u8],
    id: Option<&str>,
) -> Value {
    let mut body = json!({
        "certificate": read_text(cert),
        "message": b64(message),
        "signature": b64(signature),
    });
    if let Some(id) = id {
        body["sm2_distinguishing_id"] = json!(id);
    }
    server.post_json_ok("/v1/verify", &body, "POST /v1/verify (SM2)")
}

fn assert_valid(answer: &Value, what: &str) {
    assert_eq!(answer["valid"], true, "{what}: {answer}");
    assert_eq!(answer["algorithm"], "sm2-sm3", "{what}: {answer}");
}

fn assert_bad_signature(answer: &Value, what: &str) {
    assert_eq!(answer["valid"], false, "{what}: {answer}");
    assert_eq!(answer["reason"], "bad_signature", "{what}: {answer}");
}

#[test]
fn an_sm2_ca_enrolls_an_openssl_csr_and_openssl_and_gmssl_check_what_it_signs() {
    let passphrase = (
        "PAYPKI_PASSPHRASE".to_string(),
        "sm2 test passphrase".to_string(),
    );
    let ca = TestCa::init_with_env(&["--key-alg", "sm2"], &[passphrase]);

    // Key files: 0600, encrypted like every other key file, readable by OpenSSL as SM2.
    for name in ["root", "issuing", "ocsp"] {
        let key = ca.key_file(name);
        assert_encrypted_key_file(&key);
        let shown = openssl(&[
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-passin",
            "pass:sm2 test passphrase",
            "-noout",
            "-text",
        ]);
        assert!(
            shown.stdout_text().contains("ASN1 OID: SM2"),
            "{name}: {}",
            shown.describe()
        );
    }
    // The CA certificates: SM2 keys, SM2-with-SM3 signatures; each link verified.
    for cert in [ca.root_cert(), ca.issuing_cert(), ca.ocsp_cert()] {
        let text =
            openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-text"]).stdout_text();
        assert!(text.contains("Signature Algorithm: SM2-with-SM3"), "{text}");
        assert!(text.contains("ASN1 OID: SM2"), "{text}");
    }
    assert_openssl_verifies_link(&ca.root_cert(), &ca.issuing_cert(), false, "");
    assert_openssl_verifies_link(&ca.issuing_cert(), &ca.ocsp_cert(), true, "");
    assert_sm2_signature(&ca, &ca.issuing_cert(), &ca.root_cert(), "issuing-cert");

    let policies = sm2_policies(&ca);
    let server = TestServer::start_with_policies(&ca, &policies, &[]);

    // A participant's SM2 key and CSR, made by OpenSSL 3.
    let (key, csr) = sm2_key_and_csr(&ca, "merchant.sm2", true);
    let body = enroll_csr(&server, &csr, "POST /v1/enroll with an SM2 CSR");
    let serial = body["serial"].as_str().unwrap().to_string();
    let leaf = ca.path("merchant.cert.pem");
    std::fs::write(&leaf, body["certificate"].as_str().unwrap()).unwrap();
    let chain = split_pem_certificates(body["chain"].as_str().unwrap());
    assert_eq!(chain.len(), 2, "chain: issuing CA then root");
    assert_eq!(
        normalize_pem(&chain[0]),
        normalize_pem(&read_text(&ca.issuing_cert()))
    );
    assert_eq!(
        normalize_pem(&chain[1]),
        normalize_pem(&read_text(&ca.root_cert()))
    );

    let text = openssl(&["x509", "-in", leaf.to_str().unwrap(), "-noout", "-text"]).stdout_text();
    assert!(text.contains("Signature Algorithm: SM2-with-SM3"), "{text}");
    assert!(text.contains("ASN1 OID: SM2"), "{text}");
    // The participant's own key, not one rcgen re-encoded as P-256.
    let leaf_key = certificate_public_key_pem(&leaf);
    assert_eq!(leaf_key, public_key_pem(&key));
    // An SM2 certificate is a signature certificate: no key agreement or encipherment.
    assert!(
        text.contains("Digital Signature, Non Repudiation"),
        "{text}"
    );
    assert_openssl_verifies_link(&ca.issuing_cert(), &leaf, true, "sslclient");
    assert_sm2_signature(&ca, &leaf, &ca.issuing_cert(), "leaf");
    // The root CRL init signed is served, SM2-signed by the root.
    let root_crl = ca.path("root.crl");
    let response = server.get("/crl/root.crl");
    response.assert_status(200, "GET /crl/root.crl");
    std::fs::write(&root_crl, &response.body).unwrap();
    assert_sm2_signature(&ca, &root_crl, &ca.root_cert(), "root-crl");
    // The TSA (a P-256 key certified by the SM2 issuing CA): `paypki timestamp` checks the
    // reply's signature and its chain to the SM2 root.
    let document = ca.path("order.json");
    std::fs::write(&document, b"{\"order\":\"A-1\"}").unwrap();
    let stamped = ca.paypki(&[
        "timestamp",
        document.to_str().unwrap(),
        "--url",
        server.url(),
    ]);
    stamped.assert_success("paypki timestamp (SM2 CA)");

    // /v1/validate: the chain by rustls-webpki with paypki's SM2-with-SM3 algorithm.
    let validated = server.post_json_ok(
        "/v1/validate",
        &json!({ "chain": [read_text(&leaf), chain[0]] }),
        "POST /v1/validate (SM2 chain)",
    );
    assert_eq!(validated["valid"], true, "{validated}");
    assert_eq!(validated["status"], "good", "{validated}");

    // /v1/verify: signatures made by OpenSSL and by gmssl.
    let message = b"pay 10.00 CNY to merchant M12345678".to_vec();
    let message_file = ca.path("message.bin");
    std::fs::write(&message_file, &message).unwrap();
    let sign = |name: &str, distid: Option<&str>| {
        openssl_sign(&ca, &key, "-sm3", distid, &message_file, name)
    };
    let signature = sign("message.sig", Some(DISTID));
    assert_valid(
        &verify(&server, &leaf, &message, &signature, None),
        "openssl dgst -sm3 -sign",
    );
    let mut tampered = signature.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_bad_signature(
        &verify(&server, &leaf, &message, &tampered, None),
        "a changed signature",
    );
    assert_bad_signature(
        &verify(
            &server,
            &leaf,
            b"pay 99.00 CNY to merchant M12345678",
            &signature,
            None,
        ),
        "a changed message",
    );
    // The distinguishing ID is part of what is signed: OpenSSL's own default (empty)
    // verifies only when the request says so.
    let openssl_default = sign("message.empty-id.sig", None);
    assert_bad_signature(
        &verify(&server, &leaf, &message, &openssl_default, None),
        "empty ID, default asked",
    );
    assert_valid(
        &verify(&server, &leaf, &message, &openssl_default, Some("")),
        "empty ID",
    );
    let custom = sign("message.alice.sig", Some("distid:alice@shop.example"));
    assert_valid(
        &verify(
            &server,
            &leaf,
            &message,
            &custom,
            Some("alice@shop.example"),
        ),
        "custom ID",
    );
    assert_bad_signature(
        &verify(&server, &leaf, &message, &custom, None),
        "custom ID, default asked",
    );
    let too_long = verify(
        &server,
        &leaf,
        &message,
        &signature,
        Some(&"x".repeat(8192)),
    );
    assert_eq!(too_long["reason"], "malformed", "{too_long}");
    let gmssl_signature = ca.path("message.gmssl.sig");
    run_python(
        "check_sm2.py",
        &[
            "sign".as_ref(),
            key.as_os_str(),
            message_file.as_os_str(),
            gmssl_signature.as_os_str(),
        ],
    )
    .assert_success("check_sm2.py sign");
    assert_valid(
        &verify(
            &server,
            &leaf,
            &message,
            &read_bytes(&gmssl_signature),
            None,
        ),
        "a gmssl signature",
    );

    // Revocation: the CRL and the OCSP response, both SM2-with-SM3.
    ca.paypki(&["revoke", &serial, "--reason", "keyCompromise"])
        .assert_success("paypki revoke");
    let crl = ca.path("issuing.crl");
    let listed = serial.to_uppercase();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = server.get("/crl/issuing.crl");
        response.assert_status(200, "GET /crl/issuing.crl");
        std::fs::write(&crl, &response.body).unwrap();
        let text = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            crl.to_str().unwrap(),
            "-noout",
            "-text",
        ])
        .stdout_text();
        if text.contains(&listed) {
            assert!(text.contains("Signature Algorithm: SM2-with-SM3"), "{text}");
            assert!(text.contains("Key Compromise"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "no CRL lists {serial}:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_sm2_signature(&ca, &crl, &ca.issuing_cert(), "crl");

    assert_ocsp_status(
        &ca,
        &server,
        &ca.issuing_cert(),
        &leaf,
        &ca.ocsp_cert(),
        "revoked",
        "ocsp",
    );
    assert_bad_signature_or_revoked(&verify(&server, &leaf, &message, &signature, None));
}

/// After revocation a valid signature is judged revoked, never valid.
fn assert_bad_signature_or_revoked(answer: &Value) {
    assert_eq!(answer["valid"], false, "{answer}");
    assert_eq!(answer["reason"], "revoked", "{answer}");
}

#[test]
fn an_sm2_ca_refuses_a_pkcs11_token_and_rcgen_cannot_encode_sm2() {
    let ca = TestCa::uninitialized();
    let output = ca.paypki(&[
        "init",
        "--key-alg",
        "sm2",
        "--key-store",
        "pkcs11",
        "--pkcs11-module",
        "/usr/lib/softhsm/libsofthsm2.so",
        "--pkcs11-token",
        "paypki",
    ]);
    assert!(!output.status.success(), "{}", output.describe());
    assert!(
        output
            .stderr_text()
            .contains("SM2 CA keys cannot be kept on a PKCS#11 token"),
        "{}",
        output.describe()
    );
    assert!(!ca.data_dir().join("keys").exists(), "no key may be made");

    // The reason for the re-encoding: rcgen has no SM2 signature algorithm and cannot
    // hold an SM2 key made by OpenSSL.
    assert!(rcgen::SignatureAlgorithm::from_oid(&[1, 2, 156, 10197, 1, 501]).is_err());
    let pem = read_text(&sm2_key(&ca, "sm2"));
    assert!(
        rcgen::KeyPair::from_pem(&pem).is_err(),
        "rcgen read an SM2 key"
    );
}

#[test]
fn an_ecdsa_ca_certifies_an_sm2_key_with_its_own_algorithm() {
    let ca = TestCa::new();
    let policies = sm2_policies(&ca);
    let (key, csr) = sm2_key_and_csr(&ca, "sm2", false);
    let leaf = ca
        .issue_with_policies(&policies, &csr, "merchant", "sm2.bundle.pem")
        .leaf;
    let text = openssl(&["x509", "-in", leaf.to_str().unwrap(), "-noout", "-text"]).stdout_text();
    assert!(
        text.contains("Signature Algorithm: ecdsa-with-SHA256"),
        "{text}"
    );
    assert!(text.contains("ASN1 OID: SM2"), "{text}");
    let leaf_key = certificate_public_key_pem(&leaf);
    assert_eq!(leaf_key, public_key_pem(&key));
    // The whole chain is ECDSA: OpenSSL checks it at once, no distinguishing ID involved.
    ca.assert_openssl_verifies(&leaf, Some("sslclient"));
    // Without sm2 in the policy, the same CSR is refused as a key the role may not have.
    let refused = ca.paypki(&[
        "issue",
        "--csr",
        csr.to_str().unwrap(),
        "--role",
        "merchant",
        "--out",
        ca.path("refused.pem").to_str().unwrap(),
    ]);
    assert!(!refused.status.success(), "{}", refused.describe());
    assert!(
        refused.stderr_text().contains("sm2"),
        "{}",
        refused.describe()
    );
}

/// `POST /v1/enroll` of `csr` with a new merchant token; the answer (asserting 201).
fn enroll_csr(server: &TestServer<'_>, csr: &Path, what: &str) -> Value {
    let token = server.create_case_token(&enroll_case("merchant"));
    let response = server.post_json(
        "/v1/enroll",
        &json!({ "token": token, "csr": read_text(csr) }),
    );
    response.assert_status(201, what);
    response.json()
}

#[test]
fn an_sm2_hierarchy_beside_an_ecdsa_one_gives_a_participant_one_certificate_of_each() {
    let ca = TestCa::new();
    let policies = sm2_policies(&ca);
    let added = ca.paypki(&["ca", "add-hierarchy", "--key-alg", "sm2"]);
    added.assert_success("paypki ca add-hierarchy --key-alg sm2");
    assert_eq!(added.stdout_text().trim(), "2", "{}", added.describe());
    let certs = ca.data_dir().join("certs");
    let (root2, issuing2) = (
        certs.join("root-2.crt.pem"),
        certs.join("issuing-2.crt.pem"),
    );
    let listed = ca.paypki(&["ca", "list", "--json"]);
    let listed: Value = serde_json::from_str(&listed.stdout_text()).unwrap();
    let states: Vec<(u64, u64, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["id"].as_u64().unwrap(),
                row["root"].as_u64().unwrap(),
                row["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(states, [(1, 1, "active"), (2, 2, "active")]);

    // Root 2's CRL is re-signed with root 2's key (cRLNumber 2), served from the start.
    ca.paypki(&[
        "crl",
        "--root",
        "--hierarchy",
        "2",
        "--out",
        ca.path("root-2.signed.crl").to_str().unwrap(),
    ])
    .assert_success("paypki crl --root --hierarchy 2");
    let number = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        ca.data_dir().join("crl/root-2.crl").to_str().unwrap(),
        "-noout",
        "-crlnumber",
    ]);
    assert_eq!(
        number.stdout_text().trim(),
        "crlNumber=0x02",
        "{}",
        number.describe()
    );

    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    let case = enroll_case("merchant");
    // One merchant, two keys: ECDSA P-256 and SM2, each with its own token.
    let ec_key = generate_key(KeyType::EcP256, &ca.path("both.ec.key.pem"));
    let ec_csr = make_csr(&ec_key, case.openssl_subject, &[], &ca.path("both.ec.csr"));
    let (sm2_key, sm2_csr) = sm2_key_and_csr(&ca, "both.sm2", false);
    let ec = enroll_csr(&server, &ec_csr, "enrollment of the ECDSA key");
    let sm2 = enroll_csr(&server, &sm2_csr, "enrollment of the SM2 key");
    assert_ne!(ec["serial"], sm2["serial"]);
    let ec_leaf = ca.path("both.ec.cert.pem");
    std::fs::write(&ec_leaf, ec["certificate"].as_str().unwrap()).unwrap();
    let sm2_leaf = ca.path("both.sm2.cert.pem");
    std::fs::write(&sm2_leaf, sm2["certificate"].as_str().unwrap()).unwrap();

    // The ECDSA key: issuing CA 1 under root 1, as before.
    let ec_chain = split_pem_certificates(ec["chain"].as_str().unwrap());
    assert_eq!(
        normalize_pem(&ec_chain[1]),
        normalize_pem(&read_text(&ca.root_cert()))
    );
    ca.assert_openssl_verifies(&ec_leaf, Some("sslclient"));
    // The SM2 key: issuing CA 2 under root 2, SM2 all the way.
    let sm2_chain = split_pem_certificates(sm2["chain"].as_str().unwrap());
    assert_eq!(
        normalize_pem(&sm2_chain[0]),
        normalize_pem(&read_text(&issuing2))
    );
    assert_eq!(
        normalize_pem(&sm2_chain[1]),
        normalize_pem(&read_text(&root2))
    );
    let served_root = server.get("/ca/root-2.crt");
    served_root.assert_status(200, "GET /ca/root-2.crt");
    let root2_der = openssl(&["x509", "-in", root2.to_str().unwrap(), "-outform", "DER"]).stdout;
    assert_eq!(served_root.body, root2_der);
    for cert in [&root2, &issuing2, &sm2_leaf] {
        let text =
            openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-text"]).stdout_text();
        assert!(text.contains("Signature Algorithm: SM2-with-SM3"), "{text}");
    }
    assert_openssl_verifies_link(&root2, &issuing2, false, "");
    assert_openssl_verifies_link(&issuing2, &sm2_leaf, true, "sslclient");
    assert_sm2_signature(&ca, &issuing2, &root2, "issuing-2");
    let root_crl = ca.path("root-2.crl");
    let response = server.get("/crl/root-2.crl");
    response.assert_status(200, "GET /crl/root-2.crl");
    std::fs::write(&root_crl, &response.body).unwrap();
    assert_sm2_signature(&ca, &root_crl, &root2, "root-2-crl");

    // Both verify, and OCSP for the SM2 one is signed by CA 2's SM2 responder.
    let message = b"pay 10.00 CNY".to_vec();
    let message_file = ca.path("both.message");
    std::fs::write(&message_file, &message).unwrap();
    for (key, leaf, digest, sigopt) in [
        (&ec_key, &ec_leaf, "-sha256", None),
        (&sm2_key, &sm2_leaf, "-sm3", Some(DISTID)),
    ] {
        let signature = openssl_sign(&ca, key, digest, sigopt, &message_file, "both.sig");
        let answer = verify(&server, leaf, &message, &signature, None);
        assert_eq!(answer["valid"], true, "{}: {answer}", leaf.display());
    }
    assert_ocsp_status(
        &ca,
        &server,
        &issuing2,
        &sm2_leaf,
        &certs.join("ocsp-2.crt.pem"),
        "good",
        "both-ocsp",
    );
}
