//! The verification service against the real `paypki serve`: `POST /v1/verify`,
//! `POST /v1/verify/batch`, `POST /v1/validate` and `paypki verify`.
//!
//! Every signature is made by a tool that shares no code with paypki: the `openssl`
//! command line (`dgst -sign`, `pkeyutl -sign -rawin`, `cms -sign`) and Python's
//! `cryptography` (`tests/py/verify_sign.py`). Participants get their certificates the
//! way they would in production: a CSR made with `openssl req` POSTed to `/v1/enroll`
//! with a token from `paypki token create`, or `paypki enroll --out-dir`.

// Test code may panic freely (helpers outside `#[test]` functions included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;

use base64::Engine;
use serde_json::{json, Value};

use common::*;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Standard base64 (what the API expects for `message` and `signature`).
fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Seconds since the epoch, now.
fn now_unix() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock before 1970")
            .as_secs(),
    )
    .expect("clock beyond i64")
}

/// A Unix time as RFC 3339 (`2026-01-31T12:00:00Z`).
fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .expect("time out of range")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("cannot format RFC 3339")
}

/// A participant that holds its private key in a file.
#[derive(Debug, Clone)]
struct Participant {
    role: &'static str,
    kind: KeyType,
    key: PathBuf,
    cert: PathBuf,
    serial: String,
}

impl Participant {
    fn cert_pem(&self) -> String {
        read_text(&self.cert)
    }
}

/// RSA keys are slow to make: one per size for the whole test binary (PEM text), copied
/// into each test's own directory.
fn rsa_key(bits: u32, dest: &Path) -> PathBuf {
    static KEYS: Mutex<BTreeMap<u32, String>> = Mutex::new(BTreeMap::new());
    let mut keys = KEYS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(pem) = keys.get(&bits) {
        std::fs::write(dest, pem).expect("cannot write an RSA key");
    } else {
        generate_key(KeyType::Rsa(bits), dest);
        keys.insert(bits, read_text(dest));
    }
    dest.to_path_buf()
}

/// A private key of `kind` in `<tmp>/<stem>.key.pem` (RSA from the shared cache).
fn new_key(ca: &TestCa, kind: KeyType, stem: &str) -> PathBuf {
    let path = ca.path(&format!("{stem}.key.pem"));
    match kind {
        KeyType::Rsa(bits) => rsa_key(bits, &path),
        other => generate_key(other, &path),
    }
}

/// Token from `paypki token create`, CSR from `openssl req` with `key`, `POST /v1/enroll`.
fn enroll_with_key(
    server: &TestServer<'_>,
    role: &'static str,
    kind: KeyType,
    key: &Path,
    stem: &str,
) -> Participant {
    let ca = server.ca();
    let case = enroll_case(role);
    let token = server.create_case_token(&case);
    let csr = make_csr(
        key,
        case.openssl_subject,
        case.openssl_addext,
        &ca.path(&format!("{stem}.csr")),
    );
    let response = server.post_json(
        "/v1/enroll",
        &json!({ "token": token, "csr": read_text(&csr) }),
    );
    response.assert_status(201, &format!("POST /v1/enroll for {stem} ({role})"));
    let body = response.json();
    assert_eq!(body["role"], role, "enrollment of {stem}: {body}");
    let cert = ca.path(&format!("{stem}.cert.pem"));
    std::fs::write(&cert, body["certificate"].as_str().expect("no certificate")).unwrap();
    Participant {
        role,
        kind,
        key: key.to_path_buf(),
        cert,
        serial: body["serial"].as_str().expect("no serial").to_string(),
    }
}

/// A new key of `kind` and a certificate for `role` through `POST /v1/enroll`.
fn enroll(server: &TestServer<'_>, role: &'static str, kind: KeyType, stem: &str) -> Participant {
    let key = new_key(server.ca(), kind, stem);
    enroll_with_key(server, role, kind, &key, stem)
}

/// `paypki token create` + `paypki enroll --key-alg ALG --out-dir`: paypki makes the key.
fn enroll_cli(
    server: &TestServer<'_>,
    role: &'static str,
    key_alg: &str,
    stem: &str,
) -> Participant {
    let (serial, dir) = server.enroll_case(&enroll_case(role), key_alg, stem);
    let kind = match key_alg {
        "ecdsa-p256" => KeyType::EcP256,
        "ecdsa-p384" => KeyType::EcP384,
        "ed25519" => KeyType::Ed25519,
        other => panic!("no key type for {other}"),
    };
    Participant {
        role,
        kind,
        key: dir.join("key.pem"),
        cert: dir.join("cert.pem"),
        serial,
    }
}

