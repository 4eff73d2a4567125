//! The Java and Python examples of `examples/` against a real `paypki serve`: enrollment
//! with a token (and the retry after a lost answer), verification of a signed payment
//! message through `/v1/verify` (verdicts, exit statuses, no answer), and OCSP checks
//! that must accept the CA's answers and refuse forged ones (tests/py/forge_ocsp.py:
//! a responder of another CA with the issuing CA's name, one without OCSPSigning, a
//! stale answer) as well as an answer for another certificate and a tampered one.
//!
//! Required: Python 3 with `requests` and `cryptography`, and a JDK 17 or newer
//! (`javac`, `java`); scripts/test installs them. A missing one fails the test.

// Test code may panic freely (a panic is a test failure).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::*;

/// Panics unless Python has `requests` and `cryptography` and a JDK ≥ 17 is installed.
fn require_languages() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        require_tools();
        let python = run(Command::new("python3").args(["-c", "import requests, cryptography"]));
        assert!(
            python.status.success(),
            "the Python examples need `requests` and `cryptography` (pip install requests cryptography; scripts/test installs them)\n{}",
            python.describe()
        );
        for tool in ["javac", "java"] {
            let version = Command::new(tool).arg("-version").output().unwrap_or_else(|e| {
                panic!("the Java examples need a JDK 17 or newer ({tool}: {e}); scripts/test installs openjdk-17-jdk-headless")
            });
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&version.stdout),
                String::from_utf8_lossy(&version.stderr)
            );
            let major: u32 = text
                .split(|c: char| !c.is_ascii_digit())
                .find(|s| !s.is_empty())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            assert!(major >= 17, "{tool} must be 17 or newer: {text}");
        }
    });
}

/// `examples/java/*.java`, compiled once per test binary (with every lint as an error).
fn java_classes() -> &'static Path {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        require_languages();
        let dir = std::env::temp_dir().join(format!("paypki-java-examples-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sources: Vec<PathBuf> = std::fs::read_dir(repo_dir().join("examples/java"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "java"))
            .collect();
        let output = run(Command::new("javac")
            .args(["-Xlint:all", "-Werror", "-d"])
            .arg(&dir)
            .args(&sources));
        output.assert_success("javac examples/java/*.java");
        dir
    })
}

/// Which language's programs.
#[derive(Debug, Clone, Copy)]
enum Lang {
    Java,
    Python,
}

impl Lang {
    /// `program` (`enroll`, `verify`, `ocsp`) with `args`, `PAYPKI_URL` set, run in `dir`.
    fn run(self, program: &str, url: &str, dir: &Path, args: &[&str]) -> Output {
        let mut command = match self {
            Lang::Java => {
                let class = match program {
                    "enroll" => "Enroll",
                    "verify" => "VerifyPayment",
                    _ => "OcspCheck",
                };
                let mut c = Command::new("java");
                c.arg("-cp").arg(java_classes()).arg(class);
                c
            }
            Lang::Python => {
                require_languages();
                let script = match program {
                    "enroll" => "enroll.py",
                    "verify" => "verify_payment.py",
                    _ => "ocsp_check.py",
                };
                let mut c = Command::new("python3");
                c.arg(repo_dir().join("examples/python").join(script));
                c
            }
        };
        command.args(args).current_dir(dir).env("PAYPKI_URL", url);
        without_proxy(&mut command);
        run(&mut command)
    }
}

/// Asserts an exit status, showing the output otherwise; returns stdout.
#[track_caller]
fn expect_status(output: &Output, status: i32, what: &str) -> String {
    assert_eq!(
        output.status.code(),
        Some(status),
        "{what}\n{}",
        output.describe()
    );
    output.stdout_text()
}

/// A CA whose certificates point at its own server (AIA OCSP, as relying parties use it).
fn ca_on_its_port() -> (TestCa, u16) {
    require_languages();
    let port = pick_free_port();
    let ca = TestCa::init(&["--base-url", &format!("http://127.0.0.1:{port}")], &[]);
    (ca, port)
}

fn sign(key: &Path, message: &Path, out: &Path) {
    openssl(&[
        "dgst".as_ref(),
        "-sha256".as_ref(),
        "-sign".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        out.as_os_str(),
        message.as_os_str(),
    ]);
}