/// Writes `bytes` to `<tmp>/<name>`; returns the path.
fn write_file(ca: &TestCa, name: &str, bytes: &[u8]) -> PathBuf {
    let path = ca.path(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `openssl dgst -HASH -sign KEY [-sigopt rsa_padding_mode:pss -sigopt
/// rsa_pss_saltlen:digest] -out OUT MSG`; returns the signature.
fn sign_dgst(key: &Path, hash: &str, pss: bool, message: &Path, out: &Path) -> Vec<u8> {
    let mut args: Vec<&OsStr> = vec![
        "dgst".as_ref(),
        hash.as_ref(),
        "-sign".as_ref(),
        key.as_os_str(),
    ];
    if pss {
        args.extend::<[&OsStr; 4]>([
            "-sigopt".as_ref(),
            "rsa_padding_mode:pss".as_ref(),
            "-sigopt".as_ref(),
            "rsa_pss_saltlen:digest".as_ref(),
        ]);
    }
    args.extend([OsStr::new("-out"), out.as_os_str(), message.as_os_str()]);
    openssl(&args);
    read_bytes(out)
}

/// `openssl pkeyutl -sign -inkey KEY -rawin -in MSG -out OUT` (Ed25519).
fn sign_pkeyutl(key: &Path, message: &Path, out: &Path) -> Vec<u8> {
    openssl(&[
        "pkeyutl".as_ref(),
        "-sign".as_ref(),
        "-inkey".as_ref(),
        key.as_os_str(),
        "-rawin".as_ref(),
        "-in".as_ref(),
        message.as_os_str(),
        "-out".as_ref(),
        out.as_os_str(),
    ]);
    read_bytes(out)
}

/// `openssl cms -sign -binary -in MSG -signer CERT -inkey KEY -outform DER -out OUT`: a
/// detached SignedData carrying the signer's certificate (ECDSA and RSA keys; for
/// Ed25519 see [`try_sign_cms_ed25519`]).
fn sign_cms(cert: &Path, key: &Path, message: &Path, out: &Path) -> Vec<u8> {
    sign_cms_with(cert, key, message, out, &[])
}

/// [`sign_cms`] with extra `openssl cms` options (`-keyid`, `-nocerts`, `-nodetach`).
fn sign_cms_with(cert: &Path, key: &Path, message: &Path, out: &Path, extra: &[&str]) -> Vec<u8> {
    let mut args: Vec<&OsStr> = vec![
        "cms".as_ref(),
        "-sign".as_ref(),
        "-binary".as_ref(),
        "-in".as_ref(),
        message.as_os_str(),
        "-signer".as_ref(),
        cert.as_os_str(),
        "-inkey".as_ref(),
        key.as_os_str(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-out".as_ref(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    openssl(&args);
    read_bytes(out)
}

/// `openssl cms -sign … -md sha512` with an Ed25519 key. OpenSSL 3.0 cannot make Ed25519
/// SignedData (its provider refuses any digest: "invalid digest"; fixed in 3.2): then
/// this returns false and the caller relies on `verify_cms_sign.py` alone. Any other
/// failure panics.
fn try_sign_cms_ed25519(cert: &Path, key: &Path, message: &Path, out: &Path) -> bool {
    let output = run(std::process::Command::new("openssl")
        .args(["cms", "-sign", "-binary", "-in"])
        .arg(message)
        .arg("-signer")
        .arg(cert)
        .arg("-inkey")
        .arg(key)
        .args(["-outform", "DER", "-md", "sha512", "-out"])
        .arg(out));
    if output.status.success() {
        return true;
    }
    let stderr = output.stderr_text();
    assert!(
        stderr.contains("invalid digest") || stderr.contains("no default digest"),
        "openssl cms -sign with Ed25519 failed unexpectedly\n{}",
        output.describe()
    );
    eprintln!("note: this openssl cannot make Ed25519 CMS signatures; using verify_cms_sign.py");
    false
}

/// `tests/py/verify_cms_sign.py CERT KEY MSG OUT`: detached SignedData assembled by hand,
/// signed with pyca/cryptography.
fn sign_cms_python(cert: &Path, key: &Path, message: &Path, out: &Path) -> Vec<u8> {
    let output = run_python(
        "verify_cms_sign.py",
        &[
            cert.as_os_str(),
            key.as_os_str(),
            message.as_os_str(),
            out.as_os_str(),
        ],
    );
    output.assert_success(&format!("verify_cms_sign.py {}", cert.display()));
    read_bytes(out)
}

/// `tests/py/verify_sign.py KEY MSG OUT [SCHEME]` (pyca/cryptography).
fn sign_python(key: &Path, message: &Path, out: &Path, scheme: Option<&str>) -> Vec<u8> {
    let mut args: Vec<&OsStr> = vec![key.as_os_str(), message.as_os_str(), out.as_os_str()];
    if let Some(scheme) = scheme {
        args.push(OsStr::new(scheme));
    }
    let output = run_python("verify_sign.py", &args);
    output.assert_success(&format!("verify_sign.py {} {scheme:?}", key.display()));
    read_bytes(out)
}

/// The participant's default raw signature with openssl (`dgst -sha256` for P-256 and
/// RSA, `-sha384` for P-384, `pkeyutl -rawin` for Ed25519).
fn sign_default(p: &Participant, message: &Path, out: &Path) -> Vec<u8> {
    match p.kind {
        KeyType::EcP256 | KeyType::Rsa(_) => sign_dgst(&p.key, "-sha256", false, message, out),
        KeyType::EcP384 => sign_dgst(&p.key, "-sha384", false, message, out),
        KeyType::Ed25519 => sign_pkeyutl(&p.key, message, out),
    }
}

/// Asserts a 200 JSON answer (never a 500) and returns it.
fn post_ok(server: &TestServer<'_>, path: &str, body: &Value, what: &str) -> Value {
    server.post_json_ok(path, body, what)
}

/// `POST /v1/verify`, asserting HTTP 200.
fn verify(server: &TestServer<'_>, body: &Value, what: &str) -> Value {
    post_ok(server, "/v1/verify", body, what)
}

/// A raw-signature request naming the signer by certificate.
fn by_cert(p: &Participant, message: &[u8], signature: &[u8]) -> Value {
    json!({ "certificate": p.cert_pem(), "message": b64(message), "signature": b64(signature) })
}

/// A raw-signature request naming the signer by serial.
fn by_serial(p: &Participant, message: &[u8], signature: &[u8]) -> Value {
    json!({ "serial": p.serial, "message": b64(message), "signature": b64(signature) })
}

/// `body` with `field` set to `value`.
fn with(mut body: Value, field: &str, value: impl Into<Value>) -> Value {
    body[field] = value.into();
    body
}

/// Asserts `valid: true`, no reason, and the signer's role and serial (and the scheme,
/// when given).
fn assert_valid(outcome: &Value, p: &Participant, algorithm: Option<&str>, what: &str) {
    assert_eq!(outcome["valid"], true, "{what}: expected valid: {outcome}");
    assert!(
        outcome.get("reason").is_none(),
        "{what}: reason on a valid answer: {outcome}"
    );
    assert_eq!(
        outcome["signer"]["role"], p.role,
        "{what}: signer.role: {outcome}"
    );
    assert_eq!(
        outcome["signer"]["serial"],
        p.serial.as_str(),
        "{what}: signer.serial: {outcome}"
    );
    assert!(
        outcome["signer"]["subject"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{what}: signer.subject: {outcome}"
    );
    assert!(
        outcome["message"].as_str().is_some_and(|s| !s.is_empty()),
        "{what}: message: {outcome}"
    );
    match algorithm {
        Some(name) => assert_eq!(outcome["algorithm"], name, "{what}: algorithm: {outcome}"),
        None => assert!(
            outcome["algorithm"].is_string(),
            "{what}: algorithm: {outcome}"
        ),
    }
}

/// Asserts `valid: false` with this reason and a message for people.
fn assert_reason(outcome: &Value, reason: &str, what: &str) {
    assert_eq!(
        outcome["valid"], false,
        "{what}: expected invalid: {outcome}"
    );
    assert_eq!(outcome["reason"], reason, "{what}: reason: {outcome}");
    assert!(
        outcome["message"].as_str().is_some_and(|s| !s.is_empty()),
        "{what}: message: {outcome}"
    );
}

/// `paypki verify --url URL ARGS…`; asserts exit 0 (valid) or 1 (not valid) and that
/// stdout is the verdict as JSON, which it returns.
fn cli_verify(server: &TestServer<'_>, args: &[&OsStr], expect_valid: bool) -> Value {
    let mut all: Vec<&OsStr> = vec!["verify".as_ref(), "--url".as_ref(), server.url().as_ref()];
    all.extend_from_slice(args);
    let all: Vec<&str> = all
        .iter()
        .map(|a| a.to_str().expect("non-UTF-8 argument"))
        .collect();
    let output: Output = server.ca().paypki(&all);
    let expected = if expect_valid { 0 } else { 1 };
    assert_eq!(
        output.status.code(),
        Some(expected),
        "paypki {}: exit code\n{}",
        all.join(" "),
        output.describe()
    );
    let verdict: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "paypki verify printed no JSON verdict: {e}\n{}",
            output.describe()
        )
    });
    assert_eq!(
        verdict["valid"],
        expect_valid,
        "paypki {}: {verdict}",
        all.join(" ")
    );
    verdict
}

/// Flips the last byte (for DER ECDSA / CMS that is the signature's last octet, which
/// keeps the encoding well-formed) and one in the middle.
fn tampered(signature: &[u8]) -> Vec<Vec<u8>> {
    let mut last = signature.to_vec();
    *last.last_mut().unwrap() ^= 0x01;
    let mut middle = signature.to_vec();
    let index = middle.len() / 2;
    middle[index] ^= 0x80;
    vec![last, middle]
}

/// The subject and issuer of a certificate as openssl prints them (RFC 2253).
fn openssl_names(cert: &Path) -> String {
    openssl(&[
        "x509".as_ref(),
        "-noout".as_ref(),
        "-subject".as_ref(),
        "-issuer".as_ref(),
        "-nameopt".as_ref(),
        "RFC2253".as_ref(),
        "-in".as_ref(),
        cert.as_os_str(),
    ])
    .stdout_text()
}

/// A certificate of the same merchant from a second CA made with the same default names.
fn foreign_merchant(foreign_ca: &TestCa, stem: &str) -> Participant {
    let case = enroll_case("merchant");
    let key = generate_key(
        KeyType::EcP256,
        &foreign_ca.path(&format!("{stem}.key.pem")),
    );
    let csr = make_csr(
        &key,
        case.openssl_subject,
        case.openssl_addext,
        &foreign_ca.path(&format!("{stem}.csr")),
    );
    let issued = foreign_ca.issue(&csr, "merchant", &format!("{stem}.bundle.pem"));
    Participant {
        role: "merchant",
        kind: KeyType::EcP256,
        key,
        cert: issued.leaf,
        serial: issued.serial,
    }
}

/// `paypki revoke SERIAL --reason R [--invalidity-date D]` (through the running server).
fn revoke(ca: &TestCa, serial: &str, reason: &str, invalidity_date: Option<&str>) {
    let mut args = vec!["revoke", serial, "--reason", reason];
    if let Some(date) = invalidity_date {
        args.extend(["--invalidity-date", date]);
    }
    ca.paypki(&args)
        .assert_success(&format!("paypki revoke {serial} --reason {reason}"));
}

/// The participant's notBefore, read by Python's `cryptography`.
fn not_before(ca: &TestCa, p: &Participant) -> i64 {
    ca.check_cert(&p.cert).not_before_unix
}

// ---------------------------------------------------------------------------------------
// 1. Signatures made by independent tools verify, for every role and key type
// ---------------------------------------------------------------------------------------

/// One signature to check: how it was made, its bytes, the scheme paypki must report.
struct Made {
    label: String,
    signature: Vec<u8>,
    algorithm: &'static str,
}

/// Raw signatures over `message` by openssl and Python for a participant's key type.
fn raw_signatures(p: &Participant, message: &Path, stem: &str) -> Vec<Made> {
    let out = |tool: &str| message.with_file_name(format!("{stem}.{tool}.sig"));
    let mut made = Vec::new();
    let mut push = |label: &str, signature: Vec<u8>, algorithm: &'static str| {
        made.push(Made {
            label: format!("{stem}: {label}"),
            signature,
            algorithm,
        });
    };
    match p.kind {
        KeyType::EcP256 => {
            push(
                "openssl dgst -sha256 (ECDSA P-256)",
                sign_dgst(&p.key, "-sha256", false, message, &out("openssl")),
                "ecdsa-sha256",
            );
            push(
                "python ECDSA P-256 SHA-256",
                sign_python(&p.key, message, &out("python"), Some("ecdsa-sha256")),
                "ecdsa-sha256",
            );
        }
        KeyType::EcP384 => {
            push(
                "openssl dgst -sha384 (ECDSA P-384)",
                sign_dgst(&p.key, "-sha384", false, message, &out("openssl")),
                "ecdsa-sha384",
            );
            push(
                "python ECDSA P-384 SHA-384",
                sign_python(&p.key, message, &out("python"), None),
                "ecdsa-sha384",
            );
            push(
                "python ECDSA P-384 SHA-256",
                sign_python(&p.key, message, &out("python256"), Some("ecdsa-sha256")),
                "ecdsa-sha256",
            );
        }
        KeyType::Ed25519 => {
            push(
                "openssl pkeyutl -sign -rawin (Ed25519)",
                sign_pkeyutl(&p.key, message, &out("openssl")),
                "ed25519",
            );
            push(
                "python Ed25519",
                sign_python(&p.key, message, &out("python"), Some("ed25519")),
                "ed25519",
            );
        }
        KeyType::Rsa(_) => {
            push(
                "openssl dgst -sha256 (RSA PKCS#1 v1.5)",
                sign_dgst(&p.key, "-sha256", false, message, &out("openssl-pkcs1")),
                "rsa-pkcs1-sha256",
            );
            push(
                "openssl dgst -sha256 PSS saltlen digest",
                sign_dgst(&p.key, "-sha256", true, message, &out("openssl-pss")),
                "rsa-pss-sha256",
            );
            push(
                "python RSA PKCS1v15 SHA-256",
                sign_python(
                    &p.key,
                    message,
                    &out("python-pkcs1"),
                    Some("rsa-pkcs1-sha256"),
                ),
                "rsa-pkcs1-sha256",
            );
            push(
                "python RSA PSS SHA-256",
                sign_python(&p.key, message, &out("python-pss"), Some("rsa-pss-sha256")),
                "rsa-pss-sha256",
            );
        }
    }
    made
}

/// Checks one participant's raw and CMS signatures, by certificate, by serial, with the
/// right `require_role`, with the scheme named, and through `paypki verify`.
fn check_participant(server: &TestServer<'_>, p: &Participant, stem: &str) {
    let ca = server.ca();
    let message_bytes = format!(
        "{{\"payment\":\"{stem}\",\"amount\":\"12.34\",\"currency\":\"EUR\",\"role\":\"{}\"}}\n",
        p.role
    );
    let message = write_file(ca, &format!("{stem}.msg"), message_bytes.as_bytes());
    let msg = message_bytes.as_bytes();

    for made in raw_signatures(p, &message, stem) {
        let what = made.label.as_str();
        let sig = made.signature.as_slice();
        let body = by_cert(p, msg, sig);
        assert_valid(&verify(server, &body, what), p, Some(made.algorithm), what);
        assert_valid(
            &verify(server, &by_serial(p, msg, sig), what),
            p,
            Some(made.algorithm),
            &format!("{what} (by serial)"),
        );
        assert_valid(
            &verify(
                server,
                &with(by_serial(p, msg, sig), "serial", p.serial.to_uppercase()),
                what,
            ),
            p,
            Some(made.algorithm),
            &format!("{what} (by uppercase serial)"),
        );
        assert_valid(
            &verify(server, &with(body.clone(), "require_role", p.role), what),
            p,
            Some(made.algorithm),
            &format!("{what} (require_role {})", p.role),
        );
        assert_valid(
            &verify(
                server,
                &with(body.clone(), "algorithm", made.algorithm),
                what,
            ),
            p,
            Some(made.algorithm),
            &format!("{what} (algorithm {})", made.algorithm),
        );
        assert_valid(
            &verify(server, &with(body.clone(), "format", "raw"), what),
            p,
            Some(made.algorithm),
            &format!("{what} (format raw)"),
        );
        // Naming the other RSA padding must fail the mathematics, not pass by inference.
        let other_padding = match made.algorithm {
            "rsa-pkcs1-sha256" => Some("rsa-pss-sha256"),
            "rsa-pss-sha256" => Some("rsa-pkcs1-sha256"),
            _ => None,
        };
        if let Some(other) = other_padding {
            assert_reason(
                &verify(server, &with(body.clone(), "algorithm", other), what),
                "bad_signature",
                &format!("{what} checked as {other}"),
            );
        }
    }

    // The CLI, with the openssl signature: --cert and --serial.
    let sig_path = ca.path(&format!("{stem}.cli.sig"));
    sign_default(p, &message, &sig_path);
    let verdict = cli_verify(
        server,
        &[
            "--cert".as_ref(),
            p.cert.as_os_str(),
            "--message".as_ref(),
            message.as_os_str(),
            "--signature".as_ref(),
            sig_path.as_os_str(),
            "--require-role".as_ref(),
            p.role.as_ref(),
        ],
        true,
    );
    assert_valid(&verdict, p, None, &format!("{stem}: paypki verify --cert"));
    let verdict = cli_verify(
        server,
        &[
            "--serial".as_ref(),
            p.serial.as_ref(),
            "--message".as_ref(),
            message.as_os_str(),
            "--signature".as_ref(),
            sig_path.as_os_str(),
        ],
        true,
    );
    assert_valid(
        &verdict,
        p,
        None,
        &format!("{stem}: paypki verify --serial"),
    );

    // Detached CMS by openssl (Ed25519 needs an explicit SHA-512) and by the hand-made
    // SignedData of verify_cms_sign.py.
    let expected_cms = match p.kind {
        KeyType::Ed25519 => Some("ed25519"),
        KeyType::Rsa(_) => Some("rsa-pkcs1-sha256"),
        _ => None,
    };
    let mut producers: Vec<(String, PathBuf, Option<&str>)> = Vec::new();
    let openssl_cms = ca.path(&format!("{stem}.openssl.p7s"));
    if p.kind == KeyType::Ed25519 {
        if try_sign_cms_ed25519(&p.cert, &p.key, &message, &openssl_cms) {
            producers.push((
                "openssl cms -sign -md sha512".into(),
                openssl_cms,
                expected_cms,
            ));
        }
    } else {
        sign_cms(&p.cert, &p.key, &message, &openssl_cms);
        producers.push(("openssl cms -sign".into(), openssl_cms, expected_cms));
    }
    if matches!(p.kind, KeyType::Rsa(_)) {
        let pss_cms = ca.path(&format!("{stem}.openssl-pss.p7s"));
        sign_cms_with(
            &p.cert,
            &p.key,
            &message,
            &pss_cms,
            &[
                "-keyopt",
                "rsa_padding_mode:pss",
                "-keyopt",
                "rsa_pss_saltlen:digest",
            ],
        );
        producers.push((
            "openssl cms -sign (RSASSA-PSS)".into(),
            pss_cms,
            Some("rsa-pss-sha256"),
        ));
    }
    let python_cms = ca.path(&format!("{stem}.python.p7s"));
    sign_cms_python(&p.cert, &p.key, &message, &python_cms);
    producers.push(("verify_cms_sign.py".into(), python_cms, expected_cms));
    for (producer, cms_path, expected_cms) in &producers {
        let expected_cms = *expected_cms;
        let what = format!("{stem}: {producer}");
        let cms = read_bytes(cms_path);
        let cms_body = json!({ "format": "cms", "message": b64(msg), "signature": b64(&cms) });
        assert_valid(
            &verify(server, &cms_body, &what),
            p,
            expected_cms,
            &format!("{what} (certificate from the SignedData)"),
        );
        assert_valid(
            &verify(
                server,
                &with(cms_body.clone(), "certificate", p.cert_pem()),
                &what,
            ),
            p,
            expected_cms,
            &format!("{what} (certificate given)"),
        );
        assert_valid(
            &verify(
                server,
                &with(cms_body.clone(), "serial", p.serial.as_str()),
                &what,
            ),
            p,
            expected_cms,
            &format!("{what} (serial given)"),
        );
        assert_valid(
            &verify(
                server,
                &with(cms_body.clone(), "require_role", p.role),
                &what,
            ),
            p,
            expected_cms,
            &format!("{what} (require_role)"),
        );
        assert_reason(
            &verify(
                server,
                &with(cms_body, "message", b64(b"another message")),
                &what,
            ),
            "bad_signature",
            &format!("{what} over another message"),
        );
        let verdict = cli_verify(
            server,
            &[
                "--cms".as_ref(),
                "--message".as_ref(),
                message.as_os_str(),
                "--signature".as_ref(),
                cms_path.as_os_str(),
            ],
            true,
        );
        assert_valid(
            &verdict,
            p,
            expected_cms,
            &format!("{what}: paypki verify --cms"),
        );
        let verdict = cli_verify(
            server,
            &[
                "--cms".as_ref(),
                "--cert".as_ref(),
                p.cert.as_os_str(),
                "--message".as_ref(),
                message.as_os_str(),
                "--signature".as_ref(),
                cms_path.as_os_str(),
            ],
            true,
        );
        assert_valid(
            &verdict,
            p,
            expected_cms,
            &format!("{what}: paypki verify --cms --cert"),
        );
    }
}

/// For one role: a participant per key type the policy allows (CSR to `/v1/enroll`) and
/// one enrolled with `paypki enroll` (`cli_key_alg`); every signature checks out.
fn independent_signatures_verify(role: &'static str, cli_key_alg: &str) {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let policy = Policy::shipped(role);
    let kinds = policy.key_types();
    assert!(!kinds.is_empty(), "{role}: no key types in the policy");
    for kind in kinds {
        let stem = format!("{role}-{}", kind.file_stem());
        let p = enroll(&server, role, kind, &stem);
        check_participant(&server, &p, &stem);
    }
    let stem = format!("{role}-cli-{cli_key_alg}");
    let p = enroll_cli(&server, role, cli_key_alg, &stem);
    check_participant(&server, &p, &stem);
    server.stop();
}

#[test]
fn buyer_signatures_by_openssl_and_python_verify() {
    independent_signatures_verify("buyer", "ed25519");
}

#[test]
fn merchant_signatures_by_openssl_and_python_verify() {
    independent_signatures_verify("merchant", "ecdsa-p256");
}

#[test]
fn bank_signatures_by_openssl_and_python_verify() {
    independent_signatures_verify("bank", "ecdsa-p384");
}

#[test]
fn gateway_signatures_by_openssl_and_python_verify() {
    independent_signatures_verify("gateway", "ecdsa-p256");
}

// ---------------------------------------------------------------------------------------
// 2. Each failure has its own reason
// ---------------------------------------------------------------------------------------

#[test]
fn each_failure_has_its_own_reason() {
    let mut cases = Cases::new();
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let alice = enroll(&server, "merchant", KeyType::EcP256, "alice");
    let mallory = enroll(&server, "merchant", KeyType::EcP256, "mallory");
    let msg = b"{\"order\":\"A-1\",\"amount\":\"10.00 EUR\"}".as_slice();
    let message = write_file(&ca, "order.json", msg);
    let sig = sign_dgst(
        &alice.key,
        "-sha256",
        false,
        &message,
        &ca.path("alice.sig"),
    );
    let good = by_cert(&alice, msg, &sig);
    cases.case("baseline", || {
        assert_valid(
            &verify(&server, &good, "baseline"),
            &alice,
            Some("ecdsa-sha256"),
            "baseline",
        );
    });

    // bad_signature: altered message, altered signature, another participant's key.
    let mut altered = msg.to_vec();
    altered[10] ^= 0x01;
    let outcome = verify(
        &server,
        &by_cert(&alice, &altered, &sig),
        "tampered message",
    );
    cases.case("tampered message", || {
        assert_reason(&outcome, "bad_signature", "tampered message");
    });
    cases.case("case 3", || {
        assert_eq!(
            outcome["signer"]["serial"],
            alice.serial.as_str(),
            "{outcome}"
        );
    });
    cases.case("empty message", || {
        assert_reason(
            &verify(&server, &by_serial(&alice, b"", &sig), "empty message"),
            "bad_signature",
            "empty message",
        );
    });
    for (i, bad) in tampered(&sig).into_iter().enumerate() {
        let what = format!("tampered signature #{i}");
        assert_reason(
            &verify(&server, &by_cert(&alice, msg, &bad), &what),
            "bad_signature",
            &what,
        );
    }
    let by_mallory = sign_dgst(
        &mallory.key,
        "-sha256",
        false,
        &message,
        &ca.path("mallory.sig"),
    );
    cases.case("mallory with mallory's certificate", || {
        assert_valid(
            &verify(
                &server,
                &by_cert(&mallory, msg, &by_mallory),
                "mallory's own",
            ),
            &mallory,
            Some("ecdsa-sha256"),
            "mallory with mallory's certificate",
        );
    });
    cases.case("mallory's signature with alice's certificate", || {
        assert_reason(
            &verify(&server, &by_cert(&alice, msg, &by_mallory), "another key"),
            "bad_signature",
            "mallory's signature with alice's certificate",
        );
    });
    cases.case("mallory's signature with alice's serial", || {
        assert_reason(
            &verify(&server, &by_serial(&alice, msg, &by_mallory), "another key"),
            "bad_signature",
            "mallory's signature with alice's serial",
        );
    });
    // CMS: altered message, altered signature value, another signer than the one named.
    let cms = sign_cms(&alice.cert, &alice.key, &message, &ca.path("alice.p7s"));
    let cms_body = json!({ "format": "cms", "message": b64(msg), "signature": b64(&cms) });
    cases.case("CMS baseline", || {
        assert_valid(
            &verify(&server, &cms_body, "CMS"),
            &alice,
            None,
            "CMS baseline",
        );
    });
    cases.case("CMS over an altered message", || {
        assert_reason(
            &verify(
                &server,
                &with(cms_body.clone(), "message", b64(&altered)),
                "CMS",
            ),
            "bad_signature",
            "CMS over an altered message",
        );
    });
    let mut cms_bad = cms.clone();
    *cms_bad.last_mut().unwrap() ^= 0x01;
    cases.case("CMS with an altered signature value", || {
        assert_reason(
            &verify(
                &server,
                &with(cms_body.clone(), "signature", b64(&cms_bad)),
                "CMS",
            ),
            "bad_signature",
            "CMS with an altered signature value",
        );
    });
    let mallory_cms = sign_cms(&mallory.cert, &mallory.key, &message, &ca.path("m.p7s"));
    cases.case("mallory's CMS signature with alice's certificate", || {
        assert_reason(
            &verify(
                &server,
                &json!({ "format": "cms", "certificate": alice.cert_pem(), "message": b64(msg),
                         "signature": b64(&mallory_cms) }),
                "CMS by another signer",
            ),
            "bad_signature",
            "mallory's CMS signature with alice's certificate",
        );
    });
    let cli = cli_verify(
        &server,
        &[
            "--cert".as_ref(),
            alice.cert.as_os_str(),
            "--message".as_ref(),
            message.as_os_str(),
            "--signature".as_ref(),
            ca.path("mallory.sig").as_os_str(),
        ],
        false,
    );
    cases.case("case 12", || {
        assert_eq!(cli["reason"], "bad_signature", "{cli}");
    });

    // CMS variants: the signer named by subjectKeyIdentifier (-keyid) verifies; without
    // carried certificates (-nocerts) the signer must be named in the request; attached
    // content (-nodetach) is refused as malformed.
    let keyid = sign_cms_with(
        &alice.cert,
        &alice.key,
        &message,
        &ca.path("keyid.p7s"),
        &["-keyid"],
    );
    let keyid_body = json!({ "format": "cms", "message": b64(msg), "signature": b64(&keyid) });
    cases.case("CMS -keyid", || {
        assert_valid(
            &verify(&server, &keyid_body, "-keyid"),
            &alice,
            None,
            "CMS -keyid",
        );
    });
    cases.case("CMS -keyid, certificate given", || {
        assert_valid(
            &verify(
                &server,
                &with(keyid_body, "certificate", alice.cert_pem()),
                "-keyid",
            ),
            &alice,
            None,
            "CMS -keyid, certificate given",
        );
    });
    let nocerts = sign_cms_with(
        &alice.cert,
        &alice.key,
        &message,
        &ca.path("nocerts.p7s"),
        &["-nocerts"],
    );
    let nocerts_body = json!({ "format": "cms", "message": b64(msg), "signature": b64(&nocerts) });
    cases.case("CMS -nocerts without a certificate in the request", || {
        assert_reason(
            &verify(&server, &nocerts_body, "-nocerts"),
            "malformed",
            "CMS -nocerts without a certificate in the request",
        );
    });
    cases.case("CMS -nocerts, certificate given", || {
        assert_valid(
            &verify(
                &server,
                &with(nocerts_body.clone(), "certificate", alice.cert_pem()),
                "-nocerts",
            ),
            &alice,
            None,
            "CMS -nocerts, certificate given",
        );
    });
    cases.case("CMS -nocerts, serial given", || {
        assert_valid(
            &verify(
                &server,
                &with(nocerts_body.clone(), "serial", alice.serial.as_str()),
                "-nocerts",
            ),
            &alice,
            None,
            "CMS -nocerts, serial given",
        );
    });
    cases.case("CMS -nocerts by alice, mallory's certificate given", || {
        assert_reason(
            &verify(
                &server,
                &with(nocerts_body, "certificate", mallory.cert_pem()),
                "-nocerts",
            ),
            "bad_signature",
            "CMS -nocerts by alice, mallory's certificate given",
        );
    });
    let attached = sign_cms_with(
        &alice.cert,
        &alice.key,
        &message,
        &ca.path("attached.p7s"),
        &["-nodetach"],
    );
    cases.case("CMS with attached content", || {
        assert_reason(
            &verify(
                &server,
                &json!({ "format": "cms", "message": b64(msg), "signature": b64(&attached) }),
                "-nodetach",
            ),
            "malformed",
            "CMS with attached content",
        );
    });
    // A digest paypki does not accept in CMS.
    let sha1 = sign_cms_with(
        &alice.cert,
        &alice.key,
        &message,
        &ca.path("sha1.p7s"),
        &["-md", "sha1"],
    );
    cases.case("CMS with SHA-1", || {
        assert_reason(
            &verify(
                &server,
                &json!({ "format": "cms", "message": b64(msg), "signature": b64(&sha1) }),
                "-md sha1",
            ),
            "unsupported_algorithm",
            "CMS with SHA-1",
        );
    });
    // The certificate may come with its chain (leaf first).
    cases.case("certificate given as leaf + issuing bundle", || {
        assert_valid(
            &verify(
                &server,
                &with(
                    good.clone(),
                    "certificate",
                    format!("{}{}", alice.cert_pem(), read_text(&ca.issuing_cert())),
                ),
                "bundle",
            ),
            &alice,
            None,
            "certificate given as leaf + issuing bundle",
        );
    });

    // A claimed time the signer's policy does not honour (in the future, or older than
    // the grace period) is not the time the signature is judged at: the server's time
    // is, and the answer says so (docs/verification.md).
    for (claimed, body) in [
        ("2100-01-01T00:00:00Z", good.clone()),
        ("2000-01-01T00:00:00Z", good.clone()),
        ("2100-01-01T00:00:00Z", by_serial(&alice, msg, &sig)),
    ] {
        let outcome = verify(&server, &with(body, "time", claimed), claimed);
        assert_valid(&outcome, &alice, None, claimed);
        assert_eq!(outcome["time"]["source"], "server", "{outcome}");
        assert_eq!(outcome["time"]["claimed"], claimed, "{outcome}");
        assert_eq!(outcome["time"]["proven"], false, "{outcome}");
        assert!(outcome["time"]["note"].is_string(), "{outcome}");
    }
    cases.case("time a minute ago", || {
        assert_valid(
            &verify(
                &server,
                &with(good.clone(), "time", rfc3339(now_unix() - 60)),
                "a minute ago",
            ),
            &alice,
            None,
            "time a minute ago",
        );
    });
    let cli = cli_verify(
        &server,
        &[
            "--cert".as_ref(),
            alice.cert.as_os_str(),
            "--message".as_ref(),
            message.as_os_str(),
            "--signature".as_ref(),
            ca.path("alice.sig").as_os_str(),
            "--require-role".as_ref(),
            "bank".as_ref(),
        ],
        false,
    );
    cases.case("case 23", || {
        assert_eq!(cli["reason"], "wrong_role", "{cli}");
    });

    // unknown_issuer: a second CA with identical names, a certificate with the same
    // subject; checked by signature, not by names.
    let foreign_ca = TestCa::new();
    let foreign = foreign_merchant(&foreign_ca, "foreign");
    cases.case(
        "the foreign certificate must have the same subject and issuer names",
        || {
            assert_eq!(
                openssl_names(&foreign.cert),
                openssl_names(&alice.cert),
                "the foreign certificate must have the same subject and issuer names"
            );
        },
    );
    let foreign_message = write_file(&ca, "foreign.msg", msg);
    let foreign_sig = sign_dgst(
        &foreign.key,
        "-sha256",
        false,
        &foreign_message,
        &ca.path("f.sig"),
    );
    cases.case("a certificate of a foreign CA with identical names", || {
        assert_reason(
            &verify(&server, &by_cert(&foreign, msg, &foreign_sig), "foreign"),
            "unknown_issuer",
            "a certificate of a foreign CA with identical names",
        );
    });
    cases.case("foreign certificate, require_role merchant", || {
        assert_reason(
            &verify(
                &server,
                &with(
                    by_cert(&foreign, msg, &foreign_sig),
                    "require_role",
                    "merchant",
                ),
                "foreign",
            ),
            "unknown_issuer",
            "foreign certificate, require_role merchant",
        );
    });
    let foreign_cms = sign_cms(
        &foreign.cert,
        &foreign.key,
        &foreign_message,
        &ca.path("f.p7s"),
    );
    cases.case("a CMS signature carrying a foreign certificate with identical names", || {
        assert_reason(
            &verify(
                &server,
                &json!({ "format": "cms", "message": b64(msg), "signature": b64(&foreign_cms) }),
                "foreign CMS",
            ),
            "unknown_issuer",
            "a CMS signature carrying a foreign certificate with identical names",
        );
    });
    let cli = cli_verify(
        &server,
        &[
            "--cert".as_ref(),
            foreign.cert.as_os_str(),
            "--message".as_ref(),
            foreign_message.as_os_str(),
            "--signature".as_ref(),
            ca.path("f.sig").as_os_str(),
        ],
        false,
    );
    cases.case("case 28", || {
        assert_eq!(cli["reason"], "unknown_issuer", "{cli}");
    });
    // ... and an unknown serial.
    cases.case("an unknown serial", || {
        assert_reason(
            &verify(
                &server,
                &with(
                    by_serial(&alice, msg, &sig),
                    "serial",
                    "7e570000000000000001",
                ),
                "unknown serial",
            ),
            "unknown_issuer",
            "an unknown serial",
        );
    });

    // wrong_role.
    cases.case("merchant certificate with require_role bank", || {
        assert_reason(
            &verify(
                &server,
                &with(good.clone(), "require_role", "bank"),
                "wrong role",
            ),
            "wrong_role",
            "merchant certificate with require_role bank",
        );
    });
    cases.case("merchant serial with require_role buyer", || {
        assert_reason(
            &verify(
                &server,
                &with(by_serial(&alice, msg, &sig), "require_role", "buyer"),
                "wrong role",
            ),
            "wrong_role",
            "merchant serial with require_role buyer",
        );
    });
    let cli = cli_verify(
        &server,
        &[
            "--serial".as_ref(),
            alice.serial.as_ref(),
            "--message".as_ref(),
            message.as_os_str(),
            "--signature".as_ref(),
            ca.path("alice.sig").as_os_str(),
            "--require-role".as_ref(),
            "gateway".as_ref(),
        ],
        false,
    );
    cases.case("case 32", || {
        assert_eq!(cli["reason"], "wrong_role", "{cli}");
    });

    // unsupported_algorithm.
    cases.case("algorithm rsa-md5", || {
        assert_reason(
            &verify(
                &server,
                &with(good.clone(), "algorithm", "rsa-md5"),
                "unknown algorithm",
            ),
            "unsupported_algorithm",
            "algorithm rsa-md5",
        );
    });
    cases.case("algorithm ed25519 for a P-256 key", || {
        assert_reason(
            &verify(
                &server,
                &with(good.clone(), "algorithm", "ed25519"),
                "misfit algorithm",
            ),
            "unsupported_algorithm",
            "algorithm ed25519 for a P-256 key",
        );
    });

    // malformed, as HTTP 200.
    let garbage_pem =
        "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    let malformed_cases = vec![
        (
            "garbage base64 message",
            with(good.clone(), "message", "%%% not base64 %%%"),
        ),
        (
            "garbage base64 signature",
            with(good.clone(), "signature", "!!!!"),
        ),
        (
            "garbage PEM certificate",
            with(good.clone(), "certificate", garbage_pem),
        ),
        (
            "text as certificate",
            with(good.clone(), "certificate", "hello, I am a certificate"),
        ),
        (
            "a CSR as certificate",
            with(
                good.clone(),
                "certificate",
                read_text(&ca.path("alice.csr")),
            ),
        ),
        ("garbage time", with(good.clone(), "time", "yesterday")),
        ("unknown role", with(good.clone(), "require_role", "king")),
        ("unknown format", with(good.clone(), "format", "xml")),
        (
            "certificate and serial",
            with(good.clone(), "serial", alice.serial.as_str()),
        ),
        (
            "neither certificate nor serial",
            json!({ "message": b64(msg), "signature": b64(&sig) }),
        ),
        (
            "non-hex serial",
            with(by_serial(&alice, msg, &sig), "serial", "not-a-serial"),
        ),
        (
            "garbage CMS",
            json!({ "format": "cms", "message": b64(msg), "signature": b64(b"\x30\x03\x02\x01\x01") }),
        ),
        (
            "CMS with no carried certificate and none given",
            json!({ "format": "cms", "message": b64(msg), "signature": b64(&sig) }),
        ),
    ];
    for (what, body) in malformed_cases {
        assert_reason(&verify(&server, &body, what), "malformed", what);
    }

    // Unreadable JSON: 400 problem documents, never 500.
    let bad_bodies: Vec<(&str, Vec<u8>)> = vec![
        ("invalid JSON", b"{\"certificate\": ".to_vec()),
        ("not JSON at all", b"hello".to_vec()),
        ("a JSON array", b"[]".to_vec()),
        (
            "no message",
            serde_json::to_vec(&json!({ "serial": alice.serial, "signature": "AA==" })).unwrap(),
        ),
        (
            "message not a string",
            serde_json::to_vec(
                &json!({ "serial": alice.serial, "message": 5, "signature": "AA==" }),
            )
            .unwrap(),
        ),
    ];
    for path in ["/v1/verify", "/v1/verify/batch", "/v1/validate"] {
        for (what, body) in &bad_bodies {
            let response = server.post_bytes(path, Some("application/json"), body);
            response.assert_problem(
                400,
                "malformed-request",
                &format!("POST {path} with {what}"),
            );
        }
    }
    server.stop();
    cases.finish();
}

/// A signer, its signature, the claimed signature time (None: now) and the expected
/// reason (None: valid).
type RevocationCase<'a> = (
    &'a Participant,
    &'a Vec<u8>,
    Option<String>,
    Option<&'static str>,
);

#[test]
fn revocation_applies_by_reason_and_signature_time() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let superseded = enroll(&server, "merchant", KeyType::EcP256, "superseded");
    let ceased = enroll(&server, "gateway", KeyType::EcP256, "ceased");
    let compromised = enroll(&server, "buyer", KeyType::Ed25519, "compromised");
    let dated = enroll(&server, "merchant", KeyType::EcP256, "dated");
    let held = enroll(&server, "bank", KeyType::EcP256, "held");
    let msg = b"{\"settlement\":\"S-77\",\"amount\":\"999.00 EUR\"}".as_slice();
    let message = write_file(&ca, "settlement.json", msg);
    let sign = |p: &Participant| sign_default(p, &message, &ca.path(&format!("{}.sig", p.serial)));
    let participants = [&superseded, &ceased, &compromised, &dated, &held];
    let signatures: Vec<Vec<u8>> = participants.iter().map(|p| sign(p)).collect();
    // A moment safely inside every certificate's validity and before any revocation.
    let early = participants
        .iter()
        .map(|p| not_before(&ca, p))
        .max()
        .unwrap()
        + 60;
    let early_text = rfc3339(early);
    let later_text = rfc3339(now_unix() + 3600);
    for (p, sig) in participants.iter().zip(&signatures) {
        assert_valid(
            &verify(&server, &by_cert(p, msg, sig), "before"),
            p,
            None,
            "before revocation",
        );
        assert_valid(
            &verify(
                &server,
                &with(by_cert(p, msg, sig), "time", early_text.as_str()),
                "early",
            ),
            p,
            None,
            "before revocation, early time",
        );
    }

    // The invalidity date lies between notBefore and the early time's successor.
    let invalid_since = early + 60;
    assert!(
        invalid_since < now_unix(),
        "the invalidity date must be in the past"
    );
    revoke(&ca, &superseded.serial, "superseded", None);
    revoke(&ca, &ceased.serial, "cessationOfOperation", None);
    revoke(&ca, &compromised.serial, "keyCompromise", None);
    revoke(
        &ca,
        &dated.serial,
        "keyCompromise",
        Some(&rfc3339(invalid_since)),
    );
    revoke(&ca, &held.serial, "certificateHold", None);
    // The records agree.
    for p in participants {
        let record = server.get(&format!("/v1/certificates/{}", p.serial));
        record.assert_status(200, "GET /v1/certificates/{serial}");
        assert_eq!(record.json()["status"], "revoked", "{}", record.describe());
    }

    let cases: Vec<RevocationCase<'_>> = vec![
        // Other reasons: valid before the revocation time, revoked from it on.
        (&superseded, &signatures[0], Some(early_text.clone()), None),
        (
            &superseded,
            &signatures[0],
            Some(later_text.clone()),
            Some("revoked"),
        ),
        (&superseded, &signatures[0], None, Some("revoked")),
        (&ceased, &signatures[1], Some(early_text.clone()), None),
        (
            &ceased,
            &signatures[1],
            Some(later_text.clone()),
            Some("revoked"),
        ),
        (&ceased, &signatures[1], None, Some("revoked")),
        // keyCompromise without an invalidity date: every time.
        (
            &compromised,
            &signatures[2],
            Some(early_text.clone()),
            Some("revoked"),
        ),
        (
            &compromised,
            &signatures[2],
            Some(later_text.clone()),
            Some("revoked"),
        ),
        (&compromised, &signatures[2], None, Some("revoked")),
        // keyCompromise with an invalidity date: whoever stole the key also picks the
        // claimed time, so no claimed time is trusted, not even one before the
        // invalidity date (only a timestamp could prove it).
        (
            &dated,
            &signatures[3],
            Some(early_text.clone()),
            Some("revoked"),
        ),
        (
            &dated,
            &signatures[3],
            Some(rfc3339(invalid_since - 1)),
            Some("revoked"),
        ),
        (
            &dated,
            &signatures[3],
            Some(rfc3339(invalid_since)),
            Some("revoked"),
        ),
        (
            &dated,
            &signatures[3],
            Some(rfc3339(invalid_since + 60)),
            Some("revoked"),
        ),
        (&dated, &signatures[3], None, Some("revoked")),
        // certificateHold is one of the other reasons.
        (&held, &signatures[4], Some(early_text.clone()), None),
        (&held, &signatures[4], None, Some("revoked")),
    ];
    for (p, sig, time, expected) in cases {
        let what = format!("{} ({}) at {time:?}", p.serial, p.role);
        for body in [by_cert(p, msg, sig), by_serial(p, msg, sig)] {
            let body = match &time {
                Some(t) => with(body, "time", t.as_str()),
                None => body,
            };
            let outcome = verify(&server, &body, &what);
            match expected {
                None => assert_valid(&outcome, p, None, &what),
                Some(reason) => {
                    assert_reason(&outcome, reason, &what);
                    assert_eq!(
                        outcome["signer"]["serial"],
                        p.serial.as_str(),
                        "{what}: {outcome}"
                    );
                }
            }
        }
    }
    // The revocation is checked against the signature itself: a forged signature by a
    // revoked signer is still a bad signature... and a genuine one is revoked.
    let cms = sign_cms_python(
        &compromised.cert,
        &compromised.key,
        &message,
        &ca.path("c.p7s"),
    );
    assert_reason(
        &verify(
            &server,
            &json!({ "format": "cms", "message": b64(msg), "signature": b64(&cms),
                     "time": early_text }),
            "CMS",
        ),
        "revoked",
        "CMS by a key-compromised signer",
    );

    // A lifted hold removes the revocation entirely.
    ca.paypki(&["unhold", &held.serial])
        .assert_success("paypki unhold");
    for body in [
        by_cert(&held, msg, &signatures[4]),
        by_serial(&held, msg, &signatures[4]),
    ] {
        assert_valid(
            &verify(&server, &body, "unhold"),
            &held,
            None,
            "after paypki unhold",
        );
        assert_valid(
            &verify(&server, &with(body, "time", later_text.as_str()), "unhold"),
            &held,
            None,
            "after paypki unhold, later time",
        );
    }

    // The CLI: exit 0 before the revocation time, 1 after.
    let sig_path = ca.path(&format!("{}.sig", superseded.serial));
    let common_args: Vec<&OsStr> = vec![
        "--serial".as_ref(),
        superseded.serial.as_ref(),
        "--message".as_ref(),
        message.as_os_str(),
        "--signature".as_ref(),
        sig_path.as_os_str(),
    ];
    let mut early_args = common_args.clone();
    early_args.extend::<[&OsStr; 2]>(["--time".as_ref(), early_text.as_ref()]);
    cli_verify(&server, &early_args, true);
    let verdict = cli_verify(&server, &common_args, false);
    assert_eq!(verdict["reason"], "revoked", "{verdict}");
    server.stop();
}