fn enroll_and_verify(lang: Lang) {
    let (ca, port) = ca_on_its_port();
    let server = TestServer::start_on_port(&ca, port, &[]);
    let url = server.url();
    let work = ca.temp_dir();
    let case = enroll_case("merchant");
    let token = server.create_case_token(&case);

    // Enroll: the serial on stdout, a 0600 key, a certificate the chain verifies.
    let out = lang.run(
        "enroll",
        url,
        work,
        &["--token", &token, "--out-dir", "merchant"],
    );
    let serial = expect_status(&out, 0, "enroll").trim().to_string();
    assert!(
        serial.len() >= 16 && serial.chars().all(|c| c.is_ascii_hexdigit()),
        "{serial}"
    );
    let dir = work.join("merchant");
    assert_eq!(file_mode(&dir.join("key.pem")), 0o600);
    assert_verifies_with_chain(&dir.join("chain.pem"), &dir.join("cert.pem"));
    let cert_pem = read_text(&dir.join("cert.pem"));

    // The answer was lost (no cert.pem): the same command gets the same certificate.
    std::fs::remove_file(dir.join("cert.pem")).unwrap();
    let again = lang.run(
        "enroll",
        url,
        work,
        &["--token", &token, "--out-dir", "merchant"],
    );
    assert_eq!(
        expect_status(&again, 0, "enroll after a lost answer").trim(),
        serial
    );
    assert_eq!(read_text(&dir.join("cert.pem")), cert_pem);
    // The used token with a new key: refused, and the new key is not left behind.
    let refused = lang.run(
        "enroll",
        url,
        work,
        &["--token", &token, "--out-dir", "other"],
    );
    expect_status(&refused, 1, "enroll with a used token and a new key");
    assert!(!work.join("other/key.pem").exists());
    // No answer: exit 3, the key is kept for the next attempt.
    let closed = format!("http://127.0.0.1:{}", pick_free_port());
    let token2 = server.create_case_token(&case);
    let lost = lang.run(
        "enroll",
        &closed,
        work,
        &["--token", &token2, "--out-dir", "later", "--attempts", "2"],
    );
    expect_status(&lost, 3, "enroll without a server");
    assert!(work.join("later/key.pem").exists());
    let later = lang.run(
        "enroll",
        url,
        work,
        &["--token", &token2, "--out-dir", "later"],
    );
    expect_status(&later, 0, "enroll once the CA answers");

    // Verify a signed payment message.
    let message = work.join("order.json");
    std::fs::write(
        &message,
        br#"{"order":"A-1001","amount":"10.00","currency":"EUR"}"#,
    )
    .unwrap();
    let signature = work.join("order.sig");
    sign(&dir.join("key.pem"), &message, &signature);
    let verify = |url: &str, message: &str, extra: &[&str]| {
        let mut args = vec![
            "--cert",
            "merchant/cert.pem",
            "--message",
            message,
            "--signature",
            "order.sig",
        ];
        args.extend_from_slice(extra);
        lang.run("verify", url, work, &args)
    };
    let valid = expect_status(
        &verify(url, "order.json", &["--require-role", "merchant"]),
        0,
        "verify",
    );
    assert!(
        valid.starts_with("valid: ") && valid.contains(&serial),
        "{valid}"
    );
    std::fs::write(
        work.join("altered.json"),
        br#"{"order":"A-1001","amount":"999.00"}"#,
    )
    .unwrap();
    let altered = expect_status(&verify(url, "altered.json", &[]), 1, "an altered message");
    assert!(altered.starts_with("not valid: bad_signature"), "{altered}");
    let role = expect_status(
        &verify(url, "order.json", &["--require-role", "bank"]),
        1,
        "the wrong role",
    );
    assert!(role.starts_with("not valid: wrong_role"), "{role}");
    expect_status(
        &verify(&closed, "order.json", &["--attempts", "2"]),
        3,
        "no server: no verdict",
    );
    expect_status(&verify(url, "missing.json", &[]), 2, "a missing file");
    // Revoked: a verdict, not a failure to answer.
    ca.paypki(&["revoke", &serial, "--reason", "keyCompromise"])
        .assert_success("paypki revoke");
    let revoked = expect_status(&verify(url, "order.json", &[]), 1, "a revoked signer");
    assert!(revoked.starts_with("not valid: revoked"), "{revoked}");
}

#[test]
fn python_enrolls_and_verifies() {
    enroll_and_verify(Lang::Python);
}

#[test]
fn java_enrolls_and_verifies() {
    enroll_and_verify(Lang::Java);
}