#[test]
fn a_certificate_without_a_signing_key_usage_gets_key_usage() {
    let ca = TestCa::new();
    let policies = copy_policies(&shipped_policies(), &ca.path("policies-encipherment"));
    let bank_toml = policies.join("bank.toml");
    let text = read_text(&bank_toml);
    let original = "key_usage = [\"digital_signature\", \"non_repudiation\"]";
    assert!(text.contains(original), "bank.toml changed shape:\n{text}");
    std::fs::write(
        &bank_toml,
        text.replace(original, "key_usage = [\"key_encipherment\"]"),
    )
    .unwrap();
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    let bank = enroll(&server, "bank", KeyType::Rsa(3072), "bank-rsa");
    let usage = ca
        .check_cert(&bank.cert)
        .key_usage
        .expect("the bank certificate has no keyUsage");
    assert_eq!(
        usage.set_names(),
        vec!["key_encipherment"],
        "keyUsage per the edited policy"
    );
    // A normal participant of the same server still verifies.
    let merchant = enroll(&server, "merchant", KeyType::EcP256, "merchant");

    let msg = b"{\"authorization\":\"AUTH-1\"}".as_slice();
    let message = write_file(&ca, "auth.json", msg);
    let sig = sign_dgst(&bank.key, "-sha256", false, &message, &ca.path("bank.sig"));
    let pss = sign_dgst(
        &bank.key,
        "-sha256",
        true,
        &message,
        &ca.path("bank-pss.sig"),
    );
    let m_sig = sign_default(&merchant, &message, &ca.path("merchant.sig"));
    assert_valid(
        &verify(&server, &by_cert(&merchant, msg, &m_sig), "merchant"),
        &merchant,
        None,
        "merchant",
    );
    for (what, body) in [
        ("PKCS#1 by certificate", by_cert(&bank, msg, &sig)),
        ("PKCS#1 by serial", by_serial(&bank, msg, &sig)),
        ("PSS by certificate", by_cert(&bank, msg, &pss)),
        (
            "PKCS#1 with require_role bank",
            with(by_cert(&bank, msg, &sig), "require_role", "bank"),
        ),
    ] {
        let outcome = verify(&server, &body, what);
        assert_reason(&outcome, "key_usage", what);
        assert_eq!(
            outcome["signer"]["serial"],
            bank.serial.as_str(),
            "{what}: {outcome}"
        );
        assert_eq!(outcome["signer"]["role"], "bank", "{what}: {outcome}");
    }
    let cms = sign_cms(&bank.cert, &bank.key, &message, &ca.path("bank.p7s"));
    assert_reason(
        &verify(
            &server,
            &json!({ "format": "cms", "message": b64(msg), "signature": b64(&cms) }),
            "CMS",
        ),
        "key_usage",
        "CMS by a key-encipherment-only certificate",
    );
    let verdict = cli_verify(
        &server,
        &[
            "--cert".as_ref(),
            bank.cert.as_os_str(),
            "--message".as_ref(),
            message.as_os_str(),
            "--signature".as_ref(),
            ca.path("bank.sig").as_os_str(),
        ],
        false,
    );
    assert_eq!(verdict["reason"], "key_usage", "{verdict}");
    server.stop();
}

/// With openssl and a second CA's issuing key (the second CA has the same default names):
/// a certificate with `victim`'s subject, SANs, policy OID and serial, for a new key.
fn forge_with_serial(
    foreign_ca: &TestCa,
    ca: &TestCa,
    victim: &Participant,
    stem: &str,
) -> Participant {
    let case = enroll_case(victim.role);
    let key = generate_key(KeyType::EcP256, &ca.path(&format!("{stem}.key.pem")));
    let csr = make_csr(
        &key,
        case.openssl_subject,
        &[],
        &ca.path(&format!("{stem}.csr")),
    );
    let sans: Vec<String> = case
        .sans
        .iter()
        .map(|san| {
            let (kind, value) = san.split_once(':').unwrap();
            let kind = match kind {
                "dns" => "DNS",
                "email" => "email",
                "uri" => "URI",
                "ip" => "IP",
                other => panic!("SAN kind {other}"),
            };
            format!("{kind}:{value}")
        })
        .collect();
    let extensions = write_file(
        ca,
        &format!("{stem}.ext"),
        format!(
            "[ext]\nbasicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature, nonRepudiation\n\
             extendedKeyUsage = clientAuth\n\
             certificatePolicies = {}\n\
             subjectAltName = {}\n",
            Policy::shipped(victim.role).certificate_policy_oid,
            sans.join(", ")
        )
        .as_bytes(),
    );
    let cert = ca.path(&format!("{stem}.cert.pem"));
    let serial_arg = format!("0x{}", victim.serial);
    openssl(&[
        "x509".as_ref(),
        "-req".as_ref(),
        "-in".as_ref(),
        csr.as_os_str(),
        "-extfile".as_ref(),
        extensions.as_os_str(),
        "-extensions".as_ref(),
        "ext".as_ref(),
        "-CA".as_ref(),
        foreign_ca.issuing_cert().as_os_str(),
        "-CAkey".as_ref(),
        foreign_ca.key_file("issuing").as_os_str(),
        "-set_serial".as_ref(),
        serial_arg.as_ref(),
        "-days".as_ref(),
        "30".as_ref(),
        "-out".as_ref(),
        cert.as_os_str(),
    ]);
    assert_eq!(
        openssl_names(&cert),
        openssl_names(&victim.cert),
        "{stem}: identical subject and issuer names"
    );
    let serial_line = openssl(&[
        "x509".as_ref(),
        "-noout".as_ref(),
        "-serial".as_ref(),
        "-in".as_ref(),
        cert.as_os_str(),
    ])
    .stdout_text();
    assert_eq!(
        serial_line
            .trim()
            .trim_start_matches("serial=")
            .to_lowercase(),
        victim.serial,
        "{stem}: the same serial"
    );
    Participant {
        role: victim.role,
        kind: KeyType::EcP256,
        key,
        cert,
        serial: victim.serial.clone(),
    }
}