fn ocsp_checks(lang: Lang) {
    let (ca, port) = ca_on_its_port();
    let server = TestServer::start_on_port(&ca, port, &[]);
    let url = server.url();
    let work = ca.temp_dir();
    let (serial, dir) = server.enroll_case(&enroll_case("merchant"), "ecdsa-p256", "leaf");
    let (_, other_dir) = server.enroll_case(&enroll_case("buyer"), "ecdsa-p256", "other");
    let cert = dir.join("cert.pem");
    let chain = dir.join("chain.pem");
    let check = |response: Option<&Path>| {
        let mut args = vec![
            "--cert".to_string(),
            cert.display().to_string(),
            "--chain".to_string(),
            chain.display().to_string(),
        ];
        if let Some(response) = response {
            args.extend(["--response".to_string(), response.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lang.run("ocsp", url, work, &args)
    };

    // From the URL in the certificate, signed by the CA's delegated responder: good.
    let good = expect_status(&check(None), 0, "OCSP for a good certificate");
    assert!(good.starts_with("good"), "{good}");

    // Forged answers are refused (exit 4); the control, made the same way but right, is not.
    for (kind, status) in [
        ("delegated-ok", 0),
        ("rogue-ca", 4),
        ("no-eku", 4),
        ("stale", 4),
    ] {
        let out = work.join(format!("{kind}.der"));
        let forged = run_python(
            "forge_ocsp.py",
            &[
                kind.as_ref(),
                cert.as_os_str(),
                ca.issuing_cert().as_os_str(),
                ca.key_file("issuing").as_os_str(),
                out.as_os_str(),
            ],
        );
        forged.assert_success(&format!("forge_ocsp.py {kind}"));
        expect_status(
            &check(Some(&out)),
            status,
            &format!("a response forged as {kind}"),
        );
    }
    // A genuine answer for another certificate, and a genuine answer with one bit changed.
    let other_der = work.join("other.der");
    let mut command = Command::new("openssl");
    command
        .args(["ocsp", "-no_nonce", "-issuer"])
        .arg(ca.issuing_cert())
        .arg("-cert")
        .arg(other_dir.join("cert.pem"))
        .args(["-url", &format!("{url}/ocsp"), "-respout"])
        .arg(&other_der)
        .arg("-noverify");
    run(without_proxy(&mut command)).assert_success("openssl ocsp -respout");
    expect_status(
        &check(Some(&other_der)),
        4,
        "an answer for another certificate",
    );
    // The leaf's own genuine answer, with one bit of r in its ECDSA signature flipped
    // (the DER stays well-formed: r's bytes start at offset 4 of the signature).
    let own_der = work.join("own.der");
    let mut command = Command::new("openssl");
    command
        .args(["ocsp", "-no_nonce", "-issuer"])
        .arg(ca.issuing_cert())
        .arg("-cert")
        .arg(&cert)
        .args(["-url", &format!("{url}/ocsp"), "-respout"])
        .arg(&own_der)
        .arg("-noverify");
    run(without_proxy(&mut command)).assert_success("openssl ocsp -respout");
    expect_status(&check(Some(&own_der)), 0, "the leaf's own saved answer");
    let tampered_der = work.join("tampered.der");
    let flip = "import sys\nfrom cryptography.x509 import ocsp\nd = bytearray(open(sys.argv[1], 'rb').read())\nsig = ocsp.load_der_ocsp_response(bytes(d)).signature\nat = bytes(d).index(sig) + 10\nd[at] ^= 1\nopen(sys.argv[2], 'wb').write(d)\n";
    run(Command::new("python3")
        .arg("-c")
        .arg(flip)
        .arg(&own_der)
        .arg(&tampered_der))
    .assert_success("flip a bit of the response's signature");
    expect_status(&check(Some(&tampered_der)), 4, "a tampered answer");

    // Revoked: OCSP says so at once.
    ca.paypki(&["revoke", &serial, "--reason", "keyCompromise"])
        .assert_success("paypki revoke");
    let revoked = expect_status(&check(None), 1, "OCSP for a revoked certificate");
    assert!(revoked.starts_with("revoked at "), "{revoked}");
    assert!(
        revoked.to_ascii_lowercase().contains("key_compromise"),
        "{revoked}"
    );
}

#[test]
fn python_checks_ocsp_and_refuses_forgeries() {
    ocsp_checks(Lang::Python);
}

#[test]
fn java_checks_ocsp_and_refuses_forgeries() {
    ocsp_checks(Lang::Java);
}