/// The verifier caches certificates by serial. A foreign certificate with identical
/// names *and* one of our serials, shown to `/v1/verify` or `/v1/validate` by anyone
/// (no credential is needed), must not shadow ours: the genuine certificate, asked for
/// by serial, must still verify.
#[test]
fn a_foreign_certificate_with_our_serial_does_not_shadow_ours() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let foreign_ca = TestCa::new();
    let alice = enroll(&server, "merchant", KeyType::EcP256, "alice");
    let bob = enroll(&server, "gateway", KeyType::EcP256, "bob");
    let msg = b"{\"order\":\"B-2\"}".as_slice();
    let message = write_file(&ca, "order.json", msg);
    let mut problems = Vec::new();
    for (victim, via) in [(&alice, "/v1/verify"), (&bob, "/v1/validate")] {
        let sig = sign_default(
            victim,
            &message,
            &ca.path(&format!("{}.sig", victim.serial)),
        );
        let what = format!(
            "{} ({}), forged certificate shown to {via}",
            victim.serial, victim.role
        );
        assert_valid(
            &verify(&server, &by_serial(victim, msg, &sig), &what),
            victim,
            None,
            &format!("{what}: by serial, before"),
        );
        let forger =
            forge_with_serial(&foreign_ca, &ca, victim, &format!("forger-{}", victim.role));
        let forged_sig = sign_default(
            &forger,
            &message,
            &ca.path(&format!("forger-{}.sig", victim.role)),
        );
        if via == "/v1/verify" {
            assert_reason(
                &verify(&server, &by_cert(&forger, msg, &forged_sig), &what),
                "unknown_issuer",
                &format!("{what}: the forged certificate itself"),
            );
        } else {
            assert_chain_bad(
                &validate(&server, &json!({ "chain": [forger.cert_pem()] }), &what),
                "unknown",
                "unknown_issuer",
                &format!("{what}: the forged chain itself"),
            );
        }
        // The genuine certificate, by serial, is still the genuine one.
        let after = verify(&server, &by_serial(victim, msg, &sig), &what);
        if after["valid"] != true {
            problems.push(format!(
                "{what}: verifying the genuine signature by serial afterwards gave {after}"
            ));
        }
        let forged_by_serial = verify(&server, &by_serial(victim, msg, &forged_sig), &what);
        if forged_by_serial["reason"] != "bad_signature" {
            problems.push(format!(
                "{what}: the forger's signature against the genuine serial gave {forged_by_serial}, \
                 expected bad_signature"
            ));
        }
        // PEM-based verification is not affected (cached by fingerprint).
        assert_valid(
            &verify(&server, &by_cert(victim, msg, &sig), &what),
            victim,
            None,
            &format!("{what}: by certificate, after"),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    server.stop();
}

// ---------------------------------------------------------------------------------------
// 3. Batches
// ---------------------------------------------------------------------------------------

#[test]
fn a_batch_of_1000_mixed_items_matches_single_answers_in_order() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let merchant = enroll(&server, "merchant", KeyType::EcP256, "merchant");
    let bank = enroll(&server, "bank", KeyType::EcP384, "bank");
    let buyer = enroll(&server, "buyer", KeyType::Ed25519, "buyer");
    let messages: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("{{\"payment\":{i},\"amount\":\"{i}.50 EUR\"}}").into_bytes())
        .collect();
    let sign_all = |p: &Participant| -> Vec<Vec<u8>> {
        messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let path = write_file(&ca, &format!("batch-{i}.msg"), m);
                sign_default(p, &path, &ca.path(&format!("batch-{}-{i}.sig", p.serial)))
            })
            .collect()
    };
    let m_sigs = sign_all(&merchant);
    let b_sigs = sign_all(&bank);
    let u_sigs = sign_all(&buyer);

    // (request, expected valid, expected reason, expected signer serial)
    let item = |i: usize| -> (Value, bool, Option<&'static str>, Option<String>) {
        let k = i % messages.len();
        let msg = &messages[k];
        let m = &merchant.serial;
        match i % 12 {
            0 => (
                by_cert(&merchant, msg, &m_sigs[k]),
                true,
                None,
                Some(m.clone()),
            ),
            1 => (
                by_serial(&bank, msg, &b_sigs[k]),
                true,
                None,
                Some(bank.serial.clone()),
            ),
            2 => (
                by_cert(&merchant, b"tampered", &m_sigs[k]),
                false,
                Some("bad_signature"),
                Some(m.clone()),
            ),
            3 => {
                let mut sig = m_sigs[k].clone();
                *sig.last_mut().unwrap() ^= 0x01;
                (
                    by_cert(&merchant, msg, &sig),
                    false,
                    Some("bad_signature"),
                    Some(m.clone()),
                )
            }
            4 => (
                with(by_cert(&merchant, msg, &m_sigs[k]), "require_role", "bank"),
                false,
                Some("wrong_role"),
                Some(m.clone()),
            ),
            5 => (
                with(
                    by_cert(&merchant, msg, &m_sigs[k]),
                    "message",
                    "*** not base64 ***",
                ),
                false,
                Some("malformed"),
                None,
            ),
            6 => (
                with(by_serial(&bank, msg, &b_sigs[k]), "require_role", "bank"),
                true,
                None,
                Some(bank.serial.clone()),
            ),
            7 => (
                with(
                    by_cert(&merchant, msg, &m_sigs[k]),
                    "certificate",
                    "garbage",
                ),
                false,
                Some("malformed"),
                None,
            ),
            8 => (
                with(
                    by_serial(&merchant, msg, &m_sigs[k]),
                    "serial",
                    format!("7e57{i:08x}"),
                ),
                false,
                Some("unknown_issuer"),
                None,
            ),
            // A claimed time in the future is not honoured: judged now, valid.
            9 => (
                with(
                    by_cert(&merchant, msg, &m_sigs[k]),
                    "time",
                    "2100-01-01T00:00:00Z",
                ),
                true,
                None,
                Some(m.clone()),
            ),
            10 => (
                by_cert(&buyer, msg, &u_sigs[k]),
                true,
                None,
                Some(buyer.serial.clone()),
            ),
            // Another message's signature: valid only when it is the same message.
            _ => {
                let other = (k + 1) % messages.len();
                (
                    by_serial(&buyer, msg, &u_sigs[other]),
                    false,
                    Some("bad_signature"),
                    Some(buyer.serial.clone()),
                )
            }
        }
    };
    let items: Vec<_> = (0..1000).map(item).collect();
    let bodies: Vec<Value> = items.iter().map(|(body, ..)| body.clone()).collect();
    let answer = post_ok(
        &server,
        "/v1/verify/batch",
        &json!({ "items": bodies }),
        "batch of 1000",
    );
    let results = answer["results"].as_array().expect("no results array");
    assert_eq!(results.len(), 1000, "one result per item");
    for (i, ((_, valid, reason, serial), result)) in items.iter().zip(results).enumerate() {
        let what = format!("batch item {i}");
        assert_eq!(result["valid"], *valid, "{what}: {result}");
        match reason {
            Some(reason) => assert_eq!(result["reason"], *reason, "{what}: {result}"),
            None => assert!(result.get("reason").is_none(), "{what}: {result}"),
        }
        match serial {
            Some(serial) => assert_eq!(
                result["signer"]["serial"],
                serial.as_str(),
                "{what}: {result}"
            ),
            None => assert!(result.get("signer").is_none(), "{what}: {result}"),
        }
    }
    // A sample of 50 (every kind, across the whole batch) equals the single answer.
    for n in 0..50 {
        let i = n * 20 + n % 12;
        let single = verify(&server, &items[i].0, &format!("single call for item {i}"));
        for field in ["valid", "reason", "signer", "algorithm"] {
            assert_eq!(
                single.get(field),
                results[i].get(field),
                "item {i}: {field} differs between batch and single call\nbatch: {}\nsingle: {single}",
                results[i]
            );
        }
    }

    // An empty batch is fine; 1001 items are refused as a whole.
    let empty = post_ok(
        &server,
        "/v1/verify/batch",
        &json!({ "items": [] }),
        "empty batch",
    );
    assert_eq!(empty["results"], json!([]), "{empty}");
    let too_many: Vec<Value> = (0..1001).map(|i| items[i % 1000].0.clone()).collect();
    server
        .post_json("/v1/verify/batch", &json!({ "items": too_many }))
        .assert_problem(400, "malformed-request", "a batch of 1001 items");
    server.stop();
}

// ---------------------------------------------------------------------------------------
// 4. Chains
// ---------------------------------------------------------------------------------------

/// `POST /v1/validate`, asserting HTTP 200.
fn validate(server: &TestServer<'_>, body: &Value, what: &str) -> Value {
    post_ok(server, "/v1/validate", body, what)
}

fn assert_chain_good(outcome: &Value, what: &str) {
    assert_eq!(outcome["valid"], true, "{what}: {outcome}");
    assert_eq!(outcome["status"], "good", "{what}: {outcome}");
    assert!(outcome.get("reason").is_none(), "{what}: {outcome}");
}

fn assert_chain_bad(outcome: &Value, status: &str, reason: &str, what: &str) {
    assert_eq!(outcome["valid"], false, "{what}: {outcome}");
    assert_eq!(outcome["status"], status, "{what}: {outcome}");
    assert_eq!(outcome["reason"], reason, "{what}: {outcome}");
    assert!(
        outcome["message"].as_str().is_some_and(|s| !s.is_empty()),
        "{what}: {outcome}"
    );
}

#[test]
fn validate_chains_with_revocation_and_usage() {
    let mut checks = Cases::new();
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let merchant = enroll(&server, "merchant", KeyType::EcP256, "merchant");
    let gateway = enroll(&server, "gateway", KeyType::Rsa(2048), "gateway");
    let revoked = enroll(&server, "buyer", KeyType::EcP256, "revoked");
    let superseded = enroll(&server, "bank", KeyType::EcP384, "superseded");
    let served = split_pem_certificates(&read_text(&server.save_chain("chain.pem")));
    checks.case("/ca/chain.pem is issuing CA then root", || {
        assert_eq!(served.len(), 2, "/ca/chain.pem is issuing CA then root");
    });
    let (issuing, root) = (&served[0], &served[1]);

    let leaf = merchant.cert_pem();
    checks.case("leaf + issuing", || {
        assert_chain_good(
            &validate(
                &server,
                &json!({ "chain": [leaf, issuing] }),
                "leaf + issuing",
            ),
            "leaf + issuing",
        );
    });
    let outcome = validate(&server, &json!({ "chain": [leaf] }), "leaf alone");
    checks.case("leaf alone", || {
        assert_chain_good(&outcome, "leaf alone");
    });
    checks.case("case 4", || {
        assert_eq!(
            outcome["subject"]["serial"],
            merchant.serial.as_str(),
            "{outcome}"
        );
    });
    checks.case("leaf + issuing + root", || {
        assert_chain_good(
            &validate(
                &server,
                &json!({ "chain": [leaf, issuing, root] }),
                "with root",
            ),
            "leaf + issuing + root",
        );
    });
    checks.case("leaf and issuing in one PEM string", || {
        assert_chain_good(
            &validate(
                &server,
                &json!({ "chain": [format!("{leaf}{issuing}")] }),
                "one bundle",
            ),
            "leaf and issuing in one PEM string",
        );
    });
    checks.case("usage any", || {
        assert_chain_good(
            &validate(&server, &json!({ "chain": [leaf], "usage": "any" }), "any"),
            "usage any",
        );
    });

    // Usage: merchants are clientAuth only; gateways both.
    checks.case("merchant for serverAuth", || {
        assert_chain_bad(
            &validate(
                &server,
                &json!({ "chain": [leaf, issuing], "usage": "serverAuth" }),
                "merchant serverAuth",
            ),
            "unknown",
            "key_usage",
            "merchant for serverAuth",
        );
    });
    checks.case("merchant for clientAuth", || {
        assert_chain_good(
            &validate(
                &server,
                &json!({ "chain": [leaf], "usage": "clientAuth" }),
                "merchant clientAuth",
            ),
            "merchant for clientAuth",
        );
    });
    for usage in ["serverAuth", "clientAuth"] {
        assert_chain_good(
            &validate(
                &server,
                &json!({ "chain": [gateway.cert_pem(), issuing], "usage": usage }),
                "gateway",
            ),
            &format!("gateway for {usage}"),
        );
    }

    // Time: a claimed time outside the grace period is not honoured (judged now).
    for claimed in ["2100-01-01T00:00:00Z", "2000-01-01T00:00:00Z"] {
        let outcome = validate(
            &server,
            &json!({ "chain": [leaf], "time": claimed }),
            claimed,
        );
        assert_chain_good(&outcome, claimed);
        assert_eq!(outcome["time"]["source"], "server", "{outcome}");
    }

    // A foreign CA with identical names.
    let foreign_ca = TestCa::new();
    let foreign = foreign_merchant(&foreign_ca, "foreign");
    let foreign_issuing = read_text(&foreign_ca.issuing_cert());
    checks.case("identical names", || {
        assert_eq!(
            openssl_names(&foreign.cert),
            openssl_names(&merchant.cert),
            "identical names"
        );
    });
    for (what, chain) in [
        (
            "foreign leaf + foreign issuing",
            json!([foreign.cert_pem(), foreign_issuing]),
        ),
        ("foreign leaf alone", json!([foreign.cert_pem()])),
        (
            "foreign leaf + foreign issuing + foreign root",
            json!([
                foreign.cert_pem(),
                foreign_issuing,
                read_text(&foreign_ca.root_cert())
            ]),
        ),
        (
            "foreign leaf + our issuing",
            json!([foreign.cert_pem(), issuing]),
        ),
    ] {
        assert_chain_bad(
            &validate(&server, &json!({ "chain": chain }), what),
            "unknown",
            "unknown_issuer",
            what,
        );
    }

    // Revoked leaves.
    let early = not_before(&ca, &superseded) + 60;
    revoke(&ca, &revoked.serial, "keyCompromise", None);
    revoke(&ca, &superseded.serial, "superseded", None);
    let outcome = validate(
        &server,
        &json!({ "chain": [revoked.cert_pem(), issuing] }),
        "revoked",
    );
    checks.case("a key-compromised leaf", || {
        assert_chain_bad(&outcome, "revoked", "revoked", "a key-compromised leaf");
    });
    checks.case("case 12", || {
        assert_eq!(
            outcome["subject"]["serial"],
            revoked.serial.as_str(),
            "{outcome}"
        );
    });
    checks.case("a superseded leaf, now", || {
        assert_chain_bad(
            &validate(
                &server,
                &json!({ "chain": [superseded.cert_pem()] }),
                "superseded",
            ),
            "revoked",
            "revoked",
            "a superseded leaf, now",
        );
    });
    checks.case("a superseded leaf, before its revocation", || {
        assert_chain_good(
            &validate(
                &server,
                &json!({ "chain": [superseded.cert_pem()], "time": rfc3339(early) }),
                "early",
            ),
            "a superseded leaf, before its revocation",
        );
    });

    // Undecodable input is malformed (200); unreadable JSON is 400.
    for (what, body) in [
        (
            "garbage PEM",
            json!({ "chain": ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] }),
        ),
        ("text", json!({ "chain": ["not a certificate"] })),
        ("empty chain", json!({ "chain": [] })),
        (
            "bad usage",
            json!({ "chain": [leaf], "usage": "codeSigning" }),
        ),
        ("bad time", json!({ "chain": [leaf], "time": "soon" })),
    ] {
        let outcome = validate(&server, &body, what);
        assert_eq!(outcome["valid"], false, "{what}: {outcome}");
        assert_eq!(outcome["reason"], "malformed", "{what}: {outcome}");
    }

    // `paypki verify --chain`.
    let write = |name: &str, text: String| write_file(&ca, name, text.as_bytes());
    let good_chain = write("good-chain.pem", format!("{leaf}{issuing}"));
    let leaf_only = write("leaf-only.pem", leaf.clone());
    let gateway_chain = write(
        "gateway-chain.pem",
        format!("{}{issuing}", gateway.cert_pem()),
    );
    let revoked_chain = write(
        "revoked-chain.pem",
        format!("{}{issuing}", revoked.cert_pem()),
    );
    let foreign_chain = write(
        "foreign-chain.pem",
        format!(
            "{}{}",
            foreign.cert_pem(),
            read_text(&foreign_ca.issuing_cert())
        ),
    );
    let chain_cli = |file: &Path, usage: Option<&str>, valid: bool| -> Value {
        let mut args: Vec<&OsStr> = vec!["--chain".as_ref(), file.as_os_str()];
        if let Some(usage) = usage {
            args.extend::<[&OsStr; 2]>(["--usage".as_ref(), usage.as_ref()]);
        }
        cli_verify(&server, &args, valid)
    };
    checks.case("good", || {
        assert_eq!(chain_cli(&good_chain, None, true)["status"], "good");
    });
    checks.case("good", || {
        assert_eq!(
            chain_cli(&leaf_only, Some("clientAuth"), true)["status"],
            "good"
        );
    });
    checks.case("good", || {
        assert_eq!(
            chain_cli(&gateway_chain, Some("serverAuth"), true)["status"],
            "good"
        );
    });
    let verdict = chain_cli(&good_chain, Some("serverAuth"), false);
    checks.case("case 18", || {
        assert_eq!(verdict["reason"], "key_usage", "{verdict}");
    });
    let verdict = chain_cli(&revoked_chain, None, false);
    checks.case("case 19", || {
        assert_eq!(verdict["status"], "revoked", "{verdict}");
    });
    let verdict = chain_cli(&foreign_chain, None, false);
    checks.case("case 20", || {
        assert_eq!(verdict["reason"], "unknown_issuer", "{verdict}");
    });
    checks.case("case 21", || {
        assert_eq!(verdict["status"], "unknown", "{verdict}");
    });
    server.stop();
    checks.finish();
}

// ---------------------------------------------------------------------------------------
// Hardening: the exact certificate, bounded caches, times a signer claims
// ---------------------------------------------------------------------------------------

/// A certificate signed by our own issuing key (a mis-issuance, or a key used outside
/// paypki) that carries a recorded serial but another key is not the certificate this CA
/// issued with that serial: the serial alone proves nothing.
#[test]
fn a_certificate_with_a_recorded_serial_but_another_key_is_not_ours() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let alice = enroll(&server, "merchant", KeyType::EcP256, "alice");
    let twin = forge_with_serial(&ca, &ca, &alice, "twin");
    let msg = b"{\"order\":\"O-1\"}".as_slice();
    let message = write_file(&ca, "order.json", msg);
    let twin_sig = sign_default(&twin, &message, &ca.path("twin.sig"));
    let outcome = verify(&server, &by_cert(&twin, msg, &twin_sig), "twin");
    assert_reason(&outcome, "unknown_issuer", "a twin with our serial");
    assert!(
        outcome["message"]
            .as_str()
            .unwrap()
            .contains("not the one this CA issued"),
        "{outcome}"
    );
    let chain = validate(
        &server,
        &json!({ "chain": [twin.cert_pem(), read_text(&ca.issuing_cert())] }),
        "twin chain",
    );
    assert_chain_bad(&chain, "unknown", "unknown_issuer", "a twin's chain");
    // The genuine certificate is unaffected.
    let sig = sign_default(&alice, &message, &ca.path("alice.sig"));
    assert_valid(
        &verify(&server, &by_cert(&alice, msg, &sig), "alice"),
        &alice,
        None,
        "the genuine certificate",
    );
    server.stop();
}

/// The server's resident memory, from /proc (Linux).
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// Certificates that are not ours are parsed, refused and forgotten: 1,500 unique 60 KB
/// junk certificates (90 MB) sent to /v1/verify and /v1/validate leave the server's
/// memory where it was (before, every one was cached for good).
#[test]
fn junk_certificates_sent_for_verification_are_not_kept() {
    let ca = TestCa::new();
    let server = TestServer::start(&ca);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let junk = |i: u32| {
        let mut params = rcgen::CertificateParams::new(vec![format!("junk{i}.example")]).unwrap();
        let mut padding = vec![0u8; 60_000];
        padding[..4].copy_from_slice(&i.to_be_bytes());
        params.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 59001, 99, 1],
            yasna_octet_string(&padding),
        )];
        params.self_signed(&key).unwrap().pem()
    };
    // Warm up (the allocator's first arenas, the server's first requests).
    for i in 0..100 {
        verify(
            &server,
            &json!({ "certificate": junk(i), "message": b64(b"m"), "signature": b64(b"s") }),
            "warm-up",
        );
    }
    let before = resident_kib(server.pid());
    for i in 100..1600 {
        let pem = junk(i);
        let outcome = verify(
            &server,
            &json!({ "certificate": pem, "message": b64(b"m"), "signature": b64(b"s") }),
            "junk",
        );
        assert_eq!(outcome["valid"], false, "{outcome}");
        if i % 10 == 0 {
            validate(&server, &json!({ "chain": [pem] }), "junk chain");
        }
    }
    let after = resident_kib(server.pid());
    let grown = after.saturating_sub(before);
    assert!(
        grown < 40 * 1024,
        "the server kept junk certificates: resident memory grew by {grown} KiB ({before} → {after} KiB) for 90 MB of junk"
    );
    server.stop();
}

/// An OCTET STRING of `bytes` (the extension's content), DER.
fn yasna_octet_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04, 0x83];
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(bytes);
    out
}

/// A time the signer claims is honoured only within its role policy's grace period: a
/// participant whose privileges were withdrawn cannot sign "a minute ago" when the
/// policy allows no grace, and can within the default five minutes.
#[test]
fn a_claimed_time_is_honoured_only_within_the_policys_grace() {
    let ca = TestCa::new();
    let policies = copy_policies(&shipped_policies(), &ca.path("policies-no-grace"));
    let merchant_toml = policies.join("merchant.toml");
    let text = read_text(&merchant_toml);
    std::fs::write(
        &merchant_toml,
        format!("{text}\n[verification]\nclaimed_time_grace_seconds = 0\n"),
    )
    .unwrap();
    let msg = b"{\"order\":\"O-2\"}".as_slice();
    let message = write_file(&ca, "order.json", msg);
    let minute_ago = rfc3339(now_unix() - 60);

    // The shipped policy: five minutes of grace; the claimed time is used.
    let server = TestServer::start(&ca);
    let graced = enroll(&server, "merchant", KeyType::EcP256, "graced");
    let strict = enroll(&server, "merchant", KeyType::EcP256, "strict");
    let graced_sig = sign_default(&graced, &message, &ca.path("graced.sig"));
    let strict_sig = sign_default(&strict, &message, &ca.path("strict.sig"));
    revoke(&ca, &graced.serial, "privilegeWithdrawn", None);
    revoke(&ca, &strict.serial, "privilegeWithdrawn", None);
    let outcome = verify(
        &server,
        &with(
            by_cert(&graced, msg, &graced_sig),
            "time",
            minute_ago.as_str(),
        ),
        "a minute ago, default grace",
    );
    assert_valid(
        &outcome,
        &graced,
        None,
        "signed a minute ago, within the grace",
    );
    assert_eq!(outcome["time"]["source"], "claimed", "{outcome}");
    assert_eq!(outcome["time"]["proven"], false, "{outcome}");
    server.stop();

    // No grace: the same claim is judged at the server's time, after the revocation.
    let server = TestServer::start_with_policies(&ca, &policies, &[]);
    let outcome = verify(
        &server,
        &with(
            by_cert(&strict, msg, &strict_sig),
            "time",
            minute_ago.as_str(),
        ),
        "a minute ago, no grace",
    );
    assert_reason(&outcome, "revoked", "signed 'a minute ago' with no grace");
    assert_eq!(outcome["time"]["source"], "server", "{outcome}");
    assert!(
        outcome["time"]["note"].as_str().unwrap().contains("0 s"),
        "{outcome}"
    );
    server.stop();
}
